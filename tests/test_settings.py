"""SimSettings: one home for the display, physics and logic rates and the substeps; every
consumer (schedule, clock, tissue solver, collision, session log, replay) agrees with it."""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO, write_tree

from vrmed import App, ConfigError
from vrmed.api import SimSettings
from vrmed.components.collision.collider import Collider
from vrmed.components.scene.core import Transform
from vrmed.components.tissue.softbody import Material, SoftBody
from vrmed.mesh import box_tets
from vrmed.packs import PackError, load_pack
from vrmed.recording import SessionLog
from vrmed.session import build_session, open_target, replay
from vrmed.systems.collision.system import CollisionPlugin, CollisionWorld
from vrmed.systems.tissue import solver
from vrmed.systems.tissue.solver import SoftBodyPlugin

# -- the settings themselves -------------------------------------------------------------


def test_defaults_are_a_90_hz_display_900_hz_physics_and_60_hz_logic():
    s = SimSettings()
    assert (s.display_rate, s.physics_rate, s.logic_rate, s.substeps_per_tick) == (90, 900, 60, 1)
    assert s.rates == {"input": None, "control": None, "physics": 900, "logic": 60, "record": None, "render": None}
    assert s.overrides() == {}
    with App() as app:
        assert app.resource(SimSettings) == s
        assert {n: st.rate for n, st in app.schedule.stages.items()} == s.rates
        assert app.schedule.frame_dt == s.frame_dt == Fraction(1, 90)


def test_overriding_one_rate_keeps_the_others():
    s = SimSettings().with_overrides({"physics": 1200})
    assert (s.display_rate, s.physics_rate, s.logic_rate, s.substeps_per_tick) == (90, 1200, 60, 1)
    assert s.overrides() == {"physics": 1200}
    assert SimSettings().with_overrides({"physics": None}).physics_rate is None  # once per display frame
    with App(rates={"logic": 20}) as app:
        assert app.resource(SimSettings).overrides() == {"logic": 20}
    with App(settings=SimSettings(substeps_per_tick=2), display_rate=72) as app:
        assert app.resource(SimSettings).overrides() == {"display": 72, "substeps": 2}


def test_derived_values_are_exact():
    s = SimSettings()
    assert s.physics_ticks_per_frame == 10 and s.substeps_per_frame == 10
    assert s.physics_dt == s.substep_dt == Fraction(1, 900) and s.logic_dt == Fraction(1, 60)
    assert s.h == 1 / 900
    k = SimSettings(physics_rate=1000, substeps_per_tick=3)
    assert k.physics_ticks_per_frame == Fraction(100, 9)  # 11 or 12 ticks per frame
    assert k.substeps_per_frame == Fraction(100, 3)
    assert k.substep_dt == Fraction(1, 3000)
    assert k.h == 0.001 / 3  # what the solver computes from the clock's dt, bit for bit
    off = SimSettings(physics_rate=None, display_rate=Fraction(1000, 9))
    assert off.physics_dt == off.frame_dt == Fraction(9, 1000) and off.physics_ticks_per_frame == 1
    # float input is taken as written, not as the nearest double
    assert SimSettings(display_rate=72.5).display_rate == Fraction(145, 2)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"physics": 0}, "physics rate must be a positive finite number, got 0"),
        ({"logic": -60}, "logic rate must be a positive finite number, got -60"),
        ({"display": float("inf")}, "display rate must be a positive finite number, got inf"),
        ({"physics": float("nan")}, "physics rate must be a positive finite number, got nan"),
        ({"display": None}, "display rate must be a number, got None"),
        ({"physics": "900"}, "physics rate must be a number, got '900'"),
        ({"physics": True}, "physics rate must be a number, got True"),
        ({"substeps": 0}, "substeps per physics tick must be an integer >= 1, got 0"),
        ({"substeps": 2.5}, "substeps per physics tick must be an integer >= 1, got 2.5"),
        ({"phisics": 900}, "unknown key 'phisics' in rates; did you mean 'physics'? allowed keys: display, input,"),
    ],
)
def test_invalid_values_are_clear_errors(overrides, message):
    with pytest.raises(ConfigError) as info:
        SimSettings().with_overrides(overrides)
    assert str(info.value).startswith(message)
    assert info.value.key == next(iter(overrides))  # which key: the pack loader reports its line


