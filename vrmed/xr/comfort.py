"""Comfort settings for headset sessions: target refresh rate, seated/standing reference
space, snap turn, and a comfort vignette on artificial motion.

:class:`ComfortSettings` is the user's choice (an App resource). :class:`ComfortRig` is the
runtime state it drives: the rig maps the runtime's tracking space into the world (a yaw
about +Y and a translation). :class:`~vrmed.xr.input.XrInputSource` applies it to every
frame it samples (head, eyes and controllers come out in world space, so a recorded session
replays exactly without the rig), turns it on thumbstick flicks, and computes how strong the
vignette is this frame; :class:`~vrmed.xr.render.XrSceneRenderer` draws the vignette.

Only *artificial* motion (the rig turning or moving) darkens the periphery; the user's own
head motion never does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ..geometry import Vec3, quat_from_axis_angle, quat_multiply, quat_normalize, quat_rotate
from .interface import HANDS, RIGHT_HAND, ControllerState, EyeView, Pose, XrFrame

#: Thumbstick x beyond this (either way) is a flick ...
FLICK_ON = 0.7
#: ... once the stick has come back inside this since the last flick.
FLICK_RESET = 0.3
#: Artificial angular speed (rad/s) and linear speed (m/s) that give the full vignette.
FULL_ANGULAR_SPEED = math.radians(60.0)
FULL_LINEAR_SPEED = 1.0
#: Seconds for the vignette to fade after artificial motion stops (exponential time constant).
VIGNETTE_FADE_S = 0.15

REFERENCES = ("seated", "standing")


@dataclass(frozen=True)
class ComfortSettings:
    """What the user chose for comfort (insert as an App resource).

    ``refresh_hz``: target display rate (None: the runtime's default); requested from the
    runtime where it offers ``XR_FB_display_refresh_rate``, and the period frame-time
    statistics count dropped frames against. ``reference``: ``"seated"`` (LOCAL space) or
    ``"standing"`` (STAGE, LOCAL where the runtime has no STAGE). ``snap_turn_deg``: degrees
    the rig turns per thumbstick flick (0: off) on ``turn_hand``'s stick. ``vignette``:
    strength 0..1 of the periphery darkening during artificial motion (0: off).
    """

    refresh_hz: float | None = None
    reference: str = "standing"
    snap_turn_deg: float = 30.0
    vignette: float = 0.6
    turn_hand: str = RIGHT_HAND

    def __post_init__(self) -> None:
        if self.refresh_hz is not None and not (self.refresh_hz > 0 and math.isfinite(self.refresh_hz)):
            raise ValueError(f"refresh_hz must be a positive number of Hz, got {self.refresh_hz}")
        if self.reference not in REFERENCES:
            raise ValueError(f"reference must be 'seated' or 'standing', got {self.reference!r}")
        if not (0.0 <= self.snap_turn_deg < 360.0):
            raise ValueError(f"snap_turn_deg must be in [0, 360), got {self.snap_turn_deg}")
        if not (0.0 <= self.vignette <= 1.0):
            raise ValueError(f"vignette must be in [0, 1], got {self.vignette}")
        if self.turn_hand not in HANDS:
            raise ValueError(f"turn_hand must be one of {', '.join(HANDS)}, got {self.turn_hand!r}")

    @property
    def reference_space(self) -> str:
        """The OpenXR reference space wanted: ``"LOCAL"`` (seated) or ``"STAGE"`` (standing)."""
        return "LOCAL" if self.reference == "seated" else "STAGE"


class ComfortRig:
    """Tracking space -> world: ``world = position + R_y(yaw) * tracking``.

    :meth:`update` is called once per XR frame with that frame (in tracking space): it turns
    the rig on a snap-turn flick (about the head, so the user stays where they are), then
    computes :attr:`vignette_level` from the artificial motion since the previous frame.
    :meth:`move` (e.g. a locomotion system) translates the rig; it counts as artificial
    motion for the vignette of the next frame.
    """

    def __init__(self, settings: ComfortSettings | None = None) -> None:
        self.settings = settings or ComfortSettings()
        self.yaw = 0.0  #: radians, positive turns left (counter-clockwise seen from above)
        self.position: Vec3 = (0.0, 0.0, 0.0)
        self.snap_turns = 0
        #: 0..1: how much artificial motion there is now (decays after it stops).
        self.motion_level = 0.0
        self._armed = True
        self._turned = 0.0  # artificial rotation (rad) and translation (m) since the last update
        self._moved = 0.0
        self._last_time: int | None = None

    # -- the transform ----------------------------------------------------------------------
    @property
    def orientation(self) -> tuple[float, float, float, float]:
        return quat_from_axis_angle((0.0, 1.0, 0.0), self.yaw)

    def to_world(self, pose: Pose) -> Pose:
        """A tracking-space pose in the world."""
        q = self.orientation
        p = quat_rotate(q, pose.position)
        return Pose(
            (self.position[0] + p[0], self.position[1] + p[1], self.position[2] + p[2]),
            quat_normalize(quat_multiply(q, pose.orientation)),
        )

    def apply(self, frame: XrFrame) -> XrFrame:
        """``frame`` with head, eyes and controllers in the world (identity rig: unchanged)."""
        if self.yaw == 0.0 and self.position == (0.0, 0.0, 0.0):
            return frame
        eyes = tuple(EyeView(e.index, self.to_world(e.pose), e.fov, e.width, e.height) for e in frame.eyes)
        ctls = {
            name: ControllerState(
                None if c.pose is None else self.to_world(c.pose),
                c.buttons,
                None if c.aim is None else self.to_world(c.aim),
            )
            for name, c in frame.controllers.items()
        }
        joints = {hand: tuple(self.to_world(p) for p in poses) for hand, poses in frame.hand_joints.items()}
        body = tuple(self.to_world(p) for p in frame.body_joints)
        return replace(
            frame, head=self.to_world(frame.head), eyes=eyes, controllers=ctls, hand_joints=joints, body_joints=body
        )

    # -- artificial motion ------------------------------------------------------------------
    def turn(self, angle: float, pivot: Sequence[float] | None = None) -> None:
        """Turn the rig by ``angle`` radians about +Y through world point ``pivot`` (the origin
        if None)."""
        px, _, pz = pivot if pivot is not None else (0.0, 0.0, 0.0)
        c, s = math.cos(angle), math.sin(angle)
        dx, dz = self.position[0] - px, self.position[2] - pz
        # R_y(angle) applied to (dx, dz): x' = c*x + s*z, z' = -s*x + c*z
        self.position = (px + c * dx + s * dz, self.position[1], pz - s * dx + c * dz)
        self.yaw = math.remainder(self.yaw + angle, math.tau)
        self._turned += abs(angle)

    def move(self, offset: Sequence[float]) -> None:
        """Translate the rig by ``offset`` metres (world axes)."""
        self.position = (
            self.position[0] + float(offset[0]),
            self.position[1] + float(offset[1]),
            self.position[2] + float(offset[2]),
        )
        self._moved += math.sqrt(sum(float(v) * float(v) for v in offset))

    def update(self, frame: XrFrame) -> None:
        """Snap-turn on a flick of the turn hand's stick, then update :attr:`motion_level`."""
        st = self.settings
        ctl = frame.controllers.get(st.turn_hand)
        x = float(ctl.buttons.get("thumbstick_x", 0.0)) if ctl is not None else 0.0
        if abs(x) < FLICK_RESET:
            self._armed = True
        elif abs(x) > FLICK_ON and self._armed:
            self._armed = False
            if st.snap_turn_deg > 0.0:
                # stick right turns right (clockwise seen from above: negative yaw), about the head
                self.turn(-math.copysign(math.radians(st.snap_turn_deg), x), self.to_world(frame.head).position)
                self.snap_turns += 1
        t = frame.predicted_display_time
        period = frame.predicted_display_period / 1e9 if frame.predicted_display_period > 0 else 1 / 90
        dt = period if self._last_time is None or t <= self._last_time else (t - self._last_time) / 1e9
        self._last_time = t
        dt = max(dt, period)
        now = min(1.0, self._turned / dt / FULL_ANGULAR_SPEED + self._moved / dt / FULL_LINEAR_SPEED)
        self.motion_level = max(now, self.motion_level * math.exp(-dt / VIGNETTE_FADE_S))
        if self.motion_level < 1e-3:
            self.motion_level = 0.0
        self._turned = self._moved = 0.0

    @property
    def vignette_amount(self) -> float:
        """0..1: how strongly the vignette darkens this frame (settings strength x motion)."""
        return self.settings.vignette * self.motion_level
