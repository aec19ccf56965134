"""Laparoscope view and instanced instrument shafts: pixel tests on a shared EGL context.

The endoscope tests put a small ball in front of the scope and check where it lands in
the image against the pinhole prediction (offset = f_px tan(angle), f_px = (H/2) /
tan(fov/2)); the capsule tests check silhouettes against projected end points and that a
batch is a single draw call.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from vrmed import App
from vrmed.components import Transform
from vrmed.components.scene.render import ActiveView, Camera, Endoscope
from vrmed.errors import VrmedError
from vrmed.render import DrawList
from vrmed.render.camera import endoscope_camera, project, view_projection

W, H = 160, 120
FOV = 70.0
F_PX = (H / 2) / math.tan(math.radians(FOV) / 2)  # focal length in pixels (~85.7)
SCOPE_POS = np.array([0.0, 0.20, 0.30])
BALL_R = 0.004


@pytest.fixture(scope="module")
def renderer(ctx):
    """160 x 120, no MSAA, no ground (exact silhouettes)."""
    from vrmed.render import Renderer

    r = Renderer(ctx, W, H, samples=0, ground=False)
    yield r
    r.release()


def quat(axis: tuple[float, float, float], deg: float) -> np.ndarray:
    """Unit quaternion (w, x, y, z) of a rotation by ``deg`` about ``axis``."""
    a = np.asarray(axis, float) / np.linalg.norm(axis)
    h = math.radians(deg) / 2
    return np.r_[math.cos(h), math.sin(h) * a]


def qmul(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Quaternion product p q (apply q, then p)."""
    w1, x1, y1, z1 = p
    w2, x2, y2, z2 = q
    return np.array(
        [
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ]
    )


def ball_centroid(r, camera: Camera, centre: np.ndarray) -> tuple[float, float]:
    """Render a small white ball; the (x, y) pixel centroid of its coverage."""
    r.begin(camera)
    r.end()
    empty = r.read().astype(int).copy()
    r.begin(camera)
    r.draw_spheres(np.asarray(centre)[None, :], BALL_R, (1, 1, 1, 1))
    r.end()
    rows, cols = np.nonzero((r.read().astype(int) != empty).any(axis=2))
    assert len(rows) > 5, "the ball is not in view"
    return cols.mean() + 0.5, rows.mean() + 0.5


def test_straight_scope_centres_what_is_in_front_of_it(renderer):
    """A 0 degree scope (identity pose: shaft along -z) sees a ball 8 cm down its shaft at
    the image centre, with the 70 degree default field of view."""
    scope = Endoscope()
    assert scope.fov_deg == FOV
    cam = endoscope_camera(SCOPE_POS, np.array([1.0, 0, 0, 0]), scope)
    x, y = ball_centroid(renderer, cam, SCOPE_POS + [0, 0, -0.08])
    assert abs(x - W / 2) <= 0.5 and abs(y - H / 2) <= 0.5


@pytest.mark.parametrize("yaw", [-20.0, 15.0])
def test_turning_the_scope_moves_the_object_as_projected(renderer, yaw):
    """Yawing the scope by a about world +y (shaft turns towards -x for a > 0) moves a fixed
    ball by f_px tan(a) pixels to the right (and not vertically)."""
    ball = SCOPE_POS + [0, 0, -0.08]
    cam = endoscope_camera(SCOPE_POS, quat((0, 1, 0), yaw), Endoscope())
    x, y = ball_centroid(renderer, cam, ball)
    assert abs(x - (W / 2 + F_PX * math.tan(math.radians(yaw)))) <= 0.75
    assert abs(y - H / 2) <= 0.5


def test_thirty_degree_scope_looks_away_from_the_light_post_and_sweeps_when_rolled(renderer):
    """A 30 degree scope with its light post up (+y) looks 30 degrees down: a ball on its
    view axis is centred, a ball on the shaft axis appears f_px tan(30) above the centre.
    Rolling the scope 180 degrees about its shaft turns the view 30 degrees up."""
    scope = Endoscope(angle_deg=30.0)
    d, a = 0.08, math.radians(30.0)
    down = SCOPE_POS + d * np.array([0.0, -math.sin(a), -math.cos(a)])
    up = SCOPE_POS + d * np.array([0.0, math.sin(a), -math.cos(a)])
    cam = endoscope_camera(SCOPE_POS, np.array([1.0, 0, 0, 0]), scope)
    x, y = ball_centroid(renderer, cam, down)
    assert abs(x - W / 2) <= 0.5 and abs(y - H / 2) <= 0.5
    x, y = ball_centroid(renderer, cam, SCOPE_POS + [0, 0, -d])
    assert abs(x - W / 2) <= 0.5 and abs(y - (H / 2 - F_PX * math.tan(a))) <= 0.75

    rolled = endoscope_camera(SCOPE_POS, quat((0, 0, 1), 180.0), scope)
    x, y = ball_centroid(renderer, rolled, up)
    assert abs(x - W / 2) <= 0.5 and abs(y - H / 2) <= 0.5


