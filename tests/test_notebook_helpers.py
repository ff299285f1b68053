"""Notebook output helpers: tables as tables, counts that agree in number, quick-mode notes, the FluidSynth hint."""

from __future__ import annotations

from musiclib import notebook, stats
from musiclib.audio import setup_hint


def test_count_of_agrees_in_number():
    assert stats.count_of(1, "ill-formed token") == "1 ill-formed token"
    assert stats.count_of(0, "ill-formed token") == "0 ill-formed tokens"
    assert stats.count_of(1379, "piece") == "1,379 pieces"
    assert stats.count_of(2, "child", "children") == "2 children"


def test_markdown_table_is_a_table():
    text = notebook.markdown_table({"tunes": 3070, "median notes per tune": 178.0, "most common key": "G major",
                                    "lowest pitch": None}, headers=("corpus", "value"))
    lines = text.splitlines()
    assert lines[0] == "| corpus | value |" and lines[1] == "|---|---:|"
    assert "| tunes | 3,070 |" in lines and "| median notes per tune | 178 |" in lines
    assert "| most common key | G major |" in lines and "| lowest pitch | — |" in lines


def test_quick_mode_note_only_in_quick_mode(capsys):
    notebook.quick_mode_note(False, "anything")
    assert capsys.readouterr().out == ""
    assert "not meaningful" in notebook.QUICK_MODE_NOTE


def test_fluidsynth_hint_names_the_command_for_each_system(monkeypatch):
    monkeypatch.setattr(setup_hint.os, "geteuid", lambda: 1000, raising=False)
    assert setup_hint.install_command("Linux", {"ID": "ubuntu", "ID_LIKE": "debian"}) == "sudo apt-get install fluidsynth"
    assert setup_hint.install_command("Linux", {"ID": "debian"}) == "sudo apt-get install fluidsynth"
    assert setup_hint.install_command("Linux", {"ID": "fedora"}) == "sudo dnf install fluidsynth"
    assert setup_hint.install_command("Linux", {"ID": "arch"}) == "sudo pacman -S fluidsynth"
    assert setup_hint.install_command("Darwin").startswith("brew install fluid-synth")
    monkeypatch.setattr(setup_hint.os, "geteuid", lambda: 0, raising=False)
    assert setup_hint.install_command("Linux", {"ID": "debian"}) == "apt-get install fluidsynth"


def test_fluidsynth_hint_says_what_the_learner_hears_without_it(monkeypatch):
    monkeypatch.setattr(setup_hint, "fluidsynth_library", lambda: None)
    text = setup_hint.message()
    assert "install" in text and "(additive)" in text and "make setup" in text
    monkeypatch.setattr(setup_hint, "fluidsynth_library", lambda: "libfluidsynth.so.3")
    assert setup_hint.message() is None
