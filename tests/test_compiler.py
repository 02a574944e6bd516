from __future__ import annotations

import builtins
import keyword
import operator

import pytest
import torch

import losslang
from losslang import ast
from losslang.check import check
from losslang.compiler import build
from losslang.parser import parse
from losslang.registry import REGISTRY
from losslang.terms import regression


def graph_of(source: str):
    return build(check(parse(source), REGISTRY))


def calls(source: str, target: object) -> int:
    """How many nodes call ``target`` (a built-in term is called through its float32 wrapper)."""
    nodes = graph_of(source).module.graph.nodes
    return sum(
        node.op == "call_function" and getattr(node.target, "__wrapped__", node.target) is target for node in nodes
    )


@pytest.mark.parametrize(
    ("source", "target", "count"),
    [
        pytest.param("mse(p, y) + mse(p, y)", regression.mse, 1, id="repeated-call"),
        pytest.param("mse(p,y) + 2*mse(p , y)", regression.mse, 1, id="spacing-differs"),
        pytest.param("l1(p, y) + mae(p, y)", regression.mae, 1, id="alias"),
        pytest.param("a = p[:, 0]; mse(a, y) + mse(p[:, 0], y)", regression.mse, 1, id="through-a-name"),
        pytest.param("a = p[:, 0]; mse(a, y) + mse(p[:, 0], y)", operator.getitem, 1, id="index-once"),
        pytest.param("r = mse(p, y); r + mse(p, y) * r", regression.mse, 1, id="name-and-call"),
        pytest.param('mse(p, y) + mse(p, y, reduction="sum")', regression.mse, 2, id="keywords-differ"),
        pytest.param("mse(p, y) + mse(y, p)", regression.mse, 2, id="arguments-differ"),
    ],
)
def test_identical_subexpressions_are_computed_once(source: str, target: object, count: int) -> None:
    assert calls(source, target) == count


def test_no_grad_section_only_when_there_are_metrics() -> None:
    assert calls("mse(p, y)", torch._C._set_grad_enabled) == 0
    assert calls("l1 = mae(p, y); mse(p, y)", torch._C._set_grad_enabled) == 2


def test_metric_shared_with_total_is_computed_with_gradient() -> None:
    graph = graph_of("l1 = mae(p, y); mse(p, y) + l1")
    assert graph.metric_names == ()


def test_generated_code_calls_terms_directly() -> None:
    code = graph_of("0.5*mse(pred, y)").module.code
    assert "losslang_terms_regression_mse(pred, y)" in code
    assert "0.5 * mse" in code


def test_dotted_inputs_become_placeholders() -> None:
    placeholders = [n.name for n in graph_of("mse(out.pred, y)").module.graph.nodes if n.op == "placeholder"]
    assert placeholders == ["out_pred", "y"]


def test_step_placeholder_only_when_used() -> None:
    names = [n.name for n in graph_of("mse(p, y) * step").module.graph.nodes if n.op == "placeholder"]
    assert names == ["p", "y", "step"]


def test_explicit_names_are_kept_even_when_equal() -> None:
    graph = graph_of("a = mse(p, y); b = mse(p, y); a + b")
    assert graph.term_names == ("a", "b")


def test_module_is_a_graph_module() -> None:
    loss = losslang.compile("mse(p, y)")
    assert isinstance(loss.body, torch.fx.GraphModule)
    assert isinstance(loss, torch.nn.Module)


@pytest.mark.parametrize(
    ("source", "batch"),
    [
        pytest.param("mse(a.b, a_b)", {"a": {"b": 1.0}, "a_b": 0.0}, id="dotted-then-flat"),
        pytest.param("mse(a_b, a.b)", {"a": {"b": 0.0}, "a_b": 1.0}, id="flat-then-dotted"),
        pytest.param(
            "mse(a.b, a_b) + mae(a_b_input, a_b)", {"a": {"b": 1.0}, "a_b": 0.0, "a_b_input": 0.0}, id="three-ways"
        ),
        pytest.param("mse(a.b_c, a_b.c)", {"a": {"b_c": 1.0}, "a_b": {"c": 0.0}}, id="two-dotted"),
    ],
)
def test_inputs_that_flatten_to_the_same_name_stay_distinct(source: str, batch: dict) -> None:
    def tensors(value: dict | float) -> dict | torch.Tensor:
        return {k: tensors(v) for k, v in value.items()} if isinstance(value, dict) else torch.full((2,), value)

    loss = losslang.compile(source)
    parameters = loss.code.split("def forward(self, ")[1].split(")")[0].split(", ")
    assert len(set(parameters)) == len(parameters) == len(loss.inputs)
    assert loss(tensors(batch)).total.item() == 1.0


