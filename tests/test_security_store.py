"""Secrets and the record store: weak institution secrets are refused, a world-readable
config holding credentials is flagged, special files never block a command, stale
temporaries from killed writes are cleaned, and store paths of the wrong kind are one
clear error."""

from __future__ import annotations

import os
import threading
import time

import pytest
from click.testing import CliRunner

from vrmed.cli import cli
from vrmed.records import RecordsConfigError, RecordsStoreError, RecordStore, load_config, pseudonymise
from vrmed.records.store import read_json, write_json_atomic

LEARNER = "l-" + "b" * 32


@pytest.mark.parametrize(
    "secret", [" " * 16, "a" * 40, "passwordpassword", "abababababababab", "0000000000000000000000", "short"]
)
def test_weak_institution_secrets_are_refused(secret):
    with pytest.raises(RecordsConfigError, match="institution secret"):
        pseudonymise("jane", secret)


@pytest.mark.parametrize("secret", ["5f2c9a0e7d41b38c", "test-institution-secret-0123456789", "random"])
def test_reasonable_secrets_pass(secret):
    # a fresh random secret is drawn inside the test: test ids must be the same in every
    # pytest-xdist worker, so the parameter itself cannot be random
    if secret == "random":
        secret = os.urandom(16).hex()
    assert pseudonymise("jane", secret).startswith("l-")


def test_world_readable_config_with_credentials_warns(tmp_path):
    cfg = tmp_path / "records.yaml"
    cfg.write_text(f"lrs_password: pw\ninstitution_secret: 5f2c9a0e7d41b38c\nstore_dir: {tmp_path / 's'}\n")
    cfg.chmod(0o644)
    config = load_config(cfg, env={"HOME": str(tmp_path)})
    assert config.warnings and "chmod 600" in config.warnings[0] and "lrs_password" in config.warnings[0]
    res = CliRunner().invoke(cli, ["records", "--config", str(cfg), "status"], env={"HOME": str(tmp_path)})
    assert res.exit_code == 0 and "warning:" in res.output and "pw" not in res.output.replace("pw ", "")
    cfg.chmod(0o600)
    assert load_config(cfg, env={"HOME": str(tmp_path)}).warnings == ()
    plain = tmp_path / "plain.yaml"
    plain.write_text(f"store_dir: {tmp_path / 's'}\n")
    plain.chmod(0o644)
    assert load_config(plain, env={"HOME": str(tmp_path)}).warnings == ()  # nothing secret in it


@pytest.mark.parametrize(
    "text, message",
    [
        ("a: &a [*a, *a]\n" * 1, "not valid YAML|unknown key"),
        ("timeout_s: .nan\n", "timeout_s must be"),
        ("timeout_s: 1.0e+300\n", "timeout_s must be"),
        ("batch_size: 100000000\n", "batch_size"),
        ("- a\n", "expected a mapping"),
        ("x" * 70000, "larger than"),
    ],
)
def test_bad_config_files_are_one_line(tmp_path, text, message):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    with pytest.raises(RecordsConfigError, match=message):
        load_config(cfg, env={"HOME": str(tmp_path)})


def test_config_that_is_a_fifo_or_folder(tmp_path):
    os.mkfifo(tmp_path / "fifo.yaml")
    (tmp_path / "dir.yaml").mkdir()
    for name in ("fifo.yaml", "dir.yaml"):
        with pytest.raises(RecordsConfigError, match="not a regular file"):
            load_config(tmp_path / name, env={"HOME": str(tmp_path)})


