"""The piano-roll models: an LSTM over frames with 88 independent sigmoid outputs (the
published LSTM / GRU / TCN set-up) and LSTM-NADE, whose output is autoregressive over the
keys of each frame (RNN-NADE, Boulanger-Lewandowski et al. 2012, with an LSTM).

Both are Functional Keras models of built-in layers with two inputs: ``previous_frames``
(frame ``t - 1`` at position ``t``, zeros at ``t = 0``) and ``frames`` (frame ``t``), and
one output, the logits of every key of frame ``t``. The independent model ignores
``frames``; in LSTM-NADE the logit of key ``k`` sees only keys ``< k`` of ``frames``:

    a_k   = c(h_t) + sum_{j<k} W_j v_j          (exclusive cumulative sum over keys)
    p_k   = sigmoid(b_k(h_t) + V_k . sigmoid(a_k))

where ``h_t`` is the LSTM's summary of frames ``< t``. The log-likelihood of a frame is
exact in one pass (teacher forcing over keys); sampling draws the keys one by one.
``docs/polyphonic.md`` says why this model was chosen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np

from musiclib import _tf
from musiclib.datasets.polyphonic import N_KEYS

__all__ = [
    "KINDS",
    "PRESETS",
    "FrameModelConfig",
    "build_frame_model",
    "frame_config_for",
    "KIND_DEFAULTS",
    "key_log_odds",
]

KINDS = ("independent", "nade")
"""``independent``: 88 sigmoids per frame; ``nade``: LSTM-NADE (autoregressive over keys)."""


@dataclass(frozen=True)
class FrameModelConfig:
    """Architecture and training settings of a piano-roll model.

    Attributes
    ----------
    kind
        One of :data:`KINDS`.
    units, layers
        Width and depth of the LSTM over time.
    nade_hidden
        Hidden units of the NADE over keys (``nade`` only).
    dropout
        Dropout after each LSTM layer.
    window
        Training windows of this many frames (every piece is cut from its first frame;
        each window starts from a fresh LSTM state; evaluation runs whole pieces).
    batch_size, learning_rate, clipnorm
        Adam settings.
    max_epochs, patience
        Early stopping on the validation NLL: stop after ``patience`` epochs without a new
        best; the best epoch's weights are kept.
    lr_patience, lr_factor
        Multiply the learning rate by ``lr_factor`` after ``lr_patience`` epochs without a
        new best.
    max_minutes
        Stop after the epoch that passes this training time (``0``: no limit).
    seed
        Seeds weights, dropout and the window order.
    """

    kind: str = "nade"
    units: int = 256
    layers: int = 2
    nade_hidden: int = 128
    dropout: float = 0.3
    window: int = 64
    batch_size: int = 4
    learning_rate: float = 3e-3
    clipnorm: float = 1.0
    max_epochs: int = 200
    patience: int = 6
    lr_patience: int = 2
    lr_factor: float = 0.5
    max_minutes: float = 30.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        positive = ("units", "layers", "nade_hidden", "window", "batch_size", "max_epochs", "patience", "lr_patience")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not self.learning_rate > 0 or not self.clipnorm > 0:
            raise ValueError("learning_rate and clipnorm must be positive")
        if not 0.0 < self.lr_factor <= 1.0:
            raise ValueError(f"lr_factor must be in (0, 1], got {self.lr_factor}")
        if self.max_minutes < 0:
            raise ValueError(f"max_minutes must be >= 0, got {self.max_minutes}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FrameModelConfig:
        """Build from a dict; unknown keys are an error (a config from another version)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown FrameModelConfig field(s): {', '.join(unknown)}")
        return cls(**dict(data))


PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"units": 16, "layers": 1, "nade_hidden": 8, "dropout": 0.0, "window": 32, "batch_size": 8, "max_epochs": 3,
                 "patience": 2, "max_minutes": 0.0},
    "default": {},
}
"""Named starting points; ``tiny`` is for tests and quick notebooks."""


