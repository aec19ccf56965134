"""Untrusted content stays inert: a code-execution canary for every route by which a pack
folder, a session log or a file name could make vrmed run code it was told not to.

The canary is a ``systems.py`` whose import writes a marker file; each test checks the
marker never appears (and the command fails with one clear line where it must refuse)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write_tree

from vrmed.cli import cli
from vrmed.errors import VrmedError
from vrmed.packs import PackError, load_pack, resolve_target
from vrmed.session import build_session

PLAIN = {
    "pack.yaml": "name: plain\nversion: 1.0.0\ndefault_scenario: s\n",
    "prefabs/p.yaml": "marker:\n  components:\n    Transform: {position: [0, 1, 0]}\n",
    "scenarios/s.yaml": "duration: 0.2\nentities:\n  - {name: m, prefab: marker}\n",
}


def canary(marker: Path) -> str:
    """Python that leaves ``marker`` behind when it runs."""
    return f"open({str(marker)!r}, 'a').write('ran\\n')\n"


@pytest.fixture
def marker(tmp_path) -> Path:
    return tmp_path / "CODE_RAN"


def test_watch_without_pack_code_never_imports_a_new_systems_py(tmp_path, marker):
    root = write_tree(tmp_path / "plain", PLAIN)
    session = build_session(load_pack(root, allow_code=False))
    try:
        from vrmed.watch import PackWatcher

        watcher = PackWatcher(session)
        assert watcher.allow_code is False
        (root / "systems.py").write_text(canary(marker))
        os.utime(root / "systems.py", ns=(1, 1))
        result = watcher.reload(watcher.changed())
        assert result.errors and "pack code is disabled" in result.errors[0]
        assert not marker.exists()
    finally:
        session.close()


def test_watch_with_pack_code_never_executes_an_edited_systems_py(tmp_path, marker):
    files = dict(PLAIN, **{"systems.py": "X = 1\n"})
    root = write_tree(tmp_path / "coded", files)
    session = build_session(load_pack(root))
    try:
        from vrmed.watch import PackWatcher

        watcher = PackWatcher(session)
        assert watcher.allow_code is True
        (root / "prefabs" / "p.yaml").write_text("marker:\n  components:\n    Transform: {position: [0, 2, 0]}\n")
        ok = watcher.reload(watcher.changed())
        assert not ok.errors and ok.replaced  # YAML edits still reload with the same code
        (root / "systems.py").write_text("X = 2\n" + canary(marker))
        result = watcher.reload(watcher.changed())
        assert result.errors and "never imported while running" in result.errors[0]
        assert not marker.exists()
    finally:
        session.close()


def test_current_folder_never_shadows_an_installed_pack(tmp_path, marker, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_tree(tmp_path / "sandbox", dict(PLAIN, **{"pack.yaml": "name: sandbox\nversion: 9.9.9\n"}))
    (tmp_path / "sandbox" / "systems.py").write_text(canary(marker))
    ref, _ = resolve_target("sandbox")
    assert ref.source == "builtin" and ref.root != (tmp_path / "sandbox").resolve()
    ref, _ = resolve_target("./sandbox")  # explicit: the folder
    assert ref.root == (tmp_path / "sandbox").resolve()
    assert not marker.exists()


def test_a_bare_folder_name_is_not_a_pack_path(tmp_path, marker, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_tree(tmp_path / "mypack", dict(PLAIN, **{"systems.py": canary(marker)}))
    for args in (["run", "mypack", "--headless"], ["validate", "mypack"], ["run", "mypack/s", "--headless"]):
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 1 and "write './mypack" in res.output and "Traceback" not in res.output, res.output
    assert not marker.exists()
    with pytest.raises(VrmedError, match="no installed pack named"):
        resolve_target("mypack")


def test_curriculum_module_names_never_load_a_local_folder(tmp_path, marker, monkeypatch):
    """`vrmed progress` opens each module's pack by name: a folder here named like it is ignored."""
    from vrmed.session import open_target

    monkeypatch.chdir(tmp_path)
    write_tree(tmp_path / "lapmodule", dict(PLAIN, **{"systems.py": canary(marker)}))
    with pytest.raises(VrmedError, match="no installed pack named 'lapmodule'"):
        open_target("lapmodule")
    from vrmed.curriculum import Curriculum

    for target in ("./lapmodule/s", "../lapmodule", "/abs/lapmodule", "~/lapmodule"):
        with pytest.raises(VrmedError, match="is not a pack name"):
            Curriculum.from_dict({"name": "c", "modules": [{"id": "m", "scenario": target}]})
    assert not marker.exists()


def _forged_log(tmp_path: Path, pack_root: Path, name: str) -> Path:
    log = tmp_path / "forged.jsonl"
    header = {
        "kind": "header",
        "format": "vrmed-session/1",
        "pack": name,
        "pack_version": "1.0.0",
        "pack_root": str(pack_root),
        "scenario": "s",
        "seed": 0,
        "display_rate": "90",
    }
    end = {"kind": "end", "frames": 1, "sim_time": 0.01, "digest": "0" * 64}
    log.write_text(json.dumps(header) + "\n" + json.dumps(end) + "\n")
    return log


