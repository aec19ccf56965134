"""Hostile meshes: every reader path either loads a valid mesh or raises one MeshError, fast.

Small valid seed files of each format (VTK POLYDATA ASCII and binary, VTK unstructured
grid, VTU, Gmsh v1 and v2, OBJ) are damaged by hypothesis (truncation, byte flips,
inserted text, counts replaced by -1, 0, huge numbers or text), plus a fixed list of
hostile headers. A loaded mesh must have finite coordinates and in-range indices; any
other exception is a failure, and so is a case taking more than a second of CPU time (a hang on a
header such as a VTK polygon size of -1 once looped 10^9 times)."""

from __future__ import annotations

import re
import struct
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vrmed.mesh import MeshError, load_surface_mesh, load_tet_mesh
from vrmed.mesh.io import load_gltf

PTS = [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 1)]
TETS = [(0, 1, 2, 3), (1, 2, 3, 4)]
TRIS = [(0, 2, 1), (0, 1, 3), (0, 3, 2), (1, 2, 3)]


def _vtk_poly_ascii() -> bytes:
    lines = ["# vtk DataFile Version 3.0", "fuzz", "ASCII", "DATASET POLYDATA", f"POINTS {len(PTS)} float"]
    lines += [" ".join(map(str, p)) for p in PTS]
    lines += [f"POLYGONS {len(TRIS)} {4 * len(TRIS)}"] + [f"3 {a} {b} {c}" for a, b, c in TRIS]
    return ("\n".join(lines) + "\n").encode()


def _vtk_poly_binary() -> bytes:
    head = f"# vtk DataFile Version 3.0\nfuzz\nBINARY\nDATASET POLYDATA\nPOINTS {len(PTS)} float\n".encode()
    pts = struct.pack(f">{3 * len(PTS)}f", *[c for p in PTS for c in p])
    conn = struct.pack(f">{4 * len(TRIS)}i", *[v for t in TRIS for v in (3, *t)])
    return head + pts + f"\nPOLYGONS {len(TRIS)} {4 * len(TRIS)}\n".encode() + conn + b"\n"


def _vtk_grid() -> bytes:
    lines = ["# vtk DataFile Version 3.0", "fuzz", "ASCII", "DATASET UNSTRUCTURED_GRID", f"POINTS {len(PTS)} double"]
    lines += [" ".join(map(str, p)) for p in PTS]
    lines += [f"CELLS {len(TETS)} {5 * len(TETS)}"] + ["4 " + " ".join(map(str, t)) for t in TETS]
    lines += [f"CELL_TYPES {len(TETS)}"] + ["10"] * len(TETS)
    return ("\n".join(lines) + "\n").encode()


def _vtu() -> bytes:
    pts = " ".join(str(c) for p in PTS for c in p)
    conn = " ".join(str(v) for t in TETS for v in t)
    return f"""<?xml version="1.0"?>
<VTKFile type="UnstructuredGrid" version="0.1" byte_order="LittleEndian">
<UnstructuredGrid><Piece NumberOfPoints="{len(PTS)}" NumberOfCells="{len(TETS)}">
<Points><DataArray type="Float64" NumberOfComponents="3" format="ascii">{pts}</DataArray></Points>
<Cells><DataArray type="Int64" Name="connectivity" format="ascii">{conn}</DataArray>
<DataArray type="Int64" Name="offsets" format="ascii">4 8</DataArray>
<DataArray type="UInt8" Name="types" format="ascii">10 10</DataArray></Cells>
</Piece></UnstructuredGrid></VTKFile>
""".encode()


def _gmsh1() -> bytes:
    lines = ["$NOD", str(len(PTS))] + [f"{i + 1} {x} {y} {z}" for i, (x, y, z) in enumerate(PTS)] + ["$ENDNOD"]
    lines += ["$ELM", str(len(TETS))] + [
        f"{i + 1} 4 1 1 4 " + " ".join(str(v + 1) for v in t) for i, t in enumerate(TETS)
    ]
    return ("\n".join(lines + ["$ENDELM"]) + "\n").encode()


def _gmsh2() -> bytes:
    lines = ["$MeshFormat", "2.2 0 8", "$EndMeshFormat", "$Nodes", str(len(PTS))]
    lines += [f"{i + 1} {x} {y} {z}" for i, (x, y, z) in enumerate(PTS)] + ["$EndNodes", "$Elements", str(len(TETS))]
    lines += [f"{i + 1} 4 2 1 1 " + " ".join(str(v + 1) for v in t) for i, t in enumerate(TETS)] + ["$EndElements"]
    return ("\n".join(lines) + "\n").encode()


def _obj() -> bytes:
    lines = [f"v {x} {y} {z}" for x, y, z in PTS] + [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in TRIS]
    return ("\n".join(lines) + "\n").encode()


def _glb() -> bytes:
    import trimesh  # the reference GLB writer; vrmed only reads glTF

    return trimesh.Trimesh(vertices=np.array(PTS, float), faces=np.array(TRIS)).export(file_type="glb")


#: (file name, seed bytes, loader)
SEEDS = {
    "poly_ascii": ("s.vtk", _vtk_poly_ascii(), load_surface_mesh),
    "poly_binary": ("s.vtk", _vtk_poly_binary(), load_surface_mesh),
    "grid": ("t.vtk", _vtk_grid(), load_tet_mesh),
    "vtu": ("t.vtu", _vtu(), load_tet_mesh),
    "gmsh1": ("t.msh", _gmsh1(), load_tet_mesh),
    "gmsh2": ("t.msh", _gmsh2(), load_tet_mesh),
    "obj": ("s.obj", _obj(), load_surface_mesh),
    "glb": ("s.glb", _glb(), load_surface_mesh),
    "glb_model": ("m.glb", _glb(), load_gltf),
}
#: Statistics of the run, reported by the last test (inputs, clean errors, loads).
STATS = {"inputs": 0, "clean_errors": 0, "loaded": 0}


