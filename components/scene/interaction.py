"""What a person can point at: :class:`Interactable` marks an entity (a defibrillator, a
syringe tray, the patient's wristband) as a target for the desktop mouse pointer and the
headset controller ray. The scenario's ``interaction.actions`` say which actions it offers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vrmed.fields import AssetPath, vec3
from vrmed.mesh.meshtypes import MeshError

#: The pick shapes (empty: a box when half_extents are set, else a sphere).
SHAPES = ("", "box", "sphere", "mesh")


@dataclass
class Interactable:
    """A pointable target on an entity, in the entity's local frame (its ``Transform``).

    The target is a box of ``half_extents`` (m) centred at ``offset`` (m) when any half
    extent is non-zero, else a sphere of ``radius`` (m) at ``offset``. ``label`` is what the
    pointer's tooltip and the action menu title show (the entity name when empty).
    ``enabled`` false hides it from pointing (e.g. equipment not yet in the room).

    ``shape`` names the target explicitly: ``box``, ``sphere`` or ``mesh`` (empty: box or
    sphere as above). ``mesh`` picks exactly against the triangles of the surface file
    ``mesh`` (a pack asset, in the entity's frame, scaled by its ``VisualMesh.scale`` like the
    drawn mesh; ``offset`` and the box/sphere fields are ignored), read and prepared when the
    component is made (:mod:`vrmed.mesh.pick`). A mesh target follows what is drawn: it is
    skipped while its ``VisualMesh`` colour has alpha 0 (hidden) and, unless
    ``pick_translucent`` is true, while the alpha is below 1 (a translucent, peeled layer the
    pointer passes through), and the ``ClipPlane`` resource cuts it as it cuts the drawn mesh.
    """

    label: str = ""
    radius: float = 0.15
    half_extents: np.ndarray = vec3(0.0, 0.0, 0.0)
    offset: np.ndarray = vec3(0.0, 0.0, 0.0)
    enabled: bool = True
    shape: str = ""
    mesh: AssetPath | None = None
    pick_translucent: bool = False

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"shape must be one of {', '.join(s for s in SHAPES if s)}, got {self.shape!r}")
        if self.shape == "mesh":
            if not self.mesh:
                raise ValueError("shape: mesh needs `mesh:` (the surface file to pick against, relative to the pack)")
            # deferred: numba (the pick kernel) loads only for packs that use mesh targets
            from vrmed.mesh.pick import load_pick_mesh

            try:
                load_pick_mesh(self.mesh)  # read and prepared now: a broken file is reported at load
            except MeshError as exc:
                raise ValueError(str(exc)) from None
        elif self.mesh is not None:
            raise ValueError(f"`mesh:` is used only with shape: mesh (this target's shape is {self.shape or 'auto'!r})")
        if not self.radius > 0.0 or not np.isfinite(self.radius):
            raise ValueError(f"radius must be a positive number of metres, got {self.radius}")
        ext = np.asarray(self.half_extents, dtype=float)
        if ext.shape != (3,) or not np.all(np.isfinite(ext)) or np.any(ext < 0.0):
            raise ValueError(f"half_extents must be three non-negative numbers (m), got {self.half_extents}")
        if np.any(ext > 0.0) and not np.all(ext > 0.0):
            raise ValueError(f"a box needs all three half_extents above zero, got {list(ext)}")
        if self.shape == "box" and not np.all(ext > 0.0):
            raise ValueError("shape: box needs half_extents (three numbers above zero, m)")
