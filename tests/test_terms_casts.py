"""float, long and to: torch's casts, written as functions."""

from __future__ import annotations

import pytest
import torch

import losslang


def test_casts_match_torch_methods() -> None:
    y = torch.tensor([0.2, 1.9, 2.5])
    out = losslang.compile('l = long(y); f = float(y > 1); d = to(y, dtype="float64"); mean(y) + mean(f)')(y=y)
    assert torch.equal(out["l"], y.long()) and torch.equal(out["f"], (y > 1).float())
    assert out["d"].dtype == torch.float64


def test_a_float_label_map_becomes_class_indices() -> None:
    logits, labels = torch.randn(4, 3), torch.tensor([0.0, 2.0, 1.0, 2.0])
    out = losslang.compile("cross_entropy(s, long(t))")(s=logits, t=labels)
    torch.testing.assert_close(out.total, torch.nn.functional.cross_entropy(logits, labels.long()))


def test_to_takes_a_dtype_name() -> None:
    with pytest.raises(losslang.LossArityError, match="argument 'dtype' of to\\(\\) must be one of \"float16\""):
        losslang.compile('mean(to(y, dtype="double"))')
    x = torch.randn(3, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(losslang.compile('sum(to(x, dtype="float32") * 2)')(x=x).total, x)
    assert torch.equal(grad, torch.full_like(x, 2.0))


def test_to_another_tensor_takes_its_dtype_and_one_of_the_two_is_needed() -> None:
    logits, masks = torch.randn(3, dtype=torch.float64), torch.tensor([1, 0, 1])
    out = losslang.compile("bce_with_logits(s, to(m, s))")(s=logits, m=masks)
    torch.testing.assert_close(out.total, torch.nn.functional.binary_cross_entropy_with_logits(logits, masks.double()))
    with pytest.raises(losslang.LossArityError, match="to\\(\\) takes another tensor"):
        losslang.compile("sum(to(m))")(m=masks)
