"""Corpus → split → tokens: the data preparation that every model starts from.

:func:`prepare` is what notebook 01 and ``musiclib prepare`` run: load a corpus,
split it by tune, encode every tune and build the vocabulary, and (given a folder)
save ``data.json``, ``split.json`` and ``vocab.json`` there for the training stages.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from musiclib import datasets
from musiclib._files import write_json
from musiclib.encoding import get_encoding
from musiclib.encoding.augment import transpose_to_c, transpositions
from musiclib.encoding.vocab import Vocabulary
from musiclib.split import Split, _check_fraction, split_corpus
from musiclib.tune import Tune

__all__ = [
    "PrepareConfig", "Prepared", "prepare", "skipped_record", "SKIPPED_FILE", "TRANSPOSE_MODES", "SPLITS"
]

TRANSPOSE_MODES = ("none", "c", "all")
"""Augmentation: none; every tune to C major / A minor; or the training split in all 12 keys."""

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class PrepareConfig:
    """Parameters of data preparation (validated; saved in ``data.json``).

    Parameters
    ----------
    dataset
        Registry name (``"folk"``, ``"nottingham"``, ``"adl-piano"``) or a folder of files.
    path
        A local copy of a registry dataset (``None``: the cache).
    encoding
        ``"events"`` (default) or ``"paper"``; the token encoding models train on.
    seed, valid_fraction, test_fraction
        The split, by tune.
    transpose
        One of :data:`TRANSPOSE_MODES`; ``"all"`` augments only the training split.
    max_tunes
        Keep a random subset of this many tunes (drawn with ``seed``), for quick runs.
    """

    dataset: str = "folk"
    path: str | None = None
    encoding: str = "events"
    seed: int = 0
    valid_fraction: float = 0.1
    test_fraction: float = 0.1
    transpose: str = "none"
    max_tunes: int | None = None
    encoding_options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.dataset, str) or not self.dataset:
            raise ValueError(f"dataset must be a registry name or a folder path (str), got {self.dataset!r}")
        if self.path is not None and not isinstance(self.path, str):
            raise ValueError(f"path must be None or a folder path (str), got {self.path!r}")
        if self.encoding not in ("events", "paper"):
            raise ValueError(f"encoding must be 'events' or 'paper' for token models, got {self.encoding!r}")
        if self.transpose not in TRANSPOSE_MODES:
            raise ValueError(f"transpose must be one of {TRANSPOSE_MODES}, got {self.transpose!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        for name in ("valid_fraction", "test_fraction"):
            _check_fraction(name, getattr(self, name))
        if self.valid_fraction + self.test_fraction >= 1.0:
            total = f"{self.valid_fraction} + {self.test_fraction}"
            raise ValueError(f"valid_fraction + test_fraction must be below 1, got {total}")
        if self.max_tunes is not None and (
            isinstance(self.max_tunes, bool) or not isinstance(self.max_tunes, int) or self.max_tunes < 3
        ):
            raise ValueError(f"max_tunes must be None or an integer >= 3, got {self.max_tunes!r}")
        if not isinstance(self.encoding_options, dict):
            options = self.encoding_options
            raise ValueError(f"encoding_options must be a dict of encoding parameters, got {options!r}")
        get_encoding(self.encoding, **self.encoding_options)  # unknown or bad options fail here, naming them


@dataclass
class Prepared:
    """Everything a model needs: tunes and token ids per split, the encoding and vocabulary."""

    config: PrepareConfig
    corpus: datasets.Corpus
    split: Split
    encoding: object
    vocab: Vocabulary
    tunes: dict[str, list[Tune]]
    tokens: dict[str, list[list[str]]]
    sequences: dict[str, list[np.ndarray]]

    def n_tokens(self, split: str = "train") -> int:
        """Number of tokens in one split."""
        return int(sum(len(s) for s in self.sequences[split]))

    def data_info(self) -> dict:
        """What identifies the training data (saved as ``data.json`` and in model bundles)."""
        return {
            "dataset": self.config.dataset,
            "corpus_fingerprint": self.corpus.fingerprint,
            "split_sizes": {name: len(self.tunes[name]) for name in SPLITS},
            "tokens": {name: self.n_tokens(name) for name in SPLITS},
            "vocab_size": len(self.vocab),
            "vocab_fingerprint": self.vocab.fingerprint,
            "prepare_config": asdict(self.config),
            "skipped": len(self.corpus.skipped),
        }


SKIPPED_FILE = "skipped.json"
"""What :func:`prepare` writes beside ``data.json``: the corpus's whole skip report."""


def skipped_record(corpus: datasets.Corpus) -> dict:
    """The skip report of a corpus as JSON: ``{"skipped": [{"source", "reason"}, ...]}`` and counts."""
    return {
        "format": "musiclib-skipped-v1",
        "dataset": corpus.name,
        "corpus_fingerprint": corpus.fingerprint,
        "files": corpus.files,
        "tunes": len(corpus.tunes),
        "skipped": [{"source": source, "reason": reason} for source, reason in corpus.skipped],
    }


def _subset(tunes: list[Tune], max_tunes: int | None, seed: int) -> list[Tune]:
    if max_tunes is None or max_tunes >= len(tunes):
        return tunes
    chosen = np.sort(np.random.default_rng(seed).choice(len(tunes), size=max_tunes, replace=False))
    return [tunes[i] for i in chosen]


def prepare(config: PrepareConfig = PrepareConfig(), *, out_dir: str | Path | None = None, progress: bool = False) -> Prepared:
    """Load, split, encode; optionally save ``data.json``, ``split.json``, ``vocab.json`` in ``out_dir``.

    ``out_dir`` also receives ``skipped.json``: every file or ABC tune the corpus
    skipped, with its reason (:func:`skipped_record`).
    """
    corpus = datasets.load(config.dataset, path=config.path, progress=progress)
    tunes = _subset(list(corpus.tunes), config.max_tunes, config.seed)
    split = split_corpus(
        tunes, valid_fraction=config.valid_fraction, test_fraction=config.test_fraction, seed=config.seed
    )
    by_split = dict(zip(SPLITS, split.apply(tunes)))
    if config.transpose == "c":
        by_split = {name: [transpose_to_c(t) for t in items] for name, items in by_split.items()}
    elif config.transpose == "all":
        by_split["train"] = [variant for t in by_split["train"] for variant in transpositions(t)]
    encoding = get_encoding(config.encoding, **config.encoding_options)
    tokens = {name: [encoding.encode(t) for t in items] for name, items in by_split.items()}
    vocab = encoding.vocabulary(tokens["train"]) if config.encoding == "paper" else encoding.vocabulary()
    sequences = {name: [vocab.encode(seq) for seq in items] for name, items in tokens.items()}
    prepared = Prepared(config, corpus, split, encoding, vocab, by_split, tokens, sequences)
    if out_dir is not None:
        out_dir = Path(out_dir)
        write_json(out_dir / "data.json", prepared.data_info())
        write_json(out_dir / SKIPPED_FILE, skipped_record(corpus))
        split.save(out_dir / "split.json")
        vocab.save(out_dir / "vocab.json", encoding=encoding.name, encoding_config=encoding.config())
    return prepared
