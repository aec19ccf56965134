"""XR for vrmed: one small backend interface (:mod:`vrmed.xr.interface`), a pure-Python
simulated device (:mod:`vrmed.xr.simulated`), OpenXR through pyopenxr
(:mod:`vrmed.xr.openxr_backend`) and a simulated OpenXR runtime (:mod:`vrmed.xr.sim`).
See docs/xr.md."""

from __future__ import annotations

from .interface import (
    HANDS,
    HEAD,
    LEFT_HAND,
    RIGHT_HAND,
    ControllerState,
    EyeView,
    Fov,
    Pose,
    XrBackend,
    XrError,
    XrEvent,
    XrFrame,
    XrSessionEnded,
    XrUnavailable,
)
from .script import DeviceConfig, MotionScript, default_motion
from .simulated import SimulatedXr

__all__ = [
    "HANDS",
    "HEAD",
    "LEFT_HAND",
    "RIGHT_HAND",
    "ControllerState",
    "DeviceConfig",
    "EyeView",
    "Fov",
    "MotionScript",
    "Pose",
    "SimulatedXr",
    "XrBackend",
    "XrError",
    "XrEvent",
    "XrFrame",
    "XrSessionEnded",
    "XrUnavailable",
    "default_motion",
]
