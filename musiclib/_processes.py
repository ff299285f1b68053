"""Process pools started safely: every pool musiclib starts uses the ``spawn`` method.

Forking a process after TensorFlow, FluidSynth or librosa (numba) have started their
threads copies the locks those threads held without the threads that would release
them, so the child can deadlock (seen here with FluidSynth plus librosa). A spawned
worker starts a fresh interpreter instead: its function must be importable (defined at
the top level of a module) and its arguments picklable, and a script that asks for
workers needs the usual ``if __name__ == "__main__":`` guard (notebooks need nothing).
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing

__all__ = ["START_METHOD", "process_pool"]

START_METHOD = "spawn"
"""The start method of every process pool musiclib creates."""


def process_pool(max_workers: int) -> concurrent.futures.ProcessPoolExecutor:
    """A ``ProcessPoolExecutor`` of ``max_workers`` processes started with :data:`START_METHOD`."""
    context = multiprocessing.get_context(START_METHOD)
    return concurrent.futures.ProcessPoolExecutor(max_workers=max_workers, mp_context=context)
