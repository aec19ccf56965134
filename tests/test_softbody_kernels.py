"""Numba XPBD kernels against the plain-numpy reference (systems/tissue/reference.py).

Tolerance: positions and velocities agree to 1e-12 relative (float64 round-off of the same
arithmetic in a different order); per-tet measures to 1e-12.
"""

from __future__ import annotations

import numpy as np
import pytest
from tissue_reference import kept_fractions, reference_frame

from vrmed.benchmarks import mesh_path
from vrmed.components.tissue.softbody import Material, SoftBody
from vrmed.mesh import TetMesh, box_tets, load_tet_mesh
from vrmed.systems.tissue import kernels as K
from vrmed.systems.tissue import reference as R
from vrmed.systems.tissue.solver import (
    PLAIN_STEP_TAIL,
    elastic_energy,
    step_softbody,
    tet_strain,
    tet_stress,
    update_tet_measures,
)

RTOL = 1e-12
MESHES = mesh_path("liver.msh").parent  # the SOFA meshes shipped in benchmarks/meshes/


@pytest.fixture(scope="module", params=["pinned", "free"])
def perturbed_body(request: pytest.FixtureRequest) -> SoftBody:
    """Free (no pins), its substeps with flagged tets where the step filter does not act also run
    the momentum repair (``kernels.momentum_repair``; the reference's ``momentum_repair``)."""
    mesh = box_tets((0.06, 0.05, 0.04), (3, 3, 2))
    pins = [0, 1] if request.param == "pinned" else None
    body = SoftBody.from_mesh(mesh, Material(5.0e4, 0.42, 1100.0, damping=0.003), pins=pins, velocity_damping=2.0)
    rng = np.random.default_rng(7)
    body.x += rng.normal(0.0, 0.004, body.x.shape)  # large, partly inverting distortion
    body.v[:] = rng.normal(0.0, 0.2, body.v.shape)
    if pins:
        body.x[:2] = body.rest_points[:2]
        body.v[:2] = 0.0
    body.external_force[:] = rng.normal(0.0, 0.01, body.x.shape)
    return body


@pytest.mark.parametrize(("warm", "cols"), [(0.0, 2), (1.0, 2), (1.0, 3), (1.0, 4), (1.0, 5)])
def test_substep_matches_numpy_reference(perturbed_body: SoftBody, warm: float, cols: int) -> None:
    """Plain XPBD (warm 0) and the warm-started solve (warm 1, the default) over 3 substeps;
    with three columns of multipliers (as ``SoftBody``) the warm solve checks the volume barrier
    (``kernels.BARRIER_J``) on the tets the distortion flattened (the next test loads it)."""
    b = perturbed_body
    colour = R.greedy_colouring(b.tets, b.n_vertices)
    order = np.argsort(colour, kind="stable")
    tets, Q = np.ascontiguousarray(b.tets[order]), np.ascontiguousarray(b.dm_inv[order])
    a_dev, a_hyd = b.alpha_dev[order].copy(), b.alpha_hyd[order].copy()
    offsets = np.concatenate([[0], np.cumsum(np.bincount(colour))]).astype(np.int64)
    ncol = len(offsets) - 1
    g = np.array([0.0, -9.81, 0.0])
    m = b.material
    dt, substeps = 1.0 / 90.0, 3
    x_nb, v_nb, xp_nb = b.x.copy(), b.v.copy(), b.x.copy()
    # one block per phase: the colours run one after another, exactly like the reference
    empty_i = np.zeros(0, np.int64)
    lam_nb, wdx_nb = np.zeros((len(tets), cols)), np.zeros_like(b.x)
    wd_nb = np.zeros((len(tets), 10), np.float32)
    kt = kept_fractions(len(tets))  # per-tet kept fractions, some partial, as the solver's warm_t
    K.step_kernel(
        (x_nb, v_nb, xp_nb, b.inv_mass, b.external_force, lam_nb, wd_nb, wdx_nb, kt),
        (
            tets,
            Q,
            a_dev,
            a_hyd,
            offsets,
            np.arange(ncol + 1, dtype=np.int64),
            np.zeros(len(tets), np.bool_),
            np.zeros(0, np.bool_),
        ),
        (empty_i, np.zeros((0, 3)), np.zeros((0, 3))),
        (empty_i, empty_i, np.zeros(0), np.zeros(0)),
        g,
        dt,
        substeps,
        m.gamma,
        m.damping,
        b.velocity_damping,
        warm,
        True,
        True if cols % 2 == 1 else None,  # the barrier: for a body built with it (lam's column 2; 4, 5: the slow part)
        *PLAIN_STEP_TAIL,  # the rest as the solver passes them for a plain body (one compiled version)
    )
    x_np, v_np, xp_np = b.x.copy(), b.v.copy(), b.x.copy()
    lam_np, wdx_np = np.zeros((len(tets), cols)), np.zeros_like(b.x)
    wd_np = np.zeros((len(tets), 10), np.float32)
    near_np = np.zeros(len(tets), np.bool_)  # the recovery's flags persist across substeps, as the kernels'
    state_np = (x_np, v_np, xp_np, lam_np, wdx_np, wd_np, near_np)
    reference_frame(b, state_np, (tets, Q, a_dev, a_hyd, offsets), g, dt, substeps, warm=warm, warm_t=kt)
    assert not np.allclose(x_np, b.x), "the step must do something"
    if warm:
        np.testing.assert_allclose(lam_nb, lam_np, rtol=1e-6, atol=1e-9 * np.abs(lam_np).max())
    # the warm start keeps each tet's correction in float32 (docs/physics.md): where the two
    # orders of float64 arithmetic round a value to neighbouring float32s, the results differ
    # by ~1e-7 of that correction, so the warm comparison is to 1e-7 of the displacement
    tol = RTOL if warm == 0.0 else 1e-7
    dx = np.abs(x_np - b.x).max()
    np.testing.assert_allclose(x_nb, x_np, rtol=0, atol=max(RTOL * np.abs(x_np).max(), tol * dx))
    np.testing.assert_allclose(v_nb, v_np, rtol=0, atol=(1e-9 if warm == 0.0 else 1e-6) * np.abs(v_np).max())


