"""Data-parallel training of the LSTM language model with ``tf.distribute``.

Why a second training loop
    :func:`musiclib.lm.training.train` runs Keras's ``model.fit``. That works under the
    default strategy and under ``tf.distribute.MirroredStrategy`` (several GPUs of one
    host: pass ``strategy=`` to it), but Keras 3's ``fit`` fails under
    ``tf.distribute.MultiWorkerMirroredStrategy`` (keras-team/keras#20585, TF 2.21 +
    Keras 3.15). :func:`train_distributed` is the path for several hosts: a custom
    training step under ``strategy.run`` over the same Keras model. It runs unchanged
    under the default strategy (one device), ``MirroredStrategy`` (several GPUs of one
    host) and ``MultiWorkerMirroredStrategy`` (several hosts, configured by
    ``TF_CONFIG``).

What it computes
    Exactly the optimisation of :func:`musiclib.lm.training.train`, split over replicas:
    the same windows (``sequence_length + 1`` tokens, the same stride and tune-start
    windows), the same global batches in the same order (the shuffle is a function of
    ``(seed, epoch)``), the same loss (mean from-logits cross-entropy over every target
    token of the global batch; for ``loss_on="last"`` over the one target per window),
    Adam with the same learning rate and ``clipnorm``. Every replica builds the global
    batch and keeps its own contiguous slice of rows, so the union of the replicas'
    batches is the single-device batch. Gradients are summed over replicas *before*
    clipping, so ``clipnorm`` clips the gradient of the global batch as on one device
    (Keras's own optimizer clips each replica's partial gradient before its all-reduce,
    which changes the result whenever clipping is active).

    The result matches single-device training up to float rounding: the loss and
    gradient sums are taken in a different order (per replica, then all-reduced).
    With dropout the masks differ from a single-device run's (each replica draws its
    own masks, from the same seed state), so only ``dropout=0`` runs match closely.

Early stopping and resume
    With ``valid_sequences`` it stops early on ``val_loss`` exactly as
    :func:`musiclib.lm.training.train` does (Keras's ``EarlyStopping`` with
    ``patience=config.patience`` and ``restore_best_weights=True``): the model ends with
    the weights of the best epoch. After every completed epoch the chief writes a
    checkpoint, ``out_dir/backup/epoch-NNNNN/`` (``model.npz``: every model variable,
    seed states included; ``optimizer.npz``: Adam's iteration count and moments;
    ``best_weights.npz``; ``state.json``: the epoch, the early-stopping state, the history
    and the run's fingerprint), built in a temporary folder and renamed into place, so a
    kill leaves the previous checkpoint or the new one, never half of one. Started again
    with the same command and ``out_dir``, the workers continue from the last completed
    epoch: the variables are restored and the data pipeline starts at that epoch (its
    shuffle is a function of ``(seed, epoch)``), so a resumed run ends with exactly the
    weights of an uninterrupted one (with ``deterministic=True``, the default; tested with
    two workers killed by SIGKILL). A backup of another run (the config apart from
    ``epochs`` and ``patience``, or the data) is refused. A run that completes removes
    ``backup/``, so the next call starts over.

    Assumption: every worker reads the *chief's* backup in ``out_dir``, so ``out_dir``
    must be on a filesystem all workers see (one host, or a shared filesystem). The
    workers compare the resume epoch and run fingerprint they read (an all-reduce) and
    refuse to train when they differ.

What it leaves out
    No best/last ``.keras`` checkpoints beside the final model and no TensorBoard.
    Score the model with :func:`musiclib.lm.training.evaluate_nll` as usual.

Running several workers
    Every worker runs the same program with its own ``TF_CONFIG``, for example::

        TF_CONFIG='{"cluster": {"worker": ["host0:12345", "host1:12345"]},
                    "task": {"type": "worker", "index": 0}}' \\
            python -m musiclib.lm.distributed --config config.json --tokens tokens.npz --out-dir runs/dist

    (``index`` 1 on the second host). Worker 0 is the chief: it writes
    ``history.json``/``history.csv``, ``config.json`` and ``model.keras`` to
    ``--out-dir``; the other workers write theirs to a temporary folder that is then
    deleted, as TensorFlow's multi-worker guide recommends. :func:`save_tokens`
    writes the ``--tokens`` file.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from musiclib import _tf
from musiclib._files import atomic_write, read_json, write_json
from musiclib._keras import HISTORY_CSV, HISTORY_FILE, _save_keras_atomically, write_history
from musiclib.lm.data import (
    _check_data_args,
    _default_stride,
    _window_pipeline,
    concatenate,
    window_starts,
    with_tune_starts,
)
from musiclib.lm.architectures import ARCHITECTURES, architecture_of, build_model, config_from_dict
from musiclib.lm.training import BACKUP_DIR, _run_fingerprint, learning_rate

__all__ = [
    "strategy_from_environment",
    "worker_role",
    "train_distributed",
    "DistributedResult",
    "save_tokens",
    "load_tokens",
    "MODEL_FILE",
    "CONFIG_FILE",
    "BACKUP_DIR",
    "main",
]

MODEL_FILE = "model.keras"
CONFIG_FILE = "config.json"
_CHECKPOINT_PREFIX = "epoch-"  # backup/epoch-00003/: the state after 3 completed epochs
_STATE_FILE = "state.json"
_MODEL_STATE = "model.npz"
_OPTIMIZER_STATE = "optimizer.npz"
_BEST_WEIGHTS = "best_weights.npz"
_MONITOR = "val_loss"


# ----------------------------------------------------------------------------- strategies


def _tf_config() -> dict[str, Any] | None:
    text = os.environ.get("TF_CONFIG", "").strip()
    if not text:
        return None
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}): {text[:200]!r}") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("cluster"), dict):
        raise ValueError(f'TF_CONFIG must be a JSON object with a "cluster" object, got {text[:200]!r}')
    return parsed


def strategy_from_environment():
    """The ``tf.distribute`` strategy this process should train under.

    - ``TF_CONFIG`` set (a cluster of ``worker``/``chief`` tasks):
      ``MultiWorkerMirroredStrategy`` (train with :func:`train_distributed`).
    - Otherwise, more than one visible GPU: ``MirroredStrategy`` over all of them.
    - Otherwise: the default strategy (one device: the GPU if TensorFlow sees one,
      else the CPU).

    Returns
    -------
    tf.distribute.Strategy

    Raises
    ------
    ValueError
        When ``TF_CONFIG`` is not valid JSON or has no ``cluster``.

    Notes
    -----
    Call it at the start of the program: ``MultiWorkerMirroredStrategy`` must be
    created before TensorFlow runs any op, and its constructor waits until every
    worker of the cluster has started.
    """
    tf = _tf.tensorflow()

    config = _tf_config()
    if config is not None:
        return tf.distribute.MultiWorkerMirroredStrategy()
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def worker_role(strategy) -> tuple[str, int, bool]:
    """``(task_type, task_id, is_chief)`` of this process under ``strategy``.

    Without a cluster (default or ``MirroredStrategy``) the process is
    ``("worker", 0, True)``. In a cluster the chief is the ``chief`` task if there is
    one, else worker 0 (TensorFlow's convention).
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None) if resolver is not None else None
    if not task_type:
        return "worker", 0, True
    task_id = int(resolver.task_id or 0)
    cluster = resolver.cluster_spec().as_dict()
    is_chief = task_type == "chief" or (task_type == "worker" and task_id == 0 and "chief" not in cluster)
    return task_type, task_id, is_chief


