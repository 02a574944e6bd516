"""Likelihood losses: Poisson and Gaussian negative log-likelihood, and the KL divergence.

Each is element-wise and takes ``weight=`` and ``mask=`` as described in
:mod:`losslang.terms.reduction`.
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from losslang.bounds import Positive
from losslang.terms.reduction import Reduction, pointwise
from losslang.terms.shapes import align, fit, floating


def poisson_nll(
    pred: Tensor,
    target: Tensor | float,
    *,
    log_input: bool = True,
    full: bool = False,
    eps: Positive = 1e-8,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """Poisson negative log-likelihood of counts, as ``torch.nn.PoissonNLLLoss``.

    With ``log_input`` the prediction is the log of the rate; ``full`` adds Stirling's term.

    Example:
        >>> import torch
        >>> poisson_nll(torch.tensor([0.0, 0.0]), torch.tensor([1.0, 2.0]), reduction="none")
        tensor([1., 1.])
    """
    loss = functools.partial(F.poisson_nll_loss, log_input=log_input, full=full, eps=eps)
    return pointwise("poisson_nll", loss, pred, target, reduction=reduction, weight=weight, mask=mask, native=True)


def gaussian_nll(
    pred: Tensor,
    target: Tensor | float,
    var: Tensor | float,
    *,
    full: bool = False,
    eps: Positive = 1e-6,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """Gaussian negative log-likelihood with predicted variance ``var``, as ``torch.nn.GaussianNLLLoss``.

    The shapes torch documents: ``target`` has the prediction's shape or broadcasts to it with
    dimensions of size 1; ``var`` has the prediction's shape, broadcasts to it with dimensions
    of size 1, has one dimension fewer (one value per sample of an ``(N, D)`` prediction), or
    is a number. The variance is clamped to ``eps`` without stopping its gradient, as in torch.
    Unlike torch, negative variances are not looked for: that check would stop for the device
    on every call.

    Example:
        >>> import torch
        >>> gaussian_nll(torch.tensor([1.0, 3.0]), torch.tensor([1.0, 1.0]), torch.tensor([1.0, 1.0]))
        tensor(1.)
        >>> gaussian_nll(torch.tensor([[1.0, 3.0]]), torch.tensor([[1.0]]), 1.0)  # a broadcast target, a number
        tensor(1.)
    """
    floating("gaussian_nll", "pred", pred)
    shape = tuple(pred.shape)
    if isinstance(target, Tensor) and target.dim() == pred.dim() and target.shape != pred.shape:
        target = fit("gaussian_nll", "target", target, shape).expand_as(pred)  # type: ignore[union-attr]
    if isinstance(var, Tensor):  # a number is expanded by pointwise, like a number target
        var = align(fit("gaussian_nll", "var", var, shape, torch_aligns_right=False), pred.dim()).expand_as(pred)  # type: ignore[arg-type]
    loss = functools.partial(_gaussian_nll, full=full, eps=eps)
    names = ("pred", "target", "var")
    return pointwise(
        "gaussian_nll", loss, pred, target, var, reduction=reduction, weight=weight, mask=mask, names=names
    )


def _gaussian_nll(pred: Tensor, target: Tensor, var: Tensor, *, full: bool, eps: float) -> Tensor:
    var = var.clone()
    with torch.no_grad():  # torch's clamp: the value is clamped, the gradient passes unchanged
        var.clamp_(min=eps)
    loss = 0.5 * (var.log() + (pred - target).square() / var)
    return loss + 0.5 * math.log(2 * math.pi) if full else loss


def kl_div(
    log_probs: Tensor,
    target: Tensor,
    *,
    reduction: Literal["mean", "sum", "none", "batchmean"] = "mean",
    log_target: bool = False,
    weight: Tensor | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """Kullback-Leibler divergence of ``target`` from log-probabilities, as ``torch.nn.KLDivLoss``.

    ``target`` holds probabilities, or log-probabilities with ``log_target``. ``"mean"``
    averages over every element, like torch (without its warning); ``"batchmean"``, the true
    KL divergence, divides the sum by the number of samples that have an element not masked.

    Example:
        >>> import torch
        >>> log_probs = torch.tensor([[0.5, 0.5], [0.5, 0.5]]).log()
        >>> target = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
        >>> kl_div(log_probs, target, reduction="batchmean")
        tensor(0.3466)
    """
    loss = functools.partial(F.kl_div, reduction="none", log_target=log_target)
    summed = "sum" if reduction == "batchmean" else reduction
    names = ("log_probs", "target")
    value = pointwise("kl_div", loss, log_probs, target, reduction=summed, weight=weight, mask=mask, names=names)
    if reduction != "batchmean":
        return value
    return value / _samples(log_probs, fit("kl_div", "mask", mask, tuple(log_probs.shape)))


def _samples(x: Tensor, mask: Tensor | None) -> Tensor | int:
    """How many samples (rows of dimension 0) have an element not masked, at least 1."""
    if mask is None:
        return max(x.shape[0] if x.dim() else 1, 1)
    mask = torch.broadcast_to(mask, x.shape)
    kept = mask.flatten(1).any(1) if mask.dim() > 1 else mask
    return kept.sum().clamp_min(1)
