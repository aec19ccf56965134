"""Team statements through ``vrmed records``: ``records add-team`` verifies and re-simulates
a shared session's log, stores each named member's attempt with their team statement
(one shared registration, the team as an xAPI Group, the member as their records
pseudonym), and ``records push`` sends them to an LRS (the records tests' local test
double); an edited log, an unknown member and a bad --member are refused."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from team_common import emergency_pack
from test_records_push import conforming, serving

from vrmed.cli import cli
from vrmed.recording import SessionLog
from vrmed.records import RecordsConfig, RecordsError, RecordStore
from vrmed.records.privacy import pseudonymise
from vrmed.records.xapi import iri, validate_statement
from vrmed.team.local import run_local_team
from vrmed.team.records import record_team_session
from vrmed.team.roles import team_of

SCENARIO = "code_blue_team"
SECRET = "team-records-secret-0123456789abcdef"
HOMEPAGE = "https://lms.example.org/"


@pytest.fixture(scope="module")
def shared_log(tmp_path_factory):
    """A 10 s shared session of the scripted team (client ids c-SLOT), written sealed."""
    pack = emergency_pack()
    spec = team_of(pack.scenario(SCENARIO))
    scripts = {slot: spec.scripted[slot] for slot in ("leader", "compressor.1", "airway")}
    session = run_local_team(pack, SCENARIO, scripts, max_seconds=10.0)
    try:
        path = session.recorder.log.write(tmp_path_factory.mktemp("team") / "team.jsonl")
    finally:
        session.close()
    return pack, path


def _env(tmp_path, endpoint: str) -> dict[str, str]:
    return {
        "VRMED_RECORDS_DIR": str(tmp_path / "store"),
        "VRMED_LRS_ENDPOINT": endpoint,
        "VRMED_LRS_USERNAME": "vrmed",
        "VRMED_LRS_PASSWORD": "s3cret-pw",
        "VRMED_INSTITUTION_SECRET": SECRET,
        "VRMED_INSTITUTION_HOMEPAGE": HOMEPAGE,
        "VRMED_RECORDS_CONFIG": "",
        "HOME": str(tmp_path),
    }


def _vrmed(env, *args):
    res = CliRunner().invoke(cli, list(args), env=env)
    return res.exit_code, res.output


@pytest.mark.slow
def test_add_team_then_push_sends_every_named_members_statement(shared_log, tmp_path):
    pack, path = shared_log
    members = {"c-leader": "Dr-Leader-01", "c-compressor.1": "Nurse-02"}
    with serving(conforming) as lrs:
        env = _env(tmp_path, lrs.endpoint)
        config = RecordsConfig(tmp_path / "store", institution_secret=SECRET, institution_homepage=HOMEPAGE)
        store = RecordStore(config.store_dir)
        added = record_team_session(SessionLog.read(path), members, config, store, pack=pack)
        assert [(len(a.statement_ids), new) for a, new in added] == [(1, True), (1, True)]
        code, out = _vrmed(env, "records", "push")  # the existing push path, unchanged
        assert code == 0 and "sent 2 statement(s)" in out, out
        stored = list(lrs.stored.values())
    assert len(stored) == 2
    for st in stored:
        assert validate_statement(st) == [], validate_statement(st)
    names = {pseudonymise(v, SECRET) for v in members.values()}
    assert {st["actor"]["account"]["name"] for st in stored} == names
    assert len({st["context"]["registration"] for st in stored}) == 1  # one shared registration
    group = stored[0]["context"]["team"]
    assert group["objectType"] == "Group"
    accounts = {m["account"]["name"] for m in group["member"]}
    assert names < accounts and "c-airway" in accounts  # the unnamed member keeps the session pseudonym
    roles = {st["result"]["extensions"][iri("team", "role")] for st in stored}
    assert roles == {"leader", "compressor"}, json.dumps(stored[0]["result"]["extensions"])[:300]


def test_add_team_refuses_an_edited_log_an_absent_member_and_a_bad_member(shared_log, tmp_path):
    pack, path = shared_log
    env = _env(tmp_path, "https://lrs.example.org/xapi/")
    code, out = _vrmed(env, "records", "add-team", str(path), "--member", "alice")
    assert code != 0 and "give PSEUDONYM=LEARNER_ID" in out, out
    config = RecordsConfig(tmp_path / "store", institution_secret=SECRET, institution_homepage=HOMEPAGE)
    store = RecordStore(config.store_dir)
    log = SessionLog.read(path)
    with pytest.raises(RecordsError, match=r"c-recorder took no part in it; members: c-airway \(airway\)"):
        record_team_session(log, {"c-recorder": "Someone"}, config, store, pack=pack)
    with pytest.raises(RecordsError, match="is not a session pseudonym"):
        record_team_session(log, {"Dr Who": "Someone"}, config, store, pack=pack)
    # the compressions claimed for the airway member: the re-simulation refuses the log
    acted = next(e for e in log.events if e["type"].endswith(":TeamActed") and e["data"]["role"] == "compressor")
    acted["data"]["client"] = "c-airway"
    forged = SessionLog.read(log.write(tmp_path / "forged.jsonl"))
    with pytest.raises(RecordsError, match="does not reproduce the log"):
        record_team_session(forged, {"c-airway": "Someone"}, config, store, pack=pack)
    assert not (tmp_path / "store" / "learners").exists()  # nothing stored
