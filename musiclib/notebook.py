"""Jupyter helpers: audio players, tables, quick-mode notes. The only musiclib module that imports IPython.

IPython is imported when a function is called, so importing this module is cheap and
works without Jupyter installed.
"""

from __future__ import annotations

import html
from typing import Any, Mapping

import numpy as np

__all__ = ["audio_player", "show_players", "markdown_table", "show_table", "quick_mode_note", "QUICK_MODE_NOTE"]


def audio_player(rendered_or_array: Any, *, sample_rate: int | None = None):
    """An ``IPython.display.Audio`` player for a Rendered or a mono array.

    Parameters
    ----------
    rendered_or_array
        A :class:`musiclib.audio.Rendered` (its sample rate is used) or a 1-D array.
    sample_rate
        Required for an array; for a Rendered it must match if given.

    Returns
    -------
    IPython.display.Audio
        Normalised to full scale, so quiet renderings are audible.
    """
    from IPython.display import Audio

    audio = rendered_or_array
    if hasattr(audio, "audio") and hasattr(audio, "sample_rate"):
        if sample_rate is not None and int(sample_rate) != int(audio.sample_rate):
            raise ValueError(
                f"sample_rate={sample_rate} does not match the rendering's {audio.sample_rate} Hz"
            )
        sample_rate = audio.sample_rate
        audio = audio.audio
    if sample_rate is None:
        raise ValueError("sample_rate is required for a plain array")
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1 or audio.size == 0:
        raise ValueError(f"audio must be a non-empty 1-D array, got shape {audio.shape}")
    return Audio(audio, rate=int(sample_rate), normalize=True)


def show_players(players: Mapping[str, Any], *, sample_rate: int | None = None) -> None:
    """Display a bold label and a player for each ``name -> Rendered`` (or array) entry.

    A Rendered's backend is shown beside its name, so a listener knows which
    synthesizer made the sound. ``sample_rate`` is needed for plain arrays.
    """
    from IPython.display import HTML, display

    for name, item in players.items():
        backend = getattr(item, "backend", None)
        note = f" <small>({html.escape(str(backend))})</small>" if backend else ""
        display(HTML(f"<b>{html.escape(str(name))}</b>{note}"))
        display(audio_player(item, sample_rate=None if hasattr(item, "sample_rate") else sample_rate))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        text = f"{value:,.0f}" if value.is_integer() and abs(value) >= 1000 else f"{value:.4g}"
    elif isinstance(value, int) and not isinstance(value, bool):
        text = f"{value:,}"
    else:
        text = "—" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(table: Mapping[str, Any], *, headers: tuple[str, str] = ("", "value")) -> str:
    """A two-column Markdown table of ``name -> value`` (numbers with thousands separators)."""
    rows = [f"| {headers[0]} | {headers[1]} |", "|---|---:|"]
    rows += [f"| {_cell(name)} | {_cell(value)} |" for name, value in table.items()]
    return "\n".join(rows)


def show_table(table: Mapping[str, Any], *, headers: tuple[str, str] = ("", "value")) -> None:
    """Display ``name -> value`` as a table (rendered Markdown), not as a printed dict."""
    from IPython.display import Markdown, display

    display(Markdown(markdown_table(table, headers=headers)))


QUICK_MODE_NOTE = ("**Quick mode**: tiny models trained for a moment on a small subset, to check that every "
                   "step runs. {what} Quick-mode numbers are not meaningful; run without quick mode "
                   "(`make run`) for real results.")


def quick_mode_note(quick: bool, what: str = "") -> None:
    """In quick mode, display a note that the results below come from tiny models (else nothing)."""
    if not quick:
        return
    from IPython.display import Markdown, display

    text = QUICK_MODE_NOTE.format(what=what.strip()).replace("  ", " ")
    display(Markdown("> " + text))
