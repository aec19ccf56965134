"""``vrmed bench attachment_strain`` (issue #16 item 4): the laparoscopy gallbladder under the
dissection's retraction alone, hung on its ligament patch and on pins at the same 40 vertices.
The assertions are the physical claim of docs/physics.md ("Distributed attachments"), not the
bench's own figures: a patch spreads the attachment's load, so its tets strain less than the
pins' under the same retraction, and at rest both attachments strain little."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vrmed.benchmarks.attachment_strain import before_first_snip, retraction
from vrmed.session import open_target


@pytest.fixture(scope="module")
def runs(laparoscopy_pack):
    """Both attachments' runs, once for the module (two short sessions: ~2.4 s of simulation each)."""
    return {held: retraction(held, laparoscopy_pack) for held in ("patch", "pinned")}


def test_the_patch_strains_its_attachment_less_than_pins_under_the_retraction(runs) -> None:
    patch, pinned = runs["patch"], runs["pinned"]
    for r in (patch, pinned):
        assert r["vertices"] == 40 and r["tets"] > 0
        for when in ("rest", "held"):
            assert all(math.isfinite(r[when][k]) for k in ("attach", "body", "neck_mm", "lift_mm"))
        # the grasper did lift the fundus (the script's 9 mm), and that loads the attachment
        assert r["held"]["lift_mm"] > 5.0
        assert r["held"]["attach"] > 2.0 * r["rest"]["attach"]
    assert patch["held"]["attach"] < pinned["held"]["attach"]


def test_at_rest_both_attachments_strain_little_and_the_patch_carries_part_of_the_weight(runs) -> None:
    """At rest both strain below 0.05 (the gallbladder hangs by its neck half and its fundus lies
    on the bed plate); the patch carries a share of the weight M g, never more, and gives under
    it (its vertices move), where pins do not move at all."""
    patch, pinned = runs["patch"], runs["pinned"]
    assert patch["rest"]["attach"] < 0.05 and pinned["rest"]["attach"] < 0.05
    weight = 1030.0 * 0.06 * 0.012 * 0.024 * 9.80665  # organs.yaml: density, box size
    assert 0.0 < patch["rest"]["patch_n"] < weight
    assert patch["held"]["patch_n"] > patch["rest"]["patch_n"]  # the retraction pulls on the patch
    assert patch["rest"]["neck_mm"] > 0.0 and pinned["rest"]["neck_mm"] == pinned["held"]["neck_mm"] == 0.0
    assert np.isnan(pinned["rest"]["patch_n"])


def test_before_the_scissors_first_snip_the_patch_strains_its_attachment_less_than_pins() -> None:
    """The scissors expert (start shift 0 ms) with its open blades at the line next to the attached
    underside, at the 0.25 s checks before its first snip: the patch's attachment strains less than
    the pins' there too. Its own pack: the run moves a scenario setting (and puts it back)."""
    pack = open_target("laparoscopy")[0]
    patch, pinned = (before_first_snip(held, 0.0, pack) for held in ("patch", "pinned"))
    for r in (patch, pinned):
        assert r["snip_s"] is not None and r["checks"] > 0 and math.isfinite(r["attach"])
    assert patch["attach"] < pinned["attach"]
