"""The formula's binary operators on two tensors: torch's own, refusing a broadcast that multiplies values.

``p - y`` with ``p`` of shape ``(N, 1)`` and ``y`` of shape ``(N,)`` is ``(N, N)`` in torch, every
prediction against every target; ``mean((p - y)**2)`` then trains a different loss without a word.
The built-in terms refuse shapes that differ, and written as arithmetic the same slip is refused
too (:func:`losslang.terms.shapes.one_sided`). Broadcasting that keeps one operand's values, as a
weight, a mask or a scalar does, is torch's. The compiler uses these unless an operand is one value
whatever the inputs (a constant, the step, a reduced loss), which cannot multiply values: that
takes Python's operator.

Example:
    >>> import torch
    >>> OPERATORS["-"](torch.ones(2, 3), torch.ones(3))
    tensor([[0., 0., 0.],
            [0., 0., 0.]])
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from torch import Tensor

from losslang.terms.shapes import one_sided

_OPERANDS = ("the left operand", "the right operand")


def _checked(symbol: str, apply: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    shown = f"'{symbol}'"

    def checked(left: Any, right: Any) -> Any:
        result = apply(left, right)
        if isinstance(left, Tensor) and isinstance(right, Tensor) and left.shape != right.shape:
            one_sided(shown, result, left, right, names=_OPERANDS)
        return result

    # fx writes the generated code's call by the function's name, so each operator has its own
    checked.__name__ = checked.__qualname__ = apply.__name__
    checked.__doc__ = f"``left {symbol} right``, refusing a broadcast to more values than either operand."
    return checked


add = _checked("+", operator.add)
sub = _checked("-", operator.sub)
mul = _checked("*", operator.mul)
truediv = _checked("/", operator.truediv)
pow = _checked("**", operator.pow)  # noqa: A001
lt = _checked("<", operator.lt)
le = _checked("<=", operator.le)
gt = _checked(">", operator.gt)
ge = _checked(">=", operator.ge)
eq = _checked("==", operator.eq)
ne = _checked("!=", operator.ne)

OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+": add,
    "-": sub,
    "*": mul,
    "/": truediv,
    "**": pow,
    "<": lt,
    "<=": le,
    ">": gt,
    ">=": ge,
    "==": eq,
    "!=": ne,
}
COMPARISONS = frozenset({lt, le, gt, ge, eq, ne})  # they give masks, which carry no gradient
