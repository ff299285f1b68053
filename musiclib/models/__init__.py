"""Neural sequence models for symbolic music.

:mod:`musiclib.models.lstm` holds the token-level LSTM language model (the default
``"default"`` preset, the walkthrough's one-epoch ``"short"`` budget, a ``"tiny"`` one for
tests and the classic tutorial's ``"paper"`` set-up) and the step model used for generation.
"""

from __future__ import annotations

import os

# TensorFlow's C++ start-up chatter (CUDA probing, CPU instruction notices) is noise on a
# learner's screen; keep warnings and errors. Set TF_CPP_MIN_LOG_LEVEL yourself to override.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from musiclib.models.lstm import (  # noqa: E402
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
