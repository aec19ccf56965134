"""A person in a headset joins a shared session: ``vrmed join URL --token T --input openxr``.

The same deterministic-lockstep mirror as the desktop join (:mod:`vrmed.team.desktop`,
:mod:`vrmed.team.member`): the client builds the server's App from the ``welcome`` and
steps it with the input samples the server recorded, so the headset shows exactly the
server's patient, monitor and cues. The headset is an OpenXR session
(:class:`~vrmed.xr.input.XrInputSource`) that is *not* the mirror's input: the mirror only
ever applies the server's samples. Every loop iteration is one XR frame:

1. the mirror steps to the server's newest frame (:meth:`TeamMirror.follow`);
2. the XR frame is begun and the headset's head, controller and aim poses and buttons are
   read (:meth:`XrInputSource.sample`);
3. the controller pointer of the single-learner headset (:class:`~vrmed.xr.pointer.HeadsetPointer`)
   runs on those poses against the mirror's interactables and the role's menu: a trigger
   press on an object opens what it offers *to this role*, on a row of the world-space
   menu panel chooses it, the menu button opens the role's full menu (call-outs included,
   and the patient picker once a casualty was added). The commands drive
   :class:`~vrmed.team.member.RoleMenu`, whose completed choices are sent to the server,
   which applies them in the authoritative App or refuses them (``ActionRejected``, shown
   in the mirror's cues on the guidance panel like a single learner's refusals);
   commands queued on the source (``source.pending_commands``, e.g. ``menu.action:<id>``
   from a voice front end) go the same way;
4. the head and both hands go to the server as the ``head``/``left_hand``/``right_hand``
   devices, and, when the scenario's settings ask for hand tracking (``hand_tracking:
   true``) and the runtime offers XR_EXT_hand_tracking, each tracked hand's 26 joints as
   a ``<hand>.joints`` device (:func:`hand_devices`: the wrist's pose and the joints'
   offsets from it in whole millimetres); at most :data:`POSE_HZ` times a second, a
   device only when it changed, and every device at least every
   :data:`~vrmed.team.member.HEAD_PERIOD_S`; so other members draw this person (hands as
   skeletons) and the debrief shows where they stood, looked and what their hands did;
5. with a GL context (a real headset), the render stage is run again over the newest
   mirror state (:func:`vrmed.xr.play.redraw`): both eyes with remote members as spheres
   in their role's colours (:class:`~vrmed.team.member.TeamAvatarPass`, 100 ms
   interpolation; tracked hands as skeletons), the controller rays of *this* XR frame's
   poses (:class:`LiveRaysPass`: the single-learner rays are draw data of the last
   simulated frame, which would stand still while the instructor pauses), the guidance
   panel (cues, notices: orders to this role, a teammate lost, a casualty added), the
   patient monitor and the role's menu as quad layers
   (:class:`~vrmed.xr.panels.HeadsetPanels`); the frame is ended there. Headless (no GL
   context: tests, a runtime without graphics) the frame is ended at once.

The comfort and reference settings are those of ``vrmed run --input openxr`` (``vrmed join
--reference/--refresh-hz/--snap-turn/--vignette``, a :class:`~vrmed.xr.comfort.ComfortSettings`).
Squeezing a grip (:data:`PICKER_BUTTON`) steps the patient picker to the next patient
(``patient.next``) once the instructor added a casualty.

Holding a controller's primary button (A/X, :data:`TALK_BUTTON`) records a push-to-talk
clip, sent when it is released (:class:`~vrmed.team.member.PushToTalk`); teammates' relayed
clips are played as they arrive (:class:`~vrmed.team.voice.ClipPlayer`).

No active OpenXR runtime is one clear error before the client joins (a runtime that cannot
start, or no pyopenxr, one when the session opens), where ``vrmed run --input openxr``
falls back to scripted input: a team member without a headset would hold a role nobody
plays.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..app import App
from ..errors import VrmedError
from ..input import JOINT_UNIT_M, InputState
from ..render.passes import PassContext, render_pipeline
from ..scenario.learner import MAX_CUES, Cue, LearnerView, MenuState
from ..session import Session
from ..xr.comfort import ComfortSettings
from ..xr.input import open_openxr_input
from ..xr.interface import CONTROLLER_DEVICE, HAND_JOINT_NAMES, HANDS, XrSessionEnded, XrUnavailable
from ..xr.openxr_backend import active_runtime_manifest
from ..xr.panels import RAY_OFF, RAY_ON, RAY_RADIUS_M, RAY_SHOWN_M
from ..xr.play import keep_draws, redraw
from ..xr.pointer import PRESS_OFF, PRESS_ON, HeadsetPointer, PointerState
from .member import (
    HEAD_PERIOD_S,
    JOINTS_SUFFIX,
    PushToTalk,
    RoleMenu,
    TeamAvatarPass,
    TeamMirror,
    TeamNetwork,
    build_mirror,
    join_welcome,
    role_menu,
)
from .voice import ClipPlayer

#: Most pose updates a headset sends per second (s^-1). Remote avatars are drawn 100 ms
#: behind the newest update and interpolated between updates (vrmed.team.client.Interpolator),
#: so 30 updates a second gives three to interpolate between, at a third of the traffic of
#: sending every 90 Hz display frame (in Valve's Source engine client and server exchange
#: "usually 20 to 30 packets per second": Valve Developer Community, "Source Multiplayer
#: Networking").
POSE_HZ = 30.0
#: The devices of the headset that go to the server (OpenXR grip poses of the hands).
SENT_DEVICES = ("head", "left_hand", "right_hand")
#: Held to talk (push-to-talk): a controller's primary button (A on the right Touch
#: controller, X on the left), which neither the pointer (trigger, menu, B/Y) nor the
#: comfort rig (thumbstick) uses.
TALK_BUTTON = "primary"
#: Squeezed to step the patient picker to the next patient (``patient.next``): a grip, which
#: neither the pointer, the comfort rig nor push-to-talk uses (the instrument clutch that
#: does is for laparoscopy, never a team member's mirror).
PICKER_BUTTON = "squeeze"


@dataclass
class HeadsetJoinResult:
    """What a headset join did: why it stopped, the mirror session (closed), frames it
    stepped, XR frames it ran, actions sent, notices shown, whether the mirror stayed in
    step, and the client's pseudonym and role."""

    reason: str = ""
    session: Session | None = None
    frames: int = 0
    xr_frames: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    in_step: bool = True
    client: str = ""
    role: str = ""
    #: pose updates sent (head and hands)
    pose_updates: int = 0
    #: pose updates that carried hand joints, and the bytes of their ``<hand>.joints``
    #: devices as compact JSON on the wire (the rest of the message not counted)
    joint_updates: int = 0
    joint_bytes: int = 0
    #: the remote members' avatars as this client drew them (heads, hands, hand joints)
    avatars: TeamAvatarPass | None = None


