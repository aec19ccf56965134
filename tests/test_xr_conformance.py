"""Conformance of the simulated OpenXR runtime (vrmed.xr.sim) to OpenXR 1.0, tested the way a C
application sees it: entry points fetched through the Khronos loader's xrGetInstanceProcAddr,
called with raw handles and buffers. Every test runs twice, once straight to the runtime and
once through the Khronos core validation layer (where pyopenxr ships it): the error codes the
specification requires must be the same either way, so the runtime itself never relies on the
layer to catch a bad call.

What each error case checks is the "Return Codes" and "Valid Usage" text of the OpenXR 1.0
specification (https://registry.khronos.org/OpenXR/specs/1.0/html/xrspec.html) for that function.
"""

from __future__ import annotations

import ctypes
import math
from ctypes import POINTER, byref, c_char_p, c_float, c_int32, c_int64, c_uint32, c_uint64, c_void_p
from typing import Any

import numpy as np
import pytest

xr = pytest.importorskip("xr")

from openxr_env import enable_core_validation  # noqa: E402

from vrmed.xr import sim  # noqa: E402

R = xr.Result
ST = xr.StructureType
HEADLESS = ("XR_MND_headless",)
GL_EXTS = ("XR_MNDX_egl_enable", "XR_KHR_opengl_enable")
BOGUS = 0xDEAD0  # never a live handle of the runtime (its handles are 0x51x0)
STEREO = xr.ViewConfigurationType.PRIMARY_STEREO.value
PROFILE = "/interaction_profiles/"


def _raw(argtype: Any) -> Any:
    """The C view of a pyopenxr argument type: handles as integers, char buffers as pointers."""
    if isinstance(argtype, type) and issubclass(argtype, xr.handle.HandleMixin):
        return c_uint64
    if isinstance(argtype, type) and issubclass(argtype, ctypes._Pointer):
        if isinstance(argtype._type_, type) and issubclass(argtype._type_, xr.handle.HandleMixin):
            return POINTER(c_uint64)  # an output handle
    if argtype is c_char_p or (isinstance(argtype, type) and issubclass(argtype, ctypes.Array)):
        return c_void_p
    return argtype


def _prototype(name: str) -> Any:
    proto = getattr(xr, f"PFN_{name}")
    return ctypes.CFUNCTYPE(c_int32, *(_raw(t) for t in proto._argtypes_))


class App:
    """A C-style OpenXR application on the loader (one per test, with or without the layer)."""

    def __init__(self, rt: sim.SimRuntime, layers: tuple[str, ...]) -> None:
        self.rt = rt
        self.layers = layers
        lib = ctypes.cast(xr.raw_functions.xrGetInstanceProcAddr, c_void_p).value
        self._gipa = ctypes.CFUNCTYPE(c_int32, c_uint64, c_char_p, POINTER(c_void_p))(lib)
        self.instances: list[int] = []
        self.instance = 0

    def proc(self, name: str, instance: int | None = None) -> tuple[int, Any]:
        out = c_void_p()
        result = self._gipa(self.instance if instance is None else instance, name.encode(), byref(out))
        return result, (_prototype(name)(out.value) if out.value else None)

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("xr"):
            raise AttributeError(name)
        result, fn = self.proc(name)
        assert result == 0, f"{name}: {R(result).name}"
        return fn

    # -- setup -------------------------------------------------------------------------
    def create_instance(self, exts: tuple[str, ...] = HEADLESS, api: tuple[int, int] = (1, 0)) -> tuple[int, int]:
        info = xr.InstanceCreateInfo(
            application_info=xr.ApplicationInfo("conformance", api_version=xr.Version(api[0], api[1], 0)),
            enabled_extension_names=list(exts),
            enabled_api_layer_names=list(self.layers),
        )
        handle = c_uint64()
        _, create = self.proc("xrCreateInstance", 0)
        result = create(byref(info), byref(handle))
        if result == 0:
            self.instances.append(handle.value)
            self.instance = self.instance or handle.value
        return result, handle.value

    def start(self, exts: tuple[str, ...] = HEADLESS) -> None:
        result, self.instance = self.create_instance(exts)
        assert result == 0, R(result).name
        self.system = self.get_system()
        self.session = 0

    def get_system(self) -> int:
        sid = c_uint64()
        info = xr.SystemGetInfo(form_factor=xr.FormFactor.HEAD_MOUNTED_DISPLAY)
        assert self.xrGetSystem(self.instance, byref(info), byref(sid)) == 0
        return sid.value

    def create_session(self, binding: Any = None) -> int:
        info = xr.SessionCreateInfo(system_id=self.system, next=binding)
        out = c_uint64()
        result = self.xrCreateSession(self.instance, byref(info), byref(out))
        assert result == 0, R(result).name
        self.session = out.value
        return out.value

    def poll(self) -> list[tuple[int, int]]:
        """(structure type, session state or 0) of every queued event."""
        events = []
        buf = xr.EventDataBuffer()
        while self.xrPollEvent(self.instance, byref(buf)) == 0:
            state = 0
            if buf.type == ST.EVENT_DATA_SESSION_STATE_CHANGED:
                state = ctypes.cast(byref(buf), POINTER(xr.EventDataSessionStateChanged)).contents._state
            events.append((int(buf.type), state))
            buf = xr.EventDataBuffer()
        return events

    def states(self) -> list[str]:
        return [xr.SessionState(s).name for t, s in self.poll() if t == ST.EVENT_DATA_SESSION_STATE_CHANGED]

    def begin(self) -> int:
        info = xr.SessionBeginInfo(primary_view_configuration_type=xr.ViewConfigurationType.PRIMARY_STEREO)
        return self.xrBeginSession(self.session, byref(info))

    def running(self, exts: tuple[str, ...] = HEADLESS) -> None:
        """A headless session, begun and focused."""
        self.start(exts)
        self.create_session()
        assert self.states() == ["IDLE", "READY"]
        assert self.begin() == 0
        assert self.states() == ["SYNCHRONIZED", "VISIBLE", "FOCUSED"]

    def wait(self) -> xr.FrameState:
        fs = xr.FrameState()
        assert self.xrWaitFrame(self.session, None, byref(fs)) == 0
        return fs

    def path(self, text: str) -> int:
        out = c_uint64()
        assert self.xrStringToPath(self.instance, text.encode(), byref(out)) == 0, text
        return out.value

    def space(self, kind: Any = xr.ReferenceSpaceType.STAGE, pose: Any = None) -> int:
        info = xr.ReferenceSpaceCreateInfo(reference_space_type=kind)
        if pose is not None:
            info.pose_in_reference_space = pose
        out = c_uint64()
        assert self.xrCreateReferenceSpace(self.session, byref(info), byref(out)) == 0
        return out.value

    def action_set(self, name: str = "main", localized: str = "Main") -> tuple[int, int]:
        info = xr.ActionSetCreateInfo(action_set_name=name, localized_action_set_name=localized)
        out = c_uint64()
        return self.xrCreateActionSet(self.instance, byref(info), byref(out)), out.value

    def action(
        self, aset: int, name: str, kind: Any, localized: str | None = None, subactions: tuple[int, ...] = ()
    ) -> tuple[int, int]:
        info = xr.ActionCreateInfo(
            action_name=name,
            action_type=kind,
            localized_action_name=name.title() if localized is None else localized,
            subaction_paths=list(subactions) or None,
        )
        out = c_uint64()
        return self.xrCreateAction(aset, byref(info), byref(out)), out.value

    def suggest(self, profile: str, bindings: list[tuple[int, str]]) -> int:
        arr = (xr.ActionSuggestedBinding * len(bindings))()
        for i, (action, path) in enumerate(bindings):
            arr[i].action = ctypes.cast(c_void_p(action), xr.Action)
            arr[i].binding = self.path(path)
        info = xr.InteractionProfileSuggestedBinding(
            interaction_profile=self.path(profile), count_suggested_bindings=len(bindings), suggested_bindings=arr
        )
        return self.xrSuggestInteractionProfileBindings(self.instance, byref(info))

    def attach(self, *sets: int) -> int:
        arr = (xr.ActionSet * len(sets))(*(ctypes.cast(c_void_p(s), xr.ActionSet) for s in sets))
        info = xr.SessionActionSetsAttachInfo(count_action_sets=len(sets), action_sets=arr)
        return self.xrAttachSessionActionSets(self.session, byref(info))

    def sync(self, aset: int) -> int:
        active = xr.ActiveActionSet(action_set=ctypes.cast(c_void_p(aset), xr.ActionSet), subaction_path=0)
        info = xr.ActionsSyncInfo(count_active_action_sets=1, active_action_sets=ctypes.pointer(active))
        return self.xrSyncActions(self.session, byref(info))

    def close(self) -> None:
        for h in reversed(self.instances):
            _, destroy = self.proc("xrDestroyInstance", h)
            destroy(h)


