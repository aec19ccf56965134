"""xAPI fidelity: cmi5 verb semantics (completed only when the task was completed), wall-clock
timestamps never in the future, institution identity required, strict timestamps and
mbox, human-readable activity names, the cohort export and the gradebook CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from click.testing import CliRunner

from vrmed.cli import cli
from vrmed.packs import load_pack
from vrmed.packs.discovery import resolve_target
from vrmed.records import (
    ActivityText,
    Attempt,
    AttemptScore,
    RecordsConfigError,
    build_statements,
    validate_all,
    validate_statement,
)
from vrmed.records.db import AttemptDB

HOME = "https://sso.example.edu/"


def attempt(
    *, completed: float | None, passed: bool, started: str = "2026-03-01T10:00:00+00:00", sim_time: float = 120.0,
    ended: str = "", learner: str = "l-" + "a" * 32, n: int = 0,
) -> Attempt:  # fmt: skip
    metrics = {"task_time_s": 70.0} | ({} if completed is None else {"completed": completed})
    rubric = {"rules": [{"id": "check_identity", "status": "missed", "critical": True, "t": 12.5, "detail": "no"}]}
    score = AttemptScore(
        120.0 if passed else 40.0, 300.0, passed, metrics, {"task_time_s": 90.0}, {"task_time_s": "lower"}, rubric
    )
    return Attempt(
        f"6c1f7a4e-0000-5000-8000-{n:012d}", learner, "s" * 64, "laparoscopy", "0.1.0", "peg_transfer",
        "0.1.0", 1, started, sim_time, score, "laparoscopy/peg_transfer", ended=ended,
    )  # fmt: skip


def verbs(stmts: list[dict]) -> list[str]:
    return [s["verb"]["id"].rsplit("/", 1)[1] for s in stmts]


def test_unfinished_task_is_never_completed():
    stmts = build_statements(attempt(completed=0.0, passed=False), HOME)
    assert verbs(stmts) == ["attempted", "failed", "terminated"]
    assert stmts[1]["result"]["completion"] is False and stmts[1]["result"]["success"] is False
    assert validate_all(stmts) == []


def test_finished_but_failed_and_finished_and_passed():
    assert verbs(build_statements(attempt(completed=1.0, passed=False), HOME)) == [
        "attempted", "completed", "failed", "terminated",
    ]  # fmt: skip
    stmts = build_statements(attempt(completed=1.0, passed=True), HOME)
    assert verbs(stmts) == ["attempted", "completed", "passed", "terminated"]
    assert stmts[1]["result"] == {"completion": True, "duration": "PT1M10S"}  # at task completion (70 s)
    assert stmts[2]["result"]["completion"] is True and stmts[3]["result"] == {"duration": "PT2M0S"}
    # no completion metric: a passed verdict is the only evidence the task was done
    assert verbs(build_statements(attempt(completed=None, passed=False), HOME))[1] == "failed"


def test_timestamps_are_wall_clock_ordered_and_never_in_the_future():
    now = dt.datetime(2026, 3, 1, 10, 0, 30, tzinfo=dt.UTC)  # 30 s of wall time for 120 s simulated
    stmts = build_statements(attempt(completed=1.0, passed=True), HOME, now=now)
    times = [dt.datetime.fromisoformat(s["timestamp"].replace("Z", "+00:00")) for s in stmts]
    assert times == sorted(times) and max(times) <= now
    # the recorded wall-clock end wins, and simulated times map linearly onto it
    ended = "2026-03-01T10:00:12+00:00"
    stmts = build_statements(attempt(completed=1.0, passed=True, ended=ended), HOME, now=now)
    assert stmts[-1]["timestamp"] == "2026-03-01T10:00:12.000Z"
    assert stmts[1]["timestamp"] == "2026-03-01T10:00:07.000Z"  # completed at 70 of 120 s -> 7 of 12 s


def test_institution_identity_is_required():
    with pytest.raises(RecordsConfigError, match="VRMED_INSTITUTION_HOMEPAGE"):
        build_statements(attempt(completed=1.0, passed=True), None)
    with pytest.raises(RecordsConfigError, match="institution"):
        build_statements(attempt(completed=1.0, passed=True), "not a url")


def test_records_add_refuses_to_queue_without_institution(tmp_path):
    log = tmp_path / "s.jsonl"
    assert (
        CliRunner().invoke(cli, ["run", "sandbox", "--headless", "--frames", "30", "--record", str(log)]).exit_code == 0
    )
    env = {"VRMED_RECORDS_DIR": str(tmp_path / "store"), "VRMED_INSTITUTION_SECRET": "s3cret-for-the-test-only",
           "VRMED_RECORDS_CONFIG": "", "HOME": str(tmp_path)}  # fmt: skip
    res = CliRunner().invoke(cli, ["records", "add", str(log), "--learner", "x"], env=env)
    assert res.exit_code == 1 and "VRMED_INSTITUTION_HOMEPAGE" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "store" / "learners").exists()  # nothing queued


@pytest.mark.parametrize(
    "stamp, ok",
    [("2026-13-01T10:00:00Z", False), ("2026-02-29T10:00:00Z", False), ("2028-02-29T10:00:00Z", True),
     ("2026-01-01T24:00:00Z", False), ("2026-01-01T10:61:00Z", False), ("2026-01-01T10:00:00.123+01:00", True)],
)  # fmt: skip
def test_timestamps_are_checked_against_the_calendar(stamp, ok):
    stmt = build_statements(attempt(completed=1.0, passed=True), HOME)[0]
    stmt["timestamp"] = stamp
    assert (validate_statement(stmt) == []) is ok


@pytest.mark.parametrize(
    "mbox, ok",
    [("mailto:jane.doe@hospital.example", True), ("mailto:jane", False), ("mailto:a@b@c.org", False),
     ("mailto:jane doe@x.org", False), ("jane@x.org", False), ("mailto:j@x", False)],
)  # fmt: skip
def test_mbox_must_be_one_valid_address(mbox, ok):
    stmt = build_statements(attempt(completed=1.0, passed=True), HOME)[0]
    stmt["actor"] = {"objectType": "Agent", "mbox": mbox}
    assert (validate_statement(stmt) == []) is ok


def test_activities_have_human_readable_names():
    ref, _ = resolve_target("laparoscopy")
    pack = load_pack(ref.root)
    text = ActivityText.from_pack(pack, "peg_transfer")
    stmt = build_statements(attempt(completed=1.0, passed=True), HOME, text=text)[0]
    definition = stmt["object"]["definition"]
    assert definition["name"]["en-US"] == pack.scenarios["peg_transfer"].title
    assert len(definition["description"]["en-US"]) > 20
    parent = stmt["context"]["contextActivities"]["parent"][0]["definition"]
    assert parent["name"]["en-US"] == (pack.title or "Laparoscopy")
    # failed rules reach the LRS as a result extension (with time and reason)
    verdict = build_statements(attempt(completed=1.0, passed=False), HOME, text=text)[2]
    (finding,) = verdict["result"]["extensions"]["https://w3id.org/vrmed/xapi/rubric/findings"]
    assert finding == {"id": "check_identity", "status": "missed", "t": 12.5, "reason": "no"}


def test_lrs_export_round_trips_into_the_attempt_db_and_gradebook():
    attempts = [
        attempt(completed=1.0, passed=bool(i % 2), n=i, started=f"2026-03-0{i + 1}T10:00:00+00:00") for i in range(4)
    ]
    statements = [s for a in attempts for s in build_statements(a, HOME)]
    db = AttemptDB()
    assert db.ingest_statements(json.loads(json.dumps(statements))) == 4
    assert db.ingest_statements(statements) == 0  # idempotent
    direct = AttemptDB()
    direct.add_attempts(attempts)
    assert [(r.attempt_id, r.passed, r.score) for r in db.attempts()] == [
        (r.attempt_id, r.passed, r.score) for r in direct.attempts()
    ]
    assert db.metrics_of(attempts[0].attempt_id) == direct.metrics_of(attempts[0].attempt_id)
    assert db.failing_rules() == [("check_identity", 4, 1.0)]
    rows = list(csv.DictReader(io.StringIO(db.gradebook_csv())))
    assert len(rows) == 4 and rows[1]["passed"] == "yes" and rows[0]["percent"] == "13.3"
    assert rows[0]["missed_rules"] == "check_identity" and rows[0]["started"].startswith("2026-03-01T10:00")


def test_cohort_export_cli(tmp_path):
    from vrmed.records import RecordStore

    store = RecordStore(tmp_path / "store")
    for i, learner in enumerate(("l-" + "a" * 32, "l-" + "b" * 32)):
        a = attempt(completed=1.0, passed=True, learner=learner, n=i)
        store.add_attempt(a, build_statements(a, HOME))
    env = {"VRMED_RECORDS_DIR": str(tmp_path / "store"), "VRMED_RECORDS_CONFIG": "", "HOME": str(tmp_path)}
    out, grades = tmp_path / "cohort.json", tmp_path / "grades.csv"
    res = CliRunner().invoke(cli, ["records", "export-cohort", "--out", str(out), "--gradebook", str(grades)], env=env)
    assert res.exit_code == 0, res.output
    stmts = json.loads(out.read_text())
    assert len(stmts) == 8 and validate_all(stmts) == []
    assert len(list(csv.DictReader(grades.open()))) == 2
