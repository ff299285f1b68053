"""Generate music from a trained model: token sampling, decoding and MIDI output.

Generation carries the LSTM's recurrent state forward one token at a time, so each new
token costs one step of the network (the classic tutorial re-ran a whole 100-token
window per new token). The step is computed in numpy from the Keras layers' weights
(Keras's LSTM cell equations; tested equal to :func:`musiclib.lm.lstm.build_step_model`
run by Keras), because at one token per call TensorFlow's per-call overhead costs more
than the arithmetic.
Sampling uses ``numpy.random.default_rng(seed)``: the same model, primer, parameters
and seed give the same tokens, hence byte-identical MIDI files.

N-gram baselines from :mod:`musiclib.lm.ngram` generate through the same function:
pass ``ModelParts(model=ngram, vocab=vocab)``.

:func:`sample_many` generates many pieces at once: one step of the network advances a
whole batch of sequences (each with its own primer, seed and stopping point), which
costs about as much as one sequence on a CPU, so sets of a hundred pieces take
seconds rather than minutes.
"""

from __future__ import annotations

import inspect
import os
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np

from musiclib import _tf

__all__ = [
    "ModelParts",
    "GenerationResult",
    "sample_tokens",
    "sample_many",
    "generate_midi",
    "primer_from_tune",
    "next_token",
    "check_sampling",
    "BarCopy",
    "check_copy",
    "LeapPenalty",
    "check_leap",
    "STEP_SEMITONES",
    "DEFAULT_PRIMER",
    "BAR_TOKEN",
    "BANNED_TOKENS",
    "MAX_TOKENS_PER_BAR",
]

BAR_TOKEN = "Bar"
"""The token that opens a bar in the event encoding (counted by ``n_bars``)."""

DOWNBEAT_TOKEN = "Pos_0"
"""The event encoding's onset on the bar line: a first bar that opens otherwise is a pickup (:class:`BarCopy`)."""

STEP_SEMITONES = 2
"""The largest melodic step (a whole tone): :class:`LeapPenalty` lets steps and repeated notes pass free."""

DEFAULT_PRIMER = ("BOS",)
"""What generation starts from when no primer is given."""

MAX_TOKENS_PER_BAR = 512
"""With ``n_bars`` but no ``max_tokens``, generation still stops after
``n_bars * MAX_TOKENS_PER_BAR`` tokens, in case the model never opens a bar."""

BANNED_TOKENS = ("PAD", "BOS", "UNK")
"""Tokens never sampled: padding, a second sequence start and the unknown token."""

_PREVIEW = 5  # unknown primer tokens named in an error message
_step_models: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()


class ModelParts(NamedTuple):
    """What generation needs when there is no :class:`~musiclib.lm.bundle.Bundle`.

    Attributes
    ----------
    model
        A Keras model from :func:`~musiclib.lm.lstm.build_lstm`, or an object with
        ``distribution(context_ids) -> probabilities`` (the n-gram baselines).
    vocab
        The vocabulary the model predicts.
    config
        The model's :class:`~musiclib.lm.lstm.LSTMConfig` (Keras models only).
    encoding
        The token encoding: to decode (:func:`generate_midi`) and, for the event
        encoding, the grammar that constrained sampling follows.
    monophonic
        Tracks that constrained sampling keeps monophonic (a bundle's
        ``data_info["monophonic_tracks"]``, measured on its training data).
    """

    model: Any
    vocab: Any
    config: Any = None
    encoding: Any = None
    monophonic: tuple[int, ...] = ()


@dataclass(frozen=True)
class GenerationResult:
    """What :func:`generate_midi` produced.

    Attributes
    ----------
    tokens
        The token sequence, primer included.
    tune
        The decoded tune.
    dropped
        Ill-formed tokens the decoder had to drop (0 for a well-formed sequence).
    path
        The MIDI file written.
    """

    tokens: list[str]
    tune: Any
    dropped: int
    path: Path


