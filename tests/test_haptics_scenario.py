"""Haptic devices as instrument input in real scenes: two simulated devices drive the two
graspers of the peg transfer through the input path (InputState), and a device pressing a
soft block feels the contact force the tissue solver computes."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from vrmed import App
from vrmed.components.collision.collider import Collider
from vrmed.components.instruments.instrument import Instrument
from vrmed.components.scene.core import Transform
from vrmed.components.tissue.softbody import Material, SoftBody
from vrmed.haptics import (
    HapticDisconnected,
    HapticEvents,
    HapticInput,
    HapticLoop,
    HapticPlugin,
    SimulatedHapticDevice,
)
from vrmed.haptics.rig import HapticRig
from vrmed.input import InputPlugin, ReplayInput
from vrmed.mesh import box_tets
from vrmed.session import build_session, open_target
from vrmed.systems.instruments.plugin import InstrumentPlugin
from vrmed.systems.tissue.solver import SoftBodyPlugin

DOWN = np.array([np.sqrt(0.5), -np.sqrt(0.5), 0.0, 0.0])  # shaft (local -z) along world -y


@pytest.fixture(scope="module")
def lap():
    pack, _ = open_target("laparoscopy")
    # The scripted expert as the pack's setup() generates it, replayed through the devices.
    probe = build_session(pack, "peg_transfer_haptic")
    script = probe.app.resource(InputPlugin).source
    probe.run(seconds=SECONDS)
    scripted = _key_events(probe)
    probe.close()
    return pack, script, scripted


SECONDS = 5.0  # lift, mid-air handover (the graspers touch), place on a right-hand peg
KEY_EVENTS = ("ObjectLifted", "InstrumentsCollided", "ObjectHandedOver", "RingPlaced")


def _key_events(session) -> list[str]:
    names = [e["type"].rsplit(":", 1)[-1] for e in session.recorder.log.events]
    return [n for n in names if n in KEY_EVENTS]


def _simulated(pack, script, seconds: float, **changes) -> HapticRig:
    settings = copy.deepcopy(pack.scenario("peg_transfer_haptic").settings["haptics"])
    for dev in settings["devices"].values():
        dev["family"] = "simulated"
        dev.pop("name", None)
        dev.update(changes)
    return HapticRig.from_settings(settings, script=script, duration=seconds, lockstep=True)


@pytest.mark.slow
def test_two_haptic_devices_drive_the_peg_transfer_graspers_and_feel_the_cues(lap):
    """Each stylus is bound to one grasper's InputState device; its poses and jaw button
    (device frame, mapped through the scenario's calibration) move the grasper. The rings
    are lifted, handed over and placed as with the scripted trainee, the poses are in the
    session log, and the handover's instrument collision reaches both styluses as a cue."""
    pack, script, scripted = lap
    rig = _simulated(pack, script, SECONDS, scale=2.0)  # 2 world m per device m: the device moves half as far
    session = build_session(pack, "peg_transfer_haptic", input_source=rig.input())
    try:
        rig.attach(session.app)
        session.run(seconds=SECONDS)
        assert _key_events(session)[:4] == scripted[:4] == list(KEY_EVENTS)
        for name in ("left_hand", "right_hand"):
            loop = rig.loops[name]
            span = np.ptp(loop.device.path, axis=0)
            world = np.ptp([s["data"][name]["position"] for s in session.recorder.log.inputs.values()], axis=0)
            assert np.allclose(world, 2.0 * span, rtol=0.05, atol=1e-3)  # the recorded poses are the device's, scaled
            forces = np.linalg.norm(loop.device.logged(), axis=1)
            assert forces.max() > 0.3 and np.isfinite(forces).all()  # collision/grasp cues felt
            assert forces.max() <= loop.limits.max_force + 1e-9
    finally:
        session.close()
    assert all(not loop.running for loop in rig.loops.values())


def test_a_device_unplugged_mid_peg_transfer_is_an_event_and_the_session_finishes(lap):
    pack, script, _ = lap
    rig = _simulated(pack, script, 3.0)
    left = rig.loops["left_hand"]
    left.device.params[3 + 2] = 1500  # D_DISCONNECT: the left cable is pulled after 1.5 s
    session = build_session(pack, "peg_transfer_haptic", input_source=rig.input())
    try:
        rig.attach(session.app)
        session.run(seconds=3.0)
        log = session.finish()
        gone = [e for e in log.events if e["type"].endswith(HapticDisconnected.__name__)]
        assert len(gone) == 1 and gone[0]["data"]["device"] == "left_hand"
        assert 1.4 < gone[0]["t"] < 1.7
        assert session.app.clock.time == pytest.approx(3.0, abs=0.02)
        assert rig.loops["right_hand"].error is None
    finally:
        session.close()
    # A replay has no device: the recorded health buttons alone give the same event, same frame.
    samples = {frame: rec["data"] for frame, rec in log.inputs.items()}
    replay = App(seed=0)
    try:
        replay.add_plugin(InputPlugin(ReplayInput(samples)))
        replay.add_plugin(HapticEvents(["left_hand", "right_hand"]))
        reader = replay.event_reader(HapticDisconnected)
        frames = []
        for _ in range(max(samples) + 1):
            replay.step()
            frames += [replay.clock.frame - 1 for _ in reader.read()]
        assert frames == [gone[0]["frame"]]
    finally:
        replay.close()


def test_stylus_pressing_tissue_feels_the_solver_contact_force():
    """A grasper driven by a stylus presses 4 mm into a soft block on a table. Every frame
    the local model the servo renders reproduces, at the tool's position, exactly the contact
    force the tissue solver reports on the tool; averaged over a second, the force written to
    the device is the solver's (the servo lags by one display frame)."""
    top = 0.0205
    press = np.array([0.0, top + 0.018 - 0.004, 0.0])
    start = press + [0.0, 0.01, 0.0]
    n = 700
    path = np.array([start + (press - start) * min(i / 500, 1.0) for i in range(n)])
    device = SimulatedHapticDevice(path, orientations=np.tile(DOWN, (n, 1)), dt=1e-3)
    loop = HapticLoop(device, limits="touch_x")
    app = App(seed=0)
    try:
        app.add_plugin(InputPlugin(HapticInput(loop, lockstep=True)))
        app.add_plugin(HapticPlugin(loop, start=False))
        app.add_plugin(SoftBodyPlugin())
        app.add_plugin(InstrumentPlugin())
        tool = app.spawn(Instrument(tool="grasper", device="haptic", pivot=False))
        inst = app.get(tool, Instrument)
        # the tool is at the origin in its first frame, inside where the block goes, and moves
        # from there to the stylus pose over the second (spawned together, that sweep yanked the
        # block up at 10 m/s and tangled it on the jaws: 28 inverted tets)
        app.step(2)
        mesh = box_tets((0.04, 0.02, 0.04), (4, 2, 4), origin=(-0.02, 0.0005, -0.02))
        app.spawn(SoftBody.from_mesh(mesh, Material(2.0e4, 0.45, 1000.0, damping=0.005), velocity_damping=5.0))
        app.spawn(
            Transform(position=np.array([0.0, -0.01, 0.0])),
            Collider(shape="box", half_extents=np.array([0.1, 0.01, 0.1]), friction=0.5),
        )
        app.step(58)  # press in and settle
        first = device.count
        solver = []
        for _ in range(90):  # one second at 90 Hz
            app.step()
            model = loop.published
            assert np.allclose(model.force_at(inst.hinge, max_stiffness=1480.0), inst.force, rtol=1e-6, atol=1e-9)
            solver.append(inst.force.copy())
        mean_solver = np.mean(solver, axis=0)
        mean_device = device.logged()[first:].mean(axis=0)
        assert np.linalg.norm(mean_solver) > 0.05  # in contact
        assert np.allclose(mean_device, mean_solver, rtol=0.1, atol=0.02)
        assert np.isfinite(device.logged()).all()
    finally:
        app.close()
