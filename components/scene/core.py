"""Components every scene uses: where a thing is and what it is called."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vrmed.fields import quat, scale3, vec3


@dataclass
class Transform:
    """Pose of an entity in world space: position (m), orientation (unit quaternion
    w, x, y, z) and per-axis scale (YAML: three numbers, or one for a uniform scale)."""

    position: np.ndarray = vec3()
    orientation: np.ndarray = quat()
    scale: np.ndarray = scale3()


@dataclass
class Name:
    """The scenario-unique name of an entity (how scripts and logs refer to it)."""

    value: str
