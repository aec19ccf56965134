"""Instruments: trocar kinematics, grasp / release / tear, cutting, cautery, rings, haptics and
bad input. Checks are physical or geometric (heights, connected components, momentum balance)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import write_tree

from vrmed import App
from vrmed.components.collision.collider import Collider
from vrmed.components.instruments.instrument import BodyWall, Instrument, InstrumentError
from vrmed.components.planar.bodies import PlanarBody, WorkSurface
from vrmed.components.scene.core import Name, Transform
from vrmed.components.tissue.softbody import Material, SoftBody
from vrmed.haptics import HapticTarget
from vrmed.input import InputState
from vrmed.mesh import box_tets
from vrmed.packs import PackError, load_pack
from vrmed.systems.collision.system import CollisionWorld
from vrmed.systems.instruments.plugin import InstrumentPlugin
from vrmed.systems.instruments.system import (
    InstrumentGrasped,
    InstrumentReleased,
    InstrumentsCollided,
    InstrumentWorld,
    TissueBurned,
    TissueContactEnded,
    TissueContactStarted,
    TissueCut,
    TissueTorn,
    tip_in_view,
    tool_pose,
)
from vrmed.systems.planar.system import ObjectLanded, ObjectLifted, PlanarPlugin
from vrmed.systems.tissue.solver import SoftBodyPlugin, SoftBodySettings

G = 9.80665
DOWN = np.array([np.sqrt(0.5), -np.sqrt(0.5), 0.0, 0.0])  # tool shaft (local -z) pointing along world -y
ALONG_Z = np.array([0.0, np.sqrt(0.5), np.sqrt(0.5), 0.0])  # shaft along world +z, jaws opening along world y
TISSUE = Material(youngs_modulus=1.0e4, poisson_ratio=0.45, density=1000.0, damping=0.003)


def make_app(gravity=True, planar=False, rates=None) -> App:
    app = App(seed=0, rates=rates)
    app.add_plugin(SoftBodyPlugin(SoftBodySettings() if gravity else SoftBodySettings(gravity=np.zeros(3))))
    if planar:
        app.add_plugin(PlanarPlugin())
    app.add_plugin(InstrumentPlugin())
    app.insert_resource(InputState())
    return app


def drive(app: App, device: str, position, orientation=DOWN, closure: float = 0.0) -> None:
    dev = app.resource(InputState).device(device)
    dev.position[:] = position
    dev.orientation[:] = orientation
    dev.buttons["trigger"] = closure


def run(app: App, frames: int, *readers) -> list[list]:
    """Step frame by frame, collecting each reader's events (events live for one frame)."""
    seen: list[list] = [[] for _ in readers]
    for _ in range(frames):
        app.step(1)
        for out, reader in zip(seen, readers):
            out += reader.read()
    return seen


def move(app: App, device: str, start, end, seconds: float, orientation=DOWN, closure=0.0, *readers) -> list[list]:
    frames = max(1, int(round(seconds * 90)))
    seen: list[list] = [[] for _ in readers]
    for k in range(1, frames + 1):
        drive(app, device, np.asarray(start) + (np.asarray(end) - start) * k / frames, orientation, closure)
        for out, got in zip(seen, run(app, 1, *readers)):
            out += got
    return seen


def flap(app: App) -> tuple[int, SoftBody]:
    """A 6 x 1 x 3 cm flap lying on a box table (top at y = 0), clamped at its x = -3 cm end."""
    mesh = box_tets((0.06, 0.01, 0.03), (6, 2, 3), origin=(-0.03, 0.0005, -0.015))
    body = SoftBody.from_mesh(mesh, TISSUE, pins=np.flatnonzero(mesh.points[:, 0] < -0.03 + 1e-9), velocity_damping=2.0)
    app.spawn(
        Transform(position=np.array([0.0, -0.05, 0.0])),
        Collider(shape="box", half_extents=np.array([0.1, 0.05, 0.1]), friction=0.5),
    )
    return app.spawn(body, Name("flap")), body


