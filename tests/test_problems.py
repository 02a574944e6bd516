from __future__ import annotations

import math

import pytest
import torch

from losslang.problems import Helmholtz2D


def test_the_forcing_is_the_exact_solutions_helmholtz_operator() -> None:
    """f = u_xx + u_yy + u of the exact solution, by autograd, at the sampled points."""
    problem = Helmholtz2D(points=64)
    batch = problem.sample(torch.Generator().manual_seed(0))
    x = batch["x"].double().detach().requires_grad_()
    u = problem.exact(x)
    (first,) = torch.autograd.grad(u.sum(), x, create_graph=True)
    second = sum(torch.autograd.grad(first[:, i].sum(), x, retain_graph=True)[0][:, i] for i in range(2))
    torch.testing.assert_close(second + u, problem.forcing(x).detach(), rtol=1e-9, atol=1e-9)
    assert not batch["f"].requires_grad and batch["x"].requires_grad


def test_edges_lie_on_the_boundary_where_the_exact_solution_vanishes() -> None:
    batch = Helmholtz2D(points=50).sample(torch.Generator().manual_seed(1))
    for name, (axis, value) in {"x_b1": (1, -1), "x_b2": (0, 1), "x_b3": (1, 1), "x_b4": (0, -1)}.items():
        edge = batch[name]
        assert edge.shape == (50, 2) and bool((edge[:, axis] == value).all())
        assert bool((edge[:, 1 - axis].abs() <= 1).all())
        assert float(Helmholtz2D.exact(edge).abs().max()) < 1e-5


def test_sampling_is_fresh_each_step_and_repeats_from_the_seed() -> None:
    problem = Helmholtz2D(points=8)
    generator = torch.Generator().manual_seed(3)
    first, second = problem.sample(generator), problem.sample(generator)
    again = problem.sample(torch.Generator().manual_seed(3))
    assert not torch.equal(first["x"], second["x"]) and torch.equal(first["x"], again["x"])


@pytest.mark.parametrize(("scale", "expected"), [(1.0, 0.0), (0.0, 1.0), (2.0, 1.0)])
def test_error_is_the_relative_l2_error_on_the_grid(scale: float, expected: float) -> None:
    problem = Helmholtz2D()
    assert problem.error(lambda x: scale * Helmholtz2D.exact(x)[:, None]) == pytest.approx(expected, abs=1e-6)
    assert math.isfinite(problem.error(torch.nn.Linear(2, 1)))
