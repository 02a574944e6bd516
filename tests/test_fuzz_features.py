"""Hostile input to the newest features: each call succeeds or raises a LossLangError, and no state is lost.

Areas: derivatives, comparisons, ``where``, ``accuracy``, number targets, masks and weights of odd
dtypes and shapes at run time; every weighting scheme's ``state_dict`` round trip (the loss-level
and the gradient-conflict ones) with wrong keys, dtypes and shapes; crafted checkpoints; training
configs with wrong types and huge values. The default run checks a sample of each; ``pytest -m fuzz``
runs up to 5,000 cases of each area (the scheme and config areas are smaller: all of them).
"""

from __future__ import annotations

import contextlib
import io
import pickle

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fuzz import outcome

import losslang
from losslang.module import restore
from losslang.recipe import prepare

FAST = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
FULL = settings(max_examples=5_000, deadline=None, suppress_health_check=list(HealthCheck))

FEATURE_FORMULAS = [
    "mse(laplacian(u, x), 0) + mse(u, 0)",
    "mean(grad(u, x)) + partial(partial(u, x, 0), x, 1)[0] + mse(u, 0)",
    "mse(div(grad(u, x), x), f)",
    "mse(u, y, mask=y > 0)",
    "mae(u, 0, weight=w)",
    "mse(u, y, weight=w, mask=m)",
    "mean(where(u > y, u, y)) + mse(u, y)",
    "mean(where(m, u, 0)) + mean(u > 0)",
    "cross_entropy(s, t) + 0 * accuracy(s, t)",
    "accuracy(s, t, k=2, ignore_index=-100) + mean(s)",
    'sum(mse(u, y, reduction="none")) / size(u, 0) + 0 * numel(y)',
    "huber(u, 1.5) + log_cosh(u, 0)",
]
DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int64, torch.bool, torch.uint8]
shapes = st.lists(st.integers(0, 3), max_size=3).map(tuple)
tensors = st.builds(
    lambda shape, dtype, grad, fill: _tensor(shape, dtype, grad, fill),
    shapes,
    st.sampled_from(DTYPES),
    st.booleans(),
    st.sampled_from([0.0, 1.0, -1.0, 2.0, float("nan"), float("inf"), 1e30, -100.0]),
)
values = st.one_of(tensors, st.sampled_from([None, 1.0, 3, True, "x", [1.0], {"a": 1}]))


def _tensor(shape: tuple[int, ...], dtype: torch.dtype, grad: bool, fill: float) -> torch.Tensor:
    value = torch.full(shape, fill)  # then cast: 1e30 is inf in float16; integers cannot hold NaN or infinity
    value = value.to(dtype) if dtype.is_floating_point else value.nan_to_num(posinf=3.0, neginf=-3.0).to(dtype)
    return value.requires_grad_() if grad and dtype.is_floating_point else value


FEATURE_CASE = (
    st.sampled_from(FEATURE_FORMULAS),
    st.fixed_dictionaries({name: values for name in ("u", "x", "y", "f", "w", "m", "s", "t")}),
    st.sampled_from([{}, {"check_finite": True}, {"nan_policy": "skip"}]),
    st.sampled_from(["train", "eval", "no_grad"]),
)


def check_features(formula: str, batch: dict, options: dict, mode: str) -> None:
    loss = losslang.compile(formula, **options).train(mode == "train")
    context = torch.no_grad() if mode == "no_grad" else contextlib.nullcontext()
    with context, contextlib.suppress(losslang.LossLangError):
        out = loss(batch)
        out.metrics()
    assert loss.step.dtype == torch.int64 and int(loss.step) <= (mode == "train")


@FAST
@given(*FEATURE_CASE)
def test_new_features_at_run_time_give_loss_errors(formula, batch, options, mode) -> None:
    check_features(formula, batch, options, mode)


@pytest.mark.fuzz
@FULL
@given(*FEATURE_CASE)
def test_fuzz_new_features_full(formula, batch, options, mode) -> None:
    check_features(formula, batch, options, mode)


SCHEMES = [
    *("uncertainty", "gradnorm", "lr_annealing", "softadapt", "relobralo", "dwa", "famo", "rlw"),
    *("upgrad", "mgda", "pcgrad", "cagrad", "imtl_g", "dualproj", "aligned_mtl"),  # TorchJD's, in [dev]
]
corruptions = st.sampled_from(
    ["drop", "extra", "float16", "float64", "int", "bool", "shape", "meta", "nan", "huge", "list", "none"]
)


def _corrupt(state: dict, key: str, how: str) -> dict:
    state = dict(state)
    value = state[key]
    if how == "drop":
        del state[key]
    elif how == "extra":
        state[key + "_extra"] = torch.zeros(2)
    elif how == "list":
        state[key] = [1, 2]
    elif how == "none":
        state[key] = None
    elif not torch.is_tensor(value):
        state[key] = {"formula": 3}
    elif how in ("float16", "float64", "int", "bool"):
        dtype = {"float16": torch.float16, "float64": torch.float64, "int": torch.int64, "bool": torch.bool}[how]
        state[key] = value.to(dtype)
    elif how == "shape":
        state[key] = torch.zeros(value.numel() + 1)
    elif how == "meta":
        state[key] = value.to("meta")
    else:
        state[key] = torch.full(value.shape, float("nan") if how == "nan" else 1e39, dtype=torch.float64)
    return state


