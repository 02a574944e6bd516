"""grad, partial, laplacian and div: against closed forms and torch.func, in formulas, metrics and errors."""

from __future__ import annotations

import math

import pytest
import torch
from term_cases import DEVICES
from torch.autograd import gradcheck

import losslang
from losslang.terms.derivatives import div, grad, laplacian, partial

PI = math.pi


def points(n: int = 64, device: str = "cpu") -> torch.Tensor:
    return (torch.rand(n, 2, dtype=torch.float64, device=device) * 2 - 1).requires_grad_()


def helmholtz(x: torch.Tensor) -> torch.Tensor:
    """u = sin(pi x) sin(4 pi y), the exact solution of the Helmholtz benchmark."""
    return torch.sin(PI * x[:, 0]) * torch.sin(4 * PI * x[:, 1])


@pytest.mark.parametrize("device", DEVICES)
def test_closed_forms_of_the_helmholtz_solution(device: str) -> None:
    x = points(device=device)
    u = helmholtz(x)
    a, b = x[:, 0].detach(), x[:, 1].detach()
    u_x = PI * torch.cos(PI * a) * torch.sin(4 * PI * b)
    u_y = 4 * PI * torch.sin(PI * a) * torch.cos(4 * PI * b)
    torch.testing.assert_close(grad(u, x), torch.stack([u_x, u_y], dim=-1))
    torch.testing.assert_close(partial(u, x, 1), u_y)
    torch.testing.assert_close(laplacian(u, x), -17 * PI**2 * u.detach())
    torch.testing.assert_close(div(grad(u, x), x), laplacian(u, x))
    mixed = 4 * PI**2 * torch.cos(PI * a) * torch.cos(4 * PI * b)
    torch.testing.assert_close(partial(partial(u, x, 0), x, 1), mixed)
    torch.testing.assert_close(partial(partial(u, x, 1), x, 0), mixed)


@pytest.mark.parametrize("shape", [(64,), (64, 1)])
def test_laplacian_of_a_network_equals_the_trace_of_its_hessian(shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)).double()
    x = torch.randn(64, 3, dtype=torch.float64, requires_grad=True)
    u = model(x).reshape(shape)
    hessians = torch.func.vmap(torch.func.hessian(lambda point: model(point).squeeze()))(x.detach())
    value = laplacian(u, x)
    assert value.shape == u.shape
    torch.testing.assert_close(value.reshape(-1), hessians.diagonal(dim1=-2, dim2=-1).sum(-1))


def test_the_loss_trains_the_model_through_the_derivative() -> None:
    """Gradient check of mean(laplacian(u)^2) with respect to the weights: create_graph all the way."""
    x = torch.randn(8, 2, dtype=torch.float64, requires_grad=True)

    def residual(weight: torch.Tensor) -> torch.Tensor:
        u = torch.tanh(x @ weight).sum(-1)
        return (laplacian(u, x) ** 2).mean()

    assert gradcheck(residual, (torch.randn(2, 4, dtype=torch.float64, requires_grad=True),))


def test_a_formula_writes_the_pde_and_trains() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    loss = losslang.compile("res = laplacian(u, x)[:, 0] + u[:, 0] - f; bc = mse(u_b, 0); mse(res, 0) + bc")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, x_b = torch.rand(64, 2, requires_grad=True), torch.rand(16, 2)
    f = torch.sin(x[:, 0]).detach()
    first = None
    for _ in range(100):
        optimizer.zero_grad()
        out = loss(u=model(x), x=x, f=f, u_b=model(x_b))
        out.total.backward()
        optimizer.step()
        first = first if first is not None else out.total.item()
    assert out.total.item() < 0.2 * first


def test_derivatives_work_in_metrics_and_carry_no_graph_out() -> None:
    x = points()
    loss = losslang.compile("lap = laplacian(u, x); mixed = partial(partial(u, x, 0), x, 1); mse(u, 0)")
    out = loss(u=helmholtz(x), x=x)
    assert loss.metric_names == ("lap", "mixed")
    torch.testing.assert_close(out["lap"], -17 * PI**2 * helmholtz(x).detach())
    assert not out["lap"].requires_grad and not out["mixed"].requires_grad


@pytest.mark.slow
def test_derivatives_under_compile_true() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    source = "mse(laplacian(u, x) + partial(u, x, 0), 0)"
    eager, compiled = losslang.compile(source), losslang.compile(source, compile=True)
    x = torch.rand(16, 2, requires_grad=True)
    expected, value = eager(u=model(x), x=x).total, compiled(u=model(x), x=x).total
    torch.testing.assert_close(value, expected)
    weights = [model[0].weight, model[2].weight]  # the derivatives do not depend on the last bias
    torch.testing.assert_close(torch.autograd.grad(value, weights), torch.autograd.grad(expected, weights))


