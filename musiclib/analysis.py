"""Audio features of rendered music, per piece and per set, with librosa.

The seed paper rendered its generated MIDI to audio and compared three librosa
pictures of a 4-second excerpt: a log-mel spectrogram (FFT of 1024 samples, hop 512,
128 mel bands, in dB), the frame-wise zero-crossing rate and a chromagram. The
functions here reproduce exactly those (:func:`log_mel`, :func:`zero_crossing_rate`,
:func:`chroma` on an :func:`excerpt`) with the settings of :class:`SpectrogramConfig`.

One picture of one piece proves little, so the module goes on to *sets*:
:func:`features` summarises a piece in a few numbers and profiles, :func:`set_features`
stacks them for a set of pieces, and :func:`compare_sets` measures how far a set
(generated music) lies from a reference set (held-out real music), feature by feature.

None of these features says whether music is *good*; they describe its sound (pitch
content, brightness, note density, loudness), which is why a set-level comparison
with real music, and a floor such as random notes rendered the same way, is needed to
read them.

Every function takes mono audio as a 1-D float array (or a
:class:`musiclib.audio.Rendered`, whose sample rate must then match the config).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import math
import multiprocessing
import os
import time
import warnings
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np

from musiclib.tune import Track, Tune, make_notes

__all__ = [
    "SpectrogramConfig",
    "SetFeatures",
    "SCALAR_FEATURES",
    "CHROMA_KINDS",
    "PITCH_CLASSES",
    "excerpt",
    "log_mel",
    "zero_crossing_rate",
    "chroma",
    "seed_features",
    "spectral_centroid",
    "onset_rate",
    "rms",
    "features",
    "set_features",
    "compare_sets",
    "format_comparison",
    "render_set",
    "analyze_sets",
    "uniform_random_tune",
]

SCALAR_FEATURES = ("zcr_mean", "centroid_mean", "centroid_std", "onset_rate", "rms_mean", "chroma_entropy")
"""The per-piece scalar summaries of :func:`features`, in the order tables show them."""

CHROMA_KINDS = ("stft", "cqt")
"""Chromagram front ends: from the short-time Fourier transform or the constant-Q transform."""

PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
"""Names of the 12 chroma rows, row 0 = C (librosa's order)."""

_TOP_DB = 80.0  # power_to_db's floor below the loudest bin (librosa's default)


def _positive_int(name: str, value: Any, minimum: int = 1) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"SpectrogramConfig.{name} must be an integer >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class SpectrogramConfig:
    """Analysis settings: the seed paper's (librosa's usual) values by default.

    Parameters
    ----------
    sample_rate
        Sample rate (Hz) the audio is expected at.
    n_fft
        FFT window length in samples (1024 = 46 ms at 22,050 Hz). Also the frame
        length of the zero-crossing rate and the RMS, so every frame-wise feature
        has the same frames.
    hop_length
        Samples between frames (512 = 23 ms), at most ``n_fft``.
    n_mels
        Number of mel bands, at most ``n_fft // 2 + 1``.
    excerpt_seconds
        Length of the excerpt the figures show.
    silence_db
        In the per-piece summaries of :func:`features`, frames whose RMS lies more
        than this many dB below the piece's loudest frame count as silence and are
        left out (FluidSynth's dither noise sits about 72 dB down, and would otherwise
        add a high zero-crossing rate, a bright centroid and a flat chroma frame for
        every silent frame).
    tuning
        Deviation from A440 in fractions of a chroma bin, passed to ``chroma_stft``.
        0 (the default) is exact for audio rendered from MIDI with a General MIDI
        SoundFont; ``None`` lets librosa estimate it from the audio (its own default,
        for recordings; this estimate costs more than the chromagram itself).

    Raises
    ------
    ValueError
        For a non-integer or out-of-range value.
    """

    sample_rate: int = 22_050
    n_fft: int = 1024
    hop_length: int = 512
    n_mels: int = 128
    excerpt_seconds: float = 4.0
    silence_db: float = 60.0
    tuning: float | None = 0.0

    def __post_init__(self) -> None:
        _positive_int("sample_rate", self.sample_rate, 1000)
        _positive_int("n_fft", self.n_fft, 16)
        _positive_int("hop_length", self.hop_length)
        _positive_int("n_mels", self.n_mels)
        if self.hop_length > self.n_fft:
            raise ValueError(
                f"SpectrogramConfig.hop_length ({self.hop_length}) must not exceed n_fft ({self.n_fft})"
            )
        if self.n_mels > self.n_fft // 2 + 1:
            raise ValueError(
                f"SpectrogramConfig.n_mels ({self.n_mels}) must not exceed "
                f"n_fft // 2 + 1 ({self.n_fft // 2 + 1}): "
                "more bands than FFT bins leaves some bands empty"
            )
        seconds = self.excerpt_seconds
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds < math.inf:
            raise ValueError(f"SpectrogramConfig.excerpt_seconds must be a positive number, got {seconds!r}")
        level = self.silence_db
        if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < math.inf:
            raise ValueError(f"SpectrogramConfig.silence_db must be a positive number of dB, got {level!r}")
        tuning = self.tuning
        if tuning is not None and (isinstance(tuning, bool) or not isinstance(tuning, (int, float))
                                   or not -0.5 <= tuning < 0.5):
            raise ValueError(f"SpectrogramConfig.tuning must be None or a number in [-0.5, 0.5) chroma bins, "
                             f"got {tuning!r}")

    def n_frames(self, n_samples: int) -> int:
        """Frames of a centred frame-wise feature of ``n_samples`` samples: ``1 + n_samples // hop``."""
        return 1 + int(n_samples) // self.hop_length

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict."""
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- input checks


def _librosa(*, display: bool = False):
    """librosa (and ``librosa.display`` if asked), imported without tqdm's "IProgress not found" warning.

    librosa imports pooch, which imports ``tqdm.auto``; in a Jupyter kernel without
    ipywidgets that prints a warning irrelevant to anything musiclib does.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        import librosa
        import librosa.core.convert  # noqa: F401  (the lazy import chain that reaches tqdm.auto)

        if display:
            import librosa.display  # noqa: F401
    return librosa


def _as_audio(audio: Any, sample_rate: int | None = None) -> np.ndarray:
    """A 1-D, finite, float32 array from an array or a Rendered (whose rate must match)."""
    rate = getattr(audio, "sample_rate", None)
    if hasattr(audio, "audio") and rate is not None:
        if sample_rate is not None and int(rate) != int(sample_rate):
            raise ValueError(
                f"audio is at {rate} Hz but the analysis expects {sample_rate} Hz: "
                "render at the config's sample rate (get_renderer(sample_rate=...)) or change the config"
            )
        audio = audio.audio
    array = np.asarray(audio)
    if array.ndim != 1:
        raise ValueError(f"audio must be mono, a 1-D array; got shape {array.shape}")
    if array.size == 0:
        raise ValueError("audio is empty")
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(f"audio must be floating point in [-1, 1], got dtype {array.dtype}")
    array = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(array).all():
        raise ValueError("audio contains NaN or infinite samples")
    return array


def _check_config(config: Any) -> SpectrogramConfig:
    if not isinstance(config, SpectrogramConfig):
        raise TypeError(f"config must be a SpectrogramConfig, got {type(config).__name__}")
    return config


# --------------------------------------------------------------------------- the paper's figures


def excerpt(audio: Any, *, sample_rate: int, start: float = 0.0, seconds: float = 4.0) -> np.ndarray:
    """Cut ``seconds`` of audio starting at ``start`` seconds.

    If the audio ends before the window does, the excerpt is padded with zeros
    (silence) at the end, so it always has ``round(seconds * sample_rate)`` samples.

    Parameters
    ----------
    audio
        Mono audio (1-D float array or a Rendered at ``sample_rate``).
    sample_rate
        Its sample rate in Hz.
    start
        Where the excerpt begins, in seconds (>= 0).
    seconds
        Length of the excerpt (> 0).

    Returns
    -------
    numpy.ndarray
        float32 array of ``round(seconds * sample_rate)`` samples.

    Raises
    ------
    ValueError
        When ``start`` is negative, ``seconds`` not positive, or the audio is not
        longer than ``start`` (nothing to cut).
    """
    _positive_int("sample_rate", sample_rate)
    y = _as_audio(audio, sample_rate)
    if not (isinstance(start, (int, float)) and math.isfinite(start) and start >= 0):
        raise ValueError(f"start must be a finite number of seconds >= 0, got {start!r}")
    if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"seconds must be a positive finite number, got {seconds!r}")
    first = int(round(start * sample_rate))
    if first >= len(y):
        raise ValueError(
            f"audio is {len(y) / sample_rate:.2f} s long, shorter than the excerpt start of {start:g} s"
        )
    length = int(round(seconds * sample_rate))
    piece = y[first : first + length]
    if len(piece) < length:
        piece = np.concatenate([piece, np.zeros(length - len(piece), dtype=np.float32)])
    return piece


