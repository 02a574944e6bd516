"""Edge cases: zero, parallel and anti-parallel vectors, and extreme logits (+-1e4)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from term_cases import ROWS, Row, call, classes, deepmuon_msa, sigmoid_focal_loss, vectors
from torch import Tensor
from torch.autograd import gradcheck

from losslang.registry import REGISTRY


def angle_reference(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """sin and 1 - cos of the angle, by the textbook formulas, clamped to be defined at the edges."""
    cos = F.cosine_similarity(a, b, dim=-1).clamp(-1, 1)
    return (1 - cos**2).sqrt(), 1 - cos


REFERENCES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "sin_angle": lambda a, b: angle_reference(a, b)[0],
    "cos_angle": lambda a, b: angle_reference(a, b)[1],
    "msa": lambda a, b: ((a - b) ** 2).mean(1) + angle_reference(a, b)[0],
}
KINDS = ["random", "parallel", "anti-parallel", "zero-target", "zero-pred"]
OPTIONS: dict[str, dict[str, Any]] = {"sin_angle": {}, "cos_angle": {}, "msa": {"len_ratio": 1.0}}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ["sin_angle", "cos_angle", "msa"])
def test_angle_terms_are_right_and_finite_at_the_edges(name: str, kind: str) -> None:
    a, b = (t.requires_grad_() for t in vectors(kind))
    value = REGISTRY.lookup(name).fn(a, b, reduction="none", **OPTIONS[name])  # type: ignore[union-attr]
    expected = REFERENCES[name](a.detach(), b.detach())
    torch.testing.assert_close(value, expected, atol=1e-7, rtol=1e-7)
    value.sum().backward()
    assert a.grad is not None and b.grad is not None
    assert a.grad.isfinite().all() and b.grad.isfinite().all()
    if kind.startswith("zero"):  # a zero vector has no direction: no gradient from the angle
        zero = a if kind == "zero-pred" else b
        assert name == "msa" or not zero.grad.any()  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", ["random", "parallel", "anti-parallel"])
@pytest.mark.parametrize("name", ["sin_angle", "cos_angle", "msa"])
def test_angle_terms_pass_gradcheck_at_parallel_vectors(name: str, kind: str) -> None:
    a, b = (t.requires_grad_() for t in vectors(kind))
    term = REGISTRY.lookup(name).fn  # type: ignore[union-attr]
    assert gradcheck(lambda x, y: term(x, y, reduction="none", **OPTIONS[name]), (a, b))


def test_msa_gradient_matches_deepmuon_away_from_parallel() -> None:
    a, b = (t.requires_grad_() for t in vectors("random"))
    a2, b2 = (t.detach().clone().requires_grad_() for t in (a, b))
    REGISTRY.lookup("msa").fn(a, b, len_ratio=0.5).backward()  # type: ignore[union-attr]
    deepmuon_msa(a2, b2, len_ratio=0.5).mean().backward()
    torch.testing.assert_close((a.grad, b.grad), (a2.grad, b2.grad))


def test_deepmuon_formula_really_is_nan_when_parallel() -> None:
    a, b = (t.requires_grad_() for t in vectors("parallel"))
    deepmuon_msa(a, b).mean().backward()
    assert a.grad is not None and a.grad.isnan().any()


def test_cos_angle_is_smooth_where_textbook_angle_is_not() -> None:
    a, b = (t.requires_grad_() for t in vectors("parallel"))
    REGISTRY.lookup("cos_angle").fn(a, b).backward()  # type: ignore[union-attr]
    assert a.grad is not None and not a.grad.abs().max() > 1e-12  # minimum of 1 - cos: zero gradient


@pytest.mark.parametrize("kind", KINDS)
def test_cosine_embedding_matches_torch_at_the_edges(kind: str) -> None:
    a, b = (t.requires_grad_() for t in vectors(kind))
    target = torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0], dtype=torch.float64)
    value = REGISTRY.lookup("cosine_embedding").fn(a, b, target)  # type: ignore[union-attr]
    torch.testing.assert_close(value, F.cosine_embedding_loss(a, b, target))
    value.backward()
    assert a.grad is not None and a.grad.isfinite().all()


def extreme(*shape: int) -> Tensor:
    """Logits of +-1e4, the rest ordinary."""
    x = torch.randn(*shape, dtype=torch.float64)
    x.view(-1)[::2] = 1e4
    x.view(-1)[1::3] = -1e4
    return x


def binary(*shape: int) -> Tensor:
    return torch.randint(0, 2, shape).double()


EXTREME = [
    pytest.param("cross_entropy", lambda: (extreme(4, 3), classes(4)), F.cross_entropy, {}, id="cross_entropy"),
    pytest.param(
        "cross_entropy",
        lambda: (extreme(4, 3), torch.randn(4, 3, dtype=torch.float64).softmax(1)),
        F.cross_entropy,
        {},
        id="cross_entropy-probabilities",
    ),
    pytest.param(
        "nll",
        lambda: (extreme(4, 3).log_softmax(1), classes(4)),
        F.nll_loss,
        {},
        id="nll-of-log_softmax",
    ),
    pytest.param(
        "bce_with_logits",
        lambda: (extreme(4, 3), binary(4, 3)),
        F.binary_cross_entropy_with_logits,
        {},
        id="bce_with_logits",
    ),
    pytest.param(
        "focal",
        lambda: (extreme(4, 3), binary(4, 3)),
        lambda x, t: sigmoid_focal_loss(x, t).mean(),
        {},
        id="focal",
    ),
    pytest.param(
        "focal",
        lambda: (extreme(4, 3), binary(4, 3)),
        lambda x, t, gamma: sigmoid_focal_loss(x, t, gamma=gamma).mean(),  # its gradient is NaN here
        {"gamma": 0.5},
        id="focal-gamma-below-1",
    ),
    pytest.param(
        "multilabel_soft_margin",
        lambda: (extreme(4, 3), binary(4, 3)),
        F.multilabel_soft_margin_loss,
        {},
        id="multilabel_soft_margin",
    ),
    pytest.param(
        "soft_margin",
        lambda: (extreme(4, 3), binary(4, 3) * 2 - 1),
        lambda x, t: (F.relu(-t * x) + torch.log1p(torch.exp(-(t * x).abs()))).mean(),  # torch's overflows
        {},
        id="soft_margin",
    ),
    pytest.param(
        "kl_div",
        lambda: (extreme(4, 3).log_softmax(1), torch.randn(4, 3, dtype=torch.float64).softmax(1)),
        lambda x, t: F.kl_div(x, t, reduction="sum") / x.numel(),
        {},
        id="kl_div-of-log_softmax",
    ),
]


@pytest.mark.parametrize(("name", "make", "reference", "options"), EXTREME)
def test_extreme_logits_give_finite_values_and_gradients(
    name: str,
    make: Callable[[], tuple[Tensor, Tensor]],
    reference: Callable[..., Tensor],
    options: dict[str, Any],
) -> None:
    logits, target = make()
    logits.requires_grad_()
    term = REGISTRY.lookup(name).fn  # type: ignore[union-attr]
    value = term(logits, target, **options)
    torch.testing.assert_close(value, reference(logits.detach(), target, **options))
    (grad,) = torch.autograd.grad(value, logits)
    assert value.isfinite() and grad.isfinite().all()
    assert gradcheck(lambda x: term(x, target, **options), (logits,))


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        pytest.param("log_softmax", lambda x: torch.log_softmax(x, -1), id="log_softmax"),
        pytest.param("softmax", lambda x: torch.softmax(x, -1), id="softmax"),
        pytest.param("softplus", F.softplus, id="softplus"),
        pytest.param("sigmoid", torch.sigmoid, id="sigmoid"),
        pytest.param("tanh", torch.tanh, id="tanh"),
    ],
)
def test_functions_at_extreme_logits(name: str, reference: Callable[[Tensor], Tensor]) -> None:
    x = extreme(4, 3).requires_grad_()
    value = REGISTRY.lookup(name).fn(x)  # type: ignore[union-attr]
    torch.testing.assert_close(value, reference(x))
    (grad,) = torch.autograd.grad(value.sum(), x)
    assert value.isfinite().all() and grad.isfinite().all()


@pytest.mark.parametrize(
    ("name", "options"),
    [
        pytest.param("norm", {"dim": 1}, id="norm"),
        pytest.param("norm", {"p": 1.0, "dim": 1}, id="norm-p1"),
        pytest.param("sin_angle", {}, id="sin_angle"),
        pytest.param("cos_angle", {}, id="cos_angle"),
    ],
)
def test_zero_vectors_have_a_finite_gradient(name: str, options: dict[str, Any]) -> None:
    x = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    other = () if name == "norm" else (torch.ones(2, 3, dtype=torch.float64),)
    value = REGISTRY.lookup(name).fn(x, *other, **options)  # type: ignore[union-attr]
    (grad,) = torch.autograd.grad(value.sum(), x)
    assert grad.isfinite().all()


@pytest.mark.parametrize("value", [float("nan"), float("inf")], ids=["nan", "inf"])
@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
@pytest.mark.usefixtures("path")
def test_a_non_finite_input_is_never_silently_finite(row: Row, value: float) -> None:
    """Wherever torch's reference gives NaN or inf for a bad element, so does the term: check_finite must see it."""
    args, options = row.make(4)
    bad = list(args)
    bad[row.grad[0]] = bad[row.grad[0]].clone()
    bad[row.grad[0]].view(-1)[0] = value
    with torch.no_grad():
        try:
            expected = call(row, row.reference, tuple(bad), reduction="sum", **options)
        except (ValueError, RuntimeError):  # outside the reference's domain (probabilities past 1)
            pytest.skip("the reference refuses the input")
        if bool(expected.isfinite().all()):
            pytest.skip("the reference stays finite")
        term = REGISTRY.lookup(row.term).fn  # type: ignore[union-attr]
        assert not call(row, term, tuple(bad), reduction="sum", **options).isfinite().all()
