from __future__ import annotations

import runpy
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import losslang

EXAMPLES = Path(__file__).parent.parent / "examples"


def test_quickstart_fits_the_line_and_reports_every_term(capsys: pytest.CaptureFixture[str]) -> None:
    main = runpy.run_path(str(EXAMPLES / "quickstart.py"))["main"]
    weight, bias, metrics = main(steps=300)
    assert weight == pytest.approx(2.0, abs=0.1) and bias == pytest.approx(2.5, abs=0.7)
    assert list(metrics) == ["total", "fit", "mae(pred, y1)", "mae(pred, y2)", "mean(mae(pred, y1), mae(pred, y2))"]
    assert "fit = mse(pred, y1)" in capsys.readouterr().out


def test_plain_loop_learns_to_trust_the_less_noisy_output() -> None:
    metrics = runpy.run_path(str(EXAMPLES / "plain_loop.py"))["main"](epochs=15)
    assert list(metrics) == [
        "total",
        "first",
        "second",
        "l1",
        "uncertainty(first, second)",
        "weight/first",
        "weight/second",
    ]
    assert metrics["first"] < 0.05 and metrics["weight/first"] > metrics["weight/second"]


def test_perceptrain_style_trainer_consumes_loss_fn() -> None:
    history = runpy.run_path(str(EXAMPLES / "perceptrain_style.py"))["main"](epochs=10)
    assert list(history[-1]) == ["total", "fit", "l1", "val/total", "val/fit", "val/l1"]
    assert history[-1]["val/fit"] < history[0]["val/fit"]


@pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated")  # Lightning vs torch 2.13
def test_lightning_loop_logs_every_term() -> None:
    pytest.importorskip("lightning")
    metrics = runpy.run_path(str(EXAMPLES / "lightning_loop.py"))["main"](epochs=3)
    terms = ["total", "first", "second", "l1", "uncertainty(first, second)", "weight/first", "weight/second"]
    assert set(metrics) == {f"{stage}/{name}" for stage in ("train", "val") for name in terms}
    assert metrics["val/first"] < metrics["val/second"]


class CustomLoss(nn.Module):
    """Codecademy's weighted MSE."""

    def __init__(self, weight: float) -> None:
        super().__init__()
        self.weight = weight

    def forward(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
        return self.weight * torch.mean((y_pred - y_true) ** 2)


def test_weighted_mse_config() -> None:
    y_pred = torch.tensor([3.0, 4.5, 2.1], requires_grad=True)
    y_true = torch.tensor([3.2, 4.0, 2.0])
    out = losslang.load(EXAMPLES / "weighted_mse.yaml")(y_pred=y_pred, y_true=y_true)
    assert out.total.item() == pytest.approx(0.05)
    expected = CustomLoss(0.5)(y_pred, y_true)
    torch.testing.assert_close(torch.autograd.grad(out.total, y_pred)[0], torch.autograd.grad(expected, y_pred)[0])


class MSALoss(nn.Module):
    """DeepMuon's MSE + angle loss, as published."""

    def __init__(self, angle_ratio: float = 1, len_ratio: float = 0) -> None:
        super().__init__()
        self.angle_ratio = angle_ratio
        self.len_ratio = len_ratio

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:  # noqa: A002
        mseloss = torch.mean((input - target) ** 2)
        cos = torch.sum(input * target, axis=1) / torch.sqrt(torch.sum(input**2, axis=1) * torch.sum(target**2, axis=1))
        angloss = torch.mean(torch.sin(torch.arccos(cos)))
        return self.len_ratio * mseloss + self.angle_ratio * angloss


def test_msa_config_matches_deepmuon() -> None:
    data = {
        "input": torch.randn(32, 3, dtype=torch.float64, requires_grad=True),
        "target": torch.randn(32, 3, dtype=torch.float64),
    }
    out = losslang.load(EXAMPLES / "msa.yaml")(data)
    expected = MSALoss(angle_ratio=1, len_ratio=1)(**data)
    torch.testing.assert_close(out.total, expected)
    got_grad = torch.autograd.grad(out.total, data["input"])[0]
    torch.testing.assert_close(got_grad, torch.autograd.grad(expected, data["input"])[0])
    assert list(out) == ["total", "length", "angle"]


def test_msa_config_is_finite_where_deepmuon_is_nan() -> None:
    pred = torch.randn(8, 3, requires_grad=True)
    out = losslang.load(EXAMPLES / "msa.yaml")(input=pred, target=2 * pred.detach())
    out.total.backward()
    assert pred.grad is not None and pred.grad.isfinite().all()


def test_mindspore_l1_reductions_config() -> None:
    x = torch.tensor([[1.0, 2.0, 3.0], [2.0, 3.0, 4.0]])
    y = torch.tensor([[0.0, 2.0, 5.0], [3.0, 1.0, 1.0]])
    out = losslang.load(EXAMPLES / "l1_reductions.yaml")(input=x, target=y)
    assert out.total.item() == 1.5
    assert out["l1_sum"].item() == 9.0
    assert out["l1_none"].tolist() == [[1.0, 0.0, 2.0], [1.0, 2.0, 3.0]]


def test_mindspore_multilabel_config() -> None:
    base, label1, label2 = torch.randn(16, 1), torch.randn(16, 1), torch.randn(16, 1)
    out = losslang.load(EXAMPLES / "multilabel.yaml")(output=base, label1=label1, label2=label2)
    expected = (F.l1_loss(base, label1) + F.l1_loss(base, label2)) / 2
    torch.testing.assert_close(out.total, expected)
