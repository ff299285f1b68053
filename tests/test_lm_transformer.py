"""The Transformer language model: config, causality, the key/value cache, training, resume, bundles."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from musiclib._files import read_json
from musiclib.encoding import get_encoding
from musiclib.lm.bundle import BundleError, load_bundle, save_bundle
from musiclib.lm.ngram import UnigramModel
from musiclib.lm.sampling import ModelParts, sample_many, sample_tokens
from musiclib.lm.training import _scoring_windows, evaluate_nll, train
from musiclib.lm.transformer import (
    CachedStep,
    TransformerConfig,
    TransformerWeights,
    attention_weights,
    build_transformer,
    numpy_logits,
    transformer_config_for,
)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from test_lm_training import (  # noqa: E402
    VOCAB,
    assert_same_final_weights,
    cycle_tunes,
    kill_mid_epoch,
    start_killed_run,
)

POSITIONS = ("rotary", "alibi", "rotary-bars")


BAR_ID = 3  # the Bar token of the random sequences below (about one token in VOCAB)


def tiny(**overrides) -> TransformerConfig:
    if overrides.get("position") == "rotary-bars":
        overrides.setdefault("bar_token_id", BAR_ID)
    return transformer_config_for("tiny", VOCAB, **overrides)


def keras_logits(model, ids) -> np.ndarray:
    return np.asarray(model.predict_on_batch(np.asarray(ids, dtype=np.int32)[None]))[0]


# ----------------------------------------------------------------------------- config


@pytest.mark.parametrize("field, value, message", [
    ("model_dim", 33, "multiple of num_heads"),
    ("num_heads", 32, "must be even"),
    ("position", "absolute", "position must be one of"),
    ("dropout", 1.0, "dropout"),
    ("warmup_steps", -1, "warmup_steps"),
    ("sequence_length", 0, "sequence_length"),
])
def test_config_rejects_bad_values(field, value, message):
    with pytest.raises(ValueError, match=message):
        tiny(**{field: value})


def test_bar_positions_need_the_bar_token_and_only_they_take_it():
    with pytest.raises(ValueError, match="needs bar_token_id"):
        transformer_config_for("tiny", VOCAB, position="rotary-bars")
    with pytest.raises(ValueError, match="needs bar_token_id"):
        transformer_config_for("tiny", VOCAB, position="rotary-bars", bar_token_id=VOCAB)
    with pytest.raises(ValueError, match="only used by position 'rotary-bars'"):
        transformer_config_for("tiny", VOCAB, bar_token_id=BAR_ID)
    config = tiny(position="rotary-bars")
    assert TransformerConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_config_round_trips_through_json():
    config = tiny(position="alibi", dropout=0.2)
    assert TransformerConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert config.loss_on == "all"
    with pytest.raises(ValueError, match="unknown TransformerConfig keys"):
        TransformerConfig.from_dict({**config.to_dict(), "lstm_units": [64]})


# ----------------------------------------------------------------------------- the network


@pytest.mark.parametrize("position", POSITIONS)
def test_no_position_sees_the_future(position):
    config = tiny(position=position, seed=3)
    model = build_transformer(config)
    ids = np.random.default_rng(0).integers(1, VOCAB, size=40)
    changed = ids.copy()
    changed[25:] = (changed[25:] % (VOCAB - 1)) + 1  # every token from 25 on differs
    before, after = keras_logits(model, ids), keras_logits(model, changed)
    np.testing.assert_allclose(after[:25], before[:25], atol=1e-5)  # outputs up to 24 cannot see 25+
    assert np.abs(after[25:] - before[25:]).max() > 1e-3


def test_rotary_scores_depend_only_on_the_distance():
    """Rotated queries and keys give the same dot product at positions (7, 3) and (107, 103)."""
    config = tiny(seed=1)
    weights = TransformerWeights(build_transformer(config), config)
    rng = np.random.default_rng(1)
    query, key = rng.normal(size=(2, 1, config.num_heads, config.head_dim)).astype(np.float32)

    def score(query_at: int, key_at: int) -> np.ndarray:
        q = weights.rotate(query, weights.rotation(np.array([query_at])))
        k = weights.rotate(key, weights.rotation(np.array([key_at])))
        return (q * k).sum(axis=-1)

    np.testing.assert_allclose(score(107, 103), score(7, 3), rtol=1e-4, atol=1e-5)
    assert np.abs(score(7, 3) - score(7, 5)).max() > 1e-3  # another distance, another score


def test_bar_rotary_scores_depend_only_on_the_token_and_bar_distances():
    """With "rotary-bars" a score depends on how many tokens and how many bars lie between
    query and key, not on where the window or the piece starts."""
    config = tiny(position="rotary-bars", seed=1)
    weights = TransformerWeights(build_transformer(config), config)
    rng = np.random.default_rng(1)
    query, key = rng.normal(size=(2, 1, config.num_heads, config.head_dim)).astype(np.float32)

    def score(query_at: tuple[int, int], key_at: tuple[int, int]) -> np.ndarray:
        q = weights.rotate(query, weights.rotation(np.array([query_at[0]]), np.array([query_at[1]])))
        k = weights.rotate(key, weights.rotation(np.array([key_at[0]]), np.array([key_at[1]])))
        return (q * k).sum(axis=-1)

    np.testing.assert_allclose(score((107, 12), (103, 4)), score((7, 9), (3, 1)), rtol=1e-4, atol=1e-5)
    assert np.abs(score((7, 9), (3, 1)) - score((7, 9), (3, 5))).max() > 1e-3  # same tokens apart, other bars
    assert np.abs(score((7, 9), (3, 1)) - score((7, 9), (5, 1))).max() > 1e-3  # same bars apart, other tokens


def test_cached_bar_positions_are_counted_per_sequence_of_a_batch():
    """Two different sequences in one batch: each row's cached logits equal its own full logits."""
    config = tiny(position="rotary-bars", seed=5)
    model = build_transformer(config)
    rng = np.random.default_rng(5)
    ids = rng.integers(1, VOCAB, size=(2, 30))
    ids[0, ::4], ids[1, ::4] = BAR_ID, 1  # row 0 has many more bars than row 1
    step = CachedStep(model, config)
    states = step.initial_states(2)
    cached = np.stack([step(ids[:, t:t + 1], states)[0] for t in range(ids.shape[1])], axis=1)
    for row in range(2):
        np.testing.assert_allclose(cached[row], keras_logits(model, ids[row]), atol=1e-4)


