"""Substeps for accuracy (vrmed.systems.tissue.solver.accurate_substeps): a body too stiff for the
substeps asked for is stepped with more, so issue #16's bar is right at the defaults whatever
the material; in an App whose tool contacts run once per tick (the collision plugin) the added
substeps are sub-ticks, each with its contacts."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from test_collision import nodal_elastic

from vrmed.app import App
from vrmed.benchmarks.tissue_accuracy import BAR_L, BAR_W, bar_response, face_traction
from vrmed.components.collision.collider import Collider
from vrmed.components.scene.core import Transform
from vrmed.components.tissue.softbody import Material, SoftBody
from vrmed.mesh import box_tets
from vrmed.systems.collision.system import CollisionPlugin, CollisionWorld
from vrmed.systems.tissue.solver import (
    ACCURATE_RATIO,
    SoftBodyPlugin,
    SoftBodySettings,
    TickContacts,
    accurate_substeps,
    step_softbody,
    tet_stiffness_ratios,
)

FRAME, SUBSTEPS = 1.0 / 90.0, 10


def stiff_bar(nu: float, cells: tuple[int, int, int], accurate: bool = True) -> tuple[float, float, float]:
    """Issue #16's bar (0.1 x 0.02 x 0.02 m) with the default material's stiffness (E 100 kPa,
    1000 kg/m^3), free, 1 % traction on both ends, 10 substeps per 1/90 s frame: (axial strain,
    effective nu, median stress query / force over the current area)."""
    material = Material(1.0e5, nu, 1000.0)
    omega = np.pi / BAR_L * np.sqrt(material.youngs_modulus / material.density)
    body = SoftBody.from_mesh(box_tets((BAR_W, BAR_W, BAR_L), cells), material, velocity_damping=omega)
    body.accurate_substeps = accurate
    traction = 0.01 * material.youngs_modulus
    face_traction(body, 2, 0.0, traction)
    face_traction(body, 2, BAR_L, traction)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the control (accurate=False) is warned about; measured here
        for _ in range(200):
            step_softbody(body, FRAME, SUBSTEPS, np.zeros(3))
    axial, lateral, stress = bar_response(body, material, traction)
    return axial, -lateral / axial, stress


def test_a_despawned_body_s_sub_tick_plan_is_forgotten() -> None:
    """The sub-tick plans are cached per body entity; a body despawned (a cut piece removed, a
    scenario reset) leaves no plan behind, and the bodies still there keep theirs."""
    app, body = _app_bar(with_collision=True)
    other = SoftBody.from_mesh(box_tets((BAR_W, BAR_W, BAR_L), (1, 1, 5)), Material(1.0e5, 0.45, 1000.0))
    gone = app.spawn(other)
    app.step(1)
    plans = app.resource(TickContacts).plans
    kept = app.query(SoftBody)[0][0]
    assert set(plans) == {kept, gone}
    app.despawn(gone)
    app.step(1)
    assert set(plans) == {kept}
    app.close()


@pytest.mark.parametrize("nu", [0.3, 0.45])
@pytest.mark.parametrize("cells", [(1, 1, 5), (2, 2, 10)], ids=["2cm-cells", "1cm-cells"])
def test_a_stiff_coarse_bar_is_right_at_the_default_substeps(nu: float, cells: tuple[int, int, int]) -> None:
    """Hooke within 5 % (measured: axial +0.3..+0.7 %, nu -1.3..-0.7 %, stress +0.02..+0.04 %). At
    the 10 substeps as asked the 2 cm cells give axial -12.8 %, nu 0.341, stress +34 % at nu 0.45
    (issue #16 measured -5..-7 %, 0.41, +22 %) and the 1 cm cells are mostly softened."""
    axial, nu_eff, stress = stiff_bar(nu, cells)
    assert axial == pytest.approx(0.01, rel=0.05)
    assert nu_eff == pytest.approx(nu, rel=0.05)
    assert stress == pytest.approx(1.0, rel=0.05)


def test_the_same_bar_at_the_substeps_asked_for_misses_hooke() -> None:
    """The control: with ``accurate_substeps`` off the 2 cm bar at nu 0.45 is the plain
    one-iteration solve issue #16 measured (the test above could not pass without the added
    substeps)."""
    axial, nu_eff, stress = stiff_bar(0.45, (1, 1, 5), accurate=False)
    assert stress > 1.15 and nu_eff < 0.43 and axial < 0.0097


def test_the_plan_brings_the_ratio_down_caches_and_keeps_what_is_resolved() -> None:
    body = SoftBody.from_mesh(box_tets((BAR_W, BAR_W, BAR_L), (2, 2, 10)), Material(1.0e5, 0.45, 1000.0))
    n = accurate_substeps(body, FRAME, SUBSTEPS)
    assert SUBSTEPS < n <= 8 * SUBSTEPS
    r = tet_stiffness_ratios(body, FRAME / n)
    assert np.quantile(r, 0.99) <= ACCURATE_RATIO * 1.01  # equal volumes: the volume quantile
    step_softbody(body, FRAME, SUBSTEPS, np.zeros(3))
    assert body.checked_substep == FRAME / n and body.substep_plan == (FRAME, SUBSTEPS, n)
    assert accurate_substeps(body, FRAME, SUBSTEPS) == n  # cached
    body.set_material(Material(5.4e3, 0.45, 1000.0))  # a soft material is resolved at 10
    assert accurate_substeps(body, FRAME, SUBSTEPS) == SUBSTEPS
    body.accurate_substeps = False
    body.set_material(Material(1.0e5, 0.45, 1000.0))
    assert accurate_substeps(body, FRAME, SUBSTEPS) == SUBSTEPS


def test_a_large_body_over_the_budget_is_stepped_as_asked_and_warned_about() -> None:
    """24,000 tets of stiff material: the added substeps would cost more than the budget (about
    the 10k-tet box at the default rate), so none are added, and the warning says so."""
    body = SoftBody.from_mesh(box_tets((0.2, 0.1, 0.1), (40, 10, 10)), Material(1.0e5, 0.45, 1000.0))
    with pytest.warns(RuntimeWarning, match="substep budget"):
        assert accurate_substeps(body, FRAME, SUBSTEPS) == SUBSTEPS


def _app_bar(with_collision: bool) -> tuple[App, SoftBody]:
    app = App(seed=0)
    app.add_plugin(SoftBodyPlugin(SoftBodySettings(gravity=np.zeros(3))))
    if with_collision:
        app.add_plugin(CollisionPlugin())
    body = SoftBody.from_mesh(box_tets((BAR_W, BAR_W, BAR_L), (1, 1, 5)), Material(1.0e5, 0.45, 1000.0))
    app.spawn(body)
    return app, body


def test_an_app_adds_substeps_with_tool_contacts_as_sub_ticks() -> None:
    """Without collision the App's tick (1/900 s, one substep) gets the substeps it needs; with the
    collision plugin (contacts once per tick: a body stepped with several substeps between two
    projections sinks into what it rests on and rebounds, 4 mm/s on a block resting on a table)
    the body is stepped in as many sub-ticks, each with its contacts, and nobody is warned.
    Without the plugin's ``between`` hook none are added and the warning names the physics rate
    that would do."""
    app, body = _app_bar(with_collision=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        app.step(1)
    n = body.substep_plan[2]
    assert n > 1 and body.checked_substep == pytest.approx(1.0 / 900.0 / n)
    app.close()
    app, body = _app_bar(with_collision=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        app.step(1)
    assert app.resource(TickContacts).subticks == {app.query(SoftBody)[0][0]: n}
    assert body.checked_substep == pytest.approx(1.0 / 900.0 / n)
    app.close()
    app, body = _app_bar(with_collision=True)
    app.resource(TickContacts).between = None
    with pytest.warns(RuntimeWarning, match=r"physics rate of \d+ Hz"):
        app.step(1)
    assert body.checked_substep == pytest.approx(1.0 / 900.0)
    app.close()


@pytest.mark.parametrize("nu", [0.3, 0.45])
def test_a_stiff_bar_in_an_app_with_collision_is_right(nu: float) -> None:
    """Issue #16's bar (E 100 kPa, 1 cm cells, free, E / 100 traction on both ends) in an App at the
    default rates (900 Hz, one substep a tick) with the collision plugin (no collider): Hooke
    within 5 %, as without the plugin (measured at nu 0.3 / 0.45: axial +0.63 / +0.89 %, nu -0.3 /
    -0.7 %, stress 0.00 %; with no substeps added, ``TickContacts.between`` None as before: axial
    +5.0 / -4.7 %, effective nu -0.10 / 0.13, stress +43 / +147 %)."""
    material = Material(1.0e5, nu, 1000.0)
    omega = np.pi / BAR_L * np.sqrt(material.youngs_modulus / material.density)
    body = SoftBody.from_mesh(box_tets((BAR_W, BAR_W, BAR_L), (2, 2, 10)), material, velocity_damping=omega)
    traction = 0.01 * material.youngs_modulus
    face_traction(body, 2, 0.0, traction)
    face_traction(body, 2, BAR_L, traction)
    app = App(seed=0)
    app.add_plugin(SoftBodyPlugin(SoftBodySettings(gravity=np.zeros(3))))
    app.add_plugin(CollisionPlugin())
    app.spawn(body)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        app.step(200)
    app.close()
    axial, lateral, stress = bar_response(body, material, traction)
    assert axial == pytest.approx(0.01, rel=0.05)
    assert -lateral / axial == pytest.approx(nu, rel=0.05)
    assert stress == pytest.approx(1.0, rel=0.05)


def test_a_stiff_slab_pressed_in_an_app_gives_the_tool_its_elastic_reaction() -> None:
    """test_collision.py's static press (a 6 mm sphere held 4 mm into a pinned 10 x 2 x 10 cm slab,
    no gravity, 45 frames at 900 Hz) at E 100 kPa, which needs 4 sub-ticks: the force on the tool
    equals the elastic force the pinned base carries (measured 0.000 %, the same state as at
    3600 Hz; with no substeps added 39.8 % off, 2.34 N on the tool against 3.87 N at the pins
    and 10.13 N with them)."""
    app = App(seed=0)
    app.add_plugin(SoftBodyPlugin(SoftBodySettings(gravity=np.zeros(3))))
    app.add_plugin(CollisionPlugin())
    mesh = box_tets((0.1, 0.02, 0.1), (10, 2, 10), origin=(-0.05, 0.0, -0.05))
    body = SoftBody.from_mesh(mesh, Material(1.0e5, 0.45, 1000.0), pins=np.flatnonzero(mesh.points[:, 1] < 1e-9))
    entity = app.spawn(body)
    r = 0.006
    tool = app.spawn(
        Transform(position=np.array([0.0, 0.02 + r - 0.004, 0.0])), Collider(shape="sphere", radius=r, friction=0.0)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        app.step(45)
    assert app.resource(TickContacts).subticks == {entity: 4}
    f_tool = app.resource(CollisionWorld).owner_force[tool]
    reaction = -nodal_elastic(body)[body.pinned].sum(axis=0)
    assert f_tool[1] > 5.0 and np.abs(body.v).max() < 1e-3
    assert np.linalg.norm(f_tool - reaction) < 0.02 * np.linalg.norm(reaction)
    app.close()


def test_a_large_body_whose_bulk_the_budget_leaves_unresolved_is_warned_about() -> None:
    """The 0.12 x 0.02 x 0.02 m cantilever with the nodal volume term at liver stiffness: at N = 8
    cells through the thickness (18,432 tets) 90 % of the volume is at stiffness ratio 0.21 at
    10 substeps per 1/90 s, 20 would be accurate, the budget allows none, and it reads 0.854x
    Euler-Bernoulli (docs/physics.md, "At the default substeps: the cell size"): that is said.
    At N = 6 (0.12: within what the warm start resolves) nothing is."""
    from vrmed.systems.tissue.solver import ensure_nodal  # deferred: only this test needs it

    liver = Material(5.4e3, 0.45, 1060.0)
    for cells, warned in (((48, 8, 8), True), ((36, 6, 6), False)):
        body = SoftBody.from_mesh(box_tets((0.12, 0.02, 0.02), cells), liver, volume="nodal")
        ensure_nodal(body)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert accurate_substeps(body, FRAME, SUBSTEPS) == SUBSTEPS
        budget = [w for w in caught if "beyond the solver's substep budget" in str(w.message)]
        assert bool(budget) == warned, [str(w.message) for w in caught]
