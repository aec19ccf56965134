"""xAPI 1.0.3 statements for a shared session: one per team member, with a shared
registration and the team as context.

Each learner gets a ``passed`` or ``failed`` statement (ADL verbs) about the scenario
activity, judged by the team rules; its ``result.extensions`` carry the team rules and the
learner's own part (role, actions, refusals, seconds compressing). All statements of one
session share ``context.registration`` (a UUIDv5 of the session log's id, so building them
again gives the same ids) and ``context.team``, an anonymous Group of every member
(Data §2.4.6: "team: Group"). Actors are the server's pseudonyms as
``account`` agents of the institution's ``homePage``; no name ever appears.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from typing import Any

from ..recording import SessionLog
from ..records.attempt import session_id
from ..records.xapi import ACTIVITY_SIMULATION, UUID_NS, VERBS, iri, require_homepage
from .scoring import TeamResult


def team_registration(log: SessionLog) -> str:
    """The registration UUID all statements of one shared session share."""
    return str(uuid.uuid5(UUID_NS, f"team/{session_id(log)}"))


def team_statements(
    log: SessionLog, result: TeamResult, homepage: str | None, *, now: _dt.datetime | None = None
) -> list[dict[str, Any]]:
    """One statement per team member (sorted by pseudonym); see the module docstring."""
    homepage = require_homepage(homepage)
    registration = team_registration(log)
    header, footer = log.header, log.footer or {}
    pack, scenario = str(header.get("pack")), str(header.get("scenario"))

    def agent(name: str) -> dict[str, Any]:
        return {"objectType": "Agent", "account": {"homePage": homepage, "name": name}}

    members = sorted(result.learners)
    team = {"objectType": "Group", "member": [agent(m) for m in members]}
    activity = {
        "objectType": "Activity",
        "id": iri("activities", pack, scenario),
        "definition": {"name": {"en-US": scenario.replace("_", " ")}, "type": ACTIVITY_SIMULATION},
    }
    ended = str(footer.get("ended_at") or (now or _dt.datetime.now(_dt.UTC)).isoformat())
    rules = [
        {
            k: v
            for k, v in {"id": r.id, "status": r.status, "value": r.value, "detail": r.detail}.items()
            if v is not None
        }
        for r in result.rules
    ]
    verb = "passed" if result.passed else "failed"
    statements = []
    for client in members:
        lr = result.learners[client]
        statements.append(
            {
                "id": str(uuid.uuid5(UUID_NS, f"{registration}/{client}/{verb}")),
                "actor": agent(client),
                "verb": {"id": VERBS[verb], "display": {"en-US": verb}},
                "object": activity,
                "result": {
                    "success": result.passed,
                    "extensions": {
                        iri("team", "rules"): rules,
                        iri("team", "role"): lr.role,
                        iri("team", "actions"): dict(sorted(lr.actions.items())),
                        iri("team", "refused"): lr.refused,
                        iri("team", "compressing-s"): round(lr.compressing_s, 3),
                    },
                },
                "context": {
                    "registration": registration,
                    "team": team,
                    "revision": str(header.get("pack_version")),
                    "platform": f"vrmed {header.get('engine')}",
                    "extensions": {iri("context", "session-id"): session_id(log), iri("context", "role"): lr.role},
                },
                "timestamp": ended,
            }
        )
    return statements
