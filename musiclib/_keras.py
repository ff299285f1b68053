"""Keras saving helpers shared by every model family: atomic ``.keras`` files, quiet saving,
a ``BackupAndRestore`` callback whose backups are replaced atomically, and a check of a
``.keras`` archive's config that runs before Keras reads it (no Lambda, no custom objects).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import tempfile
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from musiclib import _tf
from musiclib._files import atomic_path, atomic_write, json_ready, read_json, write_json

_ARRAY_COPY_WARNING = "__array__ implementation doesn't accept a copy keyword"

_ARCHIVE_CONFIG = "config.json"
_MAX_CONFIG_BYTES = 16 << 20  # a model config of thousands of layers is a few MB
_TRUSTED_PACKAGE = "keras"
_CODE_LAYERS = {
    "Lambda": ("a Lambda layer", "it holds Python code"),
    "TFSMLayer": ("a TFSMLayer", "it loads a TensorFlow SavedModel from elsewhere"),
}
_PYTHON_LAMBDA = "__lambda__"
_MUSICLIB_LAYERS = {
    # (module, class name, registered name) of musiclib's own layers that bundles may hold:
    # their config holds only numbers and strings, each checked by the layer.
    ("musiclib.lm.transformer", "RelativeSelfAttention", "musiclib>RelativeSelfAttention"),
    ("musiclib.lm.lstm", "LeadPitch", "musiclib>LeadPitch"),
    ("musiclib.lm.lookback", "LookbackTokens", "musiclib>LookbackTokens"),
    ("musiclib.lm.lookback", "LookbackEmbedding", "musiclib>LookbackEmbedding"),
}


class UnsafeModelError(ValueError):
    """A ``.keras`` file that holds code or objects from outside Keras; it was not loaded."""


@contextlib.contextmanager
def quiet_keras_saving() -> Iterator[None]:
    """Silence the NumPy 2 ``__array__ ... copy keyword`` DeprecationWarning that Keras
    3.15's saving code triggers on TensorFlow variables (harmless; one per variable)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_ARRAY_COPY_WARNING, category=DeprecationWarning)
        yield


def atomic_backup_and_restore(backup_dir: Path):
    """Keras's ``BackupAndRestore`` for ``backup_dir``, writing its weights and metadata atomically."""
    keras = _tf.keras()

    class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
        def _save_model(self) -> None:
            _save_keras_atomically(Path(self._weights_path), lambda p: self.model.save_weights(p))
            write_json(self._training_metadata_path, {"epoch": self._current_epoch, "batch": 0})

    return AtomicBackupAndRestore(str(backup_dir), double_checkpoint=False)


