"""Repetition structure: bar contents, the self-similarity matrix and the repetition share."""

from __future__ import annotations

import math

import numpy as np
import pytest

from musiclib.evaluation.repetition import bar_contents, bar_self_similarity, repetition_share, set_repetition
from musiclib.tune import TimeSignature, Track, Tune, make_notes

A = [60, 62, 64, 65]
B = [67, 65, 64, 62]


def tune_of(bars: list[list[int]]) -> Tune:
    """A 4/4 melody of quarter notes, one list of four pitches per bar."""
    pitches = [p for bar in bars for p in bar]
    n = len(pitches)
    notes = make_notes(np.arange(n, dtype=float), np.ones(n), np.asarray(pitches))
    return Tune(tracks=(Track(notes, name="melody"),), time_signatures=(TimeSignature(0.0, 4, 4),))


def test_bar_contents_are_onsets_within_the_bar_and_pitches():
    contents = bar_contents(tune_of([A, B]))
    assert contents[0] == frozenset({(0, 60), (12, 62), (24, 64), (36, 65)})
    assert contents[1] == frozenset({(0, 67), (12, 65), (24, 64), (36, 62)})


def test_an_aabb_form_shows_in_the_matrix_and_the_share():
    matrix = bar_self_similarity(tune_of([A, A, B, B]))
    assert matrix.shape == (4, 4)
    np.testing.assert_array_equal(np.diag(matrix), 1.0)
    np.testing.assert_array_equal(matrix, matrix.T)
    assert matrix[0, 1] == 1.0 and matrix[2, 3] == 1.0
    assert matrix[0, 2] == pytest.approx(1 / 7)  # they share one note (64 on beat 3) of seven distinct
    assert repetition_share(tune_of([A, A, B, B])) == pytest.approx(2 / 3)  # bars 2 and 4 repeat
    assert repetition_share(tune_of([A, B, [61, 63, 66, 68], [70, 71, 72, 73]])) == 0.0


def test_a_variation_counts_from_the_threshold():
    varied = [60, 62, 64, 67]  # three of four notes kept: Jaccard 3/5
    assert repetition_share(tune_of([A, varied])) == 1.0
    assert repetition_share(tune_of([A, varied]), threshold=0.7) == 0.0


def test_edge_cases():
    assert math.isnan(repetition_share(tune_of([A])))
    assert repetition_share(tune_of([A, A, B, B]), n_bars=2) == 1.0
    with pytest.raises(ValueError, match="threshold"):
        repetition_share(tune_of([A, A]), threshold=0.0)
    np.testing.assert_allclose(set_repetition([tune_of([A, A]), tune_of([A, B])]), [1.0, 0.0])


def test_copy_share_counts_the_bars_that_come_back_after_the_offset():
    from musiclib.evaluation.repetition import copy_share

    C, D = [61, 63, 66, 68], [70, 71, 72, 73]
    assert copy_share(tune_of([A, B, A, B]), offset=2, start=2, n_bars=4) == 1.0
    assert copy_share(tune_of([A, B, A, C]), offset=2, start=2, n_bars=4) == 0.5
    assert copy_share(tune_of([A, B, B, A]), offset=2, start=2, n_bars=4) == 0.0  # repeats, but not as a copy
    assert copy_share(tune_of([A, B, C, D, A, B, C, D]), offset=4, start=4, n_bars=8) == 1.0
    assert math.isnan(copy_share(tune_of([A, B]), offset=2, start=2, n_bars=4))
    with pytest.raises(ValueError, match="offset"):
        copy_share(tune_of([A, B]), offset=3, start=2)


def test_copy_persistence_separates_runs_of_copies_from_scattered_ones():
    from musiclib.evaluation.repetition import copied_bars, copy_persistence

    C, D, E = [61, 63, 66, 68], [70, 71, 72, 73], [48, 50, 52, 53]
    # a second A part whose first bar is varied, then copied bar for bar
    section = tune_of([A, B, C, D, E, B, C, D])
    np.testing.assert_array_equal(copied_bars(section, offset=4, start=4, n_bars=8), [False, True, True, True])
    persistence = copy_persistence([section], offset=4, start=4, n_bars=8)
    assert persistence == {"after_copy": 1.0, "after_other": 1.0, "n_after_copy": 2, "n_after_other": 1}
    scattered = tune_of([A, B, C, D, A, E, C, E])  # copied, not, copied, not
    persistence = copy_persistence([scattered], offset=4, start=4, n_bars=8)
    assert persistence["after_copy"] == 0.0 and persistence["after_other"] == 1.0
    empty = copy_persistence([tune_of([A, B])], offset=2, start=2, n_bars=4)
    assert math.isnan(empty["after_copy"]) and empty["n_after_copy"] == 0
