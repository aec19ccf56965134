"""Loading tetrahedral and surface meshes.

meshio reads Gmsh v2/v4, VTK legacy UNSTRUCTURED_GRID and VTK XML; trimesh reads OBJ, STL, PLY,
OFF and glTF/GLB. What they lack is written here: the legacy Gmsh v1 reader
(:mod:`vrmed.mesh.gmsh_legacy`) and a small VTK legacy POLYDATA reader (meshio refuses
POLYDATA, which is what SOFA's ``liver.vtk`` is). Every failure raises :class:`MeshError`
naming the file and what is wrong, instead of meshio's ``sys.exit``. glTF 2.0 files are
checked against the spec's structure first (:func:`check_gltf`), and :func:`load_gltf`
keeps their PBR materials, UVs and base colour textures for the renderer.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import cast
from urllib.parse import unquote

import numpy as np

from vrmed.mesh.generate import lattice_remesh
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
    remesh: float | None = None,
) -> TetMesh:
    """Load a tetrahedral mesh (Gmsh v1/v2/v4 ``.msh``, VTK ``.vtk``/``.vtu``, ...), scaled by ``scale``.

    Node coordinates are multiplied by ``scale`` (use it to convert the file's units to metres).
    Inverted and degenerate tets are reported by index in a :class:`MeshError` unless
    ``fix_inverted`` / ``drop_degenerate`` ask for them to be repaired (recorded in ``notes``).
    ``remesh`` (m, after scaling) rebuilds the tets as a lattice of cubes of that edge
    (:func:`~vrmed.mesh.generate.lattice_remesh`: no slivers) and keeps the file's boundary in
    ``surface`` for drawing; use it for sliver-heavy meshes the solver would have to soften.
    """
    p = _check_path(path)
    if remesh is not None and not remesh > 0:
        raise MeshError(f"{p}: remesh must be a cube edge > 0 m (or None), got {remesh}.")
    try:
        mesh = _load_tet(p, scale, fix_inverted, drop_degenerate)
        if remesh is None:
            return mesh
        surface = SurfaceMesh(points=mesh.points, triangles=mesh.boundary_triangles(), source=str(p))
        rebuilt = lattice_remesh(mesh, float(remesh))
        rebuilt.surface = surface
        return rebuilt
    except MeshError:
        raise
    except _READ_ERRORS as exc:
        raise MeshError(
            f"{p}: cannot be read ({type(exc).__name__}: {' '.join(str(exc).split())[:120]}); the file is damaged "
            f"or not a {p.suffix} mesh. Re-export it."
        ) from None


def _load_tet(p: Path, scale: float, fix_inverted: bool, drop_degenerate: bool) -> TetMesh:
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
    for k in range(4):
        nl = raw.find(b"\n", lines_end)
        if nl < 0:
            raise MeshError(f"{path}:{k + 1}: the file ends inside the 4-line VTK header; not a VTK file.")
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
            n = _count(parts, 1, path, lineno, "POINTS")
            dtype = _VTK_TYPES.get(parts[2].decode("ascii", "replace").lower()) if len(parts) > 2 else None
            if dtype is None:
                raise MeshError(f"{path}:{lineno}: unsupported or missing POINTS type {parts[2:3]!r}.")
            _fits(n * 3, np.dtype(dtype).itemsize if binary else 2, len(raw) - after, path, lineno, "POINTS")
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
            ncell, size = _count(parts, 1, path, lineno, parts[0].decode()), _count(parts, 2, path, lineno, "size")
            _fits(size, 4 if binary else 2, len(raw) - after, path, lineno, parts[0].decode())
            if ncell > size:
                raise MeshError(f"{path}:{lineno}: {ncell} cells cannot fit in a connectivity list of {size} values.")
            if binary:
                conn = np.frombuffer(raw, dtype=">i4", count=size, offset=after).astype(np.int64)
                pos = after + 4 * size
            else:
                vals, pos = _ascii_values(raw, after, size, path, lineno)
                if not (
                    np.isfinite(vals).all() and (vals == np.round(vals)).all() and np.abs(vals).max(initial=0) < 2**31
                ):
                    raise MeshError(f"{path}:{lineno}: {parts[0].decode()} holds a value that is not a point index.")
                conn = vals.astype(np.int64)
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


def _count(parts: list[bytes], i: int, path: Path, lineno: int, what: str) -> int:
    """A non-negative count from a VTK section line, or a MeshError naming the line."""
    try:
        value = int(parts[i])
    except (IndexError, ValueError):
        raise MeshError(
            f"{path}:{lineno}: {what} line needs a whole-number count, got {b' '.join(parts)[:60]!r}."
        ) from None
    if value < 0:
        raise MeshError(f"{path}:{lineno}: negative {what} count {value}.")
    return value


def _fits(count: int, min_bytes: int, remaining: int, path: Path, lineno: int, what: str) -> None:
    """Refuse a declared count the rest of the file cannot hold, before allocating for it."""
    if count * min_bytes > remaining + 1:
        raise MeshError(
            f"{path}:{lineno}: {what} declares {count} values, but only {remaining} bytes follow; "
            "the count is wrong or the file is truncated."
        )


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
    tris: list[tuple[object, object, object]] = []
    i = 0
    for _ in range(ncell):
        if i >= conn.size:
            raise MeshError(f"{path}:{lineno}: polygon list is shorter than its declared {ncell} cells.")
        k = int(conn[i])
        if k < 0 or i + 1 + k > conn.size:
            raise MeshError(
                f"{path}:{lineno}: polygon {len(tris)} declares {k} points, beyond the connectivity list "
                f"({conn.size} values)."
            )
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


#: Exceptions a damaged file can raise inside a reader; each becomes one MeshError.
_READ_ERRORS = (ValueError, IndexError, KeyError, TypeError, struct.error, OverflowError, UnicodeError, MemoryError)


def load_surface_mesh(path: str | Path, scale: float = 1.0) -> SurfaceMesh:
    """Load a triangle surface (OBJ, STL, PLY, OFF, glTF/GLB via trimesh; VTK POLYDATA; Gmsh/VTU triangles).

    Multi-object files (glTF scenes, OBJ groups) are concatenated into one surface.
    Non-finite coordinates and triangles that name missing vertices are refused.
    """
    p = _check_path(path)
    try:
        mesh = _load_surface(p, scale)
    except MeshError:
        raise
    except _READ_ERRORS as exc:
        raise MeshError(
            f"{p}: cannot be read ({type(exc).__name__}: {' '.join(str(exc).split())[:120]}); the file is damaged "
            f"or not a {p.suffix} surface. Re-export it."
        ) from None
    check_surface(mesh, p)
    return mesh


def check_surface(mesh: SurfaceMesh, path: Path) -> None:
    """Refuse a surface with non-finite coordinates or out-of-range triangle indices."""
    pts, tris = mesh.points, mesh.triangles
    if pts.ndim != 2 or pts.shape[1] != 3 or tris.ndim != 2 or tris.shape[1] != 3:
        raise MeshError(f"{path}: expected (n, 3) vertices and (m, 3) triangles, got {pts.shape} and {tris.shape}.")
    finite = np.isfinite(pts).all(axis=1)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise MeshError(
            f"{path}: vertex {bad} has a non-finite coordinate {pts[bad].tolist()} "
            f"({int((~finite).sum())} such vertices); fix the mesh."
        )
    if tris.size and (tris.min() < 0 or tris.max() >= len(pts)):
        row = int(np.flatnonzero(((tris < 0) | (tris >= len(pts))).any(axis=1))[0])
        raise MeshError(
            f"{path}: triangle {row} refers to vertex {tris[row].tolist()}, but there are {len(pts)} vertices."
        )


def _load_surface(p: Path, scale: float) -> SurfaceMesh:
    suffix = p.suffix.lower()
    if suffix in _TRIMESH_SUFFIXES:
        if suffix in GLTF_SUFFIXES:
            check_gltf(p)  # one clear error for a broken glTF instead of trimesh's exception
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
    return SurfaceMesh(
        points=np.asarray(pts, dtype=np.float64) * float(scale),
        triangles=np.asarray(tris, dtype=np.int64),
        source=str(p),
    )


# -- glTF 2.0 -------------------------------------------------------------------------------
#
# trimesh reads glTF (node graph, accessors, materials, textures), but a broken file comes
# out of it as an arbitrary exception (KeyError: 'uri', a numpy reshape error, ...). So
# every .gltf/.glb is first checked here against the structure the spec requires, and each
# problem becomes one MeshError naming the file, the glTF object at fault and the fix.

GLTF_SUFFIXES = frozenset({".gltf", ".glb"})
#: ``extensionsRequired`` entries vrmed can honour. None yet: a file that *requires* an
#: extension (Draco or meshopt compression, KHR_texture_transform, ...) cannot be drawn
#: correctly without it, so it is refused with the extension named.
SUPPORTED_REQUIRED_EXTENSIONS: frozenset[str] = frozenset()

_GLB_MAGIC = b"glTF"
_COMPONENT_BYTES = {5120: 1, 5121: 1, 5122: 2, 5123: 2, 5125: 4, 5126: 4}
_COMPONENT_NAMES = {
    5120: "byte",
    5121: "unsigned byte",
    5122: "short",
    5123: "unsigned short",
    5125: "unsigned int",
    5126: "float",
}
_TYPE_SIZES = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
_INDEX_DTYPES = {5121: "<u1", 5123: "<u2", 5125: "<u4"}
#: (size, mtime_ns) of each file that passed :func:`check_gltf`, so re-checks cost one stat.
_CHECKED: dict[str, tuple[int, int]] = {}


@dataclass
class GltfMaterial:
    """A glTF PBR metallic-roughness material as vrmed draws it.

    ``base_color`` is the linear RGBA ``baseColorFactor`` (read to 8-bit precision), and
    ``metallic``/``roughness`` the ``metallicFactor``/``roughnessFactor`` (glTF defaults 1
    when absent); ``texture`` is the ``baseColorTexture`` image as (H, W, 4) uint8 in sRGB,
    top row first (None without one). Other textures (normal, occlusion, emissive,
    metallic-roughness) are not read.
    """

    name: str
    base_color: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    metallic: float = 1.0
    roughness: float = 1.0
    texture: np.ndarray | None = None


@dataclass
class GltfPart:
    """The triangles of one material, gathered from every node that uses it.

    ``positions``/``normals`` (N, 3) float32 are in the file's scene space (node transforms
    applied: metres, +Y up, right-handed), ``uvs`` (N, 2) float32 the ``TEXCOORD_0`` set in
    glTF's convention (v runs down from the image's top row) or None, ``faces`` (M, 3)
    uint32 counter-clockwise from the front, ``material`` None for primitives without one.
    """

    positions: np.ndarray
    normals: np.ndarray
    uvs: np.ndarray | None
    faces: np.ndarray
    material: GltfMaterial | None


@dataclass
class GltfModel:
    """A glTF scene flattened to one :class:`GltfPart` per material."""

    parts: list[GltfPart]
    source: str


def _gltf_fail(path: Path, what: str, fix: str) -> MeshError:
    return MeshError(f"{path}: {what}. {fix}")


def _read_glb(path: Path, raw: bytes) -> tuple[dict, bytes | None]:
    """The JSON document and the BIN chunk (None when absent) of a binary glTF."""
    reexport = "Export or copy the .glb again (an interrupted download or copy cuts it short)"
    if len(raw) < 20:
        raise _gltf_fail(path, f"is only {len(raw)} bytes, too short for a binary glTF (GLB) header", reexport)
    magic, version, length = struct.unpack_from("<4sII", raw, 0)
    if version != 2:
        raise _gltf_fail(path, f"is a GLB of version {version}; vrmed reads glTF 2.0", "Re-export it as glTF 2.0")
    if length > len(raw):
        raise _gltf_fail(
            path, f"is truncated: its GLB header declares {length} bytes but the file has {len(raw)}", reexport
        )
    json_len, json_kind = struct.unpack_from("<I4s", raw, 12)
    if json_kind != b"JSON" or 20 + json_len > length:
        raise _gltf_fail(
            path, "is a corrupt GLB: its first chunk is not a complete JSON chunk", "Re-export it as glTF 2.0 binary"
        )
    doc = _parse_gltf_json(path, raw[20 : 20 + json_len])
    at = 20 + json_len + (-json_len % 4)
    if at + 8 <= length:
        bin_len, bin_kind = struct.unpack_from("<I4s", raw, at)
        if bin_kind == b"BIN\x00":
            if at + 8 + bin_len > length:
                raise _gltf_fail(
                    path,
                    f"is truncated: its binary chunk declares {bin_len} bytes but only {length - at - 8} follow",
                    reexport,
                )
            return doc, raw[at + 8 : at + 8 + bin_len]
    return doc, None


def _parse_gltf_json(path: Path, text: bytes) -> dict:
    try:
        doc = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _gltf_fail(
            path, f"is not a glTF file: its content is not glTF JSON ({exc})", "Export the model as glTF 2.0 (.glb)"
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("asset"), dict):
        raise _gltf_fail(
            path, "is not a glTF file: the JSON has no 'asset' object", "Export the model as glTF 2.0 (.glb)"
        )
    version = str(doc["asset"].get("version", ""))
    if not version.startswith("2."):
        raise _gltf_fail(
            path, f"is glTF version {version or '(none)'}; vrmed reads glTF 2.0", "Re-export it as glTF 2.0"
        )
    return doc


def _uri_bytes(path: Path, uri: str, what: str) -> bytes:
    """The bytes a glTF ``uri`` names: a base64 data URI or a file beside the glTF."""
    if uri.startswith("data:"):
        head, _, payload = uri.partition(",")
        try:
            return base64.b64decode(payload, validate=True) if head.endswith(";base64") else unquote(payload).encode()
        except binascii.Error:
            raise _gltf_fail(path, f"{what} has a data URI that is not valid base64", "Re-export the file") from None
    target = path.parent / unquote(uri)
    if not target.is_file():
        raise _gltf_fail(
            path,
            f"{what} refers to {uri!r}, which does not exist (looked for {target})",
            "Copy that file beside the .gltf, or export a single .glb that embeds everything",
        )
    return target.read_bytes()


def _items(doc: dict, key: str) -> list:
    value = doc.get(key, [])
    return value if isinstance(value, list) else []


def _gltf_index(path: Path, value: object, items: list, what: str, kind: str) -> dict:
    """``items[value]`` when ``value`` is a valid index into it, else a MeshError."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < len(items):
        raise _gltf_fail(
            path,
            f"{what} refers to {kind} {value!r}, but the file has {len(items)} {kind}s",
            "The file is corrupt; re-export it",
        )
    item = items[value]
    if not isinstance(item, dict):
        raise _gltf_fail(path, f"{kind} {value} is not a JSON object", "The file is corrupt; re-export it")
    return item


