"""Train the GAN's default preset on Nottingham and print MuseGAN's metrics, real vs generated.

Usage::

    nice -n 10 .venv/bin/python benchmarks/gan_nottingham.py                  # default preset
    nice -n 10 .venv/bin/python benchmarks/gan_nottingham.py --preset paper   # the seed's dense GAN
    nice -n 10 .venv/bin/python benchmarks/gan_nottingham.py --epochs 5 --out runs/gan-bench
    nice -n 10 .venv/bin/python benchmarks/gan_nottingham.py --bundle nottingham-gan   # score a trained bundle

Data: Nottingham (``../shared/data/nottingham`` beside the checkout, or
``$MUSICLIB_SHARED_DATA``), the training part of ``split_corpus(seed=0)``, every 4/4
phrase of four bars (hop one bar). Generated: 1,000 phrases (4,000 bars) binarised at
0.5; real: 1,000 phrases from the same training split. The target: QN and UPC within
25% of the real data's, EBR within 10 points, collapse ratio near 1.

Writes ``<out>/benchmark.json`` (the table, timing, config, machine) and the run folder
(history, checkpoints, sample grids) and GAN bundle under ``<out>``, and the summary
``results/gan_nottingham.md`` / ``.json`` quoted by the README (``--report-only``
rewrites it from ``<out>/benchmark.json`` without training; ``--bundle`` scores a trained
bundle or reference GAN instead of training one, on the training split it records).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MUSICLIB_SHARED_DATA", ROOT.parent / "shared" / "data"))
NOTTINGHAM = SHARED / "nottingham"

from musiclib._files import atomic_write, json_ready, read_json, write_json  # noqa: E402
from musiclib.gan import metrics as gan_metrics  # noqa: E402

_EVAL_PHRASES = 1000


def _targets(table: dict) -> list[tuple[str, bool, str]]:
    real, fake = table["real"], table["generated"]
    checks = []
    for track, name in enumerate(("melody", "chords")):
        for key, label in (("qualified_note_rate", "QN"), ("used_pitch_classes", "UPC")):
            r, f = real[key][track], fake[key][track]
            ok = f is not None and r and abs(f - r) <= 0.25 * r
            checks.append((f"{label} {name} within 25%", bool(ok), f"{f:.3f} vs {r:.3f}"))
        r, f = real["empty_bar_rate"][track], fake["empty_bar_rate"][track]
        checks.append((f"EBR {name} within 10 points", abs(f - r) <= 0.10, f"{f:.3f} vs {r:.3f}"))
    ratio = table["collapse"]["ratio"]
    checks.append(("no collapse, no noise (collapse ratio 0.7-1.5)", 0.7 <= ratio <= 1.5, f"{ratio:.3f}"))
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--epochs", type=int, default=0, help="0: the preset's")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "runs" / "gan-nottingham"))
    parser.add_argument("--verbose", type=int, default=2)
    parser.add_argument("--results", default=str(ROOT / "results" / "gan_nottingham"),
                        help="where the Markdown and JSON summary go (without suffix)")
    parser.add_argument("--report-only", action="store_true", help="rewrite --results from --out's benchmark.json")
    parser.add_argument("--bundle", default=None,
                        help="score this GAN bundle (folder or reference name) instead of training one")
    args = parser.parse_args(argv)

    import musiclib as ml
    from musiclib.experiments import train_gan_experiment

    if args.report_only:
        print(write_results(Path(args.out) / "benchmark.json", Path(args.results)))
        return 0
    if not NOTTINGHAM.is_dir():
        print(f"Nottingham not found at {NOTTINGHAM}; set MUSICLIB_SHARED_DATA", file=sys.stderr)
        return 2
    out = Path(args.out)
    t0 = time.perf_counter()
    corpus = ml.datasets.load("nottingham", path=str(NOTTINGHAM))
    if args.bundle:
        return score_bundle(args, corpus, out)
    train, _, _ = ml.split.split_corpus(corpus.tunes, seed=0).apply(corpus.tunes)
    t_data = time.perf_counter() - t0
    result = train_gan_experiment(train, out_dir=out, dataset="nottingham", preset=args.preset,
                                  epochs=args.epochs or None, seed=args.seed, n_eval=_EVAL_PHRASES,
                                  data_info={"split": "train (split_corpus seed 0)"}, verbose=args.verbose)
    table, config, t_train = result.table, result.config, result.train_seconds
    print()
    print(f"preset {args.preset!r}: {config.epochs} epochs, {len(result.history.get('epoch', []))} run, "
          f"{result.phrases} phrases")
    print(gan_metrics.format_table(table))
    epoch_seconds = result.history.get("epoch_seconds", [])
    print(f"training time: {t_train:.0f} s ({t_train / 60:.1f} min; epochs {min(epoch_seconds):.0f}-"
          f"{max(epoch_seconds):.0f} s) on {os.cpu_count()} CPU cores, load average at the end "
          f"{os.getloadavg()[0]:.1f}")
    checks = _targets(table)
    for label, ok, detail in checks:
        print(f"  [{'x' if ok else ' '}] {label}: {detail}")
    write_json(
        out / "benchmark.json",
        json_ready(
            {
                "preset": args.preset,
                "config": config.to_dict(),
                "phrases": result.phrases,
                "train_seconds": t_train,
                "data_seconds": t_data,
                "table": table,
                "targets": {label: ok for label, ok, _ in checks},
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                            "load_average_end": os.getloadavg()},
            }
        ),
    )
    write_results(out / "benchmark.json", Path(args.results))
    return 0


def score_bundle(args: argparse.Namespace, corpus, out: Path) -> int:
    """MuseGAN's metrics of a trained bundle against phrases of its own training split."""
    import numpy as np

    import musiclib as ml
    from musiclib.lm.reference import resolve_bundle

    bundle = ml.gan.load_bundle(resolve_bundle(args.bundle))
    if bundle.split_path is None:
        print(f"{args.bundle} records no split.json: cannot tell its training tunes", file=sys.stderr)
        return 2
    config = bundle.config
    train = ml.split.Split.load(bundle.split_path).apply(corpus.tunes)[0]
    phrases = ml.gan.phrases_from_tunes(train, bundle.encoding, n_bars=config.n_bars, hop_bars=config.hop_bars,
                                        onsets=config.onsets)
    rng = np.random.default_rng(args.seed)
    real = phrases[rng.choice(len(phrases), min(_EVAL_PHRASES, len(phrases)), replace=False)][..., : config.n_tracks]
    fake = ml.gan.harden(bundle.generate(_EVAL_PHRASES, seed=args.seed + 1), config)[..., : config.n_tracks]
    table = gan_metrics.metrics_table(real, fake, lowest_pitch=bundle.encoding.lowest_pitch)
    print(gan_metrics.format_table(table))
    checks = _targets(table)
    for label, ok, detail in checks:
        print(f"  [{'x' if ok else ' '}] {label}: {detail}")
    history = bundle.history
    seconds = float(sum(v for v in history.get("train_seconds", []) if v is not None))
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "benchmark.json", json_ready({
        "preset": f"bundle {args.bundle}", "config": config.to_dict(), "phrases": int(len(phrases)),
        "train_seconds": seconds, "data_seconds": 0.0, "table": table,
        "targets": {label: ok for label, ok, _ in checks}, "bundle": str(args.bundle),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}}))
    write_results(out / "benchmark.json", Path(args.results))
    return 0


