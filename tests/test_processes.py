"""Process pools after TensorFlow and FluidSynth have started threads.

``musiclib.datasets.load(workers=N)`` (and ``musiclib.audio.sets``) start worker
processes. Forking after TensorFlow, FluidSynth or librosa have started threads can
deadlock the child on a lock one of those threads held; the library uses ``spawn``.
The check runs in a subprocess with a timeout, so a deadlock fails the test instead
of hanging the suite, and it records the start method of every pool created there
(a fork is refused even when it happens not to deadlock).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from musiclib._processes import START_METHOD, process_pool

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 180

_SCRIPT = r"""
import concurrent.futures, json, multiprocessing, sys
sys.path.insert(0, {tests!r})
from support import assert_tunes_equal, write_tiny_midi

methods = []

class RecordingPool(concurrent.futures.ProcessPoolExecutor):
    def __init__(self, *args, mp_context=None, **kwargs):
        methods.append((mp_context or multiprocessing.get_context()).get_start_method())
        super().__init__(*args, mp_context=mp_context, **kwargs)

concurrent.futures.ProcessPoolExecutor = RecordingPool

def main():
    from pathlib import Path
    import numpy as np
    import keras
    from musiclib import audio, datasets
    from support import tiny_tune

    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)])
    model.predict(np.zeros((2, 8), np.float32), verbose=0)  # TensorFlow's thread pools are running
    fluidsynth = audio.fluidsynth_available()
    renderer = None
    if fluidsynth:
        renderer = audio.get_renderer("fluidsynth")
        renderer.render(tiny_tune(1))  # FluidSynth has started
    folder = Path({folder!r})
    for i in range(12):
        write_tiny_midi(folder / f"t{{i:02d}}.mid", 10 + i)
    serial = datasets.load(folder, use_cache=False, workers=1)
    parallel = datasets.load(folder, use_cache=False, workers=2)
    assert_tunes_equal(serial.tunes, parallel.tunes)
    assert serial.skipped == parallel.skipped and serial.fingerprint == parallel.fingerprint
    print(json.dumps({{"methods": methods, "fluidsynth": fluidsynth, "tunes": len(parallel.tunes)}}))

if __name__ == "__main__":
    main()
"""


def test_load_with_workers_after_keras_and_fluidsynth(tmp_path):
    script = tmp_path / "load_after_threads.py"
    script.write_text(_SCRIPT.format(tests=str(Path(__file__).parent), folder=str(tmp_path / "corpus")))
    env_note = "FluidSynth part skipped: libfluidsynth is not available"
    try:
        done = subprocess.run(
            [sys.executable, str(script)], cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"load(workers=2) after Keras and FluidSynth did not finish in {TIMEOUT_S} s (deadlock?)")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["methods"] == [START_METHOD], result  # one pool, spawned (never forked)
    assert result["tunes"] == 12
    if not result["fluidsynth"]:
        print(env_note)


def _square(value: int) -> int:
    return value * value


def test_process_pool_uses_spawn():
    assert START_METHOD in ("spawn", "forkserver")
    with process_pool(2) as pool:
        assert pool._mp_context.get_start_method() == START_METHOD
        assert list(pool.map(_square, range(4))) == [0, 1, 4, 9]
