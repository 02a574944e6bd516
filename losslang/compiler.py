"""Checked program -> torch.fx graph -> ``GraphModule``.

The generated code calls the term functions and tensor operators directly, with constants
inlined: there is no interpreter in the hot path. Nodes are hash-consed on
``(function, arguments)``, so an identical sub-expression is computed once wherever it is
written, and a tensor that several built-in terms cast to float32 under autocast is cast once.
Terms the total does not use are computed after it with gradients off.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx

from losslang import ast
from losslang.ast import constant_key
from losslang.check import Checked
from losslang.errors import LossArityError, LossLangError
from losslang.registry import TermSpec
from losslang.terms import arithmetic, functions
from losslang.terms.precision import computes_in_float32, float32_copy
from losslang.terms.shaping import AXIS_INSERTING
from losslang.terms.sizes import SIZES

# Where an operand is one value (_Builder.one_value), which cannot broadcast to more values than the
# other; other operands take arithmetic.OPERATORS, which refuse that.
_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "**": operator.pow,
    "@": operator.matmul,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_REDUCTIONS = frozenset(
    {functions.mean, functions.sum, functions.max, functions.min, functions.std, functions.var, functions.norm}
)


@dataclass(frozen=True)
class Graph:
    """The generated module and what its outputs are.

    Attributes:
        module: ``forward(*inputs[, step]) -> (total, *terms)``.
        term_names: the name of each output after the total.
        metric_names: the terms computed without gradient because the total does not use them.
        evaluation_order: the outputs (0 is the total) in the order the generated code computes them.
        guarded: the outputs that are terms the total is made of (not metrics, not weights),
            which ``nan_policy="skip"`` drops from a step when they are not finite.
    """

    module: fx.GraphModule
    term_names: tuple[str, ...]
    metric_names: tuple[str, ...]
    evaluation_order: tuple[int, ...] = ()
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
        >>> graph = build(check(parse("mean(mae(p, a), mae(p, b)) + mse(p, a)"), REGISTRY))
        >>> graph.term_names
        ('mae(p, a)', 'mae(p, b)', 'mse(p, a)', 'mean(mae(p, a), mae(p, b))')
    """
    return _Builder(checked).run()


