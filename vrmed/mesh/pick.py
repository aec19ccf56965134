"""Exact ray picking against a triangle surface: the ``mesh`` pick shape of
:class:`~vrmed.components.scene.Interactable`.

A surface is prepared once (when the component is made, i.e. when the pack loads): its
triangles are ordered along a Morton (Z-order) curve of their centroids so that each run
of :data:`BLOCK` consecutive triangles is spatially compact; each run gets its
axis-aligned bounding box, and so does each run of :data:`BLOCK` runs (a fixed two-level
box hierarchy). A pick then tests the whole surface's box, the groups' and runs' boxes
(slab test; a box the ray enters beyond the nearest hit so far is skipped) and the
triangles of the runs the ray enters with the Moller-Trumbore test (Moller T, Trumbore
B. Fast, minimum storage ray-triangle intersection. J Graphics Tools 1997; 2(1):21-28),
both faces, nearest hit first. The kernel works on the prepared flat arrays and allocates
nothing, so pointing every frame costs no garbage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numba import njit

from .io import load_surface_mesh
from .meshtypes import MeshError

#: Triangles per bounding-box run: small enough that a run's box is tight, large enough
#: that the run boxes stay few (a 16,000-face lobe has 1,000 of them).
BLOCK = 16
#: Hits nearer than this along the ray (m, in the mesh's frame) are ignored, so a ray that
#: starts on a surface does not pick it at distance 0.
T_MIN = 1e-9


@dataclass(frozen=True)
class PickMesh:
    """A surface prepared for picking: per triangle its first vertex ``v0`` and edges
    ``e1`` = v1 - v0, ``e2`` = v2 - v0 (float64, (m, 3), in Morton order); per run of
    :data:`BLOCK` triangles its box ``lo``/``hi`` ((k, 3)); the whole surface's box
    ``box_lo``/``box_hi`` (3,)."""

    v0: np.ndarray
    e1: np.ndarray
    e2: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    lo2: np.ndarray
    hi2: np.ndarray
    box_lo: np.ndarray
    box_hi: np.ndarray

    @property
    def n_triangles(self) -> int:
        """Number of triangles."""
        return int(self.v0.shape[0])


def _spread_bits(x: np.ndarray) -> np.ndarray:
    """10-bit integers with two zero bits between their bits (for a 30-bit Morton code)."""
    x = x.astype(np.int64) & 0x3FF
    x = (x | (x << 16)) & 0x30000FF
    x = (x | (x << 8)) & 0x300F00F
    x = (x | (x << 4)) & 0x30C30C3
    return (x | (x << 2)) & 0x9249249


def prepare_pick_mesh(points: np.ndarray, triangles: np.ndarray) -> PickMesh:
    """Prepare a triangle surface (``points`` (n, 3), ``triangles`` (m, 3) indices) for
    :func:`ray_hit`. Degenerate (zero-area) triangles are dropped: no ray can hit them."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    tri = np.asarray(triangles, dtype=np.int64).reshape(-1, 3)
    if tri.size == 0:
        raise MeshError("a pick mesh needs at least one triangle")
    a, b, c = pts[tri[:, 0]], pts[tri[:, 1]], pts[tri[:, 2]]
    area2 = np.linalg.norm(np.cross(b - a, c - a), axis=1)
    keep = area2 > 0.0
    a, b, c = a[keep], b[keep], c[keep]
    if len(a) == 0:
        raise MeshError("a pick mesh needs at least one triangle with non-zero area")
    centroid = (a + b + c) / 3.0
    box_lo, box_hi = np.minimum(np.minimum(a, b), c).min(axis=0), np.maximum(np.maximum(a, b), c).max(axis=0)
    span = np.maximum(box_hi - box_lo, 1e-12)
    q = np.clip(((centroid - box_lo) / span * 1023.0).astype(np.int64), 0, 1023)
    order = np.argsort(
        _spread_bits(q[:, 0]) | (_spread_bits(q[:, 1]) << 1) | (_spread_bits(q[:, 2]) << 2), kind="stable"
    )
    a, b, c = a[order], b[order], c[order]
    tlo, thi = np.minimum(np.minimum(a, b), c), np.maximum(np.maximum(a, b), c)
    starts = np.arange(0, len(a), BLOCK)
    lo, hi = np.minimum.reduceat(tlo, starts, axis=0), np.maximum.reduceat(thi, starts, axis=0)
    groups = np.arange(0, len(lo), BLOCK)  # the runs' boxes in runs of BLOCK: a second level
    lo2, hi2 = np.minimum.reduceat(lo, groups, axis=0), np.maximum.reduceat(hi, groups, axis=0)
    c64 = np.ascontiguousarray
    return PickMesh(c64(a), c64(b - a), c64(c - a), c64(lo), c64(hi), c64(lo2), c64(hi2), c64(box_lo), c64(box_hi))


_CACHE: dict[str, PickMesh] = {}


def load_pick_mesh(path: str | Path) -> PickMesh:
    """The prepared surface of a mesh file (read and prepared once per file and process;
    :class:`MeshError` naming the file if it cannot be read or has no triangles)."""
    key = str(path)  # pack assets are absolute paths already: no resolve() (a syscall) per pick
    mesh = _CACHE.get(key)
    if mesh is None:
        surface = load_surface_mesh(Path(key))
        try:
            mesh = prepare_pick_mesh(surface.points, surface.triangles)
        except MeshError as exc:
            raise MeshError(f"{key}: {exc}") from None
        _CACHE[key] = mesh
    return mesh


