"""Haptic devices: limits, the simulated device, and the adapter interface for real ones.

Two kinds of device feed the servo loop (:class:`~vrmed.haptics.loop.HapticLoop`):

* **native** devices, whose whole tick (read, render, write) runs in compiled code without
  Python's interpreter lock: the :class:`SimulatedHapticDevice` (tests, benchmarks, demos);
* **adapter** devices implementing the small :class:`HapticDevice` protocol in Python
  (OpenHaptics through ``pyopenhaptics``, Force Dimension through ``forcedimension_core``,
  or your own; docs/haptics.md has a worked example). Their read/write calls run on the
  servo thread, so they hold the GIL while talking to the driver; the force computation
  itself is still compiled and releases it.

Any exception a device raises (``OSError`` from a driver, a pulled cable) stops its servo
loop and becomes a :class:`~vrmed.haptics.plugin.HapticDisconnected` event; the session goes on.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import VrmedError
from . import kernels as K
from .calibration import _matrix_quat


class HapticError(VrmedError):
    """A haptic device failed (e.g. it was disconnected)."""


class HapticUnavailable(HapticError):
    """No haptic device can be opened; the message says what to install or connect."""


@dataclass(frozen=True)
class DeviceLimits:
    """What a device may be asked to render (SI units).

    ``max_force`` (N) is the peak force, ``max_continuous_force`` (N) what it sustains
    without overheating (the servo clamps to the peak; the continuous figure is for
    content authors), ``max_torque`` (N m; 0 for 3-DoF-output devices: torque is dropped)
    and ``max_stiffness`` (N/m), the stiffest spring the device renders stably, which
    caps every primitive of the local force model.
    """

    name: str
    max_force: float
    max_continuous_force: float
    max_torque: float
    max_stiffness: float

    def __post_init__(self) -> None:
        for field_name in ("max_force", "max_continuous_force", "max_torque", "max_stiffness"):
            value = getattr(self, field_name)
            if not (math.isfinite(value) and value >= 0):
                raise HapticError(
                    f"device limits {self.name!r}: {field_name} must be a finite number >= 0, got {value}"
                )


#: Manufacturer figures. 3D Systems Touch and Touch X data sheets (peak and continuous force;
#: stiffness is the smallest of the X/Y/Z figures); Force Dimension omega.3 data sheet.
DEVICE_LIMITS: dict[str, DeviceLimits] = {
    "touch": DeviceLimits("touch", 3.3, 0.88, 0.0, 1020.0),
    "touch_x": DeviceLimits("touch_x", 7.9, 1.75, 0.0, 1480.0),
    "omega3": DeviceLimits("omega3", 12.0, 12.0, 0.0, 14500.0),
    "simulated": DeviceLimits("simulated", 3.3, 0.88, 0.0, 2000.0),
}


@runtime_checkable
class HapticDevice(Protocol):
    """The adapter interface of a real device (SI units: m, m/s, N).

    ``read(t)`` returns the stylus tip position and velocity at device time ``t`` (s);
    an adapter may instead (or also) offer ``read_state(t) -> (position, velocity,
    orientation w-x-y-z, buttons)``. ``write_force(f)`` renders a force; any exception
    means the device is gone. ``close()`` releases it.
    """

    name: str

    def read(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Position (m) and velocity (m/s) of the stylus tip at device time ``t`` (s)."""

    def write_force(self, force: np.ndarray) -> None:
        """Render a force (N); raises if the device is gone."""

    def close(self) -> None:
        """Release the device."""


class NativeDevice(Protocol):
    """A device whose whole servo tick runs in compiled code without the GIL
    (``native = True``). The loop calls ``native_ticks`` in lock-step mode and
    ``native_realtime`` on its servo thread; both work on the loop's shared arrays."""

    name: str
    native: bool

    def native_ticks(self, loop: Any, t0: float, dt: float, n: int) -> int:
        """Run ``n`` ticks at fixed ``dt`` from device time ``t0``; the ticks run."""

    def native_realtime(self, loop: Any) -> None:
        """Tick in real time until ``loop.ctrl[K_STOP]`` or a device error."""

    def close(self) -> None:
        """Release the device."""


