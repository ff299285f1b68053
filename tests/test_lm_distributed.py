"""Data-parallel training: two MultiWorkerMirroredStrategy workers on loopback, two
MirroredStrategy replicas on one host, and ``training.train(strategy=...)``.

Tolerance. Distributed training does the same arithmetic as one device except for
the order of float32 sums: each replica sums the loss and the dense gradients over
its half of the batch and the all-reduce adds the halves. That changes results in
the last bits (about 1e-7 relative per step), and Adam's ``m / (sqrt(v) + eps)``
amplifies such differences for near-zero gradients. Measured after 2 epochs (8 steps):
max |w_distributed - w_fit| = 3e-8 for two workers and for two mirrored replicas
(loss_on="all"), 2e-7 for loss_on="last". ``WEIGHT_ATOL`` = 2e-5 leaves a wide margin
for other CPUs and TensorFlow builds and is still two orders of magnitude below the
size of one Adam step (the learning rate, 2e-3). Errors fail it by far: Keras's own
order (clip each replica's gradient, then sum them) gives 1.6e-2 with the ``clipnorm``
used here, and dropout masks drawn per replica give 9e-3.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

from musiclib._files import read_json, write_json
from musiclib.lm.distributed import MODEL_FILE, save_tokens, strategy_from_environment, worker_role
from musiclib.lm.architectures import build_model
from musiclib.lm.lstm import build_lstm, config_for
from musiclib.lm.transformer import transformer_config_for
from musiclib.lm.training import HISTORY_FILE, train

REPO = Path(__file__).resolve().parents[1]
VOCAB = 12
WEIGHT_ATOL = 2e-5
LOSS_RTOL = 1e-5
WORKER_TIMEOUT_S = 150  # the cluster forms and trains in ~15-25 s on a loaded 2-core machine


def structured_tunes(n_tunes: int = 6, *, seed: int = 0) -> list[np.ndarray]:
    """Tunes that repeat an 8-token cycle from a random phase: BOS ... EOS (~380 tokens)."""
    rng = np.random.default_rng(seed)
    cycle = np.arange(4, 12, dtype=np.int32)
    tunes = []
    for _ in range(n_tunes):
        body = np.roll(cycle, -int(rng.integers(0, cycle.size)))
        tunes.append(np.concatenate([[1], np.resize(body, int(rng.integers(40, 90))), [2]]).astype(np.int32))
    return tunes


def tiny_config(**overrides):
    # dropout 0: each replica would draw its own masks, which no single-device run
    # reproduces. clipnorm 0.05 is small enough that clipping is active at every step,
    # so the test checks that clipping sees the all-reduced gradient.
    settings = dict(
        embedding_dim=8, lstm_units=(16,), sequence_length=16, batch_size=8, epochs=2, dropout=0.0, clipnorm=0.05
    )
    return config_for("tiny", VOCAB, **{**settings, **overrides})


def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("localhost", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def worker_env(tf_config: dict | None) -> dict[str, str]:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return env


def fit_reference(config, tunes, out_dir: Path) -> tuple[list[np.ndarray], dict]:
    """Single-device training with Keras's fit (training.train), the result to match."""
    model = build_model(config)
    history = train(model, config, tunes, tunes[:2], out_dir=out_dir, verbose=0)
    return model.get_weights(), history


def load_weights(path: Path) -> list[np.ndarray]:
    with np.load(path, allow_pickle=False) as saved:
        return [saved[f"w{i}"] for i in range(len(saved.files))]


def max_abs_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    assert [x.shape for x in a] == [y.shape for y in b]
    return max(float(np.abs(x - y).max()) for x, y in zip(a, b))


