"""Debrief of a shared session "with every learner's view": the replay rendered from each
team member's recorded head pose.

A shared session's log holds every client's device poses (``ROLE/CLIENT/head``, what a
desktop client's camera or a headset sends), so replaying it puts each person's head
where it was at every frame. :func:`render_views` replays the log (exactly as
``vrmed replay``, and checks that it is still exact) and, at the requested simulated
times, draws the scene once per chosen member from that member's head (a look-at camera
along the pose's -Z with its +Y up), the other members drawn as spheres in their role's
colour, into ``OUT/CLIENT-tT.png``. Drawing never changes the world (the views are drawn
with cameras outside it), so the replay's events and final-state digest are unchanged.

``vrmed team-views LOG --at 30 --at 95 --out views/`` is the command line. The instructor
console's debrief player (:class:`vrmed.team.player.DebriefPlayer`) runs :func:`worker`
in a process of its own: one replay App stepped forward, every member drawn per moment.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..app import App
from ..components.scene import Name
from ..components.scene.render import Camera, Light
from ..errors import VrmedError
from ..geometry import quat_rotate
from ..input import InputState, ReplayInput
from ..packs.loader import load_pack
from ..recording import SessionLog
from ..render.context import create_context
from ..render.drawlist import DrawList
from ..render.passes import PassContext, RenderPipeline, RenderTarget
from ..render.plugin import RenderPlugin
from ..render.png import encode_png, write_png
from ..render.renderer import Renderer
from ..session import ReplayResult, build_session, pack_for_log
from ..settings import SimSettings
from .desktop import HAND_RADIUS, HEAD_RADIUS, ROLE_COLOURS
from .member import JOINTS_SUFFIX, draw_hands
from .player import recorded_views, records_hash, watch_values

#: How much lower the debrief worker's CPU priority is than the server's (Unix ``nice``).
WORKER_NICE = 10
#: The vertical field of view of a member's view (degrees): a desktop window's default
#: camera and a typical headset's per-eye vertical field are both about this.
VIEW_FOV_DEG = 60.0
_NEVER = 1 << 40


def head_camera(position: Any, orientation: Any) -> Camera:
    """The look-at camera of a head pose (position m, unit quaternion w-x-y-z): it looks
    along the head's -Z with the head's +Y up (the OpenXR and OpenGL view convention)."""
    p = np.asarray(position, float)
    forward = quat_rotate(orientation, [0.0, 0.0, -1.0])
    up = quat_rotate(orientation, [0.0, 1.0, 0.0])
    return Camera(position=p.copy(), target=p + np.asarray(forward), up=np.asarray(up), fov_deg=VIEW_FOV_DEG)


class PeoplePass:
    """Scene pass: every team member except :attr:`viewer` as spheres (head, hands) at the
    poses the App's input holds (in a replay: exactly the recorded ones), a headset
    member's tracked hands as skeletons (:func:`vrmed.team.member.draw_hands`)."""

    name = "team.people"
    phase = "scene"

    def __init__(self) -> None:
        self.viewer: str | None = None

    def draw(self, ctx: PassContext) -> None:
        """Draw the other members."""
        centres, radii, colours = [], [], []
        hands: list[tuple[str, np.ndarray]] = []
        for name, dev in ctx.app.resource(InputState).devices.items():
            parts = name.split("/")
            if len(parts) != 3 or parts[1] == self.viewer:
                continue
            if parts[2].endswith(JOINTS_SUFFIX):  # a tracked hand (headset member): its skeleton
                if dev.joints is not None:
                    hands.append((parts[0], dev.position + dev.joints))
                continue
            centres.append(np.asarray(dev.position, float))
            radii.append(HEAD_RADIUS if parts[2] == "head" else HAND_RADIUS)
            colours.append(ROLE_COLOURS.get(parts[0], (0.6, 0.6, 0.6, 1.0)))
        if centres:
            ctx.renderer.draw_spheres(np.array(centres), np.array(radii), np.array(colours, float))
        draw_hands(ctx.renderer, hands)


def draw_member_views(
    app: App, target: RenderTarget, people: PeoplePass, views: dict[str, str]
) -> Iterator[tuple[str, np.ndarray]]:
    """Draw the scene from each member's head as the App's input holds it now (the others
    as spheres); yields (client, RGB image, a copy). Members with no head pose yet are skipped."""
    inputs = app.resource(InputState)
    lights = app.query(Light)
    pipeline = app.resource(RenderPipeline)
    try:
        for client, role in views.items():
            head = inputs.devices.get(f"{role}/{client}/head")
            if head is None:  # not joined yet at this time (or never sent a pose): nothing to show
                continue
            people.viewer = client
            target.draw_scene(
                app,
                pipeline,
                "main",
                lights[0][1] if lights else Light(),
                camera=head_camera(head.position, head.orientation),
            )
            yield client, np.ascontiguousarray(target.renderer.read())
    finally:
        people.viewer = None


