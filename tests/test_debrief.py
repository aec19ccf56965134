"""The debrief (`vrmed report`): metric table against targets and the expert band, failed
actions with times and reasons, matplotlib figures with axes and events, a clean
time-ordered timeline, previous attempts, readable without colour."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from vrmed.analytics.motion import Track
from vrmed.analytics.report import MetricRow, Report, build_report, render_html, timeline
from vrmed.cli import cli
from vrmed.recording import SessionLog


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> dict[str, Path]:
    """Two sandbox sessions: a full one (passes) and a short one (fails)."""
    folder = tmp_path_factory.mktemp("debrief")
    out = {}
    for name, args in {"full": ["--seconds", "6", "--seed", "1"], "short": ["--frames", "120", "--seed", "2"]}.items():
        out[name] = folder / f"{name}.jsonl"
        res = CliRunner().invoke(cli, ["run", "sandbox", "--headless", *args, "--record", str(out[name])])
        assert res.exit_code == 0, res.output
    return out


def test_metric_rows_judge_against_target_and_direction():
    assert MetricRow("t", 40.0, 48.0, "lower").status == "pass"
    assert MetricRow("t", 50.0, 48.0, "lower").status == "fail"
    assert MetricRow("pokes", 9.0, 10.0, "higher").status == "fail"
    assert MetricRow("x", 1.0, 2.0, None).status == "-"  # no direction: shown, not judged
    assert MetricRow("x", 1.0).status == "-"


def test_timeline_is_time_ordered_clean_and_marks_failed_rules():
    events = [
        {"t": 2.0, "type": "pack:B", "data": {"y": -4.000000000000001e-18, "pos": [0.1234567, 2.0, 3.0]}},
        {"t": 0.5, "type": "pack:A", "data": {"who": "left"}},
        {"t": 1.0, "type": "vrmed:EndoscopeView", "data": {}},
    ]
    findings = [{"id": "check_id", "status": "missed", "critical": True, "t": 1.5, "reason": "never checked"}]
    rep = Report({}, [], None, None, events, {}, findings=findings)
    rows = timeline(rep)
    assert [r[0] for r in rows] == [0.5, 1.5, 2.0]  # sorted; the bookkeeping view event left out
    assert rows[0][1:] == ("A", "who=left")
    assert rows[1][1] == "rule missed: check_id (critical)" and rows[1][2] == "never checked"
    assert rows[2][2] == "y=0, pos=(0.123, 2, 3)"  # no float noise, no raw dicts


def test_debrief_of_a_passing_session_with_history_and_expert(logs, tmp_path):
    full, short = SessionLog.read(logs["full"]), SessionLog.read(logs["short"])
    rep = build_report(short, previous=[full], expert=[full])
    by = {r.name: r for r in rep.rows}
    pokes = by["pokes"]
    full_metrics = build_report(full).score["metrics"]
    assert pokes.target == 10 and pokes.value == 0  # the short run poked nothing
    assert pokes.band == (full_metrics["pokes"], full_metrics["pokes"]) and pokes.previous == [full_metrics["pokes"]]
    assert pokes.status == ("-" if pokes.direction is None else "fail")  # the sandbox declares no direction
    page = render_html(rep)
    # figures come from matplotlib (SVG with axes labels in data units), not hand-drawn polylines
    assert page.count("<svg") == 3 and "<polyline" not in page
    for label in ("time since session start (s)", "speed (m/s)", "x (mm)", "z (mm)", "attempt"):
        assert label in page, label
    # pass/fail in words and symbols, so the page reads the same in grey-scale print
    assert "NOT PASSED ✗" in page
    assert "@media print" in page and "expert band" in page


def test_report_cli_marks_events_and_writes_a_page(logs, tmp_path):
    out = tmp_path / "r.html"
    res = CliRunner().invoke(cli, ["report", str(logs["full"]), "-o", str(out), "--previous", str(logs["short"])])
    assert res.exit_code == 0, res.output
    page = out.read_text()
    times = [float(t) for t in re.findall(r'<tr><td class="num">([0-9.]+)</td>', page.split("<h2>Timeline</h2>")[1])]
    assert times == sorted(times) and len(times) >= 10
    assert "Compared with previous attempts" in page


def test_failed_actions_are_listed_with_time_and_reason():
    rubric = {
        "rules": [
            {"id": "wash", "status": "met", "t": 1.0, "passed": True},
            {"id": "dose", "status": "missed", "t": 30.0, "critical": False, "detail": "gave 10 mg, expected 5"},
            {"id": "identity", "status": "missed", "critical": True, "detail": "never checked the wristband"},
        ]
    }
    score = {"score": 40.0, "max_score": 100.0, "passed": False, "metrics": {}, "targets": {}, "rubric": rubric}
    tr = Track("right_hand", np.linspace(0, 2, 50), np.c_[np.linspace(0, 0.1, 50), np.zeros(50), np.zeros(50)])
    from vrmed.analytics.report import _findings

    rep = Report({"pack": "p", "scenario": "s"}, [], None, score, [], {"right_hand": tr}, findings=_findings(rubric))
    assert [f["id"] for f in rep.findings] == ["identity", "dose"]  # critical first
    page = render_html(rep)
    section = page.split("<h2>Failed actions</h2>")[1].split("</table>")[0]
    assert "never checked the wristband" in section and "30" in section and "critical" in section
    assert "wash" not in section
