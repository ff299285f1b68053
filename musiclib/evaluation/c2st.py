"""Classifier two-sample test (C2ST): can a classifier tell generated pieces from real ones?

Lopez-Paz & Oquab (2017, "Revisiting classifier two-sample tests"): label the real
pieces 0 and the generated ones 1, train a classifier on part of them and score it on
the rest. If the two sets come from the same distribution no classifier can do better
than chance, so the held-out accuracy stays near 0.5; the further above 0.5, the more
easily the generated pieces are recognised. Unlike MGEval's overlap areas, which look
at one feature at a time, the classifier sees all features *together*: a set whose
marginals each look right but whose combinations do not is still caught.

Per-piece features (:data:`C2ST_FEATURES`, one row per piece, histograms expanded to
one column per bin; all transposition-invariant, so a set in another key is not
"different" for that reason alone). The melody is the first pitched track with the
highest note per onset (:func:`~musiclib.evaluation.features.melody_pitches`), except
for ``melody_polyphony_share``, which looks at every note of that track:

* **melody**: histogram of absolute melodic intervals (0, 1, …, 7, 8–11, ≥ 12
  semitones), shares of repeats / steps (1–2) / leaps (≥ 3), mean absolute interval,
  share of direction changes (contour), and the share of the time the melody track
  sounds two or more notes at once;
* **harmony and pitch** (all pitched tracks, from :mod:`.features`, MusPy): pitch-class
  entropy, scale consistency, pitch range, distinct pitches, polyphony;
* **rhythm** (from :mod:`.features`): note-length and inter-onset-interval histograms,
  groove consistency, empty-beat rate; plus melody onsets per bar (mean and standard
  deviation over bars);
* **repetition**: share of bars whose melody onset pattern, and share of bars whose
  melody interval pattern (transposed repeats count), repeats an earlier bar's;
* **accompaniment** (the pitched tracks after the first, where there are any): whether
  there is one, its onsets per bar, its notes per onset, and the share of melody onsets
  whose pitch class sounds in it at that moment (0 / undefined without one).

Undefined values (e.g. intervals of a one-note piece) are NaN and imputed with the
training fold's median inside the classifier pipeline.

Classifiers (:data:`C2ST_CLASSIFIERS`):

* ``logistic``: median imputation, standardisation and an L2-regularised logistic
  regression (C = 1) in one scikit-learn ``Pipeline``: linear, so its accuracy reads
  as "some weighted sum of the features differs";
* ``boosting``: scikit-learn's ``GradientBoostingClassifier`` (100 depth-2 trees,
  learning rate 0.1, seeded). Chosen over k-NN because trees are invariant to the
  features' scales (counts, shares and histogram bins mix freely), ignore
  uninformative columns that would dilute a k-NN distance over ~55 dimensions, and
  catch thresholds and interactions a linear model misses (e.g. "any melody
  polyphony at all"); depth-2 trees keep it from memorising sets of ~100 pieces.

Protocol: the larger set is subsampled (seeded) to the size of the smaller, the pieces
are split by a shuffled, seeded stratified k-fold (5 folds, fewer when a class has
fewer than 5 pieces), and the accuracy is over all held-out predictions (each piece
predicted once). The 95% interval is Clopper–Pearson (exact binomial, via
``scipy.stats.beta``) and the p-value is a one-sided binomial test of accuracy > 0.5
(``scipy.stats.binomtest``). Held-out predictions of different folds come from
different fits, so the binomial model is the usual approximation of the C2ST paper;
on real-against-real folk splits of 100 + 100 the accuracy's spread over splits (0.05)
exceeds the binomial one (0.035), so read one seed's interval as optimistic and compare
rows with the ceiling row over seeds (``docs/evaluation.md``).
With fewer than :data:`MIN_PER_CLASS` pieces per class no test is run and the result
carries the reason.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from musiclib.evaluation.features import (
    DURATION_CLASSES,
    RESOLUTION,
    _skyline,
    melody_polyphony,
    melody_track,
    set_features,
)
from musiclib.tune import Tune

__all__ = [
    "C2ST_FEATURES",
    "C2ST_CLASSIFIERS",
    "MIN_PER_CLASS",
    "C2ST_GROUPS",
    "C2STResult",
    "c2st_feature_names",
    "c2st_group_columns",
    "c2st_piece_features",
    "c2st_features",
    "classifier_test",
    "classifier_test_by_group",
]

MIN_PER_CLASS = 4
"""Fewest pieces per class (after balancing) for which the test is run."""
_FOLDS = 5
_INTERVAL_BINS = ("0", "1", "2", "3", "4", "5", "6", "7", "8-11", "12+")
_TOL = 1e-6

C2ST_FEATURES: dict[str, tuple[str, str, int]] = {
    # name: (group, description, number of columns)
    "interval_histogram": ("melody", "Shares of absolute melodic intervals 0, 1, ..., 7, 8-11, >=12 semitones.",
                           len(_INTERVAL_BINS)),
    "repeat_share": ("melody", "Share of melodic intervals of 0 (repeated pitch).", 1),
    "step_share": ("melody", "Share of melodic intervals of 1-2 semitones.", 1),
    "leap_share": ("melody", "Share of melodic intervals of 3 semitones or more.", 1),
    "mean_melodic_interval": ("melody", "Mean absolute melodic interval (semitones; features.py).", 1),
    "contour_changes": ("melody", "Share of consecutive non-zero intervals that change direction.", 1),
    "melody_polyphony_share": ("melody", "Share of the time the melody track sounds >= 2 notes, "
                               "of the time it sounds any.", 1),
    "pitch_class_entropy": ("harmony", "Pitch-class entropy, all pitched tracks (bits; MusPy).", 1),
    "scale_consistency": ("harmony", "Largest share of notes in one major/minor scale (MusPy).", 1),
    "pitch_range": ("harmony", "Highest minus lowest pitch, all pitched tracks (MusPy).", 1),
    "n_pitches_used": ("harmony", "Distinct MIDI pitches, all pitched tracks (MusPy).", 1),
    "polyphony": ("harmony", "Mean pitches sounding where any sounds, all pitched tracks (MusPy).", 1),
    "note_length_histogram": ("rhythm", "Shares of melody note lengths per DURATION_CLASSES (features.py).",
                              len(DURATION_CLASSES)),
    "ioi_histogram": ("rhythm", "Shares of melody inter-onset intervals per DURATION_CLASSES (features.py).",
                      len(DURATION_CLASSES)),
    "groove_consistency": ("rhythm", "1 - mean Hamming distance of neighbouring bars' onsets (features.py).", 1),
    "empty_beat_rate": ("rhythm", "Share of beats in which nothing sounds (features.py).", 1),
    "onsets_per_bar": ("rhythm", "Mean number of melody onsets per bar.", 1),
    "onsets_per_bar_std": ("rhythm", "Standard deviation over bars of the melody onsets per bar.", 1),
    "repeated_rhythm_share": ("repetition", "Share of bars (after the first) whose melody onset pattern "
                              "equals an earlier bar's.", 1),
    "repeated_interval_share": ("repetition", "Share of bars (after the first) whose melody interval "
                                "sequence (>= 1 interval) equals an earlier bar's.", 1),
    "has_accompaniment": ("accompaniment", "1 when a pitched track besides the melody holds notes, else 0.", 1),
    "accompaniment_onsets_per_bar": ("accompaniment", "Distinct onsets per bar in the other pitched tracks.", 1),
    "accompaniment_notes_per_onset": ("accompaniment", "Mean notes per onset in the other pitched tracks.", 1),
    "melody_in_accompaniment": ("accompaniment", "Share of melody onsets whose pitch class sounds in the other "
                                "tracks then (of those where any sounds).", 1),
}
"""Per-piece C2ST features: name to (group, description, columns)."""
_FROM_FEATURES = ("mean_melodic_interval", "pitch_class_entropy", "scale_consistency", "pitch_range",
                  "n_pitches_used", "polyphony", "note_length_histogram", "ioi_histogram",
                  "groove_consistency", "empty_beat_rate")
"""C2ST features taken as they are from :func:`~musiclib.evaluation.features.set_features`."""

C2ST_GROUPS = tuple(dict.fromkeys(group for group, _, _ in C2ST_FEATURES.values()))
"""The feature groups, in :data:`C2ST_FEATURES` order: melody, harmony, rhythm, repetition, accompaniment."""

C2ST_CLASSIFIERS = ("logistic", "boosting")
"""The two classifiers: regularised logistic regression and gradient-boosted trees."""


def c2st_feature_names() -> list[str]:
    """Column names of :func:`c2st_features`' matrix (histograms as ``name[bin]``)."""
    names = []
    for name, (_, _, width) in C2ST_FEATURES.items():
        if width == 1:
            names.append(name)
        else:
            bins = _INTERVAL_BINS if name == "interval_histogram" else [f"{c:.3g}" for c in DURATION_CLASSES]
            names += [f"{name}[{b}]" for b in bins]
    return names


