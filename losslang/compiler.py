"""Checked program -> torch.fx graph -> ``GraphModule``.

The generated code calls the term functions and tensor operators directly, with constants
inlined: there is no interpreter in the hot path. Nodes are hash-consed on
``(function, arguments)``, so an identical sub-expression is computed once wherever it is
written. Terms the total does not use are computed after it with gradients off.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx

from losslang import ast
from losslang.check import Checked

_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "**": operator.pow,
}


@dataclass(frozen=True)
class Graph:
    """The generated module and what its outputs are.

    Attributes:
        module: ``forward(*inputs[, step]) -> (total, *terms)``.
        term_names: the name of each output after the total.
        metric_names: the terms computed without gradient because the total does not use them.
    """

    module: fx.GraphModule
    term_names: tuple[str, ...]
    metric_names: tuple[str, ...]


def build(checked: Checked) -> Graph:
    """Generate the ``GraphModule`` of a checked program.

    Example:
        >>> from losslang import parse
        >>> from losslang.check import check
        >>> from losslang.registry import REGISTRY
        >>> graph = build(check(parse("mean(mae(p, a), mae(p, b))"), REGISTRY))
        >>> graph.term_names
        ('mae(p, a)', 'mae(p, b)', 'mean(mae(p, a), mae(p, b))')
    """
    return _Builder(checked).run()


class _Builder:
    def __init__(self, checked: Checked) -> None:
        self.checked = checked
        self.graph = fx.Graph()
        self.inputs = {path: self.graph.placeholder("_".join(path)) for path in checked.inputs}
        self.step = self.graph.placeholder("step") if checked.uses_step else None
        self.nodes: dict[tuple[Any, ...], fx.Node] = {}
        # A named term is emitted once per reference and every reported term again: remember each
        # AST node's result (keyed by identity; the node is kept alive with it) so each is walked once.
        self.emitted: dict[int, tuple[ast.Expr, Any]] = {}

    def run(self) -> Graph:
        total = self.emit(self.checked.total)
        with_grad = set(self.nodes.values())
        grad_was = self.graph.call_function(torch.is_grad_enabled)
        grad_off = self.graph.call_function(torch._C._set_grad_enabled, (False,))
        names, outputs = self.outputs()
        metrics = tuple(name for name, node in zip(names, outputs, strict=True) if node not in with_grad)
        if metrics:
            self.graph.call_function(torch._C._set_grad_enabled, (grad_was,))
        else:
            self.graph.erase_node(grad_off)
            self.graph.erase_node(grad_was)
        self.graph.output((total, *outputs))
        module = fx.GraphModule(torch.nn.Module(), self.graph, class_name="LossGraph")
        return Graph(module, names, metrics)

    def outputs(self) -> tuple[tuple[str, ...], list[fx.Node]]:
        names: list[str] = []
        outputs: list[fx.Node] = []
        for name, expr in self.checked.reported:
            node = self.emit(expr)
            if name in self.checked.explicit or node not in outputs:
                names.append(name)
                outputs.append(node)
        return tuple(names), outputs

    def emit(self, expr: ast.Expr) -> Any:
        done = self.emitted.get(id(expr))
        if done is None:
            done = self.emitted[id(expr)] = (expr, self.generate(expr))
        return done[1]

    def generate(self, expr: ast.Expr) -> Any:
        match expr:
            case ast.Number(value) | ast.String(value) | ast.Bool(value):
                return value
            case ast.List(items):
                return [self.emit(item) for item in items]
            case ast.Input(path):
                return self.inputs[path]
            case ast.Step():
                return self.step
            case ast.Ref(name):
                return self.emit(self.checked.definitions[name])
            case ast.Neg(operand):
                return self.call(operator.neg, self.emit(operand))
            case ast.Binary(op, left, right):
                return self.call(_OPERATORS[op], self.emit(left), self.emit(right))
            case ast.Index(target, subscripts):
                return self.call(operator.getitem, self.emit(target), tuple(map(_subscript, subscripts)))
            case ast.Call(func, args, keywords):
                kwargs = {keyword.name: self.emit(keyword.value) for keyword in keywords}
                return self.call(self.checked.functions[func].fn, *map(self.emit, args), **kwargs)
        raise TypeError(f"cannot compile {type(expr).__name__}")

    def call(self, target: Callable[..., Any], *args: Any, **kwargs: Any) -> fx.Node:
        key = (target, _hashable(args), _hashable(sorted(kwargs.items())))
        if key not in self.nodes:
            self.nodes[key] = self.graph.call_function(target, args, kwargs)
        return self.nodes[key]


def _subscript(item: ast.Subscript) -> int | slice | Any:
    return slice(item.start, item.stop, item.step) if isinstance(item, ast.Slice) else item


def _hashable(value: Any) -> Any:
    if isinstance(value, slice):  # slices are unhashable before Python 3.12
        return ("slice", value.start, value.stop, value.step)
    if isinstance(value, list | tuple):
        return (type(value).__name__, *map(_hashable, value))
    return value