def run_workers(commands: list[list[str]], envs: list[dict], logs: list[Path], timeout: float) -> None:
    """Run worker processes together; on a failure or timeout kill them all and fail with their logs."""
    processes = []
    handles = [open(log, "wb") for log in logs]
    try:
        for command, env, handle in zip(commands, envs, handles):
            processes.append(
                subprocess.Popen(command, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
            )
        deadline = time.monotonic() + timeout
        while any(p.poll() is None for p in processes):
            failed = [p for p in processes if p.poll() not in (None, 0)]
            if failed or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
        for p in processes:
            p.wait(timeout=30)
        for handle in handles:
            handle.close()
    codes = [p.returncode for p in processes]
    if codes != [0] * len(processes):
        tails = "\n".join(
            f"--- worker {i} (exit {code}) ---\n" + log.read_text(errors="replace")[-3000:]
            for i, (code, log) in enumerate(zip(codes, logs))
        )
        reason = "timed out after %d s (killed)" % timeout if time.monotonic() > deadline else "failed"
        pytest.fail(f"distributed workers {reason}; exit codes {codes}\n{tails}")


def worker_commands(tmp_path: Path, out_dir: Path, tag: str = "") -> tuple[list, list, list]:
    """Commands, environments and log paths of two loopback workers of ``python -m musiclib.lm.distributed``
    (config and tokens in ``tmp_path``; ``tag`` names their weights and logs apart)."""
    prefix = f"{tag}-" if tag else ""
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(2)]}
    commands, envs, logs = [], [], []
    for index in range(2):
        commands.append(
            [
                sys.executable, "-m", "musiclib.lm.distributed",
                "--config", str(tmp_path / "config.json"),
                "--tokens", str(tmp_path / "tokens.npz"),
                "--out-dir", str(out_dir),
                "--weights-out", str(tmp_path / f"{prefix}weights{index}.npz"),
            ]
        )  # fmt: skip
        envs.append(worker_env({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        logs.append(tmp_path / f"{prefix}worker{index}.log")
    return commands, envs, logs


def test_two_workers_on_loopback_match_single_worker_fit(tmp_path):
    tunes = structured_tunes()
    config = tiny_config()
    write_json(tmp_path / "config.json", config.to_dict())
    save_tokens(tmp_path / "tokens.npz", train=tunes, valid=tunes[:2])
    out_dir = tmp_path / "run"
    commands, envs, logs = worker_commands(tmp_path, out_dir)

    started = time.perf_counter()
    run_workers(commands, envs, logs, WORKER_TIMEOUT_S)
    cluster_seconds = time.perf_counter() - started
    reference, fit_history = fit_reference(config, tunes, tmp_path / "fit")

    w0, w1 = load_weights(tmp_path / "weights0.npz"), load_weights(tmp_path / "weights1.npz")
    for a, b in zip(w0, w1):
        np.testing.assert_array_equal(a, b)  # the workers hold one model
    diff = max_abs_diff(w0, reference)
    print(f"two workers: {cluster_seconds:.1f} s; max |w_distributed - w_fit| = {diff:.3g}")
    assert diff < WEIGHT_ATOL, f"distributed weights differ from single-worker fit by {diff:.3g}"

    # Only the chief wrote to out_dir: the final model, the config and the history.
    import keras

    saved = keras.models.load_model(out_dir / MODEL_FILE, compile=False)
    for a, b in zip(saved.get_weights(), w0):
        np.testing.assert_array_equal(a, b)
    history = read_json(out_dir / HISTORY_FILE)
    assert history["epoch"] == [0, 1] and history["workers"] == [2, 2] and history["replicas"] == [2, 2]
    np.testing.assert_allclose(history["loss"], fit_history["loss"], rtol=LOSS_RTOL)
    np.testing.assert_allclose(history["val_loss"], fit_history["val_loss"], rtol=LOSS_RTOL)
    assert all(value > 0 for value in history["tokens_per_s"])
    assert sorted(p.name for p in out_dir.iterdir()) == ["config.json", "history.csv", "history.json", MODEL_FILE]
    assert "epoch 2/2" in logs[0].read_text() and "epoch 2/2" not in logs[1].read_text()


_MIRRORED_SCRIPT = """
import json, sys
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, {tests!r})
from test_lm_distributed import structured_tunes, tiny_config, fit_reference, max_abs_diff
from musiclib.lm.distributed import train_distributed

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
tunes, config = structured_tunes(), tiny_config()
result = train_distributed(config, tunes, valid_sequences=tunes[:2], out_dir={out!r} + "/mirrored", strategy=strategy, verbose=0)
reference, history = fit_reference(config, tunes, {out!r} + "/fit")
print(json.dumps({{"diff": max_abs_diff(result.model.get_weights(), reference),
                  "replicas": result.history["replicas"], "loss": result.history["loss"], "fit_loss": history["loss"]}}))
"""


def test_mirrored_replicas_on_one_host_match_single_device_fit(tmp_path):
    """Two replicas on two logical CPUs of one process (MirroredStrategy, the several-GPU path)."""
    script = _MIRRORED_SCRIPT.format(tests=str(Path(__file__).parent), out=str(tmp_path))
    try:
        done = subprocess.run(
            [sys.executable, "-c", script], cwd=REPO, env=worker_env(None), capture_output=True, text=True,
            timeout=WORKER_TIMEOUT_S,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"the MirroredStrategy run timed out after {WORKER_TIMEOUT_S} s (killed)")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"two mirrored replicas: max |w_distributed - w_fit| = {result['diff']:.3g}")
    assert result["replicas"] == [2, 2]
    assert result["diff"] < WEIGHT_ATOL, result
    np.testing.assert_allclose(result["loss"], result["fit_loss"], rtol=LOSS_RTOL)


def test_train_accepts_the_default_and_a_mirrored_strategy(tmp_path):
    import tensorflow as tf

    tunes = structured_tunes()
    config = tiny_config(epochs=1)
    plain, _ = fit_reference(config, tunes, tmp_path / "plain")

    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = build_lstm(config)
    train(model, config, tunes, tunes[:2], out_dir=tmp_path / "mirrored", verbose=0, strategy=strategy)
    assert max_abs_diff(model.get_weights(), plain) < WEIGHT_ATOL

    default = tf.distribute.get_strategy()
    model = build_lstm(config)
    train(model, config, tunes, tunes[:2], out_dir=tmp_path / "default", verbose=0, strategy=default)
    assert max_abs_diff(model.get_weights(), plain) == 0.0

    with pytest.raises(ValueError, match="strategy.scope"):
        train(build_lstm(config), config, tunes, tunes[:2], out_dir=tmp_path / "x", verbose=0, strategy=strategy)
    # A real MultiWorkerMirroredStrategy must be created at process start; a stand-in
    # of its type is enough for the check, which refuses it before any training.
    multi_worker = mock.Mock(spec=tf.distribute.MultiWorkerMirroredStrategy)
    with pytest.raises(ValueError, match="train_distributed"):
        train(build_lstm(config), config, tunes, tunes[:2], out_dir=tmp_path / "x", verbose=0, strategy=multi_worker)
    with pytest.raises(TypeError, match="tf.distribute.Strategy"):
        train(build_lstm(config), config, tunes, tunes[:2], out_dir=tmp_path / "x", verbose=0, strategy="mirrored")


def test_strategy_from_environment_without_a_cluster(monkeypatch):
    import tensorflow as tf

    monkeypatch.delenv("TF_CONFIG", raising=False)
    strategy = strategy_from_environment()
    assert strategy.num_replicas_in_sync == len(tf.config.list_physical_devices("GPU")) or 1
    assert worker_role(strategy) == ("worker", 0, True)
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG"):
        strategy_from_environment()


def test_train_distributed_checks_its_batch(tmp_path):
    from musiclib.lm.distributed import train_distributed

    tunes = structured_tunes(1)
    with pytest.raises(ValueError, match="fewer than one global batch"):
        train_distributed(tiny_config(batch_size=64), tunes, out_dir=tmp_path, verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        train_distributed(tiny_config(), tunes, out_dir=tmp_path, batch_size=0, verbose=0)


def test_train_distributed_trains_a_transformer_like_fit(tmp_path):
    """The data-parallel loop builds the model the config names: a Transformer, with its warm-up
    schedule, ends with the weights of Keras's fit on one device."""
    from musiclib.lm.distributed import train_distributed

    tunes = structured_tunes()
    config = transformer_config_for("tiny", VOCAB, sequence_length=16, batch_size=8, epochs=2, dropout=0.0,
                                    warmup_steps=4)
    result = train_distributed(config, tunes, valid_sequences=tunes[:2], out_dir=tmp_path / "loop", verbose=0)
    reference, history = fit_reference(config, tunes, tmp_path / "fit")
    assert type(result.config) is type(config)
    assert max_abs_diff(result.model.get_weights(), reference) < WEIGHT_ATOL
    np.testing.assert_allclose(result.history["loss"], history["loss"], rtol=LOSS_RTOL)
