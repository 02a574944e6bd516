"""Learning-rate annealing: weights from the ratio of the reference term's largest gradient to each term's mean.

Two variants, both from Wang, Teng and Perdikaris, "Understanding and mitigating gradient
pathologies in physics-informed neural networks", SIAM J. Sci. Comput. 2021 (arXiv 2001.04536):

- ``variant="authors"`` (the default) is what the authors' published code runs
  (PredictiveIntelligenceLab/GradientPathologiesPINNs, ``Helmholtz/Helmholtz2D_model_tf.py``: the
  gradients ``grad_res``/``grad_bcs`` of the weight matrices, the statistics ``max_grad_res`` and
  ``mean_grad_bcs`` and the update of ``adaptive_constant_val`` with ``beta = 0.9`` in ``train``,
  every 10 iterations). The annealed term's gradient is taken of the *weighted* loss
  ``lambda_i * L_i``, over the weight matrices only (no biases), its mean is the mean over layers of
  each layer's mean, and 0.9 of the old weight is kept. Its fixed point is
  ``lambda = sqrt(max / mean)``; on the Helmholtz benchmark it is what reproduces the paper's result.
- ``variant="paper"`` is Algorithm 1 as printed: the unweighted gradient, over every attached
  parameter pooled. Its fixed point is ``max / mean``, which on the Helmholtz benchmark runs away
  (1e6 and more) until the network learns ``u = 0``.

``keep`` is the share of the old weight kept at each update, ``lambda <- keep * lambda +
(1 - keep) * estimate``: the authors' ``beta``, and one minus the paper's ``alpha``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from losslang.bounds import Count, Fraction
from losslang.weighting.base import synced
from losslang.weighting.stateful import StatefulScheme

Variant = Literal["authors", "paper"]


def lr_annealing_step(weights: Tensor, top: Tensor, means: Tensor, *, keep: float, weighted: bool) -> Tensor:
    """One update: ``lambda_i <- keep * lambda_i + (1 - keep) * top / (lambda_i^w * means_i)`` for ``i >= 1``.

    ``weights[0]``, the reference term's, stays as it is (1). With ``weighted`` (the authors'
    code) the mean is of the weighted term's gradient, ``lambda_i * means_i``. A term whose mean
    gradient is zero gives no estimate and keeps its weight; so does every term when the
    reference's gradient is zero.

    Args:
        weights: ``lambda_i``, the current weights, the reference term's first.
        top: ``max |grad L_0|``, the reference term's largest gradient entry.
        means: ``mean |grad L_i|`` of each other term's unweighted gradient, ``i >= 1``.
        keep: the share of the old weight kept.
        weighted: divide by the mean gradient of ``lambda_i L_i`` rather than of ``L_i``.

    Example:
        >>> import torch
        >>> lr_annealing_step(torch.ones(3), torch.tensor(4.0), torch.tensor([2.0, 0.0]), keep=0.1, weighted=False)
        tensor([1.0000, 1.9000, 1.0000])
        >>> at_the_fixed_point = torch.tensor([1.0, 4.0])  # sqrt(max / mean) = sqrt(4 / 0.25)
        >>> lr_annealing_step(at_the_fixed_point, torch.tensor(4.0), torch.tensor([0.25]), keep=0.5, weighted=True)
        tensor([1., 4.])
    """
    others = weights[1:]
    scale = others * means if weighted else means
    estimate = keep * others + (1 - keep) * (top / torch.where(scale > 0, scale, 1.0))
    # No estimate from a zero mean, nor from a reference with no gradient (it depends on no attached
    # parameter): that would drive every weight geometrically to 0.
    return torch.cat([weights[:1], torch.where((scale > 0) & (top > 0), estimate, others)])


class LRAnnealing(StatefulScheme):
    """Learning-rate annealing: the first (reference) term's largest gradient sets every other term's weight.

    The first term ``L_0`` (the PDE residual in the paper) is the reference, weighted 1; the
    others start at 1. Every ``every`` training steps, over the parameters given by
    ``loss.attach(model)`` (the weight matrices among them for the authors' variant)::

        lambda_hat_i = max |grad L_0| / mean |grad (lambda_i L_i)|     (authors; paper: grad L_i)
        lambda_i    <- keep * lambda_i + (1 - keep) * lambda_hat_i       (i >= 1)

    and the total is ``L_0 + sum_{i>=1} lambda_i L_i`` with the weights just updated held
    constant. By itself the scheme updates at the start of a due step, from that step's batch.
    The authors update after the optimiser step, from the batch just trained on: call
    ``loss.update_weights(closure)`` after ``optimizer.step()`` and the next due update is made
    there (:meth:`LossModule.update_weights`); on the Helmholtz benchmark that order is what
    reproduces the paper's result. An update costs one extra backward pass per term; without an
    autograd graph (``torch.no_grad()``) nothing is updated. Gradient statistics are averaged over
    DDP ranks. ``losslang explain`` names the reference term.

    Args:
        terms: the names of the weighted terms, the reference first (given by the compiler).
        keep: the share of the old weight kept at each update (the authors' ``beta``, 0.9).
        every: update every this many training steps, starting with the first (the authors' 10).
        variant: ``"authors"`` (the published code) or ``"paper"`` (Algorithm 1 as printed).

    Example:
        >>> import torch
        >>> layer = torch.nn.Linear(2, 1, bias=False)
        >>> _ = layer.weight.data.fill_(1.0)
        >>> scheme = LRAnnealing(["residual", "boundary"], keep=0.1, variant="paper")
        >>> scheme.shared = list(layer.parameters())  # what loss.attach(layer) does
        >>> p = layer(torch.tensor([[1.0, 2.0]]))
        >>> total, weights = scheme(((p - 2) ** 2).mean(), ((p - 4) ** 2).mean())
        >>> weights  # 0.1 * 1 + 0.9 * max|(2, 4)| / mean|(-2, -4)|
        tensor([1.0000, 1.3000])
    """

    needs_parameters = True

    def __init__(
        self, terms: Sequence[str], *, keep: Fraction = 0.9, every: Count = 10, variant: Variant = "authors"
    ) -> None:
        super().__init__(terms)
        self.keep = float(keep)
        self.every = int(every)
        self.variant = variant

    @property
    def name(self) -> str:
        """The scheme's name as formulas write it."""
        return "lr_annealing"

    def describe(self) -> str:
        """The reference term first: ``lr_annealing(bc, res)`` would anneal the residual against the boundary.

        Example:
            >>> print(LRAnnealing(["res", "bc"]).describe())
            lr_annealing: reference res (weight 1); annealed bc; variant authors, keep 0.9, every 10
        """
        annealed = ", ".join(self.terms[1:])
        options = f"variant {self.variant}, keep {self.keep:g}, every {self.every}"
        return f"{self.name}: reference {self.terms[0]} (weight 1); annealed {annealed}; {options}"

    def due(self) -> bool:
        """Whether the next training step updates the weights (and no update ahead has made it already).

        Example:
            >>> scheme = LRAnnealing(["res", "bc"], every=10)
            >>> scheme.due(), scheme.step_count
            (True, 0)
        """
        return self.step_count % self.every == 0 and not self.done_ahead

    def combine(self, losses: Tensor) -> tuple[Tensor, Tensor]:
        """When the call can train, update the weights when due; then ``lambda_i L_i`` per term."""
        if self.learning and losses.requires_grad:
            self.step_when_due(lambda: self.update(losses))
        return self.weighted(losses)

    def update(self, losses: Tensor) -> None:
        """Anneal the weights from this step's gradients."""
        if len(losses) < 2:
            return  # the reference alone: nothing to weight
        authors = self.variant == "authors"
        # The authors' statistics read the weight matrices only; fall back to every parameter if none is a matrix.
        kept = [p.dim() >= 2 for p in self.shared] if authors and any(p.dim() >= 2 for p in self.shared) else None
        reference = _select(self.gradients(losses[0]), kept)
        top = torch.stack([g.abs().max() for g in reference if g.numel()]).max()
        means = torch.stack([_mean_abs(_select(self.gradients(loss), kept), per_layer=authors) for loss in losses[1:]])
        stats = synced(torch.cat([top[None].to(means.dtype), means]))
        weights = lr_annealing_step(self.weights.to(stats), stats[0], stats[1:], keep=self.keep, weighted=authors)
        self.weights.copy_(weights)


def _select(grads: list[Tensor], kept: list[bool] | None) -> list[Tensor]:
    return grads if kept is None else [g for g, keep in zip(grads, kept, strict=True) if keep]


def _mean_abs(grads: list[Tensor], *, per_layer: bool) -> Tensor:
    """The mean absolute entry: over all ``grads`` pooled, or the mean over tensors of each tensor's mean."""
    # Summed in float32 or wider: a float16 sum of many gradients overflows past 65504.
    dtype = torch.promote_types(grads[0].dtype, torch.float32)
    if per_layer:
        return torch.stack([g.abs().sum(dtype=dtype) / max(g.numel(), 1) for g in grads]).mean()
    return torch.stack([g.abs().sum(dtype=dtype) for g in grads]).sum() / sum(g.numel() for g in grads)
