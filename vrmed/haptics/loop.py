"""The haptic servo loop: a thread the simulation cannot stall, fed a local force model.

Architecture (docs/haptics.md): the simulation and the servo share a few flat arrays and
never wait for each other.

* The simulation **publishes** a :class:`~vrmed.haptics.model.LocalModel` (contact planes
  with the local tissue stiffness, a constant force, a coupling proxy, an event cue) at its
  physics rate into a two-slot buffer and bumps a sequence number.
* The servo thread runs at ``rate`` Hz (1 kHz by default, 4 kHz for stiff contacts), and
  each tick reads the device, **evaluates** the newest model at the device's current
  position (cross-fading from the previous one over a physics period so the force is
  continuous), applies the passivity controller and the device limits, and writes the force.
  With a native device (the simulated one) the whole loop is compiled numba code running
  without the GIL, sleeping on an absolute ``clock_nanosleep`` deadline and spinning the
  last few tens of microseconds.
* The simulation **reads** the device pose from the servo's state array whenever it
  samples input (no lock: the values are plain floats written by one thread).

A device error ends the loop with :attr:`HapticLoop.error` set; the plugin turns that into
a :class:`~vrmed.haptics.plugin.HapticDisconnected` event and the session continues.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import kernels as K
from .calibration import Calibration
from .device import DEVICE_LIMITS, DeviceLimits, HapticDevice, HapticError, NativeDevice, SimulatedHapticDevice
from .model import LocalModel


@dataclass
class HapticStats:
    """Update-interval distribution of the servo loop (milliseconds) and its counters."""

    updates: int
    mean_ms: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    late_fraction: float  # intervals above 1.5x the period
    dropped_samples: int = 0  # device samples with NaN/inf or a bad orientation
    force_faults: int = 0  # non-finite forces replaced by zero
    clamped: int = 0  # ticks at the device's force limit
    dissipated_j: float = 0.0  # energy removed by the passivity controller


class HapticLoop:
    """Runs one device at ``rate`` Hz beside the simulation (see the module docstring).

    ``limits`` (a :class:`DeviceLimits` or a key of :data:`DEVICE_LIMITS`; ``max_force``
    overrides its peak force) bound what is rendered; ``calibration`` maps the device
    workspace to the world; ``k``/``b`` (N/m, N s/m) add a virtual coupling to the proxy the
    simulation publishes (off by default: contact comes from the local model);
    ``passivity`` enables the passivity controller; ``spin_us`` is how long before each
    deadline the loop stops sleeping and spins (default: 60 us at 1 kHz, 100 us faster);
    ``realtime_priority`` asks the OS for SCHED_FIFO on the servo thread (granted only where
    the user may; :attr:`realtime` says whether it was); ``warm`` compiles the real-time
    loop of a native device at construction (:meth:`warm_up`).
    """

    def __init__(
        self,
        device: HapticDevice | NativeDevice,
        *,
        rate: float = 1000.0,
        limits: DeviceLimits | str | None = None,
        calibration: Calibration | None = None,
        k: float = 0.0,
        b: float = 0.0,
        max_force: float | None = None,
        passivity: bool = True,
        spin_us: float | None = None,
        realtime_priority: bool = True,
        history: int = 1 << 18,
        warm: bool = True,
    ) -> None:
        if not (np.isfinite(rate) and 10.0 <= rate <= 20_000.0):
            raise HapticError(f"haptic rate must be between 10 and 20000 Hz, got {rate}")
        self.device = device
        self.rate = float(rate)
        self.period = 1.0 / rate
        lim = (
            DEVICE_LIMITS["simulated" if isinstance(device, SimulatedHapticDevice) else "touch"]
            if limits is None
            else limits
        )
        self.limits = DEVICE_LIMITS[lim] if isinstance(lim, str) else lim
        self.calibration = calibration or Calibration()
        self.k, self.b = float(k), float(b)
        self.state = np.zeros(K.S_SIZE)
        self.state[K.S_QUAT] = 1.0
        self.state[K.S_SEEN] = 0.0
        self.cfg = np.zeros(K.C_SIZE)
        self.calibration.write(self.cfg)
        self.cfg[K.C_MAXF] = self.limits.max_force if max_force is None else max_force
        self.cfg[K.C_MAXT] = self.limits.max_torque
        self.cfg[K.C_MAXK] = self.limits.max_stiffness
        self.cfg[K.C_PC] = 1.0 if passivity else 0.0
        self.cfg[K.C_PC_MAXB] = 50.0
        self.model = np.zeros((2, K.M_SIZE))
        self.seq = np.zeros(1, np.int64)
        self._old = np.zeros(K.M_SIZE)
        self._cur = np.zeros(K.M_SIZE)
        self._io = np.zeros(20)
        self._scratch = np.zeros(15)
        self._ts = np.zeros(2, np.int64)
        self.ctrl = np.zeros(K.K_SIZE, np.int64)
        self.ctrl[K.K_PERIOD_NS] = int(round(1e9 / rate))
        spin = (60.0 if rate <= 1000.0 else 100.0) if spin_us is None else spin_us
        self.ctrl[K.K_SPIN_NS] = int(spin * 1000)
        self.stamps = np.zeros(history, np.int64)
        self._py_error: str | None = None
        self._saved_switch: float | None = None
        self._thread: threading.Thread | None = None
        self._want_rt = realtime_priority
        self.realtime = False
        self._lockstep_t = 0.0
        self._published = LocalModel()
        #: whether the device runs its whole tick in compiled code (no GIL): see NativeDevice
        self.native = bool(getattr(device, "native", False))
        bind = getattr(device, "bind", None)
        if callable(bind):
            bind(self.state)
        # The first publication: an empty model (no force) in slot 0.
        self.publish_model(LocalModel())
        self._warm = False
        if warm:
            self.warm_up()

    # -- simulation side -------------------------------------------------------------
    def publish_model(self, model: LocalModel) -> None:
        """Hand a new local model to the servo (never blocks; the servo picks it up on
        its next tick). Writes the slot the servo is not reading, then flips the sequence."""
        s = int(self.seq[0]) + 1
        model.write(self.model[s % 2])
        self.seq[0] = s  # one aligned 8-byte store: the servo sees the old or the new number
        self._published = model

    def publish(self, sim_time: float, proxy: np.ndarray, force: np.ndarray) -> None:
        """Simplest publication: a constant contact force and the coupling proxy (the
        force is held between publications; prefer :meth:`publish_model` with contact
        planes, which the servo evaluates at the device's position every tick)."""
        self.publish_model(
            LocalModel(force=np.asarray(force, float), proxy=np.asarray(proxy, float), coupling=(self.k, self.b))
        )

    @property
    def published(self) -> LocalModel:
        """The last model published."""
        return self._published

    # -- device side (read by the simulation) -------------------------------------------
    @property
    def device_position(self) -> np.ndarray:
        """Last good stylus position, device coordinates (m)."""
        return self.state[K.S_POS : K.S_POS + 3].copy()

    @property
    def device_velocity(self) -> np.ndarray:
        """Last good stylus velocity, device coordinates (m/s)."""
        return self.state[K.S_VEL : K.S_VEL + 3].copy()

    @property
    def device_orientation(self) -> np.ndarray:
        """Last good stylus orientation (w, x, y, z), device frame."""
        return self.state[K.S_QUAT : K.S_QUAT + 4].copy()

    @property
    def buttons(self) -> np.ndarray:
        """The device's buttons (0/1), up to four."""
        return self.state[K.S_BUT : K.S_BUT + 4].copy()

    @property
    def last_force(self) -> np.ndarray:
        """The force last written to the device (N, device coordinates)."""
        return self.state[K.S_FORCE : K.S_FORCE + 3].copy()

    @property
    def dropped(self) -> int:
        """Device samples dropped at the input boundary (NaN/inf, non-unit orientation)."""
        return int(self.state[K.S_DROPPED])

    @property
    def error(self) -> str | None:
        """Why the device stopped (None while it works)."""
        if self._py_error is not None:
            return self._py_error
        if self.state[K.S_STATUS] == 2.0:
            return f"haptic device {self.device.name!r} disconnected (device error {int(self.state[K.S_ERROR])})"
        return None

    # -- running -------------------------------------------------------------------------
    def run_ticks(self, n: int) -> int:
        """Run ``n`` servo ticks now at the nominal period, synchronously (lock-step mode:
        deterministic, for tests and for stepping the device with the simulation clock).
        Returns the ticks run (fewer if the device failed)."""
        if self.error is not None:
            return 0
        t0 = self._lockstep_t
        if self.native:
            done = self.device.native_ticks(self, t0, self.period, n)  # type: ignore[union-attr]
        else:
            done = 0
            for i in range(n):
                if not self._python_tick(t0 + i * self.period, self.period):
                    break
                done += 1
        self._lockstep_t = t0 + done * self.period
        return done

    def advance_to(self, t: float) -> int:
        """Lock-step: run the ticks that bring device time up to ``t`` (s)."""
        n = int(np.floor((t - self._lockstep_t) * self.rate + 1e-9))
        return self.run_ticks(n) if n > 0 else 0

    def _python_tick(self, t: float, dt: float) -> bool:
        """One tick of an adapter device: its read/write in Python, the maths compiled."""
        io = self._io
        try:
            reader = getattr(self.device, "read_state", None)
            if callable(reader):
                pos, vel, quat, buttons = reader(t)
            else:
                pos, vel = self.device.read(t)  # type: ignore[union-attr]  # adapters only
                quat, buttons = (1.0, 0.0, 0.0, 0.0), ()
            io[0:3], io[3:6], io[6:10] = pos, vel, quat
            io[10:14] = 0.0
            for i, v in enumerate(list(buttons)[:4]):
                io[10 + i] = v
            K.accept_sample(self.state, io[0:3], io[3:6], io[6:10])
            self.state[K.S_BUT : K.S_BUT + 4] = io[10:14]
            K.render(
                self.state, self.cfg, self.model, self.seq, self._old, self._cur, t, dt,
                io[0:3], io[3:6], io[14:17], io[17:20], self._scratch,
            )  # fmt: skip
            self.device.write_force(io[14:17].copy())  # type: ignore[union-attr]  # adapters only
        except Exception as exc:  # any driver failure (OSError, HapticError, ...) is a disconnect
            self._py_error = f"haptic device {self.device.name!r} failed: {exc}"
            self.state[K.S_STATUS] = 2.0
            return False
        self.state[K.S_FORCE : K.S_FORCE + 3] = io[14:17]
        self.state[K.S_WRITES] += 1
        self.state[K.S_TIME] = t
        self.state[K.S_TICKS] += 1
        return True

    def _set_priority(self) -> None:
        if not self._want_rt or not hasattr(os, "sched_setscheduler"):
            return
        try:  # pid 0 = the calling thread on Linux
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(min(80, os.sched_get_priority_max(os.SCHED_FIFO))))
            self.realtime = True
        except (OSError, PermissionError):
            self.realtime = False  # an ordinary thread: still outside the GIL, just not privileged

    def _run_native(self) -> None:
        if self.ctrl[K.K_STOP] == 0:
            self._set_priority()
        self.device.native_realtime(self)  # type: ignore[union-attr]

    def _native_tick(self, t: float, dt: float) -> bool:
        """One compiled tick of a native device, timed from Python (platforms without
        ``clock_nanosleep``): the tick itself still runs without the GIL."""
        return self.device.native_ticks(self, t, dt, 1) == 1  # type: ignore[union-attr]

    def _run_python(self) -> None:
        self._set_priority()
        tick = self._native_tick if self.native else self._python_tick
        start = time.perf_counter()
        deadline = start
        last = start
        cap = self.stamps.shape[0]
        while self.ctrl[K.K_STOP] == 0:
            while True:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                if remaining > 3e-4:
                    time.sleep(remaining - 2e-4)
            now = time.perf_counter()
            self.stamps[int(self.state[K.S_TICKS]) % cap] = int(now * 1e9)
            if not tick(now - start, now - last):
                return
            last = now
            deadline += self.period
            if now - deadline > 10 * self.period:
                deadline = now + self.period
        self.state[K.S_STATUS] = 1.0

    def warm_up(self) -> None:
        """Compile the real-time loop now (numba cannot cache code that calls ctypes, so
        each process compiles it once): with the stop flag set it returns at once. Done at
        construction, so starting the loop later is immediate."""
        if not (self.native and K.HAVE_RT_CLOCK) or self._warm:
            return
        self.ctrl[K.K_STOP] = 1
        self._run_native()
        self.ctrl[K.K_STOP] = 0
        self.state[K.S_STATUS] = 0.0
        self._warm = True

    def start(self) -> None:
        """Start the servo thread (compile the native loop first, outside the timing)."""
        if self._thread is not None:
            return
        self.ctrl[K.K_STOP] = 0
        native = self.native and K.HAVE_RT_CLOCK
        if native:
            self.warm_up()
        else:
            # CPython hands the GIL between threads every 5 ms by default, which would starve
            # an adapter's Python I/O between ticks; lowered while the loop runs.
            self._saved_switch = sys.getswitchinterval()
            sys.setswitchinterval(min(self._saved_switch, 2e-4))
        target = self._run_native if native else self._run_python
        self._thread = threading.Thread(target=target, name=f"vrmed-haptics-{self.device.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the servo thread and release the device (safe to call twice)."""
        self.ctrl[K.K_STOP] = 1
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
            if self._saved_switch is not None:
                sys.setswitchinterval(self._saved_switch)
                self._saved_switch = None
        close = getattr(self.device, "close", None)
        if callable(close):
            try:
                close()
            except Exception:  # noqa: BLE001 - a device that fails while closing is already gone
                pass

    @property
    def running(self) -> bool:
        """Whether the servo thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def stats(self) -> HapticStats:
        """Distribution of intervals between servo ticks so far (the last ``history``)."""
        n = int(self.state[K.S_TICKS])
        cap = self.stamps.shape[0]
        if n > cap:
            s = np.roll(self.stamps, -(n % cap))
        else:
            s = self.stamps[:n]
        s = s[s > 0]  # entries cleared by reset_stats()
        n = s.shape[0]
        extra: dict[str, Any] = {
            "dropped_samples": self.dropped,
            "force_faults": int(self.state[K.S_FAULTS]),
            "clamped": int(self.state[K.S_CLAMPED]),
            "dissipated_j": float(self.state[K.S_PC_DISS]),
        }
        if s.shape[0] < 2 or not s.any():
            return HapticStats(n, 0.0, 0.0, 0.0, 0.0, 0.0, **extra)
        d = np.diff(s.astype(np.float64)) * 1e-6
        return HapticStats(
            n,
            float(d.mean()),
            float(np.percentile(d, 50)),
            float(np.percentile(d, 99)),
            float(d.max()),
            float(np.mean(d > 1.5e3 * self.period)),
            **extra,
        )

    def reset_stats(self) -> None:
        """Forget the intervals so far (e.g. after warm-up); counters are kept."""
        self.stamps[:] = 0  # the ring is indexed by tick number; zeroed entries are ignored

    def energy(self) -> float:
        """Energy the virtual environment has absorbed from the hand so far (J); negative
        would mean it generated energy (the passivity controller keeps it >= 0)."""
        return float(self.state[K.S_ENERGY])

    def debug_state(self) -> dict[str, Any]:
        """The servo counters by name (for reports and debugging)."""
        return {
            "ticks": int(self.state[K.S_TICKS]),
            "writes": int(self.state[K.S_WRITES]),
            "dropped": self.dropped,
            "faults": int(self.state[K.S_FAULTS]),
            "clamped": int(self.state[K.S_CLAMPED]),
            "energy_j": self.energy(),
            "dissipated_j": float(self.state[K.S_PC_DISS]),
            "realtime": self.realtime,
        }
