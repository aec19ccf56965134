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

``vrmed team-views LOG --at 30 --at 95 --out views/`` is the command line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..app import App
from ..components.scene.render import Camera, Light
from ..errors import VrmedError
from ..geometry import quat_rotate
from ..input import InputState, ReplayInput
from ..recording import SessionLog
from ..render.context import create_context
from ..render.drawlist import DrawList
from ..render.passes import PassContext, RenderPipeline, RenderTarget
from ..render.plugin import RenderPlugin
from ..render.png import write_png
from ..render.renderer import Renderer
from ..session import ReplayResult, build_session, pack_for_log
from ..settings import SimSettings
from .desktop import HAND_RADIUS, HEAD_RADIUS, ROLE_COLOURS

#: The vertical field of view of a member's view (degrees): a desktop window's default
#: camera and a typical headset's per-eye vertical field are both about this.
VIEW_FOV_DEG = 60.0
_NEVER = 1 << 40


def recorded_views(log: SessionLog) -> dict[str, str]:
    """Every client whose head pose the log records: {client: role}."""
    found: dict[str, str] = {}
    for rec in log.inputs.values():
        for name in rec["data"]:
            parts = name.split("/")
            if len(parts) == 3 and parts[2] == "head":
                found.setdefault(parts[1], parts[0])
    return dict(sorted(found.items()))


def head_camera(position: Any, orientation: Any) -> Camera:
    """The look-at camera of a head pose (position m, unit quaternion w-x-y-z): it looks
    along the head's -Z with the head's +Y up (the OpenXR and OpenGL view convention)."""
    p = np.asarray(position, float)
    forward = quat_rotate(orientation, [0.0, 0.0, -1.0])
    up = quat_rotate(orientation, [0.0, 1.0, 0.0])
    return Camera(position=p.copy(), target=p + np.asarray(forward), up=np.asarray(up), fov_deg=VIEW_FOV_DEG)


class PeoplePass:
    """Scene pass: every team member except :attr:`viewer` as spheres (head, hands) at the
    poses the App's input holds (in a replay: exactly the recorded ones)."""

    name = "team.people"
    phase = "scene"

    def __init__(self) -> None:
        self.viewer: str | None = None

    def draw(self, ctx: PassContext) -> None:
        """Draw the other members."""
        centres, radii, colours = [], [], []
        for name, dev in ctx.app.resource(InputState).devices.items():
            parts = name.split("/")
            if len(parts) != 3 or parts[1] == self.viewer:
                continue
            centres.append(np.asarray(dev.position, float))
            radii.append(HEAD_RADIUS if parts[2] == "head" else HAND_RADIUS)
            colours.append(ROLE_COLOURS.get(parts[0], (0.6, 0.6, 0.6, 1.0)))
        if centres:
            ctx.renderer.draw_spheres(np.array(centres), np.array(radii), np.array(colours, float))


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
        inputs = app.resource(InputState)
        lights = app.query(Light)
        target = self._render_target()
        pipeline = app.resource(RenderPipeline)
        assert self._people is not None
        for client, role in self.views.items():
            head = inputs.devices.get(f"{role}/{client}/head")
            if head is None:  # not joined yet at this time (or never sent a pose): nothing to show
                continue
            self._people.viewer = client
            target.draw_scene(
                app,
                pipeline,
                "main",
                lights[0][1] if lights else Light(),
                camera=head_camera(head.position, head.orientation),
            )
            path = self.out_dir / f"{client}-t{t:08.2f}.png"
            write_png(path, np.ascontiguousarray(target.renderer.read()))
            self.written.setdefault(client, []).append(path)
        self._people.viewer = None

    def _render_target(self) -> RenderTarget:
        if self._target is None:
            ctx = create_context(self.backend)
            self._target = RenderTarget(
                Renderer(ctx, self.width, self.height, samples=min(self.samples, ctx.max_samples))
            )
        return self._target

    def cleanup(self, app: App) -> None:
        """Release the GL objects."""
        if self._target is not None:
            ctx = self._target.renderer.ctx
            self._target.release()
            ctx.release()
            self._target = None


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


__all__ = ["PeoplePass", "ViewCapture", "head_camera", "recorded_views", "render_views"]
