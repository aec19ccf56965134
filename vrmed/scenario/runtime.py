"""Run a scenario's script (state machine) and scripted learner inside an App.

:class:`ScenarioPlugin` is added by :func:`vrmed.session.build_session` when a scenario
has a ``script`` or a ``learner``. Two systems run in ``logic.scenario`` (before
physiology and scoring): the scripted learner sends its timed actions as events, then the
script consumes every event sent since its last tick, in order, fires the first matching
transition of the current state for each, then checks timed (``after``) and conditional
(``when``) transitions. Every state change is an event (``StateEntered``), so it lands in
the session log; ``trace`` (``vrmed run --trace``) prints each one as it happens.

Transitions listed under the script's ``any_state`` apply in every non-final state (except
the state they lead to and those under ``except``) and are checked before the state's own:
an interrupt, such as a patient collapsing, preempts whatever the current state waits for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..app import App
from ..errors import ConfigError, VrmedError
from ..events import Event, SentEvent
from .model import (
    Action,
    InstructionShown,
    LearnerAction,
    PromptPlayed,
    ScenarioEnded,
    Script,
    State,
    StateEntered,
    Transition,
    for_patient,
)

Getter = Callable[[App, str, str], Any]
Setter = Callable[[App, str, str, Any], None]
#: How many transitions may chain within one tick before the script is declared looping.
MAX_CHAIN = 32


@dataclass
class ScenarioBindings:
    """How scripts read and set values of component types that keep their state elsewhere
    (a resource; e.g. the physiology plugin binds ``Patient`` to its population arrays)."""

    getters: dict[type, Getter] = field(default_factory=dict)
    setters: dict[type, Setter] = field(default_factory=dict)

    def register(self, component_type: type, getter: Getter | None = None, setter: Setter | None = None) -> None:
        """Bind a component type's ``SCENARIO_VARS`` to ``getter(app, entity_name, var)`` and
        its ``SCENARIO_SETTABLE`` keys to ``setter(app, entity_name, key, value)``."""
        if getter is not None:
            self.getters[component_type] = getter
        if setter is not None:
            self.setters[component_type] = setter


def scenario_bindings(app: App) -> ScenarioBindings:
    """The App's ScenarioBindings resource, created on first use."""
    found = app.try_resource(ScenarioBindings)
    if found is None:
        found = ScenarioBindings()
        app.insert_resource(found)
    return found


@dataclass
class ScenarioState:
    """Where the script is (a resource): state, entry time, variables, counts and history."""

    state: str = ""
    entered_at: float = 0.0
    vars: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    history: list[tuple[float, str, str, str]] = field(default_factory=list)
    outcome: str | None = None
    ended: bool = False


class ScenarioError(VrmedError):
    """A script failed at run time (a value it reads is missing, a transition loop)."""


