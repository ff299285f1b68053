"""Resumable training of the piano-roll models with validation-based early stopping.

One epoch: every training roll cut into windows of ``config.window`` frames from its first
frame (each window starts from a fresh LSTM state but sees the true previous frame),
shuffled by ``(seed, epoch)``, one pass of Adam. After each epoch the exact validation
NLL (whole sequences, :func:`~musiclib.frames.evaluate_frames`) decides: a new best is
saved; ``lr_patience`` epochs without one halve the learning rate; ``patience`` epochs
without one, or the ``max_minutes`` budget, end training. The best epoch's weights are
the result: model selection uses the validation split only.

The run folder holds ``run.json`` (what is being trained, on which data),
``checkpoint/last.keras`` (weights and optimizer state after the last finished epoch)
with ``checkpoint/state.json``, ``best.weights.h5`` and ``history.json`` / ``.csv``,
each written atomically. Calling :func:`train_frames` again on the same folder resumes
after the last finished epoch (also a finished run, given a larger ``max_epochs``,
``max_minutes`` or ``patience``); a killed run resumed this way ends with the weights an
uninterrupted run would have (TensorFlow's deterministic ops, per-epoch seeds).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from musiclib import _tf
from musiclib._files import read_json, write_json
from musiclib._keras import (
    UnsafeModelError,
    _save_keras_atomically,
    check_keras_archive,
    quiet_keras_saving,
    write_history,
)
from musiclib.frames.metrics import evaluate_frames
from musiclib.frames.model import FrameModelConfig, build_frame_model, key_log_odds

__all__ = [
    "BEST_WEIGHTS",
    "CHECKPOINT_DIR",
    "RUN_FILE",
    "FrameTrainingError",
    "FrameTrainingResult",
    "rolls_fingerprint",
    "train_frames",
    "training_windows",
]

RUN_FILE = "run.json"
BEST_WEIGHTS = "best.weights.h5"
CHECKPOINT_DIR = "checkpoint"
_LAST_MODEL = "last.keras"
_STATE_FILE = "state.json"


class FrameTrainingError(RuntimeError):
    """A run folder that belongs to another run, or a checkpoint that cannot be resumed."""


@dataclass(frozen=True)
class FrameTrainingResult:
    """What :func:`train_frames` returns.

    Attributes
    ----------
    model
        The model with the best epoch's weights (compiled).
    history
        Per-epoch columns: ``epoch``, ``session``, ``loss``, ``val_nll``, ``learning_rate``, ``seconds``.
    best_epoch, best_val_nll
        The epoch whose weights were kept (0-based) and its validation NLL.
    train_seconds
        Training time summed over every session of the run.
    stopped_because
        ``"patience"``, ``"max_epochs"`` or ``"max_minutes"``.
    out_dir
        The run folder.
    """

    model: Any
    history: dict[str, list]
    best_epoch: int
    best_val_nll: float
    train_seconds: float
    stopped_because: str
    out_dir: Path


def rolls_fingerprint(rolls: Sequence[np.ndarray]) -> str:
    """SHA-256 over the shapes and bits of ``rolls`` (identifies the training data)."""
    digest = hashlib.sha256()
    for roll in rolls:
        roll = np.ascontiguousarray(np.asarray(roll, dtype=bool))
        digest.update(np.asarray(roll.shape, dtype=np.int64).tobytes())
        digest.update(np.packbits(roll).tobytes())
    return digest.hexdigest()


def training_windows(rolls: Sequence[np.ndarray], window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(previous, frames, mask)`` arrays, windows × ``window`` × keys, cut from each roll's first frame.

    ``previous[w, t]`` is the frame before ``frames[w, t]`` in its roll (zeros before frame 1);
    ``mask`` marks real frames (the last window of a roll is zero-padded).
    """
    previous, frames, mask = [], [], []
    for roll in rolls:
        roll = np.asarray(roll, dtype=np.float32)
        before = np.concatenate([np.zeros((1, roll.shape[1]), np.float32), roll[:-1]])
        for start in range(0, len(roll), window):
            n = min(window, len(roll) - start)
            p = np.zeros((window, roll.shape[1]), np.float32)
            f = np.zeros_like(p)
            p[:n], f[:n] = before[start:start + n], roll[start:start + n]
            previous.append(p)
            frames.append(f)
            mask.append(np.arange(window) < n)
    return np.stack(previous), np.stack(frames), np.stack(mask).astype(np.float32)