def check_gltf(path: str | Path) -> None:
    """Check that a glTF 2.0 file (``.gltf`` + its buffers and images, or ``.glb``) is
    complete and consistent, without building any mesh: GLB header and chunk sizes, no
    unsupported ``extensionsRequired``, every buffer present and as long as declared,
    buffer views inside their buffers, accessors of a valid component type and type that
    lie inside their views, triangle indices below the vertex count, and every image
    decodable. Raises one :class:`MeshError` naming the file, the glTF object at fault and
    what to do. A file that passed is not read again until its size or mtime changes.
    """
    p = _check_path(path)
    stat = p.stat()
    key = str(p.resolve())
    if _CHECKED.get(key) == (stat.st_size, stat.st_mtime_ns):
        return
    raw = p.read_bytes()
    if raw[:4] == _GLB_MAGIC:
        doc, glb_bin = _read_glb(p, raw)
    elif p.suffix.lower() == ".glb":
        raise _gltf_fail(
            p,
            f"is not a binary glTF: it does not start with the bytes 'glTF' (it starts with {raw[:8]!r})",
            "Export the model as glTF 2.0 binary (.glb)",
        )
    else:
        doc, glb_bin = _parse_gltf_json(p, raw), None
    _check_gltf_doc(p, doc, glb_bin)
    _CHECKED[key] = (stat.st_size, stat.st_mtime_ns)


