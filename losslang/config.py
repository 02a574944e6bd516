"""YAML config or mapping -> ``LossModule``.

The ``loss:`` section is either a whole program as a string, or a mapping with ``inputs``,
``terms``, ``metrics``, ``total``, ``weighting`` and ``imports``. The sections become one
program text; every error is reported at the YAML node it came from (file, line and column,
which :mod:`losslang.document` keeps), and for a bad formula also at the line and column inside
the formula.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from losslang import ast
from losslang.check import names_in, names_used
from losslang.document import Document, Key, read
from losslang.errors import (
    LossConfigError,
    LossLangError,
    LossNameError,
    LossSyntaxError,
    character_text,
    closest,
    did_you_mean,
    key_text,
    shown,
    source_lines,
)
from losslang.module import LossModule, NanPolicy, nan_policy_problem
from losslang.parser import parse

KEYS = ("inputs", "terms", "metrics", "total", "weighting", "imports", "nan_policy", "check_finite", "compile")
# The keys that are options of the LossModule, as the keyword arguments of load() are; their types.
OPTIONS: dict[str, type] = {"nan_policy": str, "check_finite": bool, "compile": bool}


def load(
    path_or_mapping: str | Path | Mapping[str, Any],
    *,
    key: str | None = None,
    allow_imports: bool = False,
    nan_policy: NanPolicy | None = None,
    check_finite: bool | None = None,
    compile: bool | None = None,  # noqa: A002 - the keyword of losslang.compile
) -> LossModule:
    """Build a :class:`LossModule` from a YAML file or an already-loaded mapping.

    Args:
        path_or_mapping: a YAML file, a ``dict``, or an OmegaConf ``DictConfig``.
        key: the dotted path of the loss section inside a bigger config (default: ``loss`` if
            present, else the whole mapping).
        allow_imports: let the config's ``imports:`` list import modules that register terms.
        nan_policy: as for :func:`losslang.compile`; like the next two, it may also be a key of
            the loss section, which the keyword argument, when given, overrides.
        check_finite: as for :func:`losslang.compile`.
        compile: as for :func:`losslang.compile`.

    Raises:
        LossConfigError: a schema error, at the file, line and column of the YAML node.
        LossLangError: a bad formula, at its YAML node and the line and column inside it.

    Example:
        >>> import torch, losslang
        >>> loss = losslang.load({"loss": {
        ...     "inputs": {"pred": "output"},
        ...     "terms": {"recon": "mse(pred, y)"},
        ...     "metrics": {"l1": "mae(pred, y)"},
        ...     "total": "0.5*recon",
        ... }})
        >>> loss({"output": torch.ones(2), "y": torch.zeros(2)}).metrics()
        {'total': 0.5, 'recon': 1.0, 'l1': 1.0}
    """
    try:
        document = read(path_or_mapping)
        path, section = _section(document, key)
        given = {"nan_policy": nan_policy, "check_finite": check_finite, "compile": compile}
        return build(document, path, section, allow_imports, {k: v for k, v in given.items() if v is not None})
    except LossLangError as error:
        raise error.with_traceback(None) from None


def _section(document: Document, key: str | None) -> tuple[Key, Any]:
    data = document.data
    if key is not None:
        if not isinstance(key, str):
            raise LossConfigError(f"key= must be a dotted name such as 'model.loss', not {type(key).__name__}")
        path: Key = tuple(key.split("."))
        for depth, part in enumerate(path):
            if not isinstance(data, Mapping) or part not in data:
                have = ", ".join(map(key_text, data)) if isinstance(data, Mapping) else type(data).__name__
                hint = (
                    did_you_mean(part, [key for key in data if isinstance(key, str)])
                    if isinstance(data, Mapping)
                    else ""
                )
                raise document.error(path[:depth], f"no key {shown(part)}{hint}; found: {have}")
            data = data[part]
        return path, data
    if isinstance(data, Mapping) and "loss" in data:
        return ("loss",), data["loss"]
    if isinstance(data, Mapping) and set(data) & {"terms", "metrics", "total"}:
        return (), data  # the loss section itself, whose unknown keys are then reported
    close = closest("loss", data) if isinstance(data, Mapping) else None
    hint = f"; is {shown(close)} a misspelling of it?" if close else ""
    reason = f"found no 'loss' section{hint or '; pass key= to name the section that holds the loss'}"
    raise document.error((close,) if close else (), reason)


@dataclass
class _Program:
    """Program text assembled from config entries, remembering which lines came from where."""

    lines: list[str] = field(default_factory=list)
    entries: list[tuple[int, int, Key, str]] = field(default_factory=list)

    def add(self, document: Document, path: Key, head: str, formula: str) -> None:
        # Each formula goes between parentheses on lines of its own, so that its lines and
        # columns are the program's, shifted by a known number of lines. It is parsed on its
        # own first, so that a stray parenthesis cannot pair with the ones around it.
        try:
            if parse(formula).assigns:
                raise document.error(path, "must be one expression; give each named term its own entry")
        except LossSyntaxError as error:
            raise error.relocated(where=document.where(path)) from None
        start = len(self.lines) + 1
        body = source_lines(formula)
        self.lines += [f"{head}(", *body, ")"]
        self.entries.append((start, start + len(body) + 1, path, formula))

    def locate(self, error: LossLangError, document: Document) -> LossLangError:
        for start, end, path, formula in self.entries:
            if error.line is not None and start <= error.line <= end:
                if start < error.line < end:
                    return error.relocated(where=document.where(path), source=formula, line=error.line - start)
                return LossConfigError(error.reason, where=document.where(path))
        return error.relocated(where=document.where(()), source=None)


def build(
    document: Document, path: Key, section: Any, allow_imports: bool, options: Mapping[str, Any] | None = None
) -> LossModule:
    """Build the loss described by ``section``, found at ``path`` in ``document``.

    ``options`` (``nan_policy``, ``check_finite``, ``compile``) override the section's own keys.
    """
    if isinstance(section, str):
        try:
            return LossModule(section, **(options or {}))
        except LossLangError as error:
            raise error.relocated(where=document.where(path)) from None
    if not isinstance(section, Mapping):
        raise document.error(path, f"must be a formula or a mapping of {', '.join(KEYS)}, not {_kind(section)}")
    for name in section:
        if name not in KEYS:
            hint = did_you_mean(name, KEYS) if isinstance(name, str) else ""
            raise document.error((*path, name), f"unknown key {shown(name)}{hint}; allowed: {', '.join(KEYS)}")
    options = {**_options(document, path, section), **(options or {})}
    _import(document, path, section.get("imports"), allow_imports)
    inputs = _inputs(document, (*path, "inputs"), section.get("inputs", {}))
    program = _Program()
    named = _named(document, path, section, inputs)
    for name, (where, formula) in named.items():
        program.add(document, where, f"{name} = ", formula)
        _check_no_metric_in_term(document, named, name, formula)
    terms = [name for name, (key, _) in named.items() if key[-2] == "terms"]
    if "weighting" in section:
        if "total" in section:
            raise document.error((*path, "weighting"), "give either total or weighting, not both")
        where, total = (*path, "weighting"), _weighting(document, (*path, "weighting"), section["weighting"], terms)
    elif "total" in section or terms:
        where, total = (*path, "total"), section.get("total", " + ".join(terms))
    else:
        raise document.error(path, "has no total: give total, or terms to add up, or a weighting block")
    if not isinstance(total, str) or not total.strip():
        raise document.error(where, f"must be a formula, not {_kind(total)}")
    program.add(document, where, "", total)
    try:
        module = LossModule("\n".join(program.lines), inputs=inputs, **options)
    except LossLangError as error:
        raise program.locate(error, document) from None
    _check_typos(document, path, named, (where, total), inputs, module)
    _check_metrics(document, {name: where for name, (where, _) in named.items()}, parse(total).total)
    _check_inputs(document, (*path, "inputs"), inputs, module)
    return module


def _options(document: Document, path: Key, section: Mapping[str, Any]) -> dict[str, Any]:
    """The LossModule options the section sets (``nan_policy: skip``, ``check_finite: true``), types checked."""
    options = {}
    for name, kind in OPTIONS.items():
        if name in section:
            value = section[name]
            if not isinstance(value, kind):
                raise document.error(
                    (*path, name), f"must be {'a string' if kind is str else 'true or false'}, not {_kind(value)}"
                )
            options[name] = value
    if problem := nan_policy_problem(options.get("nan_policy", "propagate")):
        raise document.error((*path, "nan_policy"), problem)
    return options


def _check_typos(
    document: Document,
    path: Key,
    named: Mapping[str, Any],
    total: tuple[Key, str],
    inputs: Mapping[str, str],
    module: LossModule,
) -> None:
    """A name read as an input that is a typing slip from a term's name is a misspelt term, not an input.

    An input declared under ``inputs:`` is meant; any other input of three letters or more, a slip
    away from a term or metric name that starts with the same letter, is an error at its line and
    column, with the did-you-mean.
    """
    read = {name.split(".")[0] for name in module.formula_inputs}
    declared = {name.split(".")[0] for name in inputs}
    for where, formula in [*named.values(), total]:
        for node in names_in(parse(formula)):
            head = node.parts[0]
            close = closest(head, named) if head in read and head not in declared else None
            # Short names and other first letters are other names, not slips: y1 is no misspelt l1.
            if close is not None and len(head) >= 3 and head[0] == close[0]:
                span = node.span or ast.Span(1, 1, 1, 1)
                inputs_key = ".".join(map(str, (*path, "inputs")))
                reason = f"{head!r} is neither a term, a metric nor a declared input (did you mean the term {close!r}?)"
                raise LossNameError(
                    f"{reason}; if it is an input, declare it under {inputs_key}",
                    source=formula,
                    line=span.line,
                    column=span.column,
                    where=document.where(where),
                )


def _named(document: Document, path: Key, section: Mapping[str, Any], inputs: dict[str, str]) -> dict[str, Any]:
    """Every ``terms`` then ``metrics`` entry: name -> (its key path, its formula), names checked."""
    named: dict[str, tuple[Key, str]] = {}
    for group in ("terms", "metrics"):
        for name, formula in _formulas(document, (*path, group), section.get(group, {})):
            where = (*path, group, name)
            if name in inputs:
                raise document.error(
                    where, f"{shown(name)} is both a term and an input ({'.'.join(map(str, path))}.inputs)"
                )
            if name in named:
                raise document.error(where, f"{shown(name)} is already defined under {named[name][0][-2]}")
            named[name] = (where, formula)
    return named


def _check_no_metric_in_term(document: Document, named: dict[str, Any], name: str, formula: str) -> None:
    """A metric never carries gradient, so no term (which may) can be built from one."""
    where = named[name][0]
    if where[-2] == "terms":
        for used in names_used(parse(formula).total):
            if used in named and named[used][0][-2] == "metrics":
                reason = f"term {shown(name)} uses the metric {shown(used)}; metrics never carry gradient"
                raise document.error(where, f"{reason}, move it under terms")


def _weighting(document: Document, path: Key, block: Any, terms: list[str]) -> str:
    """The total that a ``weighting: {method: ..., terms: [...], option: value}`` block stands for.

    The scheme weights the listed terms (all of ``terms:`` by default); the others are added as they are.
    """
    if not isinstance(block, Mapping) or not isinstance(block.get("method"), str):
        raise document.error(path, "must be a mapping with a method, e.g. {method: uncertainty, terms: [a, b]}")
    if not block["method"].isidentifier():
        raise document.error((*path, "method"), f"must be the name of a weighting scheme, not {shown(block['method'])}")
    weighted = block.get("terms", terms)
    if not isinstance(weighted, list) or not weighted:
        raise document.error((*path, "terms"), f"must be a non-empty list of term names, not {_kind(weighted)}")
    for index, name in enumerate(weighted):
        if name not in terms:
            hint = did_you_mean(name, terms) if isinstance(name, str) else ""
            raise document.error((*path, "terms", index), f"{shown(name)} is not one of the terms{hint}")
    options = []
    for option, value in block.items():
        if option not in ("method", "terms"):
            # Each option becomes `option=value` in the formula text: nothing may spill out of it.
            if not isinstance(option, str) or not option.isidentifier():
                raise document.error((*path, option), f"{shown(option)} is not a valid option name")
            if not isinstance(value, str | int | float):  # bool is an int
                raise document.error((*path, option), f"must be a number, string or boolean, not {_kind(value)}")
            if isinstance(value, str) and set(value) & set('"\\\n'):
                reason = "a string option may not hold a double quote, backslash or line break"
                raise document.error((*path, option), reason)
            options.append(f"{option}={_constant(document, (*path, option), value)}")
    rest = [name for name in terms if name not in weighted]  # not weighted, but still in the gradient
    return " + ".join([f"{block['method']}({', '.join([*weighted, *options])})", *rest])


def _constant(document: Document, path: Key, value: str | float) -> str:
    """A YAML scalar as a formula constant: ``true``/``false``, a quoted string or the number."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if not abs(value) <= 2.0**1023:  # a huge integer (repr() of it may even fail), or .inf
        raise document.error(path, f"the number {shown(value)} is too large; constants must be finite floats")
    return repr(value)


