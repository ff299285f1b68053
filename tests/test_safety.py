"""Guards over the source: every artifact is written atomically, nothing unpickles, models load safely.

The checks read musiclib's code (AST), so a new writer that bypasses
:mod:`musiclib._files`, a pickle import or an unsafe model load fails here, naming
the file, line and function, before it ever runs.
"""

from __future__ import annotations

import ast
import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

import musiclib
from musiclib import cli, datasets
from musiclib.datasets.registry import DatasetInfo

PACKAGE = Path(musiclib.__file__).resolve().parent
NOTEBOOKS = PACKAGE.parent / "notebooks"
SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "_files.py")

# --------------------------------------------------------------------------- atomic writes

_WRITE_MODES = set("wax+")
_NUMPY = {"np", "numpy"}
_ATOMIC_SAVERS = {"vocab", "vocabulary", "split"}  # Vocabulary.save and Split.save go through write_json
_MUSIC21_FORMATS = {"midi", "musicxml", "xml", "mxl", "abc", "lily", "png", "pdf"}
_SCRATCH_FACTORIES = {"atomic_path", "mkdtemp", "mkstemp", "TemporaryDirectory", "NamedTemporaryFile",
                      "TemporaryFile", "BytesIO", "StringIO"}

ALLOWED_WRITERS = {
    "datasets/archives.py:_extract_zip": "extracts into a staging folder that download() verifies and then renames into place",
    "datasets/archives.py:_extract_tar": "extracts into a staging folder that download() verifies and then renames into place",
    "lm/distributed.py:_run_epochs": "checkpoint.save() hands over to _write_checkpoint, which fills a temporary folder "
                                     "and renames it into place",
    "lm/distributed.py:save": "stopping.to_json() returns a dict; _write_checkpoint writes it with write_json",
}
"""``file:function`` -> why a direct write there is safe. Keep it short: prefer musiclib._files."""


@dataclass(frozen=True)
class Write:
    file: str
    line: int
    function: str
    call: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} in {self.function}(): {self.call}"


def _constant_str(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _last_name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Call):
        return _last_name(node.func)
    return ""


def _mode(call: ast.Call, position: int) -> str | None:
    for keyword in call.keywords:
        if keyword.arg == "mode":
            return _constant_str(keyword.value) or "?"
    if len(call.args) > position:
        return _constant_str(call.args[position]) or "?"
    return "r"


def _write_target(call: ast.Call) -> ast.AST | None:
    """The destination of a call that writes a file, or None when the call writes nothing."""
    func = call.func
    first = call.args[0] if call.args else None
    if isinstance(func, ast.Name):
        if func.id == "open" and _WRITE_MODES & set(_mode(call, 1)):
            return first
        return None
    if not isinstance(func, ast.Attribute):
        return None
    owner, name = _last_name(func.value), func.attr
    if name == "fdopen" and _WRITE_MODES & set(_mode(call, 1)):
        return first
    if name in ("write_bytes", "write_text"):
        return func.value
    if owner in _NUMPY and name in ("save", "savez", "savez_compressed", "savetxt"):
        return first
    if owner == "json" and name == "dump":
        return call.args[1] if len(call.args) > 1 else func
    if owner in ("soundfile", "sf") and name == "write":
        return first
    if owner == "shutil" and name in ("copy", "copy2", "copyfile", "copytree", "move"):
        return call.args[1] if len(call.args) > 1 else func
    if name in ("savefig", "to_csv", "to_json", "to_parquet", "save_weights", "export"):
        return first or func
    if name == "save" and owner not in _ATOMIC_SAVERS:
        return first or func
    if name == "write" and _constant_str(first) in _MUSIC21_FORMATS:
        return next((k.value for k in call.keywords if k.arg == "fp"), func)
    return None


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


