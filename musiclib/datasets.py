"""Named music corpora: where they live, how to fetch them safely, and a parse cache.

Three datasets are registered (see :data:`REGISTRY`):

``folk`` (the default, built in)
    About 3,070 folk tunes in ABC notation that music21 ships in its corpus folder
    (O'Neill's 1850, Ryan's Mammoth Collection and one Nottingham file). Works offline.
``nottingham`` (download)
    The Nottingham Music Database as cleaned by Jukedeck: 1,034 folk tunes as MIDI
    (melody and chord tracks). Pinned by a checksum of its content.
``adl-piano`` (download)
    The ADL Piano MIDI dataset (about 11,000 piano pieces). No checksum is pinned
    for it, so downloading it needs ``allow_unverified=True`` (trust on first use).

Any folder of MIDI/ABC/MusicXML files can be loaded too: ``load("path/to/folder")``.

Nothing is downloaded at import time or unasked: :func:`load` downloads only when
called with ``download=True``. Downloads go to :func:`data_home` (the ``MUSICLIB_DATA``
environment variable, a source checkout's ``data/`` folder, or ``~/.cache/musiclib``).

Tune ``source`` strings are paths relative to the dataset root, in POSIX form
(``"MIDI/ashover1.mid"``, ``"oneills1850/0001-0050.abc#7"``), so they are the same
on every machine and can name the tunes of a train/valid/test split.

Parsed corpora are cached in ``<data_home>/parsed/`` under a fingerprint of the file
contents, the read options and the reader's code; a warm load skips parsing.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import hashlib
import importlib.util
import io as _bytes_io
import json
import os
import posixpath
import re
import shutil
import tarfile
import tempfile
import urllib.parse
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from musiclib import io as _io
from musiclib import tune as _tune
from musiclib._files import atomic_path, atomic_write, sha256_bytes, sha256_file
from musiclib.io import DEFAULT_LIMITS, SUPPORTED_SUFFIXES, MusicReadError, ReadLimits
from musiclib.tune import NOTE_DTYPE, KeySignature, Tempo, TimeSignature, Track, Tune

__all__ = [
    "DatasetError",
    "CacheRebuiltWarning",
    "DatasetInfo",
    "REGISTRY",
    "DEFAULT_DATASET",
    "DATA_ENV_VAR",
    "RECORD_NAME",
    "PARSED_DIR",
    "FROM_REGISTRY",
    "Corpus",
    "list_datasets",
    "info",
    "data_home",
    "download",
    "safe_extract",
    "content_checksum",
    "corpus_fingerprint",
    "load",
]

DATA_ENV_VAR = "MUSICLIB_DATA"
"""Environment variable naming the folder for downloads and the parse cache."""

DEFAULT_DATASET = "folk"
"""The dataset :func:`load` reads when given no name."""

RECORD_NAME = "SHA256"
"""File in a downloaded dataset's root that records the checksums of what arrived."""

PARSED_DIR = "parsed"
"""Sub-folder of :func:`data_home` that holds the parse cache."""

_CACHE_FORMAT = "musiclib-parsed-corpus-v1"
_USER_CACHE = Path("~") / ".cache" / "musiclib"
_ALLOWED_SCHEMES = ("https", "http", "file")
_DOWNLOAD_TIMEOUT_S = 60.0
_DOWNLOAD_CHUNK = 1 << 20
_MAX_DOWNLOAD_BYTES = 4 << 30
_MAX_EXTRACT_BYTES = 16 << 30
_CHUNKS_PER_WORKER = 8
_REPORT_LINES = 20
_ERROR_REASONS = 3
_DRIVE = re.compile(r"^[A-Za-z]:")
_MACOS_FORKS = "__MACOSX"
_PARSER_PACKAGE = "symusic"  # its version is part of the cache key


class DatasetError(RuntimeError):
    """A dataset that cannot be provided: unknown, absent, corrupt, unsafe or empty."""


class CacheRebuiltWarning(UserWarning):
    """A parse-cache entry was unreadable or inconsistent and has been rebuilt."""


class _FromRegistry:
    """Sentinel type: "take this value from the registry"."""

    def __repr__(self) -> str:
        return "FROM_REGISTRY"


FROM_REGISTRY = _FromRegistry()
"""Default of :func:`download`'s checksum overrides: use the registry's pins."""


# --------------------------------------------------------------------------- registry


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


# --------------------------------------------------------------------------- locations


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


# --------------------------------------------------------------------------- checksums


def _encode_path(rel: str) -> bytes:
    """Bytes of a relative path as the file system has them (lossless on POSIX)."""
    return rel.encode("utf-8", "surrogateescape")


def _checksum_from_hashes(pairs: Sequence[tuple[str, str]]) -> str:
    """The content checksum of ``(relative path, file sha256)`` pairs (any order)."""
    digest = hashlib.sha256()
    for rel, file_hash in sorted(pairs):
        digest.update(_encode_path(rel) + b"\0" + file_hash.encode() + b"\n")
    return digest.hexdigest()


def _scan(folder: str | os.PathLike, base: str = "") -> Iterator[tuple[str, os.DirEntry]]:
    """Every entry under ``folder`` as ``(base + relative POSIX path, entry)``, recursively.

    Symbolic links to folders are not followed (no loops); links to files are
    reported as entries like any other.
    """
    with os.scandir(folder) as entries:
        for entry in entries:
            rel = base + entry.name
            yield rel, entry
            if entry.is_dir(follow_symlinks=False):
                yield from _scan(entry.path, f"{rel}/")


