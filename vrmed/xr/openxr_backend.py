"""The OpenXR backend on pyopenxr: instance, system, session state machine, reference
spaces, swapchains in the app's moderngl EGL context, an action set bound for common
controllers, and haptics.

Without a GL context the session is headless (``XR_MND_headless``): poses and buttons
only, no images. A missing runtime raises :class:`~vrmed.xr.interface.XrUnavailable`
with one line saying why; callers fall back to desktop or headless.
"""

from __future__ import annotations

import ctypes
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .egl import current_egl, egl_get_proc_address_ptr
from .interface import (
    BODY_JOINT_NAMES,
    HANDS,
    LEFT_HAND,
    RIGHT_HAND,
    ControllerState,
    EyeView,
    Fov,
    Pose,
    XrError,
    XrEvent,
    XrFrame,
    XrUnavailable,
    as_rgba,
)

#: Joints of XR_BODY_JOINT_SET_DEFAULT_FB.
BODY_JOINT_COUNT = len(BODY_JOINT_NAMES)

_STATES = {
    1: "idle",
    2: "ready",
    3: "synchronized",
    4: "visible",
    5: "focused",
    6: "stopping",
    7: "loss_pending",
    8: "exiting",
}
_SIDES = {LEFT_HAND: "left", RIGHT_HAND: "right"}

# Per interaction profile: action name -> component path below /user/hand/<side>/ for
# (left, right); None where the controller has no such input.
_BINDINGS: dict[str, dict[str, tuple[str | None, str | None]]] = {
    "/interaction_profiles/oculus/touch_controller": {
        "grip": ("input/grip/pose",) * 2,
        "aim": ("input/aim/pose",) * 2,
        "trigger": ("input/trigger/value",) * 2,
        "squeeze": ("input/squeeze/value",) * 2,
        "menu": ("input/menu/click", None),
        "primary": ("input/x/click", "input/a/click"),
        "secondary": ("input/y/click", "input/b/click"),
        "thumbstick": ("input/thumbstick",) * 2,
        "haptic": ("output/haptic",) * 2,
    },
    "/interaction_profiles/valve/index_controller": {
        "grip": ("input/grip/pose",) * 2,
        "aim": ("input/aim/pose",) * 2,
        "trigger": ("input/trigger/value",) * 2,
        "squeeze": ("input/squeeze/value",) * 2,
        "primary": ("input/a/click",) * 2,
        "secondary": ("input/b/click",) * 2,
        "thumbstick": ("input/thumbstick",) * 2,
        "haptic": ("output/haptic",) * 2,
    },
    "/interaction_profiles/htc/vive_controller": {
        "grip": ("input/grip/pose",) * 2,
        "aim": ("input/aim/pose",) * 2,
        "trigger": ("input/trigger/value",) * 2,
        "squeeze": ("input/squeeze/click",) * 2,
        "menu": ("input/menu/click",) * 2,
        "thumbstick": ("input/trackpad",) * 2,
        "haptic": ("output/haptic",) * 2,
    },
    "/interaction_profiles/microsoft/motion_controller": {
        "grip": ("input/grip/pose",) * 2,
        "aim": ("input/aim/pose",) * 2,
        "trigger": ("input/trigger/value",) * 2,
        "squeeze": ("input/squeeze/click",) * 2,
        "menu": ("input/menu/click",) * 2,
        "thumbstick": ("input/thumbstick",) * 2,
        "haptic": ("output/haptic",) * 2,
    },
    "/interaction_profiles/khr/simple_controller": {
        "grip": ("input/grip/pose",) * 2,
        "aim": ("input/aim/pose",) * 2,
        "trigger": ("input/select/click",) * 2,
        "menu": ("input/menu/click",) * 2,
        "haptic": ("output/haptic",) * 2,
    },
}
_ACTIONS = (
    ("grip", "POSE_INPUT", "Hand pose"),
    ("aim", "POSE_INPUT", "Pointing pose"),
    ("trigger", "FLOAT_INPUT", "Trigger"),
    ("squeeze", "FLOAT_INPUT", "Squeeze"),
    ("menu", "BOOLEAN_INPUT", "Menu"),
    ("primary", "BOOLEAN_INPUT", "Primary button"),
    ("secondary", "BOOLEAN_INPUT", "Secondary button"),
    ("thumbstick", "VECTOR2F_INPUT", "Thumbstick"),
    ("haptic", "VIBRATION_OUTPUT", "Vibration"),
)