def c2st_group_columns(group: str) -> np.ndarray:
    """Indices of the columns of :func:`c2st_features`' matrix that belong to one feature group."""
    if group not in C2ST_GROUPS:
        raise ValueError(f"unknown feature group {group!r}; choose from {C2ST_GROUPS}")
    columns, start = [], 0
    for feature_group, _, width in C2ST_FEATURES.values():
        if feature_group == group:
            columns.extend(range(start, start + width))
        start += width
    return np.asarray(columns, dtype=int)


def _share(mask: np.ndarray) -> float:
    return float(mask.mean()) if len(mask) else math.nan


def _bar_index(starts: np.ndarray, times: np.ndarray) -> np.ndarray:
    return np.searchsorted(starts, times + _TOL, side="right") - 1


def _interval_features(pitches: np.ndarray) -> dict[str, Any]:
    steps = np.diff(pitches)
    size = np.abs(steps)
    histogram = np.zeros(len(_INTERVAL_BINS))
    if len(size):
        np.add.at(histogram, np.where(size >= 12, 9, np.where(size >= 8, 8, np.minimum(size, 7))), 1.0)
        histogram /= histogram.sum()
    moving = np.sign(steps[steps != 0])
    return {
        "interval_histogram": histogram,
        "repeat_share": _share(size == 0),
        "step_share": _share((size >= 1) & (size <= 2)),
        "leap_share": _share(size >= 3),
        "contour_changes": _share(moving[1:] != moving[:-1]),
    }


