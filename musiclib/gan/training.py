"""Train the piano-roll GAN, save and load GAN bundles, and write generated MIDI.

Data
    :func:`phrases_from_tunes` cuts tunes into boolean phrases of whole bars with
    :meth:`PianoRollEncoding.bars`; :func:`make_dataset` serves them as ``float32``
    batches of ``critic_steps * batch_size`` phrases (one slice per critic update), in
    an order that is a pure function of ``(seed, epoch)``.
Training
    :func:`train` builds the networks, compiles :class:`~musiclib.gan.model.MusicGAN`
    and runs ``fit`` with Keras's ``BackupAndRestore`` (a killed run continues from its
    last completed epoch), atomic checkpoints of both networks, a per-epoch history with
    the losses, MuseGAN's metrics of freshly generated phrases and the collapse ratio
    (``history.json`` and ``history.csv``), and sample grids (PNG) every
    ``sample_every`` epochs.
Bundles
    :func:`save_bundle` / :func:`load_bundle`: one folder with ``generator.keras``,
    ``critic.keras``, ``config.json`` (the :class:`GANConfig` and the piano-roll encoding),
    ``data.json``, ``metrics.json`` and ``history.json``; models load with
    ``safe_mode=True`` and their shapes are checked against the config.
Generation
    :func:`generate_midi` writes binarised phrases as MIDI files (consecutive active
    steps of a pitch become one note), atomically.

A run folder (``out_dir`` of :func:`train`) holds::

    history.json, history.csv         one row per epoch, rewritten atomically
    checkpoints/generator.keras       the networks after the last completed epoch
    checkpoints/critic.keras
    samples/epoch_001.png ...         piano-roll grids of the same latent vectors each time
    backup/                           BackupAndRestore's state while training (removed at the end)
"""

from __future__ import annotations

import hashlib
import os
import time
import warnings
from pathlib import Path
from typing import Any, Iterable, NamedTuple, Sequence

import numpy as np

from musiclib import _tf
from musiclib._files import json_ready as _json_ready
from musiclib._files import read_json
from musiclib._keras import (
    HISTORY_CSV,
    _save_keras_atomically,
    atomic_backup_and_restore,
    epoch_summary,
    resume_point,
    write_history,
)
from musiclib.gan import metrics as gan_metrics
from musiclib.gan.bundle import CRITIC_FILE, GENERATOR_FILE, HISTORY_FILE, binarize
from musiclib.gan.model import GANConfig, MusicGAN, build_critic, build_generator

__all__ = [
    "phrases_from_tunes",
    "conditioned_phrases",
    "tune_meter_shares",
    "tune_key_shift_shares",
    "training_data",
    "phrases_fingerprint",
    "make_dataset",
    "train",
    "GANTrainingResult",
    "save_sample_grid",
    "HISTORY_CSV",
    "CHECKPOINT_DIR",
    "BACKUP_DIR",
    "SAMPLES_DIR",
]


CHECKPOINT_DIR = "checkpoints"
BACKUP_DIR = "backup"
SAMPLES_DIR = "samples"
SUMMARY_KEYS = ("d_loss", "g_loss", "gp", "collapse")
"""Logged values that ``train(verbose=2)`` prints per epoch (critic and generator losses,
gradient penalty, collapse ratio of generated phrases)."""
_EVAL_SEED_OFFSET = 7919  # the per-epoch metrics use latent vectors apart from training noise
_GRID_SEED_OFFSET = 104729  # the sample grids show the same latent vectors every epoch
_GRID_PHRASES = 4
_REAL_REFERENCE_BARS = 2000
_PHRASE_DIMS = 5


def phrases_from_tunes(
    tunes: Iterable[Any],
    encoding: Any = None,
    *,
    n_bars: int = 4,
    hop_bars: int = 1,
    meter: tuple[int, int] = (4, 4),
    onsets: bool = False,
) -> np.ndarray:
    """Boolean phrases ``(n, n_bars, steps_per_bar, pitches, tracks)`` from tunes.

    Each tune is cut by :meth:`PianoRollEncoding.bars` (only runs of bars in ``meter``;
    a phrase starts every ``hop_bars`` bars). ``encoding`` defaults to
    ``PianoRollEncoding()`` (sixteenths, 84 pitches from C1, 2 tracks). ``onsets``
    appends one onset channel per track (``2 * tracks`` channels; ``GANConfig.onsets``).
    """
    from musiclib.encoding import PianoRollEncoding

    encoding = PianoRollEncoding() if encoding is None else encoding
    parts = [encoding.bars(tune, bars_per_sample=n_bars, hop_bars=hop_bars, meter=meter, onsets=onsets)
             for tune in tunes]
    parts = [p for p in parts if len(p)]
    if not parts:
        steps = encoding.steps_per_bar(meter)
        channels = encoding.n_tracks * (2 if onsets else 1)
        return np.zeros((0, n_bars, steps, encoding.n_pitches, channels), dtype=bool)
    return np.concatenate(parts)


