"""Soft-tissue components: :class:`Material` and the :class:`SoftBody` XPBD tet body.

A SoftBody holds the model (rest shape, slab-ordered tets, inverse rest matrices, compliances,
lumped masses), the state (positions, velocities) and preallocated scratch, all as contiguous
float64/int64 arrays so the numba kernels in :mod:`vrmed.systems.tissue.kernels` can run
without allocating. Units are SI: metres, kilograms, seconds, pascals.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from vrmed.fields import AssetPath, vec3
from vrmed.mesh import MeshError, SurfaceMesh, TetMesh, box_tets, load_tet_mesh
from vrmed.mesh.partition import slab_partition, vertex_slab_partition
from vrmed.mesh.quality import check_tets

from .constraints import (
    AttachmentConstraint,
    ConstraintError,
    PinConstraint,
    SlideConstraint,
    TissueConstraint,
    finite_targets,
)
from .ligament import attach_ligament_below, attach_ligament_patch, attach_ligament_vertices


@dataclass
class BoxSpec:
    """A procedural box body: ``size`` (m) split into ``cells`` hexahedra of 6 tets each."""

    size: tuple[float, float, float] = (0.1, 0.05, 0.05)
    cells: tuple[int, int, int] = (8, 4, 4)


@dataclass
class LigamentSpec:
    """A ligament patch a pack declares on a SoftBody (``ligaments:``): zero-rest-length springs
    of ``stiffness`` (Pa/m: N/m per m^2 of surface) from the surface vertices it selects to
    where they rest, a Winkler foundation carrying ``stiffness x area x displacement``. Select
    one way: every surface vertex within ``radius`` m of ``centre``, every one whose rest
    height y is below ``below`` m (coordinates after the body's ``scale`` and ``offset``, like
    ``pin_below``), or the surface vertices listed in ``vertices`` (indices, like ``pins``).
    docs/physics.md, "Distributed attachments": a patch keeps attachment strains physiological
    when it is about as large as the anatomy's attachment."""

    stiffness: float
    centre: tuple[float, float, float] | None = None
    radius: float | None = None
    below: float | None = None
    vertices: list[int] | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.stiffness, (int, float)) and math.isfinite(self.stiffness) and self.stiffness > 0):
            raise ValueError(f"stiffness must be a positive number of Pa/m, got {self.stiffness!r}")
        chosen = [name for name in ("centre", "below", "vertices") if getattr(self, name) is not None]
        if len(chosen) != 1:
            raise ValueError(
                "give one selection: centre and radius (a patch round a point), below (every surface "
                f"vertex below a height) or vertices (surface vertex indices); got {', '.join(chosen) or 'none'}"
            )
        if self.centre is not None and not (self.radius is not None and self.radius > 0):
            raise ValueError(f"a patch round a centre needs a radius > 0 m, got {self.radius!r}")
        if self.centre is None and self.radius is not None:
            raise ValueError("radius applies to a patch round a centre only")
        if self.vertices is not None and not self.vertices:
            raise ValueError("vertices: the list is empty; list the surface vertices the patch holds")


#: Columns of ``SoftBody.lam`` without the volume barrier: the deviatoric and hydrostatic kept
#: multipliers and the slow part of each (the solver kernels' ``LAM_COLUMNS`` and ``SLOW_WEIGHT``;
#: tests/test_softbody_kernels.py checks the two agree); the barrier adds one, column 2.
LAM_COLUMNS = 4


@dataclass
class SoftBodySpec:
    """How a pack declares a SoftBody in YAML: a tet mesh file (``mesh``, scaled to metres
    by ``scale``) or a procedural ``box``, placed at ``offset``, with a material, pinned
    vertices (``pins`` by index and/or every vertex below height ``pin_below`` m), and
    repairs of inverted/degenerate tets if asked for. ``ligaments`` hold it over surface
    patches instead of pins (:class:`LigamentSpec`; issue #16 item 4)."""

    mesh: AssetPath | None = None
    box: BoxSpec | None = None
    scale: float = 1.0
    offset: np.ndarray = vec3()
    material: Material = field(default_factory=lambda: Material())
    pins: list[int] = field(default_factory=list)
    pin_below: float | None = None
    ligaments: list[LigamentSpec] = field(default_factory=list)
    velocity_damping: float = 0.0
    fix_inverted: bool = False
    drop_degenerate: bool = False
    #: Lift nearly flat or inverted tets back every substep (``SoftBody.recover_inversions``).
    recover_inversions: bool = True
    #: Rayleigh damping that leaves static equilibria alone (``SoftBody.damping_keeps_statics``).
    damping_keeps_statics: bool = False
    #: Rebuild the mesh's tets at load as a lattice of cubes of this edge (m, after ``scale``;
    #: ``vrmed.mesh.lattice_remesh``): for sliver-heavy meshes (the solver warns naming them).
    remesh: float | None = None
    #: The volume term: "tet" (one per tet, the default) or "nodal" (one per vertex: locks far
    #: less in bending and near incompressibility, costs ~2x the frame on the 10k box,
    #: docs/physics.md "Nodal volume"; :data:`VOLUME_MODES`).
    volume: str = "tet"

    def __post_init__(self) -> None:
        if (self.mesh is None) == (self.box is None):
            raise ValueError("give exactly one of mesh (a tet mesh file) or box (a procedural box)")
        if self.scale <= 0:
            raise ValueError("scale must be positive")
        check_velocity_damping(self.velocity_damping)
        if self.remesh is not None and (self.mesh is None or not self.remesh > 0):
            raise ValueError("remesh (a cube edge in m, > 0) applies to a mesh file only")
        if self.volume not in VOLUME_MODES:
            raise ValueError(
                f"volume must be one of {', '.join(VOLUME_MODES)} (got {self.volume!r}): 'tet' is the "
                "default, 'nodal' bends and compresses more accurately at ~2x the cost"
            )


