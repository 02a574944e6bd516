"""The one exception family that losslang raises on bad input.

Every error says where (``line:column`` with the source line and a caret, a term name, a
config node) and what to do. Each subclass also derives from the builtin a Python user would
catch for that kind of fault, so ``except ValueError`` keeps working.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class LossLangError(Exception):
    """Base of every error that losslang raises on bad input.

    Example:
        >>> import losslang
        >>> try:
        ...     losslang.compile("mse(pred)")
        ... except losslang.LossLangError as error:
        ...     print(type(error).__name__)
        LossArityError
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        # KeyError would otherwise print the repr of its argument, quotes and escaped newlines.
        return self.message


class LossSyntaxError(LossLangError, ValueError):
    """The text is not a formula: ``.line`` and ``.column`` (1-based) point at the fault."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


class LossNameError(LossLangError, KeyError):
    """A function, term or input name that does not exist, or a name defined twice."""


class LossArityError(LossLangError, TypeError):
    """A call with the wrong number of arguments, an unknown keyword or a value of the wrong type."""


class LossInputError(LossLangError, KeyError):
    """An input the loss needs is missing from the batch."""


class LossShapeError(LossLangError, ValueError):
    """Tensors whose shapes or dtypes do not fit the term they are given to."""


class LossValueError(LossLangError, ValueError):
    """A term evaluated to NaN or infinity while ``check_finite`` was on."""


class LossConfigError(LossLangError, ValueError):
    """A config mapping or YAML file that does not follow the schema."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or ``""`` if none is close.

    Example:
        >>> did_you_mean("mes", ["mse", "mae", "huber"])
        " (did you mean 'mse'?)"
    """
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def locate(message: str, source: str, line: int, column: int) -> str:
    """Prefix ``message`` with ``line:column`` and quote the source line with a caret under it.

    Example:
        >>> print(locate("unexpected ')'", "mse(a,))", 1, 8))
        line 1, column 8: unexpected ')'
          mse(a,))
                 ^
    """
    lines = source.splitlines() or [""]
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    return f"line {line}, column {column}: {message}\n  {text}\n  {' ' * (column - 1)}^"
