"""Compiled topology helpers shared by the tissue cut and its surface: connected pieces of a tet mesh."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def find_root(parent: np.ndarray, i: int) -> int:
    """Root of i in the union-find forest ``parent`` (halving the path on the way)."""
    while parent[i] != i:
        parent[i] = parent[parent[i]]  # path halving
        i = parent[i]
    return i


@njit(cache=True)
def piece_roots(tets: np.ndarray, n: int) -> np.ndarray:
    """Union-find over the tets' vertices: the root of every vertex's piece (compiled: a cut on a
    20k-tet organ must not stall the frame, and the Python loop took ~4 us per tet)."""
    parent = np.arange(n)
    for t in range(tets.shape[0]):
        ra = find_root(parent, tets[t, 0])
        for k in range(1, 4):
            ro = find_root(parent, tets[t, k])
            if ro != ra:
                parent[ro] = ra
    for i in range(n):
        parent[i] = find_root(parent, i)
    return parent
