"""The instructor dashboard over the attempt database: login required, a learner sees only
their own data, cohort statistics and learning curves from known data, the attempt
database's aggregates, CUSUM and the predicted attempts to proficiency."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from vrmed.analytics.curves import CusumSpec, cusum, cusum_state, is_stuck, moving_average, predict_attempts
from vrmed.dashboard import UserStore, check_password, create_app, hash_password
from vrmed.records.db import AttemptDB

with warnings.catch_warnings():  # starlette 1.x suggests httpx2 for its test client; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

A, B = "l-" + "a" * 32, "l-" + "b" * 32


def cohort_db() -> AttemptDB:
    """Learner A improves along a power law and passes from attempt 6; B never improves."""
    db = AttemptDB()
    rows, metrics, findings = [], [], []
    for li, learner in enumerate((A, B)):
        for k in range(12):
            aid = f"0000000{li}-0000-5000-8000-{k:012d}"
            t = 1.75e9 + li * 1e5 + k * 600
            value = 120.0 * (k + 1) ** -0.5 if learner == A else 118.0 + (k % 2)
            passed = learner == A and k >= 5
            rows.append((aid, learner, "lap", "peg", "lap/peg", f"2026-01-01T00:{k:02d}:00+00:00", t, 100.0,
                         50.0 + 4 * k * (learner == A), 100.0, 0.5, int(passed), int(passed), "formative", "person",
                         None, "test"))  # fmt: skip
            metrics.append((aid, "lap/peg", "task_time_s", value, 48.0, "lower"))
            if not passed:
                findings.append((aid, "keep_in_view", "missed", 10.0 + k, "instrument out of view"))
    db.add_rows(rows, metrics, findings)
    return db


@pytest.fixture(scope="module")
def users(tmp_path_factory) -> UserStore:
    store = UserStore(tmp_path_factory.mktemp("dash") / "users.json")
    store.add("teacher", "correct-horse-1", "instructor")
    store.add("alice", "alice-password", "learner", A)
    return store


@pytest.fixture(scope="module")
def client(users) -> TestClient:
    return TestClient(create_app(cohort_db(), users, secret_key="test-key"))


def login(client: TestClient, name: str, password: str) -> None:
    client.cookies.clear()
    res = client.post("/login", data={"username": name, "password": password}, follow_redirects=False)
    assert res.status_code == 303, res.text


def test_passwords_are_salted_hashes():
    h1, h2 = hash_password("pw-123456"), hash_password("pw-123456")
    assert h1 != h2 and "pw-123456" not in h1
    assert check_password("pw-123456", h1) and not check_password("pw-123457", h1)


def test_login_is_required(client):
    client.cookies.clear()
    for path in ("/", f"/learner/{A}", "/attempt/00000000-0000-5000-8000-000000000000"):
        res = client.get(path, follow_redirects=False)
        assert res.status_code == 303 and res.headers["location"] == "/login", path
    res = client.post("/login", data={"username": "teacher", "password": "wrong"})
    assert res.status_code == 401 and "Wrong user name or password" in res.text


def test_instructor_sees_cohort_stuck_learners_and_failing_rules(client):
    login(client, "teacher", "correct-horse-1")
    page = client.get("/").text
    assert "24 attempts by 2 learners" in page
    stuck = page.split("<h3>Stuck learners</h3>")[1].split("</ul>")[0]
    assert B in stuck and A not in stuck
    assert "keep_in_view" in page and 'data-chart="cohort-distribution"' in page
    assert client.get(f"/learner/{B}").status_code == 200


def test_learner_sees_only_their_own_data(client):
    login(client, "alice", "alice-password")
    home = client.get("/", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == f"/learner/{A}"
    page = client.get(f"/learner/{A}").text
    assert 'data-chart="curve-task_time_s" data-points="12"' in page and 'data-chart="cusum"' in page
    assert client.get(f"/learner/{B}").status_code == 403
    assert client.get("/attempt/00000001-0000-5000-8000-000000000003").status_code == 403  # B's attempt
    own = client.get("/attempt/00000000-0000-5000-8000-000000000003")
    assert own.status_code == 200 and "instrument out of view" in own.text and "✗ FAIL" in own.text


def test_cusum_follows_bolsin_colson():
    spec = CusumSpec(p0=0.15, p1=0.4, alpha=0.1, beta=0.1)
    p, q = math.log(0.4 / 0.15), math.log(0.85 / 0.6)
    assert spec.s == pytest.approx(q / (p + q)) and spec.h0 == pytest.approx(math.log(9) / (p + q))
    c = cusum(np.array([0, 1, 1]), spec)
    assert c == pytest.approx([0, 1 - spec.s, 1 - 2 * spec.s, 1 - 3 * spec.s])
    assert cusum_state(np.ones(10), spec) == "proficient"  # 10 * s = 2.6 > h0 = 1.65
    assert cusum_state(np.ones(5), spec) == "undecided"
    assert cusum_state(np.zeros(4), spec) == "struggling"
    assert is_stuck(np.array([1, 0, 0, 0, 0, 0])) and not is_stuck(np.array([0, 0, 1, 1, 1, 1]))


def test_power_law_prediction_recovers_the_attempt_count():
    n = np.arange(1, 11)
    values = 100.0 - 20.0 * np.log(n)  # exact power law: reaches 40 at n = e^3 = 20.1
    pred = predict_attempts(values, 40.0, "lower")
    assert pred.a == pytest.approx(100.0) and pred.b == pytest.approx(-20.0)
    assert pred.reached_at == 21 and pred.attempts_left == 11
    assert predict_attempts(values[::-1].copy(), 40.0, "lower").reached_at is None  # getting worse
    assert predict_attempts(values[:2], 40.0, "lower") is None
    assert moving_average(np.array([1.0, 3.0, 5.0, 7.0]), 2) == pytest.approx([1, 2, 4, 6])


def test_attempt_db_aggregates_match_numpy():
    db = cohort_db()
    (stats,) = db.cohort("lap/peg")
    values = np.concatenate([db.series(A, "lap/peg", "task_time_s")[0], db.series(B, "lap/peg", "task_time_s")[0]])
    assert stats.n == 24 and stats.mean == pytest.approx(values.mean())
    for p, v in stats.percentiles.items():
        assert v == pytest.approx(np.percentile(values, p)), p
    assert stats.share_meeting_target == pytest.approx(np.mean(values <= 48.0))
    assert [(r[0], r[2], r[3]) for r in db.pass_rates()] == [(A, 12, 7), (B, 12, 0)]
    assert db.failing_rules("lap/peg") == [("keep_in_view", 17, pytest.approx(17 / 24))]


@pytest.mark.slow
def test_benchmark_100k_attempts_load_and_aggregate():
    """The attempt_store suite ingests and aggregates the whole 100,000-attempt cohort. Its
    time against issue #18's 1 s target is what ``vrmed bench attempt_store`` reports, not
    asserted here: a wall-clock bound fails on a loaded machine (1.27 s at load 5 in CI)."""
    from vrmed.benchmarks.attempt_store import run

    (row,) = run({})["rows"]
    assert row["attempts"] == 100_000 and row["metric_rows"] == 400_000
    assert row["skills"] == 4 and row["learner_skill_groups"] == 500 * 4
    assert row["finding_rows"] > 0 and row["load_aggregate_s"] > 0.0 and row["target_s"] == 1.0


def test_drill_down_to_the_full_debrief_of_an_attempt(users, tmp_path):
    from click.testing import CliRunner

    from vrmed.cli import cli
    from vrmed.recording import SessionLog
    from vrmed.records import make_attempt, score_log

    log_path = tmp_path / "logs" / "s.jsonl"
    log_path.parent.mkdir()
    res = CliRunner().invoke(cli, ["run", "sandbox", "--headless", "--seconds", "3", "--record", str(log_path)])
    assert res.exit_code == 0, res.output
    log = SessionLog.read(log_path)
    db = cohort_db()
    attempt = make_attempt(log, B, score_log(log))
    db.add_attempts([attempt])
    client = TestClient(create_app(db, users, secret_key="k", logs_dir=tmp_path / "logs"))
    login(client, "teacher", "correct-horse-1")
    page = client.get(f"/attempt/{attempt.attempt_id}").text
    assert f'href="/attempt/{attempt.attempt_id}/debrief"' in page and f"vrmed replay {log_path}" in page
    debrief = client.get(f"/attempt/{attempt.attempt_id}/debrief")
    assert debrief.status_code == 200 and debrief.text.count("<svg") == 2 and "Timeline" in debrief.text
    login(client, "alice", "alice-password")  # not alice's attempt
    assert client.get(f"/attempt/{attempt.attempt_id}/debrief").status_code == 403
