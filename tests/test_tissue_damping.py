"""Rayleigh (stiffness-proportional) damping of the tissue solver with
``SoftBody.damping_keeps_statics`` (docs/physics.md, "Damping").

The damping term of XPBD eq. 26 (Macklin, Mueller & Chentanez 2016) must act on deformation
rates only: it moves no static equilibrium (tests/test_physics_doc_claims.py checks the bar),
exerts no torque on a free body and leaves rigid motion alone, yet damps vibration, stably at
large ``g = beta / h``. The kernels' damped path (``kernels.DAMP_REF_COLUMNS``) is checked against
the numpy reference like the undamped one (tests/test_softbody_kernels.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from tissue_reference import kept_fractions, reference_frame

from vrmed.components.tissue.softbody import Material, SoftBody
from vrmed.mesh import box_tets
from vrmed.systems.tissue import kernels as K
from vrmed.systems.tissue import reference as R
from vrmed.systems.tissue.solver import PLAIN_STEP_TAIL, elastic_energy, kinetic_energy, step_softbody

FRAME, SUBSTEPS = 1.0 / 90.0, 10
NO_GRAVITY = (0.0, 0.0, 0.0)
E_LIVER, RHO_LIVER = 5.4e3, 1060.0


def angular_momentum(body: SoftBody) -> np.ndarray:
    """Total angular momentum about the centre of mass (kg m^2/s)."""
    centre = body.mass @ body.x / body.mass.sum()
    return body.mass @ np.cross(body.x - centre, body.v)


def spinning_cube(beta: float, frames: int = 90) -> tuple[np.ndarray, np.ndarray, SoftBody]:
    """A free 50 mm liver cube (5^3 cells) set spinning rigidly at 2 rad/s about a skew axis,
    no gravity; returns (L at the start, L after ``frames``, body)."""
    body = SoftBody.from_mesh(box_tets((0.05, 0.05, 0.05), (5, 5, 5)), Material(E_LIVER, 0.45, RHO_LIVER, beta))
    body.damping_keeps_statics = True
    axis = np.array([0.3, 0.5, 1.0]) / np.linalg.norm([0.3, 0.5, 1.0])
    body.v[:] = np.cross(2.0 * axis, body.x - body.x.mean(axis=0))
    start = angular_momentum(body)
    for _ in range(frames):
        step_softbody(body, FRAME, SUBSTEPS, NO_GRAVITY)
    return start, angular_momentum(body), body


def test_damping_adds_nothing_to_a_spinning_free_body() -> None:
    """Rigid rotation has no deformation rate, so the damping must neither slow nor drive it.
    The undamped solver itself loses h^2 omega^2 of L per substep (one implicit-Euler-like
    position solve per substep: measured 4.41e-3 in 1 s at 2 rad/s, 900 substeps); the damped
    cube (beta 0.03 s, g = 27) ends within 2.4e-7 of it (eq. 26 in the sweep: 7.9e-7;
    the damping does act on the centrifugal stretch as it builds up, which the solve's own loss
    then weighs differently) and with its kinetic energy to 4e-6 (before: 9.3e-5)."""
    start, undamped, body0 = spinning_cube(0.0)
    _, damped, body = spinning_cube(0.03)
    assert np.linalg.norm(undamped - start) < 5e-3 * np.linalg.norm(start)
    assert np.linalg.norm(damped - undamped) < 5e-7 * np.linalg.norm(start)
    assert kinetic_energy(body) == pytest.approx(kinetic_energy(body0), rel=2e-5)


def axial_ring_down(beta: float, frames: int = 180) -> tuple[float, float, SoftBody]:
    """The validation bar (0.1 x 0.02 x 0.02 m, 4 x 4 x 20 cells, liver E, nu 0.3) clamped at
    z = 0, released from a uniform 1 % axial stretch: (angular frequency, amplitude decay rate,
    body), from the peaks of the free end's mean displacement over ``frames``."""
    mesh = box_tets((0.02, 0.02, 0.1), (4, 4, 20))
    body = SoftBody.from_mesh(
        mesh, Material(E_LIVER, 0.3, RHO_LIVER, beta), pins=np.flatnonzero(mesh.points[:, 2] < 1e-12)
    )
    body.damping_keeps_statics = True
    tip = body.rest_points[:, 2] > 0.1 - 1e-12
    body.x[:, 2] *= 1.01
    z = np.empty(frames)
    for f in range(frames):
        step_softbody(body, FRAME, SUBSTEPS, NO_GRAVITY)
        z[f] = body.x[tip, 2].mean() - 0.1
    assert np.all(np.isfinite(z))
    peaks = np.flatnonzero((z[1:-1] > z[:-2]) & (z[1:-1] >= z[2:])) + 1
    peaks = peaks[z[peaks] > 0.0]
    t = (peaks + 1) * FRAME
    if len(peaks) < 6:
        return np.nan, np.nan, body
    return 2.0 * np.pi / np.diff(t).mean(), -np.polyfit(t, np.log(z[peaks]), 1)[0], body


