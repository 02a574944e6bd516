"""Every loss term against torch.nn.functional or its published formula: value, gradient, gradcheck."""

from __future__ import annotations

import pytest
import torch
from term_cases import DEVICES, ROWS, Row, by_reduction, call
from torch.autograd import gradcheck

from losslang.registry import REGISTRY


def test_every_loss_term_has_a_row() -> None:
    covered = {REGISTRY.lookup(row.term).name for row in ROWS}  # type: ignore[union-attr]
    assert covered == {name for name, spec in REGISTRY.specs.items() if spec.kind == "loss"}


def on(device: str, value: object) -> object:
    return value.to(device) if isinstance(value, torch.Tensor) else value


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("row", "reduction"), by_reduction(ROWS))
@pytest.mark.usefixtures("path")
def test_term_matches_reference_in_value_and_gradient(row: Row, reduction: str, device: str) -> None:
    term = REGISTRY.lookup(row.term).fn  # type: ignore[union-attr]
    args, options = row.make(4)
    args = tuple(arg.to(device) for arg in args)
    options = {name: on(device, value) for name, value in options.items()}
    mine = [arg.clone().requires_grad_(i in row.grad) for i, arg in enumerate(args)]
    theirs = [arg.clone().requires_grad_(i in row.grad) for i, arg in enumerate(args)]
    value = call(row, term, tuple(mine), reduction=reduction, **options)
    expected = call(row, row.reference, tuple(theirs), reduction=reduction, **options)
    torch.testing.assert_close(value, expected, rtol=1e-10, atol=1e-12)
    cotangent = torch.randn_like(value)
    grads = torch.autograd.grad(value, [mine[i] for i in row.grad], cotangent)
    expected_grads = torch.autograd.grad(expected, [theirs[i] for i in row.grad], cotangent)
    torch.testing.assert_close(grads, expected_grads, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize(("row", "reduction"), by_reduction(ROWS))
@pytest.mark.usefixtures("path")
def test_term_passes_gradcheck(row: Row, reduction: str) -> None:
    term = REGISTRY.lookup(row.term).fn  # type: ignore[union-attr]
    args, options = row.make(4)
    inputs = tuple(args[i].clone().requires_grad_() for i in row.grad)

    def run(*differentiable: torch.Tensor) -> torch.Tensor:
        given = dict(zip(row.grad, differentiable, strict=True))
        return call(row, term, tuple(given.get(i, arg) for i, arg in enumerate(args)), reduction=reduction, **options)

    assert gradcheck(run, inputs, fast_mode=True)