def _power_spectrogram(y: np.ndarray, config: SpectrogramConfig) -> np.ndarray:
    librosa = _librosa()

    return np.abs(librosa.stft(y, n_fft=config.n_fft, hop_length=config.hop_length, center=True)) ** 2


def _log_mel_from_power(power: np.ndarray, config: SpectrogramConfig) -> np.ndarray:
    librosa = _librosa()

    mel = librosa.feature.melspectrogram(S=power, sr=config.sample_rate, n_mels=config.n_mels)
    return librosa.power_to_db(mel, ref=np.max, top_db=_TOP_DB).astype(np.float32)


def log_mel(audio: Any, *, config: SpectrogramConfig = SpectrogramConfig()) -> np.ndarray:
    """Log-mel spectrogram in dB relative to its loudest bin (the paper's Figures 3–4).

    ``librosa.feature.melspectrogram`` (power, ``n_fft``, ``hop_length``, ``n_mels``
    from the config; centred frames) followed by ``librosa.power_to_db(ref=np.max)``:
    0 dB is the loudest mel bin of this audio and values are floored at -80 dB.

    Parameters
    ----------
    audio
        Mono audio at ``config.sample_rate``.
    config
        Analysis settings.

    Returns
    -------
    numpy.ndarray
        float32 array ``(n_mels, 1 + len(audio) // hop_length)``, values in [-80, 0].
    """
    config = _check_config(config)
    y = _as_audio(audio, config.sample_rate)
    return _log_mel_from_power(_power_spectrogram(y, config), config)


