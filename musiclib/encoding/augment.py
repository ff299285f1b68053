"""Key-aware transposition helpers for optional data augmentation."""

from __future__ import annotations

from typing import Iterable

from musiclib.tune import Tune

__all__ = ["transpose_to_c", "transpositions", "semitones_to_c"]

_PITCH_CLASSES = 12
_HALF_OCTAVE = 6
_TARGET_TONIC = {"major": 0, "minor": 9}  # C major, A minor
_MIDI_LOWEST, _MIDI_HIGHEST = 0, 127


def semitones_to_c(tune: Tune) -> int:
    """The shift (-6..5 semitones) that :func:`transpose_to_c` applies; 0 without a key."""
    key = tune.key
    if key is None:
        return 0
    target = _TARGET_TONIC.get(key.mode, _TARGET_TONIC["major"])
    return (target - key.tonic_pitch_class + _HALF_OCTAVE) % _PITCH_CLASSES - _HALF_OCTAVE


def transpose_to_c(tune: Tune) -> Tune:
    """The tune moved by the smallest shift that puts a major key in C and a minor key in A.

    The first key signature decides; a tune without one is returned unchanged.
    """
    shift = semitones_to_c(tune)
    return tune if shift == 0 else tune.transpose(shift)


def transpositions(
    tune: Tune,
    *,
    semitones: Iterable[int] = range(-5, 7),
    lowest_pitch: int = _MIDI_LOWEST,
    highest_pitch: int = _MIDI_HIGHEST,
) -> list[Tune]:
    """Copies of ``tune`` shifted by each of ``semitones`` (0 gives the tune itself).

    Shifts that would move a pitched note outside ``lowest_pitch..highest_pitch``
    are skipped, so the result may be shorter than ``semitones``.
    """
    low, high = tune.pitch_range()
    empty = high < low
    out = []
    for shift in semitones:
        shift = int(shift)
        if not empty and (low + shift < lowest_pitch or high + shift > highest_pitch):
            continue
        out.append(tune if shift == 0 else tune.transpose(shift))
    return out
