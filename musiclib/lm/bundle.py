"""Model bundles: one folder with everything needed to reuse a trained model safely.

A bundle holds::

    model.keras    the Keras model (loaded with safe_mode=True: no code is deserialised)
    vocab.json     the vocabulary it predicts, with the encoding's name and config
    config.json    model_type (lstm or transformer), its config, the encoding config,
                   vocab_fingerprint and vocab_size
    data.json      which data it was trained on: a data hash and the dataset name
    metrics.json   evaluation results ({} when none were given)
    history.json   the training history ({} when none was given)
    split.json     the train/valid/test split (optional)

:func:`save_bundle` writes into a temporary folder beside the destination and renames
it into place, so a reader sees either the old bundle or the complete new one.
:func:`load_bundle` checks that the pieces belong together — the vocabulary is the one
the weights were trained with, its size matches the output layer, the encoding config
is valid and is the one ``vocab.json`` names — and raises :class:`BundleError` with a
message that says what to do. A bundle from elsewhere is untrusted: a file that is a
symbolic link leading out of the bundle folder, or a ``model.keras`` that holds a Lambda
layer or a custom object, is refused before anything in it is read by Keras.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from musiclib._files import atomic_write, links_outside, read_json, write_json
from musiclib._keras import load_checked_model, quiet_keras_saving
from musiclib.lm.architectures import architecture_of, config_from_dict

__all__ = [
    "Bundle",
    "BundleError",
    "save_bundle",
    "load_bundle",
    "share_split",
    "MODEL_FILE",
    "VOCAB_FILE",
    "CONFIG_FILE",
    "DATA_FILE",
    "METRICS_FILE",
    "HISTORY_FILE",
    "SPLIT_FILE",
    "REQUIRED_FILES",
    "BUNDLE_FORMAT",
]

MODEL_FILE = "model.keras"
VOCAB_FILE = "vocab.json"
CONFIG_FILE = "config.json"
DATA_FILE = "data.json"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.json"
SPLIT_FILE = "split.json"
REQUIRED_FILES = (MODEL_FILE, VOCAB_FILE, CONFIG_FILE, DATA_FILE, METRICS_FILE, HISTORY_FILE)
"""Files every bundle has (``split.json`` is optional)."""

BUNDLE_FORMAT = 1
"""Version of the bundle layout, stored in ``config.json``."""

_KIND = "musiclib.bundle"
_DATA_KEYS = ("data_hash", "dataset")
_SHORT_HASH = 12  # characters of a fingerprint shown in messages


class BundleError(ValueError):
    """A bundle that is incomplete or whose parts do not belong together."""


@dataclass(frozen=True)
class Bundle:
    """A loaded model bundle.

    Attributes
    ----------
    path
        The bundle folder.
    model
        The Keras model (not compiled: for inference and evaluation).
    config
        Its :class:`~musiclib.lm.lstm.LSTMConfig` or :class:`~musiclib.lm.transformer.TransformerConfig`.
    vocab
        The :class:`~musiclib.encoding.Vocabulary` the model predicts.
    encoding
        The token encoding the vocabulary's tokens come from.
    data_info
        ``data.json``: at least ``data_hash`` and ``dataset``.
    metrics
        ``metrics.json``.
    history
        ``history.json``.
    split_path
        ``split.json`` inside the bundle, or None when none was saved.
    """

    path: Path
    model: Any
    config: Any
    vocab: Any
    encoding: Any
    data_info: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    history: dict[str, Any] = field(default_factory=dict)
    split_path: Path | None = None


def _short(fingerprint: str) -> str:
    return str(fingerprint)[:_SHORT_HASH]


def _output_size(model: Any) -> int:
    return int(model.outputs[0].shape[-1])


def _encoding_dict(encoding_config: Any) -> dict[str, Any]:
    """``{"name": ..., **params}`` from a config mapping or an encoding object."""
    if hasattr(encoding_config, "config") and hasattr(encoding_config, "name"):
        return {"name": encoding_config.name, **encoding_config.config()}
    if not isinstance(encoding_config, Mapping):
        raise BundleError(
            f"encoding_config must be an encoding or a mapping with a 'name' key, got {encoding_config!r}"
        )
    return dict(encoding_config)


def _parse_encoding(config: Mapping[str, Any], where: str):
    from musiclib.encoding import encoding_from_config

    try:
        return encoding_from_config(config)
    except (ValueError, TypeError) as error:
        raise BundleError(f"{where}: the encoding config does not parse: {error}") from None


def _check_data_info(data_info: Any, where: str) -> dict[str, Any]:
    if not isinstance(data_info, Mapping):
        raise BundleError(f"{where}: data_info must be a mapping with keys {list(_DATA_KEYS)}, got {data_info!r}")
    for key in _DATA_KEYS:
        if not isinstance(data_info.get(key), str) or not data_info.get(key):
            raise BundleError(f"{where}: data_info[{key!r}] must be a non-empty string, got {data_info.get(key)!r}")
    return dict(data_info)


def _size_mismatch(vocab_size: int, output_size: int) -> BundleError:
    return BundleError(
        f"vocab.json has {vocab_size} tokens but the model predicts {output_size}: the vocabulary does "
        "not match the weights; retrain or use the vocabulary saved with this model"
    )


def _is_replaceable(path: Path) -> bool:
    """Only an earlier bundle (or an empty folder) may be replaced by save_bundle."""
    if not path.is_dir():
        return False
    if not any(path.iterdir()):
        return True
    config = path / CONFIG_FILE
    if not config.is_file():
        return False
    try:
        return read_json(config).get("kind") == _KIND
    except (ValueError, OSError, AttributeError):
        return False


def save_bundle(
    path: str | os.PathLike,
    *,
    model: Any,
    config: Any,
    vocab: Any,
    encoding_config: Any,
    data_info: Mapping[str, Any],
    split_path: str | os.PathLike | None = None,
    metrics: Mapping[str, Any] | None = None,
    history: Mapping[str, Any] | None = None,
) -> Path:
    """Write a model bundle folder atomically.

    Parameters
    ----------
    path
        The bundle folder. An existing bundle there is replaced, but only once the new
        one is complete; any other existing file or non-empty folder is an error.
    model
        The trained Keras model.
    config
        The :class:`~musiclib.lm.lstm.LSTMConfig` or
        :class:`~musiclib.lm.transformer.TransformerConfig` it was built with.
    vocab
        The :class:`~musiclib.encoding.Vocabulary` it predicts.
    encoding_config
        The encoding (an encoding object, or ``{"name": ..., **encoding.config()}``).
    data_info
        At least ``data_hash`` (a hash of the training data) and ``dataset`` (its
        name); other JSON-able keys are kept.
    split_path
        A ``split.json`` to copy into the bundle.
    metrics, history
        JSON-able evaluation results and training history.

    Returns
    -------
    Path
        The bundle folder.

    Raises
    ------
    BundleError
        If the parts do not belong together (vocabulary size, model output size and
        ``config.vocab_size`` differ), the encoding config does not parse,
        ``data_info`` lacks a key, or ``path`` holds something other than a bundle.
    """
    path = Path(path)
    try:
        model_type = architecture_of(config)
    except TypeError as error:
        raise BundleError(str(error)) from None
    output_size = _output_size(model)
    if len(vocab) != output_size:
        raise _size_mismatch(len(vocab), output_size)
    if config.vocab_size != len(vocab):
        raise BundleError(
            f"config.vocab_size is {config.vocab_size} but the vocabulary has {len(vocab)} tokens; "
            "build the config with the vocabulary the model is trained on"
        )
    encoding = _encoding_dict(encoding_config)
    _parse_encoding(encoding, "encoding_config")
    data = _check_data_info(data_info, "data_info")
    if split_path is not None and not Path(split_path).is_file():
        raise BundleError(f"split_path {split_path} is not a file")
    if path.exists() and not _is_replaceable(path):
        raise BundleError(
            f"{path} exists and is not a model bundle; refusing to replace it (choose another path)"
        )

    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        with quiet_keras_saving():
            model.save(staging / MODEL_FILE)
        params = {key: value for key, value in encoding.items() if key != "name"}
        vocab.save(staging / VOCAB_FILE, encoding=encoding["name"], config=params)
        write_json(
            staging / CONFIG_FILE,
            {
                "kind": _KIND,
                "format": BUNDLE_FORMAT,
                "model_type": model_type,
                "model": config.to_dict(),
                "encoding": encoding,
                "vocab_fingerprint": vocab.fingerprint,
                "vocab_size": len(vocab),
            },
        )
        write_json(staging / DATA_FILE, data)
        write_json(staging / METRICS_FILE, dict(metrics or {}))
        write_json(staging / HISTORY_FILE, dict(history or {}))
        if split_path is not None:
            atomic_write(staging / SPLIT_FILE, Path(split_path).read_bytes())
        _swap_into_place(staging, path)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return path


def _swap_into_place(staging: Path, path: Path) -> None:
    """Rename ``staging`` onto ``path``; an old folder there is moved aside first and
    deleted only after the new one is in place (restored if the rename fails)."""
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


def _read_json_file(path: Path) -> Any:
    try:
        return read_json(path)
    except (ValueError, UnicodeDecodeError) as error:
        raise BundleError(f"{path} is not valid JSON: {error}") from None


def _refuse_outside_links(path: Path) -> None:
    """Raise BundleError if a bundle file is a symbolic link that leads out of the bundle folder."""
    for name, target in links_outside(path, (*REQUIRED_FILES, SPLIT_FILE)).items():
        raise BundleError(
            f"{path / name} is a symbolic link to {target}, outside the bundle folder; a bundle must hold "
            "its own files (copy the file into the bundle instead of linking it)"
        )


def _check_vocab_encoding(vocab_file: Any, encoding: Any, path: Path) -> None:
    """Raise BundleError unless the encoding vocab.json names is the one config.json records."""
    if vocab_file.encoding is None:
        return
    declared = {"name": vocab_file.encoding, **(vocab_file.config or {})}
    named = _parse_encoding(declared, str(path / VOCAB_FILE))
    if named != encoding:
        raise BundleError(
            f"{path / VOCAB_FILE} belongs to the encoding {named.name!r} {named.config()} but "
            f"{CONFIG_FILE} records {encoding.name!r} {encoding.config()}; "
            "use the vocab.json saved with this model"
        )


def load_bundle(path: str | os.PathLike) -> Bundle:
    """Load a bundle written by :func:`save_bundle`, checking that its parts belong together.

    Parameters
    ----------
    path
        The bundle folder.

    Returns
    -------
    Bundle
        Model (loaded with ``safe_mode=True``, not compiled), config, vocabulary,
        encoding, data info, metrics, history and the split file if any.

    Raises
    ------
    BundleError
        If a file is missing (each one named), a JSON file is malformed, the
        vocabulary's fingerprint differs from the one recorded in ``config.json``,
        the vocabulary size differs from the model's output size, the encoding config
        does not parse or differs from the one ``vocab.json`` names, a file is a
        symbolic link leading out of the bundle folder, the model file holds a Lambda
        layer or a custom object (refused before Keras reads it), or the model file
        cannot be loaded.
    """
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"no model bundle at {path}: the folder does not exist")
    _refuse_outside_links(path)
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise BundleError(
            f"{path} is not a complete model bundle: missing {', '.join(missing)} "
            f"(a bundle holds {', '.join(REQUIRED_FILES)}); save it again with save_bundle"
        )

    raw = _read_json_file(path / CONFIG_FILE)
    if not isinstance(raw, dict) or raw.get("kind") != _KIND:
        raise BundleError(f"{path / CONFIG_FILE} is not a musiclib bundle config")
    if raw.get("format") != BUNDLE_FORMAT:
        raise BundleError(
            f"{path / CONFIG_FILE}: unsupported bundle format {raw.get('format')!r} (supported: {BUNDLE_FORMAT})"
        )
    for key in ("model", "encoding", "vocab_fingerprint", "vocab_size"):
        if key not in raw:
            raise BundleError(f"{path / CONFIG_FILE} lacks {key!r}")
    try:
        config = config_from_dict(raw.get("model_type", "lstm"), raw["model"])
    except (ValueError, TypeError) as error:
        raise BundleError(f"{path / CONFIG_FILE}: invalid model config: {error}") from None

    from musiclib.encoding import Vocabulary

    try:
        vocab_file = Vocabulary.load_file(path / VOCAB_FILE)
    except ValueError as error:
        raise BundleError(f"{path / VOCAB_FILE} is not a valid vocabulary: {error}") from None
    vocab = vocab_file.vocabulary
    if vocab.fingerprint != raw["vocab_fingerprint"]:
        raise BundleError(
            f"{path / VOCAB_FILE} (fingerprint {_short(vocab.fingerprint)}) is not the vocabulary this "
            f"model was trained with (config.json records {_short(raw['vocab_fingerprint'])}); "
            "use the vocab.json saved with this model"
        )
    if len(vocab) != raw["vocab_size"]:
        raise BundleError(
            f"{path / VOCAB_FILE} has {len(vocab)} tokens but config.json records {raw['vocab_size']}; "
            "use the vocab.json saved with this model"
        )
    encoding = _parse_encoding(raw["encoding"], str(path / CONFIG_FILE))
    _check_vocab_encoding(vocab_file, encoding, path)

    model = load_checked_model(path / MODEL_FILE, error=BundleError)
    output_size = _output_size(model)
    if len(vocab) != output_size:
        raise _size_mismatch(len(vocab), output_size)
    if config.vocab_size != output_size:
        raise BundleError(
            f"config.json says vocab_size {config.vocab_size} but the model predicts {output_size} tokens; "
            "the config does not belong to these weights"
        )

    data_info = _read_json_file(path / DATA_FILE)
    _check_data_info(data_info, str(path / DATA_FILE))
    split = path / SPLIT_FILE
    return Bundle(
        path=path,
        model=model,
        config=config,
        vocab=vocab,
        encoding=encoding,
        data_info=dict(data_info),
        metrics=_read_json_file(path / METRICS_FILE),
        history=_read_json_file(path / HISTORY_FILE),
        split_path=split if split.is_file() else None,
    )


def share_split(a: Bundle, b: Bundle) -> bool:
    """Whether two bundles were trained on the same split with the same vocabulary, so that
    their test scores and generated sets compare: the same ``split.json`` and vocabulary.

    ``data_hash`` is stricter than needed here: it also covers the corpus fingerprint,
    which changes with the loader's settings even when the tunes and their tokens do not.
    """
    if a.split_path is None or b.split_path is None:
        return False
    return a.vocab.fingerprint == b.vocab.fingerprint and \
        Path(a.split_path).read_bytes() == Path(b.split_path).read_bytes()
