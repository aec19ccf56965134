"""Nursing pack: end-of-run scoring of the medication rights and NEWS2 escalation from the
session's event log (physiology, NEWS2 and the scenario runtime come from the engine), and
the content of an SBAR handover checked against the patient's state at the time of the call.

SBAR (Situation, Background, Assessment, Recommendation) is the structured call a nurse
makes when escalating a deteriorating patient (NHS Institute for Innovation and
Improvement, *SBAR: Situation-Background-Assessment-Recommendation. Implementation and
training guide*, 2008; Haig KM, Sutton S, Whittington J, *SBAR: a shared mental model for
improving communication between clinicians*, Jt Comm J Qual Patient Saf 2006;32:167-175;
WHO Patient Safety Solutions vol. 1 solution 3, *Communication during patient hand-overs*,
2007). A learner (a person choosing from the scenario's menu, or a script) sends the four
parts as events, in order; when the Recommendation closes the call, :func:`check_sbar`
compares every element with the patient's state recorded when each part was said and the
pack sends one :class:`SbarProblem` per fault (with its reason) and then
:class:`SbarHandoverChecked`. Rubric rules score those events from the log (docs/clinical.md,
"SBAR handover").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import vrmed
from vrmed.api import (
    EventInbox,
    Name,
    PatientIdentity,
    PatientPopulation,
    Scenario,
    ScenarioState,
    SessionLog,
    evaluate_rubric,
    matching,
    news2,
    news2_response,
    record_score,
)

# --------------------------------------------------------------------------------- SBAR

#: The elements a complete SBAR call carries, by part (the NHS Institute guide's prompts:
#: S who is calling, about whom, the concern, the NEWS2 score (RCP 2017 asks for the score
#: to be stated when escalating); B admission diagnosis, relevant history and medication,
#: allergies; A the latest observations with values and the caller's impression; R the
#: response wanted, how soon, and what should be done).
SBAR_ELEMENTS: dict[str, tuple[str, ...]] = {
    "S": ("caller", "patient_name", "mrn", "concern", "news2"),
    "B": ("diagnosis", "history", "allergies"),
    "A": ("rr", "spo2", "oxygen", "sbp", "hr", "temp_c", "avpu", "impression"),
    "R": ("response", "review_within_min", "request"),
}
SBAR_ORDER = "SBAR"
#: What a menu offers for "leave this out"; an empty value is not stated either.
NOT_STATED = "not stated"
#: The observations of the Assessment, their NEWS2 parameter, and how far a stated value
#: may differ from the monitor's current one (rounded as charted) and still be "the
#: current value": one charting step of change. A value that differs by more, or that
#: falls in another NEWS2 band than the current one (so the receiver would compute another
#: score), is stale or wrong. The tolerances are a teaching choice, not a standard.
VITAL_TOLERANCE: dict[str, float] = {"rr": 2.0, "spo2": 2.0, "sbp": 10.0, "hr": 10.0, "temp_c": 0.3}
#: RCP 2017 clinical response by NEWS2 band, as the level an SBAR Recommendation asks for:
#: a single red 3 ("urgent ward-based response") asks for an urgent review, like 5-6.
REQUIRED_RESPONSE = {
    "routine": "ward",
    "ward": "ward",
    "urgent_ward": "urgent",
    "urgent": "urgent",
    "emergency": "emergency",
}


@dataclass(frozen=True)
class SbarSituation(vrmed.Event):
    """S: who is calling (``caller``), about whom (the name and hospital number as on the
    wristband), the ``concern`` and the current NEWS2 score. An empty value or
    ``"not stated"`` is an element left out. ``patient`` is the patient entity ('' = the
    only patient)."""

    caller: str = ""
    patient_name: str = ""
    mrn: str = ""
    concern: str = ""
    news2: int | str = ""
    patient: str = ""


@dataclass(frozen=True)
class SbarBackground(vrmed.Event):
    """B: the admission ``diagnosis``, the relevant ``history`` (and medication) and the
    ``allergies`` (comma-separated, or ``"none known"``)."""

    diagnosis: str = ""
    history: str = ""
    allergies: str = ""
    patient: str = ""


@dataclass(frozen=True)
class SbarAssessment(vrmed.Event):
    """A: the latest observations with their values (respiration /min, SpO2 % and whether
    on ``air`` or ``oxygen``, systolic pressure mmHg, pulse /min, temperature deg C, ACVPU
    letter) and the caller's clinical ``impression``."""

    rr: float | str = ""
    spo2: float | str = ""
    oxygen: str = ""
    sbp: float | str = ""
    hr: float | str = ""
    temp_c: float | str = ""
    avpu: str = ""
    impression: str = ""
    patient: str = ""


