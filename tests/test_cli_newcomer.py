"""`vrmed run` for someone new: metrics with units, what to do next, and a pack's
scenarios offered when none is named (a prompt on a terminal, the list and exit 2 elsewhere)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import write_tree

import vrmed.cli as cli_module
from vrmed.cli import cli, format_value, summary_lines, unit_of

SUMMARY = """\
from vrmed.api import Scenario


def summary(app):
    return {
        "ran": app.resource(Scenario).name,
        "task_time_s": 13.4222,
        "path_length_m": 0.90041,
        "grip_force_n": 3.5,
        "accuracy_pct": 87.5,
        "heart_rate_bpm": 72.0,
        "angle_deg": 12.25,
        "plain": 0.123456,
        "metrics": {"tip_travel_mm": 12.3456, "idle_s": 2.0},
        "targets": {"tip_travel_mm": 10.0},
    }
"""


def scenario(title: str, description: str) -> str:
    return f"title: {title}\ndescription: {description}\nduration: 0.2\nentities: []\n"


def make_pack(tmp_path, default: str | None = None):
    """A pack with three scenarios (alpha, beta, gamma) and a summary with unit suffixes."""
    pack_yaml = "name: drills\nversion: 0.1.0\nengine: '>=0.1'\ntitle: Drills\n"
    if default:
        pack_yaml += f"default_scenario: {default}\n"
    return write_tree(
        tmp_path / "drills",
        {
            "pack.yaml": pack_yaml,
            "scenarios/alpha.yaml": scenario("Alpha drill", "First drill. More words here."),
            "scenarios/beta.yaml": scenario("Beta drill", "Second drill."),
            "scenarios/gamma.yaml": scenario("Gamma drill", "Third drill."),
            "systems.py": SUMMARY,
        },
    )


def run(*args, **kwargs):
    return CliRunner().invoke(cli, ["run", *map(str, args)], catch_exceptions=False, **kwargs)


def test_units_from_key_suffixes():
    assert unit_of("task_time_s") == "s" and unit_of("idle_ms") == "ms" and unit_of("tip_mm") == "mm"
    assert unit_of("force_N") == "N" and unit_of("score_percent") == "%" and unit_of("bp_mmhg") == "mmHg"
    assert unit_of("compressions_per_min") == "/min" and unit_of("pressure_kpa") == "kPa"
    assert unit_of("economy_left") is None and unit_of("s") is None and unit_of("pauses_over_10s") is None
    assert format_value("task_time_s", 13.4222) == "13.42 s"
    assert format_value("jerk_m", 124995.2933) == "124995 m"
    assert format_value("accuracy_pct", 87.5) == "87.5%"
    assert format_value("clip_x_mm", [1.25, -3.0]) == "[1.25, -3] mm"
    assert format_value("errors_count", 3.0) == "3"
    assert format_value("time_to_rosc_s", None) == "None"  # not a number: as before
    assert format_value("passed", True) == "True" and format_value("economy", 0.9284) == "0.9284"


def test_nested_metrics_get_units_and_their_targets():
    lines = summary_lines(
        {"score": 286.58, "metrics": {"task_time_s": 13.42, "economy": 0.93}, "targets": {"task_time_s": 48.0}}
    )
    assert lines == ["score: 286.58", "metrics:", "  task_time_s: 13.42 s  (target 48 s)", "  economy: 0.93"]
    lines = summary_lines({"metrics": {"a_s": 1.0}, "targets": {"a_s": 2.0, "b_m": 3.0}})
    assert lines == ["metrics:", "  a_s: 1 s  (target 2 s)", "targets:", "  b_m: 3 m"]


def test_run_prints_units_and_next_steps_with_the_log(tmp_path):
    root = make_pack(tmp_path)
    log = tmp_path / "out" / "drill.jsonl"
    result = run(f"{root}/alpha", "--headless", "--record", log)
    assert result.exit_code == 0, result.output
    out = result.output
    for line in (
        "  ran: alpha",
        "  task_time_s: 13.42 s",
        "  path_length_m: 0.9 m",
        "  grip_force_n: 3.5 N",
        "  accuracy_pct: 87.5%",
        "  heart_rate_bpm: 72 bpm",
        "  angle_deg: 12.25 deg",
        "  plain: 0.123456",  # no unit: printed as before
        "    tip_travel_mm: 12.35 mm  (target 10 mm)",
        "    idle_s: 2 s",
    ):
        assert line + "\n" in out, line
    steps = out[out.index("next steps:") :]
    assert f"vrmed report {log}" in steps and f"vrmed replay {log}" in steps
    assert f"vrmed run {root} --list" in steps
    assert out.rstrip().endswith(f"vrmed run {root} --list")


def test_run_without_record_suggests_recording(tmp_path):
    root = make_pack(tmp_path)
    result = run(f"{root}/beta", "--headless", "--seed", "4")
    assert result.exit_code == 0, result.output
    steps = result.output[result.output.index("next steps:") :]
    assert f"vrmed run {root}/beta --headless --seed 4 --record session.jsonl" in steps
    assert "vrmed report" not in steps
    assert f"vrmed run {root} --list" in steps


def test_json_output_is_unchanged(tmp_path):
    root = make_pack(tmp_path)
    result = run(f"{root}/alpha", "--headless", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["summary"]["task_time_s"] == 13.4222 and data["summary"]["metrics"]["tip_travel_mm"] == 12.3456
    assert "next steps" not in result.output


def test_no_scenario_and_no_default_lists_them_and_exits_2(tmp_path):
    root = make_pack(tmp_path)
    result = run(root, "--headless", "--seconds", "0.1")
    assert result.exit_code == 2
    out = result.output
    assert "has several scenarios and no default_scenario" in out
    for i, (sid, title) in enumerate([("alpha", "Alpha drill"), ("beta", "Beta drill"), ("gamma", "Gamma drill")], 1):
        assert f"{i}. {sid}" in out and title in out
    assert "First drill." in out and "More words" not in out  # one line: the first sentence
    assert "0.2 s" in out  # duration
    assert f"vrmed run {root}/alpha --headless --seconds 0.1" in out
    assert "next steps" not in out


def test_no_scenario_in_a_real_pipe_exits_2(tmp_path):
    """A real process whose stdin is not a terminal (CI) never waits on a prompt."""
    root = make_pack(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "vrmed", "run", str(root), "--headless"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"vrmed run {root}/alpha --headless" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("answer", ["2\n", "beta\n", "7\nbeta\n"])
def test_terminal_prompts_for_the_scenario(tmp_path, monkeypatch, answer):
    monkeypatch.setattr(cli_module, "is_interactive", lambda: True)
    root = make_pack(tmp_path)
    result = run(root, "--headless", input=answer)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "1. alpha" in out and "Scenario to run (number or id)" in out
    assert "  ran: beta\n" in out
    assert f"next time: vrmed run {root}/beta --headless" in out
    if answer.startswith("7"):
        assert "'7' is not one of" in out


def test_json_never_prompts(tmp_path, monkeypatch):
    monkeypatch.setattr(cli_module, "is_interactive", lambda: True)
    root = make_pack(tmp_path)
    result = run(root, "--headless", "--json", input="2\n")
    assert result.exit_code == 2 and "Scenario to run" not in result.output


def test_default_scenario_runs_and_says_how_to_pick_another(tmp_path):
    root = make_pack(tmp_path, default="gamma")
    result = run(root, "--headless")
    assert result.exit_code == 0, result.output
    notes = [line for line in result.output.splitlines() if "default scenario" in line]
    assert len(notes) == 1
    assert f"running {root}/gamma" in notes[0] and f"vrmed run {root}/SCENARIO" in notes[0]
    assert "  ran: gamma\n" in result.output
    result = run(root, "--headless", "--json")  # JSON: no note in the way
    assert json.loads(result.output)["scenario"] == "gamma"
    result = run(f"{root}/beta", "--headless")  # a named scenario: no note
    assert "default scenario" not in result.output


def test_unknown_scenario_suggests_the_closest(tmp_path):
    root = make_pack(tmp_path)
    result = run(f"{root}/alhpa", "--headless")
    assert result.exit_code == 1
    assert "has no scenario 'alhpa'; did you mean 'alpha'?" in result.output
    assert f"vrmed run {root}/alpha --headless" in result.output
    assert "3. gamma" in result.output and "Traceback" not in result.output
    result = run("sandbox/ball_pt", "--headless")
    assert result.exit_code == 1 and "did you mean 'ball_pit'?" in result.output


def test_list_shows_the_scenarios(tmp_path):
    root = make_pack(tmp_path, default="beta")
    result = run(root, "--list")
    assert result.exit_code == 0, result.output
    assert "Drills (drills 0.1.0): 3 scenario(s)" in result.output
    assert "Beta drill  [default]" in result.output and "Second drill." in result.output
    data = json.loads(run(root, "--list", "--json").output)
    assert [s["id"] for s in data["scenarios"]] == ["alpha", "beta", "gamma"]
    assert data["default_scenario"] == "beta" and data["scenarios"][0]["run"] == f"vrmed run {root}/alpha"
