"""The cloth model (vrmed.components.cloth, vrmed.systems.cloth): a gauze-like triangle membrane
with bending, solved by Projective Dynamics, cut by scissors and held by graspers.

Physics against analytic answers (docs/cloth.md): uniaxial stretch (E and nu of the plane-stress
membrane), a cantilever strip (Euler-Bernoulli with D = E t^3 / 12 (1 - nu^2) per unit width),
the bending energy of a cylinder, the sag of gauze clamped on two edges (Irvine's taut cable),
a swinging sheet that must stay finite and come to rest. Cutting: one cut -> two pieces with
exact rest areas, a closed polyline of snips frees a disc of the chord polygon's area, crossing
cuts, the minimum area of new triangles, determinism. Through the instruments: scissors send
ClothCut and split the sheet, a grasper lifts it. Contact: sheets come to rest on a box and the
ground at t/2 and stay at rest; on an incline they stick below the friction angle and slide with
g (sin - mu_k cos) above it. Bad input: one clear error.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vrmed import App
from vrmed.components.cloth import ClothError, ClothMaterial, ClothSheet, ClothSheetSpec
from vrmed.components.cloth.sheet import bending_laplacian, rectangle_mesh
from vrmed.components.collision.collider import Collider
from vrmed.components.instruments.instrument import Instrument
from vrmed.components.scene.core import Name, Transform
from vrmed.components.scene.render import Camera
from vrmed.geometry import quat_from_axis_angle, quat_matrix
from vrmed.input import InputState
from vrmed.packs import PackError, load_pack
from vrmed.packs.model import instantiate
from vrmed.render import RenderPlugin
from vrmed.render.camera import project, view_projection
from vrmed.render.drawlist import DrawList
from vrmed.systems.cloth import ClothCut, ClothPlugin, cloth_pieces, cut_cloth, pd, step_cloth
from vrmed.systems.cloth.cutting import JOIN_TOLERANCE, SNAP, crack_tips, piece_rest_areas
from vrmed.systems.cloth.draw import cloth_draw_system
from vrmed.systems.cloth.solver import ClothSettings, elastic_energy, elastic_hessian, kinetic_energy, membrane_forces
from vrmed.systems.collision.system import CollisionPlugin
from vrmed.systems.instruments.plugin import InstrumentPlugin
from vrmed.systems.instruments.system import InstrumentGrasped, InstrumentReleased
from vrmed.systems.tissue.solver import SoftBodyPlugin

G = np.array([0.0, -9.80665, 0.0])
NO_G = np.zeros(3)
GAUZE = ClothMaterial()  # the defaults: cotton gauze (docs/cloth.md, "Parameters")
UP = np.array([0.0, 1.0, 0.0])


def test_gauze_defaults_are_the_documented_assumptions() -> None:
    m = GAUZE
    assert m.areal_density == pytest.approx(0.03)  # 30 g/m^2 (cotton gauze 25-40 g/m^2)
    assert m.youngs_modulus * m.thickness == pytest.approx(800.0)  # E t, N/m
    assert m.bending == pytest.approx(2.0e6 * 0.0004**3 / (12 * (1 - 0.09)))


def test_bending_energy_of_a_cylinder_matches_the_continuum() -> None:
    """Catches wrong cotangent weights or areas (the edge-based isometric stencil of Bergou
    2006 was off by 2.9x and 4.4x on the two patterns): D/2 sum_i (L x)_i^2 / A_i over the
    interior of a sheet rolled onto a cylinder equals D/2 * area / R^2 within 0.2 %."""
    for pattern in ("alternating", "crossed"):
        p, t, uv = rectangle_mesh((0.1, 0.1), 0.0025, pattern)
        vert, ptr, idx, w, area, _ = bending_laplacian(p, t)
        R = 0.05
        q = np.stack([R * np.sin(uv[:, 0] / R), R * (1 - np.cos(uv[:, 0] / R)), uv[:, 1]], 1)
        row = np.repeat(np.arange(len(vert)), np.diff(ptr))
        lx = np.zeros((len(vert), 3))
        np.add.at(lx, row, w[:, None] * q[idx])
        inner = (uv[:, 0] > 1e-9) & (uv[:, 0] < 0.1 - 1e-9) & (uv[:, 1] > 1e-9) & (uv[:, 1] < 0.1 - 1e-9)
        energy = 0.5 * np.sum(np.sum(lx[inner] ** 2, axis=1) / area[inner])
        assert energy == pytest.approx(0.5 * area[inner].sum() / R**2, rel=2e-3), pattern


def _uniaxial(pattern: str, method: str = "pd") -> tuple[float, float]:
    """A 6 x 1 cm gauze strip clamped at u = 0, pulled at u = 6 cm by an edge force F (ramped in
    over 30 frames, consistent nodal loads); returns (strain / (F / E t w), nu) measured in the
    middle (u = 1.5-4.5 cm) once at rest (after 0.5 s; 1 s with the Newton solve, which damps
    the strip's stretch oscillation less: 1.3e-5 m/s left at 0.5 s)."""
    L, W = 0.06, 0.01
    s = ClothSheet.rectangle((L, W), 0.0025, GAUZE, pin_edges=["u0"], pattern=pattern)
    uv = s.rest[:, [0, 2]]
    right = np.flatnonzero(np.abs(uv[:, 0] - L) < 1e-9)
    wts = np.where((uv[right, 1] < 1e-9) | (uv[right, 1] > W - 1e-9), 0.5, 1.0)
    F = 0.01 * GAUZE.youngs_modulus * GAUZE.thickness * W  # 1 % strain: 0.08 N
    for f in range(45 if method == "pd" else 90):
        s.external_force[right, 0] = min(1.0, (f + 1) / 30) * F * wts / wts.sum()
        step_cloth(s, 1 / 90, 2, NO_G, iterations=1 if method == "pd" else 2, method=method)
    assert np.abs(s.v).max() < 1e-5
    a, b = np.abs(uv[:, 0] - 0.015) < 1e-9, np.abs(uv[:, 0] - 0.045) < 1e-9
    eps = (s.x[b, 0].mean() - s.x[a, 0].mean()) / 0.03 - 1.0
    lateral = []
    for u in (0.02, 0.03, 0.04):
        col = np.abs(uv[:, 0] - u) < 1e-9
        lateral.append(np.polyfit(uv[col, 1], s.x[col, 2], 1)[0] - 1.0)
    return eps / 0.01, -float(np.mean(lateral)) / eps


@pytest.mark.parametrize(("pattern", "method"), [("alternating", "pd"), ("crossed", "pd"), ("alternating", "newton")])
def test_uniaxial_stretch_gives_E_and_nu(pattern: str, method: str) -> None:
    """Catches a wrong membrane modulus (a lost thickness or factor 2 in the PD weights), a wrong
    Poisson term (the area constraint's weight), and a solve that is not at the static
    equilibrium (plain one-iteration XPBD reached 1/6 of the stiffness): measured 0.3 % and 0.05 %.
    The Newton solve (2 iterations) must reach the same state as PD (same energy and force)."""
    ratio, nu = _uniaxial(pattern, method)
    assert ratio == pytest.approx(1.0, abs=0.05)
    assert nu == pytest.approx(GAUZE.poisson_ratio, rel=0.05)


def test_cantilever_strip_against_euler_bernoulli() -> None:
    """A 3 x 1 cm gauze strip clamped along its first 2.5 mm (two pinned columns), under gravity:
    tip deflection against q L^4 / (8 D) with L = 2.75 cm and D per unit width. Measured +16 %
    (2.5 mm alternating mesh, after 8 s): the isometric (mean-curvature) bending energy lets a
    narrow strip curl anticlastically a little (a beam is E t^3/12, 10 % softer than D), and the
    solve creeps on the soft bending mode. Catches bending left out of the solve or the free
    edges' vertices without stencils (a null space: 15x the beam deflection)."""
    L, W, c = 0.03, 0.01, 0.0025
    s = ClothSheet.rectangle((L, W), c, GAUZE)
    s.pin(np.flatnonzero(s.rest[:, 0] <= c + 1e-9))
    for _ in range(720):
        step_cloth(s, 1 / 90, 2, G)
    tip = np.abs(s.rest[:, 0] - L) < 1e-9
    q = GAUZE.areal_density * 9.80665
    expected = q * (L - c) ** 4 / (8 * GAUZE.bending)
    assert -s.x[tip, 1].mean() == pytest.approx(expected, rel=0.25)
    assert np.isfinite(s.x).all()


def test_gauze_clamped_on_two_edges_sags_like_a_taut_cable() -> None:
    """10 x 10 cm gauze clamped along two opposite edges (as in the FLS pattern-cutting task):
    the sag matches Irvine's taut elastic cable d = L (3 q L / (64 E t))^(1/3) = 1.2 mm within
    25 % (measured 1.19 mm at 3 s). Catches a solve too soft for the stiff membrane (XPBD: 24 mm;
    the 2 mm tet sheet of the last attempt: ~30 mm)."""
    s = ClothSheet.rectangle((0.1, 0.1), 0.0025, GAUZE, pin_edges=["u0", "u1"])
    for _ in range(270):
        step_cloth(s, 1 / 90, 2, G)
    q = GAUZE.areal_density * 9.80665
    irvine = 0.1 * (3 * q * 0.1 / (64 * GAUZE.youngs_modulus * GAUZE.thickness)) ** (1 / 3)
    assert -s.x[:, 1].min() == pytest.approx(irvine, rel=0.25)
    assert np.abs(s.v).max() < 2e-3


def test_hanging_strip_at_rest_stretches_under_its_own_weight() -> None:
    """A 10 x 1 cm gauze strip hanging from its top edge through the ClothPlugin at the default
    rates (900 Hz physics, 2 implicit steps per 1/90 s frame): finite, at rest (fastest vertex
    < 1e-3 m/s) and its bottom lowered by q L^2 / (2 E t) = 1.8 um within 10 % (a hanging bar
    under its own weight). Catches a membrane off by a factor, a solve that drifts at rest, and
    gravity or masses wrongly scaled."""
    app = App(seed=0)
    app.add_plugin(ClothPlugin())
    L = 0.1
    s = ClothSheet.rectangle((0.01, L), 0.0025, GAUZE, pin_edges=["v1"], axis_v=(0.0, 1.0, 0.0))
    app.spawn(s)
    app.step(180)
    assert np.isfinite(s.x).all() and np.abs(s.v).max() < 1e-3
    bottom = s.rest[:, 1] < 1e-9
    q = GAUZE.areal_density * 9.80665
    drop = s.rest[bottom, 1].mean() - s.x[bottom, 1].mean()
    assert drop == pytest.approx(q * L**2 / (2 * GAUZE.youngs_modulus * GAUZE.thickness), rel=0.1)


def test_released_flap_swings_down_and_stays_finite() -> None:
    """A 6 x 6 cm flap (5 mm cells) pinned on one edge, released horizontal, through the plugin:
    it swings down below its edge and its motion dies out, nothing non-finite. (Slowly: the
    few-iteration Projective Dynamics solve damps such large rotations strongly, docs/cloth.md,
    "Open": it takes ~5 s where real gauze falls in ~0.3 s.)"""
    app = App(seed=0)
    app.add_plugin(ClothPlugin())
    s = ClothSheet.rectangle((0.06, 0.06), 0.005, GAUZE, pin_edges=["u0"])
    app.spawn(s)
    app.step(90)
    v1 = np.abs(s.v).max()
    app.step(720)
    assert np.isfinite(s.x).all()
    assert s.x[:, 1].min() < -0.045  # hangs (a rigid 6 cm flap: -6 cm)
    assert np.abs(s.v).max() < 0.5 * v1


def _flap(method: str, iterations: int, frames: int, bending: float | None = None) -> np.ndarray:
    """A 6 x 6 cm gauze flap (5 mm cells) pinned along u = 0, released horizontal, 2 implicit
    steps per 1/90 s frame: the free edge's angle below the horizontal (deg) after each frame."""
    s = ClothSheet.rectangle((0.06, 0.06), 0.005, ClothMaterial(bending_stiffness=bending), pin_edges=["u0"])
    edge = np.abs(s.rest[:, 0] - 0.06) < 1e-9
    out = np.zeros(frames)
    for f in range(frames):
        step_cloth(s, 1 / 90, 2, G, iterations=iterations, method=method)
        out[f] = np.degrees(np.arctan2(-s.x[edge, 1].mean(), s.x[edge, 0].mean()))
    return out


def _rigid_plate_time(L: float, angle: float) -> float:
    """Time for a uniform rigid plate hinged at one edge, released horizontal, to turn by
    ``angle`` (rad): energy gives theta'^2 = (3 g / L) sin(theta) (I = m L^2 / 3 about the
    hinge, torque m g L/2 cos(theta)), so t = sqrt(L / 3 g) * integral_0^angle sin^-1/2;
    to the vertical K(1/sqrt 2) sqrt(2 L / 3 g) (the compound pendulum, e.g. Landau &
    Lifshitz, Mechanics, sec. 11). Midpoint rule in u = sqrt(theta) (smooth integrand)."""
    u = (np.arange(20000) + 0.5) / 20000 * np.sqrt(angle)
    integral = np.sum(2 * u / np.sqrt(np.sin(u * u))) * np.sqrt(angle) / 20000
    return float(np.sqrt(L / (3 * 9.80665)) * integral)


def test_rigid_plate_reference_is_the_complete_elliptic_integral() -> None:
    """The reference of the flap tests: to the vertical, K(1/sqrt 2) sqrt(2 L / 3 g) with
    K(1/sqrt 2) = 1.854075 (Abramowitz & Stegun 17.3); 6 cm: 0.118 s, 45 deg: 0.081 s."""
    L = 0.06
    assert _rigid_plate_time(L, np.pi / 2) == pytest.approx(1.8540747 * np.sqrt(2 * L / (3 * 9.80665)), rel=1e-4)
    assert _rigid_plate_time(L, np.pi / 4) == pytest.approx(0.0809, abs=2e-4)


@pytest.mark.xfail(strict=True, reason="over-damped large motion (docs/cloth.md, Open): measured 45 deg at 4.4 s")
def test_released_limp_flap_falls_like_a_hinged_plate() -> None:
    """A limp flap (bending 1e-7 N m, real gauze's range) released horizontal should pass
    45 deg within 2x the rigid plate's time (0.16 s): its free edge starts in free fall
    (no tension), and a hinged rigid plate (0.081 s) is the stiff limit. The default solve
    (2 steps x 1 PD iteration per frame) takes 4.4 s; 2 quasi-Newton iterations 0.73-0.84 s;
    the opt-in Newton solve passes (test_newton_flap_falls_like_a_hinged_plate_without_gaining_energy).
    Strict xfail: passes the day the default solve is fixed, then this mark must go."""
    bound = 2 * _rigid_plate_time(0.06, np.pi / 4)
    angles = _flap("pd", 1, int(np.ceil(bound * 90)), bending=1e-7)
    assert angles.max() > 45.0


def test_quasi_newton_swings_a_released_flap_far_faster_than_projective_dynamics() -> None:
    """L-BFGS on the implicit-Euler objective (Liu, Bouaziz & Kavan 2017) against the plain
    local-global solve, both 2 steps per frame: after 0.3 s the default gauze flap's free edge
    is 18 deg down with 2 quasi-Newton iterations, 0.6 deg with 1 PD iteration and 1.2 deg with
    2 (measured); a rigid plate would be past the vertical. Catches a quasi-Newton solve that
    degrades to the PD step (no curvature pairs, a line search that always backtracks)."""
    qn = _flap("quasi_newton", 2, 27)
    pd2 = _flap("pd", 2, 27)
    assert qn[-1] > 12.0 and qn[-1] > 8 * pd2[-1]
    assert np.all(np.diff(qn) > 0)  # still swinging down


@pytest.mark.parametrize("method", ["pd", "quasi_newton", "newton"])
def test_spinning_sheet_keeps_implicit_eulers_angular_velocity(method: str) -> None:
    """A free 6 x 6 cm sheet (no gravity, no air damping) spun about its normal at pi rad/s:
    after 1 s (2 steps per 1/90 s frame, h = 1/180 s) its angular velocity is implicit Euler's
    own: each step projects x + h v back onto the rigid motion, turning by atan(omega h) with the
    chord as velocity, which loses (omega h)^2 per step (to leading order), so
    omega(t) = omega_0 exp(-omega^2 h t) = 0.947 omega_0; within 1 % (measured 0.949 for all
    three solves). Catches a solve that brakes rotations: L-BFGS curvature pairs kept across
    steps went stale as the sheet turned and left 0.71; the Newton Hessian kept without
    recomputing the elements that turned (``pd.HESSIAN_TOLERANCE`` = inf) left 0.20."""
    w = np.pi
    s = ClothSheet.rectangle((0.06, 0.06), 0.005, ClothMaterial(damping=0.0), origin=(-0.03, 0.0, -0.03))
    s.v[:] = np.cross([0.0, w, 0.0], s.x)
    for _ in range(90):
        step_cloth(s, 1 / 90, 2, NO_G, iterations=1 if method == "pd" else 2, method=method)
    r = s.x - s.mass @ s.x / s.mass.sum()
    omega = (s.mass[:, None] * np.cross(r, s.v)).sum(0)[1] / np.sum(s.mass * (r[:, 0] ** 2 + r[:, 2] ** 2))
    assert omega / w == pytest.approx(np.exp(-w * w / 180), abs=0.01)
    if method == "newton":  # the kept Hessian was recomputed in full at every iteration (turning)
        stats = s.solver_cache["newton_stats"]
        assert stats[4] == stats[0] * (len(s.triangles) + len(s.bend_vertex))


@pytest.mark.parametrize("bending", [1e-7, None])
def test_newton_flap_falls_like_a_hinged_plate_without_gaining_energy(bending: float | None) -> None:
    """The Newton solve (2 iterations per step, 2 steps per frame), whose Hessian gives a slack
    triangle's out-of-plane turn its current tension rather than PD's full membrane stiffness:
    a released flap, limp (1e-7 N m) or the default gauze, passes 45 deg within 2x the hinged
    rigid plate's 0.081 s (measured 0.11 and 0.10 s; PD 4.4 s). Without air damping its total
    energy (kinetic + elastic + gravity) never rises above the release value over that time
    (measured at most -0.28 uJ over 2 s; the potential energy given up is ~32 uJ). Catches a
    Hessian with PD's rotation stiffness (45 deg at >= 0.7 s), a PCG or line search that
    stalls, and a step that feeds energy in (1 iteration per step did: +40 uJ)."""
    bound = 2 * _rigid_plate_time(0.06, np.pi / 4)
    s = ClothSheet.rectangle(
        (0.06, 0.06), 0.005, ClothMaterial(bending_stiffness=bending, damping=0.0), pin_edges=["u0"]
    )
    edge = np.abs(s.rest[:, 0] - 0.06) < 1e-9

    def total() -> float:
        return kinetic_energy(s) + elastic_energy(s)[0] + 9.80665 * float(s.mass @ s.x[:, 1])

    e0, angle = total(), 0.0
    for _ in range(int(np.ceil(bound * 90))):
        step_cloth(s, 1 / 90, 2, G, iterations=2, method="newton")
        angle = max(angle, float(np.degrees(np.arctan2(-s.x[edge, 1].mean(), s.x[edge, 0].mean()))))
        assert total() <= e0 + 1e-9
    assert angle > 45.0
    assert s.solver_cache["newton_stats"][3] == 0  # no line-search fallback to the PD step


def test_newton_through_the_plugin() -> None:
    """``ClothSettings(method="newton")`` through the plugin (900 Hz physics, 2 implicit steps
    per frame) takes 2 Newton iterations per step by default (1 fed the flap energy) and
    swings the released gauze flap past 45 deg within 2x the hinged plate's time."""
    app = App(seed=0)
    app.add_plugin(ClothPlugin(ClothSettings(method="newton")))
    s = ClothSheet.rectangle((0.06, 0.06), 0.005, GAUZE, pin_edges=["u0"])
    app.spawn(s)
    frames = int(np.ceil(2 * _rigid_plate_time(0.06, np.pi / 4) * 90))
    app.step(frames)
    edge = np.abs(s.rest[:, 0] - 0.06) < 1e-9
    assert np.degrees(np.arctan2(-s.x[edge, 1].mean(), s.x[edge, 0].mean())) > 45.0
    assert s.solver_cache["newton_stats"][0] > 1.5 * 2 * frames  # ~2 iterations per step


def test_newton_hessian_matches_finite_differences_of_the_gradient() -> None:
    """The Newton solve's Hessian (:func:`elastic_hessian`, the sparse per-step assembly): on a
    gauze bent onto a 1 cm cylinder, sheared, stretched and noisy, the membrane Hessian times
    random vectors equals central differences of the solves' gradient to 1e-6 (measured
    1e-10 to 2e-10); projected per triangle it is positive semi-definite (here the unprojected
    one has eigenvalues down to -0.19 x its largest entry) and, on a sheet stretched everywhere
    (no compressed mode), equal to the unprojected one. The bending part is sum w w^T (x)
    n n^T / alpha over the stencils (normals held fixed), checked against a dense numpy sum.
    Catches wrong eigenvalues (the out-of-plane psi_k / s_k, the twist and flip), blocks put in
    the wrong slots of the pattern, and an eigenvector lost to round-off on a nearly diagonal
    F (the stretched sheet: 1.7e-3 with (b, l1 - a))."""
    rng = np.random.default_rng(2)
    s = ClothSheet.rectangle((0.02, 0.02), 0.0025, ClothMaterial(bending_stiffness=0.0))
    u, v = s.rest[:, 0], s.rest[:, 2]
    bent = np.stack([0.01 * np.sin(u / 0.01), 0.01 * (1 - np.cos(u / 0.01)) + 15 * v**2, 1.003 * v + 0.01 * u], 1)
    stretched = s.rest * np.array([1.01, 1.0, 1.005])
    for x in (bent + rng.normal(scale=2e-5, size=bent.shape), stretched):
        K = elastic_hessian(s, x, project=False)
        for _ in range(2):
            d = rng.normal(size=x.shape)
            eps = 1e-8
            fd = (elastic_energy(s, x + eps * d, exact=False)[1] - elastic_energy(s, x - eps * d, exact=False)[1]) / (
                2 * eps
            )
            hv = K @ d.ravel()
            assert np.abs(fd.ravel() - hv).max() < 1e-6 * np.abs(hv).max()
    kp = elastic_hessian(s, bent, project=True)
    assert np.linalg.eigvalsh(kp).min() > -1e-12 * np.abs(kp).max()
    assert np.linalg.eigvalsh(elastic_hessian(s, bent, project=False)).min() < -0.1 * np.abs(kp).max()
    assert np.abs(elastic_hessian(s, stretched) - elastic_hessian(s, stretched, project=False)).max() == 0.0
    soft = ClothMaterial(youngs_modulus=1.0, bending_stiffness=1e-5)  # bending dominates
    b = ClothSheet.rectangle((0.01, 0.01), 0.0025, soft)
    x = b.rest.copy()
    x[:, 1] += 20 * x[:, 0] ** 2 + 5 * x[:, 2] ** 2  # a bowl, curved both ways
    tri = x[b.triangles]
    nrm = np.zeros((b.n_vertices, 3))
    np.add.at(nrm, b.triangles.ravel(), np.repeat(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), 3, axis=0))
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
    dense = np.zeros((b.n_vertices, 3, b.n_vertices, 3))
    for k in range(len(b.bend_vertex)):
        j, w = b.bend_idx[b.bend_ptr[k] : b.bend_ptr[k + 1]], b.bend_w[b.bend_ptr[k] : b.bend_ptr[k + 1]]
        nn = np.outer(nrm[b.bend_vertex[k]], nrm[b.bend_vertex[k]]) * b.bend_inv_alpha[k]
        dense[j[:, None], :, j[None, :], :] += (w[:, None] * w[None, :])[:, :, None, None] * nn
    flat = ClothSheet.rectangle((0.01, 0.01), 0.0025, ClothMaterial(youngs_modulus=1.0, bending_stiffness=0.0))
    bending = elastic_hessian(b, x) - elastic_hessian(flat, x)
    assert np.abs(bending - dense.reshape(bending.shape)).max() < 1e-9 * np.abs(dense).max()