@dataclass(frozen=True)
class SbarRecommendation(vrmed.Event):
    """R: the ``response`` asked for (ward, urgent or emergency), within how many minutes
    the patient should be reviewed, and what the caller wants done (``request``). Ends the
    call: the handover is checked when it arrives."""

    response: str = ""
    review_within_min: float | str = ""
    request: str = ""
    patient: str = ""


@dataclass(frozen=True)
class SbarProblem(vrmed.Event):
    """One fault of a checked SBAR handover: ``kind`` is ``missing`` (an element not
    stated), ``patient`` (wrong patient identity), ``value`` (a NEWS2 score or observation
    that is not the patient's state at the call: stale or wrong), ``content`` (a wrong or
    irrelevant diagnosis, history, allergy, concern, impression or request), ``urgency``
    (a response or review time that does not match the NEWS2 band) or ``order`` (the parts
    not in S-B-A-R order); ``item`` names the element, ``reason`` says what was wrong."""

    kind: str
    item: str
    reason: str
    patient: str = ""


@dataclass(frozen=True)
class SbarHandoverChecked(vrmed.Event):
    """An SBAR handover was completed (its Recommendation said) and checked: the patient's
    NEWS2 and the RCP response it calls for at the time, the parts in the order they came,
    and how many :class:`SbarProblem` events it produced (sent just before this one)."""

    patient: str
    news2: int
    response: str
    parts: str
    problems: int


SBAR_EVENTS = (SbarSituation, SbarBackground, SbarAssessment, SbarRecommendation)
_PART_OF = {SbarSituation: "S", SbarBackground: "B", SbarAssessment: "A", SbarRecommendation: "R"}


@vrmed.component
@dataclass
class SbarKey:
    """What an SBAR call about this patient must say beyond the live observations: the
    case's admission ``diagnosis``, the statements of history/medication, concern,
    impression and request that are relevant (any one of each list is accepted; anything
    else a menu offers is wrong or irrelevant), and the longest review time acceptable per
    response level in minutes (a local escalation policy; see docs/clinical.md). The
    identity and allergies come from the patient's ``PatientIdentity``; the observations
    and NEWS2 from the physiology when the call is made."""

    diagnosis: str = ""
    history: list[str] = field(default_factory=list)
    concerns: list[str] = field(default_factory=list)
    impressions: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    review_within_min: dict[str, float] = field(default_factory=lambda: {"urgent": 60.0, "emergency": 30.0})

    def __post_init__(self) -> None:
        levels = set(REQUIRED_RESPONSE.values())
        for level, minutes in self.review_within_min.items():
            if level not in levels:
                raise ValueError(f"review_within_min: unknown response {level!r} (one of {', '.join(sorted(levels))})")
            if not minutes > 0:
                raise ValueError(f"review_within_min: {level} must be a positive number of minutes, got {minutes}")


@dataclass
class Said:
    """One SBAR part as said: its letter, the time (s), the event's fields and the
    patient's state at that moment (``news2``, ``red``, ``response`` and the vitals)."""

    part: str
    t: float
    data: dict[str, Any]
    state: dict[str, Any]


def _stated(value: Any) -> bool:
    return not (value is None or (isinstance(value, str) and value.strip().lower() in ("", NOT_STATED)))


def _norm(text: Any) -> str:
    return " ".join(str(text).lower().split())


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def _band_changes(name: str, value: float, state: dict[str, Any]) -> bool:
    """Whether ``value`` for one observation would score another NEWS2 band than the
    current value (the other observations held at ``state``: the total changes exactly
    when this parameter's score does)."""

    def total(v: float) -> int:
        obs = {k: state[k] for k in VITAL_TOLERANCE}
        obs[name] = v
        score, _ = news2(**obs, on_oxygen=bool(state["on_oxygen"]), avpu=str(state["avpu"]), scale=int(state["scale"]))
        return int(score)

    return total(value) != total(state[name])