@pytest.mark.parametrize("position", POSITIONS)
def test_cached_and_uncached_logits_are_equal(position):
    config = tiny(position=position, seed=2)
    model = build_transformer(config)
    ids = np.random.default_rng(2).integers(1, VOCAB, size=config.sequence_length)
    full = keras_logits(model, ids)
    np.testing.assert_allclose(numpy_logits(TransformerWeights(model, config), ids), full, atol=1e-4)
    step = CachedStep(model, config)
    states = step.initial_states(3)  # a batch of three copies: every row the same
    cached = []
    for token in ids:
        logits, states = step(np.full((3, 1), token), states)
        np.testing.assert_allclose(logits[1], logits[0], atol=1e-6)
        cached.append(logits[0])
    np.testing.assert_allclose(np.array(cached), full, atol=1e-4)


@pytest.mark.parametrize("position", POSITIONS)
def test_cache_slides_beyond_the_window(position):
    """Past sequence_length tokens the cache keeps the last sequence_length positions: a
    token attends exactly as in a fresh window that starts sequence_length - 1 tokens back,
    for the first block (later blocks' cached keys carry older context)."""
    config = tiny(position=position, num_layers=1, sequence_length=16, seed=4)
    model = build_transformer(config)
    ids = np.random.default_rng(4).integers(1, VOCAB, size=40)
    step = CachedStep(model, config)
    states = step.initial_states(1)
    for token in ids:
        logits, states = step(np.array([[token]]), states)
    window = ids[-config.sequence_length:]
    np.testing.assert_allclose(logits[0], keras_logits(model, window)[-1], atol=1e-4)


def test_attention_weights_are_causal_distributions():
    config = tiny(seed=5)
    maps = attention_weights(build_transformer(config), config, np.arange(1, 11))
    assert maps.shape == (config.num_layers, config.num_heads, 10, 10)
    np.testing.assert_allclose(maps.sum(axis=-1), 1.0, atol=1e-5)
    assert np.all(np.triu(maps, k=1) == 0)
    with pytest.raises(ValueError, match="sequence_length"):
        attention_weights(build_transformer(config), config, np.ones(config.sequence_length + 1, int))


