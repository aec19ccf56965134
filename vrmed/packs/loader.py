"""Load and validate a content pack completely before anything uses it.

Loading parses every file, checks it against its schema, imports the pack's
``systems.py``, resolves prefab inheritance and converts every component's YAML into
typed fields. All problems are collected and raised together as one :class:`PackError`;
a pack with any problem is never partly loaded into an App.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from vrmed.components import CORE_COMPONENTS

from ..fields import AssetPath  # noqa: F401  (re-exported for pack authors' convenience)
from ..input import ScriptedInput
from ..plugins import available_plugins, load_plugin_class
from ..schedule import PUBLIC_SETS, ScheduleError, place_system
from ..settings import SettingsError, SimSettings
from ..version import __version__
from .convert import ConvertContext, FieldError, build_dataclass, describe
from .issues import PackError, PackIssue
from .manifest import content_hash, declared_files, file_hashes
from .model import ComponentDecl, EntitySpec, Loc, Pack, Prefab, Scenario, keystr
from .scenario_file import check_scenario_file
from .schema import PACK_SCHEMA, PREFAB_FILE_SCHEMA, SCENARIO_SCHEMA
from .yamlsrc import YamlDoc, YamlSyntaxError, read_yaml


class _Collector:
    """Accumulates issues for one pack."""

    def __init__(self, pack_root: Path) -> None:
        self.root = pack_root
        self.issues: list[PackIssue] = []

    def rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root.parent))
        except ValueError:
            return str(path)

    def add(self, loc: Loc, message: str) -> None:
        self.issues.append(PackIssue(loc.file, loc.line, loc.key, message))

    def read(self, path: Path, schema: dict[str, Any]) -> YamlDoc | None:
        """Read and schema-check one file; None (with issues recorded) when it is unusable."""
        rel = self.rel(path)
        try:
            doc = read_yaml(path)
        except YamlSyntaxError as exc:
            self.add(Loc(rel, exc.line, ""), exc.message)
            return None
        except (OSError, UnicodeDecodeError) as exc:
            self.add(Loc(rel, 0, ""), f"cannot read file: {exc}")
            return None
        for path_, first, second in doc.duplicates:
            self.add(Loc(rel, second, keystr(path_)), f"duplicate key (first defined on line {first})")
        if doc.data is None:
            doc.data = {}
        errors = sorted(
            jsonschema.Draft202012Validator(schema).iter_errors(doc.data), key=lambda e: list(map(str, e.absolute_path))
        )
        for err in errors:
            p = tuple(err.absolute_path)
            self.add(Loc(rel, doc.line(p), keystr(p)), _schema_message(err))
        return None if errors else doc


def _schema_message(err: jsonschema.ValidationError) -> str:
    if err.validator == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        return f"missing required key {missing!r}"
    if err.validator == "additionalProperties":
        extra = err.message.split("(")[-1].rstrip(")") if "(" in err.message else err.message
        allowed = ", ".join(sorted(err.schema.get("properties", {})))
        if isinstance(err.instance, dict) and any(isinstance(k, bool) for k in err.instance):
            # YAML 1.1 reads bare on/off/yes/no keys as booleans
            return (
                f"unknown key {extra}: a bare on/off/yes/no key is read by YAML as true/false "
                f"(quote it, or use the key this schema names); allowed keys: {allowed}"
            )
        return f"unknown key {extra}; allowed keys: {allowed}"
    if err.validator == "type":
        expected = err.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        names = {
            "object": "a mapping",
            "array": "a list",
            "string": "a string",
            "number": "a number",
            "null": "nothing",
            "integer": "an integer",
            "boolean": "true or false",
        }
        exp = " or ".join(names.get(x, x) for x in expected.split(" or "))
        return f"expected {exp}, got {describe(err.instance)}"
    if err.validator == "pattern":
        return f"{err.instance!r} is not a valid name (letters, digits, '_', '.', '-'; not starting with a digit)"
    return err.message


def _import_systems(path: Path, pack_name: str, col: _Collector) -> ModuleType | None:
    # The module's import name only has to be unique in this process: one per file and
    # content, so an edited systems.py is imported afresh. What sessions record (event and
    # component type names) never uses it: :func:`_stamp_origin` gives the pack's types an
    # identity made of the pack's name and version, the same in every install.
    code_hash = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
    where = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:6]
    mod_name = f"vrmed_pack_{pack_name.replace('-', '_').replace('.', '_')}_{code_hash}_{where}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    spec = importlib.util.spec_from_file_location(mod_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the pack's own code failed: report it as a pack problem
        del sys.modules[mod_name]
        line = 0
        if isinstance(exc, SyntaxError) and exc.filename == str(path):
            line = exc.lineno or 0
        for frame in traceback.extract_tb(exc.__traceback__):
            if frame.filename == str(path):
                line = frame.lineno or 0
        col.add(Loc(col.rel(path), line, ""), f"error while importing the pack's systems: {type(exc).__name__}: {exc}")
        return None
    return module


def pack_origin(name: str, version: str) -> str:
    """The location-independent origin of a pack's types: ``pack.NAME@VERSION``.

    Event records and state digests name a pack's event and component types
    ``pack.NAME@VERSION:TypeName`` (see :func:`vrmed.events.type_identity`), so a session
    recorded with the pack installed in one folder replays with it installed in another.
    """
    return f"pack.{name}@{version}"


def _stamp_origin(module: ModuleType, origin: str) -> None:
    """Give every class defined in the pack's module its location-independent origin."""
    for value in vars(module).values():
        if isinstance(value, type) and value.__module__ == module.__name__:
            # set on the class itself: type_identity reads the class's own __dict__, so a
            # subclass defined elsewhere keeps its own origin
            value.__vrmed_origin__ = origin  # type: ignore[attr-defined]