def test_settings_are_frozen_and_fixed_for_the_app():
    s = SimSettings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.physics_rate = Fraction(1000)  # type: ignore[misc]
    with App() as app:
        app.insert_resource(SimSettings())  # the same settings again: harmless
        with pytest.raises(ConfigError, match="SimSettings is fixed when the App is made"):
            app.insert_resource(SimSettings(physics_rate=1000))
        assert app.resource(SimSettings) == s


# -- scenarios state only what differs ----------------------------------------------------

PACK = {
    "pack.yaml": "name: rated\nversion: 1.0.0\n",
    "scenarios/one.yaml": "duration: 1.0\nrates: {physics: 450, substeps: 2}\nentities: []\n",
    "scenarios/plain.yaml": "duration: 1.0\nentities: []\n",
}


def test_a_scenario_states_only_its_overrides(tmp_path):
    pack = load_pack(write_tree(tmp_path / "rated", PACK))
    assert pack.scenarios["plain"].sim_settings == SimSettings()
    one = pack.scenarios["one"].sim_settings
    assert one.overrides() == {"physics": 450, "substeps": 2}
    assert one.substeps_per_frame == 10 and one.substep_dt == Fraction(1, 900)
    session = build_session(pack, "one")
    try:
        assert session.app.resource(SimSettings) == one
        assert session.recorder.log.header["rates"]["physics"] == "450"
        assert session.recorder.log.header["substeps_per_tick"] == 2
    finally:
        session.close()


@pytest.mark.parametrize(
    ("rates", "issue"),
    [
        ("{physics: 0}", "rated/scenarios/one.yaml:2: rates.physics: physics rate must be a positive finite number"),
        ("{display: -90}", "rated/scenarios/one.yaml:2: rates.display: display rate must be a positive finite"),
        ("{substeps: 0}", "rated/scenarios/one.yaml:2: rates.substeps: substeps per physics tick must be an integer"),
        ("{phyics: 900}", "rated/scenarios/one.yaml:2: rates: unknown key 'phyics'"),
        ("{logic: fast}", "rated/scenarios/one.yaml:2: rates.logic: expected a number or nothing, got"),
    ],
)
def test_invalid_scenario_rates_are_pack_issues_naming_file_line_and_key(tmp_path, rates, issue):
    files = {**PACK, "scenarios/one.yaml": f"duration: 1.0\nrates: {rates}\nentities: []\n"}
    with pytest.raises(PackError) as info:
        load_pack(write_tree(tmp_path / "rated", files))
    messages = [str(i) for i in info.value.issues]
    assert len(messages) == 1 and messages[0].startswith(issue), messages


def test_built_in_scenarios_do_not_restate_defaults():
    defaults = {"display": 90, "physics": 900, "logic": 60, "substeps": 1}
    defaults.update({s: None for s in ("input", "control", "record", "render")})
    restated = []
    for path in sorted((REPO / "content").glob("*/scenarios/*.yaml")):
        rates = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("rates") or {}
        restated += [f"{path.relative_to(REPO)}: {k}: {v}" for k, v in rates.items() if defaults.get(k, "-") == v]
    assert restated == []


# -- every consumer agrees ---------------------------------------------------------------

TISSUE = Material(youngs_modulus=1.0e4, poisson_ratio=0.45, density=1000.0, damping=0.002)


def _slab_app(settings: SimSettings) -> tuple[App, int]:
    app = App(seed=0, settings=settings)
    app.add_plugin(SoftBodyPlugin())
    app.add_plugin(CollisionPlugin())
    mesh = box_tets((0.1, 0.02, 0.1), (4, 2, 4), origin=(-0.05, 0.0, -0.05))
    app.spawn(SoftBody.from_mesh(mesh, TISSUE, pins=np.flatnonzero(mesh.points[:, 1] < 1e-9)))
    r = 0.006
    tool = app.spawn(Transform(position=np.array([0.0, 0.02 + r - 0.002, 0.0])), Collider(shape="sphere", radius=r))
    return app, tool


