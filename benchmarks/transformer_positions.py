"""Relative positions compared: the same Transformer, the same budget, Nottingham's validation split.

Usage::

    nice -n 10 .venv/bin/python benchmarks/transformer_positions.py            # rotary, ALiBi, rotary over bars
    nice -n 10 .venv/bin/python benchmarks/transformer_positions.py --positions rotary rotary-bars \\
        --out results/transformer_bar_positions
    nice -n 10 .venv/bin/python benchmarks/transformer_positions.py --epochs 1 --out runs/positions-smoke

Each position method trains the ``default`` preset's network with ``--overrides`` (by
default a smaller one, so each fits a short budget on 2 CPU cores) for ``--epochs``
epochs on the Nottingham split of the reference bundles (seed 0), and is scored on the
**validation** tunes only (the choice of the default is made here; the test split is
not touched). Reported: validation NLL in nats/token (scored in half-overlapping
windows, as the benchmark scores the test split), training minutes, the bar-repetition
share of ``-n`` pieces of 16 bars sampled from ``BOS`` beside the validation tunes'
own, and two measures of copying, on the validation tunes of at least 16 bars:

* **context gain**: the NLL of bars 9-16 scored without bars 1-8 minus the NLL with
  them (nats/token). Nottingham's tunes repeat their A part, so a model that copies
  gains a lot from the earlier bars; one that does not, little.
* **primed copy share**: primed with a tune's first 8 bars, the share of generated
  bars 9-16 that repeat the bar 8 earlier (:func:`musiclib.evaluation.copy_share`),
  beside the real continuations' share;
* **copy persistence**: of those continuations, the share of bars that repeat the bar
  8 earlier when the bar before did (:func:`musiclib.evaluation.copy_persistence`):
  whether a model, once it plays the A part again, goes on with it as real tunes do.

Each position trains in its own folder under ``runs/transformer-positions/`` and
resumes there after an interruption.

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

POSITIONS = ("rotary", "alibi", "rotary-bars")
DEFAULT_OVERRIDES = {"model_dim": 128, "num_layers": 3, "ff_dim": 512, "sequence_length": 512, "batch_size": 16}
"""A smaller network than the default preset's, with its full window (8 bars of a Nottingham tune
with its chords are about 300 tokens: a window of 256 cannot hold a repeat of the A part)."""
PRIME_BARS = 8
RUN_ROOT = ROOT / "runs" / "transformer-positions"


def run_name(config) -> str:
    """``<position>-<hash of the config>``: another network or budget trains in another folder."""
    import hashlib

    digest = hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True).encode()).hexdigest()[:8]
    return f"{config.position}-{digest}"


def copy_tunes(tunes, *, bars: int = 2 * PRIME_BARS) -> list:
    """The validation tunes that have ``bars`` bars, each cut to them."""
    import musiclib as ml

    return [ml.evaluation.excerpt(t, n_bars=bars) for t in tunes if len(t.bar_starts()) >= bars]


def context_gain(model, config, vocab, encoding, tunes) -> dict:
    """NLL of bars 9-16 (nats/token) with and without bars 1-8 before them."""
    import keras

    from musiclib.encoding.events import BAR_TOKEN
    from musiclib.lm.sampling import primer_from_tune
    from musiclib.lm.training import _log_softmax

    with_context, without = [], []
    for tune in tunes:
        tokens = primer_from_tune(encoding, tune, n_bars=2 * PRIME_BARS)[: config.sequence_length + 1]
        ids = np.asarray(vocab.encode(tokens), dtype=np.int32)
        bars = [i for i, token in enumerate(tokens) if token == BAR_TOKEN]
        if len(bars) <= PRIME_BARS:
            continue
        second = bars[PRIME_BARS]
        for sequence, first_target, sink in ((ids, second, with_context),
                                             (np.concatenate([ids[:2], ids[second:]]), 2, without)):
            log_probs = _log_softmax(keras.ops.convert_to_numpy(model(sequence[None, :-1], training=False))[0])
            targets = sequence[1:]
            sink.extend(-log_probs[np.arange(first_target - 1, len(targets)), targets[first_target - 1:]].astype(np.float64))
    return {"with_context": float(np.mean(with_context)), "without_context": float(np.mean(without)),
            "gain": float(np.mean(without) - np.mean(with_context))}


def primed_copying(parts, encoding, tunes, *, seed: int = 0) -> tuple[float, float]:
    """Mean :func:`copy_share` and the copy persistence of continuations primed with each tune's first 8 bars."""
    import musiclib as ml

    primers = [ml.lm.primer_from_tune(encoding, t, n_bars=PRIME_BARS) for t in tunes]
    pieces = ml.lm.sample_many(parts, seeds=[seed + i for i in range(len(tunes))], primers=primers,
                               n_bars=2 * PRIME_BARS, top_p=0.95)
    return copying_measures([encoding.decode(tokens).tune for tokens in pieces])


