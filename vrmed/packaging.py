"""``vrmed package``: a standalone simulator folder built with PyInstaller (one-folder mode).

The bundle holds Python, vrmed and its dependencies, the chosen packs (as data under
``packs/``, found through ``VRMED_PACK_PATH``) and a launcher. Run with no arguments it
starts the default scenario; it accepts the same options as ``vrmed run``, plus every
other ``vrmed`` command, and ``--version`` reports its own name, vrmed's version and the
packs it carries.

What goes in, and what stays out:

- of each pack, only its declared files (:mod:`vrmed.packs.manifest`: ``pack.yaml``,
  ``systems.py``, prefabs, scenarios, ``assets/`` and ``include:`` globs), never its tests,
  caches or version-control folders; a secret-looking file, a learner table or a symlink
  leading out of the pack stops the build with one line per file;
- of vrmed, everything but the benchmarks (and their meshes) and the built-in packs that
  were not asked for;
- of the dependencies, what the packs need: a *lean* build (every pack YAML-only, with
  engine plugins that need no compiled kernels) leaves out numba and llvmlite (about
  170 MB) with the features that use them (tissue, collision, instruments, haptics).

numba caches are not shipped: numba keys its cache on source files, which a frozen
application does not have, so the first start compiles kernels into a per-user cache
(``NUMBA_CACHE_DIR``) and later starts reuse it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import vrmed

from .errors import VrmedError
from .packs import Pack, load_pack, resolve_target
from .packs.manifest import bundle_problems, declared_files
from .plugins import available_plugins

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")

_LAUNCHER = '''\
"""Launcher of a vrmed simulator built by `vrmed package` (generated; do not edit)."""
import os
import sys
from pathlib import Path

CONFIG = {config}

base = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parent))
os.environ["VRMED_PACK_PATH"] = str(base / "packs")
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path.home() / ".cache" / CONFIG["name"] / "numba"))

from vrmed.cli import main  # noqa: E402
from vrmed.version import __version__  # noqa: E402

args = sys.argv[1:]
if args in (["--version"], ["-V"]):
    packs = ", ".join(f"{{n}} {{v}}" for n, v in CONFIG["packs"])
    print(f"{{CONFIG['name']}} {{CONFIG['version']}} (vrmed {{__version__}}); packs: {{packs}}; "
          f"default scenario: {{CONFIG['default']}}")
    sys.exit(0)
if not args or args[0].startswith("-") and args[0] not in ("-h", "--help"):
    args = ["run", CONFIG["default"], *args]
main(args)
'''


#: Built-in engine plugins whose features use no numba kernels: a build whose packs are
#: YAML-only and enable only these can leave numba and llvmlite out.
LEAN_PLUGINS = frozenset({"planar", "physiology"})
#: Left out of a lean build: the compiled-kernel features and what only they import.
LEAN_EXCLUDES = (
    "numba",
    "llvmlite",
    "vrmed.api",  # the pack API imports every feature; YAML-only packs never import it
    "vrmed.haptics",
    "vrmed.systems.tissue",
    "vrmed.systems.collision",
    "vrmed.systems.instruments",
    "vrmed.components.tissue",
    "vrmed.components.collision",
    "vrmed.components.instruments",
    "tetgen",
    "scipy",
)
#: Never needed by a simulator: the benchmark suites, test runners and GUI toolkits.
#: (PyInstaller's ``--strip`` is not used: stripping numpy's patchelf-repaired OpenBLAS
#: breaks it, "ELF load command address/offset not page-aligned".)
#: ``tetgen`` bundles TetGen's AGPL C++ (an optional extra for ``tetrahedralize``; a packaged
#: simulator then says it is missing), ``hypothesis`` is a test library.
ALWAYS_EXCLUDES = ("vrmed.benchmarks", "pytest", "_pytest", "hypothesis", "tkinter", "IPython", "matplotlib", "tetgen")


@dataclass
class BuildReport:
    """What ``vrmed package`` built: the executable, the bundle's size and its biggest parts."""

    exe: Path
    total_bytes: int
    #: (part, bytes), largest first: each dependency folder or file of the bundle
    parts: list[tuple[str, int]]
    lean: bool
    #: why the build is not lean ("" when it is)
    full_reason: str = ""

    def lines(self, top: int = 8) -> list[str]:
        """A human summary: total size and the largest parts."""
        mb = 1024 * 1024
        kind = "lean (no numba/llvmlite)" if self.lean else f"full ({self.full_reason})"
        out = [f"bundle: {self.total_bytes / mb:.0f} MB, {kind}"]
        for name, size in self.parts[:top]:
            out.append(f"  {size / mb:7.1f} MB  {name}")
        rest = sum(size for _, size in self.parts[top:])
        if rest:
            out.append(f"  {rest / mb:7.1f} MB  {len(self.parts) - top} other parts")
        return out