def grasper(app: App, tool="grasper", **kw) -> int:
    return app.spawn(Instrument(tool=tool, device="hand", pivot=False, **kw), Name(tool))


# ----------------------------------------------------------------------------- kinematics


def test_trocar_fulcrum_gives_four_degrees_of_freedom():
    inst = Instrument(tool="grasper", trocar=np.array([0.0, 0.2, 0.0]), shaft_length=0.3)
    rng = np.random.default_rng(1)
    for _ in range(20):
        handle = np.array([0.0, 0.2, 0.0]) + rng.normal(size=3) * 0.05 + [0, 0.15, 0]
        q = rng.normal(size=4)
        h, hinge, frame, insertion = tool_pose(inst, handle, q / np.linalg.norm(q), np.array([0, -1.0, 0]))
        d = -frame[:, 2]
        # the shaft passes through the trocar, the hinge is shaft_length from the handle
        off = (inst.trocar - handle) - ((inst.trocar - handle) @ d) * d
        assert np.linalg.norm(off) < 1e-12
        assert np.linalg.norm(hinge - handle) == pytest.approx(0.3)
        assert insertion == pytest.approx(0.3 - np.linalg.norm(inst.trocar - handle))
        assert np.allclose(frame.T @ frame, np.eye(3), atol=1e-12)  # roll: an orthonormal tool frame


def test_tip_in_view_needs_the_view_cone_and_a_clear_line_of_sight():
    from vrmed.components.scene.render import Endoscope

    app = make_app(gravity=False)
    scope = app.spawn(Transform(position=np.array([0.0, 0.2, 0.0]), orientation=DOWN), Endoscope(fov_deg=70.0))
    tool = grasper(app)
    drive(app, "hand", [0.02, 0.08, 0.0])  # tip at (0.02, 0.062, 0): 8 deg off the scope axis
    app.step(1)
    assert tip_in_view(app, tool, scope)
    drive(app, "hand", [0.15, 0.08, 0.0])  # 47 deg off axis: outside the 35 deg half-angle
    app.step(1)
    assert not tip_in_view(app, tool, scope)
    mesh = box_tets((0.06, 0.01, 0.06), (3, 1, 3), origin=(-0.03, 0.12, -0.03))  # tissue between
    app.spawn(SoftBody.from_mesh(mesh, TISSUE, pins=np.arange(len(mesh.points))))
    drive(app, "hand", [0.02, 0.08, 0.0])
    app.step(1)
    assert not tip_in_view(app, tool, scope)
    # the working end inside the tissue it works on (the slab's top 8 mm above the tip, within
    # the 18 mm jaws) is seen entering it: in view; 6 cm of clearance below the slab is not
    drive(app, "hand", [0.02, 0.14, 0.0])
    app.step(1)
    inst = app.get(tool, Instrument)
    assert 0.0 < 0.13 - inst.tip[1] < inst.jaw_length
    assert tip_in_view(app, tool, scope)
    app.close()


def test_instruments_touching_each_other_is_an_event():
    app = make_app(gravity=False)
    grasper(app)
    app.spawn(Instrument(tool="scissors", device="other", pivot=False), Name("scissors"))
    touch = app.event_reader(InstrumentsCollided)
    drive(app, "hand", [0.0, 0.1, 0.0])
    drive(app, "other", [0.02, 0.1, 0.0])
    app.step(2)
    assert touch.read() == []
    drive(app, "other", [0.004, 0.1, 0.0])  # shafts 4 mm apart, radii 2.5 mm each
    (ev,) = run(app, 3, touch)
    assert [(e.first, e.second) for e in ev] == [("grasper", "scissors")]  # once, when the touch begins
    app.close()


# ----------------------------------------------------------------------------- grasping


@pytest.fixture(scope="module")
def settled_flap():
    """The flap after settling on the table for 0.5 s (shared start state; each test copies it)."""
    app = make_app()
    _, body = flap(app)
    app.step(45)
    state = body.x.copy()
    app.close()
    return state


