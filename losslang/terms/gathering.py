"""Reading and writing by index: ``gather``, ``take_along_dim``, ``index_select``, ``scatter``, ``index_put``.

Torch's own, out of place: a formula never modifies its inputs. Gradients flow to the values
read or written, as in torch; the indices are integer tensors and carry none. Indexing with
tensors in brackets (``p[b, a, gj, gi]``, ``x[mask]``) needs no function.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def gather(x: Tensor, dim: int, index: Tensor) -> Tensor:
    """The values of ``x`` along ``dim`` at ``index``, as ``torch.gather``: ``out[i][j] = x[i][index[i][j]]`` for dim 1.

    Example:
        >>> import torch
        >>> gather(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), 1, torch.tensor([[1], [0]]))
        tensor([[2.],
                [3.]])
    """
    return torch.gather(x, dim, index)


def take_along_dim(x: Tensor, indices: Tensor, dim: int | None = None) -> Tensor:
    """The values of ``x`` at ``indices`` along ``dim``, broadcasting them, as ``torch.take_along_dim``.

    Example:
        >>> import torch
        >>> take_along_dim(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[1], [0]]), 1)
        tensor([[2.],
                [3.]])
    """
    return torch.take_along_dim(x, indices, dim)


def index_select(x: Tensor, dim: int, index: Tensor) -> Tensor:
    """The slices of ``x`` along ``dim`` at the positions of the 1-d ``index``, as ``torch.index_select``.

    Example:
        >>> import torch
        >>> index_select(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), 0, torch.tensor([1, 1]))
        tensor([[3., 4.],
                [3., 4.]])
    """
    return torch.index_select(x, dim, index)


def scatter(x: Tensor, dim: int, index: Tensor, src: Tensor | float) -> Tensor:
    """A copy of ``x`` with ``src`` written along ``dim`` at ``index``, as ``torch.scatter`` (out of place).

    Example:
        >>> import torch
        >>> scatter(torch.zeros(2, 3), 1, torch.tensor([[2], [0]]), 1.0)
        tensor([[0., 0., 1.],
                [1., 0., 0.]])
    """
    return torch.scatter(x, dim, index, src)


def index_put(x: Tensor, indices: Sequence[Tensor], values: Tensor | float, accumulate: bool = False) -> Tensor:
    """A copy of ``x`` with ``values`` written at ``x[indices]`` (added with ``accumulate``), as ``torch.index_put``.

    Example:
        >>> import torch
        >>> index_put(torch.zeros(3), [torch.tensor([0, 2])], 5.0)
        tensor([5., 0., 5.])
    """
    value = values if isinstance(values, Tensor) else torch.tensor(values, dtype=x.dtype, device=x.device)
    return torch.index_put(x, tuple(indices), value, accumulate)
