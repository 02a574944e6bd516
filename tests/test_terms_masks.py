"""Sample handling on every term: weight=, mask=, empty batches and all-masked batches."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from term_cases import ROWS, N, Row, call, params, rand
from torch import Tensor
from torch.autograd import gradcheck

import losslang
from losslang.errors import LossShapeError
from losslang.registry import REGISTRY

KEEP = torch.tensor([True, False, True, True])
CLASS_WEIGHTED = {"cross_entropy", "nll", "multi_margin", "multilabel_soft_margin"}  # torch's per-class weight


def spec(row: Row) -> Any:
    return REGISTRY.lookup(row.term)


def takes(row: Row, name: str) -> bool:
    return any(param.name == name for param in spec(row).params)


MASKABLE = [row for row in ROWS if takes(row, "mask")]
SAMPLE_WEIGHTED = [
    row
    for row in MASKABLE
    if spec(row).name not in CLASS_WEIGHTED | {"rmse"} and "weight" not in row.make(1)[1]  # rmse: root after weighting
]
FIRST_OF_EACH_TERM = list({spec(row).name: row for row in reversed(ROWS)}.values())


def per_sample(value: Any, keep: Tensor = KEEP) -> Any:
    """The kept samples of a batched tensor; anything else (class weights, numbers) as it is."""
    return value[keep] if isinstance(value, Tensor) and value.dim() and value.shape[0] == N else value


def poisoned(args: tuple[Tensor, ...], keep: Tensor) -> tuple[Tensor, ...]:
    """Masked samples set to NaN (float inputs) or an out-of-range class (integer inputs)."""
    bad = [arg.clone() for arg in args]
    for arg in bad:
        if arg.dim() and arg.shape[0] == N:
            arg[~keep] = float("nan") if arg.is_floating_point() else 99
    return tuple(bad)


def test_every_loss_term_but_ctc_takes_a_mask() -> None:
    losses = {name for name, spec in REGISTRY.specs.items() if spec.kind == "loss"}
    assert {spec(row).name for row in MASKABLE} == losses - {"ctc"}


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("row", params(MASKABLE))
def test_masked_samples_count_neither_in_sum_nor_mean(row: Row, reduction: str) -> None:
    term = spec(row).fn
    args, options = row.make(N)
    args = tuple(arg.requires_grad_(i in row.grad) for i, arg in enumerate(args))
    masked = call(row, term, args, mask=KEEP, reduction=reduction, **options)
    kept = {name: per_sample(value) for name, value in options.items()}
    expected = call(row, term, tuple(map(per_sample, args)), reduction=reduction, **kept)
    torch.testing.assert_close(masked, expected)
    leaves = [args[i] for i in row.grad]  # the kept samples' gradient is the unmasked term's
    torch.testing.assert_close(torch.autograd.grad(masked, leaves), torch.autograd.grad(expected, leaves))


@pytest.mark.parametrize("row", params(MASKABLE))
def test_masked_samples_are_zero_without_reduction(row: Row) -> None:
    term = spec(row).fn
    args, options = row.make(N)
    loss = call(row, term, args, mask=KEEP, reduction="none", **options)
    kept = {name: per_sample(value) for name, value in options.items()}
    expected = call(row, term, tuple(map(per_sample, args)), reduction="none", **kept)
    assert not loss[~KEEP].any()
    torch.testing.assert_close(loss[KEEP], expected)


@pytest.mark.parametrize("row", params(MASKABLE))
def test_weighted_and_masked_term_passes_gradcheck(row: Row) -> None:
    term = spec(row).fn
    args, options = row.make(N)
    weighted = takes(row, "weight") and spec(row).name not in CLASS_WEIGHTED and "weight" not in options
    extra = (rand(N, high=3.0).requires_grad_(),) if weighted else ()

    def run(*differentiable: Tensor) -> Tensor:
        given = dict(zip(row.grad, differentiable, strict=False))
        weight = {"weight": differentiable[-1]} if weighted else {}
        tensors = tuple(given.get(i, arg) for i, arg in enumerate(args))
        return call(row, term, tensors, mask=KEEP, **options, **weight)

    inputs = tuple(args[i].clone().requires_grad_() for i in row.grad) + extra
    assert gradcheck(run, inputs, fast_mode=True)


@pytest.mark.parametrize("row", params(MASKABLE))
def test_masked_nan_and_bad_labels_reach_neither_value_nor_gradient(row: Row) -> None:
    term = spec(row).fn
    args, options = row.make(N)
    args = tuple(arg.requires_grad_(i in row.grad) for i, arg in enumerate(poisoned(args, KEEP)))
    value = call(row, term, args, mask=KEEP, **options)
    grads = torch.autograd.grad(value, [args[i] for i in row.grad])
    assert value.isfinite()
    for grad in grads:
        assert grad.isfinite().all() and not grad[~KEEP].any()


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("row", params(MASKABLE))
def test_all_masked_batch_is_zero_with_zero_gradient(row: Row, reduction: str) -> None:
    term = spec(row).fn
    nothing = torch.zeros(N, dtype=torch.bool)
    args, options = row.make(N)
    args = tuple(arg.requires_grad_(i in row.grad) for i, arg in enumerate(poisoned(args, nothing)))
    value = call(row, term, args, mask=nothing, reduction=reduction, **options)
    grads = torch.autograd.grad(value, [args[i] for i in row.grad])
    assert value.item() == 0.0
    assert all(not grad.isnan().any() and not grad.any() for grad in grads)


@pytest.mark.parametrize("row", params(FIRST_OF_EACH_TERM))
def test_empty_batch_is_zero_with_zero_gradient(row: Row) -> None:
    term = spec(row).fn
    args, options = row.make(0)
    args = tuple(arg.requires_grad_(i in row.grad) for i, arg in enumerate(args))
    for reduction in ("mean", "sum"):
        value = call(row, term, args, reduction=reduction, **options)
        grads = torch.autograd.grad(value, [args[i] for i in row.grad])
        assert value.shape == () and value.item() == 0.0
        assert all(grad.shape == args[i].shape and not grad.any() for i, grad in zip(row.grad, grads, strict=True))
    assert call(row, term, args, reduction="none", **options).numel() == 0


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("row", params(SAMPLE_WEIGHTED))
def test_weight_scales_each_sample(row: Row, reduction: str) -> None:
    term = spec(row).fn
    args, options = row.make(N)
    weight = rand(N, high=3.0)
    unweighted = call(row, term, args, reduction="none", **options)
    scaled = unweighted * weight.reshape(N, *(1,) * (unweighted.dim() - 1))
    expected = {"mean": scaled.mean(), "sum": scaled.sum(), "none": scaled}[reduction]
    torch.testing.assert_close(call(row, term, args, weight=weight, reduction=reduction, **options), expected)


def test_weight_of_the_loss_dimensionality_broadcasts_as_usual() -> None:
    pred, target = torch.randn(N, 3, dtype=torch.float64), torch.randn(N, 3, dtype=torch.float64)
    per_feature = torch.tensor([[1.0, 0.0, 2.0]], dtype=torch.float64)
    expected = ((pred - target) ** 2 * per_feature).mean()
    torch.testing.assert_close(REGISTRY.lookup("mse").fn(pred, target, weight=per_feature), expected)  # type: ignore[union-attr]


def test_rmse_takes_the_root_after_weighting_and_masking() -> None:
    rmse, mse = REGISTRY.lookup("rmse").fn, REGISTRY.lookup("mse").fn  # type: ignore[union-attr]
    pred, target, weight = torch.randn(N, 3), torch.randn(N, 3), torch.rand(N)
    options: dict[str, Any] = {"weight": weight, "mask": KEEP}
    torch.testing.assert_close(rmse(pred, target, **options), mse(pred, target, **options).sqrt())


def test_rmse_gradient_is_zero_at_zero_error() -> None:
    pred = torch.ones(3, requires_grad=True)
    REGISTRY.lookup("rmse").fn(pred, torch.ones(3)).backward()  # type: ignore[union-attr]
    assert pred.grad is not None and pred.grad.tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("name", "options", "shape"),
    [
        pytest.param("cross_entropy", {}, (3, 4), id="cross_entropy"),
        pytest.param("cross_entropy", {"label_smoothing": 0.1}, (2, 4, 5), id="cross_entropy-smoothing-spatial"),
        pytest.param("cross_entropy", {"ignore_index": 2}, (0, 4), id="cross_entropy-empty"),
        pytest.param("nll", {"ignore_index": 7}, (3, 4), id="nll"),
    ],
)
def test_classes_all_ignored_is_zero_not_nan(name: str, options: dict[str, Any], shape: tuple[int, ...]) -> None:
    logits = torch.randn(*shape, requires_grad=True)
    target = torch.full(shape[:1] + shape[2:], options.get("ignore_index", -100))
    value = REGISTRY.lookup(name).fn(logits, target, **options)  # type: ignore[union-attr]
    value.backward()
    assert value.item() == 0.0 and logits.grad is not None and not logits.grad.any()


@pytest.mark.parametrize("ignore_index", [-100, -1, 0, 2, 3, 4, 255])  # below, among and above 4 classes
@pytest.mark.parametrize("counted", [0, 1, 5])
def test_cross_entropy_is_zero_exactly_when_every_target_is_ignored(ignore_index: int, counted: int) -> None:
    """Each place ignore_index can be: only a batch with no counted target is 0; any other is torch's mean."""
    logits = torch.randn(2, 4, 3, dtype=torch.float64)
    target = torch.full((2, 3), ignore_index)
    kept = torch.tensor([c for c in range(4) if c != ignore_index])
    target.view(-1)[:counted] = kept[torch.arange(counted) % len(kept)]
    value = REGISTRY.lookup("cross_entropy").fn(logits, target, ignore_index=ignore_index)  # type: ignore[union-attr]
    expected = torch.nn.functional.cross_entropy(logits, target, ignore_index=ignore_index)
    assert value.item() == 0.0 if not counted else torch.equal(value, expected)


