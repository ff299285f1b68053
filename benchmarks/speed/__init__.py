"""The sections of ``benchmarks/run.py``, one module per concern: shared settings and timing helpers
(:mod:`speed.common`), corpus loading, training, generation, audio and the end-to-end runs, and the
report (the table, the JSON's environment and ``results/speed.md``). ``benchmarks/run.py`` puts
``benchmarks/`` on ``sys.path`` and imports them as ``speed.*``.
"""
