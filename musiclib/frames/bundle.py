"""Piano-roll model bundles: one folder with the network, its config, the data it was trained
on, its scores and history; and the reference bundles made by the benchmark command.

A bundle holds::

    model.keras    network and weights only (no optimizer state), loaded in Keras safe mode
    config.json    kind "musiclib.frames-bundle", format, the FrameModelConfig
    data.json      the set's name, its file's SHA-256, steps_per_quarter, the training rolls' fingerprint
    metrics.json   scores (e.g. valid/test FrameScores)
    history.json   the training history

It is written into a temporary folder and renamed into place. A bundle from elsewhere is
untrusted: symbolic links leading out of the folder and ``.keras`` files holding code or
non-Keras objects are refused before Keras reads anything.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from musiclib._files import links_outside, read_json, write_json
from musiclib._keras import deflate_keras_archive, load_checked_model, quiet_keras_saving
from musiclib.frames.model import FrameModelConfig, build_frame_model
from musiclib.lm.bundle import _swap_into_place
from musiclib.lm.reference import REFERENCE_FILE, reference_record

__all__ = [
    "FRAME_BUNDLE_FILES",
    "FrameBundle",
    "FrameBundleError",
    "export_frame_reference",
    "load_frame_bundle",
    "load_frame_reference",
    "save_frame_bundle",
]

_MODEL, _CONFIG, _DATA, _METRICS, _HISTORY = "model.keras", "config.json", "data.json", "metrics.json", "history.json"
FRAME_BUNDLE_FILES = (_MODEL, _CONFIG, _DATA, _METRICS, _HISTORY)
"""Files every piano-roll bundle has."""
_KIND = "musiclib.frames-bundle"
_FORMAT = 1
_DATA_KEYS = ("dataset", "sha256", "steps_per_quarter", "train_fingerprint")


class FrameBundleError(ValueError):
    """A piano-roll bundle that is incomplete, untrusted or whose parts do not belong together."""


@dataclass(frozen=True)
class FrameBundle:
    """A loaded piano-roll bundle: ``path``, ``model`` (uncompiled), ``config``, ``data_info``,
    ``metrics``, ``history``."""

    path: Path
    model: Any
    config: FrameModelConfig
    data_info: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    history: dict[str, Any] = field(default_factory=dict)

    @property
    def steps_per_quarter(self) -> int:
        return int(self.data_info["steps_per_quarter"])


def _weights_only(model, config: FrameModelConfig):
    """An uncompiled copy of ``model`` (no optimizer state travels with it)."""
    n_keys = int(model.inputs[0].shape[-1])
    copy = build_frame_model(config, n_keys=n_keys)
    copy.set_weights(model.get_weights())
    return copy


def save_frame_bundle(
    path: str | os.PathLike,
    *,
    model: Any,
    config: FrameModelConfig,
    data_info: Mapping[str, Any],
    metrics: Mapping[str, Any] | None = None,
    history: Mapping[str, Any] | None = None,
    extra: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """Write a piano-roll bundle folder atomically (an old bundle there is replaced).

    ``data_info`` needs ``dataset``, ``sha256``, ``steps_per_quarter`` and
    ``train_fingerprint``; ``extra`` maps more JSON file names to their contents.
    """
    path = Path(path)
    if not isinstance(config, FrameModelConfig):
        raise FrameBundleError(f"config must be a FrameModelConfig, got {type(config).__name__}")
    missing = [key for key in _DATA_KEYS if key not in data_info]
    if missing:
        raise FrameBundleError(f"data_info lacks {', '.join(missing)}")
    if path.exists() and not (path / _CONFIG).is_file():
        raise FrameBundleError(f"{path} exists and is not a bundle; refusing to replace it (choose another path)")
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        with quiet_keras_saving():
            _weights_only(model, config).save(staging / _MODEL)
        write_json(staging / _CONFIG, {"kind": _KIND, "format": _FORMAT, "model": config.to_dict()})
        write_json(staging / _DATA, dict(data_info))
        write_json(staging / _METRICS, dict(metrics or {}))
        write_json(staging / _HISTORY, dict(history or {}))
        for name, content in (extra or {}).items():
            write_json(staging / name, dict(content))
        staging.chmod(0o755)
        _swap_into_place(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def _read(path: Path) -> Any:
    try:
        return read_json(path)
    except FileNotFoundError:
        raise FrameBundleError(f"{path} is missing; a piano-roll bundle needs {', '.join(FRAME_BUNDLE_FILES)}") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise FrameBundleError(f"{path} is not valid JSON: {error}") from None


def load_frame_bundle(path: str | os.PathLike) -> FrameBundle:
    """Load a bundle written by :func:`save_frame_bundle`, checking it first.

    Raises
    ------
    FrameBundleError
        A missing or malformed file, a bundle of another kind, a symbolic link out of
        the folder, a ``model.keras`` with code or custom objects, or a network that
        does not match its config.
    """
    path = Path(path)
    if not path.is_dir():
        raise FrameBundleError(f"no piano-roll bundle at {path}")
    for name, target in links_outside(path, FRAME_BUNDLE_FILES).items():
        raise FrameBundleError(f"{path / name} is a symbolic link to {target}, outside the bundle; refusing it")
    header = _read(path / _CONFIG)
    if not isinstance(header, dict) or header.get("kind") != _KIND:
        raise FrameBundleError(f"{path} is not a piano-roll bundle ({_CONFIG} has no kind {_KIND!r})")
    if header.get("format") != _FORMAT:
        raise FrameBundleError(f"{path} has bundle format {header.get('format')!r}; this musiclib reads {_FORMAT}")
    try:
        config = FrameModelConfig.from_dict(header.get("model") or {})
    except (TypeError, ValueError) as error:
        raise FrameBundleError(f"{path / _CONFIG}: {error}") from None
    data_info = _read(path / _DATA)
    if not isinstance(data_info, dict) or any(key not in data_info for key in _DATA_KEYS):
        raise FrameBundleError(f"{path / _DATA} must name {', '.join(_DATA_KEYS)}")
    model = load_checked_model(path / _MODEL, error=FrameBundleError)
    expected = "nade_input_weights" if config.kind == "nade" else "key_logits"
    if expected not in {layer.name for layer in model.layers}:
        raise FrameBundleError(f"{path / _MODEL} is not a {config.kind!r} piano-roll network as {_CONFIG} says")
    return FrameBundle(path=path, model=model, config=config, data_info=data_info,
                       metrics=_read(path / _METRICS), history=_read(path / _HISTORY))


def load_frame_reference(name: str, *, root: str | os.PathLike | None = None) -> FrameBundle:
    """Load the piano-roll reference bundle ``name`` (under ``musiclib/reference/``).

    Its ``reference.json`` must name it, give the command that made it, and record the
    training data fingerprint the bundle's ``data.json`` holds.
    """
    folder, record = reference_record(name, root=root, error=FrameBundleError)
    bundle = load_frame_bundle(folder)
    if record.get("data_hash") != bundle.data_info.get("train_fingerprint"):
        raise FrameBundleError(f"{folder / REFERENCE_FILE} names other training data than the bundle's {_DATA}")
    return bundle


def export_frame_reference(
    bundle: FrameBundle,
    name: str,
    *,
    command: str,
    root: str | os.PathLike,
    notes: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``bundle`` as the reference bundle ``name`` under ``root`` with its ``reference.json``."""
    record = {
        "name": name,
        "dataset": bundle.data_info["dataset"],
        "data_hash": bundle.data_info["train_fingerprint"],
        "file_sha256": bundle.data_info["sha256"],
        "command": command,
        **dict(notes or {}),
    }
    folder = save_frame_bundle(Path(root) / name, model=bundle.model, config=bundle.config,
                               data_info=bundle.data_info, metrics=bundle.metrics, history=bundle.history,
                               extra={REFERENCE_FILE: record})
    for archive in folder.glob("*.keras"):
        deflate_keras_archive(archive)  # the same bytes, about 9% smaller
    return folder
