"""OpenXR for real: pyopenxr's Khronos loader loads the simulated runtime (vrmed.xr.sim)
through its manifest and C shim, with the Khronos core validation layer enabled, and the
vrmed OpenXR backend runs headless and with GL swapchains against it."""

from __future__ import annotations

import ctypes
import json
import math
from pathlib import Path

import numpy as np
import pytest

xr = pytest.importorskip("xr")

from openxr_env import VALIDATION_LAYER, enable_core_validation, validation_errors  # noqa: E402

from vrmed.geometry import quat_from_axis_angle, quat_rotate, quat_yaw  # noqa: E402
from vrmed.session import build_session, make_input, open_target  # noqa: E402
from vrmed.xr import (  # noqa: E402
    HEAD,
    LEFT_HAND,
    RIGHT_HAND,
    DeviceConfig,
    MotionScript,
    Pose,
    XrUnavailable,
    sim,  # noqa: E402
)
from vrmed.xr.input import XrInputSource, close_openxr_inputs  # noqa: E402
from vrmed.xr.openxr_backend import OpenXrBackend  # noqa: E402


class XrEnv:
    """Per-test environment: the runtime manifest and (when shipped) core validation."""

    def __init__(self, manifest: Path, log: Path, layers: tuple[str, ...]) -> None:
        self.manifest = manifest
        self.log = log
        self.layers = layers
        self.runtimes: list[sim.SimRuntime] = []

    def runtime(self, script: MotionScript | None = None, config: DeviceConfig | None = None) -> sim.SimRuntime:
        rt, _ = sim.install(script, config, manifest=self.manifest)
        self.runtimes.append(rt)
        return rt

    def backend(self, ctx=None) -> OpenXrBackend:
        return OpenXrBackend(ctx, api_layers=self.layers)

    def validation_errors(self) -> list[str]:
        return validation_errors(self.log)


@pytest.fixture
def xr_env(manifest, monkeypatch, tmp_path):
    """XR_RUNTIME_JSON -> the simulated runtime; core validation logging to a file. After the
    test: no runtime bug (exception inside an entry point) and no validation error."""
    monkeypatch.setenv("XR_RUNTIME_JSON", str(manifest))
    log = tmp_path / "validation.txt"
    env = XrEnv(manifest, log, enable_core_validation(monkeypatch, log))
    yield env
    for rt in env.runtimes:
        assert rt.errors == [], rt.errors[0]
    assert env.validation_errors() == []


def yaw_script(rate: float) -> MotionScript:
    """Head turning at ``rate`` rad/s about +Y from a standing pose; hands still."""

    def motion(t: float):
        head = Pose((0.0, 1.6, 0.0), quat_from_axis_angle((0, 1, 0), rate * t))
        return {
            HEAD: head.as_sample(),
            LEFT_HAND: {**Pose((-0.2, 1.0, -0.3)).as_sample(), "buttons": {"squeeze": 0.75}},
            RIGHT_HAND: {
                **Pose((0.2, 1.0, -0.3)).as_sample(),
                "buttons": {"trigger": 1.0 if t >= 0.5 else 0.0, "thumbstick_x": -0.5},
            },
        }

    return MotionScript(motion)


def draw_pose_colours(frame, backend) -> None:
    """Clear each eye to a colour encoding its pose: red = 0.5 + yaw/2, green = 0.5 + 5 x."""
    for eye in frame.eyes:
        fbo = backend.eye_framebuffer(eye.index)
        fbo.use()
        fbo.clear(0.5 + quat_yaw(eye.pose.orientation) / 2, 0.5 + 5 * eye.pose.position[0], eye.index, 1.0)


def start(backend: OpenXrBackend) -> list[str]:
    states = [e.state for e in backend.poll_events() if e.kind == "state"]
    assert backend.running
    return states


