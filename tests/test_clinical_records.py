"""Clinical sessions become learning records: a stored code-blue log scores by its rubric."""

from __future__ import annotations

import pytest

from vrmed.recording import SessionLog
from vrmed.records import build_statements, make_attempt
from vrmed.records.scoring import score_log
from vrmed.records.xapi import iri, validate_statement


@pytest.fixture(scope="module")
def logs(code_blue_runs):
    """The stored logs (read back from disk) and live summaries of the session-wide
    code_blue / code_blue_errors runs (tests/conftest.py: code_blue_runs)."""
    return {name: (SessionLog.read(run["log"]), run["summary"]) for name, run in code_blue_runs.items()}


def test_stored_code_blue_log_rescores_like_the_live_run(logs):
    log, live = logs["code_blue"]
    scored = score_log(log)
    assert scored.max_score == 100.0
    assert scored.score == pytest.approx(live["score"]) and scored.passed == live["passed"] is True
    assert scored.metrics["time_to_first_compression_s"] == pytest.approx(
        live["metrics"]["time_to_first_compression_s"]
    )


def test_violating_learner_fails_in_the_record_too(logs, emergency_pack):
    log, live = logs["code_blue_errors"]
    scored = score_log(log, emergency_pack)  # finding the pack from the log: the test above
    assert not scored.passed and scored.score < 100.0
    assert scored.score == pytest.approx(live["score"])


def test_xapi_result_explains_every_missed_rule(logs, emergency_pack):
    """The institution sees why: each missed or not-applicable rule, with its time and
    reason, is a result extension of the verdict statement (and the statement stays valid)."""
    log, _ = logs["code_blue_errors"]
    scored = score_log(log, emergency_pack)
    statements = build_statements(make_attempt(log, "l-" + "0" * 32, scored), "https://lms.example.org/")
    verdict = next(st for st in statements if st["verb"]["id"].endswith(("/passed", "/failed")))
    assert verdict["verb"]["id"].endswith("/failed") and validate_statement(verdict) == []
    findings = verdict["result"]["extensions"][iri("rubric", "findings")]
    missed = [r["id"] for r in scored.rubric["rules"] if r["status"] == "missed"]
    assert [f["id"] for f in findings if f["status"] == "missed"] == missed and len(missed) >= 15
    assert all(isinstance(f["t"], float) and f["reason"] for f in findings if f["status"] == "missed")
