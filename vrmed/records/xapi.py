"""xAPI 1.0.3 statements for scored attempts, and a validator for the rules we rely on.

Every scored attempt becomes up to four statements, with the meaning cmi5 gives these ADL
verbs (cmi5 Specification, Quartz edition, §9.3 "Verbs"): ``attempted`` (the session
started), ``completed`` (the learner finished the task; sent **only** when the task was
completed: the pack's ``completed`` metric, else a passed verdict), ``passed`` or
``failed`` (the pack's judgement, with the score; ``result.completion`` says truthfully
whether the task was finished) and ``terminated`` (the session ended, with its duration).
A run that is cut short, or a peg transfer left unfinished, is therefore never reported
as completed. Timestamps are wall-clock times (Data §2.4.7): the session's recorded start,
its recorded wall-clock end (``ended_at`` in the log footer) and simulation times mapped
linearly between the two; no timestamp is ever later than the moment the statements are
built, even for sessions simulated faster than real time.

Statement ids are UUIDv5 over (attempt id, verb), so building the statements again gives
the same ids and re-sending them never creates duplicates in the LRS (Communication
§2.1.2: an LRS that already holds a statement with an id does not store it again).

Section numbers are those of the xAPI 1.0.3 specification (ADL, 2016), Part Two
"Experience API Data" unless marked "Communication" (Part Three).
"""

from __future__ import annotations

import datetime as _dt
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from ..scenario.scorecard import rule_status
from .attempt import Attempt
from .errors import RecordsConfigError

#: Base of every vrmed IRI (activities, extensions). Extensions need IRIs that the
#: vrmed project controls (Data §2.4.5.1 / §3.1 "Extensions"); keep them stable once
#: published, because LRS reports key on them.
XAPI_NS = "https://w3id.org/vrmed/xapi/"
#: UUID namespace of statement ids (RFC 4122 §4.3 name-based UUIDs).
UUID_NS = uuid.uuid5(uuid.NAMESPACE_URL, XAPI_NS)

#: The ADL verbs used (http://adlnet.gov/expapi/verbs/, the ADL vocabulary).
VERBS: dict[str, str] = {
    name: f"http://adlnet.gov/expapi/verbs/{name}"
    for name in ("attempted", "completed", "passed", "failed", "terminated")
}
#: Activity types from the ADL vocabulary.
ACTIVITY_SIMULATION = "http://adlnet.gov/expapi/activities/simulation"
ACTIVITY_COURSE = "http://adlnet.gov/expapi/activities/course"
XAPI_VERSION = "1.0.3"


def statement_id(attempt_id: str, verb: str) -> str:
    """The stable id of the ``verb`` statement of an attempt."""
    return str(uuid.uuid5(UUID_NS, f"{attempt_id}/{verb}"))


def iri(*parts: str) -> str:
    """A vrmed IRI: ``XAPI_NS`` + the percent-encoded path parts joined by ``/``."""
    return XAPI_NS + "/".join(quote(p, safe="-_.~") for p in parts)


def iso_duration(seconds: float) -> str:
    """ISO 8601 duration with 0.01 s precision (Data §4.6), e.g. ``PT1M5.25S``."""
    centis = max(0, round(seconds * 100))
    hours, rest = divmod(centis, 360000)
    minutes, centis = divmod(rest, 6000)
    secs = f"{centis // 100}.{centis % 100:02d}".rstrip("0").rstrip(".")
    return "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + f"{secs}S"


