"""The one exception family that losslang raises on bad input.

Every error says where (``line:column`` with the source line and a caret, a term name, a
config node) and what to do. Each subclass also derives from the builtin a Python user would
catch for that kind of fault, so ``except ValueError`` keeps working.
"""

from __future__ import annotations

import difflib
import reprlib
import unicodedata
from collections.abc import Iterable
from typing import Any

# An error message is read by a person: a value quoted in it, or the whole reason, is cut to
# these sizes, so a hostile value (a "billion laughs" list, a 5000-digit integer) cannot make
# an error slow to build or huge to print.
MAX_REASON = 2_000


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
        if len(reason) > MAX_REASON:  # keep both ends: what is wrong, and what to do
            half = MAX_REASON // 2
            reason = f"{reason[:half]} ... ({len(reason) - 2 * half:,} characters) ... {reason[-half:]}"
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

    Close means a few typing slips away: at most one edit (a letter added, dropped, changed, or two
    swapped) per three letters, ignoring case. A suggestion that is not close misleads more than none.

    Example:
        >>> did_you_mean("mes", ["mse", "mae", "huber"])
        " (did you mean 'mse'?)"
        >>> did_you_mean("recn", ["recon"], kind="the term ")
        " (did you mean the term 'recon'?)"
        >>> did_you_mean("where", ["huber", "mse"])
        ''
    """
    close = closest(word, choices)
    return f" (did you mean {kind}'{close}'?)" if close is not None else ""


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice fewest typing slips from ``word`` (see :func:`did_you_mean`), or ``None`` if none is close.

    Example:
        >>> closest("adma", ["sgd", "adam", "adamw"])
        'adam'
    """
    limit = max(1, len(word) // 3) if len(word) > 1 else 0  # any one-letter name is one slip from another
    best: tuple[int, float, str] | None = None
    for choice in choices:
        if isinstance(choice, str) and choice != word and abs(len(choice) - len(word)) <= limit:
            distance = _slips(word.lower(), choice.lower())
            # Between equally close choices, the one sharing more letters in order: y1 -> y_1, not y.
            key = (distance, -difflib.SequenceMatcher(None, word, choice).ratio(), choice)
            if distance <= limit and (best is None or key < best):
                best = key
    return best[2] if best else None


def _slips(a: str, b: str) -> int:
    """The optimal-string-alignment distance: insertions, deletions, substitutions and adjacent swaps."""
    previous, current = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        before, previous, current = previous, current, [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if before is not None and i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], before[j - 2] + 1)
    return current[len(b)]


def locate(message: str, source: str, line: int, column: int) -> str:
    """Prefix ``message`` with ``line:column`` and quote the source line with a caret under it.

    Example:
        >>> print(locate("unexpected ')'", "mse(a,))", 1, 8))
        line 1, column 8: unexpected ')'
          mse(a,))
                 ^
    """
    lines = source_lines(source)
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    # Other control characters (a form feed, U+2028 in a comment) show as spaces: one column each.
    text = "".join(char if char.isprintable() or char == "\t" else " " for char in text.removesuffix("\r"))
    offset = column - 1
    if len(text) > _WIDTH:  # quote a window around the fault, not a huge line
        start = max(0, min(offset - _WIDTH // 2, len(text) - _WIDTH))
        text = ("..." if start else "") + text[start : start + _WIDTH] + ("..." if start + _WIDTH < len(text) else "")
        offset = offset - start + (3 if start else 0)
    # Tabs before the fault are kept under it, so the caret lines up however wide a tab shows.
    pad = "".join(char if char == "\t" else " " for char in text[:offset]).ljust(offset)
    return f"line {line}, column {column}: {message}\n  {text}\n  {pad}^"


_WIDTH = 100


def source_lines(source: str) -> list[str]:
    r"""The lines of a formula: a line ends at ``\n`` only, as in the grammar (not at U+2028, ``\x0c``, ...).

    The parser, the error carets and config assembly all count lines with this one function.

    Example:
        >>> source_lines("a  # note\u2028 + b\nc")
        ['a  # note\u2028 + b', 'c']
    """
    return source.split("\n")


class _Shown(reprlib.Repr):
    """``reprlib`` with short limits, and integers too long for ``repr()`` named by their size."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel, self.maxlist, self.maxdict, self.maxtuple, self.maxset = 2, 4, 4, 4, 4
        self.maxstring = self.maxother = self.maxlong = 60

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 100:  # about 30 digits; repr() of 4,300 digits or more raises
            return f"<an integer of {x.bit_length():,} bits>"
        return repr(x)


def shown(value: Any) -> str:
    """``repr(value)`` for an error message: bounded in size and time, whatever the value.

    Example:
        >>> shown("recon")
        "'recon'"
        >>> shown(10**5000)
        '<an integer of 16,610 bits>'
        >>> shown([[1, 2, 3, 4, 5, 6]] * 1000)
        '[[1, 2, 3, 4, ...], [1, 2, 3, 4, ...], [1, 2, 3, 4, ...], [1, 2, 3, 4, ...], ...]'
    """
    try:
        return _SHOWN.repr(value)
    except Exception:  # a user object whose __repr__ raises
        return f"<a {type(value).__name__}>"


def key_text(key: Any) -> str:
    """A config key as an error names it: a string as it is, anything else as :func:`shown` shows it.

    Example:
        >>> key_text("loss"), key_text(3)
        ('loss', '3')
    """
    return key if isinstance(key, str) else shown(key)


_SHOWN = _Shown()


# Letters of other scripts that look like ASCII ones: a name typed or pasted with one reads the same and is not.
_LOOK_ALIKES = dict(
    zip(
        "\u0430\u0435\u043e\u0440\u0441\u0443\u0445\u0456\u0455\u0458\u0501\u04bb\u0410\u0412\u0415\u041a\u041c\u041d"
        "\u041e\u0420\u0421\u0422\u0425\u03bf\u03b1\u03bd\u03c1\u0391\u0392\u0395\u0396\u0397\u0399\u039a\u039c\u039d"
        "\u039f\u03a1\u03a4\u03a5\u03a7\u0131",
        "aeopcyxisjdhABEKMHOPCTXoavpABEZHIKMNOPTYXi",
        strict=True,
    )
)


def character_text(character: str) -> str:
    """A character by its code point and Unicode name, saying which ASCII letter it looks like if it does.

    Example:
        >>> character_text("\u0435")
        "U+0435 CYRILLIC SMALL LETTER IE, a look-alike of the ASCII 'e'"
    """
    described = f"U+{ord(character):04X} {unicodedata.name(character, 'an unnamed character')}"
    ascii_twin = _LOOK_ALIKES.get(character)
    return f"{described}, a look-alike of the ASCII {ascii_twin!r}" if ascii_twin else described
