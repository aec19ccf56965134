"""Reuse this checkout's numba kernel caches in a copy of vrmed installed elsewhere (tests of a
normal, non-editable install: tests/test_normal_install.py).

vrmed's hot loops are ``@njit(cache=True)``: numba keeps the compiled code in the
``__pycache__`` folder next to each source file, keyed by a stamp of the source (numba 0.68,
``numba.core.caching._SourceFileBackedLocatorMixin.get_source_stamp``: a SHA-256 of its
content; older numba used its mtime and size, and then a seeded cache is simply not used),
the signature and the CPU. A fresh install in a temporary folder has empty ``__pycache__``
folders, so every kernel it runs compiles again (~12 s for the tissue benchmark, idle) although
the code is byte-for-byte the checkout's, which the suite's other tests have already compiled
or loaded. Copying the cache files beside the identical installed sources lets numba load
them; a source that differs is never seeded, and an index whose stamp does not match its
source (a checkout cache older than an edit) is rejected by numba, which compiles as before.
"""

from __future__ import annotations

import glob
import shutil
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def package_dirs(repo: Path = REPO) -> dict[str, Path]:
    """``{installed package path (a/b): source folder}`` from pyproject.toml's
    ``[tool.setuptools] package-dir`` (the editable layout maps top-level folders into vrmed)."""
    config = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))
    mapping = config["tool"]["setuptools"]["package-dir"]
    return {pkg.replace(".", "/"): repo / src for pkg, src in mapping.items()}


def seed_numba_cache(site: Path, repo: Path = REPO) -> int:
    """Copy the checkout's numba cache files (``*.nbi`` index, ``*.nbc`` code) into ``site``
    beside each installed source identical to the checkout's; returns how many were copied."""
    return sum(seed_tree(src_root, site / pkg) for pkg, src_root in package_dirs(repo).items())


def seed_tree(src_root: Path, installed_root: Path) -> int:
    """Copy the numba cache files under the source folder ``src_root`` beside each source of
    ``installed_root`` (the same folder installed elsewhere) that is byte-identical to the
    checkout's; returns how many were copied."""
    copied = 0
    for index in src_root.rglob("__pycache__/*.nbi"):
        stem = index.name.split(".", 1)[0]  # "kernels.solve_range-613.py311.nbi" -> kernels
        source = index.parent.parent / f"{stem}.py"
        installed = installed_root / source.parent.relative_to(src_root) / source.name
        if not (source.is_file() and installed.is_file()):
            continue
        if source.read_bytes() != installed.read_bytes():
            continue
        cache = installed.parent / "__pycache__"
        cache.mkdir(exist_ok=True)
        base = index.name[: -len(".nbi")]
        for data in index.parent.glob(glob.escape(base) + "*"):
            if data.suffix in (".nbi", ".nbc"):
                shutil.copy2(data, cache / data.name)
                copied += 1
    return copied
