"""Per-piece symbolic features of a :class:`~musiclib.tune.Tune` (pitch content, rhythm, texture).

Features come from MusPy 0.5.0's metric functions where one fits, on a
``muspy.Music`` built by :func:`to_muspy` (12 ticks per quarter note, which holds
sixteenths and eighth-note triplets exactly): ``muspy.pitch_class_entropy``,
``muspy.scale_consistency``, ``muspy.pitch_range``, ``muspy.n_pitches_used`` and
``muspy.polyphony``. MusPy's ``groove_consistency`` and ``empty_beat_rate`` are
off by one (a trailing empty bar when a piece ends on a bar line; the beat in which
a note ends counted as sounding), so those two are computed here on the same
``muspy.Music``. MusPy has no melodic-interval, note-length, inter-onset or
pitch-class histogram features; those are written here too.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable, NamedTuple

import numpy as np

from musiclib.tune import Track, Tune, make_notes

__all__ = [
    "Feature",
    "FEATURES",
    "HEADLINE_FEATURES",
    "RESOLUTION",
    "DURATION_CLASSES",
    "to_muspy",
    "excerpt",
    "melody_track",
    "melody_pitches",
    "melody_intervals",
    "melody_polyphony",
    "piece_features",
    "set_features",
]


RESOLUTION = 12
"""Ticks per quarter note of the ``muspy.Music`` objects built by :func:`to_muspy`."""
DURATION_CLASSES = (4.0, 2.0, 1.0, 0.5, 0.25, 3.0, 1.5, 0.75, 0.375, 4 / 3, 2 / 3, 1 / 3)
"""MGEval's twelve note-length classes in quarter notes: whole, half, quarter, eighth,
sixteenth, their dotted forms, and half-, quarter- and eighth-note triplets."""
_MIN_SET = 2  # pieces a set needs for intra-set distances


class Feature(NamedTuple):
    """One per-piece feature: name, ``"scalar"`` or ``"histogram"``, unit, track, what it measures."""

    name: str
    kind: str
    unit: str
    track: str
    description: str
    source: str


FEATURES: dict[str, Feature] = {
    f.name: f
    for f in (
        Feature("pitch_class_entropy", "scalar", "bits (0..log2 12)", "all pitched",
                "Shannon entropy of the pitch-class histogram; low = few pitch classes dominate.",
                "muspy.pitch_class_entropy"),
        Feature("scale_consistency", "scalar", "share (0..1)", "all pitched",
                "Largest share of notes inside one major or minor scale (over the 24 scales).",
                "muspy.scale_consistency"),
        Feature("pitch_range", "scalar", "semitones", "all pitched",
                "Highest minus lowest pitch.", "muspy.pitch_range"),
        Feature("n_pitches_used", "scalar", "distinct pitches", "all pitched",
                "Number of distinct MIDI pitches used.", "muspy.n_pitches_used"),
        Feature("mean_melodic_interval", "scalar", "semitones", "melody",
                "Mean absolute interval between consecutive melody notes (highest pitch per onset).",
                "musiclib"),
        Feature("pitch_class_histogram", "histogram", "shares of 12 pitch classes", "all pitched",
                "Share of notes per pitch class C..B (MGEval's pitch-class histogram).", "musiclib"),
        Feature("note_length_histogram", "histogram", "shares of 12 length classes", "melody",
                "Share of melody notes per length class (DURATION_CLASSES, nearest in log time).",
                "musiclib"),
        Feature("ioi_histogram", "histogram", "shares of 12 length classes", "melody",
                "Share of inter-onset intervals between consecutive melody onsets per length class.",
                "musiclib"),
        Feature("groove_consistency", "scalar", "share (0..1)", "all pitched",
                "1 - mean Hamming distance between the onset patterns of neighbouring bars "
                "(bar length of the opening meter).", "musiclib (MusPy's off by one bar)"),
        Feature("empty_beat_rate", "scalar", "share (0..1)", "all pitched",
                "Share of beats (quarter notes) in which no note sounds.",
                "musiclib (MusPy's off by one beat)"),
        Feature("polyphony", "scalar", "pitches", "all pitched",
                "Mean number of pitches sounding, over the ticks where at least one sounds.",
                "muspy.polyphony"),
    )
}
"""Per-piece features by name. The melody is the first pitched (non-drum) track, with
only the highest pitch kept at each onset; "all pitched" means every non-drum track."""
HEADLINE_FEATURES = ("pitch_class_entropy", "scale_consistency", "groove_consistency", "polyphony",
                     "mean_melodic_interval")
"""Per-piece feature means shown in the Markdown table beside the reference's values."""


def _muspy():
    import muspy

    return muspy


