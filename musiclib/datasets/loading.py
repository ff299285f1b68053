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

import functools
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from musiclib import io as _io
from musiclib._processes import process_pool
from musiclib.datasets.archives import _MACOS_FORKS
from musiclib.datasets.cache import PARSED_DIR, _read_cache, _write_cache, corpus_fingerprint
from musiclib.datasets.checksums import _checksum_from_hashes, _encode_path, _hash_file, _scan
from musiclib.datasets.corpus import _ERROR_REASONS, Corpus
from musiclib.datasets.fetch import _progress_bar, _read_record, download
from musiclib.datasets.registry import (
    DEFAULT_DATASET,
    RECORD_NAME,
    REGISTRY,
    DatasetError,
    DatasetInfo,
    _music21_corpus,
    data_home,
    info,
    list_datasets,
)
from musiclib.io import (
    DEFAULT_LIMITS,
    SUPPORTED_SUFFIXES,
    MusicReadError,
    ReadLimits,
    _os_error_reason,
)
from musiclib.tune import Tune

__all__ = [
    "load",
]


_CHUNKS_PER_WORKER = 8


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


def _entry_problem(entry: os.DirEntry) -> str | None:
    """Why a listed entry cannot be read as a file (``None`` for a regular file or a link to one).

    Raises
    ------
    OSError
        When the entry cannot be examined (a link loop, permission denied...).
    """
    if entry.is_file():
        return None
    if entry.is_dir():
        return "is a directory, not a file"
    if entry.is_symlink():
        try:
            os.stat(entry.path)
        except FileNotFoundError:
            return "broken symbolic link"
    return "not a regular file (device, FIFO or socket)"


def _list_files(layout: _Layout) -> tuple[list[_File], list[tuple[str, str]]]:
    """Every regular file in the layout's folders, sorted, plus odd entries to report.

    No file-system error on one entry stops the listing: a music file that cannot be
    examined (a symbolic link loop, permission denied) and a sub-folder that cannot be
    listed are reported with the reason instead.
    """
    suffixes = tuple(s.lower() for s in layout.suffixes)
    files, odd = [], []

    def unlisted(rel: str, error: OSError) -> None:
        odd.append((_display(rel), f"folder not listed: {_os_error_reason(error)}"))

    for folder, prefix in layout.folders:
        try:
            for rel, entry in _scan(folder, prefix, on_error=unlisted):
                music = entry.name.lower().endswith(suffixes) and not _ignored(rel)
                try:
                    problem = _entry_problem(entry)
                except OSError as error:
                    problem = _os_error_reason(error)
                if problem is None:
                    files.append(_File(rel, entry.path, music))
                elif music:
                    odd.append((_display(rel), problem))
        except OSError as error:
            raise DatasetError(f"cannot list the folder {folder}: {_os_error_reason(error)}") from None
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
        except FileNotFoundError:
            skipped.append((_display(item.rel), "no such file (it vanished after the folder was listed)"))
            continue
        except OSError as error:
            skipped.append((_display(item.rel), _os_error_reason(error)))
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
            # spawn, not fork: see musiclib._processes (a fork after TensorFlow, FluidSynth or
            # librosa have started threads can deadlock)
            with process_pool(min(workers, len(chunks))) as pool:
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
        when there are more than :data:`PARALLEL_MIN_FILES` files to parse. Workers
        are started with ``spawn`` (a process forked after TensorFlow, FluidSynth or
        librosa have started threads can deadlock), so a script that asks for them
        needs the usual ``if __name__ == "__main__":`` guard; notebooks need nothing.
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
