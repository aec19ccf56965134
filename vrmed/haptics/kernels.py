"""Numba kernels of the haptic servo loop: local force model, passivity, clamps, devices.

Everything the servo does per tick lives here as ``@njit(nogil=True)`` code working on flat
float64 arrays the simulation shares with it, so a servo thread running these kernels
never takes Python's interpreter lock (GIL): a long kernel call, a garbage collection or a
slow frame in the simulation cannot delay a force update. The array layouts are the
``*_``-prefixed index constants below; :mod:`vrmed.haptics.loop` owns the arrays.

Units are SI throughout (m, m/s, N, N m, s). World quantities (the local model) are mapped
to device coordinates by the calibration in ``cfg``: ``x_world = s R x_dev + o`` and
``F_dev = c R^T F_world``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

import numpy as np
from numba import njit

# ----------------------------------------------------------------------------- layouts
#: Local-model slot (published by the simulation, read by the servo).
M_NPLANES = 0  # number of active primitives
M_BLEND = 1  # seconds to cross-fade from the previous model (0: switch at once, e.g. a puncture)
M_PLANES = 2  # primitive i at M_PLANES + i * P_STRIDE
P_STRIDE = 9  # point(3) normal(3) k(N/m) b(N s/m) bilateral(0/1)
MAX_PLANES = 4
M_FORCE = M_PLANES + MAX_PLANES * P_STRIDE  # constant force (3), world N
M_TORQUE = M_FORCE + 3  # constant torque (3), world N m
M_PROXY = M_TORQUE + 3  # virtual-coupling proxy (3), world m
M_KC = M_PROXY + 3  # coupling stiffness N/m (0: off)
M_BC = M_KC + 1  # coupling damping N s/m
M_CUE_SEQ = M_BC + 1  # a new value starts the cue below
M_CUE_AMP = M_CUE_SEQ + 1  # N
M_CUE_FREQ = M_CUE_AMP + 1  # Hz (0: a decaying pulse, not a vibration)
M_CUE_DECAY = M_CUE_FREQ + 1  # 1/s
M_CUE_DUR = M_CUE_DECAY + 1  # s
M_CUE_DIR = M_CUE_DUR + 1  # unit direction (3), world
M_SIZE = M_CUE_DIR + 3

#: Calibration and limits (set before the loop starts).
C_SCALE = 0
C_ROT = 1  # 3x3 row-major device -> world rotation
C_OFFSET = 10  # world m
C_FSCALE = 13  # device force per world force
C_MAXF = 14  # N (peak force of the device)
C_MAXT = 15  # N m (0: the device renders no torque)
C_MAXK = 16  # N/m: stiffest primitive the device may render stably
C_PC = 17  # 1: passivity controller on
C_PC_MAXB = 18  # N s/m: most damping the passivity controller may add
C_SIZE = 19

#: Servo state (written by the servo, read by the simulation without locking).
S_POS = 0  # device position (3), device m (last good sample)
S_VEL = 3
S_QUAT = 6  # w x y z
S_BUT = 10  # 4 buttons, 0/1
S_FORCE = 14  # last force written (3), device N
S_TORQUE = 17
S_STATUS = 20  # 0 idle/running, 1 stopped, 2 device error
S_ERROR = 21  # device error code (adapter specific; 1 = simulated disconnect)
S_DROPPED = 22  # device samples with NaN/inf or a non-unit orientation, dropped
S_TICKS = 23
S_FAULTS = 24  # computed forces that were non-finite and replaced by zero
S_ENERGY = 25  # passivity observer: energy absorbed by the virtual environment (J)
S_PC_DISS = 26  # energy the passivity controller dissipated (J)
S_CLAMPED = 27  # ticks whose force hit the device limit
S_TIME = 28  # device time (s) of the last tick
S_SEEN = 29  # model sequence number in use
S_SWITCH_T = 30  # device time the model last changed
S_CUE_SEEN = 31
S_CUE_T = 32  # device time the current cue started
S_HAND = 33  # simulated hand position (3) and velocity (3)
S_LOGN = 39  # forces logged (simulated device)
S_WRITES = 40  # forces written
S_PREV = 41  # device position at the previous tick (3), for the passivity observer
S_SIZE = 44

#: Control words (int64): stop flag, period and spin (ns).
K_STOP = 0
K_PERIOD_NS = 1
K_SPIN_NS = 2
K_SIZE = 3

#: Simulated-device parameters (float64).
D_T0 = 0  # time of the first trajectory sample (s)
D_DT = 1  # trajectory sample spacing (s)
D_MASS = 2  # hand mass (kg; 0: the stylus follows the path exactly)
D_KH = 3  # hand stiffness toward the path (N/m)
D_BH = 4  # hand damping (N s/m)
D_DISCONNECT = 5  # fail after this many writes (-1: never)
D_SIZE = 6


# ----------------------------------------------------------------------------- model
@njit(cache=True, nogil=True)
def model_force(slot: np.ndarray, x: np.ndarray, v: np.ndarray, kmax: float, out: np.ndarray) -> None:
    """World force of one local-model slot on a tool at ``x`` moving at ``v``.

    A unilateral primitive (a contact plane) pushes along its normal by ``k d - b v_n`` where
    ``d = (p - x) . n`` is the depth behind the plane, never pulling; a bilateral primitive
    (held tissue, a tensioned grasp) acts on both sides. Stiffness is capped at ``kmax``.
    """
    out[0] = slot[M_FORCE]
    out[1] = slot[M_FORCE + 1]
    out[2] = slot[M_FORCE + 2]
    n = min(int(slot[M_NPLANES]), MAX_PLANES)
    for i in range(n):
        b0 = M_PLANES + i * P_STRIDE
        nx, ny, nz = slot[b0 + 3], slot[b0 + 4], slot[b0 + 5]
        d = (slot[b0] - x[0]) * nx + (slot[b0 + 1] - x[1]) * ny + (slot[b0 + 2] - x[2]) * nz
        bilateral = slot[b0 + 8] > 0.5
        if d <= 0.0 and not bilateral:
            continue
        k = min(slot[b0 + 6], kmax)
        mag = k * d - slot[b0 + 7] * (v[0] * nx + v[1] * ny + v[2] * nz)
        if mag < 0.0 and not bilateral:
            mag = 0.0
        out[0] += mag * nx
        out[1] += mag * ny
        out[2] += mag * nz
    kc = slot[M_KC]
    if kc > 0.0:
        kc = min(kc, kmax)
        for j in range(3):
            out[j] += kc * (slot[M_PROXY + j] - x[j]) - slot[M_BC] * v[j]


@njit(cache=True, nogil=True)
def clamp_norm(f: np.ndarray, limit: float) -> int:
    """Scale ``f`` to at most ``limit`` in place, NaN-safely: a non-finite vector becomes
    zero (returns 2), one over the limit is scaled (returns 1), else 0.

    ``norm > limit`` alone is False for NaN, which is how a NaN force used to reach the
    device; the finiteness test comes first."""
    s = f[0] * f[0] + f[1] * f[1] + f[2] * f[2]
    if not np.isfinite(s):
        f[0] = 0.0
        f[1] = 0.0
        f[2] = 0.0
        return 2
    if limit <= 0.0:
        f[0] = 0.0
        f[1] = 0.0
        f[2] = 0.0
        return 1 if s > 0.0 else 0
    if s > limit * limit:
        r = limit / np.sqrt(s)
        f[0] *= r
        f[1] *= r
        f[2] *= r
        return 1
    return 0


@njit(cache=True, nogil=True)
def _rot(cfg: np.ndarray, v: np.ndarray, out: np.ndarray, transpose: bool) -> None:
    for i in range(3):
        acc = 0.0
        for j in range(3):
            acc += (cfg[C_ROT + 3 * j + i] if transpose else cfg[C_ROT + 3 * i + j]) * v[j]
        out[i] = acc


@njit(cache=True, nogil=True)
def render(
    state: np.ndarray,
    cfg: np.ndarray,
    model: np.ndarray,
    seq: np.ndarray,
    old: np.ndarray,
    cur: np.ndarray,
    t: float,
    dt: float,
    pos: np.ndarray,
    vel: np.ndarray,
    force: np.ndarray,
    torque: np.ndarray,
    scratch: np.ndarray,
) -> None:
    """The force (and torque) for a device at ``pos``/``vel`` (device coordinates) at device
    time ``t``, ``dt`` after the previous tick: local model (cross-faded from the previous
    publication), event cue, passivity controller, NaN-safe limits. Updates ``state``.

    ``model`` is the simulation's double buffer ``[2, M_SIZE]``; ``seq[0]`` names the slot
    that is complete (``seq[0] % 2``). ``old``/``cur`` are the servo's own copies.
    """
    s = seq[0]
    if s != state[S_SEEN]:
        # New publication: keep the model in use as ``old`` (cross-fade source), copy the new.
        slot = model[s % 2]
        for j in range(M_SIZE):
            old[j] = cur[j]
            cur[j] = slot[j]
        if seq[0] != s:  # overwritten while copying (two publications in one copy): retry next tick
            for j in range(M_SIZE):
                cur[j] = old[j]
        else:
            state[S_SEEN] = s
            state[S_SWITCH_T] = t
    xw = scratch[0:3]
    vw = scratch[3:6]
    f_new = scratch[6:9]
    f_old = scratch[9:12]
    tmp = scratch[12:15]
    sc = cfg[C_SCALE]
    _rot(cfg, pos, xw, False)
    _rot(cfg, vel, vw, False)
    for j in range(3):
        xw[j] = sc * xw[j] + cfg[C_OFFSET + j]
        vw[j] = sc * vw[j]
    kmax = cfg[C_MAXK]
    model_force(cur, xw, vw, kmax, f_new)
    blend = cur[M_BLEND]
    w = 1.0 if blend <= 0.0 else min(max((t - state[S_SWITCH_T]) / blend, 0.0), 1.0)
    if w < 1.0:
        model_force(old, xw, vw, kmax, f_old)
        for j in range(3):
            f_new[j] = (1.0 - w) * f_old[j] + w * f_new[j]
    # Event cue: a decaying vibration A e^{-Bt} sin(2 pi f t) (Okamura et al. 2001) or a pulse.
    if cur[M_CUE_SEQ] != state[S_CUE_SEEN]:
        state[S_CUE_SEEN] = cur[M_CUE_SEQ]
        state[S_CUE_T] = t
    tc = t - state[S_CUE_T]
    cue = 0.0
    if cur[M_CUE_AMP] != 0.0 and 0.0 <= tc < cur[M_CUE_DUR]:
        cue = cur[M_CUE_AMP] * np.exp(-cur[M_CUE_DECAY] * tc)
        if cur[M_CUE_FREQ] > 0.0:
            cue *= np.sin(2.0 * np.pi * cur[M_CUE_FREQ] * tc)
    # World -> device: F_dev = c R^T F_world.
    _rot(cfg, f_new, tmp, True)
    fs = cfg[C_FSCALE]
    for j in range(3):
        force[j] = fs * tmp[j]
    # Passivity observer/controller (Hannaford & Ryu 2002; the zero-order-hold form of Ryu,
    # Kwon & Hannaford 2004): the force written last tick acted, constant, over the motion
    # since, so E -= F_prev . (x - x_prev) is the energy the virtual environment has absorbed
    # from the hand. If it goes negative the environment has generated energy, and a damper
    # -alpha v over the next interval dissipates exactly that excess.
    if state[S_TICKS] > 0:
        work = 0.0
        for j in range(3):
            work += state[S_FORCE + j] * (pos[j] - state[S_PREV + j])
        e = state[S_ENERGY] - work
        if cfg[C_PC] > 0.5 and e < 0.0 and dt > 0.0:
            v2 = vel[0] * vel[0] + vel[1] * vel[1] + vel[2] * vel[2]
            if v2 * dt > 1e-15:
                alpha = min(-e / (v2 * dt), cfg[C_PC_MAXB])
                for j in range(3):
                    force[j] -= alpha * vel[j]
                # what the damper will take over the next interval (the observer measures it then)
                state[S_PC_DISS] += alpha * v2 * dt
        if np.isfinite(e):
            state[S_ENERGY] = e
    for j in range(3):
        state[S_PREV + j] = pos[j]
    if cue != 0.0:
        _rot(cfg, cur[M_CUE_DIR : M_CUE_DIR + 3], tmp, True)
        for j in range(3):
            force[j] += cue * tmp[j]
    code = clamp_norm(force, cfg[C_MAXF])
    if code == 2:
        state[S_FAULTS] += 1
    elif code == 1:
        state[S_CLAMPED] += 1
    for j in range(3):
        tmp[j] = cur[M_TORQUE + j]
    _rot(cfg, tmp, torque, True)
    if clamp_norm(torque, cfg[C_MAXT]) == 2:
        state[S_FAULTS] += 1


@njit(cache=True, nogil=True)
def accept_sample(state: np.ndarray, pos: np.ndarray, vel: np.ndarray, quat: np.ndarray) -> bool:
    """Validate a device sample at the input boundary: non-finite values or an orientation
    far from unit length drop the sample (the last good one is kept, ``S_DROPPED`` counts
    it); a slightly denormalised quaternion is renormalised."""
    ok = True
    for j in range(3):
        if not (np.isfinite(pos[j]) and np.isfinite(vel[j])):
            ok = False
    q2 = quat[0] * quat[0] + quat[1] * quat[1] + quat[2] * quat[2] + quat[3] * quat[3]
    if not np.isfinite(q2) or abs(q2 - 1.0) > 0.1:
        ok = False
    if not ok:
        state[S_DROPPED] += 1
        for j in range(3):
            pos[j] = state[S_POS + j]
            vel[j] = 0.0
        for j in range(4):
            quat[j] = state[S_QUAT + j]
        return False
    r = 1.0 / np.sqrt(q2)
    for j in range(3):
        state[S_POS + j] = pos[j]
        state[S_VEL + j] = vel[j]
    for j in range(4):
        quat[j] *= r
        state[S_QUAT + j] = quat[j]
    return True


# ----------------------------------------------------------------------------- simulated device
@njit(cache=True, nogil=True)
def sim_read(
    dev: np.ndarray,
    path: np.ndarray,
    quats: np.ndarray,
    buttons: np.ndarray,
    faults: np.ndarray,
    state: np.ndarray,
    t: float,
    dt: float,
    pos: np.ndarray,
    vel: np.ndarray,
    quat: np.ndarray,
    but: np.ndarray,
) -> None:
    """Sample the simulated stylus at device time ``t``: the scripted path (linear between
    samples, held after the last), or, with a hand mass, a hand of that mass pulled toward
    the path by a spring-damper and pushed by the last rendered force (semi-implicit Euler),
    so rendered forces do work on it as on a real hand. Inside a fault window every value
    reads NaN (a glitching encoder)."""
    n = path.shape[0]
    u = (t - dev[D_T0]) / dev[D_DT]
    if u <= 0.0:
        i, w = 0, 0.0
    elif u >= n - 1:
        i, w = n - 1, 0.0
    else:
        i = int(u)
        w = u - i
    i1 = min(i + 1, n - 1)
    moving = 0.0 < u < n - 1
    for j in range(3):
        target = (1.0 - w) * path[i, j] + w * path[i1, j]
        tv = (path[i1, j] - path[i, j]) / dev[D_DT] if moving else 0.0
        pos[j] = target
        vel[j] = tv
    for j in range(4):
        quat[j] = (1.0 - w) * quats[i, j] + w * quats[i1, j]
        but[j] = buttons[i, j]
    qn = np.sqrt(quat[0] ** 2 + quat[1] ** 2 + quat[2] ** 2 + quat[3] ** 2)
    if qn > 0.0:
        for j in range(4):
            quat[j] /= qn
    m = dev[D_MASS]
    if m > 0.0:
        if state[S_TICKS] == 0:
            for j in range(3):
                state[S_HAND + j] = pos[j]  # the hand starts at rest at the path's first point
                state[S_HAND + 3 + j] = 0.0
        # The hand is continuous: integrate it in 16 substeps per tick while the device force
        # is held (zero-order hold), as a real hand feels a servo's piecewise-constant force.
        h = dt / 16.0
        for j in range(3):
            x, v = state[S_HAND + j], state[S_HAND + 3 + j]
            for _ in range(16):
                a = (state[S_FORCE + j] + dev[D_KH] * (pos[j] - x) + dev[D_BH] * (vel[j] - v)) / m
                v += a * h
                x += v * h
            state[S_HAND + j], state[S_HAND + 3 + j] = x, v
            pos[j], vel[j] = x, v
    for k in range(faults.shape[0]):
        if faults[k, 0] <= t < faults[k, 1]:
            for j in range(3):
                pos[j] = np.nan
                vel[j] = np.nan


@njit(cache=True, nogil=True)
def sim_write(dev: np.ndarray, state: np.ndarray, log: np.ndarray, force: np.ndarray) -> bool:
    """Record a force written to the simulated device; False once it has 'disconnected'."""
    if dev[D_DISCONNECT] >= 0 and state[S_WRITES] >= dev[D_DISCONNECT]:
        state[S_STATUS] = 2.0
        state[S_ERROR] = 1.0
        return False
    n = int(state[S_LOGN])
    if n < log.shape[0]:
        for j in range(3):
            log[n, j] = force[j]
        state[S_LOGN] = n + 1
    state[S_WRITES] += 1
    return True


@njit(cache=True, nogil=True)
def sim_tick(
    state: np.ndarray,
    cfg: np.ndarray,
    model: np.ndarray,
    seq: np.ndarray,
    old: np.ndarray,
    cur: np.ndarray,
    dev: np.ndarray,
    path: np.ndarray,
    quats: np.ndarray,
    buttons: np.ndarray,
    faults: np.ndarray,
    log: np.ndarray,
    t: float,
    dt: float,
    io: np.ndarray,
    scratch: np.ndarray,
) -> bool:
    """One servo tick of the simulated device: read, validate, render, write. False when
    the device failed (the loop stops and the simulation turns it into an event)."""
    pos, vel, quat, but = io[0:3], io[3:6], io[6:10], io[10:14]
    force, torque = io[14:17], io[17:20]
    sim_read(dev, path, quats, buttons, faults, state, t, dt, pos, vel, quat, but)
    accept_sample(state, pos, vel, quat)
    for j in range(4):
        state[S_BUT + j] = but[j]
    render(state, cfg, model, seq, old, cur, t, dt, pos, vel, force, torque, scratch)
    if not sim_write(dev, state, log, force):
        return False
    for j in range(3):
        state[S_FORCE + j] = force[j]
        state[S_TORQUE + j] = torque[j]
    state[S_TIME] = t
    state[S_TICKS] += 1
    return True


@njit(cache=True, nogil=True)
def sim_run_ticks(
    state: np.ndarray,
    cfg: np.ndarray,
    model: np.ndarray,
    seq: np.ndarray,
    old: np.ndarray,
    cur: np.ndarray,
    dev: np.ndarray,
    path: np.ndarray,
    quats: np.ndarray,
    buttons: np.ndarray,
    faults: np.ndarray,
    log: np.ndarray,
    t0: float,
    dt: float,
    n: int,
    io: np.ndarray,
    scratch: np.ndarray,
) -> int:
    """``n`` ticks at a fixed step (lock-step mode: deterministic, for tests and replays).
    Returns the ticks run (fewer if the device failed)."""
    for i in range(n):
        if not sim_tick(
            state, cfg, model, seq, old, cur, dev, path, quats, buttons, faults, log, t0 + i * dt, dt, io, scratch
        ):
            return i
    return n


# ----------------------------------------------------------------------------- real-time loop
# The clock and the sleep are libc's clock_gettime/clock_nanosleep called through ctypes from
# compiled code (numba supports ctypes function pointers in nopython mode): an absolute
# deadline on CLOCK_MONOTONIC, so sleep overshoot never accumulates, then a short spin.
try:  # Linux (glibc, musl); elsewhere the loop falls back to Python timing (HAVE_RT_CLOCK False)
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    _clock_gettime = _libc.clock_gettime
    _clock_gettime.argtypes = [ctypes.c_int, ctypes.c_void_p]
    _clock_gettime.restype = ctypes.c_int
    _clock_nanosleep = _libc.clock_nanosleep
    _clock_nanosleep.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
    _clock_nanosleep.restype = ctypes.c_int
    HAVE_RT_CLOCK = sys.platform.startswith("linux")
except (OSError, AttributeError):  # no libc by that name (Windows) or no clock_nanosleep (macOS)
    _clock_gettime = _clock_nanosleep = None  # type: ignore[assignment]
    HAVE_RT_CLOCK = False
CLOCK_MONOTONIC = 1
TIMER_ABSTIME = 1


@njit(nogil=True)  # not cached: numba cannot cache code that calls ctypes function pointers
def monotonic_ns(ts: np.ndarray) -> int:
    """CLOCK_MONOTONIC in nanoseconds (``ts``: an int64[2] scratch timespec)."""
    _clock_gettime(CLOCK_MONOTONIC, ts.ctypes.data)
    return ts[0] * 1_000_000_000 + ts[1]


@njit(nogil=True)
def wait_until(deadline: int, spin_ns: int, ts: np.ndarray) -> int:
    """Sleep until ``spin_ns`` before ``deadline`` (absolute, ns), then spin to it."""
    wake = deadline - spin_ns
    now = monotonic_ns(ts)
    if wake > now:
        ts[0] = wake // 1_000_000_000
        ts[1] = wake % 1_000_000_000
        _clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, ts.ctypes.data, 0)
        now = monotonic_ns(ts)
    while now < deadline:
        now = monotonic_ns(ts)
    return now


@njit(nogil=True)
def sim_run_realtime(
    state: np.ndarray,
    cfg: np.ndarray,
    model: np.ndarray,
    seq: np.ndarray,
    old: np.ndarray,
    cur: np.ndarray,
    dev: np.ndarray,
    path: np.ndarray,
    quats: np.ndarray,
    buttons: np.ndarray,
    faults: np.ndarray,
    log: np.ndarray,
    ctrl: np.ndarray,
    stamps: np.ndarray,
    io: np.ndarray,
    scratch: np.ndarray,
    ts: np.ndarray,
) -> None:
    """The servo loop of the simulated device, entirely in compiled code without the GIL:
    tick at ``ctrl[K_PERIOD_NS]`` until ``ctrl[K_STOP]`` is set or the device fails.
    Each tick's start time (ns) goes into the ring ``stamps`` (index = tick number)."""
    period = ctrl[K_PERIOD_NS]
    start = monotonic_ns(ts)
    deadline = start
    last = start
    cap = stamps.shape[0]
    while ctrl[K_STOP] == 0:
        now = wait_until(deadline, ctrl[K_SPIN_NS], ts)
        n = int(state[S_TICKS])
        stamps[n % cap] = now
        t = (now - start) * 1e-9
        dt = (now - last) * 1e-9
        last = now
        if not sim_tick(state, cfg, model, seq, old, cur, dev, path, quats, buttons, faults, log, t, dt, io, scratch):
            return
        deadline += period
        if now - deadline > 10 * period:  # fell far behind (the machine stalled us): do not burst
            deadline = now + period
    state[S_STATUS] = 1.0
