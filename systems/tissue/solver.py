"""The soft-body system: XPBD stepping of :class:`~vrmed.components.tissue.softbody.SoftBody` and per-tet queries.

Usable without an App (``step_softbody(body, dt, substeps, gravity)``) and as an engine plugin
(:class:`SoftBodyPlugin`, which runs ``SimSettings.substeps_per_tick`` substeps per physics tick,
one by default: the default 900 Hz physics rate gives the 10 substeps per 1/90 s frame of
"Small Steps in Physics Simulation").

Tissue constraints (:mod:`vrmed.components.tissue.constraints`): the built-in pins,
attachments and slides are projected inside the fused compiled step; constraint types added
by plugins (registered per App with :func:`register_tissue_constraint`) are projected by their
own kernels from a Python substep loop that runs the same compiled pieces.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from vrmed.components.tissue.constraints import BUILTIN_CONSTRAINTS, ConstraintError, TissueConstraint
from vrmed.components.tissue.ligament import LigamentPatch
from vrmed.components.tissue.softbody import EmbeddedSurface, SoftBody, build_nodal_volume, check_velocity_damping
from vrmed.mesh import tet_quality
from vrmed.settings import SimSettings
from vrmed.systems.tissue import kernels as K
from vrmed.systems.tissue.embedding import embed_draw_surface, embedding_system
from vrmed.systems.tissue.finite import check_finite
from vrmed.systems.tissue.held import keep_paused_momenta, paused_momenta, recovering, release_if_held
from vrmed.systems.tissue.springs import NO_SPRINGS, added_constraints, solve_springs, update_spring_forces

if TYPE_CHECKING:  # pragma: no cover
    from vrmed.app import App

#: vrmed is y-up (as OpenXR and the renderer): gravity points along -y.
STANDARD_GRAVITY = np.array([0.0, -9.80665, 0.0])

#: Largest :func:`stiffness_ratio` at which the coupled solve was measured not to gain energy
#: (docs/physics.md: on a 5x5x5 box no energy gain at 0.68, a persistent oscillation at 1.08 and
#: energy growth at 2.7).
STABLE_RATIO = 0.75


def ensure_nodal(body: SoftBody) -> bool:
    """Build ``body.nodal`` (the nodal volume constraints, in the sweep order of the body's tet
    slabs) if it is missing or no longer fits the body's mesh; True if it was (re)built."""
    if body.nodal is not None and body.nodal.fits(body.n_vertices, body.n_tets):
        return False
    body.nodal = build_nodal_volume(
        body.tets,
        body.rest_volume,
        body.dm_inv,
        body.n_vertices,
        body.material.lam,
        body.rest_points,
        int(body.phase_offsets[-1]),
    )
    return True


def step_softbody(
    body: SoftBody,
    dt: float,
    substeps: int = 10,
    gravity: np.ndarray | tuple[float, float, float] = (0.0, -9.80665, 0.0),
    add_substeps: bool = True,
    tools: tuple[Any, ...] | None = None,
) -> None:
    """Advance ``body`` by ``dt`` seconds using ``substeps`` XPBD substeps (one iteration each).

    Each substep predicts, places the built-in kinematic constraints (attached vertices travel
    linearly from where they are to ``body.kin_target`` over the substeps, slide planes to
    their targets), projects every tet, recovers nearly flat or inverted tets if
    ``body.recover_inversions`` (``kernels.recover_pass``; ``kernels.keep_uninverted`` then puts
    back the free vertices of any tet the substep inverted), then every constraint of ``body.constraints`` in list
    order, and updates the velocities. After the step, a fold that has stayed inverted with no
    tool holding the body, or at rest against a tool, is untangled (:func:`_untangle_if_stuck`).
    Before its first step (and after a change of substep or material) a body mirrored whole is
    reflected back (:func:`unmirror`; through the plane of its pins if it has some). Nothing is
    allocated after that first step (pass gravity as a float64 array to avoid even a 3-vector)
    unless the untangling runs.

    ``substeps`` is a floor: a body too stiff for it (with ``body.accurate_substeps``, the
    default, and ``add_substeps``) is stepped with more, as :func:`accurate_substeps` chooses,
    within its cost budget.

    ``tools``: the tools the tet sweep sees this step (:attr:`TickContacts.tools`): (the kernel's
    ``tools`` tuple, reach (m), u0, u1); a body with a vertex within a tool's radius + reach
    (:func:`kernels.mark_tool_candidates`) and no added constraints is stepped by
    :func:`kernels.step_kernel_tools`, every other body as without.
    """
    if isinstance(substeps, bool) or not isinstance(substeps, (int, np.integer)) or substeps < 1 or not dt > 0:
        raise ValueError(f"step_softbody: need dt > 0 and a whole number of substeps >= 1, got {dt}, {substeps!r}.")
    g = np.asarray(gravity, dtype=np.float64)
    if not (g.shape == (3,) and np.isfinite(g).all()):  # NaN here poisons every vertex at once
        raise ValueError(f"step_softbody: gravity must be a finite 3-vector in m/s^2, got {gravity!r}.")
    check_velocity_damping(body.velocity_damping)  # a field a script may set after from_mesh
    check_finite(body, "before")
    substeps = accurate_substeps(body, dt, substeps, add_substeps)
    h = dt / substeps
    if body.volume == "nodal" and ensure_nodal(body):
        body.checked_substep = body.warm_h = 0.0  # compliances and warm-start factors for it
    elif body.volume != "nodal":
        body.nodal = None
    if h != body.checked_substep:
        if body.recover_inversions:
            unmirror(body)
        body.checked_substep = h
        ratios = tet_stiffness_ratios(body, h)
        r = float(ratios.max())
        frac = _soften_stiff_tets(body, ratios)
        if r > STABLE_RATIO and (not body.soften_slivers or frac > SOFTEN_WARN_FRACTION):
            softened = f" ({100 * frac:.1f} % of the volume softened to stay stable)" if body.soften_slivers else ""
            warnings.warn(
                f"SoftBody: substep {h:.3g} s is too long for this material and mesh "
                f"(stiffness ratio {r:.2f} > {STABLE_RATIO}){softened}; the solve may gain energy "
                f"or be too soft. Use at least {int(np.ceil(substeps * np.sqrt(r / STABLE_RATIO)))} "
                "substeps, a softer material or a coarser mesh.",
                RuntimeWarning,
                stacklevel=2,
            )
        elif frac > 0.0:
            warnings.warn(_softened_message(body, ratios, h, substeps, frac), RuntimeWarning, stacklevel=2)
    if h != body.warm_h:
        # multipliers and the kept correction are impulses x h (force x h^2): rescale them
        if body.warm_h > 0.0:
            scale = (h / body.warm_h) ** 2
            body.lam *= scale
            body.warm_d[:, :9] *= np.float32(scale)
            body.warm_dx *= scale
        factors = _warm_factors_unheld(body, h)
        light = _light_tets(body)
        kept = factors[light] > 0.0  # the light tets a tool's hold lets keep theirs (_hold_light_tets)
        body.light_warm = (light[kept], factors[light[kept]] * body.warm_start, np.zeros(int(kept.sum())))
        factors[light] = 0.0
        body.warm_t[:] = factors * body.warm_start
        _keep_slow_part(body, h)
        if body.nodal is not None:
            nd = body.nodal
            if body.warm_h > 0.0:
                nd.lam *= (h / body.warm_h) ** 2
            nd.kept[:] = nodal_warm_start_factors(body) * body.warm_start
        body.warm_h = h
    _hold_light_tets(body, dt)
    m = body.material
    if (
        body.damping_keeps_statics
        and m.damping > 0.0
        and body.warm_start != 0.0
        and body.warm_d.shape[1] < K.DAMP_REF_COLUMNS
    ):
        _keep_damping_reference(body)
    # ligament patches: backward-Euler springs inside the step, solved with the inverse masses
    # they give their vertices (systems/tissue/springs.py)
    springs = solve_springs(body, h)
    # the kernels take the arrays grouped: the state, the tet model, each built-in constraint
    state = (
        body.x,
        body.v,
        body.x_prev,
        body.inv_mass if springs is None else springs[0],
        body.external_force,
        body.lam,
        body.warm_d,
        body.warm_dx,
        body.warm_t,
    )
    if body.recover_near.shape[0] != body.tets.shape[0]:  # a body whose tets were replaced by hand
        body.recover_near = np.zeros(body.tets.shape[0], dtype=np.bool_)
    if body.contact_hold.shape[0] != body.x.shape[0]:  # vertices added (a cut) or none yet
        body.contact_hold = np.zeros(body.x.shape[0], dtype=np.bool_)
    model = (
        body.tets,
        body.dm_inv,
        body.alpha_dev,
        body.alpha_hyd,
        body.block_offsets,
        body.phase_offsets,
        body.recover_near,
        body.contact_hold,
    )
    attachment = body.attachment.arrays()
    slides = body.slides.arrays()
    swept = None  # the vertices near a tool the sweep saw (the held untangling keeps them)
    # a free body whose recovery is paused (held.release_if_held): no momentum repair runs in
    # the kernels then, so the step's net momentum is set to what the drag alone leaves
    before = paused_momenta(body, g)
    added = added_constraints(body)
    if not added:
        # built-in constraints (and ligament patches) only: the whole step in one compiled call
        args = (
            state,
            model,
            attachment,
            slides,
            g,
            float(dt),
            int(substeps),
            body.tet_volume_term()[1],
            float(m.damping),
            float(body.velocity_damping),
            float(body.warm_start),
            recovering(body),
            _volume_barrier(body),
            None if body.nodal is None else body.nodal.arrays(),
            bool(body.keep_release),
            True if body.recover_pull_back else None,  # None: compiled out (kernels._recover_tet)
            NO_SPRINGS if springs is None else springs[1],  # a run-time choice: no version of its own
        )
        held = _slow_held(body)  # a run-time bool: one compiled step for both (kernels.step_kernel)
        if tools is not None and K.mark_tool_candidates(body.x, tools[0], tools[1]) > 0:
            swept = tools[0][0]
            # the tet sweep sees the tools (docs/physics.md "Contact inside the tet sweep")
            K.step_kernel_tools(*args, tools[0], float(tools[2]), float(tools[3]), held, _recovery_scratch(body))
        else:
            K.step_kernel(*args, held, _recovery_scratch(body))
    else:
        # fmt: off
        _step_with_added_constraints(
            body, added, state, model, attachment, slides, g, float(dt), int(substeps),
            NO_SPRINGS if springs is None else springs[1],
        )
        # fmt: on
    if springs is not None:
        update_spring_forces(body)
    for c in body.constraints:
        c.end_step()
    body.slides.end_step()
    if before is not None:
        keep_paused_momenta(body, before, (1.0 / (1.0 + h * body.velocity_damping)) ** substeps)
    if recovering(body):
        _untangle_if_stuck(body, dt, swept)
    release_if_held(body, dt, elastic_energy)
    check_finite(body, "after")


