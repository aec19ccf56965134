"""Material parameters outside physical bounds (a typo, a unit slip, NaN or inf that pass
the YAML schema) are one clear error naming the parameter, the bounds and typical values,
never a simulation that explodes or silently never moves."""

from __future__ import annotations

import math

import pytest

from vrmed.components.tissue import Material


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"density": 1e-300}, "density must be 1-25000 kg/m^3"),
        ({"density": math.nan}, "density"),
        ({"youngs_modulus": 1e30}, "Young's modulus must be 1-1e+12 Pa"),
        ({"youngs_modulus": math.inf}, "Young's modulus"),
        ({"youngs_modulus": -5.0}, "Young's modulus"),
        ({"damping": math.inf}, "damping must be 0-10 s"),
        ({"poisson_ratio": math.nan}, "Poisson ratio"),
        ({"puncture_force": 1e9}, "puncture_force"),
    ],
)
def test_out_of_bounds_material_is_one_clear_error(kwargs, words):
    with pytest.raises(ValueError, match="Material: ") as info:
        Material(**kwargs)
    assert words in str(info.value)


def test_real_tissues_and_tools_are_accepted():
    Material(youngs_modulus=5.4e3, poisson_ratio=0.45, density=1060.0)  # liver
    Material(youngs_modulus=2.0e10, poisson_ratio=0.3, density=1900.0)  # cortical bone
    Material(youngs_modulus=2.0e11, poisson_ratio=0.3, density=7850.0, damping=0.01)  # steel


@pytest.mark.parametrize("field", ["youngs_modulus", "poisson_ratio", "density", "damping", "puncture_force"])
def test_a_number_given_as_text_is_one_clear_error_naming_the_field(field):
    """An outside check: ``Material(youngs_modulus="5e3")`` (a value read from a form or a CSV)
    ended in a raw ``TypeError`` from the bounds' comparison."""
    with pytest.raises(ValueError, match="Material: .* must be a number, got '5e3' \\(str\\)"):
        Material(**{field: "5e3"})


def test_numpy_scalars_are_numbers():
    import numpy as np  # deferred: only this test needs it

    Material(youngs_modulus=np.float64(5.4e3), poisson_ratio=np.float32(0.45), density=np.int64(1060))


def _box():
    from vrmed.components.tissue import SoftBody  # deferred: builds a body
    from vrmed.mesh import box_tets  # deferred: as above

    return SoftBody, box_tets((0.02, 0.02, 0.02), (2, 2, 2))


@pytest.mark.parametrize("rate", [-5.0, math.nan, math.inf, "5"])
def test_a_negative_or_non_finite_velocity_damping_is_one_clear_error(rate):
    """An outside check: ``velocity_damping=-5`` was accepted and fed energy in (a resting box
    from 1e-8 J to 0.38 J in 2 s); NaN would poison every velocity. Refused at the body's
    construction and, for a field set later, at the step."""
    import numpy as np  # deferred: only these tests need it

    from vrmed.systems.tissue.solver import step_softbody  # deferred: as above

    SoftBody, mesh = _box()
    with pytest.raises(ValueError, match="velocity_damping must be a finite rate >= 0"):
        SoftBody.from_mesh(mesh, Material(5e3, 0.45, 1000.0), velocity_damping=rate)
    body = SoftBody.from_mesh(mesh, Material(5e3, 0.45, 1000.0))
    body.velocity_damping = rate
    with pytest.raises(ValueError, match="velocity_damping must be a finite rate >= 0"):
        step_softbody(body, 1 / 90, 10, np.zeros(3))


def test_a_non_finite_force_or_gravity_is_refused_before_it_reaches_the_body():
    """An outside check: a NaN force (``apply_force``) or NaN gravity was accepted and every
    vertex was non-finite after one step. Now each is one clear error and the body is unchanged."""
    import numpy as np  # deferred: only these tests need it

    from vrmed.systems.tissue.solver import step_softbody  # deferred: as above

    SoftBody, mesh = _box()
    body = SoftBody.from_mesh(mesh, Material(5e3, 0.45, 1000.0))
    with pytest.raises(ValueError, match="apply_force: the force must be finite"):
        body.apply_force([0], np.array([np.nan, 0.0, 0.0]))
    with pytest.raises(ValueError, match="set_force: the force must be finite"):
        body.set_force([0], np.array([0.0, np.inf, 0.0]))
    assert not body.external_force.any()
    with pytest.raises(ValueError, match="gravity must be a finite 3-vector"):
        step_softbody(body, 1 / 90, 10, np.array([0.0, np.nan, 0.0]))
    step_softbody(body, 1 / 90, 10, np.zeros(3))
    assert np.isfinite(body.x).all()
