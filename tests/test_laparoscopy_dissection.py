"""The laparoscopy pack's retraction and dissection task: expert and novice scripted trainees
end to end, tissue damage from events, determinism and re-scoring a saved session."""

from __future__ import annotations

import numpy as np
import pytest

from vrmed.api import ScriptedInput
from vrmed.components.tissue.softbody import Material, SoftBody
from vrmed.content.laparoscopy.systems import Dissection, grow_dissection, original_tets
from vrmed.mesh import box_tets
from vrmed.recording import SessionLog
from vrmed.records.scoring import score_log
from vrmed.session import build_session
from vrmed.systems.tissue.cutting import cut_body


@pytest.fixture(scope="module")
def pack(laparoscopy_pack):
    return laparoscopy_pack


def run_scenario(pack, name, seed=0, input_source=None):
    session = build_session(pack, name, seed=seed, input_source=input_source)
    try:
        session.run(seconds=session.scenario.duration)
        return session.finish()
    finally:
        session.close()


@pytest.fixture(scope="module")
def logs(dissection_logs):
    return dissection_logs


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


def test_a_cut_that_subdivides_tets_extends_the_dissection_state():
    """A scissors cut adds tets (new source ids above the largest): the dissection's per-id
    state grows with them instead of failing on mismatched lengths, a new tet is on the
    marked line exactly when its rest centroid is, and it is scored as the original tet it
    lies in (every corner of it inside that tet at rest), so the strained and burned state
    stays per original tet: a cut does not multiply the tets counted."""
    body = SoftBody.from_mesh(
        box_tets((0.03, 0.01, 0.02), (3, 1, 2), origin=(-0.015, 0.0, -0.01)), Material(5.4e3, 0.45, 1060.0)
    )
    n0 = body.n_tets
    v0, inv = original_tets(body)
    d = Dissection(
        0, np.zeros(n0, bool), 0.3, 0.6, np.ones(n0, bool), np.ones(n0, bool), None, line_x=0.004,
        line_half_width=0.002, rest_v0=v0, rest_inv=inv, root=np.arange(n0),
    )  # fmt: skip
    cut_body(body, np.array([0.0033, 0.005, -0.02]), np.array([0.0033, 0.005, 0.02]), np.array([1.0, 0.0, 0.0]), 0.05)
    assert body.n_tets > n0
    grow_dissection(d, body)
    assert d.line.size == d.root.size == body.n_tets and d.strained.size == d.burned.size == n0
    rest = np.empty((body.n_tets, 4, 3))
    rest[body.tet_index] = body.rest_points[body.tets]
    expect = np.abs(rest[n0:].mean(axis=1)[:, 0] - 0.004) <= 0.002
    assert expect.any() and not expect.all()
    assert np.array_equal(d.line[n0:], expect)
    # each new tet's corners lie in its root's original tet (barycentric coordinates >= 0)
    root = d.root[n0:]
    assert (root >= 0).all() and (root < n0).all()
    b = np.einsum("kij,kcj->kci", inv[root], rest[n0:] - v0[root][:, None])
    assert np.minimum(b.min(axis=2), 1.0 - b.sum(axis=2)).min() > -1e-9
    assert len(set(root.tolist())) > 1  # the cut divided more than one tet


def shifted_script(pack, name, shift):
    """The scenario's own scripted trainee (the pack's dissection_script from its settings),
    every keyframe ``shift`` s later: the session seed does not reach the script or the
    tissue (seeds 0-4 give bit-identical sessions), a start a few ms later does."""
    settings = pack.scenario(name).settings
    style = pack.module.STYLES[settings["trainee"]]
    tracks, _ = pack.module.dissection_script(settings, style, seed=int(settings["seed"]), start=0.5 + shift)
    return ScriptedInput(tracks)


@pytest.mark.slow
def test_expert_passes_when_it_starts_5_ms_later(pack):
    """The hook expert is robust to its timing: started 0, 5, 10, 15 or 20 ms later it passed
    every time (measured: 31-33 over-strained tets, the limit 40; 7 burned outside, limit 10;
    score 72.4-73.4); +5 ms is the worst of those (33 over-strained, as at 0 ms)."""
    log = run_scenario(pack, "dissection", input_source=shifted_script(pack, "dissection", 0.005))
    s = pack.module.score(log)
    assert s["passed"] and s["metrics"]["completed"] == 1.0, s["metrics"]
    assert s["metrics"]["overstrained"] <= 36 and s["metrics"]["burned_outside"] <= 8, s["metrics"]
