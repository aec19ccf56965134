"""Haptic servo loop: the distribution of intervals between force updates at 1 kHz.

The loop runs on its own thread with a simulated device while the main thread keeps a
simulation busy (the sandbox scene stepped as fast as it goes), which is the situation
that matters: Python's GIL is shared between the two.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from vrmed.haptics import HapticLoop, SimulatedHapticDevice
from vrmed.session import build_session, open_target


def _measure(seconds: float, busy: bool) -> dict[str, Any]:
    device = SimulatedHapticDevice(lambda t: np.array([0.0, 0.1 + 0.01 * np.sin(t), 0.0]))
    loop = HapticLoop(device)
    session = None
    if busy:
        pack, scen = open_target("sandbox")
        session = build_session(pack, scen, seed=0)
    loop.start()
    end = time.perf_counter() + seconds
    frames = 0
    while time.perf_counter() < end:
        if session is not None:
            session.app.step()
            loop.publish(session.app.clock.time, np.array([0.0, 0.1, 0.0]), np.array([0.0, 0.2, 0.0]))
            frames += 1
        else:
            time.sleep(0.01)
    loop.stop()
    if session is not None:
        session.close()
    s = loop.stats()
    return {
        "case": "with simulation busy" if busy else "idle main thread",
        "seconds": seconds,
        "updates": s.updates,
        "rate_hz": s.updates / seconds,
        "mean_ms": s.mean_ms,
        "p50_ms": s.p50_ms,
        "p99_ms": s.p99_ms,
        "max_ms": s.max_ms,
        "late_pct": 100 * s.late_fraction,
        "sim_frames": frames,
    }


def run(options: dict[str, Any]) -> dict[str, Any]:
    """Interval distribution of the 1 kHz loop, idle and beside a running simulation."""
    seconds = 0.5 if options.get("quick") else 3.0
    rows = [_measure(seconds, busy=False), _measure(seconds, busy=True)]
    return {
        "suite": "haptics",
        "rows": rows,
        "notes": [
            "target period 1.000 ms; late = interval above 1.5 ms",
            "simulated device; a real device adds its driver's own latency",
        ],
    }
