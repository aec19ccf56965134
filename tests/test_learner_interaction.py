"""A person in the loop, below any device: action requests and menu commands recorded in
input samples become the scenario's events, guidance and cues follow the rubric, exam mode
is silent, replay is exact, bad samples are dropped and recorded, and the scenario's
``interaction:`` section is validated with file:line errors."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from conftest import write_tree

from vrmed.input import LEARNER, InputState
from vrmed.packs import PackError, load_pack
from vrmed.recording import SessionLog
from vrmed.scenario import evaluate_rubric
from vrmed.scenario.learner import LearnerView, MenuState, pick_ray
from vrmed.session import build_session, replay


class Timeline:
    """A person's input as an InputSource: at given simulation times, a sample with menu
    commands (and optionally device poses), exactly what a desktop or headset source records."""

    kind = "desktop"

    def __init__(self, steps: list[tuple[float, dict[str, Any]]]) -> None:
        self.steps = sorted(steps, key=lambda s: s[0])
        self.i = 0

    def sample(self, time: float, frame: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while self.i < len(self.steps) and self.steps[self.i][0] <= time + 1e-9:
            for dev, data in self.steps[self.i][1].items():
                if dev == LEARNER:
                    entry = out.setdefault(LEARNER, {})
                    for k, v in data.items():
                        entry.setdefault(k, []).extend(v)
                else:
                    out[dev] = data
            self.i += 1
        return out


def commands_for(scenario: Any) -> list[tuple[float, dict[str, Any]]]:
    """The scenario's scripted learner, re-expressed as what a person does: open each
    action from its hotkey (menu.action) and choose its options in the menu."""
    inter = scenario.interaction
    steps = []
    for act in scenario.learner:
        name = act.event.__name__
        for spec in inter.actions:
            if spec.event is not act.event:
                continue
            if any(act.fields.get(k, v) != v for k, v in spec.fields.items()):
                continue
            if not all(act.fields.get(n) in values for n, values in spec.options):
                continue
            cmds = [f"menu.action:{spec.id}"]
            for n, values in spec.options:
                cmds.append(f"menu.choose:{values.index(act.fields[n]) + 1}")
            steps.append((act.t, {LEARNER: {"commands": cmds}}))
            break
        else:
            raise AssertionError(f"no interaction action offers the scripted {name} {act.fields}")
    return steps


@pytest.fixture(scope="module")
def emergency(emergency_pack):
    return emergency_pack


@pytest.fixture(scope="module")
def person_code_blue(emergency):
    scenario = emergency.scenario("code_blue")
    session = build_session(emergency, "code_blue", input_source=Timeline(commands_for(scenario)), display_rate=10)
    session.run()
    log = session.finish()
    yield session, log
    session.close()


def rubric_of(pack: Any, name: str, log: SessionLog) -> Any:
    return evaluate_rubric(pack.scenario(name).rubric, log.event_records(), float(log.footer["sim_time"]))


def short(log: SessionLog, name: str) -> list[dict[str, Any]]:
    return [e for e in log.events if e["type"].endswith(":" + name)]


@pytest.mark.slow
def test_person_completes_code_blue_through_menu_commands(emergency, person_code_blue):
    session, log = person_code_blue
    assert log.header["learner"] == "person" and log.header["mode"] == "formative"
    assert not short(log, "ActionRejected")
    result = rubric_of(emergency, "code_blue", log)
    assert result.passed, [(r.id, r.detail) for r in result.rules if not r.passed]
    # the person's events are the scripted learner's: same types, same fields
    scripted = [(a.event.__name__, dict(a.fields)) for a in emergency.scenario("code_blue").learner]
    mine = [(e["type"].rsplit(":", 1)[1], e["data"]) for e in log.events]
    for name, fields in scripted:
        assert any(n == name and all(d.get(k) == v for k, v in fields.items()) for n, d in mine), (name, fields)
    view = session.app.resource(LearnerView)
    assert view.ended and "rosc" in view.end_reason
    assert all(view.done), view.done


@pytest.mark.slow
def test_person_session_replays_bit_exactly(emergency, person_code_blue):
    _, log = person_code_blue
    text = log.to_jsonl() if hasattr(log, "to_jsonl") else None
    result, again = replay(log, pack=emergency)
    again.close()
    assert result.ok, result.first_difference
    assert result.events_replayed == len(log.event_records())
    if text is not None:
        json.loads(text.splitlines()[0])


@pytest.mark.slow
def test_doing_nothing_fails_with_cues_and_exam_mode_is_silent(emergency):
    for mode in ("formative", "exam"):
        session = build_session(emergency, "code_blue", input_source=Timeline([]), display_rate=10, mode=mode)
        session.run(seconds=150)
        log = session.finish()
        session.close()
        assert log.header["mode"] == mode
        result = rubric_of(emergency, "code_blue", log)
        assert not result.passed
        assert not result.rule("first_compressions").passed and not result.rule("first_shock").passed
        cues = {e["data"]["source"] for e in short(log, "CueShown")}
        if mode == "formative":
            assert {"rule:first_compressions", "rule:help_called", "rule:first_shock"} <= cues
        else:
            assert not cues
        # nobody acted: no learner event at all
        assert not short(log, "CompressionsStarted") and not short(log, "ShockDelivered")


def test_menu_pick_options_back_and_rejections(emergency):
    t = 0.5
    steps = [
        (t, {LEARNER: {"commands": ["pick:defibrillator"]}}),
        (t + 0.5, {LEARNER: {"commands": ["menu.down", "menu.up", "menu.choose:3"]}}),  # shock -> energy menu
        (t + 1.0, {LEARNER: {"commands": ["menu.back"]}}),  # back to the defibrillator's actions
        (t + 1.5, {LEARNER: {"commands": ["menu.choose:3", "menu.choose:3"]}}),  # shock at 200 J
        (t + 2.0, {LEARNER: {"actions": [{"id": "defibrillate"}, {"id": "shock", "fields": {"energy_j": 1000}}]}}),
        (t + 2.5, {LEARNER: {"commands": ["pick:crash_cart", "menu.choose:1", "menu.choose:3", "menu.choose:1"]}}),
    ]
    session = build_session(emergency, "code_blue", input_source=Timeline(steps), display_rate=20)
    try:
        menu = session.app.resource(MenuState)
        session.run(seconds=0.6)
        assert menu.open and menu.source == "defibrillator" and menu.title == "Defibrillator"
        labels = [i.label for i in menu.items]
        assert labels[:2] == ["Attach defibrillator pads", "Analyse rhythm"] and "Shock" in labels
        session.run(seconds=0.5)
        assert menu.open and menu.pending == "shock" and [i.value for i in menu.items] == [120, 150, 200, 360]
        session.run(seconds=0.5)
        assert menu.pending is None and menu.source == "defibrillator" and menu.items[0].kind == "action"
        session.run(seconds=1.5)
        log = session.app.resource(SessionLog)
        shocks = short(log, "ShockDelivered")
        assert [s["data"]["energy_j"] for s in shocks] == [200.0] and not menu.open
        rejected = short(log, "ActionRejected")
        assert [r["data"]["action"] for r in rejected] == ["defibrillate", "shock"]
        assert "not offered" in rejected[1]["data"]["reason"]
        assert any(c["data"]["source"] == "action:shock" for c in short(log, "CueShown"))
        drugs = short(log, "DrugGiven")
        assert drugs and drugs[0]["data"] == {
            "drug": "epinephrine",
            "dose": 1.0,
            "unit": "mg",
            "route": "iv",
            "patient": "",
        }
    finally:
        session.close()


def test_bad_device_samples_are_dropped_recorded_and_replayed(emergency):
    good = {"position": [0.1, 1.0, 0.2], "orientation": [1.0, 0.0, 0.0, 0.0]}
    steps = [
        (0.0, {"right_hand": good}),
        (0.2, {"right_hand": {"position": [math.nan, 0.0, 0.0], "orientation": [0.0, 0.0, 0.0, 0.0]}}),
        (0.3, {"right_hand": {"position": [0.0, math.inf, 0.0], "buttons": {"trigger": math.nan, "grip": 1.0}}}),
    ]
    session = build_session(emergency, "cpr_device", input_source=Timeline(steps), display_rate=20)
    try:
        session.run(seconds=0.5)
        dev = session.app.resource(InputState).device("right_hand")
        assert np.allclose(dev.position, [0.1, 1.0, 0.2]) and dev.button("grip") == 1.0 and dev.button("trigger") == 0.0
        log = session.finish()
        lost = short(log, "TrackingLost")
        assert len(lost) == 4 and {e["data"]["device"] for e in lost} == {"right_hand"}
        # the log is strict JSON (no NaN / Infinity written for the dropped values)
        for frame in log.inputs.values():
            json.dumps(frame, allow_nan=False)
        result, again = replay(log, pack=emergency)
        again.close()
        assert result.ok, result.first_difference
    finally:
        session.close()


def test_pick_ray_hits_boxes_and_spheres(emergency):
    session = build_session(emergency, "code_blue", input_source=Timeline([]), display_rate=20)
    try:
        app = session.app
        # the defibrillator body: box centred 1.08 m up at x -0.45, z -0.92 (prefab offset)
        name, dist = pick_ray(app, [-0.45, 1.1, 1.0], [0.0, 0.0, -1.0])
        assert name == "defibrillator" and dist == pytest.approx(1.0 - (-0.92 + 0.16), abs=1e-6)
        # the bag-valve-mask lies on the bed beside the head; looking straight down at it
        name, _ = pick_ray(app, [-0.47, 2.0, 0.33], [0.0, -1.0, 0.0])
        assert name == "bag_valve_mask"
        assert pick_ray(app, [0.0, 3.0, 0.0], [0.0, 1.0, 0.0]) == (None, math.inf)
        assert pick_ray(app, [0.0, 1.0, 0.0], [0.0, 0.0, 0.0])[0] is None
    finally:
        session.close()


@pytest.mark.slow
def test_person_skipping_identity_check_fails_medication(nursing_pack):
    pack = nursing_pack
    scenario = pack.scenario("medication")
    steps = [s for s in commands_for(scenario) if "check_identity_band" not in s[1][LEARNER]["commands"][0]]
    session = build_session(pack, "medication", input_source=Timeline(steps), display_rate=10)
    session.run(seconds=120)
    log = session.finish()
    session.close()
    result = rubric_of(pack, "medication", log)
    assert not result.rule("right_patient").passed and not result.passed
    assert any(c["data"]["source"] == "rule:right_patient" for c in short(log, "CueShown"))


SYSTEMS = """
from dataclasses import dataclass
import vrmed

