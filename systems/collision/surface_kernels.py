"""Numba kernels for tissue-tissue and self-contact: a spatial-hash broad phase over surface
vertices and XPBD vertex-triangle contacts with a thickness.

Broad phase (Teschner et al. 2003, "Optimized Spatial Hashing for Collision Detection of
Deformable Objects", VMV): each body's surface vertices are hashed into a uniform grid whose
cell is about the surface's mean rest edge, with the hash ``(ix 73856093 xor iy 19349663 xor iz
83492791) mod table`` of that paper, stored as a counting sort (``cell_start``/``cell_items``)
over a table of a fixed size (a power of two >= 2 x the vertex count). Every array is sized
once per surface from its vertex count, so a tick allocates nothing. Each triangle of the other
(or the same) surface then visits the cells its box, inflated by the contact reach, overlaps.

Narrow phase and projection: a vertex ``p`` against a triangle point ``q = sum_k b_k x_k``
(Ericson 2005, 5.1.5) with the outward face normal ``n`` keeps ``C = (p - q) . n - thickness
>= 0``; ``grad_p C = n``, ``grad_{x_k} C = -b_k n``, and with zero compliance the XPBD update
(Macklin et al. 2016; Müller et al. 2020, sec. 3.5 for contacts and friction) is
``dlam = -C / (n^T W_p n + sum_k b_k^2 n^T W_k n)``, ``dp = W_p n dlam``, ``dx_k = -W_k b_k n
dlam``. Off the face's interior (an edge or corner is closest) the normal is ``(p - q) / |p - q|``
and only a vertex outside the face counts (inside, a neighbouring face has it in its interior).
Coulomb friction removes the relative tangential displacement of the substep up to
``mu x depth``. Velocities get ``dx / h``, as for the tool contacts
(:mod:`vrmed.systems.collision.kernels`). The force on the vertex's body is ``n dlam / h^2``
(the triangle's body gets minus it).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from vrmed.systems.collision.kernels import _cross, _dot, _row, _sub, closest_point_triangle

_EPS = 1e-14
#: Barycentric above which the closest point of a triangle is in its interior.
_INTERIOR = 1e-9


@njit(cache=True, inline="always")
def _cell_hash(ix, iy, iz, mask):
    """Teschner et al. 2003's spatial hash of an integer cell, into a power-of-two table."""
    return ((ix * 73856093) ^ (iy * 19349663) ^ (iz * 83492791)) & mask


@njit(cache=True)
def build_grid(x, verts, inv_cell, keys, cell_start, cell_items, cursor, bbox):
    """Hash the surface vertices ``verts`` of ``x`` into the grid (counting sort, no allocation).

    ``cell_start`` (table + 1) gets each bucket's start in ``cell_items`` (local vertex indices
    k into ``verts``), ``keys`` (nv) each vertex's bucket, ``bbox`` (6) the vertices' box.
    """
    table = cursor.shape[0]
    mask = table - 1
    for h in range(table + 1):
        cell_start[h] = 0
    for c in range(3):
        bbox[c] = 1e300
        bbox[3 + c] = -1e300
    for k in range(verts.shape[0]):
        i = verts[k]
        for c in range(3):
            bbox[c] = min(bbox[c], x[i, c])
            bbox[3 + c] = max(bbox[3 + c], x[i, c])
        h = _cell_hash(
            np.int64(np.floor(x[i, 0] * inv_cell)),
            np.int64(np.floor(x[i, 1] * inv_cell)),
            np.int64(np.floor(x[i, 2] * inv_cell)),
            mask,
        )
        keys[k] = h
        cell_start[h + 1] += 1
    for h in range(table):
        cell_start[h + 1] += cell_start[h]
        cursor[h] = cell_start[h]
    for k in range(verts.shape[0]):
        h = keys[k]
        cell_items[cursor[h]] = k
        cursor[h] += 1