def _check_gltf_doc(path: Path, doc: dict, glb_bin: bytes | None) -> None:
    required = [e for e in doc.get("extensionsRequired", []) if e not in SUPPORTED_REQUIRED_EXTENSIONS]
    if required:
        raise _gltf_fail(
            path,
            f"requires the glTF extension(s) {', '.join(map(str, required))}, which vrmed does not support",
            "Re-export it without them (in Blender's glTF exporter: untick Compression for "
            "KHR_draco_mesh_compression; apply texture transforms for KHR_texture_transform)",
        )
    buffers = []
    for i, buf in enumerate(_items(doc, "buffers")):
        declared = buf.get("byteLength") if isinstance(buf, dict) else None
        if not isinstance(declared, int) or declared < 0:
            raise _gltf_fail(path, f"buffer {i} has no valid byteLength", "The file is corrupt; re-export it")
        uri = buf.get("uri")
        if isinstance(uri, str):
            data = _uri_bytes(path, uri, f"buffer {i}")
            source = f"{uri!r}" if not uri.startswith("data:") else "its data URI"
        elif i == 0 and glb_bin is not None:
            data, source = glb_bin, "the GLB's binary chunk"
        else:
            raise _gltf_fail(
                path,
                f"buffer {i} has no uri and no GLB binary chunk holds it: its data is missing",
                "Re-export the model as a single .glb",
            )
        if len(data) < declared:
            raise _gltf_fail(
                path,
                f"buffer {i} is truncated: {source} holds {len(data)} bytes but the glTF declares {declared}",
                "Copy or export the file again (an interrupted copy cuts it short)",
            )
        buffers.append(data)
    views = _items(doc, "bufferViews")
    for i, view in enumerate(views):
        _gltf_index(
            path,
            view.get("buffer") if isinstance(view, dict) else None,
            _items(doc, "buffers"),
            f"bufferView {i}",
            "buffer",
        )
        start, length = view.get("byteOffset", 0), view.get("byteLength")
        if not isinstance(start, int) or not isinstance(length, int) or start < 0 or length < 0:
            raise _gltf_fail(path, f"bufferView {i} has an invalid byteOffset/byteLength", "Re-export the file")
        size = len(buffers[view["buffer"]])
        if start + length > size:
            raise _gltf_fail(
                path,
                f"bufferView {i} covers bytes {start}..{start + length} of buffer {view['buffer']}, which has {size}",
                "The file is corrupt or truncated; re-export it",
            )
    accessors = _items(doc, "accessors")
    uses = _accessor_uses(doc)
    for i, acc in enumerate(accessors):
        _check_accessor(path, doc, i, acc, views, uses.get(i, f"accessor {i}"))
    for m, mesh in enumerate(_items(doc, "meshes")):
        name = f"mesh {m}" + (f" ({mesh['name']!r})" if isinstance(mesh, dict) and mesh.get("name") else "")
        for k, prim in enumerate(mesh.get("primitives", []) if isinstance(mesh, dict) else []):
            _check_primitive(path, doc, f"{name} primitive {k}", prim, accessors, views, buffers)
    for i, image in enumerate(_items(doc, "images")):
        _check_image(path, i, image, views, buffers)


