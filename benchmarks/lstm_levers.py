"""The LSTM recipe's training levers, each measured on the validation split (``results/lstm_recipe.md``).

Usage::

    nice -n 10 .venv/bin/python benchmarks/lstm_levers.py            # every lever (about an hour, 2 cores)
    nice -n 10 .venv/bin/python benchmarks/lstm_levers.py --only default "12 keys"
    .venv/bin/python benchmarks/lstm_levers.py --report-only         # rewrite the tables from the JSON
    # the walkthrough's model (folk, short preset, one epoch, its sampling): does moving every tune to C help?
    .venv/bin/python benchmarks/lstm_levers.py --dataset folk --preset short --epochs 1 --temperature 0.85 \
        --top-p 0.9 --only default "key of C" --out runs/lstm-levers-folk --results results/lstm_levers_folk_walkthrough

Each lever of :data:`LEVERS` changes one thing against the ``default`` row (the
``default`` preset, 2 x LSTM(256), windows of 128, dropout 0.2) and trains on the
Nottingham training split for the same budget: two epochs, about 2.1M training tokens
(16.6k windows of 128); the 12-key row's one epoch is spaced so that it takes about
as many steps (17.4k windows, each in one of the twelve keys). The ``reference`` row is the committed
reference bundle ``nottingham-lstm`` (training length as the lever: 32 epochs, to convergence;
``results/lstm_recipe.md``'s ``8 epochs`` row is the bundle it replaced, restorable from git dd3e53e). Every model
then generates ``-n`` 16-bar pieces from ``BOS`` per seed with the sampling chosen
in ``results/lstm_recipe_nottingham.md`` (grammar on, temperature 0.9, top-p 0.95),
and all rows are compared in one table with the **validation** tunes: validation
NLL, overlap area, classifier two-sample test, mean melodic interval, bar repetition.
The test split plays no part.

Each lever trains in its own folder under ``--out`` (resumable; a finished lever is
not trained again); generation and evaluation (a few minutes) run again each time.

``key of C`` moves every tune of every split to C major / A minor (``transpose="c"``,
by the tune's key signature) before tokenising: the model then never has to guess
the key, but its validation tokens are transposed too, so its validation NLL is not
on the same tokens as the other rows (the evaluation is: every feature and the C2ST
are transposition-invariant, and the validation tunes are compared in their own keys).
``--dataset``, ``--preset``, ``--epochs``, ``--temperature`` and ``--top-p`` run the
levers on another corpus, budget and sampling, e.g. the walkthrough's (folk, ``short``,
one epoch, the sampling chosen for it in ``results/lstm_recipe_folk_walkthrough.md``).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MUSICLIB_SHARED_DATA", ROOT.parent / "shared" / "data"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from lstm_budget import _folder  # noqa: E402
from lstm_recipe import _fmt  # noqa: E402

BASE_EPOCHS = 2
"""Epochs of the rows without augmentation (8,288 windows of 128 tokens each on Nottingham)."""

LEVERS: dict[str, dict] = {
    "default": {},
    "12 keys": {"transpose": "all", "epochs": 1, "train_stride": 12 * 128},
    "windows of 256": {"sequence_length": 256},
    "no dropout": {"dropout": 0.0},
    "dropout 0.4": {"dropout": 0.4},
    "3 layers": {"lstm_units": (256, 256, 256)},
    "key of C": {"transpose": "c"},
    "lead pitch input": {"lead_input": True},
    "lookback 1, 2, 4, 8 bars": {"lookback_bars": (1, 2, 4, 8)},
    "lookback, windows of 256": {"lookback_bars": (1, 2, 4, 8), "sequence_length": 256},
    "lookback, 8 epochs": {"lookback_bars": (1, 2, 4, 8), "epochs": 8},
}
"""Lever name -> changes against ``default``: ``transpose`` (a :class:`musiclib.prepare.PrepareConfig`
mode), ``train_stride`` (window spacing), ``lead_input`` (the melody's last pitch as a second
input, :class:`musiclib.lm.lstm.LeadPitch`) or :class:`musiclib.lm.lstm.LSTMConfig` fields
(``lookback_bars``: the lookback input, :mod:`musiclib.lm.lookback`)."""

REFERENCE_ROW = "reference (nottingham-lstm)"
SAMPLING = {"constrained": True, "temperature": 0.9, "top_p": 0.95}
"""The sampling ``benchmarks/lstm_recipe.py`` chose on validation for the 8-epoch reference; for the
32-epoch one it picks T 1.0 by a hair (logistic C2ST 0.948 against 0.952), so the lever tables keep this."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=[*LEVERS, REFERENCE_ROW], default=None)
    parser.add_argument("--dataset", default="nottingham", help="registry name (folk: built in)")
    parser.add_argument("--data", default=None, help="dataset folder (default ../shared/data/<dataset>)")
    parser.add_argument("--preset", default="default", help="LSTM preset every lever starts from")
    parser.add_argument("--epochs", type=int, default=BASE_EPOCHS, help="epochs of the rows that set none")
    parser.add_argument("--temperature", type=float, default=SAMPLING["temperature"])
    parser.add_argument("--top-p", type=float, default=SAMPLING["top_p"])
    parser.add_argument("--reference", default="nottingham-lstm", help="bundle of the training-length row")
    parser.add_argument("-n", type=int, default=100, help="pieces per set")
    parser.add_argument("--seeds", type=int, default=2, help="sets per lever (and ceiling splits)")
    parser.add_argument("--bars", type=int, default=16)
    parser.add_argument("--out", default=str(ROOT / "runs" / "lstm-levers"))
    parser.add_argument("--results", default=str(ROOT / "results" / "lstm_recipe"),
                        help="Markdown and JSON summary, without suffix")
    parser.add_argument("--report-only", action="store_true", help="rewrite the Markdown from the JSON")
    args = parser.parse_args(argv)
    if args.data is None and args.dataset != "folk":
        args.data = str(SHARED / args.dataset)
    return args


