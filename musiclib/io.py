"""Read MIDI, ABC and MusicXML into :class:`~musiclib.tune.Tune`; write Tunes as MIDI.

MIDI and ABC go through `symusic <https://github.com/Yikai-Liao/symusic>`_ (a C++
parser, about 3,000x faster than music21's MIDI reader on Nottingham files); ABC is
split into single tunes first because symusic reads only the first tune of a file.
MusicXML goes through music21, the right tool for notation. Every reader raises
:class:`MusicReadError` (a ``ValueError``) with the path and a reason for bad input,
so corpus loaders can skip and report a file instead of crashing.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import os
import re
import stat
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from musiclib._files import atomic_path
from musiclib.tune import NOTE_DTYPE, KeySignature, Tempo, TimeSignature, Track, Tune, sort_notes

__all__ = [
    "MusicReadError",
    "ReadLimits",
    "TEMPO_RANGE",
    "MIDI_SUFFIXES",
    "ABC_SUFFIXES",
    "MUSICXML_SUFFIXES",
    "SUPPORTED_SUFFIXES",
    "read",
    "read_midi",
    "read_abc",
    "read_abc_text",
    "read_musicxml",
    "split_abc",
    "write_midi",
    "midi_bytes",
    "to_symusic",
    "to_music21",
    "write_musicxml",
]

MIDI_SUFFIXES = (".mid", ".midi")
ABC_SUFFIXES = (".abc",)
MUSICXML_SUFFIXES = (".xml", ".mxl", ".musicxml")
SUPPORTED_SUFFIXES = MIDI_SUFFIXES + ABC_SUFFIXES + MUSICXML_SUFFIXES

_TPQ = 480  # ticks per quarter note of the MIDI files musiclib writes


class MusicReadError(ValueError):
    """A file that cannot be read as music; ``path`` and ``reason`` say which and why."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class ReadLimits:
    """Per-file limits that keep one hostile file from exhausting a corpus run.

    Parameters
    ----------
    max_bytes
        Largest file accepted.
    max_notes
        Most notes in one tune.
    max_quarters
        Longest tune, in quarter notes (20,000 is over two hours at 120 qpm).
    max_note_quarters
        Longest single note; longer notes are clipped to it (a stuck note-on otherwise
        becomes an hours-long drone).
    """

    max_bytes: int = 20_000_000
    max_notes: int = 200_000
    max_quarters: float = 20_000.0
    max_note_quarters: float = 64.0

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_notes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"ReadLimits.{name} must be a positive integer, got {value!r}")
        for name in ("max_quarters", "max_note_quarters"):
            value = getattr(self, name)
            number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            if not number or not 0 < value < float("inf"):
                raise ValueError(f"ReadLimits.{name} must be a positive finite number, got {value!r}")


DEFAULT_LIMITS = ReadLimits()

TEMPO_RANGE = (10.0, 1000.0)
"""Tempo events outside this range of quarter notes per minute are dropped when reading.

A tempo of 0 or 1 microsecond per quarter (60 million qpm), or the largest MIDI can
store (3.6 qpm), is an encoding error, not music; the tune keeps its other tempo
events, or :data:`~musiclib.tune.DEFAULT_QPM` when none is left.
"""


# --------------------------------------------------------------------------- helpers


class _OutputCapture:
    """Redirect file descriptors 1 and 2 (where symusic's C++ ABC parser prints) to a file.

    Re-entrant: a nested capture reuses the outer one, so a whole ABC file costs one
    redirection. :meth:`new_lines` returns what was printed since the last call.
    """

    _active: "_OutputCapture | None" = None

    def __init__(self) -> None:
        self._sink = None
        self._saved: list[int] = []
        self._position = 0
        self._outer = False

    def __enter__(self) -> "_OutputCapture":
        if _OutputCapture._active is not None:
            self._outer = True
            return _OutputCapture._active
        try:
            self._saved = [os.dup(1), os.dup(2)]
        except OSError:  # no real stdout/stderr (some embedded interpreters)
            return self
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        self._sink = tempfile.TemporaryFile(mode="w+b")
        os.dup2(self._sink.fileno(), 1)
        os.dup2(self._sink.fileno(), 2)
        _OutputCapture._active = self
        return self

    def new_lines(self) -> list[str]:
        if self._sink is None:
            return []
        self._sink.seek(self._position)
        text = self._sink.read()
        self._position += len(text)
        self._sink.seek(0, 2)
        return [x for x in text.decode("utf-8", "replace").splitlines() if x.strip()]

    def __exit__(self, *exc) -> None:
        if self._outer or self._sink is None:
            return
        os.dup2(self._saved[0], 1)
        os.dup2(self._saved[1], 2)
        for fd in self._saved:
            os.close(fd)
        self._sink.close()
        _OutputCapture._active = None


