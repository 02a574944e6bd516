from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from term_cases import vectors
from torch.autograd import gradcheck

import losslang
from losslang.terms import functions, geometry, reduction, regression, sine
from losslang.terms.reduction import reduce

REDUCTIONS = ["mean", "sum", "none"]


def textbook_sin_angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The DeepMuon formula: sin(arccos(cos)), NaN gradients when parallel."""
    return torch.sin(torch.arccos(F.cosine_similarity(a, b, dim=-1)))


def reference_sin_angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """sqrt(1 - cos^2), clamped: the published value, defined at the edges too."""
    return (1 - F.cosine_similarity(a, b, dim=-1).clamp(-1, 1) ** 2).sqrt()


def pairs(kind: str, width: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = vectors(kind, width)
    return a.requires_grad_(), b.requires_grad_()


# 3-vectors take the cross product; other widths the part of the target perpendicular to pred.
WIDTHS = [1, 2, 3, 5]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind", ["parallel", "anti-parallel"])
def test_sin_angle_gradient_is_zero_at_exactly_parallel(kind: str, dtype: torch.dtype, width: int) -> None:
    a, b = (t.detach().to(dtype).requires_grad_() for t in pairs(kind, width))
    value = geometry.sin_angle(a, b)
    value.backward()
    assert value.item() == 0.0
    assert a.grad is not None and not a.grad.any()


def kahan_sin_angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Kahan's angle, 2 atan2(|u - v|, |u + v|) of the unit vectors, in float64: accurate at every angle."""
    u, v = F.normalize(a.double(), dim=-1), F.normalize(b.double(), dim=-1)
    return torch.sin(2 * torch.atan2((u - v).norm(dim=-1), (u + v).norm(dim=-1)))


@pytest.mark.parametrize("width", [2, 3, 5])
@pytest.mark.parametrize("angle", [1e-3, 0.5, math.pi - 1e-3])
def test_sin_angle_is_accurate_in_float32_near_parallel(angle: float, width: int) -> None:
    """Within rounding error of the float32 inputs' true angle, where sqrt(1 - cos**2) has no digit left."""
    a = torch.randn(1000, width, dtype=torch.float64)
    across = torch.randn(1000, width, dtype=torch.float64)
    across -= (across * a).sum(-1, keepdim=True) / (a * a).sum(-1, keepdim=True) * a
    b = 3.0 * (math.cos(angle) * F.normalize(a, dim=-1) + math.sin(angle) * F.normalize(across, dim=-1))
    a32, b32 = a.float(), b.float()
    truth = kahan_sin_angle(a32, b32)
    error = (geometry.sin_angle(a32, b32, reduction="none").double() - truth).abs().max().item()
    assert error < 4 * torch.finfo(torch.float32).eps
    if width in sine.WIDTHS:  # the components path of large batches, at the same accuracy
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(sine, "COMPONENTS_FROM", 0)
            fused = sine.fused_sine(a32, b32, 1, geometry._general_sine)
        assert (fused.double() - truth).abs().max().item() < 4 * torch.finfo(torch.float32).eps
    textbook_error = (reference_sin_angle(a32, b32).double() - truth).abs().max().item()
    assert angle == 0.5 or textbook_error > 100 * error


def test_sin_angle_masked_vectors_do_not_leak_nan() -> None:
    a, b = pairs("random")
    b = b.detach().clone()
    b[0] = float("nan")
    mask = torch.tensor([False, True, True, True, True])
    value = geometry.sin_angle(a, b, mask=mask)
    value.backward()
    torch.testing.assert_close(value, reference_sin_angle(a[1:].detach(), b[1:]).mean())
    assert a.grad is not None and a.grad.isfinite().all() and not a.grad[0].any()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("kind", ["random", "parallel", "anti-parallel", "zero-target", "zero-pred"])
def test_sin_angle_gradcheck(kind: str, width: int) -> None:
    a, b = pairs(kind, width)
    assert gradcheck(lambda x, y: geometry.sin_angle(x, y, reduction="none"), (a, b))


@pytest.mark.parametrize("kind", ["parallel", "anti-parallel", "zero-target", "zero-pred"])
def test_sin_angle_gradient_is_finite_where_textbook_is_not(kind: str) -> None:
    a, b = pairs(kind)
    geometry.sin_angle(a, b).backward()
    assert a.grad is not None and b.grad is not None
    assert a.grad.isfinite().all() and b.grad.isfinite().all()


def test_textbook_formula_really_is_nan_when_parallel() -> None:
    a, b = pairs("parallel")
    textbook_sin_angle(a, b).mean().backward()
    assert a.grad is not None and a.grad.isnan().any()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("kind", ["random", "parallel", "anti-parallel", "zero-target", "zero-pred"])
