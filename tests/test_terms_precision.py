"""Half precision and autocast: every built-in loss term against float64, and under autocast as torch's losses.

Outside autocast a term given float16 or bfloat16 inputs must return, in that dtype, the float64
value of the same (rounded) inputs to within the dtype's rounding, wherever that value is finite
and representable; under autocast it computes in float32 and returns float32, and the gradient
reaches each input in the input's own dtype.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from term_cases import DEVICES, ROWS, Row, call
from torch import Tensor

import losslang
from losslang.registry import REGISTRY

HALVES = [pytest.param(torch.float16, id="float16"), pytest.param(torch.bfloat16, id="bfloat16")]
REDUCTIONS = ["mean", "sum", "none"]
# (id, scale of every floating-point input, samples): typical values, large and small magnitudes,
# and a large reduction of about 1e6 elements.
REGIMES = [("typical", 1.0, 16), ("large", 1e3, 16), ("small", 1e-4, 16), ("million", 1.0, None)]


def term_of(row: Row) -> Any:
    return REGISTRY.lookup(row.term).fn  # type: ignore[union-attr]


def samples_for_a_million(row: Row) -> int:
    args, _ = row.make(2)
    per_sample = max(arg.numel() for arg in args) // 2
    return max(10**6 // per_sample, 2)


def cast(value: Any, dtype: torch.dtype, device: str | None = None) -> Any:
    """A floating-point tensor in ``dtype`` (on ``device``); other values as they are."""
    if isinstance(value, Tensor):
        return value.to(device=device, dtype=dtype if value.is_floating_point() else value.dtype)
    return value


def inputs(row: Row, regime: str, dtype: torch.dtype, device: str) -> tuple[tuple[Tensor, ...], dict[str, Any]]:
    """The row's inputs in ``dtype`` on ``device``, floating-point ones scaled for the regime."""
    _, scale, samples = next(r for r in REGIMES if r[0] == regime)
    args, options = row.make(samples or samples_for_a_million(row))
    scaled = tuple(arg * scale if arg.is_floating_point() and i in row.grad else arg for i, arg in enumerate(args))
    return tuple(cast(arg, dtype, device) for arg in scaled), {k: cast(v, dtype, device) for k, v in options.items()}


def close_to_the_dtype(actual: Tensor, expected: Tensor, dtype: torch.dtype, single: Tensor | None = None) -> None:
    """Within twice the dtype's rounding of each value (and of the largest, for cancellations).

    ``single``, the same computation in float32, adds float32 arithmetic's own error: the half
    inputs must lose nothing beyond it and the final rounding.
    """
    info = torch.finfo(dtype)
    expected = expected.to(actual.device)
    largest = expected.abs().max() if expected.numel() else 0.0
    tolerance = info.eps * (expected.abs() + 0.01 * largest) + 2 * info.tiny * info.eps
    if single is not None:
        tolerance = tolerance + (single.double() - expected).abs()
    error = (actual.double() - expected).abs()
    assert (error <= tolerance).all(), f"worst error {float((error - tolerance).max()):.3g} over the tolerance"


