"""Parameters are validated at the boundary: a wrong type, range or name fails at once.

Each case calls a public entry point (a function, a config, the CLI, a notebook's
parameters) with one bad argument and checks the error type and that the message
names the parameter and what it accepts.
"""

from __future__ import annotations

import math

import nbformat
import numpy as np
import pytest

from musiclib import audio, cli, datasets, gan, io, lm, pipeline, split
from musiclib.encoding import get_encoding
from musiclib.prepare import PrepareConfig
from musiclib.tune import Tempo, Track, Tune, make_notes

BAD = (TypeError, ValueError)  # datasets.DatasetError is a RuntimeError: named where expected


def _load(**kwargs):
    return lambda tmp_path: datasets.load(tmp_path, use_cache=False, **kwargs)


def _make_dataset(**kwargs):
    args = dict(sequence_length=2, batch_size=1, shuffle=True, seed=0, loss_on="all")
    return lambda tmp_path: lm.make_dataset([[1, 2, 3, 4]], **{**args, **kwargs})


def _sample(**kwargs):
    return lambda tmp_path: lm.sample_tokens(None, **{"max_tokens": 8, **kwargs})


def _settings(**kwargs):
    return lambda tmp_path: pipeline.notebook_settings(**{"quick": True, "run_dir": str(tmp_path / "run"), **kwargs})


def _hours_long_tune() -> Tune:
    return Tune(tracks=(Track(make_notes([0, 9_000], [1, 1], [60, 62])),), tempos=(Tempo(0.0, 60.0),), title="long")


