"""Readers and writers: MIDI, ABC, MusicXML <-> Tune."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

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
