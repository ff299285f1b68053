"""The event grammar: it admits exactly what the encoder writes, and sampling under it never breaks it."""

from __future__ import annotations

import numpy as np
import pytest

from musiclib.encoding import EventEncoding
from musiclib.encoding.grammar import EventGrammar, monophonic_tracks, track_overlap
from musiclib.lm.lstm import build_lstm, config_for
from musiclib.lm.sampling import ModelParts, sample_many, sample_tokens
from musiclib.tune import TimeSignature, Track, Tune, make_notes

ENCODING = EventEncoding()
VOCAB = ENCODING.vocabulary()


def two_track_tune(seed: int) -> Tune:
    """A melody of eighths and quarters over held two-note chords, with a meter change."""
    rng = np.random.default_rng(seed)
    lengths = rng.choice([0.5, 1.0, 1.5], size=24)
    onsets = np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
    melody = make_notes(onsets, lengths, 60 + rng.integers(-5, 8, size=24))
    chord_onsets = np.repeat(np.arange(0.0, onsets[-1], 2.0), 2)
    chords = make_notes(chord_onsets, np.full(chord_onsets.size, 2.0),
                        np.tile([48, 55], chord_onsets.size // 2))
    return Tune(tracks=(Track(melody, name="melody"), Track(chords, name="chords")),
                time_signatures=(TimeSignature(0.0, 4, 4), TimeSignature(8.0, 3, 4)))


class UniformModel:
    """A next-token 'model' with a flat distribution (EOS excluded, so pieces run to the
    length limit): the hardest test of the mask."""

    order = 1

    def distribution(self, context):
        probs = np.ones(len(VOCAB))
        probs[VOCAB.id("EOS")] = 0.0
        return probs / probs.sum()


def feed(grammar: EventGrammar, ids) -> object:
    state = grammar.start()
    for token_id in ids:
        assert state.allowed()[token_id], VOCAB.decode([int(token_id)])
        state.feed(token_id)
    return state


def test_every_token_the_encoder_writes_is_allowed_where_it_comes():
    grammar = EventGrammar(ENCODING, VOCAB)
    for seed in range(12):
        state = feed(grammar, ENCODING.encode_ids(two_track_tune(seed)))
        assert state.repaired == 0 and state.complete


def test_the_grammar_refuses_what_the_decoder_would_drop():
    grammar = EventGrammar(ENCODING, VOCAB)
    state = grammar.start()
    for token in ("BOS", "Meter_4/4", "Bar", "Pos_12"):
        state.feed(VOCAB.id(token))
    allowed = {VOCAB.decode([int(i)])[0] for i in np.flatnonzero(state.allowed())}
    assert allowed == {"Track_0", "Track_1"}
    state.feed(VOCAB.id("Track_1"))
    state.feed(VOCAB.id("Pitch_60"))
    allowed = {VOCAB.decode([int(i)])[0] for i in np.flatnonzero(state.allowed())}
    assert allowed and all(token.startswith("Dur_") for token in allowed)
    state.feed(VOCAB.id("Dur_12"))
    allowed = {VOCAB.decode([int(i)])[0] for i in np.flatnonzero(state.allowed())}
    assert "Pitch_59" not in allowed and "Pitch_61" in allowed  # pitches rise within a position
    assert "Track_0" not in allowed and "Track_1" not in allowed  # tracks rise within a position
    assert "Pos_12" not in allowed and "Pos_13" in allowed and "Pos_48" not in allowed  # 4/4: 48 steps
    assert {"Bar", "EOS"} <= allowed and not any(t.startswith("Meter_") for t in allowed)
    state.feed(VOCAB.id("Pos_3"))  # backwards: refused, state unchanged
    assert state.repaired == 1


def test_a_monophonic_track_waits_for_its_note_to_end():
    grammar = EventGrammar(ENCODING, VOCAB, monophonic=[0])
    state = grammar.start()
    for token in ("BOS", "Meter_4/4", "Bar", "Pos_0", "Track_0", "Pitch_60", "Dur_24"):
        state.feed(VOCAB.id(token))
    allowed = {VOCAB.decode([int(i)])[0] for i in np.flatnonzero(state.allowed())}
    assert not any(t.startswith("Pitch_") for t in allowed)  # one pitch per position
    state.feed(VOCAB.id("Pos_12"))
    allowed = {VOCAB.decode([int(i)])[0] for i in np.flatnonzero(state.allowed())}
    assert allowed == {"Track_1"}  # the melody still sounds until step 24
    state = grammar.start()
    for token in ("BOS", "Meter_4/4", "Bar", "Pos_0", "Track_0", "Pitch_60", "Dur_24", "Pos_24"):
        state.feed(VOCAB.id(token))
    assert state.allowed()[VOCAB.id("Track_0")]
    one_track = EventEncoding(n_tracks=1)
    state = EventGrammar(one_track, one_track.vocabulary(), monophonic=[0]).start()
    for token in ("BOS", "Meter_4/4", "Bar", "Pos_0", "Track_0", "Pitch_60", "Dur_72"):
        state.feed(one_track.vocabulary().id(token))
    allowed = {one_track.vocabulary().decode([int(i)])[0] for i in np.flatnonzero(state.allowed())}
    assert not any(t.startswith("Pos_") for t in allowed) and "Bar" in allowed  # no track could play


def test_track_overlap_counts_notes_that_start_while_their_track_sounds():
    melody = make_notes([0.0, 1.0, 1.5, 1.5, 3.0], [1.0, 1.0, 0.5, 0.5, 1.0], [60, 62, 64, 67, 65])
    tune = Tune(tracks=(Track(melody, name="melody"), Track(make_notes([0.0], [4.0], [48]), name="chords")),
                time_signatures=(TimeSignature(0.0, 4, 4),))
    overlap = track_overlap(ENCODING, VOCAB, [ENCODING.encode_ids(tune)])
    # the 1.5 onset is inside the note at 1.0-2.0, twice (two pitches)
    assert overlap["notes"] == [5, 1] and overlap["overlapping"] == [2, 0]
    assert monophonic_tracks(overlap) == [1]
    assert monophonic_tracks(track_overlap(ENCODING, VOCAB, [ENCODING.encode_ids(two_track_tune(0))])) == [0]


def assert_well_formed(tokens: list[str], *, monophonic=()) -> None:
    """Decoding drops nothing, re-encoding gives the tokens back (up to what follows the last
    note when no EOS ends them) and the monophonic tracks never sound two notes at once."""
    decoded = ENCODING.decode(tokens)
    assert decoded.dropped == 0
    again = ENCODING.encode(decoded.tune)
    if tokens[-1] != "EOS":
        again = again[:-1]
        assert not any(token.startswith("Dur_") for token in tokens[len(again):])
    assert tokens[: len(again)] == again
    for index in monophonic:
        notes = decoded.tune.tracks[index].notes
        ends = notes["start"] + notes["duration"]
        assert np.all(notes["start"][1:] >= np.maximum.accumulate(ends)[:-1] - 1e-9)


def test_sampling_a_flat_distribution_under_the_grammar_never_breaks_it():
    parts = ModelParts(UniformModel(), VOCAB, None, ENCODING, (0,))
    total = 0
    for seed in range(6):
        tokens = sample_tokens(parts, max_tokens=700, seed=seed, temperature=2.0)
        total += len(tokens)
        assert_well_formed(tokens, monophonic=(0,))
    assert total > 3000
    unconstrained = sample_tokens(parts, max_tokens=700, seed=0, temperature=2.0, constrained=False)
    assert ENCODING.decode(unconstrained).dropped > 100  # the test can tell


def test_batched_sampling_of_an_untrained_lstm_at_high_temperature_is_well_formed():
    config = config_for("tiny", len(VOCAB), lstm_units=(16,), sequence_length=16)
    model = build_lstm(config)
    output = model.layers[-1]
    kernel, bias = output.get_weights()
    bias[VOCAB.id("EOS")] = -50.0  # pieces run to the length limit
    output.set_weights([kernel, bias])
    parts = ModelParts(model, VOCAB, config, ENCODING, (0,))
    sequences = sample_many(parts, seeds=range(8), max_tokens=400, temperature=3.0)
    assert sum(map(len, sequences)) > 2500
    for tokens in sequences:
        assert_well_formed(tokens, monophonic=(0,))
    one = sample_tokens(parts, max_tokens=400, temperature=3.0, seed=3)
    assert one == sequences[3]
    raw = sample_many(parts, seeds=range(2), max_tokens=400, temperature=3.0, constrained=False)
    assert sum(ENCODING.decode(tokens).dropped for tokens in raw) > 50


def test_n_bars_ends_on_a_complete_bar_and_a_primer_is_followed():
    parts = ModelParts(UniformModel(), VOCAB, None, ENCODING, ())
    primer = ENCODING.encode(two_track_tune(1))[:40]
    tokens = sample_tokens(parts, primer=primer, n_bars=3, seed=1, temperature=1.5)
    assert tokens[:40] == primer
    assert tokens[40:].count("Bar") == 3 or tokens[-1] == "EOS"
    assert ENCODING.decode(tokens).dropped == 0


def test_constrained_must_be_a_bool():
    parts = ModelParts(UniformModel(), VOCAB, None, ENCODING, ())
    with pytest.raises(ValueError, match="constrained"):
        sample_tokens(parts, max_tokens=5, constrained="yes")
