"""Margin and embedding losses, as in ``torch.nn``: ranking pairs, hinges, multi-label and triplets.

``margin_ranking``, ``hinge_embedding`` and ``soft_margin`` are element-wise; the others give
one loss per sample (the last dimension holds classes or features). All take ``mask=`` and all
but ``multi_margin`` and ``multilabel_soft_margin``, whose ``weight`` is torch's per-class
weight, take a per-sample ``weight=``. Labels of ``+1``/``-1`` share the prediction's dtype.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated

import torch
import torch.nn.functional as F
from torch import Tensor

from losslang.bounds import NonNegative, Positive, Range
from losslang.errors import LossArityError
from losslang.terms.reduction import Reduction, pointwise, reduced
from losslang.terms.shapes import class_weight, floating, indices, labels, same_shape


def margin_ranking(
    x1: Tensor,
    x2: Tensor,
    target: Tensor,
    *,
    margin: float = 0.0,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """Ranking hinge ``max(0, -target * (x1 - x2) + margin)``, as ``torch.nn.MarginRankingLoss``.

    Example:
        >>> import torch
        >>> margin_ranking(torch.tensor([1.0, 1.0]), torch.tensor([0.0, 3.0]), torch.tensor([1.0, 1.0]))
        tensor(1.)
    """
    loss = functools.partial(F.margin_ranking_loss, margin=margin)
    names = ("x1", "x2", "target")
    return pointwise(
        "margin_ranking", loss, x1, x2, target, reduction=reduction, weight=weight, mask=mask, native=True, names=names
    )


def hinge_embedding(
    pred: Tensor,
    target: Tensor | float,
    *,
    margin: float = 1.0,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """Hinge embedding loss: ``pred`` where ``target`` is 1, ``max(0, margin - pred)`` where it is -1.

    As ``torch.nn.HingeEmbeddingLoss``.

    Example:
        >>> import torch
        >>> hinge_embedding(torch.tensor([0.5, 0.25]), torch.tensor([1.0, -1.0]), reduction="none")
        tensor([0.5000, 0.7500])
    """
    loss = functools.partial(F.hinge_embedding_loss, margin=margin)
    return pointwise("hinge_embedding", loss, pred, target, reduction=reduction, weight=weight, mask=mask, native=True)


def soft_margin(
    pred: Tensor,
    target: Tensor | float,
    *,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """Two-class logistic loss ``log(1 + exp(-target * pred))``, as ``torch.nn.SoftMarginLoss``.

    Computed as ``logaddexp(0, -target * pred)``: torch's formula overflows to infinity for
    margins beyond about 88 (float32) or 710 (float64); this one is exact there too.

    Example:
        >>> import torch
        >>> soft_margin(torch.tensor([0.0, -1e4]), torch.tensor([1.0, 1.0]), reduction="none")
        tensor([6.9315e-01, 1.0000e+04])
    """
    return pointwise("soft_margin", _soft_margin, pred, target, reduction=reduction, weight=weight, mask=mask)


def _soft_margin(pred: Tensor, target: Tensor) -> Tensor:
    margin = -target * pred
    return torch.logaddexp(torch.zeros_like(margin), margin)


def multilabel_soft_margin(
    logits: Tensor,
    target: Tensor,
    *,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
    mask: Tensor | None = None,
) -> Tensor:
    """Multi-label one-versus-all logistic loss per sample, as ``torch.nn.MultiLabelSoftMarginLoss``.

    ``target`` holds 0/1 labels of the logits' shape ``(N, C)``; ``weight`` is per class.

    Example:
        >>> import torch
        >>> multilabel_soft_margin(torch.zeros(1, 2), torch.tensor([[1.0, 0.0]]))
        tensor(0.6931)
    """
    same_shape("multilabel_soft_margin", {"logits": logits, "target": target})
    class_weight("multilabel_soft_margin", weight, "logits", logits)
    loss = functools.partial(F.multilabel_soft_margin_loss, weight=weight)
    return _per_sample("multilabel_soft_margin", loss, logits, target, reduction=reduction, weight=None, mask=mask)


def multilabel_margin(
    pred: Tensor,
    target: Tensor,
    *,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """Multi-label hinge loss per sample, as ``torch.nn.MultiLabelMarginLoss``.

    ``target`` holds, per sample, the indices of its classes followed by -1 (an integer tensor
    of the prediction's shape).

    Example:
        >>> import torch
        >>> multilabel_margin(torch.tensor([[0.1, 0.2, 0.4, 0.8]]), torch.tensor([[3, 0, -1, 1]]))
        tensor(0.8500)
    """
    floating("multilabel_margin", "pred", pred)
    indices("multilabel_margin", "target", target, tuple(pred.shape))
    loss = F.multilabel_margin_loss
    return _per_sample("multilabel_margin", loss, pred, target, reduction=reduction, weight=weight, mask=mask)


def multi_margin(
    pred: Tensor,
    target: Tensor,
    *,
    p: Annotated[int, Range(ge=1, le=2)] = 1,
    margin: float = 1.0,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
    mask: Tensor | None = None,
) -> Tensor:
    """Multi-class hinge loss per sample, as ``torch.nn.MultiMarginLoss``; ``weight`` is per class.

    ``target`` holds class indices: ``(N,)`` for scores ``(N, C)``.

    Raises:
        LossArityError: ``p`` other than 1 or 2.

    Example:
        >>> import torch
        >>> multi_margin(torch.tensor([[0.1, 0.2, 0.4, 0.8]]), torch.tensor([3]))
        tensor(0.3250)
    """
    if p not in (1, 2):
        raise LossArityError(f"multi_margin(): p must be 1 or 2, not {p}")
    floating("multi_margin", "pred", pred)
    indices("multi_margin", "target", target, tuple(pred.shape[:-1]))
    class_weight("multi_margin", weight, "pred", pred)
    loss = functools.partial(F.multi_margin_loss, p=p, margin=margin, weight=weight)
    return _per_sample("multi_margin", loss, pred, target, reduction=reduction, weight=None, mask=mask)


def cosine_embedding(
    x1: Tensor,
    x2: Tensor,
    target: Tensor,
    *,
    margin: float = 0.0,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """Pull pairs together (target 1) or apart (-1) by cosine, as ``torch.nn.CosineEmbeddingLoss``.

    Example:
        >>> import torch
        >>> x1, x2 = torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.tensor([[0.0, 1.0], [1.0, 1.0]])
        >>> cosine_embedding(x1, x2, torch.tensor([1.0, -1.0]), reduction="none")
        tensor([1.0000, 0.7071])
    """
    same_shape("cosine_embedding", {"x1": x1, "x2": x2})
    labels("cosine_embedding", target, x1)
    loss = functools.partial(F.cosine_embedding_loss, margin=margin)
    return _per_sample("cosine_embedding", loss, x1, x2, target, reduction=reduction, weight=weight, mask=mask)


def triplet_margin(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    *,
    margin: Positive = 1.0,
    p: Positive = 2.0,
    eps: NonNegative = 1e-6,
    swap: bool = False,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """Triplet loss ``max(d(a, p) - d(a, n) + margin, 0)`` per sample, as ``torch.nn.TripletMarginLoss``.

    Example:
        >>> import torch
        >>> a, pos, neg = torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]]), torch.tensor([[0.0, 1.0]])
        >>> round(float(triplet_margin(a, pos, neg)), 4)
        5.0
    """
    same_shape("triplet_margin", {"anchor": anchor, "positive": positive, "negative": negative})
    loss = functools.partial(F.triplet_margin_loss, margin=margin, p=p, eps=eps, swap=swap)
    return _per_sample(
        "triplet_margin", loss, anchor, positive, negative, reduction=reduction, weight=weight, mask=mask
    )


def _per_sample(
    term: str,
    loss: Callable[..., Tensor],
    *tensors: Tensor,
    reduction: Reduction,
    weight: Tensor | None,
    mask: Tensor | None,
) -> Tensor:
    """A torch loss whose last dimension is reduced within each sample."""
    shape = tuple(tensors[0].shape[:-1])
    return reduced(term, loss, *tensors, shape=shape, reduction=reduction, weight=weight, mask=mask, native=True)
