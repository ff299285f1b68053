"""Piano-roll encoding for the GAN: exact round trips and bar-aligned phrases."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from musiclib import io
from musiclib.encoding import PianoRollEncoding, get_encoding
from musiclib.tune import TimeSignature, Track, Tune, make_notes

SHARED = Path(
    os.environ.get("MUSICLIB_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data")
)
NOTTINGHAM = SHARED / "nottingham" / "MIDI"

ROLL = PianoRollEncoding()
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def random_roll(seed: int, steps: int, density: float, encoding: PianoRollEncoding = ROLL) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random((steps, encoding.n_pitches, encoding.n_tracks)) < density


def tune_of(rows_by_track, signatures=(TimeSignature(0.0, 4, 4),)) -> Tune:
    tracks = tuple(
        Track(make_notes([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]), name=f"t{i}")
        for i, rows in enumerate(rows_by_track)
    )
    return Tune(tracks=tracks, time_signatures=tuple(signatures))


def test_config_and_shapes():
    assert get_encoding("pianoroll") == ROLL and ROLL.highest_pitch == 107
    assert ROLL.steps_per_bar() == 16
    assert ROLL.steps_per_bar((6, 8)) == 12 and ROLL.steps_per_bar((3, 4)) == 12
    with pytest.raises(ValueError, match="meter"):
        ROLL.steps_per_bar((7, 32))
    assert ROLL.encode(Tune(tracks=())).shape == (0, 84, 2)


def test_encode_covers_rounded_steps_and_merges_tracks():
    tune = tune_of(
        [
            [(0, 1, 60), (1.1, 0.05, 62), (2, 1, 10), (2, 1, 120)],  # a very short note still gets one step
            [(0, 2, 48)],
            [(1, 1, 50)],  # a third track merges into the last
        ]
    )
    drums = Track(make_notes([0], [4], [60]), is_drum=True)
    roll = ROLL.encode(tune.replace(tracks=tune.tracks + (drums,)))
    assert roll.shape == (8, 84, 2) and roll.dtype == bool
    assert roll[:, 60 - 24, 0].tolist() == [True] * 4 + [False] * 4
    assert roll[:, 62 - 24, 0].tolist() == [False] * 4 + [True] + [False] * 3
    assert roll[:, 48 - 24, 1].tolist() == [True] * 8
    assert roll[:, 50 - 24, 1].tolist() == [False] * 4 + [True] * 4
    assert roll.sum() == 4 + 1 + 8 + 4  # out-of-range pitches and drums dropped
    assert ROLL.encode(tune, n_steps=2).shape == (2, 84, 2) and ROLL.encode(tune, n_steps=12)[8:].sum() == 0


@FAST
@given(st.integers(0, 2**32 - 1), st.integers(1, 48), st.sampled_from([0.0, 0.02, 0.2, 0.7]))
def test_roll_tune_roll_is_exact(seed, steps, density):
    roll = random_roll(seed, steps, density)
    tune = ROLL.decode(roll)
    assert len(tune.tracks) == 2 and [t.name for t in tune.tracks] == ["melody", "chords"]
    np.testing.assert_array_equal(ROLL.encode(tune, n_steps=steps), roll)
    roll[-1, 0, 0] = True  # when the last step sounds, no length is needed
    np.testing.assert_array_equal(ROLL.encode(ROLL.decode(roll)), roll)


@FAST
@given(st.integers(0, 2**32 - 1), st.integers(1, 6), st.integers(1, 3))
def test_one_and_three_track_rolls(seed, bars, tracks):
    encoding = PianoRollEncoding(n_tracks=tracks, lowest_pitch=0, n_pitches=128, steps_per_quarter=3)
    roll = random_roll(seed, bars * 12, 0.05, encoding)
    np.testing.assert_array_equal(encoding.encode(encoding.decode(roll), n_steps=len(roll)), roll)


def test_decode_bars_floats_and_threshold():
    rng = np.random.default_rng(1)
    scores = rng.random((2, 16, 84, 2))
    tune = ROLL.decode(scores, threshold=0.8, qpm=90, time_signature=(3, 4))
    expected = scores.reshape(32, 84, 2) > 0.8
    np.testing.assert_array_equal(ROLL.encode(tune, n_steps=32), expected)
    assert tune.qpm == 90 and str(tune.time_signatures[0]) == "3/4"
    merged = np.zeros((8, 84, 2), dtype=bool)
    merged[0:3, 10, 0] = merged[5:8, 10, 0] = True
    notes = ROLL.decode(merged).tracks[0].notes
    assert notes["start"].tolist() == [0.0, 1.25] and notes["duration"].tolist() == [0.75, 0.75]
    assert notes["pitch"].tolist() == [34, 34]


@pytest.mark.parametrize("shape", [(16, 84), (16, 83, 2), (16, 84, 3), (1, 2, 16, 84, 2)])
def test_decode_rejects_wrong_shapes(shape):
    with pytest.raises(ValueError, match="roll must have shape"):
        ROLL.decode(np.zeros(shape, dtype=bool))


@FAST
@given(
    st.lists(
        st.lists(
            st.tuples(
                st.floats(0, 30, allow_nan=False), st.floats(0.01, 6, allow_nan=False), st.integers(0, 127)
            ),
            max_size=20,
        ),
        min_size=1,
        max_size=3,
    )
)
def test_tune_roll_tune_roll_is_identical(rows):
    tune = tune_of(rows)
    roll = ROLL.encode(tune)
    again = ROLL.encode(ROLL.decode(roll))
    np.testing.assert_array_equal(again, roll)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1))
def test_decoded_rolls_survive_midi_files(seed):
    import tempfile

    roll = random_roll(seed, 32, 0.03)
    roll[-1, 0, :] = True  # both tracks non-empty; the roll's length survives
    with tempfile.TemporaryDirectory() as folder:
        back = io.read_midi(io.write_midi(ROLL.decode(roll), Path(folder) / "roll.mid"))
    np.testing.assert_array_equal(ROLL.encode(back), roll)


def test_bars_cut_phrases_on_bar_lines_of_the_meter():
    # 6 bars of 4/4, 4 bars of 3/4, 4 bars of 4/4; one note at each bar's start, pitch = bar index + 40
    starts = [4.0 * i for i in range(6)] + [24 + 3.0 * i for i in range(4)] + [36 + 4.0 * i for i in range(4)]
    tune = tune_of(
        [[(s, 1, 40 + i) for i, s in enumerate(starts)]],
        [TimeSignature(0.0, 4, 4), TimeSignature(24.0, 3, 4), TimeSignature(36.0, 4, 4)],
    )
    phrases = ROLL.bars(tune)
    assert phrases.shape == (3 + 1, 4, 16, 84, 2)
    first_pitch = [int(np.flatnonzero(p[0, 0, :, 0])[0]) + 24 for p in phrases]
    assert first_pitch == [40, 41, 42, 50]
    np.testing.assert_array_equal(phrases[0].reshape(64, 84, 2), ROLL.encode(tune)[:64])
    assert ROLL.bars(tune, hop_bars=2).shape[0] == 2 + 1  # bars 0 and 2 of the first run
    assert ROLL.bars(tune, bars_per_sample=6).shape[0] == 1
    three = ROLL.bars(tune, meter=(3, 4), bars_per_sample=2, hop_bars=2)
    assert three.shape == (2, 2, 12, 84, 2)
    assert int(np.flatnonzero(three[1, 0, 0, :, 0])[0]) + 24 == 48
    none = ROLL.bars(tune, meter=(6, 8))
    assert none.shape == (0, 4, 12, 84, 2) and none.dtype == bool
    assert ROLL.bars(Tune(tracks=())).shape == (0, 4, 16, 84, 2)
    with pytest.raises(ValueError, match="hop_bars"):
        ROLL.bars(tune, hop_bars=0)


@pytest.mark.skipif(not NOTTINGHAM.is_dir(), reason=f"Nottingham MIDI files not found at {NOTTINGHAM}")
def test_nottingham_rolls():
    files = sorted(NOTTINGHAM.glob("*.mid"))[::50]
    total = 0
    for path in files:
        tune = io.read_midi(path)
        roll = ROLL.encode(tune)
        np.testing.assert_array_equal(ROLL.encode(ROLL.decode(roll), n_steps=len(roll)), roll)
        phrases = ROLL.bars(tune)
        assert phrases.shape[1:] == (4, 16, 84, 2)
        total += len(phrases)
    assert total > 0


# ----------------------------------------------------------------------------- onsets


def test_onset_channels_keep_repeated_notes_apart():
    # two repeated C4 quarters, then a held D4 half note; chords: one held C3
    tune = tune_of([[(0.0, 1.0, 60), (1.0, 1.0, 60), (2.0, 2.0, 62)], [(0.0, 4.0, 48)]])
    plain = ROLL.encode(tune)
    with_onsets = ROLL.encode(tune, onsets=True)
    assert with_onsets.shape == (16, 84, 4)
    np.testing.assert_array_equal(with_onsets[..., :2], plain)
    assert np.flatnonzero(with_onsets[:, 60 - 24, 2]).tolist() == [0, 4]
    assert np.flatnonzero(with_onsets[:, 48 - 24, 3]).tolist() == [0]
    merged = ROLL.decode(plain).tracks[0].notes
    assert merged["duration"].tolist() == [2.0, 2.0]  # without onsets the two Cs merge
    kept = ROLL.decode(with_onsets).tracks[0].notes
    assert kept["start"].tolist() == [0.0, 1.0, 2.0] and kept["duration"].tolist() == [1.0, 1.0, 2.0]


@FAST
@given(
    st.lists(
        st.lists(
            st.tuples(st.integers(0, 60), st.integers(1, 12), st.integers(24, 107)),
            max_size=20,
        ),
        min_size=1,
        max_size=2,
    )
)
def test_rolls_with_onsets_round_trip_exactly(rows):
    # notes on the step grid that never overlap a note of their own pitch
    tracks = []
    for track in rows:
        free: dict[int, int] = {}
        kept = []
        for start, length, pitch in sorted(track):
            if start >= free.get(pitch, 0):
                kept.append((start / 4, length / 4, pitch))
                free[pitch] = start + length
        tracks.append(kept)
    tune = tune_of(tracks)
    roll = ROLL.encode(tune, onsets=True, n_steps=80)
    again = ROLL.encode(ROLL.decode(roll), onsets=True, n_steps=80)
    np.testing.assert_array_equal(again, roll)


def test_an_onset_on_a_silent_cell_is_ignored():
    roll = np.zeros((8, 84, 4), dtype=bool)
    roll[0:4, 30, 0] = True
    roll[6, 31, 2] = True  # onset without sound
    notes = ROLL.decode(roll).tracks[0].notes
    assert notes["pitch"].tolist() == [54] and notes["duration"].tolist() == [1.0]


def test_bars_with_onsets_double_the_channels():
    tune = tune_of([[(float(i), 1.0, 60) for i in range(16)], [(0.0, 16.0, 48)]])
    phrases = ROLL.bars(tune, bars_per_sample=2, onsets=True)
    assert phrases.shape == (3, 2, 16, 84, 4)
    assert phrases[0, 0, :, 36, 2].sum() == 4  # one onset per beat
    assert ROLL.bars(tune_of([[]]), bars_per_sample=2, onsets=True).shape == (0, 2, 16, 84, 4)
