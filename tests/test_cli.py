"""The musiclib command: argument validation and the prepare / train / generate / render path."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from musiclib import cli, io
from musiclib.tune import Track, Tune, make_notes


def stray_stderr(text: str) -> list[str]:
    """stderr lines that look like TensorFlow/absl/CUDA start-up logging (none may reach the user)."""
    return [line for line in text.splitlines()
            if "absl::InitializeLog" in line or "cuda" in line.lower() or "oneDNN" in line
            or line[:1] in "IWE" and line[1:5].isdigit()]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "musiclib.cli", *args], capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["prepare", "--dataset", "no-such-corpus"], "unknown dataset"),
        (["prepare", "--seed", "-1"], "integer >= 0"),
        (["generate", "--bundle", "x", "-n", "0"], "positive integer"),
        (["train-lstm", "--epochs", "many"], "positive integer"),
        (["render"], "required"),
    ],
)
def test_bad_arguments_fail_clearly(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_preset_choices_are_the_libraries_presets():
    from musiclib.gan.model import PRESETS as GAN_PRESET_TABLE
    from musiclib.lm.lstm import PRESETS
    from musiclib.pipeline import PRESET_NAMES

    # the CLI offers PRESET_NAMES for train-lstm, train-gan and pipeline (tests/test_validation.py)
    assert set(PRESETS) == set(GAN_PRESET_TABLE) == set(PRESET_NAMES)


def test_help_lists_every_stage():
    out = run_cli("--help").stdout
    for command in ("prepare", "train-lstm", "train-gan", "generate", "render", "analyze", "evaluate", "figures",
                    "pipeline", "datasets", "download"):
        assert command in out


def test_missing_bundle_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["generate", "--bundle", str(tmp_path / "nothing"), "--out", str(tmp_path / "out")]) == 2
    assert "error" in capsys.readouterr().err


def write_corpus(folder, n=12):
    folder.mkdir()
    for i in range(n):
        pitches = [60 + (i + k * 3) % 12 for k in range(16)]
        tune = Tune(tracks=(Track(make_notes([k * 0.5 for k in range(16)], [0.5] * 16, pitches), name="melody"),))
        io.write_midi(tune, folder / f"tune {i}.mid")
    (folder / "broken.mid").write_bytes(b"MThd garbage")


def test_prepare_train_generate_render_end_to_end(tmp_path):
    corpus = tmp_path / "corpus"
    write_corpus(corpus)
    out = tmp_path / "lstm"
    result = run_cli("train-lstm", "--dataset", str(corpus), "--preset", "tiny", "--epochs", "1", "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    assert not stray_stderr(result.stderr), result.stderr[-2000:]  # TensorFlow's start-up lines are filtered
    assert "broken.mid" in result.stdout  # the skip report names the bad file
    assert (out / "bundle" / "model.keras").exists()
    table = json.loads((out / "nll_table.json").read_text())
    assert [row["model"] for row in table][0] == "lstm" and len(table) == 6  # LSTM + orders 1..5
    gen = tmp_path / "gen"
    result = run_cli("generate", "--bundle", str(out / "bundle"), "--out", str(gen), "-n", "2", "--bars", "2",
                     "--primer", str(corpus / "tune 0.mid"), "--primer-bars", "1")
    assert result.returncode == 0, result.stderr[-2000:]
    midis = sorted(gen.glob("*.mid"))
    assert len(midis) == 2
    result = run_cli("render", str(gen), "--out", str(tmp_path / "wav"), "--backend", "additive")
    assert result.returncode == 0, result.stderr[-2000:]
    wavs = list((tmp_path / "wav").glob("*.wav"))
    skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped")]
    assert len(wavs) >= 1 and len(wavs) + len(skipped) == 2  # an untrained model may write an empty piece


def test_generate_samples_a_reference_bundle_with_the_bar_copy_prior(tmp_path, capsys):
    out = tmp_path / "copied"
    assert cli.main(["generate", "--bundle", "folk-transformer", "-n", "2", "--bars", "4", "--copy-lags", "2/1",
                     "--copy-weight", "0.9", "--leap-penalty", "0.2", "--out", str(out)]) == 0
    record = json.loads((out / "generation.json").read_text())
    assert record["copy_lags"] == [2, 1] and record["copy_weight"] == 0.9 and record["leap_penalty"] == 0.2
    assert len(list(out.glob("*.mid"))) == 2 and "0 ill-formed tokens" in capsys.readouterr().out
    assert cli.main(["generate", "--bundle", "folk-transformer", "--copy-weight", "0.5", "--out", str(out)]) == 2
    assert "--copy-weight needs --copy-lags" in capsys.readouterr().err
