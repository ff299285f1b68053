"""A token-level LSTM language model for symbolic music, built with the Keras Functional API.

Two training set-ups share one builder (see :class:`LSTMConfig`):

``loss_on="all"`` (the default)
    The model predicts the next token at *every* position of a window, so a window of
    128 tokens yields 128 training targets. This is how language models are trained
    today and is about ``sequence_length`` times more data-efficient than the classic
    set-up below.
``loss_on="last"``
    The classic Keras music tutorial: a window of 100 tokens goes in and only the token
    that follows it is predicted (the last LSTM returns only its final step). Kept as the
    ``"paper"`` preset so the tutorial can be reproduced and compared.

``lead_track_ids`` / ``lead_pitch_ids`` (off by default)
    The *lead input*: at every position the model also sees the pitch the lead track
    (``Track_0`` of the ``events`` encoding: Nottingham's melody) played last, as a second
    embedding added to the token's (:class:`LeadPitch`, computed from the tokens inside
    the graph). In the ``events`` encoding a melody note's previous pitch lies behind the
    chord notes of its position; this hands it over. Measured as a lever, it bought nothing
    after two epochs on Nottingham (``results/lstm_levers_lead.md``).

Generation does not re-run a window per new token: :func:`build_step_model` wraps the
trained layers (same weight variables) in a model that advances the recurrent state by
one token, so each new token costs one LSTM step.

The model code uses only ``keras.layers`` and ``keras.ops``, so it runs on any Keras
backend. Every layer is named (``embedding``, ``lstm_0``, ``dropout_0``, ..., ``logits``)
so the step model, tests and notebooks can find them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from musiclib import _tf

keras = _tf.keras()

__all__ = [
    "LSTMConfig",
    "PRESETS",
    "LOSS_ON_CHOICES",
    "config_for",
    "build_lstm",
    "build_step_model",
    "step_state_sizes",
    "LeadPitch",
    "lead_context_ids",
    "lead_pitch_step",
    "lead_tables",
]

LOSS_ON_CHOICES = ("all", "last")
"""Allowed values of :attr:`LSTMConfig.loss_on`."""

_INIT_SEED_STRIDE = 1000
"""Seeds of per-layer initialisers are ``config.seed * stride + layer index``, so that no
two layers share an initialiser stream and a different ``seed`` changes every layer."""


@dataclass(frozen=True)
class LSTMConfig:
    """Every size and training setting of an LSTM language model.

    Saved as JSON beside the model (``config.json`` of a bundle) with :meth:`to_dict`
    and read back with :meth:`from_dict`.

    Parameters
    ----------
    vocab_size
        Number of tokens, PAD (id 0) included; the size of the output layer.
    embedding_dim
        Width of the token embedding.
    lstm_units
        Units of each stacked LSTM layer, bottom first.
    dropout
        Dropout rate after every LSTM layer, in ``[0, 1)``.
    sequence_length
        Training window in tokens (inputs per window).
    loss_on
        ``"all"`` predicts the next token at every position of a window (efficient);
        ``"last"`` predicts only the token after the window (the classic tutorial).
    learning_rate
        Adam's learning rate.
    batch_size
        Windows per training batch.
    epochs
        Most epochs to train (early stopping may end sooner).
    patience
        Epochs without improvement of the validation loss before training stops.
    seed
        Seed of weight initialisation, dropout and data shuffling.
    clipnorm
        Gradient-norm clipping for Adam; ``None`` disables it.
    lead_track_ids, lead_pitch_ids
        Vocabulary ids of the ``Track_i`` tokens (track order; the first is the lead) and
        of the ``Pitch_p`` tokens (pitch order). Both empty (the default): no lead input;
        both given (:func:`lead_context_ids`): the model also sees the lead track's last
        pitch at every position (:class:`LeadPitch`).
    lookback_bars, bar_token_id
        The lookback input (:mod:`musiclib.lm.lookback`): how many bars back the model looks
        (e.g. ``(1, 2, 4, 8)``; empty, the default: no lookback input) and the ``Bar`` token's
        id (:func:`musiclib.lm.lookback.lookback_context` gives both). At every position the
        model also sees the token that came next at the same place of each of those bars,
        and whether the bar so far repeats it (:class:`~musiclib.lm.lookback.LookbackTokens`).
    """

    vocab_size: int
    embedding_dim: int = 128
    lstm_units: tuple[int, ...] = (256, 256)
    dropout: float = 0.2
    sequence_length: int = 128
    loss_on: str = "all"
    learning_rate: float = 2e-3
    batch_size: int = 64
    epochs: int = 30
    patience: int = 4
    seed: int = 0
    clipnorm: float | None = 1.0
    lead_track_ids: tuple[int, ...] = ()
    lead_pitch_ids: tuple[int, ...] = ()
    lookback_bars: tuple[int, ...] = ()
    bar_token_id: int | None = None

    def __post_init__(self) -> None:
        # Lists (from JSON) become tuples so the config stays hashable and frozen.
        for name in _TUPLE_FIELDS:
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        for name in ("vocab_size", "embedding_dim", "sequence_length", "batch_size", "epochs"):
            _check_positive_int(name, getattr(self, name))
        if not isinstance(self.lstm_units, tuple) or not self.lstm_units:
            raise ValueError(
                f"lstm_units must be a non-empty tuple of positive integers, got {self.lstm_units!r}"
            )
        for units in self.lstm_units:
            _check_positive_int("lstm_units", units)
        if not isinstance(self.dropout, (int, float)) or isinstance(self.dropout, bool):
            raise ValueError(f"dropout must be a number in [0, 1), got {self.dropout!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.loss_on not in LOSS_ON_CHOICES:
            raise ValueError(f"loss_on must be one of {LOSS_ON_CHOICES}, got {self.loss_on!r}")
        if not _is_positive_finite(self.learning_rate):
            raise ValueError(f"learning_rate must be a positive finite number, got {self.learning_rate!r}")
        if not isinstance(self.patience, int) or isinstance(self.patience, bool) or self.patience < 0:
            raise ValueError(f"patience must be a non-negative integer, got {self.patience!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.clipnorm is not None and not _is_positive_finite(self.clipnorm):
            raise ValueError(f"clipnorm must be a positive finite number or None, got {self.clipnorm!r}")
        self._check_lead_ids()
        self._check_lookback()

    def _check_lookback(self) -> None:
        if not isinstance(self.lookback_bars, tuple):
            raise ValueError(f"lookback_bars must be a sequence of bar counts, got {self.lookback_bars!r}")
        if self.lookback_bars:
            from musiclib.lm.lookback import check_lookback

            check_lookback(self.vocab_size, self.bar_token_id, self.lookback_bars)
        elif self.bar_token_id is not None:
            raise ValueError("bar_token_id is only used by the lookback input: give lookback_bars too")

    @property
    def lookback_input(self) -> bool:
        """True when the model sees the same place of earlier bars (:mod:`musiclib.lm.lookback`)."""
        return bool(self.lookback_bars)

    def _check_lead_ids(self) -> None:
        tracks, pitches = self.lead_track_ids, self.lead_pitch_ids
        if not isinstance(tracks, tuple) or not isinstance(pitches, tuple):
            raise ValueError("lead_track_ids and lead_pitch_ids must be sequences of token ids")
        if bool(tracks) != bool(pitches):
            raise ValueError("lead_track_ids and lead_pitch_ids are given together (the lead input) or not at all")
        ids = (*tracks, *pitches)
        for token_id in ids:
            if not isinstance(token_id, int) or isinstance(token_id, bool) or not 0 < token_id < self.vocab_size:
                raise ValueError(f"lead token ids must be vocabulary ids in [1, {self.vocab_size}), got {token_id!r}")
        if len(set(ids)) != len(ids):
            raise ValueError("lead_track_ids and lead_pitch_ids must be distinct token ids")

    @property
    def lead_input(self) -> bool:
        """True when the model sees the lead track's last pitch (:class:`LeadPitch`)."""
        return bool(self.lead_pitch_ids)

    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON-ready dict (``lstm_units`` as a list)."""
        data = dataclasses.asdict(self)
        for name in _TUPLE_FIELDS:
            data[name] = list(data[name])
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "LSTMConfig":
        """Rebuild a config from :meth:`to_dict`'s output; unknown keys are an error."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown LSTMConfig keys {unknown}; allowed: {sorted(known)}")
        return cls(**dict(data))

    def replace(self, **changes: Any) -> "LSTMConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @property
    def predicts_every_step(self) -> bool:
        """True when the model outputs logits for every position (``loss_on="all"``)."""
        return self.loss_on == "all"


