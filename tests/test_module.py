from __future__ import annotations

import copy
import io
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import losslang

MISSION = "0.5*mse(pred, y1) + sin_angle(pred, y) + mean(mae(pred, y1), mae(pred, y2))"


class HandWrittenMission(nn.Module):
    """The mission formula the way the tutorials write it."""

    def forward(self, pred: torch.Tensor, y: torch.Tensor, y1: torch.Tensor, y2: torch.Tensor) -> torch.Tensor:
        mse = torch.mean((pred - y1) ** 2)
        cos = torch.sum(pred * y, dim=1) / torch.sqrt(torch.sum(pred**2, dim=1) * torch.sum(y**2, dim=1))
        angle = torch.mean(torch.sin(torch.arccos(cos)))
        mae1 = torch.mean(torch.abs(pred - y1))
        mae2 = torch.mean(torch.abs(pred - y2))
        return 0.5 * mse + angle + (mae1 + mae2) / 2


def batch(dtype: torch.dtype = torch.float64) -> dict[str, torch.Tensor]:
    return {name: torch.randn(16, 3, dtype=dtype) for name in ("pred", "y", "y1", "y2")}


def test_mission_formula_matches_hand_written_module() -> None:
    data = {name: value.requires_grad_() for name, value in batch().items()}
    expected = HandWrittenMission()(**data)
    expected_grads = torch.autograd.grad(expected, list(data.values()))
    out = losslang.compile(MISSION)(data)
    grads = torch.autograd.grad(out.total, list(data.values()))
    torch.testing.assert_close(out.total, expected, atol=1e-6, rtol=1e-6)
    for name, grad, expected_grad in zip(data, grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, expected_grad, atol=1e-6, rtol=1e-6, msg=f"gradient with respect to {name}")


def test_mission_formula_reports_every_term() -> None:
    data = batch()
    out = losslang.compile(MISSION)(data)
    assert list(out) == [
        "total",
        "mse(pred, y1)",
        "sin_angle(pred, y)",
        "mae(pred, y1)",
        "mae(pred, y2)",
        "mean(mae(pred, y1), mae(pred, y2))",
    ]
    torch.testing.assert_close(out["mse(pred, y1)"], F.mse_loss(data["pred"], data["y1"]))
    torch.testing.assert_close(out["mae(pred, y2)"], F.l1_loss(data["pred"], data["y2"]))


def test_mindspore_multilabel_loss() -> None:
    # MAELossForMultiLabel: (mean|base - t1| + mean|base - t2|) / 2, by hand.
    base = torch.tensor([[0.1], [0.2], [0.3]])
    t1 = torch.tensor([[0.1], [0.2], [0.2]])
    t2 = torch.tensor([[0.3], [0.2], [0.1]])
    out = losslang.compile("mean(mae(base, t1), mae(base, t2))")(base=base, t1=t1, t2=t2)
    by_hand = ((0.0 + 0.0 + 0.1) / 3 + (0.2 + 0.0 + 0.2) / 3) / 2
    assert out.total.item() == pytest.approx(by_hand)
    assert out["mae(base, t1)"].item() == pytest.approx(0.1 / 3)


def test_codecademy_weighted_mse() -> None:
    y_pred = torch.tensor([3.0, 4.5, 2.1])
    y_true = torch.tensor([3.2, 4.0, 2.0])
    out = losslang.compile("0.5*mse(y_pred, y_true)")(y_pred=y_pred, y_true=y_true)
    assert out.total.item() == pytest.approx(0.05)


def test_mapping_and_keywords_combine() -> None:
    data = batch()
    loss = losslang.compile(MISSION)
    torch.testing.assert_close(
        loss(data).total, loss({"pred": data["pred"]}, y=data["y"], y1=data["y1"], y2=data["y2"]).total
    )


def test_dotted_names_read_nested_mappings() -> None:
    x, y = torch.randn(4), torch.randn(4)
    out = losslang.compile("mse(out.pred, batch.target.y)")({"out": {"pred": x}, "batch": {"target": {"y": y}}})
    torch.testing.assert_close(out.total, F.mse_loss(x, y))


def test_extra_batch_keys_are_ignored() -> None:
    x, y = torch.randn(4), torch.randn(4)
    for loss in (losslang.compile("mse(x, y)"), losslang.compile("mse(x, b.y)")):
        out = loss({"x": x, "y": y, "b": {"y": y, "z": "not a tensor"}, "ids": ["a", "b"]})
        torch.testing.assert_close(out.total, F.mse_loss(x, y))


def test_missing_input_lists_needed_and_given() -> None:
    loss = losslang.compile(MISSION)
    data = batch()
    data["y_1"] = data.pop("y1")
    with pytest.raises(losslang.LossInputError) as caught:
        loss(data)
    assert str(caught.value) == (
        "missing input 'y1' (did you mean 'y_1'?); the loss needs pred, y1, y, y2 and was given pred, y, y2, y_1"
    )