class _PointerView:
    """The mirror App as the headset's own pointer sees it: the headset's live
    :class:`InputState` and the role menu's :class:`MenuState` instead of the mirror's
    (which hold the server's samples and the unused scenario menu); entities, names and
    the clock are the mirror's, so a ray picks what the headset shows."""

    def __init__(self, app: App, inputs: InputState, menu: MenuState) -> None:
        self._app = app
        self._own: dict[type, Any] = {InputState: inputs, MenuState: menu}
        self.systems: list[Callable[[Any], None]] = []

    def resource(self, kind: type) -> Any:
        return self._own[kind] if kind in self._own else self._app.resource(kind)

    def try_resource(self, kind: type) -> Any:
        return self._own[kind] if kind in self._own else self._app.try_resource(kind)

    def insert_resource(self, value: Any, kind: type | None = None) -> None:
        self._own[kind or type(value)] = value

    def add_system(self, func: Callable[[Any], None], **_: Any) -> None:
        self.systems.append(func)  # run by the join loop once per XR frame, not by a schedule

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)


def _require_runtime() -> None:
    """A :class:`VrmedError` when no OpenXR runtime is active (pyopenxr or its loader
    missing is said when the session opens, :func:`open_headset`)."""
    if active_runtime_manifest() is None:
        raise VrmedError(
            "--input openxr: no OpenXR runtime is active on this machine (start SteamVR, Monado or "
            "the headset's runtime, or set XR_RUNTIME_JSON); join with --input desktop instead"
        )


def open_headset(scenario: Any, echo: Callable[[str], None] = print, comfort: ComfortSettings | None = None) -> Any:
    """An :class:`~vrmed.xr.input.XrInputSource` on the machine's OpenXR runtime, with a
    headless EGL context for its swapchains where one can be made (the person then sees
    the scene), standing the person at the scenario's viewpoint with ``comfort`` (default:
    :class:`ComfortSettings`'s defaults, as ``vrmed run --input openxr``); a
    :class:`VrmedError` naming what is missing otherwise (without a GL context ``echo``
    says it gets no images)."""
    _require_runtime()
    from ..render import context as render_context  # deferred: GL only for a headset that renders

    ctx = None
    try:
        ctx = render_context.create_context("egl")
    except render_context.RenderUnavailable as exc:
        echo(f"--input openxr: cannot render ({exc}); the headset gets no images")
    try:
        source = open_openxr_input(scenario, ctx=ctx, comfort=comfort or ComfortSettings())
    except XrUnavailable as exc:
        if ctx is not None:
            ctx.release()
        raise VrmedError(f"--input openxr: {exc}") from None
    if ctx is not None:
        source.owns_context = True
    return source


