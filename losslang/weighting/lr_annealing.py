"""Learning-rate annealing: weights from the ratio of the reference term's largest gradient to each term's mean."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from losslang.bounds import Count, Fraction
from losslang.weighting.base import synced
from losslang.weighting.stateful import StatefulScheme


def lr_annealing_step(weights: Tensor, top: Tensor, means: Tensor, *, alpha: float) -> Tensor:
    """One update of ``weights``: ``lambda_i <- (1 - alpha) * lambda_i + alpha * top / means_i`` for ``i >= 1``.

    ``weights[0]``, the reference term's, stays as it is (1). A term whose mean gradient is zero
    gives no estimate and keeps its weight; so does every term when the reference's gradient is zero.

    Args:
        weights: ``lambda_i``, the current weights, the reference term's first.
        top: ``max |grad_theta L_0|``, the reference term's largest gradient entry.
        means: ``mean |grad_theta L_i|`` for each other term ``i >= 1``.
        alpha: the moving-average factor given to the new estimate.

    Example:
        >>> import torch
        >>> lr_annealing_step(torch.ones(3), torch.tensor(4.0), torch.tensor([2.0, 0.0]), alpha=0.9)
        tensor([1.0000, 1.9000, 1.0000])
    """
    others = weights[1:]
    estimate = (1 - alpha) * others + alpha * (top / means)
    # No estimate from a zero mean, nor from a reference with no gradient (it depends on no attached
    # parameter): that would drive every weight geometrically to 0.
    return torch.cat([weights[:1], torch.where((means > 0) & (top > 0), estimate, others)])


class LRAnnealing(StatefulScheme):
    """Learning-rate annealing: the reference term's largest gradient sets every other term's weight.

    Wang, Teng and Perdikaris, "Understanding and mitigating gradient pathologies in
    physics-informed neural networks", SIAM J. Sci. Comput. 2021 (arXiv 2001.04536), Algorithm 1.
    The first term ``L_0`` (the PDE residual in the paper) is the reference, weighted 1; the
    others start at 1. Every ``every`` training steps, over all the parameters ``theta`` given by
    ``loss.attach(model)``::

        lambda_hat_i = max |grad_theta L_0| / mean |grad_theta L_i|
        lambda_i    <- (1 - alpha) * lambda_i + alpha * lambda_hat_i        (i >= 1)

    and the total is ``L_0 + sum_{i>=1} lambda_i L_i``, with the weights just updated (as in the
    paper, where the step's parameter update uses the new weights) held constant.

    The paper writes the moving average with ``alpha = 0.9`` on the new estimate, as here; the
    authors' published code instead keeps 0.9 of the old value, which is ``alpha=0.1``. The paper
    updates at every step or at a frequency the user chooses (it names every 10 steps as an
    example); an update costs one extra backward pass per term. Without an autograd graph (e.g.
    under ``torch.no_grad()``) nothing is updated. Gradient statistics are averaged over DDP ranks.

    Args:
        terms: the names of the weighted terms, the reference first (given by the compiler).
        alpha: the moving-average factor given to the new estimate; the paper's 0.9.
        every: update the weights every this many training steps, starting with the first.

    Example:
        >>> import torch
        >>> layer = torch.nn.Linear(2, 1, bias=False)
        >>> _ = layer.weight.data.fill_(1.0)
        >>> scheme = LRAnnealing(["residual", "boundary"])
        >>> scheme.shared = list(layer.parameters())  # what loss.attach(layer) does
        >>> p = layer(torch.tensor([[1.0, 2.0]]))
        >>> total, weights = scheme(((p - 2) ** 2).mean(), ((p - 4) ** 2).mean())
        >>> weights  # 0.1 * 1 + 0.9 * max|(2, 4)| / mean|(-2, -4)|
        tensor([1.0000, 1.3000])
    """

    needs_parameters = True

    def __init__(self, terms: Sequence[str], *, alpha: Fraction = 0.9, every: Count = 1) -> None:
        super().__init__(terms)
        self.alpha = float(alpha)
        self.every = int(every)

    @property
    def name(self) -> str:
        """The scheme's name as formulas write it."""
        return "lr_annealing"

    def combine(self, losses: Tensor) -> tuple[Tensor, Tensor]:
        """In training mode, update the weights when due; then ``lambda_i L_i`` per term."""
        if self.training and losses.requires_grad:
            if self.step_count % self.every == 0:
                self.update(losses)
            self.advance()
        return self.weighted(losses)

    def update(self, losses: Tensor) -> None:
        """Anneal the weights from this step's gradients."""
        if len(losses) < 2:
            return  # the reference alone: nothing to weight
        reference = self.gradients(losses[0])
        means = torch.stack([_mean_abs(self.gradients(loss)) for loss in losses[1:]])
        top = torch.stack([g.abs().max() for g in reference if g.numel()]).max().to(means.dtype)
        stats = synced(torch.cat([top[None], means]))
        self.weights.copy_(lr_annealing_step(self.weights.to(stats), stats[0], stats[1:], alpha=self.alpha))


def _mean_abs(grads: list[Tensor]) -> Tensor:
    """The mean absolute entry over all ``grads`` together."""
    # Summed in float32 or wider: a float16 sum of many gradients overflows past 65504.
    dtype = torch.promote_types(grads[0].dtype, torch.float32)
    return torch.stack([g.abs().sum(dtype=dtype) for g in grads]).sum() / sum(g.numel() for g in grads)
