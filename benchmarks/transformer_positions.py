"""Rotary against ALiBi relative positions: the same Transformer, the same budget, Nottingham's validation split.

Usage::

    nice -n 10 .venv/bin/python benchmarks/transformer_positions.py            # 2 epochs each
    nice -n 10 .venv/bin/python benchmarks/transformer_positions.py --epochs 1 --out runs/positions-smoke

Each position method trains the ``default`` preset's network with ``--overrides`` (by
default a smaller one, so both fit a short budget on 2 CPU cores) for ``--epochs``
epochs on the Nottingham split of the reference bundles (seed 0), and is scored on the
**validation** tunes only (the choice of the default is made here; the test split is
not touched). Reported: validation NLL in nats/token (scored in half-overlapping
windows, as the benchmark scores the test split), training minutes, and the
bar-repetition share of 100 pieces of 16 bars sampled from ``BOS`` beside the
validation tunes' own.

Writes ``<out>.md`` and ``<out>.json`` (default ``results/transformer_positions``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MUSICLIB_SHARED_DATA", ROOT.parent / "shared" / "data"))
sys.path.insert(0, str(ROOT))

POSITIONS = ("rotary", "alibi")
DEFAULT_OVERRIDES = {"model_dim": 128, "num_layers": 3, "ff_dim": 512, "sequence_length": 256, "batch_size": 32}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(SHARED / "nottingham"))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--overrides", default=json.dumps(DEFAULT_OVERRIDES),
                        help="TransformerConfig fields as JSON, applied to the default preset")
    parser.add_argument("-n", type=int, default=100, help="pieces sampled per method for the repetition share")
    parser.add_argument("--out", default=str(ROOT / "results" / "transformer_positions"))
    args = parser.parse_args(argv)

    import musiclib as ml
    from musiclib._files import atomic_write, write_json

    overrides = json.loads(args.overrides)
    run_root = ROOT / "runs" / "transformer-positions"
    prepared = ml.prepare.prepare(ml.prepare.PrepareConfig(dataset="nottingham", path=args.data, seed=0),
                                  out_dir=run_root)
    valid_tunes = [ml.evaluation.excerpt(tune, n_bars=16) for tune in prepared.tunes["valid"]]
    real_repetition = float(np.nanmean(ml.evaluation.set_repetition(valid_tunes, n_bars=16)))
    rows = []
    for position in POSITIONS:
        config = ml.lm.transformer_config_for("default", len(prepared.vocab), position=position,
                                              epochs=args.epochs, **overrides)
        model = ml.lm.build_transformer(config)
        started = time.perf_counter()
        history = ml.lm.train(model, config, prepared.sequences["train"], prepared.sequences["valid"],
                              out_dir=run_root / position, verbose=2)
        minutes = (time.perf_counter() - started) / 60
        scores = ml.lm.evaluate_nll(model, prepared.sequences["valid"], context=config.sequence_length)
        parts = ml.lm.ModelParts(model, prepared.vocab, config, prepared.encoding,
                                 tuple(ml.experiments.track_info(prepared).get("monophonic_tracks", ())))
        pieces = ml.lm.sample_many(parts, seeds=range(args.n), n_bars=16, top_p=0.95)
        tunes = [prepared.encoding.decode(tokens).tune for tokens in pieces]
        repetition = float(np.nanmean(ml.evaluation.set_repetition(tunes, n_bars=16)))
        rows.append({"position": position, "valid_nll": scores["nll"], "valid_accuracy": scores["accuracy"],
                     "epochs": len(history["loss"]), "train_minutes": round(minutes, 1),
                     "bar_repetition": repetition})
        print(rows[-1], flush=True)

    best = min(rows, key=lambda row: row["valid_nll"])
    lines = ["## Relative positions: rotary against ALiBi (Nottingham, validation split)", "",
             f"Network: the default preset with {overrides}; {args.epochs} epoch(s) each, seed 0.", "",
             "| position | validation NLL ↓ | accuracy | epochs | training (min) | bar repetition (real: "
             f"{real_repetition:.2f}) |", "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['position']} | {r['valid_nll']:.3f} | {r['valid_accuracy']:.3f} | {r['epochs']} | "
              f"{r['train_minutes']} | {r['bar_repetition']:.2f} |" for r in rows]
    lines += ["", f"Lower validation NLL: **{best['position']}**.",
              "", f"Command: `benchmarks/transformer_positions.py {' '.join(sys.argv[1:] if argv is None else argv)}`"]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out.with_suffix(".md"), "\n".join(lines) + "\n")
    write_json(out.with_suffix(".json"), {"rows": rows, "real_bar_repetition": real_repetition,
                                          "overrides": overrides, "epochs": args.epochs, "best": best["position"]})
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
