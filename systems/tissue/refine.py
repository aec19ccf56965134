"""Local refinement of a tet body where a tool presses (red-green refinement at runtime).

A tool smaller than the cells it presses folds them (a 5 mm sphere pushed 40 mm into a box of
7.5 mm cells: docs/physics.md, "Contact"). The standard remedy is to refine the mesh where the
contact is, at runtime (adaptive sampling of the contact region: Debunne, Desbrun, Cani and Barr
2001, "Dynamic real-time deformations using space & time adaptive sampling", SIGGRAPH).
:func:`refine_region` does it by *red-green refinement* (Bank, Sherman and Weiser 1983, "An
algorithm of refinement of piecewise linear elements"; for tets, Bey 1995, "Tetrahedral grid
refinement", Computing 55:355-378):

* **Red**: every tet of the region (its bounding sphere within ``radius`` of ``centre`` at the
  current positions, longest rest edge above ``target``) has its six edges split at their
  midpoints into eight children of 1/8 of its volume: four corner tets and the inner octahedron
  cut along its shortest diagonal (the usual choice; Bey 1995 discusses the three). A tet
  outside the region whose six edges are all split is refined red too.
* **Green** (closure): every other tet with a split edge (a neighbour of the region) is a
  *transition tet*, refined only to conform by
  :func:`vrmed.systems.tissue.subdivide.transition_tet` (the templates built for cuts: face
  triangles by the diagonal rule of Dompierre et al. 1999, coned to the opposite vertex or to
  the tet's centroid), so the mesh has no hanging node. With the split points at edge midpoints
  a transition child keeps at least 1/16 of its parent's volume (:data:`MIN_VOLUME_FRACTION`,
  ``snap^2 / 4`` of :mod:`~vrmed.systems.tissue.subdivide` at ``snap = 1/2``). As in red-green
  refinement, the caller never refines a green child again
  (:class:`~vrmed.systems.collision.system.CollisionSettings` ``refine``), so closures do not
  compound.
* **The solver's limit**: a finer tet has a larger stiffness ratio
  (:func:`~vrmed.systems.tissue.solver.tet_stiffness_ratios`, ~1/l^2); above
  :data:`~vrmed.systems.tissue.solver.WARM_OFF` the solver keeps no warm start for it and at the
  default substeps it answers far softer than the coarse tet it replaced (measured: the box
  pressed 20 mm by a 5 mm sphere carried 0.4 N refined twice against 2.3 N coarse). Given the
  ``substep``, parents with a child above ``max_ratio`` are left whole (with the red tets next
  to a green parent that has one) and the refinement rebuilt, up to four times.

State (the remap a cut does, :func:`vrmed.systems.tissue.cutting._rebuild`): the old vertices keep
their ids and state; each new vertex (edge midpoint, transition centroid) gets the mean of its
parent vertices' rest point, position, previous position and velocity, i.e. exactly the parent
tet's affine interpolation, so every child has its parent's deformation gradient and a body at
rest stays at rest (only the lumped masses are redistributed: the elastic forces of the refined
mesh are those of the same piecewise-affine field). Pins (a new vertex is pinned if all its
parents are), attachments, slides and added constraints (they index the kept vertices) carry over;
the body is rebuilt by :meth:`SoftBody.from_mesh` (rest matrices, masses, slab order) and the
warm start restarts. An :class:`EmbeddedSurface` is rebound: each surface vertex goes to the
child of its tet that contains its rest point, with new barycentric coordinates.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from vrmed.components.tissue.ligament import LigamentPatch
from vrmed.components.tissue.softbody import EmbeddedSurface, SoftBody
from vrmed.mesh import MeshError
from vrmed.systems.tissue.cutting import _rebuild, _volumes
from vrmed.systems.tissue.solver import WARM_OFF, tet_stiffness_ratios, update_tet_measures
from vrmed.systems.tissue.subdivide import _EDGES, transition_tet

#: Smallest child volume / parent volume a refinement produces: red children 1/8, transition
#: children at least 1/16 (a face's corner triangle, 1/4 of the face, coned to the centroid);
#: checked exhaustively over every subset of split edges and vertex numbering in
#: tests/test_tissue_refine.py.
MIN_VOLUME_FRACTION = 1.0 / 16.0


@dataclass
class Refinement:
    """What :func:`refine_region` did: ``parent`` (stored tet -> stored tet before the call),
    ``red`` (per stored tet: a red child, i.e. of a tet refined into eight), ``green`` (a
    transition tet's child), ``n_red`` / ``n_green`` (parent tets refined red / as transition
    tets), ``n_new_vertices``, ``min_volume_fraction`` (smallest child / parent rest volume; 1
    if nothing was refined) and ``embedding`` (the rebound surface, if one was given)."""

    parent: np.ndarray
    red: np.ndarray
    green: np.ndarray
    n_red: int
    n_green: int
    n_new_vertices: int
    min_volume_fraction: float
    embedding: EmbeddedSurface | None = None
    too_stiff: bool = False


def _red_children(v: tuple[int, ...], mid: dict[tuple[int, int], int], rest: np.ndarray) -> list[tuple[int, ...]]:
    """The eight children of tet ``v`` (global ids) with midpoints ``mid[(min, max)]``: four
    corner tets and the inner octahedron split along its shortest diagonal (Bey 1995)."""

    def m(i: int, j: int) -> int:
        a, b = v[i], v[j]
        return mid[(a, b) if a < b else (b, a)]

    out: list[tuple[int, ...]] = []
    for c in range(4):
        out.append(tuple(v[c] if k == c else m(c, k) for k in range(4)))
    # octahedron vertices: the six midpoints, by the original edge they lie on
    pairs = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    opposite = [((0, 1), (2, 3)), ((0, 2), (1, 3)), ((0, 3), (1, 2))]
    lengths = [float(np.linalg.norm(rest[m(*a)] - rest[m(*b)])) for a, b in opposite]
    a, b = opposite[int(np.argmin(lengths))]
    ring = [e for e in pairs if e not in (a, b)]
    # order the ring cyclically: consecutive midpoints share an original vertex
    cyc = [ring[0]]
    while len(cyc) < 4:
        nxt = next(e for e in ring if e not in cyc and set(e) & set(cyc[-1]))
        cyc.append(nxt)
    for k in range(4):
        out.append((m(*a), m(*b), m(*cyc[k]), m(*cyc[(k + 1) % 4])))
    return out


def _lerp(f: np.ndarray, e0: np.ndarray, e1: np.ndarray, centre_of: np.ndarray) -> np.ndarray:
    """``f`` per vertex, then at the midpoints of the edges (e0, e1) and the centroids of the
    tets ``centre_of``: the parent tets' affine interpolation."""
    return np.concatenate([f, 0.5 * (f[e0] + f[e1]), f[centre_of].mean(axis=1)])


