"""A decoder-only Transformer language model with relative positions, beside the LSTM.

The model reads the same token windows as :func:`musiclib.lm.lstm.build_lstm` and is
trained by the same :func:`musiclib.lm.training.train` (windows, validation, early
stopping, resume, bundles). Positions are *relative*: the attention score of a query
and a key depends on how far apart they are, never on where the window starts, which
is what Music Transformer (Huang et al., ICLR 2019) found makes attention work for
music. Two cheap ways to get it are built in (``TransformerConfig.position``):

``"rotary"`` (the default)
    Rotary position embeddings (RoPE, Su et al. 2021): queries and keys are rotated by
    an angle proportional to their position, so their dot product depends only on the
    distance. The half-rotation convention is KerasHub's ``RotaryEmbedding``.
``"alibi"``
    ALiBi (Press et al. 2022): a per-head linear penalty on the distance is added to
    the attention scores.
``"rotary-bars"``
    Rotary embeddings over two distances at once, as 2-D rotary embeddings do for the
    rows and columns of an image: half of each head's feature pairs rotate with the
    token position, the other half with the *bar* position (the number of ``Bar``
    tokens so far, ``TransformerConfig.bar_token_id``). A score can then prefer "the
    same place eight bars back" whatever the number of tokens in between, which is how
    a folk tune repeats its A part; with token distances alone that offset changes
    with every bar's note count.

Generation uses a key/value cache computed in NumPy (:class:`CachedStep`): each new
token costs one step over the cached keys and values, not a re-run of the window. The
cache is exact while the piece is shorter than ``sequence_length``; beyond it the
oldest entries are overwritten (a sliding window of ``sequence_length`` tokens, the
context the model was trained with).

The attention layer is the only layer not from Keras (:class:`RelativeSelfAttention`,
registered as ``musiclib>RelativeSelfAttention``); bundle loading allows exactly this
class besides Keras's own (see :mod:`musiclib._keras`). Why not KerasHub's
``TransformerDecoder``: it has no relative positions, and its cached attention is a
TensorFlow call per token, which costs more than the arithmetic on a CPU; see
``docs/transformer.md``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from musiclib import _tf
from musiclib.encoding.events import BAR_TOKEN
from musiclib.lm.lstm import _check_positive_int, _is_positive_finite

keras = _tf.keras()
ops = keras.ops

__all__ = [
    "TransformerConfig",
    "TRANSFORMER_PRESETS",
    "POSITION_CHOICES",
    "transformer_config_for",
    "build_transformer",
    "RelativeSelfAttention",
    "TransformerWeights",
    "CachedStep",
    "bar_positions",
    "numpy_logits",
    "attention_weights",
]

POSITION_CHOICES = ("rotary", "alibi", "rotary-bars")
"""Allowed values of :attr:`TransformerConfig.position`."""

_ROTARY_POSITIONS = ("rotary", "rotary-bars")  # the positions that rotate queries and keys

_INIT_SEED_STRIDE = 1000
_NORM_EPSILON = 1e-5
_ROTARY_BASE = 10_000.0
_BAR_ROTARY_BASE = 100.0  # bar distances within a window are tens, not thousands
_MASKED = -1e9  # score of a future position (exp underflows to exactly 0 in float32)


@dataclass(frozen=True)
class TransformerConfig:
    """Every size and training setting of a Transformer language model.

    Saved as JSON beside the model (``config.json`` of a bundle) with :meth:`to_dict`.

    Parameters
    ----------
    vocab_size
        Number of tokens, PAD (id 0) included.
    model_dim
        Width of the token embedding and of every block (``num_heads * head_dim``).
    num_layers
        Decoder blocks (pre-norm: attention then a feed-forward network, each residual).
    num_heads
        Attention heads per block; ``model_dim`` must be a multiple of it, with an even
        head width (rotary embeddings rotate pairs of features).
    ff_dim
        Hidden width of each block's feed-forward network (GELU).
    dropout
        Dropout on the embedding, after attention and feed-forward, and on attention weights.
    position
        ``"rotary"``, ``"alibi"`` or ``"rotary-bars"`` (see the module notes).
    sequence_length
        Training window in tokens; also the attention span of generation and scoring.
    learning_rate
        Adam's learning rate after warm-up.
    warmup_steps
        Batches over which the learning rate rises linearly from 0 (0: no warm-up).
    bar_token_id
        Vocabulary id of the ``Bar`` token: needed by ``position="rotary-bars"`` (which
        counts bars), ``None`` otherwise.
    batch_size, epochs, patience, seed, clipnorm
        As for :class:`~musiclib.lm.lstm.LSTMConfig`.
    """

    vocab_size: int
    model_dim: int = 192
    num_layers: int = 4
    num_heads: int = 4
    ff_dim: int = 768
    dropout: float = 0.1
    position: str = "rotary"
    sequence_length: int = 512
    learning_rate: float = 1e-3
    warmup_steps: int = 200
    batch_size: int = 16
    epochs: int = 30
    patience: int = 3
    seed: int = 0
    clipnorm: float | None = 1.0
    bar_token_id: int | None = None

    def __post_init__(self) -> None:
        for name in ("vocab_size", "model_dim", "num_layers", "num_heads", "ff_dim", "sequence_length",
                     "batch_size", "epochs"):
            _check_positive_int(name, getattr(self, name))
        if self.model_dim % self.num_heads:
            raise ValueError(f"model_dim ({self.model_dim}) must be a multiple of num_heads ({self.num_heads})")
        if (self.model_dim // self.num_heads) % 2:
            raise ValueError(
                f"model_dim / num_heads = {self.model_dim // self.num_heads} must be even "
                "(rotary embeddings rotate pairs of features)"
            )
        if not isinstance(self.dropout, (int, float)) or isinstance(self.dropout, bool) or not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be a number in [0, 1), got {self.dropout!r}")
        if self.position not in POSITION_CHOICES:
            raise ValueError(f"position must be one of {POSITION_CHOICES}, got {self.position!r}")
        if self.position == "rotary-bars":
            valid = isinstance(self.bar_token_id, int) and not isinstance(self.bar_token_id, bool)
            if not valid or not 0 < self.bar_token_id < self.vocab_size:
                raise ValueError(f"position 'rotary-bars' needs bar_token_id, the Bar token's id in "
                                 f"1..{self.vocab_size - 1} (vocab.encode(['{BAR_TOKEN}'])[0]); "
                                 f"got {self.bar_token_id!r}")
        elif self.bar_token_id is not None:
            raise ValueError(f"bar_token_id is only used by position 'rotary-bars', not {self.position!r}")
        if not _is_positive_finite(self.learning_rate):
            raise ValueError(f"learning_rate must be a positive finite number, got {self.learning_rate!r}")
        for name in ("warmup_steps", "patience", "seed"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if self.clipnorm is not None and not _is_positive_finite(self.clipnorm):
            raise ValueError(f"clipnorm must be a positive finite number or None, got {self.clipnorm!r}")

    @property
    def loss_on(self) -> str:
        """Always ``"all"``: the Transformer predicts the next token at every position."""
        return "all"

    @property
    def predicts_every_step(self) -> bool:
        return True

    @property
    def head_dim(self) -> int:
        return self.model_dim // self.num_heads

    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TransformerConfig":
        """Rebuild a config from :meth:`to_dict`'s output; unknown keys are an error."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown TransformerConfig keys {unknown}; allowed: {sorted(known)}")
        return cls(**dict(data))

    def replace(self, **changes: Any) -> "TransformerConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


