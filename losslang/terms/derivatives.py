"""Derivatives of fields computed from coordinates: ``grad``, ``partial``, ``laplacian``, ``div``.

A physics-informed loss differentiates the model's output ``u = model(x)`` with respect to the
coordinates ``x`` (``(..., d)``, one point per sample, the coordinates last, requiring grad). Each
sample's value depends only on its own point, so one backward pass of ``u`` with unit weights
gives every sample's derivative. Each derivative keeps its graph (``create_graph``), so the loss
trains the model through it, and derivatives nest: ``partial(partial(u, x, 0), x, 1)`` is the
mixed second derivative. They compute with gradients on even where the loss computes a metric
without them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

import torch
from torch import Tensor

from losslang.errors import LossShapeError, LossValueError

F = TypeVar("F", bound=Callable[..., Tensor])


def _eager(term: F) -> F:
    """``term``, run eagerly under ``torch.compile``: the compiled graph breaks around it.

    Dynamo would otherwise trace ``torch.autograd.grad`` of a graph it is still building, and the
    gradient mode the derivative switches on would not reach the ops around it (a nested
    derivative in a metric lost its graph).
    """

    @functools.wraps(term)
    def run(*args: Any) -> Tensor:
        if torch.compiler.is_compiling():  # dynamo is loaded by then
            return torch.compiler.disable(term)(*args)
        return term(*args)

    return cast(F, run)


@_eager
def grad(u: Tensor, x: Tensor) -> Tensor:
    """The gradient of ``u`` with respect to ``x``, shaped like ``x``: point by point, or sample by sample.

    ``u`` has one value per point of coordinates ``x`` (``(..., d)``, the coordinates last), or
    one value per sample of any ``x`` of shape ``(N, ...)``: a critic's score of an image, whose
    gradient with respect to the image is the gradient penalty's (WGAN-GP, R1). Both are one
    backward pass of ``sum(u)``, since each value depends on its own point or sample only.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        >>> grad(x[:, 0] ** 2 * x[:, 1], x).tolist()  # (2 x y, x^2)
        [[4.0, 1.0], [24.0, 9.0]]
        >>> images = torch.ones(2, 1, 2, 2, requires_grad=True)
        >>> grad((3 * images).sum(dim=[1, 2, 3]), images).shape  # one score per sample
        torch.Size([2, 1, 2, 2])
    """
    if x.dim() < 1 or u.numel() != x.shape[0]:  # not one value per sample: one per point, or an error
        _one_value_per_point("grad", u, x)
    with torch.enable_grad():
        return _derivative("grad", u, x)


@_eager
def partial(u: Tensor, x: Tensor, i: int) -> Tensor:
    """The partial derivative of a scalar field ``u`` along coordinate ``i`` of ``x``, shaped like ``u``.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        >>> u = x[:, 0] ** 2 * x[:, 1]
        >>> partial(u, x, 0).tolist(), partial(partial(u, x, 0), x, 1).tolist()  # 2 x y, then 2 x
        ([4.0, 24.0], [2.0, 6.0])
    """
    _one_value_per_point("partial", u, x)
    with torch.enable_grad():  # also inside a metric: a derivative of this one needs the graph
        return _derivative("partial", u, x)[..., _coordinate("partial", x, i)].reshape(u.shape)


@_eager
def laplacian(u: Tensor, x: Tensor) -> Tensor:
    """The sum of the second partial derivatives of a scalar field ``u`` over the coordinates ``x``, shaped like ``u``.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 2.0]], requires_grad=True)
        >>> laplacian(x[:, 0] ** 3 + x[:, 1] ** 2, x).tolist()  # 6 x + 2
        [8.0]
    """
    _one_value_per_point("laplacian", u, x)
    with torch.enable_grad():
        return _divergence("laplacian", _derivative("laplacian", u, x), x).reshape(u.shape)


@_eager
def div(v: Tensor, x: Tensor) -> Tensor:
    """The divergence of a vector field ``v`` (shaped like ``x``) with respect to ``x``: one value per point.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 2.0]], requires_grad=True)
        >>> div(torch.stack([x[:, 0] * x[:, 1], x[:, 1] ** 2], dim=-1), x).tolist()  # y + 2 y
        [6.0]
    """
    if v.shape != x.shape:
        raise LossShapeError(
            f"div(): the field of shape {tuple(v.shape)} must have the coordinates' shape {tuple(x.shape)}, "
            "one component per coordinate"
        )
    with torch.enable_grad():
        return _divergence("div", v, x)


def _divergence(term: str, v: Tensor, x: Tensor) -> Tensor:
    """The sum over coordinates ``i`` of ``d v_i / d x_i``: one backward pass per coordinate."""
    total = _derivative(term, v[..., 0], x)[..., 0]
    for i in range(1, x.shape[-1]):
        total = total + _derivative(term, v[..., i], x)[..., i]
    return total


def _derivative(term: str, u: Tensor, x: Tensor) -> Tensor:
    """``d u / d x`` point by point, keeping the graph (called with gradients on); ``u`` has one value per point.

    A derivative that does not depend on ``x`` (that of a field linear in ``x``) is kept connected
    to ``x``, so that the next derivative of it is 0, not an error.
    """
    if not x.requires_grad:
        raise LossValueError(
            f"{term}(): the coordinates x do not require grad; call x.requires_grad_() before computing the "
            "field from them (u = model(x))"
        )
    if not u.requires_grad:
        raise LossValueError(
            f"{term}(): the field has no autograd graph: it was computed with gradients off (torch.no_grad() or "
            "inference_mode), detached, or not from x; derivatives need u = model(x) computed with gradients on, "
            "in validation too (with torch.enable_grad(): u = model(x))"
        )
    (found,) = torch.autograd.grad(u, x, torch.ones_like(u), create_graph=True, allow_unused=True)
    if found is None:
        raise LossValueError(
            f"{term}(): the field was not computed from x; pass the same tensor x that the model was called "
            "on (u = model(x)), not a copy, a detached view or another batch"
        )
    if not found.requires_grad:  # constant in x: its own derivative is 0, through this zero-cost link
        found = found + (x.reshape(-1)[:1] * 0).nan_to_num().sum()
    return found


def _one_value_per_point(term: str, u: Tensor, x: Tensor) -> None:
    if x.dim() < 1:
        raise LossShapeError(f"{term}(): the coordinates x must have shape (..., d), not a scalar")
    points = math.prod(x.shape[:-1])
    if u.numel() != points:
        samples = f" or, for grad, one per sample ({x.shape[0]})" if term == "grad" else ""
        raise LossShapeError(
            f"{term}(): the field has shape {tuple(u.shape)}, {u.numel()} values for {points} points of x "
            f"{tuple(x.shape)}; it must have one value per point, e.g. shape {tuple(x.shape[:-1])} or "
            f"{(*x.shape[:-1], 1)}{samples}; take a component first, e.g. u[:, 0]"
        )


def _coordinate(term: str, x: Tensor, i: int) -> int:
    if not -x.shape[-1] <= i < x.shape[-1]:
        raise LossShapeError(f"{term}(): coordinate {i} is out of range for x with {x.shape[-1]} coordinates")
    return i


DERIVATIVES = frozenset({grad, partial, laplacian, div})  # a loss calling one needs gradients, even under no_grad
