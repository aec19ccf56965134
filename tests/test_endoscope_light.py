"""The light a laparoscope carries: inverse-square falloff from the tip (clamped near it),
the lens vignette, wet highlights from the scope, and ordinary views left as they were.

Pixel tests on 160 x 120 frames without MSAA or ground; intensities are compared in
linear light (the renderer encodes sRGB), against the model in
:class:`vrmed.render.renderer.ScopeLight`.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from vrmed import App
from vrmed.components import Transform
from vrmed.components.scene.render import ActiveView, Camera, Endoscope, Light
from vrmed.render import DrawList
from vrmed.render.camera import endoscope_camera, project
from vrmed.render.meshes import MeshData, icosphere
from vrmed.render.renderer import ScopeLight

W, H = 160, 120
DARK = Light(intensity=0.0, ambient=0.0)  # only the scope lights the scene
GREY = (0.5, 0.5, 0.5, 1.0)


def linear(img: np.ndarray) -> np.ndarray:
    """Linear luminance of display (sRGB) pixels."""
    c = img.astype(np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return lin @ np.array([0.2126, 0.7152, 0.0722])


def quat(axis: tuple[float, float, float], deg: float) -> np.ndarray:
    a = np.asarray(axis, float) / np.linalg.norm(axis)
    h = math.radians(deg) / 2
    return np.r_[math.cos(h), math.sin(h) * a]


def quad(normal_axis: int, size: float = 4.0) -> MeshData:
    """A square of side ``size`` through the origin facing +y (axis 1) or +z (axis 2)."""
    h = size / 2
    if normal_axis == 1:
        pos = [[-h, 0, -h], [-h, 0, h], [h, 0, h], [h, 0, -h]]
    else:
        pos = [[-h, -h, 0], [h, -h, 0], [h, h, 0], [-h, h, 0]]
    normal = [0.0, 0.0, 0.0]
    normal[normal_axis] = 1.0
    return MeshData(np.array(pos), np.tile(normal, (4, 1)), np.array([[0, 1, 2], [0, 2, 3]]))


@pytest.fixture(scope="module")
def renderer(ctx):
    from vrmed.render import Renderer

    r = Renderer(ctx, W, H, samples=0, ground=False)
    yield r
    r.release()


@pytest.fixture(scope="module")
def wall(renderer):
    mesh = renderer.static_mesh(quad(2))
    yield mesh
    mesh.release()


@pytest.fixture(scope="module")
def floor(renderer):
    mesh = renderer.static_mesh(quad(1))
    yield mesh
    mesh.release()


def frame(r, camera: Camera, draw, scope: ScopeLight | None, light: Light = DARK) -> np.ndarray:
    r.scope = scope
    try:
        r.begin(camera, light)
        draw(r)
        r.end()
    finally:
        r.scope = None
    return r.read().copy()


STRAIGHT = Endoscope()  # 0 degrees, 70 degree vertical field of view
ORIGIN = np.zeros(3)
IDENTITY = np.array([1.0, 0.0, 0.0, 0.0])  # looks along -z


def wall_at(distance: float):
    model = np.eye(4)
    model[2, 3] = -distance

    def draw(r, mesh, color=GREY):
        r.draw_mesh(mesh, model, color=color, roughness=1.0, wetness=0.0)

    return draw


def test_irradiance_falls_with_the_inverse_square_of_the_distance(renderer, wall):
    """A wall facing the scope: the centre pixel's linear intensity at 5, 10 and 20 cm
    follows 1/d^2 (each doubling of the distance quarters it)."""
    cam = endoscope_camera(ORIGIN, IDENTITY, STRAIGHT)
    scope = ScopeLight(irradiance=0.25, vignette=0.0)
    centre = {}
    for d in (0.05, 0.1, 0.2):
        img = frame(renderer, cam, lambda r, d=d: wall_at(d)(r, wall), scope)
        centre[d] = linear(img[H // 2 - 1 : H // 2 + 1, W // 2 - 1 : W // 2 + 1]).mean()
    assert centre[0.05] / centre[0.1] == pytest.approx(4.0, rel=0.08), centre
    assert centre[0.1] / centre[0.2] == pytest.approx(4.0, rel=0.12), centre


def test_falloff_is_clamped_next_to_the_tip(renderer, wall):
    """Closer than ``min_distance`` the light stops growing (the fibre bundle is not a point):
    a wall 5 mm and 10 mm from a scope with a 15 mm clamp looks the same."""
    cam = endoscope_camera(ORIGIN, IDENTITY, STRAIGHT)
    scope = ScopeLight(irradiance=0.25, min_distance=0.015, vignette=0.0)
    dark = (0.04, 0.04, 0.04, 1.0)
    values = []
    for d in (0.005, 0.01, 0.02):
        img = frame(renderer, cam, lambda r, d=d: wall_at(d)(r, wall, dark), scope)
        values.append(linear(img[H // 2, W // 2]))
    assert values[0] == pytest.approx(values[1], rel=0.03), values
    assert values[2] < 0.7 * values[1], values  # beyond the clamp it falls again ((15/20)^2 = 0.56)


def test_oblique_floor_is_brighter_near_the_tip_than_far_from_it(renderer, floor):
    """A scope 10 cm above the floor, pitched 45 degrees down: two pixels the same angle
    above and below the image centre (same spot and vignette) differ as the inverse square
    of their distances times the cosine of incidence: the near one is brighter."""
    tip = np.array([0.0, 0.10, 0.0])
    cam = endoscope_camera(tip, quat((1, 0, 0), -45.0), STRAIGHT)
    img = frame(renderer, cam, lambda r: r.draw_mesh(floor, color=GREY, roughness=1.0, wetness=0.0), ScopeLight())
    k = 30  # pixels above/below the centre
    near, far = linear(img[H // 2 + k, W // 2]), linear(img[H // 2 - k, W // 2])
    assert near > 1.5 * far, (near, far)
    # predicted from the geometry: where each pixel's ray meets the floor
    tan_half = math.tan(math.radians(STRAIGHT.fov_deg) / 2)
    forward, up = cam.target - cam.position, cam.up
    predicted = []
    for row in (H // 2 + k + 0.5, H // 2 - k + 0.5):
        ray = forward + (1.0 - 2.0 * row / H) * tan_half * up
        ray /= np.linalg.norm(ray)
        t = -tip[1] / ray[1]
        cos_incidence = -ray[1]  # floor normal +y against the ray back to the tip
        predicted.append(cos_incidence / t**2)
    assert near / far == pytest.approx(predicted[0] / predicted[1], rel=0.15), (near / far, predicted)


def test_corners_are_darker_than_the_centre_and_the_vignette_follows_cos4(renderer, wall):
    """With the scope light, a facing wall's corners are much darker than its centre. The
    vignette alone (a wall lit evenly by a directional light) keeps mix(1, cos^4 t,
    strength) of the light at angle t off the axis."""
    cam = endoscope_camera(ORIGIN, IDENTITY, STRAIGHT)
    lit = frame(renderer, cam, lambda r: wall_at(0.1)(r, wall), ScopeLight())
    centre = linear(lit[H // 2 - 1 : H // 2 + 1, W // 2 - 1 : W // 2 + 1]).mean()
    corners = [linear(lit[y, x]) for y in (0, H - 1) for x in (0, W - 1)]
    assert max(corners) < 0.35 * centre, (corners, centre)

    even = Light(direction=np.array([0.0, 0.0, 1.0]), intensity=1.0, ambient=0.0)
    only_vignette = ScopeLight(irradiance=0.0, scene_light=1.0, vignette=0.5)
    plain = frame(renderer, cam, lambda r: wall_at(0.1)(r, wall), None, light=even)
    shaded = frame(renderer, cam, lambda r: wall_at(0.1)(r, wall), only_vignette, light=even)
    tan_y = math.tan(math.radians(STRAIGHT.fov_deg) / 2)
    for y, x in ((0, 0), (H // 2, W - 1), (H - 1, W // 2), (H // 2, W // 2)):
        ty = (1.0 - 2.0 * (y + 0.5) / H) * tan_y
        tx = (2.0 * (x + 0.5) / W - 1.0) * tan_y * W / H
        cos4 = (1.0 / (1.0 + tx * tx + ty * ty)) ** 2
        expected = 1.0 + 0.5 * (cos4 - 1.0)
        assert linear(shaded[y, x]) / linear(plain[y, x]) == pytest.approx(expected, rel=0.06), (y, x)


def test_scope_light_puts_a_wet_highlight_where_the_surface_faces_the_tip(renderer):
    """A wet organ in front of the scope shows its brightest pixel near its projected
    centre (where the normal points back at the tip); a dry one is much dimmer there."""
    organ = renderer.static_mesh(icosphere(4))
    cam = endoscope_camera(ORIGIN, IDENTITY, STRAIGHT)
    model = np.eye(4)
    model[:3, :3] *= 0.05  # large enough that the sharp wet glint covers whole pixels
    model[:3, 3] = (0.0, 0.0, -0.12)
    scope = ScopeLight(irradiance=0.5)  # tissue itself well below white
    try:
        wet = frame(renderer, cam, lambda r: r.draw_mesh(organ, model, color=(0.5, 0.18, 0.15, 1), wetness=0.9), scope)
        dry = frame(
            renderer,
            cam,
            lambda r: r.draw_mesh(organ, model, color=(0.5, 0.18, 0.15, 1), roughness=0.9, wetness=0.0),
            scope,
        )
    finally:
        organ.release()
    lum = linear(wet)
    y, x = np.unravel_index(np.argmax(lum), lum.shape)
    assert abs(x + 0.5 - W / 2) <= 3 and abs(y + 0.5 - H / 2) <= 3, (x, y)
    assert wet[y, x].min() > 140, wet[y, x]  # a whitish glint on red tissue
    assert dry[y, x].min() < 90 and linear(dry)[y, x] < 0.5 * lum[y, x], (dry[y, x], wet[y, x])


def scene_app(ctx, scope_light, *, with_scope: bool):
    """An App with a room Camera, an optional active Endoscope and a floor of balls."""
    from vrmed.render import RenderPlugin

    kwargs = {} if scope_light == "default" else {"scope_light": scope_light}
    plugin = RenderPlugin(W, H, context=ctx, samples=0, **kwargs)
    app = App(seed=0)
    app.add_plugin(plugin)
    room = app.spawn(Camera(position=np.array([0.0, 0.3, 0.5]), target=np.zeros(3)))
    tool = None
    if with_scope:
        tool = app.spawn(Transform(position=np.array([0.0, 0.12, 0.1]), orientation=quat((1, 0, 0), -45.0)),
                         Endoscope())  # fmt: skip
    balls = np.array([[x, 0.02, z] for x in (-0.1, 0.0, 0.1) for z in (-0.1, 0.0)])
    app.add_system(
        lambda a: a.resource(DrawList).add_spheres(balls, 0.02, (0.8, 0.3, 0.25, 1.0)),
        in_set="render.prepare",
        name="test.balls",
    )
    return app, plugin, room, tool


def test_ordinary_camera_views_are_unchanged_by_the_feature(ctx):
    """A room Camera's frame is the same pixel for pixel with the scope light on (default)
    or off; through the Endoscope the plugin lights the view with the scope (and the frame
    differs from the same view with the feature off); switching back to the room camera
    drops the scope light."""
    images = {}
    for name, scope_light, with_scope in (
        ("room on", "default", False),
        ("room off", None, False),
        ("scope on", "default", True),
        ("scope off", None, True),
    ):
        app, plugin, room, tool = scene_app(ctx, scope_light, with_scope=with_scope)
        try:
            app.step(1)
            images[name] = plugin.image()
            if name == "scope on":
                assert plugin.renderer.scope is plugin.scope_light is not None
                app.insert_resource(ActiveView(room))
                app.step(1)
                assert plugin.renderer.scope is None
                images["scope on, room selected"] = plugin.image()
            else:
                assert plugin.renderer.scope is None
        finally:
            app.close()
    assert np.array_equal(images["room on"], images["room off"])
    assert np.array_equal(images["scope on, room selected"], images["room off"])
    assert not np.array_equal(images["scope on"], images["scope off"])
    # the scope's view is dark but for its own light: corners darker than the centre
    lum = linear(images["scope on"])
    assert lum[[0, 0, -1, -1], [0, -1, 0, -1]].max() < lum[H // 2 - 5 : H // 2 + 5, W // 2 - 5 : W // 2 + 5].mean()


def test_scope_light_validates_its_numbers():
    with pytest.raises(ValueError):
        ScopeLight(ref_distance=0.0)
    with pytest.raises(ValueError):
        ScopeLight(vignette=1.5)
    assert ScopeLight().min_distance < ScopeLight().ref_distance


def test_scope_view_still_projects_like_the_camera(renderer):
    """The light and vignette change brightness only: a small ball in front of the scope
    lands where the camera projects it, as without them."""
    cam = endoscope_camera(ORIGIN, quat((0, 1, 0), 12.0), STRAIGHT)
    ball = np.array([[0.0, 0.0, -0.08]])
    img = frame(renderer, cam, lambda r: r.draw_spheres(ball, 0.004, (1, 1, 1, 1)), ScopeLight())
    empty = frame(renderer, cam, lambda r: None, ScopeLight())
    rows, cols = np.nonzero((img.astype(int) != empty.astype(int)).any(axis=2))
    px, py = project(ball, renderer.view_proj, W, H)[0]
    assert abs(cols.mean() + 0.5 - px) <= 0.75 and abs(rows.mean() + 0.5 - py) <= 0.75
