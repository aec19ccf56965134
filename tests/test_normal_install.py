"""A normal (non-editable) install is self-contained: the feature packages, the built-in
plugins' entry points, the packs and the benchmark meshes all travel with it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import pip_install_target
from numba_seed import seed_numba_cache

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """vrmed installed from a built wheel into a folder of its own (dependencies from this venv),
    with the checkout's numba caches beside its identical sources (tests/numba_seed.py: the
    kernels are the checkout's, already compiled this session; not compiled again)."""
    site = pip_install_target(REPO, tmp_path_factory.mktemp("site"))
    seed_numba_cache(site)
    return site


def run_vrmed(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m vrmed ARGS`` with the installed copy first on the path, outside the repository."""
    env = dict(os.environ, PYTHONPATH=str(site))
    return subprocess.run(
        [sys.executable, "-m", "vrmed", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600
    )


def test_the_installed_copy_is_the_one_imported(site: Path, tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(site))
    code = (
        "import vrmed, vrmed.systems.tissue.solver as s, vrmed.plugins as p; "
        "print(vrmed.__file__); print(s.__file__); print(sorted(p.available_plugins()))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    vrmed_file, solver_file, plugins = proc.stdout.splitlines()
    assert vrmed_file.startswith(str(site)) and solver_file.startswith(str(site))
    assert {"softbody", "collision", "instruments", "planar", "physiology"} <= set(
        json.loads(plugins.replace("'", '"'))
    )


def test_bench_tissue_runs_from_a_normal_install(site: Path, tmp_path: Path) -> None:
    proc = run_vrmed(site, tmp_path, "bench", "tissue", "--quick", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["results"][0]["rows"]
    assert rows and all(r["finite"] for r in rows)
    assert (site / "vrmed" / "benchmarks" / "meshes" / "raptorTetra_19409.vtu").is_file()
    assert (site / "vrmed" / "benchmarks" / "meshes" / "LICENSE-LGPL-2.1.md").is_file()


def test_a_builtin_pack_runs_from_a_normal_install(site: Path, tmp_path: Path) -> None:
    proc = run_vrmed(site, tmp_path, "run", "sandbox", "--headless", "--seconds", "0.5", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["frames"] > 0
