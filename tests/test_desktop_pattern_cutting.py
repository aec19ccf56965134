"""A person plays FLS pattern cutting (``laparoscopy/pattern_cutting``) at the desktop, through
the real input path (xdotool XTest events on an Xvfb display -> GLFW -> the desktop input ->
recorded samples -> the session), as tests/test_desktop_scissors.py plays the dissection.

What the person does (docs/laparoscopy.md, "Pattern cutting", "Played at the desktop";
docs/input.md): the mouse brings the left grasper's tip onto the gauze inside the circle, the
left button closes it and the mouse lifts it 4 mm (tension); Tab gives the mouse to the
scissors. The blades start square to the right side of the line: a first snip there, not
rolled, cuts across the line into the circle (the learner's error the ``CutOffLine`` cue is
for). Then, as a person who looks at the cut, each snip starts at the end of the cut so far
(where the gauze's slit really ends: the mesh's crack tip by the last snip's far end): the
mouse and the wheel put the scissors' shaft through the line 1 mm past it (the hinge 8 mm
before it along the shaft; a cut end off the line is met all the same: a snip that passes
beside the end of the cut so far continues it, the cloth cut's join, docs/cloth.md), Q/E roll
the blade plane onto the line's chord 6 mm further on, the person looks where the open blades
lie across the marked gauze (lifting them out and setting them again when they drag it more
than 1 mm off the mark), and the right button closes (a snip)
and opens the blades, which stay in the gauze and slide on, all the way round the circle.
After each snip the person sees how far off the line it landed and aims the next ones
against that offset. If the round is done and the circle has not come free, the person looks
for where it still holds (a bridge) and snips along the line across it, as the scripted
trainee repairs. The circle coming free ends the session. The driver computes each
step's control targets from the tool pivot (the inverse of ``instruments.manual``) and sends
the mouse pixels, wheel notches and held roll keys that reach them; the session runs at
30 Hz, paced faster than real time.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from conftest import xvfb_display
from desktop_driver import blade_rolls, port_aim, send_toward
from test_desktop_play import _builder, _window, xdo

from vrmed.desktop.play import play
from vrmed.desktop.source import DesktopInput
from vrmed.recording import SessionLog
from vrmed.session import replay

pytestmark = pytest.mark.slow

RATE = 30  # display (sample) rate of the played session (Hz)
GRASPER_JAW = 0.018  # TOOL_PRESETS["grasper"].jaw_length: the grasper's tip is this far past its hinge
SETTLE_FRAMES = 3  # frames (0.1 s) between the tools' arrival and a jaw press (the gauze settles)
RADIUS = 0.02  # the scenario's circle_radius (centre (0, 0) in the gauze's rest plane)
HOLD = (0.006, -0.004)  # where the grasper takes the gauze (rest plane x, z; inside the circle)
LIFT = 0.004  # how far the grasper lifts it (m): tension
CROSS = 0.008  # the blades cross the gauze this far past their hinge (m; 16 mm blades)
AHEAD = 0.001  # a snip crosses the gauze this far past the end of the cut so far (m)
STEP = 0.006  # towards the line this far (arc, m) beyond the cut's end
START = math.pi / 2  # the unrolled snip, then the round, start at the line's right (x = +R)
#: How far round the line the person cuts at most (rad): the whole round. The circle comes
#: free (``PatternFreed``, and the scenario ends) when the last snip meets the first cut.
ARC = 2.0 * math.pi
MAX_S = 60.0  # the played session's limit (simulated s)
BLADES = 0.016  # TOOL_PRESETS["scissors"].jaw_length: the closed blades reach this far past the hinge
CUT_REACH = 0.003  # TOOL_PRESETS["scissors"].cut_radius: the blades cut the gauze this near them
LOOK_TOL = 0.001  # blades seen lying further than this (radially, m) off the aim are set again
LOOKS = 2  # times at most the blades are lifted out and set again before a snip
JOIN = 0.0015  # a snip starts at most this far (m) from the end of the cut so far (JOIN_TOLERANCE 2 mm)
REPAIR_HALF = 0.003  # a repair snip runs along the line this far (arc, m) either side of the bridge
REPAIRS = 6  # repair snips across a bridge left after the round at most (REPAIR_SNIPS)


@pytest.fixture(scope="module")
def display() -> Any:
    """An Xvfb display of our own (DISPLAY set for this module), or skip without Xvfb/xdotool."""
    yield from xvfb_display("1024x768x24")


def at(theta: float, r: float = RADIUS) -> np.ndarray:
    """The rest-plane point (x, z) at ``theta`` (0 = front, +z; clockwise seen from above)."""
    return r * np.array([math.sin(theta), math.cos(theta)])


def angle(p: np.ndarray) -> float:
    return math.atan2(float(p[0]), float(p[1]))


def unwrap(a: float, ref: float) -> float:
    return ref + (a - ref + math.pi) % (2 * math.pi) - math.pi


def tool_targets(pose: Any, hinge: np.ndarray, line: np.ndarray | None, roll_now: float) -> np.ndarray:
    """Control targets (yaw, pitch, insertion offset, roll) that put a tool's hinge at ``hinge``
    (the inverse of ``instruments.manual.frame_of``); with ``line`` (a world direction) the roll
    turns the blade plane (normal: the tool's y axis) to hold the shaft and ``line``, the one of
    the two such rolls nearest ``roll_now``; without, roll 0 (the start)."""
    yaw, pitch, dist, d = port_aim(pose, hinge)
    q = np.array([yaw, pitch, dist - pose.depth0, 0.0])
    if line is not None:
        rolls = [unwrap(base, roll_now) + k * 2 * math.pi for base in blade_rolls(pose, q, d, line) for k in (-1, 0, 1)]
        # the same blade plane every pi (either blade up): the roll nearest the one now (the
        # desktop's roll has no stop, TARGET_LIMITS, so round a whole circle it keeps turning)
        q[3] = min(rolls, key=lambda w: abs(w - roll_now))
    return q


class PatternDriver:
    """An on_frame callback playing a person's pattern cutting with xdotool events. The plan is
    a generator of steps, resumed when the last one is done, so each step is aimed where the
    gauze and the cut are *then* (as a person looks): ``("move", hand, q)`` sends Tab (to that
    hand), mouse motion and wheel notches until the desktop targets are ``q``, then holds E
    (or Q) for as many frames as the roll needs and checks again; ``("jaw", hand, v)`` waits
    until both tools have arrived and the gauze settled, then presses or releases that hand's
    button; ``("wait", hand, n)`` lets ``n`` frames pass."""

    ROLL_TOL = 0.04  # rad: about half the roll of one frame with the key held (2 rad/s / 30 Hz)

    def __init__(self, pack: Any) -> None:
        self.mod = pack.module
        self.plan: Iterator[tuple[str, str, Any]] | None = None
        self.step: tuple[str, str, Any] | None = None
        self.wait = 0
        self.rolling = ""  # the roll key held down now
        self.settled = False
        self.done = False
        self.session: Any = None
        self.source: DesktopInput | None = None
        self.seen = 0  # log events read so far
        #: every scissors snip the person made, in order: "unrolled" or "round"
        self.snips: list[str] = []
        self.rolled = 0.0  # the largest roll target reached (rad)
        self.front = START  # how far round the line (clockwise) the cut has come (rad)
        self.bias = 0.0  # how far out (radially, m) the snips land from where they are aimed

    # -- what the person sees -------------------------------------------------------------
    def _sheet(self) -> Any:
        return self.mod._gauze(self.session.app)[1]

    def _where(self, q: np.ndarray) -> np.ndarray:
        s = self._sheet()
        return self.mod.material_point(s.rest, s.x, s.triangles, np.asarray(q, float))[0]

    def _poses(self) -> dict[str, Any]:
        from vrmed.components.instruments.instrument import Instrument  # deferred: the feature under test
        from vrmed.systems.instruments.manual import ManualControl  # deferred: the feature under test

        app = self.session.app
        state = app.resource(ManualControl)
        return {inst.device: state.tools[e] for e, inst in app.query(Instrument) if e in state.tools}

    def _new_cuts(self) -> list[np.ndarray]:
        """The rest-plane points of the snips made since the last look."""
        events = self.session.recorder.log.events
        new, self.seen = events[self.seen :], len(events)
        out = []
        for e in new:
            if e["type"].endswith(":ClothCut"):
                out.append(self.mod.snip_points(np.asarray(e["data"]["segments"], float).reshape(-1, 2, 3)))
        return out

    # -- the plan -------------------------------------------------------------------------
    def _grasper_to(self, tip: np.ndarray) -> tuple[str, str, Any]:
        pose = self._poses()["left_hand"]
        hinge = np.asarray(tip, float)
        for _ in range(20):  # the grasper's tip there: its hinge JAW back along the shaft
            d = hinge - pose.port
            hinge = np.asarray(tip, float) - GRASPER_JAW * d / np.linalg.norm(d)
        return ("move", "left_hand", tool_targets(pose, hinge, None, 0.0))

    def _blades_at(self, c: np.ndarray, a: np.ndarray | None, b: np.ndarray | None, above: float = 0.0) -> Any:
        """Scissors targets: the shaft through the gauze's material point ``c`` as it lies now,
        the hinge CROSS (+ ``above``) before it; with ``a``, ``b`` the blade plane rolled onto
        the line a -> b (material points, where they lie now), else not rolled."""
        pose = self._poses()["right_hand"]
        p = self._where(c)
        d = (p - pose.port) / np.linalg.norm(p - pose.port)
        line = None
        if a is not None and b is not None:
            line = self._where(b) - self._where(a)
            line /= np.linalg.norm(line)
        roll_now = self.source.targets["right_hand.roll"] if self.source is not None else 0.0
        return ("move", "right_hand", tool_targets(pose, p - (CROSS + above) * d, line, roll_now))

    def _snip(self, kind: str, c: np.ndarray, a: np.ndarray | None, b: np.ndarray | None) -> Iterator[Any]:
        step = self._blades_at(c, a, b)
        if self.source is not None and abs(step[2][3] - self.source.targets["right_hand.roll"]) > 1.0:
            yield self._blades_at(c, a, b, above=0.012)  # a big roll (a flip): out of the gauze first
        yield self._blades_at(c, a, b)
        # the blades in the gauze push it: a look again, where the point lies now, before closing
        yield ("wait", "right_hand", SETTLE_FRAMES)
        yield self._blades_at(c, a, b)
        if a is not None and b is not None:
            # the person looks where the open blades lie across the marked gauze before closing
            # them: the blades that slid on in the gauze drag it, so their plane may cross it a
            # millimetre or two off the line (measured: 2.2 mm in before the snip that then
            # landed 2.0 mm in). Seen off, they are lifted out of the gauze (it springs back)
            # and set again on the same mark, then looked at again
            for _ in range(LOOKS):
                seen = self._blades_off(c, b)
                if seen is None or abs(seen) <= LOOK_TOL:
                    break
                yield self._blades_at(c, a, b, above=0.012)
                yield self._blades_at(c, a, b)
                yield ("wait", "right_hand", SETTLE_FRAMES)
                yield self._blades_at(c, a, b)
        self.snips.append(kind)  # before the jaw closes: the snip that frees the circle ends the session
        yield ("jaw", "right_hand", 1.0)
        yield ("jaw", "right_hand", 0.0)

    def _plan(self) -> Iterator[tuple[str, str, Any]]:
        hold = np.array(HOLD)
        yield self._grasper_to(self._where(hold) + [0.0, 0.015, 0.0])
        yield self._grasper_to(self._where(hold) + [0.0, 0.0005, 0.0])
        yield ("jaw", "left_hand", 1.0)
        yield self._grasper_to(self._where(hold) + [0.0, LIFT, 0.0])
        # the scissors (Tab), not rolled: square to the line at its right, a snip across it
        entry = at(START, RADIUS - 0.0015)  # (1.5 mm inside the line: a clear error)
        yield self._blades_at(entry, None, None, above=0.012)
        yield from self._snip("unrolled", entry, None, None)
        self._new_cuts()
        # along the line clockwise (seen from above), each snip from the end of the cut so far
        front, end = START, at(START)
        while front < START + ARC:
            # the chord along the line from AHEAD past the cut's end to STEP on: a cut end a
            # little off the line is joined all the same (the cloth cut joins a cut passing
            # within JOIN_TOLERANCE, 2 mm, of an earlier cut's end) and each snip starts on the
            # line again instead of carrying the last one's error on; one further off starts
            # within JOIN of it. Both shifted by how far off the last snips landed from where
            # they were aimed (the gauze pushed by the blades: a person corrects for it)
            off = float(np.hypot(*end)) - RADIUS
            c = at(front + AHEAD / RADIUS, RADIUS + float(np.sign(off)) * max(0.0, abs(off) - JOIN))
            target = at(front + STEP / RADIUS)
            shift = -self.bias * np.array([math.sin(front), math.cos(front)])
            yield from self._snip("round", c + shift, c + shift, target + shift)
            for pts in self._new_cuts():
                self._learn(pts, c, target)
                ends = self.mod.snip_ends(pts)
                far = max(range(2), key=lambda k: unwrap(angle(ends[k]), front))
                if unwrap(angle(ends[far]), front) > front + 0.01:
                    end = self._cut_end(ends[far])
                    front = unwrap(angle(end), front)
            self.front = front
        # the round done and the circle not free (the scenario would have ended): the person
        # looks for where it still holds (a bridge the snips left: the pack's
        # attachment_angles, as the scripted trainee looks, _pattern_plan) and snips along the
        # line across it, the cut ends either side joined to it (within JOIN_TOLERANCE)
        pc = self.session.app.resource(self.mod.PatternCut)
        for _ in range(REPAIRS):
            sheet = self._sheet()
            left = self.mod.attachment_angles(sheet.rest, sheet.triangles, pc.center, pc.radius)
            if not left:
                break
            mid = left[0]
            shift = -self.bias * np.array([math.sin(mid), math.cos(mid)])
            c, target = at(mid - REPAIR_HALF / RADIUS), at(mid + REPAIR_HALF / RADIUS)
            yield from self._snip("repair", c + shift, c + shift, target + shift)
            for pts in self._new_cuts():
                self._learn(pts, c, target)
            end = target
        # (not reached when the circle came free: the scenario ended with it) the blades out,
        # Esc ends the session
        yield self._blades_at(end, None, None, above=0.015)

    def _blades_off(self, c: np.ndarray, target: np.ndarray) -> float | None:
        """How far out (radially, m; < 0 in) of the chord ``c`` -> ``target`` (rest plane) the
        scissors' blades lie across the gauze now: the median distance from the centre of the
        rest-plane points where the blade plane (through the shaft, normal the tool's y axis)
        crosses the sheet's edges within the closed blades' reach, against the chord's (as
        :meth:`_learn` judges a landed snip); None when the blades cross no gauze."""
        from vrmed.systems.instruments.manual import frame_of  # deferred: the feature under test

        pose = self._poses()["right_hand"]
        hinge, frame = frame_of(pose, pose.q)
        d, n = -frame[:, 2], frame[:, 1]
        s = self._sheet()
        e = s.triangles[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)
        side = (s.x - hinge) @ n
        e = e[side[e[:, 0]] * side[e[:, 1]] < 0.0]  # the edges the blade plane crosses
        t = (side[e[:, 0]] / (side[e[:, 0]] - side[e[:, 1]]))[:, None]
        x = s.x[e[:, 0]] + t * (s.x[e[:, 1]] - s.x[e[:, 0]])
        u = np.clip((x - hinge) @ d, 0.0, BLADES)
        near = np.linalg.norm(x - hinge - u[:, None] * d, axis=1) <= CUT_REACH
        if not near.any():
            return None
        rest = (s.rest[e[:, 0]] + t * (s.rest[e[:, 1]] - s.rest[e[:, 0]]))[near][:, [0, 2]]
        aimed = 0.5 * (float(np.hypot(*c)) + float(np.hypot(*target)))
        return float(np.median(np.hypot(rest[:, 0], rest[:, 1]))) - aimed

    def _learn(self, pts: np.ndarray, c: np.ndarray, target: np.ndarray) -> None:
        """After a snip, how far off (radially, m) it landed from the chord it was aimed along
        (c -> target): the median of its cut points' distance from the centre against the
        chord's; the offset the next snips are aimed against moves 0.3 of the way to it (the
        snips' scatter, +-1.5 mm, is mostly not systematic)."""
        aimed = 0.5 * (float(np.hypot(*c)) + float(np.hypot(*target)))
        miss = float(np.median(np.hypot(pts[:, 0], pts[:, 1]))) - aimed
        self.bias = float(np.clip(self.bias + 0.3 * miss, -0.001, 0.001))

    def _cut_end(self, q: np.ndarray) -> np.ndarray:
        """Where the cut really ends near the snip's far end ``q`` (rest plane): the nearest
        crack tip of the gauze's mesh (``crack_tips``: the slit's end, where the next snip
        must start to continue it) within 1.5 mm, else ``q``."""
        from vrmed.systems.cloth.cutting import crack_tips  # deferred: the feature under test

        sheet = self._sheet()
        tips = sheet.rest[crack_tips(sheet)][:, [0, 2]]
        if not len(tips):
            return q
        k = int(np.argmin(np.linalg.norm(tips - q, axis=1)))
        return tips[k] if float(np.linalg.norm(tips[k] - q)) <= 1.5e-3 else q

    # -- the hands ------------------------------------------------------------------------
    def __call__(self, session: Any, source: DesktopInput) -> None:
        if session is None or self.done:
            return
        if self.wait > 0:
            self.wait -= 1
            return
        self.session, self.source = session, source
        app = session.app
        from vrmed.systems.instruments.manual import ManualControl  # deferred: the feature under test

        state = app.try_resource(ManualControl)
        if state is None or len(state.tools) < 2:
            return
        if self.rolling:
            xdo("keyup", self.rolling)
            self.rolling = ""
            self.wait = 1
            return
        if self.plan is None:
            self.plan = self._plan()
        if self.step is None:
            self.step = next(self.plan, None)
            if self.step is None:  # the plan played out: Esc ends the session (its log written)
                self.done = True
                xdo("key", "Escape")
                return
        kind, hand, value = self.step
        index = source.hands.index(hand)
        t = source.targets
        if kind == "wait":
            self.step = None
            self.wait = int(value)
            return
        if kind == "move":
            sent = send_toward(source, hand, value, self.ROLL_TOL, RATE)
            if sent is not None:
                self.wait, self.rolling = sent
                return
            self.rolled = max(self.rolled, abs(t[f"{hand}.roll"]))
            self.step = None
            return
        poses = self._poses()
        for dev, pose in poses.items():  # jaw: both tools where their targets are
            tgt = np.array([t[f"{dev}.{d}"] for d in ("yaw", "pitch", "insert", "roll")])
            if np.max(np.abs(pose.q - tgt)) > 2e-3:
                return
        button = "1" if index == 0 else "3"
        if t[f"{hand}.jaw"] != value:
            if not self.settled and value >= 0.5:  # arrived: the gauze settles a moment first
                self.settled = True
                self.wait = SETTLE_FRAMES
                return
            xdo("mousedown" if value >= 0.5 else "mouseup", button)
            self.wait = 1
            return
        self.settled = False
        self.step = None
        self.wait = 3  # 0.1 s at 30 Hz: the jaws close or open (MAX_JAW_RATE 10/s) and grasp or cut


def kinds(log: SessionLog, kind: str) -> list[dict[str, Any]]:
    return [e for e in log.events if e["type"].endswith(":" + kind)]


@pytest.fixture(scope="module")
def played(display: str, laparoscopy_pack: Any, tmp_path_factory: Any) -> dict[str, Any]:
    """The person's session, played once for this module's tests."""
    import time  # deferred: only this fixture times the play

    pack = laparoscopy_pack
    window = _window()
    driver = PatternDriver(pack)
    record = tmp_path_factory.mktemp("pattern") / "pattern_cutting.jsonl"
    t0 = time.perf_counter()
    try:
        res = play(
            pack,
            "pattern_cutting",
            window,
            _builder(pack, rate=RATE),
            record=record,
            speed=50.0,
            max_frames=int(RATE * MAX_S),
            on_frame=driver,
            wait_at_end=False,
            render_every=30,
            samples=1,
        )
    finally:
        window.close()
    wall = time.perf_counter() - t0
    return {"pack": pack, "driver": driver, "res": res, "log": SessionLog.read(record), "wall": wall}


def test_person_grasps_rolls_and_snips_along_the_line(played: dict[str, Any]) -> None:
    """From xdotool events only: the grasper takes the gauze inside the circle (a cloth grasp)
    and the interaction's first step completes, the blades are rolled with Q/E along the line,
    the rolled snips land on the line (at most one ``CutOffLine``, the cut points within the 2 mm
    band), the cut goes on along the line snip by snip all the way round, the circle comes free
    (``PatternFreed``; the scenario ends) and the pack scores the freed piece."""
    pack, driver, log = played["pack"], played["driver"], played["log"]
    mod = pack.module
    assert played["res"].reason == "ended" and kinds(log, "PatternFreed"), (
        f"the driver stopped at {driver.step} ({played['res'].reason})"
    )
    assert log.header["input"] == "desktop" and log.header["learner"] == "person"
    grasps = kinds(log, "InstrumentGrasped")
    assert grasps and grasps[0]["data"]["target"] == "cloth" and grasps[0]["data"]["instrument"] == "left_grasper"
    assert [e["data"]["index"] for e in kinds(log, "StepCompleted")][:2] == [0, 1], kinds(log, "StepCompleted")
    # the blades turned from their start (square to the line at x = +R) along it: ~90 degrees
    assert driver.rolled > 1.0, driver.rolled
    cuts = kinds(log, "ClothCut")
    assert len(cuts) == len(driver.snips) and all(e["data"]["instrument"] == "scissors" for e in cuts)
    # the rolled snips of the round on the line. A repair snip across a bridge the round left
    # (at most REPAIRS) is held to the FLS score only, not to the line: it is made in gauze
    # that hangs from the grasper by the bridges, and the blades flying to it from the round's
    # end push it about (measured, seed 0: with pd._project's stable eigenvector 32 round
    # snips, none off the line, then 3 repairs, none off; with the old form 33 round snips,
    # one off, then 6 repairs, 2 of them off it, 4.4 and 4.8 mm in; docs/laparoscopy.md,
    # "Played at the desktop")
    rolled = [k + 1 for k, kind in enumerate(driver.snips) if kind == "round"]
    repairs = [k + 1 for k, kind in enumerate(driver.snips) if kind == "repair"]
    assert len(repairs) <= REPAIRS and driver.snips[: len(rolled) + 1] == ["unrolled"] + ["round"] * len(rolled)
    off = {int(e["data"]["snip"]) for e in kinds(log, "CutOffLine")}
    assert len(off & set(rolled)) <= 1, (off, driver.snips)
    pts = [mod.snip_points(np.asarray(cuts[k - 1]["data"]["segments"], float).reshape(-1, 2, 3)) for k in rolled]
    rho = np.concatenate([np.hypot(p[:, 0], p[:, 1]) for p in pts])
    # most of each cut within the 2 mm band (the rubric judges a snip by its points' median
    # distance; a blade pushing the gauze as it closes may take a cut's end a little beyond)
    # and none beyond 4 mm, but for the one snip off the line allowed above (cued: measured
    # 4.4 mm in, seed 0, the old pd._project form; the stable form's round has none off)
    within = float(np.mean(np.abs(rho - RADIUS) <= 0.002))
    worst = max(float(np.abs(np.hypot(p[:, 0], p[:, 1]) - RADIUS).max()) for k, p in zip(rolled, pts) if k not in off)
    assert within >= 0.85 and worst < 0.004, (within, worst, rho.min(), rho.max())
    # progress along the line: the arc (rest coordinates, 2 degree bins) the rolled cuts cover
    reach = []
    for k in range(1, len(pts) + 1):
        a = np.concatenate(pts[:k])
        bins = np.unique(np.floor((np.arctan2(a[:, 0], a[:, 1]) % (2 * math.pi)) / math.radians(2.0)))
        reach.append(2.0 * len(bins))
    print(
        f"played {log.footer['frames'] / RATE:.1f} s simulated in {played['wall']:.0f} s: {len(rolled)} rolled snips "
        f"(then {len(repairs)} repair; off the line: {sorted(off)}), "
        f"the line cut over {reach[-1]:.0f} degrees ({[round(r) for r in reach]}); "
        f"{100 * within:.0f} % of the cut within the band, {1e3 * rho.min():.1f}-{1e3 * rho.max():.1f} mm from centre"
    )
    # the snips take the cut on along the line (a few may only deepen it), all the way round
    gains = [b - a for a, b in zip(reach, reach[1:], strict=False)]
    assert sum(g > 0 for g in gains) >= len(gains) - 3 and reach[-1] >= 340.0, reach
    scored = mod.score(log)
    m = scored["metrics"]
    print(f"freed: {m['task_time_s']:.1f} s, deviation {m['area_deviation_pct']:.2f} %, FLS score {m['fls_score']:.1f}")
    assert m["snips"] == len(cuts) and m["snips_off_line"] == len(off) and m["completed"] == 1.0, m
    # the freed piece is the disc: the FLS penalty (area deviation, rest coordinates) is small
    assert 0.0 <= m["area_deviation_pct"] < 10.0 and m["fls_score"] > 200.0, m


def test_unrolled_snip_cuts_across_the_line_and_is_cued(played: dict[str, Any]) -> None:
    """The blades as they start (not rolled) stand square to the line at its right: the same
    snip without the roll cuts across the line into the circle (its cut points' principal
    direction radial), and the pack's live cue says so (``CutOffLine`` for that snip, shown
    as the interaction section's cue). (Measured headless, the targets set directly: the
    round's first 8 snips without the roll all get ``CutOffLine``, cutting radially in to 8 mm
    from the centre; rolled, none, and 94 degrees of the line cut.)"""
    log, driver = played["log"], played["driver"]
    assert driver.snips[0] == "unrolled"
    first = kinds(log, "ClothCut")[0]
    pts = played["pack"].module.snip_points(np.asarray(first["data"]["segments"], float).reshape(-1, 2, 3))
    mid = pts.mean(axis=0)
    axis = np.linalg.svd(pts - mid, full_matrices=False)[2][0]
    assert abs(float(axis @ mid)) / float(np.linalg.norm(mid)) > math.cos(math.radians(30.0)), (axis, mid)
    off = kinds(log, "CutOffLine")
    assert off and int(off[0]["data"]["snip"]) == 1, off
    assert off[0]["data"]["distance"] > off[0]["data"]["band"]
    cues = [e for e in kinds(log, "CueShown") if "off the marked line" in str(e["data"])]
    # the step "Cut along the circle" waits for a snip on the line (CutOnLine), not this one
    step = next(e for e in kinds(log, "StepCompleted") if e["data"]["index"] == 1)
    on = kinds(log, "CutOnLine")
    assert on and step["t"] >= on[0]["t"] > off[0]["t"] and int(on[0]["data"]["snip"]) == 2, (step, on[:1])
    # each off-line snip cued at once (the cue shows within the next display frame)
    assert len(cues) == len(off) and all(0 <= c["t"] - o["t"] < 0.05 for c, o in zip(cues, off, strict=True)), (
        cues,
        off,
    )


def test_person_session_replays_bit_exactly(played: dict[str, Any]) -> None:
    """The person's session, the cloth cuts and the freed circle included, replays bit-exactly
    from its recorded samples."""
    result, session = replay(played["log"], pack=played["pack"])
    session.close()
    assert result.ok, result.first_difference


def test_tip_out_of_view_cue_names_the_tool(laparoscopy_pack: Any) -> None:
    """The view cue says which tip is not seen (``TipOutOfView`` carries the hand): a tip hidden
    behind the other tool's shaft counts as out of view (``tip_in_view``), which a person
    playing both tools meets when the scissors cross over the grasper."""
    from vrmed.session import build_session  # deferred: this test only

    session = build_session(laparoscopy_pack, "pattern_cutting", input_kind="none", learner="person")
    try:
        session.run(frames=2)
        session.app.send(laparoscopy_pack.module.TipOutOfView("left_hand"))
        session.run(frames=2)
        session.app.send(laparoscopy_pack.module.TipOutOfView("right_hand"))
        session.run(frames=2)
        texts = [e["data"]["text"] for e in kinds(session.recorder.log, "CueShown")]
    finally:
        session.close()
    assert len(texts) == 2 and texts[0].startswith("Grasper tip") and texts[1].startswith("Scissors tip"), texts