def _prepared(transpose: str, args: argparse.Namespace, cache: dict):
    import musiclib as ml

    if transpose not in cache:
        config = ml.prepare.PrepareConfig(dataset=args.dataset, path=args.data, transpose=transpose)
        cache[transpose] = ml.prepare.prepare(config)
    return cache[transpose]


def train_lever(name: str, *, out: Path, args: argparse.Namespace, cache: dict) -> dict:
    """Train one lever (or read its finished row); return its row and bundle path."""
    import musiclib as ml
    from musiclib._files import read_json, write_json

    folder = out / _folder(name)
    done = folder / "row.json"
    if done.exists():
        return read_json(done)
    changes = dict(LEVERS[name])
    transpose = changes.pop("transpose", "none")
    epochs = changes.pop("epochs", args.epochs)
    prepared = _prepared(transpose, args, cache)
    result = ml.experiments.train_lstm_experiment(prepared, out_dir=folder, preset=args.preset, epochs=epochs,
                                                  seed=0, verbose=2, **changes)
    row = {"lever": name, "changes": {k: list(v) if isinstance(v, tuple) else v for k, v in LEVERS[name].items()},
           "epochs": len(result.history["loss"]), "val_nll": float(min(result.history["val_loss"])),
           "weights": int(result.model.count_params()), "train_minutes": round(result.train_seconds / 60, 1),
           "bundle": str(result.bundle_path)}
    write_json(done, row)
    return row


def reference_row(name: str) -> dict:
    """The training-length row: the committed reference bundle, its own validation NLL."""
    from musiclib.lm.bundle import load_bundle
    from musiclib.lm.reference import resolve_bundle

    path = resolve_bundle(name)
    bundle = load_bundle(path)
    history = bundle.history
    return {"lever": REFERENCE_ROW, "changes": {"epochs": len(history["loss"])}, "epochs": len(history["loss"]),
            "val_nll": float(min(history["val_loss"])), "weights": int(bundle.model.count_params()),
            "train_minutes": round(float(bundle.metrics.get("train_seconds", 0.0)) / 60, 1), "bundle": str(path)}


