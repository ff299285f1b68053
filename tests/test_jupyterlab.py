"""The learner's path: every numbered notebook run with Run › Run All Cells in JupyterLab, in Chromium.

JupyterLab is started from this environment on 127.0.0.1 (a free port, a random token) over a
temporary copy of notebooks/, in quick mode with a temporary run folder; the notebooks run in
order in that one folder (01 prepares the data that 02 trains on, ...). Headless Chromium
(Debian's ``chromium`` package, driven by Playwright from PyPI; never ``playwright install``)
opens each notebook, runs all cells through the Run menu and waits for the kernel. Then:

* no error output, and no stderr output except lines on :data:`STDERR_ALLOWED`;
* every ``<audio>`` element has loaded its sound (``readyState >= 1``);
* every output image has a non-zero size.

A screenshot of each notebook goes to the test's temporary folder and, when
``MUSICLIB_ARTIFACTS`` is set, to that folder too. Skipped, with the reason, where Chromium or
Playwright is missing (CI installs both).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from musiclib import _tf, kernelspec, pipeline

CHROMIUM = os.environ.get("MUSICLIB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
NOTEBOOK_TIMEOUT_S = 300
STDERR_ALLOWED: tuple[re.Pattern[str], ...] = ()
"""stderr lines a notebook may show. None: TensorFlow's start-up notices never reach the
notebook (musiclib._tf filters them at the source, and the filter's own tests cover the list
of known lines), and nothing else in the walkthrough writes to stderr."""

playwright_sync = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
    pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set MUSICLIB_CHROMIUM)",
                allow_module_level=True)

_LAB_SETTINGS = {  # no news/update toasts over the notebook; every cell in the DOM so all outputs can be checked
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _api(base: str, token: str, path: str, method: str = "GET"):
    request = urllib.request.Request(f"{base}{path}", method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
    return json.loads(body) if body else None


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A running JupyterLab over a copy of the notebooks, in quick mode; yields (url, token, folder)."""
    root = tmp_path_factory.mktemp("lab")
    folder = root / "notebooks"
    folder.mkdir()
    for name in pipeline.NOTEBOOKS:
        shutil.copy(pipeline.notebooks_dir() / name, folder / name)
    settings = root / "settings"
    for name, values in _LAB_SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    kernelspec.ensure_available()  # the notebooks' "musiclib" kernel (a temporary spec if make setup has not run)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # inline figures, as a learner sees them
    env.update({pipeline.QUICK_ENV: "1", pipeline.RUN_DIR_ENV: str(root / "run"),
                "JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTERLAB_WORKSPACES_DIR": str(root / "workspaces"),
                "JUPYTER_RUNTIME_DIR": str(root / "runtime")})
    port, token = _free_port(), secrets.token_hex(16)
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder}", "--ServerApp.open_browser=False"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = open(root / "jupyterlab.log", "w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                _api(base, token, "/api/status")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("JupyterLab did not start:\n" + (root / "jupyterlab.log").read_text()[-3000:])
                time.sleep(0.5)
        yield base, token, folder
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def browser():
    with playwright_sync.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


def _artifact_dir(tmp_path_factory) -> list[Path]:
    folders = [tmp_path_factory.getbasetemp() / "screenshots"]
    if os.environ.get("MUSICLIB_ARTIFACTS"):
        folders.append(Path(os.environ["MUSICLIB_ARTIFACTS"]) / "jupyterlab")
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    return folders


_STATE_JS = """() => {
  const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  if (!nb) return null;
  const prompts = [...nb.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.textContent.trim());
  return {prompts, errors: nb.querySelectorAll('[data-mime-type="application/vnd.jupyter.error"]').length};
}"""

_MEDIA_JS = """() => {
  const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  return {audio: [...nb.querySelectorAll('.jp-OutputArea audio')].map(a => a.readyState),
          images: [...nb.querySelectorAll('.jp-OutputArea img')].map(i => [i.complete, i.naturalWidth, i.naturalHeight])};
}"""


def _menu(page, menu: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{menu}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).click()


def _kernel_states(base: str, token: str, name: str) -> list[str]:
    """Execution states of the kernels of ``name``'s sessions (one once it has started)."""
    return [session["kernel"]["execution_state"] for session in _api(base, token, "/api/sessions") or []
            if session.get("path", "").endswith(name) and session.get("kernel")]


