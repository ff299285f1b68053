"""The benchmark's protocol: NLL per frame (hand-computed cases), accuracy, the Bernoulli row."""

from __future__ import annotations

import math

import numpy as np
import pytest

import musiclib as ml


def test_nll_of_a_frame_by_hand():
    logits = np.array([[0.0, math.log(3.0)]])  # p = 1/2 and p = 3/4
    frame = np.array([[1.0, 0.0]])
    expected = -math.log(0.5) - math.log(0.25)
    assert ml.frames.frame_nll_terms(logits, frame)[0] == pytest.approx(expected)


def test_bernoulli_row_by_hand():
    # two keys; training: 3 frames, key 0 on in 2 of them, key 1 never on
    train = [np.array([[1, 0], [1, 0], [0, 0]], bool)]
    test = [np.array([[1, 0], [0, 1]], bool), np.array([[0, 0]], bool)]
    p0, p1 = 3 / 5, 1 / 5  # add-one smoothing: (on + 1) / (frames + 2)

    def nll(frame):
        return -(math.log(p0 if frame[0] else 1 - p0) + math.log(p1 if frame[1] else 1 - p1))

    scores = ml.frames.bernoulli_scores(train, test)
    frames = [f for roll in test for f in roll]
    assert scores.nll_all == pytest.approx(sum(nll(f) for f in frames) / 3)
    assert scores.nll == pytest.approx(nll(test[0][1]))  # frames 2..T: only the second frame of the first roll
    assert (scores.frames, scores.frames_all) == (1, 3)
    # key 0 is predicted on (p > 1/2) in that frame; it is off, key 1 is on: TP 0, FP 1, FN 1
    assert scores.accuracy == 0.0


def test_frames_weigh_equally_not_sequences():
    train = [np.array([[1], [0]], bool)]
    short, long = np.array([[1], [1]], bool), np.zeros((11, 1), bool)
    scores = ml.frames.bernoulli_scores(train, [short, long])
    per_frame = [-math.log(0.5)] * 13  # p = (1 + 1) / (2 + 2)
    assert scores.nll_all == pytest.approx(sum(per_frame) / 13)


def test_accuracy_counts():
    predicted = np.array([[1, 1, 0, 0]], bool)
    actual = np.array([[1, 0, 1, 0]], bool)
    assert ml.frames.frame_accuracy_counts(predicted, actual) == (1, 1, 1)


def test_evaluation_batches_bound_their_padded_frames():
    from musiclib.frames.metrics import _MAX_BATCH_FRAMES, _batch_groups

    lengths = [5, 3000, 40, 9000, 7, 2500, 2600, 12]
    groups = _batch_groups(lengths, 4)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    for group in groups:
        assert len(group) <= 4
        assert len(group) == 1 or max(lengths[i] for i in group) * len(group) <= _MAX_BATCH_FRAMES
