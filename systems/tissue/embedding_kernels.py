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


@njit(cache=True, inline="always")
def _tet_box(x, tets, t, lo, hi, row):
    """Axis-aligned bounding box of tet ``t`` at positions ``x`` into ``lo[row]`` / ``hi[row]``."""
    for r in range(3):
        a = x[tets[t, 0], r]
        b = a
        for k in range(1, 4):
            val = x[tets[t, k], r]
            a = min(a, val)
            b = max(b, val)
        lo[row, r] = a
        hi[row, r] = b


def locate(points: np.ndarray, x: np.ndarray, tets: np.ndarray, tet_index: np.ndarray, bary: np.ndarray) -> None:
    """For each point, the containing tet (or, if outside all, the one it is least outside of:
    the largest smallest barycentric coordinate; ties to the lowest index).

    Writes tet_index (n,) and bary (n, 4) (-1 and zeros if every tet is flat). A uniform grid over
    the tets' bounding boxes (:func:`locate_grid`) gives the same answer as the brute force
    (:func:`locate_brute`) with a bound on how far a better tet can lie: a cut re-embeds its
    surface in each piece of a body of thousands of tets, where the brute force (every tet for a
    point lying outside them all) took most of a snip's time on a gauze sheet."""
    m = tets.shape[0]
    if m == 0 or points.shape[0] == 0:
        tet_index[:] = -1
        bary[:] = 0.0
        return
    p = x[tets]
    lo, hi = p.min(axis=1), p.max(axis=1)
    radius = float(np.linalg.norm(p - p.mean(axis=1, keepdims=True), axis=2).max())
    origin, cell, dims = _grid_params(points, lo, hi)
    locate_grid(points, x, tets, lo, hi, origin, cell, dims, radius, tet_index, bary)


@njit(cache=True, inline="always")
def _cell(v, origin, cell, dim):
    """The grid cell (0 .. dim - 1) of coordinate ``v`` along one axis, clamped to the grid."""
    f = (v - origin) / cell
    if not f > 0.0:
        return 0
    if f >= dim - 1:
        return dim - 1
    return int(f)


@njit(cache=True)
def _grid(lo, hi, origin, cell, dims):
    """CSR of the tets overlapping each grid cell (cells in x-fastest order): (start, items)."""
    m = lo.shape[0]
    start = np.zeros(dims[0] * dims[1] * dims[2] + 1, np.int64)
    for t in range(m):
        for k in range(_cell(lo[t, 2], origin[2], cell, dims[2]), _cell(hi[t, 2], origin[2], cell, dims[2]) + 1):
            for j in range(_cell(lo[t, 1], origin[1], cell, dims[1]), _cell(hi[t, 1], origin[1], cell, dims[1]) + 1):
                for i in range(
                    _cell(lo[t, 0], origin[0], cell, dims[0]), _cell(hi[t, 0], origin[0], cell, dims[0]) + 1
                ):
                    start[(k * dims[1] + j) * dims[0] + i + 1] += 1
    for c in range(1, start.shape[0]):
        start[c] += start[c - 1]
    items = np.empty(start[-1], np.int64)
    fill = start[:-1].copy()
    for t in range(m):
        for k in range(_cell(lo[t, 2], origin[2], cell, dims[2]), _cell(hi[t, 2], origin[2], cell, dims[2]) + 1):
            for j in range(_cell(lo[t, 1], origin[1], cell, dims[1]), _cell(hi[t, 1], origin[1], cell, dims[1]) + 1):
                for i in range(
                    _cell(lo[t, 0], origin[0], cell, dims[0]), _cell(hi[t, 0], origin[0], cell, dims[0]) + 1
                ):
                    c = (k * dims[1] + j) * dims[0] + i
                    items[fill[c]] = t
                    fill[c] += 1
    return start, items