def test_missing_nested_input() -> None:
    with pytest.raises(losslang.LossInputError, match=r"missing input 'out\.logits'"):
        losslang.compile("mse(out.logits, y)")(out={"pred": torch.ones(1)}, y=torch.ones(1))


def test_unknown_term_in_output_suggests_the_closest() -> None:
    out = losslang.compile("recon = mse(p, y); recon")(p=torch.ones(1), y=torch.ones(1))
    with pytest.raises(losslang.LossNameError, match="did you mean 'recon'"):
        out["recn"]


def test_output_is_read_only() -> None:
    out = losslang.compile("mse(p, y)")(p=torch.ones(1), y=torch.ones(1))
    with pytest.raises(TypeError):
        out["total"] = torch.zeros(())  # type: ignore[index]


def test_metrics_are_floats_from_one_sync(monkeypatch: pytest.MonkeyPatch) -> None:
    out = losslang.compile(MISSION)(batch())
    calls: list[str] = []
    for method in ("item", "tolist", "__float__"):
        original = getattr(torch.Tensor, method)

        def counting(self: torch.Tensor, *args: object, _name: str = method, _original=original) -> object:
            calls.append(_name)
            return _original(self, *args)

        monkeypatch.setattr(torch.Tensor, method, counting)
    metrics = out.metrics(prefix="train/")
    assert calls == ["tolist"]
    assert set(metrics) == {f"train/{name}" for name in out}
    assert all(type(value) is float for value in metrics.values())


def test_unused_terms_are_metrics_without_gradient() -> None:
    loss = losslang.compile("recon = mse(pred, y)\nl1 = mae(pred, y)\nrecon")
    assert loss.metric_names == ("l1",)
    pred = torch.randn(5, requires_grad=True)
    out = loss(pred=pred, y=torch.randn(5))
    assert out["recon"].requires_grad and not out["l1"].requires_grad
    assert torch.is_grad_enabled()


def test_metrics_computed_under_no_grad_keep_outer_mode() -> None:
    loss = losslang.compile("l1 = mae(pred, y); mse(pred, y)")
    with torch.no_grad():
        loss(pred=torch.ones(2), y=torch.zeros(2))
        assert not torch.is_grad_enabled()
    assert torch.is_grad_enabled()


def test_total_must_be_a_scalar() -> None:
    with pytest.raises(losslang.LossShapeError, match=r"the total has shape \(3,\), not a scalar"):
        losslang.compile('mse(p, y, reduction="none")')(p=torch.ones(3), y=torch.zeros(3))


def test_step_advances_in_training_only_and_can_be_overridden() -> None:
    loss = losslang.compile("mse(p, y) * (1 + step)")
    p, y = torch.ones(1), torch.zeros(1)
    assert [loss(p=p, y=y).total.item() for _ in range(3)] == [1.0, 2.0, 3.0]
    loss.eval()
    assert loss(p=p, y=y).total.item() == 4.0 and int(loss.step) == 3
    loss.train()
    # step= changes only the value this call sees: the counter still counts the call
    assert loss(p=p, y=y, step=10).total.item() == 11.0 and int(loss.step) == 4
    assert loss({"p": p, "y": y, "step": 20}).total.item() == 21.0 and int(loss.step) == 5
    assert loss(p=p, y=y).total.item() == 6.0


@pytest.mark.parametrize(
    ("formula", "batch"),
    [
        pytest.param("mse(p, y)", {"step": 7}, id="batch-key-step-unread"),
        pytest.param("mse(p, step.x)", {"step": {"x": torch.zeros(1)}}, id="dotted-step-input"),
        pytest.param("mse(p, step.x) * (1 + step)", {"step": {"x": torch.zeros(1)}}, id="dotted-and-counter"),
    ],
)
def test_step_counter_advances_whatever_the_batch_holds(formula: str, batch: dict) -> None:
    loss = losslang.compile(formula)
    for _ in range(3):
        loss({"p": torch.ones(1), "y": torch.zeros(1), **batch})
    assert int(loss.step) == 3


@pytest.mark.parametrize("step", ["10", object(), [1, "a"]], ids=["string", "object", "mixed-list"])
def test_step_override_that_is_not_a_number_is_an_input_error(step: object) -> None:
    loss = losslang.compile("mse(p, y) * (1 + step)")
    with pytest.raises(losslang.LossInputError) as caught:
        loss(p=torch.ones(1), y=torch.zeros(1), step=step)
    assert str(caught.value) == f"step= must be a number or a tensor, not {step!r}"


def test_step_saved_for_backward_is_not_modified_in_place() -> None:
    loss = losslang.compile("mse(p * step, y)")
    p = torch.ones(2, requires_grad=True)
    out = loss(p=p, y=torch.zeros(2))
    out.total.backward()  # would fail if the step buffer were advanced in place
    assert p.grad is not None


