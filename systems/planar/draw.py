"""The planar feature's drawing: the work surface (a board with its lip), the pegs and every
object on it (rings as tori, discs as flat pucks) at their simulated poses.

``planar.draw`` (``render.prepare``) queues them into the renderer's
:class:`~vrmed.render.drawlist.DrawList` when there is one, and does nothing otherwise (a
headless run without a renderer). Meshes are built once: the board slab when the surface is
first seen, one torus per object size; each frame only a translated copy of an object's torus
is written into that object's own preallocated array. The board is lifted :data:`BOARD_LIFT`
above the surface plane so that it is never hidden by the renderer's ground plane when the
work surface lies on it (y = 0), and objects rest on the lifted top.

The renderer's contact shadows fall on its ground plane only, which the board covers, so the
board's top is a grid that darkens itself the same way (the renderer's analytic sphere
occlusion, ``cos(t) (k r)^2 / l^2``, written as per-vertex ``burn``, which blends the colour
towards near-black): a static soft ring at the foot of each peg, and each frame the shadow of every
lifted or falling object and of every shadow-casting sphere and capsule queued before this
system (instruments). It runs late in ``render.prepare`` (priority 100) for that.

Colours are linear RGBA from :class:`PlanarDrawStyle` (FLS-like defaults: a pale board, dark
pegs, red-orange rings); a pack inserts its own ``PlanarDrawStyle`` resource to change them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from vrmed.app import App
from vrmed.components.planar.bodies import Peg, PlanarBody, WorkSurface
from vrmed.render.drawlist import DrawList

#: How far (m) the drawn board top sits above the surface plane: enough to win the depth test
#: against the renderer's ground at the same height, too little to see (0.3 mm).
BOARD_LIFT = 0.0003
#: Drawn board thickness below the surface plane (m).
BOARD_THICKNESS = 0.01
#: Radius (m) of the lip drawn along the edges of a surface with ``rim`` (the pymunk walls are 2 mm).
LIP_RADIUS = 0.002
#: Tessellation of the object tori: segments around the ring and around its tube.
TORUS_SEGMENTS = (28, 10)
#: Grid spacing (m) of the board top that carries the contact shadows, and its cap per side.
SHADOW_GRID = 0.005
SHADOW_GRID_MAX = 160
#: Contact-shadow strength and occluder spread, as the renderer's defaults
#: (``Renderer.contact_shadow``, ``Renderer.contact_spread``).
SHADOW_STRENGTH = 0.85
SHADOW_SPREAD = 1.6
#: Occlusion below which a shadow is not computed (bounds each occluder's footprint).
SHADOW_CUTOFF = 0.01


@dataclass
class PlanarDrawStyle:
    """Colours (linear RGBA) and finishes of the planar drawing (an optional resource)."""

    board_color: tuple[float, float, float, float] = (0.72, 0.72, 0.70, 1.0)
    board_roughness: float = 0.6
    lip_color: tuple[float, float, float, float] = (0.40, 0.40, 0.39, 1.0)
    peg_color: tuple[float, float, float, float] = (0.025, 0.025, 0.03, 1.0)
    peg_roughness: float = 0.35
    object_color: tuple[float, float, float, float] = (0.90, 0.18, 0.02, 1.0)
    object_roughness: float = 0.45


@dataclass
class _Board:
    surface: int
    style: PlanarDrawStyle  # the style it was built with (peg and lip colours are baked in)
    positions: np.ndarray  # the top grid's vertices first, then the sides and bottom
    normals: np.ndarray
    faces: np.ndarray
    burn: np.ndarray  # per vertex: the shadow darkening uploaded each frame
    xs: np.ndarray  # top grid coordinates along u and v (plane m); vertex (j, i) is j * len(xs) + i
    ys: np.ndarray
    static_light: np.ndarray  # (ny, nx) light left by the static occluders (the pegs' feet)
    light: np.ndarray  # (ny, nx) scratch: this frame's light
    burn_gain: float  # burn that darkens the board colour by a given fraction (see _shade)
    # pegs and lip as capsules (static; rebuilt only when the peg set changes)
    peg_ids: tuple[int, ...]
    cap_a: np.ndarray
    cap_b: np.ndarray
    cap_r: np.ndarray
    cap_color: np.ndarray
    cap_entity: np.ndarray


@dataclass
class _Torus:
    offsets: np.ndarray  # (V, 3) vertices relative to the object's centre, world orientation
    normals: np.ndarray
    faces: np.ndarray
    lift: float  # centre height above the surface plane when resting on it (m)


@dataclass
class PlanarDrawCache:
    """What ``planar.draw`` builds once and reuses (a resource the planar plugin inserts):
    the board and peg geometry, one torus per object size, and each object's vertex buffer."""

    board: _Board | None = None
    tori: dict[tuple[float, float], _Torus] = field(default_factory=dict)
    buffers: dict[int, np.ndarray] = field(default_factory=dict)