# ----------------------------------------------------------------------------- token files


def save_tokens(
    path: str | os.PathLike,
    *,
    train: Sequence[Sequence[int] | np.ndarray],
    valid: Sequence[Sequence[int] | np.ndarray] | None = None,
) -> Path:
    """Write the tunes of a training (and validation) split to one ``.npz``, atomically.

    The file holds ``train`` (all tunes concatenated, int32) and ``train_lengths``
    (tokens per tune), and the same for ``valid`` when given; :func:`load_tokens`
    reads it back. It is what ``python -m musiclib.lm.distributed --tokens`` reads.
    """
    arrays: dict[str, np.ndarray] = {}
    for name, tunes in (("train", train), ("valid", valid)):
        if tunes is None:
            continue
        tunes = [np.asarray(t, dtype=np.int32).reshape(-1) for t in tunes]
        arrays[name] = concatenate(tunes)
        arrays[f"{name}_lengths"] = np.array([len(t) for t in tunes], dtype=np.int64)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return atomic_write(path, buffer.getvalue())


def load_tokens(path: str | os.PathLike) -> dict[str, list[np.ndarray]]:
    """Read a :func:`save_tokens` file: ``{"train": [tune, ...], "valid": [...]}``."""
    out: dict[str, list[np.ndarray]] = {}
    with np.load(path, allow_pickle=False) as data:
        for name in ("train", "valid"):
            if name in data:
                bounds = np.cumsum(data[f"{name}_lengths"])[:-1]
                out[name] = np.split(data[name].astype(np.int32), bounds)
    if "train" not in out:
        raise ValueError(f"{path} holds no 'train' tokens (write it with musiclib.lm.distributed.save_tokens)")
    return out


# ----------------------------------------------------------------------------- training


class DistributedResult(NamedTuple):
    """What :func:`train_distributed` returns."""

    model: Any
    """The trained Keras model (its variables live under the strategy)."""
    history: dict[str, list]
    """Per-epoch columns, as written to ``history.json``."""
    is_chief: bool
    """Whether this process wrote to ``out_dir`` (others wrote to a temporary folder)."""
    config: Any
    """The config trained (with the ``epochs``/``batch_size``/``seed`` overrides)."""


