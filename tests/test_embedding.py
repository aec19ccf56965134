"""Visual embedding of a fine surface in a tet mesh (vrmed.systems.tissue.embedding)."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from vrmed.benchmarks import mesh_path
from vrmed.components.tissue.softbody import Material, SoftBody
from vrmed.mesh import SurfaceMesh, load_surface_mesh, load_tet_mesh, tetrahedralize
from vrmed.systems.tissue.embedding import embed_surface, update_embedding
from vrmed.systems.tissue.solver import step_softbody

MESHES = mesh_path("liver.msh").parent  # the SOFA meshes shipped in benchmarks/meshes/


@pytest.fixture(scope="module")
def sphere():
    coarse = trimesh.creation.icosphere(subdivisions=1, radius=0.05)
    fine = trimesh.creation.icosphere(subdivisions=3, radius=0.049)
    body = SoftBody.from_mesh(tetrahedralize(SurfaceMesh(coarse.vertices, coarse.faces)), Material(3e4, 0.45, 1000.0))
    return body, SurfaceMesh(fine.vertices, fine.faces)


def test_rest_binding_reproduces_the_surface_and_radial_normals(sphere) -> None:
    body, surface = sphere
    emb = embed_surface(surface, body)
    np.testing.assert_allclose(emb.positions, surface.points, atol=1e-14)
    radial = surface.points / np.linalg.norm(surface.points, axis=1, keepdims=True)
    cosang = np.einsum("ij,ij->i", emb.normals, radial)
    assert cosang.min() > np.cos(np.radians(5.0))  # outward, within 5 degrees of the sphere normal


def test_affine_motion_of_the_tets_moves_the_surface_affinely(sphere) -> None:
    body, surface = sphere
    emb = embed_surface(surface, body)
    rng = np.random.default_rng(0)
    A = np.eye(3) + rng.normal(0.0, 0.2, (3, 3))
    c = np.array([0.1, -0.2, 0.3])
    body.x[:] = body.rest_points @ A.T + c
    try:
        update_embedding(emb, body)
    finally:
        body.reset()
    expected = surface.points @ A.T + c  # barycentric interpolation is exact for affine maps
    np.testing.assert_allclose(emb.positions, expected, atol=1e-12)
    # normals of an affinely mapped surface: cofactor(A) n, renormalised (area weighting kept)
    tri = surface.triangles
    p = expected[tri]
    fn = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    vn = np.zeros_like(expected)
    for k in range(3):
        np.add.at(vn, tri[:, k], fn)
    vn /= np.linalg.norm(vn, axis=1, keepdims=True)
    np.testing.assert_allclose(emb.normals, vn, atol=1e-10)


def test_liver_smooth_surface_follows_the_simulated_liver() -> None:
    tets = load_tet_mesh(MESHES / "liver.msh", scale=0.03)  # ~19 cm across: a human liver, in metres
    surface = load_surface_mesh(MESHES / "liver-smooth.obj", scale=0.03)
    top = np.flatnonzero(tets.points[:, 1] > np.quantile(tets.points[:, 1], 0.9))
    body = SoftBody.from_mesh(tets, Material(1e4, 0.45, 1060.0, damping=0.005), pins=top)
    emb = embed_surface(surface, body)
    assert emb.outside_distance.max() < 0.01  # the visual surface hugs the tet mesh (< 1 cm)
    rest = emb.positions.copy()
    positions, normals = emb.positions, emb.normals
    for _ in range(20):
        step_softbody(body, 1 / 90, 10)
        update_embedding(emb, body)
    assert emb.positions is positions and emb.normals is normals  # updated in place
    assert np.all(np.isfinite(emb.positions))
    np.testing.assert_allclose(np.linalg.norm(emb.normals, axis=1), 1.0, atol=1e-12)
    sag = (emb.positions - rest)[:, 1]  # y-up
    assert sag.min() < -1e-4  # it sags under gravity ...
    np.testing.assert_allclose(
        emb.positions, np.einsum("nk,nkj->nj", emb.bary, body.x[body.tets[emb.tet_index]]), atol=1e-15
    )


def test_point_to_tet_distance_is_exact_in_every_voronoi_region() -> None:
    # the unit corner tet (0, e_x, e_y, e_z): inside -> 0; beyond the slanted face (x + y + z = 1)
    # -> (s - 1) / sqrt 3; beyond an axis face, an edge and a vertex -> the analytic distances;
    # the nearest of two tets (one shifted 3 m along x) is the one the point is nearer to
    from vrmed.systems.tissue import embedding_kernels as EK

    x = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1.0]])
    x = np.concatenate([x, x + [3.0, 0, 0]])
    tets = np.array([[0, 1, 2, 3], [4, 5, 6, 7]])
    pts = np.array(
        [
            [0.1, 0.1, 0.1],  # inside
            [0.5, 0.5, 0.5],  # over the slanted face: (1.5 - 1) / sqrt 3
            [0.2, 0.3, -0.4],  # under the z = 0 face: 0.4
            [0.5, -0.3, -0.4],  # beside the x edge: hypot(0.3, 0.4) = 0.5
            [-0.3, -0.4, -1.2],  # beyond the origin vertex: 1.3
            [2.2, 0.0, 0.0],  # between the tets: 1.2 from the first's vertex e_x, 0.8 from the second's origin
        ]
    )
    want = [0.0, 0.5 / np.sqrt(3.0), 0.4, 0.5, 1.3]
    d = np.empty(len(pts) - 1)
    EK.tet_distance(pts[:-1], x, tets, np.zeros(len(pts) - 1, dtype=np.int64), d)
    np.testing.assert_allclose(d, want, atol=1e-14)
    t = np.empty(len(pts), dtype=np.int64)
    dn = np.empty(len(pts))
    EK.locate_nearest(pts, x, tets, np.array([0, 1]), t, dn)
    np.testing.assert_allclose(dn, [*want, 0.8], atol=1e-14)
    assert t.tolist() == [0, 0, 0, 0, 0, 1]
