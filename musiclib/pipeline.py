"""Run the numbered notebooks in order with papermill into a run folder.

``runs/<name>/`` receives the executed notebooks, everything they write (bundles, MIDI,
WAV, figures, metrics) and ``manifest.json`` (git commit, parameters, data fingerprint,
library versions). A notebook that completes leaves a marker in ``runs/<name>/.done/``;
a rerun with the same parameters (and unchanged notebooks) skips those and resumes at the
first notebook whose outputs are missing. A failing notebook stops the run naming the notebook and cell.

A run may be killed at any moment (even with SIGKILL) and rerun: papermill rewrites the
notebook it executes after every cell, so it executes into ``runs/<name>/.running/`` and
the finished notebook is renamed into ``runs/<name>/notebooks/``; everything the notebooks
write goes through :mod:`musiclib._files`. So ``notebooks/`` holds only finished notebooks,
and every figure, table and bundle in the run folder is either absent or complete.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import platform
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Mapping

from musiclib._files import read_json, write_json

__all__ = [
    "NOTEBOOKS",
    "PipelineError",
    "PipelineConfig",
    "NotebookSettings",
    "notebook_settings",
    "check_parameters",
    "PARAMETER_RULES",
    "notebooks_dir",
    "notebooks_until",
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
    "07_polyphonic_benchmark.ipynb",
    "08_transformer.ipynb",
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

_STAGING_DIR = ".running"  # where papermill writes the notebook it is executing

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


def _is_int(value: Any) -> bool:
    """An int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    """A finite int or float that is not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _text(*, empty: bool) -> Callable[[Any], str | None]:
    """A rule: a str (non-empty unless ``empty``)."""

    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return "type"
        return None if empty or value else "range"

    return check


def _integer(least: int) -> Callable[[Any], str | None]:
    """A rule: an int (not a bool) >= ``least``."""

    def check(value: Any) -> str | None:
        if not _is_int(value):
            return "type"
        return None if value >= least else "range"

    return check


def _choice(choices: tuple[str, ...]) -> Callable[[Any], str | None]:
    """A rule: one of ``choices``."""

    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return "type"
        return None if value in choices else "range"

    return check


def _flag(value: Any) -> str | None:
    """A rule: True or False."""
    return None if isinstance(value, bool) else "type"


def _probability(value: Any) -> str | None:
    """A rule: a number in (0, 1]."""
    if not _is_number(value):
        return "type"
    return None if 0 < value <= 1 else "range"


def _non_negative_number(value: Any) -> str | None:
    """A rule: a finite number >= 0."""
    if not _is_number(value):
        return "type"
    return None if value >= 0 else "range"


def _temperature(value: Any) -> str | None:
    """A rule: a finite number > 0."""
    if not _is_number(value) or not math.isfinite(value):
        return "type"
    return None if value > 0 else "range"


def _temperatures(value: Any) -> str | None:
    """A rule: a non-empty list of numbers > 0."""
    if not isinstance(value, (list, tuple)) or not all(_is_number(v) for v in value):
        return "type"
    return None if value and all(v > 0 for v in value) else "range"


def _bar_lags(value: Any) -> str | None:
    """A rule: a non-empty list of integers >= 1 (bars back)."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return "type"
    return None if value and all(v >= 1 for v in value) else "range"


def _copy_weight(value: Any) -> str | None:
    """A rule: a number in [0, 1)."""
    if not _is_number(value):
        return "type"
    return None if 0 <= value < 1 else "range"


_ENCODINGS = ("events", "paper")
_PRESETS = ("default", "short", "tiny", "paper")  # PRESET_NAMES below
_BACKENDS = ("auto", "fluidsynth", "additive")
_POLYPHONIC_SETS = ("nottingham", "jsb-chorales", "musedata", "piano-midi")  # ml.datasets.polyphonic_names()
_TRANSFORMER_PRESETS = ("short", "tiny", "default", "large")  # ml.lm.TRANSFORMER_PRESETS

