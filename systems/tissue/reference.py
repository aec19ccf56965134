"""Plain-numpy XPBD stable Neo-Hookean substep (Macklin & Mueller 2021), vectorised per colour.

The reference the numba kernels are tested against and the ``numpy`` baseline of
``vrmed bench tissue``. Tets of one colour share no vertex, so a colour can be solved as one
vectorised batch and the result equals a serial Gauss-Seidel sweep in colour order.
"""

from __future__ import annotations

import numpy as np


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


def solve_tets(x, x_prev, w, tets, Q, alpha_dev, alpha_hyd, gamma, inv_h2, g_damp):
    """Coupled 2x2 XPBD projection of a batch of vertex-disjoint tets, in place on x.

    ``w`` holds per-axis inverse masses, shape (n, 3).
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
    r1 = -CD - g_damp * vD
    r2 = -CH - g_damp * vH
    det = k11 * k22 - k12 * k12
    ok = (det > 0) & (wk.sum(axis=(1, 2)) > 0)
    det = np.where(ok, det, 1.0)
    dD = np.where(ok, (k22 * r1 - k12 * r2) / det, 0.0)
    dH = np.where(ok, (k11 * r2 - k12 * r1) / det, 0.0)
    delta = wk * (gD * dD[:, None, None] + gH * dH[:, None, None])
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
):
    """One XPBD substep: predict, place the built-in kinematic constraints, coloured
    Gauss-Seidel projection, velocity update (in place).

    ``attachment`` = (indices, start, target) and ``slides`` = (indices, axis, start, target),
    as the constraints' ``arrays()``, are placed at ``frac`` of the way from start to target.
    """
    free = w > 0  # (n, 3): per axis
    x_prev[:] = x
    keep = 1.0 / (1.0 + h * lin_damp)
    acc = gravity[None, :] + w * f_ext
    v[free] = (v[free] + h * acc[free]) * keep
    x[free] += h * v[free]
    if attachment is not None:
        idx, start, target = attachment
        x[idx] = start + frac * (target - start)
    if slides is not None:
        idx, axis, start, target = slides
        x[idx, axis] = start + frac * (target - start)
    inv_h2 = 1.0 / (h * h)
    for c in range(len(colour_offsets) - 1):
        a, b = colour_offsets[c], colour_offsets[c + 1]
        solve_tets(x, x_prev, w, tets[a:b], Q[a:b], alpha_dev[a:b], alpha_hyd[a:b], gamma, inv_h2, beta / h)
    v[:] = (x - x_prev) / h
