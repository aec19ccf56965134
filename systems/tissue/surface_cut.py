"""The embedded render surface's part of a cut (:func:`vrmed.systems.tissue.cutting.cut_body`):
:func:`cut_embedding` rebinds a surface to the cut body and gives it real cut faces where the
tissue separates, ending at the crack front of a partial cut; the helpers below it find the
front, close the outline into caps built from the tissue's own cut faces and hand each piece its
own vertices.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

from vrmed.components.tissue.softbody import EmbeddedSurface, SoftBody
from vrmed.geometry import segment_point_distance
from vrmed.mesh import TetMesh
from vrmed.systems.tissue import embedding_kernels as EK
from vrmed.systems.tissue.topology_kernels import piece_roots

_K = TypeVar("_K")


def _bary(p: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """Barycentric coordinates (k, 4) of points p (k, 3) in tets with corners (k, 4, 3)."""
    m = np.transpose(corners[:, 1:] - corners[:, :1], (0, 2, 1))
    uvw = np.linalg.solve(m, (p - corners[:, 0])[:, :, None])[:, :, 0]
    return np.concatenate([1.0 - uvw.sum(axis=1, keepdims=True), uvw], axis=1)


def _point_in_polygon(p: np.ndarray, poly: np.ndarray) -> bool:
    """Even-odd test of 2D point p in the closed polygon ``poly`` (k, 2)."""
    q = np.roll(poly, -1, axis=0)
    crosses = (poly[:, 1] > p[1]) != (q[:, 1] > p[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        x = poly[:, 0] + (p[1] - poly[:, 1]) * (q[:, 0] - poly[:, 0]) / (q[:, 1] - poly[:, 1])
    return bool(np.count_nonzero(crosses & (p[0] < x)) % 2)


def _points_in_polygon(p: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd test of the 2D points ``p`` (k, 2) in the closed polygon ``poly`` (m, 2): (k,) bool."""
    q = np.roll(poly, -1, axis=0)
    y = p[:, 1:2]
    crosses = (poly[None, :, 1] > y) != (q[None, :, 1] > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = poly[None, :, 0] + (y - poly[None, :, 1]) * (q[None, :, 0] - poly[None, :, 0]) / (
            q[None, :, 1] - poly[None, :, 1]
        )
    return np.asarray(np.count_nonzero(crosses & (p[:, 0:1] < x), axis=1) % 2 == 1)


def _separation_radius(corners: np.ndarray, region: np.ndarray, reach: float) -> float:
    """A distance from the blade within which every face the cut separates lies: ``reach`` plus
    the largest distance from a region tet's centroid to its corners (``corners`` (m, 4, 3) at
    the current positions). Why: the region is the tets whose centroid lies within ``reach``, and
    the separated faces are faces of those tets (sub-tets of them), so none reaches farther; a
    surface opened to this distance opens at least wherever the tissue does (opening it where
    the tissue holds only lays the two caps on each other there)."""
    if not np.isfinite(reach) or not region.any():
        return float(reach)
    c = corners[region]
    return float(reach + np.linalg.norm(c - c.mean(axis=1, keepdims=True), axis=2).max())


def _front(
    held: np.ndarray, a2: np.ndarray, b2: np.ndarray, radius: float, spacing: float, ring: np.ndarray
) -> list[np.ndarray]:
    """2D points of the crack front across a held stretch of the outline (``held``, (k, 2), from
    its first point to its last, both excluded), about ``spacing`` apart (one at least): along the
    boundary of the region the cut separates in the plane (the points within ``radius`` of the
    blade a2-b2, a stadium), the way round that stays nearer the held stretch (the front and the
    stretch bound the held part of the section; the other way round runs around the blade).
    A point of it outside the outline ``ring`` (the whole loop, (m, 2)) is moved onto the nearest
    point of the held stretch: there the region's boundary has left the section, so the crack
    front runs along the surface (and the held stretch, sampled only where the surface's edges
    cross the plane, may cut the region's corner between two of its points)."""
    ang = np.linspace(0.0, 2.0 * np.pi, 256, endpoint=False)
    nu = np.stack([np.cos(ang), np.sin(ang)], axis=1)
    bnd = np.where((nu @ (b2 - a2) >= 0.0)[:, None], b2, a2) + radius * nu  # outward normal nu
    # resampled evenly along its length (the straight sides are one step of the angle)
    closed = np.concatenate([bnd, bnd[:1]])
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(closed, axis=0), axis=1))])
    k = max(64, int(arc[-1] / (0.25 * max(spacing, 1e-12))))
    at = arc[-1] * np.arange(k) / k
    bnd = np.stack([np.interp(at, arc, closed[:, 0]), np.interp(at, arc, closed[:, 1])], axis=1)
    q_from, q_to = held[0], held[-1]
    i1 = int(np.argmin(np.linalg.norm(bnd - q_from, axis=1)))
    i0 = int(np.argmin(np.linalg.norm(bnd - q_to, axis=1)))
    best: tuple[float, list[np.ndarray]] | None = None
    for idx in ((i1 + np.arange((i0 - i1) % k + 1)) % k, (i1 - np.arange((i1 - i0) % k + 1)) % k):
        path = np.concatenate([q_from[None], bnd[idx], q_to[None]])
        # how far the path strays from the held stretch (its farthest point from the nearest one)
        stray = float(np.sqrt(((path[:, None, :] - held[None, :, :]) ** 2).sum(axis=2).min(axis=1).max()))
        seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
        arc = np.concatenate([[0.0], np.cumsum(seg)])
        n_pts = max(2, int(arc[-1] / max(spacing, 1e-12)))
        at = arc[-1] * np.arange(1, n_pts) / n_pts
        pts = [np.array([np.interp(s, arc, path[:, 0]), np.interp(s, arc, path[:, 1])]) for s in at]
        if best is None or stray < best[0]:
            best = (stray, pts)
    assert best is not None
    out = []
    a, b = held[:-1], held[1:]
    ab = b - a
    for q in best[1]:
        if len(held) > 1 and not _point_in_polygon(q, ring):
            t = np.clip(((q - a) * ab).sum(axis=1) / np.maximum((ab * ab).sum(axis=1), 1e-300), 0.0, 1.0)
            near = a + t[:, None] * ab
            q = near[int(np.argmin(np.linalg.norm(near - q, axis=1)))]
        out.append(q)
    return out


def _loops(nxt: dict[_K, _K]) -> list[list[_K]]:
    """Closed chains of the successor map ``nxt`` (open chains, from a surface that was not
    closed, are left out: they bound no cap)."""
    loops: list[list[_K]] = []
    seen: set[_K] = set()
    for start in nxt:
        if start in seen:
            continue
        loop, k = [], start
        while k in nxt and k not in seen:
            seen.add(k)
            loop.append(k)
            k = nxt[k]
        if k == start and len(loop) >= 3:
            loops.append(loop)
    return loops


def _cap(loops: list[np.ndarray], strict: bool = False) -> tuple[list[tuple[int, int, int]], list[int]]:
    """:func:`_cap_rings` with each run of consecutive points at one place (an outline crossing
    a vertex a cut snapped onto, or an earlier cap's zero-area triangles, gives several points
    there) taken as one point, and the run closed by zero-area triangles to the next point along
    the loop (run against the loop, as the cap's): earcut gives way on repeated points, and the
    fan that closed the loop instead covered area off the tissue. Same returns; ``strict`` as
    there."""
    offsets = np.cumsum([0] + [len(lp) for lp in loops])
    red: list[np.ndarray] = []
    glob: list[np.ndarray] = []
    extra: list[tuple[int, int, int]] = []
    for lp, off in zip(loops, offsets[:-1].tolist(), strict=True):
        scale = max(float(np.ptp(lp, axis=0).max()), 1e-300)
        same = np.linalg.norm(lp - np.roll(lp, 1, axis=0), axis=1) <= 1e-12 * scale  # as the point before
        if not same.any() or same.all():
            red.append(lp)
            glob.append(off + np.arange(len(lp)))
            continue
        k0 = int(np.flatnonzero(~same)[0])
        runs: list[list[int]] = []
        for q in range(len(lp)):
            i = (k0 + q) % len(lp)
            if same[i] and runs:
                runs[-1].append(i)
            else:
                runs.append([i])
        if len(runs) < 3:
            return _cap_rings(loops, strict)
        red.append(lp[[r[0] for r in runs]])
        glob.append(off + np.array([r[0] for r in runs]))
        for j, r in enumerate(runs):
            b = off + runs[(j + 1) % len(runs)][0]
            extra += [(b, off + r[q + 1], off + r[q]) for q in range(len(r) - 1)]
    if not extra:
        return _cap_rings(loops, strict)
    tris, centres = _cap_rings(red, strict)
    at = np.concatenate(glob)
    n_red, total = at.size, int(offsets[-1])

    def m(i: int) -> int:
        return int(at[i]) if i < n_red else total + i - n_red

    return [(m(a), m(b), m(c)) for a, b, c in tris] + extra, centres


def _drop_spikes(runs: list[list[int]], pts: np.ndarray, rim: np.ndarray, tol: float) -> list[tuple[int, int, int]]:
    """Take the spikes out of one outline ring, given as its ``runs`` (each a list of indices
    into ``pts``, points at one place, in the ring's order; edited in place): a run whose two
    neighbours lie at one place, at no point of ``rim`` (the tissue's cut faces' outline), is
    an excursion of the outline along a surface edge that lies on the tissue's cut face (on the
    liver, where the cut snapped both ends of a surface edge onto its plane, random sequence
    1046: the + outline ran out to a vertex inside the cut faces and back). The excursion and
    its return are dropped and the two neighbours merged into one run; returns the zero-area
    triangles (indices into ``pts``, against the ring's order as a cap's are) that close the
    dropped points to the next run, so the outline that is left is the faces' own."""
    tris: list[tuple[int, int, int]] = []
    while len(runs) > 3:
        n = len(runs)
        at = pts[[r[0] for r in runs]]
        tip = np.linalg.norm(np.roll(at, 1, axis=0) - np.roll(at, -1, axis=0), axis=1) <= tol
        if rim.size and tip.any():  # a tip on the faces' outline is not the outline's alone
            k_tip = np.flatnonzero(tip)
            on_rim = np.linalg.norm(at[k_tip][:, None] - rim[None], axis=2).min(axis=1) <= tol
            tip[k_tip[on_rim]] = False
        if not tip.any():
            break
        k = int(np.flatnonzero(tip)[0])
        ka, kc = (k - 1) % n, (k + 1) % n
        a, b, c = runs[ka], runs[k], runs[kc]
        s = c[0]
        tris += [(s, b[j + 1], b[j]) for j in range(len(b) - 1)]  # the tip's run, to c
        tris.append((s, b[0], a[-1]))  # a -> b -> c, with a and c at one place
        runs[ka] = a + c
        runs[:] = [r for i, r in enumerate(runs) if i not in (k, kc)]
    return tris


