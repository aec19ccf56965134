"""Sending statements to a learning record store (LRS) over HTTP.

xAPI 1.0.3 Communication: statements are POSTed as a JSON array to
``<endpoint>/statements`` (§2.1.2), every request carries ``X-Experience-API-Version``
(§3.3) and HTTP Basic authentication (§4, RFC 7617). HTTP is httpx's.

What counts as delivered is provable, not assumed:

* A POST is acknowledged by ``200 OK`` with a JSON array of statement ids (§2.1.2); only
  the ids in that array that belong to the batch are marked sent. An LRS that stores half
  a batch and returns half the ids leaves the other half queued. Any other 2xx (an HTML
  captive portal, ``204`` to a POST, an unreadable body) acknowledges nothing by itself:
  each statement is then read back (``GET ?statementId=``) and marked sent only when the
  LRS returns it with the same id.
* Redirects are never followed. A 3xx to a POST is an error naming where it pointed:
  following it would turn the POST into a GET (RFC 9110 §15.4) and could carry the Basic
  credentials to another host.
* Every request has a connect deadline, a per-read deadline and an overall deadline
  (enforced by a watchdog that shuts the socket, so a server trickling one byte a second
  cannot hold ``push`` open), and a response body limit (an endless body is cut off).
* Every HTTP failure is one line and leaves the queue as it was.

Delivery is at-least-once with idempotent ids: a statement leaves the queue only when the
LRS has acknowledged it, and because its id is stable, a resend after a crash or a lost
answer is recognised by the LRS and not stored twice.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import httpx

from .errors import LrsError, LrsUnreachable
from .store import QueuedStatement, RecordStore
from .xapi import XAPI_VERSION, validate_statement

#: Largest LRS answer read (bytes): a batch of 50 ids is about 2 KB, one statement a few KB.
MAX_RESPONSE_BYTES = 1 << 20


@dataclass(frozen=True)
class LrsClient:
    """An xAPI 1.0.3 statements client with bounded, redirect-free requests.

    ``timeout_s`` bounds connecting and each read; ``deadline_s`` (default: three times
    ``timeout_s``) bounds a whole request, answer included; ``max_response_bytes`` bounds
    the answer's size.
    """

    endpoint: str
    username: str
    password: str = field(repr=False)
    timeout_s: float = 10.0
    deadline_s: float | None = None
    max_response_bytes: int = MAX_RESPONSE_BYTES

    @property
    def statements_url(self) -> str:
        """``<endpoint>/statements``."""
        return self.endpoint.rstrip("/") + "/statements"

    @property
    def overall_deadline_s(self) -> float:
        """Seconds one request may take from connect to the last byte of its answer."""
        return self.deadline_s if self.deadline_s is not None else 3.0 * self.timeout_s

    def _request(self, method: str, url: str, body: Any = None) -> httpx.Request:
        headers = {
            "X-Experience-API-Version": XAPI_VERSION,
            "Accept": "application/json",
        }
        content = None
        if body is not None:
            content = json.dumps(body, separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = "application/json"
        # Basic credentials (RFC 7617) go on this one request to the configured origin only;
        # nothing here follows a redirect, so they never reach another host.
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
        return httpx.Request(method, url, headers=headers, content=content)

    def _send(self, request: httpx.Request) -> tuple[int, str, bytes, httpx.Headers]:
        """Send one request within the deadlines; returns status, reason, body and headers."""
        sockets: list[socket.socket] = []

        def trace(name: str, info: dict[str, Any]) -> None:
            # httpcore reports the connected stream: keep its socket for the watchdog.
            if name == "connection.connect_tcp.complete":
                stream = info.get("return_value")
                sock = stream.get_extra_info("socket") if stream is not None else None
                if sock is not None:
                    sockets.append(sock)
                    if expired.is_set():  # connected after the deadline: do not start reading
                        _shut(sock)

        expired = threading.Event()

        def watchdog() -> None:
            expired.set()
            for sock in sockets:
                _shut(sock)

        timer = threading.Timer(self.overall_deadline_s, watchdog)
        timer.daemon = True
        start = time.monotonic()
        timeout = httpx.Timeout(self.timeout_s, connect=min(self.timeout_s, self.overall_deadline_s))
        request.extensions = {**request.extensions, "trace": trace, "timeout": timeout.as_dict()}
        try:
            timer.start()
            # trust_env: institutions reach their LRS through HTTPS_PROXY and their own CA bundle
            with httpx.Client(follow_redirects=False, timeout=timeout, trust_env=True) as client:
                response = client.send(request, stream=True)
                try:
                    chunks, size = [], 0
                    for chunk in response.iter_bytes():  # decoded, counted as it arrives
                        size += len(chunk)
                        if size > self.max_response_bytes:
                            raise LrsUnreachable(
                                f"the LRS at {self.endpoint} sent an answer larger than "
                                f"{self.max_response_bytes} bytes; it was cut off. {_QUEUED}"
                            )
                        if time.monotonic() - start > self.overall_deadline_s:
                            raise httpx.ReadTimeout("overall deadline")
                        chunks.append(chunk)
                    body = b"".join(chunks)
                finally:
                    response.close()
        except httpx.HTTPError as exc:
            what = (
                f"no complete answer within {self.overall_deadline_s:g} s"
                if expired.is_set() or isinstance(exc, httpx.TimeoutException)
                else _one_line(str(exc) or type(exc).__name__)
            )
            raise LrsUnreachable(f"cannot reach the LRS at {self.endpoint} ({what}); {_QUEUED}") from None
        except (OSError, ValueError) as exc:  # socket errors outside httpx, a bad URL
            raise LrsUnreachable(
                f"cannot reach the LRS at {self.endpoint} ({_one_line(str(exc))}); {_QUEUED}"
            ) from None
        finally:
            timer.cancel()
        if expired.is_set():
            raise LrsUnreachable(
                f"cannot reach the LRS at {self.endpoint} (no complete answer within "
                f"{self.overall_deadline_s:g} s); {_QUEUED}"
            )
        return response.status_code, response.reason_phrase, body, response.headers

    def _checked(self, request: httpx.Request) -> tuple[int, bytes, httpx.Headers]:
        """Send and turn every non-2xx answer into one-line errors."""
        status, reason, body, headers = self._send(request)
        if 200 <= status < 300:
            return status, body, headers
        text = _one_line(body[:200].decode("utf-8", "replace"))
        if 300 <= status < 400:
            where = headers.get("location", "nowhere")
            raise LrsError(
                f"the LRS at {self.endpoint} answered HTTP {status} redirecting to {_one_line(where)}; vrmed "
                f"does not follow redirects (the statements and credentials must not leave the configured "
                f"origin): set lrs_endpoint to the LRS's real address. {_QUEUED}",
                status,
            )
        if status >= 500 or status in (408, 429):
            retry = headers.get("retry-after")
            later = f" (it asks to retry after {_one_line(retry)})" if retry else ""
            raise LrsUnreachable(
                f"the LRS at {self.endpoint} answered HTTP {status} ({text or reason}){later}; {_QUEUED}"
            )
        if status in (401, 403):
            raise LrsError(
                f"the LRS at {self.endpoint} refused the credentials (HTTP {status}); check "
                f"VRMED_LRS_USERNAME / VRMED_LRS_PASSWORD. {_QUEUED}",
                status,
            )
        raise LrsError(f"the LRS at {self.endpoint} rejected the request: HTTP {status} {text}. {_QUEUED}", status)

    def post_statements(self, statements: list[dict[str, Any]]) -> list[str] | None:
        """POST a batch; returns the statement ids the LRS acknowledged (§2.1.2: ``200``
        with a JSON array of ids), or None when the 2xx answer acknowledges no ids (then
        only a read-back can tell what was stored)."""
        status, body, headers = self._checked(self._request("POST", self.statements_url, statements))
        if status != 200 or "json" not in headers.get("content-type", "application/json").lower():
            return None
        try:
            ids = json.loads(body)
        except ValueError:
            return None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return None
        return ids

    def put_statement(self, statement: dict[str, Any]) -> None:
        """PUT one statement at its id (Communication §2.1.1); 204 when stored or already held."""
        url = self.statements_url + "?" + urllib.parse.urlencode({"statementId": statement["id"]})
        self._checked(self._request("PUT", url, statement))

    def get_statement(self, statement_id: str) -> dict[str, Any] | None:
        """The stored statement with this id, or None when the LRS has none."""
        url = self.statements_url + "?" + urllib.parse.urlencode({"statementId": statement_id})
        try:
            _, body, _ = self._checked(self._request("GET", url))
        except LrsError as exc:
            if exc.status == 404:
                return None
            raise
        try:
            data = json.loads(body)
        except ValueError:
            return None  # an HTML page is not a statement
        # The spec answers a single statement; some LRSs (ralph 5) wrap it in a result object.
        if isinstance(data, dict) and isinstance(data.get("statements"), list):
            found = [s for s in data["statements"] if isinstance(s, dict) and s.get("id") == statement_id]
            return found[0] if found else None
        return data if isinstance(data, dict) and data.get("id") == statement_id else None

    def query(self, **params: str) -> list[dict[str, Any]]:
        """GET /statements with filter parameters (Communication §2.1.3), following ``more``
        on the configured origin only."""
        url = self.statements_url + "?" + urllib.parse.urlencode(params)
        out: list[dict[str, Any]] = []
        base = urllib.parse.urlsplit(self.statements_url)
        for _ in range(1000):  # bounded: a misbehaving LRS cannot loop us forever
            _, body, _ = self._checked(self._request("GET", url))
            try:
                data = json.loads(body)
            except ValueError:
                raise LrsError(f"the LRS at {self.endpoint} answered a query with something that is not JSON") from None
            if not isinstance(data, dict):
                break
            out.extend(s for s in data.get("statements", []) if isinstance(s, dict))
            more = data.get("more")
            if not more or not isinstance(more, str):
                break
            nxt = urllib.parse.urljoin(f"{base.scheme}://{base.netloc}", more)
            if urllib.parse.urlsplit(nxt).netloc != base.netloc:
                raise LrsError(f"the LRS at {self.endpoint} pointed `more` at another host ({_one_line(more)})")
            url = nxt
        return out


_QUEUED = "statements stay queued, run `vrmed records push` again later"


def _shut(sock: socket.socket) -> None:
    """Shut a socket down from another thread: a read blocked on it returns at once."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed
        pass


