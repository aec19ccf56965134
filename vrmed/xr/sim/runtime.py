"""The simulated OpenXR runtime: OpenXR functions written in Python, reached through the
real Khronos loader via the C shim in ``shim.c``.

Every entry point is a ctypes callback built from pyopenxr's ``PFN_xr*`` prototypes and
wrapped so that it always returns an ``XrResult``: a ctypes callback that raises returns 0,
which is ``XR_SUCCESS``, so an unexpected exception becomes ``XR_ERROR_RUNTIME_FAILURE``
(and is kept in :attr:`SimRuntime.errors` for tests to assert on).

Time is simulated: frame ``n``'s predicted display time is ``EPOCH_NS`` plus ``n`` exact
frame periods, whatever the wall clock does, and poses and buttons come from a
:class:`~vrmed.xr.script.MotionScript` evaluated at that time.
"""

from __future__ import annotations

import ctypes
import math
import re
import time as _time
import traceback
from collections.abc import Callable
from ctypes import CFUNCTYPE, POINTER, c_int32, c_int64, c_uint32, c_uint64, c_void_p, cast
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import xr

from ...geometry import compose, relative
from ..egl import FORMATS, GL, GL_DEPTH_COMPONENT24, GL_DEPTH_COMPONENT32F, GL_RGBA8, GL_SRGB8_ALPHA8
from ..interface import HEAD, LEFT_HAND, RIGHT_HAND, Pose
from ..script import DeviceConfig, MotionScript
from .body import JOINT_COUNT as BODY_JOINT_COUNT
from .body import PARENTS as BODY_PARENTS
from .body import T_POSE, body_joints, default_body
from .glx import GlxGL
from .hand import JOINT_COUNT, finger_curls, hand_joints

R: TypeAlias = xr.Result
ST: TypeAlias = xr.StructureType
EPOCH_NS = 1_000_000_000  # XrTime of frame 0; must be > 0
#: OpenXR 1.0 (patch level of the registry pyopenxr was generated from). The runtime does
#: not implement 1.1's core additions (LOCAL_FLOOR, xrLocateSpaces, the 1.1 interaction
#: profiles), so it must not claim 1.1: the spec makes every 1.1 feature core there.
API_VERSION = (1 << 48) | (0 << 32) | int(xr.XR_VERSION_PATCH)
RUNTIME_VERSION = (0 << 48) | (2 << 32)  # 0.2.0
EXTENSIONS = {
    "XR_MND_headless": 2,
    "XR_MNDX_egl_enable": 2,
    "XR_KHR_opengl_enable": 10,
    "XR_KHR_convert_timespec_time": 1,
    "XR_EXT_hand_tracking": 4,
    "XR_FB_body_tracking": 1,
    "XR_EXT_eye_gaze_interaction": 2,
    "XR_FB_display_refresh_rate": 1,
}
#: Extension functions and the extension(s) that must be enabled to get them.
EXTENSION_FUNCTIONS = {
    "xrGetOpenGLGraphicsRequirementsKHR": ("XR_KHR_opengl_enable", "XR_MNDX_egl_enable"),
    "xrConvertTimespecTimeToTimeKHR": ("XR_KHR_convert_timespec_time",),
    "xrConvertTimeToTimespecTimeKHR": ("XR_KHR_convert_timespec_time",),
    "xrCreateHandTrackerEXT": ("XR_EXT_hand_tracking",),
    "xrDestroyHandTrackerEXT": ("XR_EXT_hand_tracking",),
    "xrLocateHandJointsEXT": ("XR_EXT_hand_tracking",),
    "xrCreateBodyTrackerFB": ("XR_FB_body_tracking",),
    "xrDestroyBodyTrackerFB": ("XR_FB_body_tracking",),
    "xrLocateBodyJointsFB": ("XR_FB_body_tracking",),
    "xrGetBodySkeletonFB": ("XR_FB_body_tracking",),
    "xrEnumerateDisplayRefreshRatesFB": ("XR_FB_display_refresh_rate",),
    "xrGetDisplayRefreshRateFB": ("XR_FB_display_refresh_rate",),
    "xrRequestDisplayRefreshRateFB": ("XR_FB_display_refresh_rate",),
}
#: Display refresh rates offered through XR_FB_display_refresh_rate besides the configured one.
REFRESH_RATES = (60.0, 72.0, 90.0, 120.0)
#: Largest allowed deviation of a quaternion's norm from 1 (OpenXR 1.0, "XrPosef": a runtime
#: must return XR_ERROR_POSE_INVALID when the orientation's norm deviates by more than 1 %).
POSE_NORM_TOLERANCE = 0.01
SWAPCHAIN_FORMATS = (GL_SRGB8_ALPHA8, GL_RGBA8, GL_DEPTH_COMPONENT24, GL_DEPTH_COMPONENT32F)
SWAPCHAIN_IMAGES = 3
MAX_LAYERS = 16
MAX_IMAGE_SIZE = 4096
STEREO = xr.ViewConfigurationType.PRIMARY_STEREO.value
OPAQUE = xr.EnvironmentBlendMode.OPAQUE.value
HMD = xr.FormFactor.HEAD_MOUNTED_DISPLAY.value
SYSTEM_ID = 1
#: XrCompositionLayerFlags of OpenXR 1.0 (chromatic aberration, texture alpha, unpremultiplied).
_LAYER_FLAGS = 0x1 | 0x2 | 0x4
_EYE_VISIBILITY = {0: "both", 1: "left", 2: "right"}
LOCATION_ALL = 0xF  # orientation/position valid and tracked
VIEW_STATE_ALL = 0xF

S = xr.SessionState
SESSION_STATES = {s.value: s.name.lower() for s in S}

_PATH_RE = re.compile(r"^(/[a-z0-9_.\-]+)+$")
_NAME_RE = re.compile(r"^[a-z0-9_.\-]+$")

# The core interaction profiles of OpenXR 1.0 (section 6.4 "Interaction Profile Paths"), each
# with the input/output paths it accepts below every top-level user path. Hand profiles come
# best first: the simulated controllers pose as the first one the application suggested.
_L, _R = "/user/hand/left", "/user/hand/right"
_POSES = {"input/grip/pose", "input/aim/pose"}
_STICK = {"input/thumbstick/x", "input/thumbstick/y", "input/thumbstick/click", "input/thumbstick/touch"}
_PAD = {"input/trackpad/x", "input/trackpad/y", "input/trackpad/click", "input/trackpad/touch"}
_TOUCH_BOTH = (
    _POSES
    | _STICK
    | {
        "input/squeeze/value",
        "input/trigger/value",
        "input/trigger/touch",
        "input/thumbrest/touch",
        "output/haptic",
    }
)
_INDEX = (
    _POSES
    | _STICK
    | {
        "input/system/click",
        "input/system/touch",
        "input/a/click",
        "input/a/touch",
        "input/b/click",
        "input/b/touch",
        "input/squeeze/value",
        "input/squeeze/force",
        "input/trigger/click",
        "input/trigger/value",
        "input/trigger/touch",
        "input/trackpad/x",
        "input/trackpad/y",
        "input/trackpad/force",
        "input/trackpad/touch",
        "output/haptic",
    }
)
_VIVE = (
    _POSES
    | _PAD
    | {
        "input/system/click",
        "input/squeeze/click",
        "input/menu/click",
        "input/trigger/click",
        "input/trigger/value",
        "output/haptic",
    }
)
_WMR = _POSES | _STICK | _PAD | {"input/menu/click", "input/squeeze/click", "input/trigger/value", "output/haptic"}
_WMR -= {"input/thumbstick/touch"}
_SIMPLE = _POSES | {"input/select/click", "input/menu/click", "output/haptic"}
_GO = _POSES | _PAD | {"input/system/click", "input/trigger/click", "input/back/click"}
_DAYDREAM = _POSES | _PAD | {"input/select/click"}
_XBOX = {
    *(f"input/{b}/click" for b in ("menu", "view", "a", "b", "x", "y")),
    *(f"input/dpad_{d}/click" for d in ("down", "right", "up", "left")),
    "input/shoulder_left/click",
    "input/shoulder_right/click",
    "input/thumbstick_left/click",
    "input/thumbstick_right/click",
    "input/trigger_left/value",
    "input/trigger_right/value",
    "input/thumbstick_left/x",
    "input/thumbstick_left/y",
    "input/thumbstick_right/x",
    "input/thumbstick_right/y",
    "output/haptic_left",
    "output/haptic_right",
    "output/haptic_left_trigger",
    "output/haptic_right_trigger",
}
PROFILES: dict[str, dict[str, set[str]]] = {
    "/interaction_profiles/oculus/touch_controller": {
        _L: _TOUCH_BOTH | {"input/x/click", "input/x/touch", "input/y/click", "input/y/touch", "input/menu/click"},
        _R: _TOUCH_BOTH | {"input/a/click", "input/a/touch", "input/b/click", "input/b/touch", "input/system/click"},
    },
    "/interaction_profiles/valve/index_controller": {_L: _INDEX, _R: _INDEX},
    "/interaction_profiles/htc/vive_controller": {_L: _VIVE, _R: _VIVE},
    "/interaction_profiles/microsoft/motion_controller": {_L: _WMR, _R: _WMR},
    "/interaction_profiles/khr/simple_controller": {_L: _SIMPLE, _R: _SIMPLE},
    "/interaction_profiles/oculus/go_controller": {_L: _GO, _R: _GO},
    "/interaction_profiles/google/daydream_controller": {_L: _DAYDREAM, _R: _DAYDREAM},
    "/interaction_profiles/htc/vive_pro": {
        "/user/head": {"input/system/click", "input/volume_up/click", "input/volume_down/click", "input/mute_mic/click"}
    },
    "/interaction_profiles/microsoft/xbox_controller": {"/user/gamepad": _XBOX},
}
#: XR_EXT_eye_gaze_interaction's profile (only with the extension enabled).
EYE_GAZE_PROFILE = "/interaction_profiles/ext/eye_gaze_interaction"
EYES = "/user/eyes_ext"
_EXTENSION_PROFILES = {EYE_GAZE_PROFILE: ("XR_EXT_eye_gaze_interaction", {EYES: {"input/gaze_ext/pose"}})}
#: Top-level user paths of OpenXR 1.0 (section 6.3.1), valid as subaction paths.
TOP_LEVEL_PATHS = (_L, _R, "/user/head", "/user/gamepad", "/user/treadmill")
_DEVICE_OF_USER_PATH = {_L: LEFT_HAND, _R: RIGHT_HAND, EYES: "eyes", "/user/head": HEAD}
#: Human-readable names for xrGetInputSourceLocalizedName.
_USER_PATH_NAMES = {
    _L: "Left Hand",
    _R: "Right Hand",
    "/user/head": "Head",
    "/user/gamepad": "Gamepad",
    "/user/treadmill": "Treadmill",
    EYES: "Eyes",
}
_PROFILE_NAMES = {
    "/interaction_profiles/oculus/touch_controller": "Oculus Touch Controller",
    "/interaction_profiles/valve/index_controller": "Valve Index Controller",
    "/interaction_profiles/htc/vive_controller": "HTC Vive Controller",
    "/interaction_profiles/microsoft/motion_controller": "Microsoft Mixed Reality Motion Controller",
    "/interaction_profiles/khr/simple_controller": "Khronos Simple Controller",
    "/interaction_profiles/oculus/go_controller": "Oculus Go Controller",
    "/interaction_profiles/google/daydream_controller": "Google Daydream Controller",
    "/interaction_profiles/htc/vive_pro": "HTC Vive Pro",
    "/interaction_profiles/microsoft/xbox_controller": "Microsoft Xbox Controller",
    EYE_GAZE_PROFILE: "Eye Gaze Interaction",
}
_BINDING_RE = re.compile(r"^(/user/(?:hand/left|hand/right|head|gamepad|treadmill|eyes_ext))/(.+)$")


def _profile_paths(profile: str, extensions: set[str]) -> dict[str, set[str]] | None:
    """Input/output paths of ``profile`` per top-level user path (None: not a known profile)."""
    if profile in PROFILES:
        return PROFILES[profile]
    ext = _EXTENSION_PROFILES.get(profile)
    return ext[1] if ext is not None and ext[0] in extensions else None


def _accepts(allowed: set[str], component: str) -> bool:
    """A binding names an input/output path, or its parent (``input/trigger``: the runtime
    picks ``value`` or ``click``; ``input/thumbstick``: the 2D vector)."""
    return component in allowed or any(a.startswith(component + "/") for a in allowed)


class _Fail(Exception):
    """Raised inside an entry point to return an error ``XrResult``."""

    def __init__(self, result: R, why: str = "") -> None:
        super().__init__(f"{result.name}: {why}")
        self.result = result


def _check_type(struct: Any, expected: ST, what: str) -> None:
    if struct is None:
        raise _Fail(R.ERROR_VALIDATION_FAILURE, f"{what} is NULL")
    if struct._type != expected.value:
        raise _Fail(R.ERROR_VALIDATION_FAILURE, f"{what}.type is {struct._type}, expected {expected.name}")


