"""The interactive desktop run loop: a person plays a scenario in a window.

:func:`play` runs sessions one after another in one window until the person quits:

- frames are paced to real time (``speed`` times real time; tests use a faster pace for
  the long stretches of a scenario, the input path itself unchanged);
- pause (F5): the frame carrying the ``session.pause`` command runs (``SessionPaused``
  is recorded), then the simulation does not advance until resumed; the window keeps
  drawing the pause screen;
- restart (F8) and choose a scenario (F2, or no scenario given): the attempt's log is
  finished and written, and a new session starts (``--record out.jsonl`` writes attempt 2
  to ``out-2.jsonl``, and so on);
- the session ends when ``LearnerView.ended`` (the scenario ended, an ``end_on`` event, the
  time limit), or after ``max_frames``; the end screen shows the result (the pack's score or
  the rubric's) until a key is pressed;
- closing the window, Esc and Ctrl+C finish and write the log (nothing lost) and print one
  line saying so.

Input-to-photon latency: every key or button press is stamped when GLFW delivers it
(:attr:`DesktopInput.event_marks`) and paired with the time the frame whose sample carries
it has been presented (the window's buffer swap, the last thing of the frame);
:attr:`PlayResult.latencies_ms` holds the figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..app import App
from ..errors import VrmedError
from ..input import InputPlugin
from ..render.learner_hud import DesktopOverlay
from ..render.plugin import RenderPlugin, main_camera
from ..render.window import Window, open_window
from ..scenario.learner import LearnerView
from ..schedule import rerun_render_stage
from ..settings import SimSettings
from .bindings import Bindings, load_bindings
from .source import DesktopInput

if TYPE_CHECKING:  # pragma: no cover
    from ..packs.model import Pack

#: Redraw rate of the pause, chooser and end screens (Hz): the simulation does not advance.
IDLE_REDRAW_HZ = 30.0


@dataclass
class PlayResult:
    """What a play run did: the last session (finished and closed), why it stopped, the
    logs written, frames run in the last attempt, and the measured input latencies (ms)."""

    session: Any = None
    reason: str = ""
    logs: list[Path] = field(default_factory=list)
    frames: int = 0
    attempts: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    result_lines: list[str] = field(default_factory=list)
    timings: dict[str, dict[str, float]] = field(default_factory=dict)


def attempt_path(record: Path | None, attempt: int) -> Path | None:
    """Where attempt ``attempt`` (1-based) is recorded: ``record``, then ``stem-2.ext``..."""
    if record is None or attempt <= 1:
        return record
    return record.with_name(f"{record.stem}-{attempt}{record.suffix}")


def result_lines(pack: Pack, session: Any, log: Any) -> list[str]:
    """The end screen: why it ended, and the pack's score or the rubric's result."""
    lines: list[str] = []
    view = session.app.try_resource(LearnerView)
    lines.append(f"Session ended: {view.end_reason}" if view is not None and view.end_reason else "Session ended")
    summary = pack.summary(session.app)
    if "score" in summary:
        passed = summary.get("passed")
        verdict = "" if passed is None else ("  PASS" if passed else "  NOT PASSED")
        top = f" / {summary['max_score']:g}" if isinstance(summary.get("max_score"), (int, float)) else ""
        lines.append(f"Score {summary['score']:.1f}{top}{verdict}")
    rubric = session.scenario.rubric
    if rubric is not None:
        # deferred: the rubric module is only needed at the end of a scenario with a rubric
        from ..scenario.rubric import evaluate_rubric

        end = float((log.footer or {}).get("sim_time", session.app.clock.frame_time))
        res = evaluate_rubric(rubric, log.event_records(), end)
        lines.append(
            f"Rubric {res.score:.0f} / 100 (pass {res.pass_score:g}){'  PASS' if res.passed else '  NOT PASSED'}"
        )
        failed = [r for r in res.rules if not r.passed and r.applicable]
        for r in failed[:4]:
            lines.append(f"  missed: {r.description or r.id}"[:110])
    lines.append("Enter/Esc quit    F8 try again    F2 choose another scenario")
    return lines


class _Stop(Exception):
    """Leaves the frame loop (the reason is in ``args[0]``)."""


def play(
    pack: Pack,
    scenario: str | None,
    window: Window,
    build: Callable[[str, DesktopInput, int], Any],
    *,
    bindings: Bindings | None = None,
    record: Path | None = None,
    speed: float = 1.0,
    max_frames: int | None = None,
    on_frame: Callable[[Any, DesktopInput], None] | None = None,
    echo: Callable[[str], None] = print,
    wait_at_end: bool = True,
    pad: Callable[[], Any] | None = None,
    render_every: int = 1,
    samples: int = 4,
) -> PlayResult:
    """Play ``pack``'s ``scenario`` (None: choose in the window) in ``window``.

    ``build(scenario, source, attempt)`` makes a session with ``source`` as its input (the
    CLI passes ``vrmed.session.build_session`` with the seed, mode and learner); the play
    loop adds the window's renderer, records to :func:`attempt_path` and runs it. ``speed``
    scales the pacing (1 = real time); ``max_frames`` ends an attempt early; ``on_frame(
    session, source)`` is called after every frame and every idle redraw (a test seam:
    it may send OS events); ``wait_at_end`` shows the end screen until a key; ``pad``
    replaces the gamepad reader (tests); ``render_every`` draws every Nth frame (tests on
    software GL; input is still read every frame) with ``samples`` MSAA samples."""

    result = PlayResult()
    names = sorted(pack.scenarios)
    chosen = scenario
    attempt = 0
    while True:
        attempt += 1
        if chosen is None:
            chosen = _choose(pack, names, window, on_frame, echo)
            if chosen is None:
                result.reason = result.reason or "quit"
                return result
        source = DesktopInput.for_scenario(pack.scenario(chosen), bindings)
        if pad is not None:
            source.read_gamepad = pad
        session = build(chosen, source, attempt)
        path = attempt_path(record, attempt)
        mono = RenderPlugin(window=window, every=render_every, samples=samples)
        app = session.app
        try:
            if path is not None:
                session.recorder.stream_to(path)
            app.add_plugin(mono)
            desk = DesktopOverlay()
            app.insert_resource(desk)
            source.attach(window, app, camera=partial(main_camera, app, mono.camera))
            reason = _run_attempt(session, source, window, desk, speed, max_frames, on_frame, echo, result)
        except KeyboardInterrupt:
            reason = "interrupted (Ctrl+C)"
        except BaseException:
            mono.window = None  # the window outlives the session
            session.recorder.close()
            session.close()
            raise
        log = session.finish()
        if path is not None:
            if not session.recorder.streaming:
                log.write(path)
            result.logs.append(path)
        result.session, result.reason, result.attempts = session, reason, attempt
        result.frames = app.clock.frame
        result.timings = app.timings()
        lines = result_lines(pack, session, log)
        result.result_lines = lines
        where = f"; log written to {path}" if path is not None else ""
        echo(f"{session.scenario.title}: {reason} after {float(app.clock.frame_time):.1f} s simulated{where}")
        next_step = "quit"
        if reason == "ended" and wait_at_end and not window.should_close:
            desk.end_lines = lines[1:] if len(lines) > 1 else lines
            source.paused = True
            next_step = _wait(window, source, app, desk, on_frame, session, ("quit", "restart", "choose"))
        elif reason in ("restart", "choose"):
            next_step = reason
        mono.window = None  # keep the window for the next attempt; the session's GL objects go
        session.recorder.close()
        session.close()
        if next_step == "quit" or window.should_close:
            return result
        chosen = chosen if next_step == "restart" else None


def _run_attempt(
    session: Any,
    source: DesktopInput,
    window: Window,
    desk: Any,
    speed: float,
    max_frames: int | None,
    on_frame: Callable[[Any, DesktopInput], None] | None,
    echo: Callable[[str], None],
    result: PlayResult,
) -> str:
    app = session.app
    rate = float(app.resource(SimSettings).display_rate)
    period = 1.0 / (rate * speed)
    view = app.try_resource(LearnerView)
    limit = max_frames
    if view is None and session.scenario.duration is not None:  # nothing else says when it ends
        limit = min(limit or 1 << 62, round(session.scenario.duration * rate))
    desk.active_instrument = source.hands[source.active] if source.hands else ""
    paused = False
    frames = 0
    clock0 = time.perf_counter()
    shown = 0
    last_draw = 0.0
    while True:
        window.poll()
        if window.should_close:
            return "window closed"
        for req in source.take_requests():
            if req == "quit":
                return "quit"
            if req in ("restart", "choose"):
                return req
            if req == "pause":
                if paused:
                    paused = source.paused = desk.paused = False
                    source.push_command("session.resume")
                    clock0 = time.perf_counter() - frames * period  # pacing resumes from now
                else:
                    source.push_command("session.pause")
                    app.step(1)  # the frame that records the pause
                    frames += 1
                    paused = source.paused = desk.paused = True
        while shown < len(source.notices):
            echo(f"note: {source.notices[shown]}")
            desk.notices.append(source.notices[shown])
            shown += 1
        if paused:
            now = time.perf_counter()
            if now - last_draw >= 1.0 / IDLE_REDRAW_HZ:
                redraw(app)
                last_draw = now
            if on_frame is not None:
                on_frame(session, source)
            time.sleep(0.005)
            continue
        if (view is not None and view.ended) or (limit is not None and frames >= limit):
            return "ended"
        app.step(1)
        frames += 1
        presented = time.perf_counter()
        done = app.clock.frame - 1
        while source.event_marks and source.event_marks[0][1] <= done:
            when, frame = source.event_marks.pop(0)
            if frame == done:
                result.latencies_ms.append((presented - when) * 1000.0)
        desk.active_instrument = source.hands[source.active] if source.hands else ""
        desk.cursor = source.cursor_pixels()
        if on_frame is not None:
            on_frame(session, source)
        delay = clock0 + frames * period - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        elif delay < -0.25:  # fell behind (a slow frame): do not try to catch up in a burst
            clock0 = time.perf_counter() - frames * period


def redraw(app: Any) -> None:
    """Draw the current frame again without advancing the simulation (pause, chooser and
    end screens): the render stage's systems, with the clock reading as it did in the last
    frame's render stage, so systems that follow the clock (the patient monitor's traces)
    see no time pass and change nothing a replay checks."""
    rerun_render_stage(app)


def _wait(
    window: Window,
    source: DesktopInput,
    app: Any,
    desk: Any,
    on_frame: Callable[[Any, DesktopInput], None] | None,
    session: Any,
    allowed: tuple[str, ...],
) -> str:
    """Show the end screen until a key: Enter/Esc quit, F8 restart, F2 choose."""
    while True:
        window.poll()
        if window.should_close:
            return "quit"
        for req in source.take_requests():
            if req in ("quit", "key:menu.select"):
                return "quit"
            if req in allowed:
                return req
        redraw(app)
        if on_frame is not None:
            on_frame(session, source)
        time.sleep(1.0 / IDLE_REDRAW_HZ)


def _choose(
    pack: Pack,
    names: list[str],
    window: Window,
    on_frame: Callable[[Any, DesktopInput], None] | None,
    echo: Callable[[str], None],
) -> str | None:
    """The in-window scenario chooser: the pack's scenarios over a dimmed view of the first;
    arrows + Enter or a number start one, Esc quits."""

    app = App()
    mono = RenderPlugin(window=window)
    source = DesktopInput()
    source.paused = True
    app.add_plugin(InputPlugin(source))
    app.add_plugin(mono)
    desk = DesktopOverlay(chooser_title=f"{pack.title}: choose a scenario", keys_hint="")
    desk.chooser = [f"{pack.scenarios[n].title}  ({n})" for n in names]
    app.insert_resource(desk)
    source.attach(window, app)
    app.startup()
    try:
        while True:
            window.poll()
            if window.should_close:
                return None
            for req in source.take_requests():
                if req == "quit":
                    return None
                if req == "key:menu.up":
                    desk.chooser_index = (desk.chooser_index - 1) % len(names)
                elif req == "key:menu.down":
                    desk.chooser_index = (desk.chooser_index + 1) % len(names)
                elif req == "key:menu.select":
                    return names[desk.chooser_index]
                elif req.startswith("key:menu.choose"):
                    i = int(req[len("key:menu.choose") :]) - 1
                    if 0 <= i < len(names):
                        return names[i]
            redraw(app)
            if on_frame is not None:
                on_frame(None, source)
            time.sleep(1.0 / IDLE_REDRAW_HZ)
    finally:
        mono.window = None
        app.close()


def run_desktop(
    pack: Pack,
    scenario: str | None,
    build_session: Callable[..., Any],
    *,
    seed: int = 0,
    record: Path | None = None,
    bindings_path: Path | None = None,
    mode: str = "formative",
    learner: str | None = None,
    max_frames: int | None = None,
    echo: Callable[[str], None] = print,
) -> PlayResult:
    """``vrmed run --input desktop``: open the window (a :class:`~vrmed.errors.VrmedError`
    naming the reason when none can be opened), load the key bindings (``bindings_path``,
    else the pack's ``bindings.yaml`` if it has one, else the defaults) and :func:`play`."""

    if bindings_path is None and (pack.root / "bindings.yaml").is_file():
        bindings_path = pack.root / "bindings.yaml"
    bindings = load_bindings(bindings_path)
    title = f"vrmed - {pack.title}" + (f" / {pack.scenarios[scenario].title}" if scenario in pack.scenarios else "")
    window, why = open_window(title=title)
    if window is None:
        raise VrmedError(
            f"--input desktop needs a window, and none can be opened ({why}); "
            f"run with --headless (scripted input) on a machine without a display"
        )

    def build(name: str, source: DesktopInput, attempt: int) -> Any:
        return build_session(pack, name, seed=seed, input_source=source, learner=learner, mode=mode)

    try:
        # with --frames/--seconds the run is timed, not played to its end: no end screen to dismiss
        return play(
            pack,
            scenario,
            window,
            build,
            bindings=bindings,
            record=record,
            max_frames=max_frames,
            echo=echo,
            wait_at_end=max_frames is None,
        )
    finally:
        window.close()


__all__ = ["IDLE_REDRAW_HZ", "PlayResult", "attempt_path", "play", "redraw", "result_lines", "run_desktop"]
