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
which is :data:`MIN_VOLUME_FRACTION` = snap^3 (0.0034 at the default snap 0.15).
As a sub-tet lies inside its parent, its longest edge is no longer than the parent's, so its
shape quality V / l_max^3 is at least that fraction of its parent's too.

Conformity: a tet sharing a cut edge with a split tet must be split as well, so the split set is
closed over the plane's crossing edges (:func:`plane_split`): the blade's region seeds it and
the refinement spreads along the plane through the connected crossed tets; only the region's
tets are later separated (:func:`vrmed.systems.tissue.cutting.split_tets`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

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


@dataclass
class PlaneSplit:
    """The result of :func:`plane_split` (vertices: the old ones keep their ids, intersection
    points are appended; tets: the unsplit ones in their old order, then the sub-tets)."""

    tets: np.ndarray  # (m', 4) int64, positively oriented sub-tets (unsplit tets as they were)
    parent: np.ndarray  # (m',) old tet index of each tet
    split: np.ndarray  # (m,) bool: old tets that were subdivided
    edge: np.ndarray  # (k, 2) the old edge (a, b) of each appended point
    t: np.ndarray  # (k,) its parameter: point = x[a] + t (x[b] - x[a])
    sign: np.ndarray  # (n + k,) side of the plane after snapping: +1, -1, 0 (on the plane)
    snapped: np.ndarray  # old vertex ids treated as lying on the plane


def plane_split(
    x: np.ndarray,
    rest: np.ndarray,
    tets: np.ndarray,
    region: np.ndarray,
    point: np.ndarray,
    normal: np.ndarray,
    snap: float = SNAP,
) -> PlaneSplit:
    """Subdivide the tets of ``region`` (bool, per tet) crossed by the plane through ``point``
    with ``normal``, measured at the positions ``x`` (the deformed state, where the blade is:
    each tet maps affinely to its rest shape, so the cut is planar per tet at rest too), plus
    the tets that must be split with them to stay conforming. ``rest`` only orients the
    sub-tets. See the module docstring for the cases, the snapping and the quality bound."""
    if not 0.0 <= snap < 0.5:
        raise ValueError(f"plane_split: snap must be in [0, 0.5), got {snap}")
    n = len(x)
    d = (np.asarray(x, dtype=np.float64) - point) @ np.asarray(normal, dtype=np.float64)
    ea, eb = tets[:, _EDGES[:, 0]], tets[:, _EDGES[:, 1]]  # (m, 6)
    on = np.zeros(n, dtype=bool)
    while True:
        s = np.where(on, 0, np.sign(d)).astype(np.int64)
        crossing = s[ea] * s[eb] < 0  # (m, 6)
        crossed = crossing.any(axis=1)
        split = np.zeros(len(tets), dtype=bool)
        c = np.flatnonzero(crossed)  # only crossed tets can join (a few % of a body)
        split[c] = _closure(region[c], crossing[c], np.minimum(ea[c], eb[c]) * n + np.maximum(ea[c], eb[c]))
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
    subs: list[tuple[int, int, int, int]] = []
    parent: list[int] = []
    rows = np.flatnonzero(split)
    for e, v, sv in zip(rows.tolist(), tets[rows].tolist(), s[tets[rows]].tolist(), strict=True):
        children = split_tet(tuple(v), tuple(sv), cut)
        subs.extend(children)
        parent.extend([e] * len(children))
    new_rest = np.concatenate([rest, rest[edge[:, 0]] + tt[:, None] * (rest[edge[:, 1]] - rest[edge[:, 0]])])
    sub = np.array(subs, dtype=np.int64).reshape(-1, 4)
    if sub.size:
        p = new_rest[sub]
        vol = np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), p[:, 3] - p[:, 0])
        flip = vol < 0
        sub[flip, 2], sub[flip, 3] = sub[flip, 3], sub[flip, 2].copy()
    keep = np.flatnonzero(~split)
    return PlaneSplit(
        tets=np.concatenate([tets[keep], sub]).astype(np.int64),
        parent=np.concatenate([keep, np.array(parent, dtype=np.int64)]),
        split=split,
        edge=edge,
        t=tt,
        sign=np.concatenate([s, np.zeros(len(keys), dtype=np.int64)]),
        snapped=np.flatnonzero(on),
    )


def _closure(seed: np.ndarray, crossing: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Tets to split: ``seed`` plus every crossed tet sharing a cut edge with one, repeatedly
    (a tet whose edge gets a new point must be split too, or the mesh would not conform)."""
    split = seed.copy()
    while True:
        cut_keys = np.unique(keys[crossing & split[:, None]])
        grown = (crossing & np.isin(keys, cut_keys, kind="sort")).any(axis=1) | split
        if np.array_equal(grown, split):
            return split
        split = grown


def min_volume_fraction(snap: float = SNAP) -> float:
    """Smallest sub-tet volume / parent volume :func:`split_tet` can produce when every
    intersection lies at an edge parameter in [snap, 1 - snap] (exhaustive over the cases, the
    vertex numberings and the parameter box's corners, where the multilinear volume is least)."""
    ref = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    worst = 1.0
    # the side patterns up to order (all numberings are tried below)
    for sign in sorted({tuple(sorted(p)) for p in itertools.product((-1, 0, 1), repeat=4) if 1 in p and -1 in p}):
        for order in itertools.permutations(range(4)):
            v = tuple(order)  # global ids: every numbering of the tet's vertices
            pairs = [(i, j) for i in range(4) for j in range(i + 1, 4) if sign[i] * sign[j] < 0]
            for corner in itertools.product((snap, 1.0 - snap), repeat=len(pairs)):
                pts = list(ref)
                cut: dict[tuple[int, int], int] = {}
                for (i, j), t in zip(pairs, corner, strict=True):
                    a, b = sorted((v[i], v[j]))
                    cut[(a, b)] = len(pts)
                    pts.append(ref[v.index(a)] + t * (ref[v.index(b)] - ref[v.index(a)]))
                p = np.array(pts)
                loc = {g: k for k, g in enumerate(v)}
                for c in split_tet(v, tuple(sign[v.index(g)] for g in v), cut):
                    q = p[[loc.get(g, g) if g < 4 else g for g in c]]
                    vol = abs(np.linalg.det(q[1:] - q[0])) / 6.0
                    worst = min(worst, vol / (1.0 / 6.0))
    return worst


#: :func:`min_volume_fraction` at :data:`SNAP` (checked in tests/test_tissue_cutting.py).
MIN_VOLUME_FRACTION = SNAP**3