def write_results(benchmark: Path, results: Path) -> str:
    """Summarise ``benchmark.json`` as ``results.md`` / ``results.json``; return the Markdown."""
    data = read_json(benchmark)
    checks = _targets(data["table"])
    epochs = data["config"]["epochs"]
    bars = data["config"]["n_bars"]
    command = (f"benchmarks/gan_nottingham.py --bundle {data['bundle']}" if data.get("bundle")
               else f"benchmarks/gan_nottingham.py --preset {data['preset']} --epochs {epochs}")
    markdown = "\n".join([
        "```text",
        gan_metrics.format_table(data["table"]),
        "```",
        "",
        *(f"- [{'x' if ok else ' '}] {label}: {detail}" for label, ok, detail in checks),
        "",
        f"GAN ({data['preset']}{'' if data.get('bundle') else ' preset'}, {epochs} epochs on {data['phrases']:,} "
        f"{bars}-bar phrases of the training split, {data['train_seconds'] / 60:.1f} min on this machine's 2 CPU "
        f"cores). Command: `{command}`.",
    ]) + "\n"
    write_json(results.with_suffix(".json"), {"command": command, "preset": data["preset"], "epochs": epochs,
                                              "phrases": data["phrases"], "train_seconds": data["train_seconds"],
                                              "targets": {label: ok for label, ok, _ in checks},
                                              "table": data["table"]})
    atomic_write(results.with_suffix(".md"), markdown)
    return markdown


if __name__ == "__main__":
    raise SystemExit(main())
