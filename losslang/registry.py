"""The table of functions a formula may call, and ``register`` to add to it.

A :class:`TermSpec` records what the checker needs to validate a call without running it: the
function, whether it is a loss term (reported under its own name) or a helper function, and for
each parameter what it accepts, read once from the annotations.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import metadata
from types import ModuleType, NoneType, UnionType
from typing import Annotated, Any, Literal, TypeVar

from torch import Tensor, nn

from losslang.bounds import Range, SizesMark
from losslang.errors import LossArityError, LossNameError, shown

Kind = Literal["loss", "function", "weighting"]
Accepts = Literal[
    "tensor",
    "operand",
    "tensors",
    "number",
    "integer",
    "dims",
    "sizes",
    "bool",
    "string",
    "choice",
    "numbers",
    "constant",
]
_REQUIRED = inspect.Parameter.empty
ENTRY_POINT_GROUP = "losslang.terms"
KEYWORDS = ("true", "false")  # the grammar's boolean literals: names no call can use
F = TypeVar("F", bound=Callable[..., Tensor])


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a registered function, as the checker sees it."""

    name: str
    accepts: Accepts
    default: Any = _REQUIRED
    keyword_only: bool = False
    variadic: bool = False
    choices: tuple[str, ...] = ()
    bounds: Range | None = None

    @property
    def required(self) -> bool:
        """Whether a call must give this argument."""
        return self.default is _REQUIRED and not self.variadic

    def __str__(self) -> str:
        if self.variadic:
            return f"*{self.name}"
        return self.name if self.required else f"{self.name}={self.default!r}"


@dataclass(frozen=True, slots=True)
class TermSpec:
    """A registered function: its canonical name, callable, kind, parameters and summary."""

    name: str
    fn: Callable[..., Tensor]
    kind: Kind
    params: tuple[Param, ...]
    aliases: tuple[str, ...] = ()
    summary: str = ""
    constructor: tuple[str, ...] = ()

    @property
    def is_module(self) -> bool:
        """Whether ``fn`` is an ``nn.Module`` class: keywords in ``constructor`` build it, the rest call it."""
        return isinstance(self.fn, type)

    @property
    def signature(self) -> str:
        """The call signature as users write it, e.g. ``mse(pred, target, *, reduction='mean')``."""
        parts = [str(p) for p in self.params if not p.keyword_only]
        keywords = [str(p) for p in self.params if p.keyword_only]
        if keywords and not any(p.variadic for p in self.params):
            parts.append("*")
        return f"{self.name}({', '.join(parts + keywords)})"


def spec_of(name: str, fn: Callable[..., Tensor], *, kind: Kind = "loss", aliases: Sequence[str] = ()) -> TermSpec:
    """Read a function's (or an ``nn.Module`` class's) signature and annotations into a :class:`TermSpec`.

    For a module class, ``forward``'s parameters are the call's arguments and ``__init__``'s
    become keyword-only constants passed to the constructor.

    Raises:
        LossArityError: the function takes ``**kwargs`` or has an annotation losslang cannot check.

    Example:
        >>> import torch
        >>> def hinge(pred: torch.Tensor, target: torch.Tensor, *, margin: float = 1.0) -> torch.Tensor:
        ...     '''Hinge loss.'''
        ...     return (margin - pred * target).clamp_min(0).mean()
        >>> spec_of("hinge", hinge).signature
        'hinge(pred, target, *, margin=1.0)'
    """
    for word in (name, *aliases):
        if not isinstance(word, str) or not word.isidentifier():
            reason = f"a term name or alias must be an identifier, not {shown(word)}"
            raise LossArityError(f"cannot register {shown(name)}: {reason}")
        if word in KEYWORDS:
            reason = f"{word!r} is a keyword of the language (a boolean), so {word}(...) could never be called"
            raise LossArityError(f"cannot register {shown(name)}: {reason}")
    summary = (inspect.getdoc(fn) or "").split("\n", 1)[0]
    if not isinstance(fn, type):
        return TermSpec(name, _nameable(name, fn), kind, _params(name, fn), tuple(aliases), summary)
    if not issubclass(fn, nn.Module):
        raise LossArityError(f"cannot register {name!r}: {fn.__name__} is a class but not an nn.Module")
    call = _params(name, fn.forward, skip=1)  # without self
    skip = 2 if kind == "weighting" else 1  # a scheme's first argument, its terms' names, comes from the compiler
    built = _params(name, fn.__init__, constants=True, skip=skip)
    build = tuple(replace(p, keyword_only=True) for p in built if not p.variadic)
    clash = {p.name for p in call} & {p.name for p in build}
    if clash or any(p.accepts == "tensor" for p in build):
        reason = f"{sorted(clash)} are both" if clash else "tensors cannot be"
        raise LossArityError(f"cannot register {name!r}: {reason} constructor arguments of {fn.__name__}")
    return TermSpec(name, fn, kind, call + build, tuple(aliases), summary, tuple(p.name for p in build))


