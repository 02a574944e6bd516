"""Schedules: weights that are pure functions of the step counter.

Each takes ``step`` (the module's counter, a 0-d tensor) and returns a 0-d float tensor, so a
changing step never changes the generated graph and ``torch.compile`` never recompiles for it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import Tensor

from losslang.bounds import NonNegative
from losslang.errors import LossArityError


def _progress(step: Tensor, steps: float, begin: float) -> Tensor:
    """How far ``step`` is through ``[begin, begin + steps]``, clamped to ``[0, 1]``."""
    elapsed = step.to(torch.get_default_dtype()) - begin
    return (elapsed / steps).clamp(0.0, 1.0) if steps > 0 else (elapsed >= 0).to(elapsed.dtype)


def ramp(step: Tensor, start: float, end: float, steps: NonNegative, *, begin: float = 0) -> Tensor:
    """Linear ramp from ``start`` (until step ``begin``) to ``end`` (from step ``begin + steps``).

    Example:
        >>> import torch
        >>> [ramp(torch.tensor(s), 0.0, 1.0, 4).item() for s in (0, 1, 4, 9)]
        [0.0, 0.25, 1.0, 1.0]
    """
    return start + (end - start) * _progress(step, steps, begin)


def cosine_ramp(step: Tensor, start: float, end: float, steps: NonNegative, *, begin: float = 0) -> Tensor:
    """Half-cosine ramp from ``start`` to ``end`` over ``steps`` steps from ``begin``: flat at both ends.

    Example:
        >>> import torch
        >>> [round(cosine_ramp(torch.tensor(s), 0.0, 1.0, 4).item(), 4) for s in (0, 1, 2, 4)]
        [0.0, 0.1464, 0.5, 1.0]
    """
    return start + (end - start) * (1 - torch.cos(math.pi * _progress(step, steps, begin))) / 2


def exp_decay(step: Tensor, start: float, rate: float) -> Tensor:
    """Exponential decay ``start * exp(-rate * step)``.

    Example:
        >>> import torch
        >>> round(exp_decay(torch.tensor(10), 2.0, 0.1).item(), 6)
        0.735759
    """
    return start * torch.exp(-rate * step.to(torch.get_default_dtype()))


def piecewise(step: Tensor, boundaries: Sequence[float], values: Sequence[float]) -> Tensor:
    """Piecewise constant: ``values[0]`` before ``boundaries[0]``, ``values[i]`` from ``boundaries[i-1]`` on.

    ``values`` has one more entry than ``boundaries``, which must increase.

    Example:
        >>> import torch
        >>> [piecewise(torch.tensor(s), [10, 20], [1.0, 0.5, 0.1]).item() for s in (0, 10, 15, 20)]
        [1.0, 0.5, 0.5, 0.10000000149011612]
    """
    if len(values) != len(boundaries) + 1 or any(a >= b for a, b in itertools.pairwise(boundaries)):
        raise LossArityError(
            f"piecewise() needs increasing boundaries and one more value than boundaries; "
            f"got {len(boundaries)} boundaries and {len(values)} values"
        )
    edges = torch.tensor(boundaries, dtype=torch.get_default_dtype(), device=step.device)
    table = torch.tensor(values, dtype=torch.get_default_dtype(), device=step.device)
    return table[torch.bucketize(step.to(edges.dtype), edges, right=True)]


SCHEDULES = [
    ("ramp", ramp, "function", ()),
    ("cosine_ramp", cosine_ramp, "function", ()),
    ("exp_decay", exp_decay, "function", ()),
    ("piecewise", piecewise, "function", ()),
]