def test_lam_columns_agree_with_the_kernels() -> None:
    """``SoftBody.lam``: the two kept multipliers and their slow part (kernels.SLOW_WEIGHT), plus
    the volume barrier's column 2 for a body built with it."""
    from vrmed.components.tissue.softbody import LAM_COLUMNS  # deferred: only this test needs it

    assert LAM_COLUMNS == K.LAM_COLUMNS
    mesh = box_tets((0.01, 0.01, 0.01), (1, 1, 1))
    for barrier in (False, True):
        body = SoftBody.from_mesh(mesh, Material(5.4e3, 0.45, 1060.0), volume_barrier=barrier)
        assert body.lam.shape[1] == K.LAM_COLUMNS + barrier and body.has_volume_barrier == barrier


def _crushed_tet(barrier: bool) -> SoftBody:
    """A 5 cm right tet of liver-like tissue, three vertices pinned, the free one pushed towards
    the pinned face by 12.5 N, more than the stable Neo-Hookean's finite restoring force at
    collapse: with ``recover_inversions`` off it rests inverted (det F -0.46; 5 N: 0.42), the
    model's own equilibrium (docs/physics.md, "Inversion recovery"). ``barrier``: built with
    ``volume_barrier`` (``lam`` gets the barrier's column), else without (the default).

    The body holds two such tets, apart (vertices 0-3 and 4-7, the second 0.1 m along x): with
    one tet the kept fractions ``warm_d[:, 9]`` count as contiguous and numba compiled a version
    of the whole step for this test alone (~30 s of CPU on a clean cache, each of the two
    bodies); two give the solver's usual argument types (``tissue_reference.kept_fractions``)."""
    one = 0.05 * np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    mesh = TetMesh(points=np.vstack([one, one + [0.1, 0.0, 0.0]]), tets=np.array([[0, 1, 2, 3], [4, 5, 6, 7]]))
    body = SoftBody.from_mesh(
        mesh,
        Material(5.4e3, 0.45, 1060.0, damping=0.001),
        pins=[0, 1, 2, 4, 5, 6],
        velocity_damping=8.0,
        volume_barrier=barrier,
    )
    body.external_force[[3, 7]] = (0.0, 0.0, -12.5)
    assert body.lam.shape[1] == (K.LAM_COLUMNS + 1 if barrier else K.LAM_COLUMNS)
    assert not body.warm_t.flags.c_contiguous  # the solver's layout, its compiled step
    return body


def _det_f(x: np.ndarray) -> np.ndarray:
    """det F of each of :func:`_crushed_tet`'s two right tets (rest edge 0.05 m)."""
    return np.array([np.linalg.det((x[4 * k + 1 : 4 * k + 4] - x[4 * k]).T) / 0.05**3 for k in (0, 1)])


