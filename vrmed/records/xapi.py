"""xAPI 1.0.3 statements for scored attempts, and a validator for the rules we rely on.

Every scored attempt becomes up to three statements (ADL verbs, xAPI 1.0.3 Data §2.4.3):
``attempted`` (when the session started), ``completed`` (the session log is complete)
and ``passed`` or ``failed`` (the pack's verdict, with the score). Statement ids are
UUIDv5 over (attempt id, verb), so building the statements again gives the same ids and
re-sending them never creates duplicates in the LRS (Communication §2.1.2: an LRS that
already holds a statement with an id does not store it again).

Section numbers are those of the xAPI 1.0.3 specification (ADL, 2016), Part Two
"Experience API Data" unless marked "Communication" (Part Three).
"""

from __future__ import annotations

import datetime as _dt
import re
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urlsplit

from .attempt import Attempt

#: Base of every vrmed IRI (activities, extensions). Extensions need IRIs that the
#: vrmed project controls (Data §2.4.5.1 / §3.1 "Extensions"); keep them stable once
#: published, because LRS reports key on them.
XAPI_NS = "https://w3id.org/vrmed/xapi/"
#: UUID namespace of statement ids (RFC 4122 §4.3 name-based UUIDs).
UUID_NS = uuid.uuid5(uuid.NAMESPACE_URL, XAPI_NS)

#: The ADL verbs used (http://adlnet.gov/expapi/verbs/, the ADL vocabulary).
VERBS: dict[str, str] = {
    name: f"http://adlnet.gov/expapi/verbs/{name}" for name in ("attempted", "completed", "passed", "failed")
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


def build_statements(attempt: Attempt, homepage: str) -> list[dict[str, Any]]:
    """The attempt's statements, in order: attempted, completed, passed|failed."""
    actor = {"objectType": "Agent", "account": {"homePage": homepage, "name": attempt.learner}}
    activity = {
        "objectType": "Activity",
        "id": iri("activities", attempt.pack, attempt.scenario),
        "definition": {"name": {"en-US": f"{attempt.pack} / {attempt.scenario}"}, "type": ACTIVITY_SIMULATION},
    }
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
    context = {
        "registration": attempt.attempt_id,
        "revision": attempt.pack_version,
        "platform": f"vrmed {attempt.engine}",
        "contextActivities": {
            "parent": [
                {
                    "objectType": "Activity",
                    "id": iri("activities", attempt.pack),
                    "definition": {"type": ACTIVITY_COURSE},
                }
            ]
        },
        "extensions": extensions,
    }
    started = attempt.started_at()
    ended = started + _dt.timedelta(seconds=attempt.sim_time)
    duration = iso_duration(attempt.sim_time)
    s = attempt.score
    metrics = {iri("metrics", k): v for k, v in sorted(s.metrics.items())}
    metrics.update({iri("targets", k): v for k, v in sorted(s.targets.items())})
    verdict = "passed" if s.passed else "failed"
    results: dict[str, dict[str, Any] | None] = {
        "attempted": None,
        "completed": {"completion": True, "duration": duration},
        verdict: {
            "score": {"scaled": round(s.scaled, 6), "raw": s.score, "min": 0.0, "max": s.max_score},
            "success": s.passed,
            "completion": True,
            "duration": duration,
            "extensions": metrics,
        },
    }
    statements = []
    for verb, result in results.items():
        stmt: dict[str, Any] = {
            "id": statement_id(attempt.attempt_id, verb),
            "actor": actor,
            "verb": {"id": VERBS[verb], "display": {"en-US": verb}},
            "object": activity,
            "context": context,
            "timestamp": _iso_time(started if verb == "attempted" else ended),
        }
        if result is not None:
            stmt["result"] = result
        statements.append(stmt)
    return statements


# --- validation -------------------------------------------------------------------

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
_DURATION = re.compile(
    r"^P(?!$)(\d+(\.\d+)?Y)?(\d+(\.\d+)?M)?(\d+(\.\d+)?W)?(\d+(\.\d+)?D)?"
    r"(T(?=\d)(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?)?$"
)
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
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
    if "mbox" in actor and not str(actor["mbox"]).startswith("mailto:"):
        errors.append(f"{where}.mbox: must be a mailto: IRI (Data §2.4.2.3)")
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
    if "timestamp" in stmt and not (isinstance(stmt["timestamp"], str) and _TIMESTAMP.match(stmt["timestamp"])):
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
