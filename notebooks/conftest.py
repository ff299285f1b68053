"""pytest settings for running the notebooks under nbval: quick mode, outputs in a temp folder.

The kernels nbval starts inherit this environment; ``ml.pipeline.notebook_settings``
reads it (papermill parameters still win over it). nbval starts the kernel the notebooks
name ("musiclib"): where ``make setup`` has not registered it yet, a temporary spec is put on
``JUPYTER_PATH`` (:func:`musiclib.kernelspec.ensure_available`).
"""

import os
import tempfile
from pathlib import Path

import pytest

from musiclib import kernelspec

kernelspec.ensure_available()

os.environ.setdefault("MUSICLIB_QUICK", "1")
os.environ.setdefault("MUSICLIB_RUN_DIR", tempfile.mkdtemp(prefix="musiclib-nbval-"))
os.environ.setdefault("MPLBACKEND", "Agg")
_SHARED_POLYPHONIC = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "polyphonic"
if _SHARED_POLYPHONIC.is_dir():  # notebook 07 reads the benchmark files from there (else it downloads or skips)
    os.environ.setdefault("MUSICLIB_POLYPHONIC_DATA", str(_SHARED_POLYPHONIC))


def _stderr_lines(outputs) -> list[str]:
    lines = []
    for output in outputs or []:
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            lines += [line for line in output.get("text", "").splitlines() if line.strip()]
    return lines


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Every notebook cell must run without writing to stderr: TensorFlow's start-up lines are
    filtered by musiclib._tf, and anything else there is a warning a learner should not see
    in the walkthrough (fix it at its source)."""
    result = yield  # raises if the cell itself failed
    stray = _stderr_lines(getattr(item, "test_outputs", None))
    if stray:
        pytest.fail(f"{item.name} wrote to stderr:\n" + "\n".join(stray[:20]), pytrace=False)
    return result