def test_step_is_in_state_dict_and_resumes() -> None:
    loss = losslang.compile("mse(p, y) * step")
    for _ in range(5):
        loss(p=torch.ones(1), y=torch.zeros(1))
    fresh = losslang.compile("mse(p, y) * step")
    fresh.load_state_dict(loss.state_dict())
    assert int(fresh.step) == 5


def test_pickle_round_trip_keeps_state_and_mode() -> None:
    loss = losslang.compile(MISSION)
    loss(batch())
    loss.eval()
    clone = pickle.loads(pickle.dumps(loss))
    assert str(clone) == str(loss) and int(clone.step) == 1 and not clone.training
    data = batch()
    torch.testing.assert_close(clone(data).total, loss(data).total)


def test_pickle_stores_the_source_not_the_code() -> None:
    payload = pickle.dumps(losslang.compile(MISSION))
    assert MISSION.encode() in payload and b"def forward" not in payload


def test_torch_save_load_round_trip() -> None:
    loss = losslang.compile(MISSION)
    buffer = io.BytesIO()
    torch.save(loss, buffer)
    buffer.seek(0)
    restored = torch.load(buffer, weights_only=False)
    data = batch()
    torch.testing.assert_close(restored(data).total, loss(data).total)


def test_deepcopy_is_independent() -> None:
    loss = losslang.compile("mse(p, y) * step")
    clone = copy.deepcopy(loss)
    clone(p=torch.ones(1), y=torch.zeros(1))
    assert int(clone.step) == 1 and int(loss.step) == 0


def test_dtype_round_trip() -> None:
    loss = losslang.compile(MISSION).to(torch.float64)
    data32 = batch(torch.float32)
    data64 = {name: value.double() for name, value in data32.items()}
    assert loss(data64).total.dtype == torch.float64
    assert loss.to(torch.float32)(data32).total.dtype == torch.float32
    assert loss.step.dtype == torch.int64  # .to(dtype) leaves the counter an integer


LEARNED = "uncertainty(mse(p, y), mae(p, y)) + mse(p * step, y)"  # a learned parameter and the step counter


def trained(dtype: torch.dtype) -> losslang.LossModule:
    loss = losslang.compile(LEARNED).to(dtype)
    loss(p=torch.randn(4, dtype=dtype), y=torch.randn(4, dtype=dtype))
    with torch.no_grad():
        next(loss.parameters()).add_(0.5)
    return loss


@pytest.mark.parametrize(
    "clone", [copy.deepcopy, lambda loss: pickle.loads(pickle.dumps(loss))], ids=["deepcopy", "pickle"]
)
def test_copies_keep_dtype_parameters_and_step(clone) -> None:
    loss = trained(torch.float64)
    copied = clone(loss)
    state, copied_state = loss.state_dict(), copied.state_dict()
    assert list(copied_state) == list(state)
    tensors = [name for name, value in state.items() if torch.is_tensor(value)]
    assert tensors == ["step", "body.uncertainty_0.log_variance"]
    for name in tensors:
        assert copied_state[name].dtype == state[name].dtype
        torch.testing.assert_close(copied_state[name], state[name])
    data = {"p": torch.randn(4, dtype=torch.float64), "y": torch.randn(4, dtype=torch.float64)}
    torch.testing.assert_close(copied.eval()(data).total, loss.eval()(data).total)
    copied.to(torch.float32)
    assert next(loss.parameters()).dtype == torch.float64  # the copy is independent


def test_device_round_trip_moves_parameters_and_step() -> None:
    loss = trained(torch.float32).to("meta")  # a device every machine has
    assert loss.step.device.type == "meta" and next(loss.parameters()).device.type == "meta"
    p, y = torch.randn(4, device="meta"), torch.randn(4, device="meta")
    assert loss(p=p, y=y).total.device.type == "meta"
    assert loss(p=p, y=y, step=3).total.device.type == "meta"  # step= follows the counter's device


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_round_trip_matches_cpu() -> None:
    loss = trained(torch.float32)
    data = {"p": torch.randn(4), "y": torch.randn(4)}
    expected = copy.deepcopy(loss)(data, step=2).total
    on_gpu = loss.to("cuda")({name: value.cuda() for name, value in data.items()}, step=2).total
    torch.testing.assert_close(on_gpu.cpu(), expected)
    assert loss.to("cpu").step.device.type == "cpu"


def test_custom_terms_for_one_loss_only() -> None:
    def double(x: torch.Tensor) -> torch.Tensor:
        """Twice x."""
        return 2 * x

    loss = losslang.compile("double(mse(p, y))", terms={"double": double})
    assert loss(p=torch.ones(1), y=torch.zeros(1)).total.item() == 2.0
    with pytest.raises(losslang.LossNameError):
        losslang.compile("double(mse(p, y))")


