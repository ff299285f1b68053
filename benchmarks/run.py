"""musiclib benchmarks: each figure side by side with the baseline it replaces, in the same run.

Usage::

    .venv/bin/python benchmarks/run.py                          # the default sections (about 12 min, quiet 2-core CPU)
    .venv/bin/python benchmarks/run.py --sections load train    # some sections (comma or space separated)
    .venv/bin/python benchmarks/run.py --sections all           # the default sections plus make-run (+15 min)
    .venv/bin/python benchmarks/run.py --quick                  # tiny settings: checks that every section runs
    .venv/bin/python benchmarks/run.py --list                   # the sections and what they measure

Every timing is the median of ``--repeats`` runs (at least 3) after a warm-up run;
where ours and a baseline are compared, their runs alternate, so that other load on
the machine falls on both. The end-to-end ``make-run*`` sections are the exception:
one cold run each by default (``--pipeline-repeats``), since a warm-up would hide the
cold costs that an end-to-end time is about.

Every row has ``name``, ``ours``, ``baseline``, ``unit``, ``ratio`` (ours over
baseline, turned round for times so that above 1 is better), ``target`` (the issue's
figure), ``met`` (``None`` where there is no target) and ``note``; ``details`` holds
the raw samples and settings. Results are merged by section into ``--json`` (default
``benchmarks/results.json``, written atomically): running one section replaces only
that section's rows. The JSON also records library versions, CPU, thread settings
(TensorFlow's and the BLAS pools'), and the machine's load average at the start and
end of the run and of every section (``machine_load``).

Data: ``../shared/data/nottingham`` beside the checkout (or ``$MUSICLIB_SHARED_DATA``);
sections that need it are skipped with a note when it is absent. Nothing here reads a
trained model: the sections that train or generate build their models themselves
(speed does not depend on the weights). The held-out loss cited by the training
efficiency row is read from ``runs/lstm-nottingham/nll_table.json`` when present
(written by ``benchmarks/lstm_nottingham.py``), otherwise from the README's figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ chatter (no GPU here, tf.data attribute notices)

ROOT = Path(__file__).resolve().parents[1]
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


_TF_STATE: dict[str, Any] = {}


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


# ----------------------------------------------------------------------------- FLOP counts


def lstm_flops(config: Any) -> dict[str, float]:
    """Analytic FLOP counts of one training step of a :func:`musiclib.lm.lstm.build_lstm` model.

    Per token of a window, forward pass:

    * embedding: a table lookup, 0 FLOP;
    * LSTM layer with input width ``i`` and ``u`` units: the four gates are
      ``[x_t, h_{t-1}] @ [W; U]``, ``4·u·(i + u)`` multiply-adds = ``8·u·(i + u)`` FLOP
      (bias adds, sigmoids, tanh and the cell update, about ``10·u``, are left out);
    * output Dense to the vocabulary ``V``: ``2·u_last·V`` FLOP per *predicted* token
      (every token for ``loss_on="all"``, once per window for ``"last"``).

    Training ≈ 3 × forward: the backward pass does two matmuls (gradient with respect
    to the input and to the weights) for every forward matmul. Adam's update (about 10
    FLOP per weight per step) is left out; for the default preset it is under 0.1% of
    a step.

    Returns ``forward_per_window``, ``train_per_window``, ``train_per_input_token`` and
    ``train_per_predicted_token`` for a window of ``config.sequence_length`` tokens.
    """
    length = config.sequence_length
    lstm = 0.0
    width = config.embedding_dim
    for units in config.lstm_units:
        lstm += 8.0 * units * (width + units)
        width = units
    predicted = length if config.loss_on == "all" else 1
    forward = length * lstm + predicted * 2.0 * width * config.vocab_size
    return {
        "forward_per_window": forward,
        "train_per_window": 3.0 * forward,
        "train_per_input_token": 3.0 * forward / length,
        "train_per_predicted_token": 3.0 * forward / predicted,
    }


# ----------------------------------------------------------------------------- load


def bench_load(s: Settings) -> list[dict]:
    """Nottingham MIDI set: musiclib (symusic + cache) against music21's per-file parser."""
    import music21
    import numpy as np

    import musiclib as ml

    root = _need_nottingham()
    files = sorted((root / "MIDI").glob("*.mid"))

    def cold():
        with tempfile.TemporaryDirectory() as cache:
            corpus = ml.datasets.load("nottingham", path=root, cache_dir=cache)
            assert len(corpus) == len(files)

    cache = tempfile.mkdtemp(prefix="musiclib-bench-cache-")
    ml.datasets.load("nottingham", path=root, cache_dir=cache)

    def warm():
        ml.datasets.load("nottingham", path=root, cache_dir=cache)

    # The tutorial's path: music21.converter.parse per file. music21 pickles every file it
    # parses (to its scratch folder) and reads the pickle next time: forceSource=True times
    # the parse itself (a first, cold run, minus writing the pickle); plain parse() after a
    # warm-up times music21's own warm path (its pickles).
    sample = [files[i] for i in np.random.default_rng(0).choice(len(files), size=min(s.m21_files, len(files)), replace=False)]
    scale = len(files) / len(sample)
    music21.converter.parse(str(files[0]), forceSource=True)  # one-off start-up: not a per-file cost

    def m21_cold():
        for path in sample:
            music21.converter.parse(str(path), forceSource=True)

    def m21_warm():
        for path in sample:
            music21.converter.parse(str(path))

    cold_t = paired_timings({"ours": cold, "music21": m21_cold}, repeats=s.repeats)
    warm_t = paired_timings({"ours": warm, "music21": m21_warm}, repeats=s.repeats)
    cold_s, m21_cold_s = med(cold_t["ours"]), med(cold_t["music21"]) * scale
    warm_s, m21_warm_s = med(warm_t["ours"]), med(warm_t["music21"]) * scale
    sampled = f"music21 timed on a fixed random sample of {len(sample)} files, scaled to all {len(files)}"
    cold_ratio = m21_cold_s / cold_s
    return [
        row("load Nottingham MIDI, cold (s)", cold_s, m21_cold_s, "s", higher_is_better=False,
            target=f">= {TARGET_LOAD_COLD_RATIO:.0f}x faster than music21", met=cold_ratio >= TARGET_LOAD_COLD_RATIO,
            note=f"ours: parse + write the cache, {len(files)} files, default workers; baseline: "
                 f"converter.parse(forceSource=True) per file; {sampled}",
            samples_ours=cold_t["ours"], samples_baseline_sample=cold_t["music21"], files=len(files)),
        row("load Nottingham MIDI, warm cache (s)", warm_s, m21_warm_s, "s", higher_is_better=False,
            target=f"< {TARGET_LOAD_WARM_S} s", met=warm_s < TARGET_LOAD_WARM_S,
            note=f"ours: musiclib's .npz parse cache; baseline: music21 reading its own pickles; {sampled}",
            samples_ours=warm_t["ours"], samples_baseline_sample=warm_t["music21"], files=len(files)),
    ]


