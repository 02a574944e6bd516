"""GradNorm: weights that balance the terms' gradient norms by their training rates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

import torch
from torch import Tensor

from losslang.bounds import Range
from losslang.weighting.base import synced
from losslang.weighting.stateful import StatefulScheme, StepSize, adam_direction, relative

_EPS = 1e-12  # guards the division by a mean loss ratio of zero
_FLOOR = 1e-6  # weights are clamped here before renormalising, so that they stay positive


def gradnorm_gradient(weights: Tensor, norms: Tensor, ratios: Tensor, *, alpha: float) -> Tensor:
    """The gradient of ``sum_i |G_i - Gbar * r_i^alpha|`` with respect to the weights, targets held constant.

    ``norms`` are the terms' gradient norms ``||grad_W L_i||`` and ``ratios`` their losses
    relative to the first step's, ``L_i(t) / L_i(0)``.

    Example:
        >>> import torch
        >>> gradnorm_gradient(torch.ones(2), torch.tensor([1.0, 3.0]), torch.ones(2), alpha=1.5)
        tensor([-1.,  3.])
    """
    grad_norms = weights * norms  # G_i
    rates = ratios / ratios.mean().clamp_min(_EPS)  # r_i
    targets = grad_norms.mean() * rates**alpha  # Gbar * r_i^alpha
    return torch.sign(grad_norms - targets) * norms


def renormalised(weights: Tensor) -> Tensor:
    """``weights`` clamped to stay positive (at 1e-6), then scaled to sum to their number."""
    weights = weights.clamp_min(_FLOOR)
    return weights * (len(weights) / weights.sum())


class GradNorm(StatefulScheme):
    """GradNorm: each term's weighted gradient norm is pulled towards the mean, scaled by its training rate.

    Chen, Badrinarayanan, Lee and Rabinovich, "GradNorm: Gradient Normalization for Adaptive Loss
    Balancing in Deep Multitask Networks", ICML 2018. Weights start at 1. At each training step,
    with ``W`` the shared parameters given by ``loss.attach(model)`` (the paper uses the last
    shared layer, which is also the cheapest) and ``T`` terms::

        G_i = w_i * ||grad_W L_i||,   Gbar = mean_i G_i
        r_i = (L_i(t) / L_i(0)) / mean_j (L_j(t) / L_j(0))     L_i(0): the first training step's loss
        g_i = sign(G_i - Gbar * r_i^alpha) * ||grad_W L_i||      d/dw_i sum_i |G_i - target_i|, target constant
        w_i <- w_i - lr * adam(g)_i     (optimizer="adam")   or   w_i - lr * g_i   (optimizer="sgd")
        w_i <- max(w_i, 1e-6),   then   w_i <- T * w_i / sum_j w_j

    The total ``sum_i w_i L_i`` uses the weights from *before* this step's update, as in the
    paper's Algorithm 1: this step's gradients update the weights, which apply from the next step.

    The weights are buffers that the scheme steps itself. The paper steps them with the network's
    optimizer; the widely copied public implementation gives them their own ``torch.optim.Adam``
    (re-created at every step, which makes each step a sign step). Here Adam's moments persist,
    in buffers: a plain or sign step of size ``lr`` overshoots and never settles when the terms'
    gradients differ by orders of magnitude, while Adam's step shrinks as the sign of ``g_i``
    alternates. ``optimizer="sgd"`` is the plain gradient step. Each training step costs one
    extra backward pass per term through ``W``; without an autograd graph (e.g. under
    ``torch.no_grad()``) nothing is updated. Losses and gradient norms are averaged over DDP ranks.

    Args:
        terms: the names of the weighted terms (given by the compiler).
        alpha: the restoring-force strength ``alpha``; the paper's 1.5.
        lr: the weights' step size.
        optimizer: how the weights step: ``"adam"`` or ``"sgd"``.

    Example:
        >>> import torch
        >>> layer = torch.nn.Linear(2, 1, bias=False)
        >>> _ = layer.weight.data.fill_(1.0)
        >>> scheme = GradNorm(["a", "b"])
        >>> scheme.shared = list(layer.parameters())  # what loss.attach(layer) does
        >>> p = layer(torch.tensor([[1.0, 2.0]]))
        >>> total, weights = scheme(((p - 2) ** 2).mean(), ((p - 5) ** 2).mean())
        >>> total, weights  # this step's total uses the weights from before the update
        (tensor(5., grad_fn=<SumBackward0>), tensor([1., 1.]))
        >>> scheme.weights  # G = (4.47, 8.94) around their mean: a goes up, b down
        tensor([1.0250, 0.9750])
    """

    needs_parameters = True
    initial: Tensor
    exp_avg: Tensor
    exp_avg_sq: Tensor

    def __init__(
        self,
        terms: Sequence[str],
        *,
        alpha: Annotated[float, Range(ge=0, le=100)] = 1.5,
        lr: StepSize = 0.025,
        optimizer: Literal["adam", "sgd"] = "adam",
    ) -> None:
        super().__init__(terms)
        self.alpha = float(alpha)
        self.lr = float(lr)
        self.optimizer = optimizer
        for name in ("initial", "exp_avg", "exp_avg_sq"):
            self.register_buffer(name, torch.zeros(len(self.terms)))

    def combine(self, losses: Tensor) -> tuple[Tensor, Tensor]:
        """``w_i L_i`` with this step's weights; in training mode, then update them."""
        contributions, weights = self.weighted(losses)
        if self.learning and losses.requires_grad:
            self.update(losses, weights)
        return contributions, weights

    def update(self, losses: Tensor, weights: Tensor) -> None:
        """One GradNorm step of the weights from this step's losses and gradient norms."""
        norms = torch.stack([_norm(self.gradients(loss)) for loss in losses])
        norms, current = synced(torch.cat([norms, losses.detach().to(norms.dtype)])).chunk(2)
        if self.step_count == 0:
            self.initial.copy_(current)
        ratios = relative(current, self.initial.to(current))
        grad = gradnorm_gradient(weights, norms, ratios, alpha=self.alpha)
        self.weights.copy_(renormalised(weights - self.lr * self.direction(grad)))
        self.advance()

    def direction(self, grad: Tensor) -> Tensor:
        """The step direction for ``grad``: itself (sgd) or Adam's, advancing Adam's moments."""
        if self.optimizer == "sgd":
            return grad
        moments = self.exp_avg.to(grad), self.exp_avg_sq.to(grad)
        direction, exp_avg, exp_avg_sq = adam_direction(grad, *moments, self.step_count + 1)
        self.exp_avg.copy_(exp_avg)
        self.exp_avg_sq.copy_(exp_avg_sq)
        return direction


def _norm(grads: list[Tensor]) -> Tensor:
    """The L2 norm of all ``grads`` together."""
    # In float32 or wider: float16's squares overflow past 256.
    dtype = torch.promote_types(grads[0].dtype, torch.float32)
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g, dtype=dtype) for g in grads]))