def _os_error_reason(error: OSError) -> str:
    """A short reason for a file-system error on one file (a link loop, a refused name...)."""
    if error.errno == errno.ELOOP:
        return "symbolic link loop (too many levels of symbolic links)"
    if error.errno == errno.ENAMETOOLONG:
        return "name too long for the file system"
    return f"unreadable: {error.strerror or error}"


def _check_size(path: Path, limits: ReadLimits) -> None:
    try:
        status = os.stat(path)
    except FileNotFoundError:
        reason = "broken symbolic link" if os.path.islink(path) else "no such file"
        raise MusicReadError(path, reason) from None
    except (OSError, ValueError) as error:  # ValueError: a NUL byte in the name
        reason = _os_error_reason(error) if isinstance(error, OSError) else f"unusable file name ({error})"
        raise MusicReadError(path, reason) from None
    if stat.S_ISDIR(status.st_mode):
        raise MusicReadError(path, "is a directory, not a file")
    if not stat.S_ISREG(status.st_mode):
        raise MusicReadError(path, "not a regular file (device, FIFO or socket)")
    size = status.st_size
    if size == 0:
        raise MusicReadError(path, "empty file")
    if size > limits.max_bytes:
        raise MusicReadError(path, f"file of {size:,} bytes exceeds the limit of {limits.max_bytes:,}")


def _read_bytes(path: Path) -> bytes:
    """The bytes of a file; a file-system error (it vanished, permission denied) becomes a MusicReadError."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise MusicReadError(path, "no such file (it vanished while being read)") from None
    except OSError as error:
        raise MusicReadError(path, _os_error_reason(error)) from None


def _notes_from_symusic(raw: dict[str, np.ndarray], limits: ReadLimits, snap: int | None) -> np.ndarray:
    """A note array from a symusic track's ``notes.numpy()`` columns (quarter time)."""
    notes = np.zeros(len(raw["time"]), dtype=NOTE_DTYPE)
    start, duration = raw["time"].astype("f8"), raw["duration"].astype("f8")
    if snap:  # put onsets and ends back on the notated grid
        end = np.round((start + duration) * snap) / snap
        start = np.round(start * snap) / snap
        duration = end - start
    notes["start"] = start
    notes["duration"] = np.minimum(duration, limits.max_note_quarters)
    notes["pitch"] = raw["pitch"]
    notes["velocity"] = raw["velocity"]
    keep = (notes["duration"] > 0) & (notes["pitch"] >= 0) & (notes["pitch"] <= 127)
    return sort_notes(notes[keep])


def _printable(text: str) -> str:
    """``text`` without the surrogates that a file name which is not UTF-8 decodes to.

    Titles come from file names; one such as ``caf\\xe9.mid`` (Latin-1 bytes) would
    otherwise make every JSON writer downstream fail. Undecodable bytes become U+FFFD.
    """
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _dedupe(events: list, key) -> tuple:
    seen, out = set(), []
    for event in sorted(events, key=lambda e: e.time):
        k = key(event)
        if k not in seen:
            seen.add(k)
            out.append(event)
    return tuple(out)


