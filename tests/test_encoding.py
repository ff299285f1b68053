"""Token encodings (events, paper), the common interface and augmentation helpers."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from musiclib import io
from musiclib.encoding import (
    ENCODINGS,
    EventEncoding,
    PaperEncoding,
    PianoRollEncoding,
    count_bars,
    encoding_from_config,
    get_encoding,
    transpose_to_c,
    transpositions,
)
from musiclib.encoding.events import duration_ladder
from musiclib.encoding.paper import chord_token, normal_order, note_name, parse_token
from musiclib.tune import KeySignature, TimeSignature, Track, Tune, make_notes

SHARED = Path(
    os.environ.get("MUSICLIB_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data")
)
NOTTINGHAM = SHARED / "nottingham" / "MIDI"

EVENTS = EventEncoding()
SPQ = EVENTS.steps_per_quarter
LADDER = EVENTS.durations.tolist()
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- helpers


def bar_steps(meter: tuple[int, int], spq: int = SPQ) -> int:
    return meter[0] * 4 * spq // meter[1]


def tune_from(notes_by_track, signatures=(TimeSignature(0.0, 4, 4),), drums=None) -> Tune:
    """A Tune from ``{track: [(start, duration, pitch), ...]}`` (quarters)."""
    tracks = []
    for index in sorted(notes_by_track):
        rows = notes_by_track[index]
        notes = make_notes([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
        tracks.append(Track(notes=notes, name=f"source {index}"))
    if drums:
        notes = make_notes([r[0] for r in drums], [r[1] for r in drums], [r[2] for r in drums])
        tracks.insert(1, Track(notes=notes, name="drums", is_drum=True))
    return Tune(tracks=tuple(tracks), time_signatures=tuple(signatures))


@st.composite
def grid_tunes(
    draw, encoding: EventEncoding = EVENTS, *, max_bars=6, max_notes=30, source_tracks=3, no_overlap=False
):
    """Random tunes whose notes sit on the encoding's grid with ladder durations."""
    meters = encoding.meters
    spq = encoding.steps_per_quarter
    ladder = encoding.durations.tolist()
    n_bars = draw(st.integers(1, max_bars))
    bar_meters = [draw(st.sampled_from(meters))]
    for _ in range(n_bars - 1):
        bar_meters.append(bar_meters[-1] if draw(st.booleans()) else draw(st.sampled_from(meters)))
    starts = [0]
    for meter in bar_meters[:-1]:
        starts.append(starts[-1] + bar_steps(meter, spq))
    signatures = [TimeSignature(0.0, *bar_meters[0])]
    for i in range(1, n_bars):
        if bar_meters[i] != bar_meters[i - 1]:
            signatures.append(TimeSignature(starts[i] / spq, *bar_meters[i]))
    rows: dict[int, list] = {k: [] for k in range(source_tracks)}
    ends: dict[tuple[int, int], int] = {}
    n_notes = draw(st.integers(0, max_notes))
    candidates = []
    for _ in range(n_notes):
        bar = draw(st.integers(0, n_bars - 1))
        onset = starts[bar] + draw(st.integers(0, bar_steps(bar_meters[bar], spq) - 1))
        track = draw(st.integers(0, source_tracks - 1))
        pitch = draw(st.integers(encoding.lowest_pitch, encoding.highest_pitch))
        duration = draw(st.sampled_from(ladder))
        candidates.append((onset, track, pitch, duration))
    for onset, track, pitch, duration in sorted(candidates):
        merged = min(track, encoding.n_tracks - 1)
        if no_overlap and ends.get((merged, pitch), -1) > onset:
            continue
        ends[(merged, pitch)] = onset + duration
        rows[track].append((onset / spq, duration / spq, pitch))
    return tune_from(rows, signatures)