def to_muspy(tune: Tune, *, resolution: int = RESOLUTION) -> Any:
    """Convert a tune to a ``muspy.Music`` (pitched tracks only, times in ticks).

    Parameters
    ----------
    tune
        The tune.
    resolution
        Ticks per quarter note; onsets and ends are rounded to this grid, and notes
        rounding to zero length last one tick.

    Returns
    -------
    muspy.Music
        One ``muspy.Track`` per non-drum track, with the tune's opening meter and tempo.
    """
    muspy = _muspy()
    tracks = []
    for track in tune.tracks:
        if track.is_drum:
            continue
        start = np.rint(track.notes["start"] * resolution).astype(int)
        end = np.rint((track.notes["start"] + track.notes["duration"]) * resolution).astype(int)
        duration = np.maximum(end - start, 1)
        notes = [muspy.Note(time=int(t), pitch=int(p), duration=int(d), velocity=int(v))
                 for t, p, d, v in zip(start, track.notes["pitch"], duration, track.notes["velocity"])]
        tracks.append(muspy.Track(program=int(track.program), name=track.name, notes=notes))
    meter = tune.time_signatures[0] if tune.time_signatures else None
    signatures = ([muspy.TimeSignature(time=0, numerator=meter.numerator, denominator=meter.denominator)]
                  if meter else [])
    return muspy.Music(resolution=resolution, tempos=[muspy.Tempo(time=0, qpm=float(tune.qpm))],
                       time_signatures=signatures, tracks=tracks)


def excerpt(tune: Tune, *, n_bars: int) -> Tune:
    """The tune's first ``n_bars`` bars: later notes dropped, notes crossing the end cut at it.

    Parameters
    ----------
    tune
        The tune.
    n_bars
        Bars to keep (>= 1), counted by :meth:`Tune.bar_starts`.

    Returns
    -------
    Tune
        The whole tune when it is not longer than ``n_bars`` bars.
    """
    if not isinstance(n_bars, (int, np.integer)) or isinstance(n_bars, bool) or n_bars < 1:
        raise ValueError(f"n_bars must be a positive integer, got {n_bars!r}")
    starts = tune.bar_starts()
    if len(starts) <= n_bars:
        return tune
    stop = float(starts[n_bars])
    tracks = []
    for track in tune.tracks:
        notes = track.notes[track.notes["start"] < stop - 1e-9]
        ends = np.minimum(notes["start"] + notes["duration"], stop)
        clipped = make_notes(notes["start"], ends - notes["start"], notes["pitch"], notes["velocity"])
        tracks.append(Track(notes=clipped, name=track.name, program=track.program, is_drum=track.is_drum))
    return tune.replace(tracks=tuple(tracks))


def melody_track(tune: Tune) -> np.ndarray:
    """Notes of the melody: the first pitched track (an empty array when there is none)."""
    for track in tune.tracks:
        if not track.is_drum:
            return track.notes
    return np.zeros(0, dtype=make_notes().dtype)


def _skyline(notes: np.ndarray) -> np.ndarray:
    """The highest note at each onset, in time order."""
    if not len(notes):
        return notes
    order = np.lexsort((-notes["pitch"].astype(int), notes["start"]))
    ordered = notes[order]
    first = np.ones(len(ordered), dtype=bool)
    first[1:] = ~np.isclose(ordered["start"][1:], ordered["start"][:-1])
    return ordered[first]


def melody_pitches(tune: Tune) -> np.ndarray:
    """Melody pitches in time order, one per onset (the highest)."""
    return _skyline(melody_track(tune))["pitch"].astype(np.int64)


def melody_polyphony(tune: Tune) -> float:
    """Share of the time the melody sounds two or more notes at once, over the time it sounds
    at all, on a grid of :data:`RESOLUTION` ticks per quarter (NaN for a tune without melody)."""
    notes = melody_track(tune)
    if not len(notes):
        return math.nan
    start = np.rint(notes["start"] * RESOLUTION).astype(np.int64)
    end = np.maximum(np.rint((notes["start"] + notes["duration"]) * RESOLUTION).astype(np.int64), start + 1)
    counts = np.zeros(int(end.max()) + 1, dtype=np.int64)
    np.add.at(counts, start, 1)
    np.add.at(counts, end, -1)
    sounding = np.cumsum(counts)[:-1]
    any_sounding = np.count_nonzero(sounding >= 1)
    return float(np.count_nonzero(sounding >= 2) / any_sounding) if any_sounding else math.nan


def melody_intervals(tune: Tune) -> np.ndarray:
    """Semitone steps between consecutive melody notes (signed; transposition-invariant)."""
    return np.diff(melody_pitches(tune))


def _duration_class_histogram(lengths: np.ndarray) -> np.ndarray:
    """Shares of ``lengths`` (quarter notes) per :data:`DURATION_CLASSES` (nearest in log time)."""
    histogram = np.zeros(len(DURATION_CLASSES))
    lengths = lengths[lengths > 0]
    if not len(lengths):
        return histogram
    distance = np.abs(np.log(lengths)[:, None] - np.log(np.asarray(DURATION_CLASSES))[None, :])
    np.add.at(histogram, distance.argmin(axis=1), 1.0)
    return histogram / histogram.sum()


