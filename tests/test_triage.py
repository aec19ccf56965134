"""START triage: decisions match the algorithm on a table of cases, and the emergency/triage
scene (12 casualties) is scored for accuracy, over- and under-triage and time per patient."""

from __future__ import annotations

import pytest
from conftest import run_scenario

from vrmed.session import open_target
from vrmed.systems.clinical.metrics import triage_metrics
from vrmed.systems.clinical.triage import start_triage

# (walking, rr, breathes after airway repositioning, radial pulse, capillary refill s, follows commands) -> START
CASES = [
    ((True, 18, False, True, 1.5, True), "minor"),
    ((True, 40, False, False, 4.0, False), "minor"),  # walking decides first, whatever else is found
    ((False, 0, True, True, 1.5, True), "immediate"),  # breathes once the airway is opened
    ((False, 0, False, True, 1.5, True), "expectant"),  # still apnoeic after repositioning
    ((False, 0, False, False, 4.0, False), "expectant"),
    ((False, 31, False, True, 1.5, True), "immediate"),  # RR over 30
    ((False, 30, False, True, 1.5, True), "delayed"),  # exactly 30 is not over 30
    ((False, 22, False, False, 1.5, True), "immediate"),  # no radial pulse
    ((False, 22, False, True, 2.5, True), "immediate"),  # capillary refill over 2 s
    ((False, 22, False, True, 2.0, True), "delayed"),  # exactly 2 s is not over 2 s
    ((False, 18, False, True, 1.5, False), "immediate"),  # cannot follow commands
    ((False, 12, False, True, 1.0, True), "delayed"),
    ((False, 8, False, True, 1.0, True), "delayed"),  # START has no lower RR limit
    ((False, 35, False, False, 3.0, False), "immediate"),
]


@pytest.mark.parametrize("findings,expected", CASES)
def test_start_decisions_match_the_algorithm(findings, expected):
    walking, rr, airway, radial, refill, commands = findings
    assert (
        start_triage(
            walking=walking,
            rr=rr,
            breathes_after_airway=airway,
            radial_pulse=radial,
            cap_refill_s=refill,
            follows_commands=commands,
        )
        == expected
    )


# What the scene's casualties are (written from their findings in triage.yaml, by hand).
SCENE = {
    "walker_1": "minor",
    "walker_2": "minor",
    "apnoeic_airway": "immediate",
    "apnoeic_dead": "expectant",
    "tachypnoea": "immediate",
    "no_radial_pulse": "immediate",
    "slow_refill": "immediate",
    "confused": "immediate",
    "leg_fracture": "delayed",
    "burns": "delayed",
    "abdominal_pain": "delayed",
    "walking_head_injury": "minor",
}


@pytest.fixture(scope="module")
def runs():
    pack = open_target("emergency")[0]
    return {"good": run_scenario(pack, "triage"), "bad": run_scenario(pack, "triage_errors")}


def test_scene_has_every_start_branch_and_assessment_matches(runs):
    assessed = {
        r["data"]["patient"]: r["data"] for r in runs["good"]["records"] if r["type"].endswith(":CasualtyAssessed")
    }
    assert {p: d["expected"] for p, d in assessed.items()} == SCENE
    assert len(SCENE) >= 10 and set(SCENE.values()) == {"minor", "delayed", "immediate", "expectant"}
    assert assessed["no_radial_pulse"]["radial_pulse"] is False  # SBP 70 < 80: no palpable radial pulse
    assert assessed["tachypnoea"]["rr"] > 30 and assessed["apnoeic_dead"]["rr"] == 0


def test_correct_learner_metrics(runs):
    m = triage_metrics(runs["good"]["records"])
    assert m["casualties"] == 12 and m["tagged"] == 12 and m["accuracy"] == 1.0
    assert m["over_triage_rate"] == 0.0 and m["under_triage_rate"] == 0.0
    assert m["mean_seconds_per_patient"] == pytest.approx(20.0, abs=0.2)
    assert runs["good"]["result"].score == 100.0 and runs["good"]["outcome"] == "all_triaged"


def test_learner_with_errors_metrics(runs):
    m = triage_metrics(runs["bad"]["records"])
    rows = {r["patient"]: r for r in m["per_patient"]}
    assert rows["tachypnoea"]["tagged"] == "delayed" and rows["tachypnoea"]["expected"] == "immediate"
    # over-triage: walker_2 (minor->delayed), leg_fracture (delayed->immediate), apnoeic_dead (expectant->immediate)
    assert m["over_triage_rate"] == pytest.approx(3 / 12, abs=1e-3)
    # under-triage: tachypnoea and no_radial_pulse (immediate->delayed)
    assert m["under_triage_rate"] == pytest.approx(2 / 12, abs=1e-3)
    assert m["accuracy"] == pytest.approx(7 / 12, abs=1e-3)
    assert m["mean_seconds_per_patient"] == pytest.approx(65.0, abs=0.2)
    r = runs["bad"]["result"]
    assert not r.passed
    assert {v["data"]["patient"] for v in r.rule("no_under_triage").violations} == {"tachypnoea", "no_radial_pulse"}
    assert {v["data"]["patient"] for v in r.rule("no_over_triage").violations} == {
        "walker_2",
        "leg_fracture",
        "apnoeic_dead",
    }
    assert not r.rule("pace").passed and r.rule("all_tagged").passed
