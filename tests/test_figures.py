"""musiclib.figures and the commands that write figures: analyze, figures, train-gan."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from musiclib import audio, cli, figures, io  # noqa: E402
from musiclib.tune import Track, Tune, make_notes  # noqa: E402

CONFIG = audio.SpectrogramConfig()


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def melody(seed: int, *, n_notes: int = 32, first: float = 0.0, title: str = "") -> Tune:
    """A one-track tune of eighth notes (120 qpm: 0.25 s each) starting at ``first`` quarters."""
    pitches = 60 + np.random.default_rng(seed).integers(0, 12, size=n_notes)
    notes = make_notes(first + np.arange(n_notes) * 0.5, np.full(n_notes, 0.5), pitches)
    return Tune(tracks=(Track(notes, name="melody"),), title=title or f"melody {seed}")


def test_lstm_loss_figure_has_both_curves_and_the_unigram_line():
    fig = figures.lstm_loss_figure({"loss": [2.0, 1.5, 1.2], "val_loss": [2.1, 1.7, 1.6]}, unigram_nll=3.0)
    (ax,) = fig.axes
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["train", "validation", "unigram entropy (test)"]
    assert list(ax.get_lines()[1].get_ydata()) == [2.1, 1.7, 1.6]


def test_lstm_loss_figure_names_a_missing_key():
    with pytest.raises(KeyError, match="val_loss"):
        figures.lstm_loss_figure({"loss": [1.0]})


def test_gan_loss_figure_shows_losses_then_scores():
    history = {"d_loss": [1, 0.5], "g_loss": [0.2, 0.4], "real_score": [1, 2], "fake_score": [0, -1], "gp": [0.1, 0]}
    fig = figures.gan_loss_figure(history)
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["d_loss", "g_loss"]
    assert [line.get_label() for line in fig.axes[1].get_lines()] == ["real_score", "fake_score", "gp"]


def test_excerpts_start_after_the_first_note_and_have_the_excerpt_length():
    renderer = audio.AdditiveRenderer(sample_rate=CONFIG.sample_rate)
    sets = {"real": [melody(0, first=2.0)], "generated": [melody(1, n_notes=4), melody(2)]}
    clips = figures.excerpts(sets, renderer=renderer, config=CONFIG, excerpt_start=0.5)
    assert list(clips) == ["real", "generated"]
    assert clips["real"].start == pytest.approx(1.0 + 0.5)  # first note at 2 quarters = 1 s at 120 qpm
    assert clips["generated"].tune.title == "melody 2"  # the first piece is too short for a full excerpt
    for clip in clips.values():
        assert len(clip.clip) == int(CONFIG.excerpt_seconds * CONFIG.sample_rate)
        assert np.abs(clip.clip).max() > 0.01  # sound, not silence
        assert clip.backend == "additive"


def test_excerpts_reject_bad_arguments():
    renderer = audio.AdditiveRenderer(sample_rate=CONFIG.sample_rate)
    with pytest.raises(ValueError, match="excerpt_start"):
        figures.excerpts({"a": [melody(0)]}, renderer=renderer, excerpt_start=-1)
    with pytest.raises(ValueError, match="no pieces"):
        figures.excerpts({"a": []}, renderer=renderer)


def test_excerpt_figures_are_saved_under_stable_names(tmp_path):
    renderer = audio.AdditiveRenderer(sample_rate=CONFIG.sample_rate)
    clips = figures.excerpts({"real": [melody(0)], "LSTM": [melody(1)], "GAN": [melody(2)]}, renderer=renderer)
    made = figures.excerpt_figures(clips, config=CONFIG, out_dir=tmp_path)
    assert set(made) == {"fig3_4", "fig5_6", "fig7_8"}
    for key, fig in made.items():
        assert (tmp_path / figures.FIGURE_FILES[key]).stat().st_size > 10_000
        panels = [ax for ax in fig.axes if ax.get_title()]
        assert [ax.get_title().split("\n")[0] for ax in panels] == ["real", "LSTM", "GAN"]


def test_set_comparison_figure_has_a_panel_per_feature():
    renderer = audio.AdditiveRenderer(sample_rate=CONFIG.sample_rate)
    feats = {
        label: audio.set_features(audio.render_set([melody(s) for s in seeds], renderer=renderer),
                                     config=CONFIG, label=label)
        for label, seeds in (("real", (0, 1, 2)), ("other", (3, 4, 5)))
    }
    fig = figures.set_comparison_figure(feats, title="three pieces each")
    titles = [ax.get_title() for ax in fig.axes]
    assert "Mean pitch-class profile per set" in titles
    assert sum("a dot per piece" in t for t in titles) == len(audio.SCALAR_FEATURES)


def fake_run(tmp_path):
    run = tmp_path / "runs" / "canonical"
    (run / "figures").mkdir(parents=True)
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    for name in ("fig2_lstm_loss.png", "fig3_4_log_mel.png", "corpus_statistics.png"):
        fig.savefig(run / "figures" / name)
    manifest = {"name": "canonical", "git_commit": "abc123", "parameters": {"dataset": "folk", "epochs": 3},
                "synthesizer": "fluidsynth (TimGM6mb.sf2)", "notebooks": {"01_data_prep.ipynb": {"seconds": 12.0}}}
    (run / "manifest.json").write_text(json.dumps(manifest))
    return run


def test_publish_copies_figures_and_says_where_they_came_from(tmp_path):
    run = fake_run(tmp_path)
    out = tmp_path / "figures"
    copied = figures.publish(run, out)
    assert sorted(p.name for p in copied) == ["corpus_statistics.png", "fig2_lstm_loss.png", "fig3_4_log_mel.png"]
    assert (out / "fig2_lstm_loss.png").read_bytes() == (run / "figures" / "fig2_lstm_loss.png").read_bytes()
    readme = (out / "README.md").read_text()
    assert "abc123" in readme and "epochs=3" in readme and "fluidsynth" in readme
    assert "Missing from this run: fig1_gan_losses.png" in readme  # never silently dropped
    assert not list(out.glob(".*.tmp"))


def test_publish_without_figures_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="make run"):
        figures.publish(tmp_path, tmp_path / "out")


def test_cli_figures_command(tmp_path, capsys):
    run = fake_run(tmp_path)
    assert cli.main(["figures", str(run), "--out", str(tmp_path / "published")]) == 0
    assert "copied 3 figures" in capsys.readouterr().out


def write_folder(folder, seeds, **kwargs):
    folder.mkdir(parents=True)
    for seed in seeds:
        io.write_midi(melody(seed, **kwargs), folder / f"piece {seed}.mid")
    return folder


def test_cli_analyze_writes_the_seed_figures_and_the_comparison(tmp_path, capsys):
    reference = write_folder(tmp_path / "real", range(4))
    generated = write_folder(tmp_path / "made", range(10, 14))
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "history.json").write_text(json.dumps({"loss": [2.0, 1.0], "val_loss": [2.2, 1.4]}))
    out = tmp_path / "analysis"
    code = cli.main(["analyze", "--reference", str(reference), "--generated", f"LSTM={generated}", "--out", str(out),
                     "--backend", "additive", "--max-seconds", "5", "--lstm-bundle", str(bundle)])
    assert code == 0
    names = sorted(p.name for p in (out / "figures").iterdir())
    assert names == sorted(["fig2_lstm_loss.png", "fig3_4_log_mel.png", "fig5_6_zcr.png", "fig7_8_chroma.png",
                            "set_comparison.png"])
    result = json.loads((out / "analysis.json").read_text())
    assert result["backend"] == "additive"
    assert result["sets"]["LSTM"]["sources"] == [str(generated)]
    assert "Distance to reference" in capsys.readouterr().out


def test_cli_analyze_rejects_a_bundle_without_history(tmp_path, capsys):
    reference = write_folder(tmp_path / "real", range(2))
    code = cli.main(["analyze", "--reference", str(reference), "--generated", str(reference), "--out",
                     str(tmp_path / "out"), "--backend", "additive", "--gan-bundle", str(tmp_path)])
    assert code == 2
    assert "history.json" in capsys.readouterr().err


def test_cli_train_gan_trains_saves_a_bundle_and_writes_pieces(tmp_path, capsys):
    corpus = write_folder(tmp_path / "corpus", range(14), n_notes=64)  # 8 bars of 4/4 each: 5 phrases per tune
    out = tmp_path / "gan"
    code = cli.main(["train-gan", "--dataset", str(corpus), "--preset", "tiny", "--epochs", "1", "--out", str(out),
                     "-n", "2", "--phrases-per-piece", "2"])
    assert code == 0
    assert {"generator.keras", "critic.keras", "config.json", "history.json"} <= {p.name for p in (out / "bundle").iterdir()}
    pieces = sorted((out / "midi").glob("*.mid"))
    assert len(pieces) == 2
    assert "collapse ratio" in capsys.readouterr().out


def test_cli_train_gan_with_too_few_phrases_fails_before_training(tmp_path, capsys):
    corpus = write_folder(tmp_path / "corpus", range(4), n_notes=8)  # one bar each: no four-bar phrase
    assert cli.main(["train-gan", "--dataset", str(corpus), "--preset", "tiny", "--out", str(tmp_path / "g")]) == 2
    assert "needs at least" in capsys.readouterr().err
    assert not (tmp_path / "g").exists()
