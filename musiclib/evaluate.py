"""Objective evaluation of symbolic music: per-piece features, MGEval set comparison, memorisation.

Three layers, each usable on its own:

1. **Per-piece features** (:func:`piece_features`, :data:`FEATURES`): numbers and
   histograms that describe one piece (pitch content, rhythm, texture).
2. **Set comparison in the manner of MGEval** (Yang & Lerch 2018,
   :func:`compare_sets`): for every feature, the pairwise distances inside the
   reference set (leave-one-out: each piece against every *other* piece), inside the
   generated set, and between the two sets; a Gaussian kernel density estimate of
   each distance distribution; the KL divergence of the reference's intra-set
   density from the inter-set density and the area where the two overlap. A
   generated set that is "like the reference" has inter-set distances distributed as
   the reference's own intra-set distances: overlap area near 1, KL near 0.
3. **Memorisation** (:class:`SharedRunIndex`, :func:`memorisation`): for each
   generated piece, the longest run of consecutive melody intervals it shares with
   any training piece, and the share of pieces that copy a run of at least 16.

:func:`evaluation_table` puts these together with several seeds per generated set,
a "real (ceiling)" row (one random half of the held-out real set against the other
half, a different split per seed) and 95% t-intervals over seeds;
:func:`write_table` writes it as Markdown and JSON. The baseline set makers
:func:`markov_set` (first-order Markov chain over the LSTM's event tokens) and
:func:`uniform_set` (uniform-random notes), and :func:`lstm_set` / :func:`gan_set`
for trained bundles, give sets of :class:`~musiclib.tune.Tune` to compare.

MusPy
-----
Features come from MusPy 0.5.0's metric functions where one fits, on a
``muspy.Music`` built by :func:`to_muspy` (12 ticks per quarter note, which holds
sixteenths and eighth-note triplets exactly): ``muspy.pitch_class_entropy``,
``muspy.scale_consistency``, ``muspy.pitch_range``, ``muspy.n_pitches_used`` and
``muspy.polyphony``. MusPy's ``groove_consistency`` and ``empty_beat_rate`` are
off by one (a trailing empty bar when a piece ends on a bar line; the beat in which
a note ends counted as sounding), so those two are computed here on the same
``muspy.Music``. MusPy has no melodic-interval, note-length, inter-onset or
pitch-class histogram features and no MGEval machinery; those are written here too.
"""

from __future__ import annotations

import bisect
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Sequence

import numpy as np

from musiclib._files import atomic_write, json_ready, write_json
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
    "piece_features",
    "set_features",
    "intra_set_distances",
    "inter_set_distances",
    "density",
    "kl_divergence",
    "overlap_area",
    "compare_feature",
    "compare_sets",
    "SharedRunIndex",
    "memorisation",
    "markov_set",
    "uniform_set",
    "lstm_set",
    "gan_set",
    "model_sets",
    "interval95",
    "evaluation_table",
    "format_markdown",
    "write_table",
]

RESOLUTION = 12
"""Ticks per quarter note of the ``muspy.Music`` objects built by :func:`to_muspy`."""

DURATION_CLASSES = (4.0, 2.0, 1.0, 0.5, 0.25, 3.0, 1.5, 0.75, 0.375, 4 / 3, 2 / 3, 1 / 3)
"""MGEval's twelve note-length classes in quarter notes: whole, half, quarter, eighth,
sixteenth, their dotted forms, and half-, quarter- and eighth-note triplets."""

_KDE_GRID = 512  # points at which the densities are evaluated
_KDE_EXACT_MAX = 5_000  # above this many values, density() bins them first (see _binned_kde)
_KDE_BINS = 4_096
_KL_FLOOR = 1e-10  # smallest probability of the inter-set density in the KL sum
_DEGENERATE_WIDTH = 0.01  # width (share of the grid span) of the bump standing in for a zero-variance KDE
_MIN_SET = 2  # pieces a set needs for intra-set distances
_SEPARATOR = 1_000_000  # memorisation: separators between training pieces (intervals are in -127..127)