def test_the_volume_barrier_carries_a_crushing_load_at_rest_as_the_reference() -> None:
    """``kernels.BARRIER_J`` (a hard det F >= BARRIER_J in the tet's own block step, its multiplier
    kept like the elastic ones): the crushed tet comes to rest on the barrier (det F ~ BARRIER_J,
    its kept multiplier carrying the load) in step with the numpy reference; with the recovery
    after the sweep alone (two columns) it rests at the recovery's floor RECOVER_J with no kept
    force (the recovery's push is redone every substep, which on cylinder_8x30x6 fluttered)."""
    body = _crushed_tet(True)
    h = 1.0 / 90.0 / 10
    step_softbody(body, 1.0 / 90.0, 10, np.zeros(3))  # sets warm_t; then the kernel and the reference side by side
    assert body.warm_t[0] > 0.0  # (0.51: a part of the multipliers kept)
    x, v, xp = body.x.copy(), body.v.copy(), body.x_prev.copy()
    lam, wd, wdx, near = body.lam.copy(), body.warm_d.copy(), body.warm_dx.copy(), body.recover_near.copy()
    m = body.material
    for _ in range(90):
        step_softbody(body, 1.0 / 90.0, 10, np.zeros(3))
        for _s in range(10):
            # fmt: off
            R.substep(
                x, v, xp, body.inv_mass, body.external_force, np.zeros(3), body.tets, body.dm_inv, body.alpha_dev,
                body.alpha_hyd, m.gamma, np.array([0, body.n_tets]), h, m.damping, body.velocity_damping, lam=lam,
                warm_dx=wdx, warm=1.0, warm_t=body.warm_t, warm_d=wd, near=near,
            )
            # fmt: on
    np.testing.assert_allclose(body.x, x, rtol=0, atol=1e-9)
    np.testing.assert_allclose(body.lam, lam, rtol=1e-6, atol=1e-12)
    j = _det_f(body.x)
    assert np.all(np.abs(j - K.BARRIER_J) < 1e-3) and np.all(body.lam[:, 2] > 0.0)
    assert np.abs(body.v).max() < 1e-6
    plain = _crushed_tet(False)
    for _ in range(91):
        step_softbody(plain, 1.0 / 90.0, 10, np.zeros(3))
    j = _det_f(plain.x)
    assert np.all((K.RECOVER_J <= j) & (j < K.RECOVER_J + 1e-3))


def test_only_a_body_with_the_volume_barrier_compiles_it() -> None:
    """The barrier is compiled only for bodies built with it: the solver passes the kernels
    ``volume_barrier`` None for the others (also with the recovery or the warm start off, where
    it never runs), and the sweep compiled for None contains no call of the barrier's version of
    ``solve_warm`` (numba prunes the branch on the argument's type), while the one compiled for
    True does. Fresh dispatchers of ``solve_range`` (its callees come from the numba cache), so
    what other tests compiled in this process does not matter. Every argument typed as the
    solver's, so that those callees are the solver's versions, not ones compiled for this test
    alone (a left-out ``held`` compiled two more ``solve_warm``)."""
    from numba import njit  # deferred: only this test compiles a kernel of its own

    from vrmed.systems.tissue.solver import _volume_barrier

    mesh = box_tets((0.02, 0.02, 0.02), (1, 1, 1))
    mat = Material(5.4e3, 0.45, 1060.0)
    assert _volume_barrier(SoftBody.from_mesh(mesh, mat)) is None
    assert _volume_barrier(SoftBody.from_mesh(mesh, mat, volume_barrier=True)) is True
    for off in ({"recover_inversions": False}, {"warm_start": 0.0}):
        body = SoftBody.from_mesh(mesh, mat, volume_barrier=True)
        for name, value in off.items():
            setattr(body, name, value)
        assert _volume_barrier(body) is None
    m, n = 2, 4
    x, w, q = np.zeros((n, 3)), np.ones((n, 3)), np.zeros(m)
    # fmt: off
    args = (
        x, x.copy(), w, np.zeros((m, 4), np.int64), np.zeros((m, 3, 3)), q, q.copy(), np.zeros(m, np.bool_),
        np.zeros((m, 3)), np.zeros((m, 10), np.float32), kept_fractions(m), x.copy(), 1.0, 1.0, 0.0, 1.0, 0, 0, True,
    )  # warm_t as the solver's (tissue_reference.kept_fractions): its callees' specialisations are cached
    # fmt: on
    held = (False, np.zeros(n, np.bool_))  # slow_held and the model's hold, typed as the solver passes them
    barrier_calls = {}
    for flag in (None, True):
        sweep = njit(K.solve_range.py_func)
        sweep(*args, flag, *held)
        calltypes = sweep.overloads[sweep.signatures[0]].fndesc.calltypes.values()
        barrier_calls[flag] = sum("Literal[bool](True)" in str(sig) for sig in calltypes if sig is not None)
    assert barrier_calls == {None: 0, True: 1}


