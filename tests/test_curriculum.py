"""Curricula: validation, proficiency ("N consecutive attempts at proficiency"),
prerequisites, feedback from the metrics that fell short, and `vrmed progress`."""

from __future__ import annotations

import json
import textwrap

import pytest
from click.testing import CliRunner
from records_env import records_env

from vrmed.cli import cli
from vrmed.curriculum import Curriculum, CurriculumError, next_module, progress
from vrmed.records import Attempt, AttemptScore

CURRICULUM = textwrap.dedent("""
    name: lap-basics
    title: Laparoscopic basics
    modules:
      - id: pegs
        title: Peg transfer
        scenario: fls/peg_transfer
        proficiency:
          consecutive: 2
          metrics:
            time_s: {at_most: target, label: completion time, hint: move the next peg while the grasper travels}
            path_length_m: {at_most: 1.0, label: path length, hint: plan your moves before lifting}
            drops: {at_most: 0}
      - id: cutting
        scenario: fls/pattern_cutting
        requires: [pegs]
        proficiency: {consecutive: 2, min_score: 0.8}
      - id: suturing
        scenario: fls
        requires: [pegs, cutting]
""")


def attempt(
    n: int,
    scenario: str = "peg_transfer",
    *,
    time_s: float = 40.0,
    path: float = 0.8,
    drops: float = 0.0,
    score: float = 0.9,
    passed: bool = True,
) -> Attempt:
    """A synthetic attempt number ``n`` (minutes after 10:00) of the fls pack."""
    return Attempt(
        f"00000000-0000-5000-8000-{n:012d}",
        "l-" + "a" * 32,
        f"{n:064x}",
        "fls",
        "1.0.0",
        scenario,
        "0.1.0",
        n,
        f"2026-03-01T10:{n:02d}:00+00:00",
        60.0,
        AttemptScore(score, 1.0, passed, {"time_s": time_s, "path_length_m": path, "drops": drops}, {"time_s": 48.0}),
        f"fls/{scenario}",
    )


@pytest.fixture
def curriculum(tmp_path) -> Curriculum:
    path = tmp_path / "lap.yaml"
    path.write_text(CURRICULUM)
    return Curriculum.load(path)


def test_two_consecutive_attempts_make_a_module_proficient(curriculum):
    good, slow = attempt(1), attempt(2, time_s=60.0)
    report = progress(curriculum, [good, slow, attempt(3)])
    assert [p.status for p in report] == ["in progress", "locked", "locked"]
    assert report[0].streak == 1 and report[1].missing_prerequisites == ("pegs",)
    report = progress(curriculum, [good, slow, attempt(3), attempt(4)])
    assert [p.status for p in report] == ["proficient", "not started", "locked"]
    assert next_module(report).module.id == "cutting"
    # Proficiency, once reached, is kept after a worse attempt.
    assert progress(curriculum, [attempt(1), attempt(2), attempt(3, drops=2)])[0].status == "proficient"


def test_feedback_names_the_metrics_that_fell_short(curriculum):
    (pegs, *_) = progress(curriculum, [attempt(1, time_s=96.0, path=2.1, drops=1)])
    assert pegs.feedback == (
        "completion time 2.0x the proficiency level: move the next peg while the grasper travels",
        "path length 2.1x the proficiency level: plan your moves before lifting",
        "drops 1, the proficiency level is 0",
    )
    later = progress(curriculum, [attempt(1), attempt(2), attempt(3, "pattern_cutting", score=0.5)])
    assert later[1].feedback == ("score 50%, 80% needed",)
    failed = progress(curriculum, [attempt(1), attempt(2), attempt(3, "pattern_cutting", passed=False)])
    assert failed[1].feedback == ("the attempt did not pass the scenario's own criteria",)


def test_module_for_a_whole_pack_and_completion(curriculum):
    history = [attempt(1), attempt(2), attempt(3, "pattern_cutting"), attempt(4, "pattern_cutting")]
    report = progress(curriculum, history)
    # Attempts made before a module was unlocked do not count for it.
    assert [p.status for p in report] == ["proficient", "proficient", "not started"]
    # "scenario: fls" matches any scenario of the pack.
    report = progress(curriculum, history + [attempt(5, "pattern_cutting"), attempt(6, "suturing")])
    assert [p.status for p in report] == ["proficient", "proficient", "proficient"]
    assert report[2].attempts == 2 and next_module(report) is None


