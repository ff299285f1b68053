"""MuseGAN's objective metrics for multi-track piano-roll bars, and a mode-collapse measure.

All functions take boolean (or 0/1) **bars** shaped ``(n, steps, pitches, tracks)``;
phrases ``(n, bars, steps, pitches, tracks)`` are accepted too and cut into their bars.
Numbers are per track (a list, track 0 first) unless said otherwise. The metrics follow
Dong et al. (2018), "MuseGAN: Multi-track sequential generative adversarial networks
for symbolic music generation and accompaniment" (AAAI):

EBR, empty-bar rate
    Share of bars in which a track plays nothing.
UPC, used pitch classes per bar
    How many of the 12 pitch classes a track uses in a bar, averaged over the bars in
    which the track plays (MuseGAN's code averages over all bars, empty ones counting 0;
    leaving them out keeps UPC separate from EBR).
QN, qualified-note rate
    Notes of at least ``min_steps`` steps (3 by default: a dotted eighth on a sixteenth
    grid) over all notes. A *note* is a run of consecutive active steps of one pitch in
    one track inside a bar (the rule :meth:`PianoRollEncoding.decode` uses). Low QN means
    fragmented, choppy output.
TD, tonal distance
    Harte, Sandler & Gasser (2006)'s tonal-centroid distance between the chroma of two
    tracks in the same bar (each chroma weighted by duration and normalised to sum 1,
    projected to 6-D: fifths, minor thirds, major thirds circles with radii 1, 1, 0.5),
    averaged over bars where both tracks play. Lower: the tracks agree harmonically.

The **collapse measure** asks whether a generator produces varied bars: the mean
pairwise Hamming distance between generated bars divided by the same between real
bars (each on a random sample of at most ``max_bars`` bars). About 1: as varied as the
data; near 0: the generator repeats itself (mode collapse); far above 1: noise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "as_bars",
    "note_lengths",
    "flat_metrics",
    "empty_bar_rate",
    "used_pitch_classes",
    "qualified_note_rate",
    "tonal_distance",
    "tonal_matrix",
    "mean_pairwise_distance",
    "collapse_ratio",
    "bar_metrics",
    "metrics_table",
    "format_table",
    "QUALIFIED_STEPS",
]

QUALIFIED_STEPS = 3
"""Shortest qualified note, in steps (MuseGAN: 3 steps)."""

_PITCH_CLASSES = 12
_BAR_DIMS = 4
_PHRASE_DIMS = 5
_MAX_BARS = 2000


def as_bars(rolls: Any, *, threshold: float = 0.5) -> np.ndarray:
    """Boolean bars ``(n, steps, pitches, tracks)`` from bars or phrases.

    Numbers are compared with ``threshold`` (a cell is on when ``> threshold``).
    """
    rolls = np.asarray(rolls)
    if rolls.ndim == _PHRASE_DIMS:
        rolls = rolls.reshape(-1, *rolls.shape[2:])
    if rolls.ndim != _BAR_DIMS:
        raise ValueError(
            f"expected bars (n, steps, pitches, tracks) or phrases (n, bars, steps, pitches, tracks), "
            f"got shape {rolls.shape}"
        )
    return rolls if rolls.dtype == bool else rolls > threshold


def _per_track(values: np.ndarray) -> list[float]:
    return [float(v) for v in values]


def empty_bar_rate(bars: Any) -> list[float]:
    """Per track: share of bars with no active cell (``nan`` with no bars)."""
    bars = as_bars(bars)
    if not len(bars):
        return [float("nan")] * bars.shape[-1]
    return _per_track(np.mean(~bars.any(axis=(1, 2)), axis=0))


def _chroma(bars: np.ndarray, lowest_pitch: int) -> np.ndarray:
    """``(n, tracks, 12)`` active-step counts per pitch class (duration-weighted)."""
    counts = bars.sum(axis=1, dtype=np.int64)  # (n, pitches, tracks)
    pitch_class = (lowest_pitch + np.arange(bars.shape[2])) % _PITCH_CLASSES
    chroma = np.zeros((bars.shape[0], bars.shape[3], _PITCH_CLASSES), dtype=np.float64)
    for pc in range(_PITCH_CLASSES):
        chroma[:, :, pc] = counts[:, pitch_class == pc, :].sum(axis=1)
    return chroma


def used_pitch_classes(bars: Any, *, lowest_pitch: int = 24) -> list[float]:
    """Per track: mean number of pitch classes used in a bar, over bars where it plays."""
    bars = as_bars(bars)
    used = (_chroma(bars, lowest_pitch) > 0).sum(axis=2)  # (n, tracks)
    playing = bars.any(axis=(1, 2))
    out = []
    for track in range(bars.shape[-1]):
        mine = used[playing[:, track], track]
        out.append(float(mine.mean()) if len(mine) else float("nan"))
    return out


def note_lengths(bars: Any) -> list[np.ndarray]:
    """Per track: the lengths in steps of all notes (runs of active steps inside a bar)."""
    bars = as_bars(bars)
    lengths = []
    for track in range(bars.shape[-1]):
        # (n, pitches, steps) padded with an off step on both sides
        runs = np.pad(np.transpose(bars[..., track], (0, 2, 1)).astype(np.int8), ((0, 0), (0, 0), (1, 1)))
        change = np.diff(runs, axis=2)
        starts = np.nonzero(change.ravel() == 1)[0]
        ends = np.nonzero(change.ravel() == -1)[0]  # same order: each start pairs with the next end
        lengths.append(ends - starts)
    return lengths


def qualified_note_rate(bars: Any, *, min_steps: int = QUALIFIED_STEPS) -> list[float]:
    """Per track: notes of at least ``min_steps`` steps over all notes (``nan`` with no notes)."""
    out = []
    for lengths in note_lengths(bars):
        out.append(float(np.mean(lengths >= min_steps)) if len(lengths) else float("nan"))
    return out


def tonal_matrix(r1: float = 1.0, r2: float = 1.0, r3: float = 0.5) -> np.ndarray:
    """Harte et al.'s ``(6, 12)`` projection of a chroma vector to the tonal centroid."""
    pc = np.arange(_PITCH_CLASSES)
    return np.stack(
        [
            r1 * np.sin(pc * 7 * np.pi / 6),
            r1 * np.cos(pc * 7 * np.pi / 6),
            r2 * np.sin(pc * 3 * np.pi / 2),
            r2 * np.cos(pc * 3 * np.pi / 2),
            r3 * np.sin(pc * 2 * np.pi / 3),
            r3 * np.cos(pc * 2 * np.pi / 3),
        ]
    )


