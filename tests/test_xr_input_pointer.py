"""The headset pointer and the instrument clutch, without a runtime: panel ray geometry,
trigger edges with hysteresis, what a press sends, the menu panel hiding what is behind
it, and grip-to-grab / trigger-to-actuate of laparoscopic instruments."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vrmed import App
from vrmed.components.scene import Interactable, Name, Transform
from vrmed.geometry import quat_from_axis_angle, quat_rotate
from vrmed.input import InputPlugin, InputState, Keyframe, ScriptedInput
from vrmed.scenario.learner import MenuItem, MenuState
from vrmed.session import open_target
from vrmed.settings import SimSettings
from vrmed.xr import HEAD, LEFT_HAND, RIGHT_HAND, Pose
from vrmed.xr.input import InstrumentClutch, instrument_hands
from vrmed.xr.pointer import (
    BODY_TEXT_DEG,
    BODY_TEXT_PX,
    HeadsetPointer,
    Panel,
    PointerState,
    aim_orientation,
    menu_layout,
    menu_panel,
    menu_row_centre,
)

HEAD_AT = (0.0, 1.6, 0.0)
HAND = (0.2, 1.3, -0.2)


def test_panel_ray_hits_map_to_texture_pixels_and_back():
    q = quat_from_axis_angle((0, 1, 0), 0.4)
    panel = Panel("p", (0.3, 1.2, -0.8), q, (0.4, 0.3), (800, 600))
    for px, py in ((400, 300), (10, 590), (799, 1)):
        target = np.array(panel.point(px, py))
        origin = np.array([0.1, 1.5, 0.2])
        dist, hx, hy = panel.hit(origin, (target - origin) / np.linalg.norm(target - origin))
        assert (hx, hy) == pytest.approx((px, py), abs=1e-6)
        assert dist == pytest.approx(np.linalg.norm(target - origin))
    normal = quat_rotate(q, (0, 0, 1))
    behind = np.array(panel.position) - 0.5 * np.array(normal)
    assert panel.hit(behind, normal) is None  # from behind: the back of a panel is not clickable
    assert panel.hit((0.1, 1.5, 0.2), (0.0, 1.0, 0.0)) is None  # pointing away
    edge = np.array(panel.point(-2, 300))  # just off the left edge
    assert panel.hit((0.1, 1.5, 0.2), edge - (0.1, 1.5, 0.2)) is None


def test_menu_panel_sits_at_arms_length_with_one_degree_text():
    head_q = quat_from_axis_angle((0, 1, 0), math.radians(70))
    panel = menu_panel(HEAD_AT, head_q)
    assert math.dist(HEAD_AT, panel.position) == pytest.approx(0.6)
    # it faces the eyes: the ray from the eyes to its centre hits it square in the middle
    d = np.subtract(panel.position, HEAD_AT)
    dist, px, py = panel.hit(HEAD_AT, d / np.linalg.norm(d))
    assert (px, py) == pytest.approx((panel.pixels[0] / 2, panel.pixels[1] / 2))
    text_m = panel.size[1] / panel.pixels[1] * BODY_TEXT_PX
    assert math.degrees(2 * math.atan(text_m / 2 / dist)) == pytest.approx(BODY_TEXT_DEG, rel=1e-3)
    # in the head's heading (70 degrees left of -z), below the eyes
    assert math.degrees(math.atan2(-d[0], -d[2])) == pytest.approx(70.0, abs=1e-6) and d[1] < 0
    rows = menu_layout(3)
    assert [r[0] for r in rows] == ["menu.choose:1", "menu.choose:2", "menu.choose:3", "menu.back"]
    with pytest.raises(ValueError, match="no row"):
        menu_row_centre(panel, "menu.choose:4", 3)


def test_aim_orientation_points_the_ray_and_keeps_the_controller_level():
    for d in ((0.3, -0.2, -1.0), (1.0, 0.0, 0.0), (0.0, -1.0, 0.01), (-0.5, 0.5, 0.2)):
        q = aim_orientation(d)
        assert quat_rotate(q, (0, 0, -1)) == pytest.approx(tuple(np.array(d) / np.linalg.norm(d)), abs=1e-9)
        assert abs(quat_rotate(q, (1, 0, 0))[1]) < 1e-9


def pointing_app(trigger: list[tuple[float, float]], aim_at=(0.0, 1.0, -1.0)) -> App:
    """An App with a box interactable ``cart`` at (0, 1, -1) and a right hand aiming at
    ``aim_at`` with the trigger keyframed (t, value); display 10 Hz."""
    app = App(seed=0, settings=SimSettings().with_overrides({"display": 10}, where="test"))
    direction = np.subtract(aim_at, HAND)
    hand = [Keyframe(t, HAND, aim_orientation(direction), {"trigger": v}) for t, v in trigger]
    head = [Keyframe(0.0, HEAD_AT, (1.0, 0.0, 0.0, 0.0))]
    app.add_plugin(InputPlugin(ScriptedInput({RIGHT_HAND: hand, HEAD: head})))
    app.spawn(Name("cart"), Transform(position=np.array([0.0, 1.0, -1.0])), Interactable(half_extents=np.full(3, 0.1)))
    app.add_plugin(HeadsetPointer())
    return app


def test_trigger_presses_are_edges_with_hysteresis():
    # 0.8 press; 0.5 is not a release (hysteresis); 0.2 releases; 0.8 presses again
    trigger = [(0.0, 0.0), (0.25, 0.8), (0.45, 0.5), (0.65, 0.8), (0.85, 0.2), (1.05, 0.8)]
    app = pointing_app(trigger)
    try:
        app.run(frames=13)
        commands = app.resource(InputState).commands
        sent = app.resource(PointerState).sent
    finally:
        app.close()
    assert commands == ["hover:cart", "pick:cart", "pick:cart"]
    assert [(f, h) for f, h, c in sent if c == "pick:cart"] == [(3, RIGHT_HAND), (11, RIGHT_HAND)]


def test_an_open_menu_panel_takes_the_ray_before_what_is_behind_it():
    # the menu opens in front of the head; the hand aims through its first row at the cart behind
    panel = menu_panel(HEAD_AT, (1.0, 0.0, 0.0, 0.0))
    row = np.array(menu_row_centre(panel, "menu.choose:1", 2))
    through = row + 3.0 * (row - HAND) / np.linalg.norm(row - HAND)
    app = pointing_app([(0.0, 0.0), (0.25, 1.0)], aim_at=tuple(through))
    app.insert_resource(
        MenuState(open=True, title="Cart", items=[MenuItem("A", "action", "a"), MenuItem("B", "action", "b")])
    )
    try:
        app.run(frames=4)
        commands = app.resource(InputState).commands
    finally:
        app.close()
    assert commands == ["menu.choose:1"]


def test_clutch_grip_to_grab_and_trigger_to_actuate():
    home = {RIGHT_HAND: ((0.06, 0.06, 0.0), (1.0, 0.0, 0.0, 0.0))}
    clutch = InstrumentClutch((RIGHT_HAND,), home)

    def frame(pos, squeeze, trigger, q=(1.0, 0.0, 0.0, 0.0)):
        sample = {
            RIGHT_HAND: {
                "position": list(pos),
                "orientation": list(q),
                "buttons": {"squeeze": squeeze, "trigger": trigger},
            }
        }
        return clutch.apply(sample)

    s = frame((0.3, 1.2, -0.3), 0.0, 1.0)  # not held: the handle stays home, the jaw stays open
    assert s[RIGHT_HAND]["position"] == [0.06, 0.06, 0.0] and s[RIGHT_HAND]["buttons"]["trigger"] == 0.0
    assert s["right_controller"]["position"] == [0.3, 1.2, -0.3]  # the raw hand, for the pointer
    frame((0.3, 1.2, -0.3), 0.9, 0.0)  # grab
    turn = quat_from_axis_angle((0, 0, 1), 0.3)
    s = frame((0.32, 1.19, -0.3), 0.5, 0.9, turn)  # 0.5: still held (hysteresis); moved 2 cm, rolled, jaw closing
    assert s[RIGHT_HAND]["position"] == pytest.approx([0.08, 0.05, 0.0])
    assert s[RIGHT_HAND]["orientation"] == pytest.approx(list(turn)) and s[RIGHT_HAND]["buttons"]["trigger"] == 0.9
    s = frame((0.5, 1.0, 0.0), 0.1, 0.0)  # released: handle and jaw stay (a ratchet keeps the grasp)
    assert s[RIGHT_HAND]["position"] == pytest.approx([0.08, 0.05, 0.0]) and s[RIGHT_HAND]["buttons"]["trigger"] == 0.9
    frame((0.5, 1.0, 0.0), 1.0, 0.9)  # take hold again elsewhere: no jump
    s = frame((0.5, 1.01, 0.0), 1.0, 0.0)
    assert s[RIGHT_HAND]["position"] == pytest.approx([0.08, 0.06, 0.0]) and s[RIGHT_HAND]["buttons"]["trigger"] == 0.0
    assert not clutch.held(LEFT_HAND) and clutch.held(RIGHT_HAND)


def test_laparoscopy_scenarios_clutch_both_hands_clinical_ones_none():
    lap, _ = open_target("laparoscopy")
    assert set(instrument_hands(lap.scenario("peg_transfer"))) == {LEFT_HAND, RIGHT_HAND}
    no_instruments = lap.scenario("peg_transfer").entities[:1]  # the board alone
    assert instrument_hands(type("S", (), {"entities": no_instruments})()) == ()


def test_a_real_headset_starts_at_the_scenarios_viewpoint():
    from vrmed.xr.comfort import ComfortRig, ComfortSettings
    from vrmed.xr.input import place_at_viewpoint, scenario_viewpoint

    camera = type(
        "Decl",
        (),
        {"get": lambda self, k, d=None: {"position": [0.4, 1.72, 1.4], "target": [-0.1, 0.1, -0.55]}.get(k, d)},
    )()
    spec = type("Spec", (), {"components": {"Camera": camera}})()
    scenario = type("S", (), {"entities": [spec]})()
    (pos, yaw) = scenario_viewpoint(scenario)
    assert pos == (0.4, 1.72, 1.4) and yaw == pytest.approx(math.atan2(0.5, 1.95))
    rig = ComfortRig(ComfortSettings(reference="standing"))
    assert place_at_viewpoint(rig, scenario)
    # the user's head 1.7 m above the play-area centre, looking down the tracking -Z ...
    head = rig.to_world(Pose((0.0, 1.7, 0.0)))
    forward = quat_rotate(head.orientation, (0, 0, -1))
    # ... stands at the camera on the floor and looks towards its target
    assert head.position == pytest.approx((0.4, 1.7, 1.4))
    assert math.atan2(-forward[0], -forward[2]) == pytest.approx(yaw)
    seated = ComfortRig(ComfortSettings(reference="seated"))
    place_at_viewpoint(seated, scenario)
    assert seated.to_world(Pose()).position == pytest.approx(pos)  # LOCAL's origin is the eyes
    assert not place_at_viewpoint(ComfortRig(), type("S", (), {"entities": []})())
