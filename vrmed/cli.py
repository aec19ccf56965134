"""The ``vrmed`` command line: run, packs, validate, new-pack, replay, bench, serve, join.

User mistakes (a bad pack, a missing file, a wrong option) print one clear message and
exit non-zero; a traceback means a bug in vrmed.
"""

from __future__ import annotations

import difflib
import io
import json
import math
import numbers
import os
import re
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from .bench import available_suites, format_table, parse_suite_args, run_suite
from .errors import VrmedError
from .input import InputPlugin
from .recording import SessionLog
from .scaffold import scaffold_pack
from .settings import SimSettings
from .version import __version__

#: Exit codes: 0 ok, 1 the thing checked is wrong (invalid pack, replay mismatch, user
#: error), 2 bad command-line usage (click's convention).
EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_FAIL)


class _Group(click.Group):
    """Turns VrmedError anywhere in a command into one message and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except VrmedError as exc:
            _fail(str(exc))


def _pack_path_option(help_text: str) -> Any:
    """``--pack PATH``: the pack folder to use instead of the installed pack a log names."""
    return click.option("--pack", "pack_path", type=click.Path(file_okay=False, path_type=Path), help=help_text)


def _headset_options(func: Any) -> Any:
    """The headset's comfort and reference options, one set shared by ``vrmed run --input
    openxr`` and ``vrmed join --input openxr`` (read by :func:`_comfort_settings`)."""
    options = (
        click.option(
            "--refresh-hz",
            type=click.FloatRange(min=0, min_open=True),
            help="Headset: target display refresh rate (default: the runtime's).",
        ),
        click.option(
            "--reference",
            type=click.Choice(["seated", "standing"]),
            default="standing",
            show_default=True,
            help="Headset: seated (LOCAL) or standing (STAGE) reference space.",
        ),
        click.option(
            "--snap-turn",
            type=click.FloatRange(min=0, max=180),
            default=30.0,
            show_default=True,
            help="Headset: snap-turn angle in degrees on a thumbstick flick (0 = off).",
        ),
        click.option(
            "--vignette",
            type=click.FloatRange(min=0, max=1),
            default=0.6,
            show_default=True,
            help="Headset: comfort vignette strength on artificial turning/motion (0 = off).",
        ),
    )
    for option in reversed(options):
        func = option(func)
    return func


def _comfort_settings(refresh_hz: float | None, reference: str, snap_turn: float, vignette: float) -> Any:
    """The :class:`~vrmed.xr.comfort.ComfortSettings` of the :func:`_headset_options` (a
    usage error when they do not fit together)."""
    from .xr.comfort import ComfortSettings  # deferred: the XR package is only needed with --input openxr

    try:
        return ComfortSettings(refresh_hz=refresh_hz, reference=reference, snap_turn_deg=snap_turn, vignette=vignette)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def _no_pack_code_option(help_text: str) -> Any:
    """``--no-pack-code`` (default on with ``VRMED_NO_PACK_CODE=1``, the kiosk setting)."""
    return click.option("--no-pack-code", is_flag=True, envvar="VRMED_NO_PACK_CODE", help=help_text)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vrmed")
def cli() -> None:
    """vrmed: build and run virtual-reality medical training simulators."""


@cli.command()
@click.argument("target")
@click.option(
    "--headless",
    is_flag=True,
    help="No desktop window (tests, CI, servers); --input openxr still renders to the headset.",
)
@click.option("--frames", type=click.IntRange(min=0), help="Number of display frames to run.")
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True), help="Simulated seconds to run.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the App's RNG.")
@click.option(
    "--record",
    "record",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the session log (JSON Lines) here.",
)
@click.option(
    "--input",
    "input_kind",
    metavar="KIND",
    default=None,
    help="Where device input comes from: scripted, desktop, openxr, haptic, none, or a kind the pack "
    "adds (rehab: webcam). Default: desktop (a person plays in a window) when run "
    "from a terminal with a display and without --headless/--json/--capture; else scripted.",
)
@click.option("--camera", type=click.IntRange(min=0), help="--input webcam: the camera's index (default 0).")
@click.option(
    "--video",
    type=click.Path(dir_okay=False, path_type=Path),
    help="--input webcam: a recorded video or animated image instead of a camera.",
)
@click.option(
    "--pose-model",
    type=click.Path(dir_okay=False, path_type=Path),
    help="--input webcam: the pose estimator's model file (MediaPipe pose_landmarker_*.task; docs/rehab.md).",
)
@click.option(
    "--bindings",
    "bindings_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Desktop: a key-binding YAML file laid over the default map (docs/input.md).",
)
@click.option(
    "--mode",
    type=click.Choice(["formative", "exam"]),
    default="formative",
    show_default=True,
    help="formative: live cues and guidance; exam: no feedback until the end (recorded in the log).",
)
@click.option(
    "--learner",
    "learner_kind",
    type=click.Choice(["scripted", "person"]),
    default=None,
    help="Who acts: the scenario's scripted learner, or a person (default: person for desktop/openxr input).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
@click.option("--trace", is_flag=True, help="Print scenario state transitions (t, from -> to, trigger) to stderr.")
@_no_pack_code_option("Run no code from packs (YAML-only packs); default on when VRMED_NO_PACK_CODE=1 (kiosks).")
@click.option(
    "--capture",
    type=click.Path(file_okay=False, path_type=Path),
    help="Render offscreen and write PNG frames into this folder.",
)
@click.option(
    "--capture-every",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="With --capture: write every Nth frame.",
)
@_headset_options
@click.option(
    "--watch",
    is_flag=True,
    help="Hot-reload the pack's YAML while running in real time (until Ctrl+C unless --frames/--seconds is given).",
)
@click.option(
    "--list",
    "list_only",
    is_flag=True,
    help="List the pack's scenarios (id, title, description, duration) and exit.",
)
def run(
    target: str,
    headless: bool,
    frames: int | None,
    seconds: float | None,
    seed: int,
    record: Path | None,
    input_kind: str,
    as_json: bool,
    no_pack_code: bool,
    watch: bool,
    capture: Path | None,
    capture_every: int,
    trace: bool = False,
    refresh_hz: float | None = None,
    reference: str = "standing",
    snap_turn: float = 30.0,
    vignette: float = 0.6,
    list_only: bool = False,
    bindings_path: Path | None = None,
    mode: str = "formative",
    learner_kind: str | None = None,
    camera: int | None = None,
    video: Path | None = None,
    pose_model: Path | None = None,
) -> None:
    """Run PACK[/SCENARIO] (a pack name or a path to a pack folder).

    Without SCENARIO it runs the pack's default scenario; a pack without one offers its
    scenarios (a prompt on a terminal, else the list and exit 2). --list lists them.
    """
    # deferred: keeps `vrmed --help` fast (the session loads the pack loader, jsonschema and YAML)
    from .session import build_session, open_target

    if frames is not None and seconds is not None:
        raise click.UsageError("give --frames or --seconds, not both")
    pack, scenario = open_target(target, allow_code=not no_pack_code)
    ctx = click.get_current_context()
    pack_arg = _pack_arg(target, pack)
    if list_only:
        _list_scenarios(pack, pack_arg, as_json)
        return
    if input_kind is None:  # a person at a display plays; CI, pipes and --headless stay scripted
        desk = not (headless or as_json or watch or capture is not None) and is_interactive() and _has_display()
        input_kind = "desktop" if desk else "scripted"
    if input_kind == "desktop":
        if headless:
            raise VrmedError("--input desktop plays in a window; drop --headless (or use --input scripted)")
        _run_desktop(ctx, pack, pack_arg, scenario, seed, record, bindings_path, mode, learner_kind, frames, seconds)
        return
    scenario, defaulted = _choose_scenario(ctx, pack, pack_arg, scenario, as_json)
    if defaulted and not as_json and len(pack.scenarios) > 1:
        click.echo(
            f"note: running {pack_arg}/{scenario}, the pack's default scenario; pick another with "
            f"`vrmed run {pack_arg}/SCENARIO` (`vrmed run {pack_arg} --list` lists them)",
            err=True,
        )
    comfort = None
    if input_kind == "openxr":
        comfort = _comfort_settings(refresh_hz, reference, snap_turn, vignette)
    session = build_session(
        pack,
        scenario,
        seed=seed,
        input_kind=input_kind,
        input_options={
            k: v for k, v in {"camera": camera, "video": video, "pose_model": pose_model}.items() if v is not None
        },
        comfort=comfort,
        trace=(lambda line: click.echo(line, err=True)) if trace else None,
        learner=learner_kind,
        mode=mode,
    )
    if record is not None:
        try:
            session.recorder.stream_to(record)  # written as it runs: a crash keeps the log so far
        except BaseException:
            session.close()
            raise
    window = None
    # --input openxr with a runtime: build_session added headset rendering in this GL context.
    xr_ctx = getattr(session.app.resource(InputPlugin).source, "gl_context", None)
    try:
        if not headless and xr_ctx is None:  # a desktop window if a display can be used, else one line and headless
            from .render.window import open_window  # deferred: the renderer only with a window or --capture

            window, why = open_window(title=f"vrmed - {pack.title} / {session.scenario.title} (Esc to quit)")
            if window is None:
                click.echo(f"note: no window ({why}); running headless", err=True)
        if capture is not None or window is not None:
            from .render import RenderPlugin  # deferred: RenderPlugin imports moderngl (GL)

            mono = RenderPlugin(
                capture_dir=capture,
                every=1 if window else capture_every,
                capture_every=capture_every,
                window=window,
                context=xr_ctx,
            )
            mono.clear_draws = xr_ctx is None  # with a headset, xr.present draws the list too and clears it
            session.app.add_plugin(mono)
        wall0 = time.perf_counter()
        if watch:
            done = _run_watching(session, frames, seconds)
        else:
            total = (
                frames
                if frames is not None
                else round(
                    (seconds if seconds is not None else (session.scenario.duration or 0))
                    * float(session.app.resource(SimSettings).display_rate)
                )
            )
            show = not as_json and sys.stderr.isatty() and total > 200
            from .render.window import WindowClosed  # deferred: the renderer only with a window or --capture
            from .xr.interface import XrSessionEnded  # deferred: the XR package only for run, not --help

            pace = window.pacer(float(session.app.resource(SimSettings).display_rate)) if window is not None else None
            with click.progressbar(
                length=total, label=f"{pack.name}/{session.scenario.name}", file=sys.stderr if show else open_null()
            ) as bar:

                def progress(n: int) -> None:
                    bar.update(1)
                    if pace is not None:
                        pace(n)  # real-time pacing; raises WindowClosed between frames on Esc/close

                play = None
                if input_kind == "openxr" and _is_headset(session):
                    # a headset: pause / restart / choose a scenario from the session menu
                    from .xr.play import HeadsetPlay  # deferred: the XR package only for run --input openxr

                    def build_next(name: str, src: Any, attempt: int) -> Any:
                        return build_session(
                            pack, name, seed=seed, input_source=src, comfort=comfort, learner=learner_kind, mode=mode,
                            trace=(lambda line: click.echo(line, err=True)) if trace else None,
                        )  # fmt: skip

                    play = HeadsetPlay(
                        pack, session, build_next, record=record, frames=frames, seconds=seconds,
                        wait_at_end=frames is None and seconds is None and not as_json, progress=progress,
                        echo=lambda line: click.echo(line, err=True),
                    )  # fmt: skip
                try:
                    done = play.run() if play else session.run(frames=frames, seconds=seconds, progress=progress)
                except WindowClosed:
                    done = session.app.clock.frame
                except XrSessionEnded as exc:  # headset quit or lost: keep and seal what ran
                    click.echo(f"vrmed: {exc}; the session stopped there and its log is closed", err=True)
                    done = (session if play is None else play.session).app.clock.frame
                finally:
                    if play is not None:  # the learner may have restarted or chosen another scenario
                        session, record = play.session, play.record
        wall = time.perf_counter() - wall0
        log = session.finish()  # a streamed log gets its end record and seal here
        if record is not None and not session.recorder.streaming:
            log.write(record)
        sim = float(session.app.clock.frame_time)
        result: dict[str, Any] = {
            "pack": pack.name,
            "pack_version": pack.version,
            "scenario": session.scenario.name,
            "seed": seed,
            "input": input_kind,
            "frames": done,
            "sim_seconds": sim,
            "wall_seconds": wall,
            "realtime_factor": sim / wall if wall > 0 else None,
            "events": session.event_counts(),
            "summary": pack.summary(session.app),
            "rubric": _rubric_result(session.scenario, log),
            "digest": log.footer["digest"] if log.footer else None,
            "record": str(record) if record else None,
            "timings_ms": {k: {"mean": v["mean_ms"], "p99": v["p99_ms"]} for k, v in session.app.timings().items()},
        }
    finally:
        session.recorder.close()  # after a crash: the log so far stays, unsealed (incomplete)
        session.close()
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(
        f"{pack.title} / {session.scenario.title}: {done} frames, {sim:.2f} s simulated in "
        f"{wall:.2f} s ({result['realtime_factor'] or 0:.1f}x real time), seed {seed}"
    )
    for name, count in result["events"].items():
        click.echo(f"  event {name}: {count}")
    for line in summary_lines(result["summary"]):
        click.echo(f"  {line}")
    if result["rubric"] is not None:
        from .scenario.scorecard import rubric_lines  # deferred: only for scenarios with a rubric

        for line in rubric_lines(result["rubric"]):
            click.echo(line)
    frame = result["timings_ms"]["frame"]
    click.echo(f"  frame time: mean {frame['mean']:.3f} ms, p99 {frame['p99']:.3f} ms")
    if record:
        click.echo(f"  session log: {record}")
    for line in _next_steps(ctx, pack, pack_arg, session.scenario.name, record):
        click.echo(line)


def _is_headset(session: Any) -> bool:
    """Whether ``session`` takes its input from an OpenXR headset (not a fallback)."""
    return type(session.app.resource(InputPlugin).source).__name__ == "XrInputSource"


def _has_display() -> bool:
    """Whether a desktop window could be shown (an X11 or Wayland display is set)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _run_desktop(
    ctx: click.Context,
    pack: Any,
    pack_arg: str,
    scenario: str | None,
    seed: int,
    record: Path | None,
    bindings_path: Path | None,
    mode: str,
    learner_kind: str | None,
    frames: int | None,
    seconds: float | None,
) -> None:
    """``vrmed run --input desktop``: a person plays in a window (vrmed.desktop.play); the
    in-window chooser offers the pack's scenarios when none was named."""
    # deferred: the desktop loop loads GLFW and the renderer; the session the pack loader
    from .desktop.play import run_desktop  # deferred: as above
    from .session import build_session  # deferred: as above

    if scenario is not None:
        scenario, _ = _choose_scenario(ctx, pack, pack_arg, scenario, False)
    elif len(pack.scenarios) == 1:
        scenario = next(iter(pack.scenarios))
    limit = frames
    if seconds is not None:
        limit = round(seconds * float(pack.scenario(scenario or sorted(pack.scenarios)[0]).sim_settings.display_rate))
    result = run_desktop(
        pack,
        scenario,
        build_session,
        seed=seed,
        record=record,
        bindings_path=bindings_path,
        mode=mode,
        learner=learner_kind,
        max_frames=limit,
        echo=lambda line: click.echo(line, err=True),
    )
    for line in result.result_lines[:-1]:
        click.echo(f"  {line}")
    frame = result.timings.get("frame")
    if frame:
        click.echo(f"  frame time: mean {frame['mean_ms']:.3f} ms, p99 {frame['p99_ms']:.3f} ms")
    if result.session is not None:
        last = result.logs[-1] if result.logs else None
        for line in _next_steps(ctx, pack, pack_arg, result.session.scenario.name, last):
            click.echo(line)


