"""The instructor's injections beyond a rhythm change: deterioration, equipment failures,
adding and removing a casualty.

The console sends an ``inject`` message; the server checks it and queues it as a request
tagged with the instructor (``{"id": "team.deteriorate" | "team.fail", "fields": ...,
"by": {"role": "instructor", ...}}``) in the recorded input sample, and
:class:`vrmed.team.roles.TeamPlugin` applies it inside the App, so the session log holds
it and ``vrmed replay`` repeats it exactly (the same path as every action):

- ``team.deteriorate`` {entity, var, to, over_s}: a step (``over_s`` 0) or a linear trend
  over ``over_s`` seconds of one of the entity's scenario-settable values (a patient's
  ``spo2``, ``hr``, ``sbp``, ``rr``, ``bleed_ml_per_min``, ...: its *baseline*, which the
  physiology model then follows, as a scenario script's ``physiology:`` action sets it),
  from its live value at the injection to ``to``. Recorded as :class:`Deteriorated`.
- ``team.fail`` {failure, duration_s}: one of the scenario's declared failures
  (``settings.team.failures``: ``{id: {label, blocks: [action ids], message}}``, e.g. the
  defibrillator does not charge, so ``shock`` is refused; a monitor lead is off, so
  ``analyse`` is refused) starts for ``duration_s`` seconds: every request for a blocked
  action, by anyone, becomes ``ActionRejected(action, message)`` (recorded and shown to the
  team as a cue). Recorded as :class:`EquipmentFailed`, and :class:`EquipmentRestored`
  when it ends. A failure may also declare its effect on the bedside monitor
  (``monitor: leads_off``, :data:`MONITOR_EFFECTS`): while it lasts the clinical monitor
  panel draws a flat ECG with the "ECG LEADS OFF" technical alarm (systems/clinical/draw.py).
- ``team.casualty`` {casualty, position}: one of the scenario's declared casualties
  (``settings.team.casualties``: ``{id: {prefab, label}}``, the prefab checked with
  file:line when the pack loads) is spawned from its prefab as an entity named ``id``
  with its Transform at ``position`` (m, world); a casualty can be added once. Recorded as
  :class:`CasualtyAdded`. From then on a team action that names no patient is taken on the
  scenario's first watched entity (the original patient), and an action may name one
  (``{"id": ..., "patient": id}``): see :class:`vrmed.team.roles.TeamPlugin`.
- ``team.remove_casualty`` {casualty, disposition}: an added casualty leaves the scene
  (``disposition``: ``transferred``, e.g. to theatre or another ward, or ``discharged``;
  :data:`DISPOSITIONS`). Its entity is despawned at the stage boundary, so the physiology
  retires its slot, no rule, vital sign, draw or team action reads it any more, and any
  trend of its values stops; the team's actions can no longer name it. Only a casualty the
  instructor added can be removed: the scenario's own patients (its rubric is written
  against them) are refused with a message naming the removable ones. A removed casualty
  is not added again (its events and vitals would be ambiguous in the debrief). Recorded
  as :class:`CasualtyRemoved`; like every injection it is a recorded request, so the
  replay removes it at the same frame.

Only the instructor may inject; a learner's ``team.*`` request is refused as outside its role.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..app import App
from ..components.scene import Name, Transform
from ..errors import VrmedError
from ..events import Event
from ..packs.model import EntitySpec, Scenario
from ..scenario.interaction import ActionRejected
from ..scenario.runtime import scenario_bindings

#: Request ids of the instructor's injections (not scenario actions: the team plugin applies them).
DETERIORATE, FAIL, CASUALTY = "team.deteriorate", "team.fail", "team.casualty"
REMOVE_CASUALTY = "team.remove_casualty"
INJECTIONS = (DETERIORATE, FAIL, CASUALTY, REMOVE_CASUALTY)
#: Why a removed casualty left the scene (``team.remove_casualty``'s ``disposition``).
DISPOSITIONS = ("transferred", "discharged")
#: Farthest from the world origin (m, each axis) a casualty may be placed: well beyond any
#: room, short of a typo in the position sending it out of every view.
MAX_PLACE_M = 50.0
#: A failure's effect on the bedside monitor: the ECG leads are off (flat trace, technical alarm).
LEADS_OFF = "leads_off"
#: The monitor effects a declared failure may name (``settings.team.failures.<id>.monitor``).
MONITOR_EFFECTS = (LEADS_OFF,)
#: Longest trend or failure an injection may ask for (s).
MAX_INJECT_S = 3600.0


@dataclass(frozen=True)
class Deteriorated(Event):
    """The instructor stepped (``over_s`` 0) or started a linear trend of ``entity``'s
    settable value ``var`` from ``start`` (its live value then) to ``to`` over ``over_s`` s."""

    entity: str
    var: str
    to: float
    over_s: float = 0.0
    start: float = 0.0


@dataclass(frozen=True)
class EquipmentFailed(Event):
    """A declared equipment failure started; it lasts ``duration_s`` seconds. ``monitor``
    is its declared effect on the bedside monitor ("" none, or one of :data:`MONITOR_EFFECTS`)."""

    failure: str
    label: str
    duration_s: float
    monitor: str = ""


@dataclass(frozen=True)
class EquipmentRestored(Event):
    """A declared equipment failure ended."""

    failure: str


@dataclass(frozen=True)
class CasualtyAdded(Event):
    """The instructor added the declared casualty ``casualty`` (now an entity of that name,
    from ``prefab``) with its Transform at ``x, y, z`` (m)."""

    casualty: str
    prefab: str
    x: float
    y: float
    z: float


@dataclass(frozen=True)
class CasualtyRemoved(Event):
    """The instructor removed the added casualty ``casualty`` from the scene (its entity is
    despawned): ``disposition`` is one of :data:`DISPOSITIONS`."""

    casualty: str
    disposition: str


INJECT_EVENTS: tuple[type[Event], ...] = (
    Deteriorated,
    EquipmentFailed,
    EquipmentRestored,
    CasualtyAdded,
    CasualtyRemoved,
)


@dataclass(frozen=True)
class CasualtyDecl:
    """A casualty a scenario declares (``settings.team.casualties``): the entity name it gets,
    the prefab it is spawned from, and the console's label."""

    id: str
    prefab: str
    label: str


