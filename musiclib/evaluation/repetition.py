"""Repetition structure of a piece: how its bars repeat and vary earlier bars.

Folk tunes are built from repeated and varied phrases (AABB forms, a bar answered by
its variant). Each bar's melody is the set of its ``(onset within the bar, pitch)``
pairs (the highest note per onset, onsets on a 12-per-quarter grid); two bars'
similarity is the Jaccard index of their sets (1: the same notes at the same places;
0: nothing in common). :func:`bar_self_similarity` gives the matrix over every pair of
bars, the picture of a piece's form; :func:`repetition_share` summarises it as the
share of bars, after the first, that repeat or vary an earlier bar (similarity at
least ``threshold``, 0.5 by default: at least half their notes shared).
"""

from __future__ import annotations

import numpy as np

from musiclib.evaluation.features import RESOLUTION, _skyline, melody_track
from musiclib.tune import Tune

__all__ = [
    "REPETITION_THRESHOLD",
    "bar_contents",
    "bar_self_similarity",
    "copied_bars",
    "copy_persistence",
    "copy_share",
    "repetition_share",
    "set_repetition",
]

REPETITION_THRESHOLD = 0.5
"""Similarity from which a bar counts as repeating or varying an earlier one."""


def bar_contents(tune: Tune, *, n_bars: int | None = None) -> list[frozenset[tuple[int, int]]]:
    """The melody of each bar as a set of ``(onset tick within the bar, pitch)`` pairs.

    Parameters
    ----------
    tune
        The piece (its melody is the first pitched track, highest note per onset).
    n_bars
        Keep only the first this many bars (default: every bar).
    """
    starts = tune.bar_starts()
    skyline = _skyline(melody_track(tune))
    bars = np.searchsorted(starts, skyline["start"] + 1e-9, side="right") - 1
    kept = len(starts) if n_bars is None else min(n_bars, len(starts))
    contents: list[set[tuple[int, int]]] = [set() for _ in range(kept)]
    for bar, start, pitch in zip(bars, skyline["start"], skyline["pitch"]):
        if 0 <= bar < kept:
            contents[bar].add((int(round((start - starts[bar]) * RESOLUTION)), int(pitch)))
    return [frozenset(bar) for bar in contents]


def _jaccard(a: frozenset, b: frozenset) -> float:
    union = len(a | b)
    return 1.0 if union == 0 else len(a & b) / union


def bar_self_similarity(tune: Tune, *, n_bars: int | None = None) -> np.ndarray:
    """The ``(bars, bars)`` matrix of Jaccard similarities between the melodies of every two bars.

    Symmetric with ones on the diagonal; a repeated section shows as a diagonal stripe
    off the main diagonal (bar ``i`` like bar ``i + k`` for a run of ``i``).
    """
    contents = bar_contents(tune, n_bars=n_bars)
    size = len(contents)
    matrix = np.ones((size, size))
    for i in range(size):
        for j in range(i + 1, size):
            matrix[i, j] = matrix[j, i] = _jaccard(contents[i], contents[j])
    return matrix


def repetition_share(tune: Tune, *, n_bars: int | None = None, threshold: float = REPETITION_THRESHOLD) -> float:
    """Share of bars after the first whose melody repeats or varies an earlier bar's.

    A bar counts when its similarity to some earlier bar is at least ``threshold``;
    empty bars count only against other empty bars. NaN for a piece of fewer than two bars.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold!r}")
    matrix = bar_self_similarity(tune, n_bars=n_bars)
    if len(matrix) < 2:
        return float("nan")
    earlier_best = [matrix[i, :i].max() for i in range(1, len(matrix))]
    return float(np.mean(np.asarray(earlier_best) >= threshold))


def set_repetition(tunes, *, n_bars: int | None = None, threshold: float = REPETITION_THRESHOLD) -> np.ndarray:
    """:func:`repetition_share` of every piece of a set, as an ``(n,)`` array."""
    return np.asarray([repetition_share(tune, n_bars=n_bars, threshold=threshold) for tune in tunes], dtype=float)


def copy_share(tune: Tune, *, offset: int = 8, start: int = 8, n_bars: int = 16,
               threshold: float = REPETITION_THRESHOLD) -> float:
    """Share of bars ``start..n_bars - 1`` whose melody repeats the bar ``offset`` bars earlier.

    The measure of a continuation: prime a model with a tune's first ``start`` bars and
    ask whether bar 9 comes back as bar 1, bar 10 as bar 2, and so on (Nottingham's
    AABB tunes: about 0.8 for the real continuations). NaN when the piece has no bar
    from ``start`` on.
    """
    copied = copied_bars(tune, offset=offset, start=start, n_bars=n_bars, threshold=threshold)
    return float(copied.mean()) if len(copied) else float("nan")


def copied_bars(tune: Tune, *, offset: int = 8, start: int = 8, n_bars: int = 16,
                threshold: float = REPETITION_THRESHOLD) -> np.ndarray:
    """For each bar ``start..n_bars - 1``, whether its melody repeats the bar ``offset`` bars earlier.

    The per-bar flags behind :func:`copy_share` (a boolean array, empty when the piece
    has no bar from ``start`` on).
    """
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 < offset <= start:
        raise ValueError(f"offset must be an integer in 1..start = {start}, got {offset!r}")
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold!r}")
    contents = bar_contents(tune, n_bars=n_bars)
    return np.asarray([_jaccard(contents[j], contents[j - offset]) >= threshold
                       for j in range(start, len(contents))], dtype=bool)


def copy_persistence(tunes, *, offset: int = 8, start: int = 8, n_bars: int = 16,
                     threshold: float = REPETITION_THRESHOLD) -> dict[str, float | int]:
    """Once a bar repeats the bar ``offset`` earlier, does the next bar go on repeating?

    A copied section is a run of copied bars: in a real AABB tune, a bar of the second
    A part that repeats its counterpart is followed by another that does (about 0.95 on
    Nottingham's validation tunes), while the first bar of the section is often varied.
    A model that copies bar by bar at random has the same share after a copied bar as
    after any other.

    Returns
    -------
    dict
        ``after_copy``: share of bars (after ``start``) copied when the bar before was
        copied, and ``after_other`` when it was not (NaN without such bars), with their
        counts ``n_after_copy`` and ``n_after_other``.
    """
    after: dict[bool, list[bool]] = {True: [], False: []}
    for tune in tunes:
        copied = copied_bars(tune, offset=offset, start=start, n_bars=n_bars, threshold=threshold)
        for previous, current in zip(copied[:-1], copied[1:]):
            after[bool(previous)].append(bool(current))
    share = {key: float(np.mean(values)) if values else float("nan") for key, values in after.items()}
    return {"after_copy": share[True], "after_other": share[False],
            "n_after_copy": len(after[True]), "n_after_other": len(after[False])}
