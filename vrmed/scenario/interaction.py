"""The person-facing part of a scenario: what a learner may do, what they are told, and
what they are warned about.

A scenario's ``interaction:`` mapping (validated here, with file:line errors through the
pack loader) declares

- ``actions``: every action a person may take, each the *same event* a scripted learner
  sends (``ShockDelivered``, ``DrugGiven``...), with fixed ``fields`` and ``options`` the
  person chooses from (dose, route, energy). ``at`` names the entities whose
  :class:`~vrmed.components.scene.interaction.Interactable` offers the action when pointed
  at; ``key`` a desktop hotkey. Rubrics, records and replay therefore work unchanged.
- ``steps``: the guidance the HUD/panel shows, each done when an event happens.
- ``cues``: formative feedback on events (in addition to every rubric rule, which cues
  itself when it is violated; :mod:`vrmed.scenario.learner`).
- ``time_limit`` (s) and ``end_on`` (events): when a person's session ends, besides the
  script reaching a final state.

Example::

    interaction:
      time_limit: 900
      actions:
        - {id: call_help, label: Call for help, event: HelpCalled, key: h}
        - id: shock
          label: Shock
          event: ShockDelivered
          options: {energy_j: [120, 150, 200, 360]}
          at: [defibrillator]
      steps:
        - {text: "Call for help", done: HelpCalled}
      cues:
        - {event: DrugRejected, text: "That drug was refused: check the dose", severity: error}
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..events import Event
from .expr import Expr, ExprError, compile_expr

Report = Callable[[tuple[Any, ...], str], None]

#: Severities a cue may have, in increasing order (drawn in different colours and recorded).
SEVERITIES = ("info", "warning", "error")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Keys a desktop hotkey may name: one letter or digit, or F1-F12.
_KEY = re.compile(r"^([a-z0-9]|f([1-9]|1[0-2]))$")


# ----------------------------------------------------------------------------- events


@dataclass(frozen=True)
class CueShown(Event):
    """Formative feedback shown to the learner: ``source`` is ``rule:<id>`` (a rubric rule
    was violated) or ``cue:<index>`` (an ``interaction.cues`` entry matched), ``severity``
    one of :data:`SEVERITIES`. Not sent in exam mode."""

    source: str
    text: str
    severity: str = "error"


@dataclass(frozen=True)
class ActionRejected(Event):
    """A person's action request could not be carried out (unknown action, an option value
    the scenario does not offer): recorded, and shown as a cue."""

    action: str
    reason: str


@dataclass(frozen=True)
class StepCompleted(Event):
    """A guidance step was completed (``index`` in ``interaction.steps``)."""

    index: int
    text: str


@dataclass(frozen=True)
class SessionPaused(Event):
    """The learner paused (``paused`` true) or resumed the session."""

    paused: bool


INTERACTION_EVENTS: tuple[type[Event], ...] = (CueShown, ActionRejected, StepCompleted, SessionPaused)


# ----------------------------------------------------------------------------- model


@dataclass(frozen=True)
class ActionSpec:
    """One action a person may take: send ``event`` with ``fields`` plus one value chosen
    for each ``options`` field (in the order declared)."""

    id: str
    label: str
    event: type[Event]
    fields: dict[str, Any] = field(default_factory=dict)
    options: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    key: str | None = None
    at: tuple[str, ...] = ()
    #: The event field that receives the name of the entity the action was taken on (the
    #: casualty a triage tag is for); such an action needs a pointed-at target in ``at``.
    target_field: str | None = None

    def make(self, chosen: dict[str, Any], target: str | None = None) -> Event:
        """The event for this action with the person's ``chosen`` option values (checked:
        every option chosen, each from its list; ValueError names the problem) and, for an
        action with a ``target_field``, the entity it was taken on."""
        values = dict(self.fields)
        if self.target_field is not None:
            if target is None:
                raise ValueError("point at what it is for first (it has no target)")
            if target not in self.at:
                raise ValueError(f"it cannot be taken on {target!r}")
            values[self.target_field] = target
        for name, allowed in self.options:
            if name not in chosen:
                raise ValueError(f"no value chosen for {name!r} (one of {list(allowed)})")
            value = chosen[name]
            if isinstance(value, list):  # a recorded sample's JSON list is the offered tuple
                value = tuple(value)
            if value not in allowed:
                raise ValueError(f"{name}={value!r} is not offered (one of {list(allowed)})")
            values[name] = value
        extra = sorted(set(chosen) - {n for n, _ in self.options})
        if extra:
            raise ValueError(f"{', '.join(extra)} cannot be chosen for this action")
        return self.event(**values)


@dataclass(frozen=True)
class GuidanceStep:
    """A step the learner is shown; done when ``event`` (matching ``where``) happens."""

    text: str
    event: str
    where: Expr | None = None
    #: the ``patient`` field values the step answers to (vrmed.scenario.model.for_patient)
    patients: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Cue:
    """Formative feedback: show ``text`` when ``event`` (matching ``where``) happens."""

    event: str
    text: str
    where: Expr | None = None
    severity: str = "warning"
    #: the ``patient`` field values the cue answers to (vrmed.scenario.model.for_patient)
    patients: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Interaction:
    """A scenario's validated ``interaction:`` section."""

    actions: tuple[ActionSpec, ...] = ()
    steps: tuple[GuidanceStep, ...] = ()
    cues: tuple[Cue, ...] = ()
    time_limit: float | None = None
    end_on: tuple[str, ...] = ()
    #: the ``patient`` field values of the ``end_on`` events that end the session: the
    #: scenario's patient's (vrmed.scenario.model.for_patient); None: any patient's
    patients: tuple[str, ...] | None = None

    def action(self, action_id: str) -> ActionSpec | None:
        """An action by id (None if the scenario declares no such action)."""
        for a in self.actions:
            if a.id == action_id:
                return a
        return None

    def actions_on(self, entity: str) -> tuple[ActionSpec, ...]:
        """The actions an entity's Interactable offers."""
        return tuple(a for a in self.actions if entity in a.at)