# -- loader, negotiation, validation ------------------------------------------------------------
def test_manifest_and_shim_export_only_the_negotiate_entry(manifest):
    data = json.loads(manifest.read_text())
    assert data["file_format_version"] == "1.0.0" and data["runtime"]["name"] == sim.RUNTIME_NAME
    lib = ctypes.CDLL(data["runtime"]["library_path"])
    assert hasattr(lib, "xrNegotiateLoaderRuntimeInterface") and hasattr(lib, "vrmed_xr_sim_install")
    assert not hasattr(lib, "xrGetInstanceProcAddr")  # never interposes on the loader's own symbols


def test_validation_layer_is_shipped_and_active(xr_env):
    if not xr_env.layers:
        pytest.skip("pyopenxr does not ship the core validation layer on this platform")
    rt = xr_env.runtime()
    names = [p.layer_name.decode() for p in xr.enumerate_api_layer_properties()]
    assert VALIDATION_LAYER in names
    backend = xr_env.backend()
    try:
        # A wrongly typed struct never reaches the runtime: the layer rejects and logs it.
        calls = rt.calls["xrCreateReferenceSpace"]
        info = xr.ReferenceSpaceCreateInfo()
        info._type = xr.StructureType.SESSION_BEGIN_INFO.value
        space = xr.Space()
        result = xr.raw_functions.xrCreateReferenceSpace(backend.session, ctypes.byref(info), ctypes.byref(space))
        assert result == xr.Result.ERROR_VALIDATION_FAILURE
        assert rt.calls["xrCreateReferenceSpace"] == calls
        assert any("VUID-XrReferenceSpaceCreateInfo-type-type" in e for e in xr_env.validation_errors())
        xr_env.log.unlink()  # the provoked error is expected; anything else fails the test
    finally:
        backend.close()


def test_headless_session_states_times_and_poses(xr_env):
    config = DeviceConfig(ipd=0.064, rate=90.0)
    rt = xr_env.runtime(yaw_script(1.0), config)
    backend = xr_env.backend()
    assert backend.headless
    assert start(backend) == ["idle", "ready", "synchronized", "visible", "focused"]
    frames = []
    for _ in range(46):
        frames.append(backend.begin_frame())
        backend.end_frame()
    assert [f.predicted_display_time for f in frames[:3]] == [
        sim.EPOCH_NS,
        sim.EPOCH_NS + 11_111_111,
        sim.EPOCH_NS + 22_222_222,
    ]
    assert not frames[0].should_render  # headless sessions never render
    f = frames[45]
    t = (f.predicted_display_time - sim.EPOCH_NS) / 1e9
    assert t == pytest.approx(0.5)
    assert quat_yaw(f.head.orientation) == pytest.approx(0.5, abs=1e-5)
    left, right = f.eyes
    offset = np.subtract(right.pose.position, left.pose.position)
    assert np.allclose(offset, np.multiply(quat_rotate(f.head.orientation, (1, 0, 0)), 0.064), atol=1e-6)
    assert left.fov.angle_left == pytest.approx(-0.8) and right.fov.angle_right == pytest.approx(0.8)
    assert f.controllers[RIGHT_HAND].pose.position == pytest.approx((0.2, 1.0, -0.3))
    assert f.controllers[RIGHT_HAND].buttons["trigger"] == 1.0  # pressed from t = 0.5 s
    assert frames[0].controllers[RIGHT_HAND].buttons["trigger"] == 0.0
    assert f.controllers[RIGHT_HAND].buttons["thumbstick_x"] == pytest.approx(-0.5)
    assert f.controllers[LEFT_HAND].buttons["squeeze"] == pytest.approx(0.75)
    assert rt.frames_ended == 46 and rt.frames[-1].layer_count == 0
    backend.request_exit()
    assert [e.state for e in backend.poll_events()] == ["visible", "synchronized", "stopping", "idle", "exiting"]
    assert backend.exit_requested and backend.begin_frame() is None
    backend.close()


