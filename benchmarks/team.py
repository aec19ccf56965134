"""Shared-session load: N team sessions x M clients on loopback, in real time.

``vrmed bench team`` (targets: ``sessions=10 clients=6 seconds=60``; ``--quick``: 10 s).
The servers run in this process, one asyncio loop, each stepping its code-blue team
scenario at 20 Hz in real time and streaming state at 20 Hz; the clients run in a child
process (so their work is not charged to the servers): the scenario's five scripted team
members plus a recorder per session, each also streaming a head pose at 10 Hz as a headset
would. Reported:

- tick jitter: how late each server tick starts against its fixed schedule (p50/p99, ms),
  while the clients play;
- state-update latency: from the server stamping a state message to a client decoding it
  (CLOCK_MONOTONIC is shared by both processes on one host), p50/p99 ms;
- bandwidth per client, down (server -> client) and up, kB/s;
- CPU per session: the server process's CPU time while the clients play, divided by sessions and
  wall time (% of one core), and the mean simulation step per frame;
- with ``mirror=1``: the recorder joins as a mirror (as ``vrmed join --input desktop`` does:
  every frame's recorded input sample besides the state), ``mirror_down_kB_s`` its down
  bandwidth (the other clients' figure excludes it).
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import queue
import time
from typing import Any

import numpy as np

from vrmed.session import open_target
from vrmed.team.client import ScriptedTeamClient
from vrmed.team.local import slot_role
from vrmed.team.roles import ScriptedStep
from vrmed.team.server import TeamServer

TARGET = "emergency/code_blue_team"


def _options(options: dict[str, Any]) -> tuple[int, int, float, bool]:
    kv = dict(t.split("=", 1) for t in options.get("targets", []) if "=" in t)
    seconds = float(kv.get("seconds", 10.0 if options.get("quick") else 60.0))
    return int(kv.get("sessions", 10)), int(kv.get("clients", 6)), seconds, kv.get("mirror", "0") == "1"


async def _clients(jobs: list[Any], seconds: float, out: Any) -> dict[str, Any]:
    clients = [
        ScriptedTeamClient(url, tok, [ScriptedStep(*s) for s in steps], mirror=mirror)
        for url, tok, steps, mirror in jobs
    ]
    for c in clients:
        await c.connect()
    out.put("ready")  # the measured window starts now (not at the child's start-up)

    async def poses(c: ScriptedTeamClient) -> None:
        phase = 0.0
        end = asyncio.get_running_loop().time() + seconds
        while asyncio.get_running_loop().time() < end and not c.ended:
            phase += 0.1
            head = {"position": [0.2 * np.sin(phase), 1.6, 0.3], "orientation": [1.0, 0.0, 0.0, 0.0]}
            await c.send(devices={"head": head})
            await asyncio.sleep(0.1)

    await asyncio.gather(*(c.play(seconds + 5, until=seconds) for c in clients), *(poses(c) for c in clients))
    lat = np.concatenate([np.asarray(c.latencies[20:]) for c in clients if len(c.latencies) > 20] or [np.zeros(1)])
    up = sum(c.bytes_sent for c in clients) / seconds / len(clients)
    for c in clients:
        await c.close()
    return {
        "latency_p50_ms": float(np.percentile(lat, 50) * 1e3),
        "latency_p99_ms": float(np.percentile(lat, 99) * 1e3),
        "up_B_s": up,
    }


def _get(out: Any, proc: Any, timeout: float) -> Any:
    """The child's next message; fails at once if the child died (bounded wait)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            return out.get(True, 0.5)
        except queue.Empty:
            if not proc.is_alive():
                raise RuntimeError(f"the client process exited with code {proc.exitcode}") from None
    raise TimeoutError("the client process did not answer in time")


def _client_process(jobs: list[Any], seconds: float, out: Any) -> None:
    out.put(asyncio.run(_clients(jobs, seconds, out)))


async def _serve(sessions: int, clients: int, seconds: float, mirror: bool = False) -> dict[str, Any]:
    pack = open_target(TARGET)[0]
    servers = [
        TeamServer(pack, "code_blue_team", speed=1.0, display_rate=20, state_rate=20, seed=i) for i in range(sessions)
    ]
    jobs = []
    for server in servers:
        await server.start()
        slots = sorted(server.team.scripted) + ["recorder"]
        for slot in (slots * clients)[:clients]:
            steps = [(s.t, s.action, s.fields) for s in server.team.scripted.get(slot, ())]
            # mirror=1: the recorder joins as a desktop front end would (every recorded sample too)
            jobs.append((server.url, server.issue(slot_role(slot)), steps, mirror and slot == "recorder"))
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_client_process, args=(jobs, seconds, out))
    proc.start()
    loop = asyncio.get_running_loop()
    try:
        ready = await loop.run_in_executor(None, _get, out, proc, 120.0)
        assert ready == "ready"
        cpu0, wall0 = time.process_time(), time.perf_counter()
        base = {id(m): m.bytes_sent for s in servers for m in s.members.values()}
        firsts = [len(s.stats.lateness) for s in servers]
        result = await loop.run_in_executor(None, _get, out, proc, seconds + 120.0)
    finally:
        proc.join(10)
        if proc.is_alive():
            proc.kill()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    for server in servers:
        await server.stop()
    late = np.concatenate([np.asarray(s.stats.lateness[f:]) for s, f in zip(servers, firsts)])
    step = np.concatenate([np.asarray(s.stats.step_cpu[f:]) for s, f in zip(servers, firsts)])
    down = [(m.bytes_sent - base.get(id(m), 0)) / wall for s in servers for m in s.members.values() if not m.mirror]
    down_mirror = [(m.bytes_sent - base.get(id(m), 0)) / wall for s in servers for m in s.members.values() if m.mirror]
    for server in servers:
        server.session.close()
    return {
        "sessions": sessions,
        "clients_per_session": clients,
        "seconds": round(wall, 1),
        "tick_jitter_p50_ms": float(np.percentile(late, 50) * 1e3),
        "tick_jitter_p99_ms": float(np.percentile(late, 99) * 1e3),
        "state_latency_p50_ms": result["latency_p50_ms"],
        "state_latency_p99_ms": result["latency_p99_ms"],
        "down_kB_s_per_client": float(np.mean(down) / 1e3) if down else 0.0,
        "up_kB_s_per_client": result["up_B_s"] / 1e3,
        **({"mirror_down_kB_s": float(np.mean(down_mirror) / 1e3)} if down_mirror else {}),
        "cpu_pct_per_session": 100.0 * cpu / wall / sessions,
        "step_mean_ms": float(step.mean() * 1e3),
    }


def run(options: dict[str, Any]) -> dict[str, Any]:
    """The load benchmark (see the module docstring)."""
    sessions, clients, seconds, mirror = _options(options)
    row = asyncio.run(_serve(sessions, clients, seconds, mirror))
    return {
        "rows": [row],
        "notes": [
            f"{sessions} sessions x {clients} clients on loopback for {seconds:g} s, servers in one process "
            f"(one asyncio loop), clients in another; {os.cpu_count()} CPUs on this machine, shared",
            "tick jitter = lateness of each 20 Hz server tick against its schedule; "
            "latency = server stamp -> client decode",
        ],
    }
