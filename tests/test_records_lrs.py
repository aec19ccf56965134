"""vrmed records against a real LRS: ralph (ralph-malph on PyPI, by France Université
Numérique), started here on localhost.

Ralph runs from its own virtualenv in <repo>/.cache/ralph-venv (tests/ralph_venv.py: built
once, in the background from the start of the session; its pins clash with ours). Its only
LRS backend that needs no external service is `fs`, and in ralph-malph 5.1.0 that backend
writes each POST with the "create" operation, so the second POST to a store fails with
HTTP 500 ("fs_lrs.jsonl already exists"; checked: the first POST returns its id, every later
one is a 500). The launcher below therefore sets
the fs LRS backend's default write operation to ralph's own APPEND operation before
starting ralph's unmodified API app with uvicorn: one class attribute, everything else
(HTTP API, basic auth, statement validation, duplicate/conflict checks, queries) is
ralph's own code.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from ralph_venv import RalphVenvError, ensure_ralph_venv

from vrmed.cli import cli
from vrmed.records import LrsClient, RecordStore, load_config, validate_statement

USER, PASSWORD = "vrmed-ci", "ci-password-123"
SECRET = "test-institution-secret-0123456789"

pytestmark = pytest.mark.slow

LAUNCHER = """
import sys
from ralph.backends.data.base import BaseOperationType
from ralph.backends.lrs.fs import FSLRSBackend
if sys.argv[2] == "append":
    # ralph-malph 5.1.0's fs backend "creates" its one file per write, so only the first
    # write succeeds; appending is the operation its LRS use needs.
    FSLRSBackend.default_operation_type = BaseOperationType.APPEND
