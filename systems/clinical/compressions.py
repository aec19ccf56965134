"""Chest compressions from an input device: a ``CompressionSensor`` watches a tracked
device (a VR controller on the manikin's chest, or scripted keyframes) and sends
``CompressionsStarted(rate, depth)`` / ``CompressionsStopped`` as a scripted learner would.

Detection: the device's height is followed with a hysteresis of ``HYSTERESIS_CM``; each
turn from falling to rising closes a downstroke whose depth is the fall from the last top.
Rate is 60 / (time between two bottoms), smoothed over successive compressions
(exponential, weight ``SMOOTHING``). A new ``CompressionsStarted`` is sent when the
measured rate or depth moves by more than ``REPORT_RATE`` /min or ``REPORT_DEPTH_CM``, so
the physiology always works with the current quality.
"""

from __future__ import annotations

import math

from vrmed.app import App
from vrmed.components.clinical.patient import CompressionSensor
from vrmed.input import InputState

from . import events as ev

HYSTERESIS_CM = 0.5
SMOOTHING = 0.5
REPORT_RATE = 5.0
REPORT_DEPTH_CM = 0.5


def compression_step(app: App) -> None:
    """Update every compression sensor from this frame's input sample."""
    sensors = app.query(CompressionSensor)
    if not sensors:
        return
    inputs = app.resource(InputState)
    now = app.clock.time
    for _, s in sensors:  # one per rescuer's hand: a handful at most
        y = float(inputs.device(s.device).position[s.axis]) * 100.0  # cm
        if math.isnan(s.extreme):
            s.extreme = s.top = y
            continue
        if s.falling:
            if y < s.extreme:
                s.extreme = y
            elif y > s.extreme + HYSTERESIS_CM:  # bottom reached: a downstroke ended
                depth = s.top - s.extreme
                if depth >= s.min_depth_cm:
                    _compression(app, s, now, depth)
                s.falling, s.extreme = False, y
        else:
            if y > s.extreme:
                s.extreme = y
            elif y < s.extreme - HYSTERESIS_CM:  # top reached: recoil ended
                s.falling, s.top, s.extreme = True, s.extreme, y
        if s.active and now - s.last_bottom_t > s.stop_after_s:
            s.active = False
            s.count = 0
            app.send(ev.CompressionsStopped(s.patient))


def _compression(app: App, s: CompressionSensor, now: float, depth: float) -> None:
    if s.count > 0 and s.last_bottom_t >= 0 and now - s.last_bottom_t <= s.stop_after_s:
        rate = 60.0 / max(now - s.last_bottom_t, 1e-6)
        s.rate_per_min = rate if s.count == 1 else SMOOTHING * rate + (1 - SMOOTHING) * s.rate_per_min
        s.depth_cm = depth if s.count == 1 else SMOOTHING * depth + (1 - SMOOTHING) * s.depth_cm
        if (
            not s.active
            or abs(s.rate_per_min - s.reported_rate) > REPORT_RATE
            or abs(s.depth_cm - s.reported_depth) > REPORT_DEPTH_CM
        ):
            s.active = True
            s.reported_rate, s.reported_depth = s.rate_per_min, s.depth_cm
            app.send(ev.CompressionsStarted(s.patient, round(s.rate_per_min, 1), round(s.depth_cm, 2)))
    s.count += 1
    s.last_bottom_t = now
