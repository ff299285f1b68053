"""Whole experiments as one call each, shared by the notebooks, the CLI and the benchmarks.

:func:`train_lstm_experiment` trains an LSTM on prepared data, scores it and the
n-gram baselines on the test split (the same tokens), and saves a model bundle;
:func:`generate_lstm_set` writes a folder of generated MIDI from a bundle;
:func:`train_gan_experiment` trains the GAN on a corpus's training tunes, scores it with
MuseGAN's metrics against real phrases and saves a GAN bundle.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from musiclib._files import read_json, sha256_bytes, write_json
from musiclib.prepare import Prepared

__all__ = [
    "LSTMResult",
    "train_lstm_experiment",
    "nll_table",
    "generate_lstm_set",
    "format_table",
    "GANResult",
    "train_gan_experiment",
]

BASELINE_ORDERS = (1, 2, 3, 4, 5)
"""n-gram orders scored beside the LSTM (1 = unigram)."""


@dataclass
class LSTMResult:
    """What :func:`train_lstm_experiment` produced."""

    model: Any
    config: Any
    history: dict[str, list]
    table: list[dict[str, Any]]
    bundle_path: Path
    train_seconds: float

    @property
    def best_baseline(self) -> dict[str, Any]:
        """The n-gram row with the lowest test NLL."""
        return min((r for r in self.table if r["order"] is not None), key=lambda r: r["nll"])

    @property
    def model_row(self) -> dict[str, Any]:
        """The trained model's row (``"lstm"`` or ``"transformer"``), the first of the table."""
        return self.table[0]

    @property
    def improvement(self) -> float:
        """Relative test-NLL reduction of the model against the best n-gram (0.2 = 20% lower)."""
        return 1.0 - self.model_row["nll"] / self.best_baseline["nll"]


def _data_hash(prepared: Prepared) -> str:
    ids = "\n".join(prepared.split.train + ("|",) + prepared.split.valid + ("|",) + prepared.split.test)
    return sha256_bytes((prepared.corpus.fingerprint + prepared.vocab.fingerprint + ids).encode())


def nll_table(model, prepared: Prepared, *, orders: Sequence[int] = BASELINE_ORDERS, name: str = "lstm",
              context: int | None = None) -> list[dict[str, Any]]:
    """Test-split NLL (nats/token), perplexity and accuracy of a model and the n-gram baselines.

    ``name`` labels the model's row (first in the table); ``context`` bounds the context
    it is scored with (the Transformer's window; see :func:`musiclib.lm.training.evaluate_nll`).
    """
    import math

    from musiclib.lm.ngram import baseline_table
    from musiclib.lm.training import evaluate_nll

    scores = evaluate_nll(model, prepared.sequences["test"], context=context)
    row = {
        "model": name,
        "order": None,
        "nll": float(scores["nll"]),
        "perplexity": math.exp(float(scores["nll"])),
        "accuracy": float(scores["accuracy"]),
        "tokens": int(scores["tokens"]),
    }
    rows = baseline_table(prepared.sequences["train"], prepared.sequences["test"], vocab_size=len(prepared.vocab),
                          orders=orders)
    return [row, *rows]


