"""Instrument motion metrics that survive real tracker noise.

Every metric is computed from **filtered** tip positions, never from raw samples: tracked
positions carry sub-millimetre jitter (optical and electromagnetic trackers: 0.1-0.5 mm
RMS), and thresholding raw finite-difference speeds turns a still hand into dozens of
"movements" and metres of path. The pipeline (all from sampled positions p(t), metres and
seconds):

1. **Resample and filter.** Samples are put on a uniform grid at their median rate and
   low-pass filtered with a zero-lag, second-order Butterworth filter run forward and
   backward (an effective fourth-order, zero-phase filter) at ``cutoff_hz`` (default 6 Hz,
   the cut-off recommended for human movement kinematics by Winter, *Biomechanics and
   Motor Control of Human Movement*, 4th ed., 2009, ch. 3; the per-pass cut-off is divided
   by 0.802 so the double pass has its -3 dB point at ``cutoff_hz``, Winter's correction).
   Speeds are central differences of the filtered positions.
2. **Rest and movement.** Rest and movement are decided on the *window speed*, the
   filtered tip's displacement over ``SPEED_WINDOW_S`` (0.2 s) divided by that time: filtered
   jitter still has a differential speed of a few mm/s, but it does not go anywhere, so its
   window speed stays well under a millimetre per second while any real motion of 5 mm/s
   moves the tip a millimetre per window. Samples with a window speed under ``IDLE_SPEED``
   (5 mm/s) are at rest: they add idle time and no path. A movement starts when the window
   speed rises above ``MOVE_SPEED`` (20 mm/s) and ends when it falls below ``END_SPEED``
   (10 mm/s), a hysteresis so noise around one threshold cannot split a movement; its
   extent for smoothness runs from rest to rest (``IDLE_SPEED``); movements shorter than
   ``MIN_MOVE_S`` or covering less than ``MIN_MOVE_M`` are dropped (ICSAD-style
   segmentation: Datta et al. 2001, "The use of electromagnetic motion tracking analysis
   to objectively measure open surgical skill", J Am Coll Surg 193:479-485).
3. **Metrics.**
   - *Path length*: distance travelled while not at rest (m).
   - *Number of movements* and *idle time* (s), as above.
   - *Economy of motion*: the length of the task's reference path over the path travelled
     (1 = no wasted motion). The reference path joins the tip's positions at the task's
     **waypoints** (the times the pack names, e.g. each grasp and release of a ring), so a
     detour scores below 1 however often the hand stops on the way; without waypoints the
     reference is the straight line from the window's start to its end. (Economy as "ideal
     over actual path": Oropesa et al. 2011, "Methods and tools for objective assessment of
     psychomotor skills in laparoscopic surgery", J Surg Res 171(1):e81-e95.)
   - *Smoothness*, **per movement**, averaged over movements: the dimensionless jerk with
     peak-speed normalisation, DJ = (T^3 / v_peak^2) * integral |j|^2 dt (Hogan & Sternad
     2009, "Sensitivity of smoothness measures to movement duration, amplitude, and
     arrests", J Mot Behav 41(6):529-534), over the part of each movement above 5 % of its
     peak speed, which does not grow with a session's length (a minimum-jerk movement
     scores 82.1 at any size and duration); jerk is a third derivative, so it stays
     sensitive to tracker noise even after filtering (0.3 mm jitter multiplies it several
     times): compare it only between sessions from the same tracker. The robust
     smoothness measure is the spectral arc length SPARC (Balasubramanian et al. 2015, "On the analysis of
     movement smoothness", J NeuroEng Rehabil 12:112; cut-off 10 Hz, amplitude threshold
     0.05, 4x zero padding), closer to 0 = smoother.
   - *Bimanual dexterity*: Pearson correlation of the two tips' filtered speeds on a common
     time base (Oropesa et al. 2011 after Chmarra et al. 2010).

Every result states its filter cut-off, thresholds and the time window it covers, so a
debrief and a record computed from the same window agree and say which window it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numba import njit

#: Default speed thresholds in m/s: rest below IDLE_SPEED; a movement starts above
#: MOVE_SPEED and ends below END_SPEED.
IDLE_SPEED = 0.005
MOVE_SPEED = 0.02
END_SPEED = 0.01
#: Shortest movement counted: duration (s) and distance (m).
MIN_MOVE_S = 0.1
MIN_MOVE_M = 0.002
#: Window (s) of the displacement speed that decides rest and movement.
SPEED_WINDOW_S = 0.2
#: Low-pass cut-off (Hz) for tracked positions (Winter 2009: 6 Hz for movement kinematics).
CUTOFF_HZ = 6.0
#: Winter's correction for a second-order filter run twice (forward and backward).
_TWO_PASS = 0.802


@dataclass(frozen=True)
class Track:
    """Sampled positions of one instrument tip: ``t`` (n,) seconds, ``p`` (n, 3) metres."""

    name: str
    t: np.ndarray
    p: np.ndarray

    def __post_init__(self) -> None:
        if self.t.ndim != 1 or self.p.shape != (self.t.shape[0], 3):
            raise ValueError(f"track {self.name!r}: t must be (n,) and p (n, 3)")
        if self.t.shape[0] > 1 and np.any(np.diff(self.t) <= 0):
            raise ValueError(f"track {self.name!r}: sample times must increase")
        if not (np.all(np.isfinite(self.t)) and np.all(np.isfinite(self.p))):
            raise ValueError(f"track {self.name!r}: times and positions must be finite")

    def speeds(self) -> tuple[np.ndarray, np.ndarray]:
        """Raw segment speeds (n-1,) and segment durations (n-1,) (unfiltered)."""
        dt = np.diff(self.t)
        return np.linalg.norm(np.diff(self.p, axis=0), axis=1) / dt, dt

    def window(self, t0: float | None = None, t1: float | None = None) -> Track:
        """The part of the track between ``t0`` and ``t1`` seconds (inclusive)."""
        keep = np.ones(self.t.shape[0], bool)
        if t0 is not None:
            keep &= self.t >= t0
        if t1 is not None:
            keep &= self.t <= t1
        return Track(self.name, self.t[keep], self.p[keep])


@dataclass(frozen=True)
class Filtered:
    """A track resampled on a uniform grid (``dt`` s) and low-pass filtered: positions
    ``p`` (n, 3), velocities ``v`` (n, 3), speeds (n,) and window speeds (n,; the
    displacement over ``SPEED_WINDOW_S`` centred on each sample, over that time)."""

    t: np.ndarray
    p: np.ndarray
    v: np.ndarray
    speed: np.ndarray
    dt: float
    cutoff_hz: float
    wspeed: np.ndarray


def _window_speed(p: np.ndarray, dt: float) -> np.ndarray:
    n = p.shape[0]
    if n < 2:
        return np.zeros(n)
    h = max(1, int(round(SPEED_WINDOW_S / dt / 2.0)))
    idx = np.arange(n)
    a, b = np.clip(idx - h, 0, n - 1), np.clip(idx + h, 0, n - 1)
    return np.linalg.norm(p[b] - p[a], axis=1) / ((b - a) * dt)


@njit(cache=True)
def _biquad_pass(
    x: np.ndarray, b0: float, b1: float, b2: float, a1: float, a2: float
) -> np.ndarray:  # pragma: no cover
    """One pass of a second-order IIR filter over each column, started at steady state."""
    n, m = x.shape
    y = np.empty_like(x)
    for j in range(m):
        x1 = x2 = x[0, j]
        y1 = y2 = x[0, j]
        for i in range(n):
            xi = x[i, j]
            yi = b0 * xi + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2
            y[i, j] = yi
            x2, x1 = x1, xi
            y2, y1 = y1, yi
    return y


def _butter2(cutoff_hz: float, fs: float) -> tuple[float, float, float, float, float]:
    """Second-order Butterworth low-pass by the bilinear transform with pre-warping."""
    k = np.tan(np.pi * cutoff_hz / fs)
    norm = 1.0 / (1.0 + np.sqrt(2.0) * k + k * k)
    b0 = k * k * norm
    return b0, 2.0 * b0, b0, 2.0 * (k * k - 1.0) * norm, (1.0 - np.sqrt(2.0) * k + k * k) * norm


def zero_lag_lowpass(x: np.ndarray, fs: float, cutoff_hz: float = CUTOFF_HZ) -> np.ndarray:
    """Zero-phase low-pass of uniformly sampled rows ``x`` (n, m) at ``fs`` Hz: a second-
    order Butterworth run forward and backward (-3 dB at ``cutoff_hz``), with the ends
    padded by odd reflection so they do not ring. A cut-off at or above the Nyquist
    frequency leaves the data as it is."""
    x = np.ascontiguousarray(x, dtype=float)
    n = x.shape[0]
    per_pass = cutoff_hz / _TWO_PASS
    if n < 3 or per_pass >= 0.49 * fs:
        return x.copy()
    pad = min(n - 1, max(3, int(3.0 * fs / cutoff_hz)))
    head = 2.0 * x[0] - x[pad:0:-1]
    tail = 2.0 * x[-1] - x[-2 : -pad - 2 : -1]
    ext = np.ascontiguousarray(np.concatenate([head, x, tail]))
    coeffs = _butter2(per_pass, fs)
    fwd = _biquad_pass(ext, *coeffs)
    both = _biquad_pass(np.ascontiguousarray(fwd[::-1]), *coeffs)[::-1]
    return np.ascontiguousarray(both[pad : pad + n])


def filter_track(track: Track, cutoff_hz: float = CUTOFF_HZ) -> Filtered:
    """The track on a uniform grid at its median sampling rate, low-pass filtered
    (:func:`zero_lag_lowpass`), with central-difference velocities."""
    t = track.t
    if t.shape[0] < 2:
        z = np.zeros((t.shape[0], 3))
        return Filtered(t.copy(), track.p.copy(), z, np.zeros(t.shape[0]), 0.0, cutoff_hz, np.zeros(t.shape[0]))
    dt = float(np.median(np.diff(t)))
    n = int(np.floor((t[-1] - t[0]) / dt + 1e-9)) + 1
    grid = t[0] + dt * np.arange(n)
    p = np.stack([np.interp(grid, t, track.p[:, k]) for k in range(3)], axis=1)
    p = zero_lag_lowpass(p, 1.0 / dt, cutoff_hz)
    v = np.gradient(p, dt, axis=0) if n > 1 else np.zeros_like(p)
    return Filtered(grid, p, v, np.linalg.norm(v, axis=1), dt, cutoff_hz, _window_speed(p, dt))


def segment_movements(
    f: Filtered,
    start: float = MOVE_SPEED,
    end: float = END_SPEED,
    min_s: float = MIN_MOVE_S,
    min_m: float = MIN_MOVE_M,
    rest: float = IDLE_SPEED,
) -> list[tuple[int, int]]:
    """Movements as (first, last) sample indices of the filtered track: the window speed
    rises above ``start`` and stays above ``end`` (hysteresis); each extends back and
    forward to where the speed was at ``rest`` (but never into a neighbour); shorter than
    ``min_s`` seconds or ``min_m`` metres of path are not movements."""
    cores: list[tuple[int, int]] = []
    moving, a = False, 0
    s = f.wspeed
    n = s.shape[0]
    for i in range(n):
        if not moving and s[i] > start:
            moving, a = True, i
        elif moving and s[i] < end:
            moving = False
            cores.append((a, i))
    if moving:
        cores.append((a, n - 1))
    out = []
    for k, (a, b) in enumerate(cores):
        lo = cores[k - 1][1] if k else 0
        hi = cores[k + 1][0] if k + 1 < len(cores) else n - 1
        while a > lo and s[a - 1] >= rest:
            a -= 1
        while b < hi and s[b + 1] >= rest:
            b += 1
        out.append((a, b))
    keep = []
    for a, b in out:
        length = float(np.linalg.norm(np.diff(f.p[a : b + 1], axis=0), axis=1).sum())
        if (b - a) * f.dt >= min_s and length >= min_m:
            keep.append((a, b))
    return keep


def _moving_path(f: Filtered, idle: float) -> float:
    if f.t.shape[0] < 2:
        return 0.0
    step = np.linalg.norm(np.diff(f.p, axis=0), axis=1)
    moving = ~_at_rest(f, idle)
    return float(step[moving[1:] & moving[:-1]].sum())


def _at_rest(f: Filtered, idle: float) -> np.ndarray:
    """Samples at rest: the window speed is under ``idle`` (jitter goes nowhere) or the
    filtered speed is (the window straddles the end of a movement)."""
    return (f.wspeed < idle) | (f.speed < idle)


def path_length(track: Track, idle: float = IDLE_SPEED, cutoff_hz: float = CUTOFF_HZ) -> float:
    """Distance (m) the filtered tip travelled while not at rest (window speed >= ``idle`` m/s)."""
    return _moving_path(filter_track(track, cutoff_hz), idle)


def idle_time(track: Track, threshold: float = IDLE_SPEED, cutoff_hz: float = CUTOFF_HZ) -> float:
    """Time (s) the filtered tip spent at rest (window speed below ``threshold`` m/s)."""
    f = filter_track(track, cutoff_hz)
    if f.t.shape[0] < 2:
        return 0.0
    return float(np.count_nonzero(_at_rest(f, threshold)) * f.dt)


def number_of_movements(track: Track, threshold: float = MOVE_SPEED, cutoff_hz: float = CUTOFF_HZ) -> int:
    """How many movements the filtered tip made (:func:`segment_movements`; starts above
    ``threshold`` m/s, ends below half of it)."""
    return len(segment_movements(filter_track(track, cutoff_hz), threshold, threshold / 2.0))


def reference_path_length(f: Filtered, waypoints: list[float] | None = None) -> float:
    """Length (m) of the straight segments joining the filtered tip's positions at the
    window's start, each waypoint time inside the window, and the window's end."""
    if f.t.shape[0] < 2:
        return 0.0
    times = [float(f.t[0])] + sorted(w for w in (waypoints or []) if f.t[0] < w < f.t[-1]) + [float(f.t[-1])]
    pts = np.stack([np.interp(times, f.t, f.p[:, k]) for k in range(3)], axis=1)
    return float(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum())


def economy_of_motion(
    track: Track, waypoints: list[float] | None = None, idle: float = IDLE_SPEED, cutoff_hz: float = CUTOFF_HZ
) -> float:
    """Reference path over path travelled, at most 1 (1 = no wasted motion); 1.0 when the
    tip never moved. ``waypoints``: times (s) the task requires the tip to be somewhere
    (grasps, releases, targets); see the module docstring."""
    f = filter_track(track, cutoff_hz)
    travelled = _moving_path(f, idle)
    if travelled <= 0.0:
        return 1.0
    return float(min(1.0, reference_path_length(f, waypoints) / travelled))


#: Movements are delimited for the jerk measure where their speed is 5 % of their peak.
JERK_EDGE = 0.05
#: The dimensionless jerk of a minimum-jerk movement delimited at JERK_EDGE of its peak
#: speed: (1 - 2 s0)^3 / 1.875^2 * integral_{s0}^{1-s0} (60 - 360 s + 360 s^2)^2 ds with
#: 16 s0^2 (1 - s0)^2 = 0.05 (Flash & Hogan 1985 profile); the same for every size and duration.
MINIMUM_JERK_DJ = 82.13


def movement_jerk(f: Filtered, a: int, b: int) -> float:
    """Dimensionless jerk of one movement with peak-speed normalisation (Hogan & Sternad
    2009): (T^3 / v_peak^2) * integral |j|^2 dt, over the part of the movement faster than
    ``JERK_EDGE`` of its peak speed (a relative edge, so the measure stays independent of
    size and duration; a minimum-jerk movement scores :data:`MINIMUM_JERK_DJ`)."""
    if b - a < 4:
        return 0.0
    seg = f.speed[a : b + 1]
    k = int(np.argmax(seg))
    edge = JERK_EDGE * float(seg[k])
    lo, hi = k, k
    while lo > 0 and seg[lo - 1] >= edge:
        lo -= 1
    while hi < seg.shape[0] - 1 and seg[hi + 1] >= edge:
        hi += 1
    a, b = a + lo, a + hi
    if b - a < 4:
        return 0.0
    v = f.v[a : b + 1]
    T = (b - a) * f.dt
    peak = float(f.speed[a : b + 1].max())
    if peak <= 0.0:
        return 0.0
    j = np.gradient(np.gradient(v, f.dt, axis=0), f.dt, axis=0)
    integral = float(np.trapezoid(np.sum(j * j, axis=1), dx=f.dt))
    return T**3 / peak**2 * integral


def movement_sparc(f: Filtered, a: int, b: int, fc: float = 10.0, amp_th: float = 0.05, pad: int = 4) -> float:
    """Spectral arc length of one movement's speed profile (Balasubramanian et al. 2015):
    the arc length of the normalised magnitude spectrum up to the adaptive cut-off (the
    highest frequency below ``fc`` Hz where it exceeds ``amp_th``); -1.6 for a minimum-
    jerk movement, more negative = less smooth."""
    speed = f.speed[a : b + 1]
    n = speed.shape[0]
    if n < 4 or f.dt <= 0.0:
        return 0.0
    nfft = int(2 ** np.ceil(np.log2(n) + pad))
    freq = np.arange(nfft // 2 + 1) / (nfft * f.dt)
    mag = np.abs(np.fft.rfft(speed, nfft))
    if mag[0] <= 0.0:
        return 0.0
    mag = mag / mag[0]
    sel = freq <= fc
    freq, mag = freq[sel], mag[sel]
    above = np.flatnonzero(mag >= amp_th)
    last = int(above[-1]) + 1 if above.size else 2
    freq, mag = freq[:last], mag[:last]
    if freq.shape[0] < 2:
        return 0.0
    df = np.diff(freq) / (freq[-1] - freq[0])
    return -float(np.sum(np.sqrt(df**2 + np.diff(mag) ** 2)))


def normalized_jerk(track: Track, cutoff_hz: float = CUTOFF_HZ) -> float:
    """Mean per-movement dimensionless jerk (:func:`movement_jerk`; lower = smoother, 0
    when the tip made no movement). Per movement, so a long session is not penalised for
    its length (Hogan & Sternad 2009)."""
    f = filter_track(track, cutoff_hz)
    moves = segment_movements(f)
    return float(np.mean([movement_jerk(f, a, b) for a, b in moves])) if moves else 0.0


def bimanual_dexterity(left: Track, right: Track, cutoff_hz: float = CUTOFF_HZ) -> float:
    """Pearson correlation of the two tips' filtered speeds over their common time span (0
    when either hand's speed never changes or the spans do not overlap)."""
    fl, fr = filter_track(left, cutoff_hz), filter_track(right, cutoff_hz)
    if fl.t.shape[0] < 3 or fr.t.shape[0] < 3:
        return 0.0
    lo, hi = max(fl.t[0], fr.t[0]), min(fl.t[-1], fr.t[-1])
    t = fl.t[(fl.t >= lo) & (fl.t <= hi)]
    if t.shape[0] < 3:
        return 0.0
    sl = np.interp(t, fl.t, fl.speed)
    sr = np.interp(t, fr.t, fr.speed)
    if sl.std() < 1e-12 or sr.std() < 1e-12:
        return 0.0
    return float(np.corrcoef(sl, sr)[0, 1])