class _Builder:
    def __init__(self, checked: Checked) -> None:
        self.checked = checked
        self.graph = fx.Graph()
        # fx makes the names unique: `out.logits` and `out_logits` are `out_logits` and `out_logits_1`.
        self.inputs = {path: self.graph.placeholder("_".join(path)) for path in checked.inputs}
        self.step = self.graph.placeholder("step") if checked.uses_step else None
        self.nodes: dict[tuple[Any, ...], fx.Node] = {}
        self.root = torch.nn.Module()  # holds the nn.Module terms, one per distinct construction
        self.modules: dict[tuple[Any, ...], str] = {}
        self.weights: dict[str, fx.Node] = {}  # weight/<term> outputs of weighting schemes
        self.reported: set[fx.Node] = set()  # the terms' outputs so far: one output per distinct node
        # A named term is emitted once per reference and every reported term again: remember each
        # AST node's result (keyed by identity; the node is kept alive with it) so each is walked once.
        self.emitted: dict[int, tuple[ast.Expr, Any]] = {}
        self.one_values: dict[int, bool] = {}  # keyed like emitted; the checked program keeps each node alive

    def run(self) -> Graph:
        total = self.emit(self.checked.total)
        # Computed with gradients: every node made so far, and the inputs the total reads (a term
        # that is an input the total uses is no metric).
        with_grad = {*self.nodes.values(), *upstream(total)}
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
        share_float32_copies(self.graph)
        self.name_parameters()
        module = fx.GraphModule(self.root, self.graph, class_name="LossGraph")
        position = {node: index for index, node in enumerate(self.graph.nodes)}
        results = [total, *outputs]
        # A term that is the total itself is named as the term.
        order = tuple(sorted(range(len(results)), key=lambda index: (position[results[index]], index == 0)))
        terms = len(names) - len(self.weights)
        guarded = tuple(index for index in range(1, terms + 1) if results[index] in with_grad)
        return Graph(module, names, metrics, order, guarded)

    def name_parameters(self) -> None:
        """Make each input's parameter name in the generated ``forward`` its node's name.

        fx gives every node a name that shadows nothing the generated code uses (builtins such as
        ``slice`` and ``Ellipsis``, keywords, ``torch``, the globals it adds) and no other node,
        but a placeholder keeps the name it was created with as its parameter name, which can:
        an input named ``slice`` would replace the builtin in the code. ``self`` is the module.
        """
        for node in self.graph.find_nodes(op="placeholder"):
            if node.name == "self":
                node._rename("self_input")
            node.target = node.name

    def outputs(self) -> tuple[tuple[str, ...], list[fx.Node]]:
        names: list[str] = []
        outputs: list[fx.Node] = []
        for name, expr in self.checked.reported:
            node = self.emit(expr)
            if name in self.checked.explicit or node not in self.reported:
                names.append(name)
                outputs.append(node)
                self.reported.add(node)
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
                plain = op == "@" or any(self.one_value(side) or self.inserts_axis(side) for side in (left, right))
                operators = _OPERATORS if plain else arithmetic.OPERATORS
                return self.call(operators[op], self.emit(left), self.emit(right))
            case ast.Index(target, subscripts):
                return self.call(operator.getitem, self.emit(target), tuple(map(self.subscript, subscripts)))
            case ast.Call(func, args, keywords):
                spec = self.checked.functions[func]
                kwargs = {keyword.name: self.emit(keyword.value) for keyword in keywords}
                if spec.kind == "weighting":
                    return self.weighting(spec, expr, kwargs)
                if spec.is_module:
                    built = {name: kwargs.pop(name) for name in spec.constructor if name in kwargs}
                    module = self.module(spec, built, expr)
                    return self.call(module, *map(self.emit, args), op="call_module", **kwargs)
                return self.call(spec.fn, *map(self.emit, args), **kwargs)
        raise TypeError(f"cannot compile {type(expr).__name__}")

    def subscript(self, item: ast.Subscript) -> Any:
        """An index item as ``operator.getitem`` takes it: a slice, an int, ``None``, ``...`` or a tensor node."""
        if isinstance(item, ast.Slice):
            return slice(item.start, item.stop, item.step)
        return self.emit(item) if isinstance(item, ast.Node) else item

    def inserts_axis(self, expr: ast.Expr) -> bool:
        """Whether ``expr`` is an axis the formula inserted itself: ``x[:, None]``, ``unsqueeze``, ``expand``.

        Arithmetic with such an operand broadcasts along that axis on purpose (a pairwise or outer
        expression), so it is torch's operator, without the check of an accidental broadcast.
        """
        match expr:
            case ast.Index(_, subscripts):
                return any(item is None for item in subscripts)
            case ast.Call(func):
                return self.checked.functions[func].fn in AXIS_INSERTING
            case ast.Ref(name):
                return self.inserts_axis(self.checked.definitions[name])
            case ast.Neg(operand):
                return self.inserts_axis(operand)
        return False

    def one_value(self, expr: ast.Expr) -> bool:
        """Whether ``expr`` is one value whatever the inputs: it cannot broadcast to more values than another.

        A constant, the step, a scheme's total, a reduction of one tensor over all of it, and a built-in
        loss term that reduces are; arithmetic of such is. Arithmetic with one of them is torch's
        operator; between two others it is :mod:`losslang.terms.arithmetic`'s, which checks the shapes.
        Each node is decided once: a term used twice in the next, and so on, would otherwise be
        walked exponentially often.
        """
        known = self.one_values.get(id(expr))
        if known is None:
            known = self.one_values[id(expr)] = self.decide_one_value(expr)
        return known

    def decide_one_value(self, expr: ast.Expr) -> bool:
        match expr:
            case ast.Number() | ast.Step():
                return True
            case ast.Ref(name):
                return self.one_value(self.checked.definitions[name])
            case ast.Neg(operand):
                return self.one_value(operand)
            case ast.Binary(_, left, right):
                return self.one_value(left) and self.one_value(right)
            case ast.Call(func, args, keywords):
                spec = self.checked.functions[func]
                given = {keyword.name: keyword.value for keyword in keywords}
                if spec.fn in _REDUCTIONS:
                    return len(args) == 1 and "dim" not in given
                if spec.fn in SIZES:
                    return True
                reduces = computes_in_float32(spec.fn) and any(param.name == "reduction" for param in spec.params)
                return spec.kind == "weighting" or (reduces and given.get("reduction") != ast.String("none"))
        return False

    def call(self, target: Callable[..., Any] | str, *args: Any, op: str = "call_function", **kwargs: Any) -> fx.Node:
        key = (target, _hashable(args), _hashable(sorted(kwargs.items())))
        if key not in self.nodes:
            self.nodes[key] = self.graph.create_node(op, target, args, kwargs)
        return self.nodes[key]

    def weighting(self, spec: TermSpec, call: ast.Call, kwargs: dict[str, Any]) -> fx.Node:
        """A weighting scheme: its total, with each weight recorded as the output ``weight/<term>``.

        A term that another scheme (``text`` differs) weights too reports this one's weight as
        ``weight/<scheme call>/<term>``, so that neither scheme's weight goes unreported.
        """
        args, text = call.args, str(call)
        names = tuple(map(str, args))
        scheme = self.call(self.module(spec, {"terms": names, **kwargs}, call), *map(self.emit, args), op="call_module")
        weights = self.call(operator.getitem, scheme, 1)
        for index, name in enumerate(names):
            weight = self.call(operator.getitem, weights, index)
            key = f"weight/{name}" if self.weights.get(f"weight/{name}", weight) is weight else f"weight/{text}/{name}"
            self.weights[key] = weight
        return self.call(operator.getitem, scheme, 0)

    def module(self, spec: TermSpec, kwargs: dict[str, Any], call: ast.Call) -> str:
        """The name of the submodule ``spec.fn(**kwargs)``, built on first use.

        Raises:
            LossLangError: the module's constructor raised, at the call's line and column: its own
                LossLangError's class, or LossArityError for any other exception.
        """
        key = (spec.fn, _hashable(sorted(kwargs.items())))
        if key not in self.modules:
            name = f"{spec.name}_{len(self.modules)}"
            try:
                self.root.add_module(name, spec.fn(**kwargs))
            except Exception as error:
                # A LossLangError keeps its class (a missing extra is a LossConfigError); torch's or a plugin's
                # own exception is a bad argument of the constructor.
                known = isinstance(error, LossLangError)
                cause = error.reason if known else f"{type(error).__name__}: {error}"
                span = call.span or ast.Span(1, 1, 1, 1)
                reason = f"{spec.name}() could not be built: {cause}"
                kind = type(error) if known else LossArityError
                raise kind(reason, source=self.checked.source, line=span.line, column=span.column) from None
            self.modules[key] = name
        return self.modules[key]


