"""A Force Dimension device driven from compiled code: the servo never takes the GIL.

The Force Dimension SDK (``libdhd``) exports plain C functions with scalar and pointer
arguments (``dhdGetPosition(double*, double*, double*, char)``, ``dhdSetForce(double,
double, double, char)``, ...). Numba can call ctypes function pointers from nopython code,
so the whole servo tick (read, validate, render the local model, passivity, limits, write)
runs inside one ``@njit(nogil=True)`` loop, exactly as the simulated device's does. This is
the stall-proof path for real hardware; :func:`vrmed.haptics.open_forcedimension` is the
simpler Python adapter through the ``forcedimension-core`` bindings.

Every SDK call returning -1 stops the loop with the SDK's error number in the state
(``S_ERROR``); the plugin turns it into a :class:`~vrmed.haptics.plugin.HapticDisconnected`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path
from typing import Any

import numpy as np
from numba import njit

from . import kernels as K
from .device import HapticUnavailable

_c = ctypes
_PTR = _c.c_void_p


def find_libdhd() -> str | None:
    """``libdhd`` from ``$FORCEDIM_SDK/lib/release/lin-<machine>-gcc`` (the SDK's layout,
    as the forcedimension-core bindings search it), else the system library path."""
    sdk = os.environ.get("FORCEDIM_SDK")
    if sdk:
        for path in sorted(Path(sdk, "lib", "release").glob("*/libdhd.so*")):
            return str(path)
    return ctypes.util.find_library("dhd")


def _bind(lib: ctypes.CDLL) -> dict[str, Any]:
    def fn(name: str, res: Any, *args: Any) -> Any:
        f = getattr(lib, name)
        f.restype, f.argtypes = res, list(args)
        return f

    return {
        "open": fn("dhdOpen", _c.c_int),
        "open_id": fn("dhdOpenID", _c.c_int, _c.c_byte),
        "close": fn("dhdClose", _c.c_int, _c.c_byte),
        "get_position": fn("dhdGetPosition", _c.c_int, _PTR, _PTR, _PTR, _c.c_byte),
        "get_velocity": fn("dhdGetLinearVelocity", _c.c_int, _PTR, _PTR, _PTR, _c.c_byte),
        "set_force": fn("dhdSetForce", _c.c_int, _c.c_double, _c.c_double, _c.c_double, _c.c_byte),
        "get_button": fn("dhdGetButton", _c.c_int, _c.c_int, _c.c_byte),
        "error_last": fn("dhdErrorGetLast", _c.c_int),
        "error_str": fn("dhdErrorGetLastStr", _c.c_char_p),
    }


def _compile(f: dict[str, Any]) -> tuple[Any, Any]:
    """The tick and the real-time loop, compiled against this library's functions (numba
    binds ctypes pointers at compile time, so each library gets its own compiled loop)."""
    get_position, get_velocity = f["get_position"], f["get_velocity"]
    set_force, get_button, error_last = f["set_force"], f["get_button"], f["error_last"]

    @njit(nogil=True)
    def tick(state, cfg, model, seq, old, cur, ident, t, dt, io, scratch):
        pos, vel, quat, but = io[0:3], io[3:6], io[6:10], io[10:14]
        force, torque = io[14:17], io[17:20]
        base = io.ctypes.data
        ok = get_position(base, base + 8, base + 16, ident) >= 0
        ok = ok and get_velocity(base + 24, base + 32, base + 40, ident) >= 0
        if not ok:
            state[K.S_STATUS] = 2.0
            state[K.S_ERROR] = error_last()
            return False
        quat[0], quat[1], quat[2], quat[3] = 1.0, 0.0, 0.0, 0.0
        for j in range(2):
            b = get_button(j, ident)
            but[j] = 1.0 if b == 1 else 0.0
        K.accept_sample(state, pos, vel, quat)
        for j in range(4):
            state[K.S_BUT + j] = but[j]
        K.render(state, cfg, model, seq, old, cur, t, dt, pos, vel, force, torque, scratch)
        if set_force(force[0], force[1], force[2], ident) < 0:
            state[K.S_STATUS] = 2.0
            state[K.S_ERROR] = error_last()
            return False
        for j in range(3):
            state[K.S_FORCE + j] = force[j]
            state[K.S_TORQUE + j] = torque[j]
        state[K.S_WRITES] += 1
        state[K.S_TIME] = t
        state[K.S_TICKS] += 1
        return True

    @njit(nogil=True)
    def ticks(state, cfg, model, seq, old, cur, ident, t0, dt, n, io, scratch):
        for i in range(n):
            if not tick(state, cfg, model, seq, old, cur, ident, t0 + i * dt, dt, io, scratch):
                return i
        return n

    @njit(nogil=True)
    def realtime(state, cfg, model, seq, old, cur, ident, ctrl, stamps, io, scratch, ts):
        period = ctrl[K.K_PERIOD_NS]
        start = K.monotonic_ns(ts)
        deadline = start
        last = start
        cap = stamps.shape[0]
        while ctrl[K.K_STOP] == 0:
            now = K.wait_until(deadline, ctrl[K.K_SPIN_NS], ts)
            stamps[int(state[K.S_TICKS]) % cap] = now
            if not tick(
                state, cfg, model, seq, old, cur, ident, (now - start) * 1e-9, (now - last) * 1e-9, io, scratch
            ):
                return
            last = now
            deadline += period
            if now - deadline > 10 * period:
                deadline = now + period
        state[K.S_STATUS] = 1.0

    return ticks, realtime


class ForceDimensionDevice:
    """A Force Dimension device (omega, delta, sigma, lambda; Novint Falcon) through
    ``libdhd`` called from the compiled servo loop. ``library``: the path of ``libdhd``
    (default :func:`find_libdhd`); ``device_id``: the SDK's device index (default: the
    first device). Positions are the SDK's (m, device base frame), forces N."""

    native = True

    def __init__(self, device_id: int | None = None, *, library: str | None = None) -> None:
        path = library or find_libdhd()
        if path is None:
            raise HapticUnavailable(
                "the Force Dimension SDK (libdhd) was not found; install it and set FORCEDIM_SDK to its "
                "folder, or give library=PATH"
            )
        try:
            lib = ctypes.CDLL(path)
            self._f = _bind(lib)
        except (OSError, AttributeError) as exc:
            raise HapticUnavailable(f"{path} is not a usable Force Dimension SDK library: {exc}") from None
        ident = self._f["open"]() if device_id is None else self._f["open_id"](device_id)
        if ident < 0:
            raise HapticUnavailable(f"no Force Dimension device could be opened: {self.last_error()}")
        self.ident = np.int8(ident)
        self.name = f"forcedimension{ident}"
        self._ticks, self._realtime = _compile(self._f)
        self._closed = False

    def last_error(self) -> str:
        """The SDK's text for its last error."""
        raw = self._f["error_str"]()
        return raw.decode(errors="replace") if raw else "unknown error"

    def native_ticks(self, loop: Any, t0: float, dt: float, n: int) -> int:
        """Lock-step ticks (see :class:`~vrmed.haptics.device.NativeDevice`)."""
        return int(
            self._ticks(
                loop.state, loop.cfg, loop.model, loop.seq, loop._old, loop._cur, self.ident, t0, dt, n,
                loop._io, loop._scratch,
            )
        )  # fmt: skip

    def native_realtime(self, loop: Any) -> None:
        """The real-time servo loop (see :class:`~vrmed.haptics.device.NativeDevice`)."""
        self._realtime(
            loop.state, loop.cfg, loop.model, loop.seq, loop._old, loop._cur, self.ident, loop.ctrl, loop.stamps,
            loop._io, loop._scratch, loop._ts,
        )  # fmt: skip

    def close(self) -> None:
        """Zero the force and release the device (once)."""
        if not self._closed:
            self._closed = True
            self._f["set_force"](0.0, 0.0, 0.0, self.ident)
            self._f["close"](self.ident)