def _untangle(
    loops: list[np.ndarray],
) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, float]], np.ndarray] | None:
    """Cap the rings ``loops`` (2D, as :func:`_cap` takes them) that earcut cannot take because
    a ring crosses or touches itself in the plane (the outline of a surface that folds across
    the blade plane, or the two lips of an earlier slit crossing it at one place), without a
    fan: each ring is split, at a point where two of its edges cross (a new point on each edge
    there) or at a point it visits twice, into two rings, until every ring is simple; those are
    capped by :func:`_cap` (holes by nesting, as there). The cap's boundary is still exactly the
    outline: each split adds the zero-area triangles (in 3D too: a new point lies on its edge)
    or, for the two points of a crossing, the sliver between the two edges there, that give
    back the outline's edges the split cut (a cap is a 2-chain whose boundary is the outline,
    as the winding-number covering of a self-crossing polygon is). Returns the triangles
    (indices into the concatenated loops, then the new points) and the new points as (a, b, s):
    the point at parameter s along the outline edge from point a to point b (either may be an
    earlier new point), and their 2D positions (k, 2); None where the rings still cannot be
    capped without a fan (rings that cross one another, a split that leaves fewer than three
    points)."""
    pos = [p for lp in loops for p in lp]
    rings: list[list[int]] = []
    off = 0
    for lp in loops:
        rings.append(list(range(off, off + len(lp))))
        off += len(lp)
    total = off
    scale = max(max(float(np.ptp(lp, axis=0).max()) for lp in loops), 1e-300)
    tol = 1e-9 * scale
    new: list[tuple[int, int, float]] = []
    extra: list[tuple[int, int, int]] = []

    def cut_once(r: list[int]) -> list[list[int]] | None:
        """Drop ring r's spikes (one ring back), or split it where two of its edges cross or at
        a point it visits twice (two rings back; crossings first: a ring joined from two at a
        crossing touches itself there, and a split there would only undo the join), or None
        if it is simple."""
        n = len(r)
        p = np.array([pos[i] for i in r])
        same = np.linalg.norm(p - np.roll(p, 1, axis=0), axis=1) <= tol  # as the point before
        if same.all():
            return None  # a ring at one point: no area (a fan below)
        k0 = int(np.flatnonzero(~same)[0])
        runs: list[list[int]] = []  # runs of consecutive points at one place
        for q in range(n):
            i = (k0 + q) % n
            if same[i] and runs:
                runs[-1].append(r[i])
            else:
                runs.append([r[i]])
        # spikes first (an excursion along a line and back, such as where the outline runs out
        # along a surface edge lying on the cut face: a split there leaves rings of no area)
        spikes = _drop_spikes(runs, np.array(pos), np.zeros((0, 2)), tol)
        if spikes:
            extra.extend(spikes)
            return [[i for run in runs for i in run]]
        flat = [i for run in runs for i in run]  # r from the first run's start
        start = np.cumsum([0] + [len(run) for run in runs])[:-1]
        rp = np.array([pos[run[0]] for run in runs])
        # two edges crossing properly: a new point on each, then split between them
        p = np.array([pos[i] for i in flat])
        pq = np.roll(p, -1, axis=0)
        e = pq - p
        o1 = e[:, None, 0] * (p[None, :, 1] - p[:, None, 1]) - e[:, None, 1] * (p[None, :, 0] - p[:, None, 0])
        o2 = e[:, None, 0] * (pq[None, :, 1] - p[:, None, 1]) - e[:, None, 1] * (pq[None, :, 0] - p[:, None, 0])
        # proper crossings only, clear of the edges' ends (near-touching is left to earcut)
        lim = tol * np.linalg.norm(e, axis=1)[:, None]
        clear = (np.minimum(np.abs(o1), np.abs(o2)) > lim) & (o1 * o2 < 0.0)
        hit = np.triu(clear & clear.T, 2)
        hit[0, n - 1] = False
        cross = np.argwhere(hit)
        if cross.size:
            i, j = int(cross[0, 0]), int(cross[0, 1])
            u = float(o1[j, i] / (o1[j, i] - o2[j, i]))  # along edge i
            s = float(o1[i, j] / (o1[i, j] - o2[i, j]))  # along edge j
            x1, x2 = total + len(new), total + len(new) + 1
            a_, b_, c_, d_ = flat[i], flat[(i + 1) % n], flat[j], flat[(j + 1) % n]
            new.extend([(a_, b_, u), (c_, d_, s)])
            pos.extend([pos[a_] + u * (pos[b_] - pos[a_]), pos[c_] + s * (pos[d_] - pos[c_])])
            extra.extend([(a_, x1, b_), (c_, x2, d_), (x1, a_, x2), (x2, c_, x1)])
            return [[x1] + flat[i + 1 : j + 1], [x2] + flat[j + 1 :] + flat[: i + 1]]
        # a point visited twice (two runs at one place): split there
        twice = np.argwhere(np.triu(np.linalg.norm(rp[:, None] - rp[None], axis=2) <= tol, 1))
        if twice.size:
            i, j = int(start[twice[0, 0]]), int(start[twice[0, 1]])
            extra.extend([(flat[j - 1], flat[i], flat[j]), (flat[i - 1], flat[j], flat[i])])
            return [flat[i:j], flat[j:] + flat[:i]]
        return None

    def crossing(ra: list[int], rb: list[int]) -> tuple[int, int, float, float] | None:
        """The first proper crossing of an edge of ring ra (i, at u along it) with one of ring
        rb (j, at s), or None."""
        pa, pb = np.array([pos[i] for i in ra]), np.array([pos[i] for i in rb])
        qa, qb = np.roll(pa, -1, axis=0), np.roll(pb, -1, axis=0)
        ea, eb = qa - pa, qb - pb
        o1 = ea[:, None, 0] * (pb[None, :, 1] - pa[:, None, 1]) - ea[:, None, 1] * (pb[None, :, 0] - pa[:, None, 0])
        o2 = ea[:, None, 0] * (qb[None, :, 1] - pa[:, None, 1]) - ea[:, None, 1] * (qb[None, :, 0] - pa[:, None, 0])
        o3 = eb[None, :, 0] * (pa[:, None, 1] - pb[None, :, 1]) - eb[None, :, 1] * (pa[:, None, 0] - pb[None, :, 0])
        o4 = eb[None, :, 0] * (qa[:, None, 1] - pb[None, :, 1]) - eb[None, :, 1] * (qa[:, None, 0] - pb[None, :, 0])
        la, lb = tol * np.linalg.norm(ea, axis=1)[:, None], tol * np.linalg.norm(eb, axis=1)[None, :]
        clear = (np.minimum(np.abs(o1), np.abs(o2)) > la) & (np.minimum(np.abs(o3), np.abs(o4)) > lb)
        hit = np.argwhere((o1 * o2 < 0.0) & (o3 * o4 < 0.0) & clear)
        if hit.size == 0:
            return None
        i, j = (int(v) for v in hit[0])
        return i, j, float(o3[i, j] / (o3[i, j] - o4[i, j])), float(o1[i, j] / (o1[i, j] - o2[i, j]))

    todo: list[list[int]] = list(rings)
    done: list[list[int]] = []
    ops = 0
    while todo:
        while todo:
            r = todo.pop()
            ops += 1
            if len(done) + len(todo) > 64 or ops > 64:
                return None
            parts = cut_once(r)
            if parts is None:
                done.append(r)
            elif min(len(part) for part in parts) < 3:
                return None
            else:
                todo += parts
        # two rings that cross: joined at the crossing into one ring (a new point on each edge),
        # which the loop above then splits where it still crosses or touches itself
        for ka in range(len(done)):
            for kb in range(ka + 1, len(done)):
                hit_ab = crossing(done[ka], done[kb])
                if hit_ab is None:
                    continue
                i, j, u, s = hit_ab
                ra, rb = done[ka], done[kb]
                na, nb = len(ra), len(rb)
                a_, b_, c_, d_ = ra[i], ra[(i + 1) % na], rb[j], rb[(j + 1) % nb]
                x1, x2 = total + len(new), total + len(new) + 1
                new.extend([(a_, b_, u), (c_, d_, s)])
                pos.extend([pos[a_] + u * (pos[b_] - pos[a_]), pos[c_] + s * (pos[d_] - pos[c_])])
                extra.extend([(a_, x1, b_), (c_, x2, d_), (x1, d_, x2), (x2, b_, x1)])
                todo.append([x1] + rb[j + 1 :] + rb[: j + 1] + [x2] + ra[i + 1 :] + ra[: i + 1])
                done = [r for k, r in enumerate(done) if k not in (ka, kb)]
                break
            if todo:
                break
    # a ring of no area (the outline running along a line and back): a fan from its first
    # point, whose triangles lie along that line too
    area = [
        0.5 * abs(sum(pos[r[k - 1]][0] * pos[r[k]][1] - pos[r[k]][0] * pos[r[k - 1]][1] for k in range(len(r))))
        for r in done
    ]
    flat_rings = [r for r, ar in zip(done, area, strict=True) if ar <= 1e-6 * scale * scale]
    done = [r for r, ar in zip(done, area, strict=True) if ar > 1e-6 * scale * scale]
    for r in flat_rings:
        extra.extend((r[0], r[k + 1], r[k]) for k in range(1, len(r) - 1))
    # each ring from its point farthest from the others' (the cap nests rings by their first
    # point, and a split's new point lies on the other ring)
    if len(done) > 1:
        pts_of = [np.array([pos[i] for i in r]) for r in done]
        for k, r in enumerate(done):
            others = np.concatenate([q for m, q in enumerate(pts_of) if m != k])
            gap = np.linalg.norm(pts_of[k][:, None] - others[None], axis=2).min(axis=1)
            f = int(np.argmax(gap))
            done[k] = r[f:] + r[:f]
    tris, centres = _cap([np.array([pos[i] for i in r]) for r in done], True) if done else ([], [])
    if centres or (done and not tris):
        return None
    order = [i for r in done for i in r]
    out = [(order[a], order[b], order[c]) for a, b, c in tris] + extra
    # the cap with the outline must be closed with every directed edge once (a manifold
    # surface, consistently oriented); where the splits' triangles meet the cap's own edges
    # otherwise (near-degenerate crossings), no untangling
    half: dict[tuple[int, int], int] = {}
    for ring_ids in rings:
        for q in range(len(ring_ids)):
            e = (ring_ids[q], ring_ids[(q + 1) % len(ring_ids)])
            half[e] = half.get(e, 0) + 1
    for a, b, c in out:
        for e in ((a, b), (b, c), (c, a)):
            half[e] = half.get(e, 0) + 1
    if any(n != 1 for n in half.values()) or any((b, a) not in half for a, b in half):
        return None
    return out, new, np.array(pos[total:]).reshape(-1, 2)


def _restore_dropped(idx: np.ndarray, ring_edges: set[tuple[int, int]], pts: np.ndarray) -> np.ndarray:
    """Earcut's triangles ``idx`` (k, 3) with the ring points it dropped put back: earcut
    removes a point collinear with its neighbours (or at one place with one), so a triangle's
    edge a-b then stands for the ring's a -> p1 -> ... -> b; that triangle is split into a fan
    from its third corner along the points, of the same area (they lie on a-b, in order: a
    point collinear but beyond a or b, a spike, or at one place with another is not put
    back). ``ring_edges``: the rings' directed edges (global indices into the 2D points
    ``pts``). Without this the cap missed the ring's edges there and the whole group became a
    fan (the smooth liver's random sequence 1032: a
    198-point outline with a hole, 20 mm off its tissue through the fan's spokes)."""
    if idx.size == 0:
        return idx
    succ = dict(ring_edges)
    missing = {v for e in ring_edges for v in e} - set(idx.ravel().tolist())
    if not missing:
        return idx
    pred = {w: v for v, w in ring_edges}
    out: list[tuple[int, int, int]] = []
    for t in idx.tolist():
        done = False
        for u in range(3):
            a, b, x = t[u], t[(u + 1) % 3], t[(u + 2) % 3]
            for step in (succ, pred):
                path, v = [a], step.get(a)
                while v is not None and v in missing and len(path) < len(succ):
                    path.append(v)
                    v = step.get(v)
                if len(path) > 1 and v == b:
                    path.append(b)
                    ab = pts[b] - pts[a]
                    along = (pts[path] - pts[a]) @ ab / max(float(ab @ ab), 1e-300)
                    if not (np.diff(along) > 1e-9).all():
                        break  # not in order along a-b, or at one place (left to the caller)
                    out += [(path[k], path[k + 1], x) for k in range(len(path) - 1)]
                    done = True
                    break
            if done:
                break
        if not done:
            out.append((t[0], t[1], t[2]))
    return np.array(out, dtype=np.int64).reshape(-1, 3)


def _cap_rings(loops: list[np.ndarray], strict: bool = False) -> tuple[list[tuple[int, int, int]], list[int]]:
    """Triangulate the planar region bounded by ``loops`` (2D points, (k, 2) each, in the order
    the surface's outline runs; holes found by nesting depth) with earcut (Mapbox's polygon
    triangulation, ``mapbox_earcut``). Returns triangles of indices into the concatenated loops,
    each loop edge run against the loop's order (the cap closes the surface with a consistent
    orientation), and the loops that needed a centre point: where earcut cannot cover a group
    exactly (a loop that touches or crosses itself, as the outline of a folded surface may), that
    group is closed by fans around a new point per loop instead (index ``total + k`` for the k-th
    entry of the returned list), which closes it topologically whatever its shape. ``strict``
    (the caps over an outline's own rings): a point earcut drops (collinear with its
    neighbours) is put back (:func:`_restore_dropped`), and earcut's triangles must keep one
    winding (for a ring that crosses itself earcut may
    return triangles that close it topologically but fold over each other, over area outside
    it); the caller then untangles the ring (:func:`_untangle`)."""
    import mapbox_earcut  # deferred: only a cut through an embedded surface needs it

    offsets = np.cumsum([0] + [len(lp) for lp in loops])
    total = int(offsets[-1])
    allpts = np.concatenate(loops)
    area = [0.5 * float(np.sum(lp[:, 0] * np.roll(lp[:, 1], -1) - np.roll(lp[:, 0], -1) * lp[:, 1])) for lp in loops]
    order = sorted(range(len(loops)), key=lambda i: -abs(area[i]))
    parent: dict[int, int] = {}
    depth: dict[int, int] = {}
    for k, i in enumerate(order):
        inside = [j for j in order[:k] if _point_in_polygon(loops[i][0], loops[j])]
        depth[i] = len(inside)
        if inside:
            parent[i] = inside[-1]  # the smallest enclosing loop
    tris: list[tuple[int, int, int]] = []
    centres: list[int] = []
    holes = {
        i: [j for j in order if parent.get(j) == i and depth[j] == depth[i] + 1] for i in order if depth[i] % 2 == 0
    }
    covered = set(holes).union(*holes.values())
    for i in order:
        if i not in holes and i in covered:
            continue
        # an odd-depth loop whose smallest enclosing loop is not one depth up (loops that overlap,
        # as the outlines of an earlier slit's two caps lying on each other do, nest
        # inconsistently) is capped on its own: otherwise it would get no cap and leave a hole
        rings = [i] + holes.get(i, [])
        ring_edges = {
            (int(offsets[r] + q), int(offsets[r] + (q + 1) % len(loops[r])))
            for r in rings
            for q in range(len(loops[r]))
        }
        pts = np.concatenate([loops[r] for r in rings])
        ends = np.cumsum([len(loops[r]) for r in rings]).astype(np.uint32)
        glob = np.concatenate([np.arange(offsets[r], offsets[r + 1]) for r in rings])
        idx = glob[np.asarray(mapbox_earcut.triangulate_float64(pts, ends), dtype=np.int64).reshape(-1, 3)]
        if strict:  # (the faces' collars and hole caps keep earcut's own result)
            idx = _restore_dropped(idx, ring_edges, allpts)
        directed = {(int(t[u]), int(t[(u + 1) % 3])) for t in idx for u in range(3)}
        if ring_edges & directed:  # earcut's winding (one for all its triangles) runs with the loops: flip
            idx = idx[:, [0, 2, 1]]
        edges = np.sort(np.concatenate([idx[:, [0, 1]], idx[:, [1, 2]], idx[:, [2, 0]]]), axis=1)
        uniq, count = np.unique(edges, axis=0, return_counts=True)
        boundary = {(int(u), int(v)) for (u, v), c in zip(uniq.tolist(), count.tolist(), strict=True) if c == 1}
        ok = (
            len(idx) > 0
            and count.max() <= 2
            and boundary == {(min(u, v), max(u, v)) for u, v in ring_edges}
            and not (ring_edges & {(int(t[u]), int(t[(u + 1) % 3])) for t in idx for u in range(3)})
        )
        if ok and strict:  # and no triangle folded over the others (earcut covers a ring that
            # crosses itself with triangles of both windings, over area outside the ring's lobes)
            q = allpts[idx]
            a2 = (q[:, 1, 0] - q[:, 0, 0]) * (q[:, 2, 1] - q[:, 0, 1]) - (q[:, 1, 1] - q[:, 0, 1]) * (
                q[:, 2, 0] - q[:, 0, 0]
            )
            ok = float(np.minimum(np.abs(a2[a2 > 0.0]).sum(), np.abs(a2[a2 < 0.0]).sum())) <= 1e-9 * float(
                np.abs(a2).sum()
            )
        if ok:
            tris += [(int(u), int(v), int(w)) for u, v, w in idx]
            continue
        for r in rings:
            c = total + len(centres)
            centres.append(r)
            tris += [(int(offsets[r] + (q + 1) % len(loops[r])), int(offsets[r] + q), c) for q in range(len(loops[r]))]
    return tris, centres


