"""Keras saving helpers shared by every model family: atomic ``.keras`` files, quiet saving,
and a ``BackupAndRestore`` callback whose backups are replaced atomically.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Iterator

from musiclib._files import write_json

_ARRAY_COPY_WARNING = "__array__ implementation doesn't accept a copy keyword"


@contextlib.contextmanager
def quiet_keras_saving() -> Iterator[None]:
    """Silence the NumPy 2 ``__array__ ... copy keyword`` DeprecationWarning that Keras
    3.15's saving code triggers on TensorFlow variables (harmless; one per variable)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_ARRAY_COPY_WARNING, category=DeprecationWarning)
        yield


def atomic_backup_and_restore(backup_dir: Path):
    """Keras's ``BackupAndRestore`` for ``backup_dir``, writing its weights and metadata atomically."""
    import keras

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
