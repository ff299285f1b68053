"""musiclib: symbolic music generation with deep learning, for teaching and research.

Submodules load on first use, so ``import musiclib as ml`` is quick and does not pull
TensorFlow in until a model is needed::

    import musiclib as ml
    corpus = ml.datasets.load("folk")
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING

# TensorFlow's C++ start-up chatter (CUDA probing, CPU instruction notices) is noise on a
# learner's screen; keep warnings and errors. Set here, before any submodule can import
# TensorFlow (set TF_CPP_MIN_LOG_LEVEL yourself to override). The lines this level does not
# reach are filtered by musiclib._tf, the one module that imports TensorFlow and Keras.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

if os.environ.get("MUSICLIB_QUIET_TF", "1") != "0":  # a later plain `import keras` is filtered too
    from musiclib._tf import install_import_hook as _install_import_hook

    _install_import_hook()

__version__ = "0.1.0"

_SUBMODULES = (
    "audio",
    "cli",
    "datasets",
    "encoding",
    "evaluation",
    "experiments",
    "figures",
    "frames",
    "gan",
    "io",
    "kernelspec",
    "lm",
    "notebook",
    "pipeline",
    "plots",
    "prepare",
    "split",
    "stats",
    "tune",
)

__all__ = ["__version__", "Tune", "Track", *_SUBMODULES]

if TYPE_CHECKING:  # pragma: no cover
    from musiclib import datasets, encoding, io, plots, split, tune  # noqa: F401
    from musiclib.tune import Track, Tune  # noqa: F401


def __getattr__(name: str):
    if name in _SUBMODULES:
        module = importlib.import_module(f"musiclib.{name}")
        globals()[name] = module
        return module
    if name in ("Tune", "Track"):
        from musiclib import tune

        return getattr(tune, name)
    raise AttributeError(f"module 'musiclib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
