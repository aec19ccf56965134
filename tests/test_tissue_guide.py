"""docs/tissue.md (the pack author's guide to soft tissue) stays true: its Python example runs
and does what the page says (the ligament patch carries the body's weight), and its YAML
example is a SoftBody a pack can load."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import write_tree

from vrmed.components.tissue.softbody import SoftBody
from vrmed.packs import load_pack
from vrmed.session import build_session

PAGE = Path(__file__).resolve().parents[1] / "docs" / "tissue.md"
BLOCKS = re.compile(r"```(\w+)\n(.*?)```", re.S)


def _blocks(lang: str) -> list[str]:
    return [body for kind, body in BLOCKS.findall(PAGE.read_text(encoding="utf-8")) if kind == lang]


def test_the_python_example_runs_and_its_patch_carries_the_weight(capsys):
    (code,) = _blocks("python")
    scope: dict[str, object] = {}
    exec(compile(code, str(PAGE), "exec"), scope)  # the page's own code, as a reader runs it
    body, patch = scope["body"], scope["patch"]
    assert isinstance(body, SoftBody) and np.isfinite(body.x).all()
    weight = body.mass.sum() * 9.80665
    assert patch.total_force[1] == pytest.approx(weight, rel=0.05)  # settling after 1 s
    assert capsys.readouterr().out.strip()  # it prints the force and the stress


def test_the_yaml_example_loads_as_a_pack_prefab(tmp_path):
    (prefab,) = _blocks("yaml")
    organs = yaml.safe_load(prefab)
    assert "liver" in organs
    files = {
        "pack.yaml": "name: guide\nversion: 0.1.0\nplugins: [softbody]\ndefault_scenario: rest\n",
        "prefabs/organs.yaml": prefab,
        "scenarios/rest.yaml": "duration: 0.1\nentities:\n  - {name: organ, prefab: liver}\n",
    }
    session = build_session(load_pack(write_tree(tmp_path / "guide", files)), None)
    try:
        body = session.app.get(session.entities["organ"], SoftBody)
        assert len(body.constraints) == 1 and not body.pinned.any()
        session.run(frames=5)
        assert np.isfinite(body.x).all()
    finally:
        session.close()
