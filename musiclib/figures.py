"""The seed paper's figures and ours, from results to saved PNG files.

Notebooks 02, 03 and 05 and the ``musiclib analyze`` / ``musiclib figures`` commands
build their figures here, so a figure looks the same wherever it is made and lands
under the same stable name:

==========================  =====================================================
file                        what
==========================  =====================================================
``fig1_gan_losses.png``     GAN critic/generator losses (the seed's Figure 1)
``fig2_lstm_loss.png``      LSTM training/validation loss (Figure 2)
``fig3_4_log_mel.png``      log-mel spectrograms of 4-s excerpts (Figures 3–4)
``fig5_6_zcr.png``          zero-crossing rate of the same excerpts (Figures 5–6)
``fig7_8_chroma.png``       chromagrams of the same excerpts (Figures 7–8)
``set_comparison.png``      audio features over whole sets (ours)
==========================  =====================================================

The seed showed one generated piece per figure; here each figure puts a real piece
from the same corpus beside the generated ones, on shared scales. Figure builders
return the ``matplotlib`` figure and never call ``show()``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from musiclib import plots
from musiclib._files import atomic_path, atomic_write, read_json
from musiclib.audio.analysis import SpectrogramConfig, chroma, excerpt, log_mel, zero_crossing_rate
from musiclib.tune import Tune

__all__ = [
    "FIGURE_FILES",
    "Excerpt",
    "excerpts",
    "lstm_loss_figure",
    "gan_loss_figure",
    "log_mel_figure",
    "zcr_figure",
    "chroma_figure",
    "excerpt_figures",
    "set_comparison_figure",
    "publish",
]

FIGURE_FILES = {
    "fig1": "fig1_gan_losses.png",
    "fig2": "fig2_lstm_loss.png",
    "fig3_4": "fig3_4_log_mel.png",
    "fig5_6": "fig5_6_zcr.png",
    "fig7_8": "fig7_8_chroma.png",
    "set_comparison": "set_comparison.png",
}
"""Stable file names of the reference figures (keys: the seed's figure numbers, and ours)."""

_DB_FLOOR = -80.0  # colour-scale floor of the log-mel panels, dB below each excerpt's loudest band
_PANEL_WIDTH = 4.4  # inches per side-by-side panel
_TITLE_CHARS = 38


def _pyplot():
    import matplotlib.pyplot as plt

    return plt


# ------------------------------------------------------------------------- loss curves
def lstm_loss_figure(history: Mapping[str, Sequence[float]], *, unigram_nll: float | None = None):
    """The LSTM's training and validation loss per epoch (the seed's Figure 2).

    Parameters
    ----------
    history
        Per-epoch values with keys ``loss`` and ``val_loss`` (nats per token), as in a
        bundle's ``history.json``.
    unigram_nll
        If given, a dashed line at the unigram baseline's test NLL: a model above it
        has learnt less than token frequencies.

    Returns
    -------
    matplotlib.figure.Figure
    """
    for key in ("loss", "val_loss"):
        if key not in history:
            raise KeyError(f"history has no {key!r} (keys: {sorted(history)})")
    fig, ax = _pyplot().subplots(figsize=(8, 4.5))
    plots.loss_curves({"train": history["loss"], "validation": history["val_loss"]}, ax=ax,
                      title="LSTM loss per epoch (nats per token)")
    if unigram_nll is not None:
        ax.axhline(unigram_nll, linestyle="--", color="grey", label="unigram entropy (test)")
        ax.legend()
    return fig


def gan_loss_figure(history: Mapping[str, Sequence[float]]):
    """Critic and generator losses (the seed's Figure 1), and the critic's scores.

    Parameters
    ----------
    history
        A GAN history (``d_loss``, ``g_loss``, ``real_score``, ``fake_score``, ``gp``
        per epoch), as in a GAN bundle's ``history.json``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = _pyplot().subplots(1, 2, figsize=(13, 4), layout="constrained")
    plots.loss_curves(history, keys=["d_loss", "g_loss"], ax=axes[0], title="GAN losses (the seed's Figure 1)")
    plots.loss_curves(history, keys=["real_score", "fake_score", "gp"], ax=axes[1],
                      title="critic scores and gradient penalty")
    axes[1].set_ylabel("score")
    return fig


# ------------------------------------------------------------------------- excerpts
@dataclass(frozen=True)
class Excerpt:
    """One rendered piece and the 4-second excerpt the figures show.

    Attributes
    ----------
    label
        The set it stands for (e.g. ``"real (reference)"``).
    tune
        The piece.
    audio
        The whole rendering (mono float32).
    sample_rate
        Hz.
    start
        Start of the excerpt in seconds.
    clip
        The excerpt's samples.
    backend
        Synthesizer that rendered it.
    """

    label: str
    tune: Tune
    audio: np.ndarray
    sample_rate: int
    start: float
    clip: np.ndarray
    backend: str

    @property
    def title(self) -> str:
        """Two lines: the set, then the piece's title (shortened)."""
        title = self.tune.title or ""
        if title.startswith("uniform random notes ("):
            title = "shaped like " + title.removeprefix("uniform random notes (").removesuffix(")")
        if len(title) > _TITLE_CHARS + 1:
            title = title[:_TITLE_CHARS] + "…"
        return f"{self.label}\n{title}"


def _first_note_seconds(tune: Tune) -> float:
    notes = tune.all_notes()
    return tune.seconds(float(notes["start"].min())) if len(notes) else 0.0


def _long_enough(tunes: Sequence[Tune], *, needed: float) -> Tune:
    """The first tune with ``needed`` seconds after its first note (else the first tune)."""
    for tune in tunes:
        if tune.duration_seconds >= _first_note_seconds(tune) + needed:
            return tune
    return tunes[0]


def excerpts(
    sets: Mapping[str, Sequence[Tune]],
    *,
    renderer: Any,
    config: SpectrogramConfig = SpectrogramConfig(),
    excerpt_start: float = 0.0,
) -> dict[str, Excerpt]:
    """Render one piece per set and cut the excerpt the seed's figures show.

    The piece is the set's first with a full excerpt after its first note; the excerpt
    starts ``excerpt_start`` seconds after that note (ABC folk tunes often open with a
    pickup, i.e. silence).

    Parameters
    ----------
    sets
        Label → pieces (at least one each).
    renderer
        From :func:`musiclib.audio.get_renderer`; not closed here.
    config
        Analysis settings (sample rate, excerpt length).
    excerpt_start
        Seconds after the first note (>= 0).

    Returns
    -------
    dict of str to Excerpt
    """
    if excerpt_start < 0:
        raise ValueError(f"excerpt_start must be >= 0 seconds, got {excerpt_start}")
    result = {}
    for label, tunes in sets.items():
        if not len(tunes):
            raise ValueError(f"set {label!r} has no pieces")
        tune = _long_enough(tunes, needed=excerpt_start + config.excerpt_seconds)
        rendered = renderer.render(tune)
        start = _first_note_seconds(tune) + excerpt_start
        clip = excerpt(rendered, sample_rate=rendered.sample_rate, start=start, seconds=config.excerpt_seconds)
        result[label] = Excerpt(label, tune, rendered.audio, rendered.sample_rate, start, clip, rendered.backend)
    return result


def _side_by_side(n: int, height: float):
    fig, axes = _pyplot().subplots(1, n, figsize=(_PANEL_WIDTH * n, height), sharex=True, sharey=True,
                                   squeeze=False, layout="constrained")
    for ax in axes[0, 1:]:
        ax.set_ylabel("")
    return fig, axes[0]


def _backends(clips: Mapping[str, Excerpt]) -> str:
    return ", ".join(sorted({c.backend for c in clips.values()}))


def log_mel_figure(clips: Mapping[str, Excerpt], *, config: SpectrogramConfig = SpectrogramConfig()):
    """Log-mel spectrograms of the excerpts side by side, one colour scale (Figures 3–4)."""
    fig, axes = _side_by_side(len(clips), 3.6)
    mesh = None
    for ax, clip in zip(axes, clips.values()):
        mesh = plots.mel_spectrogram(log_mel(clip.clip, config=config), sample_rate=config.sample_rate,
                                     hop_length=config.hop_length, ax=ax, title=clip.title, vmin=_DB_FLOOR, vmax=0)
    for ax in axes[1:]:
        ax.set_ylabel("")
    fig.colorbar(mesh, ax=list(axes), format="%+2.0f dB", label="dB relative to each excerpt's loudest band")
    fig.suptitle(f"Log-mel spectrograms, {config.excerpt_seconds:g}-second excerpts (n_fft {config.n_fft}, hop "
                 f"{config.hop_length}, {config.n_mels} mel bands; {_backends(clips)}) · cf. the paper's Figs. 3–4")
    return fig


def zcr_figure(clips: Mapping[str, Excerpt], *, config: SpectrogramConfig = SpectrogramConfig()):
    """Frame-wise zero-crossing rate of the excerpts on one y scale (Figures 5–6)."""
    fig, axes = _side_by_side(len(clips), 3.2)
    for ax, clip in zip(axes, clips.values()):
        plots.zcr_curve(zero_crossing_rate(clip.clip, config=config), sample_rate=config.sample_rate,
                        hop_length=config.hop_length, ax=ax, title=clip.title, color="tab:purple")
        ax.grid(alpha=0.3)
    for ax in axes[1:]:
        ax.set_ylabel("")
    axes[0].set_ylim(bottom=0)
    fig.suptitle(f"Zero-crossing rate per frame ({config.n_fft}-sample frames, hop {config.hop_length}; same y "
                 "scale) · cf. the paper's Figs. 5–6")
    return fig


def chroma_figure(clips: Mapping[str, Excerpt], *, config: SpectrogramConfig = SpectrogramConfig()):
    """Chromagrams (``chroma_stft``) of the excerpts (Figures 7–8)."""
    fig, axes = _side_by_side(len(clips), 3.6)
    mesh = None
    for ax, clip in zip(axes, clips.values()):
        mesh = plots.chromagram(chroma(clip.clip, config=config), sample_rate=config.sample_rate,
                                hop_length=config.hop_length, ax=ax, title=clip.title)
    for ax in axes[1:]:
        ax.set_ylabel("")
    fig.colorbar(mesh, ax=list(axes), label="energy relative to the frame's strongest pitch class")
    fig.suptitle("Chromagrams (chroma_stft) of the same excerpts · cf. the paper's Figs. 7–8")
    return fig


def excerpt_figures(
    clips: Mapping[str, Excerpt], *, config: SpectrogramConfig = SpectrogramConfig(), out_dir: str | Path | None = None,
) -> dict[str, Any]:
    """The seed's Figures 3–8 for the given excerpts; saved under stable names if ``out_dir``.

    Returns
    -------
    dict
        ``{"fig3_4": figure, "fig5_6": figure, "fig7_8": figure}``.
    """
    made = {"fig3_4": log_mel_figure(clips, config=config), "fig5_6": zcr_figure(clips, config=config),
            "fig7_8": chroma_figure(clips, config=config)}
    if out_dir is not None:
        for key, fig in made.items():
            plots.save_figure(fig, Path(out_dir) / FIGURE_FILES[key])
    return made


# ------------------------------------------------------------------------- sets
_SCALAR_PANELS = (
    ("zcr_mean", "Mean zero-crossing rate", "crossings per sample"),
    ("centroid_mean", "Mean spectral centroid", "Hz"),
    ("centroid_std", "Spread of the spectral centroid", "Hz (standard deviation over frames)"),
    ("onset_rate", "Onset rate", "onsets per second"),
    ("rms_mean", "Mean RMS of sounding frames", "RMS (peak normalised to 0.9)"),
    ("chroma_entropy", "Pitch-class entropy", "bits (max log2 12 = 3.58)"),
)


def set_comparison_figure(set_features: Mapping[str, Any], *, title: str = ""):
    """Every set's feature distributions side by side: profiles, then one panel per feature.

    Parameters
    ----------
    set_features
        Label → :class:`musiclib.audio.SetFeatures`, the reference first.
    title
        Figure title (e.g. pieces per set and the synthesizer).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = _pyplot().subplots(2, 4, figsize=(24, 9), layout="constrained")
    plots.chroma_profiles({k: v.mean_chroma_profile for k, v in set_features.items()}, ax=axes[0, 0],
                          title="Mean pitch-class profile per set")
    sample_rate = next(iter(set_features.values())).config.sample_rate if set_features else 22_050
    plots.mel_profiles({k: v.mean_log_mel_profile for k, v in set_features.items()}, sample_rate=sample_rate,
                       ax=axes[1, 0], title="Mean log-mel frame per set")
    for ax, (name, panel_title, unit) in zip([*axes[0, 1:], *axes[1, 1:]], _SCALAR_PANELS):
        plots.feature_distributions({k: getattr(v, name) for k, v in set_features.items()}, ax=ax,
                                    title=f"{panel_title} (a dot per piece)", xlabel=unit)
    for ax in [*axes[0, 2:], *axes[1, 2:]]:
        ax.set_yticklabels([])  # the set names are on the left of each row
    if title:
        fig.suptitle(title)
    return fig


# ------------------------------------------------------------------------- publishing
def publish(run_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Copy a run's reference figures to ``out_dir`` under stable names, with a README.

    ``out_dir/README.md`` (rewritten atomically) lists each figure with the run it came
    from: name, git commit, parameters, notebook times. Figures a run lacks are listed
    as missing rather than silently dropped.

    Parameters
    ----------
    run_dir
        A pipeline run folder (holding ``figures/`` and ``manifest.json``).
    out_dir
        Where the figures go (the repository's ``figures/``).

    Returns
    -------
    list of Path
        The figures copied.
    """
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    source = run_dir / "figures"
    if not source.is_dir():
        raise FileNotFoundError(f"{run_dir} has no figures/ folder: run the pipeline first (make run)")
    manifest = read_json(run_dir / "manifest.json") if (run_dir / "manifest.json").exists() else {}
    out_dir.mkdir(parents=True, exist_ok=True)
    copied, missing = [], []
    for name in sorted(p.name for p in source.glob("*.png")):
        target = out_dir / name
        with atomic_path(target) as tmp:
            shutil.copyfile(source / name, tmp)
        copied.append(target)
    missing = [name for name in FIGURE_FILES.values() if not (source / name).exists()]
    params = manifest.get("parameters", {})
    lines = [
        "# Reference figures",
        "",
        "Written by `make figures` (the canonical run: `musiclib pipeline` with default parameters on the",
        "embedded folk corpus, then `musiclib figures`). Regenerate them with `make figures`.",
        "",
        f"- run: `{manifest.get('name', run_dir.name)}`, git commit `{manifest.get('git_commit')}`",
        f"- parameters: {', '.join(f'{k}={v!r}' for k, v in params.items() if k != 'run_dir')}",
        f"- synthesizer: {manifest.get('synthesizer', 'unknown')}",
    ]
    times = manifest.get("notebooks", {})
    if times:
        total = sum(v.get("seconds", 0.0) for v in times.values())
        each = ", ".join(f"{k} {v.get('seconds', 0):.0f} s" for k, v in times.items())
        lines.append(f"- notebook times: {each} (total {total / 60:.1f} min)")
    lines += ["", "| file | figure |", "|---|---|"]
    described = {v: k for k, v in FIGURE_FILES.items()}
    for path in copied:
        lines.append(f"| [{path.name}]({path.name}) | {described.get(path.name, 'notebook figure')} |")
    if missing:
        lines += ["", f"Missing from this run: {', '.join(missing)}."]
    atomic_write(out_dir / "README.md", "\n".join(lines) + "\n")
    return copied