# ----------------------------------------------------------------------------- schema

_SCALAR = {"type": ["number", "string", "boolean"]}
# a scalar, or a list of scalars for tuple-typed event fields (IdentityChecked.identifiers)
_VALUE = {"anyOf": [_SCALAR, {"type": "array", "items": _SCALAR}]}
INTERACTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "time_limit": {"type": "number", "exclusiveMinimum": 0, "maximum": 86400},
        "end_on": {"type": "array", "items": {"type": "string"}},
        "actions": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "event"],
                "properties": {
                    "id": {"type": "string", "pattern": _IDENT.pattern},
                    "label": {"type": "string", "minLength": 1},
                    "event": {"type": "string"},
                    "fields": {"type": "object", "additionalProperties": _VALUE},
                    "options": {
                        "type": "object",
                        "additionalProperties": {"type": "array", "items": _VALUE, "minItems": 1},
                    },
                    "key": {"type": "string"},
                    # `at`, not `on`: YAML 1.1 reads a bare `on` key as the boolean true
                    "at": {"type": "array", "items": {"type": "string"}},
                    "target_field": {"type": "string"},
                },
                "additionalProperties": False,
            },
        },
        "steps": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["text", "done"],
                "properties": {
                    "text": {"type": "string", "minLength": 1},
                    # which patient's event completes it (default: the scenario's `patient`)
                    "patient": {"type": "string", "minLength": 1},
                    "done": {
                        "oneOf": [
                            {"type": "string"},
                            {
                                "type": "object",
                                "required": ["event"],
                                "properties": {"event": {"type": "string"}, "where": {}},
                                "additionalProperties": False,
                            },
                        ]
                    },
                },
                "additionalProperties": False,
            },
        },
        "cues": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["event", "text"],
                "properties": {
                    "event": {"type": "string"},
                    "text": {"type": "string", "minLength": 1},
                    "where": {},
                    "severity": {"enum": list(SEVERITIES)},
                    "patient": {"type": "string", "minLength": 1},
                },
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}