def check_sampling(
    *,
    max_tokens: int | None,
    n_bars: int | None,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    greedy: bool,
    seed: int,
) -> None:
    """Validate sampling parameters; raise ``ValueError`` naming the bad one."""

    def positive_int(name: str, value: Any) -> None:
        if value is not None and (not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1):
            raise ValueError(f"{name} must be a positive integer or None, got {value!r}")

    positive_int("max_tokens", max_tokens)
    positive_int("n_bars", n_bars)
    positive_int("top_k", top_k)
    if max_tokens is None and n_bars is None:
        raise ValueError("give max_tokens or n_bars (or both): generation needs a length limit")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not np.isfinite(temperature):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0 (use greedy=True for argmax), got {temperature!r}")
    if top_p is not None and (
        isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0 < top_p <= 1
    ):
        raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")
    if not isinstance(greedy, bool):
        raise ValueError(f"greedy must be True or False, got {greedy!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


def next_token(
    logits: np.ndarray,
    rng: np.random.Generator,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    greedy: bool = False,
) -> int:
    """Pick one token id from unnormalised log-probabilities.

    ``-inf`` entries are never picked. Greedy takes the argmax (first on ties);
    otherwise the logits are divided by ``temperature``, cut to the ``top_k`` most
    probable and then to the smallest set whose probability reaches ``top_p``
    (nucleus sampling), renormalised, and one id is drawn with a single
    ``rng.random()`` call.
    """
    logits = np.asarray(logits, dtype=np.float64).reshape(-1)
    if greedy:
        return int(np.argmax(logits))
    scaled = logits / temperature
    if top_k is not None and top_k < scaled.size:
        cutoff = np.partition(scaled, -top_k)[-top_k]
        scaled = np.where(scaled >= cutoff, scaled, -np.inf)
    probs = np.exp(scaled - scaled.max())
    probs /= probs.sum()
    if top_p is not None and top_p < 1:
        order = np.argsort(-probs, kind="stable")
        cumulative = np.cumsum(probs[order])
        keep = int(np.searchsorted(cumulative, top_p)) + 1
        mask = np.zeros_like(probs, dtype=bool)
        mask[order[:keep]] = True
        probs = np.where(mask, probs, 0.0)
    cumulative = np.cumsum(probs)
    index = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
    index = min(index, probs.size - 1)
    while probs[index] == 0:  # only reachable through float rounding at the top end
        index -= 1
    return index


def _parts(source: Any) -> ModelParts:
    if isinstance(source, ModelParts):
        return source
    if hasattr(source, "model") and hasattr(source, "vocab") and hasattr(source, "config"):
        data_info = getattr(source, "data_info", None) or {}
        return ModelParts(source.model, source.vocab, source.config, getattr(source, "encoding", None),
                          tuple(data_info.get("monophonic_tracks", ())))
    if isinstance(source, tuple) and 2 <= len(source) <= 5:
        return ModelParts(*source)
    raise TypeError(
        "sample_tokens needs a Bundle or ModelParts(model, vocab, config, encoding), "
        f"got {type(source).__name__}"
    )


class _TokenInputs:
    """The LSTM's inputs besides the token, advanced in numpy one token at a time.

    The lead input (:class:`musiclib.lm.lstm.LeadPitch`) keeps two states per row, the
    current track and the lead's last pitch (:func:`musiclib.lm.lstm.lead_pitch_step`); the
    lookback input (:mod:`musiclib.lm.lookback`) keeps a
    :class:`~musiclib.lm.lookback.LookbackHistory`. Both ride at the end of a step's state
    list, after the recurrent states.
    """

    def __init__(self, config: Any) -> None:
        from musiclib.lm.lstm import lead_tables

        self.lead = lead_tables(config) if getattr(config, "lead_input", False) else None
        self.lookback = config if getattr(config, "lookback_input", False) else None  # its config, when on

    def initial_states(self, batch: int) -> list[Any]:
        """Start states: no track, no lead pitch, an empty history."""
        from musiclib.lm.lookback import LookbackHistory

        states: list[Any] = []
        if self.lead is not None:
            states += [np.zeros(batch, np.int32), np.zeros(batch, np.int32)]
        if self.lookback is not None:
            states.append(LookbackHistory(self.lookback.vocab_size, self.lookback.bar_token_id,
                                          self.lookback.lookback_bars, batch))
        return states

    def advance(self, tokens: np.ndarray, states: Sequence[Any]) -> tuple[list[np.ndarray], list[Any]]:
        """``(inputs, states)`` after ``tokens``: the lead pitch ``[batch, 1]`` and the lookback ids
        ``[batch, distances]`` (those that apply), and the new states."""
        from musiclib.lm.lstm import lead_pitch_step

        inputs: list[np.ndarray] = []
        new_states: list[Any] = []
        if self.lead is not None:
            track, lead = lead_pitch_step(self.lead, tokens, np.asarray(states[0]), np.asarray(states[1]))
            inputs.append(lead.reshape(-1, 1))
            new_states += [track, lead]
        if self.lookback is not None:
            history = states[-1]
            inputs.append(history.advance(tokens).astype(np.int32))
            new_states.append(history)
        return inputs, new_states


class _CompiledStep:
    """The step model behind one compiled ``tf.function``: a token batch and states in, logits and states out.

    Calling the compiled function skips what ``Model.predict_on_batch`` does on every
    call (input conversion and validation, a fresh dispatch), which dominates the cost
    of one step of a small recurrent network: generation is several times faster.
    States stay TensorFlow tensors between steps; only the logits come back to numpy.
    The lead and lookback inputs' states follow the recurrent ones (:class:`_TokenInputs`).
    """

    def __init__(self, step_model: Any, config: Any) -> None:
        tf = _tf.tensorflow()

        self.units = [units for units in config.lstm_units for _ in range(2)]
        self.extra = _TokenInputs(config)
        token_specs = [tf.TensorSpec((None, 1), tf.int32)]
        if self.extra.lead is not None:
            token_specs.append(tf.TensorSpec((None, 1), tf.int32))
        if self.extra.lookback is not None:
            token_specs.append(tf.TensorSpec((None, len(config.lookback_bars)), tf.int32))
        signature = token_specs + [tf.TensorSpec((None, u), tf.float32) for u in self.units]

        @tf.function(input_signature=signature, reduce_retracing=True)
        def run(*inputs):
            return step_model(list(inputs), training=False)

        self._run = run

    def initial_states(self, batch: int) -> list[Any]:
        """Zero states for ``batch`` sequences."""
        states = [np.zeros((batch, units), dtype=np.float32) for units in self.units]
        return states + self.extra.initial_states(batch)

    def __call__(self, tokens: np.ndarray, states: Sequence[Any]) -> tuple[np.ndarray, list[Any]]:
        tokens = np.asarray(tokens, dtype=np.int32).reshape(-1, 1)
        network = list(states[: len(self.units)])
        inputs, extra_states = self.extra.advance(tokens, states[len(self.units):])
        outputs = self._run(tokens, *inputs, *network)
        return np.asarray(outputs[0], dtype=np.float64), list(outputs[1:]) + extra_states


class _NumpyStep:
    """The same step as :class:`_CompiledStep`, computed in numpy from a snapshot of the weights.

    One step of a small LSTM is a handful of small matrix products; numpy does them in
    tens of microseconds where any TensorFlow call costs a millisecond or more of
    dispatch. The equations are Keras's ``LSTMCell`` (gates in the order input, forget,
    candidate, output; sigmoid and tanh), checked against the Keras step model in the
    tests. Built only for layers with Keras's default activations; anything else uses
    the compiled TensorFlow step.
    """

    def __init__(self, model: Any, config: Any) -> None:
        from musiclib.lm.lstm import _lstm_layers

        self.units = [units for units in config.lstm_units for _ in range(2)]
        self.embedding = np.asarray(model.get_layer("embedding").get_weights()[0], dtype=np.float32)
        self.extra = _TokenInputs(config)
        self.lead_embedding = _weights(model, "lead_embedding") if self.extra.lead is not None else None
        self.lookback_embedding = None
        if self.extra.lookback is not None:
            table = model.get_layer("lookback").embedding.get_weights()[0]
            self.lookback_embedding = np.asarray(table, dtype=np.float32)
        self.cells = []
        for layer in _lstm_layers(model, len(config.lstm_units)):
            kernel, recurrent, bias = (np.asarray(w, dtype=np.float32) for w in layer.cell.get_weights())
            self.cells.append((kernel, recurrent, bias, layer.cell.units))
        dense_kernel, dense_bias = model.get_layer("logits").get_weights()
        self.dense = (np.asarray(dense_kernel, dtype=np.float32), np.asarray(dense_bias, dtype=np.float32))

    @staticmethod
    def supports(model: Any, config: Any) -> bool:
        """Whether every LSTM layer uses the activations this step computes."""
        keras = _tf.keras()

        from musiclib.lm.lstm import _lstm_layers

        try:
            layers = _lstm_layers(model, len(config.lstm_units))
        except ValueError:
            return False
        return all(layer.cell.activation is keras.activations.tanh
                   and layer.cell.recurrent_activation is keras.activations.sigmoid
                   and layer.cell.use_bias and len(layer.cell.get_weights()) == 3 for layer in layers)

    def initial_states(self, batch: int) -> list[Any]:
        """Zero states for ``batch`` sequences (and the lead and lookback inputs', see :class:`_CompiledStep`)."""
        states = [np.zeros((batch, units), dtype=np.float32) for units in self.units]
        return states + self.extra.initial_states(batch)

    def __call__(self, tokens: np.ndarray, states: Sequence[Any]) -> tuple[np.ndarray, list[Any]]:
        x = self.embedding[np.asarray(tokens, dtype=np.intp).reshape(-1)]
        inputs, extra_states = self.extra.advance(tokens, states[len(self.units):])
        if self.lead_embedding is not None:
            x = x + self.lead_embedding[inputs.pop(0)[:, 0]]
        if self.lookback_embedding is not None:
            x = x + self.lookback_embedding[inputs.pop(0)].sum(axis=1)
        new_states = []
        for index, (kernel, recurrent, bias, units) in enumerate(self.cells):
            h, c = states[2 * index], states[2 * index + 1]
            z = x @ kernel + h @ recurrent + bias
            i, f = _sigmoid(z[:, :units]), _sigmoid(z[:, units : 2 * units])
            c = f * c + i * np.tanh(z[:, 2 * units : 3 * units])
            h = _sigmoid(z[:, 3 * units :]) * np.tanh(c)
            new_states += [h, c]
            x = h
        kernel, bias = self.dense
        return (x @ kernel + bias).astype(np.float64), new_states + extra_states


def _weights(model: Any, layer_name: str) -> np.ndarray:
    return np.asarray(model.get_layer(layer_name).get_weights()[0], dtype=np.float32)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)  # = 1 / (1 + exp(-x)), without overflow warnings


