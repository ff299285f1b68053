"""Count-based baselines: an add-one unigram model and interpolated Kneser-Ney n-grams.

A neural model is only interesting if it beats these. Both are fitted on the training
tunes (int arrays ``BOS ... EOS``) and scored with :meth:`NGramModel.nll` on *exactly*
the tokens :func:`musiclib.lm.training.evaluate_nll` scores: every token after the BOS
of each tune (EOS included), each predicted from its own tune's earlier tokens.

Smoothing (:class:`NGramModel`), for an n-gram of history ``h`` and token ``w``::

    P_k(w | h) = (max(c_k(h, w) - D, 0) + D * N1+(h .) * P_{k-1}(w | h')) / c_k(h)

where ``h'`` drops the oldest token of ``h``, ``c_n`` are raw counts at the highest
order and ``c_k`` (k < n) are Kneser-Ney continuation counts (how many distinct tokens
precede the k-gram). A history never seen at order ``k`` falls through to ``k - 1``.
At the bottom the unigram level interpolates with the uniform distribution over the
whole vocabulary, so no token ever has zero probability and every distribution sums
to one. Tunes are left-padded with ``order - 2`` extra BOS tokens, so every scored
token has a full history.

N-grams are stored as base-``vocab_size`` integer codes in sorted arrays and looked up
with ``numpy.searchsorted``; distributions are computed for blocks of distinct
histories at once. Fitting and scoring Nottingham-sized data (about 1M tokens, 300
token types) for orders 2 to 5 takes seconds.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np

from musiclib.encoding.vocab import BOS, EOS, PAD, SPECIAL_TOKENS, UNK

__all__ = ["UnigramModel", "NGramModel", "baseline_table", "PAD_ID", "BOS_ID", "EOS_ID", "UNK_ID"]

PAD_ID = SPECIAL_TOKENS.index(PAD)
BOS_ID = SPECIAL_TOKENS.index(BOS)
EOS_ID = SPECIAL_TOKENS.index(EOS)
UNK_ID = SPECIAL_TOKENS.index(UNK)
"""Ids of the special tokens, the same in every :class:`~musiclib.encoding.Vocabulary`."""

_BANNED_IDS = (PAD_ID, BOS_ID, UNK_ID)  # never sampled
_CONTEXT_BLOCK = 4096  # distinct histories per dense [block, vocab] probability table
_MAX_CODE = np.iinfo(np.int64).max


def _as_arrays(sequences: Iterable[Sequence[int] | np.ndarray], vocab_size: int) -> list[np.ndarray]:
    arrays = [np.asarray(seq, dtype=np.int64).reshape(-1) for seq in sequences]
    for array in arrays:
        if array.size and (array.min() < 0 or array.max() >= vocab_size):
            raise ValueError(f"token ids must be in 0..{vocab_size - 1}, got {array.min()}..{array.max()}")
    return arrays


def _check_vocab_size(vocab_size: int) -> None:
    if not isinstance(vocab_size, (int, np.integer)) or isinstance(vocab_size, bool) or vocab_size < 2:
        raise ValueError(f"vocab_size must be an integer >= 2, got {vocab_size!r}")


def _windows(arrays: list[np.ndarray], order: int, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the ``order - 1`` tokens before every scored token, and the tokens.

    Scored tokens are ``tune[1:]`` of each tune; histories reach back into
    ``order - 2`` copies of the tune's first token (BOS) padded on the left.
    """
    pad = max(order - 2, 0)
    pieces, starts, targets = [], [], []
    offset = 0
    for array in arrays:
        if array.size < 2:
            continue
        padded = np.concatenate([np.full(pad, array[0], dtype=np.int64), array])
        pieces.append(padded)
        # the history of tune[t] (t >= 1) starts at padded index t + pad - (order - 1)
        first = 1 + pad - (order - 1)
        starts.append(offset + np.arange(first, first + array.size - 1))
        targets.append(array[1:])
        offset += padded.size
    if not pieces:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    stream = np.concatenate(pieces)
    start = np.concatenate(starts)
    history = np.zeros(start.size, dtype=np.int64)
    for j in range(order - 1):
        history = history * vocab_size + stream[start + j]
    return history, np.concatenate(targets)


