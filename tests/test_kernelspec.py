"""The "musiclib" Jupyter kernel: installed into a prefix (make setup), or a temporary spec as fallback."""

from __future__ import annotations

import json
import os
import sys

import nbformat

from musiclib import kernelspec, pipeline


def test_install_writes_the_spec_with_this_python_and_the_quiet_environment(tmp_path):
    where = kernelspec.install(prefix=tmp_path)
    assert where == tmp_path / "share" / "jupyter" / "kernels" / "musiclib"
    spec = json.loads((where / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable and spec["argv"][1:3] == ["-m", "ipykernel_launcher"]
    assert spec["display_name"] == "musiclib (.venv)"
    assert spec["env"]["TF_CPP_MIN_LOG_LEVEL"] == "2"
    assert any(arg.startswith("--IPKernelApp.exec_lines=import musiclib") for arg in spec["argv"])


def test_ensure_available_makes_jupyter_find_the_kernel(monkeypatch, tmp_path):
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "elsewhere"))
    monkeypatch.setattr(kernelspec, "_TEMPORARY", None)
    assert kernelspec.ensure_available() == "musiclib"
    assert kernelspec.is_installed()
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("musiclib")
    assert spec.display_name == "musiclib (.venv)" and spec.env["TF_CPP_MIN_LOG_LEVEL"] == "2"
    assert str(tmp_path / "elsewhere") in os.environ["JUPYTER_PATH"]  # the user's own path is kept


def test_every_notebook_names_the_musiclib_kernel():
    for name in pipeline.NOTEBOOKS:
        metadata = nbformat.read(pipeline.notebooks_dir() / name, as_version=4).metadata
        assert metadata["kernelspec"]["name"] == "musiclib", name
        assert metadata["kernelspec"]["display_name"] == kernelspec.DISPLAY_NAME, name


def test_a_learners_own_import_keras_in_the_musiclib_kernel_prints_nothing_on_stderr():
    """The kernel imports musiclib at start, whose import hook makes a plain ``import keras`` quiet."""
    from jupyter_client.manager import start_new_kernel

    kernelspec.ensure_available()
    manager, client = start_new_kernel(kernel_name=kernelspec.KERNEL_NAME, startup_timeout=120)
    try:
        streams: list[tuple[str, str]] = []

        def collect(message):
            if message["header"]["msg_type"] == "stream":
                streams.append((message["content"]["name"], message["content"]["text"]))

        reply = client.execute_interactive("import keras\nprint(keras.ops.ones(2).shape)", timeout=300,
                                           output_hook=collect)
        assert reply["content"]["status"] == "ok"
        assert [text for name, text in streams if name == "stderr"] == []
        assert any("(2,)" in text for name, text in streams if name == "stdout")
        streams.clear()
        client.execute_interactive("print('_musiclib_startup' in dir())", timeout=60, output_hook=collect)
        assert streams == [("stdout", "False\n")]  # the start-up line leaves the learner's namespace clean
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
