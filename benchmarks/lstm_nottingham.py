"""Train the default LSTM preset on Nottingham and print the held-out NLL table.

Usage::

    .venv/bin/python benchmarks/lstm_nottingham.py [--preset default] [--epochs N] [--out runs/lstm-nottingham]

Prints the training time and the test-split NLL of the LSTM against unigram and
n-gram (2..5, interpolated Kneser-Ney) baselines over the same tokens and split,
and whether the LSTM beats the best n-gram by at least 20%. Rerunning with the same
``--out`` resumes an interrupted training.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import musiclib as ml

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MUSICLIB_SHARED_DATA", ROOT.parent / "shared" / "data"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=str(SHARED / "nottingham"), help="Nottingham root (holds MIDI/)")
    parser.add_argument("--out", default=str(ROOT / "runs" / "lstm-nottingham"))
    args = parser.parse_args(argv)
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
    print(f"\nLSTM test NLL {result.lstm_row['nll']:.3f} vs best n-gram ({best['model']}) {best['nll']:.3f}: "
          f"{100 * result.improvement:.1f}% lower (target: 20%)")
    print(f"bundle: {result.bundle_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
