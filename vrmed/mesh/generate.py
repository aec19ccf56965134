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
    """Fill a closed, manifold triangle surface with quality tets using TetGen (the optional
    ``tetgen`` package: ``pip install 'vrmed[tetgen]'``; TetGen's C++ is AGPL-3.0).

    ``max_volume`` (m^3) bounds tet size; ``min_ratio`` is TetGen's radius-edge bound and
    ``min_dihedral`` its minimum dihedral angle in degrees.
    """
    try:
        import tetgen  # deferred: optional mesher (AGPL C++ inside), only this function needs it
    except ImportError:
        raise MeshError(
            f"{surface.source or 'surface'}: tetrahedralize() needs the optional TetGen mesher, which is not "
            "installed: pip install 'vrmed[tetgen]' (its C++ is AGPL-3.0: check that suits your distribution), "
            "or build tets without it: lattice_remesh(), box_tets(), or a tet mesh file (Gmsh, VTK)."
        ) from None
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


def lattice_remesh(mesh: TetMesh, cell_size: float) -> TetMesh:
    """Re-tetrahedralise ``mesh`` as a regular lattice of cubes of edge ``cell_size`` (m), each cut
    into 6 Kuhn tets, keeping the cubes whose centre lies inside the mesh's boundary surface.

    This is the embedding approach of SOFA's sparse grid (``SparseGridTopology``; Nesme et al.
    2009, "Preserving topology and elasticity for embedded deformable models"): every tet has
    the same, good shape (no slivers, no light vertices), so the solver's stiffness ratio is set
    by ``cell_size`` alone and no tet needs softening; the boundary is a staircase, so draw the
    original surface embedded in the lattice (``vrmed.api.embed_surface`` with
    :meth:`TetMesh.boundary_triangles` of the original mesh) instead of the lattice's own. The
    volume kept is recorded in ``notes`` (within a cell layer of the true one).
    """
    if not cell_size > 0:
        raise MeshError(f"lattice_remesh: cell_size must be > 0 m, got {cell_size}.")
    where = mesh.source or "mesh"
    lo, hi = mesh.points.min(axis=0), mesh.points.max(axis=0)
    cells = np.maximum(1, np.ceil((hi - lo) / cell_size).astype(np.int64))
    if int(np.prod(cells)) > 2_000_000:
        raise MeshError(
            f"{where}: lattice_remesh with cell_size {cell_size} m needs {int(np.prod(cells))} cubes "
            f"for a {np.round(hi - lo, 4).tolist()} m body; use a larger cell_size."
        )
    origin = lo + 0.5 * ((hi - lo) - cells * cell_size)  # centre the lattice on the body
    box = box_tets(tuple(cells * cell_size), tuple(int(c) for c in cells), tuple(origin))
    nx, ny, nz = (int(c) for c in cells)
    i, j, k = np.meshgrid(np.arange(nx), np.arange(ny), np.arange(nz), indexing="ij")
    inside = _centres_inside(mesh, origin, cell_size, cells)[i.ravel(), j.ravel(), k.ravel()]
    if not np.any(inside):
        raise MeshError(
            f"{where}: lattice_remesh: no cube of {cell_size} m has its centre inside; use a smaller cell_size."
        )
    # box_tets emits the 6 tets of cube (i, j, k) consecutively, cubes in the meshgrid order above
    keep = np.repeat(inside, 6)
    tets = box.tets[keep]
    piece = _tet_components(tets, len(box.points))
    sizes = np.bincount(piece)
    dropped = len(tets) - int(sizes.max())
    tets = tets[piece == np.argmax(sizes)]  # cubes cut off from the body (thin parts) would fall away
    used = np.unique(tets)
    remap = np.full(len(box.points), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    v_old = float(np.abs(_volumes(mesh.points, mesh.tets)).sum())
    v_new = len(tets) / 6 * cell_size**3
    notes = list(mesh.notes) + [
        f"lattice_remesh: {mesh.n_tets} tets -> {len(tets)} Kuhn tets of {cell_size} m cubes; "
        f"volume {100.0 * (v_new / v_old - 1.0):+.1f} % of the original"
        + (f" ({dropped // 6} cubes not connected to the largest piece dropped)" if dropped else "")
    ]
    return TetMesh(points=box.points[used], tets=remap[tets], source=f"lattice({where})", notes=notes)


def _centres_inside(mesh: TetMesh, origin: np.ndarray, cell: float, cells: np.ndarray) -> np.ndarray:
    """Boolean grid (nx, ny, nz): the centre of lattice cube (i, j, k) lies in some tet of ``mesh``
    (each tet tests the few centres in its bounding box, by barycentric coordinates)."""
    p = mesh.points[mesh.tets]  # (m, 4, 3)
    lo = np.ceil((p.min(axis=1) - origin) / cell - 0.5).astype(np.int64)
    hi = np.floor((p.max(axis=1) - origin) / cell - 0.5).astype(np.int64)
    lo, hi = np.maximum(lo, 0), np.minimum(hi, cells - 1)
    span = np.maximum(hi - lo + 1, 0)
    count = span.prod(axis=1)
    t = np.repeat(np.arange(len(p)), count)
    r = np.arange(len(t)) - np.repeat(np.cumsum(count) - count, count)  # rank within the tet's box
    sx, sy = span[t, 0], span[t, 1]
    idx = lo[t] + np.stack([r % sx, (r // sx) % sy, r // (sx * sy)], axis=1)
    c = origin + (idx + 0.5) * cell
    dm = np.stack([p[:, 1] - p[:, 0], p[:, 2] - p[:, 0], p[:, 3] - p[:, 0]], axis=2)
    bary = np.einsum("kij,kj->ki", np.linalg.inv(dm)[t], c - p[t, 0])
    tol = -1e-9
    hit = np.all(bary >= tol, axis=1) & (bary.sum(axis=1) <= 1.0 - tol)
    grid = np.zeros(tuple(int(n) for n in cells), dtype=bool)
    grid[idx[hit, 0], idx[hit, 1], idx[hit, 2]] = True
    return grid


def _tet_components(tets: np.ndarray, n_points: int) -> np.ndarray:
    """Connected piece of each tet (tets sharing a vertex are connected), by label propagation."""
    label = np.arange(n_points)
    while True:
        low = label[tets].min(axis=1)
        new = label.copy()
        np.minimum.at(new, tets.ravel(), np.repeat(low, 4))
        new = new[new]  # pointer jumping: halves the number of sweeps
        if np.array_equal(new, label):
            break
        label = new
    _, piece = np.unique(label[tets[:, 0]], return_inverse=True)
    return piece.ravel()


def _volumes(points: np.ndarray, tets: np.ndarray) -> np.ndarray:
    p = points[tets]
    return np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), p[:, 3] - p[:, 0]) / 6.0