# (id, call taking tmp_path, error types, fragments the message must contain)
CASES = [
    # datasets.load and the read limits
    ("load-name-type", lambda t: datasets.load(3), TypeError, ["name", "adl-piano, folk, nottingham", "folder"]),
    ("load-unknown-name", lambda t: datasets.load("no-such-set"), datasets.DatasetError,
     ["unknown dataset 'no-such-set'", "adl-piano, folk, nottingham"]),
    ("load-limits-type", _load(limits={"max_notes": 3}), TypeError, ["limits", "ReadLimits"]),
    ("load-workers-zero", _load(workers=0), ValueError, ["workers", "integer >= 1"]),
    ("load-workers-bool", _load(workers=True), ValueError, ["workers", "integer >= 1"]),
    ("load-workers-float", _load(workers=2.5), ValueError, ["workers", "integer >= 1"]),
    ("load-cache-dir-type", lambda t: datasets.load(t, cache_dir=5), TypeError, ["cache_dir", "folder"]),
    ("load-path-type", lambda t: datasets.load("nottingham", path=5), TypeError, ["path", "folder"]),
    ("load-path-and-folder", lambda t: datasets.load(t, path=t), ValueError, ["path="]),
    *[(f"load-{flag}-type", lambda t, flag=flag: datasets.load(t, **{flag: "yes"}), TypeError, [flag, "True or False"])
      for flag in ("download", "keep_chords", "use_cache", "progress", "allow_unverified")],
    ("read-limits-bytes-type", lambda t: io.ReadLimits(max_bytes="big"), ValueError, ["max_bytes", "positive integer"]),
    ("read-limits-notes-float", lambda t: io.ReadLimits(max_notes=1.5), ValueError, ["max_notes", "positive integer"]),
    ("read-limits-notes-zero", lambda t: io.ReadLimits(max_notes=0), ValueError, ["max_notes", "positive integer"]),
    ("read-limits-quarters-nan", lambda t: io.ReadLimits(max_quarters=math.nan), ValueError,
     ["max_quarters", "positive finite number"]),
    ("read-limits-note-quarters-inf", lambda t: io.ReadLimits(max_note_quarters=math.inf), ValueError,
     ["max_note_quarters", "positive finite number"]),
    ("read-path-type", lambda t: io.read(5), TypeError, ["path", "str or os.PathLike"]),
    ("read-unsupported-suffix", lambda t: io.read(t / "song.mp3"), io.MusicReadError,
     ["unsupported file type '.mp3'", ".mid", ".abc"]),
    # data preparation
    ("prepare-dataset-type", lambda t: PrepareConfig(dataset=5), ValueError, ["dataset", "registry name", "folder"]),
    ("prepare-path-type", lambda t: PrepareConfig(path=5), ValueError, ["path", "folder"]),
    ("prepare-encoding-name", lambda t: PrepareConfig(encoding="pianoroll"), ValueError,
     ["encoding", "'events' or 'paper'"]),
    ("prepare-transpose-name", lambda t: PrepareConfig(transpose="up"), ValueError, ["transpose", "'none', 'c', 'all'"]),
    ("prepare-seed-negative", lambda t: PrepareConfig(seed=-1), ValueError, ["seed", "non-negative integer"]),
    ("prepare-seed-bool", lambda t: PrepareConfig(seed=True), ValueError, ["seed", "non-negative integer"]),
    ("prepare-valid-fraction-range", lambda t: PrepareConfig(valid_fraction=1.5), ValueError,
     ["valid_fraction", "[0, 1)"]),
    ("prepare-test-fraction-type", lambda t: PrepareConfig(test_fraction="0.1"), ValueError, ["test_fraction", "[0, 1)"]),
    ("prepare-fractions-sum", lambda t: PrepareConfig(valid_fraction=0.5, test_fraction=0.5), ValueError,
     ["valid_fraction + test_fraction", "below 1"]),
    ("prepare-max-tunes-small", lambda t: PrepareConfig(max_tunes=2), ValueError, ["max_tunes", "integer >= 3"]),
    ("prepare-encoding-options-type", lambda t: PrepareConfig(encoding_options="x"), ValueError,
     ["encoding_options", "dict"]),
    ("prepare-encoding-options-name", lambda t: PrepareConfig(encoding_options={"bogus": 1}), ValueError,
     ["bogus", "allowed", "lowest_pitch"]),
    ("split-fraction", lambda t: split.split_ids(["a", "b"], valid_fraction=-0.1), ValueError,
     ["valid_fraction", "[0, 1)"]),
    ("split-seed", lambda t: split.split_ids(["a", "b"], seed=-1), ValueError, ["seed", "non-negative"]),
    ("encoding-name", lambda t: get_encoding("midi-like"), ValueError, ["midi-like", "paper", "events", "pianoroll"]),
    ("encoding-option-range", lambda t: get_encoding("events", lowest_pitch=200), ValueError,
     ["lowest_pitch", "0..127"]),
    # generation
    ("sample-max-tokens", _sample(max_tokens=0), ValueError, ["max_tokens", "positive integer"]),
    ("sample-no-length", _sample(max_tokens=None), ValueError, ["max_tokens or n_bars"]),
    ("sample-n-bars-type", _sample(n_bars="4"), ValueError, ["n_bars", "positive integer"]),
    ("sample-temperature-zero", _sample(temperature=0), ValueError, ["temperature", "> 0"]),
    ("sample-temperature-nan", _sample(temperature=math.nan), ValueError, ["temperature", "finite number"]),
    ("sample-top-p-range", _sample(top_p=1.5), ValueError, ["top_p", "(0, 1]"]),
    ("sample-top-k-zero", _sample(top_k=0), ValueError, ["top_k", "positive integer"]),
    ("sample-greedy-type", _sample(greedy="yes"), ValueError, ["greedy", "True or False"]),
    ("sample-seed-negative", _sample(seed=-3), ValueError, ["seed", "non-negative integer"]),
    ("generate-midi-unknown-option", lambda t: lm.generate_midi(None, t / "x.mid", temprature=1.0), TypeError,
     ["temprature"]),
    # training
    ("make-dataset-sequence-length", _make_dataset(sequence_length=0), ValueError,
     ["sequence_length", "positive integer"]),
    ("make-dataset-batch-size", _make_dataset(batch_size=2.0), ValueError, ["batch_size", "positive integer"]),
    ("make-dataset-loss-on", _make_dataset(loss_on="some"), ValueError, ["loss_on", "'all', 'last'"]),
    ("make-dataset-stride", _make_dataset(stride=0), ValueError, ["stride", "positive integer"]),
    ("make-dataset-epoch", _make_dataset(epoch=-1), ValueError, ["epoch", "non-negative integer"]),
    ("make-dataset-seed", _make_dataset(seed="a"), ValueError, ["seed", "non-negative integer"]),
    ("make-dataset-shuffle", _make_dataset(shuffle="yes"), ValueError, ["shuffle", "True or False"]),
    ("make-dataset-drop-remainder", _make_dataset(drop_remainder=None), ValueError, ["drop_remainder", "True or False"]),
    ("train-config-type", lambda t: lm.train(None, {"epochs": 1}, [], [], out_dir=t), TypeError,
     ["config", "LSTMConfig"]),
    # models
    ("lstm-vocab-size", lambda t: lm.LSTMConfig(vocab_size=0), ValueError, ["vocab_size", "positive integer"]),
    ("lstm-units", lambda t: lm.LSTMConfig(vocab_size=9, lstm_units=(0,)), ValueError,
     ["lstm_units", "positive integer"]),
    ("lstm-dropout", lambda t: lm.LSTMConfig(vocab_size=9, dropout=1.0), ValueError, ["dropout", "[0, 1)"]),
    ("lstm-loss-on", lambda t: lm.LSTMConfig(vocab_size=9, loss_on="first"), ValueError, ["loss_on", "'all', 'last'"]),
    ("lstm-learning-rate-bool", lambda t: lm.LSTMConfig(vocab_size=9, learning_rate=True), ValueError,
     ["learning_rate", "positive finite number"]),
    ("lstm-clipnorm-inf", lambda t: lm.LSTMConfig(vocab_size=9, clipnorm=math.inf), ValueError,
     ["clipnorm", "positive finite number or None"]),
    ("lstm-patience", lambda t: lm.LSTMConfig(vocab_size=9, patience=-1), ValueError,
     ["patience", "non-negative integer"]),
    ("lstm-preset-name", lambda t: lm.config_for("huge", 9), ValueError, ["preset", "default", "paper", "tiny"]),
    ("lstm-override-name", lambda t: lm.config_for("tiny", 9, layers=3), ValueError,
     ["layers", "allowed", "lstm_units"]),
    ("lstm-from-dict-key", lambda t: lm.LSTMConfig.from_dict({"vocab_size": 9, "units": 3}), ValueError,
     ["units", "allowed"]),
    ("gan-n-bars", lambda t: gan.GANConfig(n_bars=0), ValueError, ["n_bars"]),
    ("gan-architecture", lambda t: gan.GANConfig(architecture="transformer"), ValueError,
     ["architecture", *gan.ARCHITECTURES]),
    ("gan-loss", lambda t: gan.GANConfig(loss="hinge-ish"), ValueError, ["loss", *gan.LOSSES]),
    ("gan-straight-through", lambda t: gan.GANConfig(straight_through="yes"), ValueError,
     ["straight_through", "True or False"]),
    ("gan-output-bias", lambda t: gan.GANConfig(output_bias=math.nan), ValueError, ["output_bias", "finite number"]),
    ("gan-gp-weight", lambda t: gan.GANConfig(gp_weight=-1.0), ValueError, ["gp_weight"]),
    # audio and analysis
    ("renderer-backend", lambda t: audio.get_renderer("timidity"), ValueError,
     ["backend", "'auto', 'fluidsynth' or 'additive'"]),
    ("renderer-sample-rate", lambda t: audio.get_renderer("additive", sample_rate=100), ValueError,
     ["sample_rate", "integer >= 8000"]),
    ("render-tune-type", lambda t: audio.render("tune.mid", backend="additive"), TypeError, ["tune", "Tune"]),
    ("render-too-long", lambda t: audio.render(_hours_long_tune(), backend="additive"), ValueError,
     ["'long'", "9,001 s", "rendering limit of 3,600 s"]),
    ("spectrogram-sample-rate", lambda t: audio.SpectrogramConfig(sample_rate=0), ValueError,
     ["sample_rate", "integer >= 1000"]),
    ("spectrogram-n-mels-type", lambda t: audio.SpectrogramConfig(n_mels="a"), ValueError, ["n_mels", "integer"]),
    ("spectrogram-hop-length", lambda t: audio.SpectrogramConfig(hop_length=5000), ValueError,
     ["hop_length", "n_fft"]),
    ("spectrogram-unknown-name", lambda t: audio.SpectrogramConfig(fmax=8000), TypeError, ["fmax"]),
    ("excerpt-seconds", lambda t: audio.excerpt(np.zeros(100), sample_rate=100, seconds=-1), ValueError,
     ["seconds", "positive finite number"]),
    ("chroma-kind", lambda t: audio.chroma(np.zeros(2048), kind="x"), ValueError, ["kind", "'stft', 'cqt'"]),
    ("render-set-max-seconds", lambda t: audio.render_set([], renderer=None, max_seconds=-1), ValueError,
     ["max_seconds", "positive number or None"]),
    # the pipeline and notebook settings
    ("pipeline-name", lambda t: pipeline.PipelineConfig(name="a/b"), ValueError, ["name", "plain folder name"]),
    ("pipeline-epochs", lambda t: pipeline.PipelineConfig(epochs=0), ValueError, ["epochs", ">= 1"]),
    ("pipeline-seed", lambda t: pipeline.PipelineConfig(seed=-1), ValueError, ["seed", ">= 0"]),
    ("pipeline-preset", lambda t: pipeline.PipelineConfig(preset="huge"), ValueError, ["preset", "short", "default"]),
    ("notebook-quick-type", _settings(quick="yes"), TypeError, ["quick", "True or False"]),
    ("notebook-seed", _settings(seed=-1), ValueError, ["seed", "non-negative integer"]),
    ("pipeline-seed-type", lambda t: pipeline.PipelineConfig(seed="1"), TypeError, ["seed", "integer"]),
    ("pipeline-quick-type", lambda t: pipeline.PipelineConfig(quick="yes"), BAD, ["quick", "True or False"]),
    ("pipeline-dataset-type", lambda t: pipeline.PipelineConfig(dataset=3), TypeError, ["dataset", "folder"]),
    ("notebook-run-dir-type", _settings(run_dir=5), TypeError, ["run_dir"]),
]

