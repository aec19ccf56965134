"""Haptic devices: pose in, force out, with a 1 kHz servo loop beside the simulation.

The simulation publishes the tool proxy (where the simulated instrument is held by its
contacts) and the contact force at its physics rate; the servo loop runs at 1 kHz on its
own thread and renders ``F = F_contact + k (x_proxy - x_device) - b v_device`` (virtual
coupling, Colgate et al. 1995), interpolating the simulation's samples so the force the
hand feels changes smoothly between simulation steps.
"""

from .device import HapticDevice, HapticError, HapticUnavailable, SimulatedHapticDevice, open_openhaptics
from .loop import HapticLoop, HapticStats
from .plugin import HapticDisconnected, HapticInput, HapticPlugin, HapticTarget

__all__ = [
    "HapticDevice",
    "HapticDisconnected",
    "HapticError",
    "HapticInput",
    "HapticLoop",
    "HapticPlugin",
    "HapticStats",
    "HapticTarget",
    "HapticUnavailable",
    "SimulatedHapticDevice",
    "open_openhaptics",
]
