"""Random Loss Weighting: fresh random weights at every training step, the baseline adaptive schemes must beat."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from losslang.weighting.stateful import StatefulScheme


class RLW(StatefulScheme):
    """Random Loss Weighting: each training step weights the terms by a softmax of standard normal draws.

    Lin, Ye, Xu, Shi and Zhang, "Reasonable Effectiveness of Random Weighting: A Litmus Test for
    Multi-Task Learning", TMLR 2022 (arXiv 2111.10603), as LibMTL implements it with its default
    ``dist='Normal'`` (``LibMTL/weighting/RLW.py``): ``lambda = softmax(z)``, ``z ~ N(0, I)``, the
    weights summing to 1, and the total ``sum_k lambda_k L_k`` with the weights as constants.
    Unlike LibMTL's global random state, each step's draw comes from a generator seeded by
    ``(seed, step)``: reproducible, resumed exactly from a ``state_dict``, the same on every DDP
    rank. Before the first training step, and in eval mode, the weights are the last ones drawn
    (``1/K`` each at first).

    Args:
        terms: the names of the weighted terms (given by the compiler).
        seed: seeds the draws.

    Example:
        >>> import torch
        >>> scheme = RLW(["a", "b", "c"])
        >>> total, weights = scheme(torch.tensor(1.0), torch.tensor(2.0), torch.tensor(3.0))
        >>> round(float(weights.sum()), 6), bool((weights > 0).all())
        (1.0, True)
    """

    def __init__(self, terms: Sequence[str], *, seed: int = 0) -> None:
        super().__init__(terms, init=1.0 / max(len(terms), 1))
        self.seed = int(seed)

    def combine(self, losses: Tensor) -> tuple[Tensor, Tensor]:
        """When the call can train, draw this step's weights; then ``lambda_k L_k`` per term."""
        if self.learning:
            draws = torch.randn(len(self.terms), generator=self.generator(self.seed))
            self.weights.copy_(torch.softmax(draws, dim=0))
            self.advance()
        return self.weighted(losses)