def tonal_distance(bars: Any, *, tracks: tuple[int, int] = (0, 1), lowest_pitch: int = 24) -> float:
    """Mean tonal-centroid distance between two tracks, over bars where both play.

    ``nan`` when there are fewer than two tracks or no bar where both play.
    """
    bars = as_bars(bars)
    a, b = tracks
    if bars.shape[-1] <= max(a, b):
        return float("nan")
    chroma = _chroma(bars, lowest_pitch)
    both = (chroma[:, a].sum(axis=1) > 0) & (chroma[:, b].sum(axis=1) > 0)
    if not both.any():
        return float("nan")
    ca = chroma[both, a] / chroma[both, a].sum(axis=1, keepdims=True)
    cb = chroma[both, b] / chroma[both, b].sum(axis=1, keepdims=True)
    matrix = tonal_matrix()
    return float(np.mean(np.linalg.norm(ca @ matrix.T - cb @ matrix.T, axis=1)))


def _sample(bars: np.ndarray, max_bars: int, seed: int) -> np.ndarray:
    if len(bars) <= max_bars:
        return bars
    chosen = np.sort(np.random.default_rng(seed).choice(len(bars), size=max_bars, replace=False))
    return bars[chosen]


def mean_pairwise_distance(bars: Any, *, max_bars: int = _MAX_BARS, seed: int = 0) -> float:
    """Mean Hamming distance (cells that differ) over all pairs of distinct bars.

    At most ``max_bars`` bars (a random sample drawn with ``seed``) are compared.
    ``nan`` with fewer than two bars.
    """
    bars = _sample(as_bars(bars), max_bars, seed)
    n = len(bars)
    if n < 2:
        return float("nan")
    flat = bars.reshape(n, -1).astype(np.float32)
    ones = flat.sum(axis=1, dtype=np.float64)
    overlap = (flat @ flat.T).astype(np.float64)
    # |a xor b| = |a| + |b| - 2 |a and b|, summed over pairs i != j (the diagonal is 0)
    total = 2 * n * ones.sum() - 2 * overlap.sum()
    return float(total / (n * (n - 1)))


def collapse_ratio(real_bars: Any, fake_bars: Any, *, max_bars: int = _MAX_BARS, seed: int = 0) -> float:
    """Mean pairwise distance of generated bars over that of real bars (1: as varied as the data)."""
    real = mean_pairwise_distance(real_bars, max_bars=max_bars, seed=seed)
    fake = mean_pairwise_distance(fake_bars, max_bars=max_bars, seed=seed)
    return float(fake / real) if real > 0 else float("nan")


def bar_metrics(bars: Any, *, lowest_pitch: int = 24, min_steps: int = QUALIFIED_STEPS) -> dict[str, Any]:
    """EBR, UPC, QN per track, TD between tracks 0 and 1, and the notes per bar of one set of bars."""
    bars = as_bars(bars)
    lengths = note_lengths(bars)
    return {
        "bars": int(len(bars)),
        "empty_bar_rate": empty_bar_rate(bars),
        "used_pitch_classes": used_pitch_classes(bars, lowest_pitch=lowest_pitch),
        "qualified_note_rate": qualified_note_rate(bars, min_steps=min_steps),
        "notes_per_bar": [float(len(x) / len(bars)) if len(bars) else float("nan") for x in lengths],
        "tonal_distance": tonal_distance(bars, lowest_pitch=lowest_pitch),
    }


