"""What a person can point at: :class:`Interactable` marks an entity (a defibrillator, a
syringe tray, the patient's wristband) as a target for the desktop mouse pointer and the
headset controller ray. The scenario's ``interaction.actions`` say which actions it offers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vrmed.fields import vec3


@dataclass
class Interactable:
    """A pointable target on an entity, in the entity's local frame (its ``Transform``).

    The target is a box of ``half_extents`` (m) centred at ``offset`` (m) when any half
    extent is non-zero, else a sphere of ``radius`` (m) at ``offset``. ``label`` is what the
    pointer's tooltip and the action menu title show (the entity name when empty).
    ``enabled`` false hides it from pointing (e.g. equipment not yet in the room).
    """

    label: str = ""
    radius: float = 0.15
    half_extents: np.ndarray = vec3(0.0, 0.0, 0.0)
    offset: np.ndarray = vec3(0.0, 0.0, 0.0)
    enabled: bool = True

    def __post_init__(self) -> None:
        if not self.radius > 0.0 or not np.isfinite(self.radius):
            raise ValueError(f"radius must be a positive number of metres, got {self.radius}")
        ext = np.asarray(self.half_extents, dtype=float)
        if ext.shape != (3,) or not np.all(np.isfinite(ext)) or np.any(ext < 0.0):
            raise ValueError(f"half_extents must be three non-negative numbers (m), got {self.half_extents}")
        if np.any(ext > 0.0) and not np.all(ext > 0.0):
            raise ValueError(f"a box needs all three half_extents above zero, got {list(ext)}")
