"""Windowed datasets, training (learning, files, resume after SIGKILL) and NLL scoring."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from musiclib._files import read_json, write_json
from musiclib.lm.data import make_dataset
from musiclib.lm.lstm import build_lstm, config_for
from musiclib.lm.ngram import NGramModel, UnigramModel
from musiclib.lm.training import evaluate_nll, train

REPO = Path(__file__).resolve().parents[1]
CYCLE = np.array([4, 5, 6, 7, 8, 9, 10, 11], dtype=np.int32)
VOCAB = 12


def cycle_tunes(n_tunes: int, *, seed: int = 0) -> list[np.ndarray]:
    """Tunes that repeat an 8-token cycle from a random phase: BOS ... EOS."""
    rng = np.random.default_rng(seed)
    tunes = []
    for _ in range(n_tunes):
        length = int(rng.integers(40, 90))
        body = np.roll(CYCLE, -int(rng.integers(0, CYCLE.size)))
        tunes.append(np.concatenate([[1], np.resize(body, length), [2]]).astype(np.int32))
    return tunes


def batches(dataset):
    return [(np.asarray(x), np.asarray(y)) for x, y in dataset]


# ----------------------------------------------------------------------------- data


def test_make_dataset_all_predicts_every_next_token():
    tunes = [np.arange(1, 31, dtype=np.int32), np.arange(1, 21, dtype=np.int32)]
    data = batches(make_dataset(tunes, sequence_length=8, batch_size=2, shuffle=False, seed=0, loss_on="all"))
    x = np.concatenate([b[0] for b in data])
    y = np.concatenate([b[1] for b in data])
    stream = np.concatenate(tunes)
    # 50 tokens: windows of 9 on a stride-8 grid (0, 8, ..., 40), plus one at the second tune's start (30)
    starts = [0, 8, 16, 24, 30, 32, 40]
    assert x.shape == (len(starts), 8) and y.shape == (len(starts), 8)
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    for i, start in enumerate(starts):
        np.testing.assert_array_equal(x[i], stream[start : start + 8])
        np.testing.assert_array_equal(y[i], stream[start + 1 : start + 9])


def test_make_dataset_last_has_a_window_at_every_position():
    stream = np.arange(1, 41, dtype=np.int32)
    data = batches(make_dataset([stream], sequence_length=10, batch_size=7, shuffle=False, seed=0, loss_on="last"))
    x = np.concatenate([b[0] for b in data])
    y = np.concatenate([b[1] for b in data])
    assert x.shape == (30, 10) and y.shape == (30,)
    np.testing.assert_array_equal(y, stream[10:])
    np.testing.assert_array_equal(x[:, -1] + 1, y)
    sub = batches(
        make_dataset([stream], sequence_length=10, batch_size=7, shuffle=False, seed=0, loss_on="last", stride=5)
    )
    assert sum(len(b[1]) for b in sub) == 6


def test_make_dataset_shuffle_is_a_function_of_seed_and_epoch():
    tunes = cycle_tunes(10)

    def order(seed, epoch):
        data = make_dataset(tunes, sequence_length=8, batch_size=4, shuffle=True, seed=seed, loss_on="all", epoch=epoch)
        return np.concatenate([b[0] for b in batches(data)])

    np.testing.assert_array_equal(order(3, 0), order(3, 0))
    assert not np.array_equal(order(3, 0), order(4, 0))
    assert not np.array_equal(order(3, 0), order(3, 1))
    # a shuffle, not a different selection of windows
    assert sorted(map(tuple, order(3, 0))) == sorted(map(tuple, order(3, 1)))


def test_make_dataset_rejects_bad_arguments():
    with pytest.raises(ValueError, match="too few"):
        make_dataset([np.arange(5)], sequence_length=8, batch_size=2, shuffle=False, seed=0, loss_on="all")
    with pytest.raises(ValueError, match="loss_on"):
        make_dataset([np.arange(50)], sequence_length=8, batch_size=2, shuffle=False, seed=0, loss_on="every")
    with pytest.raises(ValueError, match="batch_size"):
        make_dataset([np.arange(50)], sequence_length=8, batch_size=0, shuffle=False, seed=0, loss_on="all")


# ----------------------------------------------------------------------------- training


def test_tiny_model_learns_a_repetitive_sequence(tmp_path):
    tunes = cycle_tunes(60)
    train_tunes, valid_tunes = tunes[:50], tunes[50:]
    config = config_for("tiny", VOCAB, sequence_length=16, batch_size=16, epochs=6, learning_rate=1e-2)
    model = build_lstm(config)
    history = train(model, config, train_tunes, valid_tunes, out_dir=tmp_path, verbose=0)

    unigram = UnigramModel().fit(train_tunes, vocab_size=VOCAB).nll(valid_tunes)["nll"]
    assert unigram > 2.0  # about ln 8: the cycle's tokens are equally frequent
    scores = evaluate_nll(model, valid_tunes, sequence_length=config.sequence_length)
    assert scores["nll"] < 0.25 * unigram, (scores, unigram)
    assert scores["accuracy"] > 0.9
    assert history["val_loss"][-1] < 0.3 * unigram

    # files: history (json + csv, same epochs), checkpoints; the backup is gone after a clean finish
    assert history == read_json(tmp_path / "history.json")
    assert history["epoch"] == list(range(6)) and history["session"] == [0] * 6
    csv_lines = (tmp_path / "history.csv").read_text().splitlines()
    assert len(csv_lines) == 7 and csv_lines[0].startswith("epoch,session")
    assert all(rate > 0 for rate in history["tokens_per_s"])
    assert (tmp_path / "checkpoints" / "best.keras").is_file()
    assert (tmp_path / "checkpoints" / "last.keras").is_file()
    assert not (tmp_path / "backup").exists()


def test_train_one_prediction_per_window_counts_predicted_and_input_tokens(tmp_path):
    config = config_for("tiny", VOCAB, sequence_length=16, batch_size=16, epochs=1, loss_on="last", lstm_units=(16,))
    history = train(
        build_lstm(config), config, cycle_tunes(20), cycle_tunes(4, seed=5), out_dir=tmp_path, verbose=0, train_stride=3
    )
    assert history["epoch"] == [0]
    # one predicted token per window of 16 inputs
    assert history["input_tokens_per_s"][0] == pytest.approx(16 * history["tokens_per_s"][0])
    assert np.isfinite(history["val_loss"][0])


def resume_run(out_dir: str, kill_epoch: int) -> None:
    """Train a tiny model for 3 epochs into out_dir; SIGKILL itself mid-way through
    epoch ``kill_epoch`` (-1: never). Run by the resume test in and out of process."""
    tunes = cycle_tunes(40, seed=1)
    config = config_for(
        "tiny", VOCAB, sequence_length=16, batch_size=8, epochs=3, patience=10, dropout=0.3, lstm_units=(24,)
    )
    model = build_lstm(config)
    train(model, config, tunes[:32], tunes[32:], out_dir=out_dir, verbose=0, callbacks=[kill_mid_epoch(kill_epoch)])
    np.savez(os.path.join(out_dir, "final.npz"), *model.get_weights())


def kill_mid_epoch(kill_epoch: int):
    """A Keras callback that SIGKILLs this process after batch 2 of epoch ``kill_epoch`` (-1: never)."""
    import keras

    class KillMidEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == kill_epoch and batch == 2:
                os.kill(os.getpid(), signal.SIGKILL)

    return KillMidEpoch()


RESUME_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from {module} import resume_run
resume_run(sys.argv[1], int(sys.argv[2]))
"""