def test_sin_angle_value_matches_textbook(kind: str, width: int) -> None:
    a, b = pairs(kind, width)
    expected = reference_sin_angle(a.detach(), b.detach())
    torch.testing.assert_close(geometry.sin_angle(a, b, reduction="none"), expected, atol=1e-7, rtol=1e-7)


def test_sin_angle_gradient_matches_textbook_away_from_edges() -> None:
    a, b = pairs("random")
    a2, b2 = a.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()
    geometry.sin_angle(a, b).backward()
    textbook_sin_angle(a2, b2).mean().backward()
    torch.testing.assert_close(a.grad, a2.grad)
    torch.testing.assert_close(b.grad, b2.grad)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_sin_angle_reductions(reduction: str) -> None:
    a, b = pairs("random")
    per_vector = textbook_sin_angle(a.detach(), b.detach())
    expected = {"mean": per_vector.mean(), "sum": per_vector.sum(), "none": per_vector}[reduction]
    torch.testing.assert_close(geometry.sin_angle(a, b, reduction=reduction), expected)


def test_sin_angle_dim() -> None:
    a, b = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    expected = torch.sin(torch.arccos(F.cosine_similarity(a, b, dim=0)))
    torch.testing.assert_close(geometry.sin_angle(a, b, dim=0, reduction="none"), expected)


def test_reduce_weight_and_mask() -> None:
    loss = torch.tensor([1.0, 2.0, 3.0, 4.0])
    weight = torch.tensor([1.0, 0.5, 2.0, 1.0])
    mask = torch.tensor([True, True, False, True])
    assert reduce(loss, "mean", weight, mask).item() == pytest.approx((1 + 1 + 4) / 3)
    assert reduce(loss, "sum", weight, mask).item() == pytest.approx(6)
    assert reduce(loss, "none", weight, mask).tolist() == [1.0, 1.0, 0.0, 4.0]


@pytest.mark.parametrize("value", [2.5, float("nan"), float("inf"), -0.0])
@pytest.mark.parametrize("shape", [(1,), (1, 1), ()])
def test_the_mean_of_one_value_is_that_value_without_a_reduction(value: float, shape: tuple[int, ...]) -> None:
    # One sample's loss (a batch of one image for dice): a view, value and gradient as torch's mean.
    loss = torch.full(shape, value, dtype=torch.float64, requires_grad=True)
    mean = reduce(loss * 1, "mean")
    expected = (loss * 1).mean()
    assert mean.shape == () and mean._is_view()
    torch.testing.assert_close(mean, expected, equal_nan=True)
    (grad,) = torch.autograd.grad(mean, loss)
    torch.testing.assert_close(grad, torch.autograd.grad(expected, loss)[0])


def test_all_masked_is_zero_and_masked_nan_does_not_leak() -> None:
    pred = torch.tensor([float("nan"), 1.0], requires_grad=True)
    value = regression.mse(pred, torch.zeros(2), mask=torch.tensor([False, False]))
    value.backward()
    assert value.item() == 0.0 and pred.grad is not None and pred.grad.tolist() == [0.0, 0.0]


@pytest.mark.parametrize(
    ("fn", "reference"),
    [
        (functions.mean, lambda a, b, c: (a + b + c) / 3),
        (functions.sum, lambda a, b, c: a + b + c),
        (functions.max, lambda a, b, c: torch.maximum(torch.maximum(a, b), c)),
        (functions.min, lambda a, b, c: torch.minimum(torch.minimum(a, b), c)),
    ],
    ids=["mean", "sum", "max", "min"],
)
def test_aggregates_of_several_are_element_wise(fn, reference) -> None:
    a, b, c = (torch.randn(4, dtype=torch.float64, requires_grad=True) for _ in range(3))
    torch.testing.assert_close(fn(a, b, c), reference(a, b, c))
    assert gradcheck(fn, (a, b, c))


@pytest.mark.parametrize(
    ("fn", "reference"),
    [
        (functions.mean, torch.mean),
        (functions.sum, torch.sum),
        (functions.max, torch.amax),
        (functions.min, torch.amin),
    ],
    ids=["mean", "sum", "max", "min"],
)
def test_aggregates_of_one_reduce_to_values(fn, reference) -> None:
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(fn(x), reference(x))
    torch.testing.assert_close(fn(x, dim=1), reference(x, 1))
    assert fn(x, dim=0, keepdim=True).shape == (1, 4)
    assert isinstance(fn(x, dim=1), torch.Tensor)  # values, never (values, indices)
    assert gradcheck(lambda t: fn(t, dim=1), (x,))


def test_dim_with_several_arguments_is_an_error() -> None:
    from losslang.errors import LossArityError

    with pytest.raises(LossArityError, match="dim= reduces one argument"):
        functions.mean(torch.ones(2), torch.ones(2), dim=0)


