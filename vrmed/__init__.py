"""vrmed: an engine for virtual-reality medical training simulators.

This module is the kernel of the public surface (App, systems, components, events, input,
settings); :mod:`vrmed.api` is the whole pack API and re-exports these names. Everything
else can move.
"""

from .app import App, Commands, Plugin
from .clock import Rng, SimClock
from .errors import ConfigError, VrmedError
from .events import Event, EventReader
from .fields import AssetPath, array_field, component, quat, scale3, system, vec3
from .input import DeviceState, InputPlugin, InputState, Keyframe, ScriptedInput
from .recording import RecorderPlugin, SessionLog
from .schedule import PUBLIC_SETS, STAGE_MEANINGS, STAGES
from .settings import SimSettings
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
    "SimSettings",
    "VrmedError",
    "__version__",
    "array_field",
    "component",
    "quat",
    "scale3",
    "system",
    "vec3",
]
