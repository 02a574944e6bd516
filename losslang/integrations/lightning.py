"""PyTorch Lightning: log every term of a compiled loss from a ``LightningModule``.

Install with ``pip install "losslang[lightning]"``. This module never imports Lightning: the
mixin only calls ``self.log_dict``, which ``LightningModule`` provides, so importing it costs
nothing and works (and is tested) without Lightning installed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor

from losslang.output import LossOutput


class LossLangMixin:
    """Adds :meth:`log_loss` to a ``LightningModule``; list it first among the bases.

    Keep the compiled loss as an attribute of the module (``self.loss = losslang.compile(...)``):
    Lightning then moves it to the device, puts it in eval mode for validation (so ``step`` and
    weighting state only move while training), saves it in checkpoints, and
    ``self.parameters()`` includes learnable weights such as ``uncertainty(...)``'s.

    Example:
        >>> import torch, losslang
        >>> class Recorder(LossLangMixin):  # stands in for a LightningModule here
        ...     def log_dict(self, metrics: dict, **kwargs: object) -> None:
        ...         print(metrics, kwargs)
        >>> out = losslang.compile("mse(p, y)")(p=torch.ones(2), y=torch.zeros(2))
        >>> Recorder().log_loss(out, "val", prog_bar=True)
        {'val/total': 1.0, 'val/mse(p, y)': 1.0} {'prog_bar': True}
        tensor(1.)

        In a real module::

            class Net(LossLangMixin, lightning.LightningModule):
                def training_step(self, batch, batch_idx):
                    x, y = batch
                    return self.log_loss(self.loss(pred=self.model(x), y=y), "train")
    """

    log_dict: Callable[..., None]  # provided by LightningModule

    def log_loss(self, out: LossOutput, stage: str = "train", *, sync: bool = False, **log_kwargs: Any) -> Tensor:
        """Log every term as ``<stage>/<term>`` with one ``self.log_dict`` call; return the total.

        Args:
            out: what the compiled loss returned for this batch.
            stage: the key prefix without the slash: ``"train"``, ``"val"``, ``"test"``.
            sync: average the terms over DDP ranks with one collective (``out.metrics(sync=True)``)
                instead of Lightning's ``sync_dist=True``, which reduces each key separately.
            **log_kwargs: passed to ``log_dict``: ``prog_bar``, ``on_step``, ``on_epoch``,
                ``batch_size``, ...

        Returns:
            ``out.total``, for ``training_step`` to return.
        """
        self.log_dict(out.metrics(prefix=f"{stage}/", sync=sync), **log_kwargs)
        return out.total
