"""The example third-party distribution `vrmed-clip-lab` extends vrmed through its seams (a tool
type, a tissue constraint type, a render pass, an engine plugin by entry point) from a
normal, non-editable install, and passes its own tests there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import pip_install_target
from numba_seed import seed_tree

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "external_tools_pack"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    target = pip_install_target(EXAMPLE, tmp_path_factory.mktemp("clip_site"))
    assert not (target / "vrmed_clip_lab" / "__init__.py").is_symlink()
    # the installed kernels load the checkout copy's numba cache where one is current (~4.5 s
    # of compiling otherwise; a fresh clone has none yet and compiles as before)
    seed_tree(EXAMPLE / "vrmed_clip_lab", target / "vrmed_clip_lab")
    return target


def _run(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(site))
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


def test_the_pack_and_its_plugin_are_found_through_entry_points(site: Path, tmp_path: Path) -> None:
    proc = _run(site, tmp_path, "-m", "vrmed", "packs", "--json")
    assert proc.returncode == 0, proc.stderr
    packs = {p["name"]: p for p in json.loads(proc.stdout)["packs"]}
    assert packs["clip_lab"]["version"] == "0.1.0"
    code = "from vrmed.plugins import load_plugin_class as l; print(l('clip_lab').__module__)"
    proc = _run(site, tmp_path, "-c", code)
    assert proc.stdout.strip() == "vrmed_clip_lab.plugin", proc.stderr


def test_the_scripted_learner_places_two_clips(site: Path, tmp_path: Path) -> None:
    proc = _run(site, tmp_path, "-m", "vrmed", "run", "clip_lab", "--headless", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["events"]["ClipApplied"] == 2
    assert out["summary"]["clips"] == 2
    left, right = out["summary"]["clip_x_mm"]
    assert -9 < left < -3 and 3 < right < 9  # where the script closed the applier (x = -6 and +6 mm)


def test_the_distribution_passes_its_own_tests_from_the_install(site: Path, tmp_path: Path) -> None:
    proc = _run(
        site,
        tmp_path,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(tmp_path),
        str(EXAMPLE / "tests"),
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout
