from __future__ import annotations

import math

import pytest
import torch

import losslang
from losslang import schedules


def at(fn, step: int, *args: object, **kwargs: object) -> float:
    return fn(torch.tensor(step), *args, **kwargs).item()


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        pytest.param(0, 0.2, id="before-begin"),
        pytest.param(10, 0.2, id="at-begin"),
        pytest.param(15, 0.2 + 0.8 * 0.25, id="a-quarter"),
        pytest.param(30, 1.0, id="at-end"),
        pytest.param(10_000, 1.0, id="long-after"),
    ],
)
def test_ramp_boundaries(step: int, expected: float) -> None:
    assert at(schedules.ramp, step, 0.2, 1.0, 20, begin=10) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        pytest.param(0, 1.0, id="start"),
        pytest.param(5, 0.5 + 0.5 * math.cos(math.pi / 2), id="middle"),
        pytest.param(10, 0.0, id="end"),
        pytest.param(11, 0.0, id="after"),
    ],
)
def test_cosine_ramp_boundaries(step: int, expected: float) -> None:
    assert at(schedules.cosine_ramp, step, 1.0, 0.0, 10) == pytest.approx(expected, abs=1e-7)


def test_cosine_ramp_is_a_half_cosine_after_begin() -> None:
    values = [at(schedules.cosine_ramp, s, 2.0, 4.0, 8, begin=10) for s in (0, 10, 12, 14, 16, 18, 30)]
    expected = [2.0, 2.0, 2.0 + (1 - math.cos(math.pi / 4)), 3.0, 2.0 + (1 - math.cos(3 * math.pi / 4)), 4.0, 4.0]
    assert values == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("fn", [schedules.ramp, schedules.cosine_ramp])
def test_negative_ramp_length_is_an_error(fn) -> None:
    with pytest.raises(losslang.LossArityError) as caught:
        losslang.compile(f"{fn.__name__}(step, 0.0, 1.0, -10) * mse(p, y)")
    assert str(caught.value).splitlines()[0] == (
        f"line 1, column {len(fn.__name__) + 18}: argument 'steps' of {fn.__name__}() must be at least 0, not -10"
    )


def test_zero_length_ramp_is_a_step_function() -> None:
    assert [at(schedules.ramp, s, 0.0, 1.0, 0, begin=5) for s in (4, 5, 6)] == [0.0, 1.0, 1.0]


def test_exp_decay() -> None:
    assert at(schedules.exp_decay, 0, 3.0, 0.5) == 3.0
    assert at(schedules.exp_decay, 4, 3.0, 0.5) == pytest.approx(3.0 * math.exp(-2.0))


@pytest.mark.parametrize(("step", "expected"), [(0, 1.0), (9, 1.0), (10, 0.5), (19, 0.5), (20, 0.25), (99, 0.25)])
def test_piecewise_boundaries(step: int, expected: float) -> None:
    assert at(schedules.piecewise, step, [10, 20], [1.0, 0.5, 0.25]) == expected


def test_piecewise_needs_one_more_value() -> None:
    with pytest.raises(losslang.LossArityError, match="got 2 boundaries and 2 values"):
        schedules.piecewise(torch.tensor(0), [10, 20], [1.0, 0.5])


@pytest.mark.parametrize("boundaries", [[20, 10], [10, 10]], ids=["decreasing", "repeated"])
def test_piecewise_boundaries_must_increase(boundaries: list[int]) -> None:
    with pytest.raises(losslang.LossArityError, match="needs increasing boundaries"):
        schedules.piecewise(torch.tensor(0), boundaries, [1.0, 0.5, 0.25])


def test_schedules_return_floats_on_the_step_device() -> None:
    value = schedules.ramp(torch.tensor(3), 0.0, 1.0, 10)
    assert value.dtype == torch.get_default_dtype() and value.dim() == 0


def test_kl_warm_up_in_a_formula() -> None:
    loss = losslang.compile("recon + ramp(step, 0, 1, 4)*kl")
    batch = {"recon": torch.tensor(1.0), "kl": torch.tensor(2.0)}
    totals = [loss(batch).total.item() for _ in range(6)]
    assert totals == [1.0, 1.5, 2.0, 2.5, 3.0, 3.0]
    assert loss.term_names == ("recon", "kl")


def test_named_schedule_is_reported() -> None:
    loss = losslang.compile("w = cosine_ramp(step, 0, 1, 2); mse(p, y) + w*mae(p, y)")
    out = loss(p=torch.ones(1), y=torch.zeros(1), step=1)
    assert out["w"].item() == pytest.approx(0.5)
    assert out.total.item() == pytest.approx(1.5)


def test_piecewise_in_a_formula() -> None:
    loss = losslang.compile("piecewise(step, [1, 2], [1.0, 10.0, 100.0]) * mse(p, y)")
    totals = [loss(p=torch.ones(1), y=torch.zeros(1)).total.item() for _ in range(3)]
    assert totals == [1.0, 10.0, 100.0]
