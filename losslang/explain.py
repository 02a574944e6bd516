"""Human-readable views of a compiled loss: a term tree, a summary, and its graph as DOT or Mermaid."""

from __future__ import annotations

import operator
from collections.abc import Iterator

import torch
from torch import fx

from losslang import ast, printer
from losslang.module import LossModule
from losslang.parser import parse
from losslang.terms.arithmetic import COMPARISONS
from losslang.terms.classification import accuracy
from losslang.terms.precision import float32_copy
from losslang.weighting import WeightingScheme


def tree(node: ast.Node) -> str:
    """Draw an expression as an indented tree; sums are flattened into one level.

    Example:
        >>> from losslang import parse
        >>> print(tree(parse("0.5*mse(pred, y) + mean(mae(pred, a), mae(pred, b))").total))
        +
        ├── *
        │   ├── 0.5
        │   └── mse
        │       ├── pred
        │       └── y
        └── mean
            ├── mae
            │   ├── pred
            │   └── a
            └── mae
                ├── pred
                └── b
    """
    label, children = _parts(node)
    return "\n".join([label, *_branches(children, "")])


def _branches(children: list[ast.Node], indent: str) -> Iterator[str]:
    for index, child in enumerate(children):
        last = index == len(children) - 1
        label, grandchildren = _parts(child)
        yield f"{indent}{'└── ' if last else '├── '}{label}"
        yield from _branches(grandchildren, indent + ("    " if last else "│   "))


def _parts(node: ast.Node) -> tuple[str, list[ast.Node]]:
    match node:
        case ast.Binary("+", _, _):
            return "+", _flatten_sum(node)
        case ast.Binary(op, left, right):
            return op, [left, right]
        case ast.Neg(operand):
            return "-", [operand]
        case ast.Call(func, args, keywords):
            options = ", ".join(map(str, keywords))
            return (f"{func}({options})" if options else func), list(args)
        case ast.Index(target, subscripts):
            return f"[{', '.join(map(printer.subscript, subscripts))}]", [target]
    return str(node), []


def _flatten_sum(node: ast.Node) -> list[ast.Node]:
    if isinstance(node, ast.Binary) and node.op == "+":
        return _flatten_sum(node.left) + _flatten_sum(node.right)
    return [node]


def summary(loss: LossModule) -> str:
    r"""Everything about a loss: formula, inputs, terms and metrics, parameters, term tree and generated code.

    Example:
        >>> import losslang
        >>> print(summary(losslang.compile("l1 = mae(p, y); mse(p, y)")).split("\n\nterm tree")[0])
        formula:
          l1 = mae(p, y)
          mse(p, y)
        <BLANKLINE>
        inputs: p, y
        <BLANKLINE>
        terms:
          l1         metric (no gradient)
          mse(p, y)  in the total
        <BLANKLINE>
        parameters: none
    """
    program = parse(loss.canonical)
    width = max(map(len, loss.term_names), default=0)
    masks = _without_gradient(loss)
    terms = [f"  {name:<{width}}  {_role(loss, name, masks)}" for name in loss.term_names]
    parameters = [f"  {name}: {tuple(value.shape)}" for name, value in loss.named_parameters()]
    trees = [f"{assign.name} =\n{_indent(tree(assign.value))}" for assign in program.assigns]
    schemes = _schemes(loss)
    sections = [
        "formula:\n" + _indent(loss.canonical),
        "inputs: " + ", ".join(_input_names(loss)),
        "terms:\n" + "\n".join(terms),
        *(["weighting:\n" + _indent("\n".join(schemes))] if schemes else []),
        "parameters:" + ("\n" + "\n".join(parameters) if parameters else " none"),
        "term tree:\n" + _indent("\n".join([*trees, f"total =\n{_indent(tree(program.total))}"])),
        "generated code:\n" + _indent(loss.code.strip()),
    ]
    return "\n\n".join(sections)


def _schemes(loss: LossModule) -> list[str]:
    return [module.describe() for module in loss.modules() if isinstance(module, WeightingScheme)]


def _input_names(loss: LossModule) -> list[str]:
    return [
        name if name == key else f"{name} <- {key}" for name, key in zip(loss.formula_inputs, loss.inputs, strict=True)
    ]


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


def _labels(loss: LossModule) -> dict[fx.Node, str]:
    """The reported name of each output node, ``total`` first; inputs by their formula names."""
    nodes = list(loss.body.graph.nodes)
    output = loss.body.graph.output_node()
    labels = {node: name for node, name in zip(nodes, loss.formula_inputs, strict=False) if node.op == "placeholder"}
    labels.update({node: node.name for node in nodes if node.op == "placeholder" and node not in labels})
    for node, name in reversed(list(zip(output.args[0], ("total", *loss.term_names), strict=True))):
        labels[node] = name
    return labels


def _edges(loss: LossModule) -> Iterator[tuple[fx.Node, fx.Node]]:
    for node in _drawn(loss):
        for argument in node.all_input_nodes:
            yield _source(loss, argument), node


def _source(loss: LossModule, node: fx.Node) -> fx.Node:
    """The drawn node that ``node`` stands for.

    A shared float32 copy is the tensor it copies; a scheme's tuple of weights is the scheme, each
    weight drawn straight from it with no unlabelled node between.
    """
    if node.target is float32_copy or _scheme_weights(loss, node):
        return node.args[0]  # type: ignore[return-value]
    return node


