"""The 2D Helmholtz benchmark of Wang, Teng and Perdikaris (arXiv 2001.04536), with the loss written in losslang.

Set up as the authors' code sets it up (PredictiveIntelligenceLab/GradientPathologiesPINNs,
Helmholtz/Helmholtz2D.py and Helmholtz2D_model_tf.py): ``u_xx + u_yy + u = f`` on ``[-1, 1]^2``
with the exact solution ``u = sin(pi x) sin(4 pi y)``, zero Dirichlet data on the four edges, an
MLP [2, 50, 50, 50, 1] with tanh and Xavier-normal weights on inputs standardised by the
residual points' mean and deviation, Adam at 1e-3 decayed by 0.9 every 1,000 steps, 128 fresh
points per set per step, and the relative L2 error of ``u`` on a 100 x 100 grid.

    python examples/pinn_helmholtz.py --weighting lr_annealing --steps 40001 --seed 0
    python examples/pinn_helmholtz.py --weighting sum --steps 40001 --seed 0      # the baseline
    python examples/pinn_helmholtz.py --weighting by-hand-after-step --seed 0     # the authors' rule, by hand

``lr_annealing`` calls ``loss.update_weights`` after each optimiser step, so the weight is updated
from the batch just trained on, as the authors' code does; ``lr_annealing-before-step`` leaves it
out, and the scheme updates at the start of each due step from that step's batch. The two
``by-hand`` runs write the authors' rule out in plain PyTorch in either order: docs/pinn.md
compares all four.

The problem (its points, forcing, exact solution and error) is ``losslang.problems.Helmholtz2D``,
the one ``losslang train examples/pinn_helmholtz.yaml`` samples; the residual is written with
``laplacian`` in the formula; ``lr_annealing`` is the authors' variant
(``losslang.weighting.lr_annealing``). Prints one JSON line: the final error, the
boundary weight and the wall time.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import time

import torch

import losslang
from losslang.problems import Helmholtz2D

FORMULAS = {
    "sum": "res + bc",
    "lr_annealing": "lr_annealing(res, bc)",
}
TERMS = """
res = mse(laplacian(u, x)[:, 0] + u[:, 0] - f, 0)
bc = mse(u_b1, 0) + mse(u_b2, 0) + mse(u_b3, 0) + mse(u_b4, 0)
"""
EDGES = ("x_b1", "x_b2", "x_b3", "x_b4")


class Network(torch.nn.Module):
    """The authors' MLP: tanh layers, Xavier-normal weights, zero biases, on standardised inputs."""

    def __init__(self, layers: list[int], mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.linears = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in itertools.pairwise(layers))
        for linear in self.linears:
            torch.nn.init.normal_(linear.weight, std=1 / math.sqrt((linear.in_features + linear.out_features) / 2))
            torch.nn.init.zeros_(linear.bias)
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = (x - self.mean) / self.std
        for linear in self.linears[:-1]:
            h = torch.tanh(linear(h))
        return self.linears[-1](h)


def train(weighting: str, steps: int, seed: int, batch: int = 128) -> dict[str, float | str | int]:
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    standard = torch.rand(100_000, 2, generator=generator) * 2 - 1
    model = Network([2, 50, 50, 50, 1], standard.mean(0), standard.std(0))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.9 ** (step / 1000))
    problem = Helmholtz2D(points=batch)
    start = time.perf_counter()
    if weighting.startswith("by-hand"):
        after = weighting.endswith("after-step")
        weight = by_hand(model, optimizer, schedule, problem, generator, steps, after=after)
    else:
        loss = losslang.compile(TERMS + FORMULAS[weighting.removesuffix("-before-step")]).attach(model)
        for _ in range(steps):
            points = problem.sample(generator)

            def inputs(points: dict[str, torch.Tensor] = points) -> dict[str, torch.Tensor]:
                edges = {f"u_b{i + 1}": model(points[name]) for i, name in enumerate(EDGES)}
                return {"u": model(points["x"]), "x": points["x"], "f": points["f"], **edges}

            out = loss(inputs())
            optimizer.zero_grad()
            out.total.backward()
            optimizer.step()
            schedule.step()
            if not weighting.endswith("-before-step"):
                loss.update_weights(inputs)  # the authors' order: after the step, from the batch just trained on
        weight = float(out["weight/bc"]) if "weight/bc" in out else 1.0
    error = problem.error(model)
    seconds = time.perf_counter() - start
    return {"weighting": weighting, "seed": seed, "steps": steps, "error": error, "bc_weight": weight, "s": seconds}


def by_hand(
    model: Network,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    problem: Helmholtz2D,
    generator: torch.Generator,
    steps: int,
    *,
    after: bool,
) -> float:
    """The authors' rule in plain PyTorch (Helmholtz2D_model_tf.py, ll. 103-148 and 335-347); the final weight.

    Updated at the steps ``lr_annealing(every=10)`` updates at: before step 0, then either before
    steps 10, 20, ... or (``after``) after steps 9, 19, ... The authors' loop updates after steps
    0, 10, 20, ... and not before step 0: the same rule, one step apart.
    """
    matrices = [linear.weight for linear in model.linears]
    weight = 1.0
    for step in range(steps):
        points = problem.sample(generator)

        def losses(points: dict[str, torch.Tensor] = points) -> tuple[torch.Tensor, torch.Tensor]:
            x = points["x"]
            u = model(x)
            first = torch.autograd.grad(u.sum(), x, create_graph=True)[0]
            second = [torch.autograd.grad(first[:, i].sum(), x, create_graph=True)[0][:, i] for i in range(2)]
            residual = ((second[0] + second[1] + u[:, 0] - points["f"]) ** 2).mean()
            return residual, sum((model(points[name])[:, 0] ** 2).mean() for name in EDGES)

        def anneal(weight: float, residual: torch.Tensor, boundary: torch.Tensor) -> float:
            top = max(g.abs().max() for g in torch.autograd.grad(residual, matrices, retain_graph=True))
            grads = torch.autograd.grad(weight * boundary, matrices, retain_graph=True)
            mean = sum(g.abs().mean() for g in grads) / len(grads)
            return 0.9 * weight + 0.1 * float(top / mean)

        residual, boundary = losses()
        if step % 10 == 0 and not (after and step):  # before the due step, from the batch about to be stepped on
            weight = anneal(weight, residual, boundary)
        optimizer.zero_grad()
        (residual + weight * boundary).backward()
        optimizer.step()
        schedule.step()
        if (step + 1) % 10 == 0 and after:  # the authors' order: after the step, from the batch just trained on
            weight = anneal(weight, *losses())
    return weight


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    choices = [*sorted(FORMULAS), "lr_annealing-before-step", "by-hand-after-step", "by-hand-before-step"]
    parser.add_argument("--weighting", choices=choices, default="lr_annealing")
    parser.add_argument("--steps", type=int, default=40_001)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(json.dumps(train(args.weighting, args.steps, args.seed)))


if __name__ == "__main__":
    main()