def metrics_table(
    real_bars: Any,
    fake_bars: Any,
    *,
    lowest_pitch: int = 24,
    min_steps: int = QUALIFIED_STEPS,
    max_bars: int = _MAX_BARS,
    seed: int = 0,
) -> dict[str, Any]:
    """The metrics of real and generated bars side by side, plus the collapse measure.

    Parameters
    ----------
    real_bars, fake_bars
        Bars or phrases (boolean, or numbers compared with 0.5).
    lowest_pitch
        MIDI pitch of pitch row 0 (for pitch classes; 24 = C1 in the default encoding).
    min_steps
        Shortest qualified note.
    max_bars, seed
        Sample size for the pairwise distances.

    Returns
    -------
    dict
        ``{"real": bar_metrics(real), "generated": bar_metrics(fake),
        "collapse": {"real_distance", "generated_distance", "ratio"}}``; JSON-ready
        (``nan`` where a metric is undefined).
    """
    real = as_bars(real_bars)
    fake = as_bars(fake_bars)
    if real.shape[1:] != fake.shape[1:]:
        raise ValueError(f"real and generated bars differ in shape: {real.shape[1:]} vs {fake.shape[1:]}")
    real_distance = mean_pairwise_distance(real, max_bars=max_bars, seed=seed)
    fake_distance = mean_pairwise_distance(fake, max_bars=max_bars, seed=seed)
    return {
        "real": bar_metrics(real, lowest_pitch=lowest_pitch, min_steps=min_steps),
        "generated": bar_metrics(fake, lowest_pitch=lowest_pitch, min_steps=min_steps),
        "collapse": {
            "real_distance": real_distance,
            "generated_distance": fake_distance,
            "ratio": float(fake_distance / real_distance) if real_distance > 0 else float("nan"),
        },
    }


def flat_metrics(table: dict[str, Any], which: str = "generated") -> dict[str, float]:
    """One side of :func:`metrics_table` as flat ``name_track`` keys (for per-epoch logs)."""
    side = table[which]
    flat: dict[str, float] = {}
    for key, short in (
        ("empty_bar_rate", "ebr"),
        ("used_pitch_classes", "upc"),
        ("qualified_note_rate", "qn"),
        ("notes_per_bar", "notes"),
    ):
        for track, value in enumerate(side[key]):
            flat[f"{short}_{track}"] = float(value)
    flat["td"] = float(side["tonal_distance"])
    flat["collapse"] = float(table["collapse"]["ratio"])
    return flat


def format_table(table: dict[str, Any], *, track_names: tuple[str, ...] = ("melody", "chords")) -> str:
    """A plain-text table of :func:`metrics_table`'s result: real vs generated, per track."""
    rows = [f"{'metric':<28}{'real':>10}{'generated':>12}{'gen/real':>10}"]

    def add(label: str, real: float | None, fake: float | None, diff: bool = False) -> None:
        real = float("nan") if real is None else real  # None: a NaN read back from JSON
        fake = float("nan") if fake is None else fake
        rel = (fake - real) * 100 if diff else (fake / real if real else float("nan"))
        tail = f"{rel:>+9.1f}p" if diff else f"{rel:>10.2f}"
        rows.append(f"{label:<28}{real:>10.3f}{fake:>12.3f}{tail}")

    real, fake = table["real"], table["generated"]
    n_tracks = len(real["empty_bar_rate"])
    names = [track_names[i] if i < len(track_names) else f"track {i}" for i in range(n_tracks)]
    for i, name in enumerate(names):
        add(f"EBR {name}", real["empty_bar_rate"][i], fake["empty_bar_rate"][i], diff=True)
        add(f"UPC {name}", real["used_pitch_classes"][i], fake["used_pitch_classes"][i])
        add(f"QN {name}", real["qualified_note_rate"][i], fake["qualified_note_rate"][i])
        add(f"notes/bar {name}", real["notes_per_bar"][i], fake["notes_per_bar"][i])
    if n_tracks > 1:
        add("TD (tracks 0-1)", real["tonal_distance"], fake["tonal_distance"])
    collapse = table["collapse"]
    add("pairwise distance (cells)", collapse["real_distance"], collapse["generated_distance"])
    ratio = float("nan") if collapse["ratio"] is None else collapse["ratio"]
    rows.append(f"collapse ratio: {ratio:.3f} (1 = as varied as the data, 0 = collapsed)")
    rows.append("EBR: gen/real column is the difference in percentage points")
    return "\n".join(rows)
