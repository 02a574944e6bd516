"""A compiled loss as a trainer's ``loss_fn(batch, model) -> (loss, metrics)``.

Trainers such as perceptrain call ``loss_fn(batch, model)`` and expect the loss tensor and a
dict of metrics back. :func:`as_loss_fn` builds that callable from a :class:`LossModule`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from losslang.errors import LossConfigError, LossInputError
from losslang.module import LossModule


@dataclass(frozen=True)
class TrainerLossFn:
    """``loss_fn(batch, model) -> (loss, metrics)`` for trainers; build it with :func:`as_loss_fn`.

    Attributes:
        loss: the compiled loss; put ``loss.parameters()`` in the optimizer if it has any.
        inputs: the names of a tuple or list batch's items, in order.
        model_input: the batch key the model is called on; ``None`` calls it on the whole batch.
        output: the key the model's result is added under.
        prefix: put before every metric key.
        sync: all-reduce the metrics over DDP ranks (one collective per call).

    Example:
        >>> import torch, losslang
        >>> loss_fn = losslang.as_loss_fn(losslang.compile("mse(output, y)"), prefix="val/")
        >>> loss_fn.inputs, loss_fn.model_input
        (('x', 'y'), 'x')
        >>> loss_fn((torch.ones(2, 1), torch.zeros(2, 1)), torch.nn.Identity())[1]
        {'val/total': 1.0, 'val/mse(output, y)': 1.0}
    """

    loss: LossModule
    inputs: tuple[str, ...]
    model_input: str | None
    output: str
    prefix: str
    sync: bool

    def __call__(self, batch: Any, model: nn.Module | Callable[..., Any]) -> tuple[Tensor, dict[str, float]]:
        """Name the batch, run the model on it, and evaluate the loss on both."""
        named = self._name(batch)
        training = getattr(model, "training", None)  # a plain function has no mode to follow
        if training is not None and training != self.loss.training:
            self.loss.train(training)  # validation must not advance the step or weighting state
        given = named if self.model_input is None else self._fetch(named, self.model_input)
        out = self.loss({**named, self.output: model(given)})
        return out.total, out.metrics(prefix=self.prefix, sync=self.sync)

    def _name(self, batch: Any) -> Mapping[str, Any]:
        """The batch as a mapping: a mapping as is, a tuple or list by ``inputs``, anything else as one item.

        Raises:
            LossInputError: a tuple or list batch does not have one item per name in ``inputs``.
        """
        if isinstance(batch, Mapping):
            return batch
        items = tuple(batch) if isinstance(batch, (tuple, list)) else (batch,)
        if len(items) != len(self.inputs):
            raise LossInputError(
                f"the batch has {len(items)} item{'s' * (len(items) != 1)} but inputs names "
                f"{len(self.inputs)}: {', '.join(self.inputs) or 'none'}; "
                "pass as_loss_fn(loss, inputs=(...)) with one name per item"
            )
        return dict(zip(self.inputs, items, strict=True))

    def _fetch(self, named: Mapping[str, Any], key: str) -> Any:
        if key not in named:
            have = ", ".join(map(str, named)) or "nothing"
            raise LossInputError(f"the batch has no {key!r} to call the model on; it has {have}; pass model_input=")
        return named[key]


def as_loss_fn(
    loss: LossModule,
    model: nn.Module | None = None,
    *,
    inputs: Sequence[str] = ("x", "y"),
    model_input: str | None = "x",
    output: str = "output",
    prefix: str = "",
    sync: bool = False,
) -> TrainerLossFn:
    """Wrap a compiled loss as ``loss_fn(batch, model) -> (loss tensor, metrics dict)``.

    That is the interface of trainers such as perceptrain's ``Trainer(loss_fn=...)``. The
    trainer passes the model to every call, and that is the model the loss is evaluated on: the
    trainer stays the owner of the model, its device and its train/eval mode. The loss follows
    the model's mode on each call, so a validation pass neither advances ``step`` nor moves a
    weighting scheme's state.

    Args:
        loss: the compiled loss, e.g. from :func:`losslang.compile` or :func:`losslang.load`.
        model: optional; when given, the loss is attached to it (:meth:`LossModule.attach`), which
            the gradient-balancing schemes (``gradnorm``, ``lr_annealing``) need. A loss already
            attached with ``grad_norms=True`` keeps reporting them.
        inputs: names for the items of a tuple or list batch, in order; a ``Mapping`` batch is
            used as is, and any other batch (a bare tensor) is one item.
        model_input: the batch key the model is called on; ``None`` calls the model on the whole
            named batch (a dict, as a PINN expects).
        output: the name the formula uses for the model's result. A mapping result (say a
            Hugging Face output) is read with dotted names, e.g. ``output.logits``.
        prefix: put before every metric key, e.g. ``"train/"``.
        sync: all-reduce the metrics over DDP ranks, in one collective per call.

    Raises:
        LossConfigError: ``inputs`` is a string rather than a sequence of names, or ``model`` is
            not an ``nn.Module``.

    Returns:
        A callable ``loss_fn(batch, model)`` returning ``(out.total, out.metrics(prefix=prefix))``:
        the scalar to call ``backward()`` on and every term as a float, fetched with one sync.

    Example:
        >>> import torch, losslang
        >>> loss_fn = losslang.as_loss_fn(losslang.compile("mse(output, y) + 0.5*mae(output, y)"))
        >>> model = torch.nn.Linear(3, 1)
        >>> loss, metrics = loss_fn((torch.randn(8, 3), torch.randn(8, 1)), model)
        >>> loss.requires_grad, list(metrics)
        (True, ['total', 'mse(output, y)', 'mae(output, y)'])

        Given the model, a gradient-balancing scheme gets its shared parameters:

        >>> balanced = losslang.as_loss_fn(losslang.compile("gradnorm(mse(output, y), mae(output, y))"), model)
        >>> sorted(balanced((torch.randn(8, 3), torch.randn(8, 1)), model)[1])[-2:]
        ['weight/mae(output, y)', 'weight/mse(output, y)']
    """
    if isinstance(inputs, str):
        raise LossConfigError(f"inputs must be a sequence of names, e.g. ('x', 'y'), not the string {inputs!r}")
    if model is not None:
        if not isinstance(model, nn.Module):
            raise LossConfigError(
                f"model must be the nn.Module the loss is attached to, not {type(model).__name__}; "
                "or leave it out: the trainer passes the model to every call"
            )
        loss.attach(model, grad_norms=loss._report_grad_norms)  # re-attaching keeps the caller's choice
    return TrainerLossFn(loss, tuple(inputs), model_input, output, prefix, sync)