def _accessor_uses(doc: dict) -> dict[int, str]:
    """A description of where each accessor is used, for error messages."""
    uses: dict[int, str] = {}
    for m, mesh in enumerate(_items(doc, "meshes")):
        if not isinstance(mesh, dict):
            continue
        name = f"mesh {m}" + (f" ({mesh['name']!r})" if mesh.get("name") else "")
        for k, prim in enumerate(mesh.get("primitives", [])):
            if not isinstance(prim, dict):
                continue
            for attr, acc in (prim.get("attributes") or {}).items():
                if isinstance(acc, int):
                    uses.setdefault(acc, f"accessor {acc} ({name} primitive {k} {attr})")
            if isinstance(prim.get("indices"), int):
                uses.setdefault(prim["indices"], f"accessor {prim['indices']} ({name} primitive {k} indices)")
    return uses


def _check_accessor(path: Path, doc: dict, i: int, acc: object, views: list, what: str) -> None:
    if not isinstance(acc, dict):
        raise _gltf_fail(path, f"accessor {i} is not a JSON object", "Re-export the file")
    component, kind, count = acc.get("componentType"), acc.get("type"), acc.get("count")
    if component not in _COMPONENT_BYTES:
        raise _gltf_fail(
            path,
            f"{what} has componentType {component!r}, which is not a glTF component type "
            f"(5120-5126: {', '.join(_COMPONENT_NAMES.values())})",
            "The file is corrupt; re-export it",
        )
    if kind not in _TYPE_SIZES:
        raise _gltf_fail(
            path, f"{what} has type {kind!r} (expected one of {', '.join(_TYPE_SIZES)})", "Re-export the file"
        )
    if not isinstance(count, int) or count < 1:
        raise _gltf_fail(path, f"{what} has count {count!r} (must be at least 1)", "Re-export the file")
    if "bufferView" not in acc:
        return  # all zeros (or sparse): nothing to read
    view = _gltf_index(path, acc["bufferView"], views, what, "bufferView")
    element = _COMPONENT_BYTES[component] * _TYPE_SIZES[kind]
    stride = view.get("byteStride") or element
    offset = acc.get("byteOffset", 0)
    end = offset + stride * (count - 1) + element
    if end > view["byteLength"]:
        raise _gltf_fail(
            path,
            f"{what} is out of range: {count} x {kind} {_COMPONENT_NAMES[component]} from byte {offset} "
            f"need {end} bytes of bufferView {acc['bufferView']}, which has {view['byteLength']}",
            "The file is corrupt; re-export it",
        )