def test_repr_str_code_and_attributes() -> None:
    loss = losslang.compile("recon = mse(pred,y)\n0.5*recon")
    assert str(loss) == "recon = mse(pred, y)\n0.5 * recon"
    assert repr(loss) == "LossModule('recon = mse(pred, y)\\n0.5 * recon')"
    assert loss.source == "recon = mse(pred,y)\n0.5*recon"
    assert loss.inputs == ("pred", "y")
    assert loss.term_names == ("recon",)
    assert "def forward(self, pred, y)" in loss.code


@pytest.mark.parametrize(
    ("source", "batch", "message"),
    [
        pytest.param(
            "a = mse(p, y); b = mae(q, y); b + a",
            {"p": [float("nan")], "q": [1.0], "y": [0.0]},
            "term 'a' is NaN; its input 'p' was already NaN or infinite",
            id="input-nan",
        ),
        pytest.param(
            "a = mse(p, y); b = mae(p, y); a + b",
            {"p": [1e30], "y": [0.0]},
            "term 'a' is infinite; its inputs were finite",
            id="overflow",
        ),
        pytest.param(
            "b = mean(log(q)); a = mse(p, y); a + b",
            {"p": [1.0], "q": [-1.0], "y": [0.0]},
            "term 'b' is NaN; its inputs were finite",
            id="first-in-evaluation-order",
        ),
        pytest.param(
            "a = mse(p, y); b = mae(q, y); a + 1e300 * 1e300 * b",
            {"p": [1.0], "q": [1.0], "y": [0.0]},
            None,
            id="constant-overflow-is-a-compile-error",
        ),
    ],
)
def test_check_finite_names_the_first_term_and_its_inputs(source: str, batch: dict, message: str | None) -> None:
    if message is None:
        with pytest.raises(losslang.LossValueError, match="has no finite real value"):
            losslang.compile(source, check_finite=True)
        return
    loss = losslang.compile(source, check_finite=True)
    with pytest.raises(losslang.LossValueError) as caught:
        loss({name: torch.tensor(values) for name, values in batch.items()})
    assert str(caught.value) == message


def test_torch_errors_inside_a_term_name_the_term() -> None:
    loss = losslang.compile("nll(p, y) + mse(q, z)")
    with pytest.raises(losslang.LossValueError) as caught:
        loss(p=torch.randn(3, 4), y=torch.tensor([0, 1, 9]), q=torch.ones(2), z=torch.ones(2))
    assert str(caught.value) == "term 'nll(p, y)' failed: IndexError: Target 9 is out of bounds."
    with pytest.raises(losslang.LossShapeError, match=r"the total failed: RuntimeError: The size of tensor a"):
        losslang.compile("mean(p + y)")(p=torch.ones(3), y=torch.ones(4))


def test_a_failing_metric_leaves_gradients_switched_on() -> None:
    loss = losslang.compile("l1 = mae(p, z); mse(p, y)")  # metrics run with gradients off
    with pytest.raises(losslang.LossShapeError, match="term 'l1': mae"):
        loss(p=torch.ones(2), y=torch.ones(2), z=torch.ones(3))
    assert torch.is_grad_enabled()
    with torch.no_grad(), pytest.raises(losslang.LossShapeError):
        loss(p=torch.ones(2), y=torch.ones(2), z=torch.ones(3))
    assert torch.is_grad_enabled()


@pytest.mark.parametrize("batch", [5, "py", [torch.ones(2)], torch.ones(2)], ids=lambda batch: type(batch).__name__)
def test_a_batch_that_is_not_a_mapping_is_an_input_error(batch: object) -> None:
    message = f"the batch must be a mapping from input names, not a {type(batch).__name__};"
    with warnings.catch_warnings(record=True) as warned, pytest.raises(losslang.LossInputError, match=message):
        warnings.simplefilter("always")
        losslang.compile("mse(p, y)")(batch)
    assert not warned  # and nothing else: indexing a tensor by name makes torch warn


@pytest.mark.slow
def test_torch_compile_matches_eager() -> None:
    data = batch(torch.float32)
    eager = losslang.compile(MISSION)
    compiled = losslang.compile(MISSION, compile=True)
    torch.testing.assert_close(compiled(data).total, eager(data).total)
    assert "_orig_mod" not in "".join(compiled.state_dict())


def test_grad_norms_match_autograd_and_leave_grad_alone() -> None:
    model = nn.Linear(3, 1)
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    loss = losslang.compile("recon = mse(pred, y); l1 = mae(pred, y); recon + 0.1*l1")
    out = loss(pred=model(x), y=y)
    norms = out.grad_norms(model)
    assert model.weight.grad is None
    for name in ("total", "recon", "l1"):
        grads = torch.autograd.grad(out[name], list(model.parameters()), retain_graph=True)
        expected = torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))
        assert norms[name] == pytest.approx(expected.item(), rel=1e-6)
    out.total.backward()
    assert model.weight.grad is not None