@st.composite
def loose_tunes(draw):
    """Random tunes off the grid: any pitch, odd meters and meter changes anywhere, a drum track."""
    n_tracks = draw(st.integers(1, 4))
    rows = {}
    for k in range(n_tracks):
        notes = draw(
            st.lists(
                st.tuples(
                    st.floats(0, 40, allow_nan=False),
                    st.floats(0.01, 12, allow_nan=False),
                    st.integers(0, 127),
                ),
                max_size=15,
            )
        )
        rows[k] = notes
    meters = st.tuples(st.integers(1, 19), st.sampled_from([1, 2, 4, 8, 16, 32]))
    signatures = [TimeSignature(0.0, *draw(meters))]
    for time in sorted(set(draw(st.lists(st.integers(1, 80), max_size=3)))):
        signatures.append(TimeSignature(time / 2, *draw(meters)))
    drums = draw(st.lists(st.tuples(st.floats(0, 20), st.just(0.5), st.integers(35, 60)), max_size=3))
    return tune_from(rows, signatures, drums=drums)


def expected_events(tune: Tune, encoding: EventEncoding) -> set[tuple[int, int, int, int]]:
    """Reference quantization, written plainly: (track, onset step, pitch, ladder duration)."""
    spq = encoding.steps_per_quarter
    ladder = encoding.durations.tolist()
    best: dict[tuple[int, int, int], int] = {}
    pitched = [t for t in tune.tracks if not t.is_drum]
    for index, track in enumerate(pitched):
        k = min(index, encoding.n_tracks - 1)
        for note in track.notes:
            start, duration, pitch = float(note["start"]), float(note["duration"]), int(note["pitch"])
            onset = math.floor(start * spq + 0.5)
            length = max(math.floor((start + duration) * spq + 0.5) - onset, 1)
            if onset < 0 or not encoding.lowest_pitch <= pitch <= encoding.highest_pitch:
                continue
            quantized = min(ladder, key=lambda d: (abs(d - length), d))
            best[(k, onset, pitch)] = max(best.get((k, onset, pitch), 0), quantized)
    return {(k, onset, pitch, d) for (k, onset, pitch), d in best.items()}


def decoded_events(tune: Tune, spq: int = SPQ) -> set[tuple[int, int, int, int]]:
    return {
        (k, round(float(n["start"]) * spq), int(n["pitch"]), round(float(n["duration"]) * spq))
        for k, track in enumerate(tune.tracks)
        for n in track.notes
    }


def named_events(tune: Tune, spq: int = SPQ) -> set[tuple[str, int, int, int]]:
    return {
        (track.name, round(float(n["start"]) * spq), int(n["pitch"]), round(float(n["duration"]) * spq))
        for track in tune.tracks
        for n in track.notes
    }


def midi_round_trip(tune: Tune) -> Tune:
    with tempfile.TemporaryDirectory() as folder:
        path = io.write_midi(tune, Path(folder) / "tune.mid")
        return io.read_midi(path)


# --------------------------------------------------------------------------- interface


def test_registry_and_configs_round_trip():
    assert ENCODINGS == ("paper", "events", "pianoroll")
    for name in ENCODINGS:
        encoding = get_encoding(name)
        assert encoding.name == name
        assert encoding_from_config({"name": name, **encoding.config()}) == encoding
        assert type(encoding).from_config(encoding.config()) == encoding
    custom = get_encoding("events", n_tracks=1, steps_per_quarter=4)
    assert custom == EventEncoding(n_tracks=1, steps_per_quarter=4)
    assert encoding_from_config({"name": "events", **custom.config()}) == custom


@pytest.mark.parametrize(
    "make, parameter",
    [
        (lambda: get_encoding("lstm"), "unknown encoding"),
        (lambda: encoding_from_config({"n_tracks": 2}), "name"),
        (lambda: EventEncoding.from_config({"name": "paper"}), "not 'events'"),
        (lambda: EventEncoding.from_config({"bogus": 1}), "bogus"),
        (lambda: EventEncoding(steps_per_quarter=0), "steps_per_quarter"),
        (lambda: EventEncoding(n_tracks=0), "n_tracks"),
        (lambda: EventEncoding(lowest_pitch=-1), "lowest_pitch"),
        (lambda: EventEncoding(lowest_pitch=60, highest_pitch=59), "highest_pitch"),
        (lambda: EventEncoding(max_duration_quarters=1 / 7), "max_duration_quarters"),
        (lambda: EventEncoding(max_bar_quarters=0), "max_bar_quarters"),
        (lambda: EventEncoding(n_tracks=True), "n_tracks"),
        (lambda: PaperEncoding(step=0), "step"),
        (lambda: PaperEncoding(step=0.01), "step"),
        (lambda: PaperEncoding(chord_octave=9), "chord_octave"),
        (lambda: PianoRollEncoding(n_pitches=200), "n_pitches"),
        (lambda: PianoRollEncoding(lowest_pitch=128), "lowest_pitch"),
    ],
)
def test_invalid_configs_name_the_parameter(make, parameter):
    with pytest.raises(ValueError, match=parameter):
        make()


