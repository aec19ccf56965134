"""Components of the planar rigid-body world: a work surface, pegs, and objects on it.

Objects that rest and slide on a table (rings on the FLS peg board, items on an instrument
tray) are simulated in 2D by pymunk in the surface's own frame; only while lifted or
falling do they move in 3D. Units: metres, kilograms, seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vrmed.fields import array_field, vec3


@dataclass
class WorkSurface:
    """A rectangular, horizontal-or-tilted work surface.

    ``origin`` is the surface centre; ``u`` and ``v`` are its in-plane axes (made
    orthonormal on load); the surface normal is ``u x v``. ``size`` is the full width
    along ``u`` and depth along ``v``. ``friction`` is the Coulomb coefficient between
    objects and the surface; ``rim`` adds walls along the edges (a board with a lip).
    """

    origin: np.ndarray = vec3()
    u: np.ndarray = vec3(1.0, 0.0, 0.0)
    v: np.ndarray = vec3(0.0, 0.0, -1.0)
    size: np.ndarray = array_field((2,), (0.4, 0.3))
    friction: float = 0.3
    rim: bool = True

    def __post_init__(self) -> None:
        u = np.asarray(self.u, float)
        v = np.asarray(self.v, float) - np.dot(self.v, u) / np.dot(u, u) * u
        if np.linalg.norm(u) < 1e-9 or np.linalg.norm(v) < 1e-9:
            raise ValueError("u and v must be two non-parallel vectors")
        self.u = u / np.linalg.norm(u)
        self.v = v / np.linalg.norm(v)
        if np.any(np.asarray(self.size) <= 0):
            raise ValueError("size must be positive")
        if self.friction < 0:
            raise ValueError("friction must be zero or more")

    @property
    def normal(self) -> np.ndarray:
        """Unit normal of the surface (up)."""
        return np.cross(self.u, self.v)

    def to_plane(self, point: np.ndarray) -> tuple[float, float, float]:
        """World point -> (x, y) in the plane and height above it."""
        d = np.asarray(point, float) - self.origin
        return float(d @ self.u), float(d @ self.v), float(d @ self.normal)

    def to_world(self, x: float, y: float, h: float = 0.0) -> np.ndarray:
        """Plane coordinates and height -> world point."""
        return self.origin + x * self.u + y * self.v + h * self.normal

    def contains(self, x: float, y: float) -> bool:
        """Whether a plane point lies on the surface."""
        return abs(x) <= self.size[0] / 2 and abs(y) <= self.size[1] / 2


@dataclass
class Peg:
    """A vertical peg standing on the work surface at plane coordinates ``at``."""

    at: np.ndarray = array_field((2,), (0.0, 0.0))
    radius: float = 0.002
    height: float = 0.03


@dataclass
class PlanarBody:
    """An object living on the work surface: a disc (``inner_radius`` 0) or a ring.

    ``position``/``velocity`` are world-space and kept current in every mode. ``mode`` is
    ``surface`` (simulated by pymunk), ``held`` (follows a grasping instrument),
    ``falling`` (ballistic), ``on_peg`` (sitting on peg entity ``peg``) or ``lost``
    (dropped off the surface: unrecoverable).
    """

    radius: float = 0.01
    inner_radius: float = 0.0
    mass: float = 0.002
    elasticity: float = 0.2
    position: np.ndarray = vec3()
    velocity: np.ndarray = vec3()
    mode: str = "falling"
    held_by: str = ""
    peg: int = -1
    spin: float = field(default=0.0)

    def __post_init__(self) -> None:
        if self.radius <= 0 or self.mass <= 0:
            raise ValueError("radius and mass must be positive")
        if not 0 <= self.inner_radius < self.radius:
            raise ValueError("inner_radius must be at least 0 and smaller than radius")
        if self.mode not in ("surface", "held", "falling", "on_peg", "lost"):
            raise ValueError(f"unknown mode {self.mode!r}")
