"""The shared-session server: one authoritative App, many clients, one session log.

:class:`TeamServer` builds the scenario's App with :func:`vrmed.session.build_session`
(the same App, schedule and packs as a one-learner session) and feeds it from a
:class:`TeamInput`: every client's input message is queued as it arrives and applied at the
server's next frame, its device poses under ``ROLE/CLIENT/DEVICE`` and its action requests
tagged ``{"by": {"client": ID, "role": ROLE}}`` in the ``learner`` pseudo-device. The
ordinary session recorder therefore records everything, and ``vrmed replay`` reproduces a
shared session bit-exactly with no special casing; the roles are enforced inside the App by
:class:`vrmed.team.roles.TeamPlugin`, so the replay enforces them again.

Timing: the simulation steps on its own fixed-rate loop (``speed`` times real time). State
goes to each client through its own writer task holding only the newest state plus the
events it has not seen, so a slow or stalled client never delays a tick; a client whose
send blocks for ``send_timeout`` seconds is disconnected. A dropped client keeps its role
for ``grace_s`` seconds; rejoining with its resume key continues from the last input the
server acknowledged (``ack``), so no action is lost or applied twice. Every presence change
(joined, lost, resumed, gone) is sent to the team and the instructor.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from ..components.scene import Name
from ..errors import VrmedError
from ..input import LEARNER, InputState, Sample
from ..packs.loader import Pack
from ..recording import SessionLog
from ..render.drawlist import DrawList
from ..scenario.learner import LearnerView
from ..session import Session, build_session
from .console import CONSOLE_HTML
from .inject import CASUALTY, DETERIORATE, DISPOSITIONS, FAIL, REMOVE_CASUALTY
from .player import KEY_EVENTS, DebriefPlayer, recorded_views, watch_values
from .protocol import MAX_MESSAGE, ProtocolError, TokenIssuer, check_input, decode, encode, pseudonym
from .roles import INSTRUCTOR, TeamSpec, team_of
from .surfaces import SurfaceEncoder, surface_key
from .voice import VOICE, ClipAssembler, clip_hash, parts, wav_duration

#: Most pending events kept for one client that is not reading (older ones are dropped
#: and the client is told how many it missed).
MAX_PENDING_EVENTS = 5000
#: Instructor commands that go into the session (recorded, so a replay repeats them).
INSTRUCTOR_COMMANDS = ("session.pause", "session.resume")
#: Most input samples waiting for the next frame (all clients together).
MAX_QUEUE = 10_000
#: Seconds an instructor login with a wrong password waits before its answer (slows guessing).
LOGIN_PENALTY_S = 0.5
#: Longest debrief annotation kept (characters).
MAX_NOTE = 500
#: Most recorded input frames one message carries to a mirroring client (a late joiner gets
#: the session's history in several messages, each well under the client's size limit).
INPUTS_PER_MESSAGE = 1000
#: Most relayed voice messages waiting for one member (about 60 KB each: 40 are 2.4 MB);
#: a member that does not read loses the newest clips, never the server's memory.
MAX_VOICE_PENDING = 40
#: The debrief's events "at a time" are those of the last this many seconds before it.
DEBRIEF_EVENTS_S = 10.0
#: Header facts a mirroring client needs to build the same App as the server (as a replay does).
MIRROR_HEADER = ("seed", "mode", "learner", "display_rate", "rates", "substeps_per_tick", "pack_version", "pack_hash")


@dataclass
class Member:
    """One connected (or recently dropped) participant."""

    client: str
    role: str
    resume: str
    last_seq: int = 0
    ws: ServerConnection | None = None
    lost_at: float | None = None
    pending: list[dict[str, Any]] = field(default_factory=list)
    missed: int = 0
    latest: dict[str, Any] | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    writer: asyncio.Task[None] | None = None
    bytes_sent: int = 0
    messages_sent: int = 0
    #: the client mirrors the simulation (a desktop or headset front end): it also gets every
    #: frame's recorded input sample, in order, to step its own copy of the App exactly
    mirror: bool = False
    inputs: list[list[Any]] = field(default_factory=list)
    #: push-to-talk: this member's clip being received, and relayed clips' messages to send
    voice_in: ClipAssembler = field(default_factory=ClipAssembler)
    voice_out: list[str] = field(default_factory=list)
    #: a thin client's surface stream (vrmed.team.surfaces): what it last received
    surfaces: SurfaceEncoder | None = None
    #: an instructor's key for the console's HTTP requests (debrief frames, voice clips)
    key: str = ""


class TeamInput:
    """The server's input source: merges the clients' queued samples at each frame."""

    kind = "team"

    def __init__(self) -> None:
        self._queue: deque[tuple[str, str, dict[str, Any], list[dict[str, Any]]]] = deque()
        self._commands: deque[str] = deque()

    def push(self, client: str, role: str, devices: dict[str, Any], actions: list[dict[str, Any]]) -> None:
        """Queue one client's sample for the next frame (refused when MAX_QUEUE samples wait:
        a paused session or a flooding client must not grow the server's memory unbounded)."""
        if len(self._queue) >= MAX_QUEUE:
            raise ProtocolError(f"the server has {MAX_QUEUE} samples waiting; slow down")
        self._queue.append((client, role, devices, actions))

    def command(self, command: str) -> None:
        """Queue a session command (the instructor's pause/resume) for the next frame."""
        self._commands.append(command)

    @property
    def has_commands(self) -> bool:
        """Whether a session command waits for the next frame (a paused server steps for it)."""
        return bool(self._commands)

    def sample(self, time: float, frame: int) -> Sample:
        """Everything queued since the last frame, in arrival order."""
        out: Sample = {}
        actions: list[dict[str, Any]] = []
        while self._queue:
            client, role, devices, acts = self._queue.popleft()
            for name, data in devices.items():
                out[f"{role}/{client}/{name}"] = data
            actions.extend({**a, "by": {"client": client, "role": role}} for a in acts)
        commands = list(self._commands)
        self._commands.clear()
        if actions or commands:
            learner: dict[str, Any] = {}
            if actions:
                learner["actions"] = actions
            if commands:
                learner["commands"] = commands
            out[LEARNER] = learner
        return out


