"""Numba kernels for tool-versus-tissue collision: broad phase, narrow phases, XPBD contacts.

Pure functions over contiguous float64/int64 arrays, in the style of
:mod:`vrmed.systems.tissue.kernels`; nothing here allocates per call except the one-off
load/cut-time helpers at the bottom (plain numpy).

Primitives (the kinematic tool side) are capsules (segment ``a``-``b`` swept by ``radius``;
a sphere is a capsule with ``a == b``) and oriented boxes (centre, rotation matrix whose
columns are the box axes, half extents). The tissue side is the boundary triangle surface of
a :class:`~vrmed.components.tissue.softbody.SoftBody` (faces of tets not shared with another tet,
wound outwards).

Contacts are XPBD position constraints with zero compliance and Coulomb friction (Müller et
al. 2020, "Detailed Rigid Body Simulation with Extended Position Based Dynamics", sec. 3.5;
Macklin et al. 2016 for XPBD): for a contact between a capsule and the triangle point
``q = sum_i b_i x_i`` with normal ``n`` (from tool to tissue) and penetration ``d``,

    C = d,   grad_{x_i} C = b_i n,   dlam = d / (sum_i b_i^2 n^T W_i n),   dx_i = W_i b_i n dlam

where ``W_i`` is the per-axis inverse mass (0 for pinned/attached axes; the tool is kinematic,
inverse mass 0). Friction then removes the tangential relative displacement of the substep
up to ``mu * d`` (static friction when it is below, kinetic otherwise). Velocities get
``dx / h`` so the correction is exactly as if it had been applied before the soft body's
``v = (x - x_prev) / h`` (the tissue solve and the contacts share the substep). The force on
the tool is ``-(dlam_n n + dlam_t t) / h^2`` (XPBD: lambda / h^2 is the constraint force).
The projection records each contact, and :func:`contact_velocities` then applies the
velocity-level response of Müller et al. 2020 (sec. 3.6): restitution on the normal velocity
relative to the tool, Coulomb friction on the tangential one.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from vrmed.systems.tissue.kernels import signed_volume6

_EPS = 1e-14
#: Barycentric above which a triangle's closest point is in its interior (not on an edge).
_INTERIOR = 1e-9
#: a tool that moved less than this fraction of its radius in a substep counts as still for the
#: contact's unfolding rule (:func:`_contact_pass`, "a face that was inside out at the substep's
#: start"): a held tool jitters (an optical tracker's 0.1-0.5 mm a frame, a hand's 10 Hz tremor
#: of 0.1-1 mm: tens of um a 900 Hz tick, 0.5 % of a 5 mm sphere's radius at 0.1 mm of noise), a
#: press at 0.5 m/s moves 0.56 mm (0.11 r) a tick
STILL_FRACTION = 0.05

KIND_CAPSULE = 0
KIND_BOX = 1

#: Most a contact projection may move one vertex, in units of the penetration it resolves. A
#: contact point next to held (pinned, attached) vertices has a tiny barycentric weight on its
#: free ones, and the exact projection would move those by depth / weight (1e12 m was measured:
#: a folded sheet whose attached end was driven into a tool). Free vertices of equal mass move
#: at most 1.37 x the depth (b_max / sum b^2 over the triangle), so 4 changes nothing else.
MAX_STEP = 4.0

# ----------------------------------------------------------------------------- vector helpers


@njit(cache=True, inline="always")
def _sub(a, b):
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


@njit(cache=True, inline="always")
def _add(a, b):
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2])


@njit(cache=True, inline="always")
def _mul(a, s):
    return (a[0] * s, a[1] * s, a[2] * s)


@njit(cache=True, inline="always")
def _dot(a, b):
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


@njit(cache=True)
def _exit_depth(dvec, n, r):
    """How far a point ``dvec`` from a sphere's centre (radius ``r``) must move along the unit
    vector ``n`` to leave it on that side: the far root of |dvec + t n| = r. ``r + |dvec|`` when
    ``n`` points away from the centre through the point's opposite side (``dvec`` antiparallel
    to ``n``), ``r - |dvec|`` when parallel; less than ``r + |dvec|`` when the point is off the
    line through the centre along ``n`` (a face's edge the sphere grazes edge-on)."""
    dn = _dot(dvec, n)
    disc = r * r - _dot(dvec, dvec) + dn * dn
    return -dn + np.sqrt(disc if disc > 0.0 else 0.0)


@njit(cache=True)
def _past_depth(dvec, d0, n, r, dist):
    """The push along ``n`` of a tissue point behind a face's plane from the tool's point (the
    "push the face past the tool" case of :func:`_contact_pass`): ``dvec`` now and ``d0`` at
    the substep's start (tissue point minus tool point), ``dist`` = |dvec|. At least out of the
    tool (:func:`_exit_depth`); back to the start's offset along ``n`` if the substep carried it
    farther across (the solve, which does not see the tool, moved it past the tool's centre);
    never more than ``r + dist``."""
    back = _dot(d0, n) - _dot(dvec, n)
    return max(_exit_depth(dvec, n, r), min(r + dist, back))


@njit(cache=True)
def _flipped_at_start(x_prev, tets, face_tet, f):
    """Whether boundary face ``f``'s own tet (``face_tet[f]`` of ``tets``) was inverted at the
    substep's start (``x_prev``): the face was then turned inside out, its outward normal
    pointing into the tissue and its "side" the wrong one (a fold). False when no tets are
    given (``face_tet`` not one per face)."""
    if face_tet.shape[0] == 0 or f >= face_tet.shape[0]:
        return False
    return signed_volume6(x_prev, tets, face_tet[f]) <= 0.0


@njit(cache=True, inline="always")
def _cross(a, b):
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


@njit(cache=True, inline="always")
def _row(x, i):
    return (x[i, 0], x[i, 1], x[i, 2])


@njit(cache=True, inline="always")
def _clamp01(t):
    return 0.0 if t < 0.0 else (1.0 if t > 1.0 else t)


# ----------------------------------------------------------------------------- closest points
# (Ericson, "Real-Time Collision Detection", 2005, sections 5.1.5 and 5.1.9)


@njit(cache=True)
def closest_point_triangle(p, a, b, c):
    """Barycentrics (u, v, w) of the point of triangle abc closest to p (q = u a + v b + w c)."""
    ab = _sub(b, a)
    ac = _sub(c, a)
    ap = _sub(p, a)
    d1 = _dot(ab, ap)
    d2 = _dot(ac, ap)
    if d1 <= 0.0 and d2 <= 0.0:
        return 1.0, 0.0, 0.0
    bp = _sub(p, b)
    d3 = _dot(ab, bp)
    d4 = _dot(ac, bp)
    if d3 >= 0.0 and d4 <= d3:
        return 0.0, 1.0, 0.0
    vc = d1 * d4 - d3 * d2
    if vc <= 0.0 and d1 >= 0.0 and d3 <= 0.0:
        # d1 - d3 >= 0 here; 0 only for a collapsed edge a = b (then vertex a): a zero
        # denominator raised ZeroDivisionError from inside the contact solve
        v = d1 / (d1 - d3) if d1 - d3 > 0.0 else 0.0
        return 1.0 - v, v, 0.0
    cp = _sub(p, c)
    d5 = _dot(ab, cp)
    d6 = _dot(ac, cp)
    if d6 >= 0.0 and d5 <= d6:
        return 0.0, 0.0, 1.0
    vb = d5 * d2 - d1 * d6
    if vb <= 0.0 and d2 >= 0.0 and d6 <= 0.0:
        w = d2 / (d2 - d6) if d2 - d6 > 0.0 else 0.0  # 0 only for a collapsed edge a = c
        return 1.0 - w, 0.0, w
    va = d3 * d6 - d5 * d4
    if va <= 0.0 and (d4 - d3) >= 0.0 and (d5 - d6) >= 0.0:
        den_bc = (d4 - d3) + (d5 - d6)
        w = (d4 - d3) / den_bc if den_bc > 0.0 else 0.0  # 0 only for a collapsed edge b = c
        return 0.0, 1.0 - w, w
    den = va + vb + vc
    if abs(den) < _EPS:  # degenerate (collapsed) triangle: fall back to vertex a
        return 1.0, 0.0, 0.0
    v = vb / den
    w = vc / den
    return 1.0 - v - w, v, w


@njit(cache=True)
def closest_params_segments(p1, q1, p2, q2):
    """Parameters (s, t) in [0, 1] of the closest points p1 + s (q1 - p1) and p2 + t (q2 - p2)."""
    d1 = _sub(q1, p1)
    d2 = _sub(q2, p2)
    r = _sub(p1, p2)
    a = _dot(d1, d1)
    e = _dot(d2, d2)
    f = _dot(d2, r)
    if a <= _EPS and e <= _EPS:
        return 0.0, 0.0
    if a <= _EPS:
        return 0.0, _clamp01(f / e)
    c = _dot(d1, r)
    if e <= _EPS:
        return _clamp01(-c / a), 0.0
    b = _dot(d1, d2)
    den = a * e - b * b
    s = _clamp01((b * f - c * e) / den) if den > _EPS else 0.0
    t = (b * s + f) / e
    if t < 0.0:
        t = 0.0
        s = _clamp01(-c / a)
    elif t > 1.0:
        t = 1.0
        s = _clamp01((b - c) / a)
    return s, t


@njit(cache=True)
def segment_triangle(a, b, x0, x1, x2):
    """Closest points of segment ab and triangle x0x1x2: (s, u, v, w, dist2).

    The segment point is a + s (b - a); the triangle point u x0 + v x1 + w x2. If the
    segment crosses the triangle the distance is 0 at the crossing.
    """
    e1 = _sub(x1, x0)
    e2 = _sub(x2, x0)
    d = _sub(b, a)
    # segment-triangle intersection (Moller-Trumbore on the segment)
    pv = _cross(d, e2)
    det = _dot(e1, pv)
    if abs(det) > _EPS:
        inv = 1.0 / det
        tv = _sub(a, x0)
        uu = _dot(tv, pv) * inv
        if 0.0 <= uu <= 1.0:
            qv = _cross(tv, e1)
            vv = _dot(d, qv) * inv
            if vv >= 0.0 and uu + vv <= 1.0:
                s = _dot(e2, qv) * inv
                if 0.0 <= s <= 1.0:
                    return s, 1.0 - uu - vv, uu, vv, 0.0
    best_s, bu, bv, bw, best = 0.0, 1.0, 0.0, 0.0, 1e300
    # the two segment ends against the triangle
    for k in range(2):
        sk = float(k)
        p = _add(a, _mul(d, sk))
        u, v, w = closest_point_triangle(p, x0, x1, x2)
        q = _add(_add(_mul(x0, u), _mul(x1, v)), _mul(x2, w))
        r = _sub(p, q)
        d2 = _dot(r, r)
        if d2 < best:
            best_s, bu, bv, bw, best = sk, u, v, w, d2
    # the segment against the three edges
    for k in range(3):
        if k == 0:
            ea, eb = x0, x1
        elif k == 1:
            ea, eb = x1, x2
        else:
            ea, eb = x2, x0
        s, t = closest_params_segments(a, b, ea, eb)
        p = _add(a, _mul(d, s))
        q = _add(ea, _mul(_sub(eb, ea), t))
        r = _sub(p, q)
        d2 = _dot(r, r)
        if d2 < best:
            best = d2
            best_s = s
            if k == 0:
                bu, bv, bw = 1.0 - t, t, 0.0
            elif k == 1:
                bu, bv, bw = 0.0, 1.0 - t, t
            else:
                bu, bv, bw = t, 0.0, 1.0 - t
    return best_s, bu, bv, bw, best


@njit(cache=True)
def segment_distance(a0, b0, a1, b1):
    """Distance between segments a0-b0 and a1-b1 (tool-versus-tool proximity)."""
    s, t = closest_params_segments(a0, b0, a1, b1)
    p = _add(a0, _mul(_sub(b0, a0), s))
    q = _add(a1, _mul(_sub(b1, a1), t))
    r = _sub(p, q)
    return np.sqrt(_dot(r, r))


# ----------------------------------------------------------------------------- broad phase


@njit(cache=True)
def primitive_bounds(kind, seg_a, seg_b, seg_a0, seg_b0, radius, box_c, box_c0, box_R, box_half, n_prims, pad, lo, hi):
    """AABBs of the first ``n_prims`` primitives over the substep (both the substep's start
    pose ``*0`` and its end pose), inflated by ``radius + pad`` (capsules) or ``pad`` (boxes)."""
    for p in range(n_prims):
        if kind[p] == KIND_CAPSULE:
            r = radius[p] + pad
            for c in range(3):
                m = min(seg_a[p, c], seg_b[p, c], seg_a0[p, c], seg_b0[p, c])
                M = max(seg_a[p, c], seg_b[p, c], seg_a0[p, c], seg_b0[p, c])
                lo[p, c] = m - r
                hi[p, c] = M + r
        else:
            for c in range(3):
                ext = (
                    abs(box_R[p, c, 0]) * box_half[p, 0]
                    + abs(box_R[p, c, 1]) * box_half[p, 1]
                    + abs(box_R[p, c, 2]) * box_half[p, 2]
                )
                lo[p, c] = min(box_c[p, c], box_c0[p, c]) - ext - pad
                hi[p, c] = max(box_c[p, c], box_c0[p, c]) + ext + pad


@njit(cache=True)
def broad_phase(
    x,
    surf_verts,
    vf_ptr,
    vf_idx,
    vert_reach,
    kind,
    seg_a,
    seg_b,
    seg_a0,
    seg_b0,
    radius,
    box_c,
    box_R,
    box_half,
    lo,
    hi,
    n_prims,
    cand,
    stamp,
    counter,
    out_prim,
    out_face,
    max_out,
):
    """Candidate (primitive, face) pairs whose AABBs overlap; returns their count.

    Every surface vertex is tested against the union of the primitives' boxes (``lo``/``hi``,
    inflated by the largest reach), then the few inside against each primitive's box and its
    exact distance to the primitive (capsule segment at the end of the substep, or box): a
    vertex within ``radius + vert_reach[k]`` plus the substep's motion of the primitive makes
    the faces around it candidates (deduplicated per primitive with ``stamp``/``counter``, so
    nothing is cleared per call). Any point of a triangle lies within its longest edge of each
    of its vertices, so a per-vertex reach of margin + (stretched) longest incident rest edge
    never misses a triangle the primitive touches, while small triangles get a tight test.
    A deforming surface needs no rebuild or refit: this O(surface vertices) sweep costs less
    than rebuilding a grid over them. Pairs beyond ``max_out`` are dropped (the count
    returned is then ``max_out``).
    """
    if n_prims == 0:
        return 0
    ulo0, ulo1, ulo2 = lo[0, 0], lo[0, 1], lo[0, 2]
    uhi0, uhi1, uhi2 = hi[0, 0], hi[0, 1], hi[0, 2]
    for p in range(1, n_prims):
        ulo0 = min(ulo0, lo[p, 0])
        ulo1 = min(ulo1, lo[p, 1])
        ulo2 = min(ulo2, lo[p, 2])
        uhi0 = max(uhi0, hi[p, 0])
        uhi1 = max(uhi1, hi[p, 1])
        uhi2 = max(uhi2, hi[p, 2])
    nc = 0
    for k in range(surf_verts.shape[0]):
        i = surf_verts[k]
        x0 = x[i, 0]
        x1 = x[i, 1]
        x2 = x[i, 2]
        if x0 < ulo0 or x0 > uhi0 or x1 < ulo1 or x1 > uhi1 or x2 < ulo2 or x2 > uhi2:
            continue
        cand[nc] = i
        nc += 1
    n = 0
    for p in range(n_prims):
        counter[0] += 1
        sv = counter[0]
        capsule = kind[p] == KIND_CAPSULE
        a = _row(seg_a, p)
        b = _row(seg_b, p)
        ab = _sub(b, a)
        abab = _dot(ab, ab)
        da = _sub(a, _row(seg_a0, p))
        db = _sub(b, _row(seg_b0, p))
        motion = radius[p] + np.sqrt(max(_dot(da, da), _dot(db, db)))
        for k in range(nc):
            i = cand[k]
            if (
                x[i, 0] < lo[p, 0]
                or x[i, 0] > hi[p, 0]
                or x[i, 1] < lo[p, 1]
                or x[i, 1] > hi[p, 1]
                or x[i, 2] < lo[p, 2]
                or x[i, 2] > hi[p, 2]
            ):
                continue
            reach = vert_reach[i] + motion
            xi = _row(x, i)
            if capsule:
                s = _clamp01(_dot(_sub(xi, a), ab) / abab) if abab > _EPS else 0.0
                r_ = _sub(xi, _add(a, _mul(ab, s)))
                d2 = _dot(r_, r_)
            else:
                rel = _sub(xi, _row(box_c, p))
                d2 = 0.0
                for ax in range(3):
                    u = rel[0] * box_R[p, 0, ax] + rel[1] * box_R[p, 1, ax] + rel[2] * box_R[p, 2, ax]
                    e = abs(u) - box_half[p, ax]
                    if e > 0.0:
                        d2 += e * e
            if d2 > reach * reach:
                continue
            for j in range(vf_ptr[i], vf_ptr[i + 1]):
                f = vf_idx[j]
                if stamp[f] != sv:
                    stamp[f] = sv
                    if n < max_out:
                        out_prim[n] = p
                        out_face[n] = f
                        n += 1
    return n


# ----------------------------------------------------------------------------- contact solve


#: Columns of the per-vertex record ``cbuf`` (n, CBUF_COLS) of one tick: the displacement the
#: contacts gave the vertex (0:3), the tick stamp (3) that marks the row as this tick's (a row
#: is reset on the vertex's first contact of a tick, never cleared), the friction's part of the
#: displacement (4:7).
CBUF_COLS = 7
#: Columns of a contact record ``crec`` (rows, CREC_COLS): vertex, unit normal (tool to tissue),
#: the tool's velocity at the contact, friction coefficient.
CREC_COLS = 8


@njit(cache=True)
def _note_contact(i, n, tool_disp, mu, inv_h, cbuf, clist, ccount, crec):
    """Note that a contact with normal ``n`` moves vertex ``i`` this tick: on its first contact of
    the tick (``ccount[1]`` is the tick) its ``cbuf`` row is reset and ``i`` appended to
    ``clist``; the contact (vertex, normal, tool velocity, friction) is appended to ``crec``
    while there is room (``ccount[2]`` records; ``ccount[3]`` counts those that found none)."""
    if cbuf[i, 3] != ccount[1]:
        for c in range(CBUF_COLS):
            cbuf[i, c] = 0.0
        cbuf[i, 3] = ccount[1]
        clist[ccount[0]] = i
        ccount[0] += 1
    k = ccount[2]
    if k >= crec.shape[0]:
        ccount[3] += 1
        return
    crec[k, 0] = i
    for r in range(3):
        crec[k, 1 + r] = n[r]
        crec[k, 4 + r] = tool_disp[r] * inv_h
    crec[k, 7] = mu
    ccount[2] = k + 1


@njit(cache=True)
def contact_velocities(v, w, cbuf, clist, ccount, crec, inv_h, restitution, rest_speed):
    """Velocity-level contact response of one tick (Müller et al. 2020, "Detailed Rigid Body
    Simulation with Extended Position Based Dynamics", sec. 3.6; Macklin et al. 2019, "Small
    Steps in Physics Simulation"), after the contact projection.

    The projection's ``v += dx / h`` turns every push into velocity, also the part that removes
    penetration left from earlier ticks or made by the elastic solve (which does not see the
    tool): that flung tissue off tools. One Gauss-Seidel sweep over this tick's contacts
    (``crec``, in projection order), relative to the tool's velocity ``u`` at each: with ``vn0``
    the vertex's normal velocity before any contact of the tick (the solve's, ``v - dx / h``),
    the contact may leave at most ``max(vn0, -e vn0, 0)`` (``e`` = ``restitution`` above
    ``rest_speed`` of approach, else 0): an approaching vertex stops relative to the tool (or
    bounces with ``e``), one already separating keeps its speed, and no push adds more; a vertex
    still approaching after the projection (held vertices) gets that velocity too. Coulomb
    friction then reduces the tangential velocity by at most ``mu`` times the normal velocity
    change the contact gave (``max(vn0, -e vn0, 0) - vn0``; to zero when that suffices:
    sticking), once per contact and tick (later passes' records carry no friction). Between
    those bounds the velocity stays the projection's, so it agrees with how the vertex moved.
    Axes with zero inverse mass keep their velocity. No allocation. If ``crec`` ran out of rows
    (``ccount[3]``) the tick keeps the projection's velocities.
    """
    if ccount[3] > 0:
        return
    for k in range(ccount[0]):
        i = clist[k]
        for r in range(3):
            cbuf[i, r] = v[i, r] - cbuf[i, r] * inv_h  # the pre-contact velocity
            v[i, r] -= cbuf[i, 4 + r] * inv_h  # the friction is redone below, at velocity level
    for k in range(ccount[2]):
        i = int(crec[k, 0])
        n = (crec[k, 1], crec[k, 2], crec[k, 3])
        u = (crec[k, 4], crec[k, 5], crec[k, 6])
        rel = _sub(_row(v, i), u)
        rel0 = _sub(_row(cbuf, i), u)
        vn = _dot(rel, n)
        vn0 = _dot(rel0, n)
        e = restitution if -vn0 > rest_speed else 0.0
        allowed = max(vn0, -e * vn0, 0.0)  # the normal velocity the contact may leave
        dvn = 0.0
        if vn > allowed or vn < 0.0:
            dvn = allowed - vn
        for r in range(3):
            if w[i, r] > 0.0:
                v[i, r] += dvn * n[r]
        mu = crec[k, 7]
        if mu <= 0.0:
            continue  # frictionless, or a later pass's record (friction once per contact)
        jn = allowed - vn0  # the normal velocity change the contact gave (>= 0)
        tan = _sub(rel, _mul(n, vn))
        tl = np.sqrt(_dot(tan, tan))
        cut = min(tl, mu * jn) / tl if tl > 0.0 else 0.0
        for r in range(3):
            if w[i, r] > 0.0:
                v[i, r] -= cut * tan[r]


@njit(cache=True)
def _push_triangle(
    x, v, x_prev, w, i0, i1, i2, bu, bv, bw, n, depth, tool_disp, mu, inv_h, cbuf, clist, ccount, crec, record
):
    """Project one contact onto triangle (i0, i1, i2) at barycentrics (bu, bv, bw) along n by
    depth, then Coulomb friction; returns (lam_n, lam_t, t) (t the friction direction).

    When ``cbuf`` has a row per vertex, the displacement of each vertex is added to it for the
    velocity pass (:func:`contact_velocities`) and the contact noted (:func:`_note_contact`), with
    its friction only if ``record`` (the first pass: friction once per contact and tick)."""
    wn = 0.0
    wmax = 0.0
    for k in range(3):
        i = i0 if k == 0 else (i1 if k == 1 else i2)
        b = bu if k == 0 else (bv if k == 1 else bw)
        wk = w[i, 0] * n[0] * n[0] + w[i, 1] * n[1] * n[1] + w[i, 2] * n[2] * n[2]
        wn += b * b * wk
        wmax = max(wmax, b * wk)
    if not (wn > _EPS * _EPS and wmax > 0.0):
        # nothing to move, or the only free corner has a negative barycentric (the closest point
        # rounded just off the face): the push would move it towards the tool by depth / b (it
        # was a ZeroDivisionError in the compiled solve, which ended the session: the scissors
        # dissection, docs/physics.md "Contact"); the face's neighbours hold the contact
        return 0.0, 0.0, (0.0, 0.0, 0.0)
    lam = min(depth / wn, MAX_STEP * depth / wmax)
    note = cbuf.shape[0] == x.shape[0]
    for k in range(3):
        i = i0 if k == 0 else (i1 if k == 1 else i2)
        b = bu if k == 0 else (bv if k == 1 else bw)
        if note and b > 0.0:
            _note_contact(i, n, tool_disp, mu if record else 0.0, inv_h, cbuf, clist, ccount, crec)
        for r in range(3):
            dx = w[i, r] * b * n[r] * lam
            x[i, r] += dx
            v[i, r] += dx * inv_h
            if note:
                cbuf[i, r] += dx
    if mu <= 0.0:
        return lam, 0.0, (0.0, 0.0, 0.0)
    # relative tangential displacement over the substep (tissue point minus tool point)
    dq0 = bu * (x[i0, 0] - x_prev[i0, 0]) + bv * (x[i1, 0] - x_prev[i1, 0]) + bw * (x[i2, 0] - x_prev[i2, 0])
    dq1 = bu * (x[i0, 1] - x_prev[i0, 1]) + bv * (x[i1, 1] - x_prev[i1, 1]) + bw * (x[i2, 1] - x_prev[i2, 1])
    dq2 = bu * (x[i0, 2] - x_prev[i0, 2]) + bv * (x[i1, 2] - x_prev[i1, 2]) + bw * (x[i2, 2] - x_prev[i2, 2])
    rel = (dq0 - tool_disp[0], dq1 - tool_disp[1], dq2 - tool_disp[2])
    rn = _dot(rel, n)
    tan = _sub(rel, _mul(n, rn))
    tl = np.sqrt(_dot(tan, tan))
    if tl < 1e-15:
        return lam, 0.0, (0.0, 0.0, 0.0)
    t = _mul(tan, -1.0 / tl)  # the friction correction opposes the sliding
    corr = min(tl, mu * depth)  # static friction removes all of it, kinetic up to mu * d
    wt = 0.0
    wmax = 0.0
    for k in range(3):
        i = i0 if k == 0 else (i1 if k == 1 else i2)
        b = bu if k == 0 else (bv if k == 1 else bw)
        wk = w[i, 0] * t[0] * t[0] + w[i, 1] * t[1] * t[1] + w[i, 2] * t[2] * t[2]
        wt += b * b * wk
        wmax = max(wmax, b * wk)
    if not (wt > _EPS * _EPS and wmax > 0.0):
        return lam, 0.0, t
    lt = min(corr / wt, MAX_STEP * corr / wmax)
    for k in range(3):
        i = i0 if k == 0 else (i1 if k == 1 else i2)
        b = bu if k == 0 else (bv if k == 1 else bw)
        for r in range(3):
            dx = w[i, r] * b * t[r] * lt
            x[i, r] += dx
            v[i, r] += dx * inv_h
            if note:
                cbuf[i, r] += dx
                cbuf[i, 4 + r] += dx
    return lam, lt, t


@njit(cache=True)
def mark_fold(x, tets, near, fold):
    """``fold`` (n,) bool: True for every vertex of an inverted tet (det F <= 0; only tets the
    inversion recovery flags, ``near``, are looked at: it flags every inverted tet), False
    elsewhere; returns how many tets are inverted."""
    fold[:] = False
    inverted = 0
    for t in range(tets.shape[0]):
        if not near[t]:
            continue
        if signed_volume6(x, tets, t) <= 0.0:
            inverted += 1
            for c in range(4):
                fold[tets[t, c]] = True
    return inverted


@njit(cache=True)
def solve_contacts(
    x,
    v,
    x_prev,
    w,
    faces,
    face_normal_sign,
    n_pairs,
    pair_prim,
    pair_face,
    kind,
    seg_a,
    seg_b,
    seg_a0,
    seg_b0,
    radius,
    box_c,
    box_c0,
    box_R,
    box_half,
    friction,
    h,
    force,
    count,
    max_depth,
    iterations,
    tol,
    active,
    hold,
    fold,
    tets,
    face_tet,
    cbuf,
    clist,
    ccount,
    crec,
    still=STILL_FRACTION,
    past_push=True,
    closest=False,
):
    """Narrow phase and XPBD contact projection for the candidate pairs (Gauss-Seidel order).

    Capsules against triangles use the closest points of segment and triangle: the normal
    points from the segment point to the triangle point, or along the face's inward normal
    when the segment point is behind the face (inside the tissue, at most one radius deep;
    deeper points are taken to belong to a farther part of the surface). Boxes push each
    face vertex found inside the box out through the nearest box face. ``force`` (P, 3) gets
    the force on each primitive (N, tissue on tool), ``count`` the contacts, ``max_depth``
    the deepest penetration found before projection (m). ``face_normal_sign`` is +1 when the
    faces are wound outwards. ``hold`` (n,) bool gets True for every vertex a contact pushed
    (the next substep's inversion recovery keeps them fixed); pass an empty array for none.
    ``fold`` (n,) bool: vertices of inverted tets (:func:`mark_fold`; empty for none).
    ``tets`` (T, 4) and ``face_tet`` (F,): the body's tets and each face's own tet, to tell a
    face that was inside out at the substep's start (:func:`_flipped_at_start`; an empty
    ``face_tet``: none is).
    ``cbuf`` (n, :data:`CBUF_COLS`), ``clist`` (n,), ``ccount`` (4,) and ``crec`` (rows,
    :data:`CREC_COLS`) get this tick's record of the vertices the contacts moved and of the
    contacts, for :func:`contact_velocities` (``cbuf`` with no rows: none).
    ``still``: the share of its radius under which a tool's move in the substep counts as still
    (:data:`STILL_FRACTION`; 0: never, for a body whose tet sweep saw the tool, docs/physics.md
    "Contact inside the tet sweep"). ``past_push`` False: a face whose interior the tool's point
    is behind is left alone instead of pushed past the tool (the body's tet sweep pushed each
    face back to the side it came from).
    """
    ccount[0] = 0
    ccount[1] += 1
    ccount[2] = 0
    ccount[3] = 0
    inv_h = 1.0 / h
    inv_h2 = inv_h * inv_h
    n_active = n_pairs
    for it in range(iterations):
        worst, n_active = _contact_pass(
            x,
            v,
            x_prev,
            w,
            faces,
            face_normal_sign,
            n_active,
            pair_prim,
            pair_face,
            kind,
            seg_a,
            seg_b,
            seg_a0,
            seg_b0,
            radius,
            box_c,
            box_c0,
            box_R,
            box_half,
            friction,
            inv_h,
            inv_h2,
            force,
            count,
            max_depth,
            it,
            active,
            hold,
            fold,
            tets,
            face_tet,
            cbuf,
            clist,
            ccount,
            crec,
            still,
            past_push,
            closest,
        )
        if worst <= tol or n_active == 0:
            break


@njit(cache=True)
def _contact_pass(
    x,
    v,
    x_prev,
    w,
    faces,
    face_normal_sign,
    n_in,
    pair_prim,
    pair_face,
    kind,
    seg_a,
    seg_b,
    seg_a0,
    seg_b0,
    radius,
    box_c,
    box_c0,
    box_R,
    box_half,
    friction,
    inv_h,
    inv_h2,
    force,
    count,
    max_depth,
    it,
    active,
    hold,
    fold,
    tets,
    face_tet,
    cbuf,
    clist,
    ccount,
    crec,
    still,
    past_push,
    closest,
):
    """One Gauss-Seidel pass: the first over every candidate pair (recording in ``active`` the
    pairs that were in contact), the later ones over those only (their pushes move surface away
    from the tool, so a pair out of contact in the first pass stays out). Returns (deepest
    contact, pairs in contact)."""
    mark = hold.shape[0] == x.shape[0]
    worst = 0.0
    n_out = 0
    for kk in range(n_in):
        k = kk if it == 0 else active[kk]
        p = pair_prim[k]
        f = pair_face[k]
        i0 = faces[f, 0]
        i1 = faces[f, 1]
        i2 = faces[f, 2]
        x0 = _row(x, i0)
        x1 = _row(x, i1)
        x2 = _row(x, i2)
        mu = friction[p]
        if kind[p] == KIND_CAPSULE:
            a = _row(seg_a, p)
            b = _row(seg_b, p)
            s, bu, bv, bw, d2 = segment_triangle(a, b, x0, x1, x2)
            r = radius[p]
            if d2 >= r * r:
                continue
            ps = _add(a, _mul(_sub(b, a), s))
            q = _add(_add(_mul(x0, bu), _mul(x1, bv)), _mul(x2, bw))
            nf = _cross(_sub(x1, x0), _sub(x2, x0))
            nfl = np.sqrt(_dot(nf, nf))
            if nfl < _EPS:
                continue
            nf = _mul(nf, face_normal_sign / nfl)  # outward unit normal
            dvec = _sub(q, ps)
            dist = np.sqrt(d2)
            pa0 = _row(seg_a0, p)
            pb0 = _row(seg_b0, p)
            ps0 = _add(pa0, _mul(_sub(pb0, pa0), s))
            tool_disp = _sub(ps, ps0)
            # the same tissue point and tool point at the start of the substep (contacts resolved)
            d0 = (
                bu * x_prev[i0, 0] + bv * x_prev[i1, 0] + bw * x_prev[i2, 0] - ps0[0],
                bu * x_prev[i0, 1] + bv * x_prev[i1, 1] + bw * x_prev[i2, 1] - ps0[1],
                bu * x_prev[i0, 2] + bv * x_prev[i1, 2] + bw * x_prev[i2, 2] - ps0[2],
            )
            d0l = np.sqrt(_dot(d0, d0))
            behind = _dot(dvec, nf) > 0.0 and dist >= 1e-9
            past = False  # the "push the face past the tool" branch
            # a face that was inside out at the substep's start while the tool stood still (it
            # moved less than STILL_FRACTION of its radius: a held tool jitters, and with "less
            # than 1 nm" a 0.1 mm tracker noise left the raptor's hold 32 tets inverted and
            # +1.61 J a tick): see the "passed the tool's axis" case below (looked at only
            # where one of the two cases that use it may apply)
            unfold = False
            if _dot(tool_disp, tool_disp) < (still * r) ** 2 and (behind or _dot(d0, dvec) < 0.0):
                unfold = _flipped_at_start(x_prev, tets, face_tet, f)
            if it == 0 and d0l > 1e-9 and _dot(d0, dvec) < 0.0 and not unfold:
                # the tissue point passed the tool's axis within this substep (the elastic solve,
                # which does not see the contact, moved it by F h^2 / m: 10 mm per substep under a
                # 5 mm sphere 30 mm deep in a soft block): push it back to the side it came from,
                # or the tissue snaps over the tool. First pass only: the later passes start from
                # this pass's projection, not from the solve (applied there it flipped the push of
                # a grasper's contacts back and forth until their force averaged to zero)
                # Not when the face was inside out at the substep's start (its tet inverted: a
                # fold) and the tool stood still: the solve alone carried the point across (a
                # still tool pushes nothing through), out of the fold, and the push back to the
                # side it came from re-inverted what the solve had just opened and put the fold's
                # energy back, every tick: on the raptor held after a 0.5 m/s press the solve
                # moved a vertex whose 9 tets were all inverted 21.7 mm across the tool (body
                # energy 4.92 J -> 0.007 J) and this push put it back (-> 4.92 J), 31 tets left
                # inverted at the end of the hold (docs/physics.md "Open in contact"). Such a
                # face is pushed out the closest way, below. Under a moving tool the flipped
                # faces are the contacts' own fresh fold (the push past the tool inverts the tets
                # behind a face): pushed the closest way there the tissue closed over the tool
                # (truthcylinder1 pressed at 2 m/s), so the push stays as it was
                n = _mul(d0, 1.0 / d0l)
                depth = r - _dot(dvec, n)
            elif behind and _dot(d0, nf) > 0.0 and not (bu > _INTERIOR and bv > _INTERIOR and bw > _INTERIOR):
                # behind the face's plane but off the face (an edge or corner is closest), and
                # already behind it at the substep's start: at a convex ridge that is a tool
                # *outside* the neighbouring face, and pushing this face past the tool snapped the
                # tissue over it (vertices at 7 m/s for a 0.5 m/s tool, the tool ended inside);
                # the face whose interior it is behind, or which it is in front of, holds it. (A
                # tool that was in front and is behind now had the tissue moved past it by the
                # solve, e.g. a pressed apex vertex: pushed past it below, as before.)
                if not closest:
                    continue
                # ``closest``: no face held it (the surface was still deeper than the stated
                # tolerance in the tool after the contacts: both faces of a ridge the tool is
                # behind skipped it, 2.5 mm of the edge in the tool on truthcylinder1 at 2 m/s):
                # out of the tool the closest way, away from the tool's point
                n = _mul(dvec, 1.0 / dist)
                depth = r - dist
            elif not behind:
                # tool point outside the face (or on it): push the tissue away from the tool
                if dist > 1e-9:
                    n = _mul(dvec, 1.0 / dist)
                else:
                    n = _mul(nf, -1.0)
                depth = r - dist
            else:
                # tool point behind the face (inside the tissue): push the face past it, unless
                # the face is part of a fold (a vertex of a tet the inversion recovery flags) and
                # the tool was behind it at the substep's start already: a fold's flipped faces
                # face the wrong way, so a tool leaving the tissue is "behind" them and pushing
                # them past it dragged the folded tissue along (the 6 cm box pressed 20 mm at
                # 0.5 m/s kept 11 inverted tets and a vertex at 0.9 m/s for good,
                # docs/physics.md "Contact")
                if fold.shape[0] == x.shape[0] and (fold[i0] or fold[i1] or fold[i2]) and _dot(d0, nf) > 0.0:
                    if not closest:
                        continue
                    unfold = True  # ``closest`` (as above): the closest way out of the tool
                # as far along the inward normal as the tissue point must go to leave the tool
                # (r + dist when the tool's point is straight behind it, the face's interior
                # closest; less when an edge or corner is closest, off that line), or back to
                # where it was along it relative to the tool at the substep's start when the
                # solve carried it farther across (at most r + dist, the push before). A push of
                # r + dist for every face moved one the tool grazes edge-on (its plane through
                # the tool's centre, the point 4.9 mm from a 5 mm sphere's centre) ~2 r through
                # the tool: a still tool put +29.6 mJ into a box in one tick (docs/physics.md
                # "Contact")
                if not past_push and not unfold:
                    continue  # the tet sweep pushed it back to the side it came from
                if unfold:
                    # inside out at the substep's start under a still tool (see the "passed the
                    # tool's axis" case above): neither its normal nor its side is the tissue's,
                    # so the closest way out of the tool, away from the tool's point
                    n = _mul(dvec, 1.0 / dist)
                    depth = r - dist
                else:
                    n = _mul(nf, -1.0)
                    depth = _past_depth(dvec, d0, n, r, dist)
                    past = True
            ab = _sub(b, a)
            abl = np.sqrt(_dot(ab, ab))
            if abl > _EPS and 0.0 < s < 1.0:
                # the closest tool point is inside the shaft (not a cap): the way out of a capsule
                # there is radial, so the push loses its component along the axis. A face whose
                # normal lies along the shaft (the side face of a strip the shaft pierced) was
                # pushed along it, by up to a radius per pass, never clearing the shaft: the
                # tissue slid 33 mm a frame along a stationary clip applier's shaft (3.7 m/s
                # with no velocity to show for it; docs/physics.md "Contact")
                if d2 <= 0.0 and it > 0 and _dot(tool_disp, tool_disp) < (still * r) ** 2:
                    # the shaft of a still tool (as for the unfolding rule above) crosses the
                    # face (the face spans it): pushed in the first pass only. Moved r off the
                    # axis at the crossing point, an 8 mm face still spans a 5 mm shaft, crossed
                    # elsewhere, and was pushed r again in every pass (up to 8 r, 40 mm, a tick;
                    # two faces over the shaft sharing an edge pushed it to opposite sides, each
                    # towards where its point was at the substep's start) and pulled back by the
                    # next solve: a probe held still in a block, its shaft through the tissue
                    # closed over the tip, put +8.6 J into it in one tick (docs/physics.md "A
                    # probe with a shaft"). Under a moving tool every pass, as before (first pass
                    # only there, truthcylinder1 pressed at 2 m/s was pushed through at its
                    # first frame). Scissors slid into tissue slowly (27 um a tick, under 5 % of
                    # a 1.2 mm blade) and held open there count as still too: their blades pumped
                    # the faces they crossed the same way (the gallbladder's kinetic energy 191
                    # -> 47 uJ over the scripted novice's dwell)
                    continue
                ax = _mul(ab, 1.0 / abl)
                nr = _sub(n, _mul(ax, _dot(n, ax)))
                nrl = np.sqrt(_dot(nr, nr))
                if nrl < 1e-3:  # the face normal is the axis: leave on the side it came from,
                    nr = _sub(d0, _mul(ax, _dot(d0, ax)))
                    nrl = np.sqrt(_dot(nr, nr))
                    if nrl < 1e-9:  # (the point is on the axis) or towards the face's centroid
                        cen = _mul(_add(_add(x0, x1), x2), 1.0 / 3.0)
                        cs = _sub(cen, ps)
                        nr = _sub(cs, _mul(ax, _dot(cs, ax)))
                        nrl = np.sqrt(_dot(nr, nr))
                        if nrl < 1e-9:
                            continue
                n = _mul(nr, 1.0 / nrl)
                depth = _past_depth(dvec, d0, n, r, dist) if past else r - _dot(dvec, n)
                if depth <= 0.0:
                    continue
            if it == 0 and depth > max_depth[p]:
                max_depth[p] = depth
            worst = max(worst, depth)
            lam, lt, t = _push_triangle(
                x,
                v,
                x_prev,
                w,
                i0,
                i1,
                i2,
                bu,
                bv,
                bw,
                n,
                depth,
                tool_disp,
                mu,
                inv_h,
                cbuf,
                clist,
                ccount,
                crec,
                it == 0,
            )
            if lam != 0.0:
                active[n_out] = k
                n_out += 1
                if mark:
                    hold[i0] = True
                    hold[i1] = True
                    hold[i2] = True
                if it == 0 or count[p] == 0:
                    count[p] += 1
                for c in range(3):
                    force[p, c] -= (lam * n[c] + lt * t[c]) * inv_h2
        else:
            c0 = _row(box_c, p)
            cprev = _row(box_c0, p)
            tool_disp = _sub(c0, cprev)
            touched = False
            for k3 in range(3):
                i = i0 if k3 == 0 else (i1 if k3 == 1 else i2)
                rel = _sub(_row(x, i), c0)
                best = 1e300
                axis = 0
                sgn = 1.0
                inside = True
                for ax in range(3):
                    u = rel[0] * box_R[p, 0, ax] + rel[1] * box_R[p, 1, ax] + rel[2] * box_R[p, 2, ax]
                    pen = box_half[p, ax] - abs(u)
                    if pen <= 0.0:
                        inside = False
                        break
                    if pen < best:
                        best = pen
                        axis = ax
                        sgn = 1.0 if u >= 0.0 else -1.0
                if not inside:
                    continue
                n = (box_R[p, 0, axis] * sgn, box_R[p, 1, axis] * sgn, box_R[p, 2, axis] * sgn)
                if it == 0 and best > max_depth[p]:
                    max_depth[p] = best
                worst = max(worst, best)
                lam, lt, t = _push_triangle(
                    x,
                    v,
                    x_prev,
                    w,
                    i,
                    i,
                    i,
                    1.0,
                    0.0,
                    0.0,
                    n,
                    best,
                    tool_disp,
                    mu,
                    inv_h,
                    cbuf,
                    clist,
                    ccount,
                    crec,
                    it == 0,
                )
                if lam != 0.0:
                    touched = True
                    if mark:
                        hold[i] = True
                    if it == 0 or count[p] == 0:
                        count[p] += 1
                    for c in range(3):
                        force[p, c] -= (lam * n[c] + lt * t[c]) * inv_h2
            if touched:
                active[n_out] = k
                n_out += 1
    return worst, n_out


@njit(cache=True)
def contact_residual(x, faces, n_pairs, pair_prim, pair_face, kind, seg_a, seg_b, radius, skip, out):
    """How deep the surface still is inside each sphere or capsule tool after the contact
    projection: ``out[p]`` (P,) gets, for each capsule primitive ``p`` with a candidate pair,
    its radius minus the distance from its axis to the nearest candidate face (m; 0 when no
    candidate face is inside it), the same overlap the contacts resolve and the bench's
    ``inside_mm`` samples; returns the largest over the primitives ``skip`` (P,) bool does not
    mark (the tools already reported pushed through the body). Reads the state only (the
    contacts' stated tolerance is checked on it: ``collision.system.PUSHED_CHECK_DEPTH``)."""
    for p in range(out.shape[0]):
        out[p] = 0.0
    worst = 0.0
    for k in range(n_pairs):
        p = pair_prim[k]
        if kind[p] != KIND_CAPSULE:
            continue
        f = pair_face[k]
        s, bu, bv, bw, d2 = segment_triangle(
            _row(seg_a, p), _row(seg_b, p), _row(x, faces[f, 0]), _row(x, faces[f, 1]), _row(x, faces[f, 2])
        )
        r = radius[p]
        if d2 >= r * r:
            continue
        depth = r - np.sqrt(d2)
        if depth > out[p]:
            out[p] = depth
            if not skip[p]:
                worst = max(worst, depth)
    return worst


# ----------------------------------------------------------------------------- ray casts


@njit(cache=True)
def raycast_triangles(x, faces, origin, direction, t_max):
    """Nearest hit of the ray origin + t direction (0 <= t <= t_max) with the triangles
    (Moller & Trumbore 1997, both sides): returns (t, face, u, v) or (inf, -1, 0, 0)."""
    best_t = np.inf
    best_f = -1
    bu = 0.0
    bv = 0.0
    o = (origin[0], origin[1], origin[2])
    d = (direction[0], direction[1], direction[2])
    for f in range(faces.shape[0]):
        a = _row(x, faces[f, 0])
        e1 = _sub(_row(x, faces[f, 1]), a)
        e2 = _sub(_row(x, faces[f, 2]), a)
        pv = _cross(d, e2)
        det = _dot(e1, pv)
        if abs(det) < 1e-18:
            continue
        inv = 1.0 / det
        tv = _sub(o, a)
        u = _dot(tv, pv) * inv
        if u < 0.0 or u > 1.0:
            continue
        qv = _cross(tv, e1)
        vv = _dot(d, qv) * inv
        if vv < 0.0 or u + vv > 1.0:
            continue
        t = _dot(e2, qv) * inv
        if 0.0 <= t <= t_max and t < best_t:
            best_t, best_f, bu, bv = t, f, u, vv
    return best_t, best_f, bu, bv


@njit(cache=True)
def nodal_elastic_forces(x, tets, Q, volume, mu, lam, gamma, tet_list, out):
    """Add the elastic forces -dE/dx of the tets in ``tet_list`` to ``out`` (n, 3), N.

    E = V psi(F) with the stable Neo-Hookean psi of the solver (first Piola-Kirchhoff
    P = mu F + lam (J - gamma) cof F); the force on vertex k = 1..3 is -V (P Q^T)[:, k-1]
    and vertex 0 gets minus their sum.
    """
    F = np.empty(9)
    cof = np.empty(9)
    for m in range(tet_list.shape[0]):
        t = tet_list[m]
        i0, i1, i2, i3 = tets[t, 0], tets[t, 1], tets[t, 2], tets[t, 3]
        for r in range(3):
            for c in range(3):
                F[3 * r + c] = (
                    (x[i1, r] - x[i0, r]) * Q[t, 0, c]
                    + (x[i2, r] - x[i0, r]) * Q[t, 1, c]
                    + (x[i3, r] - x[i0, r]) * Q[t, 2, c]
                )
        cof[0] = F[4] * F[8] - F[7] * F[5]
        cof[1] = F[5] * F[6] - F[8] * F[3]
        cof[2] = F[3] * F[7] - F[6] * F[4]
        cof[3] = F[7] * F[2] - F[1] * F[8]
        cof[4] = F[8] * F[0] - F[2] * F[6]
        cof[5] = F[6] * F[1] - F[0] * F[7]
        cof[6] = F[1] * F[5] - F[4] * F[2]
        cof[7] = F[2] * F[3] - F[5] * F[0]
        cof[8] = F[0] * F[4] - F[3] * F[1]
        J = F[0] * cof[0] + F[1] * cof[1] + F[2] * cof[2]
        s = lam * (J - gamma)
        for r in range(3):
            tot = 0.0
            for k in range(3):
                g = 0.0
                for c in range(3):
                    g += (mu * F[3 * r + c] + s * cof[3 * r + c]) * Q[t, k, c]
                fk = -volume[t] * g
                tot += fk
                idx = i1 if k == 0 else (i2 if k == 1 else i3)
                out[idx, r] += fk
            out[i0, r] -= tot


# ----------------------------------------------------------------------------- load/cut time


def boundary_faces(points: np.ndarray, tets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Faces of tets not shared with another tet, wound so their normal points out of the
    tet (``faces`` (F, 3) int64), and the index of the tet each belongs to (``face_tet``)."""
    tets = np.asarray(tets, dtype=np.int64)
    local = np.array([[1, 2, 3], [0, 3, 2], [0, 1, 3], [0, 2, 1]])
    opposite = np.array([0, 1, 2, 3])
    tri = tets[:, local].reshape(-1, 3)
    key = np.sort(tri, axis=1)
    _, inv, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    single = counts[inv.ravel()] == 1
    tri = tri[single]
    face_tet = np.repeat(np.arange(len(tets)), 4)[single]
    opp = tets[face_tet, np.tile(opposite, len(tets))[single]]
    a, b, c = points[tri[:, 0]], points[tri[:, 1]], points[tri[:, 2]]
    nrm = np.cross(b - a, c - a)
    inward = np.einsum("ij,ij->i", nrm, points[opp] - a) > 0
    tri[inward] = tri[inward][:, [0, 2, 1]]
    return np.ascontiguousarray(tri, dtype=np.int64), np.ascontiguousarray(face_tet, dtype=np.int64)


def vertex_cells(cells: np.ndarray, n_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """A vertex -> cells CSR map of a (m, k) cell array (faces, tets): ``ptr`` (n+1,) and
    ``idx``, each vertex's cells in increasing order."""
    flat = cells.ravel()
    order = np.argsort(flat, kind="stable")
    ptr = np.concatenate([[0], np.cumsum(np.bincount(flat, minlength=n_vertices))]).astype(np.int64)
    return ptr, (order // cells.shape[1]).astype(np.int64)


def vertex_faces(faces: np.ndarray, n_vertices: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The surface's vertices and a vertex -> faces CSR map (``ptr`` (n+1,), ``idx``)."""
    ptr, idx = vertex_cells(faces, n_vertices)
    verts = np.flatnonzero(np.diff(ptr)).astype(np.int64)
    return verts, ptr, idx


@njit(cache=True)
def interpolate_prims(
    a_start, a_end, b_start, b_end, c_start, c_end, f0, f1, seg_a0, seg_b0, seg_a, seg_b, box_c0, box_c, n
):
    """Primitive poses at the start (fraction ``f0`` of the frame) and end (``f1``) of a substep,
    moving linearly from the frame's start to its end pose; one call, no allocation."""
    for p in range(n):
        for c in range(3):
            seg_a0[p, c] = a_start[p, c] + f0 * (a_end[p, c] - a_start[p, c])
            seg_b0[p, c] = b_start[p, c] + f0 * (b_end[p, c] - b_start[p, c])
            seg_a[p, c] = a_start[p, c] + f1 * (a_end[p, c] - a_start[p, c])
            seg_b[p, c] = b_start[p, c] + f1 * (b_end[p, c] - b_start[p, c])
            box_c0[p, c] = c_start[p, c] + f0 * (c_end[p, c] - c_start[p, c])
            box_c[p, c] = c_start[p, c] + f1 * (c_end[p, c] - c_start[p, c])


@njit(cache=True)
def faces_near_segment(x, faces, a, b, reach, out):
    """Mark in ``out`` (bool, per face) the triangles within ``reach`` of segment a-b; returns
    how many (a grasp closing on a coarse surface holds the triangles it touches)."""
    pa = (a[0], a[1], a[2])
    pb = (b[0], b[1], b[2])
    n = 0
    r2 = reach * reach
    for f in range(faces.shape[0]):
        _s, _u, _v, _w, d2 = segment_triangle(pa, pb, _row(x, faces[f, 0]), _row(x, faces[f, 1]), _row(x, faces[f, 2]))
        out[f] = d2 <= r2
        if out[f]:
            n += 1
    return n