def test_grad_norms_leave_accumulated_grad_unchanged() -> None:
    model = nn.Linear(3, 1)
    loss = losslang.compile("mse(pred, y) + mae(pred, y)")
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    loss(pred=model(x), y=y).total.backward()
    before = [p.grad.clone() for p in model.parameters()]
    loss(pred=model(x), y=y).grad_norms(model)
    assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), before, strict=True))


def test_grad_norms_of_one_tensor() -> None:
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    out = losslang.compile("sum(w * w) / 2")(w=w)
    norms = out.grad_norms(w)  # not iterated into its entries, which are not in the graph
    assert norms == out.grad_norms([w]) and norms["total"] == 5.0


@pytest.mark.parametrize("params", [[], nn.Linear(2, 1).requires_grad_(False)], ids=["none", "frozen"])
def test_grad_norms_and_attach_need_parameters_that_require_grad(params: object) -> None:
    out = losslang.compile("mse(p, y)")(p=torch.ones(2, requires_grad=True), y=torch.zeros(2))
    with pytest.raises(losslang.LossValueError, match="requires grad: there is no gradient to take"):
        out.grad_norms(params)
    with pytest.raises(losslang.LossValueError, match="requires grad: there is no gradient to take"):
        losslang.compile("mse(p, y)").attach(params, grad_norms=True)


def test_grad_norms_after_backward_say_to_call_them_first() -> None:
    model = nn.Linear(2, 1)
    out = losslang.compile("mse(pred, y)")(pred=model(torch.ones(4, 2)), y=torch.zeros(4, 1))
    out.total.backward()
    with pytest.raises(losslang.LossValueError, match=r"call grad_norms\(\) before out.total.backward\(\)"):
        out.grad_norms(model)


def test_grad_norms_skip_metrics_and_weights() -> None:
    model = nn.Linear(2, 1)
    loss = losslang.compile("m = mae(pred, y); uncertainty(mse(pred, y), mse(pred, 2*y))")
    out = loss(pred=model(torch.ones(4, 2)), y=torch.ones(4, 1))
    assert set(out.grad_norms(model)) == {
        "total",
        "mse(pred, y)",
        "mse(pred, 2 * y)",
    }


def test_attach_reports_grad_norms_on_every_forward_only_with_grad() -> None:
    model = nn.Linear(2, 1)
    loss = losslang.compile("mse(pred, y) + 1000*mae(pred, y)").attach(model, grad_norms=True)
    out = loss(pred=model(torch.ones(4, 2)), y=torch.zeros(4, 1))
    assert out["grad_norm/mae(pred, y)"].item() > 0 and "grad_norm/total" in out
    out.total.backward()
    with torch.no_grad():
        assert not any(
            name.startswith("grad_norm/") for name in loss(pred=model(torch.ones(4, 2)), y=torch.zeros(4, 1))
        )


def test_attach_hands_parameters_to_weighting_schemes() -> None:
    model = nn.Linear(2, 1)
    loss = losslang.compile("uncertainty(mse(p, y), mae(p, y))").attach(model)
    assert loss.body.uncertainty_0.shared == list(model.parameters())


def test_metrics_sync_without_process_group_is_one_sync_and_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    out = losslang.compile(MISSION)(batch())
    expected = out.metrics(prefix="p/")
    calls: list[str] = []
    original = torch.Tensor.tolist

    def counting(self: torch.Tensor) -> object:
        calls.append("tolist")
        return original(self)

    monkeypatch.setattr(torch.Tensor, "tolist", counting)
    assert out.metrics(prefix="p/", sync=True) == expected
    assert out.metrics(prefix="p/", sync=True, op="sum") == expected
    assert calls == ["tolist", "tolist"]


@pytest.mark.parametrize("sync", [False, True])
def test_metrics_op_is_checked(sync: bool) -> None:
    out = losslang.compile("mse(p, y)")(p=torch.ones(1), y=torch.ones(1))
    with pytest.raises(losslang.LossConfigError) as caught:
        out.metrics(sync=sync, op="max")
    assert str(caught.value) == "op must be 'mean' or 'sum', not 'max'"


NOT_A_MAPPING = "the batch must be a mapping from input names, not a "
MISSING = "missing input '{y}'; the loss needs p, {y} and was given "


