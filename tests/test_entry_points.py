"""Third-party packs found through the ``vrmed.packs`` entry-point group after a real
``pip install`` of a tiny pack distribution."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import pip_install_target, write_tree


@pytest.fixture(scope="module")
def installed_pack(tmp_path_factory):
    """Build and pip-install (into a private --target folder) a distribution declaring a pack."""
    src = tmp_path_factory.mktemp("src")
    write_tree(
        src,
        {
            "pyproject.toml": """
            [build-system]
            requires = ["setuptools>=68"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "vrmed-tinypack"
            version = "0.3.0"

            [project.entry-points."vrmed.packs"]
            tinypack = "tinypack"

            [tool.setuptools]
            packages = ["tinypack"]

            [tool.setuptools.package-data]
            tinypack = ["*.yaml", "prefabs/*.yaml", "scenarios/*.yaml"]
        """,
            "tinypack/__init__.py": '"""A tiny vrmed pack installed as a distribution."""\n',
            "tinypack/pack.yaml": "name: tinypack\nversion: 0.3.0\ndefault_scenario: hello\n",
            "tinypack/prefabs/things.yaml": "marker:\n  components:\n    Transform: {position: [0, 2, 0]}\n",
            "tinypack/scenarios/hello.yaml": "duration: 0.5\nentities:\n  - {name: m, prefab: marker}\n",
        },
    )
    return pip_install_target(src, tmp_path_factory.mktemp("site"))


def _vrmed(target, *args):
    env = dict(os.environ, PYTHONPATH=str(target) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "vrmed", *args], capture_output=True, text=True, env=env)


def test_installed_pack_is_listed_and_runs(installed_pack):
    proc = _vrmed(installed_pack, "packs", "--json")
    assert proc.returncode == 0, proc.stderr
    packs = {p["name"]: p for p in json.loads(proc.stdout)["packs"]}
    assert packs["tinypack"]["version"] == "0.3.0"
    assert packs["tinypack"]["scenarios"] == ["hello"]
    assert packs["tinypack"]["source"].startswith("entry point tinypack (vrmed-tinypack)")
    proc = _vrmed(installed_pack, "run", "tinypack", "--headless", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["frames"] == 45


def test_not_installed_pack_is_unknown():
    proc = subprocess.run(
        [sys.executable, "-m", "vrmed", "run", "tinypack", "--headless"], capture_output=True, text=True
    )
    assert proc.returncode == 1 and "no pack named 'tinypack'" in proc.stderr


def test_broken_entry_point_warns_but_others_still_work(tmp_path):
    dist = tmp_path / "vrmed_broken-1.0.dist-info"
    write_tree(
        dist,
        {
            "METADATA": "Metadata-Version: 2.1\nName: vrmed-broken\nVersion: 1.0\n",
            "entry_points.txt": "[vrmed.packs]\nbroken = no_such_module_xyz\n",
        },
    )
    proc = _vrmed(tmp_path, "packs")
    assert proc.returncode == 0
    assert "sandbox 0.1.0" in proc.stdout
    assert (
        "warning: entry point broken (vrmed-broken): cannot load 'no_such_module_xyz': "
        "package 'no_such_module_xyz' is not installed" in proc.stderr
    )