def corpus_digest(corpus: Any) -> str:
    """SHA-256 of everything a corpus holds: every note of every track, all metadata, the skip list."""
    digest = hashlib.sha256()
    for tune in corpus.tunes:
        meta = {
            "title": tune.title,
            "source": tune.source,
            "tracks": [[t.name, t.program, t.is_drum] for t in tune.tracks],
            "time_signatures": [[x.time, x.numerator, x.denominator] for x in tune.time_signatures],
            "key_signatures": [[x.time, x.sharps, x.mode] for x in tune.key_signatures],
            "tempos": [[x.time, x.qpm] for x in tune.tempos],
        }
        digest.update(json.dumps(meta, sort_keys=True).encode())
        for track in tune.tracks:
            digest.update(track.notes.tobytes())
            digest.update(str(len(track.notes)).encode())
    digest.update(json.dumps([list(x) for x in corpus.skipped]).encode())
    return digest.hexdigest()


def bench_parallel(s: Settings) -> list[dict]:
    """Parsing the Nottingham set in parallel processes against the serial path; outputs must be identical."""
    import musiclib as ml

    root = _need_nottingham()
    workers = s.parallel_workers or max(1, min(os.cpu_count() or 1, ml.datasets.MAX_AUTO_WORKERS))
    results: dict[str, Any] = {}

    def load(n: int):
        def run():
            results[n] = ml.datasets.load("nottingham", path=root, use_cache=False, workers=n)
        return run

    times = paired_timings({"parallel": load(workers), "serial": load(1)}, repeats=s.repeats)
    serial_digest, parallel_digest = corpus_digest(results[1]), corpus_digest(results[workers])
    identical = serial_digest == parallel_digest and len(results[1]) == len(results[workers])
    ours, base = med(times["parallel"]), med(times["serial"])
    return [
        row(f"parse Nottingham, {workers} processes vs serial (s)", ours, base, "s", higher_is_better=False,
            target="identical output to the serial path (speed-up reported)", met=identical,
            note=f"load(use_cache=False, workers={workers}) vs workers=1; outputs "
                 f"{'identical' if identical else 'DIFFER'} (SHA-256 of every note, all metadata and the skip list); "
                 f"{os.cpu_count()} CPUs",
            samples_ours=times["parallel"], samples_baseline=times["serial"], workers=workers,
            digest_serial=serial_digest, digest_parallel=parallel_digest, tunes=len(results[1]))
    ]


def bench_encode(s: Settings) -> list[dict]:
    """Event encoding of the whole Nottingham set (tokens/s)."""
    import musiclib as ml

    root = _need_nottingham()
    tunes = ml.datasets.load("nottingham", path=root).tunes
    encoding = ml.encoding.get_encoding("events")
    n_tokens = sum(len(encoding.encode(t)) for t in tunes)
    times = timings(lambda: [encoding.encode(t) for t in tunes], repeats=s.repeats)
    seconds = med(times)
    return [row("event-encode Nottingham (tokens/s)", n_tokens / seconds, None, "tokens/s", higher_is_better=True,
                note=f"{n_tokens:,} tokens in {seconds:.2f} s (no baseline: the tutorial has no event encoding)",
                samples=times, tokens=n_tokens)]


# ----------------------------------------------------------------------------- training


def _prepared(encoding: str):
    import musiclib as ml

    root = _need_nottingham()
    config = ml.prepare.PrepareConfig(dataset="nottingham", path=str(root), encoding=encoding)
    return ml.prepare.prepare(config)


def matmul_gflops(tf, m: int, n: int, k: int, *, repeats: int, chain: int = 1) -> tuple[float, list[float]]:
    """float32 GFLOP/s of ``[m, k] @ [k, n]`` (2·m·n·k FLOP) in a ``tf.function``.

    ``chain`` > 1 runs that many *dependent* matmuls per call (alternating ``[k, n]`` and
    ``[n, k]`` weights), as a recurrent layer does, so that per-call overhead does not
    dominate small shapes.
    """
    import numpy as np

    rng = np.random.default_rng(0)  # constants from numpy: TF's random ops need seeds under op determinism
    a = tf.constant(rng.standard_normal((m, k), dtype=np.float32))
    w1 = tf.constant(rng.standard_normal((k, n), dtype=np.float32) / math.sqrt(k))
    w2 = tf.constant(rng.standard_normal((n, k), dtype=np.float32) / math.sqrt(n))

    @tf.function
    def run(x):
        for index in range(chain):
            x = tf.linalg.matmul(x, w1 if index % 2 == 0 else w2)
        return tf.reduce_sum(x)

    times = timings(lambda: run(a).numpy(), repeats=repeats, warmup=2)
    flop = 2.0 * m * n * k * chain
    return flop / med(times) / 1e9, times


def numpy_matmul_gflops(n: int, *, repeats: int) -> float:
    import numpy as np

    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    return 2.0 * n**3 / median_time(lambda: a @ b, repeats=repeats) / 1e9


def _compile(model, config) -> None:
    """Compile exactly as :func:`musiclib.lm.training.train` does."""
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate, clipnorm=config.clipnorm),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )


def _pipeline(sequences, config, tf, *, batch_size: int | None = None):
    """musiclib's training input pipeline (``training.make_dataset``), repeated."""
    from musiclib.lm.data import make_dataset

    return make_dataset(
        sequences, sequence_length=config.sequence_length, batch_size=batch_size or config.batch_size,
        shuffle=True, seed=config.seed, loss_on=config.loss_on, drop_remainder=True,
    ).repeat()


