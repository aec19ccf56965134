"""Pose and projection maths shared by the renderer, every XR backend and the features.

Conventions (OpenXR's): right-handed, metres, +Y up, -Z forward. Quaternions are
``(w, x, y, z)`` like the rest of vrmed (OpenXR structs store ``x, y, z, w``; the
backends convert at the boundary). Matrices are row-major numpy ``float64`` arrays for
column vectors (``p_world = M @ p_local``); upload to GL with ``m.T.astype("f4")``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Vec3 = tuple[float, float, float]
Quat = tuple[float, float, float, float]


def quat_normalize(q: Sequence[float]) -> Quat:
    """``q`` scaled to unit length (identity for a zero quaternion)."""
    a = np.asarray(q, dtype=float)
    n = float(np.linalg.norm(a))
    if n == 0.0:
        return (1.0, 0.0, 0.0, 0.0)
    w, x, y, z = (a / n).tolist()
    return (w, x, y, z)


def quat_multiply(a: Sequence[float], b: Sequence[float]) -> Quat:
    """Hamilton product ``a * b`` (apply ``b`` first, then ``a``)."""
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return (
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    )


def quat_conjugate(q: Sequence[float]) -> Quat:
    """The inverse rotation of a unit quaternion."""
    w, x, y, z = q
    return (w, -x, -y, -z)


def quat_rotate(q: Sequence[float], v: Sequence[float]) -> Vec3:
    """Rotate vector ``v`` by unit quaternion ``q``."""
    w, x, y, z = quat_multiply(quat_multiply(q, (0.0, *v)), quat_conjugate(q))
    return (x, y, z)


def quat_from_axis_angle(axis: Sequence[float], angle: float) -> Quat:
    """Rotation of ``angle`` radians about ``axis`` (need not be unit length)."""
    a = np.asarray(axis, dtype=float)
    a = a / np.linalg.norm(a)
    s = math.sin(angle / 2.0)
    return (math.cos(angle / 2.0), float(a[0] * s), float(a[1] * s), float(a[2] * s))


def quat_yaw(q: Sequence[float]) -> float:
    """Heading in radians about +Y of the rotated -Z (forward) axis; 0 looks down -Z,
    positive turns left (counter-clockwise seen from above)."""
    fx, _, fz = quat_rotate(q, (0.0, 0.0, -1.0))
    return math.atan2(-fx, -fz)


def quat_matrix(q: Sequence[float]) -> np.ndarray:
    """3x3 rotation matrix of a quaternion (w, x, y, z), normalised first."""
    w, x, y, z = np.asarray(q, dtype=float) / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def pose_matrix(position: Sequence[float], orientation: Sequence[float]) -> np.ndarray:
    """4x4 transform from the pose's local frame to its parent frame."""
    m = np.eye(4)
    m[:3, :3] = quat_matrix(orientation)
    m[:3, 3] = position
    return m


def view_matrix(position: Sequence[float], orientation: Sequence[float]) -> np.ndarray:
    """4x4 world-to-eye transform of an eye at this pose (the inverse of ``pose_matrix``)."""
    r = quat_matrix(orientation)
    m = np.eye(4)
    m[:3, :3] = r.T
    m[:3, 3] = -r.T @ np.asarray(position, dtype=float)
    return m


def projection_from_fov(
    angle_left: float, angle_right: float, angle_up: float, angle_down: float, near: float = 0.05, far: float = 100.0
) -> np.ndarray:
    """OpenGL clip-space projection (depth -1..1) for an OpenXR field of view.

    Angles are in radians; left and down are negative for a symmetric view. This is the
    asymmetric frustum ``XrMatrix4x4f_CreateProjectionFov`` builds for OpenGL.
    """
    if not 0.0 < near < far:
        raise ValueError(f"need 0 < near < far, got near={near}, far={far}")
    tl, tr = math.tan(angle_left), math.tan(angle_right)
    tu, td = math.tan(angle_up), math.tan(angle_down)
    w, h = tr - tl, tu - td
    if w <= 0 or h <= 0:
        raise ValueError("field of view has no area (right must exceed left and up exceed down)")
    m = np.zeros((4, 4))
    m[0, 0] = 2.0 / w
    m[0, 2] = (tr + tl) / w
    m[1, 1] = 2.0 / h
    m[1, 2] = (tu + td) / h
    m[2, 2] = -(far + near) / (far - near)
    m[2, 3] = -2.0 * far * near / (far - near)
    m[3, 2] = -1.0
    return m


def compose(
    parent_pos: Sequence[float], parent_rot: Sequence[float], child_pos: Sequence[float], child_rot: Sequence[float]
) -> tuple[Vec3, Quat]:
    """The pose ``child`` (given in ``parent``'s frame) expressed in the parent's parent frame."""
    p = quat_rotate(parent_rot, child_pos)
    pos = (parent_pos[0] + p[0], parent_pos[1] + p[1], parent_pos[2] + p[2])
    return pos, quat_normalize(quat_multiply(parent_rot, child_rot))


def relative(
    base_pos: Sequence[float], base_rot: Sequence[float], pos: Sequence[float], rot: Sequence[float]
) -> tuple[Vec3, Quat]:
    """A pose given in the common frame, re-expressed in the frame of ``base``."""
    inv = quat_conjugate(base_rot)
    d = (pos[0] - base_pos[0], pos[1] - base_pos[1], pos[2] - base_pos[2])
    return quat_rotate(inv, d), quat_normalize(quat_multiply(inv, rot))


def segment_point_distance(a: np.ndarray, b: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Distance (m) of each point of ``p`` (n x 3) from the segment a-b (a point when a == b)."""
    ab = b - a
    t = np.clip(((p - a) @ ab) / max(float(ab @ ab), 1e-300), 0.0, 1.0)
    return np.asarray(np.linalg.norm(p - (a + t[:, None] * ab), axis=1))
