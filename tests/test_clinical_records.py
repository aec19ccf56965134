"""Clinical sessions become learning records: a stored code-blue log scores by its rubric."""

from __future__ import annotations

import pytest

from vrmed.recording import SessionLog
from vrmed.records.scoring import score_log
from vrmed.session import build_session, open_target


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    out = {}
    for scenario in ("code_blue", "code_blue_errors"):
        pack, _ = open_target("emergency")
        session = build_session(pack, scenario, seed=1)
        try:
            session.run()
            log = session.finish()
            out[scenario] = (
                SessionLog.read(log.write(tmp_path_factory.mktemp("l") / "s.jsonl")),
                pack.summary(session.app),
            )
        finally:
            session.close()
    return out


def test_stored_code_blue_log_rescores_like_the_live_run(logs):
    log, live = logs["code_blue"]
    scored = score_log(log)
    assert scored.max_score == 100.0
    assert scored.score == pytest.approx(live["score"]) and scored.passed == live["passed"] is True
    assert scored.metrics["time_to_first_compression_s"] == pytest.approx(
        live["metrics"]["time_to_first_compression_s"]
    )


def test_violating_learner_fails_in_the_record_too(logs):
    log, live = logs["code_blue_errors"]
    scored = score_log(log)
    assert not scored.passed and scored.score < 100.0
    assert scored.score == pytest.approx(live["score"])
