"""Memorisation: how much of the training set a generated piece copies.

For each generated piece, :func:`memorisation` finds the longest run of consecutive
melody intervals it shares with any training piece (:class:`SharedRunIndex`, a
suffix-array index of the training melodies), and the share of pieces that copy a
run of at least 16.
"""

from __future__ import annotations

import bisect
import math
from typing import Any, Iterable, Sequence

import numpy as np

from musiclib.evaluation.features import melody_intervals
from musiclib.tune import Tune

__all__ = [
    "SharedRunIndex",
    "memorisation",
]


_SEPARATOR = 1_000_000  # memorisation: separators between training pieces (intervals are in -127..127)


class SharedRunIndex:
    """Finds the longest run of melody intervals a piece shares with any training piece.

    A suffix automaton of all training interval sequences, joined with separators no
    interval can equal (so no run crosses two pieces). Building it is linear in the
    total number of intervals; :meth:`longest` is linear in the query's length.

    Parameters
    ----------
    sequences
        Interval sequences of the training pieces (e.g. :func:`melody_intervals`).
    """

    def __init__(self, sequences: Iterable[Sequence[int]]) -> None:
        self._next: list[dict[int, int]] = [{}]
        self._link = [-1]
        self._length = [0]
        self._end = [-1]  # end position of a state's first occurrence
        self._starts: list[int] = []
        self._last = 0
        position = 0
        for index, sequence in enumerate(sequences):
            self._starts.append(position)
            for symbol in [int(x) for x in sequence] + [_SEPARATOR + index]:
                self._extend(symbol, position)
                position += 1
        self.n_pieces = len(self._starts)

    def _new_state(self, length: int, link: int, end: int, transitions: dict[int, int]) -> int:
        self._next.append(transitions)
        self._link.append(link)
        self._length.append(length)
        self._end.append(end)
        return len(self._length) - 1

    def _extend(self, symbol: int, position: int) -> None:
        nxt, link, length = self._next, self._link, self._length
        current = self._new_state(length[self._last] + 1, -1, position, {})
        state = self._last
        while state != -1 and symbol not in nxt[state]:
            nxt[state][symbol] = current
            state = link[state]
        if state == -1:
            link[current] = 0
        else:
            target = nxt[state][symbol]
            if length[state] + 1 == length[target]:
                link[current] = target
            else:
                clone = self._new_state(length[state] + 1, link[target], self._end[target], dict(nxt[target]))
                while state != -1 and nxt[state].get(symbol) == target:
                    nxt[state][symbol] = clone
                    state = link[state]
                link[target] = link[current] = clone
        self._last = current

    def longest(self, sequence: Sequence[int]) -> tuple[int, int | None]:
        """The longest contiguous run of ``sequence`` in a training piece: its length and that piece's index.

        Returns ``(0, None)`` when not even one interval is shared.
        """
        nxt, link, length = self._next, self._link, self._length
        state, run, best, best_end = 0, 0, 0, -1
        for symbol in (int(x) for x in sequence):
            while state and symbol not in nxt[state]:
                state = link[state]
                run = length[state]
            if symbol in nxt[state]:
                state = nxt[state][symbol]
                run += 1
            else:
                state, run = 0, 0
            if run > best:
                best, best_end = run, self._end[state]
        if not best:
            return 0, None
        return best, bisect.bisect_right(self._starts, best_end) - 1


def memorisation(
    generated: Iterable[Tune], training: SharedRunIndex | Iterable[Tune], *, threshold: int = 16
) -> dict[str, Any]:
    """Longest shared melody-interval run of each generated piece with the training pieces.

    Parameters
    ----------
    generated
        The pieces to check.
    training
        Training tunes, or a :class:`SharedRunIndex` built from their
        :func:`melody_intervals` (reuse one index for several sets).
    threshold
        A piece "copies" when its longest shared run holds at least this many
        intervals (16 intervals = 17 notes in the same relative pitches).

    Returns
    -------
    dict
        ``longest`` (per piece), ``source`` (index of the training piece holding
        each run, or None), ``share`` (of pieces with a run >= ``threshold``),
        ``mean_longest`` and ``threshold``.
    """
    if not isinstance(threshold, (int, np.integer)) or isinstance(threshold, bool) or threshold < 1:
        raise ValueError(f"threshold must be a positive integer, got {threshold!r}")
    index = training if isinstance(training, SharedRunIndex) else SharedRunIndex(
        melody_intervals(t) for t in training)
    found = [index.longest(melody_intervals(tune)) for tune in generated]
    longest = [length for length, _ in found]
    return {
        "threshold": int(threshold),
        "longest": longest,
        "source": [source for _, source in found],
        "share": float(np.mean([n >= threshold for n in longest])) if longest else math.nan,
        "mean_longest": float(np.mean(longest)) if longest else math.nan,
    }
