"""A session: an App built from a pack's scenario, with input and recording wired in,
and its replay."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .adapt import NextAttempt, adapted_pack, replay_pack
from .app import App
from .errors import ReplayMismatch, VrmedError
from .input import InputPlugin, InputSource, NullInput, ReplayInput
from .packs.discovery import PackRef, resolve_target
from .packs.issues import PackError, PackIssue
from .packs.loader import Pack, Scenario, load_pack, pack_system_issue
from .recording import RecorderPlugin, SessionLog
from .scenario.runtime import ScenarioPlugin
from .schedule import ScheduleError
from .settings import RateLike, SimSettings
from .version import __version__

if TYPE_CHECKING:  # the XR input source is only named here; importing it loads OpenXR
    from .xr.input import XrInputSource

INPUT_KINDS = ("scripted", "desktop", "openxr", "none")


def make_input(kind: str, scenario: Scenario, comfort: Any = None) -> InputSource:
    """The input source for ``--input KIND`` (``comfort``: a ``vrmed.xr.comfort.ComfortSettings``
    for OpenXR)."""
    if kind == "scripted":
        return scenario.scripted_input or NullInput()
    if kind == "none":
        return NullInput()
    if kind == "openxr":
        # Imported here: pyopenxr loads the OpenXR loader on import. No runtime prints one
        # line and falls back to the scenario's scripted input (or none), headless.
        from .xr.input import openxr_or_fallback

        return openxr_or_fallback(scenario, scenario.scripted_input or NullInput(), render=True, comfort=comfort)
    if kind == "desktop":
        raise VrmedError(
            f"--input {kind} needs the renderer/XR layer, which this build of vrmed does not "
            f"have yet; use --input scripted (or replay a recorded session)"
        )
    raise VrmedError(f"unknown input kind {kind!r}; choose one of: {', '.join(INPUT_KINDS)}")


@dataclass
class Session:
    """An App running one scenario of one pack, recording as it goes."""

    app: App
    pack: Pack
    scenario: Scenario
    recorder: RecorderPlugin
    entities: dict[str, int] = field(default_factory=dict)
    #: Entity ids in the order of the scenario's ``entities`` list.
    spawned: list[int] = field(default_factory=list)

    def run(
        self, *, frames: int | None = None, seconds: float | None = None, progress: Callable[[int], None] | None = None
    ) -> int:
        """Run frames (or simulated seconds; default: the scenario's duration)."""
        if frames is None and seconds is None:
            if self.scenario.duration is None:
                raise VrmedError(f"scenario {self.scenario.name!r} has no duration; give --frames or --seconds")
            seconds = self.scenario.duration
        return self.app.run(frames=frames, seconds=seconds, progress=progress)

    def finish(self) -> SessionLog:
        """Close the session log (frame count and final-state digest)."""
        return self.recorder.finalize(self.app)

    def event_counts(self) -> dict[str, int]:
        """How many events of each type were sent, by short type name."""
        counts: dict[str, int] = {}
        for ev in self.recorder.log.events:
            short = ev["type"].rsplit(":", 1)[-1]
            counts[short] = counts.get(short, 0) + 1
        return dict(sorted(counts.items()))

    def close(self) -> None:
        """Release the App's world."""
        self.app.close()


def build_session(
    pack: Pack,
    scenario_name: str | None = None,
    *,
    seed: int = 0,
    input_source: InputSource | None = None,
    input_kind: str = "scripted",
    display_rate: RateLike | None = None,
    settings: SimSettings | None = None,
    trace: Callable[[str], None] | None = None,
    comfort: Any = None,
) -> Session:
    """Build an App for a scenario: plugins, pack systems, entities, input and recorder.

    The App's :class:`SimSettings` are the scenario's (the defaults with its ``rates:``
    overrides), or ``settings`` when given (a replay passes the recorded ones), with
    ``display_rate`` laid over them. A scenario with a ``script`` or ``learner`` gets the
    scenario runtime; ``trace(line)`` is called for each state transition (``vrmed run --trace``).
    """
    scenario = pack.scenario(scenario_name)
    source = input_source or make_input(input_kind, scenario, comfort)
    sim = settings or scenario.sim_settings
    if display_rate is not None:
        sim = sim.with_overrides({"display": display_rate}, where="display_rate")
    app = App(seed=seed, settings=sim)
    try:
        if comfort is not None:
            app.insert_resource(comfort)  # the log footer's frame statistics use its target rate
        app.add_plugin(InputPlugin(source))
        if getattr(source, "gl_context", None) is not None:  # an OpenXR headset: draw the scene per eye
            # deferred: the XR renderer loads moderngl and the OpenXR bindings
            from .xr.render import add_headset_rendering

            add_headset_rendering(app, cast("XrInputSource", source))
        recorder = RecorderPlugin(
            {
                "engine": __version__,
                "pack": pack.name,
                "pack_version": pack.version,
                "pack_root": str(pack.root),
                "pack_source": pack.source,
                "scenario": scenario.name,
                "seed": seed,
                "input": source.kind,
                **sim.header(),  # the effective rates and substeps: a replay runs at exactly these
            }
        )
        app.add_plugin(recorder)
        for comp in pack.components.values():
            app.register_component(comp)
        for plugin_cls in pack.plugins:
            app.add_plugin(plugin_cls())
        pack_systems: dict[str, Callable] = {}
        for func in pack.systems:
            meta = getattr(func, "__vrmed_system__")  # noqa: B009 (set by @vrmed.system, unknown to the type)
            pack_systems[f"{pack.name}.{meta['name']}"] = func
            try:
                app.add_system(
                    func,
                    stage=meta["stage"],
                    name=f"{pack.name}.{meta['name']}",
                    in_set=meta["in_set"],
                    after=meta["after"],
                    before=meta["before"],
                    priority=meta["priority"],
                )
            except ScheduleError as exc:  # the pack's own declaration: report it where it was written
                raise PackError(pack.name, [pack_system_issue(pack.root, func, exc.detail)]) from None
        app.insert_resource(scenario, Scenario)  # packs read their scenario (rubric, settings) from here
        setup = getattr(pack.module, "setup", None) if pack.module else None
        if callable(setup):
            setup(app, scenario)
        # Build every component first so a failure spawns nothing (no half-loaded scene).
        built = []
        for spec in scenario.entities:
            try:
                built.append((spec, spec.build()))
            except VrmedError as exc:
                raise PackError(pack.name, [PackIssue(spec.loc.file, spec.loc.line, spec.loc.key, str(exc))]) from None
        entities, spawned = {}, []
        for spec, comps in built:
            entity = app.spawn(*comps)
            spawned.append(entity)
            if spec.name:
                entities[spec.name] = entity
        if scenario.script is not None or scenario.learner:
            app.add_plugin(ScenarioPlugin(scenario.script, scenario.learner, entities, trace))
        try:
            app.schedule.resolve()
        except ScheduleError as exc:  # an after/before of a pack system: name its systems.py line
            culprit = pack_systems.get(exc.system or "")
            if culprit is None:
                raise
            raise PackError(pack.name, [pack_system_issue(pack.root, culprit, str(exc))]) from None
    except BaseException:
        app.close()
        raise
    return Session(app, pack, scenario, recorder, entities, spawned)


def open_target(target: str, *, allow_code: bool = True) -> tuple[Pack, str | None]:
    """Load the pack named by ``PACK[/SCENARIO]`` or a path (``allow_code=False``: refuse
    packs that carry Python code)."""
    ref, scenario = resolve_target(target)
    return load_pack(ref.root, ref.source, allow_code=allow_code), scenario


@dataclass
class ReplayResult:
    """Outcome of a replay: frames run, and whether events and final state matched."""

    frames: int
    events_recorded: int
    events_replayed: int
    digest_recorded: str
    digest_replayed: str
    first_difference: str | None

    @property
    def ok(self) -> bool:
        """True when the replay reproduced the session exactly."""
        return self.first_difference is None


def replay(log: SessionLog, *, pack: Pack | None = None) -> tuple[ReplayResult, Session]:
    """Re-run a recorded session from its seed and input samples and compare the outcome.

    Returns the comparison and the replayed session (the caller closes it).
    """
    header, footer = log.header, log.footer or {}
    if header.get("hot_reloaded"):
        raise VrmedError(
            "cannot replay: the pack was hot-reloaded during this session (vrmed run --watch), "
            "so the recording does not describe one version of the pack"
        )
    if pack is None:
        ref = PackRef(header["pack"], Path(header.get("pack_root", "")), "log")
        try:
            pack = load_pack(ref.root) if (ref.root / "pack.yaml").is_file() else open_target(header["pack"])[0]
        except VrmedError as exc:
            raise VrmedError(
                f"cannot replay: the pack {header['pack']!r} recorded in the log cannot be loaded: {exc}"
            ) from None
    if pack.version != header.get("pack_version"):
        raise VrmedError(
            f"cannot replay exactly: the log was recorded with pack {pack.name} "
            f"{header.get('pack_version')}, but {pack.version} is installed"
        )
    if header.get("difficulty"):
        pack = replay_pack(pack, log)
    samples = {frame: rec["data"] for frame, rec in log.inputs.items()}
    source = ReplayInput(samples)
    # The recorded effective settings, not the scenario's current ones: replay runs at
    # exactly the rates and substeps the session ran at (logs without stage rates predate
    # them and ran at the scenario's rates, with the recorded display rate).
    settings = SimSettings.from_header(header) if "rates" in header else None
    session = build_session(
        pack,
        header["scenario"],
        seed=int(header["seed"]),
        input_source=source,
        display_rate=None if settings is not None else Fraction(str(header.get("display_rate", "90"))),
        settings=settings,
    )
    session.recorder.log.header["input"] = header.get("input")
    frames = int(footer.get("frames", 0))
    session.run(frames=frames)
    new_log = session.finish()
    new_footer = new_log.footer or {}
    recorded, replayed = log.event_records(), new_log.event_records()
    diff = None
    for i, (a, b) in enumerate(zip(recorded, replayed)):
        if a != b:
            diff = f"event {i} differs: recorded {a}, replayed {b}"
            break
    if diff is None and len(recorded) != len(replayed):
        diff = f"recorded {len(recorded)} events, replay produced {len(replayed)}"
    if diff is None and footer.get("digest") != new_footer.get("digest"):
        diff = "final state differs (digest mismatch) although the events matched"
    return ReplayResult(
        frames, len(recorded), len(replayed), str(footer.get("digest")), str(new_footer.get("digest")), diff
    ), session


__all__ = [
    "INPUT_KINDS",
    "ReplayMismatch",
    "ReplayResult",
    "Session",
    "build_adapted_session",
    "build_session",
    "make_input",
    "open_target",
    "replay",
]


def build_adapted_session(
    pack: Any, scenario_name: str | None, plan: NextAttempt, *, seed: int = 0, **kwargs: Any
) -> Any:
    """A :class:`vrmed.session.Session` of the scenario at ``plan``'s level: the pack's
    ``setup(app, scenario)`` and systems read the parameters with
    :func:`applied_parameters`, and the log header records them (``difficulty``) so the
    attempt is rated at the level it was played at and can be replayed
    (:func:`replay_pack`)."""
    name = pack.scenario(scenario_name).name
    session = build_session(adapted_pack(pack, name, plan.header()), name, seed=seed, **kwargs)
    session.recorder.log.header["difficulty"] = plan.header()
    return session