class ScenarioPlugin:
    """Adds the scripted learner and the script runtime for one scenario."""

    def __init__(
        self,
        script: Script | None,
        learner: tuple[LearnerAction, ...],
        entities: dict[str, int],
        trace: Callable[[str], None] | None = None,
    ) -> None:
        self.script = script
        self.learner = learner
        self.entities = dict(entities)
        self.trace = trace
        self._pending: list[SentEvent] = []
        self._next_action = 0
        self._started = False
        self._resolved: dict[tuple[str, str], Callable[[App], Any]] = {}

    def build(self, app: App) -> None:
        """Insert the ScenarioState resource, listen to events, add the two systems."""
        self.state = ScenarioState(vars=dict(self.script.vars) if self.script else {})
        self._by_state: dict[str, tuple[Transition, ...]] = {}
        if self.script is not None:
            for name, st in self.script.states.items():
                glob = () if st.final else tuple(tr for tr in self.script.any_state if tr.applies_in(name))
                self._by_state[name] = glob + st.transitions
        app.insert_resource(self.state)
        app.insert_resource(self)
        scenario_bindings(app)
        app.events.listen(self._on_event)
        if self.learner:
            app.add_system(self._learner_step, in_set="logic.scenario", name="scenario.learner", priority=-10)
        if self.script is not None:
            app.add_system(self._script_step, in_set="logic.scenario", name="scenario.script", priority=0)

    # -- event intake ----------------------------------------------------------------
    def _on_event(self, sent: SentEvent) -> None:
        name = type(sent.event).__name__
        if self.script is None or for_patient(sent.event, self.script.patients):  # count.EVENT: its patient's
            self.state.counts[name] = self.state.counts.get(name, 0) + 1
        if self.script is not None and not self.state.ended:
            self._pending.append(sent)

    # -- scripted learner --------------------------------------------------------------
    def _learner_step(self, app: App) -> None:
        now = app.clock.time + 1e-9
        while self._next_action < len(self.learner) and self.learner[self._next_action].t <= now:
            app.send(self.learner[self._next_action].make())
            self._next_action += 1

    # -- script ------------------------------------------------------------------------
    def _script_step(self, app: App) -> None:
        assert self.script is not None
        st = self.state
        if not self._started:  # events sent before this first tick are handled in the initial state
            self._started = True
            self._enter(app, self.script.initial, "", "start")
        pending, self._pending = self._pending, []
        for sent in pending:
            if st.ended:
                return
            name = type(sent.event).__name__
            for tr in self._candidates():  # an event of another patient than the transition's does not fire it
                if tr.on == name and for_patient(sent.event, tr.patients) and self._ready(app, tr, sent.event):
                    self._fire(app, tr, sent.event)
                    break
        for _ in range(MAX_CHAIN):
            if st.ended:
                return
            for tr in self._candidates():
                if tr.on is None and self._ready(app, tr, None):
                    self._fire(app, tr, None)
                    break
            else:
                return
        raise ScenarioError(
            f"scenario script loops: more than {MAX_CHAIN} transitions in one tick at "
            f"t={app.clock.time:.3f} s (state {st.state!r}); give looping transitions "
            f"an 'after' delay"
        )

    def _current(self) -> State:
        assert self.script is not None
        return self.script.states[self.state.state]

    def _candidates(self) -> tuple[Transition, ...]:
        """The transitions that may fire now, in priority order: the script's "from any
        state" transitions (interrupts) that apply here, then the state's own (computed
        once per state when the plugin is built: nothing is allocated per tick)."""
        return self._by_state[self.state.state]

    def _ready(self, app: App, tr: Transition, event: Event | None) -> bool:
        if tr.after is not None and app.clock.time - self.state.entered_at < tr.after - 1e-9:
            return False
        return tr.when is None or bool(tr.when.evaluate(self._lookup(app, event)))

    def _fire(self, app: App, tr: Transition, event: Event | None) -> None:
        for action in tr.actions:
            self._do(app, action, event)
        if tr.to is not None:
            self._enter(app, tr.to, self.state.state, tr.describe())

    def _enter(self, app: App, name: str, previous: str, trigger: str) -> None:
        assert self.script is not None
        st = self.state
        t = app.clock.time
        st.state, st.entered_at = name, t
        st.history.append((t, previous, name, trigger))
        if self.trace is not None:
            self.trace(f"[scenario] t={t:9.3f}  {previous or '(start)'} -> {name}  ({trigger})")
        app.send(StateEntered(name, previous, trigger))
        state = self.script.states[name]
        for action in state.on_enter:
            self._do(app, action, None)
        if state.final:
            st.ended = True
            st.outcome = st.outcome or name
            if self.trace is not None:
                self.trace(f"[scenario] t={t:9.3f}  ended: {st.outcome}")
            app.send(ScenarioEnded(st.outcome))

    def _do(self, app: App, action: Action, event: Event | None) -> None:
        kind, args = action.kind, action.args
        if kind == "set":
            lookup = self._lookup(app, event)
            for var, expr in args.items():
                self.state.vars[var] = expr.evaluate(lookup)
        elif kind == "instruction":
            app.send(InstructionShown(args["value"]))
        elif kind == "prompt":
            app.send(PromptPlayed(args["value"]))
        elif kind == "end":
            self.state.outcome = args["value"]
        elif kind == "spawn":
            self.entities[args["name"]] = app.spawn(*args["spec"].build())
        elif kind == "despawn":
            entity = self.entities.pop(args["name"], None)
            if entity is not None:
                app.despawn(entity)
        elif kind == "physiology":
            name = args["entity"]
            setters = scenario_bindings(app).setters
            comps = app.components_of(self._entity(name))
            for key, value in args["values"].items():
                for comp in comps:
                    if key in getattr(type(comp), "SCENARIO_SETTABLE", ()) and type(comp) in setters:
                        setters[type(comp)](app, name, key, value)
                        break
                else:
                    raise ScenarioError(
                        f"cannot set {key!r} on entity {name!r}: no component binds it "
                        f"(is the plugin providing it enabled?)"
                    )

    def _entity(self, name: str) -> int:
        try:
            return self.entities[name]
        except KeyError:
            raise ScenarioError(f"the script refers to entity {name!r}, which does not exist now") from None

    def _lookup(self, app: App, event: Event | None) -> Callable[[str], Any]:
        st = self.state

        def lookup(name: str) -> Any:
            if name == "time":
                return app.clock.time
            if name == "state_time":
                return app.clock.time - st.entered_at
            head, _, rest = name.partition(".")
            if head == "vars":
                return st.vars[rest]
            if head == "count":
                return st.counts.get(rest, 0)
            if head == "event":
                return getattr(event, rest)
            return self._entity_value(app, head, rest)

        return lookup

    def _entity_value(self, app: App, name: str, var: str) -> Any:
        getter = self._resolved.get((name, var))
        if getter is None:
            entity = self._entity(name)
            getters = scenario_bindings(app).getters
            for comp in app.components_of(entity):
                ctype = type(comp)
                declared = getattr(ctype, "SCENARIO_VARS", None)
                if declared is not None and var in declared:
                    if ctype not in getters:
                        raise ConfigError(f"{ctype.__name__} declares scenario variables but no plugin binds them")
                    bound = getters[ctype]
                    getter = (lambda b: lambda a: b(a, name, var))(bound)
                    break
                if declared is None and hasattr(comp, var):
                    getter = (lambda c: lambda a: getattr(c, var))(comp)
                    break
            else:
                raise ScenarioError(f"entity {name!r} has no variable {var!r}")
            self._resolved[(name, var)] = getter
        return getter(app)


__all__ = ["ScenarioBindings", "ScenarioError", "ScenarioPlugin", "ScenarioState", "scenario_bindings"]
