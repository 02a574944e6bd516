"""Checked program -> torch.fx graph -> ``GraphModule``.

The generated code calls the term functions and tensor operators directly, with constants
inlined: there is no interpreter in the hot path. Nodes are hash-consed on
``(function, arguments)``, so an identical sub-expression is computed once wherever it is
written. Terms the total does not use are computed after it with gradients off.
"""

from __future__ import annotations

import keyword
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx

from losslang import ast
from losslang.check import Checked
from losslang.errors import LossArityError
from losslang.registry import TermSpec

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
        evaluation_order: the outputs (0 is the total) in the order the generated code computes them.
        output_inputs: for each output, the positions of the arguments it reads.
        guarded: the outputs that are terms the total is made of (not metrics, not weights),
            which ``nan_policy="skip"`` drops from a step when they are not finite.
    """

    module: fx.GraphModule
    term_names: tuple[str, ...]
    metric_names: tuple[str, ...]
    evaluation_order: tuple[int, ...] = ()
    output_inputs: tuple[tuple[int, ...], ...] = ()
    guarded: tuple[int, ...] = ()

    @property
    def output_names(self) -> tuple[str, ...]:
        """The name of each output: ``"total"``, then the terms'."""
        return ("total", *self.term_names)


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
        names = _parameter_names(checked.inputs)
        self.inputs = {path: self.graph.placeholder(name) for path, name in zip(checked.inputs, names, strict=True)}
        self.step = self.graph.placeholder("step") if checked.uses_step else None
        self.nodes: dict[tuple[Any, ...], fx.Node] = {}
        self.root = torch.nn.Module()  # holds the nn.Module terms, one per distinct construction
        self.modules: dict[tuple[Any, ...], str] = {}
        self.weights: dict[str, fx.Node] = {}  # weight/<term> outputs of weighting schemes
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
        self.rename_inputs_named({"self"}, keyword.iskeyword)
        module = fx.GraphModule(self.root, self.graph, class_name="LossGraph")
        if self.rename_inputs_named(set(module.forward.__globals__)):
            module.recompile()  # rare: an input named like a global of the generated code
        position = {node: index for index, node in enumerate(self.graph.nodes)}
        results = [total, *outputs]
        # A term that is the total itself is named as the term.
        order = tuple(sorted(range(len(results)), key=lambda index: (position[results[index]], index == 0)))
        terms = len(names) - len(self.weights)
        guarded = tuple(index for index in range(1, terms + 1) if results[index] in with_grad)
        return Graph(module, names, metrics, order, tuple(map(self.arguments_read, results)), guarded)

    def arguments_read(self, node: fx.Node) -> tuple[int, ...]:
        """The positions of the generated forward's arguments that ``node`` depends on."""
        arguments = [*self.inputs.values(), *([self.step] if self.step is not None else [])]
        seen, stack = set(), [node]
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(current.all_input_nodes)
        return tuple(index for index, argument in enumerate(arguments) if argument in seen)

    def rename_inputs_named(self, reserved: set[str], also: Callable[[str], bool] = lambda name: False) -> bool:
        """Give a new name to the inputs named like one of ``reserved`` (or for which ``also`` holds).

        A placeholder's target is its parameter name in the generated ``forward``: it must not be
        a Python keyword, ``self`` or a global of the generated code (fx renames the node on a
        clash but keeps the target, which would shadow the global). The new name is the node's,
        unique in the graph, so it clashes with no other parameter. Returns whether any was renamed.
        """
        renamed = False
        for node in [*self.inputs.values(), *([self.step] if self.step is not None else [])]:
            if node.target in reserved or also(str(node.target)):
                node._rename(f"{node.target}_input")
                node.target = node.name
                renamed = True
        return renamed

    def outputs(self) -> tuple[tuple[str, ...], list[fx.Node]]:
        names: list[str] = []
        outputs: list[fx.Node] = []
        for name, expr in self.checked.reported:
            node = self.emit(expr)
            if name in self.checked.explicit or node not in outputs:
                names.append(name)
                outputs.append(node)
        return (*names, *self.weights), [*outputs, *self.weights.values()]

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
                spec = self.checked.functions[func]
                kwargs = {keyword.name: self.emit(keyword.value) for keyword in keywords}
                if spec.kind == "weighting":
                    return self.weighting(spec, args, kwargs, str(expr))
                if spec.is_module:
                    built = {name: kwargs.pop(name) for name in spec.constructor if name in kwargs}
                    return self.call(self.module(spec, built), *map(self.emit, args), op="call_module", **kwargs)
                return self.call(spec.fn, *map(self.emit, args), **kwargs)
        raise TypeError(f"cannot compile {type(expr).__name__}")

    def call(self, target: Callable[..., Any] | str, *args: Any, op: str = "call_function", **kwargs: Any) -> fx.Node:
        key = (target, _hashable(args), _hashable(sorted(kwargs.items())))
        if key not in self.nodes:
            self.nodes[key] = self.graph.create_node(op, target, args, kwargs)
        return self.nodes[key]

    def weighting(self, spec: TermSpec, args: tuple[ast.Expr, ...], kwargs: dict[str, Any], text: str) -> fx.Node:
        """A weighting scheme: its total, with each weight recorded as the output ``weight/<term>``.

        A term that another scheme (``text`` differs) weights too reports this one's weight as
        ``weight/<scheme call>/<term>``, so that neither scheme's weight goes unreported.
        """
        names = tuple(map(str, args))
        scheme = self.call(self.module(spec, {"terms": names, **kwargs}), *map(self.emit, args), op="call_module")
        weights = self.call(operator.getitem, scheme, 1)
        for index, name in enumerate(names):
            weight = self.call(operator.getitem, weights, index)
            key = f"weight/{name}" if self.weights.get(f"weight/{name}", weight) is weight else f"weight/{text}/{name}"
            self.weights[key] = weight
        return self.call(operator.getitem, scheme, 0)

    def module(self, spec: TermSpec, kwargs: dict[str, Any]) -> str:
        """The name of the submodule ``spec.fn(**kwargs)``, built on first use."""
        key = (spec.fn, _hashable(sorted(kwargs.items())))
        if key not in self.modules:
            name = f"{spec.name}_{len(self.modules)}"
            try:
                self.root.add_module(name, spec.fn(**kwargs))
            except Exception as error:
                reason = f"{spec.name}(): building {spec.fn.__name__} failed: {type(error).__name__}: {error}"
                raise LossArityError(reason) from None
            self.modules[key] = name
        return self.modules[key]


def _parameter_names(paths: tuple[tuple[str, ...], ...]) -> list[str]:
    """A distinct parameter name for each input: ``out.logits`` and ``out_logits`` both join to ``out_logits``."""
    taken = {"step"}
    names = []
    for path in paths:
        name = base = "_".join(path)
        count = 0
        while name in taken:
            count += 1
            name = f"{base}_{count}"
        taken.add(name)
        names.append(name)
    return names


def _subscript(item: ast.Subscript) -> int | slice | Any:
    return slice(item.start, item.stop, item.step) if isinstance(item, ast.Slice) else item


def _hashable(value: Any) -> Any:
    if isinstance(value, slice):  # slices are unhashable before Python 3.12
        return ("slice", value.start, value.stop, value.step)
    if isinstance(value, list | tuple):
        return (type(value).__name__, *map(_hashable, value))
    return value
