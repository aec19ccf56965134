"""Emergency pack: end-of-run scoring. The physiology, triage and scenario runtime come
from the engine (``plugins: [physiology]`` and the scenario language); this module only
turns a session's event log into the rubric score and the metrics `vrmed run` prints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import vrmed
from vrmed.api import (
    Scenario,
    ScenarioState,
    SessionLog,
    evaluate_rubric,
    patients_for,
    record_score,
    resuscitation_metrics,
    triage_metrics,
)


def evaluate(records: list[dict[str, Any]], end_time: float, scenario: Any) -> dict[str, Any]:
    """Rubric result and metrics for a session's event records (a stored log re-scores the same)."""
    out: dict[str, Any] = {}
    result = evaluate_rubric(scenario.rubric, records, end_time) if scenario.rubric is not None else None
    if result is not None:
        out["score"] = result.score
        out["passed"] = result.passed
        out["failed_rules"] = [r.id for r in result.rules if not r.passed]
    if scenario.name.startswith("code_blue"):
        patients = patients_for(None, scenario.patient)
        out["metrics"] = resuscitation_metrics(records, end_time, result, patients)
    elif scenario.name.startswith("triage"):
        metrics = triage_metrics(records)
        metrics.pop("per_patient")
        out["metrics"] = metrics
    return out


def summary(app: vrmed.App) -> dict[str, Any]:
    """What `vrmed run emergency/...` prints: outcome, score, failed rules and metrics."""
    scenario = app.resource(Scenario)
    state = app.try_resource(ScenarioState)
    out: dict[str, Any] = {"state": state.state if state else None, "outcome": state.outcome if state else None}
    out.update(evaluate(app.resource(SessionLog).events, float(app.clock.frame_time), scenario))
    return out


def score(log: SessionLog) -> dict[str, Any]:
    """The learning-records score of a stored session (docs/records.md): rubric percent,
    passed, and the numeric metrics."""
    return record_score(log, Path(__file__).resolve().parent, evaluate)
