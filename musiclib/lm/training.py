"""Train and score token language models: windowed datasets, resumable training, NLL.

Data
    :func:`make_dataset` turns tunes (int arrays ``BOS ... EOS``) into a ``tf.data``
    pipeline of ``(inputs, targets)`` windows. Tunes of a split are concatenated (their
    own BOS/EOS tokens separate them) and cut into windows of ``sequence_length + 1``
    tokens; the shuffle order is a pure function of ``(seed, epoch)``, so a resumed run
    sees exactly the batches an uninterrupted run would have seen.
Training
    :func:`train` compiles with Adam (gradient clipping) and from-logits cross-entropy
    and runs ``model.fit`` with early stopping, best/last checkpoints, Keras's
    ``BackupAndRestore`` (a killed run continues from its last completed epoch and
    ends with the same weights as an uninterrupted one) and a per-epoch history with
    training throughput, rewritten atomically after every epoch.
Scoring
    :func:`evaluate_nll` gives nats per token over exactly the tokens the n-gram
    baselines of :mod:`musiclib.lm.ngram` are scored on.

Determinism: :func:`train` calls ``tf.config.experimental.enable_op_determinism()``
by default (``deterministic=True``). On CPU TensorFlow is then bit-reproducible
across processes for a given seed (tested: a killed and resumed run ends with the
weights of an uninterrupted one). With the default preset on a 2-core CPU it made no
measurable difference to training speed. The call is process-wide and cannot be
undone.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np

from musiclib import _tf
from musiclib._files import atomic_write, read_json, write_json
from musiclib._keras import (
    HISTORY_CSV,
    HISTORY_FILE,
    _save_keras_atomically,
    atomic_backup_and_restore,
    resume_point,
    write_history,
)
from musiclib.lm.architectures import architecture_of
from musiclib.lm.data import (
    _check_data_args,
    _default_stride,
    _window_pipeline,
    concatenate,
    window_starts,
    with_tune_starts,
)

__all__ = [
    "train",
    "evaluate_nll",
    "HISTORY_FILE",
    "HISTORY_CSV",
    "CHECKPOINT_DIR",
    "BACKUP_DIR",
]


CHECKPOINT_DIR = "checkpoints"
BACKUP_DIR = "backup"
TENSORBOARD_DIR = "tensorboard"
BEST_CHECKPOINT = "best.keras"
LAST_CHECKPOINT = "last.keras"
_BEST_WEIGHTS = "early_stopping_best.npz"
_RUN_FINGERPRINT = "run_fingerprint.json"
_SEED_STATE_SUFFIX = "seed_generator_state"
_MONITOR = "val_loss"
_EVAL_PAD_ID = 0  # PAD: fills short windows and ragged batches in evaluate_nll
_NOT_SCORED = -1  # target placeholder for padding positions in evaluate_nll
_EVAL_WIDTH_STEP = 64  # evaluate_nll pads batch widths to a multiple of this


def _make_callbacks(
    *,
    out_dir: Path,
    config: Any,
    prior: dict[str, list],
    steps_per_epoch: int,
    target_tokens_per_epoch: int,
    input_tokens_per_epoch: int,
    session: int,
    tensorboard: bool,
    extra: Sequence[Any],
) -> list:
    keras = _tf.keras()

    class ReseedDropout(keras.callbacks.Callback):
        """Set every dropout seed to a function of the epoch, so a resumed run draws the
        same masks as an uninterrupted one (seed states are not part of saved weights)."""

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            for variable in self.model.variables:
                if variable.path.endswith(_SEED_STATE_SUFFIX):
                    state = variable.numpy()
                    variable.assign(np.array([state[0], epoch * steps_per_epoch], dtype=state.dtype))

    class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
        """EarlyStopping whose wait/best state and best weights survive a resume."""

        def on_train_begin(self, logs: dict | None = None) -> None:
            super().on_train_begin(logs)
            self._set_monitor_op()
            for epoch, value in zip(prior.get("epoch", []), prior.get(self.monitor, [])):
                if value is None:
                    continue
                self.wait += 1
                if self._is_improvement(value, self.best):
                    self.best, self.best_epoch, self.wait = value, epoch, 0
            path = out_dir / BACKUP_DIR / _BEST_WEIGHTS
            if prior.get("epoch") and path.exists():
                with np.load(path, allow_pickle=False) as saved:
                    if int(saved["epoch"]) == self.best_epoch:
                        count = int(saved["count"])
                        self.best_weights = [saved[f"w{i}"] for i in range(count)]

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            super().on_epoch_end(epoch, logs)
            if self.best_epoch == epoch and self.best_weights is not None:
                arrays = {f"w{i}": w for i, w in enumerate(self.best_weights)}
                buffer = io.BytesIO()
                np.savez(buffer, epoch=np.int64(epoch), count=np.int64(len(self.best_weights)), **arrays)
                atomic_write(out_dir / BACKUP_DIR / _BEST_WEIGHTS, buffer.getvalue())

    class Checkpoints(keras.callbacks.Callback):
        """``checkpoints/last.keras`` every epoch, ``best.keras`` on a new best val_loss
        (the ModelCheckpoint pair, written atomically)."""

        def __init__(self, best: float) -> None:
            super().__init__()
            self.best = best

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            folder = out_dir / CHECKPOINT_DIR
            _save_keras_atomically(folder / LAST_CHECKPOINT, lambda p: self.model.save(p))
            current = (logs or {}).get(_MONITOR)
            if current is not None and current < self.best:
                self.best = float(current)
                _save_keras_atomically(folder / BEST_CHECKPOINT, lambda p: self.model.save(p))

    class Recorder(keras.callbacks.Callback):
        """Per-epoch logs plus throughput, rewritten atomically to history.json/.csv."""

        def __init__(self) -> None:
            super().__init__()
            self.columns: dict[str, list] = {key: list(values) for key, values in prior.items()}
            self._epoch_start = 0.0
            self._last_batch = 0.0

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self._epoch_start = self._last_batch = time.perf_counter()

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            self._last_batch = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            now = time.perf_counter()
            train_seconds = max(self._last_batch - self._epoch_start, np.finfo(float).tiny)
            row = {
                "epoch": epoch,
                "session": session,
                **{key: float(value) for key, value in (logs or {}).items()},
                "train_seconds": train_seconds,
                "epoch_seconds": now - self._epoch_start,
                "tokens_per_s": target_tokens_per_epoch / train_seconds,
                "input_tokens_per_s": input_tokens_per_epoch / train_seconds,
            }
            n_rows = len(self.columns.get("epoch", []))
            for key, value in row.items():
                self.columns.setdefault(key, [None] * n_rows).append(value)
            for values in self.columns.values():
                if len(values) < n_rows + 1:
                    values.append(None)
            write_history(out_dir, self.columns)

    prior_best = [v for v in prior.get(_MONITOR, []) if v is not None]
    callbacks = [
        ReseedDropout(),
        Recorder(),
        Checkpoints(best=min(prior_best) if prior_best else math.inf),
        ResumableEarlyStopping(
            monitor=_MONITOR, mode="min", patience=config.patience, restore_best_weights=True, verbose=0
        ),
    ]
    if tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(out_dir / TENSORBOARD_DIR)))
    callbacks.extend(extra)
    # Last, so everything above has recorded the epoch before it is marked complete.
    callbacks.append(atomic_backup_and_restore(out_dir / BACKUP_DIR))
    return callbacks


def _run_fingerprint(
    config: Any, train_stream: np.ndarray, valid_stream: np.ndarray, *starts: np.ndarray
) -> str:
    """What a backup may only be resumed with: the config (except epochs and patience,
    which may change on a resume) and the exact windows of both splits."""
    settings = {k: v for k, v in config.to_dict().items() if k not in ("epochs", "patience")}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode("utf-8"))
    for array in (train_stream, valid_stream, *starts):
        digest.update(np.ascontiguousarray(array).tobytes())
        digest.update(str(array.shape).encode("ascii"))
    return digest.hexdigest()


def train(
    model,
    config: Any,
    train_sequences: Sequence[Sequence[int] | np.ndarray],
    valid_sequences: Sequence[Sequence[int] | np.ndarray],
    *,
    out_dir: str | os.PathLike,
    tensorboard: bool = False,
    verbose: int = 1,
    train_stride: int | None = None,
    valid_stride: int | None = None,
    deterministic: bool = True,
    callbacks: Sequence[Any] = (),
    strategy: Any = None,
) -> dict[str, list]:
    """Train a :func:`~musiclib.lm.lstm.build_lstm` or :func:`~musiclib.lm.transformer.build_transformer`
    model; resumable after a kill.

    Parameters
    ----------
    model
        The Keras model (compiled here).
    config
        Its :class:`~musiclib.lm.lstm.LSTMConfig` or
        :class:`~musiclib.lm.transformer.TransformerConfig`: learning rate, clipnorm, batch size,
        epochs, patience, seed, window length and ``loss_on``.
    train_sequences, valid_sequences
        Tunes as int arrays ``BOS ... EOS``.
    out_dir
        Run folder. Receives ``history.json`` and ``history.csv`` (rewritten
        atomically after every epoch), ``checkpoints/best.keras`` and
        ``checkpoints/last.keras``, ``backup/`` while training (removed when training
        ends) and ``tensorboard/`` when asked.
    tensorboard
        Also log to TensorBoard (needs the ``tensorboard`` package).
    verbose
        Keras ``fit`` verbosity (0 silent, 1 progress bar, 2 one line per epoch).
    train_stride
        Window stride for training (default as in :func:`make_dataset`; for
        ``loss_on="last"`` a stride above 1 sub-samples the tutorial's windows).
    valid_stride
        Window stride for validation; default ``sequence_length`` for both set-ups
        (for ``"last"`` that scores one token per non-overlapping window).
    deterministic
        Enable TensorFlow op determinism (see the module notes). Needed for a resumed
        run to end with exactly the weights of an uninterrupted one.
    callbacks
        Extra Keras callbacks.
    strategy
        A ``tf.distribute`` strategy to train under: the default strategy or
        ``tf.distribute.MirroredStrategy`` (several GPUs of one host). Build the model
        inside ``with strategy.scope():``; it is compiled under that scope here and
        ``batch_size`` is the global batch. ``MultiWorkerMirroredStrategy`` is refused
        (Keras 3's ``fit`` fails under it, keras-team/keras#20585): use
        :func:`musiclib.lm.distributed.train_distributed`. With several replicas Keras
        clips each replica's gradient before summing them, so ``clipnorm`` acts
        differently from one device (``train_distributed`` clips after the sum).

    Returns
    -------
    dict
        The history as columns (``{"epoch": [...], "loss": [...], ...}``), the same
        as ``history.json``: Keras's logs (``loss``, ``accuracy``, ``val_loss``,
        ``val_accuracy``) plus ``session`` (0 for the first call, +1 per resume),
        ``train_seconds`` and ``epoch_seconds``, ``tokens_per_s`` (predicted target
        tokens per training second; the first epoch includes graph tracing) and
        ``input_tokens_per_s`` (tokens fed through the network per second; equal to
        ``tokens_per_s`` for ``loss_on="all"``). Epochs run before a resume are
        included. The model ends with the weights of the best validation epoch.

    Notes
    -----
    Resuming: when ``out_dir/backup/`` holds a backup from a killed run, training
    continues from the epoch after the last completed one, with the data order,
    dropout masks, optimizer state and early-stopping state that the uninterrupted
    run would have had. A backup is only resumed with the same config (``epochs`` and
    ``patience`` may change) and the same data; anything else is an error rather than
    a silent mix of two runs. Training that ended normally removes the backup, so
    calling ``train`` again starts over.

    ``keras.callbacks.CSVLogger`` is replaced by ``history.csv``, which is rewritten
    atomically each epoch and so never gains duplicate rows on a resume; Keras's
    ``ModelCheckpoint`` is replaced by an equivalent callback that writes atomically.
    """
    _check_train_arguments(model, config, strategy, tensorboard=tensorboard, strides=(train_stride, valid_stride))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _seed_everything(config.seed, deterministic=deterministic)
    plan = _plan_windows(config, train_sequences, valid_sequences, train_stride=train_stride,
                         valid_stride=valid_stride)
    start, prior, session = _claim_backup(out_dir, config, plan, verbose=verbose)
    train_data, valid_data = _pipelines(plan, config, start=start)
    _compile(model, config, strategy)
    callback_list = _make_callbacks(
        out_dir=out_dir,
        config=config,
        prior=prior,
        steps_per_epoch=plan.steps_per_epoch,
        target_tokens_per_epoch=plan.windows_per_epoch * plan.targets_per_window,
        input_tokens_per_epoch=plan.windows_per_epoch * config.sequence_length,
        session=session,
        tensorboard=tensorboard,
        extra=callbacks,
    )
    with warnings.catch_warnings():
        # The per-epoch pipeline has unknown cardinality; steps_per_epoch bounds it.
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        model.fit(
            train_data,
            epochs=config.epochs,
            steps_per_epoch=plan.steps_per_epoch,
            validation_data=valid_data,
            shuffle=False,  # the pipeline shuffles, by (seed, epoch)
            callbacks=callback_list,
            verbose=verbose,
        )
    history_path = out_dir / HISTORY_FILE
    return read_json(history_path) if history_path.exists() else dict(prior)


def _check_train_arguments(model, config: Any, strategy: Any, *, tensorboard: bool,
                           strides: tuple[int | None, int | None]) -> None:
    """Refuse a wrong config type, strategy, stride or a missing TensorBoard before any work."""
    architecture_of(config)  # TypeError for anything but an LSTMConfig or a TransformerConfig
    _check_strategy(model, strategy)
    for stride in strides:
        _check_data_args(config.sequence_length, config.batch_size, config.loss_on, stride)
    if tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise ImportError("tensorboard=True needs the 'tensorboard' package (pip install tensorboard)")


def _seed_everything(seed: int, *, deterministic: bool) -> None:
    """Seed Python, NumPy and the backend; optionally make TensorFlow's ops deterministic."""
    keras = _tf.keras()

    if deterministic:
        tf = _tf.tensorflow()

        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)