@njit(cache=True)
def locate_grid(points, x, tets, lo, hi, origin, cell, dims, radius, tet_index, bary):
    """:func:`locate` over a grid of ``cell``-sized cells (``dims`` per axis from ``origin``)
    holding the tets' boxes ``lo`` / ``hi``; ``radius``: the largest centroid-to-corner distance.

    Exact: a point whose smallest barycentric coordinate in tet t is -mu lies in t scaled by
    1 + 4 mu about its centroid, so within 4 mu R_t of t; a tet whose box lies farther than
    4 R |best| from the point cannot beat the best score found, so the search ends once the
    cells within that distance are done (at once for a point inside a tet: only the boxes
    holding it count)."""
    start, items = _grid(lo, hi, origin, cell, dims)
    n_tets = tets.shape[0]
    for i in range(points.shape[0]):
        p = points[i]
        best = -1
        best_score = -np.inf
        b0 = b1 = b2 = b3 = 0.0
        r = 0.0
        while True:
            i0 = _cell(p[0] - r, origin[0], cell, dims[0])
            i1 = _cell(p[0] + r, origin[0], cell, dims[0])
            j0 = _cell(p[1] - r, origin[1], cell, dims[1])
            j1 = _cell(p[1] + r, origin[1], cell, dims[1])
            k0 = _cell(p[2] - r, origin[2], cell, dims[2])
            k1 = _cell(p[2] + r, origin[2], cell, dims[2])
            if (i1 - i0 + 1) * (j1 - j0 + 1) * (k1 - k0 + 1) > n_tets:  # more cells than tets: every tet
                for t in range(n_tets):
                    c0, c1, c2, c3, ok = _barycentric(p, x[tets[t, 0]], x[tets[t, 1]], x[tets[t, 2]], x[tets[t, 3]])
                    if not ok:
                        continue
                    score = min(min(c0, c1), min(c2, c3))
                    if score > best_score or (score == best_score and t < best):
                        best_score = score
                        best = t
                        b0, b1, b2, b3 = c0, c1, c2, c3
                break
            for k in range(k0, k1 + 1):
                for j in range(j0, j1 + 1):
                    for ii in range(i0, i1 + 1):
                        c = (k * dims[1] + j) * dims[0] + ii
                        for q in range(start[c], start[c + 1]):
                            t = items[q]
                            # each tet once: in the first cell of its box inside the query range
                            ti0 = max(_cell(lo[t, 0], origin[0], cell, dims[0]), i0)
                            tj0 = max(_cell(lo[t, 1], origin[1], cell, dims[1]), j0)
                            tk0 = max(_cell(lo[t, 2], origin[2], cell, dims[2]), k0)
                            if ii != ti0 or j != tj0 or k != tk0:
                                continue
                            g = 0.0
                            for a in range(3):
                                e = max(lo[t, a] - p[a], p[a] - hi[t, a], 0.0)
                                g += e * e
                            if g > r * r:
                                continue
                            c0, c1, c2, c3, ok = _barycentric(
                                p, x[tets[t, 0]], x[tets[t, 1]], x[tets[t, 2]], x[tets[t, 3]]
                            )
                            if not ok:
                                continue
                            score = min(min(c0, c1), min(c2, c3))
                            if score > best_score or (score == best_score and t < best):
                                best_score = score
                                best = t
                                b0, b1, b2, b3 = c0, c1, c2, c3
            full = i0 == 0 and j0 == 0 and k0 == 0 and i1 == dims[0] - 1 and j1 == dims[1] - 1 and k1 == dims[2] - 1
            if best >= 0 and best_score >= 0.0:
                break
            if best >= 0:
                need = 4.0 * radius * (-best_score) * (1.0 + 1e-9) + 1e-12 * cell
                if need <= r:
                    break
                r = need
            elif r >= 1e300:
                break  # every tet is flat
            else:
                r = 1e300 if full else max(2.0 * r, cell)  # nothing yet: wider (all, once the grid is)
        tet_index[i] = best
        bary[i, 0] = b0
        bary[i, 1] = b1
        bary[i, 2] = b2
        bary[i, 3] = b3