@pytest.fixture(params=["runtime", "validation layer"])
def app(request, manifest, monkeypatch, tmp_path):
    """The runtime alone, then behind the core validation layer (skipped where not shipped).
    After the test: no exception escaped inside the runtime."""
    monkeypatch.setenv("XR_RUNTIME_JSON", str(manifest))
    monkeypatch.delenv("XR_ENABLE_API_LAYERS", raising=False)
    layers: tuple[str, ...] = ()
    if request.param == "validation layer":
        layers = enable_core_validation(monkeypatch, tmp_path / "validation.txt")
        if not layers:
            pytest.skip("pyopenxr does not ship the core validation layer on this platform")
    else:
        monkeypatch.delenv("XR_API_LAYER_PATH", raising=False)
    rt, _ = sim.install(manifest=manifest)
    a = App(rt, layers)
    yield a
    a.close()
    assert rt.errors == [], rt.errors[0]


@pytest.fixture(scope="module")
def gl_ctx():
    """A headless EGL GL context (moderngl), current on this thread."""
    moderngl = pytest.importorskip("moderngl")
    try:
        ctx = moderngl.create_standalone_context(backend="egl")
    except Exception as exc:  # noqa: BLE001 - any failure means: no EGL here
        pytest.skip(f"no EGL context on this machine: {exc}")
    yield ctx
    ctx.release()


@pytest.fixture
def gl_binding(gl_ctx):
    """Makes an XrGraphicsBindingEGLMNDX for the current EGL context (kept alive by the test)."""
    from vrmed.xr.egl import current_egl, egl_get_proc_address_ptr

    keep = []

    def make() -> Any:
        display, config, context = current_egl()
        b = xr.GraphicsBindingEGLMNDX()
        b.get_proc_address = ctypes.cast(c_void_p(egl_get_proc_address_ptr()), xr.PFN_xrEglGetProcAddressMNDX)
        b.display = ctypes.cast(c_void_p(display), type(b.display))
        b.config = ctypes.cast(c_void_p(config), type(b.config))
        b.context = ctypes.cast(c_void_p(context), type(b.context))
        keep.append(b)
        return b

    return make


def _pose(w=1.0, x=0.0, y=0.0, z=0.0, pos=(0.0, 0.0, 0.0)) -> xr.Posef:
    return xr.Posef(orientation=xr.Quaternionf(x, y, z, w), position=xr.Vector3f(*pos))


# -- version honesty ---------------------------------------------------------------------------
def test_runtime_is_openxr_1_0_and_refuses_1_1_instances(app):
    assert (sim.API_VERSION >> 48, (sim.API_VERSION >> 32) & 0xFFFF) == (1, 0)
    result, _ = app.create_instance(api=(1, 1))
    assert result == R.ERROR_API_VERSION_UNSUPPORTED
    result, _ = app.create_instance(api=(2, 0))
    assert result == R.ERROR_API_VERSION_UNSUPPORTED
    app.running()
    # 1.1's core features are absent, so nothing may advertise them.
    assert app.proc("xrLocateSpaces")[0] == R.ERROR_FUNCTION_UNSUPPORTED
    count = c_uint32()
    assert app.xrEnumerateReferenceSpaces(app.session, 0, byref(count), None) == 0
    kinds = (c_int32 * count.value)()
    assert app.xrEnumerateReferenceSpaces(app.session, count.value, byref(count), kinds) == 0
    assert sorted(kinds) == [1, 2, 3]  # VIEW, LOCAL, STAGE: no LOCAL_FLOOR (1.1)


# -- the string functions write into the application's buffer ----------------------------------
def test_result_and_structure_type_names_reach_the_app_buffer(app):
    app.start()
    buf = ctypes.create_string_buffer(b"\xff" * 64, 64)
    assert app.xrResultToString(app.instance, R.ERROR_VALIDATION_FAILURE.value, buf) == 0
    assert buf.value == b"XR_ERROR_VALIDATION_FAILURE"
    assert app.xrResultToString(app.instance, R.SESSION_LOSS_PENDING.value, buf) == 0
    assert buf.value == b"XR_SESSION_LOSS_PENDING"
    # Values the runtime does not know: the names the specification prescribes.
    assert app.xrResultToString(app.instance, -987654, buf) == 0 and buf.value == b"XR_UNKNOWN_FAILURE_-987654"
    assert app.xrResultToString(app.instance, 987654, buf) == 0 and buf.value == b"XR_UNKNOWN_SUCCESS_987654"
    assert app.xrStructureTypeToString(app.instance, ST.SESSION_BEGIN_INFO.value, buf) == 0
    assert buf.value == b"XR_TYPE_SESSION_BEGIN_INFO"
    assert app.xrStructureTypeToString(app.instance, 0x7FFF0001, buf) == 0
    assert buf.value == b"XR_UNKNOWN_STRUCTURE_TYPE_2147418113"
    assert app.xrResultToString(BOGUS, 0, buf) == R.ERROR_HANDLE_INVALID


def test_path_to_string_two_call_idiom(app):
    app.start()
    path = app.path("/user/hand/left/input/trigger/value")
    count = c_uint32(99)
    assert app.xrPathToString(app.instance, path, 0, byref(count), None) == 0
    assert count.value == len("/user/hand/left/input/trigger/value") + 1  # with the NUL
    small = ctypes.create_string_buffer(8)
    assert app.xrPathToString(app.instance, path, 8, byref(count), small) == R.ERROR_SIZE_INSUFFICIENT
    buf = ctypes.create_string_buffer(count.value)
    assert app.xrPathToString(app.instance, path, count.value, byref(count), buf) == 0
    assert buf.value == b"/user/hand/left/input/trigger/value"
    assert app.xrPathToString(app.instance, 0, 64, byref(count), buf) == R.ERROR_PATH_INVALID
    assert app.xrPathToString(app.instance, path + 1000, 64, byref(count), buf) == R.ERROR_PATH_INVALID
    out = c_uint64()
    for bad in (b"user/hand", b"/user//hand", b"/user/Hand", b"/user/hand/", b""):
        assert app.xrStringToPath(app.instance, bad, byref(out)) == R.ERROR_PATH_FORMAT_INVALID, bad
    assert app.path("/user/hand/left/input/trigger/value") == path  # interned once


