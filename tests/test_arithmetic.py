"""Arithmetic never broadcasts to more values than its operands: ``(N, 1) - (N,)`` is an error, not ``(N, N)``."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import torch
from term_cases import ROWS, Row

import losslang
from losslang.registry import REGISTRY
from losslang.terms import arithmetic
from losslang.terms.precision import computes_in_float32

N = 5
COLUMN, ROW = torch.randn(N, 1), torch.randn(N)  # the classic slip: a (N, 1) prediction against (N,) targets
OPERATORS = ["+", "-", "*", "/", "**", "<", "<=", ">", ">=", "==", "!="]


@pytest.mark.parametrize("op", OPERATORS)
def test_an_operator_between_an_n_by_1_and_an_n_vector_is_an_error_naming_the_shapes(op: str) -> None:
    loss = losslang.compile(f"diff = sum(p {op} y); diff")
    with pytest.raises(losslang.LossShapeError) as caught:
        loss(p=COLUMN, y=ROW)
    message = str(caught.value)
    assert message.startswith(f"term 'diff': '{op}': the left operand of shape (5, 1) and the right operand")
    assert "of shape (5,) broadcast to (5, 5), more values than either; make the shapes match" in message


def test_the_silent_mean_squared_error_by_hand_is_refused_and_the_matching_one_is_the_mse_term() -> None:
    loss = losslang.compile("mean((p - y)**2)")
    with pytest.raises(losslang.LossShapeError, match=r"'-': the left operand of shape \(5, 1\)"):
        loss(p=COLUMN, y=ROW)
    by_hand = loss(p=COLUMN[:, 0], y=ROW).total
    torch.testing.assert_close(by_hand, torch.nn.functional.mse_loss(COLUMN[:, 0], ROW))


@pytest.mark.parametrize(
    ("formula", "shapes", "reference"),
    [
        ("mean(p * w)", [(N, 3), (3,)], lambda p, w: p * w),  # a weight per class
        ("mean(p * w)", [(N, 3), (N, 1)], lambda p, w: p * w),  # a weight per sample
        ("mean(p - w)", [(N, 3), ()], lambda p, w: p - w),  # a 0-d tensor
        ("mean(p + w)", [(1, 1), (N,)], lambda p, w: p + w),  # (1, N): as many values as the larger operand
        ("mean(p * (w > 0))", [(N, 3), (N, 3)], lambda p, w: p * (w > 0)),  # a mask
        ("mean(p - w)", [(0, 1), (0,)], lambda p, w: p - w),  # (0, 0): an empty batch has no values to multiply
    ],
)
def test_broadcasts_that_keep_one_operands_values_are_torchs(
    formula: str, shapes: list[tuple[int, ...]], reference: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
) -> None:
    p, w = (torch.randn(shape) for shape in shapes)
    total = losslang.compile(formula)(p=p, w=w).total
    torch.testing.assert_close(total, reference(p, w).mean(), equal_nan=True)


@pytest.mark.parametrize(
    ("formula", "what", "names"),
    [
        ("mean(p, y)", "mean()", "argument 1 of shape (5, 1) and argument 2 of shape (5,)"),
        ("sum(p, y)", "sum()", "argument 1 of shape (5, 1) and argument 2 of shape (5,)"),
        ("max(p, y)", "max()", "argument 1 of shape (5, 1) and argument 2 of shape (5,)"),
        ("min(y, y, p)", "min()", "argument 1 of shape (5,) and argument 2 of shape (5,) and argument 3"),
        ("minimum(p, y)", "minimum()", "x of shape (5, 1) and y of shape (5,)"),
        ("maximum(p, y)", "maximum()", "x of shape (5, 1) and y of shape (5,)"),
        ("where(p > 0, y, 0)", "where()", "condition of shape (5, 1) and x of shape (5,) and y of shape ()"),
    ],
)
def test_element_wise_functions_refuse_the_same_broadcast(formula: str, what: str, names: str) -> None:
    loss = losslang.compile(f"t = mean({formula}); t")
    with pytest.raises(losslang.LossShapeError) as caught:
        loss(p=COLUMN, y=ROW)
    assert str(caught.value).startswith(f"term 't': {what}: {names}")
    assert "broadcast to (5, 5)" in str(caught.value)


def test_arithmetic_with_one_value_keeps_torchs_operator_and_the_rest_checks_shapes() -> None:
    loss = losslang.compile("0.5*mse(p, y) + step*mae(p, y) + uncertainty(mse(p, y), mae(p, y)) + mean(p - y)")
    code = loss.code
    assert "losslang_terms_arithmetic_sub(p, y)" in code  # two tensors of any shape: checked
    assert code.count("losslang_terms_arithmetic_") == 1  # every other operand is one value: plain operators
    assert "mul = 0.5 * mse" in code


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_every_built_in_loss_that_reduces_gives_one_value(row: Row, reduction: str) -> None:
    # The compiler leaves arithmetic with such a term unchecked (it cannot broadcast): this holds it to that.
    spec = REGISTRY.lookup(row.term)
    assert spec is not None and computes_in_float32(spec.fn)
    args, options = row.make(N)
    if row.pre is not None:
        args = (row.pre(args[0]), *args[1:])
    assert spec.fn(*args, reduction=reduction, **options).numel() == 1


def test_the_checked_operators_are_torchs_where_shapes_match() -> None:
    a, b = torch.randn(3, 2), torch.rand(3, 2) + 0.5
    for symbol, checked in arithmetic.OPERATORS.items():
        plain = {"+": a + b, "-": a - b, "*": a * b, "/": a / b, "**": b**a, "<": a < b, "<=": a <= b}
        plain |= {">": a > b, ">=": a >= b, "==": a == b, "!=": a != b}
        left, right = (b, a) if symbol == "**" else (a, b)
        torch.testing.assert_close(checked(left, right), plain[symbol])


@pytest.mark.parametrize("operand", ["mse(p, y)", "p"], ids=["one-value", "tensor"])
def test_a_term_used_twice_in_the_next_compiles_in_linear_time(operand: str) -> None:
    # Deciding whether an operand is one value walked each use of a term: 2**24 walks here, half a minute.
    lines = [f"t0 = {operand}", *(f"t{i} = t{i - 1} * t{i - 1}" for i in range(1, 25)), "mean(t24)"]
    losslang.compile("a = 1 * p\na")  # the parser and torch.fx are warm
    started = time.perf_counter()
    loss = losslang.compile("\n".join(lines))
    assert time.perf_counter() - started < 2.0
    assert loss.code.count("losslang_terms_arithmetic_mul") == (0 if operand == "mse(p, y)" else 24)