def _fast_step(model: Any, config: Any) -> Any:
    """The numpy step (weights read now, so later training is seen) or else the compiled one;
    for a Transformer, its key/value-cached NumPy step."""
    from musiclib.lm.transformer import CachedStep, TransformerConfig

    if isinstance(config, TransformerConfig):
        return CachedStep(model, config)
    if config is not None and _NumpyStep.supports(model, config):
        return _NumpyStep(model, config)
    return _step_model(model, config)


def _step_model(model: Any, config: Any) -> _CompiledStep:
    from musiclib.lm.lstm import build_step_model

    try:
        cached = _step_models.get(model)
    except TypeError:
        cached = None
    if cached is None:
        if config is None:
            raise ValueError("config is required to generate from a Keras model (ModelParts.config)")
        cached = _CompiledStep(build_step_model(model, config), config)
        try:
            _step_models[model] = cached
        except TypeError:
            pass
    return cached


class _LSTMStepper:
    """Feeds tokens one at a time and returns the next-token logits (LSTM or Transformer)."""

    def __init__(self, model: Any, config: Any) -> None:
        self.step = _fast_step(model, config)
        self.states = self.step.initial_states(1)

    def __call__(self, token_id: int) -> np.ndarray:
        logits, self.states = self.step(np.array([[token_id]], dtype=np.int32), self.states)
        return logits[0]