# --------------------------------------------------------------------------- the command line

CLI_CASES = [
    (["prepare", "--dataset", "no-such-corpus"], ["--dataset", "unknown dataset", "folk", "existing folder"]),
    (["prepare", "--seed", "-1"], ["--seed", "integer >= 0"]),
    (["prepare", "--encoding", "pianoroll"], ["--encoding", "invalid choice", "'events', 'paper'"]),
    (["prepare", "--transpose", "up"], ["--transpose", "invalid choice", "'none', 'c', 'all'"]),
    (["prepare", "--max-tunes", "0"], ["--max-tunes", "positive integer"]),
    (["prepare", "--bogus"], ["unrecognized arguments: --bogus"]),
    (["train-lstm", "--preset", "huge"], ["--preset", "invalid choice", "'default', 'short', 'tiny', 'paper'"]),
    (["train-gan", "--preset", "huge"], ["--preset", "invalid choice", "'default', 'short', 'tiny', 'paper'"]),
    (["pipeline", "--preset", "huge"], ["--preset", "invalid choice", "'default', 'short', 'tiny', 'paper'"]),
    (["train-lstm", "--epochs", "many"], ["--epochs", "positive integer"]),
    (["generate", "--bundle", "b", "-n", "0"], ["-n", "positive integer"]),
    (["generate", "--bundle", "b", "--temperature", "0"], ["--temperature", "number > 0"]),
    (["generate", "--bundle", "b", "--temperature", "nan"], ["--temperature", "number > 0"]),
    (["generate", "--bundle", "b", "--top-p", "1.5"], ["--top-p", "(0, 1]"]),
    (["generate", "--bundle", "b", "--bars", "x"], ["--bars", "positive integer"]),
    (["generate"], ["--bundle", "required"]),
    (["generate", "--bundle", "b", "--copy-lags", "0"], ["--copy-lags", "positive bar counts", "8/4"]),
    (["generate", "--bundle", "b", "--copy-lags", "8,4"], ["--copy-lags", "positive bar counts"]),
    (["generate", "--bundle", "b", "--copy-weight", "1"], ["--copy-weight", "[0, 1)"]),
    (["generate", "--bundle", "b", "--leap-penalty", "-1"], ["--leap-penalty", "number >= 0"]),
    (["generate", "--bundle", "b", "--leap-penalty", "inf"], ["--leap-penalty", "finite"]),
    (["render", "x.mid", "--backend", "mp3"], ["--backend", "invalid choice", "'auto', 'fluidsynth', 'additive'"]),
    (["render", "x.mid", "--sample-rate", "0"], ["--sample-rate", "positive integer"]),
    (["pipeline", "--epochs", "0"], ["--epochs", "positive integer"]),
    (["pipeline", "--seed", "1.5"], ["--seed", "integer >= 0"]),
    (["pipeline", "--until", "09"], ["--until", "no notebook '09'", "01_data_prep.ipynb"]),
    (["pipeline", "--until", "train"], ["--until", "no notebook 'train'"]),
    (["frobnicate"], ["invalid choice: 'frobnicate'", "prepare"]),
]


