"""The one reduction every element-wise loss term ends with: weight, mask, then reduce."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

Reduction = Literal["mean", "sum", "none"]


def masked_inputs(mask: Tensor | None, *tensors: Tensor) -> tuple[Tensor, ...]:
    """Zero the masked-out elements of each input before the loss is computed from them.

    Masking only the loss is not enough: ``where`` passes a zero gradient to the dropped
    elements, and zero times the NaN derivative of a NaN target is still NaN. Missing labels
    stored as NaN are common, so the inputs themselves are cleaned.

    Example:
        >>> import torch
        >>> masked_inputs(torch.tensor([True, False]), torch.tensor([1.0, float("nan")]))
        (tensor([1., 0.]),)
    """
    if mask is None:
        return tensors
    return tuple(torch.where(mask, tensor, 0.0) for tensor in tensors)


def reduce(loss: Tensor, reduction: Reduction, weight: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
    """Weight, mask and reduce an element-wise loss.

    Masked-out elements count neither in the sum nor in the mean's denominator, and an empty or
    all-masked batch reduces to 0 with a zero gradient instead of NaN.

    Args:
        loss: the element-wise loss.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        weight: multiplies the loss element-wise (broadcast).
        mask: a boolean tensor (broadcast); ``False`` drops the element.

    Example:
        >>> import torch
        >>> loss = torch.tensor([1.0, 2.0, 3.0])
        >>> reduce(loss, "mean", mask=torch.tensor([True, True, False]))
        tensor(1.5000)
        >>> reduce(loss[:0], "mean")
        tensor(0.)
    """
    if weight is not None:
        loss = loss * weight
    if mask is not None:
        mask = torch.broadcast_to(mask, loss.shape)
        loss = torch.where(mask, loss, 0.0)  # where, not multiply: a masked NaN must not leak
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    count = mask.sum() if mask is not None else loss.numel()
    return total / (count.clamp_min(1) if isinstance(count, Tensor) else max(count, 1))
