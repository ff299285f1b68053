"""Read MIDI, ABC and MusicXML into :class:`~musiclib.tune.Tune`; write Tunes as MIDI.

MIDI and ABC go through `symusic <https://github.com/Yikai-Liao/symusic>`_ (a C++
parser, about 3,000x faster than music21's MIDI reader on Nottingham files); ABC is
split into single tunes first because symusic reads only the first tune of a file.
MusicXML goes through music21, the right tool for notation. Every reader raises
:class:`MusicReadError` (a ``ValueError``) with the path and a reason for bad input,
so corpus loaders can skip and report a file instead of crashing.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

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


def _check_size(path: Path, limits: ReadLimits) -> None:
    if path.is_dir():
        raise MusicReadError(path, "is a directory, not a file")
    if not path.exists():
        raise MusicReadError(path, "no such file")
    size = path.stat().st_size
    if size == 0:
        raise MusicReadError(path, "empty file")
    if size > limits.max_bytes:
        raise MusicReadError(path, f"file of {size:,} bytes exceeds the limit of {limits.max_bytes:,}")


def _notes_from_symusic(track, limits: ReadLimits, snap: int | None) -> np.ndarray:
    raw = track.notes.numpy()
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
    score, *, path, title: str, source: str, limits: ReadLimits, track_names=(), snap: int | None = None
) -> Tune:
    """Convert a symusic Score (quarter time unit) into a Tune, enforcing limits."""
    tracks = []
    for i, trk in enumerate(score.tracks):
        notes = _notes_from_symusic(trk, limits, snap)
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


def _check_midi_structure(path: Path, data: bytes) -> None:
    """Reject what symusic would reject (or misread) with a reason a person can act on.

    Checks the header (magic, length, format, track count, time division) and that
    each of the declared track chunks fits in the file; events are left to symusic.
    """
    if data[:4] != b"MThd":
        raise MusicReadError(path, "not a MIDI file (no 'MThd' header)")
    if len(data) < _MIDI_HEADER_BYTES:
        raise MusicReadError(path, f"truncated header ({len(data)} bytes; a MIDI header has 14)")
    header_length = int.from_bytes(data[4:8], "big")
    if header_length != 6:
        raise MusicReadError(path, f"wrong header chunk length {header_length:,} (a MIDI header has 6)")
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
    position, seen = _MIDI_HEADER_BYTES, 0
    while seen < n_tracks and position + 8 <= len(data):
        tag, length = data[position : position + 4], int.from_bytes(data[position + 4 : position + 8], "big")
        remaining = len(data) - position - 8
        if length > remaining:
            what = f"track chunk {seen + 1}" if tag == b"MTrk" else f"chunk {tag!r} at byte {position:,}"
            raise MusicReadError(
                path, f"truncated: {what} declares {length:,} bytes but only {remaining:,} remain "
                "(a cut-off file or a wrong chunk length)"
            )
        seen += tag == b"MTrk"
        position += 8 + length


def read_midi(path: str | os.PathLike, *, limits: ReadLimits = DEFAULT_LIMITS) -> Tune:
    """Read a standard MIDI file (format 0 or 1).

    Raises
    ------
    MusicReadError
        For an empty, truncated, non-MIDI, format-2, track-less, SMPTE-timed, note-less
        or drum-only file, or one past ``limits``. A note-on that is never switched off
        is dropped; tempo events outside :data:`TEMPO_RANGE` are dropped.
    """
    from symusic import Score

    path = Path(path)
    _check_size(path, limits)
    data = path.read_bytes()
    _check_midi_structure(path, data)
    try:
        score = Score.from_midi(data, ttype="quarter")
    except Exception as error:  # symusic raises RuntimeError/ValueError with a message
        reason = str(error).replace("MiniMidi: ", "").replace(": iostream error", "")
        raise MusicReadError(path, f"unreadable MIDI: {reason}") from None
    return _tune_from_score(score, path=path, title=path.stem, source=str(path), limits=limits)


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


def read_abc(
    path: str | os.PathLike,
    *,
    limits: ReadLimits = DEFAULT_LIMITS,
    keep_chords: bool = True,
    encoding: str = "latin-1",
) -> tuple[list[Tune], list[tuple[str, str]]]:
    """Read every tune of an ABC file.

    Returns
    -------
    tunes, skipped
        The tunes read, and ``(source, reason)`` for each tune that could not be.
        A file with no readable tune raises :class:`MusicReadError`.
    """
    path = Path(path)
    _check_size(path, limits)
    text = path.read_bytes().decode(encoding, errors="replace")
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


def read_musicxml(path: str | os.PathLike, *, limits: ReadLimits = DEFAULT_LIMITS) -> Tune:
    """Read MusicXML (``.xml``, ``.musicxml`` or compressed ``.mxl``) through music21."""
    import music21
    from symusic import Score

    path = Path(path)
    _check_size(path, limits)
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
