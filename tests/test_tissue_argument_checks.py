"""Arguments a pack author can get wrong in the tissue and collision API (a blade with a zero
normal, NaN from a tracker, a radius typed as text): each is one clear error naming the
argument and what it must be, and the body it was meant for is left as it was."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vrmed.components.collision.collider import Collider, CollisionError
from vrmed.components.collision.tissue_contact import TissueContact
from vrmed.components.tissue.constraints import ConstraintError
from vrmed.components.tissue.ligament import attach_ligament_patch
from vrmed.components.tissue.softbody import Material, SoftBody
from vrmed.mesh import box_tets
from vrmed.systems.tissue.cutting import CutError, cut_body
from vrmed.systems.tissue.finite import NonFiniteState
from vrmed.systems.tissue.solver import step_softbody

A, B, UP = (0.0, 0.0, 0.02), (0.04, 0.0, 0.02), (0.0, 0.0, 1.0)


@pytest.fixture(scope="module")
def cube() -> SoftBody:
    return SoftBody.from_mesh(box_tets((0.04, 0.04, 0.04), (2, 2, 2)), Material(5.4e3, 0.45, 1060.0))


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ((A, B, (0.0, 0.0, 0.0), 0.05), "normal .* must not be zero"),
        ((A, B, (0.0, 1.0), 0.05), r"normal .* must be 3 finite numbers"),
        (((math.nan, 0.0, 0.02), B, UP, 0.05), r"a \(the blade's start, m\) must be 3 finite numbers"),
        ((A, (math.inf, 0.0, 0.0), UP, 0.05), "b .* must be 3 finite numbers"),
        ((A, B, UP, -1.0), r"reach .* must be a finite number above 0"),
        ((A, B, UP, "5 cm"), r"reach .* must be a number, got '5 cm'"),
        ((A, B, ("x", 0, 1), 0.05), "normal .* must be 3 numbers"),
    ],
)
def test_a_blade_that_cannot_cut_is_one_clear_error_and_the_body_is_untouched(cube, args, words):
    tets, x = cube.tets.copy(), cube.x.copy()
    with pytest.raises(CutError, match=words):
        cut_body(cube, *(np.asarray(v) if isinstance(v, tuple) else v for v in args))
    assert np.array_equal(cube.tets, tets) and np.array_equal(cube.x, x)


def test_a_good_blade_still_cuts(cube):
    body = SoftBody.from_mesh(box_tets((0.04, 0.04, 0.04), (2, 2, 2)), Material(5.4e3, 0.45, 1060.0))
    out = cut_body(body, np.array([-0.03, 0.0, 0.005]), np.array([0.03, 0.0, 0.005]), np.array(UP), 0.1)
    assert out.n_split > 0 and body.n_vertices > cube.n_vertices


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"centre": (0.0, 0.0), "radius": 0.01, "stiffness": 1e3}, "centre .* must be 3 finite numbers"),
        ({"centre": (math.nan, 0.0, 0.0), "radius": 0.01, "stiffness": 1e3}, "centre"),
        ({"centre": (0.0, 0.0, 0.0), "radius": 0.01, "stiffness": "1e3"}, r"stiffness .* must be a number"),
        ({"centre": (0.0, 0.0, 0.0), "radius": math.inf, "stiffness": 1e3}, "radius .* finite number above 0"),
    ],
)
def test_a_ligament_patch_with_a_bad_argument_is_one_clear_error(cube, kwargs, words):
    with pytest.raises(ConstraintError, match=words):
        attach_ligament_patch(cube, **kwargs)
    assert not cube.constraints


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"radius": "0.005"}, r"radius \(m\) must be a number, got '0.005'"),
        ({"radius": math.nan}, "radius"),
        ({"half_length": math.inf, "shape": "capsule"}, "half_length"),
        ({"friction": math.nan}, "friction"),
        ({"shape": "box", "half_extents": np.array([0.01, math.inf, 0.01])}, "half_extents"),
    ],
)
def test_a_collider_with_a_bad_number_is_one_clear_error(kwargs, words):
    with pytest.raises(CollisionError, match=words):
        Collider(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"thickness": "1 mm"}, "thickness .* must be a number"),
        ({"thickness": math.inf}, "thickness"),
        ({"friction": math.nan}, "friction"),
        ({"max_depth": 0.0}, "max_depth .* above 0"),
        ({"self_contact": "yes"}, "self_contact must be true or false"),
    ],
)
def test_tissue_contact_with_a_bad_setting_is_one_clear_error(kwargs, words):
    with pytest.raises(CollisionError, match=words):
        TissueContact(**kwargs)


@pytest.mark.parametrize(
    ("action", "error", "words"),
    [
        (lambda b: b.attach([0, 1], np.array([[math.nan, 0.0, 0.0], [0.0, 0.0, 0.0]])), ConstraintError, "NaN"),
        (lambda b: b.set_attachment_targets(np.full((2, 3), math.nan)), ConstraintError, "set_attachment_targets"),
        (lambda b: b.set_attachment_targets(np.zeros((3, 3))), ConstraintError, r"expected shape \(2, 3\)"),
        (lambda b: b.set_slide_targets(math.inf), ConstraintError, "set_slide_targets"),
        (lambda b: b.pin([0.5]), ConstraintError, "whole numbers"),
        (lambda b: b.apply_force([999], np.ones(3)), IndexError, "apply_force: vertex index out of range"),
        (lambda b: b.set_material("liver"), TypeError, "expected a Material"),
    ],
)
def test_a_bad_constraint_or_load_argument_is_refused_and_the_body_stays_finite(action, error, words):
    """A NaN target from a lost tracker, a fractional vertex index (0.5 would pin vertex 0), a
    material given by name: each refused with the reason, and the body steps on finite."""
    body = SoftBody.from_mesh(box_tets((0.04, 0.04, 0.04), (2, 2, 2)), Material(5.4e3, 0.45, 1060.0))
    body.attach([0, 1])
    body.slide([2], 2)
    with pytest.raises(error, match=words):
        action(body)
    step_softbody(body, 1.0 / 90.0, 10, np.array([0.0, 0.0, -9.81]))
    assert np.isfinite(body.x).all()


@pytest.mark.parametrize("substeps", [0, 2.5, True])
def test_substeps_must_be_a_whole_number(substeps):
    body = SoftBody.from_mesh(box_tets((0.04, 0.04, 0.04), (1, 1, 1)), Material(5.4e3, 0.45, 1060.0))
    with pytest.raises(ValueError, match="whole number of substeps"):
        step_softbody(body, 1.0 / 90.0, substeps, np.zeros(3))


@pytest.mark.parametrize("field", ["x", "v"])
def test_a_nan_written_into_the_state_is_named_before_the_step(field):
    body = SoftBody.from_mesh(box_tets((0.04, 0.04, 0.04), (1, 1, 1)), Material(5.4e3, 0.45, 1060.0))
    getattr(body, field)[3, 1] = math.nan
    with pytest.raises(NonFiniteState, match=rf"SoftBody.{field}\[3\] is .* before the step"):
        step_softbody(body, 1.0 / 90.0, 10, np.zeros(3))


def test_a_solve_that_diverges_is_named_not_passed_on():
    """A velocity so large that the predictor overflows (as a runaway solve would): the step says
    the solve diverged and names the vertex instead of handing NaN to the renderer and the records."""
    body = SoftBody.from_mesh(box_tets((0.04, 0.04, 0.04), (1, 1, 1)), Material(5.4e3, 0.45, 1060.0))
    body.v[5, 0] = 1e308  # finite, but the predictor's x + h v overflows
    with pytest.raises(NonFiniteState, match="became .* in this step: the solve diverged"):
        step_softbody(body, 1.0 / 90.0, 10, np.zeros(3))
