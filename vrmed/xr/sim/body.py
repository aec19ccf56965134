"""The simulated body skeleton behind XR_FB_body_tracking.

The scripted device model's ``body`` device (a pose on the floor between the feet, facing
its -Z, +Y up, +X to the body's right, as OpenXR's view space) and its ``angles`` (degrees)
pose the 70 joints of ``XR_BODY_JOINT_SET_DEFAULT_FB`` (``XrBodyJointFB`` order: root,
hips, spine, chest, neck, head, each arm's shoulder (clavicle), scapula, upper arm
(glenohumeral joint), lower arm (elbow), wrist twist, then each hand's 26 joints in
``XrHandJointEXT`` order). Without a ``body`` device the body stands under the head,
facing where the head faces, arms at the sides.

``angles`` keys (missing ones are 0): ``trunk_lean`` (backwards, about the hips),
``<side>_shoulder_flexion`` (humerus forward in the trunk's sagittal plane),
``<side>_shoulder_abduction`` (sideways in its frontal plane), ``<side>_shoulder_hike``
(metres, along the trunk), ``<side>_elbow_flexion``, ``<side>_forearm_pronation`` (0: the
mid-position, thumb up with the elbow at 90; positive pronation, negative supination),
``<side>_wrist_flexion`` (towards the palm; negative: extension) and
``<side>_wrist_deviation`` (radial positive); ``height_m`` (default 1.70) scales the body.
The wrist follows the ISB recommendation (Wu G et al., J Biomech 2005; 38:981-992):
flexion-extension about the forearm's radio-ulnar axis first, then deviation about the
hand's dorsal axis. Fingers curl as in :mod:`vrmed.xr.sim.hand` (the hand device's buttons).

Frames: each arm and hand joint's -Z points along its bone towards the fingertips and +Y
out of the back of the hand (the XR_EXT_hand_tracking convention carried up the arm, in
the forearm's mid-position); the spine joints' +Y runs up the spine, -Z forward. Segment
lengths are Winter's fractions of height (Biomechanics and Motor Control of Human
Movement, 4th ed., 2009, table 4.1): hips at 0.530 H, shoulders 0.818 H, chin 0.870 H,
upper arm 0.186 H, forearm 0.146 H, shoulder half-width 0.129 H. The spine joints between
hips and chest are evenly spaced (a stand-in: the extension does not define them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from ...geometry import quat_from_axis_angle, quat_matrix, quat_yaw
from ..interface import Pose
from .hand import hand_joints

#: Joint count of XR_BODY_JOINT_SET_DEFAULT_FB.
JOINT_COUNT = 70


def _parents() -> tuple[int, ...]:
    """Each joint's parent (XrBodyJointFB indices; -1: none), for xrGetBodySkeletonFB: the
    spine chain from the root, each arm from the chest, each hand's wrist from its lower arm
    (elbow), palm and metacarpals from the wrist, phalanges from the previous joint."""
    out = [-1, 0, 1, 2, 3, 4, 5, 6]  # root, hips, spine lower/middle/upper, chest, neck, head
    for first in (8, 13):  # shoulder, scapula, arm upper, arm lower, wrist twist
        out += [5, first, first + 1, first + 2, first + 3]
    for first, lower in ((18, 11), (44, 16)):
        out += [first + 1, lower]  # palm -> wrist, wrist -> lower arm
        for k in range(2, 26):
            out.append(first + 1 if k in (2, 6, 11, 16, 21) else first + k - 1)
    return tuple(out)


#: Each joint's parent (see :func:`_parents`).
PARENTS = _parents()
_SPINE = (0.06, 0.12, 0.18, 0.24)  # spine lower, middle, upper, chest above the hips (x H)


def _rx(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _ry(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rz(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def matrix_quat(m: np.ndarray) -> tuple[float, float, float, float]:
    """The unit quaternion (w, x, y, z) of a rotation matrix (Shepperd's method: the
    largest of the four squared components first, so no division by a small number)."""
    t = float(np.trace(m))
    diag = (t, float(m[0, 0]), float(m[1, 1]), float(m[2, 2]))
    k = int(np.argmax(diag))
    if k == 0:
        s = 2.0 * math.sqrt(1.0 + t)
        q = (0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s)
    elif k == 1:
        s = 2.0 * math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = ((m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s)
    elif k == 2:
        s = 2.0 * math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = ((m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s)
    else:
        s = 2.0 * math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = ((m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s)
    n = math.sqrt(sum(float(v) * float(v) for v in q))
    w, x, y, z = (float(v) / n for v in q)
    return (w, x, y, z) if w >= 0.0 else (-w, -x, -y, -z)


def default_body(head: Pose | None) -> Pose:
    """The body under the head on the floor, facing the head's heading."""
    head = head or Pose((0.0, 1.6, 0.0))
    yaw = quat_yaw(head.orientation)
    return Pose((float(head.position[0]), 0.0, float(head.position[2])), quat_from_axis_angle((0.0, 1.0, 0.0), yaw))


