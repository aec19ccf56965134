"""MkDocs hook: lay the sources out as they install before mkdocstrings reads them.

vrmed maps ``components/``, ``systems/``, ``content/`` and ``benchmarks/`` into the
package at install time; mkdocstrings (griffe) reads sources statically and cannot follow
that mapping, so the build reads the staged copy that mypy and import-linter use too
(``.ci/stage_packages.py``), written to ``build/api-src``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def on_startup(**kwargs: Any) -> None:
    """Stage the sources once per build (``mkdocs build`` / ``serve``)."""
    spec = importlib.util.spec_from_file_location("stage_packages", ROOT / ".ci" / "stage_packages.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.stage(ROOT / "build" / "api-src")