def test_kept_newton_hessian_recomputes_exactly_the_elements_that_moved() -> None:
    """The Newton solve keeps its Hessian across iterations and steps (:func:`pd.update_hessian`)
    and recomputes only the triangles whose F, and the bending stencils whose normal, moved by
    more than ``pd.HESSIAN_TOLERANCE`` since. On a bent, noisy gauze with bending: the first
    call assembles everything and equals :func:`elastic_hessian`; after a corner patch moves,
    only the elements touching it are recomputed and the kept Hessian equals the fresh one to
    round-off (a block not taken out, or taken out with the wrong eigensystem or normal, is
    off by its whole size); a sub-tolerance jiggle recomputes nothing; a rigid turn by 1 deg
    recomputes everything (a turned triangle's Hessian is R H R^T). Catches a kept Hessian
    that goes stale on a turning sheet (kept forever, the spinning sheet of
    test_spinning_sheet_keeps_implicit_eulers_angular_velocity keeps 0.20 of its spin)."""
    rng = np.random.default_rng(5)
    s = ClothSheet.rectangle((0.02, 0.02), 0.0025, GAUZE)
    n, nt, ns = s.n_vertices, len(s.triangles), len(s.bend_vertex)
    row_ptr, col, tri_slot, pair_ptr, pair_slot = pd.hessian_pattern(n, s.triangles, s.bend_ptr, s.bend_idx)
    val = np.zeros((len(col), 3, 3))
    kept = (np.zeros((nt, 3, 2)), np.zeros((nt, 6)), np.zeros((nt, 6, 3, 2)), np.zeros((ns, 3)), np.array([-1.0]))
    rows = np.repeat(np.arange(n), np.diff(row_ptr))

    def update(x: np.ndarray) -> int:
        return pd.update_hessian(
            x, s.triangles, s.gt, s.w_rot, s.w_area, s.bend_vertex, s.bend_ptr, s.bend_idx, s.bend_w,
            s.bend_inv_alpha, np.zeros((n, 3)), tri_slot, pair_ptr, pair_slot, val, np.zeros((3, 2)),
            np.zeros((3, 3)), np.zeros(9), *kept, pd.HESSIAN_TOLERANCE,
        )  # fmt: skip

    def off(x: np.ndarray) -> float:
        dense = np.zeros((n, 3, n, 3))
        dense[rows, :, col, :] = val
        fresh = elastic_hessian(s, x)
        return float(np.abs(dense.reshape(fresh.shape) - fresh).max() / np.abs(fresh).max())

    u, v = s.rest[:, 0], s.rest[:, 2]
    x = np.stack([0.01 * np.sin(u / 0.01), 0.01 * (1 - np.cos(u / 0.01)) + 15 * v**2, 1.003 * v + 0.01 * u], 1)
    x += rng.normal(scale=2e-5, size=x.shape)
    assert update(x) == nt + ns and off(x) < 1e-14
    patch = (u < 0.006) & (v < 0.006)
    x[patch] += rng.normal(scale=3e-4, size=(patch.sum(), 3))
    touching = int(patch[s.triangles].any(axis=1).sum())
    done = update(x)
    assert touching < done < 0.5 * (nt + ns) and off(x) < 1e-12
    before = val.copy()
    assert update(x + rng.normal(scale=1e-9, size=x.shape)) == 0 and np.array_equal(val, before)
    c, si = np.cos(np.radians(1.0)), np.sin(np.radians(1.0))
    x = x @ np.array([[c, 0.0, si], [0.0, 1.0, 0.0], [-si, 0.0, c]]).T
    assert update(x) == nt + ns and off(x) < 1e-14


