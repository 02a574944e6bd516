"""A minimal trainer in the style of perceptrain's ``Trainer``, driven by ``losslang.as_loss_fn``.

Such trainers take ``loss_fn(batch, model) -> (loss, metrics)``; ``as_loss_fn`` turns a compiled
loss into exactly that, naming a ``(x, y)`` batch and calling the model on ``x``.

Run: python examples/perceptrain_style.py
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import losslang

LossFn = Callable[[Any, nn.Module], tuple[torch.Tensor, dict[str, float]]]


class Trainer:
    """The loop a trainer runs: it knows the model, the optimizer and ``loss_fn``, nothing else."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: LossFn, print_every: int) -> None:
        self.model, self.optimizer, self.loss_fn, self.print_every = model, optimizer, loss_fn, print_every
        self.history: list[dict[str, float]] = []

    def fit(self, train: Iterable[Any], val: Iterable[Any], epochs: int) -> list[dict[str, float]]:
        for epoch in range(epochs):
            self.model.train()
            for batch in train:
                loss, metrics = self.loss_fn(batch, self.model)
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
            self.history.append({**metrics, **self.validate(val)})
            if epoch % self.print_every == 0 or epoch == epochs - 1:
                print(f"epoch {epoch:3d}  " + "  ".join(f"{k}={v:.4f}" for k, v in self.history[-1].items()))
        return self.history

    @torch.no_grad()
    def validate(self, val: Iterable[Any]) -> dict[str, float]:
        self.model.eval()  # the loss follows: no step or weighting update during validation
        results = [self.loss_fn(batch, self.model)[1] for batch in val]
        return {f"val/{name}": sum(r[name] for r in results) / len(results) for name in results[0]}


def main(epochs: int = 20, seed: int = 0) -> list[dict[str, float]]:
    torch.manual_seed(seed)
    x = torch.linspace(-1, 1, 128).unsqueeze(1)
    y = torch.sin(2 * x) + 0.05 * torch.randn_like(x)
    model = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 1))
    loss = losslang.compile("fit = mse(output, y); l1 = mae(output, y); fit")
    loss_fn = losslang.as_loss_fn(loss, inputs=("x", "y"), model_input="x", output="output")
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    train = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    val = DataLoader(TensorDataset(x, y), batch_size=128)
    return Trainer(model, optimizer, loss_fn, print_every=5).fit(train, val, epochs)


if __name__ == "__main__":
    main()
