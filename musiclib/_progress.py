"""tqdm progress bars for musiclib's loops, without tqdm's "IProgress not found" warning.

``tqdm.auto`` picks the Jupyter widget bar when ipywidgets is installed and otherwise warns
(``TqdmWarning: IProgress not found``) on the learner's stderr before falling back to the
text bar. The warning is about tqdm's own display, not about anything the learner did, so
it is dropped here; the fallback bar itself is unchanged.
"""

from __future__ import annotations

import warnings


def tqdm_class():
    """``tqdm.auto.tqdm``, imported with the "IProgress not found" warning filtered."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        from tqdm.auto import tqdm
    return tqdm
