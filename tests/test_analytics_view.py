"""Tip-out-of-view time from logged device poses and a logged view cone (hand-computed)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from vrmed.analytics import Track
from vrmed.analytics.view import EndoscopeView, in_view, tip_out_of_view_time, tip_tracks_from_log, views_from_log

DOWN = [math.sqrt(0.5), -math.sqrt(0.5), 0.0, 0.0]  # local -z along world -y


def view(fov=60.0):
    return EndoscopeView((0.0, 0.2, 0.0), (0.0, -1.0, 0.0), fov)


def test_in_view_is_the_cone_about_the_axis():
    pts = np.array([[0.0, 0.0, 0.0], [0.1, 0.1, 0.0], [0.0, 0.1, 0.05], [0.0, 0.3, 0.0]])
    # angles from the axis: 0, 45, 26.6 deg, behind the lens
    assert in_view(pts, view(60.0)).tolist() == [True, False, True, False]
    assert in_view(pts, view(100.0)).tolist() == [True, True, True, False]


def test_out_of_view_time_sums_the_intervals_outside():
    t = np.arange(6) * 0.5
    p = np.array([[0, 0, 0], [0.2, 0, 0], [0.2, 0, 0], [0, 0, 0], [0, 0, 0], [0.2, 0, 0]], float)
    tr = Track("tip", t, p)
    # samples 1 and 2 are out (45 deg > 30 deg); each holds for 0.5 s; the last sample ends the track
    assert tip_out_of_view_time(tr, [(0.0, view(60.0))]) == pytest.approx(1.0)
    assert tip_out_of_view_time(tr, []) == 0.0  # no view recorded: nothing to measure against
    # a wider view from t = 0.75 s on: only sample 1 (t 0.5) is out
    assert tip_out_of_view_time(tr, [(0.0, view(60.0)), (0.75, view(100.0))]) == pytest.approx(0.5)


def test_tips_and_views_come_from_the_log():
    inputs = {
        k: {"t": k / 90, "data": {"left_hand": {"position": [0.01 * k, 0.05, 0.0], "orientation": DOWN}}}
        for k in range(3)
    }
    events = [
        {
            "t": 0.0,
            "frame": 0,
            "type": "vrmed.analytics.view:EndoscopeView",
            "data": {"lens": [0, 0.2, 0], "axis": [0, -1, 0], "fov_deg": 70.0},
        }
    ]
    log = SimpleNamespace(inputs=inputs, events=events, header={})
    tips = tip_tracks_from_log(log, {"left_hand": 0.02})
    assert np.allclose(tips["left_hand"].p, [[0.0, 0.03, 0.0], [0.01, 0.03, 0.0], [0.02, 0.03, 0.0]])
    ((t0, v),) = views_from_log(log)
    assert t0 == 0.0 and v.fov_deg == 70.0 and v.axis == (0, -1, 0)
    assert tip_tracks_from_log(log, {"left_hand": 0.0}, t1=0.5 / 90)["left_hand"].t.shape == (1,)
