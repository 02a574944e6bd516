"""Fit y = 2x + 3 to two noisy label sets (the MindSpore multi-label tutorial), with a loss written as text.

Run: python examples/quickstart.py
"""

from __future__ import annotations

import torch
from torch import nn

import losslang

LOSS = """
fit = mse(pred, y1)       # reported, but the total does not use it: computed without gradient
mean(mae(pred, y1), mae(pred, y2))
"""


def main(steps: int = 300, seed: int = 0) -> tuple[float, float, dict[str, float]]:
    torch.manual_seed(seed)
    x = torch.empty(160, 1).uniform_(-10, 10)
    y1 = 2 * x + 3 + torch.randn_like(x)
    y2 = 2 * x + 3 + torch.randn_like(x) - 1
    model = nn.Linear(1, 1)
    loss = losslang.compile(LOSS)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    print(loss, end="\n\n")
    for step in range(steps):
        out = loss(pred=model(x), y1=y1, y2=y2)
        optimizer.zero_grad()
        out.total.backward()
        optimizer.step()
        if step % 50 == 0 or step == steps - 1:
            print(f"step {step:4d}  " + "  ".join(f"{k}={v:.4f}" for k, v in out.metrics().items()))
    weight, bias = model.weight.item(), model.bias.item()
    print(f"\nfitted y = {weight:.3f}x + {bias:.3f}")
    return weight, bias, out.metrics()


if __name__ == "__main__":
    main()
