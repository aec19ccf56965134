"""What every person's front end of a shared session shares (desktop window, headset).

A person joins with ``vrmed join URL --token T --input desktop|openxr``. Both front ends
show the *server's* simulation by deterministic lockstep (see :mod:`vrmed.team.desktop`):
the client builds the same App as the server from the ``welcome`` and steps it with the
input samples the server recorded (:func:`join_welcome`, :func:`build_mirror`,
:class:`TeamMirror`). The person's own choices go through :class:`RoleMenu`, a local menu
of only the role's actions, whose completed choices are *sent* to the server (which applies
them in the authoritative App or refuses them) and come back in the recorded samples.
Remote people are drawn by :class:`TeamAvatarPass` at poses interpolated 100 ms behind the
newest update. The network runs on an asyncio loop in a background thread
(:class:`TeamNetwork`; a window or an OpenXR session stays on the main thread).

Several patients. Once the instructor adds a casualty (``CasualtyAdded`` in the mirror's
log, :mod:`vrmed.team.inject`), :class:`RoleMenu` offers a patient picker: the first row of
its action menu names the patient the next actions go to ("Patient: ... (change)"),
choosing it steps to the next patient, and every request for an action taken on a patient
(its event has a ``patient`` field) names the chosen one in the protocol's ``patient``
field. The default stays the original patient (the team's first watched entity), as the
server's :class:`vrmed.team.roles.TeamPlugin` assumes for a request that names none.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..app import App
from ..errors import VrmedError
from ..input import InputState, ReplayInput
from ..packs.discovery import all_packs
from ..packs.loader import load_pack
from ..render.passes import PassContext
from ..scenario.interaction import Interaction
from ..scenario.learner import LearnerPlugin, MenuItem
from ..session import Session, build_session
from ..settings import SimSettings
from .client import Interpolator, TeamClient
from .roles import team_of
from .voice import MAX_CLIP_S, MIC_RATE, pcm_wav

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
#: The menu item kind of the patient picker row (:class:`RoleMenu`).
PATIENT_ITEM = "patient"
#: The device suffix of a tracked hand's joints on the wire (``<hand>.joints``: position and
#: orientation the wrist's, ``joints`` the 26 XR_EXT_hand_tracking joints' offsets from it in
#: whole millimetres, :data:`vrmed.input.JOINT_UNIT_M`; an empty list: the hand is not tracked).
JOINTS_SUFFIX = ".joints"
#: Hand skeleton drawing (m): a joint's sphere, a bone's capsule.
JOINT_RADIUS, BONE_RADIUS = 0.008, 0.005
#: The bones of a hand as pairs of joint indices in XrHandJointEXT order (0 palm, 1 wrist,
#: 2-5 thumb metacarpal..tip, then index, middle, ring, little: metacarpal, proximal,
#: intermediate, distal, tip, five each from 6): the wrist to each metacarpal, then along
#: each finger (XR_EXT_hand_tracking, "Conventions of hand joints").
HAND_BONES: tuple[tuple[int, int], ...] = (
    (1, 2), (2, 3), (3, 4), (4, 5),
    *((j, k) for f in range(4) for j, k in ((1, 6 + 5 * f), *((6 + 5 * f + i, 7 + 5 * f + i) for i in range(4)))),
)  # fmt: skip
_BONE_A = np.array([a for a, _ in HAND_BONES])
_BONE_B = np.array([b for _, b in HAND_BONES])


class RoleMenu(LearnerPlugin):
    """The local action menu of one team member: the scenario's menu logic
    (:class:`vrmed.scenario.learner.LearnerPlugin`, never added to an App) over only the
    actions the role may take; completed choices are collected in :attr:`requests` for the
    server instead of being queued in the App. Hotkeys of actions outside the role become
    requests too, for the server to refuse (see the module docstring of
    :mod:`vrmed.team.desktop`). ``patient``: the original patient (the team's first watched
    entity), the default target of actions once there are several (module docstring)."""

    def __init__(
        self, interaction: Interaction, allowed: frozenset[str] | set[str], *, patient: str | None = None
    ) -> None:
        own = tuple(a for a in interaction.actions if a.id in allowed)
        super().__init__(dataclasses.replace(interaction, actions=own, steps=(), cues=()), person=True)
        self.full = interaction
        #: action requests for the server ({id, fields, target?, patient?}), taken by :meth:`take`
        self.requests: list[dict[str, Any]] = []
        #: the patients actions can be taken on, the original first (once known)
        self.patients: list[str] = [patient] if patient else []
        #: the patient the next actions go to (index into :attr:`patients`)
        self.selected = 0
        self._picked: str | None = None

    @property
    def patient(self) -> str | None:
        """The patient the next actions go to (None before any is known)."""
        return self.patients[self.selected] if self.patients else None

    def add_patient(self, name: str) -> None:
        """A casualty joined the scene: offer it in the picker (the selection stays)."""
        if name and name not in self.patients:
            self.patients.append(name)
            if self.menu.open and self.menu.pending is None and self.menu.source is None:
                self._open_actions(self.interaction.actions, "Actions", None)  # show the picker now

    def remove_patient(self, name: str) -> None:
        """A casualty left the scene (``CasualtyRemoved``): no longer offered; when it was
        the selected one, actions go to the original patient again."""
        if name in self.patients[1:]:
            chosen = self.patient
            self.patients.remove(name)
            self.selected = self.patients.index(chosen) if chosen in self.patients else 0
            if self.menu.open and self.menu.pending is None and self.menu.source is None:
                self._open_actions(self.interaction.actions, "Actions", None)  # the picker as it now is

    def command(self, app: App, command: str) -> None:
        """Apply one menu command of the local person (see ``LearnerPlugin.command``), and
        ``patient.next`` / ``patient:<name>`` (the picker)."""
        name, _, arg = command.partition(":")
        if name == "menu.action" and self.interaction.action(arg) is None:
            if self.full.action(arg) is not None:  # the server decides: it refuses, recorded and shown
                self.requests.append({"id": arg, "fields": {}})
            return
        if name in ("session.pause", "session.resume"):
            return  # only the instructor pauses a shared session
        if name == "patient.next":
            self._next_patient()
            return
        if name == "patient":
            if arg in self.patients:
                self.selected = self.patients.index(arg)
                self._refresh_picker()
            return
        super().command(app, command)

    def _next_patient(self) -> None:
        if len(self.patients) > 1:
            self.selected = (self.selected + 1) % len(self.patients)
            self._refresh_picker()

    def _refresh_picker(self) -> None:
        menu = self.menu
        if menu.open and menu.items and menu.items[0].kind == PATIENT_ITEM:
            menu.items[0] = self._picker_item()

    def _picker_item(self) -> MenuItem:
        name = str(self.patient).replace("_", " ")
        return MenuItem(f"Patient: {name} ({self.selected + 1}/{len(self.patients)}, change)", PATIENT_ITEM, None)

    def _open_actions(self, actions: Any, title: str, source: str | None) -> None:
        super()._open_actions(actions, title, source)
        if self.menu.open and source is None and len(self.patients) > 1:
            # the full action menu names (and changes) the patient its actions go to
            self.menu.items.insert(0, self._picker_item())
            self.menu.title = f"{title} - patient: {str(self.patient).replace('_', ' ')}"

    def _choose(self, app: App, item: MenuItem) -> None:
        if item.kind == PATIENT_ITEM:
            self._next_patient()
            self.menu.title = f"Actions - patient: {str(self.patient).replace('_', ' ')}"
            return
        super()._choose(app, item)

    def _target(self, source: str | None) -> str | None:
        # the entity whose own menu the action came from (None: the full menu or a hotkey,
        # whose target is only what the pointer rests on, never a choice of patient)
        self._picked = source if source is not None and source != "__direct__" else None
        return super()._target(source)

    def _request(self, app: App, action_id: str, chosen: dict[str, Any], target: str | None = None) -> None:
        # overrides LearnerPlugin._request: a team member's choice goes to the server, never
        # into the mirror's input queue (the mirror only ever applies the server's samples)
        request: dict[str, Any] = {"id": action_id, "fields": chosen}
        if target is not None:
            request["target"] = target
        action = self.interaction.action(action_id)
        if len(self.patients) > 1 and action is not None and _on_patient(action.event):
            # named once there are several (a call-out is taken on nobody: the server
            # refuses a patient on it); a patient picked (its own menu) is the one meant
            request["patient"] = self._picked if self._picked in self.patients else self.patient
        self.requests.append(request)

    def take(self) -> list[dict[str, Any]]:
        """The requests made since the last call."""
        out, self.requests = self.requests, []
        return out


def _on_patient(event_type: Any) -> bool:
    """Whether an action's event is taken on a patient (it has a ``patient`` field)."""
    return dataclasses.is_dataclass(event_type) and "patient" in {f.name for f in dataclasses.fields(event_type)}