def torus(major: float, minor: float, segments: tuple[int, int] = TORUS_SEGMENTS) -> tuple[np.ndarray, ...]:
    """A torus about the local z axis: ``major`` radius of the tube's centre line, ``minor``
    radius of the tube (m). Returns positions (V, 3), unit normals (V, 3) and outward-wound
    faces (F, 3) int32, with V = segments[0] * segments[1]."""
    nu, nv = segments
    u = np.linspace(0.0, 2.0 * math.pi, nu, endpoint=False)
    v = np.linspace(0.0, 2.0 * math.pi, nv, endpoint=False)
    uu, vv = np.meshgrid(u, v, indexing="ij")
    normals = np.stack([np.cos(vv) * np.cos(uu), np.cos(vv) * np.sin(uu), np.sin(vv)], axis=-1).reshape(-1, 3)
    ring = np.stack([np.cos(uu), np.sin(uu), np.zeros_like(uu)], axis=-1).reshape(-1, 3)
    positions = major * ring + minor * normals
    i, j = np.meshgrid(np.arange(nu), np.arange(nv), indexing="ij")
    a = i * nv + j
    b = ((i + 1) % nu) * nv + j
    c = ((i + 1) % nu) * nv + (j + 1) % nv
    d = i * nv + (j + 1) % nv
    faces = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)])
    return positions, normals, faces.astype(np.int32)


def _slab(surface: WorkSurface) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The board: a box of the surface's size, top at BOARD_LIFT, flat-shaded; its top is a
    grid of about SHADOW_GRID spacing (it carries the shadows). Returns positions, normals,
    faces and the grid coordinates along u and v."""
    u, v, n = surface.u, surface.v, surface.normal
    hw, hd = float(surface.size[0]) / 2, float(surface.size[1]) / 2
    top, bottom = BOARD_LIFT, -BOARD_THICKNESS
    o = surface.origin
    nx = int(np.clip(round(2 * hw / SHADOW_GRID) + 1, 2, SHADOW_GRID_MAX))
    ny = int(np.clip(round(2 * hd / SHADOW_GRID) + 1, 2, SHADOW_GRID_MAX))
    xs, ys = np.linspace(-hw, hw, nx), np.linspace(-hd, hd, ny)
    gx, gy = np.meshgrid(xs, ys)  # (ny, nx)
    grid = o + gx.reshape(-1, 1) * u + gy.reshape(-1, 1) * v + top * n
    j, i = np.meshgrid(np.arange(ny - 1), np.arange(nx - 1), indexing="ij")
    a = (j * nx + i).ravel()
    grid_faces = np.concatenate([np.stack([a, a + 1, a + nx + 1], -1), np.stack([a, a + nx + 1, a + nx], -1)])
    positions, normals, faces = [grid], [np.tile(n, (len(grid), 1))], [grid_faces]
    k = len(grid)
    # the other faces: (normal, 4 corners in (x, y, h) counter-clockwise seen from outside)
    sides = [
        (-n, [(-hw, -hd, bottom), (-hw, hd, bottom), (hw, hd, bottom), (hw, -hd, bottom)]),
        (u, [(hw, -hd, bottom), (hw, hd, bottom), (hw, hd, top), (hw, -hd, top)]),
        (-u, [(-hw, -hd, bottom), (-hw, -hd, top), (-hw, hd, top), (-hw, hd, bottom)]),
        (v, [(-hw, hd, bottom), (-hw, hd, top), (hw, hd, top), (hw, hd, bottom)]),
        (-v, [(-hw, -hd, bottom), (hw, -hd, bottom), (hw, -hd, top), (-hw, -hd, top)]),
    ]
    for normal, corners in sides:
        positions.append(np.array([o + x * u + y * v + h * n for x, y, h in corners]))
        normals.append(np.tile(normal, (4, 1)))
        faces.append(np.array([(k, k + 1, k + 2), (k, k + 2, k + 3)]))
        k += 4
    return np.concatenate(positions), np.concatenate(normals), np.concatenate(faces).astype(np.int32), xs, ys


def _occlude(light: np.ndarray, xs: np.ndarray, ys: np.ndarray, x: float, y: float, h: float, r: float) -> None:
    """Multiply ``light`` (ny, nx) on the grid ``xs`` x ``ys`` by the unoccluded fraction left by a
    sphere of radius ``r`` whose centre is at plane (x, y), height ``h`` above the grid: the
    renderer's ground occlusion, computed only where it exceeds SHADOW_CUTOFF."""
    if h <= 0.0 or r <= 0.0:
        return
    kr2 = (SHADOW_SPREAD * r) ** 2
    # occlusion = strength h (k r)^2 / l^3 >= cutoff  <=>  l <= reach
    reach = (SHADOW_STRENGTH * h * kr2 / SHADOW_CUTOFF) ** (1.0 / 3.0)
    if reach <= h:
        return  # too faint everywhere
    rho = math.sqrt(reach * reach - h * h)
    i0, i1 = np.searchsorted(xs, (x - rho, x + rho))
    j0, j1 = np.searchsorted(ys, (y - rho, y + rho))
    if i0 >= i1 or j0 >= j1:
        return
    dx = xs[i0:i1] - x
    dy = ys[j0:j1, None] - y
    l2 = dx * dx + dy * dy + h * h
    occ = np.minimum(h * kr2 / (l2 * np.sqrt(l2)), 1.0)
    light[j0:j1, i0:i1] *= 1.0 - SHADOW_STRENGTH * occ