def start_killed_run(module: str, out_dir: Path, script: Path) -> subprocess.Popen:
    """``module.resume_run(out_dir, 1)`` in a subprocess: it SIGKILLs itself in epoch 1."""
    script.write_text(RESUME_SCRIPT.format(tests=str(REPO / "tests"), module=module))
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen([sys.executable, str(script), str(out_dir), "1"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def assert_same_final_weights(a: Path, b: Path) -> None:
    """The ``final.npz`` weights two ``resume_run`` calls saved are equal (rtol 1e-5)."""
    with np.load(a / "final.npz") as first, np.load(b / "final.npz") as second:
        assert len(first.files) == len(second.files) > 0
        for key in first.files:
            np.testing.assert_allclose(second[key], first[key], rtol=1e-5, atol=0)


def test_killed_training_resumes_and_matches_an_uninterrupted_run(tmp_path):
    whole, broken = tmp_path / "whole", tmp_path / "broken"

    # the run to be killed goes in a subprocess; the uninterrupted reference run meanwhile in this one
    killed = start_killed_run("test_lm_training", broken, tmp_path / "helper.py")
    resume_run(str(whole), -1)
    out_killed, _ = killed.communicate(timeout=120)
    assert killed.returncode == -signal.SIGKILL, out_killed

    # killed in the middle of epoch 1: epoch 0 is backed up and recorded, nothing more
    assert read_json(broken / "backup" / "training_metadata.json")["epoch"] == 1
    assert read_json(broken / "history.json")["epoch"] == [0]
    assert not (broken / "final.npz").exists()

    # rerun (here: the killed process's memory is gone, only its files remain)
    resume_run(str(broken), -1)
    history = read_json(broken / "history.json")
    assert history["epoch"] == [0, 1, 2]
    assert history["session"] == [0, 1, 1]  # continued at epoch 1, not from scratch
    reference = read_json(whole / "history.json")
    np.testing.assert_allclose(history["loss"], reference["loss"], rtol=1e-5)
    np.testing.assert_allclose(history["val_loss"], reference["val_loss"], rtol=1e-5)
    assert_same_final_weights(whole, broken)
    assert len((broken / "history.csv").read_text().splitlines()) == 4  # no duplicated rows


def test_a_backup_of_another_run_is_not_resumed(tmp_path):
    write_json(tmp_path / "backup" / "training_metadata.json", {"epoch": 1, "batch": 0})
    write_json(tmp_path / "backup" / "run_fingerprint.json", {"run": "another run"})
    config = config_for("tiny", VOCAB, sequence_length=16, batch_size=8)
    with pytest.raises(ValueError, match="backup of a different run"):
        train(build_lstm(config), config, cycle_tunes(10), cycle_tunes(3), out_dir=tmp_path, verbose=0)


# ----------------------------------------------------------------------------- scoring


def test_evaluate_nll_scores_every_token_after_bos_like_the_baselines():
    config = config_for("tiny", VOCAB, lstm_units=(8,), embedding_dim=4)
    model = build_lstm(config)
    rng = np.random.default_rng(0)
    model.set_weights([w + rng.normal(0, 0.5, w.shape).astype(w.dtype) for w in model.get_weights()])
    tunes = cycle_tunes(5, seed=2) + [np.array([1, 2], np.int32)]
    scores = evaluate_nll(model, tunes, batch_size=2)
    assert scores["tokens"] == sum(len(t) - 1 for t in tunes)
    assert scores["tokens"] == NGramModel(2).fit(tunes, vocab_size=VOCAB).nll(tunes)["tokens"]

    # the same number by hand, one tune at a time
    total, correct = 0.0, 0
    for tune in tunes:
        logits = model.predict_on_batch(tune[None, :-1])[0].astype(np.float64)
        log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        total -= log_probs[np.arange(len(tune) - 1), tune[1:]].sum()
        correct += int((log_probs.argmax(-1) == tune[1:]).sum())
    assert scores["nll"] == pytest.approx(total / scores["tokens"], rel=1e-5)
    assert scores["accuracy"] == pytest.approx(correct / scores["tokens"])


def test_evaluate_nll_for_one_prediction_per_window_models():
    config = config_for("tiny", VOCAB, lstm_units=(8,), embedding_dim=4, loss_on="last", sequence_length=6)
    model = build_lstm(config)
    tunes = cycle_tunes(3, seed=3)
    scores = evaluate_nll(model, tunes, sequence_length=6, batch_size=50)
    assert scores["tokens"] == sum(len(t) - 1 for t in tunes)
    # token 10 of tune 0 is predicted from the 6 tokens before it; token 2 from PAD-padded [BOS, t1]
    tune = tunes[0]
    for t, window in ((10, tune[4:10]), (2, np.array([0, 0, 0, 0, tune[0], tune[1]]))):
        logits = model.predict_on_batch(window[None].astype(np.int32))[0].astype(np.float64)
        expected = logits[tune[t]] - np.log(np.exp(logits).sum())
        single = evaluate_nll(model, [tune[: t + 1]], sequence_length=6)
        assert single["tokens"] == t
        # the last scored token of the prefix is tune[t]: recover its log-prob from the means
        before = evaluate_nll(model, [tune[:t]], sequence_length=6) if t > 1 else {"nll": 0.0, "tokens": 0}
        got = -(single["nll"] * t - before["nll"] * before["tokens"])
        assert got == pytest.approx(expected, abs=1e-4)
    with pytest.raises(ValueError, match="sequence_length"):
        evaluate_nll(model, tunes)


def test_training_windows_include_every_tune_start(monkeypatch, tmp_path):
    """train() must feed windows that open at each tune's BOS (as generation starts)."""
    import musiclib.lm.training as training

    seen = {}
    original = training._window_pipeline

    def spy(stream, starts, **kwargs):
        seen.setdefault("starts", []).append(np.asarray(starts))
        return original(stream, starts, **kwargs)

    monkeypatch.setattr(training, "_window_pipeline", spy)
    tunes = [np.r_[1, np.full(40, 5), 2].astype(np.int32), np.r_[1, np.full(30, 6), 2].astype(np.int32)]
    config = config_for("tiny", 8, sequence_length=16, epochs=1, batch_size=4)
    train(build_lstm(config), config, tunes, tunes, out_dir=tmp_path, verbose=0)
    assert 42 in seen["starts"][0]  # the second tune's BOS (42 tokens into the stream)