def draw_hands(renderer: Any, hands: list[tuple[str, np.ndarray]]) -> None:
    """Draw tracked hands as skeletons: (role, (26, 3) joint positions in metres) each, a
    sphere per joint and a capsule per bone (:data:`HAND_BONES`) in the role's colour."""
    if not hands:
        return
    joints = np.concatenate([j for _, j in hands])
    colours = np.array([ROLE_COLOURS.get(r, (0.6, 0.6, 0.6, 1.0)) for r, j in hands for _ in range(len(j))], float)
    renderer.draw_spheres(joints, np.full(len(joints), JOINT_RADIUS), colours)
    whole = [(r, j) for r, j in hands if len(j) == 26]  # a full XR_EXT_hand_tracking set: its bones
    if whole:
        a = np.concatenate([j[_BONE_A] for _, j in whole])
        b = np.concatenate([j[_BONE_B] for _, j in whole])
        bone_colours = np.array([ROLE_COLOURS.get(r, (0.6, 0.6, 0.6, 1.0)) for r, _ in whole for _ in HAND_BONES])
        renderer.draw_capsules(a, b, BONE_RADIUS, bone_colours, shadow=False)


class TeamAvatarPass:
    """Scene pass: every other team member's head and hands as spheres in the role's colour,
    at their interpolated poses, and a tracked hand's joints as its skeleton (render only;
    it reads :attr:`avatars` and :attr:`hands`)."""

    name = "team.avatars"
    phase = "scene"

    def __init__(self, own_client: str) -> None:
        self.own = own_client
        self.avatars = Interpolator()
        #: tracked hands' joints ({ROLE/CLIENT/<hand>.joints: [(26, 3) world positions, wrist
        #: orientation]}), fed from the mirror's replayed samples (:meth:`TeamMirror.follow`)
        self.hands = Interpolator()
        self.drawn = 0

    def people(self) -> list[tuple[str, str, str, np.ndarray]]:
        """(role, client, device, position) of every remote device, interpolated (a tracked
        hand's joints are :meth:`hand_joints`)."""
        names = self.avatars.devices()
        out = []
        for name in sorted(names):
            role, client, device = name.split("/", 2)
            if client == self.own or device.endswith(JOINTS_SUFFIX):
                continue
            pose = self.avatars.pose(name)
            if pose is not None:
                out.append((role, client, device, pose[0]))
        return out

    def hand_joints(self) -> list[tuple[str, str, str, np.ndarray]]:
        """(role, client, hand, (26, 3) joint positions) of every remote tracked hand,
        interpolated 100 ms behind the newest (a hand no longer tracked is left out)."""
        out = []
        for name in sorted(self.hands.devices()):
            role, client, device = name.split("/", 2)
            pose = self.hands.pose(name) if client != self.own else None
            if pose is not None and bool(np.isfinite(pose[0]).all()):
                out.append((role, client, device.removesuffix(JOINTS_SUFFIX), pose[0].reshape(-1, 3)))
        return out

    def draw(self, ctx: PassContext) -> None:
        """Draw the spheres (and hand skeletons) in the main view (desktop) or each eye (headset)."""
        if ctx.view not in ("main", "left", "right"):
            return
        draw_hands(ctx.renderer, [(role, joints) for role, _, _, joints in self.hand_joints()])
        people = self.people()
        if not people:
            return
        centres = np.array([p for *_, p in people], float)
        radii = np.array([HEAD_RADIUS if d == "head" else HAND_RADIUS for _, _, d, _ in people])
        colours = np.array([ROLE_COLOURS.get(r, (0.6, 0.6, 0.6, 1.0)) for r, *_ in people], float)
        ctx.renderer.draw_spheres(centres, radii, colours)
        self.drawn += 1


