"""Train the piano-roll GAN, save and load GAN bundles, and write generated MIDI.

Data
    :func:`phrases_from_tunes` cuts tunes into boolean phrases of whole bars with
    :meth:`PianoRollEncoding.bars`; :func:`make_gan_dataset` serves them as ``float32``
    batches of ``critic_steps * batch_size`` phrases (one slice per critic update), in
    an order that is a pure function of ``(seed, epoch)``.
Training
    :func:`train_gan` builds the networks, compiles :class:`~musiclib.models.gan.MusicGAN`
    and runs ``fit`` with Keras's ``BackupAndRestore`` (a killed run continues from its
    last completed epoch), atomic checkpoints of both networks, a per-epoch history with
    the losses, MuseGAN's metrics of freshly generated phrases and the collapse ratio
    (``history.json`` and ``history.csv``), and sample grids (PNG) every
    ``sample_every`` epochs.
Bundles
    :func:`save_gan_bundle` / :func:`load_gan_bundle`: one folder with ``generator.keras``,
    ``critic.keras``, ``config.json`` (the :class:`GANConfig` and the piano-roll encoding),
    ``data.json``, ``metrics.json`` and ``history.json``; models load with
    ``safe_mode=True`` and their shapes are checked against the config.
Generation
    :func:`generate_gan_midi` writes binarised phrases as MIDI files (consecutive active
    steps of a pitch become one note), atomically.

A run folder (``out_dir`` of :func:`train_gan`) holds::

    history.json, history.csv         one row per epoch, rewritten atomically
    checkpoints/generator.keras       the networks after the last completed epoch
    checkpoints/critic.keras
    samples/epoch_001.png ...         piano-roll grids of the same latent vectors each time
    backup/                           BackupAndRestore's state while training (removed at the end)
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import os
import shutil
import tempfile
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

import numpy as np

from musiclib import gan_metrics
from musiclib._files import atomic_write, read_json, write_json
from musiclib._files import json_ready as _json_ready
from musiclib.models.gan import GANConfig, MusicGAN, build_critic, build_generator
from musiclib.training import _save_keras_atomically, atomic_backup_and_restore, quiet_keras_saving

__all__ = [
    "phrases_from_tunes",
    "phrases_fingerprint",
    "make_gan_dataset",
    "train_gan",
    "GANTrainingResult",
    "GANBundle",
    "GANBundleError",
    "save_gan_bundle",
    "load_gan_bundle",
    "generate_gan_midi",
    "generate_gan_tunes",
    "binarize",
    "save_sample_grid",
    "HISTORY_FILE",
    "HISTORY_CSV",
    "CHECKPOINT_DIR",
    "BACKUP_DIR",
    "SAMPLES_DIR",
    "GENERATOR_FILE",
    "CRITIC_FILE",
    "REQUIRED_FILES",
]

HISTORY_FILE = "history.json"
HISTORY_CSV = "history.csv"
CHECKPOINT_DIR = "checkpoints"
BACKUP_DIR = "backup"
SAMPLES_DIR = "samples"
GENERATOR_FILE = "generator.keras"
CRITIC_FILE = "critic.keras"
CONFIG_FILE = "config.json"
DATA_FILE = "data.json"
METRICS_FILE = "metrics.json"
REQUIRED_FILES = (GENERATOR_FILE, CRITIC_FILE, CONFIG_FILE, DATA_FILE, METRICS_FILE, HISTORY_FILE)
"""Files every GAN bundle has."""

BUNDLE_FORMAT = 1
_KIND = "musiclib.gan_bundle"
_MODEL_TYPE = "gan"
_DATA_KEYS = ("data_hash", "dataset")
_BACKUP_METADATA = "training_metadata.json"  # written by keras.callbacks.BackupAndRestore
_EVAL_SEED_OFFSET = 7919  # the per-epoch metrics use latent vectors apart from training noise
_GRID_SEED_OFFSET = 104729  # the sample grids show the same latent vectors every epoch
_GRID_PHRASES = 4
_REAL_REFERENCE_BARS = 2000
_PHRASE_DIMS = 5


# ----------------------------------------------------------------------------- data


def phrases_from_tunes(
    tunes: Iterable[Any],
    encoding: Any = None,
    *,
    n_bars: int = 4,
    hop_bars: int = 1,
    meter: tuple[int, int] = (4, 4),
) -> np.ndarray:
    """Boolean phrases ``(n, n_bars, steps_per_bar, pitches, tracks)`` from tunes.

    Each tune is cut by :meth:`PianoRollEncoding.bars` (only runs of bars in ``meter``;
    a phrase starts every ``hop_bars`` bars). ``encoding`` defaults to
    ``PianoRollEncoding()`` (sixteenths, 84 pitches from C1, 2 tracks).
    """
    from musiclib.encoding import PianoRollEncoding

    encoding = PianoRollEncoding() if encoding is None else encoding
    parts = [encoding.bars(tune, bars_per_sample=n_bars, hop_bars=hop_bars, meter=meter) for tune in tunes]
    parts = [p for p in parts if len(p)]
    if not parts:
        steps = encoding.steps_per_bar(meter)
        return np.zeros((0, n_bars, steps, encoding.n_pitches, encoding.n_tracks), dtype=bool)
    return np.concatenate(parts)


def phrases_fingerprint(phrases: np.ndarray) -> str:
    """SHA-256 of the phrases' shape and bits (identifies the training data)."""
    phrases = np.asarray(phrases, dtype=bool)
    digest = hashlib.sha256(repr(phrases.shape).encode())
    digest.update(np.packbits(phrases.ravel()).tobytes())
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


