"""What every dynamic weighting scheme shares: the call protocol, state handling and DDP sync.

A scheme is an ``nn.Module`` built with the names of the terms it weights. Called on those
terms (scalars), it returns the weighted total and the current weights; the compiled loss
reports the weights as ``weight/<term>``. Its state (learned parameters, running averages,
initial losses) lives in parameters and buffers, so it is saved in ``state_dict``. State only
moves in a call that can train: training mode with gradients enabled. A validation call (eval
mode, or ``torch.no_grad()`` / ``torch.inference_mode()`` in either mode) reuses the weights as
they stand. Statistics that feed an update are averaged over DDP ranks first, so every rank
computes the same weights. A step on which ``nan_policy="skip"`` dropped some of
its terms leaves those terms out of the total and the state where it was.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.distributed as dist
from torch import Tensor, nn

from losslang.errors import LossShapeError, LossValueError


class WeightingScheme(nn.Module):
    """Base of the dynamic weighting schemes.

    Subclasses implement :meth:`combine`, which weights each term and updates the state in
    training mode. Those that need gradients of each term with respect
    to the model's shared parameters set ``needs_parameters`` and use :meth:`gradients`;
    :meth:`LossModule.attach` hands them the parameters.
    """

    needs_parameters = False

    def __init__(self, terms: Sequence[str]) -> None:
        super().__init__()
        self.terms = tuple(terms)
        self.shared: list[Tensor] = []  # set by LossModule.attach; not state
        self.ahead = False  # set by LossModule.update_weights while it makes the next step's update
        self.done_ahead = False  # update_weights made it: the next step does not make it again

    def due(self) -> bool:
        """Whether the next training step updates the weights from gradients, an update that can be made ahead.

        :meth:`LossModule.update_weights` makes it after the optimiser step, from the batch just
        trained on. ``lr_annealing`` and ``famo`` have such updates; the other schemes update
        inside every step.

        Example:
            >>> from losslang.weighting import DWA
            >>> DWA(["a", "b"]).due()
            False
        """
        return False

    def forward(self, *losses: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(weighted total, weights)`` for the scalar ``losses``, one per term."""
        return self.weigh(losses)

    def weigh(self, losses: Sequence[Tensor], skipped: Sequence[bool] | None = None) -> tuple[Tensor, Tensor]:
        """:meth:`forward`, told which terms ``nan_policy="skip"`` dropped this step.

        Skipped terms add nothing to the total (a learned regulariser included), and no state
        moves on such a step.

        Example:
            >>> import torch
            >>> from losslang.weighting import Uncertainty
            >>> Uncertainty(["a", "b"], init=1.0).weigh([torch.tensor(2.0), torch.tensor(0.0)], skipped=[False, True])
            (tensor(1.7358, grad_fn=<SumBackward0>), tensor([0.3679, 0.3679]))
        """
        for name, loss in zip(self.terms, losses, strict=True):
            if loss.dim() != 0:
                raise LossShapeError(f"{self.name}() weights scalar terms; {name!r} has shape {tuple(loss.shape)}")
        if skipped is None:
            contributions, weights = self.combine(torch.stack(losses))
            return contributions.sum(), weights
        training = self.training
        self.training = False  # weights from the state as it stands, which this step does not move
        try:
            contributions, weights = self.combine(torch.stack(losses))
        finally:
            self.training = training
        kept = torch.tensor([not skip for skip in skipped], device=contributions.device)
        return torch.where(kept, contributions, 0).sum(), weights

    @property
    def learning(self) -> bool:
        """Whether this call can train, so may move the state: training mode with gradients enabled.

        Example:
            >>> import torch
            >>> from losslang.weighting import DWA
            >>> scheme = DWA(["a", "b"])
            >>> with torch.no_grad():
            ...     scheme.learning
            False
        """
        return self.training and torch.is_grad_enabled()

    @property
    def name(self) -> str:
        """The scheme's name as formulas write it."""
        return type(self).__name__.lower()

    def combine(self, losses: Tensor) -> tuple[Tensor, Tensor]:
        """Weight the stacked losses: return each term's contribution to the total (with gradient) and the weights."""
        raise NotImplementedError

    def describe(self) -> str:
        """What ``losslang explain`` says of the scheme: the terms it weights, and how when it matters.

        Example:
            >>> from losslang.weighting import DWA
            >>> DWA(["recon", "kl"]).describe()
            'dwa weights recon, kl'
        """
        return f"{self.name} weights {', '.join(self.terms)}"

    def snapshot(self) -> dict[str, Tensor]:
        """A copy of the state that a training step moves, for :meth:`restore`.

        Example:
            >>> import torch
            >>> from losslang.weighting import ReLoBRaLo
            >>> scheme = ReLoBRaLo(["a", "b"])
            >>> saved = scheme.snapshot()
            >>> _ = scheme(torch.tensor(1.0), torch.tensor(2.0))
            >>> scheme.restore(saved)
            >>> int(scheme.steps)
            0
        """
        return {name: buffer.clone() for name, buffer in self._buffers.items() if buffer is not None}  # no submodules

    def restore(self, snapshot: dict[str, Tensor]) -> None:
        """Put back the state saved by :meth:`snapshot`."""
        for name, buffer in self._buffers.items():
            if buffer is not None:
                buffer.copy_(snapshot[name])

    def gradients(self, loss: Tensor, *, batched: bool = False) -> list[Tensor]:
        """The gradient of ``loss`` with respect to the attached shared parameters, leaving ``.grad`` alone.

        With ``batched``, ``loss`` holds one loss per term and each gradient gets a leading
        dimension, one row per term, from one batched backward pass.
        """
        if not self.shared:
            raise LossValueError(
                f"{self.name}() needs the model's shared parameters: call loss.attach(model) once before training"
            )
        outputs = torch.eye(len(loss), dtype=loss.dtype, device=loss.device) if batched else None
        grads = torch.autograd.grad(
            loss, self.shared, outputs, retain_graph=True, allow_unused=True, is_grads_batched=batched
        )
        shape = (len(loss),) if batched else ()
        return [p.new_zeros(shape + p.shape) if g is None else g for p, g in zip(self.shared, grads, strict=True)]


def synced(statistic: Tensor) -> Tensor:
    """The mean of ``statistic`` over DDP ranks (itself when not distributed), detached, in float32 or wider.

    Every scheme's update reads its statistics through here, so its state is computed in float32
    whatever the loss's dtype: float16's range (65504) and smallest normal (6e-5) are too narrow
    for ratios of losses and sums of gradients.

    Example:
        >>> import torch
        >>> synced(torch.tensor([1.0, 2.0], dtype=torch.float16))
        tensor([1., 2.])
    """
    statistic = statistic.detach().to(torch.promote_types(statistic.dtype, torch.float32), copy=True)
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(statistic, op=dist.ReduceOp.SUM)
        statistic /= dist.get_world_size()
    return statistic
