"""Lay the sources out as they install (``vrmed/components``, ``vrmed/systems``, ...) in a folder.

The repository keeps ``components/``, ``systems/``, ``content/`` and ``benchmarks/`` beside
``vrmed/`` and maps them into the package at install time (pyproject ``package-dir``). Static
tools (import-linter's graph builder, mypy) walk folders and cannot follow that mapping, so
they run on this staged copy instead. Usage: ``python .ci/stage_packages.py DEST``.
"""

from __future__ import annotations

import shutil
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def stage(dest: Path) -> Path:
    """Copy every mapped package's ``.py`` files into ``dest`` at its installed path; returns ``dest``."""
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    if dest.exists():
        shutil.rmtree(dest)
    for package, folder in sorted(mapping.items()):
        target = dest.joinpath(*package.split("."))
        for src in (ROOT / folder).rglob("*.py"):
            rel = src.relative_to(ROOT / folder)
            # a nested package that is itself mapped (vrmed -> vrmed/, vrmed.components -> components/)
            # is copied by its own entry; build folders of example packs are not sources
            if any(part in {"__pycache__", "build"} for part in rel.parts):
                continue
            out = target / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, out)
    return dest


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python .ci/stage_packages.py DEST")
    print(stage(Path(sys.argv[1])))