def _try(tmp: Path, name: str, data: bytes, loader) -> None:
    path = tmp / name
    path.write_bytes(data)
    STATS["inputs"] += 1
    t0 = time.thread_time()
    try:
        mesh = loader(path)
    except MeshError as exc:
        STATS["clean_errors"] += 1
        assert str(exc).startswith(str(path)), str(exc)  # names the file
    else:
        STATS["loaded"] += 1
        parts = (
            [(p.positions, p.faces) for p in mesh.parts]
            if hasattr(mesh, "parts")
            else [(mesh.points, mesh.tets if hasattr(mesh, "tets") else mesh.triangles)]
        )
        for pts, cells in parts:
            assert np.isfinite(pts).all()
            assert cells.size == 0 or (cells.min() >= 0 and cells.max() < len(pts))
    took = time.thread_time() - t0
    assert took < 1.0, f"{name}: {took:.2f} s on {data[:80]!r}"


@pytest.mark.parametrize("kind", sorted(SEEDS))
def test_seeds_load(kind, tmp_path):
    name, data, loader = SEEDS[kind]
    path = tmp_path / name
    path.write_bytes(data)
    loader(path)


HOSTILE_HEADERS = [
    ("poly_ascii", b"POLYGONS 4 16", b"POLYGONS 4 -1"),
    ("poly_ascii", b"POLYGONS 4 16", b"POLYGONS 1000000000 1000000000"),
    ("poly_ascii", b"3 0 2 1", b"-1 0 2 1"),
    ("poly_ascii", b"3 0 2 1", b"1000000000 0 2 1"),
    ("poly_ascii", b"POINTS 5 float", b"POINTS -1 float"),
    ("poly_ascii", b"POINTS 5 float", b"POINTS 99999999999 float"),
    ("poly_ascii", b"POINTS 5 float", b"POINTS five float"),
    ("poly_ascii", b"POINTS 5 float", b"POINTS 5"),
    ("poly_ascii", b"1 1 1", b"nan 1 1"),
    ("poly_ascii", b"1 1 1", b"inf 1 1"),
    ("poly_ascii", b"3 1 2 3", b"3 1 2 99"),
    ("poly_binary", b"POLYGONS 4 16", b"POLYGONS 4 99999999"),
    ("poly_binary", b"POINTS 5 float", b"POINTS 400000000 float"),
    ("grid", b"CELLS 2 10", b"CELLS 2 -1"),
    ("grid", b"CELLS 2 10", b"CELLS 999999999 999999999"),
    ("grid", b"POINTS 5 double", b"POINTS 999999999 double"),
    ("grid", b"1 1 1", b"nan nan nan"),
    ("vtu", b'NumberOfPoints="5"', b'NumberOfPoints="-1"'),
    ("vtu", b'NumberOfCells="2"', b'NumberOfCells="999999999"'),
    ("gmsh1", b"$NOD\n5", b"$NOD\n-1"),
    ("gmsh1", b"$NOD\n5", b"$NOD\n99999999999"),
    ("gmsh1", b"$ELM\n2", b"$ELM\n99999999"),
    ("gmsh2", b"$Nodes\n5", b"$Nodes\n999999999"),
    ("gmsh2", b"$Elements\n2", b"$Elements\n-5"),
    ("gmsh2", b"1 1 1", b"1 nan 1"),
    ("obj", b"v 1 1 1", b"v nan 1 1"),
    ("obj", b"f 1 3 2", b"f 1 3 99"),
]


@pytest.mark.parametrize("kind, old, new", HOSTILE_HEADERS)
def test_hostile_headers(kind, old, new, tmp_path):
    name, data, loader = SEEDS[kind]
    assert old in data, old
    _try(tmp_path, name, data.replace(old, new, 1), loader)


@st.composite
def damaged(draw):
    kind = draw(st.sampled_from(sorted(SEEDS)))
    name, data, loader = SEEDS[kind]
    how = draw(st.sampled_from(["truncate", "flip", "insert", "count"]))
    if how == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif how == "flip":
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data = data[:i] + bytes([draw(st.integers(0, 255))]) + data[i + 1 :]
    elif how == "insert":
        i = draw(st.integers(0, len(data)))
        data = data[:i] + draw(st.sampled_from([b"-1", b"nan", b"1e309", b"\n", b"x", b"\x00", b"9" * 12])) + data[i:]
    else:
        numbers = list(re.finditer(rb"\d+", data))
        m = numbers[draw(st.integers(0, len(numbers) - 1))]
        value = draw(st.sampled_from([b"-1", b"0", b"2147483648", b"99999999999", b"abc", b"-0", b"1.5"]))
        data = data[: m.start()] + value + data[m.end() :]
    return kind, name, data, loader


@pytest.mark.slow
@settings(
    max_examples=300,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(case=damaged())
def test_damaged_meshes_are_clean_errors(case, tmp_path):
    kind, name, data, loader = case
    _try(tmp_path, name, data, loader)


def test_fuzz_counts():
    """Runs last in this file: the run's counts (printed with -s; every input was a clean
    error or a valid mesh, or an earlier test failed)."""
    print(f"\nmesh fuzz: {STATS}")
    assert STATS["inputs"] >= len(HOSTILE_HEADERS)
