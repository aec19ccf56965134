"""JSON Schemas for pack files (checked with ``jsonschema`` before any semantic check)."""

from __future__ import annotations

from typing import Any

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
_transition = {
    "type": "object",
    "properties": {
        "to": {"type": "string"},
        "event": {"type": "string"},
        "when": _expr,
        "after": {"type": "number", "minimum": 0},
        "actions": _actions,
    },
    "additionalProperties": False,
}
_script = {
    "type": "object",
    "required": ["initial", "states"],
    "properties": {
        "initial": {"type": "string"},
        "vars": {"type": "object"},
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
                    "required": {"type": "boolean"},
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
        "duration": {"type": "number", "exclusiveMinimum": 0},
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
        "uses": {"type": "string", "pattern": IDENT},
        "script": _script,
        "rubric": _rubric,
        "learner": _learner,
    },
    "additionalProperties": False,
}
