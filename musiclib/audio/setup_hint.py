"""Is the FluidSynth system library here? If not, say exactly how to get it on this system.

Standard library only, so ``make setup`` can run it with the system Python before the
virtual environment exists (``python3 musiclib/audio/setup_hint.py``): the learner reads
the install command before three gigabytes of packages go by, not after a notebook has
played test tones. Exit status 0 either way (the fallback synthesizer works).
"""

from __future__ import annotations

import ctypes.util
import os
import platform
import shutil
import sys
from pathlib import Path

__all__ = ["fluidsynth_library", "install_command", "message"]

WITHOUT = ("Without it every player in the notebooks says \"(additive)\": musiclib's own additive synthesizer "
           "plays the same notes with the same timing as test tones (four harmonics per note with an "
           "envelope, drums as noise bursts, every instrument the same timbre), so melodies and chords are "
           "audible but do not sound like instruments. "
           "The spectrogram notebook (05) then analyses those tones.")

_BREW_LIBS = ("/opt/homebrew/lib/libfluidsynth.dylib", "/usr/local/lib/libfluidsynth.dylib")


def fluidsynth_library() -> str | None:
    """The FluidSynth shared library the loader would find, or None (what pyfluidsynth looks for)."""
    for name in ("fluidsynth", "libfluidsynth-3", "libfluidsynth-2", "libfluidsynth"):
        found = ctypes.util.find_library(name)
        if found:
            return found
    if sys.platform == "darwin":
        return next((path for path in _BREW_LIBS if Path(path).exists()), None)
    return None


def _os_release() -> dict[str, str]:
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError:
            continue
        values = {}
        for line in text.splitlines():
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip('"')
        return values
    return {}


def install_command(system: str | None = None, release: dict[str, str] | None = None) -> str:
    """The command that installs FluidSynth here (``system``/``release`` for tests)."""
    system = system or platform.system()
    if system == "Darwin":
        return "brew install fluid-synth   (Homebrew: https://brew.sh)"
    if system == "Windows":
        return ("conda install -c conda-forge fluidsynth, or the release zip from "
                "https://github.com/FluidSynth/fluidsynth/releases with its bin/ folder on PATH")
    release = _os_release() if release is None else release
    family = {release.get("ID", ""), *release.get("ID_LIKE", "").split()}
    sudo = "" if hasattr(os, "geteuid") and os.geteuid() == 0 else "sudo "
    if family & {"debian", "ubuntu"}:
        return f"{sudo}apt-get install fluidsynth"
    if family & {"fedora", "rhel", "centos"}:
        return f"{sudo}dnf install fluidsynth"
    if family & {"arch", "manjaro"}:
        return f"{sudo}pacman -S fluidsynth"
    if family & {"opensuse", "suse", "opensuse-leap", "opensuse-tumbleweed", "sles"}:
        return f"{sudo}zypper install fluidsynth"
    if "alpine" in family:
        return f"{sudo}apk add fluidsynth"
    if shutil.which("conda"):
        return "conda install -c conda-forge fluidsynth"
    return "your package manager's fluidsynth package (it provides libfluidsynth)"


def message() -> str | None:
    """What ``make setup`` prints when FluidSynth is missing (None when it is present)."""
    if fluidsynth_library():
        return None
    return ("FluidSynth (the system library libfluidsynth) is not installed: the notebooks' audio will not use "
            "a real SoundFont synthesizer.\n"
            f"    To get real instruments, run:  {install_command()}\n"
            "    then `make setup` again (nothing else changes; musiclib finds it at the next start).\n"
            f"    {WITHOUT}")


def main() -> int:
    text = message()
    if text is None:
        print("==> FluidSynth found: audio renders with a General MIDI SoundFont (pretty_midi's TimGM6mb.sf2)")
    else:
        print("==> " + text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
