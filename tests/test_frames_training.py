"""Training the piano-roll models: it learns, stops on validation, resumes exactly, refuses a
folder of another run; bundles round-trip and untrusted ones are refused."""

from __future__ import annotations

import numpy as np
import pytest
from support import lambda_model_file, link_outside

import musiclib as ml

KEYS = 10


class Interrupted(Exception):
    pass


def _rolls(n: int, seed: int) -> list[np.ndarray]:
    """Pieces with structure a model can learn: a chord held for 2 frames, then the next one."""
    rng = np.random.default_rng(seed)
    rolls = []
    for _ in range(n):
        roll = np.zeros((int(rng.integers(12, 30)), KEYS), bool)
        for t in range(len(roll)):
            chord = (t // 2) % 3
            roll[t, [chord, chord + 3, chord + 6]] = True
        rolls.append(roll)
    return rolls


def _config(**changes):
    settings = {"kind": "nade", "units": 12, "nade_hidden": 6, "window": 16, "batch_size": 4, "max_epochs": 4, "patience": 3,
                    "learning_rate": 0.01}
    settings.update(changes)
    return ml.frames.frame_config_for("tiny", **settings)


@pytest.fixture(scope="module")
def data():
    return _rolls(12, seed=1), _rolls(4, seed=2)


@pytest.mark.parametrize("kind", ml.frames.KINDS)
def test_training_beats_the_bernoulli_row(tmp_path, data, kind):
    train, valid = data
    result = ml.frames.train_frames(_config(kind=kind), train, valid, out_dir=tmp_path, verbose=0)
    scores = ml.frames.evaluate_frames(result.model, valid)
    assert scores.nll < ml.frames.bernoulli_scores(train, valid).nll
    assert result.best_val_nll == pytest.approx(min(result.history["val_nll"]))
    assert result.history["epoch"] == list(range(len(result.history["epoch"])))
    assert (tmp_path / "history.csv").is_file() and (tmp_path / "best.weights.h5").is_file()


def test_an_interrupted_run_resumes_with_the_weights_of_an_uninterrupted_one(tmp_path, data):
    train, valid = data
    config = _config()
    whole = ml.frames.train_frames(config, train, valid, out_dir=tmp_path / "whole", verbose=0)

    def interrupt(line):
        if line.startswith("epoch 2 "):
            raise Interrupted(line)

    with pytest.raises(Interrupted):
        ml.frames.train_frames(config, train, valid, out_dir=tmp_path / "cut", print_fn=interrupt)
    resumed = ml.frames.train_frames(config, train, valid, out_dir=tmp_path / "cut", verbose=0)
    assert resumed.history["session"] == [0, 0] + [1] * (len(resumed.history["epoch"]) - 2)
    assert resumed.history["val_nll"] == whole.history["val_nll"]
    for a, b in zip(resumed.model.get_weights(), whole.model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_folder_of_another_run_is_refused(tmp_path, data):
    train, valid = data
    ml.frames.train_frames(_config(max_epochs=1), train, valid, out_dir=tmp_path, verbose=0)
    with pytest.raises(ml.frames.FrameTrainingError, match="another config or other data"):
        ml.frames.train_frames(_config(max_epochs=1, units=13), train, valid, out_dir=tmp_path, verbose=0)


def test_windows_carry_the_true_previous_frame_and_mask_padding():
    roll = np.eye(5, KEYS, dtype=bool)
    previous, frames, mask = ml.frames.training_windows([roll], 3)
    assert frames.shape == (2, 3, KEYS)
    np.testing.assert_array_equal(previous[1, 0], roll[2])  # window 2 starts at frame 3
    np.testing.assert_array_equal(mask, [[1, 1, 1], [1, 1, 0]])


def _bundle(tmp_path, data):
    train, valid = data
    config = _config(max_epochs=1)
    result = ml.frames.train_frames(config, train, valid, out_dir=tmp_path / "run", verbose=0)
    info = {"dataset": "toy", "sha256": "0" * 64, "steps_per_quarter": 2,
            "train_fingerprint": ml.frames.rolls_fingerprint(train)}
    return result, ml.frames.save_frame_bundle(tmp_path / "bundle", model=result.model, config=config,
                                               data_info=info, metrics={"valid": 1.0}, history=result.history)


def test_bundle_round_trip_keeps_the_logits_and_drops_the_optimizer(tmp_path, data):
    result, path = _bundle(tmp_path, data)
    bundle = ml.frames.load_frame_bundle(path)
    x = np.stack([r[:12] for r in data[1]]).astype("float32")
    np.testing.assert_allclose(bundle.model.predict_on_batch([x, x]), result.model.predict_on_batch([x, x]),
                               atol=1e-6)
    assert getattr(bundle.model, "optimizer", None) is None and bundle.steps_per_quarter == 2
    assert bundle.metrics == {"valid": 1.0}


def test_untrusted_bundles_are_refused(tmp_path, data):
    _, path = _bundle(tmp_path, data)
    lambda_model_file(path / "model.keras", path / "model.keras", tmp_path / "ran")
    with pytest.raises(ml.frames.FrameBundleError, match="Lambda"):
        ml.frames.load_frame_bundle(path)
    assert not (tmp_path / "ran").exists()
    _, other = _bundle(tmp_path / "second", data)
    link_outside(other, "data.json", tmp_path / "elsewhere")
    with pytest.raises(ml.frames.FrameBundleError, match="symbolic link"):
        ml.frames.load_frame_bundle(other)
    (path / "config.json").write_text('{"kind": "musiclib.bundle"}')
    with pytest.raises(ml.frames.FrameBundleError, match="not a piano-roll bundle"):
        ml.frames.load_frame_bundle(path)


def test_a_finished_run_goes_on_with_a_larger_budget(tmp_path, data):
    train, valid = data
    first = ml.frames.train_frames(_config(max_epochs=2), train, valid, out_dir=tmp_path, verbose=0)
    assert first.stopped_because == "max_epochs" and len(first.history["epoch"]) == 2
    longer = ml.frames.train_frames(_config(max_epochs=3), train, valid, out_dir=tmp_path, verbose=0)
    assert longer.history["epoch"] == [0, 1, 2] and longer.history["session"] == [0, 0, 1]
