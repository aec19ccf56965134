"""Team roles of a scenario, their validation, and the engine plugin that enforces them.

A scenario that several people play together declares its roles under
``settings.team`` (the free-form ``settings`` mapping of the scenario language, so the
scenario schema is unchanged)::

    settings:
      team:
        roles:
          leader: {label: Team leader, actions: [call_help, analyse, shock, order, summary]}
          compressor: {label: Compressor, max: 2, actions: [start_compressions, acknowledge, report]}
        instructor: [inject_rhythm]          # actions only the instructor console may take
        watch: [patient]                     # entities whose state is streamed to clients
        scripted: {leader: [{t: 3, action: call_help}], compressor.1: [...]}

Every action id must be one of the scenario's ``interaction.actions``; a mistake is reported
as ``file:line: key: message`` when the pack loads (:meth:`TeamPlugin.check_scenario`, the
loader's plugin hook).

:class:`TeamPlugin` (enabled by a pack with ``plugins: [..., team]``) runs one system in
``logic.scenario`` just before ``learner.actions``: every action request tagged with its
sender (``{"by": {"client": ID, "role": ROLE}}``, as the team server tags them) that the
role may not take is removed from the queue and recorded as ``ActionRejected``; every
accepted, valid request is recorded as a :class:`TeamActed` event (who did what), so
per-learner and team scoring read only the event log. The system is a pure function of
the recorded input samples, so a shared session replays bit-exactly with ``vrmed replay``.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..app import App
from ..events import Event
from ..input import InputState
from ..packs.model import Scenario
from ..scenario.interaction import ActionRejected
from .inject import (
    INJECT_EVENTS,
    INJECTIONS,
    MONITOR_EFFECTS,
    CasualtyDecl,
    Failure,
    Injections,
    casualties_of,
    casualty_specs,
    failures_of,
)
from .voice import VOICE, VoiceCallOut

#: The role of the instructor console (not a learner role; see ``settings.team.instructor``).
INSTRUCTOR = "instructor"
#: Kinds of structured call-out (closed-loop communication: order -> acknowledge -> report).
CALLOUT_KINDS = ("order", "acknowledge", "report", "summary")
_ROLE_KEYS = {"label", "actions", "max"}
_TEAM_KEYS = {
    "roles",
    "instructor",
    "watch",
    "scripted",
    "swap_interval",
    "ack_within",
    "report_within",
    "failures",
    "casualties",
}
_CASUALTY_KEYS = {"prefab", "label"}
#: Longest patient name a request may carry.
MAX_PATIENT_NAME = 64
_FAILURE_KEYS = {"label", "blocks", "message", "monitor"}

KeyPath = tuple[Any, ...]


@dataclass(frozen=True)
class CallOut(Event):
    """A structured call-out from the team menu: an ``order`` (to ``to_role``), its
    ``acknowledge``, the ``report`` that it is done, or a leader's ``summary``."""

    kind: str
    task: str = ""
    to_role: str = ""


@dataclass(frozen=True)
class RhythmInjected(Event):
    """The instructor changed the patient's rhythm (the scenario script reacts to it)."""

    rhythm: str


@dataclass(frozen=True)
class TeamActed(Event):
    """A team member's accepted action request: pseudonymous ``client``, its ``role`` and
    the ``action`` id with its chosen ``fields`` (JSON text, sorted keys); ``patient``: the
    patient it was taken on once several can be in the scene (``""``: the only patient, or
    an action on none, such as a call-out)."""

    client: str
    role: str
    action: str
    fields: str = "{}"
    patient: str = ""


TEAM_EVENTS: tuple[type[Event], ...] = (CallOut, RhythmInjected, TeamActed, VoiceCallOut, *INJECT_EVENTS)


@dataclass(frozen=True)
class Role:
    """One role: its label, the action ids it may take, how many people may hold it."""

    name: str
    label: str
    actions: frozenset[str]
    max: int = 1


