"""Content checksums of dataset folders: every file's path and SHA-256, in a stable order.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable, Iterator, Sequence

from musiclib.datasets.registry import RECORD_NAME, DatasetError

__all__ = [
    "content_checksum",
]


def _encode_path(rel: str) -> bytes:
    """Bytes of a relative path as the file system has them (lossless on POSIX)."""
    return rel.encode("utf-8", "surrogateescape")


def _checksum_from_hashes(pairs: Sequence[tuple[str, str]]) -> str:
    """The content checksum of ``(relative path, file sha256)`` pairs (any order)."""
    digest = hashlib.sha256()
    for rel, file_hash in sorted(pairs):
        digest.update(_encode_path(rel) + b"\0" + file_hash.encode() + b"\n")
    return digest.hexdigest()


def _scan(
    folder: str | os.PathLike, base: str = "", on_error: Callable[[str, OSError], None] | None = None
) -> Iterator[tuple[str, os.DirEntry]]:
    """Every entry under ``folder`` as ``(base + relative POSIX path, entry)``, recursively.

    Symbolic links to folders are not followed (no loops); links to files are
    reported as entries like any other. A sub-folder that cannot be listed (permission
    denied, vanished) is passed to ``on_error`` as ``(its relative path, the error)``
    and skipped; without ``on_error``, or for ``folder`` itself, the error is raised.
    """
    with os.scandir(folder) as entries:
        listed = list(entries)
    for entry in listed:
        rel = base + entry.name
        yield rel, entry
        if not _is_real_dir(entry, on_error):
            continue
        try:
            yield from _scan(entry.path, f"{rel}/", on_error)
        except OSError as error:
            if on_error is None:
                raise
            on_error(rel, error)


def _is_real_dir(entry: os.DirEntry, on_error: Callable[[str, OSError], None] | None) -> bool:
    """Whether an entry is a folder, not a link to one.

    An entry that cannot be examined counts as no folder when errors are reported
    (whoever looks at the entry next meets, and reports, the same error).
    """
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        if on_error is None:
            raise
        return False


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