def _nameable(name: str, fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """``fn``, or for a lambda or a ``functools.partial`` a function named ``name`` that calls it.

    The generated code names every function it calls; torch.fx cannot name a lambda typed at a
    prompt (it has no source), a partial (no ``__name__``), nor a function defined by ``exec`` in
    globals without ``__name__`` (no module it can find).
    """
    if getattr(fn, "__name__", "").isidentifier() and getattr(fn, "__module__", None) in sys.modules:
        return fn

    @functools.wraps(fn)
    def term(*args: Any, **kwargs: Any) -> Tensor:
        return fn(*args, **kwargs)

    term.__name__ = term.__qualname__ = name
    term.__module__ = __name__  # wraps() copied the one torch.fx cannot find
    return term


def _params(name: str, fn: Callable[..., Any], *, constants: bool = False, skip: int = 0) -> tuple[Param, ...]:
    try:
        annotated = fn.func if isinstance(fn, functools.partial) else fn  # a partial has no annotations of its own
        hints = typing.get_type_hints(annotated, include_extras=True)
        parameters = list(inspect.signature(fn).parameters.values())[skip:]
    except (TypeError, ValueError, NameError) as error:
        raise LossArityError(f"cannot register {name!r}: its signature cannot be read ({error})") from None
    return tuple(_param(name, p, hints.get(p.name), constants) for p in parameters)


def _param(term: str, parameter: inspect.Parameter, hint: Any, constants: bool) -> Param:
    if parameter.kind is parameter.VAR_KEYWORD:
        raise LossArityError(f"cannot register {term!r}: name its keyword arguments instead of **{parameter.name}")
    keyword_only = parameter.kind is parameter.KEYWORD_ONLY
    bounds, extras = None, []
    if typing.get_origin(hint) is Annotated:  # e.g. Positive: a number and the range it lies in
        hint, *extras = typing.get_args(hint)
        bounds = next((extra for extra in extras if isinstance(extra, Range)), None)
    accepts, choices = _accepts(term, parameter.name, hint, keyword_only or constants, parameter.default)
    if accepts == "dims" and any(isinstance(extra, SizesMark) for extra in extras):
        accepts = "sizes"  # a shape: sizes may repeat
    if bounds is not None and accepts not in ("number", "integer", "numbers"):
        raise LossArityError(f"cannot register {term!r}: a Range bounds numbers, not parameter {parameter.name!r}")
    return Param(
        parameter.name,
        accepts,
        parameter.default,
        keyword_only=keyword_only,
        variadic=parameter.kind is parameter.VAR_POSITIONAL,
        choices=choices,
        bounds=bounds,
    )


def _accepts(term: str, name: str, hint: Any, constant: bool, default: Any) -> tuple[Accepts, tuple[str, ...]]:
    if hint is None and isinstance(default, bool | int | float | str):  # unannotated: as its default
        return _accepts(term, name, type(default), constant, default)
    if hint is None:  # unannotated: tensors in positions, any constant as a keyword or constructor argument
        return ("constant" if constant else "tensor"), ()
    args = [arg for arg in typing.get_args(hint) if arg is not NoneType]
    if typing.get_origin(hint) in (typing.Union, UnionType):
        if Tensor in args:  # Tensor | float: a tensor, or a number broadcast against the others
            return ("operand" if float in args or int in args else "tensor"), ()
        if len(args) > 1 and set(args) <= {int, float}:
            return "number", ()
        if len(args) == 2 and args[0] is int and _is_sequence(args[1], {int}):
            return "dims", ()
        hint = args[0] if len(args) == 1 else hint
    if typing.get_origin(hint) is Literal and all(isinstance(a, str) for a in typing.get_args(hint)):
        return "choice", typing.get_args(hint)
    if _is_sequence(hint, {int, float}):
        return "numbers", ()
    if _is_sequence(hint, {Tensor}):  # a bracketed list of tensors: index_put's indices
        return "tensors", ()
    simple: dict[Any, Accepts] = {Tensor: "tensor", float: "number", int: "integer", bool: "bool", str: "string"}
    if hint in simple:
        return simple[hint], ()
    raise LossArityError(
        f"cannot register {term!r}: parameter {name!r} is annotated {hint!r}; use Tensor, float, int, bool, str, "
        "a Literal of strings, a sequence of floats or int | Sequence[int]"
    )


def _is_sequence(hint: Any, items: set[Any]) -> bool:
    """Whether ``hint`` is a list, tuple or sequence of the types in ``items``."""
    origin = typing.get_origin(hint)
    return origin in (tuple, list, Sequence) and set(typing.get_args(hint)) <= {*items, Ellipsis}


@dataclass
class Registry:
    """Registered functions by canonical name, with aliases mapped to canonical names.

    A registry made by :meth:`with_terms` looks in its own terms first, then in its parent's.
    The global registry also finds terms that installed packages declare in the
    ``losslang.terms`` entry-point group, loading only the one a formula names.
    """

    specs: dict[str, TermSpec] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    parent: Registry | None = None
    plugins: bool = False

    def add(self, spec: TermSpec, *, override: bool = False) -> None:
        """Add ``spec`` under its name and aliases; a clash is an error unless ``override``.

        The same function registered again (same module and qualified name: a notebook cell run
        twice) replaces the old one without ``override``.
        """
        names = (spec.name, *spec.aliases)
        for name in names:
            taken = self.specs.get(self.aliases.get(name, name))
            if not override and taken is not None and _origin(taken.fn) != _origin(spec.fn):
                raise LossNameError(f"a term named {name!r} is already registered; pass override=True to replace it")
        for name in names:  # each name now means the new spec, whether it named a term or an alias before
            self.specs.pop(name, None)
            self.aliases.pop(name, None)
        for alias, target in self.aliases.items():  # so do the aliases of a term it replaced
            if target in names:
                self.aliases[alias] = spec.name
        self.specs[spec.name] = spec
        self.aliases.update(dict.fromkeys(spec.aliases, spec.name))

    def lookup(self, name: str) -> TermSpec | None:
        """Return the spec registered under ``name`` or one of its aliases."""
        spec = self.specs.get(self.aliases.get(name, name))
        if spec is None and self.parent is not None:
            return self.parent.lookup(name)
        if spec is None and self.plugins:
            return self._plugin(name)
        return spec

    def with_terms(self, terms: Mapping[str, Callable[..., Tensor]] | None) -> Registry:
        """Return a registry with ``terms`` in front of this one, for one loss only.

        Raises:
            LossArityError: ``terms`` is not a mapping of names to functions.
        """
        if terms is not None and not isinstance(terms, Mapping):
            raise LossArityError(f"terms= must be a mapping of names to term functions, not {shown(terms)}")
        if not terms:
            return self
        layer = Registry(parent=self)
        for name, fn in terms.items():
            if not callable(fn):
                raise LossArityError(f"terms= maps {shown(name)} to {shown(fn)}, which is not a function")
            layer.add(spec_of(name, fn), override=True)
        return layer

    def _plugin(self, name: str) -> TermSpec | None:
        entry_point = _entry_points(tuple(sys.path)).get(name)
        if entry_point is not None:
            try:
                loaded = entry_point.load()
            except Exception as error:
                reason = (
                    f"the plugin term {name!r} ({entry_point.value}) failed to load: {type(error).__name__}: {error}"
                )
                raise LossNameError(reason) from None
            if not isinstance(loaded, ModuleType):  # a module registers its terms as it is imported
                self.add(spec_of(name, loaded), override=True)
        return self.specs.get(self.aliases.get(name, name))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.lookup(name) is not None

    def __iter__(self) -> Iterator[str]:
        inherited = list(self.parent) if self.parent is not None else []
        plugins = list(_entry_points(tuple(sys.path))) if self.plugins else []
        return iter(dict.fromkeys([*self.specs, *self.aliases, *inherited, *plugins]))


def _origin(fn: Callable[..., Any]) -> tuple[str, str]:
    """Where a function was defined: its module and qualified name (a lambda's are not unique)."""
    inner = getattr(fn, "__wrapped__", fn)  # a lambda or partial registered under a name
    qualname = getattr(inner, "__qualname__", "")
    return (getattr(inner, "__module__", ""), qualname if qualname != "<lambda>" else f"<lambda {id(inner)}>")


@functools.lru_cache(maxsize=8)
def _entry_points(path: tuple[str, ...]) -> dict[str, metadata.EntryPoint]:
    """The ``losslang.terms`` entry points of the installed packages, read once per ``sys.path`` (a slow scan)."""
    return {entry_point.name: entry_point for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def builtin_registry() -> Registry:
    """A registry of the built-in terms, functions, schedules and weighting schemes only."""
    from losslang.schedules import SCHEDULES
    from losslang.terms import BUILTINS
    from losslang.weighting import SCHEMES

    registry = Registry(plugins=True)
    for name, fn, kind, aliases in [*BUILTINS, *SCHEDULES, *SCHEMES]:
        registry.add(spec_of(name, fn, kind=kind, aliases=aliases))
    return registry


REGISTRY = builtin_registry()


@contextlib.contextmanager
def snapshot(registry: Registry | None = None) -> Iterator[Registry]:
    """Restore the registry's terms and aliases on exit, whatever was registered inside.

    Example:
        >>> import torch
        >>> with snapshot():
        ...     REGISTRY.add(spec_of("temporary", lambda x: x))
        ...     "temporary" in REGISTRY
        True
        >>> "temporary" in REGISTRY
        False
    """
    registry = REGISTRY if registry is None else registry
    specs, aliases = dict(registry.specs), dict(registry.aliases)
    try:
        yield registry
    finally:
        registry.specs.clear()
        registry.specs.update(specs)
        registry.aliases.clear()
        registry.aliases.update(aliases)


def register(name: str, *, aliases: Iterable[str] = (), override: bool = False) -> Callable[[F], F]:
    """Decorator adding a loss term function (or an ``nn.Module`` loss class) to the global registry.

    The function takes tensors positionally and options as annotated keywords; the annotations
    tell the checker what each argument accepts. For a module class, the keywords of
    ``__init__`` build it (once per distinct set of values) and its parameters and buffers
    become part of the compiled loss.

    Example:
        >>> import torch
        >>> import losslang
        >>> @losslang.register("scaled_l1", override=True)
        ... def scaled_l1(pred: torch.Tensor, target: torch.Tensor, *, scale: float = 1.0) -> torch.Tensor:
        ...     '''Scaled mean absolute error.'''
        ...     return scale * (pred - target).abs().mean()
        >>> loss = losslang.compile("scaled_l1(p, y, scale=2.0)")
        >>> float(loss(p=torch.ones(3), y=torch.zeros(3)).total)
        2.0
    """
    if not isinstance(aliases, str | Iterable):
        raise LossArityError(f"register({name!r}): aliases must be a name or a list of names, not {shown(aliases)}")
    names = (aliases,) if isinstance(aliases, str) else tuple(aliases)  # aliases="l2" is one alias, not two

    def decorate(fn: F) -> F:
        REGISTRY.add(spec_of(name, fn, aliases=names), override=override)
        return fn

    return decorate
