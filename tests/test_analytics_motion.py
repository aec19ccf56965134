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
from vrmed.analytics.motion import MINIMUM_JERK_DJ

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
    # the 6 Hz filter rounds the instantaneous starts and stops over ~0.1 s
    assert idle_time(tr) == pytest.approx(1.0, abs=0.1)
    # stopping at the corner does not make the detour economical: the reference is the
    # straight line A -> B ...
    assert economy_of_motion(tr) == pytest.approx(math.hypot(0.1, 0.1) / 0.2, rel=0.01)
    # ... unless the task requires the corner (a waypoint there), then the path is ideal
    assert economy_of_motion(tr, waypoints=[1.5]) == pytest.approx(1.0, abs=0.01)
    assert path_length(tr) == pytest.approx(0.2, rel=0.01)


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


def minimum_jerk(amplitude=0.1, duration=1.0, start=0.5):
    def p(t):
        s = min(max((t - start) / duration, 0.0), 1.0)
        return (amplitude * (10 * s**3 - 15 * s**4 + 6 * s**5), 0.0, 0.0)

    return p


def back_and_forth(amplitude=0.1, duration=1.0, period=3.0):
    """Reach out, rest, reach back, rest: minimum-jerk moves every ``period`` / 2 s."""
    out = minimum_jerk(amplitude, duration, 0.25)

    def p(t):
        k, r = divmod(t, period / 2)
        x = out(r)[0]
        return (x if int(k) % 2 == 0 else amplitude - x, 0.0, 0.0)

    return p


def test_dimensionless_jerk_is_per_movement_and_size_free():
    # Minimum-jerk movement (Flash & Hogan 1985) delimited at 5 % of its peak speed:
    # T^3 / v_peak^2 * integral |j|^2 dt = MINIMUM_JERK_DJ (82.1) for any amplitude and
    # duration (the module derives it); the 6 Hz filter lowers it (rounds the jerk peaks).
    small = track("s", minimum_jerk(0.05, 1.0), 2.0)
    big = track("b", minimum_jerk(0.2, 1.5), 2.5)
    for tr in (small, big):
        assert normalized_jerk(tr) == pytest.approx(MINIMUM_JERK_DJ, rel=0.2)
    assert normalized_jerk(big) == pytest.approx(normalized_jerk(small), rel=0.1)
    wobbly = track("j", lambda t: (0.1 * t + 0.003 * math.sin(40 * t), 0, 0), 1.0)
    assert normalized_jerk(wobbly) > 5 * normalized_jerk(small)
    # per movement: twenty identical reaches score as one does (the old whole-session
    # measure grew with duration^2.5)
    many = track("m", back_and_forth(0.1, 1.0, 3.0), 30.0)
    assert number_of_movements(many) == 20
    assert normalized_jerk(many) == pytest.approx(normalized_jerk(track("o", minimum_jerk(0.1), 2.0)), rel=0.15)


def jittered(tr, sigma, seed=0):
    rng = np.random.default_rng(seed)
    return Track(tr.name, tr.t, tr.p + rng.normal(0.0, sigma, tr.p.shape))


def test_a_still_hand_with_tracker_jitter_is_still():
    # 0.3 mm RMS jitter for a minute at 90 Hz: raw differences give ~2 m of "path" and
    # dozens of "movements"; filtered, it stays at rest.
    still = jittered(track("s", lambda t: (0.0, 0.1, 0.0), 60.0), 0.0003)
    m = motion_metrics(still)
    assert m.movements == 0 and m.path_length_m < 0.002 and m.idle_time_s > 59.5
    assert float(np.linalg.norm(np.diff(still.p, axis=0), axis=1).sum()) > 1.0  # what raw samples would say


@pytest.mark.parametrize("rate", [30.0, 60.0, 90.0, 120.0])
def test_one_reach_with_jitter_at_any_sampling_rate(rate):
    t = np.arange(int(3.0 * rate) + 1) / rate
    clean = Track("r", t, np.array([minimum_jerk(0.1, 1.0, 1.0)(x) for x in t]))
    noisy = jittered(clean, 0.0003, seed=int(rate))
    m = motion_metrics(noisy)
    assert m.movements == 1
    assert m.path_length_m == pytest.approx(0.1, rel=0.05)
    assert m.economy_of_motion == pytest.approx(1.0, abs=0.05)
    assert m.idle_time_s == pytest.approx(2.0, abs=0.15)
    # spectral arc length is robust to the jitter and the rate (Balasubramanian et al. 2015)
    assert m.sparc == pytest.approx(motion_metrics(clean).sparc, abs=0.05)
    assert -1.7 < m.sparc < -1.3


def test_pauses_truncation_and_windows():
    two = track("t", back_and_forth(0.1, 1.0, 6.0), 6.0)  # out at 0.25-1.25 s, back at 3.25-4.25 s
    assert number_of_movements(two) == 2
    # cut in the middle of the way back: a partial movement still counts once
    cut = two.window(0.0, 3.75)
    m = motion_metrics(cut)
    assert m.movements == 2 and m.window_end_s == pytest.approx(3.75, abs=0.02) and m.window_start_s == 0.0
    assert m.path_length_m == pytest.approx(0.1 + 0.05, rel=0.05)


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
    assert path_length(hand) == pytest.approx(0.5 + 0.25, rel=0.01)  # the filter rounds the corner
    m = motion_metrics(hand)
    assert m.movements == 1
    assert m.economy_of_motion == pytest.approx(math.hypot(0.5, 0.25) / 0.75, rel=0.01)
    # before the sweep and after the lift; the scripted hand starts and stops abruptly, and
    # the zero-lag 6 Hz filter spreads a velocity step over about +-0.08 s
    assert m.idle_time_s == pytest.approx(1.5 + 1.0, abs=0.2)


def test_bad_tracks_are_rejected():
    with pytest.raises(ValueError, match="sample times must increase"):
        Track("x", np.array([0.0, 0.0]), np.zeros((2, 3)))