def _pre_reduced_adam(config: Any):
    """Adam (as :func:`musiclib.lm.training.train` sets it up) that takes gradients the
    caller has already summed over replicas.

    Keras's TensorFlow optimizer clips the gradients it is given and then sums them
    over replicas itself; the training step here sums them first so that ``clipnorm``
    sees the global batch's gradient, and this subclass skips the second sum.
    """
    keras = _tf.keras()

    class PreReducedAdam(keras.optimizers.Adam):
        def _all_reduce_sum_gradients(self, grads_and_vars):
            return list(grads_and_vars)

    if not hasattr(keras.optimizers.Adam, "_all_reduce_sum_gradients"):
        raise RuntimeError(
            "this Keras version's optimizer has no _all_reduce_sum_gradients; "
            "musiclib.lm.distributed needs the TensorFlow backend of Keras 3"
        )
    return PreReducedAdam(learning_rate=learning_rate(config), clipnorm=config.clipnorm)


def _positive_int(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def train_distributed(
    config: Any,
    train_sequences: Sequence[Sequence[int] | np.ndarray],
    *,
    out_dir: str | os.PathLike,
    strategy=None,
    valid_sequences: Sequence[Sequence[int] | np.ndarray] | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    seed: int | None = None,
    train_stride: int | None = None,
    valid_stride: int | None = None,
    deterministic: bool = True,
    verbose: int = 1,
) -> DistributedResult:
    """Train a :func:`~musiclib.lm.lstm.build_lstm` or :func:`~musiclib.lm.transformer.build_transformer`
    model (chosen by the type of ``config``) with a custom data-parallel loop.

    Parameters
    ----------
    config
        The model and training settings (learning rate, ``clipnorm``, window length,
        ``loss_on``; ``epochs``, ``batch_size`` and ``seed`` unless given below).
    train_sequences
        Training tunes as int arrays ``BOS ... EOS``; every worker passes the same ones.
    out_dir
        Run folder of the chief: ``history.json``/``history.csv`` (rewritten
        atomically after every epoch), ``config.json``, ``backup/`` (a checkpoint per
        completed epoch, removed when the run completes) and ``model.keras`` (the final
        model, written atomically). Other workers write their history and model to a
        temporary folder that is deleted at the end, and read the chief's ``backup/``
        to resume (so ``out_dir`` must be visible to every worker).
    strategy
        A ``tf.distribute`` strategy (default: the current one, see
        :func:`strategy_from_environment`). The model and optimizer are built under
        its scope here.
    valid_sequences
        Validation tunes: ``val_loss`` (mean cross-entropy per target token, as
        :func:`musiclib.lm.training.train` reports it) is computed after every epoch, by
        every worker from its own (identical) copy of the weights, and drives early
        stopping with ``config.patience``. Without them every epoch runs.
    epochs
        Epochs to run at most (default ``config.epochs``); may differ on a resume.
    batch_size
        *Global* batch size, split evenly over ``strategy.num_replicas_in_sync``
        replicas (default ``config.batch_size``).
    seed
        Seed of the weight initialisation and the shuffle (default ``config.seed``).
    train_stride, valid_stride
        Window strides, as in :func:`musiclib.lm.training.train`.
    deterministic
        Enable TensorFlow op determinism, as :func:`musiclib.lm.training.train` does.
    verbose
        1: one line per epoch from the chief; 0: silent.

    Returns
    -------
    DistributedResult
        ``(model, history, is_chief, config)``; the model holds the best epoch's
        weights when ``valid_sequences`` were given, else the last epoch's. ``history``
        has one row per epoch, those before a resume included, with columns ``epoch``,
        ``session`` (0, then +1 per resume), ``loss``, ``val_loss`` (with
        ``valid_sequences``), ``train_seconds``,
        ``tokens_per_s`` (target tokens of the global batch per second, all workers
        together; the first epoch includes graph tracing), ``input_tokens_per_s``,
        ``replicas`` and ``workers``.

    Raises
    ------
    ValueError
        When the global batch does not split evenly over the replicas, the training
        tunes hold fewer windows than one global batch, or ``out_dir/backup/`` holds the
        backup of a different run.
    RuntimeError
        When the workers read different resume states (``out_dir`` not shared).
    """
    keras = _tf.keras()
    tf = _tf.tensorflow()

    config = _run_config(config, epochs=epochs, batch_size=batch_size, seed=seed,
                         strides=(train_stride, valid_stride))
    strategy = strategy if strategy is not None else tf.distribute.get_strategy()
    cluster = _cluster(strategy, config.batch_size)
    windows = _training_windows(config, train_sequences, train_stride=train_stride)
    valid = None
    if valid_sequences is not None:
        valid = _validation_windows(config, valid_sequences, stride=valid_stride or config.sequence_length)
    run_id = _fingerprint(config, windows, valid)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(config.seed)

    with strategy.scope():
        model = build_model(config)
        optimizer = _pre_reduced_adam(config)
        optimizer.build(model.trainable_variables)
    # Every worker reads the chief's backup in out_dir (one host or a shared filesystem).
    backup_dir = Path(out_dir) / BACKUP_DIR
    resume = _read_backup(backup_dir, run_id, patience=config.patience)
    _check_agreement(strategy, cluster, resume.start, run_id)
    _restore_state(model, optimizer, resume)
    if resume.start and verbose and cluster.is_chief:
        print(f"Resuming from the backup in {backup_dir}: epoch {resume.start + 1} of {config.epochs}", flush=True)
    distributed = strategy.distribute_datasets_from_function(
        _sharded_dataset_fn(config, windows, cluster, start=resume.start))
    iterator = iter(distributed)
    train_step = _train_step(model, optimizer, strategy, config)
    validate = None if valid is None else _validation(model, config, valid)

    write_dir = Path(out_dir) if cluster.is_chief else Path(
        tempfile.mkdtemp(prefix=f"musiclib-{cluster.task_type}-{cluster.task_id}-"))
    write_dir.mkdir(parents=True, exist_ok=True)
    if cluster.is_chief:
        _remove_stale_temporaries(write_dir)
    try:
        write_json(write_dir / CONFIG_FILE, config.to_dict())
        checkpoint = _checkpointer(model, optimizer, backup_dir if cluster.is_chief else None, run_id)
        history = _run_epochs(train_step, iterator, validate, config=config, windows=windows,
                              cluster=cluster, write_dir=write_dir, verbose=verbose, resume=resume,
                              checkpoint=checkpoint)
        if resume.stopping.best_weights is not None:
            model.set_weights(resume.stopping.best_weights)  # restore_best_weights, as train() does
        # Every worker saves (chief to out_dir, the others to their temporary folder).
        _save_keras_atomically(write_dir / MODEL_FILE, lambda p: model.save(p))
        if cluster.is_chief:
            _remove_backup(backup_dir)  # the run is complete: a new call starts over
    finally:
        if not cluster.is_chief:
            shutil.rmtree(write_dir, ignore_errors=True)
    return DistributedResult(model=model, history=history, is_chief=cluster.is_chief, config=config)


def _run_config(config: Any, *, epochs: int | None, batch_size: int | None, seed: int | None,
                strides: tuple[int | None, int | None]) -> Any:
    """``config`` with the overrides applied and checked, and the strides checked against it."""
    architecture_of(config)  # TypeError for anything but an LSTMConfig or a TransformerConfig
    changes = {
        name: _positive_int(name, value) if name != "seed" else value
        for name, value in (("epochs", epochs), ("batch_size", batch_size), ("seed", seed))
        if value is not None
    }
    config = config.replace(**changes)  # validates seed too
    for stride in strides:
        _check_data_args(config.sequence_length, config.batch_size, config.loss_on, stride)
    return config


class _Cluster(NamedTuple):
    """This process's place in the strategy: replicas, per-replica batch, role, worker count."""

    replicas: int
    per_replica: int
    task_type: str
    task_id: int
    is_chief: bool
    workers: int


def _cluster(strategy, global_batch: int) -> _Cluster:
    replicas = int(strategy.num_replicas_in_sync)
    if global_batch % replicas:
        raise ValueError(
            f"the global batch_size {global_batch} must be a multiple of the {replicas} replicas in sync"
        )
    task_type, task_id, is_chief = worker_role(strategy)
    resolver = getattr(strategy, "cluster_resolver", None)
    workers = 1
    if resolver is not None and task_type:
        spec = resolver.cluster_spec().as_dict()
        workers = sum(len(spec.get(kind, [])) for kind in ("chief", "worker")) or 1
    return _Cluster(replicas, global_batch // replicas, task_type, task_id, is_chief, workers)


class _Windows(NamedTuple):
    """The training stream, its window starts, and the steps and tokens of one epoch."""

    stream: np.ndarray
    starts: np.ndarray
    steps_per_epoch: int
    target_tokens: int
    input_tokens: int


def _training_windows(config: Any, train_sequences: Sequence, *, train_stride: int | None) -> _Windows:
    length, global_batch = config.sequence_length, config.batch_size
    train_sequences = [np.asarray(seq, dtype=np.int32).reshape(-1) for seq in train_sequences]
    stream = concatenate(train_sequences)
    stride = _default_stride(config.loss_on, length) if train_stride is None else train_stride
    starts = window_starts(len(stream), sequence_length=length, stride=stride)
    if config.loss_on == "all":
        starts = with_tune_starts(starts, train_sequences, n_tokens=len(stream), sequence_length=length)
    if len(starts) < global_batch:
        raise ValueError(
            f"train_sequences give {len(starts)} windows, fewer than one global batch of {global_batch}; "
            "use a smaller batch_size or more tunes"
        )
    steps_per_epoch = len(starts) // global_batch
    targets_per_window = length if config.loss_on == "all" else 1
    return _Windows(stream, starts, steps_per_epoch, steps_per_epoch * global_batch * targets_per_window,
                    steps_per_epoch * global_batch * length)


def _sharded_dataset_fn(config: Any, windows: _Windows, cluster: _Cluster, *, start: int = 0):
    """The ``dataset_fn`` of ``distribute_datasets_from_function``: every input pipeline (one
    per worker) cuts the same global batches and keeps the rows of its local replicas, one
    per-replica batch after another (the order in which the strategy hands them to the
    local replicas). Its epochs run from ``start`` (a resumed run), each shuffled as a
    function of ``(seed, epoch)``, so a resumed run sees the batches of an uninterrupted one."""
    tf = _tf.tensorflow()

    length, replicas, per_replica = config.sequence_length, cluster.replicas, cluster.per_replica

    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        local = replicas // context.num_input_pipelines
        first = context.input_pipeline_id * local
        data = _window_pipeline(
            windows.stream,
            windows.starts,
            sequence_length=length,
            batch_size=config.batch_size,
            shuffle=True,
            seed=config.seed,
            loss_on=config.loss_on,
            epochs=(start, max(start, config.epochs)),
            drop_remainder=True,
        )

        def shard(inputs, targets):
            inputs = tf.reshape(inputs, [replicas, per_replica, length])[first : first + local]
            target_shape = [replicas, per_replica] + ([length] if config.loss_on == "all" else [])
            targets = tf.reshape(targets, target_shape)[first : first + local]
            return inputs, targets

        return data.map(shard).unbatch()

    return dataset_fn


def _train_step(model, optimizer, strategy, config: Any):
    """One compiled global step: per-replica losses and gradients, summed across replicas."""
    keras = _tf.keras()
    tf = _tf.tensorflow()

    global_batch = config.batch_size

    def replica_step(inputs, targets):
        with tf.GradientTape() as tape:
            logits = model(inputs, training=True)
            per_target = keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)
            per_window = tf.reduce_mean(per_target, axis=-1) if config.loss_on == "all" else per_target
            loss = tf.nn.compute_average_loss(per_window, global_batch_size=global_batch)
        variables = model.trainable_variables
        grads = tape.gradient(loss, variables)
        # The embedding's gradient stays tf.IndexedSlices (one row per input token):
        # the all-reduce concatenates the replicas' rows, which gives exactly the rows
        # of the global batch, so Keras's clipnorm and Adam (which update the rows of
        # an IndexedSlices gradient sparsely) see what they see on one device.
        # Densifying it here would change Adam's update of the embedding.
        grads = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, grads)
        optimizer.apply_gradients(zip(grads, variables))
        return loss

    @tf.function
    def train_step(iterator):
        inputs, targets = next(iterator)
        losses = strategy.run(replica_step, args=(inputs, targets))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, losses, axis=None)

    return train_step


