"""``LossModule``, the compiled loss, and ``LossOutput``, what one call of it returns.

The module holds state and wiring only: the generated graph, the step counter and the input
names. The maths live in the generated code and the term functions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from losslang.check import check
from losslang.compiler import build
from losslang.errors import LossInputError, LossNameError, LossShapeError, LossValueError, did_you_mean
from losslang.parser import parse
from losslang.registry import REGISTRY


class LossOutput(Mapping[str, Tensor]):
    """The total and every named term of one call: a read-only ``Mapping[str, Tensor]``.

    Example:
        >>> import torch, losslang
        >>> out = losslang.compile("mse(p, y) + mae(p, y)")(p=torch.ones(2), y=torch.zeros(2))
        >>> list(out)
        ['total', 'mse(p, y)', 'mae(p, y)']
        >>> out.metrics(prefix="train/")
        {'train/total': 2.0, 'train/mse(p, y)': 1.0, 'train/mae(p, y)': 1.0}
    """

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, Tensor]) -> None:
        self._values = values

    @property
    def total(self) -> Tensor:
        """The scalar to call ``backward()`` on."""
        return self._values["total"]

    def metrics(self, prefix: str = "") -> dict[str, float]:
        """Every value as a Python float, fetched with a single device synchronisation.

        A term with ``reduction="none"`` reports its mean.
        """
        values = [value.detach().to(self.total.dtype).mean() for value in self._values.values()]
        numbers = torch.stack(values).tolist() if values else []
        return {f"{prefix}{name}": number for name, number in zip(self._values, numbers, strict=True)}

    def __getitem__(self, name: str) -> Tensor:
        try:
            return self._values[name]
        except KeyError:
            hint = did_you_mean(name, self._values)
            raise LossNameError(f"no term {name!r} in this loss{hint}; terms: {', '.join(self._values)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"LossOutput({self.metrics()})"


class LossModule(nn.Module):
    """A loss compiled from text: one ``nn.Module`` returning the total and every term.

    Build it with :func:`losslang.compile` or :func:`losslang.load`.

    Attributes:
        source: the text it was compiled from.
        inputs: the input names it reads (dotted for nested mappings).
        term_names: the names of the reported terms, in order.
        metric_names: the terms computed without gradient, because the total does not use them.
        step: the step counter buffer, advanced by one per forward in training mode.
    """

    step: Tensor

    def __init__(
        self,
        source: str,
        *,
        terms: Mapping[str, Callable[..., Tensor]] | None = None,
        check_finite: bool = False,
        compile: bool = False,  # noqa: A002 - the public keyword DESIGN.md names
    ) -> None:
        super().__init__()
        program = parse(source)
        checked = check(program, REGISTRY.with_terms(terms))
        graph = build(checked)
        self.source = source
        self.canonical = str(program)
        self.body = graph.module
        self.inputs = tuple(".".join(path) for path in checked.inputs)
        self.term_names = graph.term_names
        self.metric_names = graph.metric_names
        self.check_finite = check_finite
        self._options = {"terms": dict(terms or {}), "check_finite": check_finite, "compile": compile}
        self._paths = checked.inputs
        flat = all(len(path) == 1 for path in checked.inputs)
        self._keys = tuple(path[0] for path in checked.inputs) if flat else None  # no dotted names: one lookup each
        self._names = ("total", *graph.term_names)
        self._uses_step = checked.uses_step
        self.register_buffer("step", torch.zeros((), dtype=torch.int64))
        # The hot path calls the generated ``forward`` itself: ``GraphModule.__call__`` only adds
        # two wrappers and a hook check per call. Not a submodule either way.
        self.__dict__["_run"] = torch.compile(self.body) if compile else self.body.forward

    @property
    def code(self) -> str:
        """The Python code generated for this loss."""
        return self.body.code

    def forward(self, mapping: Mapping[str, Any] | None = None, /, **inputs: Any) -> LossOutput:
        """Evaluate every term on a batch given as a mapping, keywords, or both.

        Args:
            mapping: a batch, e.g. a dict; dotted input names read nested mappings.
            **inputs: more inputs; ``step=`` overrides the step counter for this call.
        """
        given = inputs if mapping is None else {**mapping, **inputs} if inputs else mapping
        try:
            keys = self._keys
            args = [given[key] for key in keys] if keys is not None else [self._fetch(given, p) for p in self._paths]
        except (KeyError, TypeError, IndexError):
            missing = next((path for path in self._paths if not self._has(given, path)), self._paths[0])
            raise self._missing(given, missing) from None
        step = given.get("step")
        buffers = self._buffers  # not self.step: nn.Module's attribute hooks cost more than the arithmetic
        if self._uses_step:
            args.append(buffers["step"] if step is None else torch.as_tensor(step, device=buffers["step"].device))
        values = self._run(*args)
        if values[0].dim():  # the one check per call
            shape = tuple(values[0].shape)
            raise LossShapeError(
                f"the total has shape {shape}, not a scalar; reduce it, e.g. mean(...): {self.canonical}"
            )
        if step is None and self.training:
            buffers["step"] = buffers["step"] + 1  # a new tensor: the old one may be saved for backward
        if self.check_finite:
            self._raise_if_not_finite(values, args)
        return LossOutput(dict(zip(self._names, values, strict=True)))

    @staticmethod
    def _fetch(given: Mapping[str, Any], path: tuple[str, ...]) -> Any:
        value: Any = given
        for key in path:
            value = value[key]
        return value

    @classmethod
    def _has(cls, given: Mapping[str, Any], path: tuple[str, ...]) -> bool:
        try:
            cls._fetch(given, path)
        except (KeyError, TypeError, IndexError):
            return False
        return True

    def _missing(self, given: Mapping[str, Any], path: tuple[str, ...]) -> LossInputError:
        name = ".".join(path)
        have = sorted(str(key) for key in given)
        hint = did_you_mean(name, have)
        return LossInputError(
            f"missing input {name!r}{hint}; the loss needs {', '.join(self.inputs)} "
            f"and was given {', '.join(have) or 'nothing'}"
        )

    def _raise_if_not_finite(self, values: tuple[Tensor, ...], args: list[Any]) -> None:
        finite = torch.stack([value.isfinite().all() for value in values]).tolist()
        if all(finite):
            return
        bad = [name for name, ok in zip(self._names[1:], finite[1:], strict=True) if not ok] or ["total"]
        inputs_ok = all(
            bool(arg.isfinite().all()) for arg in args if isinstance(arg, Tensor) and arg.is_floating_point()
        )
        cause = "its inputs were finite" if inputs_ok else "some inputs were already NaN or infinite"
        raise LossValueError(f"term {bad[0]!r} is not finite; {cause}")

    def __str__(self) -> str:
        return self.canonical

    def __repr__(self) -> str:
        return f"LossModule({self.canonical!r})"

    def __getstate__(self) -> dict[str, Any]:
        # Pickle the recipe, not the generated code: source, options and state.
        return {"source": self.source, "options": self._options, "state": self.state_dict(), "training": self.training}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["source"], **state["options"])  # type: ignore[misc]
        self.load_state_dict(state["state"], assign=True)
        self.train(state["training"])
