"""radiography: DRR line integrals against the exact Beer-Lambert attenuation of a known
phantom, energy-dependent contrast, quantum noise and dose scaling, realistic CT numbers,
positioning criteria from projection geometry, and the PA chest scenario (correct passes,
errors fail on the right rules, replay is exact, records are valid xAPI)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import bilinear

from vrmed.recording import SessionLog
from vrmed.records import build_statements, make_attempt
from vrmed.records.scoring import score_log
from vrmed.records.xapi import validate_statement
from vrmed.scenario import ScenarioState, evaluate_rubric
from vrmed.session import build_session, open_target, replay


@pytest.fixture(scope="module")
def pack():
    return open_target("radiography")[0]


@pytest.fixture(scope="module")
def rad(pack):
    return pack.module


def box_phantom(rad, hu_value: float, spacing: float = 2.0):
    """Air volume with a box of ``hu_value`` filling voxels [10, 40) x [10, 30) x [10, 40):
    60 mm wide, 40 mm deep (y), 60 mm tall, centred on the origin."""
    hu = np.full((50, 40, 50), -1000.0, dtype=np.float32)
    hu[10:40, 10:30, 10:40] = hu_value
    origin = -np.array([24.5, 19.5, 24.5]) * spacing
    return rad.Phantom(hu, spacing, origin, {})


def test_drr_equals_beer_lambert_through_a_known_slab(rad):
    """Point source 1 m away, beam along +y: every ray that crosses the box through its
    front and back faces travels T/|cos| through it, so its line integral is mu T/|d_y|
    (trilinear sampling of a box aligned with the voxels integrates it exactly, up to the
    quarter-voxel midpoint rule)."""
    kvp = 150.0  # effective energy 60 keV: a NIST table point
    mu_w, _ = rad.mu_per_mm(kvp)
    assert mu_w == pytest.approx(0.2059 / 10, rel=1e-12)
    phantom = box_phantom(rad, 0.0)
    mu = rad.hu_to_mu(phantom.hu, kvp)
    source = np.array([0.0, -1000.0, 0.0])
    nu = 61  # +-60 mm at the detector
    out = np.zeros((nu, nu))
    rad.drr(
        mu,
        phantom.origin,
        phantom.spacing,
        source,
        np.array([0.0, 300.0, 0.0]),
        np.array([1.0, 0, 0]),
        np.array([0, 0, 1.0]),
        nu,
        nu,
        2.0,
        out,
    )
    pixels = (np.arange(nu) - 30) * 2.0
    ux, vz = np.meshgrid(pixels, pixels)
    d = np.stack([ux, np.full_like(ux, 1300.0), vz], axis=-1)
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    # rays that stay at least one voxel inside the side faces over the box's depth
    t_back = (20.0 + 1000.0) / d[..., 1]
    inside = (np.abs(t_back * d[..., 0]) < 26.0) & (np.abs(t_back * d[..., 2]) < 26.0)
    assert inside.sum() >= 300
    exact = mu_w * 40.0 / d[..., 1]
    np.testing.assert_allclose(out[inside], exact[inside], rtol=2e-3)
    # transmission I/I0 = exp(-mu L): 40 mm of water at 60 keV passes 43.9 %
    assert math.exp(-out[30, 30]) == pytest.approx(math.exp(-0.02059 * 40.0), rel=2e-3)
    # rays that miss the box see only air
    assert out[0, 0] == pytest.approx(0.0, abs=1e-6)


def test_bone_contrast_falls_with_kvp(rad):
    """Cortical bone attenuates much more than water at low energy (photoelectric effect):
    bone/water attenuation ratio 2.0 at 70 kVp (28 keV), 1.6 at 125 kVp (50 keV)."""
    ratios = {}
    for kvp in (70.0, 125.0):
        w, b = rad.mu_per_mm(kvp)
        ratios[kvp] = b / w
    assert ratios[70.0] > ratios[125.0] > 1.5
    bone = box_phantom(rad, 1500.0)
    contrast = {}
    for kvp in (70.0, 125.0):
        mu = rad.hu_to_mu(bone.hu, kvp)
        assert float(mu.max()) == pytest.approx(rad.mu_per_mm(kvp)[1], rel=1e-6)
        contrast[kvp] = float(mu.max()) * 40.0 - rad.mu_per_mm(kvp)[0] * 40.0
    assert contrast[70.0] > 2 * contrast[125.0]


def test_phantom_ct_numbers(rad):
    ph = rad.chest_phantom()
    hu = ph.hu
    lung = np.count_nonzero(hu == -850.0) * ph.spacing**3 / 1e6  # litres
    assert 4.0 < lung < 7.5  # total lung capacity (full inspiration) of adults: about 4-7 L
    assert np.count_nonzero(hu >= 1000.0) > 0 and hu.max() <= 1500.0 and hu.min() == -1000.0
    soft = np.count_nonzero((hu >= 0) & (hu <= 100)) * ph.spacing**3 / 1e6
    assert 10.0 < soft < 40.0


def test_noise_dose_and_exposure_index_scale_as_physics_says(rad):
    rng = np.random.default_rng(0)
    low = rad.image_criteria(rad.XrayRoom(shoulders_forward=True, field_w_mm=350, field_h_mm=350, kvp=125, mas=2), rng)
    high = rad.image_criteria(rad.XrayRoom(shoulders_forward=True, field_w_mm=350, field_h_mm=350, kvp=125, mas=8), rng)
    assert high["snr_lung"] / low["snr_lung"] == pytest.approx(2.0, rel=1e-3)  # SNR ~ sqrt(quanta) (rounded values)
    assert high["esd_mgy"] / low["esd_mgy"] == pytest.approx(4.0, rel=1e-9)
    assert high["deviation_index"] - low["deviation_index"] == pytest.approx(10 * math.log10(4), abs=0.006)
    assert low["deviation_index"] == pytest.approx(0.0, abs=1e-9)  # the reference technique
    assert low["esd_mgy"] < rad.ESD_GUIDANCE_MGY  # typical PA chest ESD 0.1-0.2 mGy
    # Poisson: the variance of the counts equals their mean where the beam is open
    counts, expected = low["image"], low["expected"]
    region = expected[60:68, 30:38]
    assert np.var(counts[60:68, 30:38] - region) / region.mean() == pytest.approx(1.0, rel=0.35)
    # quadratic kVp dependence of the tube output and inverse square law
    assert rad.entrance_dose_mgy(160, 1, 1000) / rad.entrance_dose_mgy(80, 1, 1000) == pytest.approx(4.0)
    assert rad.entrance_dose_mgy(80, 1, 500) / rad.entrance_dose_mgy(80, 1, 1000) == pytest.approx(4.0)


def test_positioning_criteria_follow_the_projection_geometry(rad):
    rng = np.random.default_rng(1)
    ok = rad.image_criteria(rad.XrayRoom(shoulders_forward=True, field_w_mm=350, field_h_mm=350, kvp=125, mas=2), rng)
    assert ok["rotation_offset_mm"] == 0.0 and ok["centring_error_mm"] == 0.0 and ok["scapulae_clear"]
    assert ok["lungs_in_field"] and 0 < ok["field_excess_mm"] <= 40
    turned = rad.image_criteria(
        rad.XrayRoom(rotation_deg=10, shoulders_forward=True, field_w_mm=350, field_h_mm=350, kvp=125, mas=2), rng
    )
    # clavicle heads (90 mm anterior) and spinous process (105 mm posterior) separate by
    # about 195 sin(10 deg) = 34 mm, magnified ~1.1 at the detector
    assert abs(turned["rotation_offset_mm"]) == pytest.approx(195 * math.sin(math.radians(10)) * 1.09, rel=0.06)
    narrow = rad.image_criteria(
        rad.XrayRoom(shoulders_forward=True, field_w_mm=300, field_h_mm=300, kvp=125, mas=2), rng
    )
    assert not narrow["lungs_in_field"]
    back = rad.image_criteria(
        rad.XrayRoom(shoulders_forward=False, field_w_mm=350, field_h_mm=350, kvp=125, mas=2), rng
    )
    assert not back["scapulae_clear"]


ERRORS = {
    "identity_checked",
    "pregnancy_checked",
    "staff_protected",
    "no_repeat",
    "no_rotation",
    "scapulae_clear",
    "centred",
    "collimated",
    "exposure_index",
    "dose_below_guidance",
}


@pytest.fixture(scope="module")
def runs(pack, tmp_path_factory):
    """Both scenarios run to their end; the sessions stay open (their final state is drawn
    by the detector-display test) until the module's tests are done."""
    out = {}
    sessions = []
    try:
        for name in ("chest_pa", "chest_pa_errors"):
            session = build_session(pack, name, seed=0, display_rate=10)
            sessions.append(session)
            session.run()
            log = session.finish()
            result = evaluate_rubric(session.scenario.rubric, log.events, float(session.app.clock.frame_time))
            out[name] = {
                "result": result,
                "outcome": session.app.resource(ScenarioState).outcome,
                "log": log.write(tmp_path_factory.mktemp(name) / "s.jsonl"),
                "session": session,
            }
        yield out
    finally:
        for session in sessions:
            session.close()


