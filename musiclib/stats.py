"""Descriptive statistics of a collection of tunes (pure functions, no plotting)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from musiclib.tune import Tune

__all__ = ["CorpusStats", "corpus_stats", "count_of"]

def count_of(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun`` agreeing in number: ``count_of(1, "ill-formed token")`` is "1 ill-formed token",
    ``count_of(379, "ill-formed token")`` "379 ill-formed tokens" (``plural`` for irregular nouns)."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


DURATION_BINS = (0.125, 0.25, 1 / 3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)
"""Note lengths (quarter notes) reported by :func:`corpus_stats`; others go to the nearest."""


@dataclass(frozen=True)
class CorpusStats:
    """Counts and distributions over a corpus.

    Attributes
    ----------
    n_tunes, n_notes
        Totals.
    notes_per_tune, bars_per_tune, seconds_per_tune
        One value per tune.
    pitches
        Every pitch of every non-drum note (MIDI numbers).
    durations
        Counter of note lengths snapped to :data:`DURATION_BINS`.
    meters, keys, tracks_per_tune
        Counters of the first meter, the first key and the number of tracks.
    """

    n_tunes: int
    n_notes: int
    notes_per_tune: np.ndarray
    bars_per_tune: np.ndarray
    seconds_per_tune: np.ndarray
    pitches: np.ndarray
    durations: Counter
    meters: Counter
    keys: Counter
    tracks_per_tune: Counter

    def table(self) -> dict[str, object]:
        """A small summary table (plain Python values) for display or JSON."""
        return {
            "tunes": self.n_tunes,
            "notes": self.n_notes,
            "median notes per tune": float(np.median(self.notes_per_tune)) if self.n_tunes else 0.0,
            "median bars per tune": float(np.median(self.bars_per_tune)) if self.n_tunes else 0.0,
            "lowest pitch": int(self.pitches.min()) if len(self.pitches) else None,
            "highest pitch": int(self.pitches.max()) if len(self.pitches) else None,
            "most common meter": self.meters.most_common(1)[0][0] if self.meters else None,
            "most common key": self.keys.most_common(1)[0][0] if self.keys else None,
        }


def _snap_durations(durations: np.ndarray, bins: Sequence[float] = DURATION_BINS) -> Counter:
    grid = np.asarray(bins)
    index = np.abs(durations[:, None] - grid[None, :]).argmin(axis=1) if len(durations) else np.zeros(0, int)
    return Counter({float(grid[i]): int(c) for i, c in zip(*np.unique(index, return_counts=True))})


def corpus_stats(tunes: Iterable[Tune]) -> CorpusStats:
    """Compute :class:`CorpusStats` over ``tunes``."""
    tunes = list(tunes)
    all_notes = [t.all_notes() for t in tunes]
    pitches = np.concatenate([n["pitch"] for n in all_notes]).astype(int) if tunes else np.zeros(0, int)
    durations = np.concatenate([n["duration"] for n in all_notes]) if tunes else np.zeros(0)
    return CorpusStats(
        n_tunes=len(tunes),
        n_notes=int(sum(len(n) for n in all_notes)),
        notes_per_tune=np.array([len(n) for n in all_notes]),
        bars_per_tune=np.array([t.n_bars for t in tunes]),
        seconds_per_tune=np.array([t.duration_seconds for t in tunes]),
        pitches=pitches,
        durations=_snap_durations(durations),
        meters=Counter(str(t.time_signatures[0]) for t in tunes if t.time_signatures),
        keys=Counter(t.key.name if t.key else "unknown" for t in tunes),
        tracks_per_tune=Counter(len(t.tracks) for t in tunes),
    )