def start_flap(settled: np.ndarray, **tool_kw) -> tuple[App, int, SoftBody, int]:
    app = make_app()
    ent, body = flap(app)
    body.x[:] = settled
    body.x_prev[:] = settled
    tool = grasper(app, **tool_kw)
    return app, ent, body, tool


def grasp_end(app: App, body: SoftBody) -> np.ndarray:
    """Bring the closed grasper onto the top of the flap's free end and close it."""
    top = np.array([0.015, body.x[:, 1].max(), 0.0])
    start = top + [0, 0.03, 0]
    hinge = top + [0, 0.018 - 0.002, 0]  # jaw tip 2 mm into the tissue
    move(app, "hand", start, hinge, 0.2, closure=0.0)
    drive(app, "hand", hinge, closure=1.0)
    app.step(1)
    return hinge


def test_grasp_lifts_tissue_and_release_lets_it_fall_back(settled_flap):
    app, ent, body, tool = start_flap(settled_flap, tear_force=50.0)
    grasped = app.event_reader(InstrumentGrasped)
    hinge = grasp_end(app, body)
    ev = grasped.read()
    assert len(ev) == 1 and ev[0].entity == ent and ev[0].target == "tissue" and ev[0].vertices >= 2
    held = app.resource(InstrumentWorld).grasps[tool].idx
    y_grasp = body.x[held, 1].copy()
    move(app, "hand", hinge, hinge + [0, 0.02, 0], 0.4, closure=1.0)
    app.step(9)
    assert np.allclose(body.x[held, 1], y_grasp + 0.02, atol=1e-9)  # held tissue goes up with the jaw
    near = np.abs(settled_flap[:, 0] - 0.015) < 0.006
    assert body.x[near, 1].mean() > settled_flap[near, 1].mean() + 0.01  # and lifts the flap around it
    released = app.event_reader(InstrumentReleased)
    drive(app, "hand", hinge + [0, 0.05, 0], closure=0.0)  # open and pull away
    (events,) = run(app, 90, released)
    assert [e.entity for e in events] == [ent]
    assert body.kin_idx.size == 0 and not np.any(body.inv_mass[held] == 0)
    # fell back from 2 cm up onto the table, to within 1 mm of where it lay before the grasp,
    # at rest, never through the table
    assert np.abs(body.x[held, 1] - settled_flap[held, 1]).max() < 1e-3
    assert np.abs(body.v).max() < 0.01
    assert body.x[:, 1].min() > -3e-4
    app.close()


def test_pulling_past_the_threshold_tears_and_emits_the_event(settled_flap):
    app, ent, body, tool = start_flap(settled_flap, tear_force=2.0)
    torn = app.event_reader(TissueTorn)
    hinge = grasp_end(app, body)
    assert tool in app.resource(InstrumentWorld).grasps
    (ev,) = move(app, "hand", hinge, hinge + [0.04, 0.06, 0], 0.5, DOWN, 1.0, torn)
    assert len(ev) == 1 and ev[0].body == ent and ev[0].instrument == "grasper"
    assert ev[0].force > ev[0].threshold == 2.0
    assert tool not in app.resource(InstrumentWorld).grasps and body.kin_idx.size == 0
    assert app.get(tool, Instrument).grasping == -1
    app.close()


# ----------------------------------------------------------------------------- cutting / cautery


def components(tets: np.ndarray) -> int:
    """Connected components of tets sharing a vertex (union-find)."""
    parent = np.arange(tets.max() + 1)

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for t in tets:
        roots = [find(v) for v in t]
        for r in roots[1:]:
            parent[find(r)] = find(roots[0])
    return len({find(v) for v in np.unique(tets)})


