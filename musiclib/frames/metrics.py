"""The benchmark's protocol: negative log-likelihood per frame and frame-level accuracy.

NLL per frame, in nats: the sum of ``-log p(frame_t | frames_<t)`` over every predicted
frame of every sequence, divided by the number of those frames, so frames count equally,
not sequences. Two conventions exist: TCN's code (Bai, Kolter & Koltun 2018) predicts
frames 2..T of each sequence; a model with a start state can predict frame 1 too. Both are
reported (``nll`` is 2..T, ``nll_all`` includes frame 1).

Frame-level accuracy (Bay, Ehmann & Downie 2009): ``TP / (TP + FP + FN)`` summed over all
predicted frames, where each frame is predicted from the true past: the independent model
turns on every key with probability above 1/2; LSTM-NADE decodes its keys greedily, low
to high, each given the keys it chose below.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

__all__ = [
    "FrameScores",
    "bernoulli_scores",
    "evaluate_frames",
    "frame_accuracy_counts",
    "frame_nll_terms",
]


@dataclass(frozen=True)
class FrameScores:
    """Scores of one model on one split.

    Attributes
    ----------
    nll
        Nats per frame over frames 2..T of each sequence (TCN's convention).
    nll_all
        Nats per frame over all frames (frame 1 predicted from the start state).
    frames, frames_all
        How many frames each average is over.
    accuracy
        Frame-level accuracy over frames 2..T (``nan`` when not computed).
    """

    nll: float
    nll_all: float
    frames: int
    frames_all: int
    accuracy: float = float("nan")

    def to_dict(self) -> dict:
        return asdict(self)


def frame_nll_terms(logits: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """``-log p(frame)`` of each frame from its key logits: ``sum_k softplus(l_k) - v_k l_k``.

    ``logits`` and ``frames`` are ``(..., keys)``; the result drops the key axis.
    """
    logits = np.asarray(logits, dtype=np.float64)
    frames = np.asarray(frames, dtype=np.float64)
    return (np.logaddexp(0.0, logits) - frames * logits).sum(axis=-1)


def frame_accuracy_counts(predicted: np.ndarray, actual: np.ndarray) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) of boolean ``(..., keys)`` frames."""
    predicted, actual = np.asarray(predicted, dtype=bool), np.asarray(actual, dtype=bool)
    return (int((predicted & actual).sum()), int((predicted & ~actual).sum()), int((~predicted & actual).sum()))


def _accuracy(tp: int, fp: int, fn: int) -> float:
    return tp / (tp + fp + fn) if tp + fp + fn else float("nan")


class _NoRetracingNotice(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" notice: evaluation runs whole
    sequences, so batch shapes differ by design (padding them to one length would cost more)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


@contextlib.contextmanager
def _quiet_retracing():
    logger = logging.getLogger("tensorflow")
    notice = _NoRetracingNotice()
    logger.addFilter(notice)
    try:
        yield
    finally:
        logger.removeFilter(notice)


_MAX_BATCH_FRAMES = 8192
"""Padded frames per evaluation batch at most (LSTM-NADE holds frames × keys × hidden floats)."""


def _batch_groups(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Indices of sequences, sorted by length, grouped so that a group holds at most
    ``batch_size`` sequences and at most :data:`_MAX_BATCH_FRAMES` padded frames (a longer
    sequence goes alone)."""
    order = np.argsort(lengths, kind="stable")
    groups, current = [], []
    for index in order:
        longest = max([lengths[i] for i in current] + [lengths[index]])
        if current and (len(current) == batch_size or longest * (len(current) + 1) > _MAX_BATCH_FRAMES):
            groups.append(np.asarray(current))
            current = []
        current.append(index)
    if current:
        groups.append(np.asarray(current))
    return groups


def _batches(rolls: Sequence[np.ndarray], batch_size: int):
    """Batches of similar length: (previous, frames, mask) arrays, zero-padded."""
    for group in _batch_groups([len(roll) for roll in rolls], batch_size):
        chosen = [np.asarray(rolls[i], dtype=np.float32) for i in group]
        length = max(len(roll) for roll in chosen)
        n_keys = chosen[0].shape[1]
        previous = np.zeros((len(chosen), length, n_keys), np.float32)
        frames = np.zeros_like(previous)
        mask = np.zeros((len(chosen), length), bool)
        for row, roll in enumerate(chosen):
            frames[row, : len(roll)] = roll
            previous[row, 1 : len(roll)] = roll[:-1]
            mask[row, : len(roll)] = True
        yield previous, frames, mask


def evaluate_frames(model, rolls: Sequence[np.ndarray], *, batch_size: int = 16, accuracy: bool = True) -> FrameScores:
    """Score a piano-roll model on whole sequences (no windows, no state carried between them).

    Parameters
    ----------
    model
        A model from :func:`~musiclib.frames.build_frame_model`.
    rolls
        The sequences, ``(frames, keys)`` each.
    batch_size
        Sequences per forward pass (sorted by length, so padding stays small).
    accuracy
        Also compute frame-level accuracy (needs a greedy decode of every frame: for
        LSTM-NADE 88 small NumPy steps per batch).
    """
    from musiclib.frames.sampling import decode_frames, frame_weights

    if not len(rolls):
        raise ValueError("no sequences to evaluate")
    weights = frame_weights(model) if accuracy else None
    scorer = _logits_and_context_model(model) if accuracy else model
    total = total_all = 0.0
    count = count_all = 0
    tp = fp = fn = 0
    for previous, frames, mask in _batches(rolls, batch_size):
        with _quiet_retracing():
            outputs = scorer.predict_on_batch([previous, frames])
        logits = np.asarray(outputs[0] if accuracy else outputs)
        terms = frame_nll_terms(logits, frames)
        later = mask.copy()
        later[:, 0] = False
        total_all += terms[mask].sum()
        count_all += int(mask.sum())
        total += terms[later].sum()
        count += int(later.sum())
        if accuracy:
            context = np.asarray(outputs[1], dtype=np.float64)
            chosen, _ = decode_frames(weights, context[later])
            counts = frame_accuracy_counts(chosen, frames[later] > 0)
            tp, fp, fn = tp + counts[0], fp + counts[1], fn + counts[2]
    return FrameScores(
        nll=total / count if count else float("nan"),
        nll_all=total_all / count_all,
        frames=count,
        frames_all=count_all,
        accuracy=_accuracy(tp, fp, fn) if accuracy else float("nan"),
    )


def _logits_and_context_model(model):
    """``model`` with a second output, its ``context`` layer (what the output head reads), so
    one forward pass gives both the logits and what the greedy decode needs."""
    from musiclib import _tf

    keras = _tf.keras()
    return keras.Model(model.inputs, [model.output, model.get_layer("context").output])


def bernoulli_scores(train_rolls: Sequence[np.ndarray], rolls: Sequence[np.ndarray]) -> FrameScores:
    """The protocol's check row: 88 independent Bernoullis with add-one-smoothed training frequencies.

    Every frame gets the same distribution, so frame 1 is predicted like any other.
    """
    from musiclib.frames.model import key_log_odds

    n_keys = np.asarray(train_rolls[0]).shape[1]
    logits = key_log_odds(train_rolls, n_keys=n_keys)
    total = total_all = 0.0
    count = count_all = 0
    tp = fp = fn = 0
    for roll in rolls:
        terms = frame_nll_terms(np.broadcast_to(logits, roll.shape), roll)
        total_all += terms.sum()
        count_all += len(roll)
        total += terms[1:].sum()
        count += len(roll) - 1
        counts = frame_accuracy_counts(np.broadcast_to(logits > 0, roll[1:].shape), roll[1:])
        tp, fp, fn = tp + counts[0], fp + counts[1], fn + counts[2]
    return FrameScores(nll=total / count, nll_all=total_all / count_all, frames=count, frames_all=count_all,
                       accuracy=_accuracy(tp, fp, fn))