@pytest.mark.parametrize("command", [["replay"], ["report"], ["records", "add", "--learner", "x"]])
def test_a_log_never_selects_code_by_path(tmp_path, marker, command):
    evil = write_tree(tmp_path / "evil", dict(PLAIN, **{"systems.py": canary(marker)}))
    log = _forged_log(tmp_path, evil, "evil")
    env = {
        "VRMED_RECORDS_DIR": str(tmp_path / "store"),
        "VRMED_INSTITUTION_SECRET": "security-test-secret-4c1d8e",
        "VRMED_INSTITUTION_HOMEPAGE": "https://sso.example.edu/",
        "VRMED_RECORDS_CONFIG": "",
        "HOME": str(tmp_path),
    }
    for extra in ([], ["--no-pack-code"]):
        args = command[:1] + ([*command[1:2], *extra, *command[2:]] if len(command) > 1 else extra)
        res = CliRunner().invoke(cli, [*args, str(log)], env=env)
        assert "Traceback" not in res.output
        if command[0] != "report":  # report still writes the debrief, without a score
            assert res.exit_code == 1, res.output
    assert not marker.exists()


def test_no_pack_code_holds_for_installed_packs_in_replay_report_and_records(tmp_path, marker, monkeypatch):
    """VRMED_PACK_PATH holds a pack with code; with --no-pack-code (or VRMED_NO_PACK_CODE=1)
    no command imports it."""
    shelf = tmp_path / "shelf"
    write_tree(
        shelf / "shelved",
        dict(
            PLAIN, **{"pack.yaml": "name: shelved\nversion: 1.0.0\ndefault_scenario: s\n", "systems.py": canary(marker)}
        ),
    )
    log = _forged_log(tmp_path, tmp_path / "nowhere", "shelved")
    env = {
        "VRMED_PACK_PATH": str(shelf),
        "VRMED_RECORDS_DIR": str(tmp_path / "store"),
        "VRMED_INSTITUTION_SECRET": "security-test-secret-4c1d8e",
        "VRMED_INSTITUTION_HOMEPAGE": "https://sso.example.edu/",
        "VRMED_RECORDS_CONFIG": "",
        "HOME": str(tmp_path),
    }
    runner = CliRunner()
    for args in (
        ["replay", "--no-pack-code", str(log)],
        ["report", "--no-pack-code", str(log), "-o", str(tmp_path / "r.html")],
        ["records", "add", "--no-pack-code", "--learner", "x", str(log)],
        ["run", "shelved", "--headless", "--no-pack-code"],
        ["validate", "shelved", "--no-pack-code"],
        ["packs", "--no-pack-code"],
    ):
        res = runner.invoke(cli, args, env=env)
        assert "Traceback" not in res.output, (args, res.output)
    kiosk = {**env, "VRMED_NO_PACK_CODE": "1"}
    for args in (["run", "shelved", "--headless"], ["replay", str(log)], ["validate", "shelved"]):
        res = runner.invoke(cli, args, env=kiosk)
        assert res.exit_code == 1 and "Traceback" not in res.output, (args, res.output)
    assert not marker.exists()


def test_yaml_tags_never_construct_python_objects(tmp_path, marker):
    files = dict(PLAIN)
    files["prefabs/p.yaml"] = (
        "marker:\n  components:\n    Transform: !!python/object/apply:os.system ['touch " + str(marker) + "']\n"
    )
    root = write_tree(tmp_path / "tagged", files)
    with pytest.raises(PackError):
        load_pack(root, allow_code=False)
    assert not marker.exists()


ASSET_PACK = {
    "pack.yaml": "name: assets\nversion: 1.0.0\ndefault_scenario: s\n",
    "scenarios/s.yaml": "duration: 0.1\nentities:\n  - components:\n      VisualMesh: {mesh: MESH}\n",
}


@pytest.mark.parametrize(
    "mesh, message",
    [
        ("../../../../../../etc/passwd", "leaves the pack folder"),
        ("assets/../../outside.obj", "leaves the pack folder"),
        ("/etc/passwd", "is absolute"),
        ("~/secret.obj", "is absolute"),
        ("link.obj", "outside the pack folder"),
        ("fifo.obj", "not a regular file"),
    ],
)
def test_asset_paths_stay_inside_the_pack(tmp_path, mesh, message):
    files = dict(ASSET_PACK)
    files["scenarios/s.yaml"] = files["scenarios/s.yaml"].replace("MESH", repr(mesh))
    root = write_tree(tmp_path / "p" / "assets_pack", files)
    outside = tmp_path / "outside.obj"
    outside.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    (root / "link.obj").symlink_to(outside)
    os.mkfifo(root / "fifo.obj")
    with pytest.raises(PackError) as exc:
        load_pack(root, allow_code=False)
    text = str(exc.value)
    assert message in text and "scenarios/s.yaml:4" in text, text
