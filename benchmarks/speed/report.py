"""The report: the environment recorded in the JSON (versions, CPU, thread settings), the machine's
load average, the table printed at the end of a run and the Markdown table of ``results/speed.md``
that the README quotes, with the runs whose rows it holds.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from speed.common import _TF_STATE, Settings


def environment(settings: Settings) -> dict:
    versions = {}
    for name in ("musiclib", "numpy", "symusic", "music21", "tensorflow", "keras", "librosa", "pretty_midi",
                 "pyfluidsynth", "scipy", "papermill"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    env_vars = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_CORETYPE",
                "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "TF_ENABLE_ONEDNN_OPTS")
    threads: dict[str, Any] = {"env": {k: os.environ.get(k) for k in env_vars}}
    if _TF_STATE:
        threads["tensorflow"] = dict(_TF_STATE)
        threads["tensorflow"]["note"] = "0 means TensorFlow's default: one thread per core"
    try:
        import threadpoolctl

        threads["blas"] = [
            {k: pool.get(k) for k in ("internal_api", "num_threads", "architecture", "version")}
            for pool in threadpoolctl.threadpool_info()
        ]
    except ImportError:
        pass
    cpu = {"count": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None}
    try:
        info = Path("/proc/cpuinfo").read_text()
        cpu["model"] = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), None)
        flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
        cpu["simd"] = sorted(f for f in flags if f in ("avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile"))
    except OSError:
        pass
    return {"python": platform.python_version(), "platform": platform.platform(), "cpu": cpu,
            "versions": versions, "threads": threads, "settings": dataclasses.asdict(settings)}


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    value = float(value)
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _ratio(r: dict) -> str:
    if r.get("ratio") is None:
        return ""
    if r.get("ratio_format") == "%":
        return f"{r['ratio']:.0%}"
    return f"{_fmt(r['ratio'])}x"


def print_table(rows: list[dict], file=None) -> None:
    file = file or sys.stdout
    width = max([54] + [len(r["name"]) for r in rows])
    print(f"{'benchmark':{width}s} {'ours':>11s} {'baseline':>11s} {'ratio':>8s}  {'met':4s} target", file=file)
    print("-" * (width + 50), file=file)
    for r in rows:
        if "skipped" in r:
            print(f"{r['name']:{width}s} skipped: {r['skipped']}", file=file)
            continue
        met = "" if r["met"] is None else ("yes" if r["met"] else "NO")
        print(f"{r['name']:{width}s} {_fmt(r['ours']):>11s} {_fmt(r['baseline']):>11s} {_ratio(r):>8s}  {met:4s} "
              f"{r['target'] or ''}", file=file)
    print(file=file)
    for index, r in enumerate(rows, 1):
        if r.get("note"):
            print(f"[{index}] {r['name']}: {r['note']}", file=file)


def _load_avg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _runs_of(previous: dict) -> list[dict]:
    """The runs whose rows a results dict holds (files written before ``runs`` existed name only their last)."""
    if not previous:
        return []
    if "runs" in previous:
        return previous["runs"]
    return [{"command": previous.get("command", "?"), "started_at": previous.get("started_at", "?"),
             "sections": list(previous.get("sections", {})),
             "machine_load": {k: previous.get("machine_load", {}).get(k) for k in ("start", "end")}}]


def markdown_table(result: dict) -> str:
    """The rows as the Markdown table the README quotes, with each row's note below it."""
    lines = ["| benchmark | musiclib | baseline | ratio | target | met |", "|---|---:|---:|---:|---|---|"]
    notes = []
    for r in result["rows"]:
        if "skipped" in r:
            lines.append(f"| {r['name']} | skipped: {r['skipped']} | | | | |")
            continue
        met = "" if r.get("met") is None else ("yes" if r["met"] else "**no**")
        lines.append(f"| {r['name']} [{len(notes) + 1}] | {_fmt(r['ours'])} | {_fmt(r['baseline'])} | {_ratio(r)} | "
                     f"{r.get('target') or ''} | {met} |")
        notes.append(r.get("note") or "")
    runs = _runs_of(result)
    described = [f"`{run['command']}` (started {run['started_at']}; load average {run['machine_load'].get('start')} "
                 f"at the start and {run['machine_load'].get('end')} at the end"
                 + ("" if len(runs) == 1 else f"; sections: {', '.join(run['sections'])}") + ")" for run in runs]
    lines += ["", *(f"{i}. {note}" for i, note in enumerate(notes, 1) if note), "",
              ("Command: " if len(runs) == 1 else "Commands: ") + "; ".join(described)
              + f". Medians of at least 3 timed runs after a warm-up, baselines timed in the same run, on "
              f"{os.cpu_count()} CPUs. Versions and thread counts: `benchmarks/results.json`."]
    return "\n".join(lines) + "\n"
