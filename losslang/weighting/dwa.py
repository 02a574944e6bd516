"""Dynamic Weight Average: weights from a softmax of each term's recent rate of descent."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from losslang.weighting.base import synced
from losslang.weighting.stateful import StatefulScheme, Temperature, relative, softmax


def dwa_weights(last: Tensor, before_last: Tensor, *, temperature: float) -> Tensor:
    """``K * softmax_k(w_k / T)`` with ``w_k = L_k(t-1) / L_k(t-2)``, summing to ``K`` terms.

    Example:
        >>> import torch
        >>> dwa_weights(torch.tensor([2.0, 2.0]), torch.tensor([4.0, 2.0]), temperature=2.0)
        tensor([0.8756, 1.1244])
    """
    rates = relative(last, before_last)
    return len(rates) * softmax(rates / temperature)


class DWA(StatefulScheme):
    """Dynamic Weight Average: terms whose loss fell least over the last step get more weight.

    Liu, Johns and Davison, "End-to-End Multi-Task Learning with Attention", CVPR 2019. With
    ``K`` terms::

        w_k(t-1)    = L_k(t-1) / L_k(t-2)
        lambda_k(t) = K * exp(w_k(t-1) / T) / sum_i exp(w_i(t-1) / T)

    and ``lambda_k = 1`` for the first two steps. The paper averages each loss over an epoch and
    updates once per epoch; here ``t`` counts training-mode calls, one update per call, so
    ``L_k(t-1)`` is the previous call's loss (average it yourself, e.g. with a large batch, if
    the per-step losses are noisy). The total is ``sum_k lambda_k(t) L_k(t)`` with the weights as
    constants. Losses are averaged over DDP ranks.

    Args:
        terms: the names of the weighted terms (given by the compiler).
        temperature: the softmax temperature ``T``; the paper's 2.

    Example:
        >>> import torch
        >>> scheme = DWA(["a", "b"])
        >>> for a, b in [(4.0, 2.0), (2.0, 2.0), (1.0, 2.0)]:
        ...     total, weights = scheme(torch.tensor(a), torch.tensor(b))
        >>> weights  # from the first two steps: a halved, b stayed
        tensor([0.8756, 1.1244])
    """

    last: Tensor
    before_last: Tensor

    def __init__(self, terms: Sequence[str], *, temperature: Temperature = 2.0) -> None:
        super().__init__(terms)
        self.temperature = float(temperature)
        self.register_buffer("last", torch.ones(len(self.terms)))
        self.register_buffer("before_last", torch.ones(len(self.terms)))

    def combine(self, losses: Tensor) -> tuple[Tensor, Tensor]:
        """When the call can train, update the weights from the two previous steps; then ``lambda_k L_k`` per term."""
        if self.learning:
            self.update(synced(losses))
        return self.weighted(losses)

    def update(self, current: Tensor) -> None:
        """Weights from the two previous steps' (rank-averaged) losses, then remember this step's."""
        if self.step_count >= 2:
            last, before_last = self.last.to(current), self.before_last.to(current)
            self.weights.copy_(dwa_weights(last, before_last, temperature=self.temperature))
        self.before_last.copy_(self.last)
        self.last.copy_(current)
        self.advance()
