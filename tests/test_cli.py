"""The vrmed command line: exit codes and one-line errors, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write_tree

from vrmed.cli import cli


@pytest.fixture
def runner():
    return CliRunner()


def invoke(runner, *args):
    result = runner.invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_run_sandbox_json(runner, tmp_path):
    log = tmp_path / "s.jsonl"
    code, out = invoke(
        runner, "run", "sandbox", "--headless", "--frames", "120", "--seed", "3", "--record", str(log), "--json"
    )
    assert code == 0
    data = json.loads(out)
    assert data["frames"] == 120 and data["sim_seconds"] == pytest.approx(120 / 90)
    assert data["pack"] == "sandbox" and data["scenario"] == "ball_pit" and data["seed"] == 3
    assert "sandbox.integrate_balls" in data["timings_ms"]
    code, out = invoke(runner, "replay", str(log))
    assert code == 0 and out.startswith("replay OK: 120 frames")


def test_run_errors_are_one_line_and_exit_1(runner):
    code, out = invoke(runner, "run", "nonexistent_pack", "--headless")
    assert code == 1
    assert out.startswith("error: no pack named 'nonexistent_pack'") and "Traceback" not in out
    code, out = invoke(runner, "run", "sandbox/nope", "--headless")
    assert code == 1 and "has no scenario 'nope'" in out and "1. ball_pit" in out
    code, out = invoke(runner, "run", "sandbox", "--headless", "--input", "desktop", "--frames", "1")
    assert code == 1 and "--input desktop plays in a window; drop --headless" in out


def test_usage_errors_exit_2(runner):
    code, _ = invoke(runner, "run", "sandbox", "--frames", "-3")
    assert code == 2
    code, out = invoke(runner, "run", "sandbox", "--frames", "3", "--seconds", "1")
    assert code == 2 and "not both" in out
    code, _ = invoke(runner, "frobnicate")
    assert code == 2


def test_validate_exit_codes(runner, tmp_path):
    code, out = invoke(runner, "validate", "sandbox")
    assert code == 0 and "sandbox 0.1.0: valid" in out
    bad = write_tree(tmp_path / "bad", {"pack.yaml": "name: bad\nversion: 1\n"})
    code, out = invoke(runner, "validate", str(bad))
    assert code == 1
    assert "pack 'bad' is invalid (1 problem):" in out
    assert "bad/pack.yaml:2: version: expected a string, got integer 1" in out


def test_replay_of_missing_or_tampered_log(runner, tmp_path):
    code, out = invoke(runner, "replay", str(tmp_path / "nope.jsonl"))
    assert code == 1 and "no such session log" in out
    log = tmp_path / "s.jsonl"
    assert invoke(runner, "run", "sandbox", "--headless", "--frames", "300", "--record", str(log))[0] == 0
    text = log.read_text().replace('"digest": "', '"digest": "0')
    log.write_text(text)
    code, out = invoke(runner, "replay", str(log))
    assert code == 1 and "the hash chain breaks here" in out  # the edit is caught as the log is read
    # Without its chain (an edited log rewritten as an unchained one) re-simulation catches it.
    records = [json.loads(line) for line in text.splitlines()]
    log.write_text(
        "".join(json.dumps({k: v for k, v in r.items() if k != "h"}) + "\n" for r in records if r["kind"] != "seal")
    )
    code, out = invoke(runner, "replay", str(log))
    assert code == 1 and "replay MISMATCH: final state differs" in out


def test_packs_lists_builtin_with_versions_and_scenarios(runner):
    code, out = invoke(runner, "packs", "--json")
    assert code == 0
    packs = {p["name"]: p for p in json.loads(out)["packs"]}
    assert packs["sandbox"]["version"] == "0.1.0"
    assert packs["sandbox"]["scenarios"] == ["ball_pit"]
    assert packs["sandbox"]["source"] == "builtin"


def test_new_pack_scaffold_validates_runs_and_its_test_passes(runner, tmp_path):
    code, out = invoke(runner, "new-pack", "suture_drill", "--dir", str(tmp_path))
    assert code == 0
    root = tmp_path / "suture_drill"
    assert invoke(runner, "validate", str(root))[0] == 0
    code, out = invoke(runner, "run", str(root), "--headless", "--json")
    assert code == 0 and json.loads(out)["summary"] == {"angles_rad": [3.0]}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout
    code, out = invoke(runner, "new-pack", "suture_drill", "--dir", str(tmp_path))
    assert code == 1 and "already exists" in out
    code, out = invoke(runner, "new-pack", "Bad-Name", "--dir", str(tmp_path))
    assert code == 1 and "not a valid pack name" in out


def test_bench_ecs_quick_json(runner):
    code, out = invoke(runner, "bench", "ecs", "--quick", "--json")
    assert code == 0
    (res,) = json.loads(out)["results"]
    rows = {r["case"]: r for r in res["rows"]}
    assert rows["20 empty systems"]["entities"] == 1000 and rows["20 empty systems"]["systems"] == 20
    assert rows["20 empty systems"]["mean_ms_per_frame"] > 0
    code, out = invoke(runner, "bench", "nosuch")
    assert code == 1 and "no benchmark suite 'nosuch'" in out


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "vrmed"  # the venv's console script, activated or not
    proc = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("vrmed, version ")
    proc = subprocess.run([sys.executable, "-m", "vrmed", "run", "no_such_pack"], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("error: no pack named") and "Traceback" not in proc.stderr


def test_bench_arguments_follow_their_suite():
    from vrmed.bench import parse_suite_args
    from vrmed.errors import VrmedError

    suites = ["ecs", "scene", "tissue"]
    assert parse_suite_args(["scene", "laparoscopy/peg_transfer", "ecs"], suites) == [
        ("scene", ["laparoscopy/peg_transfer"]),
        ("ecs", []),
    ]
    with pytest.raises(VrmedError, match="no benchmark suite 'laparoscopy/peg_transfer'"):
        parse_suite_args(["laparoscopy/peg_transfer"], suites)
