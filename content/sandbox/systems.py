"""Sandbox systems: bouncing balls (vectorised numpy over one array component), a hand that
follows a tracked device, and pokes that kick balls in a random (seeded) direction."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import vrmed
from vrmed.api import DrawList, Transform

GRAVITY = np.array([0.0, -9.81, 0.0])


@vrmed.component
@dataclass
class BallPit:
    """``count`` balls of ``radius`` (m) bouncing on the floor y = 0 with a coefficient of
    restitution; state arrays are created on first use from a seeded random layout."""

    count: int = 8
    radius: float = 0.03
    restitution: float = 0.6
    spread: float = 0.2
    drop_height: float = 0.5
    positions: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    velocities: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError("count must be at least 1")
        if not 0.0 <= self.restitution <= 1.0:
            raise ValueError("restitution must be between 0 and 1")
        if self.radius <= 0:
            raise ValueError("radius must be positive")


@vrmed.component
@dataclass
class Hand:
    """A cursor following tracked device ``device``; pokes balls within ``reach`` metres
    while the trigger is pressed."""

    device: str = "right_hand"
    reach: float = 0.05


@dataclass(frozen=True)
class BallBounced(vrmed.Event):
    """A ball hit the floor faster than 0.5 m/s."""

    ball: int
    speed: float


@dataclass(frozen=True)
class BallPoked(vrmed.Event):
    """The hand poked a ball."""

    ball: int
    hand: str


@dataclass
class SandboxScore:
    """Counts of what happened (a resource), with the event readers that feed it."""

    poke_reader: vrmed.EventReader
    bounce_reader: vrmed.EventReader
    pokes: int = 0
    bounces: int = 0


def setup(app: vrmed.App, scenario: object) -> None:
    """Per-session resources."""
    app.insert_resource(SandboxScore(app.event_reader(BallPoked), app.event_reader(BallBounced)))


@vrmed.system("physics", in_set="physics.solve")
def integrate_balls(app: vrmed.App) -> None:
    """Semi-implicit Euler under gravity with restitution at the floor, all balls at once."""
    dt = app.clock.dt
    for _, pit in app.query(BallPit):
        if pit.positions.shape[0] != pit.count:
            rng = app.resource(vrmed.Rng).generator
            pit.positions = np.column_stack(
                [
                    rng.uniform(-pit.spread, pit.spread, pit.count),
                    pit.drop_height + rng.uniform(0.0, 0.1, pit.count),
                    rng.uniform(-pit.spread / 4, pit.spread / 4, pit.count),
                ]
            )
            pit.velocities = np.zeros((pit.count, 3))
        pit.velocities += GRAVITY * dt
        pit.positions += pit.velocities * dt
        below = pit.positions[:, 1] < pit.radius
        if below.any():
            impact = -pit.velocities[below, 1]
            pit.positions[below, 1] = pit.radius
            pit.velocities[below, 1] = np.where(impact > 0, impact * pit.restitution, pit.velocities[below, 1])
            for ball in np.flatnonzero(below)[impact > 0.5]:
                app.send(BallBounced(int(ball), float(-pit.velocities[ball, 1] / pit.restitution)))


@vrmed.system("control", in_set="control.instruments")
def follow_hand(app: vrmed.App) -> None:
    """Move each hand's Transform to its device's tracked position."""
    inputs = app.resource(vrmed.InputState)
    for _, (tf, hand) in app.query(Transform, Hand):
        tf.position[:] = inputs.device(hand.device).position


@vrmed.system("logic", in_set="logic.interaction")
def poke_balls(app: vrmed.App) -> None:
    """With the trigger held, kick every ball within reach upwards in a random direction."""
    inputs = app.resource(vrmed.InputState)
    rng = app.resource(vrmed.Rng).generator
    for _, (tf, hand) in app.query(Transform, Hand):
        if inputs.device(hand.device).button("trigger") < 0.5:
            continue
        for _, pit in app.query(BallPit):
            if pit.positions.shape[0] == 0:
                continue
            dist = np.linalg.norm(pit.positions - tf.position, axis=1)
            for ball in np.flatnonzero(dist < hand.reach + pit.radius):
                kick = rng.normal(0.0, 0.5, 3)
                kick[1] = 2.0 + abs(kick[1])
                pit.velocities[ball] = kick
                app.send(BallPoked(int(ball), hand.device))


@vrmed.system("logic", in_set="logic.scoring")
def keep_score(app: vrmed.App) -> None:
    """Tally pokes and bounces into the SandboxScore resource."""
    score = app.resource(SandboxScore)
    score.pokes += len(score.poke_reader.read())
    score.bounces += len(score.bounce_reader.read())


@vrmed.system("render", in_set="render.prepare")
def draw_sandbox(app: vrmed.App) -> None:
    """Queue the balls and the hand cursor for the renderer (nothing to do without one)."""
    draws = app.try_resource(DrawList)
    if draws is None:
        return
    for _, pit in app.query(BallPit):
        if pit.positions.size:
            draws.add_spheres(pit.positions, pit.radius, (0.85, 0.25, 0.2, 1.0))
    for _, (tf, hand) in app.query(Transform, Hand):
        draws.add_spheres(tf.position[None, :], hand.reach / 2, (0.3, 0.5, 0.9, 1.0))


def summary(app: vrmed.App) -> dict:
    """What `vrmed run sandbox` prints at the end."""
    score = app.resource(SandboxScore)
    heights = [float(pit.positions[:, 1].max()) for _, pit in app.query(BallPit) if pit.positions.size]
    return {"pokes": score.pokes, "bounces": score.bounces, "highest_ball_m": max(heights, default=0.0)}


#: Pokes needed to pass, and the score ceiling (xAPI scores need a fixed maximum).
POKES_TO_PASS = 10
MAX_SCORE = 20.0


def score(log: vrmed.api.SessionLog) -> dict:
    """Score a recorded session from its log alone (so stored sessions can be re-scored).

    One point per BallPoked event (capped at ``MAX_SCORE``); passed with at least
    ``POKES_TO_PASS`` pokes. Metrics: pokes, bounces and the simulated time of the first
    poke (the session length when there was none); targets are the proficiency levels.
    """
    pokes = [e for e in log.events if e["type"].endswith(":BallPoked")]
    bounces = sum(1 for e in log.events if e["type"].endswith(":BallBounced"))
    sim_time = float((log.footer or {}).get("sim_time", 0.0))
    first = float(pokes[0]["t"]) if pokes else sim_time
    return {
        "score": float(min(len(pokes), MAX_SCORE)),
        "max_score": MAX_SCORE,
        "passed": len(pokes) >= POKES_TO_PASS,
        "metrics": {"pokes": float(len(pokes)), "bounces": float(bounces), "time_to_first_poke": first},
        "targets": {"pokes": float(POKES_TO_PASS), "time_to_first_poke": 2.0},
    }
