"""Translucent meshes, the clipping plane and grey-scale images in the core renderer.

Small framebuffers (64 x 48) on one EGL context. Each check compares pixels with an
analytic expectation computed from other renders, not with stored numbers:

- "over" blending: a red quad of alpha a in front of a green one gives
  a * red + (1 - a) * green per channel (within 1 LSB: the blend works on the unquantised
  shader output), whatever order the two are drawn in (the queue sorts back to front);
- a translucent quad does not hide what lies behind it in depth (depth writes off), and
  an opaque quad in front of a translucent one covers it (depth test on);
- the clipping plane removes exactly one side of a mesh;
- ``draw_image`` and ``OverlayRenderer.image`` show the image's window/level grey values.
"""

from __future__ import annotations

import numpy as np
import pytest

from vrmed.components.scene.render import Camera, Light
from vrmed.render.meshes import MeshData

W, H = 64, 48
CAMERA = Camera(position=np.array([0.0, 0.0, 2.0]), target=np.zeros(3), fov_deg=45.0, near=0.05, far=20.0)
RED, GREEN = (0.9, 0.05, 0.05, 1.0), (0.05, 0.8, 0.05, 1.0)


@pytest.fixture(scope="module")
def renderer(ctx):
    from vrmed.render import Renderer

    r = Renderer(ctx, W, H, samples=0, ground=False)
    yield r
    r.release()


@pytest.fixture(scope="module")
def quad(renderer):
    """A 1 m square facing +z (two triangles, counter-clockwise from the camera)."""
    mesh = renderer.static_mesh(quad_data())
    yield mesh
    mesh.release()


def at(z: float, scale: float = 1.0) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] *= scale
    m[2, 3] = z
    return m


def frame(r, draws) -> np.ndarray:
    r.begin(CAMERA, Light())
    for mesh, model, kw in draws:
        r.draw_mesh(mesh, model, shadow=False, **kw)
    r.end()
    return r.read().astype(np.int32).copy()