def _repetition_features(skyline: np.ndarray, starts: np.ndarray) -> dict[str, float]:
    """Onsets per bar and the shares of bars repeating an earlier bar's rhythm or intervals."""
    n_bars = len(starts)
    bars = _bar_index(starts, skyline["start"])
    counts = np.bincount(bars, minlength=n_bars)[:n_bars] if len(bars) else np.zeros(n_bars)
    rhythm_seen, interval_seen = set(), set()
    rhythm_repeats = interval_repeats = 0
    for bar in range(n_bars):
        notes = skyline[bars == bar]
        rhythm = tuple(np.rint((notes["start"] - starts[bar]) * RESOLUTION).astype(int))
        intervals = tuple(np.diff(notes["pitch"].astype(int)))
        if bar and rhythm and rhythm in rhythm_seen:
            rhythm_repeats += 1
        if bar and intervals and intervals in interval_seen:
            interval_repeats += 1
        rhythm_seen.add(rhythm)
        interval_seen.add(intervals)
    later = n_bars - 1
    return {
        "onsets_per_bar": float(counts.mean()) if n_bars else math.nan,
        "onsets_per_bar_std": float(counts.std()) if n_bars else math.nan,
        "repeated_rhythm_share": rhythm_repeats / later if later > 0 else math.nan,
        "repeated_interval_share": interval_repeats / later if later > 0 else math.nan,
    }