@pytest.mark.parametrize("error", [1e-6, 1e-4, 1e-2, 0.5, 0.999, 1.0, 1.001, 3.0, 50.0])
def test_log_cosh_is_accurate_in_float32_for_small_and_large_errors(error: float) -> None:
    """|x| + softplus(-2|x|) - log(2) cancels to noise below 1e-3 in float32; log1p(2 sinh(x/2)^2) does not."""
    x = torch.tensor([error], dtype=torch.float32, requires_grad=True)
    value = regression.log_cosh(x, torch.zeros(1))
    (grad,) = torch.autograd.grad(value, x)
    error = float(
        x.detach()
    )  # the float32 input exactly; log1p(2 sinh(x/2)^2) is exact to float64 rounding at every size
    exact = math.log1p(2 * math.sinh(error / 2) ** 2) if error < 20 else error - math.log(2)
    assert abs(float(value) - exact) <= 4 * torch.finfo(torch.float32).eps * exact
    assert abs(float(grad) - math.tanh(error)) <= 4 * torch.finfo(torch.float32).eps * math.tanh(error)


# Where sine.py computes its products: one op each (small batches) or from the components (large).
PATHS = [pytest.param(10**12, id="ops"), pytest.param(0, id="components")]


@pytest.mark.parametrize("components_from", PATHS)
@pytest.mark.parametrize("width", [2, 3])
@pytest.mark.parametrize("kind", ["random", "parallel", "anti-parallel", "zero-target", "zero-pred"])
def test_fused_sine_equals_the_general_formula_in_value_and_gradient(
    kind: str, width: int, components_from: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """terms/sine.py's analytic backward against autograd through geometry's formula."""
    monkeypatch.setattr(sine, "COMPONENTS_FROM", components_from)
    a, b = pairs(kind, width)
    fused = sine.fused_sine(a, b, 1, geometry._general_sine)
    general = geometry._general_sine(a, b, 1)
    torch.testing.assert_close(fused, general, rtol=1e-12, atol=1e-14)
    cotangent = torch.randn_like(fused)
    expected = torch.autograd.grad(general, (a, b), cotangent)
    torch.testing.assert_close(torch.autograd.grad(fused, (a, b), cotangent), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("width", [2, 3])
def test_fused_sine_has_exact_second_derivatives(width: int) -> None:
    a, b = pairs("random", width)
    assert torch.autograd.gradgradcheck(lambda x, y: sine.fused_sine(x, y, 1, geometry._general_sine), (a, b))


@pytest.mark.parametrize("components_from", PATHS)
@pytest.mark.parametrize("width", [1, 2, 3, 5])
def test_a_nan_vector_gives_a_nan_sine_not_zero(
    width: int, components_from: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A NaN is not 'parallel up to rounding': it must reach check_finite and nan_policy, not read as 0."""
    monkeypatch.setattr(sine, "COMPONENTS_FROM", components_from)
    a, b = torch.randn(4, width), torch.randn(4, width)
    a[0, 0], b[1, -1], a[2, 0] = float("nan"), float("inf"), float("inf")
    for term in (geometry.sin_angle, geometry.msa):
        value = term(a, b, reduction="none")
        assert value[:3].isnan().all() and value[3].isfinite(), term.__name__
    assert losslang.compile("sin_angle(p, y)")(p=a, y=b).total.isnan()
    with pytest.raises(losslang.LossValueError, match="is NaN"):
        losslang.compile("sin_angle(p, y)", check_finite=True)(p=a, y=b)


@pytest.mark.slow
@pytest.mark.parametrize("vectors", [300, 2000])  # the ops path and the components path
def test_fused_sine_compiles_without_graph_breaks(vectors: int) -> None:
    a, b = torch.randn(vectors, 3, requires_grad=True), torch.randn(vectors, 3)
    compiled = torch.compile(lambda x, y: geometry.sin_angle(x, y), fullgraph=True)
    value = compiled(a, b)
    torch.testing.assert_close(value, geometry.sin_angle(a, b))
    torch.testing.assert_close(torch.autograd.grad(value, a), torch.autograd.grad(geometry.sin_angle(a, b), a))


def test_mae_takes_its_one_pass_function_from_fused_from_elements_on() -> None:
    """Large batches go through the Function, small ones through the ops: both give torch's values."""
    for size in (reduction.FUSED_FROM - 1, reduction.FUSED_FROM):
        x, y = torch.randn(size, requires_grad=True), torch.randn(size)
        value = regression.mae(x, y)
        fused = type(value.grad_fn).__name__ == "_MeanAbsoluteErrorBackward"
        assert fused == (size >= reduction.FUSED_FROM)
        torch.testing.assert_close(value, F.l1_loss(x, y), rtol=0, atol=0)
        torch.testing.assert_close(torch.autograd.grad(value, x)[0], torch.sign(x - y).detach() / size)


@pytest.mark.usefixtures("path")
def test_mae_backward_runs_twice_and_batched_and_has_exact_second_derivatives() -> None:
    """retain_graph, is_grads_batched (the gradient-conflict schemes' vmap) and create_graph all agree."""
    x, y = torch.randn(6, dtype=torch.float64, requires_grad=True), torch.randn(6, dtype=torch.float64)
    x.data[0] = y[0]  # a zero difference: a zero gradient, as sgn(0) gives
    value = regression.mae(x, y, reduction="sum")
    first = torch.autograd.grad(value, x, retain_graph=True)[0]
    assert torch.equal(first, torch.autograd.grad(value, x, retain_graph=True)[0])
    assert first[0] == 0 and torch.equal(first[1:], torch.sign(x - y)[1:].detach())
    (batched,) = torch.autograd.grad(torch.stack([value, 2 * value]), x, torch.eye(2), is_grads_batched=True)
    torch.testing.assert_close(batched, torch.stack([first, 2 * first]))
    smooth = (y + torch.rand(6, dtype=torch.float64) + 0.1).requires_grad_()  # no kink within gradcheck's step
    assert torch.autograd.gradgradcheck(lambda a: regression.mae(a, y), (smooth,))
    # Second derivatives of a loss with an L1 term, as a gradient penalty takes them: those of torch's losses.
    (grad,) = torch.autograd.grad(regression.mae(smooth, y) + regression.mse(smooth, y), smooth, create_graph=True)
    (expected,) = torch.autograd.grad(F.l1_loss(smooth, y) + F.mse_loss(smooth, y), smooth, create_graph=True)
    torch.testing.assert_close(grad, expected)
    torch.testing.assert_close(torch.autograd.grad(grad[0], smooth)[0], torch.autograd.grad(expected[0], smooth)[0])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_mae_of_a_large_half_precision_batch_computes_in_float32(dtype: torch.dtype) -> None:
    x, y = (
        torch.randn(reduction.FUSED_FROM, dtype=dtype, requires_grad=True),
        torch.randn(reduction.FUSED_FROM, dtype=dtype),
    )
    expected = F.l1_loss(x.float(), y.float())
    with torch.autocast("cpu", dtype=dtype):
        value = losslang.compile("mae(p, y)")(p=x, y=y).total
    assert value.dtype == torch.float32
    torch.testing.assert_close(value, expected, rtol=0, atol=0)
    # The backward keeps the signs alone, not the float32 copies of the inputs (twice the memory).
    assert [tuple(t.shape) for t in value.grad_fn.saved_tensors] == [(reduction.FUSED_FROM,)]
    assert torch.autograd.grad(value, x)[0].dtype == dtype


@pytest.mark.slow
def test_mae_one_pass_function_compiles_without_graph_breaks() -> None:
    x, y = torch.randn(reduction.FUSED_FROM, requires_grad=True), torch.randn(reduction.FUSED_FROM)
    compiled = torch.compile(lambda p, t: regression.mae(p, t), fullgraph=True)
    value = compiled(x, y)
    torch.testing.assert_close(value, F.l1_loss(x, y))
    torch.testing.assert_close(torch.autograd.grad(value, x), torch.autograd.grad(F.l1_loss(x, y), x))


def number_targets() -> list[str]:
    from losslang.registry import REGISTRY

    return sorted(
        name for name, spec in REGISTRY.specs.items() if spec.kind == "loss" and spec.params[1].accepts == "operand"
    )


def test_the_element_wise_losses_take_a_number_as_target() -> None:
    expected = {"bce", "bce_with_logits", "charbonnier", "focal", "gaussian_nll", "hinge_embedding", "huber"}
    expected |= {
        "log_cosh",
        "mae",
        "mape",
        "mse",
        "msle",
        "poisson_nll",
        "quantile",
        "rmse",
        "smooth_l1",
        "soft_margin",
    }
    assert set(number_targets()) == expected


@pytest.mark.parametrize("term", number_targets())
@pytest.mark.parametrize("number", [0, 0.25, 1])
def test_a_number_target_means_a_tensor_of_that_value(term: str, number: float) -> None:
    """``mse(res, 0)``, the PINN idiom: the same value and gradient as a full tensor, also in a formula."""
    import losslang

    extra = ", 1.0" if term == "gaussian_nll" else ""
    res = torch.rand(6, 2, dtype=torch.float64, requires_grad=True)
    full = torch.full_like(res, float(number))
    value = losslang.compile(f"{term}(res, {number}{extra})")(res=res).total
    expected = losslang.compile(f"{term}(res, full{extra})")(res=res, full=full).total
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(torch.autograd.grad(value, res), torch.autograd.grad(expected, res))