#: The scratch :func:`_recovery_scratch` passes for a body it has built none for (the kernel
#: then builds one for the frame if flags come).
_NO_SCRATCH = np.empty(0, dtype=np.int64)

#: The arguments of ``kernels.step_kernel`` after ``volume_barrier`` (``nodal``, ``keep_release``,
#: ``pull_back``, ``springs``, ``slow_held``, ``scratch``) that :func:`step_softbody` passes for a
#: body with none of those opt-ins, no held vertex and no kept recovery scratch: for direct callers
#: (tests, benchmarks), so that they run the solver's compiled version of the step (an argument of
#: another type, a default left out included, compiles a version of its own: docs/physics.md,
#: "Compiled versions of the step").
PLAIN_STEP_TAIL = (None, False, None, NO_SPRINGS, False, _NO_SCRATCH)


def _recovery_scratch(body: SoftBody) -> np.ndarray:
    """The inversion recovery's scratch for :func:`kernels.step_kernel` and
    :func:`kernels.step_kernel_tools` (:func:`kernels.
    recovery_scratch`: per-tet flag thresholds and the vertex -> tet adjacency, then work areas
    the kernels write before they read), kept in ``body.recovery_scratch`` with the ``tets`` and
    ``dm_inv`` arrays it was built from: built when the body steps with the recovery on and a
    flagged tet, then reused while those are the same arrays (a cut or a refinement replaces
    them) and the vertex count is the same; :data:`_NO_SCRATCH` before that (80 bytes per tet
    kept while the body lives). Why: built in the kernel once per frame it took 0.24 ms (best of
    30) to 0.8 ms (mean, with its 1.6 MB allocation, load ~4) of the raptor as shipped's ~18 ms
    frame, serially; the result is bit-identical (docs/physics.md, "Benchmark")."""
    kept = body.recovery_scratch
    if kept is not None:
        if kept[0] is body.tets and kept[1] is body.dm_inv and kept[2] == body.x.shape[0]:
            return kept[3]
        body.recovery_scratch = None  # built for tets a cut or refinement replaced: let them go
    if not (recovering(body) and K.any_flagged(body.recover_near)):
        return _NO_SCRATCH
    scratch = K.recovery_scratch(body.tets, body.dm_inv, body.inv_mass)
    body.recovery_scratch = (body.tets, body.dm_inv, body.x.shape[0], scratch)
    return scratch


#: :func:`unmirror`: the share of the rest volume in inverted tets from which a body counts as
#: mirrored whole.
MIRRORED_FRACTION = 0.9


def _keep_damping_reference(body: SoftBody) -> None:
    """Widen ``body.warm_d`` to :data:`kernels.DAMP_REF_COLUMNS` columns for Rayleigh damping
    with the warm start: the kernels keep there each tet's constraint values where its last step
    left them (set here from the current positions, so a body that starts deformed is not seen
    as moving) and the damping term's estimate of the corrections still pending (zero). Undamped
    bodies and those without ``damping_keeps_statics`` keep the 10 columns (and eq. 26 as written)."""
    old = body.warm_d
    wide = np.zeros((old.shape[0], K.DAMP_REF_COLUMNS), dtype=np.float32)
    wide[:, : old.shape[1]] = old
    p = body.x[body.tets]
    F = np.stack([p[:, 1] - p[:, 0], p[:, 2] - p[:, 0], p[:, 3] - p[:, 0]], axis=2) @ body.dm_inv
    wide[:, 10] = np.sqrt(np.einsum("kij,kij->k", F, F)) - K.SQRT3
    wide[:, 11] = np.linalg.det(F) - 1.0
    body.warm_d = wide
    body.warm_t = wide[:, 9]  # the kept fractions stay a view of column 9


def unmirror(body: SoftBody) -> bool:
    """Reflect a body that is mirrored whole back through its best-fit mirror plane (for a body
    with fixed vertices: through the plane of those vertices); returns whether it did. Run by
    :func:`step_softbody` (with ``recover_inversions``) when a body's substep is set, i.e. before
    its first step (and again after ``checked_substep`` is reset).

    A body counts as mirrored when tets holding at least :data:`MIRRORED_FRACTION` of its rest
    volume are inverted and the best-fit linear map from its rest shape to its positions (least
    squares about the centroids) has det < 0. No deformation reaches that state without passing
    the body through itself: it is a mirrored placement (a transform with a negative scale), and
    the least-energy state of the inversion-aware elastic energy on the way back (each tet's
    reflection undone by flipping one singular value, Irving, Teran & Fedkiw 2004, "Invertible
    finite elements for robust simulation of large deformation") is the body reflected back,
    a rigid image of its rest shape. Solved tet by tet instead, the inversion recovery lifts every
    tet to det F >= 0.1 at once and leaves it folded through itself (the mirrored box 79 mm from
    its rest shape after 3.3 s; docs/physics.md, "Inversion recovery"). The plane passes through
    the centre of mass and is normal to the axis that the best-fit map's rotation part (an
    improper rotation) reverses (its eigenvector for -1): internal forces cannot move the centre
    of mass or change the linear momentum, so both are kept; the positions and the velocities
    relative to the mean are reflected, and the warm start is dropped.

    A body whose fixed vertices (every axis of inverse mass 0: pins, attachments) lie in one plane
    (or on a line, or at one point), within :data:`HELD_PLANE_TOL` of its size, is reflected
    through that plane instead (:func:`_unmirror_held`): of the two rigid placements that keep
    those vertices where they are, the mirrored one and its reflection through their plane, the
    second is the uninverted one (two reflections make a rotation). Before it the recovery left
    truthcylinder1 mirrored with its 5 lowest vertices pinned with 228 tets inverted and frozen
    (docs/physics.md, "Mirrored bodies"). Not done with vertices held along some axes only (slide
    planes), a tool contact, or fixed vertices off one plane (no uninverted rigid placement keeps
    them): the recovery handles such a body."""
    tets = body.tets
    if tets.shape[0] == 0:
        return False
    if body.contact_hold.shape[0] == body.x.shape[0] and body.contact_hold.any():
        return False
    fixed = ~np.any(body.inv_mass > 0.0, axis=1)  # pins, attachments: every axis held
    if np.any(np.any(body.inv_mass == 0.0, axis=1) & ~fixed):
        return False  # a slide plane holds some axes only
    v6 = _signed_volumes6(body)
    if body.rest_volume[v6 < 0.0].sum() < MIRRORED_FRACTION * body.rest_volume.sum():
        return False
    mass = 1.0 / body.inv_mass_free
    rest = body.rest_points - mass @ body.rest_points / mass.sum()
    centre = mass @ body.x / mass.sum()
    fit = np.linalg.lstsq(rest, body.x - centre, rcond=None)[0]  # x - centre ~ rest @ fit
    if not np.linalg.det(fit) < 0.0:
        return False
    u, _, vt = np.linalg.svd(fit)
    values, vectors = np.linalg.eig(u @ vt)  # improper rotation: one eigenvalue is -1
    n = np.real(vectors[:, int(np.argmin(np.abs(values + 1.0)))])
    n /= np.linalg.norm(n)
    if fixed.any():
        return _unmirror_held(body, fixed, n)
    mirror = np.eye(3) - 2.0 * np.outer(n, n)
    body.x[:] = centre + (body.x - centre) @ mirror
    body.x_prev[:] = centre + (body.x_prev - centre) @ mirror
    mean_v = mass @ body.v / mass.sum()
    body.v[:] = mean_v + (body.v - mean_v) @ mirror
    body.forget_warm_start()
    body.recover_near[:] = False
    return True


