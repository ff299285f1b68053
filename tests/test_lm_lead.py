"""The LSTM's lead input: the lead track's last pitch at every position (musiclib.lm.lstm.LeadPitch)."""

from __future__ import annotations

import numpy as np
import pytest
from support import assert_bundle_samples_like_the_model, assert_steps_match_full_model

from musiclib.encoding import get_encoding
from musiclib.lm.lstm import (
    LeadPitch,
    LSTMConfig,
    build_lstm,
    config_for,
    lead_context_ids,
    lead_pitch_step,
    lead_tables,
)
from musiclib.lm.sampling import ModelParts
from musiclib.lm.training import train
from musiclib.tune import TimeSignature, Track, Tune, make_notes

ENCODING = get_encoding("events")
VOCAB = ENCODING.vocabulary()


def melody_and_chords(seed: int, n_bars: int = 4) -> Tune:
    """Eighth-note melody walking a scale over one three-note chord per bar."""
    rng = np.random.default_rng(seed)
    n = 8 * n_bars
    melody = 67 + np.clip(np.cumsum(rng.choice([-2, -1, 1, 2], size=n)), -9, 9)
    roots = rng.choice([48, 53, 55], size=n_bars)
    chord_pitches = np.concatenate([[root, root + 4, root + 7] for root in roots])
    chords = make_notes(np.repeat(np.arange(n_bars) * 4.0, 3), np.full(3 * n_bars, 4.0), chord_pitches)
    return Tune(tracks=(Track(make_notes(np.arange(n) * 0.5, np.full(n, 0.5), melody), name="melody"),
                        Track(chords, name="chords")),
                time_signatures=(TimeSignature(0.0, 4, 4),))


def expected_lead(tokens: list[str]) -> list[int]:
    """The lead input written out from the token names: the pitch (MIDI) of track 0's last note, 0 for none."""
    track, lead, out = None, 0, []
    for token in tokens:
        if token == "BOS":
            track, lead = None, 0
        elif token.startswith("Track_"):
            track = int(token.split("_")[1])
        elif token.startswith("Pitch_") and track == 0:
            lead = int(token.split("_")[1])
        out.append(lead)
    return out


def to_midi(layer_output: np.ndarray, pitch_ids: tuple[int, ...]) -> list[int]:
    pitches = [0] + [int(VOCAB.tokens[i].split("_")[1]) for i in pitch_ids]
    return [pitches[k] for k in layer_output]


def test_lead_context_ids_name_the_track_and_pitch_tokens():
    ids = lead_context_ids(VOCAB)
    assert [VOCAB.tokens[i] for i in ids["lead_track_ids"]] == ["Track_0", "Track_1"]
    pitches = [VOCAB.tokens[i] for i in ids["lead_pitch_ids"]]
    assert pitches[0] == "Pitch_21" and pitches[-1] == "Pitch_108" and len(pitches) == 88
    paper = get_encoding("paper")
    paper_vocab = paper.vocabulary([paper.encode(melody_and_chords(0))])
    with pytest.raises(ValueError, match="events encoding"):
        lead_context_ids(paper_vocab)


@pytest.mark.parametrize(("changes", "message"), [
    ({"lead_track_ids": (3, 4)}, "together"),
    ({"lead_pitch_ids": (5, 6)}, "together"),
    ({"lead_track_ids": (3,), "lead_pitch_ids": (3, 4)}, "distinct"),
    ({"lead_track_ids": (3,), "lead_pitch_ids": (400,)}, "vocabulary ids"),
    ({"lead_track_ids": (0,), "lead_pitch_ids": (5,)}, "vocabulary ids"),
])
def test_config_rejects_bad_lead_ids(changes, message):
    with pytest.raises(ValueError, match=message):
        LSTMConfig(vocab_size=300, **changes)


def test_config_with_lead_ids_round_trips_through_json():
    config = config_for("tiny", len(VOCAB), **lead_context_ids(VOCAB))
    data = config.to_dict()
    assert isinstance(data["lead_pitch_ids"], list)
    assert LSTMConfig.from_dict(data) == config and config.lead_input
    assert not config_for("tiny", len(VOCAB)).lead_input


def test_layer_gives_the_lead_tracks_last_pitch_and_resets_at_bos():
    tokens = [*ENCODING.encode(melody_and_chords(1)), *ENCODING.encode(melody_and_chords(2))]
    ids = lead_context_ids(VOCAB)
    layer = LeadPitch(len(VOCAB), ids["lead_track_ids"], ids["lead_pitch_ids"])
    out = np.asarray(layer(VOCAB.encode(tokens)[None]))[0]
    assert to_midi(out, ids["lead_pitch_ids"]) == expected_lead(tokens)
    assert out[tokens.index("BOS", 1)] == 0  # the second tune starts with no lead pitch
    # a window cut in the middle knows nothing before it: no track, no pitch until they come
    window = tokens[37:120]
    out = np.asarray(layer(VOCAB.encode(window)[None]))[0]
    first_track = next(i for i, t in enumerate(window) if t.startswith("Track_"))
    assert not out[:first_track].any()
    reference = expected_lead(["BOS", *window])[1:]
    assert to_midi(out, ids["lead_pitch_ids"]) == reference


def test_step_function_matches_the_layer_token_by_token():
    tokens = VOCAB.encode([*ENCODING.encode(melody_and_chords(3)), *ENCODING.encode(melody_and_chords(4))])
    config = config_for("tiny", len(VOCAB), **lead_context_ids(VOCAB))
    layer = LeadPitch(len(VOCAB), config.lead_track_ids, config.lead_pitch_ids)
    batch = np.stack([tokens, tokens[::-1]])
    want = np.asarray(layer(batch))
    tables = lead_tables(config)
    track = lead = np.zeros(2, np.int32)
    for t in range(batch.shape[1]):
        track, lead = lead_pitch_step(tables, batch[:, t], track, lead)
        np.testing.assert_array_equal(lead, want[:, t])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny LSTM with the lead input, trained a few epochs on two-track toy tunes."""
    tunes = [VOCAB.encode(ENCODING.encode(melody_and_chords(seed))) for seed in range(30)]
    config = config_for("tiny", len(VOCAB), lstm_units=(32, 24), sequence_length=48, batch_size=4, epochs=4,
                        learning_rate=1e-2, **lead_context_ids(VOCAB))
    model = build_lstm(config)
    history = train(model, config, tunes[:26], tunes[26:], out_dir=tmp_path_factory.mktemp("run"), verbose=0)
    return ModelParts(model=model, vocab=VOCAB, config=config, encoding=ENCODING), history, tunes


def test_it_learns(trained):
    _, history, _ = trained
    assert history["loss"][-1] < history["loss"][0]


def test_the_lead_embedding_changes_the_prediction(trained):
    parts, _, tunes = trained
    tokens = tunes[0][None, :60]
    logits = np.asarray(parts.model.predict_on_batch(tokens))
    lead = parts.model.get_layer("lead_embedding")
    weights = lead.get_weights()
    lead.set_weights([np.zeros_like(weights[0])])
    try:
        assert not np.allclose(np.asarray(parts.model.predict_on_batch(tokens)), logits, atol=1e-4)
    finally:
        lead.set_weights(weights)


def test_every_step_gives_the_full_models_logits(trained):
    parts, _, tunes = trained
    assert_steps_match_full_model(parts, np.stack([tunes[0][:40], tunes[1][:40]]))


def test_bundle_round_trip_in_safe_mode_samples_the_same(trained, tmp_path):
    parts, history, _ = trained
    assert_bundle_samples_like_the_model(parts, history, tmp_path, n_bars=4)
