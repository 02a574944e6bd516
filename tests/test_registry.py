from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch
from torch import Tensor

import losslang
from losslang.registry import REGISTRY, Registry, snapshot, spec_of


def test_builtins_are_registered_with_aliases() -> None:
    assert REGISTRY.lookup("l1") is REGISTRY.lookup("mae")
    assert {"mse", "mae", "l1", "sin_angle", "mean", "sum", "max", "min", "detach"} <= set(REGISTRY)


def test_spec_reads_annotations() -> None:
    spec = REGISTRY.lookup("mse")
    assert spec is not None and spec.kind == "loss"
    assert [(p.name, p.accepts) for p in spec.params] == [
        ("pred", "tensor"),
        ("target", "operand"),  # a tensor, or a number: mse(res, 0)
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
    with pytest.raises(losslang.LossArityError, match="must be an identifier, not 'not a name'"):
        spec_of("not a name", lambda x: x)


@pytest.mark.parametrize("word", ["true", "false"])
def test_a_keyword_of_the_language_cannot_be_a_term_name_or_alias(word: str) -> None:
    """``true(x)`` does not parse: a term under that name could never be called."""
    with pytest.raises(losslang.LossArityError, match=f"'{word}' is a keyword of the language"):
        spec_of(word, lambda x: x)
    with pytest.raises(losslang.LossArityError, match=f"cannot register 'fine': '{word}' is a keyword"):
        spec_of("fine", lambda x: x, aliases=(word,))


class LearnedScale(torch.nn.Module):
    """A learned scale times the mean squared error."""

    def __init__(self, init: float = 1.0) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(init))

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return self.scale * (pred - target).square().mean()


def test_module_class_terms_build_once_per_construction() -> None:
    loss = losslang.compile(
        "learned(p, y, init=2.0) + learned(p, y, init=2.0) + learned(p, y)", terms={"learned": LearnedScale}
    )
    assert list(loss.state_dict()) == ["step", "_extra_state", "body.learned_0.scale", "body.learned_1.scale"]
    out = loss(p=torch.ones(2), y=torch.zeros(2))
    assert out.metrics() == {"total": 5.0, "learned(p, y, init=2.0)": 2.0, "learned(p, y)": 1.0}
    out.total.backward()
    assert [p.grad.item() for p in loss.parameters()] == [2.0, 1.0]


def test_module_class_signature_merges_forward_and_constructor() -> None:
    spec = spec_of("learned", LearnedScale)
    assert spec.signature == "learned(pred, target, *, init=1.0)"
    assert spec.constructor == ("init",) and spec.is_module


def test_module_parameters_follow_to_and_state_dict() -> None:
    loss = losslang.compile("learned(p, y, init=3.0)", terms={"learned": LearnedScale}).to(torch.float64)
    assert next(loss.parameters()).dtype == torch.float64
    fresh = losslang.compile("learned(p, y)", terms={"learned": LearnedScale})
    fresh.load_state_dict({"body.learned_0.scale": torch.tensor(3.0)}, strict=False)
    assert next(fresh.parameters()).item() == 3.0


def test_module_construction_failure_is_a_loss_error() -> None:
    # an unannotated constructor argument with a number default takes numbers, checked before building
    with pytest.raises(losslang.LossArityError, match=r"argument 'init' of learned\(\) must be a number"):
        losslang.compile('learned(p, y, init="x")', terms={"learned": spec_free(LearnedScale)})


def spec_free(cls: type) -> type:
    """The same class with its constructor annotation loosened, so the failure happens at construction."""

    class Loose(cls):  # type: ignore[misc, valid-type]
        def __init__(self, init=1.0) -> None:
            super().__init__(init)

    Loose.__name__ = cls.__name__
    return Loose


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        pytest.param(int, "int is a class but not an nn.Module", id="not-a-module"),
    ],
)
def test_module_registration_is_validated(cls: type, message: str) -> None:
    with pytest.raises(losslang.LossArityError, match=message):
        spec_of("bad", cls)


def test_terms_for_one_loss_may_shadow_builtins() -> None:
    def mse(pred: Tensor, target: Tensor) -> Tensor:
        """Not really mse."""
        return (pred - target).sum()

    loss = losslang.compile("mse(p, y)", terms={"mse": mse})
    assert loss(p=torch.ones(2), y=torch.zeros(2)).total.item() == 2.0
    assert losslang.compile("mse(p, y)")(p=torch.ones(2), y=torch.zeros(2)).total.item() == 1.0


def test_constructor_arguments_must_be_constants() -> None:
    with pytest.raises(losslang.LossArityError) as caught:
        losslang.compile("learned(p, y, init=p)", terms={"learned": spec_free(LearnedScale)})
    assert "argument 'init' of learned() builds the module and must be a constant, not the tensor p" in str(
        caught.value
    )


def test_register_decorator_with_aliases_reaches_formulas() -> None:
    with snapshot():

        @losslang.register("cubed", aliases=("l3", "cube_error"))
        def cubed(pred: Tensor, target: Tensor, *, scale: float = 1.0) -> Tensor:
            """Mean cubed absolute error."""
            return scale * (pred - target).abs().pow(3).mean()

        assert cubed(torch.full((2,), 2.0), torch.zeros(2)).item() == 8.0  # the decorator returns the function
        loss = losslang.compile("l3(p, y) + cube_error(p, y, scale=0.5)")
        out = loss(p=torch.full((2,), 2.0), y=torch.zeros(2))
        assert out.metrics() == {"total": 12.0, "cubed(p, y)": 8.0, "cubed(p, y, scale=0.5)": 4.0}
    assert "l3" not in REGISTRY


