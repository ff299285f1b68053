"""The parse cache: parsed corpora stored as ``.npz`` + JSON (never pickle) under a
fingerprint of the files' contents, the read options and the reader's code.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.util
import io as _bytes_io
import json
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from musiclib import io as _io
from musiclib import tune as _tune
from musiclib._files import atomic_path, atomic_write, sha256_bytes, sha256_file
from musiclib.datasets.checksums import _encode_path
from musiclib.io import DEFAULT_LIMITS, ReadLimits
from musiclib.tune import NOTE_DTYPE, KeySignature, Tempo, TimeSignature, Track, Tune

__all__ = [
    "CacheRebuiltWarning",
    "PARSED_DIR",
    "corpus_fingerprint",
]


PARSED_DIR = "parsed"
"""Sub-folder of :func:`data_home` that holds the parse cache."""
_CACHE_FORMAT = "musiclib-parsed-corpus-v1"
_PARSER_PACKAGE = "symusic"  # its version is part of the cache key


class CacheRebuiltWarning(UserWarning):
    """A parse-cache entry was unreadable or inconsistent and has been rebuilt."""


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
