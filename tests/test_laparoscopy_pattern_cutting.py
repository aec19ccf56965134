"""The laparoscopy pack's FLS pattern-cutting task (FLS manual-skills task 2): the area-deviation
penalty against analytic areas, the snip classification against the 2 mm band, the scripted
trainee's cut plan, and the FLS score from the log (cutoff - time - penalty; 0 when the circle is
not freed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vrmed.api import ClothCut, ClothSheet
from vrmed.content.laparoscopy.systems import (
    PATTERN_BAND,
    PATTERN_RADIUS,
    SNIP_CHORD,
    STYLES,
    attachment_angles,
    circle_deviation_pct,
    classify_snip,
    embed_points,
    equal_area_polygon_radius,
    footprint_deviation,
    freed_piece,
    marked_circle,
    material_point,
    pattern_chords,
    pattern_cutting_score,
    repair_chord,
    snip_points,
)
from vrmed.recording import SessionLog
from vrmed.session import build_session

R = PATTERN_RADIUS  # the FLS circle: 4 cm diameter
BAND = PATTERN_BAND  # the FLS band either side of the line (2 mm)
MODULE = "laparoscopy"


def fan(center: tuple[float, float], radius: float, sides: int = 2000) -> np.ndarray:
    """A disc as a fan of triangles (a regular polygon of ``sides``: area error ~(2 pi/sides)^2 / 6)."""
    a = np.linspace(0.0, 2.0 * math.pi, sides + 1)
    rim = np.stack([center[0] + radius * np.cos(a), center[1] + radius * np.sin(a)], axis=1)
    c = np.broadcast_to(np.asarray(center, float), (sides, 2))
    return np.stack([c, rim[:-1], rim[1:]], axis=1)


def lens_area(r: float, d: float) -> float:
    """Area of the intersection of two discs of radius r whose centres are d apart."""
    return 2.0 * r * r * math.acos(d / (2.0 * r)) - 0.5 * d * math.sqrt(4.0 * r * r - d * d)


@pytest.mark.parametrize("d", [0.0, 0.001, 0.002, 0.005])
def test_area_deviation_of_an_offset_disc_matches_the_analytic_lens(d):
    # catches: a wrong raster test (pixel centres, orientation), a grid that shifts with the piece
    area, sym = footprint_deviation(fan((d, 0.0), R), (0.0, 0.0), R)
    exact_sym = 2.0 * (math.pi * R * R - lens_area(R, d))
    # 0.1 mm pixels: the two rasterised rims miscount a few pixels per mm of rim
    assert area == pytest.approx(math.pi * R * R, rel=2e-3)
    assert sym == pytest.approx(exact_sym, abs=2e-7)  # 0.2 mm^2 of a 1257 mm^2 disc
    pct = circle_deviation_pct(sym, R)
    assert pct == pytest.approx(100.0 * exact_sym / (math.pi * R * R), abs=0.02)
    if d == 0.005:  # a 5 mm offset is a 31.75 % deviation (2 (pi r^2 - lens) / pi r^2)
        assert pct == pytest.approx(31.745, abs=0.02)


def test_area_deviation_of_a_smaller_or_missing_piece_and_overlapping_triangles():
    _, sym = footprint_deviation(fan((0.0, 0.0), 0.018), (0.0, 0.0), R)
    assert circle_deviation_pct(sym, R) == pytest.approx(100.0 * (1.0 - 0.9**2), abs=0.05)  # 19 %
    _, sym = footprint_deviation(np.zeros((0, 3, 2)), (0.0, 0.0), R)
    assert circle_deviation_pct(sym, R) == pytest.approx(100.0, abs=0.05)
    twice = np.concatenate([fan((0.0, 0.0), R), fan((0.0, 0.0), R)])  # overlaps count once
    area, sym = footprint_deviation(twice, (0.0, 0.0), R)
    assert area == pytest.approx(math.pi * R * R, rel=2e-3) and sym < 2e-7


def grid_sheet(size: float, cells: int, y: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A square sheet centred on the origin in the plane y (rest (V, 3), triangles (F, 3)),
    each cell split along alternating diagonals."""
    s = np.linspace(-size / 2, size / 2, cells + 1)
    xx, zz = np.meshgrid(s, s, indexing="xy")
    rest = np.stack([xx.ravel(), np.full(xx.size, y), zz.ravel()], axis=1)
    tris = []
    for i in range(cells):
        for j in range(cells):
            a, b, c, d = (
                i * (cells + 1) + j,
                i * (cells + 1) + j + 1,
                (i + 1) * (cells + 1) + j,
                (i + 1) * (cells + 1) + j + 1,
            )
            tris += [(a, b, d), (a, d, c)] if (i + j) % 2 else [(a, b, c), (b, d, c)]
    return rest, np.array(tris)


