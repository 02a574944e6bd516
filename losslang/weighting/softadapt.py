"""SoftAdapt: weights from a softmax of how fast each term's loss changes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import torch
from torch import Tensor

from losslang.bounds import Range
from losslang.weighting.base import synced
from losslang.weighting.stateful import StatefulScheme, softmax

_EPS = 1e-12  # guards the normalisation of slopes that are all zero


def softadapt_weights(
    slopes: Tensor, losses: Tensor, *, beta: float, loss_weighted: bool = False, normalized: bool = False
) -> Tensor:
    """SoftAdapt weights, summing to 1, from each term's slope ``s_i = L_i(t) - L_i(t-1)``.

    Args:
        slopes: ``s_i``, each term's change since the previous step.
        losses: ``f_i``, each term's loss over the slope's window (the mean of ``L_i(t-1)`` and
            ``L_i(t)``, as the authors' package averages it); used by the loss-weighted variant only.
        beta: the softmax's sharpness; positive favours the terms that improve least.
        loss_weighted: weight the softmax by the losses: ``f_i exp(beta s_i) / sum_j f_j exp(beta s_j)``.
        normalized: use the normalised slopes ``s_i / sum_j |s_j|``.

    Example:
        >>> import torch
        >>> softadapt_weights(torch.tensor([0.0, 10.0]), torch.tensor([1.0, 1.0]), beta=0.1)
        tensor([0.2689, 0.7311])
    """
    if normalized:
        slopes = slopes / slopes.abs().sum().clamp_min(_EPS)
    scores = beta * slopes
    if not loss_weighted:
        return softmax(scores)
    scaled = losses * torch.exp(scores - scores.max())
    total = scaled.sum()
    return torch.where(total > 0, scaled / total, torch.full_like(scaled, 1 / len(scaled)))


class SoftAdapt(StatefulScheme):
    """SoftAdapt: terms whose loss falls slowest (or rises) get more weight, through a softmax of the slopes.

    Heydari, Thompson and Mehmood, "SoftAdapt: Techniques for Adaptive Loss Weighting of Neural
    Networks with Multi-Part Loss Functions", arXiv 1912.12355 (2019). At each training step,
    with ``L_i(t-1)`` the previous training step's loss::

        s_i = L_i(t) - L_i(t-1)
        w_i = exp(beta s_i) / sum_j exp(beta s_j)                   (original)
        w_i = f_i exp(beta s_i) / sum_j f_j exp(beta s_j)           (loss_weighted=true)
        f_i = (L_i(t-1) + L_i(t)) / 2
        s_i <- s_i / sum_j |s_j|   before the softmax               (normalized=true; both combine)

    The weights sum to 1, as in the paper, so the total ``sum_i w_i L_i`` is a convex combination
    (``1/n`` of the unweighted sum when the weights are equal). The first training step, which
    has no slope yet, uses equal weights ``1/n``. The weights from this step's slopes weight this
    step's losses, as constants. The slope is the one-step difference of the paper's basic
    formulation (the authors' package can also fit it over a longer window of losses), and the
    loss-weighted variant weights by the mean loss over that window, as the package does.
    docs/weighting.md lists what was checked against the package and what differs.
    Losses are averaged over DDP ranks.

    Args:
        terms: the names of the weighted terms (given by the compiler).
        beta: the softmax's sharpness; 0.1, the authors' default.
        loss_weighted: use the loss-weighted variant.
        normalized: use the normalised-slopes variant.

    Example:
        >>> import torch
        >>> scheme = SoftAdapt(["a", "b"])
        >>> for a, b in [(4.0, 2.0), (2.0, 2.0)]:
        ...     total, weights = scheme(torch.tensor(a), torch.tensor(b))
        >>> weights  # slopes (-2, 0): b, which did not improve, gets more weight
        tensor([0.4502, 0.5498])
    """

    previous: Tensor

    def __init__(
        self,
        terms: Sequence[str],
        *,
        beta: Annotated[float, Range(ge=-1e6, le=1e6)] = 0.1,
        loss_weighted: bool = False,
        normalized: bool = False,
    ) -> None:
        super().__init__(terms, init=1 / max(len(terms), 1))
        self.beta = float(beta)
        self.loss_weighted = bool(loss_weighted)
        self.normalized = bool(normalized)
        self.register_buffer("previous", torch.zeros(len(self.terms)))

    def combine(self, losses: Tensor) -> tuple[Tensor, Tensor]:
        """When the call can train, update the weights from the slopes; then ``w_i L_i`` per term."""
        if self.learning:
            self.update(synced(losses))
        return self.weighted(losses)

    def update(self, current: Tensor) -> None:
        """New weights from the slopes since the previous step's (rank-averaged) losses."""
        if self.step_count > 0:
            previous = self.previous.to(current)
            options = {"loss_weighted": self.loss_weighted, "normalized": self.normalized}
            window = (previous + current) / 2  # the loss-weighted variant's f_i
            self.weights.copy_(softadapt_weights(current - previous, window, beta=self.beta, **options))
        self.previous.copy_(current)
        self.advance()