@njit(cache=True, parallel=True)
def locate_brute(points, x, tets, tet_index, bary):
    """:func:`locate` by brute force over the tets with a bounding-box test (every tet for a
    point outside them all): the reference the grid search is tested against."""
    m = tets.shape[0]
    lo = np.empty((m, 3))
    hi = np.empty((m, 3))
    for t in range(m):
        _tet_box(x, tets, t, lo, hi, t)
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
def vertex_normals(pos, tris, out, out_len=None):
    """Area-weighted vertex normals of a triangle mesh, unit length (zero for isolated vertices);
    with ``out_len`` (V,) also the length of each vertex's summed (unnormalised) normal. The
    one copy for tissue surfaces and cloth (drawing and the cloth solve's bending).

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
        if out_len is not None:  # pruned by numba where out_len is None
            out_len[i] = n
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
        # int64 from the start (not the literals 0 and -1): numba compiles a callee once per
        # argument type, and each literal is a type of its own (four versions of _best_in)
        n = np.int64(0)
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
        best, score = _best_in(points, locate_at[i], x, tets, ring, n, side, point_side[i], np.int64(-1))
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


@njit(cache=True)
def _tri_dist2(p, a, b, c):
    """Squared distance from p to the triangle (a, b, c): the closest point by the triangle's
    Voronoi regions (Ericson, "Real-Time Collision Detection", 2005, sec. 5.1.5)."""
    ab0, ab1, ab2 = b[0] - a[0], b[1] - a[1], b[2] - a[2]
    ac0, ac1, ac2 = c[0] - a[0], c[1] - a[1], c[2] - a[2]
    ap0, ap1, ap2 = p[0] - a[0], p[1] - a[1], p[2] - a[2]
    d1 = ab0 * ap0 + ab1 * ap1 + ab2 * ap2
    d2 = ac0 * ap0 + ac1 * ap1 + ac2 * ap2
    if d1 <= 0.0 and d2 <= 0.0:  # vertex region a
        return ap0 * ap0 + ap1 * ap1 + ap2 * ap2
    bp0, bp1, bp2 = p[0] - b[0], p[1] - b[1], p[2] - b[2]
    d3 = ab0 * bp0 + ab1 * bp1 + ab2 * bp2
    d4 = ac0 * bp0 + ac1 * bp1 + ac2 * bp2
    if d3 >= 0.0 and d4 <= d3:  # vertex region b
        return bp0 * bp0 + bp1 * bp1 + bp2 * bp2
    vc = d1 * d4 - d3 * d2
    if vc <= 0.0 and d1 >= 0.0 and d3 <= 0.0:  # edge ab
        v = d1 / (d1 - d3)
        q0, q1, q2 = ap0 - v * ab0, ap1 - v * ab1, ap2 - v * ab2
        return q0 * q0 + q1 * q1 + q2 * q2
    cp0, cp1, cp2 = p[0] - c[0], p[1] - c[1], p[2] - c[2]
    d5 = ab0 * cp0 + ab1 * cp1 + ab2 * cp2
    d6 = ac0 * cp0 + ac1 * cp1 + ac2 * cp2
    if d6 >= 0.0 and d5 <= d6:  # vertex region c
        return cp0 * cp0 + cp1 * cp1 + cp2 * cp2
    vb = d5 * d2 - d1 * d6
    if vb <= 0.0 and d2 >= 0.0 and d6 <= 0.0:  # edge ac
        w = d2 / (d2 - d6)
        q0, q1, q2 = ap0 - w * ac0, ap1 - w * ac1, ap2 - w * ac2
        return q0 * q0 + q1 * q1 + q2 * q2
    va = d3 * d6 - d5 * d4
    if va <= 0.0 and (d4 - d3) >= 0.0 and (d5 - d6) >= 0.0:  # edge bc
        w = (d4 - d3) / ((d4 - d3) + (d5 - d6))
        q0 = bp0 - w * (c[0] - b[0])
        q1 = bp1 - w * (c[1] - b[1])
        q2 = bp2 - w * (c[2] - b[2])
        return q0 * q0 + q1 * q1 + q2 * q2
    den = 1.0 / (va + vb + vc)  # inside the face
    v = vb * den
    w = vc * den
    q0, q1, q2 = ap0 - v * ab0 - w * ac0, ap1 - v * ab1 - w * ac1, ap2 - v * ab2 - w * ac2
    return q0 * q0 + q1 * q1 + q2 * q2


@njit(cache=True)
def _tet_dist(p, x, tets, t):
    """Euclidean distance from p to tet t (0 inside it)."""
    a, b, c, d = x[tets[t, 0]], x[tets[t, 1]], x[tets[t, 2]], x[tets[t, 3]]
    c0, c1, c2, c3, ok = _barycentric(p, a, b, c, d)
    if ok and min(min(c0, c1), min(c2, c3)) >= 0.0:
        return 0.0
    d2 = min(min(_tri_dist2(p, b, c, d), _tri_dist2(p, a, c, d)), min(_tri_dist2(p, a, b, d), _tri_dist2(p, a, b, c)))
    return np.sqrt(d2)


@njit(cache=True)
def tet_distance(points, x, tets, tet_index, out):
    """out[i] = Euclidean distance from points[i] to tet tet_index[i] (0 inside it)."""
    for i in range(points.shape[0]):
        out[i] = _tet_dist(points[i], x, tets, tet_index[i])


def _grid_params(points: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """Origin, cell size and cells per axis of a uniform grid over the boxes ``lo`` / ``hi`` and
    the query ``points``: cells about a box's size, but no more than ~2 per box in all."""
    fin = points[np.isfinite(points).all(axis=1)]  # a non-finite point finds no tet either way
    origin = np.minimum(lo.min(axis=0), fin.min(axis=0)) if fin.size else lo.min(axis=0)
    span = (np.maximum(hi.max(axis=0), fin.max(axis=0)) if fin.size else hi.max(axis=0)) - origin
    cell = max(
        float(np.median((hi - lo).max(axis=1))), float(np.cbrt(np.prod(span + 1e-300) / (2.0 * lo.shape[0]))), 1e-300
    )
    dims = np.maximum(1, np.ceil(span / cell)).astype(np.int64)
    while float(np.prod(dims.astype(np.float64))) > 4.0 * lo.shape[0] + 64.0:  # a flat spread: coarser
        cell *= 2.0
        dims = np.maximum(1, np.ceil(span / cell)).astype(np.int64)
    return origin, cell, dims


