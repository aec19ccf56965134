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
person's role and a teammate lost or gone appear as notices. Holding F4 records a
push-to-talk clip from the microphone (:class:`PushToTalk`, :mod:`vrmed.team.voice`), sent
to the team when F4 is released.

The local camera's pose goes to the server as the ``head`` device (when it changes, and
once a second), so every other client draws this person; remote people are drawn as a
head sphere and hand spheres, interpolated 100 ms behind the newest update
(:class:`vrmed.team.client.Interpolator`). The network runs on an asyncio loop in a
background thread (GLFW must stay on the main thread); samples are sent in order by one
sender task.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from ..app import App
from ..desktop.bindings import load_bindings
from ..desktop.play import redraw
from ..desktop.source import DesktopInput
from ..errors import VrmedError
from ..input import LEARNER, ReplayInput
from ..render.learner_hud import DesktopOverlay
from ..render.passes import PassContext, RenderPipeline
from ..render.plugin import RenderPlugin, main_camera
from ..render.window import Window, open_window
from ..scenario.interaction import Interaction
from ..scenario.learner import LearnerPlugin, LearnerView
from ..session import Session, build_session
from ..settings import SimSettings
from .client import Interpolator, TeamClient
from .commands import pack_named
from .voice import MAX_CLIP_S, MIC_RATE, ClipPlayer, pcm_wav

#: Never draw while stepping (the mirror may step many frames at once); frames are drawn
#: by :func:`vrmed.desktop.play.redraw` at the redraw rate instead.
_NO_DRAW = 1 << 40
#: The head pose goes out at least this often (s), so a late joiner sees everyone.
HEAD_PERIOD_S = 1.0
#: Colours of remote people by role (linear RGBA); other roles are grey.
ROLE_COLOURS: dict[str, tuple[float, float, float, float]] = {
    "leader": (0.9, 0.25, 0.2, 1.0),
    "compressor": (0.2, 0.45, 0.9, 1.0),
    "airway": (0.2, 0.75, 0.35, 1.0),
    "medications": (0.85, 0.6, 0.15, 1.0),
    "recorder": (0.6, 0.35, 0.8, 1.0),
}
#: Orders to this person's role older than this (s of simulated time) when the mirror
#: reaches them (a late joiner catching up) are not shown as notices.
ORDER_MEMORY_S = 30.0
#: Sphere radii (m): a head, a hand.
HEAD_RADIUS, HAND_RADIUS = 0.11, 0.045


class RoleMenu(LearnerPlugin):
    """The local action menu of one team member: the scenario's menu logic
    (:class:`vrmed.scenario.learner.LearnerPlugin`, never added to an App) over only the
    actions the role may take; completed choices are collected in :attr:`requests` for the
    server instead of being queued in the App. Hotkeys of actions outside the role become
    requests too, for the server to refuse (see the module docstring)."""

    def __init__(self, interaction: Interaction, allowed: frozenset[str] | set[str]) -> None:
        own = tuple(a for a in interaction.actions if a.id in allowed)
        super().__init__(dataclasses.replace(interaction, actions=own, steps=(), cues=()), person=True)
        self.full = interaction
        #: action requests for the server ({id, fields, target?}), taken by :meth:`take`
        self.requests: list[dict[str, Any]] = []

    def command(self, app: App, command: str) -> None:
        """Apply one menu command of the local person (see ``LearnerPlugin.command``)."""
        name, _, arg = command.partition(":")
        if name == "menu.action" and self.interaction.action(arg) is None:
            if self.full.action(arg) is not None:  # the server decides: it refuses, recorded and shown
                self.requests.append({"id": arg, "fields": {}})
            return
        if name in ("session.pause", "session.resume"):
            return  # only the instructor pauses a shared session
        super().command(app, command)

    def _request(self, app: App, action_id: str, chosen: dict[str, Any], target: str | None = None) -> None:
        # overrides LearnerPlugin._request: a team member's choice goes to the server, never
        # into the mirror's input queue (the mirror only ever applies the server's samples)
        request: dict[str, Any] = {"id": action_id, "fields": chosen}
        if target is not None:
            request["target"] = target
        self.requests.append(request)

    def take(self) -> list[dict[str, Any]]:
        """The requests made since the last call."""
        out, self.requests = self.requests, []
        return out


class TeamAvatarPass:
    """Scene pass: every other team member's head and hands as spheres in the role's colour,
    at their interpolated poses (render only; it reads :attr:`avatars`)."""

    name = "team.avatars"
    phase = "scene"

    def __init__(self, own_client: str) -> None:
        self.own = own_client
        self.avatars = Interpolator()
        self.drawn = 0

    def people(self) -> list[tuple[str, str, str, np.ndarray]]:
        """(role, client, device, position) of every remote device, interpolated."""
        names = self.avatars.devices()
        out = []
        for name in sorted(names):
            role, client, device = name.split("/", 2)
            if client == self.own:
                continue
            pose = self.avatars.pose(name)
            if pose is not None:
                out.append((role, client, device, pose[0]))
        return out

    def draw(self, ctx: PassContext) -> None:
        """Draw the spheres in the main view."""
        if ctx.view != "main":
            return
        people = self.people()
        if not people:
            return
        centres = np.array([p for *_, p in people], float)
        radii = np.array([HEAD_RADIUS if d == "head" else HAND_RADIUS for _, _, d, _ in people])
        colours = np.array([ROLE_COLOURS.get(r, (0.6, 0.6, 0.6, 1.0)) for r, *_ in people], float)
        ctx.renderer.draw_spheres(centres, radii, colours)
        self.drawn += 1


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