def _tune_from_score(
    score,
    *,
    path,
    title: str,
    source: str,
    limits: ReadLimits,
    track_names=(),
    snap: int | None = None,
    columns: list[dict[str, np.ndarray]] | None = None,
) -> Tune:
    """Convert a symusic Score (quarter time unit) into a Tune, enforcing limits.

    ``columns`` are the tracks' ``notes.numpy()``, when the caller has them already.
    """
    tracks = []
    if columns is None:
        columns = [trk.notes.numpy() for trk in score.tracks]
    for i, trk in enumerate(score.tracks):
        notes = _notes_from_symusic(columns[i], limits, snap)
        if not len(notes):
            continue
        if track_names:
            name = track_names[i] if i < len(track_names) else f"track {i}"
        else:
            name = trk.name.strip() or f"track {i}"
        tracks.append(Track(notes=notes, name=name, program=int(trk.program), is_drum=bool(trk.is_drum)))
    n_notes = sum(len(t.notes) for t in tracks)
    if n_notes == 0:
        raise MusicReadError(path, "no notes")
    if all(t.is_drum for t in tracks):
        raise MusicReadError(path, "drums only (no pitched notes)")
    if n_notes > limits.max_notes:
        raise MusicReadError(path, f"{n_notes:,} notes exceed the limit of {limits.max_notes:,}")
    end = max(float((t.notes["start"] + t.notes["duration"]).max()) for t in tracks)
    if end > limits.max_quarters:
        raise MusicReadError(path, f"{end:,.0f} quarter notes long, over the limit of {limits.max_quarters:,.0f}")
    time_sigs = _dedupe(
        [
            TimeSignature(float(ts.time), int(ts.numerator), int(ts.denominator))
            for ts in score.time_signatures
            if ts.numerator > 0 and ts.denominator > 0
        ],
        key=lambda e: (round(e.time, 6),),
    )
    if not time_sigs or time_sigs[0].time > 0:
        time_sigs = (TimeSignature(0.0, 4, 4),) + time_sigs
    keys = _dedupe(
        [
            KeySignature(float(k.time), int(k.key), "minor" if int(k.tonality) else "major")
            for k in score.key_signatures
            if -7 <= int(k.key) <= 7
        ],
        key=lambda e: (round(e.time, 6),),
    )
    low, high = TEMPO_RANGE
    tempos = _dedupe(
        [Tempo(float(t.time), float(t.qpm)) for t in score.tempos if low <= float(t.qpm) <= high],
        key=lambda e: (round(e.time, 6),),
    )
    return Tune(
        tracks=tuple(tracks),
        title=_printable(title),
        source=source,
        time_signatures=time_sigs,
        key_signatures=keys,
        tempos=tempos,
    )


# --------------------------------------------------------------------------- MIDI


_MIDI_HEADER_BYTES = 14  # "MThd", length 6, format, track count, time division
_END_OF_TRACK = b"\xff\x2f\x00"


def _notes_off(channel: int) -> bytes:
    """Note-off events for every key of a channel, twice (delta 0 between them, none before).

    Inserted before a track's end-of-track event, they end every note still sounding
    there: a note-on that is never switched off lasts to the end of its track, and
    note-offs of silent keys are ignored. symusic ends the oldest sounding note of a key
    at each note-off, so twice makes a key with two or more notes still sounding show
    as overlapping notes, which sends the file down the slow path of :func:`_parse_midi`.
    """
    status = bytes([0x80 | channel, 0, 0])
    once = status + b"".join(bytes([0, key, 0]) for key in range(1, 128))  # the rest in running status
    return once + b"\x00" + once


_NOTES_OFF = tuple(_notes_off(channel) for channel in range(16))
_NOTE_ON_STATUS = tuple(bytes([0x90 | channel]) for channel in range(16))


def _midi_header_length(path: Path, data: bytes) -> int:
    """The declared header length, checked (6, or more when a writer padded the header)."""
    if data[:4] != b"MThd":
        raise MusicReadError(path, "not a MIDI file (no 'MThd' header)")
    if len(data) < _MIDI_HEADER_BYTES:
        raise MusicReadError(path, f"truncated header ({len(data)} bytes; a MIDI header has 14)")
    header_length = int.from_bytes(data[4:8], "big")
    if header_length < 6:
        reason = f"wrong header chunk length {header_length:,} (a MIDI header has 6 or more)"
        raise MusicReadError(path, reason)
    if 8 + header_length > len(data):
        raise MusicReadError(
            path,
            f"truncated: the header chunk declares {header_length:,} bytes but only {len(data) - 8:,} remain",
        )
    return header_length


def _check_midi_header(path: Path, data: bytes) -> int:
    """Check the header chunk (magic, length, format, track count, division); returns the track count."""
    _midi_header_length(path, data)
    fmt, n_tracks, division = (int.from_bytes(data[i : i + 2], "big") for i in (8, 10, 12))
    if fmt == 2:
        raise MusicReadError(path, "MIDI format 2 (independent sequences) is not supported")
    if fmt > 2:
        raise MusicReadError(path, f"unknown MIDI format {fmt} (formats 0 and 1 are read)")
    if n_tracks == 0:
        raise MusicReadError(path, "no tracks (the header declares 0)")
    if division & 0x8000:
        fps = 256 - (division >> 8)
        reason = f"SMPTE time division ({fps} frames per second) is not supported, only ticks per quarter"
        raise MusicReadError(path, reason)
    if division == 0:
        raise MusicReadError(path, "time division of 0 ticks per quarter note")
    return n_tracks


