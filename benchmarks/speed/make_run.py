"""End-to-end sections: the wall time of ``musiclib pipeline`` as ``make quick`` and ``make run`` run
it, into a temporary runs folder, with the epochs read from the Makefile so that the benchmark and the
make target cannot drift apart.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from speed.common import ROOT, Settings, med, row


def _musiclib_command() -> list[str]:
    exe = Path(sys.executable).parent / "musiclib"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "musiclib.cli"]


def _pipeline_once(quick: bool) -> tuple[float, dict]:
    from musiclib.pipeline import QUICK_ENV, RUN_DIR_ENV

    env = {k: v for k, v in os.environ.items() if k not in (QUICK_ENV, RUN_DIR_ENV)}
    with tempfile.TemporaryDirectory(prefix="musiclib-bench-runs-") as runs_root:
        name = "quick" if quick else "default"
        # What `make quick` / `make run` run once .venv exists (make run: the Makefile's EPOCHS).
        command = _musiclib_command() + ["pipeline", "--runs-root", runs_root, "--name", name]
        command += ["--quick"] if quick else _epochs_flag()
        start = time.perf_counter()
        proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise RuntimeError(f"pipeline failed after {seconds:.0f} s: {' | '.join(tail)}")
        manifest_path = Path(runs_root) / name / "manifest.json"
        notebooks = {}
        if manifest_path.exists():
            manifest = json.loads(manifest_path.read_text())
            notebooks = {k: v.get("seconds") for k, v in manifest.get("notebooks", {}).items()}
    return seconds, notebooks


def makefile_epochs() -> int | None:
    """The default ``EPOCHS`` of ``make run`` (read from the Makefile, so the two cannot drift);
    None when it is empty (the notebooks' presets decide)."""
    match = re.search(r"^EPOCHS\s*\?=[ \t]*(\d*)[ \t]*$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError("no 'EPOCHS ?=' line in the Makefile")
    return int(match.group(1)) if match.group(1) else None


def _epochs_flag() -> list[str]:
    epochs = makefile_epochs()
    return [] if epochs is None else ["--epochs", str(epochs)]


def _bench_make_run(s: Settings, quick: bool) -> list[dict]:
    epochs = makefile_epochs()
    label = "make quick" if quick else ("make run" if epochs is None else f"make run (EPOCHS={epochs})")
    runs = []
    for _ in range(s.pipeline_repeats):
        runs.append(_pipeline_once(quick))
    seconds = med([r[0] for r in runs])
    flags = " --quick" if quick else "".join(" " + part for part in _epochs_flag())
    return [row(f"end to end: {label} (s)", seconds, None, "s", higher_is_better=False,
                note=f"`musiclib pipeline{flags}` into a temporary runs folder (what the make target runs once .venv "
                     f"is set up), {len(runs)} cold run(s), median; the folk corpus parse cache in data/ is reused if "
                     "present. Per notebook: " + ", ".join(f"{k.split('_')[0]} {v:.0f} s" for k, v in runs[-1][1].items()),
                samples=[r[0] for r in runs], notebooks=runs[-1][1])]


def bench_make_run_quick(s: Settings) -> list[dict]:
    """End to end: the quick walkthrough (`make quick`), wall time."""
    return _bench_make_run(s, quick=True)


def bench_make_run(s: Settings) -> list[dict]:
    """End to end: the default walkthrough (`make run`), wall time (about 11 min; not a default section)."""
    return _bench_make_run(s, quick=False)
