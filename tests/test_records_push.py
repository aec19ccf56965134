"""`records push` against a misbehaving LRS on 127.0.0.1 (a raw-socket server, so it can
break HTTP in ways no framework allows): every answer that does not acknowledge a
statement leaves it queued, credentials never leave the configured origin, and every
failure is one line within the deadline.

Each scenario checks the queue after the push (no loss: nothing marked sent that the
server did not acknowledge) and that the push returned within the client's deadline."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from click.testing import CliRunner

from vrmed.cli import cli
from vrmed.records import (
    AttemptScore,
    LrsClient,
    LrsError,
    RecordStore,
    build_statements,
)
from vrmed.records.attempt import Attempt
from vrmed.records.lrs import push

LEARNER = "l-" + "a" * 32
USER, PASSWORD = "vrmed", "s3cret-pw"


def _queue(store: RecordStore, n_attempts: int = 2) -> list[str]:
    """Queue the statements of ``n_attempts`` synthetic attempts; returns their ids."""
    ids = []
    for k in range(n_attempts):
        attempt = Attempt(
            attempt_id=f"00000000-0000-4000-8000-{k:012d}",
            learner=LEARNER,
            session_id=f"{k:064x}",
            pack="sandbox",
            pack_version="0.1.0",
            scenario="poke",
            engine="0.1.0",
            seed=k,
            started=f"2026-11-2{k}T10:00:00+00:00",
            sim_time=6.0,
            score=AttemptScore(15.0, 20.0, True, {"pokes": 12.0}),
            skill="sandbox/poke",
        )
        statements = build_statements(attempt, "https://lms.example.org/")
        store.add_attempt(attempt, statements)
        ids += [s["id"] for s in statements]
    return ids


Handler = Callable[[socket.socket, bytes, dict], None]


class RawServer:
    """A one-thread-per-connection HTTP-ish server whose answers a test scripts."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1") -> None:
        self.handler = handler
        self.requests: list[tuple[bytes, bytes]] = []  # (head, body)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.host, self.port = host, self.sock.getsockname()[1]
        self.stored: dict[str, dict] = {}
        self._stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}/xAPI/"

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(body) < length:
                body += conn.recv(65536)
            self.requests.append((head, body))
            self.handler(conn, head, {"body": body, "server": self})

    def close(self) -> None:
        self._stop = True
        self.sock.close()


def answer(conn: socket.socket, status: str, body: bytes = b"", headers: dict | None = None) -> None:
    hdrs = {"Content-Length": str(len(body)), "Connection": "close", **(headers or {})}
    conn.sendall(
        f"HTTP/1.1 {status}\r\n".encode() + b"".join(f"{k}: {v}\r\n".encode() for k, v in hdrs.items()) + b"\r\n" + body
    )


def conforming(conn: socket.socket, head: bytes, ctx: dict) -> None:
    """A conforming LRS: stores POSTed statements, answers their ids; GET by id."""
    server: RawServer = ctx["server"]
    method, target = head.split(b" ")[:2]
    if method == b"POST":
        batch = json.loads(ctx["body"])
        for s in batch:
            server.stored[s["id"]] = s
        answer(conn, "200 OK", json.dumps([s["id"] for s in batch]).encode(), {"Content-Type": "application/json"})
    elif method == b"GET":
        sid = target.decode().split("statementId=")[-1]
        if sid in server.stored:
            answer(conn, "200 OK", json.dumps(server.stored[sid]).encode(), {"Content-Type": "application/json"})
        else:
            answer(conn, "404 Not Found")
    else:
        answer(conn, "405 Method Not Allowed")


@pytest.fixture
def store(tmp_path) -> RecordStore:
    return RecordStore(tmp_path / "store")


@contextlib.contextmanager
def serving(handler: Handler, host: str = "127.0.0.1") -> Iterator[RawServer]:
    server = RawServer(handler, host)
    try:
        yield server
    finally:
        server.close()


