"""Plot helpers in librosa's manner: each takes ``ax=None``, returns the artist, never shows.

Pass an ``ax`` to place a plot in your own figure; without one the current axes
(``matplotlib.pyplot.gca()``) are used.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np

from musiclib.tune import Tune

__all__ = [
    "piano_roll",
    "roll_image",
    "onset_roll",
    "pitch_histogram",
    "counter_bars",
    "value_histogram",
    "loss_curves",
    "save_figure",
]

_TRACK_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")
_NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.gca()
    return ax


def _pitch_label(pitch: int) -> str:
    return f"{_NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def piano_roll(
    tune: Tune,
    *,
    ax=None,
    start: float = 0.0,
    end: float | None = None,
    show_bars: bool = True,
    title: str | None = None,
):
    """Draw a tune's notes as horizontal bars (time in quarter notes, pitch upwards).

    Parameters
    ----------
    tune
        The tune to draw; each track gets its own colour.
    ax
        Axes to draw into (default: current axes).
    start, end
        Time window in quarter notes (default: the whole tune).
    show_bars
        Draw bar lines from the tune's meter.
    title
        Axes title (default: the tune's title).

    Returns
    -------
    matplotlib.collections.PolyCollection
        The collection of the last track drawn (``None`` for a tune with no notes).
    """
    from matplotlib.collections import PolyCollection

    ax = _axes(ax)
    end = tune.end if end is None else end
    end = max(end, start + 1.0)  # an empty tune still gets a visible window
    artist = None
    for i, track in enumerate(tune.tracks):
        notes = track.notes
        keep = (notes["start"] < end) & (notes["start"] + notes["duration"] > start)
        notes = notes[keep]
        if not len(notes):
            continue
        x0, x1 = notes["start"], notes["start"] + notes["duration"]
        y0, y1 = notes["pitch"] - 0.4, notes["pitch"] + 0.4
        verts = np.stack([np.c_[x0, y0], np.c_[x0, y1], np.c_[x1, y1], np.c_[x1, y0]], axis=1)
        artist = PolyCollection(
            verts, facecolors=_TRACK_COLORS[i % len(_TRACK_COLORS)], edgecolors="black", linewidths=0.3,
            label=track.name or f"track {i}",
        )
        ax.add_collection(artist)
    lowest, highest = tune.pitch_range()
    if highest >= lowest:
        ax.set_ylim(lowest - 2, highest + 2)
        ticks = [p for p in range(lowest - 1, highest + 2) if p % 12 == 0] or [lowest]
        ax.set_yticks(ticks, [_pitch_label(p) for p in ticks])
    ax.set_xlim(start, end)
    if show_bars:
        for bar in tune.bar_starts(end):
            if bar >= start:
                ax.axvline(bar, color="grey", linewidth=0.5, alpha=0.5)
    ax.set_xlabel("time (quarter notes)")
    ax.set_ylabel("pitch")
    ax.set_title(tune.title if title is None else title)
    if len(tune.tracks) > 1 and artist is not None:
        ax.legend(loc="upper right", fontsize="small")
    return artist


def roll_image(roll: np.ndarray, *, ax=None, lowest_pitch: int = 0, steps_per_bar: int | None = None, title: str = ""):
    """Show a piano-roll array ``(steps, pitches[, tracks])`` as an image; tracks get colours.

    Returns
    -------
    matplotlib.image.AxesImage
    """
    ax = _axes(ax)
    roll = np.asarray(roll, dtype=float)
    if roll.ndim == 2:
        roll = roll[..., None]
    if roll.ndim == 4:  # bars × steps × pitches × tracks
        steps_per_bar = roll.shape[1] if steps_per_bar is None else steps_per_bar
        roll = roll.reshape(-1, *roll.shape[2:])
    from matplotlib.colors import to_rgb

    image = np.ones((roll.shape[1], roll.shape[0], 3))
    for track in range(roll.shape[2]):
        color = np.array(to_rgb(_TRACK_COLORS[track % len(_TRACK_COLORS)]))
        active = roll[:, :, track].T[..., None]
        image = image * (1 - active) + color * active
    artist = ax.imshow(
        image, origin="lower", aspect="auto", interpolation="nearest",
        extent=(0, roll.shape[0], lowest_pitch - 0.5, lowest_pitch + roll.shape[1] - 0.5),
    )
    if steps_per_bar:
        for x in range(0, roll.shape[0] + 1, steps_per_bar):
            ax.axvline(x, color="grey", linewidth=0.5)
    ax.set_xlabel("time step")
    ax.set_ylabel("pitch")
    ax.set_title(title)
    return artist


def onset_roll(
    sounding: np.ndarray,
    onsets: np.ndarray,
    *,
    ax=None,
    lowest_pitch: int = 0,
    steps_per_bar: int | None = None,
    title: str = "",
):
    """One track's piano roll with its note starts marked, so a repeated note shows as two.

    Parameters
    ----------
    sounding, onsets
        ``(steps, pitches)`` booleans (or ``(bars, steps_per_bar, pitches)``): where the
        track sounds, and where a note starts (the onset channel of
        ``PianoRollEncoding.encode(..., onsets=True)``).
    ax
        Axes to draw on (default: the current ones).
    lowest_pitch, steps_per_bar, title
        As for :func:`roll_image`.

    Returns
    -------
    matplotlib.collections.PathCollection
        The onset markers (the roll is drawn beneath them by :func:`roll_image`).
    """
    ax = _axes(ax)
    sounding, onsets = np.asarray(sounding, dtype=bool), np.asarray(onsets, dtype=bool)
    if sounding.ndim == 3:
        steps_per_bar = sounding.shape[1] if steps_per_bar is None else steps_per_bar
        sounding, onsets = sounding.reshape(-1, sounding.shape[-1]), onsets.reshape(-1, onsets.shape[-1])
    if sounding.shape != onsets.shape or sounding.ndim != 2:
        raise ValueError(f"sounding and onsets must both be (steps, pitches), got {sounding.shape} and {onsets.shape}")
    roll_image(sounding, ax=ax, lowest_pitch=lowest_pitch, steps_per_bar=steps_per_bar, title=title)
    step, row = np.nonzero(onsets & sounding)
    return ax.scatter(step + 0.5, row + lowest_pitch, marker="|", s=60, color="black", linewidths=1.5,
                      label="note start")


def pitch_histogram(pitches: np.ndarray, *, ax=None, title: str = "Pitch distribution"):
    """Bar chart of how often each MIDI pitch occurs. Returns the ``BarContainer``."""
    ax = _axes(ax)
    pitches = np.asarray(pitches, dtype=int)
    if not len(pitches):
        return ax.bar([], [])
    values, counts = np.unique(pitches, return_counts=True)
    artist = ax.bar(values, counts, width=0.9)
    ticks = [p for p in range(values.min(), values.max() + 1) if p % 12 == 0]
    ax.set_xticks(ticks, [_pitch_label(p) for p in ticks])
    ax.set_xlabel("pitch")
    ax.set_ylabel("notes")
    ax.set_title(title)
    return artist


def counter_bars(counts: Counter, *, ax=None, top: int = 12, title: str = "", xlabel: str = "", sort_keys: bool = False):
    """Bar chart of the ``top`` most common entries of a Counter. Returns the ``BarContainer``."""
    ax = _axes(ax)
    items = counts.most_common(top)
    if sort_keys:
        items = sorted(items)
    labels = [str(k) if not isinstance(k, float) else f"{k:g}" for k, _ in items]
    artist = ax.bar(range(len(items)), [v for _, v in items])
    ax.set_xticks(range(len(items)), labels, rotation=45 if max(map(len, labels), default=0) > 4 else 0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    ax.set_title(title)
    return artist


def value_histogram(values: Sequence[float], *, ax=None, bins: int = 30, title: str = "", xlabel: str = "", **kwargs):
    """Histogram of numbers (e.g. notes per tune). Returns the patches."""
    ax = _axes(ax)
    _, _, patches = ax.hist(np.asarray(values), bins=bins, **kwargs)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    ax.set_title(title)
    return patches


def loss_curves(history: dict[str, Sequence[float]], *, ax=None, keys: Sequence[str] | None = None, title: str = "Loss"):
    """Plot training curves (e.g. ``loss`` and ``val_loss`` per epoch). Returns the lines."""
    ax = _axes(ax)
    keys = list(history) if keys is None else list(keys)
    lines = []
    for key in keys:
        values = np.asarray(history[key], dtype=float)
        (line,) = ax.plot(np.arange(1, len(values) + 1), values, marker="o", markersize=3, label=key)
        lines.append(line)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    return lines


def save_figure(figure, path, *, dpi: int = 120) -> None:
    """Save a figure atomically (PNG/SVG/PDF by suffix)."""
    from pathlib import Path

    from musiclib._files import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=dpi, bbox_inches="tight", format=path.suffix.lstrip(".") or "png")


# --------------------------------------------------------------------------- audio features
# The seed paper's figures (log-mel spectrogram, zero-crossing rate, chromagram) and
# set-level comparisons; the arrays come from :mod:`musiclib.audio`.

__all__ += [
    "mel_spectrogram",
    "zcr_curve",
    "chromagram",
    "chroma_profiles",
    "mel_profiles",
    "feature_distributions",
]

_CHROMA_LABELS = _NOTE_NAMES


def mel_spectrogram(
    S_db: np.ndarray,
    *,
    sample_rate: int,
    hop_length: int,
    ax=None,
    title: str = "",
    colorbar: bool = False,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "magma",
):
    """Show a log-mel spectrogram (dB) on a mel frequency axis against time in seconds.

    Pass the same ``vmin``/``vmax`` (e.g. -80 and 0 for ``power_to_db(ref=np.max)``)
    to spectrograms shown side by side so that their colours mean the same levels.
    ``colorbar=True`` adds a colour bar labelled in dB to the axes' figure.
    Returns the ``QuadMesh``.
    """
    from musiclib.audio.analysis import _librosa

    librosa = _librosa(display=True)

    ax = _axes(ax)
    mesh = librosa.display.specshow(
        np.asarray(S_db), sr=sample_rate, hop_length=hop_length, x_axis="time", y_axis="mel",
        ax=ax, vmin=vmin, vmax=vmax, cmap=cmap,
    )
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz, mel scale)")
    ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax, format="%+2.0f dB")
    return mesh


def zcr_curve(zcr: np.ndarray, *, sample_rate: int, hop_length: int, ax=None, title: str = "", **kwargs):
    """Plot a frame-wise zero-crossing rate against time in seconds. Returns the ``Line2D``."""
    from musiclib.audio.analysis import _librosa

    librosa = _librosa()

    ax = _axes(ax)
    values = np.asarray(zcr, dtype=float).reshape(-1)
    times = librosa.frames_to_time(np.arange(len(values)), sr=sample_rate, hop_length=hop_length)
    (line,) = ax.plot(times, values, **kwargs)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("zero-crossing rate (crossings per sample)")
    ax.set_xlim(0, times[-1] if len(times) > 1 else 1)
    ax.set_title(title)
    return line


def chromagram(
    C: np.ndarray, *, sample_rate: int, hop_length: int, ax=None, title: str = "", colorbar: bool = False,
    cmap: str = "Blues",
):
    """Show a chromagram (12 pitch classes × frames, values 0–1) against time. Returns the ``QuadMesh``."""
    from musiclib.audio.analysis import _librosa

    librosa = _librosa(display=True)

    ax = _axes(ax)
    mesh = librosa.display.specshow(
        np.asarray(C), sr=sample_rate, hop_length=hop_length, x_axis="time", y_axis="chroma",
        ax=ax, vmin=0.0, vmax=1.0, cmap=cmap,
    )
    ax.set_xlabel("time (s)")
    ax.set_ylabel("pitch class")
    ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax)
    return mesh


def chroma_profiles(profiles: dict[str, np.ndarray], *, ax=None, title: str = "Mean pitch-class profile"):
    """Grouped bars: one 12-bar pitch-class profile per named set. Returns the list of ``BarContainer``."""
    ax = _axes(ax)
    names = list(profiles)
    width = 0.8 / max(len(names), 1)
    containers = []
    for i, name in enumerate(names):
        values = np.asarray(profiles[name], dtype=float).reshape(-1)
        if values.shape != (12,):
            raise ValueError(f"profile {name!r} must have 12 values (C..B), got shape {values.shape}")
        offsets = np.arange(12) - 0.4 + width * (i + 0.5)
        containers.append(ax.bar(offsets, values, width=width, label=name))
    ax.set_xticks(range(12), _CHROMA_LABELS)
    ax.set_xlabel("pitch class")
    ax.set_ylabel("share of chroma energy")
    ax.set_title(title)
    if names:
        ax.legend(fontsize="small")
    return containers


def mel_profiles(
    profiles: dict[str, np.ndarray], *, sample_rate: int, ax=None, title: str = "Mean log-mel spectrum",
):
    """Lines: a mean log-mel frame (dB per mel band) per named set, on a mel frequency axis.

    The x axis is in mels (band centres), labelled in Hz. Returns the list of ``Line2D``.
    """
    from musiclib.audio.analysis import _librosa

    librosa = _librosa()
    ax = _axes(ax)
    lines = []
    fmax = sample_rate / 2
    for name, values in profiles.items():
        values = np.asarray(values, dtype=float).reshape(-1)
        centres = librosa.mel_frequencies(len(values) + 2, fmin=0.0, fmax=fmax)[1:-1]
        (line,) = ax.plot(librosa.hz_to_mel(centres), values, label=name)
        lines.append(line)
    ticks = [hz for hz in (0, 500, 1000, 2000, 4000, 8000, 16000) if hz <= fmax]
    ax.set_xticks(librosa.hz_to_mel(np.asarray(ticks, dtype=float)), [f"{hz:g}" for hz in ticks])
    ax.set_xlabel("frequency (Hz, mel scale)")
    ax.set_ylabel("dB below the piece's loudest bin")
    ax.set_title(title)
    if lines:
        ax.legend(fontsize="small")
    return lines


def feature_distributions(values: dict[str, np.ndarray], *, ax=None, title: str = "", xlabel: str = ""):
    """One horizontal box plot per named set, with every piece drawn as a dot over it.

    Box plots with the points stay readable for a handful of pieces per set, where
    histograms do not. The first set is on top; dots take the colours ``C0``, ``C1``,
    … in order, as the lines and bars of the other helpers do. Returns the dict of
    artists from ``Axes.boxplot``.
    """
    ax = _axes(ax)
    names = list(values)
    data = [np.asarray(values[name], dtype=float).reshape(-1) for name in names]
    positions = np.arange(len(names))[::-1] + 1.0  # first set on top
    artists = ax.boxplot(
        data, positions=positions, orientation="horizontal", widths=0.6, showfliers=False,
        medianprops={"color": "black"},
    ) if data else {}
    rng = np.random.default_rng(0)  # fixed jitter: the same figure every time
    for i, (position, points) in enumerate(zip(positions, data)):
        jitter = rng.uniform(-0.18, 0.18, size=len(points))
        ax.scatter(points, position + jitter, s=12, alpha=0.7, zorder=3, color=f"C{i % 10}")
    ax.set_yticks(positions, names)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return artists


# --------------------------------------------------------------------------- attention and form
# What a Transformer attends to (:func:`musiclib.lm.transformer.attention_weights`) and
# how a piece's bars repeat (:func:`musiclib.evaluation.repetition.bar_self_similarity`).

__all__ += [
    "attention_map",
    "self_similarity",
]


def attention_map(weights: np.ndarray, *, ax=None, bar_positions: Sequence[int] = (), title: str = ""):
    """One head's attention weights ``(time, time)`` as an image: row = predicting position, column = attended.

    ``bar_positions`` (token indices of the ``Bar`` tokens) draw thin lines at bar
    boundaries, so a head that looks one or two bars back shows as a stripe parallel to
    the diagonal. Returns the ``AxesImage``.
    """
    ax = _axes(ax)
    weights = np.asarray(weights, dtype=float)
    if weights.ndim != 2 or weights.shape[0] != weights.shape[1]:
        raise ValueError(f"weights must be a square (time, time) array, got shape {weights.shape}")
    # square root: weak but real attention stays visible beside a few strong weights
    artist = ax.imshow(np.sqrt(weights), cmap="magma", origin="upper", interpolation="nearest", vmin=0.0, vmax=1.0)
    for position in bar_positions:
        ax.axhline(position - 0.5, color="white", linewidth=0.3, alpha=0.5)
        ax.axvline(position - 0.5, color="white", linewidth=0.3, alpha=0.5)
    ax.set_xlabel("attended token")
    ax.set_ylabel("predicting token")
    ax.set_title(title)
    return artist


def self_similarity(matrix: np.ndarray, *, ax=None, title: str = ""):
    """A bar-by-bar self-similarity matrix (0..1) as an image, bars numbered from 1. Returns the ``AxesImage``."""
    ax = _axes(ax)
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"matrix must be square (bars, bars), got shape {matrix.shape}")
    size = matrix.shape[0]
    artist = ax.imshow(matrix, cmap="Greys", vmin=0.0, vmax=1.0, origin="upper", interpolation="nearest",
                       extent=(0.5, size + 0.5, size + 0.5, 0.5))
    ax.set_xlabel("bar")
    ax.set_ylabel("bar")
    ax.set_title(title)
    return artist
