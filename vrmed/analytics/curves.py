"""Learning curves: CUSUM of pass/fail outcomes, moving averages of a metric, and a
predicted number of attempts to reach a proficiency target.

**CUSUM** (Bolsin & Colson 2000, "The use of the Cusum technique in the assessment of
trainee competence in new procedures", Int J Qual Health Care 12:433-438; the sequential
probability ratio form of Williams et al. 1992, Br J Surg 79:925): with an acceptable
failure rate ``p0`` and an unacceptable one ``p1``, each success subtracts ``s`` and each
failure adds ``1 - s``, where ``s = Q / (P + Q)``, ``P = ln(p1 / p0)``,
``Q = ln((1 - p0) / (1 - p1))``. The decision interval ``h0 = ln((1 - alpha) / beta) /
(P + Q)``: a learner whose curve has fallen ``h0`` below its highest point performs at the
acceptable rate (proficient); one that has risen ``h1 = ln((1 - beta) / alpha) / (P + Q)``
above its lowest point performs at the unacceptable rate.

**Predicted attempts to proficiency**: the power law of practice (Newell & Rosenbloom
1981, "Mechanisms of skill acquisition and the law of practice"): the metric is fitted as
``y = a + b ln(n)`` over attempt number ``n`` by least squares (a straight line on a
log-attempt axis), and the curve is solved for the target. No prediction when fewer than
three attempts, or when the fit does not move toward the target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CusumSpec:
    """Acceptable / unacceptable failure rates and the error rates of the decision."""

    p0: float = 0.15
    p1: float = 0.40
    alpha: float = 0.1
    beta: float = 0.1

    @property
    def s(self) -> float:
        """The decrement per success."""
        p, q = math.log(self.p1 / self.p0), math.log((1 - self.p0) / (1 - self.p1))
        return q / (p + q)

    @property
    def h0(self) -> float:
        """Fall below the running maximum that shows the acceptable failure rate."""
        p, q = math.log(self.p1 / self.p0), math.log((1 - self.p0) / (1 - self.p1))
        return math.log((1 - self.alpha) / self.beta) / (p + q)

    @property
    def h1(self) -> float:
        """Rise above the running minimum that shows the unacceptable failure rate."""
        p, q = math.log(self.p1 / self.p0), math.log((1 - self.p0) / (1 - self.p1))
        return math.log((1 - self.beta) / self.alpha) / (p + q)


def cusum(outcomes: np.ndarray, spec: CusumSpec | None = None) -> np.ndarray:
    """The CUSUM curve of a pass (1) / fail (0) sequence (0 before the first attempt)."""
    spec = spec or CusumSpec()
    fails = 1.0 - np.asarray(outcomes, float)
    return np.concatenate([[0.0], np.cumsum(fails - spec.s)])


def cusum_state(outcomes: np.ndarray, spec: CusumSpec | None = None) -> str:
    """``proficient`` when the curve's last point is at least ``h0`` below its highest point
    so far, ``struggling`` when it is ``h1`` above its lowest, else ``undecided``."""
    spec = spec or CusumSpec()
    c = cusum(outcomes, spec)
    if c.size < 2:
        return "undecided"
    if np.max(c) - c[-1] >= spec.h0:
        return "proficient"
    if c[-1] - np.min(c) >= spec.h1:
        return "struggling"
    return "undecided"


def moving_average(values: np.ndarray, window: int = 5) -> np.ndarray:
    """Trailing moving average (the first ``window - 1`` points average what there is)."""
    v = np.asarray(values, float)
    if v.size == 0:
        return v
    c = np.cumsum(np.concatenate([[0.0], v]))
    n = np.arange(1, v.size + 1)
    lo = np.maximum(0, n - window)
    return (c[n] - c[lo]) / (n - lo)


@dataclass(frozen=True)
class Prediction:
    """The fitted learning curve ``y = a + b ln(n)`` and the attempt it reaches the target."""

    a: float
    b: float
    reached_at: int | None  # attempt number (1-based) where the fit meets the target; None: never
    attempts_left: int | None  # attempts after the last one; 0 when the last one met the target

    def value(self, n: np.ndarray) -> np.ndarray:
        """The fitted curve at attempt numbers ``n``."""
        return self.a + self.b * np.log(np.asarray(n, float))


def predict_attempts(values: np.ndarray, target: float, direction: str, max_n: int = 10_000) -> Prediction | None:
    """Fit the power law of practice and solve for the target (``direction``: ``lower``
    means values at or below the target are proficient). None with fewer than three values."""
    v = np.asarray(values, float)
    if v.size < 3 or direction not in ("lower", "higher"):
        return None
    n = np.arange(1, v.size + 1, dtype=float)
    b, a = np.polyfit(np.log(n), v, 1)
    met = (lambda y: y <= target) if direction == "lower" else (lambda y: y >= target)
    if met(float(v[-1])) and met(float(a + b * math.log(v.size))):
        return Prediction(float(a), float(b), v.size, 0)
    improving = b < 0 if direction == "lower" else b > 0
    if not improving:
        return Prediction(float(a), float(b), None, None)
    n_star = math.exp((target - a) / b)
    if not math.isfinite(n_star) or n_star > max_n:
        return Prediction(float(a), float(b), None, None)
    reach = max(1, math.ceil(n_star))
    return Prediction(float(a), float(b), reach, max(0, reach - v.size))


def is_stuck(outcomes: np.ndarray, window: int = 5, min_attempts: int = 5, spec: CusumSpec | None = None) -> bool:
    """A learner is stuck on a skill after at least ``min_attempts`` attempts when the last
    ``window`` attempts passed at most once and the CUSUM is not proficient."""
    o = np.asarray(outcomes, float)
    if o.size < min_attempts:
        return False
    return bool(o[-window:].sum() <= 1 and cusum_state(o, spec) != "proficient")


__all__ = ["CusumSpec", "Prediction", "cusum", "cusum_state", "is_stuck", "moving_average", "predict_attempts"]
