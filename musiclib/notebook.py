"""Jupyter helpers: audio players. The only musiclib module that imports IPython.

IPython is imported when a function is called, so importing this module is cheap and
works without Jupyter installed.
"""

from __future__ import annotations

import html
from typing import Any, Mapping

import numpy as np

__all__ = ["audio_player", "show_players"]


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