def _signed_volumes6(body: SoftBody) -> np.ndarray:
    """Six times each stored tet's current signed volume (negative: inverted), for
    :func:`unmirror`'s whole-body checks (the solver's own measures are updated per step)."""
    p = body.x[body.tets]
    return np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), p[:, 3] - p[:, 0])


#: :func:`unmirror` of a body with fixed vertices: the largest distance of those vertices from
#: their best-fit plane, as a share of the body's largest extent, at which they count as lying
#: in one plane (0.02: 4 mm on a 0.2 m body).
HELD_PLANE_TOL = 0.02


def _unmirror_held(body: SoftBody, fixed: np.ndarray, n: np.ndarray) -> bool:
    """:func:`unmirror` for a mirrored body with fixed vertices (``fixed``; ``n``, the axis the
    best-fit map reverses): reflect its free vertices through the plane of the fixed ones, which
    stay where they are (they lie in it, within :data:`HELD_PLANE_TOL`). The plane's normal is the
    fixed vertices' direction of least spread (principal axes: the plane that moves them least);
    where they lie exactly on a line or at a point, the part of ``n`` normal to the line (a plane
    through the line), or ``n`` itself.
    Kept only if it leaves less than ``1 - MIRRORED_FRACTION`` of the rest volume inverted (else
    undone: returns False). Velocities are reflected with the body (the fixed vertices' are 0)."""
    q = body.x[fixed]
    c = q.mean(axis=0)
    size = float(np.ptp(body.x, axis=0).max())
    _, sv, axes = np.linalg.svd(q - c, full_matrices=True)
    sv = np.concatenate([sv, np.zeros(3 - sv.shape[0])])
    if np.abs((q - c) @ axes[2]).max() > HELD_PLANE_TOL * size:
        return False  # off one plane: no uninverted rigid placement keeps them
    line = sv <= 1e-9 * size  # directions in which they do not spread at all
    if line[1]:  # on a line or at a point: any plane through them; the one nearest the mirror's
        spread = axes[: int(np.count_nonzero(~line))]
        n = n - spread.T @ (spread @ n)
        # n along their line: any plane through the line serves (each gives a rotation)
        n = n / np.linalg.norm(n) if np.linalg.norm(n) > 1e-3 else axes[1]
    else:
        n = axes[2]
    if np.abs((q - c) @ n).max() > HELD_PLANE_TOL * size:
        return False
    mirror = np.eye(3) - 2.0 * np.outer(n, n)
    free = ~fixed
    x0, xp0, v0 = body.x.copy(), body.x_prev.copy(), body.v.copy()
    body.x[free] = c + (body.x[free] - c) @ mirror
    body.x_prev[free] = c + (body.x_prev[free] - c) @ mirror
    body.v[free] = body.v[free] @ mirror
    v6 = _signed_volumes6(body)
    if body.rest_volume[v6 <= 0.0].sum() >= (1.0 - MIRRORED_FRACTION) * body.rest_volume.sum():
        body.x[:], body.x_prev[:], body.v[:] = x0, xp0, v0
        return False
    body.forget_warm_start()
    body.recover_near[:] = False
    return True


#: :func:`_untangle_if_stuck`: time (s) that a fold must stay inverted, with the body at rest
#: (:data:`UNTANGLE_HELD_SPEED`), while a tool contact holds a vertex of the body before it is
#: untangled around the held vertices (without a contact: ``kernels.UNTANGLE_WAIT`` steps).
UNTANGLE_WAIT_HELD = 0.2
#: ... the body counting as at rest while every vertex is slower than this (m/s): a fold left
#: against a tool that has stopped, not one a working tool is making (without this test the
#: dissection packs' tools, which hold folds for over 0.05 s while they work, had their folds
#: untangled and the sessions changed).
UNTANGLE_HELD_SPEED = 0.01
_NO_HOLD = np.zeros(0, dtype=np.bool_)


def _untangle_if_stuck(body: SoftBody, dt: float, swept: np.ndarray | None = None) -> None:
    """Untangle (``kernels.untangle``) when flagged tets have ended more than ``kernels.UNTANGLE_WAIT``
    steps in a row inverted while no tool contact held a vertex of the fold (``kernels.fold_held``:
    of a tet inverted or flagged by the recovery; a contact elsewhere on the body, such as the bed
    plate's under it, does not count; a fold the recovery does not open once the tool that made it
    has gone; docs/physics.md, "Inversion recovery"), or, while one did, when the body has had a tet
    inverted and been at rest (every vertex the contact does not hold slower than
    :data:`UNTANGLE_HELD_SPEED`) for more than :data:`UNTANGLE_WAIT_HELD` seconds (``dt`` is the
    step's length).

    Not at once while a contact holds a vertex: a press with a tool smaller than the tets holds
    folded tets it makes (their held vertices cannot move), and untangling the rest there changed
    the contact's outcome (the 6 cm box pressed 20 mm at 0.5 m/s closed over the 5 mm sphere). But
    a fold can outlast the press with the tool still touching it: the raptor pressed 40 mm at 2 m/s
    by a 5 mm sphere and lifted back to 2 mm above its rest surface wrapped the sphere on the way
    up, 22 of its vertices stayed against it and 59 tets stayed inverted at rest for good; with the
    held untangling, 0 (1.3 s after the lift; docs/physics.md, "Inversion recovery").
    ``body.untangle_wait`` counts the steps without a contact (> 0) or with one at rest (< 0); a
    change resets the count, as before, so a session where no tet stays inverted for 0.2 s with
    a tool against a body at rest runs exactly as before (the dissection packs: no held untangling).
    Only the recovery's flags are read when no tet is flagged (the default path:
    ``kernels.any_flagged``, under 1 us on the 10k box). ``swept``: the vertices near a tool
    that the step's tet sweep saw (contact inside the solve), kept where they are by the held
    untangling (moved, the untangling carried the 8 mm block's surface over the 5 mm sphere
    pressed 40 mm into it: docs/physics.md "Contact inside the tet sweep")."""
    if not K.any_flagged(body.recover_near):
        body.untangle_wait = 0
        _end_release(body)
        return
    hold = body.contact_hold
    held = hold.shape[0] == body.x.shape[0] and K.any_flagged(hold)
    if held and K.fold_held(body.x, body.tets, body.recover_near, hold):
        # a fold at rest against a tool, not one a working tool is making. Only a contact on the
        # fold (a held vertex in a tet inverted or flagged by the recovery) counts: the bed
        # plate's contact with the gallbladder's underside (2-13 held vertices, none in the
        # fold's tets) kept a fold the scissors left at the cut line locked 2.75 s, the body
        # moving, so neither untangled nor released (the scripted scissors expert started 10 ms
        # later, docs/laparoscopy.md); untangled as without a contact, the held vertices kept,
        # it is gone by the next 0.25 s check
        if K.count_stuck(body.x, body.tets, body.recover_near) == 0:
            body.untangle_wait = 0
            _end_release(body)
            return
        if not K.max_speed2(body.v, hold) < UNTANGLE_HELD_SPEED**2:
            body.untangle_wait = 0
            _end_release(body)  # a working tool: its folds are not released (as not untangled)
            return
        body.untangle_wait = min(body.untangle_wait, 0) - 1
        body.stuck_time += dt
        if -body.untangle_wait > int(np.ceil(UNTANGLE_WAIT_HELD / dt)):
            # the held vertices may move too: kept where they were, 4 of the raptor's 59 stayed
            # inverted (a fold around them); what goes into the tool its contact puts back
            keep = _NO_HOLD if swept is None else swept
            _count_failed_untangle(body, K.untangle(body.x, body.inv_mass, body.tets, body.dm_inv, keep))
            body.untangle_wait = 0
        return
    elif K.count_stuck(body.x, body.tets, body.recover_near) == 0:
        body.untangle_wait = 0
        _end_release(body)
        return
    else:
        body.untangle_wait = max(body.untangle_wait, 0) + 1
        body.stuck_time += dt
    if body.untangle_wait > K.UNTANGLE_WAIT:
        _count_failed_untangle(body, K.untangle(body.x, body.inv_mass, body.tets, body.dm_inv, hold))
        body.untangle_wait = 0


#: :func:`_untangle_if_stuck`: time (s) a flagged tet must have stayed inverted (every step in a
#: row ending with one) before an untangling call that leaves a tet inverted releases the step
#: filter around the fold (``SoftBody.keep_release``; stepped a frame at a time at 90 Hz, the
#: fifth call). A fold the recovery, the step filter and the untangling keep closed that long is
#: locked by the filter (the half-mirrored armadillo: every substep the filter put back each
#: vertex the sweep and the recovery moved, the body frozen with 4 tets inverted); released
#: after the first failed call instead, the scissors novice's passing folds were released and its
#: session changed (docs/physics.md, "A fold the step filter locks").
RELEASE_WAIT = 0.5


def _count_failed_untangle(body: SoftBody, left: int) -> None:
    """After an untangling call that left ``left`` tets inverted: once a flagged tet has stayed
    inverted for :data:`RELEASE_WAIT`, release the step filter around the fold
    (``kernels.keep_filter``'s ``release``: the tets around tets inverted where a substep starts
    may invert, so the elastic solve can move the fold open) until no flagged tet is inverted."""
    if left > 0:
        body.keep_release = body.stuck_time >= RELEASE_WAIT
    else:
        _end_release(body)