class _DistributionStepper:
    """The same interface for models that give a next-token distribution from context ids."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.context: list[int] = []

    def __call__(self, token_id: int) -> np.ndarray:
        self.context.append(int(token_id))
        probs = np.asarray(self.model.distribution(self.context), dtype=np.float64)
        with np.errstate(divide="ignore"):
            return np.log(probs)


def _grammar(parts: ModelParts, constrained: bool) -> Any:
    """The :class:`~musiclib.encoding.grammar.EventGrammar` sampling follows, or None.

    Only the event encoding has a grammar to enforce; other encodings (and
    ``constrained=False``) sample from the model's whole distribution, minus the
    banned tokens.
    """
    if not isinstance(constrained, bool):
        raise ValueError(f"constrained must be True or False, got {constrained!r}")
    from musiclib.encoding.events import EventEncoding

    if not constrained or not isinstance(parts.encoding, EventEncoding):
        return None
    from musiclib.encoding.grammar import EventGrammar

    return EventGrammar(parts.encoding, parts.vocab, monophonic=parts.monophonic)


def _mask(logits: np.ndarray, banned: list[int], state: Any) -> np.ndarray:
    """``logits`` with the banned ids and, under a grammar, every id that cannot follow at -inf."""
    logits = np.array(logits, dtype=np.float64)
    logits[banned] = -np.inf
    if state is not None:
        logits[~state.allowed()] = -np.inf
    return logits


def _complete(generated: list[int], state: Any) -> list[int]:
    """Drop a trailing ``Pitch`` that a length limit cut off before its ``Dur``."""
    if state is not None and not state.complete:
        return generated[:-1]
    return generated


def _primer_ids(vocab: Any, primer: Sequence[str]) -> list[int]:
    """The ids of a primer; ``ValueError`` for an empty primer or tokens the vocabulary lacks."""
    if not len(primer):
        raise ValueError("primer must hold at least one token (e.g. ['BOS'])")
    unknown = [token for token in primer if token not in vocab]
    if unknown:
        raise ValueError(f"primer tokens not in the vocabulary: {sorted(set(unknown))[:_PREVIEW]}")
    return [int(i) for i in vocab.encode(list(primer))]


class BarCopy:
    """A copy prior over bars: the piece's own earlier bars as a cache (Grave et al. 2017).

    Folk tunes repeat: a strain's fifth bar often restates its first, the second strain
    its first eight bars. A network sampled token by token rarely does (the classifier
    two-sample test's repetition features tell its pieces apart). ``BarCopy`` watches the
    tokens of a sequence; while the open bar so far equals the start of the bar ``lag``
    bars earlier (the first of ``lags`` that has such a bar), :meth:`candidate` is that
    bar's next token (its end: the next ``Bar``). Sampling then draws from the mixture
    ``(1 - weight) * model + weight * copy``: the candidate with probability ``weight``
    where the grammar allows it, else the model's token. Once a token differs from the
    earlier bar, that bar offers nothing more until the next bar.

    A piece's first bar is not a source when it is a pickup (an anacrusis: its first
    token is not ``downbeat_id``, the onset on the bar line). Copied eight bars on, a
    pickup's rest would silence the middle of the piece; real tunes restate the first
    full bar, which the same lag finds one bar later.
    """

    def __init__(self, lags: Sequence[int], weight: float, bar_id: int, *, downbeat_id: int | None = None) -> None:
        self.lags, self.weight, self.bar_id = tuple(int(lag) for lag in lags), float(weight), int(bar_id)
        self.downbeat_id = None if downbeat_id is None else int(downbeat_id)
        self.bars: list[list[int] | None] = []  # the closed bars' tokens without their Bar token; None: no source
        self.current: list[int] | None = None  # the open bar's tokens (None before the first Bar)

    def feed(self, token_id: int) -> None:
        """Record the next token of the sequence."""
        if token_id == self.bar_id:
            if self.current is not None:
                self.bars.append(None if self._is_pickup(self.current) else self.current)
            self.current = []
        elif self.current is not None:
            self.current.append(int(token_id))

    def _is_pickup(self, bar: list[int]) -> bool:
        """Whether ``bar``, about to close, is the piece's first bar and opens after the bar line."""
        return self.downbeat_id is not None and not self.bars and bar[:1] != [self.downbeat_id]

    def candidate(self) -> int | None:
        """The token that continues copying an earlier bar, or None."""
        if self.current is None:
            return None
        index, length = len(self.bars), len(self.current)
        for lag in self.lags:
            if index - lag >= 0:
                source = self.bars[index - lag]
                if source is not None and source[:length] == self.current:
                    return source[length] if length < len(source) else self.bar_id
        return None

    def draw(self, logits: np.ndarray, rng: np.random.Generator) -> int | None:
        """The copied token with probability ``weight`` where ``logits`` allows it, else None."""
        candidate = self.candidate()
        if candidate is None or not np.isfinite(logits[candidate]):
            return None
        return candidate if rng.random() < self.weight else None


