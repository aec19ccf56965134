"""Desktop controls without a display: the key-binding file's checks, the rate limits and
pivot kinematics of ``instruments.manual``, and the desktop sample (targets, learner
commands) built from raw events."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from vrmed.desktop.bindings import ALL_ACTIONS, DEFAULT_BINDINGS, Bindings, BindingsError, load_bindings
from vrmed.desktop.source import DESKTOP, TARGET_LIMITS, DesktopInput
from vrmed.input import LEARNER
from vrmed.systems.instruments import manual as M


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "keys.yaml"
    path.write_text(text)
    return path


def test_defaults_have_no_conflicts_and_every_action_is_known() -> None:
    b = Bindings()
    assert b.conflicts("clinical") == [] and b.conflicts("laparoscopy") == []
    assert set(DEFAULT_BINDINGS) <= set(ALL_ACTIONS)


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (
            "bindings:\n  session.pause: [f5]\n  instrument.jawz: space\n",
            3,
            ["unknown action 'instrument.jawz'", "valid actions:"],
        ),
        ("bindings:\n  session.pause: [f55]\n", 2, ["unknown control 'f55'", "valid controls:"]),
        ("bindings:\n  session.pause: mouse_x\n", 2, ["'mouse_x' is an axis"]),
        ("bindings:\n  instrument.yaw: q\n", 2, ["needs an axis", "instrument.yaw+"]),
        ("bindings:\n  session.pause: tab\n", 2, ["'tab' is bound to", "unbind one"]),
        ("settings:\n  mouse_rad_per_px: -1\n", 2, ["must be a number >= 0"]),
        ("keys: {}\n", 1, ["unknown key 'keys'"]),
        ("bindings: [\n", 2, ["invalid YAML"]),
    ],
)
def test_binding_file_mistakes_are_one_error_with_file_and_line(
    tmp_path: Path, text: str, line: int, words: list[str]
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(BindingsError) as err:
        load_bindings(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}:{line}:"), msg
    for w in words:
        assert w in msg, msg


def test_binding_file_overrides_and_unbinds(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "bindings:\n  session.pause: [f5, p]\n  menu.toggle: []\nsettings: {mouse_rad_per_px: 0.001}\n"
    )
    b = load_bindings(path)
    assert b.controls("session.pause") == ("f5", "p") and b.controls("menu.toggle") == ()
    assert b.settings["mouse_rad_per_px"] == 0.001


def _pose() -> M.ManualPose:
    d = np.array([0.41, -0.91, 0.0])
    return M._start_pose(np.array([-0.12, 0.2, 0.0]), d, M.PORT_DEPTH, np.array([1.0, 0.0, 0.0]))


def test_a_mouse_jump_moves_the_tip_at_most_the_rate_limit() -> None:
    """A 1 rad jump of the yaw target: the hinge moves at most MAX_TIP_SPEED * dt per frame
    and arrives; with no limit it would move 0.15 m (the port depth) x 1 rad in one frame."""
    pose, dt = _pose(), 1.0 / 90.0
    target = np.array([1.0, 0.0, 0.0, 0.0])
    prev, _ = M.frame_of(pose, pose.q)
    steps = []
    for _ in range(200):
        M.step_pose(pose, target, dt)
        p, _ = M.frame_of(pose, pose.q)
        steps.append(float(np.linalg.norm(p - prev)))
        prev = p
    assert max(steps) <= M.MAX_TIP_SPEED * dt + 1e-12
    assert max(steps) > 0.9 * M.MAX_TIP_SPEED * dt  # the limit is what holds it back
    assert abs(pose.q[0] - 1.0) < 1e-3


def test_the_shaft_always_passes_through_the_pivot_and_roll_keeps_it() -> None:
    pose = _pose()
    for q in ([0.3, -0.2, 0.02, 0.0], [-0.5, 0.4, -0.05, 1.2]):
        hinge, frame = M.frame_of(pose, np.array(q))
        d = -frame[:, 2]
        v = hinge - pose.port
        # the hinge is on the shaft line from the pivot, at the start depth plus insertion
        assert np.allclose(np.cross(v, d), 0.0, atol=1e-12)
        assert math.isclose(float(np.linalg.norm(v)), M.PORT_DEPTH + q[2], rel_tol=1e-12)
        assert np.allclose(frame.T @ frame, np.eye(3), atol=1e-12) and np.linalg.det(frame) > 0
        w, x, y, z = M.quat_from_frame(frame)
        assert math.isclose(w * w + x * x + y * y + z * z, 1.0, rel_tol=1e-12)


def test_desktop_sample_carries_targets_and_learner_commands() -> None:
    """Held keys move the driven instrument's targets at the documented rate; Tab switches
    instruments; a scenario hotkey becomes menu.action; number keys choose in the menu."""
    src = DesktopInput(mode="laparoscopy", hands=("left_hand", "right_hand"), hotkeys={"h": "call_help"})
    first = src.sample(0.0, 0)
    assert first[DESKTOP]["buttons"]["left_hand.yaw"] == 0.0 and len(first[DESKTOP]["buttons"]) == 10
    src._held.add("d")  # instrument.yaw+ held for 0.5 s
    s = src.sample(0.5, 1)
    assert math.isclose(s[DESKTOP]["buttons"]["left_hand.yaw"], 0.5 * src.bindings.settings["key_rad_per_s"])
    src._held.clear()
    src._presses += [("tab", 0.0), ("h", 0.0), ("3", 0.0)]
    src._motion = [100.0, 0.0]
    s = src.sample(0.6, 2)
    assert src.active == 1
    assert math.isclose(s[DESKTOP]["buttons"]["right_hand.yaw"], 100 * src.bindings.settings["mouse_rad_per_px"])
    assert s[LEARNER]["commands"] == ["menu.action:call_help", "menu.choose:3"]
    assert "left_hand.yaw" not in s[DESKTOP]["buttons"]  # only changed values are recorded


def test_instrument_roll_turns_without_a_stop_while_pivots_stay_clamped() -> None:
    """An instrument's roll knob has no stop: E held for 5 s rolls 10 rad (over 1.5 turns, as
    cutting round a circle needs); a pivot angle held as long stops at its clamp."""
    src = DesktopInput(mode="laparoscopy", hands=("left_hand", "right_hand"))
    src.sample(0.0, 0)
    rate = src.bindings.settings["key_roll_rad_per_s"]
    src._held.update({"e", "d"})  # instrument.roll+ and instrument.yaw+
    buttons = src.sample(5.0, 1)[DESKTOP]["buttons"]
    assert math.isclose(buttons["left_hand.roll"], 5.0 * rate) and buttons["left_hand.roll"] > 2 * math.pi
    assert buttons["left_hand.yaw"] == TARGET_LIMITS["yaw"]


def test_vrmed_run_with_a_bad_binding_file_is_one_line(tmp_path: Path) -> None:
    """`vrmed run --input desktop --bindings FILE` with an unknown action: one error line
    naming the file and line, exit 1, no traceback (checked before any window opens)."""
    from click.testing import CliRunner

    from vrmed.cli import cli

    path = _write(tmp_path, "bindings:\n  instrument.jawz: space\n")
    out = CliRunner().invoke(cli, ["run", "sandbox", "--input", "desktop", "--bindings", str(path)])
    assert out.exit_code == 1, out.output
    lines = [ln for ln in out.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and f"{path}:2:" in lines[0] and "unknown action 'instrument.jawz'" in lines[0], out.output
    assert "Traceback" not in out.output
