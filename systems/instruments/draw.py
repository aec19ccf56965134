"""The instruments feature's drawing: tools as laparoscopic instruments and tissue boundary surfaces.

The only instruments module that imports the renderer's data types; it queues nothing when
no renderer is present.

Tools: a black insulated shaft (dark, low roughness, so it shows a sheen) from the handle to
the jaw hinge, and steel working parts: two jaws opening by the jaw angle (grasper, needle
driver, scissors and any tool type a plugin adds), or, for the ``hook``, an L-hook electrode
(a straight stem along the shaft with a short hook bent towards the jaw-opening axis).

Tissue: the boundary surface of every SoftBody that has no EmbeddedSurface of its own, in the
colour, roughness and wetness of its :class:`~vrmed.components.tissue.appearance.TissueAppearance`
(a generic pink without one), darkened where cautery burned it, with each of its bands drawn
as a thin strip lifted just off the surface: the strip is built once from the surface
triangles clipped to the band in rest coordinates (so it follows every deformation exactly,
at any mesh resolution) and rebuilt only when the surface changes (a cut); each of its vessels
(:class:`~vrmed.components.tissue.appearance.TissueVessel`) likewise, as a ribbon along the
vessel's rest polyline whose vertices are attached once to their nearest rest surface triangles
(:func:`vessel_strip`). Each frame a strip's vertices are only re-evaluated from the current
surface vertices, into buffers kept between frames. Bands and vessels are ink on the skin: on
a cut body they are embedded in the skin faces only (:func:`skin_faces`: not over the cut's
lips, which show the tissue) and lifted along the skin's own normals (at a lip's edge the
surface normal tilts into the cut), so a band cut along its centre stays drawn on both lips.
The cut's faces themselves are drawn as a surface of their own in :func:`cut_color` (the
tissue's colour darker and redder, wetter: the parenchyma a cut lays open), so the learner
sees where the tissue was cut.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vrmed.app import App
from vrmed.components.instruments.instrument import Instrument
from vrmed.components.tissue.appearance import DEFAULT_TISSUE_COLOR, TissueAppearance, TissueBand, TissueVessel
from vrmed.components.tissue.softbody import EmbeddedSurface, SoftBody
from vrmed.render.drawlist import DrawList
from vrmed.systems.collision.system import CollisionWorld, TissueSurface

from .effects import BLOOD_COLOR, SMOKE_COLOR, SMOKE_FADED, InstrumentEffects, update_effects
from .system import InstrumentWorld, tool_capsules

#: linear RGBA of the insulated shafts (black) and of the steel jaws and hook
SHAFT_COLOR = (0.012, 0.012, 0.014, 1.0)
METAL_COLOR = (0.62, 0.64, 0.68, 1.0)
#: roughness of both (one instanced draw): low, so the black shaft shows a sheen and the steel shines
TOOL_ROUGHNESS = 0.25
#: the L-hook's bend, as a fraction of the hook length (the electrode's short arm)
HOOK_BEND = 0.4
#: tool types drawn as an L-hook; every other tool type gets jaws
HOOK_TOOLS = frozenset({"hook"})
#: longest step (m) along a vessel's centre line between two ribbon sections (so the ribbon
#: follows a curved or bent surface rather than cutting chords across it)
VESSEL_STEP = 0.002
#: a cut face's colour from the tissue's own (linear RGB): each channel scaled by CUT_SHADE,
#: then CUT_RED added to red. Under the capsule a cut shows the moist parenchyma, darker and
#: redder than the organ's surface (its blood), so the learner sees where the tissue was cut:
#: the laparoscopy gallbladder's green (0.16, 0.27, 0.11) gives a dark red-brown (0.15, 0.06,
#: 0.03), the liver's red-brown a deeper red
CUT_SHADE = (0.55, 0.22, 0.25)
CUT_RED = 0.06
#: the cut faces' wet-film weight at least this (a fresh cut surface is moist)
CUT_WETNESS = 0.95

_DEFAULT_APPEARANCE = TissueAppearance()


@dataclass
class _Capsules:
    """A growing capsule batch refilled every frame (no per-frame allocation): segment ends,
    radii, per-capsule colours and owning entities."""

    a: np.ndarray = field(default_factory=lambda: np.zeros((8, 3)))
    b: np.ndarray = field(default_factory=lambda: np.zeros((8, 3)))
    r: np.ndarray = field(default_factory=lambda: np.zeros(8))
    color: np.ndarray = field(default_factory=lambda: np.zeros((8, 4)))
    entity: np.ndarray = field(default_factory=lambda: np.zeros(8, np.int64))
    n: int = 0

    def add(self, a: np.ndarray, b: np.ndarray, r: float, color: tuple[float, ...], entity: int) -> None:
        if self.n == len(self.r):
            grow = self.n
            self.a = np.concatenate([self.a, np.zeros((grow, 3))])
            self.b = np.concatenate([self.b, np.zeros((grow, 3))])
            self.r = np.concatenate([self.r, np.zeros(grow)])
            self.color = np.concatenate([self.color, np.zeros((grow, 4))])
            self.entity = np.concatenate([self.entity, np.zeros(grow, np.int64)])
        k = self.n
        self.a[k], self.b[k], self.r[k], self.color[k], self.entity[k] = a, b, r, color, entity
        self.n += 1


@dataclass
class _Band:
    """A strip (a band or a vessel) embedded in one surface: each strip vertex is a barycentric
    combination (``weights``) of one surface triangle's vertices (``corners``, indices into
    body.x). The other arrays are scratch, rewritten every frame (never reallocated)."""

    corners: np.ndarray  # (M, 3) int
    weights: np.ndarray  # (M, 3)
    faces: np.ndarray  # (K, 3) int32 into the strip vertices
    positions: np.ndarray  # (M, 3)
    normals: np.ndarray  # (M, 3)
    burn: np.ndarray  # (M,)
    tmp3: np.ndarray  # (M, 3)
    tmp1: np.ndarray  # (M,)

    @classmethod
    def of(cls, corners: np.ndarray, weights: np.ndarray, faces: np.ndarray) -> _Band:
        m = len(weights)
        z3 = np.zeros
        return cls(np.ascontiguousarray(corners), weights, faces, z3((m, 3)), z3((m, 3)), z3(m), z3((m, 3)), z3(m))


@dataclass
class _TissueDraw:
    """Per-body buffers of the tissue drawing, valid for one boundary surface."""

    surface: TissueSurface
    normals: np.ndarray
    burn: np.ndarray
    face_burn: np.ndarray
    bands: list[_Band]
    band_specs: list[tuple[float, float, tuple[float, ...]]]
    vessels: list[_Band] = field(default_factory=list)
    vessel_specs: list[tuple[int, float]] = field(default_factory=list)
    #: the surface faces (K, 3) of the tissue's own skin (not the lips of a cut), where bands
    #: and vessels are painted; None while the body is uncut (every face is skin)
    skin: np.ndarray | None = None
    #: vertex normals of the skin faces alone (the strips are lifted along them), if cut
    skin_normals: np.ndarray | None = None
    #: the cut's faces (the lips: not skin), drawn in :func:`cut_color`; None while uncut
    cut: np.ndarray | None = None
    #: vertex normals of the cut faces alone (a cut wall shades as its own surface), if cut
    cut_normals: np.ndarray | None = None


@dataclass
class _Spheres:
    """A fixed-capacity sphere batch refilled every frame (sized once from the effect settings)."""

    centres: np.ndarray
    radii: np.ndarray
    colors: np.ndarray
    entity: np.ndarray
    n: int = 0

    @classmethod
    def of(cls, capacity: int) -> _Spheres:
        return cls(np.zeros((capacity, 3)), np.zeros(capacity), np.zeros((capacity, 4)), np.zeros(capacity, np.int64))


@dataclass
class InstrumentDrawCache:
    """What ``instruments.draw`` reuses between frames (kept in the App as a resource)."""

    tools: _Capsules = field(default_factory=_Capsules)
    tissue: dict[int, _TissueDraw] = field(default_factory=dict)
    smoke: _Spheres | None = None
    blood: _Spheres | None = None


def band_strip(faces: np.ndarray, rest: np.ndarray, band: TissueBand) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The part of a triangle surface inside a band, as a strip embedded in it.

    ``faces`` (F, 3) index ``rest`` (N, 3), the rest positions; each triangle is clipped to
    the slab ``|p . axis - center| <= half_width``. Returns ``corners`` (M, 3) (the vertex
    indices of the triangle each strip vertex lies in), ``weights`` (M, 3) (its barycentric
    coordinates there) and the strip's ``faces`` (K, 3), wound as the surface."""
    s = rest @ band.axis - band.center
    lo, hi = -band.half_width, band.half_width
    corners: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    out_faces: list[tuple[int, int, int]] = []
    eye = np.eye(3)
    fs = s[faces]
    touched = np.flatnonzero((fs.max(axis=1) >= lo) & (fs.min(axis=1) <= hi))
    for f in touched:
        poly = [(eye[k], fs[f, k]) for k in range(3)]
        for bound, keep_above in ((lo, True), (hi, False)):
            clipped = []
            for k in range(len(poly)):
                (w0, s0), (w1, s1) = poly[k], poly[(k + 1) % len(poly)]
                in0 = s0 >= bound if keep_above else s0 <= bound
                in1 = s1 >= bound if keep_above else s1 <= bound
                if in0:
                    clipped.append((w0, s0))
                if in0 != in1:
                    t = (bound - s0) / (s1 - s0)
                    clipped.append((w0 + t * (w1 - w0), bound))
            poly = clipped
            if len(poly) < 3:
                break
        if len(poly) < 3:
            continue
        base = len(weights)
        for w, _ in poly:
            corners.append(faces[f])
            weights.append(w)
        out_faces.extend((base, base + k, base + k + 1) for k in range(1, len(poly) - 1))
    if not weights:
        return np.zeros((0, 3), np.int64), np.zeros((0, 3)), np.zeros((0, 3), np.int32)
    return np.array(corners, np.int64), np.array(weights), np.array(out_faces, np.int32)


