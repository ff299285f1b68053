"""Readers and writers: MIDI, ABC, MusicXML <-> Tune."""

from __future__ import annotations

import os
import re
from pathlib import Path

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
)

from musiclib import io
from musiclib.tune import KeySignature, Tempo, TimeSignature, Track, Tune, make_notes

SHARED = Path(os.environ.get("MUSICLIB_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def two_track_tune() -> Tune:
    melody = make_notes([0, 1, 1.5, 2, 3], [1, 0.5, 0.5, 1, 1], [72, 74, 76, 77, 79])
    chords = make_notes([0, 0, 0, 2, 2, 2], [2, 2, 2, 2, 2, 2], [48, 52, 55, 53, 57, 60])
    return Tune(
        tracks=(Track(melody, name="melody"), Track(chords, name="chords", program=24)),
        title="test",
        time_signatures=(TimeSignature(0.0, 4, 4), TimeSignature(4.0, 3, 4)),
        key_signatures=(KeySignature(0.0, 1, "major"),),
        tempos=(Tempo(0.0, 96.0),),
    )


def test_midi_round_trip_keeps_notes_and_events(tmp_path):
    tune = two_track_tune()
    path = io.write_midi(tune, tmp_path / "tune.mid")
    back = io.read_midi(path)
    assert [t.name for t in back.tracks] == ["melody", "chords"]
    assert back.tracks[1].program == 24
    for a, b in zip(tune.tracks, back.tracks):
        np.testing.assert_array_equal(a.notes, b.notes)
    assert back.time_signatures == tune.time_signatures
    assert back.key_signatures == tune.key_signatures
    assert back.qpm == pytest.approx(96.0, abs=0.01)


def test_midi_bytes_are_deterministic():
    assert io.midi_bytes(two_track_tune()) == io.midi_bytes(two_track_tune())


def test_write_midi_is_atomic_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "out.mid"
    io.write_midi(two_track_tune(), path)
    before = path.read_bytes()

    def broken(_tune):
        raise RuntimeError("disk full")

    monkeypatch.setattr(io, "midi_bytes", broken)
    with pytest.raises(RuntimeError):
        io.write_midi(two_track_tune(), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.mid"]  # no temporary left behind


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty file"),
        (b"not a midi file at all\n" * 4, "no 'MThd' header"),
        (b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\xff\xff", "truncated: track chunk 1"),
        (b"MThd\x00\x00\x00\x06\x00\x02\x00\x01\x01\xe0MTrk\x00\x00\x00\x04\x00\xff\x2f\x00", "format 2"),
        (b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\xe7\x28MTrk\x00\x00\x00\x04\x00\xff\x2f\x00", "SMPTE"),
        (b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0MTrk\x00\x00\x00\x04\x00\xff\x2f\x00", "no notes"),
    ],
    ids=["empty", "text", "bad-chunk-length", "format-2", "smpte", "meta-only"],
)
def test_bad_midi_raises_clear_error(tmp_path, data, reason):
    path = tmp_path / "bad.mid"
    path.write_bytes(data)
    with pytest.raises(io.MusicReadError) as info:
        io.read_midi(path)
    assert reason in info.value.reason
    assert str(path) in str(info.value)


def test_drum_only_midi_is_rejected(tmp_path):
    drums = Tune(tracks=(Track(make_notes([0, 1], [1, 1], [36, 38]), name="drums", is_drum=True),))
    path = io.write_midi(drums, tmp_path / "drums.mid")
    with pytest.raises(io.MusicReadError, match="drums only"):
        io.read_midi(path)


def test_directory_named_like_midi(tmp_path):
    (tmp_path / "x.mid").mkdir()
    with pytest.raises(io.MusicReadError, match="directory"):
        io.read(tmp_path / "x.mid")


def test_limits_reject_huge_and_clip_long_notes(tmp_path):
    tune = Tune(tracks=(Track(make_notes([0, 1], [1, 500], [60, 62])),))
    path = io.write_midi(tune, tmp_path / "long.mid")
    clipped = io.read_midi(path, limits=io.ReadLimits(max_note_quarters=16))
    assert clipped.tracks[0].notes["duration"].max() == 16
    with pytest.raises(io.MusicReadError, match="notes exceed"):
        io.read_midi(path, limits=io.ReadLimits(max_notes=1))
    with pytest.raises(io.MusicReadError, match="exceeds the limit"):
        io.read_midi(path, limits=io.ReadLimits(max_bytes=10))
    with pytest.raises(ValueError, match="max_notes"):
        io.ReadLimits(max_notes=0)


ABC_TWO_TUNES = """%abc
X:1
T:With Pickup
M:4/4
L:1/8
K:G
D2|"G"G2B2 d2B2|"D"A2F2 D4|"G"G2B2 d2g2|"D"f2a2 g4|]

X:2
T:No Pickup
M:6/8
L:1/8
K:D
|:dfa afd|efg gfe:|

X:3
T:Broken
this is not music
"""


def test_abc_split_pickup_and_chords(tmp_path):
    path = tmp_path / "tunes.abc"
    path.write_text(ABC_TWO_TUNES, encoding="latin-1")
    tunes, skipped = io.read_abc(path)
    assert [t.title for t in tunes] == ["With Pickup", "No Pickup"]
    assert len(skipped) == 1 and skipped[0][0].endswith("#3")
    pickup, jig = tunes
    melody = pickup.tracks[0].notes
    # the one-quarter pickup D2 sits on the last beat of a 4/4 bar; the first full bar starts at 4
    assert melody["start"][0] == 3.0 and melody["pitch"][0] == 62
    assert melody["start"][1] == 4.0 and melody["pitch"][1] == 67
    assert [t.name for t in pickup.tracks] == ["melody", "bass", "chords"]
    assert pickup.key.name == "G major"
    # repeats unfold: 12 notes, starting on the downbeat
    assert jig.time_signatures[0].numerator == 6 and len(jig.tracks[0].notes) == 24
    assert jig.tracks[0].notes["start"][0] == 0.0
    assert len(io.read_abc(path, keep_chords=False)[0][0].tracks) == 1


def test_abc_without_tunes(tmp_path):
    path = tmp_path / "none.abc"
    path.write_text("just text\n")
    with pytest.raises(io.MusicReadError, match="no ABC tune"):
        io.read_abc(path)


def test_abc_parser_noise_is_captured(tmp_path, capfd):
    path = tmp_path / "tunes.abc"
    path.write_text(ABC_TWO_TUNES)
    io.read_abc(path)
    out, err = capfd.readouterr()
    assert "Error in line" not in out + err


def test_musicxml_via_music21(tmp_path):
    import music21

    stream = music21.stream.Stream([music21.meter.TimeSignature("3/4")])
    for name in ["C4", "E4", "G4"]:
        stream.append(music21.note.Note(name, quarterLength=1))
    path = Path(stream.write("musicxml", fp=str(tmp_path / "score.musicxml")))
    tune = io.read(path)[0][0]
    assert list(tune.all_notes()["pitch"]) == [60, 64, 67]
    assert str(tune.time_signatures[0]) == "3/4"


def test_unsupported_suffix(tmp_path):
    path = tmp_path / "song.mp3"
    path.write_bytes(b"ID3")
    with pytest.raises(io.MusicReadError, match="unsupported file type"):
        io.read(path)


@pytest.mark.skipif(not (SHARED / "nottingham").is_dir(), reason="../shared/data/nottingham not present")
def test_nottingham_midi_agrees_with_its_abc():
    """The Nottingham MIDI files were made from the ABC files: pitches and onsets must agree."""
    midi = io.read_midi(SHARED / "nottingham/MIDI/reelsa-c2.mid")
    abc_tunes, _ = io.read_abc(SHARED / "nottingham/ABC_cleaned/reelsa-c.abc")
    abc = abc_tunes[1]
    assert abc.title.startswith("Aaron")
    m, a = midi.tracks[0].notes, abc.tracks[0].notes
    n = min(len(m), len(a), 40)
    np.testing.assert_array_equal(m["pitch"][:n], a["pitch"][:n])
    np.testing.assert_allclose(m["start"][:n], a["start"][:n])


# --------------------------------------------------------------------------- valid files symusic alone misreads

def _mido_file(*tracks: list, ticks_per_beat: int = 480) -> bytes:
    """MIDI bytes written by mido from ``(type, note, delta)`` triples per track (channel 0 unless ``(.., ch)``)."""
    import io as stdlib_io

    import mido

    midi = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    for events in tracks:
        track = mido.MidiTrack()
        for kind, note, delta, *channel in events:
            velocity = 0 if kind == "note_off" else 90
            track.append(mido.Message(kind, note=note, velocity=velocity, time=delta, channel=(channel or [0])[0]))
        track.append(mido.MetaMessage("end_of_track", time=240))
        midi.tracks.append(track)
    out = stdlib_io.BytesIO()
    midi.save(file=out)
    return out.getvalue()


ON, OFF = "note_on", "note_off"
PAIRING_FILES = {
    "no-note-offs": ([(ON, 60, 0), (ON, 62, 480), (ON, 64, 480), (ON, 60, 480)],),
    "restruck-key": ([(ON, 60, 0), (ON, 60, 480), (OFF, 60, 480)],),
    "restruck-then-more": ([(ON, 60, 0), (ON, 60, 480), (OFF, 60, 240), (ON, 62, 0), (OFF, 62, 480)],),
    "overlapping-same-key": ([(ON, 67, 0), (ON, 67, 470), (OFF, 67, 10), (OFF, 67, 470)],),
    "struck-three-times": ([(ON, 60, 0), (ON, 60, 120), (ON, 60, 120), (OFF, 60, 120), (OFF, 60, 0), (OFF, 60, 240)],),
    "stray-note-off": ([(OFF, 65, 0), (ON, 60, 0), (OFF, 60, 480), (OFF, 60, 0), (ON, 60, 0), (OFF, 60, 480)],),
    "velocity-zero-offs": ([(ON, 60, 0), ("note_on_0", 60, 480), (ON, 60, 0)],),
    "two-channels-one-key": ([(ON, 60, 0, 0), (ON, 60, 240, 1), (OFF, 60, 240, 0), (ON, 60, 0, 0)],),
    "two-tracks": ([(ON, 48, 0), (ON, 52, 960)], [(ON, 60, 0), (ON, 60, 480), (OFF, 60, 480)]),
}


def _pairing_bytes(name: str) -> bytes:
    tracks = [[("note_on", note, delta, *rest) if kind == "note_on_0" else (kind, note, delta, *rest)
               for kind, note, delta, *rest in events] for events in PAIRING_FILES[name]]
    data = _mido_file(*tracks)
    if name == "velocity-zero-offs":  # mido writes note_on velocity 90; make the second one a velocity-0 off
        data = data.replace(bytes([0x90, 60, 90]), bytes([0x90, 60, 0]), 2).replace(bytes([0x90, 60, 0]),
                                                                                   bytes([0x90, 60, 90]), 1)
    return data


@pytest.mark.parametrize("name", list(PAIRING_FILES))
def test_note_pairing_matches_an_independent_mido_reader(tmp_path, name):
    """Notes never switched off, re-struck keys and overlaps: musiclib agrees with a mido-based reader."""
    data = _pairing_bytes(name)
    path = tmp_path / f"{name}.mid"
    path.write_bytes(data)
    expected = mido_reference_notes(data)
    assert expected, "the reference reader finds notes"
    assert musiclib_notes(io.read_midi(path)) == expected


def test_note_pairing_rule_by_hand(tmp_path):
    """The documented rule, spelt out on the files above (in quarter notes)."""
    def notes(name):
        path = tmp_path / f"{name}.mid"
        path.write_bytes(_pairing_bytes(name))
        return musiclib_notes(io.read_midi(path))

    assert notes("no-note-offs") == [(60, 0.0, 3.0), (60, 3.0, 3.5), (62, 1.0, 3.5), (64, 2.0, 3.5)]
    assert notes("restruck-key") == [(60, 0.0, 1.0), (60, 1.0, 2.0)]
    assert notes("overlapping-same-key") == [(67, 0.0, round(470 / 480, 5)), (67, round(470 / 480, 5), round(950 / 480, 5))]
    assert notes("two-tracks") == [(48, 0.0, 2.5), (52, 2.0, 2.5), (60, 0.0, 1.0), (60, 1.0, 2.0)]


def test_pretty_midi_agrees_where_it_keeps_the_notes(tmp_path):
    """A third reader: pretty_midi gives the two notes of a re-struck key (it drops never-ended ones)."""
    import pretty_midi

    path = tmp_path / "restruck.mid"
    path.write_bytes(_pairing_bytes("restruck-key"))
    theirs = pretty_midi.PrettyMIDI(str(path)).instruments[0].notes
    assert len(theirs) == len(io.read_midi(path).tracks[0].notes) == 2


@pytest.mark.parametrize("padding", [2, 4, 100])
def test_padded_midi_header_is_read(tmp_path, padding):
    """A header chunk longer than 6 bytes: its declared length is honoured, the extra bytes skipped."""
    track = midi_track(scale_events(8))
    data = midi_chunk(b"MThd", midi_header()[8:] + b"\x7f" * padding) + track
    path = tmp_path / "padded.mid"
    path.write_bytes(data)
    tune = io.read_midi(path)
    assert musiclib_notes(tune) == mido_reference_notes(data) == musiclib_notes(io.read_midi(_write(tmp_path, midi_file(track))))
    assert len(tune.tracks[0].notes) == 8


def _write(folder: Path, data: bytes, name: str = "plain.mid") -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "data, reason",
    [
        (midi_chunk(b"MThd", midi_header()[8:12]) + midi_track(scale_events(2)), "wrong header chunk length 4"),
        (midi_chunk(b"MThd", midi_header()[8:], length=200) + midi_track(scale_events(2)),
         "truncated: the header chunk declares 200 bytes"),
    ],
    ids=["header-too-short", "header-longer-than-the-file"],
)
def test_bad_header_length_is_refused(tmp_path, data, reason):
    with pytest.raises(io.MusicReadError, match=reason):
        io.read_midi(_write(tmp_path, data))


def test_paired_notes_keep_the_rest_of_the_file(tmp_path):
    """The slow path (a re-struck key) keeps tempo, meter and track names."""
    import mido

    midi = mido.MidiFile(file=__import__("io").BytesIO(_pairing_bytes("restruck-key")))
    midi.tracks[0].insert(0, mido.MetaMessage("set_tempo", tempo=400_000))
    midi.tracks[0].insert(0, mido.MetaMessage("time_signature", numerator=3, denominator=4))
    midi.tracks[0].insert(0, mido.MetaMessage("track_name", name="fiddle"))
    path = tmp_path / "restruck.mid"
    midi.save(str(path))
    tune = io.read_midi(path)
    assert tune.qpm == 150 and tune.time_signatures[0].numerator == 3 and tune.tracks[0].name == "fiddle"
    assert len(tune.tracks[0].notes) == 2


# --------------------------------------------------------------------------- odd files beyond MIDI

GOOD_ABC_TEXT = "X:1\nT:Tëst tune\nM:4/4\nL:1/8\nK:G\nGABc d2e2|d2B2 G4|]\n"


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-8-sig", "utf-32"])
def test_abc_with_a_byte_order_mark_is_decoded(tmp_path, codec):
    data = GOOD_ABC_TEXT.encode(codec)
    if codec == "utf-16-be":
        data = b"\xfe\xff" + data
    tunes, skipped = io.read(_write(tmp_path, data, "bom.abc"))
    assert skipped == [] and tunes[0].title == "Tëst tune" and tunes[0].n_notes == 9


def test_abc_with_nul_bytes_is_refused(tmp_path):
    """UTF-16 without its byte-order mark (or any binary file named .abc)."""
    with pytest.raises(io.MusicReadError, match="not ABC text: it holds NUL bytes"):
        io.read(_write(tmp_path, GOOD_ABC_TEXT.encode("utf-16-le"), "nul.abc"))


def test_abc_with_a_bom_but_bad_bytes_is_refused(tmp_path):
    with pytest.raises(io.MusicReadError, match="not UTF-8-SIG text despite its byte-order mark"):
        io.read(_write(tmp_path, b"\xef\xbb\xbfX:1\nK:C\n\xff\xfe\xfd CDE|\n", "bad.abc"))


def test_abc_key_field_the_parser_rejects(tmp_path):
    with pytest.raises(io.MusicReadError, match="First K: field must specify key signature"):
        io.read(_write(tmp_path, b"X:1\nT:k\nM:4/4\nL:1/8\nK:Zorp\nGABc d2e2|\n", "key.abc"))


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("cut.xml", b"<?xml version='1.0'?><score-partwise><part id='P1'><measure>", "unreadable MusicXML: ParseError"),
        ("tags.musicxml", b"<score-partwise><oops></score-partwise>", "unreadable MusicXML: ParseError"),
        ("zip.mxl", b"PK\x03\x04 not really a zip archive" * 4, "not a compressed MusicXML file (.mxl is a zip"),
    ],
)
def test_malformed_musicxml_is_refused(tmp_path, name, data, reason):
    with pytest.raises(io.MusicReadError, match=re.escape(reason)):
        io.read(_write(tmp_path, data, name))


@pytest.mark.parametrize("container", [False, True], ids=["no-container", "container-names-a-missing-file"])
def test_mxl_holding_no_score_is_refused(tmp_path, container):
    import zipfile

    path = tmp_path / "empty.mxl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "no score here")
        if container:
            archive.writestr("META-INF/container.xml",
                             "<container><rootfiles><rootfile full-path='score.xml'/></rootfiles></container>")
    with pytest.raises(io.MusicReadError, match="compressed MusicXML holding no score"):
        io.read(path)


# --------------------------------------------------------------------------- file-system errors on one file

def test_symbolic_link_loop_is_a_read_error(tmp_path):
    loop = tmp_path / "loop.mid"
    loop.symlink_to(loop)
    with pytest.raises(io.MusicReadError, match="symbolic link loop"):
        io.read(loop)


def test_file_read_errors_are_read_errors(tmp_path, monkeypatch):
    path = _write(tmp_path, midi_file(midi_track(scale_events(4))), "locked.mid")
    real = Path.read_bytes

    def refuse(self):
        if self.name == "locked.mid":
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(io.MusicReadError, match="unreadable: Permission denied"):
        io.read(path)


def test_re_pairing_reads_every_kind_of_event(tmp_path):
    """The slow path's own event reader: sysex, program change and pitch bend in running status, meta events."""
    events = [
        (0, b"\xf0\x05\x7e\x7f\x09\x01\xf7"),  # sysex (GM on)
        (0, bytes([0xC0, 40])), (0, bytes([5])),  # program change, then one in running status (1 data byte)
        (0, bytes([0xE0, 0, 64])), (0, bytes([1, 64])),  # pitch bend, then one in running status
        (0, b"\xff\x01\x04text"),
        (0, note_on(60)), (480, note_on(60)), (0, bytes([62, 80])),  # running-status note-on of 62
        (480, note_off(60)), (0, bytes([0x80, 62, 0])), (240, bytes([0xB0, 7, 100])),
    ]
    data = midi_file(midi_track(events))
    path = _write(tmp_path, data, "events.mid")
    assert musiclib_notes(io.read_midi(path)) == mido_reference_notes(data) == [
        (60, 0.0, 1.0), (60, 1.0, 2.0), (62, 1.0, 2.0)]
    assert io.read_midi(path).tracks[0].program == 5