def _pitch_class_histogram(tune: Tune) -> np.ndarray:
    pitches = tune.all_notes()["pitch"].astype(int)
    histogram = np.bincount(pitches % 12, minlength=12).astype(float)
    return histogram / histogram.sum() if histogram.sum() else histogram


def _melody_onset_intervals(tune: Tune) -> np.ndarray:
    return np.diff(_skyline(melody_track(tune))["start"])


def _mean_melodic_interval(tune: Tune) -> float:
    steps = melody_intervals(tune)
    return float(np.abs(steps).mean()) if len(steps) else math.nan


def _bar_ticks(tune: Tune, resolution: int) -> int:
    meter = tune.time_signatures[0] if tune.time_signatures else None
    return max(int(round((meter.bar_length if meter else 4.0) * resolution)), 1)


def _spans(music: Any) -> tuple[np.ndarray, np.ndarray]:
    """Onsets and ends (ticks) of every note of a ``muspy.Music``."""
    notes = [(note.time, note.end) for track in music.tracks for note in track.notes]
    spans = np.asarray(notes, dtype=np.int64).reshape(-1, 2)
    return spans[:, 0], spans[:, 1]


def _groove_consistency(music: Any, bar_ticks: int) -> float:
    """1 - mean Hamming distance between neighbouring bars' onset patterns (Wu & Yang 2020).

    MusPy 0.5.0's ``groove_consistency`` counts one bar too many when the last note
    ends on a bar line (an empty bar compared with the last one), so a piece of
    identical bars scores below 1; here the bars are those the notes span.
    """
    onsets, ends = _spans(music)
    n_bars = -(-int(ends.max()) // bar_ticks) if len(ends) else 0
    if n_bars < _MIN_SET:
        return math.nan
    patterns = np.zeros((n_bars, bar_ticks), dtype=bool)
    patterns[onsets // bar_ticks, onsets % bar_ticks] = True
    return 1.0 - np.count_nonzero(patterns[:-1] != patterns[1:]) / (bar_ticks * (n_bars - 1))


def _empty_beat_rate(music: Any) -> float:
    """Share of beats (quarter notes) from 0 to the last note's end in which no note sounds.

    MusPy 0.5.0's ``empty_beat_rate`` counts the beat in which a note *ends* as
    sounding (a half note followed by a half rest leaves no empty beat) and one beat
    past the end; here a beat sounds when a note overlaps it.
    """
    onsets, ends = _spans(music)
    if not len(ends):
        return math.nan
    beat = music.resolution
    n_beats = -(-int(ends.max()) // beat)
    sounding = np.zeros(n_beats + 1, dtype=np.int64)
    np.add.at(sounding, onsets // beat, 1)
    np.add.at(sounding, -(-ends // beat), -1)  # a note sounds in beats onset//beat .. ceil(end/beat) - 1
    return float(np.mean(np.cumsum(sounding)[:n_beats] == 0))


def piece_features(tune: Tune, *, resolution: int = RESOLUTION) -> dict[str, float | np.ndarray]:
    """Every feature of :data:`FEATURES` for one piece.

    Parameters
    ----------
    tune
        The piece.
    resolution
        Ticks per quarter note for the MusPy features.

    Returns
    -------
    dict
        Feature name to a float (NaN where undefined, e.g. for a piece without
        notes) or a histogram (numpy array summing to 1, or all zeros).
    """
    muspy = _muspy()
    music = to_muspy(tune, resolution=resolution)
    has_notes = any(len(track.notes) for track in music.tracks)

    def guarded(metric: Callable[[], float]) -> float:
        return float(metric()) if has_notes else math.nan

    return {
        "pitch_class_entropy": guarded(lambda: muspy.pitch_class_entropy(music)),
        "scale_consistency": guarded(lambda: muspy.scale_consistency(music)),
        "pitch_range": guarded(lambda: muspy.pitch_range(music)),
        "n_pitches_used": guarded(lambda: muspy.n_pitches_used(music)),
        "mean_melodic_interval": _mean_melodic_interval(tune),
        "pitch_class_histogram": _pitch_class_histogram(tune),
        "note_length_histogram": _duration_class_histogram(melody_track(tune)["duration"]),
        "ioi_histogram": _duration_class_histogram(_melody_onset_intervals(tune)),
        "groove_consistency": _groove_consistency(music, _bar_ticks(tune, resolution)),
        "empty_beat_rate": _empty_beat_rate(music),
        "polyphony": guarded(lambda: muspy.polyphony(music)),
    }


def set_features(tunes: Iterable[Tune], *, resolution: int = RESOLUTION) -> dict[str, np.ndarray]:
    """Features of a set of pieces: name to ``(n,)`` (scalars) or ``(n, bins)`` (histograms)."""
    rows = [piece_features(tune, resolution=resolution) for tune in tunes]
    if not rows:
        raise ValueError("the set holds no pieces")
    return {name: np.asarray([row[name] for row in rows], dtype=float) for name in FEATURES}
