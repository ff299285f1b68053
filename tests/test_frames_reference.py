"""The piano-roll reference bundles that benchmarks/polyphonic.py ships: they load by name,
match their record, generate, and score what their record says on the real test split."""

from __future__ import annotations

import numpy as np
import pytest
from support import SHARED_DATA

import musiclib as ml
from musiclib._files import read_json


def _frame_references() -> list[str]:
    names = []
    for name in ml.lm.reference_names():
        record = read_json(ml.lm.reference_path(name) / ml.lm.REFERENCE_FILE)
        if record["command"].startswith("benchmarks/polyphonic.py"):
            names.append(name)
    return names


def test_the_notebook_references_are_shipped():
    assert {"jsb-chorales-nade", "piano-midi-nade"} <= set(_frame_references())


@pytest.mark.parametrize("name", _frame_references())
def test_a_reference_loads_by_name_and_generates(name):
    bundle = ml.frames.load_frame_reference(name)
    record = read_json(ml.lm.reference_path(name) / ml.lm.REFERENCE_FILE)
    assert record["dataset"] == bundle.data_info["dataset"]
    assert getattr(bundle.model, "optimizer", None) is None  # weights only
    rolls = ml.frames.generate_rolls(bundle.model, n=2, n_frames=16, seed=0)
    again = ml.frames.generate_rolls(bundle.model, n=2, n_frames=16, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(rolls, again))
    tune = ml.frames.roll_to_tune(rolls[0], steps_per_quarter=bundle.steps_per_quarter)
    assert tune.n_notes > 0


@pytest.mark.parametrize("name", _frame_references())
def test_a_reference_scores_its_recorded_test_nll(name):
    bundle = ml.frames.load_frame_reference(name)
    info = ml.datasets.polyphonic_info(bundle.data_info["dataset"])
    folder = SHARED_DATA / "polyphonic"
    if not (folder / info.file).is_file():
        pytest.skip(f"{info.file} is not in {folder} (../shared/data is absent)")
    data = ml.datasets.load_polyphonic(info.name, path=folder)
    assert ml.frames.rolls_fingerprint(data.train) == bundle.data_info["train_fingerprint"]
    test = data.test if info.name != "musedata" else data.test[:10]
    scores = ml.frames.evaluate_frames(bundle.model, test, accuracy=False)
    if len(test) == len(data.test):
        assert scores.nll == pytest.approx(bundle.metrics["test"]["nll"], abs=1e-3)
    assert scores.nll < ml.frames.bernoulli_scores(data.train, test).nll