def format_table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of NLL rows."""
    lines = ["| model | test NLL (nats/token) | perplexity | accuracy |", "|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['nll']:.3f} | {r['perplexity']:.2f} | {r['accuracy']:.3f} |")
    return "\n".join(lines)


def train_lstm_experiment(
    prepared: Prepared,
    *,
    out_dir: str | Path,
    preset: str = "default",
    epochs: int | None = None,
    seed: int = 0,
    verbose: int = 1,
    architecture: str = "lstm",
    train_stride: int | None = None,
    **overrides: Any,
) -> LSTMResult:
    """Train, evaluate against baselines, and save a bundle under ``out_dir/bundle``.

    ``architecture`` is ``"lstm"`` (presets of :data:`musiclib.lm.lstm.PRESETS`) or
    ``"transformer"`` (:data:`musiclib.lm.transformer.TRANSFORMER_PRESETS`); both train
    with the same :func:`musiclib.lm.training.train`.

    Training state (checkpoints, backups for resuming, history) lives in
    ``out_dir/work``; rerunning after an interruption resumes from the last completed
    epoch. The NLL table is written to ``out_dir/nll_table.json`` and ``.md``.
    ``train_stride`` spaces the training windows (default: the trainer's); a larger stride
    keeps an epoch of augmented data (12 keys) to the steps of an epoch without it.
    ``lead_input=True`` gives an LSTM the lead input (the config's ``lead_track_ids`` and
    ``lead_pitch_ids`` from the vocabulary: :func:`musiclib.lm.lstm.lead_context_ids`).
    ``lookback_bars=(1, 2, 4, 8)`` gives it the lookback input (:mod:`musiclib.lm.lookback`;
    the ``Bar`` token's id comes from the vocabulary).
    """
    from musiclib.lm.architectures import build_model, model_config_for, scoring_context
    from musiclib.lm.bundle import save_bundle
    from musiclib.lm.training import train

    out_dir = Path(out_dir)
    if epochs is not None:
        overrides["epochs"] = epochs
    overrides = {**_bar_token_override(architecture, preset, prepared.vocab, overrides), **overrides}
    if overrides.pop("lead_input", False):
        from musiclib.lm.lstm import lead_context_ids

        overrides.update(lead_context_ids(prepared.vocab))
    config = model_config_for(architecture, preset, len(prepared.vocab), seed=seed, **overrides)
    data_hash = _data_hash(prepared)
    finished = _finished_run(out_dir, config, data_hash, train_stride)
    if finished is not None:
        return finished
    model = build_model(config)
    started = time.perf_counter()
    history = train(model, config, prepared.sequences["train"], prepared.sequences["valid"],
                    out_dir=out_dir / "work", verbose=verbose, train_stride=train_stride)
    train_seconds = time.perf_counter() - started
    table = nll_table(model, prepared, name=architecture, context=scoring_context(config))
    write_json(out_dir / "nll_table.json", table)
    (out_dir / "nll_table.md").parent.mkdir(parents=True, exist_ok=True)
    from musiclib._files import atomic_write

    atomic_write(out_dir / "nll_table.md", format_table(table) + "\n")
    split_path = out_dir / "split.json"
    prepared.split.save(split_path)
    encoding_config = {"name": prepared.encoding.name, **prepared.encoding.config()}
    data_info = {"dataset": str(prepared.config.dataset), "data_hash": data_hash, **prepared.data_info(),
                 **track_info(prepared)}
    metrics = {"test": table, "train_seconds": round(train_seconds, 1), "preset": preset,
               "architecture": architecture, "train_stride": train_stride}
    bundle_path = save_bundle(out_dir / "bundle", model=model, config=config, vocab=prepared.vocab,
                              encoding_config=encoding_config, data_info=data_info, split_path=split_path,
                              metrics=metrics, history=history)
    return LSTMResult(model, config, history, table, Path(bundle_path), train_seconds)


def _finished_run(out_dir: Path, config: Any, data_hash: str, train_stride: int | None) -> LSTMResult | None:
    """The result of a run in ``out_dir`` that already finished with this config, data and stride, else ``None``.

    Training that ends normally removes its backup, so without this a rerun of a finished
    command (say, one killed while exporting) would train again from scratch. A bundle
    with another config or other data is left alone and retrained over.
    """
    import dataclasses

    from musiclib.lm.bundle import BundleError, load_bundle

    bundle_path = out_dir / "bundle"
    metrics_path, table_path = bundle_path / "metrics.json", out_dir / "nll_table.json"
    if not (metrics_path.exists() and table_path.exists()):
        return None
    try:
        bundle = load_bundle(bundle_path)
    except BundleError:
        return None
    if (type(bundle.config) is not type(config) or dataclasses.asdict(bundle.config) != dataclasses.asdict(config)
            or bundle.data_info.get("data_hash") != data_hash or "train_seconds" not in bundle.metrics
            or bundle.metrics.get("train_stride") != train_stride):
        return None
    table = read_json(table_path)
    return LSTMResult(bundle.model, bundle.config, bundle.history, table, bundle_path,
                      float(bundle.metrics["train_seconds"]))


def _bar_token_override(architecture: str, preset: str, vocab: Any, overrides: dict) -> dict[str, int]:
    """``{"bar_token_id": ...}`` when a Transformer with bar positions or an LSTM with the
    lookback input will train, else nothing."""
    from musiclib.encoding.events import BAR_TOKEN
    from musiclib.lm.transformer import TRANSFORMER_PRESETS

    if "bar_token_id" in overrides:
        return {}
    if architecture == "lstm" and overrides.get("lookback_bars"):
        return {"bar_token_id": int(vocab.encode([BAR_TOKEN], strict=True)[0])}
    if architecture != "transformer" or preset not in TRANSFORMER_PRESETS:
        return {}
    if overrides.get("position", TRANSFORMER_PRESETS[preset].get("position")) != "rotary-bars":
        return {}
    return {"bar_token_id": int(vocab.encode([BAR_TOKEN], strict=True)[0])}


def track_info(prepared: Prepared) -> dict[str, Any]:
    """How often each track of the training split overlaps itself, and which tracks are monophonic.

    Saved in a bundle's ``data.json``: constrained sampling
    (:func:`musiclib.lm.sampling.sample_tokens`) keeps ``monophonic_tracks`` to one note at a
    time. Empty for encodings without tracks of events.
    """
    from musiclib.encoding.events import EventEncoding
    from musiclib.encoding.grammar import MONOPHONIC_TOLERANCE, monophonic_tracks, track_overlap

    if not isinstance(prepared.encoding, EventEncoding):
        return {}
    overlap = track_overlap(prepared.encoding, prepared.vocab, prepared.sequences["train"])
    return {"track_overlap": {**overlap, "tolerance": MONOPHONIC_TOLERANCE},
            "monophonic_tracks": monophonic_tracks(overlap)}


def generate_lstm_set(
    bundle, out_dir: str | Path, *, n: int, n_bars: int = 16, temperature: float = 1.0, top_p: float | None = 0.95,
    seed: int = 0, primers: Sequence[Sequence[str]] | None = None, copy_lags: Sequence[int] = (),
    copy_weight: float = 0.0, leap_penalty: float = 0.0,
) -> list[dict[str, Any]]:
    """Write ``n`` generated pieces as ``out_dir/lstm_<i>.mid``; return one record per piece.

    Piece ``i`` uses seed ``seed + i`` (and ``primers[i % len(primers)]`` when given),
    so every file can be regenerated on its own. The pieces are generated as one batch
    (:func:`musiclib.lm.sampling.sample_many`; ``copy_lags`` and ``copy_weight``: its
    bar-copy prior; ``leap_penalty``: its leap prior for the melody).
    """
    from musiclib.io import write_midi
    from musiclib.lm.sampling import sample_many

    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    out_dir = Path(out_dir)
    seeds = [seed + i for i in range(n)]
    piece_primers = [list(primers[i % len(primers)]) for i in range(n)] if primers else None
    sequences = sample_many(bundle, seeds=seeds, primers=piece_primers, n_bars=n_bars, temperature=temperature,
                            top_p=top_p, copy_lags=copy_lags, copy_weight=copy_weight, leap_penalty=leap_penalty)
    records = []
    for i, tokens in enumerate(sequences):
        decoded = bundle.encoding.decode(tokens)
        path = write_midi(decoded.tune, out_dir / f"lstm_{i:03d}.mid")
        records.append({"file": Path(path).name, "tokens": len(tokens), "dropped": int(decoded.dropped),
                        "notes": decoded.tune.n_notes, "seed": seeds[i]})
    write_json(out_dir / "generation.json", {"temperature": temperature, "top_p": top_p, "n_bars": n_bars,
                                             "copy_lags": list(copy_lags), "copy_weight": copy_weight,
                                             "leap_penalty": leap_penalty,
                                             "pieces": records})
    return records


GAN_EVAL_PHRASES = 1000
"""Real and generated phrases compared by :func:`train_gan_experiment`'s metrics table."""


@dataclass
class GANResult:
    """What :func:`train_gan_experiment` produced."""

    gan: Any
    config: Any
    history: dict[str, list]
    table: dict[str, Any]
    bundle_path: Path
    phrases: int
    train_seconds: float


def train_gan_experiment(
    train_tunes: Sequence[Any],
    *,
    out_dir: str | Path,
    dataset: str,
    preset: str = "default",
    epochs: int | None = None,
    seed: int = 0,
    max_phrases: int | None = None,
    n_eval: int = GAN_EVAL_PHRASES,
    data_info: dict[str, Any] | None = None,
    verbose: int = 1,
    overrides: dict[str, Any] | None = None,
    split_path: str | Path | None = None,
) -> GANResult:
    """Train the GAN on every phrase of ``train_tunes``, score it, save a bundle.

    Training state lives in ``out_dir/run`` (a killed run resumes there); the bundle
    goes to ``out_dir/bundle``. The metrics table compares ``n_eval`` generated phrases
    (binarised at 0.5) with as many real training phrases (MuseGAN's EBR, UPC, QN,
    tonal distance and the collapse ratio, :mod:`musiclib.gan.metrics`).

    Parameters
    ----------
    train_tunes
        The training split's tunes (phrases of other meters than the config's ``meters`` are skipped;
        a config of several meters without ``meter_shares`` gets the tunes' shares).
    out_dir
        Run folder.
    dataset
        Name or folder of the corpus, recorded in the bundle.
    preset, epochs, seed
        :func:`musiclib.gan.model.gan_config_for` preset, epochs override (None: the
        preset's) and the seed of weights, data order, noise and evaluation samples.
    max_phrases
        Train on a seeded random subset of this many phrases (None: all).
    n_eval
        Phrases per side in the metrics table.
    data_info
        Extra provenance stored in the bundle (dataset name, corpus fingerprint...).
    verbose
        Keras ``fit`` verbosity.
    overrides
        :class:`~musiclib.gan.model.GANConfig` fields that replace the preset's (a
        recipe's levers: ``{"onsets": True, "n_bars": 16, ...}``).
    split_path
        The ``split.json`` that chose ``train_tunes``, stored in the bundle.
    """
    import numpy as np

    from musiclib.encoding import PianoRollEncoding
    from musiclib.gan import bundle as gan_bundle
    from musiclib.gan import metrics as gan_metrics
    from musiclib.gan import training as gan_training
    from musiclib.gan.model import config_for

    if not isinstance(dataset, str) or not dataset:
        raise ValueError(f"dataset must be a non-empty string (the corpus's name or folder), got {dataset!r}")
    if max_phrases is not None and max_phrases < 1:
        raise ValueError(f"max_phrases must be a positive integer or None, got {max_phrases!r}")
    if n_eval < 1:
        raise ValueError(f"n_eval must be a positive integer, got {n_eval!r}")
    fields: dict[str, Any] = {**(overrides or {}), "seed": seed}
    if epochs is not None:
        fields["epochs"] = epochs
    config = config_for(preset, **fields)
    encoding = PianoRollEncoding()
    config, phrases, conditions = gan_training.training_data(train_tunes, config, encoding,
                                                             max_phrases=max_phrases, seed=seed)
    needed = config.critic_steps * config.batch_size
    if len(phrases) < needed:
        raise ValueError(f"{len(phrases)} training phrases of {config.n_bars} bars; preset {preset!r} needs at "
                         f"least {needed} (critic_steps x batch_size): use a larger corpus")
    out_dir = Path(out_dir)
    started = time.perf_counter()
    result = gan_training.train(config, phrases, out_dir=out_dir / "run", conditions=conditions, verbose=verbose,
                                lowest_pitch=encoding.lowest_pitch)
    train_seconds = time.perf_counter() - started
    rng = np.random.default_rng(seed)
    real = phrases[rng.choice(len(phrases), min(n_eval, len(phrases)), replace=False)][..., : config.n_tracks]
    fake = gan_bundle.binarize(result.gan.generate(n_eval, seed=seed + 1), config=config)[..., : config.n_tracks]
    table = gan_metrics.metrics_table(real, fake, lowest_pitch=encoding.lowest_pitch)
    info = {**(data_info or {}), "dataset": dataset,
            "data_hash": gan_training.phrases_fingerprint(phrases, conditions), "phrases": int(len(phrases))}
    bundle_path = gan_bundle.save_bundle(out_dir / "bundle", gan=result.gan, encoding=encoding,
                                         data_info=info, metrics=table, history=result.history,
                                         meter=config.meters[0], split_path=split_path)
    return GANResult(result.gan, config, result.history, table, Path(bundle_path), int(len(phrases)), train_seconds)
