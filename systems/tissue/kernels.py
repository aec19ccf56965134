"""Numba XPBD kernels for stable Neo-Hookean tets.

Sources: Macklin & Mueller 2021 (stable Neo-Hookean); XPBD: Macklin, Mueller, Chentanez 2016;
Small Steps: Macklin et al. 2019.

All kernels are pure functions over contiguous float64/int64 arrays. Parallelism uses a block
(slab) colouring computed once at load: tets are cut into 2P slabs along the body's longest
axis; tets whose vertices touch only their own slab or a neighbouring one are "clean", so the
even slabs share no vertex with each other and can run in parallel (each slab serially, in
Gauss-Seidel order), then the odd slabs, then the few remaining tets serially. That is two
parallel launches per substep instead of one per colour (~30 with greedy colouring), which on
a 2-core machine matters more than anything else: a launch costs ~10-45 us. Where
:data:`ONE_LAUNCH`, :func:`step_kernel` runs a whole frame in one launch
(:func:`step_frame_parallel`: tasks claimed from atomic counters, same order, bit-identical).
Bodies under :data:`PARALLEL_MIN_TETS` tets skip the launches (one serial sweep in the same order).

Per tet t with deformation gradient F = Ds Dm^-1 and rest volume V:
  deviatoric  C_D = sqrt(tr(F^T F)),  compliance alpha_D = 1 / (mu V)
  hydrostatic C_H = det(F) - gamma,   compliance alpha_H = 1 / (lam V),  gamma = 1 + mu / lam
(lam is Lame lambda + mu: see Material.model_lambda).
One XPBD iteration per substep (Small Steps), warm-started: the Lagrange multipliers start from
those kept from the last substep (plain XPBD: from zero; see :func:`substep`); the two
constraints of a tet are solved together as a 2x2 system (see :func:`solve_plain`):
  ((1 + g_damp) G W G^T + diag(alpha / h^2)) dlam = -C - diag(alpha / h^2) lam - g_damp r
with g_damp = beta / h the stiffness-proportional (Rayleigh) damping of XPBD eq. 26, r the rate
of the tet's constraints over the substep (eq. 26: G (x - x_prev); warm-started, plus the
estimated corrections still pending, see DAMP_REF_COLUMNS) and W the per-axis inverse masses
w (n, 3) (zero on axes held by pins, attachments or slide planes).
A tet nearly flat or holding a barrier multiplier then takes, in the same block step, one hard
step of the volume barrier det F >= BARRIER_J with a kept multiplier (:func:`solve_warm`).
After the sweep, the inversion recovery (:func:`recover_pass`, :func:`recover_flagged`) projects
the hard inequality det F >= RECOVER_J on nearly flat or inverted tets, and
:func:`keep_uninverted` (:func:`keep_filter`) puts back the
free vertices of any tet the substep inverted (docs/physics.md, "Inversion recovery"); a fold
that outlasts both once no tool holds the body is untangled by :func:`untangle` (the solver
calls it between steps).

A body with nodal volume constraints (``SoftBody.volume == "nodal"``, opt-in; the ``nodal``
argument, None compiles it out) has per-tet hydrostatic stiffness mu and gamma = 2 and one
volume constraint per vertex C_i = V_i / V_i0 - 1 with compliance 1 / (lambda V_i0): their kept
correction is applied after the prediction (:func:`nodal_kept_move`, by the tets' slab blocks) and
one Gauss-Seidel sweep over the vertices follows the tet sweep (:func:`solve_nodal_volume`), before
the inversion recovery: in vertex slabs cut as the tets' are, whose blocks of one phase touch no
common vertex (two parallel phases, then the few leftovers serially; docs/physics.md, "Nodal
volume").
"""

from __future__ import annotations

import os

# libgomp (numba's "omp" threading layer) lets idle workers spin (~300k iterations by default)
# before sleeping. A step makes two parallel launches per substep, and on a 2-core machine that
# is also running anything else (the renderer, a test run) the spinning threads steal the
# core the work needs: we measured frames of 35-110 ms instead of 1-6 ms. With no spinning
# (workers sleep at once) the same cases ran at 0.8-2.8 / 6.4-13.6 / 12.7-22 ms (1k / 10k /
# raptor tets) under that load, at the price of ~0.7 ms per frame on an idle machine (1.2 vs
# 0.5 ms at 1k, 4.0 vs 3.3 ms at 10k; docs/physics.md). Must be set before
# numba loads libgomp (the first parallel call); an explicit user setting wins.
os.environ.setdefault("GOMP_SPINCOUNT", "0")

import platform  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
from llvmlite import ir  # noqa: E402
from numba import njit, prange, types  # noqa: E402
from numba.core import cgutils  # noqa: E402
from numba.extending import intrinsic  # noqa: E402

_EPS = 1e-12
SQRT3 = np.sqrt(3.0)  # C_D = ||F|| at rest
#: The warm start's ramp in the stiffness ratio (``solver.WARM_FULL``, ``solver.WARM_OFF``, where
#: it is measured): a tet keeps its multipliers in full up to WARM_FULL and none from WARM_OFF.
WARM_FULL = 0.05
WARM_OFF = 0.3
#: :func:`solve_warm` also caps the fraction a tet keeps by the same ramp taken at WARM_GROWTH x
#: (0.1 to 0.6) in the tet's stiffness ratio *as deformed now*: the trace of its 2x2 block
#: h^2 G W G^T / alpha, divided by (1 + 3 l / mu) so that at rest (where the block has rank one) it
#: is the rest ratio ``solver.tet_stiffness_ratios`` that ``warm_t`` comes from. It grows with the
#: hydrostatic gradient (the cofactor of F): the armadillo hung from its 5 highest vertices
#: stretches the tets around its fastest vertices 5-34x, their ratio now is 0.39-24 (median 1.8;
#: 0.05-0.5 at rest), and with ``warm_t`` from the rest ratio alone 28 of those 37 tets (ratio now
#: 0.39-6.3) kept part of their multipliers (a kept multiplier acts as an explicit force, which a
#: mode that stiff cannot take): it moved at 1-6 m/s for good; capped, it rests (docs/physics.md,
#: "Warm start" and "Known weaknesses").
#: Why 2x and a ramp, not a cut at WARM_OFF: a tet whose ratio at most doubles keeps exactly
#: ``warm_t`` (bit-identical bodies; the 20 % nu 0.49 squeeze of tests/test_physics_doc_claims.py
#: moves its tets' ratio by 0.85-1.23x and, capped at 1x, missed its squeeze); a hard cut at
#: WARM_OFF left 32 tets inverted after the raptor press of tests/test_tissue_robustness.py.
WARM_GROWTH = 2.0

#: A tet that keeps less than all of its multipliers (``warm_t`` < 1) also keeps, in full, the
#: part (1 - kt) of a slow average ``s`` of them: after each of its steps ``s <- s + SLOW_WEIGHT
#: (lam - s)`` and the kept multiplier is ``kt lam + (1 - kt) s`` (it was ``kt lam``), where
#: SLOW_MIN_KEEP says; a tet far from rest, or one that keeps nothing, resets ``s`` to 0. ``s`` is
#: the last two columns of ``lam`` (float64: at rest the two multipliers are large and cancel in
#: G^T lam, so float32 rounding of them moved a body at rest by 1e-12 m), present when ``lam`` has 4
#: columns (5 with the volume barrier's, column 2); a ``lam`` of 2 or 3 columns runs without it.
#:
#: Why: the part a tet does not keep is rebuilt from zero by the one Gauss-Seidel sweep of every
#: substep; at a steady state the tets after it in the sweep then move its vertices on by their
#: own rebuilt parts, so its constraints end at C_t = -alpha~ lam_t + sum_{k>t} S_tk (1 - kt_k)
#: lam_k (S = G W G^T), not at the elastic value: a static fixed point with a per-tet pressure
#: error that depends on the sweep order (the plain-XPBD bias of docs/physics.md "Warm start", on
#: the part not kept). Measured (docs/physics.md "Queries"): the free liver bar at 1 % strain
#: (4 x 4 x 20 cells, 10 substeps; rest ratio 0.03-0.2: tets with light corners on the surface
#: keep 0.32-1) read per-tet sigma_zz from -0.02 to 1.42 x the exact value, 11 % of tets more than
#: 5 % off, with the median exact. With the slow part kept in full, at a steady state each tet
#: keeps its whole multiplier, none rebuilds anything, and the fixed point is the elastic
#: equilibrium of every tet (all 1.000); in motion the fast part is kept at ``kt`` as before and
#: the slow part lags it by ~1 / SLOW_WEIGHT substeps. Tets that keep all (kt = 1) are unchanged.
SLOW_WEIGHT = 0.1
#: Within a body that has the slow part (``solver.SLOW_BULK``: no tet beyond WARM_OFF, 90 % of the
#: volume at ratio <= 0.1), a tet keeps it only if it keeps at least SLOW_MIN_KEEP of its
#: multipliers (rest ratio <= 0.225), is not capped by WARM_GROWTH (kt == warm_t), is within
#: SLOW_NEAR_REST of its rest volume and not flagged for the inversion recovery: kept in full, the
#: slow part is the full warm start at a steady state, which gains energy on stiff tets (measured:
#: docs/physics.md "Warm start", "The slow part of the multipliers"). Tets with ``warm_t`` 1 never
#: use it and skip it (the benchmark boxes step bit-identically).
SLOW_MIN_KEEP = 0.3
SLOW_NEAR_REST = 0.1
#: Columns of ``SoftBody.lam``: deviatoric, hydrostatic, the slow part of both (SLOW_WEIGHT); with
#: the volume barrier its multiplier in column 2 and the slow part in 3-4 (LAM_COLUMNS + 1).
LAM_COLUMNS = 4

#: Columns of ``warm_d`` (float32) for a warm-started body with Rayleigh damping (the solver
#: widens it from 10): columns 10-11 hold C_D - sqrt(3) and det F - 1 where the tet's last block
#: step left them (zero at rest), 12-13 the estimate ``p`` of the other tets' pending corrections
#: in its damping term (zeros: a body at rest; ``SoftBody.forget_warm_start`` zeroes them).
#:
#: Why: the damping term of XPBD eq. 26 (Macklin, Mueller & Chentanez 2016) is g G (x - x_prev),
#: g = beta / h, the constraints' rate over the substep. With one Gauss-Seidel iteration per
#: substep, x - x_prev mid-sweep lacks the corrections that the tets after this one have yet to
#: make: at a steady state under load those undo the prediction's part that the warm start did
#: not keep, so the damping saw a body at rest as moving and moved its equilibrium (+3.1 %
#: stress at beta 0.02 s on the validation bar; docs/physics.md "Damping"), and on a loaded free
#: bar it exerted a net torque. The term is now g (G (x - x_prev) + p): ``p`` estimates those
#: pending corrections as they were one substep ago, measured on the tet's own constraints,
#: (C - C_kept) - G (x - x_prev) (C_kept: where the tet's step left C one substep ago,
#: linearised; at a steady state this is exact and makes the term -G W G^T dlam, the tet's own
#: correction, which the (1 + g) of the 2x2 matrix cancels: the undamped equilibrium; C is
#: rotation-invariant, so rigid motion changes nothing). ``p`` follows that measurement with
#: weight 0.1 / (1 + g) per substep: fed back in full the lag made g >= 5 unstable (the
#: validation bar blew up at beta 0.008 s) and 1 / (1 + g) left the robustness catalogue's
#: hanging cylinder flickering at 0.9 m/s. Tets far from rest (det F outside [0.5, 2]) use
#: eq. 26 as written (p = 0). Opt-in (``SoftBody.damping_keeps_statics``; the solver widens
#: ``warm_d`` only then): the lag keeps sliver-heavy meshes from coming to rest (the raptor and
#: armadillo of the robustness catalogue; docs/physics.md "Damping").
DAMP_REF_COLUMNS = 14

#: Bodies with fewer tets are swept serially (see :func:`solve_substep`). On the 2-core VM a
#: parallel phase costs a launch and a worker wake-up (``GOMP_SPINCOUNT=0``) of tens of us; the
#: 1,080-tet box took 1.27x longer per frame on 2 threads than on 1 with one other job running
#: and 2.2x at load 6.5, while the 10,368-tet box gains from the second core when it is free
#: (docs/physics.md, "Benchmark").
PARALLEL_MIN_TETS = 2000


#: Index type of the hot loops' array reads: numba wraps a negative signed index around (Python
#: semantics), i.e. adds a compare and a select to every read and write with an index it cannot
#: prove non-negative (every vertex of a tet, and ``t`` in a range(start, end) loop); an unsigned
#: one has none. Every index these loops cast (``tets`` entries, tet numbers) is >= 0, so the
#: addresses and the arithmetic are the same (bit-identical): the tet sweep of the raptor as
#: shipped ran x0.90 the time, paired (docs/physics.md, "Benchmark"). Mixed with a signed
#: integer in arithmetic numba would promote to float64: cast only what is used as an index.
_U = np.uint64


@njit(cache=True)
def _deformation_gradient(x, i0, i1, i2, i3, Q, t):
    """F = [x1-x0, x2-x0, x3-x0] @ Q[t] as a row-major 9-tuple (no heap allocation)."""
    a0 = x[i1, 0] - x[i0, 0]
    a1 = x[i1, 1] - x[i0, 1]
    a2 = x[i1, 2] - x[i0, 2]
    b0 = x[i2, 0] - x[i0, 0]
    b1 = x[i2, 1] - x[i0, 1]
    b2 = x[i2, 2] - x[i0, 2]
    c0 = x[i3, 0] - x[i0, 0]
    c1 = x[i3, 1] - x[i0, 1]
    c2 = x[i3, 2] - x[i0, 2]
    q00, q01, q02 = Q[t, 0, 0], Q[t, 0, 1], Q[t, 0, 2]
    q10, q11, q12 = Q[t, 1, 0], Q[t, 1, 1], Q[t, 1, 2]
    q20, q21, q22 = Q[t, 2, 0], Q[t, 2, 1], Q[t, 2, 2]
    return (
        a0 * q00 + b0 * q10 + c0 * q20,
        a0 * q01 + b0 * q11 + c0 * q21,
        a0 * q02 + b0 * q12 + c0 * q22,
        a1 * q00 + b1 * q10 + c1 * q20,
        a1 * q01 + b1 * q11 + c1 * q21,
        a1 * q02 + b1 * q12 + c1 * q22,
        a2 * q00 + b2 * q10 + c2 * q20,
        a2 * q01 + b2 * q11 + c2 * q21,
        a2 * q02 + b2 * q12 + c2 * q22,
    )


@njit(cache=True)
def _cofactor(F):
    """Cofactor matrix of F (= d det F / dF) as a row-major 9-tuple."""
    f00, f01, f02, f10, f11, f12, f20, f21, f22 = F
    return (
        f11 * f22 - f21 * f12,
        f12 * f20 - f22 * f10,
        f10 * f21 - f20 * f11,
        f21 * f02 - f01 * f22,
        f22 * f00 - f02 * f20,
        f20 * f01 - f00 * f21,
        f01 * f12 - f11 * f02,
        f02 * f10 - f12 * f00,
        f00 * f11 - f10 * f01,
    )


@njit(cache=True)
def _vertex_gradients(d, Q, t):
    """Gradients (g0, g1, g2, g3 as a 12-tuple) of a tet constraint with dC/dF = d (row-major).

    grad wrt x_k (k=1..3) is column k of dC/dF @ Q^T; grad x0 = -(sum of the others).
    """
    d00, d01, d02, d10, d11, d12, d20, d21, d22 = d
    g1x = d00 * Q[t, 0, 0] + d01 * Q[t, 0, 1] + d02 * Q[t, 0, 2]
    g1y = d10 * Q[t, 0, 0] + d11 * Q[t, 0, 1] + d12 * Q[t, 0, 2]
    g1z = d20 * Q[t, 0, 0] + d21 * Q[t, 0, 1] + d22 * Q[t, 0, 2]
    g2x = d00 * Q[t, 1, 0] + d01 * Q[t, 1, 1] + d02 * Q[t, 1, 2]
    g2y = d10 * Q[t, 1, 0] + d11 * Q[t, 1, 1] + d12 * Q[t, 1, 2]
    g2z = d20 * Q[t, 1, 0] + d21 * Q[t, 1, 1] + d22 * Q[t, 1, 2]
    g3x = d00 * Q[t, 2, 0] + d01 * Q[t, 2, 1] + d02 * Q[t, 2, 2]
    g3y = d10 * Q[t, 2, 0] + d11 * Q[t, 2, 1] + d12 * Q[t, 2, 2]
    g3z = d20 * Q[t, 2, 0] + d21 * Q[t, 2, 1] + d22 * Q[t, 2, 2]
    return (-(g1x + g2x + g3x), -(g1y + g2y + g3y), -(g1z + g2z + g3z), g1x, g1y, g1z, g2x, g2y, g2z, g3x, g3y, g3z)


@njit(cache=True, inline="always")
def _tet_inputs(x, x_prev, Q, t, i0, i1, i2, i3, damped):
    """Tet t's deformation gradient F (row-major 9-tuple), Q[t] (row-major 9-tuple ``q``) and,
    if ``damped``, the substep's displacement x - x_prev of its vertices (12-tuple ``dv``; zeros
    otherwise): every array read of the block step, so that :func:`_block_system` takes
    scalars only.

    Why: the block step used to be nested ``inline="always"`` functions of the arrays with
    several exits; numba then incremented and decremented each array's reference count at every
    tet (~30 atomic operations per tet, on counters both threads share). This small single-exit
    one inlines without them (tests/test_tissue_kernel_speed.py checks the assembly)."""
    q = (Q[t, 0, 0], Q[t, 0, 1], Q[t, 0, 2], Q[t, 1, 0], Q[t, 1, 1], Q[t, 1, 2], Q[t, 2, 0], Q[t, 2, 1], Q[t, 2, 2])
    q00, q01, q02, q10, q11, q12, q20, q21, q22 = q
    a0 = x[i1, 0] - x[i0, 0]
    a1 = x[i1, 1] - x[i0, 1]
    a2 = x[i1, 2] - x[i0, 2]
    b0 = x[i2, 0] - x[i0, 0]
    b1 = x[i2, 1] - x[i0, 1]
    b2 = x[i2, 2] - x[i0, 2]
    c0 = x[i3, 0] - x[i0, 0]
    c1 = x[i3, 1] - x[i0, 1]
    c2 = x[i3, 2] - x[i0, 2]
    F = (
        a0 * q00 + b0 * q10 + c0 * q20,
        a0 * q01 + b0 * q11 + c0 * q21,
        a0 * q02 + b0 * q12 + c0 * q22,
        a1 * q00 + b1 * q10 + c1 * q20,
        a1 * q01 + b1 * q11 + c1 * q21,
        a1 * q02 + b1 * q12 + c1 * q22,
        a2 * q00 + b2 * q10 + c2 * q20,
        a2 * q01 + b2 * q11 + c2 * q21,
        a2 * q02 + b2 * q12 + c2 * q22,
    )
    if damped:
        dv = (
            x[i0, 0] - x_prev[i0, 0],
            x[i0, 1] - x_prev[i0, 1],
            x[i0, 2] - x_prev[i0, 2],
            x[i1, 0] - x_prev[i1, 0],
            x[i1, 1] - x_prev[i1, 1],
            x[i1, 2] - x_prev[i1, 2],
            x[i2, 0] - x_prev[i2, 0],
            x[i2, 1] - x_prev[i2, 1],
            x[i2, 2] - x_prev[i2, 2],
            x[i3, 0] - x_prev[i3, 0],
            x[i3, 1] - x_prev[i3, 1],
            x[i3, 2] - x_prev[i3, 2],
        )
    else:
        dv = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    return F, q, dv


@njit(cache=True, inline="always")
def _gradients(d, q):
    """:func:`_vertex_gradients` with Q[t] given as the row-major 9-tuple ``q`` (same arithmetic)."""
    d00, d01, d02, d10, d11, d12, d20, d21, d22 = d
    q00, q01, q02, q10, q11, q12, q20, q21, q22 = q
    g1x = d00 * q00 + d01 * q01 + d02 * q02
    g1y = d10 * q00 + d11 * q01 + d12 * q02
    g1z = d20 * q00 + d21 * q01 + d22 * q02
    g2x = d00 * q10 + d01 * q11 + d02 * q12
    g2y = d10 * q10 + d11 * q11 + d12 * q12
    g2z = d20 * q10 + d21 * q11 + d22 * q12
    g3x = d00 * q20 + d01 * q21 + d02 * q22
    g3y = d10 * q20 + d11 * q21 + d12 * q22
    g3z = d20 * q20 + d21 * q21 + d22 * q22
    return (-(g1x + g2x + g3x), -(g1y + g2y + g3y), -(g1z + g2z + g3z), g1x, g1y, g1z, g2x, g2y, g2z, g3x, g3y, g3z)


@njit(cache=True, inline="always")
def _block_system(
    F,
    q,
    dv,
    ad,
    ah,
    gamma,
    inv_h2,
    g_damp,
    w0x,
    w0y,
    w0z,
    w1x,
    w1y,
    w1z,
    w2x,
    w2y,
    w2z,
    w3x,
    w3y,
    w3z,
):
    """A tet's deviatoric and hydrostatic constraints and their 2x2 block system, shared by
    :func:`solve_plain` and :func:`solve_warm`, from :func:`_tet_inputs` (F, q, dv) and the
    tet's compliances ``ad``, ``ah``: (C_D, C_H, the damping terms vD and vH, the matrix entries
    k11, k12, k22, the vertex gradients of each constraint, and the entries s11, s12, s22 of
    G W G^T). Inlined and given scalars only, so it costs neither a call nor a reference count."""
    c2 = 0.0
    for k in range(9):
        c2 += F[k] * F[k]
    CD = np.sqrt(c2)
    inv = 1.0 / CD if CD > _EPS else 0.0  # F = 0 (fully collapsed): no deviatoric direction
    gD = _gradients(
        (F[0] * inv, F[1] * inv, F[2] * inv, F[3] * inv, F[4] * inv, F[5] * inv, F[6] * inv, F[7] * inv, F[8] * inv),
        q,
    )
    cof = _cofactor(F)
    CH = F[0] * cof[0] + F[1] * cof[1] + F[2] * cof[2] - gamma
    gH = _gradients(cof, q)
    (a00, a01, a02, a10, a11, a12, a20, a21, a22, a30, a31, a32) = gD
    (b00, b01, b02, b10, b11, b12, b20, b21, b22, b30, b31, b32) = gH
    # tuples are unrolled by hand: indexing them in a loop made numba spill them to memory (6x slower)
    s11 = (
        w0x * a00 * a00
        + w0y * a01 * a01
        + w0z * a02 * a02
        + w1x * a10 * a10
        + w1y * a11 * a11
        + w1z * a12 * a12
        + w2x * a20 * a20
        + w2y * a21 * a21
        + w2z * a22 * a22
        + w3x * a30 * a30
        + w3y * a31 * a31
        + w3z * a32 * a32
    )
    s12 = (
        w0x * a00 * b00
        + w0y * a01 * b01
        + w0z * a02 * b02
        + w1x * a10 * b10
        + w1y * a11 * b11
        + w1z * a12 * b12
        + w2x * a20 * b20
        + w2y * a21 * b21
        + w2z * a22 * b22
        + w3x * a30 * b30
        + w3y * a31 * b31
        + w3z * a32 * b32
    )
    s22 = (
        w0x * b00 * b00
        + w0y * b01 * b01
        + w0z * b02 * b02
        + w1x * b10 * b10
        + w1y * b11 * b11
        + w1z * b12 * b12
        + w2x * b20 * b20
        + w2y * b21 * b21
        + w2z * b22 * b22
        + w3x * b30 * b30
        + w3y * b31 * b31
        + w3z * b32 * b32
    )
    vD = 0.0
    vH = 0.0
    if g_damp > 0.0:
        d = dv[0]
        vD += a00 * d
        vH += b00 * d
        d = dv[1]
        vD += a01 * d
        vH += b01 * d
        d = dv[2]
        vD += a02 * d
        vH += b02 * d
        d = dv[3]
        vD += a10 * d
        vH += b10 * d
        d = dv[4]
        vD += a11 * d
        vH += b11 * d
        d = dv[5]
        vD += a12 * d
        vH += b12 * d
        d = dv[6]
        vD += a20 * d
        vH += b20 * d
        d = dv[7]
        vD += a21 * d
        vH += b21 * d
        d = dv[8]
        vD += a22 * d
        vH += b22 * d
        d = dv[9]
        vD += a30 * d
        vH += b30 * d
        d = dv[10]
        vD += a31 * d
        vH += b31 * d
        d = dv[11]
        vD += a32 * d
        vH += b32 * d
    # (1 + g) G W G^T + diag(alpha~) is symmetric positive definite since alpha~ > 0
    k11 = (1.0 + g_damp) * s11 + ad * inv_h2
    k12 = (1.0 + g_damp) * s12
    k22 = (1.0 + g_damp) * s22 + ah * inv_h2
    return CD, CH, vD, vH, k11, k12, k22, gD, gH, s11, s12, s22


#: Inversion recovery (see :func:`_recover_tet`): a tet that started its block step below
#: RECOVER_CHECK of its rest volume is flagged and stays flagged (checked after every sweep)
#: until the recovery leaves it at or above RECOVER_CHECK; a flagged tet below RECOVER_J is
#: projected back to RECOVER_J, in up to RECOVER_SWEEPS sweeps per substep. Measured on
#: raptorTetra_19409 as shipped (0.2 m, liver material, 3 s under gravity; docs/physics.md
#: "Inversion recovery"): flags reset every substep and 4 sweeps left 76 tets inverted at rest
#: (0.49 m/s), sticky flags with 4 / 8 / 16 / 32 sweeps 65 / 42 / 37 / 14 (0.012 m/s at 8).
#: 8, not 32: at 32 the mirrored raptor lattice still moved at 0.37 m/s after 3.3 s (0.06 at 8).
RECOVER_J = 0.1
RECOVER_CHECK = 0.5
RECOVER_SWEEPS = 8
#: Sweeps for a tet with a vertex a tool contact holds (``hold``): more let the recovery and the
#: contact projection fight (32: the 0.5 m/s box press threw vertices at 31x the tool speed).
RECOVER_SWEEPS_HELD = 4
#: Largest move of a vertex in one recovery projection, as a fraction of the tet's rest edge.
RECOVER_STEP = 0.1
#: Volume barrier in the tet sweep (:func:`solve_warm`, with the recovery on and a third column
#: in ``lam``): the one-sided constraint det F >= BARRIER_J, hard (compliance 0), solved in the
#: tet's own block step right after its elastic constraints, with its own multiplier ``lam[t, 2]``
#: (>= 0) kept like the elastic ones (the fraction ``warm_t[t]``), checked only in tets that start
#: the step below BARRIER_ON or still hold a multiplier: every other tet runs the plain code
#: (bit-identical). Its correction moves no vertex more than BARRIER_CAP of the tet's rest edge in
#: a substep (uncapped, the kept multiplier of a nearly flat tet, whose det F gradient is tiny,
#: threw the crushed and mirrored starts of tests/test_tissue_robustness.py to 1e52).
#: Why: under a load larger than the stable Neo-Hookean's finite restoring force at collapse the
#: model's own equilibrium is inverted (cylinder_8x30x6 hanging from its lowest 10 %: 24 tets at
#: det F -0.39), so the recovery's floor has to carry a lasting force; applied after the sweep as
#: an inelastic projection that nothing remembers, the sweep flattened the same tets every substep
#: and the recovery lifted them (0.07 m/s flutter at rest). Measured: docs/physics.md, "Inversion
#: recovery", "Volume barrier".
BARRIER_ON = RECOVER_CHECK
BARRIER_J = 0.2
BARRIER_CAP = RECOVER_STEP


