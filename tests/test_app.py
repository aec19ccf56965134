"""App: world isolation, resources, plugins, events, deferred structural changes."""

from __future__ import annotations

from dataclasses import dataclass

import esper
import numpy as np
import pytest

from vrmed import App, ConfigError, Event, vec3


@dataclass
class Pos:
    value: np.ndarray = vec3()


@dataclass
class Vel:
    value: np.ndarray = vec3(1.0, 0.0, 0.0)


@dataclass(frozen=True)
class Ping(Event):
    n: int


def test_two_apps_never_see_each_others_entities():
    a, b = App(), App()
    try:
        ea = a.spawn(Pos())
        b.spawn(Pos(), Vel())
        b.spawn(Vel())
        assert [e for e, _ in a.query(Pos)] == [ea]
        assert len(b.query(Pos)) == 1 and len(b.query(Vel)) == 2
        assert a.query(Vel) == []
        # Interleaved use keeps them apart even when esper's active world is switched.
        esper.switch_world("default")
        assert len(a.entities()) == 1 and len(b.entities()) == 2
        assert a.world_name != b.world_name
    finally:
        a.close()
        b.close()
    assert a.world_name not in esper.list_worlds()


def test_systems_only_touch_their_own_world():
    a, b = App(), App()
    try:
        a.spawn(Pos())
        b.spawn(Pos())

        def move(app):
            for _, p in app.query(Pos):
                p.value += 1.0

        a.add_system(move, stage="logic")
        a.step(6)  # logic at 60 Hz: 6 frames at 90 Hz = 4 ticks
        assert a.query(Pos)[0][1].value[0] == 4.0
        assert b.query(Pos)[0][1].value[0] == 0.0
    finally:
        a.close()
        b.close()


def test_resources_are_typed_singletons(app):
    @dataclass
    class Settings:
        gravity: float = -9.81

    app.insert_resource(Settings())
    assert app.resource(Settings).gravity == -9.81
    assert app.try_resource(int) is None
    with pytest.raises(ConfigError, match="no int resource in this App"):
        app.resource(int)


def test_plugin_build_ready_finish_order(app):
    calls = []

    class Late:
        polls = 0

        def build(self, app):
            calls.append("build")

        def ready(self, app):
            calls.append("ready")
            return True

        def finish(self, app):
            calls.append("finish")

    app.add_plugin(Late())
    assert calls == ["build"]
    app.step()
    assert calls == ["build", "ready", "finish"]
    app.step()
    assert calls == ["build", "ready", "finish"]
    with pytest.raises(ConfigError, match="before the App's first frame"):
        app.add_plugin(Late())


def test_plugin_never_ready_is_a_clear_error(app):
    class Never:
        def build(self, app):
            pass

        def ready(self, app):
            return False

    app.add_plugin(Never())
    with pytest.raises(ConfigError, match="plugin Never is not ready"):
        app.step()


def test_not_a_plugin(app):
    with pytest.raises(ConfigError, match="has no build"):
        app.add_plugin(object())


def test_events_visible_to_later_and_earlier_systems_and_readers_see_each_once(app):
    seen_late, seen_early, reader_seen = [], [], []
    reader = app.event_reader(Ping)

    def early(app):  # runs before the sender in the frame: sees last frame's events
        seen_early.append([p.n for p in app.read_events(Ping)])
        reader_seen.append([p.n for p in reader.read()])

    def send(app):
        app.send(Ping(app.clock.frame))

    def late(app):
        seen_late.append([p.n for p in app.read_events(Ping)])

    app.add_system(early, stage="input")
    app.add_system(send, stage="control")
    app.add_system(late, stage="record")
    app.step(3)
    assert seen_late == [[0], [0, 1], [1, 2]]
    assert seen_early == [[], [0], [1]]
    assert reader_seen == [[], [0], [1]]


def test_event_must_subclass_event(app):
    with pytest.raises(TypeError, match="must subclass vrmed.Event"):
        app.send("hello")


def test_spawn_and_despawn_inside_a_frame_apply_at_the_stage_boundary(app):
    observed = {}
    victim = app.spawn(Pos())

    def spawner(app):
        if app.clock.frame == 0:
            observed["id"] = app.spawn(Pos(), Vel())
            app.despawn(victim)
            # Nothing changes while the stage is running.
            observed["during"] = (len(app.query(Vel)), len(app.query(Pos)))

    def watcher(app):
        if app.clock.frame == 0:
            observed["next_stage"] = (len(app.query(Vel)), len(app.query(Pos)))

    app.add_system(spawner, stage="control")
    app.add_system(watcher, stage="record")
    app.step(1)
    assert observed["during"] == (0, 1)
    assert observed["next_stage"] == (1, 1)
    assert [e for e, _ in app.query(Pos)] == [observed["id"]]


def test_commands_add_and_remove_component(app):
    e = app.spawn(Pos())

    def change(app):
        if app.clock.frame == 0:
            app.commands.add_component(e, Vel())
        elif app.clock.frame == 1:
            app.commands.remove_component(e, Pos)

    app.add_system(change, stage="control")
    app.step(1)
    assert app.try_get(e, Vel) is not None and app.try_get(e, Pos) is not None
    app.step(1)
    assert app.try_get(e, Pos) is None


def test_snapshot_copies_arrays_and_digest_changes_with_state(app):
    e = app.spawn(Pos())
    snap = app.snapshot()
    d0 = app.state_digest()
    app.get(e, Pos).value[0] = 1e-300
    assert snap[e]["test_app.Pos"]["value"][0] == 0.0
    assert app.state_digest() != d0


def test_run_frames_or_seconds(app):
    assert app.run(seconds=0.5) == 45
    assert app.clock.frame == 45
    with pytest.raises(ConfigError, match="exactly one of frames or seconds"):
        app.run()
    with pytest.raises(ConfigError, match="seconds must be positive"):
        app.run(seconds=-1)
