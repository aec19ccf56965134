"""The ways of gaming the built-in rubrics that independent checks found now fail: triage by
guessing (all "minor", no assessment), one casualty tagged twelve times, a ward nurse who never
observes, a duplicate opioid dose, no assessment around an IV opioid, the prescriber never told.
Each runs the real scenario (script, physiology, START) with the gaming learner at the lint rate."""

from __future__ import annotations

import pytest

from vrmed.rubric_lint import run_with_learner
from vrmed.scenario import LearnerAction
from vrmed.systems.clinical import events as ev


def learner(*actions: tuple[float, type, dict]) -> tuple[LearnerAction, ...]:
    return tuple(LearnerAction(t, etype, fields) for t, etype, fields in actions)


@pytest.fixture(scope="module")
def emergency(emergency_pack):
    return emergency_pack


@pytest.fixture(scope="module")
def nursing(nursing_pack):
    return nursing_pack


def casualties(pack) -> list[str]:
    return [e.name for e in pack.scenario("triage").entities if "Casualty" in e.components]


def test_triage_by_guessing_fails(emergency):
    names = casualties(emergency)
    assert len(names) == 12
    guess = learner(*((5.0 + 5 * i, ev.TriageTagged, {"patient": n, "category": "minor"}) for i, n in enumerate(names)))
    result, _, _ = run_with_learner(emergency, emergency.scenario("triage"), guess)
    assert not result.passed
    assert result.rule("all_tagged").passed  # twelve different casualties were tagged ...
    for rule in ("assessed_before_tagging", "no_under_triage"):  # ... but nobody was assessed
        assert not result.rule(rule).passed, rule
    assert len(result.rule("no_under_triage").violations) >= 6  # unassessed tags are judged too
    assert all(v["data"]["assessed"] is False for v in result.rule("no_under_triage").violations)


def test_one_casualty_tagged_twelve_times_is_not_all_tagged(emergency):
    name = casualties(emergency)[0]
    acts = [(2.0, ev.CasualtyReached, {"patient": name})]
    acts += [(5.0 + 5 * i, ev.TriageTagged, {"patient": name, "category": "minor"}) for i in range(12)]
    result, _, _ = run_with_learner(emergency, emergency.scenario("triage"), learner(*acts))
    tagged = result.rule("all_tagged")
    assert not tagged.passed and tagged.value == 1 and not result.passed


def test_never_observing_fails_deterioration(nursing):
    escalate_only = learner((300.0, ev.Escalated, {"level": "emergency"}))
    result, _, _ = run_with_learner(nursing, nursing.scenario("deterioration"), escalate_only)
    assert result.score < 20.0 and not result.passed
    assert "never opened" in result.rule("urgent_response").detail


def test_medication_duplicate_dose_no_assessment_no_prescriber(nursing):
    good = nursing.scenario("medication").learner
    # the correct round minus every observation and the call to the prescriber, plus a second dose
    acts = [a for a in good if a.event not in (ev.VitalsObserved, ev.Escalated)]
    acts.append(LearnerAction(100.0, ev.DrugGiven, {"drug": "morphine", "dose": 3, "unit": "mg", "route": "iv"}))
    result, _, _ = run_with_learner(nursing, nursing.scenario("medication"), tuple(sorted(acts, key=lambda a: a.t)))
    missed = {r.id for r in result.rules if r.status == "missed"}
    assert {"single_opioid_dose", "assessed_before_opioid", "reassessed_after_opioid", "prescriber_informed"} <= missed
    assert not result.passed  # single_opioid_dose is critical
