"""Sorting and scans: values as torch gives them, and indices (argsort, argmax, argmin) without gradient."""

from __future__ import annotations

import pytest
import torch
from vocabulary import matches_torch

import losslang


def randn(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64)


@pytest.mark.parametrize(
    ("formula", "reference"),
    [
        ("sort(x, dim=1, descending=true)", lambda x: torch.sort(x, dim=1, descending=True).values),
        ("topk(x, 2)", lambda x: torch.topk(x, 2).values),
        ("topk(x, 2, dim=0, largest=false)", lambda x: torch.topk(x, 2, dim=0, largest=False).values),
        ("cumsum(x, 1)", lambda x: torch.cumsum(x, 1)),
        ("cumprod(x, 0)", lambda x: torch.cumprod(x, 0)),
        ("logsumexp(x, 1)", lambda x: torch.logsumexp(x, 1)),
        ("logsumexp(x, [0, 1], keepdim=true)", lambda x: torch.logsumexp(x, [0, 1], keepdim=True)),
        ("cumsum(sort(x, dim=1), 1)", lambda x: torch.cumsum(torch.sort(x, dim=1).values, 1)),
    ],
)
def test_values_match_torch_in_value_and_gradient(formula: str, reference) -> None:
    matches_torch(formula, {"x": randn(3, 4)}, reference)


def test_indices_match_torch_and_carry_no_gradient() -> None:
    x = randn(3, 4).requires_grad_()
    out = losslang.compile("i = argsort(x, dim=1); j = argmax(x, dim=1); k = argmin(x); sum(x)")(x=x)
    assert torch.equal(out["i"], torch.argsort(x, dim=1, stable=True)) and not out["i"].requires_grad
    assert torch.equal(out["j"], x.argmax(1)) and torch.equal(out["k"], x.argmin())
    chosen = losslang.compile("sum(gather(x, 1, argsort(x, dim=1)))")(x=x)  # indices pick values that do
    torch.testing.assert_close(chosen.total, x.sum())