class SimulatedHapticDevice:
    """A scripted stylus run natively by the servo loop, logging every force it is sent.

    ``path`` is either a callable ``t -> position`` (sampled every ``dt`` s over
    ``duration`` s) or an array of positions sampled every ``dt`` s from ``t0``;
    ``orientations`` (w-x-y-z) and ``buttons`` (up to 4 columns, 0/1) are optional arrays
    with the same number of rows. Past the last sample the stylus holds still.

    ``hand=(mass kg, stiffness N/m, damping N s/m)`` puts a hand on the stylus: it is pulled
    toward the path and pushed by the rendered force, so rendered forces do work on it
    (passivity tests). ``disconnect_after`` makes the device fail after that many force
    writes, as a pulled cable would; ``faults`` lists ``(start, end)`` device-time windows
    in which every sample reads NaN (a glitching encoder; the loop drops such samples).
    """

    native = True

    def __init__(
        self,
        path: Callable[[float], Sequence[float] | np.ndarray] | np.ndarray | None = None,
        *,
        orientations: np.ndarray | None = None,
        buttons: np.ndarray | None = None,
        dt: float = 1e-3,
        t0: float = 0.0,
        duration: float = 30.0,
        hand: tuple[float, float, float] | None = None,
        disconnect_after: int | None = None,
        faults: Sequence[tuple[float, float]] = (),
        capacity: int = 200_000,
        name: str = "simulated",
    ) -> None:
        if not (dt > 0 and math.isfinite(dt)):
            raise HapticError(f"simulated device {name!r}: dt must be > 0 s, got {dt}")
        self.name = name
        if path is None:
            table = np.zeros((2, 3))
        elif callable(path):
            n = max(2, int(round(duration / dt)) + 1)
            table = np.array([np.asarray(path(t0 + i * dt), dtype=float) for i in range(n)])
        else:
            table = np.array(path, dtype=float)
            if table.ndim != 2 or table.shape[1] != 3 or table.shape[0] < 1:
                raise HapticError(f"simulated device {name!r}: path must be an (N, 3) array of positions")
            if table.shape[0] == 1:
                table = np.repeat(table, 2, axis=0)
        n = table.shape[0]
        self.path = np.ascontiguousarray(table)
        quats = np.tile([1.0, 0.0, 0.0, 0.0], (n, 1)) if orientations is None else np.array(orientations, float)
        but = np.zeros((n, 4))
        if buttons is not None:
            b = np.array(buttons, float).reshape(n, -1)
            but[:, : min(4, b.shape[1])] = b[:, :4]
        if quats.shape != (n, 4):
            raise HapticError(f"simulated device {name!r}: orientations must be ({n}, 4), got {quats.shape}")
        self.quats = np.ascontiguousarray(quats)
        self.buttons = np.ascontiguousarray(but)
        self.faults = np.array(list(faults), float).reshape(-1, 2)
        self.params = np.zeros(K.D_SIZE)
        self.params[K.D_T0], self.params[K.D_DT] = t0, dt
        if hand is not None:
            self.params[K.D_MASS], self.params[K.D_KH], self.params[K.D_BH] = hand
        self.params[K.D_DISCONNECT] = -1 if disconnect_after is None else disconnect_after
        self.forces = np.zeros((capacity, 3))
        self._state: np.ndarray | None = None  # the servo state of the loop that runs it

    def native_ticks(self, loop: Any, t0: float, dt: float, n: int) -> int:
        """Lock-step ticks (see :class:`NativeDevice`)."""
        return int(
            K.sim_run_ticks(
                loop.state, loop.cfg, loop.model, loop.seq, loop._old, loop._cur, self.params, self.path, self.quats,
                self.buttons, self.faults, self.forces, t0, dt, n, loop._io, loop._scratch,
            )
        )  # fmt: skip

    def native_realtime(self, loop: Any) -> None:
        """The real-time servo loop (see :class:`NativeDevice`)."""
        K.sim_run_realtime(
            loop.state, loop.cfg, loop.model, loop.seq, loop._old, loop._cur, self.params, self.path, self.quats,
            self.buttons, self.faults, self.forces, loop.ctrl, loop.stamps, loop._io, loop._scratch, loop._ts,
        )  # fmt: skip

    def bind(self, state: np.ndarray) -> None:
        """Called by the loop that runs this device (its force count lives in that state)."""
        self._state = state

    @property
    def count(self) -> int:
        """Forces written so far."""
        return 0 if self._state is None else int(self._state[K.S_WRITES])

    def logged(self) -> np.ndarray:
        """The forces written so far (a copy; N, device coordinates)."""
        n = 0 if self._state is None else int(self._state[K.S_LOGN])
        return self.forces[:n].copy()

    def close(self) -> None:
        """Nothing to release."""


# ----------------------------------------------------------------------------- real devices
def open_openhaptics(device_name: str = "Default Device", *, stale_after: float = 0.1) -> HapticDevice:
    """Open a 3D Systems Touch/Phantom through ``pyopenhaptics`` (PyPI; import name
    ``pyOpenHaptics``) and the OpenHaptics runtime (``libHD``). Clean error when absent."""
    try:
        # deferred: optional; importing it loads libHD, which only exists where OpenHaptics is installed
        from pyOpenHaptics import hd
        from pyOpenHaptics.hd_callback import hd_callback  # deferred: as above
        from pyOpenHaptics.hd_device import HapticDevice as _HDDevice  # deferred: as above
    except (ImportError, OSError):
        raise HapticUnavailable(
            "OpenHaptics support needs the pyopenhaptics package and the OpenHaptics "
            "runtime from 3D Systems; install them and connect a Touch device, or use "
            "the simulated device"
        ) from None
    return _OpenHapticsAdapter(hd, hd_callback, _HDDevice, device_name, stale_after)