def _fx_names() -> list[str]:
    from torch.fx.graph import _custom_builtins

    return sorted(_custom_builtins)


SHADOWING = sorted(
    {*dir(builtins), *_fx_names(), "torch", "self", "operator", "_tensor_constant0", "getitem", "step_1"}
    - set(keyword.kwlist)
)
SHADOWING = [
    name
    for name in SHADOWING
    if name.isidentifier() and not name.startswith("__") and name not in ("nan", "inf", "step")
]


def test_every_name_the_generated_code_could_use_is_a_safe_input_name() -> None:
    """An input named like a builtin, an fx global or a keyword never changes what the code computes."""
    p, y = torch.arange(6.0).reshape(2, 3), torch.ones(2, 2)
    expected = torch.nn.functional.mse_loss(p[..., 0:2], y).item()
    failures = []
    for name in [*SHADOWING, *keyword.kwlist]:
        if keyword.iskeyword(name) and name in ("True", "False", "None"):
            continue
        loss = losslang.compile(f"mse(p[..., 0:2], {name}) + 0 * sum(p[:, ::2])")
        value = loss({"p": p, name: y}).total.item()
        if value != expected:
            failures.append(name)
    assert failures == []


@pytest.mark.parametrize("name", ["Ellipsis", "slice", "getattr", "torch", "self", "None", "True"])
def test_shadowing_names_keep_slicing_and_ellipsis_working(name: str) -> None:
    logits, target = torch.randn(4, 2, 5), torch.randint(0, 3, (4, 2))
    loss = losslang.compile(f"mse(logits[..., 0:3], {name})")
    batch = {"logits": logits, name: target.float()[..., None].expand(4, 2, 3)}
    expected = torch.nn.functional.mse_loss(logits[..., 0:3], batch[name])
    assert torch.equal(loss(batch).total, expected)


@pytest.mark.parametrize(
    ("formula", "terms"),
    [
        ("huber(p, y, delta=1) + huber(p, y, delta=1.0)", ["huber(p, y, delta=1)", "huber(p, y, delta=1.0)"]),
        ("mean(clamp(p, min=0.0)) + mean(clamp(p, min=-0.0))", ["mean(clamp(p, min=0.0))", "mean(clamp(p, min=-0.0))"]),
        ("f(p, k=true) + f(p, k=1)", ["f(p, k=true)", "f(p, k=1)"]),
    ],
    ids=["int-float", "signed-zero", "bool-int"],
)
def test_constants_that_compare_equal_but_differ_are_separate_calls(formula: str, terms: list[str]) -> None:
    def f(p: torch.Tensor, *, k=None) -> torch.Tensor:  # type-sensitive, as a custom term may be
        return p.sum() * (10 if isinstance(k, bool) else 1)

    loss = losslang.compile(formula, terms={"f": f})
    p = torch.ones(3)
    out = loss(p=p, y=torch.zeros(3))
    assert [name for name in out if name in terms] == terms
    if "f(" in formula:  # both calls ran: 10 * 3 + 1 * 3
        assert out.total.item() == 33.0


def test_number_nodes_differ_by_type_and_sign_of_zero() -> None:
    assert ast.Number(1) != ast.Number(1.0) and ast.Number(0.0) != ast.Number(-0.0)
    assert ast.Number(2.5) == ast.Number(2.5) and hash(ast.Number(2.5)) == hash(ast.Number(2.5))


@pytest.mark.parametrize(
    ("formula", "metrics"),
    [
        ("a = mse(p, y); 0.5*b + a", ()),
        ("recon + 0.5*kl", ()),
        ("a = mse(p, y); l1 = x; a", ("l1",)),
        ("a = mse(p, y); l1 = mae(p, y); a", ("l1",)),
    ],
)
def test_a_metric_is_a_named_term_the_total_does_not_use(formula: str, metrics: tuple[str, ...]) -> None:
    assert losslang.compile(formula).metric_names == metrics


class Fussy(torch.nn.Module):
    """A loss module whose constructor refuses a value, as user modules do."""

    def __init__(self, *, k: float = 1.0) -> None:
        super().__init__()
        if k > 1:
            raise ValueError("k must be at most 1")

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return a.sum()


def test_a_module_that_cannot_be_built_is_an_error_at_its_call() -> None:
    losslang.register("fussy")(Fussy)
    with pytest.raises(losslang.LossArityError) as caught:
        losslang.compile("a = mse(p, y)\na + fussy(p, k=2.0)")
    assert str(caught.value).splitlines() == [
        "line 2, column 5: fussy() could not be built: ValueError: k must be at most 1",
        "  a + fussy(p, k=2.0)",
        "      ^",
    ]
