"""The example third-party pack installs with pip, is listed by `vrmed packs`, runs, and
passes its own tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import pip_install_target

EXTERNAL = Path(__file__).resolve().parents[1] / "examples" / "external_pack"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return pip_install_target(EXTERNAL, tmp_path_factory.mktemp("site"))


def _env(site: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(site))


def test_external_pack_listed_and_runs(site, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "vrmed", "packs", "--json"], capture_output=True, text=True, env=_env(site), cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    packs = {p["name"]: p for p in json.loads(proc.stdout)["packs"]}
    assert packs["pulse_drill"]["version"] == "0.2.0"
    proc = subprocess.run(
        [sys.executable, "-m", "vrmed", "run", "pulse_drill", "--headless", "--json"],
        capture_output=True,
        text=True,
        env=_env(site),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["summary"] == {"pulse_checks": [1]}


def test_external_pack_own_tests_pass(site, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXTERNAL / "tests")],
        capture_output=True,
        text=True,
        env=_env(site),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout
