"""SBAR handover content (nursing pack, docs/clinical.md "SBAR handover"): a compliant call
passes; a missing element, a stale or wrong value, the wrong urgency for the NEWS2 band, the
wrong patient, an irrelevant item and parts out of order each fail, in the pure check, in a
simulated deterioration (values compared with the physiology at the time of the call) and
when a person composes the call from the scenario's menu."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from test_learner_interaction import Timeline, commands_for

from vrmed.rubric_lint import run_with_learner
from vrmed.scenario import LearnerAction, matching
from vrmed.session import build_session

SBAR_RULES = [
    "sbar_handover",
    "sbar_elements",
    "sbar_patient",
    "sbar_values",
    "sbar_content",
    "sbar_urgency",
    "sbar_order",
]


@pytest.fixture(scope="module")
def nursing(nursing_pack):
    return nursing_pack  # conftest: loaded once per session, shared with test_clinical_sepsis


@pytest.fixture(scope="module")
def sbar(nursing):
    return nursing.module  # the pack's systems.py: SbarKey, Said, check_sbar


# --- the pure check ------------------------------------------------------------------------

#: The deterioration patient at NEWS2 10 (septic_shock state), rounded as charted.
STATE = {
    "rr": 26.0,
    "spo2": 92.0,
    "sbp": 95.0,
    "hr": 125.0,
    "temp_c": 38.9,
    "avpu": "A",
    "on_oxygen": False,
    "scale": 1,
    "news2": 10,
    "red": True,
    "response": "emergency",
}
IDENTITY = {"full_name": "Margaret Smith", "mrn": "MRN0042817", "allergies": ["penicillin"]}
GOOD = {
    "S": {
        "caller": "staff nurse on the ward",
        "patient_name": "Margaret Smith",
        "mrn": "MRN0042817",
        "concern": "deteriorating, possible sepsis",
        "news2": 10,
    },
    "B": {
        "diagnosis": "hip fracture repair, day 1 after surgery",
        "history": "independent at home; on enoxaparin and regular paracetamol",
        "allergies": "penicillin",
    },
    "A": {
        "rr": 26,
        "spo2": 92,
        "oxygen": "air",
        "sbp": 95,
        "hr": 125,
        "temp_c": 38.9,
        "avpu": "A",
        "impression": "I think she is becoming septic",
    },
    "R": {
        "response": "emergency",
        "review_within_min": 15,
        "request": "review her now: sepsis screen, antibiotics, fluids",
    },
}


def key(sbar: Any) -> Any:
    return sbar.SbarKey(
        diagnosis="hip fracture repair, day 1 after surgery",
        history=["independent at home; on enoxaparin and regular paracetamol"],
        concerns=["deteriorating, possible sepsis"],
        impressions=["I think she is becoming septic"],
        requests=["review her now: sepsis screen, antibiotics, fluids"],
    )


def call(sbar: Any, order: str = "SBAR", state: dict[str, Any] | None = None, **changes: Any) -> list[Any]:
    """The parts of a call in ``order``, with ``changes`` as ``PART_element=value``."""
    parts = {p: dict(v) for p, v in GOOD.items()}
    for name, value in changes.items():
        part, element = name.split("_", 1)
        parts[part][element] = value
    return [sbar.Said(p, 10.0 + i, parts[p], state or STATE) for i, p in enumerate(order)]


def kinds(problems: list[tuple[str, str, str]]) -> dict[str, str]:
    return {item: kind for kind, item, _ in problems}


def test_compliant_call_passes(sbar):
    assert sbar.check_sbar(call(sbar), IDENTITY, key(sbar)) == []
    # values within a charting step of the current one, in the same NEWS2 band, are current
    near = call(sbar, A_hr=122, A_temp_c=38.7, A_rr="25")
    assert sbar.check_sbar(near, IDENTITY, key(sbar)) == []


@pytest.mark.parametrize(
    ("changes", "order", "expected"),
    [
        ({"B_allergies": "not stated"}, "SBAR", {"B.allergies": "missing"}),
        ({"S_news2": ""}, "SBAR", {"S.news2": "missing"}),
        ({}, "SAR", {f"B.{e}": "missing" for e in ("diagnosis", "history", "allergies")}),
        ({"S_news2": 5}, "SBAR", {"S.news2": "value"}),  # the score of the previous observations
        ({"A_rr": 22, "A_hr": 105}, "SBAR", {"A.rr": "value", "A.hr": "value"}),  # stale values
        ({"A_avpu": "C"}, "SBAR", {"A.avpu": "value"}),
        ({"A_oxygen": "oxygen"}, "SBAR", {"A.oxygen": "value"}),  # she breathes air (NEWS2 0, not 2)
        ({"R_response": "urgent"}, "SBAR", {"R.response": "urgency"}),  # NEWS2 10 needs emergency
        ({"R_review_within_min": 60}, "SBAR", {"R.review_within_min": "urgency"}),
        ({"S_patient_name": "Margaret Smyth"}, "SBAR", {"S.patient_name": "patient"}),
        ({"S_mrn": "MRN0042871"}, "SBAR", {"S.mrn": "patient"}),
        ({"B_allergies": "none known"}, "SBAR", {"B.allergies": "content"}),
        ({"S_concern": "she has not eaten her breakfast"}, "SBAR", {"S.concern": "content"}),
        ({}, "SABR", {"handover": "order"}),
        ({}, "SBBAR", {"handover": "order"}),
    ],
)
def test_each_fault_is_caught(sbar, changes, order, expected):
    problems = sbar.check_sbar(call(sbar, order, **changes), IDENTITY, key(sbar))
    assert kinds(problems) == expected, problems
    assert all(reason for _, _, reason in problems)


def test_a_value_across_a_news2_band_is_wrong_even_when_close(sbar):
    # pulse 90 scores 0, 91 scores 1 (RCP 2017): within the 10/min tolerance, another band
    state = {**STATE, "hr": 90.0}
    problems = sbar.check_sbar(call(sbar, state=state, A_hr=91), IDENTITY, key(sbar))
    assert kinds(problems) == {"A.hr": "value"}


def test_urgency_follows_the_band(sbar):
    urgent = {**STATE, "news2": 5, "red": False, "response": "urgent"}
    red3 = {**STATE, "news2": 3, "red": True, "response": "urgent_ward"}
    for state in (urgent, red3):  # 5-6 or a single red 3: urgent review (RCP 2017)
        good = call(sbar, state=state, S_news2=state["news2"], R_response="urgent", R_review_within_min=30)
        problems = sbar.check_sbar(good, IDENTITY, key(sbar))
        assert [p for p in problems if p[0] == "urgency"] == []
        over = call(sbar, state=state, S_news2=state["news2"], R_response="emergency", R_review_within_min=30)
        assert kinds(sbar.check_sbar(over, IDENTITY, key(sbar)))["R.response"] == "urgency"


# --- in a simulated deterioration: the physiology at the time of the call is the truth -----


def variant(nursing: Any, drop_second_call: bool = False, **second: Any) -> tuple[LearnerAction, ...]:
    """The deterioration learner with fields of its second SBAR call (NEWS2 10) changed."""
    out = []
    for act in nursing.scenario("deterioration").learner:
        if act.t > 390 and act.event.__name__.startswith("Sbar"):
            if drop_second_call:
                continue
            fields = {k: second.get(k, v) for k, v in act.fields.items()}
            act = dataclasses.replace(act, fields=fields)
        out.append(act)
    return tuple(out)


@pytest.mark.parametrize(
    ("change", "failed", "reason"),
    [
        ({}, set(), ""),
        # the values of the first call (NEWS2 5, 120 s earlier): stale once the patient changed
        (
            {"news2": 5, "rr": 22, "spo2": 95, "sbp": 128, "hr": 105, "temp_c": 38.6},
            {"sbar_values"},
            "NEWS2 said 5; it was 10 at the call",
        ),
        ({"response": "urgent"}, {"sbar_urgency"}, "calls for emergency (RCP 2017)"),
    ],  # (a missing element and the wrong patient: the pure check above and the menu test)
)
def test_deterioration_scores_the_call(nursing, change, failed, reason):
    scenario = nursing.scenario("deterioration")
    result, _, records = run_with_learner(nursing, scenario, variant(nursing, **change))
    missed = {r.id for r in result.rules if r.id.startswith("sbar") and r.status == "missed"}
    assert missed == failed
    assert result.passed is not bool(failed)  # every one of these faults fails the run (critical rules)
    checked = matching(records, "SbarHandoverChecked")
    assert [(c["t"], c["data"]["news2"]) for c in checked] == [(278.0, 5), (398.0, 10)]
    for rule_id in failed:  # explained: the time of the call and what was wrong
        rule = result.rule(rule_id)
        assert rule.t == 398.0 and reason in rule.detail, rule.detail


def test_no_call_fails_the_handover_rule(nursing):
    acts = tuple(a for a in nursing.scenario("deterioration").learner if not a.event.__name__.startswith("Sbar"))
    result, _, _ = run_with_learner(nursing, nursing.scenario("deterioration"), acts)
    assert result.rule("sbar_handover").status == "missed" and not result.passed
    # the content rules judge calls made: with none they are not applicable, not free points
    assert {r.status for r in result.rules if r.id in SBAR_RULES[1:]} == {"not_applicable"}


# --- a person composes the call from the menu ---------------------------------------------


def test_a_person_composes_the_call_from_the_menu(nursing):
    """Sepsis, first 40 s: observations, then S, B, A and R chosen option by option from the
    hotkey menus; the person leaves the allergies out ("not stated")."""
    scenario = nursing.scenario("sepsis")
    acts = []
    for act in scenario.learner:
        if act.t > 40:
            break
        if act.event.__name__ == "SbarBackground":
            act = dataclasses.replace(act, fields={**act.fields, "allergies": "not stated"})
        acts.append(act)
    steps = commands_for(dataclasses.replace(scenario, learner=tuple(acts)))
    session = build_session(nursing, "sepsis", input_source=Timeline(steps), display_rate=5)
    try:
        session.run(seconds=40)
        log = session.finish()
    finally:
        session.close()
    records = log.event_records()
    said = [r for r in records if r["type"].endswith(("SbarSituation", "SbarBackground"))]
    assert said[0]["data"]["news2"] == 15 and said[1]["data"]["allergies"] == "not stated"
    assert [r["data"]["problems"] for r in matching(records, "SbarHandoverChecked")] == [1]
    assert [(p["data"]["kind"], p["data"]["item"]) for p in matching(records, "SbarProblem")] == [
        ("missing", "B.allergies")
    ]


def test_bad_review_policy_is_refused(sbar):
    # a pack file with this gets "file:line: ...SbarKey: invalid SbarKey: ..." from the loader
    with pytest.raises(ValueError, match="unknown response 'urgnt'"):
        sbar.SbarKey(review_within_min={"urgnt": 60.0})
    with pytest.raises(ValueError, match="positive number of minutes"):
        sbar.SbarKey(review_within_min={"urgent": 0.0})
