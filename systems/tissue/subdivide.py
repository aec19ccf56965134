"""Element subdivision along a cut plane: tets crossed by the blade are split into sub-tets.

Each crossed tet is cut by the plane into two convex parts, which are tetrahedralized by the
standard cases (one vertex against three: a tet and a prism; two against two: two prisms; with
vertices on the plane: two tets, or a tet and a pyramid). Prisms and pyramids are split into
tets by the rule of Dompierre, Labbe, Vallet and Camarero (1999), "How to subdivide pyramids,
prisms and hexahedra into tetrahedra" (8th International Meshing Roundtable): every quad face
takes the diagonal from its smallest global vertex index, so two tets sharing a cut face split
it the same way and the result is conforming (no hanging nodes), whatever the neighbour's case.

Snapping (no slivers): an intersection closer than ``snap`` (as a fraction of the edge, along
the plane normal) to an edge end moves the cut onto that vertex instead (the vertex is treated
as lying on the plane; no vertex is moved). Every intersection point used then lies at an edge
parameter in [snap, 1 - snap], and each sub-tet's volume is its parent's times a polynomial of
those parameters that is linear in each (so its minimum is at a corner of that box):
:func:`min_volume_fraction` computes the exact bound over all cases and all vertex numberings,
which is snap^3 (0.0034 at the default snap 0.15) for the plane cut and snap^2 / 4 for the
transition tets below: :data:`MIN_VOLUME_FRACTION` is the smaller.
As a sub-tet lies inside its parent, its longest edge is no longer than the parent's, so its
shape quality V / l_max^3 is at least that fraction of its parent's too.

Locality and conformity: only the tets of the blade's region that the plane crosses are cut
along it (:func:`plane_split`); a tet outside the region that shares one of their cut edges
becomes a *transition tet*: it takes the cut points on its shared edges and nothing else (no
plane propagation), so a snip refines the mesh only next to the blade, not along its whole plane
through the body. A transition tet with split points on any subset of its edges is refined
conformingly (:func:`transition_tet`) with each face triangulated from the split points on its
edges by one rule (:func:`_face_triangles`; none: the face; one: two triangles; two: the corner
triangle and the remaining quad split along the diagonal from its smallest global vertex index,
the rule of Dompierre et al. that the plane-cut tets use for their quads, so the neighbour across
the face makes the same choice; three: four triangles), by the cheapest of three templates: all
the edges the plane crosses split, the plane cut's own cases (at most 6 tets); the split edges
all on one face, that face's triangles coned to the opposite vertex (2 or 3 tets); otherwise
every face triangle coned to one new interior (Steiner) point at the tet's centroid (up to 12
tets). The centroid lies strictly inside the convex tet, so every cone has positive volume; a
face triangle with area fraction ``a`` of its face gives a sub-tet of ``a / 4`` of the parent
coned to the centroid (a quarter of each height from each face) and ``a`` coned to the opposite
vertex. With split points in [snap, 1 - snap], the smallest face triangle is a corner triangle
of a face with two split edges, ``t1 t2 >= snap^2`` (the quad's triangles are
``t (1 - t') >= snap^2``, a single split gives ``t >= snap`` and the middle triangle of three
``>= snap (1 - snap)``), so a transition sub-tet keeps at least ``snap^2 / 4`` of its parent
(0.0056 at the default snap, above the plane cut's snap^3). Transition tets are never separated
(they lie outside the region); the faces between them and their neighbours are triangulated identically on both sides,
so the mesh has no hanging node. Only the region's tets are later separated
(:func:`vrmed.systems.tissue.cutting.split_tets`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

#: Default snap fraction: an intersection within 15 % of an edge (along the normal) of one of
#: its ends is moved onto that end (sub-tets keep at least 0.15^3 = 0.34 % of their parent's
#: volume; the cut face then stays within 0.15 of an edge's normal extent of the plane).
SNAP = 0.15

# the 6 edges of a tet as (i, j) local vertex pairs
_EDGES = np.array([(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)])

# Dompierre et al. 1999, table 2: the prism relabelling that brings vertex i to position 0
_PRISM_PERM = (
    (0, 1, 2, 3, 4, 5),
    (1, 2, 0, 4, 5, 3),
    (2, 0, 1, 5, 3, 4),
    (3, 5, 4, 0, 2, 1),
    (4, 3, 5, 1, 0, 2),
    (5, 4, 3, 2, 1, 0),
)


def _prism(bottom: tuple[int, int, int], top: tuple[int, int, int]) -> list[tuple[int, int, int, int]]:
    """Three tets of the prism bottom (0, 1, 2) / top (3, 4, 5), lateral edges i - i+3, with each
    quad face split along the diagonal from its smallest global index (Dompierre et al. 1999)."""
    v = bottom + top
    i = _PRISM_PERM[v.index(min(v))]
    w = [v[k] for k in i]
    if min(w[1], w[5]) < min(w[2], w[4]):
        return [(w[0], w[1], w[2], w[5]), (w[0], w[1], w[5], w[4]), (w[0], w[4], w[5], w[3])]
    return [(w[0], w[1], w[2], w[4]), (w[0], w[4], w[2], w[5]), (w[0], w[4], w[5], w[3])]


def _pyramid(quad: tuple[int, int, int, int], apex: int) -> list[tuple[int, int, int, int]]:
    """Two tets of the pyramid on the cyclic quad ``quad`` with ``apex``, split along the
    diagonal from the quad's smallest global index."""
    q0, q1, q2, q3 = quad
    if quad.index(min(quad)) in (0, 2):
        return [(q0, q1, q2, apex), (q0, q2, q3, apex)]
    return [(q1, q2, q3, apex), (q1, q3, q0, apex)]


