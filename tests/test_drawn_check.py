"""Everything simulated is drawn: a pack entity that takes part in the task with nothing that
draws it is a validation error naming the file, line and fix; `visual: none` says it is
deliberately invisible; the built-in packs pass."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_tree

from vrmed.packs import PackError, load_pack

REPO = Path(__file__).resolve().parents[1]

PACK = "name: ward\nversion: 0.1.0\nengine: '>=0.1'\nplugins: [physiology]\ndefault_scenario: one\n"
PREFABS = """
casualty:
  components:
    Transform: {}
    Casualty: {}
drawn_casualty:
  extends: casualty
  components:
    VisualMesh: {mesh: assets/tri.obj}
hidden_casualty:
  extends: casualty
  visual: none
"""


def pack(tmp_path: Path, entity: str) -> Path:
    return write_tree(
        tmp_path / "ward",
        {
            "pack.yaml": PACK,
            "assets/tri.obj": "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n",
            "prefabs/people.yaml": PREFABS,
            "scenarios/one.yaml": f"duration: 0.1\nentities:\n  - {entity}\n",
        },
    )


def test_an_invisible_task_entity_is_an_error_naming_file_line_and_fix(tmp_path: Path) -> None:
    with pytest.raises(PackError) as err:
        load_pack(pack(tmp_path, "{name: victim, prefab: casualty}"))
    (issue,) = err.value.issues
    assert (issue.file, issue.line, issue.key) == ("ward/scenarios/one.yaml", 3, "entities[0]")
    assert "'victim' takes part in the task (Casualty) but nothing draws it" in issue.message
    assert "VisualMesh" in issue.message and "visual: none" in issue.message


@pytest.mark.parametrize(
    "entity",
    [
        "{name: victim, prefab: drawn_casualty}",  # a VisualMesh draws it
        "{name: victim, prefab: hidden_casualty}",  # the prefab says it is invisible on purpose
        "{name: victim, prefab: casualty, visual: none}",  # the scenario says so
    ],
)
def test_a_visual_or_visual_none_satisfies_the_check(tmp_path: Path, entity: str) -> None:
    assert "one" in load_pack(pack(tmp_path, entity)).scenarios


def test_visual_takes_only_none(tmp_path: Path) -> None:
    with pytest.raises(PackError) as err:
        load_pack(pack(tmp_path, "{name: victim, prefab: drawn_casualty, visual: hidden}"))
    assert any("visual" in i.key for i in err.value.issues), err.value.issues


@pytest.mark.parametrize("name", ["emergency", "laparoscopy", "nursing", "sandbox"])
def test_builtin_packs_draw_everything_they_simulate(name: str) -> None:
    assert load_pack(REPO / "content" / name).scenarios