def _separated_faces(
    body: SoftBody, side: np.ndarray, final_parent: np.ndarray, old_rest: np.ndarray, level: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The faces along which the tissue came apart in this cut: boundary faces of the cut
    ``body`` of its region / subdivided tets (``side`` +1 / -1) whose three corners lie on the
    tissue's cut face (the zero set of ``level``, the snapped distances from the plane, per old
    tet corner, interpolated into each tet's parent ``final_parent`` at rest). Returns per face
    its three vertex ids (k, 3), its tet (k,) and the tet's side (k,); then the faces of the
    body's boundary before the cut that lie on the cut face (all three corners snapped onto it:
    the organ's own surface, grazed by the cut, not separated) and their tets' sides. A face on the cut face
    that is not on the boundary (beyond a partial cut's crack front, or against a transition
    tet) holds the two sides together and is left out; so are faces of earlier cuts."""
    cand = np.flatnonzero(side != 0)
    none3, none = np.zeros((0, 3), dtype=np.int64), np.zeros(0, dtype=np.int64)
    empty = none3, none, none, none3, none
    if cand.size == 0 or level is None:
        return empty
    tets = body.tets[cand]
    par = final_parent[cand]
    pts = body.rest_points[tets].reshape(-1, 3)
    b = _bary(pts, np.repeat(old_rest[par], 4, axis=0)).reshape(-1, 4, 4)
    lvl = np.einsum("tck,tk->tc", b, level[par])  # each corner's level (0 on the cut face)
    corner = body.rest_points[tets]
    edge = float(np.median(np.linalg.norm(corner[:, 0] - corner[:, 1], axis=1)))
    on = np.abs(lvl) <= 1e-9 * max(edge, 1e-12)
    rows, j = np.nonzero(on.sum(axis=1, keepdims=True) - on == 3)  # face opposite corner j all on it
    if rows.size == 0:
        return empty
    # the face opposite each corner, wound outward for a positively oriented tet
    faces = tets[rows[:, None], np.array([[1, 2, 3], [0, 3, 2], [0, 1, 3], [0, 2, 1]])[j]]
    # the boundary ones: a face no other tet of the body has
    allf = np.sort(body.tets[:, [[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]]].reshape(-1, 3), axis=1)
    n = np.int64(body.n_vertices)
    code_all = np.sort((allf[:, 0] * n + allf[:, 1]) * n + allf[:, 2])
    f = np.sort(faces, axis=1)
    code = (f[:, 0] * n + f[:, 1]) * n + f[:, 2]
    count = np.searchsorted(code_all, code, side="right") - np.searchsorted(code_all, code, side="left")
    bnd = count == 1
    # a face of the body's boundary before the cut whose corners the cut snapped onto its plane
    # lies on the level too, but the tissue did not come apart there: it is the organ's own
    # surface (random liver sequence 1046: three such faces on the + side, mirrored as the -
    # cap, lay 8.3 mm off the - piece's tissue). Old faces by their corners' rest positions
    # (the lips of earlier cuts, at one place, count as one: their faces stay candidates)
    grazed = np.zeros(bnd.size, dtype=bool)
    # old faces with all three corners exactly on the cut face (snapped), and the old faces with
    # the same corners (by rest position: the twin of an interior one, whose corners a partial
    # cut may not have snapped); those that occur once were on the boundary
    fidx = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])
    zt, zf = np.nonzero((level[:, fidx] == 0.0).all(axis=2))
    if bnd.any() and zt.size:

        def key(tri: np.ndarray) -> tuple[bytes, ...]:
            return tuple(sorted(q.tobytes() for q in tri))

        vrows = np.ascontiguousarray(old_rest.reshape(-1, 3)).view(np.dtype((np.void, 24))).ravel()
        zrows = np.unique(vrows.reshape(-1, 4)[zt[:, None], fidx[zf]])
        in_z = np.isin(vrows, zrows).reshape(-1, 4)
        tt, ff = np.nonzero(in_z[:, fidx].all(axis=2))
        seen: dict[tuple[bytes, ...], int] = {}
        for tri in old_rest[tt[:, None], fidx[ff]]:
            seen[key(tri)] = seen.get(key(tri), 0) + 1
        zkeys = {key(tri) for tri in old_rest[zt[:, None], fidx[zf]]}
        old_bnd = {k for k in zkeys if seen.get(k, 0) == 1}
        corners = {q for k in old_bnd for q in k}
        if old_bnd:
            keep = np.flatnonzero(bnd)
            verts = np.unique(faces[keep])
            at_old = np.isin(faces[keep], verts[[body.rest_points[v].tobytes() in corners for v in verts.tolist()]])
            for q in keep[at_old.all(axis=1)].tolist():
                if key(body.rest_points[faces[q]]) in old_bnd:
                    grazed[q] = True
                    bnd[q] = False
    return faces[bnd], cand[rows[bnd]], side[cand[rows[bnd]]], faces[grazed], side[cand[rows[grazed]]]


def _in_circle(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> bool:
    """Whether d lies strictly inside the circle through the counter-clockwise a, b, c (2D)."""
    m = np.array([a - d, b - d, c - d])
    return bool(np.linalg.det(np.column_stack([m, (m * m).sum(axis=1)])) > 0.0)


def _cross2(u: np.ndarray, v: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Twice the signed area of the 2D triangles (u, v, q), u and v (k, 2), q (2,)."""
    return (v[:, 0] - u[:, 0]) * (q[1] - u[:, 1]) - (v[:, 1] - u[:, 1]) * (q[0] - u[:, 0])


def _insert_points(
    pts: np.ndarray, tris: list[tuple[int, int, int]], first: int, margin: float
) -> tuple[list[tuple[int, int, int]], list[int]]:
    """``tris`` (a triangulation of the 2D points ``pts`` before index ``first``, one winding for
    all) with the points from ``first`` on inserted (each splits the triangle holding it in
    three, then Lawson's edge flips restore the Delaunay property across every edge with a
    triangle on both sides, so the outline's edges, which have one, stay; Lawson 1977, as in
    de Berg et al., *Computational Geometry*, 3rd ed., sec. 9.3). A point outside every
    triangle, or within ``margin`` of a vertex or of a triangle's edge, is left out (no sliver).
    The winding of the input is kept. Returns the triangles and the points inserted."""
    if not tris or first >= pts.shape[0]:
        return tris, []
    t0 = np.array(tris, dtype=np.int64)
    e1, e2 = pts[t0[:, 1]] - pts[t0[:, 0]], pts[t0[:, 2]] - pts[t0[:, 0]]
    flip = float((e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]).sum()) < 0.0
    T: list[list[int] | None] = [[a, c, b] if flip else [a, b, c] for a, b, c in tris]  # counter-clockwise
    opp: dict[tuple[int, int], int] = {}  # directed edge -> triangle holding it
    for i, t in enumerate(T):
        assert t is not None
        for u in range(3):
            opp[(t[u], t[(u + 1) % 3])] = i

    def put(t: list[int]) -> int:
        T.append(t)
        i = len(T) - 1
        for u in range(3):
            opp[(t[u], t[(u + 1) % 3])] = i
        return i

    def kill(i: int) -> None:
        t = T[i]
        assert t is not None
        for u in range(3):
            if opp.get((t[u], t[(u + 1) % 3])) == i:
                del opp[(t[u], t[(u + 1) % 3])]
        T[i] = None

    done: list[int] = []
    for p in range(first, pts.shape[0]):
        live = np.array([i for i, t in enumerate(T) if t is not None], dtype=np.int64)
        arr = np.array([T[i] for i in live.tolist()], dtype=np.int64)
        a, b, c = pts[arr[:, 0]], pts[arr[:, 1]], pts[arr[:, 2]]
        q = pts[p]

        w = np.stack([_cross2(b, c, q), _cross2(c, a, q), _cross2(a, b, q)], axis=1)  # twice the sub-areas
        inside = np.flatnonzero((w >= 0.0).all(axis=1))
        if inside.size == 0:
            continue
        k = int(inside[0])
        tri = arr[k]
        lens = np.linalg.norm(pts[tri[[2, 0, 1]]] - pts[tri[[1, 2, 0]]], axis=1)  # edge opposite each corner
        if (w[k] / np.maximum(lens, 1e-300)).min() < margin or np.linalg.norm(pts[tri] - q, axis=1).min() < margin:
            continue
        i = int(live[k])
        x, y, z = tri.tolist()
        done.append(p)
        kill(i)
        stack = [put([x, y, p]), put([y, z, p]), put([z, x, p])]
        while stack:
            i = stack.pop()
            t = T[i]
            if t is None:
                continue
            u0, v0, _ = t  # the edge opposite p is (u0, v0): p was put last
            j = opp.get((v0, u0))
            if j is None:
                continue
            tj = T[j]
            assert tj is not None
            d = next(r for r in tj if r != u0 and r != v0)
            if _in_circle(pts[u0], pts[v0], pts[p], pts[d]):
                kill(i)
                kill(j)
                stack += [put([u0, d, p]), put([d, v0, p])]
    out = [(t[0], t[2], t[1]) if flip else (t[0], t[1], t[2]) for t in T if t is not None]
    return out, done


