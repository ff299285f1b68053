"""Run the numbered notebooks in order with papermill into a run folder.

``runs/<name>/`` receives the executed notebooks, everything they write (bundles, MIDI,
WAV, figures, metrics) and ``manifest.json`` (git commit, parameters, data fingerprint,
library versions). A notebook that completes leaves a marker in ``runs/<name>/.done/``;
a rerun with the same parameters (and unchanged notebooks) skips those and resumes at the
first notebook whose outputs are missing. A failing notebook stops the run naming the notebook and cell.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import subprocess
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

from musiclib._files import read_json, write_json

__all__ = [
    "NOTEBOOKS",
    "PipelineError",
    "PipelineConfig",
    "NotebookSettings",
    "notebook_settings",
    "notebooks_dir",
    "run",
    "QUICK_ENV",
    "RUN_DIR_ENV",
]

NOTEBOOKS = (
    "01_data_prep.ipynb",
    "02_train_lstm.ipynb",
    "03_train_gan.ipynb",
    "04_generate.ipynb",
    "05_spectrogram_analysis.ipynb",
    "06_evaluation.ipynb",
)
"""The walkthrough, in order (notebooks that a run does not declare a parameter for ignore it)."""

GENERATED_DIRS = "lstm/midi/set,gan/midi/set"
"""Where notebooks 04 (LSTM) and 03 (GAN) write their evaluation sets, relative to the run folder."""

QUICK_ENV = "MUSICLIB_QUICK"
"""Set to 1 to force quick mode in every notebook (the test suite does, for nbval)."""

RUN_DIR_ENV = "MUSICLIB_RUN_DIR"
"""Overrides a notebook's default ``run_dir`` (the test suite points it at a temporary folder)."""

QUICK_MAX_TUNES = 60
"""Tunes drawn (with the seed) from the corpus in quick mode, the same in every notebook."""

_VERSIONED = ("musiclib", "numpy", "symusic", "music21", "keras", "tensorflow", "librosa", "papermill", "matplotlib")
_DEFAULT_RUN_DIR = "runs/latest"


class PipelineError(RuntimeError):
    """A notebook failed; the message names the notebook, the cell and the error."""


@dataclass(frozen=True)
class NotebookSettings:
    """The derived values a notebook computes from its parameters (see :func:`notebook_settings`)."""

    quick: bool
    run_dir: Path
    seed: int

    @property
    def max_tunes(self) -> int | None:
        """The corpus subset every notebook prepares in quick mode (None: the whole corpus)."""
        return QUICK_MAX_TUNES if self.quick else None


def notebook_settings(*, quick: bool, run_dir: str, seed: int = 0) -> NotebookSettings:
    """Resolve a notebook's parameters: environment overrides, folders created, seed checked.

    ``MUSICLIB_QUICK=1`` forces quick mode; ``MUSICLIB_RUN_DIR`` replaces the default
    ``run_dir`` (only when the notebook was left at its default, so papermill
    parameters always win).
    """
    if not isinstance(quick, bool):
        raise TypeError(f"quick must be True or False, got {quick!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not isinstance(run_dir, (str, os.PathLike)):
        raise TypeError(f"run_dir must be a folder path (str), got {run_dir!r}")
    quick = quick or os.environ.get(QUICK_ENV, "") == "1"
    if run_dir == _DEFAULT_RUN_DIR and os.environ.get(RUN_DIR_ENV):
        run_dir = os.environ[RUN_DIR_ENV]
    path = Path(run_dir).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return NotebookSettings(quick=quick, run_dir=path, seed=seed)


def notebooks_dir() -> Path:
    """The folder holding the numbered notebooks (in the source checkout)."""
    folder = Path(__file__).resolve().parents[1] / "notebooks"
    if not folder.is_dir():
        raise PipelineError(f"notebooks folder not found at {folder}: run from a source checkout (pip install -e .)")
    return folder


PRESET_NAMES = ("default", "short", "tiny", "paper")
"""Presets that notebooks 02 (LSTM) and 03 (GAN) both know (the keys of both ``PRESETS``
tables, spelled out so that the CLI need not import Keras; a test keeps them equal). The
notebooks default to ``"short"`` (the walkthrough's budget); ``"default"`` trains both
models to convergence."""


@dataclass(frozen=True)
class PipelineConfig:
    """What a pipeline run is: a name, where runs go, and the parameters for every notebook."""

    name: str = "default"
    runs_root: Path = Path("runs")
    dataset: str = "folk"
    quick: bool = False
    seed: int = 0
    epochs: int | None = None
    preset: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or "/" in self.name or self.name.startswith("."):
            raise ValueError(f"name must be a plain folder name, got {self.name!r}")
        if not isinstance(self.dataset, str) or not self.dataset:
            raise TypeError(f"dataset must be a registry name or a folder (str), got {self.dataset!r}")
        if not isinstance(self.quick, bool):
            raise TypeError(f"quick must be True or False, got {self.quick!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise TypeError(f"seed must be an integer >= 0, got {self.seed!r}")
        if self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed}")
        if self.epochs is not None and (not isinstance(self.epochs, int) or isinstance(self.epochs, bool)
                                        or self.epochs < 1):
            raise ValueError(f"epochs must be an integer >= 1 or None, got {self.epochs!r}")
        if self.preset is not None and self.preset not in PRESET_NAMES:
            raise ValueError(f"preset must be one of {PRESET_NAMES} or None, got {self.preset!r}")
        if not isinstance(self.extra, dict):
            raise TypeError(f"extra must be a dict of notebook parameters, got {self.extra!r}")

    @property
    def run_dir(self) -> Path:
        return Path(self.runs_root).resolve() / self.name

    def parameters(self) -> dict[str, Any]:
        params = {
            "dataset": self.dataset,
            "quick": self.quick,
            "seed": self.seed,
            "run_dir": str(self.run_dir),
            "generated_dirs": GENERATED_DIRS,
        }
        if self.epochs is not None:
            params["epochs"] = self.epochs
        if self.preset is not None:
            params["preset"] = self.preset
        params.update(self.extra)
        return params


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _synthesizer() -> str:
    from musiclib import audio

    if audio.fluidsynth_available():
        return f"fluidsynth ({audio.default_soundfont().name})"
    return "additive (FluidSynth not installed)"


def _parameters_hash(parameters: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parameters, sort_keys=True).encode()).hexdigest()[:16]


