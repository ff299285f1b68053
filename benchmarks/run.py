"""musiclib benchmarks: each figure side by side with the baseline it replaces.

Usage::

    .venv/bin/python benchmarks/run.py                 # every section available here
    .venv/bin/python benchmarks/run.py --only load render
    .venv/bin/python benchmarks/run.py --json benchmarks/results.json

Every timing is the median of ``--repeats`` runs (at least 3) after one warm-up run.
Library versions, the CPU count and the thread settings are recorded in the JSON.
Data: ``../shared/data`` beside the checkout (or ``$MUSICLIB_SHARED_DATA``); sections
that need it are skipped with a note when it is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MUSICLIB_SHARED_DATA", ROOT.parent / "shared" / "data"))
NOTTINGHAM = SHARED / "nottingham"


def median_time(fn: Callable[[], object], *, repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def row(name: str, ours: float, baseline: float | None, unit: str, *, higher_is_better: bool, note: str = "") -> dict:
    ratio = None
    if baseline:
        ratio = ours / baseline if higher_is_better else baseline / ours
    return {"benchmark": name, "musiclib": ours, "baseline": baseline, "unit": unit, "ratio": ratio, "note": note}


def bench_load(repeats: int) -> list[dict]:
    """Nottingham MIDI set: musiclib (symusic + cache) against music21's per-file parser."""
    import music21
    import numpy as np

    import musiclib as ml

    if not (NOTTINGHAM / "MIDI").is_dir():
        return [{"benchmark": "load", "skipped": f"{NOTTINGHAM} not present"}]
    files = sorted((NOTTINGHAM / "MIDI").glob("*.mid"))

    def cold():
        with tempfile.TemporaryDirectory() as cache:
            corpus = ml.datasets.load("nottingham", path=NOTTINGHAM, cache_dir=cache)
            assert len(corpus) == len(files)

    cache = tempfile.mkdtemp()
    ml.datasets.load("nottingham", path=NOTTINGHAM, cache_dir=cache)

    def warm():
        ml.datasets.load("nottingham", path=NOTTINGHAM, cache_dir=cache)

    cold_s = median_time(cold, repeats=repeats)
    warm_s = median_time(warm, repeats=repeats)
    # music21 takes ~0.1 s per file: time a fixed random sample of 40 files, scale to the set
    sample = [files[i] for i in np.random.default_rng(0).choice(len(files), size=40, replace=False)]

    def m21():
        for path in sample:
            music21.converter.parse(str(path))

    music21.converter.parse(str(files[0]))  # music21's one-off start-up cost is not per file
    m21_s = median_time(m21, repeats=max(1, repeats // 3), warmup=0) * len(files) / len(sample)
    note = f"music21 time scaled from a 40-file sample to all {len(files)} files"
    return [
        row("load Nottingham MIDI, cold (s)", cold_s, m21_s, "s", higher_is_better=False, note=note),
        row("load Nottingham MIDI, warm cache (s)", warm_s, m21_s, "s", higher_is_better=False, note=note),
    ]


def bench_encode(repeats: int) -> list[dict]:
    """Event encoding of the whole Nottingham set (tokens/s)."""
    import musiclib as ml

    if not (NOTTINGHAM / "MIDI").is_dir():
        return [{"benchmark": "encode", "skipped": f"{NOTTINGHAM} not present"}]
    tunes = ml.datasets.load("nottingham", path=NOTTINGHAM).tunes
    encoding = ml.encoding.get_encoding("events")
    n_tokens = sum(len(encoding.encode(t)) for t in tunes)
    seconds = median_time(lambda: [encoding.encode(t) for t in tunes], repeats=repeats)
    return [row("event-encode Nottingham (tokens/s)", n_tokens / seconds, None, "tokens/s", higher_is_better=True,
                note=f"{n_tokens:,} tokens in {seconds:.2f} s")]


def bench_render(repeats: int) -> list[dict]:
    """Batch rendering, × real time: one synthesizer for the batch vs pretty_midi's per-call synthesizer."""
    import pretty_midi

    import musiclib as ml

    if not (NOTTINGHAM / "MIDI").is_dir():
        return [{"benchmark": "render", "skipped": f"{NOTTINGHAM} not present"}]
    files = sorted((NOTTINGHAM / "MIDI").glob("*.mid"))[:20]
    tunes = [ml.io.read_midi(f) for f in files]
    rows = []
    if ml.audio.fluidsynth_available():
        renderer = ml.audio.get_renderer("fluidsynth")
        seconds_audio = sum(renderer.render(t).seconds for t in tunes)
        ours = median_time(lambda: [renderer.render(t) for t in tunes], repeats=repeats)
        sf2 = str(ml.audio.default_soundfont())
        midis = [pretty_midi.PrettyMIDI(str(f)) for f in files]
        base = median_time(lambda: [m.fluidsynth(fs=22050, sf2_path=sf2) for m in midis], repeats=repeats)
        rows.append(row("render 20 Nottingham tunes, FluidSynth (x real time)", seconds_audio / ours,
                        seconds_audio / base, "x real time", higher_is_better=True,
                        note="baseline: pretty_midi.fluidsynth, a new synthesizer per tune"))
    additive = ml.audio.AdditiveRenderer()
    seconds_audio = sum(additive.render(t).seconds for t in tunes[:5])
    ours = median_time(lambda: [additive.render(t) for t in tunes[:5]], repeats=repeats)
    rows.append(row("render 5 tunes, additive fallback (x real time)", seconds_audio / ours, None, "x real time",
                    higher_is_better=True))
    return rows


SECTIONS = {"load": bench_load, "encode": bench_encode, "render": bench_render}


def environment() -> dict:
    versions = {}
    for name in ("musiclib", "numpy", "symusic", "music21", "tensorflow", "keras", "librosa", "pyfluidsynth"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    threads = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_CORETYPE", "TF_NUM_INTRAOP_THREADS")}
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "versions": versions, "thread_settings": threads}


def print_table(rows: list[dict]) -> None:
    print(f"{'benchmark':58s} {'musiclib':>12s} {'baseline':>12s} {'ratio':>9s}")
    for r in rows:
        if "skipped" in r:
            print(f"{r['benchmark']:58s} skipped: {r['skipped']}")
            continue
        base = "" if r["baseline"] is None else f"{r['baseline']:12.3f}"
        ratio = "" if r["ratio"] is None else f"{r['ratio']:8.1f}x"
        print(f"{r['benchmark']:58s} {r['musiclib']:12.3f} {base:>12s} {ratio:>9s}  {r['note']}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(SECTIONS), help="sections to run (default: all)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per figure (>= 3)")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results.json"), help="where to write results")
    args = parser.parse_args(argv)
    if args.repeats < 3:
        parser.error("--repeats must be at least 3")
    rows = []
    for name in args.only or SECTIONS:
        print(f"== {name}", file=sys.stderr)
        rows.extend(SECTIONS[name](args.repeats))
    print_table(rows)
    from musiclib._files import write_json

    write_json(args.json, {"environment": environment(), "rows": rows, "repeats": args.repeats})
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