def join_headset(
    url: str,
    token: str,
    *,
    source: Any = None,
    pack: Any = None,
    timeout: float = 10.0,
    on_frame: Callable[[Session, Any], bool | None] | None = None,
    wait_at_end: bool = True,
    echo: Callable[[str], None] = print,
    talk: PushToTalk | None = None,
    player: ClipPlayer | None = None,
    comfort: ComfortSettings | None = None,
) -> HeadsetJoinResult:
    """Join a shared session in a headset (see the module docstring); returns when the
    runtime ends the XR session (the person quits), when the person presses a menu button
    after the session ended (``wait_at_end``), or at once when it ends (without).

    ``source``: an open :class:`~vrmed.xr.input.XrInputSource` (tests: the simulated runtime
    with the validation layer; default: :func:`open_headset`, closed here); one with a
    ``gl_context`` renders and is closed with the mirror's App (its XrPlugin); ``pack``: the
    scenario's pack (default: the installed pack the server names); ``on_frame(session,
    source)`` is called after every XR frame (a test seam; returning True leaves); ``talk``:
    push-to-talk (default: hold a controller's primary button, A or X, the microphone);
    ``player``: how teammates' relayed clips are played (default: :class:`ClipPlayer`);
    ``comfort``: the reference space, refresh rate, snap turn and vignette of the headset
    this opens (``vrmed join --reference ...``; default: those of ``vrmed run``)."""
    own_source = source is None
    if own_source:
        _require_runtime()  # before joining: a role taken by nobody would stay empty
    net = TeamNetwork(url, token, timeout)
    session: Session | None = None
    result = HeadsetJoinResult()
    rendered = False
    try:
        welcome, pack = join_welcome(net, url, pack)
        result.client, result.role = str(welcome["client"]), str(welcome["role"])
        echo(f"joined as {result.client} ({result.role}) in {welcome.get('scenario')}")
        session = build_mirror(pack, welcome, net.client)
        app = session.app
        if source is None:
            source = open_headset(session.scenario, echo, comfort)
        menu = role_menu(session, welcome)
        app.insert_resource(menu.menu)  # the panels draw the local menu (the mirror's own stays unused)
        avatars = result.avatars = TeamAvatarPass(result.client)
        inputs = InputState()
        view = _PointerView(app, inputs, menu.menu)
        pointer = HeadsetPointer()
        pointer.build(view)  # its state is the panels' too: the rays and the menu panel drawn
        app.insert_resource(pointer.state)
        before_step = None
        if getattr(source, "gl_context", None) is not None:
            from ..xr.render import add_headset_rendering  # deferred: loads the GL renderer

            add_headset_rendering(app, source)  # the mirror's App now closes the source
            render_pipeline(app).add(avatars)
            render_pipeline(app).add(LiveRaysPass(pointer.state))
            _without_system(app, "xr.rays")  # the live pass draws them from this XR frame's poses
            before_step = keep_draws(app)  # the newest frame's draw data stays for each XR frame
            rendered = True
        else:
            source.defer_end = False  # headless: each XR frame ends as it is read
        mirror = TeamMirror(
            net, session, menu, avatars, result.role, lambda text: _notice(app, result, text), before_step
        )
        talk = talk or PushToTalk(TALK_BUTTON)
        player = player or ClipPlayer()
        try:
            result.reason = _loop(
                net, mirror, source, inputs, view, menu, rendered, on_frame, wait_at_end, result, talk, player
            )
        except XrSessionEnded:
            result.reason = "headset session ended"
        result.in_step = mirror.in_step
        result.frames = app.clock.frame
        echo(f"left the session: {result.reason} after {float(app.clock.frame_time):.1f} s simulated")
        return result
    finally:
        net.close()
        if session is not None:
            session.recorder.close()
            session.close()  # closes a rendering source with the App (XrPlugin)
            result.session = session
        if own_source and source is not None and not rendered:
            source.close()


