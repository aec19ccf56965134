"""The instrument tool-type registry: a tool type with a behaviour of its own in a plain App,
duplicate and unknown names, tool types declared by an installed plugin for YAML packs, and
the built-in tools keeping their geometry and behaviours."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint

import numpy as np
import pytest
from conftest import write_tree

import vrmed.api as vm
import vrmed.components.instruments.instrument as instrument_module
import vrmed.packs.loader as loader_module
import vrmed.plugins as plugins_module
from vrmed.components.instruments.instrument import TOOL_PRESETS, installed_tool_types
from vrmed.mesh import box_tets
from vrmed.packs import PackError, load_pack
from vrmed.session import build_session
from vrmed.systems.instruments.behaviours import BUILTIN_TOOL_TYPES
from vrmed.systems.instruments.plugin import InstrumentPlugin
from vrmed.systems.tissue.solver import SoftBodyPlugin, SoftBodySettings

ALONG_Z = np.array([0.0, np.sqrt(0.5), np.sqrt(0.5), 0.0])  # shaft along world +z, jaws opening along world y
TISSUE = vm.Material(youngs_modulus=3.0e3, poisson_ratio=0.45, density=1000.0, damping=0.003)


@dataclass(frozen=True)
class SuctionStarted(vm.Event):
    """Test event: the suction tip drew ``vertices`` of ``body``."""

    instrument: str
    body: int
    vertices: int


class Suction(vm.ToolBehaviour):
    """Test behaviour: while the pedal is down, pull the tissue within reach of the tip
    towards it with ``force`` newtons in all (an external force, gone when released)."""

    def __init__(self, force: float) -> None:
        self.force = force

    def jaw_closed(self, app: vm.App, entity: int, inst: vm.Instrument, state: vm.ToolState) -> None:
        for b_ent, _body, idx in vm.tissue_in_jaw(app, inst, state, inst.jaw_radius + inst.grasp_margin):
            app.send(SuctionStarted(vm.instrument_name(app, entity), b_ent, int(idx.size)))

    def update(self, app: vm.App, entity: int, inst: vm.Instrument, state: vm.ToolState) -> None:
        for _, body in app.query(vm.SoftBody):
            body.clear_forces()
        if not state.closed:
            return
        for _, body, idx in vm.tissue_in_jaw(app, inst, state, inst.jaw_radius + inst.grasp_margin):
            pull = inst.tip - body.x[idx]
            pull /= np.maximum(np.linalg.norm(pull, axis=1, keepdims=True), 1e-9)
            body.external_force[idx] += pull * (self.force / idx.size)


SUCTION = vm.ToolType("suction", jaw_length=0.01, jaw_radius=0.0025, max_jaw_angle_deg=0.0, behaviours=(Suction(0.2),))


def plain_app(gravity: bool = False) -> vm.App:
    app = vm.App(seed=0)
    app.add_plugin(SoftBodyPlugin(SoftBodySettings() if gravity else SoftBodySettings(gravity=np.zeros(3))))
    app.add_plugin(InstrumentPlugin())
    app.insert_resource(vm.InputState())
    return app


def pinned_slab(app: vm.App) -> tuple[int, vm.SoftBody]:
    """A 4 x 1 x 4 cm slab, top at y = 1 cm, its bottom pinned."""
    mesh = box_tets((0.04, 0.01, 0.04), (4, 2, 4), origin=(-0.02, 0.0, -0.02))
    body = vm.SoftBody.from_mesh(mesh, TISSUE, pins=np.flatnonzero(mesh.points[:, 1] < 1e-9), velocity_damping=20.0)
    return app.spawn(body, vm.Name("slab")), body


def test_a_tool_type_with_its_own_behaviour_runs_in_a_plain_app() -> None:
    app = plain_app()
    vm.register_tool_type(app, SUCTION)
    ent, body = pinned_slab(app)
    tool = app.spawn(vm.Instrument(tool_type=SUCTION, device="hand", pivot=False), vm.Name("sucker"))
    inst = app.get(tool, vm.Instrument)
    # the tool type's defaults fill the fields left out
    assert (inst.tool, inst.jaw_length, inst.jaw_radius, inst.friction) == ("suction", 0.01, 0.0025, 0.4)
    assert inst.tear_force is None and inst.cut_radius is None and inst.burn_radius is None
    dev = app.resource(vm.InputState).device("hand")
    top_centre = np.array([0.0, 0.01, 0.0])
    dev.position[:] = top_centre + [0.0, 0.01 + 0.003, 0.0]  # tip 3 mm above the slab (0.5 mm clear)
    dev.orientation[:] = [np.sqrt(0.5), -np.sqrt(0.5), 0.0, 0.0]  # shaft pointing down
    started = app.event_reader(SuctionStarted)
    app.step(5)
    assert started.read() == []  # pedal up: nothing
    rest = body.x.copy()
    dev.buttons["trigger"] = 1.0
    app.step(1)
    (ev,) = started.read()  # when the pedal goes down (events live for a frame)
    app.step(29)
    assert started.read() == []  # and only then
    assert ev.instrument == "sucker" and ev.body == ent and ev.vertices > 0
    # the tissue under the tip is drawn up towards it (a force, not a kinematic attachment)
    top = int(np.argmin(np.linalg.norm(body.rest_points - top_centre, axis=1)))
    assert body.x[top, 1] > rest[top, 1] + 1e-4
    assert body.kin_idx.size == 0
    dev.buttons["trigger"] = 0.0
    app.step(60)
    assert abs(body.x[top, 1] - rest[top, 1]) < 1e-5  # released: the tissue springs back
    app.close()


def test_duplicate_registration_is_a_clear_error() -> None:
    app = plain_app()
    vm.register_tool_type(app, SUCTION)
    with pytest.raises(vm.InstrumentError, match="tool type 'suction' is registered twice on this App"):
        vm.register_tool_type(app, SUCTION)
    other = vm.ToolType("grasper", jaw_length=0.02, jaw_radius=0.002, max_jaw_angle_deg=30.0)
    with pytest.raises(vm.InstrumentError, match="'grasper' is already registered on this App .*another name"):
        vm.register_tool_type(app, other)
    app.close()
    bare = vm.App(seed=0)
    with pytest.raises(vm.InstrumentError, match="this App has no instruments plugin; add InstrumentPlugin first"):
        vm.register_tool_type(bare, SUCTION)
    bare.close()


def test_unknown_tool_types_are_clear_errors_naming_the_known_ones() -> None:
    # before any App: the built-in types (and those of installed plugins) are known
    with pytest.raises(vm.InstrumentError) as info:
        vm.Instrument(tool="suction")
    assert "unknown tool type 'suction'; use one of grasper, hook, needle_driver, scissors" in str(info.value)
    assert "tool_type=" in str(info.value)  # and how to use a type added in code
    # in an App that never registered it: on the instrument's first frame, naming it
    app = plain_app()
    app.spawn(vm.Instrument(tool_type=SUCTION, device="hand", pivot=False), vm.Name("sucker"))
    with pytest.raises(
        vm.InstrumentError,
        match=r"instrument 'sucker': tool type 'suction' is not registered on this App "
        r"\(registered: grasper, hook, needle_driver, scissors\)",
    ):
        app.step(1)
    app.close()


def test_bad_tool_types_are_refused_with_the_fix() -> None:
    with pytest.raises(vm.InstrumentError, match="behaviour Suction is a class; pass an instance, Suction()"):
        vm.ToolType("suction", jaw_length=0.01, jaw_radius=0.002, max_jaw_angle_deg=0.0, behaviours=(Suction,))
    with pytest.raises(vm.InstrumentError, match="name must be a word"):
        vm.ToolType("suction tip", jaw_length=0.01, jaw_radius=0.002, max_jaw_angle_deg=0.0)
    with pytest.raises(vm.InstrumentError, match="jaw_length and jaw_radius must be > 0 m"):
        vm.ToolType("suction", jaw_length=0.0, jaw_radius=0.002, max_jaw_angle_deg=0.0)
    with pytest.raises(vm.InstrumentError, match="tool 'hook' and tool_type 'suction' disagree"):
        vm.Instrument(tool="hook", tool_type=SUCTION)


class SuctionPlugin:
    """A third-party engine plugin declaring its tool type for packs (as if installed)."""

    tool_types = (SUCTION,)

    def build(self, app: vm.App) -> None:
        for kind in self.tool_types:
            vm.register_tool_type(app, kind)


def test_a_tool_type_declared_by_an_installed_plugin_is_usable_from_yaml(tmp_path, monkeypatch) -> None:
    """The pack loader builds Instruments before an App exists: a tool type that an installed
    engine plugin lists in ``tool_types`` validates by name, and the plugin registers it."""
    installed = plugins_module.available_plugins
    fake = EntryPoint(name="suction_lab", value=f"{__name__}:SuctionPlugin", group="vrmed.plugins")

    def with_suction_lab() -> dict[str, EntryPoint]:
        return {**installed(), "suction_lab": fake}

    for module in (plugins_module, instrument_module, loader_module):  # every reader of the installed set
        monkeypatch.setattr(module, "available_plugins", with_suction_lab)
    assert installed_tool_types() == {"suction": SUCTION}
    files = {
        "pack.yaml": (
            "name: lap\nversion: 0.1.0\nplugins: [softbody, instruments, suction_lab]\ndefault_scenario: demo\n"
        ),
        "prefabs/tools.yaml": """
            sucker:
              components:
                Instrument: {tool: suction, device: left_hand, pivot: false, jaw_length: 0.012}
            laser:
              components:
                Instrument: {tool: laser, device: right_hand}
        """,
        "scenarios/demo.yaml": "duration: 0.1\nentities:\n  - {name: s, prefab: sucker}\n",
    }
    with pytest.raises(PackError) as info:  # an unknown name is still refused, listing the plugin's type
        load_pack(write_tree(tmp_path / "bad", files))
    (msg,) = [str(i) for i in info.value.issues]
    assert "laser.components.Instrument" in msg
    assert "unknown tool type 'laser'; use one of grasper, hook, needle_driver, scissors, suction" in msg
    del files["prefabs/tools.yaml"]
    files["prefabs/tools.yaml"] = """
        sucker:
          components:
            Instrument: {tool: suction, device: left_hand, pivot: false, jaw_length: 0.012}
    """
    session = build_session(load_pack(write_tree(tmp_path / "lap", files)), None)
    try:
        inst = session.app.get(session.entities["s"], vm.Instrument)
        assert (inst.tool, inst.jaw_length, inst.jaw_radius) == ("suction", 0.012, 0.0025)
        session.run(seconds=0.05)
        assert session.app.resource(vm.ToolRegistry).get("suction") is SUCTION
    finally:
        session.close()


def test_builtin_tools_keep_their_geometry_and_behaviours() -> None:
    """The registry's built-in entries are the presets with the grasp / cut / burn behaviours."""
    expected = {
        "grasper": (0.018, 0.0015, 50.0, 3.0, None, None, "GraspBehaviour"),
        "needle_driver": (0.014, 0.0015, 35.0, 5.0, None, None, "GraspBehaviour"),
        "scissors": (0.016, 0.0012, 45.0, None, 0.003, None, "CutBehaviour"),
        "hook": (0.008, 0.001, 0.0, None, None, 0.003, "BurnBehaviour"),
    }
    app = plain_app()
    registry = app.resource(vm.ToolRegistry)
    assert registry.names == sorted(expected) == sorted(TOOL_PRESETS)
    for kind in BUILTIN_TOOL_TYPES:
        got = (kind.jaw_length, kind.jaw_radius, kind.max_jaw_angle_deg, kind.tear_force, kind.cut_radius)
        got += (kind.burn_radius, "".join(type(b).__name__ for b in kind.behaviours))
        assert got == expected[kind.name] and registry.get(kind.name) is kind
        inst = vm.Instrument(tool=kind.name)
        assert (inst.jaw_length, inst.friction, inst.tear_force) == (kind.jaw_length, 0.4, kind.tear_force)
    app.close()