def _end_release(body: SoftBody) -> None:
    """No flagged tet is inverted (or the untangling opened them all): the step filter is whole again."""
    body.stuck_time = 0.0
    body.keep_release = False


def _volume_barrier(body: SoftBody) -> bool | None:
    """The kernels' ``volume_barrier`` argument for ``body`` (``kernels.step_kernel``): True for a
    body built with the volume barrier (``SoftBody.has_volume_barrier``: ``lam`` has its column)
    that runs it (the warm start and the inversion recovery on), else None. Its type picks the
    compiled version of the step: with None the barrier is compiled out, so only a process that
    steps such a body compiles it."""
    if body.has_volume_barrier and recovering(body) and body.warm_start != 0:
        return True
    return None


def _step_with_added_constraints(
    body: SoftBody,
    constraints: list[TissueConstraint],
    state: tuple[np.ndarray, ...],
    model: tuple[np.ndarray, ...],
    attachment: tuple[np.ndarray, ...],
    slides: tuple[np.ndarray, ...],
    g: np.ndarray,
    dt: float,
    substeps: int,
    springs: tuple[np.ndarray, ...] = NO_SPRINGS,
) -> None:
    """The substep loop of :func:`K.step_kernel` run from Python, so that each of ``constraints``
    (the body's added ones) is projected by its own kernel after the tets and before the velocity
    update of every substep (with the inverse masses the step solves with, ``state[3]``).

    Same kernels and arithmetic as the fused step (bit-identical when the added kernels do
    nothing); it costs three compiled calls per substep plus one per added constraint. The caller
    calls every constraint's ``end_step``.
    """
    m = body.material
    x, v, x_prev, w = body.x, body.v, body.x_prev, state[3]
    h = dt / substeps
    inv_h = 1.0 / h
    gamma, beta, lin_damp = body.tet_volume_term()[1], float(m.damping), float(body.velocity_damping)
    warm = float(body.warm_start)
    recover = recovering(body)
    added = []
    for c in constraints:
        kernel = type(c).kernel  # read through an instance, a numba dispatcher would bind as a method
        if kernel is None:  # add_constraint refuses such types; a list edited by hand gets here
            raise ConstraintError(f"{type(c).__qualname__} ({c.name!r}) has no kernel to project it with")
        added.append((kernel, c.arrays()))
    barrier = _volume_barrier(body)
    nodal = None if body.nodal is None else body.nodal.arrays()
    release = bool(body.keep_release)
    pull_back = True if body.recover_pull_back else None
    held = _slow_held(body)
    K.begin_step(x, attachment)
    for s in range(substeps):
        frac = (s + 1.0) / substeps
        # fmt: off
        K.substep(
            state, model, attachment, slides, g, h, frac, gamma, beta, lin_damp, warm, recover, barrier, nodal, release,
            pull_back, springs, held,
        )
        # fmt: on
        for kernel, arrays in added:
            kernel(x, x_prev, w, frac, h, *arrays)
        K.update_velocity(x, x_prev, v, inv_h)


def update_tet_measures(body: SoftBody) -> None:
    """Fill ``body.green``, ``body.cauchy``, ``body.energy_density`` and ``body.volume_ratio`` (stored tet order).

    For a body with nodal volume constraints (``body.volume == "nodal"``) the stress and the
    energy carry the pressure the solver applies: each tet's the mean of its vertices' nodal
    pressures (``kernels.nodal_pressure``), not its own det F's."""
    m = body.material
    tet_p = None
    if body.volume == "nodal":
        ensure_nodal(body)
        nd = body.nodal
        assert nd is not None  # ensure_nodal built it
        K.nodal_pressure(body.x, body.tets, body.dm_inv, nd.arrays(), m.lam, nd.vertex_j, nd.tet_p)
        tet_p = nd.tet_p
    l_tet, gamma_tet = body.tet_volume_term()
    K.tet_measures(
        body.x,
        body.tets,
        body.dm_inv,
        m.mu,
        l_tet,
        gamma_tet,
        body.green,
        body.cauchy,
        body.energy_density,
        body.volume_ratio,
        tet_p,
    )


def _to_mesh_order(body: SoftBody, stored: np.ndarray) -> np.ndarray:
    """Stored order -> ascending source tet id (the source mesh's order; after a cut or a split
    into pieces the ids have gaps, so this sorts rather than scatters)."""
    return stored[np.argsort(body.tet_index, kind="stable")]


def tet_strain(body: SoftBody) -> np.ndarray:
    """Green-Lagrange strain E = (F^T F - I) / 2 per tet, shape (m, 3, 3), in the source mesh's tet order."""
    update_tet_measures(body)
    return _to_mesh_order(body, body.green)


def tet_stress(body: SoftBody) -> np.ndarray:
    """Cauchy stress in Pa per tet, shape (m, 3, 3), in the source mesh's tet order."""
    update_tet_measures(body)
    return _to_mesh_order(body, body.cauchy)


def von_mises_stress(body: SoftBody) -> np.ndarray:
    """Von Mises equivalent Cauchy stress (Pa) per tet, in the source mesh's tet order (for damage metrics)."""
    s = tet_stress(body)
    dev = s - np.trace(s, axis1=1, axis2=2)[:, None, None] * np.eye(3) / 3.0
    return np.sqrt(1.5 * np.einsum("kij,kij->k", dev, dev))


def max_principal_strain(body: SoftBody) -> np.ndarray:
    """Largest eigenvalue of the Green strain per tet (tension > 0), in the source mesh's tet order."""
    return np.linalg.eigvalsh(tet_strain(body))[:, -1]


def volume_ratios(body: SoftBody) -> np.ndarray:
    """det F per tet (current / rest volume; <= 0 means inverted), in the source mesh's tet order."""
    update_tet_measures(body)
    return _to_mesh_order(body, body.volume_ratio)


def elastic_energy(body: SoftBody) -> float:
    """Stored elastic energy in J (zero at rest)."""
    update_tet_measures(body)
    return float(np.dot(body.energy_density, body.rest_volume))


def kinetic_energy(body: SoftBody) -> float:
    """Kinetic energy 1/2 sum m v^2 in J (pinned and attached vertices included)."""
    return float(0.5 * np.dot(body.mass, np.einsum("ij,ij->i", body.v, body.v)))


def total_volume(body: SoftBody) -> float:
    """Current signed volume of the body in m^3 (sum of tet volumes)."""
    p = body.x[body.tets]
    e1, e2, e3 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0], p[:, 3] - p[:, 0]
    vol = np.einsum("ij,ij->i", np.cross(e1, e2), e3) / 6.0
    sign = np.sign(np.linalg.det(np.linalg.inv(body.dm_inv)))  # rest winding of each tet
    return float(np.dot(vol, sign))


@dataclass
class TissueConstraintTypes:
    """App resource: the tissue constraint types this App's bodies may carry, by name.

    :class:`SoftBodyPlugin` registers the built-in ones (pin, attachment, slide); a plugin
    adding its own calls :func:`register_tissue_constraint` in its ``build``. The solve system
    refuses a body carrying an unregistered type, with the fix in the message.
    """

    types: dict[str, type[TissueConstraint]] = field(default_factory=dict)

    def register(self, constraint_type: type[TissueConstraint]) -> None:
        """Add a type after checking it implements the protocol; a second, different type
        under the same name is an error (re-registering the same class is not)."""
        if not (isinstance(constraint_type, type) and issubclass(constraint_type, TissueConstraint)):
            raise ConstraintError(
                f"register_tissue_constraint: {constraint_type!r} is not a subclass of vrmed.api.TissueConstraint"
            )
        constraint_type.check_type()
        known = self.types.get(constraint_type.name)
        if known is not None and known is not constraint_type:
            raise ConstraintError(
                f"two tissue constraint types are registered as {constraint_type.name!r}: "
                f"{known.__module__}.{known.__qualname__} and "
                f"{constraint_type.__module__}.{constraint_type.__qualname__}"
            )
        self.types[constraint_type.name] = constraint_type

    def check(self, body: SoftBody, entity: int) -> None:
        """Raise :class:`ConstraintError` if ``body`` carries a constraint of an unregistered type."""
        for c in body.constraints:
            if self.types.get(c.name) is not type(c):
                raise ConstraintError(
                    f"entity {entity}: SoftBody carries a {type(c).__qualname__} constraint ({c.name!r}) whose "
                    "type is not registered in this App; call "
                    f"vrmed.api.register_tissue_constraint(app, {type(c).__qualname__}) in your plugin's build"
                )


def register_tissue_constraint(app: App, constraint_type: type[TissueConstraint]) -> None:
    """Make a tissue constraint type usable by the bodies of ``app`` (call it in a plugin's
    ``build``; works before or after :class:`SoftBodyPlugin` is added)."""
    types = app.try_resource(TissueConstraintTypes)
    if types is None:
        types = TissueConstraintTypes()
        app.insert_resource(types)
    types.register(constraint_type)


@dataclass
class SoftBodySettings:
    """Soft-body resource: gravity (m/s^2). Substeps per physics tick are
    :attr:`vrmed.settings.SimSettings.substeps_per_tick` (the one home of the rates)."""

    gravity: np.ndarray = field(default_factory=lambda: STANDARD_GRAVITY.copy())


