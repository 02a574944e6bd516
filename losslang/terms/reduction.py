"""The one path every loss term with ``weight=`` and ``mask=`` takes: check, mask, compute, reduce.

Weights and masks line up with the leading dimensions of the loss: a tensor with fewer
dimensions than the loss gets trailing singleton dimensions, so a ``(N,)`` weight is one value
per sample whatever the loss's shape. A tensor with as many dimensions broadcasts as usual, so a
per-feature weight of an ``(N, D)`` loss is written ``(1, D)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor

from losslang.terms.shapes import align, fit, same_shape

Reduction = Literal["mean", "sum", "none"]
# From this many elements on, a term's one-pass autograd Function (``pointwise(fused=...)``) beats
# autograd through its ops; below, the Function's own call costs more than the passes it saves
# (measured on mae, fwd+bwd against autograd through its ops: 1.13x at 1e3 elements, 1.05x at 1e4,
# 0.92x at 3e4, 0.66x at 1e5).
FUSED_FROM = 16_384


def masked_inputs(mask: Tensor | None, *tensors: Tensor) -> tuple[Tensor, ...]:
    """Zero the masked-out elements of each input before the loss is computed from them.

    Masking only the loss is not enough: ``where`` passes a zero gradient to the dropped
    elements, and zero times the NaN derivative of a NaN target is still NaN. Missing labels
    stored as NaN are common, so the inputs themselves are cleaned. A mask with fewer
    dimensions than an input lines up with its leading dimensions (one value per sample), and
    integer inputs stay integers.

    Example:
        >>> import torch
        >>> masked_inputs(torch.tensor([True, False]), torch.tensor([1.0, float("nan")]))
        (tensor([1., 0.]),)
        >>> masked_inputs(torch.tensor([True, False]), torch.ones(2, 2))
        (tensor([[1., 1.],
                [0., 0.]]),)
    """
    if mask is None:
        return tensors
    return tuple(torch.where(align(mask, tensor.dim()), tensor, 0) for tensor in tensors)


def reduce(loss: Tensor, reduction: Reduction, weight: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
    """Weight, mask and reduce an element-wise loss.

    Masked-out elements count neither in the sum nor in the mean's denominator, and an empty or
    all-masked batch reduces to 0 with a zero gradient instead of NaN.

    Args:
        loss: the element-wise loss.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        weight: multiplies the loss element-wise, lined up with its leading dimensions.
        mask: a boolean tensor, lined up the same way; ``False`` drops the element.

    Example:
        >>> import torch
        >>> loss = torch.tensor([1.0, 2.0, 3.0])
        >>> reduce(loss, "mean", mask=torch.tensor([True, True, False]))
        tensor(1.5000)
        >>> reduce(loss[:0], "mean")
        tensor(0.)
    """
    if weight is not None:
        loss = loss * align(weight, loss.dim())
    if mask is not None:
        mask = torch.broadcast_to(align(mask, loss.dim()), loss.shape)
        loss = torch.where(mask, loss, 0.0)  # where, not multiply: a masked NaN must not leak
    if reduction == "none":
        return loss
    if reduction == "sum" or not loss.numel():  # an empty mean is 0, with a zero gradient
        return loss.sum()
    if mask is None:  # the mean of one value (one sample's loss) is that value: a view, no kernel
        return loss.reshape(()) if loss.numel() == 1 else loss.mean()
    return loss.sum() / mask.sum().clamp_min(1)


def reduced(
    term: str,
    loss: Callable[..., Tensor],
    *tensors: Tensor,
    shape: tuple[int, ...],
    reduction: Reduction,
    weight: Tensor | None,
    mask: Tensor | None,
    native: bool = False,
) -> Tensor:
    """Mask the inputs, compute the unreduced loss of shape ``shape`` and reduce it.

    Args:
        term: the term's name, for error messages.
        loss: maps ``tensors`` to the unreduced loss; with ``native`` it is a
            ``torch.nn.functional`` loss taking ``reduction=``, called with the reduction itself
            (the same numerics as torch) when there is nothing to weight or mask and the batch
            is not empty (where torch's mean is NaN).
        *tensors: the inputs, checked by the caller.
        shape: the shape of the unreduced loss, which ``weight`` and ``mask`` must fit.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        weight: see :func:`reduce`.
        mask: see :func:`reduce`.
        native: whether ``loss`` takes ``reduction=``.

    Example:
        >>> import torch
        >>> rows = torch.tensor([[1.0, 2.0], [3.0, float("nan")]])
        >>> reduced("l1", lambda x: x.abs().sum(-1), rows, shape=(2,), reduction="mean", weight=None,
        ...         mask=torch.tensor([True, False]))
        tensor(3.)
    """
    weight, mask = fit(term, "weight", weight, shape), fit(term, "mask", mask, shape)
    if native and weight is None and mask is None and tensors[0].numel():
        return loss(*tensors, reduction=reduction)
    tensors = masked_inputs(mask, *tensors)
    value = loss(*tensors, reduction="none") if native else loss(*tensors)
    return reduce(value, reduction, weight, mask)


def pointwise(
    term: str,
    loss: Callable[..., Tensor],
    first: Tensor,
    *others: Tensor | float,
    reduction: Reduction,
    weight: Tensor | None,
    mask: Tensor | None,
    native: bool = False,
    names: tuple[str, ...] = ("pred", "target"),
    fused: Callable[[Tensor, Tensor, bool], Tensor] | None = None,
) -> Tensor:
    """An element-wise loss of same-shape, same-dtype tensors, through :func:`reduced`.

    ``names`` name the tensors in the error raised when their shapes or dtypes differ.
    ``fused(pred, target, mean)``, where given, computes the mean (or sum) in one autograd
    ``Function``; it takes a batch of at least ``FUSED_FROM`` elements with nothing to weight or
    mask. A number
    after the first tensor (the target of ``mse(res, 0)``, the PINN idiom) stands for a tensor of
    that value shaped like the first, without allocating one.

    Example:
        >>> import torch
        >>> pointwise("l1", lambda p, t: (p - t).abs(), torch.tensor([1.0, 2.0]), torch.tensor([1.5, 1.0]),
        ...           reduction="sum", weight=torch.tensor([2.0, 1.0]), mask=None)
        tensor(2.)
    """
    tensors = (first, *(t if isinstance(t, Tensor) else first.new_tensor(t).expand_as(first) for t in others))
    plain = weight is None and mask is None and first.is_floating_point() and first.numel()
    if plain and all(tensor.shape == first.shape and tensor.dtype == first.dtype for tensor in tensors[1:]):
        if fused is not None and reduction != "none" and first.numel() >= FUSED_FROM:
            return fused(*tensors, reduction == "mean")
        return loss(*tensors, reduction=reduction) if native else reduce(loss(*tensors), reduction)
    same_shape(term, dict(zip(names, tensors, strict=True)))  # the hot path above, checked in full
    shape = tuple(first.shape)
    return reduced(term, loss, *tensors, shape=shape, reduction=reduction, weight=weight, mask=mask, native=native)
