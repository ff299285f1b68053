"""benchmarks/run.py and its sections in benchmarks/speed/: the FLOP count against a hand count, the
table/JSON plumbing, a tiny section."""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from support import SHARED_DATA

from musiclib.lm.lstm import config_for

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"


@pytest.fixture(scope="module")
def speed():
    """The package benchmarks/speed/, imported as run.py imports it: as ``speed``, from benchmarks/."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(BENCHMARKS))
        for name in ("common", "load", "train", "make_run", "report"):
            importlib.import_module(f"speed.{name}")
        yield sys.modules["speed"]
        for name in [name for name in sys.modules if name == "speed" or name.startswith("speed.")]:
            sys.modules.pop(name)


@pytest.fixture(scope="module")
def bench(speed):
    """benchmarks/run.py, the runner (SECTIONS, parse_sections, main), loaded by path; it shares ``speed``."""
    spec = importlib.util.spec_from_file_location("musiclib_benchmarks_run", BENCHMARKS / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_lstm_flops_matches_a_hand_count(speed):
    # One LSTM(8) over embeddings of 4, vocabulary 10, windows of 5.
    # Gates per token: 4 * 8 * (4 + 8) = 384 multiply-adds = 768 FLOP; output: 2 * 8 * 10 = 160 FLOP.
    config = config_for("tiny", 10, embedding_dim=4, lstm_units=(8,), sequence_length=5)
    flops = speed.train.lstm_flops(config)
    assert flops["forward_per_window"] == 5 * 768 + 5 * 160
    assert flops["train_per_window"] == 3 * (5 * 768 + 5 * 160)
    assert flops["train_per_input_token"] == flops["train_per_predicted_token"] == 3 * (768 + 160)

    last = speed.train.lstm_flops(config.replace(loss_on="last"))  # the output layer runs once per window
    assert last["forward_per_window"] == 5 * 768 + 160
    assert last["train_per_predicted_token"] == 3 * (5 * 768 + 160)


def test_lstm_flops_of_the_default_preset(speed):
    # embedding 128 -> LSTM(256) -> LSTM(256) -> 261 tokens
    per_token = 8 * 256 * (128 + 256) + 8 * 256 * (256 + 256) + 2 * 256 * 261
    assert speed.train.lstm_flops(config_for("default", 261))["train_per_input_token"] == 3 * per_token


def test_sections_parse(bench):
    assert bench.parse_sections(None) == bench.DEFAULT_SECTIONS
    assert "make-run" not in bench.DEFAULT_SECTIONS
    assert bench.parse_sections(["load,render", "load"]) == ["load", "render"]
    assert bench.parse_sections(["all"]) == list(bench.SECTIONS)
    with pytest.raises(ValueError, match="unknown section"):
        bench.parse_sections(["nope"])


def test_paired_timings_alternate_and_count(speed):
    calls = []
    times = speed.common.paired_timings({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                                        repeats=3)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]  # warm-up, then the order rotates
    assert [len(v) for v in times.values()] == [3, 3]


def test_rows_table_and_json_merge(bench, speed, tmp_path, monkeypatch, capsys):
    def fake(settings):
        return [speed.common.row("fake speed (x)", 300.0, 2.0, "x", higher_is_better=True, target=">= 100x",
                                 met=True, note="n", samples=[1.0, 2.0])]

    def other(settings):
        raise speed.common.Skip("no data here")

    monkeypatch.setitem(bench.SECTIONS, "fake", fake)
    monkeypatch.setitem(bench.SECTIONS, "other", other)
    out, markdown = tmp_path / "results.json", tmp_path / "speed.md"
    options = ["--json", str(out), "--markdown", str(markdown)]  # never the committed results
    assert bench.main(["--sections", "fake", "other", *options]) == 0
    assert bench.main(["--sections", "other", *options]) == 0  # merging keeps the fake rows
    result = json.loads(out.read_text())
    fake_row = next(r for r in result["rows"] if r["section"] == "fake")
    assert fake_row["ratio"] == 150.0 and fake_row["met"] is True and fake_row["details"]["samples"] == [1.0, 2.0]
    assert next(r for r in result["rows"] if r["section"] == "other")["skipped"] == "no data here"
    assert len(result["machine_load"]["start"]) == 3
    assert result["sections"]["fake"]["status"] == "ok" and result["sections"]["other"]["status"] == "skipped"
    assert "versions" in result["environment"] and "threads" in result["environment"]
    assert "fake speed (x)" in capsys.readouterr().out
    assert "| fake speed (x) [1] | 300.0 |" in markdown.read_text()
    markdown.unlink()
    assert bench.main(["--report-only", *options]) == 0  # the table again, from the JSON alone
    assert "| fake speed (x) [1] | 300.0 |" in markdown.read_text()


@pytest.mark.skipif(not (SHARED_DATA / "nottingham" / "MIDI").is_dir(), reason="needs ../shared/data/nottingham")
def test_encode_section_runs(speed):
    rows = speed.load.bench_encode(speed.common.Settings.quick())
    assert rows[0]["ours"] > 0 and rows[0]["details"]["tokens"] > 100_000


def test_make_run_epochs_come_from_the_makefile(speed):
    text = (ROOT / "Makefile").read_text()
    epochs = speed.make_run.makefile_epochs()
    assert ("EPOCHS ?=\n" if epochs is None else f"EPOCHS ?= {epochs}\n") in text
    assert speed.make_run._epochs_flag() == ([] if epochs is None else ["--epochs", str(epochs)])


def test_markdown_table_lists_every_row_with_its_note(speed):
    result = {"command": "run.py --sections x", "started_at": "2026-01-01T00:00:00+00:00",
              "machine_load": {"start": [0.1, 0.1, 0.1], "end": [0.2, 0.2, 0.2]},
              "rows": [{"name": "fast thing (s)", "ours": 0.5, "baseline": 50.0, "ratio": 100.0, "target": ">= 50x",
                        "met": True, "note": "baseline: the slow way"},
                       {"name": "slow thing", "skipped": "no data"}]}
    table = speed.report.markdown_table(result)
    assert "| fast thing (s) [1] | 0.5 | 50.0 | 100.0x | >= 50x | yes |" in table
    assert "1. baseline: the slow way" in table and "skipped: no data" in table
    assert "`run.py --sections x`" in table


def test_rerunning_a_section_keeps_the_other_rows_and_names_both_runs(bench, speed, tmp_path, monkeypatch):
    row = speed.common.row
    monkeypatch.setitem(bench.SECTIONS, "one", lambda settings: [row("one (s)", 1.0, 2.0, "s", higher_is_better=False)])
    monkeypatch.setitem(bench.SECTIONS, "two", lambda settings: [row("two (s)", 3.0, 4.0, "s", higher_is_better=False)])
    out, markdown = tmp_path / "results.json", tmp_path / "speed.md"
    options = ["--json", str(out), "--markdown", str(markdown)]
    assert bench.main(["--sections", "one", "two", "--fresh", *options]) == 0
    assert bench.main(["--sections", "two", *options]) == 0
    result = json.loads(out.read_text())
    assert [r["name"] for r in result["rows"]] == ["one (s)", "two (s)"]
    assert [(run["command"].split()[-5:-4], run["sections"]) for run in result["runs"]] == [
        (["--fresh"], ["one"]), (["two"], ["two"])]
    text = markdown.read_text()
    assert "Commands: `run.py --sections one two --fresh" in text and "sections: one)" in text
    assert "`run.py --sections two --json" in text and "sections: two)" in text
    assert bench.main(["--sections", "one", *options]) == 0  # a run with no rows left drops out
    assert [run["sections"] for run in json.loads(out.read_text())["runs"]] == [["two"], ["one"]]


def _benchmark_script(filename: str):
    """A script of benchmarks/, loaded by path under a name of its own."""
    spec = importlib.util.spec_from_file_location(f"musiclib_benchmarks_{Path(filename).stem}", BENCHMARKS / filename)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lstm_budget_settings_build_configs_and_the_table_ranks_by_validation_loss():
    budget = _benchmark_script("lstm_budget.py")
    assert budget.SETTINGS["short"] == {"preset": "short"} and budget.SETTINGS["default"] == {"preset": "default"}
    configs = set()
    for setting in budget.SETTINGS.values():
        overrides = dict(setting)
        configs.add(config_for(overrides.pop("preset"), 50, epochs=1, **overrides))
    assert len(configs) == len(budget.SETTINGS)  # no two settings train the same thing
    rows = [{"setting": "b", "preset": "default", "overrides": {"dropout": 0.0}, "val_nll": 1.4, "test_nll": 1.39,
             "train_seconds": 300.0},
            {"setting": "a", "preset": "short", "overrides": {}, "val_nll": 1.1, "test_nll": 1.09, "train_seconds": 290.0}]
    table = budget.markdown(rows, epochs=1, seed=0, corpus="folk").splitlines()
    assert table[2] == "| a | preset short; — | 1.100 | 1.090 | 290 |"
    assert table[3] == "| b | preset default; dropout=0.0 | 1.400 | 1.390 | 300 |"


@pytest.fixture(scope="module")
def polyphonic():
    """benchmarks/polyphonic.py, loaded by path."""
    return _benchmark_script("polyphonic.py")


def test_polyphonic_table_sets_our_rows_beside_the_published_ones_and_judges_each_target(polyphonic):
    row = {"nll": 5.0, "nll_all": 5.1, "accuracy": 0.3, "valid_nll": 5.2, "epochs": 9, "best_epoch": 7,
           "stopped_because": "patience", "train_minutes": 3.5, "parameters": 1000}
    text = polyphonic.markdown({"jsb-chorales": {"nade": row, "bernoulli": {**row, "nll": 11.09, "best_epoch": None}}},
                               sets=["jsb-chorales"], command="benchmarks/polyphonic.py", machine="test")
    assert "| RNN-NADE (Boulanger-Lewandowski et al. 2012) | 2.31 | 5.19 | 5.60 | 7.05 |" in text
    assert "| **musiclib LSTM-NADE (model 2)** | – | 5.00 | – | – |" in text
    assert "JSB Chorales: 5.000 vs 5.19: met" in text
    assert "Nottingham: not run" in text
    assert "| JSB Chorales | nade | 5.000 | 5.100 | 0.300 | 5.200 | 9 (7) | patience | 3.5 | 1000 |" in text


@pytest.fixture(scope="module")
def transformer_benchmark():
    """benchmarks/transformer_nottingham.py, loaded by path."""
    return _benchmark_script("transformer_nottingham.py")


def test_transformer_speed_rows_compare_the_cache_with_rerunning_the_window(transformer_benchmark):
    """Both ways of generating give the same tokens (within the window), so the speed rows compare like with like."""
    from unittest import mock

    from musiclib.encoding import get_encoding
    from musiclib.lm import sampling
    from musiclib.lm.transformer import CachedStep, build_transformer, transformer_config_for

    encoding = get_encoding("events")
    vocab = encoding.vocabulary()
    config = transformer_config_for("tiny", len(vocab), sequence_length=48)
    parts = sampling.ModelParts(build_transformer(config), vocab, config, encoding, (0,))
    cached = sampling.sample_tokens(parts, max_tokens=40, seed=3, temperature=1.5)
    rerun = transformer_benchmark._RerunWindow(parts.model, config)
    with mock.patch.object(sampling, "_fast_step", lambda model, config: rerun):
        assert sampling.sample_tokens(parts, max_tokens=40, seed=3, temperature=1.5) == cached
    assert transformer_benchmark.tokens_per_second(parts, tokens=16, step=CachedStep(parts.model, config)) > 0


def test_transformer_nll_table_marks_trained_rows(transformer_benchmark):
    rows = [{"model": "LSTM", "nll": 0.587, "perplexity": 1.8, "accuracy": 0.8, "epochs": 8,
             "parameters": 1_000_000, "train_minutes": 32.9},
            {"model": "5-gram KN", "nll": 0.804, "perplexity": 2.23, "accuracy": 0.75, "train_minutes": None}]
    lines = transformer_benchmark.markdown_nll(rows)
    assert lines[2] == "| LSTM | 0.587 | 1.80 | 0.800 | 8 | 1,000,000 | 32.9 |"
    assert lines[3] == "| 5-gram KN | 0.804 | 2.23 | 0.750 | — | — | — |"


@pytest.fixture(scope="module")
def gan_recipe():
    """benchmarks/gan_recipe.py, loaded by path."""
    return _benchmark_script("gan_recipe.py")


def test_gan_recipe_ladder_adds_one_lever_a_step_and_holds_the_default_preset(gan_recipe):
    from musiclib.gan.model import GANConfig
    from musiclib.gan.model import config_for as gan_config_for

    configs = [gan_config_for(preset, **overrides) for _, _, preset, overrides in gan_recipe.LADDER]
    names = [name for name, *_ in gan_recipe.LADDER]
    assert configs[0] == gan_config_for("paper") and configs[names.index("phrase16")] == gan_config_for("default", key_of_c=False)
    assert configs[names.index("ema")] == gan_config_for("default", ema_decay=0.99, key_of_c=False)  # measured and dropped
    assert configs[names.index("meters")] == gan_config_for(
        "default", meters=((4, 4), (6, 8), (3, 4), (2, 4)), opening_condition=True, epochs=24,
        key_of_c=False)
    assert configs[names.index("key-of-c")] == gan_config_for("default")  # the chosen step
    assert configs[1] == GANConfig(critic_steps=3)  # the previous default: plain 4-bar rolls
    for before, after in zip(configs[1:-1], configs[2:]):
        changed = {k for k, v in after.to_dict().items() if before.to_dict()[k] != v}
        assert changed and changed <= set(GANConfig().to_dict()) - {"seed"}
    assert names.count("phrase16") == 1
    rows = {"steps": {"overlap_area": 0.64}, "phrase16": {"overlap_area": 0.7481}, "ema": {"overlap_area": 0.7479}}
    assert gan_recipe.chosen_step(rows, dict.fromkeys(rows)) == "phrase16"  # a tie at 3 digits: the cheaper step
    markov = dict.fromkeys(gan_recipe.TARGET_FEATURES, 0.5)
    above = dict.fromkeys(gan_recipe.TARGET_FEATURES, 0.6)
    rows = {"Markov": {"per_feature": markov}, "phrase16": {"overlap_area": 0.748, "per_feature": above},
            "meters": {"overlap_area": 0.751, "per_feature": {**above, "groove_consistency": 0.4}}}
    # the higher overlap loses when it falls below the Markov chain on one rhythm feature
    assert gan_recipe.chosen_step(rows, {"phrase16": {}, "meters": {}}) == "phrase16"


def test_gan_recipe_table_marks_features_above_the_markov_chain(gan_recipe):
    features = dict.fromkeys(gan_recipe.TARGET_FEATURES, 0.5)
    row = {"overlap_area": 0.6, "c2st_logistic": 0.9, "c2st_boosting": 0.95, "per_feature": dict(features),
           "mean_melodic_interval": 3.0, "bar_repetition": 0.2, "memorised_share": 0.0}
    better = {**row, "per_feature": {**features, "mean_melodic_interval": 0.7}}
    text = gan_recipe.markdown({"steps": better, "Markov": row}, {"steps": {"train_seconds": 600, "musegan": None}},
                               {"steps": "+ steps"}, {"mean_melodic_interval": 2.6, "bar_repetition": 0.55})
    line = next(x for x in text.splitlines() if x.startswith("| + steps"))
    assert "**0.70**" in line and line.count("**") == 2 and "| 10.0 |" in line


def test_lstm_levers_change_one_thing_each_and_the_table_lists_every_row():
    levers = _benchmark_script("lstm_levers.py")
    from musiclib.encoding import get_encoding
    from musiclib.experiments import _bar_token_override
    from musiclib.lm.lstm import lead_context_ids
    from musiclib.prepare import TRANSPOSE_MODES, PrepareConfig

    vocab = get_encoding("events").vocabulary()
    configs = set()
    for name, changes in levers.LEVERS.items():
        changes = dict(changes)
        transpose = changes.pop("transpose", "none")
        assert transpose in TRANSPOSE_MODES and PrepareConfig(dataset="nottingham", transpose=transpose)
        changes.pop("train_stride", None)
        if changes.pop("lead_input", False):  # what train_lstm_experiment makes of it
            changes.update(lead_context_ids(vocab))
        changes.update(_bar_token_override("lstm", "default", vocab, changes))  # the lookback's Bar id
        configs.add((transpose, config_for("default", len(vocab), **{"epochs": levers.BASE_EPOCHS, **changes})))
        assert name == "default" or levers.LEVERS[name], "every lever but the default row changes something"
    assert len(configs) == len(levers.LEVERS)  # no two levers train the same thing
    row = {"changes": {"dropout": 0.0}, "epochs": 2, "weights": 1_020_037, "train_minutes": 8.1, "val_nll": 0.71,
           "overlap_area": 0.8, "c2st_logistic": 0.97, "c2st_boosting": 0.96, "mean_melodic_interval": 2.9,
           "bar_repetition": 0.05, "memorised_share": 0.0}
    real = {"ceiling": {"overlap_area": 0.93, "c2st_logistic": 0.5, "c2st_boosting": 0.5, "memorised_share": 0.05},
            "mean_melodic_interval": 2.55, "bar_repetition": 0.56}
    text = levers.markdown({"rows": {"no dropout": row}, "real": real, "valid_tunes": 103, "n": 100, "seeds": 2,
                            "tokens": "2.1M", "command": "benchmarks/lstm_levers.py"})
    assert ("| no dropout | dropout=0.0 | 2 | 1,020,037 | 8.1 | 0.710 | 0.800 | 0.970 | 0.960 | 2.90 | 0.050 | "
            "0.000 |") in text
    assert "| real (ceiling) | — | — | — | — | — | 0.930 | 0.500 | 0.500 | 2.55 | 0.560 | 0.050 |" in text


def test_train_lstm_experiment_passes_the_window_stride_to_the_trainer(monkeypatch, tmp_path):
    import musiclib as ml
    import musiclib.lm.training

    seen = {}

    class Stop(Exception):
        pass

    def fake_train(*args, **kwargs):
        seen.update(kwargs, config=args[1])
        raise Stop

    monkeypatch.setattr(musiclib.lm.training, "train", fake_train)
    prepared = ml.prepare.prepare(ml.prepare.PrepareConfig(dataset="folk", max_tunes=12))
    with pytest.raises(Stop):
        ml.experiments.train_lstm_experiment(prepared, out_dir=tmp_path, preset="tiny", train_stride=96)
    assert seen["train_stride"] == 96
    with pytest.raises(Stop):  # lead_input=True becomes the vocabulary's Track and Pitch ids
        ml.experiments.train_lstm_experiment(prepared, out_dir=tmp_path / "lead", preset="tiny", lead_input=True)
    assert seen["config"].lead_input
    assert seen["config"].lead_pitch_ids == ml.lm.lead_context_ids(prepared.vocab)["lead_pitch_ids"]
    assert seen["config"].lead_track_ids == tuple(prepared.vocab.id(f"Track_{i}") for i in range(2))


def test_transformer_positions_trains_each_config_in_its_own_folder_and_copies_only_long_tunes():
    positions = _benchmark_script("transformer_positions.py")
    from musiclib.lm.transformer import transformer_config_for
    from musiclib.tune import TimeSignature, Track, Tune, make_notes

    rotary = transformer_config_for("tiny", 50)
    bars = transformer_config_for("tiny", 50, position="rotary-bars", bar_token_id=3)
    assert positions.run_name(rotary) == positions.run_name(transformer_config_for("tiny", 50))
    assert positions.run_name(rotary) != positions.run_name(rotary.replace(epochs=3))
    assert positions.run_name(bars).startswith("rotary-bars-")

    def melody(n_bars: int) -> Tune:
        n = 4 * n_bars
        notes = make_notes(np.arange(n, dtype=float), np.ones(n), np.full(n, 60))
        return Tune(tracks=(Track(notes),), time_signatures=(TimeSignature(0.0, 4, 4),))

    kept = positions.copy_tunes([melody(8), melody(16), melody(20)])
    assert [len(t.bar_starts()) for t in kept] == [16, 16]


def test_evaluate_nottingham_parses_a_variant_row_and_refuses_a_bad_one():
    import argparse

    evaluate = _benchmark_script("evaluate_nottingham.py")
    row, options = evaluate.parse_variant("Transformer + copy 8 × 0.9=Transformer:copy_lags=8/4,copy_weight=0.9,"
                                          "top_p=none,constrained=false,temperature=0.9,leap_penalty=0.2")
    assert row == "Transformer + copy 8 × 0.9"
    assert options == {"model": "Transformer", "copy_lags": (8, 4), "copy_weight": 0.9, "top_p": None,
                       "constrained": False, "temperature": 0.9, "leap_penalty": 0.2}
    args = evaluate.parse_args(["--variant", "LSTM at 0.9=LSTM:temperature=0.9"])
    assert args.variant == [("LSTM at 0.9", {"model": "LSTM", "temperature": 0.9})]
    for bad in ("no model", "row=LSTM", "row=LSTM:beam=4", "row=LSTM:copy_lags=8,4", "row=LSTM:top_p=high"):
        with pytest.raises(argparse.ArgumentTypeError):
            evaluate.parse_variant(bad)
