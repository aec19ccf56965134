"""nursing: the medication rights catch every typical error, and NEWS2 (RCP 2017) scores and
escalation thresholds drive the deteriorating-patient scenario."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import run_scenario

from vrmed.cli import cli
from vrmed.scenario import matching
from vrmed.systems.clinical.news2 import news2, news2_components, response

NORMAL = dict(rr=16, spo2=97, on_oxygen=False, sbp=125, hr=75, avpu="A", temp_c=37.0)

# (changes from normal, expected aggregate, expected red flag) - bands from the RCP 2017 chart.
NEWS2_CASES = [
    ({}, 0, False),
    ({"rr": 8}, 3, True),
    ({"rr": 9}, 1, False),
    ({"rr": 11}, 1, False),
    ({"rr": 12}, 0, False),
    ({"rr": 20}, 0, False),
    ({"rr": 21}, 2, False),
    ({"rr": 24}, 2, False),
    ({"rr": 25}, 3, True),
    ({"spo2": 91}, 3, True),
    ({"spo2": 92}, 2, False),
    ({"spo2": 94}, 1, False),
    ({"spo2": 96}, 0, False),
    ({"on_oxygen": True}, 2, False),
    ({"sbp": 90}, 3, True),
    ({"sbp": 91}, 2, False),
    ({"sbp": 101}, 1, False),
    ({"sbp": 111}, 0, False),
    ({"sbp": 219}, 0, False),
    ({"sbp": 220}, 3, True),
    ({"hr": 40}, 3, True),
    ({"hr": 41}, 1, False),
    ({"hr": 51}, 0, False),
    ({"hr": 91}, 1, False),
    ({"hr": 111}, 2, False),
    ({"hr": 131}, 3, True),
    ({"avpu": "V"}, 3, True),
    ({"avpu": "U"}, 3, True),
    ({"temp_c": 35.0}, 3, True),
    ({"temp_c": 35.1}, 1, False),
    ({"temp_c": 36.1}, 0, False),
    ({"temp_c": 38.1}, 1, False),
    ({"temp_c": 39.1}, 2, False),
    ({"rr": 26, "hr": 125, "temp_c": 38.9, "sbp": 95, "spo2": 92}, 10, True),
]


@pytest.mark.parametrize("changes,score,red", NEWS2_CASES)
def test_news2_bands(changes, score, red):
    assert news2(**{**NORMAL, **changes}) == (score, red)


def test_news2_scale_2_and_responses():
    base = {**NORMAL, "spo2": 90}
    assert news2_components(**base, scale=2)["spo2"] == 0  # 88-92% is the target on scale 2
    assert news2_components(**{**base, "spo2": 97, "on_oxygen": True}, scale=2)["spo2"] == 3
    assert news2_components(**{**base, "spo2": 84}, scale=2)["spo2"] == 2
    assert [response(0, False), response(3, False), response(3, True), response(5, False), response(7, True)] == [
        "routine",
        "ward",
        "urgent_ward",
        "urgent",
        "emergency",
    ]


@pytest.fixture(scope="module")
def runs(nursing_pack):
    return {
        name: run_scenario(nursing_pack, name)
        for name in ("medication", "medication_errors", "deterioration", "deterioration_errors")
    }


MEDICATION_RULES = [
    "right_patient",
    "allergies_checked",
    "right_drug_selected",
    "right_drug",
    "dose_calculated",
    "right_dose",
    "right_route",
    "not_early",
    "on_time",
    "documented_after",
    "documented_promptly",
    "allergen_withheld",
    "no_allergen_given",
    "single_opioid_dose",
    "independent_double_check",
    "assessed_before_opioid",
    "reassessed_after_opioid",
    "prescriber_informed",
]


@pytest.mark.parametrize("rule", MEDICATION_RULES)
def test_each_medication_right_passes_correct_and_catches_error(rule, runs):
    good = runs["medication"]["result"].rule(rule)
    bad = runs["medication_errors"]["result"].rule(rule)
    assert good.passed, good.detail
    assert not bad.passed, bad.detail


def test_medication_scores_and_specific_catches(runs):
    assert runs["medication"]["result"].score == 100.0 and runs["medication"]["outcome"] == "round_complete"
    bad = runs["medication_errors"]["result"]
    assert not bad.passed and bad.score == 0.0
    assert bad.rule("right_dose").value["dose"] == 6  # 0.1 mg/kg misread: double the 3 mg prescribed
    assert [v["data"]["drug"] for v in bad.rule("right_drug_selected").violations] == ["hydromorphone"]
    assert [v["data"]["drug"] for v in bad.rule("no_allergen_given").violations] == ["co-amoxiclav"]
    # the physiology model does not know co-amoxiclav; it says so rather than failing silently
    assert [r["data"]["drug"] for r in matching(runs["medication_errors"]["records"], "DrugRejected")] == [
        "co-amoxiclav"
    ]


def test_deterioration_news2_and_escalation(runs):
    good = runs["deterioration"]
    scores = [(round(r["t"]), r["data"]["score"]) for r in matching(good["records"], "News2Scored")]
    assert scores == [(10, 0), (150, 2), (270, 5), (390, 10)]
    assert good["result"].score == 100.0 and good["outcome"] == "rapid_response_called"
    bad = runs["deterioration_errors"]["result"]
    for rule in ("ward_response", "urgent_response", "emergency_response"):
        assert not bad.rule(rule).passed and good["result"].rule(rule).passed
    assert runs["deterioration_errors"]["outcome"] is None  # never escalated to emergency: still running


def test_vrmed_run_prints_the_score():
    result = CliRunner().invoke(
        cli, ["run", "nursing/medication_errors", "--headless", "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0
    summary = json.loads(result.stdout)["summary"]
    assert summary["score"] == 0.0 and summary["passed"] is False
    # the round never completes: no observations and the prescriber is never told
    assert "no_allergen_given" in summary["errors_caught"] and summary["outcome"] is None
