"""ReLoBRaLo: relative loss balancing with random lookback."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from losslang.bounds import Fraction
from losslang.weighting.base import synced
from losslang.weighting.stateful import StatefulScheme, Temperature, relative, softmax


def balance(losses: Tensor, reference: Tensor, *, temperature: float) -> Tensor:
    """``lambda_bal_i = m * softmax_i(L_i / (T * L_i_ref))``: relative progress, summing to ``m`` terms.

    Example:
        >>> import torch
        >>> balance(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 1.0]), temperature=1.0)
        tensor([0.5379, 1.4621])
    """
    return len(losses) * softmax(relative(losses, reference) / temperature)


def relobralo_weights(
    weights: Tensor,
    losses: Tensor,
    initial: Tensor,
    previous: Tensor,
    *,
    rho: Tensor | float,
    alpha: float,
    temperature: float,
) -> Tensor:
    """``alpha * (rho * w + (1 - rho) * bal(t, 0)) + (1 - alpha) * bal(t, t-1)``.

    Args:
        weights: ``lambda_i(t-1)``, the previous weights.
        losses: ``L_i(t)``, this step's losses.
        initial: ``L_i(1)``, the lookback's reference: the second step's losses.
        previous: ``L_i(t-1)``, the last step's losses.
        rho: this step's Bernoulli draw: 1 keeps the history, 0 looks back to the first step.
        alpha: the weight of the history against the last step's balance.
        temperature: the softmax temperature ``T``.

    Example:
        >>> import torch
        >>> ones = torch.ones(2)
        >>> relobralo_weights(ones, ones, ones, ones, rho=1.0, alpha=0.999, temperature=0.1)
        tensor([1., 1.])
    """
    history = rho * weights + (1 - rho) * balance(losses, initial, temperature=temperature)
    return alpha * history + (1 - alpha) * balance(losses, previous, temperature=temperature)


class ReLoBRaLo(StatefulScheme):
    """ReLoBRaLo: weights from each term's progress since the last step and, at random, since the first.

    Bischof and Kraus, "Multi-Objective Loss Balancing for Physics-Informed Deep Learning",
    arXiv 2110.09813 (2021), as the authors' code runs it (rbischof/relative_balancing,
    ``src/update_rules.py`` ``relobralo`` and the schedule ``src/train.py`` sets up). With ``m``
    terms and weights starting at 1, at each training step ``t``::

        bal_i(t, t') = m * exp(L_i(t) / (T L_i(t'))) / sum_j exp(L_j(t) / (T L_j(t')))
        lambda_i(t)  = alpha * (rho_t * lambda_i(t-1) + (1 - rho_t) * bal_i(t, 1))
                       + (1 - alpha) * bal_i(t, t-1)
        rho_t ~ Bernoulli(rho)

    and the total is ``sum_i lambda_i(t) L_i(t)`` with this step's weights as constants. The
    first step keeps the weights at 1; the second takes ``lambda(1) = bal(1, 0)`` (the authors'
    ``alpha`` is 0 there), and its losses are the lookback's reference ``L_i(1)`` (the paper
    prints ``L_i(0)``; the authors' code stores the second step's). ``rho_t`` is drawn on the CPU from a
    ``torch.Generator`` freshly seeded from ``(seed, t)``: the draws are reproducible, resume
    identically from a ``state_dict`` and agree on every DDP rank, without a device
    synchronisation. Losses are averaged over DDP ranks. The softmax subtracts its maximum, so
    large ratios do not overflow.

    Args:
        terms: the names of the weighted terms (given by the compiler).
        alpha: the weight of the history, ``alpha``; 0.999.
        temperature: the softmax temperature ``T``; 0.1.
        rho: the expected value of the lookback draw ``rho_t``; 0.999.
        seed: seeds the draws of ``rho_t``.

    Example:
        >>> import torch
        >>> scheme = ReLoBRaLo(["a", "b"], alpha=0.5, temperature=1.0, rho=1.0)
        >>> for a, b in [(1.0, 1.0), (1.0, 2.0)]:
        ...     total, weights = scheme(torch.tensor(a), torch.tensor(b))
        >>> weights  # b doubled: the second step's weights are 2 * softmax(1, 2)
        tensor([0.5379, 1.4621])
    """

    initial: Tensor
    previous: Tensor

    def __init__(
        self,
        terms: Sequence[str],
        *,
        alpha: Fraction = 0.999,
        temperature: Temperature = 0.1,
        rho: Fraction = 0.999,
        seed: int = 0,
    ) -> None:
        super().__init__(terms)
        self.alpha = float(alpha)
        self.temperature = float(temperature)
        self.rho = float(rho)
        self.seed = int(seed)
        self.register_buffer("initial", torch.ones(len(self.terms)))
        self.register_buffer("previous", torch.ones(len(self.terms)))

    def combine(self, losses: Tensor) -> tuple[Tensor, Tensor]:
        """When the call can train, update the weights from this step's losses; then ``lambda_i L_i`` per term."""
        if self.learning:
            self.update(synced(losses))
        return self.weighted(losses)

    def update(self, current: Tensor) -> None:
        """New weights from the (rank-averaged) losses of this step, the last one and the first."""
        if self.step_count == 1:  # the authors' schedule: alpha = 0 here, and this step's losses are the reference
            self.weights.copy_(balance(current, self.previous.to(current), temperature=self.temperature))
            self.initial.copy_(current)
        elif self.step_count > 1:
            weights, initial, previous = (buffer.to(current) for buffer in (self.weights, self.initial, self.previous))
            options = {"alpha": self.alpha, "temperature": self.temperature}
            self.weights.copy_(relobralo_weights(weights, current, initial, previous, rho=self.lookback(), **options))
        self.previous.copy_(current)
        self.advance()

    def lookback(self) -> Tensor:
        """The draw ``rho_t`` for this step: a 0-d CPU tensor (0 or 1) that combines with tensors on any device."""
        generator = self.generator(self.seed)
        return (torch.rand((), generator=generator, dtype=torch.float64) < self.rho).to(torch.float64)
