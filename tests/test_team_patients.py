"""Two patients in one scenario (issue #21): once the instructor adds a casualty, the
scenario's rubric, guidance steps and script read the events of the scenario's own patient
(``patient: patient`` in code_blue_team.yaml), a rule may name the casualty
(``patient: visitor``), a misspelt patient name is one error with file:line, and the
session replays exactly. Driven in process (TeamInput, no server)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from team_common import SCENARIO, emergency_pack

from vrmed.app import App
from vrmed.input import InputState
from vrmed.packs.issues import PackError
from vrmed.packs.loader import load_pack
from vrmed.scenario.interaction import GuidanceStep, Interaction
from vrmed.scenario.learner import LearnerPlugin, LearnerView
from vrmed.scenario.model import for_patient, patients_for
from vrmed.scenario.rubric import MISSED, NOT_APPLICABLE, evaluate_rubric, short_type
from vrmed.scenario.runtime import ScenarioState
from vrmed.session import build_session, replay
from vrmed.systems.clinical.events import DrugGiven
from vrmed.systems.clinical.metrics import resuscitation_metrics
from vrmed.team.roles import check_team, team_of
from vrmed.team.scoring import score_team
from vrmed.team.server import TeamInput

EPINEPHRINE_STEP = 4  # "Medications: epinephrine 1 mg IV/IO after the 2nd shock"


@pytest.fixture(scope="module")
def pack():
    return emergency_pack()


def _without(records: list[dict], event: str, patient: str | None = None) -> list[dict]:
    """The records less the events of one type (of one patient)."""
    return [r for r in records if not (short_type(r) == event and r["data"].get("patient") == patient)]


def _do(app, source: TeamInput, client: str, role: str, action: str, seconds: float = 0.25, **request) -> None:
    source.push(client, role, {}, [{"id": action, **request}])
    app.run(seconds=seconds)


def test_the_casualtys_events_do_not_complete_the_patients_step_script_or_rules(pack):
    """Epinephrine given to the added casualty leaves the patient's epinephrine step
    undone (the guidance still prompts it), shocks to the casualty do not count towards the
    patient's shocks in the script, and the patient's rules do not read the casualty's
    drugs; the same actions on the patient do. Compressions on the casualty fail the rule
    that names it, the team's compressor stint on the patient goes on, and the log replays
    exactly."""
    source = TeamInput()
    session = build_session(pack, SCENARIO, input_source=source, learner="person", display_rate=20)
    try:
        app = session.app
        app.run(seconds=3.0)  # VF from t = 2 s
        add = {"id": "team.casualty", "fields": {"casualty": "visitor", "position": [1.5, 0.1, 1.0]}}
        source.push("i", "instructor", {}, [add])
        app.run(seconds=0.25)
        _do(app, source, "l", "leader", "call_help")
        _do(app, source, "c1", "compressor", "start_compressions")
        _do(app, source, "l", "leader", "attach_pads")
        _do(app, source, "l", "leader", "analyse")
        _do(app, source, "l", "leader", "shock", fields={"energy_j": 200})
        _do(app, source, "a", "airway", "airway", fields={"kind": "bvm"})
        view, script = app.resource(LearnerView), app.resource(ScenarioState)
        assert view.done == [True, True, True, True, False] and script.vars["shocks"] == 1
        # the casualty gets epinephrine (an anaphylaxis-style IM dose) and two shocks
        _do(app, source, "m", "medications", "epinephrine", fields={"dose": 0.5, "route": "im"}, patient="visitor")
        _do(app, source, "l", "leader", "shock", fields={"energy_j": 200}, patient="visitor")
        _do(app, source, "l", "leader", "shock", fields={"energy_j": 200}, patient="visitor")
        _do(app, source, "c2", "compressor", "start_compressions", patient="visitor")
        _do(app, source, "l", "leader", "call_help", patient="visitor")
        assert view.done[EPINEPHRINE_STEP] is False and view.current_step == EPINEPHRINE_STEP  # still prompted
        # without telling patients apart, the third shock of the session would have been ROSC
        assert script.state == "vf_arrest" and script.vars["shocks"] == 1
        assert script.counts["ShockDelivered"] == 1 and "DrugGiven" not in script.counts  # count.EVENT too
        _do(app, source, "m", "medications", "epinephrine", fields={"dose": 1, "route": "iv"})  # the patient's
        assert view.done[EPINEPHRINE_STEP] is True and view.current_step is None
        end = float(app.clock.time)

        records = session.recorder.log.event_records()
        steps = [r["data"]["index"] for r in records if short_type(r) == "StepCompleted"]
        assert steps == [0, 1, 2, 3, EPINEPHRINE_STEP]
        drugs = [r["data"]["patient"] for r in records if short_type(r) == "DrugGiven"]
        assert drugs == ["visitor", "patient"]
        rubric = session.scenario.rubric
        result = evaluate_rubric(rubric, records, end)
        # the patient had one shock before its epinephrine (the casualty's two are not counted)
        after = result.rule("epinephrine_after_second_shock")
        assert after.status == MISSED and "1 ShockDelivered before it" in after.detail
        assert result.rule("epinephrine_dose").passed  # the casualty's 0.5 mg IM is not the patient's dose
        assert result.rule("shock_energy").value == 0
        visitor = result.rule("visitor_no_cpr_with_pulse")
        assert visitor.status == MISSED and visitor.value == 1 and visitor.earned == 0.0
        added = next(r["t"] for r in records if short_type(r) == "CasualtyAdded")
        helped = [r["t"] for r in records if short_type(r) == "HelpCalled"]  # the patient's, then the visitor's
        help_for_visitor = result.rule("visitor_help_called")
        assert help_for_visitor.passed and help_for_visitor.earned == 5.0
        assert help_for_visitor.value == pytest.approx(helped[1] - added)
        # the rules naming the casualty: met when it gets no compressions; missed when no one
        # calls help for it; not applicable (out of the score) when no casualty was added,
        # as in every single-patient run, whose score is therefore unchanged
        kept = _without(records, "CompressionsStarted", "visitor")
        met = evaluate_rubric(rubric, kept, end).rule("visitor_no_cpr_with_pulse")
        assert met.passed and met.earned == 5.0
        unhelped = evaluate_rubric(rubric, _without(kept, "HelpCalled", "visitor"), end).rule("visitor_help_called")
        assert unhelped.status == MISSED and "never happened" in unhelped.detail
        alone = evaluate_rubric(rubric, _without(kept, "CasualtyAdded"), end)
        assert {alone.rule(r).status for r in ("visitor_no_cpr_with_pulse", "visitor_help_called")} == {NOT_APPLICABLE}

        # team scoring: compressions on the casualty do not end the patient's compressor's stint
        team = score_team(records, team_of(session.scenario), end)
        start = next(r["t"] for r in records if short_type(r) == "CompressionsStarted")
        assert team.learners["c1"].compressing_s == pytest.approx(end - start)
        assert team.learners["c2"].compressing_s == 0.0
        # resuscitation metrics: the casualty's two shocks and compressions are not the patient's
        mine = patients_for(None, session.scenario.patient)
        metrics = resuscitation_metrics(records, end, result, mine)
        assert metrics["shocks"] == 1 and metrics["pauses"] == 0
        assert resuscitation_metrics(records, end, result)["shocks"] == 3  # unfiltered: all of them
        acted = [(r["data"]["action"], r["data"]["patient"]) for r in records if short_type(r) == "TeamActed"]
        assert acted[-3:] == [("start_compressions", "visitor"), ("call_help", "visitor"), ("epinephrine", "patient")]

        replayed, again = replay(session.finish(), pack=pack)
        again.close()
        assert replayed.ok, replayed.first_difference
    finally:
        session.close()


def test_a_misspelt_patient_is_one_error_with_file_line_and_a_suggestion(tmp_path: Path, pack):
    """``patient:`` names the scenario's patient (one of its entities) and, on a rule,
    guidance step or transition, one of its patients or a declared casualty (or ``any``)."""
    root = tmp_path / "emergency"
    others = {p.name for p in (Path(pack.root) / "scenarios").glob("*.yaml")} - {f"{SCENARIO}.yaml"}
    shutil.copytree(pack.root, root, ignore=lambda _d, names: [n for n in names if n in others])
    path = root / "scenarios" / f"{SCENARIO}.yaml"
    text = path.read_text()
    bad = text.replace("patient: visitor, description", "patient: vistor, description")
    bad = bad.replace("\npatient: patient\n", "\npatient: patinet\n")
    bad = bad.replace(
        '    - {text: "Compressor: start chest compressions", done: CompressionsStarted}',
        '    - {text: "Compressor: start chest compressions", done: CompressionsStarted, patient: patients}',
    )
    bad = bad.replace(
        "        - after: 2\n          to: vf_arrest",
        "        - after: 2\n          patient: any\n          to: vf_arrest",
    )
    assert bad.count("vistor") == bad.count("patinet") == bad.count("patients}") == 1 and "patient: any" in bad
    path.write_text(bad)
    manifest = root / "pack.yaml"  # the copy has only this scenario
    manifest.write_text(
        manifest.read_text().replace("default_scenario: code_blue\n", f"default_scenario: {SCENARIO}\n")
    )
    lines = bad.splitlines()

    def line(needle: str) -> int:
        return next(i for i, ln in enumerate(lines, 1) if needle in ln)

    with pytest.raises(PackError) as err:
        load_pack(root, "path")
    message = str(err.value)
    f = f"{SCENARIO}.yaml"
    assert (
        f"{f}:{line('patient: vistor')}: rubric.rules[11].patient: unknown patient 'vistor' "
        "(did you mean 'visitor'?); patients: patient, visitor, any"
    ) in message, message
    assert (
        f"{f}:{line('patient: patinet')}: patient: unknown entity 'patinet' (did you mean 'patient'?); "
        "the scenario's patient must be one of its entities:"
    ) in message
    assert (
        f"{f}:{line('patients}')}: interaction.steps[1].patient: unknown patient 'patients' (did you mean 'patient'?)"
    ) in message
    assert (
        f"{f}:{line('patient: any')}: script.states.ward.transitions[0].patient: "
        "'patient' chooses whose events fire a transition: it needs 'event'"
    ) in message
    assert "(4 problems)" in message  # one error per mistake, nothing else


def test_a_team_that_may_add_a_casualty_must_declare_the_scenarios_patient(pack):
    """Without a declared patient the rubric would read the casualty's events as the
    patient's: the team check says so (the loader reports it with file:line)."""
    data = yaml.safe_load((Path(pack.root) / "scenarios" / f"{SCENARIO}.yaml").read_text())
    assert list(check_team(data, prefabs=sorted(pack.scenario(SCENARIO).prefabs))) == []
    del data["patient"]
    ((key, message),) = list(check_team(data, prefabs=sorted(pack.scenario(SCENARIO).prefabs)))
    assert (
        key == ("settings", "team", "casualties") and "declares its own patient (top-level `patient: NAME`)" in message
    )