def _push(store: RecordStore, server: RawServer, **kw) -> tuple[object, float]:
    client = LrsClient(server.endpoint, USER, PASSWORD, timeout_s=kw.pop("timeout_s", 1.0), **kw)
    t0 = time.monotonic()
    try:
        result: object = push(store, client, batch_size=50)
    except LrsError as exc:
        result = exc
    return result, time.monotonic() - t0


def test_conforming_lrs_gets_everything(store):
    ids = _queue(store)
    with serving(conforming) as server:
        report, _ = _push(store, server)
    assert report.ok and report.sent == len(ids) == 8
    assert sorted(store.sent_ids()) == sorted(ids) and store.queued() == []
    assert sorted(server.stored) == sorted(ids)


def test_redirect_to_another_host_sends_nothing_there(store):
    ids = _queue(store)
    with serving(conforming, host="127.0.0.2") as other:
        for code in ("301 Moved Permanently", "302 Found", "303 See Other", "307 Temporary Redirect"):

            def redirect(conn, head, ctx, code=code):
                answer(conn, code, headers={"Location": other.endpoint + "statements"})

            with serving(redirect) as server:
                result, _ = _push(store, server)
            assert isinstance(result, LrsError) and "redirecting to http://127.0.0.2" in str(result)
            assert "\n" not in str(result)
    assert other.requests == []  # neither the statements nor the credentials went there
    assert len(store.queued()) == len(ids) and store.sent_ids() == []


def test_html_200_captive_portal_acknowledges_nothing(store):
    ids = _queue(store)

    def portal(conn, head, ctx):
        answer(conn, "200 OK", b"<html><body>Welcome to Hospital WiFi</body></html>", {"Content-Type": "text/html"})

    with serving(portal) as server:
        report, _ = _push(store, server)
    assert not report.ok and report.sent == 0 and len(report.unacknowledged) == len(ids)
    assert f"did not acknowledge {len(ids)} statement(s)" in report.error
    assert len(store.queued()) == len(ids)


def test_partial_acceptance_marks_only_acknowledged_ids(store):
    ids = _queue(store)

    def half(conn, head, ctx):
        server = ctx["server"]
        method = head.split(b" ")[0]
        if method == b"POST":
            batch = json.loads(ctx["body"])[::2]  # stores every other statement
            for s in batch:
                server.stored[s["id"]] = s
            answer(conn, "200 OK", json.dumps([s["id"] for s in batch]).encode(), {"Content-Type": "application/json"})
        else:
            conforming(conn, head, ctx)

    with serving(half) as server:
        report, _ = _push(store, server)
        assert report.sent == 4 and len(report.unacknowledged) == 4 and not report.ok
        assert sorted(store.sent_ids()) == sorted(server.stored)
        assert sorted(q.id for q in store.queued()) == sorted(set(ids) - set(server.stored))


def test_stray_ids_are_refused(store):
    _queue(store)

    def liar(conn, head, ctx):
        answer(conn, "200 OK", b'["not-one-of-ours"]', {"Content-Type": "application/json"})

    with serving(liar) as server:
        result, _ = _push(store, server)
    assert isinstance(result, LrsError) and "was not sent" in str(result)
    assert len(store.queued()) == 8


def test_204_to_post_is_checked_by_reading_back(store):
    ids = _queue(store)

    def silent(conn, head, ctx):
        server = ctx["server"]
        if head.startswith(b"POST"):
            for s in json.loads(ctx["body"])[:4]:  # stores four of eight, says nothing
                server.stored[s["id"]] = s
            answer(conn, "204 No Content")
        else:
            conforming(conn, head, ctx)

    with serving(silent) as server:
        report, _ = _push(store, server)
    assert report.sent == 4 and sorted(store.sent_ids()) == sorted(ids[:4])
    assert [q.id for q in store.queued()] == ids[4:]