def check_velocity_damping(rate: object) -> None:
    """Raise a clear ``ValueError`` unless ``rate`` (``SoftBody.velocity_damping``, 1/s) is a
    finite number >= 0: a negative rate feeds energy in (a resting box from 1e-8 J to 0.38 J in
    2 s at -5 /s), NaN poisons every velocity."""
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0.0 <= float(rate) < math.inf:
        raise ValueError(
            f"SoftBody: velocity_damping must be a finite rate >= 0 in 1/s (0: none; tissue: about 1-10), got {rate!r}."
        )


def _finite_force(force: object, where: str) -> np.ndarray:
    """``force`` as float64, or a clear ``ValueError`` if any component is NaN or infinite (one
    would make every vertex of the body non-finite at the next step)."""
    f = np.asarray(force, dtype=np.float64)
    if not np.all(np.isfinite(f)):
        raise ValueError(f"SoftBody.{where}: the force must be finite (N), got {force!r}.")
    return f


#: Bounds a Material accepts (Pa, kg/m^3, s, N): see Material.__post_init__.
MIN_YOUNGS, MAX_YOUNGS = 1.0, 1.0e12
MIN_DENSITY, MAX_DENSITY = 1.0, 2.5e4
MAX_DAMPING_S = 10.0
MAX_PUNCTURE_N = 1.0e4


@dataclass(frozen=True)
class Material:
    """An isotropic hyperelastic (stable Neo-Hookean) material.

    ``youngs_modulus`` E in Pa, ``poisson_ratio`` nu in [0, 0.5), ``density`` in kg/m^3 and
    ``damping`` the stiffness-proportional Rayleigh coefficient beta in seconds (0 = undamped;
    the textbook damping ratio of a mode of angular frequency omega is beta * omega / 2, and the
    solver's one-iteration Rayleigh term gives a mode less than that: docs/physics.md "Damping").
    ``puncture_force`` (N, optional) is the contact force one tool may press the tissue with
    before it punctures it (the collision system then lets that tool through and sends
    ``TissuePunctured``); None: never punctured, contact always holds.
    """

    youngs_modulus: float = 1.0e5
    poisson_ratio: float = 0.45
    density: float = 1000.0
    damping: float = 0.0
    puncture_force: float | None = None

    def __post_init__(self) -> None:
        # a number given as text ("5e3" from a form or a CSV) is one clear error naming the
        # field, not a TypeError from the bounds' comparison below
        for name, label in (
            ("youngs_modulus", "Young's modulus (Pa)"),
            ("poisson_ratio", "Poisson ratio"),
            ("density", "density (kg/m^3)"),
            ("damping", "damping (s)"),
            ("puncture_force", "puncture_force (N)"),
        ):
            value = getattr(self, name)
            if value is None and name == "puncture_force":
                continue
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ValueError(f"Material: {label} must be a number, got {value!r} ({type(value).__name__}).")
        # Physically sensible bounds, so a typo (1e-300, 1e30, a unit slip) is one clear error
        # instead of a simulation that explodes or never moves: soft tissues are 0.1-100 kPa,
        # cortical bone ~20 GPa, steel ~200 GPa; densities run from foams to tungsten.
        if not MIN_YOUNGS <= self.youngs_modulus <= MAX_YOUNGS:
            raise ValueError(
                f"Material: Young's modulus must be {MIN_YOUNGS:g}-{MAX_YOUNGS:g} Pa, got {self.youngs_modulus} "
                f"(soft tissue: about 1e2-1e5 Pa; liver 5.4e3)."
            )
        if not 0.0 <= self.poisson_ratio < 0.5:
            raise ValueError(f"Material: Poisson ratio must be in [0, 0.5), got {self.poisson_ratio}.")
        if not MIN_DENSITY <= self.density <= MAX_DENSITY:
            raise ValueError(
                f"Material: density must be {MIN_DENSITY:g}-{MAX_DENSITY:g} kg/m^3, got {self.density} "
                f"(soft tissue: about 1000-1100)."
            )
        if not 0.0 <= self.damping <= MAX_DAMPING_S:
            raise ValueError(f"Material: damping must be 0-{MAX_DAMPING_S:g} s, got {self.damping}.")
        if self.puncture_force is not None and not 0.0 < self.puncture_force <= MAX_PUNCTURE_N:
            raise ValueError(
                f"Material: puncture_force must be 0-{MAX_PUNCTURE_N:g} N (or omitted), got {self.puncture_force}."
            )

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


#: Lumped masses below this fraction of the median vertex mass are raised to it (mass conserved):
#: see :func:`floor_light_masses`.
MASS_FLOOR = 0.01


def floor_light_masses(mass: np.ndarray) -> np.ndarray:
    """Raise lumped vertex masses below ``MASS_FLOOR`` x the median to that floor, then scale all
    masses so the total is unchanged; returns ``mass`` itself when no vertex is that light (so
    such a body is bit-identical to one built without the floor).

    Why: a vertex of a sliver-only corner carries a tiny share of the mass (Armadillo_Tetra_4406
    at 0.2 m: 0.57 mg, 0.14 % of the median, in one tet); Gauss-Seidel then lets it flutter from
    substep to substep (its velocity read 0.077 m/s at rest while it moved 0.2 mm over 0.44 s).
    Raising the 27 vertices below 1 % of the median (4e-5 of the total mass, moved from the
    others) stopped it: fastest vertex 0.0003 m/s (docs/physics.md, "Inversion recovery").
    Equilibria: the pins carry the same total weight; only 4e-5 of it is redistributed.
    Lumped masses are themselves an approximation of the consistent mass matrix (Zienkiewicz &
    Taylor, "The Finite Element Method", Vol. 1, 16.2: mass lumping), so this stays within its
    error."""
    floor = MASS_FLOOR * float(np.median(mass))
    if not np.any(mass < floor):
        return mass
    raised = np.maximum(mass, floor)
    return raised * (mass.sum() / raised.sum())


