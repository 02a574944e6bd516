"""Reductions over DDP ranks that fall back to the identity when not distributed.

Everything here is a no-op without an initialised process group (or with one rank), so the
same training code runs on one process and under ``torchrun``.
"""

from __future__ import annotations

import torch.distributed as dist
from torch import Tensor

from losslang.errors import LossConfigError

OPS = ("mean", "sum")


def world_size() -> int:
    """The number of ranks in the default process group, or 1 when there is none.

    Example:
        >>> world_size()
        1
    """
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def check_op(op: str) -> None:
    """Raise :class:`LossConfigError` unless ``op`` is one of :data:`OPS`.

    Example:
        >>> check_op("max")
        Traceback (most recent call last):
        ...
        losslang.errors.LossConfigError: op must be 'mean' or 'sum', not 'max'
    """
    if op not in OPS:
        raise LossConfigError(f"op must be 'mean' or 'sum', not {op!r}")


def all_reduce(tensor: Tensor, op: str = "mean") -> Tensor:
    """The mean (``op="mean"``) or sum (``op="sum"``) of ``tensor`` over ranks, in one collective.

    Returns a detached copy; ``tensor`` itself is left alone. Every rank must call it.

    Raises:
        LossConfigError: ``op`` is neither ``"mean"`` nor ``"sum"``.

    Example:
        >>> import torch
        >>> all_reduce(torch.tensor([1.0, 2.0]), op="sum")
        tensor([1., 2.])
    """
    check_op(op)
    reduced = tensor.detach().clone()
    ranks = world_size()
    if ranks > 1:
        dist.all_reduce(reduced, op=dist.ReduceOp.SUM)
        if op == "mean":
            reduced /= ranks
    return reduced