def split_tet(
    v: tuple[int, ...], sign: tuple[int, ...], cut: dict[tuple[int, int], int]
) -> list[tuple[int, int, int, int]]:
    """The sub-tets of tet ``v`` (global vertex ids) whose vertices lie on sides ``sign``
    (+1, -1, 0 on the plane; at least one +1 and one -1), ``cut[(min, max)]`` being the id of the
    intersection point on each crossing edge. Orientation is not fixed here."""
    pos = [a for a, s in zip(v, sign, strict=True) if s > 0]
    neg = [a for a, s in zip(v, sign, strict=True) if s < 0]
    zero = [a for a, s in zip(v, sign, strict=True) if s == 0]

    def p(a: int, b: int) -> int:
        return cut[(a, b) if a < b else (b, a)]

    if len(pos) == 1 and len(neg) == 1:  # two vertices on the plane: one edge cut, two tets
        a, b = pos[0], neg[0]
        return [(a, p(a, b), zero[0], zero[1]), (b, p(a, b), zero[0], zero[1])]
    if len(zero) == 1:  # one vertex on the plane: a tet and a pyramid
        lone, pair = (pos, neg) if len(pos) == 1 else (neg, pos)
        L, (A, B), z = lone[0], pair, zero[0]
        pa, pb = p(L, A), p(L, B)
        return [(L, pa, pb, z), *_pyramid((pa, A, B, pb), z)]
    if len(pos) == 1 or len(neg) == 1:  # one vertex against three: a tet and a prism
        lone, trio = (pos, neg) if len(pos) == 1 else (neg, pos)
        L = lone[0]
        A, B, C = trio
        pa, pb, pc = p(L, A), p(L, B), p(L, C)
        return [(L, pa, pb, pc), *_prism((pa, pb, pc), (A, B, C))]
    (a, b), (c, d) = pos, neg  # two against two: two prisms
    pac, pad, pbc, pbd = p(a, c), p(a, d), p(b, c), p(b, d)
    return _prism((a, pac, pad), (b, pbc, pbd)) + _prism((c, pac, pbc), (d, pad, pbd))


