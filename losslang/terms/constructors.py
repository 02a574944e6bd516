"""Tensors built inside the loss, shaped by its inputs: zeros_like, ones_like, full_like, arange and one_hot.

They build targets without a Python loop or an extra batch key: ``one_hot(t, 10)`` for a
float target, ``arange(size(x, 0))`` for the diagonal labels of an in-batch contrastive loss.
Each is made on its argument's device and carries no gradient.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from losslang.errors import LossShapeError


def zeros_like(x: Tensor) -> Tensor:
    """Zeros of ``x``'s shape, dtype and device, as ``torch.zeros_like``.

    Example:
        >>> import torch
        >>> zeros_like(torch.ones(2))
        tensor([0., 0.])
    """
    return torch.zeros_like(x)


def ones_like(x: Tensor) -> Tensor:
    """Ones of ``x``'s shape, dtype and device, as ``torch.ones_like``.

    Example:
        >>> import torch
        >>> ones_like(torch.zeros(2))
        tensor([1., 1.])
    """
    return torch.ones_like(x)


def full_like(x: Tensor, fill_value: float) -> Tensor:
    """``fill_value`` in ``x``'s shape, dtype and device, as ``torch.full_like``.

    Example:
        >>> import torch
        >>> full_like(torch.zeros(2), 0.5)
        tensor([0.5000, 0.5000])
    """
    return torch.full_like(x, fill_value)


def arange(start: Tensor | float, end: Tensor | float | None = None, step: float = 1) -> Tensor:
    """``start, start + step, ...`` below ``end``, or ``0, 1, ..., start - 1`` without ``end``, as ``torch.arange``.

    A bound may be a number computed from a tensor, ``arange(size(x, 0))``: the result is then on
    that tensor's device. Integer bounds give int64, as in torch.

    Example:
        >>> import torch
        >>> arange(torch.tensor(3)), arange(1, 2, 0.5)
        (tensor([0, 1, 2]), tensor([1.0000, 1.5000]))
    """
    low, high = (0, start) if end is None else (start, end)
    device = next((bound.device for bound in (low, high) if isinstance(bound, Tensor)), None)
    bounds = [bound.item() if isinstance(bound, Tensor) else bound for bound in (low, high)]
    return torch.arange(bounds[0], bounds[1], step, device=device)


def one_hot(t: Tensor, num_classes: int = -1) -> Tensor:
    """The one-hot encoding of the class indices ``t`` as a float tensor, with a last dimension of ``num_classes``.

    As ``torch.nn.functional.one_hot``, but float (the default dtype), so that it enters arithmetic
    as a target: ``mse(softmax(s, dim=1), one_hot(t, 3))``. ``num_classes=-1`` takes the largest
    index plus one, which reads the device.

    Example:
        >>> import torch
        >>> one_hot(torch.tensor([0, 2]), 3)
        tensor([[1., 0., 0.],
                [0., 0., 1.]])
    """
    if t.is_floating_point() or t.dtype == torch.bool:
        raise LossShapeError(f"one_hot(): t holds class indices, so it must be an integer tensor, not {t.dtype}")
    return F.one_hot(t.long(), num_classes).to(torch.get_default_dtype())
