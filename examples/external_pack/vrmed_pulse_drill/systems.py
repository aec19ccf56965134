"""Systems of the pulse_drill pack."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import vrmed
from vrmed.api import Transform


@vrmed.component
@dataclass
class Wrist:
    """A wrist to palpate: the hand must stay within ``radius`` m for ``hold_seconds``."""

    radius: float = 0.04
    hold_seconds: float = 0.3
    held: float = 0.0
    checks: int = 0


@dataclass(frozen=True)
class PulseChecked(vrmed.Event):
    """A pulse check lasted long enough."""

    time: float


@vrmed.system("logic", in_set="logic.interaction")
def check_pulse(app: vrmed.App) -> None:
    """Accumulate contact time; a contact that reaches hold_seconds counts once."""
    hand = app.resource(vrmed.InputState).device("right_hand").position
    for _, (tf, wrist) in app.query(Transform, Wrist):
        if np.linalg.norm(hand - tf.position) <= wrist.radius:
            before = wrist.held
            wrist.held += app.clock.dt
            if before < wrist.hold_seconds <= wrist.held + 1e-12:
                wrist.checks += 1
                app.send(PulseChecked(app.clock.time))
        else:
            wrist.held = 0.0


def summary(app: vrmed.App) -> dict:
    """Printed by `vrmed run pulse_drill`."""
    return {"pulse_checks": [w.checks for _, w in app.query(Wrist)]}
