"""The generated code of a program, shared by every loss compiled from the same text.

Checking a program and generating its ``GraphModule`` (fx's code generation and Python's
``compile()`` of it) are pure functions of the text and of the functions its calls resolve to,
and they are most of the cost of :func:`losslang.compile`. A graph that holds no state (no
``nn.Module`` term, no weighting scheme) is plain code, so losses of the same text share it;
a graph with state is built afresh for each loss, since its parameters and buffers are that
loss's own.
"""

from __future__ import annotations

import threading

from losslang.check import Checked, check
from losslang.compiler import Graph, build
from losslang.parser import parse
from losslang.registry import Registry

CAPACITY = 256  # programs kept; the oldest entry goes first

_GENERATED: dict[str, tuple[Checked, Graph]] = {}
_LOCK = threading.Lock()


def generate(source: str, registry: Registry) -> tuple[Checked, Graph]:
    """Check and build ``source`` against ``registry``, reusing a stateless graph built before.

    A graph is reused only while every function it calls still resolves, under its name and
    each of its aliases, to the same registered spec.

    Example:
        >>> from losslang.registry import REGISTRY
        >>> first, again = generate("mse(p, y)", REGISTRY), generate("mse(p, y)", REGISTRY)
        >>> again[1].module is first[1].module
        True
        >>> generate("uncertainty(mse(p, y), mae(p, y))", REGISTRY)[1].module is generate(
        ...     "uncertainty(mse(p, y), mae(p, y))", REGISTRY)[1].module  # learned weights: its own
        False
    """
    program = parse(source)  # cached; refuses what is not text before it is used as a key
    with _LOCK:
        cached = _GENERATED.get(source)
    if cached is not None and _resolves_alike(cached[0], registry):
        return cached
    checked = check(program, registry)
    graph = build(checked)
    if next(graph.module.children(), None) is None:
        with _LOCK:
            if len(_GENERATED) >= CAPACITY:
                _GENERATED.pop(next(iter(_GENERATED)))
            _GENERATED[source] = checked, graph
    return checked, graph


def _resolves_alike(checked: Checked, registry: Registry) -> bool:
    return all(
        registry.lookup(name) == spec for spec in checked.functions.values() for name in (spec.name, *spec.aliases)
    )
