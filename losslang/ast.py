"""The immutable syntax tree of a losslang program.

Nodes are frozen, slotted dataclasses with tuple children, so they hash and compare by
value: two identical sub-expressions are equal wherever they were written, which is what
common-subexpression elimination keys on. Source spans ride along for error messages but take
no part in equality. ``str(node)`` is the canonical text (see :mod:`losslang.printer`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import EllipsisType
from typing import Any


@dataclass(frozen=True, slots=True)
class Span:
    """Where a node was written: 1-based line and column of its first and last character."""

    line: int
    column: int
    end_line: int
    end_column: int


_SPAN = field(default=None, compare=False, repr=False)


class Node:
    """Base of every syntax-tree node; ``str()`` gives the canonical text."""

    __slots__ = ()
    span: Span | None

    def __str__(self) -> str:
        from losslang.printer import to_text  # the printer depends on this module

        return to_text(self)


@dataclass(frozen=True, slots=True)
class Number(Node):
    """A numeric literal, an ``int`` when written without a point or exponent."""

    value: int | float
    span: Span | None = _SPAN

    # `1`, `1.0` and `-0.0` differ as arguments (a term may branch on the type or the sign):
    # equal nodes are computed once, so they must not be equal.
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Number) and constant_key(self.value) == constant_key(other.value)

    def __hash__(self) -> int:
        return hash(constant_key(self.value))


@dataclass(frozen=True, slots=True)
class String(Node):
    """A string literal such as ``"sum"``, used for keyword values."""

    value: str
    span: Span | None = _SPAN


@dataclass(frozen=True, slots=True)
class Bool(Node):
    """``true`` or ``false``."""

    value: bool
    span: Span | None = _SPAN


@dataclass(frozen=True, slots=True)
class Name(Node):
    """A possibly dotted name: a term, ``step`` or an input such as ``out.logits``."""

    parts: tuple[str, ...]
    span: Span | None = _SPAN


@dataclass(frozen=True, slots=True)
class List(Node):
    """A bracketed list of constants, as in ``piecewise(step, [10, 20], [1, 0.5, 0.1])``."""

    items: tuple[Expr, ...]
    span: Span | None = _SPAN


@dataclass(frozen=True, slots=True)
class Neg(Node):
    """Unary minus."""

    operand: Expr
    span: Span | None = _SPAN


@dataclass(frozen=True, slots=True)
class Binary(Node):
    """An arithmetic operation (``+ - * / ** @``) or a comparison (``< <= > >= == !=``, giving a mask)."""

    op: str
    left: Expr
    right: Expr
    span: Span | None = _SPAN


@dataclass(frozen=True, slots=True)
class Keyword(Node):
    """A ``name=value`` argument of a call."""

    name: str
    value: Expr
    span: Span | None = _SPAN


@dataclass(frozen=True, slots=True)
class Call(Node):
    """A call of a registered function: ``func(*args, **keywords)``."""

    func: str
    args: tuple[Expr, ...]
    keywords: tuple[Keyword, ...]
    span: Span | None = _SPAN


@dataclass(frozen=True, slots=True)
class Slice(Node):
    """``start:stop:step`` inside an index; absent parts are ``None``, written integers are ints.

    Any other expression as a bound is kept for the checker to refuse.
    """

    start: int | Expr | None
    stop: int | Expr | None
    step: int | Expr | None
    span: Span | None = _SPAN


# A constant index (an int, a slice, `...`), `None` (a new axis of size 1), or a tensor index (an expression).
Subscript = int | Slice | EllipsisType | None | Node


@dataclass(frozen=True, slots=True)
class Index(Node):
    """Indexing: ``pred[:, 0]``, ``x[..., 1:3]``, ``m[:, None]``, and by tensors: ``p[b, a]``, ``x[mask]``."""

    target: Expr
    subscripts: tuple[Subscript, ...]
    span: Span | None = _SPAN


@dataclass(frozen=True, slots=True)
class Input(Node):
    """A name resolved by the checker to a batch input (a dotted path into nested mappings)."""

    path: tuple[str, ...]
    span: Span | None = _SPAN


@dataclass(frozen=True, slots=True)
class Step(Node):
    """The name ``step`` resolved by the checker to the module's step counter."""

    span: Span | None = _SPAN


@dataclass(frozen=True, slots=True)
class Ref(Node):
    """A name resolved by the checker to a term defined above it."""

    name: str
    span: Span | None = _SPAN


Expr = Number | String | Bool | Name | List | Neg | Binary | Call | Index | Input | Step | Ref


@dataclass(frozen=True, slots=True)
class Assign(Node):
    """A named term: ``name = value``."""

    name: str
    value: Expr
    span: Span | None = _SPAN


@dataclass(frozen=True, slots=True)
class Program(Node):
    """Zero or more named terms, then the total."""

    assigns: tuple[Assign, ...]
    total: Expr
    span: Span | None = _SPAN
    source: str = field(default="", compare=False, repr=False)  # for error messages


def constant_key(value: Any) -> Any:
    """What tells two constants apart: their type and value, and for a float the sign of a zero.

    The syntax tree compares numbers by it, and the compiler keys the calls it shares on it.

    Example:
        >>> constant_key(1) == constant_key(1.0), constant_key(0.0) == constant_key(-0.0)
        (False, False)
    """
    if isinstance(value, float):
        return (float, value, math.copysign(1.0, value))
    return (type(value), value)