def _rubric_result(scenario: Any, log: Any) -> dict[str, Any] | None:
    """The scenario's rubric applied to the session just run (None without a rubric): the
    score a scenario gives itself, shown rule by rule."""
    if getattr(scenario, "rubric", None) is None:
        return None
    from .scenario.rubric import evaluate_rubric  # deferred: only for scenarios with a rubric

    end = float((log.footer or {}).get("sim_time", 0.0))
    return evaluate_rubric(scenario.rubric, log.event_records(), end).as_dict()


def is_interactive() -> bool:
    """True when a person can answer a prompt: stdin and stdout are terminals (not CI, a
    pipe or a file). The seam tests replace to simulate a terminal."""
    return sys.stdin.isatty() and sys.stdout.isatty()


#: Units of the conventional key suffixes of a pack's ``summary(app)`` values (the last
#: one or two ``_``-separated words of the key, lower-cased). ``count``: a whole number.
UNIT_SUFFIXES: dict[str, str] = {
    "s": "s",
    "sec": "s",
    "ms": "ms",
    "min": "min",
    "m": "m",
    "cm": "cm",
    "mm": "mm",
    "n": "N",
    "j": "J",
    "pct": "%",
    "percent": "%",
    "bpm": "bpm",
    "per_min": "/min",
    "hz": "Hz",
    "rad": "rad",
    "deg": "deg",
    "pa": "Pa",
    "kpa": "kPa",
    "mmhg": "mmHg",
    "kg": "kg",
    "mg": "mg",
    "ml": "mL",
    "mps": "m/s",
    "count": "count",
}