class TeamNetwork:
    """A mirroring :class:`TeamClient` on an asyncio loop in a background thread;
    :meth:`send` queues a sample from the main thread (one sender task keeps them in order)."""

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
    """Hold :attr:`key` (a desktop key; a controller button's name in a headset) to talk: a
    clip is recorded while it is held (at most :data:`MAX_CLIP_S`) and sent to the team when
    it is released. ``recorder()`` makes the recorder (default :class:`MicRecorder`; tests
    pass one that plays a file)."""

    def __init__(self, key: str = "F4", recorder: Callable[[], Any] | None = None) -> None:
        self.key = key
        self._make = recorder or MicRecorder
        self._recorder: Any = None
        self._since: float | None = None
        self.unavailable: str | None = None
        #: SHA-256 of every clip sent
        self.sent: list[str] = []

    def poll(self, window: Any, net: TeamNetwork, notice: Callable[[str], None]) -> None:
        """Read the key (GLFW's current state) and start, stop or send a clip."""
        import glfw  # deferred: GLFW loads its native library; only a desktop window reads keys

        self.update(glfw.get_key(window.handle, getattr(glfw, f"KEY_{self.key.upper()}")) == glfw.PRESS, net, notice)

    def update(self, held: bool, net: TeamNetwork, notice: Callable[[str], None]) -> None:
        """Start, stop or send a clip for the key's state ``held`` (a headset passes its
        controller button's)."""
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