def _formulas(document: Document, path: Key, entries: Any) -> list[tuple[str, str]]:
    """The ``name: formula`` entries of a section, every name and type checked before any formula."""
    if not isinstance(entries, Mapping):
        raise document.error(path, f"must be a mapping of name: formula, not {_kind(entries)}")
    return list(_entries(document, path, entries))


def _entries(document: Document, path: Key, entries: Mapping[Any, Any]) -> Iterator[tuple[str, str]]:
    for name, formula in entries.items():
        if isinstance(name, str) and name.isidentifier() and not name.isascii():
            odd = next(character for character in name if not character.isascii())
            reason = f"its {odd!r} is {character_text(odd)}; names are ASCII"
            raise document.error((*path, name), f"{shown(name)} is not a valid term name: {reason}")
        if not isinstance(name, str) or not name.isidentifier():
            hint = "; in a {...} mapping, quote formulas that contain commas" if set("()") & set(shown(name)) else ""
            raise document.error((*path, name), f"{shown(name)} is not a valid term name{hint}")
        if isinstance(formula, bool) or not isinstance(formula, str | int | float):
            raise document.error((*path, name), f"must be a formula, not {_kind(formula)}")
        yield name, formula if isinstance(formula, str) else _constant(document, (*path, name), formula)


def _inputs(document: Document, path: Key, inputs: Any) -> dict[str, str]:
    if not isinstance(inputs, Mapping):
        raise document.error(path, f"must be a mapping of formula name: batch key, not {_kind(inputs)}")
    for name, source in inputs.items():
        if not _is_dotted_name(name):
            raise document.error(
                (*path, name), f"{shown(name)} is not a valid input name, such as 'pred' or 'out.logits'"
            )
        if not isinstance(source, str) or not source:
            raise document.error(
                (*path, name), f"must be a batch key such as 'output' or 'out.logits', not {_kind(source)}"
            )
    return {str(name): source for name, source in inputs.items()}


