"""size and numel: a tensor's sizes as numbers computed at run time, the same as torch's."""

from __future__ import annotations

import pytest
import torch

import losslang
from losslang.terms.sizes import numel, size


@pytest.mark.parametrize("shape", [(4, 3), (2, 0, 5), (7,)])
def test_size_and_numel_match_torch(shape: tuple[int, ...]) -> None:
    x = torch.zeros(shape)
    for dim in range(-len(shape), len(shape)):
        assert size(x, dim).item() == x.size(dim) and size(x, dim).dtype == torch.int64
    assert numel(x).item() == x.numel()


def test_size_and_numel_are_numbers_computed_at_run_time() -> None:
    loss = losslang.compile('per_sample = sum(mse(p, y, reduction="none")) / size(p, 0); per_sample + 0 * numel(p)')
    for batch in (4, 7):
        p, y = (
            torch.randn(batch, 3, dtype=torch.float64, requires_grad=True),
            torch.zeros(batch, 3, dtype=torch.float64),
        )
        out = loss(p=p, y=y)
        torch.testing.assert_close(out["per_sample"], (p**2).sum() / batch)
        (grad,) = torch.autograd.grad(out.total, p)
        torch.testing.assert_close(grad, 2 * p.detach() / batch)
    assert losslang.compile("n = size(p, -1); sum(p) / n")(p=torch.ones(2, 5))["n"].item() == 5
    with pytest.raises(losslang.LossShapeError, match=r"size\(\): dimension 2 is out of range for a tensor of shape"):
        losslang.compile("sum(p) / size(p, 2)")(p=torch.ones(2, 5))