_BUDGET_FIELDS = ("max_epochs", "max_minutes", "patience")
"""Settings that only say when to stop: a finished run resumed with a larger budget goes on."""


def _run_record(config: FrameModelConfig, fingerprint: str, valid_fingerprint: str) -> dict[str, Any]:
    """What identifies a run: the config without its stopping budget, and the data."""
    identity = {key: value for key, value in config.to_dict().items() if key not in _BUDGET_FIELDS}
    return {"config": identity, "train_fingerprint": fingerprint, "valid_fingerprint": valid_fingerprint}


def _compile(model, config: FrameModelConfig, learning_rate: float) -> None:
    keras = _tf.keras()
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate, clipnorm=config.clipnorm),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
    )


def _claim(out_dir: Path, record: dict[str, Any]) -> dict[str, Any] | None:
    """The saved state of a resumable run in ``out_dir`` (None for a fresh run); a folder of
    another run is refused."""
    run_file = out_dir / RUN_FILE
    if run_file.exists():
        if read_json(run_file) != record:
            raise FrameTrainingError(
                f"{out_dir} holds a run with another config or other data ({run_file}); "
                "choose another out_dir, or delete that folder to start over"
            )
    else:
        write_json(run_file, record)
    state_file = out_dir / CHECKPOINT_DIR / _STATE_FILE
    return read_json(state_file) if state_file.exists() else None


def _seed_epoch(seed: int, epoch: int) -> np.random.Generator:
    """Seed the backend for this epoch's dropout; return the NumPy generator of its window order."""
    keras = _tf.keras()
    keras.utils.set_random_seed(seed * 100_003 + epoch)
    return np.random.default_rng([seed, epoch])


