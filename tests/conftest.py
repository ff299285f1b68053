"""Suite-wide guard: the tests write only to temporary folders, never over files the repository tracks."""

from __future__ import annotations

import hashlib
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
