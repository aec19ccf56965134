"""Follows docs/guide-first-pack.md step by step: writes its files, runs its commands."""

from __future__ import annotations

import re
import subprocess

import pytest
from click.testing import CliRunner
from simulator_builds import GUIDE, steps

from vrmed.cli import cli


def test_guide_has_the_expected_steps():
    kinds = [k for k, _ in steps()]
    assert kinds.count("file") == 5 and kinds.count("cmd") == 8


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


def test_guide_error_example_is_the_real_message(tmp_path):
    """The validation error quoted in the guide is what vrmed prints."""
    text = GUIDE.read_text(encoding="utf-8")
    quoted = re.search(r"`(hand_hygiene/prefabs/hand_hygiene\.yaml:\d+: [^`]+)`", text).group(1)
    for kind, payload in steps():
        if kind == "file":
            rel, _, content = payload.partition("\n")
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / rel).write_text(content, encoding="utf-8")
    prefab = tmp_path / "hand_hygiene/prefabs/hand_hygiene.yaml"
    prefab.write_text(prefab.read_text().replace("reach: 0.15", "reach: near"))
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "hand_hygiene")])
    assert result.exit_code == 1
    assert quoted in result.output
