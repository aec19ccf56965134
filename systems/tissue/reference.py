"""Plain-numpy XPBD stable Neo-Hookean substep (Macklin & Mueller 2021), vectorised per colour.

The reference the numba kernels are tested against and the ``numpy`` baseline of
``vrmed bench tissue``. Tets of one colour share no vertex, so a colour can be solved as one
vectorised batch and the result equals a serial Gauss-Seidel sweep in colour order.
"""

from __future__ import annotations

import numpy as np

from vrmed.systems.tissue import kernels as K  # the recovery's constants: one home


def greedy_colouring(tets: np.ndarray, n_vertices: int) -> np.ndarray:
    """Greedy colour per tet such that tets sharing a vertex differ (plain Python, run once)."""
    used: list[set[int]] = [set() for _ in range(n_vertices)]
    colour = np.empty(len(tets), dtype=np.int64)
    for t, tet in enumerate(tets.tolist()):
        taken = used[tet[0]] | used[tet[1]] | used[tet[2]] | used[tet[3]]
        c = 0
        while c in taken:
            c += 1
        colour[t] = c
        for i in tet:
            used[i].add(c)
    return colour


def cofactor(F: np.ndarray) -> np.ndarray:
    """Cofactor matrices d det F / dF of a stack of 3x3 matrices (k, 3, 3)."""
    c0 = np.cross(F[:, :, 1], F[:, :, 2])
    c1 = np.cross(F[:, :, 2], F[:, :, 0])
    c2 = np.cross(F[:, :, 0], F[:, :, 1])
    return np.stack([c0, c1, c2], axis=2)