def test_cross_entropy_nan_logits_of_a_counted_target_stay_nan() -> None:
    logits = torch.randn(3, 4)
    logits[1, 0] = float("nan")
    target = torch.tensor([-100, 2, -100])
    assert REGISTRY.lookup("cross_entropy").fn(logits, target).isnan()  # type: ignore[union-attr]


def test_dice_mask_drops_pixels_from_the_overlap() -> None:
    dice = REGISTRY.lookup("dice").fn  # type: ignore[union-attr]
    probs, target = torch.rand(2, 6, dtype=torch.float64), torch.rand(2, 6, dtype=torch.float64)
    pixels = torch.tensor([True, True, False, True, False, True])
    expected = dice(probs[:, pixels], target[:, pixels], reduction="none")
    torch.testing.assert_close(dice(probs, target, mask=pixels.expand(2, 6), reduction="none"), expected)


def test_dice_per_class_over_spatial_dims() -> None:
    dice = REGISTRY.lookup("dice").fn  # type: ignore[union-attr]
    probs, target = torch.rand(2, 3, 4, 4, dtype=torch.float64), torch.rand(2, 3, 4, 4, dtype=torch.float64)
    loss = dice(probs, target, dim=[2, 3], reduction="none")
    p, t = probs.flatten(2), target.flatten(2)
    expected = 1 - (2 * (p * t).sum(-1) + 1) / (p.sum(-1) + t.sum(-1) + 1)
    assert loss.shape == (2, 3)
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        pytest.param("dice", {"smooth": 0.0}, id="dice"),
        pytest.param("jaccard", {"smooth": 0.0}, id="jaccard"),
        pytest.param("tversky", {"smooth": 0.0, "alpha": 0.3, "beta": 0.7}, id="tversky"),
    ],
)
def test_overlap_of_two_empty_masks_is_perfect_not_nan(name: str, options: dict[str, Any]) -> None:
    probs = torch.zeros(2, 5, requires_grad=True)
    value = REGISTRY.lookup(name).fn(probs, torch.zeros(2, 5), **options)  # type: ignore[union-attr]
    value.backward()
    assert value.item() == 0.0 and probs.grad is not None and probs.grad.isfinite().all()


