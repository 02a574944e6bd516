"""zeros_like, ones_like, full_like, arange and one_hot: built inside the loss, on the right device and dtype."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import losslang


def test_constructors_match_torch() -> None:
    x = torch.randn(3, 2, dtype=torch.float64)
    out = losslang.compile(
        "z = zeros_like(x); o = ones_like(x); f = full_like(x, 0.5); r = arange(size(x, 0)); mean(x * f + z + o)"
    )(x=x)
    assert torch.equal(out["z"], torch.zeros_like(x)) and torch.equal(out["o"], torch.ones_like(x))
    assert torch.equal(out["f"], torch.full_like(x, 0.5)) and torch.equal(out["r"], torch.arange(3))
    assert out["z"].dtype == torch.float64 and not out["r"].is_floating_point()
    assert torch.equal(losslang.compile("r = arange(1, 2, 0.25); mean(x)")(x=x)["r"], torch.arange(1, 2, 0.25))


@pytest.mark.parametrize("classes", [3, -1])
def test_one_hot_is_a_float_target(classes: int) -> None:
    s, t = torch.randn(4, 3, requires_grad=True), torch.tensor([0, 2, 1, 2])  # one_hot is in the default dtype
    out = losslang.compile(f"mse(softmax(s, dim=1), one_hot(t, {classes}))")(s=s, t=t)
    expected = F.mse_loss(s.softmax(1), F.one_hot(t, 3).float())
    torch.testing.assert_close(out.total, expected)
    torch.testing.assert_close(*[torch.autograd.grad(v, s)[0] for v in (out.total, expected)])


def test_one_hot_of_floats_says_to_cast() -> None:
    with pytest.raises(losslang.LossShapeError, match="one_hot\\(\\): t holds class indices, so it must be an integer"):
        losslang.compile("mean(one_hot(t, 3))")(t=torch.tensor([0.0, 1.0]))
    assert losslang.compile("mean(one_hot(long(t), 3))")(t=torch.tensor([0.0, 1.0])).total.item() == pytest.approx(
        1 / 3
    )