def test_a_triangulated_sheet_footprint_covers_its_square_once():
    rest, tris = grid_sheet(0.03, 12)
    area, _ = footprint_deviation(rest[tris][..., [0, 2]], (0.0, 0.0), 0.005)
    assert area == pytest.approx(0.03 * 0.03, rel=1e-3)


def arc(r: float, t0: float, t1: float, n: int = 20) -> np.ndarray:
    t = np.linspace(t0, t1, n)
    return np.stack([r * np.sin(t), r * np.cos(t)], axis=1)


def test_snips_are_judged_against_the_2mm_band():
    # catches: the band's sign (inside vs outside), a radial entry cut flagged, a tangential cut missed
    c = np.zeros(2)
    assert classify_snip(arc(R, 0.0, 0.5), c, R, BAND) == 0.0  # on the line
    assert classify_snip(arc(R + 0.0015, 0.0, 0.5), c, R, BAND) == 0.0  # 1.5 mm outside: in the band
    assert classify_snip(arc(R - 0.0015, 0.0, 0.5), c, R, BAND) == 0.0  # 1.5 mm inside: in the band
    off = classify_snip(arc(R + 0.003, 0.0, 0.5), c, R, BAND)  # along the line, 3 mm outside
    assert off == pytest.approx(0.003, abs=1e-6)
    into = classify_snip(arc(R - 0.003, 0.0, 0.5), c, R, BAND)  # 3 mm into the circle
    assert into == pytest.approx(0.003, abs=1e-6)
    entry = np.stack([np.zeros(15), np.linspace(0.05, R + 0.001, 15)], axis=1)  # in from the edge
    assert classify_snip(entry, c, R, BAND) == 0.0
    assert classify_snip(np.zeros((0, 2)), c, R, BAND) == 0.0
    # from the cloth cut's rest segments (3D, y up): a chord 3 mm outside the line, sampled every 0.5 mm
    seg = np.array([[[-0.004, 0.06, R + 0.003], [0.004, 0.06, R + 0.003]]])
    pts = snip_points(seg)
    assert pts.shape == (17, 2) and np.allclose(pts[:, 1], R + 0.003)
    assert classify_snip(pts, c, R, BAND) > BAND
    with pytest.raises(ValueError, match="segments must be"):
        snip_points(np.zeros((2, 3)))


def polygon_deviation_pct(r: float, n: int) -> float:
    """The symmetric difference between a circle of radius r and the regular n-gon of equal area
    (apothem a), as a percentage of the circle: in each half sector (polar angle phi from the
    apothem) the polygon lies outside the circle where a / cos(phi) > r, i.e. phi > acos(a / r);
    the area outside is the integral of (a^2 / cos^2 phi - r^2) / 2 there, and as much is inside."""
    a = equal_area_polygon_radius(r, n) * math.cos(math.pi / n)
    f0 = math.acos(a / r)
    outside = 0.5 * (a * a * (math.tan(math.pi / n) - math.tan(f0)) - r * r * (math.pi / n - f0))
    return 100.0 * 2.0 * (2 * n * outside) / (math.pi * r * r)


