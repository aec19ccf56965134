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
#: Bounds on untrusted pack expressions: source length, syntax-tree size, and the length
#: of a string or list a ``*`` may build (``'a' * 10**9`` would exhaust memory).
MAX_EXPR_CHARS = 2000
MAX_EXPR_NODES = 400
MAX_SEQUENCE_LEN = 10_000


def _mul(a: Any, b: Any) -> Any:
    for seq, n in ((a, b), (b, a)):
        if isinstance(seq, (str, list)) and isinstance(n, int) and len(seq) * max(n, 0) > MAX_SEQUENCE_LEN:
            raise ExprError(f"a repeated string or list longer than {MAX_SEQUENCE_LEN} items")
    return operator.mul(a, b)


def _add(a: Any, b: Any) -> Any:
    if isinstance(a, (str, list)) and isinstance(b, (str, list)) and len(a) + len(b) > MAX_SEQUENCE_LEN:
        raise ExprError(f"a string or list longer than {MAX_SEQUENCE_LEN} items")
    return operator.add(a, b)


_BIN: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: _add,
    ast.Sub: operator.sub,
    ast.Mult: _mul,
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
        """Evaluate with ``lookup(name)`` giving each dotted name's value; a value that
        cannot be computed (``1/0``, ``'a' < 1``, an oversized string) is an ExprError
        naming the expression, never a raw exception."""
        try:
            return _eval(self.tree.body, lookup)
        except ExprError as exc:
            raise ExprError(f"expression {self.text!r}: {exc}") from None
        except (ZeroDivisionError, TypeError, OverflowError, ValueError, MemoryError) as exc:
            raise ExprError(f"expression {self.text!r} cannot be evaluated: {exc}") from None


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
    if len(text) > MAX_EXPR_CHARS:
        raise ExprError(f"expression of {len(text)} characters; expressions are limited to {MAX_EXPR_CHARS}")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"invalid expression {text[:80]!r}: {exc.msg}") from None
    except (RecursionError, MemoryError, ValueError):
        raise ExprError(f"invalid expression {text[:80]!r}: nested too deeply") from None
    size = sum(1 for _ in ast.walk(tree))
    if size > MAX_EXPR_NODES:
        raise ExprError(
            f"expression {text[:60]!r}... has {size} parts; expressions are limited to {MAX_EXPR_NODES} (split it)"
        )
    names: list[str] = []
    _check(tree.body, text, names)
    expr = Expr(text, tree, tuple(dict.fromkeys(names)))
    if not expr.names:  # constants only: evaluate now, so `1/0` or `'a' < 1` fails at load time
        expr.evaluate(lambda name: None)
    return expr


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


#: Kinds the static check distinguishes ("any": unknown, never a problem).
KINDS = ("num", "str", "bool", "seq", "any")


def kind_of_annotation(annotation: Any) -> str:
    """The expression kind of an event field's type annotation (``float`` -> "num")."""
    import typing  # deferred: only validation needs annotations resolved

    if annotation in (int, float, "int", "float"):
        return "num"
    if annotation in (str, "str"):
        return "str"
    if annotation in (bool, "bool"):
        return "bool"
    if typing.get_origin(annotation) in (tuple, list) or annotation in (tuple, list):
        return "seq"
    return "any"


def type_problems(expr: Expr, kinds: Mapping[str, str]) -> list[str]:
    """Static type problems of ``expr`` given the kinds of the names it reads (names not in
    ``kinds`` are "any"): comparing or combining a number with a text (``'a' < 1``,
    ``drug == 3``), arithmetic on texts, ``in`` over a number, a list of the wrong kind of
    values. Found at validation time, so they never fail (or silently never match) at run
    time."""
    problems: list[str] = []

    def kind(node: ast.AST) -> str:
        if isinstance(node, ast.Constant):
            v = node.value
            return (
                "bool"
                if isinstance(v, bool)
                else "num"
                if isinstance(v, (int, float))
                else "str"
                if isinstance(v, str)
                else "any"
            )
        if isinstance(node, (ast.Name, ast.Attribute)):
            name = _dotted(node)
            if name in _LITERAL_NAMES:
                return "bool" if isinstance(_LITERAL_NAMES[name], bool) else "any"
            return kinds.get(name or "", "any")
        if isinstance(node, (ast.List, ast.Tuple)):
            return "seq"
        if isinstance(node, ast.BoolOp):
            for operand in node.values:
                kind(operand)
            return "any"
        if isinstance(node, ast.UnaryOp):
            k = kind(node.operand)
            if isinstance(node.op, ast.USub) and k in ("str", "seq"):
                problems.append(f"cannot negate a {_WORD[k]} in {_src(expr, node)!r}")
            return "bool" if isinstance(node.op, ast.Not) else "num"
        if isinstance(node, ast.BinOp):
            a, b = kind(node.left), kind(node.right)
            known = {a, b} - {"any"}
            if isinstance(node.op, (ast.Sub, ast.Div)) and known & {"str", "seq"}:
                problems.append(f"arithmetic on a {_WORD[(known & {'str', 'seq'}).pop()]} in {_src(expr, node)!r}")
            elif isinstance(node.op, ast.Add) and len(known - {"bool"} | ({"num"} if "bool" in known else set())) > 1:
                problems.append(f"cannot add a {_WORD[a]} and a {_WORD[b]} in {_src(expr, node)!r}")
            if isinstance(node.op, ast.Mult) and known >= {"str", "seq"}:
                problems.append(f"cannot multiply a text and a list in {_src(expr, node)!r}")
            if isinstance(node.op, (ast.Sub, ast.Div)):
                return "num"
            return (
                a
                if a == b
                else ("str" if "str" in known else "seq" if "seq" in known else "any" if not known else "num")
            )
        if isinstance(node, ast.Compare):
            left = node.left
            for op, right in zip(node.ops, node.comparators):
                a, b = kind(left), kind(right)
                if isinstance(op, (ast.In, ast.NotIn)):
                    if b in ("num", "bool"):
                        problems.append(
                            f"'in' needs a list or a text on its right, not a number, in {_src(expr, node)!r}"
                        )
                    elif isinstance(right, (ast.List, ast.Tuple)) and a not in ("any", "seq"):
                        elems = {kind(e) for e in right.elts} - {"any"}
                        norm = {"num" if e == "bool" else e for e in elems}
                        mine = "num" if a == "bool" else a
                        if norm and mine not in norm:
                            held = ", ".join(_WORD[e] + "s" for e in sorted(norm))
                            problems.append(
                                f"{_src(expr, left)!r} is a {_WORD[a]} but the list holds {held}, "
                                f"so {_src(expr, node)!r} can never match"
                            )
                    elif b == "str" and a not in ("str", "any"):
                        problems.append(f"'in' a text needs a text on its left, in {_src(expr, node)!r}")
                else:
                    na, nb = ("num" if a == "bool" else a), ("num" if b == "bool" else b)
                    if "any" not in (na, nb) and na != nb:
                        problems.append(f"compares a {_WORD[a]} with a {_WORD[b]} in {_src(expr, node)!r}")
                left = right
            return "bool"
        return "any"

    kind(expr.tree.body)
    return problems


_WORD = {"num": "number", "str": "text", "bool": "true/false value", "seq": "list", "any": "value"}


def _src(expr: Expr, node: ast.AST) -> str:
    return ast.get_source_segment(expr.text, node) or expr.text
