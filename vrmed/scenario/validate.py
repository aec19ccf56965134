"""Check a scenario's ``script``, ``rubric`` and ``learner`` and build their validated form.

Called by the pack loader for every scenario file. Each problem is reported with the
file, line and key path of the YAML it comes from, like every other pack problem:
unknown or unreachable states, unknown events and fields, undefined variables, unknown
actions, entities and prefabs, malformed expressions and rubric rules.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from ..events import Event
from ..fields import type_hints
from .expr import Expr, ExprError, compile_expr, kind_of_annotation, type_problems
from .interaction import INTERACTION_EVENTS, check_interaction
from .model import (
    ANY_PATIENT,
    SCENARIO_EVENTS,
    Action,
    EventRef,
    LearnerAction,
    Rubric,
    Rule,
    Script,
    State,
    Transition,
    patients_for,
)

Report = Callable[[tuple[Any, ...], str], None]
ACTION_KINDS = ("despawn", "end", "instruction", "physiology", "prompt", "set", "spawn")
RULE_KINDS = ("before", "count", "deadline", "forbidden", "fraction", "interval", "nth", "order")
_SCALARS = (int, float, str, bool)


def event_catalog(plugins: list[type], module: ModuleType | None) -> dict[str, type[Event]]:
    """Events a scenario may name: the scenario events, those of enabled engine plugins
    (their ``events`` attribute) and those defined in the pack's systems.py, by class name."""
    out: dict[str, type[Event]] = {e.__name__: e for e in SCENARIO_EVENTS + INTERACTION_EVENTS}
    for cls in plugins:
        for e in getattr(cls, "events", ()):
            out.setdefault(e.__name__, e)
    if module is not None:
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, Event)
                and value is not Event
                and value.__module__ == module.__name__
            ):
                out.setdefault(value.__name__, value)
    return out


def component_vars(ctype: type) -> tuple[str, ...]:
    """Names a script may read from a component: its ``SCENARIO_VARS`` or scalar fields."""
    declared = getattr(ctype, "SCENARIO_VARS", None)
    if declared is not None:
        return tuple(declared)
    if not dataclasses.is_dataclass(ctype):
        return ()
    hints = _hints(ctype)
    return tuple(f.name for f in dataclasses.fields(ctype) if hints.get(f.name) in _SCALARS)


def component_settable(ctype: type) -> tuple[str, ...]:
    """Keys a ``physiology`` action may set on a component (``SCENARIO_SETTABLE``)."""
    return tuple(getattr(ctype, "SCENARIO_SETTABLE", ()))


def _hints(cls: type) -> dict[str, Any]:
    """The class's resolved field types (shared: do not change); none if unresolvable."""
    try:
        return type_hints(cls)
    except Exception:  # unresolvable annotation: treat the fields as untyped
        return {}


def event_fields(etype: type[Event]) -> dict[str, Any]:
    """An event type's fields and their types."""
    hints = _hints(etype)
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(etype)}


@dataclass
class EntityInfo:
    """What a script may do with one named entity: read ``vars``, set ``settable``."""

    vars: tuple[str, ...]
    settable: tuple[str, ...]
    spec: Any = None  # an EntitySpec for entities the script spawns


@dataclass
class ScenarioExtras:
    """A scenario's validated script, rubric and scripted learner."""

    script: Script | None = None
    rubric: Rubric | None = None
    learner: tuple[LearnerAction, ...] = ()
    spawnable: dict[str, Any] = field(default_factory=dict)
    interaction: Any = None  # vrmed.scenario.interaction.Interaction
    #: the scenario's patient (``patient:``), whose events rules, steps and transitions read
    patient: str | None = None


def _entity_info(components: dict[str, Any]) -> EntityInfo:
    vars_: list[str] = []
    settable: list[str] = []
    for decl in components.values():
        vars_.extend(v for v in component_vars(decl.type) if v not in vars_)
        settable.extend(v for v in component_settable(decl.type) if v not in settable)
    return EntityInfo(tuple(vars_), tuple(settable))


