"""Stages, ordering sets and the fixed-rate accumulator schedule.

A frame runs the stages in a fixed order: input -> control -> physics -> logic -> record
-> render. Each stage has its own fixed rate: per display frame (``None``), or a rate in
Hz run with an accumulator, so a 1 kHz physics stage runs 11 or 12 times in a 1/90 s
frame, exactly as many times as whole physics steps fit into the time elapsed so far.
Time is kept as exact fractions: 90 frames at 90 Hz advance a 1 kHz stage exactly 1000
ticks, on every machine.

The rates themselves live in :class:`vrmed.settings.SimSettings` (one home for the display,
physics and logic rates and the substeps); a :class:`Schedule` is built from one.

Inside a stage, systems are ordered by public *sets* (``physics.collision`` before
``physics.solve`` ...) and by ``after``/``before`` constraints that may name a set, a
stage or a system. Packs order themselves against sets, never against another pack's
class names (the flecs/Bevy lesson in ARCHITECTURE.md). A plugin may declare sets of its
own (:meth:`Schedule.declare_set`); a set that is neither public nor declared is an error
naming the known sets, so a typo such as ``physics.slove`` never runs in the wrong place.
"""

from __future__ import annotations

import difflib
import heapq
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from .errors import ConfigError

if TYPE_CHECKING:  # settings imports STAGES from here; the schedule only reads its fields
    from .settings import SimSettings

#: The stages of a frame, in the order they run.
STAGES: tuple[str, ...] = ("input", "control", "physics", "logic", "record", "render")

#: What each stage is for (shown by ``vrmed`` tooling and the docs).
STAGE_MEANINGS: dict[str, str] = {
    "input": "sample devices (OpenXR, haptic, desktop, scripted, replay) into InputState",
    "control": "instrument kinematics, trocar pivots, anything driven directly by input",
    "physics": "collision, tissue solve, rigid bodies, contact forces; runs in substeps",
    "logic": "scenario scripts, physiology, scoring, feedback at the simulation rate",
    "record": "session log, learning records",
    "render": "draw the frame (headless, window or headset) at the display rate",
}

#: Public ordering sets: name -> stage. Within a stage, sets run in the order listed.
PUBLIC_SETS: dict[str, str] = {
    "input.devices": "input",
    "input.mapping": "input",
    "control.instruments": "control",
    "control.constraints": "control",
    "physics.collision": "physics",
    "physics.solve": "physics",
    "physics.rigid": "physics",
    "physics.forces": "physics",
    "logic.scenario": "logic",
    "logic.physiology": "logic",
    "logic.interaction": "logic",
    "logic.scoring": "logic",
    "record.log": "record",
    # The render sets follow the render pipeline (docs/rendering.md): prepare fills the
    # DrawList and overlay state; draw runs the main view's scene passes; overlay is for
    # systems that change overlay state late (they still show this frame); present runs
    # the overlay passes, then PNG capture and the window (headset eyes run every pass in
    # xr.present, after render.overlay).
    "render.prepare": "render",
    "render.draw": "render",
    "render.overlay": "render",
    "render.present": "render",
}


class ScheduleError(ConfigError):
    """A system's placement or ordering is wrong; ``system`` names it (None: not one system's
    fault, e.g. a cycle), ``detail`` is the message without the system's name."""

    def __init__(self, message: str, *, system: str | None = None, detail: str | None = None) -> None:
        self.system = system
        self.detail = detail or message
        super().__init__(message)


def _suggest(name: str, candidates: Iterable[str]) -> str:
    """``"did you mean 'x'? "`` for the closest candidate, or an empty string."""
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f"did you mean {close[0]!r}? " if close else ""


def unknown_set_message(name: str, sets: Mapping[str, str]) -> str:
    """The error for an ordering set that is neither public nor declared."""
    return (
        f"unknown ordering set {name!r}; {_suggest(name, sets)}known sets: {', '.join(sets)} "
        f"(a plugin declares a set of its own with app.declare_set(name, stage=...))"
    )


