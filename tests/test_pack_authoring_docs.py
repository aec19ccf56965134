"""The pack API reference: every public name has an entry, the site builds without a
warning (MkDocs strict mode + mkdocstrings), and the cookbook's code is well-formed."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import vrmed.api
from vrmed.packs.schema import schema_reference

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
ENTRY = re.compile(r"^::: vrmed\.api\.(\w+)\s*$", re.M)
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)


def test_every_public_name_has_a_reference_entry():
    documented: dict[str, list[str]] = {}
    for page in sorted((DOCS / "api").glob("*.md")):
        for name in ENTRY.findall(page.read_text(encoding="utf-8")):
            documented.setdefault(name, []).append(page.name)
    public = set(vrmed.api.__all__)
    missing = sorted(public - set(documented))
    assert not missing, f"vrmed.api names without a `::: vrmed.api.NAME` entry in docs/api/: {missing}"
    stale = sorted(set(documented) - public)
    assert not stale, f"docs/api/ documents names vrmed.api does not export: {stale}"
    twice = {n: p for n, p in documented.items() if len(p) > 1}
    assert not twice, f"documented more than once: {twice}"


def test_pack_file_key_reference_is_generated_from_the_schemas():
    """docs/pack-schema.md lists every key of pack, prefab and scenario files with its
    required/optional status; it is the generator's output, so it cannot drift."""
    page = (DOCS / "pack-schema.md").read_text(encoding="utf-8")
    assert page == schema_reference(), "regenerate: python -m vrmed.packs.schema > docs/pack-schema.md"
    assert "| `name` | required | string |" in page and "| `entities` | required | list |" in page
    assert "| `script.any_state[].except` | optional | list of strings |" in page


def test_cookbook_and_reference_code_is_well_formed():
    pages = sorted((DOCS / "cookbook").glob("*.md")) + [DOCS / "api" / "index.md"]
    assert len(pages) >= 6
    for page in pages:
        for lang, body in BLOCK.findall(page.read_text(encoding="utf-8")):
            where = f"{page.relative_to(REPO)}: {body[:60]!r}"
            if lang == "python":
                ast.parse(body, filename=str(page))
                for imported in re.findall(r"^\s*(?:from|import) (vrmed[\w.]*)", body, re.M):
                    assert imported in ("vrmed", "vrmed.api"), f"{where}: packs import only vrmed and vrmed.api"
            elif lang == "yaml":
                assert isinstance(yaml.safe_load(body), dict), where


@pytest.mark.slow
def test_docs_site_builds_without_warnings(tmp_path):
    """`mkdocs build --strict` fails on any warning (a broken link, a reference that cannot
    be resolved, a docstring griffe cannot read)."""
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    page = (tmp_path / "site" / "api" / "components" / "index.html").read_text(encoding="utf-8")
    assert "Pose of an entity in world space" in page  # docstrings really rendered (Transform)


def test_cookbook_physiology_scenario_validates(tmp_path):
    """The physiology cookbook's scenario is a valid scenario of a pack with the plugin."""
    from conftest import write_tree

    from vrmed.packs import load_pack

    page = (DOCS / "cookbook" / "physiology.md").read_text(encoding="utf-8")
    scenario = next(body for lang, body in BLOCK.findall(page) if lang == "yaml")
    root = write_tree(
        tmp_path / "ward",
        {
            "pack.yaml": "name: ward\nversion: 0.1.0\nplugins: [physiology]\n",
            "assets/patient.obj": "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n",
        },
    )
    (root / "scenarios").mkdir()
    (root / "scenarios" / "deterioration.yaml").write_text("duration: 30\n" + scenario, encoding="utf-8")
    script = load_pack(root).scenarios["deterioration"].script
    assert script is not None and [t.to for t in script.any_state] == [None]
