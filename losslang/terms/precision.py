"""Half precision and autocast for the built-in loss terms, in one place: every term computes in float32.

torch's own losses (``mse_loss``, ``cross_entropy``, the margin losses) are on autocast's
float32 list: inside ``torch.autocast`` they compute in float32 and return float32. Outside it
they accumulate half-precision inputs in float32 and return the inputs' dtype. The built-in
terms are composites of many torch ops, most of which would run in half precision on their
own (a ``float16`` sum past 65504 is ``inf``, ``|a| |b|`` of two 300-vectors overflows, a norm
of ``1e-4``-vectors underflows), so :func:`float32_term` gives every one of them torch's
convention at once, instead of term by term:

- under autocast (on the inputs' device): ``float16``, ``bfloat16`` and ``float32`` inputs are
  cast to float32, the term runs with autocast off, and returns float32;
- outside it, with a half-precision input: half-precision inputs are cast to float32, and the
  result is cast back to the inputs' dtype (their promoted dtype when they differ, as torch
  promotes ``float16 * float32`` to ``float32``).

The casts are ordinary autograd ops, so each input's gradient arrives in its own dtype. Inputs
of other dtypes (float32, float64, integer indices, boolean masks) are passed through untouched,
and a call with none of them in half precision outside autocast costs one check.

A tensor that several terms of one loss take is cast once: the compiler passes them
:func:`float32_copy` of it (see :func:`losslang.compiler.share_float32_copies`), which under
autocast is the copy every one of them would have made, and outside it the tensor itself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import Tensor

HALF = (torch.float16, torch.bfloat16)
_AUTOCAST = (*HALF, torch.float32)  # what autocast casts to float32; float64 stays as it is
F = TypeVar("F", bound=Callable[..., Tensor])
_MARK = "_losslang_float32_term"


def float32_term(fn: F) -> F:
    """``fn``, computing in float32 from half-precision inputs and under autocast, as torch's losses do.

    Example:
        >>> import torch
        >>> x = torch.full((100_000,), 1.0, dtype=torch.float16)
        >>> def average(x: torch.Tensor) -> torch.Tensor:
        ...     return x.sum(dtype=x.dtype) / x.numel()
        >>> average(x)  # a float16 sum overflows past 65504
        tensor(inf, dtype=torch.float16)
        >>> float32_term(average)(x)  # sums in float32, returns float16
        tensor(1., dtype=torch.float16)
        >>> with torch.autocast("cpu", dtype=torch.bfloat16):
        ...     float32_term(lambda x: x * 2)(x).dtype  # float32 under autocast
        torch.float32
    """

    @functools.wraps(fn)
    def term(*args: Any, **kwargs: Any) -> Tensor:
        if torch._C._is_any_autocast_enabled():  # one C call; dynamo folds it to a constant
            device = _device(args)
            if device is not None and _autocasting(device):
                return _without_autocast(device, fn, _cast(args, _AUTOCAST), _cast_keywords(kwargs, _AUTOCAST))
        if not any(isinstance(arg, Tensor) and arg.dtype in HALF for arg in args):
            return fn(*args, **kwargs)
        result = fn(*_cast(args, HALF), **_cast_keywords(kwargs, HALF))
        dtype = _promoted((*args, *kwargs.values()))
        return result.to(dtype) if isinstance(result, Tensor) and result.is_floating_point() else result

    term.__dict__[_MARK] = True
    return term  # type: ignore[return-value]


def computes_in_float32(fn: object) -> bool:
    """Whether ``fn`` is a :func:`float32_term`, which casts its inputs to float32 under autocast.

    Example:
        >>> import torch
        >>> computes_in_float32(float32_term(torch.abs)), computes_in_float32(torch.abs)
        (True, False)
    """
    return getattr(fn, _MARK, False) is True


def float32_copy(value: Any) -> Any:
    """``value`` as every :func:`float32_term` takes it: under autocast its float32 copy, else itself.

    Several terms given this one copy compute what each would from ``value``, from one cast.

    Example:
        >>> import torch
        >>> x = torch.ones(2, dtype=torch.bfloat16)
        >>> float32_copy(x) is x
        True
        >>> with torch.autocast("cpu", dtype=torch.bfloat16):
        ...     float32_copy(x).dtype
        torch.float32
    """
    # The terms' own rule: the device's autocast state, and _cast's choice of what becomes float32.
    if torch._C._is_any_autocast_enabled() and isinstance(value, Tensor) and _autocasting(value.device.type):
        (value,) = _cast((value,), _AUTOCAST)
    return value


def _without_autocast(device: str, fn: Callable[..., Tensor], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor:
    """``fn(*args, **kwargs)`` with autocast, which is on, switched off on ``device``."""
    if torch.compiler.is_compiling():  # dynamo traces the context manager
        with torch.autocast(device, enabled=False):
            return fn(*args, **kwargs)
    # In eager, the switch itself: the context manager's bookkeeping costs 2.5 µs a term.
    torch.set_autocast_enabled(device, False)
    try:
        return fn(*args, **kwargs)
    finally:
        torch.set_autocast_enabled(device, True)


def _autocasting(device: str) -> bool:
    return torch.amp.is_autocast_available(device) and torch.is_autocast_enabled(device)


def _device(args: tuple[Any, ...]) -> str | None:
    """The device type of the first tensor argument: the device whose autocast state applies."""
    return next((arg.device.type for arg in args if isinstance(arg, Tensor)), None)


def _cast(values: tuple[Any, ...], dtypes: tuple[torch.dtype, ...]) -> tuple[Any, ...]:
    return tuple(value.float() if isinstance(value, Tensor) and value.dtype in dtypes else value for value in values)


def _cast_keywords(kwargs: dict[str, Any], dtypes: tuple[torch.dtype, ...]) -> dict[str, Any]:
    return dict(zip(kwargs, _cast(tuple(kwargs.values()), dtypes), strict=True))


def _promoted(values: tuple[Any, ...]) -> torch.dtype:
    """The dtype torch promotes the floating-point tensors among ``values`` to."""
    floating = [value.dtype for value in values if isinstance(value, Tensor) and value.is_floating_point()]
    return functools.reduce(torch.promote_types, floating)