def softbody_system(app: App) -> None:
    """Physics-stage system: step every SoftBody by one physics tick.

    In an App whose tool contacts are projected once per tick (:class:`TickContacts` with a
    ``between`` hook: the collision plugin), a body too stiff for the tick's substeps
    (:func:`accurate_substeps`) is stepped in ``m`` sub-ticks of ``dt / m`` instead, the contacts
    projected after each (:func:`step_with_tick_contacts`): the substeps it needs, each with
    its contacts, as if the physics rate were ``m`` times higher for that body alone."""
    settings = app.resource(SoftBodySettings)
    types = app.resource(TissueConstraintTypes)
    dt = app.clock.dt
    substeps = app.resource(SimSettings).substeps_per_tick
    contacts = app.try_resource(TickContacts)
    if contacts is not None:
        contacts.subticks.clear()
    seen = 0
    for entity, body in app.query(SoftBody):
        seen += 1
        if body.draw_surface is not None:  # a remeshed body's own boundary, once, at spawn
            embed_draw_surface(app, entity, body)
        if body.constraints:
            types.check(body, entity)
        if contacts is None:
            step_softbody(body, dt, substeps, settings.gravity, True)
        elif (
            contacts.between is None
            or body.constraints
            or not body.accurate_substeps
            or (contacts.keeps_tick is not None and contacts.keeps_tick(app, entity))
        ):
            tools = contacts.tools(app, entity, body) if contacts.tools is not None else None
            step_softbody(body, dt, substeps, settings.gravity, False, _share(tools, 0, 1))
        else:
            step_with_tick_contacts(app, contacts, entity, body, dt, substeps, settings.gravity)
    if contacts is not None and len(contacts.plans) > seen:  # a body despawned: forget its plan
        alive = {entity for entity, _ in app.query(SoftBody)}
        for entity in [e for e in contacts.plans if e not in alive]:
            del contacts.plans[entity]


def _share(tools: tuple[Any, ...] | None, k: int, m: int) -> tuple[Any, ...] | None:
    """:attr:`TickContacts.tools`' answer for sub-tick ``k`` of ``m``: (arrays, reach, u0, u1)."""
    return None if tools is None else (tools[0], tools[1], k / m, (k + 1) / m)


@dataclass
class TickContacts:
    """Resource a plugin inserts when it projects contacts on soft bodies once per physics tick
    (the collision plugin's tool contacts), after the tissue solve. ``by`` names the plugin.

    A body stepped with more substeps than the tick's between two projections sinks into what
    it rests on and rebounds every tick (4 mm/s on a block resting on a table), so the solver
    adds substeps for accuracy (:func:`accurate_substeps`) only as sub-ticks with the contacts
    projected after each: ``between(app, entity, body, k, m)`` projects them after sub-tick
    ``k`` of ``m`` (``k < m - 1``; the plugin's own system projects them after the last, with
    ``subticks[entity]`` = ``m``, the tools at their sub-tick pose and the sub-tick's substep).
    Without ``between`` the solver adds no substeps (and warns where the body needs them); nor
    for bodies with constraints added by plugins (``body.constraints``) or for which
    ``keeps_tick(app, entity)`` is true (the collision plugin's: bodies in tissue-tissue contact,
    which is projected once per tick for all of them with the tick's substep)."""

    by: str = ""
    between: Callable[[App, int, SoftBody, int, int], None] | None = None
    keeps_tick: Callable[[App, int], bool] | None = None
    #: this tick's sub-tick count of each body stepped in more than one (set by the solver)
    subticks: dict[int, int] = field(default_factory=dict)
    #: per body entity: (dt, substeps, sub-ticks, tets) of its last sub-tick plan
    plans: dict[int, tuple[float, int, int, np.ndarray]] = field(default_factory=dict)
    #: ``tools(app, entity, body)``: the tools the body's tet sweep sees this tick, or None
    #: (contact inside the solve, :func:`kernels.step_kernel_tools`): (the kernel's ``tools``
    #: tuple, reach (m)); None (the default) or a None answer: the sweep sees no tool
    tools: Callable[[App, int, SoftBody], tuple[Any, ...] | None] | None = None


#: In an App with :class:`TickContacts`, a body is split into sub-ticks only where the stiffness
#: ratio below which 90 % of its volume lies at the tick's substeps exceeds this (:data:`WARM_OFF`,
#: where the warm start is off and the solver warned before sub-ticks: issue #16's bar, 0.33 with
#: 2 cm cells and 0.9 with 1 cm). Between :data:`ACCURATE_BULK` and this a body keeps the tick's
#: substeps as before: the scissors dissection's gallbladder reaches 0.21 after its cuts, and the
#: 4 sub-ticks it would get changed that scenario's outcome (30 tets left inverted at the end).
SUBTICK_BULK = K.WARM_OFF


