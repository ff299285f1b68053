"""Token vocabularies: an immutable list of token strings and their integer ids.

A :class:`Vocabulary` maps token strings to the integer ids a model sees. The four
special tokens come first, so their ids are the same in every vocabulary:
``PAD`` (0, padding), ``BOS`` (1, begin of sequence), ``EOS`` (2, end of sequence)
and ``UNK`` (3, any token the vocabulary does not hold).

A vocabulary is saved as JSON beside every model (:meth:`Vocabulary.save`) together
with the name and configuration of the encoding that produced its tokens, and a
SHA-256 ``fingerprint`` of the token list, so that a model is never paired with a
vocabulary other than the one it was trained with.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

import numpy as np

from musiclib._files import read_json, write_json

__all__ = [
    "PAD",
    "BOS",
    "EOS",
    "UNK",
    "SPECIAL_TOKENS",
    "VOCABULARY_FORMAT",
    "Vocabulary",
    "VocabularyFile",
]

PAD = "PAD"
BOS = "BOS"
EOS = "EOS"
UNK = "UNK"
SPECIAL_TOKENS: tuple[str, ...] = (PAD, BOS, EOS, UNK)
"""The special tokens, in id order: they open every vocabulary."""

VOCABULARY_FORMAT = 1
"""Version of the JSON layout written by :meth:`Vocabulary.save`."""

_FORMAT_KEY = "format"
_KIND_KEY = "kind"
_KIND = "musiclib.vocabulary"
_ERROR_PREVIEW = 5  # unknown tokens named in a strict-mode error message


class VocabularyFile(NamedTuple):
    """What a vocabulary file holds: the vocabulary and the encoding it belongs to."""

    vocabulary: "Vocabulary"
    encoding: str | None
    config: dict[str, Any] | None


def _fingerprint(tokens: Sequence[str]) -> str:
    payload = json.dumps(list(tokens), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class Vocabulary:
    """An immutable, ordered list of distinct token strings.

    Parameters
    ----------
    tokens
        Every token, in id order. Must start with :data:`SPECIAL_TOKENS` and hold no
        duplicates; use :meth:`from_tokens` to have the specials added for you.

    Raises
    ------
    ValueError
        If the specials are missing or misplaced, a token is not a non-empty string,
        or a token appears twice.
    """

    __slots__ = ("_tokens", "_token_to_id", "_fingerprint")

    def __init__(self, tokens: Iterable[str]) -> None:
        tokens = tuple(tokens)
        if tokens[: len(SPECIAL_TOKENS)] != SPECIAL_TOKENS:
            raise ValueError(
                f"tokens must start with the special tokens {list(SPECIAL_TOKENS)}, got {list(tokens[:4])}"
            )
        for token in tokens:
            if not isinstance(token, str) or not token:
                raise ValueError(f"tokens must be non-empty strings, got {token!r}")
        mapping = {token: i for i, token in enumerate(tokens)}
        if len(mapping) != len(tokens):
            duplicates = sorted(t for t, n in Counter(tokens).items() if n > 1)
            raise ValueError(f"tokens must be distinct; duplicated: {duplicates[:_ERROR_PREVIEW]}")
        self._tokens = tokens
        self._token_to_id = MappingProxyType(mapping)
        self._fingerprint = _fingerprint(tokens)

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_tokens(cls, tokens: Iterable[str]) -> "Vocabulary":
        """A vocabulary of the specials followed by ``tokens`` in the given order.

        Duplicates and any special tokens inside ``tokens`` are skipped.
        """
        seen = set(SPECIAL_TOKENS)
        ordered = list(SPECIAL_TOKENS)
        for token in tokens:
            if token not in seen:
                seen.add(token)
                ordered.append(token)
        return cls(ordered)

    @classmethod
    def from_sequences(cls, sequences: Iterable[Iterable[str]], *, min_count: int = 1) -> "Vocabulary":
        """A vocabulary of every token seen at least ``min_count`` times in ``sequences``.

        The tokens are sorted as strings after the specials, so the result does not
        depend on the order of the corpus.

        Raises
        ------
        ValueError
            If ``min_count`` is below 1.
        """
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"min_count must be an integer >= 1, got {min_count!r}")
        counts: Counter[str] = Counter()
        for sequence in sequences:
            counts.update(sequence)
        kept = sorted(t for t, n in counts.items() if n >= min_count and t not in SPECIAL_TOKENS)
        return cls(SPECIAL_TOKENS + tuple(kept))

    # ------------------------------------------------------------------ lookups

    @property
    def tokens(self) -> tuple[str, ...]:
        """All tokens in id order."""
        return self._tokens

    @property
    def token_to_id(self) -> Mapping[str, int]:
        """Read-only mapping from token to id."""
        return self._token_to_id

    @property
    def fingerprint(self) -> str:
        """Hex SHA-256 of the token list (its JSON form), identifying the vocabulary."""
        return self._fingerprint

    @property
    def pad_id(self) -> int:
        """Id of ``PAD`` (always 0)."""
        return self._token_to_id[PAD]

    @property
    def bos_id(self) -> int:
        """Id of ``BOS``."""
        return self._token_to_id[BOS]

    @property
    def eos_id(self) -> int:
        """Id of ``EOS``."""
        return self._token_to_id[EOS]

    @property
    def unk_id(self) -> int:
        """Id of ``UNK``."""
        return self._token_to_id[UNK]

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._token_to_id

    def __iter__(self):
        return iter(self._tokens)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocabulary):
            return NotImplemented
        return self._tokens == other._tokens

    def __hash__(self) -> int:
        return hash(self._tokens)

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} tokens, fingerprint={self._fingerprint[:12]})"

    def id(self, token: str) -> int:
        """The id of ``token``.

        Raises
        ------
        KeyError
            If the vocabulary does not hold ``token``.
        """
        try:
            return self._token_to_id[token]
        except KeyError:
            raise KeyError(f"token {token!r} is not in the vocabulary") from None

    def encode(self, tokens: Iterable[str], *, strict: bool = False) -> np.ndarray:
        """Ids of ``tokens`` as an ``int32`` array.

        Parameters
        ----------
        tokens
            Token strings.
        strict
            If true, raise on a token the vocabulary does not hold instead of mapping
            it to ``UNK``.

        Raises
        ------
        ValueError
            With ``strict=True``, naming the unknown tokens.
        """
        tokens = tokens if isinstance(tokens, (list, tuple)) else list(tokens)
        lookup = self._token_to_id.get
        unk = self.unk_id
        ids = np.fromiter((lookup(t, unk) for t in tokens), dtype=np.int32, count=len(tokens))
        if strict:
            unknown = [t for t in tokens if t not in self._token_to_id]
            if unknown:
                preview = sorted(set(unknown))[:_ERROR_PREVIEW]
                raise ValueError(f"{len(unknown)} tokens are not in the vocabulary, e.g. {preview}")
        return ids

    def decode(self, ids: Iterable[int] | np.ndarray) -> list[str]:
        """Token strings of ``ids``.

        Raises
        ------
        ValueError
            If an id is outside ``0 .. len(self) - 1`` (ids from a model over this
            vocabulary never are, so this signals a vocabulary mismatch).
        """
        array = np.asarray(ids if isinstance(ids, np.ndarray) else list(ids), dtype=np.int64).ravel()
        if array.size and (array.min() < 0 or array.max() >= len(self._tokens)):
            bad = array[(array < 0) | (array >= len(self._tokens))]
            preview = bad[:_ERROR_PREVIEW].tolist()
            raise ValueError(f"ids must be in 0..{len(self._tokens) - 1}, got {preview}")
        table = self._tokens
        return [table[i] for i in array.tolist()]

    # ------------------------------------------------------------------ persistence

    def to_dict(
        self, *, encoding: str | None = None, config: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """A JSON-able dict of the vocabulary, with the encoding's name and config when given."""
        return {
            _KIND_KEY: _KIND,
            _FORMAT_KEY: VOCABULARY_FORMAT,
            "encoding": encoding,
            "config": None if config is None else dict(config),
            "size": len(self._tokens),
            "fingerprint": self._fingerprint,
            "tokens": list(self._tokens),
        }

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "vocabulary") -> "Vocabulary":
        """Rebuild a vocabulary from :meth:`to_dict` output, validating it.

        Raises
        ------
        ValueError
            If ``data`` is malformed, of an unknown format, or its fingerprint does
            not match its tokens.
        """
        return cls.parse(data, source=source).vocabulary

    @classmethod
    def parse(cls, data: Any, *, source: str = "vocabulary") -> VocabularyFile:
        """Validate :meth:`to_dict` output; return the vocabulary, encoding name and config.

        Raises
        ------
        ValueError
            If ``data`` is malformed, of an unknown format, or its fingerprint does
            not match its tokens.
        """
        if not isinstance(data, dict):
            raise ValueError(f"{source}: expected a JSON object, got {type(data).__name__}")
        if data.get(_KIND_KEY) != _KIND:
            kind = data.get(_KIND_KEY)
            raise ValueError(f"{source}: not a musiclib vocabulary ({_KIND_KEY!r} is {kind!r})")
        if data.get(_FORMAT_KEY) != VOCABULARY_FORMAT:
            found = data.get(_FORMAT_KEY)
            raise ValueError(
                f"{source}: unsupported vocabulary format {found!r} (supported: {VOCABULARY_FORMAT})"
            )
        tokens = data.get("tokens")
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise ValueError(f"{source}: 'tokens' must be a list of strings")
        fingerprint = data.get("fingerprint")
        if not isinstance(fingerprint, str):
            raise ValueError(f"{source}: 'fingerprint' is missing")
        if _fingerprint(tokens) != fingerprint:
            raise ValueError(f"{source}: fingerprint mismatch (the token list was changed after saving)")
        if "size" in data and data["size"] != len(tokens):
            raise ValueError(f"{source}: 'size' is {data['size']!r} but {len(tokens)} tokens are listed")
        encoding = data.get("encoding")
        config = data.get("config")
        if encoding is not None and not isinstance(encoding, str):
            raise ValueError(f"{source}: 'encoding' must be a string or null")
        if config is not None and not isinstance(config, dict):
            raise ValueError(f"{source}: 'config' must be an object or null")
        try:
            vocabulary = cls(tokens)
        except ValueError as error:
            raise ValueError(f"{source}: {error}") from None
        return VocabularyFile(vocabulary, encoding, config)

    def save(
        self,
        path: str | os.PathLike,
        *,
        encoding: str | None = None,
        config: Mapping[str, Any] | None = None,
        encoding_config: Mapping[str, Any] | None = None,
    ) -> Path:
        """Write the vocabulary as JSON, atomically.

        Parameters
        ----------
        path
            Destination, conventionally ``vocab.json`` beside the model.
        encoding, config
            Name and ``config()`` of the encoding whose tokens these are.
        encoding_config
            Another name for ``config`` (give one or the other).

        Returns
        -------
        Path
            The path written.

        Raises
        ------
        ValueError
            If both ``config`` and ``encoding_config`` are given.
        """
        if config is not None and encoding_config is not None:
            raise ValueError("give the encoding's config as config or encoding_config, not both")
        config = encoding_config if config is None else config
        return write_json(path, self.to_dict(encoding=encoding, config=config))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Vocabulary":
        """Read a vocabulary written by :meth:`save`.

        Raises
        ------
        ValueError
            If the file is not valid JSON, is malformed, or fails its fingerprint check.
        """
        return cls.load_file(path).vocabulary

    @classmethod
    def load_file(cls, path: str | os.PathLike) -> VocabularyFile:
        """Read a vocabulary file with the encoding name and config stored beside it.

        Raises
        ------
        ValueError
            If the file is not valid JSON, is malformed, or fails its fingerprint check.
        """
        try:
            data = read_json(path)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON ({error})") from None
        except UnicodeDecodeError as error:
            raise ValueError(f"{path}: not UTF-8 text ({error.reason})") from None
        return cls.parse(data, source=str(path))