def _f64(shape) -> np.ndarray:
    return np.zeros(shape, dtype=np.float64)


#: The SoftBody fields that choose how the solver treats a body (not its state): a body rebuilt
#: from another (a cut) takes them over (:meth:`SoftBody.copy_solver_options`).
#: :meth:`SoftBody.state` leaves these out while 0 (a body the recovery never held folded keeps
#: the digest of earlier versions)
_HELD_FIELDS = ("recover_paused", "held_time", "held_energy", "release_energy")

SOLVER_OPTIONS = ("warm_start", "soften_slivers", "recover_inversions", "damping_keeps_statics", "accurate_substeps")

#: ``SoftBody.volume``: "tet", one hydrostatic (volume) constraint per tet, as in Macklin &
#: Mueller 2021 (stiffness l = lambda + mu, rest shift gamma = 1 + mu / l); "nodal", the
#: volume stiffness lambda moved onto one constraint per vertex over the volume of its star
#: (Irving, Schroeder & Fedkiw 2007; Bonet & Burton 1998's averaged nodal pressure), which
#: locks far less in bending (docs/physics.md, "Nodal volume"). The tets of a "nodal" body
#: keep a hydrostatic constraint of stiffness mu with gamma = 2 (:meth:`SoftBody.tet_volume_term`):
#: with none (the per-tet block deviatoric only) the -mu rest pressure that the stable
#: Neo-Hookean needs is only balanced per vertex, the energy is indefinite on the volume
#: modes the nodal constraints do not see, and a free cube drifted off its rest shape.
VOLUME_MODES = ("tet", "nodal")


@dataclass(eq=False)
class NodalVolume:
    """The solver's data for nodal volume constraints (``SoftBody.volume == "nodal"``), built
    at load by :func:`build_nodal_volume` (``kernels.solve_nodal_volume`` reads them as a tuple).

    ``ptr``/``inc``: the tets of each vertex, CSR (``inc[ptr[i]:ptr[i + 1]]``, stored tet order);
    ``coef`` per incidence V_t0 / (4 V_i0 det Dm_t) (the kernels read det Ds, not F), V_i0 = the
    vertex's share of its tets' rest volume;
    ``alpha`` the compliance 1 / (lambda V_i0) per vertex; ``lam`` its kept multiplier, ``kept``
    its kept fraction (the warm start); ``tcoef`` (m, 4) per tet and corner
    V_t0 / (4 V_i0 det Dm_t);
    ``order``/``block_offsets``/``phase_offsets`` the sweep order of the vertex constraints in
    parallel slabs (:func:`vrmed.mesh.partition.vertex_slab_partition`: two phases of blocks
    whose constraints touch no common vertex, then the leftovers); ``nptr``/``nbr`` each
    vertex's star's distinct vertices (itself included), CSR, in the order its tets first reach
    them; ``inc_tets`` (nnz, 4) each incidence's tet's corners (``tets[inc]``, read by the sweep
    without the indirection);
    ``g``, ``vertex_j``, ``tet_p`` scratch (``stamp``: unused since the parallel sweep, kept so
    that :meth:`arrays`' first nine entries are as before)."""

    ptr: np.ndarray
    inc: np.ndarray
    coef: np.ndarray
    rest_volume: np.ndarray
    alpha: np.ndarray
    lam: np.ndarray
    kept: np.ndarray
    g: np.ndarray
    stamp: np.ndarray
    vertex_j: np.ndarray
    tet_p: np.ndarray
    tcoef: np.ndarray
    order: np.ndarray
    block_offsets: np.ndarray
    phase_offsets: np.ndarray
    nptr: np.ndarray
    nbr: np.ndarray
    inc_tets: np.ndarray

    def arrays(self) -> tuple[np.ndarray, ...]:
        """The tuple ``kernels.solve_nodal_volume`` and ``kernels.nodal_kept_move`` take (its
        first nine as before the parallel sweep: an older ``kernels.py`` reads only those)."""
        # fmt: off
        return (
            self.ptr, self.inc, self.coef, self.alpha, self.lam, self.kept, self.g, self.stamp, self.tcoef,
            self.order, self.block_offsets, self.phase_offsets, self.nptr, self.nbr, self.inc_tets,
        )
        # fmt: on

    def fits(self, n_vertices: int, n_tets: int) -> bool:
        """Whether it was built for a body of this size (a cut rebuilds it)."""
        return self.ptr.shape[0] == n_vertices + 1 and self.tet_p.shape[0] == n_tets


