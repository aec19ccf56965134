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
