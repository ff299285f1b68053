"""What every benchmark section shares: the paths and the issue's targets, :class:`Settings` (the
sizes of every measurement), :class:`Skip`, the timing helpers (medians after a warm-up, alternating
runs of contenders), :func:`row` (one result row, JSON-ready) and the once-per-process TensorFlow
set-up that every section using TensorFlow goes through.
"""

from __future__ import annotations

import math
import os
import statistics
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ chatter (no GPU here, tf.data attribute notices)

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("MUSICLIB_SHARED_DATA", ROOT.parent / "shared" / "data"))
NOTTINGHAM = SHARED / "nottingham"
DEFAULT_JSON = ROOT / "benchmarks" / "results.json"
NLL_TABLE = ROOT / "runs" / "lstm-nottingham" / "nll_table.json"

# The targets.
TARGET_LOAD_COLD_RATIO = 50.0
TARGET_LOAD_WARM_S = 0.3
TARGET_PEAK_FRACTION = 0.35
TARGET_PIPELINE_OVERHEAD = 0.10
TARGET_GENERATION_RATIO = 100.0
TARGET_EFFICIENCY_RATIO = 300.0
TARGET_RENDER_X = 150.0
TARGET_ANALYSIS_X = 1000.0

# Measured by hand for the issue (the tutorial's set-up on this project's 2-core machine).
TUTORIAL_MS_PER_NOTE = 154.0
TUTORIAL_PREDICTED_TOKENS_PER_S = 64.0
# Cited when runs/lstm-nottingham/nll_table.json is absent (README "Results"; shared/NOTES.md).
README_LSTM_TEST_NLL = 0.586
README_UNIGRAM_TEST_NLL = 3.433
TUTORIAL_LOSS_NATS = (3.1, 3.2)
TUTORIAL_UNIGRAM_ENTROPY = 3.07


class Skip(Exception):
    """A section cannot run here (missing data or library); the reason goes in the JSON."""


# ----------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    """Sizes of every measurement; :meth:`quick` shrinks them to check that the code runs."""

    repeats: int = 3
    m21_files: int = 20  # music21 is timed on a fixed random sample, scaled to the whole set
    parallel_workers: int = 0  # 0: one per CPU, at most 4 (musiclib's own default)
    train_steps: int = 20  # steps per timed run at batch 64 (scaled to equal tokens for other batches)
    train_batches: tuple[int, ...] = (64, 128, 256)
    paper_steps: int = 3  # the tutorial's 3x512 model: about 2 s per step on 2 cores (first step not timed)
    gen_tokens: int = 200  # incremental generation: tokens per timed run
    gen_tutorial_notes: int = 10  # the tutorial's loop: notes per timed run
    render_tunes: int = 20
    analysis_tunes: int = 20
    pipeline_repeats: int = 1
    tf_threads: int = 0  # 0: TensorFlow's default (one per core)
    deterministic: bool = True  # what musiclib.lm.training.train() does

    @classmethod
    def quick(cls, **changes: Any) -> "Settings":
        small = dict(
            m21_files=3, train_steps=3, train_batches=(64,), paper_steps=2, gen_tokens=10,
            gen_tutorial_notes=2, render_tunes=2, analysis_tunes=2,
        )
        return cls(**{**small, **changes})


# ----------------------------------------------------------------------------- timing


def timings(fn: Callable[[], object], *, repeats: int, warmup: int = 1) -> list[float]:
    """Wall times of ``repeats`` runs of ``fn`` after ``warmup`` untimed runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def median_time(fn: Callable[[], object], *, repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn`` over ``repeats`` runs after ``warmup`` runs."""
    return statistics.median(timings(fn, repeats=repeats, warmup=warmup))


def paired_timings(fns: dict[str, Callable[[], object]], *, repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Wall times of several functions whose runs alternate (the order rotates every round).

    Load from other processes then falls on every contender alike, which matters more
    for a ratio than the absolute times do.
    """
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(repeats):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - start)
    return times


def med(values: list[float]) -> float:
    return float(statistics.median(values))


def row(
    name: str,
    ours: float | None,
    baseline: float | None,
    unit: str,
    *,
    higher_is_better: bool,
    target: str | None = None,
    met: bool | None = None,
    note: str = "",
    ratio: float | None = None,
    ratio_format: str = "x",
    **details: Any,
) -> dict:
    """One benchmark row. ``ratio`` defaults to ours/baseline (baseline/ours for times)."""
    if ratio is None and baseline and ours:
        ratio = ours / baseline if higher_is_better else baseline / ours
    return {
        "name": name,
        "ours": _plain(ours),
        "baseline": _plain(baseline),
        "unit": unit,
        "ratio": _plain(ratio),
        "ratio_format": ratio_format,
        "target": target,
        "met": None if met is None else bool(met),
        "note": note,
        "details": _plain(details),
    }


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars and tuples become Python numbers and lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            return value.item()
        except (TypeError, ValueError):
            pass
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _need_nottingham() -> Path:
    if not (NOTTINGHAM / "MIDI").is_dir():
        raise Skip(f"{NOTTINGHAM}/MIDI not present (set MUSICLIB_SHARED_DATA)")
    return NOTTINGHAM


# ----------------------------------------------------------------------------- TensorFlow


_TF_STATE: dict[str, Any] = {}  # filled in place by _tf; train and report import this very dict


def _tf(settings: Settings):
    """TensorFlow, configured once per process: thread pools and op determinism.

    Threads must be set before TensorFlow runs its first op, so every section that
    uses TensorFlow comes through here; the peak matmul and the training therefore
    run with the same settings.
    """
    import tensorflow as tf

    if not _TF_STATE:
        if settings.tf_threads:
            tf.config.threading.set_intra_op_parallelism_threads(settings.tf_threads)
            tf.config.threading.set_inter_op_parallelism_threads(settings.tf_threads)
        if settings.deterministic:
            tf.config.experimental.enable_op_determinism()
        _TF_STATE.update(
            intra_op_threads=tf.config.threading.get_intra_op_parallelism_threads(),
            inter_op_threads=tf.config.threading.get_inter_op_parallelism_threads(),
            op_determinism=settings.deterministic,
        )
    return tf


def _quiet_keras() -> None:
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="Your input ran out of data")
    warnings.filterwarnings("ignore", category=UserWarning, module="keras")
