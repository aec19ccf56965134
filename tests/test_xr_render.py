"""The headset renders the real scene: the App's scene is drawn once per eye with each
eye's own view and asymmetric projection, in the same EGL context as the OpenXR
swapchains, and submitted to the simulated OpenXR runtime (loaded through pyopenxr's
Khronos loader, with core validation where pyopenxr ships it), which reads both eye
images back. Predictions are computed from what the runtime itself recorded (the eye
poses in the submitted layer and the device's fields of view), not from the renderer."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

xr = pytest.importorskip("xr")
moderngl = pytest.importorskip("moderngl")

from openxr_env import enable_core_validation, validation_errors  # noqa: E402

from vrmed import App  # noqa: E402
from vrmed.geometry import quat_from_axis_angle, quat_yaw, view_matrix  # noqa: E402
from vrmed.input import InputPlugin  # noqa: E402
from vrmed.render.camera import project  # noqa: E402
from vrmed.render.drawlist import DrawList  # noqa: E402
from vrmed.xr import HEAD, LEFT_HAND, RIGHT_HAND, DeviceConfig, MotionScript, Pose, sim  # noqa: E402
from vrmed.xr.input import XrInputSource, close_openxr_inputs  # noqa: E402
from vrmed.xr.openxr_backend import OpenXrBackend  # noqa: E402
from vrmed.xr.render import XrSceneRenderer, add_headset_rendering  # noqa: E402

SIZE = 160
SPHERE = np.array([0.10, 1.75, -0.60])  # in front of and slightly above the eyes (1.6 m)
RADIUS = 0.03
RED = (0.9, 0.05, 0.05, 1.0)


@pytest.fixture
def xr_env(manifest, monkeypatch, tmp_path):
    """XR_RUNTIME_JSON -> the simulated runtime, core validation logging to a file; after
    the test: no exception inside the runtime and no validation error."""
    monkeypatch.setenv("XR_RUNTIME_JSON", str(manifest))
    log = tmp_path / "validation.txt"
    layers = enable_core_validation(monkeypatch, log)
    runtimes: list[sim.SimRuntime] = []
    yield {"manifest": manifest, "layers": layers, "runtimes": runtimes}
    for rt in runtimes:
        assert rt.errors == [], rt.errors[0]
    assert validation_errors(log) == []


def head_script(yaw_deg: float, switch_at: float) -> MotionScript:
    """Head standing at 1.6 m looking down -Z, turning to ``yaw_deg`` (left) at ``switch_at`` s."""

    def motion(t: float):
        yaw = math.radians(yaw_deg) if t >= switch_at else 0.0
        return {
            HEAD: Pose((0.0, 1.6, 0.0), quat_from_axis_angle((0, 1, 0), yaw)).as_sample(),
            LEFT_HAND: Pose((-0.2, 1.0, -0.3)).as_sample(),
            RIGHT_HAND: Pose((0.2, 1.0, -0.3)).as_sample(),
        }

    return MotionScript(motion)


def one_sphere(app) -> None:
    """render.prepare: one matte red sphere at SPHERE (queued into the DrawList)."""
    app.resource(DrawList).add_spheres(SPHERE[None, :], RADIUS, RED, roughness=1.0, wetness=0.0, shadow=False)


def centroid(image: np.ndarray) -> np.ndarray:
    """Pixel centroid (x right, y down; pixel centres at +0.5) of the red sphere."""
    rgb = image[:, :, :3].astype(int)
    mask = rgb[:, :, 0] - np.maximum(rgb[:, :, 1], rgb[:, :, 2]) > 40
    ys, xs = np.nonzero(mask)
    assert len(xs) > 20, "the sphere is not in the eye image"
    return np.array([xs.mean() + 0.5, ys.mean() + 0.5])


def predicted(rt: sim.SimRuntime, submitted, eye: int, point=SPHERE, ipd_scale: float = 1.0) -> np.ndarray:
    """Where ``point`` must appear in ``eye``'s image, from the pose the runtime got in the
    layer and the device's field of view for that eye."""
    pose = submitted.poses[eye]
    pos = np.asarray(pose.position)
    if ipd_scale != 1.0:  # the same eye moved towards the head centre (for the IPD-free check)
        other = np.asarray(submitted.poses[1 - eye].position)
        pos = (pos + other) / 2 + ipd_scale * (pos - other) / 2
    vp = rt.config.eye_fov(eye).projection(0.05, 100.0) @ view_matrix(pos, pose.orientation)
    return project(point, vp, SIZE, SIZE)[0]


