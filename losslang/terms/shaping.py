"""Shapes: transpose, permute, flatten, unflatten, reshape, movedim, squeeze, unsqueeze and expand.

Each is torch's own, with torch's names and arguments, so a line of loss code ports by copying
it: ``x.transpose(1, 2)`` is ``transpose(x, 1, 2)``, ``x.permute(0, 2, 1)`` is
``permute(x, 0, 2, 1)`` (or ``permute(x, [0, 2, 1])``). A dimension out of range is torch's
error, named by the term it happened in. ``unsqueeze`` and ``expand`` insert axes on purpose, so
arithmetic with their result broadcasts along them without the accidental-broadcast check.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from losslang.bounds import Sizes


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    """``x`` with dimensions ``dim0`` and ``dim1`` swapped, as ``torch.transpose``.

    Example:
        >>> import torch
        >>> transpose(torch.zeros(2, 3, 4), 1, 2).shape
        torch.Size([2, 4, 3])
    """
    return x.transpose(dim0, dim1)


def permute(x: Tensor, *dims: int | Sequence[int]) -> Tensor:
    """``x`` with its dimensions in the order ``dims``, as ``torch.permute``.

    Example:
        >>> import torch
        >>> permute(torch.zeros(2, 3, 4), 0, 2, 1).shape, permute(torch.zeros(2, 3, 4), [2, 0, 1]).shape
        (torch.Size([2, 4, 3]), torch.Size([4, 2, 3]))
    """
    return x.permute(*_flat(dims))


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """``x`` with dimensions ``start_dim`` to ``end_dim`` merged into one, as ``torch.flatten``.

    Example:
        >>> import torch
        >>> flatten(torch.zeros(2, 3, 4), 1).shape
        torch.Size([2, 12])
    """
    return x.flatten(start_dim, end_dim)


def unflatten(x: Tensor, dim: int, sizes: Sizes) -> Tensor:
    """``x`` with dimension ``dim`` split into ``sizes``, as ``torch.unflatten``.

    Example:
        >>> import torch
        >>> unflatten(torch.zeros(2, 12), 1, [3, -1]).shape
        torch.Size([2, 3, 4])
    """
    return x.unflatten(dim, _flat((sizes,)))


def reshape(x: Tensor, *shape: Sizes) -> Tensor:
    """``x`` in the shape ``shape`` (one size may be -1), as ``torch.reshape``.

    Example:
        >>> import torch
        >>> reshape(torch.zeros(2, 6), -1, 3).shape, reshape(torch.zeros(2, 6), [4, 3]).shape
        (torch.Size([4, 3]), torch.Size([4, 3]))
    """
    return x.reshape(_flat(shape))


def movedim(x: Tensor, source: int | Sequence[int], destination: int | Sequence[int]) -> Tensor:
    """``x`` with dimensions ``source`` moved to ``destination``, as ``torch.movedim``.

    Example:
        >>> import torch
        >>> movedim(torch.zeros(2, 3, 4), -1, 1).shape
        torch.Size([2, 4, 3])
    """
    return x.movedim(source, destination)


def squeeze(x: Tensor, dim: int | Sequence[int] | None = None) -> Tensor:
    """``x`` without its dimensions of size 1 (only ``dim`` when given), as ``torch.squeeze``.

    Example:
        >>> import torch
        >>> squeeze(torch.zeros(2, 1, 3, 1)).shape, squeeze(torch.zeros(2, 1, 3, 1), 1).shape
        (torch.Size([2, 3]), torch.Size([2, 3, 1]))
    """
    return x.squeeze() if dim is None else x.squeeze(dim)


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    """``x`` with a new dimension of size 1 at ``dim``, as ``torch.unsqueeze``: ``x[:, None]`` is ``unsqueeze(x, 1)``.

    Example:
        >>> import torch
        >>> unsqueeze(torch.zeros(2, 3), 1).shape
        torch.Size([2, 1, 3])
    """
    return x.unsqueeze(dim)


def expand(x: Tensor, *sizes: Sizes) -> Tensor:
    """``x`` broadcast to ``sizes`` (-1 keeps a size) without copying, as ``Tensor.expand``.

    Example:
        >>> import torch
        >>> expand(torch.zeros(2, 1), -1, 4).shape
        torch.Size([2, 4])
    """
    return x.expand(*_flat(sizes))


def _flat(items: Sequence[int | Sequence[int]]) -> list[int]:
    """Sizes or dimensions given one by one (``0, 2, 1``) or as one list (``[0, 2, 1]``), as torch takes both."""
    return [int(size) for item in items for size in (item if isinstance(item, Sequence) else (item,))]


AXIS_INSERTING = frozenset({unsqueeze, expand})  # arithmetic with their result broadcasts on purpose
