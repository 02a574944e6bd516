"""nan_policy="skip": a non-finite term drops out of that step's total and dynamic weights, and is reported."""

from __future__ import annotations

import pickle

import pytest
import torch
from torch import nn

import losslang
from losslang.weighting import SCHEMES

NAN = float("nan")


def test_a_nan_term_adds_nothing_and_its_nan_gradient_does_not_leak() -> None:
    loss = losslang.compile("mse(p, y) + sqrt(mean(p - 5))", nan_policy="skip")
    p = torch.tensor([1.0, 2.0], requires_grad=True)
    out = loss(p=p, y=torch.zeros(2))
    out.total.backward()
    assert out.total.item() == pytest.approx(2.5)
    assert p.grad.tolist() == [1.0, 2.0]  # the gradient of mse alone; sqrt's NaN derivative stays out
    assert out["sqrt(mean(p - 5))"].item() == 0.0
    assert out["skipped/sqrt(mean(p - 5))"].item() == 1.0
    assert out["skipped/mse(p, y)"].item() == 0.0


def test_a_finite_step_reports_nothing_skipped_and_matches_propagate() -> None:
    source = "recon = mse(p, y); recon + 0.5 * mae(p, y)"
    batch = {"p": torch.randn(4, 3), "y": torch.randn(4, 3)}
    skipping, plain = losslang.compile(source, nan_policy="skip")(batch), losslang.compile(source)(batch)
    assert {name: value for name, value in skipping.metrics().items() if not name.startswith("skipped/")} == (
        plain.metrics()
    )
    assert [name for name in skipping if name.startswith("skipped/")] == ["skipped/recon", "skipped/mae(p, y)"]
    assert all(value == 0.0 for name, value in skipping.metrics().items() if name.startswith("skipped/"))


def test_the_default_propagates_nan_as_pytorch_does() -> None:
    out = losslang.compile("mse(p, y) + sqrt(mean(p - 5))")(p=torch.ones(2), y=torch.zeros(2))
    assert torch.isnan(out.total)
    assert not any(name.startswith("skipped/") for name in out)


def test_an_inner_term_is_dropped_and_the_outer_one_recomputed() -> None:
    loss = losslang.compile("both = mean(mae(p, y1), mae(p, y2)); both", nan_policy="skip")
    out = loss(p=torch.zeros(2), y1=torch.ones(2), y2=torch.tensor([1.0, NAN]))
    assert out.metrics()["skipped/mae(p, y2)"] == 1.0
    assert out.metrics()["skipped/both"] == 0.0
    assert out.total.item() == pytest.approx(0.5)  # the mean of mae(p, y1) = 1 and the dropped term's 0


def test_a_step_where_every_term_is_dropped_backpropagates_nothing() -> None:
    model = nn.Linear(2, 1)
    loss = losslang.compile("mse(pred, y)", nan_policy="skip")
    out = loss(pred=model(torch.ones(3, 2)), y=torch.full((3, 1), NAN))
    out.total.backward()
    assert out.total.item() == 0.0
    assert all(param.grad is None for param in model.parameters())


def test_infinity_is_skipped_too_and_check_finite_sees_the_cleaned_step() -> None:
    loss = losslang.compile("mse(p, y) + mean(log(p))", nan_policy="skip", check_finite=True)
    out = loss(p=torch.tensor([0.0, 1.0]), y=torch.zeros(2))
    assert out.metrics()["skipped/mean(log(p))"] == 1.0
    assert out.total.item() == pytest.approx(0.5)


def test_nan_policy_is_checked_and_survives_pickling() -> None:
    with pytest.raises(losslang.LossConfigError) as caught:
        losslang.compile("mse(p, y)", nan_policy="skp")  # type: ignore[arg-type]
    assert str(caught.value) == "nan_policy must be 'propagate' or 'skip', not 'skp' (did you mean 'skip'?)"
    restored = pickle.loads(pickle.dumps(losslang.compile("mse(p, y)", nan_policy="skip")))
    assert restored.nan_policy == "skip"
    assert "skipped/mse(p, y)" in restored(p=torch.ones(1), y=torch.zeros(1))


SCHEME_NAMES = [name for name, *_ in SCHEMES]


def _train(source: str, targets: list[torch.Tensor]) -> tuple[losslang.LossModule, list[dict[str, float]]]:
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    loss = losslang.compile(source, nan_policy="skip").attach(model)
    optimizer = torch.optim.SGD([*model.parameters(), *loss.parameters()], lr=0.01)
    x = torch.randn(8, 3, generator=torch.Generator().manual_seed(1))
    seen = []
    for y in targets:
        out = loss(pred=model(x), y=y)
        optimizer.zero_grad()
        out.total.backward()
        optimizer.step()
        seen.append(out.metrics())
    return loss, seen


@pytest.mark.parametrize("scheme", SCHEME_NAMES)
def test_a_dropped_term_leaves_every_scheme_as_if_the_step_had_not_happened(scheme: str) -> None:
    source = f"{scheme}(mse(pred, y), mae(pred, y), mean(pred ** 2))"
    good = [torch.randn(8, 2, generator=torch.Generator().manual_seed(seed)) for seed in range(6)]
    bad = good[3].clone()
    bad[0, 0] = NAN  # mse and mae go NaN; the third term stays finite
    with_bad, seen = _train(source, [*good[:3], bad])
    without, _ = _train(source, good[:3])
    assert seen[3]["skipped/mse(pred, y)"] == seen[3]["skipped/mae(pred, y)"] == 1.0
    assert seen[3]["skipped/mean(pred ** 2)"] == 0.0
    assert all(torch.isfinite(torch.tensor(list(metrics.values()))).all() for metrics in seen)
    state, expected = dict(with_bad.body.named_buffers()), dict(without.body.named_buffers())
    assert state.keys() == expected.keys()
    for name, value in expected.items():  # weights, counts, remembered losses
        assert torch.equal(state[name], value), name
    for learned, unmoved in zip(with_bad.parameters(), without.parameters(), strict=True):
        assert torch.equal(learned[:2], unmoved[:2])  # uncertainty: the dropped terms' log-variances


def test_dropped_terms_add_nothing_to_uncertainty_and_its_log_variance_gets_no_gradient() -> None:
    loss = losslang.compile("uncertainty(mse(p, y), sqrt(mean(p - 5)))", nan_policy="skip")
    out = loss(p=torch.full((2,), 2.0), y=torch.zeros(2))
    out.total.backward()
    assert out.total.item() == pytest.approx(4.0)  # exp(0) * mse + 0; the dropped term's + s_2 is gone too
    (log_variance,) = loss.parameters()
    assert log_variance.grad.tolist() == [-3.0, 0.0]  # d/ds (exp(-s) * 4 + s) = -3 at s = 0; s_2 untouched


@pytest.mark.slow
def test_skipping_works_under_torch_compile() -> None:
    source = "mse(p, y) + sqrt(mean(p - 5))"
    batch = {"p": torch.tensor([1.0, 2.0]), "y": torch.zeros(2)}
    compiled = losslang.compile(source, nan_policy="skip", compile=True)(batch)
    assert compiled.metrics() == losslang.compile(source, nan_policy="skip")(batch).metrics()
    assert compiled.metrics()["skipped/sqrt(mean(p - 5))"] == 1.0
