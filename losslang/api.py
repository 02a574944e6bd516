"""The two public functions defined by losslang itself, ``parse`` and ``compile``, as ``import losslang`` exports them.

They re-raise a :class:`LossLangError` without the library's frames, so the user's traceback
ends at their own call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from torch import Tensor

from losslang.ast import Program
from losslang.errors import LossLangError
from losslang.module import LossModule, NanPolicy
from losslang.parser import parse as _parse


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
