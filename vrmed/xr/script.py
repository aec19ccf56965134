"""Scripted head and controller motion shared by the simulated device and the simulated
OpenXR runtime: a pure function of time, so every run sees exactly the same poses."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..geometry import compose, quat_from_axis_angle, quat_multiply
from .interface import HEAD, LEFT_HAND, RIGHT_HAND, EyeView, Fov, Pose

Sample = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class DeviceConfig:
    """The simulated headset: eye separation, per-eye field of view, eye image size, rate."""

    ipd: float = 0.064
    #: Left eye FOV; the right eye mirrors it (real headsets are canted outwards like this).
    fov_left_eye: Fov = Fov(-0.80, 0.70, 0.75, -0.80)
    width: int = 64
    height: int = 64
    rate: float = 90.0

    def eye_fov(self, eye: int) -> Fov:
        """Field of view of eye 0 (left) or 1 (right)."""
        f = self.fov_left_eye
        return f if eye == 0 else Fov(-f.angle_right, -f.angle_left, f.angle_up, f.angle_down)

    def frame_time_ns(self, frame: int) -> int:
        """Display time of frame ``frame`` in integer nanoseconds (exact, no drift)."""
        return (frame * 10**9 * 1000) // round(self.rate * 1000)

    @property
    def period_ns(self) -> int:
        """Nominal frame period in nanoseconds."""
        return self.frame_time_ns(1)

    def eyes(self, head: Pose) -> tuple[EyeView, EyeView]:
        """Both eyes for a head pose: offset by half the IPD along the head's x axis."""
        out = []
        for eye, dx in ((0, -self.ipd / 2), (1, self.ipd / 2)):
            pos, rot = compose(head.position, head.orientation, (dx, 0.0, 0.0), (1.0, 0.0, 0.0, 0.0))
            out.append(EyeView(eye, Pose(pos, rot), self.eye_fov(eye), self.width, self.height))
        return out[0], out[1]


#: The default head's pitch: 60 degrees down (a rotation about the head's +X axis).
_LOOK_DOWN = quat_from_axis_angle((1, 0, 0), math.radians(-60.0))


def default_motion(t: float) -> Sample:
    """The built-in script: the head stands at 1.6 m looking down 60 degrees (at the floor
    around the feet, where the sandbox's balls bounce) and turns +-30 degrees every 4 s, the
    hands trace small circles in front of the body, the right trigger is pulled during the
    second half of every 2 s and the left squeeze during the first."""
    yaw = math.radians(30.0) * math.sin(2 * math.pi * t / 4.0)
    head = Pose((0.0, 1.6, 0.0), quat_multiply(quat_from_axis_angle((0, 1, 0), yaw), _LOOK_DOWN))
    phase = 2 * math.pi * t / 3.0
    left = Pose((-0.2 + 0.05 * math.cos(phase), 1.2 + 0.05 * math.sin(phase), -0.3))
    right = Pose((0.2 + 0.05 * math.cos(phase), 1.2 + 0.05 * math.sin(phase), -0.3))
    second_half = (t % 2.0) >= 1.0
    return {
        HEAD: head.as_sample(),
        LEFT_HAND: {**left.as_sample(), "buttons": {"squeeze": 0.0 if second_half else 1.0}},
        RIGHT_HAND: {**right.as_sample(), "buttons": {"trigger": 1.0 if second_half else 0.0}},
    }


class MotionScript:
    """Poses and buttons of ``head``, ``left_hand`` and ``right_hand`` as a function of time.

    ``base`` is a function of time (default :func:`default_motion`); ``overrides`` is any
    object with ``sample(time, frame)`` (e.g. a scenario's :class:`vrmed.input.ScriptedInput`)
    whose devices replace the base's field by field, so a scenario's scripted hand drives
    the simulated controller while the head keeps its default motion.
    """

    def __init__(self, base: Callable[[float], Sample] | None = None, overrides: Any | None = None) -> None:
        self._base = base or default_motion
        self._overrides = overrides

    def sample(self, t: float, frame: int = 0) -> Sample:
        """Every device's state at ``t`` seconds."""
        out = {dev: dict(data) for dev, data in self._base(t).items()}
        if self._overrides is not None:
            for dev, data in self._overrides.sample(t, frame).items():
                merged = out.setdefault(dev, {})
                for key, value in data.items():
                    if key == "buttons":
                        merged["buttons"] = {**merged.get("buttons", {}), **value}
                    else:
                        merged[key] = value
        return out

    def pose(self, sample: Sample, device: str) -> Pose | None:
        """The pose of ``device`` in a sample, or None if the script does not track it."""
        data = sample.get(device)
        if not data or "position" not in data:
            return None
        return Pose(tuple(data["position"]), tuple(data.get("orientation", (1.0, 0.0, 0.0, 0.0))))
