"""What a learner sees in the laparoscopy scenes: offscreen captures from the scenarios' own
laparoscope (160 x 120, shared EGL context).

Pixels are attributed by colour (chromaticity or hue against the colours the scene declares)
or, where two things share a colour, by difference: the same deterministic session rendered
again with one thing left out of the DrawList (or the scene); the pixels that change are that
thing's. Each session runs about a second to the frames used here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from vrmed.components import Name, VisualMesh
from vrmed.components.instruments.instrument import Instrument
from vrmed.components.planar.bodies import Peg, PlanarBody, WorkSurface
from vrmed.components.tissue.appearance import TissueAppearance
from vrmed.components.tissue.softbody import SoftBody
from vrmed.render import DrawList, RenderPlugin
from vrmed.render.camera import project
from vrmed.session import build_session
from vrmed.systems.instruments.draw import METAL_COLOR, SHAFT_COLOR, InstrumentDrawCache, instruments_draw_system
from vrmed.systems.planar.draw import PlanarDrawStyle

W, H = 160, 120
STYLE = PlanarDrawStyle()
GREY = (1.0, 1.0, 1.0)

DrawFilter = Callable[[Any, DrawList], None]


@pytest.fixture(scope="module")
def pack(laparoscopy_pack):
    return laparoscopy_pack


def capture(
    ctx, pack, scenario: str, frames: list[int], hide: DrawFilter | None = None, prepare: Callable | None = None
) -> dict[str, Any]:
    """Run ``scenario`` and capture the scope's view at ``frames`` (multiples of the first).

    ``hide(app, draws)`` edits each frame's DrawList after every drawing system queued its
    part; ``prepare(app)`` runs before the first frame. Returns the images, each frame's
    view-projection, what was queued (before ``hide``; arrays copied) and the held rings."""
    session = build_session(pack, scenario)
    try:
        app = session.app
        plugin = RenderPlugin(W, H, every=frames[0], samples=0, context=ctx)
        app.add_plugin(plugin)
        seen: dict[str, Any] = {"images": {}, "queued": {}, "view_proj": {}, "held": {}, "entities": {}}

        def late(app) -> None:  # after instruments.draw (priority 0) and planar.draw (priority 100)
            draws = app.resource(DrawList)
            if app.clock.frame in frames:
                seen["queued"][app.clock.frame] = {
                    "capsules": [
                        (c.colors, np.atleast_1d(c.entities).copy(), np.array(c.a), np.array(c.b))
                        for c in draws.capsules
                    ],
                    "surfaces": [
                        (s.key, s.entity, s.color, None if s.burn is None else float(np.max(s.burn)))
                        for s in draws.surfaces
                    ],
                }
            if hide is not None:
                hide(app, draws)

        app.add_system(late, in_set="render.prepare", name="test.late", priority=1000)
        if prepare is not None:
            prepare(app)
        done = 0
        for frame in frames:
            session.run(frames=frame + 1 - done)
            done = frame + 1
            seen["images"][frame] = plugin.image()
            seen["view_proj"][frame] = plugin.renderer.view_proj.copy()
            seen["held"][frame] = [(e, b.position.copy()) for e, b in app.query(PlanarBody) if b.mode == "held"]
        for kind in (Instrument, Peg, WorkSurface, PlanarBody, TissueAppearance):
            seen["entities"][kind] = sorted(e for e, _ in app.query(kind))
        seen["tools"] = {e: inst.tool for e, inst in app.query(Instrument)}
        return seen
    finally:
        session.close()


# ---------------------------------------------------------------------------------- colour


def to_linear(image: np.ndarray) -> np.ndarray:
    c = image.astype(np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def chroma(rgb) -> np.ndarray:
    """Chromaticity: the colour over its sum (lighting scales the sum, not this)."""
    rgb = np.asarray(rgb, np.float64)[..., :3]
    return rgb / np.maximum(rgb.sum(axis=-1, keepdims=True), 1e-9)


def nearer(lin: np.ndarray, color, other) -> np.ndarray:
    """Pixels (not black) whose chromaticity is nearer ``color``'s than ``other``'s."""
    c = chroma(lin)
    d1 = np.linalg.norm(c - chroma(color), axis=-1)
    d2 = np.linalg.norm(c - chroma(other), axis=-1)
    return (lin.sum(axis=-1) > 0.01) & (d1 < d2)


def hue_deg(rgb) -> np.ndarray:
    """HSV hue (degrees) of linear RGB."""
    rgb = np.asarray(rgb, np.float64)[..., :3]
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return np.degrees(np.arctan2(np.sqrt(3.0) * (g - b), 2.0 * r - g - b)) % 360.0


def mean_hue(lin: np.ndarray, mask: np.ndarray) -> float:
    """Circular mean hue of the masked pixels, weighted by their chroma (max - min)."""
    px = lin[mask]
    weight = px.max(axis=1) - px.min(axis=1)
    angle = np.radians(hue_deg(px))
    return float(np.degrees(np.arctan2((weight * np.sin(angle)).sum(), (weight * np.cos(angle)).sum())) % 360.0)


def hue_gap(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


def changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(int) - b.astype(int)).max(axis=2) > 8


# ---------------------------------------------------------------------------------- peg transfer


def ring_pixels(image: np.ndarray) -> int:
    """Pixels in the rings' colour: chromaticity nearer the declared ring colour than neutral
    grey (the board, pegs, instruments and the floor around the board are all near-neutral)."""
    return int(nearer(to_linear(image), STYLE.object_color, GREY).sum())


def peg_pixels(image: np.ndarray) -> int:
    """Pixels in the pegs' colour: near-neutral and, as the declared peg colour is next to the
    board's, under a tenth of the frame's median brightness (instruments hidden: their shafts
    are as dark)."""
    lin = to_linear(image)
    lum = lin.mean(axis=-1)
    neutral = np.linalg.norm(chroma(lin) - chroma(GREY), axis=-1) < 0.08
    return int((neutral & (lum < 0.1 * np.median(lum))).sum())


def owned_by(batch_entities, owners: set[int]) -> bool:
    return batch_entities is not None and set(np.atleast_1d(batch_entities).tolist()) <= owners


def hide_tools(app, draws: DrawList) -> None:
    """Leave the instruments out."""
    tools = {e for e, _ in app.query(Instrument)}
    draws.capsules[:] = [c for c in draws.capsules if not owned_by(c.entities, tools)]


def hide_planar(app, draws: DrawList) -> None:
    """Leave out the instruments and everything planar.draw queued: the scene before it existed."""
    hide_tools(app, draws)
    planar = {e for e, _ in app.query(Peg)} | {e for e, _ in app.query(WorkSurface)}
    draws.surfaces[:] = [s for s in draws.surfaces if not str(s.key[0]).startswith("vrmed.planar")]
    draws.capsules[:] = [c for c in draws.capsules if not owned_by(c.entities, planar)]


PEG_FRAMES = [90, 450]  # peg_transfer_quick: both rings on the left pegs; one carried mid-air


@pytest.fixture(scope="module")
def peg_scene(ctx, pack):
    return {
        "drawn": capture(ctx, pack, "peg_transfer_quick", PEG_FRAMES, hide=hide_tools),
        "without": capture(ctx, pack, "peg_transfer_quick", PEG_FRAMES, hide=hide_planar),
    }


def test_rings_and_pegs_are_seen_through_the_scope(peg_scene):
    """Both rings (about 17 px each at this size) and the twelve pegs (over 10 px each) show in
    their colours; without the planar drawing there is nothing of either, as before it existed."""
    for frame in PEG_FRAMES:
        drawn, without = peg_scene["drawn"]["images"][frame], peg_scene["without"]["images"][frame]
        assert ring_pixels(drawn) >= 24, frame
        assert peg_pixels(drawn) >= 100, frame
        assert ring_pixels(without) == 0 and peg_pixels(without) == 0, frame


def test_a_carried_ring_is_drawn_where_it_is_held(peg_scene):
    """At frame 450 a grasper carries a ring over the board: ring-coloured pixels lie where the
    ring's simulated position projects, and the board under it is shaded by it."""
    seen = peg_scene["drawn"]
    [(ring, position)] = seen["held"][450]
    x, y = project(position[None, :], seen["view_proj"][450], W, H)[0][:2]
    rows, cols = np.nonzero(nearer(to_linear(seen["images"][450]), STYLE.object_color, GREY))
    near = (np.abs(cols + 0.5 - x) <= 5) & (np.abs(rows + 0.5 - y) <= 5)
    assert near.sum() >= 10, (x, y)
    surfaces = {s[0]: s for s in seen["queued"][450]["surfaces"]}
    board_burn = surfaces[("vrmed.planar.board", seen["entities"][WorkSurface][0])][3]
    assert board_burn is not None and board_burn > 0.05  # the carried ring's contact shadow
    rings = sorted(key[1] for key in surfaces if key[0] == "vrmed.planar.object")
    assert rings == seen["entities"][PlanarBody] and ring in rings
    assert all(surfaces[k][1] == k[1] for k in surfaces if k[0] == "vrmed.planar.object")  # entity= given


