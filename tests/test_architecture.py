"""The architecture holds: import contracts (docs/architecture.md), no cycles, packs use only the
public pack API, deferred imports say why, and the checker rejects each kind of violation."""

from __future__ import annotations

import ast
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

spec = importlib.util.spec_from_file_location("stage_packages", REPO / ".ci" / "stage_packages.py")
assert spec is not None and spec.loader is not None
stage_packages = importlib.util.module_from_spec(spec)
spec.loader.exec_module(stage_packages)

#: What a pack's code may import from vrmed: the kernel names of ``vrmed`` and the pack API.
PACK_API = {"vrmed", "vrmed.api"}


@pytest.fixture(scope="module")
def staged(tmp_path_factory) -> Path:
    """The sources laid out as installed, once per module (copied per test that edits them)."""
    return stage_packages.stage(tmp_path_factory.mktemp("staged") / "tree")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter with the project's contracts on a staged tree."""
    if not LINT_IMPORTS.exists():
        pytest.fail(f"import-linter is not installed beside {sys.executable}; install vrmed[dev]")
    return subprocess.run(
        [str(LINT_IMPORTS), str(REPO / "pyproject.toml"), "--no-cache"],
        capture_output=True,
        text=True,
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )


def test_import_contracts_hold(staged: Path) -> None:
    proc = lint_imports(staged)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


# Each row: a module of the staged tree, an import added to it, and the contract that must
# then fail. These are the violations found in the tree before the feature-folder layout.
VIOLATIONS = [
    ("vrmed/components/tissue/softbody.py", "from vrmed.systems.tissue import kernels", "Components import no systems"),
    (
        "vrmed/systems/instruments/system.py",
        "from vrmed.render import drawlist",
        "Only a feature's draw module imports the renderer",
    ),
    (
        "vrmed/systems/clinical/waveforms.py",
        "import vrmed.render.drawlist",
        "Only a feature's draw module imports the renderer",
    ),
    ("vrmed/analytics/view.py", "from vrmed.systems.collision import system", "The core imports no feature"),
    ("vrmed/plugins.py", "import vrmed.systems.tissue.solver", "The core imports no feature"),
    ("vrmed/packs/loader.py", "import vrmed.api", "The core imports no feature"),
    ("vrmed/systems/tissue/solver.py", "from vrmed.systems.collision import system", "Tissue imports no other feature"),
    (
        "vrmed/systems/collision/system.py",
        "from vrmed.systems.instruments import system",
        "Collision imports only tissue",
    ),
    (
        "vrmed/systems/clinical/news2.py",
        "from vrmed.components.tissue import softbody",
        "Clinical simulation imports no other feature",
    ),
    (
        "vrmed/systems/planar/system.py",
        "from vrmed.systems.clinical import events",
        "Planar rigid bodies import no other feature",
    ),
    ("vrmed/adapt.py", "from vrmed import session", "No import cycles"),
    ("vrmed/scenario/rubric.py", "from vrmed.packs import loader", "No import cycles"),
]


@pytest.mark.parametrize("module,statement,contract", VIOLATIONS, ids=[v[0] + ":" + v[1] for v in VIOLATIONS])
def test_checker_rejects_a_bad_import(staged: Path, tmp_path: Path, module: str, statement: str, contract: str) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(staged, tree)
    path = tree / module
    path.write_text(path.read_text() + f"\n{statement}  # a deliberate violation\n")
    proc = lint_imports(tree)
    assert proc.returncode != 0, f"import-linter accepted {statement!r} in {module}"
    broken = [line for line in proc.stdout.splitlines() if " BROKEN" in line]
    assert any(line.startswith(contract) for line in broken), proc.stdout


