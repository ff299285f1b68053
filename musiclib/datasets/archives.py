"""Safe extraction of downloaded archives (zip, tar): no member lands outside the target,
no link escapes it, sizes are bounded, and a failed extraction leaves nothing behind.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import tarfile
import zipfile
import zlib
from pathlib import Path
from typing import Sequence

from musiclib.datasets.registry import _DOWNLOAD_CHUNK, DatasetError

__all__ = [
    "safe_extract",
]


_MAX_EXTRACT_BYTES = 16 << 30
_DRIVE = re.compile(r"^[A-Za-z]:")
_MACOS_FORKS = "__MACOSX"


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
