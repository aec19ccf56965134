"""Numba kernels of the cloth drawing (the solve is in :mod:`vrmed.systems.cloth.pd`)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def vertex_normals(x, tris, out):
    """Area-weighted vertex normals of the sheet into ``out`` (V, 3), unit length."""
    out[:] = 0.0
    for t in range(tris.shape[0]):
        a, b, c = tris[t, 0], tris[t, 1], tris[t, 2]
        e1x, e1y, e1z = x[b, 0] - x[a, 0], x[b, 1] - x[a, 1], x[b, 2] - x[a, 2]
        e2x, e2y, e2z = x[c, 0] - x[a, 0], x[c, 1] - x[a, 1], x[c, 2] - x[a, 2]
        nx = e1y * e2z - e1z * e2y
        ny = e1z * e2x - e1x * e2z
        nz = e1x * e2y - e1y * e2x
        for i in (a, b, c):
            out[i, 0] += nx
            out[i, 1] += ny
            out[i, 2] += nz
    for i in range(out.shape[0]):
        m = np.sqrt(out[i, 0] ** 2 + out[i, 1] ** 2 + out[i, 2] ** 2)
        if m > 0.0:
            out[i, 0] /= m
            out[i, 1] /= m
            out[i, 2] /= m
        else:
            out[i, 1] = 1.0
