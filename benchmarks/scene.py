"""Whole-scene frame time of a content-pack scenario (default ``laparoscopy/peg_transfer``).

Runs the scenario headless with its scripted trainee exactly as ``vrmed run`` does (input,
control, physics and logic at the scenario's rates (by default 900 Hz and 60 Hz), the
session recorder; no renderer, so the render stage only holds systems that find nothing to
draw) and times every display frame with ``perf_counter_ns``. The first 90 frames (numba
compilation, first contacts) are excluded as warm-up. Reports p50 / p99 / max per frame and
the most expensive systems.

Options: ``scene`` (``PACK/SCENARIO``; ``vrmed bench`` passes none, so the default is
used), ``quick`` (900 measured frames instead of the whole scenario).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from vrmed.errors import VrmedError
from vrmed.session import build_session, open_target
from vrmed.settings import SimSettings

DEFAULT_SCENE = "laparoscopy/peg_transfer"
TARGET_MS = 5.5
WARMUP = 90


def run(options: dict[str, Any]) -> dict[str, Any]:
    """Per-frame cost (ms) of the whole simulation of one scene, render excluded."""
    targets = list(options.get("targets") or [])
    if len(targets) > 1:
        raise VrmedError(f"bench scene takes one PACK/SCENARIO, got {len(targets)}: {' '.join(targets)}")
    scene = str(targets[0] if targets else options.get("scene") or DEFAULT_SCENE)
    pack, scenario_name = open_target(scene)
    session = build_session(pack, scenario_name, seed=0)
    try:
        app = session.app
        sim = app.resource(SimSettings)
        if session.scenario.duration is None:
            raise VrmedError(f"bench scene needs a scenario with a duration; {scene} has none")
        total = int(round(session.scenario.duration * sim.display_rate))
        frames = min(total - WARMUP, 900) if options.get("quick") else total - WARMUP
        app.step(WARMUP)
        samples = np.empty(frames)
        for i in range(frames):
            t0 = time.perf_counter_ns()
            app.step(1)
            samples[i] = (time.perf_counter_ns() - t0) / 1e6
        timings = app.timings()
    finally:
        session.close()
    systems = sorted(
        ((n, s) for n, s in timings.items() if n != "frame"), key=lambda item: -item[1]["mean_ms"] * item[1]["calls"]
    )
    per_frame = {n: s["mean_ms"] * s["calls"] / (frames + WARMUP) for n, s in systems[:5]}
    row = {
        "scene": f"{pack.name}/{session.scenario.name}",
        "frames": frames,
        "p50_ms_per_frame": float(np.percentile(samples, 50)),
        "p99_ms_per_frame": float(np.percentile(samples, 99)),
        "max_ms_per_frame": float(samples.max()),
        "mean_ms_per_frame": float(samples.mean()),
        "target_ms": TARGET_MS,
    }

    def hz(rate: Any) -> str:
        return "per frame" if rate is None else f"{float(rate):g} Hz"

    notes = [
        f"whole frame = input + control + physics ({hz(sim.physics_rate)}, {float(sim.physics_ticks_per_frame):g} "
        f"ticks) + logic ({hz(sim.logic_rate)}) + record; no renderer; first {WARMUP} frames excluded",
        f"target: p99 under {TARGET_MS} ms per 1/{float(sim.display_rate):g} s frame",
        "costliest systems, mean ms per frame: " + ", ".join(f"{n} {v:.3f}" for n, v in per_frame.items()),
    ]
    return {"suite": "scene", "rows": [row], "notes": notes}
