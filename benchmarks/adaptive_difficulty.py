"""Adaptive difficulty on simulated learners: the Elo learner model of :mod:`vrmed.adapt`
(with and without its update-size floor) against a 2-down-1-up staircase.

Each simulated learner has a true ability ``theta(n)`` (logits) at attempt ``n`` and
succeeds at level ``L`` with ``p = 1 / (1 + exp(-(theta - span * (L - 0.5))))``, the
model's own item response function, so only the controllers differ. Five learner
profiles (issue #18): stationary, logistic (slow start, fast middle, plateau), slow
(exponential approach, tau 150 attempts), fast (tau 15) and power-law improvement. Each
controller plays 200 attempts per learner; 200 seeds per profile.

Reported per profile and controller, over the last 30 attempts: the mean true success
probability (the target is ``EloSettings.target_success`` = 0.70; the 2-down-1-up
staircase converges to 0.707, Levitt 1971, "Transformed up-down methods in
psychoacoustics", J Acoust Soc Am 49:467) and the mean absolute gap to the target; over
attempts 21-200, the mean absolute gap (how well the controller keeps up).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from vrmed.adapt import EloSettings, SkillState

ATTEMPTS = 200

PROFILES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "stationary": lambda n: np.full(n.shape, 0.5),
    "logistic": lambda n: -1.0 + 3.5 / (1.0 + np.exp(-(n - 100.0) / 20.0)),
    "slow": lambda n: -1.0 + 3.5 * (1.0 - np.exp(-n / 150.0)),
    "fast": lambda n: -1.0 + 3.5 * (1.0 - np.exp(-n / 15.0)),
    "power_law": lambda n: 2.5 - 3.5 * n**-0.5,
}


def _p(theta: float, level: float, span: float) -> float:
    return 1.0 / (1.0 + math.exp(-(theta - span * (level - 0.5))))


def simulate_elo(theta: np.ndarray, settings: EloSettings, rng: np.random.Generator) -> np.ndarray:
    """True success probabilities of each attempt under the Elo controller."""
    state, level, out = SkillState("s", settings.initial_rating), 0.5, np.empty(theta.size)
    for i, th in enumerate(theta):
        p = _p(float(th), level, settings.span)
        out[i] = p
        state = state.updated(level, bool(rng.random() < p), settings)
        level = state.next_level(settings, 0.5)
    return out


def simulate_staircase(theta: np.ndarray, span: float, rng: np.random.Generator, step: float = 0.05) -> np.ndarray:
    """True success probabilities under a 2-down-1-up staircase (two successes in a row:
    one step harder; a failure: one step easier)."""
    level, streak, out = 0.5, 0, np.empty(theta.size)
    for i, th in enumerate(theta):
        p = _p(float(th), level, span)
        out[i] = p
        if rng.random() < p:
            streak += 1
            if streak == 2:
                level, streak = min(1.0, level + step), 0
        else:
            level, streak = max(0.0, level - step), 0
    return out


def compare(seeds: int = 200) -> list[dict[str, Any]]:
    """Rows per profile and controller (see the module docstring)."""
    floor, decay_only = EloSettings(), EloSettings(k_min=0.0)
    target = floor.target_success
    n = np.arange(1, ATTEMPTS + 1, dtype=float)
    rows = []
    for profile, curve in PROFILES.items():
        theta = curve(n)
        controllers: dict[str, Callable[[np.random.Generator], np.ndarray]] = {
            f"elo k_min={floor.k_min:g}": partial(simulate_elo, theta, floor),
            "elo without floor": partial(simulate_elo, theta, decay_only),
            "staircase 2-down-1-up": partial(simulate_staircase, theta, floor.span),
        }
        for name, run in controllers.items():
            p = np.array([run(np.random.default_rng(seed)) for seed in range(seeds)])
            rows.append(
                {
                    "profile": profile,
                    "controller": name,
                    "success_last30": round(float(p[:, -30:].mean()), 3),
                    "gap_last30": round(float(np.abs(p[:, -30:] - target).mean()), 3),
                    "gap_21_200": round(float(np.abs(p[:, 20:] - target).mean()), 3),
                    "target": target,
                }
            )
    return rows


def run(options: dict[str, Any]) -> dict[str, Any]:
    """The comparison table (40 seeds with ``--quick``)."""
    return {
        "suite": "adaptive_difficulty",
        "rows": compare(40 if options.get("quick") else 200),
        "notes": [
            "true success probability of the level each controller chose; target 0.70",
            "gap_*: mean |p - 0.70|; last30: attempts 171-200; 21_200: after the first 20",
        ],
    }