def unit_of(key: str) -> str | None:
    """The unit a summary key names by its suffix (``task_time_s`` -> ``s``), or None."""
    words = key.lower().split("_")
    if len(words) < 2:
        return None
    return UNIT_SUFFIXES.get("_".join(words[-2:])) or UNIT_SUFFIXES.get(words[-1])


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def format_number(value: Any) -> str:
    """A measured value rounded for reading: whole numbers without decimals, otherwise
    about four significant digits (13.4222 -> 13.42, 0.29575 -> 0.296, 124995.3 -> 124995)."""
    v = float(value)
    if not math.isfinite(v):
        return str(v)
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    a = abs(v)
    text = f"{v:.0f}" if a >= 1000 else f"{v:.1f}" if a >= 100 else f"{v:.2f}" if a >= 1 else f"{v:.3g}"
    return text.rstrip("0").rstrip(".") if "." in text and "e" not in text else text


def format_value(key: str, value: Any) -> str:
    """A summary value as ``value unit`` when its key names a unit and it is a number (or a
    list of numbers); anything else as printed before units existed."""
    unit = unit_of(key)
    if unit is None:
        return str(value)
    if _is_number(value):
        text = format_number(value)
    elif isinstance(value, list | tuple) and value and all(_is_number(v) for v in value):
        text = "[" + ", ".join(format_number(v) for v in value) + "]"
    else:
        return str(value)
    if unit == "count":
        return text
    return f"{text}%" if unit == "%" else f"{text} {unit}"


def summary_lines(summary: dict[str, Any], indent: str = "  ", targets: dict[str, Any] | None = None) -> list[str]:
    """A pack's end-of-run summary as ``name: value unit`` lines; a nested mapping (such as
    ``metrics``) one entry a line below its name, and a ``targets`` mapping shown beside
    the ``metrics`` it sets targets for (``targets`` here: those of this mapping's keys)."""
    own_targets, metrics = summary.get("targets"), summary.get("metrics")
    if not (isinstance(own_targets, dict) and isinstance(metrics, dict)):
        own_targets = metrics = None
    paired = metrics is not None
    lines: list[str] = []
    for key, value in summary.items():
        if paired and key == "targets":
            rest = {k: v for k, v in value.items() if k not in (metrics or {})}
            if rest:
                lines += [f"{key}:", *(indent + line for line in summary_lines(rest, indent))]
            continue
        if isinstance(value, dict) and value:
            inner = own_targets if paired and key == "metrics" else None
            lines += [f"{key}:", *(indent + line for line in summary_lines(value, indent, inner))]
            continue
        line = f"{key}: {format_value(key, value)}"
        if targets and key in targets:
            goal = targets[key]
            if isinstance(goal, dict) and "target" in goal:  # {target: N, better: lower|higher}
                word = {"lower": "at most", "higher": "at least"}.get(str(goal.get("better")), "target")
                line += f"  ({word} {format_value(key, goal['target'])})"
            else:
                line += f"  (target {format_value(key, goal)})"
        lines.append(line)
    return lines


def _pack_arg(target: str, pack: Any) -> str:
    """How to name the pack on a command line: its name, or the folder the user gave."""
    if pack.source != "path":
        return str(pack.name)
    path = Path(target)
    for folder in (path, path.parent, path.parent.parent):
        if (folder / "pack.yaml").is_file() and folder.resolve() == Path(pack.root).resolve():
            from .packs.discovery import explicit_path  # deferred: keeps `vrmed --help` fast (the pack loader)

            return explicit_path(folder)  # `./x`, never `x`: a bare word names an installed pack
    return str(pack.root)


def _command(ctx: click.Context, target: str, **options: Any) -> str:
    """``vrmed run TARGET`` with the options given on this command line (``options``
    replace or add some), ready to paste into a shell."""
    words = ["vrmed", "run", target]
    for param in ctx.command.params:
        name = param.name
        if not isinstance(param, click.Option) or name is None or name == "list_only":
            continue
        if name in options:
            value = options[name]
        elif ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE:
            value = ctx.params[name]
        else:
            continue
        opt = max(param.opts, key=len)
        if param.is_flag:
            words += [opt] if value else []
        elif value is not None:
            text = repr(value) if isinstance(value, float) else str(value)
            words += [opt, text[:-2] if text.endswith(".0") else text]
    return " ".join(shlex.quote(w) for w in words)


def _one_line(text: str, width: int = 90) -> str:
    """The first sentence of a description, cut at a word to ``width`` characters."""
    text = " ".join(text.split())
    first = re.split(r"(?<=[.!?])\s+(?=[A-Z])", text, maxsplit=1)[0]
    if len(first) <= width:
        return first
    return first[: width - 3].rsplit(" ", 1)[0].rstrip(",;:") + "..."


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "no set length"
    if seconds < 120:
        return f"{seconds:g} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min" + (f" {rest} s" if rest else "")