TRANSFORMER_PRESETS: dict[str, dict[str, Any]] = {
    # 2 CPU cores: about 1.8M weights (7 MB as a bundle), windows of 512 tokens (about
    # 16 bars of a Nottingham tune with its chords).
    # Rotary over token and bar positions: on Nottingham validation NLL 0.432 -> 0.359 and bar
    # repetition 0.10 -> 0.26 against plain rotary (results/transformer_bar_positions.md).
    "default": {"position": "rotary-bars"},
    # The walkthrough's budget (notebook 08, `make run`): one epoch of the folk corpus in about
    # two minutes on 2 CPU cores (about 20k tokens/s), no dropout (one pass cannot overfit).
    "short": {"model_dim": 64, "num_layers": 2, "num_heads": 2, "ff_dim": 256, "sequence_length": 128,
              "batch_size": 32, "epochs": 1, "learning_rate": 2e-3, "warmup_steps": 50, "dropout": 0.0},
    # Tests and quick mode: seconds per epoch on tiny data.
    "tiny": {"model_dim": 32, "num_layers": 2, "num_heads": 2, "ff_dim": 64, "sequence_length": 64,
             "epochs": 2, "warmup_steps": 10, "batch_size": 8},
    # For a GPU: Music Transformer's size on JSB/Piano-e-Competition scale data.
    "large": {"model_dim": 512, "num_layers": 6, "num_heads": 8, "ff_dim": 2048, "sequence_length": 1024,
              "batch_size": 32, "learning_rate": 5e-4, "warmup_steps": 1000, "position": "rotary-bars"},
}
"""Named starting points for :func:`transformer_config_for`."""


