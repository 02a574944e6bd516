"""Functions a formula uses to combine terms and tensors: reductions, aggregates, vector maths, ``detach``.

``mean``, ``sum``, ``max`` and ``min`` reduce one argument and combine several element-wise
(broadcast, but never to more values than every argument has).
``max`` and ``min`` always return values, never indices. Reductions take ``dim=`` (an integer
or a list of them; all dimensions by default) and ``keepdim=``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from losslang.bounds import Index, Positive
from losslang.errors import LossArityError, LossShapeError
from losslang.terms.elementwise import as_tensors
from losslang.terms.shapes import broadcast, one_sided

Dims = int | Sequence[int] | None


def _several(
    name: str, x: Tensor | float, others: tuple[Tensor | float, ...], dim: Dims, combine: Callable[..., Tensor]
) -> Tensor:
    """Combine ``x`` and ``others`` element-wise, a number standing for a tensor of its value; one may reduce."""
    if dim is not None:
        raise LossArityError(f"{name}(): dim= reduces one argument; {len(others) + 1} were given")
    if not isinstance(x, Tensor) or not all(isinstance(other, Tensor) for other in others):
        x, *others = as_tensors(x, *others)  # a number stands for a tensor of its value (the formula's rare case)
    return one_sided(f"{name}()", functools.reduce(combine, others, x), x, *others)


def _counts(x: Tensor) -> Tensor:
    """A mask as the 0s and 1s it holds; torch adds two boolean tensors as a logical or."""
    return x.long() if isinstance(x, Tensor) and x.dtype == torch.bool else x


def mean(x: Tensor | float, *others: Tensor | float, dim: Dims = None, keepdim: bool = False) -> Tensor:
    """Mean of one tensor (over ``dim`` or all of it), or the element-wise mean of several.

    A mask (``p > 0``) counts as 0s and 1s and integers as numbers: the mean is a fraction in the
    default float dtype, where torch refuses the mean of a non-float tensor.

    Example:
        >>> import torch
        >>> mean(torch.tensor(1.0), torch.tensor(3.0))
        tensor(2.)
        >>> mean(torch.tensor([[1.0, 3.0]]), dim=1)
        tensor([2.])
        >>> mean(torch.tensor([True, True]), torch.tensor([True, False])), mean(torch.tensor([True, False]))
        (tensor([1.0000, 0.5000]), tensor(0.5000))
    """
    if others:
        return _several("mean", _counts(x), tuple(map(_counts, others)), dim, torch.add) / (len(others) + 1)
    if not (x.is_floating_point() or x.is_complex()):
        x = x.to(torch.get_default_dtype())
    return torch.mean(x, dim=dim, keepdim=keepdim)


def sum(x: Tensor | float, *others: Tensor | float, dim: Dims = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """Sum of one tensor (over ``dim`` or all of it), or the element-wise sum of several.

    A mask (``p > 0``) counts as 0s and 1s, so its sum is a count (int64, as torch sums one mask).

    Example:
        >>> import torch
        >>> sum(torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0]))
        tensor([4., 6.])
        >>> sum(torch.ones(2, 3, 4), dim=[1, 2])
        tensor([12., 12.])
        >>> sum(torch.tensor([True, True]), torch.tensor([True, False]))
        tensor([2, 1])
    """
    if others:
        return _several("sum", _counts(x), tuple(map(_counts, others)), dim, torch.add)
    return torch.sum(x, dim=dim, keepdim=keepdim)


def max(x: Tensor | float, *others: Tensor | float, dim: Dims = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """Largest value of one tensor (over ``dim`` or all of it), or the element-wise maximum of several.

    Example:
        >>> import torch
        >>> max(torch.tensor([[1.0, 5.0], [7.0, 2.0]]), dim=1)
        tensor([5., 7.])
    """
    if others:
        return _several("max", x, others, dim, torch.maximum)
    return torch.amax(x, dim=() if dim is None else dim, keepdim=keepdim)


def min(x: Tensor | float, *others: Tensor | float, dim: Dims = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """Smallest value of one tensor (over ``dim`` or all of it), or the element-wise minimum of several.

    Example:
        >>> import torch
        >>> min(torch.tensor(1.0), torch.tensor(3.0))
        tensor(1.)
    """
    if others:
        return _several("min", x, others, dim, torch.minimum)
    return torch.amin(x, dim=() if dim is None else dim, keepdim=keepdim)


def std(x: Tensor, dim: Dims = None, *, correction: Index = 1, keepdim: bool = False) -> Tensor:
    """Standard deviation over ``dim`` (all of ``x`` by default), with Bessel's ``correction``.

    Example:
        >>> import torch
        >>> std(torch.tensor([1.0, 3.0]))
        tensor(1.4142)
        >>> std(torch.tensor([1.0, 3.0]), correction=0)
        tensor(1.)
    """
    return torch.std(x, dim=dim, correction=correction, keepdim=keepdim)


def var(x: Tensor, dim: Dims = None, *, correction: Index = 1, keepdim: bool = False) -> Tensor:
    """Variance over ``dim`` (all of ``x`` by default), with Bessel's ``correction``.

    Example:
        >>> import torch
        >>> var(torch.tensor([[1.0, 3.0], [2.0, 2.0]]), dim=1)
        tensor([2., 0.])
    """
    return torch.var(x, dim=dim, correction=correction, keepdim=keepdim)


def norm(x: Tensor, p: float = 2.0, dim: Dims = None, keepdim: bool = False) -> Tensor:
    """The ``p``-norm of ``x`` as a vector over ``dim`` (all of it by default), as ``torch.linalg.vector_norm``.

    Example:
        >>> import torch
        >>> norm(torch.tensor([[3.0, 4.0], [1.0, -1.0]]), dim=1)
        tensor([5.0000, 1.4142])
        >>> norm(torch.tensor([[3.0, 4.0], [1.0, -1.0]]), p=1)
        tensor(9.)
    """
    return torch.linalg.vector_norm(x, ord=p, dim=dim, keepdim=keepdim)


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """Softmax over ``dim``: non-negative values that sum to 1.

    Example:
        >>> import torch
        >>> softmax(torch.tensor([0.0, 0.0]))
        tensor([0.5000, 0.5000])
    """
    return torch.softmax(x, dim=dim)


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """Logarithm of the softmax over ``dim``, computed stably for large inputs.

    Example:
        >>> import torch
        >>> log_softmax(torch.tensor([0.0, 1e4]))
        tensor([-10000.,      0.])
    """
    return torch.log_softmax(x, dim=dim)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: Positive = 1e-8) -> Tensor:
    """Cosine of the angle between vectors along ``dim``, as ``F.cosine_similarity`` (also for its defaults).

    A zero vector gives 0 and a gradient of size ``1 / eps``; the loss :func:`cos_angle` has a
    zero gradient there.

    Example:
        >>> import torch
        >>> cosine_similarity(torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0, 0.0]]))
        tensor([1.])
    """
    broadcast("cosine_similarity", {"x1": x1, "x2": x2})
    return F.cosine_similarity(x1, x2, dim=dim, eps=eps)


def dot(x: Tensor, y: Tensor, dim: int = -1) -> Tensor:
    """Dot product of vectors along ``dim`` (broadcast), as ``torch.linalg.vecdot``.

    Example:
        >>> import torch
        >>> dot(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([1.0, 1.0]))
        tensor([3., 7.])
    """
    broadcast("dot", {"x": x, "y": y})
    if x.dtype != y.dtype:  # vecdot does not promote, unlike x * y
        raise LossShapeError(f"dot(): x is {x.dtype} but y is {y.dtype}; convert one, e.g. y.to(x.dtype)")
    return torch.linalg.vecdot(x, y, dim=dim)


def detach(x: Tensor) -> Tensor:
    """The value of ``x`` with no gradient flowing back through it.

    Example:
        >>> import torch
        >>> detach(torch.ones(2, requires_grad=True)).requires_grad
        False
    """
    return x.detach()
