"""JSON Schemas for pack files (checked with ``jsonschema`` before any semantic check)."""

from __future__ import annotations

from typing import Any

IDENT = r"^[A-Za-z_][A-Za-z0-9_.-]*$"
_number = {"type": "number"}
_vec3 = {"type": "array", "items": _number, "minItems": 3, "maxItems": 3}
_vec4 = {"type": "array", "items": _number, "minItems": 4, "maxItems": 4}
_rates = {
    "type": "object",
    "properties": {"display": {"type": "number", "exclusiveMinimum": 0},
                   **{s: {"type": ["number", "null"], "exclusiveMinimum": 0}
                      for s in ("input", "control", "physics", "logic", "record", "render")}},
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
                },
                "additionalProperties": False,
            },
        },
        "input": {
            "type": "object",
            "properties": {
                "scripted": {"type": "object", "propertyNames": {"pattern": IDENT},
                             "additionalProperties": {"type": "array", "items": _keyframe, "minItems": 1}},
            },
            "additionalProperties": False,
        },
        "settings": {"type": "object"},
    },
    "additionalProperties": False,
}