def _accompaniment_features(tune: Tune, skyline: np.ndarray, n_bars: int) -> dict[str, float]:
    pitched = [track for track in tune.tracks if not track.is_drum]
    others = [track.notes for track in pitched[1:] if len(track.notes)]
    if not others:
        return {"has_accompaniment": 0.0, "accompaniment_onsets_per_bar": 0.0,
                "accompaniment_notes_per_onset": 0.0, "melody_in_accompaniment": math.nan}
    notes = np.concatenate(others)
    onsets = np.unique(np.rint(notes["start"] * RESOLUTION))
    ends = notes["start"] + notes["duration"]
    agree = []
    for onset, pitch in zip(skyline["start"], skyline["pitch"]):
        sounding = notes["pitch"][(notes["start"] <= onset + _TOL) & (ends > onset + _TOL)]
        if len(sounding):
            agree.append(int(pitch) % 12 in set(sounding.astype(int) % 12))
    return {"has_accompaniment": 1.0, "accompaniment_onsets_per_bar": len(onsets) / max(n_bars, 1),
            "accompaniment_notes_per_onset": len(notes) / len(onsets),
            "melody_in_accompaniment": _share(np.asarray(agree, dtype=bool))}


def c2st_piece_features(tune: Tune) -> dict[str, Any]:
    """The C2ST features that :mod:`.features` does not compute, for one piece."""
    skyline = _skyline(melody_track(tune))
    starts = tune.bar_starts()
    return {
        **_interval_features(skyline["pitch"].astype(np.int64)),
        "melody_polyphony_share": melody_polyphony(tune),
        **_repetition_features(skyline, starts),
        **_accompaniment_features(tune, skyline, len(starts)),
    }