import uvicorn
uvicorn.run("ralph.api:app", host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RalphServer:
    """A ralph LRS process on localhost with its own fs store and credentials."""

    def __init__(self, python: Path, workdir: Path, port: int) -> None:
        self.python, self.workdir, self.port = python, workdir, port
        self.proc: subprocess.Popen | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        self.auth = workdir / "auth.json"
        self.env = {
            **os.environ,
            "RALPH_RUNSERVER_BACKEND": "fs",
            "RALPH_AUTH_FILE": str(self.auth),
            "RALPH_BACKENDS__LRS__FS__DEFAULT_DIRECTORY_PATH": str(workdir / "lrs"),
            "RALPH_APP_DIR": str(workdir / "app"),
        }
        if not self.auth.is_file():
            ralph = self.python.parent / "ralph"
            subprocess.run(
                [
                    str(ralph),
                    "auth",
                    "-u",
                    USER,
                    "-p",
                    PASSWORD,
                    "-s",
                    "all",
                    "-M",
                    "mailto:vrmed-ci@example.org",
                    "-w",
                ],
                env=self.env,
                check=True,
                capture_output=True,
            )

    @property
    def endpoint(self) -> str:
        """The xAPI endpoint (ralph serves xAPI under /xAPI/)."""
        return f"http://127.0.0.1:{self.port}/xAPI/"

    def start(self, timeout: float = 30.0, *, as_released: bool = False) -> None:
        """Start ralph and wait (bounded) until its heartbeat answers (``as_released``:
        without the fs append fix, so every write after the first fails with HTTP 500)."""
        (self.workdir / "launch.py").write_text(LAUNCHER)
        self.log = open(self.workdir / "server.log", "ab")
        mode = "create" if as_released else "append"
        self.proc = subprocess.Popen(
            [str(self.python), str(self.workdir / "launch.py"), str(self.port), mode],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/__heartbeat__", timeout=1):
                    return
            time.sleep(0.1)
        self.stop()
        pytest.fail(
            f"ralph did not start on port {self.port}:\n"
            + (self.workdir / "server.log").read_text(errors="replace")[-3000:]
        )

    def stop(self) -> None:
        """Terminate the process (killed if it does not exit within 10 s)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
        with contextlib.suppress(AttributeError):
            self.log.close()


@pytest.fixture(scope="module")
def ralph_python() -> Path:
    """Python of the ralph virtualenv (created on first use; tests/ralph_venv.py)."""
    try:
        return ensure_ralph_venv()
    except RalphVenvError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def lrs(ralph_python, tmp_path_factory):
    """A running ralph LRS for the module."""
    server = RalphServer(ralph_python, tmp_path_factory.mktemp("ralph"), free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> dict[str, Path]:
    """Session logs: a full sandbox run (passes) and a short one (fails)."""
    folder = tmp_path_factory.mktemp("logs")
    runner = CliRunner()
    out = {}
    for name, args in {
        "pass": ["--seconds", "6", "--seed", "1"],
        "fail": ["--frames", "120", "--seed", "2"],
        "pass2": ["--seconds", "6", "--seed", "3"],
    }.items():
        out[name] = folder / f"{name}.jsonl"
        res = runner.invoke(cli, ["run", "sandbox", "--headless", *args, "--record", str(out[name])])
        assert res.exit_code == 0, res.output
    return out


def _env(store: Path, endpoint: str, password: str = PASSWORD) -> dict[str, str]:
    return {
        "VRMED_RECORDS_DIR": str(store),
        "VRMED_LRS_ENDPOINT": endpoint,
        "VRMED_LRS_USERNAME": USER,
        "VRMED_LRS_PASSWORD": password,
        "VRMED_INSTITUTION_SECRET": SECRET,
        "VRMED_RECORDS_CONFIG": "",
        "HOME": str(store.parent),
    }


def _vrmed(env: dict[str, str], *args: str) -> tuple[int, str]:
    res = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return res.exit_code, res.output


def _status(env: dict[str, str]) -> dict:
    code, out = _vrmed(env, "records", "status", "--json")
    assert code == 0, out
    return json.loads(out)


def test_push_and_read_back(lrs, logs, tmp_path):
    env = _env(tmp_path / "store", lrs.endpoint)
    code, out = _vrmed(env, "records", "add", str(logs["pass"]), str(logs["fail"]), "--learner", "Learner-007")
    assert code == 0, out
    assert "passed" in out and "failed" in out and "Learner-007" not in out
    assert _status(env)["queued"] == 7  # passed: attempted, completed, passed, terminated; failed: no completed
    code, out = _vrmed(env, "records", "push")
    assert code == 0, out
    assert out.startswith("sent 7 statement(s)")
    assert (_status(env)["queued"], _status(env)["sent"]) == (0, 7)

    config = load_config(env=env)
    client = LrsClient(lrs.endpoint, USER, PASSWORD)
    store = RecordStore(config.store_dir)
    (learner,) = store.learners()
    attempts = store.attempts(learner)
    assert sorted(a.score.passed for a in attempts) == [False, True]
    for attempt in attempts:
        sent = {
            json.loads(p.read_text())["statement"]["id"]: json.loads(p.read_text())["statement"]
            for p in (store.learner_dir(learner) / "sent").glob("*.json")
        }
        for sid in attempt.statement_ids:
            back = client.get_statement(sid)
            assert back is not None, f"statement {sid} not in the LRS"
            assert validate_statement(back) == []
            local = sent[sid]
            for key in ("id", "actor", "verb", "object", "result", "context", "timestamp"):
                assert back.get(key) == local.get(key), key
        verbs = sorted(s["verb"]["id"].rsplit("/", 1)[1] for s in client.query(registration=attempt.attempt_id))
        expected = ["attempted", "completed", "passed", "terminated"] if attempt.score.passed else []
        assert verbs == sorted(expected or ["attempted", "failed", "terminated"])  # cmi5: no completion claimed
    failed = next(a for a in attempts if not a.score.passed)
    back = client.get_statement(failed.statement_ids[1])
    assert back["verb"]["id"] == "http://adlnet.gov/expapi/verbs/failed"
    assert back["result"]["success"] is False and back["result"]["score"]["raw"] == failed.score.score
    assert back["result"]["extensions"]["https://w3id.org/vrmed/xapi/metrics/pokes"] == failed.score.metrics["pokes"]
    assert back["context"]["extensions"]["https://w3id.org/vrmed/xapi/context/session-id"] == failed.session_id
    assert back["actor"]["account"]["name"] == learner


def test_resend_after_crash_never_duplicates(lrs, logs, tmp_path):
    env = _env(tmp_path / "store", lrs.endpoint)
    assert _vrmed(env, "records", "add", str(logs["pass2"]), "--learner", "learner-dup")[0] == 0
    assert _vrmed(env, "records", "push")[0] == 0
    # A crash after the LRS accepted the batch but before the queue was updated: the
    # statements are back in the outbox and get sent again.
    store = RecordStore(tmp_path / "store")
    (learner,) = store.learners()
    folder = store.learner_dir(learner)
    for path in (folder / "sent").glob("*.json"):
        shutil.copy(path, folder / "outbox" / path.name)
    assert _status(env)["queued"] == 4
    code, out = _vrmed(env, "records", "push")
    assert code == 0, out
    assert _status(env)["queued"] == 0
    # Adding the same log again queues nothing.
    code, out = _vrmed(env, "records", "add", str(logs["pass2"]), "--learner", "learner-dup")
    assert code == 0 and "already recorded" in out and _status(env)["queued"] == 0
    client = LrsClient(lrs.endpoint, USER, PASSWORD)
    (attempt,) = store.attempts(learner)
    stored = client.query(registration=attempt.attempt_id)
    assert sorted(s["id"] for s in stored) == sorted(attempt.statement_ids)  # four, not eight


def test_wrong_password_keeps_statements_queued(lrs, logs, tmp_path):
    env = _env(tmp_path / "store", lrs.endpoint, password="wrong")
    assert _vrmed(env, "records", "add", str(logs["fail"]), "--learner", "learner-x")[0] == 0
    code, out = _vrmed(env, "records", "push")
    assert code == 1 and "refused the credentials (HTTP 401)" in out and "Traceback" not in out
    assert _status(env)["queued"] == 3  # a failed attempt: attempted, failed, terminated (never completed)


def test_offline_queue_loses_nothing(ralph_python, logs, tmp_path):
    port = free_port()
    server = RalphServer(ralph_python, tmp_path / "ralph", port)  # not started: the LRS is down
    env = _env(tmp_path / "store", server.endpoint)
    try:
        code, out = _vrmed(env, "records", "add", str(logs["pass"]), str(logs["fail"]), "--learner", "offline-1")
        assert code == 0, out
        before = {p.name: p.read_bytes() for p in (tmp_path / "store").rglob("*.json")}
        for _ in range(2):
            code, out = _vrmed(env, "records", "push")
            assert code == 1 and "cannot reach the LRS" in out and "stay queued" in out
            assert (_status(env)["queued"], _status(env)["sent"]) == (7, 0)
        # Failed pushes changed nothing on disk.
        assert {p.name: p.read_bytes() for p in (tmp_path / "store").rglob("*.json")} == before
        server.start()
        code, out = _vrmed(env, "records", "push")
        assert code == 0 and out.startswith("sent 7 statement(s)"), out
        assert (_status(env)["queued"], _status(env)["sent"]) == (0, 7)
        client = LrsClient(server.endpoint, USER, PASSWORD)
        store = RecordStore(tmp_path / "store")
        ids = [sid for lr in store.learners() for a in store.attempts(lr) for sid in a.statement_ids]
        assert len(ids) == 7
        for sid in ids:
            back = client.get_statement(sid)
            assert back is not None and validate_statement(back) == []
    finally:
        server.stop()


def test_lrs_server_errors_keep_statements_queued(ralph_python, logs, tmp_path):
    """A real HTTP 500: ralph 5.1.0's fs backend as released fails every write after the
    first. The statements that hit it stay queued and reach the LRS once it is fixed."""
    server = RalphServer(ralph_python, tmp_path / "ralph", free_port())
    env = _env(tmp_path / "store", server.endpoint)
    try:
        server.start(as_released=True)
        assert _vrmed(env, "records", "add", str(logs["pass"]), "--learner", "t-500")[0] == 0
        code, out = _vrmed(env, "records", "push")
        assert code == 0 and out.startswith("sent 4 statement(s)"), out  # the first write works
        assert _vrmed(env, "records", "add", str(logs["fail"]), "--learner", "t-500")[0] == 0
        code, out = _vrmed(env, "records", "push")
        assert code == 1 and "answered HTTP 500" in out and "stay queued" in out
        assert (_status(env)["queued"], _status(env)["sent"]) == (3, 4)
        server.stop()
        server.start()  # the same store, now with appending writes
        code, out = _vrmed(env, "records", "push")
        assert code == 0 and out.startswith("sent 3 statement(s)"), out
        client = LrsClient(server.endpoint, USER, PASSWORD)
        store = RecordStore(tmp_path / "store")
        for attempt in store.attempts(store.learners()[0]):
            stored = client.query(registration=attempt.attempt_id)
            assert sorted(s["id"] for s in stored) == sorted(attempt.statement_ids)
    finally:
        server.stop()