@pytest.mark.slow
def test_quasi_newton_statics_are_the_same_fixed_point() -> None:
    """The quasi-Newton and Newton solves only change how each step is solved, not the
    equilibrium: 10 x 10 cm gauze clamped on two edges (5 mm cells) settles to the PD solve's
    sag within 1.5 % (measured 1.203 (quasi-Newton) and 1.2084 mm (PD) at 8 s, both still
    drifting by ~1 % then; Newton within 0.2 %: 1.2078 mm, at rest to 1e-8 m/s by 2 s) and to Irvine's
    taut elastic cable d = L (3 q L / 64 E t)^(1/3) = 1.20 mm within 25 %. Catches a force
    that is not the PD one (the exact bending gradient, normals turning, settles at 1.325 mm:
    docs/cloth.md, "Open"), and a Newton line search on the true bending energy (it stalled
    near the PD state and fell back to PD steps: 1.238 mm)."""
    sags = []
    for method, its, frames in (("pd", 1, 720), ("quasi_newton", 2, 720), ("newton", 2, 180)):
        s = ClothSheet.rectangle((0.1, 0.1), 0.005, GAUZE, pin_edges=["u0", "u1"])
        for _ in range(frames):
            step_cloth(s, 1 / 90, 2, G, iterations=its, method=method)
        assert np.abs(s.v).max() < 1e-3
        sags.append(-s.x[:, 1].min())
    q = GAUZE.areal_density * 9.80665
    irvine = 0.1 * (3 * q * 0.1 / (64 * GAUZE.youngs_modulus * GAUZE.thickness)) ** (1 / 3)
    assert sags[1] == pytest.approx(sags[0], rel=0.015)
    assert sags[2] == pytest.approx(sags[0], rel=0.002)
    assert sags[1] == pytest.approx(irvine, rel=0.25)


