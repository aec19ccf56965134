"""Mesh IO, procedural generation, tetrahedralisation and quality checks for soft bodies.

Public API: :class:`TetMesh`, :class:`SurfaceMesh`, :func:`load_tet_mesh`,
:func:`load_surface_mesh`, :func:`tetrahedralize`, :func:`box_tets`, :func:`cylinder_tets`,
:func:`slab_tets`, :func:`lattice_remesh`, :func:`tet_quality`, :func:`check_tets` and :class:`MeshError`.
"""

from __future__ import annotations

from vrmed.mesh.generate import box_tets, cylinder_tets, lattice_remesh, slab_tets, tetrahedralize
from vrmed.mesh.io import load_surface_mesh, load_tet_mesh
from vrmed.mesh.meshtypes import MeshError, SurfaceMesh, TetMesh
from vrmed.mesh.quality import TetQualityReport, check_tets, signed_volumes, tet_quality

__all__ = [
    "MeshError",
    "SurfaceMesh",
    "TetMesh",
    "TetQualityReport",
    "box_tets",
    "check_tets",
    "cylinder_tets",
    "lattice_remesh",
    "load_surface_mesh",
    "load_tet_mesh",
    "signed_volumes",
    "slab_tets",
    "tet_quality",
    "tetrahedralize",
]
