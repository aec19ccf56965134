"""Learning records without an LRS: statements against the xAPI 1.0.3 rules, stable ids,
pseudonyms, the local store (atomic, per-learner export and deletion, no personal data on
disk), configuration and the HTTP request the client builds."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write_tree
from records_env import recorded_sandbox, records_env

from vrmed.cli import cli
from vrmed.packs import load_pack
from vrmed.recording import SessionLog
from vrmed.records import (
    AttemptScore,
    LrsClient,
    RecordsConfigError,
    RecordsStoreError,
    RecordStore,
    ScoringError,
    build_statements,
    iso_duration,
    load_config,
    make_attempt,
    pseudonymise,
    record_session,
    score_log,
    validate_statement,
)

SECRET = "unit-test-institution-secret-42"


@pytest.fixture(scope="module")
def sandbox_log(tmp_path_factory) -> Path:
    """A full sandbox session (passes)."""
    return recorded_sandbox(tmp_path_factory.mktemp("logs"), seed=4)


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    """Records settings for one test (no LRS)."""
    return records_env(tmp_path, SECRET)


def _statements(log_path: Path, learner: str = "l-" + "0" * 32) -> list[dict]:
    log = SessionLog.read(log_path)
    return build_statements(make_attempt(log, learner, score_log(log)), "https://lms.example.org/")


def test_sandbox_score_from_log_only(sandbox_log):
    score = score_log(SessionLog.read(sandbox_log))
    assert score.passed and score.metrics["pokes"] >= 10 and score.max_score == 20
    assert set(score.metrics) == {"pokes", "bounces", "time_to_first_poke"}
    assert 0 < score.scaled <= 1


def test_statements_are_valid_xapi_and_stable(sandbox_log):
    first, again = _statements(sandbox_log), _statements(sandbox_log)
    assert first == again  # same log, same learner: the same statements, ids included
    assert [s["verb"]["id"].rsplit("/", 1)[1] for s in first] == ["attempted", "completed", "passed", "terminated"]
    for stmt in first:
        assert validate_statement(stmt) == [], stmt
        assert uuid.UUID(stmt["id"]).version == 5
        assert stmt["context"]["registration"] == first[0]["context"]["registration"]
    verdict = first[2]
    assert verdict["result"]["success"] is True and verdict["result"]["duration"] == "PT6S"
    assert verdict["result"]["score"]["max"] == 20.0
    assert "https://w3id.org/vrmed/xapi/metrics/pokes" in verdict["result"]["extensions"]
    assert verdict["context"]["revision"] == "0.1.0"
    other = _statements(sandbox_log, "l-" + "1" * 32)
    assert not {s["id"] for s in other} & {s["id"] for s in first}  # another learner, other ids


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda s: s["result"]["score"].update(scaled=1.5), "scaled: must be between -1 and 1"),
        (lambda s: s["result"]["score"].update(raw=25.0), "raw: must be between min and max"),
        (lambda s: s["actor"].update(mbox="mailto:x@example.org"), "exactly one inverse functional identifier"),
        (lambda s: s["result"].update(duration="6 seconds"), "ISO 8601 duration"),
        (lambda s: s.update(mood="happy"), "statement.mood: not a statement property"),
        (lambda s: s["context"].update(registration=None), "null values are not allowed"),
        (lambda s: s.update(id="not-a-uuid"), "statement.id: must be a lower-case RFC 4122 UUID"),
        (lambda s: s["verb"].update(id="passed"), "statement.verb.id: must be an IRI"),
        (lambda s: s["result"]["extensions"].update({"pokes": 3}), "extension keys must be IRIs"),
        (lambda s: s.update(timestamp="2026-11-25 10:00"), "ISO 8601 date-time with a time zone"),
        (lambda s: s.pop("actor"), "statement.actor: required"),
        (lambda s: s.update(timestamp="2026-13-01T10:00:00Z"), "ISO 8601 date-time with a time zone"),
        (lambda s: s.update(timestamp="2026-02-30T10:00:00Z"), "ISO 8601 date-time with a time zone"),
        (lambda s: s["actor"].pop("account") and s["actor"].update(mbox="mailto:not an address"), "mbox: must be"),
        (lambda s: s["actor"].pop("account") and s["actor"].update(mbox="mailto:a@b@c.org"), "mbox: must be"),
    ],
)
def test_validator_catches_rule_breaks(sandbox_log, mutate, message):
    stmt = copy.deepcopy(_statements(sandbox_log)[2])
    mutate(stmt)
    problems = validate_statement(stmt)
    assert any(message in p for p in problems), problems


def test_iso_durations():
    assert [iso_duration(x) for x in (0, 6.0, 1.333, 59.999, 3725.456)] == [
        "PT0S",
        "PT6S",
        "PT1.33S",
        "PT1M0S",
        "PT1H2M5.46S",
    ]


def test_pseudonyms_are_keyed_stable_and_normalised():
    a = pseudonymise("Alice@Example.org ", SECRET)
    assert a == pseudonymise("alice@example.org", SECRET) and a.startswith("l-") and len(a) == 34
    assert a != pseudonymise("alice@example.org", SECRET + "x")
    assert a != pseudonymise("bob@example.org", SECRET)
    with pytest.raises(RecordsConfigError, match="at least 16 characters"):
        pseudonymise("alice", "short")


def test_store_is_pseudonymous_exportable_and_deletable(sandbox_log, env, tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["records", "add", str(sandbox_log), "--learner", "Jane.Doe@hospital.example"], env=env)
    assert res.exit_code == 0, res.output
    assert "Jane" not in res.output and "4 statements queued" in res.output
    res = runner.invoke(cli, ["records", "add", str(sandbox_log), "--learner", "someone-else"], env=env)
    assert res.exit_code == 0
    store_root = Path(env["VRMED_RECORDS_DIR"])
    for path in store_root.rglob("*"):  # the learner id is in no file name and no file
        assert "jane" not in str(path).lower()
        if path.is_file():
            assert "jane" not in path.read_text(errors="replace").lower()
    status = json.loads(runner.invoke(cli, ["records", "status", "--json"], env=env).output)
    assert (status["learners"], status["attempts"], status["queued"], status["sent"]) == (2, 2, 8, 0)

    out = tmp_path / "export.json"
    res = runner.invoke(cli, ["records", "export", "--learner", "jane.doe@hospital.example", "-o", str(out)], env=env)
    assert res.exit_code == 0, res.output
    exported = json.loads(out.read_text())
    assert len(exported["attempts"]) == 1 and len(exported["queued_statements"]) == 4
    assert exported["learner"] == pseudonymise("jane.doe@hospital.example", SECRET)

    res = runner.invoke(cli, ["records", "delete", "--learner", "JANE.DOE@hospital.example", "--yes"], env=env)
    assert res.exit_code == 0 and "deleted 1 attempt(s), 4 queued" in res.output
    status = json.loads(runner.invoke(cli, ["records", "status", "--json"], env=env).output)
    assert (status["learners"], status["attempts"], status["queued"]) == (1, 1, 4)


def test_corrupt_store_file_is_reported_not_skipped(sandbox_log, env):
    config = load_config(env=env)
    store = RecordStore(config.store_dir)
    attempt, added = record_session(SessionLog.read(sandbox_log), "learner-1", config, store)
    assert added and not record_session(SessionLog.read(sandbox_log), "learner-1", config, store)[1]
    queued = store.queued()
    assert [q.id for q in queued] == attempt.statement_ids  # in the order they happened
    queued[1].path.write_text('{"learner": "l-')  # a torn write by something else
    with pytest.raises(RecordsStoreError, match=f"{queued[1].path.name}: unreadable store file"):
        store.queued()
    res = CliRunner().invoke(cli, ["records", "status"], env=env)
    assert res.exit_code == 0  # counting files does not parse them
    assert not list(Path(env["VRMED_RECORDS_DIR"]).rglob("*.tmp"))  # atomic writes leave no temporaries


def test_raw_learner_id_can_never_become_a_folder(tmp_path):
    with pytest.raises(RecordsStoreError, match="not a learner pseudonym"):
        RecordStore(tmp_path).learner_dir("jane.doe")


def test_config_file_and_environment(tmp_path):
    cfg = tmp_path / "records.yaml"
    cfg.write_text(
        "lrs_endpoint: https://lrs.example.org/xAPI/\nlrs_username: vrmed\nlrs_password: pw\n"
        f"institution_secret: {SECRET}\nstore_dir: {tmp_path / 'a'}\n"
    )
    c = load_config(cfg, env={})
    assert (c.lrs_endpoint, c.lrs_username, c.store_dir) == ("https://lrs.example.org/xAPI/", "vrmed", tmp_path / "a")
    assert c.homepage == "https://lrs.example.org/" and "pw" not in repr(c) and SECRET not in repr(c)
    c = load_config(cfg, env={"VRMED_LRS_USERNAME": "other", "VRMED_RECORDS_DIR": str(tmp_path / "b")})
    assert (c.lrs_username, c.store_dir) == ("other", tmp_path / "b")
    cfg.write_text("lrs_endpoint: ftp://nope\n")
    with pytest.raises(RecordsConfigError, match="must be an http"):
        load_config(cfg, env={})
    cfg.write_text("lrs_passwd: x\n")
    with pytest.raises(RecordsConfigError, match="unknown key 'lrs_passwd'"):
        load_config(cfg, env={})
    with pytest.raises(RecordsConfigError, match="no learning record store configured: set VRMED_LRS_ENDPOINT"):
        load_config(env={"HOME": str(tmp_path)}).require_lrs()
    default = tmp_path / ".config" / "vrmed" / "records.yaml"  # found without being named
    default.parent.mkdir(parents=True)
    default.write_text("lrs_endpoint: http://localhost:8100/xAPI/\n")
    c = load_config(env={"HOME": str(tmp_path)})
    assert c.lrs_endpoint == "http://localhost:8100/xAPI/" and c.source == str(default)
    assert c.store_dir == tmp_path / ".local" / "share" / "vrmed" / "records"
    with pytest.raises(RecordsConfigError, match="no such records config file"):
        load_config(env={"HOME": str(tmp_path), "VRMED_RECORDS_CONFIG": str(tmp_path / "nope.yaml")})


def test_requests_carry_version_header_and_basic_auth():
    client = LrsClient("http://127.0.0.1:9/xAPI/", "user", "pa:ss")
    req = client._request("POST", client.statements_url, [{"id": "x"}])
    assert str(req.url) == "http://127.0.0.1:9/xAPI/statements"
    assert req.headers["X-experience-api-version"] == "1.0.3"
    assert req.headers["Authorization"] == "Basic " + base64.b64encode(b"user:pa:ss").decode()
    assert req.headers["Content-type"] == "application/json"


def test_cli_errors_are_one_line(sandbox_log, env, tmp_path):
    runner = CliRunner()
    res = runner.invoke(
        cli, ["records", "add", str(sandbox_log), "--learner", "x"], env={**env, "VRMED_INSTITUTION_SECRET": ""}
    )
    assert res.exit_code == 1 and res.output.startswith("error: no institution secret configured")
    res = runner.invoke(cli, ["records", "push"], env=env)
    assert res.exit_code == 1 and "no learning record store configured" in res.output
    res = runner.invoke(cli, ["records", "add", str(tmp_path / "missing.jsonl"), "--learner", "x"], env=env)
    assert res.exit_code == 1 and "no such session log" in res.output


def test_pack_without_score_or_with_a_bad_one(tmp_path):
    pack = write_tree(
        tmp_path / "noscore",
        {
            "pack.yaml": "name: noscore\nversion: 0.1.0\nengine: '>=0.1'\ndefault_scenario: s\n",
            "scenarios/s.yaml": "title: S\nduration: 0.1\nentities: []\n",
        },
    )
    log = tmp_path / "n.jsonl"
    assert CliRunner().invoke(cli, ["run", str(pack), "--headless", "--record", str(log)]).exit_code == 0
    with pytest.raises(ScoringError, match="is not installed here"):  # a log never names a folder to load
        score_log(SessionLog.read(log))
    with pytest.raises(ScoringError, match="has no rubric and the pack defines no score\\(log\\)"):
        score_log(SessionLog.read(log), load_pack(pack))
    with pytest.raises(ScoringError, match="need 0 <= score <= max_score"):
        AttemptScore.from_result({"score": 5, "max_score": 2, "passed": True}, "p")
    with pytest.raises(ScoringError, match="metrics\\['a'\\] is not a number"):
        AttemptScore.from_result({"score": 1, "max_score": 2, "passed": True, "metrics": {"a": "x"}}, "p")


def test_interrupted_writes_never_leave_half_files(sandbox_log, env, monkeypatch):
    import os

    from vrmed.records import store as store_mod

    config = load_config(env=env)
    st = RecordStore(config.store_dir)
    log = SessionLog.read(sandbox_log)
    real_replace, calls = os.replace, []

    def crash_on_attempt_file(src, dst):
        calls.append(dst)
        if "/attempts/" in str(dst):
            raise OSError("power cut")  # the crash happens as the attempt file is renamed in
        return real_replace(src, dst)

    monkeypatch.setattr(store_mod.os, "replace", crash_on_attempt_file)
    with pytest.raises(OSError, match="power cut"):
        record_session(log, "learner-c", config, st)
    monkeypatch.setattr(store_mod.os, "replace", real_replace)
    root = Path(env["VRMED_RECORDS_DIR"])
    assert not list(root.rglob("*.tmp"))  # the temporary file was removed
    (learner,) = st.learners()
    assert st.attempts(learner) == [] and len(st.queued()) == 4  # statements queued, attempt not stored
    attempt, added = record_session(log, "learner-c", config, st)  # running the add again completes it
    assert added and [a.attempt_id for a in st.attempts(learner)] == [attempt.attempt_id]
    assert [q.id for q in st.queued()] == attempt.statement_ids  # still three, not six
