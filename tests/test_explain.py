from __future__ import annotations

import re
from collections.abc import Callable

import pytest

import losslang
from losslang import parse
from losslang.explain import dot, mermaid, summary, tree

Drawing = Callable[[losslang.LossModule], str]


def test_tree_flattens_sums_but_not_differences() -> None:
    assert tree(parse("a + b + c").total) == "+\n├── a\n├── b\n└── c"
    assert tree(parse("a + b - c").total) == "-\n├── +\n│   ├── a\n│   └── b\n└── c"


@pytest.mark.parametrize(
    ("draw", "label"),
    [
        pytest.param(dot, 'mse [label="mse(p, y, reduction=\\"sum\\")", style=filled', id="dot"),
        pytest.param(mermaid, 'mse[["mse(p, y, reduction=#quot;sum#quot;)"]]', id="mermaid"),
    ],
)
def test_graph_labels_quote_what_the_format_needs(draw: Drawing, label: str) -> None:
    assert label in draw(losslang.compile('mse(p, y, reduction="sum") + mae(p, y)'))


@pytest.mark.parametrize("draw", [dot, mermaid], ids=["dot", "mermaid"])
def test_graphs_draw_terms_not_the_gradient_switches_of_metrics(draw: Drawing) -> None:
    loss = losslang.compile("l1 = mae(p, y); mse(p, y)")
    assert "set_grad_enabled" in loss.code  # the metric runs without gradient...
    drawing = draw(loss)
    assert "grad" not in drawing and "l1" in drawing and "total" in drawing  # ...which the drawing leaves out


def test_summary_lists_terms_metrics_and_learned_parameters() -> None:
    text = summary(losslang.compile("l1 = mae(p, y); uncertainty(mse(p, y), mae(p, z))"))
    assert "  l1                metric (no gradient)" in text
    assert "parameters:\n  body.uncertainty_0.log_variance: (2,)" in text
    assert text.index("term tree:") < text.index("generated code:")


@pytest.mark.parametrize(
    "mask",
    ["p > y", "p > 0.5", "y <= p", "p != y", "accuracy(logits, t)"],
    ids=["two-tensors", "a-constant", "le", "ne", "accuracy"],
)
def test_summary_says_a_comparison_or_accuracy_in_the_total_carries_no_gradient(mask: str) -> None:
    # A comparison between two computed tensors is a shape-checked operator, one with a constant torch's own:
    # both carry no gradient and both must say so.
    text = summary(losslang.compile(f"c = {mask}; mse(p, y) + mean(c * 1.0)"))
    listed = text.split("terms:\n")[1].split("\n\n")[0].splitlines()
    roles = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in listed)
    assert roles["c"] == "in the total (carries no gradient: a comparison or accuracy)"
    assert roles["mse(p, y)"] == "in the total"


def test_explain_names_the_reference_term_of_lr_annealing() -> None:
    """lr_annealing(bc, res) anneals the residual against the boundary: explain says which is the reference."""
    from losslang.explain import as_dict, summary

    loss = losslang.compile("lr_annealing(mse(b, 0), mse(r, 0))")
    line = "lr_annealing: reference mse(b, 0) (weight 1); annealed mse(r, 0); variant authors, keep 0.9, every 10"
    assert f"weighting:\n  {line}" in summary(loss)
    assert as_dict(loss)["weighting"] == [line]


def test_graphs_draw_a_shared_float32_copy_as_the_tensor_it_copies() -> None:
    loss = losslang.compile("mse(p, y) + mae(p, y)")
    assert "float32_copy" in loss.code  # both terms take one copy of p under autocast...
    drawing = mermaid(loss)
    assert "float32_copy" not in drawing  # ...which the drawing leaves out: p feeds both terms
    assert {"  p --> mse", "  p --> mae", "  y --> mse", "  y --> mae"} <= set(drawing.splitlines())
    assert "float32_copy" not in dot(loss)


@pytest.mark.parametrize(
    "formula",
    [
        "upgrad(mse(p, y), mae(p, y))",
        "dwa(mse(p, y), mae(p, y)) + mse(q, y)",
        "a = uncertainty(mse(p, y), mae(p, y)); mse(p, y)",
        "uncertainty(mse(p, y), mae(p, y)) + dwa(mse(p, y), mae(p, y))",
    ],
)
def test_a_scheme_is_drawn_by_name_with_its_weights_straight_from_it(formula: str) -> None:
    lines = mermaid(losslang.compile(formula)).splitlines()[1:]
    declared = {line.split("[")[0].split("(")[0].strip(): line for line in lines if "-->" not in line}
    edges = [tuple(line.strip().split(" --> ")) for line in lines if "-->" in line]
    assert all(a in declared and b in declared for a, b in edges)
    leaves = {name for name in declared if name not in {a for a, _ in edges}}
    assert all("[[" in declared[name] for name in leaves), leaves  # every node that leads nowhere is a reported value
    assert not any('["[]"]' in line for line in declared.values())
    scheme = next(name for name in declared if name.split("_")[0] in ("upgrad", "dwa", "uncertainty"))
    assert declared[scheme].endswith(f'["{scheme.rsplit("_", 1)[0]}"]')


def test_explain_draws_the_tensor_vocabulary() -> None:
    loss = losslang.compile(
        "logits = a @ transpose(b, 0, 1); cross_entropy(logits, arange(size(a, 0))) + mean(p[b2, i])"
        " + mean(m[:, None] - m[None, :])"
    )
    text = summary(loss)
    assert "inputs: a, b, b2, i, p, m" in text
    for piece in ("@", "transpose", "arange", "size", "[b2, i]", "[:, None]", "[None, :]"):
        assert piece in text, piece
    lines = mermaid(loss).splitlines()[1:]
    declared = {line.split("[")[0].split("(")[0].strip() for line in lines if "-->" not in line}
    assert all(
        a in declared and b in declared for a, b in (line.strip().split(" --> ") for line in lines if "-->" in line)
    )
    assert dot(loss).startswith("digraph loss {")