# -- session lifecycle -------------------------------------------------------------------------
def test_graphics_session_synchronises_only_after_the_first_wait_frame(app, gl_binding):
    app.start(GL_EXTS)
    req = xr.GraphicsRequirementsOpenGLKHR()
    assert app.xrGetOpenGLGraphicsRequirementsKHR(app.instance, app.system, byref(req)) == 0
    app.create_session(gl_binding())
    assert app.states() == ["IDLE", "READY"]
    assert app.begin() == 0
    assert app.states() == []  # nothing before the frame loop is synchronised
    fs = app.wait()
    assert app.states() == ["SYNCHRONIZED", "VISIBLE", "FOCUSED"] and fs.should_render
    assert app.xrRequestExitSession(app.session) == 0
    assert app.states() == ["VISIBLE", "SYNCHRONIZED", "STOPPING"]  # down the lifecycle graph
    assert app.xrEndSession(app.session) == 0
    assert app.states() == ["IDLE", "EXITING"]


def test_headless_session_has_no_frame_loop_to_synchronise(app):
    app.start()
    app.create_session()
    assert app.states() == ["IDLE", "READY"]
    info = xr.SessionBeginInfo(primary_view_configuration_type=xr.ViewConfigurationType.PRIMARY_MONO)
    assert app.xrBeginSession(app.session, byref(info)) == 0  # XR_MND_headless ignores it (as Monado)
    assert app.states() == ["SYNCHRONIZED", "VISIBLE", "FOCUSED"]
    assert not app.wait().should_render


# -- actions -----------------------------------------------------------------------------------
def test_action_and_action_set_names(app):
    app.start()
    PATH_FORMAT, NAME = R.ERROR_PATH_FORMAT_INVALID, R.ERROR_NAME_INVALID
    assert app.action_set("Upper")[0] == PATH_FORMAT
    assert app.action_set("has space")[0] == PATH_FORMAT
    assert app.action_set("a/b")[0] == PATH_FORMAT
    assert app.action_set("")[0] == NAME
    assert app.action_set("main", "")[0] == R.ERROR_LOCALIZED_NAME_INVALID
    result, main = app.action_set("main", "Main")
    assert result == 0
    assert app.action_set("main", "Other")[0] == R.ERROR_NAME_DUPLICATED
    assert app.action_set("other", "Main")[0] == R.ERROR_LOCALIZED_NAME_DUPLICATED
    bool_in = xr.ActionType.BOOLEAN_INPUT
    assert app.action(main, "Grab", bool_in)[0] == PATH_FORMAT
    assert app.action(main, "", bool_in)[0] == NAME
    assert app.action(main, "grab", bool_in, localized="")[0] == R.ERROR_LOCALIZED_NAME_INVALID
    assert app.action(main, "grab", bool_in, localized="Grab")[0] == 0
    assert app.action(main, "grab", bool_in, localized="Other")[0] == R.ERROR_NAME_DUPLICATED
    assert app.action(main, "grab2", bool_in, localized="Grab")[0] == R.ERROR_LOCALIZED_NAME_DUPLICATED
    left = app.path("/user/hand/left")
    assert app.action(main, "twice", bool_in, subactions=(left, left))[0] == R.ERROR_PATH_UNSUPPORTED
    not_top = app.path("/user/hand/left/input")
    assert app.action(main, "deep", bool_in, subactions=(not_top,))[0] == R.ERROR_PATH_UNSUPPORTED
    # Names are free again once their owner is destroyed.
    assert app.xrDestroyActionSet(main) == 0
    assert app.action_set("main", "Main")[0] == 0


#: One input path per core interaction profile of OpenXR 1.0 (section 6.4) that a
#: boolean/float action may bind to, and one path that profile does not have.
CORE_PROFILES = {
    "khr/simple_controller": ("/user/hand/left/input/select/click", "/user/hand/left/input/trigger/value"),
    "google/daydream_controller": ("/user/hand/right/input/select/click", "/user/hand/right/input/menu/click"),
    "htc/vive_controller": ("/user/hand/left/input/trigger/value", "/user/hand/left/input/a/click"),
    "htc/vive_pro": ("/user/head/input/volume_up/click", "/user/hand/left/input/select/click"),
    "microsoft/motion_controller": ("/user/hand/right/input/squeeze/click", "/user/hand/right/input/a/click"),
    "microsoft/xbox_controller": ("/user/gamepad/input/dpad_up/click", "/user/hand/left/input/a/click"),
    "oculus/go_controller": ("/user/hand/left/input/back/click", "/user/hand/left/input/a/click"),
    "oculus/touch_controller": ("/user/hand/left/input/x/click", "/user/hand/left/input/a/click"),
    "valve/index_controller": ("/user/hand/right/input/trackpad/force", "/user/hand/right/input/menu/click"),
}


def test_every_core_interaction_profile_is_accepted(app):
    app.start()
    _, main = app.action_set()
    _, act = app.action(main, "press", xr.ActionType.FLOAT_INPUT)
    for profile, (good, bad) in CORE_PROFILES.items():
        full = f"/interaction_profiles/{profile}"
        assert app.suggest(full, [(act, good)]) == 0, profile
        assert app.suggest(full, [(act, bad)]) == R.ERROR_PATH_UNSUPPORTED, profile
    # Parent paths are allowed (the runtime picks the component).
    assert app.suggest("/interaction_profiles/valve/index_controller", [(act, "/user/hand/left/input/trigger")]) == 0
    assert app.suggest("/interaction_profiles/acme/laser_pointer", [(act, good)]) == R.ERROR_PATH_UNSUPPORTED
    # Eye gaze needs its extension.
    gaze = "/interaction_profiles/ext/eye_gaze_interaction"
    assert app.suggest(gaze, [(act, "/user/eyes_ext/input/gaze_ext/pose")]) == R.ERROR_PATH_UNSUPPORTED


def test_bound_sources_and_localized_names(app):
    app.running()
    left, right = app.path("/user/hand/left"), app.path("/user/hand/right")
    _, main = app.action_set()
    _, grab = app.action(main, "grab", xr.ActionType.FLOAT_INPUT, subactions=(left, right))
    _, unbound = app.action(main, "unbound", xr.ActionType.BOOLEAN_INPUT)
    touch = "/interaction_profiles/oculus/touch_controller"
    bindings = [(grab, "/user/hand/left/input/trigger"), (grab, "/user/hand/right/input/trigger/value")]
    assert app.suggest(touch, bindings) == 0
    info = xr.BoundSourcesForActionEnumerateInfo(action=ctypes.cast(c_void_p(grab), xr.Action))
    count = c_uint32()
    fn = app.xrEnumerateBoundSourcesForAction
    assert fn(app.session, byref(info), 0, byref(count), None) == R.ERROR_ACTIONSET_NOT_ATTACHED
    assert app.attach(main) == 0
    assert fn(app.session, byref(info), 0, byref(count), None) == 0 and count.value == 2
    small = (c_uint64 * 1)()
    assert fn(app.session, byref(info), 1, byref(count), small) == R.ERROR_SIZE_INSUFFICIENT
    paths = (c_uint64 * 2)()
    assert fn(app.session, byref(info), 2, byref(count), paths) == 0
    names = []
    for p in paths:
        buf = ctypes.create_string_buffer(128)
        assert app.xrPathToString(app.instance, p, 128, byref(count), buf) == 0
        names.append(buf.value.decode())
    # The parent path resolves to the component it reads.
    assert names == ["/user/hand/left/input/trigger/value", "/user/hand/right/input/trigger/value"]
    info.action = ctypes.cast(c_void_p(unbound), xr.Action)
    assert fn(app.session, byref(info), 0, byref(count), None) == 0 and count.value == 0

    get = app.xrGetInputSourceLocalizedName
    src = xr.InputSourceLocalizedNameGetInfo(source_path=paths[1], which_components=0x7)
    assert get(app.session, byref(src), 0, byref(count), None) == 0
    buf = ctypes.create_string_buffer(count.value)
    assert get(app.session, byref(src), count.value, byref(count), buf) == 0
    assert buf.value == b"Right Hand Oculus Touch Controller Trigger"
    assert get(app.session, byref(src), 3, byref(count), buf) == R.ERROR_SIZE_INSUFFICIENT
    src.which_components = 0x1
    assert get(app.session, byref(src), 64, byref(count), buf) == 0 and buf.value == b"Right Hand"
    src.which_components = 0
    assert get(app.session, byref(src), 64, byref(count), buf) == R.ERROR_VALIDATION_FAILURE
    src.which_components, src.source_path = 0x4, 0
    assert get(app.session, byref(src), 64, byref(count), buf) == R.ERROR_PATH_INVALID