class _Checker:
    """Validation of one scenario's extras against the pack (events, entities, prefabs)."""

    def __init__(
        self,
        report: Report,
        events: dict[str, type[Event]],
        entities: dict[str, EntityInfo],
        prefabs: dict[str, Any],
        make_spec: Callable[[str, str], Any],
    ) -> None:
        self.report = report
        self.events = events
        self.entities = entities
        self.prefabs = prefabs
        self.make_spec = make_spec
        self.user_vars: dict[str, Any] = {}
        self.spawnable: dict[str, Any] = {}
        #: the scenario's patient (its ``patient:``) and every name a ``patient:`` may give
        self.primary: str | None = None
        self.patient_names: tuple[str, ...] = ()

    def patients(self, name: Any, path: tuple[Any, ...]) -> tuple[str, ...] | None:
        """The ``patient`` field values an item with ``patient: name`` (None: not given,
        the scenario's patient) answers to; an unknown name is reported (did you mean)."""
        if name is not None and name != ANY_PATIENT and name not in self.patient_names:
            known = [*self.patient_names, ANY_PATIENT]
            self.report(
                path,
                f"unknown patient {name!r}{_did_you_mean(name, known)}; patients: {', '.join(known)}",
            )
            return None
        return patients_for(None if name is None else str(name), self.primary)

    # -- shared pieces --------------------------------------------------------------
    def event(self, name: Any, path: tuple[Any, ...]) -> str | None:
        """The event name if known, else None (reported)."""
        if name in self.events:
            return str(name)
        self.report(
            path,
            f"unknown event {name!r}; known events: {', '.join(sorted(self.events))}{_did_you_mean(name, self.events)}",
        )
        return None

    def expr(self, source: Any, path: tuple[Any, ...], known: Callable[[str], str | None]) -> Expr | None:
        """Parse ``source``; ``known(name)`` returns None for a defined name, else a message."""
        try:
            expr = compile_expr(source)
        except ExprError as exc:
            self.report(path, str(exc))
            return None
        ok = True
        for name in expr.names:
            problem = known(name)
            if problem is not None:
                self.report(path, problem)
                ok = False
        kinds = getattr(known, "kinds", None)
        if ok and kinds is not None:  # names known: check what they are compared or combined with
            for problem in type_problems(expr, kinds):
                self.report(path, problem)
                ok = False
        return expr if ok else None

    def script_names(self, on: str | None) -> Callable[[str], str | None]:
        """Names an expression in a script may read (``event.*`` only with ``on``)."""

        def known(name: str) -> str | None:
            head, _, rest = name.partition(".")
            if name in ("time", "state_time"):
                return None
            if head == "vars":
                if rest in self.user_vars:
                    return None
                return (
                    f"undefined variable {name!r}; declared vars: "
                    f"{', '.join(sorted(self.user_vars)) or 'none (declare them under script.vars)'}"
                )
            if head == "count":
                if rest in self.events:
                    return None
                return f"undefined variable {name!r}: {rest!r} is not a known event"
            if head == "event":
                if on is None:
                    return f"undefined variable {name!r}: 'event.*' is only defined in a transition with 'event'"
                fields = event_fields(self.events[on])
                if rest in fields:
                    return None
                return f"undefined variable {name!r}; {on} has fields: {', '.join(fields) or 'none'}"
            if head in self.entities and rest:
                info = self.entities[head]
                if rest in info.vars:
                    return None
                return f"undefined variable {name!r}; entity {head!r} has: {', '.join(info.vars) or 'nothing readable'}"
            roots = ["time", "state_time", "vars.<name>", "count.<event>"] + (["event.<field>"] if on else [])
            return (
                f"undefined variable {name!r}; known names: {', '.join(roots)}, or <entity>.<variable> "
                f"for entities: {', '.join(sorted(self.entities)) or 'none'}"
            )

        kinds = {"time": "num", "state_time": "num", **{f"count.{e}": "num" for e in self.events}}
        if on is not None:
            kinds.update({f"event.{k}": kind_of_annotation(t) for k, t in event_fields(self.events[on]).items()})
        known.kinds = kinds  # type: ignore[attr-defined]  # read by expr(): the static type check
        return known

    def event_field_names(self, event: str | None) -> Callable[[str], str | None]:
        """Names a rubric expression over one event type may read: its fields."""
        fields = event_fields(self.events[event]) if event else {}

        def known(name: str) -> str | None:
            if name in fields:
                return None
            return f"undefined variable {name!r}; {event} has fields: {', '.join(fields) or 'none'}"

        known.kinds = {k: kind_of_annotation(t) for k, t in fields.items()}  # type: ignore[attr-defined]
        return known

    # -- script -----------------------------------------------------------------------
    def script(self, raw: dict[str, Any], base: tuple[Any, ...]) -> Script | None:
        """Validate a ``script`` mapping; None when it has problems (all reported)."""
        ok_before = self._count
        self.user_vars = {}
        for k, v in (raw.get("vars") or {}).items():
            if not isinstance(v, _SCALARS):
                self.report(base + ("vars", k), "a variable's initial value must be a number, string or boolean")
            self.user_vars[str(k)] = v
        states_raw: dict[str, Any] = raw.get("states") or {}
        initial = raw.get("initial")
        if initial not in states_raw:
            self.report(
                base + ("initial",), f"unknown initial state {initial!r}; states: {', '.join(states_raw) or 'none'}"
            )
        # First pass: spawned entities exist for every state's expressions.
        for sname, sraw in states_raw.items():
            for i, act in enumerate((sraw or {}).get("on_enter") or []):
                self._collect_spawn(act, base + ("states", sname, "on_enter", i))
            for j, tr in enumerate((sraw or {}).get("transitions") or []):
                for i, act in enumerate(tr.get("actions") or []):
                    self._collect_spawn(act, base + ("states", sname, "transitions", j, "actions", i))
        states: dict[str, State] = {}
        for sname, sraw in states_raw.items():
            sraw = sraw or {}
            spath = base + ("states", sname)
            on_enter = self.actions(sraw.get("on_enter") or [], spath + ("on_enter",), None)
            transitions = []
            final = bool(sraw.get("final", False))
            if final and sraw.get("transitions"):
                self.report(spath + ("transitions",), f"final state {sname!r} cannot have transitions")
            for j, tr in enumerate(sraw.get("transitions") or []):
                made = self.transition(tr, spath + ("transitions", j), j, states_raw)
                if made is not None:
                    transitions.append(made)
            states[sname] = State(sname, on_enter, tuple(transitions), final, sraw.get("description", ""))
        any_state = []
        for j, tr in enumerate(raw.get("any_state") or []):
            tpath = base + ("any_state", j)
            for k, skip in enumerate(tr.get("except") or []):
                if skip not in states_raw:
                    self.report(tpath + ("except", k), f"unknown state {skip!r}; states: {', '.join(states_raw)}")
            made = self.transition(tr, tpath, j, states_raw)
            if made is not None:
                any_state.append(dataclasses.replace(made, except_states=frozenset(tr.get("except") or ())))
        if initial in states_raw:
            # a global transition's target is reachable from every state
            seen = {initial} | {tr.get("to") for tr in raw.get("any_state") or [] if tr.get("to") in states_raw}
            queue = deque(seen)
            while queue:
                for tr in (states_raw[queue.popleft()] or {}).get("transitions") or []:
                    to = tr.get("to")
                    if to in states_raw and to not in seen:
                        seen.add(to)
                        queue.append(to)
            for sname in states_raw:
                if sname not in seen:
                    self.report(
                        base + ("states", sname), f"state {sname!r} is unreachable from the initial state {initial!r}"
                    )
        if not any(s.final for s in states.values()) and states_raw:
            self.report(base + ("states",), "the script has no final state (mark one with 'final: true')")
        if self._count != ok_before:
            return None
        patients = patients_for(None, self.primary)  # count.EVENT: the scenario's patient's events
        return Script(str(initial), dict(self.user_vars), states, tuple(any_state), patients)

    def transition(
        self, tr: dict[str, Any], tpath: tuple[Any, ...], j: int, states_raw: dict[str, Any]
    ) -> Transition | None:
        """Validate one transition (of a state, or of ``any_state``); None if its event is unknown."""
        to = tr.get("to")
        if to is not None and to not in states_raw:
            self.report(tpath + ("to",), f"unknown state {to!r}; states: {', '.join(states_raw)}")
        on = tr.get("event")
        if on is not None:
            on = self.event(on, tpath + ("event",))
            if on is None:
                return None
        when = None
        if "when" in tr:
            when = self.expr(tr["when"], tpath + ("when",), self.script_names(on))
        if on is None and "when" not in tr and tr.get("after") is None:
            self.report(tpath, "a transition needs a trigger: 'event', 'after' (seconds) or 'when'")
        actions = self.actions(tr.get("actions") or [], tpath + ("actions",), on)
        if to is None and not actions and on is not None:
            self.report(tpath, "a transition without 'to' must have actions")
        if to is None and on is None:
            self.report(tpath, "a transition without 'event' must have 'to' (it would fire every tick)")
        if on is None and "patient" in tr:
            self.report(tpath + ("patient",), "'patient' chooses whose events fire a transition: it needs 'event'")
        patients = self.patients(tr.get("patient"), tpath + ("patient",))
        return Transition(to, on, when, tr.get("after"), actions, j, patients=patients)

    @property
    def _count(self) -> int:
        return getattr(self.report, "count", 0)

    def _collect_spawn(self, act: Any, path: tuple[Any, ...]) -> None:
        if isinstance(act, dict) and len(act) == 1 and "spawn" in act and isinstance(act["spawn"], dict):
            name, prefab = act["spawn"].get("name"), act["spawn"].get("prefab")
            if not isinstance(name, str) or not isinstance(prefab, str):
                return  # reported by actions()
            if name in self.entities:
                self.report(path + ("spawn", "name"), f"entity name {name!r} is already used")
                return
            if prefab not in self.prefabs:
                self.report(
                    path + ("spawn", "prefab"),
                    f"unknown prefab {prefab!r}; prefabs in this pack: {', '.join(sorted(self.prefabs)) or 'none'}",
                )
                return
            spec = self.make_spec(name, prefab)
            info = _entity_info(spec.components)
            info.spec = spec
            self.entities[name] = info
            self.spawnable[name] = spec

    def actions(self, raw: list[Any], base: tuple[Any, ...], on: str | None) -> tuple[Action, ...]:
        """Validate a list of actions (``on``: the triggering event type, if any)."""
        out = []
        for i, act in enumerate(raw):
            path = base + (i,)
            if not isinstance(act, dict) or len(act) != 1:
                self.report(path, f"an action is a mapping with one key, one of: {', '.join(ACTION_KINDS)}")
                continue
            ((kind, arg),) = act.items()
            apath = path + (kind,)
            if kind not in ACTION_KINDS:
                self.report(
                    path,
                    f"unknown action {kind!r}; actions: {', '.join(ACTION_KINDS)}{_did_you_mean(kind, ACTION_KINDS)}",
                )
                continue
            if kind in ("instruction", "prompt", "end"):
                if not isinstance(arg, str) or not arg:
                    self.report(apath, f"{kind} needs a non-empty string")
                    continue
                out.append(Action(kind, {"value": arg}))
            elif kind == "despawn":
                if arg not in self.entities:
                    self.report(apath, f"unknown entity {arg!r}; entities: {', '.join(sorted(self.entities))}")
                    continue
                out.append(Action(kind, {"name": arg}))
            elif kind == "spawn":
                if not isinstance(arg, dict) or set(arg) != {"name", "prefab"}:
                    self.report(apath, "spawn needs exactly 'name' and 'prefab'")
                    continue
                if arg["name"] in self.spawnable:
                    out.append(Action(kind, {"name": arg["name"], "spec": self.spawnable[arg["name"]]}))
            elif kind == "set":
                if not isinstance(arg, dict) or not arg:
                    self.report(apath, "set needs a mapping of variable: expression")
                    continue
                values = {}
                for var, source in arg.items():
                    if var not in self.user_vars:
                        self.report(
                            apath + (var,),
                            f"undefined variable {var!r}; declared vars: {', '.join(sorted(self.user_vars)) or 'none'}",
                        )
                        continue
                    e = self.expr(source, apath + (var,), self.script_names(on))
                    if e is not None:
                        values[var] = e
                out.append(Action(kind, values))
            elif kind == "physiology":
                if not isinstance(arg, dict) or "entity" not in arg:
                    self.report(apath, "physiology needs 'entity' and the values to set")
                    continue
                ent = arg["entity"]
                if ent not in self.entities:
                    self.report(
                        apath + ("entity",),
                        f"unknown entity {ent!r}; entities: {', '.join(sorted(self.entities)) or 'none'}",
                    )
                    continue
                settable = self.entities[ent].settable
                settings: dict[str, int | float | str] = {}
                for key, value in arg.items():
                    if key == "entity":
                        continue
                    if key not in settable:
                        self.report(
                            apath + (key,),
                            f"cannot set {key!r} on entity {ent!r}; settable: {', '.join(settable) or 'nothing'}",
                        )
                        continue
                    if not isinstance(value, _SCALARS):
                        self.report(apath + (key,), "expected a number, string or boolean")
                        continue
                    settings[key] = value
                out.append(Action(kind, {"entity": ent, "values": settings}))
        return tuple(out)

    # -- rubric -----------------------------------------------------------------------
    def ref(self, raw: Any, path: tuple[Any, ...]) -> EventRef | None:
        """Validate a rubric window reference (start, end, an event name or a mapping)."""
        if raw in ("start", "end"):
            return EventRef(raw)
        if isinstance(raw, str):
            name = self.event(raw, path)
            return EventRef(name) if name else None
        if not isinstance(raw, dict) or "event" not in raw or set(raw) - {"event", "where", "nth"}:
            self.report(path, "expected 'start', 'end', an event name, or {event, where, nth}")
            return None
        name = self.event(raw["event"], path + ("event",))
        if name is None:
            return None
        where = self.expr(raw["where"], path + ("where",), self.event_field_names(name)) if "where" in raw else None
        nth = raw.get("nth", 1)
        if not isinstance(nth, int) or nth < 1:
            self.report(path + ("nth",), "nth must be an integer of at least 1")
            return None
        return EventRef(name, where, nth)

    def rubric(self, raw: dict[str, Any], base: tuple[Any, ...]) -> Rubric | None:
        """Validate a ``rubric`` mapping; None when it has problems (all reported)."""
        before = self._count
        rules = []
        ids: set[str] = set()
        for i, r in enumerate(raw.get("rules") or []):
            path = base + ("rules", i)
            rid, kind = r["id"], r["kind"]
            if rid in ids:
                self.report(path + ("id",), f"duplicate rule id {rid!r}")
            ids.add(rid)
            if kind not in RULE_KINDS:
                self.report(path + ("kind",), f"unknown rule kind {kind!r}; kinds: {', '.join(RULE_KINDS)}")
                continue
            need = {
                "deadline": ("event",),
                "forbidden": ("event",),
                "interval": ("event",),
                "nth": ("event", "expect"),
                "fraction": ("active", "inactive"),
                "before": ("first", "then"),
                "order": ("events",),
                "count": ("event",),
            }[kind]
            missing = [k for k in need if k not in r]
            if missing:
                hint = " (for 'A before B' use kind: before)" if kind == "nth" and "expect" in missing else ""
                self.report(path, f"a {kind} rule needs {' and '.join(repr(m) for m in missing)}{hint}")
                continue
            if kind == "count" and "min" not in r and "max" not in r:
                self.report(path, "a count rule needs 'min' or 'max'")
            if kind == "interval" and "min" not in r and "max" not in r:
                self.report(path, "an interval rule needs 'min' or 'max' (seconds)")
            event = self.event(r["event"], path + ("event",)) if "event" in r else None
            fields = self.event_field_names(event)
            kw: dict[str, Any] = {}
            if event is not None and "where" in r:
                kw["where"] = self.expr(r["where"], path + ("where",), fields)
            if event is not None and "expect" in r:
                kw["expect"] = self.expr(r["expect"], path + ("expect",), fields)
            for key, attr in (("from", "start"), ("to", "end")):
                if key in r:
                    kw[attr] = self.ref(r[key], path + (key,))
            if kind == "fraction":
                for key, attr in (("active", "on"), ("inactive", "off")):
                    ev = self.event(r[key], path + (key,))
                    kw[attr] = ev
                    if ev is not None and f"{key}_where" in r:
                        kw[f"{attr}_where"] = self.expr(
                            r[f"{key}_where"], path + (f"{key}_where",), self.event_field_names(ev)
                        )
            if kind == "before":
                kw["first"] = self.ref(r["first"], path + ("first",))
                kw["then"] = self.ref(r["then"], path + ("then",))
                if "same" in r:
                    for key in ("first", "then"):
                        ref = kw[key]
                        if ref is not None and ref.event not in ("start", "end"):
                            fields = self.event_field_names(ref.event)
                            if fields(str(r["same"])) is not None:
                                self.report(path + ("same",), f"{ref.event} has no field {r['same']!r}")
                    kw["same"] = str(r["same"])
                kw["each"] = bool(r.get("each", False))
                kw["since_last"] = bool(r.get("since_last", False))
                kw["at_least"] = int(r.get("at_least", 1))
            if kind == "order":
                seq = r["events"]
                if not isinstance(seq, list) or len(seq) < 2:
                    self.report(path + ("events",), "an order rule needs a list of at least two events")
                else:
                    refs = [self.ref(x, path + ("events", j)) for j, x in enumerate(seq)]
                    kw["sequence"] = tuple(x for x in refs if x is not None)
            if kind == "count" and "distinct" in r:
                if event is not None and fields(str(r["distinct"])) is not None:
                    self.report(path + ("distinct",), f"{event} has no field {r['distinct']!r}")
                kw["distinct"] = str(r["distinct"])
            if kind == "count" and "total" in r:
                if event is not None and fields(str(r["total"])) is not None:
                    self.report(path + ("total",), f"{event} has no field {r['total']!r}")
                if "distinct" in r:
                    self.report(path + ("total",), "a count rule takes 'distinct' or 'total', not both")
                kw["total"] = str(r["total"])
            if "after_count" in r:
                ac = r["after_count"]
                apath = path + ("after_count",)
                if not isinstance(ac, dict) or "event" not in ac or "count" not in ac:
                    self.report(apath, "after_count needs 'event' and 'count' (and may have 'where')")
                else:
                    ev = self.event(ac["event"], apath + ("event",))
                    w = (
                        self.expr(ac["where"], apath + ("where",), self.event_field_names(ev))
                        if ev and "where" in ac
                        else None
                    )
                    kw["after_count"] = (ev, w, int(ac["count"]))
            rules.append(
                Rule(
                    id=rid,
                    kind=kind,
                    description=r.get("description", ""),
                    points=float(r.get("points", 10)),
                    critical=bool(r.get("critical", False)),
                    event=event,
                    within=r.get("within"),
                    min=r.get("min"),
                    max=r.get("max"),
                    n=int(r.get("n", 1)),
                    required=r.get("required", True) is not False,
                    when_open=r.get("required") == "when_open",
                    max_pause=r.get("max_pause"),
                    patients=self.patients(r.get("patient"), path + ("patient",)),
                    **kw,
                )
            )
        if self._count != before:
            return None
        return Rubric(tuple(rules), float(raw.get("pass_score", 70.0)))

    # -- learner ----------------------------------------------------------------------
    def learner(self, raw: list[Any], base: tuple[Any, ...]) -> tuple[LearnerAction, ...]:
        """Validate the scripted learner; returns the valid actions sorted by time."""
        out = []
        for i, item in enumerate(raw):
            path = base + (i,)
            name = self.event(item["event"], path + ("event",))
            if name is None:
                continue
            etype = self.events[name]
            fields = event_fields(etype)
            values = {k: v for k, v in item.items() if k not in ("t", "event")}
            bad = False
            for k, v in values.items():
                if k not in fields:
                    self.report(path + (k,), f"{name} has no field {k!r}; fields: {', '.join(fields) or 'none'}")
                    bad = True
                    continue
                problem = _field_problem(fields[k], v)
                if problem:
                    self.report(path + (k,), problem)
                    bad = True
                elif isinstance(v, list):
                    values[k] = tuple(v)
                elif fields[k] is float and isinstance(v, int):
                    values[k] = float(v)
            missing = [
                f.name
                for f in dataclasses.fields(etype)
                if f.name not in values
                and f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING
            ]
            if missing:
                self.report(path, f"{name} needs {', '.join(repr(m) for m in missing)}")
                bad = True
            if not bad:
                out.append(LearnerAction(float(item["t"]), etype, values))
        return tuple(sorted(out, key=lambda a: a.t))