def scenario_lines(pack: Any) -> list[str]:
    """The pack's scenarios, numbered: id, duration, title (``[default]`` marked), and a
    one-line description below each."""
    names = sorted(pack.scenarios)
    width = max(len(n) for n in names)
    lines = [f"{pack.title} ({pack.name} {pack.version}): {len(names)} scenario(s)"]
    for i, name in enumerate(names, 1):
        sc = pack.scenarios[name]
        mark = "  [default]" if name == pack.default_scenario else ""
        lines.append(f"  {i:>2}. {name:<{width}}  {_duration(sc.duration):>12}  {sc.title}{mark}")
        if sc.description:
            lines.append(f"      {_one_line(sc.description)}")
    return lines


def _list_scenarios(pack: Any, pack_arg: str, as_json: bool) -> None:
    if as_json:
        click.echo(
            json.dumps(
                {
                    "pack": pack.name,
                    "title": pack.title,
                    "default_scenario": pack.default_scenario,
                    "scenarios": [
                        {
                            "id": n,
                            "title": pack.scenarios[n].title,
                            "description": " ".join(pack.scenarios[n].description.split()),
                            "duration": pack.scenarios[n].duration,
                            "run": f"vrmed run {pack_arg}/{n}",
                        }
                        for n in sorted(pack.scenarios)
                    ],
                },
                indent=2,
            )
        )
        return
    for line in scenario_lines(pack):
        click.echo(line)
    click.echo(f"run one with: vrmed run {shlex.quote(pack_arg)}/SCENARIO")


def _choose_scenario(
    ctx: click.Context, pack: Any, pack_arg: str, scenario: str | None, as_json: bool
) -> tuple[str, bool]:
    """The scenario to run and whether it is the pack's default. A named scenario the pack
    lacks is an error listing its scenarios with the closest name; no name and no default
    asks on a terminal and otherwise lists them and exits 2 with the command to run."""
    names = sorted(pack.scenarios)
    if scenario is not None:
        if scenario in pack.scenarios:
            return scenario, False
        close = difflib.get_close_matches(scenario, names, n=1, cutoff=0.5)
        guess = f"; did you mean {close[0]!r}?\n  {_command(ctx, f'{pack_arg}/{close[0]}')}" if close else ""
        lines = [f"error: pack {pack.name!r} has no scenario {scenario!r}{guess}", *scenario_lines(pack)]
        click.echo("\n".join(lines), err=True)
        sys.exit(EXIT_FAIL)
    if pack.default_scenario is not None:
        return str(pack.default_scenario), True
    if len(names) == 1:
        return names[0], False
    if not as_json and is_interactive():
        for line in scenario_lines(pack):
            click.echo(line)
        choice = click.prompt(
            "Scenario to run (number or id)",
            type=click.Choice([str(i) for i in range(1, len(names) + 1)] + names),
            show_choices=False,
        )
        chosen = names[int(choice) - 1] if choice.isdigit() else choice
        click.echo(f"running {chosen}; next time: {_command(ctx, f'{pack_arg}/{chosen}')}")
        return chosen, False
    lines = [
        f"error: pack {pack.name!r} has several scenarios and no default_scenario; choose one:",
        *scenario_lines(pack),
        f"run one with: {_command(ctx, f'{pack_arg}/{names[0]}')}  (or another id above)",
    ]
    click.echo("\n".join(lines), err=True)
    sys.exit(EXIT_USAGE)


def _next_steps(ctx: click.Context, pack: Any, pack_arg: str, scenario: str, record: Path | None) -> list[str]:
    """What to do after a run: debrief and replay the log (or how to record one), and how
    to list the pack's other scenarios."""
    steps: list[tuple[str, str]] = []
    if record is not None:
        log = shlex.quote(str(record))
        # a log names its pack by name only: a pack run from a folder is named with --pack
        where = f" --pack {shlex.quote(pack_arg)}" if pack.source == "path" else ""
        steps += [
            ("debrief (HTML, metrics against targets)", f"vrmed report {log}{where}"),
            ("replay it exactly", f"vrmed replay {log}{where}"),
        ]
    else:
        steps.append(
            (
                "record it for a debrief",
                _command(ctx, f"{pack_arg}/{scenario}", record=Path("session.jsonl")),
            )
        )
    others = len(pack.scenarios) - 1
    steps.append(
        (
            f"other scenarios of {pack.name} ({others})" if others else f"the scenarios of {pack.name}",
            f"vrmed run {shlex.quote(pack_arg)} --list",
        )
    )
    width = max(len(what) for what, _ in steps) + 1
    return ["next steps:", *(f"  {what + ':':<{width}}  {cmd}" for what, cmd in steps)]


class _Stop(Exception):
    """Raised between frames to end a --watch run cleanly."""


def _run_watching(session: Any, frames: int | None, seconds: float | None) -> int:
    """Run in real time, polling the pack for edits twice a second; Ctrl+C ends the run
    between two frames so the session log stays consistent."""
    from .watch import PackWatcher  # deferred: keeps `vrmed --help` fast (it loads the pack loader)

    watcher = PackWatcher(session)
    rate = float(session.app.resource(SimSettings).display_rate)
    limit = frames if frames is not None else (round(seconds * rate) if seconds is not None else None)
    start = time.perf_counter()
    state = {"stop": False, "next_poll": start + 0.5}

    def on_sigint(signum: int, frame: Any) -> None:
        state["stop"] = True

    def tick(n: int) -> None:
        now = time.perf_counter()
        if now >= state["next_poll"]:
            state["next_poll"] = now + 0.5
            result = watcher.poll()
            if result is not None:
                for line in result.errors:
                    click.echo(f"reload rejected: {line}", err=True)
                for line in result.notes:
                    click.echo(f"note: {line}", err=True)
                if not result.errors:
                    names = ", ".join(f"{c} of entity {e}" for e, c in result.replaced) or "nothing to update"
                    click.echo(f"reloaded at t={session.app.clock.frame / rate:.2f} s: {names}", err=True)
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)  # real-time pacing happens here, outside every system
        if state["stop"]:
            raise _Stop

    previous = signal.signal(signal.SIGINT, on_sigint)
    click.echo("watching the pack for changes (Ctrl+C to stop)", err=True)
    done = 0
    try:
        while limit is None or done < limit:
            chunk = 90 if limit is None else min(90, limit - done)
            done += session.run(frames=chunk, progress=lambda n, base=done: tick(base + n))
    except _Stop:
        done = session.app.clock.frame
    finally:
        signal.signal(signal.SIGINT, previous)
    return done


def open_null() -> Any:
    """A sink for progress output that should not be shown."""
    return io.StringIO()


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@_no_pack_code_option("Import no pack code while listing.")
def packs(as_json: bool, no_pack_code: bool) -> None:
    """List available packs with their versions and scenarios."""
    # deferred: keeps `vrmed --help` fast (the pack loader needs jsonschema, YAML)
    from .packs import PackError, all_packs, load_pack

    refs, warnings = all_packs()
    listing = []
    for ref in refs:
        entry: dict[str, Any] = {"name": ref.name, "source": ref.source, "path": str(ref.root)}
        try:
            pack = load_pack(ref.root, ref.source, allow_code=not no_pack_code)
            entry.update(
                version=pack.version,
                title=pack.title,
                scenarios=sorted(pack.scenarios),
                default_scenario=pack.default_scenario,
                valid=True,
            )
        except PackError as exc:
            entry.update(valid=False, problems=[str(i) for i in exc.issues])
        listing.append(entry)
    if as_json:
        click.echo(json.dumps({"packs": listing, "warnings": warnings}, indent=2))
        return
    for e in listing:
        if e["valid"]:
            click.echo(f"{e['name']} {e['version']}  ({e['source']})  scenarios: {', '.join(e['scenarios'])}")
        else:
            click.echo(
                f"{e['name']}  ({e['source']})  INVALID: {len(e['problems'])} problem(s); "
                f"run `vrmed validate {e['path']}`"
            )
    for w in warnings:
        click.echo(f"warning: {w}", err=True)