# ----------------------------------------------------------------------------- scoring


def test_scoring_windows_score_each_token_once_with_half_a_window_of_context():
    tune = np.arange(1, 101, dtype=np.int32)  # 99 targets
    pieces = _scoring_windows(tune, 32)
    scored = np.concatenate([t[t >= 0] for _, t in pieces])
    np.testing.assert_array_equal(scored, tune[1:])
    for inputs, targets in pieces:
        assert len(inputs) == len(targets) <= 32
        first = np.flatnonzero(targets >= 0)[0]
        assert first == 0 or first >= 16  # the first window, or at least half a window of context
    assert len(_scoring_windows(tune, 200)) == 1


def test_evaluate_nll_with_a_context_scores_the_same_tokens():
    config = tiny(seed=6)
    model = build_transformer(config)
    tunes = cycle_tunes(6, seed=3)
    whole = evaluate_nll(model, tunes)
    windowed = evaluate_nll(model, tunes, context=32)
    assert windowed["tokens"] == whole["tokens"] == sum(len(t) - 1 for t in tunes)
    assert evaluate_nll(model, tunes, context=500) == whole
    with pytest.raises(ValueError, match="context"):
        evaluate_nll(model, tunes, context=1)


# ----------------------------------------------------------------------------- training


def test_tiny_transformer_learns_a_repetitive_sequence(tmp_path):
    tunes = cycle_tunes(60)
    config = tiny(sequence_length=32, batch_size=16, epochs=6, learning_rate=5e-3, warmup_steps=5, dropout=0.0)
    model = build_transformer(config)
    history = train(model, config, tunes[:50], tunes[50:], out_dir=tmp_path, verbose=0)
    unigram = UnigramModel().fit(tunes[:50], vocab_size=VOCAB).nll(tunes[50:])["nll"]
    scores = evaluate_nll(model, tunes[50:], context=config.sequence_length)
    assert scores["nll"] < 0.25 * unigram, (scores, unigram)
    assert history["epoch"] == list(range(6))
    assert (tmp_path / "checkpoints" / "best.keras").is_file()


def resume_run(out_dir: str, kill_epoch: int) -> None:
    """Train a tiny Transformer for 3 epochs; SIGKILL itself in epoch ``kill_epoch`` (-1: never)."""
    tunes = cycle_tunes(40, seed=1)
    config = tiny(sequence_length=16, batch_size=8, epochs=3, patience=10, dropout=0.3, warmup_steps=20)
    model = build_transformer(config)
    train(model, config, tunes[:32], tunes[32:], out_dir=out_dir, verbose=0, callbacks=[kill_mid_epoch(kill_epoch)])
    np.savez(os.path.join(out_dir, "final.npz"), *model.get_weights())


def test_killed_transformer_training_resumes_with_the_weights_of_an_uninterrupted_run(tmp_path):
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    killed = start_killed_run("test_lm_transformer", broken, tmp_path / "helper.py")
    resume_run(str(whole), -1)
    output, _ = killed.communicate(timeout=180)
    assert killed.returncode == -signal.SIGKILL, output
    assert read_json(broken / "history.json")["epoch"] == [0]
    resume_run(str(broken), -1)  # the warm-up schedule continues from the restored step count
    assert read_json(broken / "history.json")["session"] == [0, 1, 1]
    assert_same_final_weights(whole, broken)


# ----------------------------------------------------------------------------- bundles and sampling


@pytest.fixture(scope="module")
def transformer_bundle(tmp_path_factory):
    encoding = get_encoding("events")
    vocab = encoding.vocabulary()
    config = transformer_config_for("tiny", len(vocab), sequence_length=32, epochs=1)
    model = build_transformer(config)  # untrained: the bundle and the sampler do not care
    root = tmp_path_factory.mktemp("transformer")
    return save_bundle(root / "bundle", model=model, config=config, vocab=vocab, encoding_config=encoding,
                       data_info={"data_hash": "x", "dataset": "toy", "monophonic_tracks": [0]})


