"""`vrmed package`: a standalone simulator built from a pack runs headless on its own."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from click.testing import CliRunner
from conftest import write_tree
from simulator_builds import YAML_PACK

from vrmed.cli import cli
from vrmed.errors import VrmedError
from vrmed.packaging import bundle_breakdown, shadow_warning, stage_pack
from vrmed.packs import load_pack


@pytest.mark.slow
def test_lean_yaml_only_simulator_runs_and_stays_small(packaged_simulators, tmp_path):
    """A YAML-only pack builds lean (no numba/llvmlite, target < 150 MB), ships only its
    declared files, carries the engine plugin it enables, and runs headless on its own.
    (Built by ``vrmed package ward tiny --name wardsim --version 2.1.0`` in a process of its
    own while test_guide's build runs: tests/simulator_builds.py.)"""
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


def test_only_declared_files_are_staged_and_secrets_are_refused(tmp_path):
    root = write_tree(tmp_path / "ward", YAML_PACK)
    (root / "assets" / "__pycache__").mkdir()
    (root / "assets" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    outside = write_tree(tmp_path / "elsewhere", {"records.yaml": "lrs_password: hunter2\n", "mesh.obj": "v 0 0 0\n"})
    (root / "assets" / "inside.obj").symlink_to(root / "assets" / "tri.obj")  # inside the pack: shipped as a file
    pack = load_pack(root)
    staged = stage_pack(pack, tmp_path / "stage")
    assert staged == [
        "assets/inside.obj",
        "assets/tri.obj",
        "pack.yaml",
        "prefabs/patient.yaml",
        "scenarios/hypoxia.yaml",
    ]
    assert not (tmp_path / "stage" / "assets" / "inside.obj").is_symlink()
    assert sorted(pack.file_hashes) == staged  # what is hashed into session logs is what ships
    # a glob that selects secrets, learner data or an outward symlink stops the build
    (root / "assets" / "lrs.yaml").symlink_to(outside / "records.yaml")
    (root / "assets" / "stolen.obj").symlink_to(outside / "mesh.obj")
    text = (root / "pack.yaml").read_text() + "include: ['.env', '*.csv', 'notes/*.md']\n"
    (root / "pack.yaml").write_text(text)
    with pytest.raises(VrmedError) as info:
        stage_pack(load_pack(root), tmp_path / "stage2")
    message = str(info.value)
    assert "pack 'ward' cannot be packaged: 4 of its files must not ship" in message
    assert ".env: looks like a secret or credentials file" in message
    assert "learners.csv: a table with learner-data columns" in message
    assert "assets/lrs.yaml: a symlink leading out of the pack" in message
    assert "assets/stolen.obj: a symlink leading out of the pack" in message
    assert "notes/draft.md" not in message and not (tmp_path / "stage2").exists()
    bad = (root / "pack.yaml").read_text().replace("include: [", "include: ['../elsewhere/*', ")
    (root / "pack.yaml").write_text(bad)
    with pytest.raises(VrmedError, match=r"include\[0\]: '\.\./elsewhere/\*': include globs are relative"):
        load_pack(root)


def test_shadow_warning_and_size_breakdown(tmp_path):
    assert shadow_warning(tmp_path) is None
    write_tree(tmp_path / "clone", {"vrmed/__init__.py": "", ".git/HEAD": "ref: x\n"})
    warning = shadow_warning(tmp_path / "clone")
    assert warning and "imports it instead of the installed vrmed" in warning
    bundle = write_tree(
        tmp_path / "b",
        {"sim": "x" * 10, "_internal/numpy/a.so": "x" * 300, "_internal/numpy.libs/b.so": "x" * 200,
         "_internal/packs/ward/pack.yaml": "x" * 5, "_internal/yaml/c.py": "x" * 50},
    )  # fmt: skip
    total, parts = bundle_breakdown(bundle)
    assert total == 565 and parts == [("numpy", 500), ("yaml", 50), ("sim", 10), ("packs/ward", 5)]


def test_package_rejects_invalid_input(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["package", "sandbox", "--name", "bad name", "-o", str(tmp_path)])
    assert result.exit_code == 1 and "not a valid simulator name" in result.output
    result = runner.invoke(
        cli, ["package", "sandbox", "--name", "x", "--scenario", "sandbox/nope", "-o", str(tmp_path)]
    )
    assert result.exit_code == 1 and "has no scenario 'nope'" in result.output
    result = runner.invoke(cli, ["package", "nosuchpack", "--name", "x", "-o", str(tmp_path)])
    assert result.exit_code == 1 and "no pack named 'nosuchpack'" in result.output
