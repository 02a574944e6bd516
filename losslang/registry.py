"""The table of functions a formula may call, and ``register`` to add to it.

A :class:`TermSpec` records what the checker needs to validate a call without running it: the
function, whether it is a loss term (reported under its own name) or a helper function, and for
each parameter what it accepts, read once from the annotations.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import NoneType, UnionType
from typing import Any, Literal, TypeVar

from torch import Tensor

from losslang.errors import LossArityError, LossNameError

Kind = Literal["loss", "function"]
Accepts = Literal["tensor", "number", "integer", "dims", "bool", "string", "choice", "numbers", "constant"]
_REQUIRED = inspect.Parameter.empty
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

    @property
    def signature(self) -> str:
        """The call signature as users write it, e.g. ``mse(pred, target, *, reduction='mean')``."""
        parts = [str(p) for p in self.params if not p.keyword_only]
        keywords = [str(p) for p in self.params if p.keyword_only]
        if keywords and not any(p.variadic for p in self.params):
            parts.append("*")
        return f"{self.name}({', '.join(parts + keywords)})"


def spec_of(name: str, fn: Callable[..., Tensor], *, kind: Kind = "loss", aliases: Sequence[str] = ()) -> TermSpec:
    """Read a function's signature and annotations into a :class:`TermSpec`.

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
    if not name.isidentifier():
        raise LossArityError(f"cannot register {name!r}: a term name must be an identifier")
    try:
        hints = typing.get_type_hints(fn)
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError, NameError) as error:
        raise LossArityError(f"cannot register {name!r}: its signature cannot be read ({error})") from None
    params = tuple(_param(name, p, hints.get(p.name)) for p in parameters)
    summary = (inspect.getdoc(fn) or "").split("\n", 1)[0]
    return TermSpec(name, fn, kind, params, tuple(aliases), summary)


def _param(term: str, parameter: inspect.Parameter, hint: Any) -> Param:
    if parameter.kind is parameter.VAR_KEYWORD:
        raise LossArityError(f"cannot register {term!r}: name its keyword arguments instead of **{parameter.name}")
    keyword_only = parameter.kind is parameter.KEYWORD_ONLY
    accepts, choices = _accepts(term, parameter.name, hint, keyword_only)
    return Param(
        parameter.name,
        accepts,
        parameter.default,
        keyword_only=keyword_only,
        variadic=parameter.kind is parameter.VAR_POSITIONAL,
        choices=choices,
    )


def _accepts(term: str, name: str, hint: Any, keyword_only: bool) -> tuple[Accepts, tuple[str, ...]]:
    if hint is None:  # unannotated: tensors in positions, anything as a keyword
        return ("constant" if keyword_only else "tensor"), ()
    args = [arg for arg in typing.get_args(hint) if arg is not NoneType]
    if typing.get_origin(hint) in (typing.Union, UnionType):
        if Tensor in args:
            return "tensor", ()
        if len(args) > 1 and set(args) <= {int, float}:
            return "number", ()
        if len(args) == 2 and args[0] is int and _is_sequence(args[1], {int}):
            return "dims", ()
        hint = args[0] if len(args) == 1 else hint
    if typing.get_origin(hint) is Literal and all(isinstance(a, str) for a in typing.get_args(hint)):
        return "choice", typing.get_args(hint)
    if _is_sequence(hint, {int, float}):
        return "numbers", ()
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
    """Registered functions by canonical name, with aliases mapped to canonical names."""

    specs: dict[str, TermSpec] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)

    def add(self, spec: TermSpec, *, override: bool = False) -> None:
        """Add ``spec`` under its name and aliases; a clash is an error unless ``override``."""
        for name in (spec.name, *spec.aliases):
            if not override and name in self:
                raise LossNameError(f"a term named {name!r} is already registered; pass override=True to replace it")
        self.specs[spec.name] = spec
        self.aliases.update(dict.fromkeys(spec.aliases, spec.name))

    def lookup(self, name: str) -> TermSpec | None:
        """Return the spec registered under ``name`` or one of its aliases."""
        return self.specs.get(self.aliases.get(name, name))

    def with_terms(self, terms: Mapping[str, Callable[..., Tensor]] | None) -> Registry:
        """Return a copy with ``terms`` added (overriding), for one loss only."""
        if not terms:
            return self
        extended = Registry(dict(self.specs), dict(self.aliases))
        for name, fn in terms.items():
            extended.add(spec_of(name, fn), override=True)
        return extended

    def __contains__(self, name: object) -> bool:
        return name in self.specs or name in self.aliases

    def __iter__(self) -> Iterator[str]:
        return iter([*self.specs, *self.aliases])


def _builtin_registry() -> Registry:
    from losslang.terms import BUILTINS

    registry = Registry()
    for name, fn, kind, aliases in BUILTINS:
        registry.add(spec_of(name, fn, kind=kind, aliases=aliases))
    return registry


REGISTRY = _builtin_registry()


def register(name: str, *, aliases: Iterable[str] = (), override: bool = False) -> Callable[[F], F]:
    """Decorator adding a loss term function to the global registry.

    The function takes tensors positionally and options as annotated keywords; the annotations
    tell the checker what each argument accepts.

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

    def decorate(fn: F) -> F:
        REGISTRY.add(spec_of(name, fn, aliases=tuple(aliases)), override=override)
        return fn

    return decorate