def contact_subticks(contacts: TickContacts, entity: int, body: SoftBody, dt: float, substeps: int) -> int:
    """How many sub-ticks of ``dt / m`` (``substeps`` each) ``body`` needs in an App with
    :class:`TickContacts`: the substeps :func:`accurate_substeps` would run for the tick,
    rounded up to whole sub-ticks, where more than 10 % of the body's volume is above
    :data:`SUBTICK_BULK` at the tick's substeps, else 1. Computed once per (``dt``,
    ``substeps``, material, mesh)."""
    plan = contacts.plans.get(entity)
    if (
        plan is not None
        and plan[:2] == (dt, substeps)
        and plan[3] is body.tets
        and body.checked_substep == dt / (plan[2] * substeps)
    ):
        return plan[2]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = -(-accurate_substeps(body, dt, substeps, True) // substeps)
    if m > 1:
        if _volume_quantile(warm_ratios(body, dt / substeps), body.rest_volume, 0.9) <= SUBTICK_BULK:
            m = 1  # resolved well enough at the tick: kept as before (the cut liver-stiffness organs)
    if m > 1:  # (at m = 1 the step's own plan warns where it must)
        for w in caught:
            warnings.warn(w.message, w.category, stacklevel=3)
    contacts.plans[entity] = (dt, substeps, m, body.tets)
    return m


def step_with_tick_contacts(
    app: App,
    contacts: TickContacts,
    entity: int,
    body: SoftBody,
    dt: float,
    substeps: int,
    gravity: np.ndarray,
) -> None:
    """Step ``body`` by one physics tick of ``dt`` in an App whose contacts are projected once per
    tick (:class:`TickContacts`): in one call when the tick's substeps are accurate enough for
    it (bit-identical to the plain step), else in ``m`` sub-ticks of ``dt / m``
    (:func:`contact_subticks`), the attachments and slide planes moved a ``1 / m`` share of the
    way to their targets in each and the contacts projected after each but the last
    (``contacts.between``; the contact system projects them after the last)."""
    m = contact_subticks(contacts, entity, body, dt, substeps)
    tools = contacts.tools(app, entity, body) if contacts.tools is not None else None
    if m == 1:
        step_softbody(body, dt, substeps, gravity, False, _share(tools, 0, 1))
        return
    contacts.subticks[entity] = m
    att, sl = body.attachment, body.slides
    kin_target = att.target.copy() if att.indices.size else None
    slide_start = sl.start.copy() if sl.indices.size else None
    slide_target = sl.target.copy() if sl.indices.size else None
    h = dt / m
    for k in range(m):
        if kin_target is not None:  # from where they are, a 1 / (m - k) share of the rest of the way
            now = body.x[att.indices]
            att.target[:] = now + (kin_target - now) / (m - k)
            if k == m - 1:
                att.target[:] = kin_target
        if slide_target is not None:
            sl.target[:] = slide_target if k == m - 1 else slide_start + (slide_target - slide_start) * ((k + 1) / m)
        step_softbody(body, h, substeps, gravity, False, _share(tools, k, m))
        if k < m - 1 and contacts.between is not None:
            contacts.between(app, entity, body, k, m)


class SoftBodyPlugin:
    """Registers :class:`SoftBody`, :class:`EmbeddedSurface`, the built-in tissue constraint
    types (:class:`TissueConstraintTypes`), the XPBD solve (physics stage) and the
    visual-embedding update (render.prepare, once per displayed frame)."""

    components = (SoftBody, EmbeddedSurface)
    #: Components that take part in the task (pack validation: each needs something that draws it).
    # SoftBody is drawn by the instruments plugin (tissue surfaces come from collision), so a
    # pack with softbody alone cannot be checked here yet: not a task component of this plugin
    task_components: tuple[type, ...] = ()
    #: Components this plugin's own drawing draws (none: the instruments plugin draws tissue).
    drawn_components = ()

    def __init__(self, settings: SoftBodySettings | None = None) -> None:
        self.settings = settings or SoftBodySettings()

    def build(self, app: App) -> None:
        """Add the component types, the settings and constraint-type resources and the systems."""
        app.register_component(SoftBody)
        app.register_component(EmbeddedSurface)
        app.insert_resource(self.settings)
        for constraint_type in BUILTIN_CONSTRAINTS:
            register_tissue_constraint(app, constraint_type)
        register_tissue_constraint(app, LigamentPatch)  # distributed attachments (ligament.py)
        app.add_system(softbody_system, stage="physics", name="softbody.solve", in_set="physics.solve")
        app.add_system(embedding_system, stage="render", name="softbody.embedding", in_set="render.prepare")


#: Tets whose stiffness ratio at the substep exceeds this are softened to it (their compliance
#: raised by ratio / SLIVER_RATIO, deviatoric and hydrostatic alike, so nu is kept): sliver
#: tets of real meshes would otherwise need many times the substeps (Armadillo_Tetra_4406 at
#: liver stiffness and 0.2 m: ratio up to 8.4 at 10 substeps, 101 tets = 0.08 % of the volume
#: above 0.5; raptorTetra_19409 there is too fine as a whole: 49.8, 13 % of the volume).
SLIVER_RATIO = 0.5
#: The stiffness ratio to which a tet holding a vertex born in a cut (``SoftBody.cut_born``) that
#: is lighter than :data:`LIGHT_VERTEX` x the body's median vertex mass is softened where it is
#: above it (every other tet: :data:`SLIVER_RATIO`). A 40 mm cube of 6^3 cells at liver stiffness
#: cut off its grid (10 substeps per 1/90 s) keeps thin sub-tets whose light cut vertices
#: (0.01-0.04 x the median mass, in one to three tets) sit at the stability edge of the
#: one-iteration solve with their tets softened to exactly 0.5 (softened to 0.49 one cube
#: rests): it self-excited from round-off into a limit cycle at 0.2-0.31 m/s (the cuts x = 7.9,
#: 12.2, 21.3, 30.1 mm; 22 of 30 random oblique cuts). With 0.40 for those tets every cut tried
#: rests (docs/physics.md "Cutting that splits", "A cut body at rest"); capping only the tets
#: above 0.5 (at 0.42) left 1 of 40 oblique cuts of a 4^3 cube at 0.35 m/s; a mass floor (0.1 x
#: the median) rested the four planes but not 3 of 30 oblique cuts, a wider snap (0.35 of an
#: edge) not 8 of 30. Only next to vertices born in a cut, so a body never cut is bit-identical
#: (the half-mirrored armadillo of tests/test_tissue_robustness.py turns on small changes of its
#: softening: a lower target for every light vertex left 1 tet inverted there).
SOFTEN_TARGET = 0.40
#: A tet with a vertex lighter than this fraction of the body's median vertex mass keeps none of
#: its multipliers (plain XPBD, :func:`warm_start_factors`): a kept multiplier acts as an explicit
#: force, which a vertex that light cannot take even where its tet's ratio is low. Measured on
#: truthcylinder1 hung from its 5 highest vertices (its top rim: vertices at 0.02-0.07 x the
#: median): at 0.03 the cycle stayed (0.57 m/s), at 0.05, 0.08 and 0.12 it rests, also when
#: switched on inside the cycle. Generated boxes (lightest vertex 1/6 of the median) are unchanged.
LIGHT_WARM = 0.05
#: Seconds a tet of :data:`LIGHT_WARM` keeps its warm start after a tool contact last held a
#: vertex of it (``_hold_light_tets``): a pressed or grasped region keeps it while the tool works
#: there, a body left alone loses it within a second.
LIGHT_HELD_KEEP = 1.0
#: See :data:`SOFTEN_TARGET`: a vertex born in a cut lighter than this fraction of the body's
#: median vertex mass (the box's own corners, in one tet, are at 1/6).
LIGHT_VERTEX = 0.1
#: Warn about the substep only when more than this fraction of the volume had to be softened.
SOFTEN_WARN_FRACTION = 0.01


#: Below this normalised volume quality (:func:`vrmed.mesh.tet_quality`: 1 regular, 0 flat; a
#: cube's 6 Kuhn tets, which is what ``remesh=`` makes, have 0.657) a too-stiff tet is called a
#: sliver (remeshing helps); at or above it a tet is well-shaped and too stiff because it is
#: small or light for the material (only a shorter substep helps). A choice half-way between
#: the lattice's tets and flat, not a published threshold.
SLIVER_QUALITY = 0.3


def _softened_message(body: SoftBody, ratios: np.ndarray, h: float, substeps: int, frac: float) -> str:
    """The warning for a body some of whose tets were softened: which of them are slivers (low
    quality: ``remesh=`` helps) and which are well-shaped but small or light (only a shorter
    substep helps, remeshing does not), with their numbers and the substep that would do."""
    over = np.flatnonzero(ratios > SLIVER_RATIO)
    if over.size == 0:  # only tets next to light cut vertices, between SOFTEN_TARGET and SLIVER_RATIO
        return (
            f"SoftBody: {_near_light_cut_vertex(body, ratios).size} tets next to light vertices a cut made were "
            f"softened to stiffness ratio {SOFTEN_TARGET} ({100 * frac:.2f} % of the volume) at the substep {h:.3g} s."
        )
    quality = tet_quality(body.rest_points, body.tets[over])
    sliver = quality < SLIVER_QUALITY
    worst = np.argsort(ratios[over])[::-1][:5]
    named = ", ".join(
        f"{int(body.tet_index[over[k]])} (ratio {ratios[over[k]]:.2g}, quality {quality[k]:.2f})" for k in worst
    )
    msg = (
        f"SoftBody: {len(over)} tets are too stiff for the substep {h:.3g} s (stiffness ratio > {SLIVER_RATIO}) "
        f"and were softened ({100 * frac:.2f} % of the volume); worst (mesh tet index): {named}."
    )
    n_sliver = int(sliver.sum())
    if n_sliver:
        msg += (
            f" {n_sliver} of them are slivers (quality < {SLIVER_QUALITY}; regular 1, a cube's Kuhn tets 0.66): "
            "load the mesh with remesh=<cube edge in m> (vrmed.mesh.lattice_remesh) or repair them."
        )
    if n_sliver < len(over):
        good = over[~sliver]
        stiffest = good[int(np.argmax(ratios[good]))]
        p = body.rest_points[body.tets[stiffest]]
        edge = float(np.sqrt(np.mean([np.sum((p[a] - p[b]) ** 2) for a in range(4) for b in range(a + 1, 4)])))
        h_ok = h * float(np.sqrt(SLIVER_RATIO / ratios[stiffest]))
        msg += (
            f" {len(good)} of them are well-shaped (quality >= {SLIVER_QUALITY}) but small or light for the "
            f"material (the stiffest: rms edge {1e3 * edge:.2g} mm; the ratio grows as (h c_s / l)^2): a shorter "
            f"substep helps, at most {h_ok:.3g} s ({int(np.ceil(substeps * h / h_ok))} substeps for this step; in "
            "an App a higher physics rate), or a coarser mesh (remesh= with longer cube edges) or a softer "
            "material; remeshing at their size does not."
        )
    return msg


def _near_light_cut_vertex(body: SoftBody, ratios: np.ndarray) -> np.ndarray:
    """The tets (stored order) above :data:`SOFTEN_TARGET` that hold a vertex born in a cut
    (``SoftBody.cut_born``) lighter than :data:`LIGHT_VERTEX` x the body's median vertex mass:
    :func:`_soften_stiff_tets` brings them to that target. None for a body never cut."""
    light = _light_cut_vertices(body)
    if light is None:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(light[body.tets].any(axis=1) & (ratios > SOFTEN_TARGET))


def _light_cut_vertices(body: SoftBody) -> np.ndarray | None:
    """Per vertex: born in a cut (``SoftBody.cut_born``) and lighter than :data:`LIGHT_VERTEX` x
    the body's median vertex mass; None for a body never cut."""
    born = body.cut_born
    if born.size != body.n_vertices or not born.any():
        return None
    return born & (body.mass < LIGHT_VERTEX * float(np.median(body.mass)))


def _soften_stiff_tets(body: SoftBody, ratios: np.ndarray) -> float:
    """Set the compliances from the material, softened where ``ratios`` > :data:`SLIVER_RATIO`
    (if ``body.soften_slivers``; to :data:`SOFTEN_TARGET` where the tet holds a light vertex born in a
    cut); return the softened fraction of the volume."""
    m, vol = body.material, body.rest_volume
    over = ratios > SLIVER_RATIO
    near = _near_light_cut_vertex(body, ratios) if body.soften_slivers else np.zeros(0, dtype=np.int64)
    over[near] = True
    if body.soften_slivers and np.any(over):
        scale = np.maximum(1.0, ratios / SLIVER_RATIO)
        scale[near] = ratios[near] / SOFTEN_TARGET
    else:
        scale = np.ones_like(ratios)
        over[:] = False
    body.alpha_dev[:] = scale / (m.mu * vol)
    body.alpha_hyd[:] = scale / (body.tet_volume_term()[0] * vol)
    if body.nodal is not None:  # lambda on the nodal constraints (SoftBody.tet_volume_term)
        nd = body.nodal
        # a vertex's constraint is softened as the most softened tet of its star: unsoftened next
        # to slivers, the shipped armadillo (kept at 0 there) still moved at 0.11 m/s after 4 s
        nd.alpha[:] = np.maximum.reduceat(scale[nd.inc], nd.ptr[:-1]) / (max(m.lam, 1e-300) * nd.rest_volume)
    body.softened_fraction = float(vol[over].sum() / vol.sum())
    return body.softened_fraction


#: Per-tet stiffness ratios (see :func:`warm_start_factors`) up to which the warm start is kept
#: in full, and from which it is off. Measured (docs/physics.md, "Warm start"): a free 5^3 box
#: released from a 10 % stretch, undamped, 300 frames, gains no energy with one factor for all
#: tets kept in full up to ratio 0.19 (nu 0.3 and 0.45; 0.047 at nu 0.49), 0.7 up to 0.29 (0.5
#: at 0.49), 0.3 up to 0.54 (0.47); a per-tet ramp from 0.12 to 0.6 passed that test but threw
#: vertices at 10 m/s when a sphere pressed a 4 mm membrane (2 mm tets, ratio up to 0.64), this
#: one does not (0.65 m/s, as plain XPBD) and keeps the 1 % bar within 2 % (docs).
WARM_FULL, WARM_OFF = K.WARM_FULL, K.WARM_OFF


def warm_ratios(body: SoftBody, h: float) -> np.ndarray:
    """Per-tet stiffness ratio at substep ``h`` (:func:`tet_stiffness_ratios`) scaled by l / (10 mu)
    above nu = 0.45, where the hydrostatic constraint dominates: the ratio the warm start, the
    substep plan, the sub-ticks and the slow part judge a tet by (1 for a nodal body's tets)."""
    return tet_stiffness_ratios(body, h) * max(1.0, body.tet_volume_term()[0] / (10.0 * body.material.mu))


def warm_start_factors(body: SoftBody, h: float) -> np.ndarray:
    """Per-tet warm-start factor in [0, 1] for substep ``h`` (stored tet order).

    1 up to :data:`WARM_FULL` of the tet's stiffness ratio (``stiffness_ratio`` per tet, scaled
    by l / (10 mu) above nu = 0.45, where the hydrostatic constraint dominates), falling
    linearly to 0 at :data:`WARM_OFF`: a stiff tet keeps less of its last multipliers (a kept
    multiplier acts like an explicit force, which a stiff mode cannot take), so sliver tets fall
    back to plain XPBD while well-shaped ones get the exact static equilibrium.
    """
    factors = _warm_factors_unheld(body, h)
    factors[_light_tets(body)] = 0.0
    return factors


def _warm_factors_unheld(body: SoftBody, h: float) -> np.ndarray:
    """:func:`warm_start_factors` before the tets of light vertices are set to keep nothing (what
    they keep while a tool holds them, :func:`_hold_light_tets`)."""
    # Linear, not sqrt, in l / (10 mu): the hydrostatic stiffness grows as l, and with sqrt a
    # clamped beam at nu 0.49 (6 Kuhn cells through, ratio 0.019 x 2.24 -> full warm start)
    # grew an oscillation from frame ~200 to 3 m/s (docs/physics.md, "Warm start").
    # (a body with nodal volume constraints: its tets' own hydrostatic stiffness is mu, so 1)
    factors = np.clip((WARM_OFF - warm_ratios(body, h)) / (WARM_OFF - WARM_FULL), 0.0, 1.0)
    # A tet holding a light vertex a cut made: plain XPBD. A kept multiplier acts like an explicit
    # force, which such a vertex (0.01-0.04 x the median mass) cannot take even where its tet's
    # ratio is low: a 6^3 cube at E 20 kPa (50 substeps) cut obliquely self-excited to 0.19 m/s
    # with its tets at ratio 0.05-0.15; with the warm start off there it rests (docs/physics.md,
    # "A cut body at rest").
    light = _light_cut_vertices(body)
    if light is not None:
        factors[light[body.tets].any(axis=1)] = 0.0
    return factors


def _light_tets(body: SoftBody) -> np.ndarray:
    """The tets (stored order) with a vertex lighter than :data:`LIGHT_WARM` x the body's median
    vertex mass, born in a cut or not: they keep nothing (:func:`warm_start_factors`) while no
    tool contact holds a vertex of theirs (:func:`_hold_light_tets`).

    Why: truthcylinder1 hung from its 5 highest vertices ran a period-2 substep cycle (0.90 m/s)
    along its top rim, a chain of vertices at 0.02-0.07 x the median mass whose tets were at
    ratio 0.06-0.08 (kept 0.69-0.71); with the warm start off on the tets of the vertices below
    LIGHT_WARM it rests, also from inside the cycle (docs/physics.md, "Light vertices keep
    nothing")."""
    light = body.mass < LIGHT_WARM * float(np.median(body.mass))
    return np.flatnonzero(light[body.tets].any(axis=1)) if light.any() else np.zeros(0, dtype=np.int64)


def _hold_light_tets(body: SoftBody, dt: float) -> None:
    """Before a step of ``dt`` s: the tets of light vertices (:func:`_light_tets`) with a vertex
    a tool contact held in the last tick (``SoftBody.contact_hold``) keep their warm start for
    :data:`LIGHT_HELD_KEEP` s from then, the others none.

    Why: without it truthcylinder1's 40 mm press (``vrmed bench tool_press``, 25 starts within
    1 mm) let over 0.5 mm of surface into the tool before any event at 4 of 25 starts at 2 m/s
    and 6 of 25 at 0.5 m/s (1 and 3 before the light tets kept nothing): the light vertices of
    its top rim are next to the pressed vertex, and their tets without a warm start are softer
    in the one iteration per substep. A vertex the contact holds is projected every tick, so the
    kept force cannot run away there. Kept only in the ticks a vertex was held, the warm start
    switched on and off as the contact held and let go, and at 0.5 m/s 4 of 25 starts still let
    in 2.3-3.9 mm; kept for 1 s, 4 and 0 of 25 (docs/physics.md, "Light vertices keep nothing")."""
    cache = body.light_warm
    if cache is None or cache[0].size == 0:
        return
    idx, kept, left = cache
    if idx.max() >= body.tets.shape[0]:  # tets replaced by hand since: the next new h rebuilds it
        body.light_warm = None
        return
    hold = body.contact_hold
    left -= dt
    if hold.shape[0] == body.x.shape[0] and K.any_flagged(hold):
        left[hold[body.tets[idx]].any(axis=1)] = LIGHT_HELD_KEEP
    np.maximum(left, 0.0, out=left)
    body.warm_t[idx] = np.where(left > 0.0, kept, 0.0)


#: Stiffness ratio (scaled as in :func:`warm_start_factors`) that 99 % of a body's volume must
#: stay at or below for the warm-started solve to be accurate. Measured on issue #16's bar
#: (0.1 x 0.02 x 0.02 m, 1 % strain, E 100 kPa, nu 0.3 / 0.45, 2 cm and 1 cm Kuhn cells, free
#: with end tractions; tests/test_tissue_substeps.py): at this ratio (19-33 substeps per frame)
#: axial strain, effective nu and stress are within 1.3 % of Hooke's law; at 0.15 the 2 cm bar's
#: nu was 5.3 % low; at the 10 substeps asked for (ratio up to 0.36) -7 % / -27 % / +23 %
#: (docs/physics.md, "Substeps for accuracy").
ACCURATE_RATIO = 0.1
#: :func:`accurate_substeps` adds substeps only where the ratio below which 90 % of the volume lies
#: exceeds this: a body whose bulk is resolved is left as it is (the 1,920-tet liver-stiffness bar,
#: 0.067, is within 1 % of Hooke's law with a few tets at 0.2; the laparoscopy gallbladder, 0.10).
ACCURATE_BULK = 0.13
#: Largest factor :func:`accurate_substeps` multiplies the requested substeps by.
MAX_SUBSTEP_FACTOR = 8
#: Tet-substeps per simulated second a body may cost before :func:`accurate_substeps` stops adding
#: substeps: about the 10,368-tet benchmark box at the default 900 substeps/s (~4 ms per 1/90 s
#: frame on the 2-core dev VM), so the extra substeps go to small stiff bodies, not to large ones.
SUBSTEP_BUDGET = 1.0e7
#: :func:`accurate_substeps` warns when the budget leaves a body's bulk (the ratio below which 90 %
#: of the volume lies) above this: the 0.02 m nodal cantilever at N = 8 (0.21; 0.854x
#: Euler-Bernoulli) was not warned about; at N = 6 (0.12 at 10 substeps, none needed) it reads
#: 0.892x, its mesh's own limit at 20 substeps 0.909x.
BUDGET_WARN_BULK = 0.2


#: The warm start keeps the slow part of the multipliers in full (kernels' ``SLOW_WEIGHT``: the
#: static state is then the elastic equilibrium of every tet, not only on average) on a body whose
#: stiffness ratio (scaled as in :func:`warm_start_factors`) below which 90 % of its volume lies is
#: at most this and whose stiffest tet is at most ``WARM_OFF`` (no tet without warm start: no
#: sliver); on other bodies it is off (``lam`` without its last two columns) and they step as before.
#: Measured (docs/physics.md "Warm start"): the liver bar (4 x 4 x 20 cells, 10 substeps, 90 % of its
#: volume at or below 0.067, surface tets with light corners up to 0.22) rests with every tet's
#: stress exact; issue #16's 2 cm bar at E 100 kPa stepped at the 10 substeps asked for (bulk at
#: 0.16, ``accurate_substeps`` off) grew to 2.2 m/s with it (0.9 m/s at SLOW_WEIGHT 0.02), and the
#: armadillo as shipped (bulk 0.037, slivers to 8.4) hung from its 5 highest vertices kept moving
#: (0.03 / 0.17 m/s): keeping the whole multiplier of tets that stiff is the full warm start.
SLOW_BULK = 0.1
#: Within such a body, in a step after a tick whose tool contacts pushed a vertex
#: (``SoftBody.contact_hold``), the tets with such a vertex keep no slow part (their warm start as
#: without it; the kernels' ``solve_warm`` with ``hold``). The slow part lags the multipliers by
#: ~1 / SLOW_WEIGHT substeps, ~22 mm of a 2 m/s tool's travel at 900 Hz: a stale force where the
#: tool is. Measured (docs/physics.md "Warm start", "A cost found after"): truthcylinder1's 40 mm
#: press (``vrmed bench tool_press truthcylinder1``) at 2 m/s let 4.37 mm of surface into the tool
#: with no event; with this rule it reports ``pushed_through`` at frame 1, 0 mm before it. That
#: press is chaotic: over 25 starts within 1 mm at 2 m/s, 5 -> 1 let over 0.5 mm in before an
#: event (at 0.5 m/s 1 -> 3). Bodies no tool holds step as before, bit-identically (the kernels'
#: sweep takes the rule as a run-time flag, ``kernels.step_kernel``'s ``slow_held``). False: the
#: slow part everywhere, as before.
SLOW_HELD = True


def _slow_held(body: SoftBody) -> bool:
    """Whether this step's tet sweep leaves out the slow part of the tets a tool contact holds
    (:data:`SLOW_HELD`): a body with the slow part and a vertex held in the last tick."""
    hold = body.contact_hold
    return bool(
        SLOW_HELD and body.lam.shape[1] >= K.LAM_COLUMNS and hold.shape[0] == body.x.shape[0] and K.any_flagged(hold)
    )


def _keep_slow_part(body: SoftBody, h: float) -> None:
    """Give ``body.lam`` the slow part's two columns (kernels' ``SLOW_WEIGHT``) if its bulk is
    resolved at substep ``h`` (:data:`SLOW_BULK`), else take them away (zeroed when added)."""
    base = 3 if body.has_volume_barrier else 2
    on = False
    if len(body.tets) and body.warm_start != 0.0:
        r = warm_ratios(body, h)
        on = _volume_quantile(r, body.rest_volume, 0.9) <= SLOW_BULK and float(r.max()) <= WARM_OFF
    want = base + 2 if on else base
    if body.lam.shape[1] != want:
        lam = np.zeros((body.lam.shape[0], want))
        lam[:, :base] = body.lam[:, :base]
        body.lam = lam


def _volume_quantile(values: np.ndarray, volume: np.ndarray, q: float) -> float:
    """The value at or below which the fraction ``q`` of ``volume`` lies."""
    order = np.argsort(values)
    cum = np.cumsum(volume[order])
    return float(values[order[min(len(values) - 1, int(np.searchsorted(cum, q * cum[-1])))]])


def accurate_substeps(body: SoftBody, dt: float, substeps: int, add: bool = True) -> int:
    """The number of substeps :func:`step_softbody` runs for a step of ``dt`` asked for with
    ``substeps``: more where the body is too stiff for them to be accurate, otherwise ``substeps``.

    One warm-started XPBD iteration per substep is accurate only while the substep resolves the
    body's waves (stiffness ratio ~ (h c / l)^2, :func:`stiffness_ratio`); above
    :data:`WARM_OFF` the warm start is off (:func:`warm_start_factors`) and plain one-iteration
    XPBD is several per cent too soft axially and ~20 % off in the stress (issue #16's bar). So
    where the ratio below which 90 % of the volume lies exceeds :data:`ACCURATE_BULK`, the substep
    is shortened until the ratio below which 99 % lies is :data:`ACCURATE_RATIO` (the ratio
    falls as h^2), by at most :data:`MAX_SUBSTEP_FACTOR` and within :data:`SUBSTEP_BUDGET`. A
    body left with more than 10 % of its volume above :data:`WARM_OFF` is warned about
    (slivers, a small share, are softened instead: :data:`SLIVER_RATIO`).
    ``body.accurate_substeps = False`` turns it off. Computed once per
    (``dt``, ``substeps``, material, mesh) and cached on the body.

    ``add=False`` keeps ``substeps`` and only warns, naming the physics rate that would do: for a
    body whose contacts are projected once per physics tick and not split into sub-ticks
    (:class:`TickContacts`: substeps between two projections let a resting body sink and rebound
    every tick, 4 mm/s on a block resting on a table); the collision plugin's App splits a stiff
    body's tick into sub-ticks instead (:func:`step_with_tick_contacts`).
    """
    key = (float(dt), int(substeps) if add else -int(substeps))
    plan = body.substep_plan
    if plan[:2] == key and body.checked_substep == dt / plan[2]:
        return plan[2]
    n = int(substeps)
    if body.accurate_substeps and len(body.tets):
        r = warm_ratios(body, dt / substeps)
        top = _volume_quantile(r, body.rest_volume, 0.99)
        q90 = _volume_quantile(r, body.rest_volume, 0.9)
        if q90 > ACCURATE_BULK and top > ACCURATE_RATIO:
            need = int(np.ceil(substeps * np.sqrt(top / ACCURATE_RATIO)))
            cap = min(substeps * MAX_SUBSTEP_FACTOR, int(SUBSTEP_BUDGET * dt / len(body.tets)))
            if add:
                n = max(n, min(need, cap))
            bulk = q90 * (substeps / n) ** 2
            if bulk > WARM_OFF:
                if not add:
                    why = (
                        f"tool contacts are projected once per physics tick, so the solver adds none; a "
                        f"physics rate of {int(np.ceil(need / (substeps * dt)))} Hz (SimSettings) would do"
                    )
                elif cap < substeps * MAX_SUBSTEP_FACTOR:
                    why = "beyond the solver's substep budget"
                else:
                    why = "beyond the solver's largest substep factor"
                warnings.warn(
                    f"SoftBody: {len(body.tets)} tets are too stiff for the substep to be accurate: at "
                    f"{n} substeps per {dt:.3g} s more than 10 % of the volume has stiffness ratio "
                    f"{bulk:.2f} > {WARM_OFF} ({need} substeps would bring 99 % of it to {ACCURATE_RATIO}; {why}). "
                    "Expect the response several per cent too soft and the stress query ~20 % high "
                    "(docs/physics.md, 'Substeps for accuracy'): use a coarser mesh, a softer material "
                    "or more substeps.",
                    RuntimeWarning,
                    stacklevel=3,
                )
            elif add and n < need and q90 * (substeps / n) ** 2 > BUDGET_WARN_BULK:
                # silent before: the N = 8 nodal cantilever of 0.02 m (18,432 tets, 90 % of the
                # volume at 0.21) got none of the 20 substeps it needed and read 0.854x
                # Euler-Bernoulli (docs/physics.md, "At the default substeps: the cell size")
                warnings.warn(
                    f"SoftBody: {len(body.tets)} tets need {need} substeps per {dt:.3g} s to be accurate "
                    f"(90 % of the volume at stiffness ratio {q90 * (substeps / n) ** 2:.2f} at {n}), beyond "
                    "the solver's substep budget for a body this large. Expect the response up to ~15 % too "
                    "soft (docs/physics.md, 'At the default substeps: the cell size'): use a coarser mesh, "
                    "a softer material or more substeps.",
                    RuntimeWarning,
                    stacklevel=3,
                )
    body.substep_plan = (key[0], key[1], n)
    return n


def nodal_warm_start_factors(body: SoftBody) -> np.ndarray:
    """Per vertex of a body with nodal volume constraints: the kept fraction of its multiplier,
    1 unless a tet of its star keeps nothing (``warm_t`` 0: too stiff for the substep, a
    sliver), then 0.

    Measured (docs/physics.md, "Nodal volume"): the minimum of the star's ``warm_t`` instead
    left the nu 0.49 squeeze of tests/test_tissue_accuracy.py at volume 1.0012 (exact 0.9941;
    1 everywhere: 0.9939), and a ramp over the nodal constraints' own stiffness ratio cannot
    tell the bar (ratios 0.5-1.8 at nu 0.45, stable at 1) from the squeeze (2.4-9, stable at 1)."""
    nd = body.nodal
    assert nd is not None
    star_min = np.minimum.reduceat(body.warm_t[nd.inc], nd.ptr[:-1])
    return np.where(star_min > 0.0, 1.0, 0.0)


def tet_stiffness_ratios(body: SoftBody, h: float) -> np.ndarray:
    """Per tet (stored order): h^2 mu V sum_i w_i |grad_i C_D|^2 at rest (see :func:`stiffness_ratio`)."""
    q = body.dm_inv
    g = np.concatenate([-q.sum(axis=1, keepdims=True), q], axis=1)  # (m, 4, 3)
    w = body.inv_mass_free[body.tets]
    # at rest dC_D/dF = I / sqrt(3), so |grad_k C_D|^2 = |row k of g|^2 / 3
    s = np.einsum("mk,mkj,mkj->m", w, g, g) / 3.0
    return h * h * s * body.material.mu * body.rest_volume


def stiffness_ratio(body: SoftBody, h: float) -> float:
    """Largest per-tet ratio h^2 * sum_i w_i |grad_i C_D|^2 / alpha_D at rest (dimensionless).

    It is about (h c_s / l)^2 for the smallest element (c_s the shear wave speed, l the
    element size): how well a substep resolves shear waves. One coupled XPBD iteration per
    substep stays stable below :data:`STABLE_RATIO`.
    """
    return float(np.max(tet_stiffness_ratios(body, h)))
