"""Set comparison in the manner of MGEval (Yang & Lerch 2018).

For every feature, :func:`compare_sets` takes the pairwise distances inside the
reference set (leave-one-out: each piece against every *other* piece), inside the
generated set, and between the two sets; a Gaussian kernel density estimate of
each distance distribution; the KL divergence of the reference's intra-set
density from the inter-set density and the area where the two overlap. A
generated set that is "like the reference" has inter-set distances distributed as
the reference's own intra-set distances: overlap area near 1, KL near 0.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from musiclib.evaluation.features import _MIN_SET, FEATURES

__all__ = [
    "intra_set_distances",
    "inter_set_distances",
    "density",
    "kl_divergence",
    "overlap_area",
    "compare_feature",
    "compare_sets",
]


_KDE_GRID = 512  # points at which the densities are evaluated
_KDE_EXACT_MAX = 5_000  # above this many values, density() bins them first (see _binned_kde)
_KDE_BINS = 4_096
_KL_FLOOR = 1e-10  # smallest probability of the inter-set density in the KL sum
_DEGENERATE_WIDTH = 0.01  # width (share of the grid span) of the bump standing in for a zero-variance KDE


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