def _hash_file(path: str | os.PathLike, *, max_bytes: int | None = None) -> tuple[int, str | None]:
    """Size and hex SHA-256 of a file (hash ``None`` when over ``max_bytes``)."""
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if max_bytes is not None and size > max_bytes:
            return size, None
        return size, hashlib.file_digest(handle, "sha256").hexdigest()


def content_checksum(root: str | os.PathLike, subdir: str | None = None) -> str:
    """A checksum of a dataset's files that does not depend on how they were archived.

    SHA-256 over, for each regular file under ``root/subdir`` sorted by its path
    relative to ``root`` (POSIX form, e.g. ``"MIDI/ashover1.mid"``): that path, a NUL
    byte, the hex SHA-256 of the file's bytes and a newline. With ``subdir=None``
    the whole root is covered except the top-level ``SHA256`` record that
    :func:`download` writes.

    Raises
    ------
    DatasetError
        When ``root/subdir`` is not a folder.
    """
    root = Path(root)
    folder = root / subdir if subdir else root
    if not folder.is_dir():
        raise DatasetError(f"{folder} is not a folder (expected the dataset's {subdir or 'root'} folder)")
    base = f"{Path(subdir).as_posix()}/" if subdir else ""
    pairs = [
        (rel, _hash_file(entry.path)[1])
        for rel, entry in _scan(folder, base)
        if entry.is_file() and not (subdir is None and rel == RECORD_NAME)
    ]
    return _checksum_from_hashes(pairs)


def _read_record(root: Path) -> dict[str, str]:
    """The ``key value`` lines of a dataset's SHA256 record ({} when absent or unreadable)."""
    try:
        lines = (root / RECORD_NAME).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return {}
    record = {}
    for line in lines:
        key, _, value = line.partition(" ")
        if key and not key.startswith("#"):
            record[key] = value.strip()
    return record


def _write_record(root: Path, *, url: str, archive_hash: str, content_hash: str) -> None:
    text = (
        "# musiclib download record: checksums of what arrived (checked on later loads)\n"
        f"url {url}\narchive_sha256 {archive_hash}\ncontent_sha256 {content_hash}\n"
    )
    atomic_write(root / RECORD_NAME, text)


# --------------------------------------------------------------------------- safe extraction


def _unsafe(archive: Path, member: str, why: str) -> DatasetError:
    return DatasetError(f"unsafe member {member!r} in {archive.name}: {why}")


def _is_absolute(name: str) -> bool:
    return name.startswith("/") or bool(_DRIVE.match(name))


def _member_name(raw: str, archive: Path) -> str:
    """The normalised POSIX name of an archive member; refuses unsafe names."""
    name = raw.replace("\\", "/")
    if "\0" in name:
        raise _unsafe(archive, raw, "NUL byte in the name")
    if _is_absolute(name):
        raise _unsafe(archive, raw, "absolute path")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise _unsafe(archive, raw, "'..' in the path")
    return "/".join(parts)


def _common_top(names: Sequence[str]) -> str:
    """``"top/"`` when every member lies in one top-level folder, else ``""``.

    A macOS ``__MACOSX/`` folder of resource forks beside it is ignored (and, being
    outside the top folder, not extracted).
    """
    names = [name for name in names if name and name.split("/", 1)[0] != _MACOS_FORKS]
    tops = {name.split("/", 1)[0] for name in names}
    nested = any("/" in name for name in names)
    return f"{tops.pop()}/" if len(tops) == 1 and nested else ""


def _strip(name: str, prefix: str) -> str:
    if not prefix:
        return name
    return name[len(prefix) :] if name.startswith(prefix) else ""


def _inside(path: Path | str, real_target: str) -> bool:
    real = os.path.realpath(path)
    return real == real_target or real.startswith(real_target + os.sep)


def _check_total(total: int, limit: int, archive: Path) -> None:
    if total > limit:
        raise DatasetError(f"{archive.name} would extract to {total:,} bytes, over the limit of {limit:,}")


def _extract_zip(archive: Path, target: Path, *, strip_top: bool, max_bytes: int) -> None:
    with zipfile.ZipFile(archive) as bundle:
        members = bundle.infolist()
        names = [_member_name(m.filename, archive) for m in members]
        _check_total(sum(m.file_size for m in members), max_bytes, archive)
        prefix = _common_top(names) if strip_top else ""
        target.mkdir(parents=True, exist_ok=True)
        for member, name in zip(members, names):
            rel = _strip(name, prefix)
            if not rel:
                continue
            dest = target / rel
            if member.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            with bundle.open(member) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out, _DOWNLOAD_CHUNK)


def _tar_plan(archive: Path, members: list[tarfile.TarInfo], prefix_names: list[str], prefix: str) -> None:
    """Refuse special files and links that leave the (stripped) root, before writing."""
    for member, name in zip(members, prefix_names):
        rel = _strip(name, prefix)
        if member.issym():
            link = member.linkname.replace("\\", "/")
            if _is_absolute(link):
                raise _unsafe(archive, member.name, "symlink to an absolute path")
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), link))
            if resolved == ".." or resolved.startswith("../") or not rel:
                raise _unsafe(archive, member.name, "symlink pointing outside")
        elif member.islnk():
            linked = _strip(_member_name(member.linkname, archive), prefix)
            if not linked or not rel:
                raise _unsafe(archive, member.name, "hard link pointing outside")
        elif not (member.isfile() or member.isdir()):
            raise _unsafe(archive, member.name, "special file (device or FIFO)")


