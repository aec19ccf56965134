"""Mesh IO, generators and quality checks (vrmed.mesh) against the SOFA meshes in benchmarks/meshes."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from vrmed.benchmarks import mesh_path
from vrmed.errors import VrmedError
from vrmed.mesh import (
    MeshError,
    SurfaceMesh,
    TetMesh,
    box_tets,
    check_tets,
    cylinder_tets,
    load_surface_mesh,
    load_tet_mesh,
    signed_volumes,
    slab_tets,
    tetrahedralize,
)

MESHES = mesh_path("liver.msh").parent  # the SOFA meshes shipped in benchmarks/meshes/

# (file, nodes, tets) as stated in benchmarks/meshes/README.md; raptor has 2 nodes no tet uses
GOOD_TET_MESHES = [
    ("liver.msh", 181, 596),
    ("liver2.msh", 507, None),
    ("torus2_low_res.msh", 264, None),
    ("truthcylinder1.msh", 642, None),
    ("cylinder_8x30x6.msh", 1446, None),
    ("raptorTetra_19409.vtu", 5990, 19409),
    ("Armadillo_Tetra_4406.vtu", 1446, 4406),
]


@pytest.mark.parametrize("name,nodes,tets", GOOD_TET_MESHES)
def test_real_tet_meshes_load_with_positive_volume(name: str, nodes: int, tets: int | None) -> None:
    mesh = load_tet_mesh(MESHES / name)
    assert mesh.n_points == nodes
    if tets is not None:
        assert mesh.n_tets == tets
    vol = signed_volumes(mesh.points, mesh.tets)
    assert np.all(vol > 0), "loader must hand out positively oriented tets"
    assert check_tets(mesh.points, mesh.tets).ok
    # the tets fill a closed volume: the boundary triangles enclose the summed tet volume
    tri = mesh.boundary_triangles()
    p = mesh.points[tri]
    enclosed = np.einsum("ij,ij->i", p[:, 0], np.cross(p[:, 1], p[:, 2])).sum() / 6.0
    assert enclosed == pytest.approx(vol.sum(), rel=1e-9)


def test_legacy_gmsh_v1_noncontiguous_node_ids_and_scale() -> None:
    # liver2.msh numbers its nodes 2, 9, 17, ...: ids must be mapped, not used as indices
    first = (MESHES / "liver2.msh").read_text().splitlines()[2].split()
    mesh = load_tet_mesh(MESHES / "liver2.msh", scale=0.01)
    assert first[0] == "2"
    np.testing.assert_allclose(mesh.points[0], 0.01 * np.array([float(v) for v in first[1:4]]))


def test_six_tetra_bad_is_rejected_naming_repeated_ids_and_the_inverted_tet() -> None:
    with pytest.raises(MeshError) as err:
        load_tet_mesh(MESHES / "6_tetra_bad.msh")
    msg = str(err.value)
    assert "6_tetra_bad.msh" in msg
    assert "repeated element ids" in msg and "id 44" in msg
    assert "inverted" in msg and "indices 5" in msg
    assert isinstance(err.value, VrmedError)


def test_broken_vtu_reports_declared_versus_stored_counts() -> None:
    with pytest.raises(MeshError) as err:
        load_tet_mesh(MESHES / "Armadillo_Tetra_4406_for_test_broken.vtu")
    msg = str(err.value)
    assert 'NumberOfPoints="1445"' in msg and "1446 points" in msg
    assert 'NumberOfCells="4407"' in msg


def test_broken_vtk_reports_point_count_and_text_mangled_binary() -> None:
    with pytest.raises(MeshError) as err:
        load_surface_mesh(MESHES / "liver_for_test_broken.vtk")
    msg = str(err.value)
    assert "POINTS declares 508 points" in msg
    assert "converted to text" in msg


def test_surface_files_load() -> None:
    obj = load_surface_mesh(MESHES / "liver-smooth.obj")
    assert obj.points.shape == (2194, 3) and obj.triangles.shape == (4384, 3)
    vtk = load_surface_mesh(MESHES / "liver.vtk")
    assert vtk.points.shape == (5008, 3) and vtk.triangles.shape == (10000, 3)
    with pytest.raises(MeshError, match="POLYDATA surface"):
        load_tet_mesh(MESHES / "liver.vtk")


def test_self_intersecting_surface_gives_a_clear_tetgen_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MeshError, match="self-intersections"):
        tetrahedralize(load_surface_mesh(MESHES / "liver-smooth.obj"))
    assert list(tmp_path.iterdir()) == []  # TetGen's _skipped.* dumps are cleaned up


def test_tetrahedralize_without_the_optional_tetgen_says_how_to_get_it(monkeypatch) -> None:
    """TetGen (AGPL C++) is an optional extra: without it the error names the extra and the
    dependency-free alternatives, never a bare ImportError."""
    monkeypatch.setitem(sys.modules, "tetgen", None)  # import tetgen -> ImportError
    with pytest.raises(MeshError, match=r"vrmed\[tetgen\].*lattice_remesh"):
        tetrahedralize(load_surface_mesh(MESHES / "liver-smooth.obj"))


def test_missing_file_and_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(MeshError, match="no such mesh file"):
        load_tet_mesh(tmp_path / "nope.msh")
    bad = tmp_path / "thing.xyz"
    bad.write_text("1 2 3\n")
    with pytest.raises(MeshError, match="unknown volume-mesh extension"):
        load_tet_mesh(bad)


def _write_v1(path: Path, nodes: list[tuple], elems: list[tuple]) -> None:
    lines = ["$NOD", str(len(nodes))] + [" ".join(map(str, n)) for n in nodes] + ["$ENDNOD"]
    lines += ["$ELM", str(len(elems))] + [" ".join(map(str, e)) for e in elems] + ["$ENDELM"]
    path.write_text("\n".join(lines) + "\n")


UNIT_NODES = [(10, 0, 0, 0), (20, 1, 0, 0), (30, 0, 1, 0), (40, 0, 0, 1), (50, 1, 1, 1)]


def test_gmsh_v1_reader_maps_ids_and_reports_bad_lines(tmp_path: Path) -> None:
    good = tmp_path / "good.msh"
    _write_v1(good, UNIT_NODES, [(1, 2, 1, 1, 3, 10, 20, 30), (2, 4, 1, 1, 4, 10, 20, 30, 40)])
    mesh = load_tet_mesh(good)
    assert mesh.n_tets == 1 and mesh.n_points == 4  # node 50 unused -> removed
    assert any("removed 1 nodes" in n for n in mesh.notes)
    assert signed_volumes(mesh.points, mesh.tets)[0] == pytest.approx(1 / 6)

    missing = tmp_path / "missing.msh"
    _write_v1(missing, UNIT_NODES, [(7, 4, 1, 1, 4, 10, 20, 30, 99)])
    with pytest.raises(MeshError, match="element 7 refers to node 99"):
        load_tet_mesh(missing)

    short = tmp_path / "short.msh"
    short.write_text("$NOD\n3\n1 0 0 0\n2 1 0 0\n$ENDNOD\n")
    with pytest.raises(MeshError, match=r"short.msh:\d+: .*node line"):
        load_tet_mesh(short)


def test_inverted_and_degenerate_tets_reported_by_index_and_repairable(tmp_path: Path) -> None:
    path = tmp_path / "mixed.msh"
    _write_v1(
        path,
        UNIT_NODES + [(60, 2, 0, 0), (70, 2, 1, 0), (80, 2, 0, 1), (90, 0.5, 0.5, 0)],
        [
            (1, 4, 1, 1, 4, 10, 20, 30, 40),  # positive
            (2, 4, 1, 1, 4, 20, 60, 70, 80),  # positive
            (3, 4, 1, 1, 4, 20, 30, 60, 50),  # negative -> inverted
            (4, 4, 1, 1, 4, 10, 20, 30, 90),  # flat (all in z=0) -> degenerate
        ],
    )
    with pytest.raises(MeshError) as err:
        load_tet_mesh(path)
    msg = str(err.value)
    assert "degenerate" in msg and "indices 3 (file element ids 4)" in msg
    assert "inverted" in msg and "indices 2 (file element ids 3)" in msg
    mesh = load_tet_mesh(path, fix_inverted=True, drop_degenerate=True)
    assert mesh.n_tets == 3
    assert np.all(signed_volumes(mesh.points, mesh.tets) > 0)


def test_all_negative_orientation_is_a_convention_not_an_error() -> None:
    box = box_tets((1, 1, 1), (2, 1, 1))
    flipped = box.tets[:, [0, 2, 1, 3]]
    from vrmed.mesh.quality import validate_tets

    notes: list[str] = []
    fixed = validate_tets(box.points, flipped, "test", notes=notes)
    assert np.all(signed_volumes(box.points, fixed) > 0)
    assert "negatively oriented" in notes[0]


@pytest.mark.parametrize(
    "mesh,volume",
    [
        (box_tets((0.2, 0.1, 0.05), (4, 3, 2)), 0.2 * 0.1 * 0.05),
        (slab_tets((0.1, 0.08), 0.004, (5, 4), 2), 0.1 * 0.08 * 0.004),
    ],
)
def test_box_and_slab_volume_and_conformity(mesh: TetMesh, volume: float) -> None:
    vol = signed_volumes(mesh.points, mesh.tets)
    assert np.all(vol > 0)
    assert vol.sum() == pytest.approx(volume, rel=1e-12)
    # conforming: boundary faces = exactly the faces on the six box sides
    tri = mesh.boundary_triangles()
    p = mesh.points[tri]
    lo, hi = mesh.points.min(0), mesh.points.max(0)
    on_side = np.zeros(len(tri), bool)
    for a in range(3):
        on_side |= np.all(np.isclose(p[:, :, a], lo[a]), axis=1) | np.all(np.isclose(p[:, :, a], hi[a]), axis=1)
    assert on_side.all()


def test_cylinder_volume_matches_inscribed_polygon_prism() -> None:
    r, length, seg = 0.05, 0.2, 16
    mesh = cylinder_tets(radius=r, length=length, rings=3, segments=seg, layers=6)
    polygon_area = 0.5 * seg * r * r * np.sin(2 * np.pi / seg)
    assert signed_volumes(mesh.points, mesh.tets).sum() == pytest.approx(polygon_area * length, rel=1e-12)
    assert check_tets(mesh.points, mesh.tets).ok
    assert len(mesh.boundary_triangles()) == 2 * (seg * (2 * 3 - 1)) + 2 * seg * 6  # caps + side


def test_tetrahedralize_fills_a_closed_surface() -> None:
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.05)
    mesh = tetrahedralize(SurfaceMesh(sphere.vertices, sphere.faces), max_volume=1e-6)
    vol = signed_volumes(mesh.points, mesh.tets)
    assert np.all(vol > 0)
    assert vol.sum() == pytest.approx(sphere.volume, rel=1e-9)
    assert mesh.n_tets > 100

    open_surface = SurfaceMesh(sphere.vertices, sphere.faces[:-5])
    with pytest.raises(MeshError, match="not closed"):
        tetrahedralize(open_surface)


@pytest.mark.parametrize("suffix", [".stl", ".obj", ".glb", ".ply"])
def test_surface_formats_round_trip_through_trimesh(tmp_path: Path, suffix: str) -> None:
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=1, radius=0.05)
    path = tmp_path / f"sphere{suffix}"
    sphere.export(path)
    surf = load_surface_mesh(path, scale=2.0)
    assert len(surf.triangles) == len(sphere.faces)
    p = surf.points[surf.triangles]
    volume = np.einsum("ij,ij->i", p[:, 0], np.cross(p[:, 1], p[:, 2])).sum() / 6.0
    assert volume == pytest.approx(8.0 * sphere.volume, rel=1e-5)  # scale applies to lengths


def test_gmsh_v2_and_vtu_round_trip_through_meshio(tmp_path: Path) -> None:
    import meshio

    box = box_tets((0.1, 0.1, 0.1), (2, 2, 2))
    for name, fmt in (("box.msh", "gmsh22"), ("box.vtu", "vtu"), ("box.vtk", "vtk")):
        path = tmp_path / name
        meshio.write(path, meshio.Mesh(box.points, [("tetra", box.tets)]), file_format=fmt)
        mesh = load_tet_mesh(path)
        np.testing.assert_allclose(mesh.points, box.points)
        np.testing.assert_array_equal(mesh.tets, box.tets)
