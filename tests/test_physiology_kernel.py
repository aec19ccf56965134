"""The compiled physiology step (``step_population``, a numba loop over patients) computes
the model of its numpy reference (``step_population_reference``): random but physiologically
valid populations, covering every rhythm, drugs in depots, on board and infused, fluids,
bleeding, CPR, pacing, ventilation, the reversible causes and spontaneous ROSC, are stepped
by both, and every state array stays equal (floats within 1e-12 relative, integer and
boolean arrays exactly) after every step."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vrmed.components.clinical.patient import CAUSES, DRUGS, RHYTHM_CODE, RHYTHMS, PatientPopulation
from vrmed.systems.clinical.physiology_kernels import (
    ADENO,
    EPI,
    LN2,
    step_population,
    step_population_reference,
)

# Floats may differ in the last bits only: numpy's vectorised exp/power and libm's scalar
# ones may round differently by an ulp; nothing else in the two steps differs.
RTOL = 1e-12
ATOL = 1e-300
#: Phases are taken modulo 1: an ulp of heart rate shifts a phase just past the wrap by the
#: same absolute amount, so they compare on the circle, absolutely.
PHASES = ("cardiac_phase", "resp_phase")
PHASE_ATOL = 1e-12


def random_population(n: int, seed: int) -> PatientPopulation:
    """``n`` patients with every rhythm, cause and treatment in physiological ranges."""
    rng = np.random.default_rng(seed)

    def u(lo: float, hi: float) -> np.ndarray:
        return rng.uniform(lo, hi, n)

    def some(values: np.ndarray, share: float) -> np.ndarray:
        """``values`` for a random ``share`` of the patients, 0 for the rest."""
        return np.where(rng.random(np.shape(values)) < share, values, 0.0)

    weight = u(40.0, 120.0)
    volume_0 = 70.0 * weight
    k = len(DRUGS)
    pop = PatientPopulation(
        n=n,
        alive=rng.random(n) < 0.9,
        rhythm=(np.arange(n) % len(RHYTHMS)).astype(np.int8),
        hr=u(0.0, 180.0),
        sbp=u(0.0, 200.0),
        dbp=u(0.0, 110.0),
        rr=u(0.0, 30.0),
        spo2=u(60.0, 100.0),
        temp_c=u(34.0, 39.0),
        etco2=u(0.0, 50.0),
        glucose=u(30.0, 400.0),
        paco2=u(25.0, 80.0),
        washout=some(u(0.0, 8.0), 0.3),
        avpu=rng.integers(0, 4, n).astype(np.int8),
        hr_0=u(30.0, 150.0),
        sbp_0=u(80.0, 180.0),
        dbp_0=u(40.0, 100.0),
        rr_0=some(u(1.0, 30.0), 0.85),  # some apnoeic baselines
        temp_0=u(35.0, 38.5),
        glucose_0=u(60.0, 200.0),
        aa_gradient=u(0.0, 50.0),
        fio2=u(0.21, 1.0),
        weight=weight,
        shock_success=u(0.0, 1.0),
        rosc_per_min=some(u(30.0, 600.0), 0.8),  # high: conversions happen within the test
        opioid_sensitivity=u(0.5, 2.0),
        cpr=rng.random(n) < 0.6,
        cpr_quality=u(0.0, 1.0),
        ventilated=rng.random(n) < 0.5,
        cardiac_phase=u(0.0, 1.0),
        resp_phase=u(0.0, 1.0),
        no_flow_s=some(u(0.0, 600.0), 0.5),
        low_flow_s=some(u(0.0, 600.0), 0.5),
        coma_s=some(u(0.0, 30.0), 0.3),
        spo2_scale=rng.integers(1, 3, n).astype(np.int8),
        confused=rng.random(n) < 0.2,
        volume=volume_0 * u(0.35, 1.0),
        volume_0=volume_0,
        cryst_transient=some(u(0.0, 500.0), 0.5),
        cryst_left=some(u(0.0, 1000.0), 0.5),
        cryst_rate=u(0.0, 2.0),
        blood_left=some(u(0.0, 500.0), 0.4),
        blood_rate=u(0.0, 1.0),
        bleed=some(u(0.0, 3.0), 0.4),
        cause=rng.integers(0, len(CAUSES), n).astype(np.int8),
        cause_factor=np.ones(n),
        potassium_0=u(3.5, 8.0),
        k_shift=some(u(0.0, 1.0), 0.5),
        ptx_left=rng.random(n) < 0.5,
        shocks=rng.integers(0, 4, n).astype(np.int16),
        last_energy=u(0.0, 360.0),
        cpr_since_shock=rng.random(n) < 0.5,
        cpr_since_first_shock=rng.random(n) < 0.5,
        witnessed=rng.random(n) < 0.2,
        vent_rate=np.full(n, 10.0),
        atropine_response=u(0.0, 1.0),
        adenosine_threshold=u(3.0, 15.0),
        vagal_response=u(0.0, 1.0),
        pace_rate=some(u(50.0, 100.0), 0.4),
        pace_ma=u(0.0, 120.0),
        pace_threshold=u(40.0, 80.0),
        sinus_hr=u(60.0, 100.0),
        depot=some(rng.uniform(0.0, 10.0, (n, k)), 0.3),
        depot_ka=LN2 / rng.uniform(3.0, 7200.0, (n, k)),
        central=some(rng.uniform(0.0, 10.0, (n, k)), 0.4),
        effect=np.zeros((n, k)),
        infusion=some(rng.uniform(0.0, 0.01, (n, k)), 0.15),
    )
    # SVT patients around their adenosine threshold: some end on the first step, some later
    pop.central[:, ADENO] = some(pop.adenosine_threshold * u(0.3, 2.0), 0.7)
    pop.central[:, EPI] = some(u(0.05, 1.0), 0.8)  # epinephrine on board: ROSC can happen
    return pop


def assert_same(a: PatientPopulation, b: PatientPopulation, where: str) -> None:
    for f in dataclasses.fields(PatientPopulation):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name in PHASES:
            gap = (x - y + 0.5) % 1.0 - 0.5
            assert np.abs(gap).max(initial=0.0) <= PHASE_ATOL, f"{f.name} {where}"
        elif isinstance(x, np.ndarray) and x.dtype.kind == "f":
            np.testing.assert_allclose(x, y, rtol=RTOL, atol=ATOL, err_msg=f"{f.name} {where}")
        elif isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and np.array_equal(x, y), f"{f.name} {where}"
        else:
            assert x == y, f"{f.name} {where}"


@pytest.mark.parametrize("dt, steps", [(1.0 / 60.0, 600), (0.5, 200), (5.0, 60)])
def test_compiled_step_equals_numpy_reference(dt, steps):
    n = 60
    fast, ref = random_population(n, seed=7), random_population(n, seed=7)
    rng = np.random.default_rng(11)
    start_rhythm = fast.rhythm.copy()
    seen_rosc = np.zeros(n, dtype=bool)
    for step in range(steps):
        draws = rng.random(n) if step % 3 else None  # both with and without ROSC draws
        before = fast.rhythm.copy()
        step_population(fast, dt, draws)
        step_population_reference(ref, dt, draws)
        assert_same(fast, ref, f"after step {step + 1} (dt {dt})")
        seen_rosc |= (before != RHYTHM_CODE["rosc"]) & (fast.rhythm == RHYTHM_CODE["rosc"])
    # the rare branches did run: an arrest converted, an SVT ended, a paced patient captured
    assert seen_rosc.any()
    assert ((start_rhythm == RHYTHM_CODE["svt"]) & (fast.rhythm != RHYTHM_CODE["svt"])).any()
    assert ((fast.pace_rate > 0) & (fast.pace_ma >= fast.pace_threshold) & (fast.rhythm < RHYTHM_CODE["vf"])).any()


def test_compiled_step_single_patient_and_empty_population():
    for n in (1, 0):
        fast, ref = random_population(n, seed=3), random_population(n, seed=3)
        for step in range(120):
            draws = np.full(n, 0.5)
            step_population(fast, 1.0 / 60.0, draws)
            step_population_reference(ref, 1.0 / 60.0, draws)
            assert_same(fast, ref, f"n={n} after step {step + 1}")


def test_without_numba_the_step_is_the_numpy_reference() -> None:
    """A lean packaged build ships no numba (``vrmed.packaging.LEAN_PLUGINS`` lists physiology):
    the module must still import and ``step_population`` then runs the numpy reference. In a
    fresh interpreter where ``import numba`` fails, a stepped population equals the reference
    to the bit."""
    script = (
        "import sys; sys.modules['numba'] = None\n"  # import numba -> ImportError
        "import copy, numpy as np\n"
        "from tests.test_physiology_kernel import random_population\n"
        "from vrmed.systems.clinical import physiology_kernels as k\n"
        "assert not k.COMPILED\n"
        "a = random_population(12, 3); b = copy.deepcopy(a)\n"
        "for _ in range(30):\n"
        "    k.step_population(a, 0.5, np.full(12, 0.3)); k.step_population_reference(b, 0.5, np.full(12, 0.3))\n"
        "assert all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ('hr', 'sbp', 'spo2', 'rhythm', 'central'))\n"
        "print('ok')\n"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=root, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
