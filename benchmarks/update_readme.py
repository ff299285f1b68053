"""Copy the committed result tables into README.md, so that every number there comes from a command.

The README marks each generated block with the file it comes from::

    <!-- include results/evaluation_nottingham.md -->
    ...replaced by the file's contents...
    <!-- end include -->

Usage::

    .venv/bin/python benchmarks/update_readme.py          # rewrite README.md
    .venv/bin/python benchmarks/update_readme.py --check  # exit 1 if README.md is out of date

``tests/test_readme.py`` runs the check, so a README whose numbers differ from the
committed results fails the test suite. The result files themselves are written by
``benchmarks/run.py`` (speed), ``benchmarks/lstm_nottingham.py``,
``benchmarks/gan_nottingham.py``, ``benchmarks/evaluate_nottingham.py`` and
``benchmarks/lstm_budget.py``.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
_BLOCK = re.compile(r"(<!-- include (?P<path>[^ ]+) -->\n)(?P<body>.*?)(<!-- end include -->)", re.DOTALL)


def render(text: str, *, root: Path = ROOT) -> str:
    """``text`` with every include block replaced by its file's current contents."""

    def replace(match: re.Match) -> str:
        path = root / match["path"]
        if not path.is_file():
            raise FileNotFoundError(f"README includes {match['path']}, which does not exist: run its benchmark")
        body = path.read_text(encoding="utf-8")
        return f"{match.group(1)}{body if body.endswith(chr(10)) else body + chr(10)}{match.group(4)}"

    return _BLOCK.sub(replace, text)


def includes(text: str) -> list[str]:
    """The files ``text`` includes, in order."""
    return [match["path"] for match in _BLOCK.finditer(text)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report whether README.md is up to date")
    args = parser.parse_args(argv)
    text = README.read_text(encoding="utf-8")
    updated = render(text)
    if args.check:
        if updated != text:
            print("README.md is out of date: run .venv/bin/python benchmarks/update_readme.py", file=sys.stderr)
            return 1
        print(f"README.md is up to date ({len(includes(text))} included result files)")
        return 0
    if updated != text:
        sys.path.insert(0, str(ROOT))
        from musiclib._files import atomic_write

        atomic_write(README, updated)
        print(f"README.md updated from {', '.join(includes(text))}")
    else:
        print("README.md already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
