"""The surface-patch attachment, used by a pack through the installed distribution.

Run after `pip install` of this distribution (its `clip_lab` plugin is found through the
`vrmed.plugins` entry point). Each test writes a small pack that enables the plugin and
hangs a soft block from a patch on its top face; everything goes through YAML, the App and
the public pack API (`vrmed.api`), with no edit to vrmed.

Physics checked (SI units): at equilibrium the patch carries the block's weight, and the
patch sits compliance x weight below its anchors (compliance in m/N belongs to the whole
patch); a stiffer patch sags less; moving or turning the patch's frame drags the tissue.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from vrmed_clip_lab.patch_attachment import PatchAttachment, PatchConstraint

import vrmed.api as vm

G = 9.80665  # vrmed's default gravity, m/s^2 along -y
DAMPING = 10.0  # velocity damping c (1/s): settles the block within the test's 3 s
SIZE = 0.05  # the block: 5 cm cube, 3 x 3 x 3 cells, 1000 kg/m^3 -> 0.125 kg
TOP = [SIZE / 2, SIZE, SIZE / 2]  # centre of the top face

PACK = """\
name: patch_demo
version: 0.1.0
engine: ">=0.1"
plugins: [softbody, collision, instruments, clip_lab]
default_scenario: hang
"""

SCENARIO = """\
title: A soft block hanging from a surface patch
duration: 3.0
rates: {{physics: 900}}
entities:
  - name: block
    components:
      SoftBody:
        box: {{size: [{s}, {s}, {s}], cells: [3, 3, 3]}}
        material: {{youngs_modulus: 20000.0, poisson_ratio: 0.45, density: 1000.0, damping: 0.002}}
        velocity_damping: {c}
  - name: anchor
    components:
      Transform: {{position: {top}}}
      PatchAttachment: {{body: block, centre: {top}, radius: {radius}, compliance: {compliance}}}
"""


def _session(tmp_path: Path, compliance: float, radius: float = 0.036) -> vm.Session:
    root = tmp_path / f"patch_demo_{compliance:g}_{radius:g}"
    (root / "scenarios").mkdir(parents=True)
    (root / "pack.yaml").write_text(PACK)
    (root / "scenarios" / "hang.yaml").write_text(
        SCENARIO.format(s=SIZE, c=DAMPING, top=TOP, radius=radius, compliance=compliance)
    )
    return vm.build_session(vm.load_pack(root), "hang")


def _parts(session: vm.Session) -> tuple[vm.SoftBody, PatchAttachment, vm.Transform]:
    app = session.app
    entities = {name.value: e for e, name in app.query(vm.Name)}
    body = app.get(entities["block"], vm.SoftBody)
    return body, app.get(entities["anchor"], PatchAttachment), app.get(entities["anchor"], vm.Transform)


def _weight_carried(body: vm.SoftBody) -> float:
    """The static load at equilibrium: M g (the velocity damping acts on the carried velocity
    only, so it leaves static loads unchanged: docs/physics.md, Solver)."""
    return float(body.mass.sum()) * G


def test_patch_carries_the_weight_and_stretches_by_compliance_times_force(tmp_path: Path) -> None:
    sag = {}
    for compliance in (2e-3, 2e-4):
        session = _session(tmp_path, compliance)
        try:
            session.run(seconds=3.0)
            body, patch, _ = _parts(session)
            c = patch.constraint
            assert isinstance(c, PatchConstraint) and c in body.constraints
            top_face = np.flatnonzero(body.rest_points[:, 1] > SIZE - 1e-9)
            assert set(top_face.tolist()) <= set(c.indices.tolist())
            weight = _weight_carried(body)
            assert body.mass.sum() == pytest.approx(1000.0 * SIZE**3, rel=1e-12)
            # the patch holds the block up with its weight, and only vertically
            np.testing.assert_allclose(c.total_force(), [0.0, weight, 0.0], rtol=0, atol=1e-3 * weight)
            # Hooke's law of the whole patch: the area-weighted mean offset from the anchors
            # is compliance x force (alpha_i = compliance * A / A_i, so A_i / A = compliance / alpha_i)
            share = compliance / c.compliance
            assert share.sum() == pytest.approx(1.0, rel=1e-12)
            offset = share @ (body.x[c.indices] - c.anchor_positions())
            np.testing.assert_allclose(
                offset, [0.0, -compliance * weight, 0.0], rtol=0, atol=2e-3 * compliance * weight
            )
            sag[compliance] = float(body.rest_points[:, 1].mean() - body.x[:, 1].mean())
        finally:
            session.close()
    assert 0.0 < sag[2e-4] < sag[2e-3]  # the stiffer patch sags less
    # by the difference in the patch's own stretch: the block deforms the same under both
    assert sag[2e-3] - sag[2e-4] == pytest.approx((2e-3 - 2e-4) * weight, rel=0.03)


def test_moving_and_turning_the_frame_drags_the_patch(tmp_path: Path) -> None:
    session = _session(tmp_path, 2e-4)
    try:
        session.run(seconds=1.0)
        body, patch, tf = _parts(session)
        before = body.x.mean(axis=0)
        # slide the frame 2 cm along x over 0.5 s (45 display frames), then let it settle
        start = tf.position.copy()
        for k in range(1, 46):
            tf.position[:] = start + [0.02 * k / 45, 0.0, 0.0]
            session.run(frames=1)
        session.run(seconds=1.5)
        moved = body.x.mean(axis=0) - before
        assert moved[0] == pytest.approx(0.02, abs=5e-4)
        assert abs(moved[1]) < 5e-4 and abs(moved[2]) < 5e-4
        c = patch.constraint
        assert c is not None
        np.testing.assert_allclose(c.pose_target[:3], start + [0.02, 0.0, 0.0], atol=1e-12)
        # turn the frame 90 degrees about the vertical over 0.5 s: the top face turns with it
        for k in range(1, 46):
            half = 0.25 * np.pi * k / 45
            tf.orientation[:] = [np.cos(half), 0.0, np.sin(half), 0.0]
            session.run(frames=1)
        session.run(seconds=1.5)
        turn = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])  # 90 deg about +y
        top_face = np.flatnonzero(body.rest_points[:, 1] > SIZE - 1e-9)
        expected = tf.position + (body.rest_points[top_face] - np.array(TOP)) @ turn.T
        drop = 2e-4 * _weight_carried(body)  # the patch's stretch under the weight
        err = body.x[top_face] - expected
        assert np.abs(err[:, [0, 2]]).max() < 5e-4  # horizontally where the turned frame puts them
        assert np.abs(err[:, 1] + drop).max() < 5e-4
        # a corner moved by ~3.5 cm: without the turn the error would be that large
        assert np.abs(body.x[top_face] - body.rest_points[top_face] - [0.02, 0, 0]).max() > 0.03
    finally:
        session.close()


def test_bad_patch_settings_are_reported(tmp_path: Path) -> None:
    with pytest.raises(vm.VrmedError, match="radius must be > 0"):
        _session(tmp_path, 2e-4, radius=-0.01)
    with pytest.raises(vm.VrmedError, match="compliance must be finite and >= 0"):
        _session(tmp_path, -1e-3)
    session = _session(tmp_path, 2e-4, radius=1e-4)  # no surface vertex that close to the centre
    try:
        with pytest.raises(vm.ConstraintError, match="radius: no surface vertex within 0.0001 m"):
            session.run(frames=1)
    finally:
        session.close()