def test_elastic_energy_gradient_matches_finite_differences() -> None:
    """The quasi-Newton solve needs the exact gradient of the energy it line-searches: on a
    gauze bent onto a 1 cm cylinder, sheared and stretched (with noise), the membrane and
    bending gradients (the latter including the turning of the vertex normals) match central
    differences of the energy to 1e-6 (measured 2e-10, 4e-10). Catches the PD shortcut (the
    normals held fixed), which the L-BFGS curvature pairs could not tolerate."""
    rng = np.random.default_rng(1)
    for bending_only in (True, False):
        m = ClothMaterial(youngs_modulus=1.0 if bending_only else 2e6, bending_stiffness=1e-5)
        s = ClothSheet.rectangle((0.02, 0.02), 0.0025, m)
        u, v = s.rest[:, 0], s.rest[:, 2]
        s.x[:] = np.stack([0.01 * np.sin(u / 0.01), 0.01 * (1 - np.cos(u / 0.01)) + 15 * v**2, 1.003 * v + 0.01 * u], 1)
        s.x += rng.normal(scale=2e-5, size=s.x.shape)
        e0, grad = elastic_energy(s)
        assert e0 > 0
        eps = 1e-8
        for i in range(0, s.n_vertices, 11):
            for c in range(3):
                xp, xm = s.x.copy(), s.x.copy()
                xp[i, c] += eps
                xm[i, c] -= eps
                num = (elastic_energy(s, xp)[0] - elastic_energy(s, xm)[0]) / (2 * eps)
                assert num == pytest.approx(grad[i, c], abs=1e-6 * np.abs(grad).max())


