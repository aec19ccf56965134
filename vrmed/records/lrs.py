"""Sending statements to a learning record store (LRS) over HTTP.

xAPI 1.0.3 Communication: statements are POSTed as a JSON array to
``<endpoint>/statements`` (§2.1.2), every request carries ``X-Experience-API-Version``
(§3.3) and HTTP Basic authentication (§4, RFC 7617). Only the standard library is used.

Delivery is at-least-once with idempotent ids: a statement leaves the queue only when the
LRS has accepted it, and because its id is stable, a resend after a crash or a lost
answer is recognised by the LRS and not stored twice.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from .errors import LrsError, LrsUnreachable
from .store import QueuedStatement, RecordStore
from .xapi import XAPI_VERSION, validate_statement


@dataclass(frozen=True)
class LrsClient:
    """A minimal xAPI 1.0.3 statements client (stdlib ``urllib``)."""

    endpoint: str
    username: str
    password: str = field(repr=False)
    timeout_s: float = 10.0

    @property
    def statements_url(self) -> str:
        """``<endpoint>/statements``."""
        return self.endpoint.rstrip("/") + "/statements"

    def _request(self, method: str, url: str, body: Any = None) -> urllib.request.Request:
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")
        headers = {
            "X-Experience-API-Version": XAPI_VERSION,
            "Authorization": f"Basic {token}",
            "Accept": "application/json",
        }
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = "application/json"
        return urllib.request.Request(url, data=data, method=method, headers=headers)

    def _send(self, request: urllib.request.Request) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read()[:300].decode("utf-8", "replace")
            if status >= 500 or status in (408, 429):
                raise LrsUnreachable(
                    f"the LRS at {self.endpoint} answered HTTP {status} ({text}); "
                    f"statements stay queued, run `vrmed records push` again later"
                ) from None
            if status in (401, 403):
                raise LrsError(
                    f"the LRS at {self.endpoint} refused the credentials (HTTP {status}); check "
                    f"VRMED_LRS_USERNAME / VRMED_LRS_PASSWORD",
                    status,
                ) from None
            raise LrsError(f"the LRS at {self.endpoint} rejected the request: HTTP {status} {text}", status) from None
        except (TimeoutError, urllib.error.URLError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise LrsUnreachable(
                f"cannot reach the LRS at {self.endpoint} ({reason}); statements stay queued, "
                f"run `vrmed records push` again later"
            ) from None

    def post_statements(self, statements: list[dict[str, Any]]) -> list[str]:
        """POST a batch; returns the ids the LRS reports (an empty list for 204, the
        answer when it already held all of them)."""
        status, body = self._send(self._request("POST", self.statements_url, statements))
        if status == 204 or not body.strip():
            return []
        try:
            ids = json.loads(body)
        except ValueError:  # accepted (2xx) with a body we cannot read: still accepted
            return []
        return [str(i) for i in ids] if isinstance(ids, list) else []

    def put_statement(self, statement: dict[str, Any]) -> None:
        """PUT one statement at its id (Communication §2.1.1); 204 when stored or already held."""
        url = self.statements_url + "?" + urllib.parse.urlencode({"statementId": statement["id"]})
        self._send(self._request("PUT", url, statement))

    def get_statement(self, statement_id: str) -> dict[str, Any] | None:
        """The stored statement with this id, or None when the LRS has none."""
        url = self.statements_url + "?" + urllib.parse.urlencode({"statementId": statement_id})
        try:
            _, body = self._send(self._request("GET", url))
        except LrsError as exc:
            if exc.status == 404:
                return None
            raise
        data = json.loads(body)
        # The spec answers a single statement; some LRSs (ralph 5) wrap it in a result object.
        if isinstance(data, dict) and "statements" in data:
            found = [s for s in data["statements"] if s.get("id") == statement_id]
            return found[0] if found else None
        return data if isinstance(data, dict) else None

    def query(self, **params: str) -> list[dict[str, Any]]:
        """GET /statements with filter parameters (Communication §2.1.3), following ``more``."""
        url = self.statements_url + "?" + urllib.parse.urlencode(params)
        out: list[dict[str, Any]] = []
        base = urllib.parse.urlsplit(self.statements_url)
        for _ in range(1000):  # bounded: a misbehaving LRS cannot loop us forever
            _, body = self._send(self._request("GET", url))
            data = json.loads(body)
            out.extend(data.get("statements", []))
            more = data.get("more")
            if not more:
                break
            url = urllib.parse.urljoin(f"{base.scheme}://{base.netloc}", more)
        return out


@dataclass
class PushReport:
    """What a push did."""

    sent: int = 0
    already_queued_before: int = 0
    remaining: int = 0
    conflicts: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when every queued statement was accepted."""
        return self.error is None and not self.conflicts and self.remaining == 0


def push(store: RecordStore, client: LrsClient, *, batch_size: int = 50) -> PushReport:
    """Send every queued statement, oldest first, in batches. Stops at the first
    unreachable-LRS error (what was accepted so far is marked sent; the rest stay queued).
    A batch the LRS answers with 409 Conflict is retried one statement at a time, so one
    conflicting statement (a differing statement with the same id) does not hold back the
    others; conflicting ones stay queued and are reported."""
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
                    client.post_statements([q.statement for q in batch])
                except LrsError as exc:
                    if exc.status != 409:
                        raise
                    _one_by_one(store, client, batch, report)
                    continue
                for item in batch:
                    store.mark_sent(item)
                    report.sent += 1
        except LrsUnreachable as exc:
            report.error = str(exc)
        report.remaining = len(store.queued())
        return report


def _one_by_one(store: RecordStore, client: LrsClient, batch: list[QueuedStatement], report: PushReport) -> None:
    for item in batch:
        try:
            client.put_statement(item.statement)
        except LrsError as exc:
            if exc.status != 409:
                raise
            report.conflicts.append(item.id)
            continue
        store.mark_sent(item)
        report.sent += 1