def test_configs_are_json_able():
    import json

    for name in ENCODINGS:
        config = get_encoding(name).config()
        assert json.loads(json.dumps(config)) == config


# --------------------------------------------------------------------------- events: grammar


def test_event_vocabulary_is_fixed_and_enumerated():
    vocab = EVENTS.vocabulary()
    assert vocab == EventEncoding().vocabulary() and vocab is EVENTS.vocabulary([["ignored"]])
    assert vocab.tokens[:4] == ("PAD", "BOS", "EOS", "UNK")
    assert len(EVENTS.meters) == 46 and ("6", "8") not in EVENTS.meters and (6, 8) in EVENTS.meters
    assert (16, 4) not in EVENTS.meters  # a 16-quarter bar exceeds max_bar_quarters
    assert LADDER == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 15, 18, 21, 24, 30, 36, 42, 48, 60, 72, 84, 96]
    counts = {"Meter": 46, "Bar": 1, "Pos": 96, "Track": 2, "Pitch": 88, "Dur": 24}
    for prefix, count in counts.items():
        assert sum(t.split("_")[0] == prefix for t in vocab.tokens) == count
    assert len(vocab) == 4 + sum(counts.values())


def test_duration_ladder_other_resolutions():
    assert duration_ladder(4, 32).tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32]
    assert duration_ladder(12, 30).tolist()[-3:] == [21, 24, 30]
    assert duration_ladder(12, 90).tolist()[-2:] == [84, 90]  # the maximum is always a rung


def test_known_token_sequence():
    melody = [(0, 1, 72), (1, 0.5, 74), (1.5, 1 / 3, 76), (8, 2.25, 79)]
    chords = [(0, 4, 48), (0, 4, 52), (0, 4, 55), (1, 4, 50)]
    tune = tune_from({0: melody, 1: chords}, [TimeSignature(0.0, 4, 4), TimeSignature(8.0, 3, 4)])
    tokens = EVENTS.encode(tune)
    assert tokens == [
        "BOS", "Meter_4/4",
        "Bar", "Pos_0", "Track_0", "Pitch_72", "Dur_12",
        "Track_1", "Pitch_48", "Dur_48", "Pitch_52", "Dur_48", "Pitch_55", "Dur_48",
        "Pos_12", "Track_0", "Pitch_74", "Dur_6", "Track_1", "Pitch_50", "Dur_48",
        "Pos_18", "Track_0", "Pitch_76", "Dur_4",
        "Bar",
        "Bar", "Meter_3/4", "Pos_0", "Track_0", "Pitch_79", "Dur_24",  # 27 steps: tie 24/30 -> shorter
        "EOS",
    ]  # fmt: skip
    assert count_bars(tokens) == 3
    assert EVENTS.encode_ids(tune).tolist() == EVENTS.vocabulary().encode(tokens, strict=True).tolist()
    decoded = EVENTS.decode(tokens)
    assert decoded.dropped == 0
    assert [t.name for t in decoded.tune.tracks] == ["melody", "chords"]
    assert [str(s) for s in decoded.tune.time_signatures] == ["4/4", "3/4"]
    assert decoded.tune.time_signatures[1].time == 8.0
    assert decoded.tune.qpm == 120.0 and EVENTS.decode(tokens, qpm=90).tune.qpm == 90
    np.testing.assert_allclose(decoded.tune.tracks[0].notes["start"], [0, 1, 1.5, 8])
    np.testing.assert_allclose(decoded.tune.tracks[0].notes["duration"], [1, 0.5, 1 / 3, 2])