_TUPLE_FIELDS = ("lstm_units", "lead_track_ids", "lead_pitch_ids", "lookback_bars")


def _is_positive_finite(value: Any) -> bool:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return number and 0 < value < float("inf")


def _check_positive_int(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


PRESETS: dict[str, dict[str, Any]] = {
    # Trains to convergence (early stopping). 2x256 trains at about 7-8k tokens/s on this
    # project's 2 CPU cores (benchmarks/results.json): about 5 minutes per epoch of the
    # folk corpus (1.8M training tokens).
    "default": {},
    # The walkthrough's budget (what `make run` and notebook 02 train by default): the
    # default model for one epoch, a higher learning rate and no dropout (a single pass
    # cannot overfit). The best validation loss of the one-epoch settings that
    # benchmarks/lstm_budget.py trains on the folk corpus (results/lstm_budget.md).
    "short": {"epochs": 1, "learning_rate": 3e-3, "dropout": 0.0},
    # For tests and quick mode: seconds per epoch on tiny data.
    "tiny": {"embedding_dim": 32, "lstm_units": (64,), "sequence_length": 64, "epochs": 2},
    # The classic Keras music tutorial: 3x LSTM(512), windows of 100, one prediction each.
    "paper": {
        "lstm_units": (512, 512, 512),
        "dropout": 0.3,
        "sequence_length": 100,
        "loss_on": "last",
        "batch_size": 128,
    },
}
"""Named starting points for :func:`config_for`; each maps field names to values that
differ from :class:`LSTMConfig`'s defaults."""


def config_for(preset: str, vocab_size: int, **overrides: Any) -> LSTMConfig:
    """Build an :class:`LSTMConfig` from a preset plus keyword overrides.

    Parameters
    ----------
    preset
        One of ``PRESETS`` (``"default"``, ``"short"``, ``"tiny"``, ``"paper"``).
    vocab_size
        Size of the vocabulary the model will predict.
    **overrides
        Any other :class:`LSTMConfig` field, applied after the preset.

    Examples
    --------
    >>> config_for("tiny", 40, epochs=5).lstm_units
    (64,)
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    known = {field.name for field in dataclasses.fields(LSTMConfig)} - {"vocab_size"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown LSTMConfig fields {unknown}; allowed: {sorted(known)}")
    return LSTMConfig(vocab_size=vocab_size, **{**PRESETS[preset], **overrides})


def _layer_seed(config: LSTMConfig, index: int) -> int:
    return config.seed * _INIT_SEED_STRIDE + index


def build_lstm(config: LSTMConfig, *, name: str = "lstm_language_model") -> keras.Model:
    """Build the language model: tokens -> embedding -> stacked LSTM -> next-token logits.

    Parameters
    ----------
    config
        Sizes and the training set-up. Weight initialisation and dropout are seeded from
        ``config.seed``, so the same config builds the same initial weights.
    name
        Name of the Keras model.

    Returns
    -------
    keras.Model
        Input ``tokens``: int32 ``[batch, time]`` (any length); with the lead input, the
        embedding of :class:`LeadPitch`'s output is added to the tokens'. Output ``logits``:
        ``[batch, time, vocab_size]`` for ``loss_on="all"``, ``[batch, vocab_size]``
        (the token after the window) for ``loss_on="last"``. Logits, not
        probabilities: train with ``from_logits=True``.
    """
    if not isinstance(config, LSTMConfig):
        raise TypeError(f"config must be an LSTMConfig, got {type(config).__name__}")
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(
        config.vocab_size,
        config.embedding_dim,
        mask_zero=False,
        embeddings_initializer=keras.initializers.RandomUniform(seed=_layer_seed(config, 0)),
        name="embedding",
    )(tokens)
    if config.lead_input:
        lead = LeadPitch(config.vocab_size, config.lead_track_ids, config.lead_pitch_ids, name="lead_pitch")(tokens)
        x = keras.layers.Add(name="with_lead")([x, _lead_embedding(config)(lead)])
    if config.lookback_input:
        from musiclib.lm.lookback import LookbackEmbedding

        lookback = LookbackEmbedding(config.vocab_size, config.bar_token_id, config.lookback_bars,
                                     config.embedding_dim, name="lookback")(tokens)
        x = keras.layers.Add(name="with_lookback")([x, lookback])
    last = len(config.lstm_units) - 1
    for index, units in enumerate(config.lstm_units):
        seed = _layer_seed(config, index + 1)
        x = keras.layers.LSTM(
            units,
            return_sequences=config.loss_on == "all" or index < last,
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
            recurrent_initializer=keras.initializers.Orthogonal(seed=seed),
            name=f"lstm_{index}",
        )(x)
        x = keras.layers.Dropout(config.dropout, seed=seed, name=f"dropout_{index}")(x)
    logits = keras.layers.Dense(
        config.vocab_size,
        kernel_initializer=keras.initializers.GlorotUniform(seed=_layer_seed(config, last + 2)),
        name="logits",
    )(x)
    return keras.Model(tokens, logits, name=name)


def _lead_embedding(config: LSTMConfig) -> keras.layers.Embedding:
    return keras.layers.Embedding(
        len(config.lead_pitch_ids) + 1,
        config.embedding_dim,
        embeddings_initializer=keras.initializers.RandomUniform(seed=_layer_seed(config, len(config.lstm_units) + 3)),
        name="lead_embedding",
    )


def lead_context_ids(vocab: Any) -> dict[str, tuple[int, ...]]:
    """The :class:`LSTMConfig` fields that switch the lead input on for an ``events`` vocabulary.

    Returns ``{"lead_track_ids": ids of Track_0, Track_1, ..., "lead_pitch_ids": ids of
    Pitch_p in pitch order}``; ``Track_0`` is the lead.

    Raises
    ------
    ValueError
        For a vocabulary without ``Track_i`` and ``Pitch_p`` tokens (the ``paper`` encoding).
    """
    def numbered(prefix: str) -> tuple[int, ...]:
        found = {}
        for token in vocab.tokens:
            head, _, number = token.partition("_")
            if head == prefix and number.isdigit():
                found[int(number)] = int(vocab.id(token))
        return tuple(found[key] for key in sorted(found))

    tracks, pitches = numbered("Track"), numbered("Pitch")
    if not tracks or not pitches:
        raise ValueError("the lead input needs a vocabulary with Track_i and Pitch_p tokens (the events encoding)")
    return {"lead_track_ids": tracks, "lead_pitch_ids": pitches}


def _lead_tables(vocab_size: int, track_ids: Any, pitch_ids: Any) -> tuple[Any, Any]:
    import numpy as np

    tracks = np.zeros(vocab_size, np.int32)
    tracks[list(track_ids)] = np.arange(1, len(track_ids) + 1)
    pitches = np.zeros(vocab_size, np.int32)
    pitches[list(pitch_ids)] = np.arange(1, len(pitch_ids) + 1)
    return tracks, pitches


_BOS_ID = 1  # musiclib.encoding.vocab: PAD 0, BOS 1, EOS 2 in every vocabulary


@keras.saving.register_keras_serializable(package="musiclib")
class LeadPitch(keras.layers.Layer):
    """The pitch the lead track played last, at every position of a token sequence.

    Output ``[batch, time]`` int32: ``k`` (1-based, the ``k``-th id of ``pitch_ids``) for
    the lead's last pitch up to and including the position, ``0`` before the window's first
    lead note and after a ``BOS``. A pitch token is the lead's when the last ``Track_i``
    token before it is the first of ``track_ids``. Computed with two "last marked index so
    far" passes (:func:`musiclib.lm.lookback.last_marked_position`), so it costs no
    recurrence and runs on any Keras backend;
    :func:`lead_pitch_step` is the same function one token at a time.

    Parameters
    ----------
    vocab_size
        Size of the vocabulary.
    track_ids, pitch_ids
        Ids of the ``Track_i`` tokens (lead first) and the ``Pitch_p`` tokens.
    """

    def __init__(self, vocab_size: int, track_ids: Any, pitch_ids: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # a bundle's config.json feeds these: check them as LSTMConfig does
        if not track_ids or not pitch_ids:
            raise ValueError("LeadPitch needs the ids of the Track_i and the Pitch_p tokens")
        LSTMConfig(vocab_size=vocab_size, lead_track_ids=tuple(track_ids), lead_pitch_ids=tuple(pitch_ids))
        self.vocab_size = int(vocab_size)
        self.track_ids = [int(i) for i in track_ids]
        self.pitch_ids = [int(i) for i in pitch_ids]
        self._tracks, self._pitches = _lead_tables(self.vocab_size, self.track_ids, self.pitch_ids)

    @staticmethod
    def _last_marked(marks: Any, values: Any) -> Any:
        """``values`` at the last marked position up to each position (0 before the first mark)."""
        from musiclib.lm.lookback import last_marked_position

        ops = keras.ops
        last = last_marked_position(marks)
        picked = ops.take_along_axis(values, ops.maximum(last, 0), axis=1)
        return ops.where(last >= 0, picked, ops.zeros_like(picked))

    def call(self, tokens: Any) -> Any:
        ops = keras.ops
        tokens = ops.cast(tokens, "int32")
        bos = ops.equal(tokens, _BOS_ID)
        track = ops.take(ops.convert_to_tensor(self._tracks), tokens)
        current = self._last_marked(ops.logical_or(track > 0, bos), ops.where(bos, ops.zeros_like(track), track))
        pitch = ops.take(ops.convert_to_tensor(self._pitches), tokens)
        lead_note = ops.logical_and(pitch > 0, ops.equal(current, 1))
        return self._last_marked(ops.logical_or(lead_note, bos), ops.where(bos, ops.zeros_like(pitch), pitch))

    def compute_output_spec(self, tokens: Any) -> Any:
        return keras.KerasTensor(tokens.shape, dtype="int32")

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "vocab_size": self.vocab_size, "track_ids": self.track_ids,
                "pitch_ids": self.pitch_ids}


def lead_tables(config: LSTMConfig) -> tuple[Any, Any]:
    """Token id -> track (1-based, 0: not a ``Track_i``) and -> pitch (1-based, 0: not a ``Pitch_p``)
    lookup arrays of a config with the lead input, for :func:`lead_pitch_step`."""
    return _lead_tables(config.vocab_size, config.lead_track_ids, config.lead_pitch_ids)


def lead_pitch_step(tables: tuple[Any, Any], tokens: Any, track: Any, lead: Any) -> tuple[Any, Any]:
    """One token of :class:`LeadPitch`: the new ``(track, lead)`` of each row (``[batch]`` ints).

    ``tables`` is :func:`lead_tables`'s; ``track`` is the current track (1-based, 0 unknown),
    ``lead`` the lead's last pitch (1-based, 0 none); both start at 0. The new ``lead`` is
    the layer's output at ``tokens``.
    """
    import numpy as np

    tokens = np.asarray(tokens, dtype=np.intp).reshape(-1)
    bos = tokens == _BOS_ID
    token_track, token_pitch = tables[0][tokens], tables[1][tokens]
    track = np.where(bos, 0, np.where(token_track > 0, token_track, track))
    lead = np.where(bos, 0, np.where((token_pitch > 0) & (track == 1), token_pitch, lead))
    return track.astype(np.int32), lead.astype(np.int32)


def _lstm_layers(model: keras.Model, n_layers: int) -> list[keras.layers.LSTM]:
    layers = []
    for index in range(n_layers):
        try:
            layer = model.get_layer(f"lstm_{index}")
        except ValueError as exc:
            raise ValueError(
                f"model has no layer 'lstm_{index}': it was not built by build_lstm with this config"
            ) from exc
        layers.append(layer)
    return layers


class _CellStep(keras.layers.Layer):
    """Calls an existing LSTM layer's cell for one time step (shares its weights).

    A thin wrapper so each cell appears in the step model under a unique name
    (every Keras LSTM names its cell ``lstm_cell``).
    """

    def __init__(self, cell: keras.layers.Layer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cell = cell

    def call(self, inputs: Any, h: Any, c: Any) -> tuple[Any, Any, Any]:
        output, (h_new, c_new) = self.cell(inputs, [h, c])
        return output, h_new, c_new

    def compute_output_spec(self, inputs: Any, h: Any, c: Any) -> tuple[Any, Any, Any]:
        shape = (inputs.shape[0], self.cell.units)
        return tuple(keras.KerasTensor(shape, dtype=self.compute_dtype) for _ in range(3))


def step_state_sizes(config: LSTMConfig) -> list[int]:
    """Widths of the state tensors the step model takes and returns: ``[h0, c0, h1, c1, ...]``."""
    return [units for units in config.lstm_units for _ in range(2)]


def build_step_model(model: keras.Model, config: LSTMConfig) -> keras.Model:
    """A one-token-at-a-time view of a trained :func:`build_lstm` model.

    The step model calls the *same* layer objects (the embedding, each LSTM layer's
    cell and the output layer), so it shares their weight variables: no copy, and
    further training of ``model`` is visible in it. Dropout is left out (inference).

    Parameters
    ----------
    model
        A model built by :func:`build_lstm` (or loaded from a bundle).
    config
        The config it was built with.

    Returns
    -------
    keras.Model
        Inputs ``[token, h_0, c_0, h_1, c_1, ...]``: ``token`` is int32 ``[batch, 1]``,
        each state float32 ``[batch, units]`` (zeros to start). With the lead input,
        ``[token, lead, h_0, ...]``: ``lead`` int32 ``[batch, 1]`` is the lead's last
        pitch after ``token`` (:func:`lead_pitch_step`). With the lookback input, ``lookback``
        int32 ``[batch, distances]`` follows (:class:`~musiclib.lm.lookback.LookbackHistory`). Outputs
        ``[logits, h_0, c_0, ...]`` with ``logits`` ``[batch, vocab_size]`` for the
        token that follows.

    Notes
    -----
    Feeding a sequence token by token from zero states gives the same logits as the
    full model on that sequence (up to float rounding), for both ``loss_on`` settings:
    the full ``"last"`` model simply reports only the final step.
    """
    embedding = model.get_layer("embedding")
    lstms = _lstm_layers(model, len(config.lstm_units))
    output = model.get_layer("logits")

    token = keras.Input(shape=(1,), dtype="int32", name="token")
    state_inputs = []
    for index, units in enumerate(config.lstm_units):
        state_inputs.append(keras.Input(shape=(units,), name=f"h_{index}"))
        state_inputs.append(keras.Input(shape=(units,), name=f"c_{index}"))

    x = keras.layers.Reshape((config.embedding_dim,), name="squeeze_time")(embedding(token))
    inputs = [token]
    if config.lead_input:
        lead = keras.Input(shape=(1,), dtype="int32", name="lead")
        lead_vector = keras.layers.Reshape((config.embedding_dim,), name="squeeze_lead")(
            model.get_layer("lead_embedding")(lead))
        x = keras.layers.Add(name="with_lead_step")([x, lead_vector])
        inputs.append(lead)
    if config.lookback_input:
        lookback = keras.Input(shape=(len(config.lookback_bars),), dtype="int32", name="lookback")
        x = keras.layers.Add(name="with_lookback_step")([x, model.get_layer("lookback").embed(lookback)])
        inputs.append(lookback)
    new_states = []
    for index, layer in enumerate(lstms):
        h, c = state_inputs[2 * index], state_inputs[2 * index + 1]
        x, h_new, c_new = _CellStep(layer.cell, name=f"lstm_{index}_step")(x, h, c)
        new_states.extend([h_new, c_new])
    logits = output(x)
    return keras.Model([*inputs, *state_inputs], [logits, *new_states], name=f"{model.name}_step")