@cli.command()
@click.argument("target")
@_no_pack_code_option("Refuse packs that carry Python code.")
@click.option(
    "--rubric-lint",
    is_flag=True,
    help="Also run each scenario's rubric against a do-nothing and a random learner; exit 1 if either passes.",
)
def validate(target: str, no_pack_code: bool, rubric_lint: bool = False) -> None:
    """Validate a pack (name or folder); exit 1 listing every problem."""
    from .packs import PackError, load_pack, resolve_target  # deferred: keeps `vrmed --help` fast (the pack loader)

    ref, _ = resolve_target(target)
    try:
        pack = load_pack(ref.root, ref.source, allow_code=not no_pack_code)
    except PackError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_FAIL)
    click.echo(
        f"{pack.name} {pack.version}: valid ({len(pack.prefabs)} prefabs, "
        f"{len(pack.scenarios)} scenarios, {len(pack.systems)} systems)"
    )
    if rubric_lint:
        from .rubric_lint import lint_rubrics  # deferred: runs sessions (the engine, the pack's systems)

        runs = lint_rubrics(pack)
        for run in runs:
            click.echo(f"  rubric lint: {run.line()}")
        if any(run.passed for run in runs):
            sys.exit(EXIT_FAIL)


@cli.command("new-pack")
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder to create the pack in.",
)
def new_pack(name: str, directory: Path) -> None:
    """Scaffold a valid pack NAME with a prefab, a scenario, a system and a test."""
    from .packs.discovery import explicit_path  # deferred: keeps `vrmed --help` fast (the pack loader)

    root = scaffold_pack(name, directory)
    where = explicit_path(root)  # a pack folder is always given as a path (`./name`)
    click.echo(f"created pack {name!r} in {root}")
    click.echo(f"  try: vrmed validate {where} && vrmed run {where} --headless && pytest {root / 'tests'}")


@cli.command()
@click.argument("targets", nargs=-1, required=True, metavar="PACK [PACK...]")
@click.option("--name", required=True, help="Name of the simulator (and of its executable).")
@click.option("--scenario", help="Default scenario, PACK/SCENARIO (default: the first pack's default).")
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("dist"),
    show_default=True,
    help="Output folder.",
)
@click.option("--version", "sim_version", default="1.0.0", show_default=True, help="The simulator's own version.")
@click.option(
    "--lean/--full",
    "lean",
    default=None,
    help="Leave numba and the compiled-kernel features out (default: when every pack allows it), or keep everything.",
)
def package(
    targets: tuple[str, ...], name: str, scenario: str | None, out_dir: Path, sim_version: str, lean: bool | None = None
) -> None:
    """Build a standalone simulator folder (PyInstaller) from packs: only their declared
    files (never tests, caches, VCS folders or secrets), and the bundle's size by part."""
    from .packaging import package as build  # deferred: keeps `vrmed --help` fast (it loads the pack loader)
    from .packaging import shadow_warning  # deferred: as above

    warning = shadow_warning()
    if warning:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"building {name} from {', '.join(targets)} (this takes a minute)...", err=True)
    report = build(list(targets), name=name, scenario=scenario, out_dir=out_dir, version=sim_version, lean=lean)
    click.echo(f"built {report.exe}")
    for line in report.lines():
        click.echo(f"  {line}")
    click.echo(f"  run it: {report.exe} --headless --frames 90")


@cli.command()
@click.argument("log_path", metavar="LOG", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@_pack_path_option(
    "The pack's folder, when the log's pack is not installed (its systems.py runs: only a pack you trust)."
)
@_no_pack_code_option("Import no pack code (a pack with systems.py is refused); default on when VRMED_NO_PACK_CODE=1.")
def replay(log_path: Path, as_json: bool, pack_path: Path | None = None, no_pack_code: bool = False) -> None:
    """Re-run a recorded session and check it reproduces the same events and final state.

    The pack is found by the name and version the log records, among the installed packs
    (never a folder the log names), or given with --pack.
    """
    from .session import replay as do_replay  # deferred: keeps `vrmed --help` fast (the session loads the pack loader)

    log = SessionLog.read(log_path)
    result, session = do_replay(log, pack_path=pack_path, allow_code=not no_pack_code)
    session.close()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": result.ok,
                    "frames": result.frames,
                    "events_recorded": result.events_recorded,
                    "events_replayed": result.events_replayed,
                    "digest": result.digest_replayed,
                    "first_difference": result.first_difference,
                    "pack_changes": result.pack_changes,
                },
                indent=2,
            )
        )
    elif result.ok:
        click.echo(
            f"replay OK: {result.frames} frames, {result.events_replayed} events and the final "
            f"state (sha256 {result.digest_replayed[:16]}...) match the recording"
        )
        if result.pack_changes:
            click.echo(f"note: {result.explanation()}", err=True)
    else:
        click.echo(f"replay MISMATCH: {result.first_difference}", err=True)
    sys.exit(EXIT_OK if result.ok else EXIT_FAIL)


@cli.command()
@click.argument("suites", nargs=-1, metavar="[SUITE [ARGS...]]...")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@click.option(
    "--quick",
    is_flag=True,
    help="Fewer frames and cases: a smoke test, not for reporting (tissue: the 1k box only, 5 frames; "
    "the 10k/50k boxes and the raptor rows need the full `vrmed bench tissue`).",
)
@click.option("--peers", is_flag=True, help="Also run installed peer engines where a suite supports it.")
@click.option("--list", "list_only", is_flag=True, help="List the suites and exit.")
def bench(suites: tuple[str, ...], as_json: bool, quick: bool, peers: bool, list_only: bool) -> None:
    """Run benchmark suites (all of them when none is named); words after a suite's name
    are its arguments, e.g. `vrmed bench scene laparoscopy/peg_transfer`."""
    if list_only:
        for n in available_suites():
            click.echo(n)
        return
    plan = parse_suite_args(list(suites), available_suites()) if suites else [(n, []) for n in available_suites()]
    results = []
    for n, targets in plan:
        if not as_json:
            click.echo(f"== {n}{' ' + ' '.join(targets) if targets else ''} ==", err=True)
        res = run_suite(n, quick=quick, peers=peers, targets=targets)
        results.append(res)
        if not as_json:
            click.echo(format_table(res["rows"]))
            for note in res.get("notes", []):
                click.echo(f"  note: {note}")
    if as_json:
        click.echo(json.dumps({"vrmed": __version__, "results": results}, indent=2))


@cli.group(cls=_Group)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Records config file (default: $VRMED_RECORDS_CONFIG or ~/.config/vrmed/records.yaml).",
)
@click.pass_context
def records(ctx: click.Context, config_path: Path | None) -> None:
    """Learning records: scored attempts, xAPI statements and the LRS (docs/records.md)."""
    ctx.obj = config_path


