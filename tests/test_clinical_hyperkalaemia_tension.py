"""Hyperkalaemia and tension pneumothorax as causes the physiology models (docs/clinical.md,
"Reversible causes"): a serum potassium of 7 mmol/l or more blocks ROSC until calcium on
board stabilises the myocardium (30-60 min, without lowering potassium); insulin lowers
potassium by 0.6-1.0 mmol/l over 30-60 min (UK Kidney Association 2020); a tension
pneumothorax blocks ROSC until the same side is decompressed (ERC 2021 special
circumstances). Cohorts are stepped with the population kernel (no App loop); scenario runs
are lint-rate runs (2 Hz logic)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import patient_cohort as cohort

from vrmed.components.clinical.patient import RHYTHM_CODE
from vrmed.rubric_lint import run_with_learner
from vrmed.scenario.model import LearnerAction
from vrmed.systems.clinical.physiology import give_drug
from vrmed.systems.clinical.physiology_kernels import calcium_stabilisation, step_population, update_cause_factor


def _rosc_fraction(treat: str, n: int = 100, potassium: float = 7.8) -> float:
    """PEA at ``potassium`` mmol/l, good CPR, epinephrine every 4 min, 10 min (1 s steps);
    ``treat`` given at 60 s: '', 'calcium_chloride' 1 g, 'calcium_gluconate' 1 g (10 ml, a
    third of the dose), or 'insulin' 10 U + 25 g glucose."""
    app, pop = cohort(n, rhythm="pea", shock_success=0.0, rosc_per_min=0.5, weight_kg=80.0, potassium=potassium)
    try:
        pop.cpr[:] = True
        pop.cpr_quality[:] = 1.0
        rng = np.random.default_rng(3)
        for step in range(600):
            for s in range(n):
                if step % 240 == 0:
                    give_drug(pop, s, "epinephrine", 1.0, "mg", "iv")
                if step == 60 and treat == "insulin":
                    give_drug(pop, s, "insulin", 10.0, "units", "iv")
                    give_drug(pop, s, "dextrose", 25.0, "g", "iv")
                elif step == 60 and treat:
                    assert give_drug(pop, s, treat, 1.0, "g", "iv") is None
            step_population(pop, 1.0, rng.random(n))
        return float(np.mean(pop.rhythm == RHYTHM_CODE["rosc"]))
    finally:
        app.close()


def test_hyperkalaemic_arrest_needs_calcium():
    none, insulin, chloride = _rosc_fraction(""), _rosc_fraction("insulin"), _rosc_fraction("calcium_chloride")
    normal_k = _rosc_fraction("", potassium=4.2)
    # untreated or insulin alone (too slow): never; 10 ml calcium chloride 10 %: a plain PEA's chance
    assert none == 0.0 and insulin == 0.0, (none, insulin)
    assert chloride > 0.6 and abs(chloride - normal_k) < 0.15, (chloride, normal_k)


def test_calcium_stabilises_for_30_to_60_min_and_insulin_lowers_potassium():
    """Calcium chloride 1 g: full stabilisation from ~1 min to 30 min, half at 60 min, no
    change in potassium; 10 ml calcium gluconate 10 % (2.2 mmol) stabilises only partly, 30 ml
    (the guideline's equivalent dose) like the chloride.
    Insulin 10 U IV: potassium down 0.5-0.8 mmol/l at 30 min, 0.65-1.0 at 60 min."""
    app, pop = cohort(4, weight_kg=80.0, potassium=7.8)
    try:
        give_drug(pop, 0, "calcium_chloride", 10.0, "ml", "iv")
        give_drug(pop, 1, "calcium_gluconate", 10.0, "ml", "iv")
        give_drug(pop, 3, "calcium_gluconate", 30.0, "ml", "iv")
        give_drug(pop, 2, "insulin", 10.0, "units", "iv")
        give_drug(pop, 2, "dextrose", 25.0, "g", "iv")
        stab, k = {}, {}
        for t in range(5, 3601, 5):  # 5 s steps: the kinetics are minutes long
            step_population(pop, 5.0, None)
            if t in (120, 1800, 3600):
                stab[t] = calcium_stabilisation(pop).copy()
                k[t] = [pop.value(s, "potassium") for s in range(3)]
        assert stab[120][0] == 1.0 and stab[1800][0] > 0.99 and 0.45 < stab[3600][0] < 0.55
        assert 0.5 < stab[120][1] < 0.7 and stab[1800][3] > 0.95  # a third of the dose; the full dose
        assert k[3600][0] == 7.8 and k[3600][1] == 7.8  # calcium does not lower potassium
        assert 0.5 <= 7.8 - k[1800][2] <= 0.8 and 0.65 <= 7.8 - k[3600][2] <= 1.0, k
        update_cause_factor(pop)
        assert pop.cause_factor[2] == 0.0  # 7.0 mmol/l after an hour of insulin: still blocked
    finally:
        app.close()


@pytest.fixture(scope="module")
def pack(emergency_pack):
    return emergency_pack


def _rosc(records: list[dict]) -> bool:
    return any(r["type"].endswith(":RhythmChanged") and r["data"]["to_rhythm"] == "rosc" for r in records)


def test_tension_pneumothorax_needs_the_right_side_decompressed(pack):
    sc = pack.scenario("code_blue_tension")
    wrong = tuple(
        LearnerAction(a.t, a.event, {"side": "left"}) if a.event.__name__ == "NeedleDecompression" else a
        for a in sc.learner
    )
    result, end, records = run_with_learner(pack, sc, wrong)
    assert end == sc.duration and not _rosc(records) and result.rule("decompress_tension").status == "missed"
