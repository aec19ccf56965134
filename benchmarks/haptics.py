"""Haptic servo loop under load: the interval distribution at 1 kHz and 4 kHz while a
laparoscopy scene (peg transfer, dissection) is stepped as fast as it goes with offscreen
rendering on, on the main thread.

The servo is the native loop (compiled, outside the GIL) driving the simulated device; the
baseline measured in the same run is the same loop with its ticks driven from Python (the
adapter path, which holds the GIL between ticks, like the loop before issue #23). Each row
reports the load: the machine's CPU count and 1-minute load average before and after, and
the simulation's own frame rate. Scenes that cannot be built (no GL, a broken solver) are
reported in the notes, not hidden.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from vrmed.haptics import ContactPlane, HapticLoop, LocalModel, SimulatedHapticDevice
from vrmed.session import build_session, open_target


class _PythonStylus:
    """A device whose read/write run in Python (the adapter path): the GIL baseline."""

    name = "python-stylus"

    def read(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        return np.array([0.0, 0.1 + 0.01 * np.sin(t), 0.0]), np.zeros(3)

    def write_force(self, force: np.ndarray) -> None:
        pass

    def close(self) -> None:
        pass


def _scene(name: str | None, render: bool) -> tuple[Any, Any, str]:
    """A session of ``laparoscopy/name`` with offscreen rendering (or None for idle)."""
    if name is None:
        return None, None, "idle main thread"
    pack, _ = open_target("laparoscopy")
    session = build_session(pack, name)
    plugin = None
    if render:
        from vrmed.render import RenderPlugin  # deferred: moderngl only when rendering is benchmarked

        plugin = RenderPlugin(every=1)
        session.app.add_plugin(plugin)
    session.app.step()  # build, compile and upload before timing
    return session, plugin, f"{name}{' + render' if render else ''}"


def _measure(scene: str | None, rate: float, servo: str, seconds: float, render: bool) -> dict[str, Any]:
    session, _, label = _scene(scene, render)
    if servo == "native":
        device: Any = SimulatedHapticDevice(
            lambda t: np.array([0.0, 0.1 + 0.01 * np.sin(t), 0.0]), duration=seconds + 5
        )
    else:
        device = _PythonStylus()
    loop = HapticLoop(device, rate=rate, limits="touch")
    loop.publish_model(LocalModel(planes=[ContactPlane(np.array([0.0, 0.105, 0.0]), np.array([0.0, 1.0, 0.0]), 500.0)]))
    load0 = os.getloadavg()[0]
    loop.start()
    time.sleep(0.2)  # warm-up: thread start and, for the native loop, its first compile
    loop.reset_stats()
    t0 = time.perf_counter()
    end = t0 + seconds
    frames = 0
    try:
        while time.perf_counter() < end:
            if session is not None:
                session.app.step()
                frames += 1
                loop.publish_model(
                    LocalModel(
                        planes=[ContactPlane(np.array([0.0, 0.105, 0.0]), np.array([0.0, 1.0, 0.0]), 500.0)],
                        blend=1 / 90,
                    )
                )
            else:
                time.sleep(0.01)
        wall = time.perf_counter() - t0
    finally:
        loop.stop()
        if session is not None:
            session.close()
    s = loop.stats()
    return {
        "case": label,
        "servo": servo,
        "rate_hz": rate,
        "updates": s.updates,
        "achieved_hz": s.updates / wall if wall > 0 else 0.0,
        "mean_ms": s.mean_ms,
        "p50_ms": s.p50_ms,
        "p99_ms": s.p99_ms,
        "max_ms": s.max_ms,
        "late_pct": 100 * s.late_fraction,
        "sim_fps": frames / wall if wall > 0 else 0.0,
        "load_1min_before": load0,
        "load_1min_after": os.getloadavg()[0],
        "cpus": os.cpu_count(),
        "realtime_priority": loop.realtime,
    }


def run(options: dict[str, Any]) -> dict[str, Any]:
    """Servo intervals idle and beside each scene, native at 1 and 4 kHz, Python at 1 kHz."""
    seconds = 0.5 if options.get("quick") else 3.0
    render = not options.get("no_render", False)
    rows: list[dict[str, Any]] = []
    notes = [
        "late = interval above 1.5x the period; targets: p99 <= 1.1 ms at 1 kHz, <= 0.3 ms at 4 kHz",
        "scenes stepped as fast as they go on the main thread (sim_fps), rendering offscreen every frame",
        "servo 'python' = device I/O in Python between ticks (holds the GIL): the pre-#23 baseline",
        "simulated device; a real device adds its driver's own latency",
    ]
    cases: list[tuple[str | None, float, str]] = [(None, 1000.0, "native")]
    for name in ("peg_transfer", "dissection"):
        cases += [(name, 1000.0, "native"), (name, 4000.0, "native"), (name, 1000.0, "python")]
    for scene, rate, servo in cases:
        try:
            rows.append(_measure(scene, rate, servo, seconds, render))
        except Exception as exc:  # noqa: BLE001 - a scene that cannot run is reported, the rest still measured
            notes.append(f"{scene} at {rate:.0f} Hz ({servo}) not measured: {type(exc).__name__}: {exc}"[:300])
    return {"suite": "haptics", "rows": rows, "notes": notes}