class _WindowPlan(NamedTuple):
    """Where the training and validation windows start, and what one epoch holds."""

    train_stream: np.ndarray
    valid_stream: np.ndarray
    train_starts: np.ndarray
    valid_starts: np.ndarray
    drop_remainder: bool
    steps_per_epoch: int
    windows_per_epoch: int
    targets_per_window: int


def _plan_windows(config: Any, train_sequences: Sequence, valid_sequences: Sequence, *,
                  train_stride: int | None, valid_stride: int | None) -> _WindowPlan:
    """Concatenate each split and choose its window starts (training windows also start
    at every tune's start when every next token is predicted)."""
    length = config.sequence_length
    train_stream = concatenate(train_sequences)
    valid_stream = concatenate(valid_sequences)
    train_starts = window_starts(
        len(train_stream),
        sequence_length=length,
        stride=_default_stride(config.loss_on, length) if train_stride is None else train_stride,
    )
    valid_starts = window_starts(len(valid_stream), sequence_length=length, stride=valid_stride or length)
    if config.loss_on == "all":
        train_sequences = [np.asarray(seq, dtype=np.int32).reshape(-1) for seq in train_sequences]
        train_starts = with_tune_starts(
            train_starts, train_sequences, n_tokens=len(train_stream), sequence_length=length
        )
    for name, starts, stream in (("train", train_starts, train_stream), ("valid", valid_starts, valid_stream)):
        if not len(starts):
            raise ValueError(
                f"{name}_sequences hold {len(stream)} tokens, too few for one window of "
                f"sequence_length + 1 = {length + 1}"
            )
    drop_remainder = len(train_starts) >= config.batch_size
    if drop_remainder:
        steps_per_epoch = len(train_starts) // config.batch_size
        windows_per_epoch = steps_per_epoch * config.batch_size
    else:
        steps_per_epoch, windows_per_epoch = 1, len(train_starts)
    targets_per_window = length if config.loss_on == "all" else 1
    return _WindowPlan(train_stream, valid_stream, train_starts, valid_starts, drop_remainder,
                       steps_per_epoch, windows_per_epoch, targets_per_window)


