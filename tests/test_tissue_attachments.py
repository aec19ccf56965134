"""Distributed attachments (issue #16, item 4): an organ held over a surface patch by
ligament-like zero-rest-length springs (vrmed.components.tissue.ligament) instead of a few pins.

Analytic checks: at rest the springs carry the body's weight M g (the velocity damping has no
static effect), and the patch's mean displacement is weight / (k A). Against pins: hanging the
same block by the five vertices nearest the patch centre gives point-load strains (largest
principal Green strain 0.90); a patch over the top face and the sides' upper part keeps it at 0.079, the scale of the
block's own stretch under its weight.
"""

from __future__ import annotations

import numpy as np
import pytest

from vrmed import App
from vrmed.components.tissue.constraints import ConstraintError
from vrmed.components.tissue.ligament import attach_ligament_patch, surface_vertex_areas
from vrmed.components.tissue.softbody import Material, SoftBody
from vrmed.mesh import box_tets
from vrmed.systems.tissue import kernels as K
from vrmed.systems.tissue.solver import PLAIN_STEP_TAIL, SoftBodyPlugin, max_principal_strain, step_softbody

FRAME, SUBSTEPS, G = 1.0 / 90.0, 10, 9.80665
LIVER = Material(5.4e3, 0.45, 1060.0, damping=0.002)
SIDE, DAMP = 0.06, 8.0  # m; 1/s mass damping so the block settles within 3 s


def block() -> SoftBody:
    """A 6 cm liver-like cube (0.23 kg), 6 x 6 x 6 cells, top face at y = SIDE."""
    return SoftBody.from_mesh(box_tets((SIDE, SIDE, SIDE), (6, 6, 6)), LIVER, velocity_damping=DAMP)


def settle(body: SoftBody, frames: int = 270) -> None:
    for _ in range(frames):
        step_softbody(body, FRAME, SUBSTEPS, (0.0, -G, 0.0))


@pytest.fixture(scope="module")
def hung_by_patch():
    body = block()
    centre = np.array([SIDE / 2, SIDE, SIDE / 2])
    stiffness = 2.0e5  # Pa/m: 0.23 kg on the 36 cm^2 top face moves it ~1 mm
    # the whole top face and the sides' upper 3.4 cm (within 4.5 cm of the top's centre)
    patch = attach_ligament_patch(body, centre, 0.045, stiffness)
    settle(body)
    return body, patch, stiffness


def test_the_patch_carries_the_weight(hung_by_patch) -> None:
    body, patch, stiffness = hung_by_patch
    weight = body.mass.sum() * G  # the velocity damping leaves the static load alone
    assert np.abs(body.v).max() < 1e-4, "at rest"
    np.testing.assert_allclose(patch.total_force, [0.0, weight, 0.0], atol=1e-3 * weight)
    area = surface_vertex_areas(body.rest_points, body.tets)[patch.indices]
    sag = -(body.x[patch.indices, 1] - body.rest_points[patch.indices, 1])
    assert np.dot(sag, area) / area.sum() == pytest.approx(weight / (stiffness * area.sum()), rel=1e-3)


def test_the_patch_spreads_the_load_that_pins_concentrate(hung_by_patch) -> None:
    body, patch, _ = hung_by_patch
    pinned = block()
    top = np.array([SIDE / 2, SIDE, SIDE / 2])
    nearest = np.argsort(np.linalg.norm(pinned.rest_points - top, axis=1))[:5]  # a few nodes
    pinned.pin(nearest)
    settle(pinned)
    e_patch = max_principal_strain(body).max()
    e_pins = max_principal_strain(pinned).max()
    # measured 0.90 vs 0.079 (0.099 with the springs projected after the tets, before 2026-12-01);
    # rho g L / E = 0.12 is the scale of the whole block's stretch
    assert e_pins > 3.0 * e_patch
    assert e_patch < 0.15


