"""Render-side data: what an entity looks like (the renderer reads these)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vrmed.fields import ArraySpec, AssetPath, as_scale, scale3
from vrmed.mesh.io import GLTF_SUFFIXES, check_gltf
from vrmed.mesh.meshtypes import MeshError


@dataclass
class VisualMesh:
    """A surface mesh drawn at the entity's Transform, ``scale`` times its size.

    ``mesh`` is a pack asset: glTF 2.0 (``.glb``/``.gltf``, drawn with its PBR materials
    and base colour textures), OBJ, STL, PLY or any format vrmed.mesh reads; units metres,
    +Y up. ``color`` is linear RGBA in [0, 1]. For a mesh without materials (OBJ, STL, a
    glTF primitive without one) it is the surface colour (default: tissue pink, (0.8,
    0.45, 0.4, 1)); for a glTF material it **multiplies** the material's base colour and
    texture (default: white, the asset as authored), e.g. ``[0.6, 0.6, 0.6, 1]`` darkens it.

    ``roughness`` (0 mirror .. 1 matte) overrides the base roughness (None: the glTF
    material's, or 0.45 for a mesh without materials). ``wetness`` (0..1) is the weight of
    the sharp wet-film highlight and tissue scattering: 0 (the default) is a dry surface
    (plastic, metal, fabric), ~0.6 wet tissue. ``shadow`` (default true) lets the mesh cast
    a contact shadow on the floor (its footprint, softened; small meshes a ball's).

    A glTF file is checked when the component is made (so a pack's broken asset is
    reported by the pack loader, with the YAML line): a ValueError names the file and the
    problem. The check reads the file once; later instances cost one ``stat``.
    """

    mesh: AssetPath
    color: np.ndarray | None = field(default=None, metadata={"vrmed_array": ArraySpec((4,))})
    #: per-axis factors on the mesh's size; YAML (and Python) take one number for a uniform
    #: scale or three numbers, like ``Transform.scale`` (the drawn size is their product)
    scale: np.ndarray = scale3()
    roughness: float | None = None
    wetness: float = 0.0
    shadow: bool = True

    def __post_init__(self) -> None:
        self.scale = as_scale(self.scale)
        if self.roughness is not None:
            self.roughness = float(self.roughness)
            if not 0.0 <= self.roughness <= 1.0:
                raise ValueError(f"roughness must be in [0, 1], got {self.roughness}")
        self.wetness = float(self.wetness)
        if not 0.0 <= self.wetness <= 1.0:
            raise ValueError(f"wetness must be in [0, 1], got {self.wetness}")
        self.shadow = bool(self.shadow)
        if self.color is not None:
            self.color = np.asarray(self.color, np.float64).reshape(4)
        path = Path(self.mesh)
        if path.suffix.lower() in GLTF_SUFFIXES and path.is_file():
            try:
                check_gltf(path)
            except MeshError as exc:  # the pack loader reports ValueErrors with file:line: key
                raise ValueError(str(exc)) from None