def _one_line(text: str, width: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


@dataclass
class PushReport:
    """What a push did."""

    sent: int = 0
    already_queued_before: int = 0
    remaining: int = 0
    conflicts: list[str] = field(default_factory=list)
    #: Statements the LRS answered for without acknowledging them (and did not return on read-back).
    unacknowledged: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when every queued statement was acknowledged."""
        return self.error is None and not self.conflicts and not self.unacknowledged and self.remaining == 0


def push(store: RecordStore, client: LrsClient, *, batch_size: int = 50, verify: bool = False) -> PushReport:
    """Send every queued statement, oldest first, in batches, marking sent only the ones
    the LRS acknowledged (see the module docstring). Stops at the first unreachable-LRS
    error (what was acknowledged so far is marked sent; the rest stay queued). A batch
    the LRS answers with 409 Conflict is retried one statement at a time, so one
    conflicting statement does not hold back the others; conflicting ones stay queued and
    are reported. ``verify``: also read back every acknowledged statement before marking
    it sent."""
    with store.push_lock():
        queue = store.queued()
        report = PushReport(already_queued_before=len(queue))
        for item in queue:
            problems = validate_statement(item.statement)
            if problems:
                # Never send what the LRS would reject anyway; keep it for inspection.
                raise LrsError(f"{item.path}: queued statement is not valid xAPI 1.0.3: {problems[0]}")
        try:
            for start in range(0, len(queue), batch_size):
                batch = queue[start : start + batch_size]
                try:
                    acked = client.post_statements([q.statement for q in batch])
                except LrsError as exc:
                    if exc.status != 409:
                        raise
                    _one_by_one(store, client, batch, report, verify)
                    continue
                by_id = {q.id: q for q in batch}
                if acked is not None and any(i not in by_id for i in acked):
                    stray = next(i for i in acked if i not in by_id)
                    raise LrsError(
                        f"the LRS at {client.endpoint} acknowledged statement id {_one_line(stray, 60)!r}, which "
                        f"was not sent; it is not a conforming xAPI LRS. {_QUEUED}"
                    )
                for item in batch:
                    if acked is not None and item.id in acked and not verify:
                        store.mark_sent(item)
                        report.sent += 1
                    elif _read_back(client, item):
                        store.mark_sent(item)
                        report.sent += 1
                    else:
                        report.unacknowledged.append(item.id)
        except LrsUnreachable as exc:
            report.error = str(exc)
        if report.error is None and report.unacknowledged:
            report.error = (
                f"the LRS at {client.endpoint} did not acknowledge {len(report.unacknowledged)} statement(s) and "
                f"does not return them when asked; {_QUEUED}"
            )
        report.remaining = len(store.queued())
        return report


def _read_back(client: LrsClient, item: QueuedStatement) -> bool:
    """Whether the LRS returns the statement with this id (stored, not just answered)."""
    back = client.get_statement(item.id)
    return back is not None and back.get("id") == item.id


def _one_by_one(
    store: RecordStore, client: LrsClient, batch: list[QueuedStatement], report: PushReport, verify: bool
) -> None:
    for item in batch:
        try:
            client.put_statement(item.statement)
        except LrsError as exc:
            if exc.status != 409:
                raise
            report.conflicts.append(item.id)
            continue
        if verify and not _read_back(client, item):
            report.unacknowledged.append(item.id)
            continue
        store.mark_sent(item)
        report.sent += 1
