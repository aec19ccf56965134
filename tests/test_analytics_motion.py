"""Motion metrics against trajectories whose metrics are known exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vrmed.analytics import (
    Track,
    bimanual_dexterity,
    economy_of_motion,
    idle_time,
    motion_metrics,
    normalized_jerk,
    number_of_movements,
    path_length,
    tracks_from_log,
)

RATE = 90.0


def track(name, fn, seconds):
    t = np.arange(int(seconds * RATE) + 1) / RATE
    return Track(name, t, np.array([fn(x) for x in t], dtype=float))


def circle(r, period):
    return lambda t: (r * math.cos(2 * math.pi * t / period), 0.1, r * math.sin(2 * math.pi * t / period))


def test_path_length_of_a_circle_is_its_circumference():
    tr = track("c", circle(0.05, 2.0), 2.0)
    assert path_length(tr) == pytest.approx(2 * math.pi * 0.05, rel=1e-3)


def test_movements_idle_time_and_economy_of_a_move_pause_move():
    # 1 s at 0.1 m/s along x, 1 s still, 1 s at 0.1 m/s along z: two straight moves.
    def p(t):
        if t <= 1:
            return (0.1 * t, 0.0, 0.0)
        if t <= 2:
            return (0.1, 0.0, 0.0)
        return (0.1, 0.0, 0.1 * (t - 2))

    tr = track("h", p, 3.0)
    assert number_of_movements(tr) == 2
    assert idle_time(tr) == pytest.approx(1.0, abs=1.5 / RATE)
    assert economy_of_motion(tr) == pytest.approx(1.0, abs=1e-9)
    assert path_length(tr) == pytest.approx(0.2, rel=1e-9)


def test_economy_of_a_detour_is_direct_over_travelled():
    # A half circle from A to B (diameter 0.1 m): direct 0.1, travelled pi * 0.05.
    tr = track("d", lambda t: (0.05 * math.cos(math.pi * t), 0.0, 0.05 * math.sin(math.pi * t)), 1.0)
    assert economy_of_motion(tr) == pytest.approx(0.1 / (math.pi * 0.05), rel=2e-3)


def test_bimanual_dexterity_is_speed_correlation():
    profile = lambda t: 0.05 * (1 - math.cos(2 * math.pi * t))  # noqa: E731 - a speed-varying stroke
    left = track("l", lambda t: (profile(t), 0, 0), 2.0)
    right = track("r", lambda t: (0, 0, profile(t)), 2.0)
    assert bimanual_dexterity(left, right) == pytest.approx(1.0, abs=1e-9)
    # One hand moves while the other rests, then the reverse: strongly negative.
    alt_l = track("l", lambda t: (0.1 * min(t, 1.0), 0, 0), 2.0)
    alt_r = track("r", lambda t: (0, 0, 0.1 * max(t - 1.0, 0.0)), 2.0)
    assert bimanual_dexterity(alt_l, alt_r) < -0.9


def test_normalized_jerk_minimum_jerk_move_beats_a_jerky_one():
    # Minimum-jerk profile (Hogan & Flash 1987): its jerk integral is 720 D^2 / T^5, so the
    # normalised jerk is exactly sqrt(360) (finite differences at 90 Hz lose a few percent
    # at the ends); a wobbly move is far jerkier.
    smooth = track("s", lambda t: (0.1 * (10 * t**3 - 15 * t**4 + 6 * t**5), 0, 0), 1.0)
    jerky = track("j", lambda t: (0.1 * t + 0.003 * math.sin(40 * t), 0, 0), 1.0)
    assert normalized_jerk(smooth) == pytest.approx(math.sqrt(360), rel=0.06)
    assert normalized_jerk(jerky) > 5 * normalized_jerk(smooth)


def test_metrics_from_a_recorded_session():
    from vrmed.session import build_session, open_target

    pack, scenario = open_target("sandbox")
    session = build_session(pack, scenario, seed=0)
    try:
        session.run()
        log = session.finish()
    finally:
        session.close()
    tracks = tracks_from_log(log)
    hand = tracks["right_hand"]
    # The script: still for 1.5 s, then 0.5 m along x over 3 s and straight on 0.25 m up
    # over 0.5 s (one movement with a corner), then still.
    assert path_length(hand) == pytest.approx(0.5 + 0.25, rel=1e-3)
    m = motion_metrics(hand)
    assert m.movements == 1
    assert m.economy_of_motion == pytest.approx(math.hypot(0.5, 0.25) / 0.75, rel=1e-3)
    assert m.idle_time_s == pytest.approx(1.5 + 1.0, abs=0.05)  # before the sweep and after the lift


def test_bad_tracks_are_rejected():
    with pytest.raises(ValueError, match="sample times must increase"):
        Track("x", np.array([0.0, 0.0]), np.zeros((2, 3)))
