"""Reversible causes (the H's and T's, AHA 2020) as code-blue variants: the same good ACLS
restores a pulse only when the cause is treated (IV calcium for hyperkalaemia, needle
decompression for a tension pneumothorax); untreated, the patient stays in PEA and the
cause rule is missed."""

from __future__ import annotations

import pytest

from vrmed.rubric_lint import run_with_learner
from vrmed.session import open_target

CASES = {
    "code_blue_hyperkalaemia": ("treat_hyperkalaemia", "DrugGiven", "calcium_chloride"),
    "code_blue_tension": ("decompress_tension", "NeedleDecompression", None),
}


@pytest.fixture(scope="module")
def pack():
    return open_target("emergency")[0]


def rosc(records: list[dict]) -> bool:
    return any(r["type"].endswith(":RhythmChanged") and r["data"]["to_rhythm"] == "rosc" for r in records)


@pytest.mark.parametrize("name", sorted(CASES))
def test_treating_the_cause_changes_the_outcome(pack, name):
    rule, event, drug = CASES[name]
    scenario = pack.scenario(name)
    treated, _, records = run_with_learner(pack, scenario, scenario.learner)
    assert rosc(records) and treated.passed and treated.rule(rule).status == "met"
    untreated_learner = tuple(
        a for a in scenario.learner if not (a.event.__name__ == event and a.fields.get("drug", None) == drug)
    )
    assert len(untreated_learner) == len(scenario.learner) - 1
    untreated, end, records = run_with_learner(pack, scenario, untreated_learner)
    assert end == scenario.duration and not rosc(records)  # the same ACLS, ten minutes of PEA
    assert untreated.rule(rule).status == "missed" and not untreated.passed
