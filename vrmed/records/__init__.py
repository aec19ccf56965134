"""Learning records: scored attempts as xAPI 1.0.3 statements, a local pseudonymous
attempt store with an on-disk queue, and delivery to a learning record store (LRS).

Typical use (the ``vrmed records`` commands do exactly this)::

    config = load_config()
    store = RecordStore(config.store_dir)
    attempt, added = record_session(SessionLog.read("s.jsonl"), "learner-42", config, store)
    report = push(store, LrsClient(*config.require_lrs(), timeout_s=config.timeout_s))

See docs/records.md.
"""

from __future__ import annotations

import dataclasses

from ..recording import SessionLog
from .attempt import Attempt, make_attempt, session_id
from .config import ENV_VARS, RecordsConfig, load_config
from .errors import LrsError, LrsUnreachable, RecordsConfigError, RecordsError, RecordsStoreError, ScoringError
from .lrs import LrsClient, PushReport, push
from .privacy import pseudonymise
from .scoring import AttemptScore, pack_for_log, score_log
from .store import RecordStore, StoreCounts
from .xapi import XAPI_NS, build_statements, iso_duration, statement_id, validate_all, validate_statement


def record_session(log: SessionLog, learner_id: str, config: RecordsConfig, store: RecordStore) -> tuple[Attempt, bool]:
    """Score a session log, store it as the learner's attempt and queue its statements.

    The learner id is pseudonymised with the institution secret before anything is
    stored. Returns the attempt and whether it was new (adding the same log again for the
    same learner changes nothing).
    """
    learner = pseudonymise(learner_id, config.require_secret())
    pack = pack_for_log(log)
    score = score_log(log, pack)
    scenario = pack.scenarios.get(str(log.header.get("scenario")))
    skill = scenario.settings.get("skill") if scenario is not None else None
    attempt = make_attempt(log, learner, score, skill=str(skill) if skill else None)
    statements = build_statements(attempt, config.homepage)
    attempt = dataclasses.replace(attempt, statement_ids=[s["id"] for s in statements])
    problems = validate_all(statements)
    if problems:  # a bug in vrmed or in the pack's metric names, never a learner's mistake
        raise RecordsError(
            f"statements for {log.header.get('pack')}/{log.header.get('scenario')} are not valid "
            f"xAPI 1.0.3: {problems[0]}"
        )
    added = store.add_attempt(attempt, statements)
    return attempt, added


__all__ = [
    "ENV_VARS",
    "Attempt",
    "AttemptScore",
    "LrsClient",
    "LrsError",
    "LrsUnreachable",
    "PushReport",
    "RecordStore",
    "RecordsConfig",
    "RecordsConfigError",
    "RecordsError",
    "RecordsStoreError",
    "ScoringError",
    "StoreCounts",
    "XAPI_NS",
    "build_statements",
    "iso_duration",
    "load_config",
    "make_attempt",
    "pack_for_log",
    "pseudonymise",
    "push",
    "record_session",
    "score_log",
    "session_id",
    "statement_id",
    "validate_all",
    "validate_statement",
]
