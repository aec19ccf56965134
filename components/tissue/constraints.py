"""Tissue constraints: the protocol every constraint type of the XPBD tissue solver follows,
and the three built-in types (pins, kinematic attachments, frictionless slide planes).

A constraint type is data plus a projection. The data are contiguous numpy arrays named in
``array_fields``; the projection is a numba ``@njit`` kernel the solver calls once per substep
as ``kernel(x, x_prev, inv_mass, frac, h, *arrays)``. A plugin adds a constraint type by
subclassing :class:`TissueConstraint` (see docs/physics.md, "Tissue constraints"), with no
edit to vrmed; instances go into ``SoftBody.constraints`` through ``SoftBody.add_constraint``.

The built-in types are held by every body once each (``body.pins``, ``body.attachment``,
``body.slides``) and projected inside the solver's fused substep kernel
(:mod:`vrmed.systems.tissue.kernels`), so they cost no extra call per substep; they have no
``kernel`` of their own. Units are SI: metres, newtons, seconds; compliance in m/N.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from vrmed.errors import VrmedError

#: dtypes a constraint array may have: numba compiles a kernel once per argument type, so a
#: float32 or int32 array would silently compile (and cache) a second copy.
_ARRAY_DTYPES = (np.dtype(np.float64), np.dtype(np.int64), np.dtype(np.bool_))


class ConstraintError(VrmedError, ValueError):
    """A tissue constraint was given malformed data; the message names the type and the field."""


class TissueConstraint:
    """The tissue-constraint protocol: subclass it (as a dataclass) to add a constraint type.

    Class attributes a subclass sets:

    - ``name``: the type's name (``"patch_attachment"``), used in errors and by the App's
      registry (:func:`vrmed.systems.tissue.solver.register_tissue_constraint`);
    - ``array_fields``: the attributes passed to the kernel, in order (numpy arrays of
      float64, int64 or bool, C-contiguous, or plain numbers);
    - ``kernel``: an ``@njit(cache=True)`` function
      ``kernel(x, x_prev, inv_mass, frac, h, *arrays)`` projecting the constraint once per
      substep, in place on ``x`` (n, 3). ``x_prev`` holds the positions at the start of the
      substep, ``inv_mass`` (n, 3) the per-axis inverse masses (0 = held), ``frac`` in (0, 1]
      how far through the current ``step_softbody`` call this substep ends (for targets that
      move linearly over a frame) and ``h`` the substep in seconds. One XPBD iteration per
      substep: Lagrange multipliers start at zero, so a soft constraint with compliance
      ``alpha`` (m/N) updates ``dlam = -C / (w + alpha / h^2)`` and exerts ``dlam / h^2`` N.

    Methods a subclass may override: :meth:`validate` (call ``super().validate(n)`` first),
    :meth:`hold` (zero the inverse mass of axes the constraint drives kinematically) and
    :meth:`end_step` (after the last substep of a step, e.g. to make the target the new start).
    Every array must be allocated once (at construction); the kernel must not allocate.
    """

    name: ClassVar[str] = ""
    array_fields: ClassVar[tuple[str, ...]] = ()
    kernel: ClassVar[Callable[..., None] | None] = None
    #: True only for vrmed's own types that the solver integrates inside its compiled step
    #: (ligament patches: :mod:`vrmed.components.tissue.ligament`); they need no ``kernel``. The
    #: solver refuses any other type that sets it.
    solved_in_step: ClassVar[bool] = False

    def arrays(self) -> tuple[Any, ...]:
        """The kernel's data arguments, in ``array_fields`` order."""
        return tuple(getattr(self, f) for f in self.array_fields)

    def validate(self, n_vertices: int) -> None:
        """Raise :class:`ConstraintError` naming the field if the data cannot be projected on a body
        of ``n_vertices`` vertices. The base checks each array field's type, dtype and layout."""
        for f in self.array_fields:
            value = getattr(self, f, None)
            if isinstance(value, np.ndarray):
                if value.dtype not in _ARRAY_DTYPES:
                    raise self.error(f, f"dtype {value.dtype} is not float64, int64 or bool")
                if not value.flags.c_contiguous:
                    raise self.error(f, "must be C-contiguous (use np.ascontiguousarray)")
            elif not isinstance(value, (int, float)):  # bool is an int
                raise self.error(f, f"expected a numpy array or a number, got {type(value).__name__}")

    def hold(self, inv_mass: np.ndarray) -> None:
        """Zero ``inv_mass`` (n, 3) on the axes this constraint places kinematically (default: none)."""

    def end_step(self) -> None:
        """Called after the last substep of every ``step_softbody`` call (default: nothing)."""

    # -- helpers for validate() ----------------------------------------------------------
    def error(self, field: str, message: str) -> ConstraintError:
        """A :class:`ConstraintError` naming this constraint type and ``field``."""
        return ConstraintError(f"{self.name or type(self).__name__} constraint: {field}: {message}")

    def check_indices(self, field: str, n_vertices: int) -> None:
        """``field`` must be a 1-D int64 array of vertex indices in [0, n_vertices)."""
        idx = getattr(self, field)
        if not isinstance(idx, np.ndarray) or idx.ndim != 1 or idx.dtype != np.int64:
            raise self.error(field, f"expected a 1-D int64 array of vertex indices, got {_describe(idx)}")
        bad = _range_message(idx, n_vertices)
        if bad:
            raise self.error(field, bad)

    def check_shape(self, field: str, shape: tuple[int, ...], dtype: Any = np.float64) -> None:
        """``field`` must be an array of exactly ``shape`` and ``dtype``, with finite values if float."""
        arr = getattr(self, field)
        if not isinstance(arr, np.ndarray) or arr.shape != shape or arr.dtype != np.dtype(dtype):
            raise self.error(field, f"expected a {np.dtype(dtype)} array of shape {shape}, got {_describe(arr)}")
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise self.error(field, "contains NaN or infinite values")

    def check_compliance(self, field: str) -> None:
        """``field`` (m/N, array or number) must be finite and >= 0 (0 = rigid)."""
        value = np.asarray(getattr(self, field), dtype=np.float64)
        if not np.all(np.isfinite(value)) or np.any(value < 0):
            raise self.error(field, "compliance must be finite and >= 0 m/N (0 = rigid)")

    @classmethod
    def check_type(cls) -> None:
        """Raise :class:`ConstraintError` unless the class implements the protocol (at registration)."""
        where = f"{cls.__module__}.{cls.__qualname__}"
        if not isinstance(cls.name, str) or not cls.name.isidentifier():
            raise ConstraintError(f"{where}: name must be a non-empty identifier string, got {cls.name!r}")
        fields = cls.array_fields
        if not isinstance(fields, tuple) or not all(isinstance(f, str) for f in fields):
            raise ConstraintError(f"{where}: array_fields must be a tuple of attribute names")
        if cls in BUILTIN_CONSTRAINTS or cls.solved_in_step:
            return  # inside the fused substep kernel
        kernel = cls.kernel
        if not callable(kernel) or not hasattr(kernel, "py_func"):  # py_func: a numba dispatcher
            raise ConstraintError(
                f"{where}: kernel must be a numba @njit function kernel(x, x_prev, inv_mass, frac, h, "
                f"*arrays), got {kernel!r}"
            )


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    return type(value).__name__


