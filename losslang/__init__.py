"""losslang: write a PyTorch loss as text, get one ``nn.Module`` that reports every term.

``import losslang`` loads nothing but this file: each public name is imported where it lives on
first use, so the command line answers ``--help`` and ``--version`` without importing torch.

Example:
    >>> import torch, losslang
    >>> loss = losslang.compile("0.5*mse(pred, y1) + sin_angle(pred, y) + mean(mae(pred, y1), mae(pred, y2))")
    >>> print(loss)
    0.5 * mse(pred, y1) + sin_angle(pred, y) + mean(mae(pred, y1), mae(pred, y2))
    >>> loss.inputs
    ('pred', 'y1', 'y', 'y2')
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

__all__ = [
    "LossArityError",
    "LossConfigError",
    "LossInputError",
    "LossLangError",
    "LossModule",
    "LossNameError",
    "LossOutput",
    "LossShapeError",
    "LossSyntaxError",
    "LossValueError",
    "Program",
    "as_loss_fn",
    "compile",
    "load",
    "parse",
    "register",
]
__version__ = "0.1.0"

_ERRORS = [name for name in __all__ if name.startswith("Loss") and name.endswith("Error")]
_HOMES: dict[str, str] = {
    **dict.fromkeys(_ERRORS, "losslang.errors"),
    "LossModule": "losslang.module",
    "LossOutput": "losslang.output",
    "Program": "losslang.ast",
    "as_loss_fn": "losslang.integrations.trainers",
    "compile": "losslang.api",
    "parse": "losslang.api",
    "load": "losslang.config",
    "register": "losslang.registry",
}

if TYPE_CHECKING:  # what the names are, for type checkers and editors
    from losslang.api import compile, parse  # noqa: A004
    from losslang.ast import Program
    from losslang.config import load
    from losslang.errors import (
        LossArityError,
        LossConfigError,
        LossInputError,
        LossLangError,
        LossNameError,
        LossShapeError,
        LossSyntaxError,
        LossValueError,
    )
    from losslang.integrations.trainers import as_loss_fn
    from losslang.module import LossModule
    from losslang.output import LossOutput
    from losslang.registry import register


def __getattr__(name: str) -> Any:
    """Import a public name where it lives, the first time it is used, and keep it here.

    Example:
        >>> import losslang
        >>> losslang.LossModule.__module__
        'losslang.module'
        >>> str(losslang.bounds.Range(gt=0))  # submodules too, as before
        'greater than 0'
    """
    home = _HOMES.get(name)
    if home is not None:
        value = globals()[name] = getattr(importlib.import_module(home), name)
        return value
    if not name.startswith("_") and importlib.util.find_spec(f"losslang.{name}") is not None:
        return importlib.import_module(f"losslang.{name}")  # a submodule: losslang.bounds.Range
    raise AttributeError(f"module 'losslang' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public API, for ``dir(losslang)`` and tab completion (submodules stay importable).

    Example:
        >>> import losslang
        >>> "compile" in dir(losslang), "Mapping" in dir(losslang)
        (True, False)
    """
    return sorted([*__all__, "__version__"])