def _face_triangles(face: tuple[int, int, int], cut: dict[tuple[int, int], int]) -> list[tuple[int, int, int]]:
    """The triangles of the face (A, B, C) (global ids) with the points ``cut[(min, max)]`` on its
    split edges, the same whichever tet it is seen from (see the module docstring)."""

    def p(a: int, b: int) -> int | None:
        return cut.get((a, b) if a < b else (b, a))

    A, B, C = face
    on = [(A, B, C), (B, C, A), (C, A, B)]  # each edge (u, w) with its opposite vertex z
    pts = [p(u, w) for u, w, _ in on]
    k = sum(q is not None for q in pts)
    if k == 0:
        return [face]
    if k == 1:
        i = next(i for i in range(3) if pts[i] is not None)
        (u, w, z), q = on[i], pts[i]
        assert q is not None
        return [(u, q, z), (q, w, z)]
    if k == 2:  # the corner both split edges meet at, and the quad left: diagonal from its smallest id
        i = next(i for i in range(3) if pts[i] is None)  # the unsplit edge (u, w) is the quad's side
        u, w, x = on[i]
        pu, pw = p(x, u), p(x, w)
        assert pu is not None and pw is not None
        quad = (pu, u, w, pw)  # cyclic
        q0, q1, q2, q3 = quad
        tris = [(x, pu, pw)]
        if quad.index(min(quad)) in (0, 2):
            return [*tris, (q0, q1, q2), (q0, q2, q3)]
        return [*tris, (q1, q2, q3), (q1, q3, q0)]
    pab, pbc, pca = pts
    assert pab is not None and pbc is not None and pca is not None
    return [(A, pab, pca), (pab, B, pbc), (pca, pbc, C), (pab, pbc, pca)]


def transition_tet(
    v: tuple[int, ...], sign: tuple[int, ...], cut: dict[tuple[int, int], int], centre: int
) -> list[tuple[int, int, int, int]]:
    """The sub-tets of the transition tet ``v`` (global vertex ids, on sides ``sign`` of the
    plane) whose edges carry the points ``cut[(min, max)]`` (any subset of its edges; the rest
    are left whole), by the cheapest template whose faces are triangulated as
    :func:`_face_triangles` does: every edge the plane crosses split, the plane cut's own cases
    (:func:`split_tet`, at most 6 tets); the split edges all on one face, that face's triangles
    coned to the opposite vertex (2 or 3 tets); otherwise every face's triangles coned to the
    interior point ``centre`` (the tet's centroid; up to 12 tets). Orientation is not fixed here."""
    edges = [(min(v[i], v[j]), max(v[i], v[j])) for i, j in _EDGES.tolist()]
    have = {e for e in edges if e in cut}
    crossing = {(min(v[i], v[j]), max(v[i], v[j])) for i, j in _EDGES.tolist() if sign[i] * sign[j] < 0}
    if have and have == crossing:
        return split_tet(v, sign, cut)
    for d in v:
        if all(d not in e for e in have):  # all split edges on the face opposite d: cone to d
            face = tuple(w for w in v if w != d)
            return [(a, b, c, d) for a, b, c in _face_triangles((face[0], face[1], face[2]), cut)]
    faces = ((v[1], v[2], v[3]), (v[0], v[2], v[3]), (v[0], v[1], v[3]), (v[0], v[1], v[2]))
    return [(a, b, c, centre) for f in faces for a, b, c in _face_triangles(f, cut)]


@dataclass
class PlaneSplit:
    """The result of :func:`plane_split` (vertices: the old ones keep their ids, intersection
    points are appended, then the transition tets' centroids; tets: the unsplit ones in their
    old order, then the sub-tets)."""

    tets: np.ndarray  # (m', 4) int64, positively oriented sub-tets (unsplit tets as they were)
    parent: np.ndarray  # (m',) old tet index of each tet
    split: np.ndarray  # (m,) bool: old tets that were subdivided (cut by the plane or transition)
    edge: np.ndarray  # (k, 2) the old edge (a, b) of each appended point
    t: np.ndarray  # (k,) its parameter: point = x[a] + t (x[b] - x[a])
    sign: np.ndarray  # (n + k + c,) side of the plane after snapping: +1, -1, 0 (on the plane)
    snapped: np.ndarray  # old vertex ids treated as lying on the plane
    # (m,) bool: the subdivided tets outside the region, refined only to conform (transition tets)
    transition: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    # (c, 4) the old vertices of each appended centroid (vertex n + k + i: their mean)
    centre: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), dtype=np.int64))
    # (n,) the signed distance of each old vertex the split was made by: (x - point) . normal,
    # or the ``level`` given (a cut continuing an earlier crack), before snapping
    level: np.ndarray = field(default_factory=lambda: np.zeros(0))


