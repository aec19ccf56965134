"""The App: one esper world, its resources, events, plugins and schedule.

esper 3 keeps world state in module globals switched by name; the App hides that. Each
App owns a uniquely named esper world and switches to it whenever it touches esper, so
two Apps in one process never see each other's entities.
"""

from __future__ import annotations

import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Mapping
from fractions import Fraction
from typing import Any, Protocol, TypeVar, overload, runtime_checkable

import esper

from .clock import Rng, SimClock
from .errors import ConfigError
from .events import E, Event, EventReader, Events, type_identity
from .schedule import STAGES, Schedule, SystemSpec, place_system
from .settings import RateLike, SimSettings
from .state import component_state, digest
from .timing import SystemTimer

T = TypeVar("T")
C1 = TypeVar("C1")
C2 = TypeVar("C2")


@runtime_checkable
class Plugin(Protocol):
    """Adds systems, components, resources and events to an App (Bevy's ``Plugin``).

    ``build(app)`` runs when the plugin is added. A plugin whose resources become ready
    later (an XR session, a GL context) may also define ``ready(app) -> bool``, polled
    before the first frame, and ``finish(app)``, called once every plugin is ready. A
    plugin class may list ordering sets of its own as ``ordering_sets = {"name": "stage"}``:
    they are declared before ``build`` runs (and the pack loader knows them too).
    """

    def build(self, app: App) -> None:
        """Register what the plugin provides."""


def _drop_world(name: str) -> None:
    if esper.current_world == name:
        esper.switch_world("default")
    if name in esper.list_worlds():
        esper.delete_world(name)


class Commands:
    """Structural changes (spawn, despawn, add/remove component) deferred to a stage boundary.

    Applying them between stages keeps esper's query caches valid while systems iterate.
    """

    def __init__(self, app: App) -> None:
        self._app = app
        self._ops: list[tuple[str, int, Any]] = []

    def spawn(self, *components: Any) -> int:
        """Reserve an entity id now; its components appear at the next stage boundary."""
        self._app._activate()
        entity = esper.create_entity()
        for c in components:
            self._ops.append(("add", entity, c))
        return entity

    def despawn(self, entity: int) -> None:
        """Delete an entity and its components at the next stage boundary."""
        self._ops.append(("despawn", entity, None))

    def add_component(self, entity: int, component: Any) -> None:
        """Add (or replace) a component at the next stage boundary."""
        self._ops.append(("add", entity, component))

    def remove_component(self, entity: int, component_type: type) -> None:
        """Remove a component at the next stage boundary."""
        self._ops.append(("remove", entity, component_type))

    def __len__(self) -> int:
        return len(self._ops)

    def apply(self) -> None:
        """Apply queued changes in the order they were made."""
        if not self._ops:
            return
        self._app._activate()
        ops, self._ops = self._ops, []
        for op, entity, payload in ops:
            if op == "add":
                if entity in esper._entities:  # reserved by spawn() even while still empty
                    esper.add_component(entity, payload)
            elif op == "remove":
                if esper.entity_exists(entity):
                    esper.try_remove_component(entity, payload)
            elif op == "despawn":
                if entity in esper._entities:
                    esper.delete_entity(entity)
        esper.clear_dead_entities()


