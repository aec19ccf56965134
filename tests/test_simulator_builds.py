"""The two standalone simulators the suite builds with `vrmed package` (the session fixture
``packaged_simulators``, tests/simulator_builds.py): the guide's own pack, built by following
docs/guide-first-pack.md step by step, and the lean YAML-only "wardsim". Both tests are in one
file so that a parallel run (pytest-xdist, one file per worker) builds them once."""

from __future__ import annotations

import json
import re
import subprocess

import pytest


@pytest.mark.slow
def test_following_the_guide_works(packaged_simulators):
    """Every step, in order, in a folder of its own (tests/simulator_builds.py: follow_guide;
    its package step runs while test_packaging's build does)."""
    guide, _ = packaged_simulators
    assert not guide.failure, guide.failure
    outputs = guide.outputs
    run_output = next(o for o in outputs if "Hand hygiene / Handrub" in o)
    assert "rub_seconds: 22.0" in run_output and "passed: True" in run_output  # what the guide promises
    assert any(o.startswith("replay OK") for o in outputs)
    # the scenario scores itself from its rubric: the pack has no score(log)
    assert "rubric: score 100% (pass mark 100%, every critical rule met): PASSED" in run_output
    assert any("score 100/100  PASSED" in o and "rubbed_20_s" in o for o in outputs)
    assert any("2 passed" in o for o in outputs)
    exe = guide.folder / "dist" / "hygiene-trainer" / "hygiene-trainer"
    # no AGPL TetGen and no test libraries in a shipped simulator (vrmed.packaging.ALWAYS_EXCLUDES)
    assert not [p for p in exe.parent.rglob("*") if p.name.startswith(("tetgen", "hypothesis", "_pytest"))]
    proc = subprocess.run(
        [str(exe), "--headless", "--json"], capture_output=True, text=True, timeout=300, cwd=guide.folder
    )
    assert proc.returncode == 0, proc.stderr
    assert '"passed": true' in proc.stdout


@pytest.mark.slow
def test_lean_yaml_only_simulator_runs_and_stays_small(packaged_simulators, tmp_path):
    """A YAML-only pack builds lean (no numba/llvmlite, target < 150 MB), ships only its
    declared files, carries the engine plugin it enables, and runs headless on its own.
    (Built by ``vrmed package ward tiny --name wardsim --version 2.1.0`` in a process of its
    own while the guide's build runs: tests/simulator_builds.py.)"""
    _, build = packaged_simulators
    assert build.returncode == 0, build.output
    sizes = re.search(r"bundle: (\d+) MB, lean \(no numba/llvmlite\)", build.output)
    assert sizes and int(sizes.group(1)) < 150, build.output
    root = build.folder / "dist" / "wardsim"
    shipped = sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*") if "packs/ward" in p.as_posix() and p.is_file()
    )
    assert [s.split("packs/ward/", 1)[1] for s in shipped] == [
        "assets/tri.obj", "pack.yaml", "prefabs/patient.yaml", "scenarios/hypoxia.yaml"
    ]  # fmt: skip
    assert not list(root.rglob("llvmlite*")) and not list(root.rglob("numba"))
    exe = root / "wardsim"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no venv, no PYTHONPATH
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True, env=env, timeout=120)
    assert version.returncode == 0, version.stderr
    assert "wardsim 2.1.0 (vrmed " in version.stdout and "packs: ward 0.3.0, tiny 0.1.0" in version.stdout
    run = subprocess.run([str(exe), "--headless", "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert (data["pack"], data["scenario"]) == ("ward", "hypoxia")
    assert data["rubric"]["passed"] and data["events"]["OxygenApplied"] == 1  # the physiology plugin shipped
    other = subprocess.run(
        [str(exe), "run", "tiny", "--headless", "--json"], capture_output=True, text=True, env=env, timeout=300
    )
    assert other.returncode == 0 and json.loads(other.stdout)["pack"] == "tiny"
