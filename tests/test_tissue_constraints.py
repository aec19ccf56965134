"""Tissue constraints as constraint types of the XPBD solver (components/tissue/constraints.py).

- a constraint type defined here, outside vrmed, and registered by a plain test plugin is
  projected once per substep, after the tets, with the substep fraction and length;
- the built-in pins, attachments and slides match the plain-numpy reference and their
  analytic positions, and the split substep loop (used when a body carries an added
  constraint) is bit-identical to the fused kernel;
- malformed constraint data raise a ConstraintError naming the field;
- the worked example of docs/physics.md (examples/external_tools_pack, patch attachment)
  holds a hanging block's weight with the stated compliance.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from numba import njit
from tissue_reference import kept_fractions

import vrmed.api as vm
from vrmed.app import App
from vrmed.components.tissue.constraints import ConstraintError, TissueConstraint
from vrmed.components.tissue.softbody import Material, SoftBody
from vrmed.mesh import box_tets
from vrmed.systems.tissue import kernels as K
from vrmed.systems.tissue import reference as R
from vrmed.systems.tissue.solver import (
    PLAIN_STEP_TAIL,
    SoftBodyPlugin,
    TissueConstraintTypes,
    register_tissue_constraint,
    step_softbody,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "external_tools_pack"
G = 9.80665


# -- a constraint type defined outside vrmed -------------------------------------------------
@njit(cache=True)
def _floor_kernel(x, x_prev, inv_mass, frac, h, indices, height, log):
    """Keep vertices at or above y = height[0] (a hard, frictionless floor); log each call."""
    n = int(log[0, 0])
    if n + 1 < log.shape[0]:
        log[n + 1, 0] = frac
        log[n + 1, 1] = h
    log[0, 0] = n + 1
    for k in range(indices.shape[0]):
        i = indices[k]
        if inv_mass[i, 1] > 0.0 and x[i, 1] < height[0]:
            x[i, 1] = height[0]


@dataclass(eq=False)
class Floor(TissueConstraint):
    """A frictionless floor y >= height under ``indices`` (test-only constraint type)."""

    name = "test_floor"
    array_fields = ("indices", "height", "log")
    kernel = _floor_kernel

    indices: np.ndarray
    height: np.ndarray
    log: np.ndarray

    @classmethod
    def under(cls, indices: np.ndarray | list[int], height: float = 0.0, log_rows: int = 64) -> Floor:
        return cls(np.asarray(indices, dtype=np.int64), np.array([height]), np.zeros((log_rows, 2)))

    def validate(self, n_vertices: int) -> None:
        super().validate(n_vertices)
        self.check_indices("indices", n_vertices)
        self.check_shape("height", (1,))


@njit(cache=True)
def _nothing(x, x_prev, inv_mass, frac, h, scratch):
    scratch[0] += 1.0


@dataclass(eq=False)
class NoOp(TissueConstraint):
    """Projects nothing: forces the solver's split substep loop."""

    name = "test_noop"
    array_fields = ("scratch",)
    kernel = _nothing

    scratch: np.ndarray


@dataclass(eq=False)
class Soft(TissueConstraint):
    """A soft constraint with a compliance field, for the validation tests."""

    name = "test_soft"
    array_fields = ("indices", "compliance")
    kernel = _nothing

    indices: np.ndarray
    compliance: np.ndarray

    def validate(self, n_vertices: int) -> None:
        super().validate(n_vertices)
        self.check_indices("indices", n_vertices)
        self.check_shape("compliance", self.indices.shape)
        self.check_compliance("compliance")


class FloorPlugin:
    """A plain plugin: registers the floor type and puts a floor under every new SoftBody."""

    def build(self, app: App) -> None:
        register_tissue_constraint(app, Floor)
        app.add_system(self.add_floors, stage="physics", name="test.floor", before="physics.solve")

    @staticmethod
    def add_floors(app: App) -> None:
        for _, body in app.query(SoftBody):
            if not any(isinstance(c, Floor) for c in body.constraints):
                body.add_constraint(Floor.under(np.arange(body.n_vertices)))


def _box(cells=(3, 3, 3), size=(0.05, 0.05, 0.05), y0=0.0, **kw) -> SoftBody:
    mesh = box_tets(size, cells)
    mesh.points = mesh.points + np.array([0.0, y0, 0.0])
    return SoftBody.from_mesh(mesh, Material(2.0e4, 0.45, 1000.0, damping=0.002), **kw)


# -- the protocol --------------------------------------------------------------------------
def test_added_constraint_is_projected_once_per_substep_with_frac_and_h() -> None:
    body = _box(y0=0.01)
    body.accurate_substeps = False  # exactly the 4 substeps asked for
    floor = body.add_constraint(Floor.under(np.arange(body.n_vertices)))
    step_softbody(body, 1 / 90, 4)
    n = int(floor.log[0, 0])
    assert n == 4
    np.testing.assert_array_equal(floor.log[1:5, 0], [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_array_equal(floor.log[1:5, 1], np.full(4, (1 / 90) / 4))


def test_floor_plugin_keeps_a_falling_block_exactly_above_the_floor() -> None:
    """A block dropped from 1 cm lands on a floor added by a plugin; y >= 0 holds exactly."""
    with App(seed=0) as app:
        app.add_plugin(SoftBodyPlugin())
        app.add_plugin(FloorPlugin())
        body = _box(y0=0.01, velocity_damping=2.0)
        app.spawn(body)
        lowest = []
        for _ in range(45):  # 0.5 s: falls 1 cm in 45 ms, then rests on the floor
            app.step()
            lowest.append(float(body.x[:, 1].min()))
        assert app.resource(TissueConstraintTypes).types["test_floor"] is Floor
        assert min(lowest) >= 0.0  # exactly: the floor is the last projection of every substep
        assert lowest[0] > 0.0 and lowest[-1] == 0.0  # fell and touched
        bottom = body.rest_points[:, 1] < 0.01 + 1e-9
        np.testing.assert_array_equal(body.x[bottom, 1], 0.0)  # the whole bottom face rests on it
        assert float(np.abs(body.v).max()) < 0.05  # at rest (m/s)
        # without the floor the block would be 1 m/s and > 5 cm further down by now
        free = _box(y0=0.01, velocity_damping=2.0)
        for _ in range(45):
            step_softbody(free, 1 / 90, 10)
        assert free.x[:, 1].min() < -0.05


def test_unregistered_constraint_type_is_refused_in_an_app() -> None:
    with App(seed=0) as app:
        app.add_plugin(SoftBodyPlugin())
        body = _box()
        body.add_constraint(NoOp(np.zeros(1)))
        app.spawn(body)
        with pytest.raises(ConstraintError, match="register_tissue_constraint"):
            app.step()


def test_registration_checks_the_protocol() -> None:
    types = TissueConstraintTypes()
    types.register(Floor)
    types.register(Floor)  # the same class again is fine

    class Clash(Floor):
        pass

    with pytest.raises(ConstraintError, match="two tissue constraint types are registered as 'test_floor'"):
        types.register(Clash)

    @dataclass(eq=False)
    class PlainPython(TissueConstraint):
        name = "plain"
        kernel = staticmethod(lambda *a: None)

    with pytest.raises(ConstraintError, match="numba @njit"):
        types.register(PlainPython)

    class Nameless(TissueConstraint):
        kernel = _nothing

    with pytest.raises(ConstraintError, match="name must be"):
        types.register(Nameless)
    with pytest.raises(ConstraintError, match="not a subclass"):
        types.register(dict)


def test_split_loop_is_bit_identical_to_the_fused_kernel() -> None:
    """With an added constraint that moves nothing, pins, attachments and slides give exactly
    the fused kernel's result (the path every body without added constraints takes)."""
    bodies = []
    for extra in (False, True):
        body = _box(cells=(3, 4, 3), pins=[0, 1, 2], velocity_damping=1.0)
        top = np.flatnonzero(body.rest_points[:, 1] > 0.05 - 1e-9)
        body.attach(top[:4])
        body.slide(top[4:9], axis=0)
        body.apply_force(top[9:], np.array([0.0, 0.0, 0.02]))
        if extra:
            body.add_constraint(NoOp(np.zeros(1)))
        for f in range(20):
            body.set_attachment_targets(body.kin_start + np.array([0.0005 * f, 0.0004, 0.0]))
            body.set_slide_targets(body.slide_start + 0.0002)
            step_softbody(body, 1 / 90, 10)
        bodies.append(body)
    fused, split = bodies
    assert split.constraints[0].scratch[0] == 200  # 20 steps x 10 substeps
    assert not np.allclose(fused.x, fused.rest_points, atol=1e-3)
    np.testing.assert_array_equal(split.x, fused.x)
    np.testing.assert_array_equal(split.v, fused.v)


# -- the built-in constraint types -----------------------------------------------------------
def test_builtin_constraints_match_the_numpy_reference() -> None:
    """Pins, a moving attachment and moving slide planes in the numba kernel vs the plain-numpy
    reference, same Gauss-Seidel (colour) order: equal to float64 round-off."""
    body = _box(cells=(3, 3, 2), pins=[0, 1], velocity_damping=2.0)
    rng = np.random.default_rng(11)
    body.x += rng.normal(0.0, 0.002, body.x.shape)
    body.x[:2] = body.rest_points[:2]
    top = np.flatnonzero(body.rest_points[:, 1] > 0.05 - 1e-9)
    body.attach(top[:3], targets=body.x[top[:3]] + [0.003, 0.002, -0.001])
    body.slide(top[3:7], axis=2, value=0.001)
    body.set_slide_targets(np.linspace(0.002, 0.004, 4))
    assert np.all(body.inv_mass[:2] == 0) and np.all(body.inv_mass[top[:3]] == 0)
    assert np.all(body.inv_mass[top[3:7], 2] == 0) and np.all(body.inv_mass[top[3:7], :2] > 0)

    colour = R.greedy_colouring(body.tets, body.n_vertices)
    order = np.argsort(colour, kind="stable")
    tets, Q = np.ascontiguousarray(body.tets[order]), np.ascontiguousarray(body.dm_inv[order])
    a_dev, a_hyd = body.alpha_dev[order].copy(), body.alpha_hyd[order].copy()
    offsets = np.concatenate([[0], np.cumsum(np.bincount(colour))]).astype(np.int64)
    g = np.array([0.0, -G, 0.0])
    m = body.material
    dt, n = 1 / 90, 5
    att0 = tuple(a.copy() for a in body.attachment.arrays())
    sl0 = tuple(a.copy() for a in body.slides.arrays())

    x_nb, v_nb, xp_nb = body.x.copy(), body.v.copy(), body.x.copy()
    att_nb = tuple(a.copy() for a in att0)
    lam_nb, wdx_nb = np.zeros((len(tets), 2)), np.zeros_like(body.x)
    wd_nb = np.zeros((len(tets), 10), np.float32)
    kt = kept_fractions(len(tets))  # per-tet kept fractions, some partial, as the solver's warm_t
    K.step_kernel(
        (x_nb, v_nb, xp_nb, body.inv_mass, body.external_force, lam_nb, wd_nb, wdx_nb, kt),
        (
            tets,
            Q,
            a_dev,
            a_hyd,
            offsets,
            np.arange(len(offsets), dtype=np.int64),
            np.zeros(len(tets), np.bool_),
            np.zeros(0, np.bool_),
        ),
        att_nb,
        sl0,
        g,
        dt,
        n,
        m.gamma,
        m.damping,
        body.velocity_damping,
        1.0,
        True,  # the solver's arguments for a default body (the recovery on), none left to its default
        None,
        *PLAIN_STEP_TAIL,  # the rest as the solver passes them for a plain body
    )
    x_np, v_np, xp_np = body.x.copy(), body.v.copy(), body.x.copy()
    lam_np, wdx_np = np.zeros((len(tets), 2)), np.zeros_like(body.x)
    wd_np = np.zeros((len(tets), 10), np.float32)
    start = x_np[att0[0]].copy()  # attached vertices travel from where they are
    for s in range(n):
        R.substep(
            x_np,
            v_np,
            xp_np,
            body.inv_mass,
            body.external_force,
            g,
            tets,
            Q,
            a_dev,
            a_hyd,
            m.gamma,
            offsets,
            dt / n,
            m.damping,
            body.velocity_damping,
            attachment=(att0[0], start, att0[2]),
            slides=sl0,
            frac=(s + 1.0) / n,
            lam=lam_np,
            warm_dx=wdx_np,
            warm=1.0,
            warm_t=kt,
            warm_d=wd_np,
        )
    # warm start: float32 kept corrections (see test_softbody_kernels), so 1e-7 of the motion
    dx = np.abs(x_np - body.x).max()
    np.testing.assert_allclose(x_nb, x_np, rtol=0, atol=max(1e-12 * np.abs(x_np).max(), 1e-7 * dx))
    np.testing.assert_allclose(v_nb, v_np, rtol=0, atol=1e-6 * np.abs(v_np).max())
    # analytic: pins stay, attached vertices reach their targets, slid coordinates their planes
    np.testing.assert_array_equal(x_nb[:2], body.x[:2])
    np.testing.assert_allclose(x_nb[att0[0]], att0[2], rtol=0, atol=1e-16)
    np.testing.assert_allclose(x_nb[sl0[0], 2], sl0[3], rtol=0, atol=1e-16)


def test_soft_body_methods_are_wrappers_over_the_builtin_types() -> None:
    body = _box(pins=[3])
    assert body.pinned is body.pins.pinned and body.pinned[3]
    body.attach([5, 6], targets=np.zeros((2, 3)))
    assert body.kin_idx is body.attachment.indices and body.kin_target is body.attachment.target
    body.slide([7], axis=1, value=0.02)
    body.slide([8], axis=0)
    np.testing.assert_array_equal(body.slide_idx, [7, 8])
    np.testing.assert_array_equal(body.slide_axis, [1, 0])
    np.testing.assert_array_equal(body.slide_start, [0.02, body.x[8, 0]])
    assert [c.name for c in body.all_constraints] == ["pin", "attachment", "slide"]
    # inverse masses: every held axis zero, the rest the lumped 1 / m
    w = body.inv_mass
    assert np.all(w[3] == 0) and np.all(w[[5, 6]] == 0) and w[7, 1] == 0 and w[8, 0] == 0
    assert w[7, 0] == w[7, 2] == body.inv_mass_free[7]
    body.detach()
    body.pin([3], pinned=False)
    np.testing.assert_array_equal(w[[3, 5, 6]], np.repeat(body.inv_mass_free[[3, 5, 6], None], 3, axis=1))
    assert body.kin_idx.size == 0


def test_digest_names_of_the_builtin_constraints_are_kept() -> None:
    body = _box(pins=[0])
    body.attach([1])
    state = body.state()
    for name in ("pinned", "kin_idx", "kin_start", "kin_target", "slide_idx", "slide_axis", "slide_start"):
        assert name in state
    assert "pins" not in state and "constraints" not in state
    body.add_constraint(NoOp(np.zeros(1)))
    assert "constraints[0].test_noop.scratch" in body.state()


# -- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("action", "match"),
    [
        (lambda b: b.pin([b.n_vertices]), r"pin constraint: indices: vertex index \d+ is out of range"),
        (lambda b: b.attach([0, -1]), r"attachment constraint: indices: vertex index -1 is out of range"),
        (lambda b: b.attach([0, 1], targets=np.zeros((3, 3))), r"attachment constraint: targets: 2 vertices"),
        (lambda b: b.slide([0], axis=3), r"slide constraint: axis: axis must be 0, 1 or 2"),
        (lambda b: b.slide([0], axis=1, value=float("nan")), r"slide constraint: value"),
        (lambda b: b.add_constraint(Floor.under([b.n_vertices + 4])), r"test_floor constraint: indices: vertex"),
        (
            lambda b: b.add_constraint(Soft(np.array([0, 1]), np.array([1e-3, -1e-3]))),
            r"test_soft constraint: compliance: compliance must be finite and >= 0",
        ),
        (
            lambda b: b.add_constraint(Soft(np.array([0, 1]), np.array([1e-3]))),
            r"test_soft constraint: compliance: expected a float64 array of shape \(2,\)",
        ),
        (
            lambda b: b.add_constraint(Soft(np.array([0, 1]), np.array([1e-3, 1e-3], dtype=np.float32))),
            r"test_soft constraint: compliance: dtype float32",
        ),
        (
            lambda b: b.add_constraint(Soft(np.array([0, 1], dtype=np.int32), np.zeros(2))),
            r"test_soft constraint: indices: dtype int32",
        ),
        (
            lambda b: b.add_constraint(Floor(np.arange(4), np.zeros(4)[::2], np.zeros((4, 2)))),
            r"test_floor constraint: height: must be C-contiguous",
        ),
        (lambda b: b.add_constraint(Floor(np.arange(4), 0.5, [])), r"test_floor constraint: log: expected a numpy"),
        (lambda b: b.add_constraint(object()), r"not a TissueConstraint"),
        (lambda b: b.add_constraint(b.attachment), r"attachment is built in"),
    ],
)
def test_bad_constraint_data_name_the_field(action, match: str) -> None:
    body = _box()
    before = body.inv_mass.copy()
    with pytest.raises(ConstraintError, match=match):
        action(body)
    assert isinstance(ConstraintError("x"), ValueError)  # old callers caught ValueError
    np.testing.assert_array_equal(body.inv_mass, before)  # nothing half-applied
    assert body.constraints == []


def test_adding_the_same_constraint_twice_is_refused() -> None:
    body = _box()
    c = body.add_constraint(NoOp(np.zeros(1)))
    with pytest.raises(ConstraintError, match="already added"):
        body.add_constraint(c)
    body.remove_constraint(c)
    with pytest.raises(ConstraintError, match="not on the body"):
        body.remove_constraint(c)


def test_pack_api_exports_the_protocol() -> None:
    assert vm.TissueConstraint is TissueConstraint and vm.ConstraintError is ConstraintError
    assert vm.register_tissue_constraint is register_tissue_constraint


# -- the worked example, examples/external_tools_pack/vrmed_clip_lab/patch_attachment.py (how a
# plugin adds a constraint type: docs/physics.md, "Tissue constraints") ----------------------
@pytest.fixture
def patch_module(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    # deferred: the example distribution is imported from its source folder, put on sys.path here
    import vrmed_clip_lab.patch_attachment as mod

    yield mod
    for name in [n for n in sys.modules if n.startswith("vrmed_clip_lab")]:
        del sys.modules[name]


def test_worked_example_patch_holds_the_weight(patch_module) -> None:
    """A 5 cm block hanging from a patch on its top face: at equilibrium the patch pulls up
    with the weight M g (the velocity damping damps the carried velocity only, so it leaves the
    static load alone), and the patch sits compliance x force below its anchors."""
    c = 10.0  # velocity damping (1/s)
    sag = {}
    for compliance in (2e-3, 2e-4):
        body = _box(velocity_damping=c)
        top = np.array([0.025, 0.05, 0.025])
        patch = body.add_constraint(
            patch_module.PatchConstraint.on_surface(body.rest_points, body.tets, top, 0.036, compliance, top)
        )
        on_top = np.flatnonzero(body.rest_points[:, 1] > 0.05 - 1e-9)
        assert set(on_top) <= set(patch.indices.tolist())  # the whole top face, and the sides near it
        for _ in range(270):  # 3 s
            step_softbody(body, 1 / 90, 10)
        weight = body.mass.sum() * G
        np.testing.assert_allclose(patch.total_force(), [0.0, weight, 0.0], rtol=0, atol=1e-4 * weight)
        area_share = compliance / patch.compliance  # A_i / A
        offset = area_share @ (body.x[patch.indices] - patch.anchor_positions())
        np.testing.assert_allclose(offset, [0.0, -compliance * weight, 0.0], rtol=0, atol=1e-3 * compliance * weight)
        sag[compliance] = body.rest_points[:, 1].mean() - body.x[:, 1].mean()
    assert sag[2e-4] < sag[2e-3]
    # the difference is the patch's own stretch: the block's elastic sag is the same
    assert sag[2e-3] - sag[2e-4] == pytest.approx((2e-3 - 2e-4) * weight, rel=0.02)
