"""Scene components every pack can use: names, transforms, cameras, lights, visual meshes."""

from .core import Name, Transform
from .interaction import Interactable
from .render import (
    ActiveView,
    Camera,
    Endoscope,
    HudState,
    HudText,
    Light,
    MonitorAlarm,
    MonitorPanel,
    MonitorReadout,
    VitalTrace,
)
from .visual import VisualMesh

#: Components every pack can use by name in YAML.
CORE_COMPONENTS: tuple[type, ...] = (Transform, Name, VisualMesh, Camera, Light, Endoscope, Interactable)

__all__ = [
    "CORE_COMPONENTS",
    "ActiveView",
    "Camera",
    "Endoscope",
    "HudState",
    "HudText",
    "Interactable",
    "Light",
    "MonitorAlarm",
    "MonitorPanel",
    "MonitorReadout",
    "Name",
    "Transform",
    "VisualMesh",
    "VitalTrace",
]