def check_sbar(said: list[Said], identity: dict[str, Any], key: SbarKey) -> list[tuple[str, str, str]]:
    """The faults of one SBAR handover as ``(kind, item, reason)``, in S-B-A-R order.

    ``said``: the parts in the order they were said (a repeated part: the last one counts
    for its content); ``identity``: the patient's ``full_name``, ``mrn`` and
    ``allergies``; ``key``: the case's :class:`SbarKey`. Each part's values are compared
    with the patient's state when that part was said. A pure function of its inputs, so it
    is tested without a session."""
    problems: list[tuple[str, str, str]] = []
    letters = "".join(s.part for s in said)
    ranks = [SBAR_ORDER.index(p) for p in letters]
    if any(b <= a for a, b in zip(ranks, ranks[1:])):
        problems.append(("order", "handover", f"parts said as {'-'.join(letters)}, not S-B-A-R"))
    last = {s.part: s for s in said}
    for part, elements in SBAR_ELEMENTS.items():
        s = last.get(part)
        for element in elements:
            value = s.data.get(element, "") if s is not None else ""
            if not _stated(value):
                where = f"{part}.{element}"
                problems.append(("missing", where, f"{where} not stated" + ("" if s else f" (no {part} part)")))
                continue
            assert s is not None
            problems.extend(_check_element(part, element, value, s.state, identity, key))
    return problems


def _check_element(
    part: str, element: str, value: Any, state: dict[str, Any], identity: dict[str, Any], key: SbarKey
) -> list[tuple[str, str, str]]:
    item = f"{part}.{element}"
    accepted = {"history": key.history, "concern": key.concerns, "impression": key.impressions, "request": key.requests}
    if element == "patient_name" and _norm(value) != _norm(identity["full_name"]):
        return [("patient", item, f"said {value!r}; the patient is {identity['full_name']!r}")]
    if element == "mrn" and _norm(value) != _norm(identity["mrn"]):
        return [("patient", item, f"said {value!r}; the wristband says {identity['mrn']!r}")]
    if element == "news2":
        said = _number(value)
        if said is None or int(said) != said or int(said) != state["news2"]:
            return [("value", item, f"NEWS2 said {value}; it was {state['news2']} at the call")]
    if element in VITAL_TOLERANCE:
        said = _number(value)
        now = state[element]
        if said is None:
            return [("value", item, f"{element} {value!r} is not a number")]
        if abs(said - now) > VITAL_TOLERANCE[element] + 1e-9 or _band_changes(element, said, state):
            return [("value", item, f"{element} said {said:g}; it was {now:g} at the call (stale or wrong)")]
    if element == "oxygen" and (_norm(value) != "air") != bool(state["on_oxygen"]):
        now = "on oxygen" if state["on_oxygen"] else "on air"
        return [("value", item, f"said {value!r}; the patient was {now} at the call")]
    if element == "avpu" and str(value).strip().upper() != state["avpu"]:
        return [("value", item, f"ACVPU said {value!r}; the patient was {state['avpu']!r} at the call")]
    if element == "diagnosis" and _norm(value) != _norm(key.diagnosis):
        return [("content", item, f"said {value!r}; the admission diagnosis is {key.diagnosis!r}")]
    if element == "allergies":
        said_set = {_norm(a) for a in str(value).split(",")} - {"none known", "nkda", ""}
        true_set = {_norm(a) for a in identity["allergies"]}
        if said_set != true_set:
            chart = ", ".join(sorted(true_set)) or "none known"
            return [("content", item, f"allergies said {value!r}; the chart records {chart}")]
    if element in accepted and _norm(value) not in {_norm(a) for a in accepted[element]}:
        return [("content", item, f"{value!r} is not a relevant {element} for this patient")]
    if element == "response":
        needed = REQUIRED_RESPONSE[state["response"]]
        if _norm(value) != needed:
            return [
                (
                    "urgency",
                    item,
                    f"asked for response {value!r}; NEWS2 {state['news2']}"
                    f"{' with a red score' if state['red'] else ''} calls for {needed} (RCP 2017)",
                )
            ]
    if element == "review_within_min":
        minutes = _number(value)
        limit = key.review_within_min.get(REQUIRED_RESPONSE[state["response"]])
        if minutes is None or minutes <= 0:
            return [("urgency", item, f"review within {value!r} min is not a time")]
        if limit is not None and minutes > limit:
            return [("urgency", item, f"review within {minutes:g} min; the band needs {limit:g} min or sooner")]
    return []


@dataclass
class SbarCalls:
    """The SBAR parts said so far in the call in progress (a resource, with the inbox of
    SBAR events that feeds it)."""

    inbox: EventInbox
    said: list[Said] = field(default_factory=list)