def test_scope_camera_math_offset_horizon_and_in_place_update():
    """tip_offset moves the lens along the shaft; keep_horizon keeps world +y as image up
    when the scope rolls; passing ``out`` rewrites one Camera in place."""
    roll90 = quat((0, 0, 1), 90.0)  # light post turned to -x
    scope = Endoscope(angle_deg=30.0, tip_offset=0.25)
    cam = endoscope_camera(SCOPE_POS, roll90, scope)
    assert np.allclose(cam.position, SCOPE_POS + [0, 0, -0.25])
    view = cam.target - cam.position
    assert np.allclose(view, [math.sin(math.radians(30)), 0, -math.cos(math.radians(30))], atol=1e-9)
    assert np.allclose(cam.up, [-math.cos(math.radians(30)), 0, -math.sin(math.radians(30))], atol=1e-9)
    level = endoscope_camera(SCOPE_POS, roll90, Endoscope(angle_deg=30.0, keep_horizon=True))
    assert np.allclose(level.up, [0, 1, 0])
    out = Camera()
    ids = (id(out.position), id(out.target), id(out.up))
    assert endoscope_camera(SCOPE_POS, roll90, scope, out) is out
    assert (id(out.position), id(out.target), id(out.up)) == ids
    assert np.allclose(out.position, cam.position) and out.fov_deg == FOV
    with pytest.raises(ValueError):
        Endoscope(angle_deg=95.0)


def test_plugin_watches_the_active_scope_and_switches_views(ctx):
    """With an active Endoscope on a tool entity the plugin renders from its lens; an
    ActiveView naming the room Camera switches to it; a bad selection is a VrmedError."""
    from vrmed.render import RenderPlugin

    plugin = RenderPlugin(W, H, context=ctx, samples=0, ground=False)
    app = App(seed=0)
    app.add_plugin(plugin)
    tool = app.spawn(Transform(position=SCOPE_POS.copy(), orientation=quat((0, 1, 0), 10.0)), Endoscope(angle_deg=30.0))
    room = app.spawn(Camera(position=np.array([0.0, 0.5, 1.0]), target=np.zeros(3)))
    ball = SCOPE_POS + [0, 0, -0.08]
    app.add_system(
        lambda a: a.resource(DrawList).add_spheres(ball[None, :], BALL_R, (1, 1, 1, 1)),
        in_set="render.prepare",
        name="test.ball",
    )
    try:
        app.step(1)
        expected = endoscope_camera(SCOPE_POS, quat((0, 1, 0), 10.0), Endoscope(angle_deg=30.0))
        assert np.allclose(plugin.renderer.camera.position, expected.position)
        assert np.allclose(plugin.renderer.view_proj, view_projection(expected, W / H))
        img = plugin.image()
        px, py = project(ball, plugin.renderer.view_proj, W, H)[0].astype(int)
        assert img[py, px].min() > 150  # the ball, seen through the scope

        app.insert_resource(ActiveView(room))
        app.step(1)
        assert plugin.renderer.camera is app.get(room, Camera)
        app.resource(ActiveView).entity = tool
        app.step(1)
        assert np.allclose(plugin.renderer.camera.position, expected.position)
        app.resource(ActiveView).entity = 987654
        with pytest.raises(VrmedError, match="987654"):
            app.step(1)
    finally:
        app.close()


FRONT = Camera(position=np.array([0.0, 0.0, 2.0]), target=np.zeros(3), fov_deg=45.0, near=0.05, far=20.0)