def _in_memory(dataset, steps: int, tf):
    """The first ``steps`` batches of ``dataset`` materialised as tensors, served from memory."""
    xs, ys = [], []
    for x, y in dataset.take(steps):
        xs.append(x.numpy())
        ys.append(y.numpy())
    import numpy as np

    return tf.data.Dataset.from_tensor_slices((np.stack(xs), np.stack(ys))).repeat()


class StepClock:
    """Steady-state training time: from the end of a fit call's first step to the end of its last.

    Every timed ``fit`` call starts a new iterator over its dataset, while
    :func:`musiclib.lm.training.train` starts one for the whole run; leaving the first step
    out keeps the iterator's start-up (and its first batch) out of the per-step figure.
    ``record`` holds, per call, the seconds of its ``steps - 1`` steady steps.
    """

    def __init__(self) -> None:
        import keras

        clock = self
        self.record: list[float] = []

        class Callback(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                clock._ends = []

            def on_train_batch_end(self, batch, logs=None):
                clock._ends.append(time.perf_counter())

            def on_train_end(self, logs=None):
                clock.record.append(clock._ends[-1] - clock._ends[0])

        self.callback = Callback()
        self._ends: list[float] = []


def _fit_runner(model, dataset, steps: int, clock: StepClock) -> Callable[[], None]:
    if steps < 2:
        raise ValueError("timing needs at least 2 steps per fit call (the first one is left out)")

    def run():
        model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False, callbacks=[clock.callback])
    return run


def _steady(clock: StepClock, warmup: int = 1) -> list[float]:
    """The clock's records after the warm-up call(s)."""
    return clock.record[warmup:]


def bench_train(s: Settings) -> list[dict]:
    """LSTM training throughput and FLOP/s against TensorFlow's float32 matmul peak; input pipeline cost."""
    import keras

    import musiclib as ml

    tf = _tf(s)
    _quiet_keras()
    prepared = _prepared("events")
    train = prepared.sequences["train"]
    vocab = len(prepared.vocab)
    base = ml.lm.config_for("default", vocab)
    gate_k, gate_n = base.embedding_dim + base.lstm_units[0], 4 * base.lstm_units[0]
    peak_repeats = max(5, s.repeats)

    def peaks():
        # A peak is a capability: other load can only lower it, so the best run counts (the LSTM
        # figures are medians, so the % of peak is, if anything, understated).
        _, big_t = matmul_gflops(tf, 2048, 2048, 2048, repeats=peak_repeats)
        _, gate_t = matmul_gflops(tf, base.batch_size, gate_n, gate_k, repeats=peak_repeats, chain=32)
        big = 2.0 * 2048**3 / min(big_t) / 1e9
        gate = 2.0 * base.batch_size * gate_n * gate_k * 32 / min(gate_t) / 1e9
        return big, gate, {"gemm2048_s": big_t, "gate_chain_s": gate_t}

    peak_before, gate_before, peak_t_before = peaks()

    sweep: dict[int, dict[str, Any]] = {}
    pipeline_row = None
    for batch in s.train_batches:
        config = base.replace(batch_size=batch)
        steps = max(2, round(s.train_steps * base.batch_size / batch))
        keras.utils.set_random_seed(config.seed)
        model = ml.lm.build_lstm(config)
        _compile(model, config)
        flops = lstm_flops(config)
        data = _pipeline(train, config, tf)
        clocks = {"pipeline": StepClock()}
        contenders = {"pipeline": _fit_runner(model, data, steps, clocks["pipeline"])}
        if batch == base.batch_size:  # the input-pipeline comparison, at the preset's batch size
            clocks["memory"] = StepClock()
            contenders["memory"] = _fit_runner(model, _in_memory(data, steps, tf), steps, clocks["memory"])
        calls = paired_timings(contenders, repeats=s.repeats)
        times = {key: _steady(clock) for key, clock in clocks.items()}
        tokens_per_run = (steps - 1) * batch * config.sequence_length
        tokens_per_s = tokens_per_run / med(times["pipeline"])
        sweep[batch] = {
            "steps": steps, "tokens_per_s": tokens_per_s,
            "gflops": tokens_per_s * flops["train_per_input_token"] / 1e9, "samples_s": times["pipeline"],
            "fit_call_s": calls["pipeline"],
        }
        if "memory" in times:
            memory_tps = tokens_per_run / med(times["memory"])
            overhead = med(times["pipeline"]) / med(times["memory"]) - 1.0
            pipeline_row = row(
                "LSTM training input: tf.data pipeline vs in-memory (tokens/s)", tokens_per_s, memory_tps, "tokens/s",
                higher_is_better=True, target=f"pipeline overhead <= {TARGET_PIPELINE_OVERHEAD:.0%}",
                met=overhead <= TARGET_PIPELINE_OVERHEAD,
                note=f"overhead {overhead:+.1%}; same model, steady-state steps ({steps - 1} per run, after each "
                     "fit call's first); ours: training.make_dataset (windows gathered and shuffled on the fly, "
                     f"prefetched); baseline: the same {steps} batches pre-materialised "
                     "(Dataset.from_tensor_slices of stacked tensors)",
                samples_ours=times["pipeline"], samples_baseline=times["memory"], overhead=overhead,
                fit_call_s={"pipeline": calls["pipeline"], "memory": calls["memory"]},
            )
        del model
        keras.backend.clear_session()

    peak_after, gate_after, peak_t_after = peaks()
    peak, gate_peak = max(peak_before, peak_after), max(gate_before, gate_after)
    default = sweep.get(base.batch_size) or next(iter(sweep.values()))
    best_batch = max(sweep, key=lambda b: sweep[b]["gflops"])
    fraction = default["gflops"] / peak
    flops = lstm_flops(base)
    sweep_text = ", ".join(f"batch {b}: {v['tokens_per_s']:,.0f} tokens/s = {v['gflops'] / peak:.0%}" for b, v in sweep.items())
    note = (
        f"FLOP/token {flops['train_per_input_token'] / 1e6:.2f} M (3 x forward; forward per token "
        "= sum over LSTM layers of 8*units*(input+units) + 2*units*vocab; see lstm_flops); "
        f"peak = float32 tf.linalg.matmul 2048^3 in this process, same threads, best of {peak_repeats} runs before "
        f"({peak_before:.0f}) and after ({peak_after:.0f}) training; {sweep_text}."
    )
    if fraction < TARGET_PEAK_FRACTION and gate_peak < 0.8 * peak:
        note += (
            " Gap: the recurrence runs one [batch, input+units] x [input+units, 4*units] matmul per time step "
            f"and layer; at batch {base.batch_size} that shape ({base.batch_size}x{gate_k}x{gate_n}, chained as in "
            f"the recurrence) reaches only {gate_peak:.0f} GFLOP/s here, {gate_peak / peak:.0%} of the 2048^3 peak."
        )
    if best_batch != base.batch_size:
        note += (
            f" Best FLOP rate at batch {best_batch} ({sweep[best_batch]['gflops'] / peak:.0%} of peak); "
            "whether it reaches the same held-out loss is not measured here (fewer updates per epoch)."
        )
    rows = [
        row("TF float32 matmul peak (GFLOP/s)", peak, numpy_matmul_gflops(2048, repeats=peak_repeats), "GFLOP/s",
            higher_is_better=True,
            note=f"tf.linalg.matmul 2048^3 vs numpy @ 2048^3 (OPENBLAS_CORETYPE="
                 f"{os.environ.get('OPENBLAS_CORETYPE')}; numpy is not the reference); gate-shaped chained "
                 f"matmul ({base.batch_size}x{gate_k}x{gate_n}): {gate_peak:.0f} GFLOP/s",
            gemm_before=peak_before, gemm_after=peak_after, gate_gflops=gate_peak,
            **{k: v for k, v in peak_t_before.items()}),
        row("LSTM training, default preset (tokens/s)", default["tokens_per_s"], None, "tokens/s", higher_is_better=True,
            note=f"embedding 128, 2 x LSTM(256), windows 128, batch {base.batch_size}, loss on every token; "
                 f"{default['steps'] - 1} steady-state steps per run through training.make_dataset",
            sweep=sweep),
        row("LSTM training, achieved vs matmul peak (GFLOP/s)", default["gflops"], peak, "GFLOP/s",
            higher_is_better=True, ratio=fraction, ratio_format="%",
            target=f">= {TARGET_PEAK_FRACTION:.0%} of peak", met=fraction >= TARGET_PEAK_FRACTION, note=note,
            flop_per_token=flops["train_per_input_token"], best_batch=best_batch,
            threads=dict(_TF_STATE)),
    ]
    if pipeline_row:
        rows.append(pipeline_row)
    return rows