def test_scissors_cut_separates_a_slab_into_two_pieces():
    app = make_app(gravity=False)
    mesh = box_tets((0.06, 0.004, 0.012), (12, 2, 4), origin=(-0.03, 0.0, -0.006))
    body = SoftBody.from_mesh(
        mesh, Material(2.0e3, 0.45, 1000.0, damping=0.003), pins=np.flatnonzero(np.abs(mesh.points[:, 0]) > 0.03 - 1e-9)
    )
    ent = app.spawn(body)
    grasper(app, tool="scissors", jaw_length=0.04, cut_radius=0.005)
    cut = app.event_reader(TissueCut)
    hinge = np.array([0.0, 0.002, -0.015])  # blades along z, open above and below the slab
    drive(app, "hand", hinge, ALONG_Z, 0.0)
    app.step(3)
    assert components(body.tets) == 1
    n0 = body.n_tets
    drive(app, "hand", hinge, ALONG_Z, 1.0)
    app.step(1)
    ev = cut.read()
    # the cut splits (nothing removed): the body keeps one half, the other half is a new entity
    assert len(ev) == 1 and ev[0].body == ent and len(ev[0].tets) > 0 and len(ev[0].pieces) == 1
    other = app.get(ev[0].pieces[0], SoftBody)
    assert components(body.tets) == 1 and components(other.tets) == 1
    assert body.n_tets + other.n_tets == n0
    assert sorted(np.concatenate([body.tet_index, other.tet_index])) == list(range(n0))
    # the body still simulates and the collision surface was rebuilt for the new tets
    app.step(10)
    assert np.isfinite(body.x).all() and np.isfinite(other.x).all()
    assert app.resource(CollisionWorld).surfaces[ent].tets_ref is body.tets
    assert body.block_offsets[-1] <= body.n_tets and set(body.tet_index) <= set(range(n0))
    app.close()


def test_hook_cautery_burns_the_tets_it_touches_once():
    app = make_app(gravity=False)
    mesh = box_tets((0.04, 0.01, 0.04), (4, 2, 4), origin=(-0.02, 0.0, -0.02))
    body = SoftBody.from_mesh(mesh, TISSUE, pins=np.flatnonzero(mesh.points[:, 1] < 1e-9))
    ent = app.spawn(body)
    grasper(app, tool="hook")
    burned = app.event_reader(TissueBurned)
    hinge = np.array([0.001, 0.01 + 0.008, 0.001])  # hook tip on the surface
    drive(app, "hand", hinge, DOWN, 0.0)
    app.step(5)
    assert burned.read() == []
    drive(app, "hand", hinge, DOWN, 1.0)  # pedal
    app.step(1)
    ev = burned.read()
    assert len(ev) == 1 and ev[0].body == ent and len(ev[0].tets) > 0
    marks = app.resource(InstrumentWorld).burned[ent]
    assert marks.sum() == len(ev[0].tets)
    # the burned tets are the ones at the tip (top layer, near the axis)
    cen = mesh.points[mesh.tets[list(ev[0].tets)]].mean(axis=1)
    assert np.all(cen[:, 1] > 0.005) and np.all(np.hypot(cen[:, 0], cen[:, 2]) < 0.01)
    app.step(3)
    assert burned.read() == []  # nothing new while the hook stays put
    # drawing: the hook (shaft + hook capsules) and the tissue with burn on the burned tets' faces
    from vrmed.render.drawlist import DrawList

    draws = DrawList()
    app.insert_resource(draws)
    app.step(1)
    (tools,) = draws.capsules
    assert tools.a.shape == (3, 3)  # the shaft, and the L-hook's stem and bent arm
    (tissue,) = draws.surfaces
    burnt = tissue.positions[tissue.burn > 0]
    assert 0 < len(burnt) < len(tissue.positions) / 2
    assert np.all(np.hypot(burnt[:, 0] - 0.001, burnt[:, 2] - 0.001) < 0.025)  # around the hook tip
    app.close()


# ----------------------------------------------------------------------------- planar objects


