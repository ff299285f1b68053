"""GAN bundles (generator, critic, config, data fingerprint, metrics, history: loaded in Keras
safe mode and checked before use) and generation from them as piano rolls, tunes and MIDI.

A *generation-only* bundle leaves the critic out (a reference bundle is one: the
generator's weights are all a learner needs to generate); it loads and generates like
any other, and ``GANBundle.critic`` is None. A bundle may also hold the ``split.json``
of the tunes it was trained on. Reference GAN bundles live beside the token models'
under ``musiclib/reference/<name>/`` (:func:`export_reference`, :func:`load_reference`).

A bundle from elsewhere is untrusted: a file that is a symbolic link leading out of the
bundle folder, or a ``.keras`` file that holds a Lambda layer or a custom object, is
refused with a :class:`GANBundleError` before Keras reads anything in it.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from musiclib._files import json_ready as _json_ready
from musiclib._files import links_outside, read_json, write_json
from musiclib._keras import deflate_keras_archive, load_checked_model, quiet_keras_saving
from musiclib.gan.model import GANConfig, MusicGAN, generate_phrases, harden, sample_key_shifts

__all__ = [
    "GANBundle",
    "GANBundleError",
    "save_bundle",
    "load_bundle",
    "generate_midi",
    "generate_tunes",
    "piece_conditions",
    "binarize",
    "HISTORY_FILE",
    "GENERATOR_FILE",
    "CRITIC_FILE",
    "REQUIRED_FILES",
    "SPLIT_FILE",
    "is_gan_bundle",
    "export_reference",
    "load_reference",
]


HISTORY_FILE = "history.json"
GENERATOR_FILE = "generator.keras"
CRITIC_FILE = "critic.keras"
CONFIG_FILE = "config.json"
DATA_FILE = "data.json"
METRICS_FILE = "metrics.json"
SPLIT_FILE = "split.json"
REQUIRED_FILES = (GENERATOR_FILE, CONFIG_FILE, DATA_FILE, METRICS_FILE, HISTORY_FILE)
"""Files every GAN bundle has (``critic.keras`` and ``split.json`` are optional)."""
_BUNDLE_FILES = (*REQUIRED_FILES, CRITIC_FILE, SPLIT_FILE)
BUNDLE_FORMAT = 1
_KIND = "musiclib.gan_bundle"
_MODEL_TYPE = "gan"
_DATA_KEYS = ("data_hash", "dataset")


def binarize(
    probabilities: np.ndarray,
    *,
    config: GANConfig | None = None,
    threshold: float = 0.5,
    bernoulli: bool = False,
    seed: int = 0,
) -> np.ndarray:
    """Boolean rolls from on-probabilities: ``> threshold``, or Bernoulli draws (seeded).

    With ``config``, its monophonic melody and onset channels are decoded by its rules
    (:func:`musiclib.gan.model.harden`).
    """
    if config is not None:
        return harden(probabilities, config, threshold=threshold, bernoulli=bernoulli, seed=seed)
    probabilities = np.asarray(probabilities, dtype=np.float32)
    if bernoulli:
        return np.random.default_rng(seed).random(probabilities.shape, dtype=np.float32) < probabilities
    return probabilities > threshold


class GANBundleError(ValueError):
    """A GAN bundle that is incomplete or whose parts do not belong together."""


@dataclass(frozen=True)
class GANBundle:
    """A loaded GAN bundle (see :func:`load_bundle`)."""

    path: Path
    generator: Any
    critic: Any  # None in a generation-only bundle
    config: GANConfig
    encoding: Any
    meter: tuple[int, int]
    data_info: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    history: dict[str, Any] = field(default_factory=dict)
    split_path: Path | None = None

    @functools.cached_property
    def gan(self) -> MusicGAN:
        """The networks wrapped in a :class:`MusicGAN` (to train further or score phrases)."""
        if self.critic is None:
            raise GANBundleError(f"{self.path} is a generation-only bundle (no {CRITIC_FILE}): it cannot train")
        # the saved generator already is the weight average: no second copy to keep
        return MusicGAN(self.generator, self.critic, self.config.replace(ema_decay=0.0))

    def generate(self, n: int, *, seed: int, conditions: np.ndarray | None = None) -> np.ndarray:
        """``n`` phrases of on-probabilities (see :meth:`MusicGAN.generate`)."""
        return generate_phrases(self.generator, self.config, n, seed=seed, conditions=conditions)


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
    if len(config.meters) > 1 and tuple(meter) not in config.meters:
        raise GANBundleError(f"{where}: meter {meter!r} is not one of the GANConfig's meters {list(config.meters)}")
    for other, other_steps in zip(config.meters, config.meter_steps):
        if len(config.meters) > 1 and encoding.steps_per_bar(other) != other_steps:
            raise GANBundleError(f"{where}: the encoding gives {encoding.steps_per_bar(other)} steps to a "
                                 f"{other[0]}/{other[1]} bar but the GANConfig {other_steps}; they must match")


def _shape(tensor: Any) -> tuple:
    return tuple(None if d is None else int(d) for d in tensor.shape)


def _check_networks(generator: Any, critic: Any, config: GANConfig, where: str) -> None:
    """Raise GANBundleError unless the networks' shapes are those ``config`` builds."""
    phrase = (None, *config.phrase_shape)
    want_inputs = [(None, config.latent_dim), (None, config.n_bars, config.bar_latent_dim)]
    if config.n_conditions:
        want_inputs.append((None, config.n_conditions))
    got_inputs = [_shape(t) for t in generator.inputs]
    if got_inputs != want_inputs:
        raise GANBundleError(
            f"{where}: the generator takes inputs {got_inputs} but the config "
            f"(latent_dim={config.latent_dim}, n_bars={config.n_bars}, bar_latent_dim={config.bar_latent_dim}, "
            f"n_conditions={config.n_conditions}) needs {want_inputs}; "
            "the config does not belong to these weights"
        )
    got_output = _shape(generator.outputs[0])
    if got_output != phrase:
        raise GANBundleError(
            f"{where}: the generator outputs {got_output} but the config's phrase shape is {phrase}; "
            "the config does not belong to these weights"
        )
    if critic is None:
        return
    got_critic_in, got_critic_out = [_shape(t) for t in critic.inputs], _shape(critic.outputs[0])
    want_critic_in = [phrase, *([(None, config.n_conditions)] if config.n_conditions else [])]
    if got_critic_in != want_critic_in or got_critic_out != (None, 1):
        raise GANBundleError(
            f"{where}: the critic maps {got_critic_in} -> {got_critic_out} but the config needs "
            f"{want_critic_in} -> (None, 1); the config does not belong to these weights"
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


def save_bundle(
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
    with_critic: bool = True,
    split_path: str | os.PathLike | None = None,
    extra: Mapping[str, Any] | None = None,
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
    with_critic
        False writes a generation-only bundle (no ``critic.keras``).
    split_path
        The ``split.json`` of the tunes the phrases came from, copied into the bundle.
    extra
        More JSON files to write: file name -> JSON-able content (``reference.json``).

    Raises
    ------
    GANBundleError
        If the networks do not have the config's shapes, the encoding does not match the
        config, ``data_info`` lacks a key, or ``path`` holds something other than a bundle.
    """
    path = Path(path)
    if gan is not None:
        generator, critic, config = gan.sampler, gan.critic, gan.config
    if not with_critic:
        critic = None
    if generator is None or (with_critic and critic is None) or not isinstance(config, GANConfig):
        raise GANBundleError("give gan=, or generator=, critic= and config= (a GANConfig)")
    for name in extra or {}:
        if name in _BUNDLE_FILES or Path(name).name != name or not name.endswith(".json"):
            raise GANBundleError(f"extra file {name!r} must be a new .json file name inside the bundle")
    meter = tuple(int(v) for v in meter)
    encoding_data = _encoding_dict(encoding)
    parsed = _parse_encoding(encoding_data, "encoding")
    _check_encoding(parsed, config, meter, "encoding")
    _check_networks(generator, critic, config, "save_bundle")
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
            if critic is not None:
                critic.save(staging / CRITIC_FILE)
        if split_path is not None:
            shutil.copyfile(split_path, staging / SPLIT_FILE)
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
        for name, content in (extra or {}).items():
            write_json(staging / name, _json_ready(content))
        staging.chmod(0o755)  # mkdtemp made it private; a bundle is read by every user
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


def _refuse_outside_links(path: Path) -> None:
    """Raise GANBundleError if a bundle file is a symbolic link that leads out of the bundle folder."""
    for name, target in links_outside(path, _BUNDLE_FILES).items():
        raise GANBundleError(
            f"{path / name} is a symbolic link to {target}, outside the bundle folder; a GAN bundle must "
            "hold its own files (copy the file into the bundle instead of linking it)"
        )


def _meter(value: Any, where: str) -> tuple[int, int]:
    """The ``meter`` of config.json as two positive integers."""
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        raise GANBundleError(f"{where}: 'meter' must be two positive integers such as [4, 4], got {value!r}")
    return int(value[0]), int(value[1])


def load_bundle(path: str | os.PathLike) -> GANBundle:
    """Load a bundle written by :func:`save_bundle`, checking that its parts belong together.

    Raises
    ------
    GANBundleError
        If a file is missing (each one named), a JSON file is malformed, the config or
        encoding does not parse or disagree, a file is a symbolic link leading out of the
        bundle folder, a model holds a Lambda layer or a custom object (refused before
        Keras reads it), a model cannot be loaded (``safe_mode=True``: no code is
        deserialised), or a network's shapes differ from the config's.
    """
    path = Path(path)
    if not path.is_dir():
        raise GANBundleError(f"no GAN bundle at {path}: the folder does not exist")
    _refuse_outside_links(path)
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise GANBundleError(
            f"{path} is not a complete GAN bundle: missing {', '.join(missing)} "
            f"(a GAN bundle holds {', '.join(REQUIRED_FILES)}, and optionally {CRITIC_FILE}); "
            "save it again with save_bundle"
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
    meter = _meter(raw["meter"], where)
    _check_encoding(encoding, config, meter, where)

    generator = load_checked_model(path / GENERATOR_FILE, error=GANBundleError)
    critic = load_checked_model(path / CRITIC_FILE, error=GANBundleError) if (path / CRITIC_FILE).is_file() else None
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
        split_path=path / SPLIT_FILE if (path / SPLIT_FILE).is_file() else None,
    )


def generate_midi(
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

    tunes = generate_tunes(bundle, n=n, seed=seed, threshold=threshold, bernoulli=bernoulli, qpm=qpm,
                               phrases_per_piece=phrases_per_piece)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [write_midi(tune, out_dir / f"{prefix}_s{seed}_{index:03d}.mid") for index, tune in enumerate(tunes)]


def generate_tunes(
    bundle: GANBundle | str | os.PathLike,
    *,
    n: int,
    seed: int,
    threshold: float = 0.5,
    bernoulli: bool = False,
    qpm: float | None = None,
    phrases_per_piece: int = 1,
) -> list[Any]:
    """The tunes :func:`generate_midi` writes, in memory (same options, same seed, same notes)."""
    from musiclib.tune import DEFAULT_QPM

    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not isinstance(phrases_per_piece, int) or phrases_per_piece < 1:
        raise ValueError(f"phrases_per_piece must be a positive integer, got {phrases_per_piece!r}")
    if not isinstance(bundle, GANBundle):
        bundle = load_bundle(bundle)
    config = bundle.config
    conditions, meter_index = piece_conditions(config, n, phrases_per_piece=phrases_per_piece, seed=seed)
    probabilities = bundle.generate(n * phrases_per_piece, seed=seed, conditions=conditions)
    rolls = binarize(probabilities, config=config, threshold=threshold, bernoulli=bernoulli, seed=seed)
    rolls = rolls.reshape(n, phrases_per_piece * rolls.shape[1], *rolls.shape[2:])  # phrases one after another
    tempo = DEFAULT_QPM if qpm is None else qpm
    if len(config.meters) == 1:
        tunes = [bundle.encoding.decode(roll, qpm=tempo, time_signature=bundle.meter) for roll in rolls]
    else:
        tunes = [bundle.encoding.decode(roll[:, : config.meter_steps[m]], qpm=tempo, time_signature=config.meters[m])
                 for roll, m in zip(rolls, meter_index)]
    shifts = sample_key_shifts(config, n, seed=seed)  # key_of_c: from C major / A minor to the corpus's keys
    return [tune.transpose(int(shift)) if shift else tune for tune, shift in zip(tunes, shifts)]


def piece_conditions(config: GANConfig, n: int, *, phrases_per_piece: int, seed: int
                     ) -> tuple[np.ndarray | None, np.ndarray]:
    """The conditions of ``n`` pieces of ``phrases_per_piece`` phrases (None: unconditional).

    Every piece is in one meter, drawn by ``config.meter_shares`` (the same draw for a
    given ``seed``); its first phrase is an opening and the others are not.

    Returns
    -------
    tuple
        ``(conditions, meter_index)``: ``(n * phrases_per_piece, n_conditions)`` in
        piece order (or None), and each piece's index into ``config.meters``.
    """
    from musiclib.gan.model import conditions_for, sample_conditions

    _, meter_index = sample_conditions(config, n, seed=seed)
    if not config.n_conditions:
        return None, meter_index
    per_phrase = np.repeat(meter_index, phrases_per_piece)
    opening = np.tile(np.arange(phrases_per_piece) == 0, n)
    return conditions_for(config, per_phrase, opening), meter_index


def is_gan_bundle(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder whose ``config.json`` says it is a GAN bundle."""
    config = Path(path) / CONFIG_FILE
    if not config.is_file():
        return False
    try:
        return read_json(config).get("kind") == _KIND
    except (ValueError, OSError, AttributeError, UnicodeDecodeError):
        return False


def export_reference(
    bundle: GANBundle | str | os.PathLike,
    name: str,
    *,
    command: str,
    root: str | os.PathLike | None = None,
    split_path: str | os.PathLike | None = None,
    notes: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``bundle`` as reference GAN bundle ``name``: the generator's weights only (no
    critic, no optimizer state), the split it was trained on and a ``reference.json``
    with the data fingerprint and the exact command that made it.

    ``root`` defaults to ``musiclib/reference``; ``split_path`` to the bundle's own.
    """
    from musiclib.lm.reference import _NAME, REFERENCE_DIR, REFERENCE_FILE

    if not isinstance(name, str) or not _NAME.match(name):
        raise GANBundleError(f"{name!r} is not a reference bundle name (lower-case letters, digits and '-')")
    if not isinstance(bundle, GANBundle):
        bundle = load_bundle(bundle)
    split = split_path if split_path is not None else bundle.split_path
    if split is None:
        raise GANBundleError("a reference GAN bundle records its training split: give split_path=")
    record = {"name": name, "dataset": bundle.data_info["dataset"], "data_hash": bundle.data_info["data_hash"],
              "command": command, **dict(notes or {})}
    target = Path(root) if root is not None else REFERENCE_DIR
    folder = save_bundle(target / name, generator=bundle.generator, config=bundle.config, encoding=bundle.encoding,
                         data_info=bundle.data_info, meter=bundle.meter, metrics=bundle.metrics,
                         history=bundle.history, with_critic=False, split_path=split,
                         extra={REFERENCE_FILE: record})
    deflate_keras_archive(folder / GENERATOR_FILE)  # the same bytes, about 9% smaller
    return folder


def load_reference(name: str, *, root: str | os.PathLike | None = None) -> GANBundle:
    """Load reference GAN bundle ``name`` with every check of :func:`load_bundle`, and
    check that its ``reference.json`` names it and records the bundle's training data."""
    from musiclib.lm.reference import REFERENCE_FILE, reference_record

    folder, record = reference_record(name, root=root, error=GANBundleError)
    if not is_gan_bundle(folder):
        raise GANBundleError(f"reference bundle {name!r} is not a GAN bundle")
    bundle = load_bundle(folder)
    if record.get("data_hash") != bundle.data_info.get("data_hash"):
        raise GANBundleError(f"{folder / REFERENCE_FILE} names other training data than the bundle's {DATA_FILE}")
    return bundle