def check_copy(copy_lags: Sequence[int], copy_weight: float) -> None:
    """Validate the bar-copy options of :func:`sample_tokens`; ``ValueError`` naming the bad one."""
    if isinstance(copy_weight, bool) or not isinstance(copy_weight, (int, float)) or not 0 <= copy_weight < 1:
        raise ValueError(f"copy_weight must be a number in [0, 1), got {copy_weight!r}")
    lags = list(copy_lags)
    if any(not isinstance(lag, (int, np.integer)) or isinstance(lag, bool) or lag < 1 for lag in lags):
        raise ValueError(f"copy_lags must be positive integers (bars back), got {copy_lags!r}")
    if copy_weight > 0 and not lags:
        raise ValueError("copy_weight > 0 needs copy_lags (how many bars back to copy from)")


def _bar_copy(copy_lags: Sequence[int], copy_weight: float, vocab: Any, bar_token: str) -> BarCopy | None:
    check_copy(copy_lags, copy_weight)
    if copy_weight == 0:
        return None
    if bar_token not in vocab:
        raise ValueError(f"copy_weight needs the bar token {bar_token!r}, which this vocabulary lacks")
    downbeat = DOWNBEAT_TOKEN if DOWNBEAT_TOKEN in vocab else None
    return BarCopy(copy_lags, copy_weight, vocab.id(bar_token), downbeat_id=None if downbeat is None else vocab.id(downbeat))


class LeapPenalty:
    """A leap prior for melodies: every semitone a melodic interval exceeds a whole tone costs ``penalty`` nats.

    A network that has seen little data learns which pitches a tune uses long before it
    learns which pitch follows which: its melodies then jump about the key (a mean absolute
    interval near 5 semitones where folk tunes move 2.6). ``LeapPenalty`` is a one-parameter
    product of experts with the model (shallow fusion, as an external language model is
    fused with a speech recogniser's): when the grammar expects the pitch of a note on a
    monophonic track (the melody) whose previous pitch is known, it lowers the logit of each
    pitch ``p`` by ``penalty * max(0, |p - previous| - STEP_SEMITONES)``. Repeated notes
    and steps are untouched; larger leaps are made rarer, never impossible. It acts before
    the temperature (so at temperature ``T`` the cost is ``penalty / T``) and before the
    nucleus cut; a copied bar (:class:`BarCopy`) keeps its own pitches.

    Parameters
    ----------
    penalty
        Nats per semitone beyond a whole tone (0: the model alone).
    grammar
        The :class:`~musiclib.encoding.grammar.EventGrammar` sampling follows: it names the
        pitch tokens, their pitches and the monophonic tracks.
    """

    def __init__(self, penalty: float, grammar: Any) -> None:
        self.penalty = float(penalty)
        self.grammar = grammar
        self.pitch_ids = np.flatnonzero(grammar.is_pitch)
        self.pitches = grammar.value[self.pitch_ids].astype(np.float64)
        self.previous: dict[int, int] = {}  # monophonic track -> its last pitch

    def feed(self, token_id: int, state: Any) -> None:
        """Record ``token_id``, already fed to the grammar ``state``."""
        if self.grammar.is_pitch[token_id] and state.track >= 0 and self.grammar.is_mono_track[state.track]:
            self.previous[int(state.track)] = int(self.grammar.value[token_id])

    def apply(self, logits: np.ndarray, state: Any) -> np.ndarray:
        """``logits`` (changed in place and returned) with the leap costs of the next melody pitch."""
        if not state.awaiting_pitch or state.track not in self.previous:
            return logits
        leap = np.abs(self.pitches - self.previous[state.track]) - STEP_SEMITONES
        logits[self.pitch_ids] -= self.penalty * np.maximum(leap, 0.0)
        return logits


def check_leap(leap_penalty: float) -> None:
    """Validate the ``leap_penalty`` option of :func:`sample_tokens`; ``ValueError`` if it is not a number ≥ 0."""
    if (isinstance(leap_penalty, bool) or not isinstance(leap_penalty, (int, float))
            or not np.isfinite(leap_penalty) or leap_penalty < 0):
        raise ValueError(f"leap_penalty must be a finite number >= 0 (nats per semitone), got {leap_penalty!r}")


def _leap(leap_penalty: float, grammar: Any) -> LeapPenalty | None:
    check_leap(leap_penalty)
    if leap_penalty == 0:
        return None
    if grammar is None:
        raise ValueError("leap_penalty needs the event encoding's grammar (constrained=True): it finds the melody "
                         "notes through it")
    if not grammar.monophonic:  # no melody to keep smooth (piano music): the model alone
        return None
    return LeapPenalty(leap_penalty, grammar)


