"""What a saved loss may hold: the recipe ``pickle`` stores, and state that fits the loss it loads into.

A checkpoint is data from outside: a file from another run, another version, or crafted. Loading
keeps the loss's own dtypes (an integer step counter, float32 scheme state) and refuses, with a
:class:`LossConfigError` naming the entry, whatever they cannot hold: a float step of 1e20 or 2.5
(a count must be exact), a float beyond a float16 loss's range (floats are otherwise rounded), a
meta tensor that has no values. A recipe whose
parts have the wrong types is refused the same way, before anything is built from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from losslang.errors import LossConfigError, shown

# The keyword arguments of LossModule a recipe may hold, and the type each must have.
_OPTIONS: dict[str, tuple[type, ...]] = {
    "terms": (Mapping,),
    "inputs": (Mapping,),
    "check_finite": (bool,),
    "nan_policy": (str,),
    "compile": (bool,),
}


def recipe(saved: tuple[Any, ...]) -> tuple[str, dict[str, Any], Mapping[str, Any], bool]:
    """``(source, options, state, training)`` from what ``pickle`` stored, each checked for its type.

    Raises:
        LossConfigError: the recipe does not have four parts, or a part has the wrong type.

    Example:
        >>> recipe(("mse(p, y)", {}, {}, True))
        ('mse(p, y)', {}, {}, True)
        >>> recipe(("mse(p, y)", {"colour": 1}, {}, True))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        losslang.errors.LossConfigError: this is not a saved losslang loss: unknown option 'colour' (options: ...)
    """
    if len(saved) != 4:
        _refuse(f"it has {len(saved)} parts, not 4 (source, options, state, training)")
    source, options, state, training = saved
    if not isinstance(source, str):
        _refuse(f"its formula is {shown(source)}, not a string")
    if not isinstance(options, Mapping) or not isinstance(state, Mapping):
        _refuse(f"its options and state must be mappings, not {type(options).__name__} and {type(state).__name__}")
    for name, value in options.items():
        if name not in _OPTIONS:
            _refuse(f"unknown option {shown(name)} (options: {', '.join(_OPTIONS)})")
        if not isinstance(value, _OPTIONS[name]):
            _refuse(f"option {name!r} is {shown(value)}")
    for name, key in dict(options.get("inputs", {})).items():
        if not isinstance(name, str) or not isinstance(key, str):
            _refuse(f"an input name is {shown(name)} -> {shown(key)}; both must be strings")
    if not isinstance(training, bool):
        _refuse(f"its training flag is {shown(training)}, not true or false")
    return source, dict(options), state, training


def fitted(own: Mapping[str, Tensor], state: Mapping[str, Any], formula: str) -> dict[str, Any]:
    """``state`` with every tensor converted to the dtype of the loss's own entry of that name.

    Entries the loss does not have, and values that are not tensors, are passed on for
    ``load_state_dict`` to judge (it names unexpected and missing keys).

    Floating-point state is rounded to the loss's own precision; a count (the step) must be an
    integer in range.

    Raises:
        LossConfigError: a tensor is on the meta device, or a value cannot be held in the loss's
            dtype (a fractional, huge or NaN step; a float beyond float16's range in a float16 loss).

    Example:
        >>> import torch
        >>> own = {"step": torch.zeros((), dtype=torch.int64)}
        >>> fitted(own, {"step": torch.tensor(3.0)}, "mse(p, y)")["step"]
        tensor(3)
        >>> fitted(own, {"step": torch.tensor(1e20)}, "mse(p, y)")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        losslang.errors.LossConfigError: this state does not fit the loss 'mse(p, y)': 'step' is ... (1e+20)
    """
    result = dict(state)
    for key, value in state.items():
        mine = own.get(key)
        if not isinstance(value, Tensor) or not isinstance(mine, Tensor):
            continue
        if value.is_meta and not mine.is_meta:
            _misfit(formula, f"{key!r} is a meta tensor: it has a shape but no values")
        if value.dtype == mine.dtype:
            continue
        converted = value.detach().to(mine.dtype)
        if mine.is_floating_point():  # rounded to the loss's precision; a finite value must stay finite
            held = converted.isfinite() == value.isfinite()
        else:  # a count: integral and in range, exactly
            held = converted.to(value.dtype) == value
        if not bool(held.all()):
            example = value.detach().reshape(-1)[~held.reshape(-1)][0].item()
            _misfit(
                formula,
                f"{key!r} is {value.dtype} holding a value that {mine.dtype}, the loss's own dtype, cannot hold "
                f"({example:g})",
            )
        result[key] = converted
    return result


def placement(state: Mapping[str, Any]) -> tuple[torch.dtype | None, bool]:
    """The floating dtype a whole saved loss was moved to, if its floating state has one, and whether it is on meta.

    ``loss.to(torch.float64)`` moves every floating tensor together, so a copy of that loss is float64.
    A state whose floating tensors differ in dtype was not moved so: it loads in the loss's own dtypes.

    Example:
        >>> import torch
        >>> placement({"step": torch.tensor(1), "w": torch.ones(2, dtype=torch.float64)})
        (torch.float64, False)
    """
    tensors = [value for value in state.values() if isinstance(value, Tensor)]
    floating = {value.dtype for value in tensors if value.is_floating_point()}
    meta = bool(tensors) and all(value.is_meta for value in tensors)
    return (floating.pop() if len(floating) == 1 else None), meta


def _refuse(reason: str) -> None:
    raise LossConfigError(f"this is not a saved losslang loss: {reason}")


def _misfit(formula: str, reason: str) -> None:
    raise LossConfigError(f"this state does not fit the loss {formula!r}: {reason}")