def test_tversky_generalises_dice_and_jaccard() -> None:
    dice, jaccard, tversky = (REGISTRY.lookup(name).fn for name in ("dice", "jaccard", "tversky"))  # type: ignore[union-attr]
    probs, target = torch.rand(3, 7, dtype=torch.float64), torch.rand(3, 7, dtype=torch.float64)
    torch.testing.assert_close(tversky(probs, target, smooth=1.0), dice(probs, target, smooth=2.0))  # see tversky
    torch.testing.assert_close(tversky(probs, target, alpha=1.0, beta=1.0), jaccard(probs, target))


def test_overlap_of_a_perfect_prediction_is_exactly_zero() -> None:
    """The misses are counted, not taken from 1: a perfect overlap leaves no rounding error."""
    target = (torch.rand(4, 9) > 0.5).float()
    for name in ("dice", "jaccard", "tversky"):
        assert REGISTRY.lookup(name).fn(target, target, smooth=0.3, reduction="none").tolist() == [0.0] * 4  # type: ignore[union-attr]


def test_tversky_that_weighs_no_miss_is_zero() -> None:
    tversky = REGISTRY.lookup("tversky").fn  # type: ignore[union-attr]
    probs = torch.rand(3, 7, requires_grad=True)
    value = tversky(probs, (torch.rand(3, 7) > 0.5).float(), alpha=0.0, beta=0.0)
    value.backward()
    assert value.item() == 0.0 and probs.grad is not None and not probs.grad.any()


