"""Errors of the learning-records layer; each says what is wrong and what to do."""

from __future__ import annotations

from ..errors import VrmedError


class RecordsError(VrmedError):
    """A learning-records problem (base class)."""


class RecordsConfigError(RecordsError):
    """The records configuration is missing a value or has an invalid one."""


class ScoringError(RecordsError):
    """A pack cannot score a session log (no ``score(log)`` or an invalid result)."""


class RecordsStoreError(RecordsError):
    """A file in the local attempt store is unreadable or not what vrmed wrote."""


class LrsError(RecordsError):
    """The learning record store answered with an error that retrying will not fix;
    ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class LrsUnreachable(RecordsError):
    """The learning record store could not be reached (network, timeout or a 5xx answer);
    statements stay queued and are retried by the next push."""