def _records_setup(ctx: click.Context) -> tuple[Any, Any]:
    # deferred: keeps `vrmed --help` fast (records loads jsonschema, HTTP, the pack loader)
    from .records import RecordStore, load_config

    config = load_config(ctx.obj)
    for line in config.warnings:
        click.echo(f"warning: {line}", err=True)
    return config, RecordStore(config.store_dir)


@records.command("add")
@click.argument("logs", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="LOG [LOG...]")
@click.option("--learner", required=True, help="The learner's institutional id (pseudonymised before storing).")
@_no_pack_code_option("Import no pack code: score with the scenario's rubric only (a pack with systems.py is refused).")
@_pack_path_option(
    "Score with the pack in this folder (its systems.py runs: only a pack you trust) instead of the "
    "installed pack the log names."
)
@click.pass_context
def records_add(
    ctx: click.Context,
    logs: tuple[Path, ...],
    learner: str,
    no_pack_code: bool = False,
    pack_path: Path | None = None,
) -> None:
    """Score session LOGs and store them as the learner's attempts, queueing their statements."""
    # deferred: keeps `vrmed --help` fast (records loads jsonschema, HTTP, the pack loader)
    from .records import pack_for_log, record_session

    config, store = _records_setup(ctx)
    for path in logs:
        log = SessionLog.read(path)
        pack = None if pack_path is None else pack_for_log(log, pack_path=pack_path, allow_code=not no_pack_code)
        attempt, added = record_session(log, learner, config, store, allow_code=not no_pack_code, pack=pack)
        s = attempt.score
        verdict = "passed" if s.passed else "failed"
        what = f"{len(attempt.statement_ids)} statements queued" if added else "already recorded, nothing queued"
        # The pseudonym, never the learner id: terminal output ends up in logs too.
        click.echo(
            f"{path}: {attempt.pack}/{attempt.scenario} {verdict} {s.score:g}/{s.max_score:g} for "
            f"{attempt.learner}: {what}"
        )


@records.command("add-team")
@click.argument("log_path", type=click.Path(path_type=Path), metavar="LOG")
@click.option(
    "--member",
    "members",
    multiple=True,
    required=True,
    metavar="PSEUDONYM=LEARNER_ID",
    help="A team member: the session pseudonym vrmed serve gave them (p + 8 hex digits) and their "
    "institutional id (pseudonymised before storing). Repeat for each member.",
)
@click.pass_context
def records_add_team(ctx: click.Context, log_path: Path, members: tuple[str, ...]) -> None:
    """Score a shared session's LOG and store each named member's attempt with their team
    statement (shared registration, the team as an xAPI Group), queued for records push."""
    # deferred: the team package loads the networking stack
    from .team.records import record_team_session

    pairs: dict[str, str] = {}
    for item in members:
        client, sep, learner_id = item.partition("=")
        if not sep or not client or not learner_id:
            raise click.BadParameter(f"{item!r}: give PSEUDONYM=LEARNER_ID", param_hint="--member")
        pairs[client] = learner_id
    config, store = _records_setup(ctx)
    for attempt, added in record_team_session(SessionLog.read(log_path), pairs, config, store):
        what = f"{len(attempt.statement_ids)} statement(s) queued" if added else "already recorded, nothing queued"
        click.echo(f"{log_path}: {attempt.pack}/{attempt.scenario} for {attempt.learner}: {what}")


@records.command("push")
@click.option("--verify", is_flag=True, help="Read every statement back from the LRS before marking it sent.")
@click.pass_context
def records_push(ctx: click.Context, verify: bool = False) -> None:
    """Send queued statements to the LRS; exit 1 (keeping them queued) if it is unreachable."""
    # deferred: keeps `vrmed --help` fast (records loads jsonschema, HTTP, the pack loader)
    from .records import LrsClient, push

    config, store = _records_setup(ctx)
    endpoint, user, password = config.require_lrs()
    report = push(
        store, LrsClient(endpoint, user, password, config.timeout_s), batch_size=config.batch_size, verify=verify
    )
    click.echo(f"sent {report.sent} statement(s) to {endpoint}; {report.remaining} still queued")
    if report.conflicts:
        raise VrmedError(
            f"the LRS holds different statements with the ids {', '.join(report.conflicts[:3])}"
            f"{' ...' if len(report.conflicts) > 3 else ''}; they stay queued: ask the LRS operator"
        )
    if report.error:
        raise VrmedError(report.error)


@records.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def records_status(ctx: click.Context, as_json: bool) -> None:
    """Show the store, the LRS endpoint and how many statements are queued and sent."""
    config, store = _records_setup(ctx)
    counts = store.counts()
    data = {
        "store": str(store.root),
        "lrs_endpoint": config.lrs_endpoint,
        "config": config.source,
        "learners": counts.learners,
        "attempts": counts.attempts,
        "queued": counts.queued,
        "sent": counts.sent,
    }
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"store: {data['store']}")
    click.echo(f"LRS: {config.lrs_endpoint or 'not configured (set VRMED_LRS_ENDPOINT)'}")
    click.echo(f"learners: {counts.learners}, attempts: {counts.attempts}")
    click.echo(f"statements: {counts.queued} queued, {counts.sent} sent")


@records.command("export")
@click.option("--learner", required=True, help="The learner's institutional id.")
@click.option(
    "-o", "--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="JSON file to write."
)
@click.pass_context
def records_export(ctx: click.Context, learner: str, out: Path) -> None:
    """Export everything stored about one learner (attempts and statements) as JSON."""
    # deferred: keeps `vrmed --help` fast (records loads jsonschema, HTTP, the pack loader)
    from .records import pseudonymise
    from .records.store import write_json_atomic  # deferred: keeps `vrmed --help` fast (jsonschema, HTTP)

    config, store = _records_setup(ctx)
    data = store.export(pseudonymise(learner, config.require_secret()))
    write_json_atomic(out, data)
    click.echo(f"exported {len(data['attempts'])} attempt(s) of {data['learner']} to {out}")


@records.command("export-cohort")
@click.option(
    "-o", "--out", "out", type=click.Path(dir_okay=False, path_type=Path), help="JSON file of every statement."
)
@click.option(
    "--gradebook", type=click.Path(dir_okay=False, path_type=Path), help="CSV gradebook (one row per attempt)."
)
@click.option("--skill", help="Only this skill (PACK/SCENARIO or the scenario's settings.skill) in the gradebook.")
@click.pass_context
def records_export_cohort(ctx: click.Context, out: Path | None, gradebook: Path | None, skill: str | None) -> None:
    """Export the whole cohort: every learner's xAPI statements (queued and sent, oldest
    first; an LRS imports the file with POST /statements) and/or a gradebook CSV."""
    # deferred: keeps `vrmed --help` fast (records loads jsonschema, HTTP, the pack loader)
    from .records import cohort_statements
    from .records.db import AttemptDB  # deferred: keeps `vrmed --help` fast
    from .records.store import write_json_atomic  # deferred: keeps `vrmed --help` fast

    if out is None and gradebook is None:
        raise VrmedError("give --out FILE.json for the statements and/or --gradebook FILE.csv")
    _, store = _records_setup(ctx)
    if out is not None:
        statements = cohort_statements(store)
        write_json_atomic(out, statements)
        click.echo(f"exported {len(statements)} statement(s) of {len(store.learners())} learner(s) to {out}")
    if gradebook is not None:
        db = AttemptDB()
        db.ingest_store(store)
        gradebook.write_text(db.gradebook_csv(skill), encoding="utf-8")
        click.echo(f"gradebook of {db.count()} attempt(s): {gradebook}")


