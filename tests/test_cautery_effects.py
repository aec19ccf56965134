"""Cautery smoke and bleeding at a tear (systems/instruments/effects.py, drawn by
instruments.draw): render-only state from events and the sim clock.

The dissection scenario runs with a DrawList (what a renderer would draw; no GL needed):
smoke spheres appear above the burn while the hook burns and are gone within the smoke's
life after the last burn; a tear (sent as the grasper's TissueTorn) grows red drops at the
tissue under the jaw that then stay and follow the tissue; and the session's state digest
is the same with and without the effects being drawn."""

from __future__ import annotations

import numpy as np
import pytest

from vrmed.components import Name
from vrmed.components.tissue.softbody import SoftBody
from vrmed.render.drawlist import DrawList
from vrmed.session import build_session
from vrmed.systems.instruments.effects import BLOOD_COLOR, EffectSettings, InstrumentEffects
from vrmed.systems.instruments.system import TissueBurned, TissueTorn

LIFE = EffectSettings().smoke_life


@pytest.fixture(scope="module")
def pack(laparoscopy_pack):
    return laparoscopy_pack


class Watch:
    """render.present: record the effect spheres queued this frame, then clear the list."""

    def __init__(self) -> None:
        self.smoke: list[tuple[float, int, np.ndarray]] = []
        self.blood: list[tuple[float, np.ndarray, np.ndarray]] = []
        self.burns: list[float] = []

    def __call__(self, app) -> None:
        draws = app.resource(DrawList)
        t = float(app.clock.time)
        if app.events.read(TissueBurned):
            self.burns.append(t)
        n_smoke, tops = 0, np.zeros((0, 3))
        for batch in draws.spheres:
            colors = np.broadcast_to(np.asarray(batch.colors, float), (len(batch.centres), 4))
            if batch.wetness == 0.0 and np.allclose(colors[:, 0], colors[:, 1], atol=0.05):  # grey: smoke
                n_smoke += len(batch.centres)
                tops = np.asarray(batch.centres).copy()
            elif np.allclose(colors, BLOOD_COLOR):
                self.blood.append((t, np.asarray(batch.centres).copy(), np.asarray(batch.radii).copy()))
        self.smoke.append((t, n_smoke, tops))
        draws.clear()


def session_with_draws(pack, name="dissection"):
    session = build_session(pack, name, seed=0)
    session.app.insert_resource(DrawList())
    watch = Watch()
    session.app.add_system(watch, in_set="render.present", name="test.watch")
    return session, watch


def test_smoke_rises_over_the_burn_for_a_bounded_time_and_then_vanishes(pack, dissection_logs):
    session, watch = session_with_draws(pack)
    try:
        session.run(seconds=session.scenario.duration)
        app = session.app
        fx = app.resource(InstrumentEffects)
        digest_drawn = app.state_digest()
    finally:
        session.close()
    assert watch.burns, "the scripted expert burns the line"
    first, last = watch.burns[0], watch.burns[-1]
    smoky = [(t, n, tops) for t, n, tops in watch.smoke if n]
    assert smoky and fx.plumes_started >= 3
    assert smoky[0][0] >= first - 1e-9  # no smoke before the first burn
    assert smoky[-1][0] <= last + LIFE + 1e-6  # every plume is gone within its life
    assert all(n == 0 for t, n, _ in watch.smoke if t > last + LIFE + 1e-6)
    assert max(n for _, n, _ in smoky) <= fx.settings.smoke_plumes * fx.settings.smoke_puffs
    # the smoke rises from the burned tissue: above the gallbladder's lowest point, below 5 cm over it
    heights = np.concatenate([tops[:, 1] for _, _, tops in smoky])
    assert heights.min() > 0.0 and heights.max() < 0.2

    # replay determinism is unaffected: the same session run without anything drawn (the
    # shared fixture's, which has no InstrumentEffects) ends in the same state
    plain = dissection_logs["dissection"]
    assert plain.footer["digest"] == digest_drawn


def test_a_tear_bleeds_at_the_jaw_spreads_for_a_second_and_stays_on_the_tissue(pack):
    session, watch = session_with_draws(pack)
    try:
        app = session.app
        session.run(seconds=3.0)  # the grasper holds the gallbladder's fundus
        names = {n.value: e for e, n in app.query(Name)}
        body = names["gallbladder"]
        app.send(TissueTorn("left_grasper", body, 9.0, 6.0))
        t0 = float(app.clock.time)
        session.run(seconds=2.0)
        x = app.get(body, SoftBody).x.copy()
    finally:
        session.close()
    assert watch.blood, "no blood drawn after the tear"
    first_t, centres, _ = watch.blood[0]
    assert first_t <= t0 + 0.05
    sizes = [(t, float(r.max())) for t, _, r in watch.blood]
    early = [r for t, r in sizes if t < t0 + 0.4]
    late = [r for t, r in sizes if t > t0 + 1.2]
    assert early and late and max(early) < max(late)  # spreads...
    assert np.allclose(late, late[-1])  # ...then stays
    # each drop sits on a gallbladder vertex (it follows the tissue as it moves)
    last_centres = watch.blood[-1][1]
    d = np.linalg.norm(last_centres[:, None, :] - x[None, :, :], axis=2).min(axis=1)
    assert d.max() < 1e-9
    assert len(last_centres) == EffectSettings().blood_drops
