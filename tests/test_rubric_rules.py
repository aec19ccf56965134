"""Rubric rule semantics that cannot be gamed: for every rule kind, a compliant log passes and
each way of violating it (late, early, missing, wrong entity, wrong dose/energy, window never
opened) fails; "if it happens" rules are not applicable rather than free points; failed and
not-applicable rules carry their time and reason. Pure functions over synthetic event
records: no session runs here."""

from __future__ import annotations

import pytest
from conftest import write_tree

from vrmed.packs import PackError, load_pack
from vrmed.scenario import evaluate_rubric
from vrmed.scenario.expr import compile_expr
from vrmed.scenario.model import EventRef, Rubric, Rule
from vrmed.scenario.rubric import evaluate_rule


def rec(t: float, name: str, **data) -> dict:
    return {"t": t, "type": f"m:{name}", "data": data}


def rule(kind: str, **kw) -> Rule:
    for key in ("where", "expect", "on_where", "off_where"):
        if isinstance(kw.get(key), str):
            kw[key] = compile_expr(kw[key])
    return Rule(kw.pop("id", kind), kind, "", kw.pop("points", 10.0), kw.pop("critical", False), **kw)


def ref(event: str, where: str | None = None, nth: int = 1) -> EventRef:
    return EventRef(event, compile_expr(where) if where else None, nth)


ARREST = ref("Rhythm", "to == 'vf'")


def run(r: Rule, records: list[dict], end: float = 600.0):
    return evaluate_rule(r, sorted(records, key=lambda x: x["t"]), end)


# -- deadline ---------------------------------------------------------------------------
DEADLINE = rule("deadline", event="Shock", within=120.0, start=ARREST)


@pytest.mark.parametrize(
    ("records", "status", "t"),
    [
        ([rec(2, "Rhythm", to="vf"), rec(60, "Shock")], "met", 60.0),
        ([rec(2, "Rhythm", to="vf"), rec(200, "Shock")], "missed", 200.0),  # late
        ([rec(2, "Rhythm", to="vf")], "missed", 122.0),  # never: missed when the deadline expired
        ([rec(50, "Shock")], "missed", 600.0),  # the window (the arrest) never opened: no free points
        ([rec(1, "Shock"), rec(2, "Rhythm", to="vf"), rec(300, "Shock")], "missed", 300.0),  # early one does not count
    ],
)
def test_deadline(records, status, t):
    res = run(DEADLINE, records)
    assert (res.status, res.t) == (status, t)
    assert res.passed == (status == "met") and res.earned == (10.0 if status == "met" else 0.0)


def test_deadline_if_it_happens_is_not_applicable_and_leaves_the_denominator():
    optional = rule("deadline", id="opt", event="Shock", within=10.0, start=ref("Never"), required=False)
    res = run(optional, [rec(5, "Shock")])
    assert res.status == "not_applicable" and res.passed and res.earned == 0.0 and not res.applicable
    other = rule("deadline", id="go", event="Go")
    result = evaluate_rubric(Rubric((optional, other), 50.0), [rec(5, "Go")], 10.0)
    assert result.score == 100.0 and result.passed  # 10 of 10 applicable points


def test_deadline_pending_on_a_partial_log():
    """A live cue on a log that has not reached the deadline yet: missed so far, but pending."""
    res = run(DEADLINE, [rec(2, "Rhythm", to="vf")], end=30.0)
    assert res.status == "missed" and res.pending
    assert not run(DEADLINE, [rec(2, "Rhythm", to="vf")], end=300.0).pending


# -- forbidden --------------------------------------------------------------------------
def test_forbidden_counts_only_inside_its_window():
    r = rule("forbidden", event="Drug", where="drug == 'amiodarone'", start=ref("Rhythm", "to == 'pea'"))
    assert run(r, [rec(10, "Drug", drug="amiodarone"), rec(20, "Rhythm", to="pea")]).status == "met"
    bad = run(r, [rec(20, "Rhythm", to="pea"), rec(30, "Drug", drug="amiodarone")])
    assert bad.status == "missed" and bad.t == 30.0 and bad.violations[0]["data"]["drug"] == "amiodarone"
    # no PEA at all: nothing could be violated, and a forbidden rule is never "must happen"
    assert run(r, []).status == "not_applicable"


# -- interval ---------------------------------------------------------------------------
CHECKS = rule("interval", event="Check", min=105.0, max=135.0, start=ARREST, end=ref("Rhythm", "to == 'rosc'"))