class _Level:
    """Counts of the k-grams of one order: sorted codes, their counts, and per-history totals."""

    def __init__(self, codes: np.ndarray, counts: np.ndarray, vocab_size: int) -> None:
        self.codes = codes
        self.counts = counts.astype(np.float64)
        histories = codes // vocab_size
        self.histories, first = np.unique(histories, return_index=True)
        self.totals = np.add.reduceat(self.counts, first) if codes.size else np.zeros(0)
        self.types = np.diff(np.append(first, codes.size)).astype(np.float64)


def _dense_counts(level: _Level, histories: np.ndarray, size: int) -> np.ndarray:
    """The counts ``[len(histories), size]`` of every k-gram that continues each (seen) history."""
    lo = np.searchsorted(level.codes, histories * size)
    lengths = np.searchsorted(level.codes, histories * size + size) - lo
    local = np.repeat(np.arange(histories.size), lengths)
    entry = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths) + np.repeat(lo, lengths)
    counts = np.zeros((histories.size, size))
    counts[local, level.codes[entry] % size] = level.counts[entry]
    return counts


class NGramModel:
    """Interpolated Kneser-Ney n-gram model over token ids.

    Parameters
    ----------
    order
        n: the model predicts from the ``order - 1`` previous tokens (``order >= 1``).
    discount
        Absolute discount ``D`` in ``(0, 1]`` subtracted from every seen count.

    Examples
    --------
    >>> model = NGramModel(order=3).fit([[1, 4, 5, 4, 5, 2]], vocab_size=6)
    >>> round(float(model.distribution([1, 4]).sum()), 6)
    1.0
    """

    def __init__(self, order: int = 3, *, discount: float = 0.75) -> None:
        if not isinstance(order, (int, np.integer)) or isinstance(order, bool) or order < 1:
            raise ValueError(f"order must be an integer >= 1, got {order!r}")
        if isinstance(discount, bool) or not isinstance(discount, (int, float)) or not 0 < discount <= 1:
            raise ValueError(f"discount must be in (0, 1], got {discount!r}")
        self.order = int(order)
        self.discount = float(discount)
        self.vocab_size: int | None = None
        self._levels: list[_Level] = []

    @property
    def name(self) -> str:
        """A label for tables, e.g. ``"3-gram KN"``."""
        return f"{self.order}-gram KN"

    def fit(self, sequences: Iterable[Sequence[int] | np.ndarray], *, vocab_size: int) -> "NGramModel":
        """Count the n-grams of the training tunes (int arrays ``BOS ... EOS``); returns self."""
        _check_vocab_size(vocab_size)
        if float(vocab_size) ** self.order > _MAX_CODE:
            raise ValueError(
                f"order {self.order} is too high for vocab_size {vocab_size}: n-gram codes would overflow int64"
            )
        self.vocab_size = int(vocab_size)
        arrays = _as_arrays(sequences, self.vocab_size)
        history, target = _windows(arrays, self.order, self.vocab_size)
        if not target.size:
            raise ValueError("no tokens to fit: give tunes of at least two tokens")
        codes, counts = np.unique(history * self.vocab_size + target, return_counts=True)
        levels = [_Level(codes, counts, self.vocab_size)]
        for k in range(self.order - 1, 0, -1):
            # continuation counts: how many distinct tokens precede each k-gram
            codes, counts = np.unique(levels[0].codes % self.vocab_size**k, return_counts=True)
            levels.insert(0, _Level(codes, counts, self.vocab_size))
        self._levels = levels  # levels[k - 1] holds the k-grams
        return self

    def _check_fitted(self) -> int:
        if self.vocab_size is None:
            raise ValueError(f"{self.name} is not fitted: call fit(sequences, vocab_size=...) first")
        return self.vocab_size

    def _table(self, histories: np.ndarray) -> np.ndarray:
        """Probabilities ``[len(histories), vocab]`` for full-length history codes: the
        discounted unigram, then each higher order interpolated over the one below."""
        size = self._check_fitted()
        probs = np.broadcast_to(self._unigram_probabilities(), (histories.size, size)).copy()
        for k in range(2, self.order + 1):
            self._interpolate_order(k, histories, probs)
        return probs

    def _unigram_probabilities(self) -> np.ndarray:
        """Discounted continuation unigram, with the discounted mass spread uniformly."""
        size = self._check_fitted()
        bottom = self._levels[0]
        unigram = np.zeros(size)
        unigram[bottom.codes] = np.maximum(bottom.counts - self.discount, 0.0)
        total = bottom.counts.sum()
        return (unigram + self.discount * bottom.codes.size / size) / total

    def _interpolate_order(self, k: int, histories: np.ndarray, probs: np.ndarray) -> None:
        """Replace, in place, the rows of ``probs`` whose (k-1)-token history was seen in
        training by that order's discounted counts plus back-off mass times the rows."""
        size = self._check_fitted()
        level = self._levels[k - 1]
        if not level.histories.size:
            return
        suffix = histories % size ** (k - 1)
        where = np.minimum(np.searchsorted(level.histories, suffix), level.histories.size - 1)
        seen = np.flatnonzero(level.histories[where] == suffix)
        if not seen.size:
            return
        counts = _dense_counts(level, suffix[seen], size)
        totals = level.totals[where[seen]][:, None]
        types = level.types[where[seen]][:, None]
        mass = np.maximum(counts - self.discount, 0.0) + self.discount * types * probs[seen]
        probs[seen] = mass / totals

    def _history_codes(self, contexts: Sequence[Sequence[int]] | np.ndarray) -> np.ndarray:
        size = self._check_fitted()
        width = self.order - 1
        codes = np.zeros(len(contexts), dtype=np.int64)
        for row, context in enumerate(contexts):
            ids = [int(i) for i in context][-width:] if width else []
            if any(i < 0 or i >= size for i in ids):
                raise ValueError(f"token ids must be in 0..{size - 1}, got {ids}")
            if width and not ids:
                ids = [BOS_ID]
            if len(ids) < width:
                ids = [ids[0]] * (width - len(ids)) + ids  # pad like the training tunes
            for token in ids:
                codes[row] = codes[row] * size + token
        return codes

    def distributions(self, contexts: Sequence[Sequence[int]] | np.ndarray) -> np.ndarray:
        """Next-token probabilities ``[len(contexts), vocab_size]`` for several histories.

        Only the last ``order - 1`` ids of a context matter; a shorter context is
        left-padded with its first id (BOS, as in fitting), an empty one with BOS.
        """
        return self._table(self._history_codes(contexts))

    def distribution(self, context: Sequence[int]) -> np.ndarray:
        """Next-token probabilities ``[vocab_size]`` after ``context`` (see :meth:`distributions`)."""
        return self.distributions([context])[0]

    def log_prob(self, context: Sequence[int], token: int) -> float:
        """Natural log of ``P(token | context)``."""
        return float(np.log(self.distribution(context)[int(token)]))

    def nll(self, sequences: Iterable[Sequence[int] | np.ndarray]) -> dict[str, float | int]:
        """Mean negative log-likelihood (nats per token) of every token after BOS.

        Returns
        -------
        dict
            ``nll``, ``accuracy`` (share of tokens that are the most probable
            prediction) and ``tokens`` (how many were scored).
        """
        size = self._check_fitted()
        history, target = _windows(_as_arrays(sequences, size), self.order, size)
        if not target.size:
            raise ValueError("no tokens to score: give tunes of at least two tokens")
        log_like, correct = self._score(history, target)
        return {"nll": -log_like / target.size, "accuracy": correct / target.size, "tokens": int(target.size)}

    def _score(self, history: np.ndarray, target: np.ndarray) -> tuple[float, int]:
        """(summed log-likelihood, correct argmax predictions) of ``target`` after each
        history, with one dense probability table per block of distinct histories."""
        unique, inverse = np.unique(history, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(0, unique.size + _CONTEXT_BLOCK, _CONTEXT_BLOCK))
        log_like, correct = 0.0, 0
        for block, first in enumerate(range(0, unique.size, _CONTEXT_BLOCK)):
            table = self._table(unique[first : first + _CONTEXT_BLOCK])
            positions = order[bounds[block] : bounds[block + 1]]
            rows = inverse[positions] - first
            log_like += float(np.log(table[rows, target[positions]]).sum())
            correct += int((table.argmax(axis=1)[rows] == target[positions]).sum())
        return log_like, correct

    def sample(
        self,
        *,
        primer: Sequence[int] = (BOS_ID,),
        max_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        greedy: bool = False,
        seed: int = 0,
        eos_id: int = EOS_ID,
    ) -> list[int]:
        """Generate token ids after ``primer`` until ``eos_id`` or ``max_tokens`` new tokens.

        Sampling works as in :func:`musiclib.lm.sampling.sample_tokens` (which also
        accepts these models together with a vocabulary, for string tokens and
        ``n_bars``). PAD, BOS and UNK are never sampled. Returns primer + new ids.
        """
        from musiclib.lm.sampling import check_sampling, next_token

        check_sampling(
            max_tokens=max_tokens, n_bars=None, temperature=temperature, top_k=top_k, top_p=top_p,
            greedy=greedy, seed=seed,
        )
        tokens = [int(t) for t in primer]
        if not tokens:
            raise ValueError("primer must hold at least one token id (e.g. BOS)")
        rng = np.random.default_rng(seed)
        for _ in range(max_tokens):
            with np.errstate(divide="ignore"):
                logits = np.log(self.distribution(tokens))
            logits[[i for i in _BANNED_IDS if i < logits.size]] = -np.inf
            token = next_token(logits, rng, temperature=temperature, top_k=top_k, top_p=top_p, greedy=greedy)
            tokens.append(token)
            if token == eos_id:
                break
        return tokens


