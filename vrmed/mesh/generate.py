"""Procedural tetrahedral meshes (box, slab, cylinder) and tetrahedralisation of closed surfaces."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vrmed.mesh.meshtypes import MeshError, SurfaceMesh, TetMesh
from vrmed.mesh.quality import validate_tets

# Kuhn (Freudenthal) split of the unit cube into 6 tets along the main diagonal 0 -> 7. Every
# cube uses the same split, so faces shared by neighbouring cubes get the same diagonal and the
# mesh is conforming. Corner c = x + 2y + 4z.
_KUHN = np.array([[0, 1, 3, 7], [0, 1, 5, 7], [0, 2, 3, 7], [0, 2, 6, 7], [0, 4, 5, 7], [0, 4, 6, 7]], dtype=np.int64)


def _orient(points: np.ndarray, tets: np.ndarray) -> np.ndarray:
    return validate_tets(points, tets, "generated mesh", fix_inverted=True)


def box_tets(
    size: Sequence[float] = (1.0, 1.0, 1.0),
    cells: Sequence[int] = (4, 4, 4),
    origin: Sequence[float] = (0.0, 0.0, 0.0),
) -> TetMesh:
    """A box of ``size`` metres split into ``cells`` hexahedra, each cut into 6 tets (6*nx*ny*nz tets).

    Node (i, j, k) has index ``i + (nx+1) * (j + (ny+1) * k)``.
    """
    nx, ny, nz = (int(c) for c in cells)
    if min(nx, ny, nz) < 1 or min(size) <= 0:
        raise MeshError(f"box_tets: cells {tuple(cells)} must be >= 1 and size {tuple(size)} > 0.")
    xs = [np.linspace(o, o + s, n + 1) for o, s, n in zip(origin, size, (nx, ny, nz))]
    gz, gy, gx = np.meshgrid(xs[2], xs[1], xs[0], indexing="ij")
    points = np.stack([gx.ravel(), gy.ravel(), gz.ravel()], axis=1)
    i, j, k = np.meshgrid(np.arange(nx), np.arange(ny), np.arange(nz), indexing="ij")
    base = (i + (nx + 1) * (j + (ny + 1) * k)).ravel()
    corner = np.array(
        [dx + (nx + 1) * (dy + (ny + 1) * dz) for dz in (0, 1) for dy in (0, 1) for dx in (0, 1)],
        dtype=np.int64,
    )
    tets = (base[:, None, None] + corner[_KUHN][None, :, :]).reshape(-1, 4)
    return TetMesh(points=points, tets=_orient(points, tets), source="box_tets")


def slab_tets(
    size: Sequence[float] = (0.1, 0.1),
    thickness: float = 0.01,
    cells: Sequence[int] = (10, 10),
    layers: int = 2,
    origin: Sequence[float] = (0.0, 0.0, 0.0),
) -> TetMesh:
    """A thin slab ``size[0] x size[1]`` in x/y and ``thickness`` in z, with ``layers`` cell layers."""
    return box_tets((size[0], size[1], thickness), (cells[0], cells[1], layers), origin)


def cylinder_tets(
    radius: float = 0.05,
    length: float = 0.2,
    rings: int = 3,
    segments: int = 12,
    layers: int = 10,
    axis: int = 2,
) -> TetMesh:
    """A solid cylinder along ``axis`` (0=x, 1=y, 2=z) from 0 to ``length``: polar disk grid extruded.

    The disk has a centre node plus ``rings`` rings of ``segments`` nodes; each prism between two
    layers is cut into 3 tets by the global-index rule (lowest index first), which makes shared
    quad faces get matching diagonals.
    """
    if rings < 1 or segments < 3 or layers < 1 or radius <= 0 or length <= 0:
        raise MeshError("cylinder_tets: need rings >= 1, segments >= 3, layers >= 1 and positive sizes.")
    ang = 2 * np.pi * np.arange(segments) / segments
    disk_nodes = [np.zeros(2)]
    for r in range(1, rings + 1):
        rr = radius * r / rings
        disk_nodes.extend(np.stack([rr * np.cos(ang), rr * np.sin(ang)], axis=1))
    disk = np.asarray(disk_nodes)
    ring = lambda r, s: 0 if r == 0 else 1 + (r - 1) * segments + (s % segments)  # noqa: E731
    disk_tris = []
    for s in range(segments):
        disk_tris.append((0, ring(1, s), ring(1, s + 1)))
        for r in range(1, rings):
            a, b, c, d = ring(r, s), ring(r, s + 1), ring(r + 1, s), ring(r + 1, s + 1)
            disk_tris.append((a, c, d))
            disk_tris.append((a, d, b))
    tris = np.sort(np.asarray(disk_tris, dtype=np.int64), axis=1)
    nd = len(disk)
    zs = np.linspace(0.0, length, layers + 1)
    pts = np.zeros(((layers + 1) * nd, 3))
    other = [a for a in range(3) if a != axis]
    for layer, z in enumerate(zs):
        pts[layer * nd : (layer + 1) * nd, other[0]] = disk[:, 0]
        pts[layer * nd : (layer + 1) * nd, other[1]] = disk[:, 1]
        pts[layer * nd : (layer + 1) * nd, axis] = z
    layer_tets = []
    for layer in range(layers):
        lo, hi = layer * nd, (layer + 1) * nd
        a, b, c = tris[:, 0], tris[:, 1], tris[:, 2]
        layer_tets.append(np.stack([a + lo, b + lo, c + lo, a + hi], axis=1))
        layer_tets.append(np.stack([b + lo, c + lo, a + hi, b + hi], axis=1))
        layer_tets.append(np.stack([c + lo, a + hi, b + hi, c + hi], axis=1))
    tets = np.concatenate(layer_tets)
    return TetMesh(points=pts, tets=_orient(pts, tets), source="cylinder_tets")


def tetrahedralize(
    surface: SurfaceMesh,
    max_volume: float | None = None,
    min_ratio: float = 1.5,
    min_dihedral: float = 10.0,
) -> TetMesh:
    """Fill a closed, manifold triangle surface with quality tets using TetGen (the ``tetgen`` package).

    ``max_volume`` (m^3) bounds tet size; ``min_ratio`` is TetGen's radius-edge bound and
    ``min_dihedral`` its minimum dihedral angle in degrees.
    """
    import tetgen  # deferred: optional mesher, only this function needs it
    import trimesh  # deferred: ~100 ms import, only surface handling needs it

    where = surface.source or "surface"
    tm = trimesh.Trimesh(surface.points, surface.triangles, process=True)
    if not tm.is_watertight:
        raise MeshError(
            f"{where}: the surface is not closed (watertight), so it has no inside to fill with "
            "tetrahedra. Close the holes (e.g. trimesh.repair.fill_holes) first."
        )
    # TetGen dumps the facets it skipped on self-intersection to ./_skipped.{node,face};
    # remove the ones this call creates so a failed call leaves nothing in the working directory.
    dumps = [Path("_skipped.node"), Path("_skipped.face")]
    existed = [p.exists() for p in dumps]
    try:
        tg = tetgen.TetGen(np.asarray(tm.vertices, dtype=np.float64), np.asarray(tm.faces, dtype=np.int32))
        nodes, elems, *_ = tg.tetrahedralize(
            quality=True,
            minratio=float(min_ratio),
            mindihedral=float(min_dihedral),
            maxvolume=float(max_volume) if max_volume else -1.0,
            quiet=True,
        )
    except Exception as exc:  # TetGen reports self-intersections etc. as RuntimeError
        raise MeshError(f"{where}: TetGen failed ({exc}). Check the surface for self-intersections.") from exc
    finally:
        for path, was_there in zip(dumps, existed):
            if not was_there:
                path.unlink(missing_ok=True)
    nodes = np.asarray(nodes, dtype=np.float64)
    tets = validate_tets(nodes, np.asarray(elems, dtype=np.int64), where, fix_inverted=True, drop_degenerate=True)
    return TetMesh(points=nodes, tets=tets, source=f"tetgen({where})")
