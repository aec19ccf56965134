"""Single-pass (instanced) stereo draws the same eye images as two per-eye scene passes,
through the simulated OpenXR runtime; plus the VisualMesh material/shadow props and quiet
OBJ loading (renderer polish)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

xr = pytest.importorskip("xr")
moderngl = pytest.importorskip("moderngl")

from test_xr_render import head_script, xr_env  # noqa: E402, F401

from vrmed import App  # noqa: E402
from vrmed.components import Transform, VisualMesh  # noqa: E402
from vrmed.input import InputPlugin  # noqa: E402
from vrmed.render.drawlist import DrawList  # noqa: E402
from vrmed.xr import DeviceConfig, sim  # noqa: E402
from vrmed.xr.input import XrInputSource  # noqa: E402
from vrmed.xr.openxr_backend import OpenXrBackend  # noqa: E402
from vrmed.xr.render import add_headset_rendering  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CART = ROOT / "content" / "emergency" / "assets" / "crash_cart.obj"
W, H = 192, 160


def scene(app) -> None:
    """render.prepare: spheres, capsules and a streamed surface, in front of the head."""
    draws = app.resource(DrawList)
    draws.add_spheres(np.array([[0.1, 1.55, -0.7], [-0.15, 1.45, -0.9]]), 0.05, (0.9, 0.1, 0.1, 1.0))
    draws.add_capsules(np.array([[-0.3, 1.3, -0.8]]), np.array([[0.2, 1.7, -1.0]]), 0.015, (0.7, 0.72, 0.75, 1.0))
    t = app.clock.frame * 0.01
    quad = np.array([[-0.2, 1.2 + t, -1.1], [0.2, 1.2, -1.1], [0.2, 1.4, -1.2], [-0.2, 1.4, -1.1]])
    draws.add_surface("quad", quad, np.array([[0, 1, 2], [0, 2, 3]], np.uint32), color=(0.1, 0.7, 0.2, 1.0))


def render(xr_env, gl_ctx, single_pass: bool, frames: int = 2) -> list[np.ndarray]:  # noqa: F811
    rt, _ = sim.install(head_script(0.0, 1.0), DeviceConfig(ipd=0.064, width=W, height=H), manifest=xr_env["manifest"])
    rt.keep_frames = frames
    xr_env["runtimes"].append(rt)
    source = XrInputSource(OpenXrBackend(gl_ctx, api_layers=xr_env["layers"]))
    source.gl_context = gl_ctx
    app = App(seed=1)
    try:
        app.add_plugin(InputPlugin(source))
        renderer = add_headset_rendering(app, source, single_pass=single_pass)
        assert renderer.single_pass is single_pass
        app.spawn(Transform(position=np.array([0.4, 0.0, -1.6])), VisualMesh(mesh=str(CART)))
        app.add_system(scene, in_set="render.prepare", name="test.stereo_scene")
        app.run(frames=frames)
        assert renderer.eyes_drawn == 2 * frames
    finally:
        app.close()
    return [np.array(img[:, :, :3], np.int16) for img in (rt.frames[-1].images[0], rt.frames[-1].images[1])]


def test_single_pass_stereo_matches_per_eye(xr_env, gl_ctx):  # noqa: F811
    single = render(xr_env, gl_ctx, True)
    per_eye = render(xr_env, gl_ctx, False)
    for eye in (0, 1):
        a, b = single[eye], per_eye[eye]
        assert a.shape == (H, W, 3)
        assert len(np.unique(a.reshape(-1, 3), axis=0)) > 50  # a real, shaded scene
        diff = np.abs(a - b).max(axis=2)
        # Same shading: geometry-shader rasterisation may differ along a few MSAA edges only.
        assert np.mean(diff > 8) < 0.01, (eye, np.mean(diff > 8))
        assert np.mean(diff) < 1.0, (eye, np.mean(diff))
    # The eyes really differ (each half got its own view), in both paths.
    assert np.abs(single[0] - single[1]).max(axis=2).mean() > 1.0


def test_auto_selects_single_pass_on_gl_with_geometry_shaders(gl_ctx):  # noqa: F811
    from vrmed.xr.render import XrSceneRenderer

    software = "llvmpipe" in gl_ctx.info["GL_RENDERER"].lower()
    assert XrSceneRenderer(gl_ctx).single_pass is (gl_ctx.version_code >= 320 and not software)
    assert XrSceneRenderer(gl_ctx, single_pass=True).single_pass is True
    assert XrSceneRenderer(gl_ctx, single_pass=False).single_pass is False


def test_visual_mesh_material_and_shadow_props():
    vis = VisualMesh(mesh=str(CART))
    assert vis.roughness is None and vis.wetness == 0.0 and vis.shadow is True  # dry by default
    vis = VisualMesh(mesh=str(CART), roughness=0.2, wetness=0.6, shadow=False)
    assert (vis.roughness, vis.wetness, vis.shadow) == (0.2, 0.6, False)
    with pytest.raises(ValueError):
        VisualMesh(mesh=str(CART), wetness=1.5)


def test_loading_an_obj_is_quiet(capfd, caplog):
    from vrmed.render.meshes import load_mesh_file

    caplog.set_level(logging.DEBUG)
    mesh = load_mesh_file(CART)
    assert len(mesh.faces) > 0 and np.allclose(np.linalg.norm(mesh.normals, axis=1), 1.0, atol=1e-4)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert [r for r in caplog.records if r.levelno >= logging.WARNING or "scipy" in r.getMessage()] == []


def test_large_mesh_shadow_is_a_footprint_not_a_black_puddle(gl_ctx):  # noqa: F811
    from vrmed.components.scene.render import Camera
    from vrmed.render.meshes import load_mesh_file
    from vrmed.render.renderer import Renderer

    r = Renderer(gl_ctx, 160, 120)
    try:
        mesh = r.static_mesh(load_mesh_file(CART))
        cam = Camera(position=(0.0, 2.5, 2.5), target=(0.0, 0.0, 0.0), fov_deg=60.0)
        r.begin(cam)
        r.end()
        bare = r.read().astype(float).mean()
        model = np.eye(4)
        model[0, 3] = 5.0  # off screen: only its shadow could show
        r.begin(cam)
        r.draw_mesh(mesh, model)
        r.end()
        assert r.read().astype(float).mean() > 0.9 * bare  # no floor-wide darkening far from it
        mesh.release()
    finally:
        r.release()
