"""The README quotes the committed result files verbatim and names commands that exist."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _updater():
    spec = importlib.util.spec_from_file_location("update_readme", ROOT / "benchmarks" / "update_readme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_result_blocks_match_the_committed_results():
    updater = _updater()
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert updater.includes(text), "the README quotes no result file"
    assert updater.render(text) == text, "README.md is out of date: run .venv/bin/python benchmarks/update_readme.py"


def test_render_replaces_only_the_marked_blocks(tmp_path):
    updater = _updater()
    (tmp_path / "r.md").write_text("| a | b |\n")
    text = "intro\n<!-- include r.md -->\nold numbers\n<!-- end include -->\noutro\n"
    assert updater.render(text, root=tmp_path) == "intro\n<!-- include r.md -->\n| a | b |\n<!-- end include -->\noutro\n"
    with pytest.raises(FileNotFoundError, match="missing.md"):
        updater.render("<!-- include missing.md -->\n<!-- end include -->", root=tmp_path)


def test_commands_the_readme_names_exist():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for script in set(re.findall(r"benchmarks/[a-z_]+\.py", text)):
        assert (ROOT / script).is_file(), f"README names {script}, which does not exist"
    for notebook in set(re.findall(r"\b0\d_[a-z_]+(?=\b)", text)):
        assert (ROOT / "notebooks" / f"{notebook}.ipynb").is_file(), f"README names notebook {notebook}"
    from musiclib import cli

    commands = set(cli.build_parser()._subparsers._group_actions[0].choices)
    named = set(re.findall(r"(?m)^(?:\.venv/bin/)?musiclib ([a-z][a-z-]+)", text))  # command lines
    named |= set(re.findall(r"`(?:\.venv/bin/)?musiclib ([a-z][a-z-]+)", text))  # inline code
    assert named, "the README shows no musiclib command"
    for command in named:
        assert command in commands, f"README names `musiclib {command}`, which the CLI lacks"
