"""Shared test helpers (import as `from support import ...`; tests/ is on sys.path under pytest)."""

from __future__ import annotations

# ---------------------------------------------------------------------------
# datasets / split helpers
import os
from pathlib import Path

import numpy as np

from musiclib.io import write_midi
from musiclib.tune import Track, Tune, make_notes

SHARED_DATA = Path(
    os.environ.get("MUSICLIB_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data")
)
"""The reference data folder (``../shared/data`` beside the repository, or ``$MUSICLIB_SHARED_DATA``)."""


def tiny_tune(seed: int = 0, *, n_notes: int = 8, drums: bool = False, title: str = "tiny") -> Tune:
    """A small one-track tune whose notes depend on ``seed`` (different seeds, different notes)."""
    rng = np.random.default_rng(seed)
    pitches = 60 + rng.integers(0, 12, size=n_notes)
    notes = make_notes(np.arange(n_notes) * 0.5, np.full(n_notes, 0.5), pitches)
    track = Track(notes, name="drums" if drums else "melody", program=0, is_drum=drums)
    return Tune(tracks=(track,), title=title)


def write_tiny_midi(path: str | os.PathLike, seed: int = 0, **kwargs) -> Path:
    """Write :func:`tiny_tune` as a MIDI file at ``path`` (parents created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_midi(tiny_tune(seed, **kwargs), path)


def assert_tunes_equal(a: list[Tune], b: list[Tune]) -> None:
    """Tunes equal in notes (exactly) and metadata."""
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert (x.title, x.source) == (y.title, y.source)
        assert x.time_signatures == y.time_signatures
        assert x.key_signatures == y.key_signatures
        assert x.tempos == y.tempos
        assert [(t.name, t.program, t.is_drum) for t in x.tracks] == [
            (t.name, t.program, t.is_drum) for t in y.tracks
        ]
        for s, t in zip(x.tracks, y.tracks):
            np.testing.assert_array_equal(s.notes, t.notes)


# ---------------------------------------------------------------------------