def _check_primitive(
    path: Path, doc: dict, what: str, prim: object, accessors: list, views: list, buffers: list[bytes]
) -> None:
    if not isinstance(prim, dict) or not isinstance(prim.get("attributes"), dict):
        raise _gltf_fail(path, f"{what} has no attributes", "Re-export the file")
    attributes = prim["attributes"]
    if "POSITION" not in attributes:
        raise _gltf_fail(path, f"{what} has no POSITION attribute", "Re-export the file")
    position = _gltf_index(path, attributes["POSITION"], accessors, f"{what} POSITION", "accessor")
    if position["componentType"] != 5126 or position["type"] != "VEC3":
        raise _gltf_fail(
            path,
            f"{what} POSITION is {position['type']} {_COMPONENT_NAMES[position['componentType']]}; vrmed reads "
            "float VEC3 positions",
            "Re-export without vertex quantization",
        )
    n = position["count"]
    for attr, index in attributes.items():
        acc = _gltf_index(path, index, accessors, f"{what} {attr}", "accessor")
        if acc["count"] != n:
            raise _gltf_fail(
                path,
                f"{what} {attr} has {acc['count']} entries but POSITION has {n}",
                "The file is corrupt; re-export it",
            )
    if prim.get("material") is not None:
        _gltf_index(path, prim["material"], _items(doc, "materials"), what, "material")
    if "indices" not in prim:
        return
    acc = _gltf_index(path, prim["indices"], accessors, f"{what} indices", "accessor")
    dtype = _INDEX_DTYPES.get(acc["componentType"])
    if dtype is None or acc["type"] != "SCALAR":
        raise _gltf_fail(
            path,
            f"{what} indices are {acc['type']} {_COMPONENT_NAMES[acc['componentType']]}; glTF indices are "
            "unsigned byte, short or int scalars",
            "The file is corrupt; re-export it",
        )
    if "bufferView" not in acc or "sparse" in acc:
        return
    view = views[acc["bufferView"]]
    size = np.dtype(dtype).itemsize
    stride = view.get("byteStride") or size
    start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
    data = np.ndarray((acc["count"],), dtype, buffers[view["buffer"]], start, (stride,))
    top = int(data.max())
    if top >= n:
        raise _gltf_fail(
            path,
            f"{what} indices are out of range: index {top} refers past the primitive's {n} vertices",
            "The file is corrupt; re-export it",
        )


