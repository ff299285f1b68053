"""Resume and early stopping of ``musiclib.lm.distributed.train_distributed``.

Exactness. A resumed run restores every model variable (weights and seed states) and
every optimizer variable (the iteration count, Adam's moments) bit for bit from
``.npz`` files, and its data pipeline starts at the resume epoch with the shuffle of
``(seed, epoch)``; with TensorFlow's op determinism on (the default) the remaining
epochs then do the same float operations in the same order as an uninterrupted run,
so the final weights must be *identical* (max |diff| = 0), not merely close. The
two-worker all-reduce over loopback is deterministic too (the existing test finds the
two workers bit-identical), so the same holds for a killed and restarted worker group.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from musiclib._files import read_json, write_json
from musiclib.lm import distributed
from musiclib.lm.distributed import MODEL_FILE, save_tokens, train_distributed
from musiclib.lm.training import BACKUP_DIR, HISTORY_FILE

sys.path.insert(0, str(Path(__file__).parent))
from test_lm_distributed import (  # noqa: E402  (helpers only, no tests)
    REPO,
    WORKER_TIMEOUT_S,
    load_weights,
    max_abs_diff,
    run_workers,
    structured_tunes,
    tiny_config,
    worker_commands,
)

KILL_EPOCHS = 24  # long enough (tens of ms per epoch after the first) that the kill lands mid-run


def scripted_validation(values):
    """A stand-in for ``distributed._validation`` that returns ``values`` in turn."""

    def make(*args, **kwargs):
        remaining = iter(values)
        return lambda: next(remaining)

    return make


def weights_of(result) -> list[np.ndarray]:
    return [np.array(w) for w in result.model.get_weights()]


def test_early_stopping_stops_and_restores_the_best_epoch(tmp_path, monkeypatch):
    tunes = structured_tunes()
    config = tiny_config(patience=1)
    monkeypatch.setattr(distributed, "_validation", scripted_validation([3.0, 2.0]))
    after_two = train_distributed(config, tunes, valid_sequences=tunes[:2], out_dir=tmp_path / "two",
                                  epochs=2, verbose=0)
    monkeypatch.setattr(distributed, "_validation", scripted_validation([3.0, 2.0, 2.5, 2.6, 1.0, 0.5]))
    stopped = train_distributed(config, tunes, valid_sequences=tunes[:2], out_dir=tmp_path / "stop",
                                epochs=6, verbose=0)
    # epoch 2 is the first without improvement; patience 1 stops there and restores epoch 1
    assert stopped.history["epoch"] == [0, 1, 2]
    assert stopped.history["val_loss"] == [3.0, 2.0, 2.5]
    assert max_abs_diff(weights_of(stopped), weights_of(after_two)) == 0.0
    assert read_json(tmp_path / "stop" / HISTORY_FILE)["epoch"] == [0, 1, 2]
    assert not (tmp_path / "stop" / BACKUP_DIR).exists()


def test_resume_keeps_early_stopping_state_and_refuses_another_run(tmp_path, monkeypatch):
    tunes = structured_tunes()
    config = tiny_config(patience=1)
    out = tmp_path / "run"
    monkeypatch.setattr(distributed, "_validation", scripted_validation([3.0, 2.0]))
    reference = train_distributed(config, tunes, valid_sequences=tunes[:2], out_dir=tmp_path / "ref",
                                  epochs=2, verbose=0)
    with monkeypatch.context() as interrupted:  # the backup stays, as after a kill past epoch 2
        interrupted.setattr(distributed, "_remove_backup", lambda folder: None)
        train_distributed(config, tunes, valid_sequences=tunes[:2], out_dir=out, epochs=2, verbose=0)
    assert [p.name for p in (out / BACKUP_DIR).iterdir()] == ["epoch-00002"]
    with pytest.raises(ValueError, match="different run"):
        train_distributed(config.replace(learning_rate=0.01), tunes, valid_sequences=tunes[:2], out_dir=out,
                          epochs=6, verbose=0)
    with pytest.raises(ValueError, match="different run"):
        train_distributed(config, tunes[1:], valid_sequences=tunes[:2], out_dir=out, epochs=6, verbose=0)
    # Resumed at epoch 2: the best (2.0 at epoch 1) and wait come from the backup, so 2.5 stops
    # the run. A fresh early-stopping state would take 2.5 and then 1.0 as improvements.
    monkeypatch.setattr(distributed, "_validation", scripted_validation([2.5, 1.0, 0.5, 0.2]))
    resumed = train_distributed(config, tunes, valid_sequences=tunes[:2], out_dir=out, epochs=6, verbose=0)
    assert resumed.history["epoch"] == [0, 1, 2]
    assert resumed.history["session"] == [0, 0, 1]
    assert max_abs_diff(weights_of(resumed), weights_of(reference)) == 0.0
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "history.csv", "history.json", MODEL_FILE]


def _epochs_done(out_dir: Path) -> int:
    try:
        return len(read_json(out_dir / HISTORY_FILE)["epoch"])
    except (OSError, ValueError, KeyError):
        return 0


def _start_and_kill(commands, envs, logs, out_dir: Path, *, after_epochs: int) -> int:
    """Start the worker group, SIGKILL every worker once ``after_epochs`` epochs are in the
    history; return the epochs recorded then."""
    handles = [open(log, "wb") for log in logs]
    processes = [
        subprocess.Popen(command, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
        for command, env, handle in zip(commands, envs, handles)
    ]
    try:
        deadline = time.monotonic() + WORKER_TIMEOUT_S
        while _epochs_done(out_dir) < after_epochs:
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                tails = "\n".join(log.read_text(errors="replace")[-2000:] for log in logs)
                pytest.fail(f"the worker group ended or stalled before epoch {after_epochs}\n{tails}")
            time.sleep(0.02)
        for p in processes:
            os.kill(p.pid, signal.SIGKILL)
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=30)
        for handle in handles:
            handle.close()
    assert [p.returncode for p in processes] == [-signal.SIGKILL] * 2
    return _epochs_done(out_dir)


def _expect_disagreement(commands, envs, logs) -> None:
    """Run the group and expect every worker to refuse: they read different backups."""
    message = "the workers read different backups"
    handles = [open(log, "wb") for log in logs]
    processes = [
        subprocess.Popen(command, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
        for command, env, handle in zip(commands, envs, handles)
    ]
    try:
        deadline = time.monotonic() + WORKER_TIMEOUT_S
        while time.monotonic() < deadline and not all(
            p.poll() is not None or message in log.read_text(errors="replace") for p, log in zip(processes, logs)
        ):
            time.sleep(0.1)
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=30)
        for handle in handles:
            handle.close()
    for log in logs:
        assert message in log.read_text(errors="replace"), log.read_text(errors="replace")[-3000:]


def test_killed_worker_group_resumes_to_the_uninterrupted_weights(tmp_path):
    tunes = structured_tunes()
    config = tiny_config(epochs=KILL_EPOCHS, patience=KILL_EPOCHS)
    write_json(tmp_path / "config.json", config.to_dict())
    save_tokens(tmp_path / "tokens.npz", train=tunes, valid=tunes[:2])

    began = time.perf_counter()
    run_workers(*worker_commands(tmp_path, tmp_path / "whole", "whole"), WORKER_TIMEOUT_S)
    whole_seconds = time.perf_counter() - began

    killed_dir = tmp_path / "killed"
    began = time.perf_counter()
    killed_at = _start_and_kill(*worker_commands(tmp_path, killed_dir, "first"), killed_dir, after_epochs=2)
    assert 1 <= killed_at < KILL_EPOCHS, "the kill must land mid-run"
    assert (killed_dir / BACKUP_DIR).is_dir() and not (killed_dir / MODEL_FILE).exists()
    # A worker that cannot see the chief's out_dir (here: another folder) would start over:
    # the workers compare the resume epochs they read and refuse, leaving the backup as it was.
    commands, envs, logs = worker_commands(tmp_path, killed_dir, "unshared")
    commands[1][commands[1].index("--out-dir") + 1] = str(tmp_path / "elsewhere")
    _expect_disagreement(commands, envs, logs)
    assert not (tmp_path / "elsewhere" / BACKUP_DIR).exists()
    commands, envs, logs = worker_commands(tmp_path, killed_dir, "second")  # same command, fresh ports
    run_workers(commands, envs, logs, WORKER_TIMEOUT_S)
    resumed_seconds = time.perf_counter() - began

    whole = load_weights(tmp_path / "whole-weights0.npz")
    w0, w1 = load_weights(tmp_path / "second-weights0.npz"), load_weights(tmp_path / "second-weights1.npz")
    assert max_abs_diff(w0, w1) == 0.0  # the workers hold one model
    diff = max_abs_diff(w0, whole)
    history = read_json(killed_dir / HISTORY_FILE)
    resumed_from = history["session"].index(1)
    print(f"uninterrupted {whole_seconds:.1f} s; killed after {killed_at} recorded epochs, resumed from epoch "
          f"{resumed_from + 1}, {resumed_seconds:.1f} s in all; max |w_resumed - w_uninterrupted| = {diff:.3g}")
    assert diff == 0.0, f"the resumed run's weights differ from the uninterrupted run's by {diff:.3g}"
    assert history["epoch"] == list(range(KILL_EPOCHS))  # one row per epoch, none twice
    assert history["session"] == [0] * resumed_from + [1] * (KILL_EPOCHS - resumed_from) and resumed_from >= 1
    assert history["workers"] == [2] * KILL_EPOCHS
    whole_history = read_json(tmp_path / "whole" / HISTORY_FILE)
    assert history["loss"] == whole_history["loss"] and history["val_loss"] == whole_history["val_loss"]
    assert f"Resuming from the backup in {killed_dir / BACKUP_DIR}" in logs[0].read_text()
    assert sorted(p.name for p in killed_dir.iterdir()) == ["config.json", "history.csv", "history.json", MODEL_FILE]
