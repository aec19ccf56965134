"""Object ids: which entity covers which pixels of a view.

:func:`object_coverage` draws a view again with every drawn thing in one flat colour that
encodes its entity (depth-tested, unlit, no MSAA) into an RGBA8 offscreen target and counts
the pixels of each entity:

- every ``Transform`` + ``VisualMesh`` entity, at its Transform (scale ``Transform.scale *
  VisualMesh.scale``), as the built-in ``scene`` pass draws it;
- the :class:`~vrmed.render.drawlist.DrawList`'s spheres, capsules and streamed surfaces,
  each under the entity its batch names (``entities=`` / ``entity=``); a draw that names
  none counts as :data:`NO_ENTITY`;
- the renderer's ground plane (when the view has one) hides what is below it and counts as
  nothing.

The DrawList is cleared at the end of every frame, so the draws are taken from the
``object_ids`` scene pass (:class:`ObjectIdRecorder`), which :func:`track_objects` adds to
the App's render pipeline: on every drawn frame it keeps a copy of what the main view drew,
and the GL context it drew with. Call ``track_objects(app)`` before running the frames to
measure (``object_coverage`` adds the pass itself on first use, and then sees only the
draws queued so far). The camera is the main view's (:func:`~vrmed.render.plugin.main_camera`:
the active endoscope, the selected or first ``Camera``) with the projection the renderer uses
at ``size``'s aspect, unless ``camera=`` is given.

The geometry is built on the CPU (unit sphere and capsule templates of
:mod:`vrmed.render.meshes`, mesh files through :class:`~vrmed.render.meshes.MeshCache`) and
drawn with one small program of this module, so nothing of the main renderer is changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from vrmed.components import Name, Transform, VisualMesh
from vrmed.components.scene.render import Camera

from .camera import look_at, model_matrix, perspective
from .drawlist import DrawList
from .meshes import MeshCache, capsule_template, uv_sphere

if TYPE_CHECKING:  # pragma: no cover
    import moderngl

    from vrmed.app import App

    from .passes import PassContext

#: The key :func:`object_coverage` counts draws under that name no entity.
NO_ENTITY = -1
#: Name of the recording scene pass in the render pipeline.
PASS_NAME = "object_ids"
#: Half the side of the ground quad drawn as an occluder (m).
GROUND_EXTENT = 500.0

_VERTEX = """
#version 330
uniform mat4 u_view_proj;
in vec3 in_pos;
in vec3 in_id;
flat out vec3 v_id;
void main() {
    gl_Position = u_view_proj * vec4(in_pos, 1.0);
    v_id = in_id;
}
"""
_FRAGMENT = """
#version 330
flat in vec3 v_id;
out vec4 f_color;
void main() {
    f_color = vec4(v_id, 1.0);
}
"""

_SPHERE = uv_sphere(32, 16)
_CAPSULE, _CAPSULE_END = capsule_template(24, 8)


@dataclass
class DrawSnapshot:
    """What one view drew: entity-tagged geometry (copies), the ground, and the context."""

    spheres: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    capsules: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    surfaces: list[tuple[np.ndarray, np.ndarray, int]] = field(default_factory=list)
    ground: float | None = 0.0
    frame: int = -1


def _entities(value: np.ndarray | int | None, n: int) -> np.ndarray:
    """Per-draw entity ids (N,) int64, NO_ENTITY where none is named."""
    if value is None:
        return np.full(n, NO_ENTITY, np.int64)
    out = np.broadcast_to(np.asarray(value, np.int64).reshape(-1) if np.ndim(value) else int(value), (n,)).copy()
    out[out < 0] = NO_ENTITY
    return out


def snapshot(draws: DrawList | None, ground: float | None = 0.0, frame: int = -1) -> DrawSnapshot:
    """A copy of a DrawList's geometry with the entity of every sphere, capsule and surface."""
    snap = DrawSnapshot(ground=ground, frame=frame)
    if draws is None:
        return snap
    for s in draws.spheres:
        c = np.array(s.centres, np.float64).reshape(-1, 3)
        n = len(c)
        snap.spheres.append(
            (c, np.broadcast_to(np.asarray(s.radii, np.float64), (n,)).copy(), _entities(s.entities, n))
        )
    for cap in draws.capsules:
        a = np.array(cap.a, np.float64).reshape(-1, 3)
        b = np.array(cap.b, np.float64).reshape(-1, 3)
        n = len(a)
        radii = np.broadcast_to(np.asarray(cap.radii, np.float64), (n,)).copy()
        snap.capsules.append((a, b, radii, _entities(cap.entities, n)))
    for surf in draws.surfaces:
        entity = NO_ENTITY if surf.entity is None or surf.entity < 0 else int(surf.entity)
        snap.surfaces.append(
            (np.array(surf.positions, np.float64).reshape(-1, 3), np.array(surf.faces, np.int64).reshape(-1, 3), entity)
        )
    return snap


