"""Cutting a :class:`~vrmed.components.cloth.ClothSheet` along a scissors' blade plane, and its
connected pieces.

:func:`cut_cloth` splits the triangles the blade plane crosses near the blades (new vertices
on the crossed edges, their rest (material) coordinates interpolated, so the cut is known in
the unstretched sheet), then duplicates the vertices along the cut so its two lips separate.
Nothing is deleted; the same sheet can be cut again, across earlier cuts too. A cut that
passes within :data:`JOIN_TOLERANCE` of the end of an earlier cut (:func:`crack_tips`) is
joined to it, as real blades slide into the slit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vrmed.components.cloth.sheet import ClothSheet
from vrmed.events import Event
from vrmed.geometry import segment_point_distance

#: A crossing closer than this fraction of its edge to an end is moved onto that end (the cut
#: then runs through the vertex): every triangle a cut creates has at least SNAP^2 = 4 % of the
#: rest area of the triangle it was cut from, and the cut line moves by at most SNAP x the edge.
SNAP = 0.2

#: How near (rest distance, m) an earlier cut's end may lie beside a new cut for the two to be
#: joined. Scissors closing next to the end of a slit do not leave a bridge of gauze: the lower
#: blade, which is as wide as the jaw (2 x 1.2 mm jaw radius of the 5 mm endoscissors,
#: ``ToolType("scissors")``), slides into the slit, and the cut continues from its end. So an end
#: within about one blade width (2 mm) of the new cut is joined; measured gaps a person leaves
#: between successive snips at the desktop: 0-1.1 mm (tests/test_desktop_pattern_cutting.py).
#: Well under the 3 mm reach of the blades and a 2.5 mm cell, so separate cuts stay separate.
JOIN_TOLERANCE = 0.002

#: The reach of a join cut, as a fraction of its length: it stops at its two ends.
JOIN_REACH = 0.1


@dataclass(frozen=True)
class ClothCut(Event):
    """Scissors closed on the cloth ``entity`` and cut it: ``segments`` are the new cut's
    pieces of line in rest (material) coordinates, each (x0, y0, z0, x1, y1, z1) in m;
    ``pieces`` how many connected pieces the sheet now has."""

    instrument: str
    entity: int
    segments: tuple[tuple[float, float, float, float, float, float], ...]
    pieces: int


@dataclass
class ClothCutResult:
    """What :func:`cut_cloth` did: ``segments`` (k, 2, 3) the cut's segments in rest
    coordinates (k = 0: the blades crossed nothing), ``src`` (V_new,) for every vertex the
    cut added the vertex it copies (a duplicate along the lips) or -1 (a new vertex on a
    crossed edge), ``split`` how many triangles were split, ``separated`` how many vertices
    were duplicated, ``min_area_fraction`` the smallest area of a new triangle over its
    parent's (1.0 when none split)."""

    segments: np.ndarray
    src: np.ndarray
    split: int
    separated: int
    min_area_fraction: float