def c2st_features(tunes: Sequence[Tune], *, base: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
    """The ``(n, d)`` feature matrix of a set (columns :func:`c2st_feature_names`, NaN where undefined).

    Parameters
    ----------
    tunes
        The pieces, already cut to the length to compare (:func:`~.features.excerpt`).
    base
        Their :func:`~.features.set_features`, when already computed (rows in the same order).
    """
    tunes = list(tunes)
    if not tunes:
        raise ValueError("the set holds no pieces")
    base = set_features(tunes) if base is None else base
    rows = [c2st_piece_features(tune) for tune in tunes]
    columns = []
    for name in C2ST_FEATURES:
        values = base[name] if name in _FROM_FEATURES else np.asarray([row[name] for row in rows], dtype=float)
        values = np.asarray(values, dtype=float)
        if len(values) != len(tunes):
            raise ValueError(f"base[{name!r}] holds {len(values)} rows for {len(tunes)} pieces")
        columns.append(values.reshape(len(tunes), -1))
    return np.concatenate(columns, axis=1)


@dataclass
class C2STResult:
    """One classifier's two-sample test; ``accuracy`` is None (with a ``reason``) when not run."""

    classifier: str
    accuracy: float | None
    low: float | None
    high: float | None
    p_value: float | None
    correct: int
    n: int
    per_class: int
    folds: int
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pipeline(classifier: str, seed: int) -> Any:
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    impute = SimpleImputer(strategy="median", keep_empty_features=True)
    if classifier == "logistic":
        return make_pipeline(impute, StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    if classifier == "boosting":
        return make_pipeline(impute, GradientBoostingClassifier(n_estimators=100, max_depth=2, learning_rate=0.1,
                                                                random_state=seed))
    raise ValueError(f"unknown classifier {classifier!r}; choose from {C2ST_CLASSIFIERS}")


def _as_matrix(pieces: Sequence[Tune] | np.ndarray) -> np.ndarray:
    if isinstance(pieces, np.ndarray):
        if pieces.ndim != 2:
            raise ValueError(f"a feature matrix must be 2-D, got shape {pieces.shape}")
        return pieces.astype(float)
    return c2st_features(pieces) if len(pieces) else np.zeros((0, len(c2st_feature_names())))


def classifier_test(
    real: Sequence[Tune] | np.ndarray,
    generated: Sequence[Tune] | np.ndarray,
    *,
    seed: int | Sequence[int] = 0,
    folds: int = _FOLDS,
    classifiers: Sequence[str] = C2ST_CLASSIFIERS,
) -> dict[str, C2STResult]:
    """Classifier two-sample test of ``real`` against ``generated``, one result per classifier.

    Parameters
    ----------
    real, generated
        Tunes (cut to the same number of bars by the caller) or their
        :func:`c2st_features` matrices.
    seed
        Seed (an int or a sequence, as for ``numpy.random.default_rng``) of the
        balancing subsample and of the fold split; the same seed gives the same result.
    folds
        Stratified folds (fewer when a class has fewer pieces than that).
    classifiers
        Names from :data:`C2ST_CLASSIFIERS`.

    Returns
    -------
    dict
        Classifier name to :class:`C2STResult`: held-out accuracy, its 95%
        Clopper–Pearson interval, the one-sided binomial p-value against 0.5, the
        number of held-out predictions and folds.
    """
    from scipy.stats import beta, binomtest
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    x_real, x_generated = _as_matrix(real), _as_matrix(generated)
    if x_real.shape[1] != x_generated.shape[1]:
        raise ValueError(f"feature widths differ: {x_real.shape[1]} and {x_generated.shape[1]}")
    if not isinstance(folds, (int, np.integer)) or folds < 2:
        raise ValueError(f"folds must be an integer >= 2, got {folds!r}")
    rng = np.random.default_rng(seed)
    m = min(len(x_real), len(x_generated))
    if m < MIN_PER_CLASS:
        reason = f"needs >= {MIN_PER_CLASS} pieces per set, got {len(x_real)} real and {len(x_generated)} generated"
        return {name: C2STResult(name, None, None, None, None, 0, 0, m, 0, reason) for name in classifiers}
    x = np.concatenate([x_real[np.sort(rng.permutation(len(x_real))[:m])],
                        x_generated[np.sort(rng.permutation(len(x_generated))[:m])]])
    y = np.repeat([0, 1], m)
    n_folds = min(int(folds), m)
    split_seed = int(rng.integers(2**31 - 1))
    results = {}
    for name in classifiers:
        cv = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=split_seed)
        predicted = cross_val_predict(_pipeline(name, split_seed), x, y, cv=cv)
        correct, n = int(np.count_nonzero(predicted == y)), len(y)
        low = float(beta.ppf(0.025, correct, n - correct + 1)) if correct > 0 else 0.0
        high = float(beta.ppf(0.975, correct + 1, n - correct)) if correct < n else 1.0
        p_value = float(binomtest(correct, n, 0.5, alternative="greater").pvalue)
        results[name] = C2STResult(name, correct / n, low, high, p_value, correct, n, m, n_folds)
    return results


def classifier_test_by_group(
    real: Sequence[Tune] | np.ndarray,
    generated: Sequence[Tune] | np.ndarray,
    *,
    seed: int | Sequence[int] = 0,
    folds: int = _FOLDS,
    classifier: str = "logistic",
    groups: Sequence[str] = C2ST_GROUPS,
) -> dict[str, C2STResult]:
    """The two-sample test on each feature group alone: which kind of feature gives a set away.

    The same protocol as :func:`classifier_test` (the same seed gives the same
    subsample and folds), with the classifier restricted to one group's columns of
    :data:`C2ST_FEATURES`: an accuracy near 0.5 says that group alone cannot tell the
    sets apart; the group with the highest accuracy is where a model's pieces differ
    most from real ones. Groups overlap in what they see (repetition and rhythm both
    look at onsets), so the accuracies do not add up to the whole test's.

    Parameters
    ----------
    real, generated, seed, folds
        As for :func:`classifier_test`.
    classifier
        One name from :data:`C2ST_CLASSIFIERS` (the linear one by default: fast, and
        its accuracy reads as "some weighted sum of this group's features differs").
    groups
        Names from :data:`C2ST_GROUPS`.

    Returns
    -------
    dict
        Group name to :class:`C2STResult`.
    """
    x_real, x_generated = _as_matrix(real), _as_matrix(generated)
    width = len(c2st_feature_names())
    if x_real.shape[1] != width or x_generated.shape[1] != width:
        raise ValueError(f"feature matrices must have the {width} columns of c2st_features, "
                         f"got {x_real.shape[1]} and {x_generated.shape[1]}")
    results = {}
    for group in groups:
        columns = c2st_group_columns(group)
        results[group] = classifier_test(x_real[:, columns], x_generated[:, columns], seed=seed, folds=folds,
                                         classifiers=(classifier,))[classifier]
    return results
