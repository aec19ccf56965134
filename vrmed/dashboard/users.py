"""Dashboard accounts: instructors see the cohort, a learner sees only their own attempts.

Accounts live in a JSON file next to the attempt database (owner-only permissions). A
password is stored only as a salted scrypt hash (RFC 7914; N=2**14, r=8, p=1, the
parameters Python's documentation and OWASP's password storage cheat sheet give as a
minimum), compared in constant time. A learner account holds the learner's pseudonym
(never the institutional id), so the dashboard never learns who a learner is.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from ..errors import VrmedError

_N, _R, _P = 2**14, 8, 1
ROLES = ("instructor", "learner")


class DashboardError(VrmedError):
    """A dashboard account or configuration problem (one clear message)."""


@dataclass(frozen=True)
class User:
    """A dashboard account: ``learner`` is the pseudonym a learner account may see."""

    name: str
    role: str
    learner: str | None = None

    @property
    def is_instructor(self) -> bool:
        """Whether the account sees the whole cohort."""
        return self.role == "instructor"

    def may_see(self, learner: str) -> bool:
        """Whether this account may see ``learner``'s data."""
        return self.is_instructor or (self.learner is not None and hmac.compare_digest(self.learner, learner))


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$hash`` (base64) of a password."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a :func:`hash_password` string (constant-time compare)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


class UserStore:
    """The accounts file (``{"users": {name: {"role", "learner", "password"}}}``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _read(self) -> dict[str, dict[str, str]]:
        if not self.path.is_file():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DashboardError(f"{self.path}: cannot read the dashboard accounts ({exc})") from None
        users = data.get("users") if isinstance(data, dict) else None
        if not isinstance(users, dict):
            raise DashboardError(f"{self.path}: not a dashboard accounts file (no 'users' mapping)")
        return users

    def _write(self, users: dict[str, dict[str, str]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # hashes only, still owner-only
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"users": users}, fh, indent=1, sort_keys=True)
        os.replace(tmp, self.path)

    def names(self) -> list[str]:
        """Account names."""
        return sorted(self._read())

    def add(self, name: str, password: str, role: str, learner: str | None = None) -> User:
        """Create or replace an account."""
        if role not in ROLES:
            raise DashboardError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        if role == "learner" and not learner:
            raise DashboardError("a learner account needs the learner (their institutional id)")
        if not name.strip() or len(password) < 8:
            raise DashboardError("an account needs a name and a password of at least 8 characters")
        users = self._read()
        users[name] = {"role": role, "password": hash_password(password), **({"learner": learner} if learner else {})}
        self._write(users)
        return User(name, role, learner)

    def authenticate(self, name: str, password: str) -> User | None:
        """The account when the password is right, else None (same work either way)."""
        entry = self._read().get(name)
        ok = check_password(password, entry["password"] if entry else hash_password("timing-equaliser"))
        if not entry or not ok:
            return None
        return User(name, str(entry.get("role")), entry.get("learner"))

    def get(self, name: str) -> User | None:
        """An account by name (for a signed-in session)."""
        entry = self._read().get(name)
        return None if entry is None else User(name, str(entry.get("role")), entry.get("learner"))