def body_joints(
    root: Pose, angles: dict[str, float], curls: dict[str, dict[str, float]] | None = None
) -> list[tuple[Sequence[float], Sequence[float]]]:
    """``(position, orientation wxyz)`` of the 70 joints in the stage, in XrBodyJointFB
    order, for a body whose root (floor, between the feet) is ``root`` posed by ``angles``
    (module docstring) with each hand's finger ``curls`` (``{"left": {...}, "right": {...}}``)."""
    height = float(angles.get("height_m", 1.70))
    a = {k: math.radians(float(v)) for k, v in angles.items() if k != "height_m" and not k.endswith("_hike")}
    trunk = _rx(a.get("trunk_lean", 0.0))  # leaning back: up turns towards +Z (backwards)
    hips = np.array([0.0, 0.530 * height, 0.0])
    local: list[tuple[np.ndarray, np.ndarray]] = [(np.zeros(3), np.eye(3)), (hips, trunk)]
    for frac in _SPINE:
        local.append((hips + trunk @ np.array([0.0, frac * height, 0.0]), trunk))
    local.append((hips + trunk @ np.array([0.0, (0.870 - 0.530) * height, 0.0]), trunk))  # neck (chin level)
    local.append((hips + trunk @ np.array([0.0, (0.936 - 0.530) * height, 0.0]), trunk))  # head (eye level)
    hands: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for side, s in (("left", -1.0), ("right", 1.0)):
        hike = float(angles.get(f"{side}_shoulder_hike", 0.0))
        top = (0.818 - 0.530) * height
        shoulder = hips + trunk @ np.array([s * 0.02 * height, top - 0.02 * height, -0.01 * height])
        scapula = hips + trunk @ np.array([s * 0.08 * height, top - 0.02 * height + hike, 0.03 * height])
        upper = hips + trunk @ np.array([s * 0.129 * height, top + hike, 0.0])
        # the arm hanging in the mid-position: -Z down the bone, +Y lateral (the back of the
        # hand), +X = Y x Z (backwards for the right arm: ulnar; forwards for the left: radial)
        neutral = np.column_stack(((0.0, 0.0, s), (s, 0.0, 0.0), (0.0, 1.0, 0.0)))
        shoulder_rot = (
            trunk @ _rx(a.get(f"{side}_shoulder_flexion", 0.0)) @ _rz(s * a.get(f"{side}_shoulder_abduction", 0.0))
        )
        arm = shoulder_rot @ neutral
        elbow = upper + 0.186 * height * arm @ np.array([0.0, 0.0, -1.0])
        forearm = arm @ _ry(s * a.get(f"{side}_elbow_flexion", 0.0)) @ _rz(s * a.get(f"{side}_forearm_pronation", 0.0))
        wrist = elbow + 0.146 * height * forearm @ np.array([0.0, 0.0, -1.0])
        twist = elbow + 0.75 * (wrist - elbow)
        hand = forearm @ _rx(-a.get(f"{side}_wrist_flexion", 0.0)) @ _ry(s * a.get(f"{side}_wrist_deviation", 0.0))
        local += [(shoulder, trunk), (scapula, trunk), (upper, arm), (elbow, forearm), (twist, forearm)]
        hands[side] = (wrist, hand)
    r_root = quat_matrix(root.orientation)
    origin = np.asarray(root.position, dtype=float)
    out: list[tuple[Sequence[float], Sequence[float]]] = [
        (tuple(float(v) for v in origin + r_root @ p), matrix_quat(r_root @ m)) for p, m in local
    ]
    for side in ("left", "right"):
        wrist, hand = hands[side]
        palm = origin + r_root @ (wrist + hand @ np.array([0.0, 0.0, -0.035]))  # hand.py: wrist 35 mm behind
        r_hand = r_root @ hand
        fingers = (curls or {}).get(side, {})
        positions, rotations = _hand_local(side, tuple(float(fingers.get(f, 0.0)) for f in _FINGERS))
        world_q = _quat_times(matrix_quat(r_hand), rotations)
        for p, q in zip(palm + positions @ r_hand.T, world_q):
            out.append((tuple(float(v) for v in p), tuple(float(v) for v in q)))
    assert len(out) == JOINT_COUNT
    return out


@lru_cache(maxsize=64)
def _hand_local(side: str, curls: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The 26 hand joints of :func:`vrmed.xr.sim.hand.hand_joints` in the palm frame:
    positions (26, 3) and orientations (26, 4) wxyz (cached: a scripted body's fingers
    rarely change)."""
    joints = hand_joints(Pose(), side, dict(zip(_FINGERS, curls)))
    return np.array([p for p, _, _ in joints], dtype=float), np.array([q for _, q, _ in joints], dtype=float)


def _quat_times(a: Sequence[float], b: np.ndarray) -> np.ndarray:
    """``a`` (w, x, y, z) times each row of ``b`` (n, 4), normalised."""
    w, x, y, z = a
    out = np.stack(
        (
            w * b[:, 0] - x * b[:, 1] - y * b[:, 2] - z * b[:, 3],
            w * b[:, 1] + x * b[:, 0] + y * b[:, 3] - z * b[:, 2],
            w * b[:, 2] - x * b[:, 3] + y * b[:, 0] + z * b[:, 1],
            w * b[:, 3] + x * b[:, 2] - y * b[:, 1] + z * b[:, 0],
        ),
        axis=1,
    )
    return out / np.linalg.norm(out, axis=1)[:, None]


_FINGERS = ("thumb", "index", "middle", "ring", "little")

#: The T-pose xrGetBodySkeletonFB reports: arms straight out sideways, palms down.
T_POSE: dict[str, Any] = {
    **{f"{side}_shoulder_abduction": 90.0 for side in ("left", "right")},
    **{f"{side}_forearm_pronation": 90.0 for side in ("left", "right")},
}
