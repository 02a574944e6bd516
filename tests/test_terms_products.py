"""matmul and @, einsum, outer, cdist: against torch in value and gradient, and torch's autocast rule."""

from __future__ import annotations

import pytest
import torch
from vocabulary import matches_torch

import losslang


def randn(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64)


@pytest.mark.parametrize(
    ("formula", "inputs", "reference"),
    [
        ("a @ b", {"a": randn(3, 4), "b": randn(4, 2)}, lambda a, b: a @ b),
        ("matmul(a, b)", {"a": randn(2, 3, 4), "b": randn(4, 5)}, lambda a, b: torch.matmul(a, b)),
        ("a @ transpose(b, 0, 1) / 0.1", {"a": randn(3, 4), "b": randn(5, 4)}, lambda a, b: a @ b.T / 0.1),
        (
            'einsum("nd,md->nm", a, b)',
            {"a": randn(3, 4), "b": randn(5, 4)},
            lambda a, b: torch.einsum("nd,md->nm", a, b),
        ),
        ("outer(a, b)", {"a": randn(3), "b": randn(4)}, lambda a, b: torch.outer(a, b)),
        ("cdist(a, b)", {"a": randn(3, 2), "b": randn(4, 2)}, lambda a, b: torch.cdist(a, b)),
        ("cdist(a, b, p=1.0)", {"a": randn(3, 2), "b": randn(4, 2)}, lambda a, b: torch.cdist(a, b, p=1.0)),
    ],
)
def test_products_match_torch_in_value_and_gradient(formula: str, inputs: dict, reference) -> None:
    matches_torch(formula, inputs, reference)


def test_at_binds_like_a_product_in_python() -> None:
    assert str(losslang.parse("a @ b * c + d")) == "a @ b * c + d"
    assert losslang.parse("a @ b * c").total == losslang.parse("(a @ b) * c").total
    assert losslang.parse("a + b @ c").total == losslang.parse("a + (b @ c)").total
    with pytest.raises(losslang.LossArityError, match="@ needs a tensor, not the number 2"):
        losslang.compile("sum(2 @ a)")


def test_under_autocast_matmul_follows_torch_rule() -> None:
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = losslang.compile("m = a @ b; d = cdist(a, b); mean(m) + mean(d)")(a=a, b=b)
        assert out["m"].dtype == (a @ b).dtype == torch.bfloat16
        assert out["d"].dtype == torch.cdist(a, b).dtype


def test_a_bad_einsum_equation_names_the_term() -> None:
    with pytest.raises(losslang.LossLangError, match="failed in einsum\\(\\)"):
        losslang.compile('sum(einsum("ij,jk->ik", a, b))')(a=torch.randn(2, 3), b=torch.randn(4, 5))