@dataclass(frozen=True)
class MotionMetrics:
    """Motion metrics of one instrument over one time window (see the module docstring)."""

    name: str
    duration_s: float
    path_length_m: float
    movements: int
    idle_time_s: float
    economy_of_motion: float
    #: mean per-movement dimensionless jerk (Hogan & Sternad 2009), lower = smoother
    normalized_jerk: float
    idle_threshold_m_s: float
    move_threshold_m_s: float
    #: mean per-movement spectral arc length (Balasubramanian et al. 2015), nearer 0 = smoother
    sparc: float = 0.0
    filter_cutoff_hz: float = CUTOFF_HZ
    window_start_s: float = 0.0
    window_end_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain data."""
        return asdict(self)


def motion_metrics(
    track: Track,
    idle: float = IDLE_SPEED,
    move: float = MOVE_SPEED,
    *,
    waypoints: list[float] | None = None,
    cutoff_hz: float = CUTOFF_HZ,
) -> MotionMetrics:
    """Every single-instrument metric of a track (filtered once), over the track's span."""
    f = filter_track(track, cutoff_hz)
    moves = segment_movements(f, move, move / 2.0)
    travelled = _moving_path(f, idle)
    economy = 1.0 if travelled <= 0.0 else float(min(1.0, reference_path_length(f, waypoints) / travelled))
    n = f.t.shape[0]
    return MotionMetrics(
        track.name,
        float(track.t[-1] - track.t[0]) if track.t.size else 0.0,
        travelled,
        len(moves),
        float(np.count_nonzero(_at_rest(f, idle)) * f.dt) if n > 1 else 0.0,
        economy,
        float(np.mean([movement_jerk(f, a, b) for a, b in moves])) if moves else 0.0,
        idle,
        move,
        float(np.mean([movement_sparc(f, a, b) for a, b in moves])) if moves else 0.0,
        cutoff_hz,
        float(track.t[0]) if track.t.size else 0.0,
        float(track.t[-1]) if track.t.size else 0.0,
    )


def input_samples(log: Any, t0: float = 0.0, t1: float | None = None) -> Iterator[tuple[float, dict[str, Any]]]:
    """(time in s, the devices' data) of each input sample of a session log, in frame order,
    only those between ``t0`` and ``t1`` seconds (both included)."""
    for frame in sorted(log.inputs):
        rec = log.inputs[frame]
        t = float(rec["t"])
        if t < t0 or (t1 is not None and t > t1):
            continue
        yield t, rec["data"]


def tracks_from_log(
    log: Any, devices: list[str] | None = None, t0: float = 0.0, t1: float | None = None
) -> dict[str, Track]:
    """Position tracks of input devices from a session log's input samples (optionally only
    between ``t0`` and ``t1`` seconds). Devices default to every device with a position."""
    series: dict[str, tuple[list[float], list[list[float]]]] = {}
    for t, sample in input_samples(log, t0, t1):
        for name, data in sample.items():
            if isinstance(data, dict) and "position" in data and (devices is None or name in devices):
                ts, ps = series.setdefault(name, ([], []))
                ts.append(t)
                ps.append(data["position"])
    return {
        name: Track(name, np.array(ts), np.array(ps, dtype=float).reshape(-1, 3)) for name, (ts, ps) in series.items()
    }
