"""REMI-style event encoding: bars, positions, tracks, pitches and durations as tokens.

The default token encoding of musiclib. A tune becomes::

    BOS Meter_6/8 Bar Pos_0 Track_0 Pitch_67 Dur_6 Track_1 Pitch_43 Dur_36 ... Bar ... EOS

* ``Meter_n/d`` follows ``BOS`` (the opening meter) and follows a ``Bar`` whose
  meter differs from the previous bar's.
* ``Bar`` opens every bar, empty ones included; the sequence ends after the bar
  that holds the last onset.
* ``Pos_k`` is a note's onset within its bar in grid steps (``steps_per_quarter``
  per quarter note; the default 12 holds sixteenths and eighth-note triplets). It is
  written when the onset differs from the previous note's in the bar.
* ``Track_i`` follows every ``Pos`` and appears again when the track changes within
  a position; ``Pitch_p Dur_d`` is one note, ``d`` in steps from a fixed ladder.

Rests are implicit: they are the gaps between positions. Notes of a bar are sorted
by (position, track, pitch). Lost on the way: tempo, key, velocity, track programs
and names, drum tracks, notes outside the pitch range, duplicate notes (same track,
onset and pitch; the longest is kept), durations beyond ``max_duration_quarters``
(clipped), and exact timing off the grid (onsets are rounded to the nearest step, a
note rounding onto the next bar belongs to it; durations go to the nearest ladder
value, ties to the shorter).

Bars are laid end to end from time 0 by the tune's meter map. A meter change that
falls inside a bar takes effect at the next bar line (absolute times are kept), and
a meter the vocabulary lacks is replaced by the supported meter nearest in bar
length (:meth:`EventEncoding.supported_meter`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar, Iterable, NamedTuple, Sequence

import numpy as np

from musiclib.encoding._base import (
    ConfigMixin,
    Decoded,
    bar_lines,
    check_int,
    check_number,
    gather_notes,
    signatures_or_default,
    to_steps,
    track_names,
)
from musiclib.encoding.vocab import BOS, EOS, PAD, SPECIAL_TOKENS, UNK, Vocabulary
from musiclib.tune import DEFAULT_QPM, Tempo, TimeSignature, Track, Tune, make_notes

__all__ = [
    "EventEncoding",
    "EncodeStats",
    "BAR_TOKEN",
    "bar_token",
    "count_bars",
    "meter_token",
    "pos_token",
    "track_token",
    "pitch_token",
    "dur_token",
    "duration_ladder",
    "METER_DENOMINATORS",
    "MAX_METER_NUMERATOR",
]

BAR_TOKEN = "Bar"
bar_token = BAR_TOKEN
"""The token that opens every bar."""

METER_DENOMINATORS = (1, 2, 4, 8, 16)
"""Meter denominators the vocabulary holds."""

MAX_METER_NUMERATOR = 16
"""Largest meter numerator the vocabulary holds."""

DURATION_RESOLUTION = ((1.0, 0.0), (2.0, 0.25), (4.0, 0.5), (math.inf, 1.0))
"""The duration ladder as ``(up to quarters, spacing in quarters)`` (0 = every grid step).

