from __future__ import annotations

import pickle

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import losslang
from losslang.integrations import TrainerLossFn

FORMULA = "fit = mse(output, y); l1 = mae(output, y); fit"


def test_tuple_batch_is_named_and_the_model_runs_on_x() -> None:
    model = nn.Linear(3, 1)
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    loss, metrics = losslang.as_loss_fn(losslang.compile(FORMULA))((x, y), model)
    torch.testing.assert_close(loss, F.mse_loss(model(x), y))
    assert loss.requires_grad
    assert list(metrics) == ["total", "fit", "l1"]
    assert all(type(value) is float for value in metrics.values())
    assert metrics["l1"] == pytest.approx(F.l1_loss(model(x), y).item())


@pytest.mark.parametrize(
    ("batch", "kwargs"),
    [
        pytest.param(lambda x, y: [x, y], {}, id="list"),
        pytest.param(lambda x, y: {"x": x, "y": y}, {}, id="mapping"),
        pytest.param(lambda x, y: (y, x), {"inputs": ("target", "features"), "model_input": "features"}, id="names"),
    ],
)
def test_batch_forms(batch, kwargs) -> None:
    x, y = torch.randn(4, 2), torch.randn(4, 2)
    formula = "mse(output, target)" if "inputs" in kwargs else "mse(output, y)"
    loss, _ = losslang.as_loss_fn(losslang.compile(formula), **kwargs)(batch(x, y), nn.Identity())
    torch.testing.assert_close(loss, F.mse_loss(x, y))


def test_prefix_output_name_and_dotted_model_results() -> None:
    class Dict(nn.Module):
        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"logits": 2 * x}

    loss_fn = losslang.as_loss_fn(losslang.compile("mse(out.logits, y)"), output="out", prefix="train/")
    _, metrics = loss_fn((torch.ones(2), torch.zeros(2)), Dict())
    assert metrics == {"train/total": 4.0, "train/mse(out.logits, y)": 4.0}


def test_model_input_none_gives_the_model_the_whole_batch() -> None:
    class Pinn(nn.Module):
        def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
            return batch["interior"] + batch["boundary"]

    loss_fn = losslang.as_loss_fn(losslang.compile("mean(output)"), model_input=None)
    loss, _ = loss_fn({"interior": torch.ones(3), "boundary": torch.ones(3)}, Pinn())
    assert loss.item() == 2.0


def test_a_bare_tensor_batch_is_one_item() -> None:
    loss_fn = losslang.as_loss_fn(losslang.compile("mean(output ** 2)"), inputs=("x",))
    assert loss_fn(torch.full((3,), 2.0), nn.Identity())[0].item() == 4.0


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        pytest.param(
            (torch.ones(1), torch.ones(1), torch.ones(1)),
            "the batch has 3 items but inputs names 2: x, y; "
            "pass as_loss_fn(loss, inputs=(...)) with one name per item",
            id="too-many",
        ),
        pytest.param(
            torch.ones(1),
            "the batch has 1 item but inputs names 2: x, y; pass as_loss_fn(loss, inputs=(...)) with one name per item",
            id="bare-tensor",
        ),
        pytest.param(
            {"features": torch.ones(1), "y": torch.ones(1)},
            "the batch has no 'x' to call the model on; it has features, y; pass model_input=",
            id="no-model-input",
        ),
    ],
)
def test_batch_errors(batch, message: str) -> None:
    loss_fn = losslang.as_loss_fn(losslang.compile("mse(output, y)"))
    with pytest.raises(losslang.LossInputError) as caught:
        loss_fn(batch, nn.Identity())
    assert str(caught.value) == message
    assert isinstance(caught.value, losslang.LossLangError)


def test_loss_follows_the_model_mode_so_validation_keeps_the_step() -> None:
    loss = losslang.compile("mse(output, y) * ramp(step, 0.0, 1.0, 10)")
    loss_fn = losslang.as_loss_fn(loss)
    model = nn.Identity()
    batch = (torch.ones(1), torch.zeros(1))
    loss_fn(batch, model)
    model.eval()
    with torch.no_grad():
        loss_fn(batch, model)
    assert not loss.training and loss.step.item() == 1
    model.train()
    loss_fn(batch, model)
    assert loss.training and loss.step.item() == 2


def test_metrics_are_fetched_with_one_sync(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = torch.Tensor.tolist

    def counting(self: torch.Tensor) -> object:
        calls.append("tolist")
        return original(self)

    monkeypatch.setattr(torch.Tensor, "tolist", counting)
    monkeypatch.setattr(torch.Tensor, "item", lambda self: calls.append("item"))
    losslang.as_loss_fn(losslang.compile(FORMULA), sync=True)((torch.ones(2), torch.zeros(2)), nn.Identity())
    assert calls == ["tolist"]


def test_loss_fn_is_a_picklable_value() -> None:
    loss_fn = losslang.as_loss_fn(losslang.compile(FORMULA), prefix="p/")
    copy = pickle.loads(pickle.dumps(loss_fn))
    assert isinstance(copy, TrainerLossFn) and copy.prefix == "p/" and str(copy.loss) == str(loss_fn.loss)


def test_inputs_must_not_be_a_string() -> None:
    with pytest.raises(losslang.LossConfigError) as caught:
        losslang.as_loss_fn(losslang.compile("mse(output, y)"), inputs="xy")
    assert str(caught.value) == "inputs must be a sequence of names, e.g. ('x', 'y'), not the string 'xy'"


def test_the_issue_signature_attaches_the_model_for_gradient_balancing() -> None:
    model = nn.Linear(3, 1)
    loss = losslang.compile("gradnorm(mse(output, y), mae(output, y))")
    batch = (torch.randn(8, 3), torch.randn(8, 1))
    with pytest.raises(losslang.LossValueError, match=r"call loss\.attach\(model\)"):
        losslang.as_loss_fn(loss, inputs=("x", "y"))(batch, model)
    loss_fn = losslang.as_loss_fn(loss, model, inputs=("x", "y"))
    total, metrics = loss_fn(batch, model)
    total.backward()
    assert {"weight/mse(output, y)", "weight/mae(output, y)"} <= set(metrics)
    assert loss.body.gradnorm_0.shared == [p for p in model.parameters()]


def test_giving_the_model_keeps_grad_norms_reporting() -> None:
    model = nn.Linear(3, 1)
    loss = losslang.compile("mse(output, y)").attach(model, grad_norms=True)
    _, metrics = losslang.as_loss_fn(loss, model)((torch.randn(4, 3), torch.randn(4, 1)), model)
    assert "grad_norm/total" in metrics


def test_model_must_be_a_module() -> None:
    with pytest.raises(losslang.LossConfigError) as caught:
        losslang.as_loss_fn(losslang.compile("mse(output, y)"), lambda x: x)
    assert str(caught.value) == (
        "model must be the nn.Module the loss is attached to, not function; "
        "or leave it out: the trainer passes the model to every call"
    )
