"""Benchmark suites run by ``vrmed bench`` (installed as ``vrmed.benchmarks``).

A suite is a module here exposing ``run(options: dict) -> dict`` with keys ``suite``,
``rows`` (a list of flat dicts) and ``notes``; ``options`` carries ``quick`` and ``peers``.
"""

from __future__ import annotations

import atexit
import contextlib
from importlib import resources
from pathlib import Path

_EXTRACTED = contextlib.ExitStack()  # files copied out of a zipped install, removed at exit
atexit.register(_EXTRACTED.close)


def mesh_path(name: str) -> Path:
    """Path of a mesh shipped in ``vrmed.benchmarks``' ``meshes/`` folder (SOFA's LGPL-2.1 meshes).

    ``name`` is a file name such as ``"liver.msh"`` or ``"raptorTetra_19409.vtu"``; see
    ``meshes/README.md`` for what each file is. The files are package data, so this works from
    a source checkout, an editable install and a normal (wheel) install alike; from a zipped
    install the file is extracted to a temporary copy that lives until the process exits.

    Raises :class:`FileNotFoundError` naming the file and listing the shipped meshes when
    ``name`` is not one of them.
    """
    folder = resources.files(__name__) / "meshes"
    resource = folder / name
    if not resource.is_file():
        shipped = (
            sorted(entry.name for entry in folder.iterdir() if entry.is_file() and not entry.name.endswith(".md"))
            if folder.is_dir()
            else []
        )
        raise FileNotFoundError(
            f"mesh {name!r} is not shipped in vrmed.benchmarks/meshes/; "
            f"shipped meshes: {', '.join(shipped) if shipped else '(none: the meshes folder is missing)'}"
        )
    if isinstance(resource, Path):
        return resource
    return _EXTRACTED.enter_context(resources.as_file(resource))