def active_runtime_manifest() -> Path | None:
    """The runtime manifest the Khronos loader would use on this machine, or None.

    Mirrors the loader's Linux search: ``XR_RUNTIME_JSON``, then ``active_runtime.json``
    under ``$XDG_CONFIG_HOME``, ``$XDG_CONFIG_DIRS`` and ``/etc``.
    """
    env = os.environ.get("XR_RUNTIME_JSON")
    if env:
        return Path(env)
    if sys.platform == "win32":
        return None  # the registry decides; let the loader look
    dirs = [os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")]
    dirs += (os.environ.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(os.pathsep)
    dirs.append("/etc")
    for d in dirs:
        for name in (f"active_runtime.{os.uname().machine}.json", "active_runtime.json"):
            path = Path(d) / "openxr" / "1" / name
            if path.is_file():
                return path
    return None


@contextmanager
def _captured_stderr() -> Iterator[list[str]]:
    """Capture what native code (the loader) writes to fd 2; the text lands in the list."""
    lines: list[str] = []
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield lines
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            lines.extend(tmp.read().decode(errors="replace").splitlines())


def _loader_reason(lines: list[str]) -> str:
    """The loader's first error message, without its ``Error [GENERAL | fn | OpenXR-Loader] :`` prefix."""
    for ln in lines:
        if ln.startswith("Error ["):
            return ln.split("] : ", 1)[-1].strip()
    return ""


def _pose(p: Any) -> Pose:
    o = p.orientation
    return Pose(
        (float(p.position.x), float(p.position.y), float(p.position.z)),
        (float(o.w), float(o.x), float(o.y), float(o.z)),
    )


class OpenXrBackend:
    """An :class:`~vrmed.xr.interface.XrBackend` talking to whatever OpenXR runtime the
    loader finds (a headset's, or :mod:`vrmed.xr.sim`).

    ``ctx``: the app's moderngl context (EGL backend, current on this thread) for a session
    with swapchains; None for a headless session. ``api_layers`` are enabled at instance
    creation (e.g. ``["XR_APILAYER_LUNARG_core_validation"]``; the layer must be on
    ``XR_API_LAYER_PATH``). ``color_format`` is the preferred GL internal format.
    ``hand_tracking`` / ``body_tracking`` enable XR_EXT_hand_tracking / XR_FB_body_tracking
    where the runtime offers them and the system supports them (attributes of the same
    names say whether they are on): each frame then carries the joints
    (:attr:`XrFrame.hand_joints`, :attr:`XrFrame.body_joints`).
    """

    name = "openxr"

    def __init__(
        self,
        ctx: Any | None = None,
        *,
        app_name: str = "vrmed",
        api_layers: tuple[str, ...] = (),
        color_format: int = 0x8058,
        reference: str = "standing",
        refresh_hz: float | None = None,
        hand_tracking: bool = False,
        body_tracking: bool = False,
    ) -> None:
        try:
            import xr  # pyopenxr loads the Khronos loader on import; keep it out of vrmed's import time
        except (ImportError, OSError) as exc:
            raise XrUnavailable(f"pyopenxr cannot load the OpenXR loader ({exc})") from None

        self._xr = xr
        self._ctx = ctx
        self._state = "idle"
        self._running = False
        self._exit = False
        self._frame: XrFrame | None = None
        self._frame_state: Any = None
        self._views: list[Any] = []
        self._acquired: dict[int, int] = {}
        #: Quad layer swapchains by panel name: (swapchain, width, height, framebuffers).
        self._quad_chains: dict[str, tuple[Any, int, int, list[Any]]] = {}
        #: Quads submitted this frame: (swapchain, width px, height px, pose, size m).
        self._quads: list[tuple[Any, int, int, Pose, tuple[float, float]]] = []
        self._closed = False
        self._frames_begun = 0
        if reference not in ("seated", "standing"):
            raise ValueError(f"reference must be 'seated' or 'standing', got {reference!r}")
        self.reference = reference
        #: The reference space in use ("LOCAL" or "STAGE"), and a one-line note when the
        #: wanted one was missing (standing without STAGE falls back to LOCAL).
        self.reference_space = ""
        self.reference_note: str | None = None
        #: Display refresh: requested Hz (None: the runtime's default), the rate the runtime
        #: reports (XR_FB_display_refresh_rate) or else 1 / the first predicted period, and
        #: a note when the runtime cannot set the rate.
        self.refresh_requested = refresh_hz
        self.refresh_actual: float | None = None
        self.refresh_note: str | None = None
        self.instance: Any = None
        self.session: Any = None
        manifest = active_runtime_manifest()
        if manifest is None:
            raise XrUnavailable(
                "no OpenXR runtime is configured (XR_RUNTIME_JSON is unset and there is no active_runtime.json)"
            )
        if not manifest.is_file() and "XR_RUNTIME_JSON" in os.environ:
            raise XrUnavailable(f"XR_RUNTIME_JSON points at {manifest}, which does not exist")
        try:
            with _captured_stderr() as loader_log:  # the loader prints its reasons to stderr
                offered = {e.extension_name.decode() for e in xr.enumerate_instance_extension_properties()}
        except xr.XrException as exc:
            reason = _loader_reason(loader_log) or type(exc).__name__
            raise XrUnavailable(f"the OpenXR runtime in {manifest} cannot be loaded: {reason}") from None
        wanted = ["XR_MNDX_egl_enable", "XR_KHR_opengl_enable"] if ctx is not None else ["XR_MND_headless"]
        missing = [e for e in wanted[:1] if e not in offered]
        if missing:
            what = "EGL rendering" if ctx is not None else "headless sessions"
            raise XrUnavailable(f"the OpenXR runtime in {manifest} does not support {what} ({missing[0]})")
        exts = [e for e in wanted if e in offered]
        self._fb_refresh = "XR_FB_display_refresh_rate" in offered
        if self._fb_refresh:
            exts.append("XR_FB_display_refresh_rate")
        #: Hand trackers (XR_EXT_hand_tracking) by hand device, when asked for and offered:
        #: each frame then carries the 26 joints of each tracked hand (XrFrame.hand_joints).
        self._hand_trackers: dict[str, Any] = {}
        self.hand_tracking = hand_tracking and "XR_EXT_hand_tracking" in offered
        if self.hand_tracking:
            exts.append("XR_EXT_hand_tracking")
        #: Body tracker (XR_FB_body_tracking), when asked for and offered: each frame then
        #: carries the 70 joints of the default joint set (XrFrame.body_joints).
        self._body_tracker: Any = None
        self.body_tracking = body_tracking and "XR_FB_body_tracking" in offered
        if self.body_tracking:
            exts.append("XR_FB_body_tracking")
        try:
            with _captured_stderr() as loader_log:
                self.instance = xr.create_instance(
                    xr.InstanceCreateInfo(
                        application_info=xr.ApplicationInfo(
                            application_name=app_name, engine_name="vrmed", api_version=xr.Version(1, 0, 0)
                        ),
                        enabled_extension_names=exts,
                        enabled_api_layer_names=list(api_layers),
                    )
                )
        except xr.XrException as exc:
            reason = _loader_reason(loader_log) or type(exc).__name__
            raise XrUnavailable(f"the OpenXR runtime in {manifest} failed to start: {reason}") from None
        if loader_log:
            sys.stderr.write("\n".join(loader_log) + "\n")
        try:
            self._setup(xr, ctx, color_format)
        except BaseException:
            self.close()
            raise

    # -- setup ---------------------------------------------------------------------------
    def _setup(self, xr: Any, ctx: Any | None, color_format: int) -> None:
        try:
            self.system = xr.get_system(self.instance, xr.SystemGetInfo(form_factor=xr.FormFactor.HEAD_MOUNTED_DISPLAY))
        except xr.FormFactorUnavailableError:
            raise XrUnavailable("the OpenXR runtime reports no headset connected") from None
        stereo = xr.ViewConfigurationType.PRIMARY_STEREO
        self._config_views = xr.enumerate_view_configuration_views(self.instance, self.system, stereo)
        modes = xr.enumerate_environment_blend_modes(self.instance, self.system, stereo)
        self._blend = (
            xr.EnvironmentBlendMode.OPAQUE
            if xr.EnvironmentBlendMode.OPAQUE.value in [int(m) for m in modes]
            else xr.EnvironmentBlendMode(int(modes[0]))
        )
        binding = None
        if ctx is not None:
            binding = self._egl_binding(xr)
        self.session = xr.create_session(self.instance, xr.SessionCreateInfo(system_id=self.system, next=binding))
        spaces = [int(s) for s in xr.enumerate_reference_spaces(self.session)]
        kind = xr.ReferenceSpaceType.LOCAL
        if self.reference == "standing":
            if xr.ReferenceSpaceType.STAGE.value in spaces:
                kind = xr.ReferenceSpaceType.STAGE
            else:
                self.reference_note = "standing: the OpenXR runtime has no STAGE space; using LOCAL"
                print(f"vrmed: {self.reference_note}", file=sys.stderr)
        self.reference_space = kind.name
        self._request_refresh(xr)
        self.space = xr.create_reference_space(self.session, xr.ReferenceSpaceCreateInfo(reference_space_type=kind))
        self.view_space = xr.create_reference_space(
            self.session, xr.ReferenceSpaceCreateInfo(reference_space_type=xr.ReferenceSpaceType.VIEW)
        )
        self._setup_actions(xr)
        if self.hand_tracking:
            self._setup_hand_tracking(xr)
        if self.body_tracking:
            self._setup_body_tracking(xr)
        self._swapchains: list[Any] = []
        self._fbos: list[list[Any]] = []
        if ctx is not None:
            self._setup_swapchains(xr, ctx, color_format)

    def _setup_hand_tracking(self, xr: Any) -> None:
        """One hand tracker per hand (default joint set), if the system tracks hands; the
        joint array is allocated once and the locate function looked up once."""
        props = xr.SystemProperties()
        hand_props = xr.SystemHandTrackingPropertiesEXT()
        props.next = ctypes.cast(ctypes.byref(hand_props), ctypes.c_void_p)
        xr.raw_functions.xrGetSystemProperties(self.instance, self.system, ctypes.byref(props))
        if not hand_props.supports_hand_tracking:
            self.hand_tracking = False
            return
        for hand, which in ((LEFT_HAND, xr.HandEXT.LEFT), (RIGHT_HAND, xr.HandEXT.RIGHT)):
            info = xr.HandTrackerCreateInfoEXT(hand=which, hand_joint_set=xr.HandJointSetEXT.DEFAULT)
            self._hand_trackers[hand] = xr.create_hand_tracker_ext(self.session, info)
        self._joint_array = (xr.HandJointLocationEXT * xr.HAND_JOINT_COUNT_EXT)()
        self._joint_locations = xr.HandJointLocationsEXT(
            joint_count=xr.HAND_JOINT_COUNT_EXT, joint_locations=self._joint_array
        )
        self._locate_joints = ctypes.cast(
            xr.get_instance_proc_addr(self.instance, "xrLocateHandJointsEXT"), xr.PFN_xrLocateHandJointsEXT
        )

    def _read_hand_joints(self, xr: Any, t: int) -> dict[str, tuple[Pose, ...]]:
        """The joints of each tracked hand at time ``t`` (a hand whose joints are not all
        located, position and orientation, is left out this frame)."""
        out: dict[str, tuple[Pose, ...]] = {}
        info = xr.HandJointsLocateInfoEXT(base_space=self.space, time=t)
        for hand, tracker in self._hand_trackers.items():
            result = self._locate_joints(tracker, ctypes.byref(info), ctypes.byref(self._joint_locations))
            if result < 0 or not self._joint_locations.is_active:
                continue
            if any(j.location_flags & 0x3 != 0x3 for j in self._joint_array):
                continue
            out[hand] = tuple(_pose(j.pose) for j in self._joint_array)
        return out

    def _setup_body_tracking(self, xr: Any) -> None:
        """One body tracker (XR_BODY_JOINT_SET_DEFAULT_FB, 70 joints) if the system tracks
        bodies; the joint array is allocated once and the locate function looked up once."""
        props = xr.SystemProperties()
        body_props = xr.SystemBodyTrackingPropertiesFB()
        props.next = ctypes.cast(ctypes.byref(body_props), ctypes.c_void_p)
        xr.raw_functions.xrGetSystemProperties(self.instance, self.system, ctypes.byref(props))
        if not body_props.supports_body_tracking:
            self.body_tracking = False
            return
        info = xr.BodyTrackerCreateInfoFB(body_joint_set=xr.BodyJointSetFB.DEFAULT)
        self._body_tracker = xr.create_body_tracker_fb(self.session, info)
        self._body_array = (xr.BodyJointLocationFB * BODY_JOINT_COUNT)()
        self._body_locations = xr.BodyJointLocationsFB(joint_count=BODY_JOINT_COUNT, joint_locations=self._body_array)
        self._locate_body = ctypes.cast(
            xr.get_instance_proc_addr(self.instance, "xrLocateBodyJointsFB"), xr.PFN_xrLocateBodyJointsFB
        )

    def _read_body_joints(self, xr: Any, t: int) -> tuple[Pose, ...]:
        """The 70 body joints at time ``t``, or () when the body is not tracked or any joint
        lacks a valid position and orientation (the devices then hold their last poses)."""
        info = xr.BodyJointsLocateInfoFB(base_space=self.space, time=t)
        result = self._locate_body(self._body_tracker, ctypes.byref(info), ctypes.byref(self._body_locations))
        if result < 0 or not self._body_locations.is_active:
            return ()
        if any(j.location_flags & 0x3 != 0x3 for j in self._body_array):
            return ()
        return tuple(_pose(j.pose) for j in self._body_array)

    def _request_refresh(self, xr: Any) -> None:
        """Ask for ``refresh_requested`` Hz where the runtime offers XR_FB_display_refresh_rate."""
        if not self._fb_refresh:
            if self.refresh_requested is not None:
                self.refresh_note = (
                    "the OpenXR runtime does not offer XR_FB_display_refresh_rate; "
                    "the refresh rate is the runtime's own"
                )
            return
        try:
            requested = self.refresh_requested
            if requested is not None:
                rates = [float(getattr(r, "value", r)) for r in xr.enumerate_display_refresh_rates_fb(self.session)]
                if rates:
                    best = min(rates, key=lambda r: abs(r - float(requested)))
                    xr.request_display_refresh_rate_fb(self.session, best)
            rate = xr.get_display_refresh_rate_fb(self.session)
            self.refresh_actual = float(getattr(rate, "value", rate))  # pyopenxr returns a c_float
        except Exception as exc:  # noqa: BLE001 - optional, and untested (the simulated runtime lacks it)
            self.refresh_note = f"requesting the display refresh rate failed: {type(exc).__name__}"

    def _egl_binding(self, xr: Any) -> Any:
        # The runtime must be told which GL versions it gets before a session (spec rule).
        fn = ctypes.cast(
            xr.get_instance_proc_addr(self.instance, "xrGetOpenGLGraphicsRequirementsKHR"),
            xr.PFN_xrGetOpenGLGraphicsRequirementsKHR,
        )
        req = xr.GraphicsRequirementsOpenGLKHR()
        result = xr.check_result(xr.Result(fn(self.instance, self.system, ctypes.byref(req))))
        if result.is_exception():
            raise result
        ctx = self._ctx
        assert ctx is not None  # called only for a session with a GL context
        have = (ctx.version_code // 100, (ctx.version_code // 10) % 10)
        need = (req._min_api_version_supported >> 48, (req._min_api_version_supported >> 32) & 0xFFFF)
        if have < need:
            raise XrError(f"the OpenXR runtime needs OpenGL {need[0]}.{need[1]}, the context is {have[0]}.{have[1]}")
        display, config, context = current_egl()
        binding = xr.GraphicsBindingEGLMNDX()
        binding.get_proc_address = ctypes.cast(
            ctypes.c_void_p(egl_get_proc_address_ptr()), xr.PFN_xrEglGetProcAddressMNDX
        )
        binding.display = ctypes.cast(ctypes.c_void_p(display), type(binding.display))
        binding.config = ctypes.cast(ctypes.c_void_p(config), type(binding.config))
        binding.context = ctypes.cast(ctypes.c_void_p(context), type(binding.context))
        self._binding = binding  # referenced by the session create info until it returns
        return binding

    def _setup_actions(self, xr: Any) -> None:
        self._hand_paths = {
            hand: xr.string_to_path(self.instance, f"/user/hand/{side}") for hand, side in _SIDES.items()
        }
        subpaths = list(self._hand_paths.values())
        self.action_set = xr.create_action_set(
            self.instance,
            xr.ActionSetCreateInfo(action_set_name="vrmed", localized_action_set_name="vrmed", priority=0),
        )
        self.actions = {
            name: xr.create_action(
                self.action_set,
                xr.ActionCreateInfo(
                    action_name=name,
                    action_type=getattr(xr.ActionType, kind),
                    subaction_paths=subpaths,
                    localized_action_name=label,
                ),
            )
            for name, kind, label in _ACTIONS
        }
        for profile, table in _BINDINGS.items():
            bindings = []
            for action, paths in table.items():
                for side, comp in zip(("left", "right"), paths):
                    if comp is not None:
                        bindings.append(
                            xr.ActionSuggestedBinding(
                                action=self.actions[action],
                                binding=xr.string_to_path(self.instance, f"/user/hand/{side}/{comp}"),
                            )
                        )
            try:
                xr.suggest_interaction_profile_bindings(
                    self.instance,
                    xr.InteractionProfileSuggestedBinding(
                        interaction_profile=xr.string_to_path(self.instance, profile), suggested_bindings=bindings
                    ),
                )
            except xr.PathUnsupportedError:
                continue  # a runtime may not know every profile; the others still bind
        xr.attach_session_action_sets(self.session, xr.SessionActionSetsAttachInfo(action_sets=[self.action_set]))
        self._grip_spaces = {
            hand: xr.create_action_space(
                self.session, xr.ActionSpaceCreateInfo(action=self.actions["grip"], subaction_path=path)
            )
            for hand, path in self._hand_paths.items()
        }
        self._aim_spaces = {
            hand: xr.create_action_space(
                self.session, xr.ActionSpaceCreateInfo(action=self.actions["aim"], subaction_path=path)
            )
            for hand, path in self._hand_paths.items()
        }

    def _setup_swapchains(self, xr: Any, ctx: Any, color_format: int) -> None:
        formats = [int(f) for f in xr.enumerate_swapchain_formats(self.session)]
        fmt = color_format if color_format in formats else next((f for f in formats if f in (0x8058, 0x8C43)), None)
        if fmt is None:
            raise XrError(f"the OpenXR runtime offers no 8-bit RGBA swapchain format (it offers {formats})")
        self._color_format = fmt
        for view in self._config_views:
            w, h = view.recommended_image_rect_width, view.recommended_image_rect_height
            sc, fbos = self._color_swapchain(xr, ctx, w, h)
            self._swapchains.append((sc, w, h))
            self._fbos.append(fbos)

    def _color_swapchain(self, xr: Any, ctx: Any, w: int, h: int) -> tuple[Any, list[Any]]:
        """A w x h colour swapchain and a moderngl framebuffer on each of its images."""
        sc = xr.create_swapchain(
            self.session,
            xr.SwapchainCreateInfo(
                usage_flags=xr.SwapchainUsageFlags.COLOR_ATTACHMENT_BIT
                | xr.SwapchainUsageFlags.SAMPLED_BIT
                | xr.SwapchainUsageFlags.TRANSFER_DST_BIT,
                format=self._color_format,
                sample_count=1,
                width=w,
                height=h,
                face_count=1,
                array_size=1,
                mip_count=1,
            ),
        )
        images = xr.enumerate_swapchain_images(sc, xr.SwapchainImageOpenGLKHR)
        fbos = []
        for img in images:
            tex = ctx.external_texture(int(img.image), (w, h), 4, 0, "f1")
            fbos.append(ctx.framebuffer(color_attachments=[tex]))
        return sc, fbos

    # -- state ---------------------------------------------------------------------------
    @property
    def state(self) -> str:
        """Current session state."""
        return self._state

    @property
    def running(self) -> bool:
        """True between xrBeginSession and xrEndSession."""
        return self._running

    @property
    def exit_requested(self) -> bool:
        """True once the session is exiting or lost."""
        return self._exit

    @property
    def headless(self) -> bool:
        """True for a session without graphics."""
        return self._ctx is None

    def poll_events(self) -> list[XrEvent]:
        """Drain the runtime's events; begin the session on READY, end it on STOPPING."""
        xr = self._xr
        events: list[XrEvent] = []
        while True:
            try:
                buf = xr.poll_event(self.instance)
            except xr.EventUnavailable:
                break
            kind = buf.type
            if kind == xr.StructureType.EVENT_DATA_SESSION_STATE_CHANGED:
                ev = ctypes.cast(ctypes.byref(buf), ctypes.POINTER(xr.EventDataSessionStateChanged)).contents
                state = _STATES.get(int(ev._state), "unknown")
                self._state = state
                events.append(XrEvent("state", state, int(ev.time)))
                if state == "ready" and not self._running:
                    xr.begin_session(
                        self.session,
                        xr.SessionBeginInfo(primary_view_configuration_type=xr.ViewConfigurationType.PRIMARY_STEREO),
                    )
                    self._running = True
                elif state == "stopping" and self._running:
                    self._abandon_frame()
                    xr.end_session(self.session)
                    self._running = False
                elif state in ("exiting", "loss_pending"):
                    self._exit = True
            elif kind == xr.StructureType.EVENT_DATA_INTERACTION_PROFILE_CHANGED:
                events.append(XrEvent("interaction_profile"))
            elif kind == xr.StructureType.EVENT_DATA_INSTANCE_LOSS_PENDING:
                self._exit = True
                events.append(XrEvent("instance_loss"))
        return events

    def request_exit(self) -> None:
        """Ask the runtime to stop the session (it answers with STOPPING, then EXITING)."""
        if self._running:
            self._xr.request_exit_session(self.session)

    # -- frames ----------------------------------------------------------------------------
    def begin_frame(self) -> XrFrame | None:
        """xrWaitFrame + xrBeginFrame, then locate eyes and controllers at the predicted time."""
        if not self._running:
            return None
        if self._frame is not None:
            raise XrError("begin_frame called twice without end_frame")
        xr = self._xr
        fs = xr.wait_frame(self.session, xr.FrameWaitInfo())
        xr.begin_frame(self.session, xr.FrameBeginInfo())
        t = fs.predicted_display_time
        self._frame_state = fs
        _, views = xr.locate_views(
            self.session,
            xr.ViewLocateInfo(
                view_configuration_type=xr.ViewConfigurationType.PRIMARY_STEREO, display_time=t, space=self.space
            ),
        )
        self._views = list(views)
        eyes = tuple(
            EyeView(
                i,
                _pose(v.pose),
                Fov(v.fov.angle_left, v.fov.angle_right, v.fov.angle_up, v.fov.angle_down),
                cv.recommended_image_rect_width,
                cv.recommended_image_rect_height,
            )
            for i, (v, cv) in enumerate(zip(views, self._config_views))
        )
        head_loc = xr.locate_space(self.view_space, self.space, t)
        head = _pose(head_loc.pose) if head_loc.location_flags & 0x3 == 0x3 else Pose()
        controllers = self._read_controllers(xr, t)
        self._frame = XrFrame(
            self._frames_begun,
            int(t),
            int(fs.predicted_display_period),
            bool(fs.should_render),
            head,
            eyes,
            controllers,
            self._read_hand_joints(xr, t) if self._hand_trackers else {},
            self._read_body_joints(xr, t) if self._body_tracker is not None else (),
        )
        self._acquired = {}
        self._frames_begun += 1
        if self.refresh_actual is None and self._frame.predicted_display_period > 0:
            self.refresh_actual = 1e9 / self._frame.predicted_display_period
        return self._frame

    def _read_controllers(self, xr: Any, t: int) -> dict[str, ControllerState]:
        try:
            xr.sync_actions(
                self.session,
                xr.ActionsSyncInfo(
                    active_action_sets=[xr.ActiveActionSet(action_set=self.action_set, subaction_path=xr.NULL_PATH)]
                ),
            )
        except xr.SessionNotFocused:
            # A success code (pyopenxr raises it): the runtime's own menu or an overlay has the
            # input, or the session is stopping. Every action is inactive (OpenXR 1.0, 11.5):
            # no pose and no buttons this frame; the engine holds the last values.
            return {hand: ControllerState(None, {}) for hand in self._hand_paths}
        out = {}
        for hand, sub in self._hand_paths.items():
            buttons: dict[str, float] = {}
            for name in ("trigger", "squeeze"):
                st = xr.get_action_state_float(
                    self.session, xr.ActionStateGetInfo(action=self.actions[name], subaction_path=sub)
                )
                if st.is_active:
                    buttons[name] = float(st.current_state)
            for name in ("menu", "primary", "secondary"):
                st = xr.get_action_state_boolean(
                    self.session, xr.ActionStateGetInfo(action=self.actions[name], subaction_path=sub)
                )
                if st.is_active:
                    buttons[name] = float(bool(st.current_state))
            st = xr.get_action_state_vector2f(
                self.session, xr.ActionStateGetInfo(action=self.actions["thumbstick"], subaction_path=sub)
            )
            if st.is_active:
                buttons["thumbstick_x"], buttons["thumbstick_y"] = float(st.current_state.x), float(st.current_state.y)
            loc = xr.locate_space(self._grip_spaces[hand], self.space, t)
            pose = _pose(loc.pose) if loc.location_flags & 0x3 == 0x3 else None
            aim_loc = xr.locate_space(self._aim_spaces[hand], self.space, t)
            aim = _pose(aim_loc.pose) if aim_loc.location_flags & 0x3 == 0x3 else None
            out[hand] = ControllerState(pose, buttons, aim)
        return out

    def _require_frame(self) -> XrFrame:
        if self._frame is None:
            raise XrError("no frame in progress: call begin_frame first")
        return self._frame

    def eye_framebuffer(self, eye: int) -> Any:
        """The moderngl framebuffer of eye ``eye``'s acquired swapchain image."""
        self._require_frame()
        if self._ctx is None:
            raise XrError("a headless OpenXR session has no eye images; pass a moderngl context to render")
        if eye not in self._acquired:
            xr = self._xr
            sc = self._swapchains[eye][0]
            index = xr.acquire_swapchain_image(sc, xr.SwapchainImageAcquireInfo())
            xr.wait_swapchain_image(sc, xr.SwapchainImageWaitInfo(timeout=xr.INFINITE_DURATION))
            self._acquired[eye] = index
        return self._fbos[eye][self._acquired[eye]]

    def submit(self, eye: int, image: Any) -> None:
        """Copy an image (numpy, top row first; or a moderngl texture/framebuffer) into the eye."""
        frame = self._require_frame()
        if eye not in (0, 1):
            raise XrError(f"eye index must be 0 (left) or 1 (right), got {eye}")
        fbo = self.eye_framebuffer(eye)
        ctx = self._ctx
        assert ctx is not None  # eye_framebuffer raised for a headless session
        w, h = frame.eyes[eye].width, frame.eyes[eye].height
        if isinstance(image, np.ndarray):
            fbo.color_attachments[0].write(np.ascontiguousarray(as_rgba(image, w, h)[::-1]).tobytes())
            return
        src = image if hasattr(image, "color_attachments") else ctx.framebuffer(color_attachments=[image])
        if tuple(src.size) != (w, h):
            raise XrError(f"eye image is {src.size[0]}x{src.size[1]}, the eye needs {w}x{h}")
        ctx.copy_framebuffer(fbo, src)
        if src is not image:
            src.release()

    def submit_quad(self, name: str, pose: Pose, size: tuple[float, float], image: Any | None) -> None:
        """Show ``image`` (a moderngl framebuffer or texture in the app's context) this frame
        as a composition quad layer named ``name``: a flat rectangle of ``size`` (width,
        height in m) centred at ``pose`` (in the session's reference space; the image's +Z
        faces the viewer), composited over the scene with its alpha. Each name keeps one
        swapchain of the image's size (made on first use), so a steady panel allocates nothing.
        ``image`` None shows the image submitted last under ``name`` again without copying
        (OpenXR composites a swapchain's last released image)."""
        frame = self._require_frame()
        if self._ctx is None:
            raise XrError("a headless OpenXR session has no quad layers; pass a moderngl context to render")
        if not frame.should_render:
            return
        xr, ctx = self._xr, self._ctx
        if image is None:
            kept = self._quad_chains.get(name)
            if kept is None:
                raise XrError(f"no image was submitted for the quad {name!r} yet")
            self._quads.append((kept[0], kept[1], kept[2], pose, (float(size[0]), float(size[1]))))
            return
        src = image if hasattr(image, "color_attachments") else None
        w, h = (int(v) for v in image.size)
        chain = self._quad_chains.get(name)
        if chain is None or (chain[1], chain[2]) != (w, h):
            if chain is not None:
                for fbo in chain[3]:
                    fbo.release()
                xr.destroy_swapchain(chain[0])
            sc, fbos = self._color_swapchain(xr, ctx, w, h)
            chain = self._quad_chains[name] = (sc, w, h, fbos)
        sc, _, _, fbos = chain
        index = xr.acquire_swapchain_image(sc, xr.SwapchainImageAcquireInfo())
        xr.wait_swapchain_image(sc, xr.SwapchainImageWaitInfo(timeout=xr.INFINITE_DURATION))
        try:
            if src is None:
                src = ctx.framebuffer(color_attachments=[image])
            ctx.copy_framebuffer(fbos[index], src)
            if src is not image:
                src.release()
        finally:
            xr.release_swapchain_image(sc, xr.SwapchainImageReleaseInfo())
        self._quads.append((sc, w, h, pose, (float(size[0]), float(size[1]))))

    def end_frame(self) -> None:
        """Release acquired images and xrEndFrame: a projection layer when both eyes were
        drawn, then the quad layers submitted this frame (:meth:`submit_quad`), in order."""
        frame = self._require_frame()
        xr = self._xr
        for eye in self._acquired:
            xr.release_swapchain_image(self._swapchains[eye][0], xr.SwapchainImageReleaseInfo())
        layers = []
        if frame.should_render and len(self._acquired) == 2:
            proj_views = (xr.CompositionLayerProjectionView * 2)()
            for eye in range(2):
                sc, w, h = self._swapchains[eye]
                pv = proj_views[eye]
                pv._type = xr.StructureType.COMPOSITION_LAYER_PROJECTION_VIEW.value
                pv.pose, pv.fov = self._views[eye].pose, self._views[eye].fov
                pv.sub_image.swapchain = sc
                pv.sub_image.image_rect.extent.width, pv.sub_image.image_rect.extent.height = w, h
            layer = xr.CompositionLayerProjection(space=self.space, views=proj_views)
            layers.append(ctypes.byref(layer))
            self._layer_refs = (layer, proj_views)  # alive until xrEndFrame returns
        quads = []
        if frame.should_render:
            # Texture alpha blends the panel over the scene; overlay colours are not premultiplied.
            flags = (
                xr.CompositionLayerFlags.BLEND_TEXTURE_SOURCE_ALPHA_BIT
                | xr.CompositionLayerFlags.UNPREMULTIPLIED_ALPHA_BIT
            )
            for sc, w, h, pose, (qw, qh) in self._quads:
                quad = xr.CompositionLayerQuad(
                    layer_flags=flags,
                    space=self.space,
                    eye_visibility=xr.EyeVisibility.BOTH,
                    sub_image=xr.SwapchainSubImage(
                        swapchain=sc, image_rect=xr.Rect2Di(extent=xr.Extent2Di(width=w, height=h))
                    ),
                    pose=xr.Posef(
                        orientation=xr.Quaternionf(
                            x=pose.orientation[1], y=pose.orientation[2], z=pose.orientation[3], w=pose.orientation[0]
                        ),
                        position=xr.Vector3f(*pose.position),
                    ),
                    size=xr.Extent2Df(width=qw, height=qh),
                )
                quads.append(quad)
                layers.append(ctypes.byref(quad))
        self._quad_refs = quads  # alive until xrEndFrame returns
        self._quads = []
        self._acquired = {}
        self._frame = None
        xr.end_frame(
            self.session,
            xr.FrameEndInfo(
                display_time=self._frame_state.predicted_display_time, environment_blend_mode=self._blend, layers=layers
            ),
        )

    def _abandon_frame(self) -> None:
        if self._frame is not None:
            try:
                self.end_frame()
            except self._xr.XrException:
                self._frame = None

    def vibrate(self, hand: str, amplitude: float, duration: float, frequency: float = 0.0) -> None:
        """xrApplyHapticFeedback on one hand (frequency 0: the runtime's optimal frequency)."""
        if hand not in HANDS:
            raise XrError(f"unknown hand {hand!r}; use one of {', '.join(HANDS)}")
        xr = self._xr
        vib = xr.HapticVibration(duration=int(duration * 1e9), frequency=float(frequency), amplitude=float(amplitude))
        info = xr.HapticActionInfo(action=self.actions["haptic"], subaction_path=self._hand_paths[hand])
        xr.apply_haptic_feedback(self.session, info, vib)

    def close(self) -> None:
        """Destroy the session and instance (OpenXR destroys their children with them)."""
        if self._closed:
            return
        self._closed = True
        xr = self._xr
        for fbos in [*getattr(self, "_fbos", []), *(c[3] for c in self._quad_chains.values())]:
            for fbo in fbos:
                fbo.release()  # the textures belong to the runtime; moderngl does not delete external ones
        try:
            if self.session is not None:
                xr.destroy_session(self.session)
            if self.instance is not None:
                xr.destroy_instance(self.instance)
        except xr.XrException as exc:
            raise XrError(f"closing the OpenXR session failed: {type(exc).__name__}") from None
        finally:
            self.session = self.instance = None