def solve_tets(
    x,
    x_prev,
    w,
    tets,
    Q,
    alpha_dev,
    alpha_hyd,
    gamma,
    inv_h2,
    g_damp,
    lam=None,
    warm=0.0,
    warm_t=None,
    warm_dx=None,
    warm_d=None,
    near=None,
    barrier=False,
):
    """Coupled 2x2 XPBD projection of a batch of vertex-disjoint tets, in place on x.

    With ``g_damp`` > 0 and ``warm_d`` of ``kernels.DAMP_REF_COLUMNS`` columns (a damped body, warm
    started), the damping term is the kernels' g (G (x - x_prev) + p): columns 10-11 hold C_D -
    sqrt(3) and det F - 1 where each tet's last step left them, 12-13 the estimate ``p`` of the
    other tets' pending corrections, which follows (C - C_kept) - G (x - x_prev) with weight
    0.1 / (1 + g), zero far from rest (see ``kernels.DAMP_REF_COLUMNS``); else XPBD eq. 26's
    g G (x - x_prev).

    ``near`` (k,) bool, if given, is set for the tets that start below ``kernels.RECOVER_CHECK``
    (the inversion recovery's candidates, as the kernels flag them; sticky: :func:`recover` clears it).

    ``w`` holds per-axis inverse masses, shape (n, 3). With ``warm`` != 0, ``lam`` (k, 2) holds
    each tet's kept multipliers (and, with 4 columns or 5 with the barrier's, the slow part
    ``s`` of them in the last two: ``kernels.SLOW_WEIGHT``; a tet keeping the fraction
    0 < kt < 1 keeps kt lam + (1 - kt) s), ``warm_d`` (k, 10) float32 its kept correction G^T lam
    (vertices 1-3; column 9 unused here), ``warm_t`` (k,) the kept fractions, and the parts
    not kept are summed into ``warm_dx`` (n, 3) (the kernels' warm start), all updated in place.
    With ``barrier`` and ``lam`` of three columns, the kernels' volume barrier
    (``kernels.BARRIER_J``, ``kernels.solve_warm``): one hard step of det F >= BARRIER_J, from
    det F linearised after the elastic step, on the kept multiplier ``lam[:, 2]`` (clamped >= 0,
    capped at BARRIER_CAP of the rest edge per vertex), for tets starting below BARRIER_ON or
    holding one; kept at the fraction ``warm_t``.
    """
    p = x[tets]  # (k, 4, 3)
    Ds = np.stack([p[:, 1] - p[:, 0], p[:, 2] - p[:, 0], p[:, 3] - p[:, 0]], axis=2)
    F = Ds @ Q
    CD = np.sqrt(np.einsum("kij,kij->k", F, F))
    inv = np.where(CD > 1e-12, 1.0 / np.maximum(CD, 1e-300), 0.0)
    cof = cofactor(F)
    CH = np.einsum("kij,kij->k", F, cof) / 3.0 - gamma  # F : cof(F) = 3 det F

    def grads(dCdF):
        g = dCdF @ np.transpose(Q, (0, 2, 1))  # columns = grads of x1..x3
        g = np.transpose(g, (0, 2, 1))  # (k, 3 vertices, 3)
        return np.concatenate([-g.sum(axis=1, keepdims=True), g], axis=1)

    gD = grads(F * inv[:, None, None])
    gH = grads(cof)
    wk = w[tets]  # (k, 4, 3): per-axis inverse masses
    s11 = np.einsum("kvj,kvj,kvj->k", wk, gD, gD)
    s12 = np.einsum("kvj,kvj,kvj->k", wk, gD, gH)
    s22 = np.einsum("kvj,kvj,kvj->k", wk, gH, gH)
    dx = x[tets] - x_prev[tets]
    vD = np.einsum("kvj,kvj->k", gD, dx)
    vH = np.einsum("kvj,kvj->k", gH, dx)
    k11 = (1 + g_damp) * s11 + alpha_dev * inv_h2
    k12 = (1 + g_damp) * s12
    k22 = (1 + g_damp) * s22 + alpha_hyd * inv_h2
    held = wk.sum(axis=(1, 2)) == 0
    if near is not None:
        near[~held & (CH + gamma < K.RECOVER_CHECK)] = True  # sticky: recover() clears it
    if warm == 0.0:
        lD0 = lH0 = np.zeros(len(tets))
    else:
        lD0, lH0 = lam[:, 0], lam[:, 1]
        J = CH + gamma
        kt = np.where((J < 0.5) | (J > 2.0), 0.0, warm_t)
        # no more than the ratio as deformed now allows (kernels.WARM_GROWTH, as solve_warm)
        rq = (s11 * alpha_hyd + s22 * alpha_dev) * np.maximum(alpha_hyd, 0.1 * alpha_dev)
        rq0 = K.WARM_GROWTH * inv_h2 * alpha_dev * alpha_hyd * (alpha_hyd + 3.0 * alpha_dev)
        cap = np.clip((K.WARM_OFF - rq / rq0) / (K.WARM_OFF - K.WARM_FULL), 0.0, 1.0)
        kt = np.where((kt != 0.0) & (rq > K.WARM_FULL * rq0), np.minimum(kt, cap), kt)
    ref = g_damp > 0.0 and warm != 0.0 and warm_d.shape[1] >= K.DAMP_REF_COLUMNS
    if ref:  # eq. 26's G (x - x_prev) plus the estimate of the pending corrections
        near_rest = (J >= 0.5) & (J <= 2.0) & ~held  # as the kernels
        cD, cH = warm_d[:, 10].astype(np.float64), warm_d[:, 11].astype(np.float64)
        pD, pH = warm_d[:, 12].astype(np.float64), warm_d[:, 13].astype(np.float64)
        relax = 0.1 / (1.0 + g_damp)
        pD = pD + relax * ((CD - K.SQRT3) - cD - vD - pD)
        pH = pH + relax * ((J - 1.0) - cH - vH - pH)
        pD, pH = np.where(near_rest, pD, 0.0), np.where(near_rest, pH, 0.0)
        warm_d[~held, 12] = pD[~held]
        warm_d[~held, 13] = pH[~held]
        vD, vH = vD + pD, vH + pH
    r1 = -CD - alpha_dev * inv_h2 * lD0 - g_damp * vD
    r2 = -CH - alpha_hyd * inv_h2 * lH0 - g_damp * vH
    det = k11 * k22 - k12 * k12
    ok = (det > 0) & ~held
    det = np.where(ok, det, 1.0)
    dD = np.where(ok, (k22 * r1 - k12 * r2) / det, 0.0)
    dH = np.where(ok, (k11 * r2 - k12 * r1) / det, 0.0)
    if warm == 0.0:
        delta = wk * (gD * dD[:, None, None] + gH * dH[:, None, None])
    else:
        # replace the tet's kept correction (already in the prediction) by G^T lam_new; keep kt of
        # it (float32, as the kernel) and sum what is not kept into warm_dx
        lD, lH = np.where(ok, lD0 + dD, 0.0), np.where(ok, lH0 + dH, 0.0)
        live = ~held
        lB, kB = np.zeros(len(tets)), np.zeros(len(tets))
        if barrier and lam.shape[1] % 2 == 1:  # the barrier's column 2 (3 or 5 columns)
            lB0 = lam[:, 2]
            act = live & ((J < K.BARRIER_ON) | (lB0 != 0.0))
            lam[act & ~(warm_t > 0.0), 2] = 0.0  # a stiff tet keeps nothing: no barrier there
            act &= warm_t > 0.0
            bs12 = k12 / (1.0 + g_damp)
            bs22 = (k22 - alpha_hyd * inv_h2) / (1.0 + g_damp)
            J1 = J + bs12 * (lD - lD0) + bs22 * (lH - lH0)
            big = bs22 > 1e-24
            lBn = lB0 + np.where(big, (K.BARRIER_J - J1) / np.where(big, bs22, 1.0), 0.0)
            lBn = np.where(lBn > 0.0, lBn, 0.0)
            m2 = ((wk * gH) ** 2).sum(axis=2).max(axis=1)
            cap2 = K.BARRIER_CAP**2 * 3.0 / (Q**2).sum(axis=(1, 2))  # BARRIER_CAP x rest edge
            over = m2 * lBn * lBn > cap2
            lBn = np.where(over, np.sqrt(cap2 / np.where(over, m2, 1.0)), lBn)
            lB, kB = np.where(act, lBn, 0.0), np.where(act, warm_t, 0.0)
            lam[act, 2] = (kB * lB)[act]
        # the slow part in lam's last two columns (kernels.SLOW_WEIGHT): u = (1 - kt) s where 0 < kt < 1
        uD, uH = np.zeros(len(tets)), np.zeros(len(tets))
        if lam.shape[1] >= K.LAM_COLUMNS:
            cs = lam.shape[1] - 2
            # as the kernels, only tets with warm_t < 1 update s (the others never use it)
            upd, reset = (kt > 0.0) & (warm_t < 1.0), (kt == 0.0) & (warm_t < 1.0)
            s0D, s0H = lam[:, cs], lam[:, cs + 1]
            sD = np.where(upd, s0D + K.SLOW_WEIGHT * (lD - s0D), np.where(reset, 0.0, s0D))
            sH = np.where(upd, s0H + K.SLOW_WEIGHT * (lH - s0H), np.where(reset, 0.0, s0H))
            # as the kernels: tets that keep SLOW_MIN_KEEP..1, uncapped (kernels.WARM_GROWTH), unflagged
            part = (kt >= K.SLOW_MIN_KEEP) & (kt < 1.0) & (kt == warm_t) & (np.abs(J - 1.0) <= K.SLOW_NEAR_REST)
            if near is not None:
                part &= ~near
            uD, uH = np.where(part, (1.0 - kt) * sD, 0.0), np.where(part, (1.0 - kt) * sH, 0.0)
            lam[live, cs], lam[live, cs + 1] = sD[live], sH[live]
        e = gD * lD[:, None, None] + gH * (lH + lB)[:, None, None]
        e_kept = kt[:, None, None] * (gD * lD[:, None, None] + gH * lH[:, None, None])
        e_kept = e_kept + (gD * uD[:, None, None] + gH * uH[:, None, None])
        e_kept += (kB * lB)[:, None, None] * gH

        def full(d32):  # (k, 9) float32 of vertices 1-3 -> (k, 4, 3), vertex 0 = -their sum
            d = d32.reshape(-1, 3, 3).astype(np.float64)
            return np.concatenate([-d.sum(axis=1, keepdims=True), d], axis=1)

        delta = np.where(held[:, None, None], 0.0, wk * (e - full(warm_d[:, :9])))
        kept32 = e_kept[:, 1:].astype(np.float32).reshape(-1, 9)
        if ref:  # C where the step leaves it (linearised), as the kernels (before lD0, a view of lam, changes)
            warm_d[live, 10] = ((CD - K.SQRT3) + s11 * (lD - lD0) + s12 * (lH - lH0))[live]
            warm_d[live, 11] = ((J - 1.0) + s12 * (lD - lD0) + s22 * (lH - lH0))[live]
        lam[live, 0], lam[live, 1] = (kt * lD + uD)[live], (kt * lH + uH)[live]
        warm_d[live, :9] = kept32[live]
        np.add.at(warm_dx, tets[live], (wk * (e - full(kept32)))[live])
    x[tets] += delta  # vertex-disjoint, so fancy-index assignment is exact


