"""A vrmed App built in code: a plugin adds a component, a resource, an event and two
systems, then the App runs headless at 90 Hz with a 900 Hz physics stage.

    python examples/hello_app.py --headless --frames 90
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

import vrmed


@dataclass
class Pendulum:
    """A simple pendulum: length (m), angle (rad) and angular velocity (rad/s)."""

    length: float = 0.5
    angle: float = 0.3
    omega: float = 0.0


@dataclass(frozen=True)
class Swung(vrmed.Event):
    """The pendulum passed through the bottom."""

    time: float


class PendulumPlugin:
    """Integrates pendulums at the physics rate and reports bottom crossings."""

    def build(self, app: vrmed.App) -> None:
        app.register_component(Pendulum)
        app.add_system(self.integrate, in_set="physics.solve", name="pendulum.integrate")
        app.add_system(self.count, in_set="logic.scoring", name="pendulum.count")
        self.crossings = app.event_reader(Swung)
        self.total = 0

    def integrate(self, app: vrmed.App) -> None:
        dt = app.clock.dt
        for _, p in app.query(Pendulum):
            before = p.angle
            p.omega -= 9.81 / p.length * np.sin(p.angle) * dt  # semi-implicit Euler
            p.angle += p.omega * dt
            if before * p.angle < 0:
                app.send(Swung(app.clock.time))

    def count(self, app: vrmed.App) -> None:
        self.total += len(self.crossings.read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--headless", action="store_true")
    parser.add_argument("--frames", type=int, default=450)
    args = parser.parse_args()
    with vrmed.App(seed=0) as app:
        plugin = PendulumPlugin()
        app.add_plugin(plugin)
        app.spawn(Pendulum())
        app.run(frames=args.frames)
        seconds = app.clock.frame / 90
        period = 2 * np.pi * np.sqrt(0.5 / 9.81)
        print(
            f"{args.frames} frames ({seconds:.2f} s): {plugin.total} bottom crossings "
            f"(small-angle theory: about {2 * seconds / period:.1f})"
        )
        for name, t in app.timings().items():
            print(f"  {name}: {t['mean_ms']:.4f} ms mean")


if __name__ == "__main__":
    main()