class _WriteFinder(ast.NodeVisitor):
    """Collect writes whose destination is not a temporary (atomic_path, a staging folder, a buffer)."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.function = "<module>"
        self.scratch: set[str] = set()  # names bound to temporaries in the current function
        self.found: list[Write] = []

    def visit_FunctionDef(self, node) -> None:
        outer = (self.function, self.scratch)
        self.function, self.scratch = node.name, set(self.scratch)
        self.generic_visit(node)
        self.function, self.scratch = outer

    visit_AsyncFunctionDef = visit_FunctionDef

    def _bind(self, target: ast.AST, value: ast.AST) -> None:
        made_here = any(isinstance(n, ast.Call) and _last_name(n.func) in _SCRATCH_FACTORIES for n in ast.walk(value))
        if made_here or _names(value) & self.scratch:  # a temporary, or a path built from one
            self.scratch |= _names(target)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._bind(target, node.value)
        self.generic_visit(node)

    def visit_With(self, node) -> None:
        for item in node.items:
            if item.optional_vars is not None:
                self._bind(item.optional_vars, item.context_expr)
        self.generic_visit(node)

    visit_AsyncWith = visit_With

    def visit_Call(self, node: ast.Call) -> None:
        if _last_name(node.func) == "_save_keras_atomically":  # saves through a lambda given the temporary path
            for arg in node.args:
                if isinstance(arg, ast.Lambda):
                    self.scratch |= {a.arg for a in arg.args.args}
        target = _write_target(node)
        if target is not None and not (_names(target) & self.scratch):
            self.found.append(Write(self.file, node.lineno, self.function, ast.unparse(node)[:120]))
        self.generic_visit(node)


def direct_writes(source: str, file: str = "<test>") -> list[Write]:
    finder = _WriteFinder(file)
    finder.visit(ast.parse(source))
    return finder.found


def test_every_artifact_writer_goes_through_a_temporary():
    found = [w for p in SOURCES for w in direct_writes(p.read_text(), str(p.relative_to(PACKAGE)))]
    offending = [w for w in found if f"{w.file}:{w.function}" not in ALLOWED_WRITERS]
    assert not offending, (
        "write artifacts with musiclib._files (atomic_path / atomic_write / write_json) so no reader sees a "
        "half-written file; or add the function to ALLOWED_WRITERS with the reason it is safe:\n"
        + "\n".join(map(str, offending))
    )
    defined = {
        f"{p.relative_to(PACKAGE)}:{node.name}"
        for p in SOURCES
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    assert set(ALLOWED_WRITERS) <= defined, f"ALLOWED_WRITERS names no function: {set(ALLOWED_WRITERS) - defined}"


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_notebooks_write_their_artifacts_through_a_temporary(path):
    """A pipeline killed mid-notebook must leave no half-written figure or table in the run folder."""
    found = direct_writes(_notebook_code(path), path.name)
    assert not found, "save figures with ml.plots.save_figure and files with musiclib._files:\n" + "\n".join(
        map(str, found))


@pytest.mark.parametrize(
    "code, flagged",
    [
        ("def f(p):\n    open(p, 'w').write('x')", True),
        ("def f(p):\n    p.write_text('x')", True),
        ("def f(p, a):\n    np.save(p, a)", True),
        ("def f(p, d):\n    json.dump(d, open(p, 'wb'))", True),
        ("def f(p, m):\n    m.save(p)", True),
        ("def f(p, fig):\n    fig.savefig(p)", True),
        ("def f(p, s):\n    s.write('midi', fp=p)", True),
        ("def f(p):\n    open(p).read()", False),
        ("def f(p):\n    with atomic_path(p) as tmp:\n        tmp.write_bytes(b'x')", False),
        ("def f(p, a):\n    b = io.BytesIO()\n    np.savez(b, a)\n    atomic_write(p, b.getvalue())", False),
        ("def f(p, m):\n    staging = Path(tempfile.mkdtemp())\n    m.save(staging / 'model.keras')", False),
        ("def f(p, m):\n    _save_keras_atomically(p, lambda t: m.save(t))", False),
        ("def f(p, v):\n    vocab.save(p)", False),
    ],
)
def test_the_writer_guard_tells_atomic_from_direct_writes(code, flagged):
    assert bool(direct_writes(code)) is flagged


# --------------------------------------------------------------------------- no pickle, safe model loading

_PICKLERS = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}


def _unsafe_loading(source: str) -> list[str]:
    problems = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            problems += [f"line {node.lineno}: imports {m}" for m in modules if m.split(".")[0] in _PICKLERS]
        elif isinstance(node, ast.Call):
            name = _last_name(node.func)
            keywords = {k.arg: k.value for k in node.keywords}
            for key in ("allow_pickle", "safe_mode"):
                value = keywords.get(key)
                if isinstance(value, ast.Constant) and value.value is (key == "allow_pickle"):
                    problems.append(f"line {node.lineno}: {key}={value.value}")
            if name == "load_model" and not (
                isinstance(keywords.get("safe_mode"), ast.Constant) and keywords["safe_mode"].value is True
            ):
                problems.append(f"line {node.lineno}: load_model without safe_mode=True")
            if name in ("read_pickle", "from_pickle", "enable_unsafe_deserialization") or (
                name == "load" and _last_name(node.func.value if isinstance(node.func, ast.Attribute) else node.func)
                in ("torch", "yaml")
            ):
                problems.append(f"line {node.lineno}: {ast.unparse(node.func)}")
    return problems


def _notebook_code(path: Path) -> str:
    cells = nbformat.read(path, as_version=4).cells
    code = [c.source for c in cells if c.cell_type == "code"]
    return "\n".join("\n".join(line for line in cell.splitlines() if not line.lstrip().startswith(("%", "!")))
                     for cell in code)


@pytest.mark.parametrize(
    "path",
    SOURCES + sorted(NOTEBOOKS.glob("*.ipynb")),
    ids=lambda p: str(p.relative_to(PACKAGE.parent)),
)
def test_no_pickle_and_models_load_in_safe_mode(path):
    source = _notebook_code(path) if path.suffix == ".ipynb" else path.read_text()
    assert _unsafe_loading(source) == []


@pytest.mark.parametrize(
    "code",
    ["import pickle", "from joblib import load", "np.load(p, allow_pickle=True)",
     "keras.saving.load_model(p, safe_mode=False)", "keras.saving.load_model(p)", "pd.read_pickle(p)",
     "keras.config.enable_unsafe_deserialization()"],
)
def test_the_pickle_guard_catches(code):
    assert _unsafe_loading(code)


# --------------------------------------------------------------------------- a bad download at the boundary


def test_wrong_checksum_download_is_deleted_and_reported_by_the_cli(tmp_path, monkeypatch, capsys):
    archive = tmp_path / "tiny.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("tiny/MIDI/a.mid", b"MThd")
    cache = tmp_path / "cache"
    monkeypatch.setenv(datasets.DATA_ENV_VAR, str(cache))
    entry = DatasetInfo(name="tiny", description="test", kind="download", url=archive.as_uri(),
                        archive_sha256="0" * 64, content_sha256=None, subdir="MIDI", suffixes=(".mid",),
                        license="test", citation="test", merge_tracks=False)
    monkeypatch.setitem(datasets.REGISTRY, "tiny", entry)
    assert cli.main(["download", "tiny"]) == 2
    err = capsys.readouterr().err
    actual = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert "archive checksum mismatch" in err and actual in err and "0" * 64 in err, err
    assert not cache.exists() or [p for p in cache.rglob("*") if p.is_file()] == []  # nothing half-downloaded
    json.dumps(err)  # the message is plain text
