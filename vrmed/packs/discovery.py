"""Finding packs: built into ``vrmed.content``, installed through the ``vrmed.packs``
entry-point group, or given by path."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from ..errors import VrmedError

ENTRY_POINT_GROUP = "vrmed.packs"
PACK_PATH_ENV = "VRMED_PACK_PATH"


@dataclass(frozen=True)
class PackRef:
    """Where a pack lives and how it was found (``builtin``, ``entry point NAME``, ``path``)."""

    name: str
    root: Path
    source: str


def builtin_packs() -> list[PackRef]:
    """Packs shipped inside ``vrmed.content``."""
    # located by name, not imported: the core layer names no feature or pack module
    spec = importlib.util.find_spec("vrmed.content")
    refs = []
    for base in map(Path, (spec.submodule_search_locations or []) if spec else []):
        if not base.is_dir():  # e.g. a frozen simulator that bundles its packs elsewhere
            continue
        for child in sorted(base.iterdir()):
            if (child / "pack.yaml").is_file():
                refs.append(PackRef(child.name, child, "builtin"))
    return refs


def _entry_point_root(value: str) -> Path:
    """The folder of an entry point's package, found without importing it.

    Importing would run the pack's ``__init__.py``; finding the folder through the import
    system's spec does not, which keeps ``--no-pack-code`` honest for installed packs.
    """
    module, _, attr = value.partition(":")
    if attr:
        raise VrmedError(
            f"entry point {value!r} names an attribute; a vrmed.packs entry point must name "
            f'the package that holds pack.yaml (e.g. `mypack = "mypack"`)'
        )
    top, *rest = module.strip().split(".")
    spec = importlib.util.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        raise VrmedError(f"package {top!r} is not installed or is not a package")
    return Path(next(iter(spec.submodule_search_locations))).joinpath(*rest)


def entry_point_packs() -> tuple[list[PackRef], list[str]]:
    """Packs registered by installed distributions, and warnings for entry points that fail."""
    refs, warnings = [], []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        origin = f"entry point {ep.name} ({dist.name if dist else ep.value})"
        try:
            root = _entry_point_root(ep.value)
        except (VrmedError, ImportError, ValueError) as exc:  # one broken package must not hide the others
            warnings.append(f"{origin}: cannot load {ep.value!r}: {exc}")
            continue
        if not (root / "pack.yaml").is_file():
            warnings.append(f"{origin}: {root} has no pack.yaml")
            continue
        refs.append(PackRef(ep.name, root, origin))
    return refs, warnings


def path_packs() -> list[PackRef]:
    """Packs in the folders listed in ``VRMED_PACK_PATH`` (os.pathsep-separated), e.g. the
    packs bundled into a packaged simulator."""
    refs = []
    for folder in filter(None, os.environ.get(PACK_PATH_ENV, "").split(os.pathsep)):
        base = Path(folder)
        if not base.is_dir():
            continue
        for child in sorted(base.iterdir()):
            if (child / "pack.yaml").is_file():
                refs.append(PackRef(child.name, child.resolve(), f"{PACK_PATH_ENV} ({base})"))
    return refs


def all_packs() -> tuple[list[PackRef], list[str]]:
    """Built-in packs then installed ones; an installed pack may not shadow a built-in name."""
    refs = builtin_packs()
    installed, warnings = entry_point_packs()
    installed = path_packs() + installed
    names = {r.name for r in refs}
    for ref in installed:
        if ref.name in names:
            warnings.append(f"{ref.source}: pack name {ref.name!r} is already taken; ignored")
            continue
        names.add(ref.name)
        refs.append(ref)
    return refs, warnings


def is_explicit_path(target: str) -> bool:
    """Whether ``target`` is written as a path (``./x``, ``../x``, ``/x``, ``~/x``, ``C:\\x``)
    rather than a pack name. Only explicit paths select a folder: a bare word, even one
    that names a folder in the current directory, is a pack name."""
    return (
        target in (".", "..")
        or target.startswith(("./", "../", ".\\", "..\\", "/", "\\", "~"))
        or Path(target).is_absolute()
    )


def explicit_path(path: str | os.PathLike[str]) -> str:
    """``path`` written so :func:`resolve_target` reads it as a path (``sandbox`` -> ``./sandbox``)."""
    text = os.fspath(path)
    return text if is_explicit_path(text) else f".{os.sep}{text}"


def resolve_target(target: str) -> tuple[PackRef, str | None]:
    """Resolve ``PACK[/SCENARIO]`` (an installed pack) or an explicit path to a pack folder
    (``./folder``, ``/abs/folder``, optionally ``/SCENARIO`` or ``/scenarios/S.yaml``).

    A bare name never looks in the current folder: a folder ``./sandbox`` must not shadow
    the built-in ``sandbox`` pack (its ``systems.py`` would run instead). A name that is no
    installed pack but is a pack folder here gets an error saying to write ``./NAME``.
    """
    if is_explicit_path(target):
        return _resolve_path(target)
    name, _, scenario = target.partition("/")
    refs, _ = all_packs()
    for ref in refs:
        if ref.name == name:
            return ref, scenario or None
    known = ", ".join(r.name for r in refs) or "none"
    local = Path(target)
    if (local / "pack.yaml").is_file() or (local.parent / "pack.yaml").is_file() or local.parent.name == "scenarios":
        raise VrmedError(
            f"no installed pack named {name!r}; a pack folder is only used when given as a path: "
            f"write {explicit_path(target)!r} to use the folder here (installed packs: {known})"
        )
    raise VrmedError(
        f"no pack named {name!r}; installed packs: {known}. `vrmed packs` lists them (a pack folder is "
        f"given as a path, e.g. ./{name})"
    )


def _resolve_path(target: str) -> tuple[PackRef, str | None]:
    path = Path(target).expanduser()
    if (path / "pack.yaml").is_file():
        return PackRef(path.resolve().name, path.resolve(), "path"), None
    if path.parent != path and (path.parent / "pack.yaml").is_file():
        scen = path.name[:-5] if path.name.endswith(".yaml") else path.name
        return PackRef(path.parent.resolve().name, path.parent.resolve(), "path"), scen
    if path.parent.name == "scenarios" and (path.parent.parent / "pack.yaml").is_file():
        root = path.parent.parent.resolve()
        return PackRef(root.name, root, "path"), path.stem
    if path.exists():
        raise VrmedError(f"{target}: not a pack folder (no pack.yaml)")
    raise VrmedError(f"{target}: no such pack folder")
