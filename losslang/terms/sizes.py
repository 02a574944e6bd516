"""Sizes of tensors as numbers computed at run time: ``size(x, dim)`` and ``numel(x)``.

They give a loss what Python code reads from ``x.shape``: ``sum(...) / size(x, 0)`` is a
per-sample mean whatever the batch size. Each is a 0-d integer tensor on the tensor's device
(no host read), which arithmetic promotes as torch does: ``sum(x) / size(x, 0)`` is a float.
A size carries no gradient.
"""

from __future__ import annotations

import torch
from torch import Tensor

from losslang.errors import LossShapeError


def size(x: Tensor, dim: int) -> Tensor:
    """The size of dimension ``dim`` of ``x``, as ``x.size(dim)``: a 0-d int64 tensor.

    Example:
        >>> import torch
        >>> size(torch.zeros(8, 3), 0), size(torch.zeros(8, 3), -1)
        (tensor(8), tensor(3))
    """
    if not -x.dim() <= dim < x.dim():
        raise LossShapeError(f"size(): dimension {dim} is out of range for a tensor of shape {tuple(x.shape)}")
    return torch.scalar_tensor(x.shape[dim], dtype=torch.int64, device=x.device)


def numel(x: Tensor) -> Tensor:
    """The number of elements of ``x``, as ``x.numel()``: a 0-d int64 tensor.

    Example:
        >>> import torch
        >>> numel(torch.zeros(8, 3))
        tensor(24)
    """
    return torch.scalar_tensor(x.numel(), dtype=torch.int64, device=x.device)


SIZES = frozenset({size, numel})  # one value whatever their input: no broadcast to check
