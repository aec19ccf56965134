"""The XR interface and the pure-Python simulated device (no OpenXR loader involved)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vrmed import App
from vrmed.geometry import (
    compose,
    pose_matrix,
    projection_from_fov,
    quat_from_axis_angle,
    quat_rotate,
    quat_yaw,
    relative,
    view_matrix,
)
from vrmed.input import InputPlugin, InputState, Keyframe, ScriptedInput
from vrmed.xr import (
    HEAD,
    LEFT_HAND,
    RIGHT_HAND,
    DeviceConfig,
    Fov,
    MotionScript,
    Pose,
    SimulatedXr,
    XrBackend,
    XrError,
    default_motion,
)
from vrmed.xr.input import XrInputSource


def running(device: SimulatedXr) -> SimulatedXr:
    device.poll_events()
    assert device.running
    return device


# -- geometry ----------------------------------------------------------------------------
def test_symmetric_projection_matches_perspective():
    half = math.radians(45)
    m = projection_from_fov(-half, half, half, -half, near=0.1, far=10.0)
    assert m[0, 0] == pytest.approx(1.0) and m[1, 1] == pytest.approx(1.0)
    assert m[0, 2] == pytest.approx(0.0) and m[1, 2] == pytest.approx(0.0)
    # A point on the near plane maps to depth -1, on the far plane to +1.
    for z, depth in ((-0.1, -1.0), (-10.0, 1.0)):
        clip = m @ np.array([0.0, 0.0, z, 1.0])
        assert clip[2] / clip[3] == pytest.approx(depth)
    with pytest.raises(ValueError):
        projection_from_fov(0.1, -0.1, 0.5, -0.5)


def test_asymmetric_fov_shifts_the_frustum_centre():
    m = Fov(-0.8, 0.7, 0.75, -0.8).projection()
    assert m[0, 2] < 0  # more field to the left: the centre of projection moves left
    edge = m @ np.array([math.tan(0.7), 0.0, -1.0, 1.0])
    assert edge[0] / edge[3] == pytest.approx(1.0)


def test_view_matrix_inverts_pose_matrix_and_yaw_convention():
    q = quat_from_axis_angle((0, 1, 0), 0.3)
    pos = (0.1, 1.6, -0.2)
    assert np.allclose(view_matrix(pos, q) @ pose_matrix(pos, q), np.eye(4))
    assert quat_yaw(q) == pytest.approx(0.3)  # positive yaw turns left (towards -x)
    assert quat_rotate(q, (0, 0, -1))[0] < 0
    p, r = compose(pos, q, (0.5, 0, 0), (1, 0, 0, 0))
    back, rr = relative(pos, q, p, r)
    assert np.allclose(back, (0.5, 0, 0)) and np.allclose(rr, (1, 0, 0, 0))


# -- simulated device ------------------------------------------------------------------------
def test_satisfies_backend_protocol_and_walks_session_states():
    device = SimulatedXr()
    assert isinstance(device, XrBackend)
    assert device.begin_frame() is None  # not running before the first poll
    states = [e.state for e in device.poll_events()]
    assert states == ["idle", "ready", "synchronized", "visible", "focused"]
    device.request_exit()
    assert [e.state for e in device.poll_events()] == ["visible", "synchronized", "stopping", "idle", "exiting"]
    assert device.exit_requested and device.begin_frame() is None


def test_frames_have_exact_times_eye_offsets_and_mirrored_fov():
    config = DeviceConfig(ipd=0.07, rate=90.0)
    device = running(SimulatedXr(config=config))
    times = []
    for _ in range(91):
        frame = device.begin_frame()
        times.append(frame.predicted_display_time)
        device.end_frame()
    assert times[0] == 0 and times[90] == 1_000_000_000  # no drift after a second
    assert frame.predicted_display_period == 11_111_111
    left, right = frame.eyes
    d = np.subtract(right.pose.position, left.pose.position)
    assert np.linalg.norm(d) == pytest.approx(0.07)
    # The eyes sit along the head's own x axis, whatever way the head is turned.
    assert np.allclose(d / 0.07, quat_rotate(frame.head.orientation, (1, 0, 0)))
    assert right.fov.angle_left == -left.fov.angle_right and right.fov.angle_up == left.fov.angle_up
    assert left.view_matrix().shape == (4, 4) and left.projection_matrix().shape == (4, 4)


def test_default_script_moves_head_and_presses_buttons():
    device = running(SimulatedXr())
    seen_yaw, triggers = [], []
    for _ in range(180):
        frame = device.begin_frame()
        seen_yaw.append(quat_yaw(frame.head.orientation))
        triggers.append(frame.controllers[RIGHT_HAND].buttons["trigger"])
        device.end_frame()
    assert max(seen_yaw) > 0.3 and seen_yaw[0] == pytest.approx(0.0)
    assert triggers[:90] == [0.0] * 90 and triggers[90:] == [1.0] * 90
    sample = frame.sample()
    assert set(sample) == {HEAD, LEFT_HAND, RIGHT_HAND}
    assert sample[RIGHT_HAND]["buttons"]["trigger"] == 1.0 and len(sample[HEAD]["orientation"]) == 4


def test_scenario_script_overrides_the_default_hand():
    scripted = ScriptedInput({RIGHT_HAND: [Keyframe(0.0, (1.0, 2.0, 3.0), buttons={"trigger": 1.0})]})
    script = MotionScript(overrides=scripted)
    s = script.sample(0.5)
    assert s[RIGHT_HAND]["position"] == [1.0, 2.0, 3.0] and s[RIGHT_HAND]["buttons"]["trigger"] == 1.0
    assert s[HEAD] == default_motion(0.5)[HEAD] and s[LEFT_HAND] == default_motion(0.5)[LEFT_HAND]


def test_submitted_images_are_kept_and_checked():
    device = running(SimulatedXr(config=DeviceConfig(width=8, height=4)))
    device.begin_frame()
    device.submit(0, np.zeros((4, 8, 3), np.uint8))
    with pytest.raises(XrError, match="eye needs 8x4"):
        device.submit(1, np.zeros((8, 8, 4), np.uint8))
    device.submit(1, np.full((4, 8, 4), 200, np.uint8))
    device.end_frame()
    assert device.frames_presented == 1
    assert device.last_images[0][0, 0].tolist() == [0, 0, 0, 255]
    assert device.last_images[1][0, 0].tolist() == [200] * 4
    with pytest.raises(XrError, match="no frame in progress"):
        device.submit(0, np.zeros((4, 8, 4), np.uint8))


def test_haptics_and_max_frames():
    device = running(SimulatedXr(max_frames=2))
    device.vibrate(LEFT_HAND, 0.5, 0.1, 160.0)
    with pytest.raises(XrError):
        device.vibrate("nose", 1.0, 0.1)
    for _ in range(2):
        device.begin_frame()
        device.end_frame()
    device.poll_events()
    assert device.exit_requested
    assert device.haptics[0].hand == LEFT_HAND and device.haptics[0].amplitude == 0.5


def test_eye_framebuffer_renders_with_moderngl():
    moderngl = pytest.importorskip("moderngl")
    try:
        ctx = moderngl.create_standalone_context(backend="egl")
    except Exception as exc:  # no EGL on this machine
        pytest.skip(f"no EGL context: {exc}")
    try:
        device = running(SimulatedXr(config=DeviceConfig(width=16, height=16), ctx=ctx))
        device.begin_frame()
        for eye, value in ((0, 0.25), (1, 0.75)):
            fbo = device.eye_framebuffer(eye)
            fbo.use()
            fbo.clear(value, 0.0, 0.0, 1.0)
        device.end_frame()
        assert device.last_images[0][0, 0, 0] == 64 and device.last_images[1][0, 0, 0] == 191
        device.close()
    finally:
        ctx.release()


def test_input_source_feeds_input_state_deterministically():
    def run() -> list:
        app = App(seed=1)
        source = XrInputSource(running(SimulatedXr()), kind="simulated")
        samples = []
        plugin = InputPlugin(source)
        app.add_plugin(plugin)
        plugin.listen(lambda frame, t, sample: samples.append(sample))
        app.run(frames=100)
        state = app.resource(InputState)
        assert state.device(RIGHT_HAND).button("trigger") == 1.0  # t = 99/90 s: second half
        assert state.device(HEAD).position[1] == pytest.approx(1.6)
        app.close()
        return samples

    a, b = run(), run()
    assert a == b and len(a) == 100 and a[0][HEAD]["position"] == [0.0, 1.6, 0.0]


def test_input_source_defer_end_leaves_frame_for_renderer():
    device = running(SimulatedXr(config=DeviceConfig(width=4, height=4)))
    source = XrInputSource(device, defer_end=True)
    source.sample(0.0, 0)
    assert source.open_frame is not None and device.frames_ended == 0
    for eye in (0, 1):
        device.submit(eye, np.zeros((4, 4, 4), np.uint8))
    source.end_open_frame()
    assert device.frames_presented == 1
    source.sample(1 / 90, 1)
    source.sample(2 / 90, 2)  # the open frame is ended for the renderer that did not
    assert device.frames_ended == 2 and source.frames == 3
    source.close()


def test_pose_as_sample_round_trips():
    p = Pose((1.0, 2.0, 3.0), (1.0, 0.0, 0.0, 0.0))
    assert p.as_sample() == {"position": [1.0, 2.0, 3.0], "orientation": [1.0, 0.0, 0.0, 0.0]}
    assert np.allclose(p.matrix()[:3, 3], (1, 2, 3))


def test_plugin_draws_each_eye_in_the_render_stage():
    moderngl = pytest.importorskip("moderngl")
    from vrmed.xr.plugin import XrPlugin

    try:
        ctx = moderngl.create_standalone_context(backend="egl")
    except Exception as exc:
        pytest.skip(f"no EGL context: {exc}")
    drawn = []

    def draw(app, eye, fbo):
        drawn.append((app.clock.frame, eye.index))
        assert eye.view_matrix().shape == (4, 4)
        fbo.clear(0.1 + 0.8 * eye.index, 0.0, 0.0, 1.0)

    device = running(SimulatedXr(config=DeviceConfig(width=8, height=8), ctx=ctx))
    source = XrInputSource(device)
    app = App(seed=1)
    app.add_plugin(InputPlugin(source))
    app.add_plugin(XrPlugin(source, draw))
    try:
        app.run(frames=5)
        assert drawn == [(f, e) for f in range(5) for e in (0, 1)]
        assert device.frames_presented == 5 and source.open_frame is None
        assert device.last_images[0][0, 0, 0] == 26 and device.last_images[1][0, 0, 0] == 230
    finally:
        app.close()  # closes the device through the plugin
        ctx.release()
    assert device.state == "exiting"