def _held_out_evidence() -> dict[str, Any]:
    """The measured held-out NLL of the default preset (and its unigram floor) to cite."""
    if NLL_TABLE.exists():
        table = json.loads(NLL_TABLE.read_text())
        by = {r["model"]: r for r in table}
        lstm = by.get("lstm", {}).get("nll")
        unigram = next((r["nll"] for r in table if r.get("order") == 1), None)
        if lstm is not None:
            return {"source": str(NLL_TABLE.relative_to(ROOT)), "lstm_nll": lstm, "unigram_nll": unigram}
    return {"source": "README.md (Results)", "lstm_nll": README_LSTM_TEST_NLL, "unigram_nll": README_UNIGRAM_TEST_NLL}


def bench_efficiency(s: Settings) -> list[dict]:
    """Predicted tokens per second: the default preset against the tutorial's set-up (paper preset)."""
    import keras

    import musiclib as ml

    tf = _tf(s)
    _quiet_keras()
    events, paper = _prepared("events"), _prepared("paper")
    ours_cfg = ml.lm.config_for("default", len(events.vocab))
    paper_cfg = ml.lm.config_for("paper", len(paper.vocab))
    ours_steps = max(2, s.train_steps)
    runners, per_run, clocks = {}, {}, {}
    for key, cfg, prep, steps in (("ours", ours_cfg, events, ours_steps), ("tutorial", paper_cfg, paper, s.paper_steps)):
        keras.utils.set_random_seed(cfg.seed)
        model = ml.lm.build_lstm(cfg, name=f"lstm_{key}")
        _compile(model, cfg)
        clocks[key] = StepClock()
        runners[key] = _fit_runner(model, _pipeline(prep.sequences["train"], cfg, tf), steps, clocks[key])
        per_run[key] = (steps - 1) * cfg.batch_size * (cfg.sequence_length if cfg.loss_on == "all" else 1)
    calls = paired_timings(runners, repeats=s.repeats)
    times = {key: _steady(clock) for key, clock in clocks.items()}
    ours = per_run["ours"] / med(times["ours"])
    tutorial = per_run["tutorial"] / med(times["tutorial"])
    ratio = ours / tutorial
    evidence = _held_out_evidence()
    # "Equal or better held-out loss": ours is below the tutorial's loss and below its own unigram floor
    # (the tutorial's sits at its unigram entropy). See the note on comparing nats across vocabularies.
    loss_ok = evidence["lstm_nll"] <= TUTORIAL_LOSS_NATS[0] and (
        evidence["unigram_nll"] is None or evidence["lstm_nll"] < evidence["unigram_nll"]
    )
    tutorial_epoch_min = len(ml.lm.concatenate(paper.sequences["train"])) / tutorial / 60
    ours_epoch_min = events.n_tokens("train") / ours / 60
    note = (
        f"ours: default preset on event tokens, batch 64 x 128 predicted tokens per step; baseline: the paper preset "
        f"trained the tutorial's way (paper encoding, 3 x LSTM(512), windows of 100 at stride 1, one prediction per "
        f"window, batch 128); steady-state steps ({ours_steps - 1} and {s.paper_steps - 1} per run, after each fit call's "
        "first), runs alternating in one process "
        f"(the issue measured {TUTORIAL_PREDICTED_TOKENS_PER_S:.0f} predicted tokens/s for it). One epoch of the training "
        f"split: ours {ours_epoch_min:.1f} min, tutorial {tutorial_epoch_min:.0f} min. Held-out loss: the default preset "
        f"reaches {evidence['lstm_nll']:.3f} nats/token on the Nottingham test split (source: {evidence['source']}), "
        f"{1 - evidence['lstm_nll'] / evidence['unigram_nll']:.0%} below the unigram's {evidence['unigram_nll']:.3f}; the "
        f"tutorial's loss stalls at {TUTORIAL_LOSS_NATS[0]}-{TUTORIAL_LOSS_NATS[1]} nats, its targets' unigram entropy "
        f"({TUTORIAL_UNIGRAM_ENTROPY}; shared/NOTES.md). The vocabularies differ, so nats per token are not strictly "
        "comparable; 'equal or better' is checked as: ours below the tutorial's loss and below its own unigram floor "
        "(learning beyond token frequencies, which the tutorial's model does not)."
    )
    return [
        row("LSTM training efficiency (predicted tokens/s)", ours, tutorial, "tokens/s", higher_is_better=True,
            target=f">= {TARGET_EFFICIENCY_RATIO:.0f}x, at equal or better held-out loss",
            met=ratio >= TARGET_EFFICIENCY_RATIO and loss_ok, note=note,
            samples_ours=times["ours"], samples_baseline=times["tutorial"], held_out=evidence, fit_call_s=calls,
            flop_per_predicted_token={"ours": lstm_flops(ours_cfg)["train_per_predicted_token"],
                                      "tutorial": lstm_flops(paper_cfg)["train_per_predicted_token"]})
    ]


