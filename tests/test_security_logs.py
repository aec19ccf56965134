"""Session logs as assessment evidence: crash-safe (written as the session runs), tamper-
evident (hash chain and seal), optionally signed, and never scored unless re-simulating
them reproduces them. Every malformed log is one clear error in replay, report and
records add."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from records_env import recorded_sandbox, records_env

from vrmed.cli import cli
from vrmed.recording import SessionLog, SessionLogError, Signer, _ChainWriter
from vrmed.records import RecordsError, RecordStore, load_config, record_session
from vrmed.session import build_session, open_target

SECRET = "log-security-test-secret-9d2e71"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    """A sandbox session recorded through the CLI (streamed, chained, sealed)."""
    return recorded_sandbox(tmp_path_factory.mktemp("logs"), seed=3)


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    return records_env(tmp_path, SECRET)


def records(path: Path) -> list[dict]:
    """The log's records without chain hashes or seal (what a forger starts from)."""
    out = []
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        rec.pop("h", None)
        if rec["kind"] != "seal":
            out.append(rec)
    return out


def rechain(recs: list[dict], path: Path, signer: Signer | None = None) -> Path:
    """Write ``recs`` with a valid chain and seal: what a forger with file access can do."""
    buf = io.StringIO()
    chain = _ChainWriter(buf)
    for rec in recs:
        chain.write(rec)
    chain.seal(signer)
    path.write_text(buf.getvalue())
    return path


def test_recorded_log_is_chained_and_sealed(recorded):
    log = SessionLog.read(recorded)
    assert log.chained and log.complete and log.seal["lines"] == len(recorded.read_text().splitlines()) - 1
    lines = recorded.read_text().splitlines()
    assert all('"h": "' in ln for ln in lines[:-1]) and json.loads(lines[-1])["kind"] == "seal"


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda ls: ls[:5] + ls[6:], "hash chain breaks here"),  # a line removed
        (lambda ls: ls[:5] + [ls[7]] + ls[5:7] + ls[8:], "hash chain breaks here"),  # reordered
        (lambda ls: [ls[0].replace('"seed": 3', '"seed": 4')] + ls[1:], "hash chain breaks here"),
        (lambda ls: ls + [ls[-2]], "text after the seal"),  # appended after the seal
        (lambda ls: ls[:-1], "has no seal"),  # seal dropped
        (lambda ls: ls[:-1] + [ls[-1].replace('"lines": ', '"lines": 1')], "seal does not match"),
        (lambda ls: [ln.split(', "h"')[0] + "}" if i == 3 else ln for i, ln in enumerate(ls)], "without its chain"),
    ],
)
def test_edits_break_the_chain(recorded, tmp_path, edit, message):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(edit(recorded.read_text().splitlines())) + "\n")
    with pytest.raises(SessionLogError, match=message):
        SessionLog.read(bad)


def test_forged_events_with_a_recomputed_chain_are_refused_by_records_add(recorded, tmp_path, env):
    """A learner appends 12 BallPoked events and recomputes the chain: the chain holds,
    re-simulation does not, and nothing is stored or queued."""
    recs = records(recorded)
    end = recs.pop()
    poke = next(r for r in recs if r["kind"] == "event" and r["type"].endswith(":BallPoked"))
    recs += [dict(poke, t=5.0 + i * 0.01, seq=10_000 + i) for i in range(12)] + [end]
    forged = rechain(recs, tmp_path / "forged.jsonl")
    assert SessionLog.read(forged).complete  # the chain is valid: only re-simulation can tell
    res = CliRunner().invoke(cli, ["records", "add", str(forged), "--learner", "cheater"], env=env)
    assert res.exit_code == 1 and "re-simulating the session does not reproduce the log" in res.output
    assert "Traceback" not in res.output and res.output.count("\n") == 1
    assert RecordStore(env["VRMED_RECORDS_DIR"]).counts().queued == 0


@pytest.mark.parametrize(
    "change, message",
    [
        ({"scenario": "no_such_scenario"}, "no_such_scenario"),
        ({"pack_version": "0.0.1"}, "0.0.1"),
        ({"pack": "not_installed"}, "not installed"),
    ],
)
def test_header_changes_are_refused(recorded, tmp_path, env, change, message):
    recs = records(recorded)
    recs[0].update(change)
    bad = rechain(recs, tmp_path / "h.jsonl")
    res = CliRunner().invoke(cli, ["records", "add", str(bad), "--learner", "x"], env=env)
    assert res.exit_code == 1 and message in res.output and "Traceback" not in res.output, res.output
    assert RecordStore(env["VRMED_RECORDS_DIR"]).counts().attempts == 0


def test_genuine_log_is_recorded(recorded, env):
    res = CliRunner().invoke(cli, ["records", "add", str(recorded), "--learner", "honest"], env=env)
    assert res.exit_code == 0 and "4 statements queued" in res.output, res.output


def test_unchained_log_files_are_refused_by_records_add(recorded, tmp_path, env):
    legacy = tmp_path / "legacy.jsonl"
    legacy.write_text("\n".join(json.dumps(r) for r in records(recorded)) + "\n")
    assert not SessionLog.read(legacy).chained  # still readable (replay, report)
    res = CliRunner().invoke(cli, ["records", "add", str(legacy), "--learner", "x"], env=env)
    assert res.exit_code == 1 and "no hash chain and seal" in res.output


@pytest.mark.slow
def test_crash_keeps_the_log_so_far(tmp_path):
    """kill -9 mid-session: every line written so far is intact and chained; the log reads
    as incomplete and is refused for replay and scoring."""
    path = tmp_path / "crash.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "vrmed", "run", "sandbox", "--headless", "--watch", "--record", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not path.exists() or path.read_text().count('"kind": "input"') < 60):
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    log = SessionLog.read(path, allow_incomplete=True)
    assert len(log.inputs) >= 60 and not log.complete and log.footer is None
    with pytest.raises(SessionLogError, match="has no end record; the session was cut short"):
        SessionLog.read(path)


