"""The scenario language: precise validation errors, runtime semantics, --trace, rubric rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write_tree

from vrmed.cli import cli
from vrmed.packs import PackError, load_pack
from vrmed.scenario import (
    ExprError,
    ScenarioState,
    compile_expr,
    evaluate_rubric,
)
from vrmed.scenario.model import EventRef, Rubric, Rule
from vrmed.session import build_session
from vrmed.systems.clinical.physiology import population

SYSTEMS = """
from dataclasses import dataclass
import vrmed

@dataclass(frozen=True)
class Ping(vrmed.Event):
    value: int
    note: str = ""
"""

GOOD = """
duration: 6
rates: {display: 20, logic: 10, physics: null}
entities:
  - name: patient
    prefab: pt
script:
  initial: waiting
  vars: {pings: 0}
  states:
    waiting:
      on_enter: [{instruction: "Wait for two big pings."}]
      transitions:
        - event: Ping
          when: "event.value > 1"
          actions: [{set: {pings: "vars.pings + 1"}}]
        - when: "vars.pings >= 2"
          to: arrest
    arrest:
      on_enter:
        - physiology: {entity: patient, rhythm: vf}
        - spawn: {name: helper, prefab: pt}
      transitions:
        - after: 1.5
          when: "patient.arrest and count.Ping == 3"
          to: done
    done:
      final: true
      on_enter: [{despawn: helper}, {prompt: bye}, {end: finished}]
learner:
  - {t: 1.0, event: Ping, value: 1}
  - {t: 2.0, event: Ping, value: 2}
  - {t: 3.0, event: Ping, value: 3, note: third}
"""

BAD = """
duration: 10
entities:
  - name: patient
    prefab: pt
script:
  initial: waiting
  vars: {pings: 0}
  states:
    waiting:
      transitions:
        - event: Pnig
          to: done
        - when: "patient.hrr > 3 and vars.pingz < 2 and event.value"
          to: nowhere
        - event: Ping
          when: "event.valu > 1 or"
          actions: [{set: {pings: "vars.pings + 1", other: 1}}, {explode: 1}, {physiology: {entity: patient, hrt: 3}}, {spawn: {name: x, prefab: nope}}]
    orphan:
      transitions:
        - after: 1
          to: done
    done:
      final: true
rubric:
  rules:
    - {id: a, kind: deadlin, event: Ping}
    - {id: b, kind: forbidden, event: Ping, where: "valu == 3"}
    - {id: c, kind: interval, event: Ping}
learner:
  - {t: 1, event: Ping, value: 1.5, colour: red}
  - {t: 2, event: Ping}
  - {t: 3, event: Pong}