def test_which_events_a_rule_reads():
    """``""`` is the only patient, so it belongs to the scenario's patient; a named other
    patient owns only its own events; ``any`` (or no declared patient) reads every event;
    an event that acts on no patient is read by every rule."""
    assert patients_for(None, "patient") == patients_for("patient", "patient") == ("", "patient")
    assert patients_for("visitor", "patient") == ("visitor",)
    assert patients_for("any", "patient") is None and patients_for(None, None) is None
    mine, theirs = ("", "patient"), ("visitor",)
    assert for_patient({"patient": ""}, mine) and for_patient({"patient": "patient"}, mine)
    assert not for_patient({"patient": "visitor"}, mine) and not for_patient({"patient": ""}, theirs)
    assert for_patient({"casualty": "visitor"}, mine) and for_patient({"patient": "bob"}, None)


def test_end_on_and_steps_answer_to_the_scenarios_patient_only():
    """A bare App with the learner plugin: the casualty's event neither completes the step
    nor ends the session (``interaction.end_on``); the patient's (``""``: the only one) does."""
    interaction = Interaction(
        steps=(GuidanceStep("Epinephrine", "DrugGiven", None, ("", "patient")),),
        end_on=("DrugGiven",),
        patients=("", "patient"),
    )
    app = App()
    if app.try_resource(InputState) is None:
        app.insert_resource(InputState())
    app.add_plugin(LearnerPlugin(interaction))
    view = app.resource(LearnerView)
    app.send(DrugGiven(drug="epinephrine", dose=1.0, unit="mg", route="iv", patient="visitor"))
    app.step(2)
    assert (view.ended, view.done) == (False, [False])
    app.send(DrugGiven(drug="epinephrine", dose=1.0, unit="mg", route="iv"))
    app.step(2)
    assert (view.ended, view.end_reason, view.done) == (True, "DrugGiven", [True])
