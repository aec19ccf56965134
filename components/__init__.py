"""Built-in components (installed as ``vrmed.components``): plain dataclasses, no behaviour.

One feature is one folder (``tissue/``, ``collision/``, ``instruments/``, ``planar/``,
``clinical/``); ``scene/`` holds what every scene uses (names, transforms, cameras, lights,
visual meshes), which the core may import. Components never import systems.
"""

from .scene import CORE_COMPONENTS, Camera, Endoscope, Light, Name, Transform, VisualMesh

__all__ = ["CORE_COMPONENTS", "Camera", "Endoscope", "Light", "Name", "Transform", "VisualMesh"]
