"""JSON Schemas for pack files (checked with ``jsonschema`` before any semantic check)."""

from __future__ import annotations

from typing import Any

from ..scenario.interaction import INTERACTION_SCHEMA
from ..schedule import STAGES

IDENT = r"^[A-Za-z_][A-Za-z0-9_.-]*$"
_number = {"type": "number"}
_vec3 = {"type": "array", "items": _number, "minItems": 3, "maxItems": 3}
#: ``visual: none``: an entity (or prefab) that takes part in the task but is deliberately not drawn.
_visual = {"enum": ["none"]}
_vec4 = {"type": "array", "items": _number, "minItems": 4, "maxItems": 4}
# Keys and types only: SimSettings checks the values (positive rates, whole substeps) and
# says what is wrong in one wording for YAML and Python alike.
_rates = {
    "type": "object",
    "properties": {
        "display": _number,
        **{s: {"type": ["number", "null"]} for s in STAGES},
        "substeps": {"type": "integer"},
    },
    "additionalProperties": False,
}

PACK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "version"],
    "properties": {
        "name": {"type": "string", "pattern": IDENT},
        "version": {"type": "string", "pattern": r"^\d+(\.\d+)*([a-z0-9.+-]*)$"},
        "engine": {"type": "string"},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "plugins": {"type": "array", "items": {"type": "string", "pattern": IDENT}},
        "systems": {"type": "array", "items": {"type": "string", "pattern": IDENT}},
        "default_scenario": {"type": "string", "pattern": IDENT},
        # globs of files beyond pack.yaml, systems.py, prefabs/, scenarios/ and assets/
        # that belong to the pack (hashed into session logs, bundled by `vrmed package`)
        "include": {"type": "array", "items": {"type": "string", "minLength": 1}},
    },
    "additionalProperties": False,
}

PREFAB_FILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "propertyNames": {"pattern": IDENT},
    "additionalProperties": {
        "type": "object",
        "properties": {
            "extends": {"type": "string", "pattern": IDENT},
            "description": {"type": "string"},
            "components": {"type": "object", "additionalProperties": {"type": ["object", "null"]}},
            "visual": _visual,
        },
        "additionalProperties": False,
    },
}

_keyframe = {
    "type": "object",
    "required": ["t"],
    "properties": {
        "t": {"type": "number", "minimum": 0},
        "position": _vec3,
        "orientation": _vec4,
        "buttons": {"type": "object", "additionalProperties": _number},
    },
    "additionalProperties": False,
}

# The scenario language (vrmed.scenario checks names, expressions and reachability).
_expr = {"type": ["string", "boolean", "number"]}
_actions = {"type": "array", "items": {"type": "object"}}
_transition_keys: dict[str, Any] = {
    "to": {"type": "string"},
    "event": {"type": "string"},
    "when": _expr,
    "after": {"type": "number", "minimum": 0},
    "actions": _actions,
    "patient": {"type": "string", "minLength": 1},
}
_transition = {"type": "object", "properties": _transition_keys, "additionalProperties": False}
#: A "from any state" transition (an interrupt): a transition plus the states it skips.
_global_transition = {
    "type": "object",
    "properties": {**_transition_keys, "except": {"type": "array", "items": {"type": "string"}}},
    "additionalProperties": False,
}
_script = {
    "type": "object",
    "required": ["initial", "states"],
    "properties": {
        "initial": {"type": "string"},
        "vars": {"type": "object"},
        "any_state": {"type": "array", "items": _global_transition},
        "states": {
            "type": "object",
            "propertyNames": {"pattern": IDENT},
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "description": {"type": "string"},
                    "on_enter": _actions,
                    "transitions": {"type": "array", "items": _transition},
                    "final": {"type": "boolean"},
                },
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}
_ref = {"type": ["string", "object"]}
_rubric = {
    "type": "object",
    "required": ["rules"],
    "properties": {
        "pass_score": {"type": "number", "minimum": 0, "maximum": 100},
        "rules": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "kind"],
                "properties": {
                    "id": {"type": "string", "pattern": IDENT},
                    "kind": {"type": "string"},
                    "description": {"type": "string"},
                    "points": {"type": "number", "minimum": 0},
                    "critical": {"type": "boolean"},
                    # when_open: must happen once its window opens, not applicable if it never does
                    "required": {"enum": [True, False, "when_open"]},
                    "event": {"type": "string"},
                    "where": _expr,
                    "expect": _expr,
                    "from": _ref,
                    "to": _ref,
                    "within": {"type": "number", "minimum": 0},
                    "min": {"type": "number"},
                    "max": {"type": "number"},
                    "n": {"type": "integer", "minimum": 1},
                    "after_count": {"type": "object"},
                    "active": {"type": "string"},
                    "inactive": {"type": "string"},
                    "active_where": _expr,
                    "inactive_where": _expr,
                    "max_pause": {"type": "number", "minimum": 0},
                    "first": _ref,
                    "then": _ref,
                    "each": {"type": "boolean"},
                    "since_last": {"type": "boolean"},
                    "same": {"type": "string"},
                    "at_least": {"type": "integer", "minimum": 1},
                    "events": {"type": "array", "items": _ref},
                    "distinct": {"type": "string"},
                    "total": {"type": "string"},
                    # whose events the rule reads (default: the scenario's `patient`; `any`)
                    "patient": {"type": "string", "minLength": 1},
                },
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}
_learner = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["t", "event"],
        "properties": {"t": {"type": "number", "minimum": 0}, "event": {"type": "string"}},
    },
}