def test_empty_tune_and_empty_tracks():
    empty = Tune(tracks=(), time_signatures=(TimeSignature(0.0, 6, 8),))
    assert EVENTS.encode(empty) == ["BOS", "Meter_6/8", "EOS"]
    decoded = EVENTS.decode(["BOS", "Meter_6/8", "EOS"])
    assert decoded.dropped == 0 and decoded.tune.n_notes == 0 and len(decoded.tune.tracks) == 2
    assert EVENTS.encode(decoded.tune) == ["BOS", "Meter_6/8", "EOS"]
    chords_only = EVENTS.decode(["BOS", "Meter_4/4", "Bar", "Pos_0", "Track_1", "Pitch_60", "Dur_12", "EOS"])
    assert len(chords_only.tune.tracks[0]) == 0 and len(chords_only.tune.tracks[1]) == 1
    assert EVENTS.encode(chords_only.tune)[4] == "Track_1"


def test_onsets_round_to_the_grid_and_into_the_next_bar():
    tune = tune_from({0: [(3.99, 1, 60), (1.04, 1, 62)]})
    tokens = EVENTS.encode(tune)
    assert tokens[2:] == [
        "Bar", "Pos_12", "Track_0", "Pitch_62", "Dur_12",
        "Bar", "Pos_0", "Track_0", "Pitch_60", "Dur_12",
        "EOS",
    ]  # fmt: skip


def test_stats_for_dropped_merged_and_clipped_notes():
    tune = tune_from(
        {
            0: [(0, 1, 60), (0, 2, 60), (0, 1, 10), (0, 1, 120), (1, 20, 64)],
            1: [(0, 1, 48)],
            2: [(0, 3, 48), (2, 1, 50)],  # merged into track 1; the duplicate 48 keeps the longest
        },
        drums=[(0, 0.5, 36)],
    )
    tokens, stats = EVENTS.encode_with_stats(tune)
    assert stats.notes == 8 and stats.drums == 1
    assert stats.out_of_range == 2 and stats.duplicates == 2 and stats.clipped == 1
    assert stats.encoded == 4 and stats.bars == 1 and stats.remapped_meters == 0
    assert decoded_events(EVENTS.decode(tokens).tune) == {
        (0, 0, 60, 24), (0, 12, 64, 96), (1, 0, 48, 36), (1, 24, 50, 12)
    }  # fmt: skip
    assert "Pitch_36" not in tokens


def test_track_merging_and_names():
    tune = tune_from({0: [(0, 1, 60)], 1: [(0, 1, 64)], 2: [(0, 1, 67)]})
    piano = EventEncoding(n_tracks=1)
    decoded = piano.decode(piano.encode(tune)).tune
    assert [t.name for t in decoded.tracks] == ["piano"] and len(decoded.tracks[0]) == 3
    three = EventEncoding(n_tracks=3)
    decoded = three.decode(three.encode(tune)).tune
    assert [t.name for t in decoded.tracks] == ["track 0", "track 1", "track 2"]
    assert [len(t) for t in decoded.tracks] == [1, 1, 1]


def test_unsupported_meters_map_to_the_nearest_supported_one():
    assert EVENTS.supported_meter(6, 8) == (6, 8)
    assert EVENTS.supported_meter(4, 32) == (2, 16)  # same bar length, nearest denominator
    assert EVENTS.supported_meter(19, 16) == (9, 8)  # 4.75 quarters: 4.5 and 5 tie; nearer denominator
    assert EVENTS.supported_meter(12, 4) == (8, 4)  # longer than max_bar_quarters
    tune = tune_from({0: [(0, 1, 60), (9.5, 1, 62)]}, [TimeSignature(0.0, 19, 16)])
    tokens, stats = EVENTS.encode_with_stats(tune)
    assert tokens[1] == "Meter_9/8" and stats.remapped_meters == 1
    assert decoded_events(EVENTS.decode(tokens).tune) == {(0, 0, 60, 12), (0, 114, 62, 12)}


def test_meter_change_inside_a_bar_takes_effect_at_the_next_bar_line():
    # 4/4, then 3/4 stated at 6.0 (mid-bar, as some Nottingham files do): bars at 0, 4, 8, 11
    tune = tune_from({0: [(6, 1, 60), (11, 1, 62)]}, [TimeSignature(0.0, 4, 4), TimeSignature(6.0, 3, 4)])
    tokens = EVENTS.encode(tune)
    assert tokens == ["BOS", "Meter_4/4", "Bar", "Bar", "Pos_24", "Track_0", "Pitch_60", "Dur_12",
                      "Bar", "Meter_3/4", "Bar", "Pos_0", "Track_0", "Pitch_62", "Dur_12", "EOS"]  # fmt: skip
    decoded = EVENTS.decode(tokens).tune
    assert decoded_events(decoded) == {(0, 72, 60, 12), (0, 132, 62, 12)}  # absolute times kept
    assert decoded.time_signatures[1] == TimeSignature(8.0, 3, 4)