class _OpenHapticsAdapter:
    """Adapts pyOpenHaptics to the SI adapter interface.

    OpenHaptics only allows device access inside callbacks its own scheduler runs (at
    1 kHz, in its servo thread, between ``hdBeginFrame``/``hdEndFrame``). The callback here
    stores the newest stylus state and applies the newest force; the vrmed servo thread
    exchanges both with it. The runtime stops calling a callback after a device error, so a
    state older than ``stale_after`` seconds means the device is gone.
    """

    def __init__(self, hd: Any, hd_callback: Any, device_cls: Any, name: str, stale_after: float) -> None:
        self.name = name
        self._hd = hd
        self._lock = threading.Lock()
        self._transform = np.eye(4)
        self._buttons = 0
        self._force = [0.0, 0.0, 0.0]
        self._stamp = time.monotonic()
        self._stale_after = stale_after
        self._prev: tuple[float, np.ndarray] | None = None

        def servo() -> None:  # runs in the OpenHaptics scheduler thread
            transform = np.array(hd.get_transform(), float).reshape(4, 4)
            buttons = int(hd.get_buttons())
            with self._lock:
                self._transform, self._buttons, self._stamp = transform, buttons, time.monotonic()
                force = list(self._force)
            hd.set_force(force)

        self._callback = hd_callback(servo)  # keep a reference: the runtime holds only a C pointer
        self._device = device_cls(self._callback, name)

    def read_state(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[float]]:
        with self._lock:
            transform, buttons, stamp = self._transform, self._buttons, self._stamp
        if time.monotonic() - stamp > self._stale_after:
            raise HapticError(f"haptic device {self.name!r}: no update from the OpenHaptics scheduler")
        # OpenHaptics matrices are column-major: translation (mm) in the last row here.
        pos = transform[3, :3] / 1000.0
        vel = np.zeros(3)
        if self._prev is not None and t > self._prev[0]:
            vel = (pos - self._prev[1]) / (t - self._prev[0])
        self._prev = (t, pos)
        quat = _matrix_quat(transform[:3, :3].T)
        return pos, vel, quat, [float(buttons & 1), float((buttons >> 1) & 1)]

    def read(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        pos, vel, _, _ = self.read_state(t)
        return pos, vel

    def write_force(self, force: np.ndarray) -> None:
        with self._lock:
            self._force = [float(f) for f in force]

    def close(self) -> None:
        self._device.close()


def open_forcedimension(device_id: int | None = None) -> HapticDevice:
    """Open a Force Dimension device (omega, delta, sigma, lambda; Novint Falcon) through
    the ``forcedimension-core`` bindings of the Force Dimension SDK (``pip install
    forcedimension-core``, GPL-3.0, plus the SDK from Force Dimension)."""
    try:
        from forcedimension_core import dhd  # deferred: optional, needs Force Dimension's SDK
    except (ImportError, OSError, RuntimeError) as exc:  # the package is there but libdhd is not (or broken)
        raise HapticUnavailable(
            "Force Dimension support needs the forcedimension-core package and the Force "
            f"Dimension SDK (libdhd); install both and connect a device ({exc})"
        ) from None
    ident = dhd.open() if device_id is None else dhd.openID(device_id)  # pragma: no cover - hardware
    if ident == -1:  # pragma: no cover
        raise HapticUnavailable(f"no Force Dimension device could be opened: {dhd.errorGetLastStr()}")
    return _ForceDimensionAdapter(dhd, ident)  # pragma: no cover


class _ForceDimensionAdapter:  # pragma: no cover - exercised only with hardware
    """Adapts ``forcedimension_core.dhd`` (already SI: m, m/s, N) to the interface."""

    def __init__(self, dhd: Any, ident: int) -> None:
        self._dhd = dhd
        self._id = ident
        self.name = str(dhd.getSystemName(ID=ident) or f"dhd{ident}")
        self._p = [0.0, 0.0, 0.0]
        self._v = [0.0, 0.0, 0.0]

    def read(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        if self._dhd.getPosition(out=self._p, ID=self._id) == -1:
            raise HapticError(f"haptic device {self.name!r}: {self._dhd.errorGetLastStr()}")
        if self._dhd.getLinearVelocity(out=self._v, ID=self._id) == -1:
            raise HapticError(f"haptic device {self.name!r}: {self._dhd.errorGetLastStr()}")
        return np.array(self._p), np.array(self._v)

    def read_state(self, t: float) -> tuple[np.ndarray, np.ndarray, tuple[float, ...], list[float]]:
        pos, vel = self.read(t)
        buttons = [1.0 if self._dhd.getButton(index=i, ID=self._id) == 1 else 0.0 for i in range(2)]
        return pos, vel, (1.0, 0.0, 0.0, 0.0), buttons

    def write_force(self, force: np.ndarray) -> None:
        if self._dhd.setForce([float(f) for f in force], ID=self._id) == -1:
            raise HapticError(f"haptic device {self.name!r}: {self._dhd.errorGetLastStr()}")

    def close(self) -> None:
        self._dhd.close(ID=self._id)
