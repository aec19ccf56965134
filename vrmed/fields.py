"""Field helpers for components that content packs can set from YAML.

Components are plain dataclasses. Fields typed ``float``, ``int``, ``bool``, ``str``,
``list[...]``, ``dict[str, ...]``, ``X | None``, a nested dataclass, :class:`AssetPath`
or a numpy array declared with :func:`array_field` are settable from YAML and checked on
load (with the file, line and key of any mistake).
"""

from __future__ import annotations

import math
import numbers
import typing
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")

#: Marker attributes set by :func:`component` and :func:`system`, read back by the pack loader
#: (set with setattr: a type cannot declare an attribute added to any class or function).
_COMPONENT_MARK = "__vrmed_component__"
_SYSTEM_MARK = "__vrmed_system__"


class AssetPath(str):
    """A path to a pack asset. In YAML it is relative to the pack folder; on load it is
    checked to exist and becomes an absolute path. ``relative`` keeps the path as the pack
    wrote it: session state and digests use that, so a session replays identically wherever
    the pack is installed."""

    relative: str

    def __new__(cls, path: str, relative: str | None = None) -> AssetPath:
        obj = super().__new__(cls, path)
        obj.relative = path if relative is None else relative
        return obj


def real_number(
    value: object, what: str, error: type[Exception] = ValueError, *, minimum: float = -math.inf, above: bool = False
) -> float:
    """``value`` as a float; ``error`` naming ``what`` (and its unit, as the caller writes it)
    unless it is a finite real number (not a bool, not text) ``>= minimum`` (``> minimum`` with
    ``above``). For component and API arguments a user may type wrong: one clear error where a
    raw ``TypeError`` from a comparison, or a NaN that spreads through a simulation, would come."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise error(f"{what} must be a number, got {value!r} ({type(value).__name__})")
    number = float(value)
    bound = "above" if above else "at least"
    if not math.isfinite(number) or number < minimum or (above and number == minimum):
        raise error(f"{what} must be a finite number {bound} {minimum:g}, got {value!r}")
    return number


def finite_vector(value: object, what: str, error: type[Exception] = ValueError, size: int = 3) -> np.ndarray:
    """``value`` as a float64 vector of ``size`` finite numbers, or ``error`` naming ``what``."""
    try:
        vector = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise error(f"{what} must be {size} numbers, got {value!r}") from None
    if vector.shape != (size,) or not np.all(np.isfinite(vector)):
        raise error(f"{what} must be {size} finite numbers, got {value!r}")
    return vector


@dataclass(frozen=True)
class ArraySpec:
    """Expected shape (``None`` = any length on that axis) and dtype of an array field."""

    shape: tuple[int | None, ...]
    dtype: Any = np.float64
    #: A single number is accepted too and fills every element (a uniform scale).
    uniform: bool = False


def array_field(shape: Sequence[int | None], default: Any = None, dtype: Any = np.float64) -> Any:
    """A numpy array field of a given shape, settable from YAML as nested lists.

    ``default`` is copied for every instance (never shared between components).
    """
    spec = ArraySpec(tuple(shape), dtype)
    if default is None:
        if any(s is None for s in spec.shape):
            default = np.zeros([0 if s is None else s for s in spec.shape])
        else:
            default = np.zeros(spec.shape)
    proto = np.array(default, dtype=dtype)
    return field(default_factory=lambda: proto.copy(), metadata={"vrmed_array": spec})


def vec3(x: float = 0.0, y: float = 0.0, z: float = 0.0) -> Any:
    """A 3-vector field (float64) with a default value."""
    return array_field((3,), (x, y, z))


def scale3(default: float = 1.0) -> Any:
    """A scale field: per-axis factors (x, y, z), settable from YAML as a list of three
    numbers or as one number for a uniform scale (the one rule for every scale-like field,
    e.g. ``Transform.scale`` and ``VisualMesh.scale``)."""
    spec = ArraySpec((3,), np.float64, uniform=True)
    proto = np.full(3, float(default))
    return field(default_factory=lambda: proto.copy(), metadata={"vrmed_array": spec})


def as_scale(value: Any) -> np.ndarray:
    """A scale as a float64 3-vector: a number is uniform, three numbers are per axis."""
    return np.broadcast_to(np.asarray(value, dtype=np.float64), (3,)).copy()


def quat(w: float = 1.0, x: float = 0.0, y: float = 0.0, z: float = 0.0) -> Any:
    """A unit-quaternion field (w, x, y, z) with a default value."""
    return array_field((4,), (w, x, y, z))


def component(cls: type[T]) -> type[T]:
    """Mark a dataclass defined in a pack's ``systems.py`` as a component usable in YAML."""
    setattr(cls, _COMPONENT_MARK, True)
    return cls


def system(
    stage: str | None = None,
    *,
    name: str | None = None,
    in_set: str | None = None,
    after: str | Sequence[str] = (),
    before: str | Sequence[str] = (),
    priority: int = 0,
) -> Callable[[Callable], Callable]:
    """Mark a function ``f(app)`` in a pack's ``systems.py`` as a system, with its scheduling.

    The pack enables it by listing its name (``name`` or the function name) under
    ``systems:`` in ``pack.yaml``.
    """

    def mark(func: Callable) -> Callable:
        meta = {
            "stage": stage,
            "name": name or func.__name__,
            "in_set": in_set,
            "after": after,
            "before": before,
            "priority": priority,
        }
        setattr(func, _SYSTEM_MARK, meta)
        return func

    return mark


#: Resolved annotations per class. A memo, not state: ``typing.get_type_hints`` compiles each
#: string annotation, and loading and checking a pack asks for the same few component and
#: event classes thousands of times (~25 % of loading the built-in packs). Weak keys: a
#: hot-reloaded class is a new key and a dropped one is forgotten.
_HINTS: weakref.WeakKeyDictionary[type, dict[str, Any]] = weakref.WeakKeyDictionary()


def type_hints(cls: type) -> dict[str, Any]:
    """``typing.get_type_hints(cls)``, resolved once per class (the dict is shared: do not
    change it). Raises what ``get_type_hints`` raises for an unresolvable annotation."""
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints
