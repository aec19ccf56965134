"""Camera math: look-at view, perspective projection and projecting points to pixels.

Matrices are float64 numpy arrays in the usual maths convention (``clip = P @ V @ p``
with column vectors); the renderer transposes them for OpenGL.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from vrmed.components.scene.render import Camera
from vrmed.geometry import quat_matrix

if TYPE_CHECKING:  # pragma: no cover
    from vrmed.components.scene.render import Endoscope


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray) -> np.ndarray:
    """World-to-camera matrix for a camera at ``eye`` looking at ``target`` (right-handed,
    camera looks down -z). ValueError if eye == target or up is parallel to the view."""
    eye, target, up = (np.asarray(v, dtype=np.float64) for v in (eye, target, up))
    f = target - eye
    norm = np.linalg.norm(f)
    if norm < 1e-12:
        raise ValueError("camera position and target coincide")
    f /= norm
    s = np.cross(f, up)
    sn = np.linalg.norm(s)
    if sn < 1e-9:
        raise ValueError("camera up vector is parallel to the view direction")
    s /= sn
    u = np.cross(s, f)
    m = np.eye(4)
    m[0, :3], m[1, :3], m[2, :3] = s, u, -f
    m[:3, 3] = -m[:3, :3] @ eye
    return m


def perspective(fov_y_deg: float, aspect: float, near: float, far: float) -> np.ndarray:
    """OpenGL perspective projection: vertical field of view in degrees, aspect = width /
    height, near/far clip distances in metres (depth maps to [-1, 1])."""
    if not 0.0 < fov_y_deg < 180.0:
        raise ValueError(f"field of view must be between 0 and 180 degrees, got {fov_y_deg}")
    if not 0.0 < near < far:
        raise ValueError(f"need 0 < near < far, got near={near}, far={far}")
    f = 1.0 / math.tan(math.radians(fov_y_deg) / 2.0)
    m = np.zeros((4, 4))
    m[0, 0] = f / aspect
    m[1, 1] = f
    m[2, 2] = (far + near) / (near - far)
    m[2, 3] = 2.0 * far * near / (near - far)
    m[3, 2] = -1.0
    return m


def view_projection(camera: Camera, aspect: float) -> np.ndarray:
    """``P @ V`` for a :class:`~vrmed.components.scene.render.Camera` at an aspect ratio."""
    return perspective(camera.fov_deg, aspect, camera.near, camera.far) @ look_at(
        camera.position, camera.target, camera.up
    )


def project(points: np.ndarray, view_proj: np.ndarray, width: int, height: int) -> np.ndarray:
    """Project world points (N, 3) to pixel coordinates (N, 2): x to the right and y down
    from the top-left corner, in the same orientation as :meth:`Renderer.read` images,
    pixel centres at half-integers."""
    pts = np.atleast_2d(np.asarray(points, dtype=np.float64))
    clip = np.c_[pts, np.ones(len(pts))] @ view_proj.T
    ndc = clip[:, :2] / clip[:, 3:4]
    return np.c_[(ndc[:, 0] + 1.0) * 0.5 * width, (1.0 - ndc[:, 1]) * 0.5 * height]


def pixels_per_metre_at(camera: Camera, distance: float, height: int) -> float:
    """Screen pixels per metre for something facing the camera ``distance`` metres away."""
    return height / (2.0 * distance * math.tan(math.radians(camera.fov_deg) / 2.0))


def model_matrix(
    position: Sequence[float] | np.ndarray,
    orientation: Sequence[float] | np.ndarray,
    scale: np.ndarray | float,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Model (object-to-world) matrix from a position, a unit quaternion (w, x, y, z) and a
    per-axis (or uniform) scale, written into ``out`` when given."""
    w, x, y, z = (float(v) for v in orientation)
    n = w * w + x * x + y * y + z * z
    s = 2.0 / n if n > 0 else 0.0
    m = np.eye(4) if out is None else out
    m[0, 0], m[0, 1], m[0, 2] = 1 - s * (y * y + z * z), s * (x * y - w * z), s * (x * z + w * y)
    m[1, 0], m[1, 1], m[1, 2] = s * (x * y + w * z), 1 - s * (x * x + z * z), s * (y * z - w * x)
    m[2, 0], m[2, 1], m[2, 2] = s * (x * z - w * y), s * (y * z + w * x), 1 - s * (x * x + y * y)
    m[:3, :3] *= np.broadcast_to(np.asarray(scale, dtype=np.float64), (3,))[None, :]
    m[:3, 3] = position
    m[3] = (0.0, 0.0, 0.0, 1.0)
    return m


def endoscope_camera(
    position: np.ndarray, orientation: np.ndarray, scope: Endoscope, out: Camera | None = None
) -> Camera:
    """The camera of a laparoscope whose tool pose is ``position`` and quaternion
    ``orientation`` (w, x, y, z); see :class:`~vrmed.components.scene.render.Endoscope` for the
    frame convention (shaft along local -z, light post along local +y, angled view tilted
    away from the post). Writes into ``out`` (its arrays are overwritten in place) when
    given, so a per-frame call allocates no new Camera."""
    rot = quat_matrix(tuple(float(v) for v in orientation))
    shaft = -rot[:, 2]
    post = rot[:, 1]
    a = math.radians(scope.angle_deg)
    view = math.cos(a) * shaft - math.sin(a) * post  # tilted away from the light post
    up = math.cos(a) * post + math.sin(a) * shaft  # perpendicular to view, post side
    if scope.keep_horizon:
        world_up = np.array([0.0, 1.0, 0.0])
        if abs(float(view @ world_up)) < 0.999:
            up = world_up
    lens = np.asarray(position, np.float64) + scope.tip_offset * shaft
    if out is None:
        return Camera(position=lens, target=lens + view, up=up, fov_deg=scope.fov_deg, near=scope.near, far=scope.far)
    out.position = np.asarray(out.position, np.float64)
    out.position[:] = lens
    out.target = np.asarray(out.target, np.float64)
    out.target[:] = lens + view
    out.up = np.asarray(out.up, np.float64)
    out.up[:] = up
    out.fov_deg, out.near, out.far = scope.fov_deg, scope.near, scope.far
    return out