# ----------------------------------------------------------------------------- features


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


# ----------------------------------------------------------------------------- MGEval


def _as_points(values: np.ndarray) -> np.ndarray:
    """Feature values as ``(n, d)`` points, without pieces where the feature is undefined."""
    points = np.asarray(values, dtype=float)
    points = points.reshape(len(points), -1)
    return points[np.isfinite(points).all(axis=1)]


def intra_set_distances(values: np.ndarray) -> np.ndarray:
    """Leave-one-out distances inside a set: each piece against every other one.

    Parameters
    ----------
    values
        ``(n,)`` scalars or ``(n, bins)`` histograms; non-finite rows are left out.

    Returns
    -------
    numpy.ndarray
        The ``n * (n - 1)`` absolute differences (scalars) or Euclidean distances
        (histograms) off the diagonal of the distance matrix.
    """
    from scipy.spatial.distance import cdist

    points = _as_points(values)
    matrix = cdist(points, points)
    return matrix[~np.eye(len(points), dtype=bool)]


def inter_set_distances(values: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Distances of every piece of one set to every piece of another (``n * m`` values)."""
    from scipy.spatial.distance import cdist

    return cdist(_as_points(values), _as_points(others)).ravel()


def _grid(*samples: np.ndarray, points: int = _KDE_GRID) -> np.ndarray:
    """An evaluation grid over all samples, padded by a tenth of their span on each side."""
    values = np.concatenate([s for s in samples if len(s)]) if any(len(s) for s in samples) else np.zeros(1)
    low, high = float(values.min()), float(values.max())
    pad = 0.1 * (high - low) if high > low else max(1e-3, 1e-3 * abs(low))
    return np.linspace(low - pad, high + pad, points)


def density(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Gaussian kernel density of ``values`` on ``grid``, normalised to integrate to 1 there.

    ``scipy.stats.gaussian_kde`` (Scott's bandwidth) does the work; above
    ``_KDE_EXACT_MAX`` values (a set of 300 pieces has 90,000 intra-set distances) the
    same estimate is computed from the values binned on a fine grid
    (:func:`_binned_kde`, relative error below 1e-4), which is hundreds of times
    faster. A KDE is not
    defined for fewer than two distinct values (zero variance, e.g. every piece has
    scale consistency 1.0 so all distances are 0): then a narrow Gaussian centred on
    the values' mean, one hundredth of the grid's span wide, stands in for it, so
    two such degenerate sets at the same place overlap fully and at different places
    not at all. Without any value the density is zero everywhere.
    """
    from scipy.stats import gaussian_kde, norm

    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return np.zeros_like(grid)
    pdf = None
    if len(values) >= _MIN_SET and np.ptp(values) > 1e-12:
        try:
            pdf = gaussian_kde(values)(grid) if len(values) <= _KDE_EXACT_MAX else _binned_kde(values, grid)
        except (np.linalg.LinAlgError, ValueError):
            pdf = None
    if pdf is None or not np.isfinite(pdf).all() or pdf.sum() <= 0:
        width = _DEGENERATE_WIDTH * float(grid[-1] - grid[0])
        pdf = norm.pdf(grid, loc=float(values.mean()), scale=width)
    area = np.trapezoid(pdf, grid)
    return pdf / area if area > 0 else pdf


def _binned_kde(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """``gaussian_kde(values)(grid)`` from ``_KDE_BINS`` bin counts instead of every value.

    The bandwidth is Scott's, as ``gaussian_kde`` computes it for one dimension
    (the values' standard deviation with ``ddof=1`` times ``n ** -1/5``). Each value
    is shared between the two nearest of ``_KDE_BINS`` evenly spaced points (linear
    binning); with points much closer than the bandwidth the result matches the exact
    sum to a relative error of order ``(spacing / bandwidth) ** 2``.
    """
    n = len(values)
    sigma = float(values.std(ddof=1)) * n ** -0.2
    low, high = float(values.min()), float(values.max())
    points = np.linspace(low, high, _KDE_BINS)
    position = (values - low) / (high - low) * (_KDE_BINS - 1)
    left = np.minimum(position.astype(np.intp), _KDE_BINS - 2)
    right_share = position - left  # linear binning: each value split between its two neighbouring points
    counts = np.bincount(left, weights=1.0 - right_share, minlength=_KDE_BINS)
    counts += np.bincount(left + 1, weights=right_share, minlength=_KDE_BINS)
    z = (grid[:, None] - points[None, :]) / sigma
    return (np.exp(-0.5 * z * z) @ counts) / (n * sigma * math.sqrt(2 * math.pi))


def kl_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """KL(p ‖ q) in nats between two densities on the same grid.

    Both are normalised to probability vectors over the grid points; ``q`` is
    floored at 1e-10 so a ``p`` with mass where ``q`` has none gives a large finite
    value instead of infinity (MGEval uses ``scipy.stats.entropy`` on the grid the
    same way).
    """
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    if p.sum() <= 0 or q.sum() <= 0:
        return math.nan
    p = p / p.sum()
    q = np.maximum(q / q.sum(), _KL_FLOOR)
    mask = p > 0
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])))


