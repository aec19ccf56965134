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


class _NoOp:
    """A plugin constraint that projects nothing: it sends the step through the solver's Python
    substep loop (``solver._step_with_added_constraints``)."""

    name = "no-op"

    @staticmethod
    def kernel(*_args: object) -> None:
        """Project nothing."""

    def arrays(self) -> tuple:
        """No arrays."""
        return ()

    def end_step(self) -> None:
        """Nothing to advance."""

    def hold(self, w: np.ndarray) -> None:
        """Holds no axis."""


@pytest.mark.parametrize(("warm", "driven", "threads"), [(0.0, False, 0), (1.0, True, 0), (1.0, True, 1)])
def test_parallel_phases_equal_one_serial_sweep_bit_for_bit(warm: float, driven: bool, threads: int) -> None:
    """The one-launch frame (``K.step_frame_parallel``: tasks claimed from atomic counters) against
    the same body with no blocks (every tet swept serially in the stored order) and against the
    substep loop run from Python (``K.substep`` with its two launches per substep and separate
    vertex passes; the path of bodies with plugin constraints, here a no-op one); ``driven`` adds
    an attachment and a slide plane (their placement task), ``threads`` = 1 runs every task on one
    thread (no deadlock, same order)."""
    parallel = _twisted_box((8, 8, 8))
    serial = _twisted_box((8, 8, 8))
    looped = _twisted_box((8, 8, 8))
    looped.constraints = [_NoOp()]
    assert parallel.n_tets >= K.PARALLEL_MIN_TETS  # so the step takes the parallel phases
    assert parallel.block_offsets.shape[0] > 2 and parallel.n_serial_tets < parallel.n_tets
    # no blocks: every tet is a "leftover", swept serially in the stored order
    serial.block_offsets = np.zeros(1, dtype=np.int64)
    serial.phase_offsets = np.zeros(1, dtype=np.int64)
    top = np.flatnonzero(parallel.x[:, 1] > 0.2 - 1e-3)
    before = numba.get_num_threads()
    if threads:
        numba.set_num_threads(threads)
    try:
        for body in (parallel, serial, looped):
            body.warm_start = warm
            if driven:
                body.attach(top[:5], body.x[top[:5]] + np.array([0.0, 0.01, 0.0]))
                body.slide(top[5:20], 1)
                body.set_slide_targets(body.x[top[5:20], 1] - 0.005)
            for _ in range(4):
                step_softbody(body, 1.0 / 90.0, 10, GRAVITY)
    finally:
        numba.set_num_threads(before)
    assert np.all(np.isfinite(parallel.x))
    assert not np.allclose(parallel.x, parallel.rest_points, atol=1e-3), "the step must do something"
    for name in ("x", "v", "x_prev", "lam", "warm_d", "warm_dx", "recover_near"):
        assert np.array_equal(getattr(parallel, name), getattr(serial, name)), name
        assert np.array_equal(getattr(parallel, name), getattr(looped, name)), name


@pytest.mark.slow
def test_the_tet_loop_has_no_call_and_no_reference_counting() -> None:
    # a fresh compile (the cached one carries no assembly) of the plain loop; the warm loop
    # shares its helpers (_tet_inputs, _block_system, _gradients)
    f64_2 = nt.Array(nt.float64, 2, "C")
    f64_1 = nt.Array(nt.float64, 1, "C")
    sig = (f64_2, f64_2, f64_2, nt.Array(nt.int64, 2, "C"), nt.Array(nt.float64, 3, "C"), f64_1, f64_1)
    sig += (nt.Array(nt.boolean, 1, "C"), nt.float64, nt.float64, nt.float64, nt.int64, nt.int64)
    opts = {k: v for k, v in K.solve_plain.targetoptions.items() if k not in ("cache", "nopython")}  # its fastmath too
    fresh = numba.njit(**opts)(K.solve_plain.py_func)
    fresh.compile(sig)
    asm = fresh.inspect_asm(sig).split("_ZN7cpython")[0]  # the function itself, not its Python wrapper
    assert "vsqrtsd" in asm  # the tet step is in there
    assert "NRT_incref" not in asm and "NRT_decref" not in asm
    assert not re.search(r"^\s+call", asm, re.MULTILINE)


def test_any_flagged_reads_every_flag_including_the_tail() -> None:
    # the recovery pass is skipped when this says no flag is set: it must see each of them
    # (8 per 64-bit word, then the m % 8 left over)
    near = np.zeros(8 * 5 + 3, dtype=np.bool_)
    assert not K.any_flagged(near)
    for t in range(near.shape[0]):
        near[t] = True
        assert K.any_flagged(near), t
        near[t] = False
    assert not K.any_flagged(np.zeros(0, dtype=np.bool_))
