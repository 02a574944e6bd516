"""Physics-informed problems for the training job: fresh collocation points every step, and the exact solution.

A problem replaces a dataset in a training config's ``data`` section (``problem: helmholtz2d``).
Each step it samples new points, the interior ones requiring grad so that the loss can
differentiate the model's output with ``laplacian``, ``grad``, ...; its validation is the relative
L2 error of the model against the exact solution on a grid, logged as ``val/rel_l2_error``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from losslang.bounds import Range


class Helmholtz2D:
    """``u_xx + u_yy + u = f`` on ``[-1, 1]^2`` with ``u = sin(pi x) sin(4 pi y)`` and zero Dirichlet edges.

    The benchmark of Wang, Teng and Perdikaris (arXiv 2001.04536, section 2.3), as the authors'
    code sets it up (PredictiveIntelligenceLab/GradientPathologiesPINNs,
    ``Helmholtz/Helmholtz2D.py``): the forcing ``f = (1 - pi^2 - 16 pi^2) u``, ``points`` uniform
    points inside and on each of the four edges every step, and the error on a 100 x 100 grid.

    A step's batch holds ``x`` (the interior points, requiring grad), ``f`` (the forcing there)
    and ``x_b1`` ... ``x_b4`` (the edges ``y = -1``, ``x = 1``, ``y = 1``, ``x = -1``).

    Example:
        >>> import torch
        >>> problem = Helmholtz2D(points=4)
        >>> batch = problem.sample(torch.Generator().manual_seed(0))
        >>> sorted(batch), tuple(batch["x"].shape), batch["x"].requires_grad
        (['f', 'x', 'x_b1', 'x_b2', 'x_b3', 'x_b4'], (4, 2), True)
        >>> round(problem.error(lambda x: problem.exact(x)[:, None]), 6)
        0.0
    """

    dimensions = 2

    def __init__(self, points: int = 128) -> None:
        self.points = points

    @staticmethod
    def exact(x: Tensor) -> Tensor:
        """The exact solution at the points ``x``, shape ``(N, 2)`` -> ``(N,)``."""
        return torch.sin(math.pi * x[:, 0]) * torch.sin(4 * math.pi * x[:, 1])

    def forcing(self, x: Tensor) -> Tensor:
        """The right-hand side ``f`` at the points ``x``: ``(1 - pi^2 - 16 pi^2) u``."""
        return (1 - math.pi**2 - (4 * math.pi) ** 2) * self.exact(x)

    def sample(self, generator: torch.Generator) -> dict[str, Tensor]:
        """One step's points: the interior ``x`` (requiring grad), ``f`` there, and ``x_b1`` ... ``x_b4``."""
        n = self.points
        x = torch.rand(n, 2, generator=generator) * 2 - 1
        t = torch.rand(4, n, generator=generator) * 2 - 1
        ones = torch.ones(n)
        edges = [
            torch.stack([t[0], -ones], 1),
            torch.stack([ones, t[1]], 1),
            torch.stack([t[2], ones], 1),
            torch.stack([-ones, t[3]], 1),
        ]
        f = self.forcing(x)  # before x requires grad: f is data, not a function of the points
        return {"x": x.requires_grad_(), "f": f, **{f"x_b{i + 1}": edge for i, edge in enumerate(edges)}}

    def moments(self) -> tuple[Tensor, Tensor]:
        """The mean and standard deviation of the interior points, uniform on the square: 0 and ``1/sqrt(3)``.

        The authors standardise the network's inputs by them (from 100,000 samples).
        """
        return torch.zeros(2), torch.full((2,), 1 / math.sqrt(3))

    def error(self, model: nn.Module | Callable[[Tensor], Tensor]) -> float:
        """The relative L2 error ``|u - u_exact| / |u_exact|`` of ``model``'s first output on the 100 x 100 grid."""
        axis = torch.linspace(-1, 1, 100)
        grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
        with torch.no_grad():
            predicted, truth = model(grid)[:, 0], self.exact(grid)
        return float(torch.linalg.vector_norm(predicted - truth) / torch.linalg.vector_norm(truth))


# The options each problem takes in a config's data section (besides problem and steps), and their ranges.
PROBLEM_OPTIONS: dict[str, dict[str, Range]] = {"helmholtz2d": {"points": Range(ge=1, le=10_000_000)}}
PROBLEMS: dict[str, type[Helmholtz2D]] = {"helmholtz2d": Helmholtz2D}
