"""Cutting that splits: separate a tet body along the blade instead of deleting the tets it crosses.

:func:`cut_body` is the cut a blade makes: the tets within reach of the blade that its plane
crosses are subdivided along it, and their neighbours across a cut edge refined only to stay
conforming, so the mesh changes only next to the blade (:mod:`vrmed.systems.tissue.subdivide`:
standard cases and transition tets, snapped so that no sub-tet keeps less than
:data:`~vrmed.systems.tissue.subdivide.MIN_VOLUME_FRACTION` of its parent's volume), the body's
rest data are rebuilt by the loader's own :meth:`SoftBody.from_mesh`, and
the two sides are separated by vertex duplication; an embedded render surface gets real cut
faces where the tissue separates, ending at the crack front of a partial cut
(:func:`cut_embedding`). :func:`split_tets` is the separation alone, along existing faces:
it duplicates every vertex whose whole star (all tets around it) lies in the cut region and has
tets on both sides of the blade: tets on the negative side take the copy, so the faces between
the two sides come apart, and vertices on the region's border (the crack front) stay shared, so
a partial cut opens like a slit and ends in a hinge. Volume and mass are kept to round-off, and
repeated or crossing cuts work the same way on the result. :func:`body_pieces` labels the
connected pieces and :func:`separate_pieces` turns them into separate bodies once a cut goes
through. A cut passing near an earlier cut's crack, nearly parallel to it, runs along that crack
instead of cutting a new surface beside it (:func:`crack_level`), so snips meant for one line
join up and free what they divide. Repeated snips through the same tets cannot compound the
per-cut sliver bound into a degenerate tet: a cut is moved onto vertices until every sub-tet's
rest quality is at least :data:`MIN_CUT_QUALITY`.

The collision and drawn tissue surfaces follow by themselves (they are the body's boundary
faces, rebuilt when a body's arrays change), so the new faces on the cut appear at once.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from vrmed.components.tissue.ligament import LigamentPatch, boundary_triangle_areas
from vrmed.components.tissue.softbody import EmbeddedSurface, SoftBody
from vrmed.errors import VrmedError
from vrmed.fields import finite_vector, real_number
from vrmed.mesh import MeshError, TetMesh
from vrmed.mesh.quality import DEGENERATE_QUALITY, check_tets, tet_quality
from vrmed.systems.tissue import kernels as K
from vrmed.systems.tissue.subdivide import SNAP, PlaneSplit, plane_split
from vrmed.systems.tissue.surface_cut import cut_embedding
from vrmed.systems.tissue.topology_kernels import piece_roots

_K = TypeVar("_K")


class CutError(VrmedError, ValueError):
    """:func:`cut_body` was given a blade it cannot cut with (the message names the argument)."""


def _edge_springs(
    body: SoftBody, c: LigamentPatch, e0: np.ndarray, e1: np.ndarray, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Springs of patch ``c`` for the points a subdivision adds on the edges (e0, e1) of ``body``
    (at edge parameter ``t``): where both ends hold a spring, the point gets one to the point of
    the segment between their anchors, as a pin is kept on a point between two pinned ones.
    Its stiffness is taken from the two ends, so the patch's total stiffness is unchanged: the
    lumped-area rule of a Winkler foundation on linear triangles, where a point at t on an edge
    whose boundary triangles have area A1 + A2 gains (A1 + A2) / 3 of area, (1 - t) of it from
    e0 and t from e1 (``surface_vertex_areas``: A_i a third of vertex i's triangles); each end
    gives at most half its stiffness. Returns the springs per vertex of ``body`` after the
    transfer (n,), the points' stiffness (k,) (0: no spring) and their anchors (k, 3)."""
    n = body.n_vertices
    s = np.zeros(n)
    np.add.at(s, c.indices, 1.0 / c.compliance)
    anchor = np.zeros((n, 3))
    anchor[c.indices] = c.anchors
    held = s > 0.0
    both = held[e0] & held[e1]
    s_pt = np.zeros(e0.size)
    a_pt = anchor[e0] + t[:, None] * (anchor[e1] - anchor[e0])
    if not both.any():
        return s, s_pt, a_pt
    tri, area = boundary_triangle_areas(body.rest_points, body.tets)
    lumped = np.zeros(n)
    np.add.at(lumped, tri.ravel(), np.repeat(area / 3.0, 3))  # surface_vertex_areas, from these
    # the boundary triangles' area at each surface edge (both of its triangles)
    ek = np.sort(np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]]), axis=1)
    key = ek[:, 0] * n + ek[:, 1]
    order = np.argsort(key)
    key_sorted, w_sorted = key[order], np.tile(area, 3)[order]
    q = np.minimum(e0, e1) * n + np.maximum(e0, e1)
    lo, hi = np.searchsorted(key_sorted, q, "left"), np.searchsorted(key_sorted, q, "right")
    csum = np.concatenate([[0.0], np.cumsum(w_sorted)])
    edge_area = np.where(both, csum[hi] - csum[lo], 0.0)  # 0: not a surface edge
    give0 = np.where(edge_area > 0, (1.0 - t) * edge_area / 3.0 / np.maximum(lumped[e0], 1e-300), 0.0)
    give1 = np.where(edge_area > 0, t * edge_area / 3.0 / np.maximum(lumped[e1], 1e-300), 0.0)
    frac = np.zeros(n)
    np.add.at(frac, e0, give0)
    np.add.at(frac, e1, give1)
    scale = np.where(frac > 0.5, 0.5 / np.maximum(frac, 1e-300), 1.0)  # each end keeps at least half
    s_pt = s[e0] * give0 * scale[e0] + s[e1] * give1 * scale[e1]
    return s * (1.0 - frac * scale), s_pt, a_pt


