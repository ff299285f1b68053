"""Turning tunes into model inputs and back.

Three encodings share one interface. Each is a frozen dataclass with a class-level
``name``, ``config()`` (a JSON-able dict) and ``from_config(d)``:

* ``"events"`` (:class:`EventEncoding`, the default): REMI-style bar / position /
  track / pitch / duration tokens with a fixed vocabulary; exact round trips.
* ``"paper"`` (:class:`PaperEncoding`): the seed paper's note-name / chord tokens,
  one per onset, vocabulary built from the corpus.
* ``"pianoroll"`` (:class:`PianoRollEncoding`): boolean time x pitch x track arrays
  for the GAN.

Token encodings have ``encode(tune) -> list[str]``, ``decode(tokens) -> Decoded``
(``(tune, dropped)``; never raises on a bad sequence) and
``vocabulary(corpus_token_sequences=None) -> Vocabulary``. See ``docs/encodings.md``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Union

from musiclib.encoding._base import Decoded
from musiclib.encoding.augment import semitones_to_c, transpose_to_c, transpositions
from musiclib.encoding.events import EncodeStats, EventEncoding, count_bars
from musiclib.encoding.paper import PaperEncoding
from musiclib.encoding.pianoroll import PianoRollEncoding
from musiclib.encoding.vocab import BOS, EOS, PAD, SPECIAL_TOKENS, UNK, Vocabulary, VocabularyFile

__all__ = [
    "ENCODINGS",
    "Encoding",
    "TokenEncoding",
    "Decoded",
    "EncodeStats",
    "EventEncoding",
    "PaperEncoding",
    "PianoRollEncoding",
    "Vocabulary",
    "VocabularyFile",
    "PAD",
    "BOS",
    "EOS",
    "UNK",
    "SPECIAL_TOKENS",
    "get_encoding",
    "encoding_from_config",
    "save_vocabulary",
    "load_vocabulary",
    "count_bars",
    "transpose_to_c",
    "transpositions",
    "semitones_to_c",
]

ENCODINGS = ("paper", "events", "pianoroll")
"""Names accepted by :func:`get_encoding`."""

TokenEncoding = Union[EventEncoding, PaperEncoding]
Encoding = Union[EventEncoding, PaperEncoding, PianoRollEncoding]

_CLASSES = {cls.name: cls for cls in (PaperEncoding, EventEncoding, PianoRollEncoding)}


def get_encoding(name: str, **options: Any) -> Encoding:
    """The encoding called ``name`` (one of :data:`ENCODINGS`) with ``options`` as its parameters.

    Raises
    ------
    ValueError
        For an unknown name, an unknown option or an invalid value.
    """
    if name not in _CLASSES:
        raise ValueError(f"unknown encoding {name!r}; choose one of {list(ENCODINGS)}")
    return _CLASSES[name].from_config(options)


def encoding_from_config(config: Mapping[str, Any]) -> Encoding:
    """Rebuild an encoding from ``{"name": ..., **encoding.config()}``.

    Raises
    ------
    ValueError
        If ``config`` has no known ``name`` or holds invalid parameters.
    """
    if not isinstance(config, Mapping) or "name" not in config:
        raise ValueError(f"an encoding config must be a mapping with a 'name' key, got {config!r}")
    params = dict(config)
    return get_encoding(params.pop("name"), **params)


def save_vocabulary(
    path: str | os.PathLike, vocabulary: Vocabulary, encoding: Encoding | None = None
) -> Path:
    """Write ``vocabulary`` as JSON beside a model, with the encoding's name and config."""
    if encoding is None:
        return vocabulary.save(path)
    return vocabulary.save(path, encoding=encoding.name, config=encoding.config())


def load_vocabulary(path: str | os.PathLike) -> tuple[Vocabulary, Encoding | None]:
    """Read a vocabulary file and rebuild the encoding stored with it (None if it has none).

    Raises
    ------
    ValueError
        If the file is malformed, fails its fingerprint check or names an invalid encoding.
    """
    stored = Vocabulary.load_file(path)
    if stored.encoding is None:
        return stored.vocabulary, None
    try:
        encoding = encoding_from_config({**(stored.config or {}), "name": stored.encoding})
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    return stored.vocabulary, encoding
