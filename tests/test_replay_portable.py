"""Recordings replay anywhere, say when the pack changed, and never let a log pick the code.

A session recorded with a pack installed in one folder replays bit-exactly with a copy of
that pack in another folder (type identities come from the pack's name and version, not
its path); an edited pack file is named when the replay differs; a log names its pack by
name and version only, so replay/report never import a systems.py from a folder the log
header names (issue 19).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import vrmed.content
from vrmed.cli import cli
from vrmed.errors import VrmedError
from vrmed.packs import load_pack
from vrmed.recording import SessionLog
from vrmed.session import build_session, pack_for_log, replay

SANDBOX = Path(next(iter(vrmed.content.__path__))) / "sandbox"
SECONDS = 2.5  # long enough for bounces and pokes (the hand triggers at 1.5 s)


def _copy(dest: Path) -> Path:
    shutil.copytree(SANDBOX, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A session recorded with the sandbox pack copied to one folder, and a second copy
    of the pack at a different path."""
    base = tmp_path_factory.mktemp("installs")
    first = _copy(base / "site_a" / "sandbox")
    second = _copy(base / "elsewhere" / "deeper" / "sandbox")
    session = build_session(load_pack(first), None, seed=11)
    try:
        session.run(seconds=SECONDS)
        log = session.finish()
        snapshot = session.app.snapshot()
    finally:
        session.close()
    path = base / "session.jsonl"
    log.write(path)
    return {"first": first, "second": second, "log": path, "snapshot": snapshot}


def test_type_identities_come_from_pack_name_and_version(recorded):
    log = SessionLog.read(recorded["log"])
    types = {r["type"] for r in log.event_records()}
    assert "pack.sandbox@0.1.0:BallBounced" in types and "pack.sandbox@0.1.0:BallPoked" in types
    assert not any("vrmed_pack_" in t or "site_a" in t for t in types)
    comps = {k for state in recorded["snapshot"].values() for k in state}
    assert "pack.sandbox@0.1.0.BallPit" in comps
    text = recorded["log"].read_text()
    assert "site_a" not in text.split("\n", 1)[0]  # the header names no folder
    header = log.header
    assert "pack_root" not in header and len(header["pack_hash"]) == 64
    assert set(header["pack_files"]) >= {"pack.yaml", "systems.py", "prefabs/objects.yaml", "scenarios/ball_pit.yaml"}


def test_recording_replays_bit_exactly_from_another_install(recorded):
    log = SessionLog.read(recorded["log"])
    result, session = replay(log, pack_path=recorded["second"])
    try:
        assert session.pack.root == recorded["second"].resolve()
        assert result.ok, result.first_difference
        assert result.pack_changes == []
        assert result.digest_replayed == result.digest_recorded
        assert result.events_replayed == result.events_recorded > 0
        again = session.app.snapshot()
        for entity, comps in recorded["snapshot"].items():
            for name, state in comps.items():
                for key, value in state.items():
                    other = again[entity][name][key]
                    if hasattr(value, "tobytes"):
                        assert value.tobytes() == other.tobytes(), (name, key)  # bit for bit
                    else:
                        assert value == other, (name, key)
    finally:
        session.close()


def test_changed_pack_file_is_named_by_replay(recorded, tmp_path):
    edited = _copy(tmp_path / "edited" / "sandbox")
    systems = edited / "systems.py"
    text = systems.read_text()
    assert "9.81" in text
    systems.write_text(text.replace("9.81", "9.5", 1))  # same version, different gravity
    result, session = replay(SessionLog.read(recorded["log"]), pack_path=edited)
    session.close()
    assert result.pack_changes == ["systems.py (changed)"]
    assert not result.ok
    assert result.first_difference.startswith(
        "the pack differs from the one the session was recorded with (same version): systems.py (changed);"
    )
    runner = CliRunner()
    out = runner.invoke(cli, ["replay", str(recorded["log"]), "--pack", str(edited)])
    assert out.exit_code == 1 and "systems.py (changed)" in out.output and "Traceback" not in out.output


def test_a_log_never_selects_code_by_path(recorded, tmp_path):
    """A header naming a folder (the old ``pack_root``) is ignored: a pack that is not
    installed is refused, and its systems.py never runs."""
    canary = tmp_path / "canary"
    evil = tmp_path / "evil" / "evilpack"
    (evil / "scenarios").mkdir(parents=True)
    (evil / "pack.yaml").write_text("name: evilpack\nversion: 0.1.0\ndefault_scenario: s\n")
    (evil / "scenarios" / "s.yaml").write_text("duration: 0.1\nentities: []\n")
    (evil / "systems.py").write_text(f"open({str(canary)!r}, 'w').write('ran')\n")
    header = dict(SessionLog.read(recorded["log"]).header)
    for name in ("evilpack", "sandbox"):  # not installed; installed (then the built-in one is used)
        forged = dict(header, pack=name, pack_root=str(evil))
        if name == "evilpack":
            with pytest.raises(VrmedError, match=r"pack 'evilpack' 0\.1\.0, which is not installed here.*--pack PATH"):
                pack_for_log(forged)
        else:
            assert pack_for_log(forged).root == SANDBOX.resolve()
    assert not canary.exists()
    # A genuine log of a pack run from a folder: replay and report without --pack refuse it
    # and never import the folder's systems.py (recording ran it: the canary is reset).
    runner = CliRunner()
    log = tmp_path / "evil.jsonl"
    out = runner.invoke(cli, ["run", str(evil), "--headless", "--record", str(log)])
    assert out.exit_code == 0 and canary.exists(), out.output
    canary.unlink()
    assert str(evil) not in log.read_text().split("\n", 1)[0]
    for command in (["replay", str(log)], ["report", str(log), "-o", str(tmp_path / "r.html")]):
        out = runner.invoke(cli, command)
        assert "Traceback" not in out.output and not canary.exists()
        assert "not installed here" in out.output and "--pack PATH" in out.output, out.output
    # an edited header that names the folder is refused too, and runs nothing
    lines = log.read_text().splitlines()
    first = json.loads(lines[0])
    first.update(pack_root=str(evil))
    forged = tmp_path / "forged.jsonl"
    forged.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    out = runner.invoke(cli, ["replay", str(forged)])
    assert out.exit_code == 1 and "Traceback" not in out.output and not canary.exists()


def test_version_mismatch_and_wrong_pack_are_refused(recorded, tmp_path):
    bumped = _copy(tmp_path / "bumped" / "sandbox")
    (bumped / "pack.yaml").write_text((bumped / "pack.yaml").read_text().replace("0.1.0", "0.2.0", 1))
    log = SessionLog.read(recorded["log"])
    with pytest.raises(VrmedError, match=r"recorded with pack sandbox 0\.1\.0, but sandbox 0\.2\.0 is at"):
        pack_for_log(log, pack_path=bumped)
    other = tmp_path / "other"
    (other / "scenarios").mkdir(parents=True)
    (other / "pack.yaml").write_text("name: other\nversion: 0.1.0\n")
    with pytest.raises(VrmedError, match="is the pack 'other', but the log was recorded with 'sandbox'"):
        pack_for_log(log, pack_path=other)