def zero_crossing_rate(audio: Any, *, config: SpectrogramConfig = SpectrogramConfig()) -> np.ndarray:
    """Frame-wise zero-crossing rate (the paper's Figures 5–6).

    The fraction of adjacent sample pairs in each frame (``n_fft`` samples, hop
    ``hop_length``, centred) whose signs differ: about ``2 f / sample_rate`` for a
    sine of frequency ``f``. High for noise and bright sounds, low for low pitches.

    Parameters
    ----------
    audio
        Mono audio at ``config.sample_rate``.
    config
        Analysis settings.

    Returns
    -------
    numpy.ndarray
        float array ``(1 + len(audio) // hop_length,)`` with values in [0, 1].
    """
    librosa = _librosa()

    config = _check_config(config)
    y = _as_audio(audio, config.sample_rate)
    zcr = librosa.feature.zero_crossing_rate(
        y, frame_length=config.n_fft, hop_length=config.hop_length, center=True
    )
    return zcr[0]


def _chroma_from_power(power: np.ndarray, config: SpectrogramConfig) -> np.ndarray:
    librosa = _librosa()

    return librosa.feature.chroma_stft(
        S=power, sr=config.sample_rate, n_fft=config.n_fft, hop_length=config.hop_length, tuning=config.tuning
    )


def chroma(audio: Any, *, config: SpectrogramConfig = SpectrogramConfig(), kind: str = "stft") -> np.ndarray:
    """Chromagram: energy per pitch class, C to B, in each frame (the paper's Figures 7–8).

    Parameters
    ----------
    audio
        Mono audio at ``config.sample_rate``.
    config
        Analysis settings.
    kind
        ``"stft"`` (``librosa.feature.chroma_stft``, the paper's choice, fast) or
        ``"cqt"`` (``librosa.feature.chroma_cqt``: sharper in the bass, about 5x slower).

    Returns
    -------
    numpy.ndarray
        ``(12, 1 + len(audio) // hop_length)``; row 0 is C (see :data:`PITCH_CLASSES`).
        Each frame is scaled so that its largest pitch class is 1 (silent frames are 0).
    """
    librosa = _librosa()

    config = _check_config(config)
    if kind not in CHROMA_KINDS:
        raise ValueError(f"kind must be one of {CHROMA_KINDS}, got {kind!r}")
    y = _as_audio(audio, config.sample_rate)
    if kind == "stft":
        return _chroma_from_power(_power_spectrogram(y, config), config)
    return librosa.feature.chroma_cqt(y=y, sr=config.sample_rate, hop_length=config.hop_length)