@njit(cache=True, inline="always")
def _recover_move(x, x_prev, warm_dx, track, i, dx, dy, dz, still):
    """Move vertex i by the recovery's (dx, dy, dz). ``still`` (a tet a tool holds): move
    ``x_prev`` alike, so the fix adds no velocity; else it counts in the velocity like an
    inelastic contact and, when ``track``, goes into ``warm_dx`` as a part not kept."""
    x[i, 0] += dx
    x[i, 1] += dy
    x[i, 2] += dz
    if still:
        x_prev[i, 0] += dx
        x_prev[i, 1] += dy
        x_prev[i, 2] += dz
    elif track:
        warm_dx[i, 0] += dx
        warm_dx[i, 1] += dy
        warm_dx[i, 2] += dz


@njit(cache=True)
def _recover_tet(
    x,
    x_prev,
    Q,
    t,
    i0,
    i1,
    i2,
    i3,
    w0x,
    w0y,
    w0z,
    w1x,
    w1y,
    w1z,
    w2x,
    w2y,
    w2z,
    w3x,
    w3y,
    w3z,
    warm_dx,
    track,
    still,
    pull_back=None,
):
    """Inversion recovery: project tet t's unilateral volume constraint ``det F >= RECOVER_J``
    (hard, one Newton step along the cofactor gradients, as PBD's volume constraint).

    Why: the stable Neo-Hookean energy is finite for inverted tets (Macklin & Mueller 2021), so a
    load that beats the hydrostatic term's finite restoring force holds a tet inverted at rest:
    a tet with three pinned vertices under the body's weight, or a tangle from a crushed start.
    This inequality is inactive (costs nothing but the check) unless a tet is nearly flat or
    inverted; its correction counts in the velocity like an inelastic contact (and, when
    ``track``, goes into ``warm_dx`` as a part not kept), except in a tet a tool holds
    (``still``), where it adds no velocity (:func:`_recover_move`).

    ``pull_back`` (``SoftBody.recover_pull_back``, opt-in): a tet with no held vertex that was at
    or above RECOVER_J where the substep started (its free axes at ``x_prev``) is instead moved
    back along its vertices' own paths, by the fraction :func:`_pull_back_fraction` finds, so the
    move is parallel to each vertex's displacement in the substep: the gradient's move is not, and
    in a fight at the floor (the sweep pushing the same tets below it every substep) that left a
    torque each substep, which spun folded bodies at rest (the half-mirrored torus at 1.34 rad/s;
    docs/physics.md, "A fold that spins").

    Returns (whether it moved the tet, det F where it started).

    A called function, not ``inline="always"``: numba inlines by copying the callee's IR (here
    with its own inlined :func:`_recover_move` and :func:`_pull_back_move` calls), at a cost that
    grows with its blocks times its variables: with it inlined, those two compiled in 8-11.5 CPU-s
    of the 51-64 of a plain body's first step on an empty numba cache, called in 2.3-3.0 plus
    1.7 for this one (compiled once: :func:`_lift_try` passes the same argument types). It runs
    only for flagged tets; the step is bit-identical and as fast (docs/physics.md, "Compiled
    versions of the step").
    """
    F = _deformation_gradient(x, i0, i1, i2, i3, Q, t)
    cof = _cofactor(F)
    J = F[0] * cof[0] + F[1] * cof[1] + F[2] * cof[2]
    if not (J < RECOVER_J):
        return False, J
    if pull_back is not None:  # (None, the default: compiled out, as the volume barrier)
        if pull_back and not still:
            # fmt: off
            f = _pull_back_fraction(
                x, x_prev, Q, t, i0, i1, i2, i3, w0x, w0y, w0z, w1x, w1y, w1z, w2x, w2y, w2z, w3x, w3y, w3z
            )
            # fmt: on
            if f > 0.0:  # at or above the floor where the substep started: its move taken back that far
                _pull_back_move(x, x_prev, warm_dx, track, i0, w0x, w0y, w0z, f)
                _pull_back_move(x, x_prev, warm_dx, track, i1, w1x, w1y, w1z, f)
                _pull_back_move(x, x_prev, warm_dx, track, i2, w2x, w2y, w2z, f)
                _pull_back_move(x, x_prev, warm_dx, track, i3, w3x, w3y, w3z, f)
                return True, J
    g = _vertex_gradients(cof, Q, t)
    s = (
        w0x * g[0] * g[0]
        + w0y * g[1] * g[1]
        + w0z * g[2] * g[2]
        + w1x * g[3] * g[3]
        + w1y * g[4] * g[4]
        + w1z * g[5] * g[5]
        + w2x * g[6] * g[6]
        + w2y * g[7] * g[7]
        + w2z * g[8] * g[8]
        + w3x * g[9] * g[9]
        + w3y * g[10] * g[10]
        + w3z * g[11] * g[11]
    )
    if not (s > _EPS * _EPS):  # fully collapsed or all held: no direction to restore along
        return False, J
    dl = (RECOVER_J - J) / s
    if not np.isfinite(dl):
        return False, J
    # No vertex moves more than RECOVER_STEP of the tet's rest edge per projection (the rest
    # follows in later sweeps and substeps): a tet inverted far (det F -40 in a membrane a tool
    # stretched), or one whose free vertex has a tiny gradient (three vertices held by a tool,
    # a squashed held face), otherwise moved by several rest edges in one step; unbounded, the
    # 6 mm sphere ended 5.8 mm inside the 4 mm membrane (docs/physics.md, "Inversion recovery").
    q2 = 0.0
    for k in range(9):
        q2 += Q[t, k // 3, k % 3] * Q[t, k // 3, k % 3]
    step2 = RECOVER_STEP * RECOVER_STEP * 3.0 / q2  # (RECOVER_STEP x rest edge)^2; |Q|_F = sqrt(3) / edge
    m2 = 0.0
    for k in range(4):
        wx = w0x if k == 0 else (w1x if k == 1 else (w2x if k == 2 else w3x))
        wy = w0y if k == 0 else (w1y if k == 1 else (w2y if k == 2 else w3y))
        wz = w0z if k == 0 else (w1z if k == 1 else (w2z if k == 2 else w3z))
        m2 = max(m2, (wx * g[3 * k]) ** 2 + (wy * g[3 * k + 1]) ** 2 + (wz * g[3 * k + 2]) ** 2)
    if m2 * dl * dl > step2:
        dl *= np.sqrt(step2 / (m2 * dl * dl))
    d = (
        w0x * g[0] * dl,
        w0y * g[1] * dl,
        w0z * g[2] * dl,
        w1x * g[3] * dl,
        w1y * g[4] * dl,
        w1z * g[5] * dl,
        w2x * g[6] * dl,
        w2y * g[7] * dl,
        w2z * g[8] * dl,
        w3x * g[9] * dl,
        w3y * g[10] * dl,
        w3z * g[11] * dl,
    )
    # A tet a tool holds (``still``: it has a vertex the last tick's contacts pushed) is fixed
    # without velocity: the tool drives that tissue. Elsewhere the fix counts in the velocity,
    # which stops a vertex falling into an inversion (velocity-free everywhere, the pinned
    # bodies under gravity never came to rest; docs/physics.md, "Inversion recovery").
    _recover_move(x, x_prev, warm_dx, track, i0, d[0], d[1], d[2], still)
    _recover_move(x, x_prev, warm_dx, track, i1, d[3], d[4], d[5], still)
    _recover_move(x, x_prev, warm_dx, track, i2, d[6], d[7], d[8], still)
    _recover_move(x, x_prev, warm_dx, track, i3, d[9], d[10], d[11], still)
    return True, J


#: Bisections of :func:`_pull_back_fraction` (the fraction of the way back is found to 2^-20).
PULL_BACK_BISECTIONS = 20


@njit(cache=True, inline="always")
def _between(x, x_prev, i, r, wr, f):
    """Axis r of vertex i moved the fraction ``f`` of the way from ``x`` back to ``x_prev`` if it
    is free (``wr`` > 0), else where it is."""
    return x[i, r] + f * (x_prev[i, r] - x[i, r]) if wr > 0.0 else x[i, r]


@njit(cache=True, inline="always")
def _det_between(x, x_prev, Q, t, i0, i1, i2, i3, w0x, w0y, w0z, w1x, w1y, w1z, w2x, w2y, w2z, w3x, w3y, w3z, f):
    """det F of tet t with the free axes of its vertices moved the fraction ``f`` of the way from
    ``x`` back to ``x_prev`` (no allocation)."""
    p0x = _between(x, x_prev, i0, 0, w0x, f)
    p0y = _between(x, x_prev, i0, 1, w0y, f)
    p0z = _between(x, x_prev, i0, 2, w0z, f)
    e1x = _between(x, x_prev, i1, 0, w1x, f) - p0x
    e1y = _between(x, x_prev, i1, 1, w1y, f) - p0y
    e1z = _between(x, x_prev, i1, 2, w1z, f) - p0z
    e2x = _between(x, x_prev, i2, 0, w2x, f) - p0x
    e2y = _between(x, x_prev, i2, 1, w2y, f) - p0y
    e2z = _between(x, x_prev, i2, 2, w2z, f) - p0z
    e3x = _between(x, x_prev, i3, 0, w3x, f) - p0x
    e3y = _between(x, x_prev, i3, 1, w3y, f) - p0y
    e3z = _between(x, x_prev, i3, 2, w3z, f) - p0z
    # F = Ds Q, Ds = [e1 e2 e3] (columns)
    f00 = e1x * Q[t, 0, 0] + e2x * Q[t, 1, 0] + e3x * Q[t, 2, 0]
    f01 = e1x * Q[t, 0, 1] + e2x * Q[t, 1, 1] + e3x * Q[t, 2, 1]
    f02 = e1x * Q[t, 0, 2] + e2x * Q[t, 1, 2] + e3x * Q[t, 2, 2]
    f10 = e1y * Q[t, 0, 0] + e2y * Q[t, 1, 0] + e3y * Q[t, 2, 0]
    f11 = e1y * Q[t, 0, 1] + e2y * Q[t, 1, 1] + e3y * Q[t, 2, 1]
    f12 = e1y * Q[t, 0, 2] + e2y * Q[t, 1, 2] + e3y * Q[t, 2, 2]
    f20 = e1z * Q[t, 0, 0] + e2z * Q[t, 1, 0] + e3z * Q[t, 2, 0]
    f21 = e1z * Q[t, 0, 1] + e2z * Q[t, 1, 1] + e3z * Q[t, 2, 1]
    f22 = e1z * Q[t, 0, 2] + e2z * Q[t, 1, 2] + e3z * Q[t, 2, 2]
    return f00 * (f11 * f22 - f12 * f21) - f01 * (f10 * f22 - f12 * f20) + f02 * (f10 * f21 - f11 * f20)


@njit(cache=True)
def _pull_back_fraction(x, x_prev, Q, t, i0, i1, i2, i3, w0x, w0y, w0z, w1x, w1y, w1z, w2x, w2y, w2z, w3x, w3y, w3z):
    """The fraction of the way from ``x`` back to ``x_prev`` (free axes only: ``w`` > 0) that
    brings tet t, below :data:`RECOVER_J` at ``x``, back to it (bisection, the end at or above it),
    or -1.0 when the tet was below it at ``x_prev`` too (with its fixed axes where they are now:
    it was flat or inverted where the substep started, left to the recovery's projection)."""
    # fmt: off
    j1 = _det_between(
        x, x_prev, Q, t, i0, i1, i2, i3, w0x, w0y, w0z, w1x, w1y, w1z, w2x, w2y, w2z, w3x, w3y, w3z, 1.0
    )
    # fmt: on
    if not (j1 >= RECOVER_J):
        return -1.0
    lo, hi = 0.0, 1.0
    for _b in range(PULL_BACK_BISECTIONS):
        mid = 0.5 * (lo + hi)
        # fmt: off
        jm = _det_between(
            x, x_prev, Q, t, i0, i1, i2, i3, w0x, w0y, w0z, w1x, w1y, w1z, w2x, w2y, w2z, w3x, w3y, w3z, mid
        )
        # fmt: on
        if jm >= RECOVER_J:
            hi = mid
        else:
            lo = mid
    return hi


@njit(cache=True, inline="always")
def _pull_back_move(x, x_prev, warm_dx, track, i, wx, wy, wz, f):
    """Move vertex i's free axes the fraction ``f`` of the way back to ``x_prev`` (counted in the
    velocity as the recovery's projection, and in ``warm_dx`` as a part not kept when ``track``)."""
    dx = f * (x_prev[i, 0] - x[i, 0]) if wx > 0.0 else 0.0
    dy = f * (x_prev[i, 1] - x[i, 1]) if wy > 0.0 else 0.0
    dz = f * (x_prev[i, 2] - x[i, 2]) if wz > 0.0 else 0.0
    _recover_move(x, x_prev, warm_dx, track, i, dx, dy, dz, False)


@njit(cache=True)
def _barrier_step(x, lam, warm_d, warm_dx, warm_t, w, Q, t, i0, i1, i2, i3, J, dD, dH, k12, k22, ah, g_damp, *b):
    """The volume barrier's step of tet t in :func:`solve_warm` (see :data:`BARRIER_J`), after
    the tet's elastic step (its multiplier changes ``dD``, ``dH``, matrix entries ``k12``,
    ``k22``, hydrostatic compliance / h^2 ``ah``, det F ``J`` where the step started and the
    hydrostatic gradients ``b`` of its vertices 0-3). A function of its own, called only for
    the tets it checks, so the step of every other tet compiles as before (bit-identical: with
    the barrier written into the step's own code the 10k box drifted from the kernels before by
    1e-16 m after 222 frames)."""
    b00, b01, b02, b10, b11, b12, b20, b21, b22, b30, b31, b32 = b
    if not warm_t[t] > 0.0:  # a stiff tet keeps nothing: the recovery after the sweep handles it
        lam[t, 2] = 0.0
        return
    # det F after the elastic step (linearised: s12, s22 are the W-weighted products of the
    # gradients), then one hard step of det F >= BARRIER_J on the kept multiplier
    s12 = k12 / (1.0 + g_damp)
    s22 = (k22 - ah) / (1.0 + g_damp)
    J1 = J + s12 * dD + s22 * dH
    lB = lam[t, 2]
    if s22 > _EPS * _EPS:
        lB += (BARRIER_J - J1) / s22
    if not (lB > 0.0):  # one-sided (also rejects NaN)
        lB = 0.0
    # no vertex moves more than BARRIER_CAP of the rest edge (see BARRIER_CAP)
    q2 = 0.0
    for k in range(9):
        q2 += Q[t, k // 3, k % 3] * Q[t, k // 3, k % 3]
    i = (i0, i1, i2, i3)
    m2 = 0.0
    for v in range(4):
        wx, wy, wz = w[i[v], 0], w[i[v], 1], w[i[v], 2]
        m2 = max(m2, (wx * b[3 * v]) ** 2 + (wy * b[3 * v + 1]) ** 2 + (wz * b[3 * v + 2]) ** 2)
    cap2 = BARRIER_CAP * BARRIER_CAP * 3.0 / q2  # |Q|_F = sqrt(3) / rest edge
    if m2 * lB * lB > cap2:
        lB = np.sqrt(cap2 / m2)
    kB = warm_t[t]
    lam[t, 2] = kB * lB
    if lB != 0.0:  # the correction, along the hydrostatic gradient
        _barrier_move(x, warm_d, warm_dx, w, t, i0, i1, b10, b11, b12, 0, lB, kB)
        _barrier_move(x, warm_d, warm_dx, w, t, i0, i2, b20, b21, b22, 3, lB, kB)
        _barrier_move(x, warm_d, warm_dx, w, t, i0, i3, b30, b31, b32, 6, lB, kB)


@njit(cache=True)
def _slow_part(lam, t, cs, lD, lH, kt, wt, J, flagged):
    """Tet t's slow part of its new multipliers ``lD``, ``lH`` (see :data:`SLOW_WEIGHT`): update
    it in ``lam[t, cs:cs + 2]`` and return what the tet keeps of it beyond ``kt`` of the new ones,
    (1 - kt) s, where :data:`SLOW_MIN_KEEP` allows, else (0, 0). A function of its own, called only
    for tets with ``warm_t`` < 1, so the step of every other tet runs as before (written into the
    loop, with its share of the kept correction computed for every tet, the 10k box, all ``warm_t``
    1, ran x1.10 slower, paired; now x1.02: docs/physics.md "Warm start")."""
    if not kt > 0.0:  # keeps nothing: start anew
        lam[t, cs] = 0.0
        lam[t, cs + 1] = 0.0
        return 0.0, 0.0
    sD = lam[t, cs] + SLOW_WEIGHT * (lD - lam[t, cs])
    sH = lam[t, cs + 1] + SLOW_WEIGHT * (lH - lam[t, cs + 1])
    lam[t, cs] = sD
    lam[t, cs + 1] = sH
    if kt >= SLOW_MIN_KEEP and kt == wt and abs(J - 1.0) <= SLOW_NEAR_REST and not flagged:
        return (1.0 - kt) * sD, (1.0 - kt) * sH
    return 0.0, 0.0


@njit(cache=True)
def _barrier_move(x, warm_d, warm_dx, w, t, i0, i, gx, gy, gz, c, lB, kB):
    """The volume barrier's correction ``lB`` x the det F gradient (gx, gy, gz) of tet t's vertex
    i (one of vertices 1-3, ``warm_d`` columns c..c+2) and its share of vertex i0's (minus the
    others', as the kept corrections: the momentum stays exact): moves them, keeps ``kB`` of it
    in ``warm_d`` (float32) and sums the part not kept into ``warm_dx``."""
    for r in range(3):
        g = gx if r == 0 else (gy if r == 1 else gz)
        d = g * lB
        x[i, r] += w[i, r] * d
        x[i0, r] -= w[i0, r] * d
        old = warm_d[t, c + r]
        warm_d[t, c + r] = old + kB * d
        lost = d - (np.float64(warm_d[t, c + r]) - old)
        warm_dx[i, r] += w[i, r] * lost
        warm_dx[i0, r] -= w[i0, r] * lost


# No fastmath, not even {"contract"} (FMA fusion, 11-15 % faster tet loops on one thread): whether
# LLVM fuses a * b + c depends on the machine and on the specialisation compiled (which, for a
# dispatcher, depends on the calls made before), so fused results differed in the last bits
# between machines and between two runs of the same test on one machine with different numba
# caches, and chaotic sessions (scissors snips) diverged: the scissors novice ended with 1 or 3
# inverted tets (docs/physics.md, "Determinism"). IEEE operations without fusion give the same
# bits on every x86-64 CPU and in every specialisation.
@njit(cache=True)
def solve_plain(x, x_prev, w, tets, Q, alpha_dev, alpha_hyd, near, gamma, inv_h2, g_damp, start, end):
    """Project tets[start:end] in order (Gauss-Seidel), each tet's deviatoric and hydrostatic
    constraints together (2x2 block XPBD step).

    We solve them as a block rather than one after the other because C_D = ||F|| is sqrt(3),
    not 0, at rest: solved one after the other with one iteration per
    substep, the two O(1) rest corrections only cancel in the limit alpha/h^2 >> w |grad C|^2,
    which biases the static solution by tens of percent at game-rate substeps. The 2x2 solve
    cancels them exactly at rest for any h (the residual is then O(strain)).

    The per-tet step is written out in the loop, not called through an ``inline="always"``
    function of the arrays: numba counted references to each array passed to such a function,
    at every tet (docs/physics.md, "Benchmark").
    """
    for st in range(start, end):
        # unsigned indices (see _U): no negative-index wraparound at each of the tet's array reads
        t = _U(st)
        i0, i1, i2, i3 = _U(tets[t, 0]), _U(tets[t, 1]), _U(tets[t, 2]), _U(tets[t, 3])
        # per-axis inverse masses: 0 on an axis held by a pin, an attachment or a slide plane
        w0x, w0y, w0z = w[i0, 0], w[i0, 1], w[i0, 2]
        w1x, w1y, w1z = w[i1, 0], w[i1, 1], w[i1, 2]
        w2x, w2y, w2z = w[i2, 0], w[i2, 1], w[i2, 2]
        w3x, w3y, w3z = w[i3, 0], w[i3, 1], w[i3, 2]
        if w0x + w0y + w0z + w1x + w1y + w1z + w2x + w2y + w2z + w3x + w3y + w3z == 0.0:
            continue
        F, q, dv = _tet_inputs(x, x_prev, Q, t, i0, i1, i2, i3, g_damp > 0.0)
        # fmt: off
        CD, CH, vD, vH, k11, k12, k22, gD, gH, _s11, _s12, _s22 = _block_system(
            F, q, dv, alpha_dev[t], alpha_hyd[t], gamma, inv_h2, g_damp,
            w0x, w0y, w0z, w1x, w1y, w1z, w2x, w2y, w2z, w3x, w3y, w3z,
        )
        # fmt: on
        if CH + gamma < RECOVER_CHECK:  # sticky: recover_pass clears it (see there)
            near[t] = True
        (a00, a01, a02, a10, a11, a12, a20, a21, a22, a30, a31, a32) = gD
        (b00, b01, b02, b10, b11, b12, b20, b21, b22, b30, b31, b32) = gH
        r1 = -CD - g_damp * vD
        r2 = -CH - g_damp * vH
        det = k11 * k22 - k12 * k12
        if not (det > 0.0):  # also rejects NaN
            continue
        dD = (k22 * r1 - k12 * r2) / det
        dH = (k11 * r2 - k12 * r1) / det
        if not (np.isfinite(dD) and np.isfinite(dH)):  # never let a NaN poison the body
            continue
        x[i0, 0] += w0x * (a00 * dD + b00 * dH)
        x[i0, 1] += w0y * (a01 * dD + b01 * dH)
        x[i0, 2] += w0z * (a02 * dD + b02 * dH)
        x[i1, 0] += w1x * (a10 * dD + b10 * dH)
        x[i1, 1] += w1y * (a11 * dD + b11 * dH)
        x[i1, 2] += w1z * (a12 * dD + b12 * dH)
        x[i2, 0] += w2x * (a20 * dD + b20 * dH)
        x[i2, 1] += w2y * (a21 * dD + b21 * dH)
        x[i2, 2] += w2z * (a22 * dD + b22 * dH)
        x[i3, 0] += w3x * (a30 * dD + b30 * dH)
        x[i3, 1] += w3y * (a31 * dD + b31 * dH)
        x[i3, 2] += w3z * (a32 * dD + b32 * dH)


@njit(cache=True)  # no fastmath: see solve_plain
def solve_warm(
    x,
    x_prev,
    w,
    tets,
    Q,
    alpha_dev,
    alpha_hyd,
    near,
    lam,
    warm_d,
    warm_t,
    warm_dx,
    gamma,
    inv_h2,
    g_damp,
    start,
    end,
    barrier=None,
    damp_ref=None,
    hold=None,
    held=False,
):
    """:func:`solve_plain` warm-started (see :func:`solve_substep`): the same 2x2 block step from
    the kept multipliers ``lam[t]``, replacing the tet's kept correction ``warm_d[t]`` (vertices
    1-3, float32) in the positions, keeping the fraction ``warm_t[t]`` of the new ones, and
    summing into ``warm_dx`` the parts not kept (see :func:`finish_warm_start`).

    With ``barrier`` not None (the inversion recovery on and a tet flagged when the substep's
    sweep starts: see :func:`solve_substep`) and ``lam`` of three columns, a tet that starts
    below :data:`BARRIER_ON` or holds a barrier multiplier ``lam[t, 2]`` then takes one step of the
    volume barrier det F >= :data:`BARRIER_J` (see there): a hard one-sided XPBD constraint along
    the hydrostatic gradient, from det F linearised after the elastic step, its multiplier clamped
    to >= 0 and capped at :data:`BARRIER_CAP` of the rest edge per vertex; its correction goes into
    the positions with the elastic ones and the fraction ``warm_t[t]`` of it is kept (also where
    the elastic multipliers are not: a tet far from rest keeps none of those). As a contact's
    accumulated impulse in a warm-started Gauss-Seidel solver (Catto 2005, "Iterative dynamics
    with temporal coherence"), the kept multiplier carries a lasting load, so a resting tet on the
    floor is a fixed point of the step. ``barrier`` None (the default) compiles a version without
    it (numba prunes the branch on an argument that is None): the same machine code as before the
    barrier for every body with no flagged tet (bit-identical and as fast: with the barrier's
    check in every tet's step the 10k box ran x1.05-1.10 slower, paired, and drifted by 1e-16 m
    after 222 frames).

    ``hold`` (``(n,)`` bool, the vertices a tool contact pushed in the last tick) with ``held``
    True (a step after a tick where one was set, for a body with the slow part:
    ``solver.SLOW_HELD``): a tet with such a vertex keeps no slow part, its warm start as without
    it (``s`` still follows its multipliers). ``held`` is read at run time, only in the tets
    that use the slow part, so the step of a body no tool holds and of one it holds is one
    compiled sweep (:func:`step_kernel`'s ``slow_held``); False, or ``hold`` None (compiled out),
    is the sweep as before."""
    # ``damp_ref`` not None (a damped body with warm_d columns 10-13, DAMP_REF_COLUMNS): Rayleigh
    # damping on XPBD eq. 26's rate G (x - x_prev) plus the estimate of the corrections still
    # pending in this sweep; None compiles eq. 26 as written, the code of every other body
    # unchanged (numba prunes the branches on an argument that is None; a run-time check cost the
    # default damped box x1.03-1.04, paired)
    relax = 0.1 / (1.0 + g_damp)  # the estimate's weight per substep (DAMP_REF_COLUMNS)
    # the slow part of the multipliers in lam's last two columns (SLOW_WEIGHT), if it has them
    slow = lam.shape[1] >= LAM_COLUMNS
    cs = lam.shape[1] - 2
    for st in range(start, end):
        # unsigned indices (see _U): no negative-index wraparound at each of the tet's array reads
        t = _U(st)
        i0, i1, i2, i3 = _U(tets[t, 0]), _U(tets[t, 1]), _U(tets[t, 2]), _U(tets[t, 3])
        # per-axis inverse masses: 0 on an axis held by a pin, an attachment or a slide plane
        w0x, w0y, w0z = w[i0, 0], w[i0, 1], w[i0, 2]
        w1x, w1y, w1z = w[i1, 0], w[i1, 1], w[i1, 2]
        w2x, w2y, w2z = w[i2, 0], w[i2, 1], w[i2, 2]
        w3x, w3y, w3z = w[i3, 0], w[i3, 1], w[i3, 2]
        if w0x + w0y + w0z + w1x + w1y + w1z + w2x + w2y + w2z + w3x + w3y + w3z == 0.0:
            continue
        F, q, dv = _tet_inputs(x, x_prev, Q, t, i0, i1, i2, i3, g_damp > 0.0)
        # fmt: off
        CD, CH, vD, vH, k11, k12, k22, gD, gH, s11, s12, s22 = _block_system(
            F, q, dv, alpha_dev[t], alpha_hyd[t], gamma, inv_h2, g_damp,
            w0x, w0y, w0z, w1x, w1y, w1z, w2x, w2y, w2z, w3x, w3y, w3z,
        )
        # fmt: on
        (a00, a01, a02, a10, a11, a12, a20, a21, a22, a30, a31, a32) = gD
        (b00, b01, b02, b10, b11, b12, b20, b21, b22, b30, b31, b32) = gH
        # Warm start (see :func:`substep`): the residual starts from the multipliers kept from the
        # last substep; kt is the fraction of the new ones this tet keeps for the next
        lD = lam[t, 0]
        lH = lam[t, 1]
        lD0 = lD
        lH0 = lH
        kt = warm_t[t]
        J = CH + gamma
        if J < RECOVER_CHECK:  # sticky: recover_pass clears it (see there)
            near[t] = True
        if J < 0.5 or J > 2.0:  # far from rest (crushed, inverted, overstretched): keep nothing
            kt = 0.0
        elif kt != 0.0:  # keep no more than the ratio as deformed now allows (see WARM_GROWTH)
            ad = alpha_dev[t]
            ah = alpha_hyd[t]
            # ratio now x the nu > 0.45 factor of warm_start_factors (l / mu = ad / ah) is rq / rq0 * WARM_GROWTH
            rq = (s11 * ah + s22 * ad) * max(ah, 0.1 * ad)
            rq0 = WARM_GROWTH * inv_h2 * ad * ah * (ah + 3.0 * ad)
            if rq > WARM_FULL * rq0:
                kt = min(kt, max(0.0, (WARM_OFF - rq / rq0) / (WARM_OFF - WARM_FULL)))
        if damp_ref is not None:  # eq. 26's G (x - x_prev) plus the pending corrections' estimate
            if 0.5 <= J <= 2.0:  # near rest: the linearised C_kept measures the motion
                # (C - C_kept) - G (x - x_prev), C_kept stored as C_D - sqrt(3) and det F - 1 (zero at
                # rest, so float32 keeps 1e-9 of a strain and zeros mean "at rest")
                pD = warm_d[t, 12] + relax * ((CD - SQRT3) - warm_d[t, 10] - vD - warm_d[t, 12])
                pH = warm_d[t, 13] + relax * ((J - 1.0) - warm_d[t, 11] - vH - warm_d[t, 13])
                warm_d[t, 12] = pD
                warm_d[t, 13] = pH
                vD += pD
                vH += pH
            else:  # eq. 26 as written, start anew (far from rest C_kept is no measure; see DAMP_REF_COLUMNS)
                warm_d[t, 12] = 0.0
                warm_d[t, 13] = 0.0
        r1 = -CD - alpha_dev[t] * inv_h2 * lD - g_damp * vD
        r2 = -CH - alpha_hyd[t] * inv_h2 * lH - g_damp * vH
        det = k11 * k22 - k12 * k12
        if det > 0.0:
            dD = (k22 * r1 - k12 * r2) / det
            dH = (k11 * r2 - k12 * r1) / det
            if np.isfinite(dD) and np.isfinite(dH):
                lD += dD
                lH += dH
            else:  # drop this tet's force rather than keep a stale one (never let a NaN in)
                lD = 0.0
                lH = 0.0
        else:
            lD = 0.0
            lH = 0.0
        # the slow part, kept in full where the tet keeps less than all (see SLOW_WEIGHT): uD, uH
        # are (1 - kt) s, zero where kt is 1 (unchanged there) or 0 (s restarts from 0)
        uD = 0.0
        uH = 0.0
        if slow and warm_t[t] < 1.0:  # only such a tet uses s (kt == warm_t): the others skip it
            off = near[t]
            if hold is not None:  # (numba prunes it where hold is None)
                if held:  # a tool contact holds a vertex of it: no slow part (solver.SLOW_HELD)
                    off = off or hold[i0] or hold[i1] or hold[i2] or hold[i3]
            uD, uH = _slow_part(lam, t, cs, lD, lH, kt, np.float64(warm_t[t]), J, off)
        lam[t, 0] = kt * lD + uD
        lam[t, 1] = kt * lH + uH
        if damp_ref is not None:  # C where this step leaves it (linearised: the tet moves by W G^T dlam)
            warm_d[t, 10] = (CD - SQRT3) + s11 * (lD - lD0) + s12 * (lH - lH0)
            warm_d[t, 11] = (J - 1.0) + s12 * (lD - lD0) + s22 * (lH - lH0)
        # The prediction already holds this tet's kept correction W G_old^T lam_kept (warm_d[t],
        # vertices 1-3; vertex 0's is minus their sum, so float32 rounding never changes the
        # momentum): replace it by W G^T lam with the current gradients, so the large rest
        # multipliers (C_D = sqrt(3) at rest) never act along stale gradients (that acted as a
        # velocity-proportional force of either sign and blew bodies up). G^T lam is the tet's net
        # force x h^2 (zero at rest), so float32 storage costs ~1e-7 of it.
        x[i0, 0] += w0x * (a00 * lD + b00 * lH + (np.float64(warm_d[t, 0]) + warm_d[t, 3] + warm_d[t, 6]))
        x[i0, 1] += w0y * (a01 * lD + b01 * lH + (np.float64(warm_d[t, 1]) + warm_d[t, 4] + warm_d[t, 7]))
        x[i0, 2] += w0z * (a02 * lD + b02 * lH + (np.float64(warm_d[t, 2]) + warm_d[t, 5] + warm_d[t, 8]))
        e = a10 * lD + b10 * lH
        x[i1, 0] += w1x * (e - warm_d[t, 0])
        warm_d[t, 0] = kt * e
        e = a11 * lD + b11 * lH
        x[i1, 1] += w1y * (e - warm_d[t, 1])
        warm_d[t, 1] = kt * e
        e = a12 * lD + b12 * lH
        x[i1, 2] += w1z * (e - warm_d[t, 2])
        warm_d[t, 2] = kt * e
        e = a20 * lD + b20 * lH
        x[i2, 0] += w2x * (e - warm_d[t, 3])
        warm_d[t, 3] = kt * e
        e = a21 * lD + b21 * lH
        x[i2, 1] += w2y * (e - warm_d[t, 4])
        warm_d[t, 4] = kt * e
        e = a22 * lD + b22 * lH
        x[i2, 2] += w2z * (e - warm_d[t, 5])
        warm_d[t, 5] = kt * e
        e = a30 * lD + b30 * lH
        x[i3, 0] += w3x * (e - warm_d[t, 6])
        warm_d[t, 6] = kt * e
        e = a31 * lD + b31 * lH
        x[i3, 1] += w3y * (e - warm_d[t, 7])
        warm_d[t, 7] = kt * e
        e = a32 * lD + b32 * lH
        x[i3, 2] += w3z * (e - warm_d[t, 8])
        warm_d[t, 8] = kt * e
        if uD != 0.0 or uH != 0.0:  # the slow part's share of the kept correction (see SLOW_WEIGHT)
            warm_d[t, 0] = kt * (a10 * lD + b10 * lH) + (a10 * uD + b10 * uH)
            warm_d[t, 1] = kt * (a11 * lD + b11 * lH) + (a11 * uD + b11 * uH)
            warm_d[t, 2] = kt * (a12 * lD + b12 * lH) + (a12 * uD + b12 * uH)
            warm_d[t, 3] = kt * (a20 * lD + b20 * lH) + (a20 * uD + b20 * uH)
            warm_d[t, 4] = kt * (a21 * lD + b21 * lH) + (a21 * uD + b21 * uH)
            warm_d[t, 5] = kt * (a22 * lD + b22 * lH) + (a22 * uD + b22 * uH)
            warm_d[t, 6] = kt * (a30 * lD + b30 * lH) + (a30 * uD + b30 * uH)
            warm_d[t, 7] = kt * (a31 * lD + b31 * lH) + (a31 * uD + b31 * uH)
            warm_d[t, 8] = kt * (a32 * lD + b32 * lH) + (a32 * uD + b32 * uH)
        if kt != 1.0:  # warm_dx collects the parts not kept (see finish_warm_start)
            warm_dx[i1, 0] += w1x * (a10 * lD + b10 * lH - warm_d[t, 0])
            warm_dx[i1, 1] += w1y * (a11 * lD + b11 * lH - warm_d[t, 1])
            warm_dx[i1, 2] += w1z * (a12 * lD + b12 * lH - warm_d[t, 2])
            warm_dx[i2, 0] += w2x * (a20 * lD + b20 * lH - warm_d[t, 3])
            warm_dx[i2, 1] += w2y * (a21 * lD + b21 * lH - warm_d[t, 4])
            warm_dx[i2, 2] += w2z * (a22 * lD + b22 * lH - warm_d[t, 5])
            warm_dx[i3, 0] += w3x * (a30 * lD + b30 * lH - warm_d[t, 6])
            warm_dx[i3, 1] += w3y * (a31 * lD + b31 * lH - warm_d[t, 7])
            warm_dx[i3, 2] += w3z * (a32 * lD + b32 * lH - warm_d[t, 8])
            warm_dx[i0, 0] += w0x * (a00 * lD + b00 * lH + (np.float64(warm_d[t, 0]) + warm_d[t, 3] + warm_d[t, 6]))
            warm_dx[i0, 1] += w0y * (a01 * lD + b01 * lH + (np.float64(warm_d[t, 1]) + warm_d[t, 4] + warm_d[t, 7]))
            warm_dx[i0, 2] += w0z * (a02 * lD + b02 * lH + (np.float64(warm_d[t, 2]) + warm_d[t, 5] + warm_d[t, 8]))
        if barrier is not None:
            if lam.shape[1] % 2 == 1 and (J < BARRIER_ON or lam[t, 2] != 0.0):  # its column 2 (3 or 5 columns)
                # fmt: off
                _barrier_step(
                    x, lam, warm_d, warm_dx, warm_t, w, Q, t, i0, i1, i2, i3, J, lD - lD0, lH - lH0, k12, k22,
                    alpha_hyd[t] * inv_h2, g_damp, b00, b01, b02, b10, b11, b12, b20, b21, b22, b30, b31, b32,
                )
                # fmt: on


@njit(cache=True)
def solve_range(
    x,
    x_prev,
    w,
    tets,
    Q,
    alpha_dev,
    alpha_hyd,
    near,
    lam,
    warm_d,
    warm_t,
    warm_dx,
    gamma,
    inv_h2,
    g_damp,
    warm,
    start,
    end,
    barrier=False,
    volume_barrier=None,
    held=False,
    hold=None,
):
    """Solve tets[start:end] serially (Gauss-Seidel order): plain XPBD (:func:`solve_plain`) if
    ``warm`` is 0, else warm-started (:func:`solve_warm`); the plain kernel is unchanged by
    the warm start, so ``SoftBody.warm_start = 0`` runs exactly the earlier solve. ``barrier``:
    the warm solve with the volume barrier (:func:`solve_warm`), decided once per substep, for a
    body built with it: ``volume_barrier`` not None (see :func:`step_kernel`; None compiles no
    barrier code at all). ``held`` True (a step after a tick whose contacts held a vertex of a
    body with the slow part: ``solver._slow_held``) with ``hold`` the model's contact-held
    vertices: the warm solve's tets with a held vertex keep no slow part (``solver.SLOW_HELD``);
    ``held`` False (the default and every other step): the sweep as before. A run-time flag
    passed on to :func:`solve_warm`, not a type switch like ``volume_barrier`` (see
    :func:`step_kernel`'s ``slow_held``)."""
    if warm == 0.0:
        solve_plain(x, x_prev, w, tets, Q, alpha_dev, alpha_hyd, near, gamma, inv_h2, g_damp, start, end)
    elif volume_barrier is not None and barrier:  # numba prunes it where volume_barrier is None
        ref = 1 if g_damp > 0.0 and warm_d.shape[1] >= DAMP_REF_COLUMNS else None  # run-time here: rare
        # fmt: off
        solve_warm(
            x, x_prev, w, tets, Q, alpha_dev, alpha_hyd, near, lam, warm_d, warm_t, warm_dx, gamma, inv_h2, g_damp,
            start, end, True, ref, hold, held,
        )
        # fmt: on
    elif g_damp > 0.0 and warm_d.shape[1] >= DAMP_REF_COLUMNS:  # SoftBody.damping_keeps_statics
        # fmt: off
        solve_warm(
            x, x_prev, w, tets, Q, alpha_dev, alpha_hyd, near, lam, warm_d, warm_t, warm_dx, gamma, inv_h2, g_damp,
            start, end, None, 1, hold, held,
        )
        # fmt: on
    else:
        # fmt: off
        solve_warm(
            x, x_prev, w, tets, Q, alpha_dev, alpha_hyd, near, lam, warm_d, warm_t, warm_dx, gamma, inv_h2, g_damp,
            start, end, None, None, hold, held,
        )
        # fmt: on


@njit(cache=True, parallel=True)
def solve_blocks(
    x,
    x_prev,
    w,
    tets,
    Q,
    alpha_dev,
    alpha_hyd,
    near,
    lam,
    warm_d,
    warm_t,
    warm_dx,
    gamma,
    inv_h2,
    g_damp,
    warm,
    block_offsets,
    b0,
    b1,
    barrier=False,
    volume_barrier=None,
    held=False,
    hold=None,
):
    """Solve blocks b0..b1-1 in parallel; blocks of one phase share no vertex, so no races
    (``barrier``, ``volume_barrier``, ``held``, ``hold``: see :func:`solve_range`)."""
    for b in prange(b0, b1):
        solve_range(
            x,
            x_prev,
            w,
            tets,
            Q,
            alpha_dev,
            alpha_hyd,
            near,
            lam,
            warm_d,
            warm_t,
            warm_dx,
            gamma,
            inv_h2,
            g_damp,
            warm,
            block_offsets[b],
            block_offsets[b + 1],
            barrier,
            volume_barrier,
            held,
            hold,
        )


@njit(cache=True)
def predict(x, v, x_prev, w, f_ext, gravity, h, lin_damp):
    """Symplectic-Euler prediction: v = v / (1 + h c) + h (g + w f), x_prev = x, x += h v (free axes only)."""
    # Implicit mass-proportional drag on the velocity carried over (v / (1 + h c)), never
    # overshooting; the applied acceleration is added undamped so that the drag leaves static
    # equilibria unchanged (damping (v + h a) scaled the loads by 1 / (1 + h c) at rest).
    keep = 1.0 / (1.0 + h * lin_damp)
    for i in range(x.shape[0]):
        for r in range(3):
            x_prev[i, r] = x[i, r]
            wi = w[i, r]
            if wi > 0.0:
                v[i, r] = v[i, r] * keep + h * (gravity[r] + wi * f_ext[i, r])
                x[i, r] += h * v[i, r]


@njit(cache=True)
def place_kinematic(x, kin_idx, kin_start, kin_target, frac):
    """Attachment constraint: move attached vertices to start + frac * (target - start)."""
    for k in range(kin_idx.shape[0]):
        i = kin_idx[k]
        for r in range(3):
            x[i, r] = kin_start[k, r] + frac * (kin_target[k, r] - kin_start[k, r])


@njit(cache=True)
def place_sliding(x, slide_idx, slide_axis, slide_start, slide_target, frac):
    """Slide constraint (frictionless planes): set coordinate ``slide_axis[k]`` of vertex
    ``slide_idx[k]`` to start + frac * (target - start); that axis has zero inverse mass, the
    other two are free."""
    for k in range(slide_idx.shape[0]):
        x[slide_idx[k], slide_axis[k]] = slide_start[k] + frac * (slide_target[k] - slide_start[k])


@njit(cache=True)
def update_velocity(x, x_prev, v, inv_h):
    """v = (x - x_prev) / h for every vertex (kinematic ones get their driven velocity)."""
    for i in range(x.shape[0]):
        for r in range(3):
            v[i, r] = (x[i, r] - x_prev[i, r]) * inv_h


@njit(cache=True)
def begin_step(x, attachment):
    """Attached vertices travel from where they are now: capture their start positions.

    ``attachment`` is :class:`~vrmed.components.tissue.constraints.AttachmentConstraint`'s
    ``arrays()``: (indices, start, target).
    """
    kin_idx, kin_start, _kin_target = attachment
    for k in range(kin_idx.shape[0]):
        for r in range(3):
            kin_start[k, r] = x[kin_idx[k], r]


@njit(cache=True)
def predict_warm(x, v, x_prev, w, f_ext, gravity, h, lin_damp, warm_dx):
    """:func:`predict` plus the warm start in the same pass: add the tets' kept corrections
    (``warm_dx``, see :func:`finish_warm_start`) to the free axes, then clear ``warm_dx`` for
    :func:`solve_warm` to sum the parts not kept into."""
    keep = 1.0 / (1.0 + h * lin_damp)
    for i in range(x.shape[0]):
        for r in range(3):
            x_prev[i, r] = x[i, r]
            wi = w[i, r]
            if wi > 0.0:
                v[i, r] = v[i, r] * keep + h * (gravity[r] + wi * f_ext[i, r])
                x[i, r] += h * v[i, r] + warm_dx[i, r]
            warm_dx[i, r] = 0.0


@njit(cache=True)
def pull_springs(x, x_prev, v, w, f_ext, h, springs):
    """Zero-rest-length springs to fixed anchors (ligament patches), integrated by backward
    Euler inside the prediction: with ``w`` the solve's inverse masses ``1 / (m + h^2 k)``
    (:func:`spring_masses`), moving each spring vertex's inertial target ``y`` (the prediction
    without its external force and kept corrections) by ``h^2 k w (anchor - y)`` makes the
    substep's solve minimise the spring's energy exactly, with no iteration of its own: the tets
    see the vertex as heavy as the spring makes it, so a stiff patch holds as pins do. The move
    is added to the predicted velocity too (it is part of the prediction, not a tet's correction
    for the warm start to keep). ``springs`` = (indices (k,), anchors (k, 3), factors (k, 3)),
    the factors ``h^2 k w`` per axis (0 on held axes)."""
    idx, anchor, fac = springs
    hh = h * h
    inv_h = 1.0 / h
    for k in range(idx.shape[0]):
        i = idx[k]
        for r in range(3):
            wi = w[i, r]
            if wi > 0.0:
                y = x_prev[i, r] + h * v[i, r] - hh * wi * f_ext[i, r]
                d = fac[k, r] * (anchor[k, r] - y)
                x[i, r] += d
                v[i, r] += d * inv_h


@njit(cache=True)
def gather_springs(slot, compliance, anchors, stiffness, weighted):
    """Add one ligament patch's springs into a body's merged rows (``slot`` (k,) each spring's
    row): ``stiffness`` += 1 / compliance (N/m; springs on one vertex act in parallel) and
    ``weighted`` += stiffness x anchor (:func:`spring_masses` divides it out)."""
    for k in range(slot.shape[0]):
        j = slot[k]
        s = 1.0 / compliance[k]
        stiffness[j] += s
        for r in range(3):
            weighted[j, r] += s * anchors[k, r]


@njit(cache=True)
def spring_masses(inv_mass, w, idx, stiffness, h, fac, anchors):
    """The solve's inverse masses ``w`` (n, 3) for a body with springs of ``stiffness`` (k,) N/m at
    vertices ``idx``: ``inv_mass`` with each spring vertex's ``1 / (m + h^2 k)`` per free axis
    (backward Euler of the spring, :func:`pull_springs`), and its factors ``fac`` (k, 3) =
    ``h^2 k w``; ``anchors`` (k, 3) arrive as :func:`gather_springs`' stiffness-weighted sums and
    leave as the anchor the merged spring pulls to. In place: no allocation per step."""
    hh = h * h
    for i in range(inv_mass.shape[0]):
        for r in range(3):
            w[i, r] = inv_mass[i, r]
    for k in range(idx.shape[0]):
        i = idx[k]
        for r in range(3):
            anchors[k, r] /= stiffness[k]
            wi = inv_mass[i, r]
            if wi > 0.0:
                w[i, r] = wi / (1.0 + hh * stiffness[k] * wi)
                fac[k, r] = hh * stiffness[k] * w[i, r]
            else:
                fac[k, r] = 0.0


@njit(cache=True)
def spring_forces(x, idx, anchors, compliance, force):
    """Each spring's pull on its vertex (N) at the step's end, ``(anchor - x) / compliance``: the
    backward-Euler force of :func:`pull_springs` (a ligament patch's ``force``)."""
    for k in range(idx.shape[0]):
        i = idx[k]
        for r in range(3):
            force[k, r] = (anchors[k, r] - x[i, r]) / compliance[k]


@njit(cache=True)
def finish_warm_start(x, x_prev, v, w, h, warm_dx):
    """warm_dx = the kept tet corrections: everything the tet solve moved the free axes this
    substep, x - (x_prev + h v) with v the predicted velocity, less the parts not kept, which
    :func:`solve_warm` summed into warm_dx (only tets that keep less than all do)."""
    for i in range(x.shape[0]):
        for r in range(3):
            if w[i, r] > 0.0:
                warm_dx[i, r] = x[i, r] - x_prev[i, r] - h * v[i, r] - warm_dx[i, r]
            else:
                warm_dx[i, r] = 0.0


@njit(cache=True)
def substep(
    state,
    model,
    attachment,
    slides,
    gravity,
    h,
    frac,
    gamma,
    beta,
    lin_damp,
    warm,
    recover=True,
    volume_barrier=None,
    nodal=None,
    keep_release=False,
    pull_back=None,
    springs=None,
    slow_held=False,
):
    """:func:`solve_substep` and, with the warm start, :func:`finish_warm_start` (the substep up
    to the velocity update, for the loop that projects plugin constraints before it)."""
    # fmt: off
    solve_substep(
        state, model, attachment, slides, gravity, h, frac, gamma, beta, lin_damp, warm, recover, volume_barrier, nodal,
        keep_release, pull_back, springs, slow_held,
    )
    # fmt: on
    if warm != 0.0:
        finish_warm_start(state[0], state[2], state[1], state[3], h, state[7])


@njit(cache=True)
def finish_and_update_velocity(x, x_prev, v, w, h, warm_dx, warm):
    """:func:`finish_warm_start` (if ``warm``) and :func:`update_velocity` in one pass, same
    arithmetic (the fused frame, where nothing runs between the two)."""
    inv_h = 1.0 / h
    for i in range(x.shape[0]):
        for r in range(3):
            if warm != 0.0:
                if w[i, r] > 0.0:
                    warm_dx[i, r] = x[i, r] - x_prev[i, r] - h * v[i, r] - warm_dx[i, r]
                else:
                    warm_dx[i, r] = 0.0
            v[i, r] = (x[i, r] - x_prev[i, r]) * inv_h


@njit(cache=True, inline="always")
def _det_ds_gradients(x, i0, i1, i2, i3):
    """det Ds (6 x the signed volume) of the tet with vertices i0..i3 and its gradients wrt each
    vertex as a 12-tuple (d det Ds / d x1 = (x2 - x0) x (x3 - x0) and cyclic; x0's minus their
    sum): the nodal volume kernels need no F, cofactor or Dm^-1 (a quarter of the multiplications)."""
    a0 = x[i1, 0] - x[i0, 0]
    a1 = x[i1, 1] - x[i0, 1]
    a2 = x[i1, 2] - x[i0, 2]
    b0 = x[i2, 0] - x[i0, 0]
    b1 = x[i2, 1] - x[i0, 1]
    b2 = x[i2, 2] - x[i0, 2]
    c0 = x[i3, 0] - x[i0, 0]
    c1 = x[i3, 1] - x[i0, 1]
    c2 = x[i3, 2] - x[i0, 2]
    g1x = b1 * c2 - b2 * c1
    g1y = b2 * c0 - b0 * c2
    g1z = b0 * c1 - b1 * c0
    g2x = c1 * a2 - c2 * a1
    g2y = c2 * a0 - c0 * a2
    g2z = c0 * a1 - c1 * a0
    g3x = a1 * b2 - a2 * b1
    g3y = a2 * b0 - a0 * b2
    g3z = a0 * b1 - a1 * b0
    det = a0 * g1x + a1 * g1y + a2 * g1z
    return det, (
        -(g1x + g2x + g3x),
        -(g1y + g2y + g3y),
        -(g1z + g2z + g3z),
        g1x,
        g1y,
        g1z,
        g2x,
        g2y,
        g2z,
        g3x,
        g3y,
        g3z,
    )


@njit(cache=True, inline="always")
def _kept_add(x, w, warm_dx, j, gx, gy, gz, s):
    """Vertex j's part of :func:`nodal_kept_range`: W (gx, gy, gz) s into x and warm_dx (a tuple
    indexed in a loop is spilled to memory, so the corners are passed one by one)."""
    d = w[j, 0] * gx * s
    x[j, 0] += d
    warm_dx[j, 0] += d
    d = w[j, 1] * gy * s
    x[j, 1] += d
    warm_dx[j, 1] += d
    d = w[j, 2] * gz * s
    x[j, 2] += d
    warm_dx[j, 2] += d


@njit(cache=True)
def nodal_kept_range(x, w, tets, nodal, warm_dx, start, end):
    """Tets start..end-1 of :func:`nodal_kept_move` (tets of one slab block share no vertex with
    another block of the same phase, so the blocks of a phase may run in parallel)."""
    lam, tcoef = nodal[4], nodal[8]
    for t in range(start, end):
        i0, i1, i2, i3 = tets[t, 0], tets[t, 1], tets[t, 2], tets[t, 3]
        s = tcoef[t, 0] * lam[i0] + tcoef[t, 1] * lam[i1] + tcoef[t, 2] * lam[i2] + tcoef[t, 3] * lam[i3]
        if s == 0.0:
            continue
        _det, gr = _det_ds_gradients(x, i0, i1, i2, i3)
        _kept_add(x, w, warm_dx, i0, gr[0], gr[1], gr[2], s)
        _kept_add(x, w, warm_dx, i1, gr[3], gr[4], gr[5], s)
        _kept_add(x, w, warm_dx, i2, gr[6], gr[7], gr[8], s)
        _kept_add(x, w, warm_dx, i3, gr[9], gr[10], gr[11], s)


@njit(cache=True)
def nodal_kept_move(x, w, tets, Q, nodal, warm_dx, block_end=-1):
    """The warm start of the nodal volume constraints (:func:`solve_nodal_volume`): move every
    vertex by W G^T lam_kept with G the gradients at the current (predicted) positions, summed
    per tet (tet t's det Ds gradient times sum over its vertices i of lam_i V_t0 / (4 V_i0 det Dm),
    ``nodal[8]`` (m, 4)); summed into ``warm_dx``'s part not kept (never replayed).

    Order (:func:`nodal_kept_range`): the leftover tets (from ``block_end``, the body's
    ``block_offsets[-1]``; -1: none, all tets in stored order), then the slab blocks, as the
    one-launch frame runs them (:func:`_frame_worker`: the leftovers in the placement task, then
    the blocks phase by phase), so every path sums each vertex's moves in the same order."""
    m = tets.shape[0]
    b = m if block_end < 0 else block_end
    nodal_kept_range(x, w, tets, nodal, warm_dx, b, m)
    nodal_kept_range(x, w, tets, nodal, warm_dx, np.int64(0), b)  # int64: the other calls' version


@njit(cache=True, inline="always")
def _gather(g, j, c, gx, gy, gz):
    """g[j] += c (gx, gy, gz) (:func:`solve_nodal_range`'s pass 1)."""
    g[j, 0] += c * gx
    g[j, 1] += c * gy
    g[j, 2] += c * gz


@njit(cache=True)  # no fastmath: see solve_plain
def solve_nodal_range(x, x_prev, w, tets, nodal, inv_h2, g_damp, warm, warm_dx, start, end):
    """The vertex constraints ``order[start:end]`` of :func:`solve_nodal_volume`, in that order
    (one slab block, or the leftovers: see there)."""
    ptr, _inc, coef, alpha, lam, kept, g = nodal[:7]
    order, nptr, nbr, inc4 = nodal[9], nodal[12], nodal[13], nodal[14]
    for q in range(start, end):
        i = order[q]
        a, b = ptr[i], ptr[i + 1]
        na, nb = nptr[i], nptr[i + 1]
        for p in range(na, nb):
            j = nbr[p]
            g[j, 0] = 0.0
            g[j, 1] = 0.0
            g[j, 2] = 0.0
        C = -1.0
        # pass 1: the constraint and its gradient, gathered per vertex of the star
        for k in range(a, b):
            # the tet's corners from the incidence's own copy (no tets[inc[k]] indirection: x0.92)
            j0, j1, j2, j3 = inc4[k, 0], inc4[k, 1], inc4[k, 2], inc4[k, 3]
            det, gr = _det_ds_gradients(x, j0, j1, j2, j3)
            c = coef[k]  # V_t0 / (4 V_i0 det Dm): c det Ds = V_t0 J_t / (4 V_i0)
            C += c * det
            # corner by corner (a tuple indexed in a loop is spilled to memory)
            _gather(g, j0, c, gr[0], gr[1], gr[2])
            _gather(g, j1, c, gr[3], gr[4], gr[5])
            _gather(g, j2, c, gr[6], gr[7], gr[8])
            _gather(g, j3, c, gr[9], gr[10], gr[11])
        # pass 2: G W G^T and the rate G (x - x_prev) over the star's distinct vertices
        s = 0.0
        rate = 0.0
        for p in range(na, nb):
            j = nbr[p]
            s += w[j, 0] * g[j, 0] * g[j, 0] + w[j, 1] * g[j, 1] * g[j, 1] + w[j, 2] * g[j, 2] * g[j, 2]
            if g_damp > 0.0:
                for r in range(3):
                    rate += g[j, r] * (x[j, r] - x_prev[j, r])
        at = alpha[i] * inv_h2
        l0 = lam[i] if warm != 0.0 else 0.0
        denom = (1.0 + g_damp) * s + at
        dl = 0.0
        if s > 0.0 and denom > 0.0:
            dl = (-C - at * l0 - g_damp * rate) / denom
            if not np.isfinite(dl):
                dl = 0.0
        l1 = l0 + dl
        kt = kept[i]
        J = C + 1.0
        if J < 0.5 or J > 2.0:  # far from rest (crushed, inverted, overstretched): keep nothing
            kt = 0.0
        if warm != 0.0:
            lam[i] = kt * l1
        # pass 3: move the star's vertices
        for p in range(na, nb):
            j = nbr[p]
            for r in range(3):
                d = w[j, r] * g[j, r] * dl
                x[j, r] += d
                if warm != 0.0:  # never replayed (see solve_nodal_volume)
                    warm_dx[j, r] += d


@njit(cache=True, parallel=True)
def solve_nodal_blocks(x, x_prev, w, tets, nodal, inv_h2, g_damp, warm, warm_dx, b0, b1):
    """Vertex-constraint blocks b0..b1-1 of :func:`solve_nodal_volume` in parallel: the blocks
    of one phase touch no common vertex (nor ``g``'s rows), so no races."""
    boff = nodal[10]
    for b in prange(b0, b1):
        solve_nodal_range(x, x_prev, w, tets, nodal, inv_h2, g_damp, warm, warm_dx, boff[b], boff[b + 1])


@njit(cache=True)
def solve_nodal_volume(x, x_prev, w, tets, Q, nodal, inv_h2, g_damp, warm, warm_dx, parallel=False):
    """One Gauss-Seidel sweep of the nodal volume constraints (``SoftBody.volume == "nodal"``;
    Irving, Schroeder & Fedkiw 2007; Bonet & Burton 1998's averaged nodal pressure).

    Per vertex i: V_i(x) = sum over its tets of V_t(x) / 4, C_i = V_i / V_i0 - 1, compliance
    1 / (lambda V_i0) (lambda: Lame's first parameter, ``Material.lam``); the tets keep a
    hydrostatic constraint of stiffness mu only (see ``SoftBody.volume``). ``nodal`` = (ptr, inc,
    coef, alpha, lam, kept, g, stamp, tcoef, order, block_offsets, phase_offsets, nptr, nbr,
    inc_tets): the
    vertex -> tet incidence in CSR form (``inc[ptr[i]:ptr[i + 1]]``), per incidence
    V_t0 / (4 V_i0 det Dm_t) (so, with J_t = det Ds_t / det Dm_t, C_i = sum coef det Ds_t - 1
    and grad C_i = sum coef grad det Ds_t), per vertex the compliance, the kept multiplier, the
    kept fraction, scratch (n, 3) float64 for the gradient gathered over the vertex's star (so
    no allocation; ``stamp``: unused), per tet the kept move's coefficients
    (:func:`nodal_kept_move`), the sweep order, each vertex's star's distinct vertices
    (``nbr[nptr[i]:nptr[i + 1]]``), and per incidence its tet's corners (``tets[inc]``).

    Order: ``order`` (``NodalVolume.order``, :func:`vrmed.mesh.partition.vertex_slab_partition`):
    the blocks of phase 0, of phase 1, then the leftovers. Constraint i reads and moves the
    vertices of i's star only, and no two constraints of different blocks of one phase touch a
    common vertex, so the blocks of a phase run in parallel (``parallel``: one launch per phase,
    :func:`solve_nodal_blocks`; the one-launch frame makes them tasks, :func:`_frame_worker`)
    with the result of this serial sweep, bit for bit, on any number of threads.

    Warm-started when ``warm`` != 0: :func:`nodal_kept_move` moved the vertices by the kept
    correction W G^T lam_kept (G at the substep's predicted positions) before the tet sweep, so
    the step is dlam = (-C - alpha~ lam_kept - g v) / ((1 + g) G W G^T + alpha~) and moves by
    W G^T dlam; none of the nodal corrections goes into the warm start's replayed ``warm_dx``
    (they are summed into its part not kept), and ``lam`` keeps the fraction ``kept`` of
    lam_kept + dlam. Why not replay them in the prediction as the tets' are: a replayed
    W G_old^T lam acts along the last substep's gradients, and on a free bar under end loads
    (tests/test_tissue_accuracy.py) that stale part spun the bar up about its axis (angular
    momentum x4.5 every 30 frames; the tets replace their replayed part for the same reason,
    :func:`solve_warm`). Plain XPBD (``warm`` 0) starts from 0.
    """
    boff, poff = nodal[10], nodal[11]
    nb = boff.shape[0] - 1
    if parallel:
        for ph in range(poff.shape[0] - 1):
            solve_nodal_blocks(x, x_prev, w, tets, nodal, inv_h2, g_damp, warm, warm_dx, poff[ph], poff[ph + 1])
    else:
        solve_nodal_range(x, x_prev, w, tets, nodal, inv_h2, g_damp, warm, warm_dx, np.int64(0), boff[nb])
    solve_nodal_range(x, x_prev, w, tets, nodal, inv_h2, g_damp, warm, warm_dx, boff[nb], nodal[9].shape[0])


@njit(cache=True)
def solve_substep(
    state,
    model,
    attachment,
    slides,
    gravity,
    h,
    frac,
    gamma,
    beta,
    lin_damp,
    warm,
    recover=True,
    volume_barrier=None,
    nodal=None,
    keep_release=False,
    pull_back=None,
    springs=None,
    slow_held=False,
    tools=None,
    u=0.0,
    u_prev=0.0,
    scratch=None,
):
    """One substep up to the velocity update: predict, place the built-in kinematic constraints
    (attachments, slide planes) at ``frac`` of the step, project every tet (the warm start's
    kept corrections are then finished by :func:`finish_warm_start`).

    The argument groups are tuples of arrays (numba unpacks them for free):
    ``state`` = (x, v, x_prev, inv_mass, f_ext, lam, warm_d, warm_dx, warm_t), ``model`` = (tets, dm_inv,
    alpha_dev, alpha_hyd, block_offsets, phase_offsets, near, hold) with ``near`` (m,) bool scratch for
    the inversion recovery (:func:`recover_pass`, run after the sweep when ``recover``) and
    ``hold`` (n,) bool, the vertices a tool contact pushed in the last tick (the recovery keeps
    them where they are),
    ``attachment`` / ``slides`` = the built-in constraints' ``arrays()``. Pins need no
    projection: their inverse mass is zero.
    ``phase_offsets`` = [0, n_even, n_even + n_odd]: the block ranges of the two parallel
    phases; tets from ``block_offsets[-1]`` on are the leftovers, solved serially (all tets of a
    body under :data:`PARALLEL_MIN_TETS`, in the same order).

    ``warm`` != 0 switches on the warm start (docs/physics.md, "Warm start"): each tet starts
    from the multipliers kept from the last substep, ``lam`` (m, 2), and the prediction holds the
    corrections they made, ``warm_dx`` (n, 3; per tet ``warm_d`` (m, 10) float32, vertices 1-3);
    tet t keeps the fraction ``warm_t[t]`` (set from its stiffness ratio by the solver) of its
    new multipliers for the next substep. Fully kept
    (1), a static equilibrium is an exact fixed point of the one Gauss-Seidel iteration; plain
    XPBD (``warm`` = 0) is biased by about the stiffness ratio.

    ``volume_barrier``: None (the default) for a body without the volume barrier, True for one
    built with it (``lam`` (m, 3); see :func:`step_kernel`).

    ``nodal``: None (the default), or for a body with nodal volume constraints the tuple of
    :func:`solve_nodal_volume`, swept after the tets and before the inversion recovery.

    ``keep_release``: the step filter's ``release`` (:func:`keep_filter`; False, the default:
    the filter as before).

    ``springs``: a body's ligament springs (:func:`pull_springs`), pulled right after the
    prediction; the solver passes ``springs.NO_SPRINGS`` (none) for a body without, so both run
    one compiled version (None, the default for direct callers, compiles the pull out).

    ``tools``: None (the default: compiled out, numba prunes every branch on it), or the tools in
    the sweep (:func:`step_kernel_tools`) with the substep's share ``u_prev``..``u`` of their
    move: each tet with a candidate vertex is followed by their projection out of the tools
    (:func:`solve_range_tools`), and the candidates are projected once more at the end
    (:func:`_tools_final_passes`).
    """
    x, v, x_prev, w, f_ext, lam, warm_d, warm_dx, warm_t = state
    tets, Q, alpha_dev, alpha_hyd, block_offsets, phase_offsets, near, hold = model
    kin_idx, kin_start, kin_target = attachment
    slide_idx, slide_axis, slide_start, slide_target = slides
    inv_h2 = 1.0 / (h * h)
    g_damp = beta / h
    nb = block_offsets.shape[0] - 1
    if warm == 0.0:
        predict(x, v, x_prev, w, f_ext, gravity, h, lin_damp)
    else:
        predict_warm(x, v, x_prev, w, f_ext, gravity, h, lin_damp, warm_dx)
    if springs is not None:  # (numba prunes it where springs is None; none in springs.NO_SPRINGS)
        if springs[0].shape[0] > 0:
            pull_springs(x, x_prev, v, w, f_ext, h, springs)
    if kin_idx.shape[0] > 0:
        place_kinematic(x, kin_idx, kin_start, kin_target, frac)
    if slide_idx.shape[0] > 0:
        place_sliding(x, slide_idx, slide_axis, slide_start, slide_target, frac)
    if nodal is not None and warm != 0.0:
        nodal_kept_move(x, w, tets, Q, nodal, warm_dx, block_offsets[nb])
    # A small body is swept serially in the stored order, which is the order of the phases:
    # the blocks of a phase share no vertex, so the result is bit-identical, without the two
    # parallel launches per substep that cost more than they save there (PARALLEL_MIN_TETS).
    first = block_offsets[nb] if tets.shape[0] >= PARALLEL_MIN_TETS else 0
    # the volume barrier (solve_warm) runs in substeps that start with a flagged tet (it acts only
    # near flagged tets; a body with none keeps the sweep without it)
    barrier = recover and any_flagged(near)
    if first > 0:
        for ph in range(phase_offsets.shape[0] - 1):
            if tools is not None:
                # fmt: off
                solve_blocks_tools(
                    x, x_prev, w, tets, Q, alpha_dev, alpha_hyd, near, lam, warm_d, warm_t, warm_dx, gamma, inv_h2,
                    g_damp, warm, block_offsets, phase_offsets[ph], phase_offsets[ph + 1], barrier, volume_barrier,
                    tools, u, u_prev, slow_held, hold,
                )
                # fmt: on
                continue
            solve_blocks(
                x,
                x_prev,
                w,
                tets,
                Q,
                alpha_dev,
                alpha_hyd,
                near,
                lam,
                warm_d,
                warm_t,
                warm_dx,
                gamma,
                inv_h2,
                g_damp,
                warm,
                block_offsets,
                phase_offsets[ph],
                phase_offsets[ph + 1],
                barrier,
                volume_barrier,
                slow_held,
                hold,
            )
    if tools is not None:
        # fmt: off
        solve_range_tools(
            x, x_prev, w, tets, Q, alpha_dev, alpha_hyd, near, lam, warm_d, warm_t, warm_dx, gamma, inv_h2, g_damp,
            warm, first, tets.shape[0], barrier, volume_barrier, tools, u, u_prev, slow_held, hold,
        )
        # fmt: on
    else:
        # fmt: off
        solve_range(
            x, x_prev, w, tets, Q, alpha_dev, alpha_hyd, near, lam, warm_d, warm_t, warm_dx, gamma, inv_h2, g_damp,
            warm, first, tets.shape[0], barrier, volume_barrier, slow_held, hold,
        )
        # fmt: on
    if nodal is not None:  # numba prunes it for every other body
        solve_nodal_volume(x, x_prev, w, tets, Q, nodal, inv_h2, g_damp, warm, warm_dx, first > 0)
    if recover and any_flagged(near):  # the recovery is a no-op without flags; this scan is cheaper
        # the caller's kept scratch (``scratch``, see step_kernel), else one for this substep (numba
        # prunes the branches on its type)
        if scratch is None:
            sc = recovery_scratch(tets, Q, w)
        elif scratch.shape[0] == 0:
            sc = recovery_scratch(tets, Q, w)
        else:
            sc = scratch
        # fmt: off
        recover_and_keep(
            x, x_prev, w, tets, Q, near, warm_dx, warm != 0.0, hold, sc, keep_release, pull_back, v, h
        )
        # fmt: on
    if tools is not None:
        _tools_final_passes(x, x_prev, w, warm_dx, warm, tets, tools, u, u_prev)


def recover_scratch_size(n_tets: int, n_vertices: int) -> int:
    """Length of the int64 scratch :func:`recover_flagged`, :func:`keep_filter` and
    :func:`recover_and_keep` take (:func:`recovery_scratch` allocates and fills one)."""
    return 10 * n_tets + 2 * n_vertices + 1


@njit(cache=True)
def recovery_scratch(tets, Q, w):
    """The int64 scratch of :func:`recover_flagged`, :func:`keep_filter` and
    :func:`recover_and_keep` for a body with inverse masses ``w`` (n, 3): [0, 2m) the recovery's
    list of flagged tets and their check counts, [2m, 2m + n) its per-vertex stamps, then the
    vertex -> tet adjacency (CSR: n + 1 offsets, 4m tets), m bytes of the filter's pending flags
    and m of :func:`recover_and_keep_flagged`'s recheck marks (in m entries), the recovery's last
    det F per listed tet (m float64), per tet the signed volume x 6 below which det F <
    RECOVER_J (``RECOVER_J / det Q``; m float64) and the list of flags :func:`recover_and_keep`
    adds for one substep (m). Built in ~4 passes over the tets (a fraction of one substep's
    recovery work): once per frame of a body with flagged tets by :func:`step_kernel` called
    without one, once per body by the solver (``solver._recovery_scratch``)."""
    m = tets.shape[0]
    n = w.shape[0]
    scratch = np.empty(10 * m + 2 * n + 1, dtype=np.int64)
    thr = scratch[8 * m + 2 * n + 1 : 9 * m + 2 * n + 1].view(np.float64)
    for t in range(m):
        thr[t] = _flag_threshold(Q, t)
    _fill_adjacency(tets, n, scratch)
    return scratch


@njit(cache=True)
def _fill_adjacency(tets, n, scratch):
    """The vertex -> tet adjacency part of :func:`recovery_scratch` (CSR)."""
    m = tets.shape[0]
    off = scratch[2 * m + n : 2 * m + 2 * n + 1]
    adj = scratch[2 * m + 2 * n + 1 : 6 * m + 2 * n + 1]
    off[:] = 0
    for t in range(m):
        for c in range(4):
            off[tets[t, c] + 1] += 1
    for i in range(n):
        off[i + 1] += off[i]
    for t in range(m):  # fill each vertex's range from its back (the order within does not matter)
        for c in range(3, -1, -1):
            i = tets[t, c]
            off[i + 1] -= 1
            adj[off[i + 1]] = t
    # off[i + 1] now holds the start of i's range (i + 1's was moved to it): shift back
    for i in range(n):
        off[i] = off[i + 1]
    off[n] = 4 * m


@njit(cache=True, inline="always")
def _flag_threshold(Q, t):
    """RECOVER_J x 6 V_rest of tet t (det F = signed_volume6 x det Q < RECOVER_J below it), -inf
    where it has no positive rest volume (never flagged)."""
    dq = Q[t, 0, 0] * (Q[t, 1, 1] * Q[t, 2, 2] - Q[t, 1, 2] * Q[t, 2, 1])
    dq -= Q[t, 0, 1] * (Q[t, 1, 0] * Q[t, 2, 2] - Q[t, 1, 2] * Q[t, 2, 0])
    dq += Q[t, 0, 2] * (Q[t, 1, 0] * Q[t, 2, 1] - Q[t, 1, 1] * Q[t, 2, 0])
    if not dq > 0.0:
        return -np.inf
    return RECOVER_J / dq


@njit(cache=True)
def recover_pass(x, x_prev, w, tets, Q, near, warm_dx, track, hold):
    """:func:`recover_flagged` with its own scratch (allocated here, for direct calls; the
    solver's substep and frame kernels build one per substep or frame)."""
    scratch = np.empty(10 * tets.shape[0] + 2 * x.shape[0] + 1, dtype=np.int64)  # no adjacency needed
    # None, not omitted: the solver's own compiled version (an omitted argument compiles another)
    recover_flagged(x, x_prev, w, tets, Q, near, warm_dx, track, hold, scratch, None)


@njit(cache=True)
def recover_flagged(x, x_prev, w, tets, Q, near, warm_dx, track, hold, scratch, pull_back=None):
    """Inversion recovery after the tet sweep (see :func:`_recover_tet`): up to
    :data:`RECOVER_SWEEPS` serial sweeps over the tets flagged in ``near`` until none is below
    :data:`RECOVER_J`, then the flags of the tets left at or above :data:`RECOVER_CHECK` are
    cleared. ``scratch``: int64, at least :func:`recover_scratch_size` long. ``pull_back``: see
    :func:`_recover_tet` (opt-in). Returns the number of flagged tets it listed (``scratch[:count]``).

    The flags are sticky: the tet sweep sets a tet's flag when it starts its block step below
    :data:`RECOVER_CHECK` and only this pass clears it. Why: in a loaded tangle (the raptor
    hanging from its pinned feet) a tet the recovery lifted to det F = 0.1 comes back into the next substep
    above 0.5 (the recovery's velocity) and is flattened again by a neighbour after its own
    block step; flagged only by its own step it was then left inverted (76 tets at rest on the
    raptor as shipped, 9 of the first 25 unflagged in the last substep; sticky: 42, docs/physics.md).

    Vertices in ``hold`` (n,) bool (those a tool contact pushed in the last tick; empty for
    none) count as infinitely heavy, and a tet with one gets only :data:`RECOVER_SWEEPS_HELD`
    sweeps: a tet crushed under a tool is lifted by moving its other
    vertices away from the tool, not its contact vertices back into it (with them free, the
    recovery and the contact projection undo each other every substep: the 40 mm box press at
    0.5 m/s threw vertices at 11.5x the tool speed, 8.3x held; docs/physics.md "Inversion
    recovery").

    Cost: the flagged tets are listed once (the first scan of the flags), and a later sweep
    skips a tet that the last one left where it was (at or above RECOVER_J, or with no
    direction to move) unless a vertex of it has moved since (a per-vertex stamp of the last
    move): its projection is a function of its four positions, so it would again do nothing.
    The flags are then cleared from the det F of that last check where nothing moved since.
    The result is bit-identical to sweeping every flagged tet; on the raptor as shipped at rest
    (~716 flagged tets, 8 sweeps) it halves the pass (docs/physics.md, "Inversion recovery")."""
    m = tets.shape[0]
    n = x.shape[0]
    held = hold.shape[0] == n
    lst = scratch[:m]  # the flagged tets, in stored order
    since = scratch[m : 2 * m]  # per listed tet: the move count when it was last left as it was
    stamp = scratch[2 * m : 2 * m + x.shape[0]]  # per vertex: the move count when it last moved
    last_j = scratch[7 * m + 2 * n + 1 : 8 * m + 2 * n + 1].view(np.float64)  # det F at that check
    cnt = 0
    words = near[: (m // 8) * 8].view(np.uint64)  # 8 flags per read, as any_flagged
    for q in range(words.shape[0] + 1):
        if q < words.shape[0] and words[q] == 0:
            continue
        for t in range(8 * q, min(8 * q + 8, m)):
            if near[t]:
                lst[cnt] = t
                since[cnt] = -1  # not checked yet
                cnt += 1
                for c in range(4):
                    stamp[tets[t, c]] = -1
    moves = 0
    for sweep in range(RECOVER_SWEEPS):
        again = False
        for k in range(cnt):
            t = _U(lst[k])  # unsigned indices: see _U
            i0, i1, i2, i3 = _U(tets[t, 0]), _U(tets[t, 1]), _U(tets[t, 2]), _U(tets[t, 3])
            ok = since[k]
            if ok >= 0 and stamp[i0] <= ok and stamp[i1] <= ok and stamp[i2] <= ok and stamp[i3] <= ok:
                continue  # nothing of it moved since it was left as it was
            s0 = 0.0 if held and hold[i0] else 1.0
            s1 = 0.0 if held and hold[i1] else 1.0
            s2 = 0.0 if held and hold[i2] else 1.0
            s3 = 0.0 if held and hold[i3] else 1.0
            touched = s0 * s1 * s2 * s3 == 0.0  # a tool holds a vertex of this tet
            if touched and sweep >= RECOVER_SWEEPS_HELD:
                continue
            # fmt: off
            moved, J = _recover_tet(
                x, x_prev, Q, t, i0, i1, i2, i3,
                s0 * w[i0, 0], s0 * w[i0, 1], s0 * w[i0, 2], s1 * w[i1, 0], s1 * w[i1, 1], s1 * w[i1, 2],
                s2 * w[i2, 0], s2 * w[i2, 1], s2 * w[i2, 2], s3 * w[i3, 0], s3 * w[i3, 1], s3 * w[i3, 2],
                warm_dx, track, touched, pull_back,
            )
            # fmt: on
            if moved:
                moves += 1
                stamp[i0] = moves
                stamp[i1] = moves
                stamp[i2] = moves
                stamp[i3] = moves
                since[k] = -1
                again = True
            else:
                since[k] = moves
                last_j[k] = J
        if not again:
            break
    for k in range(cnt):  # clear the flags of the tets back at or above RECOVER_CHECK
        t = _U(lst[k])
        i0, i1, i2, i3 = _U(tets[t, 0]), _U(tets[t, 1]), _U(tets[t, 2]), _U(tets[t, 3])
        ok = since[k]
        if ok >= 0 and stamp[i0] <= ok and stamp[i1] <= ok and stamp[i2] <= ok and stamp[i3] <= ok:
            J = last_j[k]  # unmoved since its last check: the det F computed there (same arithmetic)
        else:
            F = _deformation_gradient(x, i0, i1, i2, i3, Q, t)
            cof = _cofactor(F)
            J = F[0] * cof[0] + F[1] * cof[1] + F[2] * cof[2]
        if J >= RECOVER_CHECK:
            near[t] = False
    return cnt


#: Scans over every tet :func:`keep_uninverted` makes at most per substep (it stops at the first
#: scan that finds no newly inverted tet).
KEEP_SCANS = 16


@njit(cache=True, inline="always")
def signed_volume6(x, tets, t):
    """det[x1-x0, x2-x0, x3-x0]: 6 x the signed volume, the sign of det F (rest tets are positive)."""
    u = _U(t)  # unsigned indices: see _U
    i0, i1, i2, i3 = _U(tets[u, 0]), _U(tets[u, 1]), _U(tets[u, 2]), _U(tets[u, 3])
    a0, a1, a2 = x[i1, 0] - x[i0, 0], x[i1, 1] - x[i0, 1], x[i1, 2] - x[i0, 2]
    b0, b1, b2 = x[i2, 0] - x[i0, 0], x[i2, 1] - x[i0, 1], x[i2, 2] - x[i0, 2]
    c0, c1, c2 = x[i3, 0] - x[i0, 0], x[i3, 1] - x[i0, 1], x[i3, 2] - x[i0, 2]
    return a0 * (b1 * c2 - b2 * c1) + a1 * (b2 * c0 - b0 * c2) + a2 * (b0 * c1 - b1 * c0)


@njit(cache=True)
def keep_uninverted(x, x_prev, w, tets, warm_dx, track, hold, release=False):
    """:func:`keep_filter` with its own scratch (allocated here, for direct calls; the solver's
    substep and frame kernels build one per substep or frame). Returns the number of tets it
    acted on."""
    scratch = np.empty(10 * tets.shape[0] + 2 * x.shape[0] + 1, dtype=np.int64)
    _fill_adjacency(tets, x.shape[0], scratch)
    return keep_filter(x, x_prev, w, tets, warm_dx, track, hold, scratch, release)


@njit(cache=True)
def keep_filter(x, x_prev, w, tets, warm_dx, track, hold, scratch, release=False):
    """No tet that was uninverted at the start of the substep ends it inverted: after
    :func:`recover_pass`, every tet with det F <= 0 at ``x`` but > 0 at ``x_prev`` (where the
    substep started) has its free vertices put back where the substep started; the scan repeats
    (a vertex put back can invert a neighbour) until a scan finds none, at most
    :data:`KEEP_SCANS`. Returns the number of tets it acted on.

    Why: the recovery projects a tet that is already inverted, and once a fold has formed (the
    raptor as shipped falling over its pinned feet at 1-5 m/s moves vertices by more than a 2 mm
    tet per substep) lifting one tet of it inverts its neighbours: 42 tets stayed inverted at
    rest, and untangling that state offline (vertex-wise max-min det F, Freitag & Plassmann 2000)
    let it re-form within 1 s (docs/physics.md, "Inversion recovery"). Not letting a tet's step
    cross det F = 0 is the inversion-free step filter of mesh parameterisation and incremental
    potential contact (Smith & Schaefer 2015, "Bijective parameterization with free boundaries";
    Li et al. 2020, "Incremental potential contact"), applied per tet: with all its vertices back
    at ``x_prev`` such a tet is uninverted, so the loop ends. The cancelled step counts in the
    velocity (an inelastic stop, as the recovery's) and, when ``track``, goes into ``warm_dx`` as a
    part not kept. Axes with inverse mass 0 (pins, attachments, slide planes) are not moved.
    Tets with a vertex a tool contact holds (``hold``) are skipped: the tool crushes them (the
    contact's job); processed with only their held vertices kept, the 40 mm box press threw
    vertices at 2.3x (0.5 m/s, test bound 1.5x for contact vertices) and 6x (2 m/s, bound 4x)
    the tool speed, and tissue struck by a shaft slid 1.64 mm along it (bound 1 mm;
    tests/test_tissue_contact.py). Tets inverted at the substep's start (a crushed or mirrored
    body) are left to the recovery.

    With ``release`` (the solver sets it, ``SoftBody.keep_release``, only for a body whose fold the
    untangling has failed to open after ``solver.RELEASE_WAIT`` stuck) a tet is also left
    alone when it shares a vertex with another tet that was inverted where the substep started
    and has no held vertex (:func:`_next_to_start_inversion`): the tangle's first ring may invert,
    so the fold can move. Why: the filter can lock a fold for good. On the half-mirrored
    armadillo (an outside check of issue #16, item 2) 4 flagged tets crushed to det F ~ -1e-6
    stayed inverted at rest: every substep the sweep and the recovery moved the fold (65 tets
    inverted after the sweep, 32 after the recovery) and the filter put back each vertex of the
    62 tets that had turned inverted, which restored the substep's start bit for bit (the body
    frozen, 1e-4 m/s); the untangling (:func:`untangle`) could not open it either. Released, the
    elastic solve opens it (0 inverted, at rest; docs/physics.md, "Inversion recovery").

    ``scratch``: from :func:`recovery_scratch` (its adjacency and pending flags are used).
    A rescan checks only the tets a vertex of which was put back after that tet's check (marked
    through the vertex -> tet adjacency in ``scratch``): the others are as they were then, so
    the result is bit-identical to rescanning every tet, at a fraction of the cost (the raptor
    as shipped at rest puts back ~95 tets per substep over 3-4 scans)."""
    m = tets.shape[0]
    n = x.shape[0]
    pending = scratch[6 * m + 2 * n + 1 : 7 * m + 2 * n + 1].view(np.uint8)[:m]
    # The first scan in two passes: which tets are not positive now (a pass with no branch: half
    # the time of the test-and-skip loop, 74 vs 137 us for the raptor's 19,409 tets on the loaded
    # VM), then the scan proper over those; a tet that a put-back vertex changes before its turn
    # is marked by the put-back (see _keep_scans), so this is the one-pass scan's result.
    for t in range(m):
        pending[t] = not (signed_volume6(x, tets, t) > 0.0)
    return _keep_scans(x, x_prev, w, tets, warm_dx, track, hold, scratch, release)


@njit(cache=True, inline="always")
def _next_to_start_inversion(x_prev, tets, off, adj, t, hold, held):
    """Whether tet t shares a vertex with another tet that was inverted (det F <= 0) where the
    substep started (``x_prev``) and has no vertex a tool contact holds (``hold``): a tet of an
    existing tangle's first ring, which :func:`keep_filter` lets invert (see there). Reads
    only the vertex -> tet adjacency (``off``, ``adj``), for the few tets the filter would act on."""
    for c in range(4):
        i = tets[t, c]
        for k in range(off[i], off[i + 1]):
            u = adj[k]
            if u == t or signed_volume6(x_prev, tets, u) > 0.0:
                continue
            if held and (hold[tets[u, 0]] or hold[tets[u, 1]] or hold[tets[u, 2]] or hold[tets[u, 3]]):
                continue  # crushed by a tool: the tets around it stay filtered (the contact's)
            return True
    return False


@njit(cache=True)
def _keep_scans(x, x_prev, w, tets, warm_dx, track, hold, scratch, release=False):
    """The scans of :func:`keep_filter`, given its pending marks in ``scratch`` (every tet not
    positive at ``x``); returns the number of tets acted on."""
    held = hold.shape[0] == x.shape[0]
    m = tets.shape[0]
    n = x.shape[0]
    off = scratch[2 * m + n : 2 * m + 2 * n + 1]  # vertex -> tets (recovery_scratch)
    adj = scratch[2 * m + 2 * n + 1 : 6 * m + 2 * n + 1]
    pending = scratch[6 * m + 2 * n + 1 : 7 * m + 2 * n + 1].view(np.uint8)[:m]
    words = pending[: (m // 8) * 8].view(np.uint64)  # 8 flags per read (most are 0)
    acted = 0
    for _scan in range(KEEP_SCANS):
        found = False
        for q in range(words.shape[0] + 1):
            if q < words.shape[0] and words[q] == 0:
                continue
            for t in range(8 * q, min(8 * q + 8, m)):
                if pending[t] == 0:
                    continue  # none of its vertices was put back since its last check: as it was then
                pending[t] = 0
                if signed_volume6(x, tets, t) > 0.0 or not signed_volume6(x_prev, tets, t) > 0.0:
                    continue
                i0, i1, i2, i3 = tets[t, 0], tets[t, 1], tets[t, 2], tets[t, 3]
                if held and (hold[i0] or hold[i1] or hold[i2] or hold[i3]):
                    continue  # a tool crushes this tet: the contact's job (see the docstring)
                if release and _next_to_start_inversion(x_prev, tets, off, adj, t, hold, held):
                    continue  # part of a tangle that was already there: let it move (see the docstring)
                found = True
                acted += 1
                for c in range(4):
                    i = tets[t, c]
                    for r in range(3):
                        if w[i, r] > 0.0:
                            if track:
                                warm_dx[i, r] += x_prev[i, r] - x[i, r]
                            x[i, r] = x_prev[i, r]
                    # its tets after t are checked later in this scan, those up to t in the next
                    for k in range(off[i], off[i + 1]):
                        pending[adj[k]] = 1
        if not found:
            break
    return acted


@njit(cache=True)
def recover_and_keep(
    x, x_prev, w, tets, Q, near, warm_dx, track, hold, scratch, release=False, pull_back=None, v=None, h=0.0
):
    """The end of a substep with flagged tets: flag, for this substep only, every tet the sweep
    left flattened (0 < det F < :data:`RECOVER_J`, with a free axis), then :func:`recover_flagged`
    (those flags are cleared after it), :func:`keep_filter` and, if the filter acted,
    :func:`_lift_put_back` (a flat tet it put back). ``scratch`` from :func:`recovery_scratch`
    (built for this ``w``). Returns the tets the filter acted on. With ``v`` (the predicted
    velocities) and ``h`` (the substep), in a substep where the filter did not act, a free body's
    internal move loses its net linear and angular momentum by one rigid motion
    (:func:`momentum_repair`); the solver passes them, the kernel tests' direct calls do not.

    Why the extra flags: the sweep flags a tet below RECOVER_CHECK when its own block step starts;
    one that its neighbours' later steps flatten is missed. On the raptor as shipped in the
    catalogue's gravity setup (8 /s) such a tet (det F 0.011-0.018 after every sweep, 0.5 or more
    at its own step) kept vertex 2772 in a period-2 cycle with a flagged neighbour's recovery:
    0.040 m/s at rest; flagged, 1e-5 m/s (docs/physics.md, "Inversion recovery"). Only positive
    tets below the recovery's floor: flagging every tet below RECOVER_CHECK (inverted ones too)
    also stopped that cycle, but in the 30 mm press at 0.5 m/s it left a layer of tets collapsed
    to det F ~ 0 after the tool was lifted, one inverted for good (the untangling cannot open a
    tet whose neighbours are all flat). Not sticky: sticky, they kept ~200 more tets in the
    recovery's sweeps at rest (x1.07 the raptor's frame). The signed volumes this needs are those
    the filter's first scan needs: one pass gives both (the recovery moves only vertices of
    flagged tets; the tets around those it moved are tested again after it)."""
    flag_flattened(x, w, tets, near, scratch, np.int64(0), tets.shape[0])
    # fmt: off
    return recover_and_keep_flagged(
        x, x_prev, w, tets, Q, near, warm_dx, track, hold, scratch, np.int64(1), release, pull_back, v, h,
    )
    # fmt: on


@njit(cache=True)
def flag_flattened(x, w, tets, near, scratch, lo, hi):
    """The first part of :func:`recover_and_keep` for tets lo..hi-1: the filter's first-scan
    marks (not positive), this substep's extra flags (listed from ``lo`` in the scratch's list of
    added flags, ended by -1 if fewer than hi - lo) and the recheck's marks cleared (see
    :func:`recover_and_keep_flagged`). Tets in disjoint ranges touch disjoint entries, so the
    frame kernel runs it in chunks on its threads (:func:`_frame_worker`). Returns the tets
    flagged."""
    m = tets.shape[0]
    n = x.shape[0]
    marks = scratch[6 * m + 2 * n + 1 : 7 * m + 2 * n + 1].view(np.uint8)
    thr = scratch[8 * m + 2 * n + 1 : 9 * m + 2 * n + 1].view(np.float64)
    newf = scratch[9 * m + 2 * n + 1 : 10 * m + 2 * n + 1]
    nnew = lo
    for t in range(lo, hi):
        v6 = signed_volume6(x, tets, t)
        marks[t] = not (v6 > 0.0)  # the filter's pending flag (bytes 0..m-1)
        marks[m + t] = 0  # the recheck's (bytes m..2m-1)
        if 0.0 < v6 < thr[t]:  # 0 < det F < RECOVER_J (rare): flag it unless it has no free axis
            free = 0.0
            for c in range(4):
                i = tets[t, c]
                free += w[i, 0] + w[i, 1] + w[i, 2]
            if free != 0.0 and not near[t]:  # (as the sweep, which never flags a tet with no free axis)
                near[t] = True
                newf[nnew] = t
                nnew += 1
    if nnew < hi:
        newf[nnew] = -1
    return nnew - lo


@njit(cache=True)
def recover_and_keep_flagged(
    x, x_prev, w, tets, Q, near, warm_dx, track, hold, scratch, chunks, release=False, pull_back=None, v=None, h=0.0
):
    """The rest of :func:`recover_and_keep` after :func:`flag_flattened` has run over the tets in
    ``chunks`` equal ranges (c m // chunks .. (c + 1) m // chunks): :func:`recover_flagged`, the
    added flags cleared, the tets around the vertices the recovery moved checked again (each
    once: a tet around several of them was checked for each, ~2.3x the work on the raptor as
    shipped; its marks are ``flag_flattened``'s, same result), :func:`keep_filter`'s scans, the
    lift and the momentum repair (arguments as :func:`recover_and_keep`)."""
    m = tets.shape[0]
    n = x.shape[0]
    pending = scratch[6 * m + 2 * n + 1 : 7 * m + 2 * n + 1].view(np.uint8)[:m]
    checked = scratch[6 * m + 2 * n + 1 : 7 * m + 2 * n + 1].view(np.uint8)[m : 2 * m]
    newf = scratch[9 * m + 2 * n + 1 : 10 * m + 2 * n + 1]
    cnt = recover_flagged(x, x_prev, w, tets, Q, near, warm_dx, track, hold, scratch, pull_back)
    for c in range(chunks):  # these flags last this substep only
        hi = (c + 1) * m // chunks
        for k in range(c * m // chunks, hi):
            if newf[k] < 0:
                break
            near[newf[k]] = False
    lst = scratch[:cnt]
    stamp = scratch[2 * m : 2 * m + n]  # > 0: the recovery moved the vertex (set for listed tets' vertices)
    off = scratch[2 * m + n : 2 * m + 2 * n + 1]
    adj = scratch[2 * m + 2 * n + 1 : 6 * m + 2 * n + 1]
    for k in range(cnt):
        for c in range(4):
            i = tets[lst[k], c]
            if stamp[i] > 0:
                stamp[i] = 0  # once per vertex
                for a in range(off[i], off[i + 1]):
                    u = adj[a]
                    if checked[u] == 0:  # once per tet (nothing moves in this loop)
                        checked[u] = 1
                        pending[u] = not (signed_volume6(x, tets, u) > 0.0)
    acted = _keep_scans(x, x_prev, w, tets, warm_dx, track, hold, scratch, release)
    if acted > 0:
        _lift_put_back(x, x_prev, w, tets, Q, hold, scratch, cnt)
    if v is not None and acted == 0:  # numba prunes it where v is None
        rigid = momentum_repair(x, x_prev, v, w, h, hold)
        if rigid[0]:
            _move_rigid(x, warm_dx, track, *rigid[1:])
    return acted


@njit(cache=True)
def momentum_repair(x, x_prev, v, w, h, hold):
    """For a free body (every axis of every vertex free, no vertex a tool holds), the rigid
    motion that removes the net linear and angular momentum of the substep's internal move,
    ``d = x - x_prev - h v`` (``v`` the predicted velocity: what the warm start, the tet sweep
    and the recovery moved): (ok, c, u, omega) such that moving every vertex by
    ``-(u + omega x (x - c))`` (``c`` the centre of mass of ``x``) leaves ``sum m d = 0`` and
    ``sum m (x_prev - c_prev) x d = 0``. ``ok`` is False (nothing to do) for a body with a fixed
    axis or a held vertex. :func:`recover_and_keep` applies it (:func:`_move_rigid`) at the end
    of a substep with flagged tets in which the step filter did not act.

    Why: the velocity is ``(x - x_prev) / h``, so a correction ``dx`` changes the angular
    momentum by ``sum m x_prev x dx / h``. A tet projection along det F or elastic gradients
    taken at the current positions conserves it about those (``sum x x grad = 0``), not about
    ``x_prev``: each leaks ``-sum m (x - x_prev) x dx / h``, second order in the substep's
    move. In normal motion that is round-off-sized and of either sign; where the sweep and the
    recovery fight at the det F floor (a half-mirrored torus: ~20 tets taken below RECOVER_J
    and lifted back, vertices moved ~0.5 mm, every substep) the sweep's and the warm start's
    leaks add up to a steady torque, one sign while the fold stays (torus: 1.8e-6 and 0.3e-6
    kg m^2/s per substep against the recovery's 0.1e-6); the velocity damping balanced it at
    1.35 rad/s, and a body stopped by hand spun up again. The elastic energy and the det F floor
    are invariant under rigid motions, so these are internal forces: the body's momentum must
    not change. The rigid part of their discrete error goes back to the whole body, which
    changes no strain (an affine map with linear part I - [omega]x scales every det F by
    1 + |omega|^2 > 0, so no tet changes sign).

    Not where the step filter acted: it puts vertices back where the substep started, an
    inelastic stop against that place, not an internal force, and where it locks a fold it
    anchors it. Measured with its substeps repaired too (the put-backs' momentum returned to the
    body), the half-mirrored armadillo's locked fold (45 tets put back every substep, pushed by
    their kept elastic corrections) propelled the whole body at 1-20 mm/s for good and 3 of 6
    dampings from 4 to 7 /s ended with a tangle (without the repair 1 of 14 from 4 to 10 /s, at
    8 /s); with the sums taken before the filter, the correction made up for moves the filter
    then undid (truthcylinder1 half mirrored 1.4e-5 -> 0.14 m/s). A body with a fixed axis or a
    held vertex (pins, a tool take momentum) and a substep with no flagged tet (the leak is then
    tiny) are left as they were: bit-identical to the kernels before (docs/physics.md,
    "Inversion recovery", "A free body's momentum")."""
    n = x.shape[0]
    held = hold.shape[0] == n
    mass = 0.0
    cx = cy = cz = 0.0  # sum m x
    px = py = pz = 0.0  # sum m x_prev
    for i in range(n):
        wi = w[i, 0]
        if not (wi > 0.0) or w[i, 1] != wi or w[i, 2] != wi or (held and hold[i]):
            return False, cx, cy, cz, cx, cy, cz, cx, cy, cz
        mi = 1.0 / wi
        mass += mi
        cx += mi * x[i, 0]
        cy += mi * x[i, 1]
        cz += mi * x[i, 2]
        px += mi * x_prev[i, 0]
        py += mi * x_prev[i, 1]
        pz += mi * x_prev[i, 2]
    cx /= mass
    cy /= mass
    cz /= mass
    px /= mass
    py /= mass
    pz /= mass
    lx = ly = lz = 0.0  # h x the linear momentum of d
    ax = ay = az = 0.0  # h x its angular momentum about the centre of x_prev
    # k = sum m ((q . r) I - r q^T), q = x_prev - c_prev, r = x - c: sum m q x (omega x r) = k omega
    k00 = k01 = k02 = k10 = k11 = k12 = k20 = k21 = k22 = 0.0
    for i in range(n):
        mi = 1.0 / w[i, 0]
        dx = x[i, 0] - x_prev[i, 0] - h * v[i, 0]
        dy = x[i, 1] - x_prev[i, 1] - h * v[i, 1]
        dz = x[i, 2] - x_prev[i, 2] - h * v[i, 2]
        qx, qy, qz = x_prev[i, 0] - px, x_prev[i, 1] - py, x_prev[i, 2] - pz
        rx, ry, rz = x[i, 0] - cx, x[i, 1] - cy, x[i, 2] - cz
        lx += mi * dx
        ly += mi * dy
        lz += mi * dz
        ax += mi * (qy * dz - qz * dy)
        ay += mi * (qz * dx - qx * dz)
        az += mi * (qx * dy - qy * dx)
        qr = qx * rx + qy * ry + qz * rz
        k00 += mi * (qr - rx * qx)
        k01 -= mi * rx * qy
        k02 -= mi * rx * qz
        k10 -= mi * ry * qx
        k11 += mi * (qr - ry * qy)
        k12 -= mi * ry * qz
        k20 -= mi * rz * qx
        k21 -= mi * rz * qy
        k22 += mi * (qr - rz * qz)
    det = k00 * (k11 * k22 - k12 * k21) - k01 * (k10 * k22 - k12 * k20) + k02 * (k10 * k21 - k11 * k20)
    if not (abs(det) > 0.0):
        return False, cx, cy, cz, cx, cy, cz, cx, cy, cz
    # omega = k^-1 a (Cramer's rule), u = l / mass
    ox = (ax * (k11 * k22 - k12 * k21) - k01 * (ay * k22 - k12 * az) + k02 * (ay * k21 - k11 * az)) / det
    oy = (k00 * (ay * k22 - k12 * az) - ax * (k10 * k22 - k12 * k20) + k02 * (k10 * az - ay * k20)) / det
    oz = (k00 * (k11 * az - ay * k21) - k01 * (k10 * az - ay * k20) + ax * (k10 * k21 - k11 * k20)) / det
    return True, cx, cy, cz, lx / mass, ly / mass, lz / mass, ox, oy, oz


@njit(cache=True)
def _move_rigid(x, warm_dx, track, cx, cy, cz, ux, uy, uz, ox, oy, oz):
    """Move every vertex by ``-(u + omega x (x - c))`` (:func:`momentum_repair`); when ``track``
    the move goes into ``warm_dx`` as a part not kept (as the recovery's)."""
    for i in range(x.shape[0]):
        rx, ry, rz = x[i, 0] - cx, x[i, 1] - cy, x[i, 2] - cz
        ex = -(ux + oy * rz - oz * ry)
        ey = -(uy + oz * rx - ox * rz)
        ez = -(uz + ox * ry - oy * rx)
        x[i, 0] += ex
        x[i, 1] += ey
        x[i, 2] += ez
        if track:
            warm_dx[i, 0] += ex
            warm_dx[i, 1] += ey
            warm_dx[i, 2] += ez


#: Halvings of a lift that would invert a tet around it before :func:`_lift_put_back` gives it up.
LIFT_HALVINGS = 4


@njit(cache=True)
def _lift_put_back(x, x_prev, w, tets, Q, hold, scratch, cnt):
    """After :func:`keep_filter` in :func:`recover_and_keep`: each tet of the recovery's list
    (``scratch[:cnt]``, stored order) that ends the substep where it started it (every free
    axis of its vertices at ``x_prev``: the filter put it back), uninverted but below
    :data:`RECOVER_J`, with no vertex a tool holds, takes one recovery projection
    (:func:`_lift_try`) as a position repair (``x`` and ``x_prev`` moved alike: no velocity)
    that may not invert a tet around it. Returns the number of tets lifted.

    Why: the filter can lock a nearly flat tet for good. A box after 6 random cuts (an outside
    check of issue #16, item 5) kept a tet with two pinned vertices at det F 4e-5 for 3 s at
    rest: every substep the sweep pushed it through det F = 0, the recovery did not bring it back
    within the substep, and the filter put its free vertices back where the substep started, bit
    for bit (velocity 0). Lifted from there, where it is uninverted, it opens. Without velocity:
    lifted as the recovery does (its move counted in the velocity), the raptor as shipped at 8 /s
    no longer came to rest (0.11-0.21 m/s against 5e-5; docs/physics.md, "Inversion recovery",
    "A flat tet the filter locks")."""
    m = tets.shape[0]
    n = x.shape[0]
    held = hold.shape[0] == n
    thr = scratch[8 * m + 2 * n + 1 : 9 * m + 2 * n + 1].view(np.float64)
    off = scratch[2 * m + n : 2 * m + 2 * n + 1]
    adj = scratch[2 * m + 2 * n + 1 : 6 * m + 2 * n + 1]
    lifted = 0
    for k in range(cnt):
        t = scratch[k]
        i0, i1, i2, i3 = tets[t, 0], tets[t, 1], tets[t, 2], tets[t, 3]
        if held and (hold[i0] or hold[i1] or hold[i2] or hold[i3]):
            continue  # a tool crushes it: the contact's job
        if not (0.0 < signed_volume6(x, tets, t) < thr[t]):
            continue
        back = True
        for c in range(4):
            i = tets[t, c]
            for r in range(3):
                if w[i, r] > 0.0 and x[i, r] != x_prev[i, r]:
                    back = False
        if not back:
            continue
        if _lift_try(x, x_prev, w, tets, Q, off, adj, t):
            lifted += 1
    return lifted


@njit(cache=True)
def _not_positive_around(x, tets, off, adj, t, limit=-1):
    """Number of tets (counted once per shared vertex) around tet ``t``'s four vertices, through
    the vertex -> tet adjacency ``off``/``adj``, that are not positive (det F <= 0). With
    ``limit`` >= 0 it stops as soon as the count exceeds ``limit`` (then returns a count above
    it): :func:`_lift_try` only asks whether a trial is at most its count before the lift, and
    on the raptor as shipped at rest that cut :func:`_lift_put_back` from 115 to 65 us per
    substep (13-15 lifts; docs/physics.md, "Benchmark")."""
    n = 0
    for c in range(4):
        i = tets[t, c]
        for a in range(off[i], off[i + 1]):
            if not signed_volume6(x, tets, adj[a]) > 0.0:
                n += 1
                if 0 <= limit < n:
                    return n
    return n


@njit(cache=True)
def _lift_try(x, x_prev, w, tets, Q, off, adj, t):
    """One lift of :func:`_lift_put_back` (tet t, every free axis of its vertices at ``x_prev``):
    the recovery's projection (:func:`_recover_tet`), halved up to
    :data:`LIFT_HALVINGS` times while more tets around its vertices are not positive than before
    (else undone); ``x_prev`` follows ``x`` on the free axes. Returns whether it lifted."""
    i0, i1, i2, i3 = tets[t, 0], tets[t, 1], tets[t, 2], tets[t, 3]
    # tets around it not positive now (those may stay so; no other may become so)
    bad0 = _not_positive_around(x, tets, off, adj, t, np.int64(-1))  # the later call's types: one version
    p00, p01, p02 = x[i0, 0], x[i0, 1], x[i0, 2]
    p10, p11, p12 = x[i1, 0], x[i1, 1], x[i1, 2]
    p20, p21, p22 = x[i2, 0], x[i2, 1], x[i2, 2]
    p30, p31, p32 = x[i3, 0], x[i3, 1], x[i3, 2]
    # the argument types of recover_flagged's call (unsigned indices, run-time bools, pull_back
    # None), so both run the one compiled _recover_tet (see there): the same values, the same result
    # fmt: off
    moved, _J = _recover_tet(
        x, x_prev, Q, _U(t), _U(i0), _U(i1), _U(i2), _U(i3),
        w[i0, 0], w[i0, 1], w[i0, 2], w[i1, 0], w[i1, 1], w[i1, 2],
        w[i2, 0], w[i2, 1], w[i2, 2], w[i3, 0], w[i3, 1], w[i3, 2],
        x_prev, np.bool_(False), np.bool_(True), None,
    )
    # fmt: on
    if not moved:
        return False
    d00, d01, d02 = x[i0, 0] - p00, x[i0, 1] - p01, x[i0, 2] - p02
    d10, d11, d12 = x[i1, 0] - p10, x[i1, 1] - p11, x[i1, 2] - p12
    d20, d21, d22 = x[i2, 0] - p20, x[i2, 1] - p21, x[i2, 2] - p22
    d30, d31, d32 = x[i3, 0] - p30, x[i3, 1] - p31, x[i3, 2] - p32
    f = 1.0
    ok = False
    for _half in range(LIFT_HALVINGS + 1):
        x[i0, 0], x[i0, 1], x[i0, 2] = p00 + f * d00, p01 + f * d01, p02 + f * d02
        x[i1, 0], x[i1, 1], x[i1, 2] = p10 + f * d10, p11 + f * d11, p12 + f * d12
        x[i2, 0], x[i2, 1], x[i2, 2] = p20 + f * d20, p21 + f * d21, p22 + f * d22
        x[i3, 0], x[i3, 1], x[i3, 2] = p30 + f * d30, p31 + f * d31, p32 + f * d32
        if _not_positive_around(x, tets, off, adj, t, bad0) <= bad0:  # (stops past bad0: the same answer)
            ok = True
            break
        f *= 0.5
    if not ok:  # undone
        x[i0, 0], x[i0, 1], x[i0, 2] = p00, p01, p02
        x[i1, 0], x[i1, 1], x[i1, 2] = p10, p11, p12
        x[i2, 0], x[i2, 1], x[i2, 2] = p20, p21, p22
        x[i3, 0], x[i3, 1], x[i3, 2] = p30, p31, p32
    for c in range(4):  # a position repair: x_prev follows (no velocity)
        i = tets[t, c]
        for r in range(3):
            if w[i, r] > 0.0:
                x_prev[i, r] = x[i, r]
    return ok


#: Untangling (:func:`untangle`): a frame-level repair, run by the solver when some flagged tet
#: has stayed inverted (det F <= 0) for more than UNTANGLE_WAIT frames in a row (0.1 s at 90 Hz:
#: the recovery opens a transient inversion within a few substeps).
UNTANGLE_WAIT = 9
#: Gauss-Seidel sweeps over the vertices of the inverted tets per call.
UNTANGLE_SWEEPS = 16
#: A vertex's min det F over its incident tets is raised up to this value, not further: above it
#: the recovery and the elastic sweep take over (:data:`RECOVER_CHECK`).
UNTANGLE_TARGET = RECOVER_CHECK
#: Golden-section iterations of the exact line search on the concave piecewise-linear objective.
_UNTANGLE_LINE = 40


@njit(cache=True)
def count_stuck(x, tets, near):
    """Number of inverted tets (det F <= 0), flagged (``near``) or not: those the recovery has not
    opened (the solver's trigger for :func:`untangle`, called only while a tet is flagged).

    Unflagged ones count too (until 2026-12-01 only flagged ones did): the crushed raptor of
    tests/test_tissue_robustness.py (liver material undamped, 5 /s) ended at rest with one
    softened sliver (stored tet 16477, a vertex of 0.04 x the median mass) at det F -0.799 for
    3 s, unflagged at the end of every frame, so the count read 0 and the untangling never ran;
    counted, it is opened within 15 frames and the body rests (docs/physics.md, "Inversion
    recovery", "An inverted tet the stuck count missed"). The flagged ones are counted first;
    the scan over every tet runs only where none of them is inverted."""
    n = 0
    for t in range(tets.shape[0]):
        if near[t] and not signed_volume6(x, tets, t) > 0.0:
            n += 1
    if n == 0:
        for t in range(tets.shape[0]):
            if not near[t] and not signed_volume6(x, tets, t) > 0.0:
                n += 1
    return n


@njit(cache=True)
def fold_held(x, tets, near, hold):
    """Whether a vertex a tool contact holds (``hold``, (n,) bool) belongs to a tet of the fold:
    one inverted (det F <= 0) or flagged by the recovery (``near``, the tets around a fold). The
    solver's test of a fold a tool still touches (:func:`vrmed.systems.tissue.solver._untangle_if_stuck`):
    a contact elsewhere on the body (the bed plate's under the gallbladder while the fold is in
    the cut line above it) does not hold it. No allocation."""
    if hold.shape[0] != x.shape[0]:
        return False
    for t in range(tets.shape[0]):
        if near[t] or not signed_volume6(x, tets, t) > 0.0:
            for c in range(4):
                if hold[tets[t, c]]:
                    return True
    return False


@njit(cache=True)
def max_speed2(v, hold):
    """Largest squared speed (m^2/s^2) of the vertices of ``v`` ((n, 3)) not in ``hold`` (those
    a tool contact pushed in the last tick, whose solver velocity is the contact's push and the
    solve's pull back, not a motion of the body): the solver's test of a body at rest before it
    untangles a fold a tool still touches (no allocation)."""
    held = hold.shape[0] == v.shape[0]
    best = 0.0
    for i in range(v.shape[0]):
        if not (held and hold[i]):
            best = max(best, v[i, 0] * v[i, 0] + v[i, 1] * v[i, 1] + v[i, 2] * v[i, 2])
    return best


@njit(cache=True)
def _star_min(J, gx, gy, gz, k, dx, dy, dz, a):
    """min over the k star tets of det F after moving the vertex by a (dx, dy, dz), capped at
    UNTANGLE_TARGET (det F is linear in one vertex's position)."""
    f = UNTANGLE_TARGET
    for s in range(k):
        f = min(f, J[s] + a * (gx[s] * dx + gy[s] * dy + gz[s] * dz))
    return f


@njit(cache=True)
def untangle(x, w, tets, Q, hold):
    """Vertex-wise untangling of the inverted tets (det F <= 0): Gauss-Seidel sweeps over their
    free vertices (not those in ``hold``, the vertices a tool contact pushed in the last tick),
    each moved to raise the smallest det F of the tets around it (max-min signed volume, Freitag
    & Plassmann 2000, "Local optimization-based simplicial mesh untangling and improvement", Int.
    J. Numer. Meth. Eng. 49), up to :data:`UNTANGLE_SWEEPS` sweeps or until none is inverted.
    Returns the number of tets inverted at the end.

    Why: a fold a tool smaller than the tets pressed in (the 6 cm box, 7.5 mm cells, pressed 30
    mm at 0.5 m/s by a 5 mm sphere) can outlast the tool: the recovery's Newton step along one
    tet's cofactor gradients inverts its neighbours, which :func:`keep_uninverted` then puts
    back, so 2 tets stayed inverted for good after the tool was taken away (docs/physics.md,
    "Inversion recovery"). det F of a tet is linear in the position of one of its vertices, so
    the max-min over a vertex's star is a small concave problem: the ascent direction is the
    min-norm point of the convex hull of the active tets' gradients (Freitag & Plassmann's
    active-set direction, here by Gilbert's algorithm) and the step the exact maximum along it
    (golden section on the concave piecewise-linear objective), within the distance to the
    farthest star vertex (the set where all star tets are positive lies in the star's hull). A
    move is kept only if it raises the star's minimum; a call that does not leave fewer tets
    inverted than it found is undone (where the fold cannot open, max-min only spreads it: 9 ->
    23 -> 56 inverted tets around a tool's held vertices). Axes with inverse mass 0 (pins,
    attachments, slide planes) and held vertices do not move. The moves are a position repair:
    the caller's velocities are left as they are (the step filter then keeps the opened tets
    from re-inverting)."""
    n = x.shape[0]
    m = tets.shape[0]
    held = hold.shape[0] == n
    # vertex -> tets (CSR); built per call: the repair is rare (a stuck fold, not every frame)
    deg = np.zeros(n + 1, dtype=np.int64)
    for t in range(m):
        for c in range(4):
            deg[tets[t, c] + 1] += 1
    for i in range(n):
        deg[i + 1] += deg[i]
    fill = deg[:n].copy()
    star = np.empty(4 * m, dtype=np.int64)
    for t in range(m):
        for c in range(4):
            i = tets[t, c]
            star[fill[i]] = t
            fill[i] += 1
    kmax = 0
    for i in range(n):
        kmax = max(kmax, deg[i + 1] - deg[i])
    J = np.empty(kmax)
    gx = np.empty(kmax)
    gy = np.empty(kmax)
    gz = np.empty(kmax)
    x0 = x.copy()
    cand = np.zeros(n, dtype=np.bool_)
    left = 0
    start = -1
    moved = True  # whether the last sweep moved a vertex (none moved: the next would not either)
    for _sweep in range(UNTANGLE_SWEEPS):
        left = 0
        cand[:] = False
        for t in range(m):
            if signed_volume6(x, tets, t) > 0.0:
                continue
            left += 1
            for c in range(4):
                cand[tets[t, c]] = True
        if start < 0:
            start = left
        if left == 0 or not moved:
            break
        moved = False
        for i in range(n):
            if not cand[i] or (held and hold[i]):
                continue
            if not (w[i, 0] > 0.0 or w[i, 1] > 0.0 or w[i, 2] > 0.0):
                continue
            # det F of each star tet as J + g . (p - x_i)
            k = deg[i + 1] - deg[i]
            reach2 = 0.0
            for s in range(k):
                t = star[deg[i] + s]
                i0, i1, i2, i3 = tets[t, 0], tets[t, 1], tets[t, 2], tets[t, 3]
                F = _deformation_gradient(x, i0, i1, i2, i3, Q, t)
                cof = _cofactor(F)
                J[s] = F[0] * cof[0] + F[1] * cof[1] + F[2] * cof[2]
                g = _vertex_gradients(cof, Q, t)
                c = 0 if i == i0 else (1 if i == i1 else (2 if i == i2 else 3))
                # axes a pin or slide plane fixes cannot move: their gradient component is 0
                gx[s] = g[3 * c] if w[i, 0] > 0.0 else 0.0
                gy[s] = g[3 * c + 1] if w[i, 1] > 0.0 else 0.0
                gz[s] = g[3 * c + 2] if w[i, 2] > 0.0 else 0.0
                for v4 in range(4):
                    j = tets[t, v4]
                    ex, ey, ez = x[j, 0] - x[i, 0], x[j, 1] - x[i, 1], x[j, 2] - x[i, 2]
                    reach2 = max(reach2, ex * ex + ey * ey + ez * ez)
            f0 = _star_min(J, gx, gy, gz, k, 0.0, 0.0, 0.0, 0.0)
            if not f0 < UNTANGLE_TARGET:
                continue
            # active set: tets within a tolerance of the minimum (the objective's kink there)
            tol = 1e-3 + 0.05 * abs(f0)
            # min-norm point of the convex hull of the active gradients (Gilbert's algorithm)
            s0 = 0
            for s in range(k):
                if J[s] < J[s0]:
                    s0 = s
            dx, dy, dz = gx[s0], gy[s0], gz[s0]
            for _it in range(50):
                best = 1e300
                sb = -1
                for s in range(k):
                    if J[s] <= f0 + tol:
                        p = gx[s] * dx + gy[s] * dy + gz[s] * dz
                        if p < best:
                            best = p
                            sb = s
                dd = dx * dx + dy * dy + dz * dz
                if sb < 0 or dd - best <= 1e-9 * dd:
                    break
                ux, uy, uz = gx[sb] - dx, gy[sb] - dy, gz[sb] - dz
                uu = ux * ux + uy * uy + uz * uz
                if not uu > 0.0:
                    break
                lam = min(1.0, max(0.0, -(dx * ux + dy * uy + dz * uz) / uu))
                dx += lam * ux
                dy += lam * uy
                dz += lam * uz
            dd = dx * dx + dy * dy + dz * dz
            if not (dd > 0.0 and np.isfinite(dd)):
                continue  # at the star's best point already (or no direction): nothing to gain
            amax = np.sqrt(reach2 / dd)
            # exact line search: the capped min of linear functions is concave in a
            lo, hi = 0.0, amax
            r = 0.6180339887498949
            a1 = hi - r * (hi - lo)
            a2 = lo + r * (hi - lo)
            f1 = _star_min(J, gx, gy, gz, k, dx, dy, dz, a1)
            f2 = _star_min(J, gx, gy, gz, k, dx, dy, dz, a2)
            for _ls in range(_UNTANGLE_LINE):
                if f1 < f2:
                    lo = a1
                    a1, f1 = a2, f2
                    a2 = lo + r * (hi - lo)
                    f2 = _star_min(J, gx, gy, gz, k, dx, dy, dz, a2)
                else:
                    hi = a2
                    a2, f2 = a1, f1
                    a1 = hi - r * (hi - lo)
                    f1 = _star_min(J, gx, gy, gz, k, dx, dy, dz, a1)
            a = 0.5 * (lo + hi)
            if _star_min(J, gx, gy, gz, k, dx, dy, dz, a) > f0:
                x[i, 0] += a * dx
                x[i, 1] += a * dy
                x[i, 2] += a * dz
                moved = True
    left = 0
    for t in range(m):
        if not signed_volume6(x, tets, t) > 0.0:
            left += 1
    if left >= start:
        # not fewer inverted tets than before (a fold around fixed held vertices cannot open;
        # max-min then only spreads it: 9 -> 23 -> 56 inverted on the box under the tool): undo
        x[:] = x0
        return start
    return left


# --- One parallel region per frame (issue #16 item 6) ------------------------------------------
# A parallel launch costs ~44 us on the 2-core VM with GOMP_SPINCOUNT=0 (the sleeping worker is
# woken through the kernel; an empty 2-iteration prange measured 43.7 us), against ~200 us of
# tet work per slab: the two launches per substep were ~17 % of a 10k-box substep. The frame
# below runs in ONE launch: its steps are numbered tasks (per substep: serial and vertex tasks,
# then every slab block of each phase; see _frame_worker), which the threads claim in order from an atomic counter
# and start once all tasks of the earlier phases are done (a second atomic counter). A thread
# never waits while holding an unfinished task, so this cannot deadlock whatever the number of
# threads or the way numba maps the loop onto them (one thread simply runs every task in order).

#: A waiting thread polls the counter for up to SPIN_CYCLES CPU cycles (~10 us; at least
#: SPIN_POLLS polls), then sleeps in the kernel (Linux ``futex``) until a task completes: a waiting
#: thread must not hold a core the working one, or another process, needs on a loaded machine
#: (see GOMP_SPINCOUNT above), while on an idle one most waits (a vertex task, the imbalance of two
#: slabs) end within the spin, without the wake-up (~40 us on the 2-core VM).
SPIN_POLLS = 200
SPIN_CYCLES = 30_000
_SYNC_NEXT = 0  # index of the claim counter in the sync array
_SYNC_DONE = 8  # index of the completion counter: its own 64-byte cache line (low 32 bits: the futex word)
_SYNC_WAITERS = 16  # threads asleep (or about to sleep) on the futex
_SYNC_BARRIER = 17  # 1: this substep's sweep runs the volume barrier (set by its first task)
#: Linux futex system call number by machine; elsewhere the frame takes two launches per substep.
_FUTEX_SYSCALL = {"x86_64": 202, "aarch64": 98}.get(platform.machine(), -1) if sys.platform == "linux" else -1
ONE_LAUNCH = _FUTEX_SYSCALL > 0 and sys.byteorder == "little"
_FUTEX_WAIT_PRIVATE = 128
_FUTEX_WAKE_PRIVATE = 129


@intrinsic
def _atomic_add(typingctx, arr, idx, val):
    """``old = arr[idx]; arr[idx] += val`` as one sequentially consistent atomic operation (int64
    array); returns ``old``. Numba has no CPU atomics, so this emits LLVM's ``atomicrmw add``."""
    sig = types.int64(arr, idx, val)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        i = context.cast(builder, args[1], signature.args[1], types.intp)
        v = context.cast(builder, args[2], signature.args[2], types.int64)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [i])
        return builder.atomic_rmw("add", ptr, v, "seq_cst")

    return sig, codegen


@intrinsic
def _atomic_load(typingctx, arr, idx):
    """``arr[idx]`` (int64 array) read atomically, sequentially consistent (so at least acquire:
    every write made before the matching :func:`_atomic_add` by another thread is visible after
    it), and never hoisted out of a polling loop, as a plain load may be."""
    sig = types.int64(arr, idx)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        i = context.cast(builder, args[1], signature.args[1], types.intp)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [i])
        return builder.load_atomic(ptr, "seq_cst", 8)  # a plain mov on x86; seq_cst for _wait_done

    return sig, codegen


@intrinsic
def _futex(typingctx, arr, idx, op, val):
    """Linux ``futex(&arr[idx] (low 32 bits), op, val)`` through libc's ``syscall``: with
    FUTEX_WAIT, sleep unless the word no longer equals ``val``; with FUTEX_WAKE, wake up to ``val``
    sleepers."""
    sig = types.int64(arr, idx, op, val)

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        i = context.cast(builder, args[1], signature.args[1], types.intp)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [i])
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(i64, [i64], var_arg=True), "syscall")
        null = ir.Constant(i64, 0)
        # fmt: off
        return builder.call(fn, [
            ir.Constant(i64, _FUTEX_SYSCALL), builder.ptrtoint(ptr, i64),
            context.cast(builder, args[2], signature.args[2], types.int64),
            context.cast(builder, args[3], signature.args[3], types.int64), null, null, null,
        ])
        # fmt: on

    return sig, codegen


@intrinsic
def _cycles(typingctx):
    """The CPU's cycle counter (LLVM ``readcyclecounter``: ``rdtsc`` on x86; 0 where none)."""
    sig = types.int64()

    def codegen(context, builder, signature, args):
        fn = builder.module.declare_intrinsic("llvm.readcyclecounter", fnty=ir.FunctionType(ir.IntType(64), []))
        return builder.call(fn, [])

    return sig, codegen


@njit(cache=True)
def _wait_done(sync, need):
    """Wait until ``need`` tasks are done: spin (see :data:`SPIN_CYCLES`; the poll count bounds
    it where the cycle counter reads 0), then sleep on the futex. The sleeper counts itself in
    ``sync[_SYNC_WAITERS]`` before its last check, and :func:`_task_done` reads that count after
    its increment (both sequentially consistent), so no wake-up is lost: either the completer sees
    the sleeper, or the sleeper sees the completion (FUTEX_WAIT then returns at once: the word
    changed)."""
    if _atomic_load(sync, _SYNC_DONE) >= need:
        return
    t0 = _cycles()
    polls = 0
    while _atomic_load(sync, _SYNC_DONE) < need:
        polls += 1
        if polls > SPIN_POLLS and (_cycles() - t0 > SPIN_CYCLES or polls > SPIN_CYCLES // 8):
            _atomic_add(sync, _SYNC_WAITERS, 1)
            while True:
                seen = _atomic_load(sync, _SYNC_DONE)
                if seen >= need:
                    break
                _futex(sync, _SYNC_DONE, _FUTEX_WAIT_PRIVATE, seen)
            _atomic_add(sync, _SYNC_WAITERS, -1)
            return


@njit(cache=True)
def _task_done(sync):
    """Count a finished task and wake the sleepers, if any (see :func:`_wait_done`)."""
    _atomic_add(sync, _SYNC_DONE, 1)
    if _atomic_load(sync, _SYNC_WAITERS) > 0:
        _futex(sync, _SYNC_DONE, _FUTEX_WAKE_PRIVATE, 1 << 30)


@njit(cache=True)
def any_flagged(near):
    """Whether any tet's recovery flag is set, 8 flags per read (``near`` is (m,) bool).

    :func:`recover_pass` does nothing when no flag is set, so the solver skips it then: its own
    byte-by-byte scan of the flags took ~7 us per substep on the 10k box (~1.3 % of the
    substep); reading them as 64-bit words takes under 1 us."""
    m = near.shape[0]
    n8 = m // 8
    words = near[: n8 * 8].view(np.uint64)
    for k in range(n8):
        if words[k] != 0:
            return True
    for t in range(n8 * 8, m):
        if near[t]:
            return True
    return False


@njit(cache=True)
def finish_and_predict(x, v, x_prev, w, f_ext, gravity, h, lin_damp, warm_dx, warm, finish, start, lo, hi):
    """Vertices lo..hi-1: :func:`finish_and_update_velocity` of the last substep (if ``finish``)
    and the prediction of the next (:func:`predict` or :func:`predict_warm`, if ``start``) in
    one pass, each the same arithmetic in the same order as those functions (so bit-identical)."""
    inv_h = 1.0 / h
    keep = 1.0 / (1.0 + h * lin_damp)
    for j in range(lo, hi):
        i = _U(j)  # unsigned: see _U
        for r in range(3):
            wi = w[i, r]
            if finish:
                if warm != 0.0:
                    if wi > 0.0:
                        warm_dx[i, r] = x[i, r] - x_prev[i, r] - h * v[i, r] - warm_dx[i, r]
                    else:
                        warm_dx[i, r] = 0.0
                v[i, r] = (x[i, r] - x_prev[i, r]) * inv_h
            if start:
                x_prev[i, r] = x[i, r]
                if wi > 0.0:
                    v[i, r] = v[i, r] * keep + h * (gravity[r] + wi * f_ext[i, r])
                    if warm != 0.0:
                        x[i, r] += h * v[i, r] + warm_dx[i, r]
                    else:
                        x[i, r] += h * v[i, r]
                if warm != 0.0:
                    warm_dx[i, r] = 0.0


@njit(cache=True)
def _frame_worker(
    state,
    model,
    attachment,
    slides,
    gravity,
    h,
    substeps,
    gamma,
    beta,
    lin_damp,
    warm,
    recover,
    nv,
    sync,
    scratch,
    volume_barrier=None,
    nodal=None,
    keep_release=False,
    pull_back=None,
    springs=None,
    slow_held=False,
):
    """One thread's share of :func:`step_frame_parallel`: claim tasks in order until none is left.

    Substep s (0..substeps; s = substeps only finishes the last one) is the task segment
    [A] [V x nv] [P] [blocks], per = its length; r = k % per:
    A (r = 0): the last substep's leftover tets and inversion recovery (serial); with the
    recovery on, ``nv`` > 1 and a scratch given (the same for every thread) A is [A0] [A1 x nv]
    [A2]: the leftover tets, :func:`flag_flattened` over nv chunks of the tets (that full pass
    was ~1/4 of the serial recovery on the raptor as shipped) and the rest of the recovery
    (:func:`recover_and_keep_flagged`), the same calls on the same data in the same order;
    V (``nv`` vertex chunks): the last substep's velocity update and this one's prediction
    (:func:`finish_and_predict`);
    P (one task, only if the body has attachments or slide planes): their placement;
    then every slab block of each phase, ``phase_offsets[0] + j``.
    A body with nodal volume constraints (``nodal``) has [A] [V x nv] [P] [K] [blocks] [T] [N]:
    P also runs the nodal kept move of the leftover tets (if ``warm``), K (if ``warm``) that of
    every slab block of each phase (:func:`nodal_kept_range`), T the leftover tets (one task, none
    if there are none), N every block of each phase of the vertex constraints
    (:func:`solve_nodal_range`), and A their leftovers before the recovery.
    Each task starts once every task of the earlier phases is done; the calls are those of
    :func:`step_kernel`, in the same order for every vertex and tet, so the result is
    bit-identical to it."""
    x, v, x_prev, w, f_ext, lam, warm_d, warm_dx, warm_t = state
    tets, Q, alpha_dev, alpha_hyd, block_offsets, phase_offsets, near, hold = model
    kin_idx, kin_start, kin_target = attachment
    slide_idx, slide_axis, slide_start, slide_target = slides
    inv_h2 = 1.0 / (h * h)
    g_damp = beta / h
    n = x.shape[0]
    nph = phase_offsets.shape[0] - 1
    b_first = phase_offsets[0]
    n_blocks = phase_offsets[nph] - b_first
    t_left = block_offsets[block_offsets.shape[0] - 1]  # the first leftover tet
    # the placement task also runs the nodal volume constraints' warm start (nodal_kept_move)
    kept = nodal is not None and warm != 0.0
    pulls = False  # ligament springs to pull (springs.NO_SPRINGS: none)
    if springs is not None:
        pulls = springs[0].shape[0] > 0
    n_place = 1 if kin_idx.shape[0] + slide_idx.shape[0] > 0 or kept or pulls else 0
    # the recovery's first pass in nv chunks (A1) when every thread has the same scratch
    n_a1 = nv if recover and nv > 1 and scratch.shape[0] > 0 else 0
    o_a2 = 1 + n_a1  # A2 (with no A1, A is one task: r = 0)
    o_v = o_a2 + (1 if n_a1 > 0 else 0)  # the first vertex chunk task
    o_p = o_v + nv  # the placement task
    o_k = o_p + n_place  # the first kept-move block task in a segment
    o_b = o_k + (n_blocks if kept else 0)  # the first tet block task
    o_t = o_b + n_blocks  # the leftover tets' task (a nodal body with leftover tets only)
    o_n = o_t  # the first vertex-constraint block task
    per = o_t
    n_first = 0
    if nodal is not None:
        npo = nodal[11]
        n_first = npo[0]
        o_n = o_t + (1 if t_left < tets.shape[0] else 0)
        per = o_n + npo[npo.shape[0] - 1] - n_first
    total = substeps * per + o_p
    while True:
        k = _atomic_add(sync, _SYNC_NEXT, 1)
        if k >= total:
            break
        s = k // per
        r = k - s * per
        base = s * per
        if r == 0:
            need = k  # every earlier task
        elif r < o_v:
            need = base + 1 if r < o_a2 else base + o_a2  # A1 after A0, A2 after every A1
        elif r < o_p:
            need = base + o_v
        elif r < o_k:
            need = base + o_p
        elif r < o_b:  # a kept-move block: after the tasks before its phase
            b = b_first + r - o_k
            ph = 0
            while b >= phase_offsets[ph + 1]:
                ph += 1
            need = base + o_k + phase_offsets[ph] - b_first
        elif r < o_t:
            b = b_first + r - o_b
            ph = 0
            while b >= phase_offsets[ph + 1]:
                ph += 1
            need = base + o_b + phase_offsets[ph] - b_first  # every task before this phase
        elif r < o_n:
            need = base + o_t
        elif nodal is not None:  # (numba prunes what reads nodal where it is None)
            npo = nodal[11]
            b = n_first + r - o_n
            ph = 0
            while b >= npo[ph + 1]:
                ph += 1
            need = base + o_n + npo[ph] - n_first
        _wait_done(sync, need)
        if n_a1 > 0 and 0 < r < o_v:  # A1, A2 (a recovering body's A in parts)
            if r < o_a2:
                if s > 0 and any_flagged(near):  # (A1 adds flags only where one is set: all agree)
                    c = r - 1
                    flag_flattened(x, w, tets, near, scratch, c * tets.shape[0] // nv, (c + 1) * tets.shape[0] // nv)
            else:
                if s > 0 and any_flagged(near):
                    # fmt: off
                    recover_and_keep_flagged(
                        x, x_prev, w, tets, Q, near, warm_dx, warm != 0.0, hold, scratch, nv, keep_release, pull_back,
                        v, h,
                    )
                    # fmt: on
                sync[_SYNC_BARRIER] = 1 if s < substeps and any_flagged(near) else 0  # as below
        elif r == 0:
            if s > 0:  # the end of solve_substep for substep s - 1
                if nodal is not None:  # its leftover tets ran in task T; now the vertex constraints'
                    nbo = nodal[10]
                    # fmt: off
                    solve_nodal_range(
                        x, x_prev, w, tets, nodal, inv_h2, g_damp, warm, warm_dx, nbo[nbo.shape[0] - 1], n,
                    )
                    # fmt: on
                else:
                    # fmt: off
                    solve_range(
                        x, x_prev, w, tets, Q, alpha_dev, alpha_hyd, near, lam, warm_d, warm_t, warm_dx, gamma,
                        inv_h2, g_damp, warm, t_left, tets.shape[0], sync[_SYNC_BARRIER] != 0, volume_barrier,
                        slow_held, hold,
                    )
                    # fmt: on
                if recover and n_a1 == 0 and any_flagged(near):  # (else in A1, A2)
                    if scratch.shape[0] == 0:  # the first flags came mid-frame
                        scratch = recovery_scratch(tets, Q, w)
                    # fmt: off
                    recover_and_keep(
                        x, x_prev, w, tets, Q, near, warm_dx, warm != 0.0, hold, scratch, keep_release, pull_back,
                        v, h,
                    )
                    # fmt: on
            # as solve_substep: the barrier if a tet is flagged when the sweep starts (read by this
            # substep's block tasks, which all start after this task; A2 sets it where A is split)
            if n_a1 == 0:
                sync[_SYNC_BARRIER] = 1 if s < substeps and recover and any_flagged(near) else 0
        elif r < o_p:
            c = r - o_v
            # fmt: off
            finish_and_predict(
                x, v, x_prev, w, f_ext, gravity, h, lin_damp, warm_dx, warm, s > 0, s < substeps,
                c * n // nv, (c + 1) * n // nv,
            )
            # fmt: on
        elif r < o_k:
            frac = (s + 1.0) / substeps
            if springs is not None:  # after every vertex's prediction (the V tasks), as solve_substep
                if pulls:
                    pull_springs(x, x_prev, v, w, f_ext, h, springs)
            if kin_idx.shape[0] > 0:
                place_kinematic(x, kin_idx, kin_start, kin_target, frac)
            if slide_idx.shape[0] > 0:
                place_sliding(x, slide_idx, slide_axis, slide_start, slide_target, frac)
            if nodal is not None and warm != 0.0:  # the leftover tets' part first, as nodal_kept_move
                nodal_kept_range(x, w, tets, nodal, warm_dx, t_left, tets.shape[0])
        elif r < o_b:
            b = b_first + r - o_k
            if nodal is not None:
                nodal_kept_range(x, w, tets, nodal, warm_dx, block_offsets[b], block_offsets[b + 1])
        elif r < o_t:
            b = b_first + r - o_b
            # fmt: off
            solve_range(
                x, x_prev, w, tets, Q, alpha_dev, alpha_hyd, near, lam, warm_d, warm_t, warm_dx, gamma, inv_h2,
                g_damp, warm, block_offsets[b], block_offsets[b + 1], sync[_SYNC_BARRIER] != 0, volume_barrier,
                slow_held, hold,
            )
            # fmt: on
        elif r < o_n:  # a nodal body's leftover tets, before its vertex constraints
            # fmt: off
            solve_range(
                x, x_prev, w, tets, Q, alpha_dev, alpha_hyd, near, lam, warm_d, warm_t, warm_dx, gamma,
                inv_h2, g_damp, warm, t_left, tets.shape[0], sync[_SYNC_BARRIER] != 0, volume_barrier,
                slow_held, hold,
            )
            # fmt: on
        elif nodal is not None:
            nbo = nodal[10]
            b = n_first + r - o_n
            solve_nodal_range(x, x_prev, w, tets, nodal, inv_h2, g_damp, warm, warm_dx, nbo[b], nbo[b + 1])
        _task_done(sync)


@njit(cache=True, parallel=True)
def step_frame_parallel(
    state,
    model,
    attachment,
    slides,
    gravity,
    h,
    substeps,
    gamma,
    beta,
    lin_damp,
    warm,
    recover,
    sync,
    scratch,
    volume_barrier=None,
    nodal=None,
    keep_release=False,
    pull_back=None,
    springs=None,
    slow_held=False,
):
    """The substeps of :func:`step_kernel` (after :func:`begin_step`) in one parallel launch for
    the frame instead of two per substep (see :func:`_frame_worker`). ``sync`` is int64 scratch
    of at least ``_SYNC_BARRIER + 1`` entries, zeroed here. As many workers (and vertex chunks) as
    the largest phase has blocks: more would only wait."""
    sync[_SYNC_NEXT] = 0
    sync[_SYNC_DONE] = 0
    sync[_SYNC_WAITERS] = 0
    phase_offsets = model[5]
    # an int64 from the start: typed as the literal 1 first, numba compiles a second
    # _frame_worker for that literal (~20 s of cold JIT), as for a literal argument
    width = np.int64(1)
    for ph in range(phase_offsets.shape[0] - 1):
        width = max(width, phase_offsets[ph + 1] - phase_offsets[ph])
    if nodal is not None:  # the vertex constraints' phases
        npo = nodal[11]
        for ph in range(npo.shape[0] - 1):
            width = max(width, npo[ph + 1] - npo[ph])
    for _ in prange(width):
        # fmt: off
        _frame_worker(
            state, model, attachment, slides, gravity, h, substeps, gamma, beta, lin_damp, warm, recover, width, sync,
            scratch, volume_barrier, nodal, keep_release, pull_back, springs, slow_held,
        )
        # fmt: on


@njit(cache=True)
def step_kernel(
    state,
    model,
    attachment,
    slides,
    gravity,
    dt,
    substeps,
    gamma,
    beta,
    lin_damp,
    warm,
    recover=True,
    volume_barrier=None,
    nodal=None,
    keep_release=False,
    pull_back=None,
    springs=None,
    slow_held=False,
    scratch=None,
):
    """Advance one frame of length dt with ``substeps`` XPBD substeps (one iteration each),
    with the built-in constraints only (arguments as in :func:`substep`).

    The solver uses it when a body has no plugin-defined constraint; otherwise it runs the
    same :func:`begin_step`, :func:`substep` and :func:`update_velocity` from Python with each
    added constraint's kernel between the last two, which gives bit-identical results (here
    :func:`finish_and_update_velocity` fuses the warm start's finish with the velocity update).
    Vertex loops stay serial: for a few thousand vertices they cost less than a parallel launch.
    Bodies with the parallel phases (at least :data:`PARALLEL_MIN_TETS` tets, some blocks) run
    the whole frame in one parallel launch (:func:`step_frame_parallel`), bit-identical.

    ``volume_barrier`` True (for a body built with it, ``lam`` (m, 3), with ``recover``) runs the
    volume barrier in the substeps that start with a flagged tet (:func:`solve_warm`,
    :data:`BARRIER_J`); None (the default) compiles every function of the step without it. The
    argument's type, not its value, decides: numba compiles one version of the step per type and
    prunes the barrier's branch where it is None, so a process whose bodies do not use the barrier
    never compiles it (with an empty numba cache, a plain body's first step took 19-21 s of CPU
    instead of 24-25 s when every step compiled it; docs/physics.md, "Volume barrier").
    With a three-column ``lam`` and None, the barrier's multipliers are left as they are.
    ``nodal``: see :func:`solve_substep` (None compiles it out the same way).
    ``keep_release``: the step filter's ``release`` (:func:`keep_filter`), the body's
    ``keep_release`` (False: the filter as it was, bit-identical).
    ``pull_back``: True for a body with ``recover_pull_back`` (opt-in; see :func:`_recover_tet`),
    else None: the recovery as it was, the pull-back compiled out (numba prunes the branch on an
    argument that is None, as for ``volume_barrier``).
    ``springs``: a body's ligament springs (:func:`pull_springs`; ``state``'s inverse masses then
    those of :func:`spring_masses`); for a body without, the solver passes ``springs.NO_SPRINGS``
    (no spring: nothing pulled, no placement task added), None (the default) compiles the pull out.
    ``slow_held``: True in a step after a tick whose tool contacts held a vertex (``hold``) of a
    body with the slow part of the multipliers (``solver._slow_held``): the tets with a held
    vertex keep none of it this step (:func:`solve_warm`'s ``hold``); False (the default) the
    sweep as before, bit-identically.

    Types or values: numba compiles one version of this step (and of :func:`step_kernel_tools`
    and :func:`substep`) per combination of argument types, and each costs 15-50 s of CPU on an
    empty numba cache: the layers above the sweep (this function, :func:`step_frame_parallel`,
    :func:`_frame_worker`) are optimised again with everything they call. ``volume_barrier``,
    ``nodal`` and ``pull_back`` are type switches: None compiles their code out, so a body without
    them runs the machine code it ran before they existed and a process with no such body never
    compiles them; they are opt-ins fixed for a body's life, and their code is large.
    ``slow_held`` and ``springs`` are run-time choices of one version instead: ``slow_held`` turns
    on while a body runs (a tool's first touch), where as a type it compiled a second version on
    the spot (~20 s of CPU with an empty cache, a freeze at a learner's first touch), and both
    were versions of their own in the test suite (docs/physics.md, "Compiled versions of the
    step").
    ``scratch``: None (the default) builds the recovery's scratch for the frame here
    (:func:`recovery_scratch`, for a body with a flagged tet; else the frame builds one when the
    first flags come); the solver passes the body's own instead (``solver._recovery_scratch``:
    built once for its tets, kept between frames; empty for one it has not built yet, as None
    then): the work areas in it are written before they are read, so the result is the same.
    Always an array from the solver (a run-time choice, one compiled version); direct callers
    that pass the solver's arguments pass an empty one.
    """
    x, v, x_prev, w, warm_dx = state[0], state[1], state[2], state[3], state[7]
    h = dt / substeps
    begin_step(x, attachment)
    # ONE_LAUNCH is a module constant: numba prunes the branch not taken, so only one of the two
    # frame loops is compiled (both: +5.6 s of cold JIT, 14.5 vs 8.9 s)
    if ONE_LAUNCH:
        sync = np.zeros(_SYNC_WAITERS + 8, dtype=np.int64)  # 192 bytes a frame; counters on their own lines
        # the recovery's scratch (recover_flagged, keep_filter): only for a body with flagged tets
        # (the solver's kept one where it passes it: numba prunes the branch on its type)
        if scratch is None:
            if recover and any_flagged(model[6]):
                sc = recovery_scratch(model[0], model[1], w)
            else:
                sc = np.empty(0, dtype=np.int64)
        else:
            sc = scratch
        block_offsets = model[4]
        if model[0].shape[0] >= PARALLEL_MIN_TETS and block_offsets[block_offsets.shape[0] - 1] > 0:
            # fmt: off
            step_frame_parallel(
                state, model, attachment, slides, gravity, h, substeps, gamma, beta, lin_damp, warm, recover, sync,
                sc, volume_barrier, nodal, keep_release, pull_back, springs, slow_held,
            )
            # fmt: on
        else:  # every task in order on this thread: blocks, then leftovers, i.e. the stored order
            # one chunk as an int64, not the literal 1: numba compiles a callee once per argument
            # type, and a literal is a type of its own (a second _frame_worker, ~20 s of cold JIT)
            # fmt: off
            _frame_worker(
                state, model, attachment, slides, gravity, h, substeps, gamma, beta, lin_damp, warm, recover,
                np.int64(1), sync,
                sc, volume_barrier, nodal, keep_release, pull_back, springs, slow_held,
            )
            # fmt: on
        return
    for s in range(substeps):
        # fmt: off
        solve_substep(
            state, model, attachment, slides, gravity, h, (s + 1.0) / substeps, gamma, beta, lin_damp, warm, recover,
            volume_barrier, nodal, keep_release, pull_back, springs, slow_held,
        )
        # fmt: on
        finish_and_update_velocity(x, x_prev, v, w, h, warm_dx, warm)


@njit(cache=True)
def nodal_pressure(x, tets, Q, nodal, lam, vertex_j, out):
    """For a body with nodal volume constraints (``nodal`` as in :func:`solve_nodal_volume`,
    ``lam`` their stiffness, Lame's lambda): each vertex's volume ratio V_i / V_i0 into
    ``vertex_j`` (n,), and per tet into ``out`` (m, 2) the mean over its four vertices of
    lam (V_i / V_i0 - 1) (the factor of cof F the nodal force on the tet carries: the nodal
    energy's gradient is sum_t V_t0 s_t grad det F_t with that mean s_t, Bonet & Burton 1998) and
    of the nodal energy density lam/2 (V_i / V_i0 - 1)^2 (so sum_t V_t0 out[t, 1] is the nodal
    energy)."""
    ptr, inc, coef = nodal[0], nodal[1], nodal[2]
    for i in range(x.shape[0]):
        acc = 0.0
        for k in range(ptr[i], ptr[i + 1]):
            t = inc[k]
            det, _g = _det_ds_gradients(x, tets[t, 0], tets[t, 1], tets[t, 2], tets[t, 3])
            acc += coef[k] * det
        vertex_j[i] = acc
    for t in range(tets.shape[0]):
        sp = 0.0
        e = 0.0
        for v in range(4):
            c = vertex_j[tets[t, v]] - 1.0
            sp += lam * c
            e += 0.5 * lam * c * c
        out[t, 0] = 0.25 * sp
        out[t, 1] = 0.25 * e


@njit(cache=True, parallel=True)
def tet_measures(x, tets, Q, mu, lam, gamma, green, cauchy, energy_density, J_out, nodal=None):
    """Per tet: Green strain (F^T F - I)/2, Cauchy stress P F^T / J, energy density, det F.

    P = mu F + lam (J - gamma) cof(F) is the first Piola-Kirchhoff stress of the energy
    psi = mu/2 (tr F^T F - 3) + lam/2 ((J - gamma)^2 - (1 - gamma)^2), zero at rest.
    With ``nodal`` (m, 2) from :func:`nodal_pressure` (a body with nodal volume constraints,
    whose tets' own ``lam``, ``gamma`` are mu and 2), ``nodal[t, 0]`` is added to lam (J - gamma)
    and ``nodal[t, 1]`` to the energy density: the nodal pressure the solver applies, averaged
    over the tet's vertices.
    """
    for t in prange(tets.shape[0]):
        F = _deformation_gradient(x, tets[t, 0], tets[t, 1], tets[t, 2], tets[t, 3], Q, t)
        cof = _cofactor(F)
        J = F[0] * cof[0] + F[1] * cof[1] + F[2] * cof[2]
        s = lam * (J - gamma)
        if nodal is not None:
            s += nodal[t, 0]
        Ic = 0.0
        for k in range(9):
            Ic += F[k] * F[k]
        invJ = 1.0 / J if abs(J) > 1e-300 else 0.0
        for r in range(3):
            for c in range(3):
                ftf = F[r] * F[c] + F[3 + r] * F[3 + c] + F[6 + r] * F[6 + c]
                green[t, r, c] = 0.5 * (ftf - (1.0 if r == c else 0.0))
                # sigma = (P F^T) / J with P_rk = mu F_rk + s cof_rk
                acc = 0.0
                for k in range(3):
                    acc += (mu * F[3 * r + k] + s * cof[3 * r + k]) * F[3 * c + k]
                cauchy[t, r, c] = acc * invJ
        energy_density[t] = 0.5 * mu * (Ic - 3.0) + 0.5 * lam * ((J - gamma) ** 2 - (1.0 - gamma) ** 2)
        if nodal is not None:
            energy_density[t] += nodal[t, 1]
        J_out[t] = J


# ----------------------------------------------------------------------------- contact in the sweep
# Contact inside the elastic solve (issue #16 item 3; docs/physics.md "Contact inside the tet
# sweep"). A separate code path, taken only for a body with a vertex near a tool this tick
# (:func:`mark_tool_candidates`); every other body keeps :func:`step_kernel`, bit-identical.
# ``tools`` = (cand (n,) bool, tdx (n, 3), tprim (n,) int64, a0, b0, a1, b1 (P, 3), radius (P,),
# force (P, 3), count (P,) int64, faces (F, 3), tf_ptr (m + 1,), tf_idx (F,)): the candidate
# vertices, each one's summed push this step and the tool that made it, the tools' segments
# (spheres: a == b) at the tick's start and end, the force each tool felt from these pushes (N,
# tissue on tool, mean over the substeps) and how many vertices it pushed, and the boundary
# faces with the tet -> faces map (each face after its own tet's step), and each tool's Coulomb
# friction coefficient (P,) (its ``Collider.friction``; 0: frictionless pushes).


#: :func:`_tools_final_passes`: passes over the candidate vertices at the end of each substep, and
#: whether they take the faces too (measured: with faces and 2 passes the 8 mm block's press held
#: with 0.56 mm of surface in the tool and +114 mJ in a still tick, without 0 mm and +14 mJ;
#: docs/physics.md "Contact inside the tet sweep")
FINAL_PASSES = 1
FINAL_FACES = False


@njit(cache=True)
def mark_tool_candidates(x, tools, reach):
    """Flag ``tools[0]`` the vertices within ``radius + reach`` of a tool's segment anywhere
    between its poses at the tick's start and end (the hull of the two segments' points, by
    the distance to each pose's segment less half the move); clear ``tdx`` / ``tprim`` for them.
    Returns how many there are."""
    cand, tdx, tprim, a0, b0, a1, b1, rad, force, count, faces, tf_ptr, tf_idx, mu = tools
    n_p = rad.shape[0]
    for p in range(n_p):
        for c in range(3):
            force[p, c] = 0.0
        count[p] = 0
    k = 0
    for i in range(x.shape[0]):
        hit = False
        for p in range(n_p):
            move = 0.0
            for c in range(3):
                move = max(move, abs(a1[p, c] - a0[p, c]), abs(b1[p, c] - b0[p, c]))
            lim = rad[p] + reach + 2.0 * move
            for pose in range(2):
                if pose == 0:
                    d2 = _seg_dist2(x, i, a0, b0, p)
                else:
                    d2 = _seg_dist2(x, i, a1, b1, p)
                if d2 < lim * lim:
                    hit = True
                    break
            if hit:
                break
        cand[i] = hit
        tprim[i] = -1
        for c in range(3):
            tdx[i, c] = 0.0
        if hit:
            k += 1
    return k


@njit(cache=True, inline="always")
def _seg_dist2(x, i, a, b, p):
    """Squared distance from vertex ``i`` to the segment ``a[p] b[p]``."""
    ex, ey, ez = b[p, 0] - a[p, 0], b[p, 1] - a[p, 1], b[p, 2] - a[p, 2]
    px, py, pz = x[i, 0] - a[p, 0], x[i, 1] - a[p, 1], x[i, 2] - a[p, 2]
    ee = ex * ex + ey * ey + ez * ez
    s = 0.0
    if ee > 0.0:
        s = min(max((px * ex + py * ey + pz * ez) / ee, 0.0), 1.0)
    dx, dy, dz = px - s * ex, py - s * ey, pz - s * ez
    return dx * dx + dy * dy + dz * dz


@njit(cache=True, inline="always")
def _tool_out(x, x_prev, w, warm_dx, warm, i, tools, u, u_prev):
    """Project vertex ``i`` out of every tool at its pose at tick fraction ``u`` (its pose at
    the substep's start: ``u_prev``): radially from the segment's closest point, the way it came
    from when it crossed the segment within the substep (the solve moved it past the tool's
    axis); on a capsule's shaft radially to the axis. The push goes into ``tdx`` (for the
    tool's force) and, with the warm start, into ``warm_dx`` as a correction not kept (it is
    the tool's, not the tets')."""
    cand, tdx, tprim, a0, b0, a1, b1, rad, force, count, faces, tf_ptr, tf_idx, mu = tools
    for p in range(rad.shape[0]):
        r = rad[p]
        ax_ = a0[p, 0] + u * (a1[p, 0] - a0[p, 0])
        ay_ = a0[p, 1] + u * (a1[p, 1] - a0[p, 1])
        az_ = a0[p, 2] + u * (a1[p, 2] - a0[p, 2])
        ex = b0[p, 0] + u * (b1[p, 0] - b0[p, 0]) - ax_
        ey = b0[p, 1] + u * (b1[p, 1] - b0[p, 1]) - ay_
        ez = b0[p, 2] + u * (b1[p, 2] - b0[p, 2]) - az_
        px, py, pz = x[i, 0] - ax_, x[i, 1] - ay_, x[i, 2] - az_
        ee = ex * ex + ey * ey + ez * ez
        s = 0.0
        if ee > 0.0:
            s = min(max((px * ex + py * ey + pz * ez) / ee, 0.0), 1.0)
        dx, dy, dz = px - s * ex, py - s * ey, pz - s * ez
        d2 = dx * dx + dy * dy + dz * dz
        if d2 >= r * r:
            continue
        # the same segment point at the substep's start, and the vertex relative to it then
        sx0 = a0[p, 0] + u_prev * (a1[p, 0] - a0[p, 0])
        sy0 = a0[p, 1] + u_prev * (a1[p, 1] - a0[p, 1])
        sz0 = a0[p, 2] + u_prev * (a1[p, 2] - a0[p, 2])
        qx = sx0 + s * (b0[p, 0] + u_prev * (b1[p, 0] - b0[p, 0]) - sx0)
        qy = sy0 + s * (b0[p, 1] + u_prev * (b1[p, 1] - b0[p, 1]) - sy0)
        qz = sz0 + s * (b0[p, 2] + u_prev * (b1[p, 2] - b0[p, 2]) - sz0)
        ox, oy, oz = x_prev[i, 0] - qx, x_prev[i, 1] - qy, x_prev[i, 2] - qz
        shaft = ee > 0.0 and 0.0 < s < 1.0
        if shaft:  # radial to the axis: drop the axial parts
            inv_ee = 1.0 / ee
            k1 = (ox * ex + oy * ey + oz * ez) * inv_ee
            ox, oy, oz = ox - k1 * ex, oy - k1 * ey, oz - k1 * ez
        o2 = ox * ox + oy * oy + oz * oz
        dist = np.sqrt(d2)
        if (dx * ox + dy * oy + dz * oz) < 0.0 and o2 > 1e-24:
            no = np.sqrt(o2)  # crossed the axis within the substep: back to the side it came from
            nx, ny, nz = ox / no, oy / no, oz / no
        elif dist > 1e-12:
            nx, ny, nz = dx / dist, dy / dist, dz / dist
        elif o2 > 1e-24:
            no = np.sqrt(o2)
            nx, ny, nz = ox / no, oy / no, oz / no
        else:
            continue
        depth = r - (dx * nx + dy * ny + dz * nz)
        if depth <= 0.0:
            continue
        moved = False
        for c in range(3):
            if w[i, c] > 0.0:
                d = depth * (nx if c == 0 else (ny if c == 1 else nz))
                x[i, c] += d
                tdx[i, c] += d
                if warm:
                    warm_dx[i, c] += d
                moved = True
        if moved:
            tprim[i] = p
            if mu[p] > 0.0:
                # Coulomb friction, as the contacts after the solve apply it (collision kernels'
                # _push_triangle): the vertex's displacement over the substep relative to the
                # tool's point (its pose at u less that at u_prev), its tangential part removed
                # up to mu times this push. A vertex is pushed after each of its tets, each time
                # by what the last tet moved it back in, so the friction it gets over the
                # substep is at most mu times its whole normal push (static below that)
                rx = x[i, 0] - x_prev[i, 0] - (ax_ + s * ex - qx)
                ry = x[i, 1] - x_prev[i, 1] - (ay_ + s * ey - qy)
                rz = x[i, 2] - x_prev[i, 2] - (az_ + s * ez - qz)
                rn = rx * nx + ry * ny + rz * nz
                tx, ty, tz = rx - rn * nx, ry - rn * ny, rz - rn * nz
                tl = np.sqrt(tx * tx + ty * ty + tz * tz)
                if tl > 1e-15:
                    k = min(tl, mu[p] * depth) / tl
                    for c in range(3):
                        if w[i, c] > 0.0:
                            d = -k * (tx if c == 0 else (ty if c == 1 else tz))
                            x[i, c] += d
                            tdx[i, c] += d
                            if warm:
                                warm_dx[i, c] += d


@njit(cache=True, inline="always")
def _closest_on_triangle(px, py, pz, x, i0, i1, i2):
    """Barycentric weights (u, v, w) of the point of triangle (i0, i1, i2) of ``x`` closest to p
    (Ericson, "Real-Time Collision Detection", 5.1.5)."""
    ax, ay, az = x[i0, 0], x[i0, 1], x[i0, 2]
    abx, aby, abz = x[i1, 0] - ax, x[i1, 1] - ay, x[i1, 2] - az
    acx, acy, acz = x[i2, 0] - ax, x[i2, 1] - ay, x[i2, 2] - az
    apx, apy, apz = px - ax, py - ay, pz - az
    d1 = abx * apx + aby * apy + abz * apz
    d2 = acx * apx + acy * apy + acz * apz
    if d1 <= 0.0 and d2 <= 0.0:
        return 1.0, 0.0, 0.0
    bpx, bpy, bpz = px - x[i1, 0], py - x[i1, 1], pz - x[i1, 2]
    d3 = abx * bpx + aby * bpy + abz * bpz
    d4 = acx * bpx + acy * bpy + acz * bpz
    if d3 >= 0.0 and d4 <= d3:
        return 0.0, 1.0, 0.0
    vc = d1 * d4 - d3 * d2
    if vc <= 0.0 and d1 >= 0.0 and d3 <= 0.0:
        v = d1 / (d1 - d3)
        return 1.0 - v, v, 0.0
    cpx, cpy, cpz = px - x[i2, 0], py - x[i2, 1], pz - x[i2, 2]
    d5 = abx * cpx + aby * cpy + abz * cpz
    d6 = acx * cpx + acy * cpy + acz * cpz
    if d6 >= 0.0 and d5 <= d6:
        return 0.0, 0.0, 1.0
    vb = d5 * d2 - d1 * d6
    if vb <= 0.0 and d2 >= 0.0 and d6 <= 0.0:
        ww = d2 / (d2 - d6)
        return 1.0 - ww, 0.0, ww
    va = d3 * d6 - d5 * d4
    if va <= 0.0 and (d4 - d3) >= 0.0 and (d5 - d6) >= 0.0:
        ww = (d4 - d3) / ((d4 - d3) + (d5 - d6))
        return 0.0, 1.0 - ww, ww
    den = va + vb + vc
    if den == 0.0:
        return 1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0
    v = vb / den
    ww = vc / den
    return 1.0 - v - ww, v, ww


@njit(cache=True, inline="always")
def _face_out(x, x_prev, w, warm_dx, warm, i0, i1, i2, tools, u, u_prev):
    """Project the boundary face (i0, i1, i2) out of every tool at its pose at tick fraction
    ``u``: its point closest to the tool's segment (alternating closest points, 3 rounds) goes
    radially out of the tool, or back to the side it came from when it crossed the segment within
    the substep (the face's same point and the same tool point at ``u_prev``), the three vertices
    moved by the constraint's projection with their barycentric weights and per-axis inverse
    masses. Pushes go into ``tdx`` / ``warm_dx`` as in :func:`_tool_out`."""
    tdx, tprim, a0, b0, a1, b1, rad = tools[1], tools[2], tools[3], tools[4], tools[5], tools[6], tools[7]
    mu = tools[13]
    for p in range(rad.shape[0]):
        r = rad[p]
        sax = a0[p, 0] + u * (a1[p, 0] - a0[p, 0])
        say = a0[p, 1] + u * (a1[p, 1] - a0[p, 1])
        saz = a0[p, 2] + u * (a1[p, 2] - a0[p, 2])
        ex = b0[p, 0] + u * (b1[p, 0] - b0[p, 0]) - sax
        ey = b0[p, 1] + u * (b1[p, 1] - b0[p, 1]) - say
        ez = b0[p, 2] + u * (b1[p, 2] - b0[p, 2]) - saz
        ee = ex * ex + ey * ey + ez * ez
        s = 0.5 if ee > 0.0 else 0.0
        bu, bv, bw = 1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0
        for _ in range(3):
            cx, cy, cz = sax + s * ex, say + s * ey, saz + s * ez
            bu, bv, bw = _closest_on_triangle(cx, cy, cz, x, i0, i1, i2)
            if ee == 0.0:
                break
            qx = bu * x[i0, 0] + bv * x[i1, 0] + bw * x[i2, 0]
            qy = bu * x[i0, 1] + bv * x[i1, 1] + bw * x[i2, 1]
            qz = bu * x[i0, 2] + bv * x[i1, 2] + bw * x[i2, 2]
            s = min(max(((qx - sax) * ex + (qy - say) * ey + (qz - saz) * ez) / ee, 0.0), 1.0)
        cx, cy, cz = sax + s * ex, say + s * ey, saz + s * ez
        qx = bu * x[i0, 0] + bv * x[i1, 0] + bw * x[i2, 0]
        qy = bu * x[i0, 1] + bv * x[i1, 1] + bw * x[i2, 1]
        qz = bu * x[i0, 2] + bv * x[i1, 2] + bw * x[i2, 2]
        dx, dy, dz = qx - cx, qy - cy, qz - cz
        d2 = dx * dx + dy * dy + dz * dz
        if d2 >= r * r:
            continue
        # the same face point and tool point at the substep's start
        s0x = a0[p, 0] + u_prev * (a1[p, 0] - a0[p, 0])
        s0y = a0[p, 1] + u_prev * (a1[p, 1] - a0[p, 1])
        s0z = a0[p, 2] + u_prev * (a1[p, 2] - a0[p, 2])
        c0x = s0x + s * (b0[p, 0] + u_prev * (b1[p, 0] - b0[p, 0]) - s0x)
        c0y = s0y + s * (b0[p, 1] + u_prev * (b1[p, 1] - b0[p, 1]) - s0y)
        c0z = s0z + s * (b0[p, 2] + u_prev * (b1[p, 2] - b0[p, 2]) - s0z)
        ox = bu * x_prev[i0, 0] + bv * x_prev[i1, 0] + bw * x_prev[i2, 0] - c0x
        oy = bu * x_prev[i0, 1] + bv * x_prev[i1, 1] + bw * x_prev[i2, 1] - c0y
        oz = bu * x_prev[i0, 2] + bv * x_prev[i1, 2] + bw * x_prev[i2, 2] - c0z
        if ee > 0.0 and 0.0 < s < 1.0:  # on a capsule's shaft: radial to the axis
            k1 = (ox * ex + oy * ey + oz * ez) / ee
            ox, oy, oz = ox - k1 * ex, oy - k1 * ey, oz - k1 * ez
        o2 = ox * ox + oy * oy + oz * oz
        dist = np.sqrt(d2)
        if (dx * ox + dy * oy + dz * oz) < 0.0 and o2 > 1e-24:
            no = np.sqrt(o2)
            nx, ny, nz = ox / no, oy / no, oz / no
        elif dist > 1e-12:
            nx, ny, nz = dx / dist, dy / dist, dz / dist
        elif o2 > 1e-24:
            no = np.sqrt(o2)
            nx, ny, nz = ox / no, oy / no, oz / no
        else:
            continue
        depth = r - (dx * nx + dy * ny + dz * nz)
        if depth <= 0.0:
            continue
        den = 0.0
        for k in range(3):
            i = i0 if k == 0 else (i1 if k == 1 else i2)
            b = bu if k == 0 else (bv if k == 1 else bw)
            den += b * b * (w[i, 0] * nx * nx + w[i, 1] * ny * ny + w[i, 2] * nz * nz)
        if den < 1e-300:
            continue
        lam = depth / den
        for k in range(3):
            i = i0 if k == 0 else (i1 if k == 1 else i2)
            b = bu if k == 0 else (bv if k == 1 else bw)
            if b == 0.0:
                continue
            moved = False
            for c in range(3):
                nc = nx if c == 0 else (ny if c == 1 else nz)
                d = w[i, c] * b * lam * nc
                if d != 0.0:
                    x[i, c] += d
                    tdx[i, c] += d
                    if warm:
                        warm_dx[i, c] += d
                    moved = True
            if moved:
                tprim[i] = p
        if mu[p] > 0.0:
            # Coulomb friction on the face's point (as in _tool_out): its displacement over the
            # substep relative to the tool's point, the tangential part removed up to mu times
            # this push, by the same per-axis inverse-mass projection
            rx = bu * (x[i0, 0] - x_prev[i0, 0]) + bv * (x[i1, 0] - x_prev[i1, 0]) + bw * (x[i2, 0] - x_prev[i2, 0])
            ry = bu * (x[i0, 1] - x_prev[i0, 1]) + bv * (x[i1, 1] - x_prev[i1, 1]) + bw * (x[i2, 1] - x_prev[i2, 1])
            rz = bu * (x[i0, 2] - x_prev[i0, 2]) + bv * (x[i1, 2] - x_prev[i1, 2]) + bw * (x[i2, 2] - x_prev[i2, 2])
            rx, ry, rz = rx - (cx - c0x), ry - (cy - c0y), rz - (cz - c0z)
            rn = rx * nx + ry * ny + rz * nz
            tx, ty, tz = rx - rn * nx, ry - rn * ny, rz - rn * nz
            tl = np.sqrt(tx * tx + ty * ty + tz * tz)
            if tl > 1e-15:
                tx, ty, tz = -tx / tl, -ty / tl, -tz / tl
                den = 0.0
                for k in range(3):
                    i = i0 if k == 0 else (i1 if k == 1 else i2)
                    b = bu if k == 0 else (bv if k == 1 else bw)
                    den += b * b * (w[i, 0] * tx * tx + w[i, 1] * ty * ty + w[i, 2] * tz * tz)
                if den >= 1e-300:
                    lt = min(tl, mu[p] * depth) / den
                    for k in range(3):
                        i = i0 if k == 0 else (i1 if k == 1 else i2)
                        b = bu if k == 0 else (bv if k == 1 else bw)
                        if b == 0.0:
                            continue
                        for c in range(3):
                            d = w[i, c] * b * lt * (tx if c == 0 else (ty if c == 1 else tz))
                            if d != 0.0:
                                x[i, c] += d
                                tdx[i, c] += d
                                if warm:
                                    warm_dx[i, c] += d


@njit(cache=True)
def solve_range_tools(
    x, x_prev, w, tets, Q, alpha_dev, alpha_hyd, near, lam, warm_d, warm_t, warm_dx, gamma, inv_h2, g_damp, warm,
    start, end, barrier, volume_barrier, tools, u, u_prev, held=False, hold=None,
):  # fmt: skip
    """:func:`solve_range` with each tet that has a candidate vertex then followed by the
    projection of its candidate vertices and boundary faces out of the tools (:func:`_tool_out`,
    :func:`_face_out`): the next tets of the Gauss-Seidel sweep see them outside. Runs of tets
    with no candidate vertex are solved in one call (the same order and arithmetic)."""
    cand = tools[0]
    faces, tf_ptr, tf_idx = tools[10], tools[11], tools[12]
    with_faces = tf_ptr.shape[0] == tets.shape[0] + 1
    run = start
    for t in range(start, end):
        if not (cand[tets[t, 0]] or cand[tets[t, 1]] or cand[tets[t, 2]] or cand[tets[t, 3]]):
            continue
        # fmt: off
        solve_range(
            x, x_prev, w, tets, Q, alpha_dev, alpha_hyd, near, lam, warm_d, warm_t, warm_dx, gamma, inv_h2, g_damp,
            warm, run, t + 1, barrier, volume_barrier, held, hold,
        )
        # fmt: on
        run = t + 1
        for j in range(4):
            i = tets[t, j]
            if cand[i]:
                _tool_out(x, x_prev, w, warm_dx, warm != 0.0, i, tools, u, u_prev)
        if with_faces:
            for a in range(tf_ptr[t], tf_ptr[t + 1]):
                f = tf_idx[a]
                f0, f1, f2 = faces[f, 0], faces[f, 1], faces[f, 2]
                if cand[f0] or cand[f1] or cand[f2]:
                    _face_out(x, x_prev, w, warm_dx, warm != 0.0, f0, f1, f2, tools, u, u_prev)
    if run < end:
        # fmt: off
        solve_range(
            x, x_prev, w, tets, Q, alpha_dev, alpha_hyd, near, lam, warm_d, warm_t, warm_dx, gamma, inv_h2, g_damp,
            warm, run, end, barrier, volume_barrier, held, hold,
        )
        # fmt: on


@njit(cache=True, parallel=True)
def solve_blocks_tools(
    x, x_prev, w, tets, Q, alpha_dev, alpha_hyd, near, lam, warm_d, warm_t, warm_dx, gamma, inv_h2, g_damp, warm,
    block_offsets, b0, b1, barrier, volume_barrier, tools, u, u_prev, held=False, hold=None,
):  # fmt: skip
    """:func:`solve_blocks` with :func:`solve_range_tools` (a phase's blocks share no vertex, so
    the projections do not race either)."""
    for b in prange(b0, b1):
        # fmt: off
        solve_range_tools(
            x, x_prev, w, tets, Q, alpha_dev, alpha_hyd, near, lam, warm_d, warm_t, warm_dx, gamma, inv_h2, g_damp,
            warm, block_offsets[b], block_offsets[b + 1], barrier, volume_barrier, tools, u, u_prev, held, hold,
        )
        # fmt: on


@njit(cache=True)
def step_kernel_tools(
    state, model, attachment, slides, gravity, dt, substeps, gamma, beta, lin_damp, warm, recover, volume_barrier,
    nodal, keep_release, pull_back, springs, tools, u0, u1, slow_held=False, scratch=None,
):  # fmt: skip
    """:func:`step_kernel` (its substep loop, :func:`solve_substep`'s steps in the same order)
    with the tools in the sweep: ``tools`` as above, the tick's share ``u0``..``u1`` of the
    tools' move (0..1; a sub-tick's share). Candidate vertices are projected after each tet's
    step (:func:`solve_range_tools`) and once more after the nodal volume and the inversion
    recovery, each substep; the pushes are summed into ``tools``' ``force`` (mean over the
    substeps, tissue on tool) and ``count``. ``scratch``: the body's kept recovery scratch, as
    :func:`step_kernel`'s (None or empty: :func:`solve_substep` builds one in each substep that
    has a flagged tet, as before)."""
    x, v, x_prev, w, warm_dx = state[0], state[1], state[2], state[3], state[7]
    tdx, tprim, force, count = tools[1], tools[2], tools[8], tools[9]
    h = dt / substeps
    inv_h2 = 1.0 / (h * h)
    begin_step(x, attachment)
    for s in range(substeps):
        frac = (s + 1.0) / substeps
        # fmt: off
        solve_substep(
            state, model, attachment, slides, gravity, h, frac, gamma, beta, lin_damp, warm, recover,
            volume_barrier, nodal, keep_release, pull_back, springs, slow_held, tools, u0 + (u1 - u0) * frac,
            u0 + (u1 - u0) * (s / substeps), scratch,
        )
        # fmt: on
        finish_and_update_velocity(x, x_prev, v, w, h, warm_dx, warm)
    # the tool's force: each push m dx / h^2 (per axis mass), mean over the substeps
    scale = inv_h2 / substeps
    for i in range(x.shape[0]):
        p = tprim[i]
        if p >= 0:  # (a face's push moves corners that may not be candidates themselves)
            count[p] += 1
            for c in range(3):
                if w[i, c] > 0.0:
                    force[p, c] -= tdx[i, c] / w[i, c] * scale


@njit(cache=True)
def _tools_final_passes(x, x_prev, w, warm_dx, warm, tets, tools, u, u_prev):
    """The end of a substep with the tools in the sweep (:func:`solve_substep`): what the later
    tets, the volume terms and the recovery moved back in, the candidate vertices projected out
    once more (:data:`FINAL_PASSES` times; the faces too with :data:`FINAL_FACES`)."""
    cand, faces, tf_ptr = tools[0], tools[10], tools[11]
    for _ in range(FINAL_PASSES):
        for i in range(x.shape[0]):
            if cand[i]:
                _tool_out(x, x_prev, w, warm_dx, warm != 0.0, i, tools, u, u_prev)
        if FINAL_FACES and tf_ptr.shape[0] == tets.shape[0] + 1:
            for f in range(faces.shape[0]):
                f0, f1, f2 = faces[f, 0], faces[f, 1], faces[f, 2]
                if cand[f0] or cand[f1] or cand[f2]:
                    _face_out(x, x_prev, w, warm_dx, warm != 0.0, f0, f1, f2, tools, u, u_prev)


@njit(cache=True)
def mark_swept(tools, hold):
    """Set ``hold`` for every vertex the tet sweep pushed out of a tool this step (``tools`` as
    in :func:`step_kernel_tools`): the inversion recovery keeps them, as the contacts' own."""
    cand, tprim = tools[0], tools[2]
    if hold.shape[0] != cand.shape[0]:
        return
    for i in range(cand.shape[0]):
        if tprim[i] >= 0:
            hold[i] = True


@njit(cache=True, inline="always")
def _list_vertex_tets(i, vt_ptr, vt_idx, mark, out, n):
    """Append vertex ``i``'s tets not yet marked to ``out[n:]`` (marking them); returns the new count."""
    for j in range(vt_ptr[i], vt_ptr[i + 1]):
        t = vt_idx[j]
        if not mark[t]:
            mark[t] = True
            out[n] = t
            n += 1
    return n


@njit(cache=True)
def ring_tets(tets, vt_ptr, vt_idx, seeds, n_seeds, rings, mark, out):
    """The tets within ``rings`` (1 or 2) tet rings of the vertices ``seeds[:n_seeds]``, into
    ``out`` (returns their count). ``vt_ptr``/``vt_idx``: the vertex -> tets map (CSR).
    ``mark`` (T,) bool, all False on entry and on return (only the listed entries are set and
    cleared again, so the call costs the rings, not the body)."""
    n = 0
    for k in range(n_seeds):
        n = _list_vertex_tets(seeds[k], vt_ptr, vt_idx, mark, out, n)
    if rings > 1:
        n1 = n
        for a in range(n1):
            t0 = out[a]
            for c in range(4):
                n = _list_vertex_tets(tets[t0, c], vt_ptr, vt_idx, mark, out, n)
    for a in range(n):
        mark[out[a]] = False
    return n


@njit(cache=True)
def relax_start(x, tets, Q, alpha_dev, alpha_hyd, gamma, h, cbuf, stamp, tlist, n_list, lam, j_below, j_pre):
    """Start :func:`relax_ring` on the tets ``tlist[:n_list]``: keep first in the list those with
    det F < ``j_below`` now (``inf``: all) and >= ``j_pre`` at the positions before this tick's
    contacts (``-inf``: all; returns their count), and give each the multipliers its constraints
    would hold at those positions had the tick's solve converged there (XPBD: C + alpha / h^2 lam
    = 0, so lam = -C h^2 / alpha): the relaxation then moves the tissue by what the contacts
    changed only, as further Gauss-Seidel iterations of the tick's solve with the contacts in it
    would (multipliers 0 instead, measured: a second elastic step there, the tool's force halved).
    ``cbuf`` (n, >= 4): each vertex's contact displacement this tick (rows with ``cbuf[i, 3] ==
    stamp``; ``kernels.solve_contacts``)."""
    h2 = h * h
    m = 0
    for a in range(n_list):
        t = tlist[a]
        if j_below < np.inf and not (signed_volume6(x, tets, t) * _det_q(Q, t) < j_below):
            continue
        i0, i1, i2, i3 = tets[t, 0], tets[t, 1], tets[t, 2], tets[t, 3]
        m0 = 1.0 if cbuf[i0, 3] == stamp else 0.0  # the vertex's contact push is this tick's
        m1 = 1.0 if cbuf[i1, 3] == stamp else 0.0
        m2 = 1.0 if cbuf[i2, 3] == stamp else 0.0
        m3 = 1.0 if cbuf[i3, 3] == stamp else 0.0
        e = (
            x[i1, 0] - m1 * cbuf[i1, 0] - x[i0, 0] + m0 * cbuf[i0, 0],
            x[i1, 1] - m1 * cbuf[i1, 1] - x[i0, 1] + m0 * cbuf[i0, 1],
            x[i1, 2] - m1 * cbuf[i1, 2] - x[i0, 2] + m0 * cbuf[i0, 2],
            x[i2, 0] - m2 * cbuf[i2, 0] - x[i0, 0] + m0 * cbuf[i0, 0],
            x[i2, 1] - m2 * cbuf[i2, 1] - x[i0, 1] + m0 * cbuf[i0, 1],
            x[i2, 2] - m2 * cbuf[i2, 2] - x[i0, 2] + m0 * cbuf[i0, 2],
            x[i3, 0] - m3 * cbuf[i3, 0] - x[i0, 0] + m0 * cbuf[i0, 0],
            x[i3, 1] - m3 * cbuf[i3, 1] - x[i0, 1] + m0 * cbuf[i0, 1],
            x[i3, 2] - m3 * cbuf[i3, 2] - x[i0, 2] + m0 * cbuf[i0, 2],
        )
        # F = [e1 e2 e3] Q[t] (rows: x, y, z), as _deformation_gradient
        F = (
            e[0] * Q[t, 0, 0] + e[3] * Q[t, 1, 0] + e[6] * Q[t, 2, 0],
            e[0] * Q[t, 0, 1] + e[3] * Q[t, 1, 1] + e[6] * Q[t, 2, 1],
            e[0] * Q[t, 0, 2] + e[3] * Q[t, 1, 2] + e[6] * Q[t, 2, 2],
            e[1] * Q[t, 0, 0] + e[4] * Q[t, 1, 0] + e[7] * Q[t, 2, 0],
            e[1] * Q[t, 0, 1] + e[4] * Q[t, 1, 1] + e[7] * Q[t, 2, 1],
            e[1] * Q[t, 0, 2] + e[4] * Q[t, 1, 2] + e[7] * Q[t, 2, 2],
            e[2] * Q[t, 0, 0] + e[5] * Q[t, 1, 0] + e[8] * Q[t, 2, 0],
            e[2] * Q[t, 0, 1] + e[5] * Q[t, 1, 1] + e[8] * Q[t, 2, 1],
            e[2] * Q[t, 0, 2] + e[5] * Q[t, 1, 2] + e[8] * Q[t, 2, 2],
        )
        c2 = 0.0
        for k in range(9):
            c2 += F[k] * F[k]
        cof = _cofactor(F)
        CH = F[0] * cof[0] + F[1] * cof[1] + F[2] * cof[2] - gamma
        if CH + gamma < j_pre:  # det F before the contacts: a tet they did not crush
            continue
        tlist[m] = t
        m += 1
        lam[t, 0] = -np.sqrt(c2) * h2 / alpha_dev[t]
        lam[t, 1] = -CH * h2 / alpha_hyd[t]
    return m


@njit(cache=True)
def relax_ring(x, v, w, tets, Q, alpha_dev, alpha_hyd, gamma, h, tlist, m, lam, sweeps):
    """Gauss-Seidel sweeps of the tets ``tlist[:m]`` (the 2x2 block XPBD step of
    :func:`solve_plain`, undamped, from the multipliers ``lam[t]`` that :func:`relax_start` set),
    every vertex free on its free axes; each move is added to ``v`` as ``dx / h`` (like a
    contact's). The caller projects the contacts again after it (the vertices it moved back into
    a tool go back out, and the tool's force carries that). What it solves: the listed tets' part
    of the tick's elastic step with the contacts' positions in it, so the tissue under a surface
    the contacts pushed follows it in the same tick instead of being crushed and thrown back by
    the next tick's one-iteration solve (held vertices fixed instead, measured: the tool felt
    none of the push it gave the tissue)."""
    inv_h2 = 1.0 / (h * h)
    inv_h = 1.0 / h
    for _s in range(sweeps):
        for a in range(m):
            t = tlist[a]
            i0, i1, i2, i3 = tets[t, 0], tets[t, 1], tets[t, 2], tets[t, 3]
            w0x, w0y, w0z = w[i0, 0], w[i0, 1], w[i0, 2]
            w1x, w1y, w1z = w[i1, 0], w[i1, 1], w[i1, 2]
            w2x, w2y, w2z = w[i2, 0], w[i2, 1], w[i2, 2]
            w3x, w3y, w3z = w[i3, 0], w[i3, 1], w[i3, 2]
            if w0x + w0y + w0z + w1x + w1y + w1z + w2x + w2y + w2z + w3x + w3y + w3z == 0.0:
                continue
            F, q, dv = _tet_inputs(x, x, Q, t, i0, i1, i2, i3, False)
            # fmt: off
            CD, CH, vD, vH, k11, k12, k22, gD, gH, _s11, _s12, _s22 = _block_system(
                F, q, dv, alpha_dev[t], alpha_hyd[t], gamma, inv_h2, 0.0,
                w0x, w0y, w0z, w1x, w1y, w1z, w2x, w2y, w2z, w3x, w3y, w3z,
            )
            # fmt: on
            (a00, a01, a02, a10, a11, a12, a20, a21, a22, a30, a31, a32) = gD
            (b00, b01, b02, b10, b11, b12, b20, b21, b22, b30, b31, b32) = gH
            r1 = -CD - alpha_dev[t] * inv_h2 * lam[t, 0]
            r2 = -CH - alpha_hyd[t] * inv_h2 * lam[t, 1]
            det = k11 * k22 - k12 * k12
            if not (det > 0.0):
                continue
            dD = (k22 * r1 - k12 * r2) / det
            dH = (k11 * r2 - k12 * r1) / det
            if not (np.isfinite(dD) and np.isfinite(dH)):
                continue
            lam[t, 0] += dD
            lam[t, 1] += dH
            d = w0x * (a00 * dD + b00 * dH)
            x[i0, 0] += d
            v[i0, 0] += d * inv_h
            d = w0y * (a01 * dD + b01 * dH)
            x[i0, 1] += d
            v[i0, 1] += d * inv_h
            d = w0z * (a02 * dD + b02 * dH)
            x[i0, 2] += d
            v[i0, 2] += d * inv_h
            d = w1x * (a10 * dD + b10 * dH)
            x[i1, 0] += d
            v[i1, 0] += d * inv_h
            d = w1y * (a11 * dD + b11 * dH)
            x[i1, 1] += d
            v[i1, 1] += d * inv_h
            d = w1z * (a12 * dD + b12 * dH)
            x[i1, 2] += d
            v[i1, 2] += d * inv_h
            d = w2x * (a20 * dD + b20 * dH)
            x[i2, 0] += d
            v[i2, 0] += d * inv_h
            d = w2y * (a21 * dD + b21 * dH)
            x[i2, 1] += d
            v[i2, 1] += d * inv_h
            d = w2z * (a22 * dD + b22 * dH)
            x[i2, 2] += d
            v[i2, 2] += d * inv_h
            d = w3x * (a30 * dD + b30 * dH)
            x[i3, 0] += d
            v[i3, 0] += d * inv_h
            d = w3y * (a31 * dD + b31 * dH)
            x[i3, 1] += d
            v[i3, 1] += d * inv_h
            d = w3z * (a32 * dD + b32 * dH)
            x[i3, 2] += d
            v[i3, 2] += d * inv_h


@njit(cache=True, inline="always")
def _det_q(Q, t):
    """det Q[t] = 1 / det Dm (signed_volume6 x det Q is det F)."""
    return (
        Q[t, 0, 0] * (Q[t, 1, 1] * Q[t, 2, 2] - Q[t, 1, 2] * Q[t, 2, 1])
        - Q[t, 0, 1] * (Q[t, 1, 0] * Q[t, 2, 2] - Q[t, 1, 2] * Q[t, 2, 0])
        + Q[t, 0, 2] * (Q[t, 1, 0] * Q[t, 2, 1] - Q[t, 1, 1] * Q[t, 2, 0])
    )