def overlap_area(p: np.ndarray, q: np.ndarray, grid: np.ndarray) -> float:
    """Area under ``min(p, q)`` (0: disjoint, 1: identical densities)."""
    return float(np.clip(np.trapezoid(np.minimum(p, q), grid), 0.0, 1.0))


def compare_feature(reference: np.ndarray, generated: np.ndarray) -> dict[str, float]:
    """MGEval comparison of one feature of a generated set with a reference set.

    Parameters
    ----------
    reference, generated
        The feature's values per piece (``(n,)`` or ``(n, bins)``).

    Returns
    -------
    dict
        ``overlap_area`` and ``kl_divergence`` (nats) between the reference's
        intra-set distance density and the inter-set density (KL(intra-reference ‖
        inter)); ``intra_reference``, ``intra_generated`` and ``inter`` are the mean
        distances (the generated set's intra-set mean measures its diversity).
    """
    intra_ref = intra_set_distances(reference)
    intra_gen = intra_set_distances(generated)
    inter = inter_set_distances(generated, reference)
    grid = _grid(intra_ref, inter)
    p, q = density(intra_ref, grid), density(inter, grid)

    def mean(values: np.ndarray) -> float:
        return float(values.mean()) if len(values) else math.nan

    return {
        "overlap_area": overlap_area(p, q, grid),
        "kl_divergence": kl_divergence(p, q),
        "intra_reference": mean(intra_ref),
        "intra_generated": mean(intra_gen),
        "inter": mean(inter),
    }


def _check_set(features: Mapping[str, np.ndarray], what: str) -> int:
    n = len(next(iter(features.values())))
    if n < _MIN_SET:
        raise ValueError(f"the {what} set needs at least {_MIN_SET} pieces for intra-set distances, got {n}")
    return n