def substep(
    x,
    v,
    x_prev,
    w,
    f_ext,
    gravity,
    tets,
    Q,
    alpha_dev,
    alpha_hyd,
    gamma,
    colour_offsets,
    h,
    beta=0.0,
    lin_damp=0.0,
    attachment=None,
    slides=None,
    frac=1.0,
    lam=None,
    warm_dx=None,
    warm=0.0,
    warm_t=None,
    warm_d=None,
    near=None,
    recover_inversions=True,
    pull_back=False,
):
    """One XPBD substep: predict, place the built-in kinematic constraints, coloured
    Gauss-Seidel projection, velocity update (in place).

    ``attachment`` = (indices, start, target) and ``slides`` = (indices, axis, start, target),
    as the constraints' ``arrays()``, are placed at ``frac`` of the way from start to target.
    ``warm`` != 0 warm-starts from ``lam`` (m, 2; (m, 3) with the volume barrier, as the
    kernels, when ``recover_inversions``), ``warm_d`` (m, 10), ``warm_dx`` (n, 3) with the
    kept fractions ``warm_t`` (m,) as the kernels do. Then, if ``recover_inversions`` and a tet is
    flagged in ``near`` (m,) bool (scratch), the flags for this substep of the tets the sweep left
    flattened (:func:`flag_flattened`), the inversion recovery (:func:`recover`) over the flagged
    tets and the no-new-inversion filter (:func:`keep_uninverted`).
    """
    free = w > 0  # (n, 3): per axis
    x_prev[:] = x
    keep = 1.0 / (1.0 + h * lin_damp)
    acc = gravity[None, :] + w * f_ext
    v[free] = v[free] * keep + h * acc[free]  # drag on the carried velocity only (kernels.predict)
    x[free] += h * v[free]
    if warm != 0.0:
        x[free] += warm_dx[free]
        warm_dx[:] = 0.0
    if attachment is not None:
        idx, start, target = attachment
        x[idx] = start + frac * (target - start)
    if slides is not None:
        idx, axis, start, target = slides
        x[idx, axis] = start + frac * (target - start)
    inv_h2 = 1.0 / (h * h)
    if near is None:
        near = np.zeros(len(tets), dtype=bool)
    barrier = recover_inversions and bool(near.any())  # as the kernels: a tet flagged when the sweep starts
    for c in range(len(colour_offsets) - 1):
        a, b = colour_offsets[c], colour_offsets[c + 1]
        part = None if warm == 0.0 else lam[a:b]
        kt = None if warm == 0.0 else warm_t[a:b]
        part_d = None if warm == 0.0 else warm_d[a:b]
        flags = near[a:b]
        solve_tets(
            x,
            x_prev,
            w,
            tets[a:b],
            Q[a:b],
            alpha_dev[a:b],
            alpha_hyd[a:b],
            gamma,
            inv_h2,
            beta / h,
            part,
            warm,
            kt,
            warm_dx,
            part_d,
            flags,
            barrier=barrier,
        )
        near[a:b] = flags
        if part is not None:
            lam[a:b] = part
            warm_d[a:b] = part_d
    if recover_inversions and near.any():  # the kernels run these only when a tet is flagged
        added = flag_flattened(x, w, tets, Q, near)
        listed = np.flatnonzero(near)
        recover(x, x_prev, w, tets, Q, near, warm_dx if warm != 0.0 else None, pull_back=pull_back)
        near[added] = False  # those flags last this substep only
        if keep_uninverted(x, x_prev, w, tets, Q, warm_dx if warm != 0.0 else None) > 0:
            lift_put_back(x, x_prev, w, tets, Q, listed)  # a flat tet the filter put back
        else:
            rigid = momentum_repair(x, x_prev, v, w, h)  # a free body: the substep's net internal momentum
            if rigid is not None:
                e = rigid(x)
                x += e
                if warm != 0.0:
                    warm_dx += e
    if warm != 0.0:
        warm_dx[:] = np.where(free, x - x_prev - h * v - warm_dx, 0.0)
    v[:] = (x - x_prev) / h