def generated_sets(row: dict, *, n: int, seeds: int, bars: int, sampling: dict = SAMPLING) -> tuple[list, list]:
    """One decoded set per seed for the row's bundle, and the ill-formed tokens dropped per seed."""
    from lstm_recipe import _generated

    from musiclib.lm.bundle import load_bundle

    sets, dropped = _generated(load_bundle(row["bundle"]), {row["lever"]: sampling}, n=n, seeds=seeds, bars=bars)
    return sets[row["lever"]], dropped[row["lever"]]


def _group_means(table_row: dict) -> dict:
    """Feature group -> mean C2ST accuracy over seeds of one row of :func:`musiclib.evaluation.table`."""
    return {group: stat["mean"] for group, stat in (table_row.get("c2st_groups") or {}).items()}


def _in_table_order(names) -> list[str]:
    """Lever names in :data:`LEVERS` order, the reference row last (the JSON keeps its keys sorted)."""
    order = [*LEVERS, REFERENCE_ROW]
    return sorted(names, key=lambda name: order.index(name) if name in order else len(order))


def compare(rows: list[dict], sets: dict, dropped: dict, *, valid, train, args) -> dict:
    """Per-lever numbers against the validation tunes (one table: one ceiling, one C2ST protocol)."""
    from lstm_recipe import _reference_numbers, _row_numbers

    from musiclib import evaluation as ev

    table = ev.table(sets, valid, training=train, seed=0, ceiling_splits=args.seeds, excerpt_bars=args.bars)
    by_name = {r["name"]: r for r in table["rows"]}
    numbers = {}
    for row in rows:
        name = row["lever"]
        numbers[name] = {**row, **_row_numbers(by_name[name], sets[name], dropped[name]),
                         "bar_repetition": by_name[name]["feature_means"]["bar_repetition"]["mean"],
                         "c2st_groups": _group_means(by_name[name])}
    real = _reference_numbers(table, valid, args.bars)
    real["bar_repetition"] = table["reference"]["feature_means"]["bar_repetition"]
    real["c2st_groups"] = _group_means(by_name["real (ceiling)"])
    return {"rows": numbers, "real": real}


