"""Pack authoring: a scenario scores itself from its rubric, "from any state" transitions,
validation of names with file:line, a pack's own validation hook, mapping fields and the
one scale rule, and pack data a test can index."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import write_tree

from vrmed.api import Transform, VisualMesh
from vrmed.cli import cli
from vrmed.packs import PackError, load_pack
from vrmed.records.scoring import score_log
from vrmed.scenario import ScenarioState
from vrmed.session import build_session

SYSTEMS = """
from dataclasses import dataclass, field

import vrmed


@dataclass(frozen=True)
class Washed(vrmed.Event):
    seconds: float = 0.0


@dataclass(frozen=True)
class Gloved(vrmed.Event):
    pass


@dataclass(frozen=True)
class Collapsed(vrmed.Event):
    pass


@dataclass(frozen=True)
class Punctured(vrmed.Event):
    gauge: int = 20


@vrmed.component
@dataclass
class Kit:
    labels: dict = field(default_factory=dict)
    sizes: list = field(default_factory=list)
    gauge: int = 20


def validate_pack(pack, report):
    for scenario in pack.scenarios.values():
        for entity in scenario.entities:
            kit = entity.components.get("Kit")
            if kit is not None and kit.get("gauge", 20) not in (18, 20, 22):
                report((kit, "gauge"), f"gauge {kit['gauge']} is not a cannula size (18, 20 or 22 G)")
"""

SCENARIO = """
duration: 4
rates: {display: 20, logic: 20, physics: null}
entities:
  - name: kit
    components:
      Kit: {labels: {a: 1, b: two}, sizes: [1, 2], gauge: 20}
      Transform: {scale: 2}
script:
  initial: prepare
  any_state:
    - event: Collapsed
      to: resus
      except: [cannulate]
  states:
    prepare:
      transitions:
        - {event: Washed, to: glove}
    glove:
      transitions:
        - {event: Gloved, to: cannulate}
    cannulate:
      transitions:
        - {event: Punctured, to: debrief}
    resus:
      on_enter: [{instruction: Start CPR}]
      transitions:
        - {after: 1, to: debrief}
    debrief:
      final: true
rubric:
  pass_score: 60
  rules:
    - {id: wash_first, kind: deadline, event: Washed, within: 2, points: 10, critical: true}
    - {id: no_collapse, kind: forbidden, event: Collapsed, points: 10}
    - {id: puncture, kind: deadline, event: Punctured, within: 3, points: 10}
