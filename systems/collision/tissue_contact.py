"""Tissue-tissue contact and self-contact, solved inside the XPBD substep.

Every SoftBody entity with a :class:`~vrmed.components.collision.tissue_contact.TissueContact`
collides with every other such body (vertex of one against triangles of the other, both ways),
and with itself when ``self_contact`` is set. The system ``collision.tissue`` runs in
``physics.solve`` after ``softbody.solve`` and before the tool contacts (``collision.resolve``,
kinematic tools have the last word), once per physics tick, i.e. once per XPBD substep at the
default settings (``SimSettings.substeps_per_tick`` = 1), exactly like the tool contacts
(:mod:`vrmed.systems.collision.system`): the projection moves positions and adds ``dx / h`` to
the velocities the solve has just set, which is what projecting before the solver's ``v = (x -
x_prev) / h`` would have given. Kernels: :mod:`vrmed.systems.collision.surface_kernels`.

Each body's boundary surface is extracted as for the tool contacts (rebuilt after a cut), its
spatial-hash grid is sized from its surface vertex count when the surface is built, and the
candidate-pair buffer grows (doubling) only when a tick finds more pairs than ever before, so
ticks allocate nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from vrmed.components.collision.tissue_contact import TissueContact
from vrmed.components.tissue.softbody import SoftBody
from vrmed.settings import SimSettings
from vrmed.systems.collision import kernels as CK
from vrmed.systems.collision import surface_kernels as SK

if TYPE_CHECKING:  # pragma: no cover
    from vrmed.app import App


@dataclass(eq=False)
class ContactGrid:
    """One body's boundary surface (``faces`` wound outwards, ``verts``, the vertex -> faces map
    ``vf_ptr``/``vf_idx``, for ``tets_ref``) and the spatial-hash grid of its vertices (all
    arrays sized at build)."""

    tets_ref: np.ndarray
    faces: np.ndarray
    verts: np.ndarray
    vf_ptr: np.ndarray
    vf_idx: np.ndarray
    inv_cell: float
    keys: np.ndarray
    cell_start: np.ndarray
    cell_items: np.ndarray
    cursor: np.ndarray
    bbox: np.ndarray
    stamp: np.ndarray
    counter: np.ndarray
    #: self-contact exclusions: per vertex (CSR over all vertices) the sorted faces within
    #: ``excl_reach`` of it at rest, built on first use with that reach
    excl_ptr: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    excl_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    excl_reach: float = -1.0

    def exclusions(self, body: SoftBody, reach: float) -> None:
        """Build the self-contact exclusions: the (vertex, face) pairs within ``reach`` at rest
        (found by the same broad phase on the rest shape; one-off, allocates)."""
        rest = np.ascontiguousarray(body.rest_points)
        table = self.cursor.shape[0]
        cell_start, cursor = np.zeros(table + 1, dtype=np.int64), np.zeros(table, dtype=np.int64)
        items, keys, bbox = np.zeros_like(self.cell_items), np.zeros_like(self.keys), np.zeros(6)
        SK.build_grid(rest, self.verts, self.inv_cell, keys, cell_start, items, cursor, bbox)
        size = 4 * max(len(self.faces), 1)
        while True:
            out_v, out_f = np.zeros(size, dtype=np.int64), np.zeros(size, dtype=np.int64)
            n = SK.collect_pairs(
                rest, self.verts, self.inv_cell, cell_start, items, bbox, np.zeros_like(self.stamp),
                np.zeros(1, dtype=np.int64), rest, self.faces, reach, False, self.excl_ptr, self.excl_idx,
                self.faces, self.vf_ptr, self.vf_idx, out_v, out_f,
            )  # fmt: skip
            if n <= size:
                break
            size = int(n)
        order = np.lexsort((out_f[:n], out_v[:n]))
        self.excl_idx = np.ascontiguousarray(out_f[:n][order])
        counts = np.bincount(out_v[:n], minlength=len(rest))
        self.excl_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.excl_reach = reach

    @classmethod
    def build(cls, body: SoftBody) -> ContactGrid:
        """Boundary of ``body`` (as the tool contacts', :func:`kernels.boundary_faces`); cell = the
        surface's mean rest edge (Teschner et al. 2003); table = the power of two at or above twice
        the surface vertex count."""
        faces, _face_tet = CK.boundary_faces(body.rest_points, body.tets)
        verts, ptr, idx = CK.vertex_faces(faces, body.n_vertices)
        nv = max(int(verts.shape[0]), 1)
        p = body.rest_points
        if len(faces):
            f = faces
            e = np.concatenate([p[f[:, 1]] - p[f[:, 0]], p[f[:, 2]] - p[f[:, 1]], p[f[:, 0]] - p[f[:, 2]]])
            cell = float(np.sqrt(np.einsum("ij,ij->i", e, e)).mean())
        else:
            cell = 1.0
        table = 1 << int(np.ceil(np.log2(2 * nv)))
        return cls(
            tets_ref=body.tets,
            faces=faces,
            verts=verts,
            vf_ptr=ptr,
            vf_idx=idx,
            inv_cell=1.0 / max(cell, 1e-6),
            keys=np.zeros(nv, dtype=np.int64),
            cell_start=np.zeros(table + 1, dtype=np.int64),
            cell_items=np.zeros(nv, dtype=np.int64),
            cursor=np.zeros(table, dtype=np.int64),
            bbox=np.zeros(6),
            stamp=np.zeros(nv, dtype=np.int64),
            counter=np.zeros(1, dtype=np.int64),
        )


@dataclass(frozen=True)
class TissueContactSettings:
    """Gauss-Seidel passes over the tissue-tissue contacts per tick and the depth (m) below which
    they stop early (the collision plugin passes its ``CollisionSettings`` values)."""

    iterations: int = 8
    tolerance: float = 1e-5


@dataclass
class TissueContactWorld:
    """Resource: per-body grids, the shared candidate-pair buffer and the last tick's results.

    ``force[entity]``: net contact force (N) on that body from the other bodies (self-contact
    forces cancel in it); ``pair_force[(a, b)]``: force on ``a`` from ``b``; ``contacts[entity]``:
    vertex-triangle contacts the body took part in; ``depth[entity]``: deepest penetration
    below the thickness found before projection (m), all of the last physics tick.
    """

    grids: dict[int, ContactGrid] = field(default_factory=dict)
    settings: TissueContactSettings = field(default_factory=lambda: TissueContactSettings())
    pair_v: np.ndarray = field(default_factory=lambda: np.zeros(1024, dtype=np.int64))
    pair_f: np.ndarray = field(default_factory=lambda: np.zeros(1024, dtype=np.int64))
    scratch: np.ndarray = field(default_factory=lambda: np.zeros((2, 3)))
    force: dict[int, np.ndarray] = field(default_factory=dict)
    pair_force: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    contacts: dict[int, int] = field(default_factory=dict)
    depth: dict[int, float] = field(default_factory=dict)

    def grid(self, entity: int, body: SoftBody) -> ContactGrid:
        """The surface and grid of ``entity`` (built on first use and after a cut replaced the
        body's tets)."""
        g = self.grids.get(entity)
        if g is None or g.tets_ref is not body.tets:
            g = self.grids[entity] = ContactGrid.build(body)
        return g

    def _collect(
        self,
        bv: SoftBody,
        gv: ContactGrid,
        bt: SoftBody,
        gt: ContactGrid,
        reach: float,
        self_contact: bool,
    ) -> int:
        """Candidate pairs of V's vertices and T's faces into the pair buffer (grown if full)."""
        while True:
            n = SK.collect_pairs(
                bv.x,
                gv.verts,
                gv.inv_cell,
                gv.cell_start,
                gv.cell_items,
                gv.bbox,
                gv.stamp,
                gv.counter,
                bt.x,
                gt.faces,
                reach,
                self_contact,
                gv.excl_ptr,
                gv.excl_idx,
                gv.faces,
                gv.vf_ptr,
                gv.vf_idx,
                self.pair_v,
                self.pair_f,
            )
            if n <= self.pair_v.shape[0]:
                return int(n)
            size = 1 << int(np.ceil(np.log2(n)))  # rare: grow to the next power of two and redo
            self.pair_v = np.zeros(size, dtype=np.int64)
            self.pair_f = np.zeros(size, dtype=np.int64)


def _accumulate(world: TissueContactWorld, a: int, b: int, f: np.ndarray) -> None:
    """Add force ``f`` on ``a`` from ``b`` (and minus it on ``b``)."""
    if a == b:
        return
    world.force[a] += f
    world.force[b] -= f
    world.pair_force.setdefault((a, b), np.zeros(3))[:] += f
    world.pair_force.setdefault((b, a), np.zeros(3))[:] -= f


def tissue_contact_system(app: App) -> None:
    """physics.solve (after softbody.solve, before collision.resolve): tissue-tissue and
    self-contact of the bodies with a :class:`TissueContact`."""
    tcw = app.resource(TissueContactWorld)
    for f in tcw.force.values():
        f.fill(0.0)
    for f in tcw.pair_force.values():
        f.fill(0.0)
    tcw.contacts.clear()
    tcw.depth.clear()
    rows = app.query(SoftBody, TissueContact)
    if len(tcw.grids) > len(rows):  # forget the grids of despawned bodies
        live = {e for e, _ in rows}
        for gone in [e for e in tcw.grids if e not in live]:
            del tcw.grids[gone]
    if not rows or (len(rows) == 1 and not rows[0][1][1].self_contact):
        return
    solve_tissue_contacts(tcw, rows, float(app.resource(SimSettings).h))  # h: the tissue solve's substep


def solve_tissue_contacts(
    tcw: TissueContactWorld, rows: list[tuple[int, tuple[SoftBody, TissueContact]]], h: float
) -> None:
    """One tick of tissue-tissue and self-contact for ``rows`` (``(entity, (body, contact))``, as
    ``app.query(SoftBody, TissueContact)`` gives them) after a tissue substep of ``h`` seconds;
    the system's body, callable without an App (the benchmark rows step a body substep by
    substep with it: ``vrmed.benchmarks.tissue.raptor_liver_row``)."""
    settings = tcw.settings
    grids = []
    for entity, (body, _tc) in rows:
        g = tcw.grid(entity, body)
        SK.build_grid(body.x, g.verts, g.inv_cell, g.keys, g.cell_start, g.cell_items, g.cursor, g.bbox)
        grids.append(g)
        tcw.force.setdefault(entity, np.zeros(3))
    for iv, (ev, (bv, cv)) in enumerate(rows):
        for it, (et, (bt, ct)) in enumerate(rows):
            same = iv == it
            if same and not cv.self_contact:
                continue
            thickness = max(cv.thickness, ct.thickness)
            max_depth = min(cv.max_depth, ct.max_depth)
            # pairs are gathered once per tick: half a thickness of slack for the projection's moves;
            # self-contact tells sides by the substep's start (x_prev), so it needs no depth window
            # beyond the thickness (its broad phase over the body's own surface costs about the
            # square of the reach)
            reach = (thickness if same else max(thickness, max_depth)) + 0.5 * thickness
            if same and grids[iv].excl_reach != reach:
                grids[iv].exclusions(bv, reach)  # once per body (and after a cut)
            n = tcw._collect(bv, grids[iv], bt, grids[it], reach, same)
            if n == 0:
                continue
            tcw.scratch.fill(0.0)
            count, depth = SK.solve_pairs(
                bv.x,
                bv.v,
                bv.x_prev,
                bv.inv_mass,
                bt.x,
                bt.v,
                bt.x_prev,
                bt.inv_mass,
                grids[it].faces,
                tcw.pair_v,
                tcw.pair_f,
                n,
                thickness,
                max_depth,
                min(cv.friction, ct.friction),
                h,
                settings.iterations,
                settings.tolerance,
                same,
                tcw.scratch,
            )
            if count:
                _accumulate(tcw, ev, et, tcw.scratch[0])
                for e in (ev,) if same else (ev, et):
                    tcw.contacts[e] = tcw.contacts.get(e, 0) + int(count)
                    tcw.depth[e] = max(tcw.depth.get(e, 0.0), float(depth))