class MicRecorder:
    """Push-to-talk capture from the default microphone: 16 kHz mono 16-bit PCM through
    ``sounddevice`` (PortAudio); a :class:`VrmedError` when it is not installed."""

    def __init__(self, rate: int = MIC_RATE) -> None:
        try:
            import sounddevice  # deferred: optional (pip install sounddevice; PortAudio), only to talk
        except (ImportError, OSError) as exc:
            raise VrmedError(f"push-to-talk needs sounddevice and PortAudio ({exc})") from None
        self._sd, self.rate = sounddevice, rate
        self._chunks: list[np.ndarray] = []
        self._stream: Any = None

    def start(self) -> None:
        """Start capturing."""
        self._chunks = []
        self._stream = self._sd.InputStream(
            samplerate=self.rate, channels=1, dtype="int16", callback=lambda data, *_: self._chunks.append(data.copy())
        )
        self._stream.start()

    def stop(self) -> bytes:
        """Stop capturing; the clip as WAV bytes."""
        self._stream.stop()
        self._stream.close()
        pcm = np.concatenate(self._chunks) if self._chunks else np.zeros((0, 1), np.int16)
        return pcm_wav(pcm.astype("<i2").tobytes(), self.rate)


class PushToTalk:
    """Hold :attr:`key` to talk: a clip is recorded while it is held (at most
    :data:`MAX_CLIP_S`) and sent to the team when it is released. ``recorder()`` makes the
    recorder (default :class:`MicRecorder`; tests pass one that plays a file)."""

    def __init__(self, key: str = "F4", recorder: Callable[[], Any] | None = None) -> None:
        self.key = key
        self._make = recorder or MicRecorder
        self._recorder: Any = None
        self._since: float | None = None
        self.unavailable: str | None = None
        #: SHA-256 of every clip sent
        self.sent: list[str] = []

    def poll(self, window: Any, net: _Network, notice: Callable[[str], None]) -> None:
        """Read the key (GLFW's current state) and start, stop or send a clip."""
        import glfw  # deferred: GLFW loads its native library; only a desktop window reads keys

        held = glfw.get_key(window.handle, getattr(glfw, f"KEY_{self.key.upper()}")) == glfw.PRESS
        now = time.perf_counter()
        if held and self._since is None and self.unavailable is None:
            try:
                if self._recorder is None:
                    self._recorder = self._make()
                self._recorder.start()
            except VrmedError as exc:
                self.unavailable = str(exc)
                notice(f"{exc}; call-outs from the menu still work")
                return
            self._since = now
            notice(f"talking ({self.key} held)...")
        elif self._since is not None and (not held or now - self._since >= MAX_CLIP_S):
            self._since = None
            wav = self._recorder.stop()
            try:
                self.sent.append(net.send_voice(wav))
            except VrmedError as exc:
                notice(f"the clip was not sent: {exc}")
                return
            notice("clip sent to the team")


