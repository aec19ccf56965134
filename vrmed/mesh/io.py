"""Loading tetrahedral and surface meshes.

meshio reads Gmsh v2/v4, VTK legacy UNSTRUCTURED_GRID and VTK XML; trimesh reads OBJ, STL, PLY,
OFF and glTF/GLB. What they lack is written here: the legacy Gmsh v1 reader
(:mod:`vrmed.mesh.gmsh_legacy`) and a small VTK legacy POLYDATA reader (meshio refuses
POLYDATA, which is what SOFA's ``liver.vtk`` is). Every failure raises :class:`MeshError`
naming the file and what is wrong, instead of meshio's ``sys.exit``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import cast

import numpy as np

from vrmed.mesh.gmsh_legacy import is_gmsh_v1, read_gmsh_v1
from vrmed.mesh.meshtypes import MeshError, SurfaceMesh, TetMesh
from vrmed.mesh.quality import validate_tets

_TET_SUFFIXES = {".msh": "gmsh", ".vtk": "vtk", ".vtu": "vtu", ".mesh": "medit", ".xdmf": "xdmf"}
_TRIMESH_SUFFIXES = {".obj", ".stl", ".ply", ".off", ".glb", ".gltf"}


def _check_path(path: str | Path) -> Path:
    p = Path(path)
    if not p.is_file():
        raise MeshError(
            f"{p}: no such mesh file. Check the path (meshes are looked up relative to the current directory)."
        )
    return p


def _compact(points: np.ndarray, tets: np.ndarray, notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Drop nodes no tet uses: a free node would get zero mass (infinite inverse mass)."""
    used = np.zeros(len(points), dtype=bool)
    used[tets.ravel()] = True
    if used.all():
        return points, tets
    new_index = np.cumsum(used) - 1
    notes.append(f"removed {int((~used).sum())} nodes not used by any tetrahedron")
    return points[used], new_index[tets]


def _gmsh2_duplicate_element_ids(path: Path) -> str | None:
    """Scan an ASCII Gmsh 2.x ``$Elements`` block for repeated element ids (meshio ignores them)."""
    with open(path, "rb") as fh:
        head = fh.read(64)
    if not head.lstrip().startswith(b"$MeshFormat"):
        return None
    text = path.read_text(encoding="ascii", errors="replace").splitlines()
    try:
        fmt = text[1].split()
        if not fmt[0].startswith("2") or fmt[1] != "0":  # only ASCII v2 has one element per line
            return None
        start = text.index("$Elements") + 2
        end = text.index("$EndElements")
    except (ValueError, IndexError):
        return None
    seen: dict[int, int] = {}
    dups: list[str] = []
    for k in range(start, end):
        parts = text[k].split()
        if not parts:
            continue
        eid = int(parts[0])
        if eid in seen:
            dups.append(f"id {eid} on line {k + 1} (first on line {seen[eid]})")
        else:
            seen[eid] = k + 1
    if dups:
        return "repeated element ids: " + "; ".join(dups[:5]) + (f"; ... ({len(dups)} in all)" if len(dups) > 5 else "")
    return None


