"""--no-pack-code: YAML-only packs run; packs carrying Python are refused without running it."""

from __future__ import annotations

import json

from click.testing import CliRunner
from conftest import write_tree

from vrmed.cli import cli

YAML_ONLY = {
    "pack.yaml": "name: plain\nversion: 1.0.0\ndefault_scenario: s\n",
    "prefabs/p.yaml": "marker:\n  components:\n    Transform: {position: [0, 1, 0]}\n",
    "scenarios/s.yaml": "duration: 0.2\nentities:\n  - {name: m, prefab: marker}\n",
}


def test_yaml_only_pack_runs_with_no_pack_code(tmp_path):
    root = write_tree(tmp_path / "plain", YAML_ONLY)
    result = CliRunner().invoke(cli, ["run", str(root), "--headless", "--no-pack-code", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["frames"] == 18


def test_pack_with_code_is_refused_and_its_code_never_runs(tmp_path):
    marker = tmp_path / "code_ran"
    files = dict(YAML_ONLY, **{"systems.py": f"open({str(marker)!r}, 'w').write('pwned')\n"})
    root = write_tree(tmp_path / "coded", files)
    runner = CliRunner()
    for args in (["run", str(root), "--headless", "--no-pack-code"], ["validate", str(root), "--no-pack-code"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 1
        assert "coded/systems.py: this pack carries Python code (systems.py) and pack code is disabled" in result.output
    assert not marker.exists()
    # Without the option the code runs (that is what trusting a pack means).
    assert runner.invoke(cli, ["validate", str(root)]).exit_code == 0
    assert marker.read_text() == "pwned"