def test_translucent_over_opaque_is_the_analytic_blend(renderer, quad):
    centre = (slice(H // 2 - 4, H // 2 + 4), slice(W // 2 - 4, W // 2 + 4))
    red = frame(renderer, [(quad, at(0.2), {"color": RED})])[centre]
    green = frame(renderer, [(quad, at(0.0), {"color": GREEN})])[centre]
    for alpha in (0.25, 0.5, 0.8):
        rgba = (*RED[:3], alpha)
        front_last = frame(renderer, [(quad, at(0.0), {"color": GREEN}), (quad, at(0.2), {"color": rgba})])[centre]
        front_first = frame(renderer, [(quad, at(0.2), {"color": rgba}), (quad, at(0.0), {"color": GREEN})])[centre]
        expected = alpha * red + (1.0 - alpha) * green
        assert np.abs(front_last - expected).max() <= 1.0, alpha
        assert np.array_equal(front_first, front_last)  # opaque geometry is drawn first whatever the call order
    assert renderer.translucent_draws == 2  # the back-face pass culls the quad; its front-face pass draws it


def test_translucent_layers_sort_back_to_front_and_keep_depth(renderer, quad):
    centre = (slice(H // 2 - 4, H // 2 + 4), slice(W // 2 - 4, W // 2 + 4))
    red = frame(renderer, [(quad, at(0.2), {"color": RED})])[centre]
    green = frame(renderer, [(quad, at(0.0), {"color": GREEN})])[centre]
    background = frame(renderer, [])[centre]
    a_red, a_green = 0.5, 0.4
    # both translucent, submitted front first: the queue still draws the green (farther) one first
    both = frame(
        renderer,
        [(quad, at(0.2), {"color": (*RED[:3], a_red)}), (quad, at(0.0), {"color": (*GREEN[:3], a_green)})],
    )[centre]
    under = a_green * green + (1 - a_green) * background
    assert np.abs(both - (a_red * red + (1 - a_red) * under)).max() <= 1.5
    # an opaque quad in front of a translucent one hides it (the depth test stays on)
    hidden = frame(renderer, [(quad, at(0.2), {"color": RED}), (quad, at(0.0), {"color": (*GREEN[:3], 0.5)})])
    assert np.abs(hidden[centre] - red).max() <= 1


def test_opaque_draws_are_unchanged_by_an_alpha_of_one(renderer, quad):
    a = frame(renderer, [(quad, at(0.0), {"color": GREEN})])
    b = frame(renderer, [(quad, at(0.0), {"color": GREEN, "clip_plane": None})])
    assert np.array_equal(a, b) and renderer.translucent_draws == 0


def test_clip_plane_cuts_one_side(renderer, quad):
    whole = frame(renderer, [(quad, at(0.0), {"color": GREEN})])
    # keep x <= 0 (n = -x, d = 0): the right half of the square disappears
    cut = frame(renderer, [(quad, at(0.0), {"color": GREEN, "clip_plane": (-1.0, 0.0, 0.0, 0.0)})])
    background = frame(renderer, [])
    row = H // 2
    left, right = slice(W // 2 - 8, W // 2 - 1), slice(W // 2 + 1, W // 2 + 8)
    assert np.array_equal(cut[row, left], whole[row, left])
    assert np.array_equal(cut[row, right], background[row, right])
    with pytest.raises(ValueError, match="non-zero normal"):
        frame(renderer, [(quad, at(0.0), {"clip_plane": (0.0, 0.0, 0.0, 1.0)})])


def test_draw_image_shows_the_windowed_grey_values(renderer):
    """A 4 x 3 grid of constant cells on a quad that fills the view: each cell's grey is
    (value - centre) / width + 0.5 of its value (DICOM LINEAR_EXACT), row 0 at the top."""
    cells = np.arange(12, dtype=np.float32).reshape(3, 4) * 10.0  # 0..110
    image = np.kron(cells, np.ones((4, 4), np.float32))  # 4 x 4 texels a cell: no filtering at the centres
    fov = np.radians(CAMERA.fov_deg)
    height_m = 2.0 * 2.0 * np.tan(fov / 2.0)  # the quad at z = 0 fills the view's height
    model = np.diag([height_m * W / H, height_m, 1.0, 1.0])  # and its width
    renderer.begin(CAMERA, Light())
    renderer.draw_image(image, model, key="t", window=(60.0, 120.0))
    renderer.end()
    shot = renderer.read().astype(float)
    expected = np.clip((cells - 60.0) / 120.0 + 0.5, 0, 1) * 255.0
    cell_h, cell_w = H // 3, W // 4
    for i in range(3):
        for j in range(4):
            px = shot[i * cell_h + cell_h // 2, j * cell_w + cell_w // 2, 0]
            assert abs(px - expected[i, j]) <= 1.0, (i, j, px, expected[i, j])
    assert np.all(shot[..., 0] == shot[..., 1])  # grey


def test_overlay_image_inset_and_monochrome1(renderer):
    from vrmed.render import OverlayRenderer

    rng = np.random.default_rng(3)
    image = rng.integers(0, 1000, size=(8, 8)).astype(np.float64)
    overlay = OverlayRenderer(renderer.ctx)
    try:
        renderer.begin(CAMERA, Light())
        renderer.end()
        overlay.begin(renderer.output)
        overlay.rect(0, 0, 48, 48, (0.0, 0.0, 0.0, 1.0))
        overlay.image(image, 4, 4, 40, 40, key="inset", window=(500.0, 1000.0), invert=True)
        overlay.end()
        shot = renderer.read().astype(float)
    finally:
        overlay.release()
    cells = shot[4 + 2 : 44 : 5, 4 + 2 : 44 : 5, 0]  # the pixel at each 5 x 5 cell's texel centre
    expected = (1.0 - np.clip((image - 500.0) / 1000.0 + 0.5, 0, 1)) * 255.0
    assert np.abs(cells - expected).max() <= 1.0


def test_the_headset_stereo_path_blends_and_draws_images_alike(ctx):
    """The single-pass stereo renderer (each headset eye) queues and blends translucent
    meshes and draws images as the desktop view does: both eye halves give the blend."""
    from vrmed.render import Renderer
    from vrmed.render.camera import look_at, perspective

    r = Renderer(ctx, 2 * W, H, samples=0, ground=False, stereo=True)
    view = look_at(CAMERA.position, CAMERA.target, CAMERA.up)
    proj = perspective(CAMERA.fov_deg, W / H, CAMERA.near, CAMERA.far)
    mesh = r.static_mesh(quad_data())

    def stereo(draws, image=None):
        r.begin_stereo([view, view], [proj, proj], [CAMERA.position, CAMERA.position], Light())
        for z, color in draws:
            r.draw_mesh(mesh, at(z), color=color, shadow=False)
        if image is not None:
            r.draw_image(image, np.diag([0.2, 0.2, 1.0, 1.0]), key="s", window=(0.5, 1.0))
        r.end()
        return r.read().astype(np.int32).copy()

    try:
        red, green = stereo([(0.2, RED)]), stereo([(0.0, GREEN)])
        blend = stereo([(0.0, GREEN), (0.2, (*RED[:3], 0.5))])
        grey = stereo([], np.full((2, 2), 0.75))
    finally:
        mesh.release()
        r.release()
    for left in (0, W):
        centre = (slice(H // 2 - 4, H // 2 + 4), slice(left + W // 2 - 4, left + W // 2 + 4))
        assert np.abs(blend[centre] - (0.5 * red[centre] + 0.5 * green[centre])).max() <= 1.0
        assert np.abs(grey[H // 2, left + W // 2] - 0.75 * 255).max() <= 1.0


def quad_data() -> MeshData:
    pos = np.array([[-0.5, -0.5, 0], [0.5, -0.5, 0], [0.5, 0.5, 0], [-0.5, 0.5, 0]], np.float32)
    normals = np.tile(np.array([0, 0, 1], np.float32), (4, 1))
    return MeshData(pos, normals, np.array([[0, 1, 2], [0, 2, 3]], np.uint32))