def locate_nearest(
    points: np.ndarray, x: np.ndarray, tets: np.ndarray, cand: np.ndarray, tet_index: np.ndarray, dist: np.ndarray
) -> None:
    """For each point, the tet of ``tets[cand]`` nearest to it (Euclidean distance, 0 inside; ties
    to the first in ``cand``): writes its stored index (an entry of ``cand``) to tet_index and the
    distance to dist (-1 and inf if ``cand`` is empty). A uniform grid over the candidates' boxes
    (:func:`locate_nearest_grid`), the same answer as the brute force
    (:func:`locate_nearest_brute`): a cut asks this per piece of a body of thousands of tets."""
    if cand.shape[0] == 0 or points.shape[0] == 0:
        tet_index[:] = -1
        dist[:] = np.inf
        return
    p = x[tets[cand]]
    lo, hi = p.min(axis=1), p.max(axis=1)
    origin, cell, dims = _grid_params(points, lo, hi)
    locate_nearest_grid(points, x, tets, cand, lo, hi, origin, cell, dims, tet_index, dist)


@njit(cache=True)
def locate_nearest_grid(points, x, tets, cand, lo, hi, origin, cell, dims, tet_index, dist):
    """:func:`locate_nearest` over a grid (``cell``, ``dims`` from ``origin``) of the boxes
    ``lo`` / ``hi`` of ``tets[cand]``: the cells within r of the point are searched, r growing
    until the nearest tet found lies within r (no tet whose box is farther can be nearer)."""
    start, items = _grid(lo, hi, origin, cell, dims)
    for i in range(points.shape[0]):
        p = points[i]
        best = -1
        best_d = np.inf
        r = 0.0
        while True:
            i0 = _cell(p[0] - r, origin[0], cell, dims[0])
            i1 = _cell(p[0] + r, origin[0], cell, dims[0])
            j0 = _cell(p[1] - r, origin[1], cell, dims[1])
            j1 = _cell(p[1] + r, origin[1], cell, dims[1])
            k0 = _cell(p[2] - r, origin[2], cell, dims[2])
            k1 = _cell(p[2] + r, origin[2], cell, dims[2])
            if (i1 - i0 + 1) * (j1 - j0 + 1) * (k1 - k0 + 1) > cand.shape[0]:  # more cells than tets
                best, best_d = -1, np.inf
                for q in range(cand.shape[0]):
                    dq = _tet_dist(p, x, tets, cand[q])
                    if dq < best_d:
                        best_d = dq
                        best = q
                break
            for k in range(k0, k1 + 1):
                for j in range(j0, j1 + 1):
                    for ii in range(i0, i1 + 1):
                        c = (k * dims[1] + j) * dims[0] + ii
                        for s in range(start[c], start[c + 1]):
                            q = items[s]
                            # each box once: in the first cell of it inside the query range
                            if (
                                ii != max(_cell(lo[q, 0], origin[0], cell, dims[0]), i0)
                                or j != max(_cell(lo[q, 1], origin[1], cell, dims[1]), j0)
                                or k != max(_cell(lo[q, 2], origin[2], cell, dims[2]), k0)
                            ):
                                continue
                            g = 0.0
                            for a in range(3):
                                e = max(lo[q, a] - p[a], p[a] - hi[q, a], 0.0)
                                g += e * e
                            # a margin for round-off: a tet is skipped only if it is surely farther
                            if g > r * r or np.sqrt(g) > best_d * (1.0 + 1e-9):
                                continue
                            dq = _tet_dist(p, x, tets, cand[q])
                            if dq < best_d or (dq == best_d and q < best):
                                best_d = dq
                                best = q
            full = i0 == 0 and j0 == 0 and k0 == 0 and i1 == dims[0] - 1 and j1 == dims[1] - 1 and k1 == dims[2] - 1
            if best >= 0 and best_d * (1.0 + 1e-9) <= r:
                break
            if r >= 1e300:
                break  # everything searched (or a non-finite point)
            if best >= 0:
                r = best_d * (1.0 + 1e-9) + 1e-300
            else:
                r = 1e300 if full else max(2.0 * r, cell)
        tet_index[i] = cand[best] if best >= 0 else -1
        dist[i] = best_d


@njit(cache=True, parallel=True)
def locate_nearest_brute(points, x, tets, cand, tet_index, dist):
    """:func:`locate_nearest` by brute force: every candidate tet's distance, the first smallest
    taken (the reference the grid search is tested against)."""
    for i in prange(points.shape[0]):
        p = points[i]
        best = -1
        best_d = np.inf
        for q in range(cand.shape[0]):
            dq = _tet_dist(p, x, tets, cand[q])
            if dq < best_d:
                best_d = dq
                best = cand[q]
        tet_index[i] = best
        dist[i] = best_d