# ----------------------------------------------------------------------------- validation


def _event_fields(etype: type[Event]) -> dict[str, dataclasses.Field[Any]]:
    return {f.name: f for f in dataclasses.fields(etype)}


def _typed(etype: type[Event], name: str, value: Any) -> Any:
    """A YAML value as the event field holds it: lists become tuples, whole numbers for
    float fields become floats (as the scripted learner's values do, so a person's event
    records exactly like a scripted one)."""
    if isinstance(value, list):
        return tuple(value)
    field_ = _event_fields(etype).get(name)
    hint = field_.type if field_ is not None else None
    if hint in (float, "float") and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def check_interaction(
    raw: dict[str, Any],
    report: Report,
    *,
    events: dict[str, type[Event]],
    entities: dict[str, set[str]],
    value_problem: Callable[[type[Event], str, Any], str | None] = lambda etype, name, value: None,
    base: tuple[Any, ...] = ("interaction",),
    patients: Callable[[Any, tuple[Any, ...]], tuple[str, ...] | None] = lambda name, path: None,
) -> Interaction | None:
    """Validate an ``interaction:`` mapping (already schema-checked).

    ``events``: the scenario's event catalog by name; ``entities``: entity name -> the
    component names it has (``at`` must name entities with an ``Interactable``);
    ``value_problem(event type, field, value)``: what is wrong with a value for an event
    field (the scenario validator's type check), or None; ``patients(name, path)``: the
    ``patient`` field values a step or cue with ``patient: name`` (None: not given) answers
    to (the scenario validator resolves and checks the name). Every problem is reported
    with its key path; returns None if there was any.
    """
    problems = 0

    def bad(path: tuple[Any, ...], message: str) -> None:
        nonlocal problems
        problems += 1
        report(base + path, message)

    def event(name: Any, path: tuple[Any, ...]) -> type[Event] | None:
        if name in events:
            return events[name]
        close = sorted(n for n in events if n.lower() == str(name).lower())
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        bad(path, f"unknown event {name!r}{hint}; known events: {', '.join(sorted(events))}")
        return None

    def expr(source: Any, etype: type[Event], path: tuple[Any, ...]) -> Expr | None:
        try:
            compiled = compile_expr(source)
        except ExprError as exc:
            bad(path, str(exc))
            return None
        fields = _event_fields(etype)
        for n in compiled.names:
            if n not in fields:
                bad(path, f"undefined variable {n!r}; {etype.__name__} has fields: {', '.join(fields) or 'none'}")
                return None
        return compiled

    actions: list[ActionSpec] = []
    seen_ids: dict[str, int] = {}
    keys: dict[str, str] = {}
    for i, item in enumerate(raw.get("actions", ())):
        path = ("actions", i)
        aid = item["id"]
        if aid in seen_ids:
            bad(path + ("id",), f"duplicate action id {aid!r} (first used by actions[{seen_ids[aid]}])")
        seen_ids[aid] = i
        etype = event(item["event"], path + ("event",))
        if etype is None:
            continue
        fields = _event_fields(etype)
        fixed = {k: _typed(etype, k, v) for k, v in item.get("fields", {}).items()}
        options = {k: [_typed(etype, k, v) for v in vs] for k, vs in item.get("options", {}).items()}
        ok = True
        for kind, mapping in (("fields", fixed), ("options", options)):
            for name, value in mapping.items():
                if name not in fields:
                    bad(path + (kind, name), f"{etype.__name__} has no field {name!r}; fields: {', '.join(fields)}")
                    ok = False
                    continue
                for v in value if kind == "options" else [value]:
                    problem = value_problem(etype, name, list(v) if isinstance(v, tuple) else v)
                    if problem:
                        bad(path + (kind, name), problem)
                        ok = False
        target_field = item.get("target_field")
        if target_field is not None:
            if target_field not in fields:
                bad(
                    path + ("target_field",),
                    f"{etype.__name__} has no field {target_field!r}; fields: {', '.join(fields)}",
                )
                ok = False
            elif target_field in fixed or target_field in options:
                bad(
                    path + ("target_field",),
                    f"{target_field!r} is set by the target; do not also give it under fields/options",
                )
                ok = False
            elif not item.get("at"):
                bad(
                    path + ("target_field",),
                    "an action with a target_field needs `at:` (the entities it can be taken on)",
                )
                ok = False
        both = sorted(set(fixed) & set(options))
        if both:
            bad(path, f"{', '.join(both)} is both fixed (fields) and chosen (options); keep one")
            ok = False
        missing = [
            n
            for n, f in fields.items()
            if n not in fixed
            and n not in options
            and n != target_field
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        ]
        if missing:
            bad(path, f"{etype.__name__} needs {', '.join(repr(m) for m in missing)}: give it under fields or options")
            ok = False
        key = item.get("key")
        if key is not None:
            key = key.lower()
            if not _KEY.match(key):
                bad(path + ("key",), f"key {item['key']!r} is not a single letter, digit or F1-F12")
                ok = False
            elif key in keys:
                bad(path + ("key",), f"key {key!r} is already bound to action {keys[key]!r}")
                ok = False
            else:
                keys[key] = aid
        at = tuple(item.get("at", ()))
        for j, ent in enumerate(at):
            if ent not in entities:
                bad(
                    path + ("at", j),
                    f"no entity named {ent!r} in this scenario; entities: {', '.join(sorted(entities))}",
                )
                ok = False
            elif "Interactable" not in entities[ent]:
                bad(
                    path + ("at", j),
                    f"entity {ent!r} has no Interactable component, so it cannot be pointed at; "
                    f"add `Interactable: {{radius: 0.2}}` (or half_extents) to it or its prefab",
                )
                ok = False
        if ok:
            actions.append(
                ActionSpec(
                    aid,
                    str(item.get("label", aid.replace("_", " ").capitalize())),
                    etype,
                    fixed,
                    tuple((n, tuple(v)) for n, v in options.items()),
                    key,
                    at,
                    target_field,
                )
            )
    steps: list[GuidanceStep] = []
    for i, item in enumerate(raw.get("steps", ())):
        done = item["done"]
        spec = {"event": done} if isinstance(done, str) else done
        spath: tuple[Any, ...] = ("steps", i, "done")
        etype = event(spec["event"], spath if isinstance(done, str) else spath + ("event",))
        if etype is None:
            continue
        where = expr(spec["where"], etype, spath + ("where",)) if "where" in spec else None
        who = patients(item.get("patient"), base + ("steps", i, "patient"))
        steps.append(GuidanceStep(item["text"], etype.__name__, where, who))
    cues: list[Cue] = []
    for i, item in enumerate(raw.get("cues", ())):
        path = ("cues", i)
        etype = event(item["event"], path + ("event",))
        if etype is None:
            continue
        where = expr(item["where"], etype, path + ("where",)) if "where" in item else None
        who = patients(item.get("patient"), base + path + ("patient",))
        cues.append(Cue(etype.__name__, item["text"], where, item.get("severity", "warning"), who))
    end_on: list[str] = []
    for i, name in enumerate(raw.get("end_on", ())):
        etype = event(name, ("end_on", i))
        if etype is not None:
            end_on.append(etype.__name__)
    if problems:
        return None
    who = patients(None, base + ("end_on",))  # the scenario's patient: never a problem to report
    return Interaction(tuple(actions), tuple(steps), tuple(cues), raw.get("time_limit"), tuple(end_on), who)


__all__ = [
    "INTERACTION_EVENTS",
    "INTERACTION_SCHEMA",
    "SEVERITIES",
    "ActionRejected",
    "ActionSpec",
    "Cue",
    "CueShown",
    "GuidanceStep",
    "Interaction",
    "SessionPaused",
    "StepCompleted",
    "check_interaction",
]
