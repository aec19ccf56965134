"""The OR monitor (vrmed.render.scope_monitor): the endoscope's image on a quad in the room.

Through the simulated OpenXR runtime, both submitted eye images show the scope's image (a
green sphere that only the endoscope can see: it is behind the learner) inside the monitor
quad's projected rectangle, with the monitor's stereo disparity, and the scope image is
rendered once per frame for both eyes. On the desktop the main view through the endoscope
draws no monitor; a room camera does."""

from __future__ import annotations

import math

import numpy as np
import pytest

xr = pytest.importorskip("xr")
moderngl = pytest.importorskip("moderngl")

from vrmed import App  # noqa: E402
from vrmed.components import Transform  # noqa: E402
from vrmed.components.scene.render import ActiveView, Camera, Endoscope  # noqa: E402
from vrmed.geometry import view_matrix  # noqa: E402
from vrmed.input import InputPlugin  # noqa: E402
from vrmed.render.camera import project  # noqa: E402
from vrmed.render.drawlist import DrawList  # noqa: E402
from vrmed.render.passes import render_pipeline  # noqa: E402
from vrmed.render.scope_monitor import ScopeMonitor, ScopeMonitorPass, add_scope_monitor  # noqa: E402
from vrmed.xr import HEAD, LEFT_HAND, RIGHT_HAND, DeviceConfig, MotionScript, Pose, sim  # noqa: E402
from vrmed.xr.input import XrInputSource  # noqa: E402
from vrmed.xr.openxr_backend import OpenXrBackend  # noqa: E402
from vrmed.xr.render import add_headset_rendering  # noqa: E402

SIZE = 200
SCOPE_POS = np.array([0.0, 1.0, 3.0])  # behind the learner (who looks down -z from z = 0)
TURNED = np.array([0.0, 0.0, 1.0, 0.0])  # 180 degrees about y: the scope looks down +z
GREEN_AT = np.array([0.0, 1.0, 3.12])  # 12 cm in front of the scope's lens
GREEN = (0.05, 0.9, 0.08, 1.0)


def standing() -> MotionScript:
    def motion(t: float):
        return {
            HEAD: Pose((0.0, 1.6, 0.0)).as_sample(),
            LEFT_HAND: Pose((-0.2, 1.0, -0.3)).as_sample(),
            RIGHT_HAND: Pose((0.2, 1.0, -0.3)).as_sample(),
        }

    return MotionScript(motion)


def scope_scene(app: App) -> None:
    """An endoscope looking at a green sphere that the learner cannot see directly."""
    app.register_component(Endoscope)
    app.spawn(Transform(position=SCOPE_POS, orientation=TURNED), Endoscope(fov_deg=60.0))

    def green(app: App) -> None:
        app.resource(DrawList).add_spheres(GREEN_AT[None, :], 0.03, GREEN, roughness=1.0, wetness=0.0, shadow=False)

    app.add_system(green, in_set="render.prepare", name="test.green")


def green_mask(image: np.ndarray) -> np.ndarray:
    rgb = image[:, :, :3].astype(int)
    return (rgb[:, :, 1] - np.maximum(rgb[:, :, 0], rgb[:, :, 2]) > 40) & (rgb[:, :, 1] > 60)


def test_both_eyes_see_the_scope_image_on_the_monitor_rendered_once_per_frame(manifest, gl_ctx, monkeypatch):
    monkeypatch.setenv("XR_RUNTIME_JSON", str(manifest))
    rt, _ = sim.install(standing(), DeviceConfig(ipd=0.064, width=SIZE, height=SIZE), manifest=manifest)
    rt.keep_frames = 3
    source = XrInputSource(OpenXrBackend(gl_ctx))
    source.gl_context = gl_ctx
    app = App(seed=1)
    try:
        app.add_plugin(InputPlugin(source))
        headset = add_headset_rendering(app, source)
        scope_scene(app)
        monitor = ScopeMonitor()
        monitor_pass = add_scope_monitor(app, monitor)
        assert isinstance(monitor_pass, ScopeMonitorPass) and "scope_monitor" in render_pipeline(app)
        assert add_scope_monitor(app) is monitor_pass  # once
        app.run(frames=3)
    finally:
        app.close()
    assert rt.errors == []
    assert headset.eyes_drawn == 6
    assert monitor_pass.renders == 3  # once per frame, not once per eye
    assert monitor_pass.screens == 6  # the monitor is drawn in every eye
    sub = rt.frames[-1]
    centroids = []
    centres = []
    for eye in (0, 1):
        pose = sub.poses[eye]
        vp = rt.config.eye_fov(eye).projection(0.05, 100.0) @ view_matrix(np.asarray(pose.position), pose.orientation)
        corners = project(monitor.corners(), vp, SIZE, SIZE)
        x0, y0 = corners.min(axis=0)
        x1, y1 = corners.max(axis=0)
        mask = green_mask(sub.images[eye])
        ys, xs = np.nonzero(mask)
        assert len(xs) > 15, f"eye {eye}: no scope image on the monitor"
        inside = (xs >= x0 - 1) & (xs <= x1 + 1) & (ys >= y0 - 1) & (ys <= y1 + 1)
        assert inside.all(), f"eye {eye}: green outside the monitor {x0, y0, x1, y1}"
        centroids.append(np.array([xs.mean() + 0.5, ys.mean() + 0.5]))
        centres.append(project(monitor.position, vp, SIZE, SIZE)[0])
        # the green is the scope image's centre: at the screen's centre
        assert np.allclose(centroids[-1], centres[-1], atol=2.5), (eye, centroids[-1], centres[-1])
    disparity = centroids[0][0] - centroids[1][0]
    assert disparity > 1.0  # the monitor is at 1.2 m: further right in the left eye
    assert disparity == pytest.approx(centres[0][0] - centres[1][0], abs=1.5)
    assert math.isfinite(disparity)


def test_desktop_view_through_the_scope_has_no_monitor_but_a_room_camera_does(tmp_path):
    from vrmed.render import RenderPlugin
    from vrmed.render.context import RenderUnavailable

    app = App(seed=1)
    try:
        plugin = RenderPlugin(width=160, height=120)
        app.add_plugin(plugin)
        scope_scene(app)
        monitor_pass = add_scope_monitor(app)
        try:
            app.run(frames=1)
        except RenderUnavailable as exc:
            pytest.skip(str(exc))
        assert monitor_pass.renders == 0 and monitor_pass.screens == 0  # the main view is the scope
        assert green_mask(plugin.image()).sum() > 50  # the scope itself sees the sphere
        cam = Camera(position=np.array([0.0, 1.6, 0.0]), target=np.array([0.0, 1.6, -1.2]), fov_deg=40.0)
        app.insert_resource(ActiveView(app.spawn(cam)))
        app.run(frames=1)
        assert monitor_pass.renders == 1 and monitor_pass.screens == 1
        image = plugin.image()
        assert plugin.renderer is not None
        corners = project(app.resource(ScopeMonitor).corners(), plugin.renderer.view_proj, 160, 120)
        ys, xs = np.nonzero(green_mask(image))
        assert len(xs) > 20
        assert xs.min() >= corners[:, 0].min() - 1 and xs.max() <= corners[:, 0].max() + 1
        assert ys.min() >= corners[:, 1].min() - 1 and ys.max() <= corners[:, 1].max() + 1
    finally:
        app.close()
