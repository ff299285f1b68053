"""Piano rolls <-> :class:`~musiclib.tune.Tune`: the bridge from the benchmark's frames to every
other stage (MIDI files, audio, spectrograms, the evaluation).

A roll is a boolean ``(frames, keys)`` array; column ``k`` is MIDI pitch ``lowest_pitch + k``.
Consecutive active frames of one key are one note: the representation cannot tell a held
note from the same note struck again on the next frame, so :func:`tune_to_roll` merges
such notes and :func:`roll_to_tune` never splits them. ``roll_to_tune`` followed by
``tune_to_roll`` gives back the roll exactly.
"""

from __future__ import annotations

import numpy as np

from musiclib.datasets.polyphonic import LOWEST_PITCH, N_KEYS
from musiclib.tune import DEFAULT_QPM, Tempo, Track, Tune, make_notes

__all__ = ["PIANO_PROGRAM", "check_roll", "roll_to_tune", "tune_to_roll"]

PIANO_PROGRAM = 0
"""General MIDI program of the single track :func:`roll_to_tune` writes (acoustic grand piano)."""


def check_roll(roll: np.ndarray, *, n_keys: int = N_KEYS) -> np.ndarray:
    """``roll`` as a boolean ``(frames, n_keys)`` array; anything else is a ValueError."""
    roll = np.asarray(roll)
    if roll.ndim != 2 or roll.shape[1] != n_keys:
        raise ValueError(f"a piano roll must be frames × {n_keys}, got shape {roll.shape}")
    if roll.dtype != bool:
        if not np.isin(roll, (0, 1)).all():
            raise ValueError("a piano roll holds only 0 and 1 (or False and True)")
        roll = roll.astype(bool)
    return roll


def roll_to_tune(
    roll: np.ndarray,
    *,
    steps_per_quarter: int,
    lowest_pitch: int = LOWEST_PITCH,
    qpm: float = DEFAULT_QPM,
    velocity: int = 80,
    title: str = "",
    source: str = "",
) -> Tune:
    """A one-track :class:`Tune` whose notes are the runs of active frames of each key.

    Parameters
    ----------
    roll
        Boolean ``(frames, keys)``.
    steps_per_quarter
        Frames per quarter note (2 for the benchmark's eighth-note frames, 1 for JSB).
    lowest_pitch
        MIDI pitch of column 0 (21: A0).
    qpm
        Tempo written into the tune (the benchmark files store none).
    velocity
        MIDI velocity of every note.
    title, source
        Written into the tune.
    """
    if steps_per_quarter <= 0:
        raise ValueError(f"steps_per_quarter must be positive, got {steps_per_quarter}")
    roll = np.asarray(roll)
    roll = check_roll(roll, n_keys=roll.shape[1] if roll.ndim == 2 else N_KEYS)
    padded = np.zeros((roll.shape[0] + 2, roll.shape[1]), dtype=np.int8)
    padded[1:-1] = roll
    edges = np.diff(padded, axis=0)  # +1 where a run starts, -1 one frame after it ends
    start_frames, keys = np.nonzero(edges == 1)
    end_frames, end_keys = np.nonzero(edges == -1)
    # both lists are sorted by (frame, key); pair each start with the end of the same key
    order_start = np.lexsort((start_frames, keys))
    order_end = np.lexsort((end_frames, end_keys))
    starts, pitches = start_frames[order_start], keys[order_start]
    lengths = end_frames[order_end] - starts
    notes = make_notes(
        start=starts / steps_per_quarter,
        duration=lengths / steps_per_quarter,
        pitch=pitches + lowest_pitch,
        velocity=np.full(len(starts), velocity),
    )
    track = Track(notes=notes, name="piano", program=PIANO_PROGRAM)
    return Tune(tracks=(track,), title=title, source=source, tempos=(Tempo(0.0, float(qpm)),))


def tune_to_roll(
    tune: Tune,
    *,
    steps_per_quarter: int,
    lowest_pitch: int = LOWEST_PITCH,
    n_keys: int = N_KEYS,
    n_frames: int | None = None,
) -> np.ndarray:
    """The boolean ``(frames, n_keys)`` roll of every non-drum note of ``tune``.

    A note covers the frames from its rounded onset to its rounded end (at least one
    frame). Notes outside the key range are dropped. ``n_frames`` crops or pads the
    roll (default: up to the last note's end).
    """
    if steps_per_quarter <= 0:
        raise ValueError(f"steps_per_quarter must be positive, got {steps_per_quarter}")
    notes = tune.all_notes()
    onsets = np.rint(notes["start"] * steps_per_quarter).astype(np.int64)
    ends = np.maximum(np.rint((notes["start"] + notes["duration"]) * steps_per_quarter).astype(np.int64), onsets + 1)
    keys = notes["pitch"].astype(np.int64) - lowest_pitch
    inside = (keys >= 0) & (keys < n_keys)
    onsets, ends, keys = onsets[inside], ends[inside], keys[inside]
    total = int(ends.max()) if len(ends) else 0
    frames = total if n_frames is None else int(n_frames)
    roll = np.zeros((max(frames, total), n_keys), dtype=bool)
    for onset, end, key in zip(onsets, ends, keys):
        roll[onset:end, key] = True
    return roll[:frames]
