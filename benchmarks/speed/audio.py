"""Audio sections: rendering Nottingham tunes (FluidSynth against pretty_midi's synthesizer, and the
additive fallback) and the seed's librosa analysis against musiclib's shared-STFT features, both in
multiples of real time.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from speed.common import (
    TARGET_ANALYSIS_X,
    TARGET_RENDER_X,
    Settings,
    _need_nottingham,
    med,
    median_time,
    paired_timings,
    row,
    timings,
)


def _tunes(n: int) -> tuple[list[Path], list]:
    import musiclib as ml

    root = _need_nottingham()
    files = sorted((root / "MIDI").glob("*.mid"))[:n]
    return files, [ml.io.read_midi(f) for f in files]


def bench_render(s: Settings) -> list[dict]:
    """Batch rendering, x real time: one renderer for the batch vs pretty_midi's synthesizer per call."""
    import pretty_midi

    import musiclib as ml

    files, tunes = _tunes(s.render_tunes)
    rows = []
    if ml.audio.fluidsynth_available():
        renderer = ml.audio.get_renderer("fluidsynth", quiet=True)
        seconds_audio = sum(renderer.render(t).seconds for t in tunes)
        sf2 = str(ml.audio.default_soundfont())
        midis = [pretty_midi.PrettyMIDI(str(f)) for f in files]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pretty_midi: sf2_path is deprecated
            times = paired_timings(
                {"ours": lambda: [renderer.render(t) for t in tunes],
                 "pretty_midi": lambda: [m.fluidsynth(fs=22050, sf2_path=sf2) for m in midis]},
                repeats=s.repeats,
            )
        ours = seconds_audio / med(times["ours"])
        rows.append(row(f"render {len(tunes)} Nottingham tunes, FluidSynth (x real time)", ours,
                        seconds_audio / med(times["pretty_midi"]), "x real time", higher_is_better=True,
                        target=f">= {TARGET_RENDER_X:.0f}x real time", met=ours >= TARGET_RENDER_X,
                        note=f"{seconds_audio:.0f} s of 22,050 Hz audio; one process; ours: one FluidSynthRenderer "
                             "(a synthesizer per tune from FluidSynth's cached SoundFont, so every tune renders the "
                             "same samples in any batch); baseline: pretty_midi.PrettyMIDI.fluidsynth, a new "
                             "synthesizer per tune",
                        samples_ours=times["ours"], samples_baseline=times["pretty_midi"], audio_seconds=seconds_audio))
    else:
        rows.append({"name": "render, FluidSynth", "skipped": "libfluidsynth not installed"})
    additive = ml.audio.AdditiveRenderer()
    few = tunes[: max(1, min(5, len(tunes)))]
    seconds_audio = sum(additive.render(t).seconds for t in few)
    times = timings(lambda: [additive.render(t) for t in few], repeats=s.repeats)
    rows.append(row(f"render {len(few)} tunes, additive fallback (x real time)", seconds_audio / med(times), None,
                    "x real time", higher_is_better=True, note="the synthesizer used when FluidSynth is absent",
                    samples=times))
    return rows


def bench_analysis(s: Settings) -> list[dict]:
    """The seed's librosa features (log-mel 1024/512/128, ZCR, chroma) on rendered audio, x real time."""
    import numpy as np

    import musiclib as ml
    from musiclib.audio.analysis import SpectrogramConfig, _librosa

    librosa = _librosa()
    _, tunes = _tunes(s.analysis_tunes)
    backend = "fluidsynth" if ml.audio.fluidsynth_available() else "additive"
    renderer = ml.audio.get_renderer(backend, quiet=True)
    audio = [renderer.render(t).audio for t in tunes]
    cfg = SpectrogramConfig()
    seconds_audio = sum(len(y) for y in audio) / cfg.sample_rate

    def ours():
        for y in audio:
            ml.audio.seed_features(y, config=cfg)

    def seed():  # the paper's three librosa calls, with the same settings
        for y in audio:
            mel = librosa.feature.melspectrogram(y=y, sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
                                                 n_mels=cfg.n_mels)
            librosa.power_to_db(mel, ref=np.max)
            librosa.feature.zero_crossing_rate(y, frame_length=cfg.n_fft, hop_length=cfg.hop_length)
            librosa.feature.chroma_stft(y=y, sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length)

    def summary():
        for y in audio:
            ml.audio.features(y, config=cfg)

    y0 = audio[0]
    power0 = np.abs(librosa.stft(y0, n_fft=cfg.n_fft, hop_length=cfg.hop_length)) ** 2
    tuning_s = median_time(lambda: librosa.estimate_tuning(S=power0, sr=cfg.sample_rate, n_fft=cfg.n_fft),
                           repeats=s.repeats)
    times = paired_timings({"ours": ours, "seed": seed, "features": summary}, repeats=s.repeats)
    x_ours = seconds_audio / med(times["ours"])
    return [
        row("librosa analysis: log-mel + ZCR + chroma (x real time)", x_ours, seconds_audio / med(times["seed"]),
            "x real time", higher_is_better=True, target=f">= {TARGET_ANALYSIS_X:.0f}x real time",
            met=x_ours >= TARGET_ANALYSIS_X,
            note=f"{len(audio)} tunes, {seconds_audio:.0f} s of {backend} audio; ours: analysis.seed_features (one "
                 "STFT shared by log-mel and chroma; chroma at tuning 0, exact for SoundFont audio at A440); "
                 "baseline: the seed's three direct librosa calls with the same settings, where chroma_stft "
                 f"estimates the tuning ({1000 * tuning_s:.0f} ms for the first tune's "
                 f"{len(y0) / cfg.sample_rate:.0f} s here).",
            samples_ours=times["ours"], samples_baseline=times["seed"], audio_seconds=seconds_audio),
        row("per-piece feature summary, analysis.features (x real time)", seconds_audio / med(times["features"]), None,
            "x real time", higher_is_better=True,
            note="one shared STFT for centroid and chroma, plus ZCR, RMS and onsets: what set comparisons use",
            samples=times["features"]),
    ]