@dataclass
class ViewCapture:
    """The render-stage system of :func:`render_views` (see the module docstring)."""

    views: dict[str, str]
    times: list[float]
    out_dir: Path
    width: int = 480
    height: int = 360
    samples: int = 4
    backend: str | None = "egl"
    written: dict[str, list[Path]] = field(default_factory=dict)
    _target: RenderTarget | None = None
    _people: PeoplePass | None = None

    def build(self, app: App) -> None:
        """Add the capture system after the (idle) main-view draw."""
        self._people = PeoplePass()
        app.resource(RenderPipeline).add(self._people)
        app.add_system(self.capture, in_set="render.draw", name="team.views", after="render.draw")

    def capture(self, app: App) -> None:
        """Draw every chosen member's view when the clock has reached the next requested time."""
        if not self.times or float(app.clock.time) + 1e-9 < self.times[0]:
            return
        t = self.times.pop(0)
        assert self._people is not None
        for client, image in draw_member_views(app, self._render_target(), self._people, self.views):
            path = self.out_dir / f"{client}-t{t:08.2f}.png"
            write_png(path, image)
            self.written.setdefault(client, []).append(path)

    def _render_target(self) -> RenderTarget:
        if self._target is None:
            self._target = _offscreen_target(self.backend, self.width, self.height, self.samples)
        return self._target

    def cleanup(self, app: App) -> None:
        """Release the GL objects."""
        _release_target(self._target)
        self._target = None


def _offscreen_target(backend: str | None, width: int, height: int, samples: int) -> RenderTarget:
    """An offscreen render target in a context of its own (``backend``: e.g. "egl")."""
    ctx = create_context(backend)
    return RenderTarget(Renderer(ctx, width, height, samples=min(samples, ctx.max_samples)))


def _release_target(target: RenderTarget | None) -> None:
    """Release a target made by :func:`_offscreen_target` and its context."""
    if target is not None:
        ctx = target.renderer.ctx
        target.release()
        ctx.release()


def render_views(
    log: SessionLog,
    out_dir: str | Path,
    times: Iterable[float],
    *,
    clients: Iterable[str] | None = None,
    pack: Any = None,
    width: int = 480,
    height: int = 360,
    samples: int = 4,
) -> tuple[dict[str, list[Path]], ReplayResult]:
    """Replay a shared session and write each chosen member's view at each time (simulated
    s) as a PNG; returns the files by client and the replay's comparison with the log (a
    debrief of a log that no longer replays exactly says so instead of showing it)."""
    views = recorded_views(log)
    if not views:
        raise VrmedError("the log records no member's head pose (not a shared session, or nobody sent one)")
    if clients is not None:
        chosen = list(clients)
        unknown = [c for c in chosen if c not in views]
        if unknown:
            raise VrmedError(f"no recorded head pose for {', '.join(unknown)}; members with one: {', '.join(views)}")
        views = {c: views[c] for c in chosen}
    header, footer = log.header, log.footer or {}
    pack = pack or pack_for_log(log)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frames = int(footer.get("frames", 0))
    end = float(footer.get("sim_time", 0.0))
    wanted = sorted(t for t in times if 0.0 <= t <= end)
    if not wanted:
        raise VrmedError(f"no requested time lies in the session (0 to {end:g} s)")
    settings = SimSettings.from_header(header) if "rates" in header else None
    session = build_session(
        pack,
        header["scenario"],
        seed=int(header["seed"]),
        input_source=ReplayInput({f: rec["data"] for f, rec in log.inputs.items()}),
        display_rate=None if settings is not None else Fraction(str(header.get("display_rate", "90"))),
        settings=settings,
        learner=str(header.get("learner", "scripted")),
        mode=str(header.get("mode", "exam")),
    )
    capture = ViewCapture(views, wanted, out, width, height, samples)
    try:
        app = session.app
        # the renderer's resources (draw list, passes, the HUD) without its own drawing
        plugin = RenderPlugin(width, height, every=_NEVER, samples=1)
        app.add_plugin(plugin)
        app.add_plugin(capture)
        session.run(frames=frames)
        new = session.finish()
        recorded, replayed = log.event_records(), new.event_records()
        diff = None
        if recorded != replayed:
            i = next(
                (k for k, (a, b) in enumerate(zip(recorded, replayed)) if a != b), min(len(recorded), len(replayed))
            )
            diff = f"event {i} differs from the recorded session"
        elif footer.get("digest") != (new.footer or {}).get("digest"):
            diff = "final state differs (digest mismatch)"
        result = ReplayResult(
            frames,
            len(recorded),
            len(replayed),
            str(footer.get("digest")),
            str((new.footer or {}).get("digest")),
            diff,
            [],
        )
        app.resource(DrawList).clear()
    finally:
        session.close()
    return capture.written, result