def test_capsule_batch_is_one_draw_with_projected_silhouettes(renderer):
    """Three capsules in one call are one draw call, each in its own colour. A capsule is
    the convex hull of its two end spheres, so its image is the hull of theirs: it covers
    every pixel of the end spheres drawn alone (but <= 2 % edge pixels), its bounding
    box is theirs (<= 1 px), and its middle is covered."""
    a = np.array([[-0.6, 0.3, 0.0], [-0.5, -0.45, 0.1], [0.45, -0.1, -0.2]])
    b = np.array([[0.2, 0.3, 0.0], [-0.1, -0.45, 0.0], [0.45, -0.5, 0.0]])
    radii = np.array([0.06, 0.05, 0.05])
    colors = np.array([[1, 0, 0, 1], [0, 1, 0, 1], [0, 0, 1, 1]], float)

    def coverage(draw) -> np.ndarray:
        renderer.begin(FRONT)
        draw()
        renderer.end()
        return renderer.read().astype(int).copy()

    empty = coverage(lambda: None)
    img = coverage(lambda: renderer.draw_capsules(a, b, radii, colors))
    assert renderer.draw_calls == 1
    vp = view_projection(FRONT, W / H)
    for k in range(3):
        channel = int(np.argmax(colors[k, :3]))
        others = [c for c in range(3) if c != channel]
        mask = (img != empty).any(axis=2) & (img[..., channel] > img[..., others].max(axis=2) + 30)
        ends = coverage(lambda: renderer.draw_spheres(np.array([a[k], b[k]]), radii[k], colors[k]))
        ends_mask = (ends != empty).any(axis=2)
        assert (ends_mask & ~mask).sum() <= max(2, 0.02 * ends_mask.sum()), k
        rows, cols = np.nonzero(mask)
        erows, ecols = np.nonzero(ends_mask)
        assert abs(cols.min() - ecols.min()) <= 1 and abs(cols.max() - ecols.max()) <= 1, k
        assert abs(rows.min() - erows.min()) <= 1 and abs(rows.max() - erows.max()) <= 1, k
        mx, my = project((a[k] + b[k]) / 2, vp, W, H)[0].astype(int)
        assert mask[my, mx], k


def test_drawlist_capsules_reach_the_plugin_one_draw_per_batch(ctx):
    """Two `add_capsules` batches (instrument shafts) plus a sphere batch are three draw
    calls however many capsules they hold; the list is cleared after the frame."""
    from vrmed.render import RenderPlugin

    plugin = RenderPlugin(
        W,
        H,
        context=ctx,
        samples=0,
        ground=False,
        camera=Camera(position=np.array([0.0, 0.2, 0.6]), target=np.array([0.0, 0.1, 0.0])),
    )
    app = App(seed=0)
    app.add_plugin(plugin)
    tips = np.array([[-0.05, 0.08, 0.0], [0.05, 0.08, 0.0]])
    handles = tips + [[-0.2, 0.25, 0.15], [0.2, 0.25, 0.15]]

    def queue(a: App) -> None:
        draws = a.resource(DrawList)
        draws.add_capsules(handles, tips, 0.0025, (0.7, 0.7, 0.72, 1.0))
        draws.add_capsules(np.repeat(tips, 5, axis=0), np.repeat(tips, 5, axis=0) + 0.01, 0.002)
        draws.add_spheres(np.array([[0.0, 0.05, 0.0]]), 0.04, (0.8, 0.3, 0.25, 1))

    app.add_system(queue, in_set="render.prepare", name="test.tools")
    try:
        app.step(1)
        assert plugin.renderer.draw_calls == 3
        assert not app.resource(DrawList).capsules
        img = plugin.image()
        mid = project((tips[0] + handles[0]) / 2, plugin.renderer.view_proj, W, H)[0].astype(int)
        shaft = img[mid[1], mid[0]].astype(int)  # a grey shaft where projected,
        assert np.ptp(shaft) < 12 and abs(shaft[2] - 199) > 40  # not the background (178, 189, 199)
        with pytest.raises(ValueError):
            app.resource(DrawList).add_capsules(tips, tips[:1], 0.01)
    finally:
        app.close()


def test_render_benchmark_scene_smoke(ctx):
    """The `vrmed bench render` scene renders (non-blank, checked inside) at a tiny size
    and reports fps and percentiles; its organ has the stated 5,120 triangles."""
    from vrmed.benchmarks.render import _Deformer, _measure

    assert len(_Deformer().faces) == 5120
    row = _measure(ctx, 96, 0, frames=3, warmup=1)
    assert row["frames"] == 3 and row["stereo_fps"] > 0 and row["p99_ms"] >= row["p50_ms"] > 0
