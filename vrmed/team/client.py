"""Clients of a shared session: :class:`TeamClient` (any front end: desktop, headset,
script) and :class:`ScriptedTeamClient` (plays a role's ``settings.team.scripted`` steps).

A client numbers its input messages and keeps those the server has not acknowledged
(``ack`` in every state message) in a bounded outbox; after a reconnect with its resume
key it re-sends them, and the server skips any it had already applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl as ssl_
from collections import deque
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ..errors import VrmedError
from .protocol import MAX_MESSAGE, ProtocolError, decode, encode
from .roles import ScriptedStep
from .surfaces import SurfaceDecoder
from .voice import ClipAssembler, clip_hash, parts, wav_duration

#: Most unacknowledged input messages a client keeps for re-sending.
MAX_OUTBOX = 10_000


class Interpolator:
    """Remote poses between state updates: a client draws other people's avatars (and moved
    objects) at a render time ``delay`` seconds behind the newest update, interpolating each
    device between the two updates around that time (positions linearly, orientations by
    normalised linear interpolation of the shorter arc), the usual entity-interpolation
    scheme of networked simulations (Valve, "Source Multiplayer Networking", 100 ms)."""

    def __init__(self, delay: float = 0.1) -> None:
        self.delay = delay
        self._snapshots: deque[tuple[float, dict[str, Any]]] = deque(maxlen=8)

    def add(self, t: float, devices: dict[str, Any]) -> None:
        """Keep one update's poses ({device: [[x, y, z], [w, x, y, z]]}) at simulation time ``t``."""
        if self._snapshots and t <= self._snapshots[-1][0]:
            return
        self._snapshots.append((t, devices))

    def devices(self) -> set[str]:
        """Every device seen in the buffered updates."""
        return {d for _, devices in self._snapshots for d in devices}

    def pose(self, device: str, t: float | None = None) -> tuple[np.ndarray, np.ndarray] | None:
        """The device's position and unit quaternion at ``t`` (default: newest - ``delay``);
        held at the nearest update outside the buffered span; None if never seen."""
        snaps = [(ts, d[device]) for ts, d in self._snapshots if device in d]
        if not snaps:
            return None
        when = snaps[-1][0] - self.delay if t is None else t
        if when <= snaps[0][0]:
            p, q = snaps[0][1]
            return np.asarray(p, float), np.asarray(q, float)
        for (t0, (p0, q0)), (t1, (p1, q1)) in zip(snaps, snaps[1:]):
            if t0 <= when <= t1:
                w = (when - t0) / (t1 - t0)
                a, b = np.asarray(q0, float), np.asarray(q1, float)
                if float(a @ b) < 0.0:  # q and -q are one rotation: take the shorter arc
                    b = -b
                q = (1 - w) * a + w * b
                return (1 - w) * np.asarray(p0, float) + w * np.asarray(p1, float), q / np.linalg.norm(q)
        p, q = snaps[-1][1]
        return np.asarray(p, float), np.asarray(q, float)