def make_gan_dataset(phrases: np.ndarray, config: GANConfig, *, epochs: tuple[int, int] = (0, 1)):
    """Batches of real phrases for ``MusicGAN.fit``.

    Parameters
    ----------
    phrases
        Boolean phrases ``(n, *config.phrase_shape)``.
    config
        Batch size, critic steps and seed.
    epochs
        ``(first, stop)``: the epochs to serve, back to back.

    Returns
    -------
    tf.data.Dataset
        ``float32`` batches of ``critic_steps * batch_size`` phrases in {0, 1}; each
        epoch is a fresh shuffle that depends only on ``(config.seed, epoch)``; the last,
        incomplete batch of an epoch is dropped.
    """
    import tensorflow as tf

    phrases = _check_phrases(phrases, config)
    data = tf.constant(phrases)
    size = config.phrases_per_step
    indices = tf.range(len(phrases), dtype=tf.int64)

    def one_epoch(epoch):
        key = tf.stack([tf.constant(config.seed, tf.int64), epoch])
        order = tf.random.experimental.stateless_shuffle(indices, seed=key)
        return tf.data.Dataset.from_tensor_slices(order).batch(size, drop_remainder=True)

    first, stop = epochs
    dataset = tf.data.Dataset.range(first, stop).flat_map(one_epoch)
    dataset = dataset.map(lambda batch: tf.cast(tf.gather(data, batch), tf.float32))
    return dataset.prefetch(2)


# ----------------------------------------------------------------------------- files


def _write_history(out_dir: Path, columns: dict[str, list]) -> None:
    write_json(out_dir / HISTORY_FILE, _json_ready(columns))
    first = [key for key in ("epoch", "session") if key in columns]
    keys = first + sorted(key for key in columns if key not in first)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(keys)
    for row in zip(*(columns[key] for key in keys)):
        writer.writerow(["" if value is None else value for value in row])
    atomic_write(out_dir / HISTORY_CSV, text.getvalue())


def _resume_point(out_dir: Path) -> tuple[int, dict[str, list], int]:
    """(first epoch to run, history of the epochs before it, session number)."""
    metadata = out_dir / BACKUP_DIR / _BACKUP_METADATA
    if not metadata.exists():
        return 0, {}, 0
    start = int(read_json(metadata)["epoch"])
    history_path = out_dir / HISTORY_FILE
    history = read_json(history_path) if history_path.exists() else {}
    keep = sum(1 for epoch in history.get("epoch", []) if epoch < start)
    prior = {key: values[:keep] for key, values in history.items()}
    sessions = [s for s in prior.get("session", []) if s is not None]
    return start, prior, (max(sessions) + 1 if sessions else 1)


def binarize(
    probabilities: np.ndarray, *, threshold: float = 0.5, bernoulli: bool = False, seed: int = 0
) -> np.ndarray:
    """Boolean rolls from on-probabilities: ``> threshold``, or Bernoulli draws (seeded)."""
    probabilities = np.asarray(probabilities, dtype=np.float32)
    if bernoulli:
        return np.random.default_rng(seed).random(probabilities.shape, dtype=np.float32) < probabilities
    return probabilities > threshold


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


# ----------------------------------------------------------------------------- training


