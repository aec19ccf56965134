"""Headless renderer: geometry, shading cues, streaming, PNG capture and the RenderPlugin.

Every test checks pixels of small framebuffers (160 x 120) rendered on one shared EGL
context; files are only written by the capture test.
"""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np
import pytest

from vrmed import App
from vrmed.components import Transform, VisualMesh
from vrmed.components.scene.render import Camera, Light
from vrmed.errors import VrmedError
from vrmed.render import DrawList, create_context, encode_png, write_png
from vrmed.render.camera import project, view_projection
from vrmed.render.meshes import MeshData, NormalScratch, vertex_normals

W, H = 160, 120


@pytest.fixture(scope="module")
def renderer(ctx):
    """A 160 x 120 renderer without MSAA (exact silhouettes)."""
    from vrmed.render import Renderer

    r = Renderer(ctx, W, H, samples=0)
    yield r
    r.release()


def render(r, camera, draw=lambda r: None, *, ground=False, contact=0.85, light=None):
    """Render one frame with ``draw(r)`` between begin and end; returns a copy of the image."""
    r.ground, r.contact_shadow = ground, contact
    r.begin(camera, light or Light())
    draw(r)
    r.end()
    return r.read().astype(np.int32)


def grid(n: int, size: float) -> tuple[np.ndarray, np.ndarray]:
    """A welded n x n vertex grid of side ``size`` in the z = 0 plane facing +z."""
    x, y = np.meshgrid(np.linspace(-size / 2, size / 2, n), np.linspace(-size / 2, size / 2, n))
    pos = np.c_[x.ravel(), y.ravel(), np.zeros(n * n)]
    i, j = np.meshgrid(np.arange(n - 1), np.arange(n - 1), indexing="ij")
    a = (i * n + j).ravel()
    return pos, np.r_[np.c_[a, a + 1, a + n], np.c_[a + 1, a + n + 1, a + n]]


def luminance(img: np.ndarray) -> np.ndarray:
    """Rec. 709 luma of display values."""
    return img[..., 0] * 0.2126 + img[..., 1] * 0.7152 + img[..., 2] * 0.0722


FRONT = Camera(position=np.array([0.0, 0.0, 2.0]), target=np.zeros(3), fov_deg=45.0, near=0.05, far=20.0)


def test_sphere_covers_its_projected_disc(renderer):
    """On the axis, the silhouette radius is D tan(asin(R/D)) scaled to pixels (<= 1 px off);
    off axis, the covered pixels' centroid is the projected centre (<= 1 px off)."""
    empty = render(renderer, FRONT)
    radius, dist = 0.25, 2.0
    img = render(renderer, FRONT, lambda r: r.draw_spheres(np.zeros((1, 3)), radius, (1, 1, 1, 1)))
    mask = (img != empty).any(axis=2)
    rows, cols = np.nonzero(mask)
    expected = math.tan(math.asin(radius / dist)) * (H / 2) / math.tan(math.radians(45.0) / 2)
    assert abs((cols.max() + 1 - cols.min()) / 2 - expected) <= 1.0  # ~18.2 px
    assert abs((rows.max() + 1 - rows.min()) / 2 - expected) <= 1.0
    assert abs(mask.sum() - math.pi * expected**2) / (math.pi * expected**2) < 0.03
    cx, cy = project(np.zeros(3), renderer.view_proj, W, H)[0]
    assert abs(cols.mean() + 0.5 - cx) <= 0.5 and abs(rows.mean() + 0.5 - cy) <= 0.5

    centre = np.array([[0.45, 0.25, -0.3]])
    img = render(renderer, FRONT, lambda r: r.draw_spheres(centre, 0.1, (1, 1, 1, 1)))
    rows, cols = np.nonzero((img != empty).any(axis=2))
    px, py = project(centre, view_projection(FRONT, W / H), W, H)[0]
    assert abs(cols.mean() + 0.5 - px) <= 1.0 and abs(rows.mean() + 0.5 - py) <= 1.0