def run_sphere_app(xr_env, gl_ctx, script: MotionScript, frames: int) -> tuple[sim.SimRuntime, XrSceneRenderer]:
    rt, _ = sim.install(script, DeviceConfig(ipd=0.064, width=SIZE, height=SIZE), manifest=xr_env["manifest"])
    rt.keep_frames = frames
    xr_env["runtimes"].append(rt)
    source = XrInputSource(OpenXrBackend(gl_ctx, api_layers=xr_env["layers"]))
    source.gl_context = gl_ctx  # the test owns the context
    app = App(seed=1)
    try:
        app.add_plugin(InputPlugin(source))
        scene = add_headset_rendering(app, source)
        app.add_system(one_sphere, in_set="render.prepare", name="test.one_sphere")
        app.run(frames=frames)
        assert not app.resource(DrawList).spheres  # consumed once per frame, cleared after xr.present
    finally:
        app.close()
    return rt, scene


def test_left_and_right_eyes_differ_by_the_predicted_disparity(xr_env, gl_ctx):
    rt, scene = run_sphere_app(xr_env, gl_ctx, head_script(0.0, 1.0), frames=2)
    assert rt.frames_ended == 2 and scene.eyes_drawn == 4
    sub = rt.frames[-1]
    assert sub.layer_count == 1 and sub.images[0].shape == (SIZE, SIZE, 4)
    measured = {eye: centroid(sub.images[eye]) for eye in (0, 1)}
    expected = {eye: predicted(rt, sub, eye) for eye in (0, 1)}
    for eye in (0, 1):  # each eye: its own asymmetric frustum and pose
        assert np.allclose(measured[eye], expected[eye], atol=1.0), (eye, measured[eye], expected[eye])
    disparity = measured[0] - measured[1]
    assert np.allclose(disparity, expected[0] - expected[1], atol=1.0), (disparity, expected[0] - expected[1])
    # The eye offset accounts for part of that disparity (the rest is the canted fields of
    # view): without it the prediction is several pixels off, so the IPD is really rendered.
    no_ipd = predicted(rt, sub, 0, ipd_scale=0.0) - predicted(rt, sub, 1, ipd_scale=0.0)
    ipd_px = (expected[0] - expected[1])[0] - no_ipd[0]
    focal = SIZE / (math.tan(0.80) + math.tan(0.70))  # pixels per unit tangent
    assert ipd_px == pytest.approx(focal * 0.064 / 0.60, rel=0.05)  # f * IPD / depth
    assert abs(disparity[0] - no_ipd[0]) > 4.0
    # The scene really is lit and shaded (not a flat clear): background, sphere, ground.
    for eye in (0, 1):
        assert len(np.unique(sub.images[eye].reshape(-1, 4), axis=0)) > 10


def test_scripted_head_yaw_moves_the_rendered_scene(xr_env, gl_ctx):
    yaw = 10.0
    rt, _ = run_sphere_app(xr_env, gl_ctx, head_script(yaw, switch_at=3.5 / 90.0), frames=6)
    before, after = rt.frames[0], rt.frames[-1]  # frame 0 at t = 0, frame 5 at t = 5/90 s
    assert len(rt.frames) == 6 and all(f.layer_count == 1 for f in rt.frames)
    assert quat_yaw(before.poses[0].orientation) == pytest.approx(0.0, abs=1e-6)
    assert quat_yaw(after.poses[0].orientation) == pytest.approx(math.radians(yaw), abs=1e-6)
    for eye in (0, 1):
        moved = centroid(after.images[eye]) - centroid(before.images[eye])
        expect = predicted(rt, after, eye) - predicted(rt, before, eye)
        # Turning left moves the scene right in the image, by about f * (tan(a + yaw) - tan(a)).
        assert expect[0] > 10.0
        assert np.allclose(moved, expect, atol=1.5), (eye, moved, expect)