def _extract_tar(archive: Path, target: Path, *, strip_top: bool, max_bytes: int) -> None:
    with tarfile.open(archive) as bundle:
        members = bundle.getmembers()
        names = [_member_name(m.name, archive) for m in members]
        _check_total(sum(m.size for m in members if m.isfile()), max_bytes, archive)
        prefix = _common_top(names) if strip_top else ""
        _tar_plan(archive, members, names, prefix)
        target.mkdir(parents=True, exist_ok=True)
        real_target = os.path.realpath(target)
        symlinks = []
        for member, name in zip(members, names):
            rel = _strip(name, prefix)
            if not rel:
                continue
            dest = target / rel
            if member.isdir():
                dest.mkdir(parents=True, exist_ok=True)
            elif member.issym():
                symlinks.append((dest, member.linkname.replace("\\", "/")))
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                if not _inside(dest.parent, real_target):
                    raise _unsafe(archive, member.name, "path leaves the target")
                if member.islnk():
                    source = target / _strip(_member_name(member.linkname, archive), prefix)
                    if not source.is_file() or source.is_symlink():
                        raise _unsafe(archive, member.name, "hard link to no regular file")
                    shutil.copyfile(source, dest)
                else:
                    with bundle.extractfile(member) as src, open(dest, "wb") as out:
                        shutil.copyfileobj(src, out, _DOWNLOAD_CHUNK)
        for dest, link in symlinks:  # last, so that no file is ever written through one
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(link, dest)
            if not _inside(dest, real_target):
                raise _unsafe(archive, dest.name, "symlink resolves outside the target")


def _clear(target: Path, *, created: bool) -> None:
    """Remove what an extraction wrote (the folder itself too if it created it)."""
    if created:
        shutil.rmtree(target, ignore_errors=True)
        return
    for child in target.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def safe_extract(
    archive_path: str | os.PathLike,
    target: str | os.PathLike,
    *,
    strip_top: bool = True,
    max_bytes: int = _MAX_EXTRACT_BYTES,
) -> Path:
    """Extract a zip or tar archive into ``target``, refusing anything unsafe.

    Every member name is checked before anything is written: an absolute path, a
    ``..`` component, a NUL byte, a device or FIFO, or a symbolic/hard link that
    points outside the target is refused. Symbolic links are created last and
    checked again once resolved. On any failure nothing is left in ``target``.

    Parameters
    ----------
    archive_path
        A zip or tar file (any compression tarfile reads); the type is taken from
        the content, not the name.
    target
        Destination folder; it must not exist or be empty.
    strip_top
        When every member lies in one top-level folder (as in GitHub repository
        archives, ``nottingham-dataset-0992bb6.../``), extract that folder's content
        straight into ``target``.
    max_bytes
        Refuse archives whose members declare more bytes than this in total.

    Returns
    -------
    Path
        ``target``.

    Raises
    ------
    DatasetError
        For an unsafe member, a corrupt archive or a file that is no archive.
    """
    archive, target = Path(archive_path), Path(target)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise DatasetError(f"cannot extract into {target}: it exists and is not an empty folder")
    created = not target.exists()
    if zipfile.is_zipfile(archive):
        extract = _extract_zip
    elif tarfile.is_tarfile(archive):
        extract = _extract_tar
    else:
        raise DatasetError(f"{archive.name} is neither a zip nor a tar archive")
    try:
        extract(archive, target, strip_top=strip_top, max_bytes=max_bytes)
    except DatasetError:
        _clear(target, created=created)
        raise
    except (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, OSError) as error:
        _clear(target, created=created)
        raise DatasetError(f"corrupt or unreadable archive {archive.name}: {error}") from None
    except BaseException:
        _clear(target, created=created)
        raise
    return target


# --------------------------------------------------------------------------- download