def bundle_breakdown(folder: Path) -> tuple[int, list[tuple[str, int]]]:
    """Total size of a built bundle and its parts, largest first. A part is a top-level
    entry of PyInstaller's ``_internal`` folder (a package, a shared library), ``packs/NAME``,
    or a file beside the executable; distribution metadata folders are summed as one."""
    folder = Path(folder)
    sizes: dict[str, int] = {}
    total = 0
    for path in folder.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        size = path.stat().st_size
        total += size
        rel = path.relative_to(folder).parts
        if rel[0] == "_internal" and len(rel) > 1:
            rel = rel[1:]
        if rel[0] == "packs" and len(rel) > 2:
            key = f"packs/{rel[1]}"
        elif rel[0].endswith((".dist-info", ".egg-info")):
            key = "(distribution metadata)"
        else:
            key = rel[0]
            # shared libraries of one package (numpy.libs, libllvmlite.so, ...) sort with it
            key = key.split(".libs")[0] if key.endswith(".libs") else key
        sizes[key] = sizes.get(key, 0) + size
    return total, sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))


def shadow_warning(cwd: Path | None = None) -> str | None:
    """A warning when the current folder holds a ``vrmed`` source folder other than the
    installed package: ``python -m pytest``/``python -m vrmed`` run there import it
    instead, and a pack path like ``.`` would name the whole clone."""
    here = Path(cwd or Path.cwd()).resolve()
    local = here / "vrmed" / "__init__.py"
    installed = Path(vrmed.__file__).resolve().parent
    if local.is_file() and local.parent.resolve() != installed:
        return (
            f"the current folder holds a vrmed source tree ({local.parent}); Python run here "
            f"(`python -m pytest`, `python -m vrmed`) imports it instead of the installed vrmed "
            f"({installed}): run from another folder"
        )
    if local.is_file() and installed == local.parent.resolve() and (here / ".git").exists():
        return (
            f"running from the vrmed source clone ({here}): name packs by path (./my_pack) and keep "
            f"them outside the clone, so a pack folder never holds the clone's .git or .venv"
        )
    return None


def stage_pack(pack: Pack, dest: Path) -> list[str]:
    """Copy the pack's declared files into ``dest`` (symlinks inside the pack are copied as
    the files they point to); refuses secret-looking files, learner tables and symlinks
    leading out of the pack. Returns the files copied."""
    files = declared_files(pack.root, pack.include)
    problems = bundle_problems(pack.root, files)
    if problems:
        raise VrmedError(
            f"pack {pack.name!r} cannot be packaged: {len(problems)} of its files must not ship:\n  "
            + "\n  ".join(problems)
        )
    for rel in files:
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(pack.root / rel, out)  # follows an inside symlink: a plain file ships
    return files


def _stage_vrmed(dest: Path) -> Path:
    """Copy the installed vrmed package tree (with its mapped subpackages) into ``dest``.

    An editable install maps ``components/``, ``systems/``, ``content/`` into ``vrmed.*``
    through an import hook that PyInstaller's module analysis cannot see; a plain copy of
    the package as it is laid out at import time works for editable and normal installs.
    The benchmarks (with their meshes) and the built-in packs are not copied: the packs a
    simulator carries are the ones it was built with, under ``packs/``.
    """
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc")
    root = dest / "vrmed"
    shutil.copytree(Path(vrmed.__file__).parent, root, ignore=ignore, dirs_exist_ok=True)
    for sub in ("components", "systems"):
        module = __import__(f"vrmed.{sub}", fromlist=["_"])
        src = Path(next(iter(module.__path__)))
        if src.resolve() != (root / sub).resolve():
            shutil.copytree(src, root / sub, ignore=ignore, dirs_exist_ok=True)
    # an empty vrmed.content: the built-in pack discovery finds the package and no packs in it
    for sub in ("content", "benchmarks"):
        shutil.rmtree(root / sub, ignore_errors=True)
    (root / "content").mkdir()
    (root / "content" / "__init__.py").write_text('"""No built-in packs in a packaged simulator."""\n')
    return dest


def _plugin_options(packs: list[Pack], lean: bool) -> list[str]:
    """PyInstaller options that ship the engine plugins: the packs' plugins (every vrmed
    plugin in a full build). Plugins are found through entry points at run time, which
    PyInstaller's import analysis cannot follow, so each plugin module is named; a plugin
    from another distribution brings that distribution's metadata (its entry points)."""
    installed = available_plugins()
    wanted = {n for p in packs for n in p.plugin_names}
    if not lean:
        wanted |= {n for n, ep in installed.items() if getattr(ep.dist, "name", "") == "vrmed"}
    opts: list[str] = []
    for plugin in sorted(wanted):
        ep = installed[plugin]
        module = ep.value.partition(":")[0].strip()
        opts += ["--hidden-import", module]
        dist = getattr(ep.dist, "name", "vrmed")
        if dist != "vrmed":
            opts += ["--copy-metadata", dist, "--collect-submodules", module.split(".")[0]]
    return opts


