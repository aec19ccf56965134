"""What systems ask the renderer to draw this frame, without touching GL.

Systems in ``render.prepare`` fill the :class:`DrawList` resource (inserted by
:class:`~vrmed.render.plugin.RenderPlugin`); the built-in ``scene`` render pass draws it in
every view (``render.draw``, and each headset eye) and ``render.present`` clears it. This
module imports no GL, so content packs can use it freely.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np

ColorLike = Sequence[float] | np.ndarray


def _batch_colors(colors: ColorLike) -> np.ndarray | tuple[float, ...]:
    """A batch's colours as it keeps them: an (N, 4) array as given (referenced), one
    colour as a tuple (a list the caller changes later cannot change the batch)."""
    return tuple(colors) if not isinstance(colors, np.ndarray) else colors


@dataclass
class SphereBatch:
    """Spheres sharing a material: centres (N, 3), radii (N,) or a scalar, colours (N, 4)
    or one RGBA (arrays are referenced, not copied: keep them alive until the draw)."""

    centres: np.ndarray
    radii: np.ndarray | float
    colors: np.ndarray | tuple[float, ...]
    roughness: float = 0.35
    wetness: float = 0.6
    shadow: bool = True
    #: the entity each sphere belongs to ((N,) ints or one int; -1 or None: no entity), for
    #: object-id passes (what covers which pixels) and picking
    entities: np.ndarray | int | None = None


@dataclass
class CapsuleBatch:
    """Capsules sharing a material (one instanced draw): segment ends ``a`` and ``b``
    (N, 3), radii (N,) or a scalar, colours (N, 4) or one RGBA (arrays referenced, not
    copied)."""

    a: np.ndarray
    b: np.ndarray
    radii: np.ndarray | float
    colors: np.ndarray | tuple[float, ...]
    roughness: float = 0.3
    wetness: float = 0.0
    shadow: bool = True
    #: the entity each capsule belongs to ((N,) ints or one int; None: no entity)
    entities: np.ndarray | int | None = None


@dataclass
class Surface:
    """A deforming triangle surface drawn as a streamed mesh under a stable ``key``: its
    GPU buffers are made the first time the key is seen (and again only if the vertex or
    face count changes); ``positions`` (N, 3), ``faces`` (M, 3), optional ``normals``
    (N, 3) and ``burn`` (N,) in [0, 1] are uploaded in place each frame."""

    key: Hashable
    positions: np.ndarray
    faces: np.ndarray
    normals: np.ndarray | None = None
    burn: np.ndarray | None = None
    color: tuple[float, ...] = (0.8, 0.45, 0.4, 1.0)
    roughness: float = 0.45
    wetness: float = 0.6
    shadow: bool = True
    #: the entity the surface belongs to (None: no entity)
    entity: int | None = None


@dataclass
class DrawList:
    """This frame's extra draws (a resource): sphere and capsule batches and streamed
    surfaces."""

    spheres: list[SphereBatch] = field(default_factory=list)
    surfaces: list[Surface] = field(default_factory=list)
    capsules: list[CapsuleBatch] = field(default_factory=list)

    def add_spheres(
        self,
        centres: np.ndarray,
        radii: np.ndarray | float,
        colors: ColorLike = (0.85, 0.85, 0.85, 1.0),
        *,
        roughness: float = 0.35,
        wetness: float = 0.6,
        shadow: bool = True,
        entities: np.ndarray | int | None = None,
    ) -> None:
        """Queue spheres (one instanced draw): centres (N, 3) m, radii (N,) or one radius,
        linear RGBA colours (N, 4) or one colour; ``entities`` names the entity of each
        sphere ((N,) or one for all) for object-id passes."""
        centres = np.asarray(centres)
        if centres.ndim != 2 or centres.shape[1] != 3:
            raise ValueError(f"sphere centres must have shape (N, 3), got {centres.shape}")
        self.spheres.append(SphereBatch(centres, radii, _batch_colors(colors), roughness, wetness, shadow, entities))

    def add_capsules(
        self,
        a: np.ndarray,
        b: np.ndarray,
        radii: np.ndarray | float,
        colors: ColorLike = (0.75, 0.77, 0.80, 1.0),
        *,
        roughness: float = 0.3,
        wetness: float = 0.0,
        shadow: bool = True,
        entities: np.ndarray | int | None = None,
    ) -> None:
        """Queue capsules, e.g. instrument shafts (one instanced draw for the batch): the
        segments ``a`` (N, 3) to ``b`` (N, 3) in metres swept by spheres of ``radii`` (N,)
        or one radius, linear RGBA ``colors`` (N, 4) or one colour; ``entities`` as for spheres."""
        a, b = np.asarray(a), np.asarray(b)
        if a.ndim != 2 or a.shape[1] != 3 or a.shape != b.shape:
            raise ValueError(f"capsule ends must both have shape (N, 3), got {a.shape} and {b.shape}")
        self.capsules.append(CapsuleBatch(a, b, radii, _batch_colors(colors), roughness, wetness, shadow, entities))

    def add_surface(
        self,
        key: Hashable,
        positions: np.ndarray,
        faces: np.ndarray,
        *,
        normals: np.ndarray | None = None,
        burn: np.ndarray | None = None,
        color: ColorLike = (0.8, 0.45, 0.4, 1.0),
        roughness: float = 0.45,
        wetness: float = 0.6,
        shadow: bool = True,
        entity: int | None = None,
    ) -> None:
        """Queue a deforming surface under a stable ``key`` (see :class:`Surface`); ``entity``
        is the entity it belongs to, for object-id passes."""
        self.surfaces.append(
            Surface(
                key, positions, faces, normals, burn, tuple(float(c) for c in color), roughness, wetness, shadow, entity
            )
        )

    def clear(self) -> None:
        """Forget this frame's draws (the renderer calls it after drawing)."""
        self.spheres.clear()
        self.surfaces.clear()
        self.capsules.clear()
