"""Scale-out: two `vrmed serve` processes register in a Redis server started by the test;
a client finds each session by id, joins it, and a subscriber in this process sees that
session's presence and events through Redis pub/sub. Skipped without Debian's redis-server."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("redis")
REDIS = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(REDIS is None, reason="Debian's redis-server is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path):
    port = _free_port()
    proc = subprocess.Popen(
        [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def _serve(redis_url: str, sid: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "vrmed", "serve", "emergency/code_blue_team", "--port", "0", "--speed", "2"]
    cmd += ["--redis", redis_url, "--session-id", sid]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def _tokens(proc: subprocess.Popen, timeout: float = 60.0) -> dict[str, str]:
    tokens: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.match(r"\s+token (\S+): (\S+)", line)
        if m:
            tokens[m.group(1)] = m.group(2)
        if line.startswith("registered as session"):
            return tokens
    raise AssertionError(f"the server did not register (exit {proc.poll()})")


@pytest.mark.slow
def test_two_server_processes_register_route_and_publish_through_redis(redis_url):
    from vrmed.team.client import TeamClient
    from vrmed.team.scaleout import list_sessions, route, subscribe

    servers = {sid: _serve(redis_url, sid) for sid in ("ward-a", "ward-b")}
    try:
        tokens = {sid: _tokens(proc) for sid, proc in servers.items()}

        async def go():
            sessions = await list_sessions(redis_url)
            assert set(sessions) == {"ward-a", "ward-b"}
            assert {s["scenario"] for s in sessions.values()} == {"code_blue_team"}
            assert sessions["ward-a"]["url"] != sessions["ward-b"]["url"]  # two processes, two ports
            feed = subscribe(redis_url, "ward-b", timeout=10)
            first = await feed.__anext__()  # subscribed before anyone joins
            assert first["session"] == "ward-b"
            joined = {}
            for sid in ("ward-a", "ward-b"):
                client = TeamClient(await route(redis_url, sid), tokens[sid]["leader"])
                welcome = await client.connect()
                await client.act("call_help")
                joined[sid] = (client, welcome["client"])
            seen_presence = seen_event = False
            async for msg in feed:
                seen_presence |= msg["presence"].get(joined["ward-b"][1], {}).get("role") == "leader"
                seen_event |= any(e["type"] == "HelpCalled" for e in msg["events"])
                if seen_presence and seen_event:
                    break
            await feed.aclose()
            assert seen_presence and seen_event
            for client, _ in joined.values():
                await client.close()
            with pytest.raises(KeyError, match="no live session"):
                await route(redis_url, "ward-c")

        asyncio.run(go())
    finally:
        for proc in servers.values():
            proc.send_signal(signal.SIGTERM)
        for proc in servers.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()

    async def after():
        return await list_sessions(redis_url)

    assert asyncio.run(after()) == {}  # each server unregistered on SIGTERM
