"""Regression losses: pure functions of prediction and target."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from losslang.terms.reduction import Reduction, masked_inputs, reduce

_ATEN_REDUCTION = {"none": 0, "mean": 1, "sum": 2}  # at::Reduction, what F.mse_loss passes to the kernel


def mse(
    pred: Tensor,
    target: Tensor,
    *,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """Mean squared error, as ``torch.nn.MSELoss``.

    Example:
        >>> import torch
        >>> mse(torch.tensor([3.0, 4.5, 2.1]), torch.tensor([3.2, 4.0, 2.0]))
        tensor(0.1000)
    """
    if weight is None and mask is None and pred.numel():
        if pred.shape == target.shape:
            # The kernel F.mse_loss calls, without its wrapper: that only broadcasts (one more
            # autograd node) and maps the reduction name, and costs as much as the kernel on 1e3 elements.
            return torch._C._nn.mse_loss(pred, target, _ATEN_REDUCTION[reduction])
        return F.mse_loss(pred, target, reduction=reduction)
    pred, target = masked_inputs(mask, pred, target)
    return reduce((pred - target).square(), reduction, weight, mask)


def mae(
    pred: Tensor,
    target: Tensor,
    *,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """Mean absolute error, as ``torch.nn.L1Loss``.

    Example:
        >>> import torch
        >>> mae(torch.tensor([0.1, 0.2, 0.3]), torch.tensor([0.1, 0.2, 0.2]))
        tensor(0.0333)
    """
    if weight is None and mask is None and pred.numel():
        # What F.l1_loss computes (ATen's l1_loss is this composite), without its Python wrapper.
        loss = (pred - target).abs()
        return loss if reduction == "none" else loss.mean() if reduction == "mean" else loss.sum()
    pred, target = masked_inputs(mask, pred, target)
    return reduce((pred - target).abs(), reduction, weight, mask)