@dataclass(frozen=True)
class Dose(vrmed.Event):
    drug: str
    mg: float
    route: str = "iv"
    patient: str = ""
"""

BAD = """
duration: 5
entities:
  - {name: patient, prefab: pt}
  - {name: cart, prefab: cart}
interaction:
  actions:
    - {id: give, event: Dose, options: {mg: [1, "lots"]}, at: [cart, nobody], key: g}
    - {id: give, event: Dosse, fields: {drug: x, mg: 1}}
    - {id: tag, event: Dose, fields: {drug: x, mg: 1, route: iv}, key: G, target_field: patient}
    - {id: tag2, event: Dose, fields: {drug: x, colour: red}, options: {mg: [1]}, at: [patient], key: "ctrl+x"}
  steps:
    - {text: Give it, done: {event: Dose, where: "dose > 1"}}
  cues:
    - {event: Pong, text: never}
  end_on: [Dose, Nope]
"""


def test_interaction_section_errors_name_file_line_and_fix(tmp_path):
    root = write_tree(
        tmp_path / "demo",
        {
            "pack.yaml": "name: demo\nversion: 1.0.0\nplugins: []\n",
            "systems.py": SYSTEMS,
            "prefabs/p.yaml": "pt:\n  visual: none\n  components:\n    Transform: {}\n"
            "cart:\n  visual: none\n  components:\n    Transform: {}\n",
            "scenarios/one.yaml": BAD,
            "scenarios/two.yaml": "duration: 1\nentities: []\ninteraction:\n  actions:\n"
            "    - {id: a, event: Dose, on: [x]}\n",
        },
    )
    with pytest.raises(PackError) as info:
        load_pack(root)
    found = [str(i) for i in info.value.issues]
    text = "\n".join(found)

    def has(*parts: str) -> None:
        assert any(all(p in line for p in parts) for line in found), (parts, text)

    has("one.yaml:7", "interaction.actions[0].options.mg", "expected a number")
    has("one.yaml:7", "interaction.actions[0]", "needs 'drug'")
    has("one.yaml:7", "at[0]", "'cart' has no Interactable", "add `Interactable")
    has("one.yaml:7", "at[1]", "no entity named 'nobody'")
    has("one.yaml:8", "duplicate action id 'give'")
    has("one.yaml:8", "unknown event 'Dosse'", "known events")
    has("one.yaml:9", "key 'g' is already bound to action 'give'")
    has("one.yaml:9", "target_field", "needs `at:`")
    has("one.yaml:10", "has no field 'colour'")
    has("one.yaml:10", "not a single letter")
    has("one.yaml:12", "undefined variable 'dose'", "Dose has fields")
    has("one.yaml:14", "unknown event 'Pong'")
    has("one.yaml:15", "unknown event 'Nope'")
    # YAML 1.1 reads a bare `on:` key as true: the schema error lists the allowed keys
    has("two.yaml:5", "read by YAML as true", "allowed keys: at,")


def test_a_person_can_do_everything_the_scripted_learner_does(emergency_pack, nursing_pack):
    """Every built-in scenario with a scripted learner and an interaction section offers
    each scripted action to a person (same event, same field values), so the person-driven
    path can reach every outcome the scripted one reaches."""
    checked = 0
    for pack in (emergency_pack, nursing_pack):
        for scenario in pack.scenarios.values():
            if scenario.interaction is None or not scenario.learner or scenario.name.endswith("_errors"):
                continue
            if any(a.target_field for a in scenario.interaction.actions):
                continue  # triage: the target comes from pointing (tests/test_desktop_* and headset tests)
            assert commands_for(scenario), scenario.name
            checked += 1
    assert checked >= 4


@pytest.mark.slow
def test_mode_and_learner_reach_the_attempt_and_xapi(person_code_blue):
    from vrmed.records.attempt import Attempt, AttemptScore, make_attempt
    from vrmed.records.xapi import build_statements, iri

    _, log = person_code_blue
    attempt = make_attempt(log, "learner-7f3a", AttemptScore(100.0, 100.0, True, {}, {}))
    assert (attempt.mode, attempt.learner_kind, attempt.input) == ("formative", "person", "desktop")
    again = Attempt.from_dict(attempt.to_dict(), "test")
    assert (again.mode, again.learner_kind, again.input) == ("formative", "person", "desktop")
    for st in build_statements(attempt, "https://lms.example.org/"):
        ext = st["context"]["extensions"]
        assert ext[iri("context", "mode")] == "formative" and ext[iri("context", "learner-kind")] == "person"


def test_time_pressure_from_adaptive_difficulty_divides_the_time_limit(emergency):
    from vrmed.adapt import adapted_pack

    def limit(pack: Any) -> float:
        session = build_session(pack, "code_blue", input_source=Timeline([]), display_rate=5)
        try:
            return float(session.app.resource(LearnerView).time_limit)
        finally:
            session.close()

    # the scenario's default level 0.3: time pressure 0.8 + 0.3 * (1.6 - 0.8) = 1.04
    assert limit(emergency) == pytest.approx(1500 / 1.04)
    hard = adapted_pack(emergency, "code_blue", {"level": 1.0, "parameters": {"time_pressure": 1.6}, "skill": "x"})
    assert limit(hard) == pytest.approx(1500 / 1.6)


@pytest.mark.parametrize("redraw_module", ["vrmed.desktop.play", "vrmed.xr.play"])
def test_redrawing_a_paused_frame_changes_nothing_a_replay_checks(emergency, redraw_module):
    """Pause screens redraw the last frame many times; the patient monitor (which follows the
    clock) must not append traces, so a paused session's final state equals an unpaused one."""
    import importlib

    redraw = importlib.import_module(redraw_module).redraw

    def digest(pauses: bool) -> str:
        session = build_session(emergency, "code_blue_pea", input_source=Timeline([]), display_rate=5)
        try:
            for _ in range(6):
                session.run(frames=2)
                if pauses:
                    for _ in range(3):
                        redraw(session.app)
            return session.app.state_digest()
        finally:
            session.close()

    assert digest(True) == digest(False)