class TeamClient:
    """A connection to a :class:`vrmed.team.server.TeamServer` with one role."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 5.0,
        ssl: ssl_.SSLContext | None = None,
        mirror: bool = False,
        surfaces: bool = False,
    ) -> None:
        self.url, self.token, self.timeout, self.ssl = url, token, timeout, ssl
        #: ask for every frame's recorded input too (:attr:`inputs`, :attr:`frame`), to step a
        #: local copy of the App exactly (vrmed.team.desktop)
        self.mirror = mirror
        #: deforming surfaces streamed by a server that streams them (``surfaces=True``)
        self.surfaces: SurfaceDecoder | None = SurfaceDecoder() if surfaces else None
        #: why the last surface entries could not be applied (None: all were)
        self.surface_error: str | None = None
        #: recorded input samples by server frame (mirroring clients); written by the reader
        self.inputs: dict[int, Any] = {}
        #: frames the server has stepped, as of the newest state
        self.frame = 0
        #: (frame, events in the server's log at that frame) of the newest state, one tuple
        #: so a mirror in another thread reads a consistent pair
        self.sync: tuple[int, int] = (0, 0)
        #: the ``welcome`` message of the current connection
        self.welcome: dict[str, Any] = {}
        #: push-to-talk clips relayed from teammates: sha256 -> (client, role, WAV bytes)
        self.voice: dict[str, tuple[str, str, bytes]] = {}
        self._voice_in = ClipAssembler()
        #: ``inputs`` messages received (a late mirror's history comes in chunks)
        self.history_messages = 0
        self._clips = 0
        self.client: str | None = None
        self.role: str | None = None
        self.resume: str | None = None
        self.state: dict[str, Any] = {}
        self.events: list[dict[str, Any]] = []
        self.time = 0.0
        self.ended = False
        self.updated = asyncio.Event()
        self._seq = 0
        self._outbox: deque[tuple[int, str]] = deque(maxlen=MAX_OUTBOX)
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self.latencies: list[float] = []
        #: everyone's device poses, for drawing remote avatars smoothly between updates
        self.avatars = Interpolator()
        #: bytes of input messages sent (measurement)
        self.bytes_sent = 0

    async def connect(self) -> dict[str, Any]:
        """Join (or resume, after :meth:`drop`) and re-send what the server has not acknowledged."""
        extra: dict[str, Any] = {"ssl": self.ssl} if self.ssl is not None else {}
        ws = await connect(self.url, max_size=MAX_MESSAGE * 64, open_timeout=self.timeout, compression=None, **extra)
        join: dict[str, Any] = {"token": self.token}
        if self.mirror:
            join["mirror"] = True
        if self.surfaces is not None:
            join["surfaces"] = True
            self.surfaces = SurfaceDecoder()  # the server starts each connection with keyframes
        if self.resume is not None:
            join["resume"] = self.resume
        await ws.send(encode("join", **join))
        welcome = decode(await asyncio.wait_for(ws.recv(), self.timeout))
        if welcome["type"] != "welcome":
            await ws.close()
            raise VrmedError(f"the server refused to join: {welcome.get('message')}")
        self.client, self.role, self.resume = welcome["client"], welcome["role"], welcome["resume"]
        self.welcome = welcome
        self._ws = ws
        self._prune(int(welcome["ack"]))
        for _, text in list(self._outbox):
            await ws.send(text)
        self._reader = asyncio.create_task(self._read(ws))
        return welcome

    async def send(self, actions: list[dict[str, Any]] | None = None, devices: dict[str, Any] | None = None) -> int:
        """Send one input sample; returns its sequence number. Kept until acknowledged, so a
        sample sent while disconnected goes out on reconnect."""
        self._seq += 1
        body: dict[str, Any] = {"seq": self._seq}
        if actions:
            body["actions"] = actions
        if devices:
            body["devices"] = devices
        text = encode("input", **body)
        self._outbox.append((self._seq, text))
        if self._ws is not None:
            with contextlib.suppress(ConnectionClosed):
                await self._ws.send(text)
                self.bytes_sent += len(text)
        return self._seq

    async def send_voice(self, wav: bytes) -> str:
        """Send a push-to-talk clip (PCM WAV bytes); returns its SHA-256. Not kept for a
        reconnect: a clip cut off by a dropped connection is said again."""
        wav_duration(wav)  # the server would refuse it: say why here
        if self._ws is None:
            raise VrmedError("not connected")
        self._clips += 1
        texts = parts(wav)
        for i, text in enumerate(texts):
            await self._ws.send(encode("voice", clip=f"c{self._clips}", part=i, last=i == len(texts) - 1, data=text))
        return clip_hash(wav)

    async def act(self, action: str, **fields: Any) -> int:
        """Request one scenario action with its option values."""
        return await self.send([{"id": action, "fields": fields}])

    async def act_on(self, patient: str, action: str, **fields: Any) -> int:
        """Request one scenario action on the patient named ``patient`` (the original
        patient or a casualty the instructor added; vrmed.team.inject)."""
        return await self.send([{"id": action, "fields": fields, "patient": patient}])

    async def drop(self) -> None:
        """Close the connection abruptly (tests of the grace period)."""
        ws, self._ws = self._ws, None
        if self._reader is not None:
            self._reader.cancel()
        if ws is not None:
            await ws.close()

    async def close(self) -> None:
        """Leave the session."""
        await self.drop()

    async def wait_time(self, t: float, timeout: float) -> bool:
        """Wait until the shared simulation reaches ``t`` s (or it ends); False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.time < t and not self.ended:
            left = deadline - loop.time()
            if left <= 0:
                return False
            self.updated.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.updated.wait(), min(left, 0.5))
        return True

    def _prune(self, ack: int) -> None:
        while self._outbox and self._outbox[0][0] <= ack:
            self._outbox.popleft()

    async def _read(self, ws: ClientConnection) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                try:
                    msg = decode(raw)
                except ProtocolError:
                    continue
                if msg["type"] == "voice":  # a teammate's push-to-talk clip, in parts
                    with contextlib.suppress(ValueError):
                        clip = self._voice_in.add(msg)
                        if clip is not None and clip_hash(clip) == msg.get("clip"):
                            self.voice[clip_hash(clip)] = (str(msg.get("client")), str(msg.get("role")), clip)
                elif msg["type"] == "inputs":  # a late mirror's history, before the state it leads to
                    self._take_inputs(msg.get("inputs"))
                    self.history_messages += 1
                elif msg["type"] == "state":
                    # inputs before the frame count: a mirror in another thread never sees a
                    # frame whose sample has not arrived
                    self._take_inputs(msg.get("inputs"))
                    if self.surfaces is not None and msg.get("surfaces"):
                        try:
                            self.surfaces.apply(msg["surfaces"])
                        except (ValueError, KeyError, TypeError) as exc:  # kept, not raised in the reader
                            self.surface_error = str(exc)
                    self.frame = int(msg.get("frame", self.frame))
                    self.sync = (self.frame, int(msg.get("events_total", 0)))
                    self.avatars.add(float(msg.get("t", 0.0)), msg.get("devices") or {})
                    self.state = msg
                    self.time = float(msg.get("t", self.time))
                    self.ended = bool(msg.get("ended"))
                    self.events.extend(msg.get("events", ()))
                    self._prune(int(msg.get("ack", 0)))
                    sent = msg.get("wall")
                    if isinstance(sent, float):
                        self.latencies.append(loop.time() - sent)
                    self.updated.set()

    def _take_inputs(self, inputs: Any) -> None:
        for frame, sample in inputs or ():
            self.inputs[int(frame)] = sample

    @property
    def unacknowledged(self) -> int:
        """Input messages not yet acknowledged by the server."""
        return len(self._outbox)


class ScriptedTeamClient(TeamClient):
    """Plays scripted steps at their simulated times (``settings.team.scripted``)."""

    def __init__(self, url: str, token: str, steps: tuple[ScriptedStep, ...] | list[ScriptedStep], **kw: Any) -> None:
        super().__init__(url, token, **kw)
        self.steps = sorted(steps, key=lambda s: s.t)

    async def play(self, timeout: float = 60.0, until: float | None = None) -> int:
        """Send each step once the simulation reaches its time; returns steps sent. Stops at
        the end of the session, at simulated time ``until``, or after ``timeout`` wall seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        done = 0
        while done < len(self.steps) and not self.ended:
            step = self.steps[done]
            if until is not None and step.t > until:
                break
            if not await self.wait_time(step.t, deadline - loop.time()):
                break
            due = []
            while done < len(self.steps) and self.steps[done].t <= self.time:
                due.append({"id": self.steps[done].action, "fields": dict(self.steps[done].fields)})
                done += 1
            await self.send(due)
        return done
