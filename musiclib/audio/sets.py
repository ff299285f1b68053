"""Audio features per *set* of pieces, and how far one set lies from another.

One picture of one piece proves little: :func:`set_features` stacks the features of
:func:`musiclib.audio.analysis.features` for a set of pieces, and :func:`compare_sets`
measures how far a set (generated music) lies from a reference set (held-out real
music), feature by feature. :func:`analyze_sets` renders and describes several sets in
one call, optionally in worker processes.

None of these features says whether music is *good*; they describe its sound (pitch
content, brightness, note density, loudness), which is why a set-level comparison
with real music, and a floor such as random notes rendered the same way, is needed to
read them.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import time
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np

from musiclib._processes import process_pool
from musiclib.audio.analysis import SCALAR_FEATURES, SpectrogramConfig, _check_config, _normalised, features
from musiclib.audio.synthesis import check_backend, get_renderer
from musiclib.tune import Tune

__all__ = [
    "SetFeatures",
    "set_features",
    "compare_sets",
    "format_comparison",
    "render_set",
    "analyze_sets",
]


@dataclass(frozen=True, eq=False)
class SetFeatures:
    """The :func:`features` of every piece of a set, stacked: one row per piece.

    Attributes
    ----------
    seconds, sounding_fraction, zcr_mean, centroid_mean, centroid_std, onset_rate, rms_mean, chroma_entropy
        ``(n,)`` arrays of the per-piece values (see :func:`features`).
    chroma_profile
        ``(n, 12)`` per-piece pitch-class profiles (rows sum to 1, or 0 for silence).
    log_mel_profile
        ``(n, n_mels)`` per-piece mean log-mel frames in dB.
    config
        The settings they were computed with.
    label
        A name for tables and legends.
    """

    seconds: np.ndarray
    sounding_fraction: np.ndarray
    zcr_mean: np.ndarray
    centroid_mean: np.ndarray
    centroid_std: np.ndarray
    onset_rate: np.ndarray
    rms_mean: np.ndarray
    chroma_entropy: np.ndarray
    chroma_profile: np.ndarray
    log_mel_profile: np.ndarray
    config: SpectrogramConfig = SpectrogramConfig()
    label: str = ""

    def __post_init__(self) -> None:
        n = len(self.seconds)
        if n == 0:
            raise ValueError("a SetFeatures needs at least one piece")
        for name in ("seconds", "sounding_fraction", *SCALAR_FEATURES):
            if np.shape(getattr(self, name)) != (n,):
                shape = np.shape(getattr(self, name))
                raise ValueError(f"SetFeatures.{name} must have shape ({n},), got {shape}")
        if np.shape(self.chroma_profile) != (n, 12):
            shape = np.shape(self.chroma_profile)
            raise ValueError(f"SetFeatures.chroma_profile must have shape ({n}, 12), got {shape}")
        if np.shape(self.log_mel_profile) != (n, self.config.n_mels):
            raise ValueError(
                f"SetFeatures.log_mel_profile must have shape ({n}, {self.config.n_mels}), "
                f"got {np.shape(self.log_mel_profile)}"
            )

    def __len__(self) -> int:
        return len(self.seconds)

    def __repr__(self) -> str:
        seconds = float(self.seconds.sum())
        return f"SetFeatures(label={self.label!r}, pieces={len(self)}, seconds={seconds:.1f})"

    @property
    def mean_chroma_profile(self) -> np.ndarray:
        """The set's pitch-class profile: the mean of the pieces' profiles, scaled to sum to 1."""
        return _normalised(self.chroma_profile.mean(axis=0))

    @property
    def mean_log_mel_profile(self) -> np.ndarray:
        """The set's mean log-mel frame in dB (mean of the pieces' profiles)."""
        return self.log_mel_profile.mean(axis=0)

    def scalars(self) -> dict[str, np.ndarray]:
        """The scalar features by name (see :data:`SCALAR_FEATURES`)."""
        return {name: getattr(self, name) for name in SCALAR_FEATURES}


def set_features(
    audios: Iterable[Any], *, config: SpectrogramConfig = SpectrogramConfig(), label: str = ""
) -> SetFeatures:
    """Compute :func:`features` for every piece of a set.

    Parameters
    ----------
    audios
        Mono audio arrays (or Rendered objects) at ``config.sample_rate``.
    config
        Analysis settings.
    label
        Name of the set, kept in the result.

    Returns
    -------
    SetFeatures

    Raises
    ------
    ValueError
        For an empty set.
    """
    config = _check_config(config)
    return _set_from_rows([features(audio, config=config) for audio in audios], config=config, label=label)


def _set_from_rows(rows: list[dict[str, Any]], *, config: SpectrogramConfig, label: str) -> SetFeatures:
    """Stack the :func:`features` of every piece into a :class:`SetFeatures`."""
    if not rows:
        raise ValueError(f"set {label!r} is empty: nothing to analyse")
    names = ("seconds", "sounding_fraction", *SCALAR_FEATURES)
    columns = {name: np.array([row[name] for row in rows], dtype=np.float64) for name in names}
    return SetFeatures(
        **columns,
        chroma_profile=np.stack([row["chroma_profile"] for row in rows]),
        log_mel_profile=np.stack([row["log_mel_profile"] for row in rows]),
        config=config,
        label=label,
    )


def _float_or_none(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _cosine_distance(a: np.ndarray, b: np.ndarray) -> float | None:
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    if norms == 0:
        return None
    return float(min(max(1.0 - float(np.dot(a, b)) / norms, 0.0), 2.0))


def compare_sets(reference: SetFeatures, other: SetFeatures) -> dict[str, Any]:
    """How far ``other`` lies from ``reference``, feature by feature.

    For each scalar feature (:data:`SCALAR_FEATURES`): both sets' means and standard
    deviations over pieces; the 1-D Wasserstein (earth mover's) distance between the
    two distributions of per-piece values (``scipy.stats.wasserstein_distance``, in the
    feature's unit), the same divided by the reference's standard deviation (a unit-free
    size, ``None`` when that is 0), and the two-sample Kolmogorov–Smirnov statistic and
    p-value (``scipy.stats.ks_2samp``; the statistic is the largest gap between the two
    empirical distribution functions, 0 to 1). For the profiles: the cosine distance
    and the L1 distance between the sets' mean pitch-class profiles (each summing to 1,
    so L1 is in [0, 2]), and the mean absolute difference in dB between the sets' mean
    log-mel frames.

    A set compared with itself gives zero distances. With few pieces, expect the
    distances between two sets of real music to be well above zero too: compare a
    generated set's distances with those of a second real set, not with zero.

    Parameters
    ----------
    reference
        Features of the reference set (real music, ideally held out from training).
    other
        Features of the set to compare.

    Returns
    -------
    dict
        ``{"reference", "other", "n_reference", "n_other", "scalars": {name: {...}},
        "chroma_profile": {"cosine_distance", "l1"}, "log_mel_profile":
        {"mean_abs_db_difference"}}``, JSON-ready (floats, undefined values as ``None``).

    Raises
    ------
    ValueError
        When the sets were computed with different settings.
    """
    from scipy import stats

    for name, value in (("reference", reference), ("other", other)):
        if not isinstance(value, SetFeatures):
            raise TypeError(f"{name} must be a SetFeatures (from set_features), got {type(value).__name__}")
    if reference.config != other.config:
        raise ValueError(
            f"the sets were analysed with different settings: {reference.config} vs {other.config}"
        )
    scalars = {}
    for name in SCALAR_FEATURES:
        a, b = getattr(reference, name), getattr(other, name)
        distance = float(stats.wasserstein_distance(a, b))
        spread = float(a.std())
        ks = stats.ks_2samp(a, b)
        scalars[name] = {
            "reference_mean": float(a.mean()),
            "reference_std": spread,
            "other_mean": float(b.mean()),
            "other_std": float(b.std()),
            "wasserstein": distance,
            "wasserstein_scaled": distance / spread if spread > 0 else None,
            "ks_statistic": float(ks.statistic),
            "ks_pvalue": _float_or_none(ks.pvalue),
        }
    chroma_a, chroma_b = reference.mean_chroma_profile, other.mean_chroma_profile
    mel_difference = np.abs(reference.mean_log_mel_profile - other.mean_log_mel_profile)
    return {
        "reference": reference.label,
        "other": other.label,
        "n_reference": len(reference),
        "n_other": len(other),
        "scalars": scalars,
        "chroma_profile": {
            "cosine_distance": _cosine_distance(chroma_a, chroma_b),
            "l1": float(np.abs(chroma_a - chroma_b).sum()),
        },
        "log_mel_profile": {
            "mean_abs_db_difference": float(mel_difference.mean()),
        },
    }


_FEATURE_NAMES = {
    "zcr_mean": "mean ZCR",
    "centroid_mean": "spectral centroid (Hz)",
    "centroid_std": "centroid spread (Hz)",
    "onset_rate": "onsets per second",
    "rms_mean": "mean RMS",
    "chroma_entropy": "pitch-class entropy (bits)",
}


def _number(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def format_comparison(set_features: Mapping[str, SetFeatures], comparisons: Mapping[str, dict[str, Any]]) -> str:
    """A plain-text table: each set's feature means, then each set's distances to the reference.

    Parameters
    ----------
    set_features
        Label → features of every set (reference included).
    comparisons
        Label → :func:`compare_sets` result against the reference (the reference itself
        left out).

    Returns
    -------
    str
        Rows per feature: mean ± standard deviation per set; then the Kolmogorov–Smirnov
        statistic and the Wasserstein distance in reference standard deviations (``W/σ``)
        per compared set, and the profile distances.
    """
    width = max(22, *(len(label) + 2 for label in set_features))
    lines = ["Per-set mean ± standard deviation over pieces",
             f"{'':38}" + "".join(f"{label:>{width}}" for label in set_features)]
    for name in SCALAR_FEATURES:
        cells = (f"{getattr(f, name).mean():.4g} ± {getattr(f, name).std():.3g}" for f in set_features.values())
        lines.append(f"{_FEATURE_NAMES[name]:38}" + "".join(f"{cell:>{width}}" for cell in cells))
    reference = next((c["reference"] for c in comparisons.values()), "the reference")
    lines += ["", f"Distance to {reference}", f"{'':38}" + "".join(f"{label:>{width}}" for label in comparisons)]
    for name in SCALAR_FEATURES:
        cells = (f"{_number(c['scalars'][name]['ks_statistic'], 2)}, {_number(c['scalars'][name]['wasserstein_scaled'], 1)}"
                 for c in comparisons.values())
        lines.append(f"{_FEATURE_NAMES[name] + ': KS, W/σ':38}" + "".join(f"{cell:>{width}}" for cell in cells))
    for title, part, key, digits in [("pitch-class profile: cosine", "chroma_profile", "cosine_distance", 4),
                                     ("pitch-class profile: L1", "chroma_profile", "l1", 3),
                                     ("mean log-mel: |dB| apart", "log_mel_profile", "mean_abs_db_difference", 2)]:
        lines.append(f"{title:38}" + "".join(f"{_number(c[part][key], digits):>{width}}" for c in comparisons.values()))
    return "\n".join(lines)


def _trimmed(tune: Tune, seconds: float) -> Tune:
    """The tune without the notes that start at or after ``seconds`` (faster to render)."""
    tracks = []
    for track in tune.tracks:
        starts = track.notes["start"]
        keep = np.fromiter((tune.seconds(float(t)) < seconds for t in starts), dtype=bool, count=len(starts))
        tracks.append(dataclasses.replace(track, notes=track.notes[keep]))
    return tune.replace(tracks=tuple(tracks))


def _check_max_seconds(max_seconds: Any) -> None:
    if max_seconds is not None and (
        isinstance(max_seconds, bool)
        or not isinstance(max_seconds, (int, float))
        or not 0 < max_seconds < math.inf
    ):
        raise ValueError(f"max_seconds must be a positive number or None, got {max_seconds!r}")


def render_set(tunes: Iterable[Tune], *, renderer: Any, max_seconds: float | None = None) -> list[np.ndarray]:
    """Render tunes with one renderer (loaded once by the caller) and optionally cut them short.

    Parameters
    ----------
    tunes
        The tunes.
    renderer
        Anything with ``render(tune) -> Rendered``, e.g. from
        :func:`musiclib.audio.get_renderer`; it is not closed here.
    max_seconds
        Keep at most this many seconds of each rendering (``None``: all of it). Notes
        starting after it are not rendered at all; the first ``max_seconds`` are those
        of a full rendering up to the overall gain (each rendering is normalised to
        its own peak).

    Returns
    -------
    list of numpy.ndarray
        Mono float32 audio at the renderer's sample rate, one per tune.
    """
    _check_max_seconds(max_seconds)
    audios = []
    for tune in tunes:
        if max_seconds is not None and tune.duration_seconds > max_seconds:
            tune = _trimmed(tune, max_seconds)
        rendered = renderer.render(tune)
        audio = np.asarray(rendered.audio, dtype=np.float32)
        if max_seconds is not None:
            audio = audio[: int(round(max_seconds * rendered.sample_rate))]
        audios.append(audio)
    return audios


SERIAL_BELOW = 16
""":func:`analyze_sets` works in one process for fewer pieces than this (starting
worker processes would cost more than it saves)."""


def _analyze_chunk(
    tunes: list[Tune], *, backend: str, soundfont: Any, max_seconds: float | None, config: SpectrogramConfig,
    on_piece: Any = None,
) -> tuple[list[dict[str, Any]], float, str]:
    """Render and describe tunes with one synthesizer: (feature rows, seconds of audio, backend)."""
    renderer = get_renderer(backend, sample_rate=config.sample_rate, soundfont=soundfont, quiet=True)
    try:
        rows, seconds = [], 0.0
        for tune in tunes:
            (clip,) = render_set([tune], renderer=renderer, max_seconds=max_seconds)
            seconds += len(clip) / config.sample_rate
            rows.append(features(clip, config=config))
            if on_piece is not None:
                on_piece(1)
        return rows, seconds, renderer.backend
    finally:
        renderer.close()


def analyze_sets(
    sets: Mapping[str, Iterable[Tune]],
    *,
    config: SpectrogramConfig = SpectrogramConfig(),
    backend: str = "auto",
    soundfont: Any = None,
    max_seconds: float | None = None,
    workers: int | None = 1,
    progress: bool = False,
) -> tuple[dict[str, SetFeatures], dict[str, Any]]:
    """Render every piece of several sets and compute its :func:`features`, optionally in parallel.

    The same as :func:`render_set` followed by :func:`set_features` for each set,
    optionally spread over worker processes that each read the SoundFont once. A piece
    renders to the same samples whatever else is rendered (see :mod:`musiclib.audio`), so
    the result does not depend on ``workers`` or on the order of the sets.

    Parameters
    ----------
    sets
        Label -> tunes. Every set must have at least one tune.
    config
        Analysis settings; ``config.sample_rate`` is also the rendering rate.
    backend
        ``"auto"``, ``"fluidsynth"`` or ``"additive"`` (see :func:`musiclib.audio.get_renderer`;
        with ``"auto"`` and no FluidSynth, the fallback is used and named in the result).
    soundfont
        SoundFont file for FluidSynth (``None``: the bundled General MIDI one).
    max_seconds
        Keep at most this many seconds of each rendering (``None``: all of it).
    workers
        Processes to use (``None``: one per CPU). Below :data:`SERIAL_BELOW` pieces in
        all, everything runs in this process. Worth it with more than two cores: one
        process already keeps about 1.7 cores busy (FluidSynth plus librosa's BLAS calls),
        and on a 2-core machine two workers took 48 s where one took 54 s for 250 pieces.
        Workers are started with ``spawn`` (a process forked after FluidSynth and librosa
        have run deadlocked here), so a script that asks for them needs the usual
        ``if __name__ == "__main__":`` guard; notebooks need nothing.
    progress
        Show a progress bar (tqdm) over the pieces.

    Returns
    -------
    features : dict
        Label -> :class:`SetFeatures`, in the order of ``sets``.
    info : dict
        ``backend`` (the synthesizer used), ``audio_seconds`` (rendered in all),
        ``wall_seconds`` (time taken), ``workers`` (processes used).

    Raises
    ------
    ValueError
        For an empty set, a bad ``max_seconds``, ``workers`` or ``backend``.
    """
    config = _check_config(config)
    _check_max_seconds(max_seconds)
    check_backend(backend)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a positive integer or None, got {workers!r}")
    tunes = {label: list(set_tunes) for label, set_tunes in sets.items()}
    for label, set_tunes in tunes.items():
        if not set_tunes:
            raise ValueError(f"set {label!r} is empty: nothing to analyse")
    items = [tune for set_tunes in tunes.values() for tune in set_tunes]
    workers = min((os.cpu_count() or 1) if workers is None else workers, len(items))
    if len(items) < SERIAL_BELOW:
        workers = 1
    options = {"backend": backend, "soundfont": soundfont, "max_seconds": max_seconds, "config": config}
    from musiclib._progress import tqdm_class

    tqdm = tqdm_class()

    started = time.perf_counter()
    bar = tqdm(total=len(items), unit="piece", desc="rendering and analysing", disable=not progress, leave=False)
    if workers == 1:
        with bar:
            results = [_analyze_chunk(items, **options, on_piece=bar.update)]
    else:
        size = math.ceil(len(items) / (workers * 2))  # two chunks per worker evens out long and short pieces
        chunks = [items[i : i + size] for i in range(0, len(items), size)]
        # spawn, not fork: a process forked after FluidSynth, librosa or TensorFlow have started
        # their threads can deadlock on a lock one of them held (seen here with FluidSynth + librosa)
        with bar, process_pool(workers) as pool:
            results = []
            for chunk, result in zip(chunks, pool.map(functools.partial(_analyze_chunk, **options), chunks)):
                results.append(result)
                bar.update(len(chunk))
    rows = [row for chunk_rows, _, _ in results for row in chunk_rows]
    out, start = {}, 0
    for label, set_tunes in tunes.items():
        out[label] = _set_from_rows(rows[start : start + len(set_tunes)], config=config, label=label)
        start += len(set_tunes)
    info = {"backend": results[0][2], "audio_seconds": sum(seconds for _, seconds, _ in results),
            "wall_seconds": time.perf_counter() - started, "workers": workers}
    return out, info