def test_correct_radiographer_passes_and_errors_are_caught(runs):
    good, bad = runs["chest_pa"]["result"], runs["chest_pa_errors"]["result"]
    assert good.passed and good.score == 100.0 and runs["chest_pa"]["outcome"] == "image_taken"
    assert not bad.passed and {r.id for r in bad.rules if not r.passed} == ERRORS


def test_every_scripted_action_is_offered_to_a_person(pack):
    """The interaction section offers each scripted action (same event and field values),
    so a person at the desktop or in a headset can do what the scripted radiographer does."""
    for name in ("chest_pa", "chest_pa_errors"):
        scenario = pack.scenario(name)
        actions = pack.scenario("chest_pa").interaction.actions
        for act in scenario.learner:
            assert any(
                spec.event is act.event
                and all(act.fields.get(k) == v for k, v in spec.fields.items())
                and all(act.fields.get(n) in values for n, values in spec.options)
                for spec in actions
            ), (name, act.event.__name__, act.fields)


@pytest.mark.slow
def test_replay_and_xapi(runs):
    log = SessionLog.read(runs["chest_pa_errors"]["log"])
    result, again = replay(log)
    again.close()
    assert result.ok, result.first_difference
    scored = score_log(log)
    assert not scored.passed and scored.metrics["exposures"] == 2.0 and scored.metrics["total_esd_mgy"] > 2.0
    statements = build_statements(make_attempt(log, "l-" + "0" * 32, scored), "https://lms.example.org/")
    assert statements and all(validate_statement(s) == [] for s in statements)


