"""Text -> syntax tree: the lark LALR parser and the one Transformer that builds the AST.

The grammar (``grammar/losslang.lark``) holds syntax only. This module turns lark's parse tree
into :mod:`losslang.ast` nodes and lark's exceptions into :class:`LossSyntaxError` with the
line quoted and a caret under the fault. Parsing is a pure function of the text, so it is cached.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lark
from lark import Token, Transformer_NonRecursive, v_args

from losslang import ast
from losslang.errors import LossArityError, LossSyntaxError, character_text, source_lines

_OPENERS = {"LPAR", "LSQB"}
_CLOSERS = {"RPAR", "RSQB"}
# How lark's terminal names read in an "expected ..." message; string terminals quote themselves.
_TERMINAL_NAMES = {
    "NAME": "a name",
    "NUMBER": "a number",
    "STRING": "a string",
    "_NL": "a new line",
    "$END": "the end of the formula",
}
# Limits that keep every later (recursive) stage far from Python's recursion limit and hostile
# input fast to refuse; generous for any real loss.
MAX_LENGTH = 100_000
MAX_DEPTH = 200
_DIGITS = 400
_TOO_DEEP = f"the formula nests more than {MAX_DEPTH} levels deep; split it into named terms"
_BINARY_OPERATORS = {"'+'", "'*'", "'/'", "'**'", "'<'", "'=='", "'@'"}
_OPERATORS = _BINARY_OPERATORS | {"'-'", "'<='", "'>'", "'>='", "'!='"}
_TOKEN_KINDS = {"NAME": "name", "NUMBER": "number", "STRING": "string"}


def grammar_path() -> Path:
    """Return the grammar file: inside the wheel, or at the repository root for a source checkout.

    Example:
        >>> grammar_path().name
        'losslang.lark'
    """
    here = Path(__file__).resolve().parent
    for candidate in (here / "grammar" / "losslang.lark", here.parent / "grammar" / "losslang.lark"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("losslang.lark is missing from the installation; reinstall losslang")


class _RefusedError(Exception):
    """A token refused before parsing, with the reason: brackets nested too deep, an index too long."""

    def __init__(self, token: Token, reason: str) -> None:
        self.token = token
        self.reason = reason


class _NewlinesInBrackets:
    """Drop line breaks inside parentheses and brackets, so a long call may span lines; refuse deep nesting."""

    always_accept = ("_NL",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        depth = 0
        for token in stream:
            depth += (token.type in _OPENERS) - (token.type in _CLOSERS)
            if depth > MAX_DEPTH:
                raise _RefusedError(token, _TOO_DEEP)
            if token.type != "_NL" or depth <= 0:
                yield token


@functools.cache
def _lark() -> lark.Lark:
    return lark.Lark(
        grammar_path().read_text(encoding="utf-8"),
        parser="lalr",
        postlex=_NewlinesInBrackets(),
        propagate_positions=True,
        maybe_placeholders=True,
    )


def _span(meta: Any) -> ast.Span:
    return ast.Span(meta.line, meta.column, meta.end_line, meta.end_column)


@v_args(meta=True)
class _Build(Transformer_NonRecursive):
    """Build AST nodes; it raises nothing, since semantic checks belong to losslang.check."""

    def start(self, meta: Any, children: list[Any]) -> ast.Program:
        return ast.Program(tuple(children[:-1]), children[-1], _span(meta))

    def assign(self, meta: Any, children: list[Any]) -> ast.Assign:
        return ast.Assign(str(children[0]), children[1], _span(meta))

    def _binary(op: str) -> Any:  # noqa: N805 - builds methods at class creation
        def build(self: _Build, meta: Any, children: list[Any]) -> ast.Binary:
            return ast.Binary(op, children[0], children[1], _span(meta))

        return build

    add, sub, mul, div, matmul, pow = map(_binary, ["+", "-", "*", "/", "@", "**"])
    lt, le, gt, ge, eq, ne = map(_binary, ["<", "<=", ">", ">=", "==", "!="])

    def neg(self, meta: Any, children: list[Any]) -> ast.Neg:
        return ast.Neg(children[0], _span(meta))

    def number(self, meta: Any, children: list[Any]) -> ast.Number:
        text = str(children[0])
        # A literal too long for int() becomes inf, which the checker reports as too large.
        value = int(text) if text.isdigit() and len(text) <= _DIGITS else float(text)
        return ast.Number(value, _span(meta))

    def string(self, meta: Any, children: list[Any]) -> ast.String:
        return ast.String(str(children[0])[1:-1], _span(meta))

    def true(self, meta: Any, children: list[Any]) -> ast.Bool:
        return ast.Bool(True, _span(meta))

    def false(self, meta: Any, children: list[Any]) -> ast.Bool:
        return ast.Bool(False, _span(meta))

    def name(self, meta: Any, children: list[Any]) -> ast.Name:
        return ast.Name(tuple(map(str, children)), _span(meta))

    def list(self, meta: Any, children: list[Any]) -> ast.List:
        return ast.List(tuple(child for child in children if child is not None), _span(meta))

    def call(self, meta: Any, children: list[Any]) -> ast.Call:
        arguments = [child for child in children[1:] if child is not None]
        keywords = tuple(arg for arg in arguments if isinstance(arg, ast.Keyword))
        positional = tuple(arg for arg in arguments if not isinstance(arg, ast.Keyword))
        return ast.Call(str(children[0]), positional, keywords, _span(meta))

    def keyword(self, meta: Any, children: list[Any]) -> ast.Keyword:
        return ast.Keyword(str(children[0]), children[1], _span(meta))

    def index(self, meta: Any, children: list[Any]) -> ast.Index:
        return ast.Index(children[0], tuple(map(_constant_index, children[1:])), _span(meta))

    def slice(self, meta: Any, children: list[Any]) -> ast.Slice:
        return ast.Slice(*map(_constant_index, children), _span(meta))

    def ellipsis(self, meta: Any, children: list[Any]) -> ast.Subscript:
        return ...

    def new_axis(self, meta: Any, children: list[Any]) -> ast.Subscript:
        return None


def _constant_index(item: Any) -> Any:
    """An integer written as an index (``0``, ``-1``) is the int itself, as Python's subscripts hold it."""
    if isinstance(item, ast.Neg) and isinstance(item.operand, ast.Number) and type(item.operand.value) is int:
        return -item.operand.value
    if isinstance(item, ast.Number) and type(item.value) is int:
        return item.value
    return item


