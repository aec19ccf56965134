"""What the desktop play-through tests share: aiming a laparoscopic tool through its port (the
inverse of ``vrmed.systems.instruments.manual.frame_of``) and the xdotool events that take a
hand's desktop control targets to an aim (tests/test_desktop_play.py, test_desktop_scissors.py,
test_desktop_pattern_cutting.py)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from test_desktop_play import xdo

GAIN = 0.0015  # DEFAULT_SETTINGS["mouse_rad_per_px"]
WHEEL = 0.003  # DEFAULT_SETTINGS["wheel_m_per_notch"]
ROLL_RATE = 2.0  # DEFAULT_SETTINGS["key_roll_rad_per_s"]: Q/E held


def port_aim(pose: Any, point: np.ndarray) -> tuple[float, float, float, np.ndarray]:
    """(yaw, pitch, distance from the port, unit shaft direction) that put the point of the tool
    at the shaft's end (its hinge for ``frame_of``) at ``point``: the inverse of ``frame_of``
    for a tool turning about its port (``pose.port``) from its start direction ``pose.d0``."""
    v = np.asarray(point, float) - pose.port
    dist = float(np.linalg.norm(v))
    d = v / dist
    a, b = pose.d0[0], -pose.d0[1]
    r, phi = math.hypot(a, b), math.atan2(b, a)
    c = math.acos(max(-1.0, min(1.0, d[0] / r)))
    yaw = min((phi + c, phi - c), key=abs)
    vy, vz = pose.d0[0] * math.sin(yaw) + pose.d0[1] * math.cos(yaw), pose.d0[2]
    pitch = (math.atan2(d[2], d[1]) - math.atan2(vz, vy) + math.pi) % (2 * math.pi) - math.pi
    return yaw, pitch, dist, d


def blade_rolls(pose: Any, q: np.ndarray, d: np.ndarray, line: np.ndarray) -> list[float]:
    """The two rolls (rad, in (-pi, pi]) that turn the blade plane (normal: the tool's y axis) of
    a tool aimed at ``q`` along ``d`` to hold the shaft and the world direction ``line``."""
    from vrmed.systems.instruments.manual import frame_of  # deferred: the feature under test

    _, frame = frame_of(pose, q)
    n = np.cross(d, line)
    n /= np.linalg.norm(n)
    rolls = []
    for s in (1.0, -1.0):  # x = y cross z with y = +-n, z = -d
        x = np.cross(s * n, -d)
        x /= np.linalg.norm(x)
        rolls.append(math.atan2(float(np.cross(frame[:, 0], x) @ d), float(frame[:, 0] @ x)))
    return rolls


def send_toward(source: Any, hand: str, q: np.ndarray, roll_tol: float, rate: float) -> tuple[int, str] | None:
    """Send the events that take ``hand``'s desktop targets (yaw, pitch, insertion, roll) to
    ``q``: Tab when the mouse drives the other hand, mouse motion and wheel notches, else the
    roll key held. Returns (frames to wait, the roll key now held or "") or None once there."""
    t = source.targets
    px = round((q[0] - t[f"{hand}.yaw"]) / GAIN)
    py = -round((q[1] - t[f"{hand}.pitch"]) / GAIN)
    notches = round((q[2] - t[f"{hand}.insert"]) / WHEEL)
    roll = q[3] - t[f"{hand}.roll"]
    cmd: list[str] = []
    if source.active != source.hands.index(hand):
        cmd += ["key", "Tab"]
    if px or py:
        cmd += ["mousemove_relative", "--", str(px), str(py)]
    if notches:
        cmd += ["click", "--repeat", str(abs(notches)), "--delay", "1", "4" if notches > 0 else "5"]
    if cmd:
        xdo(*cmd)
        return 1, ""  # let GLFW deliver them before checking again
    if abs(roll) > roll_tol:
        key = "e" if roll > 0 else "q"
        xdo("keydown", key)
        # held for the frames the roll needs (at least one), then released and checked
        return max(0, round(abs(roll) * rate / ROLL_RATE) - 1), key
    return None