def _check_image(path: Path, i: int, image: object, views: list, buffers: list[bytes]) -> None:
    if not isinstance(image, dict):
        raise _gltf_fail(path, f"image {i} is not a JSON object", "Re-export the file")
    label = f"image {i}" + (f" ({image['name']!r})" if image.get("name") else "")
    if isinstance(image.get("uri"), str):
        uri = image["uri"]
        data = _uri_bytes(path, uri, label)
        label += "" if uri.startswith("data:") else f" {uri!r}"
    elif "bufferView" in image:
        view = _gltf_index(path, image["bufferView"], views, label, "bufferView")
        start = view.get("byteOffset", 0)
        data = buffers[view["buffer"]][start : start + view["byteLength"]]
    else:
        raise _gltf_fail(path, f"{label} has neither a uri nor a bufferView", "Re-export the file")
    from PIL import Image  # deferred: Pillow, only glTF files with images need it

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
    except Exception as exc:  # noqa: BLE001 - Pillow raises assorted errors for bad image data
        raise _gltf_fail(
            path,
            f"{label} cannot be decoded as an image ({type(exc).__name__}: {exc})",
            "Re-save the texture as PNG or JPEG and export again",
        ) from None


def load_gltf(path: str | Path) -> GltfModel:
    """Read a glTF 2.0 scene (``.gltf``/``.glb``) for drawing: :func:`check_gltf`, then
    trimesh builds the meshes; every node's transform is applied and the triangles are
    gathered into one :class:`GltfPart` per material (textures shared between materials are
    decoded once). :class:`MeshError` for a broken file or one without triangles.
    """
    p = _check_path(path)
    check_gltf(p)
    import trimesh  # deferred: ~100 ms import, only mesh files need it

    try:
        # force="scene" gives a Scene; trimesh annotates load() with the base Geometry
        scene = cast("trimesh.Scene", trimesh.load(str(p), force="scene", process=False))
    except Exception as exc:  # noqa: BLE001 - anything check_gltf does not catch, still one clear error
        raise MeshError(
            f"{p}: trimesh could not read it ({type(exc).__name__}: {exc}). Check it opens in a glTF viewer "
            "(e.g. Blender) and export it again as glTF 2.0 binary (.glb)."
        ) from None
    groups: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]]] = {}
    materials: dict[int, GltfMaterial | None] = {}
    textures: dict[int, np.ndarray] = {}
    for node in scene.graph.nodes_geometry:
        transform, name = scene.graph[node]
        geom = scene.geometry[name]
        if not isinstance(geom, trimesh.Trimesh) or len(geom.faces) == 0:
            continue  # points and lines are not drawn
        visual = geom.visual
        material = getattr(visual, "material", None)
        uv = getattr(visual, "uv", None)
        uvs = None
        if uv is not None and len(uv) == len(geom.vertices):
            uvs = np.array(uv, np.float32)
            uvs[:, 1] = 1.0 - uvs[:, 1]  # trimesh flips v to OpenGL's convention; back to glTF's
        rot = np.asarray(transform, np.float64)[:3, :3]
        positions = np.asarray(geom.vertices, np.float64) @ rot.T + transform[:3, 3]
        normals = np.asarray(geom.vertex_normals, np.float64) @ np.linalg.inv(rot)
        normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-20)
        faces = np.asarray(geom.faces, np.int64)
        if np.linalg.det(rot) < 0:  # a mirroring node flips the winding
            faces = faces[:, ::-1]
        key = id(material)
        if key not in materials:
            materials[key] = _gltf_material(material, textures)
        groups.setdefault(key, []).append((positions, normals, uvs, faces))
    if not groups:
        raise MeshError(f"{p}: contains no triangle meshes. Export the model's surfaces as triangles.")
    parts = []
    for key, pieces in groups.items():
        counts = np.cumsum([0] + [len(piece[0]) for piece in pieces])
        has_uv = any(piece[2] is not None for piece in pieces)
        parts.append(
            GltfPart(
                positions=np.concatenate([piece[0] for piece in pieces]).astype(np.float32),
                normals=np.concatenate([piece[1] for piece in pieces]).astype(np.float32),
                uvs=(
                    np.concatenate(
                        [
                            piece[2] if piece[2] is not None else np.zeros((len(piece[0]), 2), np.float32)
                            for piece in pieces
                        ]
                    )
                    if has_uv
                    else None
                ),
                faces=np.concatenate([piece[3] + base for piece, base in zip(pieces, counts)]).astype(np.uint32),
                material=materials[key],
            )
        )
    return GltfModel(parts=parts, source=str(p))


def _gltf_material(material: object, textures: dict[int, np.ndarray]) -> GltfMaterial | None:
    """vrmed's view of a trimesh PBRMaterial (None for primitives without a material)."""
    if material is None or not hasattr(material, "baseColorFactor"):
        return None
    factor = getattr(material, "baseColorFactor", None)
    base = (1.0, 1.0, 1.0, 1.0) if factor is None else tuple(float(c) / 255.0 for c in np.asarray(factor)[:4])
    metallic = getattr(material, "metallicFactor", None)
    roughness = getattr(material, "roughnessFactor", None)
    image = getattr(material, "baseColorTexture", None)
    texture = None
    if image is not None:
        texture = textures.get(id(image))
        if texture is None:
            texture = textures[id(image)] = np.ascontiguousarray(np.asarray(image.convert("RGBA"), np.uint8))
    return GltfMaterial(
        name=str(getattr(material, "name", "") or ""),
        base_color=(base[0], base[1], base[2], base[3] if len(base) > 3 else 1.0),
        metallic=1.0 if metallic is None else float(metallic),
        roughness=1.0 if roughness is None else float(roughness),
        texture=texture,
    )