def _iso_time(when: _dt.datetime) -> str:
    return when.astimezone(_dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class ActivityText:
    """Human-readable activity names for the LRS's reports (Data §2.4.4.1 ``definition``):
    the scenario's title and description and the pack's title, from the pack's YAML."""

    scenario_title: str
    scenario_description: str = ""
    pack_title: str = ""

    @classmethod
    def from_pack(cls, pack: Any, scenario: str) -> ActivityText:
        """The texts of ``scenario`` in a loaded pack (its ``title``/``description`` fields)."""
        sc = getattr(pack, "scenarios", {}).get(scenario)
        return cls(
            str(getattr(sc, "title", "") or _humanise(scenario)),
            " ".join(str(getattr(sc, "description", "") or "").split()),
            str(getattr(pack, "title", "") or _humanise(str(getattr(pack, "name", "")))),
        )


def _humanise(name: str) -> str:
    text = name.replace("_", " ").replace("-", " ").strip()
    return text[:1].upper() + text[1:]


def task_completed(attempt: Attempt) -> bool:
    """Whether the learner finished the task: the pack's ``completed`` metric when it
    reports one (laparoscopy: the last ring reached its peg), else the verdict (a passed
    attempt did the task). Never merely "the session log ended"."""
    m = attempt.score.metrics.get("completed")
    if isinstance(m, (int, float)) and not isinstance(m, bool):
        return m >= 1.0
    return bool(attempt.score.passed)


def require_homepage(homepage: str | None) -> str:
    """The institution's identity for actor accounts (Data §2.4.2.4 ``homePage``), or a
    clear error: statements are never queued under a placeholder home page."""
    if not homepage or urlsplit(homepage).scheme not in ("http", "https") or not urlsplit(homepage).netloc:
        raise RecordsConfigError(
            "no institution identity configured: set VRMED_INSTITUTION_HOMEPAGE (or institution_homepage in the "
            "records config file) to the URL of your institution's login system, e.g. https://sso.example.edu/; "
            "it is the home page of every learner account in the statements"
        )
    return homepage


def wall_clock(attempt: Attempt, now: _dt.datetime | None = None) -> tuple[_dt.datetime, _dt.datetime]:
    """(start, end) wall-clock times of the attempt: the recorded start, and the recorded
    end (``Attempt.ended``) or, for logs without one, start + simulated time, never later
    than ``now`` (a faster-than-real-time run must not put statements in the future)."""
    now = now or _dt.datetime.now(_dt.UTC)
    start = min(attempt.started_at(), now)
    end = attempt.ended_at() if attempt.ended else None
    if end is None:
        end = start + _dt.timedelta(seconds=max(0.0, attempt.sim_time))
    return start, max(start, min(end, now))


def build_statements(
    attempt: Attempt,
    homepage: str | None,
    *,
    text: ActivityText | None = None,
    now: _dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """The attempt's statements in time order: attempted, completed (only when the task was
    completed), passed|failed, terminated. ``homepage``: the institution's identity (an
    error when missing); ``text``: human-readable names (default: derived from the ids);
    ``now``: the latest allowed timestamp (default: the current time)."""
    homepage = require_homepage(homepage)
    text = text or ActivityText(_humanise(attempt.scenario), "", _humanise(attempt.pack))
    actor = {"objectType": "Agent", "account": {"homePage": homepage, "name": attempt.learner}}
    definition: dict[str, Any] = {"name": {"en-US": text.scenario_title}, "type": ACTIVITY_SIMULATION}
    definition["description"] = {
        "en-US": text.scenario_description
        or f"{text.scenario_title}: a {text.pack_title or attempt.pack} simulation scenario (vrmed)"
    }
    activity_id = iri("activities", attempt.pack, attempt.scenario)
    activity = {"objectType": "Activity", "id": activity_id, "definition": definition}
    extensions: dict[str, Any] = {
        iri("context", "session-id"): attempt.session_id,
        iri("context", "pack"): attempt.pack,
        iri("context", "pack-version"): attempt.pack_version,
        iri("context", "scenario"): attempt.scenario,
        iri("context", "engine-version"): attempt.engine,
        iri("context", "seed"): attempt.seed,
        iri("context", "skill"): attempt.skill,
    }
    if attempt.difficulty:
        extensions[iri("context", "difficulty")] = attempt.difficulty
    # formative (live cues) or exam (none), and who acted through which input: an LRS can
    # tell a person's exam attempt from a practice run or a scripted demonstration
    extensions[iri("context", "mode")] = attempt.mode
    extensions[iri("context", "learner-kind")] = attempt.learner_kind
    if attempt.input:
        extensions[iri("context", "input")] = attempt.input
    context = {
        "registration": attempt.attempt_id,
        "revision": attempt.pack_version,
        "platform": f"vrmed {attempt.engine}",
        "language": "en-US",
        "contextActivities": {
            "parent": [
                {
                    "objectType": "Activity",
                    "id": iri("activities", attempt.pack),
                    "definition": {
                        "name": {"en-US": text.pack_title or _humanise(attempt.pack)},
                        "description": {"en-US": f"vrmed content pack {attempt.pack} {attempt.pack_version}"},
                        "type": ACTIVITY_COURSE,
                    },
                }
            ]
        },
        "extensions": extensions,
    }
    started, ended = wall_clock(attempt, now)
    span = (ended - started).total_seconds()

    def at(t_sim: float) -> _dt.datetime:  # simulation time -> wall clock, linear between start and end
        if attempt.sim_time <= 0:
            return ended
        return started + _dt.timedelta(seconds=span * min(1.0, max(0.0, t_sim / attempt.sim_time)))

    duration = iso_duration(attempt.sim_time)
    s = attempt.score
    completed = task_completed(attempt)
    metrics: dict[str, Any] = {iri("metrics", k): v for k, v in sorted(s.metrics.items())}
    metrics.update({iri("targets", k): v for k, v in sorted(s.targets.items())})
    metrics.update({iri("directions", k): v for k, v in sorted(s.directions.items()) if k in s.targets})
    if s.rubric:  # every missed / not-applicable rule with its time and reason (xAPI forbids nulls)
        findings = s.rubric.get("findings") or [
            {"id": r.get("id"), "status": rule_status(r), "t": r.get("t"), "reason": r.get("detail")}
            for r in s.rubric.get("rules", [])
            if rule_status(r) != "met"
        ]
        metrics[iri("rubric", "findings")] = [{k: v for k, v in f.items() if v is not None} for f in findings]
    verdict = "passed" if s.passed else "failed"
    task_time = s.metrics.get("task_time_s")
    done_at = at(float(task_time)) if isinstance(task_time, (int, float)) and task_time > 0 else ended
    plan: list[tuple[str, _dt.datetime, dict[str, Any] | None]] = [("attempted", started, None)]
    if completed:  # cmi5 §9.3.3: completion only when the learner finished the task
        took = iso_duration((done_at - started).total_seconds())
        plan.append(("completed", done_at, {"completion": True, "duration": took}))
    plan.append(
        (
            verdict,
            ended,
            {
                "score": {"scaled": round(s.scaled, 6), "raw": s.score, "min": 0.0, "max": s.max_score},
                "success": s.passed,
                "completion": completed,
                "duration": duration,
                "extensions": metrics,
            },
        )
    )
    plan.append(("terminated", ended, {"duration": duration}))  # cmi5 §9.3.8: the session ended
    statements = []
    for verb, when, result in plan:
        stmt: dict[str, Any] = {
            "id": statement_id(attempt.attempt_id, verb),
            "actor": actor,
            "verb": {"id": VERBS[verb], "display": {"en-US": verb}},
            "object": activity,
            "context": context,
            "timestamp": _iso_time(when),
        }
        if result is not None:
            stmt["result"] = result
        statements.append(stmt)
    return statements


def cohort_statements(store: Any) -> list[dict[str, Any]]:
    """Every statement of every learner in a :class:`~vrmed.records.store.RecordStore`
    (queued and sent), oldest first: the cohort export an LRS can import
    (``POST /statements`` with the list)."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    for learner in store.learners():
        data = store.export(learner)
        for item in data["queued_statements"] + data["sent_statements"]:
            stmt = item.get("statement") if isinstance(item, dict) else None
            if isinstance(stmt, dict):
                out.append((str(stmt.get("timestamp", "")), str(stmt.get("id")), stmt))
    return [s for _, _, s in sorted(out, key=lambda x: (x[0], x[1]))]


# --- validation -------------------------------------------------------------------

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
_DURATION = re.compile(
    r"^P(?!$)(\d+(\.\d+)?Y)?(\d+(\.\d+)?M)?(\d+(\.\d+)?W)?(\d+(\.\d+)?D)?"
    r"(T(?=\d)(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?)?$"
)
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
#: mailto: with exactly one addr-spec (RFC 6068 §2; the dot-atom local part of RFC 5322 §3.4.1).
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_MBOX = re.compile(
    rf"^mailto:[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~-]+)*@{_LABEL}(?:\.{_LABEL})+$"
)
_LANG = re.compile(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")
_STATEMENT_KEYS = {
    "id",
    "actor",
    "verb",
    "object",
    "result",
    "context",
    "timestamp",
    "stored",
    "authority",
    "version",
    "attachments",
}
_IFIS = ("mbox", "mbox_sha1sum", "openid", "account")


def is_timestamp(value: Any) -> bool:
    """Whether ``value`` is an ISO 8601 date-time with a time zone that names a real
    instant (month 1-12, a day that exists in that month, hour < 24, minute and second
    < 60): the regular expression checks the shape, the calendar the values."""
    if not isinstance(value, str) or not _TIMESTAMP.match(value):
        return False
    try:
        _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _is_iri(value: Any) -> bool:
    return isinstance(value, str) and bool(urlsplit(value).scheme) and " " not in value


def _lang_map(value: Any, where: str, errors: list[str]) -> None:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and _LANG.match(k) and isinstance(v, str) for k, v in value.items()
    ):
        errors.append(f"{where}: must be a language map (RFC 5646 tag -> string) (Data §5.2.1)")


def _extensions(value: Any, where: str, errors: list[str]) -> None:
    if not isinstance(value, dict) or not all(_is_iri(k) for k in value):
        errors.append(f"{where}: extension keys must be IRIs (Data §4.1)")


def _nulls(value: Any, where: str, errors: list[str]) -> None:
    if value is None:
        errors.append(f"{where}: null values are not allowed (Data §2.2)")
    elif isinstance(value, dict):
        for k, v in value.items():
            _nulls(v, f"{where}.{k}", errors)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _nulls(v, f"{where}[{i}]", errors)


def _agent(actor: Any, where: str, errors: list[str]) -> None:
    if not isinstance(actor, dict):
        errors.append(f"{where}: must be an object")
        return
    if actor.get("objectType", "Agent") != "Agent":
        errors.append(f"{where}.objectType: vrmed sends Agents only (Data §2.4.2.1)")
    ifis = [k for k in _IFIS if k in actor]
    if len(ifis) != 1:
        errors.append(
            f"{where}: an Agent needs exactly one inverse functional identifier, got {ifis or 'none'} (Data §2.4.2.3)"
        )
    if "mbox" in actor and not (isinstance(actor["mbox"], str) and _MBOX.match(actor["mbox"])):
        errors.append(f"{where}.mbox: must be a mailto: IRI of one address, mailto:name@host.tld (Data §2.4.2.3)")
    if "account" in actor:
        acc = actor["account"]
        if (
            not isinstance(acc, dict)
            or set(acc) != {"homePage", "name"}
            or not _is_iri(acc.get("homePage"))
            or not isinstance(acc.get("name"), str)
            or not acc.get("name")
        ):
            errors.append(f"{where}.account: needs exactly homePage (an IRL) and name (a string) (Data §2.4.2.4)")


def _activity(obj: Any, where: str, errors: list[str]) -> None:
    if not isinstance(obj, dict) or obj.get("objectType", "Activity") != "Activity":
        errors.append(f"{where}: vrmed statements must have an Activity object (Data §2.4.4.1)")
        return
    if not _is_iri(obj.get("id")):
        errors.append(f"{where}.id: must be an IRI (Data §2.4.4.1)")
    definition = obj.get("definition", {})
    if not isinstance(definition, dict):
        errors.append(f"{where}.definition: must be an object")
        return
    for key in ("name", "description"):
        if key in definition:
            _lang_map(definition[key], f"{where}.definition.{key}", errors)
    if "type" in definition and not _is_iri(definition["type"]):
        errors.append(f"{where}.definition.type: must be an IRI (Data §2.4.4.1)")
    if "extensions" in definition:
        _extensions(definition["extensions"], f"{where}.definition.extensions", errors)


def validate_statement(stmt: Any) -> list[str]:
    """Problems with ``stmt`` under the xAPI 1.0.3 rules vrmed's statements must meet
    (an empty list when it is valid). Checks required and unknown properties, nulls, the
    id, actor, verb, Activity object, result (score ranges, duration), context
    (registration, revision/platform, context activities, extensions) and timestamp."""
    errors: list[str] = []
    if not isinstance(stmt, dict):
        return ["statement: must be a JSON object (Data §2.2)"]
    _nulls(stmt, "statement", errors)
    for key in sorted(set(stmt) - _STATEMENT_KEYS):
        errors.append(f"statement.{key}: not a statement property (Data §2.2: unknown properties are rejected)")
    for key in ("actor", "verb", "object"):
        if key not in stmt:
            errors.append(f"statement.{key}: required (Data §2.4)")
    if "id" in stmt and not (isinstance(stmt["id"], str) and _UUID.match(stmt["id"])):
        errors.append("statement.id: must be a lower-case RFC 4122 UUID (Data §2.4.1)")
    if "actor" in stmt:
        _agent(stmt["actor"], "statement.actor", errors)
    verb = stmt.get("verb")
    if verb is not None:
        if not isinstance(verb, dict) or not _is_iri(verb.get("id")):
            errors.append("statement.verb.id: must be an IRI (Data §2.4.3)")
        elif "display" in verb:
            _lang_map(verb["display"], "statement.verb.display", errors)
    if "object" in stmt:
        _activity(stmt["object"], "statement.object", errors)
    result = stmt.get("result")
    if result is not None:
        _result(result, errors)
    context = stmt.get("context")
    if context is not None:
        _context(context, stmt, errors)
    if "timestamp" in stmt and not is_timestamp(stmt["timestamp"]):
        errors.append("statement.timestamp: must be an ISO 8601 date-time with a time zone (Data §2.4.7, §4.5)")
    return errors


def _result(result: Any, errors: list[str]) -> None:
    if not isinstance(result, dict):
        errors.append("statement.result: must be an object (Data §2.4.5)")
        return
    for key in sorted(set(result) - {"score", "success", "completion", "response", "duration", "extensions"}):
        errors.append(f"statement.result.{key}: not a result property (Data §2.4.5)")
    score = result.get("score")
    if score is not None:
        if not isinstance(score, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in score.values()
        ):
            errors.append("statement.result.score: must map scaled/raw/min/max to numbers (Data §2.4.5.1)")
        else:
            if "scaled" in score and not -1 <= score["scaled"] <= 1:
                errors.append("statement.result.score.scaled: must be between -1 and 1 (Data §2.4.5.1)")
            lo, hi, raw = score.get("min"), score.get("max"), score.get("raw")
            if lo is not None and hi is not None and not lo < hi:
                errors.append("statement.result.score: min must be less than max (Data §2.4.5.1)")
            if raw is not None and ((lo is not None and raw < lo) or (hi is not None and raw > hi)):
                errors.append("statement.result.score.raw: must be between min and max (Data §2.4.5.1)")
    for key in ("success", "completion"):
        if key in result and not isinstance(result[key], bool):
            errors.append(f"statement.result.{key}: must be true or false (Data §2.4.5)")
    if "duration" in result and not (isinstance(result["duration"], str) and _DURATION.match(result["duration"])):
        errors.append("statement.result.duration: must be an ISO 8601 duration (Data §4.6)")
    if "extensions" in result:
        _extensions(result["extensions"], "statement.result.extensions", errors)


def _context(context: Any, stmt: dict[str, Any], errors: list[str]) -> None:
    if not isinstance(context, dict):
        errors.append("statement.context: must be an object (Data §2.4.6)")
        return
    allowed = {
        "registration",
        "instructor",
        "team",
        "contextActivities",
        "revision",
        "platform",
        "language",
        "statement",
        "extensions",
    }
    for key in sorted(set(context) - allowed):
        errors.append(f"statement.context.{key}: not a context property (Data §2.4.6)")
    if "registration" in context and not (
        isinstance(context["registration"], str) and _UUID.match(context["registration"])
    ):
        errors.append("statement.context.registration: must be a UUID (Data §2.4.6)")
    is_activity = isinstance(stmt.get("object"), dict) and stmt["object"].get("objectType", "Activity") == "Activity"
    for key in ("revision", "platform"):
        if key in context and (not is_activity or not isinstance(context[key], str)):
            errors.append(f"statement.context.{key}: a string, only with an Activity object (Data §2.4.6)")
    ca = context.get("contextActivities", {})
    if not isinstance(ca, dict) or set(ca) - {"parent", "grouping", "category", "other"}:
        errors.append("statement.context.contextActivities: keys are parent, grouping, category, other (Data §2.4.6.2)")
    else:
        for key, acts in ca.items():
            for i, act in enumerate(acts if isinstance(acts, list) else [acts]):
                _activity(act, f"statement.context.contextActivities.{key}[{i}]", errors)
    if "language" in context and not (isinstance(context["language"], str) and _LANG.match(context["language"])):
        errors.append("statement.context.language: must be an RFC 5646 language tag (Data §2.4.6)")
    if "extensions" in context:
        _extensions(context["extensions"], "statement.context.extensions", errors)


def validate_all(statements: Iterable[Any]) -> list[str]:
    """Problems of every statement, each prefixed with its index."""
    return [f"[{i}] {e}" for i, s in enumerate(statements) for e in validate_statement(s)]