def place_system(
    stage: str | None, in_set: str | Iterable[str] | None, sets: Mapping[str, str], who: str
) -> tuple[str, tuple[str, ...]]:
    """Check a system's ``stage`` and ``in_set`` against the stages and the known ``sets``
    (name -> stage); return its stage (taken from the set when not given) and its sets.

    Raises :class:`ScheduleError` naming ``who`` for an unknown stage or set, a set of
    another stage, or neither a stage nor a set.
    """
    names = (in_set,) if isinstance(in_set, str) else tuple(in_set or ())
    if stage is not None and stage not in STAGES:
        detail = f"unknown stage {stage!r}; {_suggest(stage, STAGES)}stages are {', '.join(STAGES)}"
        raise ScheduleError(f"system {who!r}: {detail}", system=who, detail=detail)
    for s in names:
        if s not in sets:
            detail = unknown_set_message(s, sets)
            raise ScheduleError(f"system {who!r}: {detail}", system=who, detail=detail)
        if stage is None:
            stage = sets[s]
        elif sets[s] != stage:
            detail = f"set {s!r} belongs to stage {sets[s]!r}, not {stage!r}"
            raise ScheduleError(f"system {who!r}: {detail}", system=who, detail=detail)
    if stage is None:
        detail = f"give a stage ({', '.join(STAGES)}) or an ordering set"
        raise ScheduleError(f"system {who!r}: {detail}", system=who, detail=detail)
    return stage, names


@dataclass
class SystemSpec:
    """A system registered on the schedule."""

    func: Callable
    name: str
    stage: str
    sets: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    before: tuple[str, ...] = ()
    priority: int = 0
    order: int = 0


@dataclass
class StageState:
    """Rate and accumulator of one stage."""

    name: str
    rate: Fraction | None
    accumulator: Fraction = Fraction(0)
    ticks: int = 0
    systems: list[SystemSpec] = field(default_factory=list)

    @property
    def step(self) -> Fraction | None:
        """The fixed step in seconds, or None for once per frame."""
        return None if self.rate is None else 1 / self.rate


class Schedule:
    """Holds the stages and their systems, and decides how often each stage runs."""

    def __init__(self, settings: SimSettings) -> None:
        self.settings = settings
        self.display_rate: Fraction = settings.display_rate
        self.frame_dt: Fraction = settings.frame_dt
        self.stages: dict[str, StageState] = {name: StageState(name, settings.stage_rate(name)) for name in STAGES}
        self._declared: dict[str, str] = {}
        self._specs: list[SystemSpec] = []
        self._dirty = True

    # -- registration -------------------------------------------------------------
    def declare_set(self, name: str, stage: str) -> None:
        """Declare an ordering set of one stage (a plugin's own group of systems); systems
        join it with ``in_set=name`` and others order against it with ``after``/``before``.
        Declaring the same set on the same stage again does nothing."""
        if not isinstance(name, str) or not name:
            raise ConfigError(f"an ordering set needs a non-empty name, got {name!r}")
        if stage not in STAGES:
            raise ConfigError(
                f"set {name!r}: unknown stage {stage!r}; {_suggest(stage, STAGES)}stages are {', '.join(STAGES)}"
            )
        if name in STAGES:
            raise ConfigError(f"set {name!r} has the name of a stage; choose another name")
        if name in PUBLIC_SETS:
            raise ConfigError(f"{name!r} is a public set (stage {PUBLIC_SETS[name]!r}); use it without declaring it")
        known = self._declared.get(name)
        if known is not None and known != stage:
            raise ConfigError(f"set {name!r} is already declared in stage {known!r}, not {stage!r}")
        self._declared[name] = stage
        self._dirty = True

    @property
    def sets(self) -> dict[str, str]:
        """Every known ordering set (public, then declared) -> its stage."""
        return {**PUBLIC_SETS, **self._declared}

    def add(self, spec: SystemSpec) -> None:
        """Register a system (validated); ordering is resolved lazily before the next frame."""
        if any(s.name == spec.name for s in self._specs):
            raise ScheduleError(
                f"a system named {spec.name!r} is already registered; give it another name", system=spec.name
            )
        _, sets = place_system(spec.stage, spec.sets, self.sets, spec.name)
        spec.sets = sets
        spec.order = len(self._specs)
        self._specs.append(spec)
        self._dirty = True

    @property
    def systems(self) -> list[SystemSpec]:
        """All registered systems in registration order."""
        return list(self._specs)

    def ticks_for_frame(self, stage: StageState) -> int:
        """Advance the stage's accumulator by one frame and return how many ticks to run."""
        if stage.rate is None:
            return 1
        stage.accumulator += self.frame_dt
        n = math.floor(stage.accumulator * stage.rate)
        stage.accumulator -= n / stage.rate
        return n

    # -- ordering -------------------------------------------------------------------
    def resolve(self) -> None:
        """Sort each stage's systems by sets, constraints, priority and registration order."""
        if not self._dirty:
            return
        sets = self.sets
        for stage in self.stages.values():
            stage.systems = _order_stage(stage.name, [s for s in self._specs if s.stage == stage.name], sets)
        self._dirty = False


