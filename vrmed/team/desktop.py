"""A person joins a shared session from the desktop: ``vrmed join URL --token T --input desktop``.

The ordinary desktop window (:mod:`vrmed.desktop`: the scene, the patient monitor, the
HUD with the menu, cues and clock) shows the *server's* simulation, by deterministic
lockstep: the client builds the same App as the server (pack, scenario, seed, rates and
mode from the ``welcome``) and steps it with the input samples the server recorded, frame
by frame, as ``vrmed replay`` does (the mirror joins with ``mirror: true`` and receives
every frame's recorded sample with the state; a late joiner gets the history first). The
mirror is therefore exactly the server's state, monitor traces and cues included, without
streaming the state of every system (Bettner and Terrano, "1500 Archers on a 28.8:
Network Programming in Age of Empires and Beyond", GDC 2001; the same scheme). Each state
message carries the server's event count at its frame; a mirror that reaches that frame
with another count says it is out of step (a different pack build) instead of showing a
wrong patient.

The person's own input never touches the mirror: keys, clicks and the menu go through
:class:`RoleMenu`, a local menu offering only the role's actions (F1, a click on an object
for what it offers, the scenario's hotkeys); a completed choice is *sent* to the server,
which applies it in the authoritative App (or refuses it, when it is outside the role), and
it comes back in the recorded samples like everybody else's. A hotkey for an action outside
the role is sent too: the server refuses it, records ``ActionRejected`` and the mirror
shows the refusal as a cue, as it does for a single learner. The closed-loop call-outs
(order, acknowledge, report done, summary) are the role's menu entries; an order to this
person's role, a teammate lost or gone and a casualty added appear as notices; once there
is a second patient, the menu's first row picks the patient actions go to (the original by
default; :class:`~vrmed.team.member.RoleMenu`), and F3 (:data:`PICKER_KEY`) steps to the
next patient without opening the menu (``patient.next``). Holding F4 records a
push-to-talk clip from the microphone (:class:`PushToTalk`, :mod:`vrmed.team.voice`), sent
to the team when F4 is released.

The local camera's pose goes to the server as the ``head`` device (when it changes, and
once a second), so every other client draws this person; remote people are drawn as a
head sphere and hand spheres, interpolated 100 ms behind the newest update
(:class:`vrmed.team.client.Interpolator`). The network runs on an asyncio loop in a
background thread (GLFW must stay on the main thread); samples are sent in order by one
sender task. What this shares with the headset join (:mod:`vrmed.team.headset`) is
:mod:`vrmed.team.member`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from ..desktop.bindings import load_bindings
from ..desktop.play import redraw
from ..desktop.source import DesktopInput
from ..errors import VrmedError
from ..input import LEARNER
from ..render.learner_hud import DesktopOverlay
from ..render.passes import RenderPipeline
from ..render.plugin import RenderPlugin, main_camera
from ..render.window import Window, open_window
from ..scenario.learner import LearnerView
from ..session import Session
from .member import (
    HAND_RADIUS,
    HEAD_PERIOD_S,
    HEAD_RADIUS,
    ROLE_COLOURS,
    MicRecorder,
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

#: Never draw while stepping (the mirror may step many frames at once); frames are drawn
#: by :func:`vrmed.desktop.play.redraw` at the redraw rate instead.
_NO_DRAW = 1 << 40
#: The keys line of the window's HUD (the selected patient is added once there are several).
KEYS_HINT = "F1 your role's actions   click an object   Esc leave"
#: Pressed to step the patient picker to the next patient (``patient.next``), once there are
#: several: F3 is bound to nothing in the default map (vrmed.desktop.bindings) nor to talk (F4).
PICKER_KEY = "F3"


def look_quaternion(position: Any, target: Any, up: Any = (0.0, 1.0, 0.0)) -> list[float]:
    """The unit quaternion (w, x, y, z) of a camera at ``position`` looking at ``target``
    (OpenGL convention: the camera looks down its -Z, +Y up), from its rotation matrix by
    Shepperd's method (Shepperd, J. Guidance and Control 1978;1(3):223)."""
    f = np.asarray(target, float) - np.asarray(position, float)
    f /= np.linalg.norm(f)
    s = np.cross(f, np.asarray(up, float))
    s /= np.linalg.norm(s)
    u = np.cross(s, f)
    m = np.column_stack([s, u, -f])
    tr = m[0, 0] + m[1, 1] + m[2, 2]
    if tr > 0:
        k = 2.0 * math.sqrt(tr + 1.0)
        q = [0.25 * k, (m[2, 1] - m[1, 2]) / k, (m[0, 2] - m[2, 0]) / k, (m[1, 0] - m[0, 1]) / k]
    else:
        i = int(np.argmax(np.diag(m)))
        j, n = (i + 1) % 3, (i + 2) % 3
        k = 2.0 * math.sqrt(1.0 + m[i, i] - m[j, j] - m[n, n])
        q = [0.0] * 4
        q[0] = (m[n, j] - m[j, n]) / k
        q[1 + i] = 0.25 * k
        q[1 + j] = (m[j, i] + m[i, j]) / k
        q[1 + n] = (m[n, i] + m[i, n]) / k
    norm = math.sqrt(sum(c * c for c in q))
    return [c / norm for c in q]