def _board(app: App, entity: int, surface: WorkSurface, style: PlanarDrawStyle) -> _Board:
    positions, normals, faces, xs, ys = _slab(surface)
    static_light = np.ones((len(ys), len(xs)))
    a, b, r, colors, owners = [], [], [], [], []
    n = surface.normal
    peg_ids = []
    for pe, peg in sorted(app.query(Peg), key=lambda item: item[0]):
        base = surface.to_world(float(peg.at[0]), float(peg.at[1]), 0.0)
        a.append(base)
        b.append(base + (peg.height - peg.radius) * n)  # the capsule's round top ends at the peg height
        r.append(peg.radius)
        colors.append(style.peg_color)
        owners.append(pe)
        peg_ids.append(pe)
        # a sphere resting at its foot (a soft contact ring around the peg) and the renderer's
        # capsule spheres above it (middle and top)
        for h in (peg.radius, 0.5 * peg.height, peg.height):
            _occlude(static_light, xs, ys, float(peg.at[0]), float(peg.at[1]), h, peg.radius)
    if surface.rim:
        hw, hd = float(surface.size[0]) / 2, float(surface.size[1]) / 2
        corners = [(-hw, -hd), (hw, -hd), (hw, hd), (-hw, hd)]
        for (x0, y0), (x1, y1) in zip(corners, corners[1:] + corners[:1]):
            a.append(surface.to_world(x0, y0, BOARD_LIFT))
            b.append(surface.to_world(x1, y1, BOARD_LIFT))
            r.append(LIP_RADIUS)
            colors.append(style.lip_color)
            owners.append(entity)
    # burn blends the colour c towards CHAR (~0.02): burn b leaves c - b (c - CHAR), so darkening
    # the colour by a fraction f takes b = f c / (c - CHAR)
    c = float(np.mean(style.board_color[:3]))
    gain = c / max(c - 0.02, 1e-3)
    return _Board(
        entity,
        style,
        positions,
        normals,
        faces,
        np.zeros(len(positions), np.float32),
        xs,
        ys,
        static_light,
        np.empty_like(static_light),
        gain,
        tuple(peg_ids),
        np.array(a).reshape(-1, 3),
        np.array(b).reshape(-1, 3),
        np.array(r, np.float64),
        np.array(colors, np.float64).reshape(-1, 4),
        np.array(owners, np.int64),
    )