@dataclass(frozen=True)
class ScriptedStep:
    """One step of a scripted team member: at simulated time ``t`` take ``action``."""

    t: float
    action: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TeamSpec:
    """A scenario's team declaration (see the module docstring)."""

    roles: dict[str, Role]
    instructor: frozenset[str] = frozenset()
    watch: tuple[str, ...] = ()
    #: slot ("role" or "role.N") -> scripted steps, for scripted clients and tests.
    scripted: dict[str, tuple[ScriptedStep, ...]] = field(default_factory=dict)
    #: AHA: switch compressors about every 2 minutes (s); the rule allows 15 s to finish a cycle.
    swap_interval: float = 120.0
    ack_within: float = 10.0
    report_within: float = 180.0
    #: equipment failures the instructor may inject (vrmed.team.inject)
    failures: dict[str, Failure] = field(default_factory=dict)
    #: casualties the instructor may add (vrmed.team.inject)
    casualties: dict[str, CasualtyDecl] = field(default_factory=dict)
    #: the scenario's patient, whom an action naming no patient is for and whose arrest the
    #: team rules score: the scenario's ``patient:``, else the first watched entity
    patient: str | None = None

    def allows(self, role: str, action: str) -> bool:
        """Whether ``role`` may take ``action`` (the instructor: only its own actions)."""
        if role == INSTRUCTOR:
            return action in self.instructor
        r = self.roles.get(role)
        return r is not None and action in r.actions

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> TeamSpec | None:
        """The team of an already-validated scenario's ``settings`` (None: no team)."""
        team = settings.get("team")
        if not isinstance(team, dict):
            return None
        roles = {
            name: Role(name, str(r.get("label", name)), frozenset(r.get("actions", ())), int(r.get("max", 1)))
            for name, r in team.get("roles", {}).items()
        }
        scripted = {
            str(slot): tuple(
                ScriptedStep(float(s["t"]), str(s["action"]), dict(s.get("fields") or {}))
                for s in sorted(steps, key=lambda s: float(s["t"]))
            )
            for slot, steps in (team.get("scripted") or {}).items()
        }
        return cls(
            roles,
            frozenset(team.get("instructor", ())),
            tuple(team.get("watch", ())),
            scripted,
            float(team.get("swap_interval", 120.0)),
            float(team.get("ack_within", 10.0)),
            float(team.get("report_within", 180.0)),
            failures_of(team),
            casualties_of(team),
            str(team["watch"][0]) if team.get("watch") else None,
        )