@pytest.mark.parametrize("source", ["mse(p, y)", "mse(p, out.y)"], ids=["flat", "dotted"])
@pytest.mark.parametrize(
    ("args", "keywords", "message"),
    [
        pytest.param((torch.ones(2),), {}, NOT_A_MAPPING + "Tensor", id="tensor"),
        pytest.param((np.ones(2),), {}, NOT_A_MAPPING + "ndarray", id="array"),
        pytest.param(([1.0],), {"p": torch.ones(1)}, NOT_A_MAPPING + "list", id="list-and-keywords"),
        pytest.param((), {"p": torch.ones(1)}, MISSING + "p", id="keywords"),
        pytest.param(({"p": torch.ones(1)},), {"q": 1}, MISSING + "p, q", id="mapping-and-keywords"),
    ],
)
def test_bad_batches_say_what_the_loss_needs(source: str, args: tuple, keywords: dict, message: str) -> None:
    loss = losslang.compile(source)
    y = loss.inputs[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's own, for a tensor indexed with a string
        with pytest.raises(losslang.LossInputError) as caught:
            loss(*args, **keywords)
    needs = f"; the loss needs p, {y}" if message.startswith(NOT_A_MAPPING) else ""
    assert str(caught.value) == message.format(y=y) + needs
    assert caught.value.__suppress_context__  # no KeyError from inside the module chained to it


def test_a_misspelt_term_is_suggested_when_read_as_a_missing_input() -> None:
    loss = losslang.compile("recon = mse(p, y)\n0.5*recn + mae(p, x)")
    with pytest.raises(losslang.LossInputError) as caught:
        loss(p=torch.ones(1), y=torch.ones(1), x=torch.ones(1))
    assert str(caught.value) == (
        "missing input 'recn' (did you mean the term 'recon'?); the loss needs p, y, recn, x and was given p, x, y"
    )


@pytest.mark.parametrize("scheme", ["dwa", "softadapt", "relobralo", "gradnorm", "lr_annealing"])
@pytest.mark.parametrize("failure", ["shape", "check_finite"])
def test_a_failed_call_leaves_every_scheme_state_and_the_step_as_they_were(scheme: str, failure: str) -> None:
    model = nn.Linear(3, 1)
    loss = losslang.compile(f"{scheme}(mse(out, y), mae(out, z)) + mae(out, w)", check_finite=True).attach(model)
    x = torch.randn(4, 3)

    def call(w: torch.Tensor) -> None:
        loss(out=model(x)[:, 0], y=torch.randn(4), z=torch.randn(4), w=w)

    for _ in range(3):
        call(torch.randn(4))
    before = {name: value.clone() for name, value in loss.state_dict().items() if torch.is_tensor(value)}
    counts = [m.step_count for m in loss.modules() if hasattr(m, "step_count")]
    bad = torch.randn(5) if failure == "shape" else torch.full((4,), float("nan"))
    with pytest.raises(losslang.LossLangError):
        call(bad)
    after = loss.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before), scheme
    assert [m.step_count for m in loss.modules() if hasattr(m, "step_count")] == counts


@pytest.mark.parametrize(
    ("formula", "batch", "message"),
    [
        (
            "p + y",
            {"p": 1.0, "y": 2.0},
            "the total is a float, not a tensor: inputs must be tensors ('p' is a float, 'y' is a float)",
        ),
        (
            "a = p * 2; a + mse(q, y)",
            {"p": 3, "q": torch.ones(1), "y": torch.zeros(1)},
            "term 'a' is an int, not a tensor: inputs must be tensors ('p' is an int)",
        ),
        (
            "mse(p, y)",
            {"p": [1.0, 2.0], "y": torch.zeros(2)},
            "inputs must be tensors ('p' is a list); wrap them in torch.tensor(...) (term 'mse(p, y)' failed: ",
        ),
        (
            "mse(p, y) + mae(p, y)",
            {"p": torch.ones(2), "y": None},
            "inputs must be tensors ('y' is None); wrap them in torch.tensor(...) (term 'mse(p, y)' failed: ",
        ),
    ],
    ids=["float-inputs", "int-summand", "list-into-a-term", "none-into-a-term"],
)
def test_non_tensor_values_are_input_errors(formula: str, batch: dict, message: str) -> None:
    with pytest.raises(losslang.LossInputError) as caught:
        losslang.compile(formula)(batch)
    assert str(caught.value).startswith(message)


def test_a_custom_term_that_returns_a_float_is_a_value_error() -> None:
    def floaty(p: torch.Tensor) -> torch.Tensor:
        return 1.5  # type: ignore[return-value]

    loss = losslang.compile("mse(p, y) + floaty(p)", terms={"floaty": floaty})
    with pytest.raises(
        losslang.LossValueError,
        match=r"term 'floaty\(p\)' is a float, not a tensor: a term function must return a tensor",
    ):
        loss(p=torch.ones(2), y=torch.zeros(2))


