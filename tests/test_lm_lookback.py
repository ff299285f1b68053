"""The LSTM's lookback input: the next token at the same place of earlier bars (musiclib.lm.lookback)."""

from __future__ import annotations

import numpy as np
import pytest
from support import assert_bundle_samples_like_the_model, assert_steps_match_full_model

from musiclib.encoding import get_encoding
from musiclib.lm.lookback import LookbackHistory, LookbackTokens, lookback_context
from musiclib.lm.lstm import LSTMConfig, build_lstm, config_for
from musiclib.lm.sampling import ModelParts
from musiclib.lm.training import evaluate_nll, train
from musiclib.tune import TimeSignature, Track, Tune, make_notes

ENCODING = get_encoding("events")
VOCAB = ENCODING.vocabulary()
V = len(VOCAB)


def repeated_bars(seed: int, n_bars: int = 6) -> Tune:
    """Random eighth-note bars, each played twice (AA BB CC ...), over a held chord note per bar."""
    rng = np.random.default_rng(seed)
    bars = [60 + rng.integers(0, 12, size=8) for _ in range(n_bars // 2)]
    melody = np.concatenate([bar for bar in bars for _ in range(2)])
    n = len(melody)
    bass = make_notes(np.arange(n_bars) * 4.0, np.full(n_bars, 4.0), np.full(n_bars, 48))
    return Tune(tracks=(Track(make_notes(np.arange(n) * 0.5, np.full(n, 0.5), melody), name="melody"),
                        Track(bass, name="bass")),
                time_signatures=(TimeSignature(0.0, 4, 4),))


def expected_lookback(tokens: list[str], distance: int) -> list[tuple[str | None, bool]]:
    """The lookback input written out from the token names, bar by bar: ``(next token there, matching)``."""
    out: list[tuple[str | None, bool]] = []
    bars: list[list[str]] = []  # the bars of the current tune so far, each from its Bar token on
    for token in tokens:
        if token == "BOS":
            bars = []
        elif token == "Bar":
            bars.append([])
        if bars and token != "BOS":
            bars[-1].append(token)
        if len(bars) <= distance:
            out.append((None, False))
            continue
        current, earlier = bars[-1], bars[-1 - distance] + [bars[-distance][0]]  # + the next bar's Bar
        offset = len(current) - 1
        following = earlier[offset + 1] if offset + 1 < len(earlier) else None
        matching = following is not None and current == earlier[: offset + 1]
        out.append((following, matching))
    return out


def decoded(ids: np.ndarray) -> list[tuple[str | None, bool]]:
    return [(VOCAB.tokens[i % V] if i else None, bool(i // V)) for i in ids]


def context(distances=(1, 2)) -> dict:
    return lookback_context(VOCAB, distances)


def test_lookback_context_names_the_bar_token():
    ids = context((1, 4))
    assert ids == {"lookback_bars": (1, 4), "bar_token_id": VOCAB.id("Bar")}
    paper = get_encoding("paper")
    paper_vocab = paper.vocabulary([paper.encode(repeated_bars(0))])
    with pytest.raises(ValueError, match="events encoding"):
        lookback_context(paper_vocab)


@pytest.mark.parametrize(("changes", "message"), [
    ({"lookback_bars": (1, 2)}, "bar_token_id"),
    ({"lookback_bars": (0,), "bar_token_id": 5}, "positive"),
    ({"lookback_bars": (1, 1), "bar_token_id": 5}, "distinct"),
    ({"lookback_bars": (1,), "bar_token_id": 400}, "bar_token_id"),
    ({"lookback_bars": (1,), "bar_token_id": True}, "bar_token_id"),
    ({"bar_token_id": 5}, "lookback_bars too"),
])
def test_config_rejects_bad_lookback_settings(changes, message):
    with pytest.raises(ValueError, match=message):
        LSTMConfig(vocab_size=300, **changes)


def test_config_with_lookback_round_trips_through_json():
    config = config_for("tiny", V, **context())
    data = config.to_dict()
    assert data["lookback_bars"] == [1, 2]
    assert LSTMConfig.from_dict(data) == config and config.lookback_input
    assert not config_for("tiny", V).lookback_input


@pytest.mark.parametrize("distance", [1, 2])
def test_layer_matches_the_rule_written_out_and_resets_at_bos(distance):
    tokens = [*ENCODING.encode(repeated_bars(1)), *ENCODING.encode(repeated_bars(2))]
    layer = LookbackTokens(V, VOCAB.id("Bar"), [distance])
    out = np.asarray(layer(VOCAB.encode(tokens)[None]))[0, :, 0]
    assert decoded(out) == expected_lookback(tokens, distance)
    second = tokens.index("BOS", 1)
    assert not out[second : second + 20].any()  # the second tune sees nothing of the first's bars


def test_a_repeated_bar_is_announced_token_for_token():
    tokens = ENCODING.encode(repeated_bars(3))
    out = decoded(np.asarray(LookbackTokens(V, VOCAB.id("Bar"), [1])(VOCAB.encode(tokens)[None]))[0, :, 0])
    bars = [i for i, token in enumerate(tokens) if token == "Bar"]
    # bar 2 repeats bar 1: at each of its positions the input names the true next token, as matching
    for t in range(bars[1], bars[2] - 1):
        assert out[t] == (tokens[t + 1], True)
    # bar 3 is new: at its first note it still names bar 2's note, no longer matching after it
    first_pitch = next(t for t in range(bars[2], bars[3]) if tokens[t].startswith("Pitch_"))
    if tokens[first_pitch] != tokens[first_pitch - (bars[2] - bars[1])]:
        assert out[first_pitch][1] is False


def test_a_window_cut_mid_tune_knows_only_its_own_bars():
    tokens = ENCODING.encode(repeated_bars(4))
    window = tokens[45:]
    out = np.asarray(LookbackTokens(V, VOCAB.id("Bar"), [1, 2])(VOCAB.encode(window)[None]))[0]
    for index, distance in enumerate((1, 2)):
        assert decoded(out[:, index]) == expected_lookback(["BOS", *window], distance)[1:]


def test_no_position_sees_a_later_token():
    tokens = VOCAB.encode(ENCODING.encode(repeated_bars(5)))
    layer = LookbackTokens(V, VOCAB.id("Bar"), [1, 2, 4])
    base = np.asarray(layer(tokens[None]))[0]
    rng = np.random.default_rng(0)
    for cut in (30, 77, 120):
        changed = tokens.copy()
        changed[cut + 1 :] = rng.integers(3, V, size=len(tokens) - cut - 1)
        np.testing.assert_array_equal(np.asarray(layer(changed[None]))[0, : cut + 1], base[: cut + 1])


def test_history_matches_the_layer_token_by_token():
    first = VOCAB.encode([*ENCODING.encode(repeated_bars(6)), *ENCODING.encode(repeated_bars(7))])
    batch = np.stack([first, np.concatenate([first[40:], first[:40]])])
    ctx = context((1, 2, 4))
    want = np.asarray(LookbackTokens(V, ctx["bar_token_id"], ctx["lookback_bars"])(batch))
    history = LookbackHistory(V, ctx["bar_token_id"], ctx["lookback_bars"], batch=2)
    for t in range(batch.shape[1]):
        np.testing.assert_array_equal(history.advance(batch[:, t]), want[:, t])
    with pytest.raises(ValueError, match="expected 2 tokens"):
        history.advance([5])


def test_layer_config_is_checked_when_loaded():
    config = LookbackTokens(V, VOCAB.id("Bar"), [1, 2]).get_config()
    assert LookbackTokens.from_config(config).distances == [1, 2]
    with pytest.raises(ValueError, match="distinct"):
        LookbackTokens(**{**config, "distances": [2, 2]})
    with pytest.raises(ValueError, match="bar counts"):
        LookbackTokens(**{**config, "distances": "12"})
    with pytest.raises(ValueError, match="bar_token_id"):
        LookbackTokens(**{**config, "bar_token_id": V})


def _train(tunes: list[np.ndarray], tmp_path, **overrides):
    config = config_for("tiny", V, lstm_units=(48,), sequence_length=96, batch_size=4, epochs=6,
                        learning_rate=1e-2, patience=6, **overrides)
    model = build_lstm(config)
    history = train(model, config, tunes[:40], tunes[40:], out_dir=tmp_path, verbose=0)
    return ModelParts(model=model, vocab=VOCAB, config=config, encoding=ENCODING), history


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny LSTM with the lookback input, trained on tunes whose random bars are each played twice."""
    tunes = [VOCAB.encode(ENCODING.encode(repeated_bars(seed))) for seed in range(48)]
    parts, history = _train(tunes, tmp_path_factory.mktemp("run"), **context())
    return parts, history, tunes


def test_it_learns_to_copy_what_plain_lstm_cannot(trained, tmp_path):
    """Random bars are unpredictable except by copying: with the lookback input the repeats
    become predictable, so the validation NLL falls well below the plain LSTM's."""
    parts, history, tunes = trained
    plain, _ = _train(tunes, tmp_path)
    valid = tunes[40:]
    with_lookback = evaluate_nll(parts.model, valid)["nll"]
    without = evaluate_nll(plain.model, valid)["nll"]
    print(f"validation NLL with lookback {with_lookback:.3f}, without {without:.3f}")
    assert history["loss"][-1] < history["loss"][0]
    assert with_lookback < 0.85 * without
    # the table starts at zeros and training grew it (so the step checks below see it at work)
    assert np.abs(parts.model.get_layer("lookback").embedding.get_weights()[0]).max() > 1e-3


def test_every_step_gives_the_full_models_logits(trained):
    parts, _, tunes = trained
    assert_steps_match_full_model(parts, np.stack([tunes[0][:90], tunes[1][:90]]))


def test_bundle_round_trip_in_safe_mode_samples_the_same(trained, tmp_path):
    parts, history, _ = trained
    assert_bundle_samples_like_the_model(parts, history, tmp_path, n_bars=6)
