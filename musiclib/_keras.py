"""Keras saving helpers shared by every model family: atomic ``.keras`` files, quiet saving,
and a ``BackupAndRestore`` callback whose backups are replaced atomically.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable, Iterator, Sequence

from musiclib import _tf
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