def _run_all_cells(page, name: str, base: str, token: str) -> dict:
    """What a learner does: accept the notebook's kernel, clear the committed prompts, Run › Run All Cells."""
    dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
    deadline = time.monotonic() + 180
    while _kernel_states(base, token, name) != ["idle"]:
        if dialog.count() and dialog.first.is_visible():  # JupyterLab asks which kernel: the preselected musiclib
            dialog.locator("button", has_text=re.compile(r"^Select$")).first.click()
        if time.monotonic() > deadline:
            pytest.fail(f"{name}: the kernel did not start: {_kernel_states(base, token, name)}")
        time.sleep(0.5)
    _menu(page, "Edit", "Clear Outputs of All Cells")  # the committed execution counts go
    page.wait_for_function("() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]"
                           ".every(p => !/[0-9*]/.test(p.textContent))", timeout=30_000)
    _menu(page, "Run", "Run All Cells")
    started, calm = time.monotonic(), 0
    while True:
        time.sleep(1.0)
        state = page.evaluate(_STATE_JS)
        finished = state is not None and not any("*" in p for p in state["prompts"]) and (
            all(re.search(r"[0-9]", p) for p in state["prompts"]) or state["errors"])
        calm = calm + 1 if finished and _kernel_states(base, token, name) == ["idle"] else 0
        if calm >= 2:
            return state
        if time.monotonic() - started > NOTEBOOK_TIMEOUT_S:
            pytest.fail(f"{name}: still running after {NOTEBOOK_TIMEOUT_S} s: {state}")


def _saved_outputs(page, path: Path) -> nbformat.NotebookNode:
    before = path.stat().st_mtime_ns
    _menu(page, "File", "Save Notebook")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if path.stat().st_mtime_ns != before:
            try:  # the server may still be writing it
                return nbformat.read(path, as_version=4)
            except (nbformat.reader.NotJSONError, ValueError):
                pass
        time.sleep(0.3)
    pytest.fail(f"{path.name} was not saved within 30 s")


def _problems(notebook: nbformat.NotebookNode) -> list[str]:
    found = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                found.append(f"cell {index}: {output.ename}: {output.evalue}")
            elif output.output_type == "stream" and output.name == "stderr":
                for line in output.text.splitlines():
                    if line.strip() and not any(p.search(line) for p in STDERR_ALLOWED):
                        found.append(f"cell {index} stderr: {line[:300]}")
    return found


@pytest.mark.parametrize("name", pipeline.NOTEBOOKS)
def test_notebook_runs_cleanly_in_jupyterlab(name, lab, browser, tmp_path_factory, record_property):
    base, token, folder = lab
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    started = time.monotonic()
    shots = _artifact_dir(tmp_path_factory)
    try:
        page.goto(f"{base}/lab/tree/{name}?reset&token={token}", wait_until="domcontentloaded")  # only this notebook open
        page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=120_000)
        state = _run_all_cells(page, name, base, token)
        notebook = _saved_outputs(page, folder / name)
        deadline = time.monotonic() + 20  # the players load their data: URIs asynchronously
        media = page.evaluate(_MEDIA_JS)
        while any(r < 1 for r in media["audio"]) and time.monotonic() < deadline:
            time.sleep(0.5)
            media = page.evaluate(_MEDIA_JS)
        target = page.locator(".jp-OutputArea audio, .jp-OutputArea img").first
        if target.count():
            target.scroll_into_view_if_needed()
        for where in shots:
            page.screenshot(path=str(where / f"jupyterlab_{Path(name).stem}.png"))
        seconds = time.monotonic() - started
        record_property("seconds", round(seconds, 1))
        print(f"{name}: {seconds:.0f} s, {len(media['audio'])} players, {len(media['images'])} images")
    except Exception:
        for where in shots:  # what the page showed when it went wrong
            page.screenshot(path=str(where / f"jupyterlab_{Path(name).stem}_failed.png"))
        raise
    finally:
        for session in _api(base, token, "/api/sessions") or []:  # one kernel at a time on a small machine
            _api(base, token, f"/api/sessions/{session['id']}", method="DELETE")
        page.close()
    problems = _problems(notebook)
    assert not problems, f"{name}:\n" + "\n".join(problems)
    assert state["errors"] == 0
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code_cells), f"{name}: not every cell ran"
    assert all(r >= 1 for r in media["audio"]), f"{name}: audio elements not loaded: {media['audio']}"
    assert all(ok and w > 0 and h > 0 for ok, w, h in media["images"]), f"{name}: empty images: {media['images']}"
    assert media["images"], f"{name}: no figure rendered"


def test_the_startup_filter_is_what_keeps_the_notebooks_quiet():
    """The allow-list above is empty because musiclib._tf drops TensorFlow's known lines."""
    assert {"absl preamble", "oneDNN notice", "no CUDA driver"} <= set(_tf.STARTUP_LINES)
