"""Contact inside the tet sweep (opt-in ``CollisionSettings(sweep_contact=True)``, docs/physics.md
"Contact inside the tet sweep"): the 5 mm sphere pressed 40 mm at 2 m/s into the top face's centre
of an 80 x 60 x 80 mm block of 8 mm cells (liver material, bottom pinned; ``vrmed bench
tool_press block``), where the contacts projected after the solve let the block close over the
tool (``ToolInsideTissue(pushed_through)`` at 0 N), then held 1 s: with the sweep on it holds."""

from __future__ import annotations

import warnings

import pytest

from vrmed.benchmarks.tool_press import press

pytestmark = pytest.mark.slow


def test_the_sweep_holds_the_block_the_contacts_alone_let_close_over_the_tool() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the solver's softening notes
        row = press("block", None, 2.0, sweep=True)
    assert row["events"] == "", row["events"]  # no push-through, no "found inside"
    assert row["inside_mm"] <= 0.5  # the contact's stated tolerance
    assert row["force_n"] > 1.0  # the tool is held by the tissue's reaction, not slipped past