@njit(cache=True)
def _in_one_ring(i, a, b, c, faces, vf_ptr, vf_idx):
    """Whether vertex ``i`` is a, b or c or shares a face with one of them."""
    if i == a or i == b or i == c:
        return True
    for j in range(vf_ptr[i], vf_ptr[i + 1]):
        g = vf_idx[j]
        for m in range(3):
            q = faces[g, m]
            if q == a or q == b or q == c:
                return True
    return False


@njit(cache=True)
def collect_pairs(
    x_v,
    verts_v,
    inv_cell,
    cell_start,
    cell_items,
    bbox,
    stamp,
    counter,
    x_t,
    faces_t,
    reach,
    self_contact,
    excl_ptr,
    excl_idx,
    faces_v,
    vf_ptr,
    vf_idx,
    out_v,
    out_f,
):
    """Candidate (vertex of body V, face of body T) pairs closer than ``reach``; returns their
    count (pairs beyond ``out_v``'s length are counted but not stored: grow and call again).

    With ``self_contact`` (V is T) a vertex never pairs with a face listed for it in the sorted
    CSR ``excl_ptr``/``excl_idx`` (the faces within reach of it at rest, built once by
    :func:`collect_pairs` on the rest shape) nor with a face it shares a vertex with (one-ring).
    """
    mask = cell_start.shape[0] - 2
    max_out = out_v.shape[0]
    n = 0
    r2 = reach * reach
    for f in range(faces_t.shape[0]):
        a = faces_t[f, 0]
        b = faces_t[f, 1]
        c = faces_t[f, 2]
        lo0 = min(x_t[a, 0], x_t[b, 0], x_t[c, 0]) - reach
        lo1 = min(x_t[a, 1], x_t[b, 1], x_t[c, 1]) - reach
        lo2 = min(x_t[a, 2], x_t[b, 2], x_t[c, 2]) - reach
        hi0 = max(x_t[a, 0], x_t[b, 0], x_t[c, 0]) + reach
        hi1 = max(x_t[a, 1], x_t[b, 1], x_t[c, 1]) + reach
        hi2 = max(x_t[a, 2], x_t[b, 2], x_t[c, 2]) + reach
        if hi0 < bbox[0] or hi1 < bbox[1] or hi2 < bbox[2] or lo0 > bbox[3] or lo1 > bbox[4] or lo2 > bbox[5]:
            continue
        counter[0] += 1
        sv = counter[0]
        pa = _row(x_t, a)
        pb = _row(x_t, b)
        pc = _row(x_t, c)
        for ix in range(np.int64(np.floor(lo0 * inv_cell)), np.int64(np.floor(hi0 * inv_cell)) + 1):
            for iy in range(np.int64(np.floor(lo1 * inv_cell)), np.int64(np.floor(hi1 * inv_cell)) + 1):
                for iz in range(np.int64(np.floor(lo2 * inv_cell)), np.int64(np.floor(hi2 * inv_cell)) + 1):
                    h = _cell_hash(ix, iy, iz, mask)
                    for j in range(cell_start[h], cell_start[h + 1]):
                        k = cell_items[j]
                        if stamp[k] == sv:  # another cell of this box hashed to the same bucket
                            continue
                        stamp[k] = sv
                        i = verts_v[k]
                        if (
                            x_v[i, 0] < lo0
                            or x_v[i, 0] > hi0
                            or x_v[i, 1] < lo1
                            or x_v[i, 1] > hi1
                            or x_v[i, 2] < lo2
                            or x_v[i, 2] > hi2
                        ):
                            continue
                        if self_contact:
                            lo = excl_ptr[i]
                            hi = excl_ptr[i + 1]
                            while lo < hi:  # binary search of the sorted excluded faces
                                mid = (lo + hi) // 2
                                if excl_idx[mid] < f:
                                    lo = mid + 1
                                else:
                                    hi = mid
                            if lo < excl_ptr[i + 1] and excl_idx[lo] == f:
                                continue
                            if _in_one_ring(i, a, b, c, faces_v, vf_ptr, vf_idx):
                                continue
                        p = _row(x_v, i)
                        u, v, w = closest_point_triangle(p, pa, pb, pc)
                        e0 = p[0] - (u * pa[0] + v * pb[0] + w * pc[0])
                        e1 = p[1] - (u * pa[1] + v * pb[1] + w * pc[1])
                        e2 = p[2] - (u * pa[2] + v * pb[2] + w * pc[2])
                        if e0 * e0 + e1 * e1 + e2 * e2 > r2:
                            continue
                        if n < max_out:
                            out_v[n] = i
                            out_f[n] = f
                        n += 1
    return n