# ----------------------------------------------------------------------------- generation


def _generation_model(preset: str, vocab: Any):
    """An untrained model of a preset whose EOS logit is pushed down, so sampling never stops early."""
    import keras
    import numpy as np

    import musiclib as ml

    config = ml.lm.config_for(preset, len(vocab))
    keras.utils.set_random_seed(0)
    model = ml.lm.build_lstm(config, name=f"gen_{preset}")
    bias = model.get_layer("logits").bias
    values = np.array(bias.numpy())
    values[vocab.eos_id] = -1e9
    bias.assign(values)
    return model, config


def bench_generate(s: Settings) -> list[dict]:
    """One sequence, tokens/s: the incremental step model against the tutorial's re-run-the-window loop."""
    import numpy as np

    import musiclib as ml

    _tf(s)
    _quiet_keras()
    vocab = ml.encoding.get_encoding("events").vocabulary()
    paper_model, paper_cfg = _generation_model("paper", vocab)
    default_model, default_cfg = _generation_model("default", vocab)
    window = paper_cfg.sequence_length
    start = np.random.default_rng(0).integers(4, len(vocab), size=window).tolist()

    def incremental(model, config):
        def run():
            tokens = ml.lm.sample_tokens(ml.lm.ModelParts(model, vocab, config), max_tokens=s.gen_tokens, seed=0)
            assert len(tokens) == s.gen_tokens + 1, len(tokens)
        return run

    def tutorial():
        # The tutorial's loop: the whole window through the model with model.predict, per note.
        pattern = list(start)
        for _ in range(s.gen_tutorial_notes):
            prediction = paper_model.predict(np.asarray(pattern, dtype=np.int32)[None, :], verbose=0)
            pattern = pattern[1:] + [int(np.argmax(prediction))]

    times = paired_timings(
        {"ours": incremental(paper_model, paper_cfg), "tutorial": tutorial,
         "default": incremental(default_model, default_cfg)},
        repeats=s.repeats,
    )
    ours = s.gen_tokens / med(times["ours"])
    base = s.gen_tutorial_notes / med(times["tutorial"])
    default = s.gen_tokens / med(times["default"])
    ratio = ours / base
    gap = ""
    if ratio < TARGET_GENERATION_RATIO:
        gap = (f" Gap: {1000 / ours:.1f} ms/token for a step of about "
               f"{lstm_flops(paper_cfg.replace(sequence_length=1))['forward_per_window'] / 1e6:.0f} MFLOP.")
    return [
        row("generate one sequence, tutorial's model shape (tokens/s)", ours, base, "tokens/s", higher_is_better=True,
            target=f">= {TARGET_GENERATION_RATIO:.0f}x", met=ratio >= TARGET_GENERATION_RATIO,
            note=f"same model (paper preset: 3 x LSTM(512), window {window}, {len(vocab)}-token vocabulary); ours: "
                 f"generate.sample_tokens, one LSTM step per token, in numpy from the Keras weights "
                 f"({1000 / ours:.2f} ms/token, {s.gen_tokens} "
                 f"tokens per run); baseline: model.predict on the full {window}-token window per note, as the "
                 f"tutorial does ({1000 / base:.0f} ms/note here, {s.gen_tutorial_notes} notes per run; the issue "
                 f"measured {TUTORIAL_MS_PER_NOTE:.0f} ms). Ratio against the issue's {TUTORIAL_MS_PER_NOTE:.0f} ms/note: "
                 f"{ours * TUTORIAL_MS_PER_NOTE / 1000:.0f}x." + gap,
            samples_ours=times["ours"], samples_baseline=times["tutorial"]),
        row("generate one sequence, default preset (tokens/s)", default, base, "tokens/s", higher_is_better=True,
            note=f"default preset (2 x LSTM(256)) through sample_tokens ({1000 / default:.1f} ms/token) against the "
                 "same tutorial loop as above",
            samples_ours=times["default"]),
    ]


# ----------------------------------------------------------------------------- audio


def _tunes(n: int) -> tuple[list[Path], list]:
    import musiclib as ml

    root = _need_nottingham()
    files = sorted((root / "MIDI").glob("*.mid"))[:n]
    return files, [ml.io.read_midi(f) for f in files]