def cut_cloth(
    sheet: ClothSheet,
    hinge: np.ndarray,
    tip: np.ndarray,
    normal: np.ndarray,
    cut_radius: float,
    join: float = JOIN_TOLERANCE,
) -> ClothCutResult:
    """Cut ``sheet`` where the blade plane crosses it within ``cut_radius`` (m) of the blade
    segment ``hinge`` -> ``tip``; the plane holds that segment and has normal ``normal`` (the
    tool's y axis). Crossed edges whose crossing lies within the reach get a new vertex (moved
    onto an end when within :data:`SNAP` of it), crossed triangles are split along the line,
    then every vertex on the cut is duplicated once per side so the lips come apart. The
    sheet is modified in place (vertices appended: existing vertex indices stay valid) and
    rebuilt; returns a :class:`ClothCutResult`.

    The end of an earlier cut (a :func:`crack_tips` vertex) that the new cut passes within
    ``join`` (m, rest distance; default :data:`JOIN_TOLERANCE`, 0 turns it off) without
    reaching it is joined to the new cut: a short cut from that tip to the nearest vertex of
    the new cut, in the plane through both and the sheet's normal at the tip (same snapping
    and area bound), as the lower blade of real scissors enters the slit and continues it.
    A cut with no earlier tip that near is exactly the cut without the join."""
    if not join >= 0:
        raise ValueError("cut_cloth: join must be >= 0")
    tips0 = crack_tips(sheet) if join > 0 else np.zeros(0, np.int64)
    res, on_cut = _cut(sheet, hinge, tip, normal, cut_radius)
    if not len(tips0) or not len(on_cut):
        return res
    parts = [res]
    near_tips = _tips_near_cut(sheet, tips0, res.segments, join)
    for t_vertex in near_tips.tolist():
        if t_vertex not in set(crack_tips(sheet).tolist()):  # an earlier join reached it
            continue
        rest_t = sheet.rest[t_vertex]
        p_vertex = int(on_cut[np.argmin(np.linalg.norm(sheet.rest[on_cut] - rest_t, axis=1))])
        if p_vertex == t_vertex:
            continue
        a, b = sheet.x[t_vertex], sheet.x[p_vertex]
        d = b - a
        length = float(np.linalg.norm(d))
        plane_n = np.cross(d, _vertex_normal(sheet, t_vertex))
        if not length > 0 or not float(np.linalg.norm(plane_n)) > 1e-12 * length:
            continue
        # a reach of a tenth of the join: the short cut stops at its two ends (no stub past them)
        parts.append(_cut(sheet, a, b, plane_n, JOIN_REACH * length)[0])
    if len(parts) == 1:
        return res
    return ClothCutResult(
        np.concatenate([r.segments for r in parts]),
        np.concatenate([r.src for r in parts]).astype(np.int64),
        sum(r.split for r in parts),
        sum(r.separated for r in parts),
        min(r.min_area_fraction for r in parts),
    )


def crack_tips(sheet: ClothSheet) -> np.ndarray:
    """The ends of the cuts inside ``sheet`` (vertex indices, sorted): a cut's lips are
    boundary edges whose rest-space twin (the same two rest points) is another boundary edge;
    where such a pair of lips meets at one shared vertex the slit ends (beyond it the gauze is
    whole). A slit that runs out through the sheet's border has no tip there (the border
    vertex is duplicated too)."""
    tris = sheet.triangles
    if not len(tris):
        return np.zeros(0, np.int64)
    e = np.sort(np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]]), axis=1)
    n = sheet.n_vertices
    uk, cnt = np.unique(e[:, 0] * n + e[:, 1], return_counts=True)
    bk = uk[cnt == 1]
    if not len(bk):
        return np.zeros(0, np.int64)
    ba, bb = bk // n, bk % n
    # rest identity of each vertex: the copies a cut makes share their rest coordinates exactly
    _, rid = np.unique(sheet.rest, axis=0, return_inverse=True)
    rid = rid.reshape(-1).astype(np.int64)
    m = int(rid.max()) + 1
    ra, rb = np.minimum(rid[ba], rid[bb]), np.maximum(rid[ba], rid[bb])
    rkey = ra * m + rb
    _, rinv, rcnt = np.unique(rkey, return_inverse=True, return_counts=True)
    crack = rcnt[rinv] >= 2
    if not crack.any():
        return np.zeros(0, np.int64)
    # a vertex at which two crack edges with the same rest pair meet: the lips' common end
    verts = np.concatenate([ba[crack], bb[crack]])
    keys = np.concatenate([rkey[crack], rkey[crack]])
    vk, vcnt = np.unique(verts * (m * m) + keys, return_counts=True)
    return np.unique(vk[vcnt >= 2] // (m * m)).astype(np.int64)


def _tips_near_cut(sheet: ClothSheet, tips0: np.ndarray, segments: np.ndarray, join: float) -> np.ndarray:
    """The earlier tips still tips after the cut (the cut did not pass through them) whose rest
    distance to the cut's segments is at most ``join``, nearest first."""
    dist = np.full(len(tips0), np.inf)
    for a, b in segments:
        dist = np.minimum(dist, segment_point_distance(a, b, sheet.rest[tips0]))
    ok = dist <= join
    if not ok.any():  # the usual snip: no earlier end near it (no second search of the mesh)
        return np.zeros(0, np.int64)
    cand, dist = tips0[ok], dist[ok]
    still = np.isin(cand, crack_tips(sheet))
    return cand[still][np.argsort(dist[still], kind="stable")]


def _vertex_normal(sheet: ClothSheet, v: int) -> np.ndarray:
    """The sheet's (area-weighted) normal at vertex ``v`` in world space."""
    fan = sheet.triangles[(sheet.triangles == v).any(axis=1)]
    p = sheet.x[fan]
    nrm = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]).sum(axis=0)
    return nrm / max(float(np.linalg.norm(nrm)), 1e-300)


