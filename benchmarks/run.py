"""musiclib benchmarks: each figure side by side with the baseline it replaces, in the same run.

Usage::

    .venv/bin/python benchmarks/run.py                          # the default sections (about 12 min, quiet 2-core CPU)
    .venv/bin/python benchmarks/run.py --sections load train    # some sections (comma or space separated)
    .venv/bin/python benchmarks/run.py --sections all           # the default sections plus make-run (+15 min)
    .venv/bin/python benchmarks/run.py --quick                  # tiny settings: checks that every section runs
    .venv/bin/python benchmarks/run.py --list                   # the sections and what they measure

Every timing is the median of ``--repeats`` runs (at least 3) after a warm-up run;
where ours and a baseline are compared, their runs alternate, so that other load on
the machine falls on both. The end-to-end ``make-run*`` sections are the exception:
one cold run each by default (``--pipeline-repeats``), since a warm-up would hide the
cold costs that an end-to-end time is about.

Every row has ``name``, ``ours``, ``baseline``, ``unit``, ``ratio`` (ours over
baseline, turned round for times so that above 1 is better), ``target`` (the issue's
figure), ``met`` (``None`` where there is no target) and ``note``; ``details`` holds
the raw samples and settings. Results are merged by section into ``--json`` (default
``benchmarks/results.json``, written atomically): running one section replaces only
that section's rows. The JSON also records library versions, CPU, thread settings
(TensorFlow's and the BLAS pools'), and the machine's load average at the start and
end of the run and of every section (``machine_load``).

Data: ``../shared/data/nottingham`` beside the checkout (or ``$MUSICLIB_SHARED_DATA``);
sections that need it are skipped with a note when it is absent. Nothing here reads a
trained model: the sections that train or generate build their models themselves
(speed does not depend on the weights). The held-out loss cited by the training
efficiency row is read from ``runs/lstm-nottingham/nll_table.json`` when present
(written by ``benchmarks/lstm_nottingham.py``), otherwise from the README's figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

# The sections live in benchmarks/speed/, imported as `speed`: put benchmarks/ on the path, also when
# this file is loaded by path (tests) rather than run as a script.
BENCHMARKS = Path(__file__).resolve().parent
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

from speed.audio import bench_analysis, bench_render  # noqa: E402
from speed.common import DEFAULT_JSON, ROOT, Settings, Skip  # noqa: E402
from speed.generate import bench_generate  # noqa: E402
from speed.load import bench_encode, bench_load, bench_parallel  # noqa: E402
from speed.make_run import bench_make_run, bench_make_run_quick  # noqa: E402
from speed.report import _load_avg, _runs_of, environment, markdown_table, print_table  # noqa: E402
from speed.train import bench_efficiency, bench_train  # noqa: E402

SECTIONS: dict[str, Callable[[Settings], list[dict]]] = {
    "load": bench_load,
    "parallel": bench_parallel,
    "encode": bench_encode,
    "train": bench_train,
    "efficiency": bench_efficiency,
    "generate": bench_generate,
    "render": bench_render,
    "analysis": bench_analysis,
    "make-run-quick": bench_make_run_quick,
    "make-run": bench_make_run,
}

DEFAULT_SECTIONS = [name for name in SECTIONS if name != "make-run"]


def parse_sections(values: list[str] | None) -> list[str]:
    if not values:
        return list(DEFAULT_SECTIONS)
    names: list[str] = []
    for value in values:
        for name in value.split(","):
            name = name.strip()
            if not name:
                continue
            if name == "all":
                names.extend(SECTIONS)
            elif name == "default":
                names.extend(DEFAULT_SECTIONS)
            elif name in SECTIONS:
                names.append(name)
            else:
                raise ValueError(f"unknown section {name!r}; choose from {', '.join(SECTIONS)}, default, all")
    return list(dict.fromkeys(names))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", "--only", nargs="*", metavar="SECTION",
                        help=f"sections to run (default: {' '.join(DEFAULT_SECTIONS)}; 'all' adds make-run)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per figure after a warm-up (>= 3)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that the sections run, not for numbers")
    parser.add_argument("--tf-threads", type=int, default=0, help="TensorFlow intra/inter-op threads (0: its default)")
    parser.add_argument("--train-batches", default=None, help="batch sizes of the training sweep, e.g. 64,128,256")
    parser.add_argument("--pipeline-repeats", type=int, default=1, help="timed runs of each make-run section")
    parser.add_argument("--json", default=str(DEFAULT_JSON), help="results file (rows merged by section)")
    parser.add_argument("--fresh", action="store_true", help="overwrite --json instead of merging into it")
    parser.add_argument("--markdown", default=str(ROOT / "results" / "speed.md"),
                        help="the Markdown table quoted by the README")
    parser.add_argument("--list", action="store_true", help="list the sections and exit")
    parser.add_argument("--report-only", action="store_true",
                        help="measure nothing: print the table of --json and rewrite --markdown from it")
    args = parser.parse_args(argv)
    if args.list:
        for name, fn in SECTIONS.items():
            default = "" if name in DEFAULT_SECTIONS else "  (not in the default run)"
            print(f"{name:16s} {fn.__doc__.strip().splitlines()[0]}{default}")
        return 0
    if args.report_only:
        from musiclib._files import atomic_write

        result = json.loads(Path(args.json).read_text())
        print_table(result["rows"])
        atomic_write(Path(args.markdown), markdown_table(result))
        print(f"\nwrote {args.markdown} from {args.json}")
        return 0
    if args.repeats < 3:
        parser.error("--repeats must be at least 3")
    if args.pipeline_repeats < 1:
        parser.error("--pipeline-repeats must be at least 1")
    try:
        sections = parse_sections(args.sections)
    except ValueError as error:
        parser.error(str(error))
    changes: dict[str, Any] = {"repeats": args.repeats, "tf_threads": args.tf_threads,
                               "pipeline_repeats": args.pipeline_repeats}
    if args.train_batches:
        changes["train_batches"] = tuple(int(b) for b in args.train_batches.split(","))
    settings = Settings.quick(**changes) if args.quick else Settings(**changes)

    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    load_start = _load_avg()
    rows: list[dict] = []
    meta: dict[str, dict] = {}
    for name in sections:
        print(f"== {name} (load average {_load_avg()})", file=sys.stderr, flush=True)
        section_start, section_load = time.perf_counter(), _load_avg()
        try:
            new = SECTIONS[name](settings)
            status = "ok"
        except Skip as reason:
            new, status = [{"name": name, "skipped": str(reason)}], "skipped"
        except Exception as error:  # one failing section does not lose the others
            new, status = [{"name": name, "skipped": f"failed: {type(error).__name__}: {error}"}], "failed"
            print(f"   section {name} failed: {type(error).__name__}: {error}", file=sys.stderr)
        for r in new:
            r["section"] = name
        rows.extend(new)
        meta[name] = {"status": status, "seconds": round(time.perf_counter() - section_start, 1),
                      "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                      "machine_load": {"start": section_load, "end": _load_avg()}, "quick": args.quick}
    load_end = _load_avg()
    print_table(rows)

    from musiclib._files import write_json

    path = Path(args.json)
    previous = {}
    if path.exists() and not args.fresh:
        try:
            previous = json.loads(path.read_text())
        except (OSError, ValueError):
            previous = {}
    if "sections" not in previous:  # the pre-section format: start over
        previous = {}
    kept = [r for r in previous.get("rows", []) if r.get("section") not in meta]
    order = {name: i for i, name in enumerate(SECTIONS)}
    all_rows = sorted(kept + rows, key=lambda r: order.get(r.get("section"), len(order)))
    command = " ".join([Path(__file__).name] + (sys.argv[1:] if argv is None else list(argv)))
    this_run = {"command": command, "started_at": started_at, "sections": list(meta),
                "machine_load": {"start": load_start, "end": load_end}}
    runs = []  # every run whose rows are still in the file, oldest first
    for run in _runs_of(previous):
        still = [name for name in run["sections"] if name not in meta]
        if still:
            runs.append({**run, "sections": still})
    result = {
        "environment": environment(settings),
        "command": command,
        "started_at": started_at,
        "machine_load": {"start": load_start, "end": load_end,
                         "note": "os.getloadavg() (1, 5, 15 min) when this run started and ended; "
                                 f"{os.cpu_count()} CPUs. Above the CPU count, other work shared the machine."},
        "runs": runs + [this_run],
        "sections": {**previous.get("sections", {}), **meta},
        "rows": all_rows,
    }
    write_json(path, result)
    from musiclib._files import atomic_write

    atomic_write(Path(args.markdown), markdown_table(result))
    print(f"\nwrote {path} and {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
