"""Baseline sets that calibrate an evaluation table.

:func:`markov_set` samples a first-order Markov chain over the LSTM's event tokens and
:func:`uniform_set` uniform-random notes shaped like the reference pieces: a model has
to beat both to have learnt more than token frequencies.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from musiclib.tune import Track, Tune, make_notes

__all__ = [
    "markov_set",
    "uniform_set",
    "uniform_random_tune",
]


def _check_n(n: int) -> None:
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")


def _piece_seeds(seed: int, n: int) -> list[int]:
    _check_n(n)
    return [int(s) for s in np.random.default_rng(seed).integers(0, 2**31 - 1, size=n)]


def _token_set(parts: Any, encoding: Any, n: int, *, seed: int, n_bars: int, **sampling: Any) -> list[Tune]:
    """``n`` pieces sampled from a token model and decoded (piece ``i`` has its own seed)."""
    from musiclib.lm.sampling import sample_tokens

    tunes = []
    for piece_seed in _piece_seeds(seed, n):
        tokens = sample_tokens(parts, n_bars=n_bars, seed=piece_seed, **sampling)
        tunes.append(encoding.decode(tokens).tune)
    return tunes


def markov_set(
    training: Any, n: int, *, seed: int, n_bars: int = 16, encoding: Any = None, vocab: Any = None,
    top_p: float | None = None,
) -> list[Tune]:
    """``n`` pieces from a first-order Markov chain over event tokens, fitted on ``training``.

    Parameters
    ----------
    training
        A :class:`~musiclib.prepare.Prepared` (its training token ids, vocabulary and
        encoding: the same tokens as the LSTM) or training tunes.
    n
        Number of pieces.
    seed
        Seed of the set (piece seeds are drawn from it).
    n_bars
        Bars per piece, generated from ``BOS``. ``EOS`` is never sampled: a chain
        that remembers one token cannot know when a tune is over and would stop at
        random (a third of its pieces within four bars), which would compare pieces
        of other lengths than the LSTM's (whose 16-bar pieces rarely end earlier).
    encoding, vocab
        For training tunes: the token encoding and vocabulary (e.g. an LSTM
        bundle's); default the ``events`` encoding and its vocabulary.
    top_p
        Nucleus sampling, as for the LSTM (None: the chain's whole distribution).

    Returns
    -------
    list of Tune
        The chain is :class:`~musiclib.lm.ngram.NGramModel` of order 2 (the next
        token depends on the previous one; interpolated Kneser-Ney smoothing),
        sampled by :func:`~musiclib.lm.sampling.sample_tokens` without the grammar
        (``constrained=False``): the floor of what token statistics alone give; the
        decoder repairs its ill-formed tokens.
    """
    from musiclib.lm.ngram import NGramModel
    from musiclib.lm.sampling import ModelParts

    if hasattr(training, "sequences") and hasattr(training, "vocab"):
        encoding, vocab, sequences = training.encoding, training.vocab, training.sequences["train"]
    else:
        if encoding is None:
            from musiclib.encoding import get_encoding

            encoding = get_encoding("events")
        vocab = encoding.vocabulary() if vocab is None else vocab
        sequences = [vocab.encode(encoding.encode(tune)) for tune in training]
    if not len(sequences):
        raise ValueError("markov_set needs at least one training piece")
    model = _WithoutEnd(NGramModel(order=2).fit(sequences, vocab_size=len(vocab)), vocab.id("EOS"))
    parts = ModelParts(model, vocab, None, encoding)
    return _token_set(parts, encoding, n, seed=seed, n_bars=n_bars, top_p=top_p, constrained=False)


class _WithoutEnd:
    """A next-token model that never ends the piece: ``end_id``'s probability moved onto the others.

    Distributions are cached by the last ``order - 1`` context ids, the only ones an
    n-gram model reads (a first-order chain has one distribution per token).
    """

    def __init__(self, model: Any, end_id: int) -> None:
        self.model, self.end_id = model, int(end_id)
        self._cache: dict[tuple[int, ...], np.ndarray] = {}

    def distribution(self, context: Sequence[int]) -> np.ndarray:
        key = tuple(int(i) for i in context[-(self.model.order - 1):]) if len(context) >= self.model.order - 1 else None
        if key is not None and key in self._cache:
            return self._cache[key]
        probs = np.array(self.model.distribution(context), dtype=np.float64)
        probs[self.end_id] = 0.0
        probs /= probs.sum()
        if key is not None:
            self._cache[key] = probs
        return probs


def uniform_set(reference: Sequence[Tune], n: int, *, seed: int, grid: float = 0.5) -> list[Tune]:
    """``n`` pieces of uniform-random notes, piece ``i`` shaped like ``reference[i % len(reference)]``.

    See :func:`musiclib.evaluation.uniform_random_tune` (each track's note count,
    pitch range and durations kept; pitches and onsets on a ``grid`` drawn uniformly).
    """
    from musiclib.evaluation.baselines import uniform_random_tune

    if not len(reference):
        raise ValueError("uniform_set needs at least one reference piece")
    _check_n(n)
    rng = np.random.default_rng(seed)
    return [uniform_random_tune(reference[i % len(reference)], rng=rng, grid=grid) for i in range(n)]


def uniform_random_tune(like: Tune, *, rng: np.random.Generator, grid: float = 0.5) -> Tune:
    """A stand-in with no musical structure, shaped like ``like``: uniform random notes.

    Each pitched track of ``like`` is replaced by as many notes with pitches drawn
    uniformly from that track's own pitch range, onsets drawn uniformly from a grid of
    ``grid`` quarter notes over the tune's length, and the track's own durations in a
    random order. Tempo, meter, programs and title (prefixed) are kept; drum tracks are
    dropped. Rendered, it has the density, register and length of real music and none
    of its melody, harmony or rhythm: a floor for set-level comparisons.

    Parameters
    ----------
    like
        The tune whose shape is copied.
    rng
        Source of randomness.
    grid
        Onset grid in quarter notes (> 0).

    Returns
    -------
    Tune
    """
    if not grid > 0:
        raise ValueError(f"grid must be positive, got {grid!r}")
    slots = max(int(like.end / grid), 1)
    tracks = []
    for track in like.tracks:
        if track.is_drum or not len(track.notes):
            continue
        n = len(track.notes)
        low, high = int(track.notes["pitch"].min()), int(track.notes["pitch"].max())
        notes = make_notes(
            rng.integers(0, slots, size=n) * grid,
            rng.permutation(track.notes["duration"]),
            rng.integers(low, high + 1, size=n),
            track.notes["velocity"],
        )
        tracks.append(Track(notes=notes, name=track.name, program=track.program))
    if not tracks:
        raise ValueError("the tune has no pitched notes to imitate")
    return like.replace(tracks=tuple(tracks), title=f"uniform random notes ({like.title})", source="")