@records.command("delete")
@click.option("--learner", required=True, help="The learner's institutional id.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def records_delete(ctx: click.Context, learner: str, yes: bool) -> None:
    """Delete every local record of one learner (statements already in the LRS stay there)."""
    # deferred: keeps `vrmed --help` fast (records loads jsonschema, HTTP, the pack loader)
    from .records import pseudonymise

    config, store = _records_setup(ctx)
    pseudonym = pseudonymise(learner, config.require_secret())
    if not yes:
        click.confirm(f"delete every local record of {pseudonym}?", abort=True)
    counts = store.delete(pseudonym)
    click.echo(
        f"deleted {counts.attempts} attempt(s), {counts.queued} queued and {counts.sent} sent "
        f"statement(s) of {pseudonym}"
    )


@cli.command("progress")
@click.argument("learner")
@click.option(
    "--curriculum",
    "curriculum_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Curriculum YAML file (docs/adaptive-training.md).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Records config file (as for `vrmed records`).",
)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def progress_cmd(learner: str, curriculum_path: Path, config_path: Path | None, as_json: bool) -> None:
    """Show where LEARNER stands in a curriculum, with feedback and the next difficulty level."""
    from .adapt import plan_next  # deferred: keeps `vrmed --help` fast
    from .curriculum import Curriculum, next_module, progress  # deferred: keeps `vrmed --help` fast (YAML)
    from .records import RecordStore, load_config, pseudonymise  # deferred: keeps `vrmed --help` fast (jsonschema)
    from .session import open_target  # deferred: keeps `vrmed --help` fast (the pack loader)

    config = load_config(config_path)
    curriculum = Curriculum.load(curriculum_path)
    pseudonym = pseudonymise(learner, config.require_secret())
    attempts = RecordStore(config.store_dir).attempts(pseudonym)
    report = progress(curriculum, attempts)
    upcoming = next_module(report)
    plan, no_plan = None, ""
    if upcoming is not None:
        try:
            pack, _ = open_target(upcoming.module.pack)
            plan = plan_next(pack, upcoming.module.scenario, attempts)
        except VrmedError as exc:  # standing is still worth showing without the pack installed
            no_plan = str(exc)
    done = sum(p.status == "proficient" for p in report)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "learner": pseudonym,
                    "curriculum": curriculum.name,
                    "proficient": done,
                    "modules": [p.to_dict() for p in report],
                    "next": None
                    if upcoming is None
                    else {
                        "module": upcoming.module.id,
                        "level": plan.level if plan else None,
                        "parameters": plan.parameters if plan else None,
                        "expected_success": plan.expected_success if plan else None,
                        "no_plan": no_plan or None,
                    },
                },
                indent=2,
            )
        )
        return
    click.echo(
        f"{pseudonym} in {curriculum.title}: {done}/{len(report)} modules proficient, {len(attempts)} attempt(s)"
    )
    marks = {"proficient": "x", "in progress": ">", "not started": " ", "locked": "-"}
    for p in report:
        detail = {
            "proficient": f"proficient ({p.attempts} attempt(s))",
            "in progress": f"in progress, {p.streak}/{p.module.proficiency.consecutive} consecutive at "
            f"proficiency, {p.attempts} attempt(s)",
            "not started": "not started",
            "locked": f"locked until {', '.join(p.missing_prerequisites)}",
        }[p.status]
        click.echo(f"  [{marks[p.status]}] {p.module.id}: {p.module.title}: {detail}")
        for line in p.feedback:
            click.echo(f"        - {line}")
    if upcoming is not None and plan is not None:
        params = ", ".join(f"{k} {v:g}" for k, v in plan.parameters.items())
        click.echo(
            f"next: {upcoming.module.id} at difficulty level {plan.level:.2f}"
            f"{f' ({params})' if params else ''}, expected success {plan.expected_success:.0%}"
        )
    elif upcoming is not None:
        click.echo(f"next: {upcoming.module.id} (no difficulty plan: {no_plan})")
    elif done == len(report):
        click.echo("curriculum complete")


@cli.command()
@click.argument("session", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="HTML file to write (default: next to the log, .html).",
)
@_pack_path_option(
    "The pack's folder, when the log's pack is not installed (its systems.py runs: only a pack you trust)."
)
@_no_pack_code_option(
    "Import no pack code (the score comes from the scenario's rubric); default on when VRMED_NO_PACK_CODE=1."
)
@click.option(
    "--previous",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="An earlier session log of the same learner and scenario (repeat, oldest first): compared in the debrief.",
)
@click.option(
    "--expert",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="An expert reference session log (repeat): the range of their metrics is the expert band.",
)
def report(
    session: Path,
    out: Path | None,
    pack_path: Path | None = None,
    no_pack_code: bool = False,
    previous: tuple[Path, ...] = (),
    expert: tuple[Path, ...] = (),
) -> None:
    """Write an HTML debrief of a recorded SESSION log (printable; metrics against targets and
    the expert band, failed actions, speed and path plots, timeline) and print a summary table."""
    # deferred: keeps `vrmed --help` fast (it loads the records and the pack loader)
    from .analytics.report import write_report

    path, summary = write_report(
        session,
        out,
        pack_path=pack_path,
        allow_code=not no_pack_code,
        previous=list(previous),
        expert=list(expert),
    )
    click.echo(summary)
    click.echo(f"report: {path}")


@cli.group(invoke_without_command=True)
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), help="Records config file.")
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), help="Attempt database file.")
@click.option(
    "--lrs-export",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Statements exported from an LRS (JSON list, or a GET /statements page): added to the database (repeat).",
)
@click.option(
    "--logs",
    "logs_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of session logs (searched recursively): each attempt's full debrief opens from the dashboard.",
)
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535))
@click.pass_context
def dashboard(
    ctx: click.Context,
    config_path: Path | None,
    db_path: Path | None,
    lrs_export: tuple[Path, ...],
    logs_dir: Path | None,
    port: int,
) -> None:
    """Serve the instructor dashboard on http://127.0.0.1:PORT/ (learning curves, cohort
    distributions, stuck learners, most-failed rules, drill-down to each attempt's debrief).
    The first start creates an instructor account and prints its password."""
    # deferred: keeps `vrmed --help` fast (starlette, uvicorn, matplotlib, the records)
    from .records import RecordStore, load_config

    config = load_config(config_path)
    db_file = db_path or config.store_dir / "attempts.sqlite"
    users_file = db_file.with_name("dashboard-users.json")
    ctx.obj = (config, users_file)
    if ctx.invoked_subcommand is not None:
        return
    import secrets  # deferred: only the server start needs a fresh password

    import uvicorn  # deferred: only the server start needs the ASGI server

    from .dashboard import UserStore, create_app, open_dashboard_db  # deferred: keeps `vrmed --help` fast

    users = UserStore(users_file)
    if not users.names():
        password = secrets.token_urlsafe(12)
        users.add("instructor", password, "instructor")
        click.echo(f"created the account 'instructor' with password {password} (add more: vrmed dashboard add-user)")
    db = open_dashboard_db(db_file, RecordStore(config.store_dir), list(lrs_export))
    click.echo(f"{db.count()} attempt(s) in {db_file}; dashboard on http://127.0.0.1:{port}/ (Ctrl+C stops it)")
    uvicorn.run(create_app(db, users, logs_dir=logs_dir), host="127.0.0.1", port=port, log_level="warning")


