"""Train/valid/test splits by tune."""

from __future__ import annotations

import json

import pytest
from support import tiny_tune

from musiclib.split import Split, split_corpus, split_ids

IDS = [f"MIDI/tune{i:03d}.mid" for i in range(200)]


def test_deterministic_for_a_seed():
    assert split_ids(IDS, seed=3) == split_ids(IDS, seed=3)
    assert split_ids(IDS, seed=3) != split_ids(IDS, seed=4)


def test_parts_are_disjoint_and_cover_all_ids():
    split = split_ids(IDS, valid_fraction=0.15, test_fraction=0.05, seed=1)
    parts = [set(split.train), set(split.valid), set(split.test)]
    assert parts[0].isdisjoint(parts[1]) and parts[0].isdisjoint(parts[2]) and parts[1].isdisjoint(parts[2])
    assert set().union(*parts) == set(IDS)


@pytest.mark.parametrize("valid, test", [(0.1, 0.1), (0.15, 0.05), (0.0, 0.2), (0.0, 0.0), (0.33, 0.33)])
def test_sizes_match_fractions(valid, test):
    split = split_ids(IDS, valid_fraction=valid, test_fraction=test)
    assert split.sizes() == {
        "train": len(IDS) - round(len(IDS) * valid) - round(len(IDS) * test),
        "valid": round(len(IDS) * valid),
        "test": round(len(IDS) * test),
    }
    assert (split.valid_fraction, split.test_fraction, split.seed) == (valid, test, 0)


def test_independent_of_input_order():
    assert split_ids(IDS, seed=7) == split_ids(list(reversed(IDS)), seed=7) == split_ids(set(IDS), seed=7)


def test_tiny_inputs():
    assert split_ids([]).sizes() == {"train": 0, "valid": 0, "test": 0}
    assert split_ids(["only"]).train == ("only",)


def test_save_load_round_trip(tmp_path):
    split = split_ids(IDS, seed=5)
    path = tmp_path / "split.json"
    split.save(path)
    assert Split.load(path) == split
    assert json.loads(path.read_text())["seed"] == 5
    assert [p.name for p in tmp_path.iterdir()] == ["split.json"]  # atomic: no temporary left
    (tmp_path / "other.json").write_text('{"train": []}')
    with pytest.raises(ValueError, match="not a musiclib split"):
        Split.load(tmp_path / "other.json")


@pytest.mark.parametrize(
    "kwargs, parameter",
    [
        ({"valid_fraction": -0.1}, "valid_fraction"),
        ({"valid_fraction": 1.0}, "valid_fraction"),
        ({"test_fraction": 1.5}, "test_fraction"),
        ({"test_fraction": float("nan")}, "test_fraction"),
        ({"test_fraction": "0.1"}, "test_fraction"),
        ({"valid_fraction": 0.5, "test_fraction": 0.5}, "valid_fraction \\+ test_fraction"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_validation_names_the_parameter(kwargs, parameter):
    with pytest.raises(ValueError, match=parameter):
        split_ids(IDS, **kwargs)


def test_duplicate_and_bad_ids_rejected():
    with pytest.raises(ValueError, match="unique.*'a'"):
        split_ids(["a", "b", "a"])
    with pytest.raises(ValueError, match="str"):
        split_ids(["a", 2])
    with pytest.raises(ValueError, match="not one string"):
        split_ids("abc")
    with pytest.raises(ValueError, match="overlap"):
        Split(("a",), ("a",), (), seed=0, valid_fraction=0.1, test_fraction=0.1)


def _tunes(n: int):
    return [tiny_tune(i).replace(source=f"t{i:02d}.mid") for i in range(n)]


def test_split_corpus_and_apply():
    tunes = _tunes(20)
    split = split_corpus(tunes, valid_fraction=0.2, test_fraction=0.1, seed=2)
    train, valid, test = split.apply(reversed(tunes))
    assert (len(train), len(valid), len(test)) == (14, 4, 2)
    assert [t.source for t in valid] == list(split.valid)
    assert {t.source for t in train + valid + test} == {t.source for t in tunes}


def test_apply_reports_missing_ids():
    tunes = _tunes(10)
    split = split_corpus(tunes)
    with pytest.raises(KeyError, match="match no tune.*'t00.mid'"):
        split.apply(tunes[1:])
    duplicated = tunes + [tunes[0]]
    with pytest.raises(ValueError, match="share the source"):
        split.apply(duplicated)
