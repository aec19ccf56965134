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
from typing import Any

from ..errors import VrmedError
from ..packs.loader import Pack
from ..recording import SessionLog, SessionLogError, verify_signature
from ..session import replay
from .attempt import Attempt, make_attempt, session_id
from .config import ENV_VARS, RecordsConfig, load_config
from .errors import LrsError, LrsUnreachable, RecordsConfigError, RecordsError, RecordsStoreError, ScoringError
from .lrs import LrsClient, PushReport, push
from .privacy import pseudonymise
from .scoring import AttemptScore, pack_for_log, score_log
from .store import RecordStore, StoreCounts
from .xapi import (
    XAPI_NS,
    ActivityText,
    build_statements,
    cohort_statements,
    iso_duration,
    require_homepage,
    statement_id,
    task_completed,
    validate_all,
    validate_statement,
)


def record_session(
    log: SessionLog,
    learner_id: str,
    config: RecordsConfig,
    store: RecordStore,
    *,
    allow_code: bool = True,
    pack: Pack | None = None,
) -> tuple[Attempt, bool]:
    """Verify, score and store a session log as the learner's attempt, queueing its statements.

    Nothing is stored unless the log is complete and sealed (its hash chain was checked
    when it was read), signed by a trusted simulator key when the config names any, and
    re-simulating it with the installed pack reproduces its events and final state
    (so forged or edited events are refused, not scored). The learner id is
    pseudonymised with the institution secret before anything is stored. Returns the
    attempt and whether it was new (adding the same log again for the same learner
    changes nothing). ``allow_code=False``: import no pack code (``--no-pack-code``);
    ``pack``: the pack to score with (default: the installed pack the log names).
    """
    learner = pseudonymise(learner_id, config.require_secret())
    require_homepage(config.homepage)  # before the (slow) re-simulation: nothing is queued without it
    verify_log(log, config)
    pack = pack or pack_for_log(log, allow_code=allow_code)
    resimulate(log, pack)
    score = score_log(log, pack)
    scenario = pack.scenarios.get(str(log.header.get("scenario")))
    skill = scenario.settings.get("skill") if scenario is not None else None
    attempt = make_attempt(log, learner, score, skill=str(skill) if skill else None)
    statements = build_statements(attempt, config.homepage, text=ActivityText.from_pack(pack, attempt.scenario))
    attempt = dataclasses.replace(attempt, statement_ids=[s["id"] for s in statements])
    problems = validate_all(statements)
    if problems:  # a bug in vrmed or in the pack's metric names, never a learner's mistake
        raise RecordsError(
            f"statements for {log.header.get('pack')}/{log.header.get('scenario')} are not valid "
            f"xAPI 1.0.3: {problems[0]}"
        )
    added = store.add_attempt(attempt, statements)
    return attempt, added


def verify_log(log: SessionLog, config: RecordsConfig) -> None:
    """Refuse a log that is incomplete, a log file without a hash chain and seal, or one
    not signed by a trusted key when the config names trusted keys (the chain itself was
    verified when :meth:`SessionLog.read` read the file). A log built in this process
    (never on disk) needs no seal, but must still be signed when keys are required."""
    where = f"{log.header.get('pack')}/{log.header.get('scenario')}"
    if not log.complete:
        raise RecordsError(f"cannot record {where}: the session log is incomplete (the session was cut short)")
    if log.path is not None and (not log.chained or log.seal is None):  # a file anyone could have edited
        raise RecordsError(
            f"cannot record {where}: the session log has no hash chain and seal (recorded by an older vrmed, "
            f"or rewritten); record the session again"
        )
    trusted = config.trusted_public_keys()
    if trusted:
        try:
            verify_signature(log.seal or {}, trusted)
        except SessionLogError as exc:
            raise RecordsError(f"cannot record {where}: {exc}") from None


#: Re-simulation refuses a log claiming more simulated time than its scenario can run:
#: this many times the longest the scenario lasts (duration or a person's time limit), plus
#: RESIM_MARGIN_S (a forged footer claiming millions of frames must not keep `records add`
#: busy for hours); scenarios with neither are bounded by the 4 h maximum duration.
RESIM_FACTOR = 2.0
RESIM_MARGIN_S = 120.0
RESIM_UNBOUNDED_S = 4 * 3600.0


def resimulation_limit(pack: Any, scenario_name: str) -> float:
    """The most simulated seconds :func:`resimulate` will re-run for a scenario."""
    try:
        scenario = pack.scenario(scenario_name)
    except VrmedError:
        return RESIM_UNBOUNDED_S
    inter = getattr(scenario, "interaction", None)
    longest = max(float(scenario.duration or 0.0), float(getattr(inter, "time_limit", None) or 0.0))
    return RESIM_FACTOR * longest + RESIM_MARGIN_S if longest > 0 else RESIM_UNBOUNDED_S


def resimulate(log: SessionLog, pack: Any) -> None:
    """Re-run the session from its seed and inputs; refuse it unless the events and the
    final state match the log (a forged or edited event never gets scored)."""
    where = f"{log.header.get('pack')}/{log.header.get('scenario')}"
    footer = log.footer or {}
    claimed = footer.get("sim_time")
    limit = resimulation_limit(pack, str(log.header.get("scenario")))
    if not isinstance(claimed, (int, float)) or not 0.0 <= float(claimed) <= limit:
        raise RecordsError(
            f"cannot record {where}: the log claims {claimed} s of simulated time, more than this scenario "
            f"can run ({limit:.0f} s); it was not recorded by a normal session"
        )
    try:
        result, session = replay(log, pack=pack)
    except VrmedError as exc:
        raise RecordsError(f"cannot record {where}: the session cannot be re-simulated: {exc}") from None
    session.close()
    if not result.ok:
        raise RecordsError(
            f"cannot record {where}: re-simulating the session does not reproduce the log "
            f"({result.first_difference}); the log was edited or recorded with a different pack"
        )


__all__ = [
    "ENV_VARS",
    "ActivityText",
    "cohort_statements",
    "require_homepage",
    "task_completed",
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
    "resimulate",
    "verify_log",
    "score_log",
    "session_id",
    "statement_id",
    "validate_all",
    "validate_statement",
]
