"""Numba kernels of the cloth drawing (the solve is in :mod:`vrmed.systems.cloth.pd`)."""

from __future__ import annotations

from numba import njit

from vrmed.systems.tissue.embedding_kernels import vertex_normals as _unit_normals


@njit(cache=True)
def vertex_normals(x, tris, out):
    """Area-weighted vertex normals of the sheet into ``out`` (V, 3), unit length (the tissue
    surfaces' :func:`~vrmed.systems.tissue.embedding_kernels.vertex_normals`); a vertex with no
    area gets +y so it still shades."""
    _unit_normals(x, tris, out)
    for i in range(out.shape[0]):
        if out[i, 0] == 0.0 and out[i, 1] == 0.0 and out[i, 2] == 0.0:
            out[i, 1] = 1.0
