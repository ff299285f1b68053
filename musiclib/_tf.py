"""The one place where musiclib imports TensorFlow and Keras: quietly, keeping real warnings.

TensorFlow 2.21 writes start-up lines from C++ code at library load, straight to file
descriptor 2 and before absl logging is initialised, so ``TF_CPP_MIN_LOG_LEVEL`` cannot
remove them all (measured: 9 lines at level 0, 6 at level 3 for ``import keras`` plus
one op). On a learner's screen a red "CUDA error" reads as "something is broken".

So :func:`tensorflow` and :func:`keras` import the libraries (and let TensorFlow probe its
devices, where the ``cuInit`` line comes from) with descriptor 2 pointed at a temporary
file, then write back to ``sys.stderr`` every captured line that is not a known start-up
notice (:data:`STARTUP_LINES`). Python warnings raised meanwhile are kept the same way,
and in Jupyter they never touch descriptor 2 at all. Every musiclib module that needs
TensorFlow or Keras calls these functions (a test checks it). ``import musiclib`` also
installs :func:`install_import_hook`, so that a learner's own ``import keras`` after it is
quiet too (``MUSICLIB_QUIET_TF=0`` turns that off), and the "musiclib" kernel imports
musiclib at start, so in JupyterLab the order of imports does not matter. ``import
musiclib`` alone never loads TensorFlow.
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
import sys
import tempfile
import threading
from types import ModuleType
from typing import Iterator

__all__ = ["STARTUP_LINES", "keras", "tensorflow", "filter_startup_lines", "quiet_fd2", "without_remapper",
           "install_import_hook"]

STARTUP_LINES: dict[str, re.Pattern[str]] = {
    # absl's notice that C++ lines written before its set-up go to stderr (one per library load)
    "absl preamble": re.compile(
        r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$"),
    # oneDNN on by default: results may differ in the last bits of a float (informational, level I)
    "oneDNN notice": re.compile(r"^I\d{4} [\d:.]+\s+\d+ port\.cc:\d+\] oneDNN custom operations are on\."),
    # the CPU build note (informational, level I) and its continuation line
    "CPU features": re.compile(
        r"^I\d{4} [\d:.]+\s+\d+ cpu_feature_guard\.cc:\d+\] This TensorFlow binary is optimized"),
    "CPU features (2)": re.compile(
        r"^To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\.$"),
    # no CUDA driver library on this machine: TensorFlow will use the CPU (informational, level I)
    "no CUDA driver": re.compile(
        r"^I\d{4} [\d:.]+\s+\d+ cudart_stub\.cc:\d+\] Could not find cuda drivers on your machine, GPU will not be used\.$"),
}
"""Known TensorFlow start-up lines on a CPU machine, each with why it may be dropped."""

_CUINIT = re.compile(r"^E\d{4} [\d:.]+\s+\d+ cuda_platform\.cc:\d+\] failed call to cuInit: ")
"""``cuInit`` failing is dropped only when TensorFlow also said that no CUDA driver exists (a
CPU machine, where the failure is the expected consequence); on a machine with a GPU driver
it is a real error and stays visible."""

_LOCK = threading.Lock()
_MODULES: dict[str, ModuleType] = {}


def filter_startup_lines(text: str) -> list[str]:
    """The lines of ``text`` that are not known TensorFlow start-up notices (see module doc)."""
    lines = text.splitlines()
    no_driver = any(STARTUP_LINES["no CUDA driver"].search(line) for line in lines)
    kept = []
    for line in lines:
        if any(pattern.search(line) for pattern in STARTUP_LINES.values()):
            continue
        if no_driver and _CUINIT.search(line):
            continue
        if line.strip():
            kept.append(line)
    return kept


@contextlib.contextmanager
def quiet_fd2() -> Iterator[None]:
    """Point file descriptor 2 at a temporary file for the block, then write back to
    ``sys.stderr`` every captured line that :func:`filter_startup_lines` keeps."""
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError, OSError):
        pass
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 (a detached process): nothing can reach a screen anyway
        saved = None
    capture = tempfile.TemporaryFile(mode="w+b")
    try:
        if saved is not None:
            os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            except (AttributeError, ValueError, OSError):
                pass
            if saved is not None:
                os.dup2(saved, 2)
                os.close(saved)
    finally:
        capture.seek(0)
        text = capture.read().decode("utf-8", "replace")
        capture.close()
        kept = filter_startup_lines(text)
        if kept:
            sys.stderr.write("\n".join(kept) + "\n")
            sys.stderr.flush()


def _load_quietly() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # drops the lines TensorFlow does route through its level
    _LOADING.active = True
    try:
        with quiet_fd2():
            import tensorflow as tf
            import keras

            tf.config.list_physical_devices()  # the device probe prints the cuInit line: do it here
    finally:
        _LOADING.active = False
    _MODULES["tensorflow"], _MODULES["keras"] = tf, keras


_LOADING = threading.local()


class _AlreadyLoaded:
    """Loader for a module that :func:`_ensure_loaded` has just imported: hands back that module
    (instead of executing it a second time) and gives it its own spec back."""

    def __init__(self, original_spec) -> None:
        self.original_spec = original_spec

    def create_module(self, spec):
        return sys.modules[spec.name]

    def exec_module(self, module) -> None:
        module.__spec__ = self.original_spec


class _QuietFinder:
    """A ``sys.meta_path`` finder that makes a plain ``import tensorflow`` / ``import keras``
    (a learner's own cell, a third-party library) go through the quiet import too.

    It answers only for those two top-level names, only before they are loaded, and only
    outside musiclib's own loading: it runs :func:`_ensure_loaded`, then returns the real
    module's spec with a loader that hands back the already imported module.
    """

    def find_spec(self, name, path=None, target=None):
        if name not in ("tensorflow", "keras") or name in sys.modules or getattr(_LOADING, "active", False):
            return None
        _ensure_loaded()
        module = sys.modules.get(name)
        if module is None or getattr(module, "__spec__", None) is None:
            return None
        original = module.__spec__
        spec = copy.copy(original)
        spec.loader = _AlreadyLoaded(original)
        # importlib prefers the spec of a module that appeared in sys.modules meanwhile: lend it ours
        module.__spec__ = spec
        return spec


def install_import_hook() -> None:
    """Route later ``import tensorflow`` / ``import keras`` statements through the quiet import
    (``import musiclib`` calls this unless ``MUSICLIB_QUIET_TF=0``). Idempotent."""
    if not any(isinstance(finder, _QuietFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())


def _ensure_loaded() -> None:
    if "keras" in _MODULES:
        return
    with _LOCK:
        if "keras" not in _MODULES:
            _load_quietly()


def tensorflow() -> ModuleType:
    """The ``tensorflow`` module, imported quietly (see the module docstring)."""
    _ensure_loaded()
    return _MODULES["tensorflow"]


def keras() -> ModuleType:
    """The ``keras`` module, imported quietly (see the module docstring)."""
    _ensure_loaded()
    return _MODULES["keras"]


@contextlib.contextmanager
def without_remapper() -> Iterator[None]:
    """Run TensorFlow functions first called inside with Grappler's ``remapping`` pass off.

    On the GAN's training step the remapper tries to fuse ``BiasAdd`` + ``LeakyRelu`` while the
    gradient still reads the ``BiasAdd``; it then gives up on the whole function and logs
    ``E... meta_optimizer.cc] remapper failed: INVALID_ARGUMENT: Mutation::Apply error`` in the
    middle of training. A failed pass leaves the graph as it was, so skipping the pass for that
    function changes nothing but the message (``tf.config.optimizer.set_experimental_options``
    is TensorFlow's supported switch; the previous options are restored on exit).
    """
    tf = tensorflow()
    previous = tf.config.optimizer.get_experimental_options()
    tf.config.optimizer.set_experimental_options({**previous, "remapping": False})
    try:
        yield
    finally:
        restored = dict(previous)
        restored.setdefault("remapping", True)
        tf.config.optimizer.set_experimental_options(restored)