class GANTrainingResult(NamedTuple):
    """What :func:`train_gan` returns."""

    gan: MusicGAN
    """The trained GAN (generator and critic after the last epoch)."""
    history: dict[str, list]
    """Per-epoch columns, as in ``history.json``."""
    metrics: dict[str, Any]
    """:func:`musiclib.gan_metrics.metrics_table` of real vs generated bars after training."""


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
    import keras

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
            fake = binarize(gan.generate(config.eval_samples, seed=config.seed + _EVAL_SEED_OFFSET))
            side = gan_metrics.bar_metrics(fake, lowest_pitch=lowest_pitch)
            distance = gan_metrics.mean_pairwise_distance(fake)
            ratio = distance / self.real_distance if self.real_distance > 0 else float("nan")
            table = {"generated": side, "collapse": {"ratio": ratio}}
            if logs is not None:
                logs.update(gan_metrics.flat_metrics(table))
            last = epoch + 1 == config.epochs
            if (epoch + 1) % config.sample_every == 0 or last:
                grid = binarize(gan.generate(_GRID_PHRASES, seed=config.seed + _GRID_SEED_OFFSET))
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
            _save_keras_atomically(folder / GENERATOR_FILE, lambda p: self.model.generator.save(p))
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
            _write_history(out_dir, self.columns)

    callbacks = [LearningRateDecay(), GANMonitor(), Checkpoints(), Recorder(), *extra]
    # Last, so everything above has recorded the epoch before it is marked complete.
    callbacks.append(atomic_backup_and_restore(out_dir / BACKUP_DIR))
    return callbacks


