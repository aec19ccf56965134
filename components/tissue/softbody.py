"""Soft-tissue components: :class:`Material` and the :class:`SoftBody` XPBD tet body.

A SoftBody holds the model (rest shape, slab-ordered tets, inverse rest matrices, compliances,
lumped masses), the state (positions, velocities) and preallocated scratch, all as contiguous
float64/int64 arrays so the numba kernels in :mod:`vrmed.systems.tissue.kernels` can run
without allocating. Units are SI: metres, kilograms, seconds, pascals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vrmed.fields import AssetPath, vec3
from vrmed.mesh import MeshError, TetMesh
from vrmed.mesh.partition import slab_partition
from vrmed.mesh.quality import check_tets


@dataclass
class BoxSpec:
    """A procedural box body: ``size`` (m) split into ``cells`` hexahedra of 6 tets each."""

    size: tuple[float, float, float] = (0.1, 0.05, 0.05)
    cells: tuple[int, int, int] = (8, 4, 4)


@dataclass
class SoftBodySpec:
    """How a pack declares a SoftBody in YAML: a tet mesh file (``mesh``, scaled to metres
    by ``scale``) or a procedural ``box``, placed at ``offset``, with a material, pinned
    vertices (``pins`` by index and/or every vertex below height ``pin_below`` m), and
    repairs of inverted/degenerate tets if asked for."""

    mesh: AssetPath | None = None
    box: BoxSpec | None = None
    scale: float = 1.0
    offset: np.ndarray = vec3()
    material: Material = field(default_factory=lambda: Material())
    pins: list[int] = field(default_factory=list)
    pin_below: float | None = None
    velocity_damping: float = 0.0
    fix_inverted: bool = False
    drop_degenerate: bool = False

    def __post_init__(self) -> None:
        if (self.mesh is None) == (self.box is None):
            raise ValueError("give exactly one of mesh (a tet mesh file) or box (a procedural box)")
        if self.scale <= 0:
            raise ValueError("scale must be positive")


@dataclass(frozen=True)
class Material:
    """An isotropic hyperelastic (stable Neo-Hookean) material.

    ``youngs_modulus`` E in Pa, ``poisson_ratio`` nu in [0, 0.5), ``density`` in kg/m^3 and
    ``damping`` the stiffness-proportional Rayleigh coefficient beta in seconds (a mode of
    angular frequency omega gets damping ratio beta * omega / 2; 0 = undamped).
    """

    youngs_modulus: float = 1.0e5
    poisson_ratio: float = 0.45
    density: float = 1000.0
    damping: float = 0.0

    def __post_init__(self) -> None:
        if not self.youngs_modulus > 0:
            raise ValueError(f"Material: Young's modulus must be > 0 Pa, got {self.youngs_modulus}.")
        if not 0.0 <= self.poisson_ratio < 0.5:
            raise ValueError(f"Material: Poisson ratio must be in [0, 0.5), got {self.poisson_ratio}.")
        if not self.density > 0:
            raise ValueError(f"Material: density must be > 0 kg/m^3, got {self.density}.")
        if not self.damping >= 0:
            raise ValueError(f"Material: damping must be >= 0 s, got {self.damping}.")

    @property
    def mu(self) -> float:
        """Lame shear modulus mu = E / (2 (1 + nu)) in Pa."""
        return self.youngs_modulus / (2.0 * (1.0 + self.poisson_ratio))

    @property
    def lam(self) -> float:
        """Lame first parameter lambda = E nu / ((1 + nu)(1 - 2 nu)) in Pa."""
        nu = self.poisson_ratio
        return self.youngs_modulus * nu / ((1.0 + nu) * (1.0 - 2.0 * nu))

    @property
    def model_lambda(self) -> float:
        """The hydrostatic stiffness the constraint uses: lambda + mu.

        The energy mu/2 (I_C - 3) + l/2 (J - gamma)^2 linearises to Lame parameters (mu, l - mu)
        (its deviatoric term also resists volume change), so l = lambda + mu reproduces the
        material's E and nu at small strain (cf. Smith et al. 2018, sec. 3.4). The uniaxial
        validation test checks both E and nu.
        """
        return self.lam + self.mu

    @property
    def gamma(self) -> float:
        """Rest-stability shift gamma = 1 + mu / l of the hydrostatic constraint (Macklin & Mueller 2021)."""
        return 1.0 + self.mu / self.model_lambda


def _f64(shape) -> np.ndarray:
    return np.zeros(shape, dtype=np.float64)


@dataclass(eq=False)
class SoftBody:
    """A deformable tetrahedral body simulated with XPBD (build it with :meth:`from_mesh`).

    Tets are stored in the parallel solve order (see
    :func:`vrmed.mesh.partition.slab_partition`); ``tet_index[k]`` is the index in the
    source mesh of stored tet k, ``block_offsets``/``phase_offsets`` delimit the slabs. ``inv_mass`` (n, 3) is the
    effective per-axis inverse mass (0 for pinned and attached vertices, and on the held axis of
    slide constraints), ``inv_mass_free`` (n,) the lumped one.
    """

    __vrmed_yaml__ = SoftBodySpec  # packs declare a SoftBody by its spec (mesh or box, material, pins)

    material: Material
    rest_points: np.ndarray
    tets: np.ndarray
    tet_index: np.ndarray
    dm_inv: np.ndarray
    rest_volume: np.ndarray
    alpha_dev: np.ndarray
    alpha_hyd: np.ndarray
    block_offsets: np.ndarray
    phase_offsets: np.ndarray
    mass: np.ndarray
    inv_mass_free: np.ndarray
    x: np.ndarray
    v: np.ndarray
    inv_mass: np.ndarray
    pinned: np.ndarray
    external_force: np.ndarray
    velocity_damping: float = 0.0
    kin_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    kin_start: np.ndarray = field(default_factory=lambda: _f64((0, 3)))
    kin_target: np.ndarray = field(default_factory=lambda: _f64((0, 3)))
    slide_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    slide_axis: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    slide_start: np.ndarray = field(default_factory=lambda: _f64(0))
    slide_target: np.ndarray = field(default_factory=lambda: _f64(0))
    x_prev: np.ndarray = field(default_factory=lambda: _f64((0, 3)))
    green: np.ndarray = field(default_factory=lambda: _f64((0, 3, 3)))
    cauchy: np.ndarray = field(default_factory=lambda: _f64((0, 3, 3)))
    energy_density: np.ndarray = field(default_factory=lambda: _f64(0))
    volume_ratio: np.ndarray = field(default_factory=lambda: _f64(0))
    checked_substep: float = 0.0  # substep length whose stability was last checked (see step_softbody)

    @classmethod
    def from_spec(cls, spec: SoftBodySpec) -> SoftBody:
        """Build from a pack's YAML declaration (see :class:`SoftBodySpec`)."""
        from vrmed.mesh import box_tets, load_tet_mesh

        if spec.mesh is not None:
            mesh = load_tet_mesh(
                spec.mesh, spec.scale, fix_inverted=spec.fix_inverted, drop_degenerate=spec.drop_degenerate
            )
        else:
            assert spec.box is not None
            mesh = box_tets(tuple(v * spec.scale for v in spec.box.size), spec.box.cells)
        mesh.points = mesh.points + np.asarray(spec.offset, dtype=np.float64)
        pins = set(int(i) for i in spec.pins)
        bad = [i for i in pins if not 0 <= i < len(mesh.points)]
        if bad:
            raise MeshError(f"pins: vertex index {bad[0]} is out of range (the mesh has {len(mesh.points)} vertices)")
        if spec.pin_below is not None:
            pins.update(np.flatnonzero(mesh.points[:, 1] < spec.pin_below).tolist())
        return cls.from_mesh(mesh, spec.material, pins=sorted(pins), velocity_damping=spec.velocity_damping)

    @classmethod
    def from_mesh(
        cls,
        mesh: TetMesh,
        material: Material,
        pins: np.ndarray | list[int] | None = None,
        velocity_damping: float = 0.0,
    ) -> SoftBody:
        """Build a body from a tet mesh: lumped masses, rest matrices, compliances, parallel slab order.

        ``pins`` are vertex indices held fixed in space. ``velocity_damping`` (1/s) is an extra
        mass-proportional damping (like air drag); it does not change static equilibria.
        Raises :class:`MeshError` if the mesh has degenerate tets (no rest shape to restore).
        """
        import numba

        points = np.ascontiguousarray(mesh.points, dtype=np.float64)
        tets = np.ascontiguousarray(mesh.tets, dtype=np.int64)
        rep = check_tets(points, tets)
        if rep.degenerate.size:
            raise MeshError(
                f"{mesh.source or 'mesh'}: {rep.degenerate.size} degenerate tets (e.g. index "
                f"{int(rep.degenerate[0])}) have no rest volume; load with drop_degenerate=True."
            )
        n = len(points)
        order, block_offsets, phase_offsets = slab_partition(points, tets, numba.get_num_threads())
        tets = np.ascontiguousarray(tets[order])
        p = points[tets]
        Dm = np.stack([p[:, 1] - p[:, 0], p[:, 2] - p[:, 0], p[:, 3] - p[:, 0]], axis=2)
        det = np.linalg.det(Dm)
        # Inverted rest tets are fine: F = Ds Dm^-1 is the identity at rest whatever the
        # winding, so only |det| matters for the volume.
        volume = np.abs(det) / 6.0
        Q = np.ascontiguousarray(np.linalg.inv(Dm))
        mass = np.zeros(n)
        np.add.at(mass, tets.ravel(), np.repeat(material.density * volume / 4.0, 4))
        if np.any(mass <= 0):
            raise MeshError(f"{mesh.source or 'mesh'}: some vertices belong to no tet; remove unused nodes.")
        inv_mass_free = 1.0 / mass
        pinned = np.zeros(n, dtype=bool)
        if pins is not None:
            pinned[np.asarray(pins, dtype=np.int64)] = True
        body = cls(
            material=material,
            rest_points=points.copy(),
            tets=tets,
            tet_index=order.astype(np.int64),
            dm_inv=Q,
            rest_volume=volume,
            alpha_dev=1.0 / (material.mu * volume),
            alpha_hyd=1.0 / (material.model_lambda * volume),
            block_offsets=block_offsets,
            phase_offsets=phase_offsets,
            mass=mass,
            inv_mass_free=inv_mass_free,
            x=points.copy(),
            v=_f64((n, 3)),
            inv_mass=np.repeat(np.where(pinned, 0.0, inv_mass_free)[:, None], 3, axis=1),
            pinned=pinned,
            external_force=_f64((n, 3)),
            velocity_damping=float(velocity_damping),
            x_prev=points.copy(),
            green=_f64((len(tets), 3, 3)),
            cauchy=_f64((len(tets), 3, 3)),
            energy_density=_f64(len(tets)),
            volume_ratio=_f64(len(tets)),
        )
        return body

    @property
    def n_vertices(self) -> int:
        """Number of vertices."""
        return int(self.x.shape[0])

    @property
    def n_tets(self) -> int:
        """Number of tetrahedra."""
        return int(self.tets.shape[0])

    @property
    def n_serial_tets(self) -> int:
        """Tets solved serially after the parallel slab phases (straddling slab boundaries)."""
        return int(self.n_tets - self.block_offsets[-1])

    def _refresh_inv_mass(self) -> None:
        w = np.repeat(np.where(self.pinned, 0.0, self.inv_mass_free)[:, None], 3, axis=1)
        w[self.kin_idx] = 0.0
        w[self.slide_idx, self.slide_axis] = 0.0
        self.inv_mass[:] = w

    def pin(self, indices: np.ndarray | list[int], pinned: bool = True) -> None:
        """Fix (or with ``pinned=False`` release) vertices in place."""
        self.pinned[np.asarray(indices, dtype=np.int64)] = pinned
        self._refresh_inv_mass()

    def attach(self, indices: np.ndarray | list[int], targets: np.ndarray | None = None) -> None:
        """Drive vertices kinematically (e.g. grasped by a tool); replaces earlier attachments.

        Each frame the attached vertices move linearly over the substeps from where they are to
        ``kin_target`` (set it with :meth:`set_attachment_targets`); they start at rest.
        """
        idx = np.asarray(indices, dtype=np.int64).ravel()
        self.kin_idx = idx.copy()
        self.kin_start = self.x[idx].copy()
        self.kin_target = self.x[idx].copy() if targets is None else np.array(targets, dtype=np.float64).reshape(-1, 3)
        if self.kin_target.shape != (idx.size, 3):
            raise ValueError(f"attach: {idx.size} vertices but targets of shape {self.kin_target.shape}.")
        self._refresh_inv_mass()

    def set_attachment_targets(self, targets: np.ndarray) -> None:
        """Where the attached vertices must be at the end of the next frame (k, 3) in metres."""
        self.kin_target[:] = targets

    def slide(self, indices: np.ndarray | list[int], axis: int, value: float | None = None) -> None:
        """Hold vertices on the plane x[axis] = value while they slide freely in it (frictionless
        contact with a rigid plate); adds to earlier slide constraints. ``value`` defaults to
        the vertices' current coordinate. Move the plate with :meth:`set_slide_targets`."""
        idx = np.asarray(indices, dtype=np.int64).ravel()
        vals = self.x[idx, axis].copy() if value is None else np.full(idx.size, float(value))
        self.slide_idx = np.concatenate([self.slide_idx, idx])
        self.slide_axis = np.concatenate([self.slide_axis, np.full(idx.size, int(axis), dtype=np.int64)])
        self.slide_start = np.concatenate([self.slide_start, vals])
        self.slide_target = np.concatenate([self.slide_target, vals])
        self._refresh_inv_mass()

    def set_slide_targets(self, values: np.ndarray | float) -> None:
        """Plane coordinates (one per slide constraint) to reach by the end of the next frame."""
        self.slide_target[:] = values

    def detach(self) -> None:
        """Release all attached vertices (they become dynamic again unless pinned)."""
        self.kin_idx = np.zeros(0, dtype=np.int64)
        self.kin_start = _f64((0, 3))
        self.kin_target = _f64((0, 3))
        self._refresh_inv_mass()

    def apply_force(self, indices: np.ndarray | list[int], force: np.ndarray) -> None:
        """Add a constant external force (N, per vertex) that persists until :meth:`clear_forces`."""
        np.add.at(self.external_force, np.asarray(indices, dtype=np.int64), np.asarray(force, dtype=np.float64))

    def clear_forces(self) -> None:
        """Remove all external forces."""
        self.external_force[:] = 0.0

    def set_material(self, material: Material) -> None:
        """Change the material (e.g. stiffer tissue after coagulation): compliances are recomputed.

        Masses keep the original density; assigning ``body.material`` directly would leave the
        compliances stale.
        """
        self.material = material
        self.alpha_dev[:] = 1.0 / (material.mu * self.rest_volume)
        self.alpha_hyd[:] = 1.0 / (material.model_lambda * self.rest_volume)
        self.checked_substep = 0.0

    def reset(self) -> None:
        """Back to the rest shape, at rest."""
        self.x[:] = self.rest_points
        self.x_prev[:] = self.rest_points
        self.v[:] = 0.0


@dataclass(eq=False)
class EmbeddedSurface:
    """A render surface bound to a SoftBody: ``positions``/``normals`` (n, 3) are updated in place.

    ``outside_distance`` is how far (m) each vertex lies outside its tet at binding (0 inside);
    large values mean the surface and the tet mesh do not match (wrong scale or frame).
    """

    triangles: np.ndarray
    tet_index: np.ndarray
    bary: np.ndarray
    positions: np.ndarray
    normals: np.ndarray
    outside_distance: np.ndarray
