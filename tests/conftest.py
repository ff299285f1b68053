"""Suite-wide guard: the tests write only to temporary folders, never over files the repository tracks."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tracked_file_digests() -> dict[str, str] | None:
    try:
        listing = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None  # not a git checkout (an sdist, say): nothing to guard
    digests = {}
    for name in listing.stdout.decode("utf-8", "surrogateescape").split("\0"):
        path = ROOT / name
        if name and path.is_file():
            digests[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


@pytest.fixture(scope="session", autouse=True)
def tracked_files_stay_unchanged():
    """Fail the run if any test rewrote a committed file (results, figures, notebooks...)."""
    before = _tracked_file_digests()
    yield
    if before is None:
        return
    after = _tracked_file_digests() or {}
    changed = sorted(name for name, digest in before.items() if after.get(name) != digest)
    if changed:
        pytest.fail("the tests modified files the repository tracks: " + ", ".join(changed), pytrace=False)



# --------------------------------------------------------------------------- on two workers (pytest-xdist)

SLOW_SCOPES_FIRST = ("tests/test_jupyterlab.py", "notebooks", "tests/test_pipeline.py",
                     "tests/test_lm_distributed_resume.py", "tests/test_gan.py", "tests/test_lm_training.py",
                     "tests/test_lm_distributed.py", "tests/test_lm_transformer.py")
"""The longest work units, started first so that no long one is left to run alone at the end."""


def work_unit(nodeid: str) -> str:
    """The unit one worker runs whole: the test's file, or all notebooks together.

    A file's tests share module-scoped fixtures (a trained tiny model, one JupyterLab whose
    notebooks run in order); the notebooks under nbval run in order in one run folder (01
    prepares what 02 trains on, ...).
    """
    path = nodeid.split("::", 1)[0]
    return "notebooks" if path.startswith("notebooks/") else path


def pytest_collection_modifyitems(config, items):
    """On an xdist worker, put the slow work units first (every worker sorts alike)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        rank = {unit: index for index, unit in enumerate(SLOW_SCOPES_FIRST)}
        items.sort(key=lambda item: rank.get(work_unit(item.nodeid), len(rank)))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` (``make test``), with the notebooks as one unit: see :func:`work_unit`."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class FileOrNotebooksScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return FileOrNotebooksScheduling(config, log)
