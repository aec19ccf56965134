"""Numba kernels for barycentric embedding of a visual surface in a tet mesh.

The standard FEM skinning of e.g. Mueller & Gross 2004, "Interactive Virtual Materials".
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True)
def _barycentric(p, a, b, c, d):
    """Barycentric coordinates of p in tet (a, b, c, d) as a 4-tuple (sum 1); zeros if flat."""
    m00, m01, m02 = b[0] - a[0], c[0] - a[0], d[0] - a[0]
    m10, m11, m12 = b[1] - a[1], c[1] - a[1], d[1] - a[1]
    m20, m21, m22 = b[2] - a[2], c[2] - a[2], d[2] - a[2]
    det = m00 * (m11 * m22 - m12 * m21) - m01 * (m10 * m22 - m12 * m20) + m02 * (m10 * m21 - m11 * m20)
    if abs(det) < 1e-300:
        return 0.0, 0.0, 0.0, 0.0, False
    r0, r1, r2 = p[0] - a[0], p[1] - a[1], p[2] - a[2]
    inv = 1.0 / det
    # Cramer's rule for M [u v w]^T = r
    u = (r0 * (m11 * m22 - m12 * m21) - m01 * (r1 * m22 - m12 * r2) + m02 * (r1 * m21 - m11 * r2)) * inv
    v = (m00 * (r1 * m22 - m12 * r2) - r0 * (m10 * m22 - m12 * m20) + m02 * (m10 * r2 - r1 * m20)) * inv
    w = (m00 * (m11 * r2 - r1 * m21) - m01 * (m10 * r2 - r1 * m20) + r0 * (m10 * m21 - m11 * m20)) * inv
    return 1.0 - u - v - w, u, v, w, True


@njit(cache=True, parallel=True)
def locate(points, x, tets, tet_index, bary):
    """For each point, the containing tet (or, if outside all, the one it is least outside of).

    Writes tet_index (n,) and bary (n, 4). Brute force over tets with a bounding-box test:
    run once at load, so simplicity wins over a spatial index.
    """
    m = tets.shape[0]
    lo = np.empty((m, 3))
    hi = np.empty((m, 3))
    for t in range(m):
        for r in range(3):
            a = x[tets[t, 0], r]
            b = a
            for k in range(1, 4):
                val = x[tets[t, k], r]
                a = min(a, val)
                b = max(b, val)
            lo[t, r] = a
            hi[t, r] = b
    for i in prange(points.shape[0]):
        p = points[i]
        best = -1
        best_score = -np.inf
        b0 = b1 = b2 = b3 = 0.0
        for t in range(m):
            inside_box = (
                (lo[t, 0] <= p[0] <= hi[t, 0]) and (lo[t, 1] <= p[1] <= hi[t, 1]) and (lo[t, 2] <= p[2] <= hi[t, 2])
            )
            if best_score >= 0.0 and not inside_box:
                continue
            c0, c1, c2, c3, ok = _barycentric(p, x[tets[t, 0]], x[tets[t, 1]], x[tets[t, 2]], x[tets[t, 3]])
            if not ok:
                continue
            score = min(min(c0, c1), min(c2, c3))  # >= 0 inside; larger = less outside
            if score > best_score:
                best_score = score
                best = t
                b0, b1, b2, b3 = c0, c1, c2, c3
        tet_index[i] = best
        bary[i, 0] = b0
        bary[i, 1] = b1
        bary[i, 2] = b2
        bary[i, 3] = b3


@njit(cache=True, parallel=True)
def interpolate(x, tets, tet_index, bary, out):
    """out[i] = sum_k bary[i, k] * x[tets[tet_index[i], k]] (positions follow the tets)."""
    for i in prange(out.shape[0]):
        t = tet_index[i]
        for r in range(3):
            out[i, r] = (
                bary[i, 0] * x[tets[t, 0], r]
                + bary[i, 1] * x[tets[t, 1], r]
                + bary[i, 2] * x[tets[t, 2], r]
                + bary[i, 3] * x[tets[t, 3], r]
            )


@njit(cache=True)
def vertex_normals(pos, tris, out):
    """Area-weighted vertex normals of a triangle mesh, unit length (zero for isolated vertices).

    Serial: triangles sharing a vertex would race on the accumulation.
    """
    out[:] = 0.0
    for f in range(tris.shape[0]):
        a, b, c = tris[f, 0], tris[f, 1], tris[f, 2]
        e1x, e1y, e1z = pos[b, 0] - pos[a, 0], pos[b, 1] - pos[a, 1], pos[b, 2] - pos[a, 2]
        e2x, e2y, e2z = pos[c, 0] - pos[a, 0], pos[c, 1] - pos[a, 1], pos[c, 2] - pos[a, 2]
        nx = e1y * e2z - e1z * e2y
        ny = e1z * e2x - e1x * e2z
        nz = e1x * e2y - e1y * e2x
        for v in (a, b, c):
            out[v, 0] += nx
            out[v, 1] += ny
            out[v, 2] += nz
    for i in range(out.shape[0]):
        n = np.sqrt(out[i, 0] ** 2 + out[i, 1] ** 2 + out[i, 2] ** 2)
        if n > 0.0:
            out[i, 0] /= n
            out[i, 1] /= n
            out[i, 2] /= n


@njit(cache=True)
def _best_in(points, loc, x, tets, cand, n, side, sd, best_t):
    """The candidate tet (of cand[:n], side != -sd) point ``loc`` is least outside of, and that score."""
    best, score = best_t, -np.inf
    for q in range(n):
        t = cand[q]
        if side[t] == -sd:
            continue
        c0, c1, c2, c3, ok = _barycentric(loc, x[tets[t, 0]], x[tets[t, 1]], x[tets[t, 2]], x[tets[t, 3]])
        if ok and min(min(c0, c1), min(c2, c3)) > score:
            score = min(min(c0, c1), min(c2, c3))
            best = t
    return best, score


@njit(cache=True)
def locate_near(points, locate_at, x, tets, inc, inc_start, seed_start, seeds, side, point_side, tet_out, bary_out):
    """Re-embed points after a cut: for point i, among the tets sharing a vertex with its seed tets
    ``seeds[seed_start[i]:seed_start[i + 1]]`` (one ring further if it lies in none of them) whose
    ``side`` is not ``-point_side[i]``, the tet ``locate_at[i]`` is least outside of; writes it
    to ``tet_out[i]`` (-1 if there is none) and the barycentric coordinates of ``points[i]`` in
    it to ``bary_out[i]``. ``inc`` / ``inc_start``: the tets around each vertex (CSR of flattened
    tet slots, slot // 4 = tet). Vertex ids, not positions, define the rings, so the two lips of
    an earlier cut, which lie on each other at rest, are told apart."""
    m = tets.shape[0]
    stamp = np.full(m, -1, np.int64)
    ring = np.empty(m, np.int64)
    for i in range(points.shape[0]):
        n = 0
        for q in range(seed_start[i], seed_start[i + 1]):
            t = seeds[q]
            for k in range(4):
                v = tets[t, k]
                for r in range(inc_start[v], inc_start[v + 1]):
                    u = inc[r] // 4
                    if stamp[u] != i:
                        stamp[u] = i
                        ring[n] = u
                        n += 1
        best, score = _best_in(points, locate_at[i], x, tets, ring, n, side, point_side[i], -1)
        if score < 0.0 and n > 0:  # not inside the ring: one ring further
            n1 = n
            for q in range(n1):
                for k in range(4):
                    v = tets[ring[q], k]
                    for r in range(inc_start[v], inc_start[v + 1]):
                        u = inc[r] // 4
                        if stamp[u] != i:
                            stamp[u] = i
                            ring[n] = u
                            n += 1
            best, score = _best_in(points, locate_at[i], x, tets, ring, n, side, point_side[i], best)
        tet_out[i] = best
        if best >= 0:
            t = best
            c0, c1, c2, c3, _ok = _barycentric(points[i], x[tets[t, 0]], x[tets[t, 1]], x[tets[t, 2]], x[tets[t, 3]])
            bary_out[i, 0] = c0
            bary_out[i, 1] = c1
            bary_out[i, 2] = c2
            bary_out[i, 3] = c3