def tool_parts(capsules: list, tool: int) -> tuple[list, list]:
    """(shaft, steel) capsules (a, b) of instrument ``tool`` in this frame's tool batch."""
    [(colors, entities, a, b)] = [c for c in capsules if isinstance(c[0], np.ndarray) and tool in c[1]]
    mine = np.flatnonzero(entities == tool)
    shaft = [(a[k], b[k]) for k in mine if np.allclose(colors[k], SHAFT_COLOR)]
    steel = [(a[k], b[k]) for k in mine if np.allclose(colors[k], METAL_COLOR)]
    assert len(shaft) + len(steel) == len(mine)
    return shaft, steel


def test_graspers_are_black_shafts_with_two_steel_jaws(peg_scene):
    """Each grasper is one black shaft and two steel jaws from its hinge, queued with its entity."""
    seen = peg_scene["drawn"]
    for tool in seen["entities"][Instrument]:
        [(_, hinge)], jaws = tool_parts(seen["queued"][90]["capsules"], tool)
        assert len(jaws) == 2
        assert all(np.allclose(a, hinge) for a, _ in jaws)  # both jaws start at the shaft's end
        assert not np.allclose(jaws[0][1], jaws[1][1])  # ... and open apart


# ---------------------------------------------------------------------------------- dissection