def test_no_layer_of_the_frame_is_compiled_again_for_a_literal_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    """numba compiles a callee once per argument type, and a constant passed in jitted code (a
    literal ``1``, or a variable typed as one before it is unified) is a type of its own: the
    serial frame's ``_frame_worker(..., 1, ...)``, the parallel frame's ``width = 1`` and
    ``recover_and_keep``'s ``1`` / ``0`` compiled a second ``_frame_worker``,
    ``recover_and_keep_flagged`` and ``flag_flattened`` for every version of the step (~8 s of
    cold JIT each; docs/physics.md "Compiled versions of the step"). The frame's layers are typed
    again here (type inference only, no code generated: ~1 s) with the argument types the solver
    passes, and no kernel may then hold two versions that differ only by a literal."""
    import numba  # deferred: only this test builds a compiler pipeline
    from numba.core import types
    from numba.core.compiler import CompilerBase, DefaultPassBuilder
    from numba.core.registry import CPUDispatcher
    from numba.core.typed_passes import NopythonTypeInference

    class TypeOnly(CompilerBase):
        """numba's pipeline up to type inference, which resolves (compiles or loads from the
        cache) every callee for the argument types it is called with."""

        def define_pipelines(self):  # type: ignore[no-untyped-def]
            pm = DefaultPassBuilder.define_untyped_pipeline(self.state)
            pm.add_pass(NopythonTypeInference, "nopython type inference")
            pm.finalize()
            return [pm]

    def type_only(kernel: CPUDispatcher, argtypes: tuple) -> None:
        with pytest.raises(AttributeError):  # the pipeline ends without a compile result
            numba.njit(pipeline_class=TypeOnly)(kernel.py_func).compile(argtypes)

    seen: list[tuple] = []
    step = K.step_kernel
    monkeypatch.setattr(K, "step_kernel", lambda *args: (seen.append(args), step(*args))[1])
    body = SoftBody.from_mesh(box_tets((0.02, 0.02, 0.02), (2, 2, 2)), Material(5.4e3, 0.45, 1060.0))
    step_softbody(body, 1.0 / 90.0, 2, np.array([0.0, -9.81, 0.0]))
    assert seen, "the solver steps a plain body through kernels.step_kernel"
    type_only(step, tuple(numba.typeof(a) for a in seen[0]))  # its serial branch's callees
    for name in ("step_frame_parallel", "_frame_worker", "recover_and_keep"):
        kernel = getattr(K, name)
        for sig in list(kernel.signatures):
            type_only(kernel, sig)
    # the layers and what they call with a count or a chunk (only these: which other kernels
    # hold versions here depends on what the numba cache held when this process compiled them)
    twice = {}
    for name in (
        "step_frame_parallel",
        "_frame_worker",
        "recover_and_keep",
        "recover_and_keep_flagged",
        "flag_flattened",
    ):
        bare = [tuple(types.unliteral(t) for t in sig) for sig in getattr(K, name).signatures]
        if len(set(bare)) < len(bare):
            twice[name] = [str(sig) for sig in getattr(K, name).signatures]
    assert not twice, twice