def _check_pose(pose: Any, what: str) -> None:
    """XR_ERROR_POSE_INVALID unless finite with an orientation of unit length within 1 %."""
    o, p = pose.orientation, pose.position
    values = (o.x, o.y, o.z, o.w, p.x, p.y, p.z)
    if not all(math.isfinite(v) for v in values):
        raise _Fail(R.ERROR_POSE_INVALID, f"{what} is not finite")
    norm = math.sqrt(o.x * o.x + o.y * o.y + o.z * o.z + o.w * o.w)
    if abs(norm - 1.0) > POSE_NORM_TOLERANCE:
        raise _Fail(R.ERROR_POSE_INVALID, f"{what}: orientation norm {norm:.4f} is not 1 within 1 %")


# Prototypes where pyopenxr's would hand the callback a copy of an output buffer: ctypes
# turns a ``c_char_p`` argument into an immutable bytes object and a ``c_char * 64`` array
# argument into a by-value copy read from the pointer's address, so writes never reach the
# application (and the array form reads past the pointer). Here those are raw pointers.
_RESULT = c_int32
_PROTOTYPES: dict[str, Any] = {
    "xrResultToString": CFUNCTYPE(_RESULT, xr.Instance, c_int32, c_void_p),
    "xrStructureTypeToString": CFUNCTYPE(_RESULT, xr.Instance, c_int32, c_void_p),
    "xrPathToString": CFUNCTYPE(_RESULT, xr.Instance, c_uint64, c_uint32, POINTER(c_uint32), c_void_p),
    "xrGetInputSourceLocalizedName": CFUNCTYPE(
        _RESULT, xr.Session, POINTER(xr.InputSourceLocalizedNameGetInfo), c_uint32, POINTER(c_uint32), c_void_p
    ),
    # The timespec functions are declared per platform in pyopenxr.
    "xrConvertTimespecTimeToTimeKHR": CFUNCTYPE(_RESULT, xr.Instance, POINTER(xr.timespec), POINTER(c_int64)),
    "xrConvertTimeToTimespecTimeKHR": CFUNCTYPE(_RESULT, xr.Instance, c_int64, POINTER(xr.timespec)),
}


def _deref(ptr: Any, struct_type: type | None = None) -> Any:
    """``*ptr`` as ``struct_type`` (None for a NULL pointer)."""
    if not ptr:
        return None
    if struct_type is not None:
        ptr = cast(ptr, POINTER(struct_type))
    return ptr.contents


def _handle(value: Any) -> int:
    return cast(value, c_void_p).value or 0 if value is not None else 0


def _write_handle(out: Any, value: int) -> None:
    if not out:
        raise _Fail(R.ERROR_VALIDATION_FAILURE, "output handle pointer is NULL")
    cast(out, POINTER(c_uint64))[0] = value


def _enumerate(
    capacity: int, count_out: Any, array: Any, items: list[Any], write: Callable[[Any, int, Any], None]
) -> None:
    """OpenXR's two-call idiom: capacity 0 returns the count; too small a capacity fails."""
    if not count_out:
        raise _Fail(R.ERROR_VALIDATION_FAILURE, "count output pointer is NULL")
    count_out[0] = len(items)
    if capacity == 0:
        return
    if capacity < len(items):
        raise _Fail(R.ERROR_SIZE_INSUFFICIENT, f"capacity {capacity} < {len(items)}")
    if not array:
        raise _Fail(R.ERROR_VALIDATION_FAILURE, "array pointer is NULL with a non-zero capacity")
    for i, item in enumerate(items):
        write(array, i, item)


def _write_string(capacity: int, count_out: Any, buffer: Any, text: str) -> None:
    data = text.encode() + b"\0"
    if not count_out:
        raise _Fail(R.ERROR_VALIDATION_FAILURE, "count output pointer is NULL")
    count_out[0] = len(data)
    if capacity == 0:
        return
    if capacity < len(data):
        raise _Fail(R.ERROR_SIZE_INSUFFICIENT, f"capacity {capacity} < {len(data)}")
    if not buffer:
        raise _Fail(R.ERROR_VALIDATION_FAILURE, "buffer is NULL with a non-zero capacity")
    ctypes.memmove(buffer, data, len(data))


def _write_fixed(buffer: Any, text: str, size: int) -> None:
    """Write a NUL-terminated string into a fixed-size char array the app passed."""
    if not buffer:
        raise _Fail(R.ERROR_VALIDATION_FAILURE, "buffer is NULL")
    data = text.encode()[: size - 1] + b"\0"
    ctypes.memmove(buffer, data, len(data))


def _checked_name(raw: bytes, what: str) -> str:
    """An action or action set name: empty -> NAME_INVALID, other than a well-formed path
    element (lower-case letters, digits, ``-``, ``_``, ``.``) -> PATH_FORMAT_INVALID."""
    name = raw.decode(errors="replace")
    if not name:
        raise _Fail(R.ERROR_NAME_INVALID, f"empty {what}")
    if not _NAME_RE.match(name):
        raise _Fail(R.ERROR_PATH_FORMAT_INVALID, f"{what} {name!r} is not a well-formed path element")
    return name


def _source(allowed: set[str], component: str) -> str:
    """The input source a binding path reaches: a parent path resolves to its value (or click)."""
    if component in allowed:
        return component
    for leaf in ("value", "click"):
        if f"{component}/{leaf}" in allowed:
            return f"{component}/{leaf}"
    return component


def _component_name(component: str) -> str:
    """``input/trigger/value`` -> ``Trigger``; ``input/a/click`` -> ``A Button``; ``output/haptic`` -> ``Haptic``."""
    parts = component.split("/")
    ident = parts[1] if len(parts) > 1 else parts[0]
    if ident.endswith("_ext"):
        ident = ident[: -len("_ext")]
    words = " ".join(w.capitalize() for w in ident.split("_"))
    if len(ident) == 1:
        words += " Button"
    if parts[0] == "input" and len(parts) > 2 and parts[2] in ("x", "y", "force", "touch"):
        words += " " + {"x": "X Axis", "y": "Y Axis", "force": "Force", "touch": "Touch"}[parts[2]]
    return words


def _set_pose(dst: Any, pos: Any, rot: Any) -> None:
    dst.position.x, dst.position.y, dst.position.z = (float(v) for v in pos)
    w, x, y, z = (float(v) for v in rot)
    dst.orientation.x, dst.orientation.y, dst.orientation.z, dst.orientation.w = x, y, z, w


def _get_pose(src: Any) -> tuple[tuple[float, float, float], tuple[float, float, float, float]]:
    o = src.orientation
    return (src.position.x, src.position.y, src.position.z), (o.w, o.x, o.y, o.z)


def _walk_next(next_ptr: Any) -> list[tuple[int, int]]:
    """``(structure type, address)`` of every struct in a next-chain."""
    out: list[tuple[int, int]] = []
    addr = next_ptr if isinstance(next_ptr, int) else (cast(next_ptr, c_void_p).value if next_ptr else 0)
    seen = set()
    while addr and addr not in seen and len(out) < 64:
        seen.add(addr)
        base = xr.BaseInStructure.from_address(addr)
        out.append((base._type, addr))
        addr = base._next or 0
    return out


# -- runtime objects ------------------------------------------------------------------
@dataclass
class _Instance:
    extensions: set[str]
    app_name: str
    paths: list[str] = field(default_factory=lambda: [""])
    path_ids: dict[str, int] = field(default_factory=dict)
    events: list[tuple[str, Any]] = field(default_factory=list)
    gl_requirements_queried: bool = False
    session: int = 0
    suggested: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    action_set_names: set[str] = field(default_factory=set)
    localized_set_names: set[str] = field(default_factory=set)
    created_ns: int = field(default_factory=_time.monotonic_ns)


@dataclass
class _Swapchain:
    session: int
    format: int
    width: int
    height: int
    textures: list[int]
    acquired: list[int] = field(default_factory=list)
    waited: list[int] = field(default_factory=list)
    next_index: int = 0
    last_released: int | None = None


@dataclass
class _ActionSet:
    instance: int
    name: str
    priority: int
    localized_name: str = ""
    actions: list[int] = field(default_factory=list)
    attached: bool = False


@dataclass
class _Action:
    action_set: int
    name: str
    type: int
    subaction_paths: list[str]
    localized_name: str = ""


@dataclass
class _HandTracker:
    session: int
    hand: str  #: LEFT_HAND or RIGHT_HAND


@dataclass
class _BodyTracker:
    session: int


@dataclass
class _Space:
    session: int
    kind: str  # "reference" or "action"
    offset: tuple[Any, Any]
    reference_type: int = 0
    action: int = 0
    subaction_path: str = ""


@dataclass
class _Session:
    instance: int
    headless: bool
    gl: GL | None
    egl_context: int
    state: int = S.IDLE.value
    running: bool = False
    exit_requested: bool = False
    frames_waited: int = 0
    waited_times: list[int] = field(default_factory=list)
    frame_begun: bool = False
    begun_time: int = 0
    last_wait_time: int = 0
    attached_sets: list[int] = field(default_factory=list)
    #: Current interaction profile per top-level user path (hands, eyes).
    profiles: dict[str, str] = field(default_factory=dict)
    #: Display clock: frame ``n`` is shown at anchor_time + (n - anchor_frame) periods of ``rate``.
    rate: float = 0.0
    anchor_frame: int = 0
    anchor_time: int = EPOCH_NS
    hand_trackers: set[int] = field(default_factory=set)
    body_trackers: set[int] = field(default_factory=set)
    synced_sets: set[int] = field(default_factory=set)
    action_values: dict[tuple[int, str], Any] = field(default_factory=dict)
    action_changed: dict[tuple[int, str], tuple[bool, int]] = field(default_factory=dict)
    swapchains: set[int] = field(default_factory=set)
    spaces: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class SubmittedQuad:
    """One XrCompositionLayerQuad the app submitted."""

    space: int  #: handle of the layer's space
    pose: Pose  #: centre of the quad in that space (the quad spans its local x-y plane)
    size: tuple[float, float]  #: width, height in metres
    eye_visibility: str  #: "both", "left" or "right"
    flags: int  #: XrCompositionLayerFlags
    image: np.ndarray | None  #: HxWx4 uint8 of the sub-image, top row first (None: headless)
    world_pose: Pose | None  #: the quad's pose in the stage at display time (None: space untracked)


@dataclass(frozen=True)
class SubmittedFrame:
    """What the app handed to xrEndFrame for one frame."""

    display_time: int
    layer_count: int
    images: dict[int, np.ndarray]  #: eye index -> HxWx4 uint8, top row first (first projection layer)
    poses: dict[int, Pose]  #: eye index -> pose the app rendered with (in the layer's space)
    quads: tuple[SubmittedQuad, ...] = ()  #: quad layers, back to front
    layer_types: tuple[str, ...] = ()  #: "projection" / "quad" per layer, back to front


@dataclass(frozen=True)
class Haptic:
    """A haptic event: ``kind`` is ``"vibrate"`` or ``"stop"``."""

    kind: str
    hand: str
    amplitude: float
    duration_ns: int
    frequency: float
    time: int