def _loop(
    net: TeamNetwork,
    mirror: TeamMirror,
    source: Any,
    inputs: InputState,
    view: _PointerView,
    menu: RoleMenu,
    rendered: bool,
    on_frame: Callable[[Session, Any], bool | None] | None,
    wait_at_end: bool,
    result: HeadsetJoinResult,
    talk: PushToTalk,
    player: ClipPlayer,
) -> str:
    session = mirror.session
    app = session.app
    shown = app.resource(LearnerView)
    last_pose = last_full = -1e9
    last_sent: dict[str, Any] = {}
    ended_notice = False
    hand_tracking = bool(getattr(getattr(source, "backend", None), "hand_tracking", False))
    squeezed = False
    while True:
        mirror.follow()  # the newest server frame (rendering: its draw data kept for this XR frame)
        result.in_step = mirror.in_step
        sample = source.sample(float(app.clock.frame_time), int(app.clock.frame))
        result.xr_frames = source.frames
        leave = False
        if sample:
            inputs.apply(sample)
            for system in view.systems:
                system(view)  # the pointer: rays, the menu panel, trigger/menu-button commands
            commands, inputs.commands = inputs.commands, []
            inputs.actions.clear()
            squeeze = max(_button(sample, hand, PICKER_BUTTON) for hand in HANDS)
            if not squeezed and squeeze >= PRESS_ON:  # a rising edge with hysteresis, as the pointer's trigger
                squeezed = True
                if len(menu.patients) > 1:  # the picker, without opening the menu
                    menu.command(app, "patient.next")
                    _notice(app, result, f"actions on: {str(menu.patient).replace('_', ' ')}")
            elif squeezed and squeeze <= PRESS_OFF:
                squeezed = False
            for command in commands:
                if mirror.ended and command in ("menu.open", "menu.close"):
                    leave = wait_at_end  # the session is over: a menu button leaves
                    continue
                menu.command(app, command)
            shown.hover = menu.view.hover  # the tooltip (never read by the simulation)
            requests = menu.take()
            now = time.perf_counter()
            devices: dict[str, Any] = {}
            if now - last_pose >= 1.0 / POSE_HZ:
                poses = _poses(sample)
                if hand_tracking:
                    poses.update(hand_devices(sample))
                full = now - last_full >= HEAD_PERIOD_S  # everything now and then: late joiners
                devices = {k: v for k, v in poses.items() if full or last_sent.get(k) != v}
                if full:
                    last_full = now
            if devices:
                last_pose = now
                last_sent.update(devices)
                result.pose_updates += 1
                joints = {k: v for k, v in devices.items() if k.endswith(JOINTS_SUFFIX)}
                if joints:
                    result.joint_updates += 1
                    result.joint_bytes += len(json.dumps(joints, separators=(",", ":")))
            if requests or devices:
                net.send(requests, devices)
                result.sent.extend(requests)
            held = any(_button(sample, hand, talk.key) >= PRESS_ON for hand in HANDS)
            talk.update(held, net, lambda text: _notice(app, result, text))
        player.offer(net.client.voice)  # teammates' relayed clips, played (or shown) as they arrive
        player.poll(time.perf_counter(), lambda text: _notice(app, result, text))
        if rendered:
            redraw(app)  # eyes and panels of the newest state; xr.present ends the XR frame
        else:
            source.end_open_frame()
        if mirror.ended:
            if not wait_at_end:
                return "ended"
            if not ended_notice:
                ended_notice = True
                _notice(app, result, f"Session ended: {shown.end_reason or 'by the server'}; a menu button leaves")
            if leave:
                return "ended"
        if on_frame is not None and on_frame(session, source):
            return "left"
        if not sample:
            time.sleep(0.01)  # the runtime is not running the session (headset off): do not spin
        elif not rendered:
            time.sleep(0.002)  # a real runtime paces frames in xrWaitFrame; headless, do not spin


def _button(sample: dict[str, Any], hand: str, button: str) -> float:
    """A controller button's value in an XR sample (the raw controller where a clutch
    replaced the hand's device)."""
    dev = sample.get(CONTROLLER_DEVICE[hand]) or sample.get(hand) or {}
    return float(dev.get("buttons", {}).get(button, 0.0))


def _poses(sample: dict[str, Any]) -> dict[str, Any]:
    """The head and hand poses of an XR sample, as the wire's devices (no buttons)."""
    out: dict[str, Any] = {}
    for name in SENT_DEVICES:
        dev = sample.get(name)
        if dev is not None and "position" in dev and "orientation" in dev:
            out[name] = {
                "position": [round(float(v), 5) for v in dev["position"]],
                "orientation": [round(float(v), 6) for v in dev["orientation"]],
            }
    return out


