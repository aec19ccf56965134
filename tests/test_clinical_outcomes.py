"""Outcomes follow performance (docs/clinical.md, "Outcome model"): the chance of ROSC grows
with CPR quality and epinephrine, falls with no-flow time and a late first shock; without
CPR a non-shockable arrest never ends in ROSC; the post-ROSC neurological state reflects the
arrest. Whole cohorts of patients are stepped at once with the population kernel (no App
loop), so each cohort costs milliseconds."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import patient_cohort as cohort

from vrmed.components.clinical.patient import RHYTHM_CODE
from vrmed.systems.clinical.physiology import give_drug, set_rhythm
from vrmed.systems.clinical.physiology_kernels import cpr_quality, shock_conversion_probability, step_population

DT = 0.5


def pea_rosc_fraction(rate: float | None, depth: float, epi: bool, minutes: float = 10.0, n: int = 200) -> float:
    app, pop = cohort(n, rhythm="pea", shock_success=0.0, rosc_per_min=0.5)
    try:
        if rate is not None:
            pop.cpr[:] = True
            pop.cpr_quality[:] = cpr_quality(rate, depth)
        rng = np.random.default_rng(1)
        for step in range(int(minutes * 60 / DT)):
            if epi and step % int(240 / DT) == 0:  # 1 mg every 4 minutes
                for s in range(n):
                    give_drug(pop, s, "epinephrine", 1.0, "mg", "iv")
            step_population(pop, DT, rng.random(n))
        return float(np.mean(pop.rhythm == RHYTHM_CODE["rosc"]))
    finally:
        app.close()


def test_no_cpr_never_rosc_and_rosc_follows_cpr_quality_and_epinephrine():
    good = pea_rosc_fraction(110, 5.5, epi=True)
    poor = pea_rosc_fraction(85, 4.0, epi=True)  # slow and shallow: quality ~0.4
    no_epi = pea_rosc_fraction(110, 5.5, epi=False)
    none = pea_rosc_fraction(None, 0.0, epi=True)
    assert none == 0.0 and no_epi == 0.0
    assert good > 0.6 and poor < good - 0.2, (good, poor)


def vf_conversion(delay_s: float, cpr: bool, n: int = 2000) -> float:
    """Mean chance that the first shock, ``delay_s`` after collapse, converts VF."""
    app, pop = cohort(n, rhythm="vf", shock_success=0.6)
    try:
        pop.cpr[:] = cpr
        pop.cpr_quality[:] = cpr_quality(110, 5.5)
        for _ in range(int(delay_s / DT)):
            step_population(pop, DT, None)
        return float(np.mean([shock_conversion_probability(pop, s) for s in range(n)]))
    finally:
        app.close()


def test_time_to_first_shock_and_cpr_while_waiting():
    early, late_no_cpr, late_cpr = (
        vf_conversion(60, False, 50),
        vf_conversion(480, False, 50),
        vf_conversion(480, True, 50),
    )
    # ~10 %/min fall without CPR, ~3.5 %/min with it (Larsen 1993; Valenzuela 1997)
    assert early > late_cpr > late_no_cpr
    assert abs(late_no_cpr / early - np.exp(-0.105 * 7)) < 0.01
    assert abs(late_cpr / early - np.exp(-0.035 * 8 + 0.105 * 1)) < 0.02


def test_post_rosc_neurology_reflects_the_arrest():
    """After 6 minutes without CPR the patient stays unresponsive (not Alert within seconds);
    after 6 minutes of good CPR consciousness returns within minutes."""
    app, pop = cohort(2, rhythm="vf", shock_success=1.0)
    try:
        pop.cpr[1] = True
        pop.cpr_quality[1] = 1.0
        for _ in range(int(360 / DT)):
            step_population(pop, DT, None)
        for s in (0, 1):
            set_rhythm(app, pop, s, "rosc", f"p{s}")
        pop.cpr[:] = False
        for _ in range(int(30 / DT)):
            step_population(pop, DT, None)
        assert list(pop.avpu) == [3, 3]  # both unresponsive 30 s after ROSC
        for _ in range(int(600 / DT)):
            step_population(pop, DT, None)
        assert pop.avpu[1] == 0 and pop.avpu[0] == 3  # good CPR: awake by 10 min; no CPR: still comatose
    finally:
        app.close()


def hypovolaemic_rosc_fraction(blood_ml: float, crystalloid_ml: float, n: int = 200) -> float:
    """PEA from a 45 % haemorrhage (80 kg, 5.6 l), good CPR, epinephrine every 4 min, and
    ``blood_ml`` + ``crystalloid_ml`` run in over the first 2 minutes; 10 minutes."""
    app, pop = cohort(n, rhythm="pea", shock_success=0.0, rosc_per_min=0.5, weight_kg=80.0, blood_loss_ml=2520.0)
    try:
        pop.cpr[:] = True
        pop.cpr_quality[:] = 1.0
        pop.blood_left[:], pop.blood_rate[:] = blood_ml, blood_ml / 120.0
        pop.cryst_left[:], pop.cryst_rate[:] = crystalloid_ml, crystalloid_ml / 120.0
        rng = np.random.default_rng(2)
        for step in range(600):  # 1 s steps
            if step % 240 == 0:
                for s in range(n):
                    give_drug(pop, s, "epinephrine", 1.0, "mg", "iv")
            step_population(pop, 1.0, rng.random(n))
        return float(np.mean(pop.rhythm == RHYTHM_CODE["rosc"]))
    finally:
        app.close()


def test_hypovolaemic_arrest_needs_volume():
    """The cause gates the outcome model: no volume, no ROSC; 1 l blood + 1 l crystalloid
    (loss 45 % -> ~13 %) gives the same chance as a plain PEA; 500 ml crystalloid alone
    (net ~0.37 -> falling as it redistributes) gives little."""
    none, some, full = (
        hypovolaemic_rosc_fraction(0.0, 0.0),
        hypovolaemic_rosc_fraction(0.0, 500.0),
        hypovolaemic_rosc_fraction(1000.0, 1000.0),
    )
    assert none == 0.0 and full > 0.6 and some < full - 0.3, (none, some, full)


def test_volume_model_follows_the_atls_classes():
    """Heart rate and systolic pressure by blood lost (ATLS 9th ed., table 3-1) from a
    75 /min, 120/80 adult: class I-II pressure kept, III falls, IV falls markedly."""
    losses = (0.0, 0.10, 0.25, 0.35, 0.45)
    app, pop = cohort(len(losses), hr=75.0, sbp=120.0, dbp=80.0)
    try:
        pop.volume[:] = pop.volume_0 * (1.0 - np.array(losses))
        for _ in range(int(60 / DT)):
            step_population(pop, DT, None)
        hr, sbp = pop.hr.round(), pop.sbp.round()
        assert hr[1] < 100 <= hr[2] <= 120 <= hr[3] <= 140 < hr[4]
        assert sbp[1] == sbp[0] == 120 and sbp[2] >= 110 and 80 <= sbp[3] < 110 and sbp[4] < 80
        assert [pop.value(s, "pulse") for s in range(len(losses))] == [True] * len(losses)
    finally:
        app.close()


def test_crystalloid_redistributes_blood_stays_and_bleeding_drains():
    app, pop = cohort(3)
    try:
        v0 = pop.volume.copy()
        pop.cryst_left[0], pop.cryst_rate[0] = 1000.0, 1000.0 / 60.0
        pop.blood_left[1], pop.blood_rate[1] = 1000.0, 1000.0 / 60.0
        pop.bleed[2] = 20.0 / 60.0  # 20 ml/min
        gains = []
        for minute in range(60):
            for _ in range(12):  # 5 s steps: the infusion and the leak are exact per step
                step_population(pop, 5.0, None)
            if minute in (0, 59):
                gains.append(pop.volume - v0)
        (g1, g60) = gains
        assert 900.0 < g1[0] < 1000.0  # all in after 1 min, a little already gone
        assert g60[0] == pytest.approx(250.0, abs=10.0) and g60[1] == pytest.approx(1000.0, abs=1.0)
        assert g60[2] == pytest.approx(-1200.0, rel=0.01)
    finally:
        app.close()