def cut_embedding(
    emb: EmbeddedSurface,
    old_rest: np.ndarray,
    old_x: np.ndarray,
    old_ids: np.ndarray,
    split: np.ndarray,
    old_side: np.ndarray,
    region: np.ndarray,
    body: SoftBody,
    side: np.ndarray,
    final_parent: np.ndarray,
    point: np.ndarray,
    normal: np.ndarray,
    pieces: tuple[np.ndarray, np.ndarray] | None = None,
    blade_end: np.ndarray | None = None,
    reach: float = np.inf,
    level: np.ndarray | None = None,
) -> EmbeddedSurface:
    """``emb`` (bound to the body before a cut, whose stored tets had corners ``old_rest`` at rest
    and ``old_x`` now, (m, 4, 3), and ids ``old_ids``) rebound to the cut ``body`` with the cut
    faces added.

    The surface opens only where the tissue separates: within the separation radius
    (:func:`_separation_radius`: ``reach`` plus the largest centroid-to-corner distance of a
    ``region`` tet) of the blade from ``point`` to ``blade_end`` (``point`` if None). Every loop
    of crossing triangles with a point there is clipped by the plane (``point``, ``normal``),
    each side getting its own copy of the points on the plane (with ``level``, per old tet corner
    (m, 4), the corners' signed distances from the plane with the vertices the cut snapped onto
    it at 0, a surface vertex inside its tet takes the side of that level's linear interpolant,
    whose zero set is the face along which the tissue actually separates, and an edge between
    two vertices that the plane itself does not separate that way is cut where the level
    crosses 0: a surface lying on its tissue then never keeps a part on the side its tissue
    did not go to; an outline point on an edge whose ends both lie inside their tets goes where
    the level crosses 0, the tissue's own cut); a loop separated all round is
    closed on both sides by a cap built from the tissue's own cut faces
    (:func:`_separated_faces`): exactly those faces where the outline is theirs, else those
    inside the outline joined to it by an earcut collar, else earcut over the outline with their
    vertices inserted (:func:`_insert_points`), a ring that crosses or touches itself in the
    plane split into simple ones first (:func:`_untangle`), else a fan (holes by nesting); the
    organ's own boundary faces the cut grazes (all corners snapped onto it) are not cut faces and
    keep their tissue's side; each cap vertex
    taken from the tissue is embedded at its mesh vertex, so the cap lies on the tissue. A loop the crack
    front crosses is capped only over its separated part: the cap runs along the separated
    points and, across each held stretch of the outline, along the crack front
    (:func:`_front`); over the held part the two sides' copies are joined by a seam of zero
    width along the held outline and the front, so the surface stays closed and in one piece
    beyond the crack front and shows the tissue's inside where the cut opens. The default
    ``reach`` (infinite) opens every crossing loop.

    Embedding: vertices in ``split`` tets (old stored order), vertices on the other side of their
    region tet than ``old_side`` (a snapped cut) and the new points are embedded again, at rest,
    in the sub-tets of their own tets' parents (``final_parent``: the old tet of each tet of the
    cut ``body``) on their side (``side``: +1 / -1, the side of the plane a subdivided or region
    tet lies on, 0 either); a loop's centre point (see :func:`_cap`), and a point no such search
    finds (its tets' side of the cut holds no tissue near it), in the nearest tet at rest of its
    piece (``pieces`` = piece labels before the cut per old tet and per cut body tet) on its side,
    or of either side where that is more than a quarter of the median tet edge away and at
    least four times farther than the nearest of either side (there the point lies on tissue
    that went to the other side). A point at a vertex the cut snapped onto counts as on the cut
    face (its level's rounding noise does not pick its side). The rest keep their tet (by id)
    and barycentric coordinates. A component left on the tissue of
    two pieces (a later cut that frees the tissue on the two sides of an earlier slit's seam) is
    opened between them and each side capped (:func:`_split_across_pieces`). Last, every
    connected component of the result is embedded in one piece of the cut body
    (:func:`_one_piece_per_component`), so
    no triangle joins two pieces and each piece's surface stays closed when they separate; a
    component lying whole on a piece it does not cover goes to the one it covers
    (:func:`_strays_to_their_piece`), and a piece no surface reaches gets its tets' boundary
    (:func:`_cover_bare_pieces`), so every piece is drawn over its own tissue."""
    n0 = emb.bary.shape[0]
    # the faces along which the tissue came apart, and those of its surface the cut grazed
    sf, sf_tet, sf_side, g_faces, g_side = _separated_faces(body, side, final_parent, old_rest, level)
    p_rest = np.einsum("ik,ikj->ij", emb.bary, old_rest[emb.tet_index])
    p_now = np.einsum("ik,ikj->ij", emb.bary, old_x[emb.tet_index])
    dx = (p_now - point) @ normal  # from the plane itself
    if level is None:
        d = d_raw = dx
        sv = np.where(d >= 0.0, 1, -1)
    else:
        # the tissue's own cut face, not the exact plane: the zero set of the snapped distances'
        # linear interpolant (see cut_body), so every surface point takes the side of the tissue
        # it lies on (a grazing surface over a snapped vertex otherwise got a cap and a side of
        # its own whose tissue had gone to the other side, 13.5 mm from any on the liver); a
        # vertex outside its tet keeps the plane (the level extrapolated out of one tet is not
        # its neighbours' and breaks the outline into spurious loops)
        d = np.where(emb.bary.min(axis=1) >= -1e-6, np.einsum("ik,ik->i", emb.bary, level[emb.tet_index]), dx)
        # a point at a vertex the cut snapped onto (one-hot coordinates whose zeros are +-1e-17,
        # as a cap point of an earlier cut at its mesh vertex is) is on the cut face: its level
        # is rounding noise, and its sign put it on the side its tet's tissue did not go to
        # (random liver sequence 1003: a point embedded 19 mm off its piece's tissue)
        d = np.where(np.abs(d) <= 1e-9 * max(float(np.abs(level).max(initial=0.0)), 1e-300), 0.0, d)
        corner = level[emb.tet_index]
        # on the cut face itself: the side of its tet's tissue if that tet lies on one side
        # (a snapped corner of a tet whose other corners are all on one side), else the plane's
        tie = np.where(
            (corner.max(axis=1) <= 0.0) & (corner.min(axis=1) < 0.0),
            -1,
            np.where((dx >= 0.0) | (corner.min(axis=1) >= 0.0), 1, -1),
        )
        # a point at a corner of the organ's own surface the cut grazes (a boundary face all of
        # whose corners it snapped onto its plane): the side of that face's tissue, so the face
        # stays whole with it and the outline runs along its edges, the cut faces' own outline
        # (random liver sequence 1046, tets' boundary: its mirror on the other side lay over
        # tissue that side does not have, and a later cut put points on it 15.3 mm off)
        if g_faces.size:
            gv = body.rest_points[g_faces.ravel()]
            near = np.linalg.norm(p_rest[:, None] - gv[None], axis=2)
            hit = (d == 0.0) & (near.min(axis=1, initial=np.inf) <= 1e-9 * max(float(np.ptp(old_rest)), 1e-300))
            tie = np.where(hit, np.repeat(g_side, 3)[near.argmin(axis=1)], tie)
        sv = np.where(d > 0.0, 1, np.where(d < 0.0, -1, tie))
        # a point exactly on the cut face (a surface vertex at a snapped mesh vertex) is put its
        # distance from the plane into its side: a level of 0 would put the points where its
        # edges cross onto it, and the repeated outline points made earcut fail (a fan instead,
        # whose spokes leave a non-convex section: 37 mm off on the liver)
        d_raw = d.copy()
        d = np.where(d == 0.0, tie * np.maximum(np.abs(dx), 1e-12), d)
    tri = emb.triangles
    st = sv[tri]
    straddle = np.flatnonzero((st > 0).any(axis=1) & (st < 0).any(axis=1))
    # loops of crossing triangles (joined through their crossing edges): clip the loops that
    # reach the region whole, so the outline closes
    key_tris: dict[tuple[int, int], list[int]] = {}
    for f in straddle:
        for u, w in ((0, 1), (1, 2), (2, 0)):
            a, b = int(tri[f, u]), int(tri[f, w])
            if sv[a] != sv[b]:
                key_tris.setdefault((min(a, b), max(a, b)), []).append(int(f))
    root = {int(f): int(f) for f in straddle}

    def find(f: int) -> int:
        while root[f] != f:
            root[f] = root[root[f]]
            f = root[f]
        return f

    for fs in key_tris.values():
        for g in fs[1:]:
            root[find(g)] = find(fs[0])
    # where the tissue comes apart on the plane: within `radius` of the blade (a bound on the
    # separated faces, see _separation_radius); the outline opens only there
    radius = _separation_radius(old_x, region, reach)
    sep: dict[tuple[int, int], bool] = {}
    if key_tris:
        kk = np.array(list(key_tris), dtype=np.int64)
        hi_v = np.where(sv[kk[:, 0]] > 0, kk[:, 0], kk[:, 1])
        lo_v = np.where(sv[kk[:, 0]] > 0, kk[:, 1], kk[:, 0])
        # an edge the plane itself crosses the same way is cut where the plane crosses it (as
        # the outline was before the level: moving its points along edges that graze the plane
        # folds the outline, and earcut then gives way to a fan); the level decides the rest
        exact = (dx[hi_v] >= 0.0) & (dx[lo_v] < 0.0)
        num = np.where(exact, dx[hi_v], d[hi_v])
        den = np.where(exact, dx[hi_v] - dx[lo_v], d[hi_v] - d[lo_v])
        tk = np.where(den > 0.0, num / np.where(den > 0.0, den, 1.0), 0.5)[:, None]
        crossing_pts = p_now[hi_v] + tk * (p_now[lo_v] - p_now[hi_v])
        near = segment_point_distance(point, point if blade_end is None else blade_end, crossing_pts) <= radius
        sep = {key: bool(f) for key, f in zip(key_tris, near.tolist(), strict=True)}
    hit = {find(fs[0]) for key, fs in key_tris.items() if sep[key]}
    clip = np.array([f for f in straddle if find(int(f)) in hit], dtype=np.int64)
    # new vertices: each plane point (a crossing edge) twice, one copy per side
    copy: dict[tuple[tuple[int, int], int], int] = {}
    new_rest: list[np.ndarray] = []
    new_locate: list[np.ndarray] = []
    new_now: list[np.ndarray] = []
    new_side: list[int] = []
    new_ends: list[tuple[int, int]] = []  # the surface edge of each new point ((-1, -1): a loop centre)

    # vertices inside their tets (where the level, not the plane, decides their side)
    on_tissue = emb.bary.min(axis=1) >= -1e-6 if level is not None else np.zeros(n0, dtype=bool)
    flat_at: dict[int, np.ndarray] = {}  # an outline point's position for laying out the caps

    def plane_point(a: int, b: int, s: int) -> int:
        key = (min(a, b), max(a, b))
        if (key, s) not in copy:
            hi, lo = (a, b) if sv[a] > 0 else (b, a)
            t_level = d[hi] / (d[hi] - d[lo]) if d[hi] > d[lo] else 0.5  # both on the cut face: either
            t = dx[hi] / (dx[hi] - dx[lo]) if dx[hi] >= 0.0 > dx[lo] else t_level
            if d_raw[hi] >= 0.0 >= d_raw[lo] and d_raw[hi] > d_raw[lo]:  # the tissue's own, a snapped end at 0
                t_level = d_raw[hi] / (d_raw[hi] - d_raw[lo])
            elif d_raw[hi] == 0.0 == d_raw[lo]:  # an edge on the tissue's cut face: its end on this side
                t_level = 0.0
            # the outline is laid out for the cap where the plane crosses the edge (see the
            # crossing points above), but the point itself goes where the tissue separates (the
            # level) when both ends lie on the tissue: an edge of an earlier cap at a shallow
            # angle to this plane crosses the plane up to offset / sin(angle) from the tissue's
            # cut face (seed 1009 of the random liver sequences: 12 mm)
            t3 = t_level if on_tissue[hi] and on_tissue[lo] else t
            # locate a hair into the side's half, so the tet found is on that side
            tl = t3 * (1.0 - 1e-3) if s > 0 else t3 + 1e-3 * (1.0 - t3)
            copy[(key, s)] = n0 + len(new_rest)
            flat_at[copy[(key, s)]] = p_now[hi] + t * (p_now[lo] - p_now[hi])
            new_rest.append(p_rest[hi] + t3 * (p_rest[lo] - p_rest[hi]))
            new_locate.append(p_rest[hi] + tl * (p_rest[lo] - p_rest[hi]))
            new_now.append(p_now[hi] + t3 * (p_now[lo] - p_now[hi]))
            new_side.append(s)
            new_ends.append((hi, lo))
        return copy[(key, s)]

    keep = np.ones(tri.shape[0], dtype=bool)
    keep[clip] = False
    faces: list[tuple[int, int, int]] = []
    nxt: dict[tuple[int, int], tuple[int, int]] = {}  # the + side's outline, edge key -> next edge key
    for f in clip:
        v = [int(i) for i in tri[f]]
        signs = [int(sv[i]) for i in v]
        r = next(k for k in range(3) if signs.count(signs[k]) == 1)  # the lone vertex
        L, A, B = v[r], v[(r + 1) % 3], v[(r + 2) % 3]
        s1 = signs[r]
        pa1, pb1 = plane_point(L, A, s1), plane_point(L, B, s1)
        pa2, pb2 = plane_point(L, A, -s1), plane_point(L, B, -s1)
        faces += [(L, pa1, pb1), (pa2, A, B), (pa2, B, pb2)]
        ka, kb = (min(L, A), max(L, A)), (min(L, B), max(L, B))
        if s1 > 0:  # on the + side the outline runs pa -> pb (lone side) or pb -> pa (pair side)
            nxt[ka] = kb
        else:
            nxt[kb] = ka
    loops = _loops(nxt)
    # the old tets the plane touches (a point on it lies in one of them), as points + tets for locate
    corner_d = (old_x - point) @ normal
    on_plane = np.flatnonzero((corner_d.min(axis=1) <= 0.0) & (corner_d.max(axis=1) >= 0.0))
    if on_plane.size == 0:  # the surface crosses the plane where no tet does: the nearest of all
        on_plane = np.arange(old_x.shape[0])
    plane_corners = np.ascontiguousarray(old_x[on_plane].reshape(-1, 3))
    corner_tets = np.arange(on_plane.size * 4, dtype=np.int64).reshape(-1, 4)
    if loops:
        e1 = np.cross(normal, [1.0, 0.0, 0.0] if abs(normal[0]) < 0.9 else [0.0, 1.0, 0.0])
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(normal, e1)
        basis = np.stack([e1, e2], axis=1)

        def cp(q: tuple[int, int], sd: int) -> int:
            return copy[(q, sd)]

        def flat_of(keys: list[tuple[int, int]]) -> np.ndarray:
            return np.array([flat_at[cp(q, 1)] for q in keys]).reshape(-1, 3) @ basis

        # the tissue's own cut faces (the faces the separation left on the boundary): their
        # vertices become the caps' interior points, on each side at that side's mesh vertex, so
        # a cap lies on its tissue wherever the tissue reaches the surface's outline (snapping
        # moves the tissue's cut up to 0.15 of an edge off the plane; a flat cap did not follow)
        cut_pts: dict[int, list[tuple[int, int, int, int]]] = {}  # piece -> (v+, tet+, v-, tet-)
        plus_faces: dict[int, list[tuple[int, int, int]]] = {}  # piece -> the + side's cut faces
        margin = 0.0
        if sf.size:
            piece_new = pieces[1] if pieces is not None else np.zeros(body.n_tets, dtype=np.int64)
            tet_of: dict[int, dict[int, int]] = {1: {}, -1: {}}  # per side: vertex -> a tet of its face
            for fv, ft, fs in zip(sf.tolist(), sf_tet.tolist(), sf_side.tolist(), strict=True):
                for cv in fv:
                    tet_of[fs].setdefault(cv, ft)
            # each + vertex's - copy: the one at the same rest position (a crack-front vertex is
            # not copied: it is its own)
            minus_at = {body.rest_points[cv].tobytes(): cv for cv in tet_of[-1]}
            for cv, ct in tet_of[1].items():
                cw = minus_at.get(body.rest_points[cv].tobytes())
                if cw is not None:
                    cut_pts.setdefault(int(piece_new[ct]), []).append((cv, ct, cw, tet_of[-1][cw]))
            for fv, ft, fs in zip(sf.tolist(), sf_tet.tolist(), sf_side.tolist(), strict=True):
                if fs > 0:
                    plus_faces.setdefault(int(piece_new[ft]), []).append((fv[0], fv[1], fv[2]))
            fq = body.rest_points[sf]
            # a cut point nearer the outline than a quarter of the cut faces' median edge is left
            # out (the cap's triangles there join the outline to the points beyond: no sliver)
            margin = 0.25 * float(np.median(np.linalg.norm(fq - np.roll(fq, 1, axis=1), axis=2)))

        def fixed_point(v: int, t: int, sd: int) -> int:
            """A cap point at mesh vertex ``v`` of the cut body, embedded at its corner of tet ``t``."""
            new_rest.append(body.rest_points[v].copy())
            new_locate.append(body.rest_points[v].copy())
            new_now.append(body.x[v].copy())
            new_side.append(sd)
            new_ends.append((-3, 4 * t + int(np.flatnonzero(body.tets[t] == v)[0])))  # -3: a mesh vertex
            return n0 + len(new_rest) - 1

        def emit(tris: list[tuple[int, int, int]], ids: dict[int, list[int]]) -> None:
            """The + cap's triangles ``tris`` (indices into ``ids[side]``) and the - cap's, reversed."""
            for i, j, m in tris:
                faces.append((ids[1][i], ids[1][j], ids[1][m]))
                faces.append((ids[-1][i], ids[-1][m], ids[-1][j]))

        def faces_cap(flat: list[np.ndarray], ids: dict[int, list[int]], piece: int, ok: np.ndarray) -> bool:
            """Cap the rings ``flat`` with the tissue's own cut faces of ``piece`` whose corners
            are all ``ok`` (inside the rings, clear of them) and a collar between the rings and
            those faces' outline (earcut, the faces' outlines as holes); False (nothing added)
            where that cannot be done exactly (the faces fold over in the plane, their outline
            touches itself, earcut cannot cover the collar)."""
            cands = cut_pts[piece]
            at = {c[0]: k for k, c in enumerate(cands) if ok[k]}
            fs = [fv for fv in plus_faces.get(piece, []) if all(v in at for v in fv)]
            if not fs:
                return False
            nv = np.int64(body.n_vertices)
            for _ in range(8):  # drop the faces at a vertex where their outline touches itself
                fa = np.array(fs, dtype=np.int64).reshape(-1, 3)
                half = np.concatenate([fa[:, [0, 1]], fa[:, [1, 2]], fa[:, [2, 0]]])
                twin = np.isin(half[:, 1] * nv + half[:, 0], half[:, 0] * nv + half[:, 1])
                out_deg = np.bincount(half[~twin][:, 0], minlength=int(nv))
                if not fs or out_deg.max(initial=0) <= 1:
                    break
                fs = [fv for fv in fs if not any(out_deg[v] > 1 for v in fv)]
            if not fs or out_deg.max(initial=0) > 1:
                return False
            q2 = body.x[fa] @ basis  # (k, 3, 2)
            e, g = q2[:, 1] - q2[:, 0], q2[:, 2] - q2[:, 0]
            ar = e[:, 0] * g[:, 1] - e[:, 1] * g[:, 0]
            if not ((ar > 0.0).all() or (ar < 0.0).all()):
                return False
            rims = _simple_cycles(half[~twin])
            rim_v = [v for lp in rims for v in lp]
            if len(rim_v) != int((~twin).sum()) or len(set(rim_v)) != len(rim_v):
                return False
            rings = flat + [body.x[lp] @ basis for lp in rims]
            tris, centres = _cap(rings)
            if centres or not tris:
                return False
            total = sum(len(r) for r in flat)
            inner = sorted(set(fa.ravel().tolist()) - set(rim_v))
            order = rim_v + inner
            pos = {v: total + k for k, v in enumerate(order)}
            pts = np.concatenate([*rings, (body.x[inner] @ basis).reshape(-1, 2)])
            ct = np.array(tris, dtype=np.int64)
            e, g = pts[ct[:, 1]] - pts[ct[:, 0]], pts[ct[:, 2]] - pts[ct[:, 0]]
            collar = float((e[:, 0] * g[:, 1] - e[:, 1] * g[:, 0]).sum())
            flip = (collar > 0.0) != (ar[0] > 0.0)  # the faces wound as the collar is
            tris += [(pos[a], pos[c], pos[b]) if flip else (pos[a], pos[b], pos[c]) for a, b, c in fs]
            for v in order:
                _, t, w, tw = cands[at[v]]
                ids[1].append(fixed_point(v, t, 1))
                ids[-1].append(fixed_point(w, tw, -1))
            emit(tris, ids)
            return True

        def exact_cap(lens: list[int], ids: dict[int, list[int]], piece: int) -> bool:
            """Cap with the tissue's own cut faces of ``piece`` alone where their outline is the
            surface's (each outline point of ``ids`` at a vertex of their outline, every such
            vertex taken: a surface lying on its tissue, such as the tets' own boundary; an
            excursion of the outline along a surface edge on the cut face and back, to a vertex
            inside the faces, is closed by zero-area triangles (:func:`_drop_spikes`), and a
            vertex where the faces' outline touches itself is passed once per pass); False
            (nothing added) otherwise."""
            fs = plus_faces.get(piece, [])
            cands = cut_pts.get(piece, [])
            if not fs or not cands:
                return False
            fa = np.array(fs, dtype=np.int64)
            half = np.concatenate([fa[:, [0, 1]], fa[:, [1, 2]], fa[:, [2, 0]]])
            nv = np.int64(body.n_vertices)
            rim = half[~np.isin(half[:, 1] * nv + half[:, 0], half[:, 0] * nv + half[:, 1])]
            ring = np.array([new_rest[i - n0] for i in ids[1]])
            rim_v = np.unique(rim)
            tol = 1e-6 * max(margin, 1e-12)
            # every outline point at a vertex of the faces (their outline's, or a spike's tip
            # inside them), else this cannot apply (a surface off its tissue: at once)
            at_face = body.rest_points[np.unique(fa)]
            if np.linalg.norm(ring[:, None] - at_face[None], axis=2).min(axis=1).max() > tol:
                return False
            # runs of outline points at one place (where the surface's edges leave a vertex the
            # cut snapped onto: each gives a point there), each run taken as one rim vertex
            runs: list[list[int]] = []
            spikes: list[tuple[int, int, int]] = []  # zero-area triangles closing the spikes
            offsets = np.cumsum([0] + list(lens))
            for o, n in zip(offsets[:-1].tolist(), lens, strict=True):
                same = np.linalg.norm(ring[o : o + n] - np.roll(ring[o : o + n], 1, axis=0), axis=1) <= tol
                if same.all():
                    return False
                k0 = int(np.flatnonzero(~same)[0])
                ring_runs: list[list[int]] = []
                for q in range(n):
                    i = (k0 + q) % n
                    if same[i] and ring_runs:
                        ring_runs[-1].append(o + i)
                    else:
                        ring_runs.append([o + i])
                spikes += _drop_spikes(ring_runs, ring, body.rest_points[rim_v], tol)
                runs += ring_runs
            # each run at a vertex of the faces' outline; a vertex where that outline touches
            # itself (two rim edges in, two out) is visited once per pass (random liver sequence
            # 1046, where the cut grazes the organ's surface): its first run stands for it in
            # the faces, the others are joined to it by zero-area triangles below
            if rim.shape[0] != len(runs) or rim_v.size > len(runs):
                return False
            rep = np.array([r[0] for r in runs])
            gap = np.linalg.norm(ring[rep][:, None] - body.rest_points[rim_v][None], axis=2)
            vid = gap.argmin(axis=1)
            if gap[np.arange(len(runs)), vid].max() > tol or np.unique(vid).size != rim_v.size:
                return False
            at: dict[int, int] = {}
            for k in range(len(runs)):
                at.setdefault(int(rim_v[vid[k]]), int(rep[k]))
            # the next run along each ring
            ring_of = np.searchsorted(offsets, rep, side="right") - 1
            nxt_run = [
                k + 1
                if k + 1 < len(runs) and ring_of[k + 1] == ring_of[k]
                else int(np.flatnonzero(ring_of == ring_of[k])[0])
                for k in range(len(runs))
            ]
            succ = {runs[k][0]: runs[nk][0] for k, nk in enumerate(nxt_run)}
            # the rim's edges are the outline's, all one way (the + cap runs against the outline:
            # flip the faces if they run with it)
            walk = sorted((int(rim_v[vid[k]]), int(rim_v[vid[nk]])) for k, nk in enumerate(nxt_run))
            rim_e = sorted((int(u), int(w)) for u, w in rim.tolist())
            if walk != rim_e and walk != sorted((w, u) for u, w in rim_e):
                return False
            flip = walk == rim_e
            joins: list[tuple[int, int, int]] = []  # a later pass's run joined to the first
            for k, nk in enumerate(nxt_run):
                u, w = int(rep[k]), int(rep[nk])
                pu, pw = at[int(rim_v[vid[k]])], at[int(rim_v[vid[nk]])]
                if u != pu:
                    joins.append((w, u, pu))
                if w != pw:
                    joins.append((w, pu, pw))
            m = len(ids[1])
            inner = sorted(set(fa.ravel().tolist()) - set(rim_v.tolist()))
            idx = {**at, **{v: m + k for k, v in enumerate(inner)}}
            tris = [(idx[a], idx[c], idx[b]) if flip else (idx[a], idx[b], idx[c]) for a, b, c in fs]
            # a run's other points: zero-area triangles to the next run's point close the outline
            for r in runs:
                b = succ[r[0]]
                tris += [(b, r[j + 1], r[j]) for j in range(len(r) - 1)]
            tris += spikes + joins
            look = {c[0]: c for c in cands}
            for v in inner:
                if v not in look:
                    return False
            for v in inner:
                _, t, w, tw = look[v]
                ids[1].append(fixed_point(v, t, 1))
                ids[-1].append(fixed_point(w, tw, -1))
            emit(tris, ids)
            return True

        def add_caps(flat: list[np.ndarray], ids: dict[int, list[int]], piece: int) -> None:
            """Cap the rings ``flat`` (2D, + outline order) whose vertices are ``ids[side]``
            (concatenated), over the tissue of old ``piece``: the + cap against the rings' order,
            the - cap along it, so each closes its side's outline. The cap is the tissue's own
            cut faces inside the rings (farther than ``margin`` from them) joined to the rings by
            a collar (:func:`faces_cap`), so it lies on the tissue and a later cut crosses it
            where it crosses the tissue; where that cannot be done exactly, earcut over the rings
            with the tissue's cut points inserted (:func:`_insert_points`), rings that cross or
            touch themselves split into simple ones first (:func:`_untangle`); a fan where even
            that fails."""
            if exact_cap([len(f) for f in flat], ids, piece):
                return
            cands = cut_pts.get(piece, [])
            ok = np.zeros(len(cands), dtype=bool)
            in_ring: list[np.ndarray] = []
            q2 = np.zeros((0, 2))
            if cands:
                q2 = body.x[[c[0] for c in cands]] @ basis
                inside = np.zeros(len(cands), dtype=bool)
                far = np.ones(len(cands), dtype=bool)
                in_ring = [_points_in_polygon(q2, ring) for ring in flat]
                for ring, within in zip(flat, in_ring, strict=True):
                    inside ^= within
                    a, ab = ring, np.roll(ring, -1, axis=0) - ring
                    t = ((q2[:, None] - a[None]) * ab[None]).sum(axis=2) / np.maximum((ab * ab).sum(axis=1), 1e-300)
                    near = a[None] + np.clip(t, 0.0, 1.0)[:, :, None] * ab[None]
                    far &= np.linalg.norm(near - q2[:, None], axis=2).min(axis=1) > margin
                ok = inside & far
                if ok.any() and faces_cap(flat, ids, piece, ok):
                    return
            tris, centres = _cap(flat, True)
            offsets = np.cumsum([0] + [len(f) for f in flat])
            total = int(offsets[-1])
            split: list[tuple[int, int, float]] = []
            split_2d = np.zeros((0, 2))
            if centres:  # a ring that crosses or touches itself: split into simple ones
                untangled = _untangle(flat)
                if untangled is not None:
                    tris, split, split_2d = untangled
                    centres = []
                    for ea, eb, es in split:  # the new points on the outline's edges, both sides
                        for sd in (1, -1):
                            ia, ib = ids[sd][ea] - n0, ids[sd][eb] - n0
                            ids[sd].append(n0 + len(new_rest))
                            new_rest.append(new_rest[ia] + es * (new_rest[ib] - new_rest[ia]))
                            new_locate.append(new_locate[ia] + es * (new_locate[ib] - new_locate[ia]))
                            new_now.append(new_now[ia] + es * (new_now[ib] - new_now[ia]))
                            new_side.append(sd)
                            new_ends.append((-1, new_ends[ia][1] if new_ends[ia][0] < 0 else new_ends[ia][0]))
            first = total + len(split)
            if ok.any() and not centres and tris:
                use = np.flatnonzero(ok)
                pts = np.concatenate([*flat, split_2d, q2[use]])
                tris, done = _insert_points(pts, tris, first, 1e-9 * margin)
                slot = {p: first + k for k, p in enumerate(done)}  # the inserted points, renumbered
                tris = [(slot.get(a, a), slot.get(b, b), slot.get(c, c)) for a, b, c in tris]
                for p in done:
                    v, t, w, tw = cands[int(use[p - first])]
                    ids[1].append(fixed_point(v, t, 1))
                    ids[-1].append(fixed_point(w, tw, -1))
            for r in centres:  # a centre point per fanned ring and side, at the ring's mean
                # or at the tissue's cut vertex inside the ring nearest its mean (on the tissue)
                mine = np.flatnonzero(ok & in_ring[r]) if cands else np.zeros(0, dtype=np.int64)
                if mine.size:
                    k = int(mine[np.argmin(np.linalg.norm(q2[mine] - flat[r].mean(axis=0), axis=1))])
                    v, t, w, tw = cands[k]
                    ids[1].append(fixed_point(v, t, 1))
                    ids[-1].append(fixed_point(w, tw, -1))
                    continue
                for sd in (1, -1):
                    members = [ids[sd][int(offsets[r]) + q] - n0 for q in range(len(flat[r]))]
                    ids[sd].append(n0 + len(new_rest))
                    new_rest.append(np.mean([new_rest[q] for q in members], axis=0))
                    new_locate.append(np.mean([new_locate[q] for q in members], axis=0))
                    new_now.append(np.mean([new_now[q] for q in members], axis=0))
                    new_side.append(sd)
                    new_ends.append((-1, new_ends[members[0]][0]))
            emit(tris, ids)

        for lp in loops:  # a held stretch of one or two points opens: the cap would join its ends
            flags = [sep[q] for q in lp]  # by the outline's own edge
            if all(flags) or not any(flags):
                continue
            k0 = next(k for k in range(len(lp)) if flags[k - 1] and not flags[k])
            lp = lp[k0:] + lp[:k0]
            k = 0
            while k < len(lp):
                j = k
                while j < len(lp) and not sep[lp[j]]:
                    j += 1
                if 0 < j - k < 3:
                    sep.update({q: True for q in lp[k:j]})
                k = j + 1
        # cap each piece the body was already in on its own: the faces of an earlier cut lie on
        # each other, so loops of two pieces can touch without one bounding the other
        piece_of = pieces[0] if pieces is not None else np.zeros(len(old_ids), dtype=np.int64)
        whole = [lp for lp in loops if all(sep[q] for q in lp)]
        loop_piece = [int(piece_of[emb.tet_index[lp[0][0]]]) for lp in whole]
        for g in sorted(set(loop_piece)):
            group = [lp for lp, h in zip(whole, loop_piece, strict=True) if h == g]
            keys = [q for lp in group for q in lp]
            add_caps([flat_of(lp) for lp in group], {1: [cp(q, 1) for q in keys], -1: [cp(q, -1) for q in keys]}, g)
        # a loop the crack front crosses: the cap covers only where the tissue separates, bounded
        # by the runs of separated points and, across each held stretch of the outline, the crack
        # front (from the stretch's first point to its last). The held stretch and its front
        # bound the uncut part of the section: there the two sides are not capped but joined by
        # a seam of zero width along the held outline and the front (each pair of copies is
        # embedded on its side of held tissue, so they move together), so the surface stays
        # closed, and in one piece beyond the crack front
        a2 = point @ basis
        b2 = (point if blade_end is None else blade_end) @ basis
        # front points half the largest centroid-to-corner distance of a region tet apart
        spacing = max((radius - reach) / 2.0 if np.isfinite(radius) else 0.0, 1e-6)
        seams: list[tuple[int, int, int, int]] = []  # (u+, v+, u-, v-): edges joined by the seam
        for lp in loops:
            flags = [sep[q] for q in lp]
            if all(flags) or not any(flags):
                continue
            k0 = next(k for k in range(len(lp)) if flags[k - 1] and not flags[k])
            lp = lp[k0:] + lp[:k0]  # starts where a held stretch begins, ends separated
            ring = flat_of(lp)
            poly: list[np.ndarray] = []
            ids: dict[int, list[int]] = {1: [], -1: []}
            k = 0
            while k < len(lp):
                if sep[lp[k]]:
                    poly.append(ring[k])
                    for sd in (1, -1):
                        ids[sd].append(cp(lp[k], sd))
                    k += 1
                    continue
                j = k
                while not sep[lp[j]]:
                    j += 1
                held = lp[k:j]  # its ends stay on the outline, the front runs between them
                front = _front(ring[k:j], a2, b2, radius, spacing, ring) if j - 1 > k else []
                front_ids: dict[int, list[int]] = {1: [], -1: []}
                for f2 in front:
                    x3 = point + (f2 - a2) @ basis.T  # on the plane, at the current positions
                    ti, bb = np.empty(1, dtype=np.int64), np.empty((1, 4))
                    EK.locate(x3[None], plane_corners, corner_tets, ti, bb)
                    r3 = bb[0] @ old_rest[on_plane[ti[0]]]
                    for sd in (1, -1):
                        front_ids[sd].append(n0 + len(new_rest))
                        new_rest.append(r3)
                        new_locate.append(r3)
                        new_now.append(x3)
                        new_side.append(sd)
                        new_ends.append((-2, new_ends[cp(lp[k], 1) - n0][0]))  # -2: a front point
                poly += [ring[k], *front] + ([ring[j - 1]] if j - 1 > k else [])
                for sd in (1, -1):
                    ids[sd] += [cp(lp[k], sd), *front_ids[sd]] + ([cp(lp[j - 1], sd)] if j - 1 > k else [])
                if j - 1 > k:  # the held region's outline: the held stretch, then the front back
                    chain = {sd: [cp(q, sd) for q in held] + front_ids[sd][::-1] for sd in (1, -1)}
                    m = len(chain[1])
                    seams += [
                        (chain[1][i], chain[1][(i + 1) % m], chain[-1][i], chain[-1][(i + 1) % m]) for i in range(m)
                    ]
                k = j
            add_caps([np.array(poly)], ids, int(piece_of[emb.tet_index[lp[0][0]]]))
        if seams:
            directed = {(f[u], f[(u + 1) % 3]) for f in faces for u in range(3)}
            for up, vp, um, vm in seams:  # run each + edge against its use on the + side
                if (up, vp) in directed:
                    faces += [(vp, up, um), (vp, um, vm)]
                else:
                    faces += [(up, vp, vm), (up, vm, um)]
    n_new = len(new_rest)
    # embed: unmoved vertices keep their tet (by id), the rest are located on their side
    where = np.full(int(max(old_ids.max(), body.tet_index.max())) + 1, -1, dtype=np.int64)
    where[body.tet_index] = np.arange(body.n_tets)
    tet_index = np.concatenate([where[old_ids[emb.tet_index]], np.zeros(n_new, dtype=np.int64)])
    bary = np.concatenate([emb.bary, np.zeros((n_new, 4))])
    rest_pts = np.concatenate([p_rest, np.array(new_rest).reshape(-1, 3)])
    loc_pts = np.concatenate([p_rest, np.array(new_locate).reshape(-1, 3)])
    vside = np.concatenate([sv, np.array(new_side, dtype=np.int64)])
    # relocated: vertices in subdivided tets, vertices on the wrong side of their (snapped) region
    # tet, and the new points; each among the sub-tets of its own tets' parents on its side
    t0 = emb.tet_index
    relocate = np.concatenate([split[t0] | ((old_side[t0] != 0) & (old_side[t0] != sv)), np.ones(n_new, dtype=bool)])
    ends = np.array(new_ends, dtype=np.int64).reshape(-1, 2)
    ends_all = np.concatenate([np.zeros(n0, dtype=np.int64), ends[:, 0]])  # -3: a cap point at a mesh vertex
    old_piece = pieces[0] if pieces is not None else np.zeros(len(old_ids), dtype=np.int64)
    new_piece = pieces[1] if pieces is not None else np.zeros(body.n_tets, dtype=np.int64)
    # tets around each vertex id (vertex ids tell the lips of earlier cuts apart, which lie on
    # each other at rest), and the sub-tets of each old tet
    flat_tets = body.tets.ravel()
    inc = np.argsort(flat_tets, kind="stable")
    inc_start = np.searchsorted(flat_tets[inc], np.arange(body.n_vertices + 1))
    by_parent = np.argsort(final_parent, kind="stable")
    child_start = np.searchsorted(final_parent[by_parent], np.arange(len(old_ids) + 1))

    # the surface's own vertices first (seeds: the sub-tets of their tet, on their side if any),
    # then the new points (seed: the tet of their edge's end on their side), compiled
    own = np.flatnonzero(relocate[:n0])
    seed_lists = []
    for i in own.tolist():
        kids = by_parent[child_start[t0[i]] : child_start[t0[i] + 1]]
        on_side = kids[side[kids] != -vside[i]]
        seed_lists.append(on_side if on_side.size else kids)
    lost = _locate_near(own, seed_lists, loc_pts, rest_pts, body, inc, inc_start, side, vside, tet_index, bary)
    new_ids = n0 + np.arange(n_new)
    has_edge = ends[:, 0] >= 0
    end = np.where(vside[n0:] > 0, ends[:, 0], ends[:, 1])
    seed_lists = [tet_index[end[j] : end[j] + 1] for j in np.flatnonzero(has_edge).tolist()]
    lost2 = _locate_near(
        new_ids[has_edge], seed_lists, loc_pts, rest_pts, body, inc, inc_start, side, vside, tet_index, bary
    )
    # the crack front's points: the tet of their piece on their side they lie in (compiled)
    is_front = ends[:, 0] == -2
    near_plane = np.zeros(len(old_ids), dtype=bool)  # the cut body's tets from old tets the plane touches
    near_plane[on_plane] = True
    near_plane = near_plane[final_parent]
    fk = old_piece[t0[ends[is_front, 1]]] if is_front.any() else np.zeros(0, dtype=np.int64)
    for k, sd in {(int(k), int(sd)) for k, sd in zip(fk.tolist(), vside[n0:][is_front].tolist(), strict=True)}:
        sel = new_ids[is_front][(fk == k) & (vside[n0:][is_front] == sd)]
        cand = np.flatnonzero((side != -sd) & (new_piece == k) & near_plane)
        if cand.size == 0:
            cand = np.flatnonzero(new_piece == k)
        ti, bb = np.empty(sel.size, dtype=np.int64), np.empty((sel.size, 4))
        EK.locate(np.ascontiguousarray(loc_pts[sel]), body.rest_points, body.tets[cand], ti, bb)
        tet_index[sel] = cand[ti]
        bary[sel] = _bary(rest_pts[sel], body.rest_points[body.tets[cand[ti]]])
    # a loop's centre point, or a point no ring found: the nearest tet of its piece (below)
    # the caps' points at the tissue's cut vertices: at their corner of their tet (exactly)
    is_fixed = ends[:, 0] == -3
    fixed = new_ids[is_fixed]
    tet_index[fixed] = ends[is_fixed, 1] // 4
    bary[fixed] = np.eye(4)[ends[is_fixed, 1] % 4]
    rest_of = np.concatenate([lost, lost2, new_ids[~has_edge & ~is_front & ~is_fixed]])
    if rest_of.size:
        corner = body.rest_points[body.tets]
        pad = 0.25 * float(
            np.median(np.linalg.norm(corner[:, [0, 0, 0, 1, 1, 2]] - corner[:, [1, 2, 3, 2, 3, 3]], axis=2))
        )
        # the nearest tet at rest (Euclidean, compiled): the tet a point is least outside of in
        # barycentric terms favours large tets far away (a smooth-surface vertex 1.8 mm off the
        # tissue of one piece went to a tet 21 mm away in another: random liver sequence 1003)
        k_of = np.where(
            rest_of >= n0,
            old_piece[t0[ends[np.maximum(rest_of - n0, 0), 1]]],
            old_piece[t0[np.minimum(rest_of, n0 - 1)]],
        )
        for k, sd in {(int(k), int(sd)) for k, sd in zip(k_of.tolist(), vside[rest_of].tolist(), strict=True)}:
            sel = rest_of[(k_of == k) & (vside[rest_of] == sd)]
            cand = np.flatnonzero((side != -sd) & (new_piece == k))
            if cand.size == 0:
                cand = np.flatnonzero(new_piece == k)
            ti, dq = np.empty(sel.size, dtype=np.int64), np.empty(sel.size)
            EK.locate_nearest(np.ascontiguousarray(loc_pts[sel]), body.rest_points, body.tets, cand, ti, dq)
            # a point with tissue of its piece across the cut under it, and none of its own side
            # near (a surface outside its tets whose tet went to the other side: seed 1013's
            # vertices 0.5 mm off the - piece and 19 mm off the + one) lies on that tissue: it
            # goes there (its component is then opened between the pieces, _split_across_pieces)
            far = np.flatnonzero(dq > pad)
            if far.size:
                t2, d2 = np.empty(far.size, dtype=np.int64), np.empty(far.size)
                cand2 = np.flatnonzero(new_piece == k)
                EK.locate_nearest(np.ascontiguousarray(loc_pts[sel[far]]), body.rest_points, body.tets, cand2, t2, d2)
                better = 4.0 * d2 < dq[far]
                ti[far[better]] = t2[better]
            tet_index[sel] = ti
            bary[sel] = _bary(rest_pts[sel], body.rest_points[body.tets[ti]])
    triangles = np.concatenate([tri[keep], np.array(faces, dtype=np.int64).reshape(-1, 3)])
    _to_nearer_piece(np.flatnonzero(relocate & ~np.isin(ends_all, -3)), tet_index, bary, rest_pts, body, new_piece)
    target = np.full(tet_index.size, -1, dtype=np.int64)  # a piece that holds a component whole
    triangles, tet_index, bary, rest_pts, loc_pts, vside = _split_across_pieces(
        triangles, tet_index, bary, rest_pts, loc_pts, vside, body, new_piece, target
    )
    target = np.concatenate([target, np.full(tet_index.size - target.size, -1, dtype=np.int64)])
    _one_piece_per_component(triangles, tet_index, bary, rest_pts, loc_pts, vside, body, side, new_piece, target)
    triangles, tet_index, bary = _cover_bare_pieces(triangles, tet_index, bary, body)
    n = tet_index.size
    out = EmbeddedSurface(
        triangles=np.ascontiguousarray(triangles),
        tet_index=tet_index,
        bary=bary,
        positions=np.empty((n, 3)),
        normals=np.empty((n, 3)),
        outside_distance=np.maximum(0.0, -bary.min(axis=1)) * np.cbrt(body.rest_volume[tet_index] * 6.0),
    )
    EK.interpolate(body.x, body.tets, out.tet_index, out.bary, out.positions)
    EK.vertex_normals(out.positions, out.triangles, out.normals)
    return out