def _declared_parameters(notebook: Path) -> set[str]:
    import papermill

    return set(papermill.inspect_notebook(str(notebook)))


def _failure_message(notebook: str, output: Path, error: Exception) -> str:
    cell = getattr(error, "exec_count", None)
    ename = getattr(error, "ename", type(error).__name__)
    evalue = getattr(error, "evalue", str(error))
    where = f"cell [{cell}]" if cell is not None else "a cell"
    return f"notebook {notebook} failed in {where}: {ename}: {evalue}\n(executed notebook kept at {output})"


def run(
    config: PipelineConfig,
    *,
    notebooks: tuple[str, ...] = NOTEBOOKS,
    force: bool = False,
    log: Callable[[str], None] = print,
    progress: bool = True,
    source_dir: str | os.PathLike | None = None,
) -> Path:
    """Execute ``notebooks`` in order into ``config.run_dir``; return the run folder.

    Parameters
    ----------
    config
        Run name, root folder and notebook parameters.
    notebooks
        File names in the notebooks folder, in order.
    force
        Rerun notebooks that already completed with the same parameters.
    log
        Where progress lines go.
    progress
        Show papermill's per-cell progress bar.
    source_dir
        Folder holding ``notebooks`` (default: the repository's ``notebooks/``).
    """
    import papermill

    from musiclib import kernelspec

    kernel_name = kernelspec.ensure_available()  # the "musiclib" kernel (a temporary spec if not installed)
    source_dir = notebooks_dir() if source_dir is None else Path(source_dir)
    run_dir = config.run_dir
    (run_dir / "notebooks").mkdir(parents=True, exist_ok=True)
    done_dir = run_dir / ".done"
    parameters = config.parameters()
    manifest_path = run_dir / "manifest.json"
    manifest = read_json(manifest_path) if manifest_path.exists() else {}
    manifest.update(
        {
            "name": config.name,
            "git_commit": _git_commit(),
            "parameters": parameters,
            "versions": _versions(),
            "platform": platform.platform(),
            "synthesizer": _synthesizer(),
        }
    )
    manifest.setdefault("notebooks", {})
    write_json(manifest_path, manifest)
    upstream_ran = False  # once a notebook runs, the ones after it read new outputs: run them too
    for name in notebooks:
        source = source_dir / name
        if not source.is_file():
            raise PipelineError(f"notebook {name} not found in {source_dir}")
        output = run_dir / "notebooks" / name
        declared = _declared_parameters(source)
        given = {k: v for k, v in parameters.items() if k in declared}
        marker = done_dir / f"{name}.json"
        key = _parameters_hash({**given, "notebook_sha256": hashlib.sha256(source.read_bytes()).hexdigest()})
        done = marker.exists() and output.exists() and read_json(marker).get("parameters_hash") == key
        if done and not force and not upstream_ran:
            log(f"==> {name}: already done with these parameters, skipping")
            continue
        log(f"==> {name}: running (parameters: {given})")
        upstream_ran = True
        marker.unlink(missing_ok=True)
        started = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(source), str(output), parameters=given, cwd=str(source_dir), progress_bar=progress, log_output=False,
                kernel_name=kernel_name,
            )
        except papermill.PapermillExecutionError as error:
            raise PipelineError(_failure_message(name, output, error)) from None
        seconds = time.perf_counter() - started
        write_json(marker, {"parameters_hash": key, "seconds": round(seconds, 1)})
        manifest["notebooks"][name] = {"seconds": round(seconds, 1), "parameters": given}
        data_file = run_dir / "data.json"
        if data_file.exists():
            manifest["data"] = read_json(data_file)
        write_json(manifest_path, manifest)
        log(f"==> {name}: done in {seconds:.0f} s")
    manifest["total_seconds"] = round(sum(v.get("seconds", 0.0) for v in manifest["notebooks"].values()), 1)
    write_json(manifest_path, manifest)
    log(f"==> Run complete: {run_dir} ({manifest['total_seconds'] / 60:.1f} min of notebook time)")
    return run_dir


def config_from_dict(values: dict[str, Any]) -> PipelineConfig:
    """Build a :class:`PipelineConfig` from plain values, rejecting unknown keys."""
    known = {f.name for f in dataclasses.fields(PipelineConfig)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown pipeline option(s) {sorted(unknown)}; allowed: {sorted(known)}")
    return PipelineConfig(**values)