def test_a_stiff_patch_holds_as_pins_do() -> None:
    """As its stiffness grows, a patch's springs pin their vertices: the block hung by a
    1e9 Pa/m patch must strain as when those vertices are pinned (largest principal Green strain,
    within 1 %). The springs are integrated by backward Euler inside the step (the tets see the
    heavier vertex; systems/tissue/springs.py); projected after the tets with one XPBD iteration
    of their own, as before, they left 0.1076 against the pins' 0.0745 at any stiffness."""
    centre = np.array([SIDE / 2, SIDE, SIDE / 2])
    stiff = block()
    patch = attach_ligament_patch(stiff, centre, 0.045, 1.0e9)
    pinned = block()
    pinned.pin(patch.indices)
    settle(stiff)
    settle(pinned)
    e_stiff = max_principal_strain(stiff).max()
    e_pins = max_principal_strain(pinned).max()
    assert e_stiff == pytest.approx(e_pins, rel=0.01), f"{e_stiff:.4f} vs pinned {e_pins:.4f}"
    weight = stiff.mass.sum() * G
    np.testing.assert_allclose(patch.total_force, [0.0, weight, 0.0], atol=1e-3 * weight)


def test_a_body_with_a_patch_steps_in_the_compiled_step_of_one_without() -> None:
    """The solver passes the kernels an empty springs tuple (``springs.NO_SPRINGS``) for a body
    without ligament patches, so a body with them runs the same compiled version of the step:
    as a None-or-tuple type switch it compiled one of its own (15.5 s of CPU on an empty numba
    cache; docs/physics.md, "Compiled versions of the step")."""
    plain = block()
    step_softbody(plain, FRAME, SUBSTEPS, (0.0, -G, 0.0))
    compiled = len(K.step_kernel.signatures)
    hung = block()
    attach_ligament_patch(hung, np.array([SIDE / 2, SIDE, SIDE / 2]), 0.045, 2.0e5)
    step_softbody(hung, FRAME, SUBSTEPS, (0.0, -G, 0.0))
    assert len(K.step_kernel.signatures) == compiled
    assert np.abs(hung.x - plain.x).max() > 0.0  # (the springs acted)


def test_a_type_cannot_claim_to_be_solved_in_the_step() -> None:
    """``solved_in_step`` is for vrmed's own ligament patches: another type with it would never be
    projected, so stepping a body that carries one is a clear error."""
    from dataclasses import dataclass
    from typing import ClassVar

    from vrmed.components.tissue.constraints import TissueConstraint

    @dataclass(eq=False)
    class Claims(TissueConstraint):
        name: ClassVar[str] = "claims"
        solved_in_step: ClassVar[bool] = True

    body = block()
    body.add_constraint(Claims())
    with pytest.raises(ConstraintError, match="solved_in_step"):
        step_softbody(body, FRAME, SUBSTEPS)


def test_bad_patches_are_clear_errors() -> None:
    body = block()
    with pytest.raises(ConstraintError, match="no surface vertex within"):
        attach_ligament_patch(body, (1.0, 1.0, 1.0), 0.01, 1e5)
    with pytest.raises(ConstraintError, match="stiffness"):
        attach_ligament_patch(body, (0.0, 0.0, 0.0), 0.01, -1.0)


def test_the_plugin_registers_the_type() -> None:
    app = App(seed=0)
    app.add_plugin(SoftBodyPlugin())
    body = block()
    attach_ligament_patch(body, (SIDE / 2, SIDE, SIDE / 2), 0.02, 2.0e5)
    app.spawn(body)
    app.step(9)  # an unregistered constraint type would raise here
    assert np.all(np.isfinite(body.x))
    app.close()


def test_the_plain_step_tail_is_what_the_solver_passes_a_plain_body() -> None:
    """``solver.PLAIN_STEP_TAIL`` (the arguments direct callers of ``kernels.step_kernel`` pass
    after ``volume_barrier``) has the types :func:`step_softbody` gives a body with no opt-in: a
    compiled version of the step ends in them. If the solver's arguments change and the tail does
    not, the tests that use it would compile a version of their own (time, not a wrong answer)."""
    from numba import typeof  # deferred: only this test reads numba's types

    step_softbody(block(), FRAME, SUBSTEPS, (0.0, -G, 0.0))
    tail = tuple(typeof(a) for a in PLAIN_STEP_TAIL)
    assert any(tuple(sig[-len(tail) :]) == tail for sig in K.step_kernel.signatures)