def copying_measures(tunes) -> tuple[float, float]:
    """Mean copy share of bars 9-16 and the copy persistence (share copied after a copied bar)."""
    import musiclib as ml

    options = {"offset": PRIME_BARS, "start": PRIME_BARS, "n_bars": 2 * PRIME_BARS}
    shares = [ml.evaluation.copy_share(t, **options) for t in tunes]
    return float(np.nanmean(shares)), ml.evaluation.copy_persistence(tunes, **options)["after_copy"]


def measure(model, config, parts, prepared, copying, *, n: int) -> tuple[dict, list]:
    """The validation measures of one trained model, and its ``n`` pieces from ``BOS``."""
    import musiclib as ml

    scores = ml.lm.evaluate_nll(model, prepared.sequences["valid"], context=config.sequence_length)
    pieces = ml.lm.sample_many(parts, seeds=range(n), n_bars=16, top_p=0.95)
    tunes = [prepared.encoding.decode(tokens).tune for tokens in pieces]
    gain = context_gain(model, config, prepared.vocab, prepared.encoding, copying)
    row = {"position": config.position, "valid_nll": scores["nll"], "valid_accuracy": scores["accuracy"],
           "bar_repetition": float(np.nanmean(ml.evaluation.set_repetition(tunes, n_bars=16))),
           "context_gain": gain["gain"], "nll_bars_9_16": gain["with_context"],
           **dict(zip(("primed_copy_share", "copy_persistence"), primed_copying(parts, prepared.encoding, copying)))}
    return row, tunes


def trained_rows(args, prepared, copying, overrides) -> tuple[list, dict]:
    """Train each position of ``--positions`` (resumable) and measure it."""
    import musiclib as ml
    from musiclib.encoding.events import BAR_TOKEN

    bar_id = int(prepared.vocab.encode([BAR_TOKEN], strict=True)[0])
    monophonic = tuple(ml.experiments.track_info(prepared).get("monophonic_tracks", ()))
    rows, sets = [], {}
    for position in args.positions:
        extra = {"bar_token_id": bar_id} if position == "rotary-bars" else {}
        config = ml.lm.transformer_config_for("default", len(prepared.vocab), position=position,
                                              epochs=args.epochs, **overrides, **extra)
        model = ml.lm.build_transformer(config)
        started = time.perf_counter()
        history = ml.lm.train(model, config, prepared.sequences["train"], prepared.sequences["valid"],
                              out_dir=RUN_ROOT / run_name(config), verbose=2)
        minutes = (time.perf_counter() - started) / 60
        parts = ml.lm.ModelParts(model, prepared.vocab, config, prepared.encoding, monophonic)
        row, tunes = measure(model, config, parts, prepared, copying, n=args.n)
        rows.append({"label": position, **row, "epochs": len(history["loss"]), "train_minutes": round(minutes, 1)})
        sets[position] = [tunes]
        print(rows[-1], flush=True)
    return rows, sets