def _components_across_pieces(
    body: SoftBody, triangles: np.ndarray, tet_index: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[int]] | None:
    """The surface's connected components that lie on more than one piece of ``body``: per
    tet its piece ``label``, per surface vertex its component root ``comp``, whether a triangle
    ``used`` it and the piece ``vp`` its tet is in, and the roots of the components whose
    vertices are on two or more pieces. None when the body is in one piece."""
    roots = piece_roots(np.ascontiguousarray(body.tets, dtype=np.int64), body.n_vertices)
    label = np.unique(roots[body.tets[:, 0]], return_inverse=True)[1]
    if label.max() == 0:
        return None
    n = tet_index.size
    comp = piece_roots(np.ascontiguousarray(triangles[:, [0, 1, 2, 2]], dtype=np.int64), n)
    used = np.zeros(n, dtype=bool)
    used[triangles.ravel()] = True
    vp = label[tet_index]
    lo = np.full(n, label.max() + 1, dtype=np.int64)
    hi = np.full(n, -1, dtype=np.int64)
    np.minimum.at(lo, comp[used], vp[used])
    np.maximum.at(hi, comp[used], vp[used])
    return label, comp, used, vp, np.flatnonzero((hi >= 0) & (lo != hi)).tolist()


def _to_nearer_piece(
    verts: np.ndarray, tet_index: np.ndarray, bary: np.ndarray, rest_pts: np.ndarray, body: SoftBody, origin: np.ndarray
) -> int:
    """Embed each of the surface vertices ``verts`` (those the cut embedded again) lying farther
    than a quarter of the median tet edge from its tet at rest in the nearest tet of the piece
    of the cut ``body`` that holds it at least twice as near, among the pieces cut from its own
    (``origin``: per tet, its piece before the cut), in place into ``tet_index`` / ``bary``;
    returns the number moved.

    Why: the local re-embedding picks the tet a point is least outside of in barycentric terms
    among the tets around its old one on its side of the cut; a surface lying off its tissue
    over a part the cut left on the other side (a blade passing between a smooth surface and
    its tets, or two cuts meeting at a shallow angle) then follows tissue of the other piece:
    an 8 x 2 x 2 cm bar with its surface 3 mm outside, cut by a plane at 8.5 degrees, 30.3 mm
    off the freed wedge (11.9 mm with only :func:`cut_embedding`'s nearest-tet fallback);
    random liver sequence 1009 with the tets' boundary, cap points 2.6 mm from one piece and
    9.4 mm off the one they followed. A vertex moved here leaves its component on two pieces,
    which :func:`_split_across_pieces` then opens between them (or moves whole where one piece
    holds it all). Only pieces cut from the same piece: the two lips of an earlier cut lie on
    each other at rest, so a point of one is as near the other, whose tissue it must not
    follow."""
    if verts.size == 0:
        return 0
    roots = piece_roots(np.ascontiguousarray(body.tets, dtype=np.int64), body.n_vertices)
    label = np.unique(roots[body.tets[:, 0]], return_inverse=True)[1]
    if label.max() == 0:
        return 0
    corner = body.rest_points[body.tets]
    pad = 0.25 * float(np.median(np.linalg.norm(corner[:, [0, 0, 0, 1, 1, 2]] - corner[:, [1, 2, 3, 2, 3, 3]], axis=2)))
    dist = np.empty(verts.size)
    EK.tet_distance(np.ascontiguousarray(rest_pts[verts]), body.rest_points, body.tets, tet_index[verts], dist)
    far = dist > pad
    w, dw = verts[far], dist[far]
    if w.size == 0:
        return 0
    best_d, best_t = dw.copy(), tet_index[w].copy()
    own = origin[tet_index[w]]
    for piece in np.unique(label[np.isin(origin, own)]).tolist():
        cand = np.flatnonzero(label == piece)
        mine = np.flatnonzero((own == origin[cand[0]]) & (label[tet_index[w]] != piece))
        if mine.size == 0:
            continue
        t = np.empty(mine.size, dtype=np.int64)
        dq = np.empty(mine.size)
        EK.locate_nearest(np.ascontiguousarray(rest_pts[w[mine]]), body.rest_points, body.tets, cand, t, dq)
        better = (dq < best_d[mine]) & (2.0 * dq <= dw[mine])
        best_d[mine[better]], best_t[mine[better]] = dq[better], t[better]
    move = best_t != tet_index[w]
    tet_index[w[move]] = best_t[move]
    bary[w[move]] = _bary(rest_pts[w[move]], body.rest_points[body.tets[best_t[move]]])
    return int(move.sum())


