"""XR devices as a vrmed :class:`~vrmed.input.InputSource`, and the ``--input openxr``
factory with its fallback."""

from __future__ import annotations

import atexit
import math
import sys
from collections.abc import Callable
from typing import Any

from ..geometry import quat_conjugate, quat_multiply, quat_normalize
from ..input import LEARNER
from ..render import context as render_context
from .comfort import ComfortRig
from .interface import CONTROLLER_DEVICE, RIGHT_HAND, XrBackend, XrError, XrFrame, XrSessionEnded, XrUnavailable
from .openxr_backend import OpenXrBackend, active_runtime_manifest
from .script import MotionScript

#: ``draw(frame, backend)``: render the eyes of a frame (called only when it should render).
DrawCallback = Callable[[XrFrame, Any], None]

#: Squeeze (grip) value that takes hold of an instrument, and the value it must fall below to
#: let go (hysteresis, like the pointer's trigger: analog grips jitter around one threshold).
GRAB_ON = 0.7
GRAB_OFF = 0.3


class InstrumentClutch:
    """Grip to grab, trigger to actuate: the hands of a headset drive laparoscopic
    instruments through a clutch.

    For each hand in ``hands`` the sample's hand device (what an ``Instrument`` with
    ``device: left_hand``/``right_hand`` follows) becomes the *instrument handle*: it stays
    where it is until the grip is squeezed (>= :data:`GRAB_ON`); while held it follows the
    hand's motion from where it was taken (translation 1:1, rotation applied about the
    handle), and the trigger closes the jaws; released (<= :data:`GRAB_OFF`), the handle
    and the jaws stay as they were (a grasper keeps what it holds, like a ratcheted
    handle), and the hand can move freely to take hold again. The raw controller is
    recorded as :data:`CONTROLLER_DEVICE` (the pointer's ray uses it).

    ``home``: the handle's pose before the first grab, per hand (the scenario's scripted
    start pose); a hand without one starts where the controller first is. Applied inside
    :class:`XrInputSource` before the sample is recorded, so a replay needs no clutch.
    """

    def __init__(self, hands: tuple[str, ...], home: dict[str, tuple[Any, Any]] | None = None) -> None:
        self.hands = tuple(h for h in hands if h in CONTROLLER_DEVICE)
        self._out: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
            h: (tuple(map(float, p)), quat_normalize(q)) for h, (p, q) in (home or {}).items() if h in self.hands
        }
        self._grab: dict[str, tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...], tuple[float, ...]]] = {}
        self._jaw: dict[str, float] = {}

    def held(self, hand: str) -> bool:
        """True while ``hand`` holds its instrument."""
        return hand in self._grab

    def apply(self, sample: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """The sample with each clutched hand's device replaced by its instrument handle."""
        for hand in self.hands:
            raw = sample.get(hand)
            if raw is None or "position" not in raw:
                continue  # untracked this frame: the handle holds its pose
            p, q = tuple(raw["position"]), tuple(raw["orientation"])
            buttons = dict(raw.get("buttons", {}))
            squeeze = float(buttons.get("squeeze", 0.0))
            out = self._out.setdefault(hand, (p, q))
            grab = self._grab.get(hand)
            if grab is None and squeeze >= GRAB_ON:
                grab = self._grab[hand] = (out[0], out[1], p, q)  # handle and hand when taken
            elif grab is not None and squeeze <= GRAB_OFF:
                del self._grab[hand]
                grab = None
            if grab is not None:
                p0, q0, hp0, hq0 = grab
                delta = quat_multiply(q, quat_conjugate(hq0))  # the hand's turn since the grab (world)
                out = self._out[hand] = (
                    (p0[0] + p[0] - hp0[0], p0[1] + p[1] - hp0[1], p0[2] + p[2] - hp0[2]),
                    quat_normalize(quat_multiply(delta, q0)),
                )
                self._jaw[hand] = float(buttons.get("trigger", 0.0))
            sample[CONTROLLER_DEVICE[hand]] = raw
            sample[hand] = {
                "position": [float(v) for v in out[0]],
                "orientation": [float(v) for v in out[1]],
                "buttons": {**buttons, "trigger": self._jaw.get(hand, 0.0)},
            }
        return sample


def instrument_hands(scenario: Any) -> tuple[str, ...]:
    """The hands that drive an ``Instrument`` in ``scenario`` (its ``device`` field; the
    component's default is ``right_hand``), read from the validated entity declarations."""
    hands: list[str] = []
    for spec in getattr(scenario, "entities", ()) or ():
        decl = getattr(spec, "components", {}).get("Instrument")
        if decl is not None:
            device = decl.get("device", RIGHT_HAND)
            if device in CONTROLLER_DEVICE and device not in hands:
                hands.append(device)
    return tuple(hands)


class XrInputSource:
    """Samples an XR backend once per engine frame: poll events, begin the XR frame, turn its
    head and controller poses and buttons into an input sample.

    With ``defer_end=False`` (input only) the XR frame is ended right away, after ``draw``
    if given. With ``defer_end=True`` the frame stays open for a render-stage system to
    draw into and end (:class:`vrmed.xr.plugin.XrPlugin`); a frame left open is ended at the
    next sample so the runtime never stalls.
    """

    def __init__(
        self, backend: XrBackend, *, draw: DrawCallback | None = None, defer_end: bool = False, kind: str = "openxr"
    ) -> None:
        self.backend = backend
        self.kind = kind
        self.draw = draw
        self.defer_end = defer_end
        #: The frame begun by the latest sample while it is still open (defer_end mode).
        self.open_frame: XrFrame | None = None
        #: The latest frame sampled (None before the session runs).
        self.last_frame: XrFrame | None = None
        self.frames = 0
        #: The moderngl context the backend's swapchains live in (None: headless session);
        #: released after the backend by :meth:`close` when ``owns_context`` is True.
        self.gl_context: Any = None
        self.owns_context = False
        #: The comfort rig (:class:`vrmed.xr.comfort.ComfortRig`): when set, every frame is
        #: snap-turned/moved by it into the world and it rates the artificial motion.
        self.comfort: Any = None
        #: Grip-to-grab for laparoscopic instruments (:class:`InstrumentClutch`), or None.
        self.clutch: InstrumentClutch | None = None
        #: Learner commands (``session.pause``, ...) put into the next sample that has a
        #: frame, under :data:`vrmed.input.LEARNER`: recorded, so a replay repeats them.
        self.pending_commands: list[str] = []
        #: While True, :meth:`close` only ends the open frame and keeps the XR session, so
        #: the next session of a headset play loop (:mod:`vrmed.xr.play`) reuses it.
        self.keep_open = False

    @property
    def exit_requested(self) -> bool:
        """True once the runtime asked the app to quit."""
        return self.backend.exit_requested

    def sample(self, time: float, frame: int) -> dict[str, dict[str, Any]]:
        """One XR frame's head/hand poses and buttons (empty while the session is not running)."""
        self.end_open_frame()
        self.backend.poll_events()
        if self.backend.exit_requested:
            # Nothing of this frame has run yet: the caller closes the log with every frame
            # so far, and a replay of it runs exactly those frames.
            raise XrSessionEnded(
                f"the headset session ended (OpenXR session state: {self.backend.state}) at "
                f"{time:.2f} s of simulated time"
            )
        xr_frame = self.backend.begin_frame()
        if xr_frame is None:
            return {}
        if self.comfort is not None:
            self.comfort.update(xr_frame)
            xr_frame = self.comfort.apply(xr_frame)
        self.last_frame = xr_frame
        self.frames += 1
        if self.defer_end:
            self.open_frame = xr_frame
        else:
            try:
                if self.draw is not None and xr_frame.should_render:
                    self.draw(xr_frame, self.backend)
            finally:
                self.backend.end_frame()
        sample = xr_frame.sample()
        if self.clutch is not None:
            sample = self.clutch.apply(sample)
        if self.pending_commands:
            sample[LEARNER] = {"commands": list(self.pending_commands)}
            self.pending_commands.clear()
        return sample

    def end_open_frame(self) -> None:
        """End the frame left open in ``defer_end`` mode (nothing submitted: nothing shown)."""
        if self.open_frame is not None:
            self.open_frame = None
            self.backend.end_frame()

    def close(self) -> None:
        """End any open frame and close the backend (idempotent; ``App.close`` calls it
        through the InputPlugin)."""
        if getattr(self, "_closed", False):
            return
        if self.keep_open:  # a session of a headset play loop ends; the XR session goes on
            self.end_open_frame()
            return
        self._closed = True
        if self in _OPENED:
            _OPENED.remove(self)
        try:
            self.end_open_frame()
        finally:
            try:
                self.backend.close()
            finally:
                if self.owns_context and self.gl_context is not None:
                    self.gl_context.release()
                    self.gl_context = None


def open_openxr_input(
    scenario: Any = None, *, ctx: Any | None = None, api_layers: tuple[str, ...] = (), comfort: Any = None
) -> XrInputSource:
    """An :class:`XrInputSource` on OpenXR; raises :class:`XrUnavailable` if there is no runtime.

    When ``XR_RUNTIME_JSON`` names the simulated runtime (:mod:`vrmed.xr.sim`), it is started
    in this process first, its controllers following the scenario's scripted input (if any)
    and its head the default motion. A scenario whose ``settings`` has ``hand_tracking: true``
    gets each tracked hand's 26 joints (XR_EXT_hand_tracking) as ``<hand>.<joint>`` devices;
    one with ``body_tracking: true`` the body's 70 joints (XR_FB_body_tracking) as
    ``body.<joint>`` devices (:data:`vrmed.xr.interface.BODY_JOINT_NAMES`).
    """
    try:
        from . import sim  # imports pyopenxr, which loads the Khronos loader
    except (ImportError, OSError) as exc:
        raise XrUnavailable(f"pyopenxr cannot load the OpenXR loader ({exc})") from None
    manifest = sim.configured()
    if manifest is not None:
        scripted = getattr(scenario, "scripted_input", None)
        try:
            sim.install(MotionScript(overrides=scripted), manifest=manifest)
        except XrError as exc:
            raise XrUnavailable(f"the simulated OpenXR runtime cannot start: {exc}") from None
    # a scenario that measures fingers (settings: {hand_tracking: true}) gets the hand joints
    settings = getattr(scenario, "settings", None) or {}
    hands_wanted = bool(settings.get("hand_tracking", False))
    # one that measures the arm and wrist (settings: {body_tracking: true}) gets the body joints
    body_wanted = bool(settings.get("body_tracking", False))
    if comfort is None:
        backend = OpenXrBackend(ctx, api_layers=api_layers, hand_tracking=hands_wanted, body_tracking=body_wanted)
    else:  # comfort: a vrmed.xr.comfort.ComfortSettings (reference space, refresh rate, rig)
        backend = OpenXrBackend(
            ctx,
            api_layers=api_layers,
            reference=comfort.reference,
            refresh_hz=comfort.refresh_hz,
            hand_tracking=hands_wanted,
            body_tracking=body_wanted,
        )
    source = XrInputSource(backend)
    if comfort is not None:
        source.comfort = ComfortRig(comfort)
        if manifest is None:  # a real runtime: stand the learner where the scenario's view is
            place_at_viewpoint(source.comfort, scenario)
    hands = instrument_hands(scenario)
    if hands:  # laparoscopy: the controllers take hold of the instruments (grip) and close them (trigger)
        source.clutch = InstrumentClutch(hands, _start_poses(scenario, hands))
    source.gl_context = ctx
    if not _OPENED:
        # Destroy OpenXR instances while Python (and the runtime's callbacks) still exist.
        atexit.register(close_openxr_inputs)
    _OPENED.append(source)
    return source


def scenario_viewpoint(scenario: Any) -> tuple[tuple[float, float, float], float] | None:
    """The eye position (m) and heading (radians about +Y, 0 looking down -Z, positive to
    the left) of the scenario's first ``Camera`` entity (the desktop view the author chose,
    e.g. the rescuer at the bedside), or None when it has none."""
    for spec in getattr(scenario, "entities", ()) or ():
        decl = getattr(spec, "components", {}).get("Camera")
        if decl is None:
            continue
        pos = [float(v) for v in decl.get("position", (0.0, 0.4, 1.0))]
        target = [float(v) for v in decl.get("target", (0.0, 0.15, 0.0))]
        fx, fz = target[0] - pos[0], target[2] - pos[2]
        yaw = math.atan2(-fx, -fz) if fx * fx + fz * fz > 1e-12 else 0.0
        return (pos[0], pos[1], pos[2]), yaw
    return None


def place_at_viewpoint(rig: ComfortRig, scenario: Any) -> bool:
    """Put the learner at the scenario's viewpoint (:func:`scenario_viewpoint`): the rig
    maps the tracking origin under that eye position (standing: on the floor; seated: at
    the eyes, where LOCAL space has its origin) and the tracking space's forward onto its
    heading. Returns False (rig unchanged) when the scenario has no camera."""
    view = scenario_viewpoint(scenario)
    if view is None:
        return False
    (x, y, z), yaw = view
    rig.yaw = yaw
    rig.position = (x, 0.0 if rig.settings.reference == "standing" else y, z)
    return True


def _start_poses(scenario: Any, hands: tuple[str, ...]) -> dict[str, tuple[Any, Any]]:
    """Each hand's pose at t = 0 in the scenario's scripted input (where its instrument starts)."""
    scripted = getattr(scenario, "scripted_input", None)
    if scripted is None:
        return {}
    start = scripted.sample(0.0, 0)
    return {
        h: (start[h]["position"], start[h].get("orientation", (1.0, 0.0, 0.0, 0.0)))
        for h in hands
        if "position" in start.get(h, {})
    }


#: Sources made by open_openxr_input and not yet closed by close_openxr_inputs. Process
#: state by necessity: ``make_input`` hands out a bare InputSource that nothing closes, and
#: the Khronos loader allows one XrInstance per process, so someone must close it.
_OPENED: list[XrInputSource] = []


def close_openxr_inputs() -> None:
    """Close every source :func:`open_openxr_input` made (also runs at interpreter exit).

    The Khronos loader supports one XrInstance per process at a time, so a program that
    runs several OpenXR sessions one after another (tests, a launcher) calls this between
    them, or closes each source itself.
    """
    while _OPENED:
        source = _OPENED.pop()
        try:
            source.close()
        except XrError:
            pass


def openxr_or_fallback(
    scenario: Any, fallback: Any, *, stream: Any = None, render: bool = False, comfort: Any = None
) -> Any:
    """``open_openxr_input(scenario)``, or ``fallback`` after printing one line saying why.

    With ``render`` the session gets swapchains in a new headless EGL moderngl context
    (``source.gl_context``, released when the source closes) so the scene can be drawn
    into the headset (:func:`vrmed.xr.render.add_headset_rendering`); where no GL context
    can be made, one line says so and the session runs without images.
    """
    ctx, no_gl = None, None
    if render:
        if active_runtime_manifest() is not None:  # no GL context at all when there is no runtime
            try:
                ctx = render_context.create_context("egl")
            except render_context.RenderUnavailable as exc:
                no_gl = str(exc)
    try:
        source = open_openxr_input(scenario, ctx=ctx, comfort=comfort)
    except XrUnavailable as exc:
        if ctx is not None:
            ctx.release()
        kind = getattr(fallback, "kind", "none")
        print(f"vrmed: --input openxr: {exc}; falling back to --input {kind}, headless", file=stream or sys.stderr)
        return fallback
    except BaseException:
        if ctx is not None:
            ctx.release()
        raise
    if ctx is not None:
        source.owns_context = True
    if no_gl is not None:
        print(f"vrmed: --input openxr: cannot render ({no_gl}); the headset gets no images", file=stream or sys.stderr)
    return source
