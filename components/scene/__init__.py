"""Scene components every pack can use: names, transforms, cameras, lights, visual meshes."""

from .core import Name, Transform
from .render import ActiveView, Camera, Endoscope, HudState, HudText, Light, MonitorPanel, VitalTrace
from .visual import VisualMesh

#: Components every pack can use by name in YAML.
CORE_COMPONENTS: tuple[type, ...] = (Transform, Name, VisualMesh, Camera, Light, Endoscope)

__all__ = [
    "CORE_COMPONENTS",
    "ActiveView",
    "Camera",
    "Endoscope",
    "HudState",
    "HudText",
    "Light",
    "MonitorPanel",
    "Name",
    "Transform",
    "VisualMesh",
    "VitalTrace",
]
