"""losslang: write a PyTorch loss as text, get one ``nn.Module`` that reports every term.

Example:
    >>> import torch, losslang
    >>> loss = losslang.compile("0.5*mse(pred, y1) + sin_angle(pred, y) + mean(mae(pred, y1), mae(pred, y2))")
    >>> print(loss)
    0.5 * mse(pred, y1) + sin_angle(pred, y) + mean(mae(pred, y1), mae(pred, y2))
    >>> loss.inputs
    ('pred', 'y1', 'y', 'y2')
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
from losslang.module import LossModule, LossOutput, NanPolicy
from losslang.parser import parse as _parse
from losslang.registry import register

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

if TYPE_CHECKING:  # only for the annotations: the namespace holds the public API alone
    from collections.abc import Callable, Mapping

    from torch import Tensor


def __dir__() -> list[str]:
    """The public API, for ``dir(losslang)`` and tab completion (submodules stay importable).

    Example:
        >>> import losslang
        >>> "compile" in dir(losslang), "Mapping" in dir(losslang)
        (True, False)
    """
    return sorted([*__all__, "__version__"])


def parse(source: str) -> Program:
    """Parse a formula or program into its immutable syntax tree; ``str()`` of it is the canonical text.

    Raises:
        LossSyntaxError: with ``.line``, ``.column``, the quoted line, a caret and what was expected.

    Example:
        >>> import losslang
        >>> print(losslang.parse("0.5*mse(pred,y1)+sin_angle(pred,y)"))
        0.5 * mse(pred, y1) + sin_angle(pred, y)
    """
    try:
        return _parse(source)
    except LossLangError as error:
        raise error.with_traceback(None) from None


def compile(  # noqa: A001 - losslang.compile is the public name
    source: str,
    *,
    terms: Mapping[str, Callable[..., Tensor]] | None = None,
    check_finite: bool = False,
    nan_policy: NanPolicy = "propagate",
    compile: bool = False,  # noqa: A002
) -> LossModule:
    """Compile a formula or program into a :class:`LossModule`.

    Args:
        source: one formula, or ``name = expr`` lines ending in the total.
        terms: extra term functions for this loss only, by name.
        check_finite: raise :class:`LossValueError` naming the first term that is NaN or infinite.
        nan_policy: ``"skip"`` drops a term that is NaN or infinite from that step's total and
            dynamic weights, and reports ``skipped/<term>`` (1.0 on such a step, else 0.0);
            ``"propagate"`` (the default) lets it through, as plain PyTorch does.
        compile: run ``torch.compile`` on the generated graph.

    Example:
        >>> import torch, losslang
        >>> loss = losslang.compile("recon = mse(pred, y); recon + 0.5*mae(pred, y)")
        >>> out = loss(pred=torch.tensor([1.0, 2.0]), y=torch.tensor([1.0, 4.0]))
        >>> out.metrics()
        {'total': 2.5, 'recon': 2.0, 'mae(pred, y)': 1.0}
    """
    try:
        return LossModule(source, terms=terms, check_finite=check_finite, nan_policy=nan_policy, compile=compile)
    except LossLangError as error:
        raise error.with_traceback(None) from None