def _run_epochs(train_step, iterator, validate, *, config: Any, windows: _Windows, cluster: _Cluster,
                write_dir: Path, verbose: int, resume: "_Resume", checkpoint) -> dict[str, list]:
    """Every epoch from ``resume.start``: the steps, the validation loss and early stopping,
    throughput; then the checkpoint and the history, both rewritten atomically."""
    history = {key: list(values) for key, values in resume.history.items()}
    stopping = resume.stopping
    for epoch in range(resume.start, config.epochs):
        if stopping.stopped:
            break
        row = _train_epoch(train_step, iterator, validate, epoch=epoch, windows=windows, cluster=cluster,
                           session=resume.session)
        _append_row(history, row)
        if validate is not None:
            stopping.update(epoch, row[_MONITOR], checkpoint.weights)
        checkpoint.save(epoch + 1, history, stopping)  # first: history.json never runs ahead of it
        write_history(write_dir, history)
        if verbose and cluster.is_chief:
            shown = ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k not in ("epoch", "session"))
            print(f"epoch {epoch + 1}/{config.epochs}: {shown}", flush=True)
            if stopping.stopped:
                print(f"early stopping after epoch {epoch + 1}: best {_MONITOR} {stopping.best:.4g} "
                      f"at epoch {stopping.best_epoch + 1} (weights restored)", flush=True)
    return history