def test_burn_darkens_the_surface(renderer):
    """A quad burned (burn = 1) on its left half is under 40 % as bright there as on the
    unburned right half, and its burned half is much less saturated towards red."""
    pos, faces = grid(21, 1.0)
    burn = (pos[:, 0] < 0).astype(np.float32)
    mesh = renderer.static_mesh(MeshData(pos, np.tile([0.0, 0.0, 1.0], (len(pos), 1)), faces), burn)
    try:
        img = render(renderer, FRONT, lambda r: r.draw_mesh(mesh, color=(0.7, 0.25, 0.22, 1.0)))
    finally:
        mesh.release()
    (lx, ly), (rx, ry) = project([[-0.3, 0, 0], [0.3, 0, 0]], view_projection(FRONT, W / H), W, H).astype(int)
    burned = luminance(img[ly - 3 : ly + 4, lx - 3 : lx + 4]).mean()
    healthy = luminance(img[ry - 3 : ry + 4, rx - 3 : rx + 4]).mean()
    assert burned < 0.4 * healthy, (burned, healthy)
    assert img[ry, rx, 0] > img[ry, rx, 2] + 40  # healthy tissue is red


TOP = Camera(position=np.array([0.0, 1.2, 1.2]), target=np.zeros(3), fov_deg=45.0, near=0.05, far=20.0)


def test_ground_contact_shadow_darkens_under_objects(renderer):
    """The ground just beside a resting ball is >= 20 % darker than with contact shadows off;
    far from it nothing changes; a ball lifted 0.3 m leaves a lighter shadow there."""
    r = 0.1
    vp = view_projection(TOP, W / H)
    (nx, ny), (fx, fy) = project([[1.3 * r, 0, 0], [-0.5, 0, 0.3]], vp, W, H).astype(int)

    def ball(y: float):
        return lambda rr: rr.draw_spheres(np.array([[0.0, y, 0.0]]), r, (0.8, 0.8, 0.8, 1))

    lit = render(renderer, TOP, ball(r), ground=True, contact=0.0)
    shaded = render(renderer, TOP, ball(r), ground=True, contact=0.85)
    lifted = render(renderer, TOP, ball(r + 0.3), ground=True, contact=0.85)
    near_lit, near_shaded = luminance(lit[ny, nx]), luminance(shaded[ny, nx])
    assert near_shaded < 0.8 * near_lit, (near_shaded, near_lit)
    assert abs(luminance(shaded[fy, fx]) - luminance(lit[fy, fx])) <= 2.0
    assert near_shaded < luminance(lifted[ny, nx]) < near_lit


def test_streamed_mesh_moves_without_reallocating(renderer):
    """update() shifts the silhouette by the projected offset (<= 1 px) while the GL
    buffers keep their ids and sizes; normals are recomputed in place."""
    pos, faces = grid(11, 0.5)
    mesh = renderer.streamed_mesh(faces, pos)
    try:
        ids = [(b.glo, b.size) for b in (mesh.position_buffer, mesh.normal_buffer, mesh.burn_buffer)]
        empty = render(renderer, FRONT)
        before = (render(renderer, FRONT, lambda r: r.draw_mesh(mesh)) != empty).any(axis=2)
        mesh.update(pos + [0.3, 0.0, 0.0], burn=np.zeros(len(pos)))
        after = (render(renderer, FRONT, lambda r: r.draw_mesh(mesh)) != empty).any(axis=2)
        assert [(b.glo, b.size) for b in (mesh.position_buffer, mesh.normal_buffer, mesh.burn_buffer)] == ids
        assert np.allclose(mesh._normals, [0.0, 0.0, 1.0], atol=1e-6)
    finally:
        mesh.release()
    vp = view_projection(FRONT, W / H)
    shift = project([[0.3, 0, 0]], vp, W, H)[0, 0] - project([[0, 0, 0]], vp, W, H)[0, 0]  # ~21.7 px
    c0, c1 = np.nonzero(before)[1], np.nonzero(after)[1]
    assert abs((c1.min() - c0.min()) - shift) <= 1.0 and abs((c1.max() - c0.max()) - shift) <= 1.0
    assert before.sum() == pytest.approx(after.sum(), rel=0.05)