def bundle_rows(args, prepared, copying) -> tuple[list, dict]:
    """Measure trained Transformer bundles (names or folders) on the same validation split."""
    import musiclib as ml
    from musiclib.split import Split

    rows, sets = [], {}
    for source in args.bundles:
        bundle = ml.lm.load_bundle(ml.lm.resolve_bundle(source))
        if bundle.split_path is None or Split.load(bundle.split_path) != prepared.split:
            raise SystemExit(f"{source} was not trained on the seed-0 split of Nottingham: its validation "
                             "tunes would not be held out")
        folder = Path(source)
        name = (folder.parent.name if folder.name == "bundle" else folder.name) if folder.is_dir() else source
        label = f"{bundle.config.position} ({name})"
        row, tunes = measure(bundle.model, bundle.config, bundle, prepared, copying, n=args.n)
        rows.append({"label": label, **row, "epochs": len(bundle.history.get("loss", [])),
                     "train_minutes": round(float(bundle.metrics.get("train_seconds", 0.0)) / 60, 1)})
        sets[label] = [tunes]
        print(rows[-1], flush=True)
    return rows, sets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(SHARED / "nottingham"))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--positions", nargs="+", choices=POSITIONS, default=list(POSITIONS))
    parser.add_argument("--bundles", nargs="+", default=None,
                        help="measure these trained Transformer bundles (names or folders) instead of training")
    parser.add_argument("--overrides", default=json.dumps(DEFAULT_OVERRIDES),
                        help="TransformerConfig fields as JSON, applied to the default preset")
    parser.add_argument("-n", type=int, default=100, help="pieces sampled per model from BOS")
    parser.add_argument("--out", default=str(ROOT / "results" / "transformer_positions"))
    args = parser.parse_args(argv)

    import musiclib as ml
    from musiclib._files import atomic_write, write_json

    overrides = json.loads(args.overrides)
    prepared = ml.prepare.prepare(ml.prepare.PrepareConfig(dataset="nottingham", path=args.data, seed=0),
                                  out_dir=RUN_ROOT)
    valid_tunes = [ml.evaluation.excerpt(tune, n_bars=16) for tune in prepared.tunes["valid"]]
    real_repetition = float(np.nanmean(ml.evaluation.set_repetition(valid_tunes, n_bars=16)))
    copying = copy_tunes(prepared.tunes["valid"])
    real_copy, real_persistence = copying_measures(copying)
    if args.bundles:
        rows, sets = bundle_rows(args, prepared, copying)
        network = f"trained bundles {', '.join(args.bundles)}"
    else:
        rows, sets = trained_rows(args, prepared, copying, overrides)
        network = f"the default preset with {overrides}; {args.epochs} epoch(s) each, seed 0"
    table = ml.evaluation.table(sets, prepared.tunes["valid"], seed=0, excerpt_bars=16)
    by_label = {r["name"]: r for r in table["rows"]}
    for row in rows:
        found = by_label[row["label"]]
        row["overlap_area"] = found["overlap_area"]["mean"]
        row["c2st_logistic"] = ((found.get("c2st") or {}).get("logistic") or {}).get("mean")
    ceiling = by_label["real (ceiling)"]
    real_c2st = ((ceiling.get("c2st") or {}).get("logistic") or {}).get("mean")

    best = min(rows, key=lambda row: row["valid_nll"])
    lines = ["## Relative positions compared (Nottingham, validation split)", "",
             f"Models: {network}. Copying measured on the {len(copying)} validation tunes of at least 16 bars; "
             f"{args.n} pieces of 16 bars from `BOS` per model (top-p 0.95, grammar on) for bar repetition, "
             "overlap area and C2ST against the validation tunes.", "",
             "| position | validation NLL ↓ | accuracy | epochs | training (min) | bar repetition (real: "
             f"{real_repetition:.2f}) | NLL of bars 9-16 | context gain | primed copy share (real: {real_copy:.2f}) | "
             f"copy persistence (real: {real_persistence:.2f}) | overlap (real: {ceiling['overlap_area']['mean']:.2f}) | C2ST logistic (real: {real_c2st:.2f}) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['label']} | {r['valid_nll']:.3f} | {r['valid_accuracy']:.3f} | {r['epochs']} | "
              f"{r['train_minutes']} | {r['bar_repetition']:.2f} | {r['nll_bars_9_16']:.3f} | "
              f"{r['context_gain']:.3f} | {r['primed_copy_share']:.2f} | "
              f"{r['copy_persistence']:.2f} | {r['overlap_area']:.3f} | "
              f"{r['c2st_logistic']:.3f} |" for r in rows]
    lines += ["", "Context gain: NLL of bars 9-16 scored without bars 1-8 minus with them (nats/token). Primed "
              "copy share: primed with the first 8 bars, the share of generated bars 9-16 that repeat the bar "
              "8 earlier (Jaccard >= 0.5). Copy persistence: of those bars, the share that repeat their bar 8 "
              "earlier when the bar before did. One seed per model.",
              "", f"Lower validation NLL: **{best['label']}**.",
              "", f"Command: `benchmarks/transformer_positions.py {' '.join(sys.argv[1:] if argv is None else argv)}`"]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out.with_suffix(".md"), "\n".join(lines) + "\n")
    write_json(out.with_suffix(".json"), {"rows": rows, "real_bar_repetition": real_repetition,
                                          "real_primed_copy_share": real_copy,
                                          "real_copy_persistence": real_persistence, "real_c2st_logistic": real_c2st,
                                          "bundles": args.bundles, "overrides": overrides, "epochs": args.epochs,
                                          "best": best["label"]})
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
