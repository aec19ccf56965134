"""Instrument motion metrics.

Definitions (all from sampled tip positions p(t) in metres, t in seconds):

- **Path length** L = sum |p[k+1] - p[k]|: total distance travelled by the tip
  (Datta et al. 2001, "The use of electromagnetic motion tracking analysis to objectively
  measure open surgical skill", J Am Coll Surg 193:479; Oropesa et al. 2013, "Methods and
  tools for objective assessment of psychomotor skills in laparoscopic surgery", J Surg
  Res 171:e81, table of metrics).
- **Number of movements**: the number of times the tip speed rises above a threshold after
  having been below it (ICSAD counts movements as speed peaks separated by rest; Datta 2001).
- **Idle time**: time with speed below the idle threshold (Oropesa 2013: "idle time", the
  periods without instrument motion).
- **Economy of motion**: the ratio of the straight-line distance between where each
  movement starts and ends to the path actually travelled during movements (1 = every
  move straight; Oropesa 2013 lists economy of motion as ideal over actual path).
- **Bimanual dexterity**: Pearson correlation of the two instruments' speed profiles
  (Oropesa 2013, after Chmarra et al. 2010: experts move both hands together, values near
  1; novices move one hand at a time, values near 0 or negative).
- **Motion smoothness**: dimensionless normalised jerk sqrt(T^5 / (2 L^2) * integral |j|^2
  dt) (Hogan & Flash 1987; used in laparoscopic motion analysis by Chmarra et al. 2010):
  lower is smoother.

Speed thresholds are parameters; the defaults (idle below 5 mm/s, a movement above 20 mm/s)
are typical for laparoscopic instrument tips and are stated in every result.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

#: Default speed thresholds in m/s.
IDLE_SPEED = 0.005
MOVE_SPEED = 0.02


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

    def speeds(self) -> tuple[np.ndarray, np.ndarray]:
        """Segment speeds (n-1,) and segment durations (n-1,)."""
        dt = np.diff(self.t)
        return np.linalg.norm(np.diff(self.p, axis=0), axis=1) / dt, dt


def path_length(track: Track) -> float:
    """Total distance travelled by the tip (m)."""
    return float(np.linalg.norm(np.diff(track.p, axis=0), axis=1).sum())


def idle_time(track: Track, threshold: float = IDLE_SPEED) -> float:
    """Time (s) spent moving slower than ``threshold`` m/s."""
    speed, dt = track.speeds()
    return float(dt[speed < threshold].sum())


def _moving_segments(speed: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    moving = speed >= threshold
    edges = np.diff(np.concatenate([[0], moving.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return list(zip(starts.tolist(), ends.tolist()))


def number_of_movements(track: Track, threshold: float = MOVE_SPEED) -> int:
    """How many times the tip starts moving faster than ``threshold`` m/s."""
    speed, _ = track.speeds()
    return len(_moving_segments(speed, threshold))


def economy_of_motion(track: Track, threshold: float = MOVE_SPEED) -> float:
    """Straight-line distance of each movement over the path travelled during movements
    (1 = perfectly straight moves); 1.0 when the tip never moves."""
    speed, _ = track.speeds()
    direct = travelled = 0.0
    seg_len = np.linalg.norm(np.diff(track.p, axis=0), axis=1)
    for a, b in _moving_segments(speed, threshold):
        direct += float(np.linalg.norm(track.p[b] - track.p[a]))
        travelled += float(seg_len[a:b].sum())
    return direct / travelled if travelled > 0 else 1.0


def bimanual_dexterity(left: Track, right: Track) -> float:
    """Pearson correlation of the two tips' speeds on a common time base (NaN-free: 0 when
    either hand never changes speed)."""
    t = np.union1d(left.t, right.t)
    t = t[(t >= max(left.t[0], right.t[0])) & (t <= min(left.t[-1], right.t[-1]))]
    if t.shape[0] < 3:
        return 0.0
    sl = np.interp(t[:-1], left.t[:-1], left.speeds()[0])
    sr = np.interp(t[:-1], right.t[:-1], right.speeds()[0])
    if sl.std() == 0 or sr.std() == 0:
        return 0.0
    return float(np.corrcoef(sl, sr)[0, 1])


def normalized_jerk(track: Track) -> float:
    """Dimensionless normalised jerk (lower = smoother); 0 for a track with no motion."""
    if track.t.shape[0] < 4:
        return 0.0
    duration = float(track.t[-1] - track.t[0])
    length = path_length(track)
    if length == 0:
        return 0.0
    v = np.gradient(track.p, track.t, axis=0)
    a = np.gradient(v, track.t, axis=0)
    j = np.gradient(a, track.t, axis=0)
    integral = float(np.trapezoid(np.sum(j * j, axis=1), track.t))
    return float(np.sqrt(duration**5 / (2 * length**2) * integral))


@dataclass(frozen=True)
class MotionMetrics:
    """Motion metrics of one instrument."""

    name: str
    duration_s: float
    path_length_m: float
    movements: int
    idle_time_s: float
    economy_of_motion: float
    normalized_jerk: float
    idle_threshold_m_s: float
    move_threshold_m_s: float

    def as_dict(self) -> dict[str, Any]:
        """Plain data."""
        return asdict(self)


def motion_metrics(track: Track, idle: float = IDLE_SPEED, move: float = MOVE_SPEED) -> MotionMetrics:
    """All single-instrument metrics of a track."""
    return MotionMetrics(
        track.name,
        float(track.t[-1] - track.t[0]) if track.t.size else 0.0,
        path_length(track),
        number_of_movements(track, move),
        idle_time(track, idle),
        economy_of_motion(track, move),
        normalized_jerk(track),
        idle,
        move,
    )


def tracks_from_log(
    log: Any, devices: list[str] | None = None, t0: float = 0.0, t1: float | None = None
) -> dict[str, Track]:
    """Position tracks of input devices from a session log's input samples (optionally only
    between ``t0`` and ``t1`` seconds). Devices default to every device with a position."""
    series: dict[str, tuple[list[float], list[list[float]]]] = {}
    for frame in sorted(log.inputs):
        rec = log.inputs[frame]
        t = float(rec["t"])
        if t < t0 or (t1 is not None and t > t1):
            continue
        for name, data in rec["data"].items():
            if "position" in data and (devices is None or name in devices):
                ts, ps = series.setdefault(name, ([], []))
                ts.append(t)
                ps.append(data["position"])
    return {
        name: Track(name, np.array(ts), np.array(ps, dtype=float).reshape(-1, 3)) for name, (ts, ps) in series.items()
    }