"""

LEARNERS = {
    # the happy path: wash, glove, puncture
    "ok": "learner:\n  - {t: 0.5, event: Washed, seconds: 20}\n  - {t: 1.0, event: Gloved}\n"
    "  - {t: 1.5, event: Punctured, gauge: 20}\n",
    # a collapse while gloving interrupts: resus, then debrief; the glove and puncture come too late
    "collapse": "learner:\n  - {t: 0.5, event: Washed}\n  - {t: 0.8, event: Collapsed}\n"
    "  - {t: 1.0, event: Gloved}\n  - {t: 1.2, event: Punctured}\n",
    # a collapse during cannulation is excepted: the puncture still ends the scenario normally
    "excepted": "learner:\n  - {t: 0.5, event: Washed}\n  - {t: 1.0, event: Gloved}\n"
    "  - {t: 1.2, event: Collapsed}\n  - {t: 1.5, event: Punctured}\n",
}


def make_pack(root, scenario: str = SCENARIO, systems: str = SYSTEMS, learners: dict | None = None):
    files = {
        "pack.yaml": "name: drill\nversion: 0.1.0\ndefault_scenario: ok\n",
        "systems.py": systems,
        **{f"scenarios/{name}.yaml": scenario + text for name, text in (learners or LEARNERS).items()},
    }
    return write_tree(root / "drill", files)


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    return load_pack(make_pack(tmp_path_factory.mktemp("authoring")))


def run(pack, name):
    session = build_session(pack, name)
    try:
        session.run()
        log = session.finish()
        return log, session.app.resource(ScenarioState)
    finally:
        session.close()


def test_global_transition_interrupts_any_state(pack):
    _, state = run(pack, "ok")
    assert [h[2] for h in state.history] == ["prepare", "glove", "cannulate", "debrief"]
    log, state = run(pack, "collapse")
    assert [(h[1], h[2]) for h in state.history][1:] == [("prepare", "glove"), ("glove", "resus"), ("resus", "debrief")]
    assert state.history[2][3] == "on Collapsed" and state.history[3][0] == pytest.approx(1.8, abs=0.06)
    _, state = run(pack, "excepted")  # excepted in cannulate: the collapse changes nothing
    assert [h[2] for h in state.history] == ["prepare", "glove", "cannulate", "debrief"]


def test_scenario_scores_itself_from_its_rubric(pack):
    """No score(log) in systems.py: the rubric is the score (weights, critical rules, pass mark)."""
    assert not hasattr(pack.module, "score")
    log, _ = run(pack, "ok")
    good = score_log(log, pack)
    assert (good.score, good.max_score, good.passed) == (100.0, 100.0, True)
    assert [r["id"] for r in good.rubric["rules"]] == ["wash_first", "no_collapse", "puncture"]
    log, _ = run(pack, "collapse")
    bad = score_log(log, pack)
    # wash met (10), no_collapse missed, puncture met (at 1.2 s): 20 of 30 points
    assert bad.score == pytest.approx(66.67) and bad.passed
    status = {r["id"]: r.get("status", "met" if r["passed"] else "missed") for r in bad.rubric["rules"]}
    assert status == {"wash_first": "met", "no_collapse": "missed", "puncture": "met"}


def test_run_and_report_print_the_rule_by_rule_table(pack, tmp_path):
    runner = CliRunner()
    log = tmp_path / "collapse.jsonl"
    out = runner.invoke(cli, ["run", f"{pack.root}/collapse", "--headless", "--record", str(log)])
    assert out.exit_code == 0, out.output
    text = out.output
    assert "rubric: score 66.67% (pass mark 60%" in text
    lines = {line.split()[-1] if "critical" not in line else line.split()[-3]: line for line in text.splitlines()}
    assert any(line.split()[0] == "MISSED" and "no_collapse" in line and "0.8 s" in line for line in lines.values())
    out = runner.invoke(cli, ["report", str(log), "-o", str(tmp_path / "r.html")])
    assert out.exit_code == 0 and "not installed here" in out.output  # a path pack needs --pack
    out = runner.invoke(cli, ["report", str(log), "--pack", str(pack.root), "-o", str(tmp_path / "r.html")])
    assert out.exit_code == 0, out.output
    assert "score 66.67/100  PASSED" in out.output and "no_collapse" in out.output
    assert "Rubric, rule by rule" in (tmp_path / "r.html").read_text()


def _problems(root) -> str:
    with pytest.raises(PackError) as info:
        load_pack(root)
    return str(info.value)


def test_misspelled_names_are_validation_errors_with_file_and_line(tmp_path):
    bad = SCENARIO.replace("on_enter: [{instruction: Start CPR}]", "on_enter: [{instrution: Start CPR}]")
    bad = bad.replace("to: resus\n      except: [cannulate]", "to: rescus\n      except: [canulate]")
    text = _problems(make_pack(tmp_path, bad, learners={"ok": "learner:\n  - {t: 0.5, event: Wahsed}\n"}))
    assert "drill/scenarios/ok.yaml:12: script.any_state[0].to: unknown state 'rescus'" in text
    assert "drill/scenarios/ok.yaml:13: script.any_state[0].except[0]: unknown state 'canulate'" in text
    assert (
        "drill/scenarios/ok.yaml:25: script.states.resus.on_enter[0]: unknown action 'instrution'; actions: "
        "despawn, end, instruction, physiology, prompt, set, spawn (did you mean 'instruction'?)" in text
    )
    assert "drill/scenarios/ok.yaml:37: learner[0].event: unknown event 'Wahsed'; known events: " in text
    assert text.split("unknown event 'Wahsed'")[1].split("\n")[0].endswith("Washed (did you mean 'Washed'?)")


def test_pack_validation_hook_reports_with_file_and_line(tmp_path):
    text = _problems(make_pack(tmp_path / "a", SCENARIO.replace("gauge: 20}", "gauge: 19}"), learners={"ok": ""}))
    assert "drill/scenarios/ok.yaml:6: entities[0].components.Kit.gauge: gauge 19 is not a cannula size" in text
    broken = SYSTEMS.replace('kit.get("gauge", 20)', "kit.get('gauge', 20) / 0")
    text = _problems(make_pack(tmp_path / "b", systems=broken, learners={"ok": ""}))
    line = next(i for i, s in enumerate(broken.lstrip("\n").splitlines(), 1) if "/ 0" in s)
    assert f"drill/systems.py:{line}: validate_pack: the pack's validate_pack raised ZeroDivisionError" in text


def test_mapping_fields_scale_rule_and_indexable_pack_data(pack, tmp_path):
    scenario = pack.scenarios["ok"]
    kit = scenario.entity("kit")
    assert kit.components["Kit"]["labels"] == {"a": 1, "b": "two"} and "sizes" in kit.components["Kit"]
    assert kit.component("Kit").labels == {"a": 1, "b": "two"} and kit.component("Kit").sizes == [1, 2]
    assert kit.component("Transform").scale.tolist() == [2.0, 2.0, 2.0]  # one number: uniform
    with pytest.raises(Exception, match="no entity named 'nope'; named entities: kit"):
        scenario.entity("nope")
    # VisualMesh.scale follows the same rule as Transform.scale, from YAML and from Python
    obj = tmp_path / "tri.obj"
    obj.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    assert VisualMesh(str(obj), scale=0.5).scale.tolist() == [0.5, 0.5, 0.5]
    assert VisualMesh(str(obj), scale=[1, 2, 3]).scale.tolist() == [1.0, 2.0, 3.0]
    assert np.array_equal(Transform().scale, np.ones(3))
    files = {
        "pack.yaml": "name: scales\nversion: 0.1.0\n",
        "assets/tri.obj": obj.read_text(),
        "scenarios/s.yaml": "entities:\n  - components:\n      Transform: {scale: [1, 2, 3]}\n"
        "      VisualMesh: {mesh: assets/tri.obj, scale: 0.25}\n"
        "  - components:\n      Transform: {scale: true}\n      VisualMesh: {mesh: assets/tri.obj, scale: [1, 2]}\n",
    }
    text = _problems(write_tree(tmp_path / "scales", files))
    assert "entities[1].components.Transform.scale: expected a number (uniform) or a list of 3 numbers" in text
    assert "entities[1].components.VisualMesh.scale: expected a number (uniform) or a list of 3 numbers" in text
    files["scenarios/s.yaml"] = files["scenarios/s.yaml"].split("  - components:\n      Transform: {scale: true}")[0]
    spec = load_pack(write_tree(tmp_path / "scales_ok", files)).scenarios["s"].entities[0]
    assert spec.component("VisualMesh").scale.tolist() == [0.25] * 3
    assert spec.component("Transform").scale.tolist() == [1.0, 2.0, 3.0]


def test_after_takes_a_short_name_of_the_pack_s_own_system(tmp_path):
    systems = """
