"""The cloth system: implicit stepping of :class:`~vrmed.components.cloth.ClothSheet` and its plugin.

Usable without an App (``step_cloth(sheet, dt, steps, gravity)``) and as an engine plugin
(:class:`ClothPlugin`: ``ClothSettings.steps_per_frame`` implicit steps per display frame, taken
on the physics ticks that end each share of the frame). The model and the solve are documented
in :mod:`vrmed.systems.cloth.pd` and docs/cloth.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from vrmed.components.cloth.sheet import ClothSheet
from vrmed.settings import SimSettings
from vrmed.systems.collision import kernels as CK
from vrmed.systems.collision.system import CollisionWorld, frame_fractions

from . import pd
from .cutting import ClothCut
from .draw import cloth_draw_system

if TYPE_CHECKING:  # pragma: no cover
    from vrmed.app import App

#: vrmed is y-up: gravity points along -y (as the tissue solver's STANDARD_GRAVITY).
STANDARD_GRAVITY = np.array([0.0, -9.80665, 0.0])

#: Iterations per step (docs/cloth.md, "Solver": measured on the clamped gauze and the released flap).
ITERATIONS = 1

#: The solve of each implicit step: "pd" (local-global Projective Dynamics, Bouaziz et al. 2014;
#: the default), "quasi_newton" (L-BFGS with the PD matrix as its initial Hessian and an
#: Armijo line search, Liu, Bouaziz & Kavan 2017) or "newton" (Newton with the per-triangle
#: Hessian projected to positive semi-definite, Teran et al. 2005, solved by conjugate gradients
#: preconditioned by the PD factor, and the same line search). The first two over-damp large
#: rotations at the iteration counts a frame affords (docs/cloth.md, "Solver" and "Open").
METHODS = ("pd", "quasi_newton", "newton")

#: Newton iterations per step when none are given: with 1 the released flap of docs/cloth.md
#: gained 40 uJ of energy (undamped), with 2 it never gained any.
NEWTON_ITERATIONS = 2

#: L-BFGS history (curvature pairs of the step's iterations; Liu et al. 2017 use 5-7).
HISTORY = 5

#: Implicit steps per 1/90 s display frame (``ClothSettings.steps_per_frame``; docs/cloth.md, "Solver").
STEPS_PER_FRAME = 2

_NO_CAPS = np.zeros((0, 7))
_NO_PLANES = np.zeros((0, 4))
_NO_BOXES = np.zeros((0, 15))
_NO_PTR = np.zeros(1, np.int64)


def _factored(sheet: ClothSheet, h: float) -> dict:
    """The sheet's factored global matrix for step ``h`` and its current fixed vertices
    (pins and held), rebuilt only when one of them (``sheet.fixed_version``) or the triangles
    changed; allocates nothing otherwise."""
    cache = sheet.solver_cache
    if cache.get("h") == h and cache.get("tris") is sheet.triangles and cache.get("version") == sheet.fixed_version:
        return cache
    fixed = sheet.pinned.copy()
    if sheet.hold_idx.size:
        fixed[sheet.hold_idx] = True
    band, perm, _, c_row, c_col, c_val, bw = pd.assemble(
        sheet.n_vertices,
        sheet.triangles,
        sheet.gt,
        sheet.w_rot + sheet.w_area,
        sheet.bend_ptr,
        sheet.bend_idx,
        sheet.bend_w,
        sheet.bend_inv_alpha,
        sheet.mass,
        h,
        fixed,
        sheet.rest,
    )
    n = sheet.n_vertices
    # vertex -> triangles (CSR) for the exact bending gradient of the quasi-Newton solve
    order = np.argsort(sheet.triangles.ravel(), kind="stable")
    vt_tri = (order // 3).astype(np.int64)
    vt_ptr = np.searchsorted(sheet.triangles.ravel()[order], np.arange(n + 1)).astype(np.int64)
    cache.clear()
    cache.update(
        h=h,
        version=sheet.fixed_version,
        tris=sheet.triangles,
        fixed=fixed,
        band=band,
        perm=perm,
        c_row=c_row,
        c_col=c_col,
        c_val=c_val,
        bandwidth=int(bw[0]),
        y=np.zeros((n, 3)),
        rhs=np.zeros((n, 3)),
        z=np.zeros(n),
        fr=np.zeros((3, 2)),
        fa=np.zeros((3, 2)),
        nrm=np.zeros((n, 3)),
        # quasi-Newton scratch and its history (reset with the matrix: a new pin, grasp or cut)
        z3=np.zeros((n, 3)),
        grad=np.zeros((n, 3)),
        ge=np.zeros((n, 3)),
        ge_t=np.zeros((n, 3)),
        d=np.zeros((n, 3)),
        xt=np.zeros((n, 3)),
        hist_s=np.zeros((HISTORY, n, 3)),
        hist_t=np.zeros((HISTORY, n, 3)),
        hist_rho=np.zeros(HISTORY),
        hist_a=np.zeros(HISTORY),
        stats=np.zeros(3),
        nlen=np.zeros(n),
        vt_ptr=vt_ptr,
        vt_tri=vt_tri,
    )
    return cache


def _newton_cache(sheet: ClothSheet, c: dict) -> dict:
    """The Newton solve's Hessian pattern and scratch, added to the factor's cache on first use
    (so the default solve's refactoring frames do not pay for it); rebuilt with the cache."""
    if "row_ptr" not in c:
        n = sheet.n_vertices
        row_ptr, col, tri_slot, pair_ptr, pair_slot = pd.hessian_pattern(
            n, sheet.triangles, sheet.bend_ptr, sheet.bend_idx
        )
        c.update(
            row_ptr=row_ptr,
            col=col,
            tri_slot=tri_slot,
            pair_ptr=pair_ptr,
            pair_slot=pair_slot,
            val=np.zeros((len(col), 3, 3)),
            lam=np.zeros(6),
            modes=np.zeros((6, 3, 2)),
            basis=np.zeros((3, 3)),
            q=np.zeros(9),
            r=np.zeros((n, 3)),
            p=np.zeros((n, 3)),
            ap=np.zeros((n, 3)),
            held=np.zeros(n, bool),
            newton_stats=np.zeros(5),
            # the kept Hessian's elements (pd.update_hessian), assembled in full on first use
            f_h=np.zeros((len(tri_slot), 3, 2)),
            lam_h=np.zeros((len(tri_slot), 6)),
            modes_h=np.zeros((len(tri_slot), 6, 3, 2)),
            nrm_h=np.zeros((len(pair_ptr) - 1, 3)),
            hessian_state=np.array([-1.0]),
        )
    return c


def step_cloth(
    sheet: ClothSheet,
    dt: float,
    substeps: int = 10,
    gravity: np.ndarray | tuple[float, float, float] = (0.0, -9.80665, 0.0),
    capsules: np.ndarray | None = None,
    n_capsules: int | None = None,
    hold_span: tuple[float, float] = (0.0, 1.0),
    iterations: int | None = None,
    method: str = "pd",
    multi_rhs: bool = True,
    planes: np.ndarray | None = None,
    boxes: np.ndarray | None = None,
    n_boxes: int | None = None,
    hessian_tolerance: float | None = None,
) -> None:
    """Advance ``sheet`` by ``dt`` seconds in ``substeps`` implicit-Euler steps, each solved by
    ``iterations`` (default :data:`ITERATIONS`, :data:`NEWTON_ITERATIONS` for Newton)
    iterations of ``method`` (:data:`METHODS`):
    plain Projective Dynamics local-global iterations (:func:`vrmed.systems.cloth.pd.pd_step`,
    the default), quasi-Newton (L-BFGS) iterations (:func:`vrmed.systems.cloth.pd.qn_step`) or
    at most that many Newton iterations (:func:`vrmed.systems.cloth.pd.newton_step`).
    ``multi_rhs=False`` runs the PD global solve one coordinate at a time, as before
    :func:`vrmed.systems.cloth.pd.band_solve3` (for the bench's old-versus-new timing).
    ``hessian_tolerance`` (Newton): how far an element's F may move before its part of the
    kept Hessian is recomputed (default :data:`vrmed.systems.cloth.pd.HESSIAN_TOLERANCE`; 0:
    the whole Hessian assembled afresh at every iteration, as before it was kept).

    Held vertices (:meth:`ClothSheet.hold`) travel linearly along ``sheet.hold_from`` ->
    ``sheet.hold_to`` (their path over a display frame) from fraction ``hold_span[0]`` to
    ``hold_span[1]`` of it over the call; ``capsules`` (N, 7): rows a (3), b (3), radius (m) of
    tool capsules the free vertices are pushed out of (to radius + half the thickness);
    ``n_capsules`` how many rows are live (default all). ``planes`` (K, 4: unit normal n, offset
    d; outside where n.x >= d) and ``boxes`` (B, 15: centre, row-major rotation whose columns
    are the box axes, half extents; ``n_boxes`` rows live, default all) are static obstacles:
    after each step free vertices are pushed out to half the thickness from them, with Coulomb
    friction (the material's ``friction_static`` / ``friction_kinetic``; docs/cloth.md,
    "Contact"). Allocates nothing per call when
    gravity is a float64 array, except when the global matrix is refactored (a new pin,
    grasp, cut or step length)."""
    if substeps < 1 or not dt > 0:
        raise ValueError(f"step_cloth: need dt > 0 and substeps >= 1, got {dt}, {substeps}.")
    if method not in METHODS:
        raise ValueError(f"step_cloth: method must be one of {', '.join(METHODS)}, got {method!r}.")
    g = np.asarray(gravity, dtype=np.float64)
    h = dt / substeps
    c = _factored(sheet, h)
    caps = _NO_CAPS if capsules is None else capsules
    n_caps = len(caps) if n_capsules is None else int(n_capsules)
    pl = _NO_PLANES if planes is None else planes
    bx = _NO_BOXES if boxes is None else boxes
    n_bx = len(bx) if n_boxes is None else int(n_boxes)
    if pl.ndim != 2 or pl.shape[1] != 4 or bx.ndim != 2 or bx.shape[1] != 15:
        raise ValueError(f"step_cloth: planes must be (K, 4) and boxes (B, 15), got {pl.shape} and {bx.shape}")
    m = sheet.material
    its = int((NEWTON_ITERATIONS if method == "newton" else ITERATIONS) if iterations is None else iterations)
    bend_ptr = sheet.bend_ptr if m.bending > 0 else _NO_PTR
    # the arguments every solve takes: the sheet's state and elements, then the step's holds,
    # contacts and timing
    sheet_args = (
        sheet.x,
        sheet.v,
        sheet.x_prev,
        sheet.mass,
        c["fixed"],
        sheet.external_force,
        sheet.triangles,
        sheet.gt,
        sheet.w_rot,
        sheet.w_area,
        sheet.bend_vertex,
        bend_ptr,
        sheet.bend_idx,
        sheet.bend_w,
        sheet.bend_inv_alpha,
        c["nrm"],
    )
    step_args = (
        sheet.hold_idx,
        sheet.hold_from,
        sheet.hold_to,
        float(hold_span[0]),
        float(hold_span[1]),
        caps,
        n_caps,
        pl,
        len(pl),
        bx,
        n_bx,
        float(m.friction_static),
        float(m.friction_kinetic),
        g,
        float(dt),
        int(substeps),
        its,
    )
    if method == "newton":
        c = _newton_cache(sheet, c)
        pd.newton_step(
            *sheet_args,
            c["nlen"],
            c["vt_ptr"],
            c["vt_tri"],
            c["band"],
            c["perm"],
            c["row_ptr"],
            c["col"],
            c["tri_slot"],
            c["pair_ptr"],
            c["pair_slot"],
            c["val"],
            *step_args,
            pd.CG_ITERATIONS,
            pd.CG_TOLERANCE,
            pd.NEWTON_TOLERANCE,
            float(m.damping),
            0.5 * m.thickness,
            c["y"],
            c["z3"],
            c["fr"],
            c["fa"],
            c["lam"],
            c["modes"],
            c["basis"],
            c["q"],
            c["grad"],
            c["ge"],
            c["ge_t"],
            c["d"],
            c["xt"],
            c["r"],
            c["p"],
            c["ap"],
            c["held"],
            c["newton_stats"],
            pd.HESSIAN_TOLERANCE if hessian_tolerance is None else float(hessian_tolerance),
            c["f_h"],
            c["lam_h"],
            c["modes_h"],
            c["nrm_h"],
            c["hessian_state"],
        )
        return
    if method == "quasi_newton":
        pd.qn_step(
            *sheet_args,
            c["nlen"],
            c["vt_ptr"],
            c["vt_tri"],
            c["band"],
            c["perm"],
            *step_args,
            float(m.damping),
            0.5 * m.thickness,
            c["y"],
            c["z3"],
            c["fr"],
            c["fa"],
            c["grad"],
            c["ge"],
            c["ge_t"],
            c["d"],
            c["xt"],
            c["hist_s"],
            c["hist_t"],
            c["hist_rho"],
            c["hist_a"],
            c["stats"],
        )
        return
    pd.pd_step(
        *sheet_args,
        c["band"],
        c["perm"],
        c["c_row"],
        c["c_col"],
        c["c_val"],
        *step_args,
        float(m.damping),
        0.5 * m.thickness,
        c["y"],
        c["rhs"],
        c["z3"],
        c["fr"],
        c["fa"],
        c["z"],
        bool(multi_rhs),
    )


def kinetic_energy(sheet: ClothSheet) -> float:
    """1/2 sum m v^2 (J)."""
    return float(0.5 * np.dot(sheet.mass, np.einsum("ij,ij->i", sheet.v, sheet.v)))


def membrane_strain(sheet: ClothSheet) -> np.ndarray:
    """Green-Lagrange membrane strain per triangle (F, 2, 2) in each triangle's rest 2D frame."""
    p = sheet.x[sheet.triangles]
    ds = np.stack([p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]], axis=2)  # (F, 3, 2)
    f = ds @ sheet.dm_inv
    return 0.5 * (np.transpose(f, (0, 2, 1)) @ f - np.eye(2))