def test_local_projection_is_exact_for_a_nearly_diagonal_deformation() -> None:
    """PD's local step (``pd._project``) on a flat, uniformly stretched sheet, where F is
    nearly diagonal: its rotation U V^T and area-preserving stretch U diag(t, 1/t) V^T match a
    float64 SVD (numpy/LAPACK; t the closest root of t^4 - s1 t^3 + s2 t - 1 = 0) to 1e-13.
    Catches the first singular vector taken as (F^T F_01, l1 - F^T F_00): l1 - F^T F_00 ~
    F^T F_01^2 / (s1^2 - s2^2) is lost to round-off (measured: the rotation 4e-3 wrong where
    F^T F_01 is round-off, 1e-5 at a shear of 1e-12, 1e-8 at 1e-9; the stable row (l1 - F^T F_11,
    F^T F_01) for F^T F_00 >= F^T F_11, as ``pd.membrane_modes`` takes it, is within 1e-13)."""
    rng = np.random.default_rng(3)
    r_out, a_out = np.zeros((3, 2)), np.zeros((3, 2))
    worst = 0.0
    for shear in (0.0, 1e-12, 1e-10, 1e-9, 1e-8, 1e-7, 1e-6):
        for s1, s2 in ((1.01, 1.005), (1.0, 0.999), (0.995, 1.02), (1.3, 1.2)):
            q, _ = np.linalg.qr(rng.normal(size=(3, 3)))  # a random orientation in space
            f = q[:, :2] @ np.array([[s1, shear], [0.0, s2]])
            assert pd._project(f, r_out, a_out)
            u, s, vt = np.linalg.svd(f, full_matrices=False)
            roots = np.roots([1.0, -s[0], 0.0, s[1], -1.0])
            roots = roots[(abs(roots.imag) < 1e-12) & (roots.real > 0)].real
            t = roots[np.argmin((s[0] - roots) ** 2 + (s[1] - 1 / roots) ** 2)]
            worst = max(worst, abs(r_out - u @ vt).max(), abs(a_out - u @ np.diag([t, 1 / t]) @ vt).max())
    assert worst < 1e-13


# ----------------------------------------------------------------------------- cutting


def _sheet() -> ClothSheet:
    return ClothSheet.rectangle((0.1, 0.1), 0.0025, GAUZE)


def test_one_cut_makes_two_pieces_with_exact_rest_areas() -> None:
    """Catches area lost or doubled by the split, lips left joined, and a cut off its plane."""
    s = _sheet()
    a0 = s.total_rest_area()
    res = cut_cloth(s, np.array([0.0431, 0.0, -0.01]), np.array([0.0431, 0.0, 0.11]), np.array([1.0, 0, 0]), 0.001)
    _, _, n = cloth_pieces(s)
    assert n == 2 and len(res.segments) > 0 and res.separated > 0
    areas = np.sort(piece_rest_areas(s))
    # the crossings within SNAP of an edge end moved onto it: here none (0.0431 is 24 % into a cell)
    assert areas == pytest.approx([0.00431, 0.00569], abs=1e-12)
    assert abs(s.total_rest_area() - a0) < 1e-15
    assert np.allclose(res.segments[:, :, 0], 0.0431)
    assert res.min_area_fraction >= SNAP**2


def _disc(ext: float) -> tuple[ClothSheet, float, float]:
    s = _sheet()
    n, r, c = 24, 0.02, np.array([0.05, 0.0, 0.05])
    ang = 2 * np.pi * np.arange(n) / n + 0.1
    p = c + r * np.stack([np.cos(ang), np.zeros(n), np.sin(ang)], 1)
    worst = 1.0
    for k in range(n):
        a, b = p[k], p[(k + 1) % n]
        d = b - a
        res = cut_cloth(s, a - ext * d, b + ext * d, np.cross(d, UP), 0.0005)
        worst = min(worst, res.min_area_fraction)
    return s, 0.5 * n * r * r * np.sin(2 * np.pi / n), worst


def test_closed_polyline_of_snips_frees_the_disc() -> None:
    """24 overlapping snips along the chords of a 2 cm circle (as the FLS task's circle): the
    disc comes free and its rest area is the chord polygon's within 1.5 % (measured 0.8 %; the
    snapping moves the line by at most 20 % of an edge); no new triangle below SNAP^2 of its
    parent. Catches snips that do not join at the corners and snapping that distorts the line."""
    s, polygon, worst = _disc(0.1)
    _, _, n = cloth_pieces(s)
    assert n == 2
    areas = piece_rest_areas(s)
    assert areas.min() == pytest.approx(polygon, rel=0.015)
    assert areas.sum() == pytest.approx(0.01, abs=1e-15)
    assert worst >= SNAP**2


def test_crossing_and_repeated_cuts() -> None:
    """Two crossing full cuts make four quarters of exact areas; cutting again along the first
    line adds no piece and no area; every step moves only what the cut separates."""
    s = _sheet()
    cut_cloth(s, np.array([0.0431, 0, -0.01]), np.array([0.0431, 0, 0.11]), np.array([1.0, 0, 0]), 0.001)
    cut_cloth(s, np.array([-0.01, 0, 0.0613]), np.array([0.11, 0, 0.0613]), np.array([0, 0, 1.0]), 0.001)
    _, _, n = cloth_pieces(s)
    assert n == 4
    expect = sorted(a * b for a in (0.0431, 0.0569) for b in (0.0613, 0.0387))
    assert np.sort(piece_rest_areas(s)) == pytest.approx(expect, abs=1e-12)
    v = s.n_vertices
    again = cut_cloth(s, np.array([0.0431, 0, -0.01]), np.array([0.0431, 0, 0.11]), np.array([1.0, 0, 0]), 0.001)
    assert cloth_pieces(s)[2] == 4 and again.separated == 0 and s.n_vertices == v
    assert s.total_rest_area() == pytest.approx(0.01, abs=1e-15)
    for _ in range(10):  # the quarters fall apart under gravity, still finite
        step_cloth(s, 1 / 90, 2, G)
    assert np.isfinite(s.x).all()


def _slit(s: ClothSheet, x: float = 0.0081, z1: float = 0.05) -> None:
    """A cut along x = ``x`` in from the z = 0 edge, its blades ending at z = ``z1`` (0.5 mm reach)."""
    cut_cloth(s, np.array([x, 0, -0.01]), np.array([x, 0, z1]), np.array([1.0, 0, 0]), 0.0005)


def test_crack_tips_are_the_ends_of_the_slits_inside_the_sheet() -> None:
    """An uncut sheet has no tip; a slit in from the border one, at its inner end; a slit
    inside the sheet two; a cut right across none. Catches lips that were not separated and
    border ends taken for tips."""
    s = _sheet()
    assert len(crack_tips(s)) == 0
    _slit(s)
    (t,) = crack_tips(s)
    assert s.rest[t] == pytest.approx([0.0081, 0.0, 0.05], abs=1e-12)  # the grid line the reach ends on
    inner = _sheet()
    cut_cloth(inner, np.array([0.0431, 0, 0.03]), np.array([0.0431, 0, 0.07]), np.array([1.0, 0, 0]), 0.0005)
    ends = np.sort(inner.rest[crack_tips(inner)][:, 2])
    assert ends == pytest.approx([0.03, 0.07], abs=1e-12)
    across = _sheet()
    _slit(across, z1=0.11)
    assert len(crack_tips(across)) == 0


