from __future__ import annotations

import math

import pytest
import torch

import losslang
from losslang.weighting import Uncertainty

FORMULA = "uncertainty(mse(p, y1), mse(p, y2))"


def test_uncertainty_matches_kendall_over_sgd_steps() -> None:
    losses = (2.0, 0.5)
    scheme = Uncertainty(["a", "b"])
    optimizer = torch.optim.SGD(scheme.parameters(), lr=0.1)
    s = [0.0, 0.0]
    for _ in range(4):
        total, weights = scheme(*map(torch.tensor, losses))
        assert total.item() == pytest.approx(sum(math.exp(-si) * li + si for si, li in zip(s, losses, strict=True)))
        assert weights.tolist() == pytest.approx([math.exp(-si) for si in s])
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        s = [si - 0.1 * (1 - math.exp(-si) * li) for si, li in zip(s, losses, strict=True)]
    assert scheme.log_variance.tolist() == pytest.approx(s)


def test_uncertainty_in_a_formula_reports_weights() -> None:
    loss = losslang.compile(FORMULA + " + mae(p, y1)")
    assert [name for name, _ in loss.named_parameters()] == ["body.uncertainty_0.log_variance"]
    out = loss(p=torch.zeros(3), y1=torch.ones(3), y2=torch.full((3,), 2.0))
    assert out["weight/mse(p, y1)"].item() == 1.0 and out["weight/mse(p, y2)"].item() == 1.0
    assert out["uncertainty(mse(p, y1), mse(p, y2))"].item() == 5.0
    assert out.total.item() == 6.0


def test_uncertainty_init_keyword() -> None:
    loss = losslang.compile("uncertainty(mse(p, y1), mse(p, y2), init=1.0)")
    out = loss(p=torch.zeros(1), y1=torch.ones(1), y2=torch.ones(1))
    assert out["weight/mse(p, y1)"].item() == pytest.approx(math.exp(-1.0))


def test_uncertainty_state_resumes() -> None:
    loss = losslang.compile(FORMULA)
    with torch.no_grad():
        loss.body.uncertainty_0.log_variance.copy_(torch.tensor([0.3, -0.2]))
    fresh = losslang.compile(FORMULA)
    fresh.load_state_dict(loss.state_dict())
    assert fresh.body.uncertainty_0.log_variance.tolist() == pytest.approx([0.3, -0.2])


def test_uncertainty_rejects_non_scalar_terms() -> None:
    loss = losslang.compile('uncertainty(mse(p, y1, reduction="none"), mse(p, y2))')
    with pytest.raises(losslang.LossShapeError, match=r"uncertainty\(\) weights scalar terms; 'mse\(p, y1, "):
        loss(p=torch.zeros(2), y1=torch.ones(2), y2=torch.ones(2))


def test_uncertainty_keyword_is_checked() -> None:
    with pytest.raises(losslang.LossArityError, match="uncertainty\\(\\) has no keyword 'alpha'"):
        losslang.compile("uncertainty(mse(p, y1), mse(p, y2), alpha=1.0)")