def transformer_config_for(preset: str, vocab_size: int, **overrides: Any) -> TransformerConfig:
    """Build a :class:`TransformerConfig` from a preset plus keyword overrides.

    Examples
    --------
    >>> transformer_config_for("tiny", 40).model_dim
    32

    The ``default`` and ``large`` presets use ``position="rotary-bars"`` and so need the
    vocabulary's ``Bar`` id: ``transformer_config_for("default", len(vocab),
    bar_token_id=vocab.encode(["Bar"])[0])``.
    :func:`musiclib.experiments.train_lstm_experiment` fills it in.
    """
    if preset not in TRANSFORMER_PRESETS:
        raise ValueError(f"preset must be one of {sorted(TRANSFORMER_PRESETS)}, got {preset!r}")
    known = {field.name for field in dataclasses.fields(TransformerConfig)} - {"vocab_size"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown TransformerConfig fields {unknown}; allowed: {sorted(known)}")
    return TransformerConfig(vocab_size=vocab_size, **{**TRANSFORMER_PRESETS[preset], **overrides})


def alibi_slopes(num_heads: int) -> np.ndarray:
    """ALiBi's per-head slopes ``2 ** (-8 (h + 1) / num_heads)`` (Press et al. 2022)."""
    return np.array([2.0 ** (-8.0 * (h + 1) / num_heads) for h in range(num_heads)], dtype=np.float32)


def rotary_inverse_frequencies(head_dim: int, *, base: float = _ROTARY_BASE) -> np.ndarray:
    """``1 / base ** (2i / head_dim)`` for each pair ``i`` of a head's features (base 10000)."""
    return (1.0 / base ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)).astype(np.float32)


def rotary_frequencies(head_dim: int, position: str) -> tuple[np.ndarray, np.ndarray]:
    """Inverse frequencies of the feature pairs that rotate with the token and with the bar position.

    ``"rotary"``: every pair of the head turns with the token position (no bar pairs).
    ``"rotary-bars"``: the first ``ceil(head_dim / 4)`` pairs turn with the token position
    (base 10000), the rest with the bar position (base 100). Other positions: none.
    """
    pairs = head_dim // 2
    if position == "rotary":
        return rotary_inverse_frequencies(head_dim), np.zeros(0, np.float32)
    if position == "rotary-bars":
        bar_pairs = pairs // 2
        token_pairs = pairs - bar_pairs
        return (rotary_inverse_frequencies(2 * token_pairs),
                rotary_inverse_frequencies(2 * bar_pairs, base=_BAR_ROTARY_BASE))
    return np.zeros(0, np.float32), np.zeros(0, np.float32)


