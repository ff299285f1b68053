"""The evaluation table: several seeds per generated set, a real ceiling, 95% intervals.

:func:`table` compares every generated set with the held-out real set over several
seeds, with a "real (ceiling)" row (one random half of the held-out real set against
the other half, a different split per seed) and 95% t-intervals over seeds: MGEval's
overlap areas and KL divergences, memorisation, and the classifier two-sample test's
held-out accuracies (:mod:`.c2st`; real against real calibrates them at 0.5);
:func:`write_table` writes it as Markdown and JSON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from musiclib._files import atomic_write, json_ready, write_json
from musiclib.evaluation.c2st import (
    C2ST_CLASSIFIERS,
    C2ST_FEATURES,
    C2ST_GROUPS,
    MIN_PER_CLASS,
    c2st_features,
    classifier_test,
    classifier_test_by_group,
)
from musiclib.evaluation.features import (
    _MIN_SET,
    FEATURES,
    HEADLINE_FEATURES,
    _muspy,
    excerpt,
    melody_intervals,
    set_features,
)
from musiclib.evaluation.mgeval import _KDE_GRID, compare_sets
from musiclib.evaluation.repetition import REPETITION_THRESHOLD, set_repetition
from musiclib.evaluation.shared_runs import SharedRunIndex, memorisation
from musiclib.tune import Tune

__all__ = [
    "interval95",
    "table",
    "format_markdown",
    "write_table",
]


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


REPORTED_MEANS = ("bar_repetition",)
"""Per-piece numbers reported as means beside the features but not compared by overlap
area: ``bar_repetition`` is :func:`~musiclib.evaluation.repetition.repetition_share`."""


def _features_with_repetition(tunes: Sequence[Tune]) -> dict[str, np.ndarray]:
    (repetition,) = REPORTED_MEANS
    return {**set_features(tunes), repetition: set_repetition(tunes)}


def _feature_means(features: Mapping[str, np.ndarray]) -> dict[str, float]:
    names = [*(name for name, spec in FEATURES.items() if spec.kind == "scalar"), *REPORTED_MEANS]
    return {name: float(np.nanmean(features[name])) if np.isfinite(features[name]).any() else math.nan
            for name in names}


def _subset(features: Mapping[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    return {name: values[rows] for name, values in features.items()}


@dataclass
class _Run:
    """One generated set (or the ceiling's second half) compared with its reference."""

    pieces: int
    comparison: dict[str, Any]
    means: dict[str, float]
    memorised: dict[str, Any] | None
    c2st: dict[str, dict[str, Any]] | None
    c2st_groups: dict[str, dict[str, Any]] | None = None


def _run(reference: Mapping[str, np.ndarray], generated: Mapping[str, np.ndarray], tunes: Sequence[Tune],
         index: SharedRunIndex | None, threshold: int,
         c2st: tuple[np.ndarray, int | Sequence[int]] | None = None) -> _Run:
    """Compare one set; ``c2st`` is the reference's C2ST feature matrix and the test's seed (None: no test)."""
    memorised = memorisation(tunes, index, threshold=threshold) if index is not None else None
    tested = groups = None
    if c2st is not None:
        real, seed = c2st
        matrix = c2st_features(tunes, base=generated)
        tested = {name: result.to_dict() for name, result in classifier_test(real, matrix, seed=seed).items()}
        groups = {name: result.to_dict() for name, result in classifier_test_by_group(real, matrix, seed=seed).items()}
    return _Run(len(tunes), compare_sets(reference, generated), _feature_means(generated), memorised, tested, groups)


def _summary(runs: Sequence[_Run]) -> dict[str, Any]:
    """Mean and 95% interval over seeds of every number the table reports."""
    def over(get: Callable[[_Run], float | None]) -> dict[str, Any]:
        return interval95([get(r) for r in runs])

    memorised = runs[0].memorised is not None
    tested = runs[0].c2st is not None
    return {
        "seeds": len(runs),
        "pieces": [r.pieces for r in runs],
        "overlap_area": over(lambda r: r.comparison["overlap_area"]),
        "kl_divergence": over(lambda r: r.comparison["kl_divergence"]),
        "memorised_share": over(lambda r: r.memorised["share"]) if memorised else None,
        "mean_longest_run": over(lambda r: r.memorised["mean_longest"]) if memorised else None,
        "c2st": ({name: over(lambda r, n=name: r.c2st[n]["accuracy"]) for name in C2ST_CLASSIFIERS}
                 if tested else None),
        "c2st_groups": ({group: over(lambda r, g=group: r.c2st_groups[g]["accuracy"]) for group in C2ST_GROUPS}
                        if tested else None),
        "c2st_skipped": sorted({r.c2st[n]["reason"] for r in runs for n in C2ST_CLASSIFIERS
                                if r.c2st[n]["reason"]}) if tested else None,
        "feature_means": {name: over(lambda r, n=name: r.means[n]) for name in runs[0].means},
        "per_feature": {
            name: {key: over(lambda r, n=name, k=key: r.comparison["features"][n][k])
                   for key in ("overlap_area", "kl_divergence", "intra_generated", "inter")}
            for name in FEATURES
        },
    }


def table(
    generated: Mapping[str, Sequence[Sequence[Tune]]],
    reference: Sequence[Tune],
    *,
    training: Sequence[Tune] | None = None,
    ceiling: bool = True,
    ceiling_splits: int | None = None,
    seed: int = 0,
    excerpt_bars: int | None = None,
    threshold: int = 16,
    c2st: bool = True,
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
    c2st
        Run the classifier two-sample test (:func:`~.c2st.classifier_test`, both
        classifiers) on every set: the ceiling's halves against each other, every
        generated set against the whole reference (the larger set subsampled to the
        smaller); seeded by ``seed``, the row and the set. A set with fewer than
        :data:`~.c2st.MIN_PER_CLASS` pieces gets no accuracy but a reason.
    progress
        Called with a short message before each set is compared.

    Returns
    -------
    dict
        JSON-ready: ``config``, ``reference`` (pieces, feature means, memorisation)
        and ``rows``, each with ``name`` and :func:`_summary`'s numbers (mean, 95%
        interval ``low``/``high`` and ``n`` seeds for each; ``c2st``: the accuracy of
        each classifier) plus per-seed ``runs`` (with each seed's full C2ST result:
        accuracy, Clopper–Pearson interval, p-value, predictions, folds).
    """
    say = progress or (lambda message: None)

    def cut(tunes: Sequence[Tune]) -> list[Tune]:
        return [excerpt(t, n_bars=excerpt_bars) for t in tunes] if excerpt_bars else list(tunes)

    reference = cut(reference)
    say(f"features of {len(reference)} reference pieces")
    reference_features = _features_with_repetition(reference)
    reference_c2st = c2st_features(reference, base=reference_features) if c2st else None
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
            tested = (reference_c2st[first], [seed, 0, split]) if c2st else None
            runs.append(_run(_subset(reference_features, first), _subset(reference_features, second),
                             [reference[i] for i in second], index, threshold, tested))
        rows.append(("real (ceiling)", runs))
    for row, (name, sets) in enumerate(generated.items(), start=1):
        if not len(sets):
            raise ValueError(f"no sets for {name!r}")
        runs = []
        for number, tunes in enumerate(sets):
            say(f"{name}, seed {number + 1}/{len(sets)}: {len(tunes)} pieces")
            tunes = cut(tunes)
            tested = (reference_c2st, [seed, row, number]) if c2st else None
            runs.append(_run(reference_features, _features_with_repetition(tunes), tunes, index, threshold, tested))
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
            "bar_repetition": (f"share of bars after the first whose melody has Jaccard similarity >= "
                               f"{REPETITION_THRESHOLD} with an earlier bar's (musiclib.evaluation.repetition)"),
            "kde": (f"scipy.stats.gaussian_kde (Scott) on {_KDE_GRID} points; "
                    "KL(intra-reference || inter) in nats"),
            "c2st": {
                "classifiers": {"logistic": "median imputation + StandardScaler + LogisticRegression(C=1, L2)",
                                "boosting": "median imputation + GradientBoostingClassifier(100 trees, depth 2)"},
                "protocol": ("larger set subsampled to the smaller (seeded); stratified shuffled k-fold, "
                             f"k = min(5, pieces per class); none below {MIN_PER_CLASS} pieces per class; "
                             "accuracy over all held-out predictions"),
                "interval": "Clopper-Pearson 95% per seed; one-sided binomial test against 0.5",
                "features": {name: {"group": group, "description": text, "columns": width}
                             for name, (group, text, width) in C2ST_FEATURES.items()},
            } if c2st else None,
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
                       "longest_runs": r.memorised["longest"] if r.memorised else None,
                       "c2st": r.c2st, "c2st_groups": r.c2st_groups} for r in runs]}
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
    """The table from :func:`table` as Markdown: a summary and a per-feature overlap table."""
    config, reference, rows = table["config"], table["reference"], table["rows"]
    headline = [name for name in (*HEADLINE_FEATURES, *REPORTED_MEANS) if name in reference["feature_means"]]
    memorised = reference.get("memorised_share") is not None
    threshold = config["threshold"]
    tested = [name for name in C2ST_CLASSIFIERS if rows and rows[0].get("c2st")]
    lines = [f"## {title}", ""] if title else []
    header = ["set", "pieces × seeds", "overlap area ↑", "KL divergence ↓"]
    header += [f"C2ST acc. ({name}) → 0.5" for name in tested]
    header += [f"memorised (run ≥ {threshold})", "longest shared run"] if memorised else []
    header += [name.replace("_", " ") for name in headline]
    lines += ["| " + " | ".join(header) + " |", "|---|---:|" + "---:|" * (len(header) - 2)]
    cells = ["held-out reference", f"{reference['pieces']}", "—", "—"] + ["—"] * len(tested)
    if memorised:
        cells += [_plain(reference["memorised_share"]), _plain(reference["mean_longest_run"], 1)]
    cells += [_plain(reference["feature_means"][name]) for name in headline]
    lines.append("| " + " | ".join(cells) + " |")
    for row in rows:
        pieces = sorted(set(row["pieces"]))
        size = str(pieces[0]) if len(pieces) == 1 else f"{pieces[0]}–{pieces[-1]}"
        cells = [row["name"], f"{size} × {row['seeds']}", _cell(row["overlap_area"]),
                 _cell(row["kl_divergence"])]
        cells += [_cell(row["c2st"][name]) + ("*" if row["c2st_skipped"] else "") for name in tested]
        cells += [_cell(row["memorised_share"]), _cell(row["mean_longest_run"], 1)] if memorised else []
        cells += [_cell(row["feature_means"][name]) for name in headline]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Overlap area per feature (reference intra-set vs inter-set distance densities):", ""]
    lines += ["| feature | " + " | ".join(row["name"] for row in rows) + " |", "|---|" + "---:|" * len(rows)]
    for name in FEATURES:
        lines.append(f"| {name.replace('_', ' ')} | "
                     + " | ".join(_cell(row["per_feature"][name]["overlap_area"], 2) for row in rows) + " |")
    if tested and all(row.get("c2st_groups") for row in rows):
        lines += ["", "C2ST accuracy (logistic) with one feature group alone: what gives a set away (→ 0.5):", ""]
        lines += ["| feature group | " + " | ".join(row["name"] for row in rows) + " |", "|---|" + "---:|" * len(rows)]
        for group in C2ST_GROUPS:
            lines.append(f"| {group} | " + " | ".join(_cell(row["c2st_groups"][group], 2) for row in rows) + " |")
    bars = config.get("excerpt_bars")
    skipped = sorted({reason for row in rows for reason in (row.get("c2st_skipped") or ())})
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
    if tested:
        lines += [
            "",
            "C2ST: held-out accuracy of a classifier telling the set's pieces from real ones (Lopez-Paz & "
            "Oquab 2017) on per-piece melody, harmony, rhythm and repetition features; "
            "0.5 = indistinguishable, 1 = always told apart. Balanced classes, stratified 5-fold "
            "cross-validation (fewer folds for tiny sets); logistic = standardised L2 logistic regression, "
            "boosting = gradient-boosted depth-2 trees. Per-seed "
            "Clopper–Pearson intervals and binomial p-values are in the JSON. The feature-group table "
            "reruns the logistic test on one group's columns at a time (the same subsample and folds; "
            "groups in the JSON's config), so its highest row names what tells a set from real pieces."
            + (" *Not run for some seeds (— when for all): " + "; ".join(skipped) + "." if skipped else ""),
        ]
    return "\n".join(lines) + "\n"


def write_table(table: Mapping[str, Any], path: str | Path, *, title: str | None = None) -> tuple[Path, Path]:
    """Write ``path`` with suffixes ``.md`` and ``.json`` atomically; return both paths."""
    path = Path(path)
    markdown, data = path.with_suffix(".md"), path.with_suffix(".json")
    atomic_write(markdown, format_markdown(table, title=title))
    write_json(data, table)
    return markdown, data