def test_actions_follow_the_scripted_controllers(app):
    app.running()
    right = app.path("/user/hand/right")
    _, main = app.action_set()
    _, trig = app.action(main, "trigger", xr.ActionType.BOOLEAN_INPUT, subactions=(right,))
    assert app.suggest("/interaction_profiles/microsoft/xbox_controller", [(trig, "/user/gamepad/input/a/click")]) == 0
    assert (
        app.suggest("/interaction_profiles/htc/vive_controller", [(trig, "/user/hand/right/input/trigger/click")]) == 0
    )
    assert app.attach(main) == 0
    state = xr.InteractionProfileState()
    assert app.xrGetCurrentInteractionProfile(app.session, right, byref(state)) == 0
    buf = ctypes.create_string_buffer(128)
    count = c_uint32()
    assert app.xrPathToString(app.instance, state.interaction_profile, 128, byref(count), buf) == 0
    assert buf.value == b"/interaction_profiles/htc/vive_controller"  # hands pose as a hand profile
    gamepad = app.path("/user/gamepad")
    assert app.xrGetCurrentInteractionProfile(app.session, gamepad, byref(state)) == 0
    assert state.interaction_profile == 0  # no simulated gamepad
    bad = app.path("/user/hand")
    assert app.xrGetCurrentInteractionProfile(app.session, bad, byref(state)) == R.ERROR_PATH_UNSUPPORTED
    pressed = []
    for _ in range(100):  # the default script pulls the right trigger in the second half of every 2 s
        app.wait()
        assert app.sync(main) == 0
        st = xr.ActionStateBoolean()
        get = xr.ActionStateGetInfo(action=ctypes.cast(c_void_p(trig), xr.Action), subaction_path=right)
        assert app.xrGetActionStateBoolean(app.session, byref(get), byref(st)) == 0
        pressed.append(bool(st.current_state))
    assert pressed[:89] == [False] * 89 and pressed[91:] == [True] * 9  # t >= 1 s from frame 90


# -- poses ---------------------------------------------------------------------------------------
def test_pose_orientation_must_be_unit_within_one_percent(app):
    app.running()
    out = c_uint64()

    def create(pose) -> int:
        info = xr.ReferenceSpaceCreateInfo(reference_space_type=xr.ReferenceSpaceType.LOCAL)
        info.pose_in_reference_space = pose
        return app.xrCreateReferenceSpace(app.session, byref(info), byref(out))

    assert create(_pose(w=1.004)) == 0  # 0.4 % off: allowed
    assert create(_pose(w=0.992)) == 0
    assert create(_pose(w=1.02)) == R.ERROR_POSE_INVALID
    assert create(_pose(w=0.0)) == R.ERROR_POSE_INVALID
    assert create(_pose(w=math.nan)) == R.ERROR_POSE_INVALID
    assert create(_pose(pos=(math.inf, 0, 0))) == R.ERROR_POSE_INVALID
    left = app.path("/user/hand/left")
    _, main = app.action_set()
    _, pose_action = app.action(main, "pose", xr.ActionType.POSE_INPUT, subactions=(left,))
    info = xr.ActionSpaceCreateInfo(action=ctypes.cast(c_void_p(pose_action), xr.Action), subaction_path=left)
    info.pose_in_action_space = _pose(w=0.5, x=0.5)  # norm 0.71
    assert app.xrCreateActionSpace(app.session, byref(info), byref(out)) == R.ERROR_POSE_INVALID
    info.pose_in_action_space = _pose(w=math.sqrt(0.5), x=math.sqrt(0.5))
    assert app.xrCreateActionSpace(app.session, byref(info), byref(out)) == 0


# -- every function: invalid handles, structure types, call order, parameters -------------------
def _default_args(name: str, handles: dict[type, int]) -> list[Any]:
    """Arguments of the right C types: live handles of each kind, typed structs, zeros."""
    args: list[Any] = []
    for t in getattr(xr, f"PFN_{name}")._argtypes_:
        if isinstance(t, type) and issubclass(t, xr.handle.HandleMixin):
            args.append(handles.get(t, BOGUS))
        elif isinstance(t, type) and issubclass(t, ctypes._Pointer):
            target = t._type_
            if issubclass(target, xr.handle.HandleMixin):
                target = c_uint64  # an output handle
            args.append(byref(target()))
        elif t is c_char_p:
            args.append(b"/user/head")
        elif isinstance(t, type) and issubclass(t, ctypes.Array):
            args.append(ctypes.create_string_buffer(256))
        else:
            args.append(0)
    return args


def _handle_kinds(name: str) -> list[type]:
    return [
        t for t in getattr(xr, f"PFN_{name}")._argtypes_ if isinstance(t, type) and issubclass(t, xr.handle.HandleMixin)
    ]


def _live_handles(app: App) -> dict[type, int]:
    """One live object of each handle kind the headless runtime has (no swapchain)."""
    app.running((*HEADLESS, *sorted(set(sim.runtime.EXTENSIONS) - {"XR_MND_headless", "XR_MNDX_egl_enable"})))
    _, aset = app.action_set()
    _, action = app.action(aset, "a", xr.ActionType.POSE_INPUT)
    tracker = c_uint64()
    info = xr.HandTrackerCreateInfoEXT(hand=xr.HandEXT.LEFT, hand_joint_set=xr.HandJointSetEXT.DEFAULT)
    _, create = app.proc("xrCreateHandTrackerEXT")
    assert create(app.session, byref(info), byref(tracker)) == 0
    return {
        xr.Instance: app.instance,
        xr.Session: app.session,
        xr.Space: app.space(),
        xr.ActionSet: aset,
        xr.Action: action,
        xr.HandTrackerEXT: tracker.value,
    }


LOADER_DEREFERENCES = {"xrDestroyInstance"}


def test_every_function_rejects_invalid_handles(app):
    handles = _live_handles(app)
    checked = []
    for name in app.rt.function_names:
        kinds = _handle_kinds(name)
        if not kinds or name == "xrGetInstanceProcAddr":
            continue
        result, fn = app.proc(name)
        assert result == 0, name
        for kind in kinds:
            # Every handle argument in turn is a handle no object ever had (the rest are live).
            args = _default_args(name, handles)
            positions = [p for p, t in enumerate(getattr(xr, f"PFN_{name}")._argtypes_) if t is kind]
            args[positions[0]] = BOGUS
            # The loader's own xrDestroyInstance dereferences the handle before any layer or
            # runtime sees it; the runtime's entry point is called directly for that one.
            if name in LOADER_DEREFERENCES:
                args[positions[0]] = ctypes.cast(c_void_p(BOGUS), kind)
                got = app.rt._callbacks[name](*args)
            else:
                got = fn(*args)
            assert got == R.ERROR_HANDLE_INVALID, f"{name} with a bad {kind.__name__}: {R(got).name}"
            checked.append(name)
    # Every exported function that takes a handle was checked (swapchain functions included:
    # a swapchain handle is bogus here because headless sessions have none).
    expected = {n for n in app.rt.function_names if _handle_kinds(n) and n != "xrGetInstanceProcAddr"}
    assert set(checked) == expected and len(expected) >= 55