class ObjectIdRecorder:
    """The ``object_ids`` scene pass: keeps a copy of what the main view drew each drawn frame
    (:attr:`last`) and the GL context it drew with (:attr:`gl`). It draws nothing."""

    name = PASS_NAME
    phase = "scene"

    def __init__(self) -> None:
        self.last: DrawSnapshot | None = None
        self.gl: moderngl.Context | None = None

    def draw(self, ctx: PassContext) -> None:
        """Record the main view's draws (other views are the same scene)."""
        if ctx.view != "main":
            return
        r = ctx.renderer
        ground = float(r.ground_height) if r.ground else None
        self.last = snapshot(ctx.app.try_resource(DrawList), ground, ctx.frame)
        self.gl = ctx.gl


def track_objects(app: App) -> ObjectIdRecorder:
    """Add the ``object_ids`` recording pass to the App's render pipeline (once); returns it."""
    from .passes import render_pipeline  # deferred: passes imports overlay (Pillow) only when used

    pipeline = render_pipeline(app)
    if PASS_NAME in pipeline:
        found = pipeline.get(PASS_NAME)
        assert isinstance(found, ObjectIdRecorder)
        return found
    recorder = ObjectIdRecorder()
    pipeline.add(recorder)
    return recorder


def entities_named(app: App) -> dict[str, int]:
    """Every named entity: ``{name: entity}``."""
    return {name.value: entity for entity, name in app.query(Name)}


def encode_ids(entities: np.ndarray) -> np.ndarray:
    """Entity ids (N,) as flat RGB colours (N, 3) in [0, 1]: ``entity + 1`` in 24 bits
    (0 is the background), NO_ENTITY as 0xFFFFFF."""
    code = np.where(entities == -2, 0, np.where(entities < 0, 0xFFFFFF, entities + 1)).astype(np.int64)
    if (code > 0xFFFFFF).any():
        raise ValueError("entity ids above 16,777,214 cannot be encoded in RGB8")
    rgb = np.stack([(code >> 16) & 255, (code >> 8) & 255, code & 255], axis=-1)
    return rgb.astype(np.float64) / 255.0


def decode_ids(image: np.ndarray) -> np.ndarray:
    """(H, W, >=3) uint8 id image to entity ids (H, W): -2 background, NO_ENTITY, or the entity."""
    rgb = image[..., :3].astype(np.int64)
    code = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    return np.where(code == 0, -2, np.where(code == 0xFFFFFF, NO_ENTITY, code - 1))


class _Geometry:
    """Triangles accumulated for one id draw: positions, per-vertex id colours, faces."""

    def __init__(self) -> None:
        self.pos: list[np.ndarray] = []
        self.ids: list[np.ndarray] = []
        self.faces: list[np.ndarray] = []
        self.n = 0

    def add(self, positions: np.ndarray, faces: np.ndarray, entities: np.ndarray) -> None:
        """Add a mesh (V, 3) with faces (F, 3) and per-vertex entities (V,)."""
        if len(positions) == 0 or len(faces) == 0:
            return
        self.pos.append(np.asarray(positions, np.float64))
        self.ids.append(encode_ids(entities))
        self.faces.append(np.asarray(faces, np.int64) + self.n)
        self.n += len(positions)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        vertices = np.hstack([np.concatenate(self.pos), np.concatenate(self.ids)]).astype("f4")
        return vertices, np.concatenate(self.faces).astype("i4")


def _instanced(
    template: np.ndarray, faces: np.ndarray, world: np.ndarray, entities: np.ndarray, geo: _Geometry
) -> None:
    """Add N copies of a template: ``world`` (N, V, 3) vertex positions."""
    n, v = world.shape[:2]
    all_faces = (faces[None, :, :] + (np.arange(n) * v)[:, None, None]).reshape(-1, 3)
    geo.add(world.reshape(-1, 3), all_faces, np.repeat(entities, v))


def _capsule_world(a: np.ndarray, b: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """World positions (N, V, 3) of the capsule template around segments a -> b."""
    d = b - a
    length = np.linalg.norm(d, axis=1)
    up = np.where(length[:, None] > 1e-12, d / np.maximum(length, 1e-12)[:, None], np.array([0.0, 1.0, 0.0]))
    helper = np.where(np.abs(up[:, 0:1]) < 0.9, np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0]))
    x = np.cross(helper, up)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    z = np.cross(x, up)
    rot = np.stack([x, up, z], axis=-1)  # columns: template x, y (the axis), z
    local = np.einsum("nij,vj->nvi", rot, _CAPSULE.positions) * radii[:, None, None]
    ends = np.where(_CAPSULE_END[None, :, None] > 0.5, b[:, None, :], a[:, None, :])
    return local + ends


