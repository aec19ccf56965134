"""Instrument tips out of the endoscope's view, computed from a session log.

A simulator records the laparoscope's view cone in the log as :class:`EndoscopeView` events
(lens position, unit view axis, full field of view) whenever it is placed or moves; the
instrument tips are reconstructed from the logged device poses (the tracked pose is the jaw
hinge; the tip lies ``offset`` metres further along the shaft, the device's local -z).

**Tip out of view time** (s): time during which an instrument tip lies outside the view
cone, i.e. the angle between the lens-to-tip vector and the view axis exceeds half the
field of view. Instrument-out-of-view time is a standard VR-laparoscopy safety metric
(Oropesa et al. 2011, "Methods and tools for objective assessment of psychomotor skills in
laparoscopic surgery", J Surg Res 171:e81; "instrument out of view" is reported as an
error parameter by the LapSim and LAP Mentor simulators, e.g. Aggarwal et al. 2006, "Proving
the effectiveness of virtual reality simulation for training in laparoscopic surgery",
Ann Surg 246:771). Experts keep their instruments in view: less is better. Occlusion by
tissue is not considered (the log holds no geometry); the live query
:func:`vrmed.systems.instruments.system.tip_in_view` does consider it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vrmed.components.scene.core import Transform
from vrmed.components.scene.render import Endoscope
from vrmed.geometry import quat_matrix

from ..events import Event
from .motion import Track, input_samples


@dataclass(frozen=True)
class EndoscopeView(Event):
    """The endoscope's view cone from now on: ``lens`` (world m), unit ``axis`` and the full
    field of view ``fov_deg`` (a cone about the axis)."""

    lens: tuple[float, float, float]
    axis: tuple[float, float, float]
    fov_deg: float


def endoscope_view(app: Any, scope: int) -> EndoscopeView:
    """The current view cone of an :class:`~vrmed.components.scene.render.Endoscope` entity (same
    geometry as :func:`vrmed.systems.instruments.system.tip_in_view`), to send into the log."""
    tf, sc = app.get(scope, Transform), app.get(scope, Endoscope)
    R = quat_matrix(tf.orientation)
    shaft = -R[:, 2]
    lens = np.asarray(tf.position, float) + sc.tip_offset * shaft
    a = np.radians(sc.angle_deg)
    axis = np.cos(a) * shaft - np.sin(a) * R[:, 1]
    axis = axis / np.linalg.norm(axis)
    return EndoscopeView(
        (float(lens[0]), float(lens[1]), float(lens[2])),
        (float(axis[0]), float(axis[1]), float(axis[2])),
        float(sc.fov_deg),
    )


def _quat_neg_z(q: np.ndarray) -> np.ndarray:
    """Local -z axis of unit quaternions (w, x, y, z), shape (n, 3)."""
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    return -np.stack([2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y)], axis=1)


def tip_tracks_from_log(
    log: Any, offsets: dict[str, float], t0: float = 0.0, t1: float | None = None
) -> dict[str, Track]:
    """Tip tracks of the devices in ``offsets`` (device -> hinge-to-tip distance, m): the
    logged position plus ``offset`` along the logged orientation's -z (identity if none),
    optionally only between ``t0`` and ``t1`` seconds."""
    series: dict[str, tuple[list[float], list[list[float]], list[list[float]]]] = {}
    for t, sample in input_samples(log, t0, t1):
        for name, data in sample.items():
            if name in offsets and "position" in data:
                ts, ps, qs = series.setdefault(name, ([], [], []))
                ts.append(t)
                ps.append(data["position"])
                qs.append(data.get("orientation", [1.0, 0.0, 0.0, 0.0]))
    out = {}
    for name, (ts, ps, qs) in series.items():
        p = np.asarray(ps, float).reshape(-1, 3) + offsets[name] * _quat_neg_z(np.asarray(qs, float).reshape(-1, 4))
        out[name] = Track(name, np.asarray(ts, float), p)
    return out


def views_from_log(log: Any) -> list[tuple[float, EndoscopeView]]:
    """The (time, view) records of a log, oldest first."""
    out = []
    for e in log.events:
        if e["type"].endswith(":EndoscopeView"):
            d = e["data"]
            out.append((float(e["t"]), EndoscopeView(tuple(d["lens"]), tuple(d["axis"]), float(d["fov_deg"]))))
    return out


def in_view(points: np.ndarray, view: EndoscopeView) -> np.ndarray:
    """Whether each point (n, 3) lies inside the view cone."""
    rel = np.asarray(points, float) - np.asarray(view.lens)
    dist = np.linalg.norm(rel, axis=1)
    cos = (rel @ np.asarray(view.axis)) / np.maximum(dist, 1e-12)
    return (dist > 0) & (cos >= np.cos(np.radians(view.fov_deg) / 2))


def tip_out_of_view_time(track: Track, views: list[tuple[float, EndoscopeView]]) -> float:
    """Seconds the tip spends outside the view cone in force at each moment (sample k's
    state holds for the interval to sample k+1). Before the first view record, and without
    any, the tip counts as in view."""
    if track.t.shape[0] < 2 or not views:
        return 0.0
    inside = np.ones(track.t.shape[0], bool)
    times = np.array([t for t, _ in views])
    which = np.searchsorted(times, track.t, side="right") - 1
    for k, (_, view) in enumerate(views):
        sel = which == k
        if np.any(sel):
            inside[sel] = in_view(track.p[sel], view)
    dt = np.diff(track.t)
    return float(dt[~inside[:-1]].sum())
