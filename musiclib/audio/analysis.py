"""Audio features of rendered music, per piece and per set, with librosa.

The seed paper rendered its generated MIDI to audio and compared three librosa
pictures of a 4-second excerpt: a log-mel spectrogram (FFT of 1024 samples, hop 512,
128 mel bands, in dB), the frame-wise zero-crossing rate and a chromagram. The
functions here reproduce exactly those (:func:`log_mel`, :func:`zero_crossing_rate`,
:func:`chroma` on an :func:`excerpt`) with the settings of :class:`SpectrogramConfig`.

Every function takes mono audio as a 1-D float array (or a
:class:`musiclib.audio.Rendered`, whose sample rate must then match the config).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "SpectrogramConfig",
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