def pack_system_issue(pack_root: Path, func: Callable, message: str) -> PackIssue:
    """An issue about a ``@vrmed.system`` function of a pack's ``systems.py``: at the line of
    its decorator, keyed by the function's name (the file relative to the pack's parent)."""
    code = getattr(func, "__code__", None)
    path = Path(code.co_filename) if code is not None else pack_root / "systems.py"
    try:
        rel = str(path.resolve().relative_to(pack_root.parent))
    except ValueError:
        rel = str(path)
    # co_firstlineno of a decorated function is its first decorator's line: where in_set is written.
    return PackIssue(rel, code.co_firstlineno if code is not None else 0, getattr(func, "__name__", ""), message)


def _check_system_placement(pack_root: Path, funcs: list[Callable], plugins: list[type], col: _Collector) -> None:
    """Check each enabled system's ``@vrmed.system(stage, in_set=...)`` against the stages
    and the ordering sets it can join: the public ones and those its engine plugins declare
    (``ordering_sets``). ``after``/``before`` may name systems of plugins, which exist only
    once they are built, so they are checked when a session is built."""
    sets = dict(PUBLIC_SETS)
    for cls in plugins:
        sets.update(dict(getattr(cls, "ordering_sets", None) or {}))
    for func in funcs:
        meta = getattr(func, "__vrmed_system__")  # noqa: B009 (set by @vrmed.system, unknown to the type)
        try:
            place_system(meta["stage"], meta["in_set"], sets, meta["name"])
        except ScheduleError as exc:
            col.issues.append(pack_system_issue(pack_root, func, exc.detail))