def test_vertex_normals_of_a_curved_surface():
    """Vertex normals of a fine welded sphere patch are within 1.5 degrees of the radial direction
    (boundary included)."""
    theta, phi = np.meshgrid(np.linspace(0.3, 1.2, 30), np.linspace(0.0, 1.0, 30), indexing="ij")
    pos = np.stack([np.sin(theta) * np.cos(phi), np.cos(theta), np.sin(theta) * np.sin(phi)], -1).reshape(-1, 3)
    _, faces = grid(30, 1.0)
    out = np.empty_like(pos, dtype=np.float32)
    vertex_normals(pos.astype(np.float32), faces, out, NormalScratch(len(pos), len(faces)))
    cos = np.abs(np.einsum("ij,ij->i", out, pos))
    assert cos.min() > math.cos(math.radians(1.5))


def decode_png(data: bytes) -> np.ndarray:
    """Minimal decoder for the writer's output (8-bit, filter 0)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos : pos + 4]), data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        assert struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])[0] == zlib.crc32(kind + body)
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    w, h, depth, ctype = header[:4]
    channels = {0: 1, 2: 3, 6: 4}[ctype]
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + w * channels)
    assert depth == 8 and (raw[:, 0] == 0).all()
    return raw[:, 1:].reshape(h, w, channels)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_png_round_trip(channels, tmp_path):
    """Encoded PNGs decode (CRCs, zlib, rows) back to the exact array."""
    img = np.random.default_rng(channels).integers(0, 256, (7, 5, channels), dtype=np.uint8)
    assert np.array_equal(decode_png(write_png(tmp_path / "a.png", img).read_bytes()), img)
    with pytest.raises(ValueError):
        encode_png(img.astype(np.float32))


def test_missing_gl_backend_is_a_clear_error():
    """An unusable backend raises a VrmedError naming the backend and what to install."""
    with pytest.raises(VrmedError) as exc:
        create_context("no-such-backend")
    msg = str(exc.value)
    assert "no-such-backend" in msg and "libegl1" in msg and "mesa" in msg.lower()


def test_msaa_only_changes_silhouette_pixels(ctx):
    """4x MSAA changes the image only within 1.5 px of the sphere's analytic silhouette,
    and changes at least half as many pixels as the silhouette's circumference."""
    from vrmed.render import Renderer

    def image(samples: int) -> np.ndarray:
        r = Renderer(ctx, W, H, samples=samples, ground=False)
        try:
            r.begin(FRONT)
            r.draw_spheres(np.zeros((1, 3)), 0.25, (1, 1, 1, 1))
            r.end()
            return r.read().astype(int)
        finally:
            r.release()

    changed = (np.abs(image(4) - image(0)) > 2).any(axis=2)
    radius = math.tan(math.asin(0.25 / 2.0)) * (H / 2) / math.tan(math.radians(45.0) / 2)
    rows, cols = np.nonzero(changed)
    dist = np.hypot(cols + 0.5 - W / 2, rows + 0.5 - H / 2)
    assert np.abs(dist - radius).max() <= 1.5
    assert changed.sum() >= 0.5 * 2 * math.pi * radius


