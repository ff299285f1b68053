"""musiclib.pipeline: notebooks run in order by papermill (real kernels), resume, failures named."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from musiclib import pipeline

REPO = Path(__file__).resolve().parents[1]

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


def test_the_pipelines_kernels_talk_over_ipc_sockets_not_tcp_ports(tmp_path, capfd):
    source = tmp_path / "notebooks"
    source.mkdir()
    write_notebook(source, "01_transport.ipynb", "from ipykernel import get_connection_info\n"
                   "Path(run_dir, 'transport.txt').write_text(get_connection_info(unpack=True)['transport'])")
    config = pipeline.PipelineConfig(name="ipc", runs_root=tmp_path / "runs")
    run_dir = pipeline.run(config, notebooks=("01_transport.ipynb",), source_dir=source, log=[].append,
                           progress=False)
    assert (run_dir / "transport.txt").read_text() == ("tcp" if os.name == "nt" else "ipc")
    assert "without encryption" not in capfd.readouterr().err  # ipykernel's warning about TCP


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


# --------------------------------------------------------------------------- killed mid-notebook

KILL_TIMEOUT_S = 240  # one notebook of the quick walkthrough takes well under a minute here
KERNEL_EXIT_S = 30  # ipykernel notices a dead parent within a second or two
_PNG_START, _PNG_END = b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"


def _incomplete(path: Path) -> str | None:
    """Why ``path`` is not a complete artifact of its kind, or None (a vanished file is not partial)."""
    try:
        data = path.read_bytes()
        if path.suffix == ".ipynb":
            notebook = nbformat.reads(data.decode("utf-8"), as_version=4)
            if not notebook.metadata.get("papermill", {}).get("end_time"):
                return "a notebook that has not finished executing"
        elif path.suffix == ".png" and not (data.startswith(_PNG_START) and data.endswith(_PNG_END)):
            return "a truncated PNG"
        elif path.suffix == ".json":
            json.loads(data)
        elif path.suffix in (".keras", ".npz", ".zip"):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                if archive.testzip() is not None:
                    return "a damaged archive"
        elif path.suffix in (".mid", ".midi") and not data.startswith(b"MThd"):
            return "a MIDI file without its header"
    except FileNotFoundError:
        return None
    except (ValueError, zipfile.BadZipFile, nbformat.reader.NotJSONError) as error:
        return f"unreadable ({type(error).__name__}: {error})"
    return None


_VERDICTS: dict[tuple, str | None] = {}


def _incomplete_cached(path: Path) -> str | None:
    """:func:`_incomplete`, read again only when the file's inode, size or mtime changed since the last poll
    (the kill tests poll every 50 ms; reading every bundle each time starved the pipeline being watched)."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    key = (str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if key not in _VERDICTS:
        _VERDICTS[key] = _incomplete(path)
    return _VERDICTS[key]


def partial_files(run_dir: Path) -> list[str]:
    """Every half-written artifact in the run folder (hidden temporaries aside), every incomplete bundle."""
    from musiclib.gan import REQUIRED_FILES as GAN_FILES
    from musiclib.lm.bundle import REQUIRED_FILES as LSTM_FILES

    found = []
    for path in sorted(run_dir.rglob("*")):
        relative = path.relative_to(run_dir)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and (why := _incomplete_cached(path)):
            found.append(f"{relative}: {why}")
        if path.name == "bundle" and path.is_dir():
            required = LSTM_FILES if relative.parts[0] == "lstm" else GAN_FILES
            missing = [name for name in required if not (path / name).exists()]
            if missing and path.exists():
                found.append(f"{relative}: a bundle without {missing}")
    return found


