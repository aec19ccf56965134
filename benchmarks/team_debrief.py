"""The instructor console's debrief player against a live shared session.

``vrmed bench team_debrief`` (``seconds=30``; ``--quick``: 12 s). One code-blue team
session runs in real time (20 Hz) with two members streaming head poses at 10 Hz. For the
first half nobody looks at the debrief; for the second half the console's player
(:class:`vrmed.team.debrief.DebriefPlayer`, its worker process) renders moments without a
pause: a seek to two seconds before the live clock, half a second forward from there, then
back to an early moment (a seek back replays from frame 0), in turn. Reported:

- ``worker_start_s``: the worker process's start (spawn, import, pack load);
- ``forward_ms`` p50: a seek half a second forward (10 frames replayed, both views drawn);
- ``back_s`` p50: a seek back to an early moment (a fresh replay App from frame 0: mostly
  its build); ``long_forward_s`` the next seek, forward from there to two seconds before the
  live clock (``long_forward_sim_s`` later), and ``replay_ms_per_sim_s`` the replay's cost
  per simulated second (that seek less a short one, over the time between): a seek back to
  time T costs about ``back_s`` + T x ``replay_ms_per_sim_s``;
- ``png_kB``: one view at 480x360;
- ``tick_p99_ms`` without and with the debrief rendering: the live server's tick lateness
  against its schedule (the worker runs in its own process, so it should not rise beyond
  what sharing the machine's cores costs).
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import numpy as np

from vrmed.session import open_target
from vrmed.team.client import TeamClient
from vrmed.team.server import TeamServer

TARGET = "emergency/code_blue_team"


async def _poses(clients: list[TeamClient], stop: asyncio.Event) -> None:
    """Each member's head turns slowly, 1 m apart, sent at 10 Hz as a headset would."""
    k = 0
    while not stop.is_set():
        for i, c in enumerate(clients):
            a = 0.2 * math.sin(0.1 * k + i)
            quat = [math.cos(a / 2), 0.0, math.sin(a / 2), 0.0]
            await c.send(devices={"head": {"position": [0.0, 1.7, float(i)], "orientation": quat}})
        k += 1
        await asyncio.sleep(0.1)


async def _run(seconds: float) -> dict[str, Any]:
    pack, scenario = open_target(TARGET)
    server = TeamServer(pack, scenario, speed=1.0, instructor_password="bench")
    await server.start()
    stop = asyncio.Event()
    clients = [TeamClient(server.url, server.issue(role)) for role in ("leader", "compressor")]
    for c in clients:
        await c.connect()
    poses = asyncio.create_task(_poses(clients, stop))
    player = server.debrief
    try:
        await asyncio.sleep(seconds / 2)
        c0 = time.perf_counter()
        await asyncio.get_running_loop().run_in_executor(None, player._warm)  # the worker's start
        start_s = time.perf_counter() - c0
        quiet = list(server.stats.lateness)
        mark = len(server.stats.lateness)
        end = asyncio.get_running_loop().time() + seconds / 2
        forward: list[tuple[float, float]] = []
        back: list[tuple[float, float]] = []
        far: list[tuple[float, float]] = []
        sizes: list[int] = []
        k = 0
        while asyncio.get_running_loop().time() < end:
            live_t = server.session.app.clock.frame / player.rate
            early, late = 0.5 + 0.05 * k, live_t - 2.0  # new moments each time: never cached
            for t, out in ((late, far), (late + 0.5, forward), (early, back)):
                c0 = time.perf_counter()
                snap = await player.request(max(0.05, t))
                out.append((time.perf_counter() - c0, snap.t))
                sizes.extend(len(b) for b in snap.images.values())
            k += 1
        busy = server.stats.lateness[mark:]
    finally:
        stop.set()
        await poses
        for c in clients:
            await c.close()
        await server.stop()
        server.finish()
        server.session.close()
    back_cost = [s for s, _ in back]
    # the long seek forward from an early moment to the late one, less a short one (the
    # drawing cancels out): the replay's cost per simulated second
    per_sim = [(sl - ss) / (tl - tb) for (_, tb), (sl, tl), (ss, _) in zip(back, far[1:], forward[1:]) if tl > tb + 1]
    return {
        "seconds": seconds,
        "worker_start_s": round(start_s, 2),
        "forward_ms": round(1e3 * float(np.median([s for s, _ in forward])), 1),
        "back_s": round(float(np.median(back_cost)), 2),
        "long_forward_s": round(float(np.median([s for s, _ in far[1:]])), 2),
        "long_forward_sim_s": round(float(np.median([tl - tb for (_, tb), (_, tl) in zip(back, far[1:])])), 1),
        "replay_ms_per_sim_s": round(1e3 * float(np.median(per_sim)), 1) if per_sim else None,
        "seeks": len(forward) + len(back) + len(far),
        "png_kB": round(float(np.median(sizes)) / 1e3, 1),
        "tick_p99_ms_quiet": round(1e3 * float(np.percentile(quiet, 99)), 2),
        "tick_p99_ms_debrief": round(1e3 * float(np.percentile(busy, 99)), 2),
    }


def run(options: dict[str, Any]) -> dict[str, Any]:
    """The debrief benchmark (see the module docstring)."""
    seconds = 12.0 if options.get("quick") else 30.0
    for arg in options.get("targets") or []:
        if arg.startswith("seconds="):
            seconds = float(arg.split("=", 1)[1])
    row = asyncio.run(_run(seconds))
    return {
        "rows": [row],
        "notes": [
            "one live code-blue team session at 20 Hz real time, two members' views (480x360) per moment; "
            "the worker is started before the timed half (worker_start_s)",
            "a seek back builds a new replay App and replays from frame 0 (no state restore)",
        ],
    }