def region_tets(body: SoftBody, centre: np.ndarray, radius: float) -> np.ndarray:
    """Stored tets whose bounding sphere (centroid, farthest vertex) at the current positions
    meets the ball of ``radius`` m around ``centre``."""
    p = body.x[body.tets]
    c = p.mean(axis=1)
    reach = np.linalg.norm(p - c[:, None, :], axis=2).max(axis=1)
    return np.asarray(np.linalg.norm(c - np.asarray(centre, dtype=np.float64), axis=1) <= radius + reach)


def longest_rest_edge(body: SoftBody, tets: np.ndarray | None = None) -> np.ndarray:
    """Longest rest edge (m) of each stored tet (or of the stored tets ``tets``)."""
    t = body.tets if tets is None else body.tets[tets]
    p = body.rest_points
    d = p[t[:, _EDGES[:, 0]]] - p[t[:, _EDGES[:, 1]]]
    return np.asarray(np.sqrt(np.einsum("ijk,ijk->ij", d, d)).max(axis=1))


def refine_region(
    body: SoftBody,
    centre: np.ndarray,
    radius: float,
    emb: EmbeddedSurface | None = None,
    target: float = 0.0,
    eligible: np.ndarray | None = None,
    max_tets: int | None = None,
    substep: float = 0.0,
    max_ratio: float = WARM_OFF,
    min_volume_ratio: float = 0.5,
) -> Refinement:
    """Refine ``body`` in place around ``centre`` (m, current positions): every stored tet whose
    bounding sphere meets the ball of ``radius`` m, whose longest rest edge exceeds ``target``
    m, whose volume ratio (det F) exceeds ``min_volume_ratio`` (a crushed or inverted tet would
    give crushed children) and (if given) that ``eligible`` (bool, stored order) allows is split
    red into eight, and its neighbours are closed green (see the module docstring). With ``emb`` (bound to ``body``)
    the result's ``embedding`` is that surface rebound to the refined body (``emb`` itself is
    not changed). Nothing to refine, or more than ``max_tets`` tets after it: the body is left
    as it is (``n_red`` 0, ``parent`` the identity). With ``substep`` (s, the solver's), the
    parents of children whose stiffness ratio
    (:func:`~vrmed.systems.tissue.solver.tet_stiffness_ratios`) would exceed ``max_ratio`` are
    left whole (default :data:`~vrmed.systems.tissue.solver.WARM_OFF`: above it the solver keeps
    no warm start for a tet, so a finer tet there answers much softer than the coarse one it
    replaces; the collision trigger uses the stricter ``WARM_FULL``); if none is left,
    ``too_stiff`` is set.
    Raises :class:`MeshError` for a non-positive ``radius``."""
    if not radius > 0:
        raise MeshError(f"refine_region: radius must be > 0 m, got {radius}")
    m, n = body.n_tets, body.n_vertices
    sel = region_tets(body, centre, radius)
    if target > 0:
        sel &= longest_rest_edge(body) > target
    update_tet_measures(body)
    sel &= body.volume_ratio > min_volume_ratio  # an inverted parent would give inverted children
    if eligible is not None:
        sel &= np.asarray(eligible, dtype=bool)
    tets = body.tets
    ident = Refinement(np.arange(m), np.zeros(m, dtype=bool), np.zeros(m, dtype=bool), 0, 0, 0, 1.0, emb)
    if not sel.any():
        return ident
    for _attempt in range(4):  # drop the parents of children too stiff for the solver, rebuild
        ea, eb = tets[:, _EDGES[:, 0]], tets[:, _EDGES[:, 1]]  # (m, 6)
        key = np.minimum(ea, eb) * n + np.maximum(ea, eb)
        split_keys = np.unique(key[sel])
        while True:  # a tet with all six edges split is red too (its octahedron, not 12 cones)
            has = np.isin(key, split_keys)
            full = has.all(axis=1) & ~sel
            if not full.any():
                break
            sel |= full
            split_keys = np.unique(key[sel])
        green = has.any(axis=1) & ~sel
        k = split_keys.size
        mid = {(int(q // n), int(q % n)): n + i for i, q in enumerate(split_keys)}
        e0, e1 = split_keys // n, split_keys % n
        rest = body.rest_points
        rest_mid = np.concatenate([rest, 0.5 * (rest[e0] + rest[e1])])
        subs: list[tuple[int, ...]] = []
        parent: list[int] = []
        is_red: list[bool] = []
        for e in np.flatnonzero(sel).tolist():
            red = _red_children(tuple(tets[e].tolist()), mid, rest_mid)
            subs.extend(red)
            parent.extend([e] * len(red))
            is_red.extend([True] * len(red))
        centred: list[int] = []
        zero = (0, 0, 0, 0)  # no plane: transition_tet picks a face cone or the centroid cone
        for e in np.flatnonzero(green).tolist():
            c = n + k + len(centred)
            closure = transition_tet(tuple(tets[e].tolist()), zero, mid, c)
            if any(c in q for q in closure):
                centred.append(e)
            subs.extend(closure)
            parent.extend([e] * len(closure))
            is_red.extend([False] * len(closure))
        if max_tets is not None and m - int((sel | green).sum()) + len(subs) > max_tets:
            return ident
        centre_of = tets[np.array(centred, dtype=np.int64)].reshape(-1, 4)
        new_rest = _lerp(rest, e0, e1, centre_of)
        sub = np.array(subs, dtype=np.int64).reshape(-1, 4)
        p = new_rest[sub]
        vol = np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), p[:, 3] - p[:, 0])
        flip = vol < 0
        sub[flip, 2], sub[flip, 3] = sub[flip, 3], sub[flip, 2].copy()
        keep = np.flatnonzero(~(sel | green))
        all_tets = np.concatenate([tets[keep], sub])
        all_parent = np.concatenate([keep, np.array(parent, dtype=np.int64)])
        all_red = np.concatenate([np.zeros(keep.size, dtype=bool), np.array(is_red, dtype=bool)])
        all_green = np.concatenate([np.zeros(keep.size, dtype=bool), ~np.array(is_red, dtype=bool)])
        frac = float((np.abs(vol) / 6.0 / _volumes(rest, tets[np.array(parent)])).min())
        # source ids: a child of a refined tet that comes first keeps its parent's id, the others
        # get new ids above the body's largest (as a cut numbers its sub-tets)
        ids = body.tet_index[all_parent].copy()
        first = np.ones(all_parent.size, dtype=bool)
        first[keep.size + 1 :] = all_parent[keep.size + 1 :] != all_parent[keep.size : -1]
        fresh = np.flatnonzero(~first)
        ids[fresh] = int(body.tet_index.max()) + 1 + np.arange(fresh.size)
        pinned = np.concatenate([body.pinned, body.pinned[e0] & body.pinned[e1], body.pinned[centre_of].all(axis=1)])
        x, x_prev, v = (_lerp(f, e0, e1, centre_of) for f in (body.x, body.x_prev, body.v))
        state = (x, x_prev, v, pinned)
        src = np.concatenate([np.arange(n), np.full(new_rest.shape[0] - n, -1, dtype=np.int64)])
        # ligament springs also on the midpoints between two held vertices (cutting._carry_ligaments)
        mids = (e0, e1, np.full(e0.size, 0.5), np.arange(new_rest.shape[0]))
        new = _rebuild(body, new_rest, all_tets, src, np.arange(all_tets.shape[0]), state, mids)
        row = new.tet_index  # stored -> row of all_tets
        new.tet_index = ids[row]
        new.external_force[:n] = body.external_force
        # what the rebuild leaves out: the kept vertices' ids are unchanged, so the attachment,
        # slides and added constraints index the same vertices
        new.attachment, new.slides = body.attachment, body.slides
        new.constraints += [c for c in body.constraints if not isinstance(c, LigamentPatch)]
        new.recover_inversions, new.draw_surface = body.recover_inversions, body.draw_surface
        new._refresh_inv_mass()
        children = np.flatnonzero((all_red | all_green)[row])
        if substep <= 0:
            break
        stiff = children[tet_stiffness_ratios(new, substep)[children] > max_ratio]
        if stiff.size == 0:
            break
        bad = all_parent[row][stiff]
        sel[bad] = False  # red parents with a too-stiff child
        near = np.zeros(n, dtype=bool)  # green parents with one: no red refinement next to them
        near[tets[bad[green[bad]]].ravel()] = True
        sel &= ~near[tets].any(axis=1)
        if not sel.any():
            break
    else:
        sel[:] = False
    if substep > 0 and not sel.any():
        ident.too_stiff = True
        return ident
    out_emb = None
    if emb is not None:
        out_emb = _rebind(emb, new, body.tets, row, all_parent)
    for f in dataclasses.fields(SoftBody):
        setattr(body, f.name, getattr(new, f.name))
    return Refinement(
        parent=all_parent[row],
        red=all_red[row],
        green=all_green[row],
        n_red=int(sel.sum()),
        n_green=int(green.sum()),
        n_new_vertices=int(new_rest.shape[0] - n),
        min_volume_fraction=frac,
        embedding=out_emb,
    )


def _rebind(
    emb: EmbeddedSurface,
    new: SoftBody,
    old_tets: np.ndarray,
    row: np.ndarray,
    all_parent: np.ndarray,
) -> EmbeddedSurface:
    """``emb`` (bound to the body before refinement, stored tets ``old_tets``) rebound to ``new``:
    each surface vertex to the child of its tet that contains its rest point (the one whose
    smallest barycentric coordinate is largest), with that child's barycentric coordinates."""
    parent_stored = all_parent[row]  # per new stored tet: old stored parent
    order = np.argsort(parent_stored, kind="stable")
    counts = np.bincount(parent_stored, minlength=old_tets.shape[0])
    start = np.concatenate([[0], np.cumsum(counts)])
    t_old = emb.tet_index
    # rest point of each surface vertex in its old tet (the rest points of the old vertices are unchanged)
    p = np.einsum("vk,vkc->vc", emb.bary, new.rest_points[old_tets[t_old]])
    best = np.full(t_old.size, -np.inf)
    tet_new = np.full(t_old.size, -1, dtype=np.int64)
    bary_new = emb.bary.copy()
    for j in range(int(counts.max())):
        has = counts[t_old] > j
        vs = np.flatnonzero(has)
        child = order[start[t_old[vs]] + j]
        q = new.rest_points[new.tets[child]]
        lam = np.einsum("vij,vj->vi", new.dm_inv[child], p[vs] - q[:, 0])
        b = np.concatenate([1.0 - lam.sum(axis=1, keepdims=True), lam], axis=1)
        score = b.min(axis=1)
        better = score > best[vs]
        best[vs[better]] = score[better]
        tet_new[vs[better]] = child[better]
        bary_new[vs[better]] = b[better]
    return EmbeddedSurface(
        triangles=emb.triangles.copy(),
        tet_index=np.ascontiguousarray(tet_new),
        bary=np.ascontiguousarray(bary_new),
        positions=emb.positions.copy(),
        normals=emb.normals.copy(),
        outside_distance=emb.outside_distance.copy(),
    )