class SimRuntime:
    """The runtime's state and its OpenXR entry points.

    Tests read :attr:`frames` (every ended frame, with read-back eye images),
    :attr:`haptics`, :attr:`errors` and :attr:`calls`, and drive the session with
    :meth:`request_exit`. Create it with :func:`vrmed.xr.sim.install`.
    """

    def __init__(
        self,
        script: MotionScript | None = None,
        config: DeviceConfig | None = None,
        *,
        keep_frames: int = 8,
        exit_after_frames: int | None = None,
    ) -> None:
        self.script = script or MotionScript()
        self.config = config or DeviceConfig()
        self.keep_frames = keep_frames
        #: After this many xrWaitFrame calls, the next xrPollEvent asks the session to exit
        #: (the user quitting from the system menu): programs that loop until the runtime
        #: stops them end.
        self.exit_after_frames = exit_after_frames
        #: The most recent ended frames (at most ``keep_frames``), oldest first.
        self.frames: list[SubmittedFrame] = []
        self.frames_ended = 0
        self.haptics: list[Haptic] = []
        #: Tracebacks of unexpected exceptions inside entry points (a runtime bug if non-empty).
        self.errors: list[str] = []
        #: How often each OpenXR function was called.
        self.calls: dict[str, int] = {}
        self._objects: dict[int, Any] = {}
        self._next_handle = 0x5100
        self._callbacks: dict[str, Any] = {}
        self._addresses: dict[bytes, int] = {}
        self._build_table()

    # -- public helpers --------------------------------------------------------------
    @property
    def get_instance_proc_addr(self) -> int:
        """Address of this runtime's ``xrGetInstanceProcAddr`` (what the shim hands the loader)."""
        return self._addresses[b"xrGetInstanceProcAddr"]

    @property
    def function_names(self) -> list[str]:
        """Every OpenXR function this runtime implements."""
        return sorted(self._callbacks)

    def request_exit(self) -> None:
        """Make every running session go to STOPPING (as a user quitting from the system menu)."""
        for handle, obj in list(self._objects.items()):
            if isinstance(obj, _Session) and obj.running and not obj.exit_requested:
                self._stop(handle, obj)

    def _stop(self, h: int, s: _Session) -> None:
        """Walk a running session down the lifecycle graph to STOPPING (FOCUSED -> VISIBLE ->
        SYNCHRONIZED -> STOPPING: the specification's state diagram has no shortcut)."""
        s.exit_requested = True
        if s.state == S.FOCUSED.value:
            self._set_state(h, s, S.VISIBLE.value)
        if s.state == S.VISIBLE.value:
            self._set_state(h, s, S.SYNCHRONIZED.value)
        self._set_state(h, s, S.STOPPING.value)

    def time_of_frame(self, n: int) -> int:
        """XrTime of frame ``n``."""
        return EPOCH_NS + self.config.frame_time_ns(n)

    def _session_rate(self, s: _Session) -> float:
        return s.rate or self.config.rate

    def _period(self, s: _Session) -> int:
        return DeviceConfig(rate=self._session_rate(s)).period_ns

    def _session_time(self, s: _Session, n: int) -> int:
        """Display time of the session's frame ``n`` (exact; follows refresh-rate changes)."""
        if not s.rate:
            return self.time_of_frame(n)
        return s.anchor_time + DeviceConfig(rate=s.rate).frame_time_ns(n - s.anchor_frame)

    def sample_at(self, time: int) -> dict[str, dict[str, Any]]:
        """The scripted device state at an XrTime."""
        t = (time - EPOCH_NS) / 1e9
        frame = round(t * self.config.rate)
        return self.script.sample(t, frame)

    # -- plumbing ---------------------------------------------------------------------
    def _new_handle(self, obj: Any) -> int:
        self._next_handle += 0x10
        self._objects[self._next_handle] = obj
        return self._next_handle

    def _get(self, handle: Any, kind: type) -> tuple[int, Any]:
        h = _handle(handle) if not isinstance(handle, int) else handle
        obj = self._objects.get(h)
        if not isinstance(obj, kind):
            raise _Fail(R.ERROR_HANDLE_INVALID, f"{h:#x} is not a live {kind.__name__.strip('_')}")
        return h, obj

    def _session_instance(self, session: _Session) -> _Instance:
        return self._objects[session.instance]

    def _build_table(self) -> None:
        for name in dir(self):
            if name.startswith("xr") and callable(getattr(self, name)):
                self._register(name, getattr(self, name))

    def _register(self, name: str, impl: Callable[..., Any]) -> None:
        proto = _PROTOTYPES.get(name) or getattr(xr, f"PFN_{name}")

        def entry(*args: Any) -> int:
            self.calls[name] = self.calls.get(name, 0) + 1
            try:
                result = impl(*args)
            except _Fail as exc:
                return int(exc.result.value)
            except BaseException:  # a bug here must never read as XR_SUCCESS
                self.errors.append(f"{name}: {traceback.format_exc()}")
                return int(R.ERROR_RUNTIME_FAILURE.value)
            return 0 if result is None else int(result.value)

        callback = proto(entry)
        # Kept on the runtime: the loader may call these until the process ends, and
        # install() keeps the runtime itself alive (see vrmed.xr.sim).
        self._callbacks[name] = callback
        address = cast(callback, c_void_p).value
        assert address is not None  # a ctypes callback is never at NULL
        self._addresses[name.encode()] = address

    def _event(self, instance: int, kind: str, data: Any) -> None:
        inst = self._objects.get(instance)
        if isinstance(inst, _Instance):
            inst.events.append((kind, data))

    def _set_state(self, handle: int, session: _Session, state: int) -> None:
        session.state = state
        self._event(session.instance, "state", (handle, state, session.last_wait_time or EPOCH_NS))

    # -- loader entry -------------------------------------------------------------------
    def xrGetInstanceProcAddr(self, instance: Any, name: bytes, function: Any) -> R | None:
        """Look up an entry point (pre-instance functions only for a NULL instance)."""
        if not function:
            raise _Fail(R.ERROR_VALIDATION_FAILURE, "function is NULL")
        out = cast(function, POINTER(c_void_p))
        out[0] = None
        if name is None:
            raise _Fail(R.ERROR_VALIDATION_FAILURE, "name is NULL")
        h = _handle(instance)
        if h == 0 and name not in (
            b"xrEnumerateInstanceExtensionProperties",
            b"xrCreateInstance",
            b"xrGetInstanceProcAddr",
        ):
            # Only pre-instance functions may be fetched without an instance.
            raise _Fail(R.ERROR_HANDLE_INVALID, f"{name!r} needs an instance")
        if h:
            _, inst = self._get(h, _Instance)
            needs = EXTENSION_FUNCTIONS.get(name.decode(errors="replace"))
            if needs is not None and not inst.extensions.intersection(needs):
                # Spec: an extension's functions are unsupported unless it is enabled.
                raise _Fail(R.ERROR_FUNCTION_UNSUPPORTED, f"{name!r} needs {' or '.join(needs)} enabled")
        addr = self._addresses.get(name)
        if addr is None:
            raise _Fail(R.ERROR_FUNCTION_UNSUPPORTED, name.decode(errors="replace"))
        out[0] = addr
        return None

    # -- instance -----------------------------------------------------------------------
    def xrEnumerateInstanceExtensionProperties(
        self, layer_name: bytes | None, capacity: int, count_out: Any, props: Any
    ) -> None:
        """List XR_MND_headless, XR_MNDX_egl_enable and XR_KHR_opengl_enable."""
        if layer_name:
            raise _Fail(R.ERROR_API_LAYER_NOT_PRESENT, "the runtime provides no layers")

        def write(arr: Any, i: int, item: tuple[str, int]) -> None:
            if arr[i]._type != ST.EXTENSION_PROPERTIES.value:
                raise _Fail(R.ERROR_VALIDATION_FAILURE, "ExtensionProperties.type")
            arr[i].extension_name = item[0].encode()
            arr[i].extension_version = item[1]

        _enumerate(capacity, count_out, props, sorted(EXTENSIONS.items()), write)

    def xrCreateInstance(self, create_info: Any, instance_out: Any) -> None:
        """Create an instance (API 1.0/1.1; unknown extensions are refused)."""
        info = _deref(create_info)
        _check_type(info, ST.INSTANCE_CREATE_INFO, "XrInstanceCreateInfo")
        api = info.application_info._api_version
        if api >> 48 != 1 or ((api >> 32) & 0xFFFF) > (API_VERSION >> 32) & 0xFFFF:
            raise _Fail(R.ERROR_API_VERSION_UNSUPPORTED, f"API version {api >> 48}.{(api >> 32) & 0xFFFF}")
        if not info.application_info.application_name:
            raise _Fail(R.ERROR_NAME_INVALID, "empty application name")
        exts = set()
        for i in range(info.enabled_extension_count):
            name = info._enabled_extension_names[i].decode()
            if name not in EXTENSIONS:
                raise _Fail(R.ERROR_EXTENSION_NOT_PRESENT, name)
            exts.add(name)
        inst = _Instance(exts, info.application_info.application_name.decode(errors="replace"))
        _write_handle(instance_out, self._new_handle(inst))

    def xrDestroyInstance(self, instance: Any) -> None:
        """Destroy an instance with its session and action sets."""
        h, inst = self._get(instance, _Instance)
        if inst.session:
            self._destroy_session(inst.session)
        for oh, obj in list(self._objects.items()):
            if isinstance(obj, _ActionSet) and obj.instance == h:
                self._destroy_action_set(oh)
        del self._objects[h]

    def xrGetInstanceProperties(self, instance: Any, props: Any) -> None:
        """Report the runtime's name and version."""
        self._get(instance, _Instance)
        p = _deref(props)
        _check_type(p, ST.INSTANCE_PROPERTIES, "XrInstanceProperties")
        p._runtime_version = RUNTIME_VERSION
        p.runtime_name = b"vrmed simulated runtime"

    def xrPollEvent(self, instance: Any, event_data: Any) -> R:
        """Pop the next session-state or interaction-profile event."""
        _, inst = self._get(instance, _Instance)
        buf = _deref(event_data, xr.EventDataBuffer)
        _check_type(buf, ST.EVENT_DATA_BUFFER, "XrEventDataBuffer")
        s = self._objects.get(inst.session)
        if (
            isinstance(s, _Session)
            and self.exit_after_frames is not None
            and s.frames_waited >= self.exit_after_frames
            and s.running
            and not s.exit_requested
        ):
            # The scripted user quits between frames: the app learns it from this poll
            # before it calls anything else, as from a system-menu quit on a headset.
            self._stop(inst.session, s)
        if not inst.events:
            return R.EVENT_UNAVAILABLE
        kind, data = inst.events.pop(0)
        ctypes.memset(ctypes.addressof(buf), 0, ctypes.sizeof(xr.EventDataBuffer))
        addr = ctypes.addressof(buf)
        if kind == "state":
            ev = xr.EventDataSessionStateChanged.from_address(addr)
            ev._type = ST.EVENT_DATA_SESSION_STATE_CHANGED.value
            c_uint64.from_address(addr + xr.EventDataSessionStateChanged.session.offset).value = data[0]
            ev._state, ev.time = data[1], data[2]
        elif kind == "refresh":
            ev = xr.EventDataDisplayRefreshRateChangedFB.from_address(addr)
            ev._type = ST.EVENT_DATA_DISPLAY_REFRESH_RATE_CHANGED_FB.value
            ev.from_display_refresh_rate, ev.to_display_refresh_rate = data[1], data[2]
        else:  # "profile"
            ev = xr.EventDataInteractionProfileChanged.from_address(addr)
            ev._type = ST.EVENT_DATA_INTERACTION_PROFILE_CHANGED.value
            c_uint64.from_address(addr + xr.EventDataInteractionProfileChanged.session.offset).value = data
        return R.SUCCESS

    def xrResultToString(self, instance: Any, value: int, buffer: Any) -> None:
        """Name an XrResult into the app's XR_MAX_RESULT_STRING_SIZE (64) byte buffer."""
        self._get(instance, _Instance)
        try:
            text = f"XR_{R(value).name}"
        except ValueError:  # the spec's names for values it does not know
            text = f"XR_UNKNOWN_SUCCESS_{value}" if value >= 0 else f"XR_UNKNOWN_FAILURE_{value}"
        _write_fixed(buffer, text, xr.MAX_RESULT_STRING_SIZE)

    def xrStructureTypeToString(self, instance: Any, value: int, buffer: Any) -> None:
        """Name an XrStructureType into the app's XR_MAX_STRUCTURE_NAME_SIZE (64) byte buffer."""
        self._get(instance, _Instance)
        try:
            text = f"XR_TYPE_{ST(value).name}"
        except ValueError:
            text = f"XR_UNKNOWN_STRUCTURE_TYPE_{value}"
        _write_fixed(buffer, text, xr.MAX_STRUCTURE_NAME_SIZE)

    # -- paths --------------------------------------------------------------------------
    def xrStringToPath(self, instance: Any, path_string: bytes, path_out: Any) -> None:
        """Intern a well-formed path string."""
        _, inst = self._get(instance, _Instance)
        text = (path_string or b"").decode(errors="replace")
        if not _PATH_RE.match(text):
            raise _Fail(R.ERROR_PATH_FORMAT_INVALID, text)
        pid = inst.path_ids.get(text)
        if pid is None:
            pid = inst.path_ids[text] = len(inst.paths)
            inst.paths.append(text)
        path_out[0] = pid

    def xrPathToString(self, instance: Any, path: int, capacity: int, count_out: Any, buffer: Any) -> None:
        """The string of an interned path (two-call idiom)."""
        _, inst = self._get(instance, _Instance)
        _write_string(capacity, count_out, buffer, self._path(inst, path))

    def _path(self, inst: _Instance, path: int) -> str:
        if not 0 < path < len(inst.paths):
            raise _Fail(R.ERROR_PATH_INVALID, str(path))
        return inst.paths[path]

    # -- system -------------------------------------------------------------------------
    def xrGetSystem(self, instance: Any, get_info: Any, system_id: Any) -> None:
        """The simulated headset (head-mounted form factor only)."""
        self._get(instance, _Instance)
        info = _deref(get_info)
        _check_type(info, ST.SYSTEM_GET_INFO, "XrSystemGetInfo")
        if info._form_factor != HMD:
            raise _Fail(R.ERROR_FORM_FACTOR_UNSUPPORTED, str(info._form_factor))
        system_id[0] = SYSTEM_ID

    def _system(self, instance: Any, system_id: int) -> _Instance:
        _, inst = self._get(instance, _Instance)
        if system_id != SYSTEM_ID:
            raise _Fail(R.ERROR_SYSTEM_INVALID, str(system_id))
        return inst

    def xrGetSystemProperties(self, instance: Any, system_id: int, props: Any) -> None:
        """Name, limits and tracking capabilities of the simulated headset."""
        self._system(instance, system_id)
        p = _deref(props)
        _check_type(p, ST.SYSTEM_PROPERTIES, "XrSystemProperties")
        p.system_id, p.vendor_id = SYSTEM_ID, 0x766D  # "vm"
        p.system_name = b"vrmed simulated headset"
        g = p.graphics_properties
        g.max_swapchain_image_width = g.max_swapchain_image_height = MAX_IMAGE_SIZE
        g.max_layer_count = MAX_LAYERS
        p.tracking_properties.orientation_tracking = p.tracking_properties.position_tracking = 1
        for stype, addr in _walk_next(p._next):
            if stype == ST.SYSTEM_HAND_TRACKING_PROPERTIES_EXT.value:
                xr.SystemHandTrackingPropertiesEXT.from_address(addr).supports_hand_tracking = 1
            elif stype == ST.SYSTEM_BODY_TRACKING_PROPERTIES_FB.value:
                xr.SystemBodyTrackingPropertiesFB.from_address(addr).supports_body_tracking = 1
            elif stype == ST.SYSTEM_EYE_GAZE_INTERACTION_PROPERTIES_EXT.value:
                xr.SystemEyeGazeInteractionPropertiesEXT.from_address(addr).supports_eye_gaze_interaction = 1

    def xrEnumerateViewConfigurations(
        self, instance: Any, system_id: int, capacity: int, count_out: Any, types: Any
    ) -> None:
        """Primary stereo only."""
        self._system(instance, system_id)
        _enumerate(capacity, count_out, types, [STEREO], lambda a, i, v: a.__setitem__(i, v))

    def _check_view_config(self, view_config: int) -> None:
        if view_config != STEREO:
            raise _Fail(R.ERROR_VIEW_CONFIGURATION_TYPE_UNSUPPORTED, str(view_config))

    def xrGetViewConfigurationProperties(self, instance: Any, system_id: int, view_config: int, props: Any) -> None:
        """Primary stereo, FOV not mutable."""
        self._system(instance, system_id)
        self._check_view_config(view_config)
        p = _deref(props)
        _check_type(p, ST.VIEW_CONFIGURATION_PROPERTIES, "XrViewConfigurationProperties")
        p._view_configuration_type, p.fov_mutable = STEREO, 0

    def xrEnumerateViewConfigurationViews(
        self, instance: Any, system_id: int, view_config: int, capacity: int, count_out: Any, views: Any
    ) -> None:
        """Two views of the configured eye image size."""
        self._system(instance, system_id)
        self._check_view_config(view_config)

        def write(arr: Any, i: int, _: Any) -> None:
            v = arr[i]
            if v._type != ST.VIEW_CONFIGURATION_VIEW.value:
                raise _Fail(R.ERROR_VALIDATION_FAILURE, "XrViewConfigurationView.type")
            v.recommended_image_rect_width, v.recommended_image_rect_height = self.config.width, self.config.height
            v.max_image_rect_width = v.max_image_rect_height = MAX_IMAGE_SIZE
            v.recommended_swapchain_sample_count = v.max_swapchain_sample_count = 1

        _enumerate(capacity, count_out, views, [0, 1], write)

    def xrEnumerateEnvironmentBlendModes(
        self, instance: Any, system_id: int, view_config: int, capacity: int, count_out: Any, modes: Any
    ) -> None:
        """Opaque only."""
        self._system(instance, system_id)
        self._check_view_config(view_config)
        _enumerate(capacity, count_out, modes, [OPAQUE], lambda a, i, v: a.__setitem__(i, v))

    def xrGetOpenGLGraphicsRequirementsKHR(self, instance: Any, system_id: int, req: Any) -> None:
        """OpenGL 3.3 to 4.6; must precede a graphics session."""
        inst = self._system(instance, system_id)
        r = _deref(req)
        _check_type(r, ST.GRAPHICS_REQUIREMENTS_OPENGL_KHR, "XrGraphicsRequirementsOpenGLKHR")
        r._min_api_version_supported = (3 << 48) | (3 << 32)
        r._max_api_version_supported = (4 << 48) | (6 << 32)
        inst.gl_requirements_queried = True

    # -- session ------------------------------------------------------------------------
    def xrCreateSession(self, instance: Any, create_info: Any, session_out: Any) -> None:
        """Create a headless, EGL or Xlib/GLX session; queues IDLE then READY."""
        ih, inst = self._get(instance, _Instance)
        info = _deref(create_info)
        _check_type(info, ST.SESSION_CREATE_INFO, "XrSessionCreateInfo")
        if info.system_id != SYSTEM_ID:
            raise _Fail(R.ERROR_SYSTEM_INVALID, str(info.system_id))
        if inst.session:
            raise _Fail(R.ERROR_LIMIT_REACHED, "the simulated runtime supports one session per instance")
        binding: Any = None
        kind = ""
        for stype, addr in _walk_next(info._next):
            if stype == ST.GRAPHICS_BINDING_EGL_MNDX.value:
                binding, kind = xr.GraphicsBindingEGLMNDX.from_address(addr), "egl"
            elif stype == ST.GRAPHICS_BINDING_OPENGL_XLIB_KHR.value:
                binding, kind = xr.GraphicsBindingOpenGLXlibKHR.from_address(addr), "glx"
            elif 1000023000 <= stype < 1000024000 or stype in (1000024001, 1000025000, 1000027000):
                raise _Fail(
                    R.ERROR_GRAPHICS_DEVICE_INVALID,
                    f"graphics binding type {stype} is not supported; use OpenGL on Xlib (XR_KHR_opengl_enable), "
                    "EGL (XR_MNDX_egl_enable) or XR_MND_headless",
                )
        gl: GL | None = None
        context = 0
        if binding is None:
            if "XR_MND_headless" not in inst.extensions:
                raise _Fail(R.ERROR_GRAPHICS_DEVICE_INVALID, "no graphics binding and XR_MND_headless not enabled")
        else:
            ext = "XR_MNDX_egl_enable" if kind == "egl" else "XR_KHR_opengl_enable"
            if ext not in inst.extensions:
                raise _Fail(R.ERROR_VALIDATION_FAILURE, f"{kind} graphics binding without {ext}")
            if not inst.gl_requirements_queried:
                raise _Fail(R.ERROR_GRAPHICS_REQUIREMENTS_CALL_MISSING, "call xrGetOpenGLGraphicsRequirementsKHR")
            if kind == "egl":
                context = cast(binding.context, c_void_p).value or 0
                gl = GL(cast(binding.get_proc_address, c_void_p).value or 0)
            else:
                context = cast(binding.glx_context, c_void_p).value or 0
                if not cast(binding.x_display, c_void_p).value:
                    raise _Fail(R.ERROR_GRAPHICS_DEVICE_INVALID, "xDisplay is NULL")
                gl = GlxGL()
            if not context or gl.current_context() != context:
                raise _Fail(R.ERROR_GRAPHICS_DEVICE_INVALID, f"the bound {kind.upper()} context is not current")
        session = _Session(ih, binding is None, gl, context)
        handle = self._new_handle(session)
        inst.session = handle
        self._set_state(handle, session, S.IDLE.value)
        self._set_state(handle, session, S.READY.value)
        _write_handle(session_out, handle)

    def xrDestroySession(self, session: Any) -> None:
        """Destroy a session with its swapchains and spaces."""
        h, _ = self._get(session, _Session)
        self._destroy_session(h)

    def _destroy_session(self, h: int) -> None:
        session = self._objects[h]
        for sc in list(session.swapchains):
            self._destroy_swapchain(sc)
        for sp in list(session.spaces) + list(session.hand_trackers) + list(session.body_trackers):
            self._objects.pop(sp, None)
        inst = self._objects.get(session.instance)
        if isinstance(inst, _Instance):
            inst.session = 0
            inst.events = [
                e
                for e in inst.events
                if not (e[0] in ("state", "refresh") and e[1][0] == h) and not (e[0] == "profile" and e[1] == h)
            ]
        del self._objects[h]

    def xrBeginSession(self, session: Any, begin_info: Any) -> None:
        """Start the session. A graphics session goes SYNCHRONIZED, VISIBLE, FOCUSED once its
        first xrWaitFrame synchronises the frame loop; a headless one (XR_MND_headless) has
        no frame loop to synchronise, so it goes there at once and its
        primaryViewConfigurationType is ignored (as Monado, the extension's origin, does)."""
        h, s = self._get(session, _Session)
        info = _deref(begin_info)
        _check_type(info, ST.SESSION_BEGIN_INFO, "XrSessionBeginInfo")
        if s.running:
            raise _Fail(R.ERROR_SESSION_RUNNING, "")
        if s.state != S.READY.value:
            raise _Fail(R.ERROR_SESSION_NOT_READY, SESSION_STATES[s.state])
        if not s.headless:
            self._check_view_config(info._primary_view_configuration_type)
        s.running = True
        if s.headless:
            for state in (S.SYNCHRONIZED, S.VISIBLE, S.FOCUSED):
                self._set_state(h, s, state.value)

    def xrEndSession(self, session: Any) -> None:
        """End a STOPPING session; queues IDLE then EXITING (or READY)."""
        h, s = self._get(session, _Session)
        if not s.running:
            raise _Fail(R.ERROR_SESSION_NOT_RUNNING, "")
        if s.state != S.STOPPING.value:
            raise _Fail(R.ERROR_SESSION_NOT_STOPPING, SESSION_STATES[s.state])
        s.running = False
        s.frame_begun = False
        s.waited_times.clear()
        self._set_state(h, s, S.IDLE.value)
        if s.exit_requested:
            self._set_state(h, s, S.EXITING.value)
        else:
            self._set_state(h, s, S.READY.value)

    def xrRequestExitSession(self, session: Any) -> None:
        """Queue STOPPING for a running session."""
        h, s = self._get(session, _Session)
        if not s.running:
            raise _Fail(R.ERROR_SESSION_NOT_RUNNING, "")
        if not s.exit_requested:
            self._stop(h, s)

    # -- frames -------------------------------------------------------------------------
    def xrWaitFrame(self, session: Any, wait_info: Any, frame_state: Any) -> None:
        """Predict the next frame's display time (exact, simulated clock).

        The first xrWaitFrame of a running session synchronises its frame loop: only then
        does the session go SYNCHRONIZED -> VISIBLE -> FOCUSED (OpenXR 1.0, "Session
        Lifecycle"), with the predicted display time as the events' time."""
        h, s = self._get(session, _Session)
        if wait_info:
            _check_type(_deref(wait_info), ST.FRAME_WAIT_INFO, "XrFrameWaitInfo")
        fs = _deref(frame_state)
        _check_type(fs, ST.FRAME_STATE, "XrFrameState")
        if not s.running:
            raise _Fail(R.ERROR_SESSION_NOT_RUNNING, "")
        t = self._session_time(s, s.frames_waited)
        s.frames_waited += 1
        s.waited_times = (s.waited_times + [t])[-4:]
        s.last_wait_time = t
        if s.state == S.READY.value and not s.headless and not s.exit_requested:
            for state in (S.SYNCHRONIZED, S.VISIBLE, S.FOCUSED):
                self._set_state(h, s, state.value)
        fs.predicted_display_time = t
        fs.predicted_display_period = self._period(s)
        fs.should_render = int(not s.headless and s.state in (S.VISIBLE.value, S.FOCUSED.value))

    def xrBeginFrame(self, session: Any, begin_info: Any) -> R | None:
        """Begin the waited frame (FRAME_DISCARDED if one was already begun)."""
        _, s = self._get(session, _Session)
        if begin_info:
            _check_type(_deref(begin_info), ST.FRAME_BEGIN_INFO, "XrFrameBeginInfo")
        if not s.running:
            raise _Fail(R.ERROR_SESSION_NOT_RUNNING, "")
        if not s.waited_times or s.begun_time == s.waited_times[-1]:
            raise _Fail(R.ERROR_CALL_ORDER_INVALID, "xrBeginFrame without a matching xrWaitFrame")
        discarded = s.frame_begun
        s.frame_begun = True
        s.begun_time = s.waited_times[-1]
        return R.FRAME_DISCARDED if discarded else None

    def xrEndFrame(self, session: Any, end_info: Any) -> None:
        """Validate the projection and quad layers; read back their released swapchain images."""
        sh, s = self._get(session, _Session)
        info = _deref(end_info)
        _check_type(info, ST.FRAME_END_INFO, "XrFrameEndInfo")
        if not s.running:
            raise _Fail(R.ERROR_SESSION_NOT_RUNNING, "")
        if not s.frame_begun:
            raise _Fail(R.ERROR_CALL_ORDER_INVALID, "xrEndFrame without xrBeginFrame")
        if info.display_time <= 0 or info.display_time not in s.waited_times:
            raise _Fail(R.ERROR_TIME_INVALID, f"displayTime {info.display_time} was never predicted")
        if info._environment_blend_mode != OPAQUE:
            raise _Fail(R.ERROR_ENVIRONMENT_BLEND_MODE_UNSUPPORTED, str(info._environment_blend_mode))
        if info.layer_count > MAX_LAYERS:
            raise _Fail(R.ERROR_LAYER_LIMIT_EXCEEDED, str(info.layer_count))
        if info.layer_count and not info._layers:
            raise _Fail(R.ERROR_VALIDATION_FAILURE, "layers is NULL with a non-zero layerCount")
        images: dict[int, np.ndarray] = {}
        poses: dict[int, Pose] = {}
        quads: list[SubmittedQuad] = []
        kinds: list[str] = []
        for i in range(info.layer_count):
            layer = info._layers[i]
            if not layer:
                raise _Fail(R.ERROR_LAYER_INVALID, f"layer {i} is NULL")
            header = layer.contents
            if header._type not in (ST.COMPOSITION_LAYER_PROJECTION.value, ST.COMPOSITION_LAYER_QUAD.value):
                # Cylinder, cube, equirect... need extensions this runtime does not offer.
                raise _Fail(R.ERROR_LAYER_INVALID, f"layer {i}: structure type {header._type} is not a layer")
            if header._layer_flags & ~_LAYER_FLAGS:
                raise _Fail(R.ERROR_VALIDATION_FAILURE, f"layer {i}: unknown layerFlags {header._layer_flags:#x}")
            if not isinstance(self._objects.get(_handle(header.space)), _Space):
                raise _Fail(R.ERROR_HANDLE_INVALID, f"layer {i}: space")
            if header._type == ST.COMPOSITION_LAYER_PROJECTION.value:
                kinds.append("projection")
                proj = cast(layer, POINTER(xr.CompositionLayerProjection)).contents
                if proj.view_count != 2:
                    raise _Fail(R.ERROR_VALIDATION_FAILURE, f"layer {i}: {proj.view_count} views, stereo needs 2")
                if not proj._views:
                    raise _Fail(R.ERROR_VALIDATION_FAILURE, f"layer {i}: views is NULL")
                for eye in range(2):
                    view = proj._views[eye]
                    if view._type != ST.COMPOSITION_LAYER_PROJECTION_VIEW.value:
                        raise _Fail(R.ERROR_VALIDATION_FAILURE, "XrCompositionLayerProjectionView.type")
                    _check_pose(view.pose, f"layer {i} eye {eye} pose")
                    image = self._layer_image(sh, s, view.sub_image, f"layer {i} eye {eye}")
                    if eye not in poses:  # the first projection layer is the scene the tests read
                        pos, rot = _get_pose(view.pose)
                        poses[eye] = Pose(pos, rot)
                        if image is not None:
                            images[eye] = image
            elif header._type == ST.COMPOSITION_LAYER_QUAD.value:
                kinds.append("quad")
                quad = cast(layer, POINTER(xr.CompositionLayerQuad)).contents
                if quad._eye_visibility not in _EYE_VISIBILITY:
                    raise _Fail(R.ERROR_VALIDATION_FAILURE, f"layer {i}: eyeVisibility {quad._eye_visibility}")
                _check_pose(quad.pose, f"layer {i} (quad) pose")
                w, h = float(quad.size.width), float(quad.size.height)
                if not (math.isfinite(w) and math.isfinite(h)) or w < 0 or h < 0:
                    raise _Fail(R.ERROR_VALIDATION_FAILURE, f"layer {i}: quad size {w} x {h}")
                image = self._layer_image(sh, s, quad.sub_image, f"layer {i} (quad)")
                space_h = _handle(header.space)
                pos, rot = _get_pose(quad.pose)
                base = self._space_pose(s, self._objects[space_h], info.display_time, self.sample_at(info.display_time))
                world = Pose(*compose(base[0], base[1], pos, rot)) if base is not None else None
                quads.append(
                    SubmittedQuad(
                        space_h,
                        Pose(pos, rot),
                        (w, h),
                        _EYE_VISIBILITY[quad._eye_visibility],
                        int(header._layer_flags),
                        image,
                        world,
                    )
                )
            else:
                raise _Fail(R.ERROR_LAYER_INVALID, f"layer {i}: structure type {header._type} is not a layer")
        s.frame_begun = False
        self.frames_ended += 1
        self.frames.append(
            SubmittedFrame(info.display_time, info.layer_count, images, poses, tuple(quads), tuple(kinds))
        )
        del self.frames[: -self.keep_frames]

    def _layer_image(self, sh: int, s: _Session, sub: Any, what: str) -> np.ndarray | None:
        """Check a layer's swapchain sub-image; read it back (top row first) for colour swapchains."""
        _, sc = self._get(sub.swapchain, _Swapchain)
        if sc.session != sh:
            raise _Fail(R.ERROR_HANDLE_INVALID, f"{what}: the swapchain belongs to another session")
        if sc.last_released is None:
            raise _Fail(R.ERROR_LAYER_INVALID, f"{what}: swapchain has no released image")
        if sub.image_array_index != 0:
            raise _Fail(R.ERROR_VALIDATION_FAILURE, f"{what}: imageArrayIndex {sub.image_array_index} >= arraySize 1")
        rect = sub.image_rect
        x, y, w, h = rect.offset.x, rect.offset.y, rect.extent.width, rect.extent.height
        if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > sc.width or y + h > sc.height:
            raise _Fail(R.ERROR_SWAPCHAIN_RECT_INVALID, f"{what}: {x},{y} {w}x{h}")
        if FORMATS[sc.format][3] and not s.headless and s.gl is not None:
            full = s.gl.read_rgba(sc.textures[sc.last_released], sc.width, sc.height)
            return np.ascontiguousarray(full[y : y + h, x : x + w][::-1])
        return None

    def xrLocateViews(
        self, session: Any, locate_info: Any, view_state: Any, capacity: int, count_out: Any, views: Any
    ) -> None:
        """Eye poses and fields of view at a time, in a space."""
        _, s = self._get(session, _Session)
        info = _deref(locate_info)
        _check_type(info, ST.VIEW_LOCATE_INFO, "XrViewLocateInfo")
        self._check_view_config(info._view_configuration_type)
        vs = _deref(view_state)
        _check_type(vs, ST.VIEW_STATE, "XrViewState")
        if info.display_time <= 0:
            raise _Fail(R.ERROR_TIME_INVALID, str(info.display_time))
        sh, space = self._get(info.space, _Space)
        sample = self.sample_at(info.display_time)
        head = self.script.pose(sample, HEAD) or Pose()
        base = self._space_pose(s, space, info.display_time, sample)
        eyes = self.config.eyes(head)
        if base is None:
            vs._view_state_flags = 0
        else:
            vs._view_state_flags = VIEW_STATE_ALL

        def write(arr: Any, i: int, eye: Any) -> None:
            v = arr[i]
            if v._type != ST.VIEW.value:
                raise _Fail(R.ERROR_VALIDATION_FAILURE, "XrView.type")
            if base is not None:
                pos, rot = relative(base[0], base[1], eye.pose.position, eye.pose.orientation)
                _set_pose(v.pose, pos, rot)
            f = eye.fov
            v.fov.angle_left, v.fov.angle_right, v.fov.angle_up, v.fov.angle_down = (
                f.angle_left,
                f.angle_right,
                f.angle_up,
                f.angle_down,
            )

        _enumerate(capacity, count_out, views, list(eyes), write)

    # -- spaces -------------------------------------------------------------------------
    def xrEnumerateReferenceSpaces(self, session: Any, capacity: int, count_out: Any, spaces: Any) -> None:
        """VIEW, LOCAL and STAGE."""
        self._get(session, _Session)
        kinds = [xr.ReferenceSpaceType.VIEW.value, xr.ReferenceSpaceType.LOCAL.value, xr.ReferenceSpaceType.STAGE.value]
        _enumerate(capacity, count_out, spaces, kinds, lambda a, i, v: a.__setitem__(i, v))

    def xrCreateReferenceSpace(self, session: Any, create_info: Any, space_out: Any) -> None:
        """Create a VIEW, LOCAL or STAGE space with an offset pose."""
        sh, s = self._get(session, _Session)
        info = _deref(create_info)
        _check_type(info, ST.REFERENCE_SPACE_CREATE_INFO, "XrReferenceSpaceCreateInfo")
        kind = info._reference_space_type
        if kind not in (1, 2, 3):
            raise _Fail(R.ERROR_REFERENCE_SPACE_UNSUPPORTED, str(kind))
        _check_pose(info.pose_in_reference_space, "poseInReferenceSpace")
        pos, rot = _get_pose(info.pose_in_reference_space)
        handle = self._new_handle(_Space(sh, "reference", (pos, rot), reference_type=kind))
        s.spaces.add(handle)
        _write_handle(space_out, handle)

    def xrGetReferenceSpaceBoundsRect(self, session: Any, kind: int, bounds: Any) -> R | None:
        """2 m x 2 m for STAGE; unavailable otherwise."""
        self._get(session, _Session)
        if kind not in (1, 2, 3):
            raise _Fail(R.ERROR_REFERENCE_SPACE_UNSUPPORTED, str(kind))
        b = _deref(bounds, xr.Extent2Df)
        if kind == xr.ReferenceSpaceType.STAGE.value:
            b.width, b.height = 2.0, 2.0
            return None
        b.width = b.height = 0.0
        return R.SPACE_BOUNDS_UNAVAILABLE

    def xrCreateActionSpace(self, session: Any, create_info: Any, space_out: Any) -> None:
        """A space following a pose action's bound controller."""
        sh, s = self._get(session, _Session)
        info = _deref(create_info)
        _check_type(info, ST.ACTION_SPACE_CREATE_INFO, "XrActionSpaceCreateInfo")
        ah, action = self._get(info.action, _Action)
        if action.type != xr.ActionType.POSE_INPUT.value:
            raise _Fail(R.ERROR_ACTION_TYPE_MISMATCH, action.name)
        sub = self._subaction(s, action, info.subaction_path)
        _check_pose(info.pose_in_action_space, "poseInActionSpace")
        pos, rot = _get_pose(info.pose_in_action_space)
        handle = self._new_handle(_Space(sh, "action", (pos, rot), action=ah, subaction_path=sub))
        s.spaces.add(handle)
        _write_handle(space_out, handle)

    def xrDestroySpace(self, space: Any) -> None:
        """Destroy a space."""
        h, sp = self._get(space, _Space)
        sess = self._objects.get(sp.session)
        if isinstance(sess, _Session):
            sess.spaces.discard(h)
        del self._objects[h]

    def _space_pose(self, s: _Session, space: _Space, time: int, sample: dict[str, Any]) -> Any:
        """World (stage) pose of a space at ``time``, or None while untracked.

        LOCAL coincides with STAGE in the simulation (the floor is y = 0 in both)."""
        if space.kind == "reference":
            if space.reference_type == xr.ReferenceSpaceType.VIEW.value:
                head = self.script.pose(sample, HEAD) or Pose()
                return compose(head.position, head.orientation, *space.offset)
            return space.offset
        hands = self._action_hands(s, space.action, space.subaction_path, pose=True)
        if not hands or s.state != S.FOCUSED.value:
            return None
        pose = self._device_pose(sample, hands[0])
        if pose is None:
            return None
        return compose(pose.position, pose.orientation, *space.offset)

    def _device_pose(self, sample: dict[str, Any], device: str) -> Pose | None:
        """A scripted device's pose; the eye gaze ("eyes") is the script's ``eyes`` device
        when it has one, else the head's forward direction from between the eyes."""
        if device == "eyes":
            gaze = self.script.pose(sample, "eyes") if "eyes" in sample else None
            return gaze or self.script.pose(sample, HEAD) or Pose()
        return self.script.pose(sample, device)

    def xrLocateSpace(self, space: Any, base_space: Any, time: int, location: Any) -> None:
        """Pose of one space in another at a time (velocities are not simulated)."""
        _, sp = self._get(space, _Space)
        _, base = self._get(base_space, _Space)
        loc = _deref(location)
        _check_type(loc, ST.SPACE_LOCATION, "XrSpaceLocation")
        if time <= 0:
            raise _Fail(R.ERROR_TIME_INVALID, str(time))
        s = self._objects[sp.session]
        sample = self.sample_at(time)
        a = self._space_pose(s, sp, time, sample)
        b = self._space_pose(s, base, time, sample)
        for stype, addr in _walk_next(loc._next):
            if stype == ST.SPACE_VELOCITY.value:
                xr.SpaceVelocity.from_address(addr)._velocity_flags = 0  # velocities are not simulated
        if a is None or b is None:
            loc._location_flags = 0
            return
        pos, rot = relative(b[0], b[1], a[0], a[1])
        _set_pose(loc.pose, pos, rot)
        loc._location_flags = LOCATION_ALL

    # -- swapchains -----------------------------------------------------------------------
    def xrEnumerateSwapchainFormats(self, session: Any, capacity: int, count_out: Any, formats: Any) -> None:
        """GL colour and depth formats (none for headless sessions)."""
        _, s = self._get(session, _Session)
        items = [] if s.headless else list(SWAPCHAIN_FORMATS)
        _enumerate(capacity, count_out, formats, items, lambda a, i, v: a.__setitem__(i, v))

    def xrCreateSwapchain(self, session: Any, create_info: Any, swapchain_out: Any) -> None:
        """Create three GL textures in the app's (current) EGL context."""
        sh, s = self._get(session, _Session)
        info = _deref(create_info)
        _check_type(info, ST.SWAPCHAIN_CREATE_INFO, "XrSwapchainCreateInfo")
        if s.headless or s.gl is None:
            raise _Fail(R.ERROR_VALIDATION_FAILURE, "a headless session has no swapchains (XR_MND_headless)")
        if info.format not in SWAPCHAIN_FORMATS:
            raise _Fail(R.ERROR_SWAPCHAIN_FORMAT_UNSUPPORTED, str(info.format))
        if not (0 < info.width <= MAX_IMAGE_SIZE and 0 < info.height <= MAX_IMAGE_SIZE):
            raise _Fail(R.ERROR_VALIDATION_FAILURE, f"size {info.width}x{info.height}")
        if info.face_count != 1 or info.array_size != 1 or info.mip_count != 1 or info.sample_count != 1:
            raise _Fail(R.ERROR_FEATURE_UNSUPPORTED, "only 1 face, 1 layer, 1 mip level and 1 sample")
        if s.gl.current_context() != s.egl_context:
            raise _Fail(R.ERROR_GRAPHICS_DEVICE_INVALID, "the session's GL context is not current")
        # GL errors the application left unread are not the runtime's: clear them so that
        # create_textures reports only its own (glGetError returns one flag per call).
        for _ in range(32):
            if not s.gl.glGetError():
                break
        textures = s.gl.create_textures(SWAPCHAIN_IMAGES, info.format, info.width, info.height)
        handle = self._new_handle(_Swapchain(sh, info.format, info.width, info.height, textures))
        s.swapchains.add(handle)
        _write_handle(swapchain_out, handle)

    def xrDestroySwapchain(self, swapchain: Any) -> None:
        """Destroy a swapchain and its textures."""
        h, _ = self._get(swapchain, _Swapchain)
        self._destroy_swapchain(h)

    def _destroy_swapchain(self, h: int) -> None:
        sc = self._objects.pop(h)
        s = self._objects.get(sc.session)
        if isinstance(s, _Session):
            s.swapchains.discard(h)
            # Textures live in the app's context; only delete them while it is current.
            if s.gl is not None and s.gl.current_context() == s.egl_context:
                s.gl.delete_textures(sc.textures)

    def xrEnumerateSwapchainImages(self, swapchain: Any, capacity: int, count_out: Any, images: Any) -> None:
        """The GL texture names (XrSwapchainImageOpenGLKHR)."""
        _, sc = self._get(swapchain, _Swapchain)
        arr = cast(images, POINTER(xr.SwapchainImageOpenGLKHR)) if images else None

        def write(a: Any, i: int, tex: int) -> None:
            if a[i]._type != ST.SWAPCHAIN_IMAGE_OPENGL_KHR.value:
                raise _Fail(R.ERROR_VALIDATION_FAILURE, "images must be XrSwapchainImageOpenGLKHR")
            a[i].image = tex

        _enumerate(capacity, count_out, arr, sc.textures, write)

    def xrAcquireSwapchainImage(self, swapchain: Any, acquire_info: Any, index_out: Any) -> None:
        """Acquire the next image, round robin."""
        _, sc = self._get(swapchain, _Swapchain)
        if acquire_info:
            _check_type(_deref(acquire_info), ST.SWAPCHAIN_IMAGE_ACQUIRE_INFO, "XrSwapchainImageAcquireInfo")
        if len(sc.acquired) + len(sc.waited) >= len(sc.textures):
            raise _Fail(R.ERROR_CALL_ORDER_INVALID, "every image is already acquired")
        index = sc.next_index
        sc.next_index = (index + 1) % len(sc.textures)
        sc.acquired.append(index)
        index_out[0] = index

    def xrWaitSwapchainImage(self, swapchain: Any, wait_info: Any) -> None:
        """Wait for the oldest acquired image (never blocks here)."""
        _, sc = self._get(swapchain, _Swapchain)
        _check_type(_deref(wait_info), ST.SWAPCHAIN_IMAGE_WAIT_INFO, "XrSwapchainImageWaitInfo")
        if not sc.acquired:
            raise _Fail(R.ERROR_CALL_ORDER_INVALID, "no acquired image to wait for")
        if sc.waited:
            raise _Fail(R.ERROR_CALL_ORDER_INVALID, "an image is already waited and not released")
        sc.waited.append(sc.acquired.pop(0))

    def xrReleaseSwapchainImage(self, swapchain: Any, release_info: Any) -> None:
        """Release the waited image; it becomes the one xrEndFrame reads."""
        _, sc = self._get(swapchain, _Swapchain)
        if release_info:
            _check_type(_deref(release_info), ST.SWAPCHAIN_IMAGE_RELEASE_INFO, "XrSwapchainImageReleaseInfo")
        if not sc.waited:
            raise _Fail(R.ERROR_CALL_ORDER_INVALID, "no waited image to release")
        sc.last_released = sc.waited.pop(0)

    # -- actions -------------------------------------------------------------------------
    def xrCreateActionSet(self, instance: Any, create_info: Any, set_out: Any) -> None:
        """Create an action set: a well-formed unique name and a non-empty unique localized name."""
        ih, inst = self._get(instance, _Instance)
        info = _deref(create_info)
        _check_type(info, ST.ACTION_SET_CREATE_INFO, "XrActionSetCreateInfo")
        name = _checked_name(info.action_set_name, "actionSetName")
        localized = info.localized_action_set_name.decode(errors="replace")
        if not localized:
            raise _Fail(R.ERROR_LOCALIZED_NAME_INVALID, f"action set {name}: empty localizedActionSetName")
        if name in inst.action_set_names:
            raise _Fail(R.ERROR_NAME_DUPLICATED, name)
        if localized in inst.localized_set_names:
            raise _Fail(R.ERROR_LOCALIZED_NAME_DUPLICATED, localized)
        inst.action_set_names.add(name)
        inst.localized_set_names.add(localized)
        _write_handle(set_out, self._new_handle(_ActionSet(ih, name, info.priority, localized)))

    def xrDestroyActionSet(self, action_set: Any) -> None:
        """Destroy an action set and its actions."""
        h, _ = self._get(action_set, _ActionSet)
        self._destroy_action_set(h)

    def _destroy_action_set(self, h: int) -> None:
        aset = self._objects.pop(h)
        for a in aset.actions:
            self._objects.pop(a, None)
        inst = self._objects.get(aset.instance)
        if isinstance(inst, _Instance):
            inst.action_set_names.discard(aset.name)
            inst.localized_set_names.discard(aset.localized_name)

    def xrCreateAction(self, action_set: Any, create_info: Any, action_out: Any) -> None:
        """Create an action with optional top-level-user-path subaction paths."""
        sh, aset = self._get(action_set, _ActionSet)
        info = _deref(create_info)
        _check_type(info, ST.ACTION_CREATE_INFO, "XrActionCreateInfo")
        if aset.attached:
            raise _Fail(R.ERROR_ACTIONSETS_ALREADY_ATTACHED, aset.name)
        name = _checked_name(info.action_name, "actionName")
        localized = info.localized_action_name.decode(errors="replace")
        if not localized:
            raise _Fail(R.ERROR_LOCALIZED_NAME_INVALID, f"action {name}: empty localizedActionName")
        siblings = [self._objects[a] for a in aset.actions]
        if any(a.name == name for a in siblings):
            raise _Fail(R.ERROR_NAME_DUPLICATED, name)
        if any(a.localized_name == localized for a in siblings):
            raise _Fail(R.ERROR_LOCALIZED_NAME_DUPLICATED, localized)
        kinds = {
            t.value
            for t in (
                xr.ActionType.BOOLEAN_INPUT,
                xr.ActionType.FLOAT_INPUT,
                xr.ActionType.VECTOR2F_INPUT,
                xr.ActionType.POSE_INPUT,
                xr.ActionType.VIBRATION_OUTPUT,
            )
        }
        if info._action_type not in kinds:
            raise _Fail(R.ERROR_VALIDATION_FAILURE, f"action type {info._action_type}")
        inst = self._objects[aset.instance]
        if info.count_subaction_paths and not info._subaction_paths:
            raise _Fail(R.ERROR_VALIDATION_FAILURE, "subactionPaths is NULL with a non-zero count")
        subs: list[str] = []
        for i in range(info.count_subaction_paths):
            p = self._path(inst, info._subaction_paths[i])
            if p not in self._top_level_paths(inst) or p in subs:
                # Spec: not a top-level user path, or listed twice -> XR_ERROR_PATH_UNSUPPORTED.
                raise _Fail(R.ERROR_PATH_UNSUPPORTED, p)
            subs.append(p)
        handle = self._new_handle(_Action(sh, name, info._action_type, subs, localized))
        aset.actions.append(handle)
        _write_handle(action_out, handle)

    @staticmethod
    def _top_level_paths(inst: _Instance) -> tuple[str, ...]:
        extra = (EYES,) if "XR_EXT_eye_gaze_interaction" in inst.extensions else ()
        return TOP_LEVEL_PATHS + extra

    def xrDestroyAction(self, action: Any) -> None:
        """Destroy an action."""
        h, a = self._get(action, _Action)
        aset = self._objects.get(a.action_set)
        if isinstance(aset, _ActionSet) and h in aset.actions:
            aset.actions.remove(h)
        del self._objects[h]

    def xrSuggestInteractionProfileBindings(self, instance: Any, suggested: Any) -> None:
        """Record bindings for any core interaction profile (and enabled extension profiles)."""
        _, inst = self._get(instance, _Instance)
        info = _deref(suggested)
        _check_type(info, ST.INTERACTION_PROFILE_SUGGESTED_BINDING, "XrInteractionProfileSuggestedBinding")
        profile = self._path(inst, info.interaction_profile)
        paths = _profile_paths(profile, inst.extensions)
        if paths is None:
            raise _Fail(R.ERROR_PATH_UNSUPPORTED, profile)
        if info.count_suggested_bindings == 0 or not info._suggested_bindings:
            raise _Fail(R.ERROR_VALIDATION_FAILURE, "no bindings")
        bindings = []
        for i in range(info.count_suggested_bindings):
            b = info._suggested_bindings[i]
            ah, action = self._get(b.action, _Action)
            if self._objects[action.action_set].attached:
                raise _Fail(R.ERROR_ACTIONSETS_ALREADY_ATTACHED, action.name)
            path = self._path(inst, b.binding)
            m = _BINDING_RE.match(path)
            allowed = paths.get(m.group(1), set()) if m else set()
            if not m or not _accepts(allowed, m.group(2)):
                raise _Fail(R.ERROR_PATH_UNSUPPORTED, f"{path} for {profile}")
            bindings.append((ah, path))
        inst.suggested[profile] = bindings

    def xrAttachSessionActionSets(self, session: Any, attach_info: Any) -> None:
        """Attach action sets once; the simulated devices pick the best suggested profiles."""
        sh, s = self._get(session, _Session)
        info = _deref(attach_info)
        _check_type(info, ST.SESSION_ACTION_SETS_ATTACH_INFO, "XrSessionActionSetsAttachInfo")
        if s.attached_sets:
            raise _Fail(R.ERROR_ACTIONSETS_ALREADY_ATTACHED, "")
        if info.count_action_sets == 0 or not info._action_sets:
            raise _Fail(R.ERROR_VALIDATION_FAILURE, "no action sets")
        sets = [self._get(info._action_sets[i], _ActionSet)[0] for i in range(info.count_action_sets)]
        for h in sets:
            self._objects[h].attached = True
        s.attached_sets = sets
        inst = self._session_instance(s)
        # The simulated controllers are hand controllers: they pose as the best suggested
        # hand profile; the eye tracker serves the eye gaze profile when it was suggested.
        hand = next((p for p in PROFILES if p in inst.suggested and _L in PROFILES[p]), None)
        if hand is not None:
            s.profiles[_L] = s.profiles[_R] = hand
        if EYE_GAZE_PROFILE in inst.suggested and "XR_EXT_eye_gaze_interaction" in inst.extensions:
            s.profiles[EYES] = EYE_GAZE_PROFILE
        if s.profiles:
            self._event(s.instance, "profile", sh)

    def xrGetCurrentInteractionProfile(self, session: Any, top_level: int, state: Any) -> None:
        """The profile the simulated device at a top-level user path emulates (XR_NULL_PATH: none)."""
        _, s = self._get(session, _Session)
        st = _deref(state)
        _check_type(st, ST.INTERACTION_PROFILE_STATE, "XrInteractionProfileState")
        inst = self._session_instance(s)
        user = self._path(inst, top_level)
        if user not in self._top_level_paths(inst):
            raise _Fail(R.ERROR_PATH_UNSUPPORTED, user)
        if not s.attached_sets:
            raise _Fail(R.ERROR_ACTIONSET_NOT_ATTACHED, "")
        profile = s.profiles.get(user)
        st.interaction_profile = self._intern(inst, profile) if profile else 0

    @staticmethod
    def _intern(inst: _Instance, text: str) -> int:
        pid = inst.path_ids.get(text)
        if pid is None:
            pid = inst.path_ids[text] = len(inst.paths)
            inst.paths.append(text)
        return pid

    def _subaction(self, s: _Session, action: _Action, subaction_path: int) -> str:
        if subaction_path == 0:
            return ""
        p = self._path(self._session_instance(s), subaction_path)
        if p not in action.subaction_paths:
            raise _Fail(R.ERROR_PATH_UNSUPPORTED, f"{p} is not a subaction path of {action.name}")
        return p

    def _bound(self, s: _Session, action_h: int, subaction: str) -> list[tuple[str, str, str]]:
        """``(top-level user path, component path below it, profile)`` bound to an action in
        the current profiles of the simulated devices."""
        out = []
        suggested = self._session_instance(s).suggested
        for user, profile in s.profiles.items():
            if subaction and subaction != user:
                continue
            for ah, path in suggested.get(profile, []):
                if ah == action_h and path.startswith(user + "/"):
                    out.append((user, path[len(user) + 1 :], profile))
        return out

    def _bound_paths(self, s: _Session, action_h: int, subaction: str) -> list[tuple[str, str]]:
        """``(device, component path below it)`` bound to an action (hands and eyes)."""
        return [(_DEVICE_OF_USER_PATH[user], rest) for user, rest, _ in self._bound(s, action_h, subaction)]

    def _action_hands(self, s: _Session, action_h: int, subaction: str, pose: bool = False) -> list[str]:
        return [hand for hand, rest in self._bound_paths(s, action_h, subaction) if not pose or rest.endswith("/pose")]

    def xrEnumerateBoundSourcesForAction(
        self, session: Any, enumerate_info: Any, capacity: int, count_out: Any, sources: Any
    ) -> None:
        """The input/output source paths an action is bound to in the current profiles."""
        _, s = self._get(session, _Session)
        info = _deref(enumerate_info)
        _check_type(info, ST.BOUND_SOURCES_FOR_ACTION_ENUMERATE_INFO, "XrBoundSourcesForActionEnumerateInfo")
        ah, action = self._get(info.action, _Action)
        if action.action_set not in s.attached_sets:
            raise _Fail(R.ERROR_ACTIONSET_NOT_ATTACHED, action.name)
        inst = self._session_instance(s)
        paths: list[int] = []
        for user, rest, profile in self._bound(s, ah, ""):
            pid = self._intern(inst, f"{user}/{_source(PROFILES.get(profile, {}).get(user, set()), rest)}")
            if pid not in paths:
                paths.append(pid)
        _enumerate(capacity, count_out, sources, paths, lambda a, i, v: a.__setitem__(i, v))

    def xrGetInputSourceLocalizedName(
        self, session: Any, get_info: Any, capacity: int, count_out: Any, buffer: Any
    ) -> None:
        """A readable name of a bound source, e.g. "Right Hand Oculus Touch Controller Trigger"."""
        _, s = self._get(session, _Session)
        info = _deref(get_info)
        _check_type(info, ST.INPUT_SOURCE_LOCALIZED_NAME_GET_INFO, "XrInputSourceLocalizedNameGetInfo")
        which = info._which_components
        if which == 0 or which & ~0x7:
            raise _Fail(R.ERROR_VALIDATION_FAILURE, f"whichComponents {which:#x}")
        if not s.attached_sets:
            raise _Fail(R.ERROR_ACTIONSET_NOT_ATTACHED, "")
        inst = self._session_instance(s)
        path = self._path(inst, info.source_path)
        m = _BINDING_RE.match(path)
        profile = s.profiles.get(m.group(1)) if m else None
        if m is None or profile is None:
            raise _Fail(R.ERROR_PATH_UNSUPPORTED, f"{path} is not a source of a current interaction profile")
        parts = []
        if which & 0x1:  # XR_INPUT_SOURCE_LOCALIZED_NAME_USER_PATH_BIT
            parts.append(_USER_PATH_NAMES[m.group(1)])
        if which & 0x2:  # ..._INTERACTION_PROFILE_BIT
            parts.append(_PROFILE_NAMES[profile])
        if which & 0x4:  # ..._COMPONENT_BIT
            parts.append(_component_name(m.group(2)))
        _write_string(capacity, count_out, buffer, " ".join(parts))

    @staticmethod
    def _component_value(buttons: dict[str, float], rest: str) -> Any:
        """Value of an input path below the hand from the script's button values."""
        parts = rest.split("/")
        ident, comp = parts[1], (parts[2] if len(parts) > 2 else "")
        alias = {"a": "primary", "x": "primary", "b": "secondary", "y": "secondary", "select": "trigger"}.get(
            ident, ident
        )
        if ident in ("thumbstick", "trackpad"):
            x, y = buttons.get("thumbstick_x", 0.0), buttons.get("thumbstick_y", 0.0)
            if comp == "":
                return (x, y)
            if comp in ("x", "y"):
                return x if comp == "x" else y
            return buttons.get(f"{ident}_{comp}", 0.0)
        value = float(buttons.get(ident, buttons.get(alias, 0.0)))
        if comp in ("click", "touch"):
            return 1.0 if value >= 0.5 else 0.0
        return value

    def _action_value(self, s: _Session, action_h: int, subaction: str) -> tuple[bool, Any]:
        action = self._objects[action_h]
        paths = self._bound_paths(s, action_h, subaction)
        active = bool(paths) and action.action_set in s.synced_sets and s.state == S.FOCUSED.value
        sample = self.sample_at(s.last_wait_time or EPOCH_NS)
        values = []
        for hand, rest in paths:
            v = self._component_value(sample.get(hand, {}).get("buttons", {}), rest)
            values.append(v)
        kind = action.type
        if kind == xr.ActionType.VECTOR2F_INPUT.value:
            vecs = [v if isinstance(v, tuple) else (float(v), 0.0) for v in values] or [(0.0, 0.0)]
            return active, max(vecs, key=lambda v: v[0] ** 2 + v[1] ** 2) if active else (0.0, 0.0)
        scalars = [v[0] if isinstance(v, tuple) else float(v) for v in values] or [0.0]
        if kind == xr.ActionType.BOOLEAN_INPUT.value:
            return active, bool(active and any(v >= 0.5 for v in scalars))
        return active, max(scalars, key=abs) if active else 0.0

    def xrSyncActions(self, session: Any, sync_info: Any) -> R | None:
        """Latch every action's value from the script at the last waited time."""
        _, s = self._get(session, _Session)
        info = _deref(sync_info)
        _check_type(info, ST.ACTIONS_SYNC_INFO, "XrActionsSyncInfo")
        if not s.running:
            raise _Fail(R.ERROR_SESSION_NOT_RUNNING, "")
        synced = set()
        for i in range(info.count_active_action_sets):
            h, aset = self._get(info._active_action_sets[i].action_set, _ActionSet)
            if h not in s.attached_sets:
                raise _Fail(R.ERROR_ACTIONSET_NOT_ATTACHED, aset.name)
            synced.add(h)
        s.synced_sets = synced if s.state == S.FOCUSED.value else set()
        # Latch every action's value so getters between syncs agree (OpenXR semantics).
        for h in s.attached_sets:
            for ah in self._objects[h].actions:
                for sub in ["", *self._objects[ah].subaction_paths]:
                    active, value = self._action_value(s, ah, sub)
                    key = (ah, sub)
                    old = s.action_values.get(key)
                    changed = old is not None and old[1] != value and old[0] and active
                    last = s.action_changed.get(key, (False, 0))[1]
                    s.action_changed[key] = (changed, s.last_wait_time if changed else last)
                    s.action_values[key] = (active, value)
        return None if s.state == S.FOCUSED.value else R.SESSION_NOT_FOCUSED

    def _state_for(self, session: Any, get_info: Any, kind: xr.ActionType) -> tuple[_Session, bool, Any, bool, int]:
        _, s = self._get(session, _Session)
        info = _deref(get_info)
        _check_type(info, ST.ACTION_STATE_GET_INFO, "XrActionStateGetInfo")
        ah, action = self._get(info.action, _Action)
        if action.type != kind.value:
            raise _Fail(R.ERROR_ACTION_TYPE_MISMATCH, action.name)
        if action.action_set not in s.attached_sets:
            raise _Fail(R.ERROR_ACTIONSET_NOT_ATTACHED, action.name)
        sub = self._subaction(s, action, info.subaction_path)
        active, value = s.action_values.get((ah, sub), (False, None))
        changed, last = s.action_changed.get((ah, sub), (False, 0))
        return s, active, value, changed, last

    def xrGetActionStateBoolean(self, session: Any, get_info: Any, state: Any) -> None:
        """A latched boolean action state."""
        _, active, value, changed, last = self._state_for(session, get_info, xr.ActionType.BOOLEAN_INPUT)
        st = _deref(state)
        _check_type(st, ST.ACTION_STATE_BOOLEAN, "XrActionStateBoolean")
        st.is_active, st.current_state = int(active), int(bool(value) and active)
        st.changed_since_last_sync, st.last_change_time = int(changed), last

    def xrGetActionStateFloat(self, session: Any, get_info: Any, state: Any) -> None:
        """A latched float action state."""
        _, active, value, changed, last = self._state_for(session, get_info, xr.ActionType.FLOAT_INPUT)
        st = _deref(state)
        _check_type(st, ST.ACTION_STATE_FLOAT, "XrActionStateFloat")
        st.is_active, st.current_state = int(active), float(value or 0.0) if active else 0.0
        st.changed_since_last_sync, st.last_change_time = int(changed), last

    def xrGetActionStateVector2f(self, session: Any, get_info: Any, state: Any) -> None:
        """A latched 2D action state."""
        _, active, value, changed, last = self._state_for(session, get_info, xr.ActionType.VECTOR2F_INPUT)
        st = _deref(state)
        _check_type(st, ST.ACTION_STATE_VECTOR2F, "XrActionStateVector2f")
        x, y = value if active and value else (0.0, 0.0)
        st.is_active = int(active)
        st.current_state.x, st.current_state.y = float(x), float(y)
        st.changed_since_last_sync, st.last_change_time = int(changed), last

    def xrGetActionStatePose(self, session: Any, get_info: Any, state: Any) -> None:
        """Whether a pose action is bound and active."""
        _, s = self._get(session, _Session)
        info = _deref(get_info)
        _check_type(info, ST.ACTION_STATE_GET_INFO, "XrActionStateGetInfo")
        ah, action = self._get(info.action, _Action)
        if action.type != xr.ActionType.POSE_INPUT.value:
            raise _Fail(R.ERROR_ACTION_TYPE_MISMATCH, action.name)
        if action.action_set not in s.attached_sets:
            raise _Fail(R.ERROR_ACTIONSET_NOT_ATTACHED, action.name)
        sub = self._subaction(s, action, info.subaction_path)
        st = _deref(state)
        _check_type(st, ST.ACTION_STATE_POSE, "XrActionStatePose")
        st.is_active = int(bool(self._action_hands(s, ah, sub, pose=True)) and action.action_set in s.synced_sets)

    def _haptic_hands(self, session: Any, action_info: Any) -> tuple[_Session, list[str]]:
        _, s = self._get(session, _Session)
        info = _deref(action_info)
        _check_type(info, ST.HAPTIC_ACTION_INFO, "XrHapticActionInfo")
        ah, action = self._get(info.action, _Action)
        if action.type != xr.ActionType.VIBRATION_OUTPUT.value:
            raise _Fail(R.ERROR_ACTION_TYPE_MISMATCH, action.name)
        if action.action_set not in s.attached_sets:
            raise _Fail(R.ERROR_ACTIONSET_NOT_ATTACHED, action.name)
        sub = self._subaction(s, action, info.subaction_path)
        hands = [h for h, rest in self._bound_paths(s, ah, sub) if rest == "output/haptic"]
        return s, hands

    def xrApplyHapticFeedback(self, session: Any, action_info: Any, feedback: Any) -> R | None:
        """Record a vibration on every bound hand."""
        s, hands = self._haptic_hands(session, action_info)
        fb = _deref(feedback, xr.HapticVibration)
        _check_type(fb, ST.HAPTIC_VIBRATION, "XrHapticVibration")
        if s.state != S.FOCUSED.value:
            return R.SESSION_NOT_FOCUSED
        for hand in hands:
            self.haptics.append(
                Haptic("vibrate", hand, float(fb.amplitude), int(fb.duration), float(fb.frequency), s.last_wait_time)
            )
        return None

    def xrStopHapticFeedback(self, session: Any, action_info: Any) -> R | None:
        """Record a stop on every bound hand."""
        s, hands = self._haptic_hands(session, action_info)
        if s.state != S.FOCUSED.value:
            return R.SESSION_NOT_FOCUSED
        for hand in hands:
            self.haptics.append(Haptic("stop", hand, 0.0, 0, 0.0, s.last_wait_time))
        return None

    # -- XR_KHR_convert_timespec_time ---------------------------------------------------
    # XrTime runs on the simulated display clock; CLOCK_MONOTONIC maps onto it with
    # EPOCH_NS at the moment the instance was created, so the conversion is a bijection.
    def xrConvertTimespecTimeToTimeKHR(self, instance: Any, timespec: Any, time_out: Any) -> None:
        """CLOCK_MONOTONIC timespec -> XrTime."""
        _, inst = self._get(instance, _Instance)
        ts = _deref(timespec)
        if ts is None or not time_out:
            raise _Fail(R.ERROR_VALIDATION_FAILURE, "NULL pointer")
        ns = ts.tv_sec * 1_000_000_000 + ts.tv_nsec
        t = ns - inst.created_ns + EPOCH_NS
        if t <= 0:
            raise _Fail(R.ERROR_TIME_INVALID, f"{ns} ns precedes the runtime's clock")
        time_out[0] = t

    def xrConvertTimeToTimespecTimeKHR(self, instance: Any, time: int, timespec: Any) -> None:
        """XrTime -> CLOCK_MONOTONIC timespec."""
        _, inst = self._get(instance, _Instance)
        ts = _deref(timespec)
        if ts is None:
            raise _Fail(R.ERROR_VALIDATION_FAILURE, "timespecTime is NULL")
        if time <= 0:
            raise _Fail(R.ERROR_TIME_INVALID, str(time))
        ns = time - EPOCH_NS + inst.created_ns
        if ns < 0:
            raise _Fail(R.ERROR_TIME_INVALID, f"{time} precedes CLOCK_MONOTONIC's origin")
        ts.tv_sec, ts.tv_nsec = divmod(ns, 1_000_000_000)

    # -- XR_FB_display_refresh_rate ----------------------------------------------------
    def _refresh_rates(self) -> list[float]:
        return sorted({float(self.config.rate), *REFRESH_RATES})

    def xrEnumerateDisplayRefreshRatesFB(self, session: Any, capacity: int, count_out: Any, rates: Any) -> None:
        """The configured rate and 60/72/90/120 Hz."""
        self._get(session, _Session)
        _enumerate(capacity, count_out, rates, self._refresh_rates(), lambda a, i, v: a.__setitem__(i, v))

    def xrGetDisplayRefreshRateFB(self, session: Any, rate_out: Any) -> None:
        """The session's current display refresh rate (Hz)."""
        _, s = self._get(session, _Session)
        if not rate_out:
            raise _Fail(R.ERROR_VALIDATION_FAILURE, "displayRefreshRate is NULL")
        rate_out[0] = self._session_rate(s)

    def xrRequestDisplayRefreshRateFB(self, session: Any, rate: float) -> None:
        """Switch the simulated display clock (0: the runtime's default); frames already
        predicted keep their times, later ones follow the new period exactly."""
        h, s = self._get(session, _Session)
        new = float(self.config.rate) if rate == 0.0 else float(rate)
        if not any(abs(new - r) < 1e-3 for r in self._refresh_rates()):
            raise _Fail(R.ERROR_DISPLAY_REFRESH_RATE_UNSUPPORTED_FB, f"{rate} Hz")
        old = self._session_rate(s)
        if new == old:
            return
        if s.frames_waited:
            s.anchor_frame, s.anchor_time = s.frames_waited - 1, s.last_wait_time
        s.rate = new
        self._event(s.instance, "refresh", (h, old, new))

    # -- XR_EXT_hand_tracking ------------------------------------------------------------
    def xrCreateHandTrackerEXT(self, session: Any, create_info: Any, tracker_out: Any) -> None:
        """A tracker of the scripted left or right hand (default joint set)."""
        sh, s = self._get(session, _Session)
        info = _deref(create_info)
        _check_type(info, ST.HAND_TRACKER_CREATE_INFO_EXT, "XrHandTrackerCreateInfoEXT")
        hands = {xr.HandEXT.LEFT.value: LEFT_HAND, xr.HandEXT.RIGHT.value: RIGHT_HAND}
        if info._hand not in hands:
            raise _Fail(R.ERROR_VALIDATION_FAILURE, f"hand {info._hand}")
        if info._hand_joint_set != xr.HandJointSetEXT.DEFAULT.value:
            raise _Fail(R.ERROR_VALIDATION_FAILURE, f"handJointSet {info._hand_joint_set}")
        handle = self._new_handle(_HandTracker(sh, hands[info._hand]))
        s.hand_trackers.add(handle)
        _write_handle(tracker_out, handle)

    def xrDestroyHandTrackerEXT(self, tracker: Any) -> None:
        """Destroy a hand tracker."""
        h, ht = self._get(tracker, _HandTracker)
        sess = self._objects.get(ht.session)
        if isinstance(sess, _Session):
            sess.hand_trackers.discard(h)
        del self._objects[h]

    def xrLocateHandJointsEXT(self, tracker: Any, locate_info: Any, locations: Any) -> None:
        """The 26 joints of the scripted hand at a time, in a space (velocities on request)."""
        _, ht = self._get(tracker, _HandTracker)
        info = _deref(locate_info)
        _check_type(info, ST.HAND_JOINTS_LOCATE_INFO_EXT, "XrHandJointsLocateInfoEXT")
        locs = _deref(locations)
        _check_type(locs, ST.HAND_JOINT_LOCATIONS_EXT, "XrHandJointLocationsEXT")
        if locs.joint_count != JOINT_COUNT or not locs._joint_locations:
            raise _Fail(R.ERROR_VALIDATION_FAILURE, f"jointCount {locs.joint_count} != {JOINT_COUNT}")
        if info.time <= 0:
            raise _Fail(R.ERROR_TIME_INVALID, str(info.time))
        _, base_space = self._get(info.base_space, _Space)
        s = self._objects[ht.session]
        velocities = None
        for stype, addr in _walk_next(locs._next):
            if stype == ST.HAND_JOINT_VELOCITIES_EXT.value:
                velocities = xr.HandJointVelocitiesEXT.from_address(addr)
                if velocities.joint_count != JOINT_COUNT or not velocities._joint_velocities:
                    raise _Fail(R.ERROR_VALIDATION_FAILURE, "XrHandJointVelocitiesEXT.jointCount")
        sample = self.sample_at(info.time)
        hand = self.script.pose(sample, ht.hand)
        base = self._space_pose(s, base_space, info.time, sample)
        active = hand is not None and base is not None and s.state == S.FOCUSED.value
        locs.is_active = int(active)
        for i in range(JOINT_COUNT):
            locs._joint_locations[i]._location_flags = 0
            if velocities is not None:
                velocities._joint_velocities[i]._velocity_flags = 0  # velocities are not simulated
        if not active:
            return
        assert hand is not None and base is not None
        side = "left" if ht.hand == LEFT_HAND else "right"
        curls = finger_curls(sample.get(ht.hand, {}).get("buttons", {}))
        for i, (pos, rot, radius) in enumerate(hand_joints(hand, side, curls)):
            loc = locs._joint_locations[i]
            p, q = relative(base[0], base[1], pos, rot)
            _set_pose(loc.pose, p, q)
            loc.radius = radius
            loc._location_flags = LOCATION_ALL

    # -- XR_FB_body_tracking -------------------------------------------------------------
    def xrCreateBodyTrackerFB(self, session: Any, create_info: Any, tracker_out: Any) -> None:
        """A tracker of the scripted body (XR_BODY_JOINT_SET_DEFAULT_FB: 70 joints)."""
        sh, s = self._get(session, _Session)
        info = _deref(create_info)
        _check_type(info, ST.BODY_TRACKER_CREATE_INFO_FB, "XrBodyTrackerCreateInfoFB")
        if info._body_joint_set != xr.BodyJointSetFB.DEFAULT.value:
            # FULL_BODY_M belongs to XR_META_body_tracking_full_body, which is not offered
            raise _Fail(R.ERROR_VALIDATION_FAILURE, f"bodyJointSet {info._body_joint_set}")
        handle = self._new_handle(_BodyTracker(sh))
        s.body_trackers.add(handle)
        _write_handle(tracker_out, handle)

    def xrDestroyBodyTrackerFB(self, tracker: Any) -> None:
        """Destroy a body tracker."""
        h, bt = self._get(tracker, _BodyTracker)
        sess = self._objects.get(bt.session)
        if isinstance(sess, _Session):
            sess.body_trackers.discard(h)
        del self._objects[h]

    def body_pose_at(self, sample: dict[str, Any]) -> tuple[Pose, dict[str, float], dict[str, dict[str, float]]]:
        """The scripted body at a sample: root pose (the script's ``body`` device, else under
        the head), its ``angles`` and each hand's finger curls (the hand devices' buttons)."""
        root = self.script.pose(sample, "body") or default_body(self.script.pose(sample, HEAD))
        angles = dict(sample.get("body", {}).get("angles", {}))
        curls = {
            side: finger_curls(sample.get(dev, {}).get("buttons", {}))
            for side, dev in (("left", LEFT_HAND), ("right", RIGHT_HAND))
        }
        return root, angles, curls

    def xrLocateBodyJointsFB(self, tracker: Any, locate_info: Any, locations: Any) -> None:
        """The 70 joints of the scripted body at a time, in a space (confidence 1 while tracked)."""
        _, bt = self._get(tracker, _BodyTracker)
        info = _deref(locate_info)
        _check_type(info, ST.BODY_JOINTS_LOCATE_INFO_FB, "XrBodyJointsLocateInfoFB")
        locs = _deref(locations)
        _check_type(locs, ST.BODY_JOINT_LOCATIONS_FB, "XrBodyJointLocationsFB")
        if locs.joint_count != BODY_JOINT_COUNT or not locs._joint_locations:
            raise _Fail(R.ERROR_VALIDATION_FAILURE, f"jointCount {locs.joint_count} != {BODY_JOINT_COUNT}")
        if info.time <= 0:
            raise _Fail(R.ERROR_TIME_INVALID, str(info.time))
        _, base_space = self._get(info.base_space, _Space)
        s = self._objects[bt.session]
        sample = self.sample_at(info.time)
        base = self._space_pose(s, base_space, info.time, sample)
        active = base is not None and s.state == S.FOCUSED.value
        locs.is_active = int(active)
        locs.confidence = 1.0 if active else 0.0
        locs.skeleton_changed_count = 0  # the proportions never change during a session
        locs.time = info.time
        for i in range(BODY_JOINT_COUNT):
            locs._joint_locations[i]._location_flags = 0
        if not active:
            return
        assert base is not None
        root, angles, curls = self.body_pose_at(sample)
        # the usual base is the stage itself: no change of frame for its 70 joints
        identity = tuple(base[0]) == (0.0, 0.0, 0.0) and tuple(base[1]) == (1.0, 0.0, 0.0, 0.0)
        for i, (pos, rot) in enumerate(body_joints(root, angles, curls)):
            loc = locs._joint_locations[i]
            p, q = (pos, rot) if identity else relative(base[0], base[1], pos, rot)
            _set_pose(loc.pose, p, q)
            loc._location_flags = LOCATION_ALL

    def xrGetBodySkeletonFB(self, tracker: Any, skeleton: Any) -> None:
        """The body's T-pose (arms out sideways, palms down) about its root, with each
        joint's parent; the scripted body's height is read at the session's last frame."""
        _, bt = self._get(tracker, _BodyTracker)
        sk = _deref(skeleton)
        _check_type(sk, ST.BODY_SKELETON_FB, "XrBodySkeletonFB")
        if sk.joint_count != BODY_JOINT_COUNT or not sk._joints:
            raise _Fail(R.ERROR_VALIDATION_FAILURE, f"jointCount {sk.joint_count} != {BODY_JOINT_COUNT}")
        s = self._objects[bt.session]
        _, angles, _ = self.body_pose_at(self.sample_at(s.last_wait_time or EPOCH_NS))
        pose = dict(T_POSE, height_m=float(angles.get("height_m", 1.70)))
        for i, (pos, rot) in enumerate(body_joints(Pose(), pose)):
            joint = sk._joints[i]
            joint.joint, joint.parent_joint = i, BODY_PARENTS[i]
            _set_pose(joint.pose, pos, rot)