def test_ring_dropped_on_the_board_rests_and_is_picked_up_again_by_an_instrument():
    app = make_app(planar=True)
    app.spawn(WorkSurface(origin=np.array([0.0, 0.8, 0.0]), size=np.array([0.4, 0.3])))
    ring = app.spawn(PlanarBody(radius=0.01, inner_radius=0.006, mass=0.002, position=np.array([0.05, 0.85, 0.0])))
    grasper(app)
    drive(app, "hand", [0.0, 0.95, 0.0])
    landed = app.event_reader(ObjectLanded)
    (ev,) = run(app, 60, landed)
    body = app.get(ring, PlanarBody)
    assert len(ev) == 1 and body.mode == "surface"
    assert body.position[1] == pytest.approx(0.8) and np.allclose(body.velocity, 0.0)
    lifted = app.event_reader(ObjectLifted)
    above = body.position + [0.0, 0.018 + 0.003, 0.0]  # jaw tip 3 mm above the ring
    move(app, "hand", [0.0, 0.95, 0.0], above, 0.3)
    drive(app, "hand", above, closure=1.0)
    app.step(1)
    assert len(lifted.read()) == 1 and body.mode == "held"
    move(app, "hand", above, above + [0.0, 0.05, 0.0], 0.3, closure=1.0)
    assert body.position[1] == pytest.approx(0.8 + 0.003 + 0.05, abs=1e-9)
    drive(app, "hand", above + [0.0, 0.05, 0.0], closure=0.0)
    (ev,) = run(app, 40, landed)
    assert len(ev) == 1 and body.mode == "surface" and body.position[1] == pytest.approx(0.8)
    app.close()


# ----------------------------------------------------------------------------- haptics


def test_haptic_force_balances_the_block_weight_and_the_table_reaction():
    """A grasper (haptic) presses a free block resting on a box table. At rest the block's
    momentum balance gives F_tool + F_table = m g (forces on the tools): the haptic force must
    close it within 2 %."""
    app = make_app()
    target = HapticTarget()
    app.insert_resource(target)
    mesh = box_tets((0.04, 0.02, 0.04), (4, 2, 4), origin=(-0.02, 0.0005, -0.02))
    body = SoftBody.from_mesh(mesh, Material(2.0e4, 0.45, 1000.0, damping=0.005), velocity_damping=5.0)
    app.spawn(body)
    table = app.spawn(
        Transform(position=np.array([0.0, -0.01, 0.0])),
        Collider(shape="box", half_extents=np.array([0.1, 0.01, 0.1]), friction=0.5),
    )
    tool = grasper(app, haptic=True)
    press = np.array([0.0, 0.0205 + 0.018 - 0.004, 0.0])  # closed jaw tip 4 mm into the top
    started, ended = app.event_reader(TissueContactStarted), app.event_reader(TissueContactEnded)
    s1, e1 = move(app, "hand", press + [0, 0.02, 0], press, 0.3, DOWN, 0.0, started, ended)
    s2, e2 = run(app, 90, started, ended)
    world = app.resource(CollisionWorld)
    weight = body.mass.sum() * np.array([0.0, -G, 0.0])
    balance = weight - world.owner_force[table]
    assert target.force[1] > 0.1  # the tissue pushes the tool up
    assert np.allclose(target.force, app.get(tool, Instrument).force)
    assert np.linalg.norm(target.force - balance) < 0.02 * np.linalg.norm(target.force)
    assert np.allclose(target.proxy, press)  # the tool's pose (no trocar: the jaw hinge)
    # contact events for scoring: one start, and one end with the peak force once lifted off
    static = float(np.linalg.norm(target.force))
    s3, e3 = move(app, "hand", press, press + [0, 0.03, 0], 0.2, DOWN, 0.0, started, ended)
    assert len(s1 + s2 + s3) == 1 and e1 + e2 == [] and len(e3) == 1
    assert e3[0].peak_force >= static and 0.5 < e3[0].duration < 1.5
    app.close()