def _train_epoch(train_step, iterator, validate, *, epoch: int, windows: _Windows, cluster: _Cluster,
                 session: int) -> dict[str, Any]:
    """One epoch's steps and validation: its history row."""
    begin = time.perf_counter()
    total = 0.0
    for _ in range(windows.steps_per_epoch):
        total += float(train_step(iterator))
    seconds = max(time.perf_counter() - begin, np.finfo(float).tiny)
    row: dict[str, Any] = {"epoch": epoch, "session": session, "loss": total / windows.steps_per_epoch}
    if validate is not None:
        row[_MONITOR] = validate()
    row.update(
        train_seconds=seconds,
        tokens_per_s=windows.target_tokens / seconds,
        input_tokens_per_s=windows.input_tokens / seconds,
        replicas=cluster.replicas,
        workers=cluster.workers,
    )
    return row


def _append_row(history: dict[str, list], row: dict[str, Any]) -> None:
    """Add one row to the history columns (a column missing from earlier rows gets ``None``)."""
    n_rows = len(history.get("epoch", []))
    for key, value in row.items():
        history.setdefault(key, [None] * n_rows).append(value)
    for values in history.values():
        if len(values) < n_rows + 1:
            values.append(None)


class _ValidWindows(NamedTuple):
    """The validation stream and its window starts."""

    stream: np.ndarray
    starts: np.ndarray