def train_frames(
    config: FrameModelConfig,
    train_rolls: Sequence[np.ndarray],
    valid_rolls: Sequence[np.ndarray],
    *,
    out_dir: str | Path,
    verbose: int = 1,
    print_fn: Callable[[str], None] = print,
    deterministic: bool = True,
) -> FrameTrainingResult:
    """Train a piano-roll model of ``config`` with early stopping on the validation NLL; resumable.

    Parameters
    ----------
    config
        Architecture and training settings.
    train_rolls, valid_rolls
        ``(frames, keys)`` boolean rolls: the fixed train and valid splits.
    out_dir
        The run folder; a folder with a checkpoint of the same run resumes it.
    verbose
        1: a line per epoch; 0: silent.
    print_fn
        Where the lines go.
    deterministic
        Use TensorFlow's deterministic ops (process-wide), so a resumed run ends with the
        weights of an uninterrupted one.

    Raises
    ------
    FrameTrainingError
        ``out_dir`` belongs to another run or its checkpoint is unreadable.
    ValueError
        No training or validation rolls.
    """
    if not len(train_rolls) or not len(valid_rolls):
        raise ValueError("train_frames needs training and validation rolls")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if deterministic:
        _tf.tensorflow().config.experimental.enable_op_determinism()
    record = _run_record(config, rolls_fingerprint(train_rolls), rolls_fingerprint(valid_rolls))
    state = _claim(out_dir, record)
    checkpoint = out_dir / CHECKPOINT_DIR
    if state is None:
        n_keys = np.asarray(train_rolls[0]).shape[1]
        model = build_frame_model(config, output_bias=key_log_odds(train_rolls, n_keys=n_keys), n_keys=n_keys)
        state = {"next_epoch": 0, "best": float("inf"), "best_epoch": -1, "wait": 0,
                 "learning_rate": config.learning_rate, "seconds": 0.0, "session": 0, "history": {}}
        _compile(model, config, state["learning_rate"])
    else:
        model = _load_checkpoint(checkpoint / _LAST_MODEL)
        state["session"] += 1
    previous, frames, mask = training_windows(train_rolls, config.window)
    history = {key: list(values) for key, values in state["history"].items()}
    stopped = _stop_reason(config, state)
    while stopped is None:
        epoch = state["next_epoch"]
        order = _seed_epoch(config.seed, epoch).permutation(len(frames))
        model.optimizer.learning_rate.assign(state["learning_rate"])
        started = time.perf_counter()
        fit = model.fit(_epoch_dataset(previous[order], frames[order], mask[order], config.batch_size),
                        epochs=1, shuffle=False, verbose=0)
        train_seconds = time.perf_counter() - started
        val_nll = evaluate_frames(model, valid_rolls, accuracy=False).nll
        state["seconds"] += train_seconds
        _record_epoch(history, epoch=epoch, session=state["session"], loss=float(fit.history["loss"][-1]),
                      val_nll=val_nll, learning_rate=state["learning_rate"], seconds=train_seconds)
        if val_nll < state["best"]:
            state.update(best=val_nll, best_epoch=epoch, wait=0)
            _save_keras_atomically(out_dir / BEST_WEIGHTS, model.save_weights)
        else:
            state["wait"] += 1
            if state["wait"] % config.lr_patience == 0:
                state["learning_rate"] *= config.lr_factor
        state["next_epoch"] = epoch + 1
        state["history"] = history
        _save_checkpoint(model, checkpoint, state)
        write_history(out_dir, history, standard_json=True)
        if verbose:
            print_fn(f"epoch {epoch + 1} · {train_seconds:.0f} s · loss {history['loss'][-1]:.4f} · "
                     f"val_nll {val_nll:.3f} · best {state['best']:.3f} (epoch {state['best_epoch'] + 1})")
        stopped = _stop_reason(config, state)
    model.load_weights(out_dir / BEST_WEIGHTS)
    return FrameTrainingResult(model=model, history=history, best_epoch=state["best_epoch"],
                               best_val_nll=state["best"], train_seconds=state["seconds"],
                               stopped_because=stopped, out_dir=out_dir)


def _epoch_dataset(previous: np.ndarray, frames: np.ndarray, mask: np.ndarray, batch_size: int):
    """One epoch's batches as a plain ``tf.data`` pipeline (Keras's own adapter for NumPy
    arrays adds a parallel map whose graph makes TensorFlow print a stray C++ line)."""
    tf = _tf.tensorflow()
    return tf.data.Dataset.from_tensor_slices(((previous, frames), frames, mask)).batch(batch_size)


def _stop_reason(config: FrameModelConfig, state: dict[str, Any]) -> str | None:
    if state["next_epoch"] == 0:
        return None
    if state["wait"] >= config.patience:
        return "patience"
    if state["next_epoch"] >= config.max_epochs:
        return "max_epochs"
    if config.max_minutes and state["seconds"] >= config.max_minutes * 60.0:
        return "max_minutes"
    return None


def _record_epoch(history: dict[str, list], **values: Any) -> None:
    for key, value in values.items():
        history.setdefault(key, []).append(value)


def _save_checkpoint(model, checkpoint: Path, state: dict[str, Any]) -> None:
    """The model with its optimizer state, then the state that points at it (both atomic)."""
    _save_keras_atomically(checkpoint / _LAST_MODEL, model.save)
    write_json(checkpoint / _STATE_FILE, state)


def _load_checkpoint(path: Path):
    """The checkpointed model with its optimizer state (compiled), after the config check that
    every musiclib ``.keras`` file passes before Keras reads it."""
    keras = _tf.keras()
    try:
        check_keras_archive(path)
        with quiet_keras_saving():
            return keras.saving.load_model(path, safe_mode=True, compile=True)
    except (UnsafeModelError, ValueError, OSError, KeyError) as problem:
        raise FrameTrainingError(
            f"the checkpoint {path} cannot be resumed ({problem}); delete {path.parent.parent} to start over"
        ) from None
