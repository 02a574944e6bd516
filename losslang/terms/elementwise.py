"""Element-wise math a formula may apply to tensors: thin wrappers over the torch functions.

Each keeps torch's numerics and gradient, so ``sqrt`` and ``log`` are as singular at 0 as in
torch. Two-tensor functions broadcast; shapes that do not, or that broadcast to more values than
every operand (``(N, 1)`` against ``(N,)``, see :func:`losslang.terms.shapes.one_sided`), are
reported with their shapes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from losslang.bounds import Positive
from losslang.errors import LossArityError, LossShapeError
from losslang.terms.shapes import broadcast, one_sided


def abs(x: Tensor | float) -> Tensor:  # noqa: A001
    """Absolute value, element-wise.

    Example:
        >>> import torch
        >>> abs(torch.tensor([-1.5, 2.0]))
        tensor([1.5000, 2.0000])
    """
    return torch.abs(x)


def exp(x: Tensor | float) -> Tensor:
    """Exponential ``e**x``, element-wise.

    Example:
        >>> import torch
        >>> exp(torch.tensor([0.0, 1.0]))
        tensor([1.0000, 2.7183])
    """
    return torch.exp(x)


def log(x: Tensor | float) -> Tensor:
    """Natural logarithm, element-wise.

    Example:
        >>> import torch
        >>> log(torch.tensor([1.0, 4.0]))
        tensor([0.0000, 1.3863])
    """
    return torch.log(x)


def log1p(x: Tensor | float) -> Tensor:
    """``log(1 + x)``, element-wise, accurate for small ``x``.

    Example:
        >>> import torch
        >>> log1p(torch.tensor([0.0, 1.0]))
        tensor([0.0000, 0.6931])
    """
    return torch.log1p(x)


def sqrt(x: Tensor | float) -> Tensor:
    """Square root, element-wise (its gradient at 0 is infinite, as in torch; see ``rmse``).

    Example:
        >>> import torch
        >>> sqrt(torch.tensor([4.0, 9.0]))
        tensor([2., 3.])
    """
    return torch.sqrt(x)


def square(x: Tensor | float) -> Tensor:
    """Square, element-wise.

    Example:
        >>> import torch
        >>> square(torch.tensor([-3.0, 0.5]))
        tensor([9.0000, 0.2500])
    """
    return torch.square(x)


def sin(x: Tensor | float) -> Tensor:
    """Sine (radians), element-wise.

    Example:
        >>> import torch
        >>> sin(torch.tensor([0.0, 1.0]))
        tensor([0.0000, 0.8415])
    """
    return torch.sin(x)


def cos(x: Tensor | float) -> Tensor:
    """Cosine (radians), element-wise.

    Example:
        >>> import torch
        >>> cos(torch.tensor([0.0, 1.0]))
        tensor([1.0000, 0.5403])
    """
    return torch.cos(x)


def tan(x: Tensor | float) -> Tensor:
    """Tangent (radians), element-wise.

    Example:
        >>> import torch
        >>> tan(torch.tensor([0.0, 1.0]))
        tensor([0.0000, 1.5574])
    """
    return torch.tan(x)


def arcsin(x: Tensor | float) -> Tensor:
    """Inverse sine, element-wise, for values in [-1, 1].

    Example:
        >>> import torch
        >>> arcsin(torch.tensor([0.0, 1.0]))
        tensor([0.0000, 1.5708])
    """
    return torch.arcsin(x)


def arccos(x: Tensor | float) -> Tensor:
    """Inverse cosine, element-wise, for values in [-1, 1].

    Example:
        >>> import torch
        >>> arccos(torch.tensor([1.0, 0.0]))
        tensor([0.0000, 1.5708])
    """
    return torch.arccos(x)


def arctan(x: Tensor | float) -> Tensor:
    """Inverse tangent, element-wise.

    Example:
        >>> import torch
        >>> arctan(torch.tensor([0.0, 1.0]))
        tensor([0.0000, 0.7854])
    """
    return torch.arctan(x)


def tanh(x: Tensor | float) -> Tensor:
    """Hyperbolic tangent, element-wise.

    Example:
        >>> import torch
        >>> tanh(torch.tensor([0.0, 1.0]))
        tensor([0.0000, 0.7616])
    """
    return torch.tanh(x)


def sigmoid(x: Tensor | float) -> Tensor:
    """Logistic sigmoid ``1 / (1 + exp(-x))``, element-wise.

    Example:
        >>> import torch
        >>> sigmoid(torch.tensor([0.0, 2.0]))
        tensor([0.5000, 0.8808])
    """
    return torch.sigmoid(x)


def relu(x: Tensor | float) -> Tensor:
    """``max(x, 0)``, element-wise.

    Example:
        >>> import torch
        >>> relu(torch.tensor([-1.0, 2.0]))
        tensor([0., 2.])
    """
    return torch.relu(x)


def softplus(x: Tensor | float, beta: Positive = 1.0, threshold: float = 20.0) -> Tensor:
    """Smooth ReLU ``log(1 + exp(beta * x)) / beta``, linear above ``threshold``, as ``F.softplus``.

    Example:
        >>> import torch
        >>> softplus(torch.tensor([0.0, 30.0]))
        tensor([ 0.6931, 30.0000])
    """
    return F.softplus(x, beta=beta, threshold=threshold)


def clamp(x: Tensor | float, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
    """Limit ``x`` to ``[min, max]``, element-wise; either bound may be left out.

    Raises:
        LossArityError: neither bound given.

    Example:
        >>> import torch
        >>> clamp(torch.tensor([-2.0, 0.5, 3.0]), min=0, max=1)
        tensor([0.0000, 0.5000, 1.0000])
    """
    if min is None and max is None:
        raise LossArityError("clamp() needs min=, max= or both")
    return torch.clamp(x, min=min, max=max)


def minimum(x: Tensor | float, y: Tensor | float) -> Tensor:
    """The smaller of ``x`` and ``y``, element-wise (broadcast); either may be a number.

    Example:
        >>> import torch
        >>> minimum(torch.tensor([1.0, 5.0]), torch.tensor([3.0, 2.0])), minimum(torch.tensor([1.0, 5.0]), 2.0)
        (tensor([1., 2.]), tensor([1., 2.]))
    """
    x, y = as_tensors(x, y)
    broadcast("minimum", {"x": x, "y": y})
    return one_sided("minimum()", torch.minimum(x, y), x, y, names=("x", "y"))


def maximum(x: Tensor | float, y: Tensor | float) -> Tensor:
    """The larger of ``x`` and ``y``, element-wise (broadcast); either may be a number.

    Example:
        >>> import torch
        >>> maximum(torch.tensor([1.0, 5.0]), torch.tensor([3.0, 2.0])), maximum(0.0, torch.tensor([-1.0, 2.0]))
        (tensor([3., 5.]), tensor([0., 2.]))
    """
    x, y = as_tensors(x, y)
    broadcast("maximum", {"x": x, "y": y})
    return one_sided("maximum()", torch.maximum(x, y), x, y, names=("x", "y"))


def pi() -> Tensor:
    """The number pi, folded when the loss is compiled: ``pi()`` leaves the name ``pi`` free for an input.

    Example:
        >>> pi()
        tensor(3.1416, dtype=torch.float64)
    """
    return torch.tensor(math.pi, dtype=torch.float64)


def as_tensors(*values: Tensor | float) -> tuple[Tensor, ...]:
    """Each number as a 0-d tensor in the dtype and on the device of the first tensor, which the torch op needs.

    Example:
        >>> import torch
        >>> as_tensors(torch.tensor([1.0], dtype=torch.float64), 2)
        (tensor([1.], dtype=torch.float64), tensor(2., dtype=torch.float64))
    """
    like = next(value for value in values if isinstance(value, Tensor))
    return tuple(
        value if isinstance(value, Tensor) else torch.tensor(value, dtype=like.dtype, device=like.device)
        for value in values
    )


def where(condition: Tensor, x: Tensor | float, y: Tensor | float) -> Tensor:
    """``x`` where ``condition`` holds, else ``y``, element-wise (broadcast); either may be a number.

    The condition is a mask, such as a comparison (``p > 0.5``); it carries no gradient, and the
    gradient flows to ``x`` and ``y`` where each is chosen.

    Example:
        >>> import torch
        >>> where(torch.tensor([True, False]), torch.tensor([1.0, 2.0]), 0.0)
        tensor([1., 0.])
    """
    if not isinstance(condition, Tensor) or condition.dtype != torch.bool:
        kind = condition.dtype if isinstance(condition, Tensor) else type(condition).__name__
        raise LossShapeError(f"where(): the condition must be a mask (a comparison such as p > 0), not {kind}")
    return one_sided("where()", torch.where(condition, x, y), condition, x, y, names=("condition", "x", "y"))
