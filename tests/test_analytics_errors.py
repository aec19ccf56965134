"""Task time, drops, FLS score and tissue damage from small synthetic logs (hand-computed)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from vrmed.analytics.errors import count_events, fls_score, object_drops, peg_transfer_penalty, task_time, tissue_damage


def ev(t, kind, **data):
    return {"t": t, "frame": int(t * 90), "type": f"somewhere.module:{kind}", "data": data}


def log_of(*events):
    return SimpleNamespace(events=list(events), inputs={}, header={})


def test_fls_score_is_cutoff_minus_time_minus_penalty():
    assert fls_score(300.0, 48.0) == 252.0
    assert fls_score(300.0, 100.0, 10.0) == 190.0
    assert fls_score(300.0, None) == 0.0  # not completed: time = cutoff
    assert fls_score(300.0, 290.0, 50.0) == 0.0  # never below zero
    assert fls_score(300.0, 400.0) == 0.0
    assert peg_transfer_penalty(1, 6) == pytest.approx(100 / 6)
    assert peg_transfer_penalty(0, 6) == 0.0


def test_task_time_from_first_start_to_completion():
    log = log_of(
        ev(0.5, "ObjectLanded", entity=1, peg=3, x=0, y=0),
        ev(2.0, "ObjectLifted", entity=1, by="l"),
        ev(5.0, "ObjectLifted", entity=2, by="l"),
        ev(41.5, "TaskCompleted", task="p", rings=6),
    )
    assert task_time(log, "ObjectLifted", "TaskCompleted") == pytest.approx(39.5)
    assert task_time(log_of(ev(1.0, "ObjectLifted", entity=1, by="l")), "ObjectLifted", "TaskCompleted") is None
    assert task_time(log_of(), "ObjectLifted", "TaskCompleted") is None


def test_drops_are_releases_landing_off_a_peg_and_lost_is_off_the_board():
    log = log_of(
        ev(0.0, "ObjectLanded", entity=1, peg=4, x=0, y=0),  # initial placement: no release, no drop
        ev(1.0, "ObjectReleased", entity=1, by="r", height=0.02),
        ev(1.1, "ObjectLanded", entity=1, peg=7, x=0, y=0),
        ev(2.0, "ObjectReleased", entity=2, by="l", height=0.05),
        ev(2.1, "ObjectLanded", entity=2, peg=-1, x=0, y=0),
        ev(3.0, "ObjectReleased", entity=3, by="l", height=0.05),
        ev(3.1, "ObjectLost", entity=3, x=0.3, y=0),
        ev(4.0, "ObjectLanded", entity=2, peg=-1, x=0, y=0),  # no release before: not another drop
    )
    assert object_drops(log) == {"dropped": 1, "lost": 1}
    assert count_events(log, ["ObjectReleased"]) == 3


def test_tissue_damage_counts_burns_and_cuts_outside_the_allowed_region():
    log = log_of(
        ev(0.0, "AllowedRegion", body="7", tets=[1, 2, 3, 4]),
        ev(1.0, "TissueBurned", instrument="hook", body=7, tets=[1, 2, 9]),
        ev(1.5, "TissueBurned", instrument="hook", body=7, tets=[10]),
        ev(2.0, "TissueCut", instrument="scissors", body=7, tets=[3, 11, 12]),
        ev(2.5, "TissueOverstrained", body="7", tets=[20, 21], threshold=0.3),
        ev(3.0, "TissueTorn", instrument="grasper", body=7, force=3.5, threshold=3.0),
        ev(3.5, "TissueBurned", instrument="hook", body=8, tets=[1]),  # another body, no region: outside
    )
    assert tissue_damage(log, body="7") == {
        "burned_inside": 2,
        "burned_outside": 2,
        "cut_inside": 1,
        "cut_outside": 2,
        "overstrained": 2,
        "tears": 1,
    }
    total = tissue_damage(log)
    assert total["burned_outside"] == 3 and total["tears"] == 1