def momentum_repair(x, x_prev, v, w, h, hold=None):
    """The kernels' momentum repair (``kernels.momentum_repair``): for a free body (every axis of
    every vertex free, no vertex in ``hold``), the rigid motion ``e(y) = -(u + omega x (y - c))``
    (a function of the positions it is applied at) that removes the net linear momentum of the
    internal move ``d = x - x_prev - h v`` and its angular momentum about the centre of mass of
    ``x_prev``, or None (not free)."""
    if not (np.all(w > 0.0) and np.all(w == w[:, :1])) or (hold is not None and hold.any()):
        return None
    m = 1.0 / w[:, 0]
    mass = m.sum()
    c = (m[:, None] * x).sum(axis=0) / mass
    cp = (m[:, None] * x_prev).sum(axis=0) / mass
    d = x - x_prev - h * v
    q, r = x_prev - cp, x - c
    lin = (m[:, None] * d).sum(axis=0)
    ang = (m[:, None] * np.cross(q, d)).sum(axis=0)
    k = (m * (q * r).sum(axis=1)).sum() * np.eye(3) - np.einsum("i,ij,ik->jk", m, r, q)
    if not abs(np.linalg.det(k)) > 0.0:
        return None
    omega = np.linalg.solve(k, ang)
    return lambda y: -(lin / mass + np.cross(omega, y - c))