@njit(cache=True)
def solve_pairs(
    x_v,
    v_v,
    xp_v,
    w_v,
    x_t,
    v_t,
    xp_t,
    w_t,
    faces_t,
    pair_v,
    pair_f,
    n_pairs,
    thickness,
    max_depth,
    mu,
    h,
    iterations,
    tol,
    self_contact,
    force,
):
    """Project the vertex-triangle contacts ``iterations`` times (Gauss-Seidel; the first pass
    over every pair, the later ones over the pairs in contact, compacted to the front of
    ``pair_v``/``pair_f``), stopping once no contact is deeper than ``tol``; adds the force on
    body V (``force[0]``) and on body T (``force[1]``) in N, and returns (contacts in the first
    pass, deepest penetration found below ``thickness`` in the first pass).

    For ``self_contact`` a vertex behind a face's interior counts only if it was at most
    ``thickness`` behind it at the start of the substep (``xp``): a vertex of a thin body's
    other side is always behind the face, a vertex that is coming through it was in front.
    """
    inv_h = 1.0 / h
    inv_h2 = inv_h * inv_h
    first_count = 0
    first_depth = 0.0
    for it in range(iterations):
        worst = 0.0
        count = 0
        for k in range(n_pairs):
            i = pair_v[k]
            f = pair_f[k]
            a = faces_t[f, 0]
            b = faces_t[f, 1]
            c = faces_t[f, 2]
            pa = _row(x_t, a)
            pb = _row(x_t, b)
            pc = _row(x_t, c)
            p = _row(x_v, i)
            nf = _cross(_sub(pb, pa), _sub(pc, pa))
            nfl = np.sqrt(_dot(nf, nf))
            if nfl < _EPS:
                continue
            nf = (nf[0] / nfl, nf[1] / nfl, nf[2] / nfl)
            bu, bv, bw = closest_point_triangle(p, pa, pb, pc)
            e = (
                p[0] - (bu * pa[0] + bv * pb[0] + bw * pc[0]),
                p[1] - (bu * pa[1] + bv * pb[1] + bw * pc[1]),
                p[2] - (bu * pa[2] + bv * pb[2] + bw * pc[2]),
            )
            s = _dot(e, nf)
            if bu > _INTERIOR and bv > _INTERIOR and bw > _INTERIOR:
                n = nf
                dist = s
                if self_contact and s < 0.0:
                    # which side was it on at the start of the substep (same barycentrics)?
                    qa = _row(xp_t, a)
                    qb = _row(xp_t, b)
                    qc = _row(xp_t, c)
                    mp = _cross(_sub(qb, qa), _sub(qc, qa))
                    ep = (
                        xp_v[i, 0] - (bu * qa[0] + bv * qb[0] + bw * qc[0]),
                        xp_v[i, 1] - (bu * qa[1] + bv * qb[1] + bw * qc[1]),
                        xp_v[i, 2] - (bu * qa[2] + bv * qb[2] + bw * qc[2]),
                    )
                    mpl = np.sqrt(_dot(mp, mp))
                    if mpl < _EPS or _dot(ep, mp) < -thickness * mpl:
                        continue
            else:
                if s <= 0.0:
                    continue  # behind the face but off it: a neighbouring face holds it
                el = np.sqrt(_dot(e, e))
                if el < 1e-12:
                    continue
                n = (e[0] / el, e[1] / el, e[2] / el)
                dist = el
            if dist >= thickness or dist <= -max_depth:
                continue
            depth = thickness - dist
            wn = 0.0
            for r in range(3):
                nr2 = n[r] * n[r]
                wn += nr2 * (w_v[i, r] + bu * bu * w_t[a, r] + bv * bv * w_t[b, r] + bw * bw * w_t[c, r])
            if not (wn > _EPS * _EPS):
                continue
            pair_v[count] = i  # compact the pairs in contact: the later passes visit only them
            pair_f[count] = f
            count += 1
            if depth > worst:
                worst = depth
            dl = depth / wn
            for r in range(3):
                _move(x_v, v_v, w_v, i, r, n[r] * dl, inv_h)
                _move(x_t, v_t, w_t, a, r, -bu * n[r] * dl, inv_h)
                _move(x_t, v_t, w_t, b, r, -bv * n[r] * dl, inv_h)
                _move(x_t, v_t, w_t, c, r, -bw * n[r] * dl, inv_h)
                force[0, r] += n[r] * dl * inv_h2
                force[1, r] -= n[r] * dl * inv_h2
            if mu <= 0.0:
                continue
            # relative tangential displacement of the vertex over the substep (vertex minus face point)
            d0 = (x_v[i, 0] - xp_v[i, 0]) - (
                bu * (x_t[a, 0] - xp_t[a, 0]) + bv * (x_t[b, 0] - xp_t[b, 0]) + bw * (x_t[c, 0] - xp_t[c, 0])
            )
            d1 = (x_v[i, 1] - xp_v[i, 1]) - (
                bu * (x_t[a, 1] - xp_t[a, 1]) + bv * (x_t[b, 1] - xp_t[b, 1]) + bw * (x_t[c, 1] - xp_t[c, 1])
            )
            d2 = (x_v[i, 2] - xp_v[i, 2]) - (
                bu * (x_t[a, 2] - xp_t[a, 2]) + bv * (x_t[b, 2] - xp_t[b, 2]) + bw * (x_t[c, 2] - xp_t[c, 2])
            )
            dn = d0 * n[0] + d1 * n[1] + d2 * n[2]
            d = (d0 - dn * n[0], d1 - dn * n[1], d2 - dn * n[2])
            tl = np.sqrt(_dot(d, d))
            if tl < 1e-15:
                continue
            t = (-d[0] / tl, -d[1] / tl, -d[2] / tl)  # the friction correction opposes the sliding
            corr = min(tl, mu * depth)  # static: all of it; kinetic: up to mu x the normal correction
            wt = 0.0
            for r in range(3):
                tr2 = t[r] * t[r]
                wt += tr2 * (w_v[i, r] + bu * bu * w_t[a, r] + bv * bv * w_t[b, r] + bw * bw * w_t[c, r])
            if not (wt > _EPS * _EPS):
                continue
            lt = corr / wt
            for r in range(3):
                _move(x_v, v_v, w_v, i, r, t[r] * lt, inv_h)
                _move(x_t, v_t, w_t, a, r, -bu * t[r] * lt, inv_h)
                _move(x_t, v_t, w_t, b, r, -bv * t[r] * lt, inv_h)
                _move(x_t, v_t, w_t, c, r, -bw * t[r] * lt, inv_h)
                force[0, r] += t[r] * lt * inv_h2
                force[1, r] -= t[r] * lt * inv_h2
        if it == 0:
            first_count = count
            first_depth = worst
        n_pairs = count
        if worst <= tol or n_pairs == 0:
            break
    return first_count, first_depth


@njit(cache=True, inline="always")
def _move(x, v, w, i, r, g, inv_h):
    """x_i += W_i g along axis r (g = gradient x multiplier), and the velocity with it."""
    dx = w[i, r] * g
    x[i, r] += dx
    v[i, r] += dx * inv_h