DISSECTION_FRAME = 90  # 1 s: the grasper reaches for the fundus, nothing burned yet


def hide_surface(name: str) -> DrawFilter:
    """Leave out the surfaces (body and bands) of the entity called ``name``."""

    def hide(app, draws: DrawList) -> None:
        target = next(e for e, n in app.query(Name) if n.value == name)
        draws.surfaces[:] = [s for s in draws.surfaces if s.entity != target]

    return hide


def hide_bands(app, draws: DrawList) -> None:
    """Leave out the marked bands."""
    draws.surfaces[:] = [s for s in draws.surfaces if s.key[0] != "vrmed.tissue.band"]


def drop_vessels(app) -> None:
    """The liver without its surface vessels (its TissueAppearance's list emptied)."""
    for _, look in app.query(TissueAppearance):
        look.vessels = []


def drop_cavity(app) -> None:
    for e, _ in app.query(VisualMesh):
        app.commands.remove_component(e, VisualMesh)  # applied at the next stage boundary


@pytest.fixture(scope="module")
def dissection(ctx, pack):
    frames = [DISSECTION_FRAME]
    return {
        "full": capture(ctx, pack, "dissection", frames),
        "no_liver": capture(ctx, pack, "dissection", frames, hide=hide_surface("liver")),
        "no_gallbladder": capture(ctx, pack, "dissection", frames, hide=hide_surface("gallbladder")),
        "no_bands": capture(ctx, pack, "dissection", frames, hide=hide_bands),
        "no_cavity": capture(ctx, pack, "dissection", frames, prepare=drop_cavity),
        "no_vessels": capture(ctx, pack, "dissection", frames, prepare=drop_vessels),
    }