def bar_positions(token_ids: np.ndarray, bar_token_id: int) -> np.ndarray:
    """How many ``Bar`` tokens each position has seen, itself included (along the last axis)."""
    return np.cumsum(np.asarray(token_ids) == bar_token_id, axis=-1).astype(np.float32)


@keras.saving.register_keras_serializable(package="musiclib")
class RelativeSelfAttention(keras.layers.Layer):
    """Causal multi-head self-attention with rotary or ALiBi relative positions.

    Parameters
    ----------
    num_heads
        Attention heads.
    head_dim
        Width of each head (even).
    position
        ``"rotary"``, ``"alibi"`` or ``"rotary-bars"``.
    dropout
        Dropout on the attention weights while training.
    seed
        Seed of the initialisers and of the dropout.
    bar_token_id
        The ``Bar`` token's id (``"rotary-bars"`` only): the layer then takes
        ``[features, token_ids]`` and counts bars itself.

    Notes
    -----
    Input and output: ``[batch, time, num_heads * head_dim]``. Position ``t`` attends to
    positions ``0..t`` of the same window only (tested: changing a later token changes
    no earlier output). Weights: ``qkv`` (one projection to queries, keys and values,
    in that order, head by head) and ``output``.
    """

    def __init__(self, num_heads: int, head_dim: int, *, position: str = "rotary", dropout: float = 0.0,
                 seed: int | None = None, bar_token_id: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _check_positive_int("num_heads", num_heads)
        _check_positive_int("head_dim", head_dim)
        if head_dim % 2:
            raise ValueError(f"head_dim must be even, got {head_dim}")
        if position not in POSITION_CHOICES:
            raise ValueError(f"position must be one of {POSITION_CHOICES}, got {position!r}")
        self.num_heads = int(num_heads)
        self.head_dim = int(head_dim)
        if (position == "rotary-bars") != (bar_token_id is not None):
            raise ValueError("bar_token_id is needed by position 'rotary-bars' and only by it")
        self.position = position
        self.dropout = float(dropout)
        self.seed = seed
        self.bar_token_id = None if bar_token_id is None else int(bar_token_id)
        self._token_frequencies, self._bar_frequencies = rotary_frequencies(self.head_dim, position)
        width = self.num_heads * self.head_dim
        self.qkv = keras.layers.Dense(3 * width, kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
                                      name="qkv")
        self.output_projection = keras.layers.Dense(
            width, kernel_initializer=keras.initializers.GlorotUniform(seed=None if seed is None else seed + 1),
            name="output")
        self.attention_dropout = keras.layers.Dropout(self.dropout, seed=seed)

    def build(self, input_shape: Any) -> None:
        if self.bar_token_id is not None:
            input_shape = input_shape[0]
        width = self.num_heads * self.head_dim
        if input_shape[-1] != width:
            raise ValueError(f"inputs have {input_shape[-1]} features; this layer expects num_heads * head_dim = {width}")
        self.qkv.build(input_shape)
        self.output_projection.build((*input_shape[:-1], width))

    def _rotate(self, x: Any, cos: Any, sin: Any) -> Any:
        half = self.head_dim // 2
        x1, x2 = x[..., :half], x[..., half:]
        return x * cos + ops.concatenate([-x2, x1], axis=-1) * sin

    def _angles(self, positions: Any, token_ids: Any) -> Any:
        """Rotary angles ``[batch or 1, time, 1, head_dim]``."""
        angles = positions[:, None] * ops.convert_to_tensor(self._token_frequencies)[None, :]
        angles = angles[None]  # [1, time, token pairs]
        if self.bar_token_id is not None:
            bars = ops.cumsum(ops.cast(ops.equal(token_ids, self.bar_token_id), "float32"), axis=1)
            bar_angles = bars[:, :, None] * ops.convert_to_tensor(self._bar_frequencies)
            angles = ops.concatenate([angles + ops.zeros_like(bar_angles[:, :, :1]), bar_angles], axis=-1)
        return ops.concatenate([angles, angles], axis=-1)[:, :, None, :]

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        token_ids = None
        if self.bar_token_id is not None:
            inputs, token_ids = inputs
        length = ops.shape(inputs)[1]
        qkv = ops.reshape(self.qkv(inputs), (-1, length, 3, self.num_heads, self.head_dim))
        query, key, value = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]  # [batch, time, heads, head_dim]
        positions = ops.cast(ops.arange(length), "float32")
        if self.position in _ROTARY_POSITIONS:
            angles = self._angles(positions, token_ids)
            cos, sin = ops.cos(angles), ops.sin(angles)
            query, key = self._rotate(query, cos, sin), self._rotate(key, cos, sin)
        scores = ops.einsum("bqhd,bkhd->bhqk", query, key) * (self.head_dim ** -0.5)
        distance = positions[:, None] - positions[None, :]  # query minus key
        if self.position == "alibi":
            slopes = ops.convert_to_tensor(alibi_slopes(self.num_heads))
            scores = scores - slopes[None, :, None, None] * distance[None, None]
        causal = distance >= 0
        scores = ops.where(causal[None, None], scores, _MASKED)
        # softmax written out: ops.softmax warns (on stderr) for a one-token window
        weights = ops.exp(scores - ops.max(scores, axis=-1, keepdims=True))
        weights = weights / ops.sum(weights, axis=-1, keepdims=True)
        weights = self.attention_dropout(weights, training=training)
        attended = ops.einsum("bhqk,bkhd->bqhd", weights, value)
        attended = ops.reshape(attended, (-1, length, self.num_heads * self.head_dim))
        return self.output_projection(attended)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape[0] if self.bar_token_id is not None else input_shape

    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), "num_heads": self.num_heads, "head_dim": self.head_dim,
                  "position": self.position, "dropout": self.dropout, "seed": self.seed}
        if self.bar_token_id is not None:
            config["bar_token_id"] = self.bar_token_id
        return config