def _claim_backup(out_dir: Path, config: Any, plan: _WindowPlan, *, verbose: int) -> tuple[int, dict, int]:
    """(first epoch, prior history, session) of this run; a backup of another run is an error."""
    run_id = _run_fingerprint(config, plan.train_stream, plan.valid_stream, plan.train_starts, plan.valid_starts)
    start, prior, session = resume_point(out_dir, out_dir / BACKUP_DIR)
    fingerprint_path = out_dir / BACKUP_DIR / _RUN_FINGERPRINT
    if start > 0:
        recorded = read_json(fingerprint_path).get("run") if fingerprint_path.exists() else None
        if recorded != run_id:
            raise ValueError(
                f"{out_dir / BACKUP_DIR} holds the backup of a different run (the config, apart from "
                "epochs and patience, or the data changed); delete that folder to start over or use another out_dir"
            )
    write_json(fingerprint_path, {"run": run_id})
    if start > 0 and verbose:
        print(f"Resuming from the backup in {out_dir / BACKUP_DIR}: epoch {start + 1} of {config.epochs}")
    return start, prior, session


def _pipelines(plan: _WindowPlan, config: Any, *, start: int):
    """The training pipeline from epoch ``start`` (shuffled by seed and epoch) and the validation one."""
    common = dict(sequence_length=config.sequence_length, batch_size=config.batch_size, seed=config.seed,
                  loss_on=config.loss_on)
    train_data = _window_pipeline(
        plan.train_stream,
        plan.train_starts,
        shuffle=True,
        epochs=(start, max(start, config.epochs)),
        drop_remainder=plan.drop_remainder,
        **common,
    )
    valid_data = _window_pipeline(
        plan.valid_stream, plan.valid_starts, shuffle=False, epochs=(0, 1), drop_remainder=False, **common
    )
    return train_data, valid_data