def _validation_windows(config: Any, valid_sequences: Sequence, *, stride: int) -> _ValidWindows:
    valid_sequences = [np.asarray(seq, dtype=np.int32).reshape(-1) for seq in valid_sequences]
    stream = concatenate(valid_sequences)
    starts = window_starts(len(stream), sequence_length=config.sequence_length, stride=stride)
    if not len(starts):
        raise ValueError(
            f"valid_sequences hold {len(stream)} tokens, too few for one window of "
            f"sequence_length + 1 = {config.sequence_length + 1}"
        )
    return _ValidWindows(stream, starts)


def _fingerprint(config: Any, windows: _Windows, valid: _ValidWindows | None) -> str:
    """What a backup may only be resumed with (as :func:`musiclib.lm.training.train`): the
    config apart from ``epochs`` and ``patience``, and the exact windows of both splits."""
    empty = np.zeros(0, dtype=np.int32)
    valid_stream, valid_starts = valid if valid is not None else (empty, empty.astype(np.int64))
    return _run_fingerprint(config, windows.stream, valid_stream, windows.starts, valid_starts)


def _validation(model, config: Any, valid: _ValidWindows):
    """A function that returns the mean cross-entropy per target token over the
    validation windows, from this process's copy of the weights."""
    keras = _tf.keras()
    tf = _tf.tensorflow()

    data = _window_pipeline(
        valid.stream,
        valid.starts,
        sequence_length=config.sequence_length,
        batch_size=config.batch_size,
        shuffle=False,
        seed=config.seed,
        loss_on=config.loss_on,
        epochs=(0, 1),
        drop_remainder=False,
    )
    batches = [(x, y) for x, y in data]  # small; kept as constants

    @tf.function
    def summed(inputs, targets):
        logits = model(inputs, training=False)
        per_target = keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)
        return tf.reduce_sum(tf.cast(per_target, tf.float64)), tf.size(per_target)

    def validate() -> float:
        total, count = 0.0, 0
        for inputs, targets in batches:
            value, size = summed(inputs, targets)
            total += float(value)
            count += int(size)
        return total / count

    return validate


# ----------------------------------------------------------------------------- early stopping and resume


class _EarlyStopping:
    """Keras's ``EarlyStopping(monitor="val_loss", mode="min", patience=...,
    restore_best_weights=True)``, with a state that a checkpoint stores and restores.

    An epoch improves when its ``val_loss`` is below the best so far (``min_delta`` 0);
    training stops once ``patience`` epochs in a row after the first have not improved.
    """

    def __init__(self, patience: int, *, best: float = math.inf, best_epoch: int = -1, wait: int = 0,
                 stopped: bool = False, best_weights: list[np.ndarray] | None = None) -> None:
        self.patience = patience
        self.best = best
        self.best_epoch = best_epoch
        self.wait = wait
        self.stopped = stopped
        self.best_weights = best_weights

    def update(self, epoch: int, value: float, weights) -> None:
        """Account for ``epoch``'s ``value``; ``weights()`` gives the model's weights now."""
        self.wait += 1
        if value < self.best:  # NaN never improves
            self.best, self.best_epoch, self.wait = float(value), epoch, 0
            self.best_weights = weights()
        elif self.wait >= self.patience and epoch > 0:
            self.stopped = True

    def to_json(self) -> dict[str, Any]:
        best = self.best if math.isfinite(self.best) else None
        return {"best": best, "best_epoch": self.best_epoch, "wait": self.wait, "stopped": self.stopped}

    @classmethod
    def from_json(cls, state: dict[str, Any], *, patience: int,
                  best_weights: list[np.ndarray] | None) -> "_EarlyStopping":
        return cls(patience, best=math.inf if state["best"] is None else float(state["best"]),
                   best_epoch=int(state["best_epoch"]), wait=int(state["wait"]),
                   stopped=bool(state["stopped"]), best_weights=best_weights)


class _Resume(NamedTuple):
    """Where this run starts: epochs completed, their history and session, the early-stopping
    state, and the model and optimizer variables to restore (``None`` on a fresh start)."""

    start: int
    history: dict[str, list]
    session: int
    stopping: _EarlyStopping
    model_values: list[np.ndarray] | None
    optimizer_values: list[np.ndarray] | None