def _check_metrics(document: Document, named: dict[str, Key], total: Any) -> None:
    """A metric is reported, never in the gradient: the total may not name it."""
    used = set(names_used(total))
    for name, where in named.items():
        if where[-2] == "metrics" and name in used:
            raise document.error(
                where, f"metric {shown(name)} is used by the total; metrics never carry gradient, move it under terms"
            )


def missing_input(document: Document, path: Key, section: Any, name: str, reason: str) -> LossLangError:
    """The error for the formula input ``name`` of the loss ``section`` at ``path``: where a formula first reads it.

    Example:
        >>> from losslang.document import read
        >>> document = read({"loss": {"terms": {"fit": "mse(pred, label9)"}}})
        >>> print(missing_input(document, ("loss",), document.data["loss"], "label9", "the data has no label9"))
        loss.terms.fit: line 1, column 11: the data has no label9
          mse(pred, label9)
                    ^
    """
    formulas = [(path, section)] if isinstance(section, str) else []
    if isinstance(section, Mapping):
        for group in ("terms", "metrics"):
            entries = section.get(group)
            formulas += [((*path, group, key), value) for key, value in (entries or {}).items()]
        formulas.append(((*path, "total"), section.get("total")))
    for where, formula in formulas:
        if not isinstance(formula, str):
            continue
        for node in names_in(parse(formula)):
            if ".".join(node.parts) == name and node.span is not None:
                line, column = node.span.line, node.span.column
                return LossNameError(reason, source=formula, line=line, column=column, where=document.where(where))
    return document.error(path, reason)