def test_gl_swapchains_show_what_each_eye_rendered(xr_env, gl_ctx):
    config = DeviceConfig(ipd=0.064, width=32, height=24)
    rt = xr_env.runtime(yaw_script(0.8), config)
    backend = xr_env.backend(gl_ctx)
    start(backend)
    decoded = []
    for _ in range(46):
        frame = backend.begin_frame()
        assert frame.should_render and (frame.eyes[0].width, frame.eyes[0].height) == (32, 24)
        draw_pose_colours(frame, backend)
        backend.end_frame()
        submitted = rt.frames[-1]
        assert submitted.display_time == frame.predicted_display_time and submitted.layer_count == 1
        assert submitted.images[0].shape == (24, 32, 4)
        for eye in (0, 1):  # the layer carries the pose the runtime reported for the eye
            assert np.allclose(submitted.poses[eye].position, frame.eyes[eye].pose.position)
        decoded.append({eye: submitted.images[eye][12, 16].astype(float) / 255 for eye in (0, 1)})
    # Left and right differ exactly by the eye offset along x (green channel, 1/255 steps).
    for n, frame_yaw in ((0, 0.0), (45, 0.4)):
        half = 0.032 * math.cos(frame_yaw)
        for eye, sign in ((0, -1), (1, 1)):
            assert (decoded[n][eye][1] - 0.5) / 5 == pytest.approx(sign * half, abs=1e-3)
        assert decoded[n][1][2] == 1.0 and decoded[n][0][2] == 0.0  # eye index in blue
    # The scripted head turn changes what was submitted: red encodes the yaw.
    assert (decoded[0][0][0] - 0.5) * 2 == pytest.approx(0.0, abs=0.01)
    assert (decoded[45][0][0] - 0.5) * 2 == pytest.approx(0.4, abs=0.01)
    backend.close()


def test_numpy_submission_round_trips_top_row_first(xr_env, gl_ctx):
    rt = xr_env.runtime(config=DeviceConfig(width=8, height=6))
    backend = xr_env.backend(gl_ctx)
    start(backend)
    image = np.zeros((6, 8, 4), np.uint8)
    image[0] = (255, 0, 0, 255)  # top row red
    image[1:] = (0, 0, 255, 255)
    backend.begin_frame()
    backend.submit(0, image)
    backend.submit(1, image[:, :, :3])
    backend.end_frame()
    assert np.array_equal(rt.frames[-1].images[0], image)
    assert np.array_equal(rt.frames[-1].images[1], image)
    # A moderngl texture in the app's context is copied on the GPU.
    tex = gl_ctx.texture((8, 6), 4, np.ascontiguousarray(image[::-1]).tobytes())
    backend.begin_frame()
    backend.submit(0, tex)
    backend.submit(1, tex)
    backend.end_frame()
    assert np.array_equal(rt.frames[-1].images[1], image)
    tex.release()
    backend.close()


def test_runtime_restores_gl_state(xr_env, gl_ctx):
    from vrmed.xr.egl import GL, GL_ACTIVE_TEXTURE, GL_TEXTURE0, GL_TEXTURE_BINDING_2D

    xr_env.runtime(config=DeviceConfig(width=4, height=4))
    gl = GL()
    a = gl_ctx.texture((2, 2), 4)
    b = gl_ctx.texture((2, 2), 4)
    a.use(0)
    b.use(3)  # leaves texture unit 3 active

    def state():
        unit = gl._get(GL_ACTIVE_TEXTURE)
        gl.glActiveTexture(GL_TEXTURE0)
        unit0 = gl._get(GL_TEXTURE_BINDING_2D)
        gl.glActiveTexture(GL_TEXTURE0 + 3)
        unit3 = gl._get(GL_TEXTURE_BINDING_2D)
        gl.glActiveTexture(unit)
        return unit, unit0, unit3

    before = state()
    assert before == (GL_TEXTURE0 + 3, a.glo, b.glo)
    backend = xr_env.backend(gl_ctx)  # creates swapchain textures
    start(backend)
    assert state() == before
    frame = backend.begin_frame()
    for eye in frame.eyes:
        backend.submit(eye.index, np.zeros((4, 4, 4), np.uint8))
    a.use(0)
    b.use(3)
    backend.end_frame()  # reads the images back
    assert state() == before
    backend.close()