def _draw(logits: np.ndarray, rng: np.random.Generator, copy: BarCopy | None, **options: Any) -> int:
    """The next token: the bar-copy prior's (:meth:`BarCopy.draw`) when it copies, else :func:`next_token`'s."""
    token_id = copy.draw(logits, rng) if copy is not None else None
    return next_token(logits, rng, **options) if token_id is None else token_id


def sample_tokens(
    source: Any,
    *,
    primer: Sequence[str] | None = None,
    max_tokens: int | None = None,
    n_bars: int | None = None,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    greedy: bool = False,
    seed: int = 0,
    bar_token: str = BAR_TOKEN,
    constrained: bool = True,
    copy_lags: Sequence[int] = (),
    copy_weight: float = 0.0,
    leap_penalty: float = 0.0,
) -> list[str]:
    """Generate a token sequence.

    Parameters
    ----------
    source
        A :class:`~musiclib.lm.bundle.Bundle`, or :class:`ModelParts` (a Keras model
        with its config, or an n-gram baseline, plus the vocabulary).
    primer
        Tokens fed before sampling starts (default ``["BOS"]``). Tokens the
        vocabulary lacks are an error.
    max_tokens
        Most tokens to generate after the primer.
    n_bars
        Number of new bars: generation stops before the ``n_bars + 1``-th
        ``bar_token`` it would emit (``Bar`` *opens* a bar in the event encoding),
        so the result holds ``n_bars`` new bars. Without ``max_tokens``, at most
        ``n_bars * MAX_TOKENS_PER_BAR`` tokens are generated.
    temperature
        Divides the logits; below 1 is more conservative, above 1 more adventurous.
    top_k
        Sample only among the ``top_k`` most probable tokens.
    top_p
        Nucleus sampling: only among the most probable tokens whose probabilities
        sum to at least ``top_p``.
    greedy
        Always take the most probable token (ignores the sampling options).
    seed
        Seed of ``numpy.random.default_rng``; same seed and parameters, same tokens.
    bar_token
        The token counted by ``n_bars``.
    constrained
        For the event encoding, sample only tokens its grammar allows next
        (:mod:`musiclib.encoding.grammar`): the result is a sequence the encoder could
        have written, so decoding drops nothing, and the source's monophonic tracks
        (a bundle's ``data_info["monophonic_tracks"]``) never sound two notes at
        once. ``False`` samples the model's whole distribution (what it learnt,
        ill-formed tokens included; the decoder then repairs them).
    copy_lags, copy_weight
        A copy prior over bars (:class:`BarCopy`): while the open bar repeats the start
        of the bar ``lag`` bars back (the first of ``copy_lags`` there is), its next token
        is taken with probability ``copy_weight`` (if the grammar allows it). 0 (the
        default): the model alone, and the same tokens as without these options.
    leap_penalty
        A leap prior for the melody (:class:`LeapPenalty`, needs ``constrained=True``):
        each semitone a monophonic track's interval exceeds a whole tone costs this many
        nats. 0 (the default), or a source without monophonic tracks (a bundle's
        ``data_info["monophonic_tracks"]``, e.g. piano music): the model alone.

    Returns
    -------
    list of str
        Primer followed by the generated tokens. Generation also stops at ``EOS``,
        which is then included. PAD, BOS and UNK are never sampled. Under the
        grammar, a ``Pitch`` left without its ``Dur`` by ``max_tokens`` is removed.

    Raises
    ------
    ValueError
        For an invalid parameter (named in the message) or a primer token the
        vocabulary lacks.
    """
    check_sampling(
        max_tokens=max_tokens, n_bars=n_bars, temperature=temperature, top_k=top_k, top_p=top_p,
        greedy=greedy, seed=seed,
    )
    parts = _parts(source)
    vocab = parts.vocab
    grammar = _grammar(parts, constrained)
    primer_tokens = list(DEFAULT_PRIMER if primer is None else primer)
    primer_ids = _primer_ids(vocab, primer_tokens)
    banned = [vocab.id(token) for token in BANNED_TOKENS if token in vocab]
    eos_id = vocab.id("EOS") if "EOS" in vocab else None
    bar_id = vocab.id(bar_token) if bar_token in vocab else None
    if n_bars is not None and bar_id is None:
        raise ValueError(f"n_bars needs the bar token {bar_token!r}, which this vocabulary lacks")
    copy = _bar_copy(copy_lags, copy_weight, vocab, bar_token)
    leap = _leap(leap_penalty, grammar)

    if hasattr(parts.model, "distribution"):
        stepper: Any = _DistributionStepper(parts.model)
    else:
        stepper = _LSTMStepper(parts.model, parts.config)
    rng = np.random.default_rng(seed)
    state = grammar.start() if grammar is not None else None
    logits = None
    for token_id in primer_ids:
        logits = stepper(token_id)
        if state is not None:
            state.feed(token_id)
        if copy is not None:
            copy.feed(token_id)
        if leap is not None:
            leap.feed(token_id, state)
    generated: list[int] = []
    bars = 0
    limit = max_tokens if max_tokens is not None else n_bars * MAX_TOKENS_PER_BAR
    while len(generated) < limit:
        logits = _mask(logits, banned, state)
        if leap is not None:
            leap.apply(logits, state)
        token_id = _draw(logits, rng, copy, temperature=temperature, top_k=top_k, top_p=top_p, greedy=greedy)
        if token_id == bar_id and n_bars is not None:
            if bars == n_bars:
                break
            bars += 1
        generated.append(token_id)
        if state is not None:
            state.feed(token_id, check=False)
        if copy is not None:
            copy.feed(token_id)
        if leap is not None:
            leap.feed(token_id, state)
        if token_id == eos_id or len(generated) >= limit:
            break
        logits = stepper(token_id)
    return primer_tokens + vocab.decode(_complete(generated, state))