# --------------------------------------------------------------------------- events: round trips


COARSE = EventEncoding(steps_per_quarter=4, n_tracks=1, max_duration_quarters=4, max_bar_quarters=6)


@FAST
@given(grid_tunes())
def test_events_tokens_tune_tokens_is_exact(tune):
    tokens = EVENTS.encode(tune)
    decoded = EVENTS.decode(tokens)
    assert decoded.dropped == 0
    assert EVENTS.encode(decoded.tune) == tokens
    assert EVENTS.vocabulary().encode(tokens, strict=True).shape == (len(tokens),)


@FAST
@given(grid_tunes(COARSE))
def test_events_round_trip_other_config(tune):
    encoding = COARSE
    tokens = encoding.encode(tune)
    assert encoding.encode(encoding.decode(tokens).tune) == tokens
    assert encoding.vocabulary().encode(tokens, strict=True).shape == (len(tokens),)


@FAST
@given(loose_tunes())
def test_events_tune_tokens_tune_keeps_notes_after_quantization(tune):
    tokens = EVENTS.encode(tune)
    decoded = EVENTS.decode(tokens)
    assert decoded.dropped == 0
    assert decoded_events(decoded.tune) == expected_events(tune, EVENTS)
    assert EVENTS.encode(decoded.tune) == tokens


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grid_tunes(source_tracks=2, no_overlap=True))
def test_events_decode_survives_midi_files(tune):
    tokens = EVENTS.encode(tune)
    decoded = EVENTS.decode(tokens).tune
    back = midi_round_trip(decoded) if decoded.n_notes else None
    if back is None:
        return
    assert named_events(back) == named_events(decoded)
    assert [(s.numerator, s.denominator) for s in back.time_signatures] == [
        (s.numerator, s.denominator) for s in decoded.time_signatures
    ]
    np.testing.assert_allclose(
        [s.time for s in back.time_signatures], [s.time for s in decoded.time_signatures]
    )
    if all(len(t) for t in decoded.tracks):  # read_midi drops empty tracks, which shifts indices
        assert EVENTS.encode(back) == tokens


# --------------------------------------------------------------------------- events: ill-formed input

BASE = ["BOS", "Meter_4/4", "Bar", "Pos_0", "Track_0", "Pitch_60", "Dur_12"]


@pytest.mark.parametrize(
    "tokens, dropped, notes",
    [
        (["BOS", "Meter_4/4", "Bar", "Pitch_60", "Dur_12", "EOS"], 2, 0),  # Pitch before any Pos
        (["BOS", "Meter_4/4", "Bar", "Track_0", "Pos_0", "Pitch_60", "Dur_12"], 1, 1),  # Track before Pos
        (BASE + ["Dur_12", "EOS"], 1, 1),  # Dur without Pitch
        (BASE + ["Pos_0", "Track_0", "Pitch_62", "Dur_12"], 1, 2),  # repeated Pos: the note stays at 0
        (BASE + ["Pos_24", "Pos_12", "Track_0", "Pitch_62", "Dur_12"], 1, 2),  # Pos going backwards
        (BASE + ["Pos_48", "Track_0", "Pitch_62", "Dur_12"], 1, 2),  # Pos beyond a 4/4 bar (note joins Pos_0)
        (BASE + ["Meter_3/4"], 1, 1),  # Meter not after BOS/Bar
        (["BOS", "Meter_4/4", "Meter_3/4", "Bar"], 1, 0),  # a second Meter
        (BASE + ["EOS", "Bar", "Pos_0", "Track_0", "Pitch_64", "Dur_12"], 5, 1),  # after EOS
        (BASE + ["PAD", "UNK", "nonsense", "Pitch_200", "Track_5", "Dur_13"], 6, 1),  # PAD/UNK/unknown
        (BASE + ["Pitch_62", "EOS"], 1, 1),  # Pitch without Dur at EOS
        (BASE + ["Pitch_62", "Pitch_64", "Dur_12"], 1, 2),  # Pitch without Dur before a Pitch
        (BASE + ["Pitch_62", "Bar"], 1, 1),  # Pitch without Dur before a Bar
        (["BOS", "Meter_4/4", "Pos_0", "Track_0", "Pitch_60", "Dur_12"], 4, 0),  # notes before the first Bar
        (BASE + ["BOS"], 1, 1),  # BOS past the start
        (BASE + ["Track_1", "Pitch_60", "Dur_12", "Pitch_60", "Dur_24"], 1, 2),  # duplicate: longest kept
        ([], 0, 0),
        (BASE + [None, 7, ["Bar"], b"Bar"], 4, 1),  # not strings
        (["EOS", "EOS"], 1, 0),
    ],
)
def test_decode_drops_and_counts_ill_formed_tokens(tokens, dropped, notes):
    decoded = EVENTS.decode(tokens)
    assert decoded.dropped == dropped
    assert decoded.tune.n_notes == notes