def test_haptics_reach_the_runtime(xr_env):
    rt = xr_env.runtime()
    backend = xr_env.backend()
    start(backend)
    backend.begin_frame()
    backend.vibrate(LEFT_HAND, 0.25, 0.05, 200.0)
    backend.vibrate(RIGHT_HAND, 1.0, 0.5)
    backend.end_frame()
    assert [(h.kind, h.hand, h.amplitude, h.duration_ns, h.frequency) for h in rt.haptics] == [
        ("vibrate", LEFT_HAND, 0.25, 50_000_000, 200.0),
        ("vibrate", RIGHT_HAND, 1.0, 500_000_000, 0.0),
    ]
    backend.close()


def test_errors_are_results_never_success(xr_env):
    def broken(t):
        raise RuntimeError("script bug")

    rt = xr_env.runtime(MotionScript(broken))
    backend = xr_env.backend()
    start(backend)
    with pytest.raises(xr.RuntimeFailureError):
        backend.begin_frame()  # xrLocateViews evaluates the script
    assert len(rt.errors) == 1 and "script bug" in rt.errors[0]
    rt.errors.clear()
    # Two-call enumeration: capacity 0 gives the count, too small a capacity fails.
    count = ctypes.c_uint32(0)
    fn = xr.raw_functions.xrEnumerateViewConfigurationViews
    stereo = xr.ViewConfigurationType.PRIMARY_STEREO.value
    assert fn(backend.instance, backend.system, stereo, 0, ctypes.byref(count), None) == 0 and count.value == 2
    views = (xr.ViewConfigurationView * 1)(xr.ViewConfigurationView())
    assert (
        fn(backend.instance, backend.system, stereo, 1, ctypes.byref(count), views)
        == xr.Result.ERROR_SIZE_INSUFFICIENT.value
    )
    with pytest.raises(xr.SystemInvalidError):
        xr.get_system_properties(backend.instance, 99)
    with pytest.raises(xr.SessionNotStoppingError):
        xr.end_session(backend.session)  # still focused: the state machine refuses
    backend._frame = None
    backend.close()


def test_input_source_runs_the_sandbox_through_openxr(xr_env, monkeypatch):
    pack, _ = open_target("sandbox")
    source = make_input("openxr", pack.scenario(None))
    assert isinstance(source, XrInputSource) and source.kind == "openxr"
    rt = sim.active()
    xr_env.runtimes.append(rt)
    session = build_session(pack, None, input_source=source)
    try:
        # 2.5 s of the 6 s scenario: the scripted trigger is pulled at 1.5 s and the hand
        # pokes balls from then on; every frame still goes through the runtime (90 Hz).
        session.run(seconds=2.5)
        pokes = session.event_counts().get("BallPoked", 0)
        log = session.finish()
    finally:
        session.close()
        source.close()
    assert pokes > 0  # the scenario's scripted trigger reached the app as an OpenXR action
    assert rt.frames_ended == 225  # 2.5 s at the headset's 90 Hz
    frame = log.inputs[200]["data"]
    assert frame[RIGHT_HAND]["buttons"]["trigger"] == 1.0 and frame[HEAD]["position"][1] == pytest.approx(1.6)


def test_cli_run_with_openxr_input(xr_env, tmp_path):
    from click.testing import CliRunner

    from vrmed.cli import cli

    log = tmp_path / "s.jsonl"
    try:
        result = CliRunner().invoke(
            cli,
            ["run", "sandbox", "--headless", "--input", "openxr", "--frames", "30", "--json", "--record", str(log)],
            catch_exceptions=False,
        )
    finally:
        close_openxr_inputs()  # the loader allows one XrInstance per process
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[result.output.index("{") :])
    assert data["input"] == "openxr" and data["frames"] == 30
    xr_env.runtimes.append(sim.active())
    replay = CliRunner().invoke(cli, ["replay", str(log)], catch_exceptions=False)
    assert replay.exit_code == 0 and "replay OK" in replay.output


