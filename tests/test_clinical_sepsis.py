"""nursing/sepsis: the Surviving Sepsis Campaign hour-1 bundle (compressed) on a patient who
meets Sepsis-3 and becomes septic shock after fluids: the correct learner completes the
bundle and stabilises the patient; the error-making learner misses each element it skips,
and each part of its SBAR call that is missing, wrong for the patient's state, or late."""

from __future__ import annotations

import pytest
from test_sbar import SBAR_RULES

from vrmed.scenario import ScenarioState, evaluate_rubric
from vrmed.session import build_session
from vrmed.systems.clinical.physiology import population

RULES = [
    "escalated",
    "lactate_measured",
    "cultures_before_antibiotics",
    "antibiotics_within_hour",
    "fluids_30_ml_per_kg",
    "fluids_started",
    "vasopressor_for_map_below_65",
    "penicillin_allergy_respected",
    *SBAR_RULES,  # the SBAR call's content (tests/test_sbar.py)
]
#: The errors learner does give an antibiotic within the hour (the wrong one, before cultures).
KEPT_BY_VIOLATOR = {"antibiotics_within_hour"}


@pytest.fixture(scope="module")
def runs(nursing_pack):
    pack = nursing_pack
    out = {}
    for name in ("sepsis", "sepsis_errors"):
        session = build_session(pack, name, seed=0, display_rate=1)
        try:
            state = session.app.resource(ScenarioState)
            pop = population(session.app)
            session.run(seconds=30)
            shock_map = pop.value(0, "map")
            while not state.ended and session.app.clock.frame_time < 900:
                session.run(seconds=10)
            session.run(seconds=30)
            log = session.finish()
            end = float(session.app.clock.frame_time)
            out[name] = {
                "result": evaluate_rubric(session.scenario.rubric, log.events, end),
                "outcome": state.outcome,
                "map": (shock_map, pop.value(0, "map")),
                "avpu": pop.value(0, "avpu"),
            }
        finally:
            session.close()
    assert [r.id for r in pack.scenario("sepsis").rubric.rules] == RULES
    return out


def test_bundle_stabilises_the_patient(runs):
    good = runs["sepsis"]
    assert good["result"].score == 100.0 and good["outcome"] == "bundle_complete"
    before, after = good["map"]
    assert before < 65.0 <= after  # MAP 59 in sepsis, >= 65 on norepinephrine
    assert good["avpu"] == "A"  # the new confusion resolves
    assert runs["sepsis_errors"]["avpu"] == "C"  # still newly confused (NEWS2 scores it 3)


@pytest.mark.parametrize("rule", RULES)
def test_each_bundle_element(runs, rule):
    good, bad = runs["sepsis"]["result"].rule(rule), runs["sepsis_errors"]["result"].rule(rule)
    assert good.status == "met", good.detail
    if rule not in KEPT_BY_VIOLATOR:
        assert bad.status == "missed" and bad.t is not None, bad.detail


def test_fluid_total_is_summed(runs):
    assert runs["sepsis"]["result"].rule("fluids_30_ml_per_kg").value == 1800.0
    assert runs["sepsis_errors"]["result"].rule("fluids_30_ml_per_kg").value == 500.0
