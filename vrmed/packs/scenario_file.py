"""Validate the scenario-language parts of one scenario file on behalf of the pack loader.

Glue between :mod:`vrmed.packs.loader` (files, lines, the issue collector) and
:mod:`vrmed.scenario.validate` (what a state machine, rubric and learner may say).
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema

from ..scenario.validate import Report, ScenarioExtras, check_extras, event_catalog
from .model import EntitySpec, Loc, keystr
from .schema import SCENARIO_SCHEMA
from .yamlsrc import YamlSyntaxError, read_yaml


def check_scenario_file(
    col: Any,
    root: Path,
    rel: str,
    doc: Any,
    data: dict[str, Any],
    entities: list[Any],
    prefabs: dict[str, Any],
    plugins: list[type],
    module: ModuleType | None,
) -> ScenarioExtras:
    """The pack loader's entry point: validate one scenario file's extras, reporting each
    problem to the loader's collector with file, line and key."""

    def reporter(file: str, ydoc: Any) -> Report:
        return lambda path, message: col.add(Loc(file, ydoc.line(path), keystr(path)), message)

    def make_spec(name: str, prefab: str) -> Any:
        p = prefabs[prefab]
        return EntitySpec(name, prefab, p.loc, dict(p.components), root)

    used = None
    if "uses" in data:
        other = root / "scenarios" / f"{data['uses']}.yaml"
        report_here = reporter(rel, doc)
        if not other.is_file() or other.stem == Path(rel).stem:
            report_here(("uses",), f"no other scenario named {data['uses']!r} in this pack")
        else:
            try:
                odoc = read_yaml(other)
            except (YamlSyntaxError, OSError, UnicodeDecodeError):
                odoc = None  # reported when that scenario itself is loaded
            if (
                odoc is not None
                and isinstance(odoc.data, dict)
                and jsonschema.Draft202012Validator(SCENARIO_SCHEMA).is_valid(odoc.data)
            ):
                if "script" not in odoc.data and "rubric" not in odoc.data:
                    report_here(("uses",), f"scenario {data['uses']!r} has no script or rubric to use")
                used = (odoc.data, reporter(col.rel(other), odoc))
    named = {e.name: e.components for e in entities if e.name is not None}
    return check_extras(
        data,
        reporter(rel, doc),
        events=event_catalog(plugins, module),
        entities=named,
        prefabs=prefabs,
        make_spec=make_spec,
        used=used,
    )