#: Functions whose first pointer argument is an input or output structure with a type field,
#: called with live handles and that structure's type set to a wrong value.
TYPED = [
    "xrGetInstanceProperties",
    "xrGetSystem",
    "xrGetSystemProperties",
    "xrCreateSession",
    "xrBeginSession",
    "xrCreateReferenceSpace",
    "xrCreateActionSpace",
    "xrLocateSpace",
    "xrCreateActionSet",
    "xrCreateAction",
    "xrSuggestInteractionProfileBindings",
    "xrAttachSessionActionSets",
    "xrSyncActions",
    "xrGetActionStateBoolean",
    "xrGetActionStateFloat",
    "xrGetActionStateVector2f",
    "xrGetActionStatePose",
    "xrApplyHapticFeedback",
    "xrStopHapticFeedback",
    "xrLocateViews",
    "xrWaitFrame",
    "xrEndFrame",
    "xrPollEvent",
    "xrGetViewConfigurationProperties",
    "xrEnumerateBoundSourcesForAction",
    "xrGetInputSourceLocalizedName",
    "xrGetCurrentInteractionProfile",
    "xrCreateHandTrackerEXT",
    "xrLocateHandJointsEXT",
]


def test_wrong_structure_types_are_validation_failures(app):
    handles = _live_handles(app)
    for name in TYPED:
        result, fn = app.proc(name)
        assert result == 0, name
        args = _default_args(name, handles)
        if name in ("xrGetSystemProperties", "xrGetViewConfigurationProperties"):
            args[1] = app.system
        if name == "xrGetViewConfigurationProperties":
            args[2] = STEREO
        protos = getattr(xr, f"PFN_{name}")._argtypes_
        pos = next(
            i
            for i, t in enumerate(protos)
            if isinstance(t, type) and issubclass(t, ctypes._Pointer) and hasattr(t._type_, "_type")
        )
        struct = protos[pos]._type_()
        struct._type = ST.HAPTIC_VIBRATION.value if name != "xrApplyHapticFeedback" else ST.SPACE_LOCATION.value
        args[pos] = byref(struct)
        got = fn(*args)
        assert got == R.ERROR_VALIDATION_FAILURE, f"{name}: {R(got).name}"


def test_call_order_errors(app, gl_binding):
    app.start(GL_EXTS)
    # A graphics session before its requirements were queried.
    info = xr.SessionCreateInfo(system_id=app.system, next=gl_binding())
    out = c_uint64()
    assert app.xrCreateSession(app.instance, byref(info), byref(out)) == R.ERROR_GRAPHICS_REQUIREMENTS_CALL_MISSING
    req = xr.GraphicsRequirementsOpenGLKHR()
    assert app.xrGetOpenGLGraphicsRequirementsKHR(app.instance, app.system, byref(req)) == 0
    app.create_session(gl_binding())
    fs = xr.FrameState()
    assert app.xrWaitFrame(app.session, None, byref(fs)) == R.ERROR_SESSION_NOT_RUNNING
    assert app.xrBeginFrame(app.session, None) == R.ERROR_SESSION_NOT_RUNNING
    assert app.xrRequestExitSession(app.session) == R.ERROR_SESSION_NOT_RUNNING
    assert app.xrEndSession(app.session) == R.ERROR_SESSION_NOT_RUNNING
    assert app.states() == ["IDLE", "READY"]
    assert app.begin() == 0
    assert app.begin() == R.ERROR_SESSION_RUNNING
    assert app.xrBeginFrame(app.session, None) == R.ERROR_CALL_ORDER_INVALID  # no xrWaitFrame yet
    end = xr.FrameEndInfo(display_time=sim.EPOCH_NS, environment_blend_mode=xr.EnvironmentBlendMode.OPAQUE)
    assert app.xrEndFrame(app.session, byref(end)) == R.ERROR_CALL_ORDER_INVALID  # no xrBeginFrame
    fs = app.wait()
    assert app.xrBeginFrame(app.session, None) == 0
    assert app.xrEndSession(app.session) == R.ERROR_SESSION_NOT_STOPPING
    end.display_time = fs.predicted_display_time + 1
    assert app.xrEndFrame(app.session, byref(end)) == R.ERROR_TIME_INVALID
    end.display_time = fs.predicted_display_time
    end.environment_blend_mode = xr.EnvironmentBlendMode.ADDITIVE
    assert app.xrEndFrame(app.session, byref(end)) == R.ERROR_ENVIRONMENT_BLEND_MODE_UNSUPPORTED
    end.environment_blend_mode = xr.EnvironmentBlendMode.OPAQUE
    assert app.xrEndFrame(app.session, byref(end)) == 0
    # Swapchain images: wait before acquire, release before wait.
    sc = _swapchain(app, 8, 8)
    assert app.xrWaitSwapchainImage(sc, byref(xr.SwapchainImageWaitInfo(timeout=0))) == R.ERROR_CALL_ORDER_INVALID
    assert app.xrReleaseSwapchainImage(sc, None) == R.ERROR_CALL_ORDER_INVALID
    # Actions: state before attaching; changes after attaching.
    _, main = app.action_set()
    _, act = app.action(main, "grab", xr.ActionType.BOOLEAN_INPUT)
    get = xr.ActionStateGetInfo(action=ctypes.cast(c_void_p(act), xr.Action))
    st = xr.ActionStateBoolean()
    assert app.xrGetActionStateBoolean(app.session, byref(get), byref(st)) == R.ERROR_ACTIONSET_NOT_ATTACHED
    assert app.sync(main) == R.ERROR_ACTIONSET_NOT_ATTACHED
    assert app.attach(main) == 0
    assert app.attach(main) == R.ERROR_ACTIONSETS_ALREADY_ATTACHED
    assert app.action(main, "late", xr.ActionType.BOOLEAN_INPUT)[0] == R.ERROR_ACTIONSETS_ALREADY_ATTACHED
    profile = "/interaction_profiles/khr/simple_controller"
    assert app.suggest(profile, [(act, "/user/hand/left/input/select/click")]) == R.ERROR_ACTIONSETS_ALREADY_ATTACHED
    fstate = xr.ActionStateFloat()
    assert app.xrGetActionStateFloat(app.session, byref(get), byref(fstate)) == R.ERROR_ACTION_TYPE_MISMATCH


def test_bad_parameters(app):
    result, _ = app.create_instance((*HEADLESS, "XR_ACME_teleporter"))
    assert result == R.ERROR_EXTENSION_NOT_PRESENT
    app.running()
    count = c_uint32()
    info = xr.SystemGetInfo(form_factor=xr.FormFactor.HANDHELD_DISPLAY)
    sid = c_uint64()
    assert app.xrGetSystem(app.instance, byref(info), byref(sid)) == R.ERROR_FORM_FACTOR_UNSUPPORTED
    props = xr.SystemProperties()
    assert app.xrGetSystemProperties(app.instance, 99, byref(props)) == R.ERROR_SYSTEM_INVALID
    mono = xr.ViewConfigurationType.PRIMARY_MONO.value
    fn = app.xrEnumerateViewConfigurationViews
    assert fn(app.instance, app.system, mono, 0, byref(count), None) == R.ERROR_VIEW_CONFIGURATION_TYPE_UNSUPPORTED
    assert app.xrEnumerateEnvironmentBlendModes(app.instance, app.system, mono, 0, byref(count), None) == (
        R.ERROR_VIEW_CONFIGURATION_TYPE_UNSUPPORTED
    )
    space_info = xr.ReferenceSpaceCreateInfo(reference_space_type=xr.ReferenceSpaceType.UNBOUNDED_MSFT)
    out = c_uint64()
    got = app.xrCreateReferenceSpace(app.session, byref(space_info), byref(out))
    # The layer may already reject an enum of an extension that is not enabled.
    assert got in (R.ERROR_REFERENCE_SPACE_UNSUPPORTED, R.ERROR_VALIDATION_FAILURE)
    space = app.space()
    loc = xr.SpaceLocation()
    assert app.xrLocateSpace(space, space, 0, byref(loc)) == R.ERROR_TIME_INVALID
    bounds = xr.Extent2Df()
    assert app.xrGetReferenceSpaceBoundsRect(app.session, 2, byref(bounds)) == R.SPACE_BOUNDS_UNAVAILABLE
    assert app.xrGetReferenceSpaceBoundsRect(app.session, 3, byref(bounds)) == 0 and bounds.width == 2.0
    # Extension functions are unsupported unless their extension is enabled.
    for name in (
        "xrConvertTimespecTimeToTimeKHR",
        "xrCreateHandTrackerEXT",
        "xrGetDisplayRefreshRateFB",
        "xrCreateBodyTrackerFB",
    ):
        assert app.proc(name)[0] == R.ERROR_FUNCTION_UNSUPPORTED, name
    assert app.proc("xrNoSuchFunction")[0] == R.ERROR_FUNCTION_UNSUPPORTED
    assert app.xrCreateSession(app.instance, byref(xr.SessionCreateInfo(system_id=1)), byref(out)) == (
        R.ERROR_LIMIT_REACHED  # one session per instance
    )