def start_quick_pipeline(root: Path, name: str, log_file: Path) -> subprocess.Popen:
    """``musiclib pipeline --quick --until 03`` in its own process group, output to ``log_file``."""
    command = [sys.executable, "-c", "import sys; from musiclib.cli import main; sys.exit(main())",
               "pipeline", "--quick", "--name", name, "--runs-root", str(root), "--until", "03"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "3"}
    with open(log_file, "wb") as log:
        return subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _kernels_of(pid: int) -> list[int]:
    """Kernels jupyter_client started for ``pid`` (in a session of their own: a group kill misses them)."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if f"JPY_PARENT_PID={pid}".encode() in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return found


def kill_when(process: subprocess.Popen, ready, run_dir: Path) -> list[str]:
    """Poll the run folder until ``ready()``, then SIGKILL the pipeline's process group.

    Returns every half-written artifact seen while polling and after the kill; waits until the
    notebook kernel (which papermill starts in a session of its own) has exited too.
    """
    seen: set[str] = set()
    deadline = time.monotonic() + KILL_TIMEOUT_S
    while not ready():
        assert process.poll() is None, f"the pipeline ended (rc {process.returncode}) before the kill point"
        assert time.monotonic() < deadline, "the kill point never came"
        seen.update(partial_files(run_dir))
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    deadline = time.monotonic() + KERNEL_EXIT_S
    while (kernels := _kernels_of(process.pid)) and time.monotonic() < deadline:
        seen.update(partial_files(run_dir))
        time.sleep(0.2)
    for pid in kernels:  # only if the kernel outlived its parent: fail, but leave no process behind
        os.kill(pid, signal.SIGKILL)
    assert not kernels, f"the notebook kernel {kernels} kept running after the pipeline was killed"
    seen.update(partial_files(run_dir))
    return sorted(seen)


def _exists(*paths: Path):
    return lambda: all(path.exists() for path in paths)


def _run_to_end(root: Path, name: str, log_file: Path) -> str:
    process = start_quick_pipeline(root, name, log_file)
    try:
        process.wait(timeout=KILL_TIMEOUT_S * 2)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    text = log_file.read_text(errors="replace")
    assert process.returncode == 0, text[-3000:]
    return text


def test_a_pipeline_killed_mid_notebook_leaves_no_partial_file_and_resumes_there(tmp_path):
    root, name = tmp_path, "killed"
    run_dir = root / name
    done = run_dir / ".done"
    first, second, third = (tmp_path / f"run{i}.log" for i in (1, 2, 3))

    # 1. killed while notebook 02 trains the LSTM (its lstm/ folder has appeared)
    process = start_quick_pipeline(root, name, first)
    seen = kill_when(process, _exists(done / "01_data_prep.ipynb.json", run_dir / "lstm"), run_dir)
    assert seen == [], f"half-written artifacts during or after the kill in notebook 02: {seen}"
    assert not (done / "02_train_lstm.ipynb.json").exists()

    # 2. the rerun skips 01, reruns 02 to its end, and is killed while notebook 03 trains the GAN
    process = start_quick_pipeline(root, name, second)
    seen = kill_when(process, _exists(done / "02_train_lstm.ipynb.json", run_dir / "gan"), run_dir)
    log = second.read_text(errors="replace")
    assert "01_data_prep.ipynb: already done" in log and "02_train_lstm.ipynb: running" in log, log[-3000:]
    assert seen == [], f"half-written artifacts during or after the kill in notebook 03: {seen}"
    assert not (done / "03_train_gan.ipynb.json").exists()

    # 3. the last rerun resumes at 03 and completes; everything in the run folder is whole
    log = _run_to_end(root, name, third)
    assert "01_data_prep.ipynb: already done" in log, log[-3000:]
    assert "02_train_lstm.ipynb: already done" in log, log[-3000:]
    assert "03_train_gan.ipynb: running" in log and "Run complete" in log, log[-3000:]
    assert partial_files(run_dir) == []
    assert sorted(p.name for p in (run_dir / "notebooks").iterdir()) == list(pipeline.notebooks_until("03"))
    assert list((run_dir / ".running").iterdir()) == []
