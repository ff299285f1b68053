"""Objective evaluation on the embedded folk corpus: real (ceiling), LSTM, Markov and uniform against held-out tunes.

The folk counterpart of ``benchmarks/evaluate_nottingham.py`` (same protocol, same
columns, the same options): the reference LSTM ``folk-lstm`` by default, its own
split (``split.json`` in the bundle), no GAN row unless ``--gan-bundle`` names one.

Usage::

    nice -n 10 .venv/bin/python benchmarks/evaluate_folk.py               # 3 seeds x 100 pieces per set
    nice -n 10 .venv/bin/python benchmarks/evaluate_folk.py --seeds 1 -n 20 --out runs/eval-folk-smoke

Writes ``<out>.md`` and ``<out>.json`` (default ``results/evaluation_folk``).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import evaluate_nottingham  # noqa: E402

FOLK_DEFAULTS = {"dataset": "folk", "lstm_bundle": "folk-lstm", "gan_bundle": "none",
                 "out": str(evaluate_nottingham.ROOT / "results" / "evaluation_folk")}


def main(argv: list[str] | None = None) -> int:
    return evaluate_nottingham.main(argv, command_name="evaluate_folk.py", defaults=FOLK_DEFAULTS)


if __name__ == "__main__":
    raise SystemExit(main())
