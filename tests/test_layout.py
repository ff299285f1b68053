"""The package layout: one folder per stage and model family, a one-way flow, lazy namespaces."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import musiclib

PACKAGE = Path(musiclib.__file__).parent
ROOT = PACKAGE.parent

LAYERS = ("_files", "_lazy", "_processes", "_progress", "_tf", "_keras", "tune", "io", "datasets", "split",
          "encoding", "prepare", "stats", "audio", "plots", "lm", "gan", "frames", "evaluation", "figures", "experiments",
          "kernelspec", "pipeline", "cli", "notebook")
"""Bottom to top: a part may import only parts below it (at module level or inside a function)."""

PACKAGES = ("lm", "gan", "frames", "audio", "evaluation", "datasets")


def _part(module: str) -> str | None:
    bits = module.split(".")
    return bits[1] if len(bits) > 1 and bits[0] == "musiclib" else None


def _imports_by_part() -> dict[str, set[tuple[str, str]]]:
    """part -> {(imported part, 'file:line')} for every musiclib import in the package."""
    found: dict[str, set[tuple[str, str]]] = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        me = _part(".".join(rel.parts).removesuffix(".__init__"))
        if me is None:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("musiclib"):
                modules = [f"musiclib.{a.name}" for a in node.names] if node.module == "musiclib" else [node.module]
            elif isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            else:
                continue
            for module in modules:
                other = _part(module)
                if other and other != me:
                    found.setdefault(me, set()).add((other, f"{rel}.py:{node.lineno}"))
    return found


def test_every_part_is_placed_in_the_layers():
    parts = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.suffix == ".py" and p.stem != "__init__") or (p.is_dir() and (p / "__init__.py").exists())}
    assert parts == set(LAYERS)


def test_data_flows_one_way():
    rank = {name: i for i, name in enumerate(LAYERS)}
    upward = sorted(f"{where}: {me} imports {other}" for me, edges in _imports_by_part().items()
                    for other, where in edges if rank[other] >= rank[me])
    assert not upward, "imports against the flow:\n" + "\n".join(upward)


@pytest.mark.parametrize("package", PACKAGES)
def test_package_exports_resolve_to_their_submodules(package):
    namespace = importlib.import_module(f"musiclib.{package}")
    for name, submodule in namespace._EXPORTS.items():
        module = importlib.import_module(f"musiclib.{package}.{submodule}")
        assert getattr(namespace, name) is getattr(module, name), f"{package}.{name}"
        assert name in module.__all__
    for submodule in namespace._SUBMODULES:
        assert (PACKAGE / package / f"{submodule}.py").exists()
        # importing a submodule must not shadow an exported name of the package
        assert submodule not in namespace._EXPORTS
    with pytest.raises(AttributeError, match="has no attribute"):
        namespace.no_such_name  # noqa: B018


def test_importing_the_package_and_its_namespaces_loads_no_deep_learning_stack():
    code = ("import sys, musiclib as ml\n"
            "for name in ('lm', 'gan', 'audio', 'evaluation', 'datasets', 'encoding'): getattr(ml, name)\n"
            "heavy = sorted(m for m in ('tensorflow', 'keras', 'librosa', 'music21', 'muspy') if m in sys.modules)\n"
            "print(','.join(heavy))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert result.stdout.strip() == ""


def test_tensorflow_and_keras_are_imported_only_through_the_quiet_import():
    """Every import of TensorFlow or Keras goes through musiclib._tf (start-up lines filtered there)."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "_tf.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(name.split(".")[0] in ("tensorflow", "keras") for name in names):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders


REMOVED = ("musiclib.models", "musiclib.training", "musiclib.generate", "musiclib.bundle", "musiclib.baselines",
           "musiclib.distributed", "musiclib.gan_training", "musiclib.gan_metrics", "musiclib.analysis",
           "musiclib.evaluate")


def test_no_code_imports_a_removed_module_path():
    offenders = []
    for folder in ("musiclib", "tests", "benchmarks", "notebooks"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix not in (".py", ".ipynb") or path.name == "test_layout.py":
                continue
            text = path.read_text()
            for old in REMOVED:
                for pattern in (f"from {old} import", f"import {old}\n", f"from musiclib import {old.split('.')[1]}"):
                    if pattern in text:
                        offenders.append(f"{path.relative_to(ROOT)}: {pattern.strip()}")
    assert not offenders


def test_every_namespace_name_the_notebooks_readme_and_benchmarks_use_exists():
    import re

    used = set()
    for path in [*sorted((ROOT / "notebooks").glob("*.ipynb")), ROOT / "README.md", *sorted((ROOT / "benchmarks").glob("*.py"))]:
        used.update(re.findall(r"\bml\.([a-z_]+)\.([A-Za-z_]\w*)", path.read_text()))
    missing = []
    for package, name in sorted(used):
        namespace = getattr(musiclib, package, None)
        if namespace is None or not hasattr(namespace, name):
            missing.append(f"ml.{package}.{name}")
    assert not missing