@dataclass
class TickStats:
    """Server timing: lateness of each tick against its schedule (s) and CPU per frame (s)."""

    lateness: list[float] = field(default_factory=list)
    step_cpu: list[float] = field(default_factory=list)
    frames: int = 0


class TeamServer:
    """One shared session over WebSockets (see the module docstring).

    ``speed`` runs the simulation faster than real time (tests, benchmarks); ``display_rate``
    is the frame rate of the authoritative App (clients render at their own rate and
    interpolate); ``state_rate`` is how often (per wall second) state goes out. The
    instructor console is at ``http://HOST:PORT/`` and needs ``instructor_password``.
    """

    def __init__(
        self,
        pack: Pack,
        scenario_name: str | None = None,
        *,
        seed: int = 0,
        speed: float = 1.0,
        display_rate: int = 20,
        state_rate: float = 20.0,
        host: str = "127.0.0.1",
        port: int = 0,
        grace_s: float = 10.0,
        send_timeout: float = 5.0,
        join_timeout: float = 5.0,
        instructor_password: str | None = None,
        mode: str = "formative",
        ssl: Any = None,
        secret: bytes | None = None,
        voice_dir: Path | None = None,
        stream_surfaces: bool = False,
        debrief_size: tuple[int, int] = (480, 360),
    ) -> None:
        if speed <= 0:
            raise VrmedError(f"speed must be positive, got {speed}")
        self.input = TeamInput()
        self.session: Session = build_session(
            pack,
            scenario_name,
            seed=seed,
            input_source=self.input,
            learner="person",
            display_rate=display_rate,
            mode=mode,
        )
        team = team_of(self.session.scenario)
        if team is None:
            self.session.close()
            raise VrmedError(
                f"scenario {self.session.scenario.name!r} declares no team (settings.team.roles); "
                "see docs/team-training.md"
            )
        self.team: TeamSpec = team
        self.speed, self.display_rate, self.state_rate = float(speed), int(display_rate), float(state_rate)
        self.host, self.port = host, port
        self.grace_s, self.send_timeout, self.join_timeout = grace_s, send_timeout, join_timeout
        self.tokens = TokenIssuer(secret)
        self.instructor_password = instructor_password or secrets.token_urlsafe(12)
        self._ssl = ssl
        #: where push-to-talk clips are stored (SHA256.wav); None: relayed, not stored
        self.voice_dir = voice_dir
        #: clips received (sha256 -> bytes) when not stored in a folder
        self.clips: dict[str, bytes] = {}
        #: deforming surfaces for thin clients: the features' draw systems fill this draw
        #: list as for a renderer (a resource only: it is not world state, the replay is unchanged)
        self._draws: DrawList | None = None
        self._surfaces: dict[str, tuple[Any, Any]] = {}
        self._surface_frame = -1
        if stream_surfaces:
            self._draws = self.session.app.try_resource(DrawList)
            if self._draws is None:
                self._draws = DrawList()
                self.session.app.insert_resource(self._draws)
        self.members: dict[str, Member] = {}
        self.stats = TickStats()
        self.ended = asyncio.Event()
        self._server: Server | None = None
        self._tick: asyncio.Task[None] | None = None
        self._stopping = False
        self._event_index = 0
        #: last frame whose recorded input went to the mirroring clients
        self._input_frame = 0
        self._last_state: dict[str, Any] | None = None
        #: the instructor's debrief annotations ({t, frame, by, text}), kept in the log header
        self.annotations: list[dict[str, Any]] = []
        self._watch = {n: self.session.entities[n] for n in team.watch if n in self.session.entities}
        #: the console's debrief player (its worker process starts on the first request)
        self.debrief = DebriefPlayer(
            self.session.pack,
            self.session.recorder.log,
            [*team.watch, *team.casualties],
            width=debrief_size[0],
            height=debrief_size[1],
            clock=lambda: self.session.app.clock.frame,
        )

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The WebSocket URL clients join at."""
        return f"{'wss' if self._ssl else 'ws'}://{self.host}:{self.port}/ws"

    def issue(self, role: str, ttl_s: float = 3600.0) -> str:
        """A join token for ``role`` (one of the scenario's roles, or the instructor)."""
        if role not in self.team.roles and role != INSTRUCTOR:
            raise VrmedError(f"unknown role {role!r}; roles: {', '.join(self.team.roles)}")
        return self.tokens.issue(role, ttl_s)

    async def start(self) -> None:
        """Listen and start the simulation loop."""
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._http,
            max_size=MAX_MESSAGE,
            ssl=self._ssl,
            compression=None,  # state is small JSON; per-message deflate costs more CPU than it saves
            open_timeout=self.join_timeout,
            close_timeout=1.0,  # a stalled peer must not hold up shutdown
        )
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        self._tick = asyncio.create_task(self._tick_loop())

    async def stop(self) -> None:
        """Stop the loop, close every connection, and finish the session log."""
        self._stopping = True
        if self._tick is not None:
            self._tick.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tick
        for m in self.members.values():
            if m.writer is not None:
                m.writer.cancel()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5.0)
        await asyncio.get_running_loop().run_in_executor(None, self.debrief.close)

    def finish(self) -> SessionLog:
        """The session log (call after :meth:`stop`)."""
        return self.session.finish()

    # -- simulation loop ------------------------------------------------------------------
    async def _tick_loop(self) -> None:
        loop = asyncio.get_running_loop()
        frame_wall = 1.0 / (self.display_rate * self.speed)
        state_wall = 1.0 / self.state_rate
        app, view = self.session.app, self.session.app.resource(LearnerView)
        next_tick = next_state = loop.time()
        while not self._stopping:
            now = loop.time()
            if view.paused and not self.input.has_commands:
                # paused by the instructor: no frames pass (the replay has none either) until
                # a resume command arrives; state keeps flowing so everyone sees the pause
                if now >= next_state:
                    self._broadcast(view)
                    next_state = now + state_wall
                await asyncio.sleep(frame_wall)
                next_tick = loop.time()
                continue
            self.stats.lateness.append(now - next_tick)
            c0 = time.thread_time()
            app.step(1)
            self.stats.step_cpu.append(time.thread_time() - c0)
            self.stats.frames += 1
            self._reap(now)
            if view.ended or now >= next_state:
                self._broadcast(view)
                next_state = now + state_wall
            if self._draws is not None:
                self._draws.clear()  # nobody presents this draw list: it holds one frame's draws
            if view.ended:
                self.ended.set()
                return
            next_tick += frame_wall
            delay = next_tick - loop.time()
            if delay < -0.25:  # fell far behind (a slow machine): do not spiral, restart the schedule
                next_tick = loop.time()
                delay = 0.0
            await asyncio.sleep(max(0.0, delay))

    def _broadcast(self, view: LearnerView) -> None:
        app = self.session.app
        events = self.session.recorder.log.events[self._event_index :]
        self._event_index += len(events)
        for e in events:  # a casualty the instructor added is watched like the scenario's patient
            if e["type"].endswith(":CasualtyAdded"):
                name = str(e["data"]["casualty"])
                ent = next((x for x, n in app.query(Name) if n.value == name), None)
                if ent is not None:
                    self._watch[name] = ent
            elif e["type"].endswith(":CasualtyRemoved"):  # transferred or discharged: no longer watched
                self._watch.pop(str(e["data"]["casualty"]), None)
        inputs = self._new_inputs(app.clock.frame)
        if self._draws is not None and self._surface_frame != app.clock.frame:  # (not while paused)
            self._surfaces = {surface_key(s.key): (s.positions.copy(), s.faces) for s in self._draws.surfaces}
            self._surface_frame = app.clock.frame
        watch = watch_values(app, self._watch)
        devices = {
            name: [list(map(float, d.position)), list(map(float, d.orientation))] for name, d in self._devices().items()
        }
        base = {
            "frame": app.clock.frame,
            "t": float(app.clock.time),
            "watch": watch,
            "devices": devices,
            "ended": view.ended,
            "result": view.end_reason,
            "paused": view.paused,
            "events_total": len(self.session.recorder.log.events),  # a mirror checks it is in step
            "wall": asyncio.get_running_loop().time(),  # monotonic: clients on this host measure latency
        }
        self._last_state = base
        short = [{"t": e["t"], "type": e["type"].rsplit(":", 1)[-1], "data": e["data"]} for e in events]
        for m in self.members.values():
            if m.ws is None:
                continue
            m.pending.extend(short)
            if len(m.pending) > MAX_PENDING_EVENTS:
                m.missed += len(m.pending) - MAX_PENDING_EVENTS
                del m.pending[: len(m.pending) - MAX_PENDING_EVENTS]
            m.latest = base
            if m.mirror:
                m.inputs.extend(inputs)
            m.wake.set()

    def _new_inputs(self, frame: int) -> list[list[Any]]:
        """The recorded input samples of the frames stepped since the last broadcast, as
        ``[frame, sample]`` (frames without input are not recorded and not sent)."""
        recorded = self.session.recorder.log.inputs
        out = [[f, recorded[f]["data"]] for f in range(self._input_frame, frame) if f in recorded]
        self._input_frame = frame
        return out

    def _history(self) -> list[list[Any]]:
        """Every input sample recorded up to the last broadcast (a mirror joining late)."""
        recorded = self.session.recorder.log.inputs
        return [[f, recorded[f]["data"]] for f in sorted(recorded) if f < self._input_frame]

    def mirror_header(self) -> dict[str, Any]:
        """What a mirroring client needs to build the server's App (seed, mode, rates, ...)."""
        header = self.session.recorder.log.header
        return {k: header[k] for k in MIRROR_HEADER if k in header}

    def _devices(self) -> dict[str, Any]:
        # the team's devices are the ROLE/CLIENT/DEVICE ones
        return {k: v for k, v in self.session.app.resource(InputState).devices.items() if k.count("/") == 2}

    def _reap(self, now: float) -> None:
        for m in list(self.members.values()):
            if m.ws is None and m.lost_at is not None and now - m.lost_at > self.grace_s:
                del self.members[m.client]
                self._presence(m, "gone")

    def _presence(self, member: Member, status: str) -> None:
        for m in self.members.values():
            if m.ws is not None and m is not member:
                m.pending.append(
                    {
                        "t": float(self.session.app.clock.time),
                        "type": "Presence",
                        "data": {"client": member.client, "role": member.role, "status": status},
                    }
                )
                m.wake.set()

    # -- connections ----------------------------------------------------------------------
    async def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        if url.path in ("/", "/console"):
            csp = "default-src 'self' 'unsafe-inline'; connect-src 'self' ws: wss:"
            return _response(
                HTTPStatus.OK, CONSOLE_HTML.encode(), "text/html; charset=utf-8", [("Content-Security-Policy", csp)]
            )
        if url.path == "/ws":
            return None
        if not (url.path.startswith("/debrief/") or url.path.startswith("/voice/")):
            return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if not self._console_key(request.headers.get("Authorization", ""), query.get("key", "")):
            await asyncio.sleep(LOGIN_PENALTY_S)
            return _error(HTTPStatus.UNAUTHORIZED, "log in to the instructor console first (key missing or unknown)")
        try:
            return await self._console_request(url.path, query)
        except VrmedError as exc:
            return _error(HTTPStatus.BAD_REQUEST, str(exc))

    def _console_key(self, authorization: str, key: str) -> bool:
        """Whether a console HTTP request carries the key of a logged-in instructor
        (``Authorization: Bearer KEY``, or ``?key=KEY`` where the page cannot set headers:
        an ``img`` or ``audio`` source)."""
        given = authorization[7:] if authorization.startswith("Bearer ") else key
        if not given:
            return False
        return any(
            hmac.compare_digest(m.key.encode(), given.encode())
            for m in self.members.values()
            if m.role == INSTRUCTOR and m.key
        )

    async def _console_request(self, path: str, query: dict[str, str]) -> Response:
        """The console's debrief and voice requests (the instructor's key already checked)."""
        if path == "/debrief/timeline":
            self.debrief.warm()  # the debrief tab is open: its first moment should not wait for the start
            return _json(self.debrief_timeline())
        if path.startswith("/voice/"):
            return self._clip_response(path[len("/voice/") :])
        if path not in ("/debrief/state", "/debrief/frame"):
            return _error(HTTPStatus.NOT_FOUND, f"no console request {path!r}")
        if "t" not in query:
            raise VrmedError(f"{path} needs t, the simulated time in seconds")
        future = self.debrief.request(query["t"])
        try:  # the HTTP answer must come within the connection's open timeout: a long
            # replay (a seek backwards, the worker's start) answers 503 and the page asks again
            snap = await asyncio.wait_for(asyncio.shield(future), max(0.5, self.join_timeout - 1.0))
        except TimeoutError:
            return _error(HTTPStatus.SERVICE_UNAVAILABLE, "rendering that moment; ask again", [("Retry-After", "1")])
        except VrmedError as exc:
            return _error(HTTPStatus.INTERNAL_SERVER_ERROR, str(exc))
        if path == "/debrief/frame":
            client = query.get("client", "")
            image = snap.images.get(client)
            if image is None:
                shown = ", ".join(snap.images) or "nobody (no head pose recorded yet)"
                return _error(HTTPStatus.NOT_FOUND, f"no view of {client[:40]!r} at {snap.t:.2f} s; views: {shown}")
            return _response(HTTPStatus.OK, image, "image/png")
        window = [
            {"t": e["t"], "type": e["type"].rsplit(":", 1)[-1], "data": e["data"]}
            for e in self.session.recorder.log.events
            if snap.t - DEBRIEF_EVENTS_S < e["t"] <= snap.t
        ]
        return _json(
            {
                "t": snap.t,
                "frame": snap.frame,
                "views": sorted(snap.images),
                "watch": snap.watch,
                "events": window,
                "exact": snap.exact,
                "replay_s": snap.replay_s,
                "rebuilt": snap.rebuilt,
            }
        )

    def debrief_timeline(self) -> dict[str, Any]:
        """The debrief's timeline: the time that can be shown, the members with a view, the
        annotations, the key events as marks, and every voice call-out (with its clip's URL)."""
        log = self.session.recorder.log
        marks, voice = [], []
        for e in log.events:
            short = e["type"].rsplit(":", 1)[-1]
            if short in KEY_EVENTS:
                marks.append({"t": e["t"], "type": short, "data": e["data"]})
            if short == "VoiceCallOut":
                d = e["data"]
                voice.append({"t": e["t"], **d, "url": f"/voice/{d['sha256']}.wav"})
        return {
            "end_t": self.debrief.end_time(),
            "rate": self.debrief.rate,
            "members": recorded_views(log),
            "annotations": list(self.annotations),
            "marks": marks,
            "voice": voice,
        }

    def clip(self, sha: str) -> bytes:
        """A stored push-to-talk clip by its SHA-256, checked against it (a
        :class:`VrmedError` when unknown or altered)."""
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise VrmedError("a clip is named by its SHA-256 (64 lowercase hex digits)")
        if self.voice_dir is not None:
            path = self.voice_dir / f"{sha}.wav"
            data = path.read_bytes() if path.is_file() else None
        else:
            data = self.clips.get(sha)
        if data is None:
            raise VrmedError(f"no clip {sha[:12]}... in this session's voice store")
        if clip_hash(data) != sha:
            raise VrmedError(f"the stored clip {sha[:12]}... does not match its hash (altered)")
        return data

    def _clip_response(self, name: str) -> Response:
        try:
            data = self.clip(name.removesuffix(".wav"))
        except VrmedError as exc:
            status = HTTPStatus.CONFLICT if "altered" in str(exc) else HTTPStatus.NOT_FOUND
            return _error(status, str(exc))
        return _response(HTTPStatus.OK, data, "audio/wav")

    async def _handle(self, ws: ServerConnection) -> None:
        member: Member | None = None
        try:
            try:
                msg = decode(await asyncio.wait_for(ws.recv(), self.join_timeout))
                member = self._admit(msg)
            except (ProtocolError, TimeoutError) as exc:
                if "password" in str(exc):
                    await asyncio.sleep(LOGIN_PENALTY_S)
                await ws.send(encode("error", message=str(exc) or "no join message in time"))
                return
            old = member.ws
            if old is not None:  # the same member joined again: the newer connection wins
                await old.close()
            member.ws, member.lost_at = ws, None
            member.wake = asyncio.Event()
            member.mirror = msg.get("mirror") is True
            wants = msg.get("surfaces") is True and self._draws is not None and not member.mirror
            member.surfaces = SurfaceEncoder() if wants else None  # a (re)join starts with keyframes
            await ws.send(
                encode(
                    "welcome",
                    client=member.client,
                    role=member.role,
                    resume=member.resume,
                    ack=member.last_seq,
                    grace_s=self.grace_s,
                    roles={k: r.label for k, r in self.team.roles.items()},
                    scenario=self.session.scenario.name,
                    pack=self.session.pack.name,
                    actions=sorted(self.team.roles[member.role].actions) if member.role in self.team.roles else [],
                    failures={k: f.label for k, f in self.team.failures.items()},
                    casualties={k: c.label for k, c in self.team.casualties.items()},
                    watch=list(self._watch),
                    **({"key": member.key} if member.key else {}),
                    **({"sim": self.mirror_header()} if member.mirror else {}),
                )
            )
            member.writer = asyncio.create_task(self._writer(member, ws))
            if self._last_state is not None:  # a (re)joining member sees the state at once
                member.latest = self._last_state
                member.wake.set()
            # a mirror (re)starts from frame 0: the whole history up to the newest state
            member.inputs = self._history() if member.mirror else []
            async for raw in ws:
                try:
                    self._receive(member, decode(raw))
                except (TypeError, ValueError, KeyError) as exc:  # a well-formed message with bad values
                    if isinstance(exc, ProtocolError):
                        raise
                    raise ProtocolError(f"bad message: {exc}") from None
        except ProtocolError as exc:
            with contextlib.suppress(ConnectionClosed):
                await ws.send(encode("error", message=str(exc)))
        except ConnectionClosed:
            pass
        finally:
            if member is not None and member.ws is ws:
                member.ws = None
                member.lost_at = asyncio.get_running_loop().time()
                if member.writer is not None:
                    member.writer.cancel()
                self._presence(member, "lost")

    def _admit(self, msg: dict[str, Any]) -> Member:
        kind = msg["type"]
        if self.ended.is_set() and kind == "join":
            raise ProtocolError("the session has ended")
        if kind == "login":
            given = str(msg.get("password", ""))
            if not hmac.compare_digest(given.encode(), self.instructor_password.encode()):
                raise ProtocolError("wrong instructor password")
            member = Member("instructor-" + secrets.token_hex(3), INSTRUCTOR, secrets.token_urlsafe(16))
            member.key = secrets.token_urlsafe(24)
            self.members[member.client] = member
            return member
        if kind != "join":
            raise ProtocolError("the first message must be join (or login for the instructor console)")
        grant = self.tokens.check(msg.get("token"))
        resume = msg.get("resume")
        if isinstance(resume, str):
            for m in self.members.values():
                if hmac.compare_digest(m.resume.encode(), resume.encode()) and m.role == grant.role:
                    self._presence(m, "resumed")
                    return m
            raise ProtocolError("cannot resume: the grace period is over or the key is unknown; join again")
        if grant.role == INSTRUCTOR:
            member = Member("instructor-" + secrets.token_hex(3), INSTRUCTOR, secrets.token_urlsafe(16))
            member.key = secrets.token_urlsafe(24)
        else:
            role = self.team.roles.get(grant.role)
            if role is None:
                raise ProtocolError(f"the scenario has no role {grant.role!r}")
            held = sum(1 for m in self.members.values() if m.role == grant.role)
            if held >= role.max:
                raise ProtocolError(f"the role {grant.role!r} is full ({role.max})")
            member = Member(pseudonym(), grant.role, secrets.token_urlsafe(16))
        self.members[member.client] = member
        self._presence(member, "joined")
        return member

    def _receive(self, member: Member, msg: dict[str, Any]) -> None:
        kind = msg["type"]
        if kind == "input":
            seq, devices, actions = check_input(msg)
            if seq <= member.last_seq:  # resent after a reconnect: already applied
                return
            member.last_seq = seq
            self.input.push(member.client, member.role, devices, actions)
        elif kind == "command" and member.role == INSTRUCTOR:
            command = str(msg.get("command"))
            if command not in INSTRUCTOR_COMMANDS:
                raise ProtocolError(f"unknown command {command!r}; commands: {', '.join(INSTRUCTOR_COMMANDS)}")
            self.input.command(command)
        elif kind == "voice":
            self._voice(member, msg)
        elif kind == "inject" and member.role == INSTRUCTOR:
            self.input.push(member.client, INSTRUCTOR, {}, [self._injection(msg)])
        elif kind == "annotate" and member.role == INSTRUCTOR:
            app = self.session.app
            note = {"t": float(app.clock.time), "frame": app.clock.frame, "by": member.client}
            note["text"] = str(msg.get("text", ""))[:MAX_NOTE]
            self.annotations.append(note)
            # header facts only: never the inputs, events or digest, so the replay stays exact
            self.session.recorder.mark(annotations=list(self.annotations))
            for m in self.members.values():
                if m.role == INSTRUCTOR and m.ws is not None:
                    m.pending.append({"t": note["t"], "type": "Annotation", "data": note})
                    m.wake.set()
        elif kind == "issue" and member.role == INSTRUCTOR:
            role = str(msg.get("role"))
            ttl = float(msg.get("ttl", 3600.0))
            try:
                token = self.issue(role, min(max(ttl, 1.0), 86400.0))
            except VrmedError as exc:
                raise ProtocolError(str(exc)) from None
            member.pending.append({"t": 0.0, "type": "Token", "data": {"role": role, "token": token}})
            member.wake.set()
        else:
            raise ProtocolError(f"message {kind!r} is not allowed here")

    def _voice(self, member: Member, msg: dict[str, Any]) -> None:
        """A push-to-talk part; a whole clip is checked, stored, relayed and recorded."""
        data = member.voice_in.add(msg)
        if data is None:
            return
        try:
            duration = wav_duration(data)
        except VrmedError as exc:
            raise ProtocolError(str(exc)) from None
        sha = clip_hash(data)
        if self.voice_dir is not None:
            self.voice_dir.mkdir(parents=True, exist_ok=True)
            (self.voice_dir / f"{sha}.wav").write_bytes(data)
        else:
            self.clips[sha] = data
        self.input.push(
            member.client, member.role, {}, [{"id": VOICE, "fields": {"sha256": sha, "duration_s": duration}}]
        )
        texts = parts(data)
        for i, text in enumerate(texts):
            relay = encode(
                "voice", client=member.client, role=member.role, clip=sha, part=i, last=i == len(texts) - 1, data=text
            )
            for m in self.members.values():
                if m is not member and m.ws is not None and len(m.voice_out) < MAX_VOICE_PENDING:
                    m.voice_out.append(relay)
        for m in self.members.values():
            if m is not member and m.ws is not None:
                m.wake.set()

    def _injection(self, msg: dict[str, Any]) -> dict[str, Any]:
        """An instructor ``inject`` message as the request the team plugin applies (its shape
        checked here, for a clear error at the console; its values again in the App)."""
        what = msg.get("injection")
        if what == "deteriorate":
            fields = {k: msg.get(k) for k in ("entity", "var", "to")}
            fields["over_s"] = msg.get("over_s", 0.0)
            if not isinstance(fields["entity"], str) or not isinstance(fields["var"], str):
                raise ProtocolError("deteriorate needs entity and var (names)")
            for key in ("to", "over_s"):
                if isinstance(fields[key], bool) or not isinstance(fields[key], (int, float)):
                    raise ProtocolError(f"deteriorate needs {key}, a number")
            return {"id": DETERIORATE, "fields": fields}
        if what == "failure":
            failure, duration = msg.get("failure"), msg.get("duration_s")
            if failure not in self.team.failures:
                known = ", ".join(self.team.failures) or "none"
                raise ProtocolError(f"unknown failure {failure!r}; the scenario declares: {known}")
            if isinstance(duration, bool) or not isinstance(duration, (int, float)):
                raise ProtocolError("failure needs duration_s, a number of seconds")
            return {"id": FAIL, "fields": {"failure": failure, "duration_s": duration}}
        if what == "casualty":
            casualty, position = msg.get("casualty"), msg.get("position")
            if casualty not in self.team.casualties:
                known = ", ".join(self.team.casualties) or "none"
                raise ProtocolError(f"unknown casualty {casualty!r}; the scenario declares: {known}")
            if not isinstance(position, list) or len(position) != 3:
                raise ProtocolError("casualty needs position, [x, y, z] in metres")
            return {"id": CASUALTY, "fields": {"casualty": casualty, "position": position}}
        if what == "remove_casualty":
            casualty, disposition = msg.get("casualty"), msg.get("disposition", DISPOSITIONS[0])
            if not isinstance(casualty, str) or not casualty:
                raise ProtocolError("remove_casualty needs casualty, the name of an added casualty")
            if disposition not in DISPOSITIONS:
                raise ProtocolError(f"remove_casualty's disposition is one of {', '.join(DISPOSITIONS)}")
            # whether it may be removed (an added casualty, not the scenario's patient) is decided
            # in the App, so the refusal is a recorded ActionRejected the console shows
            return {"id": REMOVE_CASUALTY, "fields": {"casualty": casualty, "disposition": disposition}}
        raise ProtocolError(
            f"unknown injection {what!r}; injections: deteriorate, failure, casualty, remove_casualty "
            "(rhythm: an action)"
        )

    async def _writer(self, member: Member, ws: ServerConnection) -> None:
        """Send the newest state plus unseen events whenever there is something new."""
        while True:
            await member.wake.wait()
            member.wake.clear()
            events, member.pending = member.pending, []
            inputs, member.inputs = member.inputs, []
            state = member.latest or {}
            while len(inputs) > INPUTS_PER_MESSAGE:  # history for a late mirror, in chunks
                chunk, inputs = inputs[:INPUTS_PER_MESSAGE], inputs[INPUTS_PER_MESSAGE:]
                if not await self._send(member, ws, encode("inputs", inputs=chunk)):
                    return
            extra: dict[str, Any] = {"inputs": inputs} if member.mirror else {}
            if member.surfaces is not None:
                entries = member.surfaces.encode(self._surfaces)
                if entries:
                    extra["surfaces"] = entries
            text = encode("state", ack=member.last_seq, events=events, missed=member.missed, **state, **extra)
            if not await self._send(member, ws, text):
                return
            voice, member.voice_out = member.voice_out, []
            for text in voice:  # relayed push-to-talk clips, after the state that announces them
                if not await self._send(member, ws, text):
                    return

    async def _send(self, member: Member, ws: ServerConnection, text: str) -> bool:
        """Send one message; False (and the connection aborted) when the peer cannot take it."""
        try:
            await asyncio.wait_for(ws.send(text), self.send_timeout)
        except (TimeoutError, ConnectionClosed):
            ws.transport.abort()  # a peer that cannot take data is lost (no close handshake to wait for)
            return False
        member.bytes_sent += len(text)
        member.messages_sent += 1
        return True


def _response(
    status: HTTPStatus, body: bytes, content_type: str, extra: list[tuple[str, str]] | None = None
) -> Response:
    """An HTTP answer that no cache keeps and no referrer leaks (the console's URLs carry its key)."""
    headers = Headers(
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("Referrer-Policy", "no-referrer"),
            ("X-Content-Type-Options", "nosniff"),
            *(extra or []),
        ]
    )
    return Response(status.value, status.phrase, headers, body)


def _json(data: Any) -> Response:
    return _response(HTTPStatus.OK, json.dumps(data).encode(), "application/json")


def _error(status: HTTPStatus, message: str, extra: list[tuple[str, str]] | None = None) -> Response:
    """A console request's error: ``{"error": message}``."""
    return _response(status, json.dumps({"error": message}).encode(), "application/json", extra)
