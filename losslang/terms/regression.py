"""Regression losses: element-wise functions of a prediction and a same-shape target.

Every term takes ``reduction="mean"|"sum"|"none"``, ``weight=`` (per sample or broadcast) and
``mask=`` (a boolean tensor; masked elements count neither in the sum nor in the mean), as
described in :mod:`losslang.terms.reduction`. The torch losses call ``torch.nn.functional``.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from losslang.bounds import Fraction, NonNegative, Positive
from losslang.errors import LossArityError
from losslang.terms.reduction import Reduction, pointwise


def mse(
    pred: Tensor,
    target: Tensor | float,
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
    return pointwise("mse", F.mse_loss, pred, target, reduction=reduction, weight=weight, mask=mask, native=True)


def mae(
    pred: Tensor,
    target: Tensor | float,
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
    # |pred - target| written out: F.l1_loss computes the same values through a slower backward.
    fused = _MeanAbsoluteError.apply
    return pointwise("mae", _absolute_error, pred, target, reduction=reduction, weight=weight, mask=mask, fused=fused)


def _absolute_error(pred: Tensor, target: Tensor) -> Tensor:
    return (pred - target).abs()


class _MeanAbsoluteError(torch.autograd.Function):
    """The mean (or sum) of ``|pred - target|`` whose backward is one multiplication.

    Autograd through ``(pred - target).abs().mean()`` materialises the expanded mean gradient,
    the signs and their product: three tensors of the batch's size in the backward, two in the
    forward. This keeps the difference, turns it into its signs in place once summed, and the
    backward multiplies them by the incoming gradient: one tensor each way. The values and
    gradients are autograd's (a zero or NaN difference has a zero gradient, as ``sgn`` gives), and
    so are second derivatives (``create_graph=True``): the gradient is linear in the incoming one,
    and its derivative by the inputs is zero, as autograd's is. Unlike autograd's, that gradient is
    not connected to the inputs in the graph, so differentiating it alone by them is an error
    rather than zeros; saving the inputs to connect it would keep their float32 copies under
    autocast (measured: +143 MiB at 1e7 elements in the mission formula).
    """

    # forward(ctx, ...) rather than forward + setup_context: less overhead per call, as in sine._Sine.
    @staticmethod
    def forward(ctx: Any, pred: Tensor, target: Tensor, mean: bool) -> Tensor:  # type: ignore[override]
        difference = pred - target
        value = difference.abs().sum()
        ctx.count = difference.numel() if mean else 1
        ctx.save_for_backward(difference.sign_())  # not the inputs: under autocast they are float32 copies
        return value.div_(ctx.count) if mean else value  # torch's mean: the sum divided by the count

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        (signs,) = ctx.saved_tensors
        pred_grad = signs * (grad / ctx.count)
        return pred_grad, -pred_grad if ctx.needs_input_grad[1] else None, None


def huber(
    pred: Tensor,
    target: Tensor | float,
    *,
    delta: Positive = 1.0,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """Huber loss: squared below ``delta``, linear above, as ``torch.nn.HuberLoss``.

    Example:
        >>> import torch
        >>> huber(torch.tensor([0.0, 0.0]), torch.tensor([0.5, 3.0]), reduction="none")
        tensor([0.1250, 2.5000])
    """
    loss = functools.partial(F.huber_loss, delta=delta)
    return pointwise("huber", loss, pred, target, reduction=reduction, weight=weight, mask=mask, native=True)


def smooth_l1(
    pred: Tensor,
    target: Tensor | float,
    *,
    beta: NonNegative = 1.0,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """Smooth L1 loss: Huber divided by ``beta``, as ``torch.nn.SmoothL1Loss``.

    Example:
        >>> import torch
        >>> smooth_l1(torch.tensor([0.0, 0.0]), torch.tensor([0.5, 3.0]), beta=2.0, reduction="none")
        tensor([0.0625, 2.0000])
    """
    loss = functools.partial(F.smooth_l1_loss, beta=beta)
    return pointwise("smooth_l1", loss, pred, target, reduction=reduction, weight=weight, mask=mask, native=True)


def rmse(
    pred: Tensor,
    target: Tensor | float,
    *,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """Root mean squared error: the square root of :func:`mse`, with a zero gradient at zero error.

    The root is taken after the reduction: ``"sum"`` gives the root of the summed squares and
    ``"none"`` the element-wise ``|pred - target|`` (times the root of the weight).

    Example:
        >>> import torch
        >>> rmse(torch.tensor([1.0, 1.0]), torch.tensor([4.0, -3.0]))
        tensor(3.5355)
    """
    squares = pointwise("rmse", F.mse_loss, pred, target, reduction=reduction, weight=weight, mask=mask, native=True)
    return _safe_sqrt(squares)


def _safe_sqrt(x: Tensor) -> Tensor:
    """``sqrt`` whose gradient at 0 is 0 rather than infinity (NaN once multiplied by 0); NaN stays NaN."""
    zero = x == 0
    return torch.where(zero, 0.0, torch.where(zero, 1.0, x).sqrt())


def msle(
    pred: Tensor,
    target: Tensor | float,
    *,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """Mean squared logarithmic error, ``(log1p(pred) - log1p(target))**2``, for values above -1.

    Example:
        >>> import torch
        >>> msle(torch.tensor([math.e - 1]), torch.tensor([0.0]))
        tensor(1.)
    """
    return pointwise("msle", _msle, pred, target, reduction=reduction, weight=weight, mask=mask)


def _msle(pred: Tensor, target: Tensor) -> Tensor:
    return (pred.log1p() - target.log1p()).square()


def log_cosh(
    pred: Tensor,
    target: Tensor | float,
    *,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """Log-cosh loss, ``log(cosh(pred - target))``, without overflow for large errors nor cancellation for small ones.

    Example:
        >>> import torch
        >>> loss = log_cosh(torch.tensor([0.0, 1000.0]), torch.tensor([0.0, 0.0]), reduction="none")
        >>> [round(value, 2) for value in loss.tolist()]  # log(cosh(1000.0)) overflows to inf
        [0.0, 999.31]
    """
    return pointwise("log_cosh", _log_cosh, pred, target, reduction=reduction, weight=weight, mask=mask)


def _log_cosh(pred: Tensor, target: Tensor) -> Tensor:
    # Below 1, log(cosh(x)) = log1p(2 sinh(x/2)**2), accurate to rounding where the form used above
    # 1, |x| + log1p(exp(-2|x|)) - log(2), cancels to noise (in float32 every error under 1e-3).
    # The small branch sees at most 1, so its sinh never overflows into a NaN gradient.
    error = (pred - target).abs()
    near = torch.log1p(2 * torch.sinh(error.clamp(max=1) / 2).square())
    return torch.where(error < 1, near, error + F.softplus(-2 * error) - math.log(2))


def charbonnier(
    pred: Tensor,
    target: Tensor | float,
    *,
    eps: Positive = 1e-3,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """Charbonnier loss, ``sqrt((pred - target)**2 + eps**2)``: a smooth L1 with a finite gradient at 0.

    Example:
        >>> import torch
        >>> charbonnier(torch.tensor([3.0]), torch.tensor([0.0]), eps=4.0)
        tensor(5.)
    """
    loss = functools.partial(_charbonnier, eps=eps)
    return pointwise("charbonnier", loss, pred, target, reduction=reduction, weight=weight, mask=mask)


def _charbonnier(pred: Tensor, target: Tensor, *, eps: float) -> Tensor:
    return ((pred - target).square() + eps**2).sqrt()


def quantile(
    pred: Tensor,
    target: Tensor | float,
    *,
    q: Fraction = 0.5,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """Quantile (pinball) loss: ``q * error`` if under-predicting, ``(1 - q) * -error`` if over.

    With ``error = target - pred``; ``q=0.5`` is half the absolute error.

    Raises:
        LossArityError: ``q`` outside ``[0, 1]``.

    Example:
        >>> import torch
        >>> quantile(torch.tensor([0.0, 0.0]), torch.tensor([2.0, -2.0]), q=0.75, reduction="none")
        tensor([1.5000, 0.5000])
    """
    if not 0 <= q <= 1:
        raise LossArityError(f"quantile(): q must be between 0 and 1, not {q}")
    loss = functools.partial(_pinball, q=q)
    return pointwise("quantile", loss, pred, target, reduction=reduction, weight=weight, mask=mask)


def _pinball(pred: Tensor, target: Tensor, *, q: float) -> Tensor:
    error = target - pred
    return torch.maximum(q * error, (q - 1) * error)


def mape(
    pred: Tensor,
    target: Tensor | float,
    *,
    eps: Positive = 1.17e-06,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """Mean absolute percentage error, ``|pred - target| / max(|target|, eps)``, as a fraction.

    Example:
        >>> import torch
        >>> mape(torch.tensor([110.0, 45.0]), torch.tensor([100.0, 50.0]))
        tensor(0.1000)
    """
    loss = functools.partial(_mape, eps=eps)
    return pointwise("mape", loss, pred, target, reduction=reduction, weight=weight, mask=mask)


def _mape(pred: Tensor, target: Tensor, *, eps: float) -> Tensor:
    return (pred - target).abs() / target.abs().clamp_min(eps)