def bench_render(s: Settings) -> list[dict]:
    """Batch rendering, x real time: one renderer for the batch vs pretty_midi's synthesizer per call."""
    import pretty_midi

    import musiclib as ml

    files, tunes = _tunes(s.render_tunes)
    rows = []
    if ml.audio.fluidsynth_available():
        renderer = ml.audio.get_renderer("fluidsynth", quiet=True)
        seconds_audio = sum(renderer.render(t).seconds for t in tunes)
        sf2 = str(ml.audio.default_soundfont())
        midis = [pretty_midi.PrettyMIDI(str(f)) for f in files]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pretty_midi: sf2_path is deprecated
            times = paired_timings(
                {"ours": lambda: [renderer.render(t) for t in tunes],
                 "pretty_midi": lambda: [m.fluidsynth(fs=22050, sf2_path=sf2) for m in midis]},
                repeats=s.repeats,
            )
        ours = seconds_audio / med(times["ours"])
        rows.append(row(f"render {len(tunes)} Nottingham tunes, FluidSynth (x real time)", ours,
                        seconds_audio / med(times["pretty_midi"]), "x real time", higher_is_better=True,
                        target=f">= {TARGET_RENDER_X:.0f}x real time", met=ours >= TARGET_RENDER_X,
                        note=f"{seconds_audio:.0f} s of 22,050 Hz audio; one process; ours: one FluidSynthRenderer "
                             "(a synthesizer per tune from FluidSynth's cached SoundFont, so every tune renders the "
                             "same samples in any batch); baseline: pretty_midi.PrettyMIDI.fluidsynth, a new "
                             "synthesizer per tune",
                        samples_ours=times["ours"], samples_baseline=times["pretty_midi"], audio_seconds=seconds_audio))
    else:
        rows.append({"name": "render, FluidSynth", "skipped": "libfluidsynth not installed"})
    additive = ml.audio.AdditiveRenderer()
    few = tunes[: max(1, min(5, len(tunes)))]
    seconds_audio = sum(additive.render(t).seconds for t in few)
    times = timings(lambda: [additive.render(t) for t in few], repeats=s.repeats)
    rows.append(row(f"render {len(few)} tunes, additive fallback (x real time)", seconds_audio / med(times), None,
                    "x real time", higher_is_better=True, note="the synthesizer used when FluidSynth is absent",
                    samples=times))
    return rows


def bench_analysis(s: Settings) -> list[dict]:
    """The seed's librosa features (log-mel 1024/512/128, ZCR, chroma) on rendered audio, x real time."""
    import numpy as np

    import musiclib as ml
    from musiclib.audio.features import SpectrogramConfig, _librosa

    librosa = _librosa()
    _, tunes = _tunes(s.analysis_tunes)
    backend = "fluidsynth" if ml.audio.fluidsynth_available() else "additive"
    renderer = ml.audio.get_renderer(backend, quiet=True)
    audio = [renderer.render(t).audio for t in tunes]
    cfg = SpectrogramConfig()
    seconds_audio = sum(len(y) for y in audio) / cfg.sample_rate

    def ours():
        for y in audio:
            ml.audio.seed_features(y, config=cfg)

    def seed():  # the paper's three librosa calls, with the same settings
        for y in audio:
            mel = librosa.feature.melspectrogram(y=y, sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
                                                 n_mels=cfg.n_mels)
            librosa.power_to_db(mel, ref=np.max)
            librosa.feature.zero_crossing_rate(y, frame_length=cfg.n_fft, hop_length=cfg.hop_length)
            librosa.feature.chroma_stft(y=y, sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length)

    def summary():
        for y in audio:
            ml.audio.features(y, config=cfg)

    y0 = audio[0]
    power0 = np.abs(librosa.stft(y0, n_fft=cfg.n_fft, hop_length=cfg.hop_length)) ** 2
    tuning_s = median_time(lambda: librosa.estimate_tuning(S=power0, sr=cfg.sample_rate, n_fft=cfg.n_fft),
                           repeats=s.repeats)
    times = paired_timings({"ours": ours, "seed": seed, "features": summary}, repeats=s.repeats)
    x_ours = seconds_audio / med(times["ours"])
    return [
        row("librosa analysis: log-mel + ZCR + chroma (x real time)", x_ours, seconds_audio / med(times["seed"]),
            "x real time", higher_is_better=True, target=f">= {TARGET_ANALYSIS_X:.0f}x real time",
            met=x_ours >= TARGET_ANALYSIS_X,
            note=f"{len(audio)} tunes, {seconds_audio:.0f} s of {backend} audio; ours: analysis.seed_features (one "
                 "STFT shared by log-mel and chroma; chroma at tuning 0, exact for SoundFont audio at A440); "
                 "baseline: the seed's three direct librosa calls with the same settings, where chroma_stft "
                 f"estimates the tuning ({1000 * tuning_s:.0f} ms for the first tune's "
                 f"{len(y0) / cfg.sample_rate:.0f} s here).",
            samples_ours=times["ours"], samples_baseline=times["seed"], audio_seconds=seconds_audio),
        row("per-piece feature summary, analysis.features (x real time)", seconds_audio / med(times["features"]), None,
            "x real time", higher_is_better=True,
            note="one shared STFT for centroid and chroma, plus ZCR, RMS and onsets: what set comparisons use",
            samples=times["features"]),
    ]


# ----------------------------------------------------------------------------- make run


def _musiclib_command() -> list[str]:
    exe = Path(sys.executable).parent / "musiclib"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "musiclib.cli"]


def _pipeline_once(quick: bool) -> tuple[float, dict]:
    from musiclib.pipeline import QUICK_ENV, RUN_DIR_ENV

    env = {k: v for k, v in os.environ.items() if k not in (QUICK_ENV, RUN_DIR_ENV)}
    with tempfile.TemporaryDirectory(prefix="musiclib-bench-runs-") as runs_root:
        name = "quick" if quick else "default"
        # What `make quick` / `make run` run once .venv exists (make run: the Makefile's EPOCHS).
        command = _musiclib_command() + ["pipeline", "--runs-root", runs_root, "--name", name]
        command += ["--quick"] if quick else _epochs_flag()
        start = time.perf_counter()
        proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise RuntimeError(f"pipeline failed after {seconds:.0f} s: {' | '.join(tail)}")
        manifest_path = Path(runs_root) / name / "manifest.json"
        notebooks = {}
        if manifest_path.exists():
            manifest = json.loads(manifest_path.read_text())
            notebooks = {k: v.get("seconds") for k, v in manifest.get("notebooks", {}).items()}
    return seconds, notebooks