PARAMETER_RULES: dict[str, tuple[Callable[[Any], str | None], str]] = {
    "dataset": (_text(empty=False), "a registry name or a folder (a non-empty str)"),
    "data_path": (_text(empty=True), "a folder (str; empty for the download cache)"),
    "encoding": (_choice(_ENCODINGS), "one of 'events', 'paper'"),
    "preset": (_choice(_PRESETS), "one of " + ", ".join(map(repr, _PRESETS))),
    "epochs": (_integer(0), "an integer >= 0 (0: the preset's)"),
    "seed": (_integer(0), "a non-negative integer"),
    "quick": (_flag, "True or False"),
    "run_dir": (_text(empty=False), "a folder path (a non-empty str)"),
    "n_pieces": (_integer(1), "an integer >= 1"),
    "temperatures": (_temperatures, "a non-empty list of numbers > 0"),
    "top_p": (_probability, "a number in (0, 1]"),
    "set_temperature": (_temperature, "a finite number > 0"),
    "set_top_p": (_probability, "a number in (0, 1]"),
    "lstm_temperature": (_temperature, "a finite number > 0"),
    "lstm_top_p": (_probability, "a number in (0, 1]"),
    "markov_top_p": (_probability, "a number in (0, 1]"),
    "copy_lags": (_bar_lags, "a non-empty list of integers >= 1 (bars back)"),
    "copy_weight": (_copy_weight, "a number in [0, 1)"),
    "leap_penalty": (_non_negative_number, "a finite number >= 0 (nats per semitone)"),
    "lstm_copy_lags": (_bar_lags, "a non-empty list of integers >= 1 (bars back)"),
    "lstm_copy_weight": (_copy_weight, "a number in [0, 1)"),
    "lstm_leap_penalty": (_non_negative_number, "a finite number >= 0 (nats per semitone)"),
    "n_bars": (_integer(1), "an integer >= 1"),
    "primer_bars": (_integer(1), "an integer >= 1"),
    "generated_dirs": (_text(empty=True), "comma-separated folders (a str; empty for none)"),
    "excerpt_start": (_non_negative_number, "a finite number of seconds >= 0"),
    "backend": (_choice(_BACKENDS), "one of 'auto', 'fluidsynth', 'additive'"),
    "seeds": (_integer(1), "an integer >= 1"),
    "threshold": (_integer(1), "an integer >= 1"),
    "benchmark_set": (_choice(_POLYPHONIC_SETS), "one of " + ", ".join(map(repr, _POLYPHONIC_SETS))),
    "polyphonic_path": (_text(empty=True), "a folder holding the benchmark's .mat files (str; empty for the cache)"),
    "frame_epochs": (_integer(1), "an integer >= 1"),
    "references": (_text(empty=True), "comma-separated reference bundle names (a str; empty for none)"),
    "n_frames": (_integer(1), "an integer >= 1"),
    "transformer_preset": (_choice(_TRANSFORMER_PRESETS), "one of " + ", ".join(map(repr, _TRANSFORMER_PRESETS))),
    "transformer_reference": (_text(empty=False), "a reference bundle name (a non-empty str)"),
}
"""Every notebook parameter: name -> (check giving None, ``"type"`` or ``"range"``; what it accepts)."""


def check_parameters(values: Mapping[str, Any], *, at_least: Mapping[str, int] | None = None) -> None:
    """Check a notebook's parameters before it does any work, naming the first bad one.

    Parameters
    ----------
    values
        Parameter name -> value, as the notebook's ``parameters`` cell (or papermill)
        set them; every name must be in :data:`PARAMETER_RULES`.
    at_least
        Tighter lower bounds of integer parameters for this notebook (``{"n_pieces": 2}``).

    Raises
    ------
    TypeError
        If a value has the wrong type (the message names the parameter, what it
        accepts and the value given).
    ValueError
        If a value is out of range or below its ``at_least`` bound, or a name is unknown.
    """
    unknown = sorted(set(values) - set(PARAMETER_RULES))
    if unknown:
        raise ValueError(f"unknown notebook parameter(s) {unknown}; known: {sorted(PARAMETER_RULES)}")
    for name, value in values.items():
        check, accepted = PARAMETER_RULES[name]
        problem = check(value)
        least = (at_least or {}).get(name)
        if least is not None and problem != "type":
            problem, accepted = (None if value >= least else "range"), f"an integer >= {least}"
        if problem == "type":
            raise TypeError(f"parameter {name} must be {accepted}, got {value!r} ({type(value).__name__})")
        if problem == "range":
            raise ValueError(f"parameter {name} must be {accepted}, got {value!r}")