def _check_inputs(document: Document, path: Key, inputs: dict[str, str], module: LossModule) -> None:
    for name in inputs:
        if name not in module.formula_inputs:
            hint = did_you_mean(name, module.formula_inputs)
            raise document.error((*path, name), f"no formula reads an input named {shown(name)}{hint}")


def _import(document: Document, path: Key, modules: Any, allow_imports: bool) -> None:
    if modules is None:
        return
    path = (*path, "imports")
    if not isinstance(modules, list):
        raise document.error(path, f"must be a list of module names, not {_kind(modules)}")
    for index, name in enumerate(modules):
        if not _is_dotted_name(name):
            raise document.error(
                (*path, index), f"must be a module name such as 'my_project.losses', not {shown(name)}"
            )
    if modules and not allow_imports:
        raise document.error(
            path, "this config imports modules; pass allow_imports=True (CLI: --allow-imports) to allow it"
        )
    # A module next to the config file is found whatever the working directory and entry point.
    folder = str(Path(document.filename).resolve().parent) if document.filename else None
    for index, name in enumerate(modules):
        try:
            with _searching(folder):
                importlib.import_module(name)
        except Exception as error:
            raise document.error(
                (*path, index), f"cannot import {shown(name)}: {type(error).__name__}: {error}"
            ) from None


@contextlib.contextmanager
def _searching(folder: str | None) -> Iterator[None]:
    """Look in ``folder`` first for modules to import, and only while importing."""
    added = folder is not None and folder not in sys.path
    if added:
        sys.path.insert(0, folder)  # type: ignore[arg-type]
    try:
        yield
    finally:
        if added:
            sys.path.remove(folder)  # type: ignore[arg-type]


def _is_dotted_name(name: Any) -> bool:
    """Whether ``name`` is ASCII identifiers joined by dots, like an input (``out.logits``) or a module name."""
    return isinstance(name, str) and name.isascii() and all(part.isidentifier() for part in name.split("."))


def _kind(value: Any) -> str:
    if isinstance(value, str) and not value.strip():
        return "an empty string"
    kinds = {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        type(None): "nothing",
    }
    return kinds.get(type(value), f"a {type(value).__name__}")