class _Row:
    """One sequence of a :func:`sample_many` batch: what is left to feed, what came out."""

    def __init__(self, primer_ids: list[int], seed: int, grammar: Any = None, copy: BarCopy | None = None,
                 leap: LeapPenalty | None = None) -> None:
        self.pending = list(primer_ids)  # primer tokens still to feed (the first is fed at once)
        self.generated: list[int] = []
        self.bars = 0
        self.done = False
        self.rng = np.random.default_rng(seed)
        self.state = grammar.start() if grammar is not None else None
        self.copy = copy
        self.leap = leap
        for token_id in primer_ids:
            self.feed(token_id, check=True)

    def feed(self, token_id: int, *, check: bool = False) -> None:
        """Tell the grammar, the copy prior and the leap prior the next token."""
        if self.state is not None:
            self.state.feed(token_id, check=check)
        if self.copy is not None:
            self.copy.feed(token_id)
        if self.leap is not None:
            self.leap.feed(token_id, self.state)


def sample_many(
    source: Any,
    *,
    seeds: Sequence[int],
    primers: Sequence[Sequence[str]] | None = None,
    max_tokens: int | None = None,
    n_bars: int | None = None,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    greedy: bool = False,
    batch_size: int = 128,
    bar_token: str = BAR_TOKEN,
    constrained: bool = True,
    copy_lags: Sequence[int] = (),
    copy_weight: float = 0.0,
    leap_penalty: float = 0.0,
) -> list[list[str]]:
    """Generate one token sequence per seed, advancing a batch of sequences per network step.

    Each sequence follows the rules of :func:`sample_tokens` (its own primer, its own
    ``numpy`` generator seeded with its seed, the same length limits, ``EOS`` and
    banned tokens). The results have the same distribution as :func:`sample_tokens`
    with the same seeds and are usually identical to it token for token, but not
    always: a batched matrix product can round differently in the last bit, and a
    sample that falls exactly on such a boundary then differs.

    Parameters
    ----------
    source
        A :class:`~musiclib.lm.bundle.Bundle` or :class:`ModelParts` of a Keras LSTM or Transformer
        (n-gram models: use :func:`sample_tokens`).
    seeds
        One seed per sequence to generate (non-negative integers).
    primers
        One primer per sequence, or one for all, or None for ``["BOS"]``.
    max_tokens, n_bars, temperature, top_k, top_p, greedy, bar_token, constrained, copy_lags, copy_weight, leap_penalty
        As for :func:`sample_tokens`.
    batch_size
        Sequences advanced together (memory grows with it; 128 suits a CPU).

    Returns
    -------
    list of list of str
        Primer plus generated tokens, in the order of ``seeds``.
    """
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    for seed in seeds:
        check_sampling(max_tokens=max_tokens, n_bars=n_bars, temperature=temperature, top_k=top_k, top_p=top_p,
                       greedy=greedy, seed=seed)
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    parts = _parts(source)
    if hasattr(parts.model, "distribution"):
        raise TypeError("sample_many batches Keras models (LSTM, Transformer); sample n-gram models one by one with sample_tokens")
    grammar = _grammar(parts, constrained)
    vocab = parts.vocab
    primer_list = [list(DEFAULT_PRIMER)] if primers is None else [list(p) for p in primers]
    if len(primer_list) not in (1, len(seeds)):
        raise ValueError(f"give one primer or one per seed ({len(seeds)}), got {len(primer_list)}")
    for primer in primer_list:
        _primer_ids(vocab, primer)
    if n_bars is not None and bar_token not in vocab:
        raise ValueError(f"n_bars needs the bar token {bar_token!r}, which this vocabulary lacks")
    _bar_copy(copy_lags, copy_weight, vocab, bar_token)  # checks
    _leap(leap_penalty, grammar)
    results: list[list[str]] = []
    for start in range(0, len(seeds), batch_size):
        chunk = seeds[start : start + batch_size]
        chunk_primers = [primer_list[0] if len(primer_list) == 1 else primer_list[start + i]
                         for i in range(len(chunk))]
        rows = _sample_batch(parts, vocab, chunk, chunk_primers, max_tokens=max_tokens, n_bars=n_bars,
                             temperature=temperature, top_k=top_k, top_p=top_p, greedy=greedy, bar_token=bar_token,
                             grammar=grammar, copy_lags=copy_lags, copy_weight=copy_weight,
                             leap_penalty=leap_penalty)
        results.extend(primer + vocab.decode(_complete(row.generated, row.state))
                       for primer, row in zip(chunk_primers, rows))
    return results


