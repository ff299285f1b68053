"""Objective evaluation on Nottingham: real (ceiling), LSTM, Transformer, GAN, Markov and uniform against held-out tunes.

Usage::

    nice -n 10 .venv/bin/python benchmarks/evaluate_nottingham.py              # 3 seeds x 100 pieces per set
    nice -n 10 .venv/bin/python benchmarks/evaluate_nottingham.py --seeds 1 -n 20 --out runs/eval-smoke

Data: Nottingham (``--data``, default ``../shared/data/nottingham`` beside the checkout
or ``$MUSICLIB_SHARED_DATA``), split by the LSTM bundle's ``split.json`` (the split it
was trained on). The reference is the held-out real set: by default the validation
and test tunes together (206), so that each half of the "real (ceiling)" row holds
103 pieces (the test split alone, 103, gives halves of 51); neither model trained on
either (the validation split only chose the LSTM's stopping epoch). The training
tunes fit the Markov chain and are what memorisation is checked against.

Generated, per seed: ``-n`` pieces each of the LSTM (``--bars`` bars sampled from
``BOS``, ``--temperature`` 1, nucleus 0.95, under the event grammar unless
``--unconstrained``), the GAN (one 16-bar phrase, or shorter phrases in a row; 4/4 only;
``--gan-bundle none`` leaves it out), a first-order Markov chain over the LSTM's event tokens (same
nucleus, no grammar, no ``EOS``) and uniform-random notes shaped like the reference excerpts. Every piece,
reference included, is cut to its first ``--bars`` bars before the features.

Columns: MGEval's overlap area and KL divergence, the classifier two-sample test's
held-out accuracy for a logistic regression and for gradient boosting (``C2ST acc.``;
0.5 = indistinguishable from the reference, see ``docs/evaluation.md``), memorisation
and headline feature means; all as mean ± 95% interval over seeds.

Writes ``<out>.md`` and ``<out>.json`` (default ``results/evaluation_nottingham``).
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MUSICLIB_SHARED_DATA", ROOT.parent / "shared" / "data"))
sys.path.insert(0, str(ROOT))

SPLITS = ("train", "valid", "test")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _shown(path: str) -> str:
    """A path relative to the repository when it lies inside it (so the committed JSON names no machine)."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)


def parse_args(argv: list[str] | None, defaults: dict | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="nottingham",
                        help="registry name of the corpus (nottingham; folk: the embedded corpus, see evaluate_folk.py)")
    parser.add_argument("--data", default=None,
                        help="dataset folder (default ../shared/data/nottingham for Nottingham; folk is built in)")
    parser.add_argument("--lstm-bundle", default=str(ROOT / "runs" / "lstm-nottingham" / "bundle"),
                        help="LSTM bundle folder or reference bundle name (e.g. nottingham-lstm)")
    parser.add_argument("--transformer-bundle", default="none",
                        help="Transformer bundle folder or reference name (e.g. nottingham-transformer); "
                             "'none' leaves the row out. It must share the LSTM's split")
    parser.add_argument("--gan-bundle", default=str(ROOT / "runs" / "gan-nottingham" / "bundle"),
                        help="GAN bundle folder or reference name (e.g. nottingham-gan); 'none' leaves the GAN row out")
    parser.add_argument("--temperature", type=float, default=1.0, help="the LSTM's sampling temperature")
    parser.add_argument("--unconstrained", action="store_true",
                        help="sample the LSTM without the event grammar (what it learnt alone)")
    parser.add_argument("--seeds", type=_positive, default=3,
                        help="generated sets per model (and ceiling splits)")
    parser.add_argument("-n", type=_positive, default=100, help="pieces per generated set")
    parser.add_argument("--bars", type=_positive, default=16,
                        help="bars per piece (every piece is cut to this)")
    parser.add_argument("--reference-splits", default="valid,test",
                        help="held-out splits that form the reference (comma-separated)")
    parser.add_argument("--threshold", type=_positive, default=16,
                        help="memorised: shared run of this many intervals")
    parser.add_argument("--top-p", type=float, default=0.95,
                        help="nucleus sampling of the LSTM and the Markov chain")
    parser.add_argument("--variant", action="append", default=[], type=parse_variant,
                        metavar="ROW=MODEL:KEY=VALUE,...",
                        help="one more row: the LSTM or Transformer sampled otherwise, e.g. 'Transformer + copy "
                             "8 × 0.9=Transformer:copy_lags=8,copy_weight=0.9,top_p=none' (keys: temperature, "
                             "top_p, constrained, copy_lags as 8/4, copy_weight, leap_penalty; repeatable)")
    parser.add_argument("--out", default=str(ROOT / "results" / "evaluation_nottingham"),
                        help="output path without suffix (.md and .json are written)")
    parser.set_defaults(**(defaults or {}))
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.reference_splits.split(",") if s.strip()]
    if not chosen or any(s not in SPLITS[1:] for s in chosen):
        parser.error(f"--reference-splits takes valid and/or test, got {args.reference_splits!r}")
    args.reference_splits = chosen
    return args


