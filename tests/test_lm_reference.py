"""Reference bundles: exported weights-only, loaded by name with every bundle check."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from musiclib._files import read_json, write_json
from musiclib.encoding import get_encoding
import musiclib.lm.reference as reference
from musiclib.lm.architectures import architecture_of
from musiclib.lm.bundle import BundleError, save_bundle
from musiclib.lm.lstm import build_lstm, config_for
from musiclib.lm.sampling import sample_tokens


def _weight_groups(archive: zipfile.ZipFile) -> set[str]:
    import io

    import h5py

    with h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as weights:
        return set(weights.keys())


@pytest.fixture(scope="module")
def compiled_bundle(tmp_path_factory):
    """A bundle whose model was compiled and trained one step (so it carries optimizer state)."""
    import keras

    encoding = get_encoding("events")
    vocab = encoding.vocabulary()
    config = config_for("tiny", len(vocab), lstm_units=(8,), sequence_length=8)
    model = build_lstm(config)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    x = np.ones((2, 8), dtype=np.int32)
    model.train_on_batch(x, x)
    path = save_bundle(tmp_path_factory.mktemp("run") / "bundle", model=model, config=config, vocab=vocab,
                       encoding_config=encoding, data_info={"data_hash": "abc123", "dataset": "toy",
                                                            "monophonic_tracks": [0]})
    return path, model


def test_export_keeps_weights_drops_optimizer_and_loads_by_name(compiled_bundle, tmp_path, monkeypatch):
    path, model = compiled_bundle
    folder = reference.export_reference(path, "toy-lstm", command="benchmarks/reference_models.py toy", root=tmp_path)
    with zipfile.ZipFile(path / "model.keras") as original, zipfile.ZipFile(folder / "model.keras") as exported:
        assert json.loads(original.read("config.json")).get("compile_config")
        assert not json.loads(exported.read("config.json")).get("compile_config")
        assert "optimizer" in _weight_groups(original) and "optimizer" not in _weight_groups(exported)
    assert (folder / "model.keras").stat().st_size < (path / "model.keras").stat().st_size
    record = read_json(folder / reference.REFERENCE_FILE)
    assert record["command"] == "benchmarks/reference_models.py toy" and record["data_hash"] == "abc123"
    bundle = reference.load_reference("toy-lstm", root=tmp_path)
    for a, b in zip(bundle.model.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert bundle.data_info["monophonic_tracks"] == [0]
    assert sample_tokens(bundle, max_tokens=20, seed=0)[0] == "BOS"
    monkeypatch.setattr(reference, "REFERENCE_DIR", tmp_path)
    assert reference.reference_names() == ["toy-lstm"]
    assert reference.resolve_bundle("toy-lstm") == folder
    assert reference.resolve_bundle(str(path)) == path


def test_unknown_and_malformed_names_are_clear_errors(tmp_path):
    with pytest.raises(BundleError, match="no reference bundle named 'nope'; available: none"):
        reference.load_reference("nope", root=tmp_path)
    with pytest.raises(BundleError, match="not a reference bundle name"):
        reference.load_reference("../etc", root=tmp_path)
    with pytest.raises(BundleError, match="not a folder, nor a reference bundle name"):
        reference.resolve_bundle(tmp_path / "missing")


def test_a_tampered_reference_is_refused(compiled_bundle, tmp_path):
    path, _ = compiled_bundle
    folder = reference.export_reference(path, "toy-lstm", command="x", root=tmp_path)
    record = read_json(folder / reference.REFERENCE_FILE)
    write_json(folder / reference.REFERENCE_FILE, {**record, "data_hash": "something-else"})
    with pytest.raises(BundleError, match="names data 'something-else'"):
        reference.load_reference("toy-lstm", root=tmp_path)
    write_json(folder / reference.REFERENCE_FILE, record)
    (folder / "history.json").unlink()
    (folder / "history.json").symlink_to(path / "history.json")
    with pytest.raises(BundleError, match="symbolic links"):
        reference.load_reference("toy-lstm", root=tmp_path)


def test_shipped_reference_bundles_load_and_match_their_record():
    for name in reference.reference_names():
        record = read_json(reference.reference_path(name) / reference.REFERENCE_FILE)
        if record["command"].startswith("benchmarks/polyphonic.py"):  # piano-roll models: tests/test_frames_reference.py
            with pytest.raises(BundleError, match="ml.frames.load_frame_reference"):
                reference.load_reference(name)
            continue
        if record["command"].startswith("benchmarks/gan_recipe.py"):  # GANs: tests/test_gan.py
            with pytest.raises(BundleError, match="ml.gan.load_reference"):
                reference.load_reference(name)
            continue
        bundle = reference.load_reference(name)
        assert record["command"].startswith("benchmarks/reference_models.py")
        architecture = record.get("architecture", "lstm")
        assert bundle.metrics["test"][0]["model"] == architecture
        assert architecture_of(bundle.config) == architecture
        assert sample_tokens(bundle, max_tokens=16, seed=0)[0] == "BOS"  # loads and generates
    for archive in reference.REFERENCE_DIR.rglob("*.keras"):  # stored deflated: the budget needs it
        with zipfile.ZipFile(archive) as members:
            assert all(m.compress_type == zipfile.ZIP_DEFLATED for m in members.infolist()), archive
    total = sum(p.stat().st_size for p in reference.REFERENCE_DIR.rglob("*") if p.is_file()) \
        if reference.REFERENCE_DIR.is_dir() else 0
    assert total <= 25_000_000