def seed_features(audio: Any, *, config: SpectrogramConfig = SpectrogramConfig()) -> dict[str, np.ndarray]:
    """The paper's three features of one piece of audio from a single STFT.

    The same values as :func:`log_mel`, :func:`zero_crossing_rate` and :func:`chroma`
    (``kind="stft"``) called one by one, but the power spectrogram is computed once
    and shared by the log-mel spectrogram and the chromagram.

    Parameters
    ----------
    audio
        Mono audio at ``config.sample_rate``.
    config
        Analysis settings.

    Returns
    -------
    dict
        ``{"log_mel": (n_mels, frames), "zcr": (frames,), "chroma": (12, frames)}``.
    """
    config = _check_config(config)
    y = _as_audio(audio, config.sample_rate)
    power = _power_spectrogram(y, config)
    return {
        "log_mel": _log_mel_from_power(power, config),
        "zcr": zero_crossing_rate(y, config=config),
        "chroma": _chroma_from_power(power, config),
    }


def _centroid_from_power(power: np.ndarray, config: SpectrogramConfig) -> np.ndarray:
    librosa = _librosa()

    return librosa.feature.spectral_centroid(S=np.sqrt(power), sr=config.sample_rate, n_fft=config.n_fft)[0]


def spectral_centroid(audio: Any, *, config: SpectrogramConfig = SpectrogramConfig()) -> np.ndarray:
    """Frame-wise spectral centroid in Hz: the magnitude-weighted mean frequency ("brightness").

    Parameters
    ----------
    audio
        Mono audio at ``config.sample_rate``.
    config
        Analysis settings.

    Returns
    -------
    numpy.ndarray
        ``(1 + len(audio) // hop_length,)`` frequencies in Hz (0 for silent frames).
    """
    config = _check_config(config)
    y = _as_audio(audio, config.sample_rate)
    return _centroid_from_power(_power_spectrogram(y, config), config)


def _onset_count(y: np.ndarray, config: SpectrogramConfig) -> int:
    librosa = _librosa()

    envelope = librosa.onset.onset_strength(
        y=y, sr=config.sample_rate, hop_length=config.hop_length, n_fft=config.n_fft, n_mels=config.n_mels
    )
    onsets = librosa.onset.onset_detect(
        onset_envelope=envelope, sr=config.sample_rate, hop_length=config.hop_length
    )
    return len(onsets)


def onset_rate(audio: Any, *, config: SpectrogramConfig = SpectrogramConfig()) -> float:
    """Detected note onsets per second (``librosa.onset.onset_detect`` on spectral flux).

    A proxy for note density. Repeated notes that do not change the spectrum much,
    and notes struck together, count once; a silent signal has rate 0.

    Parameters
    ----------
    audio
        Mono audio at ``config.sample_rate``.
    config
        Analysis settings.

    Returns
    -------
    float
        Onsets divided by the audio's length in seconds.
    """
    config = _check_config(config)
    y = _as_audio(audio, config.sample_rate)
    return _onset_count(y, config) / (len(y) / config.sample_rate)


def rms(audio: Any, *, config: SpectrogramConfig = SpectrogramConfig()) -> np.ndarray:
    """Frame-wise root-mean-square amplitude (``librosa.feature.rms``, frames of ``n_fft``).

    Returns
    -------
    numpy.ndarray
        ``(1 + len(audio) // hop_length,)`` non-negative values.
    """
    librosa = _librosa()

    config = _check_config(config)
    y = _as_audio(audio, config.sample_rate)
    return librosa.feature.rms(y=y, frame_length=config.n_fft, hop_length=config.hop_length, center=True)[0]


# --------------------------------------------------------------------------- per piece


def _normalised(profile: np.ndarray) -> np.ndarray:
    total = float(profile.sum())
    return profile / total if total > 0 else profile


def _entropy_bits(profile: np.ndarray) -> float:
    """Shannon entropy in bits of a distribution (0 for an all-zero profile)."""
    p = profile[profile > 0]
    return float(-(p * np.log2(p)).sum()) if p.size else 0.0


def _sounding(frame_rms: np.ndarray, config: SpectrogramConfig) -> np.ndarray:
    """Mask of frames within ``config.silence_db`` of the loudest frame (all frames if none sound)."""
    loudest = float(frame_rms.max())
    if loudest <= 0:
        return np.ones(len(frame_rms), dtype=bool)
    return frame_rms >= loudest * 10.0 ** (-config.silence_db / 20.0)


