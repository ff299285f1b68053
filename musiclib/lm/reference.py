"""Reference models: small trained LSTM bundles shipped with musiclib, loaded by name.

A reference bundle is an ordinary bundle (:mod:`musiclib.lm.bundle`: loaded in Keras
safe mode, every part checked against the others) kept under
``musiclib/reference/<name>/``, with two differences: its ``model.keras`` holds the
network and its weights only (no optimizer state), and a ``reference.json`` beside it
records the data fingerprint it was trained on and the exact command that made it.

    import musiclib as ml
    bundle = ml.lm.load_reference("nottingham-lstm")
    ml.lm.generate_midi(bundle, "piece.mid", n_bars=16, seed=0)

``musiclib generate --bundle nottingham-lstm`` takes a reference name wherever it takes
a bundle folder.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from musiclib import _tf
from musiclib._files import read_json, write_json
from musiclib._keras import deflate_keras_archive
from musiclib.lm.bundle import Bundle, BundleError, _swap_into_place, load_bundle, save_bundle

__all__ = [
    "REFERENCE_DIR",
    "REFERENCE_FILE",
    "reference_names",
    "reference_path",
    "load_reference",
    "resolve_bundle",
    "reference_record",
    "export_reference",
]

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference"
"""Where the reference bundles live (package data of musiclib)."""

REFERENCE_FILE = "reference.json"
"""The file that makes a bundle folder a reference bundle: name, data fingerprint, command."""

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def _root(root: str | os.PathLike | None) -> Path:
    return Path(root) if root is not None else REFERENCE_DIR


def reference_names(root: str | os.PathLike | None = None) -> list[str]:
    """Names of the reference bundles under ``root`` (default :data:`REFERENCE_DIR`), sorted."""
    root = _root(root)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / REFERENCE_FILE).is_file())


def reference_path(name: str, *, root: str | os.PathLike | None = None) -> Path:
    """The folder of reference bundle ``name``; ``BundleError`` naming the known ones otherwise."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise BundleError(f"{name!r} is not a reference bundle name (lower-case letters, digits and '-')")
    names = reference_names(root)
    if name not in names:
        raise BundleError(f"no reference bundle named {name!r}; available: {', '.join(names) or 'none'}")
    return _root(root) / name


def reference_record(name: str, *, root: str | os.PathLike | None = None,
                     error: type[Exception] = BundleError) -> tuple[Path, dict[str, Any]]:
    """The folder of reference bundle ``name`` and its ``reference.json``, which must name it
    and give the command that made it; any problem is raised as ``error`` (each model
    family's loader then checks the record's data fingerprint against its bundle's)."""
    try:
        folder = reference_path(name, root=root)
    except BundleError as problem:
        raise error(str(problem)) from None
    try:
        record = read_json(folder / REFERENCE_FILE)
    except FileNotFoundError:
        raise error(f"{folder / REFERENCE_FILE} is missing") from None
    except (ValueError, UnicodeDecodeError) as problem:
        raise error(f"{folder / REFERENCE_FILE} is not valid JSON: {problem}") from None
    if not isinstance(record, dict) or record.get("name") != name or "command" not in record:
        raise error(f"{folder / REFERENCE_FILE} does not describe reference bundle {name!r}")
    return folder, record


