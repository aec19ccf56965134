"""A session: an App built from a pack's scenario, with input and recording wired in,
and its replay."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .adapt import NextAttempt, adapted_pack, applied_parameters, replay_pack
from .app import App
from .errors import ReplayMismatch, VrmedError
from .input import InputPlugin, InputSource, NullInput, ReplayInput
from .packs.discovery import all_packs, resolve_target
from .packs.issues import PackError, PackIssue
from .packs.loader import Pack, Scenario, load_pack, pack_system_issue
from .packs.manifest import changed_files
from .recording import RecorderPlugin, SessionLog
from .scenario.learner import MODES, LearnerPlugin
from .scenario.runtime import ScenarioPlugin
from .schedule import ScheduleError
from .settings import RateLike, SimSettings
from .version import __version__

if TYPE_CHECKING:  # the XR input source is only named here; importing it loads OpenXR
    from .xr.input import XrInputSource

INPUT_KINDS = ("scripted", "desktop", "openxr", "haptic", "none")
#: Who acts in a session: the scenario's scripted learner, or a person.
LEARNERS = ("scripted", "person")
#: Input kinds a person drives (their sessions default to ``learner="person"``).
PERSON_INPUTS = ("desktop", "openxr", "haptic")


def make_input(
    kind: str,
    scenario: Scenario,
    comfort: Any = None,
    *,
    pack: Pack | None = None,
    options: dict[str, Any] | None = None,
) -> InputSource:
    """The input source for ``--input KIND`` (``comfort``: a ``vrmed.xr.comfort.ComfortSettings``
    for OpenXR). A kind vrmed does not know goes to the pack's input-source factory, the
    extension point through which packs add kinds without the core importing them: a
    ``input_source(kind, scenario, options)`` function in the pack's systems.py that returns
    an input source, or None for kinds it does not serve (its module's ``INPUT_KINDS`` names
    them for error messages). ``options`` are the kind's settings (``vrmed run --camera N``,
    ``--video FILE``, ``--pose-model FILE``; any objects from a script)."""
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
        # deferred: the desktop source loads GLFW and the renderer; only for a person at a desktop
        from .desktop import DesktopInput

        return DesktopInput.for_scenario(scenario)
    if kind == "haptic":
        return _haptic_input(scenario)
    module = pack.module if pack is not None else None
    factory = getattr(module, "input_source", None)
    if callable(factory):
        source = factory(kind, scenario, dict(options or {}))
        if source is not None:
            return cast(InputSource, source)
    kinds = list(INPUT_KINDS) + [str(k) for k in getattr(module, "INPUT_KINDS", ())]
    raise VrmedError(f"unknown input kind {kind!r}; choose one of: {', '.join(kinds)}")


def _haptic_input(scenario: Scenario) -> InputSource:
    """The haptic devices the scenario declares (``settings.haptics``, docs/haptics.md),
    each driving the instrument bound to its name; the rig rides on the source so
    :func:`build_session` adds its plugin (force feedback, disconnect events)."""
    spec = (scenario.settings or {}).get("haptics")
    if spec is None:
        raise VrmedError(
            f"scenario {scenario.name!r} declares no haptic devices (settings.haptics); "
            f"see docs/haptics.md, or try laparoscopy/peg_transfer_haptic"
        )
    # deferred: opening devices loads the haptics kernels and any vendor SDK
    from .haptics.rig import HapticRig

    rig = HapticRig.from_settings(spec, script=scenario.scripted_input)
    source = rig.input()
    setattr(source, "rig", rig)  # noqa: B010 (HapticInput does not declare it; read back by build_session)
    return source


def _haptic_devices(scenario: Scenario) -> list[str]:
    """The InputState names of the scenario's declared haptic devices (for replays)."""
    spec = (scenario.settings or {}).get("haptics") or {}
    devices = spec.get("devices") if isinstance(spec, dict) else None
    return sorted(devices) if isinstance(devices, dict) else []


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
    input_options: dict[str, Any] | None = None,
    display_rate: RateLike | None = None,
    settings: SimSettings | None = None,
    trace: Callable[[str], None] | None = None,
    comfort: Any = None,
    learner: str | None = None,
    mode: str = "formative",
) -> Session:
    """Build an App for a scenario: plugins, pack systems, entities, input and recorder.

    The App's :class:`SimSettings` are the scenario's (the defaults with its ``rates:``
    overrides), or ``settings`` when given (a replay passes the recorded ones), with
    ``display_rate`` laid over them. A scenario with a ``script`` or ``learner`` gets the
    scenario runtime; ``trace(line)`` is called for each state transition (``vrmed run --trace``).

    ``learner`` says who acts: ``"scripted"`` (the scenario's ``learner:`` events are sent)
    or ``"person"`` (they are not; a person's input does everything). The default is
    ``"person"`` for desktop and OpenXR input, else ``"scripted"``. ``mode`` is
    ``"formative"`` (live cues, :mod:`vrmed.scenario.learner`) or ``"exam"`` (no cues).
    Both are recorded in the log header, so a replay runs the same way. ``input_options``
    go to a pack's input-source factory (see :func:`make_input`); a source with a true
    ``person`` attribute counts as a person's input.
    """
    scenario = pack.scenario(scenario_name)
    source = input_source or make_input(input_kind, scenario, comfort, pack=pack, options=input_options)
    if learner is None:
        learner = "person" if source.kind in PERSON_INPUTS or getattr(source, "person", False) else "scripted"
    if learner not in LEARNERS:
        raise VrmedError(f"unknown learner {learner!r}; choose one of: {', '.join(LEARNERS)}")
    if mode not in MODES:
        raise VrmedError(f"unknown mode {mode!r}; choose one of: {', '.join(MODES)}")
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
        if (input_kind if source.kind == "replay" else source.kind) == "openxr":
            # deferred: controller pointing (and haptics) only for headset sessions and their
            # replays, which re-derive the same menu choices from the recorded poses
            from .xr.pointer import add_headset_interaction

            add_headset_interaction(app, source)
        rig = getattr(source, "rig", None)
        if rig is not None:  # --input haptic: servo loops, force feedback, disconnect events
            rig.attach(app)
        elif source.kind == "replay" and input_kind == "haptic":
            # deferred: a haptic session's replay re-sends its disconnect/tracking events
            from .haptics.plugin import HapticEvents

            app.add_plugin(HapticEvents(_haptic_devices(scenario)))
        recorder = RecorderPlugin(
            {
                "engine": __version__,
                "pack": pack.name,
                "pack_version": pack.version,
                # What the pack was, never where: replay finds the pack by name (or an
                # explicit --pack) and names the files that differ from these hashes.
                "pack_hash": pack.content_hash,
                "pack_files": dict(pack.file_hashes),
                "pack_source": pack.source.split(" (")[0],
                "scenario": scenario.name,
                "seed": seed,
                "input": source.kind,
                "learner": learner,
                "mode": mode,
                **sim.header(),  # the effective rates and substeps: a replay runs at exactly these
            }
        )
        app.add_plugin(recorder)
        for comp in pack.components.values():
            app.register_component(comp)
        for plugin_cls in pack.plugins:
            app.add_plugin(plugin_cls())
        pack_systems: dict[str, Callable] = {}
        own = {getattr(f, "__vrmed_system__")["name"] for f in pack.systems}  # noqa: B009

        def qualified(names: str | Sequence[str]) -> list[str]:
            # a pack's systems are named PACK.NAME in the App; after=/before= may use the
            # short name of one of the pack's own systems
            names = [names] if isinstance(names, str) else list(names)
            return [f"{pack.name}.{n}" if n in own else n for n in names]

        for func in pack.systems:
            meta = getattr(func, "__vrmed_system__")  # noqa: B009 (set by @vrmed.system, unknown to the type)
            pack_systems[f"{pack.name}.{meta['name']}"] = func
            try:
                app.add_system(
                    func,
                    stage=meta["stage"],
                    name=f"{pack.name}.{meta['name']}",
                    in_set=meta["in_set"],
                    after=qualified(meta["after"]),
                    before=qualified(meta["before"]),
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
        scripted = scenario.learner if learner == "scripted" else ()
        if scenario.script is not None or scripted:
            app.add_plugin(ScenarioPlugin(scenario.script, scripted, entities, trace))
        if scenario.interaction is not None or scenario.rubric is not None:
            app.add_plugin(
                LearnerPlugin(
                    scenario.interaction,
                    scenario.rubric,
                    mode=mode,
                    duration=scenario.duration,
                    person=learner == "person",
                    time_pressure=float(applied_parameters(scenario, pack.name).get("time_pressure", 1.0)),
                )
            )
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
    """Outcome of a replay: frames run, whether events and final state matched, and the
    pack files that differ from those the session was recorded with."""

    frames: int
    events_recorded: int
    events_replayed: int
    digest_recorded: str
    digest_replayed: str
    first_difference: str | None
    #: ``"path (changed|added|removed)"`` for each pack file that differs from the recording.
    pack_changes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the replay reproduced the session exactly."""
        return self.first_difference is None

    def explanation(self) -> str:
        """One line on why a replay may differ: the pack files changed since the recording."""
        if not self.pack_changes:
            return ""
        shown = ", ".join(self.pack_changes[:6]) + (" ..." if len(self.pack_changes) > 6 else "")
        return f"the pack differs from the one the session was recorded with (same version): {shown}"


def pack_for_log(
    log: SessionLog | dict[str, Any], *, pack_path: str | Path | None = None, allow_code: bool = True
) -> Pack:
    """The pack a session log was recorded with, found by the name and version in its header.

    The log never selects code by a path: the pack is looked up by name among the built-in
    packs, the packs in ``VRMED_PACK_PATH`` and installed ``vrmed.packs`` entry points, or
    loaded from ``pack_path`` when the user gives one (``--pack PATH``). A pack that is not
    installed, or whose version differs from the recorded one, is refused with a clear
    error. ``allow_code=False`` refuses packs with Python code (``--no-pack-code``).
    """
    header = log.header if isinstance(log, SessionLog) else log
    name, version = header.get("pack"), header.get("pack_version")
    if not isinstance(name, str) or not name:
        raise VrmedError("the session log names no pack in its header; it cannot be replayed or scored")
    if pack_path is not None:
        root = Path(pack_path)
        if not (root / "pack.yaml").is_file():
            raise VrmedError(f"--pack {pack_path}: no pack.yaml in that folder")
        pack = load_pack(root, "path", allow_code=allow_code)
        if pack.name != name:
            raise VrmedError(f"--pack {pack_path} is the pack {pack.name!r}, but the log was recorded with {name!r}")
    else:
        refs, _ = all_packs()
        ref = next((r for r in refs if r.name == name), None)
        if ref is None:
            raise VrmedError(
                f"the log was recorded with pack {name!r} {version}, which is not installed here "
                f"(installed: {', '.join(sorted(r.name for r in refs)) or 'none'}); install it, or name "
                f"its folder with --pack PATH (its systems.py will run: only a pack you trust)"
            )
        pack = load_pack(ref.root, ref.source, allow_code=allow_code)
    if pack.version != version:
        raise VrmedError(
            f"the log was recorded with pack {name} {version}, but {name} {pack.version} is "
            f"{'at ' + str(pack_path) if pack_path is not None else 'installed'}; replaying or scoring it "
            f"with another version would not reproduce the session"
        )
    return pack


def pack_changes(header: dict[str, Any], pack: Pack) -> list[str]:
    """The files of ``pack`` that differ from those recorded in a log header (empty when
    the header predates per-file hashes or nothing changed)."""
    recorded = header.get("pack_files")
    if not isinstance(recorded, dict) or header.get("pack_hash") == pack.content_hash:
        return []
    return changed_files({str(k): str(v) for k, v in recorded.items()}, pack.file_hashes)


def replay(
    log: SessionLog, *, pack: Pack | None = None, pack_path: str | Path | None = None, allow_code: bool = True
) -> tuple[ReplayResult, Session]:
    """Re-run a recorded session from its seed and input samples and compare the outcome.

    The pack is ``pack``, or the one at ``pack_path``, or the installed pack the log names
    (see :func:`pack_for_log`; never a folder the log names). When the pack's files differ
    from those recorded, the result lists them (:attr:`ReplayResult.pack_changes`) and a
    mismatch says the pack changed. Returns the comparison and the replayed session (the
    caller closes it).
    """
    header, footer = log.header, log.footer or {}
    if header.get("hot_reloaded"):
        raise VrmedError(
            "cannot replay: the pack was hot-reloaded during this session (vrmed run --watch), "
            "so the recording does not describe one version of the pack"
        )
    if pack is None:
        try:
            pack = pack_for_log(log, pack_path=pack_path, allow_code=allow_code)
        except VrmedError as exc:
            raise VrmedError(f"cannot replay: {exc}") from None
    if pack.version != header.get("pack_version"):
        raise VrmedError(
            f"cannot replay exactly: the log was recorded with pack {pack.name} "
            f"{header.get('pack_version')}, but {pack.version} is installed"
        )
    changes = pack_changes(header, pack)
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
        # logs from before person-driven sessions were all scripted and sent no cues
        learner=str(header.get("learner", "scripted")),
        mode=str(header.get("mode", "exam")),
        input_kind=str(header.get("input", "scripted")),  # an OpenXR session replays with its pointer
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
    result = ReplayResult(
        frames, len(recorded), len(replayed), str(footer.get("digest")), str(new_footer.get("digest")), diff, changes
    )
    if diff is not None and changes:
        result.first_difference = f"{result.explanation()}; {diff}"
    return result, session


__all__ = [
    "INPUT_KINDS",
    "ReplayMismatch",
    "ReplayResult",
    "Session",
    "build_adapted_session",
    "build_session",
    "make_input",
    "open_target",
    "pack_changes",
    "pack_for_log",
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