def _scheme_weights(loss: LossModule, node: fx.Node) -> bool:
    """Whether ``node`` is the tuple of weights a weighting scheme returns (its output 1)."""
    if node.target is not operator.getitem or node.args[1] != 1:
        return False
    scheme = node.args[0]
    return (
        isinstance(scheme, fx.Node)
        and scheme.op == "call_module"
        and isinstance(loss.body.get_submodule(str(scheme.target)), WeightingScheme)
    )


def dot(loss: LossModule) -> str:
    """The computation graph in Graphviz DOT: inputs as ellipses, reported terms filled.

    Example:
        >>> import losslang
        >>> print(dot(losslang.compile("mse(p, y)")))
        digraph loss {
          rankdir=LR;
          node [shape=box, fontname="Helvetica"];
          p [label="p", shape=ellipse];
          y [label="y", shape=ellipse];
          mse [label="total", style=filled, fillcolor="#fde68a"];
          p -> mse;
          y -> mse;
        }
    """
    labels = _labels(loss)
    lines = ["digraph loss {", "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];']
    for node in _drawn(loss):
        label = labels.get(node, _operation(node)).replace('"', '\\"')
        style = _dot_style(node, labels)
        lines.append(f'  {node.name} [label="{label}"{style}];')
    lines += [f"  {source.name} -> {target.name};" for source, target in _edges(loss)]
    return "\n".join([*lines, "}"])


def _dot_style(node: fx.Node, labels: dict[fx.Node, str]) -> str:
    if node.op == "placeholder":
        return ", shape=ellipse"
    if labels.get(node) == "total":
        return ', style=filled, fillcolor="#fde68a"'
    return ', style=filled, fillcolor="#dbeafe"' if node in labels else ""


def mermaid(loss: LossModule) -> str:
    """The computation graph as a Mermaid flowchart, for Markdown pages.

    Example:
        >>> import losslang
        >>> print(mermaid(losslang.compile("mse(p, y)")))
        graph LR
          p(["p"])
          y(["y"])
          mse[["total"]]
          p --> mse
          y --> mse
    """
    labels = _labels(loss)
    lines = ["graph LR"]
    for node in _drawn(loss):
        label = labels.get(node, _operation(node)).replace('"', "#quot;")
        shape = '(["{}"])' if node.op == "placeholder" else '[["{}"]]' if node in labels else '["{}"]'
        lines.append(f"  {node.name}{shape.format(label)}")
    lines += [f"  {source.name} --> {target.name}" for source, target in _edges(loss)]
    return "\n".join(lines)


def _drawn(loss: LossModule) -> list[fx.Node]:
    """The nodes that compute something: inputs and operations, not gradient-mode switches or casts."""
    hidden = (torch.is_grad_enabled, torch._C._set_grad_enabled, float32_copy)
    return [
        node
        for node in loss.body.graph.nodes
        if node.op in ("placeholder", "call_function", "call_module")
        and node.target not in hidden
        and not _scheme_weights(loss, node)
    ]


def _operation(node: fx.Node) -> str:
    if node.op == "call_module":  # a scheme or a module term, by the name formulas write it with
        return str(node.target).rsplit("_", 1)[0]
    symbols = {"add": "+", "sub": "-", "mul": "*", "truediv": "/", "pow": "**", "neg": "-", "getitem": "[]"}
    name = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", str(node.target))
    return symbols.get(name, name)


def as_dict(loss: LossModule) -> dict[str, object]:
    """The summary as data, for scripts (``losslang explain --format json``).

    Example:
        >>> import losslang
        >>> info = as_dict(losslang.compile("l1 = mae(p, y); mse(p, y)"))
        >>> info["inputs"], info["metrics"], info["terms"][1]
        (['p', 'y'], ['l1'], {'name': 'mse(p, y)', 'role': 'in the total'})
    """
    masks = _without_gradient(loss)
    return {
        "formula": loss.canonical,
        "inputs": list(loss.inputs),
        "terms": [{"name": name, "role": _role(loss, name, masks)} for name in loss.term_names],
        "metrics": list(loss.metric_names),
        "parameters": {name: list(value.shape) for name, value in loss.named_parameters()},
        "weighting": _schemes(loss),
        "code": loss.code,
    }


def _role(loss: LossModule, name: str, masks: set[str]) -> str:
    if name in loss.metric_names:
        return "metric (no gradient)"
    return "in the total" + (" (carries no gradient: a comparison or accuracy)" if name in masks else "")


# What computes a value without gradient: comparisons give masks, accuracy counts hits.
_NO_GRADIENT = {operator.lt, operator.le, operator.gt, operator.ge, operator.eq, operator.ne, *COMPARISONS, accuracy}


def _without_gradient(loss: LossModule) -> set[str]:
    """The terms whose value comes straight from a comparison or ``accuracy``, so no gradient flows through it."""
    outputs = loss.body.graph.output_node().args[0][1:]
    return {
        name
        for name, node in zip(loss.term_names, outputs, strict=False)
        if isinstance(node, fx.Node) and node.op == "call_function" and node.target in _NO_GRADIENT
    }
