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
    pos, block_offsets, phase_offsets = _phase_blocks(key, n_slabs)
    q = ((centroid - centroid.min(axis=0)) / (np.ptp(centroid, axis=0) + 1e-300) * 1023).astype(np.int64)
    morton = np.zeros(m, dtype=np.int64)
    for bit in range(10):
        for d in range(3):
            morton |= ((q[:, d] >> bit) & 1) << (3 * bit + d)
    order = np.lexsort((morton, pos[key]))
    return order.astype(np.int64), block_offsets, phase_offsets


def _phase_blocks(key: np.ndarray, n_slabs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For slab keys ``key`` (n_slabs = leftover): (pos, block_offsets, phase_offsets), ``pos``
    the place of each slab in [even slabs..., odd slabs..., leftovers], the offsets of the
    blocks in that order and of the two parallel phases."""
    even = list(range(0, n_slabs, 2))
    odd = list(range(1, n_slabs, 2))
    pos = np.empty(n_slabs + 1, dtype=np.int64)
    pos[even + odd + [n_slabs]] = np.arange(n_slabs + 1)
    counts = np.bincount(pos[key], minlength=n_slabs + 1)
    block_offsets = np.concatenate([[0], np.cumsum(counts[:n_slabs])]).astype(np.int64)
    phase_offsets = np.array([0, len(even), n_slabs], dtype=np.int64)
    return pos, block_offsets, phase_offsets


def _vertex_slab_keys(
    points: np.ndarray, owner: np.ndarray, touched: np.ndarray, axis: int, n_slabs: int
) -> np.ndarray:
    """Slab of each vertex constraint (quantiles of the vertex's position along ``axis``), or
    n_slabs for a leftover: constraint ``owner[k]`` reads and moves vertex ``touched[k]``."""
    n = points.shape[0]
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(points[:, axis], kind="stable")] = np.arange(n)
    slab = rank * n_slabs // max(n, 1)
    # a vertex touched by constraints of slabs more than one apart makes them unsafe to run in parallel
    lo = np.full(n, n_slabs, dtype=np.int64)
    hi = np.full(n, -1, dtype=np.int64)
    np.minimum.at(lo, touched, slab[owner])
    np.maximum.at(hi, touched, slab[owner])
    span = np.zeros(n, dtype=np.int64)
    np.maximum.at(span, owner, (hi - lo)[touched])
    return np.where(span <= 1, slab, n_slabs)


def vertex_slab_partition(
    points: np.ndarray, tets: np.ndarray, ptr: np.ndarray, inc: np.ndarray, n_slabs: int, max_serial: float = 0.05
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Order one-per-vertex constraints whose constraint ``i`` reads and moves the vertices of
    vertex ``i``'s tets (``inc[ptr[i]:ptr[i + 1]]``, the nodal volume constraints of
    :func:`vrmed.systems.tissue.kernels.solve_nodal_volume`) for a parallel sweep, as
    :func:`slab_partition` orders tets: returns (order, block_offsets, phase_offsets).

    Vertices are cut into ``n_slabs`` slabs along the longest axis (fewer, by 2, while more than
    ``max_serial`` of them would be leftovers); a constraint is kept in its vertex's slab when
    every vertex it touches is touched only by constraints of one slab or two neighbouring ones,
    so no two constraints of even slabs (or of odd slabs) touch a common vertex: two phases of
    parallel blocks, then the leftovers serially. ``order`` permutes the vertices into [even
    slabs..., odd slabs..., leftovers], by vertex index inside each."""
    n = points.shape[0]
    owner4 = np.repeat(np.repeat(np.arange(n, dtype=np.int64), np.diff(ptr)), 4)
    touched = np.ascontiguousarray(tets[inc]).ravel()
    axis = int(np.argmax(points.max(axis=0) - points.min(axis=0))) if n else 0
    n_slabs = max(2, 2 * (int(n_slabs) // 2))
    key = _vertex_slab_keys(points, owner4, touched, axis, n_slabs)
    while n_slabs > 2 and np.count_nonzero(key == n_slabs) > max_serial * n:
        n_slabs -= 2
        key = _vertex_slab_keys(points, owner4, touched, axis, n_slabs)
    pos, block_offsets, phase_offsets = _phase_blocks(key, n_slabs)
    order = np.argsort(pos[key], kind="stable")
    return order.astype(np.int64), block_offsets, phase_offsets
