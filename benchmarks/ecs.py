"""ECS scheduling overhead: 1,000 entities and 20 systems on the default stage rates.

Measures what the engine itself costs per frame, not what systems do: 20 systems that
touch nothing (pure overhead: stage accumulators, ordering, timing, event buffers,
command flush), then the same 20 systems each running one esper query over the 1,000
entities (the cheapest realistic system). JIT plays no part; a warm-up of 100 frames is
excluded, as Warp's asv suites exclude compilation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vrmed import App, vec3
from vrmed.settings import SimSettings


@dataclass
class _Pose:
    position: np.ndarray = vec3()


@dataclass
class _Tag:
    group: int = 0
    values: list = field(default_factory=list)


STAGE_PLAN = [
    "input",
    "control",
    "physics",
    "physics",
    "physics",
    "logic",
    "logic",
    "logic",
    "record",
    "render",
] * 2  # 20 systems; physics ones run physics_ticks_per_frame times per frame (10 by default)


def _make_app(query: bool) -> App:
    app = App(seed=0)
    for i in range(1000):
        app.spawn(_Pose(), _Tag(i % 7))

    def make_system(k: int):
        if query:

            def system(app: App) -> None:
                for _ in app.query(_Pose, _Tag):
                    pass
        else:

            def system(app: App) -> None:
                return None

        system.__qualname__ = f"bench.system{k}"
        return system

    for k, stage in enumerate(STAGE_PLAN):
        app.add_system(make_system(k), stage=stage, name=f"bench.s{k}")
    return app


def _measure(app: App, frames: int) -> tuple[float, float]:
    app.step(100)  # warm-up
    samples = np.empty(frames)
    for i in range(frames):
        t0 = time.perf_counter_ns()
        app.step(1)
        samples[i] = (time.perf_counter_ns() - t0) / 1e6
    return float(np.mean(samples)), float(np.percentile(samples, 99))


def run(options: dict[str, Any]) -> dict[str, Any]:
    """Per-frame cost of scheduling 20 systems over 1,000 entities (ms)."""
    frames = 300 if options.get("quick") else 3000
    sim = SimSettings()  # the default rates, which App() runs at
    rows = []
    for label, query in (("20 empty systems", False), ("20 systems, 1 query each", True)):
        app = _make_app(query)
        try:
            app.startup()
            frame_dt = app.resource(SimSettings).frame_dt
            calls = sum(
                len(st.systems) * (1 if st.rate is None else float(st.rate * frame_dt))
                for st in app.schedule.stages.values()
            )
            mean, p99 = _measure(app, frames)
        finally:
            app.close()
        rows.append(
            {
                "case": label,
                "entities": 1000,
                "systems": 20,
                "calls_per_frame": round(calls),
                "frames": frames,
                "mean_ms_per_frame": mean,
                "p99_ms_per_frame": p99,
                "target_ms": 0.5,
            }
        )
    return {
        "suite": "ecs",
        "rows": rows,
        "notes": [
            f"stage rates: physics {float(sim.physics_rate or 0):g} Hz ({float(sim.physics_ticks_per_frame):g} ticks "
            f"per {float(sim.display_rate):g} Hz frame), logic {float(sim.logic_rate or 0):g} Hz, others per frame",
            "target: scheduling overhead (empty systems) under 0.5 ms per frame",
        ],
    }
