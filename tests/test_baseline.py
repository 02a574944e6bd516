from __future__ import annotations

import pytest
import torch

import losslang
from losslang.baseline import plain_sum


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("uncertainty(mse(p, y), mae(p, y))", "mse(p, y) + mae(p, y)"),
        (
            "0.5*lr_annealing(mse(p, 0), mae(p, y), keep=0.5, every=3) + huber(p, y)",
            "0.5 * (mse(p, 0) + mae(p, y)) + huber(p, y)",
        ),
        (
            "a = mse(p, y); b = mae(p, y); dwa(a, b) - 2*softadapt(a, -b)",
            "a = mse(p, y)\nb = mae(p, y)\na + b - 2 * (a + -b)",
        ),
        ("s = relobralo(mse(p, y), mae(p, y)); l1 = mae(p, y); s", "s = mse(p, y) + mae(p, y)\nl1 = mae(p, y)\ns"),
    ],
)
def test_every_scheme_call_becomes_the_sum_of_its_terms(source: str, expected: str) -> None:
    assert str(plain_sum(losslang.compile(source))) == expected


def test_the_baseline_keeps_the_term_names_inputs_and_options_and_sums_the_terms() -> None:
    loss = losslang.LossModule("r = mse(p, 0); gradnorm(r, mae(q, y))", inputs={"q": "pred"}, nan_policy="skip")
    baseline = plain_sum(loss)
    assert baseline.inputs == loss.inputs and baseline.nan_policy == "skip"
    batch = {"p": torch.tensor([1.0, 2.0]), "pred": torch.tensor([0.0, 1.0]), "y": torch.tensor([1.0, 1.0])}
    out = baseline(batch)
    assert {name for name in loss.term_names if not name.startswith("weight/")} == set(baseline.term_names)
    assert float(out.total) == pytest.approx(2.5 + 0.5)
    assert not any(name.startswith("weight/") for name in out)


def test_a_yaml_weighting_section_is_replaced_too() -> None:
    loss = losslang.load(
        {"loss": {"terms": {"a": "mse(p, y)", "b": "mae(p, y)"}, "weighting": {"method": "dwa", "terms": ["a", "b"]}}},
        key="loss",
    )
    assert str(plain_sum(loss)).splitlines()[-1] == "a + b"


def test_a_loss_without_a_scheme_has_no_baseline() -> None:
    with pytest.raises(
        losslang.LossConfigError, match=r"no weighting scheme to replace by a plain sum: 2 \* mse\(p, y\)"
    ):
        plain_sum(losslang.compile("2*mse(p, y)"))
