"""Haptic device interface, a simulated device, and the OpenHaptics adapter."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

import numpy as np

from ..errors import VrmedError


class HapticError(VrmedError):
    """A haptic device failed (e.g. it was disconnected)."""


class HapticUnavailable(HapticError):
    """No haptic device can be opened; the message says what to install or connect."""


class HapticDevice(Protocol):
    """A device that reports a pose and renders a force (SI units: m, N)."""

    name: str

    def read(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Position (m) and velocity (m/s) of the stylus tip at device time ``t`` (s)."""

    def write_force(self, force: np.ndarray) -> None:
        """Render a force (N); raises :class:`HapticError` if the device is gone."""

    def close(self) -> None:
        """Release the device."""


class SimulatedHapticDevice:
    """A scripted stylus that records every force it is sent (for tests and benchmarks).

    ``path(t)`` gives the tip position at time t; ``disconnect_after`` makes the device
    fail after that many force writes, as a cable pulled mid-session would.
    """

    def __init__(
        self,
        path: Callable[[float], np.ndarray] | None = None,
        *,
        capacity: int = 200_000,
        disconnect_after: int | None = None,
        name: str = "simulated",
    ) -> None:
        self.name = name
        self._path = path or (lambda t: np.zeros(3))
        self.forces = np.zeros((capacity, 3))
        self.count = 0
        self._disconnect_after = disconnect_after
        self._lock = threading.Lock()
        self._prev: tuple[float, np.ndarray] | None = None

    def read(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Scripted position; velocity by finite difference between reads."""
        p = np.asarray(self._path(t), dtype=float)
        if self._prev is None or t <= self._prev[0]:
            v = np.zeros(3)
        else:
            v = (p - self._prev[1]) / (t - self._prev[0])
        self._prev = (t, p)
        return p, v

    def write_force(self, force: np.ndarray) -> None:
        """Log the force (fails once ``disconnect_after`` writes have happened)."""
        with self._lock:
            if self._disconnect_after is not None and self.count >= self._disconnect_after:
                raise HapticError(f"haptic device {self.name!r} disconnected")
            if self.count < self.forces.shape[0]:
                self.forces[self.count] = force
            self.count += 1

    def logged(self) -> np.ndarray:
        """The forces written so far (a copy)."""
        with self._lock:
            return self.forces[: min(self.count, self.forces.shape[0])].copy()

    def close(self) -> None:
        """Nothing to release."""


def open_openhaptics(device_name: str = "Default Device") -> HapticDevice:
    """Open a 3D Systems Touch/Phantom through ``pyopenhaptics`` (clean error when absent)."""
    try:
        import pyopenhaptics  # deferred: optional, not on PyPI for every platform
    except ImportError:
        raise HapticUnavailable(
            "OpenHaptics support needs the pyopenhaptics package and the OpenHaptics "
            "runtime from 3D Systems; install them and connect a Touch device, or use "
            "the simulated device"
        ) from None
    try:
        device = pyopenhaptics.HapticDevice(device_name=device_name)  # pragma: no cover - needs hardware
    except Exception as exc:  # pragma: no cover - the SDK raises its own types
        raise HapticUnavailable(f"no OpenHaptics device {device_name!r} could be opened: {exc}") from None
    return _OpenHapticsAdapter(device, device_name)  # pragma: no cover


class _OpenHapticsAdapter:  # pragma: no cover - exercised only with hardware
    """Adapts a pyopenhaptics device (millimetres) to the SI interface."""

    def __init__(self, device: object, name: str) -> None:
        self._device = device
        self.name = name

    def read(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        state = self._device.get_state()  # type: ignore[attr-defined]
        return np.asarray(state.position) / 1000.0, np.asarray(state.velocity) / 1000.0

    def write_force(self, force: np.ndarray) -> None:
        try:
            self._device.set_force(tuple(float(f) for f in force))  # type: ignore[attr-defined]
        except Exception as exc:
            raise HapticError(f"haptic device {self.name!r} failed: {exc}") from None

    def close(self) -> None:
        self._device.close()  # type: ignore[attr-defined]
