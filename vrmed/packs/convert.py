"""Turn YAML values into typed component fields, with precise error messages."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..fields import ArraySpec, AssetPath, type_hints


class FieldError(Exception):
    """A value did not match its field; ``subpath`` locates it below the field's key."""

    def __init__(self, message: str, subpath: tuple[Any, ...] = (), missing: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.subpath = subpath
        self.missing = missing


@dataclass(frozen=True)
class ConvertContext:
    """What conversion needs from the pack: its folder, for asset paths."""

    root: Path


def describe(value: Any) -> str:
    """A short description of a YAML value for error messages."""
    if value is None:
        return "nothing (null)"
    kind = {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "mapping"}.get(
        type(value), type(value).__name__
    )
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{kind} {text}"


def type_name(annotation: Any, meta: dict[str, Any] | None = None) -> str:
    """Human name of an expected type."""
    spec = (meta or {}).get("vrmed_array")
    if spec is not None:
        dims = "x".join("N" if s is None else str(s) for s in spec.shape)
        if spec.uniform:
            return f"a number (uniform) or a list of {dims} numbers"
        return f"a list of {dims} numbers" if len(spec.shape) == 1 else f"a {dims} nested list of numbers"
    if annotation is float:
        return "a number"
    if annotation is int:
        return "an integer"
    if annotation is bool:
        return "true or false"
    if annotation is AssetPath:
        return "a file path relative to the pack"
    if annotation is str:
        return "a string"
    origin = annotation if annotation in (dict, list, tuple) else typing.get_origin(annotation)
    if origin in (list, tuple):
        return "a list"
    if origin is dict:
        return "a mapping"
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return f"a mapping of {annotation.__name__} fields"
    return getattr(annotation, "__name__", str(annotation))


def convert(value: Any, annotation: Any, meta: dict[str, Any], ctx: ConvertContext) -> Any:
    """Convert ``value`` to ``annotation`` (raising :class:`FieldError`)."""
    spec: ArraySpec | None = meta.get("vrmed_array")
    if spec is not None:
        return _array(value, spec)
    # bare ``dict``/``list``/``tuple`` annotations are mappings and lists of anything
    origin = annotation if annotation in (dict, list, tuple) else typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return convert(value, arg, {}, ctx)
            except FieldError as exc:
                errors.append(exc)
        raise (
            errors[0]
            if len(errors) == 1
            else FieldError(
                f"expected {' or '.join(type_name(a) for a in args if a is not type(None))}, got {describe(value)}"
            )
        )
    if annotation is Any:
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise FieldError(f"expected true or false, got {describe(value)}")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise FieldError(f"expected an integer, got {describe(value)}")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise FieldError(f"expected a finite number, got {describe(value)}")
            return float(value)
        raise FieldError(f"expected a number, got {describe(value)}{_exponent_hint(value)}")
    if annotation is AssetPath:
        if not isinstance(value, str) or not value:
            raise FieldError(f"expected a file path relative to the pack, got {describe(value)}")
        path = contained_asset(ctx.root, value)
        if not path.is_file():
            raise FieldError(
                f"file not found: {value!r} (looked for {path}); put the file in the "
                f"pack or fix the path, which is relative to the pack folder"
            )
        return AssetPath(str(path), relative=str(value))
    if annotation is str:
        if isinstance(value, str):
            return value
        raise FieldError(f"expected a string, got {describe(value)}")
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise FieldError(f"expected a list, got {describe(value)}")
        args = typing.get_args(annotation)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise FieldError(f"expected a list of {len(args)} items, got {len(value)}")
            item_types = list(args)
        else:
            item_types = [args[0] if args else Any] * len(value)
        out = []
        for i, (item, t) in enumerate(zip(value, item_types)):
            try:
                out.append(convert(item, t, {}, ctx))
            except FieldError as exc:
                raise FieldError(exc.message, (i,) + exc.subpath) from None
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise FieldError(f"expected a mapping, got {describe(value)}")
        kt, vt = (typing.get_args(annotation) + (Any, Any))[:2]
        result = {}
        for k, v in value.items():
            try:
                result[convert(k, kt, {}, ctx)] = convert(v, vt, {}, ctx)
            except FieldError as exc:
                raise FieldError(exc.message, (k,) + exc.subpath) from None
        return result
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise FieldError(f"expected a mapping of {annotation.__name__} fields, got {describe(value)}")
        return build_dataclass(annotation, value, ctx)
    raise FieldError(f"this field ({type_name(annotation)}) cannot be set from YAML")


def _exponent_hint(value: Any) -> str:
    """A hint for the YAML 1.1 trap: ``2.0e6`` (no sign after the e) is read as text."""
    if not isinstance(value, str):
        return ""
    mantissa, e, exponent = value.strip().lower().partition("e")
    try:
        float(value)
    except ValueError:
        return ""
    if not e or exponent.startswith(("+", "-")):
        return ""
    return f" (YAML reads {value} as text: write {mantissa}e+{exponent}, with a sign after the e)"


def contained_asset(root: Path, value: str) -> Path:
    """The file ``value`` names inside the pack folder ``root``, resolved.

    Pack content is untrusted: an asset path must stay inside its pack, so ``..``
    components, absolute paths (``/etc/passwd``, ``C:\\x``, ``~/x``) and symlinks that
    resolve outside the pack are refused (a pack could otherwise read, or make vrmed
    render or ship, any file the user can read). Special files (FIFOs, devices) are
    refused too: reading one can block forever.
    """
    if "\x00" in value:
        raise FieldError(f"asset path {value!r} contains a NUL character")
    pure = Path(value.replace("\\", "/"))
    if pure.is_absolute() or value.startswith(("/", "\\", "~")) or (len(value) > 1 and value[1] == ":"):
        raise FieldError(f"asset path {value!r} is absolute; asset paths are relative to the pack folder")
    if ".." in pure.parts:
        raise FieldError(f"asset path {value!r} leaves the pack folder (..); keep assets inside the pack")
    base = root.resolve()
    path = (base / pure).resolve()
    if path != base and base not in path.parents:
        raise FieldError(
            f"asset path {value!r} resolves to {path}, outside the pack folder (a symlink?); "
            f"copy the file into the pack instead"
        )
    if path.exists() and not path.is_file() and not path.is_dir():
        raise FieldError(f"asset path {value!r} is not a regular file (a FIFO or device?)")
    return path


def build_dataclass(cls: type, data: dict[str, Any], ctx: ConvertContext) -> Any:
    """Build a dataclass from a mapping: unknown keys, missing required fields and wrong
    types raise :class:`FieldError` with the offending key as subpath."""
    hints = type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            known = ", ".join(sorted(fields)) or "none"
            raise FieldError(f"unknown field for {cls.__name__} (known fields: {known})", (key,))
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            try:
                kwargs[name] = convert(data[name], hints.get(name, Any), dict(f.metadata), ctx)
            except FieldError as exc:
                raise FieldError(exc.message, (name,) + exc.subpath, exc.missing) from None
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise FieldError(
                f"missing required field {name!r} ({type_name(hints.get(name), dict(f.metadata))})", missing=True
            )
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        raise FieldError(f"invalid {cls.__name__}: {exc}") from None


def _array(value: Any, spec: ArraySpec) -> np.ndarray:
    expected = type_name(None, {"vrmed_array": spec})
    if spec.uniform and isinstance(value, (int, float)) and not isinstance(value, bool):
        # one number fills every element (a uniform scale); the finiteness check below applies
        value = np.full([1 if s is None else s for s in spec.shape], value).tolist()
    try:
        arr = np.array(value, dtype=spec.dtype)
    except (TypeError, ValueError):
        raise FieldError(f"expected {expected}, got {describe(value)}") from None
    if (
        isinstance(value, bool)
        or arr.ndim != len(spec.shape)
        or any(s is not None and s != n for s, n in zip(spec.shape, arr.shape))
    ):
        raise FieldError(f"expected {expected}, got {describe(value)}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise FieldError(f"expected finite numbers, got {describe(value)}")
    return np.ascontiguousarray(arr)
