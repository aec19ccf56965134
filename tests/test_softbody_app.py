"""SoftBodyPlugin on an App: the physics stage steps bodies exactly like step_softbody."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from vrmed.components.tissue.softbody import EmbeddedSurface, Material, SoftBody
from vrmed.mesh import SurfaceMesh, box_tets
from vrmed.systems.tissue.embedding import embed_surface
from vrmed.systems.tissue.solver import SoftBodyPlugin, SoftBodySettings, step_softbody

App = pytest.importorskip("vrmed.app").App


def _body() -> SoftBody:
    mesh = box_tets((0.05, 0.05, 0.1), (2, 2, 4))
    return SoftBody.from_mesh(
        mesh, Material(3.0e4, 0.45, 1000.0, damping=0.002), pins=np.flatnonzero(mesh.points[:, 2] < 1e-12)
    )


def test_plugin_steps_bodies_at_the_physics_rate() -> None:
    with App(seed=0) as app:
        app.add_plugin(SoftBodyPlugin())
        assert app.component_types["SoftBody"] is SoftBody
        body = _body()
        app.spawn(body)
        app.step(frames=9)
        reference = _body()
        g = app.resource(SoftBodySettings).gravity
        for _ in range(90):  # 9 frames x 10 physics ticks, one substep each
            step_softbody(reference, 1.0 / 900.0, 1, g)
        np.testing.assert_allclose(body.x, reference.x, rtol=0, atol=1e-15)
        assert not np.allclose(body.x, body.rest_points, atol=1e-6)  # it sagged under gravity


def test_plugin_updates_embedded_surfaces_each_frame() -> None:
    with App(seed=0) as app:
        app.add_plugin(SoftBodyPlugin())
        body = _body()
        box = trimesh.creation.box(extents=(0.04, 0.04, 0.08))
        box.apply_translation((0.025, 0.025, 0.045))
        emb = embed_surface(SurfaceMesh(box.vertices, box.faces), body)
        assert isinstance(emb, EmbeddedSurface)
        app.spawn(body, emb)
        app.step(frames=5)
        expected = np.einsum("nk,nkj->nj", emb.bary, body.x[body.tets[emb.tet_index]])
        np.testing.assert_allclose(emb.positions, expected, atol=1e-15)
        assert not np.allclose(emb.positions, box.vertices, atol=1e-7)
