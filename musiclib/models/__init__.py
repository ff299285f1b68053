"""Neural sequence models for symbolic music.

:mod:`musiclib.models.lstm` holds the token-level LSTM language model (the default
``"default"`` preset, a ``"tiny"`` one for tests and the classic tutorial's ``"paper"``
set-up) and the step model used for generation.
"""

from __future__ import annotations

from musiclib.models.lstm import (
    LOSS_ON_CHOICES,
    PRESETS,
    LSTMConfig,
    build_lstm,
    build_step_model,
    config_for,
    step_state_sizes,
)

__all__ = [
    "LOSS_ON_CHOICES",
    "PRESETS",
    "LSTMConfig",
    "build_lstm",
    "build_step_model",
    "config_for",
    "step_state_sizes",
]
