"""The sine of the angle between 2- and 3-vectors as one autograd ``Function``: fast and as accurate as before.

Most angle losses work on 3-vectors (directions, velocities, normals), stored as ``(..., 3)``.
There every torch reduction over the short last dimension, and ``torch.linalg.cross``, costs
several times an element-wise op, and autograd through them records a dozen more. This computes
the dot product, both squared lengths and the cross product from the components (element-wise
ops on strided views, no reductions) and differentiates analytically:

    d sin/d a = -cos * w / |a|,  w the unit vector perpendicular to a towards b,

which with ``cos = (a . b) / (|a| |b|)`` and ``|a| |b - (a . b) a / |a|^2| = |a x b|`` is
``k * (b - (a . b) / |a|^2 * a)`` with ``k = -(a . b) / (|a| |b| |a x b|)`` per vector (and the same
with ``a`` and ``b`` swapped). Values and the edge cases are those of the cross-product formula in
:mod:`losslang.terms.geometry`: parallel up to rounding gives 0 with a zero gradient, a zero vector
1 with a zero gradient. A backward that must itself be differentiable (``create_graph=True``)
differentiates that formula instead, so higher derivatives stay exact.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

WIDTHS = (2, 3)  # the widths the components path covers; others take the general formula
# Below this many elements the autograd Function's fixed cost (about 100 µs a call on a CPU core)
# outweighs what it saves: measured on 3-vectors, 1,000 vectors break even.
FUSED_FROM = 4096


def fused_sine(pred: Tensor, target: Tensor, dim: int, general: Callable[[Tensor, Tensor, int], Tensor]) -> Tensor:
    """The sine of the angle between the vectors of ``pred`` and ``target`` along ``dim`` (width 2 or 3).

    ``general`` is the formula it must equal, differentiated when the backward builds a graph.

    Example:
        >>> import torch
        >>> from losslang.terms.geometry import _general_sine
        >>> a, b = torch.tensor([[2.0, 0.0, 0.0]], requires_grad=True), torch.tensor([[1.0, 1.0, 0.0]])
        >>> value = fused_sine(a, b, 1, _general_sine)
        >>> round(value.item(), 6), [round(x, 6) for x in torch.autograd.grad(value.sum(), a)[0][0].tolist()]
        (0.707107, [0.0, -0.353553, 0.0])
    """
    return _Sine.apply(pred, target, dim, general)[0]


class _Sine(torch.autograd.Function):
    @staticmethod
    def forward(pred: Tensor, target: Tensor, dim: int, general: Any) -> tuple[Tensor, ...]:  # type: ignore[override]
        a, b = pred.unbind(dim), target.unbind(dim)
        aa, bb, dot = _dot(a, a), _dot(b, b), _dot(a, b)
        area = _cross_length(a, b)
        lengths = aa.sqrt() * bb.sqrt()  # not sqrt(aa * bb), which overflows sooner
        kept = area > 16 * torch.finfo(area.dtype).eps * lengths  # else parallel up to rounding, or a zero vector
        sine = torch.where(kept, area / torch.where(kept, lengths, 1.0), (lengths == 0).to(area.dtype))
        return sine, aa, bb, dot, area * lengths, kept

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
        pred, target, dim, general = inputs
        _, aa, bb, dot, scale, kept = output
        ctx.dim, ctx.general = dim, general
        ctx.save_for_backward(pred, target, aa, bb, dot, scale, kept)
        ctx.mark_non_differentiable(*output[1:])

    @staticmethod
    def backward(ctx: Any, grad: Tensor, *_: Any) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        pred, target, aa, bb, dot, scale, kept = ctx.saved_tensors
        dim, wanted = ctx.dim, ctx.needs_input_grad[:2]
        if torch.is_grad_enabled():  # create_graph=True: differentiate the formula, so higher derivatives are exact
            return (*_graph_gradients(ctx.general, pred, target, dim, grad, wanted), None, None)
        k = torch.where(kept, -grad * dot / torch.where(kept, scale, 1.0), 0.0)
        grads = [None, None]
        for index, (own, other, squared) in enumerate(((pred, target, aa), (target, pred, bb))):
            if wanted[index]:  # k * (other - (a . b) / |own|^2 * own)
                along = k * dot / torch.where(kept, squared, 1.0)
                grads[index] = torch.addcmul(other * k.unsqueeze(dim), along.unsqueeze(dim), own, value=-1)
        return (*grads, None, None)


def _dot(a: tuple[Tensor, ...], b: tuple[Tensor, ...]) -> Tensor:
    total = a[0] * b[0]
    for x, y in zip(a[1:], b[1:], strict=True):
        total = torch.addcmul(total, x, y)
    return total


def _cross_length(a: tuple[Tensor, ...], b: tuple[Tensor, ...]) -> Tensor:
    if len(a) == 2:
        return (a[0] * b[1] - a[1] * b[0]).abs()
    parts = [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
    return _dot(parts, parts).sqrt()


def _graph_gradients(
    general: Callable[[Tensor, Tensor, int], Tensor], pred: Tensor, target: Tensor, dim: int, grad: Tensor, wanted: Any
) -> list[Tensor | None]:
    inputs = [tensor for tensor, needed in zip((pred, target), wanted, strict=True) if needed]
    found = iter(torch.autograd.grad(general(pred, target, dim), inputs, grad, create_graph=True))
    return [next(found) if needed else None for needed in wanted]
