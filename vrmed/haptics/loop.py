"""The 1 kHz haptic servo loop: virtual coupling and interpolation between simulation steps."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass

import numpy as np

from .device import HapticDevice, HapticError


@dataclass
class HapticStats:
    """Update-interval distribution of the servo loop (milliseconds)."""

    updates: int
    mean_ms: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    late_fraction: float  # intervals above 1.5x the period


class HapticLoop:
    """Runs the device at ``rate`` Hz on a thread while the simulation runs at its own rate.

    The simulation calls :meth:`publish` with (sim time, proxy position, contact force);
    the loop interpolates the last two publications to the current time, adds the
    virtual-coupling spring-damper between proxy and device (stiffness ``k`` N/m, damping
    ``b`` N s/m, Colgate, Stanley & Brown 1995), clamps to ``max_force`` N and writes it.
    """

    def __init__(
        self,
        device: HapticDevice,
        *,
        rate: float = 1000.0,
        k: float = 300.0,
        b: float = 1.0,
        max_force: float = 3.3,
        history: int = 120_000,
    ) -> None:
        self.device = device
        self.period = 1.0 / rate
        self.k, self.b, self.max_force = k, b, max_force
        self._lock = threading.Lock()
        # Two publication slots (previous, latest): time, proxy, force.
        self._t = np.array([-1.0, 0.0])
        self._proxy = np.zeros((2, 3))
        self._force = np.zeros((2, 3))
        self._published = 0
        self.device_position = np.zeros(3)
        self.device_velocity = np.zeros(3)
        self.last_force = np.zeros(3)
        self._stamps = np.zeros(history)
        self._n = 0
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0
        self._sim_offset: float | None = None

    # -- simulation side -------------------------------------------------------------
    def publish(self, sim_time: float, proxy: np.ndarray, force: np.ndarray) -> None:
        """New target from the simulation (called at the physics rate)."""
        with self._lock:
            self._t[0], self._proxy[0], self._force[0] = self._t[1], self._proxy[1], self._force[1]
            self._t[1] = sim_time
            self._proxy[1] = proxy
            self._force[1] = force
            self._published += 1

    def target_at(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Proxy and contact force linearly interpolated to simulation time ``t`` (held, not
        extrapolated, past the latest sample so a stalled simulation never overshoots)."""
        with self._lock:
            if self._published < 2 or self._t[1] <= self._t[0]:
                return self._proxy[1].copy(), self._force[1].copy()
            w = min(max((t - self._t[0]) / (self._t[1] - self._t[0]), 0.0), 1.0)
            return (1 - w) * self._proxy[0] + w * self._proxy[1], (1 - w) * self._force[0] + w * self._force[1]

    def coupling_force(self, t: float, device_pos: np.ndarray, device_vel: np.ndarray) -> np.ndarray:
        """The force to render at time ``t`` for a device at ``device_pos`` moving at ``device_vel``."""
        proxy, contact = self.target_at(t)
        f = contact + self.k * (proxy - device_pos) - self.b * device_vel
        norm = float(np.linalg.norm(f))
        if norm > self.max_force:
            f *= self.max_force / norm
        return f

    # -- device side -------------------------------------------------------------------
    def servo_once(self, t: float) -> None:
        """One servo tick: read the device, compute and write the force, stamp the time."""
        pos, vel = self.device.read(t)
        f = self.coupling_force(t, pos, vel)
        self.device.write_force(f)
        with self._lock:
            self.device_position, self.device_velocity, self.last_force = pos, vel, f
        if self._n < self._stamps.shape[0]:
            self._stamps[self._n] = time.perf_counter()
        self._n += 1

    def _run(self) -> None:
        next_tick = time.perf_counter()
        while not self._stop.is_set():
            now = time.perf_counter()
            try:
                self.servo_once(now - self._t0)
            except HapticError as exc:
                self.error = str(exc)
                return
            next_tick += self.period
            # Sleep most of the wait, then spin: time.sleep alone overshoots by ~0.1 ms.
            while True:
                remaining = next_tick - time.perf_counter()
                if remaining <= 0:
                    break
                if remaining > 3e-4:
                    time.sleep(remaining - 2e-4)
            if time.perf_counter() - next_tick > 10 * self.period:
                next_tick = time.perf_counter()  # fell far behind (e.g. GC): do not burst

    def start(self) -> None:
        """Start the servo thread.

        CPython hands the GIL between threads every 5 ms by default, which would starve a
        1 kHz loop while the simulation thread computes; the switch interval is lowered to
        0.2 ms while the loop runs (and restored by :meth:`stop`).
        """
        if self._thread is not None:
            return
        self._saved_switch = sys.getswitchinterval()
        sys.setswitchinterval(min(self._saved_switch, 2e-4))
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._run, name="vrmed-haptics", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the servo thread and release the device."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
            self._thread = None
            sys.setswitchinterval(self._saved_switch)
        self.device.close()

    @property
    def running(self) -> bool:
        """Whether the servo thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def stats(self) -> HapticStats:
        """Distribution of intervals between servo updates so far."""
        n = min(self._n, self._stamps.shape[0])
        if n < 2:
            return HapticStats(n, 0.0, 0.0, 0.0, 0.0, 0.0)
        d = np.diff(self._stamps[:n]) * 1e3
        return HapticStats(
            n,
            float(d.mean()),
            float(np.percentile(d, 50)),
            float(np.percentile(d, 99)),
            float(d.max()),
            float(np.mean(d > 1.5e3 * self.period)),
        )