@pytest.mark.parametrize(
    "options", [{"check_finite": True}, {"nan_policy": "skip"}, {}], ids=["check_finite", "skip", "plain"]
)
def test_meta_tensors_have_shapes_and_no_values(options: dict) -> None:
    loss = losslang.compile("mse(p, y) + mae(p, y)", **options)
    out = loss(p=torch.empty(3, device="meta"), y=torch.empty(3, device="meta"))
    assert out.total.is_meta and "device='meta'" in repr(out)
    with pytest.raises(losslang.LossValueError, match="meta tensors: they have shapes but no values"):
        out.metrics()


@pytest.mark.parametrize("given", [None, 3, "model", [torch.ones(1), 2]], ids=["none", "int", "str", "mixed-list"])
def test_attach_something_that_is_not_parameters_is_an_arity_error(given: object) -> None:
    with pytest.raises(losslang.LossArityError, match="expected a model, a tensor or an iterable of tensors"):
        losslang.compile("mse(p, y)").attach(given)  # type: ignore[arg-type]


@pytest.mark.parametrize("terms", [[1, 2], "mse", {"f": 3}], ids=["list", "string", "not-callable"])
def test_terms_that_are_not_a_mapping_of_functions_is_an_arity_error(terms: object) -> None:
    with pytest.raises(losslang.LossArityError, match="terms= "):
        losslang.compile("mse(p, y)", terms=terms)  # type: ignore[arg-type]


def test_a_lambda_without_source_and_a_partial_are_terms() -> None:
    import functools

    anonymous = eval("lambda a, b: (a - b).abs().mean()")  # no source, as at a prompt or with python -c
    scaled = functools.partial(lambda a, b, k: k * (a - b).abs().mean(), k=2.0)
    loss = losslang.compile("f(p, y) + g(p, y)", terms={"f": anonymous, "g": scaled})
    assert loss(p=torch.ones(2), y=torch.zeros(2)).total.item() == 3.0


def test_pickling_a_loss_with_a_local_term_says_why_and_deepcopy_still_works() -> None:
    def local(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a - b).mean()

    loss = losslang.compile("local(p, y)", terms={"local": local})
    with pytest.raises(losslang.LossConfigError, match="cannot pickle this loss: its term 'local' cannot be pickled"):
        pickle.dumps(loss)
    assert copy.deepcopy(loss)(p=torch.ones(1), y=torch.zeros(1)).total.item() == 1.0


def test_a_state_of_another_shape_is_a_config_error() -> None:
    loss = losslang.compile("uncertainty(mse(p, y), mae(p, y))")
    state = loss.state_dict()
    state["body.uncertainty_0.log_variance"] = torch.zeros(7)
    with pytest.raises(losslang.LossConfigError, match=r"this state does not fit the loss .* size mismatch"):
        loss.load_state_dict(state)


def test_an_input_named_self_can_be_passed_as_a_keyword() -> None:
    loss = losslang.compile("mse(self, y)")
    assert loss(self=torch.ones(2), y=torch.zeros(2)).total.item() == 1.0
    assert loss({"y": torch.zeros(2)}, self=torch.ones(2)).total.item() == 1.0


def test_torch_save_then_torch_load_under_torch_default_weights_only(tmp_path: Path) -> None:
    loss = losslang.compile("recon = mse(p, y); uncertainty(recon, mae(p, y))", nan_policy="skip")
    with torch.no_grad():
        loss.body.uncertainty_0.log_variance.fill_(0.5)
    loss(p=torch.ones(2), y=torch.zeros(2))
    torch.save(loss, tmp_path / "loss.pt")
    loaded = torch.load(tmp_path / "loss.pt")  # weights_only=True
    assert str(loaded) == str(loss) and loaded.nan_policy == "skip" and int(loaded.step) == 1
    assert torch.equal(loaded.body.uncertainty_0.log_variance, loss.body.uncertainty_0.log_variance)


def test_a_loss_with_term_functions_loads_with_weights_only_false(tmp_path: Path) -> None:
    loss = losslang.compile("module_level_term(p, y)", terms={"module_level_term": module_level_term})
    torch.save(loss, tmp_path / "loss.pt")
    with pytest.raises(pickle.UnpicklingError):
        torch.load(tmp_path / "loss.pt")  # a function is code: weights_only refuses it
    assert torch.load(tmp_path / "loss.pt", weights_only=False)(p=torch.ones(1), y=torch.zeros(1)).total.item() == 1.0


def module_level_term(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).abs().mean()


# Every scheme, and the step counter, through a validation loop as plain PyTorch users write it.
VALIDATION_SCHEMES = [
    *(f"{name}(mse(p1, y1), mae(p2, y2)) * (1 + 0 * step)" for name in ("uncertainty", "gradnorm", "softadapt")),
    *(f"{name}(mse(p1, y1), mae(p2, y2))" for name in ("lr_annealing", "relobralo", "dwa", "famo", "rlw")),
    *(f"{name}(mse(p1, y1), mae(p2, y2))" for name in ("upgrad", "mgda", "pcgrad", "cagrad", "imtl_g", "dualproj")),
    "aligned_mtl(mse(p1, y1), mae(p2, y2))",
]