@pytest.mark.parametrize(
    ("times", "rosc", "ok", "why"),
    [
        ([30, 150, 270], 300, True, None),
        ([200, 320], 400, False, "first"),  # a late first check is late (measured from the window start)
        ([30, 60, 180], 300, False, "gap"),  # too soon
        ([30, 200], 300, False, "gap"),  # too late
        ([30], 400, False, "overdue"),  # none for the rest of the window
        ([], 400, False, "overdue"),  # none at all in a window that closed
    ],
)
def test_interval(times, rosc, ok, why):
    records = [rec(2, "Rhythm", to="vf")] + [rec(t, "Check") for t in times] + [rec(rosc, "Rhythm", to="rosc")]
    res = run(CHECKS, records)
    assert res.passed is ok
    if why:
        assert why in res.violations[0] and res.t == res.violations[0]["t"]


def test_interval_without_max_needs_its_event():
    r = rule("interval", event="Dose", min=180.0)
    assert run(r, []).status == "missed"
    assert run(r, [rec(10, "Dose"), rec(200, "Dose")]).status == "met"


# -- nth --------------------------------------------------------------------------------
def test_nth_wrong_value_missing_and_optional():
    r = rule("nth", event="Drug", where="drug == 'amio'", n=1, expect="dose == 300")
    assert run(r, [rec(10, "Drug", drug="amio", dose=300)]).status == "met"
    wrong = run(r, [rec(10, "Drug", drug="amio", dose=150)])
    assert wrong.status == "missed" and wrong.t == 10.0 and "expected dose == 300" in wrong.detail
    assert run(r, []).status == "missed"
    optional = rule("nth", event="Drug", n=2, expect="dose == 150", required=False)
    assert run(optional, [rec(10, "Drug", dose=300)]).status == "not_applicable"


# -- fraction ---------------------------------------------------------------------------
def test_fraction_from_the_collapse_and_never_started():
    r = rule("fraction", on="On", off="Off", min=0.8, max_pause=10.0, start=ARREST)
    good = [rec(0, "Rhythm", to="vf"), rec(5, "On"), rec(100, "Off"), rec(105, "On")]
    assert run(r, good, 200.0).status == "met"
    late = [rec(0, "Rhythm", to="vf"), rec(30, "On")]  # 30 s before the first compression
    res = run(r, late, 200.0)
    assert res.status == "missed" and res.violations[0]["duration"] == 30.0 and res.t == 0.0
    assert run(r, [rec(0, "Rhythm", to="vf")], 200.0).value == 0.0  # never compressed


# -- before (A before B) ----------------------------------------------------------------
ANALYSE = rule(
    "before", first=ref("Analyse"), then=ref("Shock"), each=True, since_last=True, within=30.0, critical=True
)


@pytest.mark.parametrize(
    ("records", "ok", "problem"),
    [
        ([rec(10, "Analyse"), rec(14, "Shock"), rec(130, "Analyse"), rec(134, "Shock")], True, None),
        ([rec(14, "Shock")], False, "0 Analyse before it"),  # no analysis
        ([rec(10, "Analyse"), rec(14, "Shock"), rec(20, "Shock")], False, "since the previous one"),  # stacked
        ([rec(10, "Analyse"), rec(60, "Shock")], False, "limit 30 s"),  # analysis too long before
        ([], False, None),  # never shocked: the rule's subject never happened
    ],
)
def test_before_analyse_each_shock(records, ok, problem):
    res = run(ANALYSE, records)
    assert res.passed is ok
    if problem:
        assert problem in res.detail and res.t == res.violations[0]["t"]


def test_before_at_least_replaces_after_count():
    epi = rule("before", first=ref("Shock"), at_least=2, then=ref("Drug", "drug == 'epi'"))
    assert run(epi, [rec(10, "Shock"), rec(130, "Shock"), rec(140, "Drug", drug="epi")]).passed
    early = run(epi, [rec(10, "Shock"), rec(20, "Drug", drug="epi"), rec(130, "Shock")])
    assert not early.passed and "1 Shock before it (needs 2)" in early.detail
    # only the first epinephrine is judged without each: later doses do not rescue an early first
    assert not run(
        epi, [rec(10, "Shock"), rec(20, "Drug", drug="epi"), rec(130, "Shock"), rec(140, "Drug", drug="epi")]
    ).passed


def test_before_same_entity():
    tagged = rule("before", first=ref("Assessed"), then=ref("Tagged"), each=True, same="patient")
    good = [
        rec(1, "Assessed", patient="a"),
        rec(2, "Tagged", patient="a"),
        rec(3, "Assessed", patient="b"),
        rec(4, "Tagged", patient="b"),
    ]
    assert run(tagged, good).passed
    wrong = [rec(1, "Assessed", patient="a"), rec(2, "Tagged", patient="b")]  # another casualty was assessed
    res = run(tagged, wrong)
    assert not res.passed and "(patient b)" in res.detail
    optional = rule("before", first=ref("A"), then=ref("B"), required=False)
    assert run(optional, []).status == "not_applicable"


# -- order ------------------------------------------------------------------------------
PPE = rule("order", sequence=(ref("Gown"), ref("Mask"), ref("Gloves")))


