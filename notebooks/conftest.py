"""pytest settings for running the notebooks under nbval: quick mode, outputs in a temp folder.

The kernels nbval starts inherit this environment; ``ml.pipeline.notebook_settings``
reads it (papermill parameters still win over it).
"""

import os
import tempfile

os.environ.setdefault("MUSICLIB_QUICK", "1")
os.environ.setdefault("MUSICLIB_RUN_DIR", tempfile.mkdtemp(prefix="musiclib-nbval-"))
os.environ.setdefault("MPLBACKEND", "Agg")
