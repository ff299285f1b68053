"""The seed paper's encoding: one token per onset, a note name or a chord's pitch classes.

This reproduces the data preparation of the classic Keras LSTM tutorial
"Classical-Piano-Composer" that the seed paper follows. Every onset (rounded to
1/12 quarter) of every pitched note becomes one token:

* a lone pitch -> its name with octave in music21's default MIDI spelling
  (``C C# D E- E F F# G G# A B- B``; octave = pitch // 12 - 1): 60 -> ``"C4"``,
  70 -> ``"B-4"``;
* several pitches -> the dot-joined normal order of their pitch classes as
  ``music21.chord.Chord(...).normalOrder`` gives it: C-E-G -> ``"0.4.7"``. One pitch
  class in several octaves is the chord ``"0"``.

Durations, rests, dynamics, tracks and meter are all lost; decoding puts token ``i``
at ``i * step`` quarters for ``step`` quarters, and chords in one octave, exactly as
the tutorial's ``create_midi`` does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar, Iterable, Sequence

import numpy as np

from musiclib.encoding._base import ConfigMixin, Decoded, check_int, check_number, to_steps
from musiclib.encoding.vocab import Vocabulary
from musiclib.tune import DEFAULT_QPM, Tempo, TimeSignature, Track, Tune, make_notes

__all__ = ["PaperEncoding", "note_name", "normal_order", "chord_token", "parse_token", "NOTE_NAMES"]

NOTE_NAMES = ("C", "C#", "D", "E-", "E", "F", "F#", "G", "G#", "A", "B-", "B")
"""music21's default spelling of the twelve pitch classes of a MIDI note."""

_PITCHES = 128
_PITCH_CLASSES = 12
_MAX_CHORD_OCTAVE = 8  # a one-pitch-class chord is decoded in chord_octave and the octave above
_MIDDLE_C = 60
_TRACK_NAME = "paper"
_DEFAULT_VELOCITY = 80
_LETTER_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_NAME = re.compile(r"^([A-G])(#{1,2}|-{1,2}|)(\d+)$")  # enharmonic spellings, octaves >= 0
_CHORD = re.compile(r"^\d{1,2}(\.\d{1,2})*$")


def note_name(pitch: int) -> str:
    """music21's default name with octave of a MIDI pitch: 61 -> ``"C#4"``, 70 -> ``"B-4"``."""
    return f"{NOTE_NAMES[pitch % _PITCH_CLASSES]}{pitch // _PITCH_CLASSES - 1}"


_NAME_OF_PITCH = tuple(note_name(p) for p in range(_PITCHES))
# music21's names are ambiguous below pitch 12 ("E-1" is both E in octave -1 and
# E-flat in octave 1): the higher, playable pitch wins.
_PITCH_OF_NAME = {name: p for p, name in enumerate(_NAME_OF_PITCH)}


@lru_cache(maxsize=1 << _PITCH_CLASSES)
def _normal_order(pitch_classes: frozenset[int]) -> tuple[int, ...]:
    from music21 import chord, pitch

    # Pitch objects, not bare ints: music21 builds a chord from ints ~100x slower
    pitches = [pitch.Pitch(midi=_MIDDLE_C + pc) for pc in sorted(pitch_classes)]
    return tuple(int(pc) for pc in chord.Chord(pitches).normalOrder)


def normal_order(pitch_classes: Iterable[int]) -> tuple[int, ...]:
    """music21's normal order of a set of pitch classes (cached; at most 4,096 sets)."""
    return _normal_order(frozenset(int(pc) % _PITCH_CLASSES for pc in pitch_classes))


@lru_cache(maxsize=1 << _PITCH_CLASSES)
def _chord_token_of_mask(mask: int) -> str:
    pcs = frozenset(pc for pc in range(_PITCH_CLASSES) if mask >> pc & 1)
    return ".".join(str(pc) for pc in _normal_order(pcs))


def chord_token(pitches: Iterable[int]) -> str:
    """The token of several simultaneous pitches: their normal order, dot-joined."""
    mask = 0
    for p in pitches:
        mask |= 1 << (int(p) % _PITCH_CLASSES)
    return _chord_token_of_mask(mask)


def parse_token(token: str) -> int | tuple[int, ...] | None:
    """A note token's MIDI pitch, a chord token's pitch classes (sorted, distinct), or None.

    Note names in music21's default spelling are read exactly; other spellings
    (``"D-4"``, ``"E#3"``) are accepted for octaves 0 and up.
    """
    pitch = _PITCH_OF_NAME.get(token)
    if pitch is not None:
        return pitch
    match = _NAME.match(token)
    if match:
        letter, accidental, octave = match.groups()
        shift = len(accidental) * (1 if accidental.startswith("#") else -1)
        pitch = _LETTER_PC[letter] + shift + (int(octave) + 1) * _PITCH_CLASSES
        return pitch if 0 <= pitch < _PITCHES else None
    if _CHORD.match(token):
        pcs = {int(x) for x in token.split(".")}
        if max(pcs) < _PITCH_CLASSES:
            return tuple(sorted(pcs))
    return None