def check_state(scheme: str, index: int, how: str) -> None:
    loss = losslang.compile(f"{scheme}(mse(p, y), mae(p, y)) * (1 + 0 * step)")
    model = torch.nn.Linear(2, 1)
    loss.attach(model)
    loss(p=model(torch.ones(3, 2))[:, 0], y=torch.zeros(3))
    state = loss.state_dict()
    key = sorted(state)[index % len(state)]
    fresh = losslang.compile(f"{scheme}(mse(p, y), mae(p, y)) * (1 + 0 * step)").attach(model)
    outcome(fresh.load_state_dict, _corrupt(state, key, how))
    assert fresh.step.dtype == torch.int64 and not fresh.step.is_meta  # a refused state leaves the loss usable
    outcome(lambda: fresh(p=model(torch.ones(3, 2))[:, 0], y=torch.zeros(3)))


@FAST
@given(st.sampled_from(SCHEMES), st.integers(0, 20), corruptions)
def test_scheme_state_round_trips_with_wrong_keys_dtypes_and_shapes(scheme: str, index: int, how: str) -> None:
    check_state(scheme, index, how)


@pytest.mark.fuzz
@FULL
@given(st.sampled_from(SCHEMES), st.integers(0, 20), corruptions)
def test_fuzz_scheme_state_full(scheme: str, index: int, how: str) -> None:
    check_state(scheme, index, how)


parts = st.one_of(
    st.sampled_from(["mse(p, y)", "dwa(mse(p, y), mae(p, y))", "", "mse(", 3, None, True, 1.5]),
    st.dictionaries(
        st.sampled_from(["terms", "inputs", "check_finite", "nan_policy", "compile", "colour", 1]),
        st.sampled_from([True, "skip", "p", {}, {"p": "q"}, {1: "p"}, [], 2]),
        max_size=3,
    ),
    st.dictionaries(
        st.sampled_from(["step", "body.dwa_0.weights", "_extra_state", "x"]),
        st.sampled_from([torch.tensor(3), torch.tensor(2.5), torch.zeros(2), {"formula": "mse(p, y)"}, None]),
        max_size=3,
    ),
)


def check_checkpoint(saved: tuple) -> None:
    class Crafted:
        def __reduce__(self) -> tuple:
            return (restore, saved)

    buffer = io.BytesIO()
    torch.save(Crafted(), buffer)
    buffer.seek(0)
    outcome(torch.load, buffer)
    outcome(pickle.loads, pickle.dumps(Crafted()))


@FAST
@given(st.lists(parts, max_size=6).map(tuple))
def test_crafted_checkpoints_give_loss_errors(saved: tuple) -> None:
    check_checkpoint(saved)


@pytest.mark.fuzz
@FULL
@given(st.lists(parts, max_size=6).map(tuple))
def test_fuzz_crafted_checkpoints_full(saved: tuple) -> None:
    check_checkpoint(saved)


HOSTILE = [None, True, -1, 0, 2**63, 10**30, 1e308, float("nan"), "x", [1, 2], {"a": 1}, [100_000] * 3, "helmholtz2d"]
BASE = {
    "epochs": 1,
    "model": {"mlp": {"inputs": 1, "hidden": [4]}},
    "data": {"dataset": "linear_multilabel", "samples": 20, "batch_size": 4},
    "optimizer": {"name": "adam", "lr": 0.01},
    "loss": "mse(output, label1)",
}
PLACES = [
    ("epochs",),
    ("seed",),
    ("model",),
    ("model", "mlp"),
    ("model", "mlp", "inputs"),
    ("model", "mlp", "hidden"),
    ("model", "mlp", "activation"),
    ("data",),
    ("data", "dataset"),
    ("data", "samples"),
    ("data", "batch_size"),
    ("data", "validation"),
    ("data", "problem"),
    ("optimizer", "lr"),
    ("optimizer", "name"),
    ("run",),
    ("run", "dir"),
    ("loss",),
]


def check_training_config(place: tuple[str, ...], value: object) -> None:
    config = {key: (dict(section) if isinstance(section, dict) else section) for key, section in BASE.items()}
    config["model"] = {"mlp": dict(BASE["model"]["mlp"])}
    target = config
    for key in place[:-1]:
        target = target.setdefault(key, {})
    target[place[-1]] = value
    outcome(prepare, config)


@FAST
@given(st.sampled_from(PLACES), st.sampled_from(HOSTILE))
def test_training_configs_with_wrong_types_and_huge_values(place: tuple[str, ...], value: object) -> None:
    check_training_config(place, value)


@pytest.mark.fuzz
@FULL
@given(st.sampled_from(PLACES), st.sampled_from(HOSTILE))
def test_fuzz_training_configs_full(place: tuple[str, ...], value: object) -> None:
    check_training_config(place, value)