def _did_you_mean(name: Any, known: Iterable[str]) -> str:
    """`` (did you mean 'X'?)`` for the closest known name to a misspelling, else ''."""
    close = difflib.get_close_matches(str(name), list(known), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _field_problem(annotation: Any, value: Any) -> str | None:
    origin = typing.get_origin(annotation)
    if annotation is float and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return f"expected a number, got {value!r}"
    if annotation is int and (isinstance(value, bool) or not isinstance(value, int)):
        return f"expected an integer, got {value!r}"
    if annotation is str and not isinstance(value, str):
        return f"expected a string, got {value!r}"
    if annotation is bool and not isinstance(value, bool):
        return f"expected true or false, got {value!r}"
    if origin in (tuple, list) and not isinstance(value, list):
        return f"expected a list, got {value!r}"
    return None


class _CountingReport:
    """Wraps a report function and counts how many problems it was given."""

    def __init__(self, report: Report) -> None:
        self._report = report
        self.count = 0

    def __call__(self, path: tuple[Any, ...], message: str) -> None:
        self.count += 1
        self._report(path, message)


def check_extras(
    data: dict[str, Any],
    report: Report,
    *,
    events: dict[str, type[Event]],
    entities: dict[str, dict[str, Any]],
    prefabs: dict[str, Any],
    make_spec: Callable[[str, str], Any],
    used: tuple[dict[str, Any], Report] | None = None,
) -> ScenarioExtras:
    """Validate ``script``, ``rubric`` and ``learner`` of one scenario's data.

    ``entities`` maps entity names to their component declarations; ``used`` is the data
    and report function of the scenario named by ``uses:`` (script and rubric come from
    there when this scenario has none of its own).
    """
    counting = _CountingReport(report)
    info = {name: _entity_info(comps) for name, comps in entities.items()}
    extras = ScenarioExtras()
    primary, names = _patients(data, used, entities, counting)
    extras.patient = primary
    for key in ("script", "rubric"):
        src, rep = (data, counting)
        if key not in data and used is not None and key in used[0]:
            src, rep = used[0], _CountingReport(used[1])
        if key not in src:
            continue
        checker = _Checker(rep, events, dict(info), prefabs, make_spec)
        checker.primary, checker.patient_names = primary, names
        if key == "script":
            extras.script = checker.script(src["script"], ("script",))
            extras.spawnable = checker.spawnable
        else:
            extras.rubric = checker.rubric(src["rubric"], ("rubric",))
    if "learner" in data:
        extras.learner = _Checker(counting, events, dict(info), prefabs, make_spec).learner(
            data["learner"], ("learner",)
        )
    # A scenario that `uses:` another shares its interaction section unless it has its own
    # (the variants of a case offer the same actions on the same named entities).
    isrc, irep = (data, counting)
    if "interaction" not in data and used is not None and "interaction" in used[0]:
        isrc, irep = used[0], _CountingReport(used[1])
    if "interaction" in isrc:
        resolver = _Checker(irep, events, dict(info), prefabs, make_spec)
        resolver.primary, resolver.patient_names = primary, names
        extras.interaction = check_interaction(
            isrc["interaction"],
            irep,
            events=events,
            entities={n: set(c) for n, c in entities.items()},
            value_problem=lambda etype, name, value: _field_problem(event_fields(etype).get(name, Any), value),
            patients=resolver.patients,
        )
    return extras


def _patients(
    data: dict[str, Any],
    used: tuple[dict[str, Any], Report] | None,
    entities: dict[str, dict[str, Any]],
    report: Report,
) -> tuple[str | None, tuple[str, ...]]:
    """The scenario's patient (``patient:``, its own or that of the scenario it ``uses``;
    checked to name one of its entities) and the names a ``patient:`` may give: entities
    with a ``Patient`` component (every entity if none has one), entities the script
    spawns, and the casualties a team may add (``settings.team.casualties``, read here
    only for their names: vrmed.team checks the rest)."""
    primary = data.get("patient")
    if primary is None and used is not None:
        primary = used[0].get("patient")
    elif primary is not None and primary not in entities:
        report(
            ("patient",),
            f"unknown entity {primary!r}{_did_you_mean(primary, entities)}; the scenario's patient must be "
            f"one of its entities: {', '.join(sorted(entities)) or 'none'}",
        )
        primary = None
    names = [n for n, comps in entities.items() if "Patient" in comps] or list(entities)
    for src in (data, used[0] if used is not None else {}):
        for state in ((src.get("script") or {}).get("states") or {}).values():
            for tr in [{"actions": (state or {}).get("on_enter")}, *((state or {}).get("transitions") or [])]:
                for act in (tr or {}).get("actions") or []:
                    spawn = act.get("spawn") if isinstance(act, dict) else None
                    if isinstance(spawn, dict) and isinstance(spawn.get("name"), str):
                        names.append(spawn["name"])
    team = (data.get("settings") or {}).get("team")
    casualties = team.get("casualties") if isinstance(team, dict) else None
    if isinstance(casualties, dict):
        names.extend(str(c) for c in casualties)
    if isinstance(primary, str) and primary not in names:
        names.insert(0, primary)
    return (str(primary) if primary is not None else None), tuple(dict.fromkeys(names))


__all__ = [
    "ACTION_KINDS",
    "RULE_KINDS",
    "ScenarioExtras",
    "check_extras",
    "component_settable",
    "component_vars",
    "event_catalog",
    "event_fields",
]
