"""User-facing errors.

Everything a user can get wrong (a pack file, a CLI argument, a mesh) raises a subclass of
:class:`VrmedError`. The CLI prints the message and exits non-zero instead of showing a
traceback; anything else escaping is a bug in vrmed.
"""

from __future__ import annotations


class VrmedError(Exception):
    """A user-facing error: the message says what is wrong and what to do."""


class ConfigError(VrmedError):
    """An App was configured inconsistently (unknown stage, ordering cycle, missing resource)."""


class ReplayMismatch(VrmedError):
    """A replayed session did not reproduce the recorded events or final state."""
