"""A person in the loop: their choices become scenario events, they see guidance, and
they are told what went wrong as it happens.

:class:`LearnerPlugin` (added by :func:`vrmed.session.build_session` for every session
whose scenario has an ``interaction:`` section or a rubric) runs three systems in
``logic.scenario``:

- ``learner.menu`` turns the person's menu commands (``InputState.commands``, recorded
  with every input sample) into a :class:`MenuState` the HUD or a headset panel draws,
  and into action requests;
- ``learner.actions`` turns action requests (``InputState.actions``) into the scenario's
  events, exactly the events a scripted learner sends, so rubrics, records and replay are
  unchanged; a request the scenario does not offer becomes ``ActionRejected``;
- ``learner.guidance`` follows the scenario's steps, instructions and end conditions into
  :class:`LearnerView`, and (formative mode) sends ``CueShown`` for every violated rubric
  rule and every matching ``interaction.cues`` entry. In exam mode no cue is sent; the
  mode is recorded in the session log header.

Everything here is a deterministic function of recorded input and events, so a
person-driven session replays bit-exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..app import App
from ..events import SentEvent, event_to_record
from ..geometry import quat_matrix
from ..input import InputState
from .interaction import ActionRejected, ActionSpec, CueShown, Interaction, SessionPaused, StepCompleted
from .model import InstructionShown, ScenarioEnded, for_patient
from .rubric import evaluate_rule, time_of

#: Learner modes: formative (cues shown and recorded) or exam (no cues; scored only).
MODES = ("formative", "exam")
#: Rubric rules are re-evaluated for live cues on the tick after any new event, and at
#: least every CUE_PERIOD_S of simulated time (so a deadline that passes with nothing
#: happening is cued within this delay).
CUE_PERIOD_S = 2.0
#: How many recent cues the view keeps (the HUD shows the newest few).
MAX_CUES = 8


@dataclass
class MenuItem:
    """One line of the action menu: ``kind`` "action" (value: action id) or "option"
    (value: an option value for the pending action)."""

    label: str
    kind: str
    value: Any


@dataclass
class MenuState:
    """The action menu a person drives (a resource, drawn by the desktop HUD and the
    headset panel): open or closed, its title and items, the highlighted index, and the
    action whose options are being chosen."""

    open: bool = False
    title: str = ""
    items: list[MenuItem] = field(default_factory=list)
    index: int = 0
    pending: str | None = None
    chosen: dict[str, Any] = field(default_factory=dict)
    source: str | None = None

    def close(self) -> None:
        """Close the menu and forget any half-chosen action."""
        self.open, self.items, self.index, self.pending, self.chosen, self.source = False, [], 0, None, {}, None


@dataclass
class Cue:
    """A cue as the learner sees it: when (s), what, how severe."""

    t: float
    text: str
    severity: str
    source: str


@dataclass
class LearnerView:
    """What the learner is shown (a resource): the latest instruction, the guidance steps
    and which are done, the recent cues, the clock and the time limit, and, once the
    session has ended, why and the result. Plain data; the renderers read it."""

    mode: str = "formative"
    #: Whether a person acts (their HUD and panels are drawn); False for a scripted learner.
    person: bool = True
    #: Whether the guidance steps are shown (formative mode); exam mode tracks them (the
    #: ``StepCompleted`` events) but shows only the instruction and the clock.
    guidance: bool = True
    instruction: str = ""
    steps: list[str] = field(default_factory=list)
    done: list[bool] = field(default_factory=list)
    cues: list[Cue] = field(default_factory=list)
    time: float = 0.0
    time_limit: float | None = None
    ended: bool = False
    end_reason: str = ""
    result: str = ""
    paused: bool = False
    #: The entity the pointer is over (desktop hover or headset ray), for a tooltip.
    hover: str | None = None

    def recent_cues(self, window_s: float, limit: int) -> list[Cue]:
        """The newest ``limit`` cues given within the last ``window_s`` seconds, oldest first.

        A cue is feedback on what the learner just did, so the renderers drop it once it is
        stale: an error cue left on screen after the learner has corrected the error reads as
        a standing fault. The session log keeps every cue (``CueShown``)."""
        return [c for c in self.cues if self.time - c.t <= window_s][-limit:] if limit > 0 else []

    @property
    def current_step(self) -> int | None:
        """Index of the first step not yet done (None when all are done or there are none)."""
        for i, d in enumerate(self.done):
            if not d:
                return i
        return None


class LearnerPlugin:
    """Person-facing systems for one scenario (see the module docstring)."""

    def __init__(
        self,
        interaction: Interaction | None,
        rubric: Any = None,
        *,
        mode: str = "formative",
        duration: float | None = None,
        person: bool = True,
        time_pressure: float = 1.0,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"learner mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.interaction = interaction or Interaction()
        self.rubric = rubric
        self.mode = mode
        self.view = LearnerView(mode=mode, guidance=mode == "formative", person=person)
        self.menu = MenuState()
        self._events: list[SentEvent] = []
        self._records: list[dict[str, Any]] = []
        self._cued: set[tuple[str, float]] = set()
        self._next_cue_eval = CUE_PERIOD_S
        if not time_pressure > 0.0:
            raise ValueError(f"time_pressure must be above 0, got {time_pressure}")
        limit = self.interaction.time_limit if self.interaction.time_limit is not None else duration
        # adaptive difficulty's time pressure (docs/adaptive-training.md) divides the time limit
        self.view.time_limit = None if limit is None else limit / time_pressure
        self.view.steps = [s.text for s in self.interaction.steps]
        self.view.done = [False] * len(self.view.steps)

    def build(self, app: App) -> None:
        """Insert LearnerView and MenuState; listen to events; add the systems."""
        app.insert_resource(self.view)
        app.insert_resource(self.menu)
        app.insert_resource(self)
        app.events.listen(self._on_sent)
        app.add_system(self._menu_step, in_set="logic.scenario", name="learner.menu", priority=-20)
        app.add_system(self._action_step, in_set="logic.scenario", name="learner.actions", priority=-15)
        app.add_system(self._guidance_step, in_set="logic.scenario", name="learner.guidance", priority=50)

    def _on_sent(self, sent: SentEvent) -> None:
        self._events.append(sent)
        if self.rubric is not None and self.mode == "formative":
            # the rubric reads records as the session log stores them (vrmed.recording)
            self._records.append({"seq": sent.seq, **event_to_record(sent)})

    # -- menu ----------------------------------------------------------------------------
    def _menu_step(self, app: App) -> None:
        inputs = app.resource(InputState)
        commands, inputs.commands = inputs.commands, []
        for command in commands:
            self.command(app, command)

    def command(self, app: App, command: str) -> None:
        """Apply one menu command (see docs/input.md): ``menu.open``, ``menu.close``,
        ``menu.up``, ``menu.down``, ``menu.select``, ``menu.back``, ``menu.choose:<n>``
        (1-based), ``menu.action:<id>`` (start one action), ``pick:<entity>`` (the menu of
        what that entity offers), ``hover:<entity>`` / ``hover:`` (tooltip),
        ``session.pause`` / ``session.resume`` (``LearnerView.paused``, ``SessionPaused``)."""
        menu = self.menu
        name, _, arg = command.partition(":")
        if name == "hover":
            self.view.hover = arg or None
        elif name in ("session.pause", "session.resume"):  # recorded, so a replay pauses at the same frames
            paused = name == "session.pause"
            if paused != self.view.paused:
                self.view.paused = paused
                app.send(SessionPaused(paused))
        elif name == "menu.open":
            self._open_actions(self.interaction.actions, "Actions", None)
        elif name == "pick":
            offered = self.interaction.actions_on(arg)
            if offered:
                self._open_actions(offered, self._label_of(app, arg), arg)
        elif name == "menu.action":
            action = self.interaction.action(arg)
            if action is None:
                app.send(ActionRejected(arg, "the scenario offers no such action"))
            else:
                menu.close()
                self._start(app, action)
        elif not menu.open:
            return
        elif name == "menu.close":
            menu.close()
        elif name in ("menu.up", "menu.down") and menu.items:
            step = -1 if name == "menu.up" else 1
            menu.index = (menu.index + step) % len(menu.items)
        elif name == "menu.back":
            if menu.pending is not None and menu.chosen:
                menu.chosen.popitem()
                action = self.interaction.action(menu.pending)
                if action is not None:
                    self._show_option(action)
            elif menu.pending is not None and menu.source != "__direct__":
                source = menu.source
                offered = self.interaction.actions_on(source) if source else self.interaction.actions
                self._open_actions(offered, menu.title if source is None else self._label_of(app, source), source)
            else:
                menu.close()
        elif name == "menu.select" and menu.items:
            self._choose(app, menu.items[menu.index])
        elif name == "menu.choose":
            try:
                i = int(arg) - 1
            except ValueError:
                return
            if 0 <= i < len(menu.items):
                menu.index = i
                self._choose(app, menu.items[i])

    def _target(self, source: str | None) -> str | None:
        """The entity an action is taken on: the one whose menu it came from, else the one
        the pointer is over."""
        if source is not None and source != "__direct__":
            return source
        return self.view.hover

    def _label_of(self, app: App, entity_name: str) -> str:
        # deferred: components.scene is core scene data; imported where the label is needed
        from vrmed.components.scene import Interactable, Name

        for ent, name in app.query(Name):
            if name.value == entity_name:
                inter = app.try_get(ent, Interactable)
                if inter is not None and inter.label:
                    return str(inter.label)
        return entity_name.replace("_", " ").capitalize()

    def _open_actions(self, actions: tuple[ActionSpec, ...], title: str, source: str | None) -> None:
        menu = self.menu
        menu.close()
        if not actions:
            return
        menu.open, menu.title, menu.source = True, title, source
        menu.items = [MenuItem(a.label, "action", a.id) for a in actions]

    def _start(self, app: App, action: ActionSpec) -> None:
        menu = self.menu
        if not action.options:
            target = self._target(menu.source)
            menu.close()
            self._request(app, action.id, {}, target)
            return
        source = menu.source
        menu.close()
        menu.open, menu.pending, menu.source = True, action.id, source if source is not None else "__direct__"
        self._show_option(action)

    def _show_option(self, action: ActionSpec) -> None:
        menu = self.menu
        name, values = action.options[len(menu.chosen)]
        menu.title = f"{action.label}: {name.replace('_', ' ')}"
        menu.items = [MenuItem(str(v), "option", v) for v in values]
        menu.index = 0

    def _choose(self, app: App, item: MenuItem) -> None:
        menu = self.menu
        if item.kind == "action":
            action = self.interaction.action(str(item.value))
            if action is not None:
                self._start(app, action)
            return
        action = self.interaction.action(str(menu.pending))
        if action is None:
            menu.close()
            return
        name, _ = action.options[len(menu.chosen)]
        menu.chosen[name] = item.value
        if len(menu.chosen) == len(action.options):
            chosen, target = dict(menu.chosen), self._target(menu.source)
            menu.close()
            self._request(app, action.id, chosen, target)
        else:
            self._show_option(action)

    def _request(self, app: App, action_id: str, chosen: dict[str, Any], target: str | None = None) -> None:
        # Menu choices go through the same queue as direct requests (hotkeys, headset
        # buttons), so there is one place where requests become events.
        request: dict[str, Any] = {"id": action_id, "fields": chosen}
        if target is not None:
            request["target"] = target
        app.resource(InputState).actions.append(request)

    # -- actions -------------------------------------------------------------------------
    def _action_step(self, app: App) -> None:
        inputs = app.resource(InputState)
        requests, inputs.actions = inputs.actions, []
        for req in requests:
            aid = str(req.get("id"))
            action = self.interaction.action(aid)
            if action is None:
                app.send(ActionRejected(aid, "the scenario offers no such action"))
                continue
            fields = req.get("fields") or {}
            if not isinstance(fields, dict):
                app.send(ActionRejected(aid, "its choices are not a mapping"))
                continue
            target = req.get("target")
            try:
                event = action.make(fields, target if isinstance(target, str) else None)
            except (ValueError, TypeError) as exc:
                app.send(ActionRejected(aid, str(exc)))
                continue
            app.send(event)

    # -- guidance and cues ---------------------------------------------------------------
    def _guidance_step(self, app: App) -> None:
        view, now = self.view, float(app.clock.time)
        view.time = now
        pending = list(self._events)  # the listener holds this list: empty it in place
        self._events.clear()
        for sent in pending:
            self._on_event(app, sent)
        fresh = any(not isinstance(s.event, CueShown | StepCompleted) for s in pending)
        if self.rubric is not None and self.mode == "formative" and (fresh or now + 1e-9 >= self._next_cue_eval):
            self._next_cue_eval = now + CUE_PERIOD_S
            self._rubric_cues(app, now)
        if not view.ended and view.time_limit is not None and now + 1e-9 >= view.time_limit:
            view.ended, view.end_reason = True, f"time limit ({view.time_limit:g} s) reached"

    def _on_event(self, app: App, sent: SentEvent) -> None:
        view, event = self.view, sent.event
        name = type(event).__name__
        if isinstance(event, InstructionShown):
            view.instruction = event.text
        elif isinstance(event, CueShown):
            view.cues.append(Cue(sent.time, event.text, event.severity, event.source))
            del view.cues[:-MAX_CUES]
        elif isinstance(event, ScenarioEnded) and not view.ended:
            view.ended, view.end_reason = True, f"scenario ended: {event.outcome}"
        elif isinstance(event, ActionRejected) and self.mode == "formative":
            app.send(CueShown(f"action:{event.action}", f"Not possible: {event.reason}", "warning"))
        data = _fields(event)
        if name in self.interaction.end_on and not view.ended and for_patient(data, self.interaction.patients):
            view.ended, view.end_reason = True, f"{name}"
        for i, step in enumerate(self.interaction.steps):  # another patient's event completes none of ours
            if (
                not view.done[i]
                and step.event == name
                and for_patient(data, step.patients)
                and _holds(step.where, data)
            ):
                view.done[i] = True
                app.send(StepCompleted(i, step.text))
                break  # one event completes at most one step (steps are in order)
        if self.mode != "formative":
            return
        for i, cue in enumerate(self.interaction.cues):
            if cue.event == name and for_patient(data, cue.patients) and _holds(cue.where, data):
                app.send(CueShown(f"cue:{i}", cue.text, cue.severity))

    def _rubric_cues(self, app: App, now: float) -> None:
        records = sorted(self._records, key=lambda r: (r["t"], r.get("seq", 0)))
        for rule in self.rubric.rules:
            result = evaluate_rule(rule, records, now)
            if result.passed:
                continue
            for key, text in _violations(rule, result, records, now):
                if (rule.id, key) in self._cued:
                    continue
                self._cued.add((rule.id, key))
                app.send(CueShown(f"rule:{rule.id}", text, "error" if rule.critical else "warning"))


def _violations(rule: Any, result: Any, records: list[dict[str, Any]], now: float) -> list[tuple[float, str]]:
    """(key, text) for each definite violation of a failed rule at time ``now``: each
    recorded violation (forbidden event, bad interval, long pause, wrong nth event), and a
    deadline that has passed. A rule that merely has not been met *yet* gives nothing."""
    base = rule.description or rule.id
    out: list[tuple[float, str]] = []
    for v in getattr(result, "violations", None) or []:
        t = v.get("t") if isinstance(v, dict) else None
        if t is not None:
            out.append((round(float(t), 3), base + _violation_detail(v)))
    if out:
        return out
    if rule.kind == "deadline":
        detail = str(getattr(result, "detail", ""))
        if "limit" in detail:  # happened, but late
            return [(-1.0, f"{base} (late: {detail})")]
        within = getattr(rule, "within", None)
        if within is not None:
            t0 = time_of(rule.start, records, now, 0.0)
            if t0 is not None and now > t0 + within:
                return [(-1.0, f"{base} (not done within {within:g} s)")]
    return []


def _violation_detail(v: dict[str, Any]) -> str:
    """What was measured, in a few words: ' (gap 160 s)', ' (pause 14 s)', ' (dose=3, route=im)'."""
    if isinstance(v.get("problem"), str):
        return f" ({v['problem']})"
    for key, word in (("first", "first after"), ("gap", "gap"), ("overdue", "none for"), ("duration", "pause")):
        if isinstance(v.get(key), (int, float)):
            return f" ({word} {float(v[key]):.0f} s)"
    data = v.get("data")
    if isinstance(data, dict):
        shown = [f"{k}={data[k]}" for k in data if k != "patient" and isinstance(data[k], (int, float, str))][:3]
        if shown:
            return f" ({', '.join(shown)})"
    return ""


def _fields(event: Any) -> dict[str, Any]:
    return {k: getattr(event, k) for k in getattr(event, "__dataclass_fields__", {})}


def _holds(expr: Any, data: dict[str, Any]) -> bool:
    if expr is None:
        return True
    try:
        return bool(expr.evaluate(data.__getitem__))
    except Exception:  # a field missing or of another type: the condition does not hold
        return False


def pick_ray(app: App, origin: Any, direction: Any, max_distance: float = 10.0) -> tuple[str | None, float]:
    """The nearest enabled :class:`Interactable` hit by a ray (world space, metres): its
    entity name and distance, or (None, inf). Boxes, spheres and meshes are taken in the
    entity's frame (``Transform`` position, orientation and scale; a mesh also by its
    ``VisualMesh.scale``); a mesh target is skipped while its drawn colour is hidden (alpha
    0) or translucent (alpha < 1, unless ``pick_translucent``), and cut like the drawn mesh
    by the ``ClipPlane`` resource (the cut-away part is passed through). For headset
    controller rays and any other pointer that has a pose rather than a screen position."""
    # deferred: scene components are read only when something points
    from vrmed.components.scene import Interactable, Name, Transform, VisualMesh
    from vrmed.components.scene.render import ClipPlane  # deferred: as above (scene data)

    o = np.asarray(origin, dtype=float)
    d = np.asarray(direction, dtype=float)
    n = float(np.linalg.norm(d))
    if n == 0.0 or not np.all(np.isfinite(o)) or not np.isfinite(n):
        return None, float("inf")
    d = d / n
    best: tuple[str | None, float] = (None, float("inf"))
    cut = app.try_resource(ClipPlane)
    for ent, (inter, name) in app.query(Interactable, Name):
        if not inter.enabled:
            continue
        tf = app.try_get(ent, Transform)
        pos = np.zeros(3) if tf is None else np.asarray(tf.position, float)
        rot = np.eye(3) if tf is None else quat_matrix(tf.orientation)  # type: ignore[arg-type]
        scale = np.ones(3) if tf is None else np.broadcast_to(np.asarray(tf.scale, float), (3,))
        # into the entity's unscaled local frame, then divide out the scale
        lo = (rot.T @ (o - pos)) / scale
        ld = (rot.T @ d) / scale
        if inter.shape == "mesh":
            visual = app.try_get(ent, VisualMesh)
            if visual is not None and visual.color is not None:
                alpha = float(visual.color[3])
                if alpha <= 0.0 or (alpha < 1.0 and not inter.pick_translucent):
                    continue  # hidden, or a translucent (peeled) layer the pointer passes through
            local_scale = scale if visual is None else scale * visual.scale
            if visual is not None:  # the drawn mesh's own scale: the target is what is drawn
                lo, ld = lo / visual.scale, ld / visual.scale
            clip = (0.0, 0.0, 0.0, 0.0)
            if cut is not None and cut.applies_to(ent):  # the world plane in the mesh's frame
                nw = np.asarray(cut.plane[:3], float)
                nl = local_scale * (rot.T @ nw)
                clip = (float(nl[0]), float(nl[1]), float(nl[2]), float(nw @ pos + cut.plane[3]))
            dist = _hit_mesh(inter, lo, ld, min(best[1], max_distance), clip)
        else:
            dist = _hit_local(inter, lo, ld)
        if dist is not None and dist <= max_distance and dist < best[1]:
            best = (name.value, dist)
    return best


def _hit_mesh(
    inter: Any, o: np.ndarray, d: np.ndarray, t_max: float, clip: tuple[float, float, float, float]
) -> float | None:
    """Ray parameter of the nearest triangle of a mesh target within ``t_max`` (the nearest
    hit so far prunes the search) on the kept side of ``clip`` (mesh frame), or None."""
    # deferred: numba (the pick kernel) loads only when a mesh target is pointed at
    from vrmed.mesh.pick import load_pick_mesh, ray_hit

    t = ray_hit(load_pick_mesh(inter.mesh), o, d, t_max, clip)
    return t if np.isfinite(t) else None


def _hit_local(inter: Any, o: np.ndarray, d: np.ndarray) -> float | None:
    """Ray parameter of the first hit on the shape, or None. The local ray is the world ray
    mapped into the entity's unscaled frame, so the parameter is the world distance."""
    c = np.asarray(inter.offset, float)
    ext = np.asarray(inter.half_extents, float)
    if np.all(ext > 0.0):  # slab test
        t0, t1 = 0.0, float("inf")
        for k in range(3):
            if abs(d[k]) < 1e-12:
                if abs(o[k] - c[k]) > ext[k]:
                    return None
                continue
            a = (c[k] - ext[k] - o[k]) / d[k]
            b = (c[k] + ext[k] - o[k]) / d[k]
            t0, t1 = max(t0, min(a, b)), min(t1, max(a, b))
            if t0 > t1:
                return None
        return t0
    oc = o - c
    a = float(d @ d)
    b = float(oc @ d)
    q = float(oc @ oc) - inter.radius**2
    disc = b * b - a * q
    if disc < 0.0:
        return None
    t = (-b - np.sqrt(disc)) / a
    if t < 0.0:
        t = (-b + np.sqrt(disc)) / a
        if t < 0.0:
            return None
    return float(t)


__all__ = ["MODES", "Cue", "LearnerPlugin", "LearnerView", "MenuItem", "MenuState", "pick_ray"]