def _order_stage(stage: str, specs: list[SystemSpec], sets: Mapping[str, str]) -> list[SystemSpec]:
    """Topologically sort one stage's systems (Kahn's algorithm, stable tie-break); ``sets``
    maps every known ordering set to its stage."""
    by_name = {s.name: s for s in specs}
    members: dict[str, list[SystemSpec]] = {}
    for s in specs:
        for st in s.sets:
            members.setdefault(st, []).append(s)
    stage_index = STAGES.index(stage)
    edges: dict[str, set[str]] = {s.name: set() for s in specs}

    def targets(ref: str, owner: SystemSpec, relation: str) -> Iterable[SystemSpec]:
        # A stage, or a set of another stage: satisfied by stage order, or impossible.
        other_stage = ref if ref in STAGES else sets.get(ref)
        if other_stage is not None and (ref in STAGES or other_stage != stage):
            other = STAGES.index(other_stage)
            if not (other < stage_index if relation == "after" else other > stage_index):
                what = f"stage {ref!r}" if ref in STAGES else f"set {ref!r} (stage {other_stage!r})"
                raise ScheduleError(
                    f"system {owner.name!r} is in stage {stage!r} but asks to run {relation} {what}; "
                    f"register it in a stage that runs {relation} {other_stage!r}",
                    system=owner.name,
                )
            return ()
        if ref in members:
            return [m for m in members[ref] if m is not owner]
        if ref in by_name:
            return [by_name[ref]]
        if ref in sets:
            return ()  # an empty set: nothing to order against
        raise ScheduleError(
            f"system {owner.name!r} asks to run {relation} {ref!r}, which is not a stage, an ordering set "
            f"or a system in stage {stage!r}; {_suggest(ref, [*sets, *STAGES, *by_name])}"
            f"known sets: {', '.join(sets)}",
            system=owner.name,
        )

    for s in specs:
        for ref in s.after:
            for t in targets(ref, s, "after"):
                edges[t.name].add(s.name)
        for ref in s.before:
            for t in targets(ref, s, "before"):
                edges[s.name].add(t.name)
    # Public sets of a stage are chained in their declared order.
    chain = [name for name, st in PUBLIC_SETS.items() if st == stage and name in members]
    for first, second in zip(chain, chain[1:]):
        for a in members[first]:
            for b in members[second]:
                if a is not b and first not in b.sets:
                    edges[a.name].add(b.name)

    indegree = {name: 0 for name in edges}
    for dsts in edges.values():
        for d in dsts:
            indegree[d] += 1
    heap = [(by_name[n].priority, by_name[n].order, n) for n, k in indegree.items() if k == 0]
    heapq.heapify(heap)
    ordered: list[SystemSpec] = []
    while heap:
        _, _, name = heapq.heappop(heap)
        ordered.append(by_name[name])
        for d in sorted(edges[name]):
            indegree[d] -= 1
            if indegree[d] == 0:
                heapq.heappush(heap, (by_name[d].priority, by_name[d].order, d))
    if len(ordered) != len(specs):
        stuck = sorted(n for n, k in indegree.items() if k > 0)
        raise ScheduleError(
            f"ordering cycle in stage {stage!r} among systems: {', '.join(stuck)}; "
            f"remove one of their after/before constraints"
        )
    return ordered


def rerun_render_stage(app: Any, run: Callable[[SystemSpec], bool] | None = None) -> None:
    """Run the render stage's systems again (those ``run`` accepts, default all) without
    advancing the simulation, with the clock reading as it did in the last frame's render
    stage (stage, time and step restored after), so systems that follow the clock see no
    time pass: the redraw of a paused or ended session (:func:`vrmed.desktop.play.redraw`,
    :func:`vrmed.xr.play.redraw`). ``app`` is the :class:`~vrmed.app.App` (not imported:
    the App imports this module)."""
    clock = app.clock
    frame_dt = app.schedule.frame_dt
    saved = (clock.stage, clock.exact_time, clock.exact_dt)
    clock.stage, clock.exact_dt = "render", frame_dt
    clock.exact_time = max(clock.frame_time - frame_dt, Fraction(0))
    try:
        for spec in app.schedule.stages["render"].systems:
            if run is None or run(spec):
                spec.func(app)
    finally:
        clock.stage, clock.exact_time, clock.exact_dt = saved
