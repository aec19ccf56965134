"""Stages, ordering sets and the fixed-rate accumulator schedule.

A frame runs the stages in a fixed order: input -> control -> physics -> logic -> record
-> render. Each stage has its own fixed rate: per display frame (``None``), or a rate in
Hz run with an accumulator, so a 1 kHz physics stage runs 11 or 12 times in a 1/90 s
frame, exactly as many times as whole physics steps fit into the time elapsed so far.
Time is kept as exact fractions: 90 frames at 90 Hz advance a 1 kHz stage exactly 1000
ticks, on every machine.

Inside a stage, systems are ordered by public *sets* (``physics.collision`` before
``physics.solve`` ...) and by ``after``/``before`` constraints that may name a set, a
stage or a system. Packs order themselves against sets, never against another pack's
class names (the flecs/Bevy lesson in ARCHITECTURE.md).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fractions import Fraction

from .errors import ConfigError

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

#: Default stage rates in Hz; ``None`` means once per display frame. Physics at 900 Hz
#: gives the 10 substeps per 1/90 s frame that "Small Steps" (Macklin et al. 2019) and our
#: tissue benchmarks use; logic at 60 Hz is the simulation rate scenarios are written for.
DEFAULT_RATES: dict[str, float | None] = {
    "input": None,
    "control": None,
    "physics": 900.0,
    "logic": 60.0,
    "record": None,
    "render": None,
}

#: Default display rate in Hz (a 90 Hz headset: 11.1 ms per frame).
DEFAULT_DISPLAY_RATE = 90.0

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
    "render.prepare": "render",
    "render.draw": "render",
    "render.overlay": "render",
}


def to_fraction(value: float | int | Fraction, what: str) -> Fraction:
    """Convert a rate or duration to an exact fraction, rejecting non-positive values."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Fraction)):
        raise ConfigError(f"{what} must be a number, got {value!r}")
    frac = value if isinstance(value, Fraction) else Fraction(str(value))
    if frac <= 0 or not math.isfinite(float(frac)):
        raise ConfigError(f"{what} must be a positive finite number, got {value!r}")
    return frac


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

    def __init__(
        self, display_rate: float = DEFAULT_DISPLAY_RATE, rates: dict[str, float | None] | None = None
    ) -> None:
        self.display_rate = to_fraction(display_rate, "display rate")
        self.frame_dt = 1 / self.display_rate
        merged = dict(DEFAULT_RATES)
        for stage, rate in (rates or {}).items():
            if stage not in STAGES:
                raise ConfigError(f"unknown stage {stage!r} in rates; stages are {', '.join(STAGES)}")
            merged[stage] = rate
        self.stages: dict[str, StageState] = {
            name: StageState(name, None if merged[name] is None else to_fraction(merged[name], f"{name} rate"))
            for name in STAGES
        }
        self._specs: list[SystemSpec] = []
        self._dirty = True

    # -- registration -------------------------------------------------------------
    def add(self, spec: SystemSpec) -> None:
        """Register a system (validated); ordering is resolved lazily before the next frame."""
        if any(s.name == spec.name for s in self._specs):
            raise ConfigError(f"a system named {spec.name!r} is already registered; give it another name")
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
        for stage in self.stages.values():
            stage.systems = _order_stage(stage.name, [s for s in self._specs if s.stage == stage.name])
        self._dirty = False


def _order_stage(stage: str, specs: list[SystemSpec]) -> list[SystemSpec]:
    """Topologically sort one stage's systems (Kahn's algorithm, stable tie-break)."""
    by_name = {s.name: s for s in specs}
    members: dict[str, list[SystemSpec]] = {}
    for s in specs:
        for st in s.sets:
            members.setdefault(st, []).append(s)
    stage_index = STAGES.index(stage)
    edges: dict[str, set[str]] = {s.name: set() for s in specs}

    def targets(ref: str, owner: SystemSpec, relation: str) -> Iterable[SystemSpec]:
        # A stage, or a public set of another stage: satisfied by stage order, or impossible.
        other_stage = ref if ref in STAGES else PUBLIC_SETS.get(ref)
        if other_stage is not None and (ref in STAGES or other_stage != stage):
            other = STAGES.index(other_stage)
            if not (other < stage_index if relation == "after" else other > stage_index):
                what = f"stage {ref!r}" if ref in STAGES else f"set {ref!r} (stage {other_stage!r})"
                raise ConfigError(
                    f"system {owner.name!r} is in stage {stage!r} but asks to run {relation} {what}; "
                    f"register it in a stage that runs {relation} {other_stage!r}"
                )
            return ()
        if ref in members:
            return [m for m in members[ref] if m is not owner]
        if ref in by_name:
            return [by_name[ref]]
        if ref in PUBLIC_SETS:
            return ()  # an empty public set: nothing to order against
        raise ConfigError(
            f"system {owner.name!r} asks to run {relation} {ref!r}, which is not a "
            f"stage, a public set or a system in stage {stage!r}"
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
        raise ConfigError(
            f"ordering cycle in stage {stage!r} among systems: {', '.join(stuck)}; "
            f"remove one of their after/before constraints"
        )
    return ordered
