"""anatomy: real geometry from the MNI ICBM152 template (sizes, the slice of the source
volume under the clipping plane), the question bank checked at load time with file:line
errors, the quiz (correct passes, errors fail on the right rules), per-structure mastery
with spaced repetition, replay and xAPI."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import trimesh

from vrmed.api import Interactable, Name
from vrmed.packs.loader import PackError, load_pack
from vrmed.recording import SessionLog
from vrmed.records import build_statements, make_attempt
from vrmed.records.scoring import score_log
from vrmed.records.xapi import validate_statement
from vrmed.scenario import ScenarioState, evaluate_rubric
from vrmed.session import build_session, open_target, replay

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pack():
    return open_target("anatomy")[0]


def test_meshes_are_the_template_brain(pack):
    """Each hemisphere's outer surface spans the MNI152 brain: ~74 mm from the midline,
    ~180 mm front to back, ~160 mm tall; white matter lies inside the cortex's bounds."""
    bounds = {}
    for name in ("brain_left", "brain_right", "white_matter_left", "white_matter_right"):
        mesh = trimesh.load(pack.root / "assets" / f"{name}.obj")
        bounds[name] = mesh.bounds * 1000.0
    lo, hi = bounds["brain_left"]
    assert hi[0] <= 0.0 and 65 < -lo[0] < 80  # left of the midline
    assert 165 < hi[2] - lo[2] < 195 and 145 < hi[1] - lo[1] < 170
    assert np.allclose(bounds["brain_left"][:, 1:], bounds["brain_right"][:, 1:], atol=2.0)  # symmetric template
    for side in ("left", "right"):
        w, c = bounds[f"white_matter_{side}"], bounds[f"brain_{side}"]
        assert np.all(w[0] >= c[0] - 1e-6) and np.all(w[1] <= c[1] + 1e-6)


def test_question_bank_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "anatomy"
    shutil.copytree(REPO / "content" / "anatomy", bad, ignore=shutil.ignore_patterns("__pycache__"))
    path = bad / "scenarios" / "brain_quiz.yaml"
    text = path.read_text()
    text = text.replace("{kind: identify, structure: cortex_right}", "{kind: identify, structure: cortex_rigth}")
    text = text.replace("choices: [cortex_left, cortex_right]", "choices: [cortex_left, white_matter_left]")
    path.write_text(text)
    with pytest.raises(PackError) as err:
        load_pack(bad)
    message = str(err.value)
    assert "brain_quiz.yaml:" in message
    assert "question 1: unknown structure 'cortex_rigth'" in message
    assert "question 5: the answer 'cortex_right' is not among its choices" in message


@pytest.fixture(scope="module")
def runs(pack, tmp_path_factory):
    out = {}
    for name in ("brain_quiz", "brain_quiz_errors"):
        session = build_session(pack, name, seed=0, display_rate=10)
        try:
            session.run()
            log = session.finish()
            section = [c for _, c in session.app.query(pack.module.CrossSection)]
            out[name] = {
                "result": evaluate_rubric(session.scenario.rubric, log.events, float(session.app.clock.frame_time)),
                "outcome": session.app.resource(ScenarioState).outcome,
                "log": log.write(tmp_path_factory.mktemp(name) / "s.jsonl"),
                "slice": section[0].image.copy() if section else None,
                "enabled": {
                    n.value: t.enabled
                    for e, n in session.app.query(Name)
                    if (t := session.app.try_get(e, Interactable))
                },
            }
        finally:
            session.close()
    return out


ERRORS = {"accuracy", "identify_correct", "relations_correct", "no_side_confusion", "timely", "cross_section"}


def test_correct_learner_passes_and_errors_are_caught(runs):
    good, bad = runs["brain_quiz"], runs["brain_quiz_errors"]
    assert good["result"].passed and good["result"].score == 100.0 and good["outcome"] == "quiz_complete"
    assert not bad["result"].passed and {r.id for r in bad["result"].rules if not r.passed} == ERRORS


def test_peeling_lets_the_pointer_reach_the_layer_beneath(runs):
    assert runs["brain_quiz"]["enabled"] == {
        "cortex_left": False,
        "cortex_right": False,
        "white_matter_left": True,
        "white_matter_right": True,
    }
    assert all(runs["brain_quiz_errors"]["enabled"].values())  # never peeled


def test_cross_section_is_the_source_volume_slice(pack, runs):
    with np.load(pack.root / "assets" / "mni152_t1_2mm.npz") as data:
        t1, affine = data["t1"], data["affine"]
    k = int(round((10.0 - affine[2, 3]) / affine[2, 2]))  # the axial plane z = 10 mm (MNI)
    assert np.array_equal(runs["brain_quiz"]["slice"], t1[:, :, k])
    assert runs["brain_quiz"]["slice"].shape == t1.shape[:2] and runs["brain_quiz"]["slice"].max() > 100


@pytest.mark.slow
def test_mastery_spaced_repetition_replay_and_xapi(pack, runs):
    logs = [SessionLog.read(runs[n]["log"]) for n in ("brain_quiz_errors", "brain_quiz")]  # then a better session
    m = pack.module.mastery(logs)
    # cortex_right (questions 1 and 5): both wrong in the first session, both right in the second
    assert m["cortex_right"]["attempts"] == 4 and m["cortex_right"]["correct"] == 2 and m["cortex_right"]["box"] == 2
    assert m["white_matter_right"]["box"] == 2 and m["white_matter_right"]["review_in_days"] == 3
    # white_matter_left: missed (box 0), then right three times: box 3, review in 7 days
    assert m["white_matter_left"]["box"] == 3 and m["white_matter_left"]["review_in_days"] == 7
    only_errors = pack.module.mastery(logs[:1])
    plan = pack.module.review_plan(logs[:1])
    assert plan[0] in {n for n, s in only_errors.items() if s["box"] == 0} and "white_matter_right" not in plan[:2]
    result, again = replay(logs[0])
    again.close()
    assert result.ok, result.first_difference
    scored = score_log(logs[0])
    assert not scored.passed and scored.metrics["accuracy"] == pytest.approx(1 / 3, abs=1e-3)
    statements = build_statements(make_attempt(logs[0], "l-" + "0" * 32, scored), "https://lms.example.org/")
    assert statements and all(validate_statement(s) == [] for s in statements)


def test_every_scripted_action_is_offered_to_a_person(pack):
    actions = pack.scenario("brain_quiz").interaction.actions
    for name in ("brain_quiz", "brain_quiz_errors"):
        for act in pack.scenario(name).learner:
            ok = False
            for spec in actions:
                if spec.event is not act.event:
                    continue
                if spec.target_field is not None:
                    ok |= act.fields[spec.target_field] in spec.at
                else:
                    ok |= all(act.fields.get(k) == v for k, v in spec.fields.items()) and all(
                        act.fields.get(n) in values for n, values in spec.options
                    )
            assert ok, (name, act.event.__name__, act.fields)
