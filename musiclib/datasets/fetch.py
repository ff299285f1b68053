"""Checksummed downloads: fetch, verify against the pinned SHA-256, extract, record.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from musiclib._files import atomic_write
from musiclib.datasets.archives import safe_extract
from musiclib.datasets.checksums import content_checksum
from musiclib.datasets.registry import (
    _DOWNLOAD_CHUNK,
    FROM_REGISTRY,
    RECORD_NAME,
    DatasetError,
    _FromRegistry,
    data_home,
    info,
)

__all__ = [
    "download",
]


_ALLOWED_SCHEMES = ("https", "http", "file")
_DOWNLOAD_TIMEOUT_S = 60.0
_MAX_DOWNLOAD_BYTES = 4 << 30


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


def _progress_bar(enabled: bool, *, total: int | None, unit: str):
    from musiclib._progress import tqdm_class

    tqdm = tqdm_class()

    return tqdm(total=total, unit=unit, unit_scale=unit == "B", disable=not enabled, leave=False)