import vrmed

ORDER = []


@vrmed.system("logic", in_set="logic.scenario", after="second")
def first(app):
    ORDER.append("first")


@vrmed.system("logic", in_set="logic.scenario", priority=5)  # alone it would run last
def second(app):
    ORDER.append("second")
"""
    files = {
        "pack.yaml": "name: order\nversion: 0.1.0\nsystems: [first, second]\n",
        "systems.py": systems,
        "scenarios/s.yaml": "duration: 0.1\nentities: []\n",
    }
    session = build_session(load_pack(write_tree(tmp_path / "order", files)), "s")
    try:
        logic = session.app.system_order()["logic"]
        assert logic.index("order.second") < logic.index("order.first")  # after= beat the priority
    finally:
        session.close()


def test_metric_targets_carry_their_direction():
    from vrmed.records.scoring import AttemptScore
    from vrmed.scenario.scorecard import target_lines

    result = {
        "score": 80,
        "max_score": 100,
        "passed": True,
        "metrics": {"time_s": 95.0, "path_m": 1.2, "accuracy": 0.7},
        "targets": {"time_s": {"target": 120, "better": "lower"}, "accuracy": {"target": 0.9, "better": "higher"},
                    "path_m": 2.0},
    }  # fmt: skip
    score = AttemptScore.from_result(result, "drill")
    assert score.targets == {"time_s": 120.0, "accuracy": 0.9, "path_m": 2.0}
    assert (score.target_met("time_s"), score.target_met("accuracy"), score.target_met("path_m")) == (True, False, None)
    lines = {line.split()[0]: line for line in target_lines(score.to_dict())}
    assert "<= 120 (lower is better)" in lines["time_s"] and lines["time_s"].endswith("met")
    assert ">= 0.9 (higher is better)" in lines["accuracy"] and lines["accuracy"].endswith("MISSED")
    assert lines["path_m"].endswith("target 2")
    bad = dict(result, targets={"time_s": {"target": 1, "better": "faster"}})
    with pytest.raises(
        Exception, match=r"targets\['time_s'\] must be a number or \{target: NUMBER, better: lower\|higher\}"
    ):
        AttemptScore.from_result(bad, "drill")
