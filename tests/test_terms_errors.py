"""Bad inputs to terms: each a LossLangError naming the term, the arguments and what was expected."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor

import losslang
from losslang.registry import REGISTRY


def ones(*shape: int, dtype: torch.dtype = torch.float32) -> Tensor:
    return torch.ones(*shape, dtype=dtype)


LONG = torch.int64
ERRORS = [
    pytest.param(
        "mse",
        (ones(4, 3), ones(4, 1)),
        {},
        "LossShapeError",
        "mse(): pred has shape (4, 3) but target has shape (4, 1); they must match",
        id="shape-mismatch",
    ),
    pytest.param(
        "mse",
        (ones(4, 3), ones(4, 3, dtype=torch.float64)),
        {},
        "LossShapeError",
        "mse(): pred is torch.float32 but target is torch.float64; convert one, e.g. target.to(pred.dtype)",
        id="dtype-mismatch",
    ),
    pytest.param(
        "huber",
        (ones(4, dtype=LONG), ones(4, dtype=LONG)),
        {},
        "LossShapeError",
        "huber(): pred must be a floating-point tensor, not torch.int64",
        id="integer-prediction",
    ),
    pytest.param(
        "margin_ranking",
        (ones(4), ones(4), ones(5)),
        {},
        "LossShapeError",
        "margin_ranking(): x1 has shape (4,) but target has shape (5,); they must match",
        id="third-argument-named",
    ),
    pytest.param(
        "cross_entropy",
        (ones(4, 3), ones(4)),
        {},
        "LossShapeError",
        "cross_entropy(): target of shape (4,) holds class indices, so it must be an integer tensor, "
        "not torch.float32; e.g. target.long()",
        id="cross_entropy-float-class-indices",
    ),
    pytest.param(
        "cross_entropy",
        (ones(4, 3), ones(4, 3, dtype=LONG)),
        {},
        "LossShapeError",
        "cross_entropy(): target of shape (4, 3) holds class probabilities, so it must be floating point, "
        "not torch.int64",
        id="cross_entropy-integer-probabilities",
    ),
    pytest.param(
        "cross_entropy",
        (ones(4, 3), ones(5, dtype=LONG)),
        {},
        "LossShapeError",
        "cross_entropy(): logits have shape (4, 3) but target has shape (5,); expected class indices of shape (4,) "
        "or probabilities of shape (4, 3)",
        id="cross_entropy-shape",
    ),
    pytest.param(
        "cross_entropy",
        (ones(4, 3), ones(4, dtype=LONG)),
        {"weight": ones(4)},
        "LossShapeError",
        "cross_entropy(): weight holds one weight per class, shape (3,), not (4,); to drop samples use mask=",
        id="cross_entropy-per-sample-weight",
    ),
    pytest.param(
        "cross_entropy",
        (ones(4, 3), ones(4, dtype=LONG)),
        {"weight": ones(3, dtype=torch.float64)},
        "LossShapeError",
        "cross_entropy(): logits is torch.float32 but weight is torch.float64; "
        "convert it, e.g. weight.to(logits.dtype)",
        id="cross_entropy-class-weight-dtype",
    ),
    pytest.param(
        "multi_margin",
        (ones(4, 3), ones(4, dtype=LONG)),
        {"weight": ones(3, dtype=torch.float64)},
        "LossShapeError",
        "multi_margin(): pred is torch.float32 but weight is torch.float64; convert it, e.g. weight.to(pred.dtype)",
        id="multi_margin-class-weight-dtype",
    ),
    pytest.param(
        "bce",
        (ones(4), ones(4, dtype=LONG)),
        {},
        "LossShapeError",
        "bce(): probs is torch.float32 but target is torch.int64; convert one, e.g. target.to(probs.dtype)",
        id="bce-integer-target",
    ),
    pytest.param(
        "nll",
        (ones(4, 3), ones(4, 3)),
        {},
        "LossShapeError",
        "nll(): log_probs have shape (4, 3) but target has shape (4, 3); expected class indices of shape (4,)",
        id="nll-probabilities",
    ),
    pytest.param(
        "multi_margin",
        (ones(4, 3), ones(4)),
        {},
        "LossShapeError",
        "multi_margin(): target of shape (4,) holds class indices, so it must be an integer tensor, "
        "not torch.float32; e.g. target.long()",
        id="multi_margin-float-target",
    ),
    pytest.param(
        "ctc",
        (ones(6, 4, 3), ones(4, 2), ones(4, dtype=LONG), ones(4, dtype=LONG)),
        {},
        "LossShapeError",
        "ctc(): targets hold class indices, so they must be integers, not torch.float32",
        id="ctc-float-targets",
    ),
    pytest.param(
        "ctc",
        (ones(6, 4, 3), ones(4, 2, dtype=torch.complex64), ones(4, dtype=LONG), ones(4, dtype=LONG)),
        {},
        "LossShapeError",
        "ctc(): targets hold class indices, so they must be integers, not torch.complex64",
        id="ctc-complex-targets",
    ),
    pytest.param(
        "ctc",
        (ones(6, 4, 3), ones(4, 2, dtype=LONG), ones(3, dtype=LONG), ones(4, dtype=LONG)),
        {},
        "LossShapeError",
        "ctc(): input_lengths has shape (3,) but log_probs of shape (6, 4, 3) hold 4 sequences; "
        "give one length per sequence, shape (4,)",
        id="ctc-lengths-shape",
    ),
    pytest.param(
        "ctc",
        (ones(6, 4, 3), ones(4, 2, dtype=LONG), ones(4, dtype=LONG), ones(4)),
        {},
        "LossShapeError",
        "ctc(): target_lengths hold lengths, so they must be integers, not torch.float32",
        id="ctc-float-lengths",
    ),
    pytest.param(
        "ctc",
        (ones(6), ones(4, 2, dtype=LONG), ones(4, dtype=LONG), ones(4, dtype=LONG)),
        {},
        "LossShapeError",
        "ctc(): log_probs must have shape (T, N, C) or (T, C), not (6,)",
        id="ctc-log_probs-shape",
    ),
    pytest.param(
        "cosine_embedding",
        (ones(4, 3), ones(4, 3), ones(3)),
        {},
        "LossShapeError",
        "cosine_embedding(): target holds one label per sample, shape (4,), not (3,)",
        id="cosine_embedding-labels",
    ),
    pytest.param(
        "mse",
        (ones(4, 3), ones(4, 3)),
        {"weight": ones(3)},
        "LossShapeError",
        "mse(): weight of shape (3,) does not fit the loss of shape (4, 3): losslang lines weight up with the loss's "
        "first dimensions, each size the loss's or 1; give one value per sample, (4,), or (1, 3) for the last "
        "dimensions, or the loss's own shape (4, 3)",
        id="weight-shape",
    ),
    pytest.param(
        "mae",
        (ones(4, 3), ones(4, 3)),
        {"mask": ones(4)},
        "LossShapeError",
        "mae(): mask must be a boolean tensor, not torch.float32; e.g. mask > 0",
        id="mask-dtype",
    ),
    pytest.param(
        "gaussian_nll",
        (ones(4, 3), ones(4, 3), ones(3)),
        {},
        "LossShapeError",
        "gaussian_nll(): var of shape (3,) does not fit the loss of shape (4, 3): losslang lines var up with the "
        "loss's first dimensions, each size the loss's or 1; give one value per sample, (4,), or (1, 3) for the last "
        "dimensions, or the loss's own shape (4, 3)",
        id="gaussian_nll-var",
    ),
    pytest.param(
        "bce_with_logits",
        (ones(4, 3), ones(4, 3)),
        {"pos_weight": ones(2)},
        "LossShapeError",
        "bce_with_logits(): logits of shape (4, 3) and pos_weight of shape (2,) do not broadcast together",
        id="pos_weight",
    ),
    pytest.param(
        "sin_angle",
        (ones(4, 3), ones(4, 3)),
        {"dim": 2},
        "LossShapeError",
        "sin_angle(): dim=2 is out of range for vectors of shape (4, 3)",
        id="dim-out-of-range",
    ),
    pytest.param(
        "dot",
        (ones(4, 3), ones(2)),
        {},
        "LossShapeError",
        "dot(): x of shape (4, 3) and y of shape (2,) do not broadcast together",
        id="dot-broadcast",
    ),
    pytest.param(
        "dot",
        (ones(4, 3), ones(4, 3, dtype=torch.float64)),
        {},
        "LossShapeError",
        "dot(): x is torch.float32 but y is torch.float64; convert one, e.g. y.to(x.dtype)",
        id="dot-dtype",
    ),
    pytest.param(
        "quantile",
        (ones(4), ones(4)),
        {"q": 1.5},
        "LossArityError",
        "quantile(): q must be between 0 and 1, not 1.5",
        id="quantile-q",
    ),
    pytest.param(
        "multi_margin",
        (ones(4, 3), ones(4, dtype=LONG)),
        {"p": 3},
        "LossArityError",
        "multi_margin(): p must be 1 or 2, not 3",
        id="multi_margin-p",
    ),
]


@pytest.mark.parametrize(("name", "args", "options", "error", "message"), ERRORS)
def test_term_errors_are_exact(
    name: str, args: tuple[Tensor, ...], options: dict[str, Any], error: str, message: str
) -> None:
    with pytest.raises(losslang.LossLangError) as caught:
        REGISTRY.lookup(name).fn(*args, **options)  # type: ignore[union-attr]
    assert type(caught.value).__name__ == error
    assert str(caught.value) == message


def test_shape_error_from_a_compiled_loss_names_the_term_and_both_shapes() -> None:
    loss = losslang.compile("mse(pred, y) + 0.1 * cross_entropy(logits, labels)")
    batch = {"pred": torch.zeros(4, 3), "y": torch.zeros(4, 1), "logits": torch.zeros(4, 5), "labels": torch.zeros(4)}
    with pytest.raises(ValueError, match=r"mse\(\): pred has shape \(4, 3\) but target has shape \(4, 1\)"):
        loss(batch)
    batch["y"] = torch.zeros(4, 3)
    with pytest.raises(losslang.LossShapeError, match=r"cross_entropy\(\): target of shape \(4,\) holds class indices"):
        loss(batch)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        pytest.param(
            "sum(x, dim=1.5)",
            "argument 'dim' of sum() must be an integer or a list of integers, not the number 1.5",
            id="dims-number",
        ),
        pytest.param(
            "norm(x, dim=[0, 0.5])",
            "argument 'dim' of norm() must be an integer or a list of integers, not the list [0, 0.5]",
            id="dims-list",
        ),
        pytest.param(
            'dice(p, y, dim="all")',
            "argument 'dim' of dice() must be an integer or a list of integers, not the string \"all\"",
            id="dims-string",
        ),
        pytest.param(
            "mean(clamp(x, min=y))",
            "argument 'min' of clamp() must be a number, not the tensor y",
            id="clamp-bound-is-a-number",
        ),
        pytest.param(
            'kl_div(x, y, reduction="batch")',
            'argument \'reduction\' of kl_div() must be one of "mean", "sum", "none", "batchmean", '
            'not the string "batch"',
            id="kl_div-reduction",
        ),
    ],
)
def test_checker_rejects_bad_options_of_new_terms(source: str, message: str) -> None:
    with pytest.raises(losslang.LossArityError) as caught:
        losslang.compile(source)
    assert message in str(caught.value)
