"""Components every scene uses: where a thing is and what it is called."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vrmed.fields import quat, vec3


@dataclass
class Transform:
    """Pose of an entity in world space: position (m), orientation (unit quaternion
    w, x, y, z) and per-axis scale."""

    position: np.ndarray = vec3()
    orientation: np.ndarray = quat()
    scale: np.ndarray = vec3(1.0, 1.0, 1.0)


@dataclass
class Name:
    """The scenario-unique name of an entity (how scripts and logs refer to it)."""

    value: str