@pytest.mark.parametrize(("short", "beside"), [(0.001, 0.0), (0.0005, 0.0008)])
def test_a_snip_starting_beside_a_cuts_end_continues_that_cut(short: float, beside: float) -> None:
    """A second snip starting ``short`` m before the first cut's end (and ``beside`` m to its
    side), as a person aims at where the cut stopped: the strip comes free, as real blades
    slide into the slit; without the join (today's cut, ``join=0``) a bridge of gauze keeps it.
    Every new triangle keeps the SNAP^2 area bound. Catches cuts that do not meet."""
    pieces = []
    for join in (0.0, JOIN_TOLERANCE):
        s = _sheet()
        _slit(s)
        start = 0.05 + short + 0.0005  # the 0.5 mm reach ahead of the hinge: its cut starts `short` on
        x = np.array([0.0081 + beside, 0.0, 0.0])
        res = cut_cloth(s, x + [0, 0, start], x + [0, 0, 0.11], np.array([1.0, 0, 0]), 0.0005, join=join)
        pieces.append(cloth_pieces(s)[2])
        assert res.min_area_fraction >= SNAP**2
    assert pieces == [1, 2]
    areas = np.sort(piece_rest_areas(s))
    assert areas[0] == pytest.approx(0.1 * 0.0081, rel=0.05)  # the 8.1 mm strip (the join's jog aside)
    assert s.total_rest_area() == pytest.approx(0.01, abs=1e-15)
    assert len(crack_tips(s)) == 0


def test_a_cut_away_from_every_tip_is_the_cut_without_the_join() -> None:
    """A snip 1 cm beside the slit's end (parallel to it), then one right across the sheet
    2 cm from every end, give bit-identical meshes with and without the join; the same snip
    1 mm beside the end does not (it is joined)."""

    def run(join: float, gap: float) -> ClothSheet:
        s = _sheet()
        _slit(s)
        cut_cloth(
            s,
            np.array([0.0081 + gap, 0, 0.04]),
            np.array([0.0081 + gap, 0, 0.09]),
            np.array([1.0, 0, 0]),
            0.001,
            join=join,
        )
        cut_cloth(s, np.array([-0.01, 0, 0.0713]), np.array([0.11, 0, 0.0713]), np.array([0, 0, 1.0]), 0.001, join=join)
        return s

    without, with_join = run(0.0, 0.01), run(JOIN_TOLERANCE, 0.01)
    for name in ("x", "rest", "triangles", "mark", "pinned"):
        assert np.array_equal(getattr(without, name), getattr(with_join, name))
    assert run(JOIN_TOLERANCE, 0.001).n_vertices > run(0.0, 0.001).n_vertices
    with pytest.raises(ValueError, match="join"):
        cut_cloth(_sheet(), np.zeros(3), np.ones(3), np.array([1.0, 0, 0]), 0.001, join=-1.0)


def test_same_input_gives_bit_identical_results() -> None:
    def run() -> np.ndarray:
        s = ClothSheet.rectangle((0.05, 0.05), 0.0025, GAUZE, pin_edges=["u0", "u1"])
        for k in range(20):
            step_cloth(s, 1 / 90, 2, G)
            if k == 10:
                cut_cloth(s, np.array([0.021, 0, -0.01]), np.array([0.021, 0, 0.03]), np.array([1.0, 0, 0]), 0.001)
        return s.x.copy()

    assert np.array_equal(run(), run())


# ----------------------------------------------------------------------------- input


def test_bad_input_is_one_clear_error() -> None:
    with pytest.raises(ClothError, match="youngs_modulus"):
        ClothMaterial(youngs_modulus=-1.0)
    with pytest.raises(ClothError, match="thickness"):
        ClothMaterial(thickness=0.0)
    with pytest.raises(ClothError, match="pin_edges"):
        ClothSheetSpec(pin_edges=["top"])
    with pytest.raises(ClothError, match="cell"):
        ClothSheetSpec(size=(0.1, 0.1), cell=0.5)
    p = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [0, 0, 1.0]])
    with pytest.raises(ClothError, match="triangle 1 is degenerate"):
        ClothSheet.from_mesh(p, np.array([[0, 1, 3], [0, 1, 2]]))


def test_prefab_yaml_entry_builds_a_sheet_and_reports_bad_fields(tmp_path) -> None:
    """The ``ClothSheet:`` prefab entry of a pack builds the sheet; a bad value is one pack
    error naming the file, the line and the field."""

    (tmp_path / "prefabs").mkdir()
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "pack.yaml").write_text(
        "name: gauze_pack\nversion: 0.1.0\nengine: '>=0.1,<1'\ntitle: Gauze\ndescription: a gauze\n"
        "plugins: [cloth]\ndefault_scenario: s\n"
    )
    prefab = (
        "gauze:\n  components:\n    ClothSheet:\n      size: [0.04, 0.02]\n      cell: 0.005\n"
        "      material: {youngs_modulus: E, thickness: 0.0005, friction_static: 0.7, friction_kinetic: K}\n"
        "      pin_edges: [u0]\n"
    )
    (tmp_path / "scenarios" / "s.yaml").write_text("title: s\nentities:\n  - {prefab: gauze, name: gauze}\n")
    (tmp_path / "prefabs" / "gauze.yaml").write_text(prefab.replace("E,", "2000000.0,").replace("K}", "0.6}"))
    pack = load_pack(tmp_path)
    s = instantiate(pack.prefabs["gauze"].components["ClothSheet"], tmp_path)
    assert isinstance(s, ClothSheet)
    assert s.n_vertices == 9 * 5 and s.pinned.sum() == 5 and s.material.thickness == 0.0005
    assert (s.material.friction_static, s.material.friction_kinetic) == (0.7, 0.6)
    (tmp_path / "prefabs" / "gauze.yaml").write_text(prefab.replace("E,", "-2000000.0,").replace("K}", "0.6}"))
    with pytest.raises(PackError, match=r"gauze\.yaml:6: .*ClothSheet\.material.*youngs_modulus"):
        load_pack(tmp_path)
    (tmp_path / "prefabs" / "gauze.yaml").write_text(prefab.replace("E,", "2000000.0,").replace("K}", "0.9}"))
    with pytest.raises(PackError, match=r"gauze\.yaml:6: .*ClothSheet\.material.*friction_kinetic"):
        load_pack(tmp_path)


# ----------------------------------------------------------------------------- instruments

ALONG_Z = np.array([0.0, np.sqrt(0.5), np.sqrt(0.5), 0.0])  # shaft along +z, jaws open along y, blade plane x = const


@pytest.fixture(scope="module")
def gauze_app() -> tuple[App, ClothSheet, int]:
    app = App(seed=0)
    app.add_plugin(SoftBodyPlugin())
    app.add_plugin(InstrumentPlugin())
    app.add_plugin(ClothPlugin())
    app.insert_resource(InputState())
    app.insert_resource(DrawList())
    sheet = ClothSheet.rectangle((0.06, 0.06), 0.0025, GAUZE, origin=(-0.03, 0.0, -0.03), pin_edges=["u0", "u1"])
    ent = app.spawn(sheet, Name("gauze"))
    for dev in ("scissors", "grasper"):
        _drive(app, dev, np.array([0.0, 0.2, 0.0]), 0.0)
        app.spawn(Instrument(tool=dev, device=dev, pivot=False), Name(dev))
    app.step(30)
    return app, sheet, ent


def _drive(app: App, device: str, hinge: np.ndarray, closure: float) -> None:
    d = app.resource(InputState).device(device)
    d.position[:] = hinge
    d.orientation[:] = ALONG_Z
    d.buttons["trigger"] = closure


