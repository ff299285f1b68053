"""Render Tunes to audio: FluidSynth with a General MIDI SoundFont, or a documented fallback.

The real path drives libfluidsynth through pyfluidsynth with the ``TimGM6mb.sf2``
SoundFont that pretty_midi ships inside its wheel (nothing is downloaded). A
:class:`FluidSynthRenderer` reads the SoundFont once and renders any number of tunes.
Each tune gets a synthesizer of its own, built from the cached SoundFont (about 20 ms):
one synthesizer reused across tunes keeps state that
:meth:`~fluidsynth.Synth.system_reset` does not clear, and a tune then sounds
measurably different (up to 4% of full scale) depending on what was rendered before
it. With a fresh synthesizer the same tune always gives the same samples, in any
batch, order or worker process.

Without libfluidsynth (``apt-get install fluidsynth``), :class:`AdditiveRenderer`
renders with a few harmonics per note and an attack-decay-sustain-release envelope,
and :func:`get_renderer` prints a one-line notice naming the backend. Every rendering
carries the backend's name, and :func:`write_wav` records it in a JSON file beside
the WAV.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from musiclib._files import atomic_path, write_json
from musiclib.tune import Tune

__all__ = [
    "DEFAULT_SAMPLE_RATE",
    "MAX_RENDER_SECONDS",
    "Rendered",
    "FluidSynthRenderer",
    "AdditiveRenderer",
    "BACKENDS",
    "check_backend",
    "get_renderer",
    "render",
    "write_wav",
    "default_soundfont",
    "fluidsynth_available",
]

DEFAULT_SAMPLE_RATE = 22_050
"""Sample rate (Hz) of rendered audio; librosa's default too."""

_TAIL_SECONDS = 1.0  # release time rendered after the last note-off

MAX_RENDER_SECONDS = 3600.0
"""Longest tune the renderers accept (an hour of mono float32 at 22,050 Hz is 318 MB).

A tune whose tempo map makes it last days (a hostile or broken file) is refused with a
message instead of exhausting memory; render an excerpt (``analysis.render_set``'s
``max_seconds``) to listen to part of a longer one.
"""


def _check_tune(tune: object) -> float:
    """The tune's length in seconds; ``TypeError``/``ValueError`` naming the problem."""
    if not isinstance(tune, Tune):
        raise TypeError(f"tune must be a musiclib Tune, got {type(tune).__name__}")
    seconds = float(tune.duration_seconds)
    if not seconds <= MAX_RENDER_SECONDS:
        raise ValueError(
            f"tune {tune.title or tune.source!r} lasts {seconds:,.0f} s, over the rendering limit of "
            f"{MAX_RENDER_SECONDS:,.0f} s (MAX_RENDER_SECONDS); render an excerpt instead"
        )
    return seconds
_CHUNK_FRAMES = 32_768  # frames asked of FluidSynth per call
_PEAK = 0.9  # normalise to this peak amplitude
_DRUM_CHANNEL = 9


@dataclass(frozen=True)
class Rendered:
    """Mono float32 audio in [-1, 1], its sample rate and the backend that made it."""

    audio: np.ndarray
    sample_rate: int
    backend: str

    @property
    def seconds(self) -> float:
        return len(self.audio) / self.sample_rate


def default_soundfont() -> Path:
    """Path of the General MIDI SoundFont shipped in pretty_midi's wheel (TimGM6mb, 6 MB)."""
    import pretty_midi

    path = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
    if not path.exists():
        raise FileNotFoundError(f"pretty_midi's SoundFont is missing at {path}")
    return path


def fluidsynth_available() -> bool:
    """Whether pyfluidsynth and the system library libfluidsynth can be loaded."""
    try:
        import fluidsynth  # noqa: F401  (raises ImportError when libfluidsynth is absent)
    except (ImportError, OSError):
        return False
    return True


def _events(tune: Tune, seconds) -> list[tuple[float, int, int, int, int]]:
    """(time s, order, channel, pitch, velocity) note events; note-offs sort before note-ons."""
    events = []
    melodic_channels = [c for c in range(16) if c != _DRUM_CHANNEL]
    for index, track in enumerate(tune.tracks):
        channel = _DRUM_CHANNEL if track.is_drum else melodic_channels[index % len(melodic_channels)]
        for note in track.notes:
            start = seconds(float(note["start"]))
            end = seconds(float(note["start"] + note["duration"]))
            events.append((start, 1, channel, int(note["pitch"]), int(np.clip(note["velocity"], 1, 127))))
            events.append((end, 0, channel, int(note["pitch"]), 0))
    events.sort()
    return events