def test_kl_div_batchmean_divides_by_the_samples_kept() -> None:
    kl_div = REGISTRY.lookup("kl_div").fn  # type: ignore[union-attr]
    log_probs = torch.randn(N, 3, dtype=torch.float64).log_softmax(1).requires_grad_()
    target = torch.randn(N, 3, dtype=torch.float64).softmax(1).requires_grad_()
    expected = torch.nn.functional.kl_div(log_probs, target, reduction="batchmean")
    value = kl_div(log_probs, target, reduction="batchmean")
    torch.testing.assert_close(value, expected)
    both = (log_probs, target)
    torch.testing.assert_close(torch.autograd.grad(value, both), torch.autograd.grad(expected, both))
    assert gradcheck(lambda x, t: kl_div(x, t, reduction="batchmean", mask=KEEP), both)
    masked = kl_div(log_probs, target, reduction="batchmean", mask=KEEP)
    torch.testing.assert_close(masked, kl_div(log_probs[KEEP], target[KEEP], reduction="batchmean"))


# A 1-D weight that fits both ways: losslang lines it up with the samples, torch broadcasts it from the right.
@pytest.mark.parametrize("term", ["bce", "bce_with_logits", "mse", "mae", "huber", "focal"])
@pytest.mark.parametrize("name", ["weight", "mask"])
def test_a_weight_that_fits_both_ways_is_refused_with_both_shapes(term: str, name: str) -> None:
    probs, target = rand(3, 3), rand(3, 3)
    given = torch.ones(3, dtype=torch.bool) if name == "mask" else rand(3)
    with pytest.raises(LossShapeError, match=r"ambiguous .* write it as \(3, 1\) for the first or \(1, 3\)"):
        REGISTRY.lookup(term).fn(probs, target, **{name: given})  # type: ignore[union-attr]


