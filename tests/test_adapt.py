"""Adaptive difficulty: the Elo-style learner model moves a simulated strong learner up,
a weak one down, keeps a middling one near the target success rate, and the chosen
parameters reach the session and its log."""

from __future__ import annotations

import math
import random

import pytest
from conftest import write_tree

from vrmed.adapt import (
    DifficultyError,
    DifficultySpec,
    EloSettings,
    LearnerModel,
    SkillState,
    applied_parameters,
    plan_next,
    replay_pack,
)
from vrmed.packs import load_pack
from vrmed.recording import SessionLog
from vrmed.records import RecordStore, load_config, record_session
from vrmed.session import build_adapted_session, replay


def simulate(
    true_ability: float, seed: int, attempts: int = 40, settings: EloSettings | None = None
) -> tuple[list[float], list[bool]]:
    """A simulated learner who passes at level L with p = logistic(ability - difficulty(L))
    (the same Rasch model the rating assumes), trained by the model for ``attempts``."""
    settings = settings or EloSettings()
    rng, model = random.Random(seed), LearnerModel(settings)
    levels, outcomes = [], []
    for _ in range(attempts):
        level = model.next_level("suturing")
        p = 1.0 / (1.0 + math.exp(-(true_ability - settings.difficulty(level))))
        success = rng.random() < p
        model.observe("suturing", level, success)
        levels.append(level)
        outcomes.append(success)
    return levels, outcomes


def test_strong_learner_moves_up_and_weak_learner_moves_down():
    for seed in range(20):
        strong, _ = simulate(2.0, seed)
        weak, _ = simulate(-2.0, seed)
        assert strong[0] == weak[0] == 0.5  # both start at the default level
        late_strong, late_weak = sum(strong[20:]) / 20, sum(weak[20:]) / 20
        assert late_strong > 0.45 and late_weak < 0.1 and late_strong > late_weak + 0.4, seed
    # On average the strong learner settles near the level where p = target (0.79 here).
    mean_strong = sum(sum(simulate(2.0, s)[0][20:]) / 20 for s in range(20)) / 20
    assert 0.65 < mean_strong < 0.9


def test_middling_learner_is_kept_near_the_target_success_rate():
    rates = [sum(simulate(0.5, seed)[1]) / 40 for seed in range(20)]
    assert abs(sum(rates) / len(rates) - EloSettings().target_success) < 0.05


def test_rating_updates_and_step_limit():
    s = EloSettings()
    state = SkillState("k", 0.0)
    up, down = state.updated(0.5, True, s), state.updated(0.5, False, s)
    assert up.rating == pytest.approx(0.5) and down.rating == pytest.approx(-0.5)  # K=1, expected 0.5
    later = SkillState("k", 0.0, attempts=20).updated(0.5, True, s)
    assert later.rating == pytest.approx(0.5 / 2)  # K shrinks: 1 / (1 + 0.05 * 20)
    assert SkillState("k", 10.0, attempts=1, last_level=0.5).next_level(s) == pytest.approx(0.7)  # max_step
    assert SkillState("k", 0.0).next_level(s, default_level=0.3) == 0.3
    with pytest.raises(DifficultyError):
        EloSettings(target_success=1.0)


def test_difficulty_spec_from_scenario_settings():
    spec = DifficultySpec.from_settings(
        {
            "difficulty": {
                "default_level": 0.25,
                "parameters": {
                    "time_pressure": {"easy": 0.8, "hard": 1.6},
                    "casualties": {"easy": 2, "hard": 10, "integer": True},
                    "tissue_stiffness": {"easy": 3000, "hard": 1000},
                },
            }
        },
        "p/scenarios/s.yaml",
    )
    assert spec.default_level == 0.25
    assert spec.values(0.0) == {"time_pressure": 0.8, "casualties": 2, "tissue_stiffness": 3000.0}
    assert spec.values(0.5) == {"time_pressure": 1.2, "casualties": 6, "tissue_stiffness": 2000.0}
    assert spec.values(2.0)["casualties"] == 10  # clamped
    assert DifficultySpec.from_settings({}, "x") is None
    with pytest.raises(DifficultyError, match=r"p/scenarios/s.yaml: settings.difficulty.parameters.casualties"):
        DifficultySpec.from_settings(
            {"difficulty": {"parameters": {"casualties": {"easy": "two"}}}}, "p/scenarios/s.yaml"
        )


