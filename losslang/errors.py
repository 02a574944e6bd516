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

    Attributes:
        reason: what is wrong, without the location.
        where: a prefix naming the file, config node or term, or ``""``.
        source, line, column: the formula text and the 1-based position of the fault in it, when
            known; the message then quotes that line with a caret.

    Example:
        >>> import losslang
        >>> try:
        ...     losslang.compile("mse(pred)")
        ... except losslang.LossLangError as error:
        ...     print(type(error).__name__, error.line, error.column)
        LossArityError 1 1
    """

    def __init__(
        self,
        reason: str,
        *,
        source: str | None = None,
        line: int | None = None,
        column: int | None = None,
        where: str = "",
    ) -> None:
        self.reason = reason
        self.source = source
        self.line = line
        self.column = column
        self.where = where
        located = locate(reason, source, line, column) if source is not None and line and column else reason
        self.message = f"{where}{located}"
        super().__init__(self.message)

    def __str__(self) -> str:
        # KeyError would otherwise print the repr of its argument, quotes and escaped newlines.
        return self.message

    def __reduce__(self) -> tuple[object, ...]:
        return _rebuild, (type(self), self.reason, self.source, self.line, self.column, self.where)

    def relocated(self, *, where: str, source: str | None = None, line: int | None = None) -> LossLangError:
        """The same error, prefixed with ``where`` and placed at ``line`` of ``source`` (same column)."""
        return type(self)(
            self.reason,
            source=source if source is not None else self.source,
            line=line if line is not None else self.line,
            column=self.column,
            where=where,
        )


def _rebuild(
    kind: type[LossLangError], reason: str, source: str | None, line: int | None, column: int | None, where: str
) -> LossLangError:
    return kind(reason, source=source, line=line, column=column, where=where)


class LossSyntaxError(LossLangError, ValueError):
    """The text is not a formula: ``.line`` and ``.column`` (1-based) point at the fault."""


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


def did_you_mean(word: str, choices: Iterable[str], *, kind: str = "") -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or ``""`` if none is close.

    Example:
        >>> did_you_mean("mes", ["mse", "mae", "huber"])
        " (did you mean 'mse'?)"
        >>> did_you_mean("recn", ["recon"], kind="the term ")
        " (did you mean the term 'recon'?)"
    """
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {kind}'{close[0]}'?)" if close else ""


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
    offset = column - 1
    if len(text) > _WIDTH:  # quote a window around the fault, not a huge line
        start = max(0, min(offset - _WIDTH // 2, len(text) - _WIDTH))
        text = ("..." if start else "") + text[start : start + _WIDTH] + ("..." if start + _WIDTH < len(text) else "")
        offset = offset - start + (3 if start else 0)
    # Tabs before the fault are kept under it, so the caret lines up however wide a tab shows.
    pad = "".join(char if char == "\t" else " " for char in text[:offset]).ljust(offset)
    return f"line {line}, column {column}: {message}\n  {text}\n  {pad}^"


_WIDTH = 100
