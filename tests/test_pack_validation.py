"""Every pack-validation error names file, line, key and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_tree

from vrmed.packs import PackError, load_pack
from vrmed.session import build_session

SYSTEMS = """
from dataclasses import dataclass
import vrmed

@vrmed.component
@dataclass
class Ball:
    radius: float
    bounces: int = 0
    label: str = "ball"

@vrmed.system("logic")
def roll(app):
    pass
"""

GOOD = {
    "pack.yaml": """
        name: demo
        version: 1.0.0
        engine: ">=0.1"
        systems: [roll]
        default_scenario: one
    """,
    "systems.py": SYSTEMS,
    "prefabs/things.yaml": """
        base:
          components:
            Transform: {position: [0, 1, 0]}
        ball:
          extends: base
          components:
            Ball: {radius: 0.1}
    """,
    "scenarios/one.yaml": """
        duration: 1.0
        entities:
          - name: b1
            prefab: ball
    """,
}


def make_pack(tmp_path: Path, **changes: str | None) -> Path:
    files = dict(GOOD)
    for rel, text in changes.items():
        rel = rel.replace("__", "/").replace("_yaml", ".yaml").replace("_py", ".py")
        if text is None:
            files.pop(rel, None)
        else:
            files[rel] = text
    return write_tree(tmp_path / "demo", files)


def problems(root: Path) -> list[str]:
    with pytest.raises(PackError) as info:
        load_pack(root)
    return [str(i) for i in info.value.issues]


def test_good_pack_loads(tmp_path):
    pack = load_pack(make_pack(tmp_path))
    assert pack.name == "demo" and list(pack.scenarios) == ["one"]
    assert set(pack.prefabs["ball"].components) == {"Transform", "Ball"}


def test_unknown_component(tmp_path):
    root = make_pack(
        tmp_path,
        prefabs__things_yaml="""
        ball:
          components:
            Bal: {radius: 0.1}
    """,
        scenarios__one_yaml="entities: []\n",
    )
    from vrmed.components import CORE_COMPONENTS

    known = ", ".join(sorted(["Ball"] + [c.__name__ for c in CORE_COMPONENTS]))
    assert problems(root) == [
        f"demo/prefabs/things.yaml:3: ball.components.Bal: unknown component 'Bal'; known components: {known}"
    ]


def test_wrong_type(tmp_path):
    root = make_pack(
        tmp_path,
        prefabs__things_yaml="""
        ball:
          components:
            Ball:
              radius: big
              bounces: 2.5
            Transform: {position: [0, 1]}
    """,
        scenarios__one_yaml="entities: []\n",
    )
    assert problems(root) == [
        "demo/prefabs/things.yaml:4: ball.components.Ball.radius: expected a number, got string 'big'",
        "demo/prefabs/things.yaml:6: ball.components.Transform.position: expected a list of 3 numbers, got list [0, 1]",
    ]


def test_unknown_field_and_missing_required_field(tmp_path):
    root = make_pack(
        tmp_path,
        prefabs__things_yaml="""
        ball:
          components:
            Ball: {radius: 0.1, colour: red}
    """,
        scenarios__one_yaml="""
        entities:
          - components:
              Ball: {}
    """,
    )
    assert problems(root) == [
        "demo/prefabs/things.yaml:3: ball.components.Ball.colour: unknown field for Ball "
        "(known fields: bounces, label, radius)",
        "demo/scenarios/one.yaml:3: entities[0].components.Ball: missing required field 'radius' (a number)",
    ]


def test_missing_mesh_file(tmp_path):
    root = make_pack(
        tmp_path,
        prefabs__things_yaml="""
        organ:
          components:
            VisualMesh: {mesh: assets/liver.obj}
    """,
        scenarios__one_yaml="entities: []\n",
    )
    (msg,) = problems(root)
    assert msg.startswith(
        "demo/prefabs/things.yaml:3: organ.components.VisualMesh.mesh: file not found: 'assets/liver.obj' (looked for "
    )
    assert msg.endswith("put the file in the pack or fix the path, which is relative to the pack folder")


def test_duplicate_prefab_ids_across_files_and_within_a_file(tmp_path):
    root = make_pack(
        tmp_path,
        prefabs__more_yaml="""
        ball:
          components: {}
        cube:
          components: {}
        cube:
          components: {}
    """,
    )
    assert problems(root) == [
        "demo/prefabs/more.yaml:5: cube: duplicate key (first defined on line 3)",
        "demo/prefabs/things.yaml:4: ball: duplicate prefab id 'ball' (first defined at demo/prefabs/more.yaml:1)",
    ]


def test_duplicate_entity_names(tmp_path):
    root = make_pack(
        tmp_path,
        scenarios__one_yaml="""
        entities:
          - {name: b, prefab: ball}
          - {name: b, prefab: ball}
    """,
    )
    assert problems(root) == [
        "demo/scenarios/one.yaml:3: entities[1].name: duplicate entity name 'b' (first used by entities[0])"
    ]


def test_cyclic_extends(tmp_path):
    root = make_pack(
        tmp_path,
        prefabs__things_yaml="""
        a:
          extends: c
        b:
          extends: a
        c:
          extends: b
        self_ref:
          extends: self_ref
    """,
        scenarios__one_yaml="entities: []\n",
    )
    assert problems(root) == [
        "demo/prefabs/things.yaml:1: a.extends: cyclic extends: a -> c -> b -> a",
        "demo/prefabs/things.yaml:7: self_ref.extends: cyclic extends: self_ref -> self_ref",
    ]


def test_unknown_parent_and_unknown_prefab_in_scenario(tmp_path):
    root = make_pack(
        tmp_path,
        prefabs__things_yaml="""
        ball:
          extends: sphere
    """,
        scenarios__one_yaml="""
        entities:
          - prefab: cube
    """,
    )
    assert problems(root) == [
        "demo/prefabs/things.yaml:1: ball.extends: extends unknown prefab 'sphere'",
        "demo/scenarios/one.yaml:2: entities[0].prefab: unknown prefab 'cube'; prefabs in this pack: none",
    ]


def test_schema_errors_missing_key_unknown_key_and_wrong_type(tmp_path):
    root = make_pack(
        tmp_path,
        pack_yaml="""
        name: demo
        versoin: 1.0.0
        systems: roll
    """,
    )
    assert problems(root) == [
        "demo/pack.yaml:1: missing required key 'version'",
        "demo/pack.yaml:1: unknown key 'versoin' was unexpected; allowed keys: default_scenario, description, "
        "engine, include, name, plugins, systems, title, version",
        "demo/pack.yaml:3: systems: expected a list, got string 'roll'",
    ]


def test_yaml_syntax_error_names_the_line(tmp_path):
    root = make_pack(
        tmp_path,
        scenarios__one_yaml="""
        entities:
          - prefab: ball
            name: [unclosed
    """,
    )
    (msg,) = problems(root)
    assert msg.startswith("demo/scenarios/one.yaml:4: invalid YAML: ")


def test_unknown_system_and_engine_range(tmp_path):
    root = make_pack(
        tmp_path,
        pack_yaml="""
        name: demo
        version: 1.0.0
        engine: ">=99"
        systems: [roll, fly]
        plugins: [telepathy]
    """,
    )
    from vrmed import __version__
    from vrmed.plugins import available_plugins

    assert problems(root) == [
        f"demo/pack.yaml:3: engine: this pack needs vrmed >=99, but this is vrmed {__version__}; install a "
        f"matching vrmed or a version of the pack made for {__version__}",
        "demo/pack.yaml:4: systems[1]: unknown system 'fly': systems.py defines no function marked "
        "@vrmed.system with that name (defined: roll)",
        f"demo/pack.yaml:5: plugins[0]: unknown engine plugin 'telepathy'; available: "
        f"{', '.join(sorted(available_plugins()))}",
    ]


def test_broken_systems_py_names_its_line(tmp_path):
    root = make_pack(tmp_path, systems_py="import vrmed\n\nx = 1 / 0\n")
    msgs = problems(root)
    assert msgs[0] == (
        "demo/systems.py:3: error while importing the pack's systems: ZeroDivisionError: division by zero"
    )


def test_all_problems_reported_together(tmp_path):
    root = make_pack(
        tmp_path,
        prefabs__things_yaml="""
        ball:
          components:
            Ball: {radius: fast}
            Wheel: {}
    """,
        scenarios__one_yaml="""
        entities:
          - prefab: nope
    """,
    )
    assert len(problems(root)) == 3


def test_missing_pack_yaml(tmp_path):
    (tmp_path / "empty").mkdir()
    assert problems(tmp_path / "empty") == [
        "empty/pack.yaml: no pack.yaml: a pack folder must contain pack.yaml (run `vrmed new-pack NAME` for a template)"
    ]


def test_invalid_pack_never_half_loads(tmp_path, monkeypatch):
    """A component that fails while being built (after validation) spawns nothing at all."""
    root = make_pack(
        tmp_path,
        systems_py=SYSTEMS.replace(
            '    label: str = "ball"\n',
            '    label: str = "ball"\n    def __post_init__(self):\n'
            "        if self.radius > 1: raise ValueError('radius above 1 m')\n",
        ),
        scenarios__one_yaml="""
        entities:
          - {name: ok, prefab: ball}
          - {name: huge, prefab: ball, components: {Ball: {radius: 2.0}}}
    """,
    )
    assert problems(root) == ["demo/scenarios/one.yaml:3: entities[1].components.Ball: invalid Ball: radius above 1 m"]


def test_good_pack_builds_a_session(tmp_path):
    session = build_session(load_pack(make_pack(tmp_path)), None)
    try:
        from vrmed.components import Name, Transform

        (entity,) = session.entities.values()
        assert session.app.get(entity, Name).value == "b1"
        assert list(session.app.get(entity, Transform).position) == [0, 1, 0]
        assert "demo.roll" in session.app.system_order()["logic"]
    finally:
        session.close()


def test_plugin_scenario_hooks_without_the_prefabs_keyword_keep_working():
    """The loader passes ``prefabs=`` only to a ``check_scenario`` hook that takes it, so a
    third-party plugin written for ``check_scenario(data)`` is not broken by a TypeError."""
    from vrmed.packs.loader import _takes_prefabs  # deferred: a private helper, tested directly

    def old(data):
        return []

    def new(data, prefabs=None):
        return []

    def open_ended(data, **options):
        return []

    assert not _takes_prefabs(old) and _takes_prefabs(new) and _takes_prefabs(open_ended)
    assert not _takes_prefabs(len)  # a builtin: no signature to read, called without prefabs