def test_scissors_cut_the_gauze_and_send_cloth_cut(gauze_app) -> None:
    app, sheet, ent = gauze_app
    reader = app.event_reader(ClothCut)
    near = np.argmin(np.linalg.norm(sheet.x[:, [0, 2]] - [0.005, -0.004], axis=1))
    hinge = np.array([0.005, sheet.x[near, 1], -0.012])  # at the gauze, blades either side of it
    _drive(app, "scissors", hinge + [0, 0, 0.1], 0.0)
    app.step(1)
    _drive(app, "scissors", hinge, 0.0)
    app.step(2)
    v0 = sheet.n_vertices
    _drive(app, "scissors", hinge, 1.0)
    app.step(1)
    (ev,) = reader.read()
    assert ev.instrument == "scissors" and ev.entity == ent and ev.pieces == 1 and len(ev.segments) > 3
    seg = np.array(ev.segments).reshape(-1, 2, 3)
    # in rest coordinates near the blade plane x = 5 mm (within a cell: the open jaws push the
    # gauze aside by up to their radius before they close) and along the blades' reach
    assert np.allclose(seg[:, :, 0], 0.005, atol=0.0025 + 1e-9)
    reach = 0.003 + 0.0025 * np.sqrt(2)  # cut_radius, then at most one cell to the next vertex
    assert seg[:, :, 2].min() >= -0.012 - reach and seg[:, :, 2].max() <= 0.004 + reach
    assert sheet.n_vertices > v0
    _drive(app, "scissors", hinge + [0, 0, 0.1], 0.0)
    app.step(3)
    assert np.isfinite(sheet.x).all()


def test_grasper_lifts_the_gauze_and_lets_go(gauze_app) -> None:
    app, sheet, ent = gauze_app
    grasped, released = app.event_reader(InstrumentGrasped), app.event_reader(InstrumentReleased)
    near = np.argmin(np.linalg.norm(sheet.x[:, [0, 2]] - [-0.015, 0.004], axis=1))
    p = np.array([-0.015, sheet.x[near, 1], -0.006])
    _drive(app, "grasper", p, 0.0)
    app.step(3)
    _drive(app, "grasper", p, 1.0)
    app.step(1)
    (ev,) = grasped.read()
    assert ev.entity == ent and ev.target == "cloth" and ev.vertices > 0
    held = sheet.hold_idx.copy()
    for k in range(20):
        _drive(app, "grasper", p + [0, 0.0005 * (k + 1), 0], 1.0)
        app.step(1)
    assert sheet.x[held, 1].mean() > p[1] + 0.008  # lifted ~1 cm with the jaw
    _drive(app, "grasper", p + [0, 0.01, 0], 0.0)
    app.step(1)
    (rel,) = released.read()
    assert rel.entity == ent and rel.target == "cloth" and sheet.hold_idx.size == 0
    app.step(2)
    assert np.isfinite(sheet.x).all()


def test_the_sheet_is_drawn_with_its_ink(gauze_app) -> None:
    """The drawing queues one surface per sheet with unit normals and the ink marks as the
    per-vertex darkening; the renderer's surface shader is two-sided."""
    app, sheet, ent = gauze_app
    sheet.mark[:] = 0.0
    sheet.mark[:10] = 1.0
    draws = app.resource(DrawList)
    draws.clear()

    cloth_draw_system(app)
    (surf,) = [d for d in draws.surfaces if d.key == ("vrmed.cloth", ent)]
    assert surf.positions is sheet.x and surf.faces is sheet.triangles
    assert np.allclose(np.linalg.norm(surf.normals, axis=1), 1.0)
    assert surf.burn is sheet.mark and surf.entity == ent


def test_membrane_forces_are_minus_the_energy_gradient() -> None:
    rng = np.random.default_rng(0)
    s = ClothSheet.rectangle((0.005, 0.005), 0.0025, GAUZE)
    s.x += rng.normal(scale=1e-4, size=s.x.shape)
    f = membrane_forces(s)
    assert np.abs(f.sum(axis=0)).max() < 1e-12 * np.abs(f).max() + 1e-15  # internal forces balance


def test_headless_render_shows_the_gauze_and_its_ink(tmp_path, ctx) -> None:
    """EGL capture of a marked gauze seen from above: the sheet is drawn light, the ink ring
    dark, where the camera projects them (catches a sheet not queued, ink not passed, or the
    faces wound away from the light with no two-sided shading)."""
    W, H = 160, 120
    plugin = RenderPlugin(W, H, capture_dir=tmp_path, context=ctx, samples=0)
    app = App(seed=0)
    app.add_plugin(plugin)
    app.add_plugin(ClothPlugin())
    s = ClothSheet.rectangle((0.1, 0.1), 0.0025, GAUZE, origin=(-0.05, 0.05, -0.05), pin_edges=["u0", "u1"])
    d = np.abs(np.linalg.norm(s.rest[:, [0, 2]], axis=1) - 0.02)
    s.mark[:] = np.clip(1.0 - d / 0.0025, 0.0, 1.0)
    app.spawn(s)
    cam = Camera(position=np.array([0.0, 0.2, 0.001]), target=np.array([0.0, 0.05, 0.0]), up=np.array([0.0, 0.0, -1.0]))
    app.spawn(cam)
    try:
        app.run(frames=2)
        img = np.asarray(Image.open(plugin.captured[-1]).convert("RGB")).astype(float)
    finally:
        app.close()
    (ix, iy), (rx, ry) = project([[0.01, 0.05, 0.0], [0.02, 0.05, 0.0]], view_projection(cam, W / H), W, H).astype(int)
    gauze, ink = img[iy, ix].mean(), img[ry, rx].mean()
    assert gauze > 150 and ink < gauze - 60


@pytest.mark.parametrize("method", ["pd", "newton"])
def test_tool_capsule_pushes_the_gauze_out(method: str) -> None:
    """A 5 mm-radius tool capsule pressed 6 mm up into clamped gauze: no free vertex ends
    inside radius + t/2, and the sheet is lifted over it (catches contact left out of the
    solve or applied before the global step undoes it; with the Newton solve, a vertex pushed
    out radially after an iteration that carried it across the capsule's axis: the taut sheet
    then ended below the capsule, its top at 4.3 mm)."""
    s = ClothSheet.rectangle((0.1, 0.1), 0.0025, GAUZE, pin_edges=["u0", "u1"])
    caps = np.zeros((1, 7))
    for k in range(30):
        y = -0.004 + 0.006 * min(1.0, (k + 1) / 20)  # the capsule's axis rises to 2 mm above the sheet
        caps[0] = [0.04, y, 0.05, 0.06, y, 0.05, 0.005]
        step_cloth(s, 1 / 90, 2, G, caps, iterations=1 if method == "pd" else 2, method=method)
    a, b, r = caps[0, :3], caps[0, 3:6], caps[0, 6] + 0.5 * GAUZE.thickness
    t = np.clip((s.x - a) @ (b - a) / ((b - a) @ (b - a)), 0.0, 1.0)
    dist = np.linalg.norm(s.x - a - t[:, None] * (b - a), axis=1)
    assert dist[~s.pinned].min() > r - 1e-6
    assert s.x[:, 1].max() > 0.002 + 0.004  # draped over the capsule's top


# ----------------------------------------------------------------------------- contact, friction


def _inside_inflated_box(x: np.ndarray, c: np.ndarray, R: np.ndarray, half: np.ndarray, margin: float) -> np.ndarray:
    """Per point: strictly inside the box inflated by ``margin`` (less a 1e-9 m round-off allowance)."""
    local = (x - c) @ R
    return np.all(np.abs(local) < half + margin - 1e-9, axis=1)


