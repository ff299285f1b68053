"""The ``musiclib`` command: thin front end over the same functions the notebooks call.

Run ``musiclib --help`` or ``musiclib <command> --help``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from musiclib.pipeline import PRESET_NAMES, notebooks_until  # no Keras import: a fast --help

__all__ = ["main", "build_parser"]


def _int_at_least(minimum: int, what: str):
    """An argparse type: an integer >= ``minimum``, with a message saying so."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


_positive_int = _int_at_least(1, "a positive integer")
_non_negative_int = _int_at_least(0, "an integer >= 0")


def _positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def _probability(text: str) -> float:
    """An argparse type: a number in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    """An argparse type: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value >= 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def _copy_weight(text: str) -> float:
    """An argparse type: a number in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return value


def _bar_lags(text: str) -> tuple[int, ...]:
    """An argparse type: positive bar counts separated by ``/`` (``8/4``)."""
    try:
        lags = tuple(int(part) for part in text.split("/"))
    except ValueError:
        lags = ()
    if not lags or min(lags) < 1:
        raise argparse.ArgumentTypeError(f"expected positive bar counts separated by '/', e.g. 8/4, got {text!r}")
    return lags


def _notebook_name(text: str) -> str:
    """An argparse type: a walkthrough notebook, by number (``03``) or file name."""
    try:
        notebooks_until(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def _dataset_name(text: str) -> str:
    from musiclib import datasets

    if text in datasets.list_datasets() or Path(text).is_dir():
        return text
    raise argparse.ArgumentTypeError(
        f"unknown dataset {text!r}: use one of {', '.join(datasets.list_datasets())} or an existing folder"
    )


def _cmd_datasets(args: argparse.Namespace) -> int:
    from musiclib import datasets

    for name in datasets.list_datasets():
        info = datasets.info(name)
        print(f"{name:12s} {info.kind:9s} {info.description}")
    return 0


def _cmd_download(args: argparse.Namespace) -> int:
    from musiclib import datasets

    root = datasets.download(args.dataset, allow_unverified=args.allow_unverified, progress=True)
    print(f"{args.dataset} is ready at {root}")
    return 0


def _cmd_prepare(args: argparse.Namespace) -> int:
    from musiclib.prepare import PrepareConfig, prepare

    config = PrepareConfig(
        dataset=args.dataset,
        path=args.path,
        encoding=args.encoding,
        seed=args.seed,
        transpose=args.transpose,
        max_tunes=args.max_tunes,
    )
    prepared = prepare(config, out_dir=args.out, progress=True)
    print(prepared.corpus.report())
    print(json.dumps({k: v for k, v in prepared.data_info().items() if k != "prepare_config"}, indent=2))
    print(f"Wrote data.json, split.json, vocab.json and skipped.json (every skipped file and why) "
          f"to {Path(args.out).resolve()}")
    return 0


def _cmd_train_lstm(args: argparse.Namespace) -> int:
    from musiclib.experiments import format_table, train_lstm_experiment
    from musiclib.prepare import PrepareConfig, prepare

    config = PrepareConfig(dataset=args.dataset, path=args.path, encoding=args.encoding, seed=args.seed,
                           max_tunes=args.max_tunes)
    prepared = prepare(config, out_dir=args.out, progress=True)
    print(prepared.corpus.report())
    result = train_lstm_experiment(prepared, out_dir=args.out, preset=args.preset, epochs=args.epochs, seed=args.seed,
                                   verbose=2)
    print(format_table(result.table))
    print(f"LSTM vs best n-gram ({result.best_baseline['model']}): {100 * result.improvement:+.1f}% lower test NLL")
    print(f"bundle: {result.bundle_path}")
    return 0


def _cmd_train_gan(args: argparse.Namespace) -> int:
    from musiclib import datasets, split
    from musiclib.experiments import train_gan_experiment
    from musiclib.gan import metrics as gan_metrics
    from musiclib.gan.bundle import generate_midi

    corpus = datasets.load(args.dataset, path=args.path, progress=True)
    print(corpus.report())
    train_tunes = split.split_corpus(corpus.tunes, seed=args.seed).apply(corpus.tunes)[0]
    result = train_gan_experiment(train_tunes, out_dir=args.out, dataset=str(args.dataset), preset=args.preset,
                                  epochs=args.epochs, seed=args.seed, max_phrases=args.max_phrases,
                                  data_info={"corpus_fingerprint": corpus.fingerprint}, verbose=2)
    print(gan_metrics.format_table(result.table))
    files = generate_midi(result.bundle_path, Path(args.out) / "midi", n=args.n, seed=args.seed,
                              phrases_per_piece=args.phrases_per_piece)
    print(f"trained on {result.phrases:,} phrases in {result.train_seconds:.0f} s; bundle: {result.bundle_path}; "
          f"{len(files)} MIDI files in {Path(args.out).resolve() / 'midi'}")
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from musiclib.experiments import generate_lstm_set
    from musiclib.gan.bundle import is_gan_bundle
    from musiclib.lm.bundle import load_bundle
    from musiclib.lm.reference import resolve_bundle
    from musiclib.stats import count_of

    path = resolve_bundle(args.bundle)
    if is_gan_bundle(path):
        return _generate_from_gan(args, path)
    bundle = load_bundle(path)
    primers = None
    if args.primer:
        from musiclib.io import read
        from musiclib.lm.sampling import primer_from_tune

        tunes, _ = read(args.primer)
        primers = [primer_from_tune(bundle.encoding, tunes[0], n_bars=args.primer_bars)]
    if args.copy_weight and not args.copy_lags:
        print("error: --copy-weight needs --copy-lags (how many bars back to copy from)", file=sys.stderr)
        return 2
    records = generate_lstm_set(bundle, args.out, n=args.n, n_bars=args.bars, temperature=args.temperature,
                                top_p=args.top_p, seed=args.seed, primers=primers, copy_lags=args.copy_lags,
                                copy_weight=args.copy_weight, leap_penalty=args.leap_penalty)
    dropped = sum(r["dropped"] for r in records)
    print(f"wrote {len(records)} MIDI files to {Path(args.out).resolve()} ({count_of(dropped, 'ill-formed token')} dropped)")
    return 0


def _generate_from_gan(args: argparse.Namespace, path: Path) -> int:
    """``generate`` for a GAN bundle: phrases in a row, cut to ``--bars`` bars, one MIDI file each."""
    import math

    from musiclib.evaluation.features import excerpt
    from musiclib.gan.bundle import generate_tunes, load_bundle
    from musiclib.io import write_midi

    if args.primer:
        print("error: a GAN bundle generates from noise; --primer applies to LSTM and Transformer bundles",
              file=sys.stderr)
        return 2
    bundle = load_bundle(path)
    per_piece = math.ceil(args.bars / bundle.config.n_bars)
    tunes = generate_tunes(bundle, n=args.n, seed=args.seed, phrases_per_piece=per_piece)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for index, tune in enumerate(tunes):
        write_midi(excerpt(tune, n_bars=args.bars), out / f"gan_s{args.seed}_{index:03d}.mid")
    print(f"wrote {len(tunes)} MIDI files to {out.resolve()} ({per_piece} phrase(s) of {bundle.config.n_bars} bars "
          f"per piece, cut to {args.bars} bars)")
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from musiclib import audio, io

    files = _music_files(args.inputs)
    out = Path(args.out)
    renderer = audio.get_renderer(args.backend, sample_rate=args.sample_rate)
    seconds_audio, failures = 0.0, []
    try:
        for path in tqdm(files, desc="rendering", unit="file"):
            try:
                tunes, _ = io.read(path)
            except io.MusicReadError as error:
                failures.append(str(error))
                continue
            for i, tune in enumerate(tunes):
                try:
                    rendered = renderer.render(tune)
                except ValueError as error:  # a tune over audio.MAX_RENDER_SECONDS
                    failures.append(f"{path}: {error}")
                    continue
                seconds_audio += rendered.seconds
                name = path.stem if len(tunes) == 1 else f"{path.stem}_{i:03d}"
                audio.write_wav(rendered, out / f"{name}.wav")
    finally:
        renderer.close()
    print(f"rendered {seconds_audio:.0f} s of audio with {renderer.backend} into {out.resolve()}")
    for failure in failures:
        print(f"skipped {failure}", file=sys.stderr)
    return 0


def _music_files(inputs: Sequence[str]) -> list[Path]:
    from musiclib.io import SUPPORTED_SUFFIXES

    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES))
        elif path.is_file():
            files.append(path)
        else:
            raise ValueError(f"no such file or folder: {item}")
    if not files:
        raise ValueError(f"no MIDI/ABC/MusicXML files in {', '.join(inputs)}")
    return files


def _read_set(folder: str, max_pieces: int) -> list:
    from musiclib import io

    tunes = []
    for path in _music_files([folder])[:max_pieces]:
        try:
            tunes.extend(io.read(path)[0][:1])
        except io.MusicReadError as error:
            print(f"skipped {error}", file=sys.stderr)
    if not tunes:
        raise ValueError(f"no readable pieces in {folder}")
    return tunes


def _bundle_figures(args: argparse.Namespace, figures_dir: Path) -> list[Path]:
    """The seed's Figures 1-2 (loss curves) from the histories saved in bundles."""
    from musiclib import figures, plots
    from musiclib._files import read_json

    written = []
    for option, key in ((args.lstm_bundle, "fig2"), (args.gan_bundle, "fig1")):
        if option is None:
            continue
        history_file = Path(option) / "history.json"
        if not history_file.is_file():
            raise ValueError(f"{option} is not a bundle folder with a history.json")
        history = read_json(history_file)
        if key == "fig2":
            metrics_file = Path(option) / "metrics.json"
            table = read_json(metrics_file).get("test", []) if metrics_file.is_file() else []
            unigram = next((r["nll"] for r in table if r.get("order") == 1), None)
            fig = figures.lstm_loss_figure(history, unigram_nll=unigram)
        else:
            fig = figures.gan_loss_figure(history)
        plots.save_figure(fig, figures_dir / figures.FIGURE_FILES[key])
        written.append(figures_dir / figures.FIGURE_FILES[key])
    return written


