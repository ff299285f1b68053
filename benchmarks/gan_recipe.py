"""The GAN recipe, one lever at a time, measured on Nottingham's validation split.

Usage::

    nice -n 10 .venv/bin/python benchmarks/gan_recipe.py                       # every step of LADDER
    nice -n 10 .venv/bin/python benchmarks/gan_recipe.py --only roll onsets    # some steps (others are read back)
    nice -n 10 .venv/bin/python benchmarks/gan_recipe.py --report-only         # <out>.md again from <out>.json
    nice -n 10 .venv/bin/python benchmarks/gan_recipe.py --only key-of-c --export nottingham-gan  # ship the chosen step

Each step of :data:`LADDER` adds one lever to the step before it (the first two rows
are the seed paper's dense GAN and the previous MuseGAN-style default), is trained by
:func:`musiclib.experiments.train_gan_experiment` on the training split of the
reference LSTM's ``split.json`` (the split every Nottingham table uses) into
``runs/gan-recipe/<step>`` (a killed run resumes there; a finished one is reused), and
generates ``-n`` pieces of 16 bars per seed (phrases in a row when a phrase is shorter).
Every row, and a first-order Markov chain over the LSTM's event tokens, is compared
with the **validation** tunes: MGEval's overlap area per feature and on average, the
classifier two-sample test, memorisation and bar repetition. The test split plays no
part: ``benchmarks/evaluate_nottingham.py`` reports the chosen recipe on it.

Writes ``<out>.md`` / ``<out>.json`` (default ``results/gan_recipe``).
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

from musiclib.gan.model import GANConfig  # noqa: E402

# The previous default preset: every GANConfig default (4-bar sigmoid rolls), 3 critic steps.
_ROLL = {**{name: value for name, value in GANConfig().to_dict().items() if name != "seed"}, "critic_steps": 3}
_REPRESENTATION = {"onsets": True, "monophonic_melody": True, "straight_through": True}
_NOTES = {"critic_intervals": True, "melody_steps": 2, "accompaniment_steps": 4}
_LONG_PHRASES = {"n_bars": 16, "hop_bars": 4, "temporal_network": "gru", "critic_filters": (128, 128, 128, 128),
                 "batch_size": 32}

# about twice the phrases of 4/4 alone, so 24 epochs take about the training steps of 40 of them
_CONDITIONS = {"meters": ((4, 4), (6, 8), (3, 4), (2, 4)), "opening_condition": True}

LADDER: list[tuple[str, str, str, dict]] = [
    # (step, label, preset, GANConfig overrides)
    ("paper", "paper (the seed's dense GAN)", "paper", {}),
    ("roll", "roll (previous default: 4-bar sigmoid rolls)", "default", dict(_ROLL)),
    ("straight-through", "+ onsets, a monophonic melody, straight-through decoding", "default",
     {**_ROLL, **_REPRESENTATION}),
    ("intervals", "+ the critic sees melodic intervals", "default",
     {**_ROLL, **_REPRESENTATION, "critic_intervals": True}),
    ("steps", "+ melody decided per eighth, chords per beat (onsets per sixteenth)", "default",
     {**_ROLL, **_REPRESENTATION, **_NOTES}),
    ("phrase16", "+ 16-bar phrases (GRU over bars, 4-bar critic layer)", "default",
     {**_ROLL, **_REPRESENTATION, **_NOTES, **_LONG_PHRASES, "epochs": 40}),
    ("ema", "+ EMA of the generator's weights", "default",
     {**_ROLL, **_REPRESENTATION, **_NOTES, **_LONG_PHRASES, "epochs": 40, "ema_decay": 0.99}),
    ("meters", "+ every meter (4/4, 6/8, 3/4, 2/4) and the tune's opening as conditions (16-bar phrases, no EMA)",
     "default",
     {**_ROLL, **_REPRESENTATION, **_NOTES, **_LONG_PHRASES, **_CONDITIONS, "epochs": 24}),
    ("key-of-c", "+ every tune moved to C major / A minor, each piece moved back to a key drawn by the tunes' "
     "(16-bar phrases, 4/4, no EMA)", "default",
     {**_ROLL, **_REPRESENTATION, **_NOTES, **_LONG_PHRASES, "epochs": 40, "key_of_c": True}),
]
"""The recipe's steps, each with what it changes."""

