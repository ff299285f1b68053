"""The one in-memory type every reader returns and every writer takes.

A :class:`Tune` holds tracks of notes plus meter, key and tempo events. Times and
durations are in quarter notes (floats), pitches are MIDI numbers. Notes live in a
numpy structured array per track (fields ``start``, ``duration``, ``pitch``,
``velocity``), so corpus-wide work stays vectorised.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "NOTE_DTYPE",
    "TimeSignature",
    "KeySignature",
    "Tempo",
    "Track",
    "Tune",
    "make_notes",
    "DEFAULT_QPM",
]

NOTE_DTYPE = np.dtype([("start", "f8"), ("duration", "f8"), ("pitch", "i2"), ("velocity", "i2")])
"""Structured dtype of a track's notes: onset and length in quarter notes, MIDI pitch, velocity."""

DEFAULT_QPM = 120.0
"""Tempo assumed when a file states none (the MIDI standard's default)."""

_KEY_NAMES_MAJOR = ["Cb", "Gb", "Db", "Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E", "B", "F#", "C#"]
_KEY_NAMES_MINOR = ["Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E", "B", "F#", "C#", "G#", "D#", "A#"]


@dataclass(frozen=True)
class TimeSignature:
    """A meter change at ``time`` (quarter notes)."""

    time: float
    numerator: int
    denominator: int

    @property
    def bar_length(self) -> float:
        """Length of one bar in quarter notes."""
        return self.numerator * 4.0 / self.denominator

    def __str__(self) -> str:
        return f"{self.numerator}/{self.denominator}"


@dataclass(frozen=True)
class KeySignature:
    """A key change at ``time``: ``sharps`` in -7..7 (negative for flats) and ``mode``."""

    time: float
    sharps: int
    mode: str = "major"

    @property
    def name(self) -> str:
        """Key name such as ``"G major"`` or ``"E minor"``."""
        names = _KEY_NAMES_MINOR if self.mode == "minor" else _KEY_NAMES_MAJOR
        return f"{names[self.sharps + 7]} {self.mode}"

    @property
    def tonic_pitch_class(self) -> int:
        """Pitch class (0 = C) of the key's tonic."""
        major_tonic = (7 * self.sharps) % 12
        return (major_tonic + 9) % 12 if self.mode == "minor" else major_tonic


@dataclass(frozen=True)
class Tempo:
    """A tempo change at ``time``, in quarter notes per minute."""

    time: float
    qpm: float


def make_notes(
    start=(), duration=(), pitch=(), velocity=None
) -> np.ndarray:
    """Build a sorted note array from parallel sequences (velocity defaults to 80)."""
    start = np.asarray(start, dtype="f8")
    notes = np.zeros(len(start), dtype=NOTE_DTYPE)
    notes["start"] = start
    notes["duration"] = np.asarray(duration, dtype="f8")
    notes["pitch"] = np.asarray(pitch, dtype="i2")
    notes["velocity"] = 80 if velocity is None else np.asarray(velocity, dtype="i2")
    return sort_notes(notes)


def sort_notes(notes: np.ndarray) -> np.ndarray:
    """Sort notes by onset, then pitch, then duration (a stable canonical order)."""
    order = np.lexsort((notes["duration"], notes["pitch"], notes["start"]))
    return notes[order]


@dataclass(frozen=True, eq=False)
class Track:
    """One instrument part: a name, a General MIDI program and its notes."""

    notes: np.ndarray
    name: str = ""
    program: int = 0
    is_drum: bool = False

    def __post_init__(self) -> None:
        if self.notes.dtype != NOTE_DTYPE:
            raise TypeError(f"Track.notes must have dtype NOTE_DTYPE, got {self.notes.dtype}")

    def __len__(self) -> int:
        return len(self.notes)

    def __repr__(self) -> str:
        return f"Track(name={self.name!r}, program={self.program}, is_drum={self.is_drum}, notes={len(self.notes)})"