def _diagnose_vtu(path: Path) -> str:
    """Explain why a VTK XML UnstructuredGrid is inconsistent (declared vs stored counts)."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        return f"the XML is malformed ({exc})"
    piece = root.find(".//Piece")
    if piece is None:
        return "no <Piece> element; this is not a VTK UnstructuredGrid"
    msgs = []
    npts = int(piece.get("NumberOfPoints", "-1"))
    ncells = int(piece.get("NumberOfCells", "-1"))

    def count(arr: ET.Element | None) -> int | None:
        if arr is None or arr.get("format", "ascii") != "ascii":
            return None
        return len((arr.text or "").split())

    pts = piece.find("./Points/DataArray")
    n = count(pts)
    if n is not None:
        assert pts is not None  # count() gives None for a missing array
        comps = int(pts.get("NumberOfComponents", "3"))
        if n != npts * comps:
            msgs.append(f'<Piece NumberOfPoints="{npts}"> but the Points array holds {n} values = {n / comps:g} points')
    for arr in piece.findall("./Cells/DataArray"):
        name = arr.get("Name")
        n = count(arr)
        if n is not None and name in ("offsets", "types") and n != ncells:
            msgs.append(f"<Piece NumberOfCells=\"{ncells}\"> but the cell '{name}' array holds {n} entries")
    return "; ".join(msgs) if msgs else "meshio could not parse it"


def _read_meshio(path: Path, fmt: str):
    import meshio  # deferred: ~40 ms import, only reading Gmsh v2/v4, VTK and VTU files needs it

    try:
        return meshio.read(path, file_format=fmt)
    except SystemExit:  # meshio sys.exit()s on some failures; never let that kill the app
        raise MeshError(f"{path}: meshio could not read it as {fmt}.") from None
    except Exception as exc:  # meshio raises assorted errors (ValueError, ReadError, ...)
        why = _diagnose_vtu(path) if fmt == "vtu" else str(exc)
        if fmt == "vtk" and _vtk_dataset(path) == "POLYDATA":
            why = "it is a VTK POLYDATA surface, not a volume mesh"
        raise MeshError(
            f"{path}: cannot read as {fmt}: {why}. The header and the data disagree, so the file "
            "is corrupt or truncated; re-export it from the original mesh."
        ) from exc


def _vtk_dataset(path: Path) -> str | None:
    with open(path, "rb") as fh:
        head = fh.read(512).split(b"\n")
    for line in head[:6]:
        if line.upper().startswith(b"DATASET"):
            parts = line.split()
            return parts[1].decode("ascii", "replace").upper() if len(parts) > 1 else None
    return None


def load_tet_mesh(
    path: str | Path,
    scale: float = 1.0,
    *,
    fix_inverted: bool = False,
    drop_degenerate: bool = False,
) -> TetMesh:
    """Load a tetrahedral mesh (Gmsh v1/v2/v4 ``.msh``, VTK ``.vtk``/``.vtu``, ...), scaled by ``scale``.

    Node coordinates are multiplied by ``scale`` (use it to convert the file's units to metres).
    Inverted and degenerate tets are reported by index in a :class:`MeshError` unless
    ``fix_inverted`` / ``drop_degenerate`` ask for them to be repaired (recorded in ``notes``).
    """
    p = _check_path(path)
    suffix = p.suffix.lower()
    notes: list[str] = []
    problems: list[str] = []
    element_ids = None
    if suffix == ".msh" and is_gmsh_v1(p):
        data = read_gmsh_v1(p)
        points, tets, element_ids = data["points"], data["tets"], data["tet_ids"]
    else:
        fmt = _TET_SUFFIXES.get(suffix)
        if fmt is None:
            raise MeshError(
                f"{p}: unknown volume-mesh extension {suffix!r}; use .msh, .vtk, .vtu, .mesh or "
                "convert it. For a closed surface (.obj/.stl/.glb), use load_surface_mesh() then tetrahedralize()."
            )
        if fmt == "vtk" and _vtk_dataset(p) == "POLYDATA":
            raise MeshError(
                f"{p}: is a VTK POLYDATA surface, not a tetrahedral mesh. Load it with "
                "load_surface_mesh() and build tets with tetrahedralize()."
            )
        if fmt == "gmsh":
            dup = _gmsh2_duplicate_element_ids(p)
            if dup:
                problems.append(f"{dup} (element ids must be unique; renumber the elements)")
        m = _read_meshio(p, fmt)
        points = np.asarray(m.points, dtype=np.float64)
        if points.shape[1] == 2:
            raise MeshError(f"{p}: the mesh is 2-D; soft bodies need 3-D tetrahedra.")
        blocks = [c.data[:, :4] for c in m.cells if c.type in ("tetra", "tetra10")]
        if not blocks:
            kinds = sorted({c.type for c in m.cells})
            raise MeshError(
                f"{p}: contains no tetrahedra (cell types: {', '.join(kinds) or 'none'}). "
                "For a surface, use load_surface_mesh() and tetrahedralize()."
            )
        tets = np.concatenate(blocks).astype(np.int64)
        if any(c.type == "tetra10" for c in m.cells):
            notes.append("quadratic tetra10 elements reduced to their 4 corner nodes")
    if tets.size == 0:
        raise MeshError(f"{p}: contains no tetrahedra. For a surface, use load_surface_mesh() and tetrahedralize().")
    points = points[:, :3] * float(scale)
    try:
        tets = validate_tets(
            points,
            tets,
            str(p),
            fix_inverted=fix_inverted,
            drop_degenerate=drop_degenerate,
            notes=notes,
            element_ids=element_ids,
        )
    except MeshError as exc:
        # Report every problem at once (e.g. repeated ids *and* an inverted element).
        problems.append(str(exc).removeprefix(f"{p}: ").rstrip("."))
    if problems:
        raise MeshError(f"{p}: " + "; ".join(problems) + ".")
    points, tets = _compact(points, tets, notes)
    return TetMesh(points=points, tets=tets, source=str(p), notes=notes)


_VTK_TYPES = {"float": ">f4", "double": ">f8", "int": ">i4", "vtkidtype": ">i4", "long": ">i8", "vtktypeint64": ">i8"}


def _read_vtk_polydata(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a legacy VTK POLYDATA (ASCII or BINARY) file's POINTS and POLYGONS/TRIANGLE_STRIPS."""
    raw = path.read_bytes()
    lines_end = 0
    header = []
    for _ in range(4):
        nl = raw.index(b"\n", lines_end)
        header.append(raw[lines_end:nl].strip())
        lines_end = nl + 1
    binary = header[2].upper() == b"BINARY"
    pos = lines_end
    points = polys = None

    def keyword_line(at: int) -> tuple[list[bytes], int, int]:
        while at < len(raw) and raw[at : at + 1] in (b"\n", b"\r", b" "):
            at += 1
        nl = raw.find(b"\n", at)
        nl = len(raw) if nl < 0 else nl
        return raw[at:nl].split(), nl + 1, raw.count(b"\n", 0, at) + 1

    escapes = len(re.findall(rb"\\[0-9A-F]{2}", raw))
    hint = (
        f" The payload also contains {escapes} text escape sequences such as '\\00': the binary "
        "data was converted to text (by an editor or a text-mode transfer)."
        if escapes > 100
        else ""
    )
    while pos < len(raw):
        parts, after, lineno = keyword_line(pos)
        if not parts:
            break
        key = parts[0].upper()
        if key == b"POINTS":
            n, dtype = int(parts[1]), _VTK_TYPES.get(parts[2].decode().lower())
            if dtype is None:
                raise MeshError(f"{path}:{lineno}: unsupported POINTS type {parts[2].decode()!r}.")
            if binary:
                nbytes = n * 3 * np.dtype(dtype).itemsize
                points = np.frombuffer(raw, dtype=dtype, count=n * 3, offset=after).reshape(n, 3)
                pos = after + nbytes
            else:
                vals, pos = _ascii_values(raw, after, n * 3, path, lineno)
                points = vals.reshape(n, 3)
            nxt, _, nxt_line = keyword_line(pos)
            if nxt and nxt[0].upper() not in (
                b"POLYGONS",
                b"TRIANGLE_STRIPS",
                b"VERTICES",
                b"LINES",
                b"POINT_DATA",
                b"CELL_DATA",
                b"METADATA",
                b"FIELD",
            ):
                raise MeshError(
                    f"{path}:{lineno}: POINTS declares {n} points, but after {n} x 3 values the file "
                    f"does not continue with a VTK section keyword (line {nxt_line} starts with "
                    f"{nxt[0][:20]!r}); the declared count does not match the data.{hint} "
                    "Re-export the file from the original mesh."
                )
        elif key in (b"POLYGONS", b"TRIANGLE_STRIPS", b"VERTICES", b"LINES"):
            ncell, size = int(parts[1]), int(parts[2])
            if binary:
                conn = np.frombuffer(raw, dtype=">i4", count=size, offset=after).astype(np.int64)
                pos = after + 4 * size
            else:
                conn, pos = _ascii_values(raw, after, size, path, lineno)
                conn = conn.astype(np.int64)
            if key in (b"POLYGONS", b"TRIANGLE_STRIPS"):
                polys = _polys_to_triangles(conn, ncell, key == b"TRIANGLE_STRIPS", path, lineno)
        elif key in (b"POINT_DATA", b"CELL_DATA", b"METADATA"):
            break  # attributes are not needed for geometry
        else:
            raise MeshError(f"{path}:{lineno}: unexpected VTK section {parts[0][:20]!r}.{hint} Re-export the file.")
    if points is None or polys is None:
        raise MeshError(f"{path}: no POINTS and POLYGONS in this POLYDATA file; nothing to load.")
    if polys.size and (polys.min() < 0 or polys.max() >= len(points)):
        raise MeshError(
            f"{path}: polygons refer to points beyond the {len(points)} declared.{hint} Re-export the file."
        )
    return points.astype(np.float64), polys


def _ascii_values(raw: bytes, at: int, count: int, path: Path, lineno: int) -> tuple[np.ndarray, int]:
    vals: list[bytes] = []
    pos = at
    while len(vals) < count:
        nl = raw.find(b"\n", pos)
        nl = len(raw) if nl < 0 else nl
        if pos >= len(raw):
            raise MeshError(f"{path}:{lineno}: expected {count} values, the file ends after {len(vals)}.")
        vals.extend(raw[pos:nl].split())
        pos = nl + 1
    try:
        return np.array(vals[:count], dtype=np.float64), pos
    except ValueError:
        raise MeshError(f"{path}:{lineno}: non-numeric value in the data block.") from None


def _polys_to_triangles(conn: np.ndarray, ncell: int, strips: bool, path: Path, lineno: int) -> np.ndarray:
    tris = []
    i = 0
    for _ in range(ncell):
        if i >= conn.size:
            raise MeshError(f"{path}:{lineno}: polygon list is shorter than its declared {ncell} cells.")
        k = int(conn[i])
        ids = conn[i + 1 : i + 1 + k]
        i += 1 + k
        if strips:
            for j in range(k - 2):
                a, b, c = ids[j], ids[j + 1], ids[j + 2]
                tris.append((a, b, c) if j % 2 == 0 else (b, a, c))
        else:
            for j in range(1, k - 1):  # fan-triangulate convex polygons
                tris.append((ids[0], ids[j], ids[j + 1]))
    return np.asarray(tris, dtype=np.int64).reshape(-1, 3)


def load_surface_mesh(path: str | Path, scale: float = 1.0) -> SurfaceMesh:
    """Load a triangle surface (OBJ, STL, PLY, OFF, glTF/GLB via trimesh; VTK POLYDATA; Gmsh/VTU triangles).

    Multi-object files (glTF scenes, OBJ groups) are concatenated into one surface.
    """
    p = _check_path(path)
    suffix = p.suffix.lower()
    if suffix in _TRIMESH_SUFFIXES:
        import trimesh  # deferred: ~100 ms import, only OBJ/STL/PLY/OFF/glTF surfaces need it

        try:
            # force="mesh" gives a Trimesh; trimesh annotates load() with the base Geometry
            m = cast("trimesh.Trimesh", trimesh.load(p, force="mesh", process=False))
        except Exception as exc:
            raise MeshError(
                f"{p}: trimesh could not read it ({exc}). Check the file is a valid {suffix} surface."
            ) from exc
        if not hasattr(m, "faces") or len(m.faces) == 0:
            raise MeshError(f"{p}: contains no triangles.")
        pts, tris = np.asarray(m.vertices), np.asarray(m.faces)
    elif suffix == ".vtk" and _vtk_dataset(p) == "POLYDATA":
        pts, tris = _read_vtk_polydata(p)
    elif suffix == ".msh" and is_gmsh_v1(p):
        d = read_gmsh_v1(p)
        pts, tris = d["points"], d["triangles"]
    elif suffix in _TET_SUFFIXES:
        m = _read_meshio(p, _TET_SUFFIXES[suffix])
        pts = np.asarray(m.points)[:, :3]
        blocks = [c.data for c in m.cells if c.type == "triangle"]
        tris = np.concatenate(blocks) if blocks else np.zeros((0, 3), np.int64)
    else:
        raise MeshError(f"{p}: unknown surface extension {suffix!r}; use .obj, .stl, .ply, .off, .glb, .gltf or .vtk.")
    if len(tris) == 0:
        raise MeshError(f"{p}: contains no surface triangles. For a tetrahedral mesh, use load_tet_mesh().")
    return SurfaceMesh(points=np.asarray(pts, dtype=np.float64) * float(scale), triangles=tris, source=str(p))
