"""The LSTM's lookback input: what the same place of earlier bars held, as Magenta's Lookback RNN.

Folk tunes repeat and vary whole bars (AABB forms, a bar answered by its variant). An LSTM
has to carry a bar in its state for as long as it may be repeated, and in practice it does
not: the converged Nottingham LSTM restates a bar in 5% of its bars where the real tunes
do in 57% (``results/evaluation_nottingham.md``). Magenta's Lookback RNN (Waite 2016)
hands the network the events of one and two bars back; this is that idea for the
``events`` (REMI) encoding, where a bar is a run of tokens opened by ``Bar``.

For every position ``t`` of bar ``b`` at offset ``o`` (``t`` minus the position of bar
``b``'s ``Bar`` token) and every lookback distance ``k``, :class:`LookbackTokens` gives

* the token at offset ``o + 1`` of bar ``b - k``: the token that came next at this place
  ``k`` bars ago, which is the right prediction when bar ``b`` repeats bar ``b - k``
  (the next ``Bar`` when bar ``b - k`` ended there), and
* whether bar ``b`` so far, from its ``Bar`` token to ``t``, equals bar ``b - k``
  token for token: the cue that the tune is in a repeat,

packed as one id: ``token + vocab_size * matching`` (``0``: none, when bar ``b - k`` is
not in the sequence, belongs to an earlier tune, or is shorter than offset ``o + 1``).
:class:`LookbackEmbedding` embeds those ids with one table shared by all distances and
sums them over the distances: a bag of candidate next tokens, each marked as coming from
a bar the tune is repeating or not (one table keeps the input at ``2 * vocab_size``
vectors, which matters for the size of reference bundles).
Every position depends only on tokens up to itself, so the input keeps the model causal.
It is computed from the tokens inside the graph (sorts, cumulative sums and gathers, no
recurrence), so the model still takes only tokens and runs on any Keras backend;
:class:`LookbackHistory` computes the same ids one token at a time for generation.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from musiclib import _tf

keras = _tf.keras()

__all__ = ["LookbackTokens", "LookbackEmbedding", "LookbackHistory", "lookback_context", "check_lookback",
           "last_marked_position"]

_BOS_ID = 1  # musiclib.encoding.vocab: PAD 0, BOS 1, EOS 2 in every vocabulary


def check_lookback(vocab_size: int, bar_token_id: Any, distances: Sequence[Any]) -> None:
    """``ValueError`` unless ``distances`` are distinct positive bar counts and ``bar_token_id`` a vocabulary id."""
    if not distances:
        raise ValueError("the lookback input needs at least one distance in bars")
    for distance in distances:
        if not isinstance(distance, int) or isinstance(distance, bool) or distance < 1:
            raise ValueError(f"lookback distances must be positive numbers of bars, got {distance!r}")
    if len(set(distances)) != len(distances):
        raise ValueError(f"lookback distances must be distinct, got {list(distances)}")
    valid = isinstance(bar_token_id, int) and not isinstance(bar_token_id, bool)
    if not valid or not _BOS_ID < bar_token_id < vocab_size:
        raise ValueError(f"the lookback input needs bar_token_id, the Bar token's id in [2, {vocab_size}), "
                         f"got {bar_token_id!r}")


def lookback_context(vocab: Any, distances: Sequence[int] = (1, 2, 4, 8)) -> dict[str, Any]:
    """The :class:`~musiclib.lm.lstm.LSTMConfig` fields that switch the lookback input on.

    Returns ``{"lookback_bars": distances, "bar_token_id": id of "Bar"}``.

    Raises
    ------
    ValueError
        For a vocabulary without the ``Bar`` token (the ``paper`` encoding).
    """
    from musiclib.encoding.events import BAR_TOKEN

    if BAR_TOKEN not in vocab:
        raise ValueError(f"the lookback input needs a vocabulary with the {BAR_TOKEN!r} token (the events encoding)")
    return {"lookback_bars": tuple(int(d) for d in distances), "bar_token_id": int(vocab.id(BAR_TOKEN))}


def last_marked_position(marks: Any) -> Any:
    """The last position up to each position of ``[batch, time]`` booleans where ``marks`` holds (-1 before the first).

    Counts the marks so far and reads the position of the last one from the sorted mark
    positions: a cumulative sum, a sort and a gather, which keep their speed when the
    sequence length is only known at run time (an associative scan built for a dynamic
    length took TensorFlow over a minute to trace).
    """
    ops = keras.ops
    length = ops.shape(marks)[1]
    positions = ops.broadcast_to(ops.arange(length, dtype="int32")[None, :], ops.shape(marks))
    ordered = ops.sort(ops.where(marks, positions, length), axis=1)
    count = ops.cumsum(ops.cast(marks, "int32"), axis=1)
    last = ops.take_along_axis(ordered, ops.maximum(count - 1, 0), axis=1)
    return ops.where(count > 0, last, -1)


@keras.saving.register_keras_serializable(package="musiclib")
class LookbackTokens(keras.layers.Layer):
    """For each position and lookback distance, the next token at the same place of an earlier bar.

    Input ``tokens`` int32 ``[batch, time]``; output int32 ``[batch, time, len(distances)]``
    holding ``token + vocab_size * matching`` or ``0`` (see the module's docstring), ids in
    ``[0, 2 * vocab_size)`` for an embedding.

    Parameters
    ----------
    vocab_size
        Size of the vocabulary.
    bar_token_id
        Id of the ``Bar`` token that opens every bar.
    distances
        How many bars back to look, e.g. ``(1, 2, 4, 8)``.
    """

    def __init__(self, vocab_size: int, bar_token_id: int, distances: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # a bundle's config.json feeds these: check them as LSTMConfig does
        distances = list(distances) if isinstance(distances, (list, tuple)) else distances
        if not isinstance(distances, list):
            raise ValueError(f"distances must be a sequence of bar counts, got {distances!r}")
        if not isinstance(vocab_size, int) or isinstance(vocab_size, bool) or vocab_size < 3:
            raise ValueError(f"vocab_size must be an integer of at least 3, got {vocab_size!r}")
        check_lookback(vocab_size, bar_token_id, distances)
        self.vocab_size = vocab_size
        self.bar_token_id = bar_token_id
        self.distances = [int(d) for d in distances]

    def call(self, tokens: Any) -> Any:
        ops = keras.ops
        tokens = ops.cast(tokens, "int32")
        length = ops.shape(tokens)[1]
        positions = ops.broadcast_to(ops.arange(length, dtype="int32")[None, :], ops.shape(tokens))
        is_bar = ops.equal(tokens, self.bar_token_id)
        # the positions of the bars' Bar tokens in order, then `length` for "no such bar"
        starts = ops.sort(ops.where(is_bar, positions, length), axis=1)
        starts = ops.concatenate([starts, ops.full_like(starts[:, :1], length)], axis=1)
        bar = ops.cumsum(ops.cast(is_bar, "int32"), axis=1) - 1  # index of the current bar in `starts`
        start = ops.take_along_axis(starts, ops.maximum(bar, 0), axis=1)
        offset = positions - start
        last_bos = last_marked_position(ops.equal(tokens, _BOS_ID))
        outputs = []
        for distance in self.distances:
            earlier = bar - distance
            earlier_start = ops.take_along_axis(starts, ops.maximum(earlier, 0), axis=1)
            earlier_end = ops.take_along_axis(starts, ops.maximum(earlier + 1, 0), axis=1)
            known = ops.logical_and(earlier >= 0, earlier_start > last_bos)
            here = earlier_start + offset  # the place of `t` in the earlier bar
            same = ops.logical_and(known, here < earlier_end)
            same = ops.logical_and(same, ops.equal(
                ops.take_along_axis(tokens, ops.clip(here, 0, length - 1), axis=1), tokens))
            # matching: no mismatch from the bar's start to here (counts of mismatches so far)
            mismatches = ops.cumsum(ops.cast(ops.logical_not(same), "int32"), axis=1)
            before = ops.take_along_axis(mismatches, ops.maximum(start - 1, 0), axis=1)
            before = ops.where(start > 0, before, 0)
            matching = ops.cast(ops.equal(mismatches, before), "int32")
            after = here + 1
            has_next = ops.logical_and(known, after <= earlier_end)
            following = ops.take_along_axis(tokens, ops.clip(after, 0, length - 1), axis=1)
            outputs.append(ops.where(has_next, following + self.vocab_size * matching, 0))
        return ops.stack(outputs, axis=-1)

    def compute_output_spec(self, tokens: Any) -> Any:
        return keras.KerasTensor((*tokens.shape, len(self.distances)), dtype="int32")

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "vocab_size": self.vocab_size, "bar_token_id": self.bar_token_id,
                "distances": self.distances}


@keras.saving.register_keras_serializable(package="musiclib")
class LookbackEmbedding(keras.layers.Layer):
    """The lookback input as a vector per position: :class:`LookbackTokens`, embedded and summed.

    Input ``tokens`` int32 ``[batch, time]``; output ``[batch, time, output_dim]``: the sum
    over distances of one shared embedding of the lookback ids (id 0, "none", has its own
    vector too). :meth:`embed` does the same for ids computed elsewhere
    (:class:`LookbackHistory` in generation).

    Parameters
    ----------
    vocab_size, bar_token_id, distances
        As for :class:`LookbackTokens`.
    output_dim
        Width of the vectors (the token embedding's, so the two can be added).

    Notes
    -----
    The table starts at zeros: a model with the lookback input starts as the same model
    without it and grows the input as far as it helps (the gradient of every used row is
    the gradient of the input it is added to). Initialised at random like the token
    embedding, the sum of four distances' vectors was noise the network first had to learn
    to ignore: two epochs on Nottingham ended at a validation NLL of 1.19 against 0.99
    without the input.
    """

    def __init__(self, vocab_size: int, bar_token_id: int, distances: Sequence[int], output_dim: int,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(output_dim, int) or isinstance(output_dim, bool) or output_dim < 1:
            raise ValueError(f"output_dim must be a positive integer, got {output_dim!r}")
        self.lookback = LookbackTokens(vocab_size, bar_token_id, distances, name="lookback_tokens")
        self.output_dim = output_dim
        self.embedding = keras.layers.Embedding(2 * self.lookback.vocab_size, output_dim,
                                                embeddings_initializer="zeros", name="lookback_table")

    def build(self, input_shape: Any) -> None:
        self.embedding.build((None, None, len(self.lookback.distances)))

    def embed(self, ids: Any) -> Any:
        """``[..., distances]`` lookback ids -> ``[..., output_dim]``, the sum of their vectors."""
        return keras.ops.sum(self.embedding(ids), axis=-2)

    def call(self, tokens: Any) -> Any:
        return self.embed(self.lookback(tokens))

    def compute_output_spec(self, tokens: Any) -> Any:
        return keras.KerasTensor((*tokens.shape, self.output_dim), dtype=self.compute_dtype)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "vocab_size": self.lookback.vocab_size,
                "bar_token_id": self.lookback.bar_token_id, "distances": self.lookback.distances,
                "output_dim": self.output_dim}


class LookbackHistory:
    """:class:`LookbackTokens` one token at a time, for a batch of sequences that step together.

    Keeps every row's tokens, the positions of its bars and its last ``BOS``; each call of
    :meth:`advance` appends one token per row and returns the lookback ids after it,
    ``[batch, len(distances)]``, equal to the layer's output at that position.
    """

    def __init__(self, vocab_size: int, bar_token_id: int, distances: Sequence[int], batch: int) -> None:
        check_lookback(vocab_size, bar_token_id, list(distances))
        self.vocab_size, self.bar_token_id = int(vocab_size), int(bar_token_id)
        self.distances = [int(d) for d in distances]
        self.batch = int(batch)
        self.tokens = np.zeros((self.batch, 64), np.int64)
        self.starts = np.zeros((self.batch, 8), np.int64)
        self.n_bars = np.zeros(self.batch, np.int64)
        self.last_bos = np.full(self.batch, -1, np.int64)
        self.matching = np.zeros((self.batch, len(self.distances)), bool)
        self.length = 0

    @staticmethod
    def _grown(array: np.ndarray, needed: int) -> np.ndarray:
        if needed <= array.shape[1]:
            return array
        bigger = np.zeros((array.shape[0], max(needed, 2 * array.shape[1])), array.dtype)
        bigger[:, : array.shape[1]] = array
        return bigger

    def advance(self, tokens: Any) -> np.ndarray:
        """Append one token per row (``[batch]`` or ``[batch, 1]`` ids); the lookback ids after it."""
        tokens = np.asarray(tokens, dtype=np.int64).reshape(-1)
        if tokens.shape != (self.batch,):
            raise ValueError(f"expected {self.batch} tokens, got {tokens.shape[0]}")
        t = self.length
        self.tokens = self._grown(self.tokens, t + 1)
        self.tokens[:, t] = tokens
        self.length = t + 1
        rows = np.arange(self.batch)
        is_bar = tokens == self.bar_token_id
        self.last_bos = np.where(tokens == _BOS_ID, t, self.last_bos)
        self.starts = self._grown(self.starts, int(self.n_bars.max()) + 1)
        self.starts[rows[is_bar], self.n_bars[is_bar]] = t
        self.n_bars = self.n_bars + is_bar
        bar = self.n_bars - 1
        start = self.starts[rows, np.maximum(bar, 0)]
        offset = t - start
        out = np.zeros((self.batch, len(self.distances)), np.int64)
        for index, distance in enumerate(self.distances):
            earlier = bar - distance
            earlier_start = self.starts[rows, np.maximum(earlier, 0)]
            earlier_end = self.starts[rows, np.maximum(earlier + 1, 0)]
            known = (earlier >= 0) & (earlier_start > self.last_bos)
            here = earlier_start + offset
            same = known & (here < earlier_end) & (self.tokens[rows, np.clip(here, 0, t)] == tokens)
            self.matching[:, index] = np.where(is_bar, same, self.matching[:, index] & same)
            after = here + 1
            has_next = known & (after <= earlier_end)
            following = self.tokens[rows, np.clip(after, 0, t)]
            out[:, index] = np.where(has_next, following + self.vocab_size * self.matching[:, index], 0)
        return out
