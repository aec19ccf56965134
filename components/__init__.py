"""Built-in components (installed as ``vrmed.components``): plain dataclasses, no behaviour."""

from .core import Name, Transform
from .render import Camera, Endoscope, Light
from .visual import VisualMesh

#: Components every pack can use by name in YAML.
CORE_COMPONENTS: tuple[type, ...] = (Transform, Name, VisualMesh, Camera, Light, Endoscope)

__all__ = ["CORE_COMPONENTS", "Camera", "Endoscope", "Light", "Name", "Transform", "VisualMesh"]
