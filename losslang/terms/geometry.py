"""Angle losses between vectors, stable where the textbook formulas are not."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.linalg import vector_norm

from losslang.terms.reduction import Reduction, masked_inputs, reduce


def sin_angle(
    pred: Tensor,
    target: Tensor,
    *,
    dim: int = -1,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """Sine of the angle between vectors along ``dim``, with finite gradients everywhere.

    The textbook ``sin(arccos(cos_sim))`` has an infinite derivative where the vectors are
    parallel (arccos' at 1), which turns into NaN gradients. For unit vectors ``u`` and ``v``,
    ``|u - v| * |u + v| = 2 sin(angle)`` exactly. The sine has a kink at 0 and pi, where any
    direction is a subgradient; vectors parallel or anti-parallel up to rounding error
    (``|u -+ v|`` within a few ulps) get the zero subgradient instead of one picked by the
    rounding noise. A zero vector has no direction: its sine is 1, as
    ``sin(arccos(cosine_similarity))`` gives, with a zero gradient.

    Example:
        >>> import torch
        >>> a = torch.tensor([[3.0, 0.0], [1.0, 1.0]], requires_grad=True)
        >>> b = torch.tensor([[0.0, 2.0], [2.0, 2.0]])  # perpendicular, then parallel
        >>> loss = sin_angle(a, b, reduction="none")
        >>> [round(value, 6) for value in loss.tolist()]
        [1.0, 0.0]
        >>> loss.sum().backward()
        >>> a.grad  # the textbook formula gives NaN in the second row
        tensor([[0., 0.],
                [0., 0.]])
    """
    if mask is not None:
        pred, target = masked_inputs(mask.unsqueeze(dim), pred, target)
    pred_norm = vector_norm(pred, dim=dim, keepdim=True)
    target_norm = vector_norm(target, dim=dim, keepdim=True)
    pred_zero, target_zero = pred_norm == 0, target_norm == 0
    degenerate = (pred_zero | target_zero).squeeze(dim)
    u = pred / torch.where(pred_zero, 1.0, pred_norm)
    v = target / torch.where(target_zero, 1.0, target_norm)
    ulps = 16 * torch.finfo(u.dtype).eps
    chord, cochord = (_snap(vector_norm(w, dim=dim), ulps) for w in (u - v, u + v))
    return reduce(torch.where(degenerate, 1.0, chord * cochord / 2), reduction, weight, mask)


def _snap(length: Tensor, tolerance: float) -> Tensor:
    """Lengths within rounding error of zero become exactly zero, with a zero gradient."""
    return torch.where(length <= tolerance, 0.0, length)