def _sample_batch(parts: ModelParts, vocab: Any, seeds: list[int], primers: list[list[str]], *,
                  max_tokens: int | None, n_bars: int | None, temperature: float, top_k: int | None,
                  top_p: float | None, greedy: bool, bar_token: str, grammar: Any = None,
                  copy_lags: Sequence[int] = (), copy_weight: float = 0.0,
                  leap_penalty: float = 0.0) -> list[_Row]:
    step = _fast_step(parts.model, parts.config)
    banned = [vocab.id(token) for token in BANNED_TOKENS if token in vocab]
    eos_id = vocab.id("EOS") if "EOS" in vocab else None
    bar_id = vocab.id(bar_token) if bar_token in vocab else None
    limit = max_tokens if max_tokens is not None else n_bars * MAX_TOKENS_PER_BAR
    rows = [_Row(_primer_ids(vocab, primer), seed, grammar, _bar_copy(copy_lags, copy_weight, vocab, bar_token),
                 _leap(leap_penalty, grammar)) for primer, seed in zip(primers, seeds)]
    states = step.initial_states(len(rows))
    inputs = np.array([[row.pending.pop(0)] for row in rows], dtype=np.int32)
    while not all(row.done for row in rows):
        logits_batch, states = step(inputs, states)
        for i, row in enumerate(rows):
            if row.done:
                continue
            if row.pending:  # still priming: feed the next primer token, ignore the prediction
                inputs[i, 0] = row.pending.pop(0)
                continue
            logits = _mask(logits_batch[i], banned, row.state)
            if row.leap is not None:
                row.leap.apply(logits, row.state)
            token_id = _draw(logits, row.rng, row.copy, temperature=temperature, top_k=top_k, top_p=top_p,
                             greedy=greedy)
            if token_id == bar_id and n_bars is not None:
                if row.bars == n_bars:
                    row.done = True
                    continue
                row.bars += 1
            row.generated.append(token_id)
            row.feed(token_id)
            if token_id == eos_id or len(row.generated) >= limit:
                row.done = True
                continue
            inputs[i, 0] = token_id
    return rows


def generate_midi(source: Any, path: str | os.PathLike, **options: Any) -> GenerationResult:
    """Generate tokens, decode them with the bundle's encoding and write a MIDI file.

    Parameters
    ----------
    source
        A :class:`~musiclib.lm.bundle.Bundle` (or :class:`ModelParts` with ``encoding``).
    path
        Where to write the MIDI file (atomically).
    **options
        The keyword options of :func:`sample_tokens`.

    Returns
    -------
    GenerationResult
        Tokens, decoded tune, ``dropped`` (ill-formed tokens the decoder skipped) and
        the path. The same seed and options give a byte-identical file.
    """
    from musiclib.io import write_midi

    unknown = sorted(set(options) - _SAMPLING_OPTIONS)
    if unknown:
        raise TypeError(f"generate_midi got unknown options {unknown}; allowed: {sorted(_SAMPLING_OPTIONS)}")
    parts = _parts(source)
    if parts.encoding is None:
        raise ValueError("generate_midi needs the encoding to decode tokens (a Bundle, or ModelParts.encoding)")
    tokens = sample_tokens(parts, **options)
    decoded = parts.encoding.decode(tokens)
    written = write_midi(decoded.tune, path)
    return GenerationResult(tokens=tokens, tune=decoded.tune, dropped=int(decoded.dropped), path=Path(written))


_SAMPLING_OPTIONS = frozenset(inspect.signature(sample_tokens).parameters) - {"source"}
"""The keyword options :func:`generate_midi` passes on to :func:`sample_tokens`."""


def primer_from_tune(encoding: Any, tune: Any, *, n_bars: int, bar_token: str = BAR_TOKEN) -> list[str]:
    """The tokens of a tune's first ``n_bars`` bars, to prime generation.

    Parameters
    ----------
    encoding
        A token encoding (``encode(tune) -> list[str]``).
    tune
        The tune, e.g. one from the test split.
    n_bars
        Bars to keep (0 keeps only the opening tokens before the first bar, such as
        ``BOS Meter_6/8``).
    bar_token
        The token that opens a bar.

    Returns
    -------
    list of str
        ``BOS`` and everything before the ``n_bars + 1``-th bar token; never ``EOS``
        (a tune shorter than ``n_bars`` is returned whole, without its ``EOS``).
    """
    if not isinstance(n_bars, (int, np.integer)) or isinstance(n_bars, bool) or n_bars < 0:
        raise ValueError(f"n_bars must be a non-negative integer, got {n_bars!r}")
    tokens = list(encoding.encode(tune))
    bars = 0
    for index, token in enumerate(tokens):
        if token == bar_token:
            if bars == n_bars:
                return tokens[:index]
            bars += 1
    return [token for token in tokens if token != "EOS"]