"""


def make_pack(tmp_path: Path, scenario: str, **more: str) -> Path:
    files = {
        "pack.yaml": "name: demo\nversion: 1.0.0\nplugins: [physiology]\ndefault_scenario: one\n",
        "systems.py": SYSTEMS,
        "prefabs/p.yaml": "pt:\n  visual: none\n  components:\n    Patient: {}\n",
        "scenarios/one.yaml": scenario,
    }
    files.update({f"scenarios/{k}.yaml": v for k, v in more.items()})
    return write_tree(tmp_path / "demo", files)


def problems(root: Path) -> list[str]:
    with pytest.raises(PackError) as info:
        load_pack(root)
    return [str(i) for i in info.value.issues]


@pytest.fixture(scope="module")
def bad_problems(tmp_path_factory):
    return problems(make_pack(tmp_path_factory.mktemp("bad"), BAD))


def _find(found: list[str], prefix: str) -> str:
    hits = [p for p in found if p.startswith(prefix)]
    assert len(hits) == 1, (prefix, found)
    return hits[0]


def test_unknown_event_lists_known_events(bad_problems):
    msg = _find(bad_problems, "demo/scenarios/one.yaml:11: script.states.waiting.transitions[0].event: ")
    assert msg.split(": ", 2)[2].startswith("unknown event 'Pnig'")
    assert "known events: ActionRejected, AdministrationDocumented, " in msg
    assert ", Ping, " in msg and ", StateEntered, " in msg and ", DrugGiven, " in msg


def test_undefined_variables_are_named_precisely(bad_problems):
    assert set(p for p in bad_problems if p.startswith("demo/scenarios/one.yaml:13:")) == {
        "demo/scenarios/one.yaml:13: script.states.waiting.transitions[1].when: undefined variable 'event.value': "
        "'event.*' is only defined in a transition with 'event'",
        "demo/scenarios/one.yaml:13: script.states.waiting.transitions[1].when: undefined variable 'patient.hrr'; "
        "entity 'patient' has: hr, sbp, dbp, map, spo2, rr, temp_c, etco2, glucose, avpu, rhythm, arrest, cpr, "
        "cpr_quality, opioid_effect, no_flow_s, low_flow_s, pulse, volume_ml, volume_deficit, paco2, fio2, cause, "
        "potassium",
        "demo/scenarios/one.yaml:13: script.states.waiting.transitions[1].when: undefined variable 'vars.pingz'; "
        "declared vars: pings",
    }
    assert (
        "demo/scenarios/one.yaml:17: script.states.waiting.transitions[2].actions[0].set.other: "
        "undefined variable 'other'; declared vars: pings"
    ) in bad_problems


def test_states_unknown_and_unreachable(bad_problems):
    assert (
        "demo/scenarios/one.yaml:14: script.states.waiting.transitions[1].to: unknown state 'nowhere'; "
        "states: waiting, orphan, done"
    ) in bad_problems
    assert (
        "demo/scenarios/one.yaml:18: script.states.orphan: state 'orphan' is unreachable from the initial "
        "state 'waiting'"
    ) in bad_problems


def test_expressions_actions_and_prefabs(bad_problems):
    for expected in [
        "demo/scenarios/one.yaml:16: script.states.waiting.transitions[2].when: invalid expression "
        "'event.valu > 1 or': invalid syntax",
        "demo/scenarios/one.yaml:17: script.states.waiting.transitions[2].actions[1]: unknown action 'explode'; "
        "actions: despawn, end, instruction, physiology, prompt, set, spawn",
        "demo/scenarios/one.yaml:17: script.states.waiting.transitions[2].actions[2].physiology.hrt: cannot set "
        "'hrt' on entity 'patient'; settable: rhythm, hr, sbp, dbp, rr, spo2, temp_c, glucose, fio2, "
        "shock_success, rosc_per_min, new_confusion, spo2_scale, cause, blood_loss_ml, bleed_ml_per_min, "
        "aa_gradient, witnessed_monitored, atropine_response, adenosine_threshold_mg, vagal_response, sinus_hr, "
        "potassium, pneumothorax_side",
        "demo/scenarios/one.yaml:17: script.states.waiting.transitions[2].actions[3].spawn.prefab: unknown prefab "
        "'nope'; prefabs in this pack: pt",
    ]:
        assert expected in bad_problems


def test_rubric_and_learner_errors(bad_problems):
    for expected in [
        "demo/scenarios/one.yaml:26: rubric.rules[0].kind: unknown rule kind 'deadlin'; kinds: before, count, "
        "deadline, forbidden, fraction, interval, nth, order",
        "demo/scenarios/one.yaml:27: rubric.rules[1].where: undefined variable 'valu'; Ping has fields: value, note",
        "demo/scenarios/one.yaml:28: rubric.rules[2]: an interval rule needs 'min' or 'max' (seconds)",
        "demo/scenarios/one.yaml:30: learner[0].colour: Ping has no field 'colour'; fields: value, note",
        "demo/scenarios/one.yaml:30: learner[0].value: expected an integer, got 1.5",
        "demo/scenarios/one.yaml:31: learner[1]: Ping needs 'value'",
    ]:
        assert expected in bad_problems
    assert _find(bad_problems, "demo/scenarios/one.yaml:32: learner[2].event: ").endswith(
        "unknown event 'Pong'; known events: "
        + _find(bad_problems, "demo/scenarios/one.yaml:11:").split("known events: ")[1]
    )
    assert len(bad_problems) == 18


def test_schema_level_errors_and_uses(tmp_path):
    root = make_pack(
        tmp_path, GOOD.replace("      final: true\n", "      final: yes please\n"), two="entities: []\nuses: nothing\n"
    )
    assert problems(root) == [
        "demo/scenarios/one.yaml:27: script.states.done.final: expected true or false, got string 'yes please'",
        "demo/scenarios/two.yaml:2: uses: no other scenario named 'nothing' in this pack",
    ]


def test_final_state_required_and_final_without_transitions(tmp_path):
    root = make_pack(
        tmp_path,
        """
