"""The LSTM recipe's sampling levers, chosen on the validation split and reported on the test split.

Usage::

    nice -n 10 .venv/bin/python benchmarks/lstm_recipe.py --bundle nottingham-lstm
    nice -n 10 .venv/bin/python benchmarks/lstm_recipe.py --bundle folk-lstm --dataset folk

For one trained LSTM bundle (a folder or a reference bundle name), every sampling
setting of :data:`SETTINGS` (grammar on or off, temperature, nucleus, the bar-copy prior) generates ``-n``
16-bar pieces from ``BOS`` per seed and is compared with the **validation** tunes of
the bundle's own split (overlap area, KL, classifier two-sample test, melody
polyphony, mean melodic interval, ill-formed tokens). The setting with the lowest
logistic C2ST accuracy on validation (ties: higher overlap) is then compared with the
default setting on the **test** tunes, which played no part in the choice.

Writes ``<out>.md`` and ``<out>.json`` (default ``results/lstm_recipe_<dataset>``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MUSICLIB_SHARED_DATA", ROOT.parent / "shared" / "data"))
sys.path.insert(0, str(ROOT))

SETTINGS: dict[str, dict] = {
    "unconstrained, T 1.0, top-p 0.95": {"constrained": False, "temperature": 1.0, "top_p": 0.95},
    "grammar, T 1.0, top-p 0.95": {"constrained": True, "temperature": 1.0, "top_p": 0.95},
    "grammar, T 1.0": {"constrained": True, "temperature": 1.0},
    "grammar, T 0.9, top-p 0.95": {"constrained": True, "temperature": 0.9, "top_p": 0.95},
    "grammar, T 0.85, top-p 0.9": {"constrained": True, "temperature": 0.85, "top_p": 0.9},
    # the bar-copy prior (musiclib.lm.sampling.BarCopy): repeat the bar 8 bars back, else 4 back
    "grammar, T 1.0, top-p 0.95, copy 8/4 × 0.8": {"constrained": True, "temperature": 1.0, "top_p": 0.95,
                                                   "copy_lags": (8, 4), "copy_weight": 0.8},
    "grammar, T 1.0, top-p 0.95, copy 8/4 × 0.95": {"constrained": True, "temperature": 1.0, "top_p": 0.95,
                                                    "copy_lags": (8, 4), "copy_weight": 0.95},
    "grammar, T 1.0, top-p 0.95, copy 8 × 0.8": {"constrained": True, "temperature": 1.0, "top_p": 0.95,
                                                 "copy_lags": (8,), "copy_weight": 0.8},
    "grammar, T 1.0, copy 8/4 × 0.8": {"constrained": True, "temperature": 1.0, "copy_lags": (8, 4),
                                       "copy_weight": 0.8},
    "grammar, T 1.0, copy 8/4 × 0.95": {"constrained": True, "temperature": 1.0, "copy_lags": (8, 4),
                                        "copy_weight": 0.95},
    "grammar, T 1.0, copy 8 × 0.8": {"constrained": True, "temperature": 1.0, "copy_lags": (8,), "copy_weight": 0.8},
    "grammar, T 1.0, copy 8 × 0.9": {"constrained": True, "temperature": 1.0, "copy_lags": (8,), "copy_weight": 0.9},
    "grammar, T 1.0, copy 8 × 0.95": {"constrained": True, "temperature": 1.0, "copy_lags": (8,),
                                      "copy_weight": 0.95},
    # the leap prior (musiclib.lm.sampling.LeapPenalty): nats per semitone a melody interval exceeds a whole tone
    "grammar, T 1.0, top-p 0.95, leap 0.1": {"constrained": True, "temperature": 1.0, "top_p": 0.95,
                                             "leap_penalty": 0.1},
    "grammar, T 1.0, top-p 0.95, leap 0.2": {"constrained": True, "temperature": 1.0, "top_p": 0.95,
                                             "leap_penalty": 0.2},
    "grammar, T 1.0, top-p 0.95, copy 8/4 × 0.95, leap 0.1": {"constrained": True, "temperature": 1.0,
                                                              "top_p": 0.95, "copy_lags": (8, 4),
                                                              "copy_weight": 0.95, "leap_penalty": 0.1},
    "grammar, T 1.0, top-p 0.95, copy 8/4 × 0.95, leap 0.2": {"constrained": True, "temperature": 1.0,
                                                              "top_p": 0.95, "copy_lags": (8, 4),
                                                              "copy_weight": 0.95, "leap_penalty": 0.2},
    "grammar, T 1.0, top-p 0.95, copy 8/4 × 0.95, leap 0.3": {"constrained": True, "temperature": 1.0,
                                                              "top_p": 0.95, "copy_lags": (8, 4),
                                                              "copy_weight": 0.95, "leap_penalty": 0.3},
    "grammar, T 1.0, top-p 0.95, copy 8/4 × 0.95, leap 0.4": {"constrained": True, "temperature": 1.0,
                                                              "top_p": 0.95, "copy_lags": (8, 4),
                                                              "copy_weight": 0.95, "leap_penalty": 0.4},
    "grammar, T 0.85, top-p 0.9, copy 8/4 × 0.95, leap 0.2": {"constrained": True, "temperature": 0.85,
                                                              "top_p": 0.9, "copy_lags": (8, 4),
                                                              "copy_weight": 0.95, "leap_penalty": 0.2},
    "grammar, T 1.0, copy 8/4 × 0.95, leap 0.2": {"constrained": True, "temperature": 1.0, "copy_lags": (8, 4),
                                                  "copy_weight": 0.95, "leap_penalty": 0.2},
}
"""Label -> sampling options of :func:`musiclib.evaluation.lstm_set`. The first is what
``musiclib generate`` did before the grammar existed: the baseline row."""

BASELINE = next(iter(SETTINGS))
SPLITS = ("train", "valid", "test")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default="nottingham-lstm", help="LSTM bundle folder or reference name")
    parser.add_argument("--dataset", default="nottingham")
    parser.add_argument("--data", default=None, help="dataset folder (default ../shared/data/<dataset>; folk: built in)")
    parser.add_argument("-n", type=int, default=100, help="pieces per set")
    parser.add_argument("--seeds", type=int, default=2, help="sets per setting (and ceiling splits)")
    parser.add_argument("--bars", type=int, default=16)
    parser.add_argument("--out", default=None, help="output path without suffix")
    return parser.parse_args(argv)


def _generated(bundle, settings: dict[str, dict], *, n: int, seeds: int, bars: int) -> tuple[dict, dict]:
    """Label -> one decoded set per seed, and label -> ill-formed tokens dropped per seed."""
    from musiclib.evaluation.baselines import _piece_seeds
    from musiclib.lm.sampling import sample_many

    sets, dropped = {}, {}
    for label, options in settings.items():
        sets[label], dropped[label] = [], []
        for seed in range(seeds):
            sequences = sample_many(bundle, seeds=_piece_seeds(seed, n), n_bars=bars, **options)
            decoded = [bundle.encoding.decode(tokens) for tokens in sequences]
            sets[label].append([d.tune for d in decoded])
            dropped[label].append(sum(int(d.dropped) for d in decoded))
        print(f"  {label}: {n} x {seeds} pieces, {sum(dropped[label])} ill-formed tokens dropped", flush=True)
    return sets, dropped


def _row_numbers(row: dict, sets: list[list], dropped: list[int]) -> dict:
    import numpy as np

    from musiclib.evaluation.features import melody_polyphony

    c2st = row.get("c2st") or {}
    polyphony = [float(np.nanmean([melody_polyphony(t) for t in s])) for s in sets]
    return {
        "overlap_area": row["overlap_area"]["mean"],
        "kl_divergence": row["kl_divergence"]["mean"],
        "c2st_logistic": (c2st.get("logistic") or {}).get("mean"),
        "c2st_boosting": (c2st.get("boosting") or {}).get("mean"),
        "mean_melodic_interval": row["feature_means"]["mean_melodic_interval"]["mean"],
        "melody_polyphony": float(np.mean(polyphony)),
        "dropped_per_piece": sum(dropped) / sum(len(s) for s in sets),
        "memorised_share": (row.get("memorised_share") or {}).get("mean"),
        "bar_repetition": (row["feature_means"].get("bar_repetition") or {}).get("mean"),
        "c2st_repetition": ((row.get("c2st_groups") or {}).get("repetition") or {}).get("mean"),
    }


def _reference_numbers(table: dict, reference: list, bars: int) -> dict:
    import numpy as np

    from musiclib.evaluation.features import excerpt, melody_polyphony

    ceiling = next(r for r in table["rows"] if r["name"] == "real (ceiling)")
    return {
        "ceiling": {
            "overlap_area": ceiling["overlap_area"]["mean"],
            "c2st_logistic": ((ceiling.get("c2st") or {}).get("logistic") or {}).get("mean"),
            "c2st_boosting": ((ceiling.get("c2st") or {}).get("boosting") or {}).get("mean"),
            "memorised_share": (ceiling.get("memorised_share") or {}).get("mean"),
            "c2st_repetition": ((ceiling.get("c2st_groups") or {}).get("repetition") or {}).get("mean"),
        },
        "bar_repetition": table["reference"]["feature_means"].get("bar_repetition"),
        "mean_melodic_interval": table["reference"]["feature_means"]["mean_melodic_interval"],
        "melody_polyphony": float(np.nanmean([melody_polyphony(excerpt(t, n_bars=bars)) for t in reference])),
    }


def _compare(ev, generated, dropped, reference, training, args) -> tuple[dict, dict]:
    table = ev.table(generated, reference, training=training, seed=0, ceiling_splits=args.seeds,
                     excerpt_bars=args.bars)
    rows = {r["name"]: r for r in table["rows"]}
    numbers = {label: _row_numbers(rows[label], generated[label], dropped[label]) for label in generated}
    return numbers, _reference_numbers(table, reference, args.bars)


def _fmt(value, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _markdown_rows(numbers: dict, real: dict) -> list[str]:
    lines = ["| setting | overlap ↑ | KL ↓ | C2ST logistic → 0.5 | C2ST boosting → 0.5 | mean abs. interval | "
             "melody polyphony | ill-formed / piece | memorised | bar repetition | C2ST repetition alone → 0.5 |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    ceiling = real["ceiling"]
    lines.append(f"| real (ceiling) | {_fmt(ceiling['overlap_area'])} | — | {_fmt(ceiling['c2st_logistic'])} | "
                 f"{_fmt(ceiling['c2st_boosting'])} | {_fmt(real['mean_melodic_interval'], 2)} | "
                 f"{_fmt(real['melody_polyphony'])} | 0 | {_fmt(ceiling['memorised_share'])} | "
                 f"{_fmt(real.get('bar_repetition'), 2)} | {_fmt(ceiling.get('c2st_repetition'))} |")
    for label, r in numbers.items():
        lines.append(f"| {label} | {_fmt(r['overlap_area'])} | {_fmt(r['kl_divergence'])} | "
                     f"{_fmt(r['c2st_logistic'])} | {_fmt(r['c2st_boosting'])} | {_fmt(r['mean_melodic_interval'], 2)} | "
                     f"{_fmt(r['melody_polyphony'])} | {_fmt(r['dropped_per_piece'], 2)} | "
                     f"{_fmt(r['memorised_share'])} | {_fmt(r.get('bar_repetition'), 2)} | "
                     f"{_fmt(r.get('c2st_repetition'))} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import musiclib as ml
    from musiclib import evaluation as ev
    from musiclib._files import atomic_write, write_json
    from musiclib.lm.bundle import load_bundle
    from musiclib.lm.reference import resolve_bundle
    from musiclib.split import Split

    started = time.perf_counter()
    bundle = load_bundle(resolve_bundle(args.bundle))
    data = args.data if args.data is not None else (None if args.dataset == "folk" else str(SHARED / args.dataset))
    corpus = ml.datasets.load(args.dataset, path=data)
    by_split = dict(zip(SPLITS, Split.load(bundle.split_path).apply(corpus.tunes)))
    print(f"{args.dataset}: training {len(by_split['train'])}, validation {len(by_split['valid'])}, "
          f"test {len(by_split['test'])} tunes; bundle {bundle.path}")

    print("validation: every setting")
    generated, dropped = _generated(bundle, SETTINGS, n=args.n, seeds=args.seeds, bars=args.bars)
    valid, valid_real = _compare(ev, generated, dropped, by_split["valid"], by_split["train"], args)
    chosen = min(valid, key=lambda label: (valid[label]["c2st_logistic"] or 1.0, -valid[label]["overlap_area"]))
    print(f"chosen on validation: {chosen}")

    print("test: the baseline setting and the chosen one")
    final = {label: SETTINGS[label] for label in dict.fromkeys([BASELINE, chosen])}
    test_sets, test_dropped = _generated(bundle, final, n=args.n, seeds=args.seeds, bars=args.bars)
    test, test_real = _compare(ev, test_sets, test_dropped, by_split["test"], by_split["train"], args)

    out = Path(args.out) if args.out else ROOT / "results" / f"lstm_recipe_{args.dataset}"
    command = "benchmarks/lstm_recipe.py " + " ".join(sys.argv[1:] if argv is None else argv)
    lines = [f"**Validation split** ({len(by_split['valid'])} tunes; {args.n} pieces × {args.seeds} seeds per "
             "setting, 16 bars from `BOS`; the choice is made here):", "", *_markdown_rows(valid, valid_real), "",
             f"Chosen: **{chosen}** (lowest logistic C2ST accuracy on validation).", "",
             f"**Test split** ({len(by_split['test'])} tunes, not used for any choice):", "",
             *_markdown_rows(test, test_real), "",
             f"Bundle `{args.bundle}` ({bundle.metrics.get('preset', '?')} preset, "
             f"{ml.stats.count_of(len(bundle.history.get('loss', [])), 'epoch')}). Means over seeds. "
             "Melody polyphony: share of the time the melody sounds two or more notes. Command: `" + command + "`."]
    atomic_write(out.with_suffix(".md"), "\n".join(lines) + "\n")
    write_json(out.with_suffix(".json"), {"command": command, "bundle": str(args.bundle), "settings": SETTINGS,
                                          "validation": {"rows": valid, "real": valid_real}, "chosen": chosen,
                                          "test": {"rows": test, "real": test_real},
                                          "seconds": round(time.perf_counter() - started, 1)})
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
