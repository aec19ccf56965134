"""The headset play loop: pause, restart and choose a scenario without taking the headset off.

:class:`HeadsetPlay` runs the sessions of ``vrmed run PACK/SCENARIO --input openxr`` one
after another in **one** OpenXR session (the :class:`~vrmed.xr.input.XrInputSource` is kept
open between them, :attr:`~vrmed.xr.input.XrInputSource.keep_open`):

- **pause**: holding a controller's menu button for :data:`LONG_PRESS_S` (its short press
  still toggles the action menu) queues ``menu.close`` and ``session.pause`` into the next
  sample, and that frame runs (``SessionPaused`` is recorded by ``learner.menu``). Then the
  simulation does not advance: the loop keeps beginning and ending XR frames (the runtime
  must get frames or it shows the app as hung), redraws the render stage (eyes and panels,
  which never change simulation state) and shows the *session menu*, a world-space panel
  in front of the learner laid out like the action menu (:func:`~vrmed.xr.pointer.menu_layout`):
  Resume, Restart, Choose scenario, End session. A controller ray and the trigger choose a
  row; the menu button resumes; the secondary button (B/Y) goes back.
- **resume**: once every trigger and menu button is released (so the press that chose
  Resume does not also pick what the ray rests on), ``session.resume`` goes into the next
  sample. The samples read while paused are never recorded, so the log holds the same
  frames whether or not the learner paused, and ``vrmed replay`` pauses and resumes at the
  same frames (the commands are recorded with them).
- **restart** and **choose scenario**: the attempt's log is finished and written
  (``--record out.jsonl`` writes attempt 2 to ``out-2.jsonl``, like the desktop), the
  session is closed without closing the XR session, and a new session (the same scenario,
  or the one chosen from the pack's list) is built on the same source.
- when an attempt ends (the scenario's end, its time limit, or its duration) and the run
  is interactive (``wait_at_end``), the session menu opens with Try again / Choose another
  scenario / Quit; the guidance panel shows the result meanwhile.

Samples read while the menu is shown skip the instrument clutch (a squeeze during a pause
does not move an instrument).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import VrmedError
from ..geometry import quat_rotate
from ..input import InputPlugin, InputState
from ..render.drawlist import DrawList
from ..scenario.learner import LearnerView, MenuState
from ..schedule import rerun_render_stage
from ..settings import SimSettings
from .input import InstrumentClutch, XrInputSource, _start_poses, instrument_hands, place_at_viewpoint
from .interface import AIM_DEVICE, CONTROLLER_DEVICE, HANDS, HEAD
from .panels import HeadsetPanels
from .pointer import MENU_ROWS, PRESS_OFF, PRESS_ON, RAY_AXIS, Panel, menu_layout, menu_panel

#: How long a menu button is held to open the session menu (s): long enough not to be a
#: press of the action-menu toggle, short enough to reach at once (Meta's Quest system menu
#: uses a hold of the same order for recentring).
LONG_PRESS_S = 0.8

#: ``build(scenario name, source, attempt)`` -> a new Session on ``source``.
BuildSession = Callable[[str, XrInputSource, int], Any]


def attempt_path(record: Path | None, attempt: int) -> Path | None:
    """Where attempt ``attempt`` (1-based) is recorded: ``record``, then ``stem-2.ext``...
    (the naming of :func:`vrmed.desktop.play.attempt_path`)."""
    if record is None or attempt <= 1:
        return record
    return record.with_name(f"{record.stem}-{attempt}{record.suffix}")


@dataclass
class SessionMenu:
    """The session menu as shown: its panel, title, rows ``(label, value)``, the Back row's
    label, and the rows the controller rays are on (``menu.choose:<n>`` / ``menu.back``)."""

    panel: Panel
    title: str
    items: list[tuple[str, str]]
    back_label: str = "< Back"
    aimed: frozenset[str] = frozenset()

    def content_key(self) -> Any:
        """What the panel shows (it is redrawn only when this changes)."""
        return (self.panel, self.title, tuple(self.items), self.back_label, self.aimed)

    def row_at(self, origin: Any, direction: Any) -> str | None:
        """The row a ray points at (``menu.choose:<n>``, ``menu.back``), or None."""
        hit = self.panel.hit(origin, direction)
        if hit is None:
            return None
        for command, top, bottom in menu_layout(len(self.items)):
            if top <= hit[2] < bottom:
                return command
        return None


@dataclass
class HeadsetPlay:
    """Plays ``session`` (already built on an :class:`XrInputSource`, recording to ``record``
    if given) and the sessions the learner starts from the session menu (module docstring).

    ``build`` makes each next session; ``frames``/``seconds`` limit every attempt (default:
    its scenario's duration; without one, until it ends); ``wait_at_end`` opens the session
    menu when an attempt ends instead of returning; ``progress(n)`` is called after each
    simulated frame; ``max_idle_frames`` bounds the XR frames of one menu visit (a
    :class:`~vrmed.errors.VrmedError` past it; tests use it so a missed press cannot hang).
    After :meth:`run`, :attr:`session` is the last session (not finished: the caller
    finishes and closes it, which closes the XR session) and :attr:`record` its log path.
    """

    pack: Any
    session: Any
    build: BuildSession
    record: Path | None = None
    frames: int | None = None
    seconds: float | None = None
    wait_at_end: bool = True
    progress: Callable[[int], None] | None = None
    echo: Callable[[str], None] = print
    max_idle_frames: int | None = None
    #: Logs of the attempts finished and written by the loop (not the last one).
    logs: list[Path] = field(default_factory=list)
    attempts: int = 1
    #: How the last attempt stopped: "ended", "quit" (End session / Quit).
    reason: str = ""
    pauses: int = 0
    #: XR frames begun and ended while the simulation did not advance (menus, pauses).
    idle_frames: int = 0
    #: The session menu currently shown (None when none is).
    menu: SessionMenu | None = None

    def __post_init__(self) -> None:
        self.source: XrInputSource = _xr_source(self.session)
        self._base_record = self.record  # attempt N is recorded to attempt_path(this, N)

    # -- the attempts ----------------------------------------------------------------------------
    def run(self) -> int:
        """Play until the learner quits or an attempt ends (``wait_at_end`` False); returns
        the frames the last attempt ran. :class:`~vrmed.xr.interface.XrSessionEnded`
        propagates (the headset quit or was lost): :attr:`session` is then the attempt it
        stopped, ready to be finished."""
        self.source.keep_open = True
        try:
            while True:
                frames, outcome = self._attempt()
                if outcome in ("ended", "quit"):
                    self.reason = outcome
                    return frames
                name = self.session.scenario.name if outcome == "restart" else outcome.split(":", 1)[1]
                self._next(name)
        finally:
            self.source.keep_open = False

    def _next(self, name: str) -> None:
        """Finish and write this attempt's log, close its session (not the XR session), and
        build the next attempt on the same source."""
        old, path = self.session, self.record
        log = old.finish()
        if path is not None:
            if not old.recorder.streaming:
                log.write(path)
            self.logs.append(path)
        where = f"; log written to {path}" if path is not None else ""
        self.echo(
            f"{old.scenario.title}: attempt {self.attempts} stopped at {float(old.app.clock.frame_time):.1f} s{where}"
        )
        old.recorder.close()
        old.close()
        self.attempts += 1
        scenario = self.pack.scenario(name)
        prepare_source(self.source, scenario)
        self.session = self.build(name, self.source, self.attempts)
        self.record = attempt_path(self._base_record, self.attempts)
        if self.record is not None:
            self.session.recorder.stream_to(self.record)

    def _limit(self) -> int | None:
        rate = float(self.session.app.resource(SimSettings).display_rate)
        if self.frames is not None:
            return self.frames
        if self.seconds is not None:
            return round(self.seconds * rate)
        duration = self.session.scenario.duration
        return None if duration is None else round(duration * rate)

    def _attempt(self) -> tuple[int, str]:
        """Run the current session until it ends or the learner leaves it from the menu."""
        app = self.session.app
        rate = float(app.resource(SimSettings).display_rate)
        hold = max(1, math.ceil(LONG_PRESS_S * rate))
        limit = self._limit()
        if limit is None and app.try_resource(LearnerView) is None:  # nothing would ever end it
            raise VrmedError(f"scenario {self.session.scenario.name!r} has no duration; give --frames or --seconds")
        held = dict.fromkeys(HANDS, 0)
        frames = 0
        clear_draws = keep_draws(app)
        while True:
            view = app.try_resource(LearnerView)
            if (view is not None and view.ended) or (limit is not None and frames >= limit):
                if not self.wait_at_end:
                    return frames, "ended"
                return frames, self._menu(ended=True)
            clear_draws()
            app.step(1)
            frames += 1
            if self.progress is not None:
                self.progress(frames)
            inputs = app.resource(InputState)
            for hand in HANDS:
                dev = inputs.devices.get(CONTROLLER_DEVICE[hand]) or inputs.devices.get(hand)
                held[hand] = held[hand] + 1 if dev is not None and dev.button("menu") >= PRESS_ON else 0
            if max(held.values()) < hold:
                continue
            held = dict.fromkeys(HANDS, 0)
            menu = app.try_resource(MenuState)
            # the hold's first press opened the action menu: close it, and pause, in one frame
            self.source.pending_commands += [
                *(["menu.close"] if menu is not None and menu.open else []),
                "session.pause",
            ]
            clear_draws()
            app.step(1)  # the frame that records the pause
            frames += 1
            self.pauses += 1
            if self.progress is not None:
                self.progress(frames)
            choice = self._menu(ended=False)
            if choice != "resume":
                return frames, choice
            self.source.pending_commands.append("session.resume")  # recorded with the next frame

    # -- the session menu ------------------------------------------------------------------------
    def _menu(self, *, ended: bool) -> str:
        """Show the session menu until a choice: "resume", "restart", "choose:<scenario>",
        "quit". Every iteration submits one XR frame; the simulation does not advance."""
        top: list[tuple[str, str]] = (
            [("Try again", "restart"), ("Choose another scenario", "choose"), ("Quit", "quit")]
            if ended
            else [("Resume", "resume"), ("Restart this scenario", "restart"), ("Choose a scenario", "choose"),
                  ("End session", "quit")]
        )  # fmt: skip
        title = "Session ended" if ended else "Paused"
        level, page = "top", 0
        names = sorted(self.pack.scenarios)
        # presses still held from before the menu opened must be released before they count
        pressed = {(h, b): True for h in HANDS for b in ("trigger", "menu", "secondary")}
        leaving: str | None = None  # a choice made, returned once the hands let go
        visits = 0
        sample: dict[str, Any] = {}
        while True:
            if self.menu is None:  # in front of the head where it opens (the recorded one, else the live one)
                head = self.session.app.resource(InputState).devices.get(HEAD)
                pose = (head.position, head.orientation) if head is not None else None
                if pose is None and HEAD in sample:
                    pose = (sample[HEAD]["position"], sample[HEAD]["orientation"])
                if pose is not None:
                    self.menu = SessionMenu(menu_panel(*pose), title, top, "Quit" if ended else "Resume")
            sample = self._idle_frame()
            visits += 1
            if self.max_idle_frames is not None and visits > self.max_idle_frames:
                raise VrmedError(f"the headset session menu got no choice in {self.max_idle_frames} frames")
            if self.menu is None:
                continue  # nothing tracked yet: nowhere to put the panel
            aimed: set[str] = set()
            chosen: str | None = None
            for hand in HANDS:
                dev = sample.get(CONTROLLER_DEVICE[hand]) or sample.get(hand)
                if dev is None or "position" not in dev:
                    continue
                aim = sample.get(AIM_DEVICE[hand]) or dev
                row = self.menu.row_at(aim["position"], quat_rotate(aim["orientation"], RAY_AXIS))
                if row is not None:
                    aimed.add(row)
                buttons = dev.get("buttons", {})
                for button in ("trigger", "menu", "secondary"):
                    amount = float(buttons.get(button, 0.0))
                    if not pressed[(hand, button)] and amount >= PRESS_ON:
                        pressed[(hand, button)] = True
                        if chosen is None and leaving is None:
                            chosen = {"trigger": row, "menu": "menu.back" if not ended else None,
                                      "secondary": "menu.back"}[button]  # fmt: skip
                    elif pressed[(hand, button)] and amount <= PRESS_OFF:
                        pressed[(hand, button)] = False
            self.menu.aimed = frozenset(aimed)
            if leaving is not None:
                # wait for the hands to let go of what chose it: a trigger still held in the
                # next session's first frame would be a press there (a pick, a menu choice)
                if all(not pressed[(h, b)] for h in HANDS for b in ("trigger", "menu")):
                    self._close_menu()
                    return leaving
                continue
            if chosen is None:
                continue
            if chosen == "menu.back":
                if level == "scenarios":
                    level = "top"
                    self._show(title, top, "Quit" if ended else "Resume")
                    continue
                value = "quit" if ended else "resume"
            else:
                value = self.menu.items[int(chosen.split(":")[1]) - 1][1]
            if value == "choose":
                level, page = "scenarios", 0
                self._show("Choose a scenario", self._page(names, page), "< Back")
            elif value == "more":
                page += 1
                self._show("Choose a scenario", self._page(names, page), "< Back")
            elif value.startswith("scenario:"):
                leaving = "choose:" + value.split(":", 1)[1]
            else:  # resume, restart, quit
                leaving = value

    def _page(self, names: list[str], page: int) -> list[tuple[str, str]]:
        """One page of the scenario list: up to MENU_ROWS rows, the last "More..." if needed."""
        per = MENU_ROWS if len(names) <= MENU_ROWS else MENU_ROWS - 1
        start = (page % math.ceil(len(names) / per)) * per  # "More..." on the last page wraps to the first
        rows = [(self.pack.scenarios[n].title, f"scenario:{n}") for n in names[start : start + per]]
        if len(names) > MENU_ROWS:
            rows.append(("More...", "more"))
        return rows

    def _show(self, title: str, items: list[tuple[str, str]], back: str) -> None:
        assert self.menu is not None
        self.menu = SessionMenu(self.menu.panel, title, items, back)

    def _close_menu(self) -> None:
        self.menu = None
        panels = self.session.app.try_resource(HeadsetPanels)
        if panels is not None:
            panels.session_menu = None

    def _idle_frame(self) -> dict[str, Any]:
        """Begin an XR frame and read the controllers (not recorded: the App does not step),
        draw the render stage (eyes, panels, the session menu) and end the frame."""
        app = self.session.app
        clutch, self.source.clutch = self.source.clutch, None
        try:
            sample = self.source.sample(float(app.clock.frame_time), int(app.clock.frame))
        finally:
            self.source.clutch = clutch
        self.idle_frames += 1
        panels = app.try_resource(HeadsetPanels)
        if panels is not None:
            panels.session_menu = self.menu
        redraw(app)
        self.source.end_open_frame()  # headless or not rendering: nothing else ends it
        if not sample:
            time.sleep(0.01)  # the runtime is not running the session (headset off): do not spin
        return sample


def redraw(app: Any) -> None:
    """Present the frame that ran last again, leaving the simulation as it is: the render
    stage's systems, except

    - those of the ``render.prepare`` set: they turn simulation state into draw data, and
      some also advance display state with the clock (a monitor appending trace samples up
      to the clock's time, rounding to whole samples, so a second call at the same time can
      append one more): run again they would change the state a replay checks. Their draw
      data of the last frame is kept in the DrawList (:class:`HeadsetPlay` clears it before
      each simulated frame instead of ``xr.scene.clear`` after it) and drawn again;
    - ``xr.scene.clear`` (see above).

    The clock reads as in that frame's render stage while they run."""
    rerun_render_stage(app, lambda spec: "render.prepare" not in spec.sets and spec.name != "xr.scene.clear")


def keep_draws(app: Any) -> Callable[[], None]:
    """Stop ``xr.scene.clear`` from emptying the DrawList after each frame, so the last
    frame's draw data stays for :func:`redraw`; returns what empties it (call it before
    each simulated frame, where the renderer's own clear would have left it empty)."""
    for spec in app.schedule.stages["render"].systems:
        if spec.name == "xr.scene.clear":
            spec.func = _no_clear
    draws = app.try_resource(DrawList)
    return draws.clear if draws is not None else _no_op


def _no_clear(app: Any) -> None:
    """Stands in for ``xr.scene.clear`` in a headset play loop (:func:`keep_draws`)."""


def _no_op() -> None:
    pass


def _xr_source(session: Any) -> XrInputSource:
    source = session.app.resource(InputPlugin).source
    if not isinstance(source, XrInputSource):
        raise VrmedError("the headset play loop needs a session on --input openxr (an XrInputSource)")
    return source


def prepare_source(source: XrInputSource, scenario: Any) -> None:
    """Set ``source`` up for a new session of ``scenario`` in the same XR session: the
    instrument clutch of its hands at their start poses (none when it has no instrument),
    and on a real runtime the learner stood at its viewpoint (as ``open_openxr_input`` does)."""
    hands = instrument_hands(scenario)
    if hands:
        source.clutch = InstrumentClutch(hands, _start_poses(scenario, hands))
    else:
        source.clutch = None
    if source.comfort is not None:
        from . import sim  # deferred: imports pyopenxr, already loaded by an open XR session

        if sim.configured() is None:
            place_at_viewpoint(source.comfort, scenario)


__all__ = ["LONG_PRESS_S", "HeadsetPlay", "SessionMenu", "attempt_path", "keep_draws", "prepare_source", "redraw"]