def _torus_for(cache: PlanarDrawCache, body: PlanarBody, surface: WorkSurface) -> _Torus:
    key = (float(body.radius), float(body.inner_radius))
    shape = cache.tori.get(key)
    if shape is None:
        # a ring's tube spans its hole to its rim; a disc (no hole) is a torus closed at the
        # centre, which reads as a flat puck
        minor = 0.5 * (body.radius - body.inner_radius)
        major = body.radius - minor
        local, normals, faces = torus(major, minor)
        basis = np.stack([surface.u, surface.v, surface.normal], axis=1)  # local z = surface normal
        shape = cache.tori[key] = _Torus(local @ basis.T, normals @ basis.T, faces, BOARD_LIFT + minor)
    return shape


def _shade(board: _Board, surface: WorkSurface, draws: DrawList, app: App) -> None:
    """This frame's board shadows into ``board.burn``: the static ones, lifted and falling
    objects (a sphere of the object's radius, shrunk near the board so that a ring about to
    land does not black out its own hole) and the shadow-casting spheres and capsules already
    queued (capsules as the renderer sees them: spheres at both ends and the middle)."""
    light = board.light
    np.copyto(light, board.static_light)
    xs, ys = board.xs, board.ys
    o, u, v, n = surface.origin, surface.u, surface.v, surface.normal

    def cast(p: np.ndarray, r: float) -> None:
        d = p - o
        _occlude(light, xs, ys, float(d @ u), float(d @ v), float(d @ n) - BOARD_LIFT, r)

    for _, body in app.query(PlanarBody):
        if body.mode == "held" or body.mode == "falling":
            h = float((body.position - o) @ n)
            cast(body.position, min(body.radius, 0.5 * h))
    for batch in draws.spheres:
        if batch.shadow:
            radii = np.broadcast_to(np.asarray(batch.radii, np.float64), (len(batch.centres),))
            for p, r in zip(batch.centres, radii):
                cast(p, float(r))
    for caps in draws.capsules:
        if caps.shadow:
            radii = np.broadcast_to(np.asarray(caps.radii, np.float64), (len(caps.a),))
            for a, b, r in zip(caps.a, caps.b, radii):
                for t in (0.0, 0.5, 1.0):
                    cast(a + t * (b - a), float(r))
    top = board.burn[: light.size]
    np.multiply(light.reshape(-1), -board.burn_gain, out=top, casting="same_kind")
    top += board.burn_gain
    np.clip(top, 0.0, 1.0, out=top)


def planar_draw_system(app: App) -> None:
    """render.prepare: queue the work surface (board slab and lip), the pegs and every planar
    object (as a torus at its current position: on the surface, on a peg, held or falling)
    into the DrawList, with the entity of each for object-id passes. Nothing without a
    DrawList or a WorkSurface."""
    draws = app.try_resource(DrawList)
    if draws is None:
        return
    surfaces = app.query(WorkSurface)
    if not surfaces:
        return
    entity, surface = surfaces[0]
    style = app.try_resource(PlanarDrawStyle) or _DEFAULT_STYLE
    cache = app.resource(PlanarDrawCache)
    board = cache.board
    if (
        board is None
        or board.surface != entity
        or board.style is not style
        or len(board.peg_ids) != len(app.query(Peg))
    ):
        board = cache.board = _board(app, entity, surface, style)
    _shade(board, surface, draws, app)
    draws.add_surface(
        ("vrmed.planar.board", entity),
        board.positions,
        board.faces,
        normals=board.normals,
        burn=board.burn,
        color=style.board_color,
        roughness=style.board_roughness,
        wetness=0.0,
        shadow=False,  # it lies on the ground: its bounding sphere would only darken the floor around it
        entity=entity,
    )
    if len(board.cap_a):
        draws.add_capsules(
            board.cap_a,
            board.cap_b,
            board.cap_r,
            board.cap_color,
            roughness=style.peg_roughness,
            shadow=False,  # standing on the board, which hides the ground they would shade
            entities=board.cap_entity,
        )
    n = surface.normal
    for ent, body in app.query(PlanarBody):
        shape = _torus_for(cache, body, surface)
        buf = cache.buffers.get(ent)
        if buf is None or buf.shape != shape.offsets.shape:
            buf = cache.buffers[ent] = np.empty_like(shape.offsets)
        np.add(shape.offsets, body.position, out=buf)
        buf += shape.lift * n
        draws.add_surface(
            ("vrmed.planar.object", ent),
            buf,
            shape.faces,
            normals=shape.normals,
            color=style.object_color,
            roughness=style.object_roughness,
            wetness=0.1,
            entity=ent,
        )


_DEFAULT_STYLE = PlanarDrawStyle()