def _with_timeout(fn, seconds: float = 5.0):
    """Run fn in a thread; fail (instead of hanging the suite) if it blocks."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 (re-raised in the caller)
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "blocked"
    if "error" in box:
        raise box["error"]
    return box.get("value")


def test_fifo_in_the_outbox_is_refused_not_read(tmp_path):
    store = RecordStore(tmp_path / "store")
    outbox = tmp_path / "store" / "learners" / LEARNER / "outbox"
    outbox.mkdir(parents=True)
    os.mkfifo(outbox / "00000000-0000-4000-8000-000000000000.json")
    with pytest.raises(RecordsStoreError, match="not a regular file"):
        _with_timeout(store.queued)
    env = {
        "VRMED_RECORDS_DIR": str(tmp_path / "store"),
        "VRMED_LRS_ENDPOINT": "http://127.0.0.1:9/xAPI/",
        "VRMED_LRS_USERNAME": "u",
        "VRMED_LRS_PASSWORD": "p",
        "VRMED_RECORDS_CONFIG": "",
        "HOME": str(tmp_path),
    }
    res = _with_timeout(lambda: CliRunner().invoke(cli, ["records", "push"], env=env))
    assert res.exit_code == 1 and "not a regular file" in res.output and "Traceback" not in res.output


def test_symlinked_and_oversized_store_files(tmp_path):
    target = tmp_path / "elsewhere.json"
    target.write_text("{}")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    with pytest.raises(RecordsStoreError, match="symlink"):
        read_json(link)
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (5 << 20))
    with pytest.raises(RecordsStoreError, match="larger than"):
        read_json(big)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100000)
    with pytest.raises(RecordsStoreError, match="unreadable"):
        read_json(deep)


def test_store_paths_of_the_wrong_kind(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(RecordsStoreError, match="must be a folder"):
        RecordStore(tmp_path / "file")
    store = RecordStore(tmp_path / "s")
    (tmp_path / "s" / "learners" / LEARNER).mkdir(parents=True)
    (tmp_path / "s" / "learners" / LEARNER / "outbox").write_text("not a folder")
    with pytest.raises(RecordsStoreError, match="not a folder"):
        write_json_atomic(store.learner_dir(LEARNER) / "outbox" / "x.json", {})
    env = {"VRMED_RECORDS_DIR": str(tmp_path / "file"), "VRMED_RECORDS_CONFIG": "", "HOME": str(tmp_path)}
    res = CliRunner().invoke(cli, ["records", "status"], env=env)
    assert res.exit_code == 1 and res.output.startswith("error: ") and "Traceback" not in res.output


def test_stale_temporaries_are_cleaned_fresh_ones_kept(tmp_path):
    folder = tmp_path / "s" / "learners" / LEARNER / "outbox"
    folder.mkdir(parents=True)
    stale, fresh = folder / ".a.json.x1.tmp", folder / ".b.json.x2.tmp"
    stale.write_text("{")
    fresh.write_text("{")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    store = RecordStore(tmp_path / "s")
    assert store.removed_temporaries == 1 and not stale.exists() and fresh.exists()


def test_store_files_and_folders_are_owner_only(tmp_path):
    path = tmp_path / "s" / "learners" / LEARNER / "attempts" / "a.json"
    write_json_atomic(path, {"x": 1})
    assert path.stat().st_mode & 0o077 == 0
    assert path.parent.stat().st_mode & 0o077 == 0


WRITER = r"""
import sys
from vrmed.records.attempt import Attempt
from vrmed.records.scoring import AttemptScore
from vrmed.records.store import RecordStore
from vrmed.records.xapi import build_statements

store = RecordStore(sys.argv[1])
print("ready", flush=True)
k = 0
while True:  # add attempts and mark their statements sent, until killed
    attempt = Attempt(f"00000000-0000-4000-8000-{k:012d}", "l-" + "c" * 32, f"{k:064x}", "sandbox", "0.1.0",
                      "poke", "0.1.0", k, "2026-11-20T10:00:00+00:00", 6.0, AttemptScore(15.0, 20.0, True), "s")
    store.add_attempt(attempt, build_statements(attempt, "https://lms.example.org/"))
    for item in store.queued()[:2]:
        store.mark_sent(item)
    k += 1
"""


@pytest.mark.slow
def test_kill_during_writes_never_corrupts_the_store(tmp_path):
    """kill -9 a process writing attempts and moving statements to sent/, at random moments:
    every file left is complete JSON, and after the next start no temporary remains and
    every attempt's statements are either queued or sent (nothing lost)."""
    import random
    import subprocess
    import sys

    rng = random.Random(7)
    root = tmp_path / "store"
    trials = 5
    for _ in range(trials):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(root)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.4))
        proc.kill()
        proc.wait()
        proc.stdout.close()
    store = RecordStore(root)
    store.clean_stale_temporaries(older_than_s=0)
    assert not list(root.rglob("*.tmp"))
    for path in root.rglob("*.json"):
        read_json(path)  # complete JSON, or this raises
    (learner,) = store.learners()
    held = {q.id for q in store.queued()} | set(store.sent_ids())
    attempts = store.attempts(learner)
    assert attempts
    for attempt in attempts:
        assert set(attempt.statement_ids) <= held, attempt.attempt_id
