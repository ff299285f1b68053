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
# TensorFlow. Set TF_CPP_MIN_LOG_LEVEL yourself to override.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

_SUBMODULES = (
    "audio",
    "cli",
    "datasets",
    "encoding",
    "evaluation",
    "experiments",
    "figures",
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
