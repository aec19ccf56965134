"""The instruments feature's drawing: tools as capsules and tissue boundary surfaces.

The only instruments module that imports the renderer's data types; it queues nothing when
no renderer is present.
"""

from __future__ import annotations

import numpy as np

from vrmed.app import App
from vrmed.components.instruments.instrument import Instrument
from vrmed.components.tissue.softbody import EmbeddedSurface, SoftBody
from vrmed.render.drawlist import DrawList
from vrmed.systems.collision.system import CollisionWorld

from .system import InstrumentWorld, tool_capsules

#: linear RGBA of drawn instruments (steel)
TOOL_COLOR = (0.62, 0.64, 0.68, 1.0)


def instruments_draw_system(app: App) -> None:
    """render.prepare: queue every instrument (shaft and jaws as capsules) and the boundary
    surface of every SoftBody that has no EmbeddedSurface of its own (with per-vertex burn
    from cautery, and following cuts) into the renderer's DrawList, if there is one."""
    draws = app.try_resource(DrawList)
    if draws is None:
        return
    world = app.resource(InstrumentWorld)
    a, b, r = [], [], []
    for entity, inst in sorted(app.query(Instrument), key=lambda e: e[0]):
        if entity in world.tools:
            for a0, b0, r0 in tool_capsules(world, entity, inst):
                a.append(a0)
                b.append(b0)
                r.append(r0)
    if a:
        draws.add_capsules(np.array(a), np.array(b), np.array(r), TOOL_COLOR, roughness=0.25)
    cworld = app.resource(CollisionWorld)
    for entity, body in app.query(SoftBody):
        if app.try_get(entity, EmbeddedSurface) is not None:
            continue
        surf = cworld.surface(entity, body)
        p = body.x
        fn = np.cross(p[surf.faces[:, 1]] - p[surf.faces[:, 0]], p[surf.faces[:, 2]] - p[surf.faces[:, 0]])
        normals = np.zeros_like(p)
        for k in range(3):
            np.add.at(normals, surf.faces[:, k], fn)
        normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-30)
        burn = None
        marks = world.burned.get(entity)
        if marks is not None:
            ids = body.tet_index[surf.face_tet]
            face_burn = (ids < marks.size) & marks[np.minimum(ids, marks.size - 1)]
            burn = np.zeros(len(p))
            for k in range(3):
                np.maximum.at(burn, surf.faces[:, k], face_burn.astype(float))
        draws.add_surface(("vrmed.tissue", entity), p, surf.faces, normals=normals, burn=burn)