def share_float32_copies(graph: fx.Graph) -> None:
    """Give the built-in terms that take one tensor a single :func:`float32_copy` of it.

    Under autocast each built-in term casts its inputs to float32; a tensor that four terms take
    (``pred`` in the mission formula) would be copied four times, and autograd would keep each
    copy a term saves: more memory than a hand-written loss that casts once. The copy is made just
    before the first such term, which computes with gradients when any of them does (the metrics,
    computed without, come after the total). Outside autocast ``float32_copy`` is the tensor itself.

    Example:
        >>> import losslang
        >>> print(losslang.compile("mse(p, y) + mae(p, y)").code.strip())  # doctest: +NORMALIZE_WHITESPACE
        def forward(self, p, y):
            float32_copy = losslang_terms_precision_float32_copy(p);  p = None
            float32_copy_1 = losslang_terms_precision_float32_copy(y);  y = None
            mse = losslang_terms_regression_mse(float32_copy, float32_copy_1)
            mae = losslang_terms_regression_mae(float32_copy, float32_copy_1);  float32_copy = float32_copy_1 = None
            add = mse + mae
            return (add, mse, mae)
    """
    position = {node: index for index, node in enumerate(graph.nodes)}
    for node in list(graph.nodes):
        takers = sorted((user for user in node.users if computes_in_float32(user.target)), key=position.__getitem__)
        if len(takers) < 2:
            continue
        with graph.inserting_before(takers[0]):
            copy = graph.call_function(float32_copy, (node,))
        for user in takers:
            user.replace_input_with(node, copy)


def _hashable(value: Any) -> Any:
    """The key of an argument: ``True``, ``1`` and ``1.0`` (and ``0.0``, ``-0.0``) stay apart."""
    if isinstance(value, slice):  # slices are unhashable before Python 3.12
        return ("slice", value.start, value.stop, value.step)
    if isinstance(value, list | tuple):
        return (type(value).__name__, *map(_hashable, value))
    if isinstance(value, bool | int | float):
        return constant_key(value)
    return value


def upstream(node: Any) -> set[fx.Node]:
    """Every node ``node`` is computed from, itself included: one walk of the graph.

    Example:
        >>> from losslang import compile
        >>> sorted(node.name for node in upstream(compile("mse(p, y) + 1").body.graph.output_node()))
        ['add', 'mse', 'output', 'p', 'y']
    """
    return _reachable(node, lambda current: current.all_input_nodes)


def downstream(node: fx.Node) -> set[fx.Node]:
    """Every node computed from ``node``, itself included: one walk of the graph."""
    return _reachable(node, lambda current: list(current.users))


def _reachable(node: Any, following: Callable[[fx.Node], list[fx.Node]]) -> set[fx.Node]:
    stack, seen = [node], set()
    while stack:
        current = stack.pop()
        if isinstance(current, fx.Node) and current not in seen:
            seen.add(current)
            stack.extend(following(current))
    return seen
