"""Casts, as torch's tensor methods: ``float(x)``, ``long(x)``, ``to(x, dtype="float64")`` and ``to(x, y)``.

A float label map becomes class indices with ``long(y)``; a mask or a count becomes a float with
``float(m)``. ``long`` carries no gradient (integers have none), as in torch.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from losslang.errors import LossArityError

DTYPES = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
    "int32": torch.int32,
    "int64": torch.int64,
    "bool": torch.bool,
}
DtypeName = Literal["float16", "bfloat16", "float32", "float64", "int32", "int64", "bool"]


def to_float(x: Tensor) -> Tensor:
    """``x`` as float32, as ``x.float()``; written ``float(x)``.

    Example:
        >>> import torch
        >>> to_float(torch.tensor([True, False]))
        tensor([1., 0.])
    """
    return x.float()


def to_long(x: Tensor) -> Tensor:
    """``x`` as int64 (rounded towards zero), as ``x.long()``; written ``long(x)``.

    Example:
        >>> import torch
        >>> to_long(torch.tensor([1.7, -1.7]))
        tensor([ 1, -1])
    """
    return x.long()


def to(x: Tensor, other: Tensor | None = None, *, dtype: DtypeName | None = None) -> Tensor:
    """``x`` in the named dtype, ``to(x, dtype="float64")``, or in another tensor's dtype and device, ``to(x, y)``.

    As torch's ``x.to(torch.float64)`` and ``x.to(y)``: ``bce_with_logits(s, to(masks, s))``
    compares integer masks with logits of any precision.

    Example:
        >>> import torch
        >>> to(torch.tensor([1, 2]), dtype="float64"), to(torch.tensor([1, 2]), torch.zeros(1, dtype=torch.float16))
        (tensor([1., 2.], dtype=torch.float64), tensor([1., 2.], dtype=torch.float16))
    """
    if (other is None) == (dtype is None):
        raise LossArityError('to() takes another tensor, to(x, y), or a dtype, to(x, dtype="float64"): one of them')
    return x.to(other) if other is not None else x.to(DTYPES[dtype])  # type: ignore[index]