def parse_variant(text: str) -> tuple[str, dict]:
    """``"ROW=MODEL:key=value,..."`` -> ``(row, {"model": MODEL, ...})`` for ``model_sets(variants=...)``."""
    row, model, options = _split_variant(text)
    parsed: dict = {"model": model}
    for item in filter(None, (part.strip() for part in options.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"{text!r}: {item!r} is not KEY=VALUE")
        parsed[key.strip()] = _variant_value(key.strip(), value.strip(), text)
    return row, parsed


def _split_variant(text: str) -> tuple[str, str, str]:
    head, colon, options = text.partition(":")
    row, equals, model = head.rpartition("=")
    if not (colon and equals and row.strip() and model.strip()):
        raise argparse.ArgumentTypeError(f"{text!r}: give ROW=MODEL:KEY=VALUE,... (MODEL: LSTM or Transformer)")
    return row.strip(), model.strip(), options


def _variant_value(key: str, value: str, text: str):
    try:
        if key == "copy_lags":
            return tuple(int(lag) for lag in value.split("/"))
        if key == "constrained":
            return {"true": True, "false": False}[value.lower()]
        if key in ("temperature", "top_p", "copy_weight", "leap_penalty"):
            return None if key == "top_p" and value.lower() == "none" else float(value)
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError(f"{text!r}: bad value {value!r} for {key}") from None
    raise argparse.ArgumentTypeError(f"{text!r}: unknown key {key!r} (temperature, top_p, constrained, "
                                     "copy_lags, copy_weight, leap_penalty)")


DATASET_TITLES = {"nottingham": "Nottingham", "folk": "Folk corpus (embedded)"}


def main(argv: list[str] | None = None, *, command_name: str = "evaluate_nottingham.py",
         defaults: dict | None = None) -> int:
    """Run the evaluation; ``defaults`` replaces option defaults (``benchmarks/evaluate_folk.py``)."""
    args = parse_args(argv, defaults)
    import musiclib as ml
    from musiclib import evaluation as ev
    from musiclib.gan.bundle import load_bundle as load_gan_bundle
    from musiclib.lm.bundle import load_bundle, share_split
    from musiclib.lm.reference import resolve_bundle
    from musiclib.split import Split

    started = time.perf_counter()
    lstm = load_bundle(resolve_bundle(args.lstm_bundle))
    if lstm.split_path is None:
        print(f"{args.lstm_bundle} holds no split.json: cannot tell its training tunes", file=sys.stderr)
        return 2
    gan = None if args.gan_bundle == "none" else load_gan_bundle(resolve_bundle(args.gan_bundle))
    transformer = None
    if args.transformer_bundle != "none":
        transformer = load_bundle(resolve_bundle(args.transformer_bundle))
        if not share_split(lstm, transformer):
            print(f"{args.transformer_bundle} was trained on other data or another split than "
                  f"{args.lstm_bundle}: their rows would not compare", file=sys.stderr)
            return 2
    if lstm.data_info.get("dataset") != args.dataset:
        print(f"{args.lstm_bundle} was trained on {lstm.data_info.get('dataset')!r}, not {args.dataset!r}",
              file=sys.stderr)
        return 2
    data = args.data if args.data is not None else (str(SHARED / "nottingham") if args.dataset == "nottingham"
                                                    else None)
    corpus = ml.datasets.load(args.dataset, path=data)
    by_split = dict(zip(SPLITS, Split.load(lstm.split_path).apply(corpus.tunes)))
    training = by_split["train"]
    reference = [tune for name in args.reference_splits for tune in by_split[name]]
    print(f"{args.dataset}: {len(corpus)} tunes; training {len(training)}, reference "
          f"{'+'.join(args.reference_splits)} {len(reference)}")

    generated, seconds = ev.model_sets(lstm=lstm, gan=gan, transformer=transformer, training=training, reference=reference, n=args.n,
                                       seeds=range(args.seeds), n_bars=args.bars, top_p=args.top_p,
                                       temperature=args.temperature, constrained=not args.unconstrained,
                                       variants=dict(args.variant),
                                       progress=lambda message: print(message, flush=True))

    t0 = time.perf_counter()
    table = ev.table(generated, reference, training=training, seed=0, ceiling_splits=args.seeds,
                                excerpt_bars=args.bars, threshold=args.threshold,
                                progress=lambda message: print(f"  {message}", flush=True))
    evaluation_seconds = time.perf_counter() - t0
    table["setup"] = {
        "data": args.dataset,
        "corpus_fingerprint": corpus.fingerprint,
        "split": {name: len(tunes) for name, tunes in by_split.items()},
        "reference_splits": args.reference_splits,
        "lstm_bundle": _shown(str(lstm.path)),
        "gan_bundle": _shown(args.gan_bundle),
        "transformer_bundle": None if transformer is None else _shown(str(transformer.path)),
        "pieces_per_set": args.n,
        "seeds": args.seeds,
        "bars": args.bars,
        "sampling": {"temperature": args.temperature, "top_p": args.top_p, "primer": ["BOS"],
                     "constrained": not args.unconstrained},
        "variants": dict(args.variant),  # JSON writes the lag tuples as lists
        "gan": None if gan is None else {"phrases_per_piece": max(args.bars // gan.config.n_bars, 1),
                                         "bars_per_phrase": gan.config.n_bars, "threshold": 0.5,
                                         "meter": list(gan.meter)},
        "generation_seconds": seconds,
        "evaluation_seconds": round(evaluation_seconds, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_end": list(os.getloadavg())},
        "command": f"benchmarks/{command_name} " + shlex.join(sys.argv[1:] if argv is None else argv),
    }
    title = (f"{DATASET_TITLES.get(args.dataset, args.dataset)}: objective evaluation against {len(reference)} held-out tunes "
             f"({' + '.join(args.reference_splits)}), first {args.bars} bars")
    markdown, data = ev.write_table(table, args.out, title=title)
    print()
    print(markdown.read_text(encoding="utf-8"))
    print(f"generation {sum(map(sum, seconds.values())):.0f} s, evaluation {evaluation_seconds:.0f} s; "
          f"wrote {markdown} and {data}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