def pack_named(name: str) -> Any:
    """The installed pack called ``name`` (the one a server's welcome names)."""
    refs, _ = all_packs()
    ref = next((r for r in refs if r.name == name), None)
    if ref is None:
        raise VrmedError(f"the session's pack {name!r} is not installed here")
    return load_pack(ref.root, ref.source)


def join_welcome(net: TeamNetwork, url: str, pack: Any = None) -> tuple[dict[str, Any], Any]:
    """Connect and check the ``welcome``: (welcome, pack). ``pack``: the scenario's pack
    (default: the installed pack the server names); a :class:`VrmedError` when the server
    cannot be reached, sends no simulation settings, or runs another version of the pack."""
    try:
        welcome: dict[str, Any] = net.run(net.client.connect())
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
    return welcome, pack


def build_mirror(pack: Any, welcome: dict[str, Any], client: TeamClient) -> Session:
    """The server's App, built from the welcome and fed with the samples the server
    recorded as they arrive (``client.inputs``)."""
    sim = welcome["sim"]
    return build_session(
        pack,
        str(welcome.get("scenario")),
        seed=int(sim.get("seed", 0)),
        input_source=ReplayInput(client.inputs),  # the server's samples, as they arrive
        settings=SimSettings.from_header(sim),
        learner=str(sim.get("learner", "person")),
        mode=str(sim.get("mode", "formative")),
    )


def role_menu(session: Session, welcome: dict[str, Any]) -> RoleMenu:
    """The local menu of the role the welcome grants, its picker's original patient the
    team's first watched entity."""
    team = team_of(session.scenario)
    patient = team.watch[0] if team is not None and team.watch else None
    return RoleMenu(
        session.scenario.interaction or Interaction(), frozenset(welcome.get("actions") or ()), patient=patient
    )