@pytest.mark.parametrize(
    "text, message",
    [
        ("name: x\nmodules: []\n", "non-empty list of modules"),
        ("name: x\nmodules:\n  - {id: a, scenario: p}\n  - {id: a, scenario: p}\n", "duplicate module id 'a'"),
        ("name: x\nmodules:\n  - {id: a, scenario: p, requires: [b]}\n", "modules[0].requires: unknown module 'b'"),
        (
            "name: x\nmodules:\n  - {id: a, scenario: p, requires: [b]}\n  - {id: b, scenario: p, requires: [a]}\n",
            "cyclic prerequisites: a -> b -> a",
        ),
        (
            "name: x\nmodules:\n  - {id: a, scenario: p, proficiency: {consecutive: 0}}\n",
            "modules[0].proficiency.consecutive: expected a whole number",
        ),
        (
            "name: x\nmodules:\n  - {id: a, scenario: p, proficiency: {metrics: {t: {at_most: 1, at_least: 0}}}}\n",
            "give exactly one of at_least or at_most",
        ),
        ("name: x\nmodules:\n  - {id: a, scenario: p, proficency: {}}\n", "modules[0].proficency: unknown key"),
        (
            "name: x\nmodules:\n  - {id: a, scenario: p, proficiency: {min_score: 80}}\n",
            "expected a number from 0 to 1",
        ),
    ],
)
def test_invalid_curricula_name_file_and_key(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(CurriculumError) as err:
        Curriculum.load(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)


def test_progress_command_on_recorded_sandbox_sessions(tmp_path):
    runner = CliRunner()
    env = records_env(tmp_path, "curriculum-test-secret-5be2")
    (tmp_path / "c.yaml").write_text(
        textwrap.dedent("""
        name: sandbox-basics
        title: Sandbox basics
        modules:
          - id: first-pokes
            title: Poke the balls
            scenario: sandbox/ball_pit
            proficiency:
              consecutive: 2
              metrics:
                pokes: {at_least: target, hint: keep the trigger down while you sweep}
          - id: more
            scenario: sandbox/ball_pit
            requires: [first-pokes]
    """)
    )
    cur = ["progress", "Trainee-1", "--curriculum", str(tmp_path / "c.yaml")]
    res = runner.invoke(cli, cur, env=env)
    assert res.exit_code == 0, res.output
    assert "0/2 modules proficient, 0 attempt(s)" in res.output and "Trainee" not in res.output
    # the sandbox declares no difficulty parameters: no made-up difficulty plan (issue #18)
    assert "next: first-pokes (no difficulty plan: sandbox/ball_pit declares no difficulty parameters" in res.output
    for i, args in enumerate((["--frames", "150"], ["--seconds", "6"], ["--seconds", "6"])):
        log = tmp_path / f"{i}.jsonl"
        assert (
            runner.invoke(
                cli, ["run", "sandbox", "--headless", "--seed", str(i), *args, "--record", str(log)]
            ).exit_code
            == 0
        )
        assert runner.invoke(cli, ["records", "add", str(log), "--learner", "trainee-1"], env=env).exit_code == 0
        if i == 0:
            res = runner.invoke(cli, cur, env=env)
            assert "pokes 7, 10 needed (70% of the proficiency level): keep the trigger down" in res.output
    res = runner.invoke(cli, [*cur, "--json"], env=env)
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert [m["status"] for m in data["modules"]] == ["proficient", "not started"]
    assert data["next"]["module"] == "more" and data["next"]["level"] is None  # no difficulty parameters
    assert "declares no difficulty parameters" in data["next"]["no_plan"]
    res = runner.invoke(cli, ["progress", "x", "--curriculum", str(tmp_path / "nope.yaml")], env=env)
    assert res.exit_code == 1 and "no such curriculum file" in res.output


def test_progress_without_the_pack_installed_still_shows_standing(tmp_path):
    env = records_env(tmp_path, "curriculum-test-secret-5be2")
    (tmp_path / "c.yaml").write_text("name: c\nmodules:\n  - {id: a, scenario: not_installed_pack/x}\n")
    res = CliRunner().invoke(cli, ["progress", "t", "--curriculum", str(tmp_path / "c.yaml")], env=env)
    assert res.exit_code == 0, res.output
    assert "[ ] a: a: not started" in res.output
    assert "next: a (no difficulty plan: no pack named 'not_installed_pack'" in res.output