@dataclass
class DesktopJoinResult:
    """What a desktop join did: why it stopped, the mirror session (closed), frames it
    stepped, actions sent, notices shown, and whether the mirror stayed in step."""

    reason: str = ""
    session: Session | None = None
    frames: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    in_step: bool = True
    client: str = ""
    role: str = ""


def join_desktop(
    url: str,
    token: str,
    *,
    window: Window | None = None,
    pack: Any = None,
    timeout: float = 10.0,
    redraw_hz: float = 30.0,
    samples: int = 4,
    on_frame: Callable[[Session, Any], None] | None = None,
    wait_at_end: bool = True,
    talk: PushToTalk | None = None,
    echo: Callable[[str], None] = print,
    player: ClipPlayer | None = None,
) -> DesktopJoinResult:
    """Join a shared session with a desktop window (see the module docstring); returns when
    the person quits (Esc, closing the window) or, without ``wait_at_end``, when the session
    ends. ``window``: an open window (tests; default: open one); ``pack``: the scenario's
    pack (default: the installed pack the server names); ``on_frame(session, source)`` is
    called every loop (a test seam: it may send OS events); ``talk``: the push-to-talk key
    and recorder (default: hold F4, the microphone); ``player``: how teammates' relayed
    clips are played as they arrive (default: :class:`ClipPlayer` on the default audio
    output, or shown as text with their duration without ``sounddevice``)."""
    net = TeamNetwork(url, token, timeout)
    own_window = window is None
    session: Session | None = None
    mono: RenderPlugin | None = None
    result = DesktopJoinResult()
    try:
        welcome, pack = join_welcome(net, url, pack)
        result.client, result.role = str(welcome["client"]), str(welcome["role"])
        echo(f"joined as {result.client} ({result.role}) in {welcome.get('scenario')}")
        if window is None:
            window, why = open_window(title=f"vrmed team - {welcome.get('scenario')} - {result.role}")
            if window is None:
                raise VrmedError(f"--input desktop needs a window, and none can be opened ({why})")
        session = build_mirror(pack, welcome, net.client)
        app = session.app
        menu = role_menu(session, welcome)
        app.insert_resource(menu.menu)  # the HUD draws the local menu (the mirror's own stays unused)
        mono = RenderPlugin(window=window, every=_NO_DRAW, samples=samples)
        app.add_plugin(mono)
        desk = DesktopOverlay(keys_hint=KEYS_HINT)
        app.insert_resource(desk)
        avatars = TeamAvatarPass(result.client)
        app.resource(RenderPipeline).add(avatars)
        source = DesktopInput.for_scenario(session.scenario, load_bindings(None))
        source.attach(window, app, camera=partial(main_camera, app, mono.camera))
        talk = talk or PushToTalk()
        player = player or ClipPlayer()
        mirror = TeamMirror(net, session, menu, avatars, result.role, lambda text: _notice(desk, result, text))
        result.reason = _loop(net, mirror, source, desk, mono, redraw_hz, on_frame, wait_at_end, result, talk, player)
        result.in_step = mirror.in_step
        result.frames = app.clock.frame
        echo(f"left the session: {result.reason} after {float(app.clock.frame_time):.1f} s simulated")
        return result
    finally:
        net.close()
        if session is not None:
            if mono is not None and not own_window:
                mono.window = None  # the caller's window outlives the session
            session.recorder.close()
            session.close()
            result.session = session
        if own_window and window is not None:
            window.close()


