"""Corpus sections: loading the Nottingham MIDI set (cold and from the parse cache) against music21,
parsing it in parallel processes against the serial path (with a digest that proves the outputs
identical), and event-encoding it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from typing import Any

from speed.common import (
    TARGET_LOAD_COLD_RATIO,
    TARGET_LOAD_WARM_S,
    Settings,
    _need_nottingham,
    med,
    paired_timings,
    row,
    timings,
)


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