With 12 steps per quarter: every step up to a quarter (1..12), then every sixteenth
up to a half note (15..24), every eighth up to a whole note (30..48) and every
quarter beyond (60, 72, ...) up to ``max_duration_quarters``.
"""

DEFAULT_METER = (4, 4)
DEFAULT_VELOCITY = 80
_QUARTERS_PER_WHOLE = 4

# token kinds, for the decoder's lookup table
_K_PAD, _K_BOS, _K_EOS, _K_UNK, _K_METER, _K_BAR, _K_POS, _K_TRACK, _K_PITCH, _K_DUR = range(10)
_SPECIAL_KINDS = {PAD: _K_PAD, BOS: _K_BOS, EOS: _K_EOS, UNK: _K_UNK}
_UNKNOWN = (_K_UNK, 0)
# the encoder lays tokens out in fixed slots before squeezing out the empty ones
_BAR_SLOTS = 2  # Bar, Meter (when the meter changes)
_NOTE_SLOTS = 4  # Pos (new position), Track (new position or track), Pitch, Dur
_POS_SLOT, _TRACK_SLOT, _PITCH_SLOT, _DUR_SLOT = range(_NOTE_SLOTS)
_EMPTY = -1


def meter_token(numerator: int, denominator: int) -> str:
    """``Meter_n/d``."""
    return f"Meter_{numerator}/{denominator}"


def pos_token(step: int) -> str:
    """``Pos_k``: onset ``k`` grid steps after the bar line."""
    return f"Pos_{step}"


def track_token(index: int) -> str:
    """``Track_i``."""
    return f"Track_{index}"


def pitch_token(pitch: int) -> str:
    """``Pitch_p`` for MIDI pitch ``p``."""
    return f"Pitch_{pitch}"


def dur_token(steps: int) -> str:
    """``Dur_d``: a duration of ``d`` grid steps."""
    return f"Dur_{steps}"


def count_bars(tokens: Iterable[str]) -> int:
    """Number of ``Bar`` tokens in a sequence."""
    return sum(1 for t in tokens if t == BAR_TOKEN)


def duration_ladder(steps_per_quarter: int, max_steps: int) -> np.ndarray:
    """The durations (in steps) that ``Dur`` tokens can hold, ascending (see :data:`DURATION_RESOLUTION`)."""
    values: set[int] = set()
    lower = 0
    for up_to, spacing in DURATION_RESOLUTION:
        stride = max(1, round(spacing * steps_per_quarter))
        upper = max_steps if math.isinf(up_to) else min(max_steps, round(up_to * steps_per_quarter))
        first = (lower // stride + 1) * stride
        values.update(range(first, upper + 1, stride))
        values.add(upper)
        lower = upper
        if upper >= max_steps:
            break
    return np.asarray(sorted(v for v in values if v >= 1), dtype=np.int64)


class EncodeStats(NamedTuple):
    """What :meth:`EventEncoding.encode_with_stats` kept and lost.

    Attributes
    ----------
    notes
        Pitched notes in the tune (drums excluded).
    encoded
        Notes written as tokens.
    out_of_range
        Notes dropped for a pitch outside ``lowest_pitch..highest_pitch``.
    before_start
        Notes dropped for an onset before time 0.
    duplicates
        Notes merged into another with the same track, onset step and pitch.
    clipped
        Notes longer than ``max_duration_quarters`` (written with the longest duration).
    drums
        Drum notes dropped.
    remapped_meters
        Meters not in the vocabulary, replaced by the nearest supported one.
    bars
        ``Bar`` tokens written.
    """

    notes: int
    encoded: int
    out_of_range: int
    before_start: int
    duplicates: int
    clipped: int
    drums: int
    remapped_meters: int
    bars: int


class _Tables(NamedTuple):
    tokens: tuple[str, ...]
    meters: tuple[tuple[int, int], ...]
    meter_ids: dict[tuple[int, int], int]
    bar_id: int
    pos_base: int
    track_base: int
    pitch_base: int
    dur_base: int
    ladder: np.ndarray
    parse: dict[str, tuple[int, object]]


@dataclass(frozen=True)
class EventEncoding(ConfigMixin):
    """REMI-style event tokens (see the module docstring for the grammar).

    Parameters
    ----------
    steps_per_quarter
        Grid resolution; onsets round to the nearest step. 12 keeps sixteenths and
        eighth-note triplets.
    n_tracks
        Tracks kept apart: the first ``n_tracks - 1`` pitched tracks keep their
        index, all later ones merge into the last (1 merges everything, as for
        piano). Drum tracks are dropped.
    lowest_pitch, highest_pitch
        Pitch range (inclusive) of the vocabulary; notes outside are dropped.
    max_duration_quarters
        Longest duration token; longer notes are clipped to it.
    max_bar_quarters
        Longest bar; sets the ``Pos`` tokens and which meters the vocabulary holds
        (numerators 1..16 over 1, 2, 4, 8, 16 with a bar no longer than this).
        Other meters are replaced by the supported meter nearest in bar length.
    """

    name: ClassVar[str] = "events"

    steps_per_quarter: int = 12
    n_tracks: int = 2
    lowest_pitch: int = 21
    highest_pitch: int = 108
    max_duration_quarters: float = 8.0
    max_bar_quarters: float = 8.0

    def __post_init__(self) -> None:
        owner = type(self).__name__
        check_int(owner, "steps_per_quarter", self.steps_per_quarter, minimum=1)
        check_int(owner, "n_tracks", self.n_tracks, minimum=1)
        check_int(owner, "lowest_pitch", self.lowest_pitch, minimum=0, maximum=127)
        check_int(owner, "highest_pitch", self.highest_pitch, minimum=self.lowest_pitch, maximum=127)
        for name in ("max_duration_quarters", "max_bar_quarters"):
            value = getattr(self, name)
            check_number(owner, name, value)
            steps = value * self.steps_per_quarter
            if abs(steps - round(steps)) > 1e-9:
                raise ValueError(
                    f"{owner}.{name} must be a whole number of grid steps "
                    f"(a multiple of 1/{self.steps_per_quarter} quarter), got {value!r}"
                )
        if not self.meters:
            raise ValueError(
                f"{owner}.max_bar_quarters={self.max_bar_quarters!r} admits no meter on a grid of "
                f"{self.steps_per_quarter} steps per quarter"
            )

    # ------------------------------------------------------------------ vocabulary

    @cached_property
    def meters(self) -> tuple[tuple[int, int], ...]:
        """Meters ``(numerator, denominator)`` the vocabulary holds, by denominator then numerator."""
        out = []
        for denominator in METER_DENOMINATORS:
            for numerator in range(1, MAX_METER_NUMERATOR + 1):
                quarters = numerator * _QUARTERS_PER_WHOLE / denominator
                steps = quarters * self.steps_per_quarter
                if quarters <= self.max_bar_quarters + 1e-9 and abs(steps - round(steps)) < 1e-9:
                    out.append((numerator, denominator))
        return tuple(out)

    @property
    def max_bar_steps(self) -> int:
        """Steps in the longest bar (``Pos`` tokens run from 0 to this minus one)."""
        return round(self.max_bar_quarters * self.steps_per_quarter)

    @property
    def durations(self) -> np.ndarray:
        """The duration ladder in steps (the values of ``Dur`` tokens)."""
        return self._tables.ladder.copy()

    @cached_property
    def _tables(self) -> _Tables:
        tokens = list(SPECIAL_TOKENS)
        parse: dict[str, tuple[int, object]] = dict((t, (k, None)) for t, k in _SPECIAL_KINDS.items())

        def add(token: str, kind: int, value: object) -> int:
            parse[token] = (kind, value)
            tokens.append(token)
            return len(tokens) - 1

        meter_ids = {m: add(meter_token(*m), _K_METER, m) for m in self.meters}
        bar_id = add(BAR_TOKEN, _K_BAR, None)
        pos_base = len(tokens)
        for k in range(self.max_bar_steps):
            add(pos_token(k), _K_POS, k)
        track_base = len(tokens)
        for i in range(self.n_tracks):
            add(track_token(i), _K_TRACK, i)
        pitch_base = len(tokens)
        for p in range(self.lowest_pitch, self.highest_pitch + 1):
            add(pitch_token(p), _K_PITCH, p)
        dur_base = len(tokens)
        max_steps = round(self.max_duration_quarters * self.steps_per_quarter)
        ladder = duration_ladder(self.steps_per_quarter, max_steps)
        for d in ladder.tolist():
            add(dur_token(d), _K_DUR, d)
        return _Tables(
            tuple(tokens),
            self.meters,
            meter_ids,
            bar_id,
            pos_base,
            track_base,
            pitch_base,
            dur_base,
            ladder,
            parse,
        )

    @cached_property
    def _vocabulary(self) -> Vocabulary:
        return Vocabulary(self._tables.tokens)

    def vocabulary(self, corpus_token_sequences: Iterable[Sequence[str]] | None = None) -> Vocabulary:
        """The fixed vocabulary enumerated from the config (the corpus is not needed and is ignored)."""
        return self._vocabulary

    def _bar_steps(self, meter: tuple[int, int]) -> int:
        return round(meter[0] * _QUARTERS_PER_WHOLE / meter[1] * self.steps_per_quarter)

    def supported_meter(self, numerator: int, denominator: int) -> tuple[int, int]:
        """The vocabulary meter used for ``numerator/denominator``.

        The meter itself when the vocabulary holds it; otherwise the supported meter
        nearest in bar length (an equal-length one such as 4/32 -> 2/16 when it
        exists), preferring the same or the nearest denominator.
        """
        meter = (int(numerator), int(denominator))
        if meter in self._tables.meter_ids:
            return meter
        length = meter[0] * _QUARTERS_PER_WHOLE / meter[1]

        def distance(m: tuple[int, int]) -> tuple[float, int, int]:
            return (abs(m[0] * _QUARTERS_PER_WHOLE / m[1] - length), abs(m[1] - meter[1]), m[0])

        return min(self.meters, key=distance)

    # ------------------------------------------------------------------ encoding

    def encode(self, tune: Tune) -> list[str]:
        """The token sequence of ``tune`` (see the module docstring)."""
        table = self._tables.tokens
        return [table[i] for i in self._encode(tune)[0].tolist()]

    def encode_ids(self, tune: Tune) -> np.ndarray:
        """Like :meth:`encode` but as ``int32`` ids of :meth:`vocabulary` (skips the strings)."""
        return self._encode(tune)[0]

    def encode_with_stats(self, tune: Tune) -> tuple[list[str], EncodeStats]:
        """Tokens plus an :class:`EncodeStats` of what was dropped, merged or clipped."""
        ids, stats = self._encode(tune)
        table = self._tables.tokens
        return [table[i] for i in ids.tolist()], stats

    def _meter_map(self, tune: Tune) -> tuple[np.ndarray, np.ndarray, list[int], int]:
        """Signature times (steps), bar lengths (steps), meter ids and how many meters were remapped."""
        tables = self._tables
        spq = self.steps_per_quarter
        signatures = signatures_or_default(tune)
        times, lengths, ids, remapped = [], [], [], 0
        for sig in signatures:
            meter = self.supported_meter(sig.numerator, sig.denominator)
            remapped += meter != (sig.numerator, sig.denominator)
            times.append(float(to_steps(sig.time, spq)))
            lengths.append(float(self._bar_steps(meter)))
            ids.append(tables.meter_ids[meter])
        return np.asarray(times), np.asarray(lengths), ids, remapped

    def _encode(self, tune: Tune) -> tuple[np.ndarray, EncodeStats]:
        tables = self._tables
        spq = self.steps_per_quarter
        track, notes, drums = gather_notes(tune, self.n_tracks)
        n_notes = len(notes)

        onset = to_steps(notes["start"], spq)
        end = to_steps(notes["start"] + notes["duration"], spq)
        length = np.maximum(end - onset, 1)
        pitch = notes["pitch"].astype(np.int64)
        in_range = (pitch >= self.lowest_pitch) & (pitch <= self.highest_pitch)
        in_time = onset >= 0
        keep = in_range & in_time
        onset, length, pitch, track = onset[keep], length[keep], pitch[keep], track[keep]

        ladder = tables.ladder
        upper = np.searchsorted(ladder, length, side="left")
        lower = np.maximum(upper - 1, 0)
        upper_c = np.minimum(upper, len(ladder) - 1)
        nearer_below = length - ladder[lower] <= ladder[upper_c] - length  # ties go to the shorter
        take_lower = (upper == len(ladder)) | ((upper > 0) & nearer_below)
        dur_index = np.where(take_lower, lower, upper_c)

        order = np.lexsort((-dur_index, pitch, track, onset))
        onset, pitch, track, dur_index = onset[order], pitch[order], track[order], dur_index[order]
        first = np.ones(len(onset), dtype=bool)
        first[1:] = (onset[1:] != onset[:-1]) | (track[1:] != track[:-1]) | (pitch[1:] != pitch[:-1])
        n_duplicates = int(len(first) - first.sum())
        onset, pitch, track, dur_index = onset[first], pitch[first], track[first], dur_index[first]

        sig_times, sig_lengths, sig_ids, remapped = self._meter_map(tune)
        stop = float(onset[-1] + 1) if len(onset) else 0.0
        starts, meter_of_bar = bar_lines(sig_times, sig_lengths, stop)
        bar_start = np.rint(starts).astype(np.int64)
        bar_meter = np.asarray(sig_ids, dtype=np.int64)[meter_of_bar]
        if len(bar_start):
            opening_meter = sig_ids[int(meter_of_bar[0])]
        else:
            opening_meter = self._opening_meter(sig_times, sig_ids)
        n_bars = len(bar_start)

        bar_matrix = np.full((n_bars, _BAR_SLOTS), _EMPTY, dtype=np.int64)
        bar_matrix[:, 0] = tables.bar_id
        changed = np.zeros(n_bars, dtype=bool)
        changed[1:] = bar_meter[1:] != bar_meter[:-1]
        bar_matrix[changed, 1] = bar_meter[changed]

        note_bar = np.searchsorted(bar_start, onset, side="right") - 1
        position = onset - bar_start[note_bar]
        new_position = np.ones(len(onset), dtype=bool)
        new_position[1:] = onset[1:] != onset[:-1]
        new_track = new_position.copy()
        new_track[1:] |= track[1:] != track[:-1]
        note_matrix = np.full((len(onset), _NOTE_SLOTS), _EMPTY, dtype=np.int64)
        note_matrix[new_position, _POS_SLOT] = tables.pos_base + position[new_position]
        note_matrix[new_track, _TRACK_SLOT] = tables.track_base + track[new_track]
        note_matrix[:, _PITCH_SLOT] = tables.pitch_base + pitch - self.lowest_pitch
        note_matrix[:, _DUR_SLOT] = tables.dur_base + dur_index

        # order: each bar's own tokens (key 2b), then its notes' tokens (key 2b + 1)
        ids = np.concatenate([bar_matrix.ravel(), note_matrix.ravel()])
        keys = np.concatenate(
            [np.repeat(2 * np.arange(n_bars), _BAR_SLOTS), np.repeat(2 * note_bar + 1, _NOTE_SLOTS)]
        )
        present = ids != _EMPTY
        body = ids[present][np.argsort(keys[present], kind="stable")]
        vocabulary = self._vocabulary
        out = np.concatenate([[vocabulary.bos_id, opening_meter], body, [vocabulary.eos_id]]).astype(np.int32)

        stats = EncodeStats(
            notes=n_notes,
            encoded=len(onset),
            out_of_range=int((~in_range).sum()),
            before_start=int((in_range & ~in_time).sum()),
            duplicates=n_duplicates,
            clipped=int((length > ladder[-1]).sum()),
            drums=drums,
            remapped_meters=remapped,
            bars=n_bars,
        )
        return out, stats

    @staticmethod
    def _opening_meter(sig_times: np.ndarray, sig_ids: list[int]) -> int:
        at_start = np.flatnonzero(sig_times <= 0)
        return sig_ids[int(at_start[-1])] if len(at_start) else sig_ids[0]

    # ------------------------------------------------------------------ decoding

    def decode(self, tokens: Iterable[str], *, qpm: float = DEFAULT_QPM) -> Decoded:
        """Rebuild a tune from tokens, repairing what is ill-formed; never raises on bad tokens.

        A tolerant state machine: tokens out of place are dropped and counted —
        a ``Meter`` not right after ``BOS`` or ``Bar``, a ``Pos`` before the first
        ``Bar``, beyond the bar or not after the previous ``Pos``, a ``Track`` or
        ``Pitch`` before any ``Pos`` in the bar, a ``Dur`` without a ``Pitch``, a
        ``Pitch`` not followed by a ``Dur``, a ``BOS`` past the start, everything
        after ``EOS``, ``PAD``, ``UNK`` and tokens the vocabulary lacks. A ``Pitch``
        right after a ``Pos`` goes to track 0; a second note with the same track,
        onset and pitch is dropped (the longer is kept). A missing opening meter
        means 4/4.

        The tune has ``n_tracks`` tracks (named melody/chords, piano or
        ``track i``), empty ones included so that track indices survive
        re-encoding, and ``encode(decode(tokens).tune) == tokens`` for any sequence
        :meth:`encode` can produce.

        Parameters
        ----------
        tokens
            Token strings.
        qpm
            Tempo of the result, in quarter notes per minute.

        Returns
        -------
        Decoded
            ``(tune, dropped)``.
        """
        check_number(type(self).__name__ + ".decode", "qpm", qpm)
        parse = self._tables.parse
        spq = self.steps_per_quarter
        dropped = 0
        meter = DEFAULT_METER
        bar_length = self._bar_steps(meter)
        signatures: dict[int, tuple[int, int]] = {}
        bar_start: int | None = None
        meter_slot = True
        position: int | None = None
        track: int | None = None
        pitch: int | None = None
        ended = False
        note_track: list[int] = []
        note_onset: list[int] = []
        note_pitch: list[int] = []
        note_length: list[int] = []

        for i, token in enumerate(tokens):
            kind, value = parse.get(token, _UNKNOWN) if isinstance(token, str) else _UNKNOWN
            if ended:
                dropped += 1
            elif kind == _K_PITCH:
                if position is None:
                    dropped += 1
                    continue
                if pitch is not None:
                    dropped += 1
                pitch = value  # type: ignore[assignment]
                if track is None:
                    track = 0
                meter_slot = False
            elif kind == _K_DUR:
                if pitch is None:
                    dropped += 1
                    continue
                note_track.append(track)  # type: ignore[arg-type]
                note_onset.append(bar_start + position)  # type: ignore[operator]
                note_pitch.append(pitch)
                note_length.append(value)  # type: ignore[arg-type]
                pitch = None
            elif kind == _K_POS:
                beyond = value >= bar_length  # type: ignore[operator]
                backwards = position is not None and value <= position  # type: ignore[operator]
                if bar_start is None or beyond or backwards:
                    dropped += 1
                    continue
                if pitch is not None:
                    dropped += 1
                    pitch = None
                position, track, meter_slot = value, None, False  # type: ignore[assignment]
            elif kind == _K_TRACK:
                if position is None:
                    dropped += 1
                    continue
                if pitch is not None:
                    dropped += 1
                    pitch = None
                track = value  # type: ignore[assignment]
            elif kind == _K_BAR:
                if pitch is not None:
                    dropped += 1
                    pitch = None
                bar_start = 0 if bar_start is None else bar_start + bar_length
                position, track, meter_slot = None, None, True
            elif kind == _K_METER:
                if not meter_slot:
                    dropped += 1
                    continue
                meter, meter_slot = value, False  # type: ignore[assignment]
                bar_length = self._bar_steps(meter)
                signatures[0 if bar_start is None else bar_start] = meter
            elif kind == _K_EOS:
                if pitch is not None:
                    dropped += 1
                    pitch = None
                ended = True
            elif kind == _K_BOS and i == 0:
                continue
            else:  # PAD, UNK, a BOS past the start, tokens the vocabulary lacks
                dropped += 1
        if pitch is not None:
            dropped += 1

        track_a = np.asarray(note_track, dtype=np.int64)
        onset_a = np.asarray(note_onset, dtype=np.int64)
        pitch_a = np.asarray(note_pitch, dtype=np.int64)
        length_a = np.asarray(note_length, dtype=np.int64)
        order = np.lexsort((-length_a, pitch_a, onset_a, track_a))
        track_a, onset_a, pitch_a, length_a = track_a[order], onset_a[order], pitch_a[order], length_a[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = (
            (track_a[1:] != track_a[:-1]) | (onset_a[1:] != onset_a[:-1]) | (pitch_a[1:] != pitch_a[:-1])
        )
        dropped += int(len(first) - first.sum())

        tracks = []
        for index, name in enumerate(track_names(self.n_tracks)):
            mine = first & (track_a == index)
            notes = make_notes(onset_a[mine] / spq, length_a[mine] / spq, pitch_a[mine], DEFAULT_VELOCITY)
            tracks.append(Track(notes=notes, name=name, program=0))
        return Decoded(
            Tune(
                tracks=tuple(tracks),
                time_signatures=_signature_map(signatures, spq),
                tempos=(Tempo(0.0, float(qpm)),),
            ),
            dropped,
        )

    def decode_ids(self, ids: Iterable[int] | np.ndarray, *, qpm: float = DEFAULT_QPM) -> Decoded:
        """Like :meth:`decode` for ids of :meth:`vocabulary` (ids outside it count as dropped)."""
        table = self._tables.tokens
        size = len(table)
        values = np.asarray(ids if isinstance(ids, np.ndarray) else list(ids)).ravel().tolist()
        return self.decode([table[i] if 0 <= i < size else UNK for i in values], qpm=qpm)


def _signature_map(
    signatures: dict[int, tuple[int, int]], steps_per_quarter: int
) -> tuple[TimeSignature, ...]:
    """Time signatures from ``{bar start step: meter}``, from 0, without repeats of one meter."""
    out: list[TimeSignature] = []
    current = None
    for step in sorted(signatures):
        meter = signatures[step]
        if not out and step > 0:
            out.append(TimeSignature(0.0, *DEFAULT_METER))
            current = DEFAULT_METER
        if meter != current:
            out.append(TimeSignature(step / steps_per_quarter, *meter))
            current = meter
    return tuple(out) or (TimeSignature(0.0, *DEFAULT_METER),)
