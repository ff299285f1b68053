"""musiclib.pipeline: notebooks run in order by papermill (real kernels), resume, failures named."""

from __future__ import annotations

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from musiclib import pipeline

PARAMETERS = 'seed: int = 0  # seed\nquick: bool = False  # quick mode\nrun_dir: str = "runs/latest"  # run folder'


def write_notebook(folder, name, *cells, parameters=PARAMETERS):
    notebook = new_notebook(cells=[new_code_cell("from pathlib import Path")])
    cell = new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    notebook.cells += [cell, *(new_code_cell(source) for source in cells)]
    notebook.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nbformat.write(notebook, folder / name)


@pytest.fixture
def walkthrough(tmp_path):
    """Two notebooks: the first writes a file, the second reads it (and may be made to fail)."""
    source = tmp_path / "notebooks"
    source.mkdir()
    write_notebook(source, "01_write.ipynb",
                   "Path(run_dir, 'first.txt').write_text(f'seed={seed} quick={quick}')")
    write_notebook(source, "02_read.ipynb",
                   "text = Path(run_dir, 'first.txt').read_text()",
                   "Path(run_dir, 'second.txt').write_text(text.upper())")
    return source


def run(config, source, log):
    return pipeline.run(config, notebooks=("01_write.ipynb", "02_read.ipynb"), source_dir=source, log=log.append,
                        progress=False)


def test_runs_in_order_with_parameters_and_writes_a_manifest(tmp_path, walkthrough):
    config = pipeline.PipelineConfig(name="r", runs_root=tmp_path / "runs", seed=3, quick=True)
    log: list[str] = []
    run_dir = run(config, walkthrough, log)
    assert (run_dir / "second.txt").read_text() == "SEED=3 QUICK=TRUE"
    assert sorted(p.name for p in (run_dir / "notebooks").iterdir()) == ["01_write.ipynb", "02_read.ipynb"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["parameters"]["seed"] == 3 and manifest["parameters"]["quick"] is True
    assert set(manifest["notebooks"]) == {"01_write.ipynb", "02_read.ipynb"}
    assert {"git_commit", "versions", "synthesizer", "total_seconds"} <= set(manifest)
    assert "tensorflow" in manifest["versions"] or "numpy" in manifest["versions"]
    # only declared parameters are passed: the notebooks declare no dataset
    assert "dataset" not in manifest["notebooks"]["01_write.ipynb"]["parameters"]


def test_preset_and_epochs_pass_through_only_when_given():
    plain = pipeline.PipelineConfig().parameters()
    assert "preset" not in plain and "epochs" not in plain  # the notebooks' own defaults (short presets)
    given = pipeline.PipelineConfig(preset="default", epochs=3).parameters()
    assert given["preset"] == "default" and given["epochs"] == 3


def test_rerun_skips_completed_notebooks_and_reruns_after_a_change(tmp_path, walkthrough):
    config = pipeline.PipelineConfig(name="r", runs_root=tmp_path / "runs")
    run(config, walkthrough, [])
    log: list[str] = []
    run(config, walkthrough, log)
    assert sum("skipping" in line for line in log) == 2
    # editing the first notebook reruns it and everything after it
    write_notebook(walkthrough, "01_write.ipynb", "Path(run_dir, 'first.txt').write_text('changed')")
    log.clear()
    run_dir = run(config, walkthrough, log)
    assert not any("skipping" in line for line in log)
    assert (run_dir / "second.txt").read_text() == "CHANGED"


def test_other_parameters_rerun(tmp_path, walkthrough):
    run(pipeline.PipelineConfig(name="r", runs_root=tmp_path / "runs"), walkthrough, [])
    log: list[str] = []
    run_dir = run(pipeline.PipelineConfig(name="r", runs_root=tmp_path / "runs", seed=5), walkthrough, log)
    assert not any("skipping" in line for line in log)
    assert (run_dir / "second.txt").read_text() == "SEED=5 QUICK=FALSE"


def test_failure_names_notebook_and_cell_and_a_rerun_resumes_there(tmp_path, walkthrough):
    write_notebook(walkthrough, "02_read.ipynb", "text = Path(run_dir, 'first.txt').read_text()",
                   "raise ValueError('broken on purpose')")
    config = pipeline.PipelineConfig(name="r", runs_root=tmp_path / "runs")
    with pytest.raises(pipeline.PipelineError) as info:
        run(config, walkthrough, [])
    message = str(info.value)
    # execution count in the executed notebook: papermill adds an injected-parameters cell before ours
    assert "02_read.ipynb" in message and "cell [5]" in message and "broken on purpose" in message
    write_notebook(walkthrough, "02_read.ipynb", "text = Path(run_dir, 'first.txt').read_text()",
                   "Path(run_dir, 'second.txt').write_text(text.upper())")
    log: list[str] = []
    run_dir = run(config, walkthrough, log)
    assert any("01_write.ipynb: already done" in line for line in log)
    assert any("02_read.ipynb: running" in line for line in log)
    assert (run_dir / "second.txt").exists()


def test_missing_notebook_is_a_clear_error(tmp_path, walkthrough):
    config = pipeline.PipelineConfig(name="r", runs_root=tmp_path / "runs")
    with pytest.raises(pipeline.PipelineError, match="03_missing.ipynb not found"):
        pipeline.run(config, notebooks=("03_missing.ipynb",), source_dir=walkthrough, log=lambda _: None)


def test_every_repository_notebook_has_one_parameters_cell_right_after_the_imports():
    for name in pipeline.NOTEBOOKS:
        cells = nbformat.read(pipeline.notebooks_dir() / name, as_version=4).cells
        code = [c for c in cells if c.cell_type == "code"]
        tagged = [i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", [])]
        assert tagged == [1], f"{name}: the parameters cell must be the second code cell (after the imports)"
        for line in code[1].source.splitlines():
            if line.strip():
                assert ":" in line.split("=")[0] and "#" in line, f"{name}: {line!r} needs a type and a comment"
        assert any(c.cell_type == "markdown" and "Exercises" in c.source for c in cells), f"{name}: no exercises"