entities: []
script:
  initial: a
  states:
    a:
      final: true
      transitions: [{after: 1, to: a}]
    b: {}
""".lstrip(),
    )
    assert problems(root) == [
        "demo/scenarios/one.yaml:7: script.states.a.transitions: final state 'a' cannot have transitions",
        "demo/scenarios/one.yaml:8: script.states.b: state 'b' is unreachable from the initial state 'a'",
    ]


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    pack = load_pack(make_pack(tmp_path_factory.mktemp("good"), GOOD))
    lines: list[str] = []
    session = build_session(pack, "one", trace=lines.append)
    try:
        session.run(seconds=2.5)
        mid = {"rhythm": population(session.app).vitals(0)["rhythm"], "entities": len(session.app.entities())}
        session.run(seconds=1.0)
        after_arrest = {"rhythm": population(session.app).vitals(0)["rhythm"], "entities": len(session.app.entities())}
        session.run(seconds=2.5)
        state = session.app.resource(ScenarioState)
        yield {
            "lines": lines,
            "mid": mid,
            "after_arrest": after_arrest,
            "state": state,
            "events": list(session.recorder.log.events),
            "entities": len(session.app.entities()),
        }
    finally:
        session.close()


def test_runtime_follows_events_conditions_and_timers(good_run):
    entered = [
        (round(e["t"], 3), e["data"]["state"], e["data"]["trigger"])
        for e in good_run["events"]
        if e["type"].endswith(":StateEntered")
    ]
    assert entered == [
        (0.0, "waiting", "start"),
        (3.0, "arrest", "when vars.pings >= 2"),
        (4.5, "done", "after 1.5 s when patient.arrest and count.Ping == 3"),
    ]
    st = good_run["state"]
    assert st.ended and st.outcome == "finished" and st.vars == {"pings": 2}


def test_runtime_actions(good_run):
    assert good_run["mid"]["rhythm"] == "sinus" and good_run["after_arrest"]["rhythm"] == "vf"
    # population + patient (+ helper spawned in 'arrest', despawned in 'done')
    assert good_run["mid"]["entities"] == 2 and good_run["after_arrest"]["entities"] == 3
    assert good_run["entities"] == 2
    types = [e["type"].rsplit(":", 1)[1] for e in good_run["events"]]
    assert "InstructionShown" in types and "PromptPlayed" in types and types.count("ScenarioEnded") == 1
    assert [e["data"] for e in good_run["events"] if e["type"].endswith(":Ping")] == [
        {"value": 1, "note": ""},
        {"value": 2, "note": ""},
        {"value": 3, "note": "third"},
    ]


def test_trace_lines(good_run):
    assert good_run["lines"] == [
        "[scenario] t=    0.000  (start) -> waiting  (start)",
        "[scenario] t=    3.000  waiting -> arrest  (when vars.pings >= 2)",
        "[scenario] t=    4.500  arrest -> done  (after 1.5 s when patient.arrest and count.Ping == 3)",
        "[scenario] t=    4.500  ended: finished",
    ]


def test_cli_trace_prints_transitions(tmp_path):
    root = make_pack(tmp_path, GOOD)
    result = CliRunner().invoke(cli, ["run", str(root / "one"), "--headless", "--trace"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "[scenario] t=    3.000  waiting -> arrest  (when vars.pings >= 2)" in result.output
    result = CliRunner().invoke(cli, ["run", str(root / "one"), "--headless"], catch_exceptions=False)
    assert "[scenario]" not in result.output


def test_expressions():
    e = compile_expr("a.b + 2 * c > 10 and d in ['x', 'y'] and not e")
    assert e.names == ("a.b", "c", "d", "e")
    values = {"a.b": 4, "c": 4, "d": "x", "e": False}
    assert e.evaluate(values.__getitem__) is True
    assert compile_expr("true").evaluate(lambda n: None) is True
    for bad in ("__import__('os')", "a[0]", "lambda: 1", "a if b else c", "x.y()"):
        with pytest.raises(ExprError):
            compile_expr(bad)


def rec(t: float, name: str, **data) -> dict:
    return {"t": t, "type": f"m:{name}", "data": data}


def test_rubric_rule_kinds_on_hand_written_records():
    w = compile_expr("drug == 'epi'")
    rules = (
        Rule("dl", "deadline", "", 10, True, event="Go", within=5.0, start=EventRef("Start")),
        Rule("forb", "forbidden", "", 10, False, event="Drug", where=compile_expr("dose > 1")),
        Rule("int", "interval", "", 10, False, event="Drug", where=w, min=180.0, max=300.0),
        Rule(
            "nth",
            "nth",
            "",
            10,
            False,
            event="Drug",
            where=w,
            n=2,
            expect=compile_expr("dose == 1"),
            after_count=("Shock", None, 2),
        ),
        Rule("frac", "fraction", "", 10, False, on="On", off="Off", min=0.8, max_pause=10.0, start=EventRef("On")),
        Rule("na", "deadline", "", 10, False, event="Go", within=1.0, start=EventRef("Never"), required=False),
    )
    records = [
        rec(0, "On"),
        rec(1, "Start"),
        rec(7, "Go"),
        rec(10, "Drug", drug="epi", dose=1),
        rec(50, "Off"),
        rec(62, "On"),
        rec(100, "Shock"),
        rec(200, "Drug", drug="epi", dose=1),
        rec(260, "Drug", drug="epi", dose=3),
        rec(300, "Shock"),
        rec(310, "Off"),
        rec(315, "On"),
    ]
    result = evaluate_rubric(Rubric(rules, 50.0), records, end_time=600.0)
    dl, forb, intv, nth, frac, na = result.rules
    assert not dl.passed and dl.value == 6.0
    assert not forb.passed and [v["t"] for v in forb.violations] == [260]
    # gaps 190 (ok) and 60 (too short); then 340 s with no dose before the end (overdue)
    assert intv.value == [190.0, 60.0] and [v.get("gap", v.get("overdue")) for v in intv.violations] == [60.0, 340.0]
    assert not nth.passed and "after 1 Shock, needs at least 2" in nth.detail  # 2nd epi came after 1 shock
    assert frac.value == pytest.approx((600 - 12 - 5) / 600) and [p["duration"] for p in frac.violations] == [12.0]
    assert na.passed and "not applicable" in na.detail and na.status == "not_applicable"
    # the not-applicable rule leaves the denominator; every applicable rule missed
    assert result.score == 0.0 and not result.passed


def test_event_at_time_zero_reaches_the_initial_state(tmp_path):
    root = make_pack(
        tmp_path,
        """
duration: 1
rates: {display: 20, logic: 10, physics: null}
entities: []
script:
  initial: a
  states:
    a:
      transitions:
        - {event: Ping, when: "event.value == 7", to: b}
    b:
      final: true
learner:
  - {t: 0, event: Ping, value: 7}
""".lstrip(),
    )
    session = build_session(load_pack(root), "one")
    try:
        session.run()
        assert session.app.resource(ScenarioState).history[-1][1:] == ("a", "b", "on Ping when event.value == 7")
    finally:
        session.close()