def test_sheets_dropped_on_a_box_and_the_ground_come_to_rest_on_them() -> None:
    """Through the plugin (900 Hz physics, 2 implicit steps per frame): a 4 x 4 cm gauze dropped
    from 1 cm onto a static box (a ``Collider(shape="box")`` turned 30 deg about y) ends with
    every vertex at the box's top + t/2 (within 1e-6 m), none inside it; then it stays there at
    rest (fastest vertex < 1e-6 m/s over a further 0.5 s: the contact adds no energy). A second
    sheet dropped over the box's edge (half of it overhanging) has no free vertex inside the
    box; a third, dropped beside the box, rests on ``ClothSettings(ground=0)`` at t/2. Without
    the contact all three fall through."""
    app = App(seed=0)
    app.add_plugin(CollisionPlugin())
    app.add_plugin(ClothPlugin(ClothSettings(ground=0.0)))
    half = np.array([0.03, 0.01, 0.03])
    c = np.array([0.01, 0.01, -0.005])
    q = quat_from_axis_angle((0.0, 1.0, 0.0), np.radians(30.0))
    app.spawn(Collider(shape="box", half_extents=half, friction=0.5), Transform(position=c, orientation=q))
    R = quat_matrix(q)
    top = c[1] + half[1]
    m = 0.5 * GAUZE.thickness
    on = ClothSheet.rectangle((0.04, 0.04), 0.005, GAUZE, origin=(-0.01, top + 0.01, -0.025))
    edge_x = c[0] + half[0] * R[0, 0]  # a point of the +x face, then a sheet across that face's edge
    over = ClothSheet.rectangle((0.02, 0.02), 0.0025, GAUZE, origin=(edge_x - 0.01, top + 0.005, c[2] - 0.01))
    beside = ClothSheet.rectangle((0.02, 0.02), 0.005, GAUZE, origin=(-0.08, 0.004, -0.01))
    for s in (on, over, beside):
        app.spawn(s)
    app.step(45)
    assert np.abs(on.x[:, 1] - (top + m)).max() < 1e-6
    assert np.abs(beside.x[:, 1] - m).max() < 1e-6
    for s in (on, over):
        assert not _inside_inflated_box(s.x, c, R, half, m).any()
    x0 = on.x.copy()
    app.step(45)
    assert np.linalg.norm(on.v, axis=1).max() < 1e-6 and np.abs(on.x - x0).max() < 1e-6
    assert np.linalg.norm(beside.v, axis=1).max() < 1e-6
    assert not _inside_inflated_box(over.x, c, R, half, m).any()
    assert over.x[:, 1].min() < top - 1e-3  # the overhang drapes down past the edge


@pytest.mark.parametrize(
    ("obstacle", "method"), [("plane", "pd"), ("box", "pd"), ("plane", "quasi_newton"), ("plane", "newton")]
)
def test_sheet_on_an_incline_sticks_below_the_friction_angle_and_slides_with_coulomb_friction(
    obstacle: str, method: str
) -> None:
    """A 2 x 2 cm sheet (no air damping) lying on an incline (a plane, or a box turned about z),
    mu_s = 0.5, mu_k = 0.4: at 20 deg (tan 0.36 < mu_k) and at 24 deg (tan 0.445, between
    mu_k and mu_s: static friction holds a sheet at rest) it moves < 1e-6 m in 1 s; at 30 deg
    (tan 0.577 > mu_s) its centre slides with the acceleration g (sin theta - mu_k cos theta)
    = 1.506 m/s^2 (a quadratic fitted to its path over 1 s, within 5 %), and never sinks
    below t/2 from the surface."""
    mat = ClothMaterial(damping=0.0, friction_static=0.5, friction_kinetic=0.4)
    for deg in (20.0, 24.0, 30.0):
        th = np.radians(deg)
        n = np.array([np.sin(th), np.cos(th), 0.0])
        u = np.array([np.cos(th), -np.sin(th), 0.0])  # down the slope
        kw: dict = {"method": method, "iterations": 1 if method == "pd" else 2}
        if obstacle == "plane":
            kw["planes"] = np.array([[*n, 0.0]])
        else:  # a 4 m long box whose top face is the incline through the origin (it slides 0.75 m)
            R = np.column_stack([u, n, [0.0, 0.0, 1.0]])
            kw["boxes"] = np.array([[*(-0.05 * n), *R.ravel(), 2.0, 0.05, 0.5]])
        s = ClothSheet.rectangle(
            (0.02, 0.02), 0.005, mat, origin=tuple(0.5 * mat.thickness * n), axis_u=tuple(u), axis_v=(0.0, 0.0, 1.0)
        )
        c0 = s.x.mean(axis=0)
        t, d = np.arange(1, 91) / 90.0, np.zeros(90)
        for f in range(90):
            step_cloth(s, 1 / 90, 2, G, **kw)
            d[f] = (s.x.mean(axis=0) - c0) @ u
            assert (s.x @ n).min() > 0.5 * mat.thickness - 1e-9
        if deg < 25.0:
            assert np.abs(s.x - s.rest).max() < 1e-6, deg
        else:
            a = 2.0 * np.polyfit(t, d, 2)[0]
            assert a == pytest.approx(9.80665 * (np.sin(th) - 0.4 * np.cos(th)), rel=0.05)


def test_contact_settings_are_checked() -> None:
    with pytest.raises(ClothError, match="friction_kinetic"):
        ClothMaterial(friction_static=0.3, friction_kinetic=0.5)
    with pytest.raises(ClothError, match="friction_static"):
        ClothMaterial(friction_static=-1.0)
    with pytest.raises(ValueError, match="ground"):
        ClothSettings(ground=float("nan"))
    with pytest.raises(ValueError, match="boxes"):
        step_cloth(ClothSheet.rectangle((0.01, 0.01), 0.005), 1 / 90, 1, G, boxes=np.zeros((1, 12)))


def test_a_sheet_started_inside_a_box_is_moved_out_without_gaining_speed() -> None:
    """A sheet placed 5 mm deep inside a box (and one 5 mm under the ground plane) is put on
    the top at t/2 in the first step and does not fly off: resolving penetration it started
    with gives no velocity (catches v = (x - x_prev) / h taken across the push-out: ~0.9 m/s)."""
    m = 0.5 * GAUZE.thickness
    box = np.array([[0.0, -0.01, 0.0, *np.eye(3).ravel(), 0.05, 0.01, 0.05]])
    for kw in ({"boxes": box}, {"planes": np.array([[0.0, 1.0, 0.0, 0.0]])}):
        s = ClothSheet.rectangle((0.02, 0.02), 0.005, GAUZE, origin=(-0.01, -0.005, -0.01))
        step_cloth(s, 1 / 90, 2, G, **kw)
        assert np.abs(s.x[:, 1] - m).max() < 1e-9
        assert np.linalg.norm(s.v, axis=1).max() < 1e-9


def test_a_sheet_sliding_on_the_ground_stops_after_the_coulomb_distance() -> None:
    """A 2 x 2 cm sheet lying on a horizontal plane, launched along x at 1 m/s (mu_k 0.4, no
    air damping), stops after v0^2 / (2 mu_k g) = 12.7 cm (within 5 %: implicit Euler's
    first-order bias is h v0 / 2 = 2.8 mm) and then stays put (friction does not push it back)."""
    mat = ClothMaterial(damping=0.0, friction_static=0.5, friction_kinetic=0.4)
    s = ClothSheet.rectangle((0.02, 0.02), 0.005, mat, origin=(0.0, 0.5 * mat.thickness, 0.0))
    s.v[:, 0] = 1.0
    plane = np.array([[0.0, 1.0, 0.0, 0.0]])
    for _ in range(30):  # 0.33 s: it stops at 0.25 s
        step_cloth(s, 1 / 90, 2, G, planes=plane)
    d = (s.x - s.rest)[:, 0].mean()
    assert d == pytest.approx(1.0 / (2 * 0.4 * 9.80665), rel=0.05)
    assert np.abs(s.v).max() < 1e-12
    x0 = s.x.copy()
    step_cloth(s, 1 / 9, 20, G, planes=plane)
    assert np.abs(s.x - x0).max() < 1e-12