def signed_volumes6(x, tets):
    """det[x1-x0, x2-x0, x3-x0] per tet, in ``kernels.signed_volume6``'s order of operations."""
    p = x[tets]
    a, b, c = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0], p[:, 3] - p[:, 0]
    return (
        a[:, 0] * (b[:, 1] * c[:, 2] - b[:, 2] * c[:, 1])
        + a[:, 1] * (b[:, 2] * c[:, 0] - b[:, 0] * c[:, 2])
        + a[:, 2] * (b[:, 0] * c[:, 1] - b[:, 1] * c[:, 0])
    )


def flag_flattened(x, w, tets, Q, near):
    """The kernels' flags after the sweep (``kernels.recover_and_keep``): every tet with a free
    axis and 0 < det F = signed volume x 6 x det Q < ``RECOVER_J`` is flagged, in the kernels'
    arithmetic (``kernels._flag_threshold``). Returns the indices of the tets it flagged that
    were not flagged before (the kernels clear those after the recovery: not sticky)."""
    dq = Q[:, 0, 0] * (Q[:, 1, 1] * Q[:, 2, 2] - Q[:, 1, 2] * Q[:, 2, 1])
    dq = dq - Q[:, 0, 1] * (Q[:, 1, 0] * Q[:, 2, 2] - Q[:, 1, 2] * Q[:, 2, 0])
    dq = dq + Q[:, 0, 2] * (Q[:, 1, 0] * Q[:, 2, 1] - Q[:, 1, 1] * Q[:, 2, 0])
    free = w[tets].sum(axis=(1, 2)) != 0.0
    ok = free & (dq > 0.0)
    thr = np.full(len(tets), -np.inf)
    thr[ok] = K.RECOVER_J / dq[ok]
    v6 = signed_volumes6(x, tets)
    added = np.flatnonzero((v6 > 0.0) & (v6 < thr) & ~near)
    near[added] = True
    return added