def setup(app: vrmed.App, scenario: Any) -> None:
    """Listen for SBAR parts from the session's start."""
    app.insert_resource(SbarCalls(EventInbox(app, SBAR_EVENTS)))


def _patient_facts(app: vrmed.App, patient: str) -> tuple[str, dict[str, Any], dict[str, Any], SbarKey] | None:
    """(entity name, state now, identity, answer key) of the patient a part is about."""
    for _, pop in app.query(PatientPopulation):
        try:
            slot = pop.slot_of(patient)
        except KeyError:
            return None
        name = next(n for n, s in pop.slots.items() if s == slot)
        vitals = pop.vitals(slot)
        on_oxygen, scale = bool(pop.fio2[slot] > 0.21), int(pop.spo2_scale[slot])
        obs = {k: float(round(vitals[k], 1 if k == "temp_c" else 0)) for k in VITAL_TOLERANCE}  # as charted
        score, red = news2(**obs, on_oxygen=on_oxygen, avpu=vitals["avpu"], scale=scale)
        state = {**obs, "avpu": vitals["avpu"], "on_oxygen": on_oxygen, "scale": scale}
        state.update(news2=score, red=red, response=news2_response(score, red))
        identity: dict[str, Any] = {"full_name": "", "mrn": "", "allergies": []}
        key = SbarKey()
        for entity, ent_name in app.query(Name):
            if ent_name.value == name:
                ident = app.try_get(entity, PatientIdentity)
                if ident is not None:
                    identity = {"full_name": ident.full_name, "mrn": ident.mrn, "allergies": list(ident.allergies)}
                key = app.try_get(entity, SbarKey) or key
        return name, state, identity, key
    return None


@vrmed.system("logic", in_set="logic.scoring")
def check_sbar_calls(app: vrmed.App) -> None:
    """Record each SBAR part with the patient's state when it is said; when the
    Recommendation ends the call, send its problems and the check."""
    calls = app.try_resource(SbarCalls)
    if calls is None:
        return
    for event in calls.inbox.drain():
        part = _PART_OF[type(event)]
        facts = _patient_facts(app, event.patient)
        if facts is None:
            continue  # no such patient: nothing to compare with (the validator checks names)
        name, state, identity, key = facts
        if part == "S":
            calls.said = []  # a Situation opens a new call
        data = {k: v for k, v in vars(event).items() if k != "patient"}
        calls.said.append(Said(part, float(app.clock.frame_time), data, state))
        if part != "R":
            continue
        problems = check_sbar(calls.said, identity, key)
        for kind, item, reason in problems:
            app.send(SbarProblem(kind, item, reason, name))
        parts = "".join(s.part for s in calls.said)
        app.send(SbarHandoverChecked(name, int(state["news2"]), str(state["response"]), parts, len(problems)))
        calls.said = []


# ------------------------------------------------------------------------------ scoring


def evaluate(records: list[dict[str, Any]], end_time: float, scenario: Any) -> dict[str, Any]:
    """Rubric score, the errors caught (failed rules) and, for deterioration, NEWS2 metrics;
    each checked SBAR handover with its problems."""
    out: dict[str, Any] = {}
    if scenario.rubric is not None:
        result = evaluate_rubric(scenario.rubric, records, end_time)
        out.update(score=result.score, passed=result.passed, errors_caught=[r.id for r in result.rules if not r.passed])
    scores = matching(records, "News2Scored")
    if scores:
        escalations = matching(records, "Escalated")
        out["news2"] = [(round(r["t"]), r["data"]["score"]) for r in scores]
        out["escalations"] = [(round(r["t"]), r["data"]["level"]) for r in escalations]
    handovers = matching(records, "SbarHandoverChecked")
    if handovers:
        out["sbar"] = [(round(r["t"]), r["data"]["problems"]) for r in handovers]
        out["sbar_problems"] = [r["data"]["reason"] for r in matching(records, "SbarProblem")]
    return out


def summary(app: vrmed.App) -> dict[str, Any]:
    """What `vrmed run nursing/...` prints."""
    state = app.try_resource(ScenarioState)
    out: dict[str, Any] = {"outcome": state.outcome if state else None}
    out.update(evaluate(app.resource(SessionLog).events, float(app.clock.frame_time), app.resource(Scenario)))
    return out


def score(log: SessionLog) -> dict[str, Any]:
    """The learning-records score of a stored session (docs/records.md): rubric percent,
    passed, and the numeric metrics."""
    return record_score(log, Path(__file__).resolve().parent, evaluate)