@pytest.mark.parametrize(
    ("aliases", "message"),
    [
        pytest.param(
            ("not valid",),
            "cannot register 'cubed': a term name or alias must be an identifier, not 'not valid'",
            id="not-an-identifier",
        ),
        pytest.param(
            ("mse",), "a term named 'mse' is already registered; pass override=True to replace it", id="builtin"
        ),
        pytest.param(
            ("l1",), "a term named 'l1' is already registered; pass override=True to replace it", id="builtin-alias"
        ),
    ],
)
def test_register_refuses_bad_or_taken_aliases(aliases: tuple[str, ...], message: str) -> None:
    with snapshot(), pytest.raises(losslang.LossLangError) as caught:
        losslang.register("cubed", aliases=aliases)(lambda pred: pred)
    assert str(caught.value) == message
    assert "cubed" not in REGISTRY  # nothing half-registered


def test_a_string_alias_is_one_alias() -> None:
    with snapshot():
        losslang.register("cubed", aliases="l3")(lambda pred: pred.sum())
        assert REGISTRY.lookup("l3") is REGISTRY.lookup("cubed")
        assert "l" not in REGISTRY and "3" not in REGISTRY


def fake(pred: Tensor, target: Tensor) -> Tensor:
    """Not the built-in: a hundred times the summed difference."""
    return 100 * (pred - target).sum()


@pytest.mark.parametrize("name", ["mse", "l1", "mae"])
def test_override_replaces_a_builtin_or_an_alias(name: str) -> None:
    p, y = torch.ones(2), torch.zeros(2)
    with snapshot():
        losslang.register(name, override=True)(fake)
        assert losslang.compile(f"{name}(p, y)")(p=p, y=y).total.item() == 200.0
    assert losslang.compile(f"{name}(p, y)")(p=p, y=y).total.item() == 1.0


class ScaledL1(torch.nn.Module):
    """A learned scale times the mean absolute error, with a fixed offset buffer."""

    def __init__(self, init: float = 1.0, offset: float = 0.0) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(init))
        self.register_buffer("offset", torch.tensor(offset))

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return self.scale * (pred - target).abs().mean() + self.offset


def test_registering_a_module_class_globally() -> None:
    with snapshot():
        assert losslang.register("scaled_l1_module", aliases=("sl1m",))(ScaledL1) is ScaledL1
        assert REGISTRY.lookup("sl1m").signature == "scaled_l1_module(pred, target, *, init=1.0, offset=0.0)"
        loss = losslang.compile("sl1m(p, y, init=3.0, offset=0.5)")
    state = loss.state_dict()
    assert state["body.scaled_l1_module_0.scale"].item() == 3.0 and state["body.scaled_l1_module_0.offset"] == 0.5
    assert [name for name, _ in loss.named_parameters()] == ["body.scaled_l1_module_0.scale"]
    out = loss(p=torch.ones(2), y=torch.zeros(2))
    assert out.total.item() == 3.5
    out.total.backward()
    assert next(loss.parameters()).grad.item() == 1.0


@pytest.mark.parametrize("aliases", [3, None, 2.5], ids=["int", "none", "float"])
def test_aliases_of_the_wrong_type_are_an_arity_error(aliases: object) -> None:
    with pytest.raises(losslang.LossArityError, match="aliases must be a name or a list of names"):
        losslang.register("odd_term", aliases=aliases)  # type: ignore[arg-type]


def test_registering_the_same_function_again_replaces_it_silently() -> None:
    namespace: dict = {"__name__": "__main__"}
    cell = "def scaled_l1(pred, target, *, scale: float = 1.0):\n    return scale * (pred - target).abs().mean()\n"
    for _ in range(2):  # a notebook cell run twice defines a new function object with the same origin
        exec(compile(cell, "<cell>", "exec"), namespace)  # a cell's code, run as a notebook runs it
        losslang.register("scaled_l1_cell")(namespace["scaled_l1"])
    with pytest.raises(losslang.LossNameError, match="already registered; pass override=True"):
        losslang.register("scaled_l1_cell")(lambda pred, target: pred.sum())


def noann(a, b, k=2, flag=False, mode="x"):
    return (a - b).abs().mean() * k * (2 if flag else 1) * (3 if mode == "y" else 1)


def test_an_unannotated_parameter_with_a_constant_default_takes_a_constant_of_that_type() -> None:
    loss = losslang.compile('noann(p, y, k=3, flag=true, mode="y")', terms={"noann": noann})
    assert loss(p=torch.ones(2), y=torch.zeros(2)).total.item() == 18.0
    with pytest.raises(
        losslang.LossArityError, match=r"argument 'k' of noann\(\) must be an integer, not the number 2.5"
    ):
        losslang.compile("noann(p, y, k=2.5)", terms={"noann": noann})
    with pytest.raises(losslang.LossArityError, match="argument 'flag' of noann\\(\\) must be true or false"):
        losslang.compile("noann(p, y, flag=1)", terms={"noann": noann})


def test_a_term_defined_by_exec_without_a_module_name_compiles_and_runs() -> None:
    namespace: dict = {}  # globals without __name__: torch.fx cannot find the function's module
    exec(
        "import torch\n"
        "def exec_term(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:\n"
        "    return (p - y).abs().mean()\n",
        namespace,
    )
    losslang.register("exec_term")(namespace["exec_term"])
    assert losslang.compile("exec_term(p, y)")(p=torch.ones(2), y=torch.zeros(2)).total.item() == 1.0
    assert (
        losslang.compile("t(p, y)", terms={"t": namespace["exec_term"]})(p=torch.ones(2), y=torch.zeros(2)).total == 1
    )
