"""Visual embedding: a fine render surface that follows a coarse simulated tet mesh.

Each surface vertex is bound once, at load, to the tet containing it (or the nearest one, for
vertices slightly outside) by barycentric coordinates; every frame the positions are
interpolated from the tet vertices and the normals recomputed, into preallocated arrays the
renderer can upload directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vrmed.components.tissue.softbody import EmbeddedSurface, SoftBody
from vrmed.mesh import SurfaceMesh
from vrmed.systems.tissue import embedding_kernels as K

if TYPE_CHECKING:  # pragma: no cover
    from vrmed.app import App

__all__ = ["EmbeddedSurface", "embed_draw_surface", "embed_surface", "embedding_system", "update_embedding"]


def embed_surface(surface: SurfaceMesh, body: SoftBody) -> EmbeddedSurface:
    """Bind ``surface`` to ``body`` in its rest shape (both in the same frame and units)."""
    pts = np.ascontiguousarray(surface.points, dtype=np.float64)
    n = len(pts)
    tet_index = np.empty(n, dtype=np.int64)
    bary = np.empty((n, 4))
    K.locate(pts, body.rest_points, body.tets, tet_index, bary)
    emb = EmbeddedSurface(
        triangles=np.ascontiguousarray(surface.triangles, dtype=np.int64),
        tet_index=tet_index,
        bary=bary,
        positions=np.empty((n, 3)),
        normals=np.empty((n, 3)),
        outside_distance=np.zeros(n),
    )
    K.interpolate(body.rest_points, body.tets, tet_index, bary, emb.positions)
    # distance outside: how far the closest point of the tet is, approximated by the negative
    # barycentric times the tet's size (exact enough for a sanity report)
    size = np.cbrt(body.rest_volume[tet_index] * 6.0)
    emb.outside_distance[:] = np.maximum(0.0, -bary.min(axis=1)) * size
    K.vertex_normals(emb.positions, emb.triangles, emb.normals)
    return emb


def embed_draw_surface(app: App, entity: int, body: SoftBody) -> None:
    """Give ``entity`` an :class:`EmbeddedSurface` of ``body.draw_surface`` (a remeshed mesh
    file's own boundary), unless it already has an embedded surface; the field is consumed
    (set to None), so this runs once per body, at its first physics tick.

    Why: a body loaded with ``remesh:`` simulates lattice tets whose boundary is a stepped
    outline of the organ; drawing the file's boundary embedded in them is what SOFA's sparse
    grid does (Nesme et al. 2009, docs/physics.md "Lattice remesh at load")."""
    surface, body.draw_surface = body.draw_surface, None
    if surface is None or app.try_get(entity, EmbeddedSurface) is not None:
        return
    emb = embed_surface(surface, body)
    update_embedding(emb, body)  # drawn where the body is now, not at rest
    app.commands.add_component(entity, emb)  # at the stage boundary, before this frame is drawn


def update_embedding(emb: EmbeddedSurface, body: SoftBody) -> None:
    """Move the surface with the body's current positions and recompute its normals (no allocation)."""
    K.interpolate(body.x, body.tets, emb.tet_index, emb.bary, emb.positions)
    K.vertex_normals(emb.positions, emb.triangles, emb.normals)


def embedding_system(app) -> None:
    """Render-prepare system: move every EmbeddedSurface with the SoftBody on the same entity."""
    for _entity, (body, emb) in app.query(SoftBody, EmbeddedSurface):
        update_embedding(emb, body)