def test_detector_display_draws_the_computed_radiograph(pack, runs, ctx):
    """After the exposure the pack's overlay pass shows the DRR on the detector display: the
    drawn pixels equal the computed image, flipped to superior-up, windowed over the exposed
    counts and inverted (MONOCHROME1), resampled to the panel (correlation > 0.99, within
    1 LSB); bone (few counts) is brighter than lung."""
    from vrmed.api import Camera, render_pipeline
    from vrmed.render import Renderer, RenderTarget

    app = runs["chest_pa"]["session"].app
    room = app.query(pack.module.XrayRoom)[0][1]
    assert room.image.shape == (128, 128)
    target = RenderTarget(Renderer(ctx, 160, 120, samples=0))
    try:
        pipeline = render_pipeline(app)
        assert "detector_display" in pipeline.names
        camera = Camera(position=np.array([0.0, 1.6, 2.0]), target=np.array([0.0, 1.0, 0.0]))
        target.draw_scene(app, pipeline, "main", None, camera=camera)
        target.draw_overlays(app, pipeline)
        shot = target.renderer.read().astype(float)
    finally:
        target.release()
    x, y, w, h = (int(v) for v in pack.module.detector_rect((160, 120)))
    shown = pack.module.display_image(room.image)
    centre, width = pack.module.display_window(room.image)
    texel = (np.arange(w) + 0.5) / w * shown.shape[0] - 0.5  # pixel centres in texel units
    rows, cols = np.meshgrid(texel, texel, indexing="ij")
    expected = (1.0 - np.clip((bilinear(shown, rows, cols) - centre) / width + 0.5, 0.0, 1.0)) * 255.0
    drawn = shot[y : y + h, x : x + w, 0]
    assert np.corrcoef(drawn.ravel(), expected.ravel())[0, 1] > 0.99
    assert np.abs(drawn - expected).max() <= 1.0
    # the spine (mid column, mediastinum) is whiter than the lung fields beside it
    mid = drawn[h // 3 : 2 * h // 3]
    assert mid[:, w // 2 - 2 : w // 2 + 2].mean() > mid[:, w // 4 - 2 : w // 4 + 2].mean() + 40