@pytest.mark.parametrize(
    ("source", "batch", "message"),
    [
        pytest.param(
            "mse(laplacian(u, x), 0)",
            lambda x: {"u": helmholtz(x), "x": x.detach()},
            "laplacian(): the coordinates x do not require grad; call x.requires_grad_()",
            id="x-without-grad",
        ),
        pytest.param(
            "mse(grad(u, x), 0)",
            lambda x: {"u": helmholtz(x.detach().clone().requires_grad_()), "x": x},
            "grad(): the field was not computed from x; pass the same tensor x that the model was called on",
            id="not-from-x",
        ),
        pytest.param(
            "mse(partial(u, x, 0), 0)",
            lambda x: {"u": torch.stack([helmholtz(x)] * 2, dim=-1), "x": x},
            "partial(): the field has shape (64, 2), 128 values for 64 points of x (64, 2); it must have one value "
            "per point",
            id="two-values-per-point",
        ),
        pytest.param(
            "mse(partial(u, x, 2), 0)",
            lambda x: {"u": helmholtz(x), "x": x},
            "partial(): coordinate 2 is out of range for x with 2 coordinates",
            id="coordinate-out-of-range",
        ),
        pytest.param(
            "mse(div(u, x), 0)",
            lambda x: {"u": helmholtz(x), "x": x},
            "div(): the field of shape (64,) must have the coordinates' shape (64, 2)",
            id="div-of-a-scalar-field",
        ),
    ],
)
def test_errors_name_the_term_and_what_to_do(source: str, batch, message: str) -> None:
    with pytest.raises(losslang.LossLangError, match=r"term '.*': " + message.replace("(", r"\(").replace(")", r"\)")):
        losslang.compile(source)(batch(points()))


@pytest.mark.parametrize(
    ("field", "laplace", "second"),
    [
        pytest.param(lambda x: 3 * x[:, 0] - 2 * x[:, 1] + 1, 0.0, 0.0, id="linear"),
        pytest.param(lambda x: x[:, 0] * x[:, 1], 0.0, 1.0, id="bilinear"),
        pytest.param(lambda x: x[:, 0] ** 2 + x[:, 1], 2.0, 0.0, id="quadratic-in-one"),
    ],
)
def test_derivatives_of_fields_whose_derivative_is_constant_are_their_value(field, laplace, second) -> None:
    x = points(8)
    loss = losslang.compile(
        "lap = laplacian(u, x); xy = partial(partial(u, x, 0), x, 1); third = laplacian(lap, x); mse(u, 0)"
    )
    out = loss(u=field(x), x=x)
    torch.testing.assert_close(out["lap"], torch.full((8,), laplace, dtype=torch.float64))
    torch.testing.assert_close(out["xy"], torch.full((8,), second, dtype=torch.float64))
    torch.testing.assert_close(out["third"], torch.zeros(8, dtype=torch.float64))
    nan_x = x.detach().clone()
    nan_x[0, 0] = float("nan")  # the link that keeps a constant derivative connected adds no NaN elsewhere
    nan_x.requires_grad_()
    assert laplacian(3 * nan_x[:, 1], nan_x)[1:].eq(0).all()


@pytest.mark.slow
def test_a_nested_derivative_metric_works_under_compile_true() -> None:
    # docs/pinn.md's own example: u_xy, a metric of nested derivatives, failed with a raw torch error
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    source = "residual = laplacian(u, x)[:, 0] - f; pde = mse(residual, 0); u_xy = partial(partial(u, x, 0), x, 1); pde"
    x = torch.rand(16, 2, requires_grad=True)
    eager = losslang.compile(source)(u=model(x), x=x, f=torch.ones(16))
    compiled = losslang.compile(source, compile=True)(u=model(x), x=x, f=torch.ones(16))
    for name in ("total", "u_xy", "residual"):
        torch.testing.assert_close(compiled[name], eager[name])
    assert not compiled["u_xy"].requires_grad


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_a_field_the_formula_builds_is_differentiated_under_no_grad(mode: str) -> None:
    loss = losslang.compile("fit = mse(grad(sum(x ** 2, dim=1), x), 2 * x); fit + mse(u, 0)")
    x = points(8)
    loss.train(mode == "train")
    with torch.no_grad():
        out = loss(x=x, u=torch.zeros(8, dtype=torch.float64))
    assert out["fit"].item() == 0.0 and not out.total.requires_grad and int(loss.step) == 0


def test_a_field_computed_under_no_grad_says_what_to_do() -> None:
    model = torch.nn.Linear(2, 1).double()
    x = points(8)
    with torch.no_grad():
        u = model(x)[:, 0]
    with pytest.raises(
        losslang.LossValueError,
        match=r"laplacian\(\): the field has no autograd graph: it was computed "
        r"with gradients off .*with torch.enable_grad\(\): u = model\(x\)",
    ):
        losslang.compile("mse(laplacian(u, x), 0)")(u=u, x=x)