class _Network:
    """A :class:`TeamClient` on an asyncio loop in a background thread; :meth:`send` queues
    a sample from the main thread (one sender task keeps them in order)."""

    def __init__(self, url: str, token: str, timeout: float) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="vrmed-team-net", daemon=True)
        self.thread.start()
        self.timeout = timeout

        async def make() -> tuple[TeamClient, asyncio.Queue[Any]]:
            return TeamClient(url, token, timeout=timeout, mirror=True), asyncio.Queue()

        self.client, self._queue = self.run(make())
        self._sender = asyncio.run_coroutine_threadsafe(self._send_loop(), self.loop)

    def run(self, coro: Any) -> Any:
        """Run a coroutine on the network loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(self.timeout + 5.0)

    def send_voice(self, wav: bytes) -> str:
        """Send a push-to-talk clip (waits until it is on its way); returns its SHA-256."""
        return str(self.run(self.client.send_voice(wav)))

    def send(self, actions: list[dict[str, Any]], devices: dict[str, Any]) -> None:
        """Queue one input sample for the server (from the main thread)."""
        self.loop.call_soon_threadsafe(self._queue.put_nowait, (actions, devices))

    async def _send_loop(self) -> None:
        while True:
            actions, devices = await self._queue.get()
            await self.client.send(actions or None, devices or None)

    def close(self) -> None:
        """Leave the session and stop the loop."""
        with contextlib.suppress(Exception):
            self._sender.cancel()
            self.run(self.client.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5.0)
        if not self.thread.is_alive():
            self.loop.close()


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
    net = _Network(url, token, timeout)
    client = net.client
    own_window = window is None
    session: Session | None = None
    mono: RenderPlugin | None = None
    result = DesktopJoinResult()
    try:
        try:
            welcome = net.run(client.connect())
        except (OSError, TimeoutError) as exc:
            raise VrmedError(f"cannot join {url}: {exc}") from None
        sim = welcome.get("sim")
        if not isinstance(sim, dict):
            raise VrmedError("the server did not send its simulation settings (an older vrmed serve?)")
        if pack is None:
            pack = pack_named(str(welcome.get("pack")))
        if str(pack.version) != str(sim.get("pack_version")):
            raise VrmedError(
                f"the server runs pack {pack.name} {sim.get('pack_version')}, this machine has {pack.version}: "
                "install the same version to join"
            )
        result.client, result.role = str(welcome["client"]), str(welcome["role"])
        echo(f"joined as {result.client} ({result.role}) in {welcome.get('scenario')}")
        if window is None:
            window, why = open_window(title=f"vrmed team - {welcome.get('scenario')} - {result.role}")
            if window is None:
                raise VrmedError(f"--input desktop needs a window, and none can be opened ({why})")
        session = build_session(
            pack,
            str(welcome.get("scenario")),
            seed=int(sim.get("seed", 0)),
            input_source=ReplayInput(client.inputs),  # the server's samples, as they arrive
            settings=SimSettings.from_header(sim),
            learner=str(sim.get("learner", "person")),
            mode=str(sim.get("mode", "formative")),
        )
        app = session.app
        interaction = session.scenario.interaction or Interaction()
        menu = RoleMenu(interaction, frozenset(welcome.get("actions") or ()))
        app.insert_resource(menu.menu)  # the HUD draws the local menu (the mirror's own stays unused)
        mono = RenderPlugin(window=window, every=_NO_DRAW, samples=samples)
        app.add_plugin(mono)
        desk = DesktopOverlay(keys_hint="F1 your role's actions   click an object   Esc leave")
        app.insert_resource(desk)
        avatars = TeamAvatarPass(result.client)
        app.resource(RenderPipeline).add(avatars)
        source = DesktopInput.for_scenario(session.scenario, load_bindings(None))
        source.attach(window, app, camera=partial(main_camera, app, mono.camera))
        talk = talk or PushToTalk()
        player = player or ClipPlayer()
        result.reason = _loop(
            net, session, menu, source, desk, avatars, mono, redraw_hz, on_frame, wait_at_end, result, talk, player
        )
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
    net: _Network,
    session: Session,
    menu: RoleMenu,
    source: DesktopInput,
    desk: DesktopOverlay,
    avatars: TeamAvatarPass,
    mono: RenderPlugin,
    redraw_hz: float,
    on_frame: Callable[[Session, Any], None] | None,
    wait_at_end: bool,
    result: DesktopJoinResult,
    talk: PushToTalk,
    player: ClipPlayer,
) -> str:
    client, app = net.client, session.app
    view = app.resource(LearnerView)
    log = session.recorder.log
    last_draw = last_head = -1e9
    head: list[Any] | None = None
    seen_events = seen_log = 0
    role = result.role
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
        player.offer(client.voice)  # teammates' relayed clips, played (or shown) as they arrive
        player.poll(now, lambda text: _notice(desk, result, text))
        # step the mirror to the server's frame with the server's samples
        frame = client.frame
        while app.clock.frame < frame:
            app.step(1)
        sync = client.sync
        if sync[0] == app.clock.frame and sync[1] != len(log.events) and result.in_step:
            result.in_step = False
            _notice(desk, result, f"out of step with the server (events {len(log.events)} vs {sync[1]})")
        # remote people and what the team says to this role
        state = client.state
        if state:
            avatars.avatars.add(float(state.get("t", 0.0)), state.get("devices") or {})
        # orders from the mirror's own log (it holds everything from frame 0, also what was
        # said before this person joined: the last ORDER_MEMORY_S of it is shown)
        for e in log.events[seen_log:]:
            data = e["data"]
            if e["type"].endswith(":CallOut") and data.get("kind") == "order" and data.get("to_role") == role:
                if float(app.clock.time) - float(e["t"]) <= ORDER_MEMORY_S:
                    _notice(desk, result, f"order for {role}: {data.get('task')} (acknowledge, then report done)")
        seen_log = len(log.events)
        events = client.events  # presence is the server's, not the simulation's
        for e in events[seen_events : len(events)]:
            data = e.get("data") or {}
            if e.get("type") == "Presence" and data.get("status") in ("lost", "gone"):
                _notice(desk, result, f"{data.get('role')} {data.get('client')} {data.get('status')}")
        seen_events = len(events)
        if client.ended and app.clock.frame >= client.frame:
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


def _notice(desk: DesktopOverlay, result: DesktopJoinResult, text: str) -> None:
    desk.notices.append(text)
    result.notices.append(text)


__all__ = [
    "DesktopJoinResult",
    "MicRecorder",
    "PushToTalk",
    "RoleMenu",
    "TeamAvatarPass",
    "join_desktop",
    "look_quaternion",
]