def _end_track_notes(body: bytes) -> bytes:
    """A track body with every sounding note switched off just before its end-of-track event.

    Only the channels whose note-on status byte occurs in the track get note-offs (a
    note-on always follows its status byte somewhere in its track; a payload byte that
    looks like one costs only time). A track without a final end-of-track event (a
    malformed one) is left as it is.
    """
    if not body.endswith(_END_OF_TRACK):
        return body
    offs = [_NOTES_OFF[channel] for channel, status in enumerate(_NOTE_ON_STATUS) if status in body]
    if not offs:
        return body
    return body[: -len(_END_OF_TRACK)] + b"\x00".join(offs) + b"\x00" + _END_OF_TRACK


def _normalise_midi(
    path: Path, data: bytes, *, rewrite_track: Callable[[bytes], bytes] = _end_track_notes
) -> bytes:
    """Check a MIDI file's structure and return the bytes that symusic is given.

    Rejects what symusic would reject (or misread) with a reason a person can act on:
    the header (magic, length, format, track count, time division) and that each of
    the declared track chunks fits in the file; events are left to symusic. A header
    padded past 6 bytes is honoured (the padding dropped, as the standard says). Each
    track chunk's body goes through ``rewrite_track``: by default it gets note-offs for
    every key before its end-of-track event, so that a note never switched off lasts to
    the end of its track.
    """
    n_tracks = _check_midi_header(path, data)
    header_length = int.from_bytes(data[4:8], "big")
    chunks = [data[:4] + (6).to_bytes(4, "big") + data[8:14]]
    position, seen = 8 + header_length, 0
    while seen < n_tracks and position + 8 <= len(data):
        tag, length = data[position : position + 4], int.from_bytes(data[position + 4 : position + 8], "big")
        remaining = len(data) - position - 8
        if length > remaining:
            what = f"track chunk {seen + 1}" if tag == b"MTrk" else f"chunk {tag!r} at byte {position:,}"
            raise MusicReadError(
                path, f"truncated: {what} declares {length:,} bytes but only {remaining:,} remain "
                "(a cut-off file or a wrong chunk length)"
            )
        body = data[position + 8 : position + 8 + length]
        if tag == b"MTrk":
            body = rewrite_track(body)
            seen += 1
        chunks.append(tag + len(body).to_bytes(4, "big") + body)
        position += 8 + length
    chunks.append(data[position:])  # whatever follows the declared tracks, as symusic would see it
    return b"".join(chunks)


def _has_restruck_keys(columns: list[dict[str, np.ndarray]]) -> bool:
    """Whether a key is struck again, in one track, while a note of it still sounds.

    ``columns`` are the tracks' ``notes.numpy()``. symusic pairs a note-off with the
    oldest sounding note-on of its key, so such a key shows as overlapping notes of
    one pitch.
    """
    for raw in columns:
        pitch = raw["pitch"]
        if len(pitch) < 2:
            continue
        order = np.argsort(pitch, kind="stable")  # symusic lists a track's notes by onset
        pitch, start = pitch[order], raw["time"][order]
        end = start + raw["duration"][order]
        if np.any((pitch[1:] == pitch[:-1]) & (start[1:] < end[:-1])):
            return True
    return False


def _read_varlen(data: bytes, position: int) -> tuple[int, int]:
    """A variable-length quantity at ``position``: ``(value, position after it)``."""
    value = 0
    for _ in range(4):
        byte = data[position]
        position += 1
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, position
    raise ValueError("variable-length quantity longer than 4 bytes")


def _varlen_bytes(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(out))


def _track_events(body: bytes) -> list[tuple[int, bytes]]:
    """``(delta ticks, event bytes)`` of a track chunk's body, running status written out.

    Raises
    ------
    ValueError, IndexError
        For an event that runs past the end of the track or a byte that starts none.
    """
    events, position, status = [], 0, 0
    while position < len(body):
        delta, position = _read_varlen(body, position)
        first = body[position]
        if first == 0xFF:  # meta event: type, length, data
            length, start = _read_varlen(body, position + 2)
            end, status = start + length, 0
            event = body[position:end]
        elif first in (0xF0, 0xF7):  # system exclusive: length, data
            length, start = _read_varlen(body, position + 1)
            end, status = start + length, 0
            event = body[position:end]
        else:
            if first & 0x80:
                if first >= 0xF0:
                    raise ValueError(f"status byte {first:#x} in a track")
                status, position = first, position + 1
            elif not status:
                raise ValueError("data byte without a status")
            end = position + (1 if status & 0xE0 == 0xC0 else 2)  # program change, channel pressure: 1
            event = bytes([status]) + body[position:end]
        if end > len(body):
            raise ValueError("event past the end of its track")
        events.append((delta, event))
        position = end
    return events