@njit(cache=True, nogil=True)
def _axis(o, inv, lo, hi, tn, tf):
    """One axis of the slab test: the ray's interval [tn, tf] cut to the slab lo..hi (``inv``
    = 1 / direction, inf for a zero component: then the origin must lie in the slab)."""
    if math.isinf(inv):
        if o < lo or o > hi:
            return 1.0, 0.0  # empty
        return tn, tf
    a, b = (lo - o) * inv, (hi - o) * inv
    if a > b:
        a, b = b, a
    return max(tn, a), min(tf, b)


@njit(cache=True, nogil=True)
def _slab(ox, oy, oz, ix, iy, iz, lox, loy, loz, hix, hiy, hiz, tmax):
    """Entry distance of the ray into a box within 0..tmax, or inf (Kay and Kajiya's slabs;
    an axis-parallel ray is handled explicitly, not through 0 * inf)."""
    tn, tf = _axis(ox, ix, lox, hix, 0.0, tmax)
    tn, tf = _axis(oy, iy, loy, hiy, tn, tf)
    tn, tf = _axis(oz, iz, loz, hiz, tn, tf)
    if tn <= tf:
        return tn
    return math.inf


@njit(cache=True, nogil=True)
def _ray_hit(ox, oy, oz, dx, dy, dz, tmax, v0, e1, e2, lo, hi, lo2, hi2, box_lo, box_hi, block, cx, cy, cz, cw):
    """Nearest hit within ``tmax`` through the box hierarchy (inf: none); see :func:`ray_hit`."""
    ix = 1.0 / dx if dx != 0.0 else math.inf
    iy = 1.0 / dy if dy != 0.0 else math.inf
    iz = 1.0 / dz if dz != 0.0 else math.inf
    if (
        _slab(ox, oy, oz, ix, iy, iz, box_lo[0], box_lo[1], box_lo[2], box_hi[0], box_hi[1], box_hi[2], tmax)
        == math.inf
    ):
        return math.inf
    best = tmax
    found = False
    m = v0.shape[0]
    nb = lo.shape[0]
    for g in range(lo2.shape[0]):
        if (
            _slab(ox, oy, oz, ix, iy, iz, lo2[g, 0], lo2[g, 1], lo2[g, 2], hi2[g, 0], hi2[g, 1], hi2[g, 2], best)
            == math.inf
        ):
            continue
        for k in range(g * block, min((g + 1) * block, nb)):
            if (
                _slab(ox, oy, oz, ix, iy, iz, lo[k, 0], lo[k, 1], lo[k, 2], hi[k, 0], hi[k, 1], hi[k, 2], best)
                == math.inf
            ):
                continue
            stop = min((k + 1) * block, m)
            best, found = _triangles(ox, oy, oz, dx, dy, dz, v0, e1, e2, k * block, stop, best, found, cx, cy, cz, cw)
    return best if found else math.inf


@njit(cache=True, nogil=True)
def _triangles(ox, oy, oz, dx, dy, dz, v0, e1, e2, start, stop, best, found, cx, cy, cz, cw):
    """Moller-Trumbore over triangles start..stop-1: the nearest hit below ``best`` whose
    point p keeps ``c . p + cw >= 0`` (the clip plane; all zero: no plane)."""
    for j in range(start, stop):
        # Moller-Trumbore: p = d x e2, det = e1 . p; no culling (either face is hit)
        ax, ay, az = e1[j, 0], e1[j, 1], e1[j, 2]
        bx, by, bz = e2[j, 0], e2[j, 1], e2[j, 2]
        px, py, pz = dy * bz - dz * by, dz * bx - dx * bz, dx * by - dy * bx
        det = ax * px + ay * py + az * pz
        if det == 0.0:
            continue  # the ray is parallel to the triangle's plane
        inv = 1.0 / det
        sx, sy, sz = ox - v0[j, 0], oy - v0[j, 1], oz - v0[j, 2]
        u = (sx * px + sy * py + sz * pz) * inv
        if u < 0.0 or u > 1.0:
            continue
        qx, qy, qz = sy * az - sz * ay, sz * ax - sx * az, sx * ay - sy * ax
        v = (dx * qx + dy * qy + dz * qz) * inv
        if v < 0.0 or u + v > 1.0:
            continue
        t = (bx * qx + by * qy + bz * qz) * inv
        if T_MIN < t < best:
            if cx * (ox + t * dx) + cy * (oy + t * dy) + cz * (oz + t * dz) + cw < 0.0:
                continue  # on the cut-away side of the clip plane: not drawn, not picked
            best = t
            found = True
    return best, found


def ray_hit(
    mesh: PickMesh,
    origin: np.ndarray,
    direction: np.ndarray,
    max_distance: float = math.inf,
    clip: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0),
) -> float:
    """Ray parameter t of the nearest triangle the ray ``origin + t * direction`` (t >= 0,
    in the mesh's frame; t is a distance when ``direction`` is a unit vector) hits within
    ``max_distance``, or inf. Both faces of a triangle count. ``clip`` = (nx, ny, nz, d) in
    the mesh's frame: hits at p with ``n . p + d < 0`` (the cut-away side, as the renderer's
    clip plane) are skipped, so the ray reaches what lies behind them."""
    return float(
        _ray_hit(
            float(origin[0]),
            float(origin[1]),
            float(origin[2]),
            float(direction[0]),
            float(direction[1]),
            float(direction[2]),
            float(max_distance),
            mesh.v0,
            mesh.e1,
            mesh.e2,
            mesh.lo,
            mesh.hi,
            mesh.lo2,
            mesh.hi2,
            mesh.box_lo,
            mesh.box_hi,
            BLOCK,
            float(clip[0]),
            float(clip[1]),
            float(clip[2]),
            float(clip[3]),
        )
    )


__all__ = ["BLOCK", "PickMesh", "load_pick_mesh", "prepare_pick_mesh", "ray_hit"]