def declared(pack, name: str) -> TissueAppearance:
    """The TissueAppearance the dissection scenario gives the entity ``name`` (organs.yaml)."""
    spec = next(e for e in pack.scenario("dissection").entities if e.name == name)
    return next(c for c in spec.build() if isinstance(c, TissueAppearance))


def test_liver_and_gallbladder_show_in_their_own_colours(dissection, pack):
    """The liver (red-brown) and the gallbladder (green) each cover a good part of the view, in
    hues near the ones declared in organs.yaml and far from each other."""
    full = dissection["full"]["images"][DISSECTION_FRAME]
    lin = to_linear(full)
    hues = {}
    for organ in ("liver", "gallbladder"):
        mask = changed(full, dissection[f"no_{organ}"]["images"][DISSECTION_FRAME])
        assert mask.sum() >= 300, organ
        hues[organ] = mean_hue(lin, mask)
        assert hue_gap(hues[organ], float(hue_deg(declared(pack, organ).color))) < 25.0, (organ, hues)
    assert hue_gap(hues["liver"], hues["gallbladder"]) > 50.0, hues


def test_the_marked_line_is_visible_on_the_gallbladder(dissection, pack):
    """The marked zone and its centre line show across the gallbladder (tens of pixels), in the
    bands' colours rather than the gallbladder's, and follow it (no pixel off the organ)."""
    full = dissection["full"]["images"][DISSECTION_FRAME]
    band = changed(full, dissection["no_bands"]["images"][DISSECTION_FRAME])
    organ = changed(full, dissection["no_gallbladder"]["images"][DISSECTION_FRAME])
    assert band.sum() >= 40
    assert (band & ~organ).sum() <= 0.05 * band.sum()  # on the gallbladder's silhouette
    look = declared(pack, "gallbladder")
    lin = to_linear(full)
    zone, line = look.bands
    assert nearer(lin[band], line.color, look.color).sum() >= 8  # the violet centre line
    assert nearer(lin[band], zone.color, look.color).sum() >= 20  # the tinted zone around it


def test_the_abdominal_cavity_surrounds_the_field(dissection):
    """The cavity covers most of the view around the organs (the rest is organs and tools)."""
    full = dissection["full"]["images"][DISSECTION_FRAME]
    cavity = changed(full, dissection["no_cavity"]["images"][DISSECTION_FRAME])
    assert cavity.mean() > 0.6


def test_the_hook_is_an_l_hook(dissection):
    """The hook's steel is a stem along the shaft and a short arm bent square to it."""
    seen = dissection["full"]
    hook = next(e for e, tool in seen["tools"].items() if tool == "hook")
    [(handle, hinge)], [(s0, s1), (a0, a1)] = tool_parts(seen["queued"][DISSECTION_FRAME]["capsules"], hook)
    assert np.allclose(s0, hinge) and np.allclose(a0, s1)  # stem from the hinge; the arm from its end
    stem, arm, shaft = s1 - s0, a1 - a0, hinge - handle

    def cos(p: np.ndarray, q: np.ndarray) -> float:
        return float(p @ q / np.linalg.norm(p) / np.linalg.norm(q))

    assert cos(stem, shaft) > 0.999 and abs(cos(arm, stem)) < 1e-6
    assert 0.2 < np.linalg.norm(arm) / np.linalg.norm(stem) < 0.6