@pytest.mark.parametrize(
    "name, send",
    [
        (
            "trickle",
            lambda c: (
                [c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")]
                + [(c.sendall(b"["), time.sleep(0.2)) for _ in range(1000)]
            ),
        ),
        ("trickle-headers", lambda c: [(c.sendall(b"X"), time.sleep(0.2)) for _ in range(1000)]),
        ("truncated", lambda c: c.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n["abc')),
        ("bad-status-line", lambda c: c.sendall(b"HTTP/9 banana\r\n\r\n")),
        ("garbage", lambda c: c.sendall(bytes(range(256)) * 10)),
        (
            "endless",
            lambda c: (
                [c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")]
                + [c.sendall(b"[" * 65536) for _ in range(100)]
            ),
        ),
        (
            "endless-chunked",
            lambda c: (
                [c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")]
                + [c.sendall(b"10000\r\n" + b" " * 65536 + b"\r\n") for _ in range(100)]
            ),
        ),
        ("close-at-once", lambda c: None),
        ("503-retry-after", lambda c: answer(c, "503 Service Unavailable", b"maintenance", {"Retry-After": "120"})),
        ("429", lambda c: answer(c, "429 Too Many Requests", b"", {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"})),
        ("500", lambda c: answer(c, "500 Internal Server Error", b"<html>\n<h1>boom</h1>\n</html>")),
    ],
)
def test_broken_answers_are_one_line_and_keep_the_queue(store, name, send):
    ids = _queue(store)

    def handler(conn, head, ctx):
        send(conn)

    with serving(handler) as server:
        result, took = _push(store, server, timeout_s=0.5, deadline_s=1.5)
    message = result.error if hasattr(result, "error") else str(result)
    assert message and "\n" not in message and "stay queued" in message, message
    assert took < 3.0, f"{name}: push took {took:.1f} s past a 1.5 s deadline"
    assert len(store.queued()) == len(ids) and store.sent_ids() == []
    if name.startswith("503"):
        assert "retry after 120" in message


def test_queue_files_are_unchanged_by_a_failed_push(store, tmp_path):
    _queue(store)
    before = {p: p.read_bytes() for p in store.root.rglob("*.json")}

    def handler(conn, head, ctx):
        answer(conn, "502 Bad Gateway")

    with serving(handler) as server:
        _push(store, server)
    assert {p: p.read_bytes() for p in store.root.rglob("*.json")} == before


def test_cli_push_error_is_one_line(store, tmp_path):
    _queue(store)

    def handler(conn, head, ctx):
        answer(conn, "302 Found", headers={"Location": "http://127.0.0.2:1/steal"})

    with serving(handler) as server:
        env = {
            "VRMED_RECORDS_DIR": str(store.root),
            "VRMED_LRS_ENDPOINT": server.endpoint,
            "VRMED_LRS_USERNAME": USER,
            "VRMED_LRS_PASSWORD": PASSWORD,
            "VRMED_LRS_TIMEOUT": "1",
            "VRMED_RECORDS_CONFIG": "",
            "HOME": str(tmp_path),
        }
        res = CliRunner().invoke(cli, ["records", "push"], env=env)
    assert res.exit_code == 1 and res.output.count("\n") == 1 and res.output.startswith("error: ")
    assert "Traceback" not in res.output and PASSWORD not in res.output
    assert len(store.queued()) == 8


def test_credentials_only_sent_to_the_configured_origin(store):
    _queue(store)
    with serving(conforming) as server:
        _push(store, server)
    (head, _), *_ = server.requests
    assert b"Authorization: Basic " in head and b"X-Experience-API-Version: 1.0.3" in head


def test_verify_reads_every_statement_back(store):
    ids = _queue(store)

    def forgetful(conn, head, ctx):
        server = ctx["server"]
        if head.startswith(b"POST"):  # acknowledges every id, stores none but the first
            batch = json.loads(ctx["body"])
            server.stored[batch[0]["id"]] = batch[0]
            answer(conn, "200 OK", json.dumps([s["id"] for s in batch]).encode(), {"Content-Type": "application/json"})
        else:
            conforming(conn, head, ctx)

    with serving(forgetful) as server:
        client = LrsClient(server.endpoint, USER, PASSWORD, timeout_s=1.0)
        report = push(store, client, verify=True)
    assert report.sent == 1 and store.sent_ids() == [ids[0]] and len(store.queued()) == len(ids) - 1
    assert not report.ok and "did not acknowledge" in report.error
