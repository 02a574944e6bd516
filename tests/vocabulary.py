"""A table test for the tensor vocabulary: each formula against the torch it copies, in value and gradient."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.autograd import gradcheck

import losslang


def matches_torch(formula: str, inputs: dict[str, torch.Tensor], reference: Callable[..., torch.Tensor]) -> None:
    """``formula`` (one term, reduced to a scalar by its sum) equals ``reference`` on ``inputs``, with gradcheck."""
    loss = losslang.compile(f"sum({formula})")
    value = loss(inputs).total
    expected = reference(**inputs).sum()
    torch.testing.assert_close(value.to(expected.dtype), expected)
    floats = [name for name, tensor in inputs.items() if tensor.is_floating_point()]
    if not floats:
        return

    def total(*tensors: torch.Tensor) -> torch.Tensor:
        return loss({**inputs, **dict(zip(floats, tensors, strict=True))}).total

    leaves = tuple(inputs[name].detach().double().requires_grad_() for name in floats)
    assert gradcheck(total, leaves)