def test_damping_damps_the_axial_mode_stably() -> None:
    """The first axial mode (35.8 rad/s) rings down faster with damping, more with more, and
    settles stably at g = 27. Measured added decay rates (1/s) at beta 0.003 / 0.016 s: 0.30 /
    1.43 (eq. 26 in the sweep, the default and the kernels before 2026-11-30: 0.32 / 1.52).
    Not beta omega^2 / 2 (1.9 / 10.4): the damping acts through the constraints' Gauss-Newton
    stiffness G^T alpha^-1 G, whose C_D = ||F|| part sees only the F : dF rate (docs/physics.md,
    "Damping"). The undamped solve's own dissipation is 0.71 /s."""
    omega, base, undamped = axial_ring_down(0.0)
    assert omega == pytest.approx(35.8, rel=0.03)
    _, light, _ = axial_ring_down(0.003)
    _, heavy, _ = axial_ring_down(0.016)
    assert 0.2 < light - base < heavy - base
    assert heavy - base > 1.0
    *_, stiff = axial_ring_down(0.03)  # g = 27: settles (measured: 3e-4 of the undamped energy left)
    assert elastic_energy(stiff) + kinetic_energy(stiff) < 3e-3 * (elastic_energy(undamped) + kinetic_energy(undamped))


@pytest.mark.parametrize("cols", [2, 3])
def test_damped_kernels_match_the_reference(cols: int) -> None:
    """The damped warm-started sweep with the kept constraint values (14-column ``warm_d``)
    against reference.py over 6 substeps from a distorted, moving start (kept values zero, as at
    rest); the tolerance is the warm start's float32 one (tests/test_softbody_kernels.py)."""
    mesh = box_tets((0.06, 0.05, 0.04), (3, 3, 2))
    b = SoftBody.from_mesh(mesh, Material(5.0e4, 0.42, 1100.0, damping=0.01), pins=[0, 1], velocity_damping=2.0)
    rng = np.random.default_rng(11)
    b.x += rng.normal(0.0, 0.002, b.x.shape)
    b.x[:2] = b.rest_points[:2]
    b.v[:] = rng.normal(0.0, 0.2, b.v.shape)
    b.v[:2] = 0.0
    b.external_force[:] = rng.normal(0.0, 0.01, b.x.shape)
    colour = R.greedy_colouring(b.tets, b.n_vertices)
    order = np.argsort(colour, kind="stable")
    tets, Q = np.ascontiguousarray(b.tets[order]), np.ascontiguousarray(b.dm_inv[order])
    a_dev, a_hyd = b.alpha_dev[order].copy(), b.alpha_hyd[order].copy()
    offsets = np.concatenate([[0], np.cumsum(np.bincount(colour))]).astype(np.int64)
    g, m, dt, substeps = np.array([0.0, -9.81, 0.0]), b.material, 1.0 / 90.0, 3
    kt = kept_fractions(len(tets))  # as the solver's warm_t
    empty_i = np.zeros(0, np.int64)

    def fresh() -> tuple[np.ndarray, ...]:
        wd = np.zeros((len(tets), K.DAMP_REF_COLUMNS), np.float32)
        return b.x.copy(), b.v.copy(), b.x.copy(), np.zeros((len(tets), cols)), wd, np.zeros_like(b.x)

    x_nb, v_nb, xp_nb, lam_nb, wd_nb, wdx_nb = fresh()
    x_np, v_np, xp_np, lam_np, wd_np, wdx_np = fresh()
    near_np = np.zeros(len(tets), np.bool_)
    model = (tets, Q, a_dev, a_hyd, offsets, np.arange(len(offsets), dtype=np.int64))
    model += (np.zeros(len(tets), np.bool_), np.zeros(0, np.bool_))
    for _frame in range(2):
        K.step_kernel(
            (x_nb, v_nb, xp_nb, b.inv_mass, b.external_force, lam_nb, wd_nb, wdx_nb, kt),
            model,
            (empty_i, np.zeros((0, 3)), np.zeros((0, 3))),
            (empty_i, empty_i, np.zeros(0), np.zeros(0)),
            g,
            dt,
            substeps,
            m.gamma,
            m.damping,
            b.velocity_damping,
            1.0,
            True,
            True if cols == 3 else None,
            *PLAIN_STEP_TAIL,  # the rest as the solver passes them for a plain body
        )
        state_np = (x_np, v_np, xp_np, lam_np, wdx_np, wd_np, near_np)
        reference_frame(b, state_np, (tets, Q, a_dev, a_hyd, offsets), g, dt, substeps, warm=1.0, warm_t=kt)
    assert np.count_nonzero(wd_nb[:, 12]) > 0.5 * len(tets)  # the estimate, zero on tets far from rest
    dx = np.abs(x_np - b.x).max()
    np.testing.assert_allclose(x_nb, x_np, rtol=0, atol=1e-7 * dx)
    np.testing.assert_allclose(v_nb, v_np, rtol=0, atol=1e-6 * np.abs(v_np).max())
    np.testing.assert_allclose(wd_nb[:, 10:], wd_np[:, 10:], rtol=0, atol=1e-6 * np.abs(wd_np[:, 10:]).max())