def _scene_geometry(app: App, snap: DrawSnapshot, files: MeshCache) -> _Geometry:
    geo = _Geometry()
    model = np.eye(4)
    for entity, (tf, vis) in app.query(Transform, VisualMesh):
        mesh = files.get(str(vis.mesh))
        m = model_matrix(tf.position, tf.orientation, np.asarray(tf.scale) * vis.scale, out=model)
        world = mesh.positions @ m[:3, :3].T + m[:3, 3]
        geo.add(world, mesh.faces, np.full(len(world), entity, np.int64))
    for centres, radii, ents in snap.spheres:
        world = centres[:, None, :] + radii[:, None, None] * _SPHERE.positions[None, :, :]
        _instanced(_SPHERE.positions, _SPHERE.faces, world, ents, geo)
    for a, b, radii, ents in snap.capsules:
        _instanced(_CAPSULE.positions, _CAPSULE.faces, _capsule_world(a, b, radii), ents, geo)
    for positions, faces, entity in snap.surfaces:
        geo.add(positions, faces, np.full(len(positions), entity, np.int64))
    if snap.ground is not None:
        g, h = GROUND_EXTENT, snap.ground
        quad = np.array([[-g, h, -g], [-g, h, g], [g, h, g], [g, h, -g]])
        geo.add(quad, np.array([[0, 1, 2], [0, 2, 3]]), np.full(4, -2, np.int64))  # encoded as background
    return geo


_FILES = MeshCache()


def render_ids(
    app: App,
    size: tuple[int, int] = (160, 120),
    camera: Camera | None = None,
    *,
    context: moderngl.Context | None = None,
    draws: DrawSnapshot | None = None,
) -> np.ndarray:
    """The object-id image of the view: (H, W) int64, top row first (as ``Renderer.read``):
    the entity seen at each pixel, NO_ENTITY for untagged draws, -2 for nothing (background
    or ground). See :func:`object_coverage` for the camera, draws and context used."""
    from .context import create_context  # deferred: moderngl is imported only when drawing
    from .plugin import main_camera  # deferred: plugin imports the renderer (moderngl) at import

    width, height = (int(v) for v in size)
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    recorder = track_objects(app)
    if draws is None:
        draws = recorder.last if recorder.last is not None else snapshot(app.try_resource(DrawList))
    cam = camera if camera is not None else main_camera(app, Camera())
    view_proj = perspective(cam.fov_deg, width / height, cam.near, cam.far) @ look_at(cam.position, cam.target, cam.up)
    gl = context if context is not None else recorder.gl
    owned = gl is None
    if gl is None:
        gl = create_context()
    geo = _scene_geometry(app, draws, _FILES)
    made: list[Any] = []
    try:
        fbo = gl.framebuffer(
            color_attachments=[gl.renderbuffer((width, height), 4)],
            depth_attachment=gl.depth_renderbuffer((width, height)),
        )
        made += [fbo, *fbo.color_attachments, fbo.depth_attachment]
        fbo.use()
        fbo.clear(0.0, 0.0, 0.0, 1.0, depth=1.0)
        if geo.n:
            program = gl.program(vertex_shader=_VERTEX, fragment_shader=_FRAGMENT)
            made.append(program)
            uniform = cast("moderngl.Uniform", program["u_view_proj"])  # declared in _VERTEX
            uniform.write(np.ascontiguousarray(view_proj.T, dtype="f4").tobytes())
            vertices, faces = geo.arrays()
            vbo, ibo = gl.buffer(vertices.tobytes()), gl.buffer(faces.tobytes())
            vao = gl.vertex_array(program, [(vbo, "3f 3f", "in_pos", "in_id")], ibo)
            made += [vao, vbo, ibo]
            gl.enable_only(gl.DEPTH_TEST)
            vao.render()
        raw = np.frombuffer(fbo.read(components=4, alignment=1), np.uint8).reshape(height, width, 4)
        return decode_ids(raw[::-1])
    finally:
        for obj in reversed(made):
            obj.release()
        try:  # moderngl re-binds the last framebuffer it bound when it makes a new one: not ours
            gl.detect_framebuffer(0).use()
        except Exception:  # noqa: BLE001 - a context without a default framebuffer; nothing to protect
            pass
        if owned:
            gl.release()


def object_coverage(
    app: App,
    size: tuple[int, int] = (160, 120),
    camera: Camera | None = None,
    *,
    context: moderngl.Context | None = None,
) -> dict[int, int]:
    """Pixels each entity covers in the view: ``{entity: pixels}`` (NO_ENTITY: draws that
    name no entity; entities not seen are absent).

    ``size`` is the id image's ``(width, height)``; ``camera`` defaults to the main view's
    (the active endoscope, else the selected or first Camera). The draws are those the last
    drawn frame queued, kept by the ``object_ids`` pass (:func:`track_objects`, added here
    when missing); the GL context is that frame's, else ``context``, else a headless one made
    for the call."""
    ids = render_ids(app, size, camera, context=context)
    values, counts = np.unique(ids[ids != -2], return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts)}


def coverage_by_name(coverage: dict[int, int], names: dict[str, int] | Sequence[tuple[str, int]]) -> dict[str, int]:
    """``coverage`` re-keyed by entity name (``names`` from :func:`entities_named`); 0 for unseen."""
    pairs = names.items() if isinstance(names, dict) else names
    return {name: coverage.get(entity, 0) for name, entity in pairs}


__all__ = [
    "NO_ENTITY",
    "DrawSnapshot",
    "ObjectIdRecorder",
    "coverage_by_name",
    "decode_ids",
    "encode_ids",
    "entities_named",
    "object_coverage",
    "render_ids",
    "snapshot",
    "track_objects",
]
