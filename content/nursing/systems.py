"""Nursing pack: end-of-run scoring of the medication rights and NEWS2 escalation from the
session's event log (physiology, NEWS2 and the scenario runtime come from the engine)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import vrmed
from vrmed.api import Scenario, ScenarioState, SessionLog, evaluate_rubric, matching, record_score


def evaluate(records: list[dict[str, Any]], end_time: float, scenario: Any) -> dict[str, Any]:
    """Rubric score, the errors caught (failed rules) and, for deterioration, NEWS2 metrics."""
    out: dict[str, Any] = {}
    if scenario.rubric is not None:
        result = evaluate_rubric(scenario.rubric, records, end_time)
        out.update(score=result.score, passed=result.passed, errors_caught=[r.id for r in result.rules if not r.passed])
    scores = matching(records, "News2Scored")
    if scores:
        escalations = matching(records, "Escalated")
        out["news2"] = [(round(r["t"]), r["data"]["score"]) for r in scores]
        out["escalations"] = [(round(r["t"]), r["data"]["level"]) for r in escalations]
    return out


def summary(app: vrmed.App) -> dict[str, Any]:
    """What `vrmed run nursing/...` prints."""
    state = app.try_resource(ScenarioState)
    out: dict[str, Any] = {"outcome": state.outcome if state else None}
    out.update(evaluate(app.resource(SessionLog).events, float(app.clock.frame_time), app.resource(Scenario)))
    return out


def score(log: SessionLog) -> dict[str, Any]:
    """The learning-records score of a stored session (docs/records.md): rubric percent,
    passed, and the numeric metrics."""
    return record_score(log, Path(__file__).resolve().parent, evaluate)