def _fetch(url: str, folder: Path, *, stem: str, progress: bool) -> tuple[Path, str]:
    """Download ``url`` into a temporary file in ``folder``; return it and its SHA-256."""
    import urllib.error  # imported here: urllib.request is slow to import and only downloads need it
    import urllib.request

    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in _ALLOWED_SCHEMES:
        raise DatasetError(f"download of {url} refused: scheme {scheme!r} not in {_ALLOWED_SCHEMES}")
    fd, name = tempfile.mkstemp(prefix=f".{stem}.", suffix=".download", dir=folder)
    partial, digest, size = Path(name), hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response:
            total = response.headers.get("Content-Length")
            bar = _progress_bar(progress, total=int(total) if total and total.isdigit() else None, unit="B")
            with bar:
                for chunk in iter(lambda: response.read(_DOWNLOAD_CHUNK), b""):
                    size += len(chunk)
                    if size > _MAX_DOWNLOAD_BYTES:
                        raise DatasetError(f"download of {url} failed: over {_MAX_DOWNLOAD_BYTES:,} bytes")
                    digest.update(chunk)
                    out.write(chunk)
                    bar.update(len(chunk))
    except DatasetError:
        partial.unlink(missing_ok=True)
        raise
    except (urllib.error.URLError, OSError, ValueError) as error:
        partial.unlink(missing_ok=True)
        reason = getattr(error, "reason", None) if not isinstance(error, urllib.error.HTTPError) else None
        raise DatasetError(f"download of {url} failed: {reason or error}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return partial, digest.hexdigest()


def _check_hash(actual: str, expected: str | None, *, what: str, url: str) -> None:
    if expected is not None and actual != expected.lower():
        raise DatasetError(
            f"download of {url} failed: {what} checksum mismatch (expected {expected}, got {actual})"
        )


def _move_into_place(staging: Path, root: Path) -> Path:
    """Rename the finished folder onto ``root`` (another process may have won the race)."""
    try:
        os.rename(staging, root)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        if root.is_dir():
            return root
        raise DatasetError(f"cannot move the extracted dataset to {root}: {error}") from None
    return root


def _pin(override: str | None | _FromRegistry, registered: str | None) -> str | None:
    return registered if isinstance(override, _FromRegistry) else override


def download(
    name: str,
    *,
    cache_dir: str | os.PathLike | None = None,
    url: str | None = None,
    allow_unverified: bool = False,
    progress: bool = False,
    archive_sha256: str | None | _FromRegistry = FROM_REGISTRY,
    content_sha256: str | None | _FromRegistry = FROM_REGISTRY,
) -> Path:
    """Fetch, verify and unpack a registered dataset; return its root folder.

    The archive is downloaded to a temporary file in :func:`data_home`, its SHA-256
    checked when one is pinned, extracted with :func:`safe_extract` into a temporary
    folder, its :func:`content_checksum` checked when one is pinned, and the folder
    renamed to ``<data_home>/<name>`` in one step. On any failure the partial file
    and folder are deleted. A dataset already in place is returned as it is.

    Every download records what arrived (URL, archive and content SHA-256) in
    ``<root>/SHA256``. A dataset with no pinned checksum (``adl-piano``) cannot be
    verified against anything: it is refused unless ``allow_unverified=True``, and
    then whatever the server sends is trusted on first use; later loads only check
    that the files still match that record, which guards against corruption, not
    against a bad first download.

    Parameters
    ----------
    name
        A registered dataset of kind ``"download"``.
    cache_dir
        Overrides :func:`data_home`.
    url
        Overrides the registry's URL (a mirror; ``file://`` URLs work).
    allow_unverified
        Accept a download no pinned checksum can verify.
    progress
        Show a tqdm bar.
    archive_sha256, content_sha256
        Override the registry's pins (``None``: no pin).

    Raises
    ------
    DatasetError
        Naming the URL and the reason: network error, checksum mismatch, unsafe or
        corrupt archive, missing data folder, or an unverifiable dataset without
        ``allow_unverified``.
    """
    dataset = info(name)
    if dataset.kind != "download":
        raise DatasetError(f"dataset {name!r} is {dataset.kind}; there is nothing to download")
    home = data_home(cache_dir)
    root = home / dataset.name
    if root.is_dir():
        return root
    source = url or dataset.url
    archive_pin = _pin(archive_sha256, dataset.archive_sha256)
    content_pin = _pin(content_sha256, dataset.content_sha256)
    if archive_pin is None and content_pin is None and not allow_unverified:
        raise DatasetError(
            f"dataset {name!r} has no pinned checksum, so its download from {source} cannot be verified; "
            f"call download({name!r}, allow_unverified=True) (or load({name!r}, download=True, "
            "allow_unverified=True)) to trust what arrives and record its SHA-256 for later loads"
        )
    home.mkdir(parents=True, exist_ok=True)
    archive, archive_hash = _fetch(source, home, stem=dataset.name, progress=progress)
    staging = Path(tempfile.mkdtemp(prefix=f".{dataset.name}.", suffix=".partial", dir=home))
    try:
        _check_hash(archive_hash, archive_pin, what="archive", url=source)
        safe_extract(archive, staging)
        content_hash = content_checksum(staging, dataset.subdir)
        _check_hash(content_hash, content_pin, what="content", url=source)
        _write_record(staging, url=source, archive_hash=archive_hash, content_hash=content_hash)
    except DatasetError as error:
        shutil.rmtree(staging, ignore_errors=True)
        message = str(error)
        if source not in message:
            message = f"download of {source} failed: {message}"
        raise DatasetError(message) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        archive.unlink(missing_ok=True)
    return _move_into_place(staging, root)


# --------------------------------------------------------------------------- corpus


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


# --------------------------------------------------------------------------- locating files


@dataclass(frozen=True)
class _Layout:
    """Where a corpus's files are and how to check them."""

    name: str
    root: Path
    folders: tuple[tuple[Path, str], ...]  # (folder to walk, prefix of relative paths)
    suffixes: tuple[str, ...]
    merge_tracks: bool = False
    expected_content: str | None = None  # content checksum of folders[0], if known
    strict: bool = True  # a content mismatch raises (True) or warns (False)


@dataclass(frozen=True)
class _File:
    rel: str  # path relative to the dataset root, POSIX form; the tune source
    path: str
    music: bool  # has one of the suffixes read and is not hidden


def _ignored(rel: str) -> bool:
    """Hidden entries (a component starting with ``.``) and macOS ``__MACOSX`` folders."""
    return any(part.startswith(".") or part == _MACOS_FORKS for part in rel.split("/"))


def _display(rel: str) -> str:
    """A path made safe for JSON and messages (undecodable bytes become U+FFFD)."""
    return _encode_path(rel).decode("utf-8", "replace")


def _list_files(layout: _Layout) -> tuple[list[_File], list[tuple[str, str]]]:
    """Every regular file in the layout's folders, sorted, plus odd entries to report."""
    suffixes = tuple(s.lower() for s in layout.suffixes)
    files, odd = [], []
    for folder, prefix in layout.folders:
        for rel, entry in _scan(folder, prefix):
            music = entry.name.lower().endswith(suffixes) and not _ignored(rel)
            if entry.is_file():
                files.append(_File(rel, entry.path, music))
            elif not music:
                continue
            elif entry.is_dir():
                odd.append((_display(rel), "is a directory, not a file"))
            elif entry.is_symlink() and not os.path.exists(entry.path):
                odd.append((_display(rel), "broken symbolic link"))
            else:
                odd.append((_display(rel), "not a regular file (device, FIFO or socket)"))
    files.sort(key=lambda f: f.rel)
    odd.sort()
    return files, odd


def _hash_files(
    files: Sequence[_File], *, max_bytes: int, verify: bool
) -> tuple[dict[str, str], list[_File], list[tuple[str, str]]]:
    """Hash files; return the hashes by relative path, the files to parse, and skips.

    Music files over ``max_bytes`` are not parsed (nor hashed, unless ``verify``
    needs every hash); unreadable files are reported.
    """
    hashes, to_parse, skipped = {}, [], []
    for item in files:
        limit = max_bytes if item.music and not verify else None
        try:
            size, file_hash = _hash_file(item.path, max_bytes=limit)
        except OSError as error:
            skipped.append((_display(item.rel), f"unreadable: {error.strerror or error}"))
            continue
        if file_hash is not None:
            hashes[item.rel] = file_hash
        if not item.music:
            continue
        if size > max_bytes:
            skipped.append((_display(item.rel), f"file of {size:,} bytes exceeds the limit of {max_bytes:,}"))
        else:
            to_parse.append(item)
    return hashes, to_parse, skipped


def _verify_content(layout: _Layout, files: list[_File], hashes: dict[str, str]) -> None:
    """Compare the layout's files with the checksum they should have."""
    if layout.expected_content is None:
        return
    pairs = [(item.rel, hashes.get(item.rel)) for item in files if item.rel != RECORD_NAME]
    unreadable = sum(1 for _, file_hash in pairs if file_hash is None)
    actual = f"{unreadable} unreadable files" if unreadable else _checksum_from_hashes(pairs)
    if actual == layout.expected_content:
        return
    message = (
        f"the files of {layout.name!r} in {layout.root} do not match its checksum "
        f"(expected {layout.expected_content}, got {actual})"
    )
    if layout.strict:
        raise DatasetError(f"{message}; delete {layout.root} and download it again")
    warnings.warn(f"{message}; results will not be comparable with the published dataset", stacklevel=4)


def _local_layout(dataset: DatasetInfo, path: Path) -> _Layout:
    """Layout of a local copy of a registered dataset (its root or its files folder)."""
    if not path.is_dir():
        raise DatasetError(f"no such folder: {path}")
    expected = None
    if dataset.folders:
        folders = tuple((path / f, f"{f}/") for f in dataset.folders if (path / f).is_dir()) or ((path, ""),)
    elif dataset.subdir:
        inner = path / dataset.subdir
        folders = ((inner if inner.is_dir() else path, f"{dataset.subdir}/"),)
        expected = dataset.content_sha256
    else:
        folders = ((path, ""),)
    return _Layout(
        dataset.name, path, folders, dataset.suffixes, dataset.merge_tracks, expected, strict=False
    )


def _builtin_layout(dataset: DatasetInfo) -> _Layout:
    root = _music21_corpus()
    missing = [f for f in dataset.folders if not (root / f).is_dir()]
    if missing:
        raise DatasetError(
            f"music21's corpus at {root} lacks {', '.join(missing)}; reinstall music21 with its corpus "
            f"or pass path= to load({dataset.name!r}) a local copy"
        )
    folders = tuple((root / f, f"{f}/") for f in dataset.folders) or ((root, ""),)
    return _Layout(dataset.name, root, folders, dataset.suffixes, dataset.merge_tracks)


def _downloaded_layout(dataset: DatasetInfo, root: Path) -> _Layout:
    expected = dataset.content_sha256 or _read_record(root).get("content_sha256")
    if expected is None:
        warnings.warn(f"{root} has no {RECORD_NAME} record: its content cannot be verified", stacklevel=4)
    folder = root / dataset.subdir if dataset.subdir else root
    if not folder.is_dir():
        raise DatasetError(f"{folder} is missing; delete {root} and download {dataset.name!r} again")
    prefix = f"{dataset.subdir}/" if dataset.subdir else ""
    return _Layout(dataset.name, root, ((folder, prefix),), dataset.suffixes, dataset.merge_tracks, expected)


def _resolve(
    name: str | os.PathLike,
    *,
    path: str | os.PathLike | None,
    fetch: bool,
    cache_dir: str | os.PathLike | None,
    allow_unverified: bool,
    progress: bool,
) -> _Layout:
    """Turn the arguments of :func:`load` into a layout, downloading if asked."""
    if _is_folder_name(name):
        if path is not None:
            raise ValueError("give either a folder as the name or path=, not both")
        folder = Path(name).expanduser()
        if not folder.is_dir():
            raise DatasetError(f"no such folder: {folder}")
        return _Layout(folder.resolve().name or str(folder), folder, ((folder, ""),), SUPPORTED_SUFFIXES)
    dataset = info(name)
    if path is not None:
        return _local_layout(dataset, Path(path).expanduser())
    if dataset.kind == "builtin":
        return _builtin_layout(dataset)
    root = data_home(cache_dir) / dataset.name
    if not root.is_dir():
        if not fetch:
            raise DatasetError(
                f"dataset {name!r} is not in {root.parent}; call load({name!r}, download=True) to fetch it "
                f"from {dataset.url}, or load({name!r}, path=...) to read a local copy"
            )
        root = download(
            dataset.name, cache_dir=cache_dir, allow_unverified=allow_unverified, progress=progress
        )
    return _downloaded_layout(dataset, root)


def _is_folder_name(name: object) -> bool:
    """A path-like object, or a string that is no registered name and looks like a path."""
    if isinstance(name, os.PathLike):
        return True
    if not isinstance(name, str) or name in REGISTRY:
        return False
    return "/" in name or os.sep in name or name.startswith(("~", ".")) or Path(name).exists()


# --------------------------------------------------------------------------- parsing


def _rebase(source: str, absolute: str, rel: str) -> str:
    return rel + source[len(absolute) :] if source.startswith(absolute) else source


def _parse_one(
    path: str, rel: str, limits: ReadLimits, keep_chords: bool
) -> tuple[list[Tune], list[tuple[str, str]]]:
    """Read one file; every failure becomes a ``(source, reason)`` entry."""
    try:
        tunes, skipped = _io.read(path, limits=limits, keep_chords=keep_chords)
    except MusicReadError as error:
        return [], [(rel, error.reason)]
    except Exception as error:  # one bad file must never stop a corpus
        return [], [(rel, f"{type(error).__name__}: {error}")]
    absolute = str(Path(path))  # how the reader spells the path in its sources
    tunes = [tune.replace(source=_rebase(tune.source, absolute, rel)) for tune in tunes]
    return tunes, [(_rebase(source, absolute, rel), reason) for source, reason in skipped]


def _parse_chunk(
    items: Sequence[tuple[str, str]], limits: ReadLimits, keep_chords: bool
) -> list[tuple[list[Tune], list[tuple[str, str]]]]:
    """Worker-process entry point: parse several files in order."""
    return [_parse_one(path, rel, limits, keep_chords) for path, rel in items]


def _progress_bar(enabled: bool, *, total: int | None, unit: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit=unit, unit_scale=unit == "B", disable=not enabled, leave=False)


def _parse_all(
    items: list[tuple[str, str]], *, limits: ReadLimits, keep_chords: bool, workers: int, progress: bool
) -> tuple[list[Tune], list[tuple[str, str]]]:
    """Parse files serially or in a process pool; the result is the same either way."""
    results: list[tuple[list[Tune], list[tuple[str, str]]]] = []
    with _progress_bar(progress, total=len(items), unit="file") as bar:
        if workers <= 1 or len(items) <= 1:
            for path, rel in items:
                results.append(_parse_one(path, rel, limits, keep_chords))
                bar.update(1)
        else:
            chunks = _chunks(items, workers * _CHUNKS_PER_WORKER)
            parse = functools.partial(_parse_chunk, limits=limits, keep_chords=keep_chords)
            with concurrent.futures.ProcessPoolExecutor(max_workers=min(workers, len(chunks))) as pool:
                for chunk, parsed in zip(chunks, pool.map(parse, chunks)):
                    results.extend(parsed)
                    bar.update(len(chunk))
    tunes = [tune for file_tunes, _ in results for tune in file_tunes]
    skipped = [entry for _, file_skipped in results for entry in file_skipped]
    return _unique_sources(tunes), skipped


def _chunks(items: list[tuple[str, str]], count: int) -> list[list[tuple[str, str]]]:
    """Split ``(path, rel)`` items, in order, into about ``count`` runs of similar byte size."""
    sizes = []
    for path, _ in items:
        try:
            sizes.append(os.path.getsize(path))
        except OSError:
            sizes.append(0)
    target = max(1.0, sum(sizes) / count)
    chunks, current, filled = [], [], 0
    for item, size in zip(items, sizes):
        current.append(item)
        filled += size
        if filled >= target:
            chunks.append(current)
            current, filled = [], 0
    if current:
        chunks.append(current)
    return chunks


def _unique_sources(tunes: list[Tune]) -> list[Tune]:
    """Make sources unique (an ABC file may number two tunes alike): ``#3``, ``#3~2``."""
    seen: dict[str, int] = {}
    out = []
    for tune in tunes:
        count = seen.get(tune.source, 0) + 1
        seen[tune.source] = count
        out.append(tune if count == 1 else tune.replace(source=f"{tune.source}~{count}"))
    return out


# --------------------------------------------------------------------------- parse cache


@functools.lru_cache(maxsize=1)
def _reader_version() -> str:
    """Identify the reading code, so that a changed reader invalidates the cache."""
    digest = hashlib.sha256()
    for module_file in (_io.__file__, _tune.__file__):
        try:
            digest.update(Path(module_file).read_bytes())
        except (OSError, TypeError):
            digest.update(str(module_file).encode())
    digest.update(_installed_version(_PARSER_PACKAGE).encode())
    return digest.hexdigest()


def _installed_version(package: str) -> str:
    """The dist-info name (``symusic-0.6.0.dist-info``) of a package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.origin:
        return f"{package} not installed"
    origin = Path(spec.origin).resolve()
    infos = sorted(origin.parent.parent.glob(f"{package}-*.dist-info"))
    return infos[-1].name if infos else str(origin)


def corpus_fingerprint(
    files: Sequence[tuple[str, str]], *, limits: ReadLimits = DEFAULT_LIMITS, keep_chords: bool = True
) -> str:
    """The parse-cache key of a corpus.

    SHA-256 over the cache format version, the reader's code, the read options and,
    for each ``(relative path, file sha256)`` in ``files`` (sorted), the path and hash.
    """
    digest = hashlib.sha256()
    options = {"limits": dataclasses.asdict(limits), "keep_chords": bool(keep_chords)}
    digest.update(f"{_CACHE_FORMAT}\n{_reader_version()}\n{json.dumps(options, sort_keys=True)}\n".encode())
    for rel, file_hash in sorted(files):
        digest.update(_encode_path(rel) + b"\0" + file_hash.encode() + b"\n")
    return digest.hexdigest()


def _offsets(counts: Sequence[int]) -> np.ndarray:
    """``[0, c0, c0 + c1, ...]`` as int64."""
    return np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).astype(np.int64)


def _pack(tunes: Sequence[Tune]) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
    """All notes in one array plus offsets, and JSON-ready metadata per tune."""
    tracks = [track for tune in tunes for track in tune.tracks]
    note_counts = [len(track.notes) for track in tracks]
    notes = np.concatenate([t.notes for t in tracks]) if tracks else np.zeros(0, dtype=NOTE_DTYPE)
    arrays = {
        "notes": notes.astype(NOTE_DTYPE, copy=False),
        "track_offsets": _offsets(note_counts),
        "tune_offsets": _offsets([len(tune.tracks) for tune in tunes]),
    }
    meta = [
        {
            "title": tune.title,
            "source": tune.source,
            "tracks": [[t.name, t.program, t.is_drum] for t in tune.tracks],
            "time_signatures": [[s.time, s.numerator, s.denominator] for s in tune.time_signatures],
            "key_signatures": [[k.time, k.sharps, k.mode] for k in tune.key_signatures],
            "tempos": [[t.time, t.qpm] for t in tune.tempos],
        }
        for tune in tunes
    ]
    return arrays, meta


def _unpack(arrays: dict[str, np.ndarray], meta: list[dict[str, Any]]) -> list[Tune]:
    """Rebuild tunes from :func:`_pack`'s output; raise ValueError when inconsistent."""
    notes = arrays["notes"]
    if notes.dtype != NOTE_DTYPE or notes.ndim != 1:
        raise ValueError(f"notes have dtype {notes.dtype}, expected NOTE_DTYPE")
    track_offsets, tune_offsets = arrays["track_offsets"].tolist(), arrays["tune_offsets"].tolist()
    if len(tune_offsets) != len(meta) + 1 or tune_offsets[0] != 0:
        raise ValueError("tune offsets do not match the metadata")
    if tune_offsets[-1] != len(track_offsets) - 1:
        raise ValueError("tune offsets do not match the track offsets")
    if track_offsets[0] != 0 or track_offsets[-1] != len(notes) or np.any(np.diff(track_offsets) < 0):
        raise ValueError("track offsets do not match the notes")
    tunes = []
    for i, entry in enumerate(meta):
        first, last = tune_offsets[i], tune_offsets[i + 1]
        if last - first != len(entry["tracks"]):
            counts = f"{len(entry['tracks'])} tracks in the metadata, {last - first} in the arrays"
            raise ValueError(f"tune {i}: {counts}")
        tracks = tuple(
            Track(
                notes=notes[track_offsets[j] : track_offsets[j + 1]],
                name=str(name),
                program=int(program),
                is_drum=bool(is_drum),
            )
            for j, (name, program, is_drum) in zip(range(first, last), entry["tracks"])
        )
        meters = entry["time_signatures"]
        keys = entry["key_signatures"]
        tunes.append(
            Tune(
                tracks=tracks,
                title=str(entry["title"]),
                source=str(entry["source"]),
                time_signatures=tuple(TimeSignature(float(t), int(n), int(d)) for t, n, d in meters),
                key_signatures=tuple(KeySignature(float(t), int(s), str(m)) for t, s, m in keys),
                tempos=tuple(Tempo(float(t), float(q)) for t, q in entry["tempos"]),
            )
        )
    return tunes


def _cache_paths(folder: Path, fingerprint: str) -> tuple[Path, Path]:
    return folder / f"{fingerprint}.npz", folder / f"{fingerprint}.json"


def _read_cache(folder: Path, fingerprint: str) -> tuple[list[Tune], list[tuple[str, str]]] | None:
    """The cached tunes and per-file skips, or None (with a warning when the entry was bad)."""
    npz_path, json_path = _cache_paths(folder, fingerprint)
    if not json_path.exists() and not npz_path.exists():
        return None
    try:
        header = json.loads(json_path.read_text(encoding="utf-8"))
        if header.get("format") != _CACHE_FORMAT or header.get("fingerprint") != fingerprint:
            raise ValueError("format or fingerprint differs")
        payload = npz_path.read_bytes()
        if sha256_bytes(payload) != header["npz_sha256"]:
            raise ValueError("the npz file's checksum differs from the one recorded")
        with np.load(_bytes_io.BytesIO(payload), allow_pickle=False) as data:
            arrays = {key: data[key] for key in ("notes", "track_offsets", "tune_offsets")}
        tunes = _unpack(arrays, header["tunes"])
        skipped = [(str(source), str(reason)) for source, reason in header["skipped"]]
    except Exception as error:  # a cache is disposable: any failure to read it means rebuild
        warnings.warn(
            f"parse cache entry {json_path.stem} was unreadable ({type(error).__name__}: {error}); "
            "it has been rebuilt",
            CacheRebuiltWarning,
            stacklevel=3,
        )
        return None
    return tunes, skipped


def _write_cache(folder: Path, fingerprint: str, tunes: list[Tune], skipped: list[tuple[str, str]]) -> None:
    """Store a parse result: the npz first, then the JSON that vouches for it."""
    npz_path, json_path = _cache_paths(folder, fingerprint)
    arrays, meta = _pack(tunes)
    try:
        with atomic_path(npz_path) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, **arrays)
            npz_hash = sha256_file(tmp)
        header = {
            "format": _CACHE_FORMAT,
            "fingerprint": fingerprint,
            "npz_sha256": npz_hash,
            "tunes": meta,
            "skipped": [list(entry) for entry in skipped],
        }
        atomic_write(json_path, json.dumps(header, ensure_ascii=False, separators=(",", ":")))
    except OSError as error:  # a read-only or full disk must not stop loading
        warnings.warn(f"could not write the parse cache in {folder}: {error}", stacklevel=3)