def _layer_seed(config: TransformerConfig, index: int) -> int:
    return config.seed * _INIT_SEED_STRIDE + index


def build_transformer(config: TransformerConfig, *, name: str = "transformer_language_model") -> keras.Model:
    """Build the model: tokens -> embedding -> pre-norm decoder blocks -> next-token logits.

    Parameters
    ----------
    config
        Sizes and the training set-up; the same config builds the same initial weights.
    name
        Name of the Keras model.

    Returns
    -------
    keras.Model
        Input ``tokens``: int32 ``[batch, time]`` (up to ``sequence_length`` for the
        trained behaviour). Output ``logits``: ``[batch, time, vocab_size]``. Layers are
        named ``embedding``, ``block_N_norm_1``, ``block_N_attention``,
        ``block_N_norm_2``, ``block_N_ff_1``, ``block_N_ff_2``, ``final_norm`` and
        ``logits`` (the NumPy inference path reads them by name).
    """
    if not isinstance(config, TransformerConfig):
        raise TypeError(f"config must be a TransformerConfig, got {type(config).__name__}")
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(
        config.vocab_size, config.model_dim,
        embeddings_initializer=keras.initializers.RandomNormal(stddev=0.02, seed=_layer_seed(config, 0)),
        name="embedding",
    )(tokens)
    x = keras.layers.Dropout(config.dropout, seed=_layer_seed(config, 1), name="embedding_dropout")(x)
    for index in range(config.num_layers):
        seed = _layer_seed(config, 10 * (index + 1))
        prefix = f"block_{index}"
        h = keras.layers.LayerNormalization(epsilon=_NORM_EPSILON, name=f"{prefix}_norm_1")(x)
        attention = RelativeSelfAttention(config.num_heads, config.head_dim, position=config.position,
                                          dropout=config.dropout, seed=seed, bar_token_id=config.bar_token_id,
                                          name=f"{prefix}_attention")
        h = attention(h) if config.bar_token_id is None else attention([h, tokens])
        h = keras.layers.Dropout(config.dropout, seed=seed + 2, name=f"{prefix}_attention_dropout")(h)
        x = keras.layers.Add(name=f"{prefix}_attention_residual")([x, h])
        h = keras.layers.LayerNormalization(epsilon=_NORM_EPSILON, name=f"{prefix}_norm_2")(x)
        h = keras.layers.Dense(config.ff_dim, activation="gelu",
                               kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 3),
                               name=f"{prefix}_ff_1")(h)
        h = keras.layers.Dense(config.model_dim, kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 4),
                               name=f"{prefix}_ff_2")(h)
        h = keras.layers.Dropout(config.dropout, seed=seed + 5, name=f"{prefix}_ff_dropout")(h)
        x = keras.layers.Add(name=f"{prefix}_ff_residual")([x, h])
    x = keras.layers.LayerNormalization(epsilon=_NORM_EPSILON, name="final_norm")(x)
    logits = keras.layers.Dense(config.vocab_size, kernel_initializer=keras.initializers.GlorotUniform(
        seed=_layer_seed(config, 2)), name="logits")(x)
    return keras.Model(tokens, logits, name=name)


