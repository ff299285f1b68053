"""The token language-model families side by side: which config builds which model.

Two architectures read the same token windows and share the trainer, bundles,
sampling and evaluation:

``"lstm"``
    :mod:`musiclib.lm.lstm`: stacked LSTMs; generation carries the recurrent state.
``"transformer"``
    :mod:`musiclib.lm.transformer`: a decoder-only Transformer with relative positions;
    generation uses a key/value cache, and scoring sees at most ``sequence_length``
    tokens of context.
"""

from __future__ import annotations

from typing import Any

from musiclib.lm.lstm import PRESETS, LSTMConfig, build_lstm, config_for
from musiclib.lm.transformer import (
    TRANSFORMER_PRESETS,
    TransformerConfig,
    build_transformer,
    transformer_config_for,
)

__all__ = [
    "ARCHITECTURES",
    "architecture_of",
    "config_from_dict",
    "model_config_for",
    "build_model",
    "presets_of",
    "scoring_context",
]

ARCHITECTURES = ("lstm", "transformer")
"""Names of the language-model families (``model_type`` in a bundle's ``config.json``)."""

_CONFIGS = {"lstm": LSTMConfig, "transformer": TransformerConfig}


def _check_architecture(architecture: Any) -> str:
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
    return architecture


def architecture_of(config: Any) -> str:
    """``"lstm"`` or ``"transformer"`` for a config; TypeError for anything else."""
    for name, cls in _CONFIGS.items():
        if isinstance(config, cls):
            return name
    raise TypeError(f"config must be an LSTMConfig or a TransformerConfig, got {type(config).__name__}")


def config_from_dict(architecture: str, data: Any) -> Any:
    """Rebuild the config of ``architecture`` from its ``to_dict()`` output (validated)."""
    return _CONFIGS[_check_architecture(architecture)].from_dict(data)


def presets_of(architecture: str) -> dict[str, dict[str, Any]]:
    """The named presets of an architecture."""
    return {"lstm": PRESETS, "transformer": TRANSFORMER_PRESETS}[_check_architecture(architecture)]


def model_config_for(architecture: str, preset: str, vocab_size: int, **overrides: Any) -> Any:
    """A config of ``architecture`` from one of its presets plus keyword overrides."""
    build = {"lstm": config_for, "transformer": transformer_config_for}[_check_architecture(architecture)]
    return build(preset, vocab_size, **overrides)


def build_model(config: Any) -> Any:
    """The untrained Keras model a config describes."""
    return {"lstm": build_lstm, "transformer": build_transformer}[architecture_of(config)](config)


def scoring_context(config: Any) -> int | None:
    """The ``context`` to score with :func:`musiclib.lm.training.evaluate_nll`: the
    Transformer's window, None (whole tunes) for the LSTM."""
    return config.sequence_length if isinstance(config, TransformerConfig) else None