def conditioned_phrases(tunes: Iterable[Any], config: GANConfig, encoding: Any = None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Phrases of every meter of ``config.meters``, with their conditions.

    Each tune is cut by :meth:`PianoRollEncoding.bars` once per meter (only runs of
    bars in that meter; a phrase every ``config.hop_bars`` bars); a shorter bar fills
    the first steps of the ``config.steps_per_bar`` grid and leaves the rest silent. A
    phrase *opens* its tune when its first bar is the tune's first bar.

    Returns
    -------
    tuple
        ``(phrases, conditions, meter_index)``: boolean ``(n, *config.phrase_shape)``,
        ``float32`` ``(n, config.n_conditions)`` (:func:`~musiclib.gan.model.conditions_for`)
        and each phrase's index into ``config.meters``, tune by tune.
    """
    from musiclib.encoding import PianoRollEncoding
    from musiclib.gan.model import conditions_for

    encoding = PianoRollEncoding() if encoding is None else encoding
    phrases, meter_index, opening = [], [], []
    for tune in tunes:
        for index, (meter, steps) in enumerate(zip(config.meters, config.meter_steps)):
            cut, first_bars = encoding.bars(tune, bars_per_sample=config.n_bars, hop_bars=config.hop_bars,
                                            meter=meter, onsets=config.onsets, with_starts=True)
            if not len(cut):
                continue
            if cut.shape[2] != steps:
                raise ValueError(f"the encoding gives {cut.shape[2]} steps to a {meter[0]}/{meter[1]} bar, the "
                                 f"GANConfig {steps}; they must match")
            padded = np.zeros((len(cut), *config.phrase_shape), dtype=bool)
            padded[:, :, :steps] = cut
            phrases.append(padded)
            meter_index.append(np.full(len(cut), index, dtype=np.int64))
            opening.append(first_bars == 0)
    if not phrases:
        return (np.zeros((0, *config.phrase_shape), dtype=bool), np.zeros((0, config.n_conditions), np.float32),
                np.zeros(0, dtype=np.int64))
    meter_index = np.concatenate(meter_index)
    return np.concatenate(phrases), conditions_for(config, meter_index, np.concatenate(opening)), meter_index


def training_data(tunes: Iterable[Any], config: GANConfig, encoding: Any = None, *,
                  max_phrases: int | None = None, seed: int = 0
                  ) -> tuple[GANConfig, np.ndarray, np.ndarray | None]:
    """What ``config`` trains on: its phrases, their conditions, and the config to train.

    One meter and no condition: :func:`phrases_from_tunes` in that meter. Otherwise
    :func:`conditioned_phrases`, and a config of several meters without
    ``meter_shares`` gets the tunes' (:func:`tune_meter_shares`), so generated pieces
    come in the corpus's mix of meters. With ``key_of_c`` the phrases come from the tunes
    moved to C major / A minor, and a config without ``key_shift_shares`` gets the tunes'
    (:func:`tune_key_shift_shares`), so generated pieces come in the corpus's keys.

    Parameters
    ----------
    max_phrases
        Keep a random subset of this many phrases, in their order (None: all).
    seed
        Seed of that subset.

    Returns
    -------
    tuple
        ``(config, phrases, conditions)``; ``conditions`` is None for an
        unconditional config.
    """
    tunes = list(tunes)
    conditions = None
    if config.key_of_c:
        from musiclib.encoding import transpose_to_c

        if not config.key_shift_shares:
            config = config.replace(key_shift_shares=tune_key_shift_shares(tunes))
        tunes = [transpose_to_c(tune) for tune in tunes]
    if config.n_conditions or len(config.meters) > 1:
        if len(config.meters) > 1 and not config.meter_shares:
            config = config.replace(meter_shares=tune_meter_shares(tunes, config, encoding))
        phrases, conditions, _ = conditioned_phrases(tunes, config, encoding)
        conditions = conditions if config.n_conditions else None
    else:
        phrases = phrases_from_tunes(tunes, encoding, n_bars=config.n_bars, hop_bars=config.hop_bars,
                                     meter=config.meters[0], onsets=config.onsets)
    if max_phrases is not None and len(phrases) > max_phrases:
        keep = np.sort(np.random.default_rng(seed).choice(len(phrases), max_phrases, replace=False))
        phrases = phrases[keep]
        conditions = None if conditions is None else conditions[keep]
    return config, phrases, conditions


def tune_meter_shares(tunes: Iterable[Any], config: GANConfig, encoding: Any = None) -> tuple[float, ...]:
    """Share of the tunes that open in each of ``config.meters`` (``GANConfig.meter_shares``).

    A tune counts for the meter of its first bar, when that meter is one of the
    config's; the shares are of the tunes counted.
    """
    from musiclib.encoding._base import signatures_or_default

    counts = np.zeros(len(config.meters))
    for tune in tunes:
        first = signatures_or_default(tune)[0]
        meter = (first.numerator, first.denominator)
        if meter in config.meters:
            counts[config.meters.index(meter)] += 1
    if not counts.sum():
        raise ValueError(f"no tune opens in one of the GANConfig's meters {list(config.meters)}")
    return tuple(float(v) for v in counts / counts.sum())


def tune_key_shift_shares(tunes: Iterable[Any]) -> tuple[float, ...]:
    """Share of the tunes whose key lies each shift of :data:`~musiclib.gan.model.KEY_SHIFTS`
    semitones up from C major / A minor (``GANConfig.key_shift_shares``); a tune without a key
    counts as C."""
    from musiclib.encoding import semitones_to_c
    from musiclib.gan.model import KEY_SHIFTS

    counts = np.zeros(len(KEY_SHIFTS))
    for tune in tunes:
        counts[KEY_SHIFTS.index(-semitones_to_c(tune))] += 1
    if not counts.sum():
        raise ValueError("tune_key_shift_shares needs at least one tune")
    return tuple(float(v) for v in counts / counts.sum())


def phrases_fingerprint(phrases: np.ndarray, conditions: np.ndarray | None = None) -> str:
    """SHA-256 of the phrases' shape and bits, and of their conditions if given (identifies the training data)."""
    phrases = np.asarray(phrases, dtype=bool)
    digest = hashlib.sha256(repr(phrases.shape).encode())
    digest.update(np.packbits(phrases.ravel()).tobytes())
    if conditions is not None and np.size(conditions):
        digest.update(np.ascontiguousarray(conditions, dtype=np.float32).tobytes())
    return digest.hexdigest()


def _check_phrases(phrases: Any, config: GANConfig) -> np.ndarray:
    phrases = np.asarray(phrases)
    if phrases.ndim != _PHRASE_DIMS or phrases.shape[1:] != config.phrase_shape:
        raise ValueError(
            f"real_phrases must have shape (n, {', '.join(map(str, config.phrase_shape))}) to match the "
            f"GANConfig (n_bars, steps_per_bar, n_pitches, n_tracks), got {phrases.shape}"
        )
    if phrases.dtype != bool:
        values = np.unique(phrases)
        if not np.isin(values, (0, 1)).all():
            raise ValueError("real_phrases must be boolean or hold only 0 and 1")
        phrases = phrases.astype(bool)
    if len(phrases) < config.phrases_per_step:
        raise ValueError(
            f"real_phrases holds {len(phrases)} phrases, fewer than one training step needs "
            f"(critic_steps * batch_size = {config.critic_steps} * {config.batch_size} = "
            f"{config.phrases_per_step}); use more data or a smaller batch_size / critic_steps"
        )
    return phrases


def make_dataset(phrases: np.ndarray, config: GANConfig, *, epochs: tuple[int, int] = (0, 1),
                 conditions: np.ndarray | None = None):
    """Batches of real phrases for ``MusicGAN.fit``.

    Parameters
    ----------
    phrases
        Boolean phrases ``(n, *config.phrase_shape)``.
    config
        Batch size, critic steps and seed.
    epochs
        ``(first, stop)``: the epochs to serve, back to back.
    conditions
        ``(n, config.n_conditions)``: each phrase's conditions (a conditional config
        needs them; see :func:`conditioned_phrases`).

    Returns
    -------
    tf.data.Dataset
        ``float32`` batches of ``critic_steps * batch_size`` phrases in {0, 1} (with
        conditions: ``(phrases, conditions)`` pairs); each epoch is a fresh shuffle
        that depends only on ``(config.seed, epoch)``; the last, incomplete batch of an
        epoch is dropped.
    """
    tf = _tf.tensorflow()

    phrases = _check_phrases(phrases, config)
    conditions = _check_conditions(conditions, config, len(phrases))
    data = tf.constant(phrases)
    size = config.phrases_per_step
    indices = tf.range(len(phrases), dtype=tf.int64)

    def one_epoch(epoch):
        key = tf.stack([tf.constant(config.seed, tf.int64), epoch])
        order = tf.random.experimental.stateless_shuffle(indices, seed=key)
        return tf.data.Dataset.from_tensor_slices(order).batch(size, drop_remainder=True)

    first, stop = epochs
    dataset = tf.data.Dataset.range(first, stop).flat_map(one_epoch)
    if conditions is None:
        dataset = dataset.map(lambda batch: tf.cast(tf.gather(data, batch), tf.float32))
    else:
        labels = tf.constant(conditions)
        dataset = dataset.map(lambda batch: (tf.cast(tf.gather(data, batch), tf.float32), tf.gather(labels, batch)))
    return dataset.prefetch(2)


def _check_conditions(conditions: Any, config: GANConfig, n: int) -> np.ndarray | None:
    if not config.n_conditions:
        if conditions is not None:
            raise ValueError("the GANConfig is unconditional (one meter, no opening_condition): give no conditions")
        return None
    if conditions is None:
        raise ValueError(f"the GANConfig is conditional ({config.n_conditions} conditions): give each phrase's "
                         "conditions (see conditioned_phrases)")
    conditions = np.asarray(conditions, dtype=np.float32)
    if conditions.shape != (n, config.n_conditions) or not np.isfinite(conditions).all():
        raise ValueError(f"conditions must be finite, of shape ({n}, {config.n_conditions}), got {conditions.shape}")
    return conditions


def save_sample_grid(
    phrases: np.ndarray,
    path: str | os.PathLike,
    *,
    lowest_pitch: int = 24,
    title: str = "",
    pitch_range: tuple[int, int] | None = None,
) -> Path:
    """Draw phrases ``(n, bars, steps, pitches, tracks)`` one per row with
    :func:`musiclib.plots.roll_image` and save the PNG atomically.

    ``pitch_range`` ``(low, high)`` in MIDI pitches crops the rows shown (default: all).
    """
    from matplotlib.figure import Figure

    from musiclib import plots

    phrases = np.asarray(phrases)
    rows = len(phrases)
    figure = Figure(figsize=(12, 1.8 * max(rows, 1) + 0.4))
    axes = figure.subplots(max(rows, 1), 1, squeeze=False)[:, 0]
    for index, (ax, phrase) in enumerate(zip(axes, phrases)):
        low = lowest_pitch
        if pitch_range is not None:
            lo = max(pitch_range[0], lowest_pitch)
            hi = min(pitch_range[1], lowest_pitch + phrase.shape[2] - 1)
            phrase = phrase[:, :, lo - lowest_pitch : hi - lowest_pitch + 1]
            low = lo
        plots.roll_image(
            phrase, ax=ax, lowest_pitch=low, steps_per_bar=phrase.shape[1], title=f"sample {index}"
        )
        if index < rows - 1:
            ax.set_xlabel("")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    plots.save_figure(figure, path)
    return Path(path)


def _generated_notes(gan: MusicGAN, n: int, *, seed: int) -> np.ndarray:
    """``n`` generated phrases as sounding cells (onset channels dropped), for metrics and grids."""
    return binarize(gan.generate(n, seed=seed), config=gan.config)[..., : gan.config.n_tracks]


class GANTrainingResult(NamedTuple):
    """What :func:`train` returns."""

    gan: MusicGAN
    """The trained GAN (generator and critic after the last epoch)."""
    history: dict[str, list]
    """Per-epoch columns, as in ``history.json``."""
    metrics: dict[str, Any]
    """:func:`musiclib.gan.metrics.metrics_table` of real vs generated bars after training."""


def _make_callbacks(
    *,
    out_dir: Path,
    config: GANConfig,
    prior: dict[str, list],
    session: int,
    real_reference: np.ndarray,
    lowest_pitch: int,
    extra: Sequence[Any],
) -> list:
    keras = _tf.keras()

    class GANMonitor(keras.callbacks.Callback):
        """After each epoch: MuseGAN metrics and the collapse ratio of freshly generated
        phrases (added to the epoch's logs); every ``sample_every`` epochs a sample grid."""

        def __init__(self) -> None:
            super().__init__()
            self.real = real_reference
            self.real_distance = gan_metrics.mean_pairwise_distance(real_reference)
            rows = np.flatnonzero(real_reference.any(axis=(0, 1, 3)))
            low, high = (int(rows.min()), int(rows.max())) if len(rows) else (0, real_reference.shape[2] - 1)
            self.pitch_range = (lowest_pitch + low - 2, lowest_pitch + high + 2)

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            gan = self.model
            fake = _generated_notes(gan, config.eval_samples, seed=config.seed + _EVAL_SEED_OFFSET)
            side = gan_metrics.bar_metrics(fake, lowest_pitch=lowest_pitch)
            distance = gan_metrics.mean_pairwise_distance(fake)
            ratio = distance / self.real_distance if self.real_distance > 0 else float("nan")
            table = {"generated": side, "collapse": {"ratio": ratio}}
            if logs is not None:
                logs.update(gan_metrics.flat_metrics(table))
            last = epoch + 1 == config.epochs
            if (epoch + 1) % config.sample_every == 0 or last:
                grid = _generated_notes(gan, _GRID_PHRASES, seed=config.seed + _GRID_SEED_OFFSET)
                save_sample_grid(
                    grid,
                    out_dir / SAMPLES_DIR / f"epoch_{epoch + 1:03d}.png",
                    lowest_pitch=lowest_pitch,
                    title=f"epoch {epoch + 1}",
                    pitch_range=self.pitch_range,
                )

    class LearningRateDecay(keras.callbacks.Callback):
        """Both learning rates follow :meth:`MusicGAN.learning_rate_at` (a function of the
        epoch only, so a resumed run continues the same schedule)."""

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.model.set_learning_rate(self.model.learning_rate_at(epoch))

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if logs is not None:
                logs["learning_rate"] = self.model.learning_rate_at(epoch)

    class Checkpoints(keras.callbacks.Callback):
        """``checkpoints/generator.keras`` and ``critic.keras`` after every epoch, atomically."""

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            folder = out_dir / CHECKPOINT_DIR
            _save_keras_atomically(folder / GENERATOR_FILE, lambda p: self.model.sampler.save(p))
            _save_keras_atomically(folder / CRITIC_FILE, lambda p: self.model.critic.save(p))

    class Recorder(keras.callbacks.Callback):
        """Per-epoch logs and timing, rewritten atomically to history.json/.csv (a CSVLogger
        that never duplicates rows on a resume)."""

        def __init__(self) -> None:
            super().__init__()
            self.columns: dict[str, list] = {key: list(values) for key, values in prior.items()}
            self._epoch_start = self._last_batch = 0.0

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self._epoch_start = self._last_batch = time.perf_counter()

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            self._last_batch = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            now = time.perf_counter()
            row = {
                "epoch": epoch,
                "session": session,
                **{key: float(value) for key, value in (logs or {}).items()},
                "train_seconds": self._last_batch - self._epoch_start,
                "epoch_seconds": now - self._epoch_start,
            }
            n_rows = len(self.columns.get("epoch", []))
            for key, value in row.items():
                self.columns.setdefault(key, [None] * n_rows).append(value)
            for values in self.columns.values():
                if len(values) < n_rows + 1:
                    values.append(None)
            write_history(out_dir, self.columns, standard_json=True)

    callbacks = [LearningRateDecay(), GANMonitor(), Checkpoints(), Recorder(), *extra]
    # Last, so everything above has recorded the epoch before it is marked complete.
    callbacks.append(atomic_backup_and_restore(out_dir / BACKUP_DIR))
    return callbacks


def train(
    config: GANConfig,
    real_phrases: np.ndarray,
    *,
    out_dir: str | os.PathLike,
    conditions: np.ndarray | None = None,
    verbose: int = 1,
    lowest_pitch: int = 24,
    deterministic: bool = True,
    callbacks: Sequence[Any] = (),
) -> GANTrainingResult:
    """Train a WGAN-GP (or the ``"paper"`` baseline) on real phrases; resumable after a kill.

    Parameters
    ----------
    config
        The :class:`GANConfig` (sizes, optimiser, epochs, seed, sampling).
    real_phrases
        ``(n, n_bars, steps_per_bar, n_pitches, n_tracks)``, boolean or 0/1; at least
        ``critic_steps * batch_size`` phrases.
    conditions
        Each real phrase's conditions, for a conditional config (:func:`conditioned_phrases`).
    out_dir
        Run folder (see the module notes). A backup left there by a killed run is
        resumed; a run that finished removes its backup, so calling again starts over.
    verbose
        Keras ``fit`` verbosity: 0 silent, 1 progress bar, 2 one short line per epoch (the
        losses and the collapse ratio, :data:`SUMMARY_KEYS`; every value is in the history).
    lowest_pitch
        MIDI pitch of pitch row 0 (for the pitch-class metrics and the sample grids).
    deterministic
        Call ``tf.config.experimental.enable_op_determinism()`` (process-wide), so that
        a resumed run ends with the same weights as an uninterrupted one.
    callbacks
        Extra Keras callbacks (run before the backup callback).

    Returns
    -------
    GANTrainingResult
        ``(gan, history, metrics)``: the trained :class:`MusicGAN`; the history as
        columns (Keras's ``d_loss``, ``g_loss``, ``gp``, ``real_score``, ``fake_score``,
        per-track ``ebr_k``, ``upc_k``, ``qn_k``, ``notes_k``, ``td`` and ``collapse``
        of ``config.eval_samples`` generated phrases, ``session`` (0, +1 per resume),
        ``train_seconds``, ``epoch_seconds``); and the final real-vs-generated
        :func:`~musiclib.gan.metrics.metrics_table` (``config.eval_samples`` phrases of
        each, real ones drawn from ``real_phrases``).
    """
    keras = _tf.keras()

    if not isinstance(config, GANConfig):
        raise TypeError(f"config must be a GANConfig, got {type(config).__name__}")
    phrases = _check_phrases(real_phrases, config)
    conditions = _check_conditions(conditions, config, len(phrases))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if deterministic:
        tf = _tf.tensorflow()

        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(config.seed)

    gan = MusicGAN(build_generator(config), build_critic(config), config)
    gan.compile()
    start, prior, session = resume_point(out_dir, out_dir / BACKUP_DIR)
    if start > 0 and verbose:
        print(f"Resuming from the backup in {out_dir / BACKUP_DIR}: epoch {start + 1} of {config.epochs}")
    steps_per_epoch = len(phrases) // config.phrases_per_step
    dataset = make_dataset(phrases, config, epochs=(start, max(start, config.epochs)), conditions=conditions)

    rng = np.random.default_rng(config.seed)
    n_reference = min(len(phrases), _REAL_REFERENCE_BARS // config.n_bars)
    chosen = phrases[rng.choice(len(phrases), size=n_reference, replace=False)]
    reference = gan_metrics.as_bars(chosen[..., : config.n_tracks])
    callback_list = _make_callbacks(
        out_dir=out_dir,
        config=config,
        prior=prior,
        session=session,
        real_reference=reference,
        lowest_pitch=lowest_pitch,
        extra=[*callbacks, *([epoch_summary(SUMMARY_KEYS, epochs=config.epochs)] if verbose == 2 else [])],
    )
    with warnings.catch_warnings(), _tf.without_remapper():
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        gan.fit(
            dataset,
            epochs=config.epochs,
            steps_per_epoch=steps_per_epoch,
            callbacks=callback_list,
            verbose=0 if verbose == 2 else verbose,  # 2: the short per-epoch line of epoch_summary
            shuffle=False,  # the pipeline shuffles, by (seed, epoch)
        )
    history_path = out_dir / HISTORY_FILE
    history = read_json(history_path) if history_path.exists() else dict(prior)
    fake = _generated_notes(gan, config.eval_samples, seed=config.seed + _EVAL_SEED_OFFSET)
    real = phrases[rng.choice(len(phrases), size=min(len(phrases), config.eval_samples), replace=False)]
    real = real[..., : config.n_tracks]
    metrics = _json_ready(gan_metrics.metrics_table(real, fake, lowest_pitch=lowest_pitch))
    return GANTrainingResult(gan=gan, history=history, metrics=metrics)