SCENARIO_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["entities"],
    "properties": {
        "title": {"type": "string"},
        "description": {"type": "string"},
        # at most 4 h: a pack's duration must not make a headless run endless
        "duration": {"type": "number", "exclusiveMinimum": 0, "maximum": 14400},
        "rates": _rates,
        "entities": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "pattern": IDENT},
                    "prefab": {"type": "string", "pattern": IDENT},
                    "components": {"type": "object", "additionalProperties": {"type": ["object", "null"]}},
                    "visual": _visual,
                },
                "additionalProperties": False,
            },
        },
        "input": {
            "type": "object",
            "properties": {
                "scripted": {
                    "type": "object",
                    "propertyNames": {"pattern": IDENT},
                    "additionalProperties": {"type": "array", "items": _keyframe, "minItems": 1},
                },
            },
            "additionalProperties": False,
        },
        "settings": {"type": "object"},
        # the scenario's patient: rules, steps and transitions read its events unless they
        # name another (`patient:`), once a second patient can be in the scene
        "patient": {"type": "string", "pattern": IDENT},
        "uses": {"type": "string", "pattern": IDENT},
        "script": _script,
        "rubric": _rubric,
        "learner": _learner,
        "interaction": INTERACTION_SCHEMA,
    },
    "additionalProperties": False,
}


def _kind(schema: dict[str, Any]) -> str:
    """A short human name of what a schema accepts."""
    if "enum" in schema:
        return " or ".join(str(v).lower() if isinstance(v, bool) else repr(v) for v in schema["enum"])
    kinds = schema.get("type", "any")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    names = {"object": "mapping", "array": "list", "number": "number", "integer": "integer", "string": "string",
             "boolean": "true/false", "null": "null"}  # fmt: skip
    text = " or ".join(names.get(str(k), str(k)) for k in kinds)
    if "array" in kinds and isinstance(schema.get("items"), dict):
        inner = schema["items"]
        if inner.get("type") not in ("object", None) or "enum" in inner:
            one = _kind(inner)
            text = f"list of {one}s" if one.isalpha() else f"list of: {one}"
        if "minItems" in schema and schema.get("minItems") == schema.get("maxItems"):
            text = f"list of {schema['minItems']} {_kind(inner)}s"
        elif schema.get("minItems"):
            text += f" (at least {schema['minItems']})"
    bounds = [
        f"{op} {schema[key]:g}"
        for key, op in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<"))
        if key in schema
    ]
    return text + (f" ({', '.join(bounds)})" if bounds else "")


def _rows(schema: dict[str, Any], path: str, out: list[tuple[str, str, str]]) -> None:
    """(key path, required/optional, kind) for every key of a schema, depth first."""
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict) and "properties" in schema["items"]:
        schema, path = schema["items"], f"{path}[]"
    required = set(schema.get("required", ()))
    for key, sub in (schema.get("properties") or {}).items():
        here = f"{path}.{key}" if path else key
        out.append((here, "required" if key in required else "optional", _kind(sub)))
        _rows(sub, here, out)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict) and ("properties" in extra or extra.get("type") == "array"):
        name = "<name>"
        out.append((f"{path}.{name}" if path else name, "any number", _kind(extra)))
        _rows(extra, f"{path}.{name}" if path else name, out)


def schema_reference() -> str:
    """Markdown tables of every key of pack.yaml, prefab and scenario files: its path, whether
    it is required and what it takes, generated from the schemas the loader checks (so the
    documentation cannot drift: ``python -m vrmed.packs.schema > docs/pack-schema.md``)."""
    parts = [
        "# Pack file keys",
        "",
        "Generated from the JSON Schemas `vrmed validate` checks (`python -m vrmed.packs.schema`); "
        "`tests/test_pack_authoring_docs.py` fails when this page and the schemas differ. A key "
        "path `a.b[].c` is key `c` of each item of list `b`; `<name>` stands for a name you choose. "
        "Semantic checks (names, expressions, files) are described in authoring-packs.md and "
        "scenario-language.md.",
    ]
    for title, schema in (
        ("pack.yaml", PACK_SCHEMA),
        ("prefabs/*.yaml", PREFAB_FILE_SCHEMA),
        ("scenarios/*.yaml", SCENARIO_SCHEMA),
    ):
        rows: list[tuple[str, str, str]] = []
        _rows(schema, "", rows)
        parts += ["", f"## {title}", "", "| key | status | takes |", "|---|---|---|"]
        parts += [f"| `{key}` | {status} | {kind} |" for key, status, kind in rows]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    print(schema_reference(), end="")
