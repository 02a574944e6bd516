"""Products: ``matmul`` (the ``@`` operator), ``einsum``, ``outer`` and ``cdist``, as torch defines them.

They are what in-batch contrastive losses (CLIP, SimCLR, SupCon) and distance-based losses are
made of: ``logits = a @ transpose(b, 0, 1) / t``. Under autocast each follows torch's own rule
(``matmul`` and ``einsum`` in the lower precision, ``cdist`` in float32).
"""

from __future__ import annotations

import torch
from torch import Tensor


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """The matrix product of ``a`` and ``b``, batched and broadcast as ``torch.matmul``; ``a @ b`` is the same.

    Example:
        >>> import torch
        >>> matmul(torch.ones(2, 3), torch.ones(3, 4)).shape
        torch.Size([2, 4])
    """
    return torch.matmul(a, b)


def einsum(equation: str, *operands: Tensor) -> Tensor:
    """The sum of products that ``equation`` describes, as ``torch.einsum``: ``einsum("nd,md->nm", a, b)``.

    Example:
        >>> import torch
        >>> einsum("nd,md->nm", torch.ones(2, 3), torch.ones(4, 3))
        tensor([[3., 3., 3., 3.],
                [3., 3., 3., 3.]])
    """
    return torch.einsum(equation, *operands)


def outer(a: Tensor, b: Tensor) -> Tensor:
    """The outer product of two vectors, as ``torch.outer``.

    Example:
        >>> import torch
        >>> outer(torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0, 5.0]))
        tensor([[ 3.,  4.,  5.],
                [ 6.,  8., 10.]])
    """
    return torch.outer(a, b)


def cdist(x1: Tensor, x2: Tensor, p: float = 2.0) -> Tensor:
    """The p-norm distance between every row of ``x1`` and every row of ``x2``, as ``torch.cdist``.

    Example:
        >>> import torch
        >>> cdist(torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0], [0.0, 1.0]]))
        tensor([[5., 1.]])
    """
    return torch.cdist(x1, x2, p=p)