@dataclass
class ClothSettings:
    """Cloth resource: gravity (m/s^2), implicit steps per display frame, iterations per step
    (None: the method's default, :data:`ITERATIONS` or :data:`NEWTON_ITERATIONS`) and the solve
    (``method``, one of :data:`METHODS`). The solve is implicit (unconditionally
    stable), so unlike the tet solver it need not run every physics tick: it steps when a tick
    ends a 1/steps_per_frame share of the frame (with the default 900 Hz physics and 2 steps per
    frame, every 5th tick). ``ground``: the height y (m) of a horizontal floor the sheets lie on
    (None, the default: no floor; the engine has no world ground; may be changed at run time). The scene's static boxes
    (the CollisionWorld's box primitives, e.g. ``Collider(shape="box")`` entities) are always
    collided with (docs/cloth.md, "Contact")."""

    gravity: np.ndarray = field(default_factory=lambda: STANDARD_GRAVITY.copy())
    steps_per_frame: int = STEPS_PER_FRAME
    iterations: int | None = None
    method: str = "pd"
    ground: float | None = None
    #: scratch: the tool capsules of this tick (rows a, b, radius), grown as needed
    capsules: np.ndarray = field(default_factory=lambda: np.zeros((8, 7)))
    #: scratch: the scene's boxes of this tick (centre, rotation row-major, half extents), grown as needed
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((4, 15)))
    #: scratch: the floor plane (unit normal, offset), refreshed from ``ground`` each step
    planes: np.ndarray = field(default_factory=lambda: np.array([[0.0, 1.0, 0.0, 0.0]]))

    def __post_init__(self) -> None:
        if self.steps_per_frame < 1 or (self.iterations is not None and self.iterations < 1):
            raise ValueError(
                "ClothSettings: steps_per_frame and iterations must be >= 1, "
                f"got {self.steps_per_frame}, {self.iterations}"
            )
        if self.method not in METHODS:
            raise ValueError(f"ClothSettings: method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.ground is not None and not np.isfinite(self.ground):
            raise ValueError(f"ClothSettings: ground must be a finite height (m) or None, got {self.ground}")


def tool_capsules(app: App, settings: ClothSettings) -> int:
    """Copy this tick's tool capsules (and spheres) from the CollisionWorld into
    ``settings.capsules``; returns how many (boxes: :func:`scene_boxes`)."""
    world = app.try_resource(CollisionWorld)
    if world is None or world.n_prims == 0:
        return 0
    n = world.n_prims
    sel = np.flatnonzero(world.kind[:n] == CK.KIND_CAPSULE)
    if len(settings.capsules) < len(sel):
        settings.capsules = np.zeros((max(len(sel), 2 * len(settings.capsules)), 7))
    caps = settings.capsules
    caps[: len(sel), 0:3] = world.seg_a[sel]
    caps[: len(sel), 3:6] = world.seg_b[sel]
    caps[: len(sel), 6] = world.radius[sel]
    return len(sel)


def scene_boxes(app: App, settings: ClothSettings) -> int:
    """Copy this tick's box primitives (centre, rotation, half extents) from the CollisionWorld
    into ``settings.boxes``; returns how many. They are treated as static for the step (their
    motion does not drag the sheet)."""
    world = app.try_resource(CollisionWorld)
    if world is None or world.n_prims == 0:
        return 0
    n = world.n_prims
    sel = np.flatnonzero(world.kind[:n] == CK.KIND_BOX)
    if len(sel) == 0:
        return 0
    if len(settings.boxes) < len(sel):
        settings.boxes = np.zeros((max(len(sel), 2 * len(settings.boxes)), 15))
    out = settings.boxes
    out[: len(sel), 0:3] = world.box_c[sel]
    out[: len(sel), 3:12] = world.box_R[sel].reshape(len(sel), 9)
    out[: len(sel), 12:15] = world.box_half[sel]
    return len(sel)


def cloth_system(app: App) -> None:
    """Physics-stage system: when this tick ends a 1/steps_per_frame share of the display
    frame, step every ClothSheet by that share (held vertices move along their frame path;
    tool capsules at this tick's pose push the sheet; the scene's boxes and the ``ground``
    floor hold it up, with friction)."""
    settings = app.resource(ClothSettings)
    f0, f1 = frame_fractions(app)
    k = settings.steps_per_frame
    k0, k1 = int(np.floor(f0 * k + 1e-9)), int(np.floor(f1 * k + 1e-9))
    if k1 <= k0:
        return
    frame_dt = float(app.resource(SimSettings).frame_dt)
    n_caps = tool_capsules(app, settings)
    n_boxes = scene_boxes(app, settings)
    planes = _NO_PLANES
    if settings.ground is not None:  # may be set or moved at run time (a pack's setup)
        settings.planes[0, :3] = (0.0, 1.0, 0.0)
        settings.planes[0, 3] = float(settings.ground)
        planes = settings.planes
    for _, sheet in app.query(ClothSheet):
        step_cloth(
            sheet,
            frame_dt * (k1 - k0) / k,
            k1 - k0,
            settings.gravity,
            settings.capsules,
            n_caps,
            (k0 / k, k1 / k),
            settings.iterations,
            settings.method,
            planes=planes,
            boxes=settings.boxes,
            n_boxes=n_boxes,
        )


class ClothPlugin:
    """Registers :class:`ClothSheet`, the :class:`ClothSettings` resource, the cloth solve
    (physics stage, ``physics.solve``), the :class:`~vrmed.systems.cloth.cutting.ClothCut`
    event and the cloth drawing (render.prepare)."""

    components = (ClothSheet,)
    #: Events a scenario may name (rubrics, guidance steps, cues).
    events = (ClothCut,)
    #: Components that take part in the task (pack validation: each needs something that draws it).
    task_components = (ClothSheet,)
    #: Components this plugin's own drawing draws.
    drawn_components = (ClothSheet,)

    def __init__(self, settings: ClothSettings | None = None) -> None:
        self.settings = settings or ClothSettings()

    def build(self, app: App) -> None:
        """Add the component type, the settings resource and the systems."""
        app.register_component(ClothSheet)
        app.insert_resource(self.settings)
        app.add_system(cloth_system, stage="physics", name="cloth.solve", in_set="physics.solve", priority=60)
        app.add_system(cloth_draw_system, stage="render", name="cloth.draw", in_set="render.prepare")


def membrane_forces(sheet: ClothSheet) -> np.ndarray:
    """Elastic membrane force on each vertex (V, 3) in N at the current positions: minus the
    gradient of the membrane energy the solver minimises, sum_t w_t/2 |F_t - P_t(F_t)|^2
    (numpy; for checks and tool forces, not per frame)."""
    out = np.zeros_like(sheet.x)
    fr, fa = np.zeros((3, 2)), np.zeros((3, 2))
    tris, gt = sheet.triangles, sheet.gt
    for t in range(len(tris)):
        f = sheet.x[tris[t]].T @ gt[t]
        fa[:] = f
        if not pd._project(fa, fr, fa):
            continue
        grad = (sheet.w_rot[t] * (f - fr) + sheet.w_area[t] * (f - fa)) @ gt[t].T  # (3 coords, 3 vertices)
        out[tris[t]] -= grad.T
    return out


def elastic_energy(sheet: ClothSheet, x: np.ndarray | None = None, exact: bool = True) -> tuple[float, np.ndarray]:
    """The elastic energy E (J) of the cloth model (membrane + bending, see
    :func:`vrmed.systems.cloth.pd.energy_gradient`) at ``x`` (default the current positions)
    and its gradient (V, 3) in N: exact, or with ``exact=False`` the solves' force (the bending
    normals held fixed). Numpy wrapper, allocates: for checks, not per frame."""
    pos = np.ascontiguousarray(sheet.x if x is None else x, dtype=np.float64)
    n = sheet.n_vertices
    tris = sheet.triangles
    order = np.argsort(tris.ravel(), kind="stable")
    vt_tri = (order // 3).astype(np.int64)
    vt_ptr = np.searchsorted(tris.ravel()[order], np.arange(n + 1)).astype(np.int64)
    grad = np.zeros((n, 3))
    e = pd.energy_gradient(
        pos,
        tris,
        sheet.gt,
        sheet.w_rot,
        sheet.w_area,
        sheet.bend_vertex,
        sheet.bend_ptr if sheet.material.bending > 0 else _NO_PTR,
        sheet.bend_idx,
        sheet.bend_w,
        sheet.bend_inv_alpha,
        np.zeros((n, 3)),
        np.zeros(n),
        vt_ptr,
        vt_tri,
        grad,
        np.zeros((3, 2)),
        np.zeros((3, 2)),
        True,
        bool(exact),
    )
    return float(e), grad


def elastic_hessian(sheet: ClothSheet, x: np.ndarray | None = None, project: bool = True) -> np.ndarray:
    """The Hessian (3V, 3V; row 3 i + c is vertex i, coordinate c) of the elastic energy the
    Newton solve uses at ``x`` (default the current positions), assembled by
    :func:`vrmed.systems.cloth.pd.assemble_hessian` in its sparse pattern: the membrane
    blocks (with ``project``, each triangle's projected to positive semi-definite) and the
    bending one with the normals held fixed; without the mass term. Dense numpy, allocates:
    for checks on small sheets, not per frame."""
    pos = np.ascontiguousarray(sheet.x if x is None else x, dtype=np.float64)
    n = sheet.n_vertices
    row_ptr, col, tri_slot, pair_ptr, pair_slot = pd.hessian_pattern(n, sheet.triangles, sheet.bend_ptr, sheet.bend_idx)
    val = np.zeros((len(col), 3, 3))
    pd.assemble_hessian(
        pos,
        sheet.triangles,
        sheet.gt,
        sheet.w_rot,
        sheet.w_area,
        sheet.bend_vertex,
        sheet.bend_ptr if sheet.material.bending > 0 else _NO_PTR,
        sheet.bend_idx,
        sheet.bend_w,
        sheet.bend_inv_alpha,
        np.zeros((n, 3)),
        tri_slot,
        pair_ptr,
        pair_slot,
        val,
        np.zeros((3, 2)),
        np.zeros(6),
        np.zeros((6, 3, 2)),
        np.zeros((3, 3)),
        np.zeros(9),
        bool(project),
    )
    out = np.zeros((n, 3, n, 3))
    rows = np.repeat(np.arange(n), np.diff(row_ptr))
    out[rows, :, col, :] = val
    return out.reshape(3 * n, 3 * n)