@pytest.mark.parametrize("argv, fragments", CLI_CASES, ids=[" ".join(c[0]) for c in CLI_CASES])
def test_bad_cli_argument_fails_naming_it(argv, fragments, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    missing = [fragment for fragment in fragments if fragment not in err]
    assert not missing, f"stderr {err!r} lacks {missing}"


def test_errors_after_parsing_name_the_command(tmp_path, capsys):
    assert cli.main(["render", str(tmp_path / "missing.mid"), "--out", str(tmp_path / "wav")]) == 2
    assert "musiclib render: error: no such file or folder" in capsys.readouterr().err


# --------------------------------------------------------------------------- notebook parameters

NOTEBOOK_01 = pipeline.notebooks_dir() / "01_data_prep.ipynb"

NOTEBOOK_01_CHECKS = {
    # parameter -> (where the notebook passes it, a bad value there, error, fragments)
    "dataset": (lambda v, t: datasets.load(v), 7, TypeError, ["name"]),
    "data_path": (lambda v, t: PrepareConfig(path=v), 7, ValueError, ["path"]),
    "encoding": (lambda v, t: PrepareConfig(encoding=v), "midi", ValueError, ["encoding", "'events' or 'paper'"]),
    "seed": (lambda v, t: pipeline.notebook_settings(quick=True, run_dir=str(t), seed=v), -1, ValueError, ["seed"]),
    "quick": (lambda v, t: pipeline.notebook_settings(quick=v, run_dir=str(t)), "no", TypeError, ["quick"]),
    "run_dir": (lambda v, t: pipeline.notebook_settings(quick=True, run_dir=v), None, TypeError, []),
}


def _notebook_parameters(path) -> set[str]:
    cell = next(c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", []))
    return {line.split(":")[0].split("=")[0].strip() for line in cell.source.splitlines()
            if line.strip() and not line.lstrip().startswith("#")}


def test_every_notebook_01_parameter_has_a_validation_case():
    assert _notebook_parameters(NOTEBOOK_01) == set(NOTEBOOK_01_CHECKS)


@pytest.mark.parametrize("name", sorted(NOTEBOOK_01_CHECKS))
def test_bad_notebook_01_parameter_fails_naming_it(name, tmp_path):
    call, value, error, fragments = NOTEBOOK_01_CHECKS[name]
    with pytest.raises(error) as info:
        call(value, tmp_path)
    assert all(fragment in str(info.value) for fragment in fragments), str(info.value)


# --------------------------------------------------------------------------- every notebook's parameters cell
# Each case runs a notebook's first cells in this process, as papermill would: the imports, the
# parameters cell, the injected (bad) value, then the cell that checks the parameters. The check
# must fail there, naming the parameter, before the notebook loads a corpus or a model.

NOTEBOOK_BAD_VALUES = {
    # parameter -> [(bad value, error, fragment of what it accepts)]
    "dataset": [(7, TypeError, "registry name or a folder"), ("", ValueError, "non-empty str")],
    "data_path": [(7, TypeError, "a folder (str")],
    "encoding": [("midi", ValueError, "'events', 'paper'"), (1, TypeError, "'events', 'paper'")],
    "preset": [("huge", ValueError, "'default', 'short', 'tiny', 'paper'"), (None, TypeError, "'short'")],
    "epochs": [(-1, ValueError, "integer >= 0"), ("3", TypeError, "integer >= 0"),
               (2.5, TypeError, "integer")],
    "seed": [(-1, ValueError, "non-negative integer"), (True, TypeError, "non-negative integer")],
    "quick": [("no", TypeError, "True or False"), (1, TypeError, "True or False")],
    "run_dir": [(None, TypeError, "folder path"), ("", ValueError, "non-empty str")],
    "n_pieces": [(0, ValueError, "integer >="), ("many", TypeError, "integer >=")],
    "temperatures": [([], ValueError, "non-empty list"), ([1.0, 0], ValueError, "numbers > 0"),
                     ("1.0", TypeError, "list of numbers"), ([math.nan], TypeError, "list of numbers")],
    "top_p": [(0, ValueError, "(0, 1]"), (1.5, ValueError, "(0, 1]"), ("0.9", TypeError, "(0, 1]")],
    "set_temperature": [(0, ValueError, "number > 0"), ("0.85", TypeError, "number > 0"),
                        (math.inf, TypeError, "finite number")],
    "set_top_p": [(0, ValueError, "(0, 1]"), (2, ValueError, "(0, 1]")],
    "lstm_temperature": [(0, ValueError, "number > 0"), (math.inf, TypeError, "finite number")],
    "lstm_top_p": [(1.5, ValueError, "(0, 1]"), ("0.9", TypeError, "(0, 1]")],
    "markov_top_p": [(0, ValueError, "(0, 1]")],
    "copy_lags": [([], ValueError, "non-empty list"), ([8, 0], ValueError, "integers >= 1"),
                  ("8/4", TypeError, "list of integers"), ([8.0], TypeError, "list of integers")],
    "copy_weight": [(1, ValueError, "[0, 1)"), (-0.1, ValueError, "[0, 1)"), ("0.9", TypeError, "[0, 1)")],
    "leap_penalty": [(-0.1, ValueError, ">= 0"), ("0.2", TypeError, "nats per semitone"),
                     (math.inf, TypeError, "finite")],
    "lstm_copy_lags": [([], ValueError, "non-empty list"), ("8/4", TypeError, "list of integers")],
    "lstm_copy_weight": [(1.0, ValueError, "[0, 1)"), ("0.95", TypeError, "[0, 1)")],
    "lstm_leap_penalty": [(-1, ValueError, ">= 0"), (None, TypeError, "nats per semitone")],
    "n_bars": [(0, ValueError, "integer >= 1"), (4.0, TypeError, "integer >= 1")],
    "primer_bars": [(0, ValueError, "integer >= 1"), ("2", TypeError, "integer >= 1")],
    "generated_dirs": [(["lstm/midi/set"], TypeError, "comma-separated folders")],
    "excerpt_start": [(-1.0, ValueError, ">= 0"), ("0", TypeError, "seconds"),
                      (math.inf, TypeError, "finite")],
    "backend": [("timidity", ValueError, "'auto', 'fluidsynth', 'additive'")],
    "seeds": [(0, ValueError, "integer >= 1"), (2.0, TypeError, "integer >= 1")],
    "threshold": [(0, ValueError, "integer >= 1"), ("16", TypeError, "integer >= 1")],
    "benchmark_set": [("bach", ValueError, "'nottingham', 'jsb-chorales'"), (2, TypeError, "'musedata'")],
    "polyphonic_path": [(3, TypeError, ".mat files")],
    "frame_epochs": [(0, ValueError, "integer >= 1"), (1.5, TypeError, "integer >= 1")],
    "references": [(["jsb-chorales-nade"], TypeError, "reference bundle names")],
    "n_frames": [(0, ValueError, "integer >= 1"), ("64", TypeError, "integer >= 1")],
    "transformer_preset": [("paper", ValueError, "'short', 'tiny', 'default', 'large'"), (1, TypeError, "'large'")],
    "transformer_reference": [("", ValueError, "reference bundle name"), (None, TypeError, "reference bundle name")],
}
NOTEBOOK_SPECIFIC = {
    # notebook -> [(parameter, bad value, error, fragment)]: bounds tighter than NOTEBOOK_BAD_VALUES's
    "05_spectrogram_analysis.ipynb": [("n_pieces", 1, ValueError, "integer >= 2")],
    "06_evaluation.ipynb": [("n_pieces", 3, ValueError, "integer >= 4")],
}


def _code_cells(name: str) -> list[str]:
    cells = nbformat.read(pipeline.notebooks_dir() / name, as_version=4).cells
    return [cell.source for cell in cells if cell.cell_type == "code"]


def run_checking_cells(name: str, overrides: dict, run_dir) -> dict:
    """Run the imports, parameters and checking cells of notebook ``name`` with ``overrides`` injected."""
    imports, parameters, checking = _code_cells(name)[:3]
    namespace: dict = {"__name__": "__notebook__"}
    exec(compile(imports, f"{name}[imports]", "exec"), namespace)
    exec(compile(parameters, f"{name}[parameters]", "exec"), namespace)
    namespace.update({"quick": True, "run_dir": str(run_dir), **overrides})  # papermill's injected cell
    exec(compile(checking, f"{name}[checks]", "exec"), namespace)
    return namespace


NOTEBOOK_CASES = [
    pytest.param(name, parameter, value, error, fragment, id=f"{name[:2]}-{parameter}-{value!r}")
    for name in pipeline.NOTEBOOKS
    for parameter in sorted(_notebook_parameters(pipeline.notebooks_dir() / name))
    for value, error, fragment in NOTEBOOK_BAD_VALUES.get(parameter, [])
] + [
    pytest.param(name, parameter, value, error, fragment, id=f"{name[:2]}-{parameter}-{value!r}-specific")
    for name, cases in NOTEBOOK_SPECIFIC.items()
    for parameter, value, error, fragment in cases
]


def test_every_notebook_parameter_has_bad_value_cases():
    for name in pipeline.NOTEBOOKS:
        parameters = _notebook_parameters(pipeline.notebooks_dir() / name)
        missing = parameters - set(NOTEBOOK_BAD_VALUES)
        assert not missing, f"{name}: no bad-value cases for {missing}"
    assert set(NOTEBOOK_BAD_VALUES) == set(pipeline.PARAMETER_RULES)


@pytest.mark.parametrize("name, parameter, value, error, fragment", NOTEBOOK_CASES)
def test_bad_notebook_parameter_fails_in_the_checking_cell_naming_it(name, parameter, value, error, fragment,
                                                                     tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    with pytest.raises(error) as info:
        run_checking_cells(name, {parameter: value}, tmp_path / "run")
    message = str(info.value)
    assert f"parameter {parameter} must be" in message, message
    assert fragment in message and repr(value) in message, message


@pytest.mark.parametrize("name", pipeline.NOTEBOOKS)
def test_default_notebook_parameters_pass_the_checking_cell(name, tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    if name == "04_generate.ipynb":  # the cell goes on to load notebook 02's bundle, absent here
        with pytest.raises(lm.BundleError, match="no model bundle"):
            run_checking_cells(name, {}, tmp_path / "run")
        return
    namespace = run_checking_cells(name, {}, tmp_path / "run")
    assert namespace["settings"].run_dir == (tmp_path / "run").resolve()


def test_check_parameters_rejects_an_unknown_name():
    with pytest.raises(ValueError, match=r"unknown notebook parameter\(s\) \['temprature'\]"):
        pipeline.check_parameters({"temprature": 1.0})
