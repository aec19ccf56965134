"""Hot reload: edit a prefab, the running entity changes; a bad edit changes nothing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import vrmed.content
from vrmed.packs import load_pack
from vrmed.session import build_session
from vrmed.watch import PackWatcher

SANDBOX = Path(next(iter(vrmed.content.__path__))) / "sandbox"


@pytest.fixture
def live(tmp_path):
    root = tmp_path / "sandbox_copy"
    shutil.copytree(SANDBOX, root, ignore=shutil.ignore_patterns("__pycache__"))
    session = build_session(load_pack(root), None, seed=2)
    yield root, session, PackWatcher(session)
    session.close()


def _touch_edit(path: Path, old: str, new: str) -> None:
    """Edit ``path`` and make its mtime strictly later than before the edit, without sleeping.

    File timestamps come from a coarse kernel clock (a few ms), so two edits in a row can get
    the same mtime from the write itself; setting it explicitly makes every edit visible to
    the watcher's next check.
    """
    text = path.read_text()
    assert old in text
    before = path.stat().st_mtime_ns
    path.write_text(text.replace(old, new))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, max(st.st_mtime_ns, before) + 1_000_000))


def test_prefab_edit_reaches_the_running_entity(live):
    root, session, watcher = live
    session.run(frames=30)
    hand_cls = session.pack.components["Hand"]
    hand = session.entities["right"]
    assert session.app.get(hand, hand_cls).reach == 0.06
    assert watcher.poll() is None  # nothing changed yet
    _touch_edit(root / "prefabs" / "objects.yaml", "reach: 0.06", "reach: 0.09")
    result = watcher.poll()
    assert result is not None and not result.errors
    assert (hand, "Hand") in result.replaced
    assert all(name != "BallPit" for _, name in result.replaced)  # unchanged components keep their state
    assert session.app.get(hand, hand_cls).reach == 0.09
    session.run(frames=30)  # and the session keeps running
    assert session.app.clock.frame == 60
    assert session.recorder.log.header["hot_reloaded"] is True


def test_invalid_edit_is_reported_and_changes_nothing(live):
    root, session, watcher = live
    session.run(frames=10)
    digest = session.app.state_digest()
    _touch_edit(root / "prefabs" / "objects.yaml", "reach: 0.06", "reach: far")
    result = watcher.poll()
    assert result is not None
    assert result.errors == [
        "sandbox_copy/prefabs/objects.yaml:18: hand.components.Hand.reach: expected a number, got string 'far'"
    ]
    assert session.app.state_digest() == digest
    _touch_edit(root / "prefabs" / "objects.yaml", "reach: far", "reach: 0.07")
    assert not watcher.poll().errors


def test_code_changes_ask_for_a_restart(live):
    root, session, watcher = live
    _touch_edit(root / "systems.py", "GRAVITY = ", "GRAVITY  = ")
    result = watcher.poll()
    assert "systems.py changed: code is not hot-reloaded; restart to load it" in result.notes


def test_run_watch_reloads_an_edit_made_while_running(tmp_path):
    """`vrmed run --watch` in a real process: an edit made mid-run is picked up.

    No fixed sleep: the edit is made as soon as the process says it is watching (its watcher
    has taken its first snapshot by then), leaving the whole 3 s real-time run (polls every
    0.5 s) to see it, however long the start-up took.
    """
    import json
    import subprocess
    import sys
    import threading

    root = tmp_path / "sandbox_copy"
    shutil.copytree(SANDBOX, root, ignore=shutil.ignore_patterns("__pycache__"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "vrmed", "run", str(root), "--headless", "--watch", "--seconds", "3", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    watching = threading.Event()

    def read_stderr() -> None:
        for line in proc.stderr:
            lines.append(line)
            if line.startswith("watching the pack for changes"):
                watching.set()
        watching.set()  # the process ended (or closed stderr) without watching: fail below, not hang

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        assert watching.wait(timeout=120), "vrmed run --watch did not start watching within 120 s"
        assert any(line.startswith("watching the pack") for line in lines), "".join(lines)
        _touch_edit(root / "prefabs" / "objects.yaml", "reach: 0.06", "reach: 0.09")
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = proc.stdout.read()
    reader.join(timeout=10)
    err = "".join(lines)
    assert proc.returncode == 0, err
    assert "reloaded at t=" in err and "Hand of entity" in err
    assert json.loads(out)["frames"] == 270


def test_hot_reloaded_session_refuses_replay(live):
    from vrmed import VrmedError
    from vrmed.session import replay

    root, session, watcher = live
    _touch_edit(root / "prefabs" / "objects.yaml", "reach: 0.06", "reach: 0.08")
    watcher.poll()
    session.run(frames=5)
    log = session.finish()
    with pytest.raises(VrmedError, match="hot-reloaded during this session"):
        replay(log)
