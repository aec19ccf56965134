"""Projective Dynamics solve of the cloth model (Bouaziz, Martin, Liu, Kavan & Pauly 2014,
"Projective Dynamics: fusing constraint projections for fast simulation").

Each step is one implicit-Euler step: minimise over x
  1/(2 h^2) |x - y|_M^2 + sum_t w_t/2 |F_t - P_t(F_t)|^2 + sum_i 1/(2 alpha_i) |B_i x - r_i|^2
(y = x + h v + h^2 (g + f/m) the inertial prediction) by alternating a local step (per
triangle, the closest target P_t of its deformation gradient F_t = Ds Dm^-1 (3 x 2) on two
constraint manifolds: the rotations (as-rigid-as-possible, weight 2 mu A t) and the
area-preserving stretches sigma_1 sigma_2 = 1 (weight 2 lambda_ps A t), which at small strain
add up to the plane-stress linear membrane with the material's E and nu) and a global step,
one linear solve with the constant matrix M/h^2 + sum w_t G_t G_t^T + sum B_i^T B_i / alpha_i
(the bending energy, the cotangent-Laplacian one of :func:`vrmed.components.cloth.sheet.bending_laplacian`,
is quadratic and lives entirely in the matrix). The matrix is the same for x, y and z; it is
factored once (banded Cholesky after a reverse Cuthill-McKee ordering) and again only when the
set of fixed vertices (pins, grasps), the triangles (a cut) or the step length change.

:func:`qn_step` solves the same step by L-BFGS with this matrix as its initial Hessian (Liu,
Bouaziz & Kavan 2017), with the energy and gradient of :func:`energy_gradient`: opt-in, it
swings a released flap ~5x sooner at 2 iterations for 2.2x the frame cost (docs/cloth.md).
:func:`newton_step` solves it by Newton iterations whose Hessian has the rotations right (per
triangle, the analytic eigensystem of the membrane energy projected to positive semi-definite,
:func:`membrane_modes`; assembled per step into a fixed block-sparse pattern,
:func:`hessian_pattern`, :func:`assemble_hessian`; kept across steps with only the elements
that moved recomputed, :func:`update_hessian`), by conjugate gradients preconditioned with
this factor: opt-in, the released flap falls as a hinged plate does, for ~2.6x the PD frame
near rest and ~10x while the sheet swings (docs/cloth.md, "Solver").
After each step of either, :func:`contact` holds free vertices out of static boxes and planes
at half the thickness with Coulomb friction (Bridson, Fedkiw & Anderson 2002).

Why not XPBD as the tet solver: gauze has h^2 k / m ~ 10^3-10^4 at the 10 substeps per frame
(membrane stiffness E t ~ 800 N/m on 0.2 mg vertices); one Gauss-Seidel iteration per substep
then has a static equilibrium set by the sweep rather than the material (measured: a 10 x
10 cm gauze clamped on two edges sagged 24 mm where the elastic answer is 1.2 mm, and a warm
start blew up), whereas the global solve carries the stiff stretch across the whole sheet at
once (docs/cloth.md, "Solver").
"""

from __future__ import annotations

import numpy as np
from numba import njit

from vrmed.systems.tissue.embedding_kernels import vertex_normals

# ----------------------------------------------------------------------------- assembly


