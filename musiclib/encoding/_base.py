"""Pieces shared by the encodings: the decode result, config plumbing, track merging, bar lines."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, Mapping, NamedTuple, Sequence

import numpy as np

from musiclib.tune import NOTE_DTYPE, TimeSignature, Tune

__all__ = [
    "Decoded",
    "ConfigMixin",
    "gather_notes",
    "track_names",
    "bar_lines",
    "to_steps",
    "check_int",
    "check_number",
    "signatures_or_default",
]

_TIME_EPS = 1e-9  # tolerance when comparing times in quarter notes
_NAMED_TRACKS = {1: ("piano",), 2: ("melody", "chords")}
_HALF = 0.5


def to_steps(quarters: np.ndarray | float, steps_per_quarter: int) -> np.ndarray:
    """Times in quarters rounded to the nearest grid step (halves round up), as ``int64``."""
    return np.floor(np.asarray(quarters, dtype="f8") * steps_per_quarter + _HALF).astype(np.int64)


class Decoded(NamedTuple):
    """What a token encoding's ``decode`` returns.

    Attributes
    ----------
    tune
        The decoded music.
    dropped
        How many ill-formed tokens were dropped to make the sequence decodable
        (0 for a sequence the encoder could have produced).
    """

    tune: Tune
    dropped: int


def check_int(owner: str, name: str, value: Any, *, minimum: int, maximum: int | None = None) -> None:
    """Raise ``ValueError`` unless ``value`` is an int in ``minimum..maximum``."""
    bound = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum}"
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{owner}.{name} must be an integer {bound}, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{owner}.{name} must be {bound}, got {value!r}")


def check_number(owner: str, name: str, value: Any, *, positive: bool = True) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite (and, by default, positive) number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{owner}.{name} must be a number, got {value!r}")
    if not math.isfinite(value) or (positive and value <= 0):
        kind = "finite positive" if positive else "finite"
        raise ValueError(f"{owner}.{name} must be a {kind} number, got {value!r}")


class ConfigMixin:
    """``config()`` / ``from_config()`` for the frozen-dataclass encodings."""

    name: ClassVar[str]

    def config(self) -> dict[str, Any]:
        """The encoding's parameters as a JSON-able dict (without its ``name``)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_config(cls, config: Mapping[str, Any]):
        """Rebuild the encoding from :meth:`config` output (a ``name`` key, if present, must match).

        Raises
        ------
        ValueError
            For a different ``name``, an unknown parameter or an invalid value.
        """
        params = dict(config)
        name = params.pop("name", cls.name)
        if name != cls.name:
            raise ValueError(f"config is for encoding {name!r}, not {cls.name!r}")
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"unknown {cls.name} encoding parameters {unknown}; allowed: {sorted(known)}")
        return cls(**params)


def track_names(n_tracks: int) -> tuple[str, ...]:
    """Names decoders give their tracks: melody/chords for 2, piano for 1, ``track i`` otherwise."""
    return _NAMED_TRACKS.get(n_tracks) or tuple(f"track {i}" for i in range(n_tracks))


def gather_notes(tune: Tune, n_tracks: int) -> tuple[np.ndarray, np.ndarray, int]:
    """All pitched notes with the track index each maps to.

    Drum tracks are dropped; the ``i``-th remaining track maps to index
    ``min(i, n_tracks - 1)``, so tracks beyond the last are merged into it.

    Returns
    -------
    track, notes, drums
        Track index per note (``int64``), the notes (``NOTE_DTYPE``), and how many
        drum notes were dropped.
    """
    parts = [t.notes for t in tune.tracks if not t.is_drum]
    drums = sum(len(t.notes) for t in tune.tracks if t.is_drum)
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=NOTE_DTYPE), drums
    track = np.concatenate(
        [np.full(len(p), min(i, n_tracks - 1), dtype=np.int64) for i, p in enumerate(parts)]
    )
    return track, np.concatenate(parts), drums


def bar_lines(times: Sequence[float], lengths: Sequence[float], stop: float) -> tuple[np.ndarray, np.ndarray]:
    """Bars laid end to end from 0 up to ``stop``, following a meter map.

    Meter ``i`` starts at ``times[i]`` with bars of ``lengths[i]``; the first applies
    from 0 whatever its time. A meter change that falls inside a bar takes effect at
    the next bar line, so every bar is whole and no time is lost (MIDI files such as
    Nottingham's put some meter events mid-bar).

    Returns
    -------
    starts, meter
        Start of every bar with ``start < stop`` and the index of its meter.
    """
    starts: list[np.ndarray] = []
    which: list[np.ndarray] = []
    t, current, following = 0.0, 0, 1
    while t < stop - _TIME_EPS:
        while following < len(times) and times[following] <= t + _TIME_EPS:
            current, following = following, following + 1
        length = float(lengths[current])
        limit = stop if following >= len(times) else min(stop, float(times[following]))
        count = max(1, math.ceil((limit - t) / length - _TIME_EPS))
        starts.append(t + length * np.arange(count))
        which.append(np.full(count, current, dtype=np.int64))
        t += count * length
    if not starts:
        return np.zeros(0, dtype="f8"), np.zeros(0, dtype=np.int64)
    return np.concatenate(starts), np.concatenate(which)


def signatures_or_default(tune: Tune) -> tuple[TimeSignature, ...]:
    """The tune's meter map, or 4/4 from 0 when it has none."""
    return tune.time_signatures or (TimeSignature(0.0, 4, 4),)
