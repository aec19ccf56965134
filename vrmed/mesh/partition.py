"""Race-free parallel ordering of a tet mesh: slabs along the longest axis, Morton order inside.

Load-time preprocessing (plain numpy): the XPBD solver sweeps even slabs in parallel, then odd
slabs, then the leftovers serially, so no two threads ever write the same vertex.
"""

from __future__ import annotations

import numpy as np


def _slab_keys(points: np.ndarray, tets: np.ndarray, centroid: np.ndarray, axis: int, n_slabs: int) -> np.ndarray:
    """Slab of each tet (quantiles of the centroid along ``axis``), or n_slabs for a leftover."""
    m = tets.shape[0]
    rank = np.empty(m, dtype=np.int64)
    rank[np.argsort(centroid[:, axis], kind="stable")] = np.arange(m)
    slab = rank * n_slabs // max(m, 1)
    # a vertex touching slabs more than one apart makes its tets unsafe to run in parallel
    lo = np.full(points.shape[0], n_slabs, dtype=np.int64)
    hi = np.full(points.shape[0], -1, dtype=np.int64)
    for k in range(4):
        np.minimum.at(lo, tets[:, k], slab)
        np.maximum.at(hi, tets[:, k], slab)
    span = (hi - lo)[tets].max(axis=1)
    return np.where(span <= 1, slab, n_slabs)


def slab_partition(
    points: np.ndarray, tets: np.ndarray, n_threads: int, max_serial: float = 0.05
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Order tets for the parallel XPBD sweep: returns (order, block_offsets, phase_offsets).

    The sweep is :func:`vrmed.systems.tissue.kernels.step_kernel`.

    ``order`` permutes the input tets into [even slabs..., odd slabs..., leftovers]; within a
    slab tets keep a spatially coherent (Morton) order for cache locality. Uses 2 slabs per
    thread, fewer if thin slabs would leave more than ``max_serial`` of the tets to the serial
    tail (long or sliver tets straddle thin slabs).
    """
    m = tets.shape[0]
    centroid = points[tets].mean(axis=1)
    axis = int(np.argmax(points.max(axis=0) - points.min(axis=0)))
    n_slabs = max(2, 2 * int(n_threads))
    key = _slab_keys(points, tets, centroid, axis, n_slabs)
    while n_slabs > 2 and np.count_nonzero(key == n_slabs) > max_serial * m:
        n_slabs -= 2
        key = _slab_keys(points, tets, centroid, axis, n_slabs)
    even = list(range(0, n_slabs, 2))
    odd = list(range(1, n_slabs, 2))
    pos = np.empty(n_slabs + 1, dtype=np.int64)
    pos[even + odd + [n_slabs]] = np.arange(n_slabs + 1)
    q = ((centroid - centroid.min(axis=0)) / (np.ptp(centroid, axis=0) + 1e-300) * 1023).astype(np.int64)
    morton = np.zeros(m, dtype=np.int64)
    for bit in range(10):
        for d in range(3):
            morton |= ((q[:, d] >> bit) & 1) << (3 * bit + d)
    order = np.lexsort((morton, pos[key]))
    counts = np.bincount(pos[key], minlength=n_slabs + 1)
    block_offsets = np.concatenate([[0], np.cumsum(counts[:n_slabs])]).astype(np.int64)
    phase_offsets = np.array([0, len(even), n_slabs], dtype=np.int64)
    return order.astype(np.int64), block_offsets, phase_offsets
