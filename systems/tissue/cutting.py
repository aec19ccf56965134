"""Cutting that splits: separate a tet body along a cut instead of deleting the tets it crosses.

:func:`split_tets` duplicates every vertex whose whole star (all tets around it) lies in the cut
region and has tets on both sides of the blade: tets on the negative side take the copy, so the
faces between the two sides come apart, and vertices on the region's border (the crack front)
stay shared, so a partial cut opens like a slit and ends in a hinge. No tet is created, removed or
moved: none can be inverted or of zero volume, the total volume is unchanged, and repeated or
crossing cuts work the same way on the result. :func:`body_pieces` labels the connected pieces
and :func:`separate_pieces` turns them into separate bodies once a cut goes through.

The collision and drawn tissue surfaces follow by themselves (they are the body's boundary
faces, rebuilt when a body's arrays change), so the new faces on the cut appear at once.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numba import njit

from vrmed.components.tissue.softbody import EmbeddedSurface, SoftBody
from vrmed.mesh import MeshError, TetMesh
from vrmed.systems.tissue.ligament import LigamentPatch


def _carry_ligaments(body: SoftBody, new: SoftBody, src: np.ndarray) -> None:
    """Re-add ``body``'s ligament patches to ``new`` (vertex i <- old vertex src[i]).

    A spring whose vertex was duplicated by a cut goes to every copy with its compliance times
    the number of copies (springs in parallel), so the patch holds the cut tissue with the same
    total stiffness; springs on vertices ``new`` does not have are left out (another piece
    carries them)."""
    for c in body.constraints:
        if not isinstance(c, LigamentPatch):
            continue
        pos = np.full(body.n_vertices, -1, dtype=np.int64)
        pos[c.indices] = np.arange(c.indices.size)
        k = pos[src]
        keep = np.flatnonzero(k >= 0)
        if keep.size == 0:
            continue
        k = k[keep]
        copies = np.bincount(k, minlength=c.indices.size)
        new.add_constraint(
            LigamentPatch(
                indices=keep.astype(np.int64),
                anchors=np.ascontiguousarray(c.anchors[k]),
                compliance=np.ascontiguousarray(c.compliance[k] * copies[k]),
                force=np.zeros((keep.size, 3)),
            )
        )


def _rebuild(body: SoftBody, points: np.ndarray, tets: np.ndarray, src: np.ndarray, tet_ids: np.ndarray) -> SoftBody:
    """A body over (points, tets) in ``body``'s material and settings, state copied from ``body``'s
    vertices ``src`` (new vertex i <- old vertex src[i]); ``tet_ids`` = source-mesh ids of ``tets``."""
    new = SoftBody.from_mesh(
        TetMesh(points, tets),
        body.material,
        pins=np.flatnonzero(body.pinned[src]),
        velocity_damping=body.velocity_damping,
    )
    new.warm_start, new.soften_slivers = body.warm_start, body.soften_slivers
    new.tet_index = tet_ids[new.tet_index]
    new.x[:] = body.x[src]
    new.x_prev[:] = body.x_prev[src]
    new.v[:] = body.v[src]
    _carry_ligaments(body, new, src)
    return new


def split_tets(body: SoftBody, side: np.ndarray) -> np.ndarray:
    """Separate ``body`` in place along a cut; return, for each new vertex, the old vertex it came from.

    ``side`` (stored tet order, int): +1 / -1 for the tets of the cut region by the side of the
    blade they lie on, 0 for the rest. The body is rebuilt like ``cut_tets`` does (masses, rest
    matrices, slab partition; pins carried to both copies, external forces kept on the original,
    ligament patches carried to both copies at half the stiffness each, attachments, slides and
    other added constraints dropped: the instrument system re-attaches its grasps). Raises
    :class:`MeshError` if ``side`` does not fit the body.
    """
    side = np.asarray(side)
    m, n = body.n_tets, body.n_vertices
    if side.shape != (m,) or not np.all(np.isin(side, (-1, 0, 1))):
        raise MeshError(f"split_tets: side must be (n_tets,) = ({m},) of -1, 0, +1; got shape {side.shape}")
    tets = body.tets
    star_in_region = np.ones(n, dtype=bool)
    np.logical_and.at(star_in_region, tets.ravel(), np.repeat(side != 0, 4))
    plus = np.zeros(n, dtype=bool)
    minus = np.zeros(n, dtype=bool)
    plus[np.unique(tets[side > 0])] = True
    minus[np.unique(tets[side < 0])] = True
    dup = np.flatnonzero(star_in_region & plus & minus)
    src = np.concatenate([np.arange(n), dup])
    if dup.size == 0:
        return src
    copy_of = np.full(n, -1, dtype=np.int64)
    copy_of[dup] = n + np.arange(dup.size)
    new_tets = tets.copy()
    neg = side < 0
    moved = copy_of[new_tets[neg]]
    new_tets[neg] = np.where(moved >= 0, moved, new_tets[neg])
    new = _rebuild(body, body.rest_points[src], new_tets, src, body.tet_index)
    new.external_force[:n] = body.external_force
    for f in dataclasses.fields(SoftBody):
        setattr(body, f.name, getattr(new, f.name))
    return src


@njit(cache=True)
def _find(parent: np.ndarray, i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]  # path halving
        i = parent[i]
    return i


@njit(cache=True)
def _piece_roots(tets: np.ndarray, n: int) -> np.ndarray:
    """Union-find over the tets' vertices: the root of every vertex's piece (compiled: a cut on a
    20k-tet organ must not stall the frame, and the Python loop took ~4 us per tet)."""
    parent = np.arange(n)
    for t in range(tets.shape[0]):
        ra = _find(parent, tets[t, 0])
        for k in range(1, 4):
            ro = _find(parent, tets[t, k])
            if ro != ra:
                parent[ro] = ra
    for i in range(n):
        parent[i] = _find(parent, i)
    return parent


def body_pieces(body: SoftBody) -> np.ndarray:
    """Connected piece label of every vertex (0, 1, ...; tets sharing a vertex are connected)."""
    roots = _piece_roots(np.ascontiguousarray(body.tets, dtype=np.int64), body.n_vertices)
    return np.unique(roots, return_inverse=True)[1]


def separate_pieces(body: SoftBody) -> list[SoftBody]:
    """The body's connected pieces as separate bodies (the body itself if it is in one piece).

    Each piece keeps its vertices' state, pins, forces and ligament springs and its tets' source ids."""
    return [piece for piece, _ in separate_pieces_with_maps(body)]


def separate_pieces_with_maps(body: SoftBody) -> list[tuple[SoftBody, np.ndarray]]:
    """Like :func:`separate_pieces`, with each piece's vertex map (piece vertex i <- body vertex
    map[i]); pieces come largest first (by tet count), so a caller keeping one entity for the
    original body keeps it for the bulk of the tissue. One piece: ``[(body, arange(n))]``."""
    label = body_pieces(body)
    if label.max() == 0:
        return [(body, np.arange(body.n_vertices))]
    pieces = []
    tet_label = label[body.tets[:, 0]]
    order = np.argsort(-np.bincount(tet_label, minlength=int(label.max()) + 1), kind="stable")
    for k in order:
        verts = np.flatnonzero(label == k)
        vmap = np.full(body.n_vertices, -1, dtype=np.int64)
        vmap[verts] = np.arange(verts.size)
        sel = tet_label == k
        piece = _rebuild(body, body.rest_points[verts], vmap[body.tets[sel]], verts, body.tet_index[sel])
        piece.external_force[:] = body.external_force[verts]
        pieces.append((piece, verts))
    return pieces


def blade_sides(body: SoftBody, a: np.ndarray, b: np.ndarray, normal: np.ndarray, reach: float) -> np.ndarray:
    """The ``side`` argument of :func:`split_tets` for a straight blade from ``a`` to ``b`` (m):
    tets whose current centroid lies within ``reach`` m of the segment a-b get +1 / -1 by the
    side of the plane through a with normal ``normal`` their centroid is on (+1 on the plane),
    the rest 0."""
    centroid = body.x[body.tets].mean(axis=1)
    ab = np.asarray(b, dtype=np.float64) - a
    t = np.clip(((centroid - a) @ ab) / max(float(ab @ ab), 1e-300), 0.0, 1.0)
    near = np.linalg.norm(centroid - (a + t[:, None] * ab), axis=1) <= reach
    above = (centroid - a) @ np.asarray(normal, dtype=np.float64) >= 0.0
    return np.where(near, np.where(above, 1, -1), 0).astype(np.int64)


def split_faces_tets(body: SoftBody, src: np.ndarray, n_before: int) -> np.ndarray:
    """Stored indices of the tets of ``body`` (just split by :func:`split_tets`, which returned
    ``src`` for a body of ``n_before`` vertices) that touch a duplicated vertex: the tets along
    the new cut faces."""
    dup = np.zeros(body.n_vertices, dtype=bool)
    dup[n_before:] = True
    dup[src[n_before:]] = True
    return np.flatnonzero(dup[body.tets].any(axis=1))


def _share_vertex(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise: do tets a[k] and b[k] (k, 4) have a vertex in common?"""
    return (a[:, :, None] == b[:, None, :]).any(axis=(1, 2))