@pytest.mark.parametrize("sides", [10, 12, 16])
def test_the_expert_plan_cuts_an_equal_area_polygon_inside_the_band(sides):
    # catches: a polygon of the wrong size (the freed piece's area), chords off the band, an open loop
    rng = np.random.default_rng(0)
    center = np.array([0.003, -0.002])
    chords = pattern_chords(center, R, 0.05, STYLES["expert"], rng, sides=sides)
    entry = len(chords) - sides  # radial snips in from the front edge, each at most SNIP_CHORD long
    assert entry == math.ceil((0.05 + 0.002 - equal_area_polygon_radius(R, sides)) / SNIP_CHORD)
    assert all(np.linalg.norm(b - a) <= SNIP_CHORD + 1e-12 and a[0] == b[0] == center[0] for a, b in chords[:entry])
    assert chords[0][0][1] == pytest.approx(center[1] + 0.052) and chords[entry - 1][1][1] > center[1] + R
    big = equal_area_polygon_radius(R, sides)
    assert 0.5 * sides * big * big * math.sin(2 * math.pi / sides) == pytest.approx(math.pi * R * R, rel=1e-12)
    ring = np.array([c[0] for c in chords[entry:]])  # the polygon's corners
    area, sym = footprint_deviation(
        np.stack([np.broadcast_to(center, ring.shape), ring, np.roll(ring, -1, 0)], 1), center, R
    )
    assert area == pytest.approx(math.pi * R * R, rel=3e-3)
    # the polygon against its circle: the analytic symmetric difference (10 chords 2.58 %, 16: 1.00 %)
    assert circle_deviation_pct(sym, R) == pytest.approx(polygon_deviation_pct(R, sides), abs=0.05)
    for q0, q1 in chords:
        assert classify_snip(snip_points(np.array([[q0, q1]])), center, R, BAND) == 0.0
    assert np.linalg.norm(chords[-1][1] - chords[entry][0]) == pytest.approx(0.002)  # the loop closes past its start


def test_the_novice_plan_leaves_the_band():
    chords = pattern_chords(np.zeros(2), R, 0.05, STYLES["novice"], np.random.default_rng(0), sides=12)
    off = [classify_snip(snip_points(np.array([[a, b]])), np.zeros(2), R, BAND) for a, b in chords]
    assert sum(o > 0 for o in off) >= 2


def test_the_trainee_reads_where_a_material_point_is_now():
    # catches: a position averaged across an opened cut (it falls in the gap), a normal not turning with the sheet
    rest, tris = grid_sheet(0.04, 16, y=0.06)
    shift = np.array([0.003, -0.01, 0.002])
    q = np.array([0.0013, -0.0042])
    pos, normal = material_point(rest, rest + shift, tris, q)
    np.testing.assert_allclose(pos, np.array([q[0], 0.06, q[1]]) + shift, atol=1e-12)
    assert normal[1] == pytest.approx(1.0)
    tilt = rest.copy()  # the sheet tilted 30 degrees about z: the normal turns with it
    tilt[:, 1] = 0.06 + math.tan(math.radians(30.0)) * rest[:, 0]
    _, normal = material_point(rest, tilt, tris, q)
    assert math.degrees(math.acos(normal[1])) == pytest.approx(30.0, abs=1e-6)
    # a cut along x = 0 whose far lip (x > 0) dropped 5 mm: a point 0.3 mm from the cut stays on its lip
    side = rest[tris].mean(axis=1)[:, 0] > 0.0
    on_cut = np.flatnonzero(np.abs(rest[:, 0]) < 1e-12)
    copy = {int(v): len(rest) + k for k, v in enumerate(on_cut)}
    tris2 = np.array([[copy.get(int(v), int(v)) if right else int(v) for v in t] for t, right in zip(tris, side)])
    rest2 = np.concatenate([rest, rest[on_cut]])
    cur = rest2.copy()
    cur[np.unique(tris2[side]), 1] -= 0.005
    left, _ = material_point(rest2, cur, tris2, np.array([-0.0003, 0.001]))
    right, _ = material_point(rest2, cur, tris2, np.array([0.0003, 0.001]))
    assert left[1] == pytest.approx(0.06) and right[1] == pytest.approx(0.055)