def load_pack(root: str | Path, source: str = "path", *, allow_code: bool = True) -> Pack:
    """Load and fully validate the pack in folder ``root`` (raises :class:`PackError`).

    With ``allow_code=False`` no code of the pack runs: a pack with a ``systems.py`` is
    refused instead of imported (YAML is only ever read with the safe loader).
    """
    root = Path(root).resolve()
    col = _Collector(root)
    pack_file = root / "pack.yaml"
    if not pack_file.is_file():
        col.add(
            Loc(col.rel(pack_file), 0, ""),
            "no pack.yaml: a pack folder must contain pack.yaml (run `vrmed new-pack NAME` for a template)",
        )
        raise PackError(root.name, col.issues)
    doc = col.read(pack_file, PACK_SCHEMA)
    if doc is None:
        raise PackError(root.name, col.issues)
    meta = doc.data
    name = meta["name"]
    rel_pack = col.rel(pack_file)
    engine = meta.get("engine", "")
    if engine:
        try:
            if Version(__version__) not in SpecifierSet(engine):
                col.add(
                    Loc(rel_pack, doc.line(("engine",)), "engine"),
                    f"this pack needs vrmed {engine}, but this is vrmed {__version__}; "
                    f"install a matching vrmed or a version of the pack made for {__version__}",
                )
        except InvalidSpecifier:
            col.add(
                Loc(rel_pack, doc.line(("engine",)), "engine"),
                f'{engine!r} is not a version range (write e.g. ">=0.1,<0.2")',
            )

    for i, glob in enumerate(meta.get("include", [])):
        if glob.startswith(("/", "\\")) or ".." in Path(glob).parts or ":" in glob:
            col.add(
                Loc(rel_pack, doc.line(("include", i)), f"include[{i}]"),
                f"{glob!r}: include globs are relative to the pack folder and stay inside it "
                f"(no '..', no absolute path)",
            )
    # Components: the core ones, those of enabled engine plugins, and the pack's own.
    components: dict[str, type] = {c.__name__: c for c in CORE_COMPONENTS}
    plugins: list[type] = []
    installed = available_plugins()
    for i, pname in enumerate(meta.get("plugins", [])):
        if pname not in installed:
            col.add(
                Loc(rel_pack, doc.line(("plugins", i)), f"plugins[{i}]"),
                f"unknown engine plugin {pname!r}; available: {', '.join(sorted(installed))}",
            )
            continue
        try:
            cls = load_plugin_class(pname)
        except ImportError as exc:
            col.add(
                Loc(rel_pack, doc.line(("plugins", i)), f"plugins[{i}]"),
                f"engine plugin {pname!r} is not available in this installation ({exc})",
            )
            continue
        plugins.append(cls)
        for comp in getattr(cls, "components", ()):
            components[comp.__name__] = comp

    module = None
    systems_file = root / "systems.py"
    if systems_file.is_file() and not allow_code:
        col.add(
            Loc(col.rel(systems_file), 0, ""),
            "this pack carries Python code (systems.py) and pack code is disabled (--no-pack-code); "
            "run it without --no-pack-code only if you trust the pack's author",
        )
        raise PackError(name, col.issues)
    if systems_file.is_file():
        module = _import_systems(systems_file, name, col)
        if module is None:
            # Without the pack's components every prefab would report them unknown: stop here.
            raise PackError(name, col.issues)
        _stamp_origin(module, pack_origin(name, str(meta["version"])))
    pack_systems: dict[str, Callable] = {}
    if module is not None:
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and getattr(value, "__vrmed_component__", False)
                and value.__module__ == module.__name__
            ):
                if not dataclasses.is_dataclass(value):
                    col.add(
                        Loc(col.rel(systems_file), 0, value.__name__),
                        "components must be dataclasses; add @dataclass above @vrmed.component",
                    )
                components[value.__name__] = value
            meta_sys = getattr(value, "__vrmed_system__", None)
            if callable(value) and meta_sys is not None and getattr(value, "__module__", None) == module.__name__:
                pack_systems[meta_sys["name"]] = value
    enabled: list[Callable] = []
    seen_systems: set[str] = set()
    for i, sname in enumerate(meta.get("systems", [])):
        loc = Loc(rel_pack, doc.line(("systems", i)), f"systems[{i}]")
        if sname in seen_systems:
            col.add(loc, f"system {sname!r} is listed twice")
        elif sname not in pack_systems:
            if module is None and not systems_file.is_file():
                col.add(loc, f"system {sname!r} is listed but the pack has no systems.py")
            elif module is not None:
                known = ", ".join(sorted(pack_systems)) or "none"
                col.add(
                    loc,
                    f"unknown system {sname!r}: systems.py defines no function marked "
                    f"@vrmed.system with that name (defined: {known})",
                )
        else:
            enabled.append(pack_systems[sname])
        seen_systems.add(sname)
    _check_system_placement(root, enabled, plugins, col)

    prefabs = _load_prefabs(root, col, components)
    scenarios = _load_scenarios(root, col, components, prefabs, plugins, module)
    default = meta.get("default_scenario")
    if (
        default is not None
        and default not in scenarios
        and not any(i.file.endswith(f"scenarios/{default}.yaml") for i in col.issues)
    ):
        col.add(
            Loc(rel_pack, doc.line(("default_scenario",)), "default_scenario"),
            f"no scenario named {default!r} (scenarios: {', '.join(sorted(scenarios)) or 'none'})",
        )
    if col.issues:
        raise PackError(name, col.issues)
    include = [str(g) for g in meta.get("include", [])]
    hashes = file_hashes(root, declared_files(root, include))
    pack = Pack(
        name=name,
        version=meta["version"],
        title=meta.get("title", name),
        description=meta.get("description", ""),
        root=root,
        source=source,
        engine=engine,
        plugins=plugins,
        plugin_names=list(meta.get("plugins", [])),
        systems=enabled,
        components=components,
        prefabs=prefabs,
        scenarios=scenarios,
        default_scenario=default,
        module=module,
        include=include,
        file_hashes=hashes,
        content_hash=content_hash(hashes),
    )
    _run_pack_checks(pack, col)
    if col.issues:
        raise PackError(name, col.issues)
    return pack


