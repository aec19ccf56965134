"""vrmed: an engine for virtual-reality medical training simulators.

This module is the public surface packs may rely on; everything else can move.
"""

from .app import App, Commands, Plugin
from .clock import Rng, SimClock
from .errors import ConfigError, VrmedError
from .events import Event, EventReader
from .fields import AssetPath, array_field, component, quat, system, vec3
from .input import DeviceState, InputPlugin, InputState, Keyframe, ScriptedInput
from .recording import RecorderPlugin, SessionLog
from .schedule import PUBLIC_SETS, STAGE_MEANINGS, STAGES
from .version import __version__

__all__ = [
    "App",
    "AssetPath",
    "Commands",
    "ConfigError",
    "DeviceState",
    "Event",
    "EventReader",
    "InputPlugin",
    "InputState",
    "Keyframe",
    "PUBLIC_SETS",
    "Plugin",
    "RecorderPlugin",
    "Rng",
    "STAGES",
    "STAGE_MEANINGS",
    "ScriptedInput",
    "SessionLog",
    "SimClock",
    "VrmedError",
    "__version__",
    "array_field",
    "component",
    "quat",
    "system",
    "vec3",
]
