"""How a soft-tissue body looks: base colour, surface finish, marked bands and surface vessels (plain data).

The instruments feature's drawing (``vrmed.systems.instruments.draw``) reads
:class:`TissueAppearance` from the entity of every :class:`~vrmed.components.tissue.softbody.SoftBody`
whose boundary surface it draws; a body without one gets :data:`DEFAULT_TISSUE_COLOR`. Burned
tissue darkens on top of this (``InstrumentWorld.burned``), so the colour is the healthy one.
Colours are linear RGBA in [0, 1] (the renderer encodes to sRGB).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vrmed.fields import array_field, vec3

#: Linear RGBA of tissue drawn without a TissueAppearance (a generic pink organ).
DEFAULT_TISSUE_COLOR = (0.8, 0.45, 0.4, 1.0)


@dataclass
class TissueBand:
    """A band marked on a tissue surface (a line to cut or cauterise along, a target zone).

    It covers the surface points whose **rest** position ``p`` satisfies
    ``|p . axis - center| <= half_width`` (metres; ``axis`` is normalised on load), so it
    is painted on the material and follows every deformation. ``color`` is linear RGBA;
    ``offset`` (m) lifts the drawn band off the surface along its normal so it never sinks
    into it (keep it well below the tissue's thickness: a fraction of a millimetre).
    """

    center: float = 0.0
    half_width: float = 0.001
    axis: np.ndarray = vec3(1.0, 0.0, 0.0)
    color: np.ndarray = array_field((4,), (0.35, 0.06, 0.55, 1.0))
    offset: float = 0.0002

    def __post_init__(self) -> None:
        axis = np.asarray(self.axis, np.float64)
        norm = float(np.linalg.norm(axis))
        if not np.all(np.isfinite(axis)) or norm < 1e-12:
            raise ValueError(f"TissueBand: axis must be a non-zero vector, got {list(axis)}")
        self.axis = axis / norm
        if not (np.isfinite(self.half_width) and self.half_width > 0):
            raise ValueError(f"TissueBand: half_width must be > 0 m, got {self.half_width}")
        if not (np.isfinite(self.offset) and self.offset >= 0):
            raise ValueError(f"TissueBand: offset must be >= 0 m, got {self.offset}")
        _check_color("TissueBand", self.color)


@dataclass
class TissueVessel:
    """A vessel running on a tissue surface (a branch of the liver's surface vasculature).

    ``points`` (N >= 2, 3) is its centre line, a polyline in the body's **rest** coordinates
    (metres, the frame of ``SoftBody.rest_points``) on or near the surface: it is drawn as a
    ribbon ``width`` (m) wide, attached to the nearest surface triangles once (barycentric
    coordinates), so it is painted on the material and follows every deformation. ``color`` is
    linear RGBA (dark red for an artery, bluish for a vein); ``offset`` (m) lifts the ribbon off
    the surface along its normal, above the body's bands (keep it a fraction of a millimetre).
    A branch is a vessel whose first point lies on its parent.
    """

    points: np.ndarray = array_field((None, 3))
    width: float = 0.002
    color: np.ndarray = array_field((4,), (0.28, 0.02, 0.03, 1.0))
    offset: float = 0.0002

    def __post_init__(self) -> None:
        pts = np.asarray(self.points, np.float64)
        if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) < 2 or not np.all(np.isfinite(pts)):
            raise ValueError(f"TissueVessel: points must be two or more finite [x, y, z], got shape {pts.shape}")
        if np.any(np.linalg.norm(np.diff(pts, axis=0), axis=1) < 1e-9):
            raise ValueError("TissueVessel: consecutive points must differ")
        self.points = pts
        if not (np.isfinite(self.width) and self.width > 0):
            raise ValueError(f"TissueVessel: width must be > 0 m, got {self.width}")
        if not (np.isfinite(self.offset) and self.offset >= 0):
            raise ValueError(f"TissueVessel: offset must be >= 0 m, got {self.offset}")
        _check_color("TissueVessel", self.color)


@dataclass
class TissueAppearance:
    """What a SoftBody's surface looks like: ``color`` (linear RGBA), ``roughness`` (0..1,
    perceptual GGX roughness of the base lobe), ``wetness`` (0..1, weight of the sharp
    wet-film highlight that makes tissue glisten), ``bands`` drawn on it (in list
    order, each over the previous) and ``vessels`` drawn over the bands.

    YAML (on the entity of a SoftBody)::

        TissueAppearance:
          color: [0.17, 0.03, 0.02, 1.0]
          roughness: 0.35
          wetness: 0.8
          bands: [{center: -0.003, half_width: 0.0065, axis: [1, 0, 0], color: [0.3, 0.05, 0.5, 1]}]
          vessels: [{points: [[0.05, 0.024, 0.03], [0.0, 0.024, 0.02]], width: 0.002, color: [0.3, 0.02, 0.03, 1]}]
    """

    color: np.ndarray = array_field((4,), DEFAULT_TISSUE_COLOR)
    roughness: float = 0.45
    wetness: float = 0.6
    bands: list[TissueBand] = field(default_factory=list)
    vessels: list[TissueVessel] = field(default_factory=list)

    def __post_init__(self) -> None:
        _check_color("TissueAppearance", self.color)
        for key in ("roughness", "wetness"):
            value = getattr(self, key)
            if not (np.isfinite(value) and 0.0 <= value <= 1.0):
                raise ValueError(f"TissueAppearance: {key} must be in [0, 1], got {value}")


def _check_color(where: str, color: np.ndarray) -> None:
    c = np.asarray(color, np.float64)
    if c.shape != (4,) or not np.all(np.isfinite(c)) or c.min() < 0.0 or c.max() > 1.0:
        raise ValueError(f"{where}: color must be linear RGBA, four numbers in [0, 1], got {c.tolist()}")