def test_plugin_draws_entities_and_drawlist_and_captures(ctx, tmp_path):
    """RenderPlugin draws a VisualMesh entity (OBJ via trimesh) and DrawList spheres, writes
    frame_NNNNNN.png every 2nd frame, leaves the simulation state alone, and cleans up."""
    from vrmed.render import RenderPlugin

    obj = tmp_path / "box.obj"
    corners = [(x, y, z) for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]
    quads = [(1, 2, 4, 3), (5, 7, 8, 6), (1, 5, 6, 2), (3, 4, 8, 7), (1, 3, 7, 5), (2, 6, 8, 4)]
    obj.write_text(
        "".join(f"v {x} {y} {z}\n" for x, y, z in corners)
        + "".join(f"f {a} {b} {c}\nf {a} {c} {d}\n" for a, b, c, d in quads)
    )
    plugin = RenderPlugin(W, H, capture_dir=tmp_path / "frames", every=2, context=ctx)
    app = App(seed=1)
    app.add_plugin(plugin)
    app.spawn(Transform(position=np.array([-0.15, 0.05, 0.0])), VisualMesh(str(obj), scale=0.05))
    app.spawn(Camera(position=np.array([0.0, 0.3, 0.7]), target=np.array([0.0, 0.05, 0.0])))
    ball = np.array([[0.15, 0.05, 0.0]])
    app.add_system(
        lambda a: a.resource(DrawList).add_spheres(ball, 0.05, (0.2, 0.4, 0.9, 1.0)),
        in_set="render.prepare",
        name="test.balls",
    )
    digest = app.state_digest()
    app.run(frames=4)
    assert [p.name for p in plugin.captured] == ["frame_000000.png", "frame_000002.png"]
    img = decode_png(plugin.captured[-1].read_bytes())
    assert img.shape == (H, W, 3) and np.array_equal(img, plugin.image())
    vp = view_projection(app.query(Camera)[0][1], W / H)
    (bx, by), (sx, sy) = project([[-0.15, 0.05, 0.0], [0.15, 0.05, 0.0]], vp, W, H).astype(int)
    assert img[sy, sx, 2] > img[sy, sx, 0] + 40  # the blue ball
    assert img[by, bx, 0] > img[by, bx, 2] + 30  # the default-coloured (reddish) box
    assert app.state_digest() == digest and not app.resource(DrawList).spheres
    app.close()
    assert plugin.renderer is None and ctx.info["GL_RENDERER"]  # the shared context is still alive


def test_sandbox_renders_through_its_hook_without_changing_the_simulation(ctx):
    """The sandbox queues its balls in render.prepare; rendering leaves the digest alone."""
    from vrmed.packs import load_pack
    from vrmed.packs.discovery import resolve_target
    from vrmed.render import RenderPlugin
    from vrmed.session import build_session

    ref, _ = resolve_target("sandbox")
    digests = []
    for with_render in (False, True):
        session = build_session(load_pack(ref.root, ref.source), seed=3)
        if with_render:
            plugin = RenderPlugin(W, H, context=ctx)
            session.app.add_plugin(plugin)
        session.run(frames=30)
        digests.append(session.app.state_digest())
        if with_render:
            img = plugin.image()
            assert plugin.frames_drawn == 30
            assert ((img[..., 0] > img[..., 2] + 60) & (img[..., 0] > 120)).sum() > 20  # red balls visible
        session.close()
    assert digests[0] == digests[1]


def test_cli_capture_writes_frames_showing_the_scene(tmp_path):
    """`vrmed run sandbox --headless --capture DIR` writes decodable PNGs with the balls in them."""
    from click.testing import CliRunner

    from vrmed.cli import cli

    out = tmp_path / "frames"
    result = CliRunner().invoke(
        cli, ["run", "sandbox", "--headless", "--frames", "6", "--capture", str(out), "--capture-every", "3"]
    )
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in out.glob("*.png"))
    assert files == ["frame_000000.png", "frame_000003.png"]
    img = decode_png((out / "frame_000003.png").read_bytes())
    assert img.shape[:2] == (480, 640)
    assert ((img[..., 0] > img[..., 2] + 60) & (img[..., 0] > 120)).sum() > 50  # red balls on screen