def test_bce_weight_written_either_way_matches_torch() -> None:
    """The issue's 3x3 example: (1, C) is torch's broadcast, (N, 1) one weight per sample."""
    probs, target, weight = rand(3, 3), rand(3, 3), rand(3)
    bce = REGISTRY.lookup("bce").fn  # type: ignore[union-attr]
    torch.testing.assert_close(
        bce(probs, target, weight=weight[None, :]), F.binary_cross_entropy(probs, target, weight)
    )
    per_sample = F.binary_cross_entropy(probs, target, weight[:, None])
    torch.testing.assert_close(bce(probs, target, weight=weight[:, None]), per_sample)
    assert bce(rand(4, 3), rand(4, 3), weight=rand(4)).isfinite()  # (N,) with N != C: one per sample, unambiguous


GAUSSIAN_SHAPES = [  # (pred, target, var): the broadcasts torch documents
    pytest.param((5, 3), (5, 1), (5, 3), id="target-one-dimension-of-1"),
    pytest.param((5, 3), (1, 3), (5, 3), id="target-shared-over-samples"),
    pytest.param((4, 3, 8), (4, 1, 8), (4, 3, 8), id="target-middle-dimension-of-1"),
    pytest.param((10, 2, 3), (10, 2, 3), (10, 2), id="var-one-dimension-fewer"),
    pytest.param((5, 5), (5, 5), (5,), id="var-one-per-sample-square"),
    pytest.param((4, 3, 8, 8), (4, 3, 8, 8), (4, 1, 8, 8), id="var-one-dimension-of-1"),
    pytest.param((5, 3), (5, 3), (5, 1), id="var-column"),
]


@pytest.mark.parametrize(("pred_shape", "target_shape", "var_shape"), GAUSSIAN_SHAPES)
def test_gaussian_nll_accepts_torchs_broadcast_shapes(pred_shape: Any, target_shape: Any, var_shape: Any) -> None:
    pred = torch.randn(pred_shape, dtype=torch.float64, requires_grad=True)
    target, var = torch.randn(target_shape, dtype=torch.float64), rand(*var_shape, low=0.5, high=2.0)
    value = REGISTRY.lookup("gaussian_nll").fn(pred, target, var)  # type: ignore[union-attr]
    expected = F.gaussian_nll_loss(pred, target, var)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(torch.autograd.grad(value, pred), torch.autograd.grad(expected, pred))


def test_gaussian_nll_takes_a_number_as_its_variance_in_a_formula() -> None:
    pred, target = torch.randn(5, 3), torch.randn(5, 3)
    out = losslang.compile("gaussian_nll(pred, y, 0.7)")(pred=pred, y=target)
    torch.testing.assert_close(out.total, F.gaussian_nll_loss(pred, target, 0.7 * torch.ones(5, 3)))


def _overlap_by_hand(name: str, probs: Tensor, target: Tensor, dims: tuple[int, ...]) -> Tensor:
    """Each sample's overlap loss in the textbook form, summed over ``dims``."""
    tp, p, t = (probs * target).sum(dims), probs.sum(dims), target.sum(dims)
    if name == "dice":
        return 1 - (2 * tp + 1) / (p + t + 1)
    if name == "jaccard":
        return 1 - (tp + 1) / (p + t - tp + 1)
    return 1 - (tp + 1) / (tp + 0.3 * (p - tp) + 0.7 * (t - tp) + 1)  # tversky, alpha 0.3, beta 0.7


OVERLAP_OPTIONS = {"dice": {}, "jaccard": {}, "tversky": {"alpha": 0.3, "beta": 0.7}}
ONE_SAMPLE = [
    pytest.param((1, 3, 5), None, (1, 2), id="image-of-one"),
    pytest.param((1, 1, 4, 5), [2, 3], (2, 3), id="one-class-over-space"),
    pytest.param((7,), None, (0,), id="one-vector"),
    pytest.param((2, 3, 4), [0, 1, 2], (0, 1, 2), id="every-dim"),
]