# ----------------------------------------------------------------------------------------
# NumPy inference: full forward (for attention pictures) and the key/value-cached step.


def _layer_norm(x: np.ndarray, norm: tuple[np.ndarray, np.ndarray, float]) -> np.ndarray:
    gamma, beta, epsilon = norm
    centred = x - np.add.reduce(x, axis=-1, keepdims=True) / x.shape[-1]
    variance = np.add.reduce(centred * centred, axis=-1, keepdims=True) / x.shape[-1]
    return centred / np.sqrt(variance + epsilon) * gamma + beta


def _gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU, as Keras's ``"gelu"`` activation (``approximate=False``)."""
    return 0.5 * x * (1.0 + _erf()(x * _INV_SQRT2))


_INV_SQRT2 = np.float32(1.0 / math.sqrt(2.0))


@functools.cache
def _erf():
    from scipy.special import erf

    return erf


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


class TransformerWeights:
    """A NumPy snapshot of a :func:`build_transformer` model's weights (read once).

    Parameters
    ----------
    model
        The Keras model (built by :func:`build_transformer` or loaded from a bundle).
    config
        Its :class:`TransformerConfig`.
    """

    def __init__(self, model: Any, config: TransformerConfig) -> None:
        def weights(name: str) -> list[np.ndarray]:
            return [np.asarray(w, dtype=np.float32) for w in model.get_layer(name).get_weights()]

        def norm(name: str) -> tuple[np.ndarray, np.ndarray, float]:
            gamma, beta = weights(name)
            return gamma, beta, float(model.get_layer(name).epsilon)

        self.config = config
        self.num_heads, self.head_dim = config.num_heads, config.head_dim
        self.scale = np.float32(config.head_dim ** -0.5)
        self.embedding = weights("embedding")[0]
        self.blocks = []
        for index in range(config.num_layers):
            prefix = f"block_{index}"
            attention = model.get_layer(f"{prefix}_attention")
            self.blocks.append({
                "norm_1": norm(f"{prefix}_norm_1"),
                "qkv": [np.asarray(w, np.float32) for w in attention.qkv.get_weights()],
                "output": [np.asarray(w, np.float32) for w in attention.output_projection.get_weights()],
                "norm_2": norm(f"{prefix}_norm_2"),
                "ff_1": weights(f"{prefix}_ff_1"),
                "ff_2": weights(f"{prefix}_ff_2"),
            })
        self.final_norm = norm("final_norm")
        self.logits = weights("logits")
        self.token_frequencies, self.bar_frequencies = rotary_frequencies(config.head_dim, config.position)
        self.slopes = alibi_slopes(config.num_heads)

    def rotation(self, positions: np.ndarray, bars: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Cosines and sines of the rotary angles at ``positions`` ``[time]``: each ``[time, 1, head_dim]``.

        ``bars`` (``[time]``, the bar position of each; needed by ``"rotary-bars"``) turns
        the bar pairs; ``positions`` of length one with ``bars`` ``[batch]`` gives one
        rotation per row of a batch, ``[batch, 1, head_dim]``.
        """
        positions = np.asarray(positions, dtype=np.float64)
        angles = positions[:, None] * self.token_frequencies[None, :]
        if len(self.bar_frequencies):
            if bars is None:
                raise ValueError("position 'rotary-bars' needs the bar position of each token")
            bar_angles = np.asarray(bars, dtype=np.float64)[:, None] * self.bar_frequencies[None, :]
            angles = np.concatenate([np.broadcast_to(angles, (len(bar_angles), angles.shape[1])), bar_angles], axis=-1)
        angles = np.concatenate([angles, angles], axis=-1).astype(np.float32)[:, None, :]
        return np.cos(angles), np.sin(angles)

    def rotate(self, x: np.ndarray, rotation: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """Rotary embedding of ``x`` ``[..., time, heads, head_dim]`` (angles from :meth:`rotation`)."""
        cos, sin = rotation
        half = self.head_dim // 2
        rotated = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
        return x * cos + rotated * sin

    def split_heads(self, block: dict, h: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        kernel, bias = block["qkv"]
        qkv = (h @ kernel + bias).reshape(*h.shape[:-1], 3, self.num_heads, self.head_dim)
        return qkv[..., 0, :, :], qkv[..., 1, :, :], qkv[..., 2, :, :]

    def feed_forward(self, block: dict, x: np.ndarray) -> np.ndarray:
        h = _layer_norm(x, block["norm_2"])
        (k1, b1), (k2, b2) = block["ff_1"], block["ff_2"]
        return x + _gelu(h @ k1 + b1) @ k2 + b2

    def head(self, x: np.ndarray) -> np.ndarray:
        kernel, bias = self.logits
        return _layer_norm(x, self.final_norm) @ kernel + bias


def numpy_logits(weights: TransformerWeights, token_ids: Any, *, return_attention: bool = False) -> Any:
    """Logits of one window, computed in NumPy without a cache (what Keras computes).

    Parameters
    ----------
    weights
        A :class:`TransformerWeights`.
    token_ids
        One sequence of ids, ``[time]``.
    return_attention
        Also return the attention weights ``[layers, heads, time, time]``.

    Returns
    -------
    ndarray or (ndarray, ndarray)
        Logits ``[time, vocab_size]`` (float64), and the attention weights if asked.
    """
    config = weights.config
    ids = np.asarray(token_ids, dtype=np.intp).reshape(-1)
    length = len(ids)
    positions = np.arange(length)
    x = weights.embedding[ids]
    distance = (positions[:, None] - positions[None, :]).astype(np.float32)
    rotary = config.position in _ROTARY_POSITIONS
    bars = bar_positions(ids, config.bar_token_id) if config.bar_token_id is not None else None
    rotation = weights.rotation(positions, bars) if rotary else None
    maps = []
    for block in weights.blocks:
        query, key, value = weights.split_heads(block, _layer_norm(x, block["norm_1"]))  # [time, heads, dim]
        if rotary:
            query, key = weights.rotate(query, rotation), weights.rotate(key, rotation)
        scores = np.einsum("qhd,khd->hqk", query * weights.scale, key)
        if config.position == "alibi":
            scores = scores - weights.slopes[:, None, None] * distance[None]
        scores = np.where(distance[None] >= 0, scores, -np.inf)
        attention = _softmax(scores)
        maps.append(attention)
        attended = np.einsum("hqk,khd->qhd", attention, value).reshape(length, -1)
        kernel, bias = block["output"]
        x = weights.feed_forward(block, x + attended @ kernel + bias)
    logits = weights.head(x).astype(np.float64)
    return (logits, np.stack(maps)) if return_attention else logits


def attention_weights(model: Any, config: TransformerConfig, token_ids: Any) -> np.ndarray:
    """Attention weights of every layer and head over one sequence: ``[layers, heads, time, time]``.

    Row ``t`` of a map is how much position ``t`` draws on each earlier position when the
    model predicts token ``t + 1``. Give at most ``config.sequence_length`` tokens.
    """
    ids = np.asarray(token_ids).reshape(-1)
    if not 1 <= len(ids) <= config.sequence_length:
        raise ValueError(f"give 1 to sequence_length = {config.sequence_length} tokens, got {len(ids)}")
    return numpy_logits(TransformerWeights(model, config), ids, return_attention=True)[1]


class _KeyValueCache:
    """Per-layer keys and values of the last ``window`` positions of a batch (a ring buffer)."""

    def __init__(self, config: TransformerConfig, batch: int) -> None:
        shape = (batch, config.num_heads, config.sequence_length, config.head_dim)
        self.keys = [np.zeros(shape, np.float32) for _ in range(config.num_layers)]
        self.values = [np.zeros(shape, np.float32) for _ in range(config.num_layers)]
        self.slot_positions = np.zeros(config.sequence_length, np.float32)
        self.position = 0  # positions fed so far (the same for every row of the batch)
        self.bars = np.zeros(batch, np.float32)  # Bar tokens fed so far, per row ("rotary-bars")


class CachedStep:
    """One token per sequence in, next-token logits out, with a key/value cache.

    The interface of the LSTM's step in :mod:`musiclib.lm.sampling`:
    ``initial_states(batch)`` and ``step(tokens, states) -> (logits, states)``. Each call
    costs one position of every block against the cached keys and values. While fewer
    than ``sequence_length`` tokens have been fed the logits equal the full model's on
    the whole sequence (tested); after that each new token attends to the last
    ``sequence_length`` positions (relative positions make this well defined).

    Parameters
    ----------
    model, config
        The Keras model and its :class:`TransformerConfig`; weights are read once, now.
    """

    def __init__(self, model: Any, config: TransformerConfig) -> None:
        self.config = config
        self.weights = TransformerWeights(model, config)

    def initial_states(self, batch: int) -> list[_KeyValueCache]:
        """An empty cache for ``batch`` sequences (a one-element list, as the sampler expects)."""
        return [_KeyValueCache(self.config, batch)]

    def __call__(self, tokens: np.ndarray, states: list[_KeyValueCache]) -> tuple[np.ndarray, list[_KeyValueCache]]:
        (cache,) = states
        config, weights = self.config, self.weights
        ids = np.asarray(tokens, dtype=np.intp).reshape(-1)
        window = config.sequence_length
        slot = cache.position % window
        filled = min(cache.position + 1, window)
        cache.slot_positions[slot] = cache.position
        rotary = config.position in _ROTARY_POSITIONS
        if config.position == "rotary-bars":
            cache.bars += ids == config.bar_token_id
        # [1, 1, head_dim] (one position for the whole batch), or [batch, 1, head_dim] with bar positions
        rotation = weights.rotation(np.array([cache.position]), cache.bars) if rotary else None
        x = weights.embedding[ids]  # [batch, model_dim]
        for index, block in enumerate(weights.blocks):
            query, key, value = weights.split_heads(block, _layer_norm(x, block["norm_1"]))  # [batch, heads, dim]
            if rotary:
                query, key = weights.rotate(query, rotation), weights.rotate(key, rotation)
            cache.keys[index][:, :, slot] = key
            cache.values[index][:, :, slot] = value
            keys, values = cache.keys[index][:, :, :filled], cache.values[index][:, :, :filled]
            scores = np.matmul(query[:, :, None, :] * weights.scale, keys.transpose(0, 1, 3, 2))[:, :, 0]
            if config.position == "alibi":
                distance = cache.position - cache.slot_positions[:filled]
                scores = scores - weights.slopes[None, :, None] * distance[None, None, :]
            attended = np.matmul(_softmax(scores)[:, :, None, :], values)[:, :, 0].reshape(len(ids), -1)
            kernel, bias = block["output"]
            x = weights.feed_forward(block, x + attended @ kernel + bias)
        cache.position += 1
        return weights.head(x).astype(np.float64), states