def test_haptic_device_disconnecting_mid_session_leaves_instruments_working():
    from vrmed.haptics import HapticDisconnected, HapticInput, HapticLoop, HapticPlugin, SimulatedHapticDevice
    from vrmed.input import InputPlugin

    device = SimulatedHapticDevice(lambda t: np.array([0.0, 0.1 - 0.01 * t, 0.0]), disconnect_after=100)
    loop = HapticLoop(device)
    app = App(seed=0)
    try:
        app.add_plugin(InputPlugin(HapticInput(loop)))
        app.add_plugin(HapticPlugin(loop))
        app.add_plugin(SoftBodyPlugin())
        app.add_plugin(InstrumentPlugin())
        tool = app.spawn(Instrument(tool="grasper", device="haptic", pivot=False, haptic=True))
        reader = app.event_reader(HapticDisconnected)
        seen, deadline = [], time.perf_counter() + 5.0
        while not seen and time.perf_counter() < deadline:
            app.step()
            seen += reader.read()
            time.sleep(0.002)
        assert len(seen) == 1
        inst = app.get(tool, Instrument)
        last = inst.hinge.copy()
        app.step(20)  # keeps running; the tool holds the last known pose
        assert np.allclose(inst.hinge, last) and np.isfinite(inst.force).all()
    finally:
        app.close()


# ----------------------------------------------------------------------------- bad input


def test_unknown_tool_type_in_a_prefab_is_a_validation_error(tmp_path):
    files = {
        "pack.yaml": "name: lap\nversion: 0.1.0\nplugins: [softbody, instruments]\ndefault_scenario: demo\n",
        "prefabs/tools.yaml": """
            grasper:
              components:
                Instrument: {tool: grasper, device: right_hand, trocar: [0.05, 0.2, 0.0]}
            laser:
              components:
                Instrument: {tool: laser, device: left_hand}
        """,
        "scenarios/demo.yaml": "duration: 0.1\nentities:\n  - {name: g, prefab: grasper}\n",
    }
    with pytest.raises(PackError) as info:
        load_pack(write_tree(tmp_path / "lap", files))
    msgs = [str(i) for i in info.value.issues]
    assert len(msgs) == 1 and "lap/prefabs/tools.yaml:6: laser.components.Instrument" in msgs[0]
    assert "unknown tool type 'laser'" in msgs[0] and "grasper, hook, needle_driver, scissors" in msgs[0]
    with pytest.raises(InstrumentError, match="unknown tool type 'laser'"):
        Instrument(tool="laser")


def test_instrument_prefabs_load_from_yaml(tmp_path):
    from vrmed.session import build_session

    files = {
        "pack.yaml": "name: lap\nversion: 0.1.0\nplugins: [softbody, instruments]\ndefault_scenario: demo\n",
        "prefabs/tools.yaml": """
            grasper:
              components:
                Instrument: {tool: grasper, device: right_hand, trocar: [0.05, 0.2, 0.0], tear_force: 2.5}
            scissors:
              extends: grasper
              components:
                Instrument: {tool: scissors, device: left_hand}
        """,
        "scenarios/demo.yaml": (
            "duration: 0.1\nentities:\n  - {name: g, prefab: grasper}\n  - {name: s, prefab: scissors}\n"
        ),
    }
    session = build_session(load_pack(write_tree(tmp_path / "lap", files)), None)
    try:
        g = session.app.get(session.entities["g"], Instrument)
        s = session.app.get(session.entities["s"], Instrument)
        assert g.can_grasp and g.tear_force == 2.5 and s.can_cut and s.device == "left_hand"
        session.run(seconds=0.05)
        assert np.isfinite(g.tip).all()
    finally:
        session.close()


def test_trocar_outside_the_body_wall_is_refused():
    app = make_app()
    app.spawn(BodyWall(center=np.array([0.0, 0.1, 0.0]), radii=np.array([0.2, 0.12, 0.15]), thickness=0.03))
    app.spawn(Instrument(tool="grasper", device="hand", trocar=np.array([0.0, 0.22, 0.0])), Name("ok"))
    app.step(1)  # on the wall: fine
    app.spawn(Instrument(tool="scissors", device="hand", trocar=np.array([0.0, 0.5, 0.0])), Name("far"))
    with pytest.raises(InstrumentError, match="instrument 'far': trocar .* 280 mm from the body wall"):
        app.step(1)
    app.close()
