"""Sets of generated pieces from trained bundles, seeded per piece, for an evaluation table.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Mapping, Sequence

from musiclib.evaluation.baselines import _check_n, _piece_seeds, markov_set, uniform_set
from musiclib.evaluation.features import excerpt
from musiclib.tune import Tune

__all__ = [
    "lstm_set",
    "gan_set",
    "model_sets",
]


def lstm_set(bundle: Any, n: int, *, seed: int, n_bars: int = 16, temperature: float = 1.0,
             top_p: float | None = 0.95, constrained: bool = True, copy_lags: Sequence[int] = (),
             copy_weight: float = 0.0, leap_penalty: float = 0.0) -> list[Tune]:
    """``n`` pieces of ``n_bars`` bars sampled from a token-model bundle (LSTM or Transformer;
    from ``BOS``, as one batch), decoded.

    ``constrained`` samples under the event grammar; ``copy_lags`` and ``copy_weight``
    set the bar-copy prior, ``leap_penalty`` the melody's leap prior (see
    :func:`musiclib.lm.sampling.sample_tokens`).
    """
    from musiclib.lm.bundle import load_bundle
    from musiclib.lm.sampling import sample_many

    if not hasattr(bundle, "model"):
        bundle = load_bundle(bundle)
    sequences = sample_many(bundle, seeds=_piece_seeds(seed, n), n_bars=n_bars, temperature=temperature,
                            top_p=top_p, constrained=constrained, copy_lags=copy_lags, copy_weight=copy_weight,
                            leap_penalty=leap_penalty)
    return [bundle.encoding.decode(tokens).tune for tokens in sequences]


_VARIANT_OPTIONS = frozenset({"temperature", "top_p", "constrained", "copy_lags", "copy_weight", "leap_penalty"})


def _variant_maker(row: str, options: dict[str, Any], bundles: Mapping[str, Any], *, n: int, n_bars: int,
                   defaults: Mapping[str, Any]) -> Callable[[int], list[Tune]]:
    """``seed -> tunes`` for one row of :func:`model_sets`'s ``variants``; ``ValueError`` naming what is wrong."""
    model = options.pop("model", None)
    if row in (*bundles, "GAN", "Markov", "uniform"):
        raise ValueError(f"variant {row!r}: the table already has a row of that name")
    if model not in bundles:
        raise ValueError(f"variant {row!r}: 'model' must be one of {sorted(bundles)}, got {model!r}")
    if bundles[model] is None:
        raise ValueError(f"variant {row!r} samples the {model}, but no {model} bundle was given")
    unknown = sorted(set(options) - _VARIANT_OPTIONS)
    if unknown:
        raise ValueError(f"variant {row!r}: unknown options {unknown}; allowed: {sorted(_VARIANT_OPTIONS)}")
    merged = {**defaults, **options}
    return lambda seed: lstm_set(bundles[model], n, seed=seed, n_bars=n_bars, **merged)


def gan_set(
    bundle: Any, n: int, *, seed: int, phrases_per_piece: int = 4, threshold: float = 0.5
) -> list[Tune]:
    """``n`` pieces from a GAN bundle, each ``phrases_per_piece`` generated phrases played in a row.

    The GAN makes fixed-length phrases (16 bars for the default preset, 4 for the
    ``roll`` and ``paper`` baselines); joining independently sampled phrases gives
    pieces as long as the other sets' (16 bars from four 4-bar phrases). Cells are on
    above ``threshold`` (a monophonic melody takes its most likely pitch). See
    :func:`musiclib.gan.bundle.generate_tunes`.
    """
    from musiclib.gan.bundle import generate_tunes

    _check_n(n)
    return generate_tunes(bundle, n=int(n), seed=seed, threshold=threshold,
                              phrases_per_piece=phrases_per_piece)