def check_team(data: dict[str, Any], prefabs: Any = None) -> Iterator[tuple[KeyPath, str]]:
    """Problems in a scenario's ``settings.team`` as ``(key path, message)``: unknown keys,
    action ids the scenario does not offer, roles without actions, bad counts, scripted
    steps outside their role, casualties whose prefab the pack lacks (``prefabs``: the
    pack's prefab names; None: not checked)."""
    team = (data.get("settings") or {}).get("team")
    if team is None:
        return
    base: KeyPath = ("settings", "team")
    if not isinstance(team, dict):
        yield base, "must be a mapping with roles:"
        return
    offered = [a.get("id") for a in (data.get("interaction") or {}).get("actions", []) if isinstance(a, dict)]

    def unknown_action(path: KeyPath, aid: Any) -> Iterator[tuple[KeyPath, str]]:
        if aid not in offered:
            close = difflib.get_close_matches(str(aid), [str(o) for o in offered], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            yield (
                path,
                f"unknown action {aid!r}{hint}; the scenario's interaction.actions are: "
                f"{', '.join(map(str, offered)) or 'none'}",
            )

    for key in sorted(set(team) - _TEAM_KEYS):
        yield base + (key,), f"unknown key {key!r}; team keys are: {', '.join(sorted(_TEAM_KEYS))}"
    roles = team.get("roles")
    if not isinstance(roles, dict) or not roles:
        yield base + ("roles",), "a team needs roles: a mapping of role name -> {actions: [...]}"
        roles = {}
    for name, role in roles.items():
        path = base + ("roles", name)
        if name == INSTRUCTOR:
            yield (
                path,
                f"{INSTRUCTOR!r} is the instructor console, not a learner role; list its actions under team.instructor",
            )
            continue
        if not isinstance(role, dict):
            yield path, "a role is a mapping {label, actions, max}"
            continue
        for key in sorted(set(role) - _ROLE_KEYS):
            yield path + (key,), f"unknown key {key!r}; role keys are: {', '.join(sorted(_ROLE_KEYS))}"
        actions = role.get("actions")
        if not isinstance(actions, list) or not actions:
            yield path + ("actions",), "a role needs a non-empty list of the action ids it may take"
            actions = []
        for i, aid in enumerate(actions):
            yield from unknown_action(path + ("actions", i), aid)
        count = role.get("max", 1)
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 32:
            yield path + ("max",), f"max must be a whole number from 1 to 32, got {count!r}"
    instructor = team.get("instructor", [])
    if not isinstance(instructor, list):
        yield base + ("instructor",), "must be a list of action ids"
        instructor = []
    for i, aid in enumerate(instructor):
        yield from unknown_action(base + ("instructor", i), aid)
    watch = team.get("watch", [])
    names = {e.get("name") for e in data.get("entities", []) if isinstance(e, dict)}
    if not isinstance(watch, list):
        yield base + ("watch",), "must be a list of entity names"
        watch = []
    for i, ent in enumerate(watch):
        if ent not in names:
            yield base + ("watch", i), f"unknown entity {ent!r}"
    for key in ("swap_interval", "ack_within", "report_within"):
        value = team.get(key, 1.0)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
            yield base + (key,), f"must be a positive number of seconds, got {value!r}"
    failures = team.get("failures") or {}
    if not isinstance(failures, dict):
        yield base + ("failures",), "must map a failure id to {label, blocks: [action ids], message}"
        failures = {}
    for fid, failure in failures.items():
        path = base + ("failures", fid)
        if not isinstance(failure, dict):
            yield path, "a failure is {label, blocks: [action ids], message}"
            continue
        for key in sorted(set(failure) - _FAILURE_KEYS):
            yield path + (key,), f"unknown key {key!r}; failure keys are: {', '.join(sorted(_FAILURE_KEYS))}"
        blocks = failure.get("blocks")
        if not isinstance(blocks, list) or not blocks:
            yield path + ("blocks",), "a failure needs a non-empty list of the action ids it blocks"
            blocks = []
        for i, aid in enumerate(blocks):
            yield from unknown_action(path + ("blocks", i), aid)
        monitor = failure.get("monitor")
        if monitor is not None and monitor not in MONITOR_EFFECTS:
            yield path + ("monitor",), f"unknown monitor effect {monitor!r}; effects: {', '.join(MONITOR_EFFECTS)}"
    yield from _check_casualties(team.get("casualties") or {}, base, names, watch, prefabs)
    if team.get("casualties") and "patient" not in data and "uses" not in data:
        yield (
            base + ("casualties",),
            "a scenario whose team may add a casualty declares its own patient (top-level "
            "`patient: NAME`), so that its rubric, guidance and script read that patient's "
            "events and not the casualty's",
        )
    scripted = team.get("scripted") or {}
    if not isinstance(scripted, dict):
        yield base + ("scripted",), "must map a slot (role or role.N) to a list of {t, action, fields}"
        scripted = {}
    for slot, steps in scripted.items():
        path = base + ("scripted", slot)
        role_name = str(slot).split(".", 1)[0]
        role = roles.get(role_name)
        if not isinstance(role, dict):
            yield path, f"unknown role {role_name!r}; roles: {', '.join(map(str, roles))}"
            continue
        if not isinstance(steps, list):
            yield path, "must be a list of {t, action, fields}"
            continue
        for i, step in enumerate(steps):
            if not isinstance(step, dict) or not isinstance(step.get("t"), (int, float)) or "action" not in step:
                yield path + (i,), "a step is {t: seconds, action: id, fields: {...}}"
                continue
            if step["action"] not in (role.get("actions") or []):
                yield path + (i, "action"), f"role {role_name!r} may not take {step['action']!r}"
            if not isinstance(step.get("fields", {}), dict):
                yield path + (i, "fields"), "must be a mapping of option -> value"


def _check_casualties(
    casualties: Any, base: KeyPath, names: set[Any], watch: list[Any], prefabs: Any
) -> Iterator[tuple[KeyPath, str]]:
    path = base + ("casualties",)
    if not isinstance(casualties, dict):
        yield path, "must map a casualty's entity name to {prefab, label}"
        return
    if casualties and not watch:
        yield path, "adding a casualty needs team.watch: the casualty's vitals are streamed like the patient's"
    for cid, decl in casualties.items():
        where = path + (cid,)
        if cid in names:
            yield where, f"entity name {cid!r} is already used by the scenario"
        if not isinstance(decl, dict):
            yield where, "a casualty is {prefab, label}"
            continue
        for key in sorted(set(decl) - _CASUALTY_KEYS):
            yield where + (key,), f"unknown key {key!r}; casualty keys are: {', '.join(sorted(_CASUALTY_KEYS))}"
        prefab = decl.get("prefab")
        if not isinstance(prefab, str):
            yield where + ("prefab",), "a casualty needs the prefab it is spawned from"
        elif prefabs is not None and prefab not in prefabs:
            close = difflib.get_close_matches(prefab, [str(p) for p in prefabs], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            yield where + ("prefab",), f"unknown prefab {prefab!r}{hint}; prefabs in this pack: {', '.join(prefabs)}"


class TeamPlugin:
    """Enforces the scenario's team roles on tagged action requests and records who acted
    (see the module docstring). Inert for scenarios without ``settings.team``."""

    events = TEAM_EVENTS

    def __init__(self) -> None:
        self.spec: TeamSpec | None = None
        self._resolved = False
        #: the instructor's deterioration trends and equipment failures in effect
        self.injections = Injections()

    @staticmethod
    def check_scenario(data: dict[str, Any], prefabs: Any = None) -> list[tuple[KeyPath, str]]:
        """The pack loader's plugin hook: problems in ``settings.team`` (key path, message);
        ``prefabs``, the pack's prefab names, which a casualty must name."""
        return list(check_team(data, prefabs))

    def build(self, app: App) -> None:
        """Add the role-enforcement system, just before ``learner.actions`` (priority -15)."""
        app.add_system(self._enforce, in_set="logic.scenario", name="team.roles", priority=-16)

    def _enforce(self, app: App) -> None:
        if not self._resolved:  # the scenario resource is inserted after the plugins are built
            scenario = app.try_resource(Scenario)
            self.spec = team_of(scenario) if scenario is not None else None
            self._interaction = scenario.interaction if scenario is not None else None
            self.injections.failures = dict(self.spec.failures) if self.spec is not None else {}
            if self.spec is not None and scenario is not None and self.spec.casualties:
                self.injections.casualties = dict(self.spec.casualties)
                self.injections.specs = casualty_specs(scenario, self.spec.casualties)
            self._resolved = True
        injections = self.injections
        if injections.active or injections.trends:
            injections.tick(app)
        inputs = app.resource(InputState)
        if not inputs.actions:
            return
        kept: list[dict[str, Any]] = []
        for req in inputs.actions:
            by = req.get("by")
            aid = str(req.get("id"))
            if isinstance(by, dict):
                role, client = str(by.get("role")), str(by.get("client"))
                if aid in INJECTIONS and role == INSTRUCTOR and self.spec is not None:
                    injections.apply(app, req)
                    continue
                if aid == VOICE and self.spec is not None and (role in self.spec.roles or role == INSTRUCTOR):
                    _voice(app, client, role, req.get("fields"))  # anyone in the session may speak
                    continue
                if self.spec is None or not self.spec.allows(role, aid):
                    app.send(ActionRejected(aid, f"outside the role {role!r} of {client}"))
                    continue
            failure = injections.blocked(aid) if injections.active else None
            if failure is not None:  # an injected equipment failure: nobody can take it now
                app.send(ActionRejected(aid, failure.message))
                continue
            if not isinstance(by, dict):  # a single learner's own request: not a team action
                kept.append(req)
                continue
            action = self._interaction.action(aid) if self._interaction is not None else None
            fields = req.get("fields") or {}
            if action is None or not isinstance(fields, dict):
                kept.append(req)
                continue  # learner.actions rejects it with the reason
            aimed = "patient" in req or injections.added
            try:
                event = action.make(fields, req.get("target") if isinstance(req.get("target"), str) else None)
                if aimed:  # several patients: the team plugin takes the action on the one meant
                    event = self._on_patient(event, req.get("patient"))
            except (ValueError, TypeError) as exc:
                if aimed:
                    app.send(ActionRejected(aid, str(exc)))
                else:
                    kept.append(req)  # learner.actions rejects it with the reason
                continue
            patient = str(getattr(event, "patient", "")) if aimed else ""
            app.send(TeamActed(client, role, aid, json.dumps(fields, sort_keys=True, default=str), patient))
            if aimed:
                app.send(event)
            else:
                kept.append(req)
        inputs.actions[:] = kept

    def _on_patient(self, event: Event, patient: Any) -> Event:
        """``event`` taken on ``patient`` (None: the scenario's patient, :attr:`TeamSpec.patient`);
        ValueError if there is no such patient or the action is not taken on one."""
        assert self.spec is not None  # only team requests get here
        patients = [*([self.spec.patient] if self.spec.patient else []), *self.injections.added]
        name = patients[0] if patient is None and patients else patient
        if not isinstance(name, str) or name not in patients:
            raise ValueError(f"no patient {str(patient)[:MAX_PATIENT_NAME]!r}; patients: {', '.join(patients)}")
        if "patient" not in {f.name for f in dataclasses.fields(event)}:
            if patient is None:
                return event  # not taken on a patient (a call-out)
            raise ValueError("it is not taken on a patient")
        if getattr(event, "patient") != "":  # noqa: B009 (an event type's own field, unknown to the type checker)
            return event  # the action itself names whom it is for
        return dataclasses.replace(event, patient=name)  # type: ignore[call-arg]


def _voice(app: App, client: str, role: str, fields: Any) -> None:
    f = fields if isinstance(fields, dict) else {}
    sha, duration = f.get("sha256"), f.get("duration_s")
    if not isinstance(sha, str) or len(sha) != 64 or not isinstance(duration, (int, float)):
        app.send(ActionRejected(VOICE, "a voice call-out needs sha256 and duration_s"))
        return
    app.send(VoiceCallOut(client, role, sha, float(duration)))


def team_of(scenario: Any) -> TeamSpec | None:
    """The team declared by a loaded scenario (None when it declares none); its patient is
    the scenario's ``patient:`` when it declares one (the rubric's patient too)."""
    spec = TeamSpec.from_settings(getattr(scenario, "settings", {}) or {})
    declared = getattr(scenario, "patient", None)
    if spec is not None and isinstance(declared, str):
        spec = dataclasses.replace(spec, patient=declared)
    return spec
