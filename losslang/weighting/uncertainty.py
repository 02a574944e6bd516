"""Homoscedastic uncertainty weighting."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import torch
from torch import Tensor, nn

from losslang.bounds import Range
from losslang.weighting.base import WeightingScheme


class Uncertainty(WeightingScheme):
    """Learned homoscedastic-uncertainty weights: ``sum_i exp(-s_i) * L_i + s_i``.

    Kendall, Gal and Cipolla, "Multi-Task Learning Using Uncertainty to Weigh Losses for Scene
    Geometry and Semantics", CVPR 2018. ``s_i = log(sigma_i^2)`` is a learnable log-variance per
    term, initialised to ``init``; train it with the model (include ``loss.parameters()`` in
    the optimizer). The reported weights are ``exp(-s_i)``.

    Example:
        >>> import torch
        >>> scheme = Uncertainty(["a", "b"])
        >>> total, weights = scheme(torch.tensor(2.0), torch.tensor(3.0))
        >>> total, weights
        (tensor(5., grad_fn=<SumBackward0>), tensor([1., 1.]))
    """

    def __init__(self, terms: Sequence[str], *, init: Annotated[float, Range(ge=-80, le=80)] = 0.0) -> None:
        super().__init__(terms)
        self.log_variance = nn.Parameter(torch.full((len(self.terms),), float(init)))

    def combine(self, losses: Tensor) -> tuple[Tensor, Tensor]:
        """``exp(-s_i) * L_i + s_i`` per term, with weights ``exp(-s_i)``."""
        s = self.log_variance.to(losses.dtype)
        precision = torch.exp(-s)
        return precision * losses + s, precision.detach()
