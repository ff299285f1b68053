"""Lazy package namespaces: a package's public names load their submodule on first use.

Each subpackage (``lm``, ``gan``, ``audio``, ``evaluation``, ``datasets``) lists which
submodule defines each public name, so ``ml.lm.train`` imports ``musiclib.lm.training``
(and Keras) only when it is first touched, and ``import musiclib`` stays quick.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping, Sequence


def attach(
    package: str, *, submodules: Sequence[str], exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """Return ``__getattr__``, ``__dir__`` and ``__all__`` for ``package``.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    submodules : sequence of str
        Submodules reachable as attributes (``ml.lm.training``).
    exports : mapping of str to str
        Public name -> the submodule that defines it.
    """
    clashes = sorted(set(submodules) & set(exports))
    if clashes:  # importing the submodule would replace the exported name on the package
        raise ImportError(f"{package}: names both a submodule and an export: {clashes}")
    names = sorted({*submodules, *exports})

    def __getattr__(name: str) -> Any:
        if name in exports:
            module = importlib.import_module(f"{package}.{exports[name]}")
            return getattr(module, name)
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return list(names)

    return __getattr__, __dir__, names
