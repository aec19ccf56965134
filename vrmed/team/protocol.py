"""The wire protocol of shared sessions: versioned JSON messages and expiring role tokens.

Every message is one WebSocket text frame holding a compact JSON object with ``"v"``
(:data:`VERSION`) and ``"type"``. A peer speaking another version is refused with an
``error`` naming both versions. Messages (client -> server):

- ``join`` {token, resume?, last_seq?}: take the role the token grants; ``resume`` (the key
  from an earlier ``welcome``) resumes a dropped connection within the grace period.
- ``input`` {seq, devices?, actions?}: one input sample; ``seq`` increases by one per
  message so nothing is lost or applied twice across a reconnect.
- ``login`` {password} (instructor console), then ``command`` {command: session.pause |
  session.resume}, ``annotate`` {text} (kept in the log header for the debrief) and
  ``issue`` {role, ttl?} (a join token).

Server -> client: ``welcome`` {client, role, resume, ack, grace_s, roles}, ``state``
{frame, t, ack, watch, events, devices, ended, result}, ``presence`` {client, role, status},
``token`` {role, token, expires}, ``error`` {message}.

Tokens are ``base64url(payload).base64url(HMAC-SHA256(secret, payload))`` with payload
``{"r": role, "exp": unix time, "n": nonce}``: issued by the server, checked in constant
time (:func:`hmac.compare_digest`), refused once expired. They name a role, never a person;
clients are known on the wire and in the log only by a random pseudonym.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

#: Protocol version; bump on any incompatible change to the messages above.
VERSION = 1
#: Largest message accepted (bytes); a larger one closes the connection.
MAX_MESSAGE = 64 * 1024
#: Most actions one input message may carry.
MAX_ACTIONS = 16
#: Most devices one input message may carry.
MAX_DEVICES = 8


class ProtocolError(ValueError):
    """A message that is malformed, of another protocol version or not allowed."""


def encode(kind: str, **body: Any) -> str:
    """One message as compact JSON text."""
    return json.dumps({"v": VERSION, "type": kind, **body}, separators=(",", ":"), allow_nan=False)


def decode(text: str | bytes) -> dict[str, Any]:
    """Parse and check one message (version, type, size); raises :class:`ProtocolError`."""
    if len(text) > MAX_MESSAGE:
        raise ProtocolError(f"message of {len(text)} bytes exceeds {MAX_MESSAGE}")
    try:
        msg = json.loads(text)
    except ValueError as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise ProtocolError("a message is a JSON object with a 'type'")
    if msg.get("v") != VERSION:
        raise ProtocolError(f"protocol version {msg.get('v')!r} is not supported (this server speaks {VERSION})")
    return msg


def check_input(msg: dict[str, Any]) -> tuple[int, dict[str, Any], list[dict[str, Any]]]:
    """The ``seq``, devices and actions of an ``input`` message (bounded, typed)."""
    seq = msg.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise ProtocolError("input needs seq, a positive whole number")
    devices = msg.get("devices") or {}
    actions = msg.get("actions") or []
    if not isinstance(devices, dict) or len(devices) > MAX_DEVICES:
        raise ProtocolError(f"devices must be a mapping of at most {MAX_DEVICES} devices")
    if not isinstance(actions, list) or len(actions) > MAX_ACTIONS:
        raise ProtocolError(f"actions must be a list of at most {MAX_ACTIONS} requests")
    clean: list[dict[str, Any]] = []
    for a in actions:
        if not isinstance(a, dict) or not isinstance(a.get("id"), str):
            raise ProtocolError("an action is {id, fields}")
        req: dict[str, Any] = {"id": a["id"], "fields": a.get("fields") or {}}
        if isinstance(a.get("target"), str):
            req["target"] = a["target"]
        if isinstance(a.get("patient"), str):  # which patient, once the instructor added a casualty
            req["patient"] = a["patient"][:64]
        clean.append(req)
    return seq, {str(k): v for k, v in devices.items() if isinstance(v, dict)}, clean


@dataclass(frozen=True)
class Grant:
    """What a valid token grants: a role until ``expires`` (unix time)."""

    role: str
    expires: float


class TokenIssuer:
    """Issues and checks expiring per-role session tokens (HMAC-SHA256, one secret per server)."""

    def __init__(self, secret: bytes | None = None, *, clock: Any = time.time) -> None:
        self._secret = secret or secrets.token_bytes(32)
        self._clock = clock

    def issue(self, role: str, ttl_s: float = 3600.0) -> str:
        """A token for ``role`` valid for ``ttl_s`` seconds."""
        payload = json.dumps({"r": role, "exp": self._clock() + ttl_s, "n": secrets.token_hex(8)}).encode()
        mac = hmac.new(self._secret, payload, hashlib.sha256).digest()
        return f"{_b64(payload)}.{_b64(mac)}"

    def check(self, token: Any) -> Grant:
        """The grant of a token; raises :class:`ProtocolError` if forged, malformed or expired."""
        if not isinstance(token, str) or token.count(".") != 1 or len(token) > 512:
            raise ProtocolError("malformed token")
        body, mac = token.split(".")
        try:
            payload, given = _unb64(body), _unb64(mac)
        except ValueError:
            raise ProtocolError("malformed token") from None
        if not hmac.compare_digest(hmac.new(self._secret, payload, hashlib.sha256).digest(), given):
            raise ProtocolError("invalid token (not issued by this server)")
        data = json.loads(payload)
        if float(data["exp"]) < self._clock():
            raise ProtocolError("the token has expired; ask the instructor for a new one")
        return Grant(str(data["r"]), float(data["exp"]))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def pseudonym() -> str:
    """A random pseudonymous client id (what the wire and the log know a learner by)."""
    return "p" + secrets.token_hex(4)
