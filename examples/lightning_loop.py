"""PyTorch Lightning with a loss written as text: every term logged as ``train/<term>`` and ``val/<term>``.

Needs ``pip install "losslang[lightning]"``.

Run: python examples/lightning_loop.py
"""

from __future__ import annotations

import logging

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import losslang
from losslang.integrations.lightning import LossLangMixin

LOSS = """
first  = mse(pred[:, 0], y[:, 0])
second = mse(pred[:, 1], y[:, 1])
l1     = mae(pred, y)                # a metric: logged, never in the gradient
uncertainty(first, second)
"""


class Regressor(LossLangMixin, L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.model = nn.Linear(4, 2)
        self.loss = losslang.compile(LOSS)  # a submodule: moved, checkpointed and optimised with the model

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        return self.log_loss(self.loss(pred=self.model(x), y=y), "train", prog_bar=True)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self.log_loss(self.loss(pred=self.model(x), y=y), "val")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=0.05)  # includes uncertainty()'s log-variances


def loaders(seed: int = 0, n: int = 256) -> tuple[DataLoader, DataLoader]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=generator)
    y = x @ torch.randn(4, 2, generator=generator) + torch.randn(n, 2, generator=generator) * torch.tensor([0.1, 1.0])
    data = TensorDataset(x, y)
    return DataLoader(data, batch_size=64, shuffle=True), DataLoader(data, batch_size=256)


def main(epochs: int = 10, seed: int = 0) -> dict[str, float]:
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)  # keep the example's output short
    L.seed_everything(seed, verbose=False)
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(Regressor(), *loaders(seed))
    metrics = {name: float(value) for name, value in trainer.callback_metrics.items()}
    print("  ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
    return metrics


if __name__ == "__main__":
    main()