def vrmed_imports(path: Path) -> list[tuple[int, str]]:
    """Every vrmed module a Python file imports (line, module), wherever the import sits."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "vrmed"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] == "vrmed":
                found.append((node.lineno, node.module))
    return found


def pack_sources() -> list[Path]:
    """The Python files of the built-in packs and of the example third-party packs."""
    files = sorted((REPO / "content").glob("*/**/*.py"))
    for example in sorted((REPO / "examples").iterdir()):
        if (example / "pyproject.toml").is_file():
            files += sorted(p for p in example.rglob("*.py") if "build" not in p.parts and "tests" not in p.parts)
    return files


def non_api_imports(path: Path) -> list[str]:
    """``file:line: module`` for each import of an internal vrmed module."""
    return [f"{path.relative_to(REPO)}:{line}: {mod}" for line, mod in vrmed_imports(path) if mod not in PACK_API]


def test_packs_import_only_the_public_pack_api() -> None:
    files = pack_sources()
    assert len(files) >= 5, files  # the four built-in packs and the example pack(s)
    bad = [hit for f in files for hit in non_api_imports(f)]
    assert bad == [], "packs must import only vrmed / vrmed.api:\n" + "\n".join(bad)


def test_pack_api_check_catches_an_internal_import(tmp_path: Path) -> None:
    bad = tmp_path / "content" / "x" / "systems.py"
    bad.parent.mkdir(parents=True)
    bad.write_text("import vrmed\nfrom vrmed.api import App\n\ndef f():\n    from vrmed.packs.loader import Scenario\n")
    assert [mod for _, mod in vrmed_imports(bad) if mod not in PACK_API] == ["vrmed.packs.loader"]


def test_the_new_pack_template_uses_only_the_pack_api(tmp_path: Path) -> None:
    from vrmed.scaffold import scaffold_pack

    root = scaffold_pack("my_module", tmp_path)
    files = sorted(root.rglob("*.py"))
    assert files
    bad = [
        f"{f.name}:{line}: {mod}"
        for f in files
        for line, mod in vrmed_imports(f)
        if mod not in PACK_API and "tests" not in f.parts
    ]
    assert bad == []


def test_every_pack_api_name_resolves() -> None:
    import vrmed
    import vrmed.api as api

    assert len(set(api.__all__)) == len(api.__all__)
    assert [n for n in api.__all__ if not hasattr(api, n)] == []
    assert set(vrmed.__all__) <= set(api.__all__)  # the kernel names are part of the pack API


def deferred_imports_without_reason(path: Path) -> list[str]:
    """Imports inside functions with no comment on their line or the line above saying why."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        up = parents.get(node)
        while up is not None and not isinstance(up, (ast.FunctionDef, ast.AsyncFunctionDef)):
            up = parents.get(up)
        if up is None:
            continue
        here = lines[node.lineno - 1]
        above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
        if "#" not in here and not above.startswith("#"):
            out.append(f"{path.relative_to(REPO)}:{node.lineno}: {here.strip()}")
    return out


def test_function_level_imports_say_why() -> None:
    files = [p for d in ("vrmed", "components", "systems", "content", "benchmarks") for p in (REPO / d).rglob("*.py")]
    bad = [hit for f in sorted(files) for hit in deferred_imports_without_reason(f)]
    assert bad == [], (
        "an import inside a function must defer something heavy or optional and say so in a comment "
        "(e.g. `# deferred: GL`); otherwise move it to the top of the module:\n" + "\n".join(bad)
    )


def test_every_core_module_is_under_the_core_contract() -> None:
    """A new core module or package (vrmed/<name>) must be listed in the core-no-features
    contract, or nothing would stop it importing a feature."""
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    contract = next(c for c in config["tool"]["importlinter"]["contracts"] if c["id"] == "core-no-features")
    listed = set(contract["source_modules"])
    exempt = {"vrmed.api", "vrmed.__init__", "vrmed.__main__"}  # the pack API may import features
    core = {
        f"vrmed.{p.stem}"
        for p in (REPO / "vrmed").iterdir()
        if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))
    }
    missing = sorted(core - listed - exempt)
    assert not missing, f"add to the core-no-features contract in pyproject.toml: {missing}"