def _carry_ligaments(
    body: SoftBody,
    new: SoftBody,
    src: np.ndarray,
    edges: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> None:
    """Re-add ``body``'s ligament patches to ``new`` (vertex i <- old vertex src[i]).

    A spring whose vertex was duplicated by a cut goes to every copy with its compliance times
    the number of copies (springs in parallel), so the patch holds the cut tissue with the same
    total stiffness; springs on vertices ``new`` does not have are left out (another piece
    carries them). ``edges`` = (e0, e1, t, sub): the points a subdivision added on the edges
    (e0, e1) of ``body`` at parameter t, and per vertex of ``new`` its vertex of the subdivided
    mesh (``body``'s n vertices, then those points, then any others): a point between two
    spring-held vertices gets a spring taken from theirs (:func:`_edge_springs`)."""
    n = body.n_vertices
    for c in body.constraints:
        if not isinstance(c, LigamentPatch):
            continue
        if edges is None:
            s = np.zeros(n)
            np.add.at(s, c.indices, 1.0 / c.compliance)
            anchor = np.zeros((n, 3))
            anchor[c.indices] = c.anchors
            of = np.where(src >= 0, src, n)
        else:
            e0, e1, t, sub = edges
            s_old, s_pt, a_pt = _edge_springs(body, c, e0, e1, t)
            s = np.concatenate([s_old, s_pt])
            anchor = np.zeros((n, 3))
            anchor[c.indices] = c.anchors
            anchor = np.concatenate([anchor, a_pt])
            of = np.where(sub < s.size, sub, s.size)
        held = np.zeros(s.size + 1, dtype=bool)
        held[:-1] = s > 0.0
        keep = np.flatnonzero(held[of])
        if keep.size == 0:
            continue
        k = of[keep]
        copies = np.bincount(k, minlength=s.size)
        new.add_constraint(
            LigamentPatch(
                indices=keep.astype(np.int64),
                anchors=np.ascontiguousarray(anchor[k]),
                compliance=np.ascontiguousarray(copies[k] / s[k]),
                force=np.zeros((keep.size, 3)),
            )
        )


def _rebuild(
    body: SoftBody,
    points: np.ndarray,
    tets: np.ndarray,
    src: np.ndarray,
    tet_ids: np.ndarray,
    state: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
    edges: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> SoftBody:
    """A body over (points, tets) in ``body``'s material and settings, state copied from ``body``'s
    vertices ``src`` (new vertex i <- old vertex src[i]); ``tet_ids`` = source-mesh ids of ``tets``.
    ``state`` = (x, x_prev, v, pinned) of the new vertices overrides the copy (for vertices that
    have no single source, such as the points a subdivision adds on cut edges, ``src`` -1);
    ``edges`` says where those points lie for the ligament patches (:func:`_carry_ligaments`)."""
    x, x_prev, v, pinned = (
        state if state is not None else (body.x[src], body.x_prev[src], body.v[src], body.pinned[src])
    )
    bad = check_tets(points, tets).degenerate
    if bad.size:  # last line of defence (cuts snap so as not to make these: MIN_CUT_QUALITY)
        tets, tet_ids = _drop_degenerate(body, points, tets, tet_ids, bad)
    new = SoftBody.from_mesh(
        TetMesh(points, tets),
        body.material,
        pins=np.flatnonzero(pinned),
        velocity_damping=body.velocity_damping,
        volume_barrier=body.has_volume_barrier,
    )
    body.copy_solver_options(new)
    new.tet_index = tet_ids[new.tet_index]
    new.x[:] = x
    new.x_prev[:] = x_prev
    new.v[:] = v
    if body.cut_born.size == body.n_vertices and body.cut_born.any():  # vertices born in a cut stay so
        new.cut_born = np.where(src >= 0, body.cut_born[np.maximum(src, 0)], False)
    _carry_ligaments(body, new, src, edges)
    return new


_WARNED: set[int] = set()  # id() of the bodies already warned about a dropped degenerate tet


def _drop_degenerate(
    body: SoftBody, points: np.ndarray, tets: np.ndarray, tet_ids: np.ndarray, bad: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``tets`` and their ``tet_ids`` without the degenerate rows ``bad`` (no rest volume: the
    loader refuses them), so a rebuild mid-session drops a flat piece instead of ending the
    session (it holds almost no volume or mass). Warns once per body. Raises
    :class:`MeshError` if dropping would leave a vertex in no tet (the caller keeps the body)."""
    keep = np.ones(tets.shape[0], dtype=bool)
    keep[bad] = False
    used = np.zeros(points.shape[0], dtype=bool)
    used[tets[keep].ravel()] = True
    where = f"a cut body ({body.n_tets} tets, {body.n_vertices} vertices)"
    if not used.all():
        raise MeshError(
            f"{where}: {bad.size} degenerate tets (e.g. source tet {int(tet_ids[bad[0]])}) hold a vertex alone"
        )
    if id(body) not in _WARNED:
        _WARNED.add(id(body))
        warnings.warn(
            f"{where}: dropped {bad.size} degenerate tets (rest quality below {DEGENERATE_QUALITY:g}) a cut "
            "made; please report this with the cut's blade",
            RuntimeWarning,
            stacklevel=3,
        )
    return tets[keep], tet_ids[keep]


def _duplicate(tets: np.ndarray, n: int, side: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The vertex duplication of :func:`split_tets` on arrays: (new tets, src) for ``tets`` over
    ``n`` vertices (``src``: new vertex i <- vertex src[i]; just ``arange(n)`` if none is copied)."""
    star_in_region = np.ones(n, dtype=bool)
    np.logical_and.at(star_in_region, tets.ravel(), np.repeat(side != 0, 4))
    plus = np.zeros(n, dtype=bool)
    minus = np.zeros(n, dtype=bool)
    plus[tets[side > 0].ravel()] = True
    minus[tets[side < 0].ravel()] = True
    dup = np.flatnonzero(star_in_region & plus & minus)
    src = np.concatenate([np.arange(n), dup])
    if dup.size == 0:
        return tets, src
    copy_of = np.full(n, -1, dtype=np.int64)
    copy_of[dup] = n + np.arange(dup.size)
    new_tets = tets.copy()
    neg = side < 0
    moved = copy_of[new_tets[neg]]
    new_tets[neg] = np.where(moved >= 0, moved, new_tets[neg])
    return new_tets, src


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
    new_tets, src = _duplicate(body.tets, n, side)
    if src.size == n:
        return src
    new = _rebuild(body, body.rest_points[src], new_tets, src, body.tet_index)
    new.external_force[:n] = body.external_force
    for f in dataclasses.fields(SoftBody):
        setattr(body, f.name, getattr(new, f.name))
    return src


def body_pieces(body: SoftBody) -> np.ndarray:
    """Connected piece label of every vertex (0, 1, ...; tets sharing a vertex are connected)."""
    roots = piece_roots(np.ascontiguousarray(body.tets, dtype=np.int64), body.n_vertices)
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


# ----------------------------------------------------------------------------- cuts that follow the blade


@dataclass
class BodyCut:
    """What :func:`cut_body` did: ``src`` (final vertex i <- vertex src[i] of the body before
    the cut; -1 for the points the subdivision added on cut edges, -2 for the centroids it added
    in transition tets), ``cut_tets`` (stored tets along the new faces), ``n_split`` (tets
    subdivided: cut by the plane or refined as transition tets), ``min_volume_fraction`` and
    ``min_quality_ratio`` (the smallest sub-tet volume / parent volume and
    :func:`shape_quality` / parent's of this cut, both at least
    :data:`~vrmed.systems.tissue.subdivide.MIN_VOLUME_FRACTION`; 1 if nothing was split) and
    ``n_duplicated`` (vertices copied to separate the sides), ``n_snapped`` (vertices the cut was
    moved onto, see :data:`~vrmed.systems.tissue.subdivide.SNAP` and :data:`MIN_CUT_QUALITY`),
    ``n_continued`` (vertices of an earlier crack it ran along, :func:`crack_level`), ``embedding`` (the cut
    body's embedded surface with the cut faces added, if one was given), ``n_inverted`` (tets
    inverted right after the split: a sub-tet has its parent's det F, so the children of an
    inverted parent are inverted) and ``n_inverted_after`` (inverted once the cut untangled
    them, :func:`_untangle_after_cut`; the same number when it did not)."""

    src: np.ndarray
    cut_tets: np.ndarray
    n_split: int
    min_volume_fraction: float
    min_quality_ratio: float
    n_duplicated: int = 0
    n_snapped: int = 0
    n_continued: int = 0
    embedding: EmbeddedSurface | None = None
    n_inverted: int = 0
    n_inverted_after: int = 0


def blade_region(body: SoftBody, a: np.ndarray, b: np.ndarray, reach: float) -> np.ndarray:
    """Stored tets whose current centroid lies within ``reach`` m of the blade segment a-b."""
    centroid = body.x[body.tets].mean(axis=1)
    ab = np.asarray(b, dtype=np.float64) - a
    t = np.clip(((centroid - a) @ ab) / max(float(ab @ ab), 1e-300), 0.0, 1.0)
    return np.asarray(np.linalg.norm(centroid - (a + t[:, None] * ab), axis=1) <= reach)


#: A cut continues an earlier crack (:func:`crack_level`) where a vertex of the crack's faces lies
#: within this distance (m, current positions) of the blade plane: 2 mm, about the thickness of
#: a pair of laparoscopic scissor blades, within which a blade runs into the parted tissue of the
#: earlier cut rather than through intact tissue beside it (a modelling choice; see
#: docs/physics.md, "Cutting that splits") ...
CRACK_TOL = 2.0e-3

#: ... and within this fraction of the vertex's longest edge (the tets around it): the vertices
#: between the crack and the plane must lie within one edge of the crack to be moved onto it ...
CRACK_EDGE_FRACTION = 0.5

#: ... and the crack's faces there are within this angle (rad) of parallel to the blade plane (10
#: degrees: a crossing cut, or a snip along the next chord of a circle, 14.4 degrees for 25
#: snips, is not bent onto the crack it meets).
CRACK_ANGLE = float(np.radians(10.0))

# the four faces of a tet, each oriented outward for a positively oriented tet
_TET_FACES = np.array([[1, 2, 3], [0, 3, 2], [0, 1, 3], [0, 2, 1]])
_TET_EDGES = np.array([(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)])


def crack_faces(body: SoftBody) -> np.ndarray:
    """(f, 3) the boundary faces of ``body`` (outward for positively oriented tets) that lie on a
    cut: their rest corners coincide with those of another boundary face (the crack's other lip,
    whose vertices are copies at the same rest positions; the crack front's vertices are shared),
    or all three are copied vertices (a lip that a later cut refined on its side only)."""
    faces = body.tets[:, _TET_FACES].reshape(-1, 3)
    _, inv, count = np.unique(np.sort(faces, axis=1), axis=0, return_inverse=True, return_counts=True)
    boundary = faces[count[inv.ravel()] == 1]
    if boundary.shape[0] < 2:
        return boundary[:0]
    _, at, copies = np.unique(body.rest_points, axis=0, return_inverse=True, return_counts=True)
    at = at.ravel()  # one id per rest position
    _, inv, count = np.unique(np.sort(at[boundary], axis=1), axis=0, return_inverse=True, return_counts=True)
    return boundary[(count[inv.ravel()] > 1) | (copies[at[boundary]] > 1).all(axis=1)]


def crack_level(
    body: SoftBody,
    point: np.ndarray,
    normal: np.ndarray,
    region: np.ndarray,
    tol: float = CRACK_TOL,
    max_angle: float = CRACK_ANGLE,
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray]:
    """How a cut along the plane (``point``, unit ``normal``; current positions) through the tets
    of ``region`` continues an earlier cut's crack it passes near: ``(level, lip, moved)``, or
    ``(None, None, [])`` if it passes near none (the cut is then the plane's, unchanged).

    The crack vertices continued (C): corners of :func:`crack_faces` in a ``region`` tet within
    ``tol`` (m) and :data:`CRACK_EDGE_FRACTION` of their longest edge (the tets around them) of
    the plane, where the crack's normal n_c (of the least-squares plane through the crack's
    vertices within that edge, oriented with ``normal``) is within ``max_angle`` of the plane's
    and no crack vertex within ``tol / sin(max_angle)`` lies on the other side of the plane (a
    crack crossing the plane meets the cut there anyway). ``lip`` (n,): for each vertex of a
    region tet within its nearest C vertex c's longest edge of it, the signed distance from c's
    tangent plane, (x - x_c) . n_c: the side of the crack it lies on; elsewhere the plane's
    signed distance. ``level`` (n,) is the plane's signed distance with 0 at ``moved``: the C
    vertices and the vertices lying between the crack and the plane (``lip`` and the plane's
    distance of opposite signs), so the cut runs along the earlier crack's faces there instead
    of cutting a new surface beside it, which would leave the strip between them joined along
    its edges; beyond the crack the cut is the plane's again (every point the cut adds on an
    edge lies on the blade plane, as without a crack). Zeros in the level are what snapping
    makes too, so the subdivision's cases, conformity and volume
    bound are unchanged; a tet left with all four corners at 0 takes its side from ``lip``."""
    x, tets = body.x, body.tets
    n = body.n_vertices
    region = np.asarray(region, dtype=bool)
    none: tuple[np.ndarray | None, np.ndarray | None, np.ndarray] = (None, None, np.zeros(0, dtype=np.int64))
    if tol <= 0.0 or not region.any():
        return none
    faces = crack_faces(body)
    if faces.shape[0] == 0:
        return none
    d = (x - point) @ normal
    in_region = np.zeros(n, dtype=bool)
    in_region[tets[region].ravel()] = True
    longest = np.linalg.norm(x[tets[:, _TET_EDGES[:, 0]]] - x[tets[:, _TET_EDGES[:, 1]]], axis=2).max(axis=1)
    ell = np.zeros(n)
    np.maximum.at(ell, tets.ravel(), np.repeat(longest, 4))
    on_crack = np.zeros(n, dtype=bool)
    on_crack[faces.ravel()] = True
    crack = np.flatnonzero(on_crack & in_region & (np.abs(d) <= np.minimum(tol, CRACK_EDGE_FRACTION * ell)))
    if crack.size == 0:
        return none
    # the crack's normal at each of them: the least-squares plane through the crack's vertices
    # within its longest edge (the smallest principal axis of their scatter), turned to the
    # blade's side: the earlier cut's own plane there, not a face tilted where snapping moved it
    # (not where the crack crosses the plane within tol / sin(max_angle), the stretch along which a
    # crack crossing at more than max_angle stays within tol of the plane: the cut meets the
    # crack there anyway, and bending it onto the crack beside the crossing would only move it
    # off the blade)
    r_cross = tol / np.sin(max_angle)
    pts, side = x[on_crack], np.sign(d[on_crack])
    nc = np.empty((crack.size, 3))
    crossed = np.zeros(crack.size, dtype=bool)
    for k in range(0, crack.size, 256):
        q = crack[k : k + 256]
        r2 = ((x[q, None, :] - pts[None, :, :]) ** 2).sum(axis=2)
        w = (r2 <= ell[q, None] ** 2).astype(np.float64)
        cnt = w.sum(axis=1)[:, None]
        mean = (w @ pts) / cnt
        cov = np.einsum("qp,pi,pj->qij", w, pts, pts) / cnt[:, :, None] - mean[:, :, None] * mean[:, None, :]
        nc[k : k + 256] = np.linalg.eigh(cov)[1][:, :, 0]
        crossed[k : k + 256] = ((r2 <= r_cross**2) & (side[None, :] * np.sign(d[q])[:, None] < 0)).any(axis=1)
    nc *= np.where(nc @ normal < 0.0, -1.0, 1.0)[:, None]
    nc /= np.maximum(np.linalg.norm(nc, axis=1), 1e-300)[:, None]
    keep = (nc @ normal >= np.cos(max_angle)) & ~crossed
    crack, nc = crack[keep], nc[keep]
    if crack.size == 0:
        return none
    cand = np.flatnonzero(in_region)
    nearest = np.empty(cand.size, dtype=np.int64)
    gap = np.empty(cand.size)
    for k in range(0, cand.size, 256):  # nearest crack vertex, in chunks (no per-pair matrix)
        d2 = ((x[cand[k : k + 256], None, :] - x[crack][None, :, :]) ** 2).sum(axis=2)
        nearest[k : k + 256] = d2.argmin(axis=1)
        gap[k : k + 256] = np.sqrt(d2[np.arange(d2.shape[0]), nearest[k : k + 256]])
    near = gap <= ell[crack[nearest]]
    lip = d.copy()
    v, c = cand[near], nearest[near]
    lip[v] = np.einsum("ij,ij->i", x[v] - x[crack[c]], nc[c])
    lip[crack] = 0.0
    between = np.zeros(n, dtype=bool)
    between[v] = lip[v] * d[v] < 0.0
    between[crack] = True
    moved = np.flatnonzero(between)
    level = d.copy()
    level[moved] = 0.0
    return level, lip, moved


def subdivide_body(
    body: SoftBody, point: np.ndarray, normal: np.ndarray, region: np.ndarray, snap: float = SNAP
) -> tuple[PlaneSplit, np.ndarray, np.ndarray]:
    """Split, in place, the tets of ``region`` (bool, stored order) that the plane (``point``,
    ``normal``; at the current positions) crosses into sub-tets (:func:`plane_split`), and
    rebuild the body's rest data from the new mesh exactly as at load
    (:meth:`SoftBody.from_mesh`: rest matrices, volumes, lumped masses, slab blocks). The old
    vertices keep their ids; the points on cut edges are appended, their state interpolated
    along the edge (pinned if both ends are), then the centroids of the transition tets (the
    tets outside ``region`` refined only to stay conforming; state the mean of the corners',
    pinned if all four are). The first sub-tet of a parent keeps its source id,
    the others get new ids above the body's largest. Returns the split, the new stored tets'
    ``side`` for :func:`split_tets` (+1 / -1 in the region, 0 elsewhere) and each new stored
    tet's parent (stored index before the call). :func:`cut_body` does this and the separation
    in one rebuild."""
    ps, side, parent, _src, _geo, _dup, _ = _subdivide(
        body, point, normal, np.asarray(region, dtype=bool), snap, False, 0.0
    )
    return ps, side, parent


#: No cut leaves a tet whose rest shape quality (:func:`vrmed.mesh.quality.tet_quality`, 6 sqrt(2) V /
#: l_rms^3, what the loader checks) is below this: ten times the loader's degenerate threshold
#: (:data:`~vrmed.mesh.quality.DEGENERATE_QUALITY`). Each cut keeps every sub-tet above
#: :data:`~vrmed.systems.tissue.subdivide.MIN_VOLUME_FRACTION` of its parent's volume and quality,
#: but that bound compounds over repeated snips through the same tets (a sliver of a sliver:
#: 0.0034^2 = 1.2e-5 of the first parent's quality), so it alone does not stop a series of cuts
#: from making a tet the loader calls degenerate (:func:`_split_above_floor`).
MIN_CUT_QUALITY = 10.0 * DEGENERATE_QUALITY

#: :func:`cut_body`'s default for ``untangle`` (opt-in): untangle the tets a cut leaves inverted at
#: once (:func:`_untangle_after_cut`). Off by default: in the laparoscopy scissors dissection it
#: took the expert at +20 ms from 21 tets inverted at the end (and 0.747 of the section divided)
#: to 0 (0.824), but turned the expert at +5 ms from 0 to 27 and the novice at 0 ms, which the
#: suite checks, from 0 to 2 (the sessions are chaotic in the last bit, and the vertex-wise
#: untangling cannot open every tangle a cut leaves against the pinned tissue; docs/physics.md,
#: "Cutting that splits", "Inverted tets a cut leaves").
UNTANGLE_AFTER_CUT = False


def _split_above_floor(
    body: SoftBody, region: np.ndarray, point: np.ndarray, normal: np.ndarray, snap: float, level: np.ndarray | None
) -> PlaneSplit:
    """:func:`plane_split` of ``body`` (the plane's signed distance, or ``level``), with the cut
    moved onto more vertices until no sub-tet's rest quality is below :data:`MIN_CUT_QUALITY`:
    for each parent with such a child, its cut edge whose point lies nearest an end (by edge
    parameter: the smallest move of the cut) gets that end put on the cut (level 0, as
    snapping does), and the split is redone. Moving the cut onto a vertex only removes
    crossings, so this ends (at worst the parent is no longer cut); the per-cut volume bound
    still holds (every remaining point lies in [snap, 1 - snap] of its edge). The vertices moved
    so are added to the split's ``snapped``."""
    n = body.n_vertices
    rest = body.rest_points
    d = (body.x - point) @ normal if level is None else np.array(level, dtype=np.float64)
    moved: list[np.ndarray] = []
    while True:
        ps = plane_split(body.x, rest, body.tets, region, point, normal, snap, d)
        rows = np.flatnonzero(ps.split[ps.parent])
        if rows.size == 0:
            break
        e0, e1 = ps.edge[:, 0], ps.edge[:, 1]
        new_rest = np.concatenate(
            [rest, rest[e0] + ps.t[:, None] * (rest[e1] - rest[e0]), rest[ps.centre].mean(axis=1)]
        )
        q = np.abs(tet_quality(new_rest, ps.tets[rows]))
        poor = np.unique(ps.parent[rows[q < MIN_CUT_QUALITY]])
        if poor.size == 0:
            break
        key = np.minimum(e0, e1) * n + np.maximum(e0, e1)
        order = np.argsort(key)
        te = body.tets[poor]
        ek = np.minimum(te[:, _TET_EDGES[:, 0]], te[:, _TET_EDGES[:, 1]]) * n + np.maximum(
            te[:, _TET_EDGES[:, 0]], te[:, _TET_EDGES[:, 1]]
        )
        at = order[np.clip(np.searchsorted(key[order], ek), 0, key.size - 1)]  # (p, 6) appended point per edge
        tt = ps.t[at]
        nearest = np.where(key[at] == ek, np.minimum(tt, 1.0 - tt), np.inf).argmin(axis=1)
        k = at[np.arange(poor.size), nearest]  # every subdivided parent has a cut edge
        v = np.where(ps.t[k] < 0.5, e0[k], e1[k])
        d[v] = 0.0
        moved.append(v)
    if moved:
        ps.snapped = np.union1d(ps.snapped, np.concatenate(moved))
    return ps


def _subdivide(
    body: SoftBody,
    point: np.ndarray,
    normal: np.ndarray,
    region: np.ndarray,
    snap: float,
    separate: bool,
    crack: float,
) -> tuple[PlaneSplit, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`subdivide_body`, then (if ``separate``) the vertex duplication of
    :func:`split_tets`, with one rebuild. Returns the split, the stored tets' region side, parent
    and plane side (0: not subdivided nor in the region), ``src`` (vertex i <- vertex src[i] of
    the body before; -1 for the new points on cut edges and their copies, -2 for the transition
    tets' centroids) and ``dup`` (vertex i <- vertex dup[i] of the subdivided mesh). ``crack``:
    :func:`crack_level`'s tolerance (0: the plane alone); the crack vertices it continued along
    come last."""
    n = body.n_vertices
    normal = np.asarray(normal, dtype=np.float64)
    level, lip, continued = crack_level(body, point, normal, region, crack)
    ps = _split_above_floor(body, region, point, normal, snap, level)
    e0, e1, t = ps.edge[:, 0], ps.edge[:, 1], ps.t[:, None]

    def lerp(f: np.ndarray) -> np.ndarray:
        """``f`` per vertex, then at the points on cut edges and the transition tets' centroids."""
        return np.concatenate([f, f[e0] + t * (f[e1] - f[e0]), f[ps.centre].mean(axis=1)])

    ids = body.tet_index[ps.parent].copy()
    first = np.ones(ps.parent.size, dtype=bool)
    first[1:] = ps.parent[1:] != ps.parent[:-1]
    fresh = np.flatnonzero(~first)
    ids[fresh] = int(body.tet_index.max()) + 1 + np.arange(fresh.size)
    # side per row: by the (snapped) sides of its vertices; a tet with all four on the plane
    # (possible only after snapping) by its centroid
    sg = ps.sign[ps.tets]
    geo = np.where((sg > 0).any(axis=1), 1, np.where((sg < 0).any(axis=1), -1, 0))
    if lip is None:
        centroid_d = (lerp(body.x)[ps.tets].mean(axis=1) - point) @ normal
    else:  # next to a crack: the side of the crack the centroid lies on (crack_level)
        centroid_d = lerp(lip[:, None])[ps.tets, 0].mean(axis=1)
    in_region = region[ps.parent]
    side = np.where(in_region, np.where(geo != 0, geo, np.where(centroid_d >= 0, 1, -1)), 0)
    # a transition tet's sub-tets lie on both sides (side 0: either), like the untouched tets
    geo = np.where(in_region | (ps.split & ~ps.transition)[ps.parent], geo, 0)
    k, c = ps.edge.shape[0], ps.centre.shape[0]
    n_sub = n + k + c
    tets, dup = _duplicate(ps.tets, n_sub, side) if separate else (ps.tets, np.arange(n_sub))
    src = np.concatenate([np.arange(n), np.full(k, -1, dtype=np.int64), np.full(c, -2, dtype=np.int64)])[dup]
    if src.size == n and not ps.split.any():  # nothing to split or separate: leave the body as it is
        return ps, side, ps.parent, src, geo, dup, continued
    pinned = np.concatenate([body.pinned, body.pinned[e0] & body.pinned[e1], body.pinned[ps.centre].all(axis=1)])[dup]
    state = (lerp(body.x)[dup], lerp(body.x_prev)[dup], lerp(body.v)[dup], pinned)
    new = _rebuild(body, lerp(body.rest_points)[dup], tets, src, np.arange(tets.shape[0]), state, (e0, e1, ps.t, dup))
    order = new.tet_index  # stored -> row of ps.tets
    new.tet_index = ids[order]
    new.external_force[:n] = body.external_force
    # born in this cut: the points on cut edges, the transition centroids, and both copies of
    # every duplicated vertex (SoftBody.cut_born; the solver's SOFTEN_TARGET)
    born = src < 0
    if new.cut_born.size == born.size:  # and those born in earlier cuts (_rebuild carried them)
        born |= new.cut_born
    born[n_sub:] = True
    born[dup[n_sub:]] = True
    new.cut_born = born
    for f in dataclasses.fields(SoftBody):
        setattr(body, f.name, getattr(new, f.name))
    return ps, side[order].astype(np.int64), ps.parent[order], src, geo[order], dup, continued


def cut_body(
    body: SoftBody,
    a: np.ndarray,
    b: np.ndarray,
    normal: np.ndarray,
    reach: float,
    emb: EmbeddedSurface | None = None,
    snap: float = SNAP,
    crack: float = CRACK_TOL,
    untangle: bool | None = None,
) -> BodyCut:
    """Cut ``body`` in place along the blade from ``a`` to ``b`` (m, current positions) in the
    plane through ``a`` with ``normal``, within ``reach`` m of the blade: the crossed tets there
    are subdivided along the plane, their neighbours across a cut edge refined as transition tets
    (:func:`subdivide_body`), then the two sides are separated by
    vertex duplication (:func:`split_tets`). With ``emb``, the returned cut's ``embedding`` is
    that surface rebound to the cut body with its cut faces (:func:`cut_embedding`, clipped
    where the tissue separates: the plane moved onto the vertices the cut snapped to); ``emb``
    itself is not changed. Pieces stay in one body: see :func:`separate_pieces_with_maps`.
    Near an earlier cut's crack (within ``crack`` m, nearly parallel: see
    :func:`crack_level`; 0 turns this off) the cut continues along that crack instead of
    cutting a new surface beside it. No sub-tet is left below :data:`MIN_CUT_QUALITY` (the cut
    moves onto more vertices where one would be, :func:`_split_above_floor`), so repeated snips
    never make a tet the loader calls degenerate; should a rebuild still fail, the body is left
    as it was with a warning (a snip never ends a session). A sub-tet has its parent's det F, so
    a cut through tissue the blades had folded (inverted tets) leaves every child of an inverted
    parent inverted: with ``untangle`` (default :data:`UNTANGLE_AFTER_CUT`, off) the cut body's
    inverted tets are untangled at once (:func:`_untangle_after_cut`); ``n_inverted`` /
    ``n_inverted_after`` say how many there were and are.

    What the cut body keeps (:func:`split_tets`): pins on both copies of a pinned vertex,
    ligament patches on both at half the stiffness each; a point the cut adds on an edge between
    two pinned vertices is pinned, one between two spring-held vertices gets a spring taken from
    theirs (:func:`_edge_springs`: the patch's total stiffness unchanged). Kinematic attachments
    (:meth:`SoftBody.attach`), slide planes and plugin-added constraints are dropped: re-attach
    after the cut what should stay held (the instrument system re-attaches its grasps). Tissue
    hung from ``attach`` alone falls when cut; hang it from pins or ligament patches to keep it."""
    a = finite_vector(a, "cut_body: a (the blade's start, m)", CutError)
    b = finite_vector(b, "cut_body: b (the blade's end, m)", CutError)
    normal = finite_vector(normal, "cut_body: normal (the blade plane's normal)", CutError)
    length = float(np.linalg.norm(normal))
    if not length > 0.0:
        raise CutError("cut_body: normal (the blade plane's normal) must not be zero: give the plane's normal")
    normal = normal / length
    reach = real_number(reach, "cut_body: reach (m, how far from the blade it cuts)", CutError, minimum=0.0, above=True)
    snap = real_number(snap, "cut_body: snap (a fraction of an edge)", CutError, minimum=0.0)
    crack = real_number(crack, "cut_body: crack (m)", CutError, minimum=0.0)
    before = (body.rest_points, body.tets, body.tet_index, body.x)
    w_before = body.inv_mass
    region = blade_region(body, a, b, reach)
    try:
        ps, _side, parent, src, geo, dup, continued = _subdivide(body, a, normal, region, snap, True, crack)
    except MeshError as err:  # a snip must not end the session: the body is left as it was (the
        # rebuild failed before the body's arrays were replaced)
        warnings.warn(f"cut_body: the cut was not made: {err}", RuntimeWarning, stacklevel=2)
        return BodyCut(np.arange(body.n_vertices), np.zeros(0, dtype=np.int64), 0, 1.0, 1.0, embedding=emb)
    frac = qual = 1.0
    if ps.split.any():
        child = np.flatnonzero(ps.split[parent])
        up = before[1][parent[child]]
        frac = float((body.rest_volume[child] / _volumes(before[0], up)).min())
        qual = float((shape_quality(body.rest_points, body.tets[child]) / shape_quality(before[0], up)).min())
    n_sub = before[0].shape[0] + ps.edge.shape[0] + ps.centre.shape[0]
    n_dup = body.n_vertices - n_sub
    cut = np.zeros(0, dtype=np.int64)
    if n_dup:  # the tets along the new faces: those touching a copied vertex or its original
        on = np.zeros(body.n_vertices, dtype=bool)
        on[n_sub:] = True
        on[dup[n_sub:]] = True
        cut = np.flatnonzero(on[body.tets].any(axis=1))
    out = BodyCut(src, cut, int(ps.split.sum()), frac, qual, n_dup, int(ps.snapped.size), int(continued.size))
    if emb is not None and out.n_split == 0 and n_dup == 0:
        out.embedding = emb  # the body did not change
    elif emb is not None:
        rest0, tets0, ids0, x0 = before
        sg0 = ps.sign[tets0]
        old_geo = np.where((sg0 > 0).any(axis=1), 1, np.where((sg0 < 0).any(axis=1), -1, 0))
        # pieces the body was already in: a surface vertex is embedded again only in its own piece
        # (the two faces of an earlier cut lie on each other at rest)
        piece0 = piece_roots(np.ascontiguousarray(tets0), rest0.shape[0])[tets0[:, 0]]
        final_piece0 = piece0[parent]
        out.embedding = cut_embedding(
            emb,
            rest0[tets0],
            x0[tets0],
            ids0,
            ps.split,
            old_geo,
            region,
            body,
            geo,
            parent,
            a,
            normal,
            (piece0, final_piece0),
            b,
            reach,
            np.where(ps.sign[: rest0.shape[0]] == 0, 0.0, ps.level)[tets0],
        )
    if out.n_split or n_dup:
        repair = UNTANGLE_AFTER_CUT if untangle is None else untangle
        out.n_inverted, out.n_inverted_after = _untangle_after_cut(body, w_before, src, repair)
    return out


def _untangle_after_cut(body: SoftBody, w_before: np.ndarray, src: np.ndarray, untangle: bool) -> tuple[int, int]:
    """(inverted tets after the cut, after untangling them) for a body ``cut_body`` just rebuilt.

    Why: a cut is made at the current positions and a sub-tet has its parent's det F, so where
    the open blades had folded the tissue as they went in (a vertex ploughed through its
    neighbours, held there by the blades' contact) every child of an inverted parent is inverted,
    and the cut multiplies them (laparoscopy ``dissection_scissors``, expert at +20 ms: 11 -> 24,
    7 -> 10, 11 -> 17, 25 -> 38, 25 -> 54, 44 -> 64 and 50 -> 96 inverted tets over its seven
    cuts). Once cut, the tangle is no longer held: the closed blades lie in their own cut and do
    not push (``CutBehaviour``), but the solver's untangling, run only after a fold has stayed
    inverted with the body at rest, then met it spread through the cut's slivers and could not
    open it (its call was undone every 0.2 s: 21 tets inverted at the session's end). So the cut
    can untangle at once, with the same vertex-wise max-min repair (``kernels.untangle``, a
    position repair that adds no velocity and is undone unless it leaves fewer tets inverted).
    Every axis that was fixed before the cut stays fixed (pins, and the attachments and slide
    planes the rebuild drops until the caller re-attaches them: a grasp's vertices and their
    copies); tool-contact holds are not kept (the blades that made the fold no longer press it;
    kept, the fold cannot open around them).
    With ``untangle`` false only the count is taken (the body is left as the cut made it)."""
    p = body.x[body.tets]
    v6 = np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), p[:, 3] - p[:, 0])
    n_inv = int(np.count_nonzero(~(v6 > 0.0)))
    if n_inv == 0 or not untangle:
        return n_inv, n_inv
    w = body.inv_mass.copy()
    old = src >= 0
    w[old] = np.where(w_before[src[old]] > 0.0, w[old], 0.0)
    left = int(K.untangle(body.x, w, body.tets, body.dm_inv, np.zeros(0, dtype=np.bool_)))
    return n_inv, left


def shape_quality(points: np.ndarray, tets: np.ndarray) -> np.ndarray:
    """6 sqrt(2) V / l_max^3 per tet: 1 for the regular tet, 0 for a flat one (a sub-tet lies in
    its parent, so its l_max is at most the parent's and this falls by at most its volume fraction)."""
    p = points[tets]
    lmax = np.max([np.linalg.norm(p[:, j] - p[:, i], axis=1) for i in range(4) for j in range(i + 1, 4)], axis=0)
    return 6.0 * np.sqrt(2.0) * _volumes(points, tets) / lmax**3


def _volumes(points: np.ndarray, tets: np.ndarray) -> np.ndarray:
    p = points[tets]
    return np.abs(np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), p[:, 3] - p[:, 0])) / 6.0
