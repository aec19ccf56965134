"""Render-side scene components: the camera that looks at the scene and the light on it.

Both are plain dataclasses settable from YAML. The renderer (:mod:`vrmed.render`) uses the
first entity carrying a :class:`Camera` (or :class:`Light`); without one it uses the
:class:`~vrmed.render.plugin.RenderPlugin`'s defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vrmed.fields import vec3


@dataclass
class Camera:
    """A perspective look-at camera: ``position`` and ``target`` in metres (world space),
    ``up`` a world direction, ``fov_deg`` the vertical field of view in degrees, ``near``
    and ``far`` the clip distances in metres."""

    position: np.ndarray = vec3(0.0, 0.4, 1.0)
    target: np.ndarray = vec3(0.0, 0.15, 0.0)
    up: np.ndarray = vec3(0.0, 1.0, 0.0)
    fov_deg: float = 50.0
    near: float = 0.02
    far: float = 50.0

    def __post_init__(self) -> None:
        if not 0.0 < self.fov_deg < 180.0:
            raise ValueError(f"fov_deg must be between 0 and 180 degrees, got {self.fov_deg}")
        if not 0.0 < self.near < self.far:
            raise ValueError(f"need 0 < near < far (metres), got near={self.near}, far={self.far}")


@dataclass
class Light:
    """One directional light plus hemispheric ambient. ``direction`` points from the scene
    towards the light (normalised on use); colours are linear RGB; ``intensity`` scales the
    direct light, ``ambient`` the sky/ground fill."""

    direction: np.ndarray = vec3(0.35, 1.0, 0.45)
    color: np.ndarray = vec3(1.0, 0.97, 0.92)
    intensity: float = 2.6
    ambient: float = 0.35

    def __post_init__(self) -> None:
        if self.intensity < 0 or self.ambient < 0:
            raise ValueError("light intensity and ambient must be zero or more")
