"""Regression losses: pure functions of prediction and target."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from losslang.terms.reduction import Reduction, masked_inputs, reduce


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
        return F.l1_loss(pred, target, reduction=reduction)
    pred, target = masked_inputs(mask, pred, target)
    return reduce((pred - target).abs(), reduction, weight, mask)
