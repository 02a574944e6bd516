"""``nan_policy="skip"``: a term that is NaN or infinite drops out of that step's total.

The common path costs one device sync: after the generated code has run, one check says
whether every term the total is made of is finite. Only when one is not does the graph run
again, node by node: each non-finite term becomes a zero that carries no gradient (a zero
times the term's NaN derivative would still be NaN), and everything downstream is computed
again from it. Weighting schemes are told which of their terms were dropped: they leave them
out and keep their state, which the first run had already moved and which is put back first.
Under DDP, when any rank drops a term, every rank's schemes keep their state, so the weights
stay identical across ranks.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

import torch
from torch import Tensor, fx

from losslang.distributed import all_reduce
from losslang.weighting import WeightingScheme

Snapshot = list[tuple[WeightingScheme, dict[str, Tensor]]]


def schemes(module: torch.nn.Module) -> tuple[WeightingScheme, ...]:
    """Every weighting scheme in ``module``: found once, when a loss is built, not at every call.

    Example:
        >>> import losslang
        >>> [scheme.name for scheme in schemes(losslang.compile("relobralo(mse(p, y), mae(p, y))"))]
        ['relobralo']
    """
    return tuple(scheme for scheme in module.modules() if isinstance(scheme, WeightingScheme))


def snapshot(found: Iterable[WeightingScheme]) -> Snapshot:
    """The state of each scheme, to put back if the step is redone or fails.

    Example:
        >>> import losslang
        >>> [scheme.name for scheme, _ in snapshot(schemes(losslang.compile("dwa(mse(p, y), mae(p, y))")))]
        ['dwa']
    """
    return [(scheme, scheme.snapshot()) for scheme in found]


def skip_non_finite(
    module: fx.GraphModule,
    guarded: Sequence[int],
    values: tuple[Tensor, ...],
    args: Sequence[Any],
    states: Snapshot,
) -> tuple[tuple[Tensor, ...], tuple[bool, ...]]:
    """The outputs of ``module`` on ``args`` with its non-finite guarded terms dropped, and which were.

    Args:
        module: the generated graph, which returned ``values`` on ``args``.
        guarded: the positions, among the outputs, of the terms that may be dropped.
        values: what the graph returned.
        args: what it was called with.
        states: the schemes' state from before the call (:func:`snapshot`).

    Example:
        >>> import torch, losslang
        >>> loss = losslang.compile("mse(p, y) + log(mae(p, y) - 1)")
        >>> batch = (torch.ones(2, requires_grad=True), torch.zeros(2))
        >>> loss.term_names
        ('mse(p, y)', 'mae(p, y)', 'log(mae(p, y) - 1)')
        >>> values, skipped = skip_non_finite(loss.body, [1, 2, 3], loss.body(*batch), batch, [])
        >>> values[0], skipped
        (tensor(1., grad_fn=<AddBackward0>), (False, False, True))
    """
    if not guarded or values[0].is_meta:  # meta tensors have shapes but no values to check
        return values, (False,) * len(guarded)
    bad = torch.stack([values[index].isfinite().all() for index in guarded]).logical_not().sum()
    if states:  # when any rank drops a term, every rank's schemes keep their state
        bad = all_reduce(bad, op="sum")
    if not bool(bad):
        return values, (False,) * len(guarded)
    for scheme, state in states:
        scheme.restore(state)
    outputs = module.graph.output_node().args[0]
    replay = _Replay(module, [outputs[index] for index in guarded])
    values = tuple(replay.run(*args))
    total = values[0]
    if not total.requires_grad and torch.is_grad_enabled() and any(_needs_grad(arg) for arg in args):
        values = (total.detach().requires_grad_(), *values[1:])  # every term dropped: a backward that does nothing
    return values, tuple(outputs[index] in replay.skipped for index in guarded)


def _needs_grad(value: Any) -> bool:
    return isinstance(value, Tensor) and value.requires_grad


class _Replay(fx.Interpreter):
    """Runs the graph node by node, replacing each non-finite guarded term with a zero."""

    def __init__(self, module: fx.GraphModule, guarded: Collection[fx.Node]) -> None:
        super().__init__(module)
        self.guarded = set(guarded)
        self.skipped: set[fx.Node] = set()
        self.tainted: set[fx.Node] = set()  # the dropped terms and everything computed from them

    def run_node(self, node: fx.Node) -> Any:
        """Run ``node``; a guarded term that is not finite becomes a zero without gradient."""
        if any(source in self.tainted for source in node.all_input_nodes):
            self.tainted.add(node)
        if node.op == "call_module" and isinstance(scheme := self.fetch_attr(str(node.target)), WeightingScheme):
            losses = self.map_nodes_to_values(node.args, node)
            return scheme.weigh(losses, [isinstance(arg, fx.Node) and arg in self.tainted for arg in node.args])
        value = super().run_node(node)
        if node in self.guarded and not bool(value.isfinite().all()):
            self.skipped.add(node)
            self.tainted.add(node)
            return torch.zeros_like(value)
        return value
