"""Plot helpers for attention and form: they take ``ax``, return the artist and check their input."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from musiclib import plots  # noqa: E402


def test_attention_map_draws_the_square_root_and_bar_lines():
    weights = np.tril(np.ones((6, 6)))
    weights /= weights.sum(axis=1, keepdims=True)
    fig, ax = plt.subplots()
    artist = plots.attention_map(weights, ax=ax, bar_positions=[2, 4], title="head 1")
    np.testing.assert_allclose(artist.get_array(), np.sqrt(weights))
    assert len(ax.lines) == 4 and ax.get_title() == "head 1"  # a horizontal and a vertical line per bar
    with pytest.raises(ValueError, match="square"):
        plots.attention_map(np.ones((2, 3)), ax=ax)
    plt.close(fig)


def test_self_similarity_numbers_bars_from_one():
    fig, ax = plt.subplots()
    artist = plots.self_similarity(np.eye(4), ax=ax, title="form")
    assert artist.get_extent() == [0.5, 4.5, 4.5, 0.5]
    assert artist.get_clim() == (0.0, 1.0)
    with pytest.raises(ValueError, match="square"):
        plots.self_similarity(np.ones(3), ax=ax)
    plt.close(fig)


def test_onset_roll_marks_each_note_start_once():
    sounding = np.zeros((2, 16, 12), dtype=bool)
    onsets = np.zeros_like(sounding)
    sounding[0, :8, 4] = True  # two repeated notes of one pitch...
    onsets[0, [0, 4], 4] = True
    onsets[1, 3, 5] = True  # ...and an onset on a silent cell, which is not drawn
    fig, ax = plt.subplots()
    artist = plots.onset_roll(sounding, onsets, ax=ax, lowest_pitch=60, title="melody")
    np.testing.assert_allclose(artist.get_offsets(), [[0.5, 64], [4.5, 64]])
    assert ax.get_title() == "melody" and len(ax.lines) == 3  # bar lines at 0, 16 and 32
    with pytest.raises(ValueError, match="both be"):
        plots.onset_roll(sounding[0], onsets[0, :, :3], ax=ax)
    plt.close(fig)
