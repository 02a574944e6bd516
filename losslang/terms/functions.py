"""Functions a formula uses to combine terms: reductions, element-wise aggregates, ``detach``.

``mean``, ``sum``, ``max`` and ``min`` reduce one argument and combine several element-wise.
``max`` and ``min`` always return values, never indices.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from losslang.errors import LossArityError


def _dims(name: str, xs: tuple[Tensor, ...], dim: int | None) -> None:
    if len(xs) > 1 and dim is not None:
        raise LossArityError(f"{name}(): dim= reduces one argument; {len(xs)} were given")


def mean(x: Tensor, *others: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Mean of one tensor (over ``dim`` or all of it), or the element-wise mean of several.

    Example:
        >>> import torch
        >>> mean(torch.tensor(1.0), torch.tensor(3.0))
        tensor(2.)
        >>> mean(torch.tensor([[1.0, 3.0]]), dim=1)
        tensor([2.])
    """
    _dims("mean", (x, *others), dim)
    if others:
        return functools.reduce(torch.add, others, x) / (len(others) + 1)
    return x.mean() if dim is None else x.mean(dim, keepdim=keepdim)


def sum(x: Tensor, *others: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """Sum of one tensor (over ``dim`` or all of it), or the element-wise sum of several.

    Example:
        >>> import torch
        >>> sum(torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0]))
        tensor([4., 6.])
    """
    _dims("sum", (x, *others), dim)
    if others:
        return functools.reduce(torch.add, others, x)
    return x.sum() if dim is None else x.sum(dim, keepdim=keepdim)


def max(x: Tensor, *others: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """Largest value of one tensor (over ``dim`` or all of it), or the element-wise maximum of several.

    Example:
        >>> import torch
        >>> max(torch.tensor([[1.0, 5.0], [7.0, 2.0]]), dim=1)
        tensor([5., 7.])
    """
    _dims("max", (x, *others), dim)
    if others:
        return functools.reduce(torch.maximum, others, x)
    return x.amax() if dim is None else x.amax(dim, keepdim=keepdim)


def min(x: Tensor, *others: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """Smallest value of one tensor (over ``dim`` or all of it), or the element-wise minimum of several.

    Example:
        >>> import torch
        >>> min(torch.tensor(1.0), torch.tensor(3.0))
        tensor(1.)
    """
    _dims("min", (x, *others), dim)
    if others:
        return functools.reduce(torch.minimum, others, x)
    return x.amin() if dim is None else x.amin(dim, keepdim=keepdim)


def detach(x: Tensor) -> Tensor:
    """The value of ``x`` with no gradient flowing back through it.

    Example:
        >>> import torch
        >>> detach(torch.ones(2, requires_grad=True)).requires_grad
        False
    """
    return x.detach()
