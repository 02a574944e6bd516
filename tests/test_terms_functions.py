"""Element-wise math, reductions and vector functions against torch, with gradcheck."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd import gradcheck

import losslang
from losslang.registry import REGISTRY
from losslang.terms import BUILTINS


def randn(*shape: int) -> Tensor:
    return torch.randn(*shape, dtype=torch.float64)


def between(low: float, high: float) -> Callable[[], Tensor]:
    return lambda: torch.empty(3, 4, dtype=torch.float64).uniform_(low, high)


ANYWHERE = lambda: randn(3, 4)  # noqa: E731
UNARY = [
    pytest.param("abs", ANYWHERE, torch.abs, {}, id="abs"),
    pytest.param("exp", ANYWHERE, torch.exp, {}, id="exp"),
    pytest.param("log", between(0.1, 3.0), torch.log, {}, id="log"),
    pytest.param("log1p", between(-0.9, 3.0), torch.log1p, {}, id="log1p"),
    pytest.param("sqrt", between(0.1, 3.0), torch.sqrt, {}, id="sqrt"),
    pytest.param("square", ANYWHERE, torch.square, {}, id="square"),
    pytest.param("sin", ANYWHERE, torch.sin, {}, id="sin"),
    pytest.param("cos", ANYWHERE, torch.cos, {}, id="cos"),
    pytest.param("tan", between(-1.2, 1.2), torch.tan, {}, id="tan"),
    pytest.param("arcsin", between(-0.9, 0.9), torch.arcsin, {}, id="arcsin"),
    pytest.param("arccos", between(-0.9, 0.9), torch.arccos, {}, id="arccos"),
    pytest.param("arctan", ANYWHERE, torch.arctan, {}, id="arctan"),
    pytest.param("tanh", ANYWHERE, torch.tanh, {}, id="tanh"),
    pytest.param("sigmoid", ANYWHERE, torch.sigmoid, {}, id="sigmoid"),
    pytest.param("softplus", ANYWHERE, F.softplus, {}, id="softplus"),
    pytest.param("softplus", ANYWHERE, F.softplus, {"beta": 2.0, "threshold": 1.0}, id="softplus-beta-threshold"),
    pytest.param("relu", ANYWHERE, torch.relu, {}, id="relu"),
    pytest.param("clamp", ANYWHERE, torch.clamp, {"min": -0.5}, id="clamp-min"),
    pytest.param("clamp", ANYWHERE, torch.clamp, {"max": 0.5}, id="clamp-max"),
    pytest.param("clamp", ANYWHERE, torch.clamp, {"min": -0.5, "max": 0.5}, id="clamp-both"),
    pytest.param("std", ANYWHERE, torch.std, {}, id="std"),
    pytest.param("std", ANYWHERE, torch.std, {"dim": 1, "keepdim": True, "correction": 0}, id="std-dim"),
    pytest.param("var", ANYWHERE, torch.var, {"dim": [0, 1]}, id="var-dims"),
    pytest.param("var", ANYWHERE, torch.var, {"dim": 0, "correction": 0}, id="var-dim"),
    pytest.param("var", ANYWHERE, torch.var, {"dim": 1, "keepdim": True}, id="var-dim-keepdim"),
    pytest.param("norm", ANYWHERE, lambda x, **o: torch.linalg.vector_norm(x, **o), {}, id="norm"),
    pytest.param(
        "norm", ANYWHERE, lambda x, p, **o: torch.linalg.vector_norm(x, ord=p, **o), {"p": 1, "dim": 1}, id="norm-p1"
    ),
    pytest.param(
        "norm",
        ANYWHERE,
        lambda x, p, **o: torch.linalg.vector_norm(x, ord=p, **o),
        {"p": 3.0, "dim": [0], "keepdim": True},
        id="norm-p3-keepdim",
    ),
    pytest.param("mean", ANYWHERE, torch.mean, {"dim": [0, 1], "keepdim": True}, id="mean-dims"),
    pytest.param("sum", ANYWHERE, torch.sum, {"dim": -1}, id="sum-dim"),
    pytest.param("max", ANYWHERE, torch.amax, {"dim": [0, 1]}, id="max-dims"),
    pytest.param("min", ANYWHERE, torch.amin, {"dim": 0, "keepdim": True}, id="min-dim"),
    pytest.param("softmax", ANYWHERE, lambda x, dim=-1: torch.softmax(x, dim), {}, id="softmax"),
    pytest.param("softmax", ANYWHERE, torch.softmax, {"dim": 0}, id="softmax-dim"),
    pytest.param("log_softmax", ANYWHERE, lambda x, dim=-1: torch.log_softmax(x, dim), {}, id="log_softmax"),
    pytest.param("log_softmax", ANYWHERE, torch.log_softmax, {"dim": 0}, id="log_softmax-dim"),
    pytest.param("detach", ANYWHERE, torch.Tensor.detach, {}, id="detach"),
]


@pytest.mark.parametrize(("name", "make", "reference", "options"), UNARY)
def test_function_of_one_tensor_matches_torch(
    name: str, make: Callable[[], Tensor], reference: Callable[..., Tensor], options: dict[str, Any]
) -> None:
    fn = REGISTRY.lookup(name).fn  # type: ignore[union-attr]
    x = make().requires_grad_()
    value = fn(x, **options)
    torch.testing.assert_close(value, reference(x, **options))
    if name == "detach":
        assert not value.requires_grad
    else:
        assert gradcheck(lambda t: fn(t, **options), (x,))


BINARY = [
    pytest.param("minimum", (3, 4), (4,), torch.minimum, {}, id="minimum-broadcast"),
    pytest.param("maximum", (3, 4), (3, 4), torch.maximum, {}, id="maximum"),
    pytest.param("dot", (3, 4), (3, 4), lambda x, y, dim=-1: (x * y).sum(dim), {}, id="dot"),
    pytest.param("dot", (3, 4), (3, 1), lambda x, y, dim: (x * y).sum(dim), {"dim": 0}, id="dot-dim-broadcast"),
    pytest.param("cosine_similarity", (3, 4), (3, 4), F.cosine_similarity, {}, id="cosine_similarity"),
    pytest.param(
        "cosine_similarity", (3, 4), (3, 4), F.cosine_similarity, {"dim": 0, "eps": 1e-6}, id="cosine_similarity-dim"
    ),
]


@pytest.mark.parametrize(("name", "x_shape", "y_shape", "reference", "options"), BINARY)
def test_function_of_two_tensors_matches_torch(
    name: str,
    x_shape: tuple[int, ...],
    y_shape: tuple[int, ...],
    reference: Callable[..., Tensor],
    options: dict[str, Any],
) -> None:
    fn = REGISTRY.lookup(name).fn  # type: ignore[union-attr]
    x, y = randn(*x_shape).requires_grad_(), randn(*y_shape).requires_grad_()
    torch.testing.assert_close(fn(x, y, **options), reference(x, y, **options))
    assert gradcheck(lambda a, b: fn(a, b, **options), (x, y))


def test_every_function_has_a_row() -> None:
    tested = {param.values[0] for param in [*UNARY, *BINARY]}
    tested |= {"mean", "sum", "max", "min"}  # several-argument forms: tests/test_terms.py
    tested |= {"where"}  # a mask first: test_where_chooses_element_wise_and_the_gradient_follows_the_choice
    tested |= {"accuracy"}  # a metric without gradient: test_accuracy_matches_torchmetrics_style_top_k
    tested |= {"grad", "partial", "laplacian", "div"}  # tests/test_terms_derivatives.py
    tested |= {"size", "numel"}  # tests/test_terms_sizes.py
    tested |= {"transpose", "permute", "flatten", "unflatten", "reshape", "movedim", "squeeze", "unsqueeze"}
    tested |= {"expand"}  # tests/test_terms_shaping.py
    tested |= {"matmul", "einsum", "outer", "cdist"}  # tests/test_terms_products.py
    tested |= {"gather", "take_along_dim", "index_select", "scatter", "index_put"}  # tests/test_terms_gathering.py
    tested |= {"zeros_like", "ones_like", "full_like", "arange", "one_hot"}  # tests/test_terms_constructors.py
    tested |= {"float", "long", "to"}  # tests/test_terms_casts.py
    tested |= {"sort", "argsort", "argmax", "argmin", "topk", "cumsum", "cumprod", "logsumexp"}  # test_terms_ordering
    tested |= {"pi"}  # a constant: test_functions_of_numbers_fold_when_the_loss_is_compiled
    assert tested == {name for name, _, kind, _ in BUILTINS if kind == "function"}  # schedules: test_schedules.py


def test_clamp_needs_a_bound() -> None:
    from losslang import LossArityError

    with pytest.raises(LossArityError, match=r"clamp\(\) needs min=, max= or both"):
        REGISTRY.lookup("clamp").fn(torch.ones(2))  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        ("<", [True, False, False]),
        ("<=", [True, True, False]),
        (">", [False, False, True]),
        (">=", [False, True, True]),
        ("==", [False, True, False]),
        ("!=", [True, False, True]),
    ],
)
def test_comparisons_give_masks_without_gradient(op: str, expected: list[bool]) -> None:
    p = torch.tensor([0.0, 1.0, 2.0], requires_grad=True)
    loss = losslang.compile(f"m = p {op} 1; mse(p, y, mask=m)")
    out = loss(p=p, y=torch.zeros(3))
    assert out["m"].tolist() == expected and out["m"].dtype == torch.bool and not out["m"].requires_grad
    kept = p.detach()[torch.tensor(expected)]
    assert out.total.item() == pytest.approx((kept**2).mean().item() if kept.numel() else 0.0)


F32, I64, BOOL = torch.float32, torch.int64, torch.bool


@pytest.mark.parametrize(
    ("formula", "expected", "dtype"),
    [
        ("mean(a > 0, b > 0)", [1.0, 0.5, 0.0], F32),  # torch: (a + b) / 2 of masks is [0.5, 0.5, 0], an or halved
        ("sum(a > 0, b > 0)", [2, 1, 0], I64),  # torch: a logical or, [True, True, False]
        ("sum(a > 0, b > 0, a > 0)", [3, 2, 0], I64),
        ("mean(a > 0)", 2 / 3, F32),  # the fraction, where torch refuses the mean of a mask
        ("mean(n)", 2.0, F32),  # integers: torch refuses their mean too
        ("mean(n, n)", [1.0, 2.0, 3.0], F32),
        ("max(a > 0, b > 0)", [True, True, False], BOOL),  # max and min of masks stay the logical or and and
        ("min(a > 0, b > 0)", [True, False, False], BOOL),
    ],
)
def test_masks_count_as_zeros_and_ones_in_means_and_sums(formula: str, expected: Any, dtype: torch.dtype) -> None:
    a, b, n = torch.tensor([1.0, 1.0, -1.0]), torch.tensor([1.0, -1.0, -1.0]), torch.tensor([1, 2, 3])
    value = losslang.compile(f"m = {formula}; mse(a, b)")(a=a, b=b, n=n)["m"]
    assert value.tolist() == pytest.approx(expected) and value.dtype == dtype


def test_where_chooses_element_wise_and_the_gradient_follows_the_choice() -> None:
    p = torch.tensor([0.2, 0.9], requires_grad=True)
    out = losslang.compile("sum(where(p > 0.5, 3 * p, 0))")(p=p)
    out.total.backward()
    assert out.total.item() == pytest.approx(2.7) and p.grad.tolist() == [0.0, 3.0]
    with pytest.raises(losslang.LossShapeError, match="the condition must be a mask"):
        losslang.compile("sum(where(p, p, 0))")(p=p)
    fn = REGISTRY.lookup("where").fn  # type: ignore[union-attr]
    x, y = randn(3, 4).requires_grad_(), randn(4).requires_grad_()
    torch.testing.assert_close(fn(x > 0, x, y), torch.where(x > 0, x, y))
    assert gradcheck(lambda a, b: fn(a.detach() > 0, a, b), (x, y))


def test_comparing_two_constants_is_an_error() -> None:
    with pytest.raises(losslang.LossArityError, match="1 < 2 compares two constants"):
        losslang.compile("mse(p, y) * (1 < 2)")


@pytest.mark.parametrize("k", [1, 2, 3])
def test_accuracy_matches_torchmetrics_style_top_k(k: int) -> None:
    torch.manual_seed(k)
    scores, target = torch.randn(50, 4, requires_grad=True), torch.randint(0, 4, (50,))
    expected = (scores.topk(k, dim=1).indices == target[:, None]).any(dim=1).float().mean()
    out = losslang.compile(f"ce = cross_entropy(s, t); acc = accuracy(s, t, k={k}); ce")(s=scores, t=target)
    assert out["acc"].item() == pytest.approx(expected.item()) and not out["acc"].requires_grad
    assert "acc" in losslang.compile("ce = cross_entropy(s, t); acc = accuracy(s, t); ce").metric_names


def test_accuracy_edges() -> None:
    assert (
        losslang.compile("accuracy(s, t) + 0 * sum(s)")(
            s=torch.empty(0, 3), t=torch.empty(0, dtype=torch.long)
        ).total.item()
        == 0.0
    )
    spatial = torch.zeros(2, 3, 4, 4)
    spatial[:, 1] = 1.0
    assert (
        losslang.compile("accuracy(s, t) + 0 * sum(s)")(s=spatial, t=torch.ones(2, 4, 4, dtype=torch.long)).total.item()
        == 1.0
    )
    with pytest.raises(losslang.LossShapeError, match="k=5 but there are only 3 classes"):
        losslang.compile("accuracy(s, t, k=5) + sum(s)")(s=torch.randn(2, 3), t=torch.zeros(2, dtype=torch.long))
    with pytest.raises(losslang.LossArityError, match="argument 'k' of accuracy\\(\\) must be at least 1, not 0"):
        losslang.compile("accuracy(s, t, k=0)")


@pytest.mark.parametrize("bad", [3, -1, -100, 255], ids=["C", "minus-one", "torch-ignore-default", "void-label"])
def test_accuracy_refuses_class_indices_outside_the_classes_as_cross_entropy_does(bad: int) -> None:
    target = torch.tensor([0, bad, 2, 1])
    with pytest.raises(
        losslang.LossValueError, match=rf"accuracy\(\): target holds the class index {bad}, outside \[0, 3\)"
    ):
        losslang.compile("accuracy(s, t) + 0 * sum(s)")(s=torch.randn(4, 3), t=target)
    scores = torch.tensor([[9.0, 0, 0], [0, 0, 0], [0, 0, 9], [0, 0, 9]])
    out = losslang.compile(f"accuracy(s, t, ignore_index={bad}) + 0 * sum(s)")(s=scores, t=target)
    assert out.total.item() == pytest.approx(2 / 3)  # the ignored sample counts neither way
    all_ignored = losslang.compile(f"accuracy(s, t, ignore_index={bad}) + 0 * sum(s)")(
        s=scores, t=torch.full((4,), bad)
    )
    assert all_ignored.total.item() == 0.0


@pytest.mark.parametrize("where", ["every-score", "one-score"])
def test_accuracy_of_nan_scores_is_nan(where: str) -> None:
    scores = torch.randn(4, 3)
    if where == "every-score":
        scores.fill_(float("nan"))
    else:
        scores[2, 1] = float("nan")
    out = losslang.compile("accuracy(s, t) + 0 * sum(s)")(s=scores, t=torch.tensor([0, 1, 2, 0]))
    assert out["accuracy(s, t)"].isnan()


@pytest.mark.parametrize(
    ("formula", "value"),
    [
        ("log(2)", math.log(2)),
        ("sqrt(2)", math.sqrt(2)),
        ("exp(-1)", math.exp(-1)),
        ("pi()", math.pi),
        ("2 * pi()", 2 * math.pi),
        ("max(1, 2.5, 0)", 2.5),
        ("minimum(3, 1)", 1.0),
        ("clamp(5, max=2)", 2.0),
        ("softplus(0)", math.log(2)),
        ("mean(1, 2)", 1.5),
    ],
)
def test_functions_of_numbers_fold_when_the_loss_is_compiled(formula: str, value: float) -> None:
    loss = losslang.compile(f"w = {formula}; w * mse(p, y)")
    assert "w" not in loss.term_names  # a number: a weight, inlined
    out = loss(p=torch.ones(1, dtype=torch.float64), y=torch.zeros(1, dtype=torch.float64))
    assert out.total.item() == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize("formula", ["log(0)", "sqrt(-1)", "exp(1000)", "arccos(2)"])
def test_a_function_of_numbers_without_a_finite_value_is_refused_at_its_position(formula: str) -> None:
    with pytest.raises(
        losslang.LossValueError, match=f"line 1, column 5: {re.escape(formula)} has no finite real value"
    ):
        losslang.compile(f"mse({formula} * p, y)")


@pytest.mark.parametrize(
    ("formula", "reference"),
    [
        ("minimum(p, 0.5)", lambda p: torch.clamp(p, max=0.5)),
        ("maximum(0, p)", lambda p: torch.clamp(p, min=0)),
        ("max(p, 0)", lambda p: torch.clamp(p, min=0)),
        ("min(p, 1, 0.25)", lambda p: torch.clamp(p, max=0.25)),
        ("where(p > 0, 1, p)", lambda p: torch.where(p > 0, 1.0, p)),
    ],
)
def test_a_number_stands_for_a_tensor_of_its_value(formula: str, reference) -> None:
    p = torch.randn(5, dtype=torch.float64, requires_grad=True)
    out = losslang.compile(f"sum({formula})")(p=p)
    expected = reference(p).sum()
    torch.testing.assert_close(out.total, expected)
    torch.testing.assert_close(torch.autograd.grad(out.total, p)[0], torch.autograd.grad(expected, p)[0])


def test_pi_as_a_call_leaves_the_name_pi_an_input() -> None:
    loss = losslang.compile("mse(p, y) * pi / pi()")
    assert loss.inputs == ("p", "y", "pi")