def _split_across_pieces(
    triangles: np.ndarray,
    tet_index: np.ndarray,
    bary: np.ndarray,
    rest_pts: np.ndarray,
    loc_pts: np.ndarray,
    vside: np.ndarray,
    body: SoftBody,
    origin: np.ndarray,
    target: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Open every surface component whose vertices lie on tissue of two or more pieces of the
    cut ``body`` along the pieces' border, and close each side with a cap; returns the
    (triangles, tet_index, bary, rest_pts, loc_pts, vside) of the result (vertices added for
    fanned caps' centres are appended).

    Why: the zero-width seam that keeps a partial cut's surface closed beyond its crack front
    joins the two lips' copies of the surface; a later cut that frees the tissue between them
    (a wedge bounded by the earlier slit and the new cut) leaves one surface component on two
    pieces, joined through the seam and the new cut's cap across the slit. Embedding it whole in
    one piece (:func:`_one_piece_per_component`) makes the other piece's part follow the wrong
    tissue (75 mm off its own on the liver). A component is split only where that move would put
    a vertex more than a quarter of the median tet edge farther from the piece's tissue at rest
    than from the nearest tissue cut from the same pieces (``origin``: per tet of the cut body,
    its piece before the cut; a component on one piece with a few vertices embedded across the
    cut, which lie on both lips at rest, is left to that pass). In a split component, a vertex
    lying off its tet by more than a quarter of the median edge goes to the piece cut from its
    own that holds it at least four times nearer (the local
    re-embedding can put a point of one piece's surface in the other across the cut); then the
    triangles whose vertices lie on different pieces are removed (the seam's and the cap's
    across the slit), and each hole this leaves in a piece's part is closed by a
    cap over its outline (:func:`_cap`, earcut in the outline's best-fit plane at rest: the
    seam lies in the earlier cut's plane; a fan around the outline's mean where earcut cannot
    cover it), wound against the outline, so every piece's surface is closed and lies on its own
    tissue."""
    if triangles.shape[0] == 0:
        return triangles, tet_index, bary, rest_pts, loc_pts, vside
    spans = _components_across_pieces(body, triangles, tet_index)
    if spans is None:
        return triangles, tet_index, bary, rest_pts, loc_pts, vside
    label, comp, used, vp, across = spans
    n = tet_index.size
    corner = body.rest_points[body.tets]
    edge = float(np.median(np.linalg.norm(corner[:, [0, 0, 0, 1, 1, 2]] - corner[:, [1, 2, 3, 2, 3, 3]], axis=2)))
    split = np.zeros(n, dtype=bool)  # vertices of the components to split
    for r in across:
        verts = np.flatnonzero(used & (comp == r))
        fits = False
        kin = np.flatnonzero(np.isin(origin, np.unique(origin[tet_index[verts]])))
        held, count = np.unique(vp[verts], return_counts=True)
        for piece in held[np.argsort(-count, kind="stable")].tolist():  # the likeliest first
            other = verts[vp[verts] != piece]
            t = np.empty(other.size, dtype=np.int64)
            dq = np.empty(other.size)
            cand = np.flatnonzero(label == piece)
            EK.locate_nearest(np.ascontiguousarray(loc_pts[other]), body.rest_points, body.tets, cand, t, dq)
            # the whole component lies on this piece (each vertex within a quarter edge of it
            # beyond its distance from the nearest tissue its pieces were cut from): leave it to
            # the move. Within a median edge, as before, let the move put 65 vertices of the
            # smooth liver 10.8 mm off their piece while 2.6 mm from the other (random sequence
            # 1009, cuts 2 and 3 at 25 degrees)
            far = np.flatnonzero(dq > 0.25 * edge)
            if far.size:
                near = np.empty(far.size)
                t = np.empty(far.size, dtype=np.int64)
                EK.locate_nearest(np.ascontiguousarray(loc_pts[other[far]]), body.rest_points, body.tets, kin, t, near)
                if (dq[far] > near + 0.25 * edge).any():
                    continue
            fits = True
            target[verts] = piece
            break
        if not fits:
            split[verts] = True
    if not split.any():
        return triangles, tet_index, bary, rest_pts, loc_pts, vside
    # a vertex of a split component lying well off its tet (farther than a quarter of the median
    # edge at rest, like the strays of _strays_to_their_piece) goes to the piece that holds it at
    # least four times nearer: the local re-embedding may have put a point that lies on one piece
    # into another across the cut
    sv = np.flatnonzero(split & used)
    dist = np.empty(sv.size)
    EK.tet_distance(np.ascontiguousarray(rest_pts[sv]), body.rest_points, body.tets, tet_index[sv], dist)
    off = dist > 0.25 * edge
    for r in np.unique(comp[sv[off]]).tolist():
        mine = off & (comp[sv] == r)
        w, dw = sv[mine], dist[mine]
        best_d, best_t = dw.copy(), tet_index[w].copy()
        for piece in range(int(label.max()) + 1):
            t = np.empty(w.size, dtype=np.int64)
            dq = np.empty(w.size)
            cand = np.flatnonzero(label == piece)
            EK.locate_nearest(np.ascontiguousarray(rest_pts[w]), body.rest_points, body.tets, cand, t, dq)
            # only a piece cut from the vertex's own (the lips of an earlier cut lie on each other
            # at rest: a point of one lip is as near the other, whose tissue it must not follow)
            better = (dq < best_d) & (dq <= 0.25 * dw) & (origin[cand[0]] == origin[tet_index[w]])
            best_d[better], best_t[better] = dq[better], t[better]
        move = best_t != tet_index[w]
        tet_index[w[move]] = best_t[move]
        bary[w[move]] = _bary(rest_pts[w[move]], body.rest_points[body.tets[best_t[move]]])
    vp = label[tet_index]
    tp = vp[triangles]
    across = split[triangles[:, 0]] & (tp != tp[:, :1]).any(axis=1)
    kept = triangles[~across]
    # the holes' outlines: half-edges of kept triangles on split components without their twin
    half = np.concatenate([kept[:, [0, 1]], kept[:, [1, 2]], kept[:, [2, 0]]])
    half = half[split[half[:, 0]]]
    code = half[:, 0] * n + half[:, 1]
    twin = np.isin(half[:, 1] * n + half[:, 0], code)
    faces: list[tuple[int, int, int]] = []
    add_tet: list[int] = []
    add_bary: list[np.ndarray] = []
    add_rest: list[np.ndarray] = []
    add_side: list[int] = []
    # the surface's edges between outline points (a chord of a hole cap must not repeat one)
    on_rim = np.zeros(n, dtype=bool)
    on_rim[half[~twin].ravel()] = True
    edges = np.concatenate([kept[:, [0, 1]], kept[:, [1, 2]], kept[:, [2, 0]]])
    present = {(int(u), int(v)) for u, v in edges[on_rim[edges[:, 0]] & on_rim[edges[:, 1]]].tolist()}
    for lp in _simple_cycles(half[~twin]):
        ring = np.array(lp, dtype=np.int64)
        p = rest_pts[ring]
        centre = p.mean(axis=0)
        basis = np.linalg.svd(p - centre)[2][:2].T  # the outline's best-fit plane
        # its outline is made of the surface's own vertices: a run of them at one place closed by
        # zero-area triangles (see _cap) would repeat edges the surface already has
        tris, centres = _cap_rings([(p - centre) @ basis])
        m = ring.size
        if not centres and any(
            (int(ring[i]), int(ring[j])) in present for tr in tris for i, j in zip(tr, tr[1:] + tr[:1])
        ):
            # earcut's chord joins two outline points the surface already joins (an outline that
            # runs back along itself): a fan, whose only other edges go to its new centre, instead
            tris, centres = [((q + 1) % m, q, m) for q in range(m)], [0]
        ids = [*ring.tolist()]
        if centres:
            piece = int(vp[ring[0]])
            cand = np.flatnonzero(label == piece)
            t = np.empty(1, dtype=np.int64)
            dq = np.empty(1)
            EK.locate_nearest(np.ascontiguousarray(centre[None]), body.rest_points, body.tets, cand, t, dq)
            ids.append(n + len(add_tet))
            add_tet.append(int(t[0]))
            add_bary.append(_bary(centre[None], body.rest_points[body.tets[t]])[0])
            add_rest.append(centre)
            add_side.append(int(vside[ring[0]]))
        new_faces = [(ids[i], ids[j], ids[q]) for i, j, q in tris]
        present.update((f[u], f[(u + 1) % 3]) for f in new_faces for u in range(3))
        faces += new_faces
    k = len(add_tet)
    return (
        np.concatenate([kept, np.array(faces, dtype=np.int64).reshape(-1, 3)]),
        np.concatenate([tet_index, np.array(add_tet, dtype=np.int64)]),
        np.concatenate([bary, np.array(add_bary).reshape(k, 4)]),
        np.concatenate([rest_pts, np.array(add_rest).reshape(k, 3)]),
        np.concatenate([loc_pts, np.array(add_rest).reshape(k, 3)]),
        np.concatenate([vside, np.array(add_side, dtype=np.int64)]),
    )


def _simple_cycles(half: np.ndarray) -> list[list[int]]:
    """The directed edges ``half`` (k, 2) (the boundary half-edges of a surface with holes) as
    simple cycles of vertex ids: each edge is used once, a cycle that comes back to a vertex it
    already passed is cut there into its own loop (two holes touching at a vertex, where a
    successor map would keep one way out and lose the other), and chains that do not close are
    left out (they bound no cap)."""
    outs: dict[int, list[int]] = {}
    for u, v in half.tolist():
        outs.setdefault(int(u), []).append(int(v))
    cycles: list[list[int]] = []
    for start in list(outs):
        while outs.get(start):
            path, at = [start], {start: 0}
            while True:
                nxt = outs.get(path[-1])
                if not nxt:  # an open chain: nothing to close
                    break
                v = nxt.pop()
                if v in at:  # back at a vertex of the path: that stretch is a cycle
                    k = at[v]
                    if len(path) - k >= 3:
                        cycles.append(path[k:])
                    for q in path[k + 1 :]:
                        del at[q]
                    del path[k + 1 :]
                    if k == 0 and len(path) == 1:
                        break
                    continue
                at[v] = len(path)
                path.append(v)
    return cycles


def _cover_bare_pieces(
    triangles: np.ndarray, tet_index: np.ndarray, bary: np.ndarray, body: SoftBody
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cut surface with the boundary faces of every piece of ``body`` that no surface
    triangle lies on added as that piece's own surface (returns triangles, tet_index, bary).

    Why: a piece the render surface does not reach (a sliver of tets outside a surface lying
    inside them, a small piece whose surface component went to its neighbour) would otherwise
    be drawn with no surface at all. Its tets' boundary is a closed, outward-wound surface lying
    exactly on its tissue; each of its vertices is embedded at a corner of one of its tets
    (barycentric coordinates one-hot, so it follows that mesh vertex exactly), and later cuts clip
    it like any surface."""
    roots = piece_roots(np.ascontiguousarray(body.tets, dtype=np.int64), body.n_vertices)
    label = np.unique(roots[body.tets[:, 0]], return_inverse=True)[1]
    has = np.zeros(int(label.max()) + 1, dtype=bool)
    has[label[tet_index[np.unique(triangles)]]] = True
    if has.all():
        return triangles, tet_index, bary
    bare = np.flatnonzero(~has[label])
    faces = TetMesh(body.rest_points, body.tets[bare]).boundary_triangles()
    verts, local = np.unique(faces, return_inverse=True)
    # a tet of the piece at each of its boundary vertices, and the vertex's slot in it
    slot = np.flatnonzero(np.isin(body.tets[bare].ravel(), verts))
    owner = np.empty(body.n_vertices, dtype=np.int64)
    owner[body.tets[bare].ravel()[slot]] = slot
    at = owner[verts]
    b = np.zeros((verts.size, 4))
    b[np.arange(verts.size), at % 4] = 1.0
    n = tet_index.size
    return (
        np.concatenate([triangles, n + local.reshape(-1, 3)]),
        np.concatenate([tet_index, bare[at // 4]]),
        np.concatenate([bary, b]),
    )


def _one_piece_per_component(
    triangles: np.ndarray,
    tet_index: np.ndarray,
    bary: np.ndarray,
    rest_pts: np.ndarray,
    loc_pts: np.ndarray,
    vside: np.ndarray,
    body: SoftBody,
    side: np.ndarray,
    origin: np.ndarray,
    target: np.ndarray | None = None,
) -> int:
    """Embed every connected component of the cut surface in one piece of the cut ``body`` (in
    place into ``tet_index`` / ``bary``); returns the number of vertices moved. ``target`` (per
    vertex, -1 for none): a piece already found to hold the vertex's whole component
    (:func:`_split_across_pieces`), the only one then tried.

    Why: the local re-embedding above picks, per vertex, the tet it is least outside of among
    the tets around its seeds; where that choice is ambiguous it can land in another piece than
    the rest of its surface component: a surface lying outside its tets (its vertex is nearer a
    tet across the cut), a cut snapped onto a vertex (the vertex counts as on the plane, so the
    tets on either side touch the surface point), an earlier slit's crack front (the shared
    vertices of the hinge have tets of both lips around them). A triangle whose vertices follow
    two pieces would stretch across the opening and is dropped when the pieces separate (a hole).
    A closed surface clipped along the cut lies whole on one side of it, so each component
    belongs to one piece: the one it lies least outside of at rest (summed distance outside the
    nearest tet of that piece on the vertex's side, compiled brute-force search), and the
    component's vertices embedded in other pieces are re-embedded in that one (barycentric
    coordinates extrapolate exactly at rest, so nothing moves where the cut is made). Then the
    strays (:func:`_strays_to_their_piece`; ``origin``: the piece before this cut of each tet of
    the cut body); the count includes the vertices it moves."""
    if triangles.shape[0] == 0:
        return 0
    spans = _components_across_pieces(body, triangles, tet_index)
    if spans is None:
        return 0
    label, comp, used, vp, across = spans
    moved = 0
    size = np.cbrt(6.0 * body.rest_volume)
    for r in across:
        verts = np.flatnonzero(used & (comp == r))
        vs = np.where(vside[verts] > 0, 1, -1)
        best_cost, best_ti, best_piece = np.inf, verts, -1
        tried = np.unique(vp[verts])
        if target is not None and target[verts[0]] >= 0 and (target[verts] == target[verts[0]]).all():
            tried = target[verts[:1]]
        for piece in tried.tolist():
            # the vertices already in the piece keep the tet the local search gave them (searching
            # them again in every piece tried cost more than the rest of the cut where
            # _to_nearer_piece leaves large components on two pieces); the others are searched
            ti = tet_index[verts].copy()
            bb = bary[verts].copy()
            for sd in (1, -1):  # the piece's tets on the vertex's side of the cut (any if none)
                sel = np.flatnonzero((vs == sd) & (vp[verts] != piece))
                if sel.size == 0:
                    continue
                cand = np.flatnonzero((label == piece) & (side != -sd))
                if cand.size == 0:
                    cand = np.flatnonzero(label == piece)
                t = np.empty(sel.size, dtype=np.int64)
                b = np.empty((sel.size, 4))
                EK.locate(np.ascontiguousarray(loc_pts[verts[sel]]), body.rest_points, body.tets[cand], t, b)
                ti[sel], bb[sel] = cand[t], b
            cost = float((np.maximum(0.0, -bb.min(axis=1)) * size[ti]).sum())
            if cost < best_cost:
                best_cost, best_ti, best_piece = cost, ti, int(piece)
        if best_piece < 0:  # no piece's tets could be searched (all flat): leave the component
            continue
        move = vp[verts] != best_piece
        w = verts[move]
        tet_index[w] = best_ti[move]
        bary[w] = _bary(rest_pts[w], body.rest_points[body.tets[best_ti[move]]])
        moved += int(w.size)
    return moved + _strays_to_their_piece(
        tet_index, bary, rest_pts, loc_pts, vside, body, side, origin, label, comp, used
    )


def _strays_to_their_piece(
    tet_index: np.ndarray,
    bary: np.ndarray,
    rest_pts: np.ndarray,
    loc_pts: np.ndarray,
    vside: np.ndarray,
    body: SoftBody,
    side: np.ndarray,
    origin: np.ndarray,
    label: np.ndarray,
    comp: np.ndarray,
    used: np.ndarray,
) -> int:
    """Move every surface component embedded whole in a piece it does not lie on to the piece
    it does lie on (in place into ``tet_index`` / ``bary``); returns the number of vertices moved.

    Why: the local re-embedding can put every vertex of a small component (a lobe's tip cut off
    by two planes, on a coarse mesh with the surface outside its tets) in a sliver piece beside
    the tissue it covers, and the component then follows that sliver (88 mm from it on the
    liver). A vertex farther from its tet at rest than a quarter of the median edge (a surface on
    its piece lies within its offset from the tets plus the snapped cut faces' deviation from
    the plane, both less) marks its component; the component goes to the piece it is nearest
    (summed Euclidean distance at rest, compiled brute force,
    :func:`embedding_kernels.locate_nearest`), among the pieces cut from the same piece as its
    own (``origin``: the piece before this cut of each tet) on each vertex's side of the cut,
    if every vertex then lies within that distance or within a quarter of the component's
    farthest distance from its current piece (a move must bring its farthest vertex at least
    four times nearer); a piece left with no surface gets its tets' boundary
    (:func:`_cover_bare_pieces`)."""
    corner = body.rest_points[body.tets]
    pad = 0.25 * float(np.median(np.linalg.norm(corner[:, [0, 0, 0, 1, 1, 2]] - corner[:, [1, 2, 3, 2, 3, 3]], axis=2)))
    uv = np.flatnonzero(used)
    dist = np.zeros(tet_index.size)
    du = np.empty(uv.size)
    EK.tet_distance(np.ascontiguousarray(rest_pts[uv]), body.rest_points, body.tets, tet_index[uv], du)
    dist[uv] = du
    vp = label[tet_index]
    moved = 0
    n_comp = np.bincount(comp[uv], minlength=comp.size)
    n_far = np.bincount(comp[uv[du > pad]], minlength=comp.size)
    # a component with a few far vertices (cap points of a snapped cut) lies on its piece; a
    # stray has a good part of itself off it
    for r in np.flatnonzero(n_far >= 0.25 * n_comp.clip(1)).tolist():
        if n_far[r] == 0:
            continue
        verts = np.flatnonzero(used & (comp == r))
        if np.unique(vp[verts]).size != 1:  # across pieces still: the pass above could not decide
            continue
        vs = np.where(vside[verts] > 0, 1, -1)
        same_origin = np.isin(origin, np.unique(origin[tet_index[verts]]))
        best_cost, best_ti = float(dist[verts].sum()), None
        bound = max(pad, 0.25 * float(dist[verts].max()))
        far = verts[dist[verts] > pad]
        for piece in np.unique(label[same_origin]).tolist():
            if piece == vp[verts[0]]:
                continue
            # cheap test first: the piece must hold the far vertices within the bound
            cand = np.flatnonzero(label == piece)
            t = np.empty(far.size, dtype=np.int64)
            dq = np.empty(far.size)
            EK.locate_nearest(np.ascontiguousarray(loc_pts[far]), body.rest_points, body.tets, cand, t, dq)
            if dq.max() > bound:
                continue
            ti = np.empty(verts.size, dtype=np.int64)
            dd = np.empty(verts.size)
            for sd in (1, -1):
                sel = np.flatnonzero(vs == sd)
                if sel.size == 0:
                    continue
                cand = np.flatnonzero((label == piece) & (side != -sd))
                if cand.size == 0:
                    cand = np.flatnonzero(label == piece)
                t = np.empty(sel.size, dtype=np.int64)
                dq = np.empty(sel.size)
                EK.locate_nearest(np.ascontiguousarray(loc_pts[verts[sel]]), body.rest_points, body.tets, cand, t, dq)
                ti[sel], dd[sel] = t, dq
            if dd.max() <= bound and dd.sum() < best_cost:  # the component lies on this piece
                best_cost, best_ti = float(dd.sum()), ti
        if best_ti is not None:
            tet_index[verts] = best_ti
            bary[verts] = _bary(rest_pts[verts], body.rest_points[body.tets[best_ti]])
            moved += int(verts.size)
    return moved


def _locate_near(
    sel: np.ndarray,
    seed_lists: list[np.ndarray],
    loc_pts: np.ndarray,
    rest_pts: np.ndarray,
    body: SoftBody,
    inc: np.ndarray,
    inc_start: np.ndarray,
    side: np.ndarray,
    vside: np.ndarray,
    tet_index: np.ndarray,
    bary: np.ndarray,
) -> np.ndarray:
    """:func:`embedding_kernels.locate_near` for the surface vertices ``sel`` with their seed tets
    (in place into ``tet_index`` / ``bary``); returns the vertices no ring found."""
    if sel.size == 0:
        return sel
    seed_start = np.concatenate([[0], np.cumsum([len(q) for q in seed_lists])]).astype(np.int64)
    seeds = np.concatenate(seed_lists).astype(np.int64) if seed_lists else np.zeros(0, dtype=np.int64)
    ti = np.empty(sel.size, dtype=np.int64)
    bb = np.empty((sel.size, 4))
    EK.locate_near(
        np.ascontiguousarray(rest_pts[sel]),
        np.ascontiguousarray(loc_pts[sel]),
        body.rest_points,
        body.tets,
        inc,
        inc_start,
        seed_start,
        seeds,
        np.ascontiguousarray(side, dtype=np.int64),
        np.ascontiguousarray(vside[sel], dtype=np.int64),
        ti,
        bb,
    )
    found = ti >= 0
    tet_index[sel[found]] = ti[found]
    bary[sel[found]] = bb[found]
    return sel[~found]