def test_drawlist_is_consumed_once_per_frame_and_drawn_in_both_eyes(xr_env, gl_ctx, monkeypatch):
    from vrmed.render.renderer import StreamedMesh

    uploads = []
    original = StreamedMesh.update
    monkeypatch.setattr(StreamedMesh, "update", lambda self, *a, **k: (uploads.append(1), original(self, *a, **k)))
    quad = np.array([[-0.2, 1.3, -1.0], [0.2, 1.3, -1.0], [0.2, 1.5, -1.0], [-0.2, 1.5, -1.0]])
    faces = np.array([[0, 1, 2], [0, 2, 3]], np.uint32)

    def green_surface(app) -> None:
        app.resource(DrawList).add_surface("quad", quad, faces, color=(0.05, 0.8, 0.05, 1.0), wetness=0.0)

    rt, _ = sim.install(head_script(0.0, 1.0), DeviceConfig(width=SIZE, height=SIZE), manifest=xr_env["manifest"])
    xr_env["runtimes"].append(rt)
    source = XrInputSource(OpenXrBackend(gl_ctx, api_layers=xr_env["layers"]))
    source.gl_context = gl_ctx
    app = App(seed=1)
    try:
        app.add_plugin(InputPlugin(source))
        add_headset_rendering(app, source)
        app.add_system(green_surface, in_set="render.prepare", name="test.green_surface")
        app.run(frames=3)
        assert app.resource(DrawList).surfaces == []
    finally:
        app.close()
    assert len(uploads) == 1 + 3  # made once (first upload), then rewritten once per frame, not per eye
    for eye in (0, 1):
        rgb = rt.frames[-1].images[eye][:, :, :3].astype(int)
        assert ((rgb[:, :, 1] - np.maximum(rgb[:, :, 0], rgb[:, :, 2])) > 60).sum() > 200


def test_without_gl_the_headset_session_runs_input_only(xr_env, monkeypatch, capsys):
    from vrmed.render import context
    from vrmed.session import build_session, make_input, open_target

    def no_gl(*args, **kwargs):
        raise context.RenderUnavailable("no EGL here")

    monkeypatch.setattr(context, "create_context", no_gl)
    pack, _ = open_target("sandbox")
    source = make_input("openxr", pack.scenario(None))
    xr_env["runtimes"].append(sim.active())
    try:
        assert isinstance(source, XrInputSource) and source.gl_context is None and source.backend.headless
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("vrmed: --input openxr: cannot render (no EGL here)")
        session = build_session(pack, None, input_source=source)  # no XrPlugin: input only
        try:
            assert session.run(frames=3) == 3
        finally:
            session.close()
    finally:
        source.close()
    rt = sim.active()
    assert rt.frames_ended == 3 and rt.frames[-1].layer_count == 0


def test_cli_run_sandbox_renders_both_eyes_into_the_simulated_runtime(xr_env, tmp_path):
    from click.testing import CliRunner
    from PIL import Image

    from vrmed.cli import cli

    frames = 6
    capture = tmp_path / "frames"
    try:
        result = CliRunner().invoke(
            cli,
            [
                "run",
                "sandbox",
                "--input",
                "openxr",
                "--headless",
                "--frames",
                str(frames),
                "--json",
                "--capture",
                str(capture),
            ],
            catch_exceptions=False,
        )
    finally:
        close_openxr_inputs()  # the loader allows one XrInstance per process
    rt = sim.active()
    xr_env["runtimes"].append(rt)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[result.output.index("{") :])
    assert data["input"] == "openxr" and data["frames"] == frames
    assert rt.frames_ended == frames and len(rt.frames) == frames
    for sub in rt.frames:
        assert sub.layer_count == 1 and set(sub.images) == {0, 1}
        for eye in (0, 1):  # not one clear colour: the lit floor, and the sandbox's red balls on it
            image = sub.images[eye].astype(int)
            assert len(np.unique(image.reshape(-1, 4), axis=0)) > 5
            assert ((image[:, :, 0] - image[:, :, 2]) > 40).sum() > 10  # the default head looks down at them
        assert not np.array_equal(sub.images[0], sub.images[1])
    # The desktop capture shares the headset's GL context and still sees the DrawList (the
    # balls), which xr.present clears after drawing it into both eyes.
    pngs = sorted(capture.glob("frame_*.png"))
    assert len(pngs) == frames
    rgb = np.asarray(Image.open(pngs[-1]).convert("RGB")).astype(int)
    assert ((rgb[:, :, 0] - rgb[:, :, 2]) > 60).sum() > 20  # red balls are drawn
