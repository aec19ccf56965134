"""Built-in components (installed as ``vrmed.components``): plain dataclasses, no behaviour."""

from .core import Name, Transform
from .visual import VisualMesh

#: Components every pack can use by name in YAML.
CORE_COMPONENTS: tuple[type, ...] = (Transform, Name, VisualMesh)

__all__ = ["CORE_COMPONENTS", "Name", "Transform", "VisualMesh"]
