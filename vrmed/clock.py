"""The deterministic simulation clock and seeded random numbers.

Systems read time from :class:`SimClock`, never from the wall clock, so that the same
seed and the same recorded input reproduce a session bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np


@dataclass
class SimClock:
    """Simulation time as seen by the system that is running now.

    ``time`` is the start of the current tick of the running stage, ``dt`` that stage's
    fixed step (both in seconds); ``frame`` counts display frames; ``stage`` names the
    stage being run and ``tick`` counts its ticks since start. Exact time is kept as a
    :class:`fractions.Fraction` so rates such as 1000 Hz inside 90 Hz frames never drift.
    """

    frame: int = 0
    stage: str = ""
    tick: int = 0
    exact_time: Fraction = Fraction(0)
    exact_dt: Fraction = Fraction(0)
    frame_time: Fraction = Fraction(0)

    @property
    def time(self) -> float:
        """Start of the current tick in seconds."""
        return float(self.exact_time)

    @property
    def dt(self) -> float:
        """Fixed step of the running stage in seconds."""
        return float(self.exact_dt)


@dataclass
class Rng:
    """The App's seeded random number generator (numpy PCG64).

    Use ``app.resource(Rng).generator`` in systems; never ``random`` or an unseeded numpy
    generator, or replays diverge.
    """

    seed: int
    generator: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.generator = np.random.default_rng(self.seed)
