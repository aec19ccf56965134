"""Scale-out: many server processes (or machines) behind one Redis.

One :class:`TeamServer` process serves one session (the default needs nothing else). With
``vrmed serve --redis redis://HOST:6379/0`` each server also:

- **registers** its session in the hash ``vrmed:sessions`` (session id -> JSON: the join
  URL, console URL, pack, scenario, roles), so a lobby, a load balancer or a client finds
  it by id (:func:`list_sessions`, :func:`route`);
- keeps a **liveness** key ``vrmed:alive:ID`` with a TTL it refreshes every ``ttl/3`` s:
  a crashed server disappears from :func:`list_sessions` within ``ttl`` seconds;
- keeps **presence** in ``vrmed:presence:ID`` (pseudonym -> role/status);
- **publishes** a compact summary of its state (time, watched values, ended, presence) and
  its new events on the channel ``vrmed:session:ID`` for instructor consoles and
  dashboards served by other processes (:func:`subscribe`).

Redis holds no learner identity: the same pseudonyms as the wire. It is the well-kept
`redis-py <https://redis.readthedocs.io>`_ asyncio client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis

from .server import TeamServer

PREFIX = "vrmed"


def _key(*parts: str) -> str:
    return ":".join((PREFIX, *parts))


class RedisRegistry:
    """Registers one running :class:`TeamServer` in Redis and publishes its state."""

    def __init__(
        self,
        server: TeamServer,
        url: str,
        *,
        session_id: str | None = None,
        public_url: str | None = None,
        ttl: float = 15.0,
        publish_rate: float = 2.0,
    ) -> None:
        self.server = server
        self.redis = aioredis.from_url(url, socket_timeout=5.0, socket_connect_timeout=5.0)
        self.session_id = session_id or secrets.token_hex(6)
        self.public_url = public_url
        self.ttl, self.period = ttl, 1.0 / publish_rate
        self._task: asyncio.Task[None] | None = None
        self._event_index = 0

    def info(self) -> dict[str, Any]:
        """What the registry says about this session."""
        s = self.server
        url = self.public_url or s.url
        return {
            "url": url,
            "console": url.replace("ws", "http", 1).rsplit("/ws", 1)[0] + "/",
            "pack": s.session.pack.name,
            "scenario": s.session.scenario.name,
            "roles": {k: r.max for k, r in s.team.roles.items()},
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }

    async def start(self) -> None:
        """Register and start publishing (the server must be started)."""
        await self.redis.hset(_key("sessions"), self.session_id, json.dumps(self.info()))
        await self.redis.set(_key("alive", self.session_id), "1", px=int(self.ttl * 1000))
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        """Stop publishing and unregister."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.redis.hdel(_key("sessions"), self.session_id)
            await self.redis.delete(_key("alive", self.session_id), _key("presence", self.session_id))
        await self.redis.aclose()

    async def _loop(self) -> None:
        last_alive = 0.0
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            if now - last_alive >= self.ttl / 3:
                await self.redis.set(_key("alive", self.session_id), "1", px=int(self.ttl * 1000))
                last_alive = now
            await self.publish_once()
            await asyncio.sleep(self.period)

    async def publish_once(self) -> None:
        """Publish presence and a state summary with the events since the last one."""
        s = self.server
        presence: dict[Any, str] = {  # (redis-py types its keys as an invariant union)
            m.client: json.dumps({"role": m.role, "status": "connected" if m.ws is not None else "lost"})
            for m in s.members.values()
        }
        key = _key("presence", self.session_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            if presence:
                pipe.hset(key, mapping=presence)
            await pipe.execute()
        events = s.session.recorder.log.events[self._event_index :]
        self._event_index += len(events)
        app = s.session.app
        message = {
            "session": self.session_id,
            "t": float(app.clock.time),
            "ended": s.ended.is_set(),
            "presence": {str(k): json.loads(v) for k, v in presence.items()},
            "events": [{"t": e["t"], "type": e["type"].rsplit(":", 1)[-1], "data": e["data"]} for e in events],
        }
        await self.redis.publish(_key("session", self.session_id), json.dumps(message, default=str))


async def list_sessions(url: str) -> dict[str, dict[str, Any]]:
    """Every registered session whose server is alive, by session id."""
    r = aioredis.from_url(url, socket_timeout=5.0, socket_connect_timeout=5.0)
    try:
        raw = await r.hgetall(_key("sessions"))
        out = {}
        for key, info in raw.items():
            sid = key.decode() if isinstance(key, bytes) else str(key)
            if await r.exists(_key("alive", sid)):
                out[sid] = json.loads(info)
        return out
    finally:
        await r.aclose()


async def route(url: str, session_id: str) -> str:
    """The join URL of a live session (raises KeyError when none is registered)."""
    sessions = await list_sessions(url)
    if session_id not in sessions:
        raise KeyError(f"no live session {session_id!r}; live: {', '.join(sessions) or 'none'}")
    return str(sessions[session_id]["url"])


async def subscribe(url: str, session_id: str, *, timeout: float = 10.0) -> AsyncIterator[dict[str, Any]]:
    """The published summaries of one session as they come (stops after ``timeout`` s of silence)."""
    r = aioredis.from_url(url, socket_timeout=None, socket_connect_timeout=5.0)
    pubsub = r.pubsub()
    await pubsub.subscribe(_key("session", session_id))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while (left := deadline - loop.time()) > 0:
            # None also for the (ignored) subscribe confirmation: keep waiting until the deadline
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=left)
            if msg is None:
                continue
            deadline = loop.time() + timeout
            yield json.loads(msg["data"])
    finally:
        await pubsub.unsubscribe()
        await pubsub.aclose()
        await r.aclose()