class App:
    """A vrmed application: world, resources, events, plugins and a fixed-rate schedule.

    >>> app = App(seed=1)
    >>> app.add_system(lambda app: None, stage="logic", name="noop")  # doctest: +ELLIPSIS
    <vrmed.app.App ...>
    >>> _ = app.run(frames=3); app.clock.frame
    3

    Rates come from one :class:`~vrmed.settings.SimSettings` (``settings``, default
    :class:`SimSettings()`), with ``display_rate`` and ``rates`` (keys as in a scenario's
    ``rates:``: stage names, ``display``, ``substeps``) laid over it; the result is the
    ``SimSettings`` resource every system reads.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        settings: SimSettings | None = None,
        display_rate: RateLike | None = None,
        rates: Mapping[str, RateLike | None] | None = None,
    ) -> None:
        overrides: dict[str, Any] = dict(rates or {})
        if display_rate is not None:
            overrides["display"] = display_rate
        sim = (settings or SimSettings()).with_overrides(overrides)
        self._world = f"vrmed-{uuid.uuid4().hex}"
        self._finalizer = weakref.finalize(self, _drop_world, self._world)
        self._activate()
        self.schedule = Schedule(sim)
        self.clock = SimClock()
        self.commands = Commands(self)
        self.events = Events(lambda: (self.clock.time, self.clock.frame))
        self._resources: dict[type, Any] = {}
        self._plugins: list[Any] = []
        self._components: dict[str, type] = {}
        self._timers: dict[str, SystemTimer] = {}
        self._frame_timer = SystemTimer()
        self._started = False
        self._in_frame = False
        self._stage_time: dict[str, Fraction] = {s: Fraction(0) for s in STAGES}
        self.seed = int(seed)
        self._resources[SimSettings] = sim  # directly: insert_resource refuses to replace it
        self.insert_resource(self.clock)
        self.insert_resource(Rng(self.seed))

    # -- world context ------------------------------------------------------------
    def _activate(self) -> None:
        if esper.current_world != self._world:
            esper.switch_world(self._world)

    @property
    def world_name(self) -> str:
        """The esper world this App owns."""
        return self._world

    def close(self) -> None:
        """Delete this App's world; the App must not be used afterwards."""
        for plugin in reversed(self._plugins):
            cleanup = getattr(plugin, "cleanup", None)
            if callable(cleanup):
                cleanup(self)
        self._finalizer()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plugins, systems, components ------------------------------------------------
    def add_plugin(self, plugin: Any) -> App:
        """Add a plugin and run its ``build(app)`` now."""
        if not callable(getattr(plugin, "build", None)):
            raise ConfigError(f"{plugin!r} is not a plugin: it has no build(app) method")
        if self._started:
            raise ConfigError("plugins must be added before the App's first frame")
        self._plugins.append(plugin)
        for set_name, stage in dict(getattr(plugin, "ordering_sets", None) or {}).items():
            self.declare_set(set_name, stage=stage)
        plugin.build(self)
        return self

    def declare_set(self, name: str, *, stage: str) -> App:
        """Declare an ordering set of one stage for a plugin's own systems (``in_set=name``)
        that others may order against (``after=name``). Public sets need no declaring; a set
        that is neither public nor declared is an error, so a typo never runs silently."""
        self.schedule.declare_set(name, stage)
        return self

    def has_plugin(self, plugin_type: type) -> bool:
        """Whether a plugin of this type was added."""
        return any(isinstance(p, plugin_type) for p in self._plugins)

    def add_system(
        self,
        func: Callable[[App], None],
        *,
        stage: str | None = None,
        name: str | None = None,
        in_set: str | Iterable[str] | None = None,
        after: str | Iterable[str] = (),
        before: str | Iterable[str] = (),
        priority: int = 0,
    ) -> App:
        """Register ``func(app)`` to run on a stage.

        ``stage`` may be omitted when ``in_set`` names an ordering set (which fixes the stage).
        ``in_set`` must be a public set or one declared with :meth:`declare_set`; anything
        else is a :class:`~vrmed.schedule.ScheduleError` listing the known sets (with a
        close match). ``after``/``before`` name stages, sets or other systems' names and are
        checked when the order is resolved (before the first frame). Lower ``priority`` runs
        first among otherwise unordered systems; ties keep registration order.
        """
        if not callable(func):
            raise ConfigError(f"system {name!r} is not callable")
        name = name or str(getattr(func, "__qualname__", None) or repr(func))
        stage, sets = place_system(stage, in_set, self.schedule.sets, name)
        as_tuple = lambda v: (v,) if isinstance(v, str) else tuple(v)  # noqa: E731
        self.schedule.add(SystemSpec(func, name, stage, sets, as_tuple(after), as_tuple(before), priority))
        self._timers[name] = SystemTimer()
        return self

    def register_component(self, component_type: type, name: str | None = None) -> App:
        """Make a component type known by name (for content packs and tooling)."""
        key = name or component_type.__name__
        known = self._components.get(key)
        if known is not None and known is not component_type:
            raise ConfigError(
                f"two different component types are registered as {key!r}: "
                f"{known.__module__}.{known.__qualname__} and "
                f"{component_type.__module__}.{component_type.__qualname__}"
            )
        self._components[key] = component_type
        return self

    @property
    def component_types(self) -> dict[str, type]:
        """Registered component types by name."""
        return dict(self._components)

    # -- resources ----------------------------------------------------------------
    def insert_resource(self, resource: Any, resource_type: type | None = None) -> App:
        """Store a singleton, keyed by its type (or ``resource_type``)."""
        key = resource_type or type(resource)
        if key is SimSettings and resource != self._resources.get(SimSettings):
            raise ConfigError(
                "SimSettings is fixed when the App is made (the schedule runs at its rates); "
                "pass App(settings=...) or state the rates in the scenario's `rates:`"
            )
        self._resources[key] = resource
        return self

    def resource(self, resource_type: type[T]) -> T:
        """The resource of this type; a clear error if no plugin inserted one."""
        try:
            return self._resources[resource_type]
        except KeyError:
            raise ConfigError(
                f"no {resource_type.__name__} resource in this App; add the plugin that "
                f"provides it or call app.insert_resource(...)"
            ) from None

    def try_resource(self, resource_type: type[T]) -> T | None:
        """The resource of this type, or None."""
        return self._resources.get(resource_type)

    def has_resource(self, resource_type: type) -> bool:
        """Whether a resource of this type exists."""
        return resource_type in self._resources

    # -- events -------------------------------------------------------------------
    def send(self, event: Event) -> None:
        """Send an event (see :class:`vrmed.events.Events`)."""
        self.events.send(event)

    def read_events(self, event_type: type[E]) -> list[E]:
        """Events of a type sent this frame or the last."""
        return self.events.read(event_type)

    def event_reader(self, event_type: type[E]) -> EventReader[E]:
        """A reader that yields each event of a type once."""
        return self.events.reader(event_type)

    # -- entities -----------------------------------------------------------------
    def spawn(self, *components: Any) -> int:
        """Create an entity: immediately between frames, at the next stage boundary inside one."""
        if self._in_frame:
            return self.commands.spawn(*components)
        self._activate()
        return esper.create_entity(*components)

    def despawn(self, entity: int) -> None:
        """Delete an entity (deferred to the stage boundary inside a frame)."""
        if self._in_frame:
            self.commands.despawn(entity)
            return
        self._activate()
        esper.delete_entity(entity, immediate=True)

    @overload
    def query(self, c1: type[C1], /) -> list[tuple[int, C1]]: ...
    @overload
    def query(self, c1: type[C1], c2: type[C2], /, *more: type) -> list[tuple[int, tuple[Any, ...]]]: ...

    def query(self, *component_types: type) -> list[tuple[int, Any]]:
        """Entities having all the given components: ``(entity, comp)`` for one type,
        ``(entity, (comp1, comp2, ...))`` for several (esper's ``get_component(s)``)."""
        self._activate()
        if len(component_types) == 1:
            return esper.get_component(component_types[0])
        return esper.get_components(*component_types)

    def get(self, entity: int, component_type: type[T]) -> T:
        """One component of an entity (KeyError if absent)."""
        self._activate()
        return esper.component_for_entity(entity, component_type)

    def try_get(self, entity: int, component_type: type[T]) -> T | None:
        """One component of an entity, or None."""
        self._activate()
        return esper.try_component(entity, component_type)

    def entities(self) -> list[int]:
        """All live entity ids, ascending."""
        self._activate()
        return sorted(e for e, comps in esper._entities.items() if e not in esper._dead_entities)

    def components_of(self, entity: int) -> tuple[Any, ...]:
        """All components of an entity."""
        self._activate()
        return esper.components_for_entity(entity)

    # -- running -------------------------------------------------------------------
    def startup(self) -> None:
        """Wait for plugins to be ready, call their ``finish``, resolve system order.

        Called automatically by the first :meth:`step`.
        """
        if self._started:
            return
        pending = [p for p in self._plugins if callable(getattr(p, "ready", None))]
        for plugin in pending:
            if not plugin.ready(self):
                raise ConfigError(
                    f"plugin {type(plugin).__name__} is not ready; it must become ready before the first frame"
                )
        for plugin in self._plugins:
            finish = getattr(plugin, "finish", None)
            if callable(finish):
                finish(self)
        self.schedule.resolve()
        self._started = True

    def step(self, frames: int = 1) -> None:
        """Run ``frames`` display frames."""
        self.startup()
        for _ in range(frames):
            self._run_frame()

    def _run_frame(self) -> None:
        self._activate()
        start = time.perf_counter_ns()
        clock, schedule = self.clock, self.schedule
        self._in_frame = True
        try:
            for name in STAGES:
                stage = schedule.stages[name]
                n = schedule.ticks_for_frame(stage)
                step = stage.step if stage.step is not None else schedule.frame_dt
                clock.stage = name
                clock.exact_dt = step
                systems = stage.systems
                for _ in range(n):
                    clock.exact_time = self._stage_time[name]
                    clock.tick = stage.ticks
                    for spec in systems:
                        t0 = time.perf_counter_ns()
                        spec.func(self)
                        self._timers[spec.name].add(time.perf_counter_ns() - t0)
                    self._stage_time[name] += step
                    stage.ticks += 1
                    if self.commands._ops:
                        self.commands.apply()
        finally:
            self._in_frame = False
        clock.frame += 1
        clock.frame_time += schedule.frame_dt
        clock.stage = ""
        self.events.end_frame()
        self._frame_timer.add(time.perf_counter_ns() - start)

    def run(
        self, *, frames: int | None = None, seconds: float | None = None, progress: Callable[[int], None] | None = None
    ) -> int:
        """Run a number of frames, or enough frames to cover ``seconds`` of simulation time.

        ``progress(n)`` is called after each frame with the number done. Returns frames run.
        """
        if (frames is None) == (seconds is None):
            raise ConfigError("give exactly one of frames or seconds")
        if seconds is not None:
            if seconds <= 0:
                raise ConfigError(f"seconds must be positive, got {seconds}")
            frames = max(1, round(Fraction(str(seconds)) * self.schedule.settings.display_rate))
        assert frames is not None
        if frames < 0:
            raise ConfigError(f"frames must be zero or more, got {frames}")
        self.startup()
        for i in range(frames):
            self._run_frame()
            if progress is not None:
                progress(i + 1)
        return frames

    # -- introspection ------------------------------------------------------------
    def timings(self) -> dict[str, dict[str, float]]:
        """Per-system wall-clock timing: calls, mean and p99 in ms (plus ``frame`` overall)."""
        out = {name: timer.stats() for name, timer in self._timers.items()}
        out["frame"] = self._frame_timer.stats()
        return out

    def system_order(self) -> dict[str, list[str]]:
        """The resolved order of systems in each stage."""
        self.schedule.resolve()
        return {name: [s.name for s in st.systems] for name, st in self.schedule.stages.items()}

    def snapshot(self) -> dict[int, dict[str, dict[str, Any]]]:
        """A copy of every entity's comparable component state (see :mod:`vrmed.state`)."""
        self._activate()
        snap: dict[int, dict[str, dict[str, Any]]] = {}
        for entity in self.entities():
            comps: dict[str, dict[str, Any]] = {}
            comp: Any
            for comp in esper.components_for_entity(entity):
                state = component_state(comp)
                if state is not None:
                    comps[type_identity(type(comp), ".")] = state  # the same wherever a pack is installed
            snap[entity] = comps
        return snap

    def state_digest(self) -> str:
        """SHA-256 over :meth:`snapshot`."""
        return digest(self.snapshot())