def plane_split(
    x: np.ndarray,
    rest: np.ndarray,
    tets: np.ndarray,
    region: np.ndarray,
    point: np.ndarray,
    normal: np.ndarray,
    snap: float = SNAP,
    level: np.ndarray | None = None,
) -> PlaneSplit:
    """Subdivide the tets of ``region`` (bool, per tet) crossed by the plane through ``point``
    with ``normal``, measured at the positions ``x`` (the deformed state, where the blade is:
    each tet maps affinely to its rest shape, so the cut is planar per tet at rest too), and
    refine the tets outside it that share one of their cut edges as transition tets, so the mesh
    stays conforming. ``rest`` only orients the sub-tets. See the module docstring for the cases,
    the snapping, the transition tets and the quality bound.

    ``level`` (n,), if given, replaces the plane's signed distance per vertex: the cut is the
    zero set of its linear interpolant in each tet (still planar per tet; the cases, snapping and
    volume bound are the same, as they depend only on the vertices' signs and the edge
    parameters). A cut continuing an earlier crack passes this with 0 on the crack's vertices
    (:func:`vrmed.systems.tissue.cutting.crack_level`)."""
    if not 0.0 <= snap < 0.5:
        raise ValueError(f"plane_split: snap must be in [0, 0.5), got {snap}")
    n = len(x)
    if level is None:
        d = (np.asarray(x, dtype=np.float64) - point) @ np.asarray(normal, dtype=np.float64)
    else:
        d = np.asarray(level, dtype=np.float64)
        if d.shape != (n,):
            raise ValueError(f"plane_split: level must be one value per vertex, shape ({n},); got {d.shape}")
    ea, eb = tets[:, _EDGES[:, 0]], tets[:, _EDGES[:, 1]]  # (m, 6)
    on = np.zeros(n, dtype=bool)
    region = np.asarray(region, dtype=bool)
    while True:
        s = np.where(on, 0, np.sign(d)).astype(np.int64)
        crossing = s[ea] * s[eb] < 0  # (m, 6)
        split = region & crossing.any(axis=1)  # only the region's crossed tets are cut by the plane
        cross = crossing & split[:, None]
        a, b = ea[cross], eb[cross]
        t = d[a] / (d[a] - d[b])
        near = np.concatenate([a[t < snap], b[t > 1.0 - snap]])
        near = near[~on[near]]
        if near.size == 0:
            break
        on[near] = True  # snapping removes crossings only: this ends
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    keys, first = np.unique(lo * n + hi, return_index=True)
    edge = np.stack([a[first], b[first]], axis=1)
    tt = t[first]
    cut = {(int(k // n), int(k % n)): n + i for i, k in enumerate(keys)}
    # transition tets: outside the cut set, with a cut edge (two ends on cut edges, then the check)
    touched = np.zeros(n, dtype=bool)
    touched[edge.ravel()] = True
    cand = np.flatnonzero(~split & (touched[tets].sum(axis=1) >= 2))
    ck = np.minimum(ea[cand], eb[cand]) * n + np.maximum(ea[cand], eb[cand])
    transition = np.zeros(len(tets), dtype=bool)
    transition[cand[np.isin(ck, keys).any(axis=1)]] = True
    subs: list[tuple[int, int, int, int]] = []
    parent: list[int] = []
    rows = np.flatnonzero(split)
    for e, v, sv in zip(rows.tolist(), tets[rows].tolist(), s[tets[rows]].tolist(), strict=True):
        children = split_tet(tuple(v), tuple(sv), cut)
        subs.extend(children)
        parent.extend([e] * len(children))
    trows = np.flatnonzero(transition)
    centred: list[int] = []  # the transition tets that needed a centroid
    for e, v, sv in zip(trows.tolist(), tets[trows].tolist(), s[tets[trows]].tolist(), strict=True):
        c = n + len(keys) + len(centred)
        children = transition_tet(tuple(v), tuple(sv), cut, c)
        if any(c in q for q in children):
            centred.append(e)
        subs.extend(children)
        parent.extend([e] * len(children))
    centre = tets[np.array(centred, dtype=np.int64)].reshape(-1, 4).astype(np.int64)
    new_rest = np.concatenate(
        [rest, rest[edge[:, 0]] + tt[:, None] * (rest[edge[:, 1]] - rest[edge[:, 0]]), rest[centre].mean(axis=1)]
    )
    sub = np.array(subs, dtype=np.int64).reshape(-1, 4)
    if sub.size:
        p = new_rest[sub]
        vol = np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), p[:, 3] - p[:, 0])
        flip = vol < 0
        sub[flip, 2], sub[flip, 3] = sub[flip, 3], sub[flip, 2].copy()
    subdivided = split | transition
    keep = np.flatnonzero(~subdivided)
    return PlaneSplit(
        tets=np.concatenate([tets[keep], sub]).astype(np.int64),
        parent=np.concatenate([keep, np.array(parent, dtype=np.int64)]),
        split=subdivided,
        edge=edge,
        t=tt,
        # a centroid's side: the side of the plane it lies on (it is never on a cut face)
        sign=np.concatenate([s, np.zeros(len(keys), dtype=np.int64), np.sign(d[centre].mean(axis=1)).astype(np.int64)]),
        snapped=np.flatnonzero(on),
        transition=transition,
        centre=centre,
        level=d,
    )


def min_volume_fraction(snap: float = SNAP) -> float:
    """Smallest sub-tet volume / parent volume :func:`split_tet` or :func:`transition_tet` can
    produce when every intersection lies at an edge parameter in [snap, 1 - snap] (exhaustive
    over the cases, the vertex numberings and the parameter box's corners, where the multilinear
    volume is least; a transition tet's split edges are any non-empty subset of the edges the
    plane crosses, since they are crossing edges shared with a cut tet)."""
    ref = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    worst = 1.0
    # the side patterns up to order (all numberings are tried below)
    for sign in sorted({tuple(sorted(p)) for p in itertools.product((-1, 0, 1), repeat=4) if 1 in p and -1 in p}):
        crossing = [(i, j) for i in range(4) for j in range(i + 1, 4) if sign[i] * sign[j] < 0]
        subsets = [tuple(q) for r in range(1, len(crossing) + 1) for q in itertools.combinations(crossing, r)]
        for order in itertools.permutations(range(4)):
            v = tuple(order)  # global ids: every numbering of the tet's vertices
            loc = {g: k for k, g in enumerate(v)}
            for pairs in subsets:
                cutting = len(pairs) == len(crossing)  # all crossing edges: also the plane cut's case
                for corner in itertools.product((snap, 1.0 - snap), repeat=len(pairs)):
                    pts = list(ref)
                    cut: dict[tuple[int, int], int] = {}
                    for (i, j), t in zip(pairs, corner, strict=True):
                        a, b = sorted((v[i], v[j]))
                        cut[(a, b)] = len(pts)
                        pts.append(ref[v.index(a)] + t * (ref[v.index(b)] - ref[v.index(a)]))
                    pts.append(ref.mean(axis=0))  # the transition tet's centroid
                    p = np.array(pts)
                    kids = transition_tet(v, tuple(sign[v.index(g)] for g in v), cut, len(pts) - 1)
                    if cutting:
                        kids += split_tet(v, tuple(sign[v.index(g)] for g in v), cut)
                    q = p[[[loc.get(g, g) if g < 4 else g for g in c] for c in kids]]
                    vol = np.abs(np.linalg.det(q[:, 1:] - q[:, :1])) / 6.0
                    worst = min(worst, float(vol.min()) / (1.0 / 6.0))
    return worst


#: :func:`min_volume_fraction` at :data:`SNAP` (checked in tests/test_tissue_cutting.py): the
#: plane cut's snap^3, below the transition tets' snap^2 / 4 for snap < 1/4.
MIN_VOLUME_FRACTION = min(SNAP**3, SNAP**2 / 4.0)