def test_cli_comfort_options_reach_the_session(xr_env, tmp_path):
    from click.testing import CliRunner

    from vrmed.cli import cli
    from vrmed.recording import SessionLog

    log = tmp_path / "s.jsonl"
    try:
        result = CliRunner().invoke(
            cli,
            [
                "run",
                "sandbox",
                "--headless",
                "--input",
                "openxr",
                "--frames",
                "20",
                "--reference",
                "seated",
                "--snap-turn",
                "0",
                "--vignette",
                "0",
                "--refresh-hz",
                "72",
                "--record",
                str(log),
            ],
            catch_exceptions=False,
        )
    finally:
        close_openxr_inputs()
    xr_env.runtimes.append(sim.active())
    assert result.exit_code == 0, result.output
    footer = SessionLog.read(log).footer
    assert footer["target_hz"] == 72.0 and footer["timed_frames"] == 20
    bad = CliRunner().invoke(cli, ["run", "sandbox", "--headless", "--input", "openxr", "--vignette", "2"])
    assert bad.exit_code == 2  # out of range: a usage error, before any runtime is touched


def test_no_runtime_prints_one_line_and_falls_back(monkeypatch, tmp_path, capsys):
    from vrmed.xr.openxr_backend import active_runtime_manifest

    monkeypatch.delenv("XR_RUNTIME_JSON", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path))
    if active_runtime_manifest() is not None:
        pytest.skip("this machine has a system-wide OpenXR runtime")
    pack, _ = open_target("sandbox")
    scenario = pack.scenario(None)
    source = make_input("openxr", scenario)
    assert source is scenario.scripted_input
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1 and "no OpenXR runtime is configured" in err[0] and "falling back to --input scripted" in err[0]
    )
    # The command line carries on headless with the scripted hand.
    from click.testing import CliRunner

    from vrmed.cli import cli

    result = CliRunner().invoke(
        cli, ["run", "sandbox", "--headless", "--input", "openxr", "--frames", "3", "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0
    lines = [ln for ln in result.output.splitlines() if "--input openxr" in ln]
    assert len(lines) == 1 and lines[0].startswith("vrmed: --input openxr: no OpenXR runtime is configured")


def test_runtime_that_fails_to_load_is_reported_in_one_line(xr_env, monkeypatch, tmp_path, capfd):
    bad = tmp_path / "broken.json"
    bad.write_text(
        json.dumps(
            {
                "file_format_version": "1.0.0",
                "runtime": {"name": "broken", "library_path": str(tmp_path / "missing.so")},
            }
        )
    )
    monkeypatch.setenv("XR_RUNTIME_JSON", str(bad))
    with pytest.raises(XrUnavailable, match="broken.json.*missing.so"):
        OpenXrBackend()
    # The shim without its Python side (uninstalled) refuses negotiation cleanly too.
    monkeypatch.setenv("XR_RUNTIME_JSON", str(xr_env.manifest))
    sim.uninstall(xr_env.manifest)
    with pytest.raises(XrUnavailable, match="cannot be loaded"):
        OpenXrBackend()
    assert capfd.readouterr().err == ""  # the loader's own stderr lines were captured


def test_plugin_presents_app_frames_through_openxr(xr_env, gl_ctx):
    from vrmed import App
    from vrmed.input import InputPlugin, InputState
    from vrmed.xr.plugin import XrPlugin

    rt = xr_env.runtime(yaw_script(1.0), DeviceConfig(width=16, height=16))
    source = XrInputSource(xr_env.backend(gl_ctx))

    def draw(app, eye, fbo):
        fbo.clear(0.5 + quat_yaw(eye.pose.orientation) / 2, 0.0, 0.0, 1.0)

    app = App(seed=1)
    app.add_plugin(InputPlugin(source))
    app.add_plugin(XrPlugin(source, draw))
    try:
        app.run(frames=46)
        assert rt.frames_ended == 46 and rt.frames[-1].layer_count == 1
        # Frame 45 was predicted for t = 0.5 s: the head had turned 0.5 rad.
        red = rt.frames[-1].images[0][8, 8, 0] / 255
        assert (red - 0.5) * 2 == pytest.approx(0.5, abs=0.01)
        assert app.resource(InputState).device(RIGHT_HAND).button("trigger") == 1.0
    finally:
        app.close()
