"""`vrmed package`: a standalone simulator built from a pack runs headless on its own."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from click.testing import CliRunner

from vrmed.cli import cli


@pytest.mark.slow
def test_packaged_simulator_runs_its_default_scenario(tmp_path):
    runner = CliRunner()
    assert runner.invoke(cli, ["new-pack", "drill", "--dir", str(tmp_path)]).exit_code == 0
    result = runner.invoke(
        cli,
        [
            "package",
            str(tmp_path / "drill"),
            "sandbox",
            "--name",
            "drillsim",
            "--scenario",
            "drill/demo",
            "-o",
            str(tmp_path / "dist"),
            "--version",
            "2.1.0",
        ],
    )
    assert result.exit_code == 0, result.output
    exe = tmp_path / "dist" / "drillsim" / "drillsim"
    assert exe.is_file() and os.access(exe, os.X_OK)
    # A clean environment: no venv on PATH, no PYTHONPATH; the bundle must be self-contained.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True, env=env, timeout=120)
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("drillsim 2.1.0 (vrmed ")
    assert "packs: drill 0.1.0, sandbox 0.1.0; default scenario: drill/demo" in version.stdout
    run = subprocess.run(
        [str(exe), "--headless", "--frames", "180", "--json"], capture_output=True, text=True, env=env, timeout=300
    )
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert (data["pack"], data["scenario"], data["frames"]) == ("drill", "demo", 180)
    assert data["summary"] == {"angles_rad": [3.0]}  # the pack's own Python system ran in the bundle
    other = subprocess.run(
        [str(exe), "run", "sandbox", "--headless", "--frames", "10", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert other.returncode == 0 and json.loads(other.stdout)["pack"] == "sandbox"


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