def _samples(synth, frames: int) -> np.ndarray:
    """The next ``frames`` frames of ``synth``'s output, mixed down to mono float32."""
    out = []
    while frames > 0:
        n = min(frames, _CHUNK_FRAMES)
        out.append(np.asarray(synth.get_samples(n), dtype=np.float32).reshape(-1, 2).mean(axis=1))
        frames -= n
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def _normalise(audio: np.ndarray) -> np.ndarray:
    peak = float(np.abs(audio).max()) if len(audio) else 0.0
    return (audio * (_PEAK / peak) if peak > 0 else audio).astype(np.float32)


class FluidSynthRenderer:
    """Render with libfluidsynth and a SoundFont; load once, render many.

    Parameters
    ----------
    sample_rate
        Output sample rate in Hz.
    soundfont
        Path of an ``.sf2`` file (default: :func:`default_soundfont`).
    gain
        FluidSynth master gain.
    """

    backend = "fluidsynth"

    def __init__(self, *, sample_rate: int = DEFAULT_SAMPLE_RATE, soundfont: str | Path | None = None, gain: float = 0.5):
        import fluidsynth  # noqa: F401  (fail here, not at the first tune, without libfluidsynth)

        self.sample_rate = int(sample_rate)
        self.soundfont = Path(soundfont) if soundfont else default_soundfont()
        self.gain = gain
        # Loading it here checks the SoundFont and fills FluidSynth's sample cache, which the
        # per-tune synthesizers share: the file is read once per renderer.
        self._synth, _ = self._new_synth()

    def _new_synth(self):
        import fluidsynth

        synth = fluidsynth.Synth(samplerate=float(self.sample_rate), gain=self.gain)
        font = synth.sfload(str(self.soundfont))
        if font < 0:
            synth.delete()
            raise RuntimeError(f"FluidSynth could not load the SoundFont {self.soundfont}")
        return synth, font

    def render(self, tune: Tune) -> Rendered:
        """Render one tune to mono float32 audio (with a synthesizer of its own)."""
        _check_tune(tune)
        if self._synth is None:
            raise RuntimeError("this FluidSynthRenderer is closed")
        synth, font = self._new_synth()
        try:
            melodic_channels = [c for c in range(16) if c != _DRUM_CHANNEL]
            for index, track in enumerate(tune.tracks):
                channel = _DRUM_CHANNEL if track.is_drum else melodic_channels[index % len(melodic_channels)]
                synth.program_select(channel, font, 128 if track.is_drum else 0, 0 if track.is_drum else track.program)
            chunks: list[np.ndarray] = []
            now = 0  # frames rendered so far
            for time, is_on, channel, pitch, velocity in _events(tune, tune.seconds):
                frame = int(round(time * self.sample_rate))
                if frame > now:
                    chunks.append(_samples(synth, frame - now))
                    now = frame
                if is_on:
                    synth.noteon(channel, pitch, velocity)
                else:
                    synth.noteoff(channel, pitch)
            chunks.append(_samples(synth, int(_TAIL_SECONDS * self.sample_rate)))
        finally:
            synth.delete()
        audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
        return Rendered(_normalise(audio), self.sample_rate, self.backend)

    def close(self) -> None:
        """Free the synthesizer that holds the SoundFont."""
        if getattr(self, "_synth", None) is not None:
            self._synth.delete()
            self._synth = None

    def __enter__(self) -> "FluidSynthRenderer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class AdditiveRenderer:
    """Fallback synthesizer: harmonics with an ADSR envelope per note (no SoundFont needed).

    Each note is a sum of ``harmonics`` partials with amplitudes 1/k, shaped by attack,
    decay to ``sustain`` level, and release after the note ends. Drum notes become
    short noise bursts. It sounds like an electric organ, not a piano, but keeps pitch,
    rhythm and dynamics, which is what the analysis needs.
    """

    sample_rate: int = DEFAULT_SAMPLE_RATE
    harmonics: int = 4
    attack: float = 0.01
    decay: float = 0.1
    sustain: float = 0.6
    release: float = 0.15

    backend = "additive"

    def _envelope(self, n_held: int) -> np.ndarray:
        sr = self.sample_rate
        a, d, r = (max(int(x * sr), 1) for x in (self.attack, self.decay, self.release))
        held = np.ones(n_held, dtype=np.float32) * self.sustain
        held[: min(a, n_held)] = np.linspace(0, 1, a, dtype=np.float32)[: n_held]
        if n_held > a:
            dec = np.linspace(1, self.sustain, d, dtype=np.float32)[: n_held - a]
            held[a : a + len(dec)] = dec
        level = held[-1] if n_held else 0.0
        return np.concatenate([held, np.linspace(level, 0, r, dtype=np.float32)])

    def render(self, tune: Tune) -> Rendered:
        sr = self.sample_rate
        total = int((_check_tune(tune) + _TAIL_SECONDS) * sr) + 1
        audio = np.zeros(total, dtype=np.float32)
        rng = np.random.default_rng(0)
        for track in tune.tracks:
            for note in track.notes:
                start = int(tune.seconds(float(note["start"])) * sr)
                held = max(int(tune.seconds(float(note["start"] + note["duration"])) * sr) - start, 1)
                env = self._envelope(held)
                t = np.arange(len(env), dtype=np.float32) / sr
                if track.is_drum:
                    wave = rng.standard_normal(len(env)).astype(np.float32) * np.exp(-t * 30)
                else:
                    f0 = 440.0 * 2 ** ((int(note["pitch"]) - 69) / 12)
                    wave = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, self.harmonics + 1) if f0 * k < sr / 2)
                segment = (wave * env * (int(note["velocity"]) / 127.0)).astype(np.float32)
                end = min(start + len(segment), total)
                audio[start:end] += segment[: end - start]
        return Rendered(_normalise(audio), sr, self.backend)

    def close(self) -> None:
        """Nothing to free (symmetry with :class:`FluidSynthRenderer`)."""

    def __enter__(self) -> "AdditiveRenderer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


BACKENDS = ("auto", "fluidsynth", "additive")
"""The renderer names :func:`get_renderer` accepts."""


def check_backend(backend: object) -> str:
    """``backend`` if it is one of :data:`BACKENDS`, else a ValueError naming them."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be 'auto', 'fluidsynth' or 'additive', got {backend!r}")
    return backend


def get_renderer(backend: str = "auto", *, sample_rate: int = DEFAULT_SAMPLE_RATE, soundfont=None, quiet: bool = False):
    """A renderer: ``"fluidsynth"``, ``"additive"`` or ``"auto"`` (FluidSynth when available).

    With ``"auto"`` and no libfluidsynth, prints one line naming the fallback backend.
    """
    check_backend(backend)
    if not isinstance(sample_rate, int) or sample_rate < 8000:
        raise ValueError(f"sample_rate must be an integer >= 8000 Hz, got {sample_rate!r}")
    if backend == "additive":
        return AdditiveRenderer(sample_rate=sample_rate)
    if fluidsynth_available():
        return FluidSynthRenderer(sample_rate=sample_rate, soundfont=soundfont)
    if backend == "fluidsynth":
        raise RuntimeError("FluidSynth was requested but libfluidsynth is not installed (apt-get install fluidsynth)")
    if not quiet:
        print("musiclib.audio: libfluidsynth not found, rendering with the additive fallback synthesizer")
    return AdditiveRenderer(sample_rate=sample_rate)


def render(tune: Tune, *, backend: str = "auto", sample_rate: int = DEFAULT_SAMPLE_RATE) -> Rendered:
    """Render one tune (for many, create a renderer once with :func:`get_renderer`)."""
    renderer = get_renderer(backend, sample_rate=sample_rate)
    try:
        return renderer.render(tune)
    finally:
        renderer.close()


def write_wav(rendered: Rendered, path: str | Path) -> Path:
    """Write 16-bit PCM WAV atomically, plus ``<name>.json`` recording the backend."""
    import soundfile

    path = Path(path)
    with atomic_path(path) as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            soundfile.write(str(tmp), rendered.audio, rendered.sample_rate, subtype="PCM_16", format="WAV")
    write_json(
        path.with_suffix(".json"),
        {"backend": rendered.backend, "sample_rate": rendered.sample_rate, "seconds": round(rendered.seconds, 3)},
    )
    return path
