"""The laparoscopy pack's retraction and dissection task: expert and novice scripted trainees
end to end, tissue damage from events, determinism and re-scoring a saved session."""

from __future__ import annotations

import pytest

from vrmed.recording import SessionLog
from vrmed.records.scoring import score_log
from vrmed.session import build_session, open_target


@pytest.fixture(scope="module")
def pack():
    return open_target("laparoscopy")[0]


def run_scenario(pack, name, seed=0):
    session = build_session(pack, name, seed=seed)
    try:
        session.run(seconds=session.scenario.duration)
        return session.finish()
    finally:
        session.close()


@pytest.fixture(scope="module")
def logs(pack):
    return {name: run_scenario(pack, name) for name in ("dissection", "dissection_novice")}


def kinds(log, kind):
    return [e for e in log.events if e["type"].endswith(":" + kind)]


def test_both_trainees_retract_expose_and_divide_the_line(pack, logs):
    for log in logs.values():
        grasps = kinds(log, "InstrumentGrasped")
        assert len(grasps) == 1 and grasps[0]["data"]["target"] == "tissue"
        assert len(kinds(log, "TargetExposed")) == 1 and len(kinds(log, "TaskCompleted")) == 1
        assert kinds(log, "TissueBurned") and len(kinds(log, "AllowedRegion")) == 1
    s = pack.module.score(logs["dissection"])
    assert s["passed"] and s["metrics"]["completed"] == 1.0 and 0 < s["score"] <= 100
    assert not pack.module.score(logs["dissection_novice"])["passed"]


def test_expert_beats_novice_on_damage_time_and_motion(pack, logs):
    e = pack.module.score(logs["dissection"])["metrics"]
    n = pack.module.score(logs["dissection_novice"])["metrics"]
    lower = ["task_time_s", "burned_outside", "overstrained", "tip_out_of_view_s"]
    for side in ("left", "right"):
        lower += [f"path_length_{side}_m", f"movements_{side}", f"idle_time_{side}_s", f"normalized_jerk_{side}"]
    for key in lower:
        assert e[key] < n[key], key
    for key in ("score", "economy_left", "economy_right", "bimanual_dexterity"):
        assert e[key] > n[key], key
    assert e["tears"] <= n["tears"]


def test_damage_metrics_match_the_logged_events(pack, logs):
    log = logs["dissection_novice"]
    m = pack.module.score(log)["metrics"]
    region = set(kinds(log, "AllowedRegion")[0]["data"]["tets"])
    burned = [t for e in kinds(log, "TissueBurned") for t in e["data"]["tets"]]
    assert m["burned_outside"] == sum(1 for t in burned if t not in region)
    assert m["burned_inside"] == sum(1 for t in burned if t in region)
    strained = [t for e in kinds(log, "TissueOverstrained") for t in e["data"]["tets"]]
    assert m["overstrained"] == len(strained) == len(set(strained))  # each tet counted once


def test_same_seed_same_session_and_rescoring(pack, logs, tmp_path):
    again = run_scenario(pack, "dissection")
    first = logs["dissection"]
    assert again.footer["digest"] == first.footer["digest"]
    assert again.event_records() == first.event_records()
    stored = SessionLog.read(first.write(tmp_path / "d.jsonl"))
    assert score_log(stored, pack).to_dict() == score_log(first, pack).to_dict()