def test_vessels_show_on_the_liver(dissection, pack):
    """The liver's surface vessels (organs.yaml) show on it: tens of pixels change when they are
    left out, all on the liver's silhouette, and pixels in the vein's bluish colour (nearer it
    than the liver's) appear on the liver with them and not without."""
    full = dissection["full"]["images"][DISSECTION_FRAME]
    bare = dissection["no_vessels"]["images"][DISSECTION_FRAME]
    vessels = changed(full, bare)
    liver = changed(full, dissection["no_liver"]["images"][DISSECTION_FRAME])  # vessels included
    assert vessels.sum() >= 80, vessels.sum()  # about 175
    assert (vessels & ~liver).sum() <= 0.05 * vessels.sum()
    look = declared(pack, "liver")
    vein = look.vessels[0]
    assert hue_gap(float(hue_deg(vein.color)), float(hue_deg(look.color))) > 90.0  # bluish, not red-brown
    vein_hue = float(hue_deg(vein.color))
    counts = []
    for image in (full, bare):
        lin = to_linear(image)
        veined = (hue_gap_map(lin, vein_hue) < 40.0) & (lin.max(axis=-1) - lin.min(axis=-1) > 0.004) & liver
        counts.append(int(veined.sum()))
    assert counts[0] >= 60 and counts[1] == 0, counts  # about 145 with them


def hue_gap_map(lin: np.ndarray, hue: float) -> np.ndarray:
    return np.abs((hue_deg(lin) - hue + 180.0) % 360.0 - 180.0)


def test_vessels_follow_the_deforming_surface(pack):
    """Each vessel ribbon's vertices are the barycentric interpolation of the current surface
    vertices (lifted along the normal by its offset), so the ribbon moves with the tissue: after
    the liver is deformed (a smooth bump and a shift), its vessels move with it, into the same
    buffers (nothing reallocated)."""
    session = build_session(pack, "dissection")
    try:
        app = session.app
        session.run(frames=5)
        draws = DrawList()
        app.insert_resource(draws)
        liver = next(e for e, n in app.query(Name) if n.value == "liver")
        look = app.get(liver, TissueAppearance)
        body = app.get(liver, SoftBody)

        def drawn() -> dict[int, np.ndarray]:
            draws.clear()
            instruments_draw_system(app)
            return {s.key[2]: s.positions for s in draws.surfaces if s.key[:2] == ("vrmed.tissue.vessel", liver)}

        before = {k: v.copy() for k, v in drawn().items()}
        assert sorted(before) == list(range(len(look.vessels))) and len(look.vessels) >= 3
        rest = body.rest_points
        bump = 0.006 * np.exp(-((rest[:, 0] - 0.02) ** 2 + (rest[:, 2] - 0.02) ** 2) / 0.03**2)
        body.x[:, 1] += bump
        body.x[:, 0] += 0.01
        after = drawn()
        td = app.resource(InstrumentDrawCache).tissue[liver]
        for k, vessel in enumerate(look.vessels):
            strip = td.vessels[k]
            assert after[k] is strip.positions  # the strip's own buffer, rewritten in place
            on_surface = np.einsum("mk,mkj->mj", strip.weights, body.x[strip.corners])
            lift = np.linalg.norm(after[k] - on_surface, axis=1)
            assert np.allclose(lift, vessel.offset, atol=1e-9)
            # it moved with the tissue: the shift, plus the bump under it (rest-space weights)
            moved = np.einsum("mk,mk->m", strip.weights, bump[strip.corners])
            assert np.allclose(after[k][:, 0] - before[k][:, 0], 0.01, atol=5e-4)
            assert np.allclose(after[k][:, 1] - before[k][:, 1], moved, atol=5e-4)
            assert moved.max() > 0.002 or k > 0  # the vein runs under the bump
    finally:
        session.close()