def test_tet_measures_match_numpy(perturbed_body: SoftBody) -> None:
    b = perturbed_body
    m = b.material
    p = b.x[b.tets]
    Ds = np.stack([p[:, 1] - p[:, 0], p[:, 2] - p[:, 0], p[:, 3] - p[:, 0]], axis=2)
    F = Ds @ b.dm_inv
    J = np.linalg.det(F)
    P = m.mu * F + m.model_lambda * (J - m.gamma)[:, None, None] * R.cofactor(F)
    cauchy = P @ np.transpose(F, (0, 2, 1)) / J[:, None, None]
    green = 0.5 * (np.transpose(F, (0, 2, 1)) @ F - np.eye(3))
    psi = 0.5 * m.mu * (np.einsum("kij,kij->k", F, F) - 3) + 0.5 * m.model_lambda * (
        (J - m.gamma) ** 2 - (1 - m.gamma) ** 2
    )
    update_tet_measures(b)
    np.testing.assert_allclose(b.green, green, rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(b.cauchy, cauchy, rtol=1e-10, atol=1e-10 * np.abs(cauchy).max())
    np.testing.assert_allclose(b.energy_density, psi, rtol=1e-10, atol=1e-10 * np.abs(psi).max())
    np.testing.assert_allclose(b.volume_ratio, J, rtol=RTOL)
    # public queries return source-mesh order
    np.testing.assert_allclose(tet_strain(b)[b.tet_index], green, rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(tet_stress(b)[b.tet_index], cauchy, rtol=1e-10, atol=1e-10 * np.abs(cauchy).max())


def test_stress_is_the_derivative_of_the_energy() -> None:
    """P = d psi / dF by central differences (an independent check of the stress formula)."""
    mat = Material(2.0e4, 0.45, 1000.0)
    mu, lam, gam = mat.mu, mat.model_lambda, mat.gamma
    rng = np.random.default_rng(3)
    F = np.eye(3) + rng.normal(0, 0.2, (3, 3))

    def psi(F):
        J = np.linalg.det(F)
        return 0.5 * mu * (np.sum(F * F) - 3) + 0.5 * lam * ((J - gam) ** 2 - (1 - gam) ** 2)

    eps = 1e-6
    num = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            d = np.zeros((3, 3))
            d[i, j] = eps
            num[i, j] = (psi(F + d) - psi(F - d)) / (2 * eps)
    J = np.linalg.det(F)
    P = mu * F + lam * (J - gam) * R.cofactor(F[None])[0]
    np.testing.assert_allclose(P, num, rtol=1e-6)
    # rest is stress free (the gamma shift of Macklin & Mueller 2021)
    assert psi(np.eye(3)) == pytest.approx(0.0, abs=1e-12)
    P0 = mu * np.eye(3) + lam * (1 - gam) * np.eye(3)
    np.testing.assert_allclose(P0, 0.0, atol=1e-9 * mu)


def test_rest_state_is_exactly_stationary() -> None:
    body = SoftBody.from_mesh(box_tets((0.1, 0.1, 0.1), (3, 3, 3)), Material(1.0e5, 0.49, 1000.0))
    step_softbody(body, 1 / 90, 10, (0.0, 0.0, 0.0))
    np.testing.assert_allclose(body.x, body.rest_points, atol=1e-15)
    assert elastic_energy(body) == pytest.approx(0.0, abs=1e-15)


def _check_partition(body: SoftBody) -> None:
    """Blocks of one phase must not share a vertex (that is what makes prange race-free)."""
    bo, ph = body.block_offsets, body.phase_offsets
    for p in range(len(ph) - 1):
        owner = np.full(body.n_vertices, -1)
        for blk in range(ph[p], ph[p + 1]):
            verts = np.unique(body.tets[bo[blk] : bo[blk + 1]])
            assert np.all((owner[verts] == -1) | (owner[verts] == blk))
            owner[verts] = blk
    assert sorted(body.tet_index.tolist()) == list(range(body.n_tets))


def test_slab_partition_is_race_free_on_a_box() -> None:
    _check_partition(SoftBody.from_mesh(box_tets((0.3, 0.1, 0.1), (12, 4, 4)), Material()))


def test_slab_partition_is_race_free_on_the_raptor() -> None:
    body = SoftBody.from_mesh(load_tet_mesh(MESHES / "raptorTetra_19409.vtu", scale=0.1), Material())
    _check_partition(body)
    assert body.n_serial_tets < 0.05 * body.n_tets  # nearly everything runs in parallel


def test_inverted_rest_tets_are_harmless_to_the_solver() -> None:
    """A tet given with negative winding has F = I at rest all the same: no force, no NaN."""
    mesh = box_tets((0.05, 0.05, 0.05), (2, 2, 2))
    tets = mesh.tets.copy()
    tets[[0, 5]] = tets[[0, 5]][:, [1, 0, 2, 3]]  # invert two of them
    body = SoftBody.from_mesh(TetMesh(mesh.points, tets), Material(3.0e4, 0.45, 1000.0))
    assert np.all(body.rest_volume > 0)
    step_softbody(body, 1 / 90, 10, (0.0, 0.0, 0.0))
    np.testing.assert_allclose(body.x, body.rest_points, atol=1e-15)
    step_softbody(body, 1 / 90, 10)  # and under gravity it falls as one piece, finite
    assert np.all(np.isfinite(body.x))
    np.testing.assert_allclose(
        body.x[:, 1] - body.rest_points[:, 1], (body.x[:, 1] - body.rest_points[:, 1]).mean(), atol=1e-9
    )


def test_the_recovery_keeps_contact_held_vertices_and_bounds_its_step() -> None:
    """One unit tet with vertex 3 pushed through the opposite face (det F = -0.5). Free, the
    recovery moves every vertex, each by at most RECOVER_STEP x the rest edge per projection, and
    its moves count in the velocity (x_prev stays). With vertices 0-2 held by a tool contact only
    vertex 3 moves, back out through the face, and x_prev moves with it (no velocity)."""
    rest = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    tets = np.array([[0, 1, 2, 3]], dtype=np.int64)
    Q = np.linalg.inv(np.stack([rest[1] - rest[0], rest[2] - rest[0], rest[3] - rest[0]], axis=1))[None]
    w = np.ones((4, 3))
    start = rest.copy()
    start[3, 2] = -0.5  # det F = -0.5
    near = np.ones(1, dtype=np.bool_)
    for hold in (np.zeros(0, np.bool_), np.array([True, True, True, False])):
        x, x_prev, wdx = start.copy(), start.copy(), np.zeros((4, 3))
        K.recover_pass(x, x_prev, w, tets, Q, near, wdx, True, hold)
        moved = np.linalg.norm(x - start, axis=1)
        assert moved.max() <= K.RECOVER_SWEEPS * K.RECOVER_STEP * (1 + 1e-12)  # rest edge 1
        assert x[3, 2] > start[3, 2]  # pushed back out
        if hold.shape[0]:
            assert np.array_equal(x[:3], start[:3])  # the held vertices stay where the tool put them
            assert np.array_equal(x_prev, x)  # a held tet's fix adds no velocity
            assert not wdx.any()
        else:
            assert moved[:3].max() > 0.0
            assert np.array_equal(x_prev, start)  # counted in the velocity
            assert np.allclose(wdx, x - start)  # and as a part the warm start does not keep


def test_the_opt_in_pull_back_stops_a_tet_on_its_way_down_as_the_reference() -> None:
    """One unit tet uninverted where the substep started (det F 1) whose vertex 3 the substep
    took to det F 0.05: with ``pull_back`` (``SoftBody.recover_pull_back``) the recovery moves only
    that vertex, back along its own path until det F is RECOVER_J again (to 2^-20 of the path),
    counted in the velocity and in ``warm_dx`` as a part not kept, as the numpy reference does
    bit for bit; without it the projection along the det F gradients moves every vertex."""
    rest = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    tets = np.array([[0, 1, 2, 3]], dtype=np.int64)
    Q = np.linalg.inv(np.stack([rest[1] - rest[0], rest[2] - rest[0], rest[3] - rest[0]], axis=1))[None]
    w = np.ones((4, 3))
    start = rest.copy()
    start[3] = [0.02, 0.01, 0.05]  # det F 0.05, from 1 where the substep started
    scratch = np.empty(K.recover_scratch_size(1, 4), dtype=np.int64)
    for pull_back in (True, False):
        x, x_prev, wdx = start.copy(), rest.copy(), np.zeros((4, 3))
        none_held = np.zeros(0, np.bool_)
        K.recover_flagged(x, x_prev, w, tets, Q, np.ones(1, np.bool_), wdx, True, none_held, scratch, pull_back)
        xr, xpr, wdxr = start.copy(), rest.copy(), np.zeros((4, 3))
        R.recover(xr, xpr, w, tets, Q, np.ones(1, np.bool_), wdxr, pull_back=pull_back)
        np.testing.assert_array_equal(x_prev, rest)  # counted in the velocity
        np.testing.assert_allclose(wdx, x - start, rtol=0, atol=1e-15)
        if pull_back:
            np.testing.assert_array_equal(x[:3], rest[:3])  # only the vertex that moved goes back
            assert K.RECOVER_J <= x[3, 2] < K.RECOVER_J + 1e-6  # det F = z here
            back = (x[3] - start[3]) / (rest[3] - start[3])  # one fraction of its own path
            np.testing.assert_allclose(back, back[0], rtol=1e-12)
            np.testing.assert_array_equal(x, xr)
            np.testing.assert_array_equal(wdx, wdxr)
        else:
            assert np.linalg.norm(x[:3] - start[:3], axis=1).min() > 0.0


def _tangled_box() -> tuple[SoftBody, int]:
    """A 2x2x2-cell box (one interior vertex) whose interior vertex was pushed 1.5 cells along +x,
    through the box's x = 0.02 face plane: every tet around it on that side is inverted."""
    body = SoftBody.from_mesh(box_tets((0.02, 0.02, 0.02), (2, 2, 2)), Material(5.0e3, 0.45, 1000.0))
    c = int(np.argmin(np.linalg.norm(body.rest_points - 0.01, axis=1)))  # the interior vertex
    body.x[c, 0] += 0.015
    return body, c


def _dets(body: SoftBody) -> np.ndarray:
    e = body.x[body.tets[:, 1:]] - body.x[body.tets[:, :1]]
    return np.linalg.det(e.transpose(0, 2, 1) @ body.dm_inv)


def test_untangle_opens_a_fold_and_keeps_held_and_pinned_vertices() -> None:
    """kernels.untangle (max-min det F, Freitag & Plassmann 2000) opens a fold, moves only the
    vertices of inverted tets, and no held vertex or pinned axis."""
    body, c = _tangled_box()
    before = int((_dets(body) <= 0).sum())
    assert before >= 4
    x0 = body.x.copy()
    left = K.untangle(body.x, body.inv_mass, body.tets, body.dm_inv, np.zeros(0, dtype=np.bool_))
    assert left == 0 and _dets(body).min() > 0.0
    # the box's corner vertices are in no inverted tet: they did not move
    far = np.linalg.norm(body.rest_points - 0.01, axis=1) > 0.017
    np.testing.assert_array_equal(body.x[far], x0[far])
    # the fold's own vertex held by a tool stays where it is: the others open the fold around it
    body, c = _tangled_box()
    x0 = body.x.copy()
    hold = np.zeros(body.x.shape[0], dtype=np.bool_)
    hold[c] = True
    assert K.untangle(body.x, body.inv_mass, body.tets, body.dm_inv, hold) == 0
    assert _dets(body).min() > 0.0
    np.testing.assert_array_equal(body.x[c], x0[c])
    # nothing free to move (every other vertex pinned as well): untouched, the count comes back
    body.x[:] = x0
    body.inv_mass[:] = 0.0
    assert K.untangle(body.x, body.inv_mass, body.tets, body.dm_inv, hold) == before
    np.testing.assert_array_equal(body.x, x0)
    # a pin along x only (inverse mass 0 on that axis): the vertex moves along y/z at most
    body, c = _tangled_box()
    body.inv_mass[c, 0] = 0.0
    x0 = body.x.copy()
    K.untangle(body.x, body.inv_mass, body.tets, body.dm_inv, np.zeros(0, dtype=np.bool_))
    assert body.x[c, 0] == x0[c, 0]


def _plain_recover(x, x_prev, w, tets, Q, near, wdx, hold) -> None:
    """kernels.recover_flagged without its shortcuts: every flagged tet projected in every sweep
    (kernels._recover_tet, so the same arithmetic), then the flags cleared."""
    held = hold.shape[0] == x.shape[0]
    flagged = np.flatnonzero(near)
    for sweep in range(K.RECOVER_SWEEPS):
        again = False
        for t in flagged:
            idx = [int(i) for i in tets[t]]
            s = [0.0 if held and hold[i] else 1.0 for i in idx]
            touched = s[0] * s[1] * s[2] * s[3] == 0.0
            if touched and sweep >= K.RECOVER_SWEEPS_HELD:
                continue
            ws = [s[c] * w[idx[c], r] for c in range(4) for r in range(3)]
            again |= K._recover_tet(x, x_prev, Q, int(t), *idx, *ws, wdx, True, touched)[0]
        if not again:
            break
    for t in flagged:
        F = K._deformation_gradient(x, *[int(i) for i in tets[t]], Q, int(t))
        cof = K._cofactor(F)
        if F[0] * cof[0] + F[1] * cof[1] + F[2] * cof[2] >= K.RECOVER_CHECK:
            near[t] = False


def _next_to_start_inversion(x_prev, tets, t, hold) -> bool:
    """kernels._next_to_start_inversion by a scan of every tet: does tet t share a vertex with
    another tet inverted at ``x_prev`` that has no held vertex?"""
    held = hold.shape[0] == x_prev.shape[0]
    for u in range(len(tets)):
        if u == t or not np.isin(tets[u], tets[t]).any() or K.signed_volume6(x_prev, tets, u) > 0.0:
            continue
        if not (held and hold[tets[u]].any()):
            return True
    return False


def _plain_keep(x, x_prev, w, tets, wdx, hold, release=False) -> tuple[int, int]:
    """kernels.keep_filter without its shortcuts: every tet checked in every scan. Returns (tets
    acted on, scans that acted)."""
    held = hold.shape[0] == x.shape[0]
    acted = scans = 0
    for _scan in range(K.KEEP_SCANS):
        found = False
        for t in range(len(tets)):
            if K.signed_volume6(x, tets, t) > 0.0 or not K.signed_volume6(x_prev, tets, t) > 0.0:
                continue
            if held and hold[tets[t]].any():
                continue
            if release and _next_to_start_inversion(x_prev, tets, t, hold):
                continue
            found = True
            acted += 1
            for i in tets[t]:
                free = w[i] > 0.0
                wdx[i, free] += x_prev[i, free] - x[i, free]
                x[i, free] = x_prev[i, free]
        if not found:
            break
        scans += 1
    return acted, scans


def test_recovery_and_filter_shortcuts_are_bit_identical_to_the_plain_loops() -> None:
    """recover_flagged skips a flagged tet none of whose vertices moved since it was last left
    as it was, and keep_filter rechecks only the tets a put-back vertex touches (through the
    vertex -> tet adjacency), after a branch-free first pass: both must give bit-for-bit what
    checking every tet every time gives, with pinned axes and tool-held vertices, on a tangle
    that needs several sweeps and scans. recover_and_keep (the substep's end: it also flags,
    for this substep, every tet the sweep left at 0 < det F < RECOVER_J, from the signed volumes
    the filter's first pass computes, and retests only the tets the recovery moved) must equal
    the numpy reference's flags followed by the plain loops. Run twice: the same input gives the same
    output. From a start where 21 tets are already inverted where the substep started, with the
    filter's ``release`` off and on (on, it leaves the tets around those free to invert:
    kernels._next_to_start_inversion), and, released, from one where none is (every new
    inversion filtered, with rescans)."""
    for spread, release in ((0.003, False), (0.003, True), (0.002, True)):
        _shortcuts_match_the_plain_loops(spread, release)


def _shortcuts_match_the_plain_loops(spread: float, release: bool) -> None:
    mesh = box_tets((0.04, 0.04, 0.03), (4, 4, 3))
    body = SoftBody.from_mesh(mesh, Material(5.0e3, 0.45, 1000.0), pins=[0, 1, 2])
    rng = np.random.default_rng(0)
    n = body.x.shape[0]
    w = body.inv_mass.copy()
    w[5, 1] = 0.0  # a vertex held along one axis (a slide plane)
    prev = body.rest_points + rng.normal(0.0, spread, (n, 3))  # where the substep started (10 mm cells)
    start = prev + rng.normal(0.0, 0.005, (n, 3))  # where it ended: a tangle
    start[w == 0.0] = prev[w == 0.0]  # pinned axes do not move
    hold = np.zeros(n, dtype=np.bool_)
    hold[rng.choice(n, 4, replace=False)] = True
    tets, Q = body.tets, body.dm_inv
    dets = np.array([K.signed_volume6(start, tets, t) for t in range(len(tets))])
    assert (dets <= 0.0).sum() >= 20  # a real tangle
    inverted_before = sum(K.signed_volume6(prev, tets, t) <= 0.0 for t in range(len(tets)))
    assert inverted_before == (21 if spread == 0.003 else 0)
    near0 = (dets * np.linalg.det(Q) < K.RECOVER_CHECK).copy()
    for hold_case in (np.zeros(0, dtype=np.bool_), hold):
        # each from the tangle (the recovery alone opens most of it), then the whole end of a
        # substep (recover_and_keep: flags from the signed volumes, recovery, filter) from a
        # state with few flags, so that the flags it adds matter
        for part in ("recover", "keep", "both"):
            results = []
            for run in range(3):  # the kernels twice (determinism), then the plain loops
                x, x_prev, wdx, near = start.copy(), prev.copy(), np.zeros((n, 3)), near0.copy()
                if part == "both":
                    near[:] = False
                    near[np.flatnonzero(near0)[::4]] = True
                acted = 0
                scratch = K.recovery_scratch(tets, Q, w)
                if part == "recover" and run < 2:
                    # pull_back None (the default) passed: the solver's argument types, whose compiled
                    # version this reuses (left out, the argument compiled one for this test alone)
                    K.recover_flagged(x, x_prev, w, tets, Q, near, wdx, True, hold_case, scratch, None)
                elif part == "recover":
                    _plain_recover(x, x_prev, w, tets, Q, near, wdx, hold_case)
                elif part == "keep" and run < 2:
                    acted = K.keep_filter(x, x_prev, w, tets, wdx, True, hold_case, scratch, release)
                elif part == "keep":
                    acted, scans = _plain_keep(x, x_prev, w, tets, wdx, hold_case, release)
                    if spread == 0.003 and release:  # the tets around the 21 are left to move: 10-12 acted on
                        assert 5 <= acted <= 15
                    else:  # rescans exercised
                        assert acted >= 20 and (scans >= 2 or hold_case.shape[0])
                    # the numpy reference's filter (det F from F itself) takes the same tets back
                    xr = start.copy()
                    held_r = hold_case if hold_case.shape[0] else None
                    R.keep_uninverted(xr, prev.copy(), w, tets, Q, np.zeros((n, 3)), held_r, release)
                    np.testing.assert_array_equal(xr, x)
                elif run < 2:
                    acted = K.recover_and_keep(x, x_prev, w, tets, Q, near, wdx, True, hold_case, scratch, release)
                else:
                    added = R.flag_flattened(x, w, tets, Q, near)
                    assert len(added) >= 5  # the flags it adds (6 here), for this substep only
                    listed = np.flatnonzero(near)
                    _plain_recover(x, x_prev, w, tets, Q, near, wdx, hold_case)
                    near[added] = False
                    acted, _ = _plain_keep(x, x_prev, w, tets, wdx, hold_case, release)
                    if acted:  # a flat tet the filter put back is lifted (kernels._lift_put_back)
                        R.lift_put_back(x, x_prev, w, tets, Q, listed, hold_case if hold_case.shape[0] else None)
                results.append((x, x_prev, wdx, near, acted))
            assert not np.array_equal(results[0][0], start)
            for other in results[1:]:
                for a, b in zip(results[0], other, strict=True):
                    np.testing.assert_array_equal(a, b)