def _loop(
    net: TeamNetwork,
    mirror: TeamMirror,
    source: DesktopInput,
    desk: DesktopOverlay,
    mono: RenderPlugin,
    redraw_hz: float,
    on_frame: Callable[[Session, Any], None] | None,
    wait_at_end: bool,
    result: DesktopJoinResult,
    talk: PushToTalk,
    player: ClipPlayer,
) -> str:
    client, session, menu = net.client, mirror.session, mirror.menu
    app = session.app
    view = app.resource(LearnerView)
    last_draw = last_head = -1e9
    head: list[Any] | None = None
    picker_down = False
    while True:
        window = mono.window
        if window is None:
            return "window closed"
        window.poll()
        if window.should_close:
            return "window closed"
        for req in source.take_requests():
            if req == "quit":
                return "quit"
            if req in ("pause", "restart", "choose"):
                _notice(desk, result, "in a shared session only the instructor pauses or restarts")
            elif req == "key:menu.select" and desk.end_lines:
                return "ended"
        # the person's input: menu commands -> the local role menu -> requests for the server
        sample = source.sample(float(app.clock.time), app.clock.frame)
        source.event_marks.clear()
        for command in (sample.get(LEARNER) or {}).get("commands", ()):
            menu.command(app, command)
        view.hover = menu.view.hover  # the tooltip (never read by the simulation)
        requests = menu.take()
        now = time.perf_counter()
        camera = main_camera(app, mono.camera)
        pose = [list(map(float, camera.position)), look_quaternion(camera.position, camera.target, camera.up)]
        devices: dict[str, Any] = {}
        if pose != head or now - last_head >= HEAD_PERIOD_S:
            devices["head"] = {"position": pose[0], "orientation": pose[1]}
            head, last_head = pose, now
        if requests or devices:
            net.send(requests, devices)
            result.sent.extend(requests)
        talk.poll(window, net, lambda text: _notice(desk, result, text))
        down = _key_down(window, PICKER_KEY)
        if down and not picker_down and len(menu.patients) > 1:  # pressed (not held): the next patient
            menu.command(app, "patient.next")
            _notice(desk, result, f"actions on: {str(menu.patient).replace('_', ' ')}")
        picker_down = down
        player.offer(client.voice)  # teammates' relayed clips, played (or shown) as they arrive
        player.poll(now, lambda text: _notice(desk, result, text))
        # step the mirror to the server's frame with the server's samples; what concerns
        # this person (orders, teammates lost, a casualty added) becomes notices
        mirror.follow()
        result.in_step = mirror.in_step
        if len(menu.patients) > 1:  # which patient actions go to, always in view
            desk.keys_hint = (
                f"{KEYS_HINT}   {PICKER_KEY} next patient   actions on: {str(menu.patient).replace('_', ' ')}"
            )
        else:
            desk.keys_hint = KEYS_HINT
        if mirror.ended:
            if not wait_at_end:
                return "ended"
            if not desk.end_lines:
                desk.end_lines = [f"Session ended: {view.end_reason or 'by the server'}", "Enter or Esc: leave"]
                source.paused = True
        if app.clock.frame > 0 and now - last_draw >= 1.0 / redraw_hz:
            mono.every = 1
            try:
                redraw(app)
            finally:
                mono.every = _NO_DRAW
            last_draw = now
        if on_frame is not None:
            on_frame(session, source)
        time.sleep(0.002)


def _key_down(window: Any, key: str) -> bool:
    """Whether ``key`` (a GLFW key name, e.g. ``F3``) is held in ``window`` now, or was
    pressed since the last call (GLFW's sticky keys: a press and release between two polls
    of a slow frame still counts once)."""
    import glfw  # deferred: GLFW loads its native library; as PushToTalk.poll, only with a window

    glfw.set_input_mode(window.handle, glfw.STICKY_KEYS, glfw.TRUE)
    return bool(glfw.get_key(window.handle, getattr(glfw, f"KEY_{key.upper()}")) == glfw.PRESS)


def _notice(desk: DesktopOverlay, result: DesktopJoinResult, text: str) -> None:
    desk.notices.append(text)
    result.notices.append(text)


__all__ = [
    "HAND_RADIUS",
    "HEAD_RADIUS",
    "PICKER_KEY",
    "ROLE_COLOURS",
    "DesktopJoinResult",
    "MicRecorder",
    "PushToTalk",
    "RoleMenu",
    "TeamAvatarPass",
    "join_desktop",
    "look_quaternion",
]
