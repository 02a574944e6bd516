"""A plain PyTorch training loop with a loss written as text, logging every term per epoch.

Two outputs with different noise levels, balanced by learned uncertainty weights, and a metric
(``l1``) that is reported but never enters the gradient.

Run: python examples/plain_loop.py
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import losslang

LOSS = """
first  = mse(pred[:, 0], y[:, 0])
second = mse(pred[:, 1], y[:, 1])
l1     = mae(pred, y)                # a metric: reported, computed without gradient
uncertainty(first, second)
"""


def data(seed: int = 0, n: int = 256, held_out: int = 64) -> tuple[TensorDataset, TensorDataset]:
    """``n`` training samples of two outputs with different noise, and ``held_out`` more for validation."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=generator)
    weights = torch.randn(4, 2, generator=generator)
    scale = torch.tensor([0.1, 1.0])
    noise = torch.randn(n, 2, generator=generator) * scale
    val_x = torch.randn(held_out, 4, generator=generator)
    val_noise = torch.randn(held_out, 2, generator=generator) * scale
    return TensorDataset(x, x @ weights + noise), TensorDataset(val_x, val_x @ weights + val_noise)


def main(epochs: int = 20, seed: int = 0) -> dict[str, float]:
    torch.manual_seed(seed)
    model = nn.Linear(4, 2)
    loss = losslang.compile(LOSS)
    # uncertainty() learns a log-variance per term: its parameters train with the model's.
    optimizer = torch.optim.Adam([*model.parameters(), *loss.parameters()], lr=0.05)
    training, validation = data(seed)
    loader = DataLoader(training, batch_size=64, shuffle=True)
    val_x, val_y = validation.tensors
    for epoch in range(epochs):
        sums: dict[str, float] = {}
        for x, y in loader:
            out = loss(pred=model(x), y=y)
            optimizer.zero_grad()
            out.total.backward()
            optimizer.step()
            for name, value in out.metrics().items():  # one device sync per batch
                sums[name] = sums.get(name, 0.0) + value
        epoch_metrics = {name: total / len(loader) for name, total in sums.items()}
        with torch.no_grad():  # validation: moves neither the loss's step nor its weights
            epoch_metrics.update(loss(pred=model(val_x), y=val_y).metrics(prefix="val/"))
        if epoch % 5 == 0 or epoch == epochs - 1:
            print(f"epoch {epoch:3d}  " + "  ".join(f"{k}={v:.4f}" for k, v in epoch_metrics.items()))
    return epoch_metrics


if __name__ == "__main__":
    main()