def _checkpoints(backup_dir: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints in ``backup_dir`` as ``(epochs completed, folder)``, oldest first."""
    found = []
    if backup_dir.is_dir():
        for folder in backup_dir.iterdir():
            suffix = folder.name[len(_CHECKPOINT_PREFIX):]
            if folder.name.startswith(_CHECKPOINT_PREFIX) and suffix.isdigit() and (folder / _STATE_FILE).exists():
                found.append((int(suffix), folder))
    return sorted(found)


def _read_arrays(path: Path) -> list[np.ndarray]:
    with np.load(path, allow_pickle=False) as saved:
        return [saved[f"v{i}"] for i in range(int(saved["count"]))]


def _write_arrays(path: Path, arrays: Sequence[np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, count=np.int64(len(arrays)), **{f"v{i}": a for i, a in enumerate(arrays)})
    atomic_write(path, buffer.getvalue())


def _read_backup(backup_dir: Path, run_id: str, *, patience: int) -> _Resume:
    """The newest complete checkpoint in ``backup_dir`` (a fresh start when there is none);
    a checkpoint of another run (config or data) is an error."""
    found = _checkpoints(backup_dir)
    if not found:
        return _Resume(0, {}, 0, _EarlyStopping(patience), None, None)
    start, folder = found[-1]
    state = read_json(folder / _STATE_FILE)
    if state.get("run") != run_id:
        raise ValueError(
            f"{backup_dir} holds the backup of a different run (the config, apart from epochs and patience, "
            "or the data changed); delete that folder to start over or use another out_dir"
        )
    best_path = folder / _BEST_WEIGHTS
    best = _read_arrays(best_path) if best_path.exists() else None
    sessions = [s for s in state["history"].get("session", []) if s is not None]
    return _Resume(
        start=start,
        history=state["history"],
        session=max(sessions) + 1 if sessions else 1,
        stopping=_EarlyStopping.from_json(state["early_stopping"], patience=patience, best_weights=best),
        model_values=_read_arrays(folder / _MODEL_STATE),
        optimizer_values=_read_arrays(folder / _OPTIMIZER_STATE),
    )


def _check_agreement(strategy, cluster: _Cluster, start: int, run_id: str) -> None:
    """Refuse to train unless every worker read the same resume epoch of the same run.

    Each worker reads the chief's backup in ``out_dir``; a worker that cannot see that
    folder (no shared filesystem) would start from another epoch and train a different
    model in lock-step, so the workers compare what they read: the sums of ``x`` and
    ``x**2`` over the replicas equal ``n*x`` and ``n*x**2`` only when all agree.
    """
    if cluster.workers == 1:
        return
    tf = _tf.tensorflow()

    mine = np.array([start, int(run_id[:6], 16)], dtype=np.int64)  # 24 bits of the fingerprint
    local = tf.constant(np.concatenate([mine, mine * mine, [1]]), dtype=tf.int64)

    @tf.function
    def summed():
        values = strategy.run(lambda: tf.identity(local))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, values, axis=None)

    total = summed().numpy()
    count, sums, squares = int(total[-1]), total[:2], total[2:4]
    if np.any(sums * sums != count * squares):
        raise RuntimeError(
            f"the workers read different backups of {BACKUP_DIR}/ (this worker: resume epoch {start}): every "
            "worker reads the chief's out_dir, so out_dir must be on a filesystem all workers share"
        )


def _restore_state(model, optimizer, resume: _Resume) -> None:
    """Assign the checkpoint's model variables (weights and seed states) and optimizer
    variables (iteration count, Adam's moments)."""
    for variables, values, what in ((model.variables, resume.model_values, "model"),
                                    (optimizer.variables, resume.optimizer_values, "optimizer")):
        if values is None:
            continue
        if [tuple(v.shape) for v in variables] != [tuple(a.shape) for a in values]:
            raise ValueError(f"the backup's {what} variables do not match this {what}'s")
        for variable, value in zip(variables, values):
            variable.assign(value)


class _Checkpointer(NamedTuple):
    """Reads the model's weights and writes a checkpoint after every epoch (chief only)."""

    weights: Callable[[], list[np.ndarray]]
    """The model's weights now (for early stopping's best epoch)."""
    save: Callable[[int, dict[str, list], "_EarlyStopping"], None]
    """Write the checkpoint after ``completed`` epochs (``save(completed, history, stopping)``)."""


def _checkpointer(model, optimizer, backup_dir: Path | None, run_id: str) -> _Checkpointer:
    """Every worker reads the same variables each epoch (in case reading one takes part in
    a collective); only the chief (``backup_dir`` given) writes them."""

    def weights() -> list[np.ndarray]:
        return [np.array(w) for w in model.get_weights()]

    def save(completed: int, history: dict[str, list], stopping: _EarlyStopping) -> None:
        model_values = [np.array(v.numpy()) for v in model.variables]
        optimizer_values = [np.array(v.numpy()) for v in optimizer.variables]
        if backup_dir is None:
            return
        state = {"run": run_id, "epochs_completed": completed, "history": history,
                 "early_stopping": stopping.to_json()}
        _write_checkpoint(backup_dir, completed, state, model_values, optimizer_values, stopping)

    return _Checkpointer(weights, save)


def _write_checkpoint(backup_dir: Path, completed: int, state: dict[str, Any], model_values: list[np.ndarray],
                      optimizer_values: list[np.ndarray], stopping: _EarlyStopping) -> None:
    """Write ``backup/epoch-NNNNN/`` into a temporary folder and rename it into place
    (atomic: a reader sees the whole checkpoint or none), then drop the older ones."""
    backup_dir.mkdir(parents=True, exist_ok=True)
    final = backup_dir / f"{_CHECKPOINT_PREFIX}{completed:05d}"
    older = [folder for _, folder in _checkpoints(backup_dir) if folder != final]
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=backup_dir))
    try:
        _write_arrays(tmp / _MODEL_STATE, model_values)
        _write_arrays(tmp / _OPTIMIZER_STATE, optimizer_values)
        if stopping.best_weights is not None:
            _write_best(tmp / _BEST_WEIGHTS, stopping, older[-1] / _BEST_WEIGHTS if older else None,
                        unchanged=stopping.best_epoch < completed - 1)
        write_json(tmp / _STATE_FILE, state)  # last: a folder with state.json is complete
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for folder in older:
        shutil.rmtree(folder, ignore_errors=True)