def representable(value: Tensor, dtype: torch.dtype) -> bool:
    largest = float(value.detach().abs().max()) if value.numel() else 0.0
    return bool(value.isfinite().all()) and largest <= torch.finfo(dtype).max


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("regime", [r[0] for r in REGIMES])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", HALVES)
@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_half_precision_matches_float64(row: Row, dtype: torch.dtype, reduction: str, regime: str, device: str) -> None:
    args, options = inputs(row, regime, dtype, device)
    leaves = [arg.clone().requires_grad_(i in row.grad) for i, arg in enumerate(args)]
    wide = [arg.double().detach().requires_grad_(i in row.grad) for i, arg in enumerate(args)]
    wide_options = {k: cast(v, torch.float64) for k, v in options.items()}
    try:
        expected = call(row, term_of(row), tuple(wide), reduction=reduction, **wide_options)
    except (ValueError, RuntimeError):  # the scaled inputs left the term's domain (probabilities past 1)
        pytest.skip("outside the term's domain")
    if not representable(expected, dtype):
        pytest.skip(f"the float64 value is not representable in {dtype}")
    value = call(row, term_of(row), tuple(leaves), reduction=reduction, **options)
    assert value.dtype == dtype
    close_to_the_dtype(value.detach(), expected.detach(), dtype)
    if regime == "million":
        return  # the values are the point; the gradients of a mean of 1e6 are below float16's normal range
    cotangent = torch.ones_like(expected)
    grads = torch.autograd.grad(value, [leaves[i] for i in row.grad], cotangent.to(dtype))
    expected_grads = torch.autograd.grad(expected, [wide[i] for i in row.grad], cotangent)
    singles = float32_gradients(row, args, options, reduction, cotangent)
    for grad, expected_grad, single, i in zip(grads, expected_grads, singles, row.grad, strict=True):
        assert grad.dtype == dtype, f"the gradient of argument {i} is {grad.dtype}"
        if representable(expected_grad, dtype):
            close_to_the_dtype(grad, expected_grad, dtype, single)


def float32_gradients(
    row: Row, args: tuple[Tensor, ...], options: dict[str, Any], reduction: str, cotangent: Tensor
) -> tuple[Tensor, ...]:
    """The gradients the same inputs get in float32 arithmetic."""
    single = [
        arg.float().requires_grad_(i in row.grad) if arg.is_floating_point() else arg for i, arg in enumerate(args)
    ]
    single_options = {k: cast(v, torch.float32) for k, v in options.items()}
    value = call(row, term_of(row), tuple(single), reduction=reduction, **single_options)
    return torch.autograd.grad(value, [single[i] for i in row.grad], cotangent.float())


AUTOCAST = [
    pytest.param("cpu", torch.bfloat16, id="cpu-bfloat16"),
    *(
        pytest.param("cuda", dtype, id=f"cuda-{str(dtype).removeprefix('torch.')}", marks=DEVICES[1].marks)
        for dtype in (torch.float16, torch.bfloat16)
    ),
]


@pytest.mark.parametrize(("device", "dtype"), AUTOCAST)
@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_under_autocast_every_term_computes_and_returns_float32(row: Row, device: str, dtype: torch.dtype) -> None:
    """As torch's float32-list losses: float32 arithmetic from the half inputs, a float32 result."""
    args, options = inputs(row, "typical", dtype, device)
    if row.pre:  # outside autocast, whose CPU lists round log_softmax to bfloat16
        args = (row.pre(args[0].float()).to(dtype), *args[1:])
    leaves = [arg.clone().requires_grad_(i in row.grad) for i, arg in enumerate(args)]
    single = [cast(arg, torch.float32) for arg in args]
    single_options = {k: cast(v, torch.float32) for k, v in options.items()}
    expected = term_of(row)(*single, reduction="mean", **single_options)
    with torch.autocast(device, dtype=dtype):
        value = term_of(row)(*leaves, reduction="mean", **options)
    assert value.dtype == torch.float32
    torch.testing.assert_close(value, expected, rtol=1e-6, atol=1e-6)
    grads = torch.autograd.grad(value, [leaves[i] for i in row.grad])
    assert all(grad.dtype == dtype for grad in grads)


@pytest.mark.parametrize(("device", "dtype"), AUTOCAST)
def test_under_autocast_the_mission_total_is_float32_and_exact(device: str, dtype: torch.dtype) -> None:
    loss = losslang.compile("0.5*mse(pred, y1) + sin_angle(pred, y) + mean(mae(pred, y1), mae(pred, y2))")
    batch = {name: torch.randn(64, 3, device=device) for name in ("pred", "y", "y1", "y2")}
    expected = loss(batch)
    pred = batch["pred"].to(dtype)  # a model's output under autocast
    reference = loss({**batch, "pred": pred.float()})
    with torch.autocast(device, dtype=dtype):
        out = loss({**batch, "pred": pred})
    assert all(value.dtype == torch.float32 for value in out.values())
    torch.testing.assert_close(out.total, reference.total, rtol=1e-6, atol=1e-6)
    assert abs(float(out.total) - float(expected.total)) < 0.02 * float(expected.total)