ENUMERATIONS = {
    "xrEnumerateViewConfigurations": ("instance", "system"),
    "xrEnumerateViewConfigurationViews": ("instance", "system", "stereo"),
    "xrEnumerateEnvironmentBlendModes": ("instance", "system", "stereo"),
    "xrEnumerateReferenceSpaces": ("session",),
    "xrEnumerateDisplayRefreshRatesFB": ("session",),
}


def test_enumerations_follow_the_two_call_idiom(app):
    app.running((*HEADLESS, "XR_FB_display_refresh_rate"))
    values = {"instance": app.instance, "system": app.system, "session": app.session, "stereo": STEREO}
    for name, lead in ENUMERATIONS.items():
        fn = app.proc(name)[1]
        element = getattr(xr, f"PFN_{name}")._argtypes_[-1]._type_
        args = [values[a] for a in lead]
        count = c_uint32(12345)
        assert fn(*args, 0, byref(count), None) == 0, name
        n = count.value
        assert n >= 1, name
        arr = (element * n)()
        for item in arr:
            if hasattr(item, "_type"):
                item._type = type(item)()._type  # pyopenxr's constructor sets the right type
        if n > 1:
            assert fn(*args, n - 1, byref(count), arr) == R.ERROR_SIZE_INSUFFICIENT, name
        assert fn(*args, n, byref(count), arr) == 0 and count.value == n, name
    count = c_uint32()
    assert app.xrEnumerateInstanceExtensionProperties is not None
    # The loader answers this one; the runtime's list reaches it unchanged.
    names = {e.extension_name.decode() for e in xr.enumerate_instance_extension_properties()}
    assert set(sim.runtime.EXTENSIONS) <= names


# -- composition layers --------------------------------------------------------------------------
def _swapchain(app: App, width: int, height: int, fmt: int = 0x8058) -> int:
    info = xr.SwapchainCreateInfo(
        usage_flags=xr.SwapchainUsageFlags.COLOR_ATTACHMENT_BIT,
        format=fmt,
        sample_count=1,
        width=width,
        height=height,
        face_count=1,
        array_size=1,
        mip_count=1,
    )
    out = c_uint64()
    assert app.xrCreateSwapchain(app.session, byref(info), byref(out)) == 0
    return out.value


def _fill(app: App, sc: int, ctx, rgba: tuple[int, int, int, int], size: tuple[int, int]) -> None:
    """Acquire, clear the image to a colour with moderngl, release."""
    count = c_uint32()
    assert app.xrEnumerateSwapchainImages(sc, 0, byref(count), None) == 0
    images = (xr.SwapchainImageOpenGLKHR * count.value)()
    for image in images:
        image._type = ST.SWAPCHAIN_IMAGE_OPENGL_KHR.value
    arr = ctypes.cast(images, POINTER(xr.SwapchainImageBaseHeader))
    assert app.xrEnumerateSwapchainImages(sc, count.value, byref(count), arr) == 0
    index = c_uint32()
    assert app.xrAcquireSwapchainImage(sc, None, byref(index)) == 0
    assert app.xrWaitSwapchainImage(sc, byref(xr.SwapchainImageWaitInfo(timeout=xr.INFINITE_DURATION))) == 0
    tex = ctx.external_texture(images[index.value].image, size, 4, 0, "f1")
    fbo = ctx.framebuffer([tex])
    fbo.use()
    fbo.clear(*(c / 255 for c in rgba))
    ctx.finish()
    fbo.release()
    tex.release()  # moderngl never deletes an external texture; this drops its wrapper
    assert app.xrReleaseSwapchainImage(sc, None) == 0


def test_quad_layers_are_composited_and_validated(app, gl_ctx, gl_binding):
    app.start(GL_EXTS)
    req = xr.GraphicsRequirementsOpenGLKHR()
    assert app.xrGetOpenGLGraphicsRequirementsKHR(app.instance, app.system, byref(req)) == 0
    app.create_session(gl_binding())
    app.states()
    assert app.begin() == 0
    stage = app.space()
    view = app.space(xr.ReferenceSpaceType.VIEW)
    eye = _swapchain(app, 16, 16)
    panel = _swapchain(app, 32, 16)
    fs = app.wait()
    assert app.xrBeginFrame(app.session, None) == 0
    _fill(app, eye, gl_ctx, (10, 20, 30, 255), (16, 16))
    _fill(app, panel, gl_ctx, (200, 100, 50, 255), (32, 16))

    views = (xr.CompositionLayerProjectionView * 2)()
    for v in views:
        v._type = ST.COMPOSITION_LAYER_PROJECTION_VIEW.value
        v.pose = _pose(pos=(0.0, 1.6, 0.0))
        v.fov = xr.Fovf(-0.7, 0.7, 0.7, -0.7)
        v.sub_image.swapchain = ctypes.cast(c_void_p(eye), xr.Swapchain)
        v.sub_image.image_rect.extent = xr.Extent2Di(16, 16)
    proj = xr.CompositionLayerProjection(space=ctypes.cast(c_void_p(stage), xr.Space), views=views)
    quad = xr.CompositionLayerQuad(
        space=ctypes.cast(c_void_p(view), xr.Space),
        eye_visibility=xr.EyeVisibility.BOTH,
        sub_image=xr.SwapchainSubImage(
            swapchain=ctypes.cast(c_void_p(panel), xr.Swapchain),
            image_rect=xr.Rect2Di(xr.Offset2Di(0, 0), xr.Extent2Di(32, 16)),
        ),
        pose=_pose(pos=(0.0, 0.0, -1.0)),
        size=xr.Extent2Df(0.6, 0.3),
    )
    quad.layer_flags = xr.CompositionLayerFlags.BLEND_TEXTURE_SOURCE_ALPHA_BIT

    def end(*layers) -> int:
        ptrs = (POINTER(xr.CompositionLayerBaseHeader) * len(layers))(
            *(ctypes.cast(byref(layer), POINTER(xr.CompositionLayerBaseHeader)) for layer in layers)
        )
        info = xr.FrameEndInfo(
            display_time=fs.predicted_display_time,
            environment_blend_mode=xr.EnvironmentBlendMode.OPAQUE,
            layer_count=len(layers),
            layers=ptrs,
        )
        return app.xrEndFrame(app.session, byref(info))

    quad.pose = _pose(w=0.9)  # 10 % off unit length
    assert end(proj, quad) == R.ERROR_POSE_INVALID
    quad.pose = _pose(pos=(0.0, 0.0, -1.0))
    views[1].pose = _pose(w=0.5, pos=(0.0, 1.6, 0.0))
    assert end(proj, quad) == R.ERROR_POSE_INVALID
    views[1].pose = _pose(pos=(0.0, 1.6, 0.0))
    quad._eye_visibility = 7
    assert end(proj, quad) == R.ERROR_VALIDATION_FAILURE
    quad._eye_visibility = 0
    quad.sub_image.image_rect.extent = xr.Extent2Di(33, 16)
    assert end(proj, quad) == R.ERROR_SWAPCHAIN_RECT_INVALID
    quad.sub_image.image_rect.extent = xr.Extent2Di(32, 16)
    not_a_layer = xr.CompositionLayerProjectionView()
    # The layer checks the structure type itself (VALIDATION_FAILURE); the runtime alone must say LAYER_INVALID.
    assert end(proj, not_a_layer) in (
        (R.ERROR_LAYER_INVALID, R.ERROR_VALIDATION_FAILURE) if app.layers else (R.ERROR_LAYER_INVALID,)
    )
    assert end(proj, quad) == 0

    frame = app.rt.frames[-1]
    assert frame.layer_types == ("projection", "quad") and frame.layer_count == 2
    assert frame.images[0][0, 0].tolist() == [10, 20, 30, 255]
    (q,) = frame.quads
    assert q.size == pytest.approx((0.6, 0.3)) and q.eye_visibility == "both" and q.flags == 0x2
    assert q.image.shape == (16, 32, 4) and q.image[0, 0].tolist() == [200, 100, 50, 255]
    # In a VIEW space the quad hangs 1 m in front of the scripted head, wherever it looks.
    head = app.rt.script.pose(app.rt.sample_at(fs.predicted_display_time), "head")
    from vrmed.geometry import quat_rotate

    expected = np.add(head.position, quat_rotate(head.orientation, (0.0, 0.0, -1.0)))
    assert np.allclose(q.world_pose.position, expected, atol=1e-6)