def lift_put_back(x, x_prev, w, tets, Q, listed, hold=None) -> int:
    """The kernels' lift of the flat tets the filter put back (``kernels._lift_put_back``), tet by
    tet over ``listed`` (the recovery's flagged tets, stored order): a tet with no vertex in
    ``hold``, every free axis of its vertices at ``x_prev`` and 0 < det F < ``RECOVER_J`` (in the
    kernels' arithmetic, as :func:`flag_flattened`) takes one recovery projection (through
    ``kernels._recover_tet``, so the same arithmetic) as a position repair (``x_prev`` follows),
    halved up to ``LIFT_HALVINGS`` times while it inverts a tet around its vertices that was not
    (else undone). Returns the number of tets lifted."""
    dq = Q[:, 0, 0] * (Q[:, 1, 1] * Q[:, 2, 2] - Q[:, 1, 2] * Q[:, 2, 1])
    dq = dq - Q[:, 0, 1] * (Q[:, 1, 0] * Q[:, 2, 2] - Q[:, 1, 2] * Q[:, 2, 0])
    dq = dq + Q[:, 0, 2] * (Q[:, 1, 0] * Q[:, 2, 1] - Q[:, 1, 1] * Q[:, 2, 0])
    thr = np.full(len(tets), -np.inf)
    thr[dq > 0.0] = K.RECOVER_J / dq[dq > 0.0]

    def v6(u):
        return K.signed_volume6(x, tets, int(u))

    def attempt(t, idx):
        around = np.concatenate([np.flatnonzero((tets == i).any(axis=1)) for i in idx])  # per vertex, as the kernels
        bad0 = sum(not v6(u) > 0.0 for u in around)
        p0 = x[idx].copy()
        ws = [w[i, r] for i in idx for r in range(3)]
        if not K._recover_tet(x, x_prev, Q, int(t), *idx, *ws, x_prev, False, True)[0]:
            return False
        d = x[idx] - p0
        f, ok = 1.0, False
        for _half in range(K.LIFT_HALVINGS + 1):
            x[idx] = p0 + f * d
            if sum(not v6(u) > 0.0 for u in around) <= bad0:
                ok = True
                break
            f *= 0.5
        if not ok:
            x[idx] = p0
        x_prev[idx] = np.where(w[idx] > 0.0, x[idx], x_prev[idx])
        return ok

    lifted = 0
    for t in listed:
        idx = [int(i) for i in tets[t]]
        if hold is not None and hold[idx].any():
            continue
        if not (0.0 < v6(t) < thr[t]):
            continue
        free = w[idx] > 0.0
        if not np.array_equal(x[idx][free], x_prev[idx][free]):
            continue
        if attempt(t, idx):
            lifted += 1
    return lifted


def keep_uninverted(x, x_prev, w, tets, Q, warm_dx=None, hold=None, release=False):
    """The kernels' no-new-inversion filter (``kernels.keep_uninverted``), tet by tet in stored
    order: a tet with det F <= 0 at ``x`` and > 0 at ``x_prev`` and no vertex in ``hold`` (and,
    with ``release``, no vertex shared with another tet inverted at ``x_prev`` that has no vertex
    in ``hold``: a tangle already there, ``kernels._next_to_start_inversion``) has its free
    vertices (axes with w > 0) put back at ``x_prev``; scans repeat until none is found (at most
    ``KEEP_SCANS``). Returns the number of tets acted on."""
    free = w > 0.0
    start_inverted = np.linalg.det(_deformation_gradients(x_prev, tets, Q)) <= 0.0
    if not release:
        start_inverted[:] = False
    if hold is not None:
        start_inverted &= ~hold[tets].any(axis=1)
    acted = 0
    for _scan in range(K.KEEP_SCANS):
        found = False
        for t in range(len(tets)):
            if hold is not None and hold[tets[t]].any():
                continue  # a tool crushes it: the contact's job
            if np.linalg.det(_deformation_gradients(x, tets[t : t + 1], Q[t : t + 1])[0]) > 0.0:
                continue
            if not np.linalg.det(_deformation_gradients(x_prev, tets[t : t + 1], Q[t : t + 1])[0]) > 0.0:
                continue
            others = np.isin(tets, tets[t]).any(axis=1)
            others[t] = False
            if np.any(start_inverted & others):
                continue  # next to a tangle that was there where the substep started: left to move
            found = True
            acted += 1
            idx = tets[t]
            back = np.where(free[idx], x_prev[idx], x[idx])
            if warm_dx is not None:
                warm_dx[idx] += back - x[idx]
            x[idx] = back
        if not found:
            break
    return acted


