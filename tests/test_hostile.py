"""Hostile input: a corpus of malformed files, built here, through every corpus entry point.

The corpus (:data:`CASES`) holds good files, every kind of broken file issues 8 and 19
list (link loops, padded headers, notes never switched off, re-struck keys, odd ABC and
MusicXML files), and files with unusual names. Each entry point -- ``datasets.load`` (serial, two
worker processes, and again from the parse cache), ``musiclib prepare`` and notebook
01 run by the pipeline -- must load the good tunes and skip each bad file with a
readable reason, without hanging. :data:`CASES` is the table of expected outcomes:
``"loaded"`` or ``"skipped: <fragment of the reason>"``.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import zipfile
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from support import (
    midi_chunk,
    midi_file,
    midi_header,
    midi_track,
    mido_reference_notes,
    musiclib_notes,
    note_off,
    note_on,
    scale_events,
    tempo_event,
    tiny_tune,
    track_name_event,
    write_tiny_midi,
)

from musiclib import datasets, io
from musiclib.io import ReadLimits
from musiclib.tune import DEFAULT_QPM

# --------------------------------------------------------------------------- the corpus

GOOD_ABC = "X:1\nT:Good tune\nM:4/4\nL:1/8\nK:G\nGABc d2e2|d2B2 G4|]\n"
BROKEN_ABC = "X:2\nT:Broken tune\nK:H\n(((((\n"
N_BIG = 50_000  # notes in the big file
FAR = 0x0FFFFFFF  # the largest MIDI delta time: 559,240 quarters at 480 ticks per quarter


def _good_track() -> bytes:
    return midi_track(scale_events(8))


def _bytes(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


def _tiny(seed: int, **kwargs) -> Callable[[Path], None]:
    return lambda path: write_tiny_midi(path, seed, **kwargs)


def _directory(path: Path) -> None:
    path.mkdir()
    (path / "inside.txt").write_text("a folder whose name ends in .mid\n")


def _dangling_link(path: Path) -> None:
    path.symlink_to(path.parent / "no-such-target.mid")


def _link_loop(path: Path) -> None:
    """``path`` links to a link (not a music file, so not reported itself) that links back."""
    other = path.with_name("pong.txt")
    path.symlink_to(other)
    other.symlink_to(path)


def _empty_mxl(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "a compressed MusicXML file without its score")


@dataclass(frozen=True)
class Case:
    """One entry of the hostile corpus and what every entry point must make of it."""

    id: str
    source: str  # the file (relative to the corpus folder) or ``file#tune`` for an ABC tune
    expect: str  # "loaded" or "skipped: <fragment of the reason>"
    make: Callable[[Path], None] | None = None  # writes ``source``; None: another case's file holds it
    raw_name: bytes | None = None  # a file name that is not UTF-8 (``source`` is how it is reported)

    @property
    def loaded(self) -> bool:
        return self.expect == "loaded"

    @property
    def reason(self) -> str:
        return self.expect.removeprefix("skipped: ")


DRUMS = midi_file(midi_track([(0, note_on(36, channel=9)), (240, note_off(36, 9)), (0, note_on(38, channel=9)),
                              (240, note_off(38, 9))]))
UNTERMINATED = midi_file(midi_track([(0, note_on(60)), (480, note_on(64)), (480, note_off(64)), (0, note_on(67)),
                                     (480, note_off(67))]))
STUCK_NOTE = midi_file(midi_track([(0, note_on(48)), (0, note_on(60)), (480, note_off(60)), (0, note_on(62)),
                                   (480, note_off(62)), (FAR, note_off(48))]))
PADDED_HEADER = midi_chunk(b"MThd", midi_header()[8:] + b"\0\0") + _good_track()  # 8 bytes: the spec says skip 2
NO_NOTE_OFFS = midi_file(midi_track([(0, note_on(60)), (480, note_on(62)), (480, note_on(60)), (480, note_on(64)),
                                     (480, b"\xff\x01\x03end")]))
RESTRUCK = midi_file(midi_track([(0, note_on(60)), (480, note_on(60)), (480, note_off(60)), (0, note_on(62)),
                                 (240, note_on(62)), (240, note_off(62)), (0, note_off(62))]))

CASES = [
    # good files
    Case("good-midi-1", "good 1.mid", "loaded", _tiny(1)),
    Case("good-midi-2", "good 2.mid", "loaded", _tiny(2)),
    Case("good-midi-3", "good 3.mid", "loaded", _tiny(3)),
    Case("good-midi-4", "nested/good 4.mid", "loaded", _tiny(4)),
    Case("good-hand-built-midi", "hand built.mid", "loaded", _bytes(midi_file(_good_track()))),
    Case("good-abc-tune-beside-a-broken-one", "tunes.abc#1", "loaded",
         lambda path: path.with_name("tunes.abc").write_text(GOOD_ABC + "\n" + BROKEN_ABC, encoding="latin-1")),
    # broken files
    Case("empty-file", "empty.mid", "skipped: empty file", _bytes(b"")),
    Case("random-bytes", "random.mid", "skipped: not a MIDI file (no 'MThd' header)",
         _bytes(np.random.default_rng(0).bytes(2000))),
    Case("text-file-named-mid", "README.mid", "skipped: not a MIDI file (no 'MThd' header)",
         lambda path: path.write_text("This is not music, just a text file with the wrong name.\n" * 5)),
    Case("truncated-header", "truncated header.mid", "skipped: truncated header (9 bytes",
         _bytes(midi_file(_good_track())[:9])),
    Case("truncated-track", "truncated track.mid", "skipped: truncated: track chunk 1 declares",
         _bytes(midi_file(_good_track())[:40])),
    Case("chunk-length-too-long", "long chunk.mid",
         "skipped: truncated: track chunk 1 declares 100,000 bytes but only",
         _bytes(midi_header() + midi_chunk(b"MTrk", _good_track()[8:], length=100_000))),
    Case("chunk-length-too-short", "short chunk.mid", "skipped: unreadable MIDI",
         _bytes(midi_header() + midi_chunk(b"MTrk", _good_track()[8:], length=5))),
    Case("header-length-past-the-file", "long header.mid",
         "skipped: truncated: the header chunk declares 200 bytes but only",
         _bytes(midi_chunk(b"MThd", midi_header()[8:], length=200) + _good_track())),
    Case("header-length-too-short", "short header.mid", "skipped: wrong header chunk length 4",
         _bytes(midi_chunk(b"MThd", midi_header()[8:12]) + _good_track())),
    Case("header-padded", "padded header.mid", "loaded", _bytes(PADDED_HEADER)),
    Case("zero-tracks", "zero tracks.mid", "skipped: no tracks (the header declares 0)",
         _bytes(midi_header(1, 0) + _good_track())),
    Case("format-2", "format 2.mid", "skipped: MIDI format 2 (independent sequences) is not supported",
         _bytes(midi_file(_good_track(), fmt=2))),
    Case("unknown-format-3", "format 3.mid", "skipped: unknown MIDI format 3", _bytes(midi_file(_good_track(), fmt=3))),
    Case("smpte-time-division", "smpte.mid", "skipped: SMPTE time division (25 frames per second) is not supported",
         _bytes(midi_file(_good_track(), division=0xE728))),
    Case("zero-time-division", "division zero.mid", "skipped: time division of 0 ticks per quarter",
         _bytes(midi_file(_good_track(), division=0))),
    Case("drums-only", "drums.mid", "skipped: drums only (no pitched notes)", _bytes(DRUMS)),
    Case("drums-only-written-by-musiclib", "drums 2.mid", "skipped: drums only", _tiny(5, drums=True)),
    Case("meta-events-only", "meta only.mid", "skipped: no notes",
         _bytes(midi_file(midi_track([(0, track_name_event("empty")), (0, tempo_event(500_000))])))),
    Case("note-on-without-note-off", "unterminated.mid", "loaded", _bytes(UNTERMINATED)),
    Case("only-unterminated-notes", "all unterminated.mid", "loaded", _bytes(NO_NOTE_OFFS)),
    Case("key-struck-again-before-its-note-off", "restruck.mid", "loaded", _bytes(RESTRUCK)),
    Case("note-on-at-the-end-of-its-track", "last note-on.mid", "skipped: no notes",
         _bytes(midi_file(midi_track([(0, note_on(60))])))),
    Case("absurd-note-duration", "stuck note.mid", "loaded", _bytes(STUCK_NOTE)),
    Case("absurd-onset", "far note.mid", "skipped: 559,242 quarter notes long, over the limit of 20,000",
         _bytes(midi_file(midi_track(scale_events(1) + [(FAR, note_on(62)), (480, note_off(62))])))),
    Case("tempo-zero", "tempo zero.mid", "loaded", _bytes(midi_file(midi_track([(0, tempo_event(0))] + scale_events(8))))),
    Case("tempo-one-microsecond", "tempo fast.mid", "loaded",
         _bytes(midi_file(midi_track([(0, tempo_event(1))] + scale_events(8))))),
    Case("tempo-largest", "tempo slow.mid", "loaded",
         _bytes(midi_file(midi_track([(0, tempo_event(0xFFFFFF))] + scale_events(8))))),
    Case("50000-notes", "big.mid", "loaded", _bytes(midi_file(midi_track(scale_events(N_BIG, ticks=120))))),
    Case("broken-abc-tune", "tunes.abc#2", "skipped: unparsable ABC tune"),
    Case("broken-abc-file", "broken.abc", "skipped: no readable ABC tune (unparsable ABC tune",
         lambda path: path.write_text(BROKEN_ABC)),
    Case("abc-without-tunes", "no tunes.abc", "skipped: no ABC tune (no 'X:' field)",
         lambda path: path.write_text("% only a comment\nT:title without X\n")),
    Case("abc-utf-16-with-bom", "utf16.abc#1", "loaded", lambda path: path.write_bytes(GOOD_ABC.encode("utf-16"))),
    Case("abc-utf-16-without-bom", "utf16 no bom.abc", "skipped: not ABC text: it holds NUL bytes",
         lambda path: path.write_bytes(GOOD_ABC.encode("utf-16-le"))),
    Case("abc-key-field-rejected", "bad key.abc", "skipped: First K: field must specify key signature",
         lambda path: path.write_text(GOOD_ABC.replace("K:G", "K:Zorp"))),
    Case("musicxml-not-well-formed", "cut.musicxml", "skipped: unreadable MusicXML: ParseError",
         lambda path: path.write_text("<?xml version='1.0'?><score-partwise><part id='P1'><measure>")),
    Case("mxl-holding-no-score", "empty.mxl", "skipped: compressed MusicXML holding no score", _empty_mxl),
    Case("mxl-not-a-zip", "not zip.mxl", "skipped: not a compressed MusicXML file",
         _bytes(b"PK\x03\x04 not really a zip archive" * 4)),
    Case("directory-named-mid", "x.mid", "skipped: is a directory, not a file", _directory),
    Case("symlink-to-itself", "self link.mid", "skipped: symbolic link loop", lambda path: path.symlink_to(path)),
    Case("symlink-loop-of-two", "ping.mid", "skipped: symbolic link loop", _link_loop),
    Case("fifo-named-mid", "pipe.mid", "skipped: not a regular file", lambda path: os.mkfifo(path)),
    Case("dangling-symlink", "link.mid", "skipped: broken symbolic link", _dangling_link),
    # unusual names
    Case("name-with-spaces", "a  tune with spaces .mid", "loaded", _tiny(6)),
    Case("name-with-apostrophes", "O'Neill's 'reel'.mid", "loaded", _tiny(7)),
    Case("upper-case-extension", "LOUD.MID", "loaded", _tiny(8)),
    Case("midi-extension", "long name.Midi", "loaded", _tiny(9)),
    Case("upper-case-abc", "TUNE.ABC#1", "loaded", lambda path: path.with_name("TUNE.ABC").write_text(GOOD_ABC)),
    Case("non-ascii-name", "Ünïcödé ☃ 曲/Tëst – ½.mid", "loaded", _tiny(10)),
    Case("non-utf8-name", "caf\ufffd.mid", "loaded", _tiny(11), raw_name=b"caf\xe9.mid"),
]
BY_ID = {case.id: case for case in CASES}
assert len(BY_ID) == len(CASES)
IGNORED = ["notes.txt", ".hidden.mid", "pong.txt"]  # not music / hidden: neither loaded nor reported


def build_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for case in CASES:
        if case.make is None:
            continue
        path = folder / case.source.split("#")[0]
        if case.raw_name is not None:
            path = Path(os.fsdecode(bytes(folder) + b"/" + case.raw_name))
        path.parent.mkdir(parents=True, exist_ok=True)
        case.make(path)
    (folder / "notes.txt").write_text("not a music suffix\n")
    (folder / ".hidden.mid").write_bytes(b"hidden files are ignored")
    return folder


# --------------------------------------------------------------------------- entry points


@dataclass
class Outcome:
    """What an entry point made of the corpus: tune sources loaded, skipped sources and reasons."""

    loaded: set[str]
    skipped: dict[str, str]
    seconds: float
    tunes: dict | None = None  # source -> Tune, where the entry point hands tunes back


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    return build_corpus(tmp_path_factory.mktemp("hostile") / "corpus")


@pytest.fixture(scope="module")
def data_home(tmp_path_factory):
    """Caches go to a private folder (the notebook's kernel inherits the variable)."""
    home = tmp_path_factory.mktemp("data-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(datasets.DATA_ENV_VAR, str(home))
        patch.setenv("MPLBACKEND", "Agg")
        yield home


def _from_corpus(corpus: datasets.Corpus, seconds: float) -> Outcome:
    assert len(corpus.skipped) == len(dict(corpus.skipped)), "a source is reported twice"
    return Outcome({t.source for t in corpus}, dict(corpus.skipped), seconds, corpus.by_source())


def _from_run_folder(folder: Path, seconds: float) -> Outcome:
    split = json.loads((folder / "split.json").read_text())
    record = json.loads((folder / "skipped.json").read_text())
    skipped = {entry["source"]: entry["reason"] for entry in record["skipped"]}
    assert len(skipped) == len(record["skipped"]), "a source is reported twice"
    return Outcome(set(split["train"] + split["valid"] + split["test"]), skipped, seconds)


def _load(hostile: Path, data_home: Path, **kwargs) -> Outcome:
    started = time.perf_counter()
    corpus = datasets.load(hostile, **kwargs)
    return _from_corpus(corpus, time.perf_counter() - started)


def _prepare_cli(hostile: Path, data_home: Path, out: Path) -> Outcome:
    from musiclib import cli

    printed = StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(printed):
        assert cli.main(["prepare", "--dataset", str(hostile), "--out", str(out)]) == 0
    seconds = time.perf_counter() - started
    text = printed.getvalue()
    n_skipped = sum(not case.loaded for case in CASES)
    assert f"{sum(c.loaded for c in CASES)} tunes from" in text and f"{n_skipped} skipped:" in text, text
    assert str(out / "skipped.json") in text or "skipped.json" in text
    return _from_run_folder(out, seconds)


def _notebook_01(hostile: Path, data_home: Path, runs: Path) -> Outcome:
    from musiclib import pipeline

    config = pipeline.PipelineConfig(name="hostile", runs_root=runs, dataset=str(hostile), quick=True)
    started = time.perf_counter()
    run_dir = pipeline.run(config, notebooks=("01_data_prep.ipynb",), log=lambda line: None)
    seconds = time.perf_counter() - started
    executed = (run_dir / "notebooks" / "01_data_prep.ipynb").read_text()
    assert "skipped:" in executed  # the notebook prints the skip report
    return _from_run_folder(run_dir, seconds)


ENTRY_POINTS = ["load", "load-2-workers", "load-from-cache", "prepare-cli", "notebook-01"]


@pytest.fixture(scope="module", params=ENTRY_POINTS)
def outcome(request, hostile, data_home, tmp_path_factory) -> Outcome:
    entry = request.param
    if entry == "load":
        return _load(hostile, data_home, use_cache=False, workers=1)
    if entry == "load-2-workers":
        return _load(hostile, data_home, use_cache=False, workers=2)
    if entry == "load-from-cache":
        cache = tmp_path_factory.mktemp("cache")
        datasets.load(hostile, cache_dir=cache, workers=1)
        return _load(hostile, data_home, cache_dir=cache)
    if entry == "prepare-cli":
        return _prepare_cli(hostile, data_home, tmp_path_factory.mktemp("prepared"))
    return _notebook_01(hostile, data_home, tmp_path_factory.mktemp("runs"))


# --------------------------------------------------------------------------- every case, every entry point


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_case_through_entry_point(outcome: Outcome, case: Case):
    if case.loaded:
        assert case.source in outcome.loaded, f"{case.source} not loaded; skipped as {outcome.skipped.get(case.source)}"
        assert case.source not in outcome.skipped
    else:
        assert case.source not in outcome.loaded
        assert case.source in outcome.skipped, f"{case.source} is not in the skip report"
        assert case.reason in outcome.skipped[case.source]


def test_nothing_else_is_loaded_or_reported(outcome: Outcome):
    expected_skips = {case.source for case in CASES if not case.loaded}
    assert set(outcome.skipped) == expected_skips
    assert outcome.loaded == {case.source for case in CASES if case.loaded}
    assert not any(ignored in source for ignored in IGNORED for source in outcome.loaded | set(outcome.skipped))


def test_entry_point_does_not_hang(outcome: Outcome):
    """Generous bounds for a loaded 2-core machine; the corpus loads in about a second."""
    assert outcome.seconds < (240 if outcome.tunes is None else 60)


# --------------------------------------------------------------------------- what "loaded" means for odd files


@pytest.fixture(scope="module")
def corpus(hostile, data_home) -> datasets.Corpus:
    return datasets.load(hostile, use_cache=False, workers=1)


def _tune(corpus: datasets.Corpus, case_id: str):
    return corpus.by_source()[BY_ID[case_id].source]


def test_note_on_without_note_off_lasts_to_the_end_of_its_track(corpus):
    """The note that is never switched off ends at the end of its track; the notes around it are kept as written."""
    notes = _tune(corpus, "note-on-without-note-off").tracks[0].notes
    assert notes["pitch"].tolist() == [60, 64, 67]
    assert notes["start"].tolist() == [0.0, 1.0, 2.0] and notes["duration"].tolist() == [3.0, 1.0, 1.0]


@pytest.mark.parametrize(
    "case_id, data",
    [
        ("note-on-without-note-off", UNTERMINATED),
        ("only-unterminated-notes", NO_NOTE_OFFS),
        ("key-struck-again-before-its-note-off", RESTRUCK),
        ("header-padded", PADDED_HEADER),
        ("absurd-note-duration", STUCK_NOTE),
    ],
)
def test_notes_agree_with_an_independent_mido_reader(outcome, case_id, data):
    """Through every entry point that hands tunes back, the notes are those a mido-based reader of the rule gives."""
    if outcome.tunes is None:
        pytest.skip("this entry point writes a run folder, not tunes")
    expected = mido_reference_notes(data)
    if case_id == "absurd-note-duration":  # the held note is clipped to the limit
        expected = [(p, s, min(e, s + ReadLimits().max_note_quarters)) for p, s, e in expected]
    assert musiclib_notes(outcome.tunes[BY_ID[case_id].source]) == expected


def test_unended_and_restruck_notes_by_hand(corpus):
    assert musiclib_notes(_tune(corpus, "only-unterminated-notes")) == [(60, 0.0, 2.0), (60, 2.0, 4.0), (62, 1.0, 4.0),
                                                                      (64, 3.0, 4.0)]
    assert musiclib_notes(_tune(corpus, "key-struck-again-before-its-note-off")) == [
        (60, 0.0, 1.0), (60, 1.0, 2.0), (62, 2.0, 2.5), (62, 2.5, 3.0)]


def test_utf16_abc_is_decoded(corpus):
    tune = _tune(corpus, "abc-utf-16-with-bom")
    assert tune.title == "Good tune" and tune.n_notes == 9


def test_absurd_note_duration_is_clipped(corpus):
    notes = _tune(corpus, "absurd-note-duration").tracks[0].notes
    held = notes[notes["pitch"] == 48]
    assert held["duration"].tolist() == [ReadLimits().max_note_quarters]  # 559,241 quarters held, clipped to 64
    assert notes[notes["pitch"] != 48]["duration"].tolist() == [1.0, 1.0]


@pytest.mark.parametrize("case_id", ["tempo-zero", "tempo-one-microsecond", "tempo-largest"])
def test_absurd_tempo_is_dropped(corpus, case_id):
    tune = _tune(corpus, case_id)
    assert tune.tempos == () and tune.qpm == DEFAULT_QPM
    assert len(tune.tracks[0].notes) == 8
    assert not io.TEMPO_RANGE[0] <= 60_000_000 / 0xFFFFFF  # 3.6 qpm, the slowest tempo MIDI can store


def test_unusual_names_keep_their_notes(corpus):
    for case_id, seed in [("name-with-spaces", 6), ("name-with-apostrophes", 7), ("non-ascii-name", 10),
                          ("non-utf8-name", 11)]:
        assert _tune(corpus, case_id).tracks[0].notes.tolist() == tiny_tune(seed).tracks[0].notes.tolist()
    undecodable = _tune(corpus, "non-utf8-name")
    assert undecodable.title == "caf\ufffd"  # printable, so JSON writers never fail on it
    json.dumps([undecodable.title, undecodable.source], ensure_ascii=False).encode("utf-8")


def test_50000_notes_load_quickly(hostile):
    """Under the default limits (200,000 notes) the big file loads, and fast."""
    started = time.perf_counter()
    tune = io.read_midi(hostile / BY_ID["50000-notes"].source)
    assert time.perf_counter() - started < 10
    assert tune.n_notes == N_BIG


@pytest.mark.parametrize(
    "limits, reason",
    [
        (ReadLimits(max_notes=10_000), "50,000 notes exceed the limit of 10,000"),
        (ReadLimits(max_quarters=1_000), "12,500 quarter notes long, over the limit of 1,000"),
        (ReadLimits(max_bytes=100_000), "bytes exceeds the limit of 100,000"),
    ],
    ids=["note-count", "duration", "size"],
)
def test_per_file_limits_skip_the_big_file(hostile, data_home, limits, reason):
    corpus = datasets.load(hostile, limits=limits, use_cache=False, workers=1)
    skipped = dict(corpus.skipped)
    assert reason in skipped[BY_ID["50000-notes"].source]
    assert {c.source for c in CASES if c.loaded and c.id != "50000-notes"} == {t.source for t in corpus}


def test_prepare_of_a_folder_without_good_files_fails_clearly(tmp_path, data_home, capsys):
    from musiclib import cli

    folder = tmp_path / "all bad"
    folder.mkdir()
    for case_id in ["empty-file", "random-bytes", "smpte-time-division", "drums-only"]:
        BY_ID[case_id].make(folder / BY_ID[case_id].source)
    assert cli.main(["prepare", "--dataset", str(folder), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "no readable tune" in err and "4 files skipped" in err and "empty.mid: empty file" in err
    assert not (tmp_path / "out").exists()