def _cut(
    sheet: ClothSheet, hinge: np.ndarray, tip: np.ndarray, normal: np.ndarray, cut_radius: float
) -> tuple[ClothCutResult, np.ndarray]:
    """:func:`cut_cloth` without the join; also returns the vertices on the new cut edges."""
    hinge = np.asarray(hinge, float)
    tip = np.asarray(tip, float)
    nrm = np.asarray(normal, float)
    nn = float(np.linalg.norm(nrm))
    if not nn > 0 or not cut_radius > 0:
        raise ValueError("cut_cloth: need a non-zero normal and cut_radius > 0")
    nrm = nrm / nn
    x, tris = sheet.x, sheet.triangles
    n0 = len(x)
    s = (x - hinge) @ nrm
    # edges of the mesh: unique pairs, and each triangle's edge opposite each corner
    corner_edges = np.stack([tris[:, [1, 2]], tris[:, [2, 0]], tris[:, [0, 1]]], axis=1)  # (F, 3, 2)
    flat = np.sort(corner_edges.reshape(-1, 2), axis=1)
    ekey, e_of = np.unique(flat[:, 0] * n0 + flat[:, 1], return_inverse=True)
    ea, eb = ekey // n0, ekey % n0
    tri_edge = e_of.reshape(-1, 3)

    def crossings(sv: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cross = sv[ea] * sv[eb] < 0.0
        t = np.zeros(len(ea))
        t[cross] = sv[ea[cross]] / (sv[ea[cross]] - sv[eb[cross]])
        p = x[ea] + t[:, None] * (x[eb] - x[ea])
        near = np.zeros(len(ea), bool)
        near[cross] = segment_point_distance(hinge, tip, p[cross]) <= cut_radius
        return cross & near, t, p

    active, t, _ = crossings(s)
    # snap crossings near an edge end onto that end: the vertex lies on the cut
    snap_a = active & (t < SNAP)
    snap_b = active & (t > 1.0 - SNAP)
    on_line = np.zeros(n0, bool)
    on_line[ea[snap_a]] = True
    on_line[eb[snap_b]] = True
    s = s.copy()
    s[on_line] = 0.0
    on_line |= (s == 0.0) & (segment_point_distance(hinge, tip, x) <= cut_radius)
    active, t, _ = crossings(s)
    if not active.any() and not on_line.any():  # the blades cross nothing of this sheet
        return ClothCutResult(np.zeros((0, 2, 3)), np.zeros(0, np.int64), 0, 0, 1.0), np.zeros(0, np.int64)
    ids = np.flatnonzero(active)
    new_of_edge = np.full(len(ea), -1, np.int64)
    new_of_edge[ids] = n0 + np.arange(len(ids))
    # the new vertices on the crossed edges: state and rest coordinates interpolated
    tt = t[ids][:, None]
    a, b = ea[ids], eb[ids]

    def lerp(arr: np.ndarray) -> np.ndarray:
        return arr[a] + tt * (arr[b] - arr[a])

    sheet.x = np.concatenate([x, lerp(x)])
    sheet.rest = np.concatenate([sheet.rest, lerp(sheet.rest)])
    sheet.v = np.concatenate([sheet.v, lerp(sheet.v)])
    sheet.mark = np.concatenate([sheet.mark, sheet.mark[a] + t[ids] * (sheet.mark[b] - sheet.mark[a])])
    sheet.pinned = np.concatenate([sheet.pinned, sheet.pinned[a] & sheet.pinned[b]])
    sheet.external_force = np.concatenate([sheet.external_force, np.zeros((len(ids), 3))])
    s_all = np.concatenate([s, np.zeros(len(ids))])
    cut_point = np.concatenate([on_line, np.ones(len(ids), bool)])
    # split the crossed triangles
    rest = sheet.rest
    out: list[np.ndarray] = []
    keep = np.ones(len(tris), bool)
    min_frac = 1.0
    n_split = 0
    for f in np.flatnonzero((new_of_edge[tri_edge] >= 0).any(axis=1)).tolist():
        tri = tris[f]
        new = new_of_edge[tri_edge[f]]  # per corner: the new vertex on the opposite edge
        crossed = np.flatnonzero(new >= 0)
        parent = _area(rest, tri[None])[0]
        if len(crossed) == 2:
            # the corner both crossed edges meet at
            k = 3 - int(crossed.sum())  # the corner whose opposite edge is not crossed
            c, pa, pb = tri[k], tri[(k + 1) % 3], tri[(k + 2) % 3]
            p = new[(k + 2) % 3]  # on edge (c, pa): opposite corner pb
            q = new[(k + 1) % 3]  # on edge (c, pb): opposite corner pa
            opt1 = np.array([[c, p, q], [p, pa, pb], [p, pb, q]])
            opt2 = np.array([[c, p, q], [p, pa, q], [pa, pb, q]])
            a1, a2 = _area(rest, opt1), _area(rest, opt2)
            pieces, areas = (opt1, a1) if a1.min() >= a2.min() else (opt2, a2)
        else:
            k = int(crossed[0])
            c, pa, pb = tri[k], tri[(k + 1) % 3], tri[(k + 2) % 3]
            p = new[k]
            pieces = np.array([[pa, p, c], [p, pb, c]])
            areas = _area(rest, pieces)
        min_frac = min(min_frac, float(areas.min() / parent))
        out.append(pieces)
        keep[f] = False
        n_split += 1
    if out:
        tris = np.concatenate([tris[keep]] + out).astype(np.int64)
    # cut edges: between two cut points, with the triangles on either side on opposite sides
    side = _tri_side(s_all, tris)
    fe = np.stack([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]], axis=1).reshape(-1, 2)
    n1 = len(sheet.x)
    fkey = np.sort(fe, axis=1)
    k1 = fkey[:, 0] * n1 + fkey[:, 1]
    uk, inv, cnt = np.unique(k1, return_inverse=True, return_counts=True)
    on_cut = cut_point[fkey[:, 0]] & cut_point[fkey[:, 1]]
    face_side = np.repeat(side, 3)
    pos = np.zeros(len(uk), bool)
    neg = np.zeros(len(uk), bool)
    pos[inv[on_cut & (face_side > 0)]] = True
    neg[inv[on_cut & (face_side < 0)]] = True
    is_cut = pos & neg & (cnt == 2)
    cut_keys = uk[is_cut]
    segments = np.stack([rest[cut_keys // n1], rest[cut_keys % n1]], axis=1) if len(cut_keys) else np.zeros((0, 2, 3))
    # separate: around each vertex on a cut edge, triangles joined across non-cut edges share a copy
    tris, src = _separate(tris, n1, set(cut_keys.tolist()))
    if len(src):
        for name in ("x", "rest", "v", "mark", "pinned", "external_force"):
            arr = getattr(sheet, name)
            setattr(sheet, name, np.concatenate([arr, arr[src]]))
    sheet.triangles = np.ascontiguousarray(tris, dtype=np.int64)
    sheet.x = np.ascontiguousarray(sheet.x)
    sheet.rest = np.ascontiguousarray(sheet.rest)
    if sheet.hold_idx.size and len(src):  # a held vertex's copies stay held (both lips in the jaw)
        extra = n1 + np.flatnonzero(np.isin(src, sheet.hold_idx))
        order = np.argsort(sheet.hold_idx)
        pos_ = order[np.searchsorted(sheet.hold_idx[order], src[extra - n1])]
        sheet.hold_idx = np.concatenate([sheet.hold_idx, extra])
        for name in ("hold_owner", "hold_local", "hold_from", "hold_to"):
            arr = getattr(sheet, name)
            setattr(sheet, name, np.concatenate([arr, arr[pos_]]))
    sheet.rebuild()
    all_src = np.concatenate([np.full(len(ids), -1, np.int64), src]).astype(np.int64)
    cut_verts = np.unique(np.concatenate([cut_keys // n1, cut_keys % n1])).astype(np.int64)
    return ClothCutResult(segments, all_src, n_split, int(len(src)), min_frac), cut_verts


def _area(rest: np.ndarray, tris: np.ndarray) -> np.ndarray:
    p = rest[tris]
    return 0.5 * np.linalg.norm(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1)


def _tri_side(s: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """+1 / -1: the side of the blade plane a triangle lies on (by its vertex farthest from
    the plane; after the split none straddles it), 0 if it lies in the plane."""
    v = s[tris]
    far = v[np.arange(len(v)), np.argmax(np.abs(v), axis=1)]
    return np.sign(far).astype(np.int64)


def _separate(tris: np.ndarray, n: int, cut: set[int]) -> tuple[np.ndarray, np.ndarray]:
    """Duplicate the vertices along the ``cut`` edges (keys lo * n + hi): around each such
    vertex, the triangles connected across non-cut edges keep one vertex; each further group
    gets a copy. Returns the new triangles and, per added vertex, the vertex it copies."""
    if not cut:
        return tris, np.zeros(0, np.int64)
    tris = tris.copy()
    verts = sorted({k // n for k in cut} | {k % n for k in cut})
    vert_set = set(verts)
    fan: dict[int, list[int]] = {v: [] for v in verts}
    for f, tri in enumerate(tris.tolist()):
        for v in tri:
            if v in vert_set:
                fan[v].append(f)
    src: list[int] = []
    for v in verts:
        faces = fan[v]
        parent = {f: f for f in faces}

        def find(f: int, parent: dict[int, int] = parent) -> int:
            while parent[f] != f:
                parent[f] = parent[parent[f]]
                f = parent[f]
            return f

        by_edge: dict[int, int] = {}
        for f in faces:
            for u in tris[f].tolist():
                if u == v:
                    continue
                key = min(u, v) * n + max(u, v)
                if key in cut:
                    continue
                other = by_edge.get(key)
                if other is None:
                    by_edge[key] = f
                else:
                    ra, rb = find(f), find(other)
                    if ra != rb:
                        parent[max(ra, rb)] = min(ra, rb)
        groups: dict[int, list[int]] = {}
        for f in faces:
            groups.setdefault(find(f), []).append(f)
        for root in sorted(groups)[1:]:  # the group with the lowest triangle keeps v
            copy = n + len(src)
            src.append(v)
            for f in groups[root]:
                row = tris[f]
                row[row == v] = copy
    return tris, np.asarray(src, dtype=np.int64)


def cloth_pieces(sheet: ClothSheet) -> tuple[np.ndarray, np.ndarray, int]:
    """Connected pieces of the sheet (triangles sharing a vertex): ``(vertex_label (V,),
    triangle_label (F,), count)``, pieces numbered by their lowest vertex index."""
    n = sheet.n_vertices
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    for a, b, c in sheet.triangles.tolist():
        ra, rb, rc = find(a), find(b), find(c)
        r = min(ra, rb, rc)
        parent[ra] = parent[rb] = parent[rc] = r
    roots = np.array([find(i) for i in range(n)])
    uniq, label = np.unique(roots, return_inverse=True)
    return label.astype(np.int64), label[sheet.triangles[:, 0]].astype(np.int64), int(len(uniq))


def piece_rest_areas(sheet: ClothSheet) -> np.ndarray:
    """Rest (material) area of each connected piece (m^2), in :func:`cloth_pieces` order."""
    _, tri_label, count = cloth_pieces(sheet)
    return np.bincount(tri_label, weights=sheet.rest_area, minlength=count)
