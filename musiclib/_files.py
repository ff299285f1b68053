"""Atomic file writes and content hashing.

Every artifact musiclib writes (MIDI, WAV, JSON, caches, models) goes through
:func:`atomic_write` or :func:`atomic_path`, so a reader never sees a half-written
file: the data goes to a temporary file in the same folder, is flushed to disk and
then renamed into place (``os.replace`` is atomic on POSIX and Windows).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

__all__ = [
    "atomic_path", "atomic_write", "write_json", "json_ready", "read_json", "sha256_file", "sha256_bytes",
    "links_outside",
]

_CHUNK = 1 << 20
_FILE_MODE = 0o666


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left as it was.

    Parameters
    ----------
    path
        Final destination.
    suffix
        Suffix of the temporary file (default: the suffix of ``path``), for writers
        that infer the format from the name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=(path.suffix if suffix is None else suffix) + ".tmp", dir=path.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, _FILE_MODE & ~_umask())  # mkstemp makes 0600 files; give the usual mode
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write(path: str | os.PathLike, data: bytes | str, *, encoding: str = "utf-8") -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    payload = data.encode(encoding) if isinstance(data, str) else data
    with atomic_path(path) as tmp:
        tmp.write_bytes(payload)
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented, key-sorted JSON, atomically."""
    return atomic_write(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def json_ready(value: Any) -> Any:
    """``value`` with numpy scalars made Python numbers and NaN/inf floats None, so the JSON is standard."""
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def links_outside(folder: str | os.PathLike, names: Iterable[str]) -> dict[str, Path]:
    """The entries of ``folder`` among ``names`` that resolve to a place outside it.

    A symbolic link (or a chain of them) whose target lies outside ``folder`` maps to
    that target; entries that are absent, stay inside ``folder`` or are link loops
    (which lead nowhere, so they read as missing files) are left out. The
    folder itself may be a link: only what lies in it is judged.

    Parameters
    ----------
    folder
        The folder whose files must be its own (a model bundle, say).
    names
        File names inside it.

    Returns
    -------
    dict of str to Path
        Name -> where it really points, for each entry that leaves ``folder``.
    """
    root = Path(folder).resolve()
    found = {}
    for name in names:
        entry = Path(folder) / name
        if not entry.is_symlink() and not entry.exists():
            continue
        try:
            target = entry.resolve()
        except (OSError, RuntimeError):  # a link loop leads nowhere: the entry reads as missing
            continue
        if not target.is_relative_to(root):
            found[name] = target
    return found
