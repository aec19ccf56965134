"""Planar rigid bodies (pymunk) on a work surface: sliding to rest, lifting, dropping."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vrmed import App
from vrmed.components.planar.bodies import Peg, PlanarBody, WorkSurface
from vrmed.systems.planar.system import GRAVITY, ObjectLanded, ObjectLost, PlanarPlugin, PlanarWorld


def make_app(mu=0.3, **body_kw):
    app = App(seed=0, rates={"physics": 1000})
    app.add_plugin(PlanarPlugin())
    app.spawn(WorkSurface(origin=np.array([0.0, 0.8, 0.0]), size=np.array([0.4, 0.3]), friction=mu))
    peg = app.spawn(Peg(at=np.array([0.1, 0.05]), radius=0.002))
    ring = app.spawn(PlanarBody(radius=0.01, inner_radius=0.006, mass=0.002, **body_kw))
    return app, ring, peg


def events(app, kind):
    return [e for e in app.read_events(kind)]


def test_ring_dropped_on_the_board_lands_when_free_fall_says_and_comes_to_rest():
    h = 0.05
    app, ring, _ = make_app(position=np.array([-0.05, 0.8 + h, 0.0]))
    landed = app.event_reader(ObjectLanded)
    frames_to_land = None
    for frame in range(60):
        app.step()
        if landed.read():
            frames_to_land = frame + 1
            break
    t_fall = math.sqrt(2 * h / GRAVITY)  # 0.101 s
    assert frames_to_land is not None
    assert abs(frames_to_land / 90 - t_fall) <= 1 / 90 + 0.002
    body = app.get(ring, PlanarBody)
    assert body.mode == "surface"
    app.step(90)
    assert np.allclose(body.position, [-0.05, 0.8, 0.0], atol=1e-9)  # landed straight down, at rest
    assert np.allclose(body.velocity, 0.0)
    app.close()


@pytest.mark.parametrize("mu", [0.2, 0.5])
def test_sliding_stops_at_the_coulomb_distance(mu):
    """A ring launched at v0 on the board stops after v0^2 / (2 mu g)."""
    v0 = 0.4
    app, ring, _ = make_app(
        mu=mu, position=np.array([-0.15, 0.8, 0.1]), velocity=np.array([v0, 0.0, 0.0]), mode="surface"
    )
    app.step(180)
    body = app.get(ring, PlanarBody)
    travelled = body.position[0] + 0.15
    expected = v0**2 / (2 * mu * GRAVITY)
    assert travelled == pytest.approx(expected, rel=0.02)
    assert np.allclose(body.velocity, 0.0)
    app.close()


def test_rim_keeps_a_fast_ring_on_the_board():
    app, ring, _ = make_app(
        mu=0.05, position=np.array([0.1, 0.8, -0.1]), velocity=np.array([3.0, 0.0, 0.0]), mode="surface"
    )
    app.step(120)
    x, y, _ = app.get(app.query(WorkSurface)[0][0], WorkSurface).to_plane(app.get(ring, PlanarBody).position)
    assert abs(x) <= 0.2 and abs(y) <= 0.15
    app.close()


def test_pick_up_carry_release_onto_a_peg_and_pick_up_again():
    app, ring, peg = make_app(position=np.array([-0.05, 0.8, 0.0]), mode="surface")
    app.step(5)
    world = app.resource(PlanarWorld)
    assert ring in world.slots
    world.pick_up(app, ring, "left_grasper", np.array([-0.05, 0.82, 0.0]))
    assert ring not in world.slots and len(world.space.bodies) == 0
    surface = app.get(app.query(WorkSurface)[0][0], WorkSurface)
    target = surface.to_world(0.1, 0.05, 0.04)  # 4 cm above the peg
    for k in range(1, 31):
        world.move_held(app, ring, (1 - k / 30) * np.array([-0.05, 0.82, 0.0]) + (k / 30) * target, 1 / 90)
        app.step()
    world.move_held(app, ring, target, 1 / 90)  # hold still, then let go
    world.release(app, ring)
    app.step(30)
    body = app.get(ring, PlanarBody)
    assert body.mode == "on_peg" and body.peg == peg
    assert np.allclose(body.position, surface.to_world(0.1, 0.05, 0.0))
    world.pick_up(app, ring, "right_grasper", surface.to_world(0.1, 0.05, 0.035))
    assert app.get(ring, PlanarBody).mode == "held"
    app.close()


def test_ring_dropped_off_the_board_is_lost_and_cannot_be_picked_up():
    from vrmed import VrmedError

    app, ring, _ = make_app(position=np.array([0.5, 0.9, 0.0]))
    lost = app.event_reader(ObjectLost)
    seen = []
    for _ in range(60):
        app.step()
        seen += lost.read()
    assert len(seen) == 1 and seen[0].entity == ring
    assert app.get(ring, PlanarBody).mode == "lost"
    with pytest.raises(VrmedError, match="dropped off the surface and cannot be picked up"):
        app.resource(PlanarWorld).pick_up(app, ring, "left_grasper", np.zeros(3))
    app.close()


def test_planar_is_deterministic():
    digests = []
    for _ in range(2):
        app, ring, _ = make_app(position=np.array([-0.1, 0.85, 0.02]), velocity=np.array([0.3, 0.0, 0.1]))
        app.step(120)
        digests.append(app.state_digest())
        app.close()
    assert digests[0] == digests[1]


def test_bad_parameters_are_rejected():
    with pytest.raises(ValueError, match="inner_radius must be at least 0 and smaller than radius"):
        PlanarBody(radius=0.01, inner_radius=0.02)
    with pytest.raises(ValueError, match="two non-parallel vectors"):
        WorkSurface(u=np.array([1.0, 0, 0]), v=np.array([2.0, 0, 0]))
