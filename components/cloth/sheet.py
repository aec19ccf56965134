"""Cloth components: :class:`ClothMaterial` and the :class:`ClothSheet` triangle membrane.

A ClothSheet is a thin shell (gauze, drapes, membranes) simulated as triangles: an in-plane
membrane (linear plane-stress moduli at small strain) plus isometric bending, solved by
Projective Dynamics in :mod:`vrmed.systems.cloth`. It holds the model (rest = material coordinates, triangles, the
rest 2D frame of each triangle, bending stencils), the state (positions, velocities) and
preallocated scratch as contiguous float64/int64 arrays, so the numba kernels run without
allocating. Units are SI: metres, kilograms, seconds, pascals.

Gauze figures used for the defaults (assumptions, docs/cloth.md "Parameters"): areal density
rho t = 0.03 kg/m^2 (cotton gauze 25-40 g/m^2, e.g. the 20 x 12 threads/inch type VII of
USP "Absorbent Gauze"), thickness 0.4 mm, equivalent isotropic membrane modulus 2 MPa (a
woven fabric is anisotropic and nearly unresisting at first because of yarn crimp; this is a
mid-range secant value, giving E t = 800 N/m) and nu = 0.3.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Bounds a ClothMaterial accepts (Pa, m, kg/m^3, 1/s).
MIN_YOUNGS, MAX_YOUNGS = 1.0, 1.0e12
MIN_THICKNESS, MAX_THICKNESS = 1.0e-6, 0.01
MIN_DENSITY, MAX_DENSITY = 1.0, 2.5e4
MAX_DAMPING = 100.0
#: Largest Coulomb friction coefficient a ClothMaterial accepts.
MAX_FRICTION = 10.0

#: Triangles with a rest area below this fraction of the median are refused (degenerate).
MIN_AREA_FRACTION = 1.0e-6


class ClothError(ValueError):
    """Bad cloth input (material, mesh, pins); the message names the field or element."""


@dataclass(frozen=True)
class ClothMaterial:
    """An isotropic thin-shell material.

    ``youngs_modulus`` E (Pa) and ``poisson_ratio`` nu of the in-plane membrane (plane stress:
    membrane stiffness per unit width E t), ``thickness`` t (m), ``density`` (kg/m^3, so the
    areal density is density * thickness), ``bending_stiffness`` D (N m) overriding the plate
    value E t^3 / (12 (1 - nu^2)) (a woven fabric bends far more easily than a solid plate of
    its thickness: its yarns slide), and ``damping``, a mass-proportional velocity damping in
    1/s (like air drag; it does not change static equilibria), and the Coulomb friction
    coefficients ``friction_static`` and ``friction_kinetic`` (dimensionless, kinetic <= static)
    of the sheet on the static boxes and planes it lies on (docs/cloth.md, "Contact"). The
    defaults are cotton gauze (see the module docstring and docs/cloth.md).
    """

    youngs_modulus: float = 2.0e6
    poisson_ratio: float = 0.3
    thickness: float = 4.0e-4
    density: float = 75.0
    bending_stiffness: float | None = None
    damping: float = 1.0
    #: Coulomb friction on boxes and planes (a modelling choice for cotton gauze on the
    #: trainer's plastic: docs/cloth.md, "Contact")
    friction_static: float = 0.5
    friction_kinetic: float = 0.4

    def __post_init__(self) -> None:
        if not MIN_YOUNGS <= self.youngs_modulus <= MAX_YOUNGS:
            raise ClothError(
                f"ClothMaterial: youngs_modulus must be {MIN_YOUNGS:g}-{MAX_YOUNGS:g} Pa, got {self.youngs_modulus}"
            )
        if not 0.0 <= self.poisson_ratio < 0.5:
            raise ClothError(f"ClothMaterial: poisson_ratio must be in [0, 0.5), got {self.poisson_ratio}")
        if not MIN_THICKNESS <= self.thickness <= MAX_THICKNESS:
            raise ClothError(
                f"ClothMaterial: thickness must be {MIN_THICKNESS:g}-{MAX_THICKNESS:g} m, got {self.thickness}"
            )
        if not MIN_DENSITY <= self.density <= MAX_DENSITY:
            raise ClothError(
                f"ClothMaterial: density must be {MIN_DENSITY:g}-{MAX_DENSITY:g} kg/m^3, got {self.density}"
            )
        if self.bending_stiffness is not None and not 0.0 <= self.bending_stiffness < 1.0e3:
            raise ClothError(
                f"ClothMaterial: bending_stiffness must be 0-1e3 N m (or omitted), got {self.bending_stiffness}"
            )
        if not 0.0 <= self.damping <= MAX_DAMPING:
            raise ClothError(f"ClothMaterial: damping must be 0-{MAX_DAMPING:g} 1/s, got {self.damping}")
        if not 0.0 <= self.friction_static <= MAX_FRICTION:
            raise ClothError(f"ClothMaterial: friction_static must be 0-{MAX_FRICTION:g}, got {self.friction_static}")
        if not 0.0 <= self.friction_kinetic <= self.friction_static:
            raise ClothError(
                "ClothMaterial: friction_kinetic must be 0 to friction_static "
                f"({self.friction_static}), got {self.friction_kinetic}"
            )

    @property
    def mu(self) -> float:
        """Shear modulus mu = E / (2 (1 + nu)) in Pa."""
        return self.youngs_modulus / (2.0 * (1.0 + self.poisson_ratio))

    @property
    def plane_stress_lambda(self) -> float:
        """Plane-stress Lame parameter E nu / (1 - nu^2) in Pa (a thin sheet is free through its thickness)."""
        nu = self.poisson_ratio
        return self.youngs_modulus * nu / (1.0 - nu * nu)

    @property
    def bending(self) -> float:
        """Bending stiffness D (N m): the override, else E t^3 / (12 (1 - nu^2))."""
        if self.bending_stiffness is not None:
            return float(self.bending_stiffness)
        nu = self.poisson_ratio
        return self.youngs_modulus * self.thickness**3 / (12.0 * (1.0 - nu * nu))

    @property
    def areal_density(self) -> float:
        """Mass per area (kg/m^2): density * thickness."""
        return self.density * self.thickness


@dataclass
class ClothSheetSpec:
    """How a pack declares a ClothSheet in YAML: a flat rectangle ``size`` (m, along the
    sheet's two axes) meshed with square cells of edge ``cell`` (m), each split into
    ``pattern`` triangles ("alternating": two per cell with the diagonal flipped in a
    checkerboard, "crossed": four per cell around a centre vertex; neither has a preferred
    shear direction), lying in the plane through ``origin`` (its lower corner) spanned by
    ``axis_u`` and ``axis_v`` (default: the horizontal x-z plane, y up), with a material and
    pins: ``pin_edges`` any of "u0", "u1", "v0", "v1" (the edges at u = 0, u = size[0],
    v = 0, v = size[1]) and ``pins`` vertex indices."""

    size: tuple[float, float] = (0.1, 0.1)
    cell: float = 0.0025
    pattern: str = "alternating"
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    axis_u: tuple[float, float, float] = (1.0, 0.0, 0.0)
    axis_v: tuple[float, float, float] = (0.0, 0.0, 1.0)
    material: ClothMaterial = field(default_factory=ClothMaterial)
    pin_edges: list[str] = field(default_factory=list)
    pins: list[int] = field(default_factory=list)
    color: tuple[float, float, float, float] = (0.92, 0.92, 0.88, 1.0)

    def __post_init__(self) -> None:
        if len(self.size) != 2 or not all(s > 0 for s in self.size):
            raise ClothError(f"size: two positive lengths (m) are needed, got {self.size}")
        if not self.cell > 0 or self.cell > min(self.size):
            raise ClothError(f"cell: must be > 0 and at most the smaller side {min(self.size)} m, got {self.cell}")
        if max(self.size) / self.cell > 2000:
            raise ClothError(f"cell: {self.cell} m gives more than 2000 cells along a side; use a larger cell")
        if self.pattern not in PATTERNS:
            raise ClothError(f"pattern: must be one of {', '.join(PATTERNS)}, got {self.pattern!r}")
        bad = [e for e in self.pin_edges if e not in EDGES]
        if bad:
            raise ClothError(f"pin_edges: {bad[0]!r} is not an edge; use any of {', '.join(EDGES)}")
        u, v = np.asarray(self.axis_u, float), np.asarray(self.axis_v, float)
        if (
            u.shape != (3,)
            or v.shape != (3,)
            or np.linalg.norm(np.cross(u, v)) < 1e-9 * max(1e-300, float(np.linalg.norm(u) * np.linalg.norm(v)))
        ):
            raise ClothError("axis_u, axis_v: two non-parallel 3-vectors are needed")


PATTERNS = ("alternating", "crossed")
EDGES = ("u0", "u1", "v0", "v1")


def rectangle_mesh(
    size: tuple[float, float],
    cell: float,
    pattern: str = "alternating",
    origin: tuple[float, float, float] | np.ndarray = (0.0, 0.0, 0.0),
    axis_u: tuple[float, float, float] | np.ndarray = (1.0, 0.0, 0.0),
    axis_v: tuple[float, float, float] | np.ndarray = (0.0, 0.0, 1.0),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A flat rectangular triangle mesh: ``(points (V, 3), triangles (F, 3) int64, uv (V, 2))``.

    The rectangle ``size`` (m) is divided into round(size / cell) square-ish cells per side;
    ``pattern`` "alternating" splits each cell along one diagonal, flipped in a checkerboard
    (the union-jack pattern: shear in either diagonal direction meets the same stiffness),
    "crossed" into four triangles around an added centre vertex. Triangles are wound so their
    normal is axis_u x axis_v. ``uv`` are the in-plane coordinates (m) of each vertex.
    """
    if pattern not in PATTERNS:
        raise ClothError(f"pattern: must be one of {', '.join(PATTERNS)}, got {pattern!r}")
    nu_ = max(1, int(round(size[0] / cell)))
    nv_ = max(1, int(round(size[1] / cell)))
    us = np.linspace(0.0, size[0], nu_ + 1)
    vs = np.linspace(0.0, size[1], nv_ + 1)
    uu, vv = np.meshgrid(us, vs, indexing="ij")
    uv = np.stack([uu.ravel(), vv.ravel()], axis=1)

    def vid(i: np.ndarray | int, j: np.ndarray | int) -> np.ndarray:
        return np.asarray(i) * (nv_ + 1) + np.asarray(j)

    ii, jj = np.meshgrid(np.arange(nu_), np.arange(nv_), indexing="ij")
    i, j = ii.ravel(), jj.ravel()
    a, b, c, d = vid(i, j), vid(i + 1, j), vid(i + 1, j + 1), vid(i, j + 1)  # counter-clockwise in (u, v)
    if pattern == "alternating":
        flip = (i + j) % 2 == 1
        t1 = np.where(flip[:, None], np.stack([a, b, d], 1), np.stack([a, b, c], 1))
        t2 = np.where(flip[:, None], np.stack([b, c, d], 1), np.stack([a, c, d], 1))
        tris = np.stack([t1, t2], axis=1).reshape(-1, 3)
    else:
        centre = len(uv) + np.arange(len(i))
        uv = np.concatenate([uv, np.stack([(us[i] + us[i + 1]) / 2, (vs[j] + vs[j + 1]) / 2], 1)])
        tris = np.stack(
            [
                np.stack([a, b, centre], 1),
                np.stack([b, c, centre], 1),
                np.stack([c, d, centre], 1),
                np.stack([d, a, centre], 1),
            ],
            axis=1,
        ).reshape(-1, 3)
    au, av = np.asarray(axis_u, float), np.asarray(axis_v, float)
    au = au / np.linalg.norm(au)
    av = av - (av @ au) * au
    av = av / np.linalg.norm(av)
    points = np.asarray(origin, float) + uv[:, :1] * au + uv[:, 1:] * av
    return np.ascontiguousarray(points), np.ascontiguousarray(tris, dtype=np.int64), uv


def _f64(shape: Any) -> np.ndarray:
    return np.zeros(shape, dtype=np.float64)


@dataclass(eq=False)
class ClothSheet:
    """A cloth (triangle membrane + bending) simulated by Projective Dynamics; build it with :meth:`from_mesh`,
    :meth:`rectangle` or, in a pack, the ``ClothSheet:`` prefab entry (:class:`ClothSheetSpec`).

    ``rest`` (V, 3) are the material coordinates (the unstretched sheet; a cut carries them
    for its new vertices), ``triangles`` (F, 3), ``x``/``v`` the state, ``mass`` the lumped
    vertex masses (areal density x a third of each adjacent triangle's rest area),
    ``inv_mass`` 0 on pinned and held vertices, ``pinned`` the pin mask. ``mark`` (V,) in
    [0, 1] is ink drawn on the sheet (0 none, 1 full: a scenario marks the line to cut by
    setting it on the vertices near the line) and ``color`` its RGBA.

    Derived (rebuilt by :meth:`rebuild` after the triangles change, e.g. by a cut):
    ``dm_inv`` (F, 2, 2) inverse rest edge matrix in each triangle's rest 2D frame,
    ``rest_area`` (F,), the bending stencils (:func:`bending_laplacian`: per interior vertex ``bend_vertex`` a row
    ``bend_ptr``/``bend_idx``/``bend_w`` of the cotangent Laplacian, ``bend_area_scale`` and
    the rest value ``bend_rest``).
    """

    __vrmed_yaml__ = ClothSheetSpec  # packs declare a sheet by its spec (size, cell, material, pins)

    material: ClothMaterial
    rest: np.ndarray
    triangles: np.ndarray
    x: np.ndarray
    v: np.ndarray
    mass: np.ndarray
    inv_mass: np.ndarray
    pinned: np.ndarray
    mark: np.ndarray
    color: tuple[float, float, float, float] = (0.92, 0.92, 0.88, 1.0)
    x_prev: np.ndarray = field(default_factory=lambda: _f64((0, 3)))
    dm_inv: np.ndarray = field(default_factory=lambda: _f64((0, 2, 2)))
    rest_area: np.ndarray = field(default_factory=lambda: _f64(0))
    bend_vertex: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    bend_ptr: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    bend_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    bend_w: np.ndarray = field(default_factory=lambda: _f64(0))
    bend_area_scale: np.ndarray = field(default_factory=lambda: _f64(0))
    bend_rest: np.ndarray = field(default_factory=lambda: _f64((0, 3)))
    #: per triangle: G (3, 2) with F = [x0 x1 x2] G, and the weights of its two projective
    #: constraints (rotations: 2 mu A t; area-preserving stretches: 2 lambda_ps A t, N m)
    gt: np.ndarray = field(default_factory=lambda: _f64((0, 3, 2)))
    w_rot: np.ndarray = field(default_factory=lambda: _f64(0))
    w_area: np.ndarray = field(default_factory=lambda: _f64(0))
    #: bending: 1 / compliance per stencil (D / A_i, N m)
    bend_inv_alpha: np.ndarray = field(default_factory=lambda: _f64(0))
    #: solver cache: the factored global matrix and what it was built for (see vrmed.systems.cloth.pd)
    solver_cache: dict[str, Any] = field(default_factory=dict)
    #: bumped whenever the pinned or held vertices change (see :meth:`refresh_inv_mass`)
    fixed_version: int = 0
    #: held vertices (by graspers), who holds each (an entity, -1: none named), their
    #: coordinates in the holder's frame, and where they must be at the start / end of this
    #: display frame (set every frame by the holder)
    hold_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    hold_owner: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    hold_local: np.ndarray = field(default_factory=lambda: _f64((0, 3)))
    hold_from: np.ndarray = field(default_factory=lambda: _f64((0, 3)))
    hold_to: np.ndarray = field(default_factory=lambda: _f64((0, 3)))
    #: external force per vertex (N), kept until cleared
    external_force: np.ndarray = field(default_factory=lambda: _f64((0, 3)))
    #: per vertex: the normals of the last draw (scratch of the drawing, reused between frames)
    normals: np.ndarray = field(default_factory=lambda: _f64((0, 3)))

    @classmethod
    def from_spec(cls, spec: ClothSheetSpec) -> ClothSheet:
        """Build from a pack's YAML declaration (see :class:`ClothSheetSpec`)."""
        points, tris, uv = rectangle_mesh(spec.size, spec.cell, spec.pattern, spec.origin, spec.axis_u, spec.axis_v)
        pins = set(int(i) for i in spec.pins)
        bad = [i for i in pins if not 0 <= i < len(points)]
        if bad:
            raise ClothError(f"pins: vertex index {bad[0]} is out of range (the sheet has {len(points)} vertices)")
        tol = 1e-9 * max(spec.size)
        for e in spec.pin_edges:
            axis, at = (
                (0, 0.0)
                if e == "u0"
                else (0, spec.size[0])
                if e == "u1"
                else (1, 0.0)
                if e == "v0"
                else (1, spec.size[1])
            )
            pins.update(np.flatnonzero(np.abs(uv[:, axis] - at) <= tol).tolist())
        sheet = cls.from_mesh(points, tris, spec.material, pins=sorted(pins))
        sheet.color = tuple(float(c) for c in spec.color)  # type: ignore[assignment]
        return sheet

    @classmethod
    def rectangle(
        cls,
        size: tuple[float, float] = (0.1, 0.1),
        cell: float = 0.0025,
        material: ClothMaterial | None = None,
        **kw: Any,
    ) -> ClothSheet:
        """A flat rectangular sheet (see :class:`ClothSheetSpec` for the keyword arguments)."""
        return cls.from_spec(ClothSheetSpec(size=size, cell=cell, material=material or ClothMaterial(), **kw))

    @classmethod
    def from_mesh(
        cls,
        points: np.ndarray,
        triangles: np.ndarray,
        material: ClothMaterial | None = None,
        pins: np.ndarray | list[int] | None = None,
    ) -> ClothSheet:
        """A sheet at rest in the shape ``points`` (V, 3) (the material coordinates) with
        ``triangles`` (F, 3). Raises :class:`ClothError` naming the first bad triangle if one
        has an out-of-range index, a repeated vertex or (almost) no area, or if a vertex
        belongs to no triangle."""
        points = np.ascontiguousarray(points, dtype=np.float64)
        tris = np.ascontiguousarray(triangles, dtype=np.int64)
        if points.ndim != 2 or points.shape[1] != 3 or tris.ndim != 2 or tris.shape[1] != 3 or len(tris) == 0:
            raise ClothError(
                f"cloth mesh: need points (V, 3) and triangles (F, 3), got {points.shape} and {tris.shape}"
            )
        n = len(points)
        bad = np.flatnonzero((tris < 0).any(1) | (tris >= n).any(1))
        if bad.size:
            raise ClothError(f"cloth mesh: triangle {int(bad[0])} has a vertex index out of range 0-{n - 1}")
        area = triangle_areas(points, tris)
        med = float(np.median(area))
        bad = np.flatnonzero(
            (tris[:, 0] == tris[:, 1])
            | (tris[:, 1] == tris[:, 2])
            | (tris[:, 0] == tris[:, 2])
            | (area <= MIN_AREA_FRACTION * med)
        )
        if bad.size or not med > 0:
            k = int(bad[0]) if bad.size else 0
            raise ClothError(f"cloth mesh: triangle {k} is degenerate (rest area {area[k]:.3g} m^2): no rest shape")
        used = np.zeros(n, bool)
        used[tris.ravel()] = True
        if not used.all():
            raise ClothError(f"cloth mesh: vertex {int(np.flatnonzero(~used)[0])} belongs to no triangle")
        material = material or ClothMaterial()
        pinned = np.zeros(n, bool)
        if pins is not None and len(pins):
            pinned[np.asarray(pins, dtype=np.int64)] = True
        sheet = cls(
            material=material,
            rest=points.copy(),
            triangles=tris,
            x=points.copy(),
            v=_f64((n, 3)),
            mass=_f64(n),
            inv_mass=_f64(n),
            pinned=pinned,
            mark=_f64(n),
        )
        sheet.rebuild()
        return sheet

    # -- derived data ----------------------------------------------------------------------
    def rebuild(self) -> None:
        """Recompute everything derived from ``rest`` and ``triangles``: rest frames, areas,
        lumped masses, bending stencils, scratch. Called at construction and
        after a cut (allocates; never per frame)."""
        rest, tris = self.rest, self.triangles
        n = len(rest)
        self.rest_area = triangle_areas(rest, tris)
        self.dm_inv = rest_frames(rest, tris)
        mass = np.zeros(n)
        np.add.at(mass, tris.ravel(), np.repeat(self.material.areal_density * self.rest_area / 3.0, 3))
        self.mass = mass
        (
            self.bend_vertex,
            self.bend_ptr,
            self.bend_idx,
            self.bend_w,
            self.bend_area_scale,
            self.bend_rest,
        ) = bending_laplacian(rest, tris)
        g = np.zeros((len(tris), 3, 2))
        g[:, 1] = self.dm_inv[:, 0]
        g[:, 2] = self.dm_inv[:, 1]
        g[:, 0] = -g[:, 1] - g[:, 2]
        self.gt = g
        self.set_compliances()
        for name in ("v", "external_force"):
            arr = getattr(self, name)
            if arr.shape != (n, 3):
                grown = _f64((n, 3))
                grown[: min(len(arr), n)] = arr[: min(len(arr), n)]
                setattr(self, name, grown)
        self.x_prev = self.x.copy()
        self.normals = _f64((n, 3))
        self.refresh_inv_mass()

    def set_compliances(self) -> None:
        """Constraint weights from the material and rest areas: 2 mu A t and 2 lambda_ps A t
        per triangle, D / A_i per bending stencil (docs/cloth.md, "Model")."""
        m = self.material
        vol = self.rest_area * m.thickness
        self.w_rot = 2.0 * m.mu * vol
        self.w_area = 2.0 * m.plane_stress_lambda * vol
        self.bend_inv_alpha = m.bending / self.bend_area_scale
        self.solver_cache.clear()

    def set_material(self, material: ClothMaterial) -> None:
        """Change the material (masses keep the old density; compliances are recomputed)."""
        self.material = material
        self.set_compliances()

    def refresh_inv_mass(self) -> None:
        """Inverse masses from the masses, zero on pinned and held vertices; marks the fixed
        set as changed (the solver refactors its matrix). :meth:`pin`, :meth:`hold` and
        :meth:`release` call it; call it after editing ``pinned`` by hand."""
        w = np.where(self.mass > 0, 1.0 / np.maximum(self.mass, 1e-300), 0.0)
        w[self.pinned] = 0.0
        if self.hold_idx.size:
            w[self.hold_idx] = 0.0
        self.inv_mass = w
        self.fixed_version += 1

    @property
    def n_vertices(self) -> int:
        """Number of vertices."""
        return int(self.x.shape[0])

    @property
    def n_triangles(self) -> int:
        """Number of triangles."""
        return int(self.triangles.shape[0])

    def pin(self, indices: np.ndarray | list[int], pinned: bool = True) -> None:
        """Fix (or with ``pinned=False`` release) vertices in place."""
        self.pinned[np.asarray(indices, dtype=np.int64)] = pinned
        self.refresh_inv_mass()

    def hold(self, indices: np.ndarray | list[int], owner: int = -1, local: np.ndarray | None = None) -> None:
        """Hold vertices kinematically for ``owner`` (a grasp), adding to earlier holds (a
        vertex already held stays with its holder). Held vertices travel from ``hold_from`` to
        ``hold_to`` over each display frame: set both every frame (e.g. from the jaw's pose and
        ``hold_local``, the vertices' coordinates in the holder's frame); both start where the
        vertices are. Pinned vertices are not held."""
        idx = np.unique(np.asarray(indices, dtype=np.int64))
        keep = ~np.isin(idx, self.hold_idx) & ~self.pinned[idx]
        loc = np.zeros((len(idx), 3)) if local is None else np.asarray(local, float).reshape(len(idx), 3)
        idx, loc = idx[keep], loc[keep]
        self.hold_idx = np.concatenate([self.hold_idx, idx])
        self.hold_owner = np.concatenate([self.hold_owner, np.full(len(idx), owner, np.int64)])
        self.hold_local = np.concatenate([self.hold_local, loc])
        self.hold_from = np.concatenate([self.hold_from, self.x[idx]])
        self.hold_to = np.concatenate([self.hold_to, self.x[idx]])
        self.refresh_inv_mass()

    def release(self, owner: int | None = None) -> None:
        """Let go of the vertices ``owner`` holds (all held vertices if None)."""
        keep = np.zeros(len(self.hold_idx), bool) if owner is None else self.hold_owner != owner
        for name in ("hold_idx", "hold_owner", "hold_local", "hold_from", "hold_to"):
            setattr(self, name, np.ascontiguousarray(getattr(self, name)[keep]))
        self.refresh_inv_mass()

    def total_rest_area(self) -> float:
        """Sum of the rest (material) areas of the triangles, m^2."""
        return float(self.rest_area.sum())

    def state(self) -> dict[str, Any]:
        """The sheet's comparable state for snapshots and replay digests (see ``vrmed.state``)."""
        return {"x": self.x.copy(), "v": self.v.copy(), "triangles": self.triangles.copy(), "rest": self.rest.copy()}


def triangle_areas(points: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Area of each triangle (m^2)."""
    p = points[tris]
    return 0.5 * np.linalg.norm(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1)


def rest_frames(rest: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Per triangle the inverse of its rest edge matrix Dm = [e1 e2] (2 x 2) in an orthonormal
    frame of its own plane (first axis along e1), so F = Ds Dm^-1 (3 x 2) maps rest 2D to
    current 3D."""
    p = rest[tris]
    e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    l1 = np.linalg.norm(e1, axis=1)
    t1 = e1 / l1[:, None]
    nrm = np.cross(e1, e2)
    t2 = np.cross(nrm / np.linalg.norm(nrm, axis=1)[:, None], t1)
    dm = np.zeros((len(tris), 2, 2))
    dm[:, 0, 0] = l1
    dm[:, 0, 1] = np.einsum("ij,ij->i", e2, t1)
    dm[:, 1, 1] = np.einsum("ij,ij->i", e2, t2)
    return np.ascontiguousarray(np.linalg.inv(dm))


def bending_laplacian(
    rest: np.ndarray, tris: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Quadratic bending stencils from the cotangent Laplacian (Wardetzky et al. 2007,
    "Discrete quadratic curvature energies"; Meyer et al. 2003 for the mixed Voronoi areas).

    Per vertex i: (L x)_i = sum_j (cot a_ij + cot b_ij) / 2 (x_j - x_i), whose normal part is
    ~ A_i (k1 + k2) (A_i the mixed Voronoi area), so D/2 sum_i (n_i . (L x)_i)^2 / A_i ->
    D/2 * integral of (k1 + k2)^2 dA (checked on a cylinder, tests/test_cloth.py). Returns
    (vertex (V,), ptr (V+1,), idx (nnz,), weight (nnz,), area (V,) = A_i (compliance A_i / D),
    rest value (V, 3) of (L x_rest)_i: in-plane, zero inside a flat sheet)."""
    n = len(rest)
    p = rest[tris]
    area = 0.5 * np.linalg.norm(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1)
    rows, cols, vals = [], [], []
    mixed = np.zeros(n)
    cots = np.zeros((len(tris), 3))
    for k in range(3):
        a, b = p[:, (k + 1) % 3] - p[:, k], p[:, (k + 2) % 3] - p[:, k]
        cots[:, k] = np.einsum("ij,ij->i", a, b) / np.maximum(np.linalg.norm(np.cross(a, b), axis=1), 1e-300)
    obtuse = cots < 0.0
    any_obtuse = obtuse.any(axis=1)
    for k in range(3):
        i, j = tris[:, (k + 1) % 3], tris[:, (k + 2) % 3]  # the edge opposite corner k
        half = 0.5 * cots[:, k]
        rows += [i, j]
        cols += [j, i]
        vals += [half, half]
        # Voronoi share of the edge's two ends in a non-obtuse triangle (Meyer et al. 2003, sec. 3.3)
        e2 = np.sum((rest[j] - rest[i]) ** 2, axis=1)
        vor = np.where(any_obtuse, 0.0, cots[:, k] * e2 / 8.0)
        np.add.at(mixed, i, vor)
        np.add.at(mixed, j, vor)
    for k in range(3):  # obtuse triangles: half the area to the obtuse corner, a quarter to the others
        share = np.where(obtuse[:, k], area / 2.0, area / 4.0)
        np.add.at(mixed, tris[:, k], np.where(any_obtuse, share, 0.0))
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    val = np.concatenate(vals)
    key = r * n + c
    uniq, inv = np.unique(key, return_inverse=True)
    wsum = np.zeros(len(uniq))
    np.add.at(wsum, inv, val)
    ur, uc = uniq // n, uniq % n
    # every vertex gets a stencil, boundary ones too: with interior stencils only, the free
    # edges of a strip had bending modes that cost nothing (the stencil matrix restricted to a
    # cantilever's free vertices was singular). At a boundary vertex L x also has an in-plane
    # (conormal) part; the solver penalises only the normal part of each stencil, which is
    # A_i (k1 + k2) there too.
    vertex = np.arange(n)
    # CSR rows: the vertex itself (weight minus the row sum), then its neighbours in order
    counts = np.bincount(ur, minlength=n)
    ptr_a = np.concatenate([[0], np.cumsum(counts + 1)]).astype(np.int64)
    diag = np.zeros(len(ptr_a) - 1 + len(ur), bool)
    diag[ptr_a[:-1]] = True
    idx_a = np.empty(len(diag), np.int64)
    w_a = np.empty(len(diag))
    idx_a[diag] = vertex
    idx_a[~diag] = uc
    w_a[diag] = -np.bincount(ur, weights=wsum, minlength=n)
    w_a[~diag] = wsum
    scale = np.maximum(mixed, 1e-300)
    lx = np.zeros((n, 3))
    if len(idx_a):
        row = np.repeat(np.arange(n), np.diff(ptr_a))
        np.add.at(lx, row, w_a[:, None] * rest[idx_a])
    return vertex.astype(np.int64), ptr_a, idx_a, w_a, np.ascontiguousarray(scale), lx
