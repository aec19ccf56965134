"""Adaptive difficulty that keeps up (issue #18): the update size has a floor, so the Elo
rating follows a learner who is still improving; on simulated learners it keeps the true
success rate at least as close to the 0.70 target as a 2-down-1-up staircase."""

from __future__ import annotations

import numpy as np
import pytest

from vrmed.adapt import DifficultyError, EloSettings, SkillState
from vrmed.benchmarks.adaptive_difficulty import PROFILES, simulate_elo, simulate_staircase


def test_update_size_never_falls_below_the_floor():
    s = EloSettings()
    late = SkillState("x", 0.0, attempts=200)
    # expected success at level 0.5 with rating 0 is 0.5: the step is K * 0.5
    assert late.updated(0.5, True, s).rating == pytest.approx(s.k_min * 0.5)
    early = SkillState("x", 0.0, attempts=0)
    assert early.updated(0.5, True, s).rating == pytest.approx(s.k0 * 0.5)
    with pytest.raises(DifficultyError, match="k_min"):
        EloSettings(k_min=2.0)


@pytest.mark.parametrize("profile", ["logistic", "slow", "stationary"])
def test_floor_keeps_up_with_improving_learners_as_well_as_a_staircase(profile):
    theta = PROFILES[profile](np.arange(1, 201, dtype=float))
    seeds = range(60)
    elo = np.array([simulate_elo(theta, EloSettings(), np.random.default_rng(i)) for i in seeds])[:, -30:]
    stair = np.array([simulate_staircase(theta, 4.0, np.random.default_rng(i)) for i in seeds])[:, -30:]
    no_floor = np.array([simulate_elo(theta, EloSettings(k_min=0.0), np.random.default_rng(i)) for i in seeds])[:, -30:]
    assert abs(elo.mean() - 0.7) < 0.04  # on target over the last 30 attempts
    assert np.abs(elo - 0.7).mean() <= np.abs(stair - 0.7).mean() + 0.005
    if profile == "logistic":  # without the floor the rating lags: far too easy by the end
        assert no_floor.mean() > 0.78 and elo.mean() < no_floor.mean() - 0.06
