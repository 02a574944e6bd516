"""FAMO: fast adaptive multitask optimisation, weights from logits that learn which terms fall slowest."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import torch
from torch import Tensor

from losslang.bounds import Range
from losslang.errors import LossValueError
from losslang.weighting.base import synced
from losslang.weighting.stateful import StatefulScheme, StepSize, adam_direction

_EPS = 1e-8  # the authors' guard inside the logarithm


def famo_weights(logits: Tensor, losses: Tensor, *, min_loss: float) -> Tensor:
    """``w_i = (z_i / D_i) / sum_j (z_j / D_j)``, ``z = softmax(logits)``, ``D_i = L_i - min_loss + 1e-8``.

    The gradient of ``sum_i w_i L_i`` with these weights held constant is the gradient of the
    authors' loss ``sum_i z_i log D_i / c`` with ``c = sum_j z_j / D_j`` held constant.

    Example:
        >>> import torch
        >>> famo_weights(torch.zeros(2), torch.tensor([1.0, 3.0]), min_loss=0.0)
        tensor([0.7500, 0.2500])
    """
    ratio = torch.softmax(logits, dim=0) / (losses - min_loss + _EPS)
    return ratio / ratio.sum()


def famo_logit_gradient(logits: Tensor, before: Tensor, after: Tensor, *, min_loss: float) -> Tensor:
    """The authors' update direction of the logits: ``J_softmax(logits)^T (log D(before) - log D(after))``.

    Example:
        >>> import torch
        >>> famo_logit_gradient(torch.zeros(2), torch.tensor([1.0, 1.0]), torch.tensor([0.5, 1.0]), min_loss=0.0)
        tensor([ 0.1733, -0.1733])
    """
    delta = torch.log(before - min_loss + _EPS) - torch.log(after - min_loss + _EPS)
    z = torch.softmax(logits, dim=0)
    return z * (delta - (z * delta).sum())


class FAMO(StatefulScheme):
    """FAMO: logits ``w`` whose softmax weights the terms' log-losses, stepped towards the terms that fall slowest.

    Liu, Liu, Jin, Stone and Liu, "FAMO: Fast Adaptive Multitask Optimization", NeurIPS 2023, as
    the authors' code runs it (Cranial-XIX/FAMO, ``famo.py``: ``get_weighted_loss`` and
    ``update``). With ``z = softmax(w)`` and ``D_i = L_i - min_loss + 1e-8``, a step minimises
    ``sum_i z_i log D_i / c``, ``c = sum_j z_j / D_j`` (held constant): the weights are
    ``z_i / (c D_i)``, summing to 1, and the total is ``sum_i w_i L_i``, whose gradient is the
    authors'. After the optimiser step the logits take one Adam step (lr 0.025, weight decay
    ``gamma`` 0.01, the authors' defaults) along ``J_softmax^T (log D(before) - log D(after))``,
    the losses of the same batch before and after the step: call
    ``loss.update_weights(closure)`` after ``optimizer.step()``, as the training job does. Without
    it the logits are updated at the next step from its batch's losses (no extra forward pass,
    but the loss change then mixes two batches). The cost is constant in the number of terms:
    no gradient of any term is taken. Losses are averaged over DDP ranks. Every term must stay
    above ``min_loss`` (the logarithm); the authors' gradient clipping of the shared parameters
    is the training loop's to do. Checking that costs one host read per step.

    Args:
        terms: the names of the weighted terms (given by the compiler).
        lr: the logits' Adam learning rate.
        gamma: the logits' weight decay (Adam's L2 term), their regularisation.
        min_loss: each term's known lower bound, subtracted inside the logarithm.

    Example:
        >>> import torch
        >>> scheme = FAMO(["a", "b"])
        >>> total, weights = scheme(torch.tensor(1.0), torch.tensor(3.0))
        >>> weights  # equal logits: w_i is proportional to 1 / L_i
        tensor([0.7500, 0.2500])
    """

    logits: Tensor
    before: Tensor
    exp_avg: Tensor
    exp_avg_sq: Tensor

    def __init__(
        self,
        terms: Sequence[str],
        *,
        lr: StepSize = 0.025,
        gamma: Annotated[float, Range(ge=0, le=100)] = 0.01,
        min_loss: Annotated[float, Range(ge=-1e30, le=1e30)] = 0.0,
    ) -> None:
        super().__init__(terms, init=1 / max(len(terms), 1))
        self.lr, self.gamma, self.min_loss = float(lr), float(gamma), float(min_loss)
        for name in ("logits", "exp_avg", "exp_avg_sq"):
            self.register_buffer(name, torch.zeros(len(self.terms)))
        # The losses before the step, in float64: the update takes the logarithm of their change over
        # one step, a difference of nearly equal numbers that float32 state would round away.
        self.register_buffer("before", torch.zeros(len(self.terms), dtype=torch.float64))

    def due(self) -> bool:
        """Whether a step's losses await their after-step update (every step after the first).

        Example:
            >>> FAMO(["a", "b"]).due()  # before the first step: nothing to compare
            False
        """
        return self.step_count > 0 and not self.done_ahead

    def weigh(self, losses: Sequence[Tensor], skipped: Sequence[bool] | None = None) -> tuple[Tensor, Tensor]:
        """:meth:`WeightingScheme.weigh`, a dropped term given weight 0 and the others their share of 1.

        A term ``nan_policy="skip"`` dropped counts as an infinite loss: ``z_i / D_i = 0``.

        Example:
            >>> import torch
            >>> losses = [torch.tensor(1.0), torch.tensor(0.0), torch.tensor(3.0)]
            >>> FAMO(["a", "b", "c"]).weigh(losses, skipped=[False, True, False])  # 0.75 * 1 + 0.25 * 3
            (tensor(1.5000), tensor([0.7500, 0.0000, 0.2500]))
        """
        if skipped is not None:
            losses = [
                torch.full_like(loss, torch.inf) if drop else loss for loss, drop in zip(losses, skipped, strict=True)
            ]
        return super().weigh(losses, skipped)

    def combine(self, losses: Tensor) -> tuple[Tensor, Tensor]:
        """When the call can train, step the logits when due; then ``w_i L_i`` with this step's weights."""
        current = synced(losses)
        if bool((current <= self.min_loss).any()):
            names = [name for name, loss in zip(self.terms, current.tolist(), strict=True) if loss <= self.min_loss]
            raise LossValueError(
                f"famo() takes the logarithm of each term minus min_loss={self.min_loss:g}: {', '.join(names)} "
                f"is not above it; give famo a lower min_loss"
            )
        # Ahead (update_weights): the same batch after the step. Otherwise, when no update_weights
        # came since the last step, this batch's losses stand in; a step's losses are the next "before".
        if self.learning and self.step_when_due(lambda: self.update(current)):
            self.before.copy_(current)
        weights = famo_weights(self.logits.to(current), current, min_loss=self.min_loss)
        if self.learning:
            self.weights.copy_(weights)
        return weights.to(losses) * losses, weights.to(losses)

    def update(self, after: Tensor) -> None:
        """One Adam step of the logits from the losses before (stored) and ``after`` the optimiser step."""
        logits = self.logits.to(after)
        before = self.before.to(after.device)
        grad = famo_logit_gradient(logits.to(before), before, after.to(before), min_loss=self.min_loss).to(after)
        grad = grad + self.gamma * logits  # torch.optim.Adam's weight_decay
        moments = self.exp_avg.to(after), self.exp_avg_sq.to(after)
        # The update after step t is Adam's step t + 1: step_count, whichever path makes it.
        direction, exp_avg, exp_avg_sq = adam_direction(grad, *moments, self.step_count)
        self.exp_avg.copy_(exp_avg)
        self.exp_avg_sq.copy_(exp_avg_sq)
        self.logits.copy_(logits - self.lr * direction)
