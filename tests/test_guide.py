"""Follows docs/guide-first-pack.md step by step: writes its files, runs its commands."""

from __future__ import annotations

import re

from click.testing import CliRunner
from simulator_builds import GUIDE, steps

from vrmed.cli import cli


def test_guide_has_the_expected_steps():
    kinds = [k for k, _ in steps()]
    assert kinds.count("file") == 5 and kinds.count("cmd") == 8


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
