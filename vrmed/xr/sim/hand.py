"""The simulated hand skeleton behind XR_EXT_hand_tracking.

The scripted device model gives each hand a pose and button values; this module turns
them into the 26 joints of ``XR_HAND_JOINT_SET_DEFAULT_EXT``. Each finger flexes by a curl
in [0, 1]: the script's ``curl_thumb`` ... ``curl_little`` buttons when present, else the
index finger follows ``trigger`` and the other fingers ``squeeze`` (the way a controller
user's hand closes on a grip), so any existing scenario script also drives hand tracking.

Frames follow the extension's conventions (XR_EXT_hand_tracking, "Conventions of hand
joints"): the hand pose is the palm, +Y out of the back of the hand, -Z towards the
fingers; every joint's -Z points along the bone towards the fingertip and a joint's pose
is at the bone's proximal end. Bone lengths are adult means (metres) rounded from
Buryanov & Kotiuk, "Proportions of hand segments", Int. J. Morphol. 28(3):755-758, 2010;
joint radii are typical finger half-widths.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ...geometry import compose, quat_from_axis_angle, quat_multiply
from ..interface import Pose

#: Joint count of XR_HAND_JOINT_SET_DEFAULT_EXT.
JOINT_COUNT = 26
FINGERS = ("thumb", "index", "middle", "ring", "little")
#: Bone lengths from the metacarpal base to the tip (thumb: no intermediate phalanx).
BONES = {
    "thumb": (0.046, 0.032, 0.025),
    "index": (0.068, 0.040, 0.023, 0.018),
    "middle": (0.065, 0.045, 0.027, 0.019),
    "ring": (0.060, 0.042, 0.026, 0.019),
    "little": (0.055, 0.033, 0.018, 0.017),
}
#: Lateral offset of each metacarpal base towards the thumb side (m), and the fan-out angle.
_BASE = {"thumb": (0.020, 0.60), "index": (0.018, 0.10), "middle": (0.005, 0.0), "ring": (-0.008, -0.08)}
_BASE["little"] = (-0.020, -0.16)
#: Flexion at full curl of the joints after the metacarpal (radians): MCP, PIP, DIP.
_FLEX = (math.radians(80.0), math.radians(100.0), math.radians(70.0))
_RADIUS = {"thumb": 0.010, "index": 0.009, "middle": 0.009, "ring": 0.0085, "little": 0.0075}


def finger_curls(buttons: dict[str, float]) -> dict[str, float]:
    """Curl of each finger in [0, 1] from a scripted hand's buttons."""
    squeeze = float(buttons.get("squeeze", 0.0))
    default = {"thumb": squeeze, "index": float(buttons.get("trigger", 0.0))}
    out = {}
    for finger in FINGERS:
        value = float(buttons.get(f"curl_{finger}", default.get(finger, squeeze)))
        out[finger] = min(1.0, max(0.0, value))
    return out


def hand_joints(hand: Pose, side: str, curls: dict[str, float]) -> list[tuple[Sequence[float], Sequence[float], float]]:
    """``(position, orientation wxyz, radius)`` of the 26 joints in the stage, in
    XrHandJointEXT order (palm, wrist, then thumb..little from metacarpal to tip)."""
    radial = -1.0 if side == "right" else 1.0  # thumb side along the hand's x axis
    local: list[tuple[tuple[float, float, float], tuple[float, float, float, float], float]] = []
    identity = (1.0, 0.0, 0.0, 0.0)
    local.append(((0.0, 0.0, 0.0), identity, 0.025))  # palm: centre of the middle metacarpal
    local.append(((0.0, 0.0, 0.035), identity, 0.025))  # wrist
    for finger in FINGERS:
        lateral, fan = _BASE[finger]
        pos: tuple[float, float, float] = (radial * lateral, -0.01 if finger == "thumb" else 0.0, 0.035)
        # Fan out towards the thumb side: about +Y, a positive angle turns -Z towards -X.
        rot = quat_from_axis_angle((0.0, 1.0, 0.0), -radial * fan)
        radius = _RADIUS[finger]
        flex = _FLEX[1:] if finger == "thumb" else _FLEX
        for i, length in enumerate(BONES[finger]):
            if i > 0:  # the metacarpal is rigid; each later joint flexes towards the palm (-Y)
                rot = quat_multiply(rot, quat_from_axis_angle((1.0, 0.0, 0.0), -curls[finger] * flex[i - 1]))
            local.append((pos, rot, radius))
            pos, _ = compose(pos, rot, (0.0, 0.0, -length), identity)
            pos = (float(pos[0]), float(pos[1]), float(pos[2]))
        local.append((pos, rot, radius * 0.8))  # tip
    out: list[tuple[Sequence[float], Sequence[float], float]] = []
    for p, q, r in local:
        wp, wq = compose(hand.position, hand.orientation, p, q)
        out.append((wp, wq, r))
    assert len(out) == JOINT_COUNT
    return out