def test_decode_repairs():
    # Pitch right after Pos goes to track 0; missing opening meter means 4/4; no BOS needed
    decoded = EVENTS.decode(
        ["Bar", "Pos_6", "Pitch_60", "Dur_6", "Bar", "Meter_3/4", "Pos_0", "Pitch_62", "Dur_3"]
    )
    assert decoded.dropped == 0
    assert decoded_events(decoded.tune) == {(0, 6, 60, 6), (0, 48, 62, 3)}
    assert [str(s) for s in decoded.tune.time_signatures] == ["4/4", "3/4"]
    longest = EVENTS.decode(BASE + ["Track_1", "Pitch_60", "Dur_12", "Pitch_60", "Dur_24"]).tune
    assert decoded_events(longest) == {(0, 0, 60, 12), (1, 0, 60, 24)}
    assert EVENTS.decode_ids(EVENTS.vocabulary().encode(BASE)).dropped == 0
    assert EVENTS.decode_ids([1, 10**6]).dropped == 1


def _kind(prefix: str) -> st.SearchStrategy[str]:
    return st.sampled_from([t for t in EVENTS.vocabulary().tokens if t.startswith(prefix)])


# random tokens, mixed with fragments of the grammar so that soups also hold notes
SOUP = st.lists(
    st.one_of(
        st.sampled_from(EVENTS.vocabulary().tokens).map(lambda t: [t]),
        st.sampled_from(["Pitch_0", "Pos_-1", "Dur_0", "Meter_7/3", "Track_-1", "", "bar"]).map(
            lambda t: [t]
        ),
        st.just(["Bar"]),
        st.tuples(st.just("Bar"), _kind("Pos_"), _kind("Track_"), _kind("Pitch_"), _kind("Dur_")).map(list),
        st.tuples(_kind("Pos_"), _kind("Track_"), _kind("Pitch_"), _kind("Dur_")).map(list),
        st.tuples(_kind("Pitch_"), _kind("Dur_")).map(list),
        st.tuples(_kind("Bar"), _kind("Meter_")).map(list),
    ),
    max_size=40,
).map(lambda parts: [t for part in parts for t in part])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SOUP)
def test_token_soup_decodes_to_valid_music(tokens):
    decoded = EVENTS.decode(tokens)
    assert 0 <= decoded.dropped <= len(tokens)
    assert len(decoded.tune.tracks) == EVENTS.n_tracks
    canonical = EVENTS.encode(decoded.tune)
    again = EVENTS.decode(canonical)
    assert again.dropped == 0 and EVENTS.encode(again.tune) == canonical  # repaired output is well formed
    assert io.midi_bytes(decoded.tune)[:4] == b"MThd"
    if decoded.tune.n_notes:
        back = midi_round_trip(decoded.tune)
        assert back.n_notes == decoded.tune.n_notes


BAD_ANYWHERE = ["PAD", "UNK", "garbage", "BOS", "Pitch_999", "Track_7"]