def _note_key(event: bytes) -> tuple[tuple[int, int] | None, bool]:
    """``((channel, key), is_note_on)`` of a note event; ``(None, False)`` for any other."""
    kind = event[0] & 0xF0
    if event[0] < 0xF0 and kind in (0x80, 0x90) and len(event) == 3:
        return (event[0] & 0x0F, event[1]), kind == 0x90 and event[2] > 0
    return None, False


def _offs_followed_by_offs(events: list[tuple[int, bytes]]) -> set[int]:
    """Indexes of the note-offs followed by another note-off of their key before its next note-on."""
    followed: set[int] = set()
    last: dict[tuple[int, int], bool] = {}  # key -> whether its next note event is a note-on
    for index in range(len(events) - 1, -1, -1):
        key, is_on = _note_key(events[index][1])
        if key is None:
            continue
        if not is_on and last.get(key) is False:
            followed.add(index)
        last[key] = is_on
    return followed


def _note_off(key: tuple[int, int]) -> bytes:
    return bytes([0x80 | key[0], key[1], 0])


def _paired_events(events: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    """A track's events re-paired so that each note-on has its own note-off (the rule of :func:`read_midi`).

    A re-struck key gets a note-off just before its new note-on; of several note-offs
    in a row the earlier ones, owed by notes a re-strike already ended, are dropped, as
    are note-offs of silent keys; notes still sounding at the end-of-track event (or
    after the last event of a track without one) are switched off there.
    """
    followed = _offs_followed_by_offs(events)
    sounding: set[tuple[int, int]] = set()
    owed: dict[tuple[int, int], int] = {}  # note-offs still to come for notes ended by a re-strike
    out, carried = [], 0  # carried: ticks of dropped events, added to the next one kept
    for index, (delta, event) in enumerate(events):
        delta, carried = delta + carried, 0
        key, is_on = _note_key(event)
        if event[:2] == b"\xff\x2f":
            out.extend((delta if i == 0 else 0, _note_off(held)) for i, held in enumerate(sorted(sounding)))
            delta = 0 if sounding else delta
            sounding.clear()
        elif key is not None and is_on and key in sounding:
            out.append((delta, _note_off(key)))
            owed[key], delta = owed.get(key, 0) + 1, 0
        elif key is not None and is_on:
            sounding.add(key)
        elif key is not None and (key not in sounding or (owed.get(key) and index in followed)):
            if key in sounding:
                owed[key] -= 1
            carried = delta
            continue
        elif key is not None:
            sounding.discard(key)
            owed.pop(key, None)
        out.append((delta, event))
    out.extend((carried if i == 0 else 0, _note_off(held)) for i, held in enumerate(sorted(sounding)))
    return out


def _paired_track(body: bytes) -> bytes:
    """A track body with its notes re-paired (the slow path, for files with a re-struck key)."""
    return b"".join(_varlen_bytes(delta) + event for delta, event in _paired_events(_track_events(body)))


def _parse_midi(path: Path, data: bytes) -> tuple[object, list[dict[str, np.ndarray]]]:
    """A symusic Score (quarter time) of MIDI bytes, notes paired by the rule of :func:`read_midi`.

    The bytes, with every track's notes switched off at its end, go straight to
    symusic, which pairs each note-off with the oldest sounding note of its key; that
    is the rule unless a key is struck again while sounding. Only then (symusic shows
    overlapping notes of one key) are the tracks' events re-paired (:func:`_paired_track`). Returns the
    score and its tracks' ``notes.numpy()`` columns.
    """
    from symusic import Score

    try:
        score = Score.from_midi(_normalise_midi(path, data), ttype="quarter")
    except MusicReadError:
        raise
    except Exception as error:  # symusic raises RuntimeError/ValueError with a message
        reason = str(error).replace("MiniMidi: ", "").replace(": iostream error", "")
        raise MusicReadError(path, f"unreadable MIDI: {reason}") from None
    columns = [track.notes.numpy() for track in score.tracks]
    if not _has_restruck_keys(columns):
        return score, columns
    try:
        paired = Score.from_midi(_normalise_midi(path, data, rewrite_track=_paired_track), ttype="quarter")
    except (ValueError, IndexError, RuntimeError):  # events symusic read but the re-pairing cannot
        return score, columns  # keep symusic's pairing
    return paired, [track.notes.numpy() for track in paired.tracks]


def read_midi(path: str | os.PathLike, *, limits: ReadLimits = DEFAULT_LIMITS) -> Tune:
    """Read a standard MIDI file (format 0 or 1).

    Notes are paired per track, channel and key as a synthesizer sounds them: a
    note-off (or a note-on of velocity 0) ends the sounding note of its key; a
    note-on of a key that is already sounding ends that note and starts a new one
    (two notes, the first ending where the second starts); a note that is never
    switched off ends at the end of its track. When several note-offs of a key come
    in a row (before its next note-on), the last one ends the sounding note and the
    earlier ones, owed by notes that a re-strike already ended, are ignored (so
    overlapping notes of one key, on-on-off-off, become two notes end to end). A
    note-off of a key that is not sounding is ignored; notes of zero length are dropped. A header chunk
    longer than 6 bytes is read, its padding skipped, as the standard says.

    Raises
    ------
    MusicReadError
        For an empty, truncated, non-MIDI, format-2, track-less, SMPTE-timed, note-less
        or drum-only file, or one past ``limits``. Tempo events outside
        :data:`TEMPO_RANGE` are dropped; notes longer than ``limits.max_note_quarters``
        are clipped to it.
    """
    path = Path(path)
    _check_size(path, limits)
    score, columns = _parse_midi(path, _read_bytes(path))
    return _tune_from_score(
        score, path=path, title=path.stem, source=str(path), limits=limits, columns=columns
    )


# --------------------------------------------------------------------------- ABC

_X_FIELD = re.compile(r"(?m)^(?=X:)")
_TITLE = re.compile(r"(?m)^T:\s*(.*)$")
_BODY_START = re.compile(r"(?m)^K:.*$")
_ABC_TRACK_NAMES = ("melody", "bass", "chords")  # what abc2midi makes of melody and "guitar chords"
_PICKUP_GRID = 12  # abc2midi shortens notes slightly; snap the pickup to 1/12 quarter
_ABC_GRID = 48  # abc2midi writes notes a tick late and a tick short; snap to 1/48 quarter


def split_abc(text: str) -> list[str]:
    """Split a multi-tune ABC file into single tunes (each starting at its ``X:`` line)."""
    return [part for part in _X_FIELD.split(text) if part.startswith("X:")]


def _pickup_length(tune_text: str) -> float:
    """Length in quarters of the anacrusis (the notes before the first bar line), or 0.

    The header and the text before the first bar line are parsed on their own; the
    end of that fragment is the pickup's length.
    """
    from symusic import Score

    match = _BODY_START.search(tune_text)
    if not match:
        return 0.0
    header, body = tune_text[: match.end()], tune_text[match.end() :]
    body = re.sub(r"(?m)^[A-Za-z]:.*$|%.*$", "", body)  # fields such as P: and comments
    body = re.sub(r'"[^"]*"|![^!]*!', "", body)  # chord symbols and decorations may hold '|'
    body = body.lstrip(" \t\r\n")
    body = re.sub(r"^(\[\||\|:|\|\||::|\|)", "", body)  # an opening bar line
    first, sep, _ = body.partition("|")
    if not sep or not re.search(r"[A-Ga-g]", first):
        return 0.0
    try:
        score = Score.from_abc(header + "\n" + first + "|\n", ttype="quarter")
    except Exception:  # an unparsable fragment: assume no pickup
        return 0.0
    return round(float(score.end()) * _PICKUP_GRID) / _PICKUP_GRID


def read_abc_text(
    text: str, *, source: str = "<abc>", limits: ReadLimits = DEFAULT_LIMITS, keep_chords: bool = True
) -> Tune:
    """Parse one ABC tune.

    Repeats are unfolded. An anacrusis is detected and the tune shifted so that bar
    lines fall where the ABC puts them. Guitar-chord symbols (``"Am"``) become the
    bass and chord tracks that abc2midi makes of them unless ``keep_chords`` is false.
    Parser warnings are collected into the error message when parsing fails.
    """
    from symusic import Score

    title_match = _TITLE.search(text)
    title = title_match.group(1).strip() if title_match else source
    with _OutputCapture() as capture:
        capture.new_lines()
        try:
            score = Score.from_abc(text, ttype="quarter")
        except Exception as error:
            failure = str(error)
        else:
            failure = ""
        pickup = _pickup_length(text) if not failure else 0.0
        messages = capture.new_lines()
    if failure:
        detail = "; ".join(m for m in messages if m.startswith("Error"))[:300]
        raise MusicReadError(source, f"unparsable ABC tune ({detail or failure})")
    if not keep_chords:
        score.tracks = score.tracks[:1]
    tune = _tune_from_score(
        score,
        path=source,
        title=title,
        source=source,
        limits=limits,
        track_names=_ABC_TRACK_NAMES,
        snap=_ABC_GRID,
    )
    bar_length = tune.time_signatures[0].bar_length
    if 1e-6 < pickup < bar_length - 1e-6:
        tune = _shift(tune, bar_length - pickup)
    return tune


def _shift(tune: Tune, offset: float) -> Tune:
    """Move every note and event later by ``offset`` quarters (events at 0 stay at 0)."""
    tracks = []
    for track in tune.tracks:
        notes = track.notes.copy()
        notes["start"] += offset
        tracks.append(Track(notes=notes, name=track.name, program=track.program, is_drum=track.is_drum))

    def later(event):
        return event if event.time == 0 else type(event)(**{**event.__dict__, "time": event.time + offset})

    return tune.replace(
        tracks=tuple(tracks),
        time_signatures=tuple(later(e) for e in tune.time_signatures),
        key_signatures=tuple(later(e) for e in tune.key_signatures),
        tempos=tuple(later(e) for e in tune.tempos),
    )


_BYTE_ORDER_MARKS = (  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _decode_abc(path: Path, data: bytes, encoding: str) -> str:
    """The text of an ABC file: by its byte-order mark if it has one, else as ``encoding``."""
    for mark, codec in _BYTE_ORDER_MARKS:
        if data.startswith(mark):
            try:
                return data.decode(codec)
            except UnicodeDecodeError as error:
                where = f"{error.reason} at byte {error.start:,}"
                reason = f"not {codec.upper()} text despite its byte-order mark ({where})"
                raise MusicReadError(path, reason) from None
    if b"\0" in data:
        raise MusicReadError(path, "not ABC text: it holds NUL bytes (binary data, or UTF-16/32 without a "
                                   "byte-order mark)")
    return data.decode(encoding, errors="replace")


def read_abc(
    path: str | os.PathLike,
    *,
    limits: ReadLimits = DEFAULT_LIMITS,
    keep_chords: bool = True,
    encoding: str = "latin-1",
) -> tuple[list[Tune], list[tuple[str, str]]]:
    """Read every tune of an ABC file.

    A file that starts with a byte-order mark (UTF-8, UTF-16 or UTF-32) is decoded
    by it; any other is decoded as ``encoding`` (Latin-1 by default, which accepts
    every byte). A file holding NUL bytes without a byte-order mark (binary data, or
    UTF-16 without its mark) is refused.

    Returns
    -------
    tunes, skipped
        The tunes read, and ``(source, reason)`` for each tune that could not be.
        A file with no readable tune raises :class:`MusicReadError`.
    """
    path = Path(path)
    _check_size(path, limits)
    text = _decode_abc(path, _read_bytes(path), encoding)
    parts = split_abc(text)
    if not parts:
        raise MusicReadError(path, "no ABC tune (no 'X:' field)")
    tunes, skipped = [], []
    with _OutputCapture():
        for part in parts:
            number = part.split("\n", 1)[0][2:].strip() or str(len(tunes) + len(skipped) + 1)
            source = f"{path}#{number}"
            try:
                tunes.append(read_abc_text(part, source=source, limits=limits, keep_chords=keep_chords))
            except MusicReadError as error:
                skipped.append((source, error.reason))
    if not tunes:
        raise MusicReadError(path, f"no readable ABC tune ({skipped[0][1] if skipped else 'empty'})")
    return tunes, skipped


# --------------------------------------------------------------------------- MusicXML


def _check_mxl(path: Path) -> None:
    """Refuse a compressed MusicXML file that is no zip archive or holds no score.

    The score is the file that ``META-INF/container.xml`` names, or, without a
    container, a ``.xml``/``.musicxml`` member outside ``META-INF/``.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            container = archive.read("META-INF/container.xml") if "META-INF/container.xml" in names else None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, RuntimeError, ValueError) as error:
        reason = f"not a compressed MusicXML file (.mxl is a zip archive): {error}"[:300]
        raise MusicReadError(path, reason) from None
    if container is not None:
        named = re.findall(rb'full-path\s*=\s*["\']([^"\']+)["\']', container)
        if not any(name.decode("utf-8", "replace") in names for name in named):
            reason = "compressed MusicXML holding no score (the file its container names is missing)"
            raise MusicReadError(path, reason)
        return
    scores = [n for n in names if n.lower().endswith((".xml", ".musicxml")) and not n.startswith("META-INF/")]
    if not scores:
        raise MusicReadError(path, "compressed MusicXML holding no score (no .xml or .musicxml file inside)")


def read_musicxml(path: str | os.PathLike, *, limits: ReadLimits = DEFAULT_LIMITS) -> Tune:
    """Read MusicXML (``.xml``, ``.musicxml`` or compressed ``.mxl``) through music21."""
    import music21
    from symusic import Score

    path = Path(path)
    _check_size(path, limits)
    if path.suffix.lower() == ".mxl":
        _check_mxl(path)
    try:
        stream = music21.converter.parse(str(path))
        with tempfile.TemporaryDirectory() as tmp:
            midi_path = Path(tmp) / "score.mid"
            stream.write("midi", fp=str(midi_path))
            score = Score(str(midi_path), ttype="quarter")
    except Exception as error:  # music21 raises many exception types for bad XML
        raise MusicReadError(path, f"unreadable MusicXML: {type(error).__name__}: {error}"[:300]) from None
    title = (stream.metadata.title if stream.metadata and stream.metadata.title else path.stem)
    return _tune_from_score(score, path=path, title=title, source=str(path), limits=limits)


# --------------------------------------------------------------------------- dispatch


def read(
    path: str | os.PathLike, *, limits: ReadLimits = DEFAULT_LIMITS, keep_chords: bool = True
) -> tuple[list[Tune], list[tuple[str, str]]]:
    """Read any supported file; returns ``(tunes, skipped)`` like :func:`read_abc`."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path (str or os.PathLike), got {path!r}")
    if not isinstance(limits, ReadLimits):
        raise TypeError(f"limits must be a ReadLimits, got {limits!r}")
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in MIDI_SUFFIXES:
        return [read_midi(path, limits=limits)], []
    if suffix in ABC_SUFFIXES:
        return read_abc(path, limits=limits, keep_chords=keep_chords)
    if suffix in MUSICXML_SUFFIXES:
        return [read_musicxml(path, limits=limits)], []
    raise MusicReadError(path, f"unsupported file type {suffix!r} (supported: {', '.join(SUPPORTED_SUFFIXES)})")


# --------------------------------------------------------------------------- writing

_DEFAULT_PROGRAMS = {"melody": 0, "chords": 0, "bass": 0}


def to_symusic(tune: Tune, *, ticks_per_quarter: int = _TPQ):
    """Convert a Tune to a ``symusic.Score`` in ticks (times rounded to the tick grid)."""
    from symusic import KeySignature as SKey
    from symusic import Note, Score
    from symusic import Tempo as STempo
    from symusic import TimeSignature as STime
    from symusic import Track as STrack

    def tick(t: float) -> int:
        return int(round(t * ticks_per_quarter))

    score = Score(ticks_per_quarter)
    for sig in tune.time_signatures:
        score.time_signatures.append(STime(tick(sig.time), sig.numerator, sig.denominator))
    for key in tune.key_signatures:
        score.key_signatures.append(SKey(tick(key.time), key.sharps, 1 if key.mode == "minor" else 0))
    for tempo in tune.tempos or (Tempo(0.0, tune.qpm),):
        score.tempos.append(STempo(tick(tempo.time), qpm=float(tempo.qpm)))
    for track in tune.tracks:
        out = STrack(track.name, int(track.program), bool(track.is_drum))
        for n in track.notes:
            start, end = tick(n["start"]), tick(n["start"] + n["duration"])
            out.notes.append(Note(start, max(end - start, 1), int(n["pitch"]), int(np.clip(n["velocity"], 1, 127))))
        score.tracks.append(out)
    return score


def midi_bytes(tune: Tune) -> bytes:
    """The Standard MIDI File (format 1) bytes of a Tune; deterministic for equal Tunes."""
    return bytes(to_symusic(tune).dumps_midi())


def write_midi(tune: Tune, path: str | os.PathLike) -> Path:
    """Write a Tune as a format-1 MIDI file, atomically. Returns the path."""
    path = Path(path)
    data = midi_bytes(tune)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def to_music21(tune: Tune):
    """A music21 ``Score`` of a Tune (through MIDI, quantised by music21), for notation."""
    import music21

    with tempfile.TemporaryDirectory() as tmp:
        midi_path = Path(tmp) / "tune.mid"
        midi_path.write_bytes(midi_bytes(tune))
        score = music21.converter.parse(str(midi_path))
    if tune.title:
        score.insert(0, music21.metadata.Metadata(title=tune.title))
    return score


def write_musicxml(tune: Tune, path: str | os.PathLike) -> Path:
    """Write a Tune as MusicXML (via music21), atomically. Returns the path."""
    path = Path(path)
    score = to_music21(tune)
    with atomic_path(path, suffix=".musicxml") as tmp:
        score.write("musicxml", fp=str(tmp))
    return path
