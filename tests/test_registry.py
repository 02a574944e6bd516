from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch
from torch import Tensor

import losslang
from losslang.registry import REGISTRY, Registry, spec_of


def test_builtins_are_registered_with_aliases() -> None:
    assert REGISTRY.lookup("l1") is REGISTRY.lookup("mae")
    assert {"mse", "mae", "l1", "sin_angle", "mean", "sum", "max", "min", "detach"} <= set(REGISTRY)


def test_spec_reads_annotations() -> None:
    spec = REGISTRY.lookup("mse")
    assert spec is not None and spec.kind == "loss"
    assert [(p.name, p.accepts) for p in spec.params] == [
        ("pred", "tensor"),
        ("target", "tensor"),
        ("reduction", "choice"),
        ("weight", "tensor"),
        ("mask", "tensor"),
    ]
    assert spec.summary == "Mean squared error, as ``torch.nn.MSELoss``."


def test_register_adds_a_term() -> None:
    registry = Registry()

    def smooth(pred: Tensor, target: Tensor, *, beta: float = 1.0) -> Tensor:
        return torch.nn.functional.smooth_l1_loss(pred, target, beta=beta)

    registry.add(spec_of("smooth", smooth, aliases=("sl1",)))
    assert registry.lookup("sl1") is registry.lookup("smooth")


def test_name_clash_needs_override() -> None:
    with pytest.raises(losslang.LossNameError, match="already registered; pass override=True"):

        @losslang.register("mse")
        def mse(pred: Tensor, target: Tensor) -> Tensor:
            return pred


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        pytest.param(lambda pred, **options: pred, "name its keyword arguments instead of \\*\\*options", id="kwargs"),
        pytest.param(lambda pred, *, scale=complex(1): pred, None, id="unannotated-keyword-is-any-constant"),
    ],
)
def test_registration_validates_signature(fn, message: str | None) -> None:
    if message is None:
        assert spec_of("ok", fn).params[1].accepts == "constant"
    else:
        with pytest.raises(losslang.LossArityError, match=message):
            spec_of("bad", fn)


def test_dims_annotation_accepts_an_integer_or_a_list_of_integers() -> None:
    def spread(x: Tensor, *, dim: int | Sequence[int] | None = None, sizes: tuple[int, ...] = ()) -> Tensor:
        return x

    params = {param.name: param.accepts for param in spec_of("spread", spread).params}
    assert params == {"x": "tensor", "dim": "dims", "sizes": "numbers"}
    loss = losslang.compile(
        "sum(spread(x, dim=[0, -1], sizes=[1, 2])) + sum(spread(x, dim=1))", terms={"spread": spread}
    )
    assert loss(x=torch.ones(2, 3)).total.item() == 6 + 6
    with pytest.raises(losslang.LossArityError, match="must be an integer or a list of integers, not the list"):
        losslang.compile("sum(spread(x, dim=[0, 1.5]))", terms={"spread": spread})


def test_unsupported_annotation_is_refused() -> None:
    def bad(pred: Tensor, *, table: dict) -> Tensor:  # type: ignore[type-arg]
        return pred

    with pytest.raises(losslang.LossArityError, match="parameter 'table' is annotated"):
        spec_of("bad", bad)


def test_term_name_must_be_an_identifier() -> None:
    with pytest.raises(losslang.LossArityError, match="must be an identifier"):
        spec_of("not a name", lambda x: x)