KIND_DEFAULTS: dict[str, dict[str, Any]] = {"independent": {"batch_size": 16}}
"""Settings of the ``default`` preset that differ by kind. The independent model's step is
cheap, so small batches leave it bound by per-batch overhead (measured on 2 CPU cores: about
370 µs per frame in batches of 4 windows against 120 µs in batches of 16); LSTM-NADE's step is
dominated by its frames × keys × hidden tensor (about 450 µs per frame either way) and learns
more per epoch in batches of 4 (validation NLL on JSB Chorales, docs/polyphonic.md)."""


def frame_config_for(preset: str = "default", **overrides: Any) -> FrameModelConfig:
    """The :class:`FrameModelConfig` of ``preset`` (with its :data:`KIND_DEFAULTS` for
    ``overrides["kind"]``) with ``overrides`` applied."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known presets: {', '.join(PRESETS)}")
    settings = dict(PRESETS[preset])
    if preset == "default":
        settings.update(KIND_DEFAULTS.get(overrides.get("kind", FrameModelConfig.kind), {}))
    return replace(FrameModelConfig(**settings), **overrides)


def key_log_odds(rolls, *, n_keys: int = N_KEYS) -> np.ndarray:
    """Log-odds of each key being on in a frame, add-one smoothed over ``rolls``.

    This is the independent-Bernoulli baseline's logit, and the models' initial output
    bias (so training starts at the baseline instead of at 88 coin flips).
    """
    on = np.zeros(n_keys)
    frames = 0
    for roll in rolls:
        on += np.asarray(roll, dtype=bool).sum(axis=0)
        frames += len(roll)
    probability = (on + 1.0) / (frames + 2.0)
    return np.log(probability) - np.log1p(-probability)


def build_frame_model(config: FrameModelConfig, *, output_bias: np.ndarray | None = None, n_keys: int = N_KEYS):
    """The Keras model of ``config`` (uncompiled).

    Parameters
    ----------
    config
        The architecture.
    output_bias
        Initial bias of the key logits (:func:`key_log_odds` of the training set).
    n_keys
        Keys per frame.
    """
    keras = _tf.keras()
    layers, ops = keras.layers, keras.ops
    keras.utils.set_random_seed(config.seed)
    bias = "zeros" if output_bias is None else keras.initializers.Constant(np.asarray(output_bias, "float32"))

    previous = keras.Input((None, n_keys), name="previous_frames")
    frames = keras.Input((None, n_keys), name="frames")
    hidden = previous
    for index in range(config.layers):
        hidden = layers.LSTM(config.units, return_sequences=True, name=f"time_lstm_{index + 1}")(hidden)
        hidden = layers.Dropout(config.dropout, name=f"time_dropout_{index + 1}")(hidden)
    # the previous frame also reaches the output directly: held notes are the easy part
    context = layers.Concatenate(name="context")([hidden, previous])
    if config.kind == "independent":
        logits = layers.Dense(n_keys, bias_initializer=bias, name="key_logits")(context)
    else:
        visible_bias = layers.Dense(n_keys, bias_initializer=bias, name="nade_visible_bias")(context)
        hidden_bias = layers.Dense(config.nade_hidden, name="nade_hidden_bias")(context)
        contributions = layers.EinsumDense(
            "btj,jh->btjh", output_shape=(None, n_keys, config.nade_hidden), name="nade_input_weights"
        )(frames)
        # a_k = c + sum_{j<k} W_j v_j: an exclusive cumulative sum over the key axis
        pre_activation = ops.cumsum(contributions, axis=2) - contributions + ops.expand_dims(hidden_bias, 2)
        key_hidden = ops.sigmoid(pre_activation)
        key_logits = layers.EinsumDense("btkh,kh->btk", output_shape=(None, n_keys), name="nade_output_weights")(
            key_hidden
        )
        logits = layers.Add(name="key_logits")([key_logits, visible_bias])
    return keras.Model([previous, frames], logits, name=f"frames_{config.kind}")
