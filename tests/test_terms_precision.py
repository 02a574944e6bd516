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
from torch.utils._python_dispatch import TorchDispatchMode

import losslang
from losslang.errors import LossShapeError
from losslang.registry import REGISTRY
from losslang.terms.precision import float32_term

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


class CountingCasts(TorchDispatchMode):
    """Counts the copies to float32 that torch makes while it is active."""

    def __init__(self) -> None:
        super().__init__()
        self.casts = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func is torch.ops.aten._to_copy.default and kwargs.get("dtype") == torch.float32:
            self.casts += 1
        return func(*args, **kwargs)


SHARED = "0.5*mse(pred, y1) + sin_angle(pred, y) + mean(mae(pred, y1), mae(pred, y2)) + smooth_l1(pred, y)"


@pytest.mark.parametrize("dtype", HALVES)
@pytest.mark.parametrize("size", [64, 30_000], ids=["small", "fused"])
def test_under_autocast_each_input_is_cast_once_whichever_terms_take_it(dtype: torch.dtype, size: int) -> None:
    loss = losslang.compile(SHARED)
    batch = {name: torch.randn(size, 3, dtype=dtype, requires_grad=True) for name in ("pred", "y", "y1", "y2")}
    with CountingCasts() as counting, torch.autocast("cpu", dtype=dtype):
        out = loss(batch)
    assert counting.casts == 4  # pred, y, y1, y2: the five terms share the copies
    grads = torch.autograd.grad(out.total, list(batch.values()))
    wide = {name: tensor.detach().float().requires_grad_() for name, tensor in batch.items()}
    reference = loss(wide)  # the same float32 arithmetic on copies made by hand
    torch.testing.assert_close(out.total, reference.total)
    for grad, expected in zip(grads, torch.autograd.grad(reference.total, list(wide.values())), strict=True):
        assert grad.dtype == dtype
        torch.testing.assert_close(grad, expected.to(dtype))


def test_a_metric_that_takes_the_same_input_leaves_the_gradient_of_the_total_whole() -> None:
    # The metric runs after the total without gradient: the shared copy is made before the first
    # term that takes it, with gradient, or pred's gradient would silently be missing.
    loss = losslang.compile("l1 = mae(pred, y)\nmse(pred, y) + smooth_l1(pred, y)")
    pred = torch.tensor([1.0, 2.0, 3.0], dtype=torch.bfloat16, requires_grad=True)
    y = torch.zeros(3, dtype=torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = loss(pred=pred, y=y)
    assert "float32_copy" in loss.code
    assert not out["l1"].requires_grad
    (grad,) = torch.autograd.grad(out.total, pred)
    expected = (2 * pred.detach().float() + pred.detach().float().clamp(max=1)) / 3
    torch.testing.assert_close(grad, expected.to(torch.bfloat16))


def test_only_built_in_terms_share_a_copy_and_only_when_two_take_it() -> None:
    # Your own terms follow torch's per-op autocast rules: they get the tensor as it is.
    seen: list[torch.dtype] = []

    def own(pred: Tensor, y: Tensor) -> Tensor:
        seen.append(pred.dtype)
        return (pred - y).abs().mean()

    loss = losslang.compile("mse(p, y) + mae(p, y) + own(p, y) + abs(mean(q)) + mse(q, y)", terms={"own": own})
    assert loss.code.count("float32_copy(") == 2  # p and y: q has one built-in term
    batch = {name: torch.randn(4, dtype=torch.bfloat16) for name in ("p", "q", "y")}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = loss(batch)
    assert seen == [torch.bfloat16]
    assert out.total.dtype == torch.float32


def test_outside_autocast_shared_copies_change_nothing() -> None:
    loss = losslang.compile("mse(p, y) + mae(p, y)")
    p, y = torch.randn(6, dtype=torch.float16), torch.randn(6, dtype=torch.float16)
    out = loss(p=p, y=y)
    assert out.total.dtype == torch.float16
    assert out["mse(p, y)"].dtype == out["mae(p, y)"].dtype == torch.float16
    expected = torch.nn.functional.mse_loss(p.float(), y.float()) + torch.nn.functional.l1_loss(p.float(), y.float())
    torch.testing.assert_close(out.total, expected.half(), rtol=1e-3, atol=1e-3)


@pytest.mark.slow
def test_shared_copies_compile_without_graph_breaks_under_autocast() -> None:
    loss = losslang.compile(SHARED)
    batch = {name: torch.randn(64, 3, dtype=torch.bfloat16) for name in ("pred", "y", "y1", "y2")}
    compiled = torch.compile(loss.body, fullgraph=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected, actual = loss.body(*batch.values()), compiled(*batch.values())
    for value, reference in zip(actual, expected, strict=True):
        assert value.dtype == torch.float32
        torch.testing.assert_close(value, reference)


def test_under_autocast_a_term_computes_with_autocast_off_and_switches_it_back_on() -> None:
    # A matrix product would run in bfloat16 under autocast: inside a term it runs in float32.
    gram = float32_term(lambda a: (a @ a.T).sum())
    a = torch.randn(3, 3, dtype=torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert (a.float() @ a.float().T).dtype == torch.bfloat16  # what the term is kept from
        assert gram(a).dtype == torch.float32
        torch.testing.assert_close(gram(a), (a.double() @ a.double().T).sum().float())
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
        with pytest.raises(LossShapeError):  # a term that raises leaves autocast as it was too
            REGISTRY.lookup("mse").fn(torch.ones(2, dtype=torch.bfloat16), torch.ones(3))  # type: ignore[union-attr]
        assert torch.is_autocast_enabled("cpu")
    assert not torch.is_autocast_enabled("cpu")


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
