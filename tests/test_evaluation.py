"""Objective evaluation: features with known answers, MGEval set comparison, memorisation, table and CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from support import tiny_tune, write_tiny_midi

from musiclib import cli
from musiclib import evaluation as ev
from musiclib.tune import TimeSignature, Track, Tune, make_notes

C_MAJOR = [60, 62, 64, 65, 67, 69, 71, 72]


def melody(pitches, *, length=1.0, start=0.0, meter=(4, 4), extra_tracks=()) -> Tune:
    """A one-track tune of consecutive notes of ``length`` quarter notes (plus optional other tracks)."""
    n = len(pitches)
    notes = make_notes(start + np.arange(n) * length, np.full(n, length), pitches)
    return Tune(tracks=(Track(notes, name="melody"), *extra_tracks),
                time_signatures=(TimeSignature(0.0, *meter),))


def random_melody(rng, n=40) -> Tune:
    return melody(60 + rng.integers(-7, 8, size=n), length=0.5)


# ----------------------------------------------------------------------------- features


def test_c_major_scale_has_known_features():
    features = ev.piece_features(melody(C_MAJOR))
    assert features["scale_consistency"] == pytest.approx(1.0)
    assert features["pitch_range"] == 12
    assert features["n_pitches_used"] == 8
    assert features["mean_melodic_interval"] == pytest.approx(12 / 7)
    assert features["polyphony"] == pytest.approx(1.0)
    assert features["empty_beat_rate"] == pytest.approx(0.0)
    # seven pitch classes, C twice: entropy of (2, 1, 1, 1, 1, 1, 1) / 8
    shares = np.array([2, 1, 1, 1, 1, 1, 1]) / 8
    assert features["pitch_class_entropy"] == pytest.approx(-(shares * np.log2(shares)).sum())
    np.testing.assert_allclose(features["note_length_histogram"], np.eye(12)[2])  # all quarter notes
    np.testing.assert_allclose(features["ioi_histogram"], np.eye(12)[2])


def test_chromatic_set_has_maximal_pitch_class_entropy_and_uniform_histogram():
    features = ev.piece_features(melody(list(range(60, 72))))
    assert features["pitch_class_entropy"] == pytest.approx(math.log2(12))
    np.testing.assert_allclose(features["pitch_class_histogram"], np.full(12, 1 / 12))
    assert features["scale_consistency"] == pytest.approx(7 / 12)


def test_rhythm_histograms_and_polyphony_with_a_chord_track():
    # eighths in the melody; a sustained two-note chord underneath for the whole time
    chords = Track(make_notes([0.0, 0.0], [4.0, 4.0], [48, 55]), name="chords")
    tune = melody([60, 62, 64, 65, 67, 65, 64, 62], length=0.5, extra_tracks=(chords,))
    features = ev.piece_features(tune)
    np.testing.assert_allclose(features["note_length_histogram"], np.eye(12)[3])  # melody only: eighths
    assert features["polyphony"] == pytest.approx(3.0)  # all pitched tracks: melody + two chord notes
    assert features["pitch_range"] == 67 - 48


def test_melody_is_the_highest_note_per_onset_of_the_first_pitched_track():
    drums = Track(make_notes([0.0], [1.0], [36]), name="drums", is_drum=True)
    notes = make_notes([0, 0, 1, 2], [1, 1, 1, 1], [60, 64, 62, 67])
    tune = Tune(tracks=(drums, Track(notes, name="melody"), Track(make_notes([0], [4], [40]), name="bass")))
    np.testing.assert_array_equal(ev.melody_pitches(tune), [64, 62, 67])
    np.testing.assert_array_equal(ev.melody_intervals(tune), [-2, 5])


def test_groove_consistency_is_one_for_repeated_bars_and_lower_otherwise():
    steady = melody([60] * 16, length=1.0)  # four identical 4/4 bars
    assert ev.piece_features(steady)["groove_consistency"] == pytest.approx(1.0)
    onsets = [0, 1, 2, 3, 4.5, 5.5, 6.5, 7.5, 8, 9, 10, 11]
    uneven = Tune(tracks=(Track(make_notes(onsets, [0.5] * 12, [60] * 12)),))
    assert ev.piece_features(uneven)["groove_consistency"] < 1.0


def test_empty_beat_rate_counts_beats_that_no_note_overlaps():
    halves_and_rests = Tune(tracks=(Track(make_notes([0.0, 4.0], [2.0, 2.0], [60, 62])),))
    assert ev.piece_features(halves_and_rests)["empty_beat_rate"] == pytest.approx(2 / 6)
    offbeat = Tune(tracks=(Track(make_notes([0.5, 2.5], [0.25, 0.25], [60, 62])),))  # beats 0 and 2 sound
    assert ev.piece_features(offbeat)["empty_beat_rate"] == pytest.approx(1 / 3)


def test_empty_piece_gives_nan_not_an_error():
    empty = Tune(tracks=(Track(make_notes()),))
    features = ev.piece_features(empty)
    assert math.isnan(features["pitch_class_entropy"])
    assert math.isnan(features["mean_melodic_interval"])
    assert not features["pitch_class_histogram"].any()


def test_excerpt_keeps_the_first_bars_and_cuts_notes_at_the_end():
    tune = melody([60, 62, 64, 65], length=3.0)  # 12 quarters = 3 bars of 4/4; the 2nd note crosses bar 1|2
    cut = ev.excerpt(tune, n_bars=1)
    np.testing.assert_array_equal(cut.tracks[0].notes["pitch"], [60, 62])
    np.testing.assert_allclose(cut.tracks[0].notes["duration"], [3.0, 1.0])
    assert ev.excerpt(tune, n_bars=5) is tune
    with pytest.raises(ValueError, match="positive integer"):
        ev.excerpt(tune, n_bars=0)


def test_to_muspy_rounds_to_ticks_and_drops_drums():
    drums = Track(make_notes([0.0], [1.0], [36]), is_drum=True)
    music = ev.to_muspy(melody([60, 62], length=0.25, extra_tracks=(drums,)))
    assert music.resolution == ev.RESOLUTION
    assert len(music.tracks) == 1
    assert [(n.time, n.duration) for n in music.tracks[0].notes] == [(0, 3), (3, 3)]


# ----------------------------------------------------------------------------- MGEval


def test_intra_set_distances_leave_each_piece_out():
    distances = ev.intra_set_distances(np.array([0.0, 1.0, 3.0]))
    assert sorted(distances) == [1, 1, 2, 2, 3, 3]
    histograms = np.array([[1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(ev.intra_set_distances(histograms), [math.sqrt(2)] * 2)
    inter = ev.inter_set_distances(np.array([0.0, 1.0]), np.array([[3.0], [np.nan]]))
    np.testing.assert_allclose(inter, [3, 2])


def test_identical_sets_overlap_fully_and_distant_sets_do_not():
    rng = np.random.default_rng(0)
    values = rng.normal(size=150)
    same = ev.compare_feature(values, values)
    assert same["overlap_area"] > 0.95
    assert same["kl_divergence"] < 0.02
    far = ev.compare_feature(values, rng.normal(loc=8.0, size=150))
    assert far["overlap_area"] < 0.05
    assert far["kl_divergence"] > 2.0
    near = ev.compare_feature(values, rng.normal(size=150))  # another draw from the same distribution
    assert near["overlap_area"] > 0.85


def test_wider_generated_set_is_told_apart_by_its_intra_set_distances():
    rng = np.random.default_rng(1)
    reference = rng.normal(size=120)
    wide = ev.compare_feature(reference, rng.normal(scale=4.0, size=120))
    assert wide["intra_generated"] > 3 * wide["intra_reference"]
    assert wide["overlap_area"] < 0.6


@pytest.mark.parametrize(
    "reference, generated, overlap",
    [
        (np.ones(10), np.ones(10), 1.0),  # zero variance everywhere: full overlap
        (np.ones(10), np.full(10, 2.0), 0.0),  # zero variance, different places: none
        (np.array([1.0, 1.0]), np.array([1.0, np.nan, np.nan]), None),  # NaNs left out, a single value left
    ],
)
def test_degenerate_inputs_do_not_crash(reference, generated, overlap):
    result = ev.compare_feature(reference, generated)
    assert 0.0 <= result["overlap_area"] <= 1.0
    if overlap is not None:
        assert result["overlap_area"] == pytest.approx(overlap, abs=0.02)
    assert math.isfinite(result["kl_divergence"]) or math.isnan(result["kl_divergence"])


def test_density_integrates_to_one_and_handles_empty_and_single_values():
    grid = np.linspace(-5, 5, 512)
    for values in (np.random.default_rng(2).normal(size=50), np.array([0.5]), np.zeros(7)):
        assert np.trapezoid(ev.density(values, grid), grid) == pytest.approx(1.0, abs=1e-6)
    assert not ev.density(np.array([]), grid).any()
    assert math.isnan(ev.kl_divergence(np.zeros(4), np.ones(4)))


def test_compare_sets_of_tunes_same_vs_uniform_random():
    rng = np.random.default_rng(3)
    reference = [random_melody(rng) for _ in range(30)]
    others = [random_melody(rng) for _ in range(30)]
    ref_features = ev.set_features(reference)
    same = ev.compare_sets(ref_features, ev.set_features(others))
    assert set(same["features"]) == set(ev.FEATURES)
    transposed = ev.compare_sets(ref_features, ev.set_features([t.transpose(30) for t in others]))
    assert same["overlap_area"] > transposed["overlap_area"]
    with pytest.raises(ValueError, match="at least 2 pieces"):
        ev.compare_sets(ref_features, ev.set_features(others[:1]))


# ----------------------------------------------------------------------------- memorisation


def naive_longest(query, sequences):
    best = 0
    for seq in sequences:
        for i in range(len(query)):
            for j in range(len(seq)):
                k = 0
                while i + k < len(query) and j + k < len(seq) and query[i + k] == seq[j + k]:
                    k += 1
                best = max(best, k)
    return best


def test_shared_run_index_finds_a_planted_run_of_exactly_k():
    rng = np.random.default_rng(4)
    training = [list(rng.integers(-5, 6, size=200)) for _ in range(30)]
    k = 23
    planted = training[17][50:50 + k]
    noise = list(rng.integers(20, 30, size=80))  # values no training piece holds
    query = noise[:40] + planted + noise[40:]
    index = ev.SharedRunIndex(training)
    assert index.longest(query) == (k, 17)
    assert index.longest([99, 98]) == (0, None)


def test_shared_run_index_agrees_with_brute_force():
    rng = np.random.default_rng(5)
    for _ in range(20):
        training = [list(rng.integers(0, 3, size=rng.integers(0, 25))) for _ in range(4)]
        query = list(rng.integers(0, 3, size=15))
        length, source = ev.SharedRunIndex(training).longest(query)
        assert length == naive_longest(query, training)
        if length:
            assert naive_longest(query, [training[source]]) == length


def test_runs_never_cross_from_one_training_piece_into_the_next():
    index = ev.SharedRunIndex([[1, 2, 3], [4, 5, 6]])
    assert index.longest([2, 3, 4, 5])[0] == 2


def test_a_copied_training_piece_counts_as_memorised_and_fresh_ones_do_not():
    rng = np.random.default_rng(6)
    training = [random_melody(rng, n=60) for _ in range(20)]
    copied = training[3].transpose(5)  # intervals are transposition-invariant
    fresh = melody([90, 91] * 15)  # alternating semitones: no run of 16 in random melodies
    result = ev.memorisation([copied, fresh], training, threshold=16)
    assert result["longest"][0] == 59
    assert result["source"][0] == 3
    assert result["longest"][1] < 16
    assert result["share"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="threshold"):
        ev.memorisation([copied], training, threshold=0)


# ----------------------------------------------------------------------------- sets and the table


def test_baseline_set_makers():
    reference = [tiny_tune(i, n_notes=16) for i in range(5)]
    uniform = ev.uniform_set(reference, 7, seed=0)
    assert len(uniform) == 7 and all(t.n_notes == 16 for t in uniform)
    assert [t.n_notes for t in ev.uniform_set(reference, 7, seed=0)] == [t.n_notes for t in uniform]
    markov = ev.markov_set(reference, 3, seed=1, n_bars=2)
    assert len(markov) == 3 and all(t.n_notes > 0 for t in markov)
    assert all(t.n_bars <= 2 for t in markov)
    again = ev.markov_set(reference, 3, seed=1, n_bars=2)
    assert [t.n_notes for t in again] == [t.n_notes for t in markov]
    with pytest.raises(ValueError, match="positive integer"):
        ev.uniform_set(reference, 0, seed=0)


def test_interval95_matches_student_t():
    stat = ev.interval95([1.0, 2.0, 3.0])
    assert stat["mean"] == pytest.approx(2.0)
    assert stat["high"] - stat["mean"] == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)
    assert ev.interval95([0.5]) == {"mean": 0.5, "low": None, "high": None, "n": 1}
    assert ev.interval95([float("nan")])["mean"] is None


def test_evaluation_table_has_ceiling_and_rows_and_writes_markdown_and_json(tmp_path):
    rng = np.random.default_rng(7)
    reference = [random_melody(rng) for _ in range(12)]
    training = [random_melody(rng) for _ in range(10)]
    generated = {
        "copies": [[t.transpose(2) for t in training[:6]], [t.transpose(-1) for t in training[4:10]]],
        "uniform": [ev.uniform_set(reference, 6, seed=s) for s in range(2)],
    }
    table = ev.table(generated, reference, training=training, excerpt_bars=4)
    assert [row["name"] for row in table["rows"]] == ["real (ceiling)", "copies", "uniform"]
    rows = {row["name"]: row for row in table["rows"]}
    assert rows["copies"]["memorised_share"]["mean"] == pytest.approx(1.0)
    assert rows["uniform"]["memorised_share"]["mean"] < 0.5
    assert rows["real (ceiling)"]["seeds"] == 2 and rows["real (ceiling)"]["pieces"] == [6, 6]
    assert rows["real (ceiling)"]["overlap_area"]["low"] is not None
    assert table["reference"]["pieces"] == 12
    markdown, data = ev.write_table(table, tmp_path / "out" / "table", title="test")
    text = markdown.read_text()
    assert "| real (ceiling) |" in text and "| uniform |" in text and "memorised (run ≥ 16)" in text
    assert json.loads(data.read_text())["rows"][1]["name"] == "copies"


def test_evaluation_table_needs_enough_reference_pieces_for_the_ceiling():
    reference = [tiny_tune(i) for i in range(3)]
    with pytest.raises(ValueError, match="ceiling"):
        ev.table({"x": [reference]}, reference)
    table = ev.table({"x": [reference]}, reference, ceiling=False)
    assert table["rows"][0]["overlap_area"]["low"] is None  # one seed: no interval


# ----------------------------------------------------------------------------- CLI


def test_cli_evaluate_writes_markdown_and_json(tmp_path, capsys):
    for i in range(6):
        write_tiny_midi(tmp_path / "reference" / f"r{i}.mid", seed=i, n_notes=24)
        write_tiny_midi(tmp_path / "generated" / f"g{i}.mid", seed=100 + i, n_notes=24)
        write_tiny_midi(tmp_path / "training" / f"t{i}.mid", seed=200 + i, n_notes=24)
    out = tmp_path / "out"
    code = cli.main(["evaluate", "--generated", f"model={tmp_path / 'generated'}",
                     "--reference", str(tmp_path / "reference"), "--training", str(tmp_path / "training"),
                     "--out", str(out)])
    assert code == 0
    assert "| model |" in (out / "evaluation.md").read_text()
    data = json.loads((out / "evaluation.json").read_text())
    assert [row["name"] for row in data["rows"]] == ["real (ceiling)", "model"]
    assert "wrote" in capsys.readouterr().out


def test_cli_evaluate_fails_clearly_on_an_empty_or_missing_folder(tmp_path, capsys):
    write_tiny_midi(tmp_path / "reference" / "r.mid")
    (tmp_path / "empty").mkdir()
    reference = str(tmp_path / "reference")
    code = cli.main(["evaluate", "--generated", str(tmp_path / "empty"), "--reference", reference])
    assert code == 2
    assert "no MIDI/ABC/MusicXML files" in capsys.readouterr().err
    code = cli.main(["evaluate", "--generated", str(tmp_path / "nowhere"), "--reference", reference])
    assert code == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_cli_evaluate_help_and_required_arguments(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["evaluate", "--help"])
    assert info.value.code == 0
    assert "--reference" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        cli.main(["evaluate", "--reference", "x"])
    assert info.value.code == 2


@pytest.mark.parametrize("kind", ["normal", "integers", "skewed"])
def test_binned_density_matches_scipy_gaussian_kde(kind):
    from scipy.stats import gaussian_kde

    rng = np.random.default_rng(7)
    values = {"normal": rng.normal(size=20_000), "integers": rng.integers(0, 12, size=20_000).astype(float),
              "skewed": rng.exponential(size=20_000)}[kind]
    grid = np.linspace(values.min() - 1, values.max() + 1, 512)
    exact = gaussian_kde(values)(grid)
    exact /= np.trapezoid(exact, grid)
    fast = ev.density(values, grid)  # over _KDE_EXACT_MAX values: the binned path
    assert np.abs(fast - exact).max() <= 1e-3 * exact.max()


def test_melody_polyphony_counts_notes_that_start_while_the_melody_sounds():
    from musiclib.evaluation import melody_polyphony
    from musiclib.tune import Track, Tune, make_notes

    one_at_a_time = Tune(tracks=(Track(make_notes([0.0, 1.0, 2.0], [1.0, 1.0, 1.0], [60, 62, 64])),))
    assert melody_polyphony(one_at_a_time) == 0.0
    stacked = Tune(tracks=(Track(make_notes([0.0, 0.0, 1.0, 1.5], [1.0, 1.0, 1.0, 0.5], [60, 64, 62, 65])),))
    assert melody_polyphony(stacked) == 0.75  # two notes sound in 0-1 and 1.5-2 of the 2 quarters


def test_model_sets_samples_a_model_at_its_own_nucleus_and_the_markov_chain_at_the_protocol_s(monkeypatch):
    import musiclib.evaluation.sets as sets_module

    seen: dict[str, list] = {"model": [], "markov": []}
    monkeypatch.setattr(sets_module, "lstm_set", lambda bundle, n, **kw: seen["model"].append(kw) or [tiny_tune()] * n)
    monkeypatch.setattr(sets_module, "markov_set", lambda training, n, **kw: seen["markov"].append(kw) or [tiny_tune()] * n)
    fake_bundle = type("FakeBundle", (), {"model": None, "encoding": None, "vocab": None})()
    common = {"training": [tiny_tune()] * 3, "reference": [tiny_tune()] * 3, "n": 2, "n_bars": 2}
    generated, seconds = ev.model_sets(lstm=fake_bundle, seeds=[0, 1], top_p=0.9, temperature=0.85,
                                       markov_top_p=0.95, **common)
    assert sorted(generated) == ["LSTM", "Markov", "uniform"] and all(len(v) == 2 for v in generated.values())
    assert [kw["top_p"] for kw in seen["model"]] == [0.9, 0.9] and seen["model"][0]["temperature"] == 0.85
    assert [kw["top_p"] for kw in seen["markov"]] == [0.95, 0.95]
    ev.model_sets(lstm=fake_bundle, seeds=[0], top_p=0.8, **common)
    assert seen["model"][-1]["top_p"] == 0.8 and seen["markov"][-1]["top_p"] == 0.8  # None: the models' nucleus


def test_model_sets_adds_a_row_per_variant_sampled_with_its_own_options(monkeypatch):
    import musiclib.evaluation.sets as sets_module

    seen: list[tuple] = []
    monkeypatch.setattr(sets_module, "lstm_set", lambda bundle, n, **kw: seen.append((bundle, kw)) or [tiny_tune()] * n)
    lstm, transformer = (type(name, (), {"model": None, "encoding": None, "vocab": None})() for name in "LT")
    common = {"training": [tiny_tune()] * 3, "reference": [tiny_tune()] * 3, "n": 2, "n_bars": 2, "seeds": [0]}
    variant = {"model": "Transformer", "copy_lags": (8,), "copy_weight": 0.9, "top_p": None}
    generated, _ = ev.model_sets(lstm=lstm, transformer=transformer, top_p=0.95, **common,
                                 variants={"Transformer + copy": variant})
    assert list(generated) == ["LSTM", "Transformer", "Transformer + copy", "Markov", "uniform"]
    bundle, options = seen[-1]
    assert bundle is transformer and options == {"seed": 0, "n_bars": 2, "top_p": None, "temperature": 1.0,
                                                 "constrained": True, "copy_lags": (8,), "copy_weight": 0.9,
                                                 "leap_penalty": 0.0}
    seen.clear()  # the priors given to model_sets reach the plain rows and the variants alike
    ev.model_sets(lstm=lstm, transformer=transformer, copy_lags=[8, 4], copy_weight=0.95, leap_penalty=0.2, **common,
                  variants={"Transformer, no leap": {"model": "Transformer", "leap_penalty": 0.0}})
    priors = [(kw["copy_lags"], kw["copy_weight"], kw["leap_penalty"]) for _, kw in seen]
    assert priors == [((8, 4), 0.95, 0.2), ((8, 4), 0.95, 0.2), ((8, 4), 0.95, 0.0)]
    assert variant["model"] == "Transformer"  # the caller's mapping is left as it was
    for bad, message in (({"model": "GAN"}, "'model' must be one of"), ({"model": "LSTM", "beam": 4}, "unknown"),
                         ({"model": "Transformer"}, "no Transformer bundle")):
        with pytest.raises(ValueError, match=message):
            ev.model_sets(lstm=lstm, **common, variants={"row": bad})
    with pytest.raises(ValueError, match="already has a row"):
        ev.model_sets(lstm=lstm, **common, variants={"Markov": {"model": "LSTM"}})
