from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from types import ModuleType

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import losslang
from losslang.plot import read_run

EXAMPLES = Path(__file__).parent.parent / "examples"


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
    for name, reduction in [("total", "mean"), ("l1_sum", "sum"), ("l1_none", "none")]:
        torch.testing.assert_close(out[name], nn.L1Loss(reduction=reduction)(x, y))


def test_mindspore_multilabel_config() -> None:
    base, label1, label2 = torch.randn(16, 1), torch.randn(16, 1), torch.randn(16, 1)
    out = losslang.load(EXAMPLES / "multilabel.yaml")(output=base, label1=label1, label2=label2)
    expected = (F.l1_loss(base, label1) + F.l1_loss(base, label2)) / 2
    torch.testing.assert_close(out.total, expected)


def test_multihead_config_matches_hand_written() -> None:
    out = torch.randn(32, 4, dtype=torch.float64, requires_grad=True)
    label, radius = torch.randint(3, (32,)), torch.rand(32, dtype=torch.float64)
    got = losslang.load(EXAMPLES / "multihead.yaml")(output=out, label=label, radius=radius)
    expected = F.cross_entropy(out[:, 1:], label, label_smoothing=0.05) + 0.1 * F.mse_loss(out[:, 0], radius)
    torch.testing.assert_close(got.total, expected)
    torch.testing.assert_close(torch.autograd.grad(got.total, out)[0], torch.autograd.grad(expected, out)[0])
    assert list(got) == ["total", "classes", "regression", "radius_l1"]


def test_multihead_trains(tmp_path: Path) -> None:
    import io

    from losslang.train import train

    run = train(EXAMPLES / "multihead.yaml", run_dir=tmp_path, progress=False, stream=io.StringIO())
    assert run.history[-1]["classes"] < 0.5 * run.history[0]["classes"]


@pytest.mark.parametrize("batch", [64, 10, 1])
def test_vae_config_warms_up_the_kl_term_at_any_batch_size(batch: int) -> None:
    loss = losslang.load(EXAMPLES / "vae.yaml")
    x, x_hat = torch.rand(batch, 8), torch.rand(batch, 8)
    mu, logvar = torch.randn(batch, 2), torch.randn(batch, 2)
    recon = F.mse_loss(x_hat, x, reduction="sum") / batch  # each sample's squared error, averaged over the batch
    kl = -0.5 * torch.mean(torch.sum(1 + logvar - mu**2 - logvar.exp(), dim=1))
    for step, beta in [(0, 0.0), (250, 0.25), (1000, 1.0), (5000, 1.0)]:
        out = loss(x=x, x_hat=x_hat, mu=mu, logvar=logvar, step=step)
        torch.testing.assert_close(out.total, recon + beta * kl)
        assert out["beta"].item() == pytest.approx(beta)
    assert list(out) == ["total", "recon", "kl", "beta", 'mse(x_hat, x, reduction="sum")']
    twice = loss(x=x.repeat(2, 1), x_hat=x_hat.repeat(2, 1), mu=mu.repeat(2, 1), logvar=logvar.repeat(2, 1), step=500)
    once = loss(x=x, x_hat=x_hat, mu=mu, logvar=logvar, step=500)
    torch.testing.assert_close(twice["recon"], once["recon"])  # the same samples twice: the same per-sample loss
    torch.testing.assert_close(twice.total, once.total)


def example(name: str) -> ModuleType:
    """The script ``examples/<name>.py`` imported as a module, so a test can call its ``main``."""
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_plain_loop_example_learns_the_noise_levels(capsys: pytest.CaptureFixture[str]) -> None:
    metrics = example("plain_loop").main()
    names = ["total", "first", "second", "l1", "weight/first", "weight/second"]
    assert list(metrics) == [*names, *(f"val/{name}" for name in names)]
    assert metrics["val/first"] < 0.05  # held-out data, measured under no_grad
    assert metrics["first"] < 0.05 and metrics["second"] == pytest.approx(1.0, abs=0.2)  # the noise variances
    assert metrics["weight/first"] > 2 * metrics["weight/second"]  # the cleaner output weighs more
    assert capsys.readouterr().out.startswith("epoch   0  total=")


def test_perceptrain_style_example_trains_and_validates() -> None:
    history = example("perceptrain_style").main(epochs=10)
    assert len(history) == 10
    assert list(history[-1]) == ["total", "fit", "l1", "val/total", "val/fit", "val/l1"]
    assert history[-1]["val/fit"] < min(0.05, history[0]["val/fit"])  # sin(2x) itself has a variance of 0.6


@pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated")  # Lightning vs torch 2.13
def test_lightning_example_logs_every_term() -> None:
    pytest.importorskip("lightning")
    metrics = example("lightning_loop").main(epochs=2)
    terms = ["total", "first", "second", "l1", "weight/first", "weight/second"]
    assert set(metrics) == {f"{stage}/{name}" for stage in ("train", "val") for name in terms}


@pytest.mark.parametrize("weighting", ["sum", "lr_annealing"])
def test_helmholtz_example_runs_a_short_version(weighting: str) -> None:
    """CI's short version of docs/pinn.md's runs: the residual with laplacian, the authors' lr_annealing."""
    result = example("pinn_helmholtz").train(weighting, steps=30, seed=0, batch=32)
    assert math.isfinite(result["error"]) and result["steps"] == 30
    if weighting == "lr_annealing":
        assert result["bc_weight"] > 1.0  # the boundary term is weighted up, as in the paper (here from step 1)
    else:
        assert result["bc_weight"] == 1.0


@pytest.mark.parametrize("order", ["after-step", "before-step"])
def test_lr_annealing_is_the_authors_rule_written_by_hand(order: str) -> None:
    """losslang's lr_annealing and the authors' rule in plain PyTorch, updated in the same order: the same run.

    ``after-step`` calls ``loss.update_weights`` after each optimiser step (the authors' order).
    """
    helmholtz = example("pinn_helmholtz")
    by_hand = helmholtz.train(f"by-hand-{order}", steps=41, seed=0, batch=32)
    losslang_run = helmholtz.train(
        "lr_annealing" + "-before-step" * (order == "before-step"), steps=41, seed=0, batch=32
    )
    assert losslang_run["error"] == pytest.approx(by_hand["error"], rel=1e-5)
    assert losslang_run["bc_weight"] == pytest.approx(by_hand["bc_weight"], rel=1e-5)
    other = helmholtz.train("by-hand-before-step" if order == "after-step" else "by-hand-after-step", steps=41, seed=0)
    assert other["bc_weight"] != pytest.approx(by_hand["bc_weight"], rel=1e-3)  # the two orders are told apart


def test_conflicting_tasks_compares_the_five_methods_from_one_config_each(tmp_path: Path) -> None:
    """CI's short version of docs/weighting.md's comparison: every config trains, and the table has their rows."""
    compare = example("conflicting_tasks")
    configs = sorted(path.stem for path in (EXAMPLES / "conflicting_tasks").glob("*.yaml"))
    assert configs == sorted(compare.METHODS)
    rows = compare.compare(epochs=2, seeds=(0,), folder=tmp_path)
    assert [row["method"] for row in rows] == list(compare.METHODS)
    assert all(math.isfinite(row["y1"]) and math.isfinite(row["y2"]) for row in rows)
    table = compare.table(rows)
    assert table.count("\n") == len(rows) + 1 and "| `famo` | 0 |" in table
    famo = read_run(tmp_path / "famo-0" / "run.csv")
    assert famo["weight/y1_loss"][-1] != famo["weight/y1_loss"][0]  # the weights moved