def test_the_trainee_finds_where_the_circle_is_still_attached():
    # catches: a disc cut round reported attached, an attachment missed or put at the wrong angle
    rest, tris = grid_sheet(0.1, 40)
    cen = rest[tris].mean(axis=1)[:, [0, 2]]
    inside = np.linalg.norm(cen, axis=1) < R
    angle = np.degrees(np.arctan2(cen[:, 0], cen[:, 1])) % 360.0
    # the disc's triangles on copies of their vertices: cut round, except within 6 degrees of 90
    bridge = inside & (np.abs(angle - 90.0) < 6.0)
    for keep, expect in ((np.zeros_like(inside), []), (bridge, [90.0])):
        moved = inside & ~keep
        verts = np.unique(tris[moved])
        shared = np.intersect1d(verts, tris[~moved])
        copy = {int(v): len(rest) + k for k, v in enumerate(shared)}
        t2 = np.array([[copy.get(int(v), int(v)) if m else int(v) for v in t] for t, m in zip(tris, moved)])
        r2 = np.concatenate([rest, rest[shared]])
        found = [math.degrees(a) for a in attachment_angles(r2, t2, (0.0, 0.0), R)]
        assert len(found) == len(expect)
        for a, b in zip(found, expect):
            assert abs(a - b) < 10.0
    # a repair snip joins the two cut ends either side of the attachment, 1 mm past each
    tips = [R * np.array([math.sin(a), math.cos(a)]) for a in np.radians([80.0, 100.0, 200.0])]
    q0, q1 = repair_chord(tips, np.zeros(2), R, BAND, math.radians(90.0), 0.1)
    u = (tips[1] - tips[0]) / np.linalg.norm(tips[1] - tips[0])
    np.testing.assert_allclose(q0, tips[0] - 0.001 * u, atol=1e-12)
    np.testing.assert_allclose(q1, tips[1] + 0.001 * u, atol=1e-12)
    q0, q1 = repair_chord(tips[2:], np.zeros(2), R, BAND, math.radians(90.0), 0.1)  # no pair: along the line
    assert abs(math.degrees(math.atan2(q0[0], q0[1])) - (90.0 - math.degrees(0.1))) < 1e-6


def test_material_points_are_embedded_in_the_rest_triangles():
    # catches: wrong barycentric weights or orientation, points off the sheet not flagged
    rest, tris = grid_sheet(0.04, 16, y=0.06)
    rng = np.random.default_rng(1)
    pts = rng.uniform(-0.019, 0.019, size=(50, 2))
    tri, bary = embed_points(rest[tris][:, :, [0, 2]], np.concatenate([pts, [[0.05, 0.0]]]))
    assert tri[-1] == -1 and np.all(tri[:-1] >= 0)
    moved = rest * np.array([1.3, 1.0, 0.8]) + np.array([0.0, 0.01, 0.0])  # the sheet stretched (affine)
    back = (bary[:-1, :, None] * moved[tris[tri[:-1]]]).sum(axis=1)
    np.testing.assert_allclose(back[:, [0, 2]], pts * np.array([1.3, 0.8]), atol=1e-12)
    assert np.all(bary[:-1] >= -1e-9) and np.allclose(bary[:-1].sum(axis=1), 1.0)


def test_the_circle_is_free_only_when_its_piece_holds_no_clamped_vertex():
    rest, tris = grid_sheet(0.1, 40)
    pinned = np.abs(rest[:, 0]) >= 0.049  # the two clamped x edges
    centroid = rest[tris].mean(axis=1)[:, [0, 2]]
    disc = np.linalg.norm(centroid, axis=1) < R
    assert freed_piece(rest, tris, np.zeros(len(tris), np.int64), pinned, (0.0, 0.0)) == -1  # one piece: held
    labels = np.where(disc, 7, 3)
    assert freed_piece(rest, tris, labels, pinned, (0.0, 0.0)) == 7  # the disc's piece holds no pin
    assert freed_piece(rest, tris, labels, pinned, (0.045, 0.0)) == -1  # (a point of the clamped piece)
    assert freed_piece(rest, tris, labels, pinned, (0.2, 0.0)) == -1  # off the gauze
    # the freed piece's footprint against the circle: a staircase of 2.5 mm cells
    _, sym = footprint_deviation(rest[tris[labels == 7]][:, :, [0, 2]], (0.0, 0.0), R)
    assert 0.0 < circle_deviation_pct(sym, R) < 15.0


def test_the_marked_circle_is_three_ribbons_on_the_line_and_the_band_edges():
    mark = marked_circle(4, np.array([0.001, -0.002]), R, BAND)
    assert mark.entity == 4 and len(mark.colors) == 3
    rho = np.linalg.norm(mark.corners - np.array([0.001, -0.002]), axis=1)
    for (_, span), r in zip(mark.colors, (R, R - BAND, R + BAND), strict=True):
        used = np.unique(mark.faces[span])
        assert abs(float(rho[used].mean()) - r) < 1e-5
        assert float(rho[used].max() - rho[used].min()) <= 0.0008 + 1e-12  # the ribbon's width
    assert mark.faces.max() < len(mark.corners) and np.all(mark.rest_len > 0)


# ----------------------------------------------------------------------------- scoring from the log