@dataclass(frozen=True, eq=False)
class Tune:
    """A piece of music: tracks of notes plus meter, key and tempo maps.

    Attributes
    ----------
    tracks
        The parts, in file order (for Nottingham: melody, then chords).
    title
        Human-readable name (the ABC ``T:`` field, or the file stem).
    source
        Where it came from: a path, with ``#X`` for the tune number inside an ABC file.
    time_signatures, key_signatures, tempos
        Sorted by time; de-duplicated. A tune without a meter gets 4/4 at 0.
    """

    tracks: tuple[Track, ...]
    title: str = ""
    source: str = ""
    time_signatures: tuple[TimeSignature, ...] = field(default=(TimeSignature(0.0, 4, 4),))
    key_signatures: tuple[KeySignature, ...] = ()
    tempos: tuple[Tempo, ...] = ()

    def __repr__(self) -> str:
        meter = str(self.time_signatures[0]) if self.time_signatures else "?"
        return (
            f"Tune(title={self.title!r}, tracks={len(self.tracks)}, notes={self.n_notes}, "
            f"meter={meter}, bars={self.n_bars})"
        )

    @property
    def n_notes(self) -> int:
        """Total number of notes over all tracks."""
        return sum(len(t.notes) for t in self.tracks)

    @property
    def end(self) -> float:
        """Time (quarter notes) at which the last note ends."""
        ends = [float((t.notes["start"] + t.notes["duration"]).max()) for t in self.tracks if len(t.notes)]
        return max(ends, default=0.0)

    @property
    def qpm(self) -> float:
        """The initial tempo in quarter notes per minute."""
        return self.tempos[0].qpm if self.tempos else DEFAULT_QPM

    @property
    def duration_seconds(self) -> float:
        """Length in seconds under the tempo map."""
        return self.seconds(self.end)

    def seconds(self, time: float) -> float:
        """Convert a time in quarter notes to seconds using the tempo map."""
        tempos = self.tempos or (Tempo(0.0, DEFAULT_QPM),)
        total, last_time, last_qpm = 0.0, 0.0, tempos[0].qpm
        for tempo in tempos[1:]:
            if tempo.time >= time:
                break
            total += (tempo.time - last_time) * 60.0 / last_qpm
            last_time, last_qpm = tempo.time, tempo.qpm
        return total + (time - last_time) * 60.0 / last_qpm

    def bar_starts(self, end: float | None = None) -> np.ndarray:
        """Start times (quarter notes) of every bar up to ``end`` (default: the tune's end)."""
        end = self.end if end is None else end
        signatures = self.time_signatures or (TimeSignature(0.0, 4, 4),)
        starts: list[float] = []
        for i, sig in enumerate(signatures):
            stop = signatures[i + 1].time if i + 1 < len(signatures) else max(end, sig.time + 1e-9)
            t = sig.time
            while t < stop - 1e-9:
                starts.append(t)
                t += sig.bar_length
        return np.asarray(starts, dtype="f8")

    @property
    def n_bars(self) -> int:
        """Number of bars that hold the notes."""
        return len(self.bar_starts())

    def time_signature_at(self, time: float) -> TimeSignature:
        """The meter in force at ``time``."""
        current = self.time_signatures[0] if self.time_signatures else TimeSignature(0.0, 4, 4)
        for sig in self.time_signatures:
            if sig.time <= time + 1e-9:
                current = sig
        return current

    @property
    def key(self) -> KeySignature | None:
        """The first key signature, if any."""
        return self.key_signatures[0] if self.key_signatures else None

    def all_notes(self) -> np.ndarray:
        """Notes of every non-drum track merged and sorted."""
        parts = [t.notes for t in self.tracks if not t.is_drum]
        if not parts:
            return np.zeros(0, dtype=NOTE_DTYPE)
        return sort_notes(np.concatenate(parts))

    def replace(self, **changes) -> "Tune":
        """A copy with some fields replaced."""
        return dataclasses.replace(self, **changes)

    def transpose(self, semitones: int) -> "Tune":
        """A copy shifted by ``semitones``; key signatures move with it."""
        tracks = []
        for track in self.tracks:
            notes = track.notes.copy()
            if not track.is_drum:
                notes["pitch"] = notes["pitch"] + semitones
            tracks.append(dataclasses.replace(track, notes=notes))
        keys = tuple(
            KeySignature(k.time, _transpose_sharps(k.sharps, semitones), k.mode) for k in self.key_signatures
        )
        return dataclasses.replace(self, tracks=tuple(tracks), key_signatures=keys)

    def pitch_range(self) -> tuple[int, int]:
        """Lowest and highest pitch over non-drum tracks (``(0, -1)`` when empty)."""
        notes = self.all_notes()
        if not len(notes):
            return (0, -1)
        return int(notes["pitch"].min()), int(notes["pitch"].max())


def _transpose_sharps(sharps: int, semitones: int) -> int:
    """Key signature after transposition, preferring the spelling with fewer accidentals."""
    shifted = (sharps + 7 * semitones) % 12  # each semitone up adds 7 sharps (mod 12)
    return shifted - 12 if shifted > 6 else shifted