@FAST
@given(grid_tunes(max_notes=15), st.data())
def test_dropped_counts_exactly_the_inserted_bad_tokens(tune, data):
    tokens = EVENTS.encode(tune)
    noisy, inserted = [tokens[0]], 0
    for i, token in enumerate(tokens[1:], start=1):
        noisy.append(token)
        choices = list(BAD_ANYWHERE)
        if token.startswith("Dur_"):
            choices.append("Dur_12")  # a Dur without its Pitch
        if token.startswith("Pos_"):
            choices += ["Pos_0", "Meter_3/4"]  # Pos not moving forward; Meter not after BOS/Bar
        if i + 1 < len(tokens) and not tokens[i + 1].startswith("Dur_") and token != "EOS":
            choices.append("Pitch_60")  # a Pitch without its Dur
        bad = data.draw(st.lists(st.sampled_from(choices), max_size=2))
        bad.sort(key=lambda t: t == "Pitch_60")  # a dangling Pitch goes last, so no inserted Dur completes it
        noisy += bad
        inserted += len(bad)
    tail = data.draw(st.lists(st.sampled_from(EVENTS.vocabulary().tokens), max_size=5))  # after EOS
    decoded = EVENTS.decode(noisy + tail)
    assert decoded.dropped == inserted + len(tail)
    assert EVENTS.encode(decoded.tune) == tokens


# --------------------------------------------------------------------------- paper


def test_paper_known_tokens():
    assert [note_name(p) for p in (60, 61, 63, 70, 21, 108)] == ["C4", "C#4", "E-4", "B-4", "A0", "C8"]
    assert chord_token([60, 64, 67]) == "0.4.7"
    assert chord_token([62, 65, 69, 72]) == "9.0.2.5"
    assert chord_token([48, 60, 72]) == "0"
    tune = tune_from(
        {
            0: [(0, 1, 60), (0, 1, 64), (0, 1, 67), (1, 1, 61), (2, 1, 60), (2, 1, 72), (3.01, 1, 70)],
            1: [(3, 1, 70)],
        }
    )
    assert PaperEncoding().encode(tune) == ["0.4.7", "C#4", "0", "B-4"]  # unison across tracks is one note
    drums = tune_from({0: [(0, 1, 60)]}, drums=[(0, 1, 36)])
    assert PaperEncoding().encode(drums) == ["C4"]
    assert PaperEncoding().encode(Tune(tracks=())) == []


CHORDS = [
    [60, 64, 67], [57, 60, 64], [62, 66, 69, 72], [61, 65, 68, 71], [60, 61],
    [59, 60], [60, 63, 66, 69], [60, 62, 64, 66, 68, 70], [67, 71, 74, 77],
]  # fmt: skip


@pytest.mark.parametrize("pitches", CHORDS)
def test_paper_chords_match_music21(pitches):
    from music21 import chord

    assert chord_token(pitches) == ".".join(str(pc) for pc in chord.Chord(pitches).normalOrder)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(21, 108), min_size=2, max_size=8, unique=True), st.randoms(use_true_random=False))
def test_paper_normal_order_matches_music21_in_any_order(pitches, random):
    from music21 import chord

    shuffled = list(pitches)
    random.shuffle(shuffled)
    expected = tuple(chord.Chord(shuffled).normalOrder)
    assert normal_order(p % 12 for p in pitches) == expected
    if len({p % 12 for p in pitches}) > 1:
        assert chord_token(pitches) == ".".join(map(str, expected))


def test_paper_decode():
    paper = PaperEncoding()
    decoded = paper.decode(["C4", "0.4.7", "garbage", "PAD", "13.2", "5", "B-4"], qpm=100)
    assert decoded.dropped == 3
    tune = decoded.tune
    assert [t.name for t in tune.tracks] == ["paper"] and tune.qpm == 100
    assert str(tune.time_signatures[0]) == "4/4"
    notes = tune.tracks[0].notes
    assert notes["start"].tolist() == [0.0, 0.5, 0.5, 0.5, 1.0, 1.0, 1.5]
    assert notes["pitch"].tolist() == [60, 60, 64, 67, 65, 77, 70]
    assert set(notes["duration"].tolist()) == {0.5}
    assert parse_token("D-4") == 61 and parse_token("E#3") == 53 and parse_token("E-1") == 27
    low = PaperEncoding(chord_octave=2).decode(["0.4.7"]).tune.tracks[0].notes["pitch"].tolist()
    assert low == [36, 40, 43]