def cut_color(color: tuple[float, ...] | np.ndarray) -> tuple[float, float, float, float]:
    """The colour (linear RGBA) the faces of a cut are drawn in, for tissue of ``color``: the
    moist parenchyma a cut lays open, darker and redder than the surface (:data:`CUT_SHADE`,
    :data:`CUT_RED`); the alpha is kept."""
    c = [float(v) for v in color]
    r, g, b = (min(1.0, c[k] * CUT_SHADE[k] + (CUT_RED if k == 0 else 0.0)) for k in range(3))
    return r, g, b, c[3]


def skin_faces(faces: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Which boundary faces are the tissue's own skin rather than the lips of a cut (bool, (F,)).

    A cut separates a body by duplicating the vertices on the cut (systems/tissue/cutting.py:
    the copies keep their originals' rest positions), so at rest the two lips of a cut lie
    on each other: a face of the cut is a boundary face whose three rest corners are those of
    another boundary face of the same body. Markings are ink on the skin: they are not drawn
    over the cut surfaces (which show the tissue's colour), and the lips' normals do not tilt
    them. A cut that has separated the body into pieces (each its own body) leaves its lips in
    different bodies: those are not recognised here."""
    if not len(faces):
        return np.zeros(0, dtype=bool)
    key = np.sort(rest[faces].reshape(len(faces), 9).view(np.dtype((np.void, 24))), axis=1)
    key = np.ascontiguousarray(key).view(np.dtype((np.void, 72))).ravel()
    _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    return np.asarray(counts[inverse.ravel()] == 1)


def closest_on_surface(faces: np.ndarray, points: np.ndarray, p: np.ndarray) -> tuple[int, np.ndarray, float]:
    """The point of a triangle surface nearest ``p``: the index of its face, its barycentric
    coordinates there and its distance (``faces`` (F, 3) index ``points`` (N, 3))."""
    a, b, c = points[faces[:, 0]], points[faces[:, 1]], points[faces[:, 2]]
    f_count = len(faces)
    best_d = np.full(f_count, np.inf)
    best_w = np.zeros((f_count, 3))
    # the projection onto each face's plane, where it falls inside the face
    e1, e2, d = b - a, c - a, p - a
    d11, d12, d22 = np.einsum("ij,ij->i", e1, e1), np.einsum("ij,ij->i", e1, e2), np.einsum("ij,ij->i", e2, e2)
    d1, d2 = np.einsum("ij,ij->i", d, e1), np.einsum("ij,ij->i", d, e2)
    den = np.maximum(d11 * d22 - d12 * d12, 1e-300)
    v = (d22 * d1 - d12 * d2) / den
    w = (d11 * d2 - d12 * d1) / den
    u = 1.0 - v - w
    inside = (u >= 0) & (v >= 0) & (w >= 0)
    q = a + v[:, None] * e1 + w[:, None] * e2
    dist = np.linalg.norm(p - q, axis=1)
    best_d[inside] = dist[inside]
    best_w[inside] = np.stack([u, v, w], axis=1)[inside]
    # else the nearest point of one of its edges
    for i, j in ((0, 1), (1, 2), (2, 0)):
        s0, s1 = points[faces[:, i]], points[faces[:, j]]
        e = s1 - s0
        t = np.clip(np.einsum("ij,ij->i", p - s0, e) / np.maximum(np.einsum("ij,ij->i", e, e), 1e-300), 0.0, 1.0)
        dist = np.linalg.norm(p - (s0 + t[:, None] * e), axis=1)
        better = dist < best_d
        best_d[better] = dist[better]
        ew = np.zeros((f_count, 3))
        ew[:, i], ew[:, j] = 1.0 - t, t
        best_w[better] = ew[better]
    f = int(np.argmin(best_d))
    return f, best_w[f], float(best_d[f])


def vessel_strip(
    faces: np.ndarray, rest: np.ndarray, vessel: TissueVessel, step: float = VESSEL_STEP
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A vessel as a ribbon embedded in a triangle surface (the same embedding as :func:`band_strip`).

    The vessel's rest polyline is resampled every ``step`` (m) at most; at each sample the
    ribbon's two edge vertices lie ``width / 2`` either side of it, across the line in the
    tangent plane of the nearest rest surface triangle, and each is attached to its own nearest
    rest triangle. Returns ``corners`` (M, 3), ``weights`` (M, 3) and ``faces`` (K, 3) (two
    triangles per section, wound as the surface)."""
    pts = np.asarray(vessel.points, np.float64)
    samples = [pts[0]]
    for p0, p1 in zip(pts[:-1], pts[1:]):
        n_sub = max(1, int(np.ceil(np.linalg.norm(p1 - p0) / step)))
        samples.extend(p0 + (p1 - p0) * (k / n_sub) for k in range(1, n_sub + 1))
    line = np.array(samples)
    tangents = np.gradient(line, axis=0)
    tangents /= np.maximum(np.linalg.norm(tangents, axis=1, keepdims=True), 1e-30)
    fn = np.cross(rest[faces[:, 1]] - rest[faces[:, 0]], rest[faces[:, 2]] - rest[faces[:, 0]])
    fn /= np.maximum(np.linalg.norm(fn, axis=1, keepdims=True), 1e-30)
    corners, weights = [], []
    for p, t in zip(line, tangents):
        f, _, _ = closest_on_surface(faces, rest, p)
        side = np.cross(fn[f], t)
        side /= max(float(np.linalg.norm(side)), 1e-30)
        for edge in (p + 0.5 * vessel.width * side, p - 0.5 * vessel.width * side):  # left, right
            g, w, _ = closest_on_surface(faces, rest, edge)
            corners.append(faces[g])
            weights.append(w)
    out_faces = []
    for i in range(len(line) - 1):
        left0, right0, left1, right1 = 2 * i, 2 * i + 1, 2 * i + 2, 2 * i + 3
        # side = n x t points left, so (left, right, next right) turns counter-clockwise about n
        out_faces += [(left0, right0, right1), (left0, right1, left1)]
    return np.array(corners, np.int64), np.array(weights), np.array(out_faces, np.int32)


def _vessel_specs(look: TissueAppearance) -> list[tuple[int, float]]:
    return [(id(v.points), v.width) for v in look.vessels]


def _tissue_draw(surf: TissueSurface, body: SoftBody, look: TissueAppearance) -> _TissueDraw:
    n = len(body.x)
    is_skin = skin_faces(surf.faces, body.rest_points)
    # uncut: every face is skin, and the strips use the surface's own normals
    skin = None if is_skin.all() else np.ascontiguousarray(surf.faces[is_skin])
    cut = None if skin is None else np.ascontiguousarray(surf.faces[~is_skin])
    faces = surf.faces if skin is None else skin
    bands = [_Band.of(*band_strip(faces, body.rest_points, band)) for band in look.bands]
    vessels = [_Band.of(*vessel_strip(faces, body.rest_points, v)) for v in look.vessels] if len(faces) else []
    return _TissueDraw(
        surf,
        np.zeros((n, 3)),
        np.zeros(n),
        np.zeros(surf.n_faces),
        bands,
        [(b.center, b.half_width, tuple(b.axis)) for b in look.bands],
        vessels,
        _vessel_specs(look),
        skin,
        None if skin is None else np.zeros((n, 3)),
        cut,
        None if cut is None else np.zeros((n, 3)),
    )


def _vertex_normals(p: np.ndarray, faces: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals of the surface ``faces`` over ``p``, into ``out``."""
    fn = np.cross(p[faces[:, 1]] - p[faces[:, 0]], p[faces[:, 2]] - p[faces[:, 0]])
    out[:] = 0.0
    for k in range(3):
        np.add.at(out, faces[:, k], fn)
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-30)
    return out


def _interpolate(band: _Band, values: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[m] = sum_k weights[m, k] values[corners[m, k]]`` (values (N,) or (N, 3)), in the
    strip's own buffers (no allocation of array data)."""
    w = band.weights
    if values.ndim == 1:
        tmp = band.tmp1
        out[:] = 0.0
        for k in range(3):
            np.take(values, band.corners[:, k], out=tmp)
            tmp *= w[:, k]
            out += tmp
    else:
        tmp = band.tmp3
        out[:] = 0.0
        for k in range(3):
            np.take(values, band.corners[:, k], axis=0, out=tmp)
            tmp *= w[:, k : k + 1]
            out += tmp
    return out


def _place_strip(strip: _Band, p: np.ndarray, normals: np.ndarray, burn: np.ndarray | None, lift: float) -> None:
    """This frame's strip: its vertices interpolated from the surface's current ones, lifted
    ``lift`` (m) along the interpolated normal."""
    _interpolate(strip, normals, strip.normals)
    length = strip.tmp1
    np.einsum("ij,ij->i", strip.normals, strip.normals, out=length)
    np.sqrt(length, out=length)
    np.maximum(length, 1e-30, out=length)
    strip.normals /= length[:, None]
    _interpolate(strip, p, strip.positions)
    np.multiply(strip.normals, lift, out=strip.tmp3)
    strip.positions += strip.tmp3
    if burn is not None:
        _interpolate(strip, burn, strip.burn)


def _draw_tools(app: App, draws: DrawList, cache: InstrumentDrawCache) -> None:
    world = app.resource(InstrumentWorld)
    caps = cache.tools
    caps.n = 0
    for entity, inst in sorted(app.query(Instrument), key=lambda e: e[0]):
        if entity not in world.tools:
            continue
        (handle, hinge, shaft_r), *jaws = tool_capsules(world, entity, inst)
        caps.add(handle, hinge, shaft_r, SHAFT_COLOR, entity)
        if inst.tool in HOOK_TOOLS:
            # the electrode: a stem along the shaft (hinge to tip, where the hook burns) and
            # a short arm bent square to it, towards the tool frame's x (the jaw-opening axis)
            bend = inst.tip + HOOK_BEND * inst.jaw_length * world.tools[entity].frame1[:, 0]
            caps.add(hinge, inst.tip, inst.jaw_radius, METAL_COLOR, entity)
            caps.add(inst.tip, bend, inst.jaw_radius, METAL_COLOR, entity)
        else:
            for a, b, r in jaws:
                caps.add(a, b, r, METAL_COLOR, entity)
    if caps.n:
        n = caps.n  # one instanced draw for every tool; views into the cache's arrays
        draws.add_capsules(
            caps.a[:n], caps.b[:n], caps.r[:n], caps.color[:n], roughness=TOOL_ROUGHNESS, entities=caps.entity[:n]
        )


def _draw_tissue(app: App, draws: DrawList, cache: InstrumentDrawCache) -> None:
    world = app.resource(InstrumentWorld)
    cworld = app.resource(CollisionWorld)
    for entity, body in app.query(SoftBody):
        if app.try_get(entity, EmbeddedSurface) is not None:
            continue
        look = app.try_get(entity, TissueAppearance) or _DEFAULT_APPEARANCE
        surf = cworld.surface(entity, body)
        td = cache.tissue.get(entity)
        specs = [(b.center, b.half_width, tuple(b.axis)) for b in look.bands]
        if (
            td is None
            or td.surface is not surf
            or len(td.normals) != len(body.x)
            or td.band_specs != specs
            or td.vessel_specs != _vessel_specs(look)
        ):
            td = cache.tissue[entity] = _tissue_draw(surf, body, look)
        p = body.x
        faces = surf.faces
        # area-weighted vertex normals; the strips are lifted along those of the skin alone
        # (at a cut's lip the surface's own normal tilts into the cut)
        if td.skin is not None and td.skin_normals is not None:
            normals = lift_normals = _vertex_normals(p, td.skin, td.skin_normals)
        else:
            normals = lift_normals = _vertex_normals(p, faces, td.normals)
        burn: np.ndarray | None = None
        marks = world.burned.get(entity)
        if marks is not None:
            ids = body.tet_index[surf.face_tet]
            face_burn = td.face_burn
            face_burn[:] = (ids < marks.size) & marks[np.minimum(ids, marks.size - 1)]
            burn = td.burn
            burn[:] = 0.0
            for k in range(3):
                np.maximum.at(burn, faces[:, k], face_burn)
        if td.skin is not None and td.cut is not None and td.cut_normals is not None:
            # a cut body: the skin in the tissue's colour (shaded with its own normals, so the
            # lips keep a crisp edge) and the cut's faces as the parenchyma they lay open
            draws.add_surface(
                ("vrmed.tissue", entity),
                p,
                td.skin,
                normals=lift_normals,
                burn=burn,
                color=tuple(look.color),
                roughness=look.roughness,
                wetness=look.wetness,
                entity=entity,
            )
            draws.add_surface(
                ("vrmed.tissue.cut", entity),
                p,
                td.cut,
                normals=_vertex_normals(p, td.cut, td.cut_normals),
                burn=burn,
                color=cut_color(look.color),
                roughness=look.roughness,
                wetness=max(look.wetness, CUT_WETNESS),
                entity=entity,
            )
        else:
            draws.add_surface(
                ("vrmed.tissue", entity),
                p,
                faces,
                normals=normals,
                burn=burn,
                color=tuple(look.color),
                roughness=look.roughness,
                wetness=look.wetness,
                entity=entity,
            )
        for k, (band, strip) in enumerate(zip(look.bands, td.bands)):
            if not len(strip.weights):
                continue
            # each band sits a little above the previous one, so that later bands are drawn over it
            _place_strip(strip, p, lift_normals, burn, band.offset * (k + 1))
            draws.add_surface(
                ("vrmed.tissue.band", entity, k),
                strip.positions,
                strip.faces,
                normals=strip.normals,
                burn=strip.burn if burn is not None else None,
                color=tuple(band.color),
                roughness=look.roughness,
                wetness=look.wetness,
                shadow=False,  # inside the body's own bounding sphere
                entity=entity,
            )
        # vessels over the top band
        top = max((band.offset * (k + 1) for k, band in enumerate(look.bands)), default=0.0)
        for k, (vessel, strip) in enumerate(zip(look.vessels, td.vessels)):
            _place_strip(strip, p, lift_normals, burn, top + vessel.offset)
            draws.add_surface(
                ("vrmed.tissue.vessel", entity, k),
                strip.positions,
                strip.faces,
                normals=strip.normals,
                burn=strip.burn if burn is not None else None,
                color=tuple(vessel.color),
                roughness=look.roughness,
                wetness=look.wetness,
                shadow=False,
                entity=entity,
            )


#: how far each puff of a plume drifts sideways over its life (m), per puff (deterministic)
_PUFF_DRIFT = 0.004
_GOLDEN = 2.399963229728653  # golden angle (rad): puffs of a plume spread evenly around


def _draw_effects(app: App, draws: DrawList, cache: InstrumentDrawCache) -> None:
    """Smoke plumes and blood pools of :class:`InstrumentEffects` (render-only state)."""
    fx = app.try_resource(InstrumentEffects)
    if fx is None:
        fx = InstrumentEffects()
        app.insert_resource(fx)
    update_effects(app, fx)
    s = fx.settings
    t = float(app.clock.time)
    smoke = cache.smoke
    if smoke is None:
        smoke = cache.smoke = _Spheres.of(s.smoke_plumes * s.smoke_puffs)
        cache.blood = _Spheres.of(s.blood_pools * s.blood_drops)
    smoke.n = 0
    for k in fx.live_plumes(t):
        age = (t - fx.smoke_start[k]) / s.smoke_life  # 0..1
        seq = int(fx.smoke_seq[k])
        for j in range(s.smoke_puffs):
            lag = j / s.smoke_puffs  # later puffs leave later and all are gone when the plume ends
            a = (age - 0.35 * lag) / (1.0 - 0.35 * lag)  # this puff's own 0..1
            if not 0.0 < a < 1.0:
                continue
            angle = _GOLDEN * (seq * s.smoke_puffs + j)
            i = smoke.n
            c = smoke.centres[i]
            c[:] = fx.smoke_origin[k]
            c[0] += _PUFF_DRIFT * a * np.cos(angle)
            c[2] += _PUFF_DRIFT * a * np.sin(angle)
            c[1] += s.smoke_rise * s.smoke_life * a + 0.001
            # swells, then thins away to nothing (no transparency: a fade is a shrink)
            smoke.radii[i] = s.smoke_radius * (1.0 - 0.4 * lag) * np.sin(np.pi * a) ** 0.6
            smoke.colors[i] = [SMOKE_COLOR[m] + (SMOKE_FADED[m] - SMOKE_COLOR[m]) * a for m in range(4)]
            smoke.n += 1
    if smoke.n:
        n = smoke.n
        draws.add_spheres(
            smoke.centres[:n], smoke.radii[:n], smoke.colors[:n], roughness=1.0, wetness=0.0, shadow=False
        )
    blood = cache.blood
    assert blood is not None
    blood.n = 0
    for k in np.flatnonzero(fx.blood_start <= t):
        body = app.try_get(int(fx.blood_body[k]), SoftBody)
        if body is None:
            continue
        grow = min(1.0, (t - fx.blood_start[k]) / s.blood_spread)
        x = body.x
        for j, v in enumerate(fx.blood_anchor[k]):
            if v >= len(x):
                continue
            i = blood.n
            blood.centres[i] = x[v]
            # the first drop is the source; the others well up a little later
            blood.radii[i] = s.blood_radius * max(0.0, min(1.0, 1.6 * grow - 0.12 * j)) + 1e-5
            blood.colors[i] = BLOOD_COLOR
            blood.entity[i] = fx.blood_body[k]
            blood.n += 1
    if blood.n:
        n = blood.n
        draws.add_spheres(
            blood.centres[:n], blood.radii[:n], blood.colors[:n], roughness=0.15, wetness=1.0, shadow=False,
            entities=blood.entity[:n],
        )  # fmt: skip


def instruments_draw_system(app: App) -> None:
    """render.prepare: queue every instrument (black shaft; steel jaws, or an L-hook for the
    hook) and the boundary surface of every SoftBody that has no EmbeddedSurface of its own
    (in its TissueAppearance, with per-vertex burn from cautery, its marked bands, and
    following cuts) into the renderer's DrawList, if there is one."""
    draws = app.try_resource(DrawList)
    if draws is None:
        return
    cache = app.try_resource(InstrumentDrawCache)
    if cache is None:  # first drawn frame: the cache lives with the App's other resources
        cache = InstrumentDrawCache()
        app.insert_resource(cache)
    _draw_tools(app, draws, cache)
    _draw_tissue(app, draws, cache)
    _draw_effects(app, draws, cache)


__all__ = [
    "DEFAULT_TISSUE_COLOR",
    "METAL_COLOR",
    "SHAFT_COLOR",
    "InstrumentDrawCache",
    "InstrumentEffects",
    "band_strip",
    "closest_on_surface",
    "cut_color",
    "instruments_draw_system",
    "skin_faces",
    "vessel_strip",
]