def hand_devices(sample: dict[str, Any]) -> dict[str, Any]:
    """Each hand's XR_EXT_hand_tracking joints in an XR sample (``<hand>.<joint>`` devices)
    as one wire device ``<hand>.joints``: ``position``/``orientation`` the wrist's pose (10 um,
    1e-6 as the other poses), ``joints`` the 26 joints' x, y, z offsets from that position in
    whole millimetres (:data:`vrmed.input.JOINT_UNIT_M`; off by at most 0.5 mm a coordinate),
    in :data:`~vrmed.xr.interface.HAND_JOINT_NAMES` order. A hand the runtime does not track
    this frame is ``{"joints": []}`` (its remote skeleton disappears)."""
    out: dict[str, Any] = {}
    for hand in HANDS:
        wrist = sample.get(f"{hand}.wrist")
        if wrist is None or "position" not in wrist:
            out[hand + JOINTS_SUFFIX] = {"joints": []}
            continue
        origin = [round(float(v), 5) for v in wrist["position"]]
        joints = np.array([sample.get(f"{hand}.{j}", wrist)["position"] for j in HAND_JOINT_NAMES], float)
        offsets = np.rint((joints - np.asarray(origin)) / JOINT_UNIT_M).astype(np.int64)
        out[hand + JOINTS_SUFFIX] = {
            "position": origin,
            "orientation": [round(float(v), 6) for v in wrist["orientation"]],
            "joints": offsets.ravel().tolist(),
        }
    return out


class LiveRaysPass:
    """Scene pass of a headset member: each tracked controller's ray as the pointer left it
    in *this* XR frame (:class:`~vrmed.xr.pointer.PointerState`, updated every XR frame by
    the join loop), up to what it hits or :data:`~vrmed.xr.panels.RAY_SHOWN_M`, with a dot
    at the end; the look of the single learner's rays (:class:`~vrmed.xr.panels.HeadsetPanels`),
    whose draw data belongs to the last simulated frame and would stand still while the
    shared session is paused."""

    name = "team.rays"
    phase = "scene"

    def __init__(self, state: PointerState) -> None:
        self.state = state
        self._a = np.zeros((len(HANDS), 3))
        self._b = np.zeros((len(HANDS), 3))
        self._colours = np.zeros((len(HANDS), 4))
        #: the ray starts drawn last (a copy), and how many views drew rays
        self.origins: list[tuple[float, float, float]] = []
        self.drawn = 0

    def draw(self, ctx: PassContext) -> None:
        """Draw the rays in each eye."""
        if ctx.view not in ("left", "right", "main"):
            return
        n = 0
        for ray in self.state.rays.values():
            if ray.origin == (0.0, 0.0, 0.0):
                continue  # never tracked
            self._a[n] = ray.origin
            self._b[n] = ray.origin
            self._b[n] += min(ray.distance, RAY_SHOWN_M) * np.asarray(ray.direction)
            self._colours[n] = RAY_ON if ray.target is not None else RAY_OFF
            n += 1
        self.origins = [r.origin for r in self.state.rays.values() if r.origin != (0.0, 0.0, 0.0)]
        if n:
            ctx.renderer.draw_capsules(self._a[:n], self._b[:n], RAY_RADIUS_M, self._colours[:n], shadow=False)
            ctx.renderer.draw_spheres(self._b[:n], 3 * RAY_RADIUS_M, self._colours[:n], shadow=False)
            self.drawn += 1


def _without_system(app: App, name: str) -> None:
    """Leave out the render system ``name`` (its work is done by a pass instead)."""
    for spec in app.schedule.stages["render"].systems:
        if spec.name == name:
            spec.func = _no_system


def _no_system(app: Any) -> None:
    """Stands in for a render system left out (:func:`_without_system`)."""


def _notice(app: App, result: HeadsetJoinResult, text: str) -> None:
    """Show a notice as a cue on the guidance panel (display only: the mirror's logic never
    reads the shown cues, so its log stays the server's)."""
    view = app.resource(LearnerView)
    view.cues.append(Cue(float(app.clock.time), text, "info", "team"))
    del view.cues[:-MAX_CUES]
    result.notices.append(text)


__all__ = [
    "PICKER_BUTTON",
    "POSE_HZ",
    "TALK_BUTTON",
    "HeadsetJoinResult",
    "LiveRaysPass",
    "hand_devices",
    "join_headset",
    "open_headset",
]