ADAPTIVE_PACK = {
    "pack.yaml": """
        name: adaptive_demo
        version: 0.2.0
        engine: ">=0.1"
        systems: [tick]
        default_scenario: triage
    """,
    "scenarios/triage.yaml": """
        title: Triage
        duration: 0.5
        entities: []
        settings:
          skill: triage
          difficulty:
            default_level: 0.4
            parameters:
              casualties: {easy: 2, hard: 12, integer: true}
              deterioration_rate: {easy: 0.1, hard: 0.5}
    """,
    "systems.py": """
        from dataclasses import dataclass
        import vrmed
        from vrmed.adapt import applied_parameters

        @dataclass(frozen=True)
        class Casualties(vrmed.Event):
            count: int

        @dataclass
        class Params:
            values: dict
            announced: bool = False

        def setup(app, scenario):
            app.insert_resource(Params(applied_parameters(scenario, "adaptive_demo")))

        @vrmed.system("logic", in_set="logic.scenario")
        def tick(app):
            p = app.resource(Params)
            if not p.announced:
                p.announced = True
                app.send(Casualties(int(p.values["casualties"])))

        def score(log):
            n = [e["data"]["count"] for e in log.events if e["type"].endswith(":Casualties")][0]
            passed = n <= 6   # a learner who copes with up to six casualties
            return {"score": 1.0 if passed else 0.0, "max_score": 1.0, "passed": passed,
                    "metrics": {"casualties": float(n)}, "targets": {"casualties": 6.0}}
    """,
}


def test_plan_reaches_session_log_and_rating(tmp_path):
    pack = load_pack(write_tree(tmp_path / "adaptive_demo", ADAPTIVE_PACK))
    env = {
        "VRMED_RECORDS_DIR": str(tmp_path / "store"),
        "VRMED_INSTITUTION_SECRET": "adapt-test-secret-7f3a9c01",
        "VRMED_INSTITUTION_HOMEPAGE": "https://sso.example.edu/",
    }
    config = load_config(env=env)
    store = RecordStore(config.store_dir)
    levels, replayed = [], False
    for attempt_no in range(6):
        learner_attempts = store.attempts(store.learners()[0]) if store.learners() else []
        plan = plan_next(pack, "triage", learner_attempts)
        levels.append(plan.level)
        session = build_adapted_session(pack, "triage", plan, seed=attempt_no)
        try:
            session.run()
            log = session.finish()
        finally:
            session.close()
        assert log.header["difficulty"]["parameters"] == plan.parameters
        if plan.parameters["casualties"] != 6 and not replayed:
            # An adapted session replays exactly with the recorded parameters.
            replayed = True
            saved = SessionLog.read(log.write(tmp_path / "a.jsonl"))
            result, again = replay(saved, pack=pack)  # replay applies the recorded level itself
            again.close()
            assert result.ok, result.first_difference
            assert replay_pack(pack, saved) is not pack
            import copy

            stripped = copy.deepcopy(saved)
            del stripped.header["difficulty"]
            plain, again = replay(stripped, pack=pack)  # without the recorded parameters it differs
            again.close()
            assert not plain.ok
        announced = [e["data"]["count"] for e in log.events if e["type"].endswith(":Casualties")]
        assert announced == [plan.parameters["casualties"]]  # the system ran with the chosen value
        # Distinct sessions (the tests run faster than the recorded_at clock can be relied on).
        log.header["recorded_at"] = f"2026-01-01T10:0{attempt_no}:00+00:00"
        attempt, added = record_session(log, "trainee-9", config, store, pack=pack)  # a pack folder, not installed
        assert added and attempt.level == plan.level and attempt.skill == "triage"
    assert levels[0] == 0.4  # the scenario's default level first
    assert replayed
    # The pack's scenario itself is untouched (the adapted copy is per session).
    assert "applied_difficulty" not in pack.scenario("triage").settings
    assert applied_parameters(pack.scenario("triage"))["casualties"] == 6
    # The learner copes with up to 6 casualties: the model settles around that level
    # (6 casualties is level 0.4) instead of running away in either direction.
    assert 0.2 <= levels[-1] <= 0.7
