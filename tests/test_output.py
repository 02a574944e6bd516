"""LossOutput: the values of one call, read as floats with one sync, each in its own precision."""

from __future__ import annotations

import pytest
import torch

from losslang.output import LossOutput


@pytest.mark.parametrize(
    ("total_dtype", "value", "value_dtype"),
    [
        pytest.param(torch.float16, 2.5e6, torch.float32, id="float32-term-beyond-float16"),
        pytest.param(torch.bfloat16, 2049.0, torch.float32, id="count-beyond-bfloat16"),
        pytest.param(torch.float16, 2049, torch.int64, id="integer-count"),
        pytest.param(torch.float32, 1 + 2**-40, torch.float64, id="float64-term-beside-float32"),
        pytest.param(torch.bfloat16, 1e-30, torch.float32, id="float32-below-bfloat16-precision"),
    ],
)
def test_every_value_keeps_its_own_precision_until_it_is_a_float(total_dtype, value, value_dtype) -> None:
    out = LossOutput({"total": torch.tensor(1.0, dtype=total_dtype), "term": torch.tensor(value, dtype=value_dtype)})
    assert out.metrics()["term"] == float(torch.tensor(value, dtype=value_dtype))


def test_a_mask_and_a_reduction_none_term_report_their_mean() -> None:
    out = LossOutput({"total": torch.tensor(1.0), "mask": torch.tensor([True, False, True, True])})
    assert out.metrics()["mask"] == 0.75
