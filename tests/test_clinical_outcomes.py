"""Outcomes follow performance (docs/clinical.md, "Outcome model"): the chance of ROSC grows
with CPR quality and epinephrine, falls with no-flow time and a late first shock; without
CPR a non-shockable arrest never ends in ROSC; the post-ROSC neurological state reflects the
arrest. Whole cohorts of patients are stepped at once with the population kernel (no App
loop), so each cohort costs milliseconds."""

from __future__ import annotations

import numpy as np

from vrmed import App
from vrmed.components import Name
from vrmed.components.clinical.patient import RHYTHM_CODE, Patient, PatientPopulation
from vrmed.systems.clinical.physiology import PhysiologyPlugin, give_drug, population, set_rhythm
from vrmed.systems.clinical.physiology_kernels import cpr_quality, shock_conversion_probability, step_population

DT = 0.5


def cohort(n: int, **patient) -> tuple[App, PatientPopulation]:
    app = App(seed=0, display_rate=2, rates={"logic": 2, "physics": None})
    app.add_plugin(PhysiologyPlugin())
    for i in range(n):
        app.spawn(Patient(**patient), Name(f"p{i}"))
    app.step(1)  # registers every patient in the population
    return app, population(app)


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