def _save_keras_atomically(path: Path, save: Callable[[Path], None]) -> None:
    """Run a Keras saver on a temporary file with the right suffix, then rename it.

    Keras insists on ``.keras`` / ``.weights.h5`` suffixes, which a ``*.tmp`` name from
    :func:`musiclib._files.atomic_path` would break, so the temporary file lives in a
    temporary folder beside ``path`` under its final name.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        tmp = tmp_dir / path.name
        with quiet_keras_saving():
            save(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def _object_problem(item: dict[str, Any]) -> str | None:
    """Why one serialised object (a dict with ``class_name``) must not be built, or None."""
    class_name = item.get("class_name")
    module = item.get("module")
    registered = item.get("registered_name")
    label = (item.get("config") or {}).get("name") if isinstance(item.get("config"), dict) else None
    named = f" {label!r}" if isinstance(label, str) else ""
    if class_name in _CODE_LAYERS:
        noun, reason = _CODE_LAYERS[class_name]
        return f"{noun}{named} ({reason})"
    if class_name == _PYTHON_LAMBDA:
        return "a Python lambda (serialised bytecode)"
    if (module, class_name, registered) in _MUSICLIB_LAYERS:
        return None  # registered when musiclib.lm.bundle imports the model families
    if module is None:
        special = isinstance(class_name, str) and class_name.startswith("__") and class_name.endswith("__")
        return None if special else f"an object {class_name!r} that names no module (a custom object)"
    if not isinstance(module, str) or module.split(".")[0] != _TRUSTED_PACKAGE:
        return f"a custom object {class_name!r} from module {module!r} (not part of Keras)"
    if isinstance(registered, str) and ">" in registered:
        return f"a custom object registered as {registered!r}"
    return None


def _serialised_objects(node: Any) -> Iterator[dict[str, Any]]:
    """Every dict with a ``class_name`` key in a Keras config, depth first."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "class_name" in item:
                yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _archive_config(path: Path) -> Any:
    """The ``config.json`` inside a ``.keras`` archive, read without Keras."""
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(_ARCHIVE_CONFIG)
            if info.file_size > _MAX_CONFIG_BYTES:
                raise UnsafeModelError(
                    f"its {_ARCHIVE_CONFIG} is {info.file_size:,} bytes "
                    f"(more than {_MAX_CONFIG_BYTES:,}); not loaded"
                )
            return json.loads(archive.read(info))
    except zipfile.BadZipFile:
        raise UnsafeModelError("it is not a Keras archive (not a zip file)") from None
    except KeyError:
        raise UnsafeModelError(f"it is not a Keras archive (no {_ARCHIVE_CONFIG} inside)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UnsafeModelError(f"its {_ARCHIVE_CONFIG} is not valid JSON ({error})") from None


def check_keras_archive(path: str | os.PathLike) -> None:
    """Refuse a ``.keras`` file whose model config holds code or non-Keras objects.

    Reads the archive's ``config.json`` as plain JSON (Keras builds nothing) and
    looks at every serialised object: Lambda layers, serialised Python lambdas,
    TFSMLayers, objects from a module outside Keras, objects registered as custom
    objects, and objects that name no module. Keras's own ``safe_mode`` refuses only
    some of these, and its message suggests turning it off.

    Parameters
    ----------
    path
        The ``.keras`` file.

    Raises
    ------
    UnsafeModelError
        Naming every problem found (the file name is left to the caller).
    """
    config = _archive_config(Path(path))
    problems = sorted({problem for item in _serialised_objects(config) if (problem := _object_problem(item))})
    if problems:
        raise UnsafeModelError(
            f"it holds {'; '.join(problems)}. musiclib models use only built-in Keras layers (and musiclib's own "
            "attention and lead-pitch layers), so this file was not written by musiclib; it was refused before Keras read it, and nothing in it was run"
        )


def epoch_summary(keys: Sequence[str], *, epochs: int, print_fn: Callable[[str], None] = print):
    """A Keras callback printing one short line per epoch: ``epoch 2/14 · 4 s · d_loss 0.66 · ...``.

    Keras's own ``verbose=2`` line lists every logged value (the GAN logs about twenty, about
    640 characters, which wraps in a notebook cell); this one shows only ``keys`` (those
    present), so it fits a cell. Everything stays in the history files.
    """
    keras = _tf.keras()

    class EpochSummary(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self._started = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = logs or {}
            parts = [f"epoch {epoch + 1}/{epochs}", f"{time.perf_counter() - self._started:.0f} s"]
            parts += [f"{key} {float(logs[key]):.4g}" for key in keys if key in logs]
            print_fn(" · ".join(parts))

    return EpochSummary()


def deflate_keras_archive(path: str | os.PathLike) -> Path:
    """Rewrite a ``.keras`` file with its members deflate-compressed, atomically.

    Keras writes the archive's members stored (uncompressed); trained float32 weights
    deflate by about 9%. The members' bytes are unchanged, so the model loads (safe
    mode included) with bit-identical weights: reference bundles use this to stay
    inside their size budget.
    """
    path = Path(path)
    with zipfile.ZipFile(path) as source:
        members = [(info.filename, source.read(info.filename)) for info in source.infolist()]
    with atomic_path(path, suffix=".keras") as staging:
        with zipfile.ZipFile(staging, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as target:
            for name, data in members:
                target.writestr(name, data)
    return path


def load_checked_model(file: Path, *, error: type[Exception]) -> Any:
    """Load a ``.keras`` file in safe mode after :func:`check_keras_archive` found only
    built-in Keras objects in it; any refusal or failure is raised as ``error``."""
    keras = _tf.keras()

    try:
        check_keras_archive(file)
    except UnsafeModelError as problem:
        raise error(f"{file} was refused: {problem}") from None
    try:
        return keras.saving.load_model(file, safe_mode=True, compile=False)
    except (ValueError, OSError, TypeError, KeyError, zipfile.BadZipFile) as problem:
        raise error(f"{file} cannot be loaded: {problem}") from None


HISTORY_FILE = "history.json"
HISTORY_CSV = "history.csv"
_BACKUP_METADATA = "training_metadata.json"  # written by keras.callbacks.BackupAndRestore


def write_history(out_dir: Path, columns: dict[str, list], *, standard_json: bool = False) -> None:
    """Rewrite ``history.json`` and ``history.csv`` (``epoch`` and ``session`` first) atomically.

    ``standard_json`` writes NaN and infinite values as null (:func:`musiclib._files.json_ready`).
    """
    write_json(out_dir / HISTORY_FILE, json_ready(columns) if standard_json else columns)
    first = [key for key in ("epoch", "session") if key in columns]
    keys = first + sorted(key for key in columns if key not in first)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(keys)
    for row in zip(*(columns[key] for key in keys)):
        writer.writerow(["" if value is None else value for value in row])
    atomic_write(out_dir / HISTORY_CSV, text.getvalue())


def resume_point(out_dir: Path, backup_dir: Path) -> tuple[int, dict[str, list], int]:
    """(first epoch to run, history of the epochs before it, session number) of a run whose
    ``BackupAndRestore`` backup is in ``backup_dir`` (0, {}, 0 when there is none)."""
    metadata = backup_dir / _BACKUP_METADATA
    if not metadata.exists():
        return 0, {}, 0
    start = int(read_json(metadata)["epoch"])
    history_path = out_dir / HISTORY_FILE
    history = read_json(history_path) if history_path.exists() else {}
    keep = sum(1 for epoch in history.get("epoch", []) if epoch < start)
    prior = {key: values[:keep] for key, values in history.items()}
    sessions = [s for s in prior.get("session", []) if s is not None]
    return start, prior, (max(sessions) + 1 if sessions else 1)
