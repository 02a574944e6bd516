"""Sorting and scans: ``sort``, ``argsort``, ``argmax``, ``argmin``, ``topk``, ``cumsum``, ``cumprod``, ``logsumexp``.

Torch's own. ``sort`` and ``topk`` give values, never ``(values, indices)`` pairs (the ``max``
that returns indices is a pitfall losslang removes); ``argsort``, ``argmax`` and ``argmin`` give
indices, which carry no gradient, like comparisons. The Lovasz losses are ``sort`` then
``cumsum``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def sort(x: Tensor, dim: int = -1, descending: bool = False) -> Tensor:
    """The values of ``x`` sorted along ``dim``, as ``torch.sort(...).values``.

    Example:
        >>> import torch
        >>> sort(torch.tensor([3.0, 1.0, 2.0]), descending=True)
        tensor([3., 2., 1.])
    """
    return torch.sort(x, dim=dim, descending=descending).values


def argsort(x: Tensor, dim: int = -1, descending: bool = False) -> Tensor:
    """The indices that sort ``x`` along ``dim``, as ``torch.argsort`` (stable); no gradient.

    Example:
        >>> import torch
        >>> argsort(torch.tensor([3.0, 1.0, 2.0]))
        tensor([1, 2, 0])
    """
    return torch.argsort(x, dim=dim, descending=descending, stable=True)


def argmax(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """The index of the largest value of ``x`` (along ``dim``), as ``torch.argmax``; no gradient.

    Example:
        >>> import torch
        >>> argmax(torch.tensor([[1.0, 5.0], [7.0, 2.0]]), dim=1)
        tensor([1, 0])
    """
    return torch.argmax(x, dim=dim, keepdim=keepdim)


def argmin(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """The index of the smallest value of ``x`` (along ``dim``), as ``torch.argmin``; no gradient.

    Example:
        >>> import torch
        >>> argmin(torch.tensor([[1.0, 5.0], [7.0, 2.0]]), dim=1)
        tensor([0, 1])
    """
    return torch.argmin(x, dim=dim, keepdim=keepdim)


def topk(x: Tensor, k: int, dim: int = -1, largest: bool = True) -> Tensor:
    """The ``k`` largest (or smallest) values of ``x`` along ``dim``, sorted, as ``torch.topk(...).values``.

    Example:
        >>> import torch
        >>> topk(torch.tensor([3.0, 1.0, 2.0]), 2)
        tensor([3., 2.])
    """
    return torch.topk(x, k, dim=dim, largest=largest).values


def cumsum(x: Tensor, dim: int) -> Tensor:
    """The running sum of ``x`` along ``dim``, as ``torch.cumsum``.

    Example:
        >>> import torch
        >>> cumsum(torch.tensor([1.0, 2.0, 3.0]), 0)
        tensor([1., 3., 6.])
    """
    return torch.cumsum(x, dim=dim)


def cumprod(x: Tensor, dim: int) -> Tensor:
    """The running product of ``x`` along ``dim``, as ``torch.cumprod``.

    Example:
        >>> import torch
        >>> cumprod(torch.tensor([1.0, 2.0, 3.0]), 0)
        tensor([1., 2., 6.])
    """
    return torch.cumprod(x, dim=dim)


def logsumexp(x: Tensor, dim: int | Sequence[int], keepdim: bool = False) -> Tensor:
    """``log(sum(exp(x)))`` along ``dim``, computed stably, as ``torch.logsumexp``.

    Example:
        >>> import torch
        >>> logsumexp(torch.tensor([[0.0, 0.0]]), 1)
        tensor([0.6931])
    """
    return torch.logsumexp(x, dim=dim, keepdim=keepdim)


INDICES = frozenset({argsort, argmax, argmin})  # index-valued: no gradient, like a comparison