# --------------------------------------------------------------------------- load


def _empty_message(layout: _Layout, skipped: list[tuple[str, str]], files: int) -> str:
    where = ", ".join(str(folder) for folder, _ in layout.folders)
    if not skipped:
        return f"no readable tune in {where}; no files ending in {', '.join(layout.suffixes)} found"
    reasons = "; ".join(f"{source}: {reason}" for source, reason in skipped[:_ERROR_REASONS])
    return (
        f"no readable tune in {where}; {len(skipped):,} files skipped (of {files:,} read): "
        f"first reasons: {reasons}"
    )


MAX_AUTO_WORKERS = 4
"""Most processes ``load(workers=None)`` starts."""

PARALLEL_MIN_FILES = 64
"""Below this many files, ``load(workers=None)`` parses in the calling process."""


def _auto_workers(workers: int | None, n_files: int) -> int:
    if workers is not None:
        return workers
    if n_files < PARALLEL_MIN_FILES:
        return 1
    return max(1, min(os.cpu_count() or 1, MAX_AUTO_WORKERS))


def _check_load_arguments(
    name: object, *, path: object, cache_dir: object, limits: object, workers: object, flags: dict[str, object]
) -> None:
    """Fail at once, naming the parameter and what it accepts (before any file is touched)."""
    if not isinstance(name, (str, os.PathLike)):
        raise TypeError(f"name must be a registered dataset name ({', '.join(list_datasets())}) or a folder, "
                        f"got {name!r}")
    for key, value in (("path", path), ("cache_dir", cache_dir)):
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise TypeError(f"{key} must be None or a folder (str or os.PathLike), got {value!r}")
    if not isinstance(limits, ReadLimits):
        raise TypeError(f"limits must be a musiclib.io.ReadLimits, got {limits!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be None or an integer >= 1, got {workers!r}")
    for key, value in flags.items():
        if not isinstance(value, bool):
            raise TypeError(f"{key} must be True or False, got {value!r}")