#: The signature of a pack's own validation hook, ``validate_pack(pack, report)`` in systems.py.
Report = Callable[..., None]


def _run_pack_checks(pack: Pack, col: _Collector) -> None:
    """Run the pack's own ``validate_pack(pack, report)`` (systems.py), if it defines one.

    ``report(where, message)`` records a problem; ``where`` is anything with a location
    from the loaded pack (a :class:`Loc`, a :class:`ComponentDecl` or one of its field
    names as ``(decl, "field")``, an :class:`EntitySpec`, a :class:`Prefab`, a
    :class:`Scenario`) or None for pack.yaml. The problems are reported like every other
    pack problem (file:line, key), and the pack is refused.
    """
    hook = getattr(pack.module, "validate_pack", None) if pack.module is not None else None
    if not callable(hook):
        return
    rel_pack = col.rel(pack.root / "pack.yaml")

    def report(where: Any, message: str | None = None) -> None:
        if message is None:  # report("message"): about the pack as a whole
            where, message = None, where
        col.add(_where(where, rel_pack), str(message))

    try:
        hook(pack, report)
    except Exception as exc:  # the pack's own check failed: a problem at its line, not a traceback
        systems = pack.root / "systems.py"
        line = 0
        for frame in traceback.extract_tb(exc.__traceback__):
            if frame.filename == str(systems):
                line = frame.lineno or 0
        col.add(
            Loc(col.rel(systems), line, "validate_pack"),
            f"the pack's validate_pack raised {type(exc).__name__}: {exc}",
        )


def _where(where: Any, rel_pack: str) -> Loc:
    """The location a ``validate_pack`` report points at."""
    if where is None:
        return Loc(rel_pack, 1, "")
    if isinstance(where, Loc):
        return where
    if isinstance(where, tuple) and len(where) == 2 and isinstance(where[0], ComponentDecl):
        decl, fname = where
        loc = decl.field_locs.get(str(fname), decl.loc)
        return loc if fname in decl.field_locs else Loc(loc.file, loc.line, f"{loc.key}.{fname}")
    if isinstance(where, (ComponentDecl, EntitySpec, Prefab)):
        return where.loc
    if isinstance(where, Scenario):
        return Loc(where.file, 1, "")
    raise TypeError(
        f"report(where, message): where must be a Loc, ComponentDecl, (ComponentDecl, field), "
        f"EntitySpec, Prefab, Scenario or None, not {type(where).__name__}"
    )


def _component_decls(
    raw: dict[str, Any], base: tuple[Any, ...], rel: str, doc: YamlDoc, components: dict[str, type], col: _Collector
) -> dict[str, ComponentDecl]:
    out: dict[str, ComponentDecl] = {}
    for cname, fields in raw.items():
        cpath = base + (cname,)
        loc = Loc(rel, doc.line(cpath), keystr(cpath))
        ctype = components.get(cname)
        if ctype is None:
            known = ", ".join(sorted(components))
            col.add(loc, f"unknown component {cname!r}; known components: {known}")
            continue
        fields = fields or {}
        out[cname] = ComponentDecl(
            ctype, loc, dict(fields), {f: Loc(rel, doc.line(cpath + (f,)), keystr(cpath + (f,))) for f in fields}
        )
    return out


def _check_components(decls: dict[str, ComponentDecl], root: Path, col: _Collector, complete: bool = True) -> None:
    """Convert every declaration; ``complete=False`` (prefabs) tolerates missing required
    fields, which a scenario or a child prefab may still supply."""
    ctx = ConvertContext(root)
    for decl in decls.values():
        target = getattr(decl.type, "__vrmed_yaml__", None) or decl.type
        try:
            build_dataclass(target, decl.fields, ctx)
        except FieldError as exc:
            if exc.missing and not complete:
                continue
            loc = decl.field_locs.get(exc.subpath[0], decl.loc) if exc.subpath else decl.loc
            key = loc.key + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in exc.subpath[1:])
            col.add(Loc(loc.file, loc.line, key), exc.message)