def build_nodal_volume(
    tets: np.ndarray,
    rest_volume: np.ndarray,
    dm_inv: np.ndarray,
    n_vertices: int,
    stiffness: float,
    points: np.ndarray,
    n_slabs: int = 2,
) -> NodalVolume:
    """The vertex -> tet incidence and per-vertex rest volumes of :class:`NodalVolume` for tets
    (stored order) with rest volumes ``rest_volume`` and rest matrices ``dm_inv`` (Dm^-1);
    ``stiffness`` (Pa, Lame's lambda) sets the compliances; the sweep order from the rest
    positions ``points`` in at most ``n_slabs`` slabs (the body's tet slabs: ``phase_offsets[-1]``)."""
    m = tets.shape[0]
    flat = tets.ravel()
    order = np.argsort(flat, kind="stable")
    inc = np.ascontiguousarray(order // 4, dtype=np.int64)
    counts = np.bincount(flat, minlength=n_vertices)
    ptr = np.zeros(n_vertices + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    v0 = np.zeros(n_vertices)
    np.add.at(v0, flat, np.repeat(rest_volume / 4.0, 4))
    owner = flat[order]
    per_det = rest_volume * np.linalg.det(dm_inv)  # V_t0 / det Dm_t (signed: a rest tet may be wound either way)
    coef = per_det[inc] / (4.0 * v0[owner])
    sweep, block_offsets, phase_offsets = vertex_slab_partition(points, tets, ptr, inc, n_slabs)
    # each vertex's star's distinct vertices in first-reached order (the kernel's sums run in it)
    pair = np.repeat(owner, 4) * n_vertices + tets[inc].ravel()
    first = np.sort(np.unique(pair, return_index=True)[1])
    nptr = np.zeros(n_vertices + 1, dtype=np.int64)
    np.cumsum(np.bincount(pair[first] // n_vertices, minlength=n_vertices), out=nptr[1:])
    return NodalVolume(
        ptr=ptr,
        inc=inc,
        coef=np.ascontiguousarray(coef),
        rest_volume=v0,
        alpha=1.0 / (max(stiffness, 1e-300) * v0),
        lam=np.zeros(n_vertices),
        kept=np.zeros(n_vertices),
        g=np.zeros((n_vertices, 3)),
        stamp=np.zeros(n_vertices, dtype=np.int64),
        vertex_j=np.zeros(n_vertices),
        tet_p=np.zeros((m, 2)),
        tcoef=np.ascontiguousarray(per_det[:, None] / (4.0 * v0[tets])),
        order=sweep,
        block_offsets=block_offsets,
        phase_offsets=phase_offsets,
        nptr=nptr,
        nbr=np.ascontiguousarray(pair[first] % n_vertices, dtype=np.int64),
        inc_tets=np.ascontiguousarray(tets[inc], dtype=np.int64),
    )


@dataclass(eq=False)
class SoftBody:
    """A deformable tetrahedral body simulated with XPBD (build it with :meth:`from_mesh`).

    Tets are stored in the parallel solve order (see
    :func:`vrmed.mesh.partition.slab_partition`); ``tet_index[k]`` is the index in the
    source mesh of stored tet k, ``block_offsets``/``phase_offsets`` delimit the slabs. ``inv_mass`` (n, 3) is the
    effective per-axis inverse mass (0 for pinned and attached vertices, and on the held axis of
    slide constraints), ``inv_mass_free`` (n,) the lumped one.

    Constraints (:mod:`vrmed.components.tissue.constraints`): the built-in ``pins``,
    ``attachment`` and ``slides`` (one of each, set through :meth:`pin`, :meth:`attach`,
    :meth:`slide`), and ``constraints``, the plugin-defined ones added with
    :meth:`add_constraint`, projected after the tets in every substep in list order.
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
    external_force: np.ndarray
    velocity_damping: float = 0.0
    pins: PinConstraint = field(default_factory=PinConstraint.empty)
    attachment: AttachmentConstraint = field(default_factory=AttachmentConstraint.empty)
    slides: SlideConstraint = field(default_factory=SlideConstraint.empty)
    constraints: list[TissueConstraint] = field(default_factory=list)
    x_prev: np.ndarray = field(default_factory=lambda: _f64((0, 3)))
    green: np.ndarray = field(default_factory=lambda: _f64((0, 3, 3)))
    cauchy: np.ndarray = field(default_factory=lambda: _f64((0, 3, 3)))
    energy_density: np.ndarray = field(default_factory=lambda: _f64(0))
    volume_ratio: np.ndarray = field(default_factory=lambda: _f64(0))
    checked_substep: float = 0.0  # substep length whose stability was last checked (see step_softbody)
    #: Let the solver run more substeps than asked where the body is too stiff for them to be
    #: accurate (``vrmed.systems.tissue.solver.accurate_substeps``; within a cost budget).
    accurate_substeps: bool = True
    #: (dt, substeps asked for, substeps run): the last plan of ``accurate_substeps`` (scratch)
    substep_plan: tuple[float, int, int] = (0.0, 0, 0)
    #: Warm-start scale of the solve in [0, 1] (1: each tet keeps the fraction of its multipliers
    #: that its stiffness ratio allows, which makes static equilibria exact on well-shaped
    #: tets; 0: plain one-iteration XPBD). Changing it takes effect when ``warm_h`` is reset to 0.
    warm_start: float = 1.0
    #: Rayleigh damping that leaves static equilibria and rigid motion alone (opt-in; the solver
    #: kernels' ``DAMP_REF_COLUMNS``, docs/physics.md "Damping"): off, eq. 26 in the one-iteration
    #: sweep shifts a loaded body's rest state (+3.1 % stress at beta 0.02 s); on, it can keep
    #: sliver-heavy meshes from coming to rest, so it is not the default.
    damping_keeps_statics: bool = False
    #: kept multipliers per tet: deviatoric, hydrostatic, with ``from_mesh(volume_barrier=True)``
    #: the volume barrier's (solver kernels' ``BARRIER_J``), then the slow part of the first two
    #: (kernels' ``SLOW_WEIGHT``): 4 columns, 5 with the barrier (:attr:`has_volume_barrier`)
    lam: np.ndarray = field(default_factory=lambda: _f64((0, 4)))
    #: per tet: the kept correction G^T lam of vertices 1-3 (vertex 0's is minus their sum) and,
    #: in column 9, the kept fraction (``warm_t`` is a view of it), float32
    warm_d: np.ndarray = field(default_factory=lambda: np.zeros((0, 10), dtype=np.float32))
    warm_dx: np.ndarray = field(default_factory=lambda: _f64((0, 3)))  # last substep's tet correction (n, 3)
    #: Soften tets too stiff for the substep (slivers) instead of letting them gain energy
    #: (see vrmed.systems.tissue.solver.SLIVER_RATIO); ``softened_fraction`` is the volume share.
    soften_slivers: bool = True
    softened_fraction: float = 0.0
    warm_t: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))  # kept fraction per tet
    warm_h: float = 0.0  # substep length ``lam``, ``warm_dx`` and ``warm_t`` belong to (lam scales with h^2)
    #: Inversion recovery (docs/physics.md): after each substep's tet sweep, lift nearly flat or
    #: inverted tets back to det F >= 0.1, so none survives at rest under gravity, crushing or a
    #: grasp. On by default; it keeps the vertices a tool contact pushed (``contact_hold``) fixed,
    #: so it does not lift crushed tissue back into the tool.
    recover_inversions: bool = True
    #: Opt-in (off by default): a flagged tet that the substep took below ``kernels.RECOVER_J``
    #: from at or above it is stopped on its way back (its free vertices moved back towards where
    #: the substep started, just far enough) instead of lifted along its det F gradient
    #: (``kernels._pull_back_fraction``): the lift's move, not parallel to the sweep's, turned a
    #: folded body at rest into a rotor (half-mirrored torus 0.08 m/s of rigid spin; 1e-5 with
    #: it); the sliver meshes (raptor, armadillo) then fail their rest tests, so it is not the
    #: default (docs/physics.md, "Inversion recovery", "A fold that spins").
    recover_pull_back: bool = False
    #: per tet: det F was below ``kernels.RECOVER_CHECK`` when projected and the inversion
    #: recovery has not yet left it at or above that (sticky; the recovery pass checks these
    #: tets and clears the flag; scratch, rebuilt by the solver if the tets change)
    recover_near: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.bool_))
    #: frames in a row that ended with a flagged tet inverted and no tool holding it; past
    #: ``kernels.UNTANGLE_WAIT`` the solver untangles them (``kernels.untangle``; scratch).
    #: Negative: steps with a tool holding a vertex, a tet inverted and the body at rest
    #: (``solver.UNTANGLE_WAIT_HELD``)
    untangle_wait: int = 0
    #: time (s) every step in a row has ended with a flagged tet inverted, and whether an
    #: untangling call (``kernels.untangle``) that left a tet inverted after
    #: ``solver.RELEASE_WAIT`` of it has released the step filter: until no flagged tet is
    #: inverted, the filter lets the tets around the tets inverted where a substep starts move
    #: (``kernels.keep_filter``'s ``release``; scratch, set by the solver)
    stuck_time: float = 0.0
    keep_release: bool = False
    #: a free body the inversion recovery holds folded at rest (``solver._release_if_held``):
    #: seconds left with the recovery paused (> 0: paused), seconds the body has sat still with
    #: flagged tets, the elastic energy (J) when it began to, and that when the recovery was
    #: last paused (scratch, set by the solver; left out of :meth:`state` while 0)
    recover_paused: float = 0.0
    held_time: float = 0.0
    held_energy: float = 0.0
    release_energy: float = 0.0
    #: per vertex: a tool contact pushed it in the last physics tick (set by collision.resolve);
    #: the inversion recovery keeps these vertices fixed so it cannot lift tissue into the tool
    contact_hold: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.bool_))
    #: The surface to draw, in the rest frame of ``rest_points``: a remeshed file's own boundary
    #: (``TetMesh.surface``, set by :meth:`from_spec`). The tissue plugin embeds it as this
    #: entity's :class:`EmbeddedSurface` at spawn unless the entity already has one.
    draw_surface: SurfaceMesh | None = None
    #: Volume term (:data:`VOLUME_MODES`): "tet" (default) or "nodal"; set it with
    #: ``from_mesh(volume=...)`` or :meth:`set_volume_mode`. ``nodal`` holds the nodal data (the
    #: solver rebuilds it if the tets change).
    volume: str = "tet"
    nodal: NodalVolume | None = None
    #: per vertex: born in a cut (``cutting.cut_body``: the points on cut edges, the transition
    #: tets' centroids and the vertices copied to separate the sides), carried through later
    #: rebuilds (cuts, pieces, refinement); empty for a body never cut. The solver softens a
    #: too-stiff tet holding a light one of these further (``solver.SOFTEN_TARGET``: the cut's
    #: thin sub-tets softened to ``SLIVER_RATIO`` left a cut body at rest self-exciting).
    cut_born: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.bool_))
    #: The solver's scratch for the body's ligament patches (``systems.tissue.springs``: the
    #: springs merged per vertex and the inverse masses the step solves with); rebuilt when the
    #: patches change, never part of :meth:`state`.
    spring_scratch: Any = field(default=None, repr=False, compare=False)
    #: The solver's cache of the tets of light vertices that keep their warm start only while a
    #: tool contact holds them and for ``solver.LIGHT_HELD_KEEP`` s after (``systems.tissue.solver.
    #: _hold_light_tets``: their indices, kept fractions and time left); rebuilt with the
    #: warm-start factors, never part of :meth:`state`.
    light_warm: Any = field(default=None, repr=False, compare=False)
    #: The solver's inversion-recovery scratch (``systems.tissue.solver._recovery_scratch``: the
    #: ``tets`` and ``dm_inv`` it was built for, the vertex count and the int64 scratch), kept
    #: between frames; never part of :meth:`state`.
    recovery_scratch: Any = field(default=None, repr=False, compare=False)

    def tet_volume_term(self) -> tuple[float, float]:
        """Stiffness l (Pa) and rest shift gamma of the tets' own hydrostatic constraint
        det F - gamma: the material's (l, gamma) for ``volume`` "tet", (mu, 2) for "nodal" (then
        lambda acts on the nodal constraints: :data:`VOLUME_MODES`). Either way the tet's
        mu/2 (I_C - 3) + l/2 (det F - gamma)^2 is stress-free at rest."""
        m = self.material
        if self.volume == "nodal":
            return m.mu, 2.0
        return m.model_lambda, m.gamma

    def set_volume_mode(self, volume: str) -> None:
        """Switch the volume term ("tet" or "nodal", see :data:`VOLUME_MODES`); the compliances
        and the nodal data follow at the next step."""
        if volume not in VOLUME_MODES:
            raise ValueError(f"SoftBody: volume must be one of {VOLUME_MODES}, got {volume!r}.")
        if volume == "nodal" and self.has_volume_barrier:
            raise ValueError("SoftBody: the volume barrier needs the per-tet volume term (volume='tet').")
        self.volume = volume
        self.nodal = None
        self.checked_substep = 0.0  # the solver sets the compliances again
        self.warm_h = 0.0
        self.forget_warm_start()

    def copy_solver_options(self, to: SoftBody) -> None:
        """Give ``to`` (a body rebuilt from this one, e.g. by a cut) this body's solver options
        (:data:`SOLVER_OPTIONS`): a cut must not silently switch a body's warm start, sliver
        softening, inversion recovery or damping mode back to the defaults."""
        for name in SOLVER_OPTIONS:
            setattr(to, name, getattr(self, name))
        if to.volume != self.volume:  # the volume term too (the solver builds its data)
            to.set_volume_mode(self.volume)

    @classmethod
    def from_spec(cls, spec: SoftBodySpec) -> SoftBody:
        """Build from a pack's YAML declaration (see :class:`SoftBodySpec`)."""
        if spec.mesh is not None:
            mesh = load_tet_mesh(
                spec.mesh,
                spec.scale,
                fix_inverted=spec.fix_inverted,
                drop_degenerate=spec.drop_degenerate,
                remesh=spec.remesh,
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
        body = cls.from_mesh(
            mesh, spec.material, pins=sorted(pins), velocity_damping=spec.velocity_damping, volume=spec.volume
        )
        body.recover_inversions = bool(spec.recover_inversions)
        body.damping_keeps_statics = bool(spec.damping_keeps_statics)
        if spec.ligaments:
            for i, lig in enumerate(spec.ligaments):
                try:
                    if lig.below is not None:
                        attach_ligament_below(body, lig.below, lig.stiffness)
                    elif lig.vertices is not None:
                        attach_ligament_vertices(body, lig.vertices, lig.stiffness)
                    else:
                        assert lig.centre is not None and lig.radius is not None
                        attach_ligament_patch(body, lig.centre, lig.radius, lig.stiffness)
                except ConstraintError as err:
                    raise MeshError(f"ligaments[{i}]: {err}") from None
        if mesh.surface is not None:  # remeshed: draw the file's boundary, not the lattice's
            body.draw_surface = SurfaceMesh(
                points=mesh.surface.points + np.asarray(spec.offset, dtype=np.float64),
                triangles=mesh.surface.triangles,
                source=mesh.surface.source,
            )
        return body

    @classmethod
    def from_mesh(
        cls,
        mesh: TetMesh,
        material: Material,
        pins: np.ndarray | list[int] | None = None,
        velocity_damping: float = 0.0,
        volume_barrier: bool = False,
        volume: str = "tet",
    ) -> SoftBody:
        """Build a body from a tet mesh: lumped masses, rest matrices, compliances, parallel slab order.

        ``pins`` are vertex indices held fixed in space. ``velocity_damping`` (1/s) is an extra
        mass-proportional damping (like air drag); it does not change static equilibria.
        ``volume_barrier`` turns on the solver's volume barrier (a tet below det F 0.5 takes a
        one-sided det F >= 0.2 step inside the sweep, docs/physics.md "Volume barrier"): it
        lets a body whose hanging weight would crush tets beside its pins rest (cylinder_8x30x6
        at 8 /s: 0.073 -> 2e-5 m/s), but it changes how tissue answers a tool that crushes it (the
        scissors dissection's expert: 412 over-strained tets instead of 171), so it is opt-in.
        ``volume`` "nodal" replaces the per-tet volume constraint by one per vertex (opt-in; see
        :data:`VOLUME_MODES`; not with ``volume_barrier``).
        Raises :class:`MeshError` if the mesh has degenerate tets (no rest shape to restore).
        """
        if volume not in VOLUME_MODES:
            raise ValueError(f"SoftBody: volume must be one of {VOLUME_MODES}, got {volume!r}.")
        check_velocity_damping(velocity_damping)
        if volume == "nodal" and volume_barrier:
            raise ValueError("SoftBody: the volume barrier needs the per-tet volume term (volume='tet').")
        import numba  # deferred: importing numba costs ~0.3 s and only building a body needs it

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
        rest_volume = np.abs(det) / 6.0
        Q = np.ascontiguousarray(np.linalg.inv(Dm))
        # warm start per tet: 9 kept correction components, then the kept fraction (column 9,
        # also ``warm_t``): one float32 row, so the solve reads them from one cache line
        warm_d = np.zeros((len(tets), 10), dtype=np.float32)
        mass = np.zeros(n)
        np.add.at(mass, tets.ravel(), np.repeat(material.density * rest_volume / 4.0, 4))
        if np.any(mass <= 0):
            raise MeshError(f"{mesh.source or 'mesh'}: some vertices belong to no tet; remove unused nodes.")
        mass = floor_light_masses(mass)  # sliver corners: no flutter of near-massless vertices
        inv_mass_free = 1.0 / mass
        pin_set = PinConstraint.empty(n)
        if pins is not None:
            pin_set.set(pins)
        body = cls(
            material=material,
            rest_points=points.copy(),
            tets=tets,
            tet_index=order.astype(np.int64),
            dm_inv=Q,
            rest_volume=rest_volume,
            alpha_dev=1.0 / (material.mu * rest_volume),
            alpha_hyd=1.0 / (material.model_lambda * rest_volume),
            block_offsets=block_offsets,
            phase_offsets=phase_offsets,
            mass=mass,
            inv_mass_free=inv_mass_free,
            x=points.copy(),
            v=_f64((n, 3)),
            inv_mass=np.repeat(np.where(pin_set.pinned, 0.0, inv_mass_free)[:, None], 3, axis=1),
            pins=pin_set,
            external_force=_f64((n, 3)),
            velocity_damping=float(velocity_damping),
            x_prev=points.copy(),
            green=_f64((len(tets), 3, 3)),
            cauchy=_f64((len(tets), 3, 3)),
            energy_density=_f64(len(tets)),
            volume_ratio=_f64(len(tets)),
            lam=_f64((len(tets), LAM_COLUMNS + 1 if volume_barrier else LAM_COLUMNS)),
            warm_d=warm_d,
            warm_dx=_f64((n, 3)),
            warm_t=warm_d[:, 9],
            recover_near=np.zeros(len(tets), dtype=np.bool_),
            volume=volume,
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
    def has_volume_barrier(self) -> bool:
        """Built with ``from_mesh(volume_barrier=True)``: ``lam`` has the barrier's column (an odd
        number of columns: 5, or 3 without the slow part of the multipliers)."""
        return self.lam.shape[1] % 2 == 1

    @property
    def n_serial_tets(self) -> int:
        """Tets solved serially after the parallel slab phases (straddling slab boundaries)."""
        return int(self.n_tets - self.block_offsets[-1])

    # -- constraints ------------------------------------------------------------------------
    @property
    def all_constraints(self) -> tuple[TissueConstraint, ...]:
        """Every constraint of the body: the built-in pins, attachment and slides, then the added ones."""
        return (self.pins, self.attachment, self.slides, *self.constraints)

    def _refresh_inv_mass(self) -> None:
        w = np.repeat(self.inv_mass_free[:, None], 3, axis=1)
        for c in self.all_constraints:
            c.hold(w)
        if self.lam.shape[0] and not np.array_equal(w, self.inv_mass):
            # the kept corrections of vertices that change between held and free no longer
            # match the prediction: start the warm start afresh (one plain-XPBD substep)
            self.forget_warm_start()
        self.inv_mass[:] = w

    def add_constraint(self, constraint: TissueConstraint) -> TissueConstraint:
        """Add a plugin-defined constraint (projected after the tets in every substep); returns it.

        Raises :class:`ConstraintError` naming the field if its data do not fit this body, or
        if it is not a :class:`TissueConstraint` or is a built-in type (use :meth:`pin`,
        :meth:`attach`, :meth:`slide` for those).
        """
        if not isinstance(constraint, TissueConstraint):
            raise ConstraintError(
                f"add_constraint: {type(constraint).__name__} is not a TissueConstraint "
                "(subclass vrmed.api.TissueConstraint)"
            )
        if isinstance(constraint, (PinConstraint, AttachmentConstraint, SlideConstraint)):
            raise ConstraintError(
                f"add_constraint: {constraint.name} is built in; use SoftBody.pin / attach / slide instead"
            )
        if any(c is constraint for c in self.constraints):
            raise ConstraintError(f"add_constraint: this {constraint.name} constraint was already added")
        type(constraint).check_type()
        constraint.validate(self.n_vertices)
        self.constraints.append(constraint)
        self._refresh_inv_mass()
        return constraint

    def remove_constraint(self, constraint: TissueConstraint) -> None:
        """Remove a constraint added with :meth:`add_constraint`."""
        for k, c in enumerate(self.constraints):
            if c is constraint:
                del self.constraints[k]
                self._refresh_inv_mass()
                return
        raise ConstraintError(f"remove_constraint: this {constraint.name} constraint is not on the body")

    def pin(self, indices: np.ndarray | list[int], pinned: bool = True) -> None:
        """Fix (or with ``pinned=False`` release) vertices in place."""
        self.pins.set(indices, pinned)
        self._refresh_inv_mass()

    def attach(self, indices: np.ndarray | list[int], targets: np.ndarray | None = None) -> None:
        """Drive vertices kinematically (e.g. grasped by a tool); replaces earlier attachments.

        Each frame the attached vertices move linearly over the substeps from where they are to
        ``kin_target`` (set it with :meth:`set_attachment_targets`); they start at rest.
        """
        self.attachment = AttachmentConstraint.at(self.x, indices, targets)
        self._refresh_inv_mass()

    def set_attachment_targets(self, targets: np.ndarray) -> None:
        """Where the attached vertices must be at the end of the next frame (k, 3) in metres.
        Raises :class:`ConstraintError` (the targets kept as they were) for the wrong shape or
        a NaN / infinite value."""
        self.attachment.target[:] = finite_targets(
            targets, self.attachment.target.shape, "SoftBody.set_attachment_targets: targets"
        )

    def slide(self, indices: np.ndarray | list[int], axis: int, value: float | None = None) -> None:
        """Hold vertices on the plane x[axis] = value while they slide freely in it (frictionless
        contact with a rigid plate); adds to earlier slide constraints. ``value`` defaults to
        the vertices' current coordinate. Move the plate with :meth:`set_slide_targets`."""
        self.slides = self.slides.added(self.x, indices, axis, value)
        self._refresh_inv_mass()

    def set_slide_targets(self, values: np.ndarray | float) -> None:
        """Plane coordinates (one per slide constraint) to reach by the end of the next frame.
        Raises :class:`ConstraintError` (the targets kept as they were) for the wrong count or
        a NaN / infinite value."""
        self.slides.target[:] = finite_targets(values, self.slides.target.shape, "SoftBody.set_slide_targets: values")

    def detach(self) -> None:
        """Release all attached vertices (they become dynamic again unless pinned)."""
        self.attachment = AttachmentConstraint.empty()
        self._refresh_inv_mass()

    # The built-in constraints' arrays under their pre-constraint names (other systems and
    # tests read them, and session digests keep using these names).
    @property
    def pinned(self) -> np.ndarray:
        """(n,) bool: pinned vertices (``pins.pinned``)."""
        return self.pins.pinned

    @property
    def kin_idx(self) -> np.ndarray:
        """(k,) attached vertex indices (``attachment.indices``)."""
        return self.attachment.indices

    @property
    def kin_start(self) -> np.ndarray:
        """(k, 3) where the attached vertices were at the start of the last step (``attachment.start``)."""
        return self.attachment.start

    @property
    def kin_target(self) -> np.ndarray:
        """(k, 3) attachment targets for the end of the next step (``attachment.target``)."""
        return self.attachment.target

    @property
    def slide_idx(self) -> np.ndarray:
        """(s,) vertex of each slide constraint (``slides.indices``)."""
        return self.slides.indices

    @property
    def slide_axis(self) -> np.ndarray:
        """(s,) held axis of each slide constraint (``slides.axis``)."""
        return self.slides.axis

    @property
    def slide_start(self) -> np.ndarray:
        """(s,) plane coordinate at the start of the next step (``slides.start``)."""
        return self.slides.start

    @property
    def slide_target(self) -> np.ndarray:
        """(s,) plane coordinate to reach by the end of the next step (``slides.target``)."""
        return self.slides.target

    def state(self) -> dict[str, Any]:
        """The body's comparable state for snapshots and replay digests (see ``vrmed.state``):
        every array and scalar field, the built-in constraints' arrays under their historical
        names (so digests match those of earlier versions) and the added constraints' arrays."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if (
                f.name in ("nodal", "spring_scratch", "light_warm", "recovery_scratch")
                or (f.name == "volume" and value == "tet")
                or (f.name == "cut_born" and not value.any())
                or (f.name in _HELD_FIELDS and value == 0.0)
            ):
                continue  # the default body's digest stays that of earlier versions (nodal.lam below)
            if isinstance(value, np.ndarray):
                out[f.name] = value.copy()
            elif isinstance(value, (int, float, str, bool, np.generic)) or value is None:
                out[f.name] = value
        for name in _LEGACY_NAMES:
            out[name] = getattr(self, name).copy()
        if self.nodal is not None:  # the nodal volume constraints' kept multipliers
            out["nodal.lam"] = self.nodal.lam.copy()
        for k, c in enumerate(self.constraints):
            for name, value in zip(c.array_fields, c.arrays()):
                out[f"constraints[{k}].{c.name}.{name}"] = value.copy() if isinstance(value, np.ndarray) else value
        return out

    def apply_force(self, indices: np.ndarray | list[int], force: np.ndarray) -> None:
        """ADD ``force`` (N per vertex: one 3-vector for all ``indices`` or one per index; an
        index listed twice gets it twice) to the persistent external force: it acts on every
        later step until :meth:`set_force` or :meth:`clear_forces` changes it. Calling it again
        each frame accumulates (a constant 1 N applied every frame is 90 N after one second at
        90 Hz); to drive a time-varying load use :meth:`set_force`."""
        f = _finite_force(force, "apply_force")
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < -self.n_vertices or idx.max() >= self.n_vertices):
            raise IndexError(f"SoftBody.apply_force: vertex index out of range (body has {self.n_vertices} vertices)")
        np.add.at(self.external_force, idx, f)

    def set_force(self, indices: np.ndarray | list[int], force: np.ndarray) -> None:
        """REPLACE the persistent external force on ``indices`` by ``force`` (N per vertex: one
        3-vector for all or one per index); other vertices keep theirs. ``set_force(i, 0)``
        removes the force on ``i``."""
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < -self.n_vertices or idx.max() >= self.n_vertices):
            raise IndexError(f"SoftBody.set_force: vertex index out of range (body has {self.n_vertices} vertices)")
        self.external_force[idx] = _finite_force(force, "set_force")

    def clear_forces(self) -> None:
        """Remove all external forces (the persistent sum :meth:`apply_force` built)."""
        self.external_force[:] = 0.0

    def set_material(self, material: Material) -> None:
        """Change the material (e.g. stiffer tissue after coagulation): compliances are recomputed.

        Masses keep the original density; assigning ``body.material`` directly would leave the
        compliances stale. Raises ``TypeError`` for anything but a :class:`Material`.
        """
        if not isinstance(material, Material):
            raise TypeError(
                "SoftBody.set_material: expected a Material (Young's modulus, Poisson ratio, density), "
                f"got {material!r}"
            )
        self.material = material
        self.alpha_dev[:] = 1.0 / (material.mu * self.rest_volume)
        self.alpha_hyd[:] = 1.0 / (material.model_lambda * self.rest_volume)
        self.checked_substep = 0.0
        self.warm_h = 0.0  # recompute the warm-start factors for the new stiffness
        self.forget_warm_start()

    def reset(self) -> None:
        """Back to the rest shape, at rest."""
        self.x[:] = self.rest_points
        self.x_prev[:] = self.rest_points
        self.v[:] = 0.0
        self.forget_warm_start()

    def forget_warm_start(self) -> None:
        """Drop the solver's warm start (multipliers and last correction); call it after moving
        ``x`` by hand (teleporting the body), so the next step does not replay old forces."""
        self.lam[:] = 0.0
        self.warm_d[:, :9] = 0.0
        self.warm_d[:, 10:] = 0.0  # a damped body's kept constraint values, as at rest (kernels.DAMP_REF_COLUMNS)
        self.warm_dx[:] = 0.0
        if self.nodal is not None:
            self.nodal.lam[:] = 0.0


_LEGACY_NAMES = (
    "pinned",
    "kin_idx",
    "kin_start",
    "kin_target",
    "slide_idx",
    "slide_axis",
    "slide_start",
    "slide_target",
)


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
