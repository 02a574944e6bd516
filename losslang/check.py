"""Syntax tree -> checked program: the one pass that resolves names and validates calls.

Names resolve, in order, to a term defined above, the reserved ``step``, or an input. Calls are
matched against the registry: arity, keywords and the type of every argument. Every fault is a
:class:`LossLangError` that quotes the source line with a caret. The result says which terms
are reported and under which names.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from losslang import ast
from losslang.errors import (
    LossArityError,
    LossLangError,
    LossNameError,
    LossSyntaxError,
    LossValueError,
    did_you_mean,
    source_lines,
)
from losslang.parser import MAX_DEPTH
from losslang.printer import subscript as printer_subscript
from losslang.registry import Param, Registry, TermSpec
from losslang.terms import FOLDABLE

# Names a program cannot define, and what to write instead.
RESERVED = {
    "step": "'step' is the step counter and cannot be redefined",
    "total": (
        "'total' is reserved: it is the loss's total, the program's last line; give the term another name "
        "(e.g. 'main = ...') and write the total as the last line"
    ),
}
_ARITHMETIC_OPERANDS = (ast.String, ast.Bool, ast.List)
_CONSTANTS = (ast.Number, *_ARITHMETIC_OPERANDS)
COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")  # each gives a mask: a boolean tensor without gradient
_QUOTED = 60  # the longest text of a node an error quotes whole
_LARGEST = 2.0**1023  # a folded constant must still be a finite float64
_INT64 = range(-(2**63), 2**63)  # the integers torch holds
_BEYOND_INT64 = "beyond the 64-bit range torch holds (from -2**63 to 2**63 - 1)"


class _BeyondInt64Error(ArithmeticError):
    """An integer result too large for torch, found without computing it."""


def _power(base: int | float, exponent: int | float) -> int | float:
    """``base ** exponent``: exact for integers (``10 ** 17 + 1 - 10 ** 17`` is 1), through float otherwise.

    An integer power that would pass 64 bits is not computed (``10 ** 10 ** 10`` would hang): if
    even its float overflows it has no finite value, otherwise it is an integer torch cannot hold.
    """
    if not (isinstance(base, int) and isinstance(exponent, int) and exponent >= 0):
        return float(base) ** float(exponent)
    if abs(base) > 1 and exponent * (abs(base).bit_length() - 1) >= 64:
        float(base) ** float(exponent)  # raises OverflowError when not even a float holds it
        raise _BeyondInt64Error
    return int(base**exponent)


_OPERATORS = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "**": _power,
}


@dataclass(frozen=True)
class Checked:
    """A program whose names are resolved (``Ref``, ``Step``, ``Input``) and whose calls are valid.

    Attributes:
        definitions: each named term's checked expression; names bound to plain numbers are
            weights, inlined where used and not listed here.
        total: the checked total.
        reported: ``(name, expression)`` of every reported term in order: explicit names, then
            loss-term calls, then what weighting schemes weight, then the total's summands
            with their weights stripped.
        explicit: the names the user wrote.
        inputs: the dotted input paths, in order of first use.
        uses_step: whether anything reads the step counter.
        functions: the spec of every function called, by canonical name.
        source: the program's text, where errors found later (building a module) are placed.
    """

    definitions: Mapping[str, ast.Expr]
    total: ast.Expr
    reported: tuple[tuple[str, ast.Expr], ...]
    explicit: frozenset[str]
    inputs: tuple[tuple[str, ...], ...]
    uses_step: bool
    functions: Mapping[str, TermSpec]
    source: str = ""


def check(program: ast.Program, registry: Registry) -> Checked:
    """Resolve and validate ``program`` against the functions in ``registry``.

    Raises:
        LossNameError: an unknown function, a name used before its definition or defined twice.
        LossArityError: a wrong number of arguments, an unknown keyword or a value of the wrong type.
        LossValueError: a constant without a value torch can hold: division by zero, an overflow, an
            integer beyond int64, a slice step below 1.

    Example:
        >>> from losslang import parse
        >>> from losslang.registry import REGISTRY
        >>> checked = check(parse("recon = mse(pred, y); 0.5*recon + 0.1*l1(pred, y)"), REGISTRY)
        >>> [name for name, _ in checked.reported]  # the compiler drops those equal to one before
        ['recon', 'mse(pred, y)', 'mae(pred, y)']
        >>> checked.inputs
        (('pred',), ('y',))
    """
    return _Checker(program, registry).run()


class _Checker:
    def __init__(self, program: ast.Program, registry: Registry) -> None:
        self.program = program
        self.registry = registry
        self.positions: dict[str, ast.Assign] = {}
        for assign in program.assigns:
            self.positions.setdefault(assign.name, assign)
        self.current: str | None = None
        self.definitions: dict[str, ast.Expr] = {}
        self.weights: dict[str, ast.Expr] = {}
        self.inputs: dict[tuple[str, ...], None] = {}
        self.functions: dict[str, TermSpec] = {}
        self.loss_calls: dict[ast.Call, None] = {}
        self.weighted: dict[ast.Expr, None] = {}  # the arguments of weighting schemes
        self.uses_step = False
        # Per defined term, computed once: a term used twice by each of the next would otherwise
        # be walked 2**n times, and a long chain of terms would nest past the recursion limit.
        self.reads_input: dict[str, bool] = {}
        self.depths: dict[str, int] = {}

    def run(self) -> Checked:
        for assign in self.program.assigns:
            self.define(assign)
        total = self.value(self.program.total)
        self.check_depth(total, "the total", self.program.total)
        if _is_constant(total) or not self.depends_on_input(total):
            raise self.error(LossArityError, "the total does not depend on any input", self.program.total)
        reported = {name: ast.Ref(name) for name in self.definitions}
        for term in [*self.loss_calls, *self.weighted]:
            reported.setdefault(str(term), term)
        for summand in _summands(total):
            term = self.strip_weight(summand)
            if self.depends_on_input(term) and term != total:  # the total itself is reported once, as the total
                reported.setdefault(str(term), term)
        return Checked(
            self.definitions,
            total,
            tuple(reported.items()),
            frozenset(self.definitions),
            tuple(self.inputs),
            self.uses_step,
            self.functions,
            self.program.source,
        )

    def error(self, kind: type[LossLangError], message: str, node: ast.Node) -> LossLangError:
        span = node.span or self.program.span or ast.Span(1, 1, 1, 1)
        return kind(message, source=self.program.source, line=span.line, column=span.column)

    def define(self, assign: ast.Assign) -> None:
        if assign.name in RESERVED:
            raise self.error(LossNameError, RESERVED[assign.name], assign)
        if assign.name.startswith("__"):
            raise self.error(LossNameError, f"{assign.name!r}: names starting with '__' are reserved", assign)
        if assign.name in self.definitions or assign.name in self.weights:
            first = self.positions[assign.name].span
            where = f" (first at line {first.line})" if first else ""
            raise self.error(LossNameError, f"term {assign.name!r} is defined twice{where}", assign)
        self.current = assign.name
        value = self.expression(assign.value)
        if _is_constant(value):
            self.weights[assign.name] = value
        else:
            self.depths[assign.name] = self.check_depth(value, f"term {assign.name!r}", assign)
            self.reads_input[assign.name] = self.depends_on_input(value)
            self.definitions[assign.name] = value
        self.current = None

    def check_depth(self, value: ast.Expr, what: str, node: ast.Node) -> int:
        """How deep ``value`` nests with the terms it uses written out, which the compiler recurses through."""
        depth = _depth(value, self.depths)
        if depth > MAX_DEPTH:
            message = f"{what} nests more than {MAX_DEPTH} levels deep, counting the terms it uses; chain fewer terms"
            raise self.error(LossSyntaxError, message, node)
        return depth

    def expression(self, node: ast.Expr) -> ast.Expr:
        match node:
            case ast.Number(number) if not abs(number) <= _LARGEST:
                raise self.error(LossValueError, f"the number {self.text(node)} is too large for a float", node)
            case ast.Number(number):
                self.check_integer(number, node)
                return node
            case ast.String() | ast.Bool():
                return node
            case ast.List(items):
                return ast.List(tuple(map(self.expression, items)), node.span)
            case ast.Name():
                return self.name(node)
            case ast.Neg(operand):
                return self.fold(ast.Neg(self.value(operand), node.span))
            case ast.Binary(op, left, right) if op in COMPARISONS:
                compared = ast.Binary(op, self.value(left), self.value(right), node.span)
                if _is_constant(compared.left) and _is_constant(compared.right):
                    raise self.error(
                        LossArityError, f"{self.text(node)} compares two constants; compare a tensor", node
                    )
                return compared
            case ast.Binary("@", left, right):
                return ast.Binary("@", self.tensor(left, "@"), self.tensor(right, "@"), node.span)
            case ast.Binary("/", left, right):
                return self.fold(ast.Binary("/", self.value(left), self.divisor(right), node.span))
            case ast.Binary(op, left, right):
                return self.fold(ast.Binary(op, self.value(left), self.value(right), node.span))
            case ast.Index(target, subscripts):
                items = tuple(self.subscript(item, node) for item in subscripts)
                return ast.Index(self.tensor(target, "indexing"), items, node.span)
            case ast.Call():
                return self.call(node)
        raise self.error(LossArityError, f"unexpected {type(node).__name__}", node)

    def subscript(self, item: ast.Subscript, index: ast.Index) -> ast.Subscript:
        """One checked index item: a constant, ``None``, ``...`` or a tensor expression.

        An expression that folds to an integer (``p[1 + 1]``) is that integer; a slice's bounds
        must be integers. What torch refuses at every call is refused here: a slice step below 1,
        an integer beyond int64.
        """
        if isinstance(item, ast.Node) and not isinstance(item, ast.Slice):
            value = self.value(item) if not _huge(item) else item
            if isinstance(value, ast.Number) and type(value.value) is not int and not _huge(value):
                raise self.error(LossArityError, f"an index must be an integer or a tensor, not {value}", item)
            if not isinstance(value, ast.Number):
                return value
            item = value.value if type(value.value) is int else value
        where = item if isinstance(item, ast.Slice) and item.span is not None else index
        numbers = [item.start, item.stop, item.step] if isinstance(item, ast.Slice) else [item]
        for number in numbers:
            if _huge(number) or (isinstance(number, int) and number not in _INT64):
                shown = self.text(number) if isinstance(number, ast.Node) else number
                message = f"the index {shown} is {_BEYOND_INT64}"
                raise self.error(LossValueError, message, number if isinstance(number, ast.Node) else where)
            if isinstance(number, ast.Node):
                message = f"a slice's start, stop and step must be integers, not {self.text(number)}"
                raise self.error(LossArityError, message, number)
        if isinstance(item, ast.Slice) and item.step is not None and item.step < 1:  # type: ignore[operator]
            reason = "a slice step of 0 takes nothing" if item.step == 0 else "torch cannot slice backwards"
            message = f"the slice {printer_subscript(item)} has step {item.step}: {reason}; a step must be 1 or more"
            raise self.error(LossValueError, message, where)
        return item

    def value(self, node: ast.Expr) -> ast.Expr:
        """An operand of arithmetic: a number or a tensor, not a string, boolean or list."""
        value = self.expression(node)
        if isinstance(value, _ARITHMETIC_OPERANDS):
            raise self.error(LossArityError, f"{_describe(value)} cannot be used in arithmetic", node)
        return value

    def divisor(self, node: ast.Expr) -> ast.Expr:
        value = self.value(node)
        if isinstance(value, ast.Number) and value.value == 0:
            raise self.error(LossValueError, "division by zero", node)
        return value

    def fold(self, node: ast.Neg | ast.Binary) -> ast.Expr:
        """Evaluate arithmetic on number literals now, refusing what has no finite real value."""
        operands = [node.operand] if isinstance(node, ast.Neg) else [node.left, node.right]
        if not all(isinstance(operand, ast.Number) for operand in operands):
            return node
        values = [operand.value for operand in operands]  # type: ignore[union-attr]
        try:
            result = -values[0] if isinstance(node, ast.Neg) else _OPERATORS[node.op](*values)
        except _BeyondInt64Error:
            result = 2**64
        except (ArithmeticError, ValueError):
            result = math.inf  # division by zero, overflow
        if isinstance(result, complex) or not abs(result) <= _LARGEST:
            raise self.error(LossValueError, f"{self.text(node)} has no finite real value", node)
        self.check_integer(result, node)
        return ast.Number(result, node.span)

    def check_integer(self, value: int | float, node: ast.Node) -> None:
        """Refuse an integer torch cannot hold: it would compile, then fail at every call without a position."""
        if isinstance(value, int) and value not in _INT64:
            message = (
                f"{self.text(node)} is an integer {_BEYOND_INT64}; write a float for a number this large, e.g. 1e19"
            )
            raise self.error(LossValueError, message, node)

    def text(self, node: ast.Node) -> str:
        """The source text of ``node`` as the user wrote it, or its canonical text."""
        span = node.span
        if span is None or span.line != span.end_line:
            return str(node)
        text = source_lines(self.program.source)[span.line - 1][span.column - 1 : span.end_column - 1]
        return text if len(text) <= _QUOTED else f"{text[: _QUOTED // 2]}...{text[-_QUOTED // 2 :]}"

    def tensor(self, node: ast.Expr, use: str) -> ast.Expr:
        value = self.value(node)
        if _is_constant(value):
            raise self.error(LossArityError, f"{use} needs a tensor, not {_describe(value)}", node)
        return value

    def name(self, node: ast.Name) -> ast.Expr:
        head, *rest = node.parts
        if head in self.definitions or head in self.weights:
            if rest:
                raise self.error(LossNameError, f"{head!r} is a term, not an input with fields", node)
            return ast.Ref(head, node.span) if head in self.definitions else self.weights[head]
        if head in self.positions:
            raise self.error(LossNameError, self.forward_reference(head), node)
        if len(node.parts) == 1 and head.lower() in ("nan", "inf", "infinity"):
            raise self.error(LossNameError, f"{head!r} is not a number in losslang: constants must be finite", node)
        if node.parts == ("step",):
            self.uses_step = True
            return ast.Step(node.span)
        for part in node.parts:
            if part.startswith("__"):
                raise self.error(LossNameError, f"{part!r}: names starting with '__' are reserved", node)
        if len(node.parts) > 1 and node.parts[-1] in TENSOR_ATTRIBUTES:
            raise self.error(LossNameError, _attribute(node.parts), node)
        self.inputs.setdefault(node.parts, None)
        return ast.Input(node.parts, node.span)

    def forward_reference(self, name: str) -> str:
        if name == self.current:
            return f"{name!r} is used in its own definition"
        cycle = self.cycle_from(name, self.current or "")
        if cycle:
            return f"terms form a cycle: {' -> '.join(cycle)}"
        return f"{name!r} is used before it is defined"

    def cycle_from(self, name: str, start: str) -> list[str]:
        """The reference chain from ``start`` through ``name`` back to ``start``, or ``[]``.

        A depth-first search without recursion that visits each term once: a long chain of
        forward references must neither exhaust the stack nor be walked once per path.
        """
        parents = {name: start}
        stack = [name]
        while stack:
            current = stack.pop()
            used = names_used(self.positions[current].value) if current in self.positions else []
            if start in used:
                chain = [current]
                while chain[-1] != name:
                    chain.append(parents[chain[-1]])
                return [start, *reversed(chain), start]
            for following in reversed(used):
                if following not in parents:
                    parents[following] = current
                    stack.append(following)
        return []

    def call(self, node: ast.Call) -> ast.Call:
        try:
            spec = self.registry.lookup(node.func)
        except LossLangError as error:  # a plugin that fails to load or to register
            raise self.error(type(error), error.reason, node) from None
        if spec is None:
            hint = did_you_mean(node.func, self.registry)
            raise self.error(LossNameError, f"unknown function {node.func!r}{hint}", node)
        positional = [p for p in spec.params if not p.keyword_only and not p.variadic]
        variadic = next((p for p in spec.params if p.variadic), None)
        if len(node.args) > len(positional) and variadic is None:
            count = f"{len(positional)} positional argument{'s' * (len(positional) != 1)}"
            message = f"{spec.name}() takes {count} but {len(node.args)} were given"
            raise self.error(LossArityError, f"{message}; signature: {spec.signature}", node)
        extra = node.args[len(positional) :]
        args = [self.argument(spec, p, a) for p, a in zip(positional, node.args, strict=False)]
        args += [self.argument(spec, variadic, a) for a in extra] if variadic else []
        if variadic is not None and variadic.accepts == "dims" and len(extra) > 1:  # permute(x, 0, 2, 1)
            self.check_dims(spec, variadic, ast.List(tuple(args[len(positional) :]), extra[0].span))
        given = {p.name for p in positional[: len(node.args)]}
        keywords = tuple(self.keyword(spec, keyword, given) for keyword in node.keywords)
        missing = [p.name for p in spec.params if p.required and p.name not in given]
        if missing:
            message = f"{spec.name}() is missing argument {missing[0]!r}; signature: {spec.signature}"
            raise self.error(LossArityError, message, node)
        call = ast.Call(spec.name, tuple(args), keywords, node.span)
        if spec.fn in FOLDABLE and all(isinstance(arg, ast.Number) for arg in args):
            return self.fold_call(spec, call)
        self.functions[spec.name] = spec
        if spec.kind == "loss":
            self.loss_calls.setdefault(call, None)
        if spec.kind == "weighting":
            self.weighted.update(dict.fromkeys(args))
            seen: dict[ast.Expr, int] = {}  # a set, not args[:i]: a scheme may weight 10,000 terms
            twice = next((i for i, arg in enumerate(args) if seen.setdefault(arg, i) != i), None)
            if twice is not None:  # one term, two weights: a copy-paste slip, never a scheme's intent
                first = seen[args[twice]] + 1
                message = f"{spec.name}() weights {str(args[twice])!r} twice (arguments {first} and {twice + 1})"
                raise self.error(
                    LossArityError, f"{message}; each term gets one weight, so give it once", node.args[twice]
                )
        return call

    def fold_call(self, spec: TermSpec, call: ast.Call) -> ast.Number:
        """A function of numbers, evaluated now in float64 by the term itself: ``log(2)``, ``pi()``, ``max(1, 2)``."""
        numbers = [torch.tensor(float(arg.value), dtype=torch.float64) for arg in call.args]  # type: ignore[union-attr]
        options = {keyword.name: keyword.value.value for keyword in call.keywords}  # type: ignore[union-attr]
        try:
            value = float(spec.fn(*numbers, **options))
        except (LossLangError, ArithmeticError, ValueError, RuntimeError):
            value = math.nan
        if not math.isfinite(value):
            raise self.error(LossValueError, f"{self.text(call)} has no finite real value", call)
        return ast.Number(value, call.span)

    def keyword(self, spec: TermSpec, keyword: ast.Keyword, given: set[str]) -> ast.Keyword:
        param = next((p for p in spec.params if p.name == keyword.name and not p.variadic), None)
        if param is None:
            hint = did_you_mean(keyword.name, [p.name for p in spec.params if not p.variadic])
            message = f"{spec.name}() has no keyword {keyword.name!r}{hint}; signature: {spec.signature}"
            raise self.error(LossArityError, message, keyword)
        if keyword.name in given:
            raise self.error(LossArityError, f"{spec.name}() got {keyword.name!r} twice", keyword)
        given.add(keyword.name)
        return ast.Keyword(keyword.name, self.argument(spec, param, keyword.value), keyword.span)

    def argument(self, spec: TermSpec, param: Param, node: ast.Expr) -> ast.Expr:
        value = self.expression(node)
        if param.accepts == "operand" and not isinstance(value, _ARITHMETIC_OPERANDS):
            return value  # a tensor or a number
        if param.accepts in ("tensor", "operand"):
            if _is_constant(value) or isinstance(value, _ARITHMETIC_OPERANDS):
                message = f"argument {param.name!r} of {spec.name}() must be a tensor, not {_describe(value)}"
                raise self.error(LossArityError, message, node)
            return value
        if param.name in spec.constructor and not isinstance(value, _CONSTANTS):
            message = f"argument {param.name!r} of {spec.name}() builds the module and must be a constant"
            message += f", not {_describe(value)}"
            raise self.error(LossArityError, message, node)
        if not _fits(param, value):
            message = f"argument {param.name!r} of {spec.name}() must be {_expects(param)}, not {_describe(value)}"
            raise self.error(LossArityError, message, node)
        if param.accepts == "dims" and isinstance(value, ast.List):
            self.check_dims(spec, param, value)
        numbers = value.items if isinstance(value, ast.List) else (value,)
        for number in numbers:
            if param.bounds and isinstance(number, ast.Number) and not param.bounds.admits(number.value):
                message = f"argument {param.name!r} of {spec.name}() must be {param.bounds}, not {number}"
                raise self.error(LossArityError, message, number)
        return value

    def check_dims(self, spec: TermSpec, param: Param, dims: ast.List) -> None:
        """Refuse a list of dimensions that names none, or one dimension twice as the same number.

        torch reads ``dim=[]`` as "every dimension" where numpy reads it as "none": either reading
        is a silent surprise, so the list must name what it reduces. ``[1, -1]`` is caught at the
        call, where the rank is known.
        """
        if not dims.items:
            message = f"argument {param.name!r} of {spec.name}() is an empty list, which names no dimension"
            raise self.error(LossArityError, message + f"; leave {param.name} out for its default", dims)
        seen: set[int | float] = set()
        for item in dims.items:
            if isinstance(item, ast.Number) and item.value in seen:  # every item is an integer: the list fits
                message = f"argument {param.name!r} of {spec.name}() names dimension {item} twice"
                raise self.error(LossArityError, message, item)
            if isinstance(item, ast.Number):
                seen.add(item.value)

    def depends_on_input(self, node: ast.Expr) -> bool:
        match node:
            case ast.Input():
                return True
            case ast.Ref(name):
                return self.reads_input[name]
            case ast.Neg(operand):
                return self.depends_on_input(operand)
            case ast.Binary(_, left, right):
                return self.depends_on_input(left) or self.depends_on_input(right)
            case ast.Index(target, subscripts):
                return any(map(self.depends_on_input, [target, *tensor_indices(subscripts)]))
            case ast.Call(_, args, keywords):
                return any(map(self.depends_on_input, [*args, *(k.value for k in keywords)]))
        return False

    def strip_weight(self, node: ast.Expr) -> ast.Expr:
        """``0.5*recon``, ``ramp(step, 0, 1, 100)*kl`` and ``-x/2`` report as ``recon``, ``kl``, ``x``."""
        match node:
            case ast.Neg(operand):
                return self.strip_weight(operand)
            case ast.Binary("*", left, right) if not self.depends_on_input(left):
                return self.strip_weight(right)
            case ast.Binary("*" | "/", left, right) if not self.depends_on_input(right):
                return self.strip_weight(left)
        return node


def names_used(node: ast.Node) -> list[str]:
    """The first part of every name written in ``node``, in order.

    Example:
        >>> from losslang import parse
        >>> names_used(parse("mse(out.pred, y) + 2*recon").total)
        ['out', 'y', 'recon']
    """
    return [name.parts[0] for name in names_in(node)]


def names_in(node: ast.Node) -> list[ast.Name]:
    """Every name written in ``node`` (a program: its definitions, then its total), in order, with its position.

    Example:
        >>> from losslang import parse
        >>> [(str(name), name.span.column) for name in names_in(parse("mse(out.pred, y)"))]
        [('out.pred', 5), ('y', 15)]
    """
    match node:
        case ast.Name():
            return [node]
        case ast.Program(assigns, total):
            return [name for child in (*(assign.value for assign in assigns), total) for name in names_in(child)]
        case ast.Neg(operand):
            return names_in(operand)
        case ast.Index(target, subscripts):
            return [name for child in (target, *tensor_indices(subscripts)) for name in names_in(child)]
        case ast.Binary(_, left, right):
            return names_in(left) + names_in(right)
        case ast.Call(_, args, keywords):
            return [name for arg in (*args, *(k.value for k in keywords)) for name in names_in(arg)]
        case ast.List(items):
            return [name for item in items for name in names_in(item)]
    return []


def _huge(item: object) -> bool:
    """An integer literal too long for ``int()`` (over 400 digits), which the parser read as infinity."""
    return isinstance(item, ast.Number) and item.value == math.inf


def tensor_indices(subscripts: tuple[ast.Subscript, ...]) -> list[ast.Expr]:
    """The index items that are expressions (tensors, or in a slice integers kept for the checker to refuse).

    Example:
        >>> from losslang import parse
        >>> [str(item) for item in tensor_indices(parse("p[b, :, 0, None]").total.subscripts)]
        ['b']
    """
    items: list[ast.Expr] = []
    for item in subscripts:
        parts = [item.start, item.stop, item.step] if isinstance(item, ast.Slice) else [item]
        items += [part for part in parts if isinstance(part, ast.Node)]  # type: ignore[misc]
    return items


def _depth(node: ast.Expr, depths: Mapping[str, int]) -> int:
    """How deep ``node`` nests once the terms it uses (of nesting ``depths``) are written out in place."""
    match node:
        case ast.Ref(name):
            return 1 + depths[name]
        case ast.Neg(operand):
            return 1 + _depth(operand, depths)
        case ast.Index(target, subscripts):
            return 1 + max(_depth(child, depths) for child in (target, *tensor_indices(subscripts)))
        case ast.Binary(_, left, right):
            return 1 + max(_depth(left, depths), _depth(right, depths))
        case ast.Call(_, args, keywords):
            return 1 + max((_depth(arg, depths) for arg in (*args, *(k.value for k in keywords))), default=0)
        case ast.List(items):
            return 1 + max((_depth(item, depths) for item in items), default=0)
    return 1


def _summands(node: ast.Expr) -> list[ast.Expr]:
    if isinstance(node, ast.Binary) and node.op in "+-":
        return [*_summands(node.left), node.right]
    return [node]


def _is_constant(node: ast.Expr) -> bool:
    return isinstance(node, ast.Number)  # constant arithmetic is folded as it is checked


def _fits(param: Param, value: ast.Expr) -> bool:
    match param.accepts, value:
        case "constant", _:
            return True
        case "number", ast.Number():
            return True
        case "integer" | "dims" | "sizes", ast.Number(number):
            return isinstance(number, int)
        case "dims" | "sizes", ast.List(items):
            return all(isinstance(item, ast.Number) and isinstance(item.value, int) for item in items)
        case "tensors", ast.List(items):
            return bool(items) and not any(isinstance(item, _CONSTANTS) for item in items)
        case "bool", ast.Bool():
            return True
        case "string", ast.String():
            return True
        case "choice", ast.String(text):
            return text in param.choices
        case "numbers", ast.List(items):
            return all(isinstance(item, ast.Number) for item in items)
    return False


def _expects(param: Param) -> str:
    if param.accepts == "choice":
        return "one of " + ", ".join(f'"{choice}"' for choice in param.choices)
    return {
        "number": "a number",
        "integer": "an integer",
        "dims": "an integer or a list of integers",
        "sizes": "an integer or a list of integers",
        "tensors": "a bracketed list of tensors, such as [i, j]",
        "bool": "true or false",
        "string": "a string",
        "numbers": "a list of numbers",
    }[param.accepts]


def _describe(node: ast.Expr) -> str:
    match node:
        case ast.Number():
            return f"the number {node}"
        case ast.String() | ast.Bool() | ast.List():
            kind = {ast.String: "string", ast.Bool: "boolean", ast.List: "list"}[type(node)]
            return f"the {kind} {node}"
        case ast.Input((word,)) if word in _OTHER_LANGUAGES:
            return f"{word}: {_OTHER_LANGUAGES[word]}"
    return f"the tensor {node}"


# What Python code reads off a tensor, which a formula reads as a nested input (y.shape as batch["y"]["shape"]).
TENSOR_ATTRIBUTES = {
    "shape": "size(x, dim) for a dimension's size, numel(x) for the number of elements",
    "ndim": "the rank is the data's; size(x, dim) and numel(x) give sizes",
    "dtype": "a formula computes in its inputs' dtypes",
    "device": "a loss computes on its inputs' device",
    "T": "the formula on the tensor as the batch gives it",
    "mT": "the formula on the tensor as the batch gives it",
    "data": "detach(x)",
    "grad": "grad(u, x) for a derivative",
    "requires_grad": "detach(x) to stop a gradient",
}


def _attribute(parts: tuple[str, ...]) -> str:
    """The message for ``y.shape`` and the like: a tensor's attribute, and the language's way to say it."""
    name, attribute = ".".join(parts[:-1]), parts[-1]
    return (
        f"{'.'.join(parts)!r} reads the tensor attribute {attribute!r}, which a formula cannot: it would be read as "
        f"an input nested under {name!r}; write {TENSOR_ATTRIBUTES[attribute]}"
    )


# Words of Python, JSON and YAML that are names (so inputs) in losslang, and what to write instead.
_NO_VALUE = "losslang has no such value; leave the keyword out to get its default"
_OTHER_LANGUAGES = {
    "None": _NO_VALUE,
    "null": _NO_VALUE,
    "nil": _NO_VALUE,
    "True": "write true",
    "False": "write false",
}
