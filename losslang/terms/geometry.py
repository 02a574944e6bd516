"""Angle losses between vectors along ``dim``, stable where the textbook formulas are not.

Each gives one loss per vector; ``weight=`` and ``mask=`` hold one value per vector (the
inputs' shape without ``dim``), a masked vector counting neither in the sum nor in the mean.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.linalg import vector_norm

from losslang.errors import LossShapeError
from losslang.terms.reduction import Reduction, masked_inputs, reduce
from losslang.terms.shapes import fit, same_shape
from losslang.terms.sine import PARALLEL_ULPS, WIDTHS, fused_sine


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
    parallel (arccos' at 1), which turns into NaN gradients, and ``sqrt(1 - cos**2)`` loses
    half the digits there. This computes ``|a x b| / (|a| |b|)``, the area of the parallelogram
    over the product of the lengths: the cross product for 3-vectors, otherwise ``|a|`` times
    the part of ``b`` perpendicular to ``a``. Both are accurate to rounding error at every
    angle. The sine has a kink at 0 and pi, where any direction is a subgradient; vectors
    parallel or anti-parallel up to rounding error (an area within a few ulps of ``|a| |b|``)
    get the zero subgradient instead of one picked by the rounding noise. A zero vector has no
    direction: its sine is 1, as ``sin(arccos(cosine_similarity))`` gives, with a zero gradient.
    A vector with a NaN or infinite component gives NaN, which ``check_finite`` and
    ``nan_policy`` see, never a silent 0.

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
    pred, target, weight, mask = _vectors("sin_angle", pred, target, dim, weight, mask)
    return reduce(_sin(pred, target, dim), reduction, weight, mask)


def cos_angle(
    pred: Tensor,
    target: Tensor,
    *,
    dim: int = -1,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """One minus the cosine of the angle between vectors along ``dim``: 0 when parallel, 2 when opposite.

    Smooth at parallel and anti-parallel vectors. A zero vector has no direction: its loss is
    1, as ``1 - cosine_similarity`` gives, with a zero gradient instead of one of size
    ``1 / eps``.

    Example:
        >>> import torch
        >>> a = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
        >>> b = torch.tensor([[-2.0, 0.0], [0.0, 3.0], [1.0, 0.0]])  # opposite, at 45 degrees, zero
        >>> [round(value, 6) for value in cos_angle(a, b, reduction="none").tolist()]
        [2.0, 0.292893, 1.0]
    """
    pred, target, weight, mask = _vectors("cos_angle", pred, target, dim, weight, mask)
    (u, u_zero), (v, v_zero) = _unit(pred, dim), _unit(target, dim)
    return reduce(torch.where(u_zero | v_zero, 1.0, 1 - (u * v).sum(dim)), reduction, weight, mask)


def msa(
    pred: Tensor,
    target: Tensor,
    *,
    angle_ratio: float = 1.0,
    len_ratio: float = 0.0,
    dim: int = -1,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """DeepMuon's MSALoss: ``len_ratio * mse + angle_ratio * sin_angle``, with a finite gradient.

    Per vector, the length part is the mean squared error over ``dim``, so the mean over vectors
    equals DeepMuon's ``len_ratio * mean((pred - target)**2) + angle_ratio * mean(sin(angle))``.
    The angle part is :func:`sin_angle`, not DeepMuon's ``sin(arccos(...))``, whose gradient is
    NaN at parallel vectors. The defaults are DeepMuon's: the angle only.

    Example:
        >>> import torch
        >>> a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 3.0]])
        >>> msa(a, b, len_ratio=1.0)
        tensor(6.)
    """
    pred, target, weight, mask = _vectors("msa", pred, target, dim, weight, mask)
    loss = len_ratio * (pred - target).square().mean(dim) + angle_ratio * _sin(pred, target, dim)
    return reduce(loss, reduction, weight, mask)


def _vectors(
    term: str, pred: Tensor, target: Tensor, dim: int, weight: Tensor | None, mask: Tensor | None
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """Check the inputs, fit ``weight`` and ``mask`` to one value per vector and mask the inputs."""
    same_shape(term, {"pred": pred, "target": target})
    if not -pred.dim() <= dim < pred.dim():
        raise LossShapeError(f"{term}(): dim={dim} is out of range for vectors of shape {tuple(pred.shape)}")
    dim %= pred.dim()
    shape = tuple(pred.shape[:dim] + pred.shape[dim + 1 :])
    weight, mask = fit(term, "weight", weight, shape), fit(term, "mask", mask, shape)
    if mask is not None:
        pred, target = masked_inputs(mask.unsqueeze(dim), pred, target)
    return pred, target, weight, mask


def _unit(x: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """``x`` scaled to unit length along ``dim`` (zero vectors stay zero), and where it was zero."""
    norm = vector_norm(x, dim=dim, keepdim=True)
    zero = norm == 0
    return x / torch.where(zero, 1.0, norm), zero.squeeze(dim)


def _sin(pred: Tensor, target: Tensor, dim: int) -> Tensor:
    if pred.shape[dim] in WIDTHS:  # 2- and 3-vectors: one autograd Function, the same values
        return fused_sine(pred, target, dim, _general_sine)
    return _general_sine(pred, target, dim)


def _general_sine(pred: Tensor, target: Tensor, dim: int) -> Tensor:
    """The sine of any width, through autograd: the formula :mod:`losslang.terms.sine` must equal."""
    pred_length = vector_norm(pred, dim=dim)
    lengths = pred_length * vector_norm(target, dim=dim)
    if pred.shape[dim] == 3:
        area = vector_norm(torch.linalg.cross(pred, target, dim=dim), dim=dim)
    else:  # |pred| times the part of target perpendicular to pred
        squared = pred_length.unsqueeze(dim).square()
        along = (pred * target).sum(dim, keepdim=True) / torch.where(squared == 0, 1.0, squared)
        area = pred_length * vector_norm(target - along * pred, dim=dim)
    zero = lengths == 0
    sine = area / torch.where(zero, 1.0, lengths)
    # Parallel up to rounding error: 0, with a zero gradient. A zero vector: 1. A NaN or infinite
    # input gives NaN (inf / inf), which compares false: it stays NaN for check_finite to see.
    return torch.where((sine <= PARALLEL_ULPS * torch.finfo(sine.dtype).eps) | zero, zero, sine)