def makefile_epochs() -> int | None:
    """The default ``EPOCHS`` of ``make run`` (read from the Makefile, so the two cannot drift);
    None when it is empty (the notebooks' presets decide)."""
    match = re.search(r"^EPOCHS\s*\?=[ \t]*(\d*)[ \t]*$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError("no 'EPOCHS ?=' line in the Makefile")
    return int(match.group(1)) if match.group(1) else None


def _epochs_flag() -> list[str]:
    epochs = makefile_epochs()
    return [] if epochs is None else ["--epochs", str(epochs)]


def _bench_make_run(s: Settings, quick: bool) -> list[dict]:
    epochs = makefile_epochs()
    label = "make quick" if quick else ("make run" if epochs is None else f"make run (EPOCHS={epochs})")
    runs = []
    for _ in range(s.pipeline_repeats):
        runs.append(_pipeline_once(quick))
    seconds = med([r[0] for r in runs])
    flags = " --quick" if quick else "".join(" " + part for part in _epochs_flag())
    return [row(f"end to end: {label} (s)", seconds, None, "s", higher_is_better=False,
                note=f"`musiclib pipeline{flags}` into a temporary runs folder (what the make target runs once .venv "
                     f"is set up), {len(runs)} cold run(s), median; the folk corpus parse cache in data/ is reused if "
                     "present. Per notebook: " + ", ".join(f"{k.split('_')[0]} {v:.0f} s" for k, v in runs[-1][1].items()),
                samples=[r[0] for r in runs], notebooks=runs[-1][1])]


def bench_make_run_quick(s: Settings) -> list[dict]:
    """End to end: the quick walkthrough (`make quick`), wall time."""
    return _bench_make_run(s, quick=True)


def bench_make_run(s: Settings) -> list[dict]:
    """End to end: the default walkthrough (`make run`), wall time (about 11 min; not a default section)."""
    return _bench_make_run(s, quick=False)


SECTIONS: dict[str, Callable[[Settings], list[dict]]] = {
    "load": bench_load,
    "parallel": bench_parallel,
    "encode": bench_encode,
    "train": bench_train,
    "efficiency": bench_efficiency,
    "generate": bench_generate,
    "render": bench_render,
    "analysis": bench_analysis,
    "make-run-quick": bench_make_run_quick,
    "make-run": bench_make_run,
}
DEFAULT_SECTIONS = [name for name in SECTIONS if name != "make-run"]


# ----------------------------------------------------------------------------- environment and output


def environment(settings: Settings) -> dict:
    versions = {}
    for name in ("musiclib", "numpy", "symusic", "music21", "tensorflow", "keras", "librosa", "pretty_midi",
                 "pyfluidsynth", "scipy", "papermill"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    env_vars = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_CORETYPE",
                "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "TF_ENABLE_ONEDNN_OPTS")
    threads: dict[str, Any] = {"env": {k: os.environ.get(k) for k in env_vars}}
    if _TF_STATE:
        threads["tensorflow"] = dict(_TF_STATE)
        threads["tensorflow"]["note"] = "0 means TensorFlow's default: one thread per core"
    try:
        import threadpoolctl

        threads["blas"] = [
            {k: pool.get(k) for k in ("internal_api", "num_threads", "architecture", "version")}
            for pool in threadpoolctl.threadpool_info()
        ]
    except ImportError:
        pass
    cpu = {"count": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None}
    try:
        info = Path("/proc/cpuinfo").read_text()
        cpu["model"] = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), None)
        flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
        cpu["simd"] = sorted(f for f in flags if f in ("avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile"))
    except OSError:
        pass
    return {"python": platform.python_version(), "platform": platform.platform(), "cpu": cpu,
            "versions": versions, "threads": threads, "settings": dataclasses.asdict(settings)}


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    value = float(value)
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _ratio(r: dict) -> str:
    if r.get("ratio") is None:
        return ""
    if r.get("ratio_format") == "%":
        return f"{r['ratio']:.0%}"
    return f"{_fmt(r['ratio'])}x"


def print_table(rows: list[dict], file=None) -> None:
    file = file or sys.stdout
    width = max([54] + [len(r["name"]) for r in rows])
    print(f"{'benchmark':{width}s} {'ours':>11s} {'baseline':>11s} {'ratio':>8s}  {'met':4s} target", file=file)
    print("-" * (width + 50), file=file)
    for r in rows:
        if "skipped" in r:
            print(f"{r['name']:{width}s} skipped: {r['skipped']}", file=file)
            continue
        met = "" if r["met"] is None else ("yes" if r["met"] else "NO")
        print(f"{r['name']:{width}s} {_fmt(r['ours']):>11s} {_fmt(r['baseline']):>11s} {_ratio(r):>8s}  {met:4s} "
              f"{r['target'] or ''}", file=file)
    print(file=file)
    for index, r in enumerate(rows, 1):
        if r.get("note"):
            print(f"[{index}] {r['name']}: {r['note']}", file=file)