def _lean(packs: list[Pack]) -> str:
    """Why the build must keep numba ("" when it can be lean)."""
    for p in packs:
        if p.module is not None:
            return f"pack {p.name!r} has systems.py, which may use any of the pack API"
        extra = sorted(set(p.plugin_names) - LEAN_PLUGINS)
        if extra:
            return f"pack {p.name!r} enables {', '.join(extra)}"
    return ""


def package(
    targets: list[str],
    *,
    name: str,
    scenario: str | None,
    out_dir: Path,
    version: str = "1.0.0",
    quiet: bool = True,
    lean: bool | None = None,
) -> BuildReport:
    """Build the simulator NAME into ``out_dir/NAME``; returns the executable and its size.

    ``lean`` None (the default) leaves numba and the features that need it out when every
    pack allows it; False keeps everything; True insists (an error if a pack needs them).
    """
    if not _NAME.match(name):
        raise VrmedError(f"{name!r} is not a valid simulator name (letters, digits, '-', '_')")
    if not targets:
        raise VrmedError("name at least one pack to package")
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        raise VrmedError("packaging needs PyInstaller: pip install 'vrmed[package]'") from None
    packs = []
    for target in targets:
        ref, _ = resolve_target(target)
        packs.append(load_pack(ref.root, ref.source))  # an invalid pack stops the build here
    names = [p.name for p in packs]
    if len(set(names)) != len(names):
        raise VrmedError(f"a pack is named twice: {', '.join(names)}")
    default_pack, _, default_scen = (scenario or "").partition("/")
    if not scenario:
        default_pack, default_scen = packs[0].name, packs[0].scenario(None).name
    elif not default_scen:  # only a scenario name: it belongs to the first pack that has it
        default_scen = default_pack
        owners = [p for p in packs if default_scen in p.scenarios]
        if not owners:
            raise VrmedError(f"no packaged pack has a scenario {default_scen!r}")
        default_pack = owners[0].name
    by_name = {p.name: p for p in packs}
    if default_pack not in by_name:
        raise VrmedError(f"default scenario {scenario!r} names pack {default_pack!r}, which is not packaged")
    by_name[default_pack].scenario(default_scen)  # clear error if it does not exist
    full_reason = _lean(packs)
    if lean and full_reason:
        raise VrmedError(f"a lean build leaves numba out, but {full_reason}")
    lean = not full_reason if lean is None else lean
    if not lean and not full_reason:
        full_reason = "asked for"

    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vrmed-package-") as tmp:
        work = Path(tmp)
        config = {
            "name": name,
            "version": version,
            "default": f"{default_pack}/{default_scen}",
            "packs": [[p.name, p.version] for p in packs],
        }
        staging = _stage_vrmed(work / "src")
        pack_dirs = {}
        for pack in packs:
            pack_dirs[pack.name] = work / "packs" / pack.name
            stage_pack(pack, pack_dirs[pack.name])
        launcher = work / f"{name}.py"
        launcher.write_text(_LAUNCHER.format(config=json.dumps(config)), encoding="utf-8")
        cmd = [
            sys.executable,
            "-m",
            "PyInstaller",
            "--noconfirm",
            "--onedir",
            "--name",
            name,
            "--distpath",
            str(out_dir),
            "--workpath",
            str(work / "build"),
            "--specpath",
            str(work),
            "--paths",
            str(staging),
            "--collect-submodules",
            "vrmed",
            "--collect-data",
            "vrmed",
            "--copy-metadata",
            "vrmed",
        ]
        if quiet:
            cmd += ["--log-level", "WARN"]
        for module in ALWAYS_EXCLUDES + (LEAN_EXCLUDES if lean else ()):
            cmd += ["--exclude-module", module]
        cmd += _plugin_options(packs, bool(lean))
        for pack in packs:
            cmd += ["--add-data", f"{pack_dirs[pack.name]}{os.pathsep}packs/{pack.name}"]
        cmd.append(str(launcher))
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise VrmedError(f"PyInstaller failed (exit {proc.returncode}):\n{tail}")
    exe = out_dir / name / (name + (".exe" if os.name == "nt" else ""))
    if not exe.exists():
        raise VrmedError(f"PyInstaller finished but {exe} is missing")
    total, parts = bundle_breakdown(out_dir / name)
    return BuildReport(exe, total, parts, bool(lean), full_reason)
