"""A band marked on the tissue stays drawn on the skin of both lips after a cut along it.

A 3 x 1.2 x 2 cm box (6 mm cells, as the laparoscopy gallbladder) carries the dissection's two
bands (the tinted zone and the 2.4 mm violet centre line) centred mid-cell; the body is cut right
through along the bands' centre plane (:func:`vrmed.systems.tissue.cutting.cut_body`, as the
scissors do), the lips are parted (as under retraction) or left closed, and the drawing system
(instruments.draw) is asked for the centre line's strip. It must still cover, on each lip, its
half of the line on the top face (1.2 mm x 2 cm at rest), be lifted straight up off the top face
by its offset (the lip's edge does not tilt it into the cut or over the gap) and not be painted
over the cut faces (ink is on the skin: the cut shows the tissue)."""

from __future__ import annotations

import numpy as np
import pytest

from vrmed import App
from vrmed.components.tissue.appearance import TissueAppearance, TissueBand
from vrmed.components.tissue.softbody import Material, SoftBody
from vrmed.mesh import box_tets
from vrmed.render.drawlist import DrawList
from vrmed.systems.collision.system import CollisionWorld
from vrmed.systems.instruments.draw import InstrumentDrawCache, instruments_draw_system, skin_faces
from vrmed.systems.instruments.plugin import InstrumentPlugin
from vrmed.systems.tissue.cutting import cut_body
from vrmed.systems.tissue.solver import SoftBodyPlugin, SoftBodySettings

SIZE = (0.03, 0.012, 0.02)  # m; the top face is y = 0.012
CENTER = -0.003  # the bands' centre: mid-cell (6 mm cells from x = -0.015), as the gallbladder's line
HALF = 0.0012  # the centre line's half width


def _strip(app: App, entity: int, k: int):
    """Band ``k`` of ``entity`` as drawn this frame (positions, faces) and its cached embedding."""
    draws = app.resource(DrawList)
    draws.clear()
    instruments_draw_system(app)
    drawn = next(s for s in draws.surfaces if s.key == ("vrmed.tissue.band", entity, k))
    return drawn.positions, drawn.faces, app.resource(InstrumentDrawCache).tissue[entity].bands[k]


@pytest.mark.parametrize("gap", [0.0, 0.002])
def test_a_band_stays_drawn_on_the_skin_of_both_lips_of_a_cut_along_it(gap):
    app = App(seed=0)
    app.add_plugin(SoftBodyPlugin(SoftBodySettings(gravity=np.zeros(3))))
    app.add_plugin(InstrumentPlugin())
    app.insert_resource(DrawList())
    body = SoftBody.from_mesh(box_tets(SIZE, (5, 2, 4), origin=(-0.015, 0.0, -0.01)), Material(8.0e3, 0.45, 1030.0))
    zone = TissueBand(center=CENTER, half_width=0.0065, color=(0.27, 0.34, 0.08, 1.0))
    line = TissueBand(center=CENTER, half_width=HALF, color=(0.30, 0.03, 0.55, 1.0))
    entity = app.spawn(body, TissueAppearance(bands=[zone, line]))
    assert len(_strip(app, entity, 1)[1])  # drawn before the cut
    cut = cut_body(body, np.array([CENTER, 0.006, -0.02]), np.array([CENTER, 0.006, 0.02]), np.array([1.0, 0, 0]), 0.05)
    assert cut.n_duplicated > 0
    # part the lips: each vertex goes with the side its tets lie on (the copies on the cut
    # plane have rest x = CENTER, as their originals)
    side = np.zeros(body.n_vertices)
    np.add.at(side, body.tets.ravel(), np.repeat(body.rest_points[body.tets].mean(axis=1)[:, 0] - CENTER, 4))
    body.x[:, 0] += np.where(side < 0, -gap, gap)
    pos, faces, strip = _strip(app, entity, 1)
    rest = np.einsum("mk,mkj->mj", strip.weights, body.rest_points[strip.corners])
    tri = rest[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area = 0.5 * np.linalg.norm(n, axis=1)
    top = np.all(np.abs(tri[:, :, 1] - SIZE[1]) < 1e-12, axis=1)
    mid_x = tri.mean(axis=1)[:, 0]
    for name, lip in (("left", mid_x < CENTER), ("right", mid_x > CENTER)):
        covered = float(area[top & lip].sum())
        assert covered == pytest.approx(HALF * SIZE[2], rel=1e-6), (name, covered)
    # nothing of it on the cut faces (at rest in the plane x = CENTER, facing along x)
    assert not np.any(np.abs(n[:, 0]) > 0.5 * 2.0 * area), "the band is painted over the cut"
    # lifted by two offsets (the second band) straight up where it lies on the top face
    # (along the skin's normal: the lips' edges included)
    on_surface = np.einsum("mk,mkj->mj", strip.weights, body.x[strip.corners])
    on_top = np.abs(rest[:, 1] - SIZE[1]) < 1e-12
    # (away from the front/back edges, where the skin's own normal turns round them)
    corner_z = np.abs(body.rest_points[strip.corners][:, :, 2])
    inner = on_top & np.all((corner_z < 0.01 - 1e-9) | (strip.weights < 1e-12), axis=1)
    assert np.count_nonzero(inner & (np.abs(rest[:, 0] - CENTER) < 1e-9)) >= 2  # the lips' edges among them
    lift = pos[inner] - on_surface[inner]
    assert np.allclose(lift, [0.0, 2 * line.offset, 0.0], atol=1e-9), lift[np.argmax(np.abs(lift[:, 0]))]
    # the skin / cut classification itself: the cut's faces come in coinciding pairs at rest
    surf = app.resource(CollisionWorld).surface(entity, body)
    lips = body.rest_points[surf.faces[~skin_faces(surf.faces, body.rest_points)]]
    cut_area = 0.5 * np.linalg.norm(np.cross(lips[:, 1] - lips[:, 0], lips[:, 2] - lips[:, 0]), axis=1).sum()
    assert cut_area == pytest.approx(2 * SIZE[1] * SIZE[2], rel=1e-9)  # both lips of the 1.2 x 2 cm section
