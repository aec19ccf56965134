"""Reversible causes (the H's and T's, AHA 2020; ERC 2021) as code-blue variants: the same
good ACLS restores a pulse only when the cause is treated (IV calcium for hyperkalaemia,
needle decompression for a tension pneumothorax, blood and fluid for haemorrhage, airway and
ventilation for hypoxia, pericardiocentesis for tamponade, sodium bicarbonate for tricyclic
toxicity); untreated, the patient stays in PEA and the cause rule is missed. Every run is a
short lint-rate run (2 Hz logic), a fraction of a second each."""

from __future__ import annotations

import pytest

from vrmed.rubric_lint import run_with_learner
from vrmed.scenario.model import LearnerAction

#: scenario -> (the cause rule, the treatment events a learner leaves out to leave it untreated)
CASES = {
    "code_blue_hyperkalaemia": ("treat_hyperkalaemia", lambda a: a.fields.get("drug") == "calcium_chloride"),
    "code_blue_tension": ("decompress_tension", lambda a: a.event.__name__ == "NeedleDecompression"),
    "code_blue_hypovolaemia": ("treat_hypovolaemia", lambda a: a.event.__name__ == "FluidGiven"),
    "code_blue_hypoxia": ("treat_hypoxia", lambda a: a.event.__name__ == "AirwayPlaced"),
    "code_blue_tamponade": ("treat_tamponade", lambda a: a.event.__name__ == "Pericardiocentesis"),
    "code_blue_toxin": ("treat_toxin", lambda a: a.fields.get("drug") == "sodium_bicarbonate"),
    # opioid-associated arrest: naloxone is still given, but without ventilation no ROSC
    "code_blue_opioid": ("treat_hypoxia", lambda a: a.event.__name__ == "AirwayPlaced"),
}


@pytest.fixture(scope="module")
def pack(emergency_pack):
    return emergency_pack


def rosc(records: list[dict]) -> bool:
    return any(r["type"].endswith(":RhythmChanged") and r["data"]["to_rhythm"] == "rosc" for r in records)


def without(learner: tuple[LearnerAction, ...], drop) -> tuple[LearnerAction, ...]:
    kept = tuple(a for a in learner if not drop(a))
    assert len(kept) < len(learner)
    return kept


@pytest.mark.parametrize("name", sorted(CASES))
def test_treating_the_cause_changes_the_outcome(pack, name):
    rule, treatment = CASES[name]
    scenario = pack.scenario(name)
    treated, _, records = run_with_learner(pack, scenario, scenario.learner)
    assert rosc(records) and treated.passed and treated.rule(rule).status == "met", treated.findings
    untreated, end, records = run_with_learner(pack, scenario, without(scenario.learner, treatment))
    assert end == scenario.duration and not rosc(records)  # the same ACLS, ten minutes of PEA
    assert untreated.rule(rule).status == "missed" and not untreated.passed


def test_half_the_volume_or_bicarbonate_is_not_enough(pack):
    """The treatment's amount matters: 250 ml of crystalloid leaves a class IV haemorrhage
    (45 % lost) class IV, and one 50 mmol ampoule (0.6 mmol/kg) still fails the dose rule."""
    sc = pack.scenario("code_blue_hypovolaemia")
    little = tuple(a for a in sc.learner if a.event.__name__ != "FluidGiven")
    fluid = next(a for a in sc.learner if a.event.__name__ == "FluidGiven")
    little += (LearnerAction(50.0, fluid.event, {"fluid": "crystalloid", "volume_ml": 250.0, "over_s": 120.0}),)
    result, _, records = run_with_learner(pack, sc, tuple(sorted(little, key=lambda a: a.t)))
    assert not rosc(records) and result.rule("volume_given").status == "missed"
    tox = pack.scenario("code_blue_toxin")
    one = tuple(a for a in tox.learner if not (a.fields.get("drug") == "sodium_bicarbonate" and a.t > 70))
    result, _, _ = run_with_learner(pack, tox, one)
    assert result.rule("treat_toxin").passed and not result.rule("bicarbonate_dose").passed


def test_pulse_check_rules(pack):
    """Every pulse check belongs to a rhythm check (within 10 s) and lasts no more than 10 s;
    a learner who never feels for a pulse at an organised rhythm misses the rule."""
    sc = pack.scenario("code_blue_tamponade")
    checks = [a for a in sc.learner if a.event.__name__ == "PulseChecked"]
    bad = tuple(LearnerAction(a.t, a.event, {"duration_s": 15.0}) if a is checks[0] else a for a in sc.learner)
    bad += (LearnerAction(50.0, checks[0].event, {"duration_s": 5.0}),)  # 19 s after the analysis
    r_bad, _, _ = run_with_learner(pack, sc, tuple(sorted(bad, key=lambda a: a.t)))
    assert not r_bad.rule("pulse_check_at_rhythm_check").passed and not r_bad.rule("pulse_check_duration").passed
    assert [v["t"] for v in r_bad.rule("pulse_check_at_rhythm_check").violations] == [50.0]
    none = tuple(a for a in sc.learner if a.event.__name__ != "PulseChecked")
    r_none, _, _ = run_with_learner(pack, sc, none)
    assert r_none.rule("pulse_check_at_rhythm_check").status == "missed"


def test_naloxone_does_not_replace_cpr(pack):
    """Opioid-associated arrest (AHA 2020 opioid-associated emergency algorithm): naloxone
    before compressions fails the critical rule; leaving naloxone out is allowed."""
    sc = pack.scenario("code_blue_opioid")
    nal = next(a for a in sc.learner if a.fields.get("drug") == "naloxone")
    first = tuple(
        sorted((LearnerAction(3.5, a.event, a.fields) if a is nal else a for a in sc.learner), key=lambda a: a.t)
    )
    result, _, _ = run_with_learner(pack, sc, first)
    assert result.rule("naloxone_not_instead_of_cpr").status == "missed" and not result.passed
    result, _, _ = run_with_learner(pack, sc, tuple(a for a in sc.learner if a is not nal))
    assert result.rule("naloxone_not_instead_of_cpr").status == "not_applicable" and result.passed
