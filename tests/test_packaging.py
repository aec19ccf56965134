"""`vrmed package`: a standalone simulator built from a pack runs headless on its own."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from conftest import write_tree
from simulator_builds import YAML_PACK

from vrmed.cli import cli
from vrmed.errors import VrmedError
from vrmed.packaging import bundle_breakdown, shadow_warning, stage_pack
from vrmed.packs import load_pack


def test_only_declared_files_are_staged_and_secrets_are_refused(tmp_path):
    root = write_tree(tmp_path / "ward", YAML_PACK)
    (root / "assets" / "__pycache__").mkdir()
    (root / "assets" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    outside = write_tree(tmp_path / "elsewhere", {"records.yaml": "lrs_password: hunter2\n", "mesh.obj": "v 0 0 0\n"})
    (root / "assets" / "inside.obj").symlink_to(root / "assets" / "tri.obj")  # inside the pack: shipped as a file
    pack = load_pack(root)
    staged = stage_pack(pack, tmp_path / "stage")
    assert staged == [
        "assets/inside.obj",
        "assets/tri.obj",
        "pack.yaml",
        "prefabs/patient.yaml",
        "scenarios/hypoxia.yaml",
    ]
    assert not (tmp_path / "stage" / "assets" / "inside.obj").is_symlink()
    assert sorted(pack.file_hashes) == staged  # what is hashed into session logs is what ships
    # a glob that selects secrets, learner data or an outward symlink stops the build
    (root / "assets" / "lrs.yaml").symlink_to(outside / "records.yaml")
    (root / "assets" / "stolen.obj").symlink_to(outside / "mesh.obj")
    text = (root / "pack.yaml").read_text() + "include: ['.env', '*.csv', 'notes/*.md']\n"
    (root / "pack.yaml").write_text(text)
    with pytest.raises(VrmedError) as info:
        stage_pack(load_pack(root), tmp_path / "stage2")
    message = str(info.value)
    assert "pack 'ward' cannot be packaged: 4 of its files must not ship" in message
    assert ".env: looks like a secret or credentials file" in message
    assert "learners.csv: a table with learner-data columns" in message
    assert "assets/lrs.yaml: a symlink leading out of the pack" in message
    assert "assets/stolen.obj: a symlink leading out of the pack" in message
    assert "notes/draft.md" not in message and not (tmp_path / "stage2").exists()
    bad = (root / "pack.yaml").read_text().replace("include: [", "include: ['../elsewhere/*', ")
    (root / "pack.yaml").write_text(bad)
    with pytest.raises(VrmedError, match=r"include\[0\]: '\.\./elsewhere/\*': include globs are relative"):
        load_pack(root)


def test_shadow_warning_and_size_breakdown(tmp_path):
    assert shadow_warning(tmp_path) is None
    write_tree(tmp_path / "clone", {"vrmed/__init__.py": "", ".git/HEAD": "ref: x\n"})
    warning = shadow_warning(tmp_path / "clone")
    assert warning and "imports it instead of the installed vrmed" in warning
    bundle = write_tree(
        tmp_path / "b",
        {"sim": "x" * 10, "_internal/numpy/a.so": "x" * 300, "_internal/numpy.libs/b.so": "x" * 200,
         "_internal/packs/ward/pack.yaml": "x" * 5, "_internal/yaml/c.py": "x" * 50},
    )  # fmt: skip
    total, parts = bundle_breakdown(bundle)
    assert total == 565 and parts == [("numpy", 500), ("yaml", 50), ("sim", 10), ("packs/ward", 5)]


def test_package_rejects_invalid_input(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["package", "sandbox", "--name", "bad name", "-o", str(tmp_path)])
    assert result.exit_code == 1 and "not a valid simulator name" in result.output
    result = runner.invoke(
        cli, ["package", "sandbox", "--name", "x", "--scenario", "sandbox/nope", "-o", str(tmp_path)]
    )
    assert result.exit_code == 1 and "has no scenario 'nope'" in result.output
    result = runner.invoke(cli, ["package", "nosuchpack", "--name", "x", "-o", str(tmp_path)])
    assert result.exit_code == 1 and "no pack named 'nosuchpack'" in result.output