def test_bundle_round_trip_and_refusals(transformer_bundle, tmp_path):
    bundle = load_bundle(transformer_bundle)
    assert isinstance(bundle.config, TransformerConfig)
    assert read_json(transformer_bundle / "config.json")["model_type"] == "transformer"
    ids = np.arange(1, 20) % len(bundle.vocab)
    np.testing.assert_allclose(keras_logits(bundle.model, ids), numpy_logits(TransformerWeights(
        bundle.model, bundle.config), ids), atol=1e-4)

    # another class under the attention layer's module is still a custom object: refused
    import shutil

    tampered = tmp_path / "tampered"
    shutil.copytree(transformer_bundle, tampered)
    archive = tampered / "model.keras"
    with zipfile.ZipFile(archive) as source:
        members = {name: source.read(name) for name in source.namelist()}
    members["config.json"] = members["config.json"].replace(b"musiclib>RelativeSelfAttention",
                                                            b"musiclib>Evil")
    with zipfile.ZipFile(archive, "w") as target:
        for name, data in members.items():
            target.writestr(name, data)
    with pytest.raises(BundleError, match="custom object"):
        load_bundle(tampered)


def test_a_bar_position_bundle_loads_in_safe_mode_and_samples_as_the_full_model(tmp_path):
    from musiclib.encoding.events import BAR_TOKEN

    encoding = get_encoding("events")
    vocab = encoding.vocabulary()
    bar_id = int(vocab.encode([BAR_TOKEN], strict=True)[0])
    config = transformer_config_for("tiny", len(vocab), sequence_length=32, position="rotary-bars",
                                    bar_token_id=bar_id)
    path = save_bundle(tmp_path / "bundle", model=build_transformer(config), config=config, vocab=vocab,
                       encoding_config=encoding, data_info={"data_hash": "x", "dataset": "toy"})
    bundle = load_bundle(path)
    assert bundle.config == config
    ids = vocab.encode(["BOS", "Meter_4/4", BAR_TOKEN, "Pos_0", "Track_0", "Pitch_60", "Dur_12", BAR_TOKEN,
                        "Pos_0", "Track_0", "Pitch_62", "Dur_12", BAR_TOKEN], strict=True)
    np.testing.assert_allclose(keras_logits(bundle.model, ids), numpy_logits(TransformerWeights(
        bundle.model, bundle.config), ids), atol=1e-4)
    tokens = sample_tokens(bundle, seed=0, n_bars=4)
    assert encoding.decode(tokens).dropped == 0 and 1 <= tokens.count(BAR_TOKEN) <= 4


def test_sampling_is_grammatical_seeded_and_batched(transformer_bundle):
    from musiclib.encoding.grammar import EventGrammar

    bundle = load_bundle(transformer_bundle)
    parts = ModelParts(bundle.model, bundle.vocab, bundle.config, bundle.encoding, (0,))
    one = sample_tokens(parts, max_tokens=120, temperature=1.5, seed=7)  # longer than the 32-token window
    assert one == sample_tokens(parts, max_tokens=120, temperature=1.5, seed=7)
    assert len(one) == 121 or one[-1] == "EOS"
    state = EventGrammar(bundle.encoding, bundle.vocab, monophonic=(0,)).start()
    for token_id in bundle.vocab.encode(one):
        state.feed(token_id)  # a token the grammar forbids counts as repaired
    assert state.repaired == 0 and bundle.encoding.decode(one).dropped == 0
    many = sample_many(parts, seeds=[7, 8], max_tokens=120, temperature=1.5)
    assert many[0] == one


def test_share_split_compares_split_and_vocabulary_not_the_corpus_fingerprint():
    from musiclib.lm.bundle import share_split
    from musiclib.lm.reference import load_reference

    lstm, transformer = load_reference("nottingham-lstm"), load_reference("nottingham-transformer")
    assert share_split(lstm, transformer)
    # a corpus fingerprint that changed with the loader's settings (same tunes, split and tokens) still shares
    other_loader = dataclasses.replace(lstm, data_info={**lstm.data_info, "data_hash": "0" * 64,
                                                        "corpus_fingerprint": "1" * 64})
    assert share_split(other_loader, transformer)
    assert not share_split(lstm, load_reference("folk-lstm"))
