"""Audio features on signals with known answers, set comparisons, plots, and a real rendering."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")  # no windows, whatever the environment says

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from musiclib import audio, evaluation, plots  # noqa: E402
from musiclib.io import read_abc_text  # noqa: E402
from musiclib.tune import Track, Tune, make_notes  # noqa: E402

SR = 22_050
CONFIG = audio.SpectrogramConfig()

needs_fluidsynth = pytest.mark.skipif(
    not audio.fluidsynth_available() and not os.environ.get("CI"),
    reason="libfluidsynth not installed (apt-get install fluidsynth); CI installs it and must not skip",
)


def tone(freq: float, seconds: float = 1.0, amplitude: float = 0.5, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def click_train(rate: float, seconds: float, sr: int = SR) -> np.ndarray:
    y = np.zeros(int(seconds * sr), dtype=np.float32)
    times = np.arange(0.1, seconds - 0.1, 1.0 / rate)
    for t in times:  # short decaying noise bursts: a clear broadband onset each
        start = int(t * sr)
        burst = np.random.default_rng(start).standard_normal(256) * np.exp(-np.arange(256) / 40)
        y[start : start + 256] += burst.astype(np.float32)
    return y / np.abs(y).max()


# --------------------------------------------------------------------------- config and excerpt


@pytest.mark.parametrize(
    "changes",
    [{"n_fft": 0}, {"hop_length": 2048}, {"n_mels": 1000}, {"sample_rate": 22050.0}, {"excerpt_seconds": 0},
     {"silence_db": -1}, {"n_mels": True}],
)
def test_config_rejects_bad_values(changes):
    with pytest.raises(ValueError):
        audio.SpectrogramConfig(**changes)


def test_config_defaults_are_the_papers():
    assert (CONFIG.sample_rate, CONFIG.n_fft, CONFIG.hop_length, CONFIG.n_mels, CONFIG.excerpt_seconds) == (
        22050, 1024, 512, 128, 4.0)
    assert CONFIG.n_frames(10_000) == 1 + 10_000 // 512


def test_excerpt_cuts_and_pads():
    y = np.arange(3 * SR, dtype=np.float32) / (3 * SR)
    cut = audio.excerpt(y, sample_rate=SR, start=1.0, seconds=1.5)
    assert len(cut) == int(1.5 * SR) and cut[0] == pytest.approx(y[SR])
    padded = audio.excerpt(y, sample_rate=SR, start=2.5, seconds=4.0)
    assert len(padded) == 4 * SR
    np.testing.assert_array_equal(padded[: SR // 2], y[int(2.5 * SR) :])
    assert not padded[SR // 2 :].any()  # zeros after the end


@pytest.mark.parametrize(
    "kwargs, match",
    [({"start": 3.0}, "shorter than the excerpt start"), ({"start": 10.0}, "shorter"),
     ({"start": -1.0}, "start"), ({"seconds": 0.0}, "seconds")],
)
def test_excerpt_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        audio.excerpt(np.zeros(3 * SR, dtype=np.float32), sample_rate=SR, **kwargs)


def test_audio_input_checks():
    with pytest.raises(ValueError, match="mono"):
        audio.log_mel(np.zeros((2, SR), dtype=np.float32), config=CONFIG)
    with pytest.raises(ValueError, match="empty"):
        audio.log_mel(np.zeros(0, dtype=np.float32), config=CONFIG)
    with pytest.raises(ValueError, match="NaN"):
        audio.log_mel(np.full(SR, np.nan, dtype=np.float32), config=CONFIG)
    with pytest.raises(ValueError, match="16000 Hz"):
        audio.log_mel(audio.Rendered(tone(440.0, sr=16_000), 16_000, "additive"), config=CONFIG)
    with pytest.raises(ValueError, match="kind"):
        audio.chroma(tone(440.0), config=CONFIG, kind="mfcc")


# --------------------------------------------------------------------------- known answers


@pytest.mark.parametrize("freq, pitch_class", [(440.0, 9), (261.63, 0)])
def test_chroma_of_a_pure_tone_peaks_at_its_pitch_class(freq, pitch_class):
    c = audio.chroma(tone(freq), config=CONFIG)
    assert c.shape == (12, CONFIG.n_frames(SR))
    assert int(c.mean(axis=1).argmax()) == pitch_class
    assert audio.PITCH_CLASSES[pitch_class] == ("A" if pitch_class == 9 else "C")


@pytest.mark.filterwarnings("ignore:n_fft=.*is too large:UserWarning")  # librosa's CQT, on its low octaves
def test_chroma_cqt_agrees():
    c = audio.chroma(tone(440.0, seconds=2.0), config=CONFIG, kind="cqt")
    assert c.shape == (12, CONFIG.n_frames(2 * SR))
    assert int(c.mean(axis=1).argmax()) == 9


@pytest.mark.parametrize("freq", [220.0, 1000.0, 3000.0])
def test_zcr_of_a_sine_is_twice_its_frequency_over_the_sample_rate(freq):
    zcr = audio.zero_crossing_rate(tone(freq), config=CONFIG)
    assert zcr.shape == (CONFIG.n_frames(SR),)
    assert np.median(zcr) == pytest.approx(2 * freq / SR, rel=0.03)


@pytest.mark.parametrize("n_samples", [SR, 10_000, 4 * SR + 7])
def test_log_mel_shape_and_range(n_samples):
    S = audio.log_mel(tone(440.0, seconds=n_samples / SR)[:n_samples], config=CONFIG)
    assert S.shape == (128, 1 + n_samples // 512)
    assert S.max() == pytest.approx(0.0) and S.min() >= -80.0 - 1e-4


@pytest.mark.parametrize("freq", [440.0, 2000.0])
def test_a_tones_mel_energy_peaks_in_its_band(freq):
    import librosa

    profile = audio.log_mel(tone(freq), config=CONFIG).mean(axis=1)
    centres = librosa.mel_frequencies(CONFIG.n_mels + 2, fmin=0.0, fmax=SR / 2)[1:-1]
    assert abs(int(profile.argmax()) - int(np.abs(centres - freq).argmin())) <= 1


@pytest.mark.parametrize("rate", [2.0, 4.0])
def test_onset_rate_of_a_click_train(rate):
    assert audio.onset_rate(click_train(rate, 5.0), config=CONFIG) == pytest.approx(rate, rel=0.15)
    assert audio.onset_rate(np.zeros(SR, dtype=np.float32), config=CONFIG) == 0.0


def test_spectral_centroid_of_a_tone():
    centroid = audio.spectral_centroid(tone(1000.0), config=CONFIG)
    assert np.median(centroid) == pytest.approx(1000.0, rel=0.05)


def test_features_summarise_sounding_frames_only():
    quiet = np.random.default_rng(0).standard_normal(SR).astype(np.float32) * 1e-5  # dither-like noise
    y = np.concatenate([quiet, tone(440.0, 4.0), quiet])
    f = audio.features(y, config=CONFIG)
    assert f["seconds"] == pytest.approx(6.0)
    assert 0.6 < f["sounding_fraction"] < 0.72
    assert audio.zero_crossing_rate(y, config=CONFIG).mean() > 0.15  # the noise's ZCR is about 0.5 ...
    assert f["zcr_mean"] == pytest.approx(2 * 440.0 / SR, rel=0.25)  # ... and left out (edge frames remain)
    assert f["centroid_mean"] == pytest.approx(440.0, rel=0.15)
    assert f["chroma_profile"].shape == (12,) and f["chroma_profile"].sum() == pytest.approx(1.0)
    assert int(f["chroma_profile"].argmax()) == 9
    assert f["log_mel_profile"].shape == (128,)
    for name in audio.SCALAR_FEATURES:
        assert np.isfinite(f[name])
    white = np.random.default_rng(1).standard_normal(SR).astype(np.float32) * 0.1
    noise = audio.features(white, config=CONFIG)
    # one pitch class against all twelve
    assert f["chroma_entropy"] < noise["chroma_entropy"] <= np.log2(12) + 1e-9


# --------------------------------------------------------------------------- sets


def tone_set(freqs, seconds=1.0):
    return audio.set_features([tone(f, seconds) for f in freqs], config=CONFIG, label=f"{freqs[0]:g}")


def test_compare_a_set_with_itself_gives_zero_distances():
    s = tone_set([220.0, 330.0, 440.0])
    result = audio.compare_sets(s, s)
    for name, row in result["scalars"].items():
        assert row["wasserstein"] == pytest.approx(0.0, abs=1e-9), name
        assert row["ks_statistic"] == 0.0
    assert result["chroma_profile"]["cosine_distance"] == pytest.approx(0.0, abs=1e-9)
    assert result["chroma_profile"]["l1"] == pytest.approx(0.0, abs=1e-12)
    assert result["log_mel_profile"]["mean_abs_db_difference"] == 0.0
    assert (result["n_reference"], result["n_other"]) == (3, 3)


def test_compare_a_shifted_set_gives_positive_distances():
    low, high = tone_set([220.0, 247.0, 262.0]), tone_set([1760.0, 1976.0, 2093.0])
    result = audio.compare_sets(low, high)
    assert result["scalars"]["zcr_mean"]["wasserstein"] > 0.05
    assert result["scalars"]["zcr_mean"]["ks_statistic"] == 1.0
    centroid = result["scalars"]["centroid_mean"]
    assert centroid["other_mean"] > centroid["reference_mean"]
    assert result["log_mel_profile"]["mean_abs_db_difference"] > 1.0
    pitch_shift = audio.compare_sets(tone_set([440.0, 440.0]), tone_set([523.25, 523.25]))  # A vs C
    assert pitch_shift["chroma_profile"]["cosine_distance"] > 0.5
    assert pitch_shift["chroma_profile"]["l1"] > 1.0
    import json

    json.dumps(result)  # JSON-ready


def test_set_errors():
    with pytest.raises(ValueError, match="empty"):
        audio.set_features([], config=CONFIG)
    other = audio.set_features([tone(440.0)], config=audio.SpectrogramConfig(n_mels=64))
    with pytest.raises(ValueError, match="different settings"):
        audio.compare_sets(tone_set([440.0]), other)


def test_render_set_truncates_with_one_renderer():
    notes = make_notes([0.0, 1.0], [1.0, 3.0], [69, 72])
    tune = Tune(tracks=(Track(notes, name="melody"),))  # 2 s + 1 s tail
    renderer = audio.AdditiveRenderer()
    full, short = audio.render_set([tune], renderer=renderer), audio.render_set(
        [tune, tune], renderer=renderer, max_seconds=0.5)
    assert len(full[0]) == pytest.approx(3 * SR, abs=2)
    assert [len(a) for a in short] == [SR // 2, SR // 2]
    with pytest.raises(ValueError):
        audio.render_set([tune], renderer=renderer, max_seconds=0)


def test_render_set_skips_notes_after_the_cut_but_keeps_the_sound_before_it():
    pitches, velocities = [60, 64, 67, 72, 76, 79, 84, 88], [60 + 8 * i for i in range(8)]
    notes = make_notes(np.arange(8.0), np.full(8, 1.0), pitches, velocities)
    tune = Tune(tracks=(Track(notes, name="melody"),))  # 4 s at 120 qpm, louder and louder
    renderer = audio.AdditiveRenderer()
    cut = audio.render_set([tune], renderer=renderer, max_seconds=1.6)[0]
    full = renderer.render(tune).audio[: len(cut)]
    assert len(cut) == int(1.6 * SR)
    scale = np.abs(cut).max() / np.abs(full).max()  # normalised to its own peak
    np.testing.assert_allclose(cut, full * scale, atol=1e-4)


def _little_tunes(count: int) -> list[Tune]:
    rng = np.random.default_rng(7)
    return [Tune(tracks=(Track(make_notes(np.arange(4.0), np.full(4, 1.0), rng.integers(55, 80, 4), [90] * 4),
                               name="melody"),)) for _ in range(count)]


def test_analyze_sets_equals_render_set_then_set_features():
    tunes = _little_tunes(5)
    got, info = audio.analyze_sets({"a": tunes[:3], "b": tunes[3:]}, config=CONFIG, backend="additive",
                                      max_seconds=1.5)
    renderer = audio.AdditiveRenderer()
    for label, part in (("a", tunes[:3]), ("b", tunes[3:])):
        want = audio.set_features(audio.render_set(part, renderer=renderer, max_seconds=1.5), config=CONFIG)
        assert got[label].label == label
        for name in ("seconds", "zcr_mean", "onset_rate", "chroma_profile", "log_mel_profile"):
            np.testing.assert_array_equal(getattr(got[label], name), getattr(want, name))
    assert info["backend"] == "additive" and info["workers"] == 1
    assert info["audio_seconds"] == pytest.approx(5 * 1.5)


@pytest.mark.parametrize("kwargs, match", [
    ({"workers": 0}, "workers"), ({"workers": 1.5}, "workers"), ({"backend": "sine"}, "backend"),
    ({"max_seconds": -1}, "max_seconds"), ({"config": "default"}, "SpectrogramConfig"),
])
def test_analyze_sets_rejects_bad_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        audio.analyze_sets({"a": _little_tunes(1)}, **kwargs)
    with pytest.raises(ValueError, match="'b' is empty"):
        audio.analyze_sets({"a": _little_tunes(1), "b": []})


@needs_fluidsynth
def test_analyze_sets_in_two_processes_matches_one_exactly():
    sets = {"x": _little_tunes(10), "y": _little_tunes(14)[4:]}  # 20 pieces: enough to use workers
    assert sum(map(len, sets.values())) >= audio.sets.SERIAL_BELOW
    one, info_one = audio.analyze_sets(sets, config=CONFIG, backend="fluidsynth", workers=1)
    two, info_two = audio.analyze_sets(dict(reversed(sets.items())), config=CONFIG, backend="fluidsynth",
                                          workers=2)
    assert info_two["workers"] == 2 and info_one["backend"] == info_two["backend"] == "fluidsynth"
    for label in sets:
        for name in ("seconds", "zcr_mean", "centroid_mean", "onset_rate", "chroma_profile", "log_mel_profile"):
            np.testing.assert_array_equal(getattr(one[label], name), getattr(two[label], name))


def test_uniform_random_tune_keeps_shape_not_notes():
    like = read_abc_text(ABC_TUNE)
    rng = np.random.default_rng(0)
    fake = evaluation.uniform_random_tune(like, rng=rng)
    assert [len(t.notes) for t in fake.tracks] == [len(t.notes) for t in like.tracks]
    for real, made in zip(like.tracks, fake.tracks):
        assert made.notes["pitch"].min() >= real.notes["pitch"].min()
        assert made.notes["pitch"].max() <= real.notes["pitch"].max()
    assert fake.end <= like.end + like.tracks[0].notes["duration"].max()
    again = evaluation.uniform_random_tune(like, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(fake.tracks[0].notes, again.tracks[0].notes)
    assert not np.array_equal(fake.tracks[0].notes["pitch"], np.sort(like.tracks[0].notes["pitch"]))


# --------------------------------------------------------------------------- plots and players


def test_plot_helpers_return_artists_and_open_no_figures():
    from matplotlib.collections import QuadMesh
    from matplotlib.lines import Line2D

    assert matplotlib.get_backend().lower() == "agg"
    y = tone(440.0)
    fig, axes = plt.subplots(2, 3)
    before = plt.get_fignums()
    try:
        mesh = plots.mel_spectrogram(audio.log_mel(y), sample_rate=SR, hop_length=512, ax=axes[0, 0],
                                     title="mel", colorbar=True, vmin=-80, vmax=0)
        assert isinstance(mesh, QuadMesh) and mesh.get_clim() == (-80, 0)
        assert len(fig.axes) == 7  # six panels and a colour bar
        assert isinstance(plots.zcr_curve(audio.zero_crossing_rate(y), sample_rate=SR, hop_length=512,
                                          ax=axes[0, 1]), Line2D)
        assert isinstance(plots.chromagram(audio.chroma(y), sample_rate=SR, hop_length=512, ax=axes[0, 2]),
                          QuadMesh)
        bars = plots.chroma_profiles({"a": np.ones(12) / 12, "b": np.eye(12)[9]}, ax=axes[1, 0])
        assert len(bars) == 2 and len(bars[0]) == 12
        assert len(plots.mel_profiles({"a": np.zeros(128)}, sample_rate=SR, ax=axes[1, 1])) == 1
        values = {"a": np.arange(5.0), "b": np.arange(3.0)}
        boxes = plots.feature_distributions(values, ax=axes[1, 2], xlabel="x")
        assert len(boxes["boxes"]) == 2
        assert plt.get_fignums() == before  # drew into the given axes, made no new figure
        with pytest.raises(ValueError, match="12 values"):
            plots.chroma_profiles({"bad": np.ones(7)}, ax=axes[1, 0])
    finally:
        plt.close(fig)


def test_audio_player():
    from IPython.display import Audio

    from musiclib import notebook

    rendered = audio.Rendered(tone(440.0, 0.2), SR, "additive")
    assert isinstance(notebook.audio_player(rendered), Audio)
    assert isinstance(notebook.audio_player(rendered.audio, sample_rate=SR), Audio)
    with pytest.raises(ValueError, match="sample_rate"):
        notebook.audio_player(rendered.audio)


# --------------------------------------------------------------------------- real rendering

ABC_TUNE = """X:1
T:The Kesh (first part)
M:6/8
L:1/8
R:jig
K:G
|:G3 GAB|A3 ABd|edd gdd|edB dBA|GAG GAB|ABA ABd|edd gdB|AGF G3:|
"""


@needs_fluidsynth
def test_fluidsynth_rendering_of_a_real_tune_has_finite_features_and_an_a4_peaks_at_a():
    with audio.FluidSynthRenderer() as renderer:
        rendered = renderer.render(read_abc_text(ABC_TUNE))
        a4 = renderer.render(Tune(tracks=(Track(make_notes([0.0], [2.0], [69], [100]), name="A4"),)))
    assert rendered.backend == "fluidsynth" and rendered.seconds > 5
    f = audio.features(rendered, config=CONFIG)
    for name in ("seconds", "sounding_fraction", *audio.SCALAR_FEATURES):
        assert np.isfinite(f[name]), name
    assert np.isfinite(f["chroma_profile"]).all() and np.isfinite(f["log_mel_profile"]).all()
    assert f["onset_rate"] > 1.0  # a jig: several notes a second
    assert int(f["chroma_profile"].argmax()) in (7, 2, 11)  # G major: G, D or B dominate
    chroma = audio.chroma(audio.excerpt(a4, sample_rate=a4.sample_rate, seconds=1.0), config=CONFIG)
    assert int(chroma.mean(axis=1).argmax()) == 9


def test_seed_features_share_one_stft_and_match_the_single_features():
    config = audio.SpectrogramConfig()
    rng = np.random.default_rng(3)
    t = np.arange(int(1.5 * config.sample_rate)) / config.sample_rate
    y = (0.5 * np.sin(2 * np.pi * 330.0 * t) + 0.05 * rng.normal(size=t.size)).astype(np.float32)
    together = audio.seed_features(y, config=config)
    np.testing.assert_allclose(together["log_mel"], audio.log_mel(y, config=config))
    np.testing.assert_allclose(together["zcr"], audio.zero_crossing_rate(y, config=config))
    np.testing.assert_allclose(together["chroma"], audio.chroma(y, config=config))


@pytest.mark.parametrize("tuning", [0.5, -0.6, "0", True])
def test_tuning_must_be_none_or_a_fraction_of_a_bin(tuning):
    with pytest.raises(ValueError, match="tuning"):
        audio.SpectrogramConfig(tuning=tuning)


def test_estimated_tuning_still_available():
    config = audio.SpectrogramConfig(tuning=None)
    t = np.arange(config.sample_rate) / config.sample_rate
    y = np.sin(2 * np.pi * 440.0 * t).astype(np.float32)
    profile = audio.chroma(y, config=config).mean(axis=1)
    assert audio.PITCH_CLASSES[int(profile.argmax())] == "A"