def _deformation_gradients(x, tets, Q):
    p = x[tets]
    Ds = np.stack([p[:, 1] - p[:, 0], p[:, 2] - p[:, 0], p[:, 3] - p[:, 0]], axis=2)
    return Ds @ Q


def recover(x, x_prev, w, tets, Q, near, warm_dx=None, hold=None, pull_back=False):
    """The kernels' inversion recovery (``kernels.recover_pass``), tet by tet in stored order: up
    to ``RECOVER_SWEEPS`` sweeps projecting det F >= ``RECOVER_J`` (hard) on the flagged tets,
    the vertices in ``hold`` (n,) bool fixed; corrections count in the velocity and go into
    ``warm_dx`` if given, except in tets with a held vertex (``kernels._recover_move``)."""
    if hold is not None:
        w = np.where(hold[:, None], 0.0, w)
    for sweep in range(K.RECOVER_SWEEPS):
        again = False
        for t in np.flatnonzero(near):
            if sweep >= K.RECOVER_SWEEPS_HELD and hold is not None and hold[tets[t]].any():
                continue  # a tet a tool holds gets the first RECOVER_SWEEPS_HELD sweeps only
            F = _deformation_gradients(x, tets[t : t + 1], Q[t : t + 1])[0]
            J = np.linalg.det(F)
            if not J < K.RECOVER_J:
                continue
            idx = tets[t]
            wk = w[idx]
            if pull_back and (hold is None or not hold[idx].any()):
                # at or above the floor where the substep started: the substep's move taken back
                # that far (``kernels._pull_back_fraction``, so the same arithmetic)
                ws = (float(a) for a in wk.ravel())
                f = K._pull_back_fraction(x, x_prev, Q, int(t), *(int(i) for i in idx), *ws)
                if f > 0.0:
                    d = np.where(wk > 0.0, f * (x_prev[idx] - x[idx]), 0.0)
                    x[idx] += d
                    if warm_dx is not None:
                        warm_dx[idx] += d
                    again = True
                    continue
            cof = cofactor(F[None])[0]
            g3 = (cof @ Q[t].T).T  # grads of x1..x3 (rows)
            g = np.concatenate([-g3.sum(axis=0, keepdims=True), g3], axis=0)
            s = float(np.sum(wk * g * g))
            if not s > 1e-24:
                continue
            d = wk * g * ((K.RECOVER_J - J) / s)
            step2 = K.RECOVER_STEP**2 * 3.0 / float(np.sum(Q[t] ** 2))  # at most RECOVER_STEP x rest edge
            m2 = float((d**2).sum(axis=1).max())
            if m2 > step2:
                d *= np.sqrt(step2 / m2)
            x[idx] += d
            if hold is not None and hold[idx].any():  # a tet a tool holds: no velocity
                x_prev[idx] += d
            elif warm_dx is not None:
                warm_dx[idx] += d
            again = True
        if not again:
            break
    for t in np.flatnonzero(near):  # sticky flags: cleared once at or above RECOVER_CHECK
        if np.linalg.det(_deformation_gradients(x, tets[t : t + 1], Q[t : t + 1])[0]) >= K.RECOVER_CHECK:
            near[t] = False