@dataclass(frozen=True)
class Failure:
    """A failure a scenario declares: its label, the actions it blocks, what a refusal
    says, and its effect on the bedside monitor ("" none)."""

    id: str
    label: str
    blocks: frozenset[str]
    message: str
    monitor: str = ""


@dataclass
class _Trend:
    entity: str
    var: str
    start: float
    to: float
    t0: float
    over_s: float


@dataclass
class Injections:
    """The injections in effect in one App (held by the team plugin; a pure function of
    the recorded requests and the clock, so a replay reaches the same state)."""

    failures: dict[str, Failure] = field(default_factory=dict)
    trends: list[_Trend] = field(default_factory=list)
    #: failure id -> simulated time it ends
    active: dict[str, float] = field(default_factory=dict)
    #: the declared casualties, the entity each is spawned as, and those added so far (in order)
    casualties: dict[str, CasualtyDecl] = field(default_factory=dict)
    specs: dict[str, EntitySpec] = field(default_factory=dict)
    added: list[str] = field(default_factory=list)
    #: added casualties that were removed since (transferred or discharged), in order
    removed: list[str] = field(default_factory=list)

    def apply(self, app: App, req: dict[str, Any]) -> None:
        """Apply one instructor injection request (a bad one becomes ``ActionRejected``)."""
        aid, fields = str(req.get("id")), req.get("fields") or {}
        try:
            if not isinstance(fields, dict):
                raise ValueError("its fields are not a mapping")
            if aid == DETERIORATE:
                self._deteriorate(app, fields)
            elif aid == CASUALTY:
                self._casualty(app, fields)
            elif aid == REMOVE_CASUALTY:
                self._remove(app, fields)
            else:
                self._fail(app, fields)
        except KeyError as exc:
            app.send(ActionRejected(aid, f"missing field {exc}"))
        except (ValueError, TypeError, VrmedError) as exc:  # a setter's own check (a value out of range)
            app.send(ActionRejected(aid, str(exc)))

    def _deteriorate(self, app: App, fields: dict[str, Any]) -> None:
        entity, var = str(fields["entity"]), str(fields["var"])
        to, over = _number(fields, "to"), _number(fields, "over_s", 0.0)
        if not 0.0 <= over <= MAX_INJECT_S:
            raise ValueError(f"over_s must be 0 to {MAX_INJECT_S:g} s, got {over:g}")
        setter, getter = _binding(app, entity, var)
        start = to
        if over > 0.0:
            if getter is None:
                raise ValueError(f"{var!r} of {entity!r} cannot be read, so it can only be stepped (over_s 0)")
            start = float(getter(app, entity, var))
        now = float(app.clock.time)
        app.send(Deteriorated(entity, var, to, over, start))
        if over == 0.0:
            setter(app, entity, var, to)
            return
        self.trends = [t for t in self.trends if (t.entity, t.var) != (entity, var)]  # the newest wins
        self.trends.append(_Trend(entity, var, start, to, now, over))

    def _fail(self, app: App, fields: dict[str, Any]) -> None:
        name = str(fields["failure"])
        failure = self.failures.get(name)
        if failure is None:
            known = ", ".join(self.failures) or "none (settings.team.failures)"
            raise ValueError(f"unknown failure {name!r}; the scenario declares: {known}")
        duration = _number(fields, "duration_s")
        if not 0.0 < duration <= MAX_INJECT_S:
            raise ValueError(f"duration_s must be above 0 and at most {MAX_INJECT_S:g} s, got {duration:g}")
        self.active[name] = float(app.clock.time) + duration
        app.send(EquipmentFailed(name, failure.label, duration, failure.monitor))

    def _casualty(self, app: App, fields: dict[str, Any]) -> None:
        name = str(fields["casualty"])
        spec = self.specs.get(name)
        if spec is None:
            known = ", ".join(self.casualties) or "none (settings.team.casualties)"
            raise ValueError(f"unknown casualty {name!r}; the scenario declares: {known}")
        if name in self.added:
            raise ValueError(f"casualty {name!r} is already in the scene")
        if name in self.removed:
            raise ValueError(f"casualty {name!r} was removed; a casualty is added once")
        where = fields["position"]
        if not isinstance(where, (list, tuple)) or len(where) != 3:
            raise ValueError(f"position must be [x, y, z] in metres, got {where!r}")
        xyz = [_number({"position": v}, "position") for v in where]
        if any(abs(v) > MAX_PLACE_M for v in xyz):
            raise ValueError(f"position must be within {MAX_PLACE_M:g} m of the origin on each axis, got {where!r}")
        comps = spec.build()  # fresh components, as the scenario's own entities are built
        tf = next((c for c in comps if isinstance(c, Transform)), None)
        if tf is None:
            tf = Transform()
            comps.append(tf)
        tf.position = np.array(xyz, dtype=np.float64)
        app.spawn(*comps)
        self.added.append(name)
        app.send(CasualtyAdded(name, spec.prefab or "", *xyz))

    def _remove(self, app: App, fields: dict[str, Any]) -> None:
        name = str(fields["casualty"])
        disposition = str(fields.get("disposition", DISPOSITIONS[0]))
        if disposition not in DISPOSITIONS:
            raise ValueError(f"disposition must be one of {', '.join(DISPOSITIONS)}, got {disposition!r}")
        if name not in self.added:
            removable = ", ".join(self.added) or "none added yet"
            if name in self.removed:
                raise ValueError(f"casualty {name!r} was already removed")
            if name in self.casualties:
                raise ValueError(f"casualty {name!r} is not in the scene (removable: {removable})")
            raise ValueError(
                f"{name!r} is not a casualty the instructor added: the scenario's own patients "
                f"cannot be removed (removable: {removable})"
            )
        ent = next((e for e, n in app.query(Name) if n.value == name), None)
        if ent is not None:  # (despawned at the stage boundary: this frame's systems still see it)
            app.despawn(ent)
        self.added.remove(name)
        self.removed.append(name)
        self.trends = [t for t in self.trends if t.entity != name]
        app.send(CasualtyRemoved(name, disposition))

    def tick(self, app: App) -> None:
        """Advance the trends and end the failures whose time is up (every logic tick)."""
        now = float(app.clock.time)
        for name, until in list(self.active.items()):
            if now + 1e-9 >= until:
                del self.active[name]
                app.send(EquipmentRestored(name))
        for trend in list(self.trends):
            w = min(1.0, (now - trend.t0) / trend.over_s)
            try:
                setter, _ = _binding(app, trend.entity, trend.var)
                setter(app, trend.entity, trend.var, trend.start + (trend.to - trend.start) * w)
            except (ValueError, VrmedError) as exc:  # e.g. the entity was despawned: the trend stops
                app.send(ActionRejected(DETERIORATE, f"the trend of {trend.var} stopped: {exc}"))
                w = 1.0
            if w >= 1.0:
                self.trends.remove(trend)

    def blocked(self, action: str) -> Failure | None:
        """The active failure that blocks ``action`` (None: it may be taken)."""
        for name in self.active:
            failure = self.failures[name]
            if action in failure.blocks:
                return failure
        return None


