"""The small interface every XR backend implements, and the frame data it produces.

A frame goes: :meth:`XrBackend.poll_events` (session state), :meth:`XrBackend.begin_frame`
(an :class:`XrFrame`: predicted display time, per-eye pose and field of view, controller
poses and buttons), then for each eye either :meth:`XrBackend.submit` (a numpy image or a
moderngl texture/framebuffer) or draw straight into :meth:`XrBackend.eye_framebuffer`,
and finally :meth:`XrBackend.end_frame`. Renderers only need :meth:`EyeView.view_matrix`
and :meth:`EyeView.projection_matrix`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import VrmedError
from ..geometry import Quat, Vec3, pose_matrix, projection_from_fov, view_matrix

#: The device names the engine's :class:`vrmed.InputState` uses for XR devices.
HEAD = "head"
LEFT_HAND = "left_hand"
RIGHT_HAND = "right_hand"
HANDS = (LEFT_HAND, RIGHT_HAND)
#: Where a hand's OpenXR *aim* pose (the pointing ray: origin and -Z) is recorded, beside the
#: hand's grip pose; the headset pointer casts its ray from it.
AIM_DEVICE = {LEFT_HAND: "left_aim", RIGHT_HAND: "right_aim"}
#: Where a hand's raw controller pose is recorded while the hand device itself is an
#: instrument handle (:class:`vrmed.xr.input.InstrumentClutch`); the pointer prefers it.
CONTROLLER_DEVICE = {LEFT_HAND: "left_controller", RIGHT_HAND: "right_controller"}

#: The 26 joints of XR_EXT_hand_tracking's default joint set, in XrHandJointEXT order. A
#: tracked hand's joints are recorded as devices ``<hand>.<joint>`` (``right_hand.index_tip``).
HAND_JOINT_NAMES = (
    "palm",
    "wrist",
    *(f"thumb_{j}" for j in ("metacarpal", "proximal", "distal", "tip")),
    *(
        f"{f}_{j}"
        for f in ("index", "middle", "ring", "little")
        for j in ("metacarpal", "proximal", "intermediate", "distal", "tip")
    ),
)
#: The 70 joints of XR_FB_body_tracking's default joint set (XR_BODY_JOINT_SET_DEFAULT_FB),
#: in XrBodyJointFB order, lower case without the XR_BODY_JOINT_ prefix and _FB suffix:
#: root, hips, spine, chest, neck, head, each arm (shoulder = clavicle, scapula, arm_upper =
#: glenohumeral joint, arm_lower = elbow, hand_wrist_twist), then each hand's 26 joints
#: (``<side>_hand_<hand joint>``, :data:`HAND_JOINT_NAMES`). A tracked body's joints are
#: recorded as devices ``body.<joint>`` (``body.right_arm_lower``).
BODY_JOINT_NAMES = (
    "root",
    "hips",
    "spine_lower",
    "spine_middle",
    "spine_upper",
    "chest",
    "neck",
    "head",
    *(
        f"{side}_{j}"
        for side in ("left", "right")
        for j in ("shoulder", "scapula", "arm_upper", "arm_lower", "hand_wrist_twist")
    ),
    *(f"{side}_hand_{j}" for side in ("left", "right") for j in HAND_JOINT_NAMES),
)
#: The device prefix of tracked body joints.
BODY_DEVICE_PREFIX = "body."

#: Button names a backend reports (values in [0, 1]; thumbstick axes in [-1, 1]).
BUTTONS = ("trigger", "squeeze", "menu", "primary", "secondary", "thumbstick_x", "thumbstick_y")


class XrError(VrmedError):
    """An XR backend failed (the message names the OpenXR call and result)."""


class XrUnavailable(XrError):
    """No XR runtime or headset is available; callers fall back to desktop or headless."""


class XrSessionEnded(XrError):
    """The headset session ended while a simulation was running: the user quit from the
    runtime's menu, the runtime is shutting down, or the headset was lost (session state
    ``exiting`` or ``loss_pending``, or instance loss). Raised by
    :meth:`vrmed.xr.input.XrInputSource.sample` before the frame does anything, so the
    caller can close the session log with every frame that ran (``vrmed run`` does)."""


@dataclass(frozen=True)
class Pose:
    """A rigid pose: position in metres, unit quaternion ``(w, x, y, z)``."""

    position: Vec3 = (0.0, 0.0, 0.0)
    orientation: Quat = (1.0, 0.0, 0.0, 0.0)

    def matrix(self) -> np.ndarray:
        """4x4 local-to-parent transform."""
        return pose_matrix(self.position, self.orientation)

    def as_sample(self) -> dict[str, list[float]]:
        """``{"position": [...], "orientation": [w, x, y, z]}`` for an input sample."""
        return {"position": [float(v) for v in self.position], "orientation": [float(v) for v in self.orientation]}


@dataclass(frozen=True)
class Fov:
    """An OpenXR field of view: four half-angles in radians (left/down usually negative)."""

    angle_left: float
    angle_right: float
    angle_up: float
    angle_down: float

    def projection(self, near: float = 0.05, far: float = 100.0) -> np.ndarray:
        """OpenGL projection matrix for this field of view."""
        return projection_from_fov(self.angle_left, self.angle_right, self.angle_up, self.angle_down, near, far)


@dataclass(frozen=True)
class EyeView:
    """One eye of a frame: where it is, what it sees, and the image size to render."""

    index: int
    pose: Pose
    fov: Fov
    width: int
    height: int

    def view_matrix(self) -> np.ndarray:
        """World-to-eye 4x4 matrix (the renderer's camera view matrix)."""
        return view_matrix(self.pose.position, self.pose.orientation)

    def projection_matrix(self, near: float = 0.05, far: float = 100.0) -> np.ndarray:
        """Eye-to-clip 4x4 OpenGL projection matrix."""
        return self.fov.projection(near, far)


@dataclass(frozen=True)
class ControllerState:
    """A hand controller: its grip pose (None while untracked), its button values, and its
    aim pose (the pointing ray; None where the backend has none or it is untracked)."""

    pose: Pose | None
    buttons: dict[str, float] = field(default_factory=dict)
    aim: Pose | None = None


@dataclass(frozen=True)
class XrEvent:
    """Something the runtime told the app: ``kind`` is ``"state"`` (``state`` holds the new
    session state, lower case: idle, ready, synchronized, visible, focused, stopping,
    loss_pending, exiting), ``"interaction_profile"`` or ``"instance_loss"``."""

    kind: str
    state: str | None = None
    time: int = 0


@dataclass(frozen=True)
class XrFrame:
    """Everything the app needs to simulate and render one display frame."""

    index: int
    predicted_display_time: int  #: nanoseconds on the runtime's clock (XrTime)
    predicted_display_period: int  #: nanoseconds
    should_render: bool
    head: Pose
    eyes: tuple[EyeView, ...]
    controllers: dict[str, ControllerState]
    #: Tracked hand joints (XR_EXT_hand_tracking, when the backend was asked for them):
    #: hand device name -> the 26 joint poses in :data:`HAND_JOINT_NAMES` order; a hand
    #: that is not tracked this frame is absent.
    hand_joints: dict[str, tuple[Pose, ...]] = field(default_factory=dict)
    #: Tracked body joints (XR_FB_body_tracking, when the backend was asked for them): the
    #: 70 joint poses in :data:`BODY_JOINT_NAMES` order, or empty while the body is not tracked.
    body_joints: tuple[Pose, ...] = ()

    @property
    def display_seconds(self) -> float:
        """``predicted_display_time`` in seconds."""
        return self.predicted_display_time / 1e9

    def sample(self) -> dict[str, dict[str, Any]]:
        """This frame as a vrmed input sample (``head``, ``left_hand``, ``right_hand``,
        ``left_aim``/``right_aim`` where the backend reports aim poses, each tracked hand
        joint as ``<hand>.<joint>`` and each tracked body joint as ``body.<joint>``)."""
        out: dict[str, dict[str, Any]] = {HEAD: self.head.as_sample()}
        for name, ctl in self.controllers.items():
            data: dict[str, Any] = ctl.pose.as_sample() if ctl.pose is not None else {}
            data["buttons"] = {b: float(v) for b, v in sorted(ctl.buttons.items())}
            out[name] = data
            if ctl.aim is not None and name in AIM_DEVICE:
                out[AIM_DEVICE[name]] = ctl.aim.as_sample()
        for hand, joints in self.hand_joints.items():
            for joint, pose in zip(HAND_JOINT_NAMES, joints):
                out[f"{hand}.{joint}"] = pose.as_sample()
        for joint, pose in zip(BODY_JOINT_NAMES, self.body_joints):
            out[BODY_DEVICE_PREFIX + joint] = pose.as_sample()
        return out


@runtime_checkable
class XrBackend(Protocol):
    """An XR device: the simulated one (:mod:`vrmed.xr.simulated`) or OpenXR
    (:mod:`vrmed.xr.openxr_backend`)."""

    name: str

    @property
    def state(self) -> str:
        """The current session state (see :class:`XrEvent`)."""

    @property
    def running(self) -> bool:
        """True while the session is running (frames may be begun)."""

    @property
    def exit_requested(self) -> bool:
        """True once the runtime wants the app to quit (session exiting or lost)."""

    def poll_events(self) -> list[XrEvent]:
        """Handle pending runtime events (beginning/ending the session as states change)."""

    def begin_frame(self) -> XrFrame | None:
        """Wait for and begin the next frame; None while the session is not running."""

    def eye_framebuffer(self, eye: int) -> Any:
        """A moderngl framebuffer to draw eye ``eye`` into (GL backends only)."""

    def submit(self, eye: int, image: Any) -> None:
        """Give the image for eye ``eye``: an ``HxWx4``/``HxWx3`` uint8 array (top row first)
        or a moderngl texture/framebuffer in the app's context."""

    def end_frame(self) -> None:
        """Finish the frame begun by :meth:`begin_frame` (submitted eyes are shown)."""

    def vibrate(self, hand: str, amplitude: float, duration: float, frequency: float = 0.0) -> None:
        """Haptic pulse on ``left_hand``/``right_hand``: amplitude 0..1, seconds, Hz (0: default)."""

    def close(self) -> None:
        """Release the session and everything it owns."""


def as_rgba(image: Any, width: int, height: int) -> np.ndarray:
    """An ``HxWx4`` uint8 copy of ``image`` (numpy ``HxWx3``/``HxWx4``; moderngl texture or
    framebuffer read back), checked against the eye size."""
    if hasattr(image, "read") and not isinstance(image, np.ndarray):
        # moderngl Texture.read() is bottom row first (GL convention); flip to top-first.
        raw = image.read(components=4) if _is_framebuffer(image) else image.read()
        comps = 4 if _is_framebuffer(image) else getattr(image, "components", 4)
        w, h = image.size if hasattr(image, "size") else (width, height)
        arr = np.frombuffer(raw, dtype=np.uint8).reshape(h, w, comps)[::-1]
    else:
        arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise XrError(f"an eye image must be an HxWx3 or HxWx4 uint8 array, got {arr.dtype} {arr.shape}")
    if arr.shape[:2] != (height, width):
        raise XrError(f"eye image is {arr.shape[1]}x{arr.shape[0]}, the eye needs {width}x{height}")
    if arr.shape[2] == 3:
        arr = np.concatenate([arr, np.full((height, width, 1), 255, np.uint8)], axis=2)
    return np.ascontiguousarray(arr)


def _is_framebuffer(obj: Any) -> bool:
    return hasattr(obj, "color_attachments")
