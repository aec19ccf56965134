"""The instructor console's debrief player: moments of a shared session, every member's
view, rendered by a worker process for the console (:class:`DebriefPlayer`).

The server imports this module, never the renderer: the worker process loads
:mod:`vrmed.team.debrief` (moderngl, EGL) by name when the first moment is asked for, so a
server on a machine without GL runs, and only its debrief says why it cannot draw.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import importlib
import json
import math
import multiprocessing
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ..app import App
from ..errors import VrmedError
from ..packs.loader import Pack
from ..recording import SessionLog
from ..scenario.runtime import scenario_bindings

#: The module holding the worker's replay and drawing (imported by name in the worker only).
WORKER_MODULE = __name__.rsplit(".", 1)[0] + ".debrief"


def recorded_views(log: SessionLog) -> dict[str, str]:
    """Every client whose head pose the log records: {client: role}."""
    found: dict[str, str] = {}
    for rec in log.inputs.values():
        for name in rec["data"]:
            parts = name.split("/")
            if len(parts) == 3 and parts[2] == "head":
                found.setdefault(parts[1], parts[0])
    return dict(sorted(found.items()))


#: Rendered moments a :class:`DebriefPlayer` keeps (each: one PNG per member, 20-80 KB at
#: 480x360), newest use last; an older one is rendered again when it is asked for.
SNAPSHOT_CACHE = 24
#: Events shown as marks on the debrief timeline (beside the instructor's annotations).
KEY_EVENTS = (
    "RhythmChanged",
    "RhythmInjected",
    "ShockDelivered",
    "Deteriorated",
    "EquipmentFailed",
    "EquipmentRestored",
    "CasualtyAdded",
    "CasualtyRemoved",
    "VoiceCallOut",
    "SessionPaused",
    "CallOut",
    "ScenarioEnded",
)


def watch_values(app: App, entities: dict[str, int]) -> dict[str, dict[str, Any]]:
    """The scenario state of each watched entity ({name: entity}): its components' declared
    ``SCENARIO_VARS`` (through the scenario getter when the state lives in a resource, as
    the physiology's does), as ``{name: {"Component.var": value}}``; scenery is skipped."""
    getters = scenario_bindings(app).getters
    out: dict[str, dict[str, Any]] = {}
    for name, ent in entities.items():
        fields: dict[str, Any] = {}
        for comp in app.components_of(ent):
            ctype = type(comp)
            declared = getattr(ctype, "SCENARIO_VARS", None)
            getter = getters.get(ctype)
            if declared is not None and getter is not None:  # state kept in a resource (physiology)
                values = {var: getter(app, name, var) for var in declared}
            elif declared is not None:
                values = {var: getattr(comp, var, None) for var in declared}
            else:
                continue  # scenery (meshes, labels): not state a team watches
            for var, value in values.items():
                if isinstance(value, (int, float, str, bool)):
                    fields[f"{ctype.__name__}.{var}"] = value
        out[name] = fields
    return out


def records_hash(records: list[dict[str, Any]]) -> str:
    """SHA-256 of event records (as ``SessionLog.event_records`` gives them), to compare a
    replay's events with the recorded ones without sending them between processes."""
    return hashlib.sha256(json.dumps(records, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class Snapshot:
    """One rendered moment of a session: every member's view (PNG bytes by client), the
    watched entities' state, and how it was obtained (the replay's cost, whether the replay
    had to start again from frame 0 to go back, whether it still matched the log)."""

    t: float
    frame: int
    images: dict[str, bytes]
    watch: dict[str, dict[str, Any]]
    replay_s: float
    rebuilt: bool
    exact: bool
    events: int


class DebriefPlayer:
    """Renders moments of a (live or finished) shared session for the instructor console:
    every member's view, drawn from their recorded head pose by a replay of the session log
    in a separate worker process, so neither the replay's stepping nor its GL rendering
    takes time from the live simulation (the worker owns its own esper world and GL
    context; a thread could not, esper's world being global).

    The worker keeps one replay App and only steps it forward: seeking later costs the
    frames in between; seeking earlier replays again from frame 0 (measured in
    docs/team-training.md). The last :data:`SNAPSHOT_CACHE` moments are cached here, and
    one request renders every member at once. Requested times are rounded up to the next
    frame. ``log`` is read each time: the session's recorder log while it runs, so the
    player follows a live session up to its clock (``clock``: the live App's frame count).
    """

    def __init__(
        self,
        pack: Pack,
        log: SessionLog,
        watch: Iterable[str],
        *,
        width: int = 480,
        height: int = 360,
        samples: int = 4,
        cache: int = SNAPSHOT_CACHE,
        clock: Callable[[], int] | None = None,
    ) -> None:
        self.pack, self.log, self.watch = pack, log, list(watch)
        #: the live App's frame count (None: the log's own extent)
        self.clock = clock
        self.size = (int(width), int(height), int(samples))
        self.cache_size = int(cache)
        self.cache: OrderedDict[int, Snapshot] = OrderedDict()
        self.rate = float(Fraction(str(log.header.get("display_rate", "90"))))
        self._proc: Any = None
        self._conn: Any = None
        self._sent = 0
        self._lock = threading.Lock()
        self._inflight: dict[int, asyncio.Future[Snapshot]] = {}
        #: worker start-up (s), and each worker answer's replay cost (s) and whether it rebuilt
        self.startup_s: float | None = None
        self.costs: list[tuple[float, bool]] = []

    # -- the session's extent ----------------------------------------------------------
    def frames(self) -> int:
        """Frames that can be shown: all of a finished log; a live one's up to its clock
        (every frame stepped has its recorded input)."""
        footer = self.log.footer
        if footer is not None:
            return int(footer.get("frames", 0))
        recorded = max(self.log.inputs, default=-1) + 1
        return max(recorded, self.clock()) if self.clock is not None else recorded

    def end_time(self) -> float:
        """The last simulated time that can be shown (s)."""
        return self.frames() / self.rate

    def frame_of(self, t: Any) -> int:
        """The frame shown for a requested time: k, the state after k frames (at k / rate
        s), the first at or after ``t`` and at least 1 (the first drawn); a
        :class:`VrmedError` names the valid range for a bad time."""
        try:
            value = float(t)
        except (TypeError, ValueError):
            raise VrmedError(f"t must be a number of seconds, got {str(t)[:40]!r}") from None
        end = self.end_time()
        if not math.isfinite(value) or not 0.0 <= value <= end + 1e-9:
            raise VrmedError(f"t must be 0 to {end:.2f} s (the recorded session), got {str(t)[:40]}")
        return max(1, min(math.ceil(value * self.rate - 1e-6), self.frames()))

    # -- rendering ----------------------------------------------------------------------
    def request(self, t: Any) -> asyncio.Future[Snapshot]:
        """The snapshot at time ``t``, cached or being rendered (a future of this loop);
        a :class:`VrmedError` at once for a time outside the session."""
        frame = self.frame_of(t)
        loop = asyncio.get_running_loop()
        hit = self.cache.get(frame)
        if hit is not None:
            self.cache.move_to_end(frame)
            done: asyncio.Future[Snapshot] = loop.create_future()
            done.set_result(hit)
            return done
        fut = self._inflight.get(frame)
        if fut is None:
            views = recorded_views(self.log)
            fut = loop.run_in_executor(None, self._render, frame, views, self.frames())
            self._inflight[frame] = fut
            fut.add_done_callback(functools.partial(self._done, frame))
        return fut

    def warm(self) -> None:
        """Start the worker in the background (the console opening its debrief tab), so the
        first moment asked for does not also wait for the worker's start."""
        if self._proc is None:
            asyncio.get_running_loop().run_in_executor(None, self._warm)

    def _warm(self) -> None:
        with self._lock, contextlib.suppress(VrmedError):  # a failed start is reported by the request
            self._start()

    def _done(self, frame: int, fut: asyncio.Future[Snapshot]) -> None:
        self._inflight.pop(frame, None)
        if not fut.cancelled() and fut.exception() is None:
            self.cache[frame] = fut.result()
            while len(self.cache) > self.cache_size:
                self.cache.popitem(last=False)

    def _render(self, frame: int, views: dict[str, str], horizon: int) -> Snapshot:
        """(A thread of the executor.) Ask the worker for one snapshot; one at a time."""
        with self._lock:
            self._start()
            # list(): one C-level copy, while the event loop's thread may be recording more
            inputs = list(self.log.inputs.items())
            new = {f: rec["data"] for f, rec in inputs if self._sent <= f < horizon}
            try:
                self._conn.send(("inputs", new, horizon))
                self._sent = max(self._sent, horizon)
                self._conn.send(("snap", frame, views, self.watch))
                kind, body = self._conn.recv()
            except (EOFError, OSError) as exc:  # the worker died (killed, out of memory): the next request restarts it
                self._proc = None
                raise VrmedError(f"the debrief worker ended unexpectedly ({type(exc).__name__})") from None
        if kind != "ok":
            raise VrmedError(str(body))
        recorded = self.log.event_records()[: body["events"]]
        exact = len(recorded) == body["events"] and records_hash(recorded) == body["hash"]
        self.costs.append((body["replay_s"], body["rebuilt"]))
        return Snapshot(
            frame / self.rate,
            frame,
            body["images"],
            body["watch"],
            body["replay_s"],
            body["rebuilt"],
            exact,
            body["events"],
        )

    def _start(self) -> None:
        if self._proc is not None and self._proc.is_alive():
            return
        c0 = time.perf_counter()
        # spawn, not fork: the server process has threads (asyncio, numba) and maybe a GL context
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=_run_worker,
            args=(WORKER_MODULE, child, str(self.pack.root), self.pack.source, dict(self.log.header), self.size),
            daemon=True,
            name="vrmed-debrief",
        )
        self._proc.start()
        child.close()
        self._conn, self._sent = parent, 0
        try:
            kind, body = self._conn.recv()
        except EOFError:
            self._proc = None
            raise VrmedError("the debrief worker ended while starting (its error is on the server's stderr)") from None
        if kind != "ready":
            raise VrmedError(str(body))
        self.startup_s = time.perf_counter() - c0

    def close(self) -> None:
        """End the worker process."""
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(OSError):
                    self._conn.send(None)
                self._conn.close()
                self._conn = None
            if self._proc is not None and self._proc.pid is not None:
                self._proc.join(5)
                if self._proc.is_alive():
                    self._proc.kill()
                self._proc = None


def _run_worker(module: str, *args: Any) -> None:
    """The worker process's entry: the drawing module is imported here, in the worker."""
    importlib.import_module(module).worker(*args)


__all__ = ["KEY_EVENTS", "DebriefPlayer", "Snapshot", "recorded_views", "records_hash", "watch_values"]