def test_float32_and_float64_inputs_are_passed_through_untouched() -> None:
    mse = REGISTRY.lookup("mse").fn  # type: ignore[union-attr]
    for dtype in (torch.float32, torch.float64):
        pred = torch.randn(5, dtype=dtype, requires_grad=True)
        assert mse(pred, torch.zeros(5, dtype=dtype)).dtype == dtype
    with torch.autocast("cpu", dtype=torch.bfloat16):  # autocast leaves float64 alone, as torch does
        assert mse(torch.randn(5, dtype=torch.float64), torch.zeros(5, dtype=torch.float64)).dtype == torch.float64


def test_mixed_half_and_float32_inputs_promote_as_torch_does() -> None:
    mse = REGISTRY.lookup("mse").fn  # type: ignore[union-attr]
    pred, target = torch.randn(5, dtype=torch.float16), torch.randn(5)
    value = mse(pred, target)
    assert value.dtype == torch.float32
    torch.testing.assert_close(value, torch.nn.functional.mse_loss(pred, target))


# The faults the issue measured, each as its own regression test.
@pytest.mark.parametrize("dtype", HALVES)
def test_sin_angle_of_large_perpendicular_vectors_is_one_with_a_finite_gradient(dtype: torch.dtype) -> None:
    a = torch.tensor([[300.0, 0.0, 0.0]], dtype=dtype, requires_grad=True)
    b = torch.tensor([[0.0, 300.0, 0.0]], dtype=dtype)
    for term in ("sin_angle", "msa"):
        value = REGISTRY.lookup(term).fn(a, b)  # type: ignore[union-attr]
        (grad,) = torch.autograd.grad(value, a)
        assert float(value) == 1.0 and grad.isfinite().all(), term


@pytest.mark.parametrize("dtype", HALVES)
def test_sin_angle_of_tiny_vectors_at_45_degrees(dtype: torch.dtype) -> None:
    a = torch.tensor([[1e-4, 0.0, 0.0]], dtype=dtype)
    b = torch.tensor([[1e-4, 1e-4, 0.0]], dtype=dtype)
    value = REGISTRY.lookup("sin_angle").fn(a, b)  # type: ignore[union-attr]
    assert abs(float(value) - math.sqrt(0.5)) < 2 * torch.finfo(dtype).eps


@pytest.mark.parametrize("dtype", HALVES)
def test_masked_mean_of_many_elements_does_not_overflow(dtype: torch.dtype) -> None:
    pred, target = torch.zeros(200_000, dtype=dtype), torch.full((200_000,), 0.5, dtype=dtype)
    mask = torch.ones(200_000, dtype=torch.bool)
    mae = REGISTRY.lookup("mae").fn  # type: ignore[union-attr]
    assert float(mae(pred, target, mask=mask)) == 0.5
    assert float(mae(pred, target)) == 0.5


@pytest.mark.parametrize("term", ["dice", "jaccard", "tversky"])
@pytest.mark.parametrize("dtype", HALVES)
def test_overlap_losses_of_a_256x256_image(term: str, dtype: torch.dtype) -> None:
    generator = torch.Generator().manual_seed(0)
    probs = torch.rand(1, 256 * 256, generator=generator, dtype=torch.float64)
    target = (torch.rand(1, 256 * 256, generator=generator, dtype=torch.float64) > 0.5).double()
    fn = REGISTRY.lookup(term).fn  # type: ignore[union-attr]
    expected = fn(probs.to(dtype).double(), target)
    value = fn(probs.to(dtype), target.to(dtype))
    assert value.isfinite().all()
    close_to_the_dtype(value, expected, dtype)