def _load_prefabs(root: Path, col: _Collector, components: dict[str, type]) -> dict[str, Prefab]:
    raw: dict[str, tuple[dict[str, Any], Loc, dict[str, ComponentDecl]]] = {}
    for path in sorted((root / "prefabs").glob("*.yaml")) + sorted((root / "prefabs").glob("*.yml")):
        doc = col.read(path, PREFAB_FILE_SCHEMA)
        if doc is None:
            continue
        rel = col.rel(path)
        for pid, body in doc.data.items():
            loc = Loc(rel, doc.line((pid,)), str(pid))
            if pid in raw:
                first = raw[pid][1]
                col.add(loc, f"duplicate prefab id {pid!r} (first defined at {first.file}:{first.line})")
                continue
            decls = _component_decls(body.get("components") or {}, (pid, "components"), rel, doc, components, col)
            raw[pid] = (body, loc, decls)

    prefabs: dict[str, Prefab] = {}
    reported_cycles: set[frozenset[str]] = set()

    def resolve(pid: str, chain: list[str]) -> Prefab | None:
        if pid in prefabs:
            return prefabs[pid]
        body, loc, decls = raw[pid]
        parent_id = body.get("extends")
        merged: dict[str, ComponentDecl] = {}
        if parent_id is not None:
            ploc = Loc(loc.file, loc.line, f"{pid}.extends")
            if parent_id in chain + [pid]:
                members = (chain + [pid])[(chain + [pid]).index(parent_id) :]
                if frozenset(members) not in reported_cycles:
                    reported_cycles.add(frozenset(members))
                    # Report once, at the member declared first, starting the chain there.
                    first = min(members, key=lambda m: (raw[m][1].file, raw[m][1].line))
                    k = members.index(first)
                    ring = members[k:] + members[:k]
                    floc = raw[first][1]
                    col.add(
                        Loc(floc.file, floc.line, f"{first}.extends"), f"cyclic extends: {' -> '.join(ring + [first])}"
                    )
                return None
            if parent_id not in raw:
                col.add(ploc, f"extends unknown prefab {parent_id!r}")
                return None
            parent = resolve(parent_id, chain + [pid])
            if parent is None:
                return None
            merged = dict(parent.components)
        for cname, decl in decls.items():
            merged[cname] = merged[cname].merged(decl) if cname in merged else decl
        visual = body.get("visual", prefabs[parent_id].visual if parent_id is not None else None)
        prefab = Prefab(pid, loc, parent_id, body.get("description", ""), merged, visual)
        prefabs[pid] = prefab
        return prefab

    for pid in raw:
        if resolve(pid, []) is not None:
            _check_components(prefabs[pid].components, root, col, complete=False)
    return prefabs