class TeamMirror:
    """Keeps a mirror session in step with the server and tells the person what concerns
    them: :meth:`follow` steps the App to the server's frame with the server's samples,
    checks the event count the server sent for that frame (:attr:`in_step`), feeds the
    avatars, and calls ``notice`` for orders to this role, a teammate lost or gone, and a
    casualty added or removed (which the menu's patient picker then offers or drops)."""

    def __init__(
        self,
        net: TeamNetwork,
        session: Session,
        menu: RoleMenu,
        avatars: TeamAvatarPass,
        role: str,
        notice: Callable[[str], None],
        before_step: Callable[[], None] | None = None,
    ) -> None:
        self.net, self.session, self.menu, self.avatars, self.role = net, session, menu, avatars, role
        self.notice = notice
        self.before_step = before_step
        self.in_step = True
        self._seen_log = 0
        self._seen_events = 0
        self._hands: dict[str, Any] = {}

    @property
    def ended(self) -> bool:
        """The server ended the session and the mirror has stepped every frame of it."""
        client = self.net.client
        return client.ended and self.session.app.clock.frame >= client.frame

    def follow(self) -> int:
        """Step to the server's newest frame and report what happened; returns frames stepped."""
        client, app = self.net.client, self.session.app
        log = self.session.recorder.log
        frame, stepped = client.frame, 0
        while app.clock.frame < frame:
            if self.before_step is not None:
                self.before_step()
            app.step(1)
            stepped += 1
        sync = client.sync
        if sync[0] == app.clock.frame and sync[1] != len(log.events) and self.in_step:
            self.in_step = False
            self.notice(f"out of step with the server (events {len(log.events)} vs {sync[1]})")
        state = client.state
        if state:
            self.avatars.avatars.add(float(state.get("t", 0.0)), state.get("devices") or {})
        if stepped:
            self._feed_hands()
        # orders from the mirror's own log (it holds everything from frame 0, also what was
        # said before this person joined: the last ORDER_MEMORY_S of it is shown)
        for e in log.events[self._seen_log :]:
            data, kind = e["data"], e["type"]
            if kind.endswith(":CallOut") and data.get("kind") == "order" and data.get("to_role") == self.role:
                if float(app.clock.time) - float(e["t"]) <= ORDER_MEMORY_S:
                    self.notice(f"order for {self.role}: {data.get('task')} (acknowledge, then report done)")
            elif kind.endswith(":CasualtyAdded"):
                self.menu.add_patient(str(data.get("casualty")))
                self.notice(f"casualty added: {data.get('casualty')} (choose the patient in the menu)")
            elif kind.endswith(":CasualtyRemoved"):
                self.menu.remove_patient(str(data.get("casualty")))
                self.notice(f"casualty {data.get('casualty')} {data.get('disposition', 'removed')}")
        self._seen_log = len(log.events)
        events = client.events  # presence is the server's, not the simulation's
        for e in events[self._seen_events : len(events)]:
            data = e.get("data") or {}
            if e.get("type") == "Presence" and data.get("status") in ("lost", "gone"):
                self.notice(f"{data.get('role')} {data.get('client')} {data.get('status')}")
        self._seen_events = len(events)
        return stepped

    def _feed_hands(self) -> None:
        """Tracked hands' joints as the server's samples left them in the mirror's input
        (the state updates carry poses only), into the avatars' hand interpolator when
        they changed; a hand no longer tracked as NaN joints (not drawn)."""
        app = self.session.app
        hands: dict[str, Any] = {}
        for name, dev in app.resource(InputState).devices.items():
            if name.endswith(JOINTS_SUFFIX) and name.count("/") == 2:
                if dev.joints is None:  # not tracked: NaN joints (same shape, so it interpolates)
                    shape = self._hands[name][0].shape if name in self._hands else (26, 3)
                    hands[name] = [np.full(shape, np.nan), dev.orientation.tolist()]
                else:
                    hands[name] = [dev.position + dev.joints, dev.orientation.tolist()]
        changed = hands.keys() != self._hands.keys() or any(
            not np.array_equal(v[0], self._hands[k][0], equal_nan=True) for k, v in hands.items()
        )
        if hands and changed:
            self.avatars.hands.add(float(app.clock.time), hands)
            self._hands = hands


__all__ = [
    "BONE_RADIUS",
    "HAND_BONES",
    "HAND_RADIUS",
    "JOINTS_SUFFIX",
    "JOINT_RADIUS",
    "HEAD_PERIOD_S",
    "HEAD_RADIUS",
    "MicRecorder",
    "PushToTalk",
    "ORDER_MEMORY_S",
    "ROLE_COLOURS",
    "RoleMenu",
    "TeamAvatarPass",
    "TeamMirror",
    "TeamNetwork",
    "build_mirror",
    "draw_hands",
    "join_welcome",
    "pack_named",
    "role_menu",
]