def _write_best(path: Path, stopping: _EarlyStopping, previous: Path | None, *, unchanged: bool) -> None:
    """The best epoch's weights: a hard link to the previous checkpoint's copy when the
    best epoch has not changed (no second copy of a large model), else written anew."""
    if unchanged and previous is not None and previous.exists():
        try:
            os.link(previous, path)
            return
        except OSError:
            pass
    _write_arrays(path, stopping.best_weights)


def _remove_stale_temporaries(out_dir: Path) -> None:
    """Delete the temporary files and folders that a killed run of this function left in
    ``out_dir`` mid-write (``.history.json.*.tmp``, ``.model.keras.*/``, ``backup/.epoch-*``);
    other files are never touched."""
    names = (HISTORY_FILE, HISTORY_CSV, CONFIG_FILE, MODEL_FILE)
    stale = [p for name in names for p in out_dir.glob(f".{name}.*")]
    stale += list((out_dir / BACKUP_DIR).glob(f".{_CHECKPOINT_PREFIX}*"))
    for path in stale:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _remove_backup(backup_dir: Path) -> None:
    """Delete the backup of a completed run (so that calling again starts over)."""
    shutil.rmtree(backup_dir, ignore_errors=True)


# ----------------------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m musiclib.lm.distributed",
        description=(
            "One worker of data-parallel LSTM or Transformer training. Start the same command on every "
            "host with its own TF_CONFIG (MultiWorkerMirroredStrategy); without TF_CONFIG it "
            "trains on this host's GPUs (MirroredStrategy) or its one device. Run the same command "
            "again after a kill to resume from the last completed epoch."
        ),
    )
    parser.add_argument("--config", required=True, help="the model's config as JSON (its to_dict())")
    parser.add_argument("--architecture", choices=ARCHITECTURES, default="lstm",
                        help="which config --config holds (default: lstm)")
    parser.add_argument("--tokens", required=True, help=".npz from musiclib.lm.distributed.save_tokens")
    parser.add_argument(
        "--out-dir", required=True,
        help="run folder (written by the chief; every worker resumes from its backup/ when present)",
    )
    parser.add_argument("--epochs", type=int, default=None, help="override the config's epochs")
    parser.add_argument("--batch-size", type=int, default=None, help="global batch size (override)")
    parser.add_argument("--seed", type=int, default=None, help="override the config's seed")
    parser.add_argument(
        "--weights-out", default=None, help="also write this worker's final weights to this .npz (for checks)"
    )
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m musiclib.lm.distributed`` (see the module docs)."""
    args = _parser().parse_args(argv)
    began = time.perf_counter()
    strategy = strategy_from_environment()  # first: MultiWorkerMirroredStrategy must precede other TF work
    if not args.quiet:
        task_type, task_id, _ = worker_role(strategy)
        print(
            f"{task_type} {task_id}: {type(strategy).__name__} with {strategy.num_replicas_in_sync} replica(s) "
            f"in sync, ready after {time.perf_counter() - began:.1f} s",
            flush=True,
        )
    config = config_from_dict(args.architecture, read_json(args.config))
    tokens = load_tokens(args.tokens)
    result = train_distributed(
        config,
        tokens["train"],
        valid_sequences=tokens.get("valid"),
        out_dir=args.out_dir,
        strategy=strategy,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        verbose=0 if args.quiet else 1,
    )
    if args.weights_out:
        buffer = io.BytesIO()
        weights = result.model.get_weights()
        np.savez(buffer, **{f"w{i}": w for i, w in enumerate(weights)})
        atomic_write(args.weights_out, buffer.getvalue())
    if result.is_chief and not args.quiet:
        print(f"wrote {Path(args.out_dir) / MODEL_FILE} and {Path(args.out_dir) / HISTORY_FILE}", flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through subprocesses in the tests
    sys.exit(main())
