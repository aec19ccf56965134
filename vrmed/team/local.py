"""Run a whole scripted team against a server in this process (tests, benchmarks, demos)."""

from __future__ import annotations

import asyncio
from typing import Any

from ..scenario.learner import LearnerView
from ..session import build_session
from .client import ScriptedTeamClient
from .server import TeamInput, TeamServer


def slot_role(slot: str) -> str:
    """The role of a scripted slot (``compressor.2`` -> ``compressor``)."""
    return slot.split(".", 1)[0]


async def scripted_team(
    server: TeamServer, slots: list[str] | None = None, *, timeout: float = 60.0, **client_kw: Any
) -> dict[str, ScriptedTeamClient]:
    """Join one :class:`ScriptedTeamClient` per scripted slot (default: every slot the
    scenario scripts) to a started ``server``; returns them by slot (not yet playing)."""
    chosen = slots if slots is not None else sorted(server.team.scripted)
    clients: dict[str, ScriptedTeamClient] = {}
    for slot in chosen:
        steps = server.team.scripted.get(slot, ())
        client = ScriptedTeamClient(server.url, server.issue(slot_role(slot)), steps, **client_kw)
        await client.connect()
        clients[slot] = client
    return clients


async def play_all(clients: dict[str, ScriptedTeamClient], timeout: float = 60.0) -> dict[str, int]:
    """Play every client's steps concurrently; returns steps sent per slot."""
    done = await asyncio.gather(*(c.play(timeout) for c in clients.values()))
    return dict(zip(clients, done))


def run_local_team(
    pack: Any,
    scenario_name: str,
    scripts: dict[str, Any],
    *,
    seed: int = 0,
    display_rate: int = 20,
    max_seconds: float | None = None,
) -> Any:
    """Run a shared session in this process without a network: each slot's scripted steps
    (``{slot: [ScriptedStep, ...]}``) are queued into the server's :class:`TeamInput` at
    their times, exactly as a connected client's would be. Returns the finished
    :class:`vrmed.session.Session` (the caller closes it); clients are named ``c-SLOT``."""
    source = TeamInput()
    session = build_session(
        pack, scenario_name, seed=seed, input_source=source, learner="person", display_rate=display_rate
    )
    app = session.app
    pending = {slot: sorted(steps, key=lambda s: s.t) for slot, steps in scripts.items()}
    limit = max_seconds if max_seconds is not None else float(session.scenario.duration or 600.0)
    view = app.resource(LearnerView)
    while float(app.clock.time) < limit and not view.ended:
        now = float(app.clock.time)
        for slot, steps in pending.items():
            due = []
            while steps and steps[0].t <= now:
                step = steps.pop(0)
                due.append({"id": step.action, "fields": dict(step.fields)})
            if due:
                source.push(f"c-{slot}", slot_role(slot), {}, due)
        app.step(1)
    session.finish()
    return session