def rcm_order(n: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Reverse Cuthill-McKee ordering of the graph given by the (row, col) pairs: new -> old
    vertex index. Deterministic (ties broken by index)."""
    keep = rows != cols
    r, c = rows[keep], cols[keep]
    order = np.lexsort((c, r))
    r, c = r[order], c[order]
    ptr = np.searchsorted(r, np.arange(n + 1))
    deg = np.diff(ptr)
    seen = np.zeros(n, bool)
    out: list[int] = []
    for start in np.argsort(deg, kind="stable").tolist():  # each component from a low-degree vertex
        if seen[start]:
            continue
        seen[start] = True
        queue = [start]
        head = 0
        while head < len(queue):
            u = queue[head]
            head += 1
            nb = c[ptr[u] : ptr[u + 1]]
            nb = nb[~seen[nb]]
            if nb.size:
                nb = np.unique(nb)
                nb = nb[np.argsort(deg[nb], kind="stable")]
                seen[nb] = True
                queue.extend(nb.tolist())
        out.extend(queue)
    return np.asarray(out[::-1], dtype=np.int64)


def assemble(
    n: int,
    tris: np.ndarray,
    gt: np.ndarray,
    w_tri: np.ndarray,
    b_ptr: np.ndarray,
    b_idx: np.ndarray,
    b_w: np.ndarray,
    b_inv_alpha: np.ndarray,
    mass: np.ndarray,
    h: float,
    fixed: np.ndarray,
    rest: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The global matrix in banded, factored form: ``(band, perm, iperm, c_row, c_col, c_val, bandwidth)``.

    The vertex order is, given the ``rest`` positions, a sweep along the sheet's longest
    principal axis (on a rectangle reverse Cuthill-McKee's diagonal fronts were ~1.6x wider
    than a sweep's columns: bandwidth 154 vs 98 at 2.5 mm), else reverse Cuthill-McKee.
    Fixed vertices (pins, held) keep a unit diagonal and no coupling; their couplings to free
    vertices (``c_row`` free, ``c_col`` fixed, ``c_val``) move to the right-hand side each solve."""
    rows = [np.repeat(tris, 3, axis=1).ravel()]
    cols = [np.tile(tris, (1, 3)).ravel()]
    vals = [(w_tri[:, None, None] * np.einsum("tad,tbd->tab", gt, gt)).ravel()]
    if len(b_ptr) > 1:
        sizes = np.diff(b_ptr)
        for s in np.unique(sizes).tolist():  # stencils of one size at a time (vectorised outer products)
            which = np.flatnonzero(sizes == s)
            ix = b_ptr[which][:, None] + np.arange(s)[None, :]
            j, wv = b_idx[ix], b_w[ix]
            rows.append(np.repeat(j, s, axis=1).ravel())
            cols.append(np.tile(j, (1, s)).ravel())
            vals.append((b_inv_alpha[which][:, None, None] * wv[:, :, None] * wv[:, None, :]).ravel())
    rows.append(np.arange(n))
    cols.append(np.arange(n))
    vals.append(mass / (h * h))
    r = np.concatenate(rows).astype(np.int64)
    c = np.concatenate(cols).astype(np.int64)
    v = np.concatenate(vals)
    if rest is not None:
        return _assemble_swept(n, r, c, v, fixed, rest)
    key, inv = np.unique(r * n + c, return_inverse=True)
    val = np.zeros(len(key))
    np.add.at(val, inv, v)
    r, c = key // n, key % n
    couple = ~fixed[r] & fixed[c]
    c_row, c_col, c_val = r[couple], c[couple], val[couple]
    inner = ~fixed[r] & ~fixed[c]
    r, c, val = r[inner], c[inner], val[inner]
    fr = np.flatnonzero(fixed)
    r = np.concatenate([r, fr])
    c = np.concatenate([c, fr])
    val = np.concatenate([val, np.ones(len(fr))])
    perm = rcm_order(n, r, c)
    iperm = np.empty(n, np.int64)
    iperm[perm] = np.arange(n)
    pr, pc = iperm[r], iperm[c]
    lower = pr >= pc
    pr, pc, val = pr[lower], pc[lower], val[lower]
    bw = int((pr - pc).max()) if len(pr) else 0
    band = np.zeros((n, bw + 1))
    band[pr, pr - pc] = val
    if not band_cholesky(band):
        raise np.linalg.LinAlgError("cloth: the global matrix is not positive definite")
    return band, perm, iperm, c_row, c_col, c_val, np.array([bw])


def _assemble_swept(
    n: int, r: np.ndarray, c: np.ndarray, v: np.ndarray, fixed: np.ndarray, rest: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`assemble` for a vertex order known beforehand (a sweep along the sheet's longest
    principal axis of ``rest``): the (row, col, value) entries, duplicates and all, are summed
    straight into the band with one ``bincount`` (the sort of ``np.unique`` over all entries
    was half of a refactoring frame: 10 of 21 ms at 2.5 mm)."""
    centred = rest - rest.mean(axis=0)
    axis = np.linalg.svd(centred, full_matrices=False)[2]
    proj = centred @ axis.T
    perm = np.lexsort((proj[:, 1], np.round(proj[:, 0], 9))).astype(np.int64)
    iperm = np.empty(n, np.int64)
    iperm[perm] = np.arange(n)
    fr_, fc_ = fixed[r], fixed[c]
    couple = ~fr_ & fc_
    key, inv = np.unique(r[couple] * n + c[couple], return_inverse=True)  # few: next to pins
    # float64 even with no entries (bincount of none is int64: a second compiled pd_step)
    c_val = np.bincount(inv, weights=v[couple], minlength=len(key)).astype(np.float64, copy=False)
    c_row, c_col = key // n, key % n
    inner = ~fr_ & ~fc_
    pr, pc = iperm[r[inner]], iperm[c[inner]]
    lower = pr >= pc
    pr, off, val = pr[lower], (pr - pc)[lower], v[inner][lower]
    bw = int(off.max()) if len(off) else 0
    band = np.bincount(pr * (bw + 1) + off, weights=val, minlength=n * (bw + 1)).reshape(n, bw + 1)
    f = np.flatnonzero(fixed)
    band[iperm[f], 0] = 1.0
    if not band_cholesky(band):
        raise np.linalg.LinAlgError("cloth: the global matrix is not positive definite")
    return band, perm, iperm, c_row, c_col, c_val, np.array([bw])


@njit(cache=True)
def band_cholesky(band):
    """In-place banded Cholesky: ``band[i, d]`` = A[i, i - d] on entry, L[i, i - d] on exit.
    Returns False if a pivot is not positive."""
    n, w = band.shape
    b = w - 1
    for j in range(n):
        s = band[j, 0]
        for k in range(max(0, j - b), j):
            ljk = band[j, j - k]
            s -= ljk * ljk
        if not s > 0.0:
            return False
        d = np.sqrt(s)
        band[j, 0] = d
        for i in range(j + 1, min(n, j + b + 1)):
            s = band[i, i - j]
            for k in range(max(0, i - b), j):
                s -= band[i, i - k] * band[j, j - k]
            band[i, i - j] = s / d
    return True


@njit(cache=True)
def _band_solve(band, z):
    """Solve L L^T u = z in place (z in the permuted order)."""
    n, w = band.shape
    b = w - 1
    for i in range(n):
        s = z[i]
        for k in range(max(0, i - b), i):
            s -= band[i, i - k] * z[k]
        z[i] = s / band[i, 0]
    for i in range(n - 1, -1, -1):
        s = z[i]
        for k in range(i + 1, min(n, i + b + 1)):
            s -= band[k, k - i] * z[k]
        z[i] = s / band[i, 0]


@njit(cache=True)
def band_solve3(band, z):
    """Solve L L^T u = z in place for the three columns of ``z`` (n, 3) at once (permuted
    order): each band entry is loaded once for x, y and z, and the back substitution runs
    along L's rows (contiguous) rather than down its columns; ~2-3x faster than three
    :func:`_band_solve` calls."""
    n, w = band.shape
    b = w - 1
    for i in range(n):
        s0 = z[i, 0]
        s1 = z[i, 1]
        s2 = z[i, 2]
        row = band[i]
        for k in range(max(0, i - b), i):
            lik = row[i - k]
            s0 -= lik * z[k, 0]
            s1 -= lik * z[k, 1]
            s2 -= lik * z[k, 2]
        d = row[0]
        z[i, 0] = s0 / d
        z[i, 1] = s1 / d
        z[i, 2] = s2 / d
    for i in range(n - 1, -1, -1):
        row = band[i]
        d = row[0]
        u0 = z[i, 0] / d
        u1 = z[i, 1] / d
        u2 = z[i, 2] / d
        z[i, 0] = u0
        z[i, 1] = u1
        z[i, 2] = u2
        for k in range(max(0, i - b), i):
            lik = row[i - k]
            z[k, 0] -= lik * u0
            z[k, 1] -= lik * u1
            z[k, 2] -= lik * u2


# ----------------------------------------------------------------------------- local step


@njit(cache=True, inline="always")
def _right_singular(f):
    """Eigenvalues l1 >= l2 of F^T F (the squared singular values) of the 3 x 2 matrix ``f``
    and the unit eigenvector (v1x, v1y) of l1; (1, 0) when F^T F = s^2 I. The eigenvector
    comes from the row of F^T F - l1 I without cancellation: (bb, l1 - a) loses l1 - a ~
    bb^2 / (a - d) to round-off when F is nearly diagonal (a flat, uniformly stretched sheet;
    measured 4e-3 off a float64 SVD)."""
    a = f[0, 0] * f[0, 0] + f[1, 0] * f[1, 0] + f[2, 0] * f[2, 0]
    bb = f[0, 0] * f[0, 1] + f[1, 0] * f[1, 1] + f[2, 0] * f[2, 1]
    d = f[0, 1] * f[0, 1] + f[1, 1] * f[1, 1] + f[2, 1] * f[2, 1]
    half = 0.5 * (a + d)
    rad = np.sqrt(0.25 * (a - d) * (a - d) + bb * bb)
    l1 = half + rad
    l2 = half - rad
    if a >= d:
        v1x, v1y = l1 - d, bb
    else:
        v1x, v1y = bb, l1 - a
    m = np.sqrt(v1x * v1x + v1y * v1y)
    if m > 0.0:
        v1x /= m
        v1y /= m
    else:
        v1x, v1y = 1.0, 0.0
    return l1, l2, v1x, v1y


@njit(cache=True)
def _project(f, out_r, out_a):
    """Closest rotation (3 x 2, orthonormal columns) and closest area-preserving stretch
    (singular values with s1 s2 = 1) to the 3 x 2 matrix ``f``. Returns False if degenerate."""
    l1, l2, v1x, v1y = _right_singular(f)
    if l1 <= 1e-30:
        return False
    v2x, v2y = -v1y, v1x
    s1 = np.sqrt(l1)
    s2 = np.sqrt(max(l2, 0.0))
    u1x = (f[0, 0] * v1x + f[0, 1] * v1y) / s1
    u1y = (f[1, 0] * v1x + f[1, 1] * v1y) / s1
    u1z = (f[2, 0] * v1x + f[2, 1] * v1y) / s1
    if s2 > 1e-9 * s1:
        u2x = (f[0, 0] * v2x + f[0, 1] * v2y) / s2
        u2y = (f[1, 0] * v2x + f[1, 1] * v2y) / s2
        u2z = (f[2, 0] * v2x + f[2, 1] * v2y) / s2
    else:  # collapsed to a line: any unit vector perpendicular to u1
        if abs(u1x) < 0.6:
            ex, ey, ez = 1.0, 0.0, 0.0
        else:
            ex, ey, ez = 0.0, 1.0, 0.0
        dot = ex * u1x + ey * u1y + ez * u1z
        u2x, u2y, u2z = ex - dot * u1x, ey - dot * u1y, ez - dot * u1z
        m = np.sqrt(u2x * u2x + u2y * u2y + u2z * u2z)
        u2x /= m
        u2y /= m
        u2z /= m
    # rotation: U V^T
    out_r[0, 0] = u1x * v1x + u2x * v2x
    out_r[1, 0] = u1y * v1x + u2y * v2x
    out_r[2, 0] = u1z * v1x + u2z * v2x
    out_r[0, 1] = u1x * v1y + u2x * v2y
    out_r[1, 1] = u1y * v1y + u2y * v2y
    out_r[2, 1] = u1z * v1y + u2z * v2y
    # closest (t, 1/t) to (s1, s2)
    t = _area_stretch(s1, s2)
    q = 1.0 / t
    out_a[0, 0] = t * u1x * v1x + q * u2x * v2x
    out_a[1, 0] = t * u1y * v1x + q * u2y * v2x
    out_a[2, 0] = t * u1z * v1x + q * u2z * v2x
    out_a[0, 1] = t * u1x * v1y + q * u2x * v2y
    out_a[1, 1] = t * u1y * v1y + q * u2y * v2y
    out_a[2, 1] = t * u1z * v1y + q * u2z * v2y
    return True


@njit(cache=True, inline="always")
def _deformation_gradient(x, tris, gt, t, fr):
    """F = Ds Dm^-1 (3 x 2) of triangle ``t`` at ``x`` into ``fr``; returns its vertices.
    With G's rows (-sum, G1, G2): F = e1 G1 + e2 G2 (e_k the edges from vertex 0)."""
    i0, i1, i2 = tris[t, 0], tris[t, 1], tris[t, 2]
    for c in range(3):
        e1 = x[i1, c] - x[i0, c]
        e2 = x[i2, c] - x[i0, c]
        fr[c, 0] = e1 * gt[t, 1, 0] + e2 * gt[t, 2, 0]
        fr[c, 1] = e1 * gt[t, 1, 1] + e2 * gt[t, 2, 1]
    return i0, i1, i2


@njit(cache=True, inline="always")
def _area_stretch(s1, s2):
    """The closest area-preserving stretch (t, 1/t) to the singular values (s1, s2): Newton on
    t - s1 + (s2 - 1/t) / t^2 = 0 from t = s1, clamped to [0.2, 5] (the local step's and the
    Newton Hessian's, so both see the same target)."""
    t = min(max(s1, 0.2), 5.0)
    for _ in range(6):
        g = t - s1 - 1.0 / (t * t * t) + s2 / (t * t)
        dg = 1.0 + 3.0 / (t * t * t * t) - 2.0 * s2 / (t * t * t)
        if dg <= 0.0:
            break
        t = min(max(t - g / dg, 0.2), 5.0)
    return t


@njit(cache=True, inline="always")
def _stencil_laplacian(x, b_ptr, b_idx, b_w, b):
    """The Laplacian vector (L x)_b = sum_k w_k x_k of bending stencil ``b``."""
    lx = 0.0
    ly = 0.0
    lz = 0.0
    for k in range(b_ptr[b], b_ptr[b + 1]):
        j = b_idx[k]
        lx += b_w[k] * x[j, 0]
        ly += b_w[k] * x[j, 1]
        lz += b_w[k] * x[j, 2]
    return lx, ly, lz


@njit(cache=True, inline="always")
def _capsule_axis(caps, p, margin):
    """Tool capsule ``p``: its end a, axis b (to the other end), |b|^2 and contact radius
    (radius + ``margin``)."""
    ax, ay, az = caps[p, 0], caps[p, 1], caps[p, 2]
    bx, by, bz = caps[p, 3] - ax, caps[p, 4] - ay, caps[p, 5] - az
    return ax, ay, az, bx, by, bz, bx * bx + by * by + bz * bz, caps[p, 6] + margin


@njit(cache=True, inline="always")
def _off_axis(px, py, pz, bx, by, bz, bb):
    """The point p (relative to the capsule's end a) against the axis segment 0 -> b: the
    closest point's parameter s in [0, 1], the offset d = p - s b from it and |d|^2."""
    s = 0.0
    if bb > 0.0:
        s = min(1.0, max(0.0, (px * bx + py * by + pz * bz) / bb))
    dx, dy, dz = px - s * bx, py - s * by, pz - s * bz
    return s, dx, dy, dz, dx * dx + dy * dy + dz * dz


@njit(cache=True, inline="always")
def _push_radially(x, i, dx, dy, dz, d2, r):
    """Move vertex ``i``, at offset d (|d|^2 = ``d2``) from a capsule's axis, out to distance ``r``."""
    f = r / np.sqrt(d2) - 1.0
    x[i, 0] += f * dx
    x[i, 1] += f * dy
    x[i, 2] += f * dz


@njit(cache=True)
def _capsules(x, fixed, caps, n_caps, margin):
    """Push free vertices out of the tool capsules (rows: a (3), b (3), radius) to radius + margin;
    returns how many pushes were made."""
    pushed = 0
    for p in range(n_caps):
        ax, ay, az, bx, by, bz, bb, r = _capsule_axis(caps, p, margin)
        for i in range(x.shape[0]):
            if fixed[i]:
                continue
            _, dx, dy, dz, d2 = _off_axis(x[i, 0] - ax, x[i, 1] - ay, x[i, 2] - az, bx, by, bz, bb)
            if d2 >= r * r or d2 < 1e-24:
                continue
            _push_radially(x, i, dx, dy, dz, d2, r)
            pushed += 1
    return pushed


@njit(cache=True)
def _push(x, x_prev, i, nx, ny, nz, depth, dist_prev, margin, mu_s, mu_k):
    """Vertex ``i`` is ``depth`` (m) inside the contact offset along the unit normal n; its
    previous position was ``dist_prev`` from the surface. Move it out by ``depth``; if it was
    already inside at the step's start (``dist_prev`` < ``margin``: a sheet that started in the
    obstacle, or a box that moved onto it), move ``x_prev`` out to the offset too, so that
    resolving old penetration gives no velocity (else (x - x_prev) / h shoots it off). The
    normal impulse of the step is then m (the approach) / h with the approach
    depth - (that old penetration), and Coulomb friction limits the tangential one by mu times
    it: the step's tangential displacement (x - x_prev minus its normal part; the obstacle is
    static) is removed if it is at most ``mu_s`` x the approach (sticking), else shortened by
    ``mu_k`` x the approach (sliding). With the velocity taken as (x - x_prev) / h this is
    Bridson, Fedkiw & Anderson 2002, "Robust treatment of collisions, contact and friction for
    cloth animation", sec. 7.2: the tangential velocity change at most mu times the normal one."""
    x[i, 0] += depth * nx
    x[i, 1] += depth * ny
    x[i, 2] += depth * nz
    approach = depth
    if dist_prev < margin:
        pre = margin - dist_prev
        x_prev[i, 0] += pre * nx
        x_prev[i, 1] += pre * ny
        x_prev[i, 2] += pre * nz
        approach = max(0.0, depth - pre)
    dx = x[i, 0] - x_prev[i, 0]
    dy = x[i, 1] - x_prev[i, 1]
    dz = x[i, 2] - x_prev[i, 2]
    dn = dx * nx + dy * ny + dz * nz
    tx, ty, tz = dx - dn * nx, dy - dn * ny, dz - dn * nz
    tl = np.sqrt(tx * tx + ty * ty + tz * tz)
    if tl <= 0.0:
        return
    f = 1.0 if tl <= mu_s * approach else min(1.0, mu_k * approach / tl)
    x[i, 0] -= f * tx
    x[i, 1] -= f * ty
    x[i, 2] -= f * tz


@njit(cache=True)
def contact(x, x_prev, fixed, planes, n_planes, boxes, n_boxes, margin, mu_s, mu_k):
    """Static obstacles, after a step's solve: push every free vertex that is within ``margin``
    (half the sheet's thickness) of a plane or inside a box inflated by ``margin`` out to that
    distance along the contact normal, then apply Coulomb friction (:func:`_push`). The
    caller sets v = (x - x_prev) / h afterwards, so the normal approach velocity is gone
    (inelastic contact), the tangential one is what friction left, and a vertex that started
    the step inside is moved out without gaining velocity.

    ``planes`` (K, 4): unit normal n (3) and offset d, outside where n.x >= d. ``boxes`` (B, 15):
    centre (3), rotation row-major (9; columns = the box axes), half extents (3). A box contact
    pushes out through the face the vertex came in by (the axis along which ``x_prev`` was
    outside the inflated box, the shallowest if several), else the shallowest face. Returns
    the number of contacts."""
    count = 0
    for i in range(x.shape[0]):
        if fixed[i]:
            continue
        for p in range(n_planes):
            nx, ny, nz = planes[p, 0], planes[p, 1], planes[p, 2]
            dist = nx * x[i, 0] + ny * x[i, 1] + nz * x[i, 2] - planes[p, 3]
            if dist >= margin:
                continue
            dist_prev = nx * x_prev[i, 0] + ny * x_prev[i, 1] + nz * x_prev[i, 2] - planes[p, 3]
            _push(x, x_prev, i, nx, ny, nz, margin - dist, dist_prev, margin, mu_s, mu_k)
            count += 1
        for b in range(n_boxes):
            inside = True
            for k in range(3):
                lk = 0.0
                for r in range(3):
                    lk += boxes[b, 3 + 3 * r + k] * (x[i, r] - boxes[b, r])
                if abs(lk) >= boxes[b, 12 + k] + margin:
                    inside = False
                    break
            if not inside:
                continue
            best = -1
            best_pen = np.inf
            best_prev = 0.0
            sign = 1.0
            for entered in range(2):  # first the axes x_prev was outside along, then any
                for k in range(3):
                    lk = 0.0
                    lp = 0.0
                    for r in range(3):
                        lk += boxes[b, 3 + 3 * r + k] * (x[i, r] - boxes[b, r])
                        lp += boxes[b, 3 + 3 * r + k] * (x_prev[i, r] - boxes[b, r])
                    ext = boxes[b, 12 + k] + margin
                    if entered == 0 and abs(lp) < ext * (1.0 - 1e-9):  # (resting at the offset: outside)
                        continue
                    sk = (1.0 if lp >= 0.0 else -1.0) if entered == 0 else (1.0 if lk >= 0.0 else -1.0)
                    pen = ext - sk * lk
                    if pen < best_pen:
                        best_pen = pen
                        best = k
                        sign = sk
                        best_prev = sk * lp - boxes[b, 12 + k]  # x_prev's distance from that face
                if best >= 0:
                    break
            nx = sign * boxes[b, 3 + best]
            ny = sign * boxes[b, 6 + best]
            nz = sign * boxes[b, 9 + best]
            _push(x, x_prev, i, nx, ny, nz, best_pen, best_prev, margin, mu_s, mu_k)
            count += 1
    return count


@njit(cache=True, inline="always")
def _step_length(dt, substeps, damping):
    """The implicit step h = dt / substeps, 1 / h^2 and the air damping's velocity factor
    exp(-damping h) per step (all three solves)."""
    h = dt / substeps
    return h, 1.0 / (h * h), np.exp(-damping * h)


@njit(cache=True)
def _inertial_target(x, x_prev, v, y, fixed, gravity, f_ext, mass, hold_idx, hold_a, hold_b, frac, h):
    """Start of an implicit-Euler step (both solves): keep x in ``x_prev`` and set the inertial
    target y = x + h v + h^2 (g + f / m) of every free vertex (a fixed one stays; a held one
    goes to its place at ``frac`` along ``hold_a`` -> ``hold_b``), then the first iterate: y on the
    fixed vertices, the inertial path x + h v on the free ones (not y: with few iterations the
    projections are taken near the first iterate, so its offset from the static state biases
    the equilibrium: h^2 f / m put a vertex carrying a 0.08 N pull on a light mass far off (a
    1 cm gauze strip's loaded edge stretched 3x), and h^2 g next to pinned vertices kinked a
    cantilever's root (15x its beam deflection))."""
    for i in range(x.shape[0]):
        for c in range(3):
            x_prev[i, c] = x[i, c]
            if fixed[i]:
                y[i, c] = x[i, c]
            else:
                y[i, c] = x[i, c] + h * v[i, c] + h * h * (gravity[c] + f_ext[i, c] / mass[i])
    for k in range(hold_idx.shape[0]):
        i = hold_idx[k]
        for c in range(3):
            y[i, c] = hold_a[k, c] + frac * (hold_b[k, c] - hold_a[k, c])
    for i in range(x.shape[0]):
        for c in range(3):
            x[i, c] = y[i, c] if fixed[i] else x_prev[i, c] + h * v[i, c]


@njit(cache=True)
def _end_step(x, x_prev, v, fixed, planes, n_planes, boxes, n_boxes, margin, mu_s, mu_k, h, keep):
    """End of a step (both solves): the static planes and boxes with friction (:func:`contact`),
    then the velocities (x - x_prev) / h, damped by ``keep``."""
    if n_planes + n_boxes > 0:
        contact(x, x_prev, fixed, planes, n_planes, boxes, n_boxes, margin, mu_s, mu_k)
    for i in range(x.shape[0]):
        for c in range(3):
            v[i, c] = (x[i, c] - x_prev[i, c]) / h * keep


@njit(cache=True)
def pd_step(
    x, v, x_prev, mass, fixed, f_ext, tris, gt, w_rot, w_area, b_vertex, b_ptr, b_idx, b_w, b_inv_alpha, nrm, band,
    perm, c_row, c_col, c_val, hold_idx, hold_a, hold_b, f0, f1, caps, n_caps, planes, n_planes, boxes, n_boxes, mu_s,
    mu_k, gravity, dt, substeps, iterations, damping, margin, y, rhs, z, fr, fa, z1, multi_rhs,
):  # fmt: skip
    """Advance by ``dt`` in ``substeps`` implicit-Euler steps of ``iterations`` local-global
    iterations each (see the module docstring). Held vertices move along ``hold_a`` ->
    ``hold_b`` from fraction ``f0`` to ``f1``; pinned ones stay. ``y``, ``rhs``, ``z`` (V, 3),
    ``z1`` (V,), ``fr``, ``fa`` (3, 2) are scratch; ``multi_rhs`` solves x, y and z in one sweep
    of the factor (:func:`band_solve3`, ~3x faster) rather than one at a time. After each
    step's iterations the free vertices meet the static ``planes`` and ``boxes`` (the first
    ``n_planes`` / ``n_boxes`` rows) with Coulomb friction ``mu_s`` / ``mu_k``
    (:func:`contact`), before the velocities are taken."""
    n = x.shape[0]
    h, inv_h2, keep = _step_length(dt, substeps, damping)
    for s in range(substeps):
        frac = f0 + (f1 - f0) * (s + 1.0) / substeps
        _inertial_target(x, x_prev, v, y, fixed, gravity, f_ext, mass, hold_idx, hold_a, hold_b, frac, h)
        for _ in range(iterations):
            for i in range(n):
                for c in range(3):
                    rhs[i, c] = mass[i] * inv_h2 * y[i, c]
            # bending: the target of each stencil is the tangential part of its Laplacian
            # vector, so only the curvature (the normal part) costs energy (a flat sheet's
            # Laplacian also has an in-plane part wherever it stretches unevenly; penalising
            # that let a cantilever trade membrane strain for bending and sag 9x too far)
            vertex_normals(x, tris, nrm)
            for b in range(b_ptr.shape[0] - 1):
                lx, ly, lz = _stencil_laplacian(x, b_ptr, b_idx, b_w, b)
                cv = b_vertex[b]
                dn = lx * nrm[cv, 0] + ly * nrm[cv, 1] + lz * nrm[cv, 2]
                px = (lx - dn * nrm[cv, 0]) * b_inv_alpha[b]
                py = (ly - dn * nrm[cv, 1]) * b_inv_alpha[b]
                pz = (lz - dn * nrm[cv, 2]) * b_inv_alpha[b]
                for k in range(b_ptr[b], b_ptr[b + 1]):
                    j = b_idx[k]
                    rhs[j, 0] += b_w[k] * px
                    rhs[j, 1] += b_w[k] * py
                    rhs[j, 2] += b_w[k] * pz
            for t in range(tris.shape[0]):
                i0, i1, i2 = _deformation_gradient(x, tris, gt, t, fr)
                for c in range(3):
                    fa[c, 0] = fr[c, 0]
                    fa[c, 1] = fr[c, 1]
                if not _project(fa, fr, fa):
                    continue
                ws, wa = w_rot[t], w_area[t]
                for c in range(3):
                    p0 = ws * fr[c, 0] + wa * fa[c, 0]
                    p1 = ws * fr[c, 1] + wa * fa[c, 1]
                    rhs[i0, c] += p0 * gt[t, 0, 0] + p1 * gt[t, 0, 1]
                    rhs[i1, c] += p0 * gt[t, 1, 0] + p1 * gt[t, 1, 1]
                    rhs[i2, c] += p0 * gt[t, 2, 0] + p1 * gt[t, 2, 1]
            for k in range(c_row.shape[0]):
                for c in range(3):
                    rhs[c_row[k], c] -= c_val[k] * y[c_col[k], c]
            if multi_rhs:  # x, y and z in one sweep (band_solve3)
                for k in range(n):
                    i = perm[k]
                    for c in range(3):
                        z[k, c] = y[i, c] if fixed[i] else rhs[i, c]
                band_solve3(band, z)
                for k in range(n):
                    for c in range(3):
                        x[perm[k], c] = z[k, c]
            else:  # one coordinate at a time (the solve before band_solve3; kept for the bench)
                for c in range(3):
                    for k in range(n):
                        i = perm[k]
                        z1[k] = y[i, c] if fixed[i] else rhs[i, c]
                    _band_solve(band, z1)
                    for k in range(n):
                        x[perm[k], c] = z1[k]
            if n_caps > 0:
                _capsules(x, fixed, caps, n_caps, margin)
        _end_step(x, x_prev, v, fixed, planes, n_planes, boxes, n_boxes, margin, mu_s, mu_k, h, keep)


# ----------------------------------------------------------------------------- quasi-Newton solve

#: Armijo constant of the line search (the usual sufficient-decrease constant, Nocedal & Wright
#: 2006, "Numerical Optimization", sec. 3.1).
ARMIJO = 1e-4


@njit(cache=True)
def energy_gradient(
    x, tris, gt, w_rot, w_area, b_vertex, b_ptr, b_idx, b_w, b_inv_alpha, nrm, nlen, vt_ptr, vt_tri, grad, fr, fa,
    want_grad, turn_normals, frozen_normals=False,
):  # fmt: skip
    """The elastic energy E(x) (J) the Projective Dynamics solve minimises: per triangle
    w_rot/2 |F - R(F)|^2 + w_area/2 |F - A(F)|^2 (R, A the closest rotation and area-preserving
    stretch) and per bending stencil |n . (L x)_i|^2 / (2 alpha_i) (the normal part of its
    Laplacian, n the area-weighted vertex normal). With ``want_grad`` its exact gradient goes
    into ``grad`` (V, 3): for the membrane sum w A^T (A x - p(x)) with the projections p held
    fixed (the gradient of half the squared distance to a manifold is the offset from the
    closest point); for bending B^T (B x - p(x)) / alpha, and with ``turn_normals`` the term
    from the turning of the normals, through the cross products of the triangles around each
    stencil's vertex (``vt_ptr``, ``vt_tri``: vertex -> triangles). Without it the bending
    force is the local-global solve's, whose fixed point is not a minimum of E (the boundary
    stencils' Laplacian has a large in-plane part; docs/cloth.md, "Open"); the quasi-Newton
    solve uses it so that both solves share their static states. ``nrm`` (V, 3), ``nlen`` (V,)
    scratch; with ``frozen_normals`` ``nrm`` is taken as given (the normals of another state:
    the Newton solve's line search, whose bending energy then has the local-global force as
    its exact gradient)."""
    e = 0.0
    if want_grad:
        grad[:] = 0.0
    if b_ptr.shape[0] > 1 and not frozen_normals:
        vertex_normals(x, tris, nrm, nlen)
    for b in range(b_ptr.shape[0] - 1):
        lx, ly, lz = _stencil_laplacian(x, b_ptr, b_idx, b_w, b)
        cv = b_vertex[b]
        dn = lx * nrm[cv, 0] + ly * nrm[cv, 1] + lz * nrm[cv, 2]
        e += 0.5 * b_inv_alpha[b] * dn * dn
        if want_grad:
            gx = dn * nrm[cv, 0] * b_inv_alpha[b]
            gy = dn * nrm[cv, 1] * b_inv_alpha[b]
            gz = dn * nrm[cv, 2] * b_inv_alpha[b]
            for k in range(b_ptr[b], b_ptr[b + 1]):
                j = b_idx[k]
                grad[j, 0] += b_w[k] * gx
                grad[j, 1] += b_w[k] * gy
                grad[j, 2] += b_w[k] * gz
            # the normal turns with x: dE = (dn/alpha) l . dn, dn = (I - n n^T) dN / |N|,
            # N = sum over the vertex's triangles of e1 x e2
            if turn_normals and nlen[cv] > 0.0:
                sc = dn * b_inv_alpha[b] / nlen[cv]
                ux = sc * (lx - dn * nrm[cv, 0])
                uy = sc * (ly - dn * nrm[cv, 1])
                uz = sc * (lz - dn * nrm[cv, 2])
                for q in range(vt_ptr[cv], vt_ptr[cv + 1]):
                    t = vt_tri[q]
                    a, bb, cc = tris[t, 0], tris[t, 1], tris[t, 2]
                    e1x, e1y, e1z = x[bb, 0] - x[a, 0], x[bb, 1] - x[a, 1], x[bb, 2] - x[a, 2]
                    e2x, e2y, e2z = x[cc, 0] - x[a, 0], x[cc, 1] - x[a, 1], x[cc, 2] - x[a, 2]
                    # d/de1 u.(e1 x e2) = e2 x u; d/de2 = u x e1
                    g1x, g1y, g1z = e2y * uz - e2z * uy, e2z * ux - e2x * uz, e2x * uy - e2y * ux
                    g2x, g2y, g2z = uy * e1z - uz * e1y, uz * e1x - ux * e1z, ux * e1y - uy * e1x
                    grad[bb, 0] += g1x
                    grad[bb, 1] += g1y
                    grad[bb, 2] += g1z
                    grad[cc, 0] += g2x
                    grad[cc, 1] += g2y
                    grad[cc, 2] += g2z
                    grad[a, 0] -= g1x + g2x
                    grad[a, 1] -= g1y + g2y
                    grad[a, 2] -= g1z + g2z
    for t in range(tris.shape[0]):
        i0, i1, i2 = _deformation_gradient(x, tris, gt, t, fr)
        # F stays in the first (c, 0..1) of fa's copy: fr, fa are overwritten by the projections
        f00, f01, f10, f11, f20, f21 = fr[0, 0], fr[0, 1], fr[1, 0], fr[1, 1], fr[2, 0], fr[2, 1]
        for c in range(3):
            fa[c, 0] = fr[c, 0]
            fa[c, 1] = fr[c, 1]
        if not _project(fa, fr, fa):
            continue
        ws, wa = w_rot[t], w_area[t]
        for c in range(3):
            fc0 = f00 if c == 0 else (f10 if c == 1 else f20)
            fc1 = f01 if c == 0 else (f11 if c == 1 else f21)
            r0, r1 = fc0 - fr[c, 0], fc1 - fr[c, 1]
            a0, a1 = fc0 - fa[c, 0], fc1 - fa[c, 1]
            e += 0.5 * (ws * (r0 * r0 + r1 * r1) + wa * (a0 * a0 + a1 * a1))
            if want_grad:
                p0 = ws * r0 + wa * a0
                p1 = ws * r1 + wa * a1
                grad[i0, c] += p0 * gt[t, 0, 0] + p1 * gt[t, 0, 1]
                grad[i1, c] += p0 * gt[t, 1, 0] + p1 * gt[t, 1, 1]
                grad[i2, c] += p0 * gt[t, 2, 0] + p1 * gt[t, 2, 1]
    return e


@njit(cache=True)
def _precondition(band, perm, fixed, q, z):
    """q <- A^-1 q for the free vertices (the Projective Dynamics matrix, factored), 0 on fixed
    ones; ``z`` (V, 3) scratch."""
    n = q.shape[0]
    for k in range(n):
        i = perm[k]
        for c in range(3):
            z[k, c] = 0.0 if fixed[i] else q[i, c]
    band_solve3(band, z)
    for k in range(n):
        for c in range(3):
            q[perm[k], c] = z[k, c]


@njit(cache=True)
def _dot(a, b, fixed):
    s = 0.0
    for i in range(a.shape[0]):
        if not fixed[i]:
            s += a[i, 0] * b[i, 0] + a[i, 1] * b[i, 1] + a[i, 2] * b[i, 2]
    return s


@njit(cache=True, inline="always")
def _local_global_direction(band, perm, fixed, grad, d, z, contacts):
    """d = A^-1 grad g on the free vertices (A the Projective Dynamics matrix, factored), 0 on
    ``fixed`` ones: the local-global step's direction, the solves' fallback. With ``contacts``
    ``fixed`` may hold more vertices than the factor's (:func:`_precondition_held`)."""
    for i in range(grad.shape[0]):
        for c in range(3):
            d[i, c] = grad[i, c]
    if contacts:
        _precondition_held(band, perm, fixed, d, z)
    else:
        _precondition(band, perm, fixed, d, z)


@njit(cache=True)
def _line_search(
    x, y, d, xt, mass, fixed, e, gd, inv_h2, tries, tris, gt, w_rot, w_area, b_vertex, b_ptr, b_idx, b_w, b_inv_alpha,
    nrm, nlen, vt_ptr, vt_tri, ge_t, fr, fa, want_grad, frozen_normals,
):  # fmt: skip
    """Backtracking Armijo search on g along -d from ``x`` (E(x) = ``e``, grad g . (-d) =
    ``gd`` < 0): alpha = 1, 1/2, ... (at most ``tries``) until g(x - alpha d) - g(x) <=
    ARMIJO alpha gd (Nocedal & Wright 2006, sec. 3.1), the inertia part of g in closed form.
    The trial point is left in ``xt`` (its E gradient in ``ge_t`` with ``want_grad``; the
    bending normals ``nrm`` held as given with ``frozen_normals``). Returns (found, alpha,
    E(xt), energy evaluations)."""
    n = x.shape[0]
    dm = 0.0  # sum m d.(x - y)
    dd = 0.0  # sum m d.d
    for i in range(n):
        if not fixed[i]:
            for c in range(3):
                dm += mass[i] * d[i, c] * (x[i, c] - y[i, c])
                dd += mass[i] * d[i, c] * d[i, c]
    alpha = 1.0
    et = 0.0
    for k in range(tries):
        for i in range(n):
            for c in range(3):
                xt[i, c] = x[i, c] - alpha * d[i, c]
        et = energy_gradient(
            xt, tris, gt, w_rot, w_area, b_vertex, b_ptr, b_idx, b_w, b_inv_alpha, nrm, nlen, vt_ptr, vt_tri, ge_t,
            fr, fa, want_grad, False, frozen_normals,
        )  # fmt: skip
        dg = et - e + 0.5 * inv_h2 * (-2.0 * alpha * dm + alpha * alpha * dd)
        # round-off allowance: near rest the decrease is below E's last digits (each
        # |F - P(F)|^2 carries ~1e-16 / strain relative error from the projection)
        if dg <= ARMIJO * alpha * gd + 1e-9 * (abs(e) + abs(et)):
            return True, alpha, et, k + 1
        alpha *= 0.5
    return False, alpha, et, tries


@njit(cache=True)
def qn_step(
    x, v, x_prev, mass, fixed, f_ext, tris, gt, w_rot, w_area, b_vertex, b_ptr, b_idx, b_w, b_inv_alpha, nrm, nlen,
    vt_ptr, vt_tri, band, perm, hold_idx, hold_a, hold_b, f0, f1, caps, n_caps, planes, n_planes, boxes, n_boxes, mu_s,
    mu_k, gravity, dt, substeps, iterations, damping, margin, y, z, fr, fa, grad, ge, ge_t, d, xt, hist_s, hist_t,
    hist_rho, hist_a, stats,
):  # fmt: skip
    """Advance by ``dt`` in ``substeps`` implicit-Euler steps, each minimising
    g(x) = 1/(2 h^2) |x - y|_M^2 + E(x) by ``iterations`` L-BFGS iterations (Liu, Bouaziz &
    Kavan 2017, "Quasi-Newton methods for real-time simulation of hyperelastic materials", ACM
    TOG 36(3), Algorithm 1): the direction -H grad g from the two-loop recursion over the last
    m (``hist_rho.shape[0]``) curvature pairs of this step, with the Projective Dynamics matrix
    as the initial Hessian (so the first iteration is the local-global step), then a
    backtracking Armijo line search on g (the gradient at the trial point is computed with its
    energy, so each further iteration costs one projection pass and one solve, as a PD one).

    E and its exact gradient are :func:`energy_gradient`'s; the first iterate is x + h v as in
    :func:`pd_step`, so a static state is still the exact fixed point. Safeguards: a pair with
    s.t <= 0 is skipped; a direction that is not a descent direction is replaced by the PD one;
    a line search that finds no decrease in 5 halvings takes the plain local-global step.
    The history is not carried to the next step: pairs kept across steps made the flap of
    docs/cloth.md swing 3x faster, but they go stale while the sheet turns (measured: a spinning
    sheet lost 30 % of its angular velocity in 1 s) and, filtered to the soft ones, still fed
    energy into a swinging flap. ``stats`` (3,) accumulates [iterations, line-search
    evaluations, fallbacks]. Other arguments as :func:`pd_step` (``z`` is (V, 3) here);
    ``nlen`` (V,), ``grad``, ``ge``, ``ge_t``, ``d``, ``xt`` (V, 3), ``hist_*`` and ``hist_a``
    (m,) are scratch."""
    n = x.shape[0]
    m = hist_rho.shape[0]
    h, inv_h2, keep = _step_length(dt, substeps, damping)
    for s in range(substeps):
        frac = f0 + (f1 - f0) * (s + 1.0) / substeps
        _inertial_target(x, x_prev, v, y, fixed, gravity, f_ext, mass, hold_idx, hold_a, hold_b, frac, h)
        count = 0
        head = 0
        fresh = False  # e and ge hold E and grad E at x
        e = 0.0
        for _ in range(iterations):
            if not fresh:
                e = energy_gradient(
                    x, tris, gt, w_rot, w_area, b_vertex, b_ptr, b_idx, b_w, b_inv_alpha, nrm, nlen, vt_ptr, vt_tri,
                    ge, fr, fa, True, False,
                )  # fmt: skip
            for i in range(n):
                for c in range(3):
                    grad[i, c] = 0.0 if fixed[i] else ge[i, c] + mass[i] * inv_h2 * (x[i, c] - y[i, c])
                    d[i, c] = grad[i, c]
            # two-loop recursion: d = H grad
            for j in range(count):
                slot = (head - 1 - j) % m
                a = hist_rho[slot] * _dot(hist_s[slot], d, fixed)
                hist_a[slot] = a
                for i in range(n):
                    for c in range(3):
                        d[i, c] -= a * hist_t[slot, i, c]
            _precondition(band, perm, fixed, d, z)
            for j in range(count - 1, -1, -1):
                slot = (head - 1 - j) % m
                b = hist_rho[slot] * _dot(hist_t[slot], d, fixed)
                for i in range(n):
                    for c in range(3):
                        d[i, c] += (hist_a[slot] - b) * hist_s[slot, i, c]
            gd = -_dot(grad, d, fixed)
            if not gd < 0.0:  # not a descent direction: the PD one
                count = 0
                _local_global_direction(band, perm, fixed, grad, d, z, False)
                gd = -_dot(grad, d, fixed)
            # d holds H grad; the step is -alpha d
            ok, alpha, et, evals = _line_search(
                x, y, d, xt, mass, fixed, e, gd, inv_h2, 5, tris, gt, w_rot, w_area, b_vertex, b_ptr, b_idx, b_w,
                b_inv_alpha, nrm, nlen, vt_ptr, vt_tri, ge_t, fr, fa, True, False,
            )  # fmt: skip
            stats[1] += evals
            stats[0] += 1
            if ok:
                # the curvature pair s = x' - x, t = grad g(x') - grad g(x)
                st = 0.0
                ss = 0.0
                tt = 0.0
                for i in range(n):
                    for c in range(3):
                        sv = -alpha * d[i, c]
                        tv = 0.0 if fixed[i] else ge_t[i, c] - ge[i, c] + mass[i] * inv_h2 * sv
                        hist_s[head, i, c] = sv
                        hist_t[head, i, c] = tv
                        st += sv * tv
                        ss += sv * sv
                        tt += tv * tv
                        x[i, c] = xt[i, c]
                        ge[i, c] = ge_t[i, c]
                e = et
                fresh = True
                if st > 1e-10 * np.sqrt(ss * tt) and st > 0.0:
                    hist_rho[head] = 1.0 / st
                    head = (head + 1) % m
                    count = min(count + 1, m)
            else:  # no decrease found: the plain local-global step
                stats[2] += 1
                count = 0
                _local_global_direction(band, perm, fixed, grad, d, z, False)
                for i in range(n):
                    for c in range(3):
                        x[i, c] -= d[i, c]
                fresh = False
            if n_caps > 0 and _capsules(x, fixed, caps, n_caps, margin) > 0:
                fresh = False
        _end_step(x, x_prev, v, fixed, planes, n_planes, boxes, n_boxes, margin, mu_s, mu_k, h, keep)


# ----------------------------------------------------------------------------- Newton solve

#: Newton iterations stop once |grad g| <= NEWTON_TOLERANCE x the step's inertial force
#: |M (y - x0)| / h^2 (the weight, under gravity) or x the first iteration's gradient.
NEWTON_TOLERANCE = 1e-4

#: Preconditioned conjugate-gradient iterations per Newton iteration (the budget) and the
#: relative residual at which they stop (an inexact Newton forcing term: Eisenstat & Walker
#: 1996, "Choosing the forcing terms in an inexact Newton method").
CG_ITERATIONS = 10
CG_TOLERANCE = 0.05


def hessian_pattern(
    n: int, tris: np.ndarray, b_ptr: np.ndarray, b_idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The sparsity pattern of the step's Hessian in 3 x 3 blocks (block CSR, both triangles of
    the symmetric matrix): ``(row_ptr (V + 1), col (B,), tri_slot (F, 9), pair_ptr (S + 1),
    pair_slot)``: ``tri_slot[t, 3 a + b]`` is the block of (tris[t, a], tris[t, b]);
    stencil s's pairs (k1, k2) of its entries ``b_ptr[s] + k1``, ``b_ptr[s] + k2`` have their
    blocks at ``pair_slot[pair_ptr[s] + k1 * size + k2]``. Built once per mesh (numpy, with
    the factor), so the per-step assembly allocates nothing."""
    tris = np.asarray(tris, dtype=np.int64)
    rows = [np.repeat(tris, 3, axis=1).ravel()]
    cols = [np.tile(tris, (1, 3)).ravel()]
    sizes = np.diff(b_ptr).astype(np.int64)
    sq = sizes * sizes
    pair_ptr = np.zeros(len(sizes) + 1, np.int64)
    np.cumsum(sq, out=pair_ptr[1:])
    if len(sizes):
        local = np.arange(pair_ptr[-1]) - np.repeat(pair_ptr[:-1], sq)
        s_rep = np.repeat(sizes, sq)
        start = np.repeat(np.asarray(b_ptr[:-1], np.int64), sq)
        rows.append(b_idx[start + local // s_rep])
        cols.append(b_idx[start + local % s_rep])
    r = np.concatenate(rows).astype(np.int64)
    c = np.concatenate(cols).astype(np.int64)
    key, inv = np.unique(r * n + c, return_inverse=True)
    row_ptr = np.searchsorted(key // n, np.arange(n + 1)).astype(np.int64)
    col = (key % n).astype(np.int64)
    nt = 9 * len(tris)
    return row_ptr, col, inv[:nt].reshape(len(tris), 9).astype(np.int64), pair_ptr, inv[nt:].astype(np.int64)


@njit(cache=True)
def membrane_modes(f, ws, wa, project, lam, modes, basis):
    """Eigen-decomposition of the Hessian, with respect to the 3 x 2 deformation gradient F,
    of one triangle's membrane energy psi = ws/2 |F - R(F)|^2 + wa/2 |F - A(F)|^2 (the one
    :func:`energy_gradient` evaluates): six eigenvalues ``lam`` (6,) and unit eigenmatrices
    ``modes`` (6, 3, 2); ``basis`` (3, 3) scratch (rows u1, u2, n). With ``project``,
    negative eigenvalues are set to 0 (the Hessian projected to positive semi-definite, per
    element: Teran, Sifakis, Irving & Fedkiw 2005, "Robust quasistatic finite elements and
    flesh simulation", SCA).

    psi is isotropic, a function of the singular values s1 >= s2 of F = U diag(s) V^T, so its
    Hessian is diagonal in the basis built from U, V and the normal n = u1 x u2 (Smith, De
    Goes & Kim 2019, "Analytic eigensystems for isotropic distortion energies", ACM TOG 38(1),
    for the in-plane part; Kim & Eberle 2022, "Dynamic deformables", SIGGRAPH course): the
    2 x 2 Hessian of psi(s1, s2) on the scalings u_k v_k^T, (psi_1 + psi_2) /
    (s1 + s2) on the twist (u1 v2^T - u2 v1^T) / sqrt 2, (psi_1 - psi_2) / (s1 - s2) on the
    flip (u1 v2^T + u2 v1^T) / sqrt 2 and, for a membrane in 3D, psi_k / s_k on the
    out-of-plane modes n v_k^T (turning column k out of the plane changes s_k only at second
    order: s_k -> sqrt(s_k^2 + e^2)). The last is the current tension per unit stretch: zero
    for a slack sheet, where the Projective Dynamics matrix has the full membrane stiffness
    (docs/cloth.md, "Solver"). psi(s1, s2) = ws/2 ((s1 - 1)^2 + (s2 - 1)^2) + wa/2 ((s1 - t)^2
    + (s2 - 1/t)^2) with t(s1, s2) the closest area-preserving stretch of :func:`_project`
    (the same Newton iteration), so psi_1 = ws (s1 - 1) + wa (s1 - t), psi_2 = ws (s2 - 1) +
    wa (s2 - 1/t) (envelope theorem), and its 2 x 2 Hessian is (ws + wa) I - wa u u^T / D
    with u = (1, -1/t^2), D = 1 + 3/t^4 - 2 s2/t^3 (implicit differentiation of t). Returns
    False for a collapsed triangle (nothing to add)."""
    l1, l2, v1x, v1y = _right_singular(f)
    if l1 <= 1e-30:
        return False
    v2x, v2y = -v1y, v1x
    s1 = np.sqrt(l1)
    s2 = np.sqrt(max(l2, 0.0))
    if not s2 > 1e-6 * s1:  # collapsed to a line
        return False
    u1 = basis[0]
    u2 = basis[1]
    nn = basis[2]
    for c in range(3):
        u1[c] = (f[c, 0] * v1x + f[c, 1] * v1y) / s1
        u2[c] = (f[c, 0] * v2x + f[c, 1] * v2y) / s2
    nn[0] = u1[1] * u2[2] - u1[2] * u2[1]
    nn[1] = u1[2] * u2[0] - u1[0] * u2[2]
    nn[2] = u1[0] * u2[1] - u1[1] * u2[0]
    nl = np.sqrt(nn[0] * nn[0] + nn[1] * nn[1] + nn[2] * nn[2])
    for c in range(3):
        nn[c] /= nl
    # t: as _project
    t = _area_stretch(s1, s2)
    dd = 1.0 + 3.0 / (t * t * t * t) - 2.0 * s2 / (t * t * t)
    p1 = ws * (s1 - 1.0) + wa * (s1 - t)
    p2 = ws * (s2 - 1.0) + wa * (s2 - 1.0 / t)
    h00 = ws + wa
    h11 = ws + wa
    h01 = 0.0
    if dd > 1e-12:
        h00 -= wa / dd
        h01 = wa / (t * t * dd)
        h11 -= wa / (t * t * t * t * dd)
    # the scaling block's eigen-decomposition (2 x 2 symmetric)
    hm = 0.5 * (h00 + h11)
    hr = np.sqrt(0.25 * (h00 - h11) * (h00 - h11) + h01 * h01)
    if abs(h01) > 1e-30 * (abs(h00) + abs(h11)):
        c0, c1 = h01, hm + hr - h00
        cm = np.sqrt(c0 * c0 + c1 * c1)
        c0 /= cm
        c1 /= cm
    elif h00 >= h11:
        c0, c1 = 1.0, 0.0
    else:
        c0, c1 = 0.0, 1.0
    lam[0] = hm + hr
    lam[1] = hm - hr
    lam[2] = (p1 + p2) / (s1 + s2)
    lam[3] = (p1 - p2) / (s1 - s2) if s1 - s2 > 1e-6 * s1 else h00 - h01
    lam[4] = p1 / s1
    lam[5] = p2 / s2
    r2 = np.sqrt(0.5)
    for c in range(3):
        modes[0, c, 0] = c0 * u1[c] * v1x + c1 * u2[c] * v2x
        modes[0, c, 1] = c0 * u1[c] * v1y + c1 * u2[c] * v2y
        modes[1, c, 0] = -c1 * u1[c] * v1x + c0 * u2[c] * v2x
        modes[1, c, 1] = -c1 * u1[c] * v1y + c0 * u2[c] * v2y
        modes[2, c, 0] = r2 * (u1[c] * v2x - u2[c] * v1x)
        modes[2, c, 1] = r2 * (u1[c] * v2y - u2[c] * v1y)
        modes[3, c, 0] = r2 * (u1[c] * v2x + u2[c] * v1x)
        modes[3, c, 1] = r2 * (u1[c] * v2y + u2[c] * v1y)
        modes[4, c, 0] = nn[c] * v1x
        modes[4, c, 1] = nn[c] * v1y
        modes[5, c, 0] = nn[c] * v2x
        modes[5, c, 1] = nn[c] * v2y
    if project:
        for k in range(6):
            lam[k] = max(lam[k], 0.0)
    return True


@njit(cache=True)
def assemble_hessian(
    x, tris, gt, w_rot, w_area, b_vertex, b_ptr, b_idx, b_w, b_inv_alpha, nrm, tri_slot, pair_ptr, pair_slot,
    val, fr, lam, modes, basis, q, project,
):  # fmt: skip
    """The Hessian K of the elastic energy at ``x`` into the block-CSR values ``val`` (B, 3, 3)
    of :func:`hessian_pattern`'s pattern (the mass term M / h^2 is added by :func:`hessian_mul`):
    per triangle G^T H_F G from :func:`membrane_modes` (projected to positive semi-definite
    with ``project``), per bending stencil w w^T (x) n n^T / alpha, the Hessian of
    (n . L x)^2 / (2 alpha) with the normal n held fixed, i.e. the Jacobian of the bending force
    both solves use (so the fixed point, and the statics, are Projective Dynamics'). ``fr``
    (3, 2), ``lam`` (6,), ``modes`` (6, 3, 2), ``basis`` (3, 3), ``q`` (9,) scratch."""
    val[:] = 0.0
    for t in range(tris.shape[0]):
        i0, i1, i2 = _deformation_gradient(x, tris, gt, t, fr)
        if membrane_modes(fr, w_rot[t], w_area[t], project, lam, modes, basis):
            _scatter_membrane(val, tri_slot, gt, t, lam, modes, q, False)
    if b_ptr.shape[0] > 1:
        vertex_normals(x, tris, nrm)
    for s in range(b_ptr.shape[0] - 1):
        cv = b_vertex[s]
        _scatter_bending(val, b_ptr, b_w, b_inv_alpha, pair_ptr, pair_slot, s, nrm[cv], nrm[cv], False)


@njit(cache=True, inline="always")
def _scatter_membrane(val, tri_slot, gt, t, lam, modes, q, subtract):
    """Add (``subtract``: take away) triangle ``t``'s membrane block G^T H_F G =
    sum_m lam_m q_m q_m^T (q_m = G^T mode_m flattened, ``q`` (9,) scratch) to ``val``."""
    for m in range(6):
        lm = lam[m]
        if lm == 0.0:
            continue
        if subtract:
            lm = -lm
        for a in range(3):
            for c in range(3):
                q[3 * a + c] = modes[m, c, 0] * gt[t, a, 0] + modes[m, c, 1] * gt[t, a, 1]
        for a in range(3):
            for b in range(3):
                slot = tri_slot[t, 3 * a + b]
                for c in range(3):
                    qa = lm * q[3 * a + c]
                    for e in range(3):
                        val[slot, c, e] += qa * q[3 * b + e]


@njit(cache=True, inline="always")
def _scatter_bending(val, b_ptr, b_w, b_inv_alpha, pair_ptr, pair_slot, s, n, n_old, replace):
    """Add bending stencil ``s``'s block w w^T (x) n n^T / alpha to ``val``; with ``replace``
    the change from the normal ``n_old`` to ``n``: w w^T (x) (n n^T - n_old n_old^T) / alpha."""
    size = b_ptr[s + 1] - b_ptr[s]
    base = pair_ptr[s]
    for k1 in range(size):
        w1 = b_w[b_ptr[s] + k1] * b_inv_alpha[s]
        for k2 in range(size):
            ww = w1 * b_w[b_ptr[s] + k2]
            slot = pair_slot[base + k1 * size + k2]
            for c in range(3):
                for e in range(3):
                    if replace:
                        val[slot, c, e] += ww * (n[c] * n[e] - n_old[c] * n_old[e])
                    else:
                        val[slot, c, e] += ww * n[c] * n[e]


#: A kept Hessian's element (triangle, bending stencil) is recomputed once an entry of its
#: deformation gradient F (triangles) or of its vertex normal (stencils) has moved by more than
#: this since it was computed (F, n dimensionless; a turn by ~this angle, a stretch by this
#: strain). The out-of-plane eigenvalue is the tension, w x strain, which a strain change of
#: the tolerance alters by w x tolerance: large next to a slack triangle's ~0, so it is small
#: (measured, docs/cloth.md "Solver": at 1e-3 the limp flap passed 45 deg at 0.122 s instead of
#: 0.111 s; at 1e-4, as with a fresh Hessian each iteration, and the clamped gauze near rest
#: still skips the assembly).
HESSIAN_TOLERANCE = 1e-4

#: A kept Hessian is assembled afresh (rather than updated element by element) once more than
#: this share of the elements moved, and after HESSIAN_REFRESH updates (the round-off of the
#: subtractions stays at that many times machine precision).
HESSIAN_FULL_SHARE = 0.5
HESSIAN_REFRESH = 1000


@njit(cache=True)
def update_hessian(
    x, tris, gt, w_rot, w_area, b_vertex, b_ptr, b_idx, b_w, b_inv_alpha, nrm, tri_slot, pair_ptr, pair_slot,
    val, fr, basis, q, f_h, lam_h, modes_h, nrm_h, hstate, tol,
):  # fmt: skip
    """The projected Hessian K of :func:`assemble_hessian` kept across Newton iterations and
    steps in ``val``: each triangle's eigensystem (``lam_h`` (F, 6), ``modes_h`` (F, 6, 3, 2))
    is stored with the F it was computed at (``f_h`` (F, 3, 2)), each bending stencil's
    normal in ``nrm_h`` (S, 3); an element whose F (or normal) has moved by more than ``tol``
    (max entry) since is taken out of ``val`` and put back at ``x``; the others keep their
    block. So a resting or slowly moving sheet skips most of the assembly (the membrane's
    eigensystems and scatter are 2/3 of it), and what turns or swings is recomputed (a turned
    triangle's Hessian is R H R^T: its tension's soft direction turns with it).
    ``hstate`` (1,): updates since the last full assembly (-1: none yet, assemble in full).
    Returns the number of elements recomputed (triangles + stencils)."""
    nt = tris.shape[0]
    ns = b_ptr.shape[0] - 1
    if ns > 0:
        vertex_normals(x, tris, nrm)
    full = hstate[0] < 0.0 or hstate[0] >= HESSIAN_REFRESH
    if not full:  # how many moved: few -> update them, many -> assemble afresh
        moved = 0
        for t in range(nt):
            _deformation_gradient(x, tris, gt, t, fr)
            if _moved(fr, f_h[t], tol):
                moved += 1
        full = moved > HESSIAN_FULL_SHARE * nt
    done = 0
    if full:
        val[:] = 0.0
        hstate[0] = 0.0
    else:
        hstate[0] += 1.0
    for t in range(nt):
        _deformation_gradient(x, tris, gt, t, fr)
        if not full:
            if not _moved(fr, f_h[t], tol):
                continue
            _scatter_membrane(val, tri_slot, gt, t, lam_h[t], modes_h[t], q, True)
        for c in range(3):
            f_h[t, c, 0] = fr[c, 0]
            f_h[t, c, 1] = fr[c, 1]
        done += 1
        if membrane_modes(fr, w_rot[t], w_area[t], True, lam_h[t], modes_h[t], basis):
            _scatter_membrane(val, tri_slot, gt, t, lam_h[t], modes_h[t], q, False)
        else:  # collapsed: nothing added, nothing to take away later
            lam_h[t, :] = 0.0
    for s in range(ns):
        cv = b_vertex[s]
        if full:
            _scatter_bending(val, b_ptr, b_w, b_inv_alpha, pair_ptr, pair_slot, s, nrm[cv], nrm[cv], False)
        elif (
            abs(nrm[cv, 0] - nrm_h[s, 0]) > tol
            or abs(nrm[cv, 1] - nrm_h[s, 1]) > tol
            or abs(nrm[cv, 2] - nrm_h[s, 2]) > tol
        ):
            _scatter_bending(val, b_ptr, b_w, b_inv_alpha, pair_ptr, pair_slot, s, nrm[cv], nrm_h[s], True)
        else:
            continue
        done += 1
        for c in range(3):
            nrm_h[s, c] = nrm[cv, c]
    return done


@njit(cache=True, inline="always")
def _moved(f, f_old, tol):
    """Whether an entry of the 3 x 2 ``f`` differs from ``f_old``'s by more than ``tol``."""
    for c in range(3):
        if abs(f[c, 0] - f_old[c, 0]) > tol or abs(f[c, 1] - f_old[c, 1]) > tol:
            return True
    return False


@njit(cache=True)
def hessian_mul(row_ptr, col, val, mass, inv_h2, fixed, p, out):
    """out = (M / h^2 + K) p on the free vertices, 0 on fixed ones (``p`` is 0 there)."""
    for i in range(row_ptr.shape[0] - 1):
        if fixed[i]:
            out[i, 0] = 0.0
            out[i, 1] = 0.0
            out[i, 2] = 0.0
            continue
        mi = mass[i] * inv_h2
        s0 = mi * p[i, 0]
        s1 = mi * p[i, 1]
        s2 = mi * p[i, 2]
        for k in range(row_ptr[i], row_ptr[i + 1]):
            j = col[k]
            if fixed[j]:
                continue
            s0 += val[k, 0, 0] * p[j, 0] + val[k, 0, 1] * p[j, 1] + val[k, 0, 2] * p[j, 2]
            s1 += val[k, 1, 0] * p[j, 0] + val[k, 1, 1] * p[j, 1] + val[k, 1, 2] * p[j, 2]
            s2 += val[k, 2, 0] * p[j, 0] + val[k, 2, 1] * p[j, 1] + val[k, 2, 2] * p[j, 2]
        out[i, 0] = s0
        out[i, 1] = s1
        out[i, 2] = s2


@njit(cache=True)
def _capsules_hold(x, prev, held, caps, n_caps, margin):
    """:func:`_capsules` for the Newton solve: push the vertices that are not ``held`` out of the
    tool capsules and mark them ``held`` (they stay where the capsule put them for the rest of
    the step's iterations: a contact active set). A vertex is put back on the side of the
    capsule its ``prev`` position (the iterate before, outside) was on, at the same point along
    the axis: a full Newton iteration can carry a vertex of a taut sheet across the capsule's
    axis, and the radial push would then put it on the far side (the sheet passed through a
    rising capsule). Returns how many were pushed."""
    pushed = 0
    for p in range(n_caps):
        ax, ay, az, bx, by, bz, bb, r = _capsule_axis(caps, p, margin)
        for i in range(x.shape[0]):
            if held[i]:
                continue
            s, dx, dy, dz, d2 = _off_axis(x[i, 0] - ax, x[i, 1] - ay, x[i, 2] - az, bx, by, bz, bb)
            if d2 >= r * r:
                continue
            _, ex, ey, ez, e2 = _off_axis(prev[i, 0] - ax, prev[i, 1] - ay, prev[i, 2] - az, bx, by, bz, bb)
            if e2 >= r * r * (1.0 - 1e-9):  # came from outside: back out on that side
                f = r / np.sqrt(e2)
                px, py, pz = s * bx + f * ex, s * by + f * ey, s * bz + f * ez
                x[i, 0] = ax + px
                x[i, 1] = ay + py
                x[i, 2] = az + pz
                # near an end cap the new point can lie nearer another part of the axis:
                # then on out radially from there
                s, dx, dy, dz, d2 = _off_axis(px, py, pz, bx, by, bz, bb)
                if d2 < r * r * (1.0 - 1e-12) and d2 >= 1e-24:
                    _push_radially(x, i, dx, dy, dz, d2, r)
            elif d2 >= 1e-24:  # started inside: radially
                _push_radially(x, i, dx, dy, dz, d2, r)
            else:
                continue
            held[i] = True
            pushed += 1
    return pushed


@njit(cache=True)
def _precondition_held(band, perm, held, q, z):
    """:func:`_precondition` restricted to the vertices not ``held`` (the factor's fixed ones
    and the capsule contacts of this step): still symmetric positive definite there."""
    _precondition(band, perm, held, q, z)
    for i in range(q.shape[0]):
        if held[i]:
            q[i, 0] = 0.0
            q[i, 1] = 0.0
            q[i, 2] = 0.0


@njit(cache=True)
def newton_step(
    x, v, x_prev, mass, fixed, f_ext, tris, gt, w_rot, w_area, b_vertex, b_ptr, b_idx, b_w, b_inv_alpha, nrm, nlen,
    vt_ptr, vt_tri, band, perm, row_ptr, col, tri_slot, pair_ptr, pair_slot, val, hold_idx, hold_a, hold_b, f0, f1,
    caps, n_caps, planes, n_planes, boxes, n_boxes, mu_s, mu_k, gravity, dt, substeps, iterations, cg_iterations,
    cg_tol, tol, damping, margin, y, z, fr, fa, lam, modes, basis, q, grad, ge, ge_t, d, xt, r, p, ap, held, stats,
    hessian_tol, f_h, lam_h, modes_h, nrm_h, hstate,
):  # fmt: skip
    """Advance by ``dt`` in ``substeps`` implicit-Euler steps, each minimising
    g(x) = 1/(2 h^2) |x - y|_M^2 + E(x) by at most ``iterations`` Newton iterations: the
    Hessian M / h^2 + K(x) with the membrane blocks projected to positive semi-definite per
    triangle (:func:`membrane_modes`, :func:`assemble_hessian`: the rotations cost nothing,
    an out-of-plane turn costs the current tension), the system solved by at most
    ``cg_iterations`` of conjugate gradients preconditioned by the Projective Dynamics factor
    (``band``, to a relative residual ``cg_tol``), then the Armijo backtracking line search
    on g of :func:`qn_step` (a search that finds no decrease in 6 halvings takes the plain
    local-global step). E and its gradient are :func:`energy_gradient`'s with the bending
    normals held fixed, as both other solves, so the static states are theirs; the first
    iterate is x + h v, as theirs. Stops early when |grad g| <= ``tol`` x max(|M (y - x0)| /
    h^2, the first iteration's |grad g|). The Hessian is kept in ``val`` across iterations and
    steps with ``hessian_tol`` > 0: each iteration recomputes only the elements whose F (or
    normal) moved by more than that since (:func:`update_hessian`, with ``f_h``, ``lam_h``,
    ``modes_h``, ``nrm_h``, ``hstate``), so a sheet at rest skips the assembly and a swinging
    or turning one gets all of it; with ``hessian_tol`` <= 0 it is assembled afresh each
    iteration (:func:`assemble_hessian`). ``stats`` (5,) accumulates [Newton iterations, CG
    iterations, line-search evaluations, fallbacks, Hessian elements recomputed]. Tool
    capsules: a free vertex inside one (in the first iterate or after an iteration) is pushed
    out, on the side its previous iterate was on, and held there for the rest of the step
    (``held`` (V,) bool scratch), so the next iterations drape the sheet round it rather than
    pull it back through (projected radially after each iteration only, as the other solves
    do, the taut clamped gauze passed through a rising capsule: :func:`_capsules_hold`). Other arguments as
    :func:`qn_step`; ``val`` (B, 3, 3) the Hessian's values, ``lam``, ``modes``, ``basis``,
    ``q`` as :func:`assemble_hessian`, ``r``, ``p``, ``ap`` (V, 3) scratch."""
    n = x.shape[0]
    h, inv_h2, keep = _step_length(dt, substeps, damping)
    for s in range(substeps):
        frac = f0 + (f1 - f0) * (s + 1.0) / substeps
        _inertial_target(x, x_prev, v, y, fixed, gravity, f_ext, mass, hold_idx, hold_a, hold_b, frac, h)
        ref = 0.0
        for i in range(n):
            for c in range(3):
                if not fixed[i]:
                    fi = mass[i] * inv_h2 * (y[i, c] - x[i, c])
                    ref += fi * fi
        ref = np.sqrt(ref)
        for i in range(n):
            held[i] = fixed[i]
        if n_caps > 0:
            _capsules_hold(x, x_prev, held, caps, n_caps, margin)
        for it in range(iterations):
            # the bending normals of this iterate, frozen for its line search: the energy searched
            # is then quadratic in bending with the local-global force as its exact gradient
            # (the true E's gradient has the turning normals: searching it, the step stalled at
            # the PD fixed point and fell back to local-global steps there)
            e = energy_gradient(
                x, tris, gt, w_rot, w_area, b_vertex, b_ptr, b_idx, b_w, b_inv_alpha, nrm, nlen, vt_ptr, vt_tri,
                ge, fr, fa, True, False,
            )  # fmt: skip
            gn = 0.0
            for i in range(n):
                for c in range(3):
                    grad[i, c] = 0.0 if held[i] else ge[i, c] + mass[i] * inv_h2 * (x[i, c] - y[i, c])
                    gn += grad[i, c] * grad[i, c]
            gn = np.sqrt(gn)
            if it == 0:  # at a static state (grad g = 0 at x0) nothing to do
                if gn <= tol * ref:
                    break
                ref = max(ref, gn)
            elif gn <= tol * ref:
                break
            stats[0] += 1
            if hessian_tol > 0.0:  # the kept Hessian, its moved elements recomputed
                stats[4] += update_hessian(
                    x, tris, gt, w_rot, w_area, b_vertex, b_ptr, b_idx, b_w, b_inv_alpha, nrm, tri_slot, pair_ptr,
                    pair_slot, val, fr, basis, q, f_h, lam_h, modes_h, nrm_h, hstate, hessian_tol,
                )  # fmt: skip
            else:
                assemble_hessian(
                    x, tris, gt, w_rot, w_area, b_vertex, b_ptr, b_idx, b_w, b_inv_alpha, nrm, tri_slot, pair_ptr,
                    pair_slot, val, fr, lam, modes, basis, q, True,
                )  # fmt: skip
                stats[4] += tris.shape[0] + b_ptr.shape[0] - 1
            # PCG on (M / h^2 + K) d = grad g, from d = 0 (each iterate a descent direction)
            for i in range(n):
                for c in range(3):
                    d[i, c] = 0.0
                    r[i, c] = grad[i, c]
                    p[i, c] = grad[i, c]
            _precondition_held(band, perm, held, p, z)
            rz = _dot(r, p, held)
            for _k in range(cg_iterations):
                hessian_mul(row_ptr, col, val, mass, inv_h2, held, p, ap)
                pap = _dot(p, ap, held)
                if not pap > 0.0:
                    break
                al = rz / pap
                rr = 0.0
                for i in range(n):
                    for c in range(3):
                        d[i, c] += al * p[i, c]
                        r[i, c] -= al * ap[i, c]
                        rr += r[i, c] * r[i, c]
                stats[1] += 1
                if np.sqrt(rr) <= cg_tol * gn:
                    break
                for i in range(n):
                    for c in range(3):
                        ap[i, c] = r[i, c]
                _precondition_held(band, perm, held, ap, z)
                rz_new = _dot(r, ap, held)
                beta = rz_new / rz
                rz = rz_new
                for i in range(n):
                    for c in range(3):
                        p[i, c] = ap[i, c] + beta * p[i, c]
            gd = -_dot(grad, d, held)
            if not gd < 0.0:  # no CG step was taken: the local-global direction
                _local_global_direction(band, perm, held, grad, d, z, True)
                gd = -_dot(grad, d, held)
            ok, alpha, et, evals = _line_search(
                x, y, d, xt, mass, held, e, gd, inv_h2, 6, tris, gt, w_rot, w_area, b_vertex, b_ptr, b_idx, b_w,
                b_inv_alpha, nrm, nlen, vt_ptr, vt_tri, ge_t, fr, fa, False, True,
            )  # fmt: skip
            stats[2] += evals
            for i in range(n):  # the iterate before, for the capsules
                for c in range(3):
                    p[i, c] = x[i, c]
            if ok:
                for i in range(n):
                    for c in range(3):
                        x[i, c] = xt[i, c]
            else:
                stats[3] += 1
                _local_global_direction(band, perm, held, grad, d, z, True)
                for i in range(n):
                    for c in range(3):
                        x[i, c] -= d[i, c]
            if n_caps > 0:
                _capsules_hold(x, p, held, caps, n_caps, margin)
        _end_step(x, x_prev, v, fixed, planes, n_planes, boxes, n_boxes, margin, mu_s, mu_k, h, keep)