# -- the debrief player's worker process (vrmed.team.player.DebriefPlayer) --------------------
class _Snapper:
    """The worker's render-stage system: draws every member's view on the frame it is armed."""

    def __init__(self, width: int, height: int, samples: int) -> None:
        self.width, self.height, self.samples = width, height, samples
        self.want: dict[str, str] | None = None
        self.images: dict[str, bytes] = {}
        self._people = PeoplePass()
        self._target: RenderTarget | None = None

    def build(self, app: App) -> None:
        """Add the capture system after the (idle) main-view draw."""
        app.resource(RenderPipeline).add(self._people)
        app.add_system(self.capture, in_set="render.draw", name="team.debrief", after="render.draw")

    def capture(self, app: App) -> None:
        """Draw the armed views (PNG bytes) and disarm."""
        if self.want is None:
            return
        if self._target is None:
            self._target = _offscreen_target("egl", self.width, self.height, self.samples)
        views, self.want = self.want, None
        drawn = draw_member_views(app, self._target, self._people, views)
        self.images = {c: encode_png(img, level=3) for c, img in drawn}

    def cleanup(self, app: App) -> None:
        """Release the GL objects."""
        _release_target(self._target)
        self._target = None


class _Replayer:
    """The worker's replay: one App advanced forward through the recorded inputs; a moment
    before the current one is reached by building the App again and replaying from frame 0
    (the App has no state restore, and a replay from the start is what ``vrmed replay`` checks)."""

    def __init__(self, pack: Any, header: dict[str, Any], width: int, height: int, samples: int) -> None:
        self.pack, self.header = pack, header
        self.size = (width, height, samples)
        self.inputs: dict[int, Any] = {}
        self.horizon = 0
        self.session: Any = None
        self.snapper: _Snapper | None = None

    def _build(self) -> None:
        self.close()
        header = self.header
        settings = SimSettings.from_header(header) if "rates" in header else None
        self.session = build_session(
            self.pack,
            header["scenario"],
            seed=int(header["seed"]),
            input_source=ReplayInput(self.inputs),  # the same dict: inputs sent later are seen
            display_rate=None if settings is not None else Fraction(str(header.get("display_rate", "90"))),
            settings=settings,
            learner=str(header.get("learner", "scripted")),
            mode=str(header.get("mode", "exam")),
        )
        self.snapper = _Snapper(*self.size)
        app = self.session.app
        app.add_plugin(RenderPlugin(self.size[0], self.size[1], every=_NEVER, samples=1))
        app.add_plugin(self.snapper)

    def snapshot(self, frame: int, views: dict[str, str], watch: list[str]) -> dict[str, Any]:
        """Replay up to the end of display frame ``frame`` - 1 (the state after ``frame``
        frames, at ``frame`` / rate s) and draw every member's view there."""
        c0 = time.perf_counter()
        rebuilt = self.session is None or self.session.app.clock.frame >= frame
        if rebuilt:
            self._build()
        app, snapper = self.session.app, self.snapper
        assert snapper is not None
        while app.clock.frame < frame:
            if app.clock.frame >= self.horizon:
                raise VrmedError(f"frame {app.clock.frame} has not been recorded yet")
            if app.clock.frame == frame - 1:  # its render stage draws the state at the frame's end
                snapper.want = views
            app.step(1)
        names = set(watch)
        entities = {n.value: e for e, n in app.query(Name) if n.value in names}
        replayed = self.session.recorder.log.event_records()
        return {
            "images": snapper.images,
            "watch": watch_values(app, {n: entities[n] for n in watch if n in entities}),
            "replay_s": time.perf_counter() - c0,
            "rebuilt": rebuilt,
            "events": len(replayed),
            "hash": records_hash(replayed),
        }

    def close(self) -> None:
        """Release the replay App (and its GL objects)."""
        if self.session is not None:
            self.session.close()
            self.session = None


def worker(conn: Any, pack_root: str, pack_source: str, header: dict[str, Any], size: tuple[int, int, int]) -> None:
    """The debrief worker process: answers ``("snap", frame, views, watch)`` requests with
    ``("ok", snapshot dict)`` or ``("error", message)``; ``("inputs", {frame: sample},
    horizon)`` extends the recorded inputs; None ends it."""
    replayer = None
    with contextlib.suppress(OSError, AttributeError):  # (no nice() on Windows)
        os.nice(WORKER_NICE)  # the live simulation shares the cores: it comes first
    try:
        pack = load_pack(pack_root, pack_source)
        replayer = _Replayer(pack, header, *size)
        conn.send(("ready", None))
        while True:
            msg = conn.recv()
            if msg is None:
                return
            if msg[0] == "inputs":
                replayer.inputs.update(msg[1])
                replayer.horizon = int(msg[2])
                continue
            try:
                conn.send(("ok", replayer.snapshot(msg[1], msg[2], msg[3])))
            except VrmedError as exc:
                conn.send(("error", str(exc)))
    except (EOFError, KeyboardInterrupt, BrokenPipeError):
        return
    except Exception as exc:  # noqa: BLE001 (anything else is reported to the console, not lost)
        with contextlib.suppress(OSError):
            conn.send(("error", f"the debrief worker failed: {type(exc).__name__}: {exc}"))
    finally:
        if replayer is not None:
            replayer.close()


__all__ = [
    "PeoplePass",
    "ViewCapture",
    "draw_member_views",
    "head_camera",
    "recorded_views",
    "render_views",
    "worker",
]