def features(audio: Any, *, config: SpectrogramConfig = SpectrogramConfig()) -> dict[str, Any]:
    """Scalar summaries and mean profiles of one piece.

    Frame-wise features are summarised over the *sounding* frames only: those whose
    RMS is within ``config.silence_db`` dB of the piece's loudest frame (see
    :class:`SpectrogramConfig`), so leading silence, gaps and the release tail do not
    count. One STFT is shared by the spectral features.

    Parameters
    ----------
    audio
        Mono audio at ``config.sample_rate``.
    config
        Analysis settings.

    Returns
    -------
    dict
        ``seconds`` (length), ``sounding_fraction`` (share of frames that sound),
        ``zcr_mean`` (mean zero-crossing rate), ``centroid_mean`` and ``centroid_std``
        (spectral centroid over frames, Hz), ``onset_rate`` (onsets per second of the
        whole audio), ``rms_mean`` (mean frame RMS), ``chroma_entropy`` (entropy in
        bits of the chroma profile: lower when the sound keeps to a few pitch classes,
        at most log2(12) = 3.58 for all twelve equally; unlike the profile itself it
        does not depend on the key) as floats; ``chroma_profile`` (12,): the mean
        chromagram frame scaled to sum to 1, a pitch-class distribution of the sound
        (zeros for silence); ``log_mel_profile`` (n_mels,): the mean log-mel frame in
        dB (relative to the piece's loudest bin).
    """
    config = _check_config(config)
    y = _as_audio(audio, config.sample_rate)
    power = _power_spectrogram(y, config)
    frame_rms = rms(y, config=config)
    keep = _sounding(frame_rms, config)
    centroid = _centroid_from_power(power, config)[keep]
    profile = _normalised(_chroma_from_power(power, config)[:, keep].mean(axis=1)).astype(np.float64)
    return {
        "seconds": len(y) / config.sample_rate,
        "sounding_fraction": float(keep.mean()),
        "zcr_mean": float(zero_crossing_rate(y, config=config)[keep].mean()),
        "centroid_mean": float(centroid.mean()),
        "centroid_std": float(centroid.std()),
        "onset_rate": _onset_count(y, config) / (len(y) / config.sample_rate),
        "rms_mean": float(frame_rms[keep].mean()),
        "chroma_entropy": _entropy_bits(profile),
        "chroma_profile": profile,
        "log_mel_profile": _log_mel_from_power(power, config)[:, keep].mean(axis=1).astype(np.float64),
    }


# --------------------------------------------------------------------------- per set


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


# --------------------------------------------------------------------------- rendering sets


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
    from musiclib import audio

    renderer = audio.get_renderer(backend, sample_rate=config.sample_rate, soundfont=soundfont, quiet=True)
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
    from musiclib import audio

    audio.check_backend(backend)
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
    from tqdm.auto import tqdm

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
        context = multiprocessing.get_context("spawn")
        with bar, concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
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


# --------------------------------------------------------------------------- a floor


def uniform_random_tune(like: Tune, *, rng: np.random.Generator, grid: float = 0.5) -> Tune:
    """A stand-in with no musical structure, shaped like ``like``: uniform random notes.

    Each pitched track of ``like`` is replaced by as many notes with pitches drawn
    uniformly from that track's own pitch range, onsets drawn uniformly from a grid of
    ``grid`` quarter notes over the tune's length, and the track's own durations in a
    random order. Tempo, meter, programs and title (prefixed) are kept; drum tracks are
    dropped. Rendered, it has the density, register and length of real music and none
    of its melody, harmony or rhythm: a floor for set-level comparisons.

    Parameters
    ----------
    like
        The tune whose shape is copied.
    rng
        Source of randomness.
    grid
        Onset grid in quarter notes (> 0).

    Returns
    -------
    Tune
    """
    if not grid > 0:
        raise ValueError(f"grid must be positive, got {grid!r}")
    slots = max(int(like.end / grid), 1)
    tracks = []
    for track in like.tracks:
        if track.is_drum or not len(track.notes):
            continue
        n = len(track.notes)
        low, high = int(track.notes["pitch"].min()), int(track.notes["pitch"].max())
        notes = make_notes(
            rng.integers(0, slots, size=n) * grid,
            rng.permutation(track.notes["duration"]),
            rng.integers(low, high + 1, size=n),
            track.notes["velocity"],
        )
        tracks.append(Track(notes=notes, name=track.name, program=track.program))
    if not tracks:
        raise ValueError("the tune has no pitched notes to imitate")
    return like.replace(tracks=tuple(tracks), title=f"uniform random notes ({like.title})", source="")