def remap_embedding(
    emb: EmbeddedSurface, old_tet_index: np.ndarray, body: SoftBody, old_tets: np.ndarray | None = None
) -> EmbeddedSurface | None:
    """``emb`` (bound to a body whose stored tets had source ids ``old_tet_index``) rebound to
    ``body`` after a cut or separation: each surface vertex keeps its tet (by source id) and
    barycentric coordinates, so the surface follows the tet's vertices whichever copy they are.
    Vertices whose tet is not in ``body`` (another piece) are dropped with their triangles. With
    ``old_tets`` (the stored tets before the cut), a triangle whose vertices lie in tets that
    shared a vertex before and share none after is dropped too: the cut went between them, and
    keeping it would stretch a skin across the opening cut. None if no triangle is left."""
    source = old_tet_index[emb.tet_index]
    where = np.full(int(max(old_tet_index.max(), body.tet_index.max())) + 1, -1, dtype=np.int64)
    where[body.tet_index] = np.arange(body.n_tets)
    stored = where[source]
    keep = stored >= 0
    tri_keep = keep[emb.triangles].all(axis=1)
    if old_tets is not None and tri_keep.any():
        tri = emb.triangles[tri_keep]
        old_of = np.empty_like(where)
        old_of[old_tet_index] = np.arange(old_tet_index.size)
        torn = np.zeros(tri.shape[0], dtype=bool)
        for u, w in ((0, 1), (1, 2), (0, 2)):
            su, sw = source[tri[:, u]], source[tri[:, w]]
            before = _share_vertex(old_tets[old_of[su]], old_tets[old_of[sw]])
            after = _share_vertex(body.tets[where[su]], body.tets[where[sw]])
            torn |= before & ~after
        tri_keep[np.flatnonzero(tri_keep)[torn]] = False
    if not tri_keep.any():
        return None
    vmap = np.full(keep.size, -1, dtype=np.int64)
    vmap[keep] = np.arange(int(keep.sum()))
    return EmbeddedSurface(
        triangles=np.ascontiguousarray(vmap[emb.triangles[tri_keep]]),
        tet_index=np.ascontiguousarray(stored[keep]),
        bary=np.ascontiguousarray(emb.bary[keep]),
        positions=np.ascontiguousarray(emb.positions[keep]),
        normals=np.ascontiguousarray(emb.normals[keep]),
        outside_distance=np.ascontiguousarray(emb.outside_distance[keep]),
    )