class UnigramModel(NGramModel):
    """Add-one (Laplace) smoothed token frequencies: ``P(w) = (c(w) + 1) / (N + V)``.

    Counts are over the scored tokens of the training tunes (every token after BOS).
    Its NLL is the cross-entropy of the token frequencies: a neural model whose loss
    stops here has learnt nothing but how common each token is.
    """

    def __init__(self) -> None:
        super().__init__(order=1)
        self._probs: np.ndarray | None = None

    @property
    def name(self) -> str:
        return "unigram (add-one)"

    def fit(self, sequences: Iterable[Sequence[int] | np.ndarray], *, vocab_size: int) -> "UnigramModel":
        _check_vocab_size(vocab_size)
        self.vocab_size = int(vocab_size)
        arrays = _as_arrays(sequences, self.vocab_size)
        _, target = _windows(arrays, 1, self.vocab_size)
        if not target.size:
            raise ValueError("no tokens to fit: give tunes of at least two tokens")
        counts = np.bincount(target, minlength=self.vocab_size).astype(np.float64)
        self._probs = (counts + 1.0) / (counts.sum() + self.vocab_size)
        return self

    def _table(self, histories: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return np.broadcast_to(self._probs, (histories.size, self._probs.size)).copy()


def baseline_table(
    train: Iterable[Sequence[int] | np.ndarray],
    test: Iterable[Sequence[int] | np.ndarray],
    *,
    vocab_size: int,
    orders: Sequence[int] = (1, 2, 3, 4, 5),
    discount: float = 0.75,
) -> list[dict[str, float | int | str]]:
    """Fit baselines on ``train`` and score them on ``test``.

    Order 1 is the add-one :class:`UnigramModel`; higher orders are
    :class:`NGramModel` with interpolated Kneser-Ney smoothing.

    Returns
    -------
    list of dict
        One row per order: ``model``, ``order``, ``nll`` (nats per token),
        ``perplexity`` (``exp(nll)``), ``accuracy`` and ``tokens``.
    """
    train = list(train)
    test = list(test)
    rows = []
    for order in orders:
        model = UnigramModel() if order == 1 else NGramModel(order, discount=discount)
        model.fit(train, vocab_size=vocab_size)
        scores = model.nll(test)
        rows.append(
            {
                "model": model.name,
                "order": int(order),
                "nll": scores["nll"],
                "perplexity": math.exp(scores["nll"]),
                "accuracy": scores["accuracy"],
                "tokens": scores["tokens"],
            }
        )
    return rows
