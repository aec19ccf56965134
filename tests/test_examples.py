"""Examples are tests: every script in examples/ runs headless for a few frames."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_headless(script):
    proc = subprocess.run(
        [sys.executable, str(script), "--headless", "--frames", "90"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


def test_hello_app_counts_physical_crossings():
    """The pendulum crosses the bottom twice per period T = 2 pi sqrt(L/g) (small angle)."""
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES[0].parent / "hello_app.py"), "--headless", "--frames", "450"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    crossings = int(proc.stdout.split(": ")[1].split()[0])
    assert crossings == 7  # 5 s / (1.418 s / 2) = 7.05