def _number(fields: dict[str, Any], key: str, default: float | None = None) -> float:
    value = fields.get(key, default)
    if value is None:
        raise ValueError(f"missing field {key!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{key} must be a finite number, got {value!r}")
    return float(value)


def _binding(app: App, entity: str, var: str) -> tuple[Any, Any]:
    """The scenario setter (and getter, if the value can be read) binding ``var`` of ``entity``."""
    # deferred: scene names live in the core scene components; looked up only on an injection
    from ..components.scene import Name

    ent = next((e for e, n in app.query(Name) if n.value == entity), None)
    if ent is None:
        raise ValueError(f"no entity named {entity!r}")
    bindings = scenario_bindings(app)
    for comp in app.components_of(ent):
        ctype = type(comp)
        if var in getattr(ctype, "SCENARIO_SETTABLE", ()) and ctype in bindings.setters:
            readable = var in getattr(ctype, "SCENARIO_VARS", ())
            return bindings.setters[ctype], bindings.getters.get(ctype) if readable else None
    raise ValueError(f"{var!r} of {entity!r} cannot be set (no component binds it)")


def failures_of(team: dict[str, Any]) -> dict[str, Failure]:
    """The failures declared in an already-validated ``settings.team``."""
    out = {}
    for name, f in (team.get("failures") or {}).items():
        label = str(f.get("label", name))
        blocks, message = frozenset(f.get("blocks", ())), str(f.get("message", label))
        out[str(name)] = Failure(str(name), label, blocks, message, str(f.get("monitor", "")))
    return out


def casualties_of(team: dict[str, Any]) -> dict[str, CasualtyDecl]:
    """The casualties declared in an already-validated ``settings.team``."""
    out = {}
    for name, c in (team.get("casualties") or {}).items():
        out[str(name)] = CasualtyDecl(str(name), str(c["prefab"]), str(c.get("label", name)))
    return out


def casualty_specs(scenario: Scenario, casualties: dict[str, CasualtyDecl]) -> dict[str, EntitySpec]:
    """Each declared casualty as an entity spec named by its id, from the pack's prefab
    (assets under the pack's root), built like a scenario entity when it is added."""
    out = {}
    for name, c in casualties.items():
        prefab = scenario.prefabs.get(c.prefab)
        if prefab is None:  # the loader checked the name; a scenario made by hand may lack prefabs
            continue
        root = scenario.root if scenario.root is not None else Path(".")
        out[name] = EntitySpec(name, c.prefab, prefab.loc, dict(prefab.components), root, prefab.visual)
    return out
