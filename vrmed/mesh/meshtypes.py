"""Mesh data types and the mesh error."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vrmed.errors import VrmedError


class MeshError(VrmedError):
    """A mesh file or mesh array is unusable; the message names the file, the element and the fix."""


@dataclass
class TetMesh:
    """A linear tetrahedral mesh: ``points`` (n, 3) float64 in metres, ``tets`` (m, 4) int64.

    ``source`` is the file it came from (if any); ``notes`` records what the loader changed
    (orientation flips, dropped elements, removed unused nodes) so nothing happens silently.
    ``surface`` is the original boundary when the tets were rebuilt at load
    (``load_tet_mesh(..., remesh=)``): draw it embedded in the tets (``embed_surface``).
    """

    points: np.ndarray
    tets: np.ndarray
    source: str | None = None
    notes: list[str] = field(default_factory=list)
    surface: SurfaceMesh | None = None

    def __post_init__(self) -> None:
        self.points = np.ascontiguousarray(self.points, dtype=np.float64).reshape(-1, 3)
        self.tets = np.ascontiguousarray(self.tets, dtype=np.int64).reshape(-1, 4)

    @property
    def n_points(self) -> int:
        """Number of nodes."""
        return int(self.points.shape[0])

    @property
    def n_tets(self) -> int:
        """Number of tetrahedra."""
        return int(self.tets.shape[0])

    def boundary_triangles(self) -> np.ndarray:
        """Triangles (k, 3) that belong to exactly one tet, wound outwards for positive tets."""
        t = self.tets
        # Faces opposite each vertex, wound so the normal points away from that vertex for a
        # positively oriented tet (volume = det[x1-x0, x2-x0, x3-x0] / 6 > 0).
        faces = np.concatenate([t[:, [1, 2, 3]], t[:, [0, 3, 2]], t[:, [0, 1, 3]], t[:, [0, 2, 1]]], axis=0)
        key = np.sort(faces, axis=1)
        _, inverse, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
        return np.ascontiguousarray(faces[counts[inverse.ravel()] == 1])


@dataclass
class SurfaceMesh:
    """A triangle surface: ``points`` (n, 3) float64, ``triangles`` (k, 3) int64."""

    points: np.ndarray
    triangles: np.ndarray
    source: str | None = None

    def __post_init__(self) -> None:
        self.points = np.ascontiguousarray(self.points, dtype=np.float64).reshape(-1, 3)
        self.triangles = np.ascontiguousarray(self.triangles, dtype=np.int64).reshape(-1, 3)
