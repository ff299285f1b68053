"""Token windows for language-model training: a corpus's token sequences as a ``tf.data`` pipeline
of (input, target) windows, every next token predicted or only the last.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from musiclib import _tf
from musiclib.lm.lstm import LOSS_ON_CHOICES

__all__ = [
    "make_dataset",
    "concatenate",
    "window_starts",
    "count_windows",
]


def concatenate(sequences: Iterable[Sequence[int] | np.ndarray]) -> np.ndarray:
    """Join tunes into one int32 token stream (their BOS/EOS tokens separate them)."""
    arrays = [np.asarray(seq, dtype=np.int32).reshape(-1) for seq in sequences]
    if not arrays:
        raise ValueError("sequences is empty: give at least one tune")
    return np.concatenate(arrays)


def window_starts(n_tokens: int, *, sequence_length: int, stride: int) -> np.ndarray:
    """Start offsets of every full window of ``sequence_length + 1`` tokens."""
    return np.arange(0, max(n_tokens - sequence_length, 0), stride, dtype=np.int64)


def with_tune_starts(
    starts: np.ndarray, sequences: Sequence[np.ndarray], *, n_tokens: int, sequence_length: int
) -> np.ndarray:
    """Add a window that starts at every tune's BOS to the regular grid of ``starts``.

    Generation and :func:`evaluate_nll` start each tune from a blank recurrent state;
    windows cut on a regular grid almost never begin at a BOS, so without these the
    model would rarely see how a tune opens from a blank state (it then often skips
    the meter and the first bar line).
    """
    offsets = np.cumsum([0] + [len(seq) for seq in sequences[:-1]]).astype(np.int64)
    offsets = offsets[offsets < n_tokens - sequence_length]
    return np.union1d(starts, offsets)


def count_windows(n_tokens: int, *, sequence_length: int, stride: int) -> int:
    """Number of windows :func:`make_dataset` cuts from ``n_tokens`` tokens."""
    return len(window_starts(n_tokens, sequence_length=sequence_length, stride=stride))


def _default_stride(loss_on: str, sequence_length: int) -> int:
    # "all": non-overlapping windows, every token is a target exactly once.
    # "last": a window at every position, like the tutorial.
    return sequence_length if loss_on == "all" else 1


def _check_data_args(sequence_length: int, batch_size: int, loss_on: str, stride: int | None) -> None:
    for name, value in (("sequence_length", sequence_length), ("batch_size", batch_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if loss_on not in LOSS_ON_CHOICES:
        raise ValueError(f"loss_on must be one of {LOSS_ON_CHOICES}, got {loss_on!r}")
    if stride is not None and (not isinstance(stride, int) or isinstance(stride, bool) or stride < 1):
        raise ValueError(f"stride must be a positive integer or None, got {stride!r}")


def _window_pipeline(
    stream: np.ndarray,
    starts: np.ndarray,
    *,
    sequence_length: int,
    batch_size: int,
    shuffle: bool,
    seed: int,
    loss_on: str,
    epochs: tuple[int, int],
    drop_remainder: bool,
):
    tf = _tf.tensorflow()

    stream_t = tf.constant(stream, dtype=tf.int32)
    starts_t = tf.constant(starts, dtype=tf.int64)
    offsets = tf.range(sequence_length + 1, dtype=tf.int64)

    def one_epoch(epoch):
        order = starts_t
        if shuffle:
            key = tf.stack([tf.constant(seed, tf.int64), epoch])
            order = tf.random.experimental.stateless_shuffle(starts_t, seed=key)
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size, drop_remainder=drop_remainder)

    def to_examples(batch_starts):
        windows = tf.gather(stream_t, batch_starts[:, None] + offsets)
        targets = windows[:, 1:] if loss_on == "all" else windows[:, -1]
        return windows[:, :-1], targets

    first, stop = epochs
    dataset = tf.data.Dataset.range(first, stop).flat_map(one_epoch)
    return dataset.map(to_examples, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def make_dataset(
    sequences: Iterable[Sequence[int] | np.ndarray],
    *,
    sequence_length: int,
    batch_size: int,
    shuffle: bool,
    seed: int,
    loss_on: str,
    stride: int | None = None,
    epoch: int = 0,
    drop_remainder: bool = False,
):
    """One epoch of training windows as a ``tf.data.Dataset``.

    Parameters
    ----------
    sequences
        Tunes as int arrays, each ``BOS ... EOS``. They are concatenated in order.
    sequence_length
        Inputs per window; windows hold ``sequence_length + 1`` tokens.
    batch_size
        Windows per batch.
    shuffle
        Shuffle the windows (by start offset).
    seed
        Shuffle seed. The order depends only on ``(seed, epoch)``.
    loss_on
        ``"all"``: targets are the inputs shifted by one, ``[batch, sequence_length]``.
        ``"last"``: the target is the token after the window, ``[batch]``.
    stride
        Distance between window starts. Default: ``sequence_length`` for ``"all"``
        (each token is a target once), 1 for ``"last"`` (a window at every position,
        as in the tutorial); a larger stride sub-samples.
    epoch
        Which epoch's shuffle order to produce.
    drop_remainder
        Drop the last, smaller batch.

    Returns
    -------
    tf.data.Dataset
        Batches ``(inputs int32 [batch, sequence_length], targets int32)``.

    Raises
    ------
    ValueError
        For bad arguments, or when the tunes hold fewer than ``sequence_length + 1``
        tokens in all.
    """
    _check_data_args(sequence_length, batch_size, loss_on, stride)
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        raise ValueError(f"epoch must be a non-negative integer, got {epoch!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    for name, flag in (("shuffle", shuffle), ("drop_remainder", drop_remainder)):
        if not isinstance(flag, bool):
            raise ValueError(f"{name} must be True or False, got {flag!r}")
    sequences = [np.asarray(seq, dtype=np.int32).reshape(-1) for seq in sequences]
    stream = concatenate(sequences)
    stride = _default_stride(loss_on, sequence_length) if stride is None else stride
    starts = window_starts(len(stream), sequence_length=sequence_length, stride=stride)
    if loss_on == "all":
        starts = with_tune_starts(starts, sequences, n_tokens=len(stream), sequence_length=sequence_length)
    if not len(starts):
        raise ValueError(
            f"the sequences hold {len(stream)} tokens, too few for one window of "
            f"sequence_length + 1 = {sequence_length + 1}; use a smaller sequence_length or more tunes"
        )
    return _window_pipeline(
        stream,
        starts,
        sequence_length=sequence_length,
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
        loss_on=loss_on,
        epochs=(epoch, epoch + 1),
        drop_remainder=drop_remainder,
    )