# -- extensions ----------------------------------------------------------------------------------
def test_convert_timespec_time_round_trips_on_clock_monotonic(app):
    app.start((*HEADLESS, "XR_KHR_convert_timespec_time"))
    to_time = app.xrConvertTimespecTimeToTimeKHR
    to_timespec = app.xrConvertTimeToTimespecTimeKHR
    import time

    now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    ts = xr.timespec(now // 10**9, now % 10**9)
    t = c_int64()
    assert to_time(app.instance, byref(ts), byref(t)) == 0
    assert t.value > sim.EPOCH_NS  # after the runtime's clock started
    later = c_int64(t.value + 1_500_000_123)
    back = xr.timespec()
    assert to_timespec(app.instance, later.value, byref(back)) == 0
    assert back.tv_sec * 10**9 + back.tv_nsec == now + 1_500_000_123  # exact, both ways
    assert to_timespec(app.instance, 0, byref(back)) == R.ERROR_TIME_INVALID
    ancient = xr.timespec(0, 1)
    assert to_time(app.instance, byref(ancient), byref(t)) == R.ERROR_TIME_INVALID


def test_display_refresh_rate_changes_the_frame_period_exactly(app):
    app.running((*HEADLESS, "XR_FB_display_refresh_rate"))
    rate = c_float()
    assert app.xrGetDisplayRefreshRateFB(app.session, byref(rate)) == 0 and rate.value == 90.0
    count = c_uint32()
    assert app.xrEnumerateDisplayRefreshRatesFB(app.session, 0, byref(count), None) == 0
    rates = (c_float * count.value)()
    assert app.xrEnumerateDisplayRefreshRatesFB(app.session, count.value, byref(count), rates) == 0
    assert list(rates) == [60.0, 72.0, 90.0, 120.0]
    first = app.wait()
    assert first.predicted_display_period == 11_111_111
    assert app.xrRequestDisplayRefreshRateFB(app.session, 75.0) == R.ERROR_DISPLAY_REFRESH_RATE_UNSUPPORTED_FB
    assert app.xrRequestDisplayRefreshRateFB(app.session, 72.0) == 0
    events = app.poll()
    assert (ST.EVENT_DATA_DISPLAY_REFRESH_RATE_CHANGED_FB.value, 0) in events
    times = [app.wait().predicted_display_time for _ in range(72)]
    assert times[0] == first.predicted_display_time + 13_888_888  # 1/72 s after the last 90 Hz frame
    assert times[71] - first.predicted_display_time == 1_000_000_000  # 72 periods: 1 s, no drift
    assert app.xrGetDisplayRefreshRateFB(app.session, byref(rate)) == 0 and rate.value == 72.0
    assert app.xrRequestDisplayRefreshRateFB(app.session, 0.0) == 0  # the runtime's default
    assert app.xrGetDisplayRefreshRateFB(app.session, byref(rate)) == 0 and rate.value == 90.0


def _tracker(app: App, hand: Any) -> int:
    out = c_uint64()
    info = xr.HandTrackerCreateInfoEXT(hand=hand, hand_joint_set=xr.HandJointSetEXT.DEFAULT)
    assert app.xrCreateHandTrackerEXT(app.session, byref(info), byref(out)) == 0
    return out.value


def _joints(app: App, tracker: int, space: int, time: int) -> tuple[bool, np.ndarray, np.ndarray]:
    joints = (xr.HandJointLocationEXT * 26)()
    locs = xr.HandJointLocationsEXT(joint_count=26, joint_locations=joints)
    info = xr.HandJointsLocateInfoEXT(base_space=ctypes.cast(c_void_p(space), xr.Space), time=time)
    assert app.xrLocateHandJointsEXT(tracker, byref(info), byref(locs)) == 0
    pos = np.array([[j.pose.position.x, j.pose.position.y, j.pose.position.z] for j in joints])
    radii = np.array([j.radius for j in joints])
    return bool(locs.is_active), pos, radii


def test_hand_tracking_follows_the_scripted_hands(app):
    app.running((*HEADLESS, "XR_EXT_hand_tracking"))
    props = xr.SystemProperties()
    hand_props = xr.SystemHandTrackingPropertiesEXT()
    props.next = ctypes.cast(byref(hand_props), c_void_p)
    assert app.xrGetSystemProperties(app.instance, app.system, byref(props)) == 0
    assert hand_props.supports_hand_tracking == 1
    stage = app.space()
    right = _tracker(app, xr.HandEXT.RIGHT)
    left = _tracker(app, xr.HandEXT.LEFT)
    t_open = sim.EPOCH_NS + 500_000_000  # default script: right trigger released, left squeeze held
    t_closed = sim.EPOCH_NS + 1_500_000_000  # right trigger pulled, left squeeze released
    active, open_r, radii = _joints(app, right, stage, t_open)
    assert active and np.all(radii > 0.005) and np.all(radii < 0.03)
    sample = app.rt.sample_at(t_open)
    palm = app.rt.script.pose(sample, "right_hand")
    assert np.allclose(open_r[0], palm.position, atol=1e-6)  # XR_HAND_JOINT_PALM_EXT is the hand pose
    # Bone lengths of the open index finger (metacarpal..tip) are the skeleton's.
    bones = np.linalg.norm(np.diff(open_r[6:11], axis=0), axis=1)
    assert np.allclose(bones, (0.068, 0.040, 0.023, 0.018), atol=1e-6)
    _, closed_r, _ = _joints(app, right, stage, t_closed)
    closed_palm = app.rt.script.pose(app.rt.sample_at(t_closed), "right_hand").position
    tip = 10  # XR_HAND_JOINT_INDEX_TIP_EXT
    # Pulling the trigger curls the index finger: its tip comes closer to the palm.
    assert np.linalg.norm(closed_r[tip] - closed_palm) < 0.7 * np.linalg.norm(open_r[tip] - palm.position)
    _, open_l, _ = _joints(app, left, stage, t_closed)
    _, fist_l, _ = _joints(app, left, stage, t_open)
    lpalm_open = app.rt.script.pose(app.rt.sample_at(t_closed), "left_hand").position
    lpalm_fist = app.rt.script.pose(app.rt.sample_at(t_open), "left_hand").position
    middle_tip = 15
    assert np.linalg.norm(fist_l[middle_tip] - lpalm_fist) < 0.7 * np.linalg.norm(open_l[middle_tip] - lpalm_open)
    # The thumb is on the inner side of each hand: left of the right palm, right of the left one.
    assert open_r[5][0] < open_r[0][0] and open_l[5][0] > open_l[0][0]
    bad = xr.HandJointLocationsEXT(joint_count=25, joint_locations=(xr.HandJointLocationEXT * 25)())
    info = xr.HandJointsLocateInfoEXT(base_space=ctypes.cast(c_void_p(stage), xr.Space), time=t_open)
    assert app.xrLocateHandJointsEXT(right, byref(info), byref(bad)) == R.ERROR_VALIDATION_FAILURE
    info.time = 0
    locs = xr.HandJointLocationsEXT(joint_count=26, joint_locations=(xr.HandJointLocationEXT * 26)())
    assert app.xrLocateHandJointsEXT(right, byref(info), byref(locs)) == R.ERROR_TIME_INVALID
    assert app.xrDestroyHandTrackerEXT(right) == 0
    assert app.xrDestroyHandTrackerEXT(right) == R.ERROR_HANDLE_INVALID


def test_body_tracking_follows_the_scripted_body(app):
    """XR_FB_body_tracking: 70 joints of a body standing under the default script's head,
    Winter's segment lengths of 1.70 m, the hands of XR_EXT_hand_tracking's skeleton; the
    extension's validation failures; the T-pose skeleton with its hierarchy."""
    app.running((*HEADLESS, "XR_FB_body_tracking"))
    props = xr.SystemProperties()
    body_props = xr.SystemBodyTrackingPropertiesFB()
    props.next = ctypes.cast(byref(body_props), c_void_p)
    assert app.xrGetSystemProperties(app.instance, app.system, byref(props)) == 0
    assert body_props.supports_body_tracking == 1
    tracker, stage = c_uint64(), app.space()
    full = xr.BodyTrackerCreateInfoFB(body_joint_set=xr.BodyJointSetFB.FULL_BODY_M)  # not offered
    assert app.xrCreateBodyTrackerFB(app.session, byref(full), byref(tracker)) == R.ERROR_VALIDATION_FAILURE
    info = xr.BodyTrackerCreateInfoFB(body_joint_set=xr.BodyJointSetFB.DEFAULT)
    assert app.xrCreateBodyTrackerFB(app.session, byref(info), byref(tracker)) == 0
    joints = (xr.BodyJointLocationFB * 70)()
    locs = xr.BodyJointLocationsFB(joint_count=70, joint_locations=joints)
    t = sim.EPOCH_NS + 500_000_000
    where = xr.BodyJointsLocateInfoFB(base_space=ctypes.cast(c_void_p(stage), xr.Space), time=t)
    assert app.xrLocateBodyJointsFB(tracker.value, byref(where), byref(locs)) == 0
    assert locs.is_active and locs.confidence == 1.0 and all(j.location_flags == 0xF for j in joints)
    pos = np.array([[j.pose.position.x, j.pose.position.y, j.pose.position.z] for j in joints])
    head = app.rt.script.pose(app.rt.sample_at(t), "head").position
    assert np.allclose(pos[0], (head[0], 0.0, head[2]), atol=1e-6)  # the root under the head
    assert pos[1][1] == pytest.approx(0.530 * 1.70, abs=1e-6)  # hips
    j = {m.name: m.value for m in xr.BodyJointFB}
    upper, lower, wrist = pos[j["RIGHT_ARM_UPPER"]], pos[j["RIGHT_ARM_LOWER"]], pos[j["RIGHT_HAND_WRIST"]]
    assert np.linalg.norm(lower - upper) == pytest.approx(0.186 * 1.70, abs=1e-6)
    assert np.linalg.norm(wrist - lower) == pytest.approx(0.146 * 1.70, abs=1e-6)
    index = pos[j["RIGHT_HAND_INDEX_METACARPAL"] : j["RIGHT_HAND_INDEX_TIP"] + 1]
    assert np.allclose(np.linalg.norm(np.diff(index, axis=0), axis=1), (0.068, 0.040, 0.023, 0.018), atol=1e-6)
    bad = xr.BodyJointLocationsFB(joint_count=26, joint_locations=(xr.BodyJointLocationFB * 26)())
    assert app.xrLocateBodyJointsFB(tracker.value, byref(where), byref(bad)) == R.ERROR_VALIDATION_FAILURE
    where.time = 0
    assert app.xrLocateBodyJointsFB(tracker.value, byref(where), byref(locs)) == R.ERROR_TIME_INVALID
    skeleton = (xr.BodySkeletonJointFB * 70)()
    sk = xr.BodySkeletonFB(joint_count=70, joints=skeleton)
    assert app.xrGetBodySkeletonFB(tracker.value, byref(sk)) == 0
    assert skeleton[0].parent_joint == -1 and skeleton[j["RIGHT_ARM_LOWER"]].parent_joint == j["RIGHT_ARM_UPPER"]
    t_pose = skeleton[j["RIGHT_HAND_WRIST"]].pose.position
    assert t_pose.y == pytest.approx(skeleton[j["RIGHT_ARM_UPPER"]].pose.position.y, abs=1e-6)  # arms out
    assert app.xrDestroyBodyTrackerFB(tracker.value) == 0
    assert app.xrDestroyBodyTrackerFB(tracker.value) == R.ERROR_HANDLE_INVALID


def test_eye_gaze_interaction_follows_the_scripted_head(app):
    app.running((*HEADLESS, "XR_EXT_eye_gaze_interaction"))
    props = xr.SystemProperties()
    gaze_props = xr.SystemEyeGazeInteractionPropertiesEXT()
    props.next = ctypes.cast(byref(gaze_props), c_void_p)
    assert app.xrGetSystemProperties(app.instance, app.system, byref(props)) == 0
    assert gaze_props.supports_eye_gaze_interaction == 1
    _, main = app.action_set()
    _, gaze = app.action(main, "gaze", xr.ActionType.POSE_INPUT)
    profile = "/interaction_profiles/ext/eye_gaze_interaction"
    assert app.suggest(profile, [(gaze, "/user/eyes_ext/input/gaze_ext/pose")]) == 0
    assert app.attach(main) == 0
    eyes = app.path("/user/eyes_ext")
    state = xr.InteractionProfileState()
    assert app.xrGetCurrentInteractionProfile(app.session, eyes, byref(state)) == 0
    assert state.interaction_profile == app.path(profile)
    info = xr.ActionSpaceCreateInfo(action=ctypes.cast(c_void_p(gaze), xr.Action))
    out = c_uint64()
    assert app.xrCreateActionSpace(app.session, byref(info), byref(out)) == 0
    stage = app.space()
    fs = app.wait()
    assert app.sync(main) == 0
    loc = xr.SpaceLocation()
    assert app.xrLocateSpace(out.value, stage, fs.predicted_display_time, byref(loc)) == 0
    assert loc.location_flags & 0x3 == 0x3
    head = app.rt.script.pose(app.rt.sample_at(fs.predicted_display_time), "head")
    o = loc.pose.orientation
    assert np.allclose([loc.pose.position.x, loc.pose.position.y, loc.pose.position.z], head.position, atol=1e-6)
    assert np.allclose(np.abs([o.w, o.x, o.y, o.z]), np.abs(head.orientation), atol=1e-6)
