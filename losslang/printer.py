"""Canonical text of a syntax tree.

One space around operators, ``", "`` between arguments, ``k=v`` keywords, the fewest
parentheses that keep the meaning, and numbers as Python's ``repr`` prints them. The text
parses back to an equal tree: ``parse(str(tree)) == tree``.
"""

from __future__ import annotations

import math

from losslang import ast

# Binding strength of each form, loosest first; operands looser than their slot get parentheses.
_COMPARISON, _SUM, _PRODUCT, _UNARY, _POWER, _POSTFIX, _ATOM = range(7)
_BINARY = {
    **dict.fromkeys(("<", "<=", ">", ">=", "==", "!="), _COMPARISON),
    **{"+": _SUM, "-": _SUM, "*": _PRODUCT, "/": _PRODUCT, "@": _PRODUCT, "**": _POWER},
}
# A literal too large for a float parses to inf, whose repr is a name; this one parses back to inf
# (and the checker refuses it, as it refuses every non-finite constant).
_INFINITY = "1e999"


def to_text(node: ast.Node) -> str:
    """Return the canonical text of any node.

    Example:
        >>> from losslang import parse
        >>> to_text(parse("0.5*mse(pred,y1)+(a-b)-(c-d)"))
        '0.5 * mse(pred, y1) + (a - b) - (c - d)'
    """
    match node:
        case ast.Program(assigns, total):
            return "\n".join([*map(to_text, assigns), to_text(total)])
        case ast.Assign(name, value):
            return f"{name} = {to_text(value)}"
        case ast.Keyword(name, value):
            return f"{name}={to_text(value)}"
        case ast.Slice():
            return _slice(node)
        case _:
            return _expr(node)


def _expr(node: ast.Node) -> str:
    match node:
        case ast.Number(value):
            return _INFINITY if value == math.inf else repr(value)
        case ast.String(value):
            return f"'{value}'" if '"' in value else f'"{value}"'
        case ast.Bool(value):
            return "true" if value else "false"
        case ast.Name(parts) | ast.Input(parts):
            return ".".join(parts)
        case ast.Ref(name):
            return name
        case ast.Step():
            return "step"
        case ast.List(items):
            return f"[{', '.join(map(_expr, items))}]"
        case ast.Call(func, args, keywords):
            return f"{func}({', '.join([*map(_expr, args), *map(to_text, keywords)])})"
        case ast.Index(target, subscripts):
            return f"{_operand(target, _POSTFIX)}[{', '.join(map(subscript, subscripts))}]"
        case ast.Neg(operand):
            return f"-{_operand(operand, _UNARY)}"
        case ast.Binary(op, left, right):
            return _binary(op, left, right)
    raise TypeError(f"not an expression node: {node!r}")


def _binary(op: str, left: ast.Expr, right: ast.Expr) -> str:
    level = _BINARY[op]
    if op == "**":  # right-associative; the base binds tighter than any unary operator
        return f"{_operand(left, _POSTFIX)} ** {_operand(right, _UNARY)}"
    if level == _COMPARISON:  # comparisons do not chain: both sides bind tighter
        return f"{_operand(left, _SUM)} {op} {_operand(right, _SUM)}"
    return f"{_operand(left, level)} {op} {_operand(right, level + 1)}"


def _operand(node: ast.Expr, slot: int) -> str:
    text = _expr(node)
    return f"({text})" if _level(node) < slot else text


def _level(node: ast.Expr) -> int:
    match node:
        case ast.Binary(op):
            return _BINARY[op]
        case ast.Neg():
            return _UNARY
        case ast.Number(value) if value < 0 or (value == 0 and math.copysign(1, value) < 0):  # -2, and -0.0 too
            return _UNARY
        case ast.Index():
            return _POSTFIX
    return _ATOM


def subscript(item: ast.Subscript) -> str:
    """The text of one index item: an integer, a slice, ``...``, ``None`` or a tensor expression."""
    if item is Ellipsis:
        return "..."
    if isinstance(item, ast.Slice):
        return _slice(item)
    return _expr(item) if isinstance(item, ast.Node) else str(item)


def _slice(item: ast.Slice) -> str:
    text = ":".join("" if part is None else subscript(part) for part in (item.start, item.stop))
    return text if item.step is None else f"{text}:{subscript(item.step)}"
