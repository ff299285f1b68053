"""musiclib._tf: TensorFlow's start-up lines are filtered, genuine messages still reach the user."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from musiclib import _tf

# Lines as TensorFlow 2.21 writes them on a CPU machine (measured, timestamps and ids vary).
STARTUP = """\
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1796116354.691350   30917 port.cc:153] oneDNN custom operations are on. You may see slightly \
different numerical results due to floating-point round-off errors from different computation orders. To turn \
them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.
I0000 00:00:1796116354.691677   30917 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
I0000 00:00:1796116355.437377   30917 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available \
CPU instructions in performance-critical operations.
To enable the following instructions: AVX2 AVX512F AVX512_VNNI FMA, in other operations, rebuild TensorFlow with \
the appropriate compiler flags.
E0000 00:00:1796116381.192986   30917 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call \
to cuInit: UNKNOWN ERROR (303)
"""


def test_known_startup_lines_are_dropped_and_others_kept():
    real = "W0000 00:00:1796116381.2   30917 op_kernel.cc:1857] OP_REQUIRES failed: something real"
    assert _tf.filter_startup_lines(STARTUP + real + "\n/path/x.py:3: UserWarning: careful\n") == [
        real, "/path/x.py:3: UserWarning: careful"]


def test_a_cuinit_failure_stays_visible_where_a_cuda_driver_exists():
    cuinit = STARTUP.splitlines()[-1]
    assert _tf.filter_startup_lines(cuinit) == [cuinit]  # no "Could not find cuda drivers": a GPU machine


def test_quiet_fd2_drops_startup_lines_written_to_the_descriptor_and_reemits_the_rest():
    code = textwrap.dedent('''
        import os, sys, warnings
        from musiclib import _tf
        with _tf.quiet_fd2():
            os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n")
            os.write(2, b"a real message from C++\\n")
            warnings.warn("a real Python warning")
        print("done")
    ''')
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "absl" not in result.stderr
    assert "a real message from C++" in result.stderr and "a real Python warning" in result.stderr


def test_importing_keras_through_musiclib_prints_nothing_on_stderr():
    code = ("import musiclib as ml\n"
            "ml.lm.build_lstm(ml.lm.config_for('tiny', 20))\n"  # imports Keras via musiclib.lm.lstm
            "from musiclib import _tf\n"
            "_tf.keras().ops.ones(1)\n"  # the first op: TensorFlow initialises its devices by then
            "import tensorflow, keras\n"  # later direct imports are already loaded: quiet
            "print('ok')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"
    assert result.stderr.strip() == ""