def load_reference(name: str, *, root: str | os.PathLike | None = None) -> Bundle:
    """Load reference bundle ``name`` with every check of :func:`~musiclib.lm.bundle.load_bundle`.

    Raises
    ------
    BundleError
        For an unknown name, a malformed ``reference.json``, a data fingerprint in it
        that differs from the bundle's ``data.json``, a bundle file that is a symbolic
        link, or anything :func:`~musiclib.lm.bundle.load_bundle` refuses.
    """
    path = reference_path(name, root=root)
    header = path / "config.json"
    if header.is_file() and '"musiclib.frames-bundle"' in header.read_text(encoding="utf-8", errors="replace"):
        raise BundleError(f"reference bundle {name!r} is a piano-roll model; load it with "
                          f"ml.frames.load_frame_reference({name!r})")
    if header.is_file() and '"musiclib.gan_bundle"' in header.read_text(encoding="utf-8", errors="replace"):
        raise BundleError(f"reference bundle {name!r} is a GAN; load it with ml.gan.load_reference({name!r})")
    links = sorted(p.name for p in path.iterdir() if p.is_symlink())
    if links:
        raise BundleError(f"reference bundle {name!r} holds symbolic links ({', '.join(links)}); refusing to load it")
    try:
        record = read_json(path / REFERENCE_FILE)
    except (ValueError, UnicodeDecodeError) as error:
        raise BundleError(f"{path / REFERENCE_FILE} is not valid JSON: {error}") from None
    if not isinstance(record, dict) or record.get("name") != name or "command" not in record:
        raise BundleError(f"{path / REFERENCE_FILE} does not describe reference bundle {name!r}")
    bundle = load_bundle(path)
    if record.get("data_hash") != bundle.data_info.get("data_hash"):
        raise BundleError(
            f"{path / REFERENCE_FILE} names data {record.get('data_hash')!r} but the bundle was trained on "
            f"{bundle.data_info.get('data_hash')!r}"
        )
    return bundle


def resolve_bundle(source: str | os.PathLike) -> Path:
    """A bundle folder for ``source``: an existing folder, or the name of a reference bundle."""
    path = Path(source)
    if path.is_dir():
        return path
    if isinstance(source, str) and _NAME.match(source) and source in reference_names():
        return reference_path(source)
    names = ", ".join(reference_names()) or "none"
    raise BundleError(f"no model bundle at {source}: not a folder, nor a reference bundle name (available: {names})")


def export_reference(
    bundle: Bundle | str | os.PathLike,
    name: str,
    *,
    command: str,
    root: str | os.PathLike | None = None,
    notes: dict[str, Any] | None = None,
) -> Path:
    """Write ``bundle`` as reference bundle ``name``: network and weights only, plus ``reference.json``.

    Parameters
    ----------
    bundle
        A trained bundle (or its folder).
    name
        The reference name (lower-case letters, digits and '-').
    command
        The exact command that trained it, recorded for anyone to rerun.
    root
        Where reference bundles live.
    notes
        More JSON-able facts to record (measured numbers, the preset...).

    Returns
    -------
    Path
        The reference bundle folder (replaced atomically when it exists).
    """
    keras = _tf.keras()

    from musiclib.lm.architectures import build_model

    if not isinstance(name, str) or not _NAME.match(name):
        raise BundleError(f"{name!r} is not a reference bundle name (lower-case letters, digits and '-')")
    if not hasattr(bundle, "model"):
        bundle = load_bundle(bundle)
    keras.utils.set_random_seed(bundle.config.seed)
    weights_only = build_model(bundle.config)  # never compiled: no optimizer state to save
    weights_only.set_weights(bundle.model.get_weights())
    root = _root(root)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=root))
    try:
        folder = save_bundle(
            staging / "bundle", model=weights_only, config=bundle.config, vocab=bundle.vocab,
            encoding_config=bundle.encoding, data_info=bundle.data_info, split_path=bundle.split_path,
            metrics=bundle.metrics, history=bundle.history,
        )
        deflate_keras_archive(folder / "model.keras")  # the same bytes, about 9% smaller
        write_json(folder / REFERENCE_FILE, {
            "name": name,
            "dataset": bundle.data_info.get("dataset"),
            "data_hash": bundle.data_info.get("data_hash"),
            "corpus_fingerprint": bundle.data_info.get("corpus_fingerprint"),
            "command": command,
            **(notes or {}),
        })
        target = root / name
        folder.chmod(0o755)  # mkdtemp made it private; package data is read by every user
        _swap_into_place(folder, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
