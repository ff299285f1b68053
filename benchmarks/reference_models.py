"""Train a reference language model and ship it as a reference bundle (``musiclib/reference/<name>/``).

Usage::

    .venv/bin/python benchmarks/reference_models.py nottingham-lstm          # Nottingham (needs its MIDI files)
    .venv/bin/python benchmarks/reference_models.py folk-lstm                # the embedded folk corpus
    .venv/bin/python benchmarks/reference_models.py nottingham-transformer   # the Transformer on Nottingham
    .venv/bin/python benchmarks/reference_models.py folk-transformer         # the short Transformer on folk

Each name fixes the dataset, architecture, preset and epochs (:data:`RECIPES`): the run trains with
validation-based early stopping into ``runs/reference/<name>/`` (rerunning the same
command resumes an interrupted run), scores the test split against the n-gram
baselines, and writes the bundle with its weights only (no optimizer state) and a
``reference.json`` holding the data fingerprint, this exact command and the test NLL.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

import musiclib as ml

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MUSICLIB_SHARED_DATA", ROOT.parent / "shared" / "data"))

RECIPES: dict[str, dict] = {
    # Trained to convergence: early stopping ended it after 32 epochs (best 28; 8 epochs gave test NLL 0.587).
    "nottingham-lstm": {"dataset": "nottingham", "path": str(SHARED / "nottingham"), "preset": "default",
                        "epochs": 40},
    # Trained to convergence (20 epochs max, early stopping); 3 epochs gave test C2ST 0.990, overlap 0.772.
    "folk-lstm": {"dataset": "folk", "path": None, "preset": "default", "epochs": 20},
    "nottingham-transformer": {"dataset": "nottingham", "path": str(SHARED / "nottingham"), "preset": "default",
                               "epochs": 7, "architecture": "transformer"},
    # The walkthrough's small Transformer trained longer: it fits the reference budget (25 MB in all).
    "folk-transformer": {"dataset": "folk", "path": None, "preset": "short", "epochs": 5,
                         "architecture": "transformer"},
}
"""Reference name -> dataset, data path, architecture (default LSTM), preset and epochs (early
stopping may end sooner)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(RECIPES))
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    parser.add_argument("--data", default=None, help="override the recipe's data folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="run folder (default runs/reference/NAME)")
    parser.add_argument("--position", default=None, help="Transformer recipes: TransformerConfig.position")
    parser.add_argument("--no-export", action="store_true",
                        help="train and score only (a lever to compare on validation before it ships)")
    args = parser.parse_args(argv)
    recipe = dict(RECIPES[args.name])
    epochs = args.epochs if args.epochs is not None else recipe["epochs"]
    path = args.data if args.data is not None else recipe["path"]
    out = Path(args.out) if args.out else ROOT / "runs" / "reference" / args.name
    command = " ".join(["benchmarks/reference_models.py", args.name,
                        *(["--epochs", str(args.epochs)] if args.epochs is not None else []),
                        *(["--seed", str(args.seed)] if args.seed else []),
                        *(["--position", args.position] if args.position else [])])
    prepared = ml.prepare.prepare(ml.prepare.PrepareConfig(dataset=recipe["dataset"], path=path, seed=args.seed),
                                  out_dir=out)
    print(f"{recipe['dataset']}: {prepared.data_info()['split_sizes']} tunes, {prepared.data_info()['tokens']} tokens")
    architecture = recipe.get("architecture", "lstm")
    if args.position is not None and architecture != "transformer":
        parser.error(f"--position is a Transformer setting; {args.name} is an {architecture}")
    overrides = {"position": args.position} if args.position else {}
    result = ml.experiments.train_lstm_experiment(prepared, out_dir=out, preset=recipe["preset"], epochs=epochs,
                                                  seed=args.seed, verbose=2, architecture=architecture, **overrides)
    print(ml.experiments.format_table(result.table))
    if args.no_export:
        print(f"trained bundle: {result.bundle_path} (not exported)")
        return 0
    folder = ml.lm.export_reference(result.bundle_path, args.name, command=command, notes={
        "architecture": architecture,
        "preset": recipe["preset"],
        "epochs_trained": len(result.history.get("loss", [])),
        "train_minutes": round(result.train_seconds / 60, 1),
        "test_nll": result.model_row["nll"],
        "best_ngram": {"model": result.best_baseline["model"], "nll": result.best_baseline["nll"]},
    })
    size = sum(p.stat().st_size for p in folder.iterdir())
    print(f"reference bundle {args.name}: {folder} ({size / 1e6:.1f} MB); command: {shlex.quote(command)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