GRAMIAN = ("upgrad", "mgda", "pcgrad", "cagrad", "imtl_g", "dualproj", "aligned_mtl")


class TwoHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.trunk, self.one, self.two = nn.Linear(3, 4), nn.Linear(4, 1), nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = torch.tanh(self.trunk(x))
        return {"h": h, "p1": self.one(h)[:, 0], "p2": self.two(h)[:, 0]}


def two_head_batch(seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(8, 3, generator=generator)
    return {"x": x, "y1": x[:, 0], "y2": -x[:, 1]}


def state(loss: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.clone() for key, value in loss.state_dict().items() if torch.is_tensor(value)}


@pytest.mark.parametrize(
    ("formula", "features"),
    [
        *((formula, None) for formula in VALIDATION_SCHEMES),
        *((formula, "h") for formula in VALIDATION_SCHEMES if formula.startswith(GRAMIAN)),  # attach(features=)
    ],
)
@pytest.mark.parametrize(
    ("mode", "context"),
    [("train", torch.no_grad), ("eval", torch.no_grad), ("train", torch.inference_mode), ("eval", torch.enable_grad)],
    ids=["train-no_grad", "eval-no_grad", "train-inference_mode", "eval-with-grad"],
)
def test_a_validation_call_moves_neither_the_step_nor_any_scheme(formula, features, mode, context) -> None:
    gramian = formula.startswith(GRAMIAN)
    if gramian:
        pytest.importorskip("torchjd")
    torch.manual_seed(0)
    model = TwoHeads()
    loss = losslang.compile(formula).attach(model, features=features)
    optimizer = torch.optim.SGD([*model.parameters(), *loss.parameters()], lr=0.05)
    for seed in range(3):  # a few real training steps first, so the state is not the initial one
        data = two_head_batch(seed)
        out = loss({**data, **model(data["x"])})
        optimizer.zero_grad()
        out.total.backward()
        optimizer.step()
        loss.update_weights(lambda data=data: {**data, **model(data["x"])})
    before, weights = state(loss), {key: out[key].detach() for key in out if key.startswith("weight/")}
    loss.train(mode == "train")
    model.train(mode == "train")
    for seed in range(3, 8):
        data = two_head_batch(seed)
        with context():
            evaluated = loss({**data, **model(data["x"])})
        for key, weight in weights.items() if gramian else ():  # evaluation reuses the last weights
            torch.testing.assert_close(evaluated[key].float(), weight.float(), msg=key)
    after = state(loss)
    assert before.keys() == after.keys()
    moved = [key for key in before if not torch.equal(before[key], after[key])]
    assert not moved, f"a validation call moved {moved}"
    assert int(loss.step) == 3


def test_count_steps_counts_optimizer_steps_under_gradient_accumulation() -> None:
    model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loss = losslang.compile("ramp(step, 0, 1, 10) * mse(out, y) + mae(out, y)").count_steps(optimizer)
    seen = []
    for micro_batch in range(12):  # 4 optimizer steps of 3 micro-batches
        out = loss(out=model(torch.ones(4, 2)), y=torch.zeros(4, 1))
        seen.append(int(loss.step))
        (out.total / 3).backward()
        if micro_batch % 3 == 2:
            optimizer.step()
            optimizer.zero_grad()
    assert seen == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3] and int(loss.step) == 4
    with torch.no_grad():
        loss(out=model(torch.ones(4, 2)), y=torch.zeros(4, 1))
    assert int(loss.step) == 4
    loss.count_steps(None)  # back to one step per training call
    loss(out=model(torch.ones(4, 2)), y=torch.zeros(4, 1))
    optimizer.step()
    assert int(loss.step) == 5


def test_count_steps_takes_an_optimizer_and_does_not_keep_the_loss_alive() -> None:
    import gc
    import weakref

    with pytest.raises(losslang.LossArityError, match=r"count_steps\(\) takes a torch.optim.Optimizer, not a list"):
        losslang.compile("mse(p, y)").count_steps([])
    model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loss = losslang.compile("mse(p, y)").count_steps(optimizer)
    alive = weakref.ref(loss)
    del loss
    gc.collect()
    assert alive() is None
    optimizer.step()  # a hook whose loss is gone does nothing


@pytest.mark.parametrize("closure", [5, None, {"u": torch.ones(1)}], ids=["int", "none", "a-batch-not-a-function"])
def test_update_weights_takes_a_function(closure) -> None:
    loss = losslang.compile("lr_annealing(mse(u, 1), mse(u, 0), every=1)").attach(nn.Linear(1, 1))
    with pytest.raises(losslang.LossArityError, match="update_weights\\(\\) takes a function that returns the batch"):
        loss.update_weights(closure)