@pytest.mark.parametrize(
    "settings",
    [
        SimSettings(physics_rate=1200),
        SimSettings(physics_rate=1000, display_rate=72),
        SimSettings(physics_rate=1200, substeps_per_tick=3),
    ],
    ids=["1200Hz", "1000Hz-at-72", "1200Hz-3-substeps"],
)
def test_schedule_solver_and_contacts_use_the_settings_substep(monkeypatch, settings):
    """In a running App at a non-default physics rate, the physics stage runs
    physics_ticks_per_frame ticks per frame on average, and the tissue solve and the contact
    projection both step with SimSettings' h."""
    solver_h: list[float] = []
    contact_h: list[float] = []
    step, resolve = solver.step_softbody, CollisionWorld.resolve

    def spy_step(body, dt, substeps, gravity=None, add_substeps=True, tools=None):
        assert not add_substeps  # tool contacts once per tick: the solver adds no substeps
        solver_h.append(dt / substeps)  # the h step_softbody and its kernels compute
        return step(body, dt, substeps, gravity, add_substeps, tools)

    def spy_resolve(self, body, surf, h):
        contact_h.append(h)
        return resolve(self, body, surf, h)

    monkeypatch.setattr(solver, "step_softbody", spy_step)
    monkeypatch.setattr(CollisionWorld, "resolve", spy_resolve)
    app, tool = _slab_app(settings)
    try:
        frames = 9
        app.step(frames)
        sim = app.resource(SimSettings)
        ticks = app.schedule.stages["physics"].ticks
        assert ticks == math.floor(sim.physics_ticks_per_frame * frames)
        assert len(solver_h) == len(contact_h) == ticks
        assert set(solver_h) == set(contact_h) == {sim.h}
        assert app.resource(CollisionWorld).owner_force[tool][1] > 0  # the contact really was solved
    finally:
        app.close()


def test_clock_dt_in_each_stage_is_the_settings_step():
    seen: dict[str, set[Fraction]] = {}
    settings = SimSettings(display_rate=72, physics_rate=720, logic_rate=24)
    with App(settings=settings) as app:
        for stage in ("physics", "logic", "render"):
            app.add_system(
                lambda a: seen.setdefault(a.clock.stage, set()).add(a.clock.exact_dt), stage=stage, name=stage
            )
        app.step(6)
    assert seen == {"physics": {settings.physics_dt}, "logic": {settings.logic_dt}, "render": {settings.frame_dt}}


# -- session logs and replay --------------------------------------------------------------


def _record(settings: SimSettings | None, tmp_path: Path, name: str) -> tuple[Path, SessionLog]:
    pack, scenario = open_target("sandbox")
    session = build_session(pack, scenario, seed=5, settings=settings)
    try:
        session.run(seconds=2.0)
        log = session.finish()
    finally:
        session.close()
    path = tmp_path / f"{name}.jsonl"
    log.write(path)
    return path, log


def test_replay_of_a_non_default_rate_session_is_exact(tmp_path):
    """The header records the effective settings and replay runs at them, not at the
    scenario's (the sandbox states no rates, so its scenario would run at the defaults)."""
    odd = SimSettings(display_rate=60, physics_rate=700, logic_rate=45, substeps_per_tick=2)
    path, log = _record(odd, tmp_path, "odd")
    header = SessionLog.read(path).header
    assert header["display_rate"] == "60" and header["substeps_per_tick"] == 2
    assert header["rates"] == {
        "input": None,
        "control": None,
        "physics": "700",
        "logic": "45",
        "record": None,
        "render": None,
    }
    assert SimSettings.from_header(header) == odd
    _, default_log = _record(None, tmp_path, "default")
    assert default_log.footer["digest"] != log.footer["digest"]  # the rates matter to the outcome
    result, session = replay(SessionLog.read(path))
    try:
        assert result.ok, result.first_difference
        assert result.frames == 120 and result.events_replayed == len(log.events) > 0
        assert session.app.resource(SimSettings) == odd
    finally:
        session.close()


def test_a_header_without_substeps_replays_at_one_substep_per_tick():
    header = {"display_rate": "90", "rates": {"physics": "900", "logic": "60"}}
    assert SimSettings.from_header(header) == SimSettings()
    with pytest.raises(ConfigError, match="records no stage rates"):
        SimSettings.from_header({"display_rate": "90"})