def notebooks_dir() -> Path:
    """The folder holding the numbered notebooks (in the source checkout)."""
    folder = Path(__file__).resolve().parents[1] / "notebooks"
    if not folder.is_dir():
        raise PipelineError(f"notebooks folder not found at {folder}: run from a source checkout (pip install -e .)")
    return folder


def notebooks_until(last: str) -> tuple[str, ...]:
    """The walkthrough's notebooks up to and including ``last``.

    Parameters
    ----------
    last
        A notebook's file name (``"03_train_gan.ipynb"``), its stem (``"03_train_gan"``)
        or its number (``"03"`` or ``"3"``).

    Raises
    ------
    ValueError
        If ``last`` names none of :data:`NOTEBOOKS` (the message lists them).
    """
    if not isinstance(last, str):
        raise TypeError(f"the last notebook must be a name or number (str), got {last!r}")
    number = last.zfill(2) if last.isdigit() else None
    for index, name in enumerate(NOTEBOOKS):
        if last in (name, name.removesuffix(".ipynb")) or name[:2] == number:
            return NOTEBOOKS[: index + 1]
    raise ValueError(
        f"no notebook {last!r}; give a number 01-{len(NOTEBOOKS):02d} or one of {', '.join(NOTEBOOKS)}"
    )


PRESET_NAMES = _PRESETS
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


def _fresh_staging(run_dir: Path) -> Path:
    """An empty ``.running/`` folder in the run folder (what a killed run left there is removed)."""
    staging = run_dir / _STAGING_DIR
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def local_kernel_manager() -> type:
    """The kernel manager the pipeline starts its kernels with: IPC sockets where the system has them.

    jupyter_client's default talks to a kernel over localhost TCP ports, which any local
    user can connect to, and ipykernel ≥ 7.3 warns about it once per notebook
    ("Kernel is running over TCP without encryption"). On POSIX systems the pipeline's
    kernels listen on Unix sockets next to their connection files instead, in Jupyter's
    runtime folder, which only their owner may open. Windows keeps TCP.
    """
    from jupyter_client.manager import AsyncKernelManager

    if os.name == "nt":
        return AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        """An :class:`~jupyter_client.manager.AsyncKernelManager` whose kernel listens on IPC sockets."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.transport = "ipc"

    return IPCKernelManager


def _execute(source: Path, output: Path, partial: Path, parameters: dict[str, Any], *, source_dir: Path,
             progress: bool, kernel_name: str) -> None:
    """Execute ``source`` with papermill into ``partial``, then rename it onto ``output``.

    Papermill rewrites its output file in place after each cell, so ``output`` itself
    would be half-written while the notebook runs (and truncated if the run is killed
    during a save). A notebook that fails is still moved into place (complete, with its
    error) for inspection; any other interruption leaves ``output`` as it was.

    Raises
    ------
    PipelineError
        If a cell fails: the message names the notebook, the cell and the error.
    """
    import papermill

    try:
        papermill.execute_notebook(
            str(source), str(partial), parameters=parameters, cwd=str(source_dir), progress_bar=progress,
            log_output=False, kernel_name=kernel_name, kernel_manager_class=local_kernel_manager(),
        )
    except papermill.PapermillExecutionError as error:
        _move_into_place(partial, output)
        raise PipelineError(_failure_message(source.name, output, error)) from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    _move_into_place(partial, output)


def _move_into_place(partial: Path, output: Path) -> None:
    """Flush ``partial`` to disk and rename it onto ``output`` (atomic on one file system)."""
    descriptor = os.open(partial, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(partial, output)


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

    Notes
    -----
    A notebook is executed into ``.running/`` in the run folder and renamed into
    ``notebooks/`` once finished, so a run killed mid-notebook leaves no half-written
    notebook; the rerun clears ``.running/`` and resumes at that notebook.
    """
    from musiclib import kernelspec

    kernel_name = kernelspec.ensure_available()  # the "musiclib" kernel (a temporary spec if not installed)
    source_dir = notebooks_dir() if source_dir is None else Path(source_dir)
    run_dir = config.run_dir
    (run_dir / "notebooks").mkdir(parents=True, exist_ok=True)
    staging = _fresh_staging(run_dir)
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
        _execute(source, output, staging / name, given, source_dir=source_dir, progress=progress,
                 kernel_name=kernel_name)
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