TARGET_FEATURES = ("mean_melodic_interval", "note_length_histogram", "ioi_histogram", "groove_consistency",
                   "empty_beat_rate")
"""The melodic-interval and rhythm features on which the GAN must beat the Markov chain."""
SPLITS = ("train", "valid", "test")
BARS = 16


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="train only these steps (default: all)")
    parser.add_argument("--lstm-bundle", default="nottingham-lstm",
                        help="its split.json chooses the tunes; its tokens fit the Markov chain")
    parser.add_argument("-n", type=int, default=100, help="pieces per set")
    parser.add_argument("--seeds", type=int, default=2, help="sets per row (and ceiling splits)")
    parser.add_argument("--runs", default=str(ROOT / "runs" / "gan-recipe"))
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite <out>.md from <out>.json (no training, no evaluation)")
    parser.add_argument("--out", default=str(ROOT / "results" / "gan_recipe"))
    parser.add_argument("--export", default=None, metavar="NAME",
                        help="also ship the chosen step's generator as reference bundle NAME (musiclib/reference/NAME)")
    return parser.parse_args(argv)


def _without_average(config: dict) -> dict:
    return {**config, "ema_decay": 0.0}


def _train_step(step: str, preset: str, overrides: dict, train: list, runs: Path, split_path: Path) -> dict:
    """Train one step (resuming or reusing its run); return its bundle path, config and time.

    The weight average does not change training, so a run with ``ema_decay`` also saves
    its raw generator (``bundle-raw``), and the step that differs from it only by the
    average reuses that run instead of training the same networks again.
    """
    from musiclib._files import read_json, write_json
    from musiclib.experiments import train_gan_experiment
    from musiclib.gan.bundle import save_bundle
    from musiclib.gan.model import config_for

    out = runs / step
    done = out / "done.json"
    if done.is_file():
        return read_json(done)
    wanted = config_for(preset, **overrides).to_dict()
    for other in sorted(runs.glob("*/done.json")) if runs.is_dir() else []:
        record = read_json(other)
        if record.get("raw_bundle") and _without_average(record["config"]) == wanted:
            info = {**record, "bundle": record["raw_bundle"], "config": wanted, "shared_run": other.parent.name,
                    "musegan": None}  # that run's MuseGAN table is its average's
            info.pop("raw_bundle")
            write_json(done, info)
            return info
    result = train_gan_experiment(train, out_dir=out, dataset="nottingham", preset=preset, overrides=overrides,
                                  data_info={"split": "train (nottingham-lstm split.json)"}, verbose=2,
                                  split_path=split_path)
    info = {"bundle": str(result.bundle_path), "config": result.config.to_dict(), "phrases": result.phrases,
            "train_seconds": round(result.train_seconds, 1), "musegan": result.table}
    if result.gan.ema_generator is not None:
        from musiclib.gan.bundle import load_bundle

        saved = load_bundle(result.bundle_path)
        raw = save_bundle(out / "bundle-raw", generator=result.gan.generator, critic=result.gan.critic,
                          config=result.config.replace(ema_decay=0.0), encoding=saved.encoding,
                          data_info=saved.data_info, metrics=saved.metrics, history=saved.history,
                          split_path=split_path)
        info["raw_bundle"] = str(raw)
    write_json(done, info)
    return info


def _numbers(row: dict, real: dict) -> dict:
    c2st = row.get("c2st") or {}
    return {
        "overlap_area": row["overlap_area"]["mean"],
        "c2st_logistic": (c2st.get("logistic") or {}).get("mean"),
        "c2st_boosting": (c2st.get("boosting") or {}).get("mean"),
        "per_feature": {name: value["overlap_area"]["mean"] for name, value in row["per_feature"].items()},
        "memorised_share": (row.get("memorised_share") or {}).get("mean"),
        "bar_repetition": row["feature_means"].get("bar_repetition", {}).get("mean"),
        "mean_melodic_interval": row["feature_means"]["mean_melodic_interval"]["mean"],
    }


