"""Haptic devices: pose in, force out, with a servo loop the simulation cannot stall.

The simulation publishes a local force model (contact planes with the local tissue
stiffness, event cues) at its physics rate; the servo loop evaluates it at the device's
position at 1-4 kHz in compiled code outside Python's interpreter lock, with a passivity
controller and NaN-safe device limits (docs/haptics.md).
"""

from .calibration import Calibration, load_calibration, load_station, save_calibration, stations_dir
from .device import (
    DEVICE_LIMITS,
    DeviceLimits,
    HapticDevice,
    HapticError,
    HapticUnavailable,
    NativeDevice,
    SimulatedHapticDevice,
    open_forcedimension,
    open_openhaptics,
)
from .loop import HapticLoop, HapticStats
from .model import ContactLinearizer, ContactPlane, Cue, LocalModel
from .native import ForceDimensionDevice
from .plugin import (
    BUTTON_NAMES,
    DEFAULT_CUES,
    CueSpec,
    HapticDisconnected,
    HapticEvents,
    HapticInput,
    HapticPlugin,
    HapticTarget,
    HapticTrackingLost,
    ToolReport,
)

__all__ = [
    "BUTTON_NAMES",
    "DEFAULT_CUES",
    "DEVICE_LIMITS",
    "Calibration",
    "ContactLinearizer",
    "ContactPlane",
    "Cue",
    "CueSpec",
    "DeviceLimits",
    "ForceDimensionDevice",
    "HapticDevice",
    "HapticDisconnected",
    "HapticError",
    "HapticEvents",
    "HapticInput",
    "HapticLoop",
    "HapticPlugin",
    "HapticStats",
    "HapticTarget",
    "HapticTrackingLost",
    "HapticUnavailable",
    "LocalModel",
    "NativeDevice",
    "SimulatedHapticDevice",
    "ToolReport",
    "load_calibration",
    "load_station",
    "open_forcedimension",
    "open_openhaptics",
    "save_calibration",
    "stations_dir",
]
