"""The rotation matrix of a unit quaternion inside the distribution's numba kernels (the
clip's rigid projection and the patch attachment's frame), one expression for both."""

from __future__ import annotations

from numba import njit


@njit(cache=True, inline="always")
def quat_matrix_rows(qw, qx, qy, qz):
    """The rotation matrix of the unit quaternion (w, x, y, z) as its nine entries, row by
    row: (r00, r01, r02, r10, r11, r12, r20, r21, r22). Inlined into the calling kernel."""
    return (
        1.0 - 2.0 * (qy * qy + qz * qz),
        2.0 * (qx * qy - qw * qz),
        2.0 * (qx * qz + qw * qy),
        2.0 * (qx * qy + qw * qz),
        1.0 - 2.0 * (qx * qx + qz * qz),
        2.0 * (qy * qz - qw * qx),
        2.0 * (qx * qz - qw * qy),
        2.0 * (qy * qz + qw * qx),
        1.0 - 2.0 * (qx * qx + qy * qy),
    )