def _cmd_analyze(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")

    from musiclib import audio, figures, plots
    from musiclib._files import write_json

    if args.max_seconds <= 0:
        raise ValueError(f"--max-seconds must be positive, got {args.max_seconds}")
    out = Path(args.out)
    figures_dir = out / "figures"
    config = audio.SpectrogramConfig(sample_rate=args.sample_rate)
    sets = {"reference": _read_set(args.reference, args.max_pieces)}
    sources = _labelled_sets(args.generated)
    if "reference" in sources:
        raise ValueError("'reference' is taken by --reference: give the generated set another LABEL=DIR")
    for label, folders in sources.items():
        sets[label] = [tune for folder in folders for tune in _read_set(folder, args.max_pieces)][: args.max_pieces]
    written = _bundle_figures(args, figures_dir)
    renderer = audio.get_renderer(args.backend, sample_rate=args.sample_rate)
    try:
        clips = figures.excerpts(sets, renderer=renderer, config=config, excerpt_start=args.excerpt_start)
        written += [figures_dir / figures.FIGURE_FILES[k] for k in figures.excerpt_figures(clips, config=config,
                                                                                            out_dir=figures_dir)]
    finally:
        renderer.close()
    print(f"rendering and analysing {sum(map(len, sets.values()))} pieces ({args.workers} process(es))")
    features, info = audio.analyze_sets(sets, config=config, backend=args.backend, max_seconds=args.max_seconds,
                                           workers=args.workers, progress=True)
    comparisons = {label: audio.compare_sets(features["reference"], f) for label, f in features.items()
                   if label != "reference"}
    fig = figures.set_comparison_figure(features, title=f"{len(sets['reference'])} reference pieces, up to "
                                                        f"{args.max_seconds:g} s each, rendered with {renderer.backend}")
    plots.save_figure(fig, figures_dir / figures.FIGURE_FILES["set_comparison"])
    written.append(figures_dir / figures.FIGURE_FILES["set_comparison"])
    results = {"backend": renderer.backend, "reference": args.reference, "config": config.to_dict(),
               "sets": {label: {"sources": folders, "comparison": comparisons[label]} for label, folders in sources.items()}}
    write_json(out / "analysis.json", results)
    print(audio.format_comparison(features, comparisons))
    print(f"wrote {out.resolve() / 'analysis.json'} and {len(written)} figures in {figures_dir.resolve()}")
    return 0


def _cmd_figures(args: argparse.Namespace) -> int:
    from musiclib import figures

    copied = figures.publish(args.run, args.out)
    print(f"copied {len(copied)} figures from {Path(args.run).resolve() / 'figures'} to {Path(args.out).resolve()}")
    return 0


def _labelled_sets(items: Sequence[str]) -> dict[str, list[str]]:
    """``LABEL=DIR`` or ``DIR`` (labelled by its name) to label → folders; one label's folders are its seeds."""
    sets: dict[str, list[str]] = {}
    for item in items:
        label, _, folder = item.partition("=") if "=" in item else (Path(item).name or item, "", item)
        sets.setdefault(label or folder, []).append(folder)
    return sets


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from musiclib import evaluation

    reference = _read_set(args.reference, None)
    generated = {label: [_read_set(folder, None) for folder in folders]
                 for label, folders in _labelled_sets(args.generated).items()}
    training = _read_set(args.training, None) if args.training else None
    table = evaluation.table(
        generated, reference, training=training, ceiling=len(reference) >= 4, seed=args.seed,
        excerpt_bars=args.bars, threshold=args.threshold, progress=lambda message: print(message, file=sys.stderr),
    )
    markdown, data = evaluation.write_table(table, Path(args.out) / "evaluation",
                                          title=f"Objective evaluation against {args.reference}")
    print(markdown.read_text(encoding="utf-8"))
    print(f"wrote {markdown.resolve()} and {data.resolve()}")
    return 0


def _cmd_pipeline(args: argparse.Namespace) -> int:
    from musiclib import pipeline

    config = pipeline.PipelineConfig(
        name=args.name, runs_root=Path(args.runs_root), dataset=args.dataset, quick=args.quick, seed=args.seed,
        epochs=args.epochs, preset=args.preset,
    )
    notebooks = pipeline.NOTEBOOKS if args.until is None else pipeline.notebooks_until(args.until)
    pipeline.run(config, notebooks=notebooks, force=args.force)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``musiclib`` command."""
    parser = argparse.ArgumentParser(prog="musiclib", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("datasets", help="list the registered datasets")
    p.set_defaults(func=_cmd_datasets)

    p = sub.add_parser("download", help="download a registered dataset into the cache (checksummed)")
    p.add_argument("dataset", help="registry name, e.g. nottingham")
    p.add_argument("--allow-unverified", action="store_true", help="accept a dataset whose checksum is not pinned")
    p.set_defaults(func=_cmd_download)

    p = sub.add_parser("prepare", help="load a corpus, split it by tune, build the vocabulary")
    p.add_argument("--dataset", type=_dataset_name, default="folk", help="registry name or folder (default: folk)")
    p.add_argument("--path", default=None, help="local copy of a registry dataset")
    p.add_argument("--encoding", choices=("events", "paper"), default="events", help="token encoding")
    p.add_argument("--seed", type=_non_negative_int, default=0, help="split seed")
    p.add_argument("--transpose", choices=("none", "c", "all"), default="none", help="transposition augmentation")
    p.add_argument("--max-tunes", type=_positive_int, default=None, help="random subset of this many tunes")
    p.add_argument("--out", default="runs/prepared", help="folder for data.json, split.json, vocab.json")
    p.set_defaults(func=_cmd_prepare)

    p = sub.add_parser("train-lstm", help="train an LSTM, score it against n-gram baselines, save a bundle")
    p.add_argument("--dataset", type=_dataset_name, default="folk", help="registry name or folder (default: folk)")
    p.add_argument("--path", default=None, help="local copy of a registry dataset")
    p.add_argument("--encoding", choices=("events", "paper"), default="events")
    p.add_argument("--preset", choices=PRESET_NAMES, default="default",
                   help="model and training set-up (short: the walkthrough's one epoch)")
    p.add_argument("--epochs", type=_positive_int, default=None, help="override the preset's epochs")
    p.add_argument("--seed", type=_non_negative_int, default=0)
    p.add_argument("--max-tunes", type=_positive_int, default=None, help="random subset of this many tunes")
    p.add_argument("--out", default="runs/lstm", help="folder for the bundle, history and NLL table")
    p.set_defaults(func=_cmd_train_lstm)

    p = sub.add_parser("train-gan", help="train the GAN on phrases of the training tunes, score it (MuseGAN metrics), save a bundle")
    p.add_argument("--dataset", type=_dataset_name, default="folk", help="registry name or folder (default: folk)")
    p.add_argument("--path", default=None, help="local copy of a registry dataset")
    p.add_argument("--preset", choices=PRESET_NAMES, default="default",
                   help="GAN size and epochs (short: 4 epochs; paper: the seed's dense GAN)")
    p.add_argument("--epochs", type=_positive_int, default=None, help="override the preset's epochs")
    p.add_argument("--seed", type=_non_negative_int, default=0, help="seed of the split, weights, noise")
    p.add_argument("--max-phrases", type=_positive_int, default=None, help="train on a random subset of phrases")
    p.add_argument("-n", type=_positive_int, default=16, help="MIDI pieces written after training")
    p.add_argument("--phrases-per-piece", type=_positive_int, default=1,
                   help="four-bar phrases per MIDI piece (4 gives 16 bars)")
    p.add_argument("--out", default="runs/gan", help="folder for the run, the bundle and the MIDI files")
    p.set_defaults(func=_cmd_train_gan)

    p = sub.add_parser("generate", help="generate MIDI files from a trained LSTM, Transformer or GAN bundle")
    p.add_argument("--bundle", required=True,
                   help="bundle folder (from train-lstm or train-gan: OUT/bundle) or a reference bundle name "
                        "(e.g. nottingham-lstm, nottingham-gan)")
    p.add_argument("--out", default="runs/generated", help="folder for the MIDI files")
    p.add_argument("-n", type=_positive_int, default=10, help="number of pieces")
    p.add_argument("--bars", type=_positive_int, default=16, help="length of each piece in bars")
    p.add_argument("--temperature", type=_positive_float, default=1.0, help="sampling temperature (> 0)")
    p.add_argument("--top-p", type=_probability, default=0.95, help="nucleus sampling mass, in (0, 1]")
    p.add_argument("--seed", type=_non_negative_int, default=0)
    p.add_argument("--primer", default=None, help="MIDI/ABC/MusicXML file whose first bars the model continues")
    p.add_argument("--primer-bars", type=_positive_int, default=4, help="bars of --primer to use")
    p.add_argument("--copy-lags", type=_bar_lags, default=(), metavar="8/4",
                   help="the bar-copy prior: restate the bar this many bars back (the first of several that "
                        "matches); needs --copy-weight")
    p.add_argument("--copy-weight", type=_copy_weight, default=0.0,
                   help="probability in [0, 1) of taking the copied token (0: the model alone; the reference "
                        "models' validated settings: README, 'Sampling under the grammar, and reference models')")
    p.add_argument("--leap-penalty", type=_non_negative_float, default=0.0, metavar="NATS",
                   help="the leap prior: each semitone a melody interval exceeds a whole tone costs this many "
                        "nats (0: the model alone)")
    p.set_defaults(func=_cmd_generate)

    p = sub.add_parser("render", help="render MIDI/ABC files to WAV (FluidSynth, or the fallback synthesizer)")
    p.add_argument("inputs", nargs="+", help="files or folders")
    p.add_argument("--out", default="runs/audio", help="folder for the WAV files")
    p.add_argument("--backend", choices=("auto", "fluidsynth", "additive"), default="auto")
    p.add_argument("--sample-rate", type=_positive_int, default=22050)
    p.set_defaults(func=_cmd_render)

    p = sub.add_parser("analyze", help="compare audio features of generated sets with a reference set")
    p.add_argument("--reference", required=True, help="folder of reference MIDI/ABC files")
    p.add_argument("--generated", nargs="+", required=True, metavar="[LABEL=]DIR",
                   help="folders of generated MIDI files (one LABEL on several folders pools them)")
    p.add_argument("--out", default="runs/analysis", help="folder for analysis.json and figures/")
    p.add_argument("--max-pieces", type=_positive_int, default=50, help="pieces per set")
    p.add_argument("--max-seconds", type=float, default=60.0, help="render at most this much of each piece")
    p.add_argument("--workers", type=_positive_int, default=1,
                   help="processes for rendering and analysis (worth it with more than 2 cores)")
    p.add_argument("--excerpt-start", type=float, default=0.0,
                   help="start of the 4-s excerpts of Figures 3-8, in seconds after the first note")
    p.add_argument("--lstm-bundle", default=None, help="LSTM bundle: adds its loss curves (Figure 2)")
    p.add_argument("--gan-bundle", default=None, help="GAN bundle: adds its loss curves (Figure 1)")
    p.add_argument("--backend", choices=("auto", "fluidsynth", "additive"), default="auto")
    p.add_argument("--sample-rate", type=_positive_int, default=22050)
    p.set_defaults(func=_cmd_analyze)

    p = sub.add_parser("figures", help="copy a run's reference figures to figures/ under stable names")
    p.add_argument("run", help="a pipeline run folder, e.g. runs/default")
    p.add_argument("--out", default="figures", help="where the figures go (default: figures)")
    p.set_defaults(func=_cmd_figures)

    p = sub.add_parser("evaluate", help="objective evaluation: MGEval features, overlap and KL, C2ST accuracy, memorisation")
    p.add_argument("--generated", action="append", required=True, metavar="[LABEL=]DIR",
                   help="folder of generated MIDI files; repeat for more sets (folders with one LABEL are its seeds)")
    p.add_argument("--reference", required=True, help="folder of held-out real pieces")
    p.add_argument("--training", default=None, help="folder of training pieces, for memorisation")
    p.add_argument("--out", default="runs/evaluation", help="folder for evaluation.md and evaluation.json")
    p.add_argument("--bars", type=_positive_int, default=None, help="compare only the first BARS bars of each piece")
    p.add_argument("--threshold", type=_positive_int, default=16, help="memorised: shared run of this many intervals")
    p.add_argument("--seed", type=_non_negative_int, default=0, help="seed of the ceiling's half splits")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("pipeline", help="run the notebooks in order with papermill into runs/NAME/")
    p.add_argument("--name", default="default", help="run folder name under --runs-root")
    p.add_argument("--runs-root", default="runs", help="where run folders go")
    p.add_argument("--dataset", type=_dataset_name, default="folk", help="registry name or folder")
    p.add_argument("--quick", action="store_true", help="small models and subsets (minutes)")
    p.add_argument("--seed", type=_non_negative_int, default=0)
    p.add_argument("--epochs", type=_positive_int, default=None, help="override training epochs")
    p.add_argument("--preset", choices=PRESET_NAMES, default=None,
                   help="LSTM and GAN preset (notebooks' default: short; default trains both to convergence)")
    p.add_argument("--force", action="store_true", help="rerun notebooks that already completed")
    p.add_argument("--until", type=_notebook_name, default=None, metavar="NOTEBOOK",
                   help="stop after this notebook (its number, e.g. 03, or its file name)")
    p.set_defaults(func=_cmd_pipeline)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``musiclib`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, RuntimeError, OSError) as error:
        print(f"musiclib {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
