"""Properties the tissue solver's speed rests on (issue #16 item 6; docs/physics.md, "Benchmark").

- Small bodies skip the parallel phases (``kernels.PARALLEL_MIN_TETS``) and large ones use them;
  both must give the same Gauss-Seidel sweep, bit for bit, since the blocks of a phase share no
  vertex. Checked by stepping one body with its slab blocks and a twin with none (one serial
  sweep in the same stored order).
- The per-tet loop compiles to straight-line code: no call and no reference counting per tet.
  Both happened before (a ~70-argument call per tet; then ~30 atomic reference-count updates
  per tet from ``inline="always"`` functions of the arrays), each costing 12-24 % of a frame.
"""

from __future__ import annotations

import re

import numba
import numpy as np
import pytest
from numba import types as nt

from vrmed.components.tissue.softbody import Material, SoftBody
from vrmed.mesh import box_tets
from vrmed.systems.tissue import kernels as K
from vrmed.systems.tissue.solver import step_softbody

GRAVITY = np.array([0.0, -9.81, 0.0])


def _twisted_box(cells: tuple[int, int, int]) -> SoftBody:
    """A 0.2 m box, bottom pinned, deformed at random (so tets differ and some are far from
    rest), damped: every branch of the tet step runs."""
    mesh = box_tets((0.2, 0.2, 0.2), cells)
    y = mesh.points[:, 1]
    body = SoftBody.from_mesh(mesh, Material(1.0e4, 0.45, 1000.0, damping=0.002), pins=np.flatnonzero(y < 1e-9))
    rng = np.random.default_rng(3)
    free = body.inv_mass[:, 0] > 0.0
    body.x[free] += rng.normal(0.0, 0.01, (int(free.sum()), 3))
    body.x_prev[:] = body.x
    return body


@pytest.mark.parametrize("warm", [0.0, 1.0])
def test_parallel_phases_equal_one_serial_sweep_bit_for_bit(warm: float) -> None:
    parallel = _twisted_box((8, 8, 8))
    serial = _twisted_box((8, 8, 8))
    assert parallel.n_tets >= K.PARALLEL_MIN_TETS  # so the step takes the parallel phases
    assert parallel.block_offsets.shape[0] > 2 and parallel.n_serial_tets < parallel.n_tets
    # no blocks: every tet is a "leftover", swept serially in the stored order
    serial.block_offsets = np.zeros(1, dtype=np.int64)
    serial.phase_offsets = np.zeros(1, dtype=np.int64)
    for body in (parallel, serial):
        body.warm_start = warm
        for _ in range(4):
            step_softbody(body, 1.0 / 90.0, 10, GRAVITY)
    assert np.all(np.isfinite(parallel.x))
    assert not np.allclose(parallel.x, parallel.rest_points, atol=1e-3), "the step must do something"
    for name in ("x", "v", "x_prev", "lam", "warm_d", "warm_dx", "recover_near"):
        assert np.array_equal(getattr(parallel, name), getattr(serial, name)), name


@pytest.mark.slow
def test_the_tet_loop_has_no_call_and_no_reference_counting() -> None:
    # a fresh compile (the cached one carries no assembly) of the plain loop; the warm loop
    # shares its helpers (_tet_inputs, _block_system, _gradients)
    f64_2 = nt.Array(nt.float64, 2, "C")
    f64_1 = nt.Array(nt.float64, 1, "C")
    sig = (f64_2, f64_2, f64_2, nt.Array(nt.int64, 2, "C"), nt.Array(nt.float64, 3, "C"), f64_1, f64_1)
    sig += (nt.Array(nt.boolean, 1, "C"), nt.float64, nt.float64, nt.float64, nt.int64, nt.int64)
    fresh = numba.njit(K.solve_plain.py_func)
    fresh.compile(sig)
    asm = fresh.inspect_asm(sig).split("_ZN7cpython")[0]  # the function itself, not its Python wrapper
    assert "vsqrtsd" in asm  # the tet step is in there
    assert "NRT_incref" not in asm and "NRT_decref" not in asm
    assert not re.search(r"^\s+call", asm, re.MULTILINE)