def _load_avg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def parse_sections(values: list[str] | None) -> list[str]:
    if not values:
        return list(DEFAULT_SECTIONS)
    names: list[str] = []
    for value in values:
        for name in value.split(","):
            name = name.strip()
            if not name:
                continue
            if name == "all":
                names.extend(SECTIONS)
            elif name == "default":
                names.extend(DEFAULT_SECTIONS)
            elif name in SECTIONS:
                names.append(name)
            else:
                raise ValueError(f"unknown section {name!r}; choose from {', '.join(SECTIONS)}, default, all")
    return list(dict.fromkeys(names))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", "--only", nargs="*", metavar="SECTION",
                        help=f"sections to run (default: {' '.join(DEFAULT_SECTIONS)}; 'all' adds make-run)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per figure after a warm-up (>= 3)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that the sections run, not for numbers")
    parser.add_argument("--tf-threads", type=int, default=0, help="TensorFlow intra/inter-op threads (0: its default)")
    parser.add_argument("--train-batches", default=None, help="batch sizes of the training sweep, e.g. 64,128,256")
    parser.add_argument("--pipeline-repeats", type=int, default=1, help="timed runs of each make-run section")
    parser.add_argument("--json", default=str(DEFAULT_JSON), help="results file (rows merged by section)")
    parser.add_argument("--fresh", action="store_true", help="overwrite --json instead of merging into it")
    parser.add_argument("--markdown", default=str(ROOT / "results" / "speed.md"),
                        help="the Markdown table quoted by the README")
    parser.add_argument("--list", action="store_true", help="list the sections and exit")
    parser.add_argument("--report-only", action="store_true",
                        help="measure nothing: print the table of --json and rewrite --markdown from it")
    args = parser.parse_args(argv)
    if args.list:
        for name, fn in SECTIONS.items():
            default = "" if name in DEFAULT_SECTIONS else "  (not in the default run)"
            print(f"{name:16s} {fn.__doc__.strip().splitlines()[0]}{default}")
        return 0
    if args.report_only:
        from musiclib._files import atomic_write

        result = json.loads(Path(args.json).read_text())
        print_table(result["rows"])
        atomic_write(Path(args.markdown), markdown_table(result))
        print(f"\nwrote {args.markdown} from {args.json}")
        return 0
    if args.repeats < 3:
        parser.error("--repeats must be at least 3")
    if args.pipeline_repeats < 1:
        parser.error("--pipeline-repeats must be at least 1")
    try:
        sections = parse_sections(args.sections)
    except ValueError as error:
        parser.error(str(error))
    changes: dict[str, Any] = {"repeats": args.repeats, "tf_threads": args.tf_threads,
                               "pipeline_repeats": args.pipeline_repeats}
    if args.train_batches:
        changes["train_batches"] = tuple(int(b) for b in args.train_batches.split(","))
    settings = Settings.quick(**changes) if args.quick else Settings(**changes)

    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    load_start = _load_avg()
    rows: list[dict] = []
    meta: dict[str, dict] = {}
    for name in sections:
        print(f"== {name} (load average {_load_avg()})", file=sys.stderr, flush=True)
        section_start, section_load = time.perf_counter(), _load_avg()
        try:
            new = SECTIONS[name](settings)
            status = "ok"
        except Skip as reason:
            new, status = [{"name": name, "skipped": str(reason)}], "skipped"
        except Exception as error:  # one failing section does not lose the others
            new, status = [{"name": name, "skipped": f"failed: {type(error).__name__}: {error}"}], "failed"
            print(f"   section {name} failed: {type(error).__name__}: {error}", file=sys.stderr)
        for r in new:
            r["section"] = name
        rows.extend(new)
        meta[name] = {"status": status, "seconds": round(time.perf_counter() - section_start, 1),
                      "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                      "machine_load": {"start": section_load, "end": _load_avg()}, "quick": args.quick}
    load_end = _load_avg()
    print_table(rows)

    from musiclib._files import write_json

    path = Path(args.json)
    previous = {}
    if path.exists() and not args.fresh:
        try:
            previous = json.loads(path.read_text())
        except (OSError, ValueError):
            previous = {}
    if "sections" not in previous:  # the pre-section format: start over
        previous = {}
    kept = [r for r in previous.get("rows", []) if r.get("section") not in meta]
    order = {name: i for i, name in enumerate(SECTIONS)}
    all_rows = sorted(kept + rows, key=lambda r: order.get(r.get("section"), len(order)))
    command = " ".join([Path(__file__).name] + (sys.argv[1:] if argv is None else list(argv)))
    this_run = {"command": command, "started_at": started_at, "sections": list(meta),
                "machine_load": {"start": load_start, "end": load_end}}
    runs = []  # every run whose rows are still in the file, oldest first
    for run in _runs_of(previous):
        still = [name for name in run["sections"] if name not in meta]
        if still:
            runs.append({**run, "sections": still})
    result = {
        "environment": environment(settings),
        "command": command,
        "started_at": started_at,
        "machine_load": {"start": load_start, "end": load_end,
                         "note": "os.getloadavg() (1, 5, 15 min) when this run started and ended; "
                                 f"{os.cpu_count()} CPUs. Above the CPU count, other work shared the machine."},
        "runs": runs + [this_run],
        "sections": {**previous.get("sections", {}), **meta},
        "rows": all_rows,
    }
    write_json(path, result)
    from musiclib._files import atomic_write

    atomic_write(Path(args.markdown), markdown_table(result))
    print(f"\nwrote {path} and {args.markdown}")
    return 0


def _runs_of(previous: dict) -> list[dict]:
    """The runs whose rows a results dict holds (files written before ``runs`` existed name only their last)."""
    if not previous:
        return []
    if "runs" in previous:
        return previous["runs"]
    return [{"command": previous.get("command", "?"), "started_at": previous.get("started_at", "?"),
             "sections": list(previous.get("sections", {})),
             "machine_load": {k: previous.get("machine_load", {}).get(k) for k in ("start", "end")}}]


def markdown_table(result: dict) -> str:
    """The rows as the Markdown table the README quotes, with each row's note below it."""
    lines = ["| benchmark | musiclib | baseline | ratio | target | met |", "|---|---:|---:|---:|---|---|"]
    notes = []
    for r in result["rows"]:
        if "skipped" in r:
            lines.append(f"| {r['name']} | skipped: {r['skipped']} | | | | |")
            continue
        met = "" if r.get("met") is None else ("yes" if r["met"] else "**no**")
        lines.append(f"| {r['name']} [{len(notes) + 1}] | {_fmt(r['ours'])} | {_fmt(r['baseline'])} | {_ratio(r)} | "
                     f"{r.get('target') or ''} | {met} |")
        notes.append(r.get("note") or "")
    runs = _runs_of(result)
    described = [f"`{run['command']}` (started {run['started_at']}; load average {run['machine_load'].get('start')} "
                 f"at the start and {run['machine_load'].get('end')} at the end"
                 + ("" if len(runs) == 1 else f"; sections: {', '.join(run['sections'])}") + ")" for run in runs]
    lines += ["", *(f"{i}. {note}" for i, note in enumerate(notes, 1) if note), "",
              ("Command: " if len(runs) == 1 else "Commands: ") + "; ".join(described)
              + f". Medians of at least 3 timed runs after a warm-up, baselines timed in the same run, on "
              f"{os.cpu_count()} CPUs. Versions and thread counts: `benchmarks/results.json`."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