def train_gan(
    config: GANConfig,
    real_phrases: np.ndarray,
    *,
    out_dir: str | os.PathLike,
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
    out_dir
        Run folder (see the module notes). A backup left there by a killed run is
        resumed; a run that finished removes its backup, so calling again starts over.
    verbose
        Keras ``fit`` verbosity (0 silent, 1 progress bar, 2 one line per epoch).
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
        :func:`~musiclib.gan_metrics.metrics_table` (``config.eval_samples`` phrases of
        each, real ones drawn from ``real_phrases``).
    """
    import keras

    if not isinstance(config, GANConfig):
        raise TypeError(f"config must be a GANConfig, got {type(config).__name__}")
    phrases = _check_phrases(real_phrases, config)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(config.seed)

    gan = MusicGAN(build_generator(config), build_critic(config), config)
    gan.compile()
    start, prior, session = _resume_point(out_dir)
    if start > 0 and verbose:
        print(f"Resuming from the backup in {out_dir / BACKUP_DIR}: epoch {start + 1} of {config.epochs}")
    steps_per_epoch = len(phrases) // config.phrases_per_step
    dataset = make_gan_dataset(phrases, config, epochs=(start, max(start, config.epochs)))

    rng = np.random.default_rng(config.seed)
    n_reference = min(len(phrases), _REAL_REFERENCE_BARS // config.n_bars)
    reference = gan_metrics.as_bars(phrases[rng.choice(len(phrases), size=n_reference, replace=False)])
    callback_list = _make_callbacks(
        out_dir=out_dir,
        config=config,
        prior=prior,
        session=session,
        real_reference=reference,
        lowest_pitch=lowest_pitch,
        extra=callbacks,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        gan.fit(
            dataset,
            epochs=config.epochs,
            steps_per_epoch=steps_per_epoch,
            callbacks=callback_list,
            verbose=verbose,
            shuffle=False,  # the pipeline shuffles, by (seed, epoch)
        )
    history_path = out_dir / HISTORY_FILE
    history = read_json(history_path) if history_path.exists() else dict(prior)
    fake = binarize(gan.generate(config.eval_samples, seed=config.seed + _EVAL_SEED_OFFSET))
    real = phrases[rng.choice(len(phrases), size=min(len(phrases), config.eval_samples), replace=False)]
    metrics = _json_ready(gan_metrics.metrics_table(real, fake, lowest_pitch=lowest_pitch))
    return GANTrainingResult(gan=gan, history=history, metrics=metrics)


# ----------------------------------------------------------------------------- bundles


class GANBundleError(ValueError):
    """A GAN bundle that is incomplete or whose parts do not belong together."""


@dataclass(frozen=True)
class GANBundle:
    """A loaded GAN bundle (see :func:`load_gan_bundle`)."""

    path: Path
    generator: Any
    critic: Any
    config: GANConfig
    encoding: Any
    meter: tuple[int, int]
    data_info: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    history: dict[str, Any] = field(default_factory=dict)

    @functools.cached_property
    def gan(self) -> MusicGAN:
        """The networks wrapped in a :class:`MusicGAN` (for :meth:`MusicGAN.generate`)."""
        return MusicGAN(self.generator, self.critic, self.config)

    def generate(self, n: int, *, seed: int) -> np.ndarray:
        """``n`` phrases of on-probabilities (see :meth:`MusicGAN.generate`)."""
        return self.gan.generate(n, seed=seed)


def _encoding_dict(encoding: Any) -> dict[str, Any]:
    if hasattr(encoding, "config") and hasattr(encoding, "name"):
        return {"name": encoding.name, **encoding.config()}
    if isinstance(encoding, Mapping) and "name" in encoding:
        return dict(encoding)
    raise GANBundleError(f"encoding must be a PianoRollEncoding or its config mapping, got {encoding!r}")


def _parse_encoding(data: Mapping[str, Any], where: str):
    from musiclib.encoding import PianoRollEncoding, encoding_from_config

    try:
        encoding = encoding_from_config(data)
    except (ValueError, TypeError) as error:
        raise GANBundleError(f"{where}: the encoding config does not parse: {error}") from None
    if not isinstance(encoding, PianoRollEncoding):
        raise GANBundleError(f"{where}: a GAN needs the 'pianoroll' encoding, got {encoding.name!r}")
    return encoding


def _check_encoding(encoding: Any, config: GANConfig, meter: tuple[int, int], where: str) -> None:
    try:
        steps = encoding.steps_per_bar(tuple(meter))
    except (ValueError, TypeError) as error:
        raise GANBundleError(f"{where}: meter {meter!r} does not fit the encoding: {error}") from None
    expected = (steps, encoding.n_pitches, encoding.n_tracks)
    got = (config.steps_per_bar, config.n_pitches, config.n_tracks)
    if expected != got:
        raise GANBundleError(
            f"{where}: the encoding gives (steps_per_bar, n_pitches, n_tracks) = {expected} in "
            f"{meter[0]}/{meter[1]} but the GANConfig says {got}; they must match"
        )


def _shape(tensor: Any) -> tuple:
    return tuple(None if d is None else int(d) for d in tensor.shape)


def _check_networks(generator: Any, critic: Any, config: GANConfig, where: str) -> None:
    """Raise GANBundleError unless the networks' shapes are those ``config`` builds."""
    phrase = (None, *config.phrase_shape)
    want_inputs = [(None, config.latent_dim), (None, config.n_bars, config.bar_latent_dim)]
    got_inputs = [_shape(t) for t in generator.inputs]
    if got_inputs != want_inputs:
        raise GANBundleError(
            f"{where}: the generator takes inputs {got_inputs} but the config "
            f"(latent_dim={config.latent_dim}, "
            f"n_bars={config.n_bars}, bar_latent_dim={config.bar_latent_dim}) needs {want_inputs}; "
            "the config does not belong to these weights"
        )
    got_output = _shape(generator.outputs[0])
    if got_output != phrase:
        raise GANBundleError(
            f"{where}: the generator outputs {got_output} but the config's phrase shape is {phrase}; "
            "the config does not belong to these weights"
        )
    got_critic_in, got_critic_out = _shape(critic.inputs[0]), _shape(critic.outputs[0])
    if got_critic_in != phrase or got_critic_out != (None, 1):
        raise GANBundleError(
            f"{where}: the critic maps {got_critic_in} -> {got_critic_out} but the config needs "
            f"{phrase} -> (None, 1); the config does not belong to these weights"
        )


def _check_data_info(data_info: Any, where: str) -> dict[str, Any]:
    if not isinstance(data_info, Mapping):
        raise GANBundleError(
            f"{where}: data_info must be a mapping with keys {list(_DATA_KEYS)}, got {data_info!r}"
        )
    for key in _DATA_KEYS:
        if not isinstance(data_info.get(key), str) or not data_info.get(key):
            raise GANBundleError(
                f"{where}: data_info[{key!r}] must be a non-empty string, got {data_info.get(key)!r}"
            )
    return dict(data_info)


def _is_replaceable(path: Path) -> bool:
    if not path.is_dir():
        return False
    if not any(path.iterdir()):
        return True
    try:
        return read_json(path / CONFIG_FILE).get("kind") == _KIND
    except (ValueError, OSError, AttributeError):
        return False


def _swap_into_place(staging: Path, path: Path) -> None:
    """Rename ``staging`` onto ``path``; an old folder is moved aside first and removed after."""
    if not path.exists():
        os.replace(staging, path)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
    retired.rmdir()
    os.replace(path, retired)
    try:
        os.replace(staging, path)
    except OSError:
        os.replace(retired, path)
        raise
    shutil.rmtree(retired, ignore_errors=True)


def save_gan_bundle(
    path: str | os.PathLike,
    *,
    gan: MusicGAN | None = None,
    generator: Any = None,
    critic: Any = None,
    config: GANConfig | None = None,
    encoding: Any,
    data_info: Mapping[str, Any],
    meter: tuple[int, int] = (4, 4),
    metrics: Mapping[str, Any] | None = None,
    history: Mapping[str, Any] | None = None,
) -> Path:
    """Write a GAN bundle folder atomically.

    Parameters
    ----------
    path
        The bundle folder; an existing GAN bundle there is replaced once the new one is
        complete. Any other existing file or non-empty folder is an error.
    gan
        The trained :class:`MusicGAN` (or give ``generator``, ``critic`` and ``config``).
    encoding
        The :class:`~musiclib.encoding.PianoRollEncoding` of the training phrases.
    data_info
        At least ``data_hash`` (e.g. :func:`phrases_fingerprint`) and ``dataset``.
    meter
        The meter of the phrases (``(4, 4)``).
    metrics, history
        JSON-able results (``metrics_table``) and the training history.

    Raises
    ------
    GANBundleError
        If the networks do not have the config's shapes, the encoding does not match the
        config, ``data_info`` lacks a key, or ``path`` holds something other than a bundle.
    """
    path = Path(path)
    if gan is not None:
        generator, critic, config = gan.generator, gan.critic, gan.config
    if generator is None or critic is None or not isinstance(config, GANConfig):
        raise GANBundleError("give gan=, or generator=, critic= and config= (a GANConfig)")
    meter = tuple(int(v) for v in meter)
    encoding_data = _encoding_dict(encoding)
    parsed = _parse_encoding(encoding_data, "encoding")
    _check_encoding(parsed, config, meter, "encoding")
    _check_networks(generator, critic, config, "save_gan_bundle")
    data = _check_data_info(data_info, "data_info")
    if path.exists() and not _is_replaceable(path):
        raise GANBundleError(
            f"{path} exists and is not a GAN bundle; refusing to replace it (choose another path)"
        )

    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        with quiet_keras_saving():
            generator.save(staging / GENERATOR_FILE)
            critic.save(staging / CRITIC_FILE)
        write_json(
            staging / CONFIG_FILE,
            {
                "kind": _KIND,
                "format": BUNDLE_FORMAT,
                "model_type": _MODEL_TYPE,
                "model": config.to_dict(),
                "encoding": encoding_data,
                "meter": list(meter),
            },
        )
        write_json(staging / DATA_FILE, _json_ready(data))
        write_json(staging / METRICS_FILE, _json_ready(dict(metrics or {})))
        write_json(staging / HISTORY_FILE, _json_ready(dict(history or {})))
        _swap_into_place(staging, path)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return path


def _read_json_file(path: Path) -> Any:
    try:
        return read_json(path)
    except (ValueError, UnicodeDecodeError) as error:
        raise GANBundleError(f"{path} is not valid JSON: {error}") from None


def load_gan_bundle(path: str | os.PathLike) -> GANBundle:
    """Load a bundle written by :func:`save_gan_bundle`, checking that its parts belong together.

    Raises
    ------
    GANBundleError
        If a file is missing (each one named), a JSON file is malformed, the config or
        encoding does not parse or disagree, a model cannot be loaded (``safe_mode=True``:
        no code is deserialised), or a network's shapes differ from the config's.
    """
    import keras

    import musiclib.models.gan  # noqa: F401  (the networks use only built-in layers)

    path = Path(path)
    if not path.is_dir():
        raise GANBundleError(f"no GAN bundle at {path}: the folder does not exist")
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise GANBundleError(
            f"{path} is not a complete GAN bundle: missing {', '.join(missing)} "
            f"(a GAN bundle holds {', '.join(REQUIRED_FILES)}); save it again with save_gan_bundle"
        )
    raw = _read_json_file(path / CONFIG_FILE)
    if not isinstance(raw, dict) or raw.get("kind") != _KIND:
        raise GANBundleError(f"{path / CONFIG_FILE} is not a musiclib GAN bundle config")
    if raw.get("format") != BUNDLE_FORMAT:
        raise GANBundleError(
            f"{path / CONFIG_FILE}: unsupported bundle format {raw.get('format')!r} "
            f"(supported: {BUNDLE_FORMAT})"
        )
    for key in ("model", "encoding", "meter"):
        if key not in raw:
            raise GANBundleError(f"{path / CONFIG_FILE} lacks {key!r}")
    try:
        config = GANConfig.from_dict(raw["model"])
    except (ValueError, TypeError) as error:
        raise GANBundleError(f"{path / CONFIG_FILE}: invalid GAN config: {error}") from None
    where = str(path / CONFIG_FILE)
    encoding = _parse_encoding(raw["encoding"], where)
    meter = tuple(raw["meter"])
    _check_encoding(encoding, config, meter, where)

    networks = []
    for name in (GENERATOR_FILE, CRITIC_FILE):
        try:
            networks.append(keras.saving.load_model(path / name, safe_mode=True, compile=False))
        except (ValueError, OSError, TypeError, KeyError, zipfile.BadZipFile) as error:
            raise GANBundleError(f"{path / name} cannot be loaded: {error}") from None
    generator, critic = networks
    _check_networks(generator, critic, config, str(path))
    data_info = _check_data_info(_read_json_file(path / DATA_FILE), str(path / DATA_FILE))
    return GANBundle(
        path=path,
        generator=generator,
        critic=critic,
        config=config,
        encoding=encoding,
        meter=meter,
        data_info=data_info,
        metrics=_read_json_file(path / METRICS_FILE),
        history=_read_json_file(path / HISTORY_FILE),
    )


# ----------------------------------------------------------------------------- MIDI


def generate_gan_midi(
    bundle: GANBundle | str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    n: int,
    seed: int,
    threshold: float = 0.5,
    bernoulli: bool = False,
    qpm: float | None = None,
    prefix: str = "gan",
    phrases_per_piece: int = 1,
) -> list[Path]:
    """Generate ``n`` pieces of ``phrases_per_piece`` phrases each, one MIDI file per piece, atomically.

    Parameters
    ----------
    bundle
        A :class:`GANBundle` or the path of one.
    out_dir
        Folder for ``<prefix>_s<seed>_<i>.mid``.
    n, seed
        How many phrases, and the seed of their latent vectors (same seed, same files).
    threshold
        A cell is a note step when its probability is ``> threshold`` ...
    bernoulli
        ... or, when True, with that probability (Bernoulli draws seeded by ``seed``).
    qpm
        Tempo of the files (default: the library's default tempo).
    prefix
        File-name prefix.
    phrases_per_piece
        Phrases (independent latent vectors) played one after the other in each file:
        4 gives 16-bar pieces from the default 4-bar phrases, to compare with
        16-bar LSTM pieces. A note held across a phrase boundary joins the next phrase's.

    Returns
    -------
    list of Path
        The files written. Consecutive active steps of a pitch in a track become one note.
    """
    from musiclib.io import write_midi

    tunes = generate_gan_tunes(bundle, n=n, seed=seed, threshold=threshold, bernoulli=bernoulli, qpm=qpm,
                               phrases_per_piece=phrases_per_piece)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [write_midi(tune, out_dir / f"{prefix}_s{seed}_{index:03d}.mid") for index, tune in enumerate(tunes)]


def generate_gan_tunes(
    bundle: GANBundle | str | os.PathLike,
    *,
    n: int,
    seed: int,
    threshold: float = 0.5,
    bernoulli: bool = False,
    qpm: float | None = None,
    phrases_per_piece: int = 1,
) -> list[Any]:
    """The tunes :func:`generate_gan_midi` writes, in memory (same options, same seed, same notes)."""
    from musiclib.tune import DEFAULT_QPM

    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not isinstance(phrases_per_piece, int) or phrases_per_piece < 1:
        raise ValueError(f"phrases_per_piece must be a positive integer, got {phrases_per_piece!r}")
    if not isinstance(bundle, GANBundle):
        bundle = load_gan_bundle(bundle)
    probabilities = bundle.generate(n * phrases_per_piece, seed=seed)
    rolls = binarize(probabilities, threshold=threshold, bernoulli=bernoulli, seed=seed)
    rolls = rolls.reshape(n, phrases_per_piece * rolls.shape[1], *rolls.shape[2:])  # phrases one after another
    tempo = DEFAULT_QPM if qpm is None else qpm
    return [bundle.encoding.decode(roll, qpm=tempo, time_signature=bundle.meter) for roll in rolls]
