"""The piano-roll networks: LSTM-NADE's masking over keys, NumPy stepping equal to Keras,
exact likelihoods that sum to one, deterministic sampling."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import musiclib as ml

KEYS = 6


def _model(kind: str, seed: int = 0):
    config = ml.frames.frame_config_for("tiny", kind=kind, units=8, nade_hidden=5, seed=seed)
    model = ml.frames.build_frame_model(config, n_keys=KEYS)
    # random output weights, so the test does not pass by zeros
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(scale=0.7, size=w.shape).astype("float32") for w in model.get_weights()])
    return model


def _rolls(n: int = 3, frames: int = 7, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((n, frames, KEYS)) < 0.4).astype("float32")


def _previous(rolls: np.ndarray) -> np.ndarray:
    previous = np.zeros_like(rolls)
    previous[:, 1:] = rolls[:, :-1]
    return previous


def test_nade_logit_of_a_key_sees_only_the_keys_below_it():
    model = _model("nade")
    rolls = _rolls()
    base = np.asarray(model.predict_on_batch([_previous(rolls), rolls]))
    for key in range(KEYS):
        flipped = rolls.copy()
        flipped[:, :, key] = 1 - flipped[:, :, key]
        changed = np.asarray(model.predict_on_batch([_previous(rolls), flipped]))
        np.testing.assert_allclose(changed[..., : key + 1], base[..., : key + 1], atol=1e-6)
        if key + 1 < KEYS:
            assert np.abs(changed[..., key + 1:] - base[..., key + 1:]).max() > 1e-4


@pytest.mark.parametrize("kind", ml.frames.KINDS)
def test_no_frame_sees_its_future(kind):
    model = _model(kind)
    rolls = _rolls()
    base = np.asarray(model.predict_on_batch([_previous(rolls), rolls]))
    later = rolls.copy()
    later[:, 4:] = 1 - later[:, 4:]
    changed = np.asarray(model.predict_on_batch([_previous(later), later]))
    if kind == "independent":
        np.testing.assert_allclose(changed[:, :5], base[:, :5], atol=1e-6)
    else:  # frame 4's own keys change its later-key logits; frames before it stay
        np.testing.assert_allclose(changed[:, :4], base[:, :4], atol=1e-6)


@pytest.mark.parametrize("kind", ml.frames.KINDS)
def test_numpy_stepping_gives_the_keras_logits(kind):
    model = _model(kind)
    rolls = _rolls()
    keras_logits = np.asarray(model.predict_on_batch([_previous(rolls), rolls]))
    weights = ml.frames.frame_weights(model)
    context = ml.frames.context_sequence(weights, rolls)
    _, numpy_logits = ml.frames.decode_frames(weights, context.reshape(-1, context.shape[-1]),
                                              frames=rolls.reshape(-1, KEYS))
    np.testing.assert_allclose(numpy_logits.reshape(keras_logits.shape), keras_logits, atol=1e-4)


def test_nade_probabilities_of_all_frames_sum_to_one():
    model = _model("nade")
    all_frames = np.array(list(itertools.product([0, 1], repeat=KEYS)), dtype="float32")  # 64 frames
    previous = np.zeros((len(all_frames), 1, KEYS), "float32")  # every frame scored as frame 1
    logits = np.asarray(model.predict_on_batch([previous, all_frames[:, None]]))
    log_p = -ml.frames.frame_nll_terms(logits[:, 0], all_frames)
    assert np.exp(log_p).sum() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("kind", ml.frames.KINDS)
def test_sampling_is_seeded_and_keeps_the_primer(kind):
    model = _model(kind)
    primer = np.zeros((3, KEYS), bool)
    primer[:, 2] = True
    first = ml.frames.generate_rolls(model, n=2, n_frames=10, seed=5, primer=primer)
    again = ml.frames.generate_rolls(model, n=2, n_frames=10, seed=5, primer=primer)
    other = ml.frames.generate_rolls(model, n=2, n_frames=10, seed=6, primer=primer)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))
    assert first[0].shape == (10, KEYS) and first[0].dtype == bool
    assert np.array_equal(first[1][:3], primer)


def test_evaluate_frames_matches_a_hand_sum_over_whole_sequences():
    model = _model("nade")
    rolls = [r.astype(bool) for r in _rolls(n=3, frames=9)] + [np.ones((2, KEYS), bool)]
    scores = ml.frames.evaluate_frames(model, rolls, batch_size=2)
    total = total_all = 0.0
    for roll in rolls:
        x = roll[None].astype("float32")
        terms = ml.frames.frame_nll_terms(np.asarray(model.predict_on_batch([_previous(x), x]))[0], roll)
        total_all += terms.sum()
        total += terms[1:].sum()
    assert scores.frames_all == 29 and scores.frames == 25
    assert scores.nll_all == pytest.approx(total_all / 29, rel=1e-5)
    assert scores.nll == pytest.approx(total / 25, rel=1e-5)
    assert 0.0 <= scores.accuracy <= 1.0


def test_config_validation_and_round_trip():
    config = ml.frames.frame_config_for("default", kind="independent")
    assert ml.frames.FrameModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="kind must be one of"):
        ml.frames.FrameModelConfig(kind="rbm")
    with pytest.raises(ValueError, match="unknown FrameModelConfig field"):
        ml.frames.FrameModelConfig.from_dict({"colour": 1})
    with pytest.raises(ValueError, match="unknown preset"):
        ml.frames.frame_config_for("huge")