@pytest.mark.parametrize("name", ["dice", "jaccard", "tversky"])
@pytest.mark.parametrize(("shape", "dim", "dims"), ONE_SAMPLE)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_overlap_of_one_sample_sums_over_everything(
    name: str, shape: tuple[int, ...], dim: list[int] | None, dims: tuple[int, ...], reduction: str
) -> None:
    # One value: the sums run over every dimension, so the backward broadcasts a 0-d gradient
    # (torch's fast scalar kernels); value, shape and gradient are those of the sums over dims.
    fn = REGISTRY.lookup(name).fn  # type: ignore[union-attr]
    probs = torch.rand(shape, dtype=torch.float64, requires_grad=True)
    target = torch.rand(shape, dtype=torch.float64)
    value = fn(probs, target, dim=dim, reduction=reduction, **OVERLAP_OPTIONS[name])
    per_sample = _overlap_by_hand(name, probs, target, dims)
    expected = {"mean": per_sample.mean(), "sum": per_sample.sum(), "none": per_sample}[reduction]
    assert value.shape == expected.shape
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(
        torch.autograd.grad(value.sum(), probs)[0], torch.autograd.grad(expected.sum(), probs)[0]
    )
    assert gradcheck(lambda p: fn(p, target, dim=dim, reduction=reduction, **OVERLAP_OPTIONS[name]), (probs,))
    sums = {type(node).__name__ for node in _graph(value.grad_fn)} & {"SumBackward0", "SumBackward1"}
    assert sums == {"SumBackward0"}  # over everything, not over dims


def _graph(node: Any) -> list[Any]:
    found, stack = [], [node]
    while stack:
        current = stack.pop()
        if current is not None and current not in found:
            found.append(current)
            stack.extend(next_node for next_node, _ in current.next_functions)
    return found


@pytest.mark.parametrize("name", ["dice", "jaccard", "tversky"])
def test_overlap_of_one_sample_with_weight_or_mask_is_that_of_the_samples(name: str) -> None:
    fn = REGISTRY.lookup(name).fn  # type: ignore[union-attr]
    probs, target = torch.rand(1, 6, dtype=torch.float64), torch.rand(1, 6, dtype=torch.float64)
    pixels = torch.tensor([[True, False, True, True, False, True]])
    torch.testing.assert_close(fn(probs, target, weight=torch.tensor([3.0])), 3 * fn(probs, target))
    torch.testing.assert_close(fn(probs, target, mask=pixels), fn(probs[pixels][None], target[pixels][None]))
    nothing = torch.zeros(1, 6, dtype=torch.bool)
    assert fn(probs, target, mask=nothing).item() == 0.0  # no pixel left: no sample to average


@pytest.mark.parametrize(
    "dim", [3, -4, [1, 1], [1, -2]], ids=["past-the-end", "before-the-start", "twice", "twice-negative"]
)
def test_overlap_dims_out_of_range_or_repeated_are_errors(dim: Any) -> None:
    probs = torch.rand(2, 3, 4)
    with pytest.raises(
        LossShapeError, match=r"dice\(\): dim=\[.*\] must name distinct dimensions of probs, which has 3"
    ):
        REGISTRY.lookup("dice").fn(probs, probs, dim=dim)  # type: ignore[union-attr]
    if dim == [1, 1]:
        return  # the same number twice is refused when the text is compiled (tests/test_check.py)
    loss = losslang.compile(f"dice(p, t, dim={dim})")
    with pytest.raises(LossShapeError, match=r"term 'dice\(p, t, dim=.*\)': dice\(\): dim="):
        loss(p=probs, t=probs)


def test_overlap_dims_that_name_no_dimension_are_an_error_not_the_whole_batch_as_one_sample() -> None:
    probs = torch.rand(2, 3, 4)
    with pytest.raises(LossShapeError, match=r"jaccard\(\): dim=\[\] names no dimension; leave dim out"):
        REGISTRY.lookup("jaccard").fn(probs, probs, dim=[], reduction="none")  # type: ignore[union-attr]