def _shown(info: dict) -> dict:
    """A step's record with its bundle paths relative to the repository (the committed JSON names no machine)."""
    shown = dict(info)
    for key in ("bundle", "raw_bundle"):
        if shown.get(key) and Path(shown[key]).resolve().is_relative_to(ROOT):
            shown[key] = str(Path(shown[key]).resolve().relative_to(ROOT))
    return shown


def carry_rows(rows: dict, trained: dict, previous: dict) -> list[str]:
    """Add the steps of the previous results whose runs are not here to ``rows`` and ``trained``; return them."""
    carried = []
    for step, *_ in LADDER:
        if step not in trained and step in previous.get("rows", {}) and step in previous.get("trained", {}):
            rows[step] = previous["rows"][step]
            trained[step] = previous["trained"][step]
            carried.append(step)
    return carried


def beats_markov(row: dict, markov: dict) -> bool:
    """Whether a row's overlap is above the Markov chain's on every feature of :data:`TARGET_FEATURES`."""
    return all(row["per_feature"][feature] > markov["per_feature"][feature] for feature in TARGET_FEATURES)


def chosen_step(rows: dict, trained: dict) -> str:
    """The step with the highest validation overlap area among those above the Markov chain on every
    melodic-interval and rhythm feature (the issue's bar; all steps when none is), ties to the earlier step."""
    steps = [step for step in trained if step in rows]
    passing = [step for step in steps if "Markov" in rows and beats_markov(rows[step], rows["Markov"])]
    pool = passing or steps
    return max(pool, key=lambda step: (round(rows[step]["overlap_area"], 3), -steps.index(step)))


