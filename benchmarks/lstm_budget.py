"""Which LSTM training settings learn most in a one-epoch budget? (the ``short`` preset's origin)

Usage::

    .venv/bin/python benchmarks/lstm_budget.py [--epochs 1] [--seed 0] [--only NAME ...] [--out runs/lstm-budget]

Trains the default model (embedding 128, 2 x LSTM(256), windows of 128) on the embedded
folk corpus with each setting below for ``--epochs`` epochs, same split and seed, and
prints the validation loss (what the choice is made on) and the test NLL of each. One
setting takes about 5.5 minutes on this project's 2 CPU cores, the whole table about 35.
Each setting trains in its own folder under ``--out``, so an interrupted run resumes and
a finished setting is not trained again.

Writes ``results/lstm_budget.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import musiclib as ml
from musiclib._files import atomic_write, read_json, write_json

ROOT = Path(__file__).resolve().parents[1]

SETTINGS: dict[str, dict] = {
    "default": {"preset": "default"},
    "short": {"preset": "short"},
    "no dropout, lr 2e-3": {"preset": "default", "dropout": 0.0},
    "no dropout, lr 5e-3": {"preset": "default", "dropout": 0.0, "learning_rate": 5e-3},
    "batch 128, lr 4e-3": {"preset": "default", "batch_size": 128, "learning_rate": 4e-3},
    "batch 256, lr 6e-3": {"preset": "default", "batch_size": 256, "learning_rate": 6e-3},
}
"""Setting name -> preset plus :class:`musiclib.lm.lstm.LSTMConfig` overrides."""


def _folder(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-").replace("--", "-")


def run_setting(name: str, prepared, *, out: Path, epochs: int, seed: int) -> dict:
    overrides = dict(SETTINGS[name])
    preset = overrides.pop("preset")
    folder = out / _folder(name)
    done = folder / "row.json"
    if done.exists():
        return read_json(done)
    started = time.perf_counter()
    result = ml.experiments.train_lstm_experiment(prepared, out_dir=folder, preset=preset, epochs=epochs,
                                                  seed=seed, verbose=2, **overrides)
    row = {
        "setting": name,
        "preset": preset,
        "overrides": overrides,
        "epochs": len(result.history["loss"]),
        "val_nll": float(result.history["val_loss"][-1]),
        "test_nll": float(result.lstm_row["nll"]),
        "train_seconds": round(result.train_seconds, 1),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    write_json(done, row)
    return row


def markdown(rows: list[dict], *, epochs: int, seed: int, corpus: str) -> str:
    lines = ["| setting | LSTMConfig changes | val NLL | test NLL | training (s) |", "|---|---|---:|---:|---:|"]
    for row in sorted(rows, key=lambda r: r["val_nll"]):
        changes = ", ".join(f"{k}={v}" for k, v in row["overrides"].items()) or "—"
        lines.append(f"| {row['setting']} | preset {row['preset']}; {changes} | {row['val_nll']:.3f} | "
                     f"{row['test_nll']:.3f} | {row['train_seconds']:.0f} |")
    lines.append("")
    lines.append(f"Corpus {corpus}, {epochs} epoch(s), seed {seed}; NLL in nats per token (validation: "
                 "the windows the early-stopping monitor sees; test: every token after BOS of every test tune). "
                 "Command: `benchmarks/lstm_budget.py`.")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="+", choices=sorted(SETTINGS), default=None, help="settings to train")
    parser.add_argument("--dataset", default="folk")
    parser.add_argument("--max-tunes", type=int, default=None, help="a random subset (for a smoke test)")
    parser.add_argument("--out", default=str(ROOT / "runs" / "lstm-budget"))
    parser.add_argument("--results", default=str(ROOT / "results" / "lstm_budget"),
                        help="where the Markdown and JSON summary go (without suffix)")
    args = parser.parse_args(argv)
    out = Path(args.out) / f"epochs{args.epochs}-seed{args.seed}"
    prepared = ml.prepare.prepare(ml.prepare.PrepareConfig(dataset=args.dataset, seed=args.seed,
                                                           max_tunes=args.max_tunes), out_dir=out)
    rows = []
    for name in args.only or list(SETTINGS):
        row = run_setting(name, prepared, out=out, epochs=args.epochs, seed=args.seed)
        print(f"{name:>22}: val {row['val_nll']:.3f}, test {row['test_nll']:.3f} nats/token, "
              f"{row['train_seconds']:.0f} s", flush=True)
        rows.append(row)
    corpus = args.dataset + (f" ({args.max_tunes} tunes)" if args.max_tunes else "")
    table = markdown(rows, epochs=args.epochs, seed=args.seed, corpus=corpus)
    print("\n" + table)
    results = Path(args.results)
    write_json(results.with_suffix(".json"), {"dataset": args.dataset, "epochs": args.epochs, "seed": args.seed,
                                              "max_tunes": args.max_tunes, "rows": rows})
    atomic_write(results.with_suffix(".md"), table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
