"""Packaging: components/, systems/, content/ install under vrmed.*, never top level."""

from __future__ import annotations

import subprocess
import sys


def test_subpackages_install_under_vrmed_only(tmp_path):
    code = (
        "import importlib.util, vrmed.components, vrmed.systems, vrmed.content, vrmed.benchmarks\n"
        "print([importlib.util.find_spec(n) is None for n in ('components', 'systems', 'content', 'benchmarks')])\n"
        "from vrmed.packs import all_packs\n"
        "print(sorted(r.name for r in all_packs()[0]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "[True, True, True, True]"
    assert "sandbox" in lines[1]
