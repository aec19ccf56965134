"""The content-pack data model: what a validated pack, prefab, scenario and entity are.

The loader (:mod:`vrmed.packs.loader`) builds these; sessions, the scenario language and
packs read them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from vrmed.components import Name

from ..errors import VrmedError
from ..input import ScriptedInput
from ..settings import SimSettings
from .convert import ConvertContext, build_dataclass


@dataclass(frozen=True)
class Loc:
    """Where something was declared: file (relative to the pack's parent), line, key path."""

    file: str
    line: int
    key: str


def keystr(path: tuple[Any, ...]) -> str:
    """Render a key path like ``entities[0].components.Ball.radius``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass
class ComponentDecl:
    """A component's YAML fields after prefab inheritance and overrides, with their origins."""

    type: type
    loc: Loc
    fields: dict[str, Any] = field(default_factory=dict)
    field_locs: dict[str, Loc] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        """A field's value as the YAML gave it (``decl["radius"]``; KeyError if not given)."""
        return self.fields[name]

    def __contains__(self, name: object) -> bool:
        return name in self.fields

    def get(self, name: str, default: Any = None) -> Any:
        """A field's YAML value, or ``default`` when the YAML does not give it."""
        return self.fields.get(name, default)

    def build(self, root: Path | None = None) -> Any:
        """A fresh component instance from these fields (asset paths resolved under ``root``)."""
        return instantiate(self, root or Path("."))

    def merged(self, other: ComponentDecl) -> ComponentDecl:
        """This declaration with ``other``'s fields laid over it."""
        return ComponentDecl(
            self.type, other.loc, {**self.fields, **other.fields}, {**self.field_locs, **other.field_locs}
        )


@dataclass
class Prefab:
    """An entity template: its components (inheritance already applied)."""

    id: str
    loc: Loc
    extends: str | None
    description: str
    components: dict[str, ComponentDecl]
    #: ``"none"``: deliberately invisible (``visual: none``, inherited by prefabs extending it)
    visual: str | None = None


@dataclass
class EntitySpec:
    """One validated scenario entity; :meth:`build` makes fresh component instances."""

    name: str | None
    prefab: str | None
    loc: Loc
    components: dict[str, ComponentDecl]
    root: Path
    #: ``"none"``: deliberately invisible (from the scenario entity or its prefab)
    visual: str | None = None

    def component(self, type_name: str) -> Any:
        """A fresh instance of one of the entity's components, by type name (KeyError if it
        has none), e.g. ``spec.component("Transform").position`` in a pack's tests."""
        return instantiate(self.components[type_name], self.root)

    def build(self) -> list[Any]:
        """Fresh component instances (specs turned into components where a type asks); a
        ``Name`` component is added from the entity's name."""

        built = [instantiate(decl, self.root) for decl in self.components.values()]
        if self.name is not None and "Name" not in self.components:
            built.append(Name(self.name))
        return built


@dataclass
class Scenario:
    """A validated scenario: entities to spawn, scripted input, simulation settings and duration.

    ``sim_settings`` are the defaults with the scenario's ``rates:`` laid over them (what it
    states is ``sim_settings.overrides()``); a running App's own are
    ``app.resource(SimSettings)``, which a replay or a ``build_session`` override may change.
    ``settings`` is the pack's own free-form mapping.
    """

    name: str
    file: str
    title: str
    description: str
    duration: float | None
    sim_settings: SimSettings
    entities: list[EntitySpec]
    scripted_input: ScriptedInput | None
    settings: dict[str, Any]
    #: The scenario language (vrmed.scenario): state machine, rubric, scripted learner.
    script: Any = None
    rubric: Any = None
    learner: tuple[Any, ...] = ()
    #: What a person may do, is told and is warned about (vrmed.scenario.interaction.Interaction).
    interaction: Any = None
    #: The scenario's patient (``patient:``): rules, steps and transitions read its events
    #: unless they name another patient (None: not declared, events of any patient).
    patient: str | None = None
    #: The pack's prefabs, for an engine plugin that spawns one at run time (the team's
    #: instructor adding a casualty); the pack's root is where their assets resolve.
    prefabs: dict[str, Prefab] = field(default_factory=dict)
    root: Path | None = None

    def entity(self, name: str) -> EntitySpec:
        """A named entity of the scenario (a clear error naming the others if there is none)."""
        for spec in self.entities:
            if spec.name == name:
                return spec
        known = ", ".join(sorted(str(e.name) for e in self.entities if e.name)) or "none"
        raise VrmedError(f"scenario {self.name!r} has no entity named {name!r}; named entities: {known}")


@dataclass
class Pack:
    """A fully validated content pack."""

    name: str
    version: str
    title: str
    description: str
    root: Path
    source: str
    engine: str
    plugins: list[type]
    plugin_names: list[str]
    systems: list[Callable]
    components: dict[str, type]
    prefabs: dict[str, Prefab]
    scenarios: dict[str, Scenario]
    default_scenario: str | None
    module: ModuleType | None
    #: Extra globs of files that belong to the pack (``include:`` in pack.yaml; see
    #: :mod:`vrmed.packs.manifest` for what every pack holds).
    include: list[str] = field(default_factory=list)
    #: SHA-256 of each of the pack's files when it was loaded (relative POSIX path -> hex).
    file_hashes: dict[str, str] = field(default_factory=dict)
    #: One SHA-256 over ``file_hashes``: the pack's content (YAML, code and assets) as loaded.
    content_hash: str = ""

    def scenario(self, name: str | None) -> Scenario:
        """A scenario by name (or the default); a clear error if there is no such scenario."""

        name = name or self.default_scenario or (sorted(self.scenarios)[0] if len(self.scenarios) == 1 else None)
        if name is None:
            raise VrmedError(
                f"pack {self.name!r} has several scenarios and no default_scenario; "
                f"choose one of: {', '.join(sorted(self.scenarios))}"
            )
        if name not in self.scenarios:
            known = ", ".join(sorted(self.scenarios)) or "none"
            raise VrmedError(f"pack {self.name!r} has no scenario {name!r}; its scenarios are: {known}")
        return self.scenarios[name]

    def summary(self, app: Any) -> dict[str, Any]:
        """The pack's own end-of-run summary (``summary(app)`` in systems.py), or {}."""
        fn = getattr(self.module, "summary", None) if self.module else None
        return dict(fn(app)) if callable(fn) else {}


def instantiate(decl: ComponentDecl, root: Path) -> Any:
    """A fresh component instance from its validated YAML fields (through its spec type if it has one)."""
    spec_type = getattr(decl.type, "__vrmed_yaml__", None)
    ctx = ConvertContext(root)
    if spec_type is not None:
        from_spec: Callable[[Any], Any] = getattr(decl.type, "from_spec")  # noqa: B009 (a spec type's own constructor)
        return from_spec(build_dataclass(spec_type, decl.fields, ctx))
    return build_dataclass(decl.type, decl.fields, ctx)
