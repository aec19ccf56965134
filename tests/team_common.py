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


class ServerThread:
    """A TeamServer on an asyncio loop in a thread (for a client that runs its own loop
    in the test's thread: the desktop window, the headset), with a leader client that has
    a head pose and has ordered the compressors to swap."""

    def __init__(self, pack: Any, speed: float = 4, scenario: str = SCENARIO) -> None:
        import asyncio  # deferred: only the threaded-server tests need them
        import threading

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: Any = self.run(self._start(pack, speed, scenario))

    def run(self, coro: Any) -> Any:
        """Run a coroutine on the server's loop and wait for its result."""
        import asyncio  # deferred: as above

        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    async def _start(self, pack: Any, speed: float, scenario: str) -> Any:
        from vrmed.team.client import TeamClient  # deferred: as above
        from vrmed.team.server import TeamServer

        server = TeamServer(pack, scenario, speed=speed, grace_s=5)
        await server.start()
        self.leader = TeamClient(server.url, server.issue("leader"))
        await self.leader.connect()
        head = {"position": [-0.6, 1.7, 0.4], "orientation": [1.0, 0.0, 0.0, 0.0]}
        await self.leader.send([{"id": "order", "fields": {"task": "swap", "to_role": "compressor"}}], {"head": head})
        return server

    async def _stop(self) -> None:
        await self.leader.close()
        await self.server.stop()

    def stop(self) -> Any:
        """Stop the server; its finished session log."""
        self.run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        log = self.server.finish()
        self.server.session.close()
        return log


class FileMic:
    """A microphone that "records" a given WAV clip: the push-to-talk path of the desktop and
    headset clients without audio hardware."""

    def __init__(self, clip: bytes) -> None:
        self.clip = clip
        self.started = 0

    def start(self) -> None:
        self.started += 1

    def stop(self) -> bytes:
        return self.clip
