"""`vrmed report SESSION`: HTML debrief and terminal summary from a stored log."""

from __future__ import annotations

import re

from click.testing import CliRunner

from vrmed.cli import cli


def test_report_of_a_recorded_session(tmp_path):
    runner = CliRunner()
    log = tmp_path / "s.jsonl"
    assert runner.invoke(cli, ["run", "sandbox", "--headless", "--record", str(log)]).exit_code == 0
    result = runner.invoke(cli, ["report", str(log)])
    assert result.exit_code == 0, result.output
    assert "sandbox/ball_pit" in result.output and "right_hand" in result.output
    # 0.75 m scripted path (the 6 Hz filter rounds its corner by under a millimetre), one movement
    assert re.search(r"right_hand\s+5\.99\s+0\.7(49|50)\s+1", result.output)
    page = (tmp_path / "s.html").read_text()
    assert page.count("<svg") == 2  # matplotlib figures: the speed and the path plot of the one tracked device
    assert page.count("BallPoked") >= 10 and "proficiency target" in page


def test_report_of_a_missing_log_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "none.jsonl")])
    assert result.exit_code == 1 and "no such session log" in result.output