@dataclass(frozen=True)
class PaperEncoding(ConfigMixin):
    """Note-name / chord-normal-order tokens of the seed paper (see the module docstring).

    Parameters
    ----------
    steps_per_quarter
        Onsets closer than one step (1/12 quarter by default) form one chord.
    step
        Decoding: quarters between consecutive tokens and the length of every note
        (the tutorial's 0.5).
    chord_octave
        Decoding: octave of chord tones (4 puts pitch class ``pc`` at ``60 + pc``).
    """

    name: ClassVar[str] = "paper"

    steps_per_quarter: int = 12
    step: float = 0.5
    chord_octave: int = 4

    def __post_init__(self) -> None:
        owner = type(self).__name__
        check_int(owner, "steps_per_quarter", self.steps_per_quarter, minimum=1)
        check_number(owner, "step", self.step)
        if self.step * self.steps_per_quarter < 1:
            raise ValueError(
                f"{owner}.step must be at least one grouping step (1/{self.steps_per_quarter} quarter), "
                f"got {self.step!r}"
            )
        check_int(owner, "chord_octave", self.chord_octave, minimum=-1, maximum=_MAX_CHORD_OCTAVE)

    def vocabulary(self, corpus_token_sequences: Iterable[Sequence[str]] | None = None) -> Vocabulary:
        """The sorted set of tokens of the corpus, after the specials (as the tutorial builds it).

        Raises
        ------
        ValueError
            If no corpus is given: this vocabulary depends on the data.
        """
        if corpus_token_sequences is None:
            raise ValueError(
                "the paper encoding's vocabulary is built from the corpus: pass its token sequences"
            )
        return Vocabulary.from_sequences(corpus_token_sequences)

    def encode(self, tune: Tune) -> list[str]:
        """One token per onset of the tune's pitched notes (drum tracks excluded)."""
        notes = tune.all_notes()
        if not len(notes):
            return []
        onset = to_steps(notes["start"], self.steps_per_quarter)
        pitch = notes["pitch"].astype(np.int64)
        order = np.lexsort((pitch, onset))
        onset, pitch = onset[order], pitch[order]
        new_group = np.ones(len(onset), dtype=bool)
        new_group[1:] = onset[1:] != onset[:-1]
        new_pitch = new_group.copy()
        new_pitch[1:] |= pitch[1:] != pitch[:-1]
        starts = np.flatnonzero(new_group)
        distinct = np.add.reduceat(new_pitch.astype(np.int64), starts)
        masks = np.bitwise_or.reduceat(np.left_shift(1, pitch % _PITCH_CLASSES), starts)
        names = _NAME_OF_PITCH
        return [
            names[p] if n == 1 else _chord_token_of_mask(m)
            for p, n, m in zip(pitch[starts].tolist(), distinct.tolist(), masks.tolist())
        ]

    def decode(self, tokens: Iterable[str], *, qpm: float = DEFAULT_QPM) -> Decoded:
        """A one-track 4/4 tune with token ``i`` at ``i * step``; unparsable tokens are dropped and counted.

        A chord's pitch classes go to ``chord_octave``; a one-pitch-class chord such
        as ``"5"`` becomes that pitch class in ``chord_octave`` and the octave above,
        so that it encodes back to ``"5"``. Never raises on bad tokens, and
        ``encode(decode(tokens).tune) == tokens`` for any tokens :meth:`encode` makes.
        """
        check_number(type(self).__name__ + ".decode", "qpm", qpm)
        base = (self.chord_octave + 1) * _PITCH_CLASSES
        starts: list[float] = []
        pitches: list[int] = []
        dropped = 0
        index = 0
        for token in tokens:
            parsed = parse_token(token) if isinstance(token, str) else None
            if parsed is None:
                dropped += 1
                continue
            if isinstance(parsed, int):
                chord = [parsed]
            elif len(parsed) == 1:
                chord = [base + parsed[0], base + parsed[0] + _PITCH_CLASSES]
            else:
                chord = [base + pc for pc in parsed]
            pitches.extend(chord)
            starts.extend([index * self.step] * len(chord))
            index += 1
        notes = make_notes(starts, [self.step] * len(starts), pitches, _DEFAULT_VELOCITY)
        tune = Tune(
            tracks=(Track(notes=notes, name=_TRACK_NAME, program=0),),
            time_signatures=(TimeSignature(0.0, 4, 4),),
            tempos=(Tempo(0.0, float(qpm)),),
        )
        return Decoded(tune, dropped)
