"""Classifier two-sample test: features with known answers, calibration, determinism, small sets, the table."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from musiclib import evaluation as ev
from musiclib.tune import TimeSignature, Track, Tune, make_notes


def melody(pitches, *, length=1.0, onsets=None, durations=None, extra_tracks=()) -> Tune:
    n = len(pitches)
    onsets = np.arange(n) * length if onsets is None else np.asarray(onsets, dtype=float)
    durations = np.full(n, length) if durations is None else np.asarray(durations, dtype=float)
    notes = make_notes(onsets, durations, pitches)
    return Tune(tracks=(Track(notes, name="melody"), *extra_tracks), time_signatures=(TimeSignature(0.0, 4, 4),))


def stepwise_tune(rng, n_bars=8) -> Tune:
    """A scale-bound, stepwise melody of eighth notes with an occasional repeated bar (one 'generator')."""
    scale = np.array([0, 2, 4, 5, 7, 9, 11])
    degree, pitches = 7, []
    for _ in range(n_bars * 8):
        degree = int(np.clip(degree + rng.choice([-2, -1, 0, 1, 1, 2]), 0, 14))
        pitches.append(60 + 12 * (degree // 7) + scale[degree % 7])
    return melody(pitches, length=0.5)


def leaping_tune(rng, n_bars=8) -> Tune:
    """Random chromatic leaps in uneven rhythm: clearly another distribution."""
    lengths = rng.choice([0.25, 0.75, 1.5], size=n_bars * 6)
    onsets = np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
    keep = onsets < n_bars * 4
    return melody(48 + rng.integers(0, 30, size=keep.sum()), onsets=onsets[keep], durations=lengths[keep])


def piece(tune):
    return ev.c2st_piece_features(tune)


# ----------------------------------------------------------------------------- features


def test_feature_names_match_the_matrix_width_and_the_documented_features():
    names = ev.c2st_feature_names()
    assert len(names) == sum(width for _, _, width in ev.C2ST_FEATURES.values())
    matrix = ev.c2st_features([melody([60, 62, 64, 65])])
    assert matrix.shape == (1, len(names))


def test_interval_features_of_a_scale_with_a_repeat_and_a_leap():
    f = piece(melody([60, 62, 64, 64, 72, 71]))  # +2 +2 0 +8 -1
    np.testing.assert_allclose(f["interval_histogram"], np.array([1, 1, 2, 0, 0, 0, 0, 0, 1, 0]) / 5)
    assert f["repeat_share"] == pytest.approx(1 / 5)
    assert f["step_share"] == pytest.approx(3 / 5)
    assert f["leap_share"] == pytest.approx(1 / 5)
    assert f["contour_changes"] == pytest.approx(1 / 3)  # up up up down (repeat skipped)


def test_melody_polyphony_share_sees_two_notes_at_once_only_when_they_overlap():
    assert piece(melody([60, 62, 64, 65]))["melody_polyphony_share"] == 0.0  # touching notes do not overlap
    stacked = melody([60, 64, 62, 65], onsets=[0, 0, 2, 3], durations=[2, 1, 1, 1])  # a dyad for one beat of four
    assert piece(stacked)["melody_polyphony_share"] == pytest.approx(1 / 4)
    assert math.isnan(piece(Tune(tracks=(Track(make_notes()),)))["melody_polyphony_share"])


def test_repeated_bars_are_detected_by_rhythm_and_by_transposed_intervals():
    bar = [60, 62, 64, 60]
    repeated = melody(bar + [p + 5 for p in bar] + bar + [67, 65, 64, 62])  # bar 2 transposed, bar 3 exact
    f = piece(repeated)
    assert f["repeated_rhythm_share"] == pytest.approx(1.0)  # all bars are four quarter notes
    assert f["repeated_interval_share"] == pytest.approx(2 / 3)  # bars 2 and 3 repeat bar 1's intervals
    assert f["onsets_per_bar"] == pytest.approx(4.0) and f["onsets_per_bar_std"] == 0.0
    fresh = melody([60, 62, 64, 60, 67, 60, 65, 64], onsets=[0, 1, 2, 3, 4, 4.5, 6, 7])
    assert piece(fresh)["repeated_rhythm_share"] == 0.0
    assert piece(fresh)["repeated_interval_share"] == 0.0


def test_accompaniment_features_where_a_second_track_exists():
    chords = Track(make_notes([0, 2], [2, 2], [48, 53]), name="chords")  # C, then F
    tune = melody([60, 62, 65, 67], extra_tracks=(chords,))  # C in C, D not, F in F, G not
    f = piece(tune)
    assert f["has_accompaniment"] == 1.0
    assert f["melody_in_accompaniment"] == pytest.approx(0.5)
    assert f["accompaniment_onsets_per_bar"] == pytest.approx(2.0)
    assert f["accompaniment_notes_per_onset"] == pytest.approx(1.0)
    alone = piece(melody([60, 62]))
    assert alone["has_accompaniment"] == 0.0 and math.isnan(alone["melody_in_accompaniment"])


def test_features_are_transposition_invariant():
    rng = np.random.default_rng(3)
    tune = stepwise_tune(rng)
    np.testing.assert_allclose(ev.c2st_features([tune]), ev.c2st_features([tune.transpose(5)]))


# ----------------------------------------------------------------------------- the test


@pytest.fixture(scope="module")
def two_generators():
    rng = np.random.default_rng(0)
    same = ev.c2st_features([stepwise_tune(rng) for _ in range(120)])
    other = ev.c2st_features([leaping_tune(rng) for _ in range(60)])
    return same, other


def test_two_samples_of_one_distribution_are_indistinguishable(two_generators):
    same, _ = two_generators
    results = ev.classifier_test(same[:60], same[60:], seed=0)
    assert set(results) == set(ev.C2ST_CLASSIFIERS)
    for result in results.values():
        assert 0.35 <= result.accuracy <= 0.65
        assert result.low <= 0.5 <= result.high
        assert result.p_value > 0.05
        assert result.n == 120 and result.per_class == 60 and result.folds == 5


def test_clearly_different_sets_are_told_apart(two_generators):
    same, other = two_generators
    for result in ev.classifier_test(same, other, seed=1).values():  # 120 vs 60: balanced to 60 + 60
        assert result.accuracy >= 0.95 and result.low > 0.5 and result.p_value < 1e-6
        assert result.n == 120


def test_real_tunes_against_uniform_notes_shaped_like_them():
    rng = np.random.default_rng(5)
    real = [stepwise_tune(rng) for _ in range(30)]
    results = ev.classifier_test(real, ev.uniform_set(real, 30, seed=0), seed=0)
    assert all(result.accuracy >= 0.9 for result in results.values())


def test_clopper_pearson_interval_and_p_value(two_generators):
    from scipy.stats import beta, binomtest

    same, other = two_generators
    result = ev.classifier_test(same[:40], same[40:80], seed=2)["logistic"]
    k, n = result.correct, result.n
    assert result.accuracy == k / n
    assert result.low == pytest.approx(beta.ppf(0.025, k, n - k + 1))
    assert result.high == pytest.approx(beta.ppf(0.975, k + 1, n - k))
    assert result.p_value == pytest.approx(binomtest(k, n, 0.5, alternative="greater").pvalue)
    perfect = ev.classifier_test(same[:20], other[:20], seed=0)["logistic"]
    assert perfect.accuracy == 1.0 and perfect.high == 1.0 and perfect.low == pytest.approx(0.025 ** (1 / 40))


def test_deterministic_for_a_seed(two_generators):
    same, _ = two_generators
    first = ev.classifier_test(same[:50], same[50:], seed=4)
    again = ev.classifier_test(same[:50], same[50:], seed=4)
    assert {k: v.to_dict() for k, v in first.items()} == {k: v.to_dict() for k, v in again.items()}
    json.dumps({k: v.to_dict() for k, v in first.items()})  # JSON-ready


def test_small_sets_use_fewer_folds_and_tiny_ones_give_a_reason(two_generators):
    same, other = two_generators
    small = ev.classifier_test(same[:4], other[:6], seed=0)
    assert all(r.folds == 4 and r.n == 8 and r.accuracy is not None for r in small.values())
    tiny = ev.classifier_test(same[:3], other[:10], seed=0)
    for result in tiny.values():
        assert result.accuracy is None and result.low is None and "needs >= 4" in result.reason
    with pytest.raises(ValueError, match="widths"):
        ev.classifier_test(same[:5, :3], other[:5], seed=0)


def test_nan_features_are_imputed_not_fatal():
    one_note = [melody([60 + i]) for i in range(6)]  # no intervals: NaN interval features
    results = ev.classifier_test(one_note, [melody([60, 62, 64, 65]) for _ in range(6)], seed=0)
    assert all(r.accuracy is not None for r in results.values())


# ----------------------------------------------------------------------------- the table


def test_table_reports_c2st_per_row_with_per_seed_results_and_markdown_columns(tmp_path):
    rng = np.random.default_rng(7)
    reference = [stepwise_tune(rng, n_bars=4) for _ in range(16)]
    generated = {"same": [[stepwise_tune(rng, n_bars=4) for _ in range(8)] for _ in range(2)],
                 "uniform": [ev.uniform_set(reference, 8, seed=s) for s in range(2)],
                 "tiny": [[stepwise_tune(rng, n_bars=4) for _ in range(3)]]}
    table = ev.table(generated, reference, excerpt_bars=4)
    rows = {row["name"]: row for row in table["rows"]}
    ceiling = rows["real (ceiling)"]
    assert set(ceiling["c2st"]) == set(ev.C2ST_CLASSIFIERS)
    assert ceiling["c2st"]["logistic"]["n"] == 2
    assert len(ceiling["runs"]) == 2 and ceiling["runs"][0]["c2st"]["logistic"]["n"] == 16
    assert rows["uniform"]["c2st"]["logistic"]["mean"] >= 0.8
    assert rows["tiny"]["c2st"]["logistic"]["mean"] is None and "needs >= 4" in rows["tiny"]["c2st_skipped"][0]
    assert table["config"]["c2st"]["features"]["melody_polyphony_share"]["group"] == "melody"
    markdown, data = ev.write_table(table, tmp_path / "t", title="t")
    text = markdown.read_text()
    assert "C2ST acc. (logistic)" in text and "C2ST acc. (boosting)" in text
    tiny_line = next(line for line in text.splitlines() if line.startswith("| tiny |"))
    assert "—*" in tiny_line and "needs >= 4" in text
    assert json.loads(data.read_text())["rows"][0]["runs"][0]["c2st"]["boosting"]["folds"] == 5
    without = ev.table({"tiny": generated["tiny"]}, reference[:8], excerpt_bars=4, c2st=False)
    assert without["rows"][0]["c2st"] is None and "C2ST" not in ev.format_markdown(without)


# ----------------------------------------------------------------------------- by feature group


def test_group_columns_partition_the_feature_matrix():
    columns = np.concatenate([ev.c2st_group_columns(group) for group in ev.C2ST_GROUPS])
    assert sorted(columns) == list(range(len(ev.c2st_feature_names())))
    assert ev.C2ST_GROUPS[0] == "melody" and "repetition" in ev.C2ST_GROUPS
    names = np.asarray(ev.c2st_feature_names())
    assert "repeated_rhythm_share" in names[ev.c2st_group_columns("repetition")]
    with pytest.raises(ValueError, match="unknown feature group"):
        ev.c2st_group_columns("timbre")


def test_the_group_that_differs_is_the_one_that_tells(two_generators):
    """Stepwise eighth notes against chromatic leaps in an uneven rhythm: the melody and
    rhythm groups tell them apart, the accompaniment group (neither set has one) cannot."""
    same, other = two_generators
    by_group = ev.classifier_test_by_group(same, other, seed=1)
    assert set(by_group) == set(ev.C2ST_GROUPS)
    assert by_group["melody"].accuracy >= 0.95 and by_group["rhythm"].accuracy >= 0.9
    assert by_group["accompaniment"].accuracy <= 0.65  # neither set has an accompaniment
    whole = ev.classifier_test(same, other, seed=1)["logistic"]
    assert by_group["melody"].n == whole.n and by_group["melody"].classifier == "logistic"
    twice = ev.classifier_test_by_group(same, other, seed=1)
    assert {g: r.to_dict() for g, r in twice.items()} == {g: r.to_dict() for g, r in by_group.items()}
    with pytest.raises(ValueError, match="columns of c2st_features"):
        ev.classifier_test_by_group(same[:, :3], other[:, :3])


def test_table_reports_the_groups_per_row_and_in_markdown():
    rng = np.random.default_rng(8)
    reference = [stepwise_tune(rng, n_bars=4) for _ in range(16)]
    generated = {"leaping": [[leaping_tune(rng, n_bars=4) for _ in range(8)] for _ in range(2)]}
    table = ev.table(generated, reference, excerpt_bars=4)
    row = table["rows"][1]
    assert set(row["c2st_groups"]) == set(ev.C2ST_GROUPS) and row["c2st_groups"]["melody"]["n"] == 2
    assert row["runs"][0]["c2st_groups"]["melody"]["classifier"] == "logistic"
    text = ev.format_markdown(table)
    assert "one feature group alone" in text
    melody_line = next(line for line in text.splitlines() if line.startswith("| melody |"))
    assert melody_line.count("|") == 4  # group, ceiling, leaping