def test_order():
    assert run(PPE, [rec(1, "Gown"), rec(2, "Mask"), rec(3, "Gloves")]).passed
    swapped = run(PPE, [rec(1, "Gown"), rec(2, "Gloves"), rec(3, "Mask")])
    assert not swapped.passed and swapped.detail == "Gloves came before Mask" and swapped.t == 2.0
    missing = run(PPE, [rec(1, "Gown"), rec(3, "Gloves")])
    assert not missing.passed and "Mask never happened" in missing.detail
    assert run(PPE, []).status == "missed"


# -- count ------------------------------------------------------------------------------
ALL_TAGGED = rule("count", event="Tagged", distinct="patient", min=3.0)


def test_count_distinct_entities():
    assert run(ALL_TAGGED, [rec(i, "Tagged", patient=p) for i, p in enumerate("abc")]).passed
    same = run(ALL_TAGGED, [rec(i, "Tagged", patient="a") for i in range(12)])  # one casualty tagged 12 times
    assert not same.passed and same.value == 1 and "needs at least 3" in same.detail
    assert not run(ALL_TAGGED, []).passed
    dup = rule("count", event="Drug", max=1.0, required=False)
    assert not run(dup, [rec(1, "Drug"), rec(2, "Drug")]).passed  # duplicate dose
    assert run(dup, []).status == "not_applicable"


def test_count_total_of_a_field():
    fluids = rule("count", event="Fluid", total="ml", min=1800.0)
    assert run(fluids, [rec(t, "Fluid", ml=500) for t in (1, 2, 3)] + [rec(4, "Fluid", ml=300)]).value == 1800.0
    short = run(fluids, [rec(1, "Fluid", ml=500)])
    assert not short.passed and "500.0 ml in total (needs at least 1800)" in short.detail


# -- results as data ----------------------------------------------------------------------
def test_findings_explain_every_missed_and_not_applicable_rule():
    rules = (
        DEADLINE,
        rule("forbidden", id="no_pea_amio", event="Drug", start=ref("Never")),
        rule("deadline", id="help", event="Help", within=30.0, points=5.0, critical=True),
    )
    result = evaluate_rubric(Rubric(rules, 80.0), [rec(2, "Rhythm", to="vf"), rec(40, "Shock"), rec(50, "Help")], 600.0)
    assert result.score == pytest.approx(100 * 10 / 15, abs=0.01) and not result.passed  # critical help missed
    data = result.as_dict()
    assert [(f["id"], f["status"], f["t"]) for f in data["findings"]] == [
        ("no_pea_amio", "not_applicable", None),
        ("help", "missed", 50.0),
    ]
    assert data["findings"][1]["reason"] == "after 50.0 s (limit 30 s)" and data["rules"][1]["applicable"] is False


def test_unsorted_records_are_sorted():
    records = [rec(60, "Shock"), rec(2, "Rhythm", to="vf")]
    assert evaluate_rule(DEADLINE, records, 600.0).status == "met"


# -- validation of the new rule kinds (file:line messages) --------------------------------
BAD_RULES = """duration: 5
rates: {display: 10, logic: 10, physics: null}
entities: []
rubric:
  rules:
    - {id: b1, kind: before, first: Ping}
    - {id: b2, kind: before, first: Ping, then: Pong, same: colour}
    - {id: o1, kind: order, events: [Ping]}
    - {id: c1, kind: count, event: Ping}
    - {id: c2, kind: count, event: Ping, distinct: colour, min: 2}
    - {id: n1, kind: nth, event: Ping, n: 2}
"""

SYSTEMS = """
from dataclasses import dataclass
import vrmed

@dataclass(frozen=True)
class Ping(vrmed.Event):
    value: int

@dataclass(frozen=True)
class Pong(vrmed.Event):
    value: int
"""


def test_new_rule_kinds_are_validated_with_file_and_line(tmp_path):
    root = write_tree(
        tmp_path / "demo",
        {"pack.yaml": "name: demo\nversion: 1.0.0\n", "systems.py": SYSTEMS, "scenarios/one.yaml": BAD_RULES},
    )
    with pytest.raises(PackError) as info:
        load_pack(root)
    found = [str(i) for i in info.value.issues]
    for expected in (
        "demo/scenarios/one.yaml:6: rubric.rules[0]: a before rule needs 'then'",
        "demo/scenarios/one.yaml:7: rubric.rules[1].same: Ping has no field 'colour'",
        "demo/scenarios/one.yaml:8: rubric.rules[2].events: an order rule needs a list of at least two events",
        "demo/scenarios/one.yaml:9: rubric.rules[3]: a count rule needs 'min' or 'max'",
        "demo/scenarios/one.yaml:10: rubric.rules[4].distinct: Ping has no field 'colour'",
        "demo/scenarios/one.yaml:11: rubric.rules[5]: a nth rule needs 'expect' (for 'A before B' use kind: before)",
    ):
        assert expected in found, (expected, found)