def parse(source: str) -> ast.Program:
    """Parse a formula or program into its immutable syntax tree.

    Args:
        source: one formula, or ``name = expr`` lines (or ``;``-separated) ending in the total.

    Returns:
        The :class:`~losslang.ast.Program`; ``str()`` of it is the canonical text.

    Raises:
        LossSyntaxError: with ``.line``, ``.column``, the quoted line, a caret and what was expected.
        LossArityError: ``source`` is not a string.

    Example:
        >>> from losslang import parse
        >>> program = parse("recon = mse(pred,y); 0.5*recon")
        >>> print(program)
        recon = mse(pred, y)
        0.5 * recon
        >>> parse(str(program)) == program
        True
    """
    if not isinstance(source, str):
        raise LossArityError(f"a formula must be a string, not {type(source).__name__}")
    if len(source) > MAX_LENGTH:
        raise LossSyntaxError(
            f"the formula is {len(source):,} characters long; the limit is {MAX_LENGTH:,}", line=1, column=1
        )
    return _parse(source)


@functools.lru_cache(maxsize=1024)
def _parse(source: str) -> ast.Program:
    """:func:`parse` of a string of acceptable length: a pure function of the text, so cached."""
    try:
        tree = _lark().parse(source)
    except lark.exceptions.UnexpectedInput as error:
        raise _syntax_error(source, error) from None
    except _RefusedError as error:
        token = error.token
        raise LossSyntaxError(error.reason, source=source, line=token.line, column=token.column) from None
    program = dataclasses.replace(_Build().transform(tree), source=source)
    deep = _too_deep(program)
    if deep is not None and deep[0].span is not None:
        node, operators = deep
        message = _TOO_DEEP
        if operators > MAX_DEPTH // 2:  # a long a + b + c + ...: each operator nests the ones before it
            message = (
                f"the formula nests more than {MAX_DEPTH} levels deep: a chain of operators such as "
                "a + b + c + ... nests each one in the next; write sum(a, b, c, ...) or mean(...), which take "
                "any number of terms, or split it into named terms"
            )
        raise LossSyntaxError(message, source=source, line=node.span.line, column=node.span.column)
    return program


def _too_deep(program: ast.Program) -> tuple[ast.Node, int] | None:
    """The first node nested deeper than ``MAX_DEPTH``, and how many binary operators hold it; no recursion."""
    stack: list[tuple[Any, int, int]] = [(program, 0, 0)]
    while stack:
        node, depth, operators = stack.pop()
        if depth > MAX_DEPTH:
            return node, operators
        operators += isinstance(node, ast.Binary)
        for child in _children(node):
            stack.append((child, depth + 1, operators))
    return None


def _children(node: Any) -> list[ast.Node]:
    if not isinstance(node, ast.Node):
        return []
    values = [getattr(node, name) for name in node.__dataclass_fields__ if name not in ("span", "source")]  # type: ignore[attr-defined]
    flat = [item for value in values for item in (value if isinstance(value, tuple) else (value,))]
    return [item for item in flat if isinstance(item, ast.Node)]


def _syntax_error(source: str, error: lark.exceptions.UnexpectedInput) -> LossSyntaxError:
    line, column = error.line, error.column
    token = getattr(error, "token", None)
    if token is None:
        character = source[error.pos_in_stream]
        found = f"character {character!r}" + ("" if character.isascii() else f" ({character_text(character)})")
    elif token.type == "_NL":
        found = "end of line"
    elif token.type == "$END":
        found = "end of formula"
        line, column = _end_position(source)  # lark reports end-of-input at line -1
    else:
        found = f"{_TOKEN_KINDS.get(token.type, '')} {str(token)!r}".lstrip()
    message = f"unexpected {found}; expected {_expected(_acceptable(error))}"
    return LossSyntaxError(message, source=source, line=line, column=column)


def _acceptable(error: lark.exceptions.UnexpectedInput) -> set[str]:
    # The lexer's own list also holds ignored and always-accepted terminals; ask the parser.
    parser = getattr(error, "interactive_parser", None)
    return set(parser.accepts()) if parser is not None else set(getattr(error, "expected", ()))


def _expected(terminals: set[str]) -> str:
    names = {_TERMINAL_NAMES.get(name) or _literal(name) for name in terminals}
    if names >= _BINARY_OPERATORS:  # after an operand: any of the eleven operators, named once
        names = (names - _OPERATORS) | {"an operator"}
    names = sorted(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _literal(terminal: str) -> str:
    pattern = _lark().get_terminal(terminal).pattern
    return repr(pattern.value) if isinstance(pattern, lark.lexer.PatternStr) else terminal.lower()


def _end_position(source: str) -> tuple[int, int]:
    lines = source_lines(source)
    return len(lines), len(lines[-1]) + 1
