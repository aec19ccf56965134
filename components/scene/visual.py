"""Render-side data: what an entity looks like (the renderer reads these)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vrmed.fields import AssetPath, array_field


@dataclass
class VisualMesh:
    """A surface mesh drawn at the entity's Transform. ``mesh`` is a pack asset (OBJ, STL,
    glTF or any format vrmed.mesh reads); ``color`` is linear RGBA in [0, 1]."""

    mesh: AssetPath
    color: np.ndarray = array_field((4,), (0.8, 0.45, 0.4, 1.0))
    scale: float = 1.0