def markdown(result: dict) -> str:
    real, ceiling = result["real"], result["real"]["ceiling"]
    dataset, preset, epochs = result.get("dataset", "nottingham"), result.get("preset", "default"), result.get("epochs", 2)
    sampling = result.get("sampling", SAMPLING)
    budget = (f"about {result['tokens']} training tokens (two epochs; the 12-key row one epoch of spaced windows)"
              if (dataset, preset, epochs) == ("nottingham", "default", 2) else
              f"the same budget ({epochs} epoch{'s' if epochs != 1 else ''} of the `{preset}` preset)")
    chosen = "nottingham" if dataset == "nottingham" else f"{dataset}_walkthrough"
    lines = [f"## LSTM recipe: training levers ({dataset.capitalize()}, validation split, {result['valid_tunes']} tunes)", "",
             f"One change at a time against `default`, each trained on {budget}; "
             f"{result['n']} pieces × {result['seeds']} seeds of 16 bars from `BOS` per row, sampled "
             f"with the grammar at temperature {sampling['temperature']:g}, top-p {sampling['top_p']:g} "
             f"(chosen in `results/lstm_recipe_{chosen}.md`). "
             "The test split plays no part.", "",
             "| lever | changes | epochs | weights | training (min) | val NLL ↓ | overlap ↑ | C2ST logistic → 0.5 | "
             "C2ST boosting → 0.5 | mean abs. interval | bar repetition | memorised |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
             f"| real (ceiling) | — | — | — | — | — | {_fmt(ceiling['overlap_area'])} | "
             f"{_fmt(ceiling['c2st_logistic'])} | {_fmt(ceiling['c2st_boosting'])} | "
             f"{_fmt(real['mean_melodic_interval'], 2)} | {_fmt(real['bar_repetition'])} | "
             f"{_fmt(ceiling['memorised_share'])} |"]
    for name in _in_table_order(result["rows"]):
        r = result["rows"][name]
        changes = ", ".join(f"{k}={v}" for k, v in r["changes"].items()) or "—"
        lines.append(f"| {name} | {changes} | {r['epochs']} | {r['weights']:,} | {r['train_minutes']:.1f} | "
                     f"{_fmt(r['val_nll'])} | {_fmt(r['overlap_area'])} | {_fmt(r['c2st_logistic'])} | "
                     f"{_fmt(r['c2st_boosting'])} | {_fmt(r['mean_melodic_interval'], 2)} | "
                     f"{_fmt(r['bar_repetition'])} | {_fmt(r['memorised_share'])} |")
    groups = [name for name, r in result["rows"].items() if r.get("c2st_groups")]
    if groups:
        from musiclib.evaluation.c2st import C2ST_GROUPS

        names = [g for g in C2ST_GROUPS if g in result["rows"][groups[0]]["c2st_groups"]]  # JSON keys are sorted
        lines += ["", "C2ST accuracy (logistic) with one feature group alone (what gives a row away; "
                  "`ml.evaluation.classifier_test_by_group`):", "",
                  "| lever | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
        if real.get("c2st_groups"):
            lines.append("| real (ceiling) | " + " | ".join(_fmt(real["c2st_groups"].get(g), 2) for g in names) + " |")
        lines += [f"| {name} | " + " | ".join(_fmt(result["rows"][name]["c2st_groups"].get(g), 2) for g in names)
                  + " |" for name in _in_table_order(groups)]
    lines += ["", "Val NLL: the lowest validation loss of the run (nats per token, windows of the row's own "
              "length; every row predicts the same validation tokens, since augmentation touches only the "
              "training split" + (", except *key of C*, whose validation tunes are moved to C as well: its "
                                  "NLL is on other tokens and does not compare" if "key of C" in result["rows"] else "")
              + "). Means over seeds. Command: `" + result["command"] + "`.",
              "", "Sampling levers (grammar, temperature, top-p): "
              f"`results/lstm_recipe_{chosen}.md`."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from musiclib._files import atomic_write, read_json, write_json

    results = Path(args.results)
    if args.report_only:
        atomic_write(results.with_suffix(".md"), markdown(read_json(results.with_suffix(".json"))))
        return 0
    from musiclib.split import Split

    started = time.perf_counter()
    out = Path(args.out)
    cache: dict = {}
    names = args.only or [*LEVERS, REFERENCE_ROW]
    rows = []
    for name in names:
        row = reference_row(args.reference) if name == REFERENCE_ROW else train_lever(name, out=out, args=args,
                                                                                     cache=cache)
        print(f"{name}: val NLL {row['val_nll']:.3f}, {row['train_minutes']} min", flush=True)
        rows.append(row)
    prepared = _prepared("none", args, cache)
    valid, train = prepared.tunes["valid"], prepared.tunes["train"]
    reference_split = Split.load(Path(rows[-1]["bundle"]) / "split.json") if names[-1] == REFERENCE_ROW else None
    if reference_split is not None and reference_split != prepared.split:
        raise SystemExit(f"{args.reference} was trained on another split than seed 0's; its row would not compare")
    sampling = {**SAMPLING, "temperature": args.temperature, "top_p": args.top_p}
    sets, dropped = {}, {}
    for row in rows:
        sets[row["lever"]], dropped[row["lever"]] = generated_sets(row, n=args.n, seeds=args.seeds,
                                                                   bars=args.bars, sampling=sampling)
        print(f"  {row['lever']}: {args.n} x {args.seeds} pieces", flush=True)
    result = compare(rows, sets, dropped, valid=valid, train=train, args=args)
    command = "benchmarks/lstm_levers.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    result.update({"command": command.strip(), "valid_tunes": len(valid), "n": args.n, "seeds": args.seeds,
                   "tokens": "2.1M", "dataset": args.dataset, "preset": args.preset, "epochs": args.epochs,
                   "sampling": sampling, "seconds": round(time.perf_counter() - started, 1)})
    write_json(results.with_suffix(".json"), result)
    atomic_write(results.with_suffix(".md"), markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
