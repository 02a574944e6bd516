"""Tensor indexing, gather, take_along_dim, index_select, scatter and index_put: against torch, gradients included."""

from __future__ import annotations

import pytest
import torch
from vocabulary import matches_torch

import losslang


def randn(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64)


B, A, GJ, GI = torch.tensor([0, 1, 1]), torch.tensor([2, 0, 1]), torch.tensor([1, 0, 3]), torch.tensor([0, 2, 1])


@pytest.mark.parametrize(
    ("formula", "inputs", "reference"),
    [
        (
            "p[b, a, gj, gi]",
            {"p": randn(2, 3, 4, 4), "b": B, "a": A, "gj": GJ, "gi": GI},
            lambda p, b, a, gj, gi: p[b, a, gj, gi],
        ),
        ("x[:, idx]", {"x": randn(3, 5), "idx": torch.tensor([4, 0, 0])}, lambda x, idx: x[:, idx]),
        ("x[x > 0]", {"x": randn(4, 3)}, lambda x: x[x > 0]),
        ("x[m]", {"x": randn(4, 3), "m": torch.tensor([True, False, True, True])}, lambda x, m: x[m]),
        ("gather(x, 1, i)", {"x": randn(3, 4), "i": torch.tensor([[1], [3], [0]])}, lambda x, i: torch.gather(x, 1, i)),
        (
            "take_along_dim(x, i, 1)",
            {"x": randn(3, 4), "i": torch.tensor([[1], [3], [0]])},
            lambda x, i: torch.take_along_dim(x, i, 1),
        ),
        (
            "index_select(x, 0, i)",
            {"x": randn(3, 4), "i": torch.tensor([2, 2, 0])},
            lambda x, i: torch.index_select(x, 0, i),
        ),
        (
            "scatter(x, 1, i, s)",
            {"x": randn(3, 4), "i": torch.tensor([[1], [3], [0]]), "s": randn(3, 1)},
            lambda x, i, s: torch.scatter(x, 1, i, s),
        ),
        (
            "scatter(x, 1, i, 2.0)",
            {"x": randn(3, 4), "i": torch.tensor([[1], [3], [0]])},
            lambda x, i: torch.scatter(x, 1, i, 2.0),
        ),
        (
            "index_put(x, [i], v)",
            {"x": randn(4), "i": torch.tensor([0, 2]), "v": randn(2)},
            lambda x, i, v: torch.index_put(x, (i,), v),
        ),
        (
            "index_put(x, [i, j], 1.0, accumulate=true)",
            {"x": randn(3, 3), "i": torch.tensor([0, 0]), "j": torch.tensor([1, 1])},
            lambda x, i, j: torch.index_put(x, (i, j), torch.tensor(1.0, dtype=x.dtype), accumulate=True),
        ),
    ],
)
def test_indexing_and_gathers_match_torch_in_value_and_gradient(formula: str, inputs: dict, reference) -> None:
    matches_torch(formula, inputs, reference)


def test_a_float_index_is_an_error_naming_the_term() -> None:
    with pytest.raises(losslang.LossLangError, match="failed in indexing: IndexError: tensors used as indices"):
        losslang.compile("sum(x[i])")(x=torch.randn(3), i=torch.tensor([0.0, 1.0]))


def test_index_put_needs_a_list_of_tensors() -> None:
    with pytest.raises(losslang.LossArityError, match="argument 'indices' of index_put\\(\\) must be a bracketed list"):
        losslang.compile("sum(index_put(x, i, 1.0))")
