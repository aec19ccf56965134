"""xAPI 1.0.3 statements for a shared session: one per team member, with a shared
registration and the team as context.

Each learner gets a ``passed`` or ``failed`` statement (ADL verbs) about the scenario
activity, judged by the team rules; its ``result.extensions`` carry the team rules and the
learner's own part (role, actions, refusals, seconds compressing). All statements of one
session share ``context.registration`` (a UUIDv5 of the session log's id, so building them
again gives the same ids) and ``context.team``, an anonymous Group of every member
(Data §2.4.6: "team: Group"). Actors are the server's pseudonyms as
``account`` agents of the institution's ``homePage``; no name ever appears.

:func:`record_team_session` (``vrmed records add-team LOG --member PSEUDONYM=LEARNER_ID``)
puts them through the records path of one-learner sessions: the log is verified (complete,
sealed, signed when keys are required) and re-simulated before anything is stored; each
member the institution names (the session pseudonym the server gave them, linked to their
institutional id by whoever ran the session) becomes their records pseudonym (the
institution secret's HMAC, as ``records add`` does), gets an attempt of the shared
session (scored by the scenario's rubric: the team's care) and their team statement,
queued for ``vrmed records push``. Members nobody names stay in ``context.team`` under
their session pseudonym.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import re
import uuid
from collections.abc import Mapping
from typing import Any

from ..recording import SessionLog
from ..records import RecordsError, pack_for_log, resimulate, score_log, verify_log
from ..records.attempt import Attempt, make_attempt, session_id
from ..records.config import RecordsConfig
from ..records.privacy import pseudonymise
from ..records.store import RecordStore
from ..records.xapi import ACTIVITY_SIMULATION, UUID_NS, VERBS, iri, require_homepage, validate_all
from .roles import team_of
from .scoring import TeamResult, score_team

#: A session pseudonym as the team server makes them (``vrmed.team.protocol.pseudonym``);
#: scripted and in-process clients (``c-SLOT``) are accepted too.
_MEMBER = re.compile(r"^(p[0-9a-f]{8}|c-[A-Za-z0-9_.]+)$")


def team_registration(log: SessionLog) -> str:
    """The registration UUID all statements of one shared session share."""
    return str(uuid.uuid5(UUID_NS, f"team/{session_id(log)}"))


def team_statements(
    log: SessionLog,
    result: TeamResult,
    homepage: str | None,
    *,
    now: _dt.datetime | None = None,
    names: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One statement per team member (sorted by session pseudonym); see the module
    docstring. ``names`` maps session pseudonyms to the account names their statements use
    (the records pseudonyms of :func:`record_team_session`); others keep their session one."""
    homepage = require_homepage(homepage)
    names = dict(names or {})
    registration = team_registration(log)
    header, footer = log.header, log.footer or {}
    pack, scenario = str(header.get("pack")), str(header.get("scenario"))

    def agent(client: str) -> dict[str, Any]:
        return {"objectType": "Agent", "account": {"homePage": homepage, "name": names.get(client, client)}}

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


def record_team_session(
    log: SessionLog,
    members: Mapping[str, str],
    config: RecordsConfig,
    store: RecordStore,
    *,
    pack: Any = None,
    allow_code: bool = True,
) -> list[tuple[Attempt, bool]]:
    """Verify, re-simulate and score a shared session's log, and store one attempt with its
    team statement for each named member (``members``: session pseudonym -> institutional
    learner id); returns (attempt, whether it was new) per member. See the module docstring."""
    where = f"{log.header.get('pack')}/{log.header.get('scenario')}"
    secret = config.require_secret()
    homepage = require_homepage(config.homepage)
    for client in members:
        if not _MEMBER.match(client):
            raise RecordsError(f"{client!r} is not a session pseudonym (p + 8 hex digits, as vrmed serve shows them)")
    verify_log(log, config)
    pack = pack or pack_for_log(log, allow_code=allow_code)
    spec = team_of(pack.scenarios.get(str(log.header.get("scenario"))))
    if spec is None:
        raise RecordsError(f"cannot record {where} as a team: the scenario declares no team (use records add)")
    end = float((log.footer or {}).get("sim_time", 0.0))
    result = score_team(log.event_records(), spec, end)
    missing = sorted(set(members) - set(result.learners))
    if missing:
        present = ", ".join(f"{k} ({v.role})" for k, v in sorted(result.learners.items())) or "nobody acted"
        raise RecordsError(f"cannot record {where}: {', '.join(missing)} took no part in it; members: {present}")
    resimulate(log, pack)  # a forged or edited log is refused before anything is stored
    learners = {client: pseudonymise(learner_id, secret) for client, learner_id in members.items()}
    statements = team_statements(log, result, homepage, names=learners)
    problems = validate_all(statements)
    if problems:  # a bug in vrmed, never a learner's mistake
        raise RecordsError(f"team statements for {where} are not valid xAPI 1.0.3: {problems[0]}")
    score = score_log(log, pack)
    scenario = pack.scenarios.get(str(log.header.get("scenario")))
    skill = scenario.settings.get("skill") if scenario is not None else None
    out = []
    for _client, learner in sorted(learners.items()):
        own = [st for st in statements if st["actor"]["account"]["name"] == learner]
        attempt = make_attempt(log, learner, score, skill=str(skill) if skill else None)
        attempt = dataclasses.replace(attempt, statement_ids=[st["id"] for st in own])
        out.append((attempt, store.add_attempt(attempt, own)))
    return out