def _compile(model, config: Any, strategy: Any) -> None:
    """Adam with gradient clipping and from-logits cross-entropy, under ``strategy``'s scope."""
    keras = _tf.keras()

    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=learning_rate(config), clipnorm=config.clipnorm),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )


def learning_rate(config: Any) -> Any:
    """Adam's learning rate for ``config``: a number, or a linear warm-up to it over
    ``config.warmup_steps`` batches (a built-in Keras schedule, constant afterwards)."""
    warmup = getattr(config, "warmup_steps", 0)
    if not warmup:
        return config.learning_rate
    keras = _tf.keras()

    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0, decay_steps=1, alpha=1.0, warmup_target=config.learning_rate,
        warmup_steps=warmup)


def _check_strategy(model, strategy: Any) -> None:
    """Refuse strategies ``model.fit`` cannot train under, and models built outside the scope."""
    if strategy is None:
        return
    tf = _tf.tensorflow()

    if not isinstance(strategy, tf.distribute.Strategy):
        raise TypeError(f"strategy must be a tf.distribute.Strategy or None, got {type(strategy).__name__}")
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        raise ValueError(
            "train() runs Keras's model.fit, which fails under MultiWorkerMirroredStrategy in Keras 3 "
            "(keras-team/keras#20585); train with musiclib.lm.distributed.train_distributed instead"
        )
    if getattr(model, "distribute_strategy", None) is not strategy:
        raise ValueError(
            "the model was not built under this strategy: build it inside `with strategy.scope():` "
            "and pass the same strategy"
        )


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    """Log-probabilities in float32 (the model's precision); callers sum them in float64."""
    logits = np.asarray(logits, dtype=np.float32)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _scoring_windows(tune: np.ndarray, context: int | None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(inputs, targets) pieces that score every token of ``tune`` after its BOS exactly once;
    unscored targets (context already scored by an earlier window) are ``_NOT_SCORED``."""
    inputs, targets = tune[:-1], tune[1:].astype(np.int64)
    if context is None or len(inputs) <= context:
        return [(inputs, targets)]
    stride = context // 2
    pieces, scored_until = [], 0
    for end in [*range(context, len(inputs), stride), len(inputs)]:
        start = end - context
        piece_targets = targets[start:end].copy()
        piece_targets[: scored_until - start] = _NOT_SCORED
        pieces.append((inputs[start:end], piece_targets))
        scored_until = end
    return pieces


def evaluate_nll(
    model,
    sequences: Sequence[Sequence[int] | np.ndarray],
    *,
    sequence_length: int | None = None,
    batch_size: int = 64,
    context: int | None = None,
) -> dict[str, float | int]:
    """Negative log-likelihood, in nats per token, of tunes under a language model.

    Scored tokens: every token after the BOS of each tune (``tune[1:]``, EOS included),
    each predicted from its own tune's earlier tokens. These are exactly the tokens
    :meth:`musiclib.lm.ngram.NGramModel.nll` scores, so the numbers compare directly.

    Parameters
    ----------
    model
        A :func:`~musiclib.lm.lstm.build_lstm` model (or a loaded one).
    sequences
        Tunes as int arrays ``BOS ... EOS`` (at least two tokens each to score any).
    sequence_length
        Only for models that predict one token per window (``loss_on="last"``):
        each token is predicted from the window of the ``sequence_length`` tokens
        before it, left-padded with PAD (id 0) near the start of a tune. Models that
        predict every step ignore it: each tune is run whole from its BOS, carrying
        the recurrent state exactly as generation does.
    batch_size
        Tunes (or windows) per forward pass.
    context
        For models that predict every step but see a bounded window (the Transformer:
        its ``sequence_length``): a tune longer than ``context`` tokens is scored in
        windows of ``context`` tokens that overlap by half, each token scored once, in
        the first window that holds it with at least ``context // 2`` tokens before it
        (or from the tune's start). None runs every tune whole (the LSTM).

    Notes
    -----
    A one-prediction-per-window model needs one forward pass of ``sequence_length``
    steps per scored token, so scoring it is about ``sequence_length`` times slower
    than scoring a per-step model; score a subset of tunes if that is too slow.

    Returns
    -------
    dict
        ``nll`` (mean nats per scored token), ``accuracy`` (share of tokens where the
        most probable token is the right one) and ``tokens`` (how many were scored).
    """
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    tunes = [np.asarray(seq, dtype=np.int32).reshape(-1) for seq in sequences]
    tunes = [tune for tune in tunes if len(tune) >= 2]
    total_nll, correct, count = 0.0, 0, 0
    every_step = len(model.outputs[0].shape) == 3
    if every_step:
        if context is not None and (not isinstance(context, int) or isinstance(context, bool) or context < 2):
            raise ValueError(f"context must be an integer of at least 2 or None, got {context!r}")
        pieces = [piece for tune in tunes for piece in _scoring_windows(tune, context)]
        order = np.argsort([len(inputs) for inputs, _ in pieces], kind="stable")
        for first in range(0, len(order), batch_size):
            batch = [pieces[i] for i in order[first : first + batch_size]]
            longest = max(len(inputs) for inputs, _ in batch)
            width = -(-longest // _EVAL_WIDTH_STEP) * _EVAL_WIDTH_STEP  # few distinct shapes to trace
            inputs = np.full((len(batch), width), _EVAL_PAD_ID, dtype=np.int32)
            targets = np.full((len(batch), width), _NOT_SCORED, dtype=np.int64)
            for row, (piece_inputs, piece_targets) in enumerate(batch):
                inputs[row, : len(piece_inputs)] = piece_inputs
                targets[row, : len(piece_targets)] = piece_targets
            log_probs = _log_softmax(np.asarray(model.predict_on_batch(inputs)))
            scored = targets != _NOT_SCORED
            picked = np.take_along_axis(log_probs, np.maximum(targets, 0)[..., None], axis=-1)[..., 0]
            total_nll -= float(picked[scored].sum(dtype=np.float64))
            correct += int((log_probs.argmax(axis=-1) == targets)[scored].sum())
            count += int(scored.sum())
    else:
        if not isinstance(sequence_length, int) or isinstance(sequence_length, bool) or sequence_length < 1:
            raise ValueError(
                "sequence_length must be a positive integer for a model that predicts one token "
                f"per window (loss_on='last'), got {sequence_length!r}"
            )
        windows, targets = [], []
        for tune in tunes:
            padded = np.concatenate([np.full(sequence_length, _EVAL_PAD_ID, np.int32), tune])
            view = np.lib.stride_tricks.sliding_window_view(padded, sequence_length)
            windows.append(view[1 : len(tune)])  # window ending just before tune[t], t >= 1
            targets.append(tune[1:])
        all_windows = np.concatenate(windows) if windows else np.zeros((0, sequence_length), np.int32)
        all_targets = np.concatenate(targets) if targets else np.zeros(0, np.int32)
        for first in range(0, len(all_targets), batch_size):
            batch = np.ascontiguousarray(all_windows[first : first + batch_size])
            target = all_targets[first : first + batch_size]
            log_probs = _log_softmax(np.asarray(model.predict_on_batch(batch)))
            total_nll -= float(log_probs[np.arange(len(target)), target].sum(dtype=np.float64))
            correct += int((log_probs.argmax(axis=-1) == target).sum())
            count += len(target)
    if count == 0:
        raise ValueError("no tokens to score: give tunes of at least two tokens (BOS and one more)")
    return {"nll": total_nll / count, "accuracy": correct / count, "tokens": count}