def _load_scenarios(
    root: Path,
    col: _Collector,
    components: dict[str, type],
    prefabs: dict[str, Prefab],
    plugins: list[type] | None = None,
    module: ModuleType | None = None,
) -> dict[str, Scenario]:
    scenarios: dict[str, Scenario] = {}
    task, drawn = _task_and_drawn(plugins or [])
    for path in sorted((root / "scenarios").glob("*.yaml")) + sorted((root / "scenarios").glob("*.yml")):
        doc = col.read(path, SCENARIO_SCHEMA)
        if doc is None:
            continue
        rel = col.rel(path)
        data = doc.data
        if path.stem in scenarios:
            col.add(Loc(rel, 1, ""), f"duplicate scenario id {path.stem!r} (.yaml and .yml)")
            continue
        entities: list[EntitySpec] = []
        names: dict[str, int] = {}
        for i, ent in enumerate(data["entities"]):
            base = ("entities", i)
            loc = Loc(rel, doc.line(base), keystr(base))
            merged: dict[str, ComponentDecl] = {}
            pid = ent.get("prefab")
            if pid is not None:
                if pid not in prefabs:
                    known = ", ".join(sorted(prefabs)) or "none"
                    col.add(
                        Loc(rel, doc.line(base + ("prefab",)), keystr(base + ("prefab",))),
                        f"unknown prefab {pid!r}; prefabs in this pack: {known}",
                    )
                    continue
                merged = dict(prefabs[pid].components)
            own = _component_decls(ent.get("components") or {}, base + ("components",), rel, doc, components, col)
            for cname, decl in own.items():
                merged[cname] = merged[cname].merged(decl) if cname in merged else decl
            ename = ent.get("name")
            if ename is not None:
                if ename in names:
                    col.add(
                        Loc(rel, doc.line(base + ("name",)), keystr(base + ("name",))),
                        f"duplicate entity name {ename!r} (first used by entities[{names[ename]}])",
                    )
                names[ename] = i
            _check_components(merged, root, col)
            visual = ent.get("visual", prefabs[pid].visual if pid is not None else None)
            spec = EntitySpec(ename, pid, loc, merged, root, visual)
            _check_drawn(spec, i, task, drawn, col)
            entities.append(spec)
        scripted = None
        if "input" in data and "scripted" in data["input"]:
            try:
                scripted = ScriptedInput.from_yaml(data["input"]["scripted"])
            except Exception as exc:  # ConfigError from duplicate keyframe times
                col.add(Loc(rel, doc.line(("input", "scripted")), "input.scripted"), str(exc))
        sim = SimSettings()
        try:  # defaults laid under what the scenario states (the schema checked keys and types)
            sim = sim.with_overrides(data.get("rates", {}))
        except SettingsError as exc:
            key = ("rates", exc.key) if exc.key in data.get("rates", {}) else ("rates",)
            col.add(Loc(rel, doc.line(key), keystr(key)), exc.message)
        scenarios[path.stem] = Scenario(
            name=path.stem,
            file=rel,
            title=data.get("title", path.stem),
            description=data.get("description", ""),
            duration=data.get("duration"),
            sim_settings=sim,
            entities=entities,
            scripted_input=scripted,
            settings=dict(data.get("settings", {})),
            prefabs=prefabs,
            root=root,
            **_scenario_extras(root, col, rel, doc, data, entities, prefabs, plugins or [], module),
        )
        for cls in plugins or []:  # an engine plugin checks its own scenario settings (file:line)
            check = getattr(cls, "check_scenario", None)
            if not callable(check):
                continue
            # prefabs (the names a plugin's settings may spawn at run time) go only to a hook
            # that takes them: plugins written for check_scenario(data) keep working
            found = check(data, prefabs=sorted(prefabs)) if _takes_prefabs(check) else check(data)
            for key, message in found:
                col.add(Loc(rel, doc.line(key), keystr(key)), message)
    return scenarios


def _takes_prefabs(hook: Any) -> bool:
    """Whether a plugin's ``check_scenario`` hook accepts the ``prefabs`` keyword."""
    try:
        params = inspect.signature(hook).parameters
    except (TypeError, ValueError):  # a builtin or C callable without a signature
        return False
    return "prefabs" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _task_and_drawn(plugins: list[type]) -> tuple[set[str], set[str]]:
    """Component names that take part in the task, and those something draws, as the enabled
    engine plugins declare them (``task_components``, ``drawn_components``); a VisualMesh is
    always drawn."""
    task: set[str] = set()
    drawn: set[str] = {"VisualMesh"}
    for cls in plugins:
        task.update(c.__name__ for c in getattr(cls, "task_components", ()))
        drawn.update(c.__name__ for c in getattr(cls, "drawn_components", ()))
    return task, drawn


def _check_drawn(spec: EntitySpec, index: int, task: set[str], drawn: set[str], col: _Collector) -> None:
    """Everything simulated is drawn: an entity with a task component and nothing that draws
    it is an error, unless it says ``visual: none``."""
    if spec.visual == "none":
        return
    names = set(spec.components)
    takes = sorted(names & task)
    if takes and not names & drawn:
        label = repr(spec.name) if spec.name is not None else "this entity"
        col.add(
            spec.loc,
            f"{label} takes part in the task ({', '.join(takes)}) but nothing draws it; give it a "
            f"VisualMesh or write `visual: none` to say it is deliberately invisible",
        )


def _scenario_extras(
    root: Path,
    col: _Collector,
    rel: str,
    doc: YamlDoc,
    data: dict[str, Any],
    entities: list[EntitySpec],
    prefabs: dict[str, Prefab],
    plugins: list[type],
    module: ModuleType | None,
) -> dict[str, Any]:
    """Validate a scenario's ``script``, ``rubric`` and ``learner`` (see vrmed.scenario)."""
    if not any(k in data for k in ("script", "rubric", "learner", "uses", "interaction")):
        return {}

    extras = check_scenario_file(col, root, rel, doc, data, entities, prefabs, plugins, module)
    return {
        "script": extras.script,
        "rubric": extras.rubric,
        "learner": extras.learner,
        "interaction": extras.interaction,
        "patient": extras.patient,
    }
