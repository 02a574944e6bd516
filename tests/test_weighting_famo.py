"""FAMO against its authors' code (Cranial-XIX/FAMO, famo.py), transcribed with torch.optim.Adam as they run it."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

import losslang


class AuthorsFAMO:
    """famo.py's FAMO: logits w with Adam(lr=w_lr, weight_decay=gamma); get_weighted_loss, then update."""

    def __init__(self, n_tasks: int, gamma: float = 0.01, w_lr: float = 0.025, dtype=torch.float32) -> None:
        self.min_losses = torch.zeros(n_tasks, dtype=dtype)
        self.w = torch.zeros(n_tasks, dtype=dtype, requires_grad=True)
        self.w_opt = torch.optim.Adam([self.w], lr=w_lr, weight_decay=gamma)

    def get_weighted_loss(self, losses: torch.Tensor) -> torch.Tensor:
        self.prev_loss = losses
        z = F.softmax(self.w, -1)
        d = losses - self.min_losses + 1e-8
        c = (z / d).sum().detach()
        return (d.log() * z / c).sum()

    def update(self, curr_loss: torch.Tensor) -> None:
        delta = (self.prev_loss - self.min_losses + 1e-8).log() - (curr_loss - self.min_losses + 1e-8).log()
        with torch.enable_grad():
            d = torch.autograd.grad(F.softmax(self.w, -1), self.w, grad_outputs=delta.detach())[0]
        self.w_opt.zero_grad()
        self.w.grad = d
        self.w_opt.step()


def task_data(tasks: int = 3, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(100, 5, generator=generator, dtype=dtype)
    return x, torch.randn(100, tasks, generator=generator, dtype=dtype) * torch.tensor([1.0, 10.0, 0.1], dtype=dtype)


def test_famo_follows_the_authors_code_step_by_step() -> None:
    """The authors' toy (famo.py's __main__, three tasks of different scales): the same logits, weights and model.

    In float64: the logits' update divides the losses' change over one step by its size, so float32
    rounding of the losses (a summation order) moves it by 1e-5 relative.
    """
    torch.manual_seed(0)
    x, y = task_data(dtype=torch.float64)
    model = torch.nn.Linear(5, 3).double()
    twin = copy.deepcopy(model)
    loss = losslang.compile("famo(mse(p[:, 0], y[:, 0]), mse(p[:, 1], y[:, 1]), mse(p[:, 2], y[:, 2]))")
    famo = next(module for module in loss.modules() if type(module).__name__ == "FAMO")
    optimizer, twin_optimizer = torch.optim.Adam(model.parameters()), torch.optim.Adam(twin.parameters())
    authors = AuthorsFAMO(3, dtype=torch.float64)
    for _ in range(30):
        out = loss(p=model(x), y=y)
        optimizer.zero_grad()
        out.total.backward()
        optimizer.step()
        assert loss.update_weights(lambda: {"p": model(x), "y": y})

        losses = (y - twin(x)).pow(2).mean(0)
        twin_optimizer.zero_grad()
        authors.get_weighted_loss(losses).backward()
        twin_optimizer.step()
        with torch.no_grad():
            authors.update((y - twin(x)).pow(2).mean(0))

        torch.testing.assert_close(famo.logits.double(), authors.w.detach(), rtol=1e-6, atol=1e-8)
        for p, q in zip(model.parameters(), twin.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-9)
    assert not torch.allclose(famo.logits, torch.zeros(3))  # the logits moved


def test_without_update_weights_the_next_steps_losses_stand_in() -> None:
    """No extra forward: each step first updates the logits from the previous step's losses and this step's."""
    torch.manual_seed(0)
    x, y = task_data(dtype=torch.float64)
    model = torch.nn.Linear(5, 3).double()
    loss = losslang.compile("famo(mse(p[:, 0], y[:, 0]), mse(p[:, 1], y[:, 1]), mse(p[:, 2], y[:, 2]))")
    famo = next(module for module in loss.modules() if type(module).__name__ == "FAMO")
    optimizer = torch.optim.Adam(model.parameters())
    authors = AuthorsFAMO(3, dtype=torch.float64)
    for step in range(10):
        losses = (y - model(x)).pow(2).mean(0).detach()
        if step:
            authors.update(losses)
        authors.get_weighted_loss(losses)
        out = loss(p=model(x), y=y)
        torch.testing.assert_close(famo.logits.double(), authors.w.detach(), rtol=1e-6, atol=1e-8)
        optimizer.zero_grad()
        out.total.backward()
        optimizer.step()


def test_weights_give_the_gradient_of_the_authors_loss() -> None:
    logits = torch.tensor([0.3, -0.2, 0.1])
    losses = torch.tensor([0.5, 2.0, 1.5], requires_grad=True)
    famo = losslang.compile("famo(a, b, c)")
    next(m for m in famo.modules() if type(m).__name__ == "FAMO").logits.copy_(logits)
    famo.eval()
    out = famo(a=losses[0], b=losses[1], c=losses[2])
    (ours,) = torch.autograd.grad(out.total, losses)
    authors = AuthorsFAMO(3)
    authors.w.data.copy_(logits)
    (theirs,) = torch.autograd.grad(authors.get_weighted_loss(losses), losses)
    torch.testing.assert_close(ours, theirs)
    assert float(sum(out[f"weight/{name}"] for name in "abc")) == pytest.approx(1.0)


def test_a_term_at_or_below_min_loss_is_an_error_naming_it() -> None:
    loss = losslang.compile("famo(a, b, min_loss=0.5)")
    with pytest.raises(losslang.LossValueError, match=r"famo\(\) takes the logarithm .* min_loss=0.5: b is not above"):
        loss(a=torch.tensor(1.0), b=torch.tensor(0.5))
