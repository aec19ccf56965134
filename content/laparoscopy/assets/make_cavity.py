"""Regenerate abdominal_cavity.obj: the insufflated abdominal cavity around the dissection field.

Run from the repository root: ``python content/laparoscopy/assets/make_cavity.py``. Needs
numpy only; the output is deterministic. The cavity is a surface of revolution (elliptical in
plan) whose profile runs from a flat floor at y = FLOOR (just above the renderer's ground, so
that it hides it) through a rounded fillet up a domed wall to the top of the abdominal wall,
with low, smooth bulges on the wall (folds of peritoneum, loops of bowel behind it). Faces are
wound so that the normals point into the cavity (it is seen from inside).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

FLOOR = 0.0005  # m: floor height (organs rest on it)
RADII = (0.20, 0.22)  # m: half-widths along x and z at the wall
CENTER_Z = -0.02  # m
HEIGHT = 0.24  # m: top of the dome above the floor
FILLET = 0.03  # m: radius of the floor-to-wall fillet
SEGMENTS = 72  # around
PROFILE = (10, 8, 22)  # points on the floor, the fillet and the wall


def profile() -> tuple[np.ndarray, np.ndarray]:
    """(rho, y): rho in [0, 1] of the wall radius, y in metres above the floor, from the
    floor's centre to the top of the dome."""
    f = FILLET / min(RADII)
    floor_rho = np.linspace(0.0, 1.0 - f, PROFILE[0], endpoint=False)
    t = np.linspace(-math.pi / 2, 0.0, PROFILE[1], endpoint=False)
    fil_rho, fil_y = (1.0 - f) + f * np.cos(t), FILLET + FILLET * np.sin(t)
    s = np.linspace(0.0, math.pi / 2, PROFILE[2])
    wall_rho, wall_y = np.cos(s), FILLET + (HEIGHT - FILLET) * np.sin(s)
    rho = np.concatenate([floor_rho, fil_rho, wall_rho])
    y = np.concatenate([np.zeros_like(floor_rho), fil_y, wall_y])
    return rho, y


def build() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices, inward unit normals and faces of the cavity."""
    rho, y = profile()
    theta = np.linspace(0.0, 2 * math.pi, SEGMENTS, endpoint=False)
    # bulges grow with height above the fillet (the floor under the organs stays flat)
    rise = np.clip((y - FILLET) / (HEIGHT - FILLET), 0.0, 1.0)[:, None] ** 0.7
    bumps = (
        0.5 * np.sin(3 * theta + 0.4)[None, :] * np.cos(2.0 * math.pi * rise)
        + 0.35 * np.sin(5 * theta + 1.3)[None, :] * np.sin(3.0 * math.pi * rise + 0.5)
        + 0.25 * np.sin(8 * theta + 2.1)[None, :] * np.sin(5.0 * math.pi * rise + 1.1)
    )
    scale = 1.0 - 0.06 * rise * bumps  # inward bulges up to ~6 % of the radius
    r = rho[:, None] * scale
    x = RADII[0] * r * np.cos(theta)[None, :]
    z = CENTER_Z + RADII[1] * r * np.sin(theta)[None, :]
    yy = FLOOR + np.broadcast_to(y[:, None], x.shape) * (1.0 - 0.04 * rise * bumps)
    rings, seg = x.shape
    verts = np.stack([x, yy, z], axis=-1).reshape(-1, 3)
    # the floor's first ring is its centre: collapse it to one vertex
    verts = np.concatenate([[[0.0, FLOOR, CENTER_Z]], verts[seg:]])
    tris: list[tuple[int, int, int]] = []
    idx = lambda k, j: 1 + (k - 1) * seg + (j % seg)  # noqa: E731 - ring k >= 1
    for j in range(seg):
        tris.append((0, idx(1, j + 1), idx(1, j)))
    for k in range(1, rings - 1):
        for j in range(seg):
            a, b, c, d = idx(k, j), idx(k, j + 1), idx(k + 1, j + 1), idx(k + 1, j)
            tris += [(a, b, c), (a, c, d)]
    faces = np.array(tris, np.int64)
    # orient every face towards the inside (the floor faces up, the dome faces the axis)
    fn = np.cross(verts[faces[:, 1]] - verts[faces[:, 0]], verts[faces[:, 2]] - verts[faces[:, 0]])
    inward = np.array([0.0, HEIGHT / 2, CENTER_Z]) - verts[faces].mean(axis=1)
    flip = np.einsum("ij,ij->i", fn, inward) < 0
    faces[flip] = faces[flip][:, ::-1]
    fn = np.cross(verts[faces[:, 1]] - verts[faces[:, 0]], verts[faces[:, 2]] - verts[faces[:, 0]])
    normals = np.zeros_like(verts)
    for k in range(3):
        np.add.at(normals, faces[:, k], fn)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    return verts, normals, faces


def write_obj(path: Path) -> None:
    """Write the OBJ (vertices and faces only: readers take the normals from the winding)."""
    verts, _, faces = build()
    lines = ["# abdominal cavity for the vrmed laparoscopy pack (made by make_cavity.py; metres, y up)"]
    lines += [f"v {x:.5f} {y:.5f} {z:.5f}" for x, y, z in verts]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    write_obj(Path(__file__).with_name("abdominal_cavity.obj"))