@dashboard.command("add-user")
@click.argument("name")
@click.option("--role", type=click.Choice(["instructor", "learner"]), default="instructor", show_default=True)
@click.option("--learner", "learner_id", help="For a learner account: the learner's institutional id.")
@click.password_option(envvar="VRMED_DASHBOARD_PASSWORD", help="The password (prompted; or $VRMED_DASHBOARD_PASSWORD).")
@click.pass_context
def dashboard_add_user(ctx: click.Context, name: str, role: str, learner_id: str | None, password: str) -> None:
    """Create (or reset) a dashboard account; a learner account sees only that learner."""
    from .dashboard import UserStore  # deferred: keeps `vrmed --help` fast
    from .records import pseudonymise  # deferred: keeps `vrmed --help` fast

    config, users_file = ctx.obj
    pseudonym = pseudonymise(learner_id, config.require_secret()) if learner_id else None
    UserStore(users_file).add(name, password, role, pseudonym)
    click.echo(f"account {name!r} ({role}{', sees ' + pseudonym if pseudonym else ''}) saved in {users_file}")


@cli.command()
@click.argument("target")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="Port (0: any free port).")
@click.option(
    "--speed",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Simulated seconds per wall second.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the App's RNG.")
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds a dropped client keeps its role.",
)
@click.option(
    "--password",
    envvar="VRMED_INSTRUCTOR_PASSWORD",
    help="Instructor console password (default: a random one, printed).",
)
@click.option(
    "--record",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the shared session log here (replay with vrmed replay).",
)
@click.option(
    "--scripted", multiple=True, help="Also run the scenario's scripted team member SLOT in this process (repeatable)."
)
@click.option(
    "--tls-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM certificate: serve wss:// and https://.",
)
@click.option(
    "--tls-key", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="PEM private key of --tls-cert."
)
@click.option("--redis", "redis_url", help="Register the session in this Redis (redis://HOST:6379/0): scale-out.")
@click.option("--session-id", help="The session's id in Redis (default: a random one, printed).")
@click.option("--public-url", help="The join URL clients reach this server at, as registered in Redis.")
@click.option(
    "--stream-surfaces", is_flag=True, help="Stream deforming surfaces to thin clients that ask (quantised, delta)."
)
@click.option(
    "--debrief", is_flag=True, help="Keep serving after the session ends (the console's Debrief tab) until Ctrl+C."
)
def serve(
    target: str,
    host: str,
    port: int,
    speed: float,
    seed: int,
    grace: float,
    password: str | None,
    record: Path | None,
    scripted: tuple[str, ...],
    tls_cert: Path | None,
    tls_key: Path | None,
    redis_url: str | None,
    session_id: str | None,
    public_url: str | None,
    stream_surfaces: bool = False,
    debrief: bool = False,
) -> None:
    """Serve a shared (team) session of TARGET (PACK/SCENARIO with settings.team roles):
    prints the join URL, one token per role and the instructor console address."""
    from .team import commands  # deferred: loads the networking stack only for this command

    result = commands.serve(
        target,
        host=host,
        port=port,
        speed=speed,
        seed=seed,
        grace_s=grace,
        password=password,
        record=record,
        scripted=list(scripted),
        tls=commands.tls_context(tls_cert, tls_key),
        redis_url=redis_url,
        session_id=session_id,
        public_url=public_url,
        stream_surfaces=stream_surfaces,
        debrief=debrief,
        echo=click.echo,
    )
    click.echo(json.dumps(result, indent=2))


@cli.command()
@click.argument("url")
@click.option("--token", envvar="VRMED_TEAM_TOKEN", required=True, help="The role token the server printed.")
@click.option(
    "--scripted", help="Play the scenario's scripted steps of SLOT (e.g. compressor.2) instead of reading stdin."
)
@click.option(
    "--input",
    "input_kind",
    type=click.Choice(["stdin", "desktop", "openxr"]),
    default="stdin",
    show_default=True,
    help="desktop: play in the desktop window; openxr: in a headset (the server's simulation, your role's menu).",
)
@_headset_options
def join(
    url: str,
    token: str,
    scripted: str | None,
    input_kind: str,
    refresh_hz: float | None = None,
    reference: str = "standing",
    snap_turn: float = 30.0,
    vignette: float = 0.6,
) -> None:
    """Join a shared session at URL (ws://HOST:PORT/ws) with a role token; with --input
    desktop in a window, with --input openxr in a headset, with --scripted as a scripted
    slot, else each stdin line is an action: ACTION key=value ... The headset options
    (--reference, --refresh-hz, --snap-turn, --vignette) are those of ``vrmed run --input openxr``."""
    from .team import commands  # deferred: loads the networking stack only for this command

    if input_kind in ("desktop", "openxr"):
        if scripted is not None:
            raise click.UsageError(f"--scripted and --input {input_kind} exclude each other")
        if input_kind == "openxr":
            from .team.headset import join_headset  # deferred: pyopenxr and the renderer load only here

            comfort = _comfort_settings(refresh_hz, reference, snap_turn, vignette)
            result: Any = join_headset(url, token, echo=click.echo, comfort=comfort)
        else:
            from .team.desktop import join_desktop  # deferred: the window and renderer load only here

            result = join_desktop(url, token, echo=click.echo)
        click.echo(f"{len(result.sent)} action(s) sent")
        return
    sent = commands.join(url, token, scripted=scripted, echo=click.echo)
    click.echo(f"{sent} action(s) sent")


@cli.command("team-views")
@click.argument("log_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), metavar="LOG")
@click.option("--at", "times", type=float, multiple=True, required=True, help="Simulated time (s); repeat.")
@click.option("--client", "clients", multiple=True, help="Only this member's view (session pseudonym); repeat.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Folder for the PNGs.")
@click.option("--size", default="480x360", show_default=True, help="Image size WxH.")
def team_views(log_path: Path, times: tuple[float, ...], clients: tuple[str, ...], out: Path, size: str) -> None:
    """Debrief of a shared session: replay LOG and draw each member's view from their
    recorded head pose at the given times (OUT/CLIENT-tT.png)."""
    from .team.debrief import render_views  # deferred: the renderer loads only for this command

    try:
        width, height = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"{size!r}: give WxH, e.g. 480x360", param_hint="--size") from None
    written, result = render_views(
        SessionLog.read(log_path), out, times, clients=clients or None, width=width, height=height
    )
    for client, paths in written.items():
        click.echo(f"{client}: {', '.join(str(p) for p in paths)}")
    if not result.ok:
        raise VrmedError(f"the session no longer replays exactly ({result.first_difference}); the views may be wrong")


@cli.command("team-voice")
@click.argument("log_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), metavar="LOG")
@click.option("--play", is_flag=True, help="Play the clips in order (needs sounddevice and PortAudio).")
def team_voice(log_path: Path, play: bool) -> None:
    """Debrief of a shared session: list (and --play) its push-to-talk clips, each file
    checked against the SHA-256 the log holds."""
    # deferred: the team package (networking stack) loads only for this command
    from .team.voice import play as play_clip
    from .team.voice import voice_clips  # deferred: as above

    clips = voice_clips(SessionLog.read(log_path))
    if not clips:
        click.echo("no push-to-talk clips in this session")
    for c in clips:
        state = "" if c.verified else "  (MISSING OR CHANGED: does not match the log)"
        click.echo(f"{c.t:8.1f} s  {c.role:<12} {c.client}  {c.duration_s:4.1f} s  {c.path}{state}")
        if play and c.verified:
            play_clip(c.path.read_bytes())


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``vrmed`` console script."""
    cli.main(args=argv, prog_name="vrmed")