def test_incomplete_in_process_session(tmp_path):
    """A session that stops without finishing (an exception, a closed window) leaves its
    streamed log readable as incomplete."""
    pack, _ = open_target("sandbox")
    session = build_session(pack, seed=1)
    path = tmp_path / "stopped.jsonl"
    session.recorder.stream_to(path)
    try:
        session.run(frames=45)
    finally:
        session.recorder.close()
        session.close()
    log = SessionLog.read(path, allow_incomplete=True)
    assert sorted(log.inputs) == list(range(min(log.inputs), 45)) and log.seal is None


def test_signed_logs(recorded, tmp_path, env, monkeypatch):
    pytest.importorskip("cryptography")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    def keypair(name: str) -> tuple[Path, Path]:
        key = Ed25519PrivateKey.generate()
        priv, pub = tmp_path / f"{name}.pem", tmp_path / f"{name}.pub.pem"
        priv.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        pub.write_bytes(
            key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        return priv, pub

    sim_key, sim_pub = keypair("sim")
    other_key, _ = keypair("other")
    trusted = {**env, "VRMED_TRUSTED_SIGNING_KEYS": str(sim_pub)}
    signed = tmp_path / "signed.jsonl"
    res = CliRunner().invoke(
        cli,
        ["run", "sandbox", "--headless", "--seed", "3", "--record", str(signed)],
        env={"VRMED_SIGNING_KEY": str(sim_key)},
    )
    assert res.exit_code == 0, res.output
    seal = SessionLog.read(signed).seal
    assert seal["signature"] and seal["key_id"] == Signer.from_pem(sim_key).key_id
    runner = CliRunner()
    # unsigned, and signed by another key: refused
    res = runner.invoke(cli, ["records", "add", str(recorded), "--learner", "s"], env=trusted)
    assert res.exit_code == 1 and "not signed" in res.output
    resigned = rechain(records(signed), tmp_path / "resigned.jsonl", Signer.from_pem(other_key))
    res = runner.invoke(cli, ["records", "add", str(resigned), "--learner", "s"], env=trusted)
    assert res.exit_code == 1 and "not a trusted simulator key" in res.output
    # a forger who keeps the original signature but changes the chain: refused
    recs = records(signed)
    recs[0]["recorded_at"] = "2020-01-01T00:00:00+00:00"
    text = rechain(recs, tmp_path / "x.jsonl").read_text().splitlines()
    fake_seal = dict(json.loads(text[-1]), **{k: seal[k] for k in ("signature", "public_key", "key_id")})
    (tmp_path / "x.jsonl").write_text("\n".join(text[:-1] + [json.dumps(fake_seal)]) + "\n")
    res = runner.invoke(cli, ["records", "add", str(tmp_path / "x.jsonl"), "--learner", "s"], env=trusted)
    assert res.exit_code == 1 and "signature does not match" in res.output
    # the genuine signed log: accepted
    res = runner.invoke(cli, ["records", "add", str(signed), "--learner", "s"], env=trusted)
    assert res.exit_code == 0, res.output


def test_in_memory_log_needs_no_seal(recorded, env):
    """A log built in this process (never on disk) is recorded without a seal, but still re-simulated."""
    log = SessionLog.read(recorded)
    log.path, log.seal, log.chained = None, None, False
    attempt, added = record_session(log, "mem", load_config(env=env), RecordStore(env["VRMED_RECORDS_DIR"]))
    assert added
    log.events = log.events[:-1]
    with pytest.raises(RecordsError, match="does not reproduce"):
        record_session(log, "mem2", load_config(env=env), RecordStore(env["VRMED_RECORDS_DIR"]))


def test_a_forged_huge_session_length_is_refused_before_re_simulating(recorded, tmp_path, env):
    """A footer claiming millions of frames (with a recomputed chain) would keep `records add`
    re-simulating for hours: the claim is checked against what the scenario can run first."""
    import time as _time

    recs = records(recorded)
    end = recs[-1]
    assert end["kind"] == "end"
    end.update(frames=9_000_000, sim_time=100_000.0)
    forged = rechain(recs, tmp_path / "long.jsonl")
    t0 = _time.perf_counter()
    res = CliRunner().invoke(cli, ["records", "add", str(forged), "--learner", "x"], env=env)
    assert res.exit_code == 1 and "claims 100000.0 s of simulated time" in res.output, res.output
    assert _time.perf_counter() - t0 < 30.0 and "Traceback" not in res.output
    assert RecordStore(env["VRMED_RECORDS_DIR"]).counts().attempts == 0


def test_records_add_scores_with_an_explicit_pack_folder(recorded, tmp_path, env):
    """`records add --pack PATH` scores with the pack the user names (a copy of the installed
    one here) instead of the installed pack; a folder holding another pack is refused."""
    import shutil

    import vrmed.content

    copy = shutil.copytree(Path(vrmed.content.__file__).parent / "sandbox", tmp_path / "sandbox_copy")
    res = CliRunner().invoke(cli, ["records", "add", str(recorded), "--learner", "p", "--pack", str(copy)], env=env)
    assert res.exit_code == 0 and "statements queued" in res.output, res.output
    other = shutil.copytree(Path(vrmed.content.__file__).parent / "nursing", tmp_path / "nursing_copy")
    res = CliRunner().invoke(cli, ["records", "add", str(recorded), "--learner", "q", "--pack", str(other)], env=env)
    assert res.exit_code == 1 and "'nursing'" in res.output and "Traceback" not in res.output, res.output
