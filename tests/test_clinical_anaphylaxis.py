"""emergency/anaphylaxis (Resuscitation Council UK 2021): IM adrenaline 0.5 mg restores the
blood pressure and passes every rule; the error-making learner (IV bolus, late help, no
oxygen, trigger left running) fails each rule; doing nothing ends in cardiac arrest."""

from __future__ import annotations

import dataclasses
from dataclasses import replace

import pytest

from vrmed.scenario import ScenarioState, evaluate_rubric
from vrmed.session import build_session
from vrmed.systems.clinical.physiology import population

RULES = [
    "trigger_stopped",
    "help_called",
    "oxygen",
    "im_epinephrine",
    "im_epinephrine_dose",
    "no_iv_bolus",
    "repeat_interval",
    "reassessed",
]


@pytest.fixture(scope="module")
def pack(emergency_pack):
    return emergency_pack


def _run(pack, name):
    session = build_session(pack, name, seed=0, display_rate=2)
    try:
        state = session.app.resource(ScenarioState)
        sbp = []
        while not state.ended and session.app.clock.frame_time < 600:
            session.run(seconds=5)
            sbp.append(population(session.app).value(0, "sbp"))
        log = session.finish()
        end = float(session.app.clock.frame_time)
        return evaluate_rubric(session.scenario.rubric, log.events, end), state.outcome, sbp
    finally:
        session.close()


@pytest.fixture(scope="module")
def runs(pack):
    return {name: _run(pack, name) for name in ("anaphylaxis", "anaphylaxis_errors")}


def test_im_adrenaline_restores_the_pressure_and_passes(runs, pack):
    result, outcome, sbp = runs["anaphylaxis"]
    assert outcome == "improving" and result.score == 100.0 and result.passed
    assert min(sbp) < 85.0 and sbp[-1] >= 100.0  # 78 mmHg in anaphylaxis, >= 100 after IM adrenaline
    assert [r.id for r in pack.scenario("anaphylaxis").rubric.rules] == RULES


@pytest.mark.parametrize("rule", RULES)
def test_each_rule_catches_its_error(runs, rule):
    good, bad = runs["anaphylaxis"][0].rule(rule), runs["anaphylaxis_errors"][0].rule(rule)
    assert good.status == "met", good.detail
    if rule == "repeat_interval":  # "if it happens": the errors learner never repeats IM adrenaline
        assert bad.status == "not_applicable"
    else:
        assert bad.status == "missed" and bad.t is not None, bad.detail


def test_doing_nothing_ends_in_cardiac_arrest(pack):
    idle = dataclasses.replace(
        pack, scenarios={**pack.scenarios, "idle": replace(pack.scenario("anaphylaxis"), learner=())}
    )
    result, outcome, sbp = _run(idle, "idle")
    assert outcome == "cardiac_arrest" and max(sbp[2:]) < 85.0  # from the reaction on
    assert not result.passed and result.rule("im_epinephrine").status == "missed"