def _indices(indices: np.ndarray | list[int] | int, where: str) -> np.ndarray:
    """``indices`` as a contiguous int64 array; :class:`ConstraintError` (``where``: the
    constraint) for anything but whole numbers (0.5 would silently become vertex 0)."""
    raw = np.asarray(indices)
    whole = raw.dtype.kind in "iu" or (
        raw.dtype.kind == "f" and bool(np.all(np.isfinite(raw))) and bool(np.all(raw == np.round(raw)))
    )
    if raw.size and not whole:
        raise ConstraintError(f"{where} constraint: indices: vertex indices must be whole numbers, got {indices!r}")
    return np.ascontiguousarray(raw.astype(np.int64).ravel())


def finite_targets(targets: Any, shape: tuple[int, ...], where: str) -> np.ndarray:
    """``targets`` as a float64 array of ``shape`` with finite values, or :class:`ConstraintError`
    naming ``where`` (a NaN from a lost tracker would otherwise spread through the body)."""
    try:
        arr = np.asarray(targets, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConstraintError(f"{where}: expected numbers (m), got {targets!r}") from None
    if arr.size != int(np.prod(shape)) and arr.size != 1:
        raise ConstraintError(f"{where}: expected shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ConstraintError(f"{where}: contains NaN or infinite values; give finite positions in m")
    return arr if arr.size == 1 else arr.reshape(shape)


def _range_message(idx: np.ndarray, n_vertices: int) -> str | None:
    """Why ``idx`` is not a valid set of vertex indices for ``n_vertices`` vertices, or None."""
    if idx.size and (idx.min() < 0 or idx.max() >= n_vertices):
        bad = int(idx[(idx < 0) | (idx >= n_vertices)][0])
        return f"vertex index {bad} is out of range (the body has {n_vertices} vertices)"
    return None


@dataclass(eq=False)
class PinConstraint(TissueConstraint):
    """Vertices fixed in space: ``pinned`` (n,) bool. Zero inverse mass on every axis, so the
    predictor and the tet solve never move them; nothing to project."""

    name = "pin"
    array_fields = ("pinned",)

    pinned: np.ndarray

    @classmethod
    def empty(cls, n_vertices: int = 0) -> PinConstraint:
        """No vertex pinned."""
        return cls(np.zeros(n_vertices, dtype=bool))

    def validate(self, n_vertices: int) -> None:
        """``pinned`` must be a bool mask with one entry per vertex."""
        super().validate(n_vertices)
        self.check_shape("pinned", (n_vertices,), np.bool_)

    def set(self, indices: np.ndarray | list[int], pinned: bool = True) -> None:
        """Pin (or release) vertices; raises :class:`ConstraintError` for an index out of range."""
        idx = _indices(indices, "pin")
        bad = _range_message(idx, self.pinned.shape[0])
        if bad:
            raise self.error("indices", bad)
        self.pinned[idx] = pinned

    def hold(self, inv_mass: np.ndarray) -> None:
        """Pinned vertices: zero inverse mass on all axes."""
        inv_mass[self.pinned] = 0.0


@dataclass(eq=False)
class AttachmentConstraint(TissueConstraint):
    """Vertices driven kinematically (e.g. grasped by a tool): ``indices`` (k,), and per
    vertex ``start`` / ``target`` (k, 3) in m. Over each ``step_softbody`` call the vertices
    travel linearly from where they are (``start``, captured at the start of the step) to
    ``target`` (``x = start + frac (target - start)`` after each substep's prediction)."""

    name = "attachment"
    array_fields = ("indices", "start", "target")

    indices: np.ndarray
    start: np.ndarray
    target: np.ndarray

    @classmethod
    def empty(cls) -> AttachmentConstraint:
        """No attached vertex."""
        return cls(np.zeros(0, dtype=np.int64), np.zeros((0, 3)), np.zeros((0, 3)))

    @classmethod
    def at(cls, x: np.ndarray, indices: np.ndarray | list[int], targets: Any = None) -> AttachmentConstraint:
        """Attach ``indices`` of a body with positions ``x`` (n, 3); ``targets`` (k, 3) default to
        where the vertices are. Raises :class:`ConstraintError` naming the bad field."""
        idx = _indices(indices, "attachment")
        bad = _range_message(idx, x.shape[0])
        if bad:
            raise ConstraintError(f"attachment constraint: indices: {bad}")
        here = np.ascontiguousarray(x[idx])
        if targets is None:
            target = here.copy()
        else:
            target = np.array(targets, dtype=np.float64)
            if target.size != idx.size * 3:
                raise ConstraintError(
                    f"attachment constraint: targets: {idx.size} vertices but targets of shape {target.shape}"
                )
            target = np.ascontiguousarray(finite_targets(target, (idx.size, 3), "attachment constraint: targets"))
        return cls(idx, here, target)

    def validate(self, n_vertices: int) -> None:
        """Indices in range; ``start`` and ``target`` (k, 3) finite."""
        super().validate(n_vertices)
        self.check_indices("indices", n_vertices)
        k = self.indices.shape[0]
        self.check_shape("start", (k, 3))
        self.check_shape("target", (k, 3))

    def hold(self, inv_mass: np.ndarray) -> None:
        """Attached vertices: zero inverse mass on all axes (their position is prescribed)."""
        inv_mass[self.indices] = 0.0


@dataclass(eq=False)
class SlideConstraint(TissueConstraint):
    """Frictionless planes ``x[indices[k], axis[k]] = value`` (contact with a rigid plate, a
    symmetry plane): the held coordinate has zero inverse mass and is placed at
    ``start + frac (target - start)`` after each substep's prediction; the other two axes
    are free. ``end_step`` makes the target the next step's start."""

    name = "slide"
    array_fields = ("indices", "axis", "start", "target")

    indices: np.ndarray
    axis: np.ndarray
    start: np.ndarray
    target: np.ndarray

    @classmethod
    def empty(cls) -> SlideConstraint:
        """No slide plane."""
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z.copy(), np.zeros(0), np.zeros(0))

    def validate(self, n_vertices: int) -> None:
        """Indices in range; ``axis`` in {0, 1, 2}; ``start``/``target`` (k,) finite."""
        super().validate(n_vertices)
        self.check_indices("indices", n_vertices)
        k = self.indices.shape[0]
        self.check_shape("axis", (k,), np.int64)
        if k and (self.axis.min() < 0 or self.axis.max() > 2):
            bad = int(self.axis[(self.axis < 0) | (self.axis > 2)][0])
            raise self.error("axis", f"axis must be 0, 1 or 2 (x, y, z), got {bad}")
        self.check_shape("start", (k,))
        self.check_shape("target", (k,))

    def added(self, x: np.ndarray, indices: np.ndarray | list[int], axis: int, value: float | None) -> SlideConstraint:
        """A new slide set with ``indices`` held on ``x[:, axis] = value`` (default: where they are)
        appended; raises :class:`ConstraintError` naming the bad field (nothing is changed then)."""
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not 0 <= int(axis) <= 2:
            raise self.error("axis", f"axis must be 0, 1 or 2 (x, y, z), got {axis!r}")
        idx = _indices(indices, "slide")
        bad = _range_message(idx, x.shape[0])
        if bad:
            raise self.error("indices", bad)
        if value is None:
            vals = x[idx, int(axis)].copy()
        else:
            if not np.isfinite(value):
                raise self.error("value", f"plane coordinate must be finite, got {value!r}")
            vals = np.full(idx.size, float(value))
        return SlideConstraint(
            np.concatenate([self.indices, idx]),
            np.concatenate([self.axis, np.full(idx.size, int(axis), dtype=np.int64)]),
            np.concatenate([self.start, vals]),
            np.concatenate([self.target, vals]),
        )

    def hold(self, inv_mass: np.ndarray) -> None:
        """Zero inverse mass on each slide's held axis."""
        inv_mass[self.indices, self.axis] = 0.0

    def end_step(self) -> None:
        """The plane reached its target: that is where the next step starts."""
        if self.indices.size:
            self.start[:] = self.target


#: The constraint types every body has (one instance each), projected inside the fused kernel.
BUILTIN_CONSTRAINTS: tuple[type[TissueConstraint], ...] = (PinConstraint, AttachmentConstraint, SlideConstraint)
