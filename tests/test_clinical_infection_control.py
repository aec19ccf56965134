"""nursing/infection_control: WHO's five moments of hand hygiene and the CDC order of putting
on and taking off PPE, scored with the `order` and `before` rules: the correct learner meets
every rule, the error-making one misses each."""

from __future__ import annotations

import pytest

from vrmed.scenario import ScenarioState, evaluate_rubric
from vrmed.session import build_session, open_target

RULES = [
    "donning_order",
    "moment_1_before_patient",
    "moment_2_before_aseptic",
    "rub_duration",
    "doffing_order",
    "moment_4_after_patient",
]


@pytest.fixture(scope="module")
def runs():
    pack = open_target("nursing")[0]
    out = {}
    for name in ("infection_control", "infection_control_errors"):
        session = build_session(pack, name, seed=0, display_rate=1)
        try:
            session.run(seconds=300)
            log = session.finish()
            out[name] = (
                evaluate_rubric(session.scenario.rubric, log.events, float(session.app.clock.frame_time)),
                session.app.resource(ScenarioState).outcome,
            )
        finally:
            session.close()
    assert [r.id for r in pack.scenario("infection_control").rubric.rules] == RULES
    return out


@pytest.mark.parametrize("rule", RULES)
def test_each_rule_passes_correct_and_catches_error(runs, rule):
    good, bad = runs["infection_control"][0].rule(rule), runs["infection_control_errors"][0].rule(rule)
    assert good.status == "met", good.detail
    assert bad.status == "missed" and bad.t is not None and bad.detail, bad.detail


def test_scores_and_reasons(runs):
    good, outcome = runs["infection_control"]
    assert good.score == 100.0 and good.passed and outcome == "finished"
    bad = runs["infection_control_errors"][0]
    assert bad.score == 0.0 and not bad.passed
    assert "PpeDonned (item == 'goggles') never happened" in bad.rule("donning_order").detail
    assert bad.rule("moment_1_before_patient").t == 40.0  # touched at 40 s, first hand rub at 60 s
    assert [v["data"]["seconds"] for v in bad.rule("rub_duration").violations] == [10]
