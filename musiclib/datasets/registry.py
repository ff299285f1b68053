"""The registered corpora (:data:`REGISTRY`) and where their files live (:func:`data_home`).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DatasetError",
    "DatasetInfo",
    "REGISTRY",
    "DEFAULT_DATASET",
    "DATA_ENV_VAR",
    "RECORD_NAME",
    "FROM_REGISTRY",
    "list_datasets",
    "info",
    "data_home",
]


DATA_ENV_VAR = "MUSICLIB_DATA"
"""Environment variable naming the folder for downloads and the parse cache."""
DEFAULT_DATASET = "folk"
"""The dataset :func:`load` reads when given no name."""
RECORD_NAME = "SHA256"
"""File in a downloaded dataset's root that records the checksums of what arrived."""
_USER_CACHE = Path("~") / ".cache" / "musiclib"
_DOWNLOAD_CHUNK = 1 << 20


class DatasetError(RuntimeError):
    """A dataset that cannot be provided: unknown, absent, corrupt, unsafe or empty."""


class _FromRegistry:
    """Sentinel type: "take this value from the registry"."""

    def __repr__(self) -> str:
        return "FROM_REGISTRY"


FROM_REGISTRY = _FromRegistry()
"""Default of :func:`download`'s checksum overrides: use the registry's pins."""


@dataclass(frozen=True)
class DatasetInfo:
    """What musiclib knows about a named dataset.

    Attributes
    ----------
    name
        Registry key.
    description
        One line for humans.
    kind
        ``"builtin"`` (ships with an installed package) or ``"download"``.
    url
        Where :func:`download` fetches the archive (``None`` for built-in data).
    archive_sha256
        Pinned SHA-256 of the archive bytes, or ``None`` when they are not stable
        (GitHub regenerates repository archives) or not known.
    content_sha256
        Pinned :func:`content_checksum` of ``subdir`` after extraction, or ``None``.
    subdir
        The folder under the dataset root whose files are loaded (``None``: all).
    suffixes
        File suffixes read (case-insensitive).
    license, citation
        Terms of use and how to cite.
    merge_tracks
        Whether the tracks of one file are parts of one instrument (piano) that
        encodings should merge; the Corpus records it, reading leaves tracks apart.
    folders
        For built-in data: the sub-folders of the root to read (empty: all of it).
    """

    name: str
    description: str
    kind: str
    url: str | None
    archive_sha256: str | None
    content_sha256: str | None
    subdir: str | None
    suffixes: tuple[str, ...]
    license: str
    citation: str
    merge_tracks: bool
    folders: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ("builtin", "download"):
            raise ValueError(f"DatasetInfo.kind must be 'builtin' or 'download', got {self.kind!r}")
        if self.kind == "download" and not self.url:
            raise ValueError(f"DatasetInfo {self.name!r}: a 'download' dataset needs a url")


REGISTRY: dict[str, DatasetInfo] = {
    "folk": DatasetInfo(
        name="folk",
        description="About 3,070 folk tunes in ABC notation from music21's corpus folder "
        "(O'Neill's 1850, Ryan's Mammoth Collection, one Nottingham file); works offline.",
        kind="builtin",
        url=None,
        archive_sha256=None,
        content_sha256=None,
        subdir=None,
        suffixes=(".abc",),
        license="Public-domain tune collections; encodings distributed with music21 "
        "(see music21/corpus/license.txt and the notes in each file).",
        citation="Cuthbert & Ariza, music21: A Toolkit for Computer-Aided Musicology and "
        "Symbolic Music Data, ISMIR 2010.",
        merge_tracks=False,
        folders=("oneills1850", "ryansMammoth", "nottingham-dataset"),
    ),
    "nottingham": DatasetInfo(
        name="nottingham",
        description="Nottingham Music Database, cleaned by Jukedeck: 1,034 British and "
        "American folk tunes as MIDI (melody + chord tracks).",
        kind="download",
        url="https://github.com/jukedeck/nottingham-dataset/archive/0992bb6.zip",
        archive_sha256=None,  # GitHub regenerates archive zips: their bytes are not stable
        content_sha256="1454eb9230f3ad6717fbd8e6ba38c06d9e62f5118fd203de2ff9ac8269a72937",
        subdir="MIDI",  # ABC_cleaned/ holds the same tunes again: never load both
        suffixes=(".mid", ".midi"),
        license="GPL-3.0 (LICENSE.md in the archive)",
        citation="Nottingham Music Database (E. Foxley), cleaned version by Jukedeck, "
        "github.com/jukedeck/nottingham-dataset.",
        merge_tracks=False,
    ),
    "adl-piano": DatasetInfo(
        name="adl-piano",
        description="ADL Piano MIDI: about 11,000 solo-piano pieces of many genres.",
        kind="download",
        url="https://github.com/lucasnfe/adl-piano-midi/raw/master/midi/adl-piano-midi.zip",
        archive_sha256=None,  # not known: download needs allow_unverified=True (trust on first use)
        content_sha256=None,
        subdir=None,
        suffixes=(".mid", ".midi"),
        license="Research dataset (see github.com/lucasnfe/adl-piano-midi).",
        citation="Ferreira, Lelis & Whitehead, Computer-Generated Music for Tabletop "
        "Role-Playing Games, AIIDE 2020.",
        merge_tracks=True,
    ),
}
"""Every named dataset, by name."""


def list_datasets() -> list[str]:
    """Names of the registered datasets, sorted."""
    return sorted(REGISTRY)


def info(name: str) -> DatasetInfo:
    """The registry entry of ``name``.

    Raises
    ------
    DatasetError
        For an unknown name; the message lists the known ones.
    """
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        known = ", ".join(list_datasets())
        raise DatasetError(f"unknown dataset {name!r}; known datasets: {known}") from None


def data_home(cache_dir: str | os.PathLike | None = None) -> Path:
    """The folder for downloaded datasets and the parse cache.

    In order: ``cache_dir`` if given; the ``MUSICLIB_DATA`` environment variable if
    set; the ``data/`` folder of a source checkout (recognised by its README.md);
    otherwise ``~/.cache/musiclib``. The folder is not created here.
    """
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(DATA_ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    checkout_data = Path(__file__).resolve().parents[1] / "data"
    if (checkout_data / "README.md").is_file():
        return checkout_data
    return _USER_CACHE.expanduser()


def _music21_corpus() -> Path:
    """music21's corpus folder, found without importing music21 (slow to import)."""
    spec = importlib.util.find_spec("music21")
    if spec is None or not spec.origin:
        raise DatasetError("the built-in 'folk' dataset needs music21, which is not installed")
    return Path(spec.origin).resolve().parent / "corpus"
