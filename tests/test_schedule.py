"""Stages run in order at their own fixed rates; ordering sets and constraints."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from vrmed import STAGES, App, ConfigError


def test_stage_order_within_a_frame(app):
    order = []
    for stage in reversed(STAGES):  # registration order must not matter
        app.add_system(lambda app, s=stage: order.append((app.clock.frame, s)), stage=stage, name=f"mark.{stage}")
    app.step(2)
    # physics runs 10x at 900 Hz in a 90 Hz frame; logic at 60 Hz has no whole tick in
    # frame 0 (1/90 s < 1/60 s) and one in frame 1.
    assert [s for f, s in order if f == 0] == ["input", "control"] + ["physics"] * 10 + ["record", "render"]
    assert [s for f, s in order if f == 1] == ["input", "control"] + ["physics"] * 10 + ["logic", "record", "render"]


def test_1khz_physics_runs_11_or_12_times_per_90hz_frame_as_the_accumulator_says():
    app = App(display_rate=90, rates={"physics": 1000})
    counts = []
    try:
        app.add_system(lambda app: counts.append(app.clock.frame), stage="physics", name="count")
        app.step(90)
    finally:
        app.close()
    per_frame = [counts.count(f) for f in range(90)]
    # Accumulator: after frame k (0-based) floor((k+1) * 1000/90) ticks have run in total.
    expected = [math.floor(Fraction(1000 * (k + 1), 90)) - math.floor(Fraction(1000 * k, 90)) for k in range(90)]
    assert per_frame == expected
    assert set(per_frame) == {11, 12}
    assert sum(per_frame) == 1000  # exactly one second of physics after 90 frames


def test_clock_reports_stage_time_and_dt():
    app = App(display_rate=90, rates={"physics": 1000, "logic": 60})
    seen = []
    try:
        app.add_system(lambda app: seen.append(("p", app.clock.time, app.clock.dt)), stage="physics", name="p")
        app.add_system(lambda app: seen.append(("l", app.clock.time, app.clock.dt)), stage="logic", name="l")
        app.step(90)
    finally:
        app.close()
    phys = [(t, dt) for k, t, dt in seen if k == "p"]
    logic = [(t, dt) for k, t, dt in seen if k == "l"]
    assert len(phys) == 1000 and len(logic) == 60
    assert phys[999] == (0.999, 0.001)
    assert logic[59] == (59 / 60, 1 / 60)


def test_sets_order_systems_without_naming_them(app):
    order = []
    app.add_system(lambda a: order.append("scoring"), in_set="logic.scoring", name="score")
    app.add_system(lambda a: order.append("scenario"), in_set="logic.scenario", name="scen")
    app.add_system(
        lambda a: order.append("after-scenario"),
        stage="logic",
        after="logic.scenario",
        before="logic.scoring",
        name="mid",
    )
    app.add_system(lambda a: order.append("solve"), in_set="physics.solve", name="solve")
    app.add_system(lambda a: order.append("collide"), in_set="physics.collision", name="collide")
    app.step(2)
    assert order[:2] == ["collide", "solve"]
    assert [o for o in order if o not in ("collide", "solve")] == ["scenario", "after-scenario", "scoring"]


def test_after_a_stage_is_only_valid_from_a_later_stage(app):
    app.add_system(lambda a: None, stage="logic", after="physics", name="ok")
    app.add_system(lambda a: None, stage="control", after="physics", name="bad")
    with pytest.raises(ConfigError, match="system 'bad' is in stage 'control' but asks to run after stage 'physics'"):
        app.step()


def test_explicit_system_ordering_and_priority(app):
    order = []
    app.add_system(lambda a: order.append("b"), stage="render", name="b", after="a")
    app.add_system(lambda a: order.append("a"), stage="render", name="a")
    app.add_system(lambda a: order.append("first"), stage="render", name="first", priority=-1)
    app.step(1)
    assert order == ["first", "a", "b"]


def test_ordering_cycle_is_reported(app):
    app.add_system(lambda a: None, stage="logic", name="x", after="y")
    app.add_system(lambda a: None, stage="logic", name="y", after="x")
    with pytest.raises(ConfigError, match="ordering cycle in stage 'logic' among systems: x, y"):
        app.step()


def test_unknown_reference_stage_and_duplicate_names(app):
    with pytest.raises(ConfigError, match="unknown stage 'physic'"):
        app.add_system(lambda a: None, stage="physic", name="z")
    with pytest.raises(ConfigError, match="belongs to stage 'physics', not 'logic'"):
        app.add_system(lambda a: None, stage="logic", in_set="physics.solve", name="z")
    app.add_system(lambda a: None, stage="logic", name="z", after="nobody")
    with pytest.raises(ConfigError, match="already registered"):
        app.add_system(lambda a: None, stage="logic", name="z")
    with pytest.raises(ConfigError, match="asks to run after 'nobody', which is not a stage"):
        app.step()


def test_bad_rates_are_rejected():
    with pytest.raises(ConfigError, match="unknown stage 'fizzics' in rates"):
        App(rates={"fizzics": 100})
    with pytest.raises(ConfigError, match="physics rate must be a positive finite number"):
        App(rates={"physics": 0})


def test_per_system_timing_is_available(app):
    app.add_system(lambda a: sum(range(1000)), stage="physics", name="work")
    app.step(20)
    t = app.timings()
    assert t["work"]["calls"] == 200
    assert t["work"]["mean_ms"] > 0 and t["work"]["p99_ms"] >= t["work"]["mean_ms"] * 0.5
    assert t["frame"]["calls"] == 20
    assert app.system_order()["physics"] == ["work"]


def test_seeded_rng_is_reproducible():
    from vrmed import Rng

    draws = []
    for _ in range(2):
        app = App(seed=42)
        try:
            draws.append(app.resource(Rng).generator.random(5))
        finally:
            app.close()
    assert (draws[0] == draws[1]).all()


def test_before_a_set_of_an_earlier_stage_is_an_error(app):
    app.add_system(lambda a: None, stage="logic", before="physics.solve", name="late")
    with pytest.raises(
        ConfigError,
        match=r"system 'late' is in stage 'logic' but asks to run before set "
        r"'physics.solve' \(stage 'physics'\)",
    ):
        app.step()