def compare_sets(reference: Mapping[str, np.ndarray], generated: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """MGEval comparison of every feature; ``reference`` and ``generated`` come from :func:`set_features`.

    Returns
    -------
    dict
        ``features`` (name to :func:`compare_feature`'s dict) and the means over
        features, ``overlap_area`` and ``kl_divergence``.
    """
    _check_set(reference, "reference")
    _check_set(generated, "generated")
    per_feature = {name: compare_feature(reference[name], generated[name]) for name in FEATURES}
    return {
        "features": per_feature,
        "overlap_area": float(np.nanmean([v["overlap_area"] for v in per_feature.values()])),
        "kl_divergence": float(np.nanmean([v["kl_divergence"] for v in per_feature.values()])),
    }


# ----------------------------------------------------------------------------- memorisation


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


# ----------------------------------------------------------------------------- sets to compare


def _check_n(n: int) -> None:
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")


def _piece_seeds(seed: int, n: int) -> list[int]:
    _check_n(n)
    return [int(s) for s in np.random.default_rng(seed).integers(0, 2**31 - 1, size=n)]


def _token_set(parts: Any, encoding: Any, n: int, *, seed: int, n_bars: int, **sampling: Any) -> list[Tune]:
    """``n`` pieces sampled from a token model and decoded (piece ``i`` has its own seed)."""
    from musiclib.generate import sample_tokens

    tunes = []
    for piece_seed in _piece_seeds(seed, n):
        tokens = sample_tokens(parts, n_bars=n_bars, seed=piece_seed, **sampling)
        tunes.append(encoding.decode(tokens).tune)
    return tunes


def markov_set(
    training: Any, n: int, *, seed: int, n_bars: int = 16, encoding: Any = None, vocab: Any = None,
    top_p: float | None = None,
) -> list[Tune]:
    """``n`` pieces from a first-order Markov chain over event tokens, fitted on ``training``.

    Parameters
    ----------
    training
        A :class:`~musiclib.prepare.Prepared` (its training token ids, vocabulary and
        encoding: the same tokens as the LSTM) or training tunes.
    n
        Number of pieces.
    seed
        Seed of the set (piece seeds are drawn from it).
    n_bars
        Bars per piece, generated from ``BOS``. ``EOS`` is never sampled: a chain
        that remembers one token cannot know when a tune is over and would stop at
        random (a third of its pieces within four bars), which would compare pieces
        of other lengths than the LSTM's (whose 16-bar pieces rarely end earlier).
    encoding, vocab
        For training tunes: the token encoding and vocabulary (e.g. an LSTM
        bundle's); default the ``events`` encoding and its vocabulary.
    top_p
        Nucleus sampling, as for the LSTM (None: the chain's whole distribution).

    Returns
    -------
    list of Tune
        The chain is :class:`~musiclib.baselines.NGramModel` of order 2 (the next
        token depends on the previous one; interpolated Kneser-Ney smoothing),
        sampled by :func:`~musiclib.generate.sample_tokens`.
    """
    from musiclib.baselines import NGramModel
    from musiclib.generate import ModelParts

    if hasattr(training, "sequences") and hasattr(training, "vocab"):
        encoding, vocab, sequences = training.encoding, training.vocab, training.sequences["train"]
    else:
        if encoding is None:
            from musiclib.encoding import get_encoding

            encoding = get_encoding("events")
        vocab = encoding.vocabulary() if vocab is None else vocab
        sequences = [vocab.encode(encoding.encode(tune)) for tune in training]
    if not len(sequences):
        raise ValueError("markov_set needs at least one training piece")
    model = _WithoutEnd(NGramModel(order=2).fit(sequences, vocab_size=len(vocab)), vocab.id("EOS"))
    parts = ModelParts(model, vocab, None, encoding)
    return _token_set(parts, encoding, n, seed=seed, n_bars=n_bars, top_p=top_p)


class _WithoutEnd:
    """A next-token model that never ends the piece: ``end_id``'s probability moved onto the others.

    Distributions are cached by the last ``order - 1`` context ids, the only ones an
    n-gram model reads (a first-order chain has one distribution per token).
    """

    def __init__(self, model: Any, end_id: int) -> None:
        self.model, self.end_id = model, int(end_id)
        self._cache: dict[tuple[int, ...], np.ndarray] = {}

    def distribution(self, context: Sequence[int]) -> np.ndarray:
        key = tuple(int(i) for i in context[-(self.model.order - 1):]) if len(context) >= self.model.order - 1 else None
        if key is not None and key in self._cache:
            return self._cache[key]
        probs = np.array(self.model.distribution(context), dtype=np.float64)
        probs[self.end_id] = 0.0
        probs /= probs.sum()
        if key is not None:
            self._cache[key] = probs
        return probs


def uniform_set(reference: Sequence[Tune], n: int, *, seed: int, grid: float = 0.5) -> list[Tune]:
    """``n`` pieces of uniform-random notes, piece ``i`` shaped like ``reference[i % len(reference)]``.

    See :func:`musiclib.analysis.uniform_random_tune` (each track's note count,
    pitch range and durations kept; pitches and onsets on a ``grid`` drawn uniformly).
    """
    from musiclib.analysis import uniform_random_tune

    if not len(reference):
        raise ValueError("uniform_set needs at least one reference piece")
    _check_n(n)
    rng = np.random.default_rng(seed)
    return [uniform_random_tune(reference[i % len(reference)], rng=rng, grid=grid) for i in range(n)]


def lstm_set(bundle: Any, n: int, *, seed: int, n_bars: int = 16, temperature: float = 1.0,
             top_p: float | None = 0.95) -> list[Tune]:
    """``n`` pieces of ``n_bars`` bars sampled from an LSTM bundle (from ``BOS``, as one batch), decoded."""
    from musiclib.bundle import load_bundle

    from musiclib.generate import sample_many

    if not hasattr(bundle, "model"):
        bundle = load_bundle(bundle)
    sequences = sample_many(bundle, seeds=_piece_seeds(seed, n), n_bars=n_bars, temperature=temperature,
                            top_p=top_p)
    return [bundle.encoding.decode(tokens).tune for tokens in sequences]


def gan_set(
    bundle: Any, n: int, *, seed: int, phrases_per_piece: int = 4, threshold: float = 0.5
) -> list[Tune]:
    """``n`` pieces from a GAN bundle, each ``phrases_per_piece`` generated phrases played in a row.

    The GAN makes fixed-length phrases (4 bars for the default preset); joining
    independently sampled phrases gives pieces as long as the other sets' (16 bars
    for 4 phrases). Cells are on above ``threshold``. See
    :func:`musiclib.gan_training.generate_gan_tunes`.
    """
    from musiclib.gan_training import generate_gan_tunes

    _check_n(n)
    return generate_gan_tunes(bundle, n=int(n), seed=seed, threshold=threshold,
                              phrases_per_piece=phrases_per_piece)


def model_sets(
    *,
    lstm: Any = None,
    gan: Any = None,
    training: Sequence[Tune],
    reference: Sequence[Tune],
    n: int,
    seeds: Iterable[int],
    n_bars: int = 16,
    top_p: float | None = 0.95,
    progress: Callable[[str], None] | None = None,
) -> tuple[dict[str, list[list[Tune]]], dict[str, list[float]]]:
    """The sets of the standard table: LSTM, GAN, Markov and uniform, one set per seed.

    Parameters
    ----------
    lstm, gan
        Bundles (or their folders); a row is left out when its bundle is None.
    training
        Training tunes: the Markov chain is fitted on them (with the LSTM bundle's
        encoding and vocabulary when there is one, so both model the same tokens).
    reference
        Held-out tunes: the uniform pieces copy their shapes (cut to ``n_bars`` bars).
    n
        Pieces per set.
    seeds
        One set per seed for every row.
    n_bars
        Bars per piece (GAN: ``n_bars // 4`` four-bar phrases, at least one).
    top_p
        Nucleus sampling for the LSTM and the Markov chain.
    progress
        Called with one line per set made.

    Returns
    -------
    tuple
        ``(sets, seconds)``: row name to one list of tunes per seed, and the seconds
        each set took to make.
    """
    from musiclib.bundle import load_bundle
    from musiclib.gan_training import load_gan_bundle

    _check_n(n)
    say = progress or (lambda message: None)
    if lstm is not None and not hasattr(lstm, "model"):
        lstm = load_bundle(lstm)
    if gan is not None and not hasattr(gan, "generate"):
        gan = load_gan_bundle(gan)
    shapes = [excerpt(tune, n_bars=n_bars) for tune in reference]
    makers: dict[str, Callable[[int], list[Tune]]] = {}
    if lstm is not None:
        makers["LSTM"] = lambda seed: lstm_set(lstm, n, seed=seed, n_bars=n_bars, top_p=top_p)
    if gan is not None:
        makers["GAN"] = lambda seed: gan_set(gan, n, seed=seed, phrases_per_piece=max(n_bars // 4, 1))
    tokens = {"encoding": lstm.encoding, "vocab": lstm.vocab} if lstm is not None else {}
    makers["Markov"] = lambda seed: markov_set(training, n, seed=seed, n_bars=n_bars, top_p=top_p, **tokens)
    makers["uniform"] = lambda seed: uniform_set(shapes, n, seed=seed)
    sets: dict[str, list[list[Tune]]] = {name: [] for name in makers}
    seconds: dict[str, list[float]] = {name: [] for name in makers}
    for seed in seeds:
        for name, make in makers.items():
            started = time.perf_counter()
            sets[name].append(make(int(seed)))
            seconds[name].append(round(time.perf_counter() - started, 2))
            say(f"seed {seed}: {n} {name} pieces in {seconds[name][-1]:.1f} s")
    if not all(sets.values()):
        raise ValueError("seeds is empty: give at least one seed")
    return sets, seconds


# ----------------------------------------------------------------------------- the table


def interval95(values: Sequence[float]) -> dict[str, Any]:
    """Mean and 95% Student-t interval of ``values`` (NaNs left out; no interval for one value)."""
    from scipy.stats import t

    data = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if not len(data):
        return {"mean": None, "low": None, "high": None, "n": 0}
    mean = float(data.mean())
    if len(data) < _MIN_SET:
        return {"mean": mean, "low": None, "high": None, "n": 1}
    half = float(t.ppf(0.975, len(data) - 1) * data.std(ddof=1) / math.sqrt(len(data)))
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": int(len(data))}


def _feature_means(features: Mapping[str, np.ndarray]) -> dict[str, float]:
    return {name: float(np.nanmean(features[name])) if np.isfinite(features[name]).any() else math.nan
            for name, spec in FEATURES.items() if spec.kind == "scalar"}


def _subset(features: Mapping[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    return {name: values[rows] for name, values in features.items()}


@dataclass
class _Run:
    """One generated set (or the ceiling's second half) compared with its reference."""

    pieces: int
    comparison: dict[str, Any]
    means: dict[str, float]
    memorised: dict[str, Any] | None


def _run(reference: Mapping[str, np.ndarray], generated: Mapping[str, np.ndarray], tunes: Sequence[Tune],
         index: SharedRunIndex | None, threshold: int) -> _Run:
    memorised = memorisation(tunes, index, threshold=threshold) if index is not None else None
    return _Run(len(tunes), compare_sets(reference, generated), _feature_means(generated), memorised)


def _summary(runs: Sequence[_Run]) -> dict[str, Any]:
    """Mean and 95% interval over seeds of every number the table reports."""
    def over(get: Callable[[_Run], float | None]) -> dict[str, Any]:
        return interval95([get(r) for r in runs])

    memorised = runs[0].memorised is not None
    return {
        "seeds": len(runs),
        "pieces": [r.pieces for r in runs],
        "overlap_area": over(lambda r: r.comparison["overlap_area"]),
        "kl_divergence": over(lambda r: r.comparison["kl_divergence"]),
        "memorised_share": over(lambda r: r.memorised["share"]) if memorised else None,
        "mean_longest_run": over(lambda r: r.memorised["mean_longest"]) if memorised else None,
        "feature_means": {name: over(lambda r, n=name: r.means[n]) for name in runs[0].means},
        "per_feature": {
            name: {key: over(lambda r, n=name, k=key: r.comparison["features"][n][k])
                   for key in ("overlap_area", "kl_divergence", "intra_generated", "inter")}
            for name in FEATURES
        },
    }


def evaluation_table(
    generated: Mapping[str, Sequence[Sequence[Tune]]],
    reference: Sequence[Tune],
    *,
    training: Sequence[Tune] | None = None,
    ceiling: bool = True,
    ceiling_splits: int | None = None,
    seed: int = 0,
    excerpt_bars: int | None = None,
    threshold: int = 16,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Compare named generated sets (several seeds each) with a reference set.

    Parameters
    ----------
    generated
        Row name to one set of tunes per seed, e.g. ``{"LSTM": [seed0, seed1, seed2]}``.
    reference
        The held-out real pieces.
    training
        Training pieces for memorisation (left out of the table when None).
    ceiling
        Add the "real (ceiling)" row: one random half of ``reference`` compared with
        the other half, a different split per seed (needs >= 4 reference pieces).
    ceiling_splits
        Number of ceiling splits (default: the most seeds of any generated row, at least 1).
    seed
        Seed of the ceiling splits.
    excerpt_bars
        Compare only the first this many bars of every reference and generated
        piece (:func:`excerpt`), so that length-dependent features (pitch range,
        distinct pitches) compare like with like; None keeps whole pieces. Training
        pieces are always whole.
    threshold
        Memorisation threshold (intervals).
    progress
        Called with a short message before each set is compared.

    Returns
    -------
    dict
        JSON-ready: ``config``, ``reference`` (pieces, feature means, memorisation)
        and ``rows``, each with ``name`` and :func:`_summary`'s numbers (mean, 95%
        interval ``low``/``high`` and ``n`` seeds for each) plus per-seed ``runs``.
    """
    say = progress or (lambda message: None)

    def cut(tunes: Sequence[Tune]) -> list[Tune]:
        return [excerpt(t, n_bars=excerpt_bars) for t in tunes] if excerpt_bars else list(tunes)

    reference = cut(reference)
    say(f"features of {len(reference)} reference pieces")
    reference_features = set_features(reference)
    index = None
    if training is not None:
        say(f"memorisation index of {len(training)} training pieces")
        index = SharedRunIndex(melody_intervals(t) for t in training)
    rows = []
    if ceiling:
        splits = ceiling_splits or max([len(sets) for sets in generated.values()] + [1])
        if len(reference) < 2 * _MIN_SET:
            raise ValueError(
                f"the ceiling row needs at least {2 * _MIN_SET} reference pieces, got {len(reference)}")
        runs = []
        for split in range(splits):
            say(f"real (ceiling), split {split + 1}/{splits}")
            order = np.random.default_rng([seed, split]).permutation(len(reference))
            first, second = order[: len(order) // 2], order[len(order) // 2:]
            runs.append(_run(_subset(reference_features, first), _subset(reference_features, second),
                             [reference[i] for i in second], index, threshold))
        rows.append(("real (ceiling)", runs))
    for name, sets in generated.items():
        if not len(sets):
            raise ValueError(f"no sets for {name!r}")
        runs = []
        for number, tunes in enumerate(sets):
            say(f"{name}, seed {number + 1}/{len(sets)}: {len(tunes)} pieces")
            tunes = cut(tunes)
            runs.append(_run(reference_features, set_features(tunes), tunes, index, threshold))
        rows.append((name, runs))
    reference_memorised = memorisation(reference, index, threshold=threshold) if index is not None else None
    return json_ready({
        "config": {
            "excerpt_bars": excerpt_bars,
            "threshold": threshold,
            "seed": seed,
            "interval": "95% Student-t over seeds",
            "features": {name: spec._asdict() for name, spec in FEATURES.items()},
            "muspy": _muspy_version(),
            "kde": (f"scipy.stats.gaussian_kde (Scott) on {_KDE_GRID} points; "
                    "KL(intra-reference || inter) in nats"),
        },
        "reference": {
            "pieces": len(reference),
            "feature_means": _feature_means(reference_features),
            "memorised_share": reference_memorised["share"] if reference_memorised else None,
            "mean_longest_run": reference_memorised["mean_longest"] if reference_memorised else None,
            "training_pieces": index.n_pieces if index is not None else None,
        },
        "rows": [
            {"name": name, **_summary(runs),
             "runs": [{"pieces": r.pieces, "comparison": r.comparison, "feature_means": r.means,
                       "memorised_share": r.memorised["share"] if r.memorised else None,
                       "longest_runs": r.memorised["longest"] if r.memorised else None} for r in runs]}
            for name, runs in rows
        ],
    })


def _muspy_version() -> str:
    return str(getattr(_muspy(), "__version__", "unknown"))


def _cell(stat: Mapping[str, Any] | None, digits: int = 3) -> str:
    """``mean ± half-width`` of a 95% interval (just the mean for one seed; ``—`` when missing)."""
    if not stat or stat.get("mean") is None:
        return "—"
    text = f"{stat['mean']:.{digits}f}"
    if stat.get("low") is not None:
        text += f" ± {(stat['high'] - stat['low']) / 2:.{digits}f}"
    return text


def _plain(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def format_markdown(table: Mapping[str, Any], *, title: str | None = None) -> str:
    """The table from :func:`evaluation_table` as Markdown: a summary and a per-feature overlap table."""
    config, reference, rows = table["config"], table["reference"], table["rows"]
    headline = [name for name in HEADLINE_FEATURES if name in reference["feature_means"]]
    memorised = reference.get("memorised_share") is not None
    threshold = config["threshold"]
    lines = [f"## {title}", ""] if title else []
    header = ["set", "pieces × seeds", "overlap area ↑", "KL divergence ↓"]
    header += [f"memorised (run ≥ {threshold})", "longest shared run"] if memorised else []
    header += [name.replace("_", " ") for name in headline]
    lines += ["| " + " | ".join(header) + " |", "|---|---:|" + "---:|" * (len(header) - 2)]
    cells = ["held-out reference", f"{reference['pieces']}", "—", "—"]
    if memorised:
        cells += [_plain(reference["memorised_share"]), _plain(reference["mean_longest_run"], 1)]
    cells += [_plain(reference["feature_means"][name]) for name in headline]
    lines.append("| " + " | ".join(cells) + " |")
    for row in rows:
        pieces = sorted(set(row["pieces"]))
        size = str(pieces[0]) if len(pieces) == 1 else f"{pieces[0]}–{pieces[-1]}"
        cells = [row["name"], f"{size} × {row['seeds']}", _cell(row["overlap_area"]),
                 _cell(row["kl_divergence"])]
        cells += [_cell(row["memorised_share"]), _cell(row["mean_longest_run"], 1)] if memorised else []
        cells += [_cell(row["feature_means"][name]) for name in headline]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Overlap area per feature (reference intra-set vs inter-set distance densities):", ""]
    lines += ["| feature | " + " | ".join(row["name"] for row in rows) + " |", "|---|" + "---:|" * len(rows)]
    for name in FEATURES:
        lines.append(f"| {name.replace('_', ' ')} | "
                     + " | ".join(_cell(row["per_feature"][name]["overlap_area"], 2) for row in rows) + " |")
    bars = config.get("excerpt_bars")
    lines += [
        "",
        "Mean over seeds ± half-width of the 95% t-interval. Overlap area and KL divergence (nats) are "
        "MGEval's "
        f"(Yang & Lerch 2018), averaged over {len(FEATURES)} features. "
        + (f"Every piece is cut to its first {bars} bars. " if bars else "")
        + ("The ceiling compares a random half of the reference with the other half (a new split per seed). "
           if rows and rows[0]["name"] == "real (ceiling)" else "")
        + (f"Memorised: share of pieces whose melody shares a run of ≥ {threshold} consecutive intervals "
           f"with a training piece ({reference['training_pieces']} training pieces); longest shared run: "
           "its mean length in intervals." if memorised else ""),
    ]
    return "\n".join(lines) + "\n"


def write_table(table: Mapping[str, Any], path: str | Path, *, title: str | None = None) -> tuple[Path, Path]:
    """Write ``path`` with suffixes ``.md`` and ``.json`` atomically; return both paths."""
    path = Path(path)
    markdown, data = path.with_suffix(".md"), path.with_suffix(".json")
    atomic_write(markdown, format_markdown(table, title=title))
    write_json(data, table)
    return markdown, data
