"""Conditions and values in scenario scripts and rubrics: a small, safe expression language.

Expressions use Python syntax but only these forms: numbers, strings, true/false
(``True``/``False`` or ``true``/``false``), names and dotted names (``patient.etco2``,
``vars.shocks``, ``event.drug``), lists of constants, arithmetic ``+ - * /``, comparisons
``== != < <= > >= in, not in``, ``and``, ``or``, ``not`` and unary minus. They are parsed
once at load time (so unknown names are reported with file and line) and evaluated by
walking the tree: nothing is ever passed to ``eval``.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import VrmedError


class ExprError(VrmedError):
    """An expression is malformed or uses a form the language does not allow."""


_CMP: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_BIN: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_LITERAL_NAMES = {"true": True, "false": False, "True": True, "False": False, "none": None, "None": None}


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


@dataclass(frozen=True)
class Expr:
    """A parsed expression: its source text, tree and the dotted names it reads."""

    text: str
    tree: ast.Expression = field(repr=False, compare=False)
    names: tuple[str, ...] = ()

    def evaluate(self, lookup: Callable[[str], Any]) -> Any:
        """Evaluate with ``lookup(name)`` giving each dotted name's value."""
        return _eval(self.tree.body, lookup)


def compile_expr(source: Any) -> Expr:
    """Parse an expression (a YAML scalar: a string, number or boolean) or raise ExprError."""
    if isinstance(source, bool) or isinstance(source, (int, float)):
        text = repr(source)
    elif isinstance(source, str):
        text = source.strip()
    else:
        raise ExprError(f"expected an expression (a string), got {type(source).__name__}")
    if not text:
        raise ExprError("empty expression")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"invalid expression {text!r}: {exc.msg}") from None
    names: list[str] = []
    _check(tree.body, text, names)
    return Expr(text, tree, tuple(dict.fromkeys(names)))


def _check(node: ast.AST, text: str, names: list[str]) -> None:
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, (int, float, str, bool)) and node.value is not None:
            raise ExprError(f"invalid expression {text!r}: constants must be numbers or strings")
        return
    if isinstance(node, (ast.Name, ast.Attribute)):
        dotted = _dotted(node)
        if dotted is None:
            raise ExprError(f"invalid expression {text!r}: only plain dotted names may be read")
        if dotted not in _LITERAL_NAMES:
            names.append(dotted)
        return
    if isinstance(node, (ast.List, ast.Tuple)):
        for elt in node.elts:
            if not isinstance(elt, ast.Constant):
                raise ExprError(f"invalid expression {text!r}: list items must be constants")
        return
    if isinstance(node, ast.BoolOp):
        for v in node.values:
            _check(v, text, names)
        return
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
        _check(node.operand, text, names)
        return
    if isinstance(node, ast.BinOp) and type(node.op) in _BIN:
        _check(node.left, text, names)
        _check(node.right, text, names)
        return
    if isinstance(node, ast.Compare) and all(type(op) in _CMP for op in node.ops):
        _check(node.left, text, names)
        for c in node.comparators:
            _check(c, text, names)
        return
    raise ExprError(
        f"invalid expression {text!r}: {type(node).__name__} is not allowed "
        f"(use names, constants, + - * /, comparisons, and, or, not)"
    )


def _eval(node: ast.AST, lookup: Callable[[str], Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.Name, ast.Attribute)):
        dotted = _dotted(node)
        assert dotted is not None
        if dotted in _LITERAL_NAMES:
            return _LITERAL_NAMES[dotted]
        return lookup(dotted)
    if isinstance(node, (ast.List, ast.Tuple)):
        return [e.value for e in node.elts]  # type: ignore[attr-defined]
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            result: Any = True
            for v in node.values:
                result = _eval(v, lookup)
                if not result:
                    return result
            return result
        result = False
        for v in node.values:
            result = _eval(v, lookup)
            if result:
                return result
        return result
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, lookup)
        return (not value) if isinstance(node.op, ast.Not) else -value
    if isinstance(node, ast.BinOp):
        return _BIN[type(node.op)](_eval(node.left, lookup), _eval(node.right, lookup))
    if isinstance(node, ast.Compare):
        left = _eval(node.left, lookup)
        for op, comp in zip(node.ops, node.comparators):
            right = _eval(comp, lookup)
            if not _CMP[type(op)](left, right):
                return False
            left = right
        return True
    raise ExprError(f"cannot evaluate {type(node).__name__}")


def mapping_lookup(values: Mapping[str, Any]) -> Callable[[str], Any]:
    """A lookup over a flat mapping of dotted names (KeyError for a missing one)."""
    return values.__getitem__