def event(t: float, kind: str, **data) -> dict:
    return {"t": t, "frame": int(t * 90), "type": f"{MODULE}:{kind}", "data": data}


def attempt(t_done: float | None, deviation: float = 4.0, off_line: int = 0, weight: float = 1.0) -> SessionLog:
    """A pattern-cutting log: grasp at 2 s, snips, (the circle freed at ``t_done`` with ``deviation`` %)."""
    events = [
        event(
            0.0,
            "PatternTask",
            center_x=0.0,
            center_z=0.0,
            radius=R,
            band=BAND,
            cutoff_s=300.0,
            proficiency_s=98.0,
            deviation_weight=weight,
        ),
        event(2.0, "InstrumentGrasped", instrument="left_grasper", target="tissue"),
        event(3.0, "ClothCut", instrument="scissors", entity=5),
    ]
    events += [event(4.0 + k, "CutOffLine", snip=k + 1, distance=0.003, band=BAND) for k in range(off_line)]
    if t_done is not None:
        sym = deviation / 100.0 * math.pi * R * R
        events.append(
            event(
                t_done,
                "PatternFreed",
                piece=9,
                piece_area=math.pi * R * R,
                symmetric_difference=sym,
                deviation_pct=deviation,
            )
        )
        events.append(event(t_done, "TaskCompleted", task="pattern_cutting", rings=0))
    return SessionLog(header={"scenario": "pattern_cutting"}, events=events)


def test_fls_score_is_cutoff_minus_time_minus_area_deviation(laparoscopy_pack):
    # catches: a wrong time origin, the penalty not applied or not weighted, passing when off the band
    score = laparoscopy_pack.module.score
    s = score(attempt(62.0, 4.0))
    assert s == pattern_cutting_score(attempt(62.0, 4.0))  # the pack's score() dispatches on the scenario
    assert s["metrics"]["task_time_s"] == pytest.approx(60.0)  # from the first grasp
    assert s["score"] == pytest.approx(300.0 - 60.0 - 4.0) and s["passed"] and s["max_score"] == 300.0
    assert score(attempt(62.0, 4.0, weight=2.0))["score"] == pytest.approx(300.0 - 60.0 - 8.0)
    slow = score(attempt(122.0, 4.0))  # over the 98 s proficiency time
    assert slow["score"] == pytest.approx(176.0) and not slow["passed"]
    off = score(attempt(62.0, 4.0, off_line=2))  # the band was left twice
    assert off["metrics"]["snips_off_line"] == 2.0 and not off["passed"]
    assert score(attempt(301.0, 30.0))["score"] == 0.0  # floored at 0
    undone = score(attempt(None))
    assert undone["score"] == 0.0 and not undone["passed"] and undone["metrics"]["task_time_s"] == 300.0
    assert undone["metrics"]["area_deviation_pct"] == 100.0
    assert s["targets"]["task_time_s"]["target"] == 98.0 and s["targets"]["fls_score"]["target"] == 202.0


# ----------------------------------------------------------------------------- the scenario end to end

#: Bound on the expert's area deviation (%): its 16-chord polygon alone is 1.0 % off the circle
#: (polygon_deviation_pct); the cloth cut's snapping onto vertices (at most 0.2 of a 2.5 mm
#: edge) and the closed-loop aim add to it (measured 2.1 %, seed 0: docs/laparoscopy.md).
EXPERT_DEVIATION_PCT = 4.0
#: Simulated seconds of the expert's run in these tests: the scenario's whole 18 s. It frees the
#: circle at 15.8-17.3 s (seed 0; the closed-loop trainee's snips follow the cloth's last bits,
#: which differ between machines), so a run cut at 16.5 s failed on one where it freed at 17.3.
EXPERT_S = 18.0
#: The simulated seconds re-run for the determinism check: the grasp and the first snips.
PREFIX_S = 3.0


def run(pack, name: str, seconds: float | None = None, seed: int = 0, after=None):
    """Run a scenario; ``after(session)`` runs before the log is finished (e.g. a further cut)."""
    session = build_session(pack, name, seed=seed)
    try:
        session.run(seconds=seconds if seconds is not None else session.scenario.duration)
        if after is not None:
            after(session)
        sheet = next(c for _, c in session.app.query(ClothSheet))
        return session.finish(), sheet.x.copy(), sheet.v.copy()
    finally:
        session.close()


@pytest.fixture(scope="module")
def expert(laparoscopy_pack):
    """The scripted expert, seed 0, to just after it frees the circle (15.8 s of the scenario's
    18: the rest is lifting it away): one run shared by the assertions."""
    return run(laparoscopy_pack, "pattern_cutting", seconds=EXPERT_S)


def kinds(log, kind):
    return [e for e in log.events if e["type"].endswith(":" + kind)]


@pytest.mark.slow
def test_the_expert_frees_the_circle_within_the_proficiency_time(laparoscopy_pack, expert):
    # catches: a disc never freed (bridges left), a freed piece that is not the circle, a blow-up
    log, x, v = expert
    assert np.all(np.isfinite(x)) and np.all(np.isfinite(v))
    assert float(np.abs(v).max()) < 1.0 and float(x[:, 1].min()) >= 0.0  # nothing flung, nothing through the floor
    task = kinds(log, "PatternTask")
    assert len(task) == 1 and task[0]["data"]["radius"] == R and task[0]["data"]["cutoff_s"] == 300.0
    assert [e["data"]["target"] for e in kinds(log, "InstrumentGrasped")] == ["cloth"]
    freed = kinds(log, "PatternFreed")
    assert len(freed) == 1 and len(kinds(log, "TaskCompleted")) == 1
    # the freed piece is the circle: its rest area within 4 % of pi r^2
    assert freed[0]["data"]["piece_area"] == pytest.approx(math.pi * R * R, rel=0.04)
    s = laparoscopy_pack.module.score(log)
    m = s["metrics"]
    assert s["passed"] and m["completed"] == 1.0 and m["task_time_s"] <= 98.0
    assert m["snips_off_line"] == 0.0 and m["snips"] >= 16
    assert 0.0 < m["area_deviation_pct"] < EXPERT_DEVIATION_PCT
    assert s["score"] == pytest.approx(300.0 - m["task_time_s"] - m["area_deviation_pct"])


@pytest.mark.slow
def test_same_seed_same_session_and_rescoring_from_disk(laparoscopy_pack, expert, tmp_path):
    # catches: nondeterminism in the closed-loop trainee, the cut or the solve; a score that needs live state
    log = expert[0]
    again = run(laparoscopy_pack, "pattern_cutting", seconds=PREFIX_S)[0]
    prefix = [e for e in log.event_records() if e["t"] < PREFIX_S - 0.02]
    assert kinds(log, "ClothCut")[0]["t"] < PREFIX_S - 0.02  # the window holds a snip
    assert [e for e in again.event_records() if e["t"] < PREFIX_S - 0.02] == prefix
    path = log.write(tmp_path / "pattern.jsonl")
    score = laparoscopy_pack.module.score
    assert score(SessionLog.read(path)) == score(log)


def test_a_snip_off_the_band_is_cued_and_counted(laparoscopy_pack):
    # catches: ClothCut not read, the band test not applied to the snip's rest segments, no live cue
    def snips(session):
        app = session.app
        gauze = next(e for e, _ in app.query(ClothSheet))
        on = ((0.0, 0.06, R + 0.001, 0.004, 0.06, R + 0.0005),)  # along the line, inside the band
        off = ((-0.004, 0.06, R + 0.0035, 0.004, 0.06, R + 0.0035),)  # along it, 3.5 mm outside
        app.send(ClothCut("scissors", gauze, on, 1))
        app.send(ClothCut("scissors", gauze, off, 1))
        session.run(seconds=0.05)

    log = run(laparoscopy_pack, "pattern_cutting", seconds=0.2, after=snips)[0]
    off = kinds(log, "CutOffLine")
    assert [e["data"]["snip"] for e in off] == [2] and 0.0035 <= off[0]["data"][
        "distance"
    ] <= 0.0039  # the median distance of its points
    assert laparoscopy_pack.module.score(log)["metrics"]["snips_off_line"] == 1.0
    assert not kinds(log, "PatternFreed")


def test_a_person_gets_steps_cues_and_the_fls_time_limit(laparoscopy_pack):
    for name in ("pattern_cutting", "pattern_cutting_novice"):
        inter = laparoscopy_pack.scenarios[name].interaction
        assert inter.time_limit == 300
        assert [s.event for s in inter.steps] == ["InstrumentGrasped", "CutOnLine", "TaskCompleted"]
        assert {c.event for c in inter.cues} == {"CutOffLine", "TipOutOfView"}
