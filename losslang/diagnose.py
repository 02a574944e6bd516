"""What went wrong in a call of a loss: the term that raised, or the first one that is not finite.

Both run on the error path only. An exception from the generated code does not say which term
it came from, so :func:`failure` replays the graph node by node, without gradients, to find the
node that raises and the first reported term that depends on it. :func:`non_finite` reads the
finiteness of every output with one device sync and names the first non-finite one in
evaluation order, and whether its inputs already were.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, fx

from losslang.compiler import Graph, downstream, upstream
from losslang.errors import LossLangError, LossShapeError, LossValueError
from losslang.terms.arithmetic import OPERATORS
from losslang.weighting import WeightingScheme


def failure(graph: Graph, args: Sequence[Any], error: Exception) -> LossLangError:
    """The error to raise for ``error``, raised by ``graph.module`` on ``args``, naming the term it came from.

    An error of losslang's own from a term function (checking its inputs) gets the term's name
    in front; a torch error is wrapped, with the shapes and dtypes of the operands when it is
    about them.

    Example:
        >>> import torch, losslang
        >>> graph = losslang.compile("mse(a, b) + mae(a, c)")._graph
        >>> args = (torch.ones(2), torch.ones(2), torch.ones(3, 2))
        >>> try:
        ...     graph.module(*args)
        ... except Exception as error:
        ...     print(failure(graph, args, error))
        term 'mae(a, c)': mae(): pred has shape (2,) but target has shape (3, 2); they must match
    """
    replay = _Replay(graph.module)
    failed = replay.failing_node(args)
    names = graph.output_names
    outputs = graph.module.graph.output_node().args[0]
    terms = [i for i in graph.evaluation_order if not names[i].startswith("weight/")]  # a scheme's weights
    affected = downstream(failed) if failed is not None else set()
    index = next((i for i in terms if outputs[i] in affected), 0)
    where = "the total" if index == 0 else f"term {names[index]!r}"
    # A step inside the term: the function or the indexing that raised.
    inside = _inside(failed) if failed is not None and outputs[index] is not failed else ""
    if isinstance(error, LossLangError):
        # A weighting scheme's own errors already name the scheme and the term at fault; the
        # replay, without gradients, may not meet the error at all.
        if failed is None or _is_scheme(graph.module, failed):
            return error
        return error.relocated(where=f"{where}: {error.where}")
    if not any(word in str(error) for word in ("size", "shape", "dimension", "dtype")):
        return LossValueError(f"{where} failed{inside}: {type(error).__name__}: {error}")
    operands = ", ".join(f"{tuple(value.shape)} {value.dtype}" for value in replay.operands)
    return LossShapeError(f"{where} failed{inside}: {type(error).__name__}: {error} (operands: {operands})")


def non_finite(
    graph: Graph, inputs: Sequence[str], values: Sequence[Tensor], args: Sequence[Any]
) -> LossValueError | None:
    """The error naming the first output that is NaN or infinite, or ``None`` (one sync when all are finite).

    Args:
        graph: the generated graph, which returned ``values``.
        inputs: the name of each of its arguments.
        values: the total and every term.
        args: the arguments it was called with.

    Example:
        >>> import torch, losslang
        >>> graph = losslang.compile("mse(p, y) + log(mae(p, y) - 1)")._graph
        >>> args = (torch.ones(2), torch.zeros(2))
        >>> str(non_finite(graph, ["p", "y"], graph.module(*args), args))
        "term 'log(mae(p, y) - 1)' is infinite; its inputs were finite"
    """
    if values[0].is_meta:  # meta tensors have shapes but no values to check
        return None
    finite = torch.stack([value.isfinite().all() for value in values]).tolist()
    if all(finite):
        return None
    first = next(index for index in graph.evaluation_order if not finite[index])
    read = upstream(graph.module.graph.output_node().args[0][first])
    arguments = graph.module.graph.find_nodes(op="placeholder")
    bad = [
        inputs[i]
        for i, argument in enumerate(arguments)
        if argument in read and torch.is_tensor(args[i]) and not bool(args[i].isfinite().all())
    ]
    named = ", ".join(map(repr, bad))
    cause = f"its input{'s' * (len(bad) > 1)} {named} {'were' if len(bad) > 1 else 'was'} already NaN or infinite"
    cause = cause if bad else "its inputs were finite"
    kind = "NaN" if bool(values[first].isnan().any()) else "infinite"
    where = "the total" if first == 0 else f"term {graph.output_names[first]!r}"
    return LossValueError(f"{where} is {kind}; {cause}")


class _Replay(fx.Interpreter):
    """Runs the generated graph node by node to find the node that raises."""

    def failing_node(self, args: Sequence[Any]) -> fx.Node | None:
        """The node whose evaluation raises on ``args``, or ``None``; ``operands`` are the tensors it was given."""
        self.failed: fx.Node | None = None
        self.operands: list[Tensor] = []
        try:
            with torch.no_grad():
                self.run(*args)
        except Exception:
            if self.failed is not None:
                positional, keywords = self.fetch_args_kwargs_from_env(self.failed)
                self.operands = [value for value in (*positional, *keywords.values()) if torch.is_tensor(value)]
            return self.failed
        return None

    def run_node(self, node: fx.Node) -> Any:
        """Remember the node, then run it."""
        self.failed = node
        return super().run_node(node)


# An operator, checked or Python's own (`x @ y`, `p * 2`): the term's text already shows it.
_ARITHMETIC = frozenset(OPERATORS.values())
_OPERATOR_MODULE = operator.add.__module__


def _inside(node: fx.Node) -> str:
    """Where in a term ``node`` is, for the message: `` in transpose()``, `` in indexing``, or nothing (arithmetic)."""
    if node.target is operator.getitem:
        return " in indexing"
    name = getattr(node.target, "__name__", "")
    operator_function = node.target in _ARITHMETIC or getattr(node.target, "__module__", "") == _OPERATOR_MODULE
    if node.op != "call_function" or not name or name.startswith("_") or operator_function:
        return ""
    return f" in {name}()"


def _is_scheme(module: fx.GraphModule, node: fx.Node) -> bool:
    return node.op == "call_module" and isinstance(module.get_submodule(str(node.target)), WeightingScheme)