def test_paper_vocabulary_needs_the_corpus():
    with pytest.raises(ValueError, match="corpus"):
        PaperEncoding().vocabulary()
    vocab = PaperEncoding().vocabulary([["C4", "0.4.7"], ["C4", "B-3"]])
    assert vocab.tokens[4:] == ("0.4.7", "B-3", "C4")


PAPER_TOKENS = st.one_of(
    st.integers(12, 127).map(note_name),
    st.sets(st.integers(0, 11), min_size=1, max_size=12).map(
        lambda pcs: ".".join(map(str, normal_order(pcs)))
    ),
)


@FAST
@given(st.lists(PAPER_TOKENS, max_size=40))
def test_paper_tokens_tune_tokens_is_exact(tokens):
    decoded = PaperEncoding().decode(tokens)
    assert decoded.dropped == 0
    assert PaperEncoding().encode(decoded.tune) == tokens


@FAST
@given(loose_tunes())
def test_paper_tune_round_trip(tune):
    paper = PaperEncoding()
    tokens = paper.encode(tune)
    onsets = {math.floor(float(s) * 12 + 0.5) for s in tune.all_notes()["start"]}
    assert len(tokens) == len(onsets)
    assert paper.encode(paper.decode(tokens).tune) == tokens


# --------------------------------------------------------------------------- augmentation


def one_note(pitch: int, *keys: KeySignature) -> Tune:
    return Tune(tracks=(Track(make_notes([0], [1], [pitch])),), key_signatures=keys)


def test_transpose_to_c():
    moved = transpose_to_c(one_note(67, KeySignature(0.0, 1, "major")))  # G major: up a fourth
    assert moved.tracks[0].notes["pitch"].tolist() == [72] and moved.key.sharps == 0
    moved = transpose_to_c(one_note(64, KeySignature(0.0, 1, "minor")))  # E minor -> A minor
    assert moved.tracks[0].notes["pitch"].tolist() == [69] and moved.key.name == "A minor"
    moved = transpose_to_c(one_note(66, KeySignature(0.0, 6, "major"), KeySignature(8.0, 1, "major")))
    assert moved.tracks[0].notes["pitch"].tolist() == [60]  # F# major: down a tritone; the first key decides
    no_key = one_note(66)
    assert transpose_to_c(no_key) is no_key


def test_transpositions():
    tune = Tune(tracks=(Track(make_notes([0, 1], [1, 1], [60, 125])),))
    shifted = transpositions(tune)
    assert len(shifted) == 8  # +3..+6 would leave the MIDI range
    assert [t.tracks[0].notes["pitch"][0] for t in shifted] == list(range(55, 63))
    assert len(transpositions(tune, semitones=[0, 1], highest_pitch=125)) == 1


# --------------------------------------------------------------------------- real data


def nottingham_sample(count: int = 50) -> list[Path]:
    files = sorted(NOTTINGHAM.glob("*.mid"))
    step = max(1, len(files) // count)
    return files[::step][:count]


@pytest.mark.skipif(not NOTTINGHAM.is_dir(), reason=f"Nottingham MIDI files not found at {NOTTINGHAM}")
def test_nottingham_round_trips():
    tunes = [io.read_midi(path) for path in nottingham_sample()]
    assert len(tunes) == 50
    vocab = EVENTS.vocabulary()
    lengths = []
    for tune in tunes:
        tokens = EVENTS.encode(tune)
        lengths.append(len(tokens))
        vocab.encode(tokens, strict=True)  # the fixed vocabulary covers real tunes
        decoded = EVENTS.decode(tokens)
        assert decoded.dropped == 0
        assert EVENTS.encode(decoded.tune) == tokens
        assert decoded_events(decoded.tune) == expected_events(tune, EVENTS)
        back = midi_round_trip(decoded.tune)
        if all(len(t) for t in decoded.tune.tracks):
            assert EVENTS.encode(back) == tokens
        paper_tokens = PaperEncoding().encode(tune)
        assert PaperEncoding().encode(PaperEncoding().decode(paper_tokens).tune) == paper_tokens
    print(f"\nNottingham sample: {np.mean(lengths):.0f} event tokens per tune on average")
