"""A loaded corpus: its tunes and the report of every file it skipped, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from musiclib.tune import Tune

__all__ = [
    "Corpus",
]


_REPORT_LINES = 20
_ERROR_REASONS = 3


@dataclass(eq=False)
class Corpus:
    """The tunes of a dataset, with what was skipped and why.

    Attributes
    ----------
    name
        Dataset name (or the folder's name).
    tunes
        In file order (sorted relative path), then tune order inside a file.
    skipped
        ``(source, reason)`` for every file or ABC tune that could not be read.
    root
        The dataset's root folder; tune sources are relative to it.
    fingerprint
        Cache key: hash of the read options, the reader's code and every file's
        path and bytes. Equal fingerprints mean equal tunes.
    files
        Number of music files read (whether or not they gave tunes).
    merge_tracks
        Whether a file's tracks are one instrument (piano datasets); see
        :class:`DatasetInfo`.
    """

    name: str
    tunes: list[Tune]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    root: Path | None = None
    fingerprint: str = ""
    files: int = 0
    merge_tracks: bool = False

    def __len__(self) -> int:
        return len(self.tunes)

    def __iter__(self) -> Iterator[Tune]:
        return iter(self.tunes)

    def __getitem__(self, index):
        return self.tunes[index]

    def __repr__(self) -> str:
        return (
            f"Corpus(name={self.name!r}, tunes={len(self.tunes)}, skipped={len(self.skipped)}, "
            f"files={self.files})"
        )

    def report(self, *, max_lines: int | None = _REPORT_LINES) -> str:
        """A human-readable account: counts, then one line per skipped item.

        Parameters
        ----------
        max_lines
            Most skipped items listed (``None``: all).
        """
        head = (
            f"{self.name}: {len(self.tunes):,} tunes from {self.files:,} files; "
            f"{len(self.skipped):,} skipped"
        )
        if not self.skipped:
            return head
        shown = self.skipped if max_lines is None else self.skipped[:max_lines]
        lines = [f"{head}:"] + [f"  {source}: {reason}" for source, reason in shown]
        if len(shown) < len(self.skipped):
            lines.append(f"  ... and {len(self.skipped) - len(shown):,} more")
        return "\n".join(lines)

    def summary(self) -> dict[str, int]:
        """Counts: ``tunes``, ``notes``, ``skipped`` and ``files``."""
        return {
            "tunes": len(self.tunes),
            "notes": sum(tune.n_notes for tune in self.tunes),
            "skipped": len(self.skipped),
            "files": self.files,
        }

    def by_source(self) -> dict[str, Tune]:
        """The tunes keyed by their (unique) ``source``."""
        return {tune.source: tune for tune in self.tunes}
