"""Train the default LSTM preset on Nottingham and print the held-out NLL table.

Usage::

    .venv/bin/python benchmarks/lstm_nottingham.py [--preset default] [--epochs N] [--out runs/lstm-nottingham]

Prints the training time and the test-split NLL of the LSTM against unigram and
n-gram (2..5, interpolated Kneser-Ney) baselines over the same tokens and split,
and whether the LSTM beats the best n-gram by at least 20%. Rerunning with the same
``--out`` resumes an interrupted training.

Writes ``results/lstm_nottingham.md`` and ``.json`` (quoted by the README through
``benchmarks/update_readme.py``). ``--report-only`` rewrites them from a finished run
folder without training.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import musiclib as ml
from musiclib._files import atomic_write, read_json, write_json

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MUSICLIB_SHARED_DATA", ROOT.parent / "shared" / "data"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=str(SHARED / "nottingham"), help="Nottingham root (holds MIDI/)")
    parser.add_argument("--out", default=str(ROOT / "runs" / "lstm-nottingham"))
    parser.add_argument("--results", default=str(ROOT / "results" / "lstm_nottingham"),
                        help="where the Markdown and JSON summary go (without suffix)")
    parser.add_argument("--report-only", action="store_true", help="rewrite --results from a finished --out")
    args = parser.parse_args(argv)
    if args.report_only:
        print(write_results(Path(args.out), Path(args.results)))
        return 0
    prepared = ml.prepare.prepare(ml.prepare.PrepareConfig(dataset="nottingham", path=args.data, seed=args.seed),
                                  out_dir=args.out)
    info = prepared.data_info()
    print(f"Nottingham: {info['split_sizes']} tunes, {info['tokens']} tokens, vocabulary {info['vocab_size']}")
    result = ml.experiments.train_lstm_experiment(prepared, out_dir=args.out, preset=args.preset,
                                                  epochs=args.epochs, seed=args.seed, verbose=2)
    epochs = len(result.history.get("loss", []))
    print(f"\ntrained {epochs} epochs in {result.train_seconds / 60:.1f} min "
          f"({result.train_seconds / max(epochs, 1):.0f} s/epoch in this process)")
    print(ml.experiments.format_table(result.table))
    best = result.best_baseline
    print(f"\nLSTM test NLL {result.model_row['nll']:.3f} vs best n-gram ({best['model']}) {best['nll']:.3f}: "
          f"{100 * result.improvement:.1f}% lower (target: 20%)")
    print(f"bundle: {result.bundle_path}")
    write_results(Path(args.out), Path(args.results))
    return 0


def write_results(out: Path, results: Path) -> str:
    """Summarise a finished run folder as ``results.md`` / ``results.json``; return the Markdown."""
    table = read_json(out / "nll_table.json")
    history = read_json(out / "bundle" / "history.json")
    metrics = read_json(out / "bundle" / "metrics.json")
    data = read_json(out / "data.json")
    lstm = next(r for r in table if r["model"] == "lstm")
    best = min((r for r in table if r["model"] != "lstm"), key=lambda r: r["nll"])
    improvement = 1.0 - lstm["nll"] / best["nll"]
    epochs = len(history["loss"])
    minutes = metrics["train_seconds"] / 60
    summary = {
        "preset": metrics.get("preset"),
        "epochs": epochs,
        "train_minutes": round(minutes, 1),
        "final_val_loss": history["val_loss"][-1],
        "split_sizes": data.get("split_sizes"),
        "tokens": data.get("tokens"),
        "improvement_over_best_ngram": improvement,
        "best_ngram": best["model"],
        "table": table,
        "command": f"benchmarks/lstm_nottingham.py --preset {metrics.get('preset')} --epochs {epochs}",
    }
    markdown = "\n".join([
        ml.experiments.format_table(table),
        "",
        f"LSTM ({summary['preset']} preset, {epochs} epochs, {minutes:.0f} min of training on this machine's 2 CPU "
        f"cores): test NLL {100 * improvement:.1f}% lower than the best n-gram's ({best['model']}). "
        f"Test split: {data['split_sizes']['test']} tunes, {lstm['tokens']:,} tokens, scored identically by "
        f"every row. Command: `{summary['command']}`.",
    ]) + "\n"
    write_json(results.with_suffix(".json"), summary)
    atomic_write(results.with_suffix(".md"), markdown)
    return markdown


if __name__ == "__main__":
    sys.exit(main())
