"""A body loaded with ``remesh:`` draws the mesh file's own boundary (``TetMesh.surface``), not
the lattice's stepped outline: the tissue plugin embeds it at spawn (docs/physics.md, "Lattice
remesh at load"), unless the entity brings an embedded surface of its own."""

from __future__ import annotations

import numpy as np

from vrmed import App
from vrmed.benchmarks import mesh_path
from vrmed.components.tissue.softbody import EmbeddedSurface, Material, SoftBody, SoftBodySpec
from vrmed.fields import AssetPath
from vrmed.mesh import SurfaceMesh, load_tet_mesh
from vrmed.systems.tissue.embedding import embed_surface
from vrmed.systems.tissue.solver import SoftBodyPlugin, SoftBodySettings

LIVER = Material(5.4e3, 0.45, 1060.0, damping=0.002)
# the SOFA liver as tests/test_tissue_robustness.py loads it remeshed: 10 mm cubes keep it small
SPEC = dict(mesh=AssetPath(mesh_path("liver.msh")), scale=0.02, remesh=0.01, material=LIVER)
OFFSET = np.array([0.1, 0.2, -0.05])


def test_a_remeshed_body_draws_the_file_boundary_and_it_moves_with_the_body() -> None:
    spec = SoftBodySpec(**SPEC, offset=OFFSET.copy())  # type: ignore[arg-type]
    body = SoftBody.from_spec(spec)
    file_surface = load_tet_mesh(spec.mesh, spec.scale, remesh=spec.remesh).surface
    assert file_surface is not None
    app = App(seed=0)
    app.add_plugin(SoftBodyPlugin(SoftBodySettings(gravity=np.zeros(3))))
    ent = app.spawn(body)
    app.step(1)
    emb = app.get(ent, EmbeddedSurface)
    # the file's boundary (placed at the offset), not the lattice's
    assert len(emb.positions) == len(file_surface.points)
    assert np.array_equal(emb.triangles, file_surface.triangles)
    assert np.allclose(emb.positions, file_surface.points + OFFSET, atol=1e-9)  # nothing moved yet
    assert float(emb.outside_distance.max()) < 0.01  # every vertex within a cube of the lattice
    # a rigid shift of the body moves the drawn surface with it
    shift = np.array([0.0, 0.03, 0.0])
    body.x += shift
    body.x_prev += shift
    app.step(1)
    assert np.allclose(emb.positions, file_surface.points + OFFSET + shift, atol=1e-9)
    app.close()


def test_an_entity_with_its_own_embedded_surface_keeps_it() -> None:
    body = SoftBody.from_spec(SoftBodySpec(**SPEC))  # type: ignore[arg-type]
    tri = SurfaceMesh(points=body.rest_points[:3].copy(), triangles=np.array([[0, 1, 2]]))
    own = embed_surface(tri, body)
    app = App(seed=0)
    app.add_plugin(SoftBodyPlugin(SoftBodySettings(gravity=np.zeros(3))))
    ent = app.spawn(body, own)
    app.step(1)
    assert app.get(ent, EmbeddedSurface) is own
    assert len(own.positions) == 3
    app.close()
