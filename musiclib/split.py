"""Train/validation/test splits by tune, reproducible from a seed and savable as JSON.

Splits are made over whole tunes (their ``source`` strings), never over training
windows, so no part of a test tune is ever seen in training. The assignment
depends only on the set of ids and the seed: the ids are sorted before a
``numpy.random.default_rng(seed)`` permutation, so the input order does not matter.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from musiclib._files import read_json, write_json
from musiclib.tune import Tune

if TYPE_CHECKING:  # pragma: no cover
    from musiclib.datasets.corpus import Corpus

__all__ = ["Split", "split_ids", "split_corpus"]

DEFAULT_VALID_FRACTION = 0.1
DEFAULT_TEST_FRACTION = 0.1
DEFAULT_SEED = 0
_FORMAT = "musiclib-split-v1"
_SHOWN_IDS = 5


@dataclass(frozen=True)
class Split:
    """Which tunes (by ``source``) are for training, validation and testing.

    Attributes
    ----------
    train, valid, test
        Disjoint tuples of tune ids, each sorted.
    seed, valid_fraction, test_fraction
        The arguments that made the split (for the record).
    """

    train: tuple[str, ...]
    valid: tuple[str, ...]
    test: tuple[str, ...]
    seed: int
    valid_fraction: float
    test_fraction: float

    def __post_init__(self) -> None:
        for part in ("train", "valid", "test"):
            ids = getattr(self, part)
            if isinstance(ids, str) or not all(isinstance(i, str) for i in ids):
                raise TypeError(f"Split.{part} must be a sequence of str ids")
            object.__setattr__(self, part, tuple(ids))
        counts = Counter(self.train + self.valid + self.test)
        repeated = sorted(i for i, n in counts.items() if n > 1)
        if repeated:
            raise ValueError(f"Split parts overlap or repeat ids: {_preview(repeated)}")

    def sizes(self) -> dict[str, int]:
        """Number of tunes in each part."""
        return {"train": len(self.train), "valid": len(self.valid), "test": len(self.test)}

    def apply(self, tunes: Iterable[Tune]) -> tuple[list[Tune], list[Tune], list[Tune]]:
        """Divide ``tunes`` by their ``source`` into (train, valid, test) lists.

        Each part keeps the order of the split's ids. Tunes whose source is in no
        part are left out.

        Raises
        ------
        KeyError
            When an id of the split matches no tune (a different or changed corpus).
        ValueError
            When two tunes share a source.
        """
        by_source: dict[str, Tune] = {}
        for tune in tunes:
            if tune.source in by_source:
                raise ValueError(f"two tunes share the source {tune.source!r}; ids must be unique")
            by_source[tune.source] = tune
        missing = [i for i in self.train + self.valid + self.test if i not in by_source]
        if missing:
            raise KeyError(
                f"{len(missing)} id(s) of the split match no tune (was the split made on another corpus?): "
                f"{_preview(missing)}"
            )
        return tuple([by_source[i] for i in ids] for ids in (self.train, self.valid, self.test))

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return {
            "format": _FORMAT,
            "seed": self.seed,
            "valid_fraction": self.valid_fraction,
            "test_fraction": self.test_fraction,
            "train": list(self.train),
            "valid": list(self.valid),
            "test": list(self.test),
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the split as JSON, atomically."""
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Split":
        """Read a split written by :meth:`save`.

        Raises
        ------
        ValueError
            When the file is not a musiclib split.
        """
        data = read_json(path)
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ValueError(f"{path} is not a musiclib split (format {_FORMAT!r})")
        return cls(
            train=tuple(data["train"]),
            valid=tuple(data["valid"]),
            test=tuple(data["test"]),
            seed=int(data["seed"]),
            valid_fraction=float(data["valid_fraction"]),
            test_fraction=float(data["test_fraction"]),
        )


def _preview(ids: Sequence[str]) -> str:
    shown = ", ".join(repr(i) for i in ids[:_SHOWN_IDS])
    return shown + (f", ... ({len(ids)} in all)" if len(ids) > _SHOWN_IDS else "")


def _check_fraction(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return float(value)


def _check_ids(ids: Iterable[str]) -> list[str]:
    if isinstance(ids, str):
        raise ValueError("ids must be a collection of tune ids, not one string")
    ids = list(ids)
    bad = [i for i in ids if not isinstance(i, str)]
    if bad:
        raise ValueError(f"ids must be str (tune sources), got {type(bad[0]).__name__}: {bad[0]!r}")
    repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
    if repeated:
        raise ValueError(f"ids must be unique; repeated: {_preview(repeated)}")
    return sorted(ids)


def split_ids(
    ids: Iterable[str],
    *,
    valid_fraction: float = DEFAULT_VALID_FRACTION,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    seed: int = DEFAULT_SEED,
) -> Split:
    """Split tune ids at random into train, validation and test parts.

    The parts get ``round(n * test_fraction)`` and ``round(n * valid_fraction)`` ids
    (test first, then validation), the rest goes to training. The result depends
    only on the set of ids and ``seed``.

    Parameters
    ----------
    ids
        Unique tune ids (``Tune.source``).
    valid_fraction, test_fraction
        Each in [0, 1), together below 1.
    seed
        Seed of ``numpy.random.default_rng``.

    Raises
    ------
    ValueError
        Naming the bad parameter: a fraction out of range, fractions summing to 1
        or more, repeated or non-string ids, or a seed that is not an integer.
    """
    valid_fraction = _check_fraction("valid_fraction", valid_fraction)
    test_fraction = _check_fraction("test_fraction", test_fraction)
    if valid_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"valid_fraction + test_fraction must be below 1, got {valid_fraction} + {test_fraction}"
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    ordered = _check_ids(ids)
    order = np.random.default_rng(int(seed)).permutation(len(ordered))
    shuffled = [ordered[i] for i in order]
    n_test = round(len(ordered) * test_fraction)
    n_valid = round(len(ordered) * valid_fraction)
    return Split(
        train=tuple(sorted(shuffled[n_test + n_valid :])),
        valid=tuple(sorted(shuffled[n_test : n_test + n_valid])),
        test=tuple(sorted(shuffled[:n_test])),
        seed=int(seed),
        valid_fraction=valid_fraction,
        test_fraction=test_fraction,
    )


def split_corpus(
    corpus: "Corpus | Iterable[Tune]",
    *,
    valid_fraction: float = DEFAULT_VALID_FRACTION,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    seed: int = DEFAULT_SEED,
) -> Split:
    """:func:`split_ids` over the sources of a corpus's (or any iterable's) tunes."""
    ids = [tune.source for tune in corpus]
    return split_ids(ids, valid_fraction=valid_fraction, test_fraction=test_fraction, seed=seed)
