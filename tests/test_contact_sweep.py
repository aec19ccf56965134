"""Contact inside the tet sweep (opt-in ``CollisionSettings(sweep_contact=True)``, docs/physics.md
"Contact inside the tet sweep"): the 5 mm sphere pressed 40 mm at 2 m/s into the top face's centre
of an 80 x 60 x 80 mm block of 8 mm cells (liver material, bottom pinned; ``vrmed bench
tool_press block``), where the contacts projected after the solve let the block close over the
tool (``ToolInsideTissue(pushed_through)`` at 0 N), then held 1 s: with the sweep on it holds.
With the contacts' tolerance read after every tick (2026-12-02) the sweep alone leaves the surface
over 0.5 mm in the tool at a tick of the hold and the tool is reported there (``pushed_through``
3.39 N, frame 11; the tissue does not close over it); with the opt-in further contact rounds
(``CollisionSettings.hold_rounds`` 3) it holds at every tick. The sweep's pushes carry the
tool's Coulomb friction (``CollisionSettings.sweep_friction``), as the contacts after the solve do."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from test_tissue_contact import strike

from vrmed.benchmarks.tool_press import press


@pytest.mark.slow
def test_the_sweep_holds_the_block_the_contacts_alone_let_close_over_the_tool() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the solver's softening notes
        row = press("block", None, 2.0, sweep=True, hold=3)
    assert row["events"] == "", row["events"]  # no push-through, no "found inside"
    assert row["inside_mm"] <= 0.5  # the contact's stated tolerance
    assert row["force_n"] > 1.0  # the tool is held by the tissue's reaction, not slipped past


def test_the_sweeps_push_keeps_the_tools_friction() -> None:
    """tests/test_tissue_contact.py's strike (a free 2 cm block at 4 m/s onto a stationary 10 mm
    capsule, 0.5 m/s along its axis) with the tet sweep seeing the capsule: with Coulomb friction
    0.3 the struck vertex sticks, as with the contacts after the solve alone (0.28 mm). Measured
    (2026-12-01): the sweep's frictionless radial push let it slide 3.24 mm along the shaft
    (``sweep_friction=False``; 8.19 mm at friction 0), with the friction 0.010 mm. No vertex the
    contacts move leaves faster than the strike (1.60 m/s)."""
    held = strike(0.3, sweep_contact=True)
    slid = strike(0.3, sweep_contact=True, sweep_friction=False)
    assert held["touched"] and slid["touched"]
    assert slid["slide"] > 2e-3, f"{slid['slide'] * 1e3:.2f} mm"  # the control: frictionless, it slides
    assert held["slide"] < 1e-3, f"{held['slide'] * 1e3:.2f} mm"
    assert held["vmax_contact"] <= np.hypot(4.0, 0.5) * 1.05
