"""A loss's plain-sum baseline: every dynamic weighting scheme replaced by the sum of the terms it weights.

Adaptive schemes often lose to equal weights, so ``losslang train --baseline`` trains the same
config a second time with this loss and overlays both runs. The rewrite is on the syntax tree:
``0.1*lr_annealing(res, bc, every=10) + l2`` becomes ``0.1*(res + bc) + l2``; the terms keep
their names, and only the ``weight/...`` outputs go.
"""

from __future__ import annotations

import dataclasses
import functools

from losslang.ast import Assign, Binary, Call, Index, Keyword, Neg, Node, Program
from losslang.errors import LossConfigError
from losslang.module import LossModule
from losslang.parser import parse
from losslang.registry import REGISTRY


def plain_sum(loss: LossModule) -> LossModule:
    """The same loss with each weighting scheme's call replaced by the plain sum of its terms.

    Raises:
        LossConfigError: the loss has no weighting scheme, so there is no baseline to compare with.

    Example:
        >>> import losslang
        >>> print(plain_sum(losslang.compile("r = mse(p, 0); 0.5*lr_annealing(r, mae(p, y), every=5)")))
        r = mse(p, 0)
        0.5 * (r + mae(p, y))
    """
    program = parse(loss.source)
    rewritten = _rewrite(program)
    if rewritten == program:
        raise LossConfigError(f"the loss has no weighting scheme to replace by a plain sum: {loss}")
    return LossModule(str(rewritten), **loss._options)


def _is_scheme(name: str) -> bool:
    spec = REGISTRY.lookup(name)
    return spec is not None and spec.kind == "weighting"


def _rewrite(node: Node) -> Node:
    """``node`` with every scheme call ``scheme(a, b, ..., key=value)`` replaced by ``a + b + ...``."""
    match node:
        case Call(func, args, keywords) if _is_scheme(func):
            terms = [_rewrite(arg) for arg in args]
            return functools.reduce(lambda left, right: Binary("+", left, right), terms)  # type: ignore[arg-type]
        case Call(func, args, keywords):
            return dataclasses.replace(node, args=tuple(map(_rewrite, args)), keywords=tuple(map(_rewrite, keywords)))
        case Binary(_, left, right):
            return dataclasses.replace(node, left=_rewrite(left), right=_rewrite(right))
        case Neg(operand):
            return dataclasses.replace(node, operand=_rewrite(operand))
        case Keyword(_, value) | Assign(_, value):
            return dataclasses.replace(node, value=_rewrite(value))
        case Index(target, _):
            return dataclasses.replace(node, target=_rewrite(target))
        case Program(assigns, total):
            return dataclasses.replace(node, assigns=tuple(map(_rewrite, assigns)), total=_rewrite(total))
    return node
