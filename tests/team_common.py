"""Shared by the team tests: the emergency pack, loaded once per test process (loading it
takes 2-5 s on the 2-core CI machine; seven team modules used to load it each). The
``emergency_pack`` session fixture in conftest.py returns this same object, so a whole
test run loads the pack once."""

from __future__ import annotations

import functools
from typing import Any

from vrmed.session import open_target

SCENARIO = "code_blue_team"


@functools.lru_cache(maxsize=1)
def emergency_pack() -> Any:
    """The installed emergency pack (read-only: tests copy its folder before changing it)."""
    return open_target("emergency")[0]
