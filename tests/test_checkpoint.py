"""Loading a saved loss: its own dtypes stay, and a crafted or corrupt checkpoint is a LossConfigError."""

from __future__ import annotations

import io
import pickle

import pytest
import torch

import losslang
from losslang.module import restore

FORMULA = "dwa(mse(p, y), mae(p, y)) * (1 + 0 * step)"


def loss_and_state() -> tuple[losslang.LossModule, dict]:
    loss = losslang.compile(FORMULA)
    for _ in range(3):
        loss(p=torch.randn(4), y=torch.zeros(4))
    return loss, loss.state_dict()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        pytest.param("step", torch.tensor(1e20), r"'step' is torch.float32 .*torch.int64.* \(1e\+20\)", id="huge-step"),
        pytest.param("step", torch.tensor(2.5), r"'step' .* \(2.5\)", id="fractional-step"),
        pytest.param("step", torch.tensor(float("nan")), r"'step' .* \(nan\)", id="nan-step"),
        pytest.param("step", torch.zeros((), dtype=torch.int64, device="meta"), "'step' is a meta tensor", id="meta"),
    ],
)
@pytest.mark.parametrize("how", ["load_state_dict", "torch.load"])
def test_a_state_the_loss_cannot_hold_is_refused_by_name(key, value, message, how) -> None:
    loss, state = loss_and_state()
    state[key] = value
    with pytest.raises(losslang.LossConfigError, match=message):
        if how == "load_state_dict":
            losslang.compile(FORMULA).load_state_dict(state)
        else:
            restore(loss.source, {}, state, True)


@pytest.mark.parametrize("how", ["load_state_dict", "assign", "restore"])
def test_loading_keeps_the_loss_own_dtypes(how) -> None:
    loss, state = loss_and_state()
    state["step"] = torch.tensor(3.0)  # a float step that is a whole number
    state["body.dwa_0.weights"] = state["body.dwa_0.weights"].half()  # float16 scheme state
    if how == "restore":
        loaded = restore(loss.source, {}, state, True)
    else:
        loaded = losslang.compile(FORMULA)
        loaded.load_state_dict(state, assign=how == "assign")
    assert loaded.step.dtype == torch.int64 and int(loaded.step) == 3
    assert loaded.get_buffer("body.dwa_0.weights").dtype == torch.float32  # the loss's other state is float32
    loaded(p=torch.randn(4), y=torch.zeros(4))
    assert int(loaded.step) == 4  # it advances


def test_a_float_state_beyond_the_loss_range_is_refused() -> None:
    _, state = loss_and_state()
    state["body.dwa_0.weights"] = torch.full((2,), 1e39, dtype=torch.float64)  # inf in the loss's float32
    with pytest.raises(losslang.LossConfigError, match=r"'body.dwa_0.weights' .* cannot hold \(1e\+39\)"):
        losslang.compile(FORMULA).load_state_dict(state)


def test_a_copy_of_a_meta_loss_stays_on_meta() -> None:
    import copy

    loss = losslang.compile(FORMULA).to("meta")
    assert copy.deepcopy(loss).step.is_meta


@pytest.mark.parametrize(
    ("saved", "message"),
    [
        pytest.param(("mse(p, y)", {}, {}), "it has 3 parts, not 4", id="too-few-arguments"),
        pytest.param((1, {}, {}, True), "its formula is 1, not a string", id="formula-not-a-string"),
        pytest.param(("mse(p, y)", [], {}, True), "must be mappings, not list and dict", id="options-not-a-mapping"),
        pytest.param(("mse(p, y)", {}, [1], True), "must be mappings, not dict and list", id="state-not-a-mapping"),
        pytest.param(("mse(p, y)", {"colour": 1}, {}, True), "unknown option 'colour'", id="unknown-option"),
        pytest.param(("mse(p, y)", {"check_finite": "yes"}, {}, True), "option 'check_finite' is", id="option-type"),
        pytest.param(("mse(p, y)", {"inputs": {1: "p"}}, {}, True), "an input name is 1", id="input-name"),
        pytest.param(("mse(p, y)", {"inputs": []}, {}, True), "option 'inputs' is", id="inputs-not-a-mapping"),
        pytest.param(("mse(p, y)", {}, {}, "yes"), "its training flag is 'yes'", id="training-flag"),
        pytest.param(("mse(p, y)", {"nan_policy": "skp"}, {}, True), "nan_policy must be", id="nan-policy"),
    ],
)
def test_a_crafted_checkpoint_is_a_loss_config_error(saved, message) -> None:
    class Crafted:
        def __reduce__(self):
            return (restore, saved)

    buffer = io.BytesIO()
    torch.save(Crafted(), buffer)
    buffer.seek(0)
    with pytest.raises(losslang.LossConfigError, match=message):
        torch.load(buffer)
    with pytest.raises(losslang.LossConfigError, match=message):
        pickle.loads(pickle.dumps(Crafted()))


def test_a_state_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(losslang.LossConfigError, match="a state must be a mapping"):
        losslang.compile(FORMULA).load_state_dict([1, 2])  # type: ignore[arg-type]


def test_a_whole_loss_round_trips_through_torch_save() -> None:
    loss, _ = loss_and_state()
    buffer = io.BytesIO()
    torch.save(loss.double(), buffer)
    buffer.seek(0)
    loaded = torch.load(buffer)
    assert loaded.get_buffer("body.dwa_0.weights").dtype == torch.float64 and loaded.step.dtype == torch.int64
    assert int(loaded.step) == 3