def _fmt(value, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def markdown(rows: dict, trained: dict, labels: dict, reference: dict) -> str:
    """The recipe table: one line per row, the Markov chain and the ceiling included."""
    head = ["row", "train min", "overlap ↑", "C2ST log.", "C2ST boost.", *[f.replace("_", " ") for f in
                                                                           TARGET_FEATURES],
            "interval (st)", "bar rep.", "memorised", "collapse"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    markov = rows.get("Markov")
    ladder = [step for step, *_ in LADDER]
    order = sorted(rows, key=lambda name: (ladder.index(name) if name in ladder else len(ladder),
                                           name == "real (ceiling)"))
    for name in order:
        r = rows[name]
        info = trained.get(name, {})
        minutes = _fmt(info["train_seconds"] / 60, 1) if info else "—"
        collapse = _fmt(((info.get("musegan") or {}).get("collapse") or {}).get("ratio"), 2) if info else "—"
        cells = []
        for feature in TARGET_FEATURES:
            value = r["per_feature"].get(feature)
            beats = markov is not None and name not in ("Markov", "real (ceiling)") and value is not None \
                and value > markov["per_feature"][feature]
            cells.append(("**" + _fmt(value, 2) + "**") if beats else _fmt(value, 2))
        lines.append(f"| {labels.get(name, name)} | {minutes} | {_fmt(r['overlap_area'])} | "
                     f"{_fmt(r['c2st_logistic'])} | {_fmt(r['c2st_boosting'])} | " + " | ".join(cells) +
                     f" | {_fmt(r['mean_melodic_interval'], 2)} | {_fmt(r['bar_repetition'], 2)} | "
                     f"{_fmt(r['memorised_share'])} | {collapse} |")
    lines += ["", f"Validation tunes: mean melodic interval {reference['mean_melodic_interval']:.2f} semitones, "
              f"bar repetition {reference['bar_repetition']:.2f}. Bold: above the Markov chain's overlap on that "
              "feature."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import musiclib as ml
    from musiclib import evaluation as ev
    from musiclib._files import atomic_write, read_json, write_json
    from musiclib.lm.bundle import load_bundle
    from musiclib.lm.reference import resolve_bundle
    from musiclib.split import Split

    out = Path(args.out)
    previous = read_json(out.with_suffix(".json")) if out.with_suffix(".json").is_file() else {}
    if args.report_only:
        saved = read_json(out.with_suffix(".json"))
        atomic_write(out.with_suffix(".md"), saved["markdown"])
        print(saved["markdown"])
        return 0
    started = time.perf_counter()
    lstm = load_bundle(resolve_bundle(args.lstm_bundle))
    corpus = ml.datasets.load("nottingham", path=str(SHARED / "nottingham"))
    by_split = dict(zip(SPLITS, Split.load(lstm.split_path).apply(corpus.tunes)))
    train, valid = by_split["train"], by_split["valid"]
    print(f"nottingham: training {len(train)}, validation {len(valid)} tunes", flush=True)
    runs = Path(args.runs)
    trained: dict[str, dict] = {}
    labels = {}
    for step, label, preset, overrides in LADDER:
        labels[step] = label
        if args.only is not None and step not in args.only:
            if (runs / step / "done.json").is_file():
                trained[step] = read_json(runs / step / "done.json")
            continue
        print(f"== {step}: {label}", flush=True)
        trained[step] = _train_step(step, preset, overrides, train, runs, lstm.split_path)
        print(f"   trained in {trained[step]['train_seconds'] / 60:.1f} min", flush=True)

    generated = {}
    for step, info in trained.items():
        from musiclib.gan.bundle import load_bundle as load_gan

        bundle = load_gan(info["bundle"])
        per_piece = max(BARS // bundle.config.n_bars, 1)
        generated[step] = [ev.gan_set(bundle, args.n, seed=seed, phrases_per_piece=per_piece)
                           for seed in range(args.seeds)]
    generated["Markov"] = [ev.markov_set(train, args.n, seed=seed, n_bars=BARS, encoding=lstm.encoding,
                                         vocab=lstm.vocab, top_p=0.95) for seed in range(args.seeds)]
    table = ev.table(generated, valid, training=train, seed=0, ceiling_splits=args.seeds, excerpt_bars=BARS,
                     progress=lambda message: print(f"  {message}", flush=True))
    rows = {r["name"]: _numbers(r, table["reference"]) for r in table["rows"]}
    carried = carry_rows(rows, trained, previous)
    reference = {key: table["reference"]["feature_means"].get(key, float("nan"))
                 for key in ("mean_melodic_interval", "bar_repetition")}
    text = markdown(rows, trained, labels, reference)
    chosen = chosen_step(rows, trained)
    command = "benchmarks/gan_recipe.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = (f"**Validation split** ({len(valid)} tunes; {args.n} pieces × {args.seeds} seeds per row, {BARS} bars; "
            "each step adds one lever to the one above it):\n\n" + text +
            f"\n\nChosen on validation (highest overlap area of the steps above the Markov chain on every melodic-"
            f"interval and rhythm feature): **{labels[chosen]}** (the `default` preset and the "
            f"reference bundle `nottingham-gan`). Command: `{command}`. Runs in `{Path(args.runs).name}/<step>`.\n")
    if carried:
        text += (f"\nRows carried from the previous results (their runs were not on the machine; the sets are "
                 f"seeded, so the Markov and real rows they were compared with are the same): "
                 f"{', '.join(labels[step] for step in carried)}.\n")
    atomic_write(out.with_suffix(".md"), text)
    write_json(out.with_suffix(".json"), {"command": command, "ladder": [
        {"step": s, "label": lab, "preset": p, "overrides": o} for s, lab, p, o in LADDER],
        "rows": rows, "trained": {step: _shown(info) for step, info in trained.items()}, "reference": reference,
        "chosen": chosen, "markdown": text,
        "seconds": round(time.perf_counter() - started, 1)})
    print(text)
    if args.export:
        from musiclib.gan.bundle import export_reference

        step = chosen
        bundle_path = ROOT / trained[step]["bundle"]  # an absolute path stays as it is
        if not bundle_path.is_dir():
            raise SystemExit(f"the chosen step {step!r} was carried from the previous results and its bundle is not "
                             f"here: train it again (--only {step}) to export it")
        folder = export_reference(bundle_path, args.export, command=command, split_path=lstm.split_path,
                                  notes={"step": step, "label": labels[step], "validation": rows[step],
                                         "train_seconds": trained[step]["train_seconds"]})
        print(f"reference bundle {args.export!r} ({labels[step]}): {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
