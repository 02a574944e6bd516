"""transpose, permute, flatten, unflatten, reshape, movedim, squeeze, unsqueeze, expand, and None indexing."""

from __future__ import annotations

import pytest
import torch
from vocabulary import matches_torch

import losslang

X = lambda: {"x": torch.randn(2, 3, 4, dtype=torch.float64)}  # noqa: E731


@pytest.mark.parametrize(
    ("formula", "reference"),
    [
        ("transpose(x, 1, 2) * w", lambda x, w: x.transpose(1, 2) * w),
        ("permute(x, 2, 0, 1) * v", lambda x, v: x.permute(2, 0, 1) * v),
        ("permute(x, [2, 0, 1]) * v", lambda x, v: x.permute(2, 0, 1) * v),
        ("flatten(x, 1) * u", lambda x, u: x.flatten(1) * u),
        ("unflatten(flatten(x, 1), 1, [3, 4]) * x", lambda x: x * x),
        (
            "reshape(x, -1, 4)[:, 0] * reshape(x, [6, 4])[:, 1]",
            lambda x: x.reshape(-1, 4)[:, 0] * x.reshape(6, 4)[:, 1],
        ),
        ("movedim(x, -1, 0) * v", lambda x, v: x.movedim(-1, 0) * v),
        ("squeeze(x[:, :1], 1) ** 2", lambda x: x[:, :1].squeeze(1) ** 2),
        ("unsqueeze(x, 1) - x[:, None, 0]", lambda x: x.unsqueeze(1) - x[:, None, 0]),
        ("expand(x[:, :1], -1, 3, -1) * x", lambda x: x[:, :1].expand(-1, 3, -1) * x),
        ("x[:, None] - x[None]", lambda x: x[:, None] - x[None]),
        ("x[..., None, 1:3] * 2", lambda x: x[..., None, 1:3] * 2),
    ],
)
def test_shapes_match_torch_in_value_and_gradient(formula: str, reference) -> None:
    inputs = {
        **X(),
        "w": torch.randn(2, 4, 3, dtype=torch.float64),
        "v": torch.randn(4, 2, 3, dtype=torch.float64),
        "u": torch.randn(2, 12, dtype=torch.float64),
    }
    used = {name: value for name, value in inputs.items() if name in reference.__code__.co_varnames}
    matches_torch(formula, used, reference)


def test_an_inserted_axis_marks_a_pairwise_difference_as_meant_but_an_accidental_broadcast_stays_refused() -> None:
    pairwise = losslang.compile("mean((d[:, :, None] - d[:, None, :]) ** 2)")
    d = torch.randn(3, 5)
    torch.testing.assert_close(pairwise(d=d).total, ((d[:, :, None] - d[:, None, :]) ** 2).mean())
    with pytest.raises(losslang.LossShapeError, match="broadcast to \\(3, 3\\), more values than either"):
        losslang.compile("mean((p - y) ** 2)")(p=torch.randn(3, 1), y=torch.randn(3))
    named = losslang.compile("a = unsqueeze(p, 1); mean(a - y)")  # through a named term too
    assert named(p=torch.randn(3), y=torch.randn(4)).total.shape == ()


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("sum(transpose(x, 1, 5))", "the total failed in transpose\\(\\): IndexError: Dimension out of range"),
        ("sum(reshape(x, 5, -1))", "shape '\\[5, -1\\]' is invalid for input of size 24"),
    ],
)
def test_a_bad_dimension_is_an_error_naming_the_term(formula: str, message: str) -> None:
    with pytest.raises(losslang.LossLangError, match=message):
        losslang.compile(formula)(X())


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("sum(transpose(x, 1.5, 2))", "argument 'dim0' of transpose() must be an integer, not the number 1.5"),
        ("sum(permute(x, 0, 1, 1))", "argument 'dims' of permute() names dimension 1 twice"),
        ("sum(transpose(x, 1))", "transpose() is missing argument 'dim1'"),
        ("sum(trnaspose(x, 1, 2))", "unknown function 'trnaspose' (did you mean 'transpose'?)"),
    ],
)
def test_bad_arguments_are_errors_at_their_position(formula: str, message: str) -> None:
    with pytest.raises(losslang.LossArityError if "unknown" not in message else losslang.LossNameError) as caught:
        losslang.compile(formula)
    assert message in str(caught.value) and caught.value.line == 1
