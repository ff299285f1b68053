"""Audio rendering: FluidSynth (the real path, installed in CI) and the additive fallback."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from musiclib import audio
from musiclib.tune import Track, Tune, make_notes

needs_fluidsynth = pytest.mark.skipif(
    not audio.fluidsynth_available() and not os.environ.get("CI"),
    reason="libfluidsynth not installed (apt-get install fluidsynth); CI installs it and must not skip",
)


def a4_tune(seconds: float = 1.0, pitch: int = 69) -> Tune:
    quarters = seconds * 2  # 120 qpm
    return Tune(tracks=(Track(make_notes([0.0], [quarters], [pitch], [100]), name="melody"),))


def dominant_frequency(rendered: audio.Rendered, start: float = 0.1, stop: float = 0.9) -> float:
    segment = rendered.audio[int(start * rendered.sample_rate) : int(stop * rendered.sample_rate)]
    spectrum = np.abs(np.fft.rfft(segment * np.hanning(len(segment))))
    return float(np.fft.rfftfreq(len(segment), 1 / rendered.sample_rate)[spectrum.argmax()])


@needs_fluidsynth
def test_fluidsynth_really_makes_sound_at_the_right_pitch():
    with audio.FluidSynthRenderer() as renderer:
        rendered = renderer.render(a4_tune())
    assert rendered.backend == "fluidsynth"
    assert rendered.sample_rate == audio.DEFAULT_SAMPLE_RATE
    assert rendered.seconds == pytest.approx(2.0, abs=0.05)  # 1 s note + 1 s release tail
    rms = float(np.sqrt(np.mean(rendered.audio[: rendered.sample_rate] ** 2)))
    assert rms > 0.05, "FluidSynth produced (near) silence"
    assert dominant_frequency(rendered) == pytest.approx(440.0, rel=0.02)


@needs_fluidsynth
def test_fluidsynth_renderer_is_reusable_and_deterministic():
    tune = Tune(tracks=(Track(make_notes(np.arange(8.0), [1.5] * 8, [60, 64, 67, 72, 67, 64, 60, 55], [100] * 8),
                              name="melody"),
                        Track(make_notes([0.0, 4.0], [4.0, 4.0], [48, 43], [80, 80]), name="bass", program=32)))
    with audio.FluidSynthRenderer() as renderer:
        first = renderer.render(tune).audio
        renderer.render(a4_tune(0.5, 72))
        again = renderer.render(tune).audio
    with audio.FluidSynthRenderer() as other:
        elsewhere = other.render(tune).audio
    # the same samples whatever was rendered before, and in another renderer
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, elsewhere)


def test_additive_fallback_pitch_and_envelope():
    rendered = audio.AdditiveRenderer().render(a4_tune(pitch=57))
    assert rendered.backend == "additive"
    assert dominant_frequency(rendered) == pytest.approx(220.0, rel=0.02)
    assert np.abs(rendered.audio).max() == pytest.approx(0.9, abs=1e-3)
    tail = rendered.audio[int(1.5 * rendered.sample_rate) :]
    assert np.abs(tail).max() < 1e-3  # released within the tail


def test_auto_falls_back_with_a_notice(monkeypatch, capsys):
    monkeypatch.setattr(audio.synthesis, "fluidsynth_available", lambda: False)
    renderer = audio.get_renderer("auto")
    assert isinstance(renderer, audio.AdditiveRenderer)
    assert "additive fallback" in capsys.readouterr().out
    with pytest.raises(RuntimeError, match="apt-get install fluidsynth"):
        audio.get_renderer("fluidsynth")


@pytest.mark.parametrize("kwargs", [{"backend": "timidity"}, {"sample_rate": 100}, {"sample_rate": 22050.5}])
def test_renderer_arguments_are_validated(kwargs):
    with pytest.raises(ValueError):
        audio.get_renderer(**kwargs)


def test_write_wav_records_backend(tmp_path):
    import soundfile

    rendered = audio.render(a4_tune(0.5), backend="additive")
    path = audio.write_wav(rendered, tmp_path / "a4.wav")
    data, sample_rate = soundfile.read(path)
    assert sample_rate == rendered.sample_rate and len(data) == len(rendered.audio)
    np.testing.assert_allclose(data, rendered.audio, atol=1 / 2**14)
    meta = json.loads((tmp_path / "a4.json").read_text())
    assert meta["backend"] == "additive"
