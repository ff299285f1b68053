"""Piano roll <-> Tune converters."""

from __future__ import annotations

import numpy as np
import pytest

import musiclib as ml
from musiclib.tune import Track, Tune, make_notes


def test_consecutive_frames_of_a_key_are_one_note():
    roll = np.zeros((6, 88), bool)
    roll[0:3, 39] = True  # C4 (MIDI 60) for three frames
    roll[4:6, 39] = True  # struck again after a gap
    roll[1, 43] = True  # E4 for one frame
    tune = ml.frames.roll_to_tune(roll, steps_per_quarter=2)
    notes = tune.tracks[0].notes
    assert [(n["start"], n["duration"], n["pitch"]) for n in notes] == [
        (0.0, 1.5, 60), (0.5, 0.5, 64), (2.0, 1.0, 60)]


@pytest.mark.parametrize("steps_per_quarter", [1, 2, 4])
def test_round_trip_roll_tune_roll_is_exact(steps_per_quarter):
    rng = np.random.default_rng(steps_per_quarter)
    roll = rng.random((200, 88)) < 0.08
    roll[-1, 87] = True  # a note up to the last frame, on the top key
    roll[:, 0] = True  # one note over the whole piece, on the bottom key
    tune = ml.frames.roll_to_tune(roll, steps_per_quarter=steps_per_quarter)
    back = ml.frames.tune_to_roll(tune, steps_per_quarter=steps_per_quarter, n_frames=len(roll))
    np.testing.assert_array_equal(back, roll)


def test_round_trip_through_a_midi_file(tmp_path):
    roll = np.zeros((16, 88), bool)
    roll[0:4, [39, 43, 46]] = True
    roll[4:8, [41, 45, 48]] = True
    roll[8:16, 27] = True
    path = ml.io.write_midi(ml.frames.roll_to_tune(roll, steps_per_quarter=2, qpm=100), tmp_path / "chords.mid")
    back = ml.frames.tune_to_roll(ml.io.read_midi(path), steps_per_quarter=2, n_frames=16)
    np.testing.assert_array_equal(back, roll)


def test_tune_to_roll_drops_notes_outside_the_keys_and_merges_repeated_notes():
    notes = make_notes(start=[0, 1, 0], duration=[1, 1, 1], pitch=[60, 60, 10])
    roll = ml.frames.tune_to_roll(Tune(tracks=(Track(notes),)), steps_per_quarter=2)
    assert roll.shape == (4, 88) and roll[:, 39].all() and roll.sum() == 4


def test_bad_rolls_are_refused():
    with pytest.raises(ValueError, match="frames × 88"):
        ml.frames.check_roll(np.zeros((4, 12)))
    with pytest.raises(ValueError, match="only 0 and 1"):
        ml.frames.check_roll(np.full((4, 88), 2))
    with pytest.raises(ValueError, match="steps_per_quarter"):
        ml.frames.roll_to_tune(np.zeros((4, 88)), steps_per_quarter=0)