def model_sets(
    *,
    lstm: Any = None,
    gan: Any = None,
    transformer: Any = None,
    training: Sequence[Tune],
    reference: Sequence[Tune],
    n: int,
    seeds: Iterable[int],
    n_bars: int = 16,
    top_p: float | None = 0.95,
    temperature: float = 1.0,
    constrained: bool = True,
    copy_lags: Sequence[int] = (),
    copy_weight: float = 0.0,
    leap_penalty: float = 0.0,
    markov_top_p: float | None = None,
    variants: Mapping[str, Mapping[str, Any]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[dict[str, list[list[Tune]]], dict[str, list[float]]]:
    """The sets of the standard table: LSTM, Transformer, GAN, Markov and uniform, one set per seed.

    Parameters
    ----------
    lstm, gan, transformer
        Bundles (or their folders); a row is left out when its bundle is None. The
        Transformer samples with the LSTM's settings.
    training
        Training tunes: the Markov chain is fitted on them (with the LSTM bundle's
        encoding and vocabulary when there is one, so both model the same tokens).
    reference
        Held-out tunes: the uniform pieces copy their shapes (cut to ``n_bars`` bars).
    n
        Pieces per set.
    seeds
        One set per seed for every row.
    n_bars
        Bars per piece (GAN: as many of its phrases in a row as fit, at least one).
    top_p
        Nucleus sampling for the LSTM and the Transformer (and the Markov chain unless
        ``markov_top_p`` is given).
    temperature, constrained
        The LSTM's sampling temperature, and whether it samples under the event
        grammar (the Markov chain never does: it is the floor of token statistics).
    copy_lags, copy_weight, leap_penalty
        The LSTM's and the Transformer's bar-copy and leap priors (:func:`lstm_set`;
        the defaults sample the model alone).
    markov_top_p
        Nucleus sampling for the Markov chain; ``None`` uses ``top_p``. Lets a model
        sample at the setting chosen for it on validation while the baseline keeps the
        benchmark protocol's.
    variants
        More rows of the LSTM or the Transformer sampled otherwise: row name to
        ``{"model": "LSTM" or "Transformer", **options}``, the options of :func:`lstm_set`
        (``temperature``, ``top_p``, ``constrained``, ``copy_lags``, ``copy_weight``, ``leap_penalty``) that
        replace this call's, e.g. the setting a recipe chose on validation.
    progress
        Called with one line per set made.

    Returns
    -------
    tuple
        ``(sets, seconds)``: row name to one list of tunes per seed, and the seconds
        each set took to make.
    """
    from musiclib.gan.bundle import load_bundle as load_gan_bundle
    from musiclib.lm.bundle import load_bundle

    _check_n(n)
    say = progress or (lambda message: None)
    if lstm is not None and not hasattr(lstm, "model"):
        lstm = load_bundle(lstm)
    if transformer is not None and not hasattr(transformer, "model"):
        transformer = load_bundle(transformer)
    if gan is not None and not hasattr(gan, "generate"):
        gan = load_gan_bundle(gan)
    shapes = [excerpt(tune, n_bars=n_bars) for tune in reference]
    makers: dict[str, Callable[[int], list[Tune]]] = {}
    sampling = {"top_p": top_p, "temperature": temperature, "constrained": constrained, "copy_lags": tuple(copy_lags),
                "copy_weight": copy_weight, "leap_penalty": leap_penalty}
    for name, bundle in (("LSTM", lstm), ("Transformer", transformer)):
        if bundle is not None:
            makers[name] = lambda seed, bundle=bundle: lstm_set(bundle, n, seed=seed, n_bars=n_bars, **sampling)
    for row, options in (variants or {}).items():
        makers[row] = _variant_maker(row, dict(options), {"LSTM": lstm, "Transformer": transformer}, n=n,
                                     n_bars=n_bars, defaults=sampling)
    if gan is not None:
        per_piece = max(n_bars // gan.config.n_bars, 1)
        makers["GAN"] = lambda seed: gan_set(gan, n, seed=seed, phrases_per_piece=per_piece)
    tokens = {"encoding": lstm.encoding, "vocab": lstm.vocab} if lstm is not None else {}
    chain_top_p = top_p if markov_top_p is None else markov_top_p
    makers["Markov"] = lambda seed: markov_set(training, n, seed=seed, n_bars=n_bars, top_p=chain_top_p, **tokens)
    makers["uniform"] = lambda seed: uniform_set(shapes, n, seed=seed)
    sets: dict[str, list[list[Tune]]] = {name: [] for name in makers}
    seconds: dict[str, list[float]] = {name: [] for name in makers}
    for seed in seeds:
        for name, make in makers.items():
            started = time.perf_counter()
            sets[name].append(make(int(seed)))
            seconds[name].append(round(time.perf_counter() - started, 2))
            say(f"seed {seed}: {n} {name} pieces in {seconds[name][-1]:.1f} s")
    if not all(sets.values()):
        raise ValueError("seeds is empty: give at least one seed")
    return sets, seconds
