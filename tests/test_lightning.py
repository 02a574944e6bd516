from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import losslang
from losslang.integrations.lightning import LossLangMixin

ROOT = Path(__file__).parent.parent
FORMULA = "recon = mse(pred, y); l1 = mae(pred, y); uncertainty(recon, mse(pred[:, 0], y[:, 0]))"
TERMS = ["total", "recon", "l1", "mse(pred[:, 0], y[:, 0])"]
WEIGHTS = ["weight/recon", "weight/mse(pred[:, 0], y[:, 0])"]


def test_importing_losslang_does_not_import_lightning() -> None:
    code = (
        "import sys, losslang, losslang.integrations.lightning; "
        "assert not [m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning')]"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_log_loss_returns_the_total_and_passes_log_options() -> None:
    logged = []

    class Recorder(LossLangMixin):
        def log_dict(self, metrics: dict, **kwargs: object) -> None:
            logged.append((metrics, kwargs))

    out = losslang.compile(FORMULA)(pred=torch.ones(2, 2), y=torch.zeros(2, 2))
    assert Recorder().log_loss(out, "test", sync=True, batch_size=2) is out.total
    assert logged == [({f"test/{name}": value for name, value in out.metrics().items()}, {"batch_size": 2})]


@pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated")  # Lightning vs torch 2.13
def test_lightning_fit_logs_every_term() -> None:
    lightning = pytest.importorskip("lightning")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)

    class Module(LossLangMixin, lightning.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = nn.Linear(3, 2)
            self.loss = losslang.compile(FORMULA)

        def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
            return self.log_loss(self.loss(pred=self.model(batch[0]), y=batch[1]), "train")

        def validation_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
            self.log_loss(self.loss(pred=self.model(batch[0]), y=batch[1]), "val")

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    data = DataLoader(TensorDataset(torch.randn(12, 3), torch.randn(12, 2)), batch_size=4)
    trainer = lightning.Trainer(
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        devices=1,
    )
    module = Module()
    trainer.fit(module, data, data)
    expected = {f"{stage}/{name}" for stage in ("train", "val") for name in TERMS + WEIGHTS}
    assert set(trainer.callback_metrics) == expected
    assert {f"train/{name}" for name in TERMS + WEIGHTS} <= set(trainer.logged_metrics)
    assert module.loss.step.item() == 3  # three training batches; validation left the step alone
    assert module.loss.body.uncertainty_0.log_variance.abs().min() > 0  # trained with the model
