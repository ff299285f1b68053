"""The "musiclib" Jupyter kernel: this environment's Python, with TensorFlow's start-up quiet.

``make setup`` runs ``python -m musiclib.kernelspec install`` which registers the kernel
inside the virtual environment (``<venv>/share/jupyter/kernels/musiclib``, like
``ipykernel install --sys-prefix``: the user's home is not touched). JupyterLab started
from the venv lists it as "musiclib (.venv)"; the notebooks name it in their metadata,
and papermill (``musiclib pipeline``) and nbval run them with it.

Where it is not installed (a plain ``pytest`` in a fresh dev environment),
:func:`ensure_available` writes the same spec into a temporary folder and puts that
folder on ``JUPYTER_PATH`` for this process and its children, so nothing fails for want
of a ``kernel.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from musiclib._files import atomic_write

__all__ = ["KERNEL_NAME", "DISPLAY_NAME", "KERNEL_ENV", "spec", "install", "is_installed", "ensure_available"]

KERNEL_NAME = "musiclib"
DISPLAY_NAME = "musiclib (.venv)"
KERNEL_ENV = {
    # TensorFlow routes part of its C++ start-up chatter through this level (2: warnings and
    # errors only); musiclib._tf removes the rest, which no variable controls.
    "TF_CPP_MIN_LOG_LEVEL": "2",
}
"""Set in the kernel's environment before Python starts, so they hold however TensorFlow gets
imported. oneDNN stays on (``TF_ENABLE_ONEDNN_OPTS`` unset): its notice is filtered by
musiclib._tf instead; see the README ("Clean outputs") for the measurement."""

STARTUP_LINE = "import musiclib as _musiclib_startup; del _musiclib_startup"
"""Run by the kernel at start: importing musiclib installs its quiet-import hook (musiclib._tf),
so a learner's own ``import keras`` in the first cell is as quiet as musiclib's (cheap: musiclib
loads its submodules lazily, so this does not import TensorFlow)."""

_TEMPORARY: Path | None = None


def spec(python: str | None = None) -> dict:
    """The ``kernel.json`` contents for ``python`` (default: this interpreter)."""
    return {
        "argv": [python or sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                 f"--IPKernelApp.exec_lines={STARTUP_LINE}"],
        "display_name": DISPLAY_NAME,
        "language": "python",
        "env": dict(KERNEL_ENV),
        "metadata": {"debugger": True},
    }


def _write(folder: Path, python: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / "kernel.json", json.dumps(spec(python), indent=1) + "\n")
    try:  # the Python logos, as ipykernel's own spec has them
        from ipykernel.kernelspec import RESOURCES

        for name in ("logo-32x32.png", "logo-64x64.png", "logo-svg.svg"):
            source = Path(RESOURCES) / name
            if source.is_file():
                atomic_write(folder / name, source.read_bytes())
    except ImportError:
        pass
    return folder


def install(prefix: str | os.PathLike | None = None) -> Path:
    """Register the kernel under ``prefix`` (default: ``sys.prefix``, i.e. the venv); return its folder."""
    from jupyter_client.kernelspec import KernelSpecManager

    with tempfile.TemporaryDirectory() as tmp:
        source = _write(Path(tmp) / KERNEL_NAME)
        where = KernelSpecManager().install_kernel_spec(
            str(source), kernel_name=KERNEL_NAME, prefix=str(prefix or sys.prefix)
        )
    return Path(where)


def is_installed() -> bool:
    """Whether Jupyter (with this process's ``JUPYTER_PATH``) finds a kernel named "musiclib"."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    except NoSuchKernel:
        return False
    return True


def ensure_available() -> str:
    """Make the "musiclib" kernel findable by Jupyter in this process and its children.

    Installed (``make setup``): nothing to do. Otherwise the spec goes into a temporary
    folder prepended to ``JUPYTER_PATH``. Returns the kernel name.
    """
    global _TEMPORARY
    if is_installed():
        return KERNEL_NAME
    if _TEMPORARY is None:
        root = Path(tempfile.mkdtemp(prefix="musiclib-kernel-"))
        _write(root / "kernels" / KERNEL_NAME)
        _TEMPORARY = root
    paths = [str(_TEMPORARY), *filter(None, os.environ.get("JUPYTER_PATH", "").split(os.pathsep))]
    os.environ["JUPYTER_PATH"] = os.pathsep.join(dict.fromkeys(paths))
    return KERNEL_NAME


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m musiclib.kernelspec", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["install", "show"])
    parser.add_argument("--prefix", help="install under this prefix (default: sys.prefix, the virtual environment)")
    args = parser.parse_args(argv)
    if args.command == "show":
        print(json.dumps(spec(), indent=1))
        return 0
    where = install(args.prefix)
    print(f"==> Jupyter kernel {KERNEL_NAME!r} ({DISPLAY_NAME}) registered in {where}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