def load(
    name: str | os.PathLike = DEFAULT_DATASET,
    *,
    path: str | os.PathLike | None = None,
    download: bool = False,
    cache_dir: str | os.PathLike | None = None,
    limits: ReadLimits = DEFAULT_LIMITS,
    keep_chords: bool = True,
    use_cache: bool = True,
    workers: int | None = None,
    progress: bool = False,
    allow_unverified: bool = False,
) -> Corpus:
    """Load a dataset (or any folder of music files) as a :class:`Corpus`.

    Files with a dataset's suffixes (case-insensitive) are found recursively and
    read in order of their relative paths. A file that cannot be read, or an ABC
    tune inside a good file, is skipped and reported in ``Corpus.skipped``; one bad
    file never stops a corpus. Downloaded datasets are checked against their pinned
    checksum (or their trust-on-first-use record) on every load; a local copy given
    by ``path=`` that differs from the pinned checksum only warns.

    Parameters
    ----------
    name
        A registered name (see :func:`list_datasets`) or a folder (``str`` that is
        not a registered name and looks like a path, or any ``os.PathLike``).
    path
        Read a local copy of a registered dataset: its root (the folder holding
        ``MIDI/`` for Nottingham) or straight the folder of files.
    download
        Fetch a missing ``download`` dataset (see :func:`download`); never done
        unasked.
    cache_dir
        Overrides :func:`data_home` for downloads and the parse cache.
    limits, keep_chords
        Passed to :func:`musiclib.io.read`; part of the cache key.
    use_cache
        Read and write the parse cache in ``<data_home>/parsed/``.
    workers
        Parse in this many processes (the result is identical to serial parsing).
        ``None`` (default) uses one process per CPU, up to :data:`MAX_AUTO_WORKERS`,
        when there are more than :data:`PARALLEL_MIN_FILES` files to parse.
    progress
        Show tqdm bars.
    allow_unverified
        Passed to :func:`download` for datasets without a pinned checksum.

    Raises
    ------
    DatasetError
        Unknown name, data absent without ``download=True``, failed download or
        verification, or no readable tune at all.
    """
    _check_load_arguments(
        name,
        path=path,
        cache_dir=cache_dir,
        limits=limits,
        workers=workers,
        flags={
            "download": download,
            "keep_chords": keep_chords,
            "use_cache": use_cache,
            "progress": progress,
            "allow_unverified": allow_unverified,
        },
    )
    layout = _resolve(
        name,
        path=path,
        fetch=download,
        cache_dir=cache_dir,
        allow_unverified=allow_unverified,
        progress=progress,
    )
    listed, odd = _list_files(layout)
    verify = layout.expected_content is not None
    to_hash = listed if verify else [item for item in listed if item.music]
    hashes, music, unreadable = _hash_files(to_hash, max_bytes=limits.max_bytes, verify=verify)
    _verify_content(layout, listed, hashes)
    fingerprint = corpus_fingerprint(
        [(item.rel, hashes[item.rel]) for item in music], limits=limits, keep_chords=keep_chords
    )
    cache_folder = data_home(cache_dir) / PARSED_DIR
    cached = _read_cache(cache_folder, fingerprint) if use_cache else None
    if cached is None:
        items = [(item.path, _display(item.rel)) for item in music]
        tunes, parse_skipped = _parse_all(
            items, limits=limits, keep_chords=keep_chords, workers=_auto_workers(workers, len(items)), progress=progress
        )
        if use_cache and tunes:
            _write_cache(cache_folder, fingerprint, tunes, parse_skipped)
    else:
        tunes, parse_skipped = cached
    skipped = odd + unreadable + parse_skipped
    if not tunes:
        raise DatasetError(_empty_message(layout, skipped, len(music)))
    return Corpus(
        name=layout.name,
        tunes=tunes,
        skipped=skipped,
        root=layout.root,
        fingerprint=fingerprint,
        files=len(music),
        merge_tracks=layout.merge_tracks,
    )
