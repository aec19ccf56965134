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
at any mesh resolution) and rebuilt only when the surface changes (a cut).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vrmed.app import App
from vrmed.components.instruments.instrument import Instrument
from vrmed.components.tissue.appearance import DEFAULT_TISSUE_COLOR, TissueAppearance, TissueBand
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
    """A band strip embedded in one surface: each strip vertex is a barycentric combination
    (``weights``) of one surface triangle's vertices (``corners``, indices into body.x)."""

    corners: np.ndarray  # (M, 3) int
    weights: np.ndarray  # (M, 3)
    faces: np.ndarray  # (K, 3) int32 into the strip vertices
    positions: np.ndarray  # (M, 3) scratch, rewritten every frame
    normals: np.ndarray
    burn: np.ndarray


@dataclass
class _TissueDraw:
    """Per-body buffers of the tissue drawing, valid for one boundary surface."""

    surface: TissueSurface
    normals: np.ndarray
    burn: np.ndarray
    face_burn: np.ndarray
    bands: list[_Band]
    band_specs: list[tuple[float, float, tuple[float, ...]]]


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


def _tissue_draw(surf: TissueSurface, body: SoftBody, look: TissueAppearance) -> _TissueDraw:
    bands = []
    for band in look.bands:
        corners, weights, faces = band_strip(surf.faces, body.rest_points, band)
        m = len(weights)
        bands.append(_Band(corners, weights, faces, np.zeros((m, 3)), np.zeros((m, 3)), np.zeros(m)))
    n = len(body.x)
    return _TissueDraw(
        surf,
        np.zeros((n, 3)),
        np.zeros(n),
        np.zeros(surf.n_faces),
        bands,
        [(b.center, b.half_width, tuple(b.axis)) for b in look.bands],
    )


def _interpolate(band: _Band, values: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[m] = sum_k weights[m, k] values[corners[m, k]]`` (values (N,) or (N, 3))."""
    w = band.weights
    if values.ndim == 1:
        np.multiply(values[band.corners[:, 0]], w[:, 0], out=out)
        for k in (1, 2):
            out += values[band.corners[:, k]] * w[:, k]
    else:
        np.multiply(values[band.corners[:, 0]], w[:, 0:1], out=out)
        for k in (1, 2):
            out += values[band.corners[:, k]] * w[:, k : k + 1]
    return out


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
        if td is None or td.surface is not surf or len(td.normals) != len(body.x) or td.band_specs != specs:
            td = cache.tissue[entity] = _tissue_draw(surf, body, look)
        p = body.x
        faces = surf.faces
        # area-weighted vertex normals (the strips are lifted along them)
        fn = np.cross(p[faces[:, 1]] - p[faces[:, 0]], p[faces[:, 2]] - p[faces[:, 0]])
        normals = td.normals
        normals[:] = 0.0
        for k in range(3):
            np.add.at(normals, faces[:, k], fn)
        normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-30)
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
            _interpolate(strip, normals, strip.normals)
            strip.normals /= np.maximum(np.linalg.norm(strip.normals, axis=1, keepdims=True), 1e-30)
            _interpolate(strip, p, strip.positions)
            # each band sits a little above the previous one, so that later bands are drawn over it
            strip.positions += (band.offset * (k + 1)) * strip.normals
            if burn is not None:
                _interpolate(strip, burn, strip.burn)
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
    "instruments_draw_system",
]
