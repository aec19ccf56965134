"""Comfort settings: snap turn on thumbstick flicks, the vignette on artificial motion only
(drawn into both eyes through the simulated OpenXR runtime), seated/standing reference
spaces, and wall-clock frame statistics in the session log footer (never in the digest)."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from vrmed import App
from vrmed.geometry import quat_from_axis_angle, quat_yaw
from vrmed.input import InputPlugin, InputState
from vrmed.recording import RecorderPlugin
from vrmed.xr import HEAD, LEFT_HAND, RIGHT_HAND, ControllerState, DeviceConfig, EyeView, Fov, MotionScript, Pose
from vrmed.xr.comfort import ComfortRig, ComfortSettings
from vrmed.xr.interface import XrFrame

PERIOD_NS = 11_111_111


def frame(i: int, stick_x: float = 0.0, head_yaw: float = 0.0) -> XrFrame:
    head = Pose((0.3, 1.6, -0.2), quat_from_axis_angle((0, 1, 0), head_yaw))
    eye = EyeView(0, head, Fov(-0.8, 0.8, 0.8, -0.8), 8, 8)
    return XrFrame(
        i,
        i * PERIOD_NS,
        PERIOD_NS,
        True,
        head,
        (eye,),
        {RIGHT_HAND: ControllerState(Pose((0.2, 1.0, -0.3)), {"thumbstick_x": stick_x})},
    )


# -- settings -----------------------------------------------------------------------------------
def test_settings_validate_and_pick_the_reference_space():
    assert ComfortSettings(reference="seated").reference_space == "LOCAL"
    assert ComfortSettings(reference="standing").reference_space == "STAGE"
    for bad in (
        {"reference": "lying"},
        {"refresh_hz": 0},
        {"snap_turn_deg": -5},
        {"vignette": 1.5},
        {"turn_hand": "foot"},
    ):
        with pytest.raises(ValueError):
            ComfortSettings(**bad)


# -- snap turn ------------------------------------------------------------------------------------
def test_snap_turn_rotates_exactly_once_per_flick_about_the_head():
    rig = ComfortRig(ComfortSettings(snap_turn_deg=30.0))
    sticks = [
        0.0,
        0.9,
        1.0,
        1.0,
        0.8,
        0.5,
        0.9,  # one flick, held, wobbling above the reset zone
        0.1,
        0.95,
        0.0,  # back to centre, flick right again
        -0.2,
        -0.9,
        -1.0,
        0.0,
    ]  # flick left
    yaws = []
    for i, x in enumerate(sticks):
        f = frame(i, x)
        rig.update(f)
        out = rig.apply(f)
        yaws.append(math.degrees(quat_yaw(out.head.orientation)))
        assert out.head.position == pytest.approx(f.head.position, abs=1e-9)  # turned about the head
    assert rig.snap_turns == 3
    assert yaws[:1] == pytest.approx([0.0])
    assert yaws[1:8] == pytest.approx([-30.0] * 7, abs=1e-9)  # right = clockwise; held: no more
    assert yaws[8:11] == pytest.approx([-60.0] * 3, abs=1e-9)
    assert yaws[11:] == pytest.approx([-30.0] * 3, abs=1e-9)
    # everything in the frame follows the rig: the controller turned about the head too
    hand = rig.apply(frame(0)).controllers[RIGHT_HAND].pose
    assert math.degrees(quat_yaw(hand.orientation)) == pytest.approx(-30.0)


def test_snap_turn_zero_is_off_and_head_motion_is_not_artificial():
    rig = ComfortRig(ComfortSettings(snap_turn_deg=0.0, vignette=1.0))
    for i, x in enumerate([0.0, 1.0, 0.0, -1.0]):
        rig.update(frame(i, x, head_yaw=0.3 * i))  # the head turns fast; the rig does not
    assert rig.yaw == 0.0 and rig.snap_turns == 0 and rig.vignette_amount == 0.0
    rig.move((0.02, 0.0, 0.0))  # 0.02 m in one 90 Hz frame: 1.8 m/s of artificial motion
    rig.update(frame(4))
    assert rig.vignette_amount == pytest.approx(1.0)


# -- the headset: vignette pixels, reference spaces ---------------------------------------------


@pytest.fixture
def xr_env(manifest, monkeypatch):
    monkeypatch.setenv("XR_RUNTIME_JSON", str(manifest))
    return manifest


FLICK_AT = 0.205  # s: the right stick is pushed right from here for 50 ms


def turning_head_and_flick(t: float):
    """The head keeps turning left at 1 rad/s (real motion); one right-stick flick."""
    head = Pose((0.0, 1.6, 0.0), quat_from_axis_angle((0, 1, 0), 1.0 * t))
    x = 1.0 if FLICK_AT <= t < FLICK_AT + 0.05 else 0.0
    return {
        HEAD: head.as_sample(),
        LEFT_HAND: Pose((-0.2, 1.0, -0.3)).as_sample(),
        RIGHT_HAND: {**Pose((0.2, 1.0, -0.3)).as_sample(), "buttons": {"thumbstick_x": x}},
    }


def test_vignette_darkens_both_eyes_on_a_snap_turn_not_on_head_motion(xr_env, gl_ctx):
    from vrmed.xr import sim
    from vrmed.xr.input import XrInputSource
    from vrmed.xr.openxr_backend import OpenXrBackend
    from vrmed.xr.render import add_headset_rendering

    frames = 30
    rt, _ = sim.install(MotionScript(turning_head_and_flick), DeviceConfig(width=24, height=24), manifest=xr_env)
    rt.keep_frames = frames
    settings = ComfortSettings(snap_turn_deg=30.0, vignette=0.8)
    source = XrInputSource(OpenXrBackend(gl_ctx))
    source.gl_context = gl_ctx  # the test owns the context
    source.comfort = ComfortRig(settings)
    app = App(seed=1)
    try:
        app.add_plugin(InputPlugin(source))
        add_headset_rendering(app, source, samples=0)
        app.run(frames=frames)
        head = app.resource(InputState).device(HEAD)
    finally:
        app.close()
    assert rt.errors == [] and len(rt.frames) == frames and source.comfort.snap_turns == 1
    # the head sample is in the world: the tracked head yaw plus the rig's -30 degrees
    t_last = (rt.frames[-1].display_time - rt.frames[0].display_time) / 1e9
    assert math.degrees(quat_yaw(head.orientation)) == pytest.approx(math.degrees(t_last) - 30.0, abs=1.0)

    def corners(img: np.ndarray) -> float:
        rgb = img[:, :, :3].astype(float)
        return float(np.mean([rgb[0, 0], rgb[0, -1], rgb[-1, 0], rgb[-1, -1]]))

    times = [(f.display_time - rt.frames[0].display_time) / 1e9 for f in rt.frames]
    flick = next(i for i, t in enumerate(times) if t >= FLICK_AT)
    for eye in (0, 1):
        before = [corners(f.images[eye]) for f in rt.frames[2:flick]]  # head turning, rig still
        assert max(before) - min(before) < 6.0, before  # no darkening from head motion
        turned = rt.frames[flick].images[eye]
        still = rt.frames[flick - 1].images[eye]
        assert corners(turned) < 0.5 * corners(still)
        centre = (slice(10, 14), slice(10, 14))
        assert np.abs(turned[centre][..., :3].astype(int) - still[centre][..., :3].astype(int)).max() < 40
        # the vignette fades once the rig is still again
        assert corners(rt.frames[-1].images[eye]) > corners(turned) + 40


@pytest.mark.parametrize("reference, space", [("seated", "LOCAL"), ("standing", "STAGE")])
def test_seated_and_standing_pick_local_and_stage(xr_env, reference, space):
    from vrmed.xr import sim
    from vrmed.xr.input import open_openxr_input

    sim.install(manifest=xr_env)
    source = open_openxr_input(comfort=ComfortSettings(reference=reference, refresh_hz=72.0))
    try:
        backend = source.backend
        assert backend.reference_space == space and backend.reference_note is None
        # the simulated runtime offers XR_FB_display_refresh_rate: the requested rate is set
        assert backend.refresh_requested == 72.0 and backend.refresh_note is None
        backend.poll_events()
        assert source.sample(0.0, 0)
        assert backend.refresh_actual == pytest.approx(72.0, rel=1e-3)
        assert backend.begin_frame().predicted_display_period == 13_888_888  # frames follow the new rate
        assert source.comfort is not None and source.comfort.settings.reference == reference
    finally:
        source.close()


# -- frame statistics in the footer -------------------------------------------------------------
def test_footer_has_frame_stats_and_counts_dropped_frames_outside_the_digest():
    def run(sleepy: bool):
        app = App(seed=3)
        app.insert_resource(ComfortSettings(refresh_hz=90.0))

        def slow(app) -> None:
            if sleepy and app.clock.frame % 10 == 5:
                time.sleep(0.015)  # > 11.1 ms: a dropped frame at 90 Hz

        app.add_system(slow, stage="render", name="test.slow")
        app.add_plugin(InputPlugin())
        rec = RecorderPlugin({"scenario": "comfort"})
        app.add_plugin(rec)
        app.run(frames=40)
        log = rec.finalize(app)
        app.close()
        return log

    log = run(sleepy=True)
    f = log.footer
    assert f["target_hz"] == 90.0 and f["timed_frames"] == 40 == f["frames"]
    assert set(f["frame_ms"]) >= {"mean", "p50", "p99"}
    assert f["frame_ms"]["p99"] >= 15.0 and f["frame_ms"]["p50"] < 11.1
    assert 4 <= f["dropped_frames"] < 40
    assert all("frame_ms" not in e.get("data", {}) for e in log.events)
    # wall-clock timing never reaches the state: a run without the slow frames has the same digest
    assert run(sleepy=False).footer["digest"] == f["digest"]
