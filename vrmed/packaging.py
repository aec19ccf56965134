"""``vrmed package``: a standalone simulator folder built with PyInstaller (one-folder mode).

The bundle holds Python, vrmed and its dependencies, the chosen packs (as data under
``packs/``, found through ``VRMED_PACK_PATH``) and a launcher. Run with no arguments it
starts the default scenario; it accepts the same options as ``vrmed run``, plus every
other ``vrmed`` command, and ``--version`` reports its own name, vrmed's version and the
packs it carries.

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
from pathlib import Path

import vrmed

from .errors import VrmedError
from .packs import load_pack, resolve_target

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


def _stage_vrmed(dest: Path) -> Path:
    """Copy the installed vrmed package tree (with its mapped subpackages) into ``dest``.

    An editable install maps ``components/``, ``systems/``, ``content/`` into ``vrmed.*``
    through an import hook that PyInstaller's module analysis cannot see; a plain copy of
    the package as it is laid out at import time works for editable and normal installs.
    """
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc")
    root = dest / "vrmed"
    shutil.copytree(Path(vrmed.__file__).parent, root, ignore=ignore, dirs_exist_ok=True)
    for sub in ("components", "systems", "content", "benchmarks"):
        module = __import__(f"vrmed.{sub}", fromlist=["_"])
        src = Path(next(iter(module.__path__)))
        if src.resolve() != (root / sub).resolve():
            shutil.copytree(src, root / sub, ignore=ignore, dirs_exist_ok=True)
    return dest


def package(
    targets: list[str], *, name: str, scenario: str | None, out_dir: Path, version: str = "1.0.0", quiet: bool = True
) -> Path:
    """Build the simulator NAME into ``out_dir/NAME`` and return the executable's path."""
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
        for pack in packs:
            cmd += ["--add-data", f"{pack.root}{os.pathsep}packs/{pack.name}"]
        cmd.append(str(launcher))
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise VrmedError(f"PyInstaller failed (exit {proc.returncode}):\n{tail}")
    exe = out_dir / name / (name + (".exe" if os.name == "nt" else ""))
    if not exe.exists():
        raise VrmedError(f"PyInstaller finished but {exe} is missing")
    for junk in out_dir.glob(f"{name}/packs/*/__pycache__"):
        shutil.rmtree(junk, ignore_errors=True)
    return exe
