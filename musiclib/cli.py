"""The ``musiclib`` command: thin front end over the same functions the notebooks call.

Run ``musiclib --help`` or ``musiclib <command> --help``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

__all__ = ["main", "build_parser"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


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
    print(f"Wrote data.json, split.json and vocab.json to {Path(args.out).resolve()}")
    return 0


def _cmd_pipeline(args: argparse.Namespace) -> int:
    from musiclib import pipeline

    config = pipeline.PipelineConfig(
        name=args.name, runs_root=Path(args.runs_root), dataset=args.dataset, quick=args.quick, seed=args.seed,
        epochs=args.epochs,
    )
    pipeline.run(config, force=args.force)
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

    p = sub.add_parser("pipeline", help="run the notebooks in order with papermill into runs/NAME/")
    p.add_argument("--name", default="default", help="run folder name under --runs-root")
    p.add_argument("--runs-root", default="runs", help="where run folders go")
    p.add_argument("--dataset", type=_dataset_name, default="folk", help="registry name or folder")
    p.add_argument("--quick", action="store_true", help="small models and subsets (minutes)")
    p.add_argument("--seed", type=_non_negative_int, default=0)
    p.add_argument("--epochs", type=_positive_int, default=None, help="override training epochs")
    p.add_argument("--force", action="store_true", help="rerun notebooks that already completed")
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
