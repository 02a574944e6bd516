"""``LossModule``, the compiled loss: one ``nn.Module`` returning a :class:`LossOutput`.

The module holds state and wiring only: the generated graph, the step counter and the input
names. The maths live in the generated code and the term functions.
"""

from __future__ import annotations

import pickle
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, get_args

import torch
from torch import Tensor, nn

from losslang.checkpoint import fitted, placement, recipe
from losslang.codecache import generate
from losslang.diagnose import failure, non_finite
from losslang.errors import (
    LossArityError,
    LossConfigError,
    LossInputError,
    LossLangError,
    LossShapeError,
    LossValueError,
    did_you_mean,
    shown,
)
from losslang.output import LossOutput, gradient_norms, trainable
from losslang.parser import parse
from losslang.registry import REGISTRY
from losslang.skipping import Snapshot, schemes, skip_non_finite, snapshot
from losslang.terms.derivatives import DERIVATIVES
from losslang.weighting import GramianScheme

NanPolicy = Literal["propagate", "skip"]


class LossModule(nn.Module):
    """A loss compiled from text: one ``nn.Module`` returning the total and every term.

    Build it with :func:`losslang.compile` or :func:`losslang.load`.

    Attributes:
        source: the text it was compiled from.
        inputs: the batch keys it reads (dotted for nested mappings).
        formula_inputs: the input names as the formula writes them; ``inputs=`` maps them to batch keys.
        term_names: the names of the reported terms, in order.
        metric_names: the terms computed without gradient, because the total does not use them.
        step: the step counter buffer, advanced by one per forward that can train (training mode with
            gradients enabled), or per optimizer step after :meth:`count_steps`.

    Example:
        >>> import copy, pickle, torch, losslang
        >>> loss = losslang.compile("recon = mse(pred, y); l1 = mae(pred, y); 0.5*recon")
        >>> print(loss)  # the canonical formula; repr() shows it too
        recon = mse(pred, y)
        l1 = mae(pred, y)
        0.5 * recon
        >>> loss.inputs, loss.term_names, loss.metric_names
        (('pred', 'y'), ('recon', 'l1'), ('l1',))
        >>> print(loss.code.strip().splitlines()[0])
        def forward(self, pred, y):
        >>> str(pickle.loads(pickle.dumps(loss))) == str(copy.deepcopy(loss)) == str(loss)
        True
    """

    step: Tensor

    def __init__(
        self,
        source: str,
        *,
        terms: Mapping[str, Callable[..., Tensor]] | None = None,
        inputs: Mapping[str, str] | None = None,
        check_finite: bool = False,
        nan_policy: NanPolicy = "propagate",
        compile: bool = False,  # noqa: A002 - the public keyword DESIGN.md names
    ) -> None:
        super().__init__()
        if problem := nan_policy_problem(nan_policy):
            raise LossConfigError(f"nan_policy {problem}")
        checked, graph = generate(source, REGISTRY.with_terms(terms))
        self.source = source
        self.canonical = str(parse(source))
        self.body = graph.module
        self.formula_inputs = tuple(".".join(path) for path in checked.inputs)
        batch_keys = dict(inputs or {})
        self.inputs = tuple(batch_keys.get(name, name) for name in self.formula_inputs)
        self.term_names = graph.term_names
        self.metric_names = graph.metric_names
        self.check_finite = check_finite
        self.nan_policy = nan_policy
        self._options = {
            "terms": _Terms(terms or {}),
            "inputs": batch_keys,
            "check_finite": check_finite,
            "nan_policy": nan_policy,
            "compile": compile,
        }
        self._paths = tuple(tuple(name.split(".")) for name in self.inputs)
        flat = all(len(path) == 1 for path in self._paths)
        self._keys = tuple(path[0] for path in self._paths) if flat else None  # no dotted names: one lookup each
        self._names = graph.output_names
        if nan_policy == "skip":
            self._names += tuple(f"skipped/{graph.term_names[index - 1]}" for index in graph.guarded)
        self._graph = graph
        self._metrics = tuple(1 + graph.term_names.index(name) for name in graph.metric_names)
        self._uses_step = checked.uses_step
        self._schemes = schemes(self.body)
        self._differentiates = any(node.target in DERIVATIVES for node in self.body.graph.nodes)
        self.register_buffer("step", torch.zeros((), dtype=torch.int64))
        self._shared: list[Tensor] = []
        self._features: tuple[str, ...] | None = None  # attach(features=...): the input's path
        self._report_grad_norms = False
        self._optimizer_hook: Any = None  # count_steps(optimizer): the hook that advances step instead
        # The hot path calls the generated ``forward`` itself: ``GraphModule.__call__`` only adds
        # two wrappers and a hook check per call (and prints fx's own report of an error). Not a
        # submodule either way.
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

        Raises:
            LossInputError: the batch is not a mapping or lacks an input; the message lists what
                the loss needs and what it was given.

        Example:
            >>> import torch, losslang
            >>> loss = losslang.compile("mse(out.pred, y) * (1 + step)")
            >>> out = loss({"out": {"pred": torch.ones(2)}}, y=torch.zeros(2))
            >>> out.total, int(loss.step)
            (tensor(1.), 1)
            >>> loss({"out": {"pred": torch.ones(2)}}, y=torch.zeros(2), step=9).total
            tensor(10.)
            >>> loss(pred=torch.ones(2), y=torch.zeros(2))  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            losslang.errors.LossInputError: missing input 'out.pred' (did you mean 'pred'?); the loss needs ...
        """
        keys = self._keys
        try:
            if mapping is not None and type(mapping) is not dict and not isinstance(mapping, Mapping):
                raise TypeError  # a tensor, say: indexing it by name would also print torch's warning
            given = inputs if mapping is None else {**mapping, **inputs} if inputs else mapping
            args = [given[key] for key in keys] if keys is not None else self._gather(given)
        except (KeyError, TypeError):
            raise self._bad_batch(mapping, inputs) from None
        buffers = self._buffers  # not self.step: nn.Module's attribute hooks cost more than the arithmetic
        if self._uses_step:
            step = given.get("step")  # a mapping under "step" holds inputs such as step.x, not a step
            override = step is not None and not isinstance(step, Mapping)
            args.append(_step_value(step, buffers["step"].device) if override else buffers["step"])
        skipping = self.nan_policy == "skip"
        grad_enabled = torch.is_grad_enabled()
        # Only a call that can train moves state: a validation loop under no_grad, in either mode, moves nothing.
        trains = self.training and grad_enabled
        if self._features is not None and trains:  # evaluation reuses the last weights, features or not
            self._use_features(given)
        # A call that fails leaves the schemes' state as it was: it may have moved before the fault.
        states = snapshot(self._schemes) if self._schemes and trains else []
        try:
            values = self._run(*args) if grad_enabled or not self._differentiates else self._with_derivatives(args)
        except Exception as error:
            torch.set_grad_enabled(grad_enabled)  # a metric that raised has left gradients switched off
            raise _restored(self._failed(error, args), states) from None
        if not all(isinstance(value, Tensor) for value in values):
            raise _restored(self._not_tensors(values, args), states)
        if values[0].dim() or not values[0].is_floating_point():
            raise _restored(self._bad_total(values[0]), states)
        if skipping:
            values, skipped = skip_non_finite(self.body, self._graph.guarded, values, args, states)
            flags = values[0].new_zeros(()), values[0].new_ones(())
            values = (*values, *(flags[dropped] for dropped in skipped))
        if self.check_finite and (error := non_finite(self._graph, (*self.inputs, "step"), values, args)):
            raise _restored(error, states)
        if trains and self._optimizer_hook is None:  # one step per training call, whatever the batch or step= says
            self._advance()
        if any(values[index].requires_grad for index in self._metrics):  # a derivative turned gradients on
            values = tuple(value.detach() if index in self._metrics else value for index, value in enumerate(values))
        terms = dict(zip(self._names, values, strict=True))
        if self._report_grad_norms and torch.is_grad_enabled():
            terms.update({f"grad_norm/{name}": norm for name, norm in gradient_norms(terms, self._shared).items()})
        return LossOutput(terms)

    def _with_derivatives(self, args: list[Any]) -> tuple[Any, ...]:
        """A call under ``no_grad`` of a loss that takes derivatives: computed with gradients, returned without.

        The derivatives of a field the formula builds need its graph; the schemes see a call that
        cannot train (they keep their state), and no output keeps a graph.
        """
        learning = [scheme for scheme in self._schemes if scheme.training]
        for scheme in learning:
            scheme.training = False
        try:
            with torch.enable_grad():
                values = self._run(*args)
        finally:
            for scheme in learning:
                scheme.training = True
        return tuple(value.detach() if isinstance(value, Tensor) else value for value in values)

    def _advance(self) -> None:
        """Count one step."""
        buffers = self._buffers
        if self._uses_step:
            buffers["step"] = buffers["step"] + 1  # a new tensor: the graph may have saved the old one
        else:
            buffers["step"].add_(1)

    def count_steps(self, optimizer: torch.optim.Optimizer | None) -> LossModule:
        """Advance ``step`` once per ``optimizer.step()`` instead of once per training call.

        With gradient accumulation over ``k`` micro-batches, ``step`` otherwise counts micro-batches,
        so every schedule of ``step`` runs ``k`` times too fast. Counting the optimizer's steps keeps
        a schedule written in optimizer steps (``ramp(step, 0, 1, 1000)``) true. The weighting
        schemes keep counting their own training calls. Like :meth:`attach`, it is not saved with the
        loss: call it again after loading. ``count_steps(None)`` goes back to counting calls.

        Example:
            >>> import torch, losslang
            >>> model = torch.nn.Linear(2, 1)
            >>> optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            >>> loss = losslang.compile("ramp(step, 0, 1, 100) * mse(model_out, y)").count_steps(optimizer)
            >>> for micro_batch in range(4):  # two optimizer steps of two micro-batches each
            ...     loss(model_out=model(torch.ones(3, 2)), y=torch.zeros(3, 1)).total.backward()
            ...     if micro_batch % 2 == 1:
            ...         optimizer.step()
            ...         optimizer.zero_grad()
            >>> int(loss.step)
            2
        """
        if self._optimizer_hook is not None:
            self._optimizer_hook.remove()
            self._optimizer_hook = None
        if optimizer is not None:
            if not isinstance(optimizer, torch.optim.Optimizer):
                raise LossArityError(f"count_steps() takes a torch.optim.Optimizer, not {_kind(optimizer)}")
            counted = weakref.ref(self)  # the optimizer must not keep the loss alive

            def advance(*_: Any) -> None:
                loss = counted()
                if loss is not None:
                    loss._advance()

            self._optimizer_hook = optimizer.register_step_post_hook(advance)
        return self

    def attach(
        self,
        model_or_params: nn.Module | Tensor | Iterable[Tensor],
        *,
        grad_norms: bool = False,
        features: str | None = None,
    ) -> LossModule:
        """Give the loss the model's shared parameters, once, before training.

        Weighting schemes that balance gradients (``gradnorm``, ``lr_annealing`` and the
        gradient-conflict schemes ``upgrad``, ``mgda``, ...) need them. With
        ``grad_norms=True`` every forward also reports ``grad_norm/<term>``, the L2 norm of each
        term's gradient with respect to those parameters: one extra backward pass per term, a
        cost you turn on to see which term dominates. Attached parameters are not saved or
        pickled with the loss: attach again after loading.

        ``features="h"`` names a batch input, a shared representation the terms are computed from
        (the trunk's output): the gradient-conflict schemes then take each term's gradient with
        respect to it instead of the parameters (LibMTL's ``rep_grad``). Each batch must hold it,
        computed by the model (requiring grad).

        Raises:
            LossValueError: none of the parameters requires grad.

        Example:
            >>> import torch, losslang
            >>> model = torch.nn.Linear(2, 1)
            >>> loss = losslang.compile("mse(model_out, y) + mae(model_out, y)").attach(model, grad_norms=True)
            >>> out = loss(model_out=model(torch.ones(4, 2)), y=torch.zeros(4, 1))
            >>> [name for name in out if name.startswith("grad_norm/")]
            ['grad_norm/total', 'grad_norm/mse(model_out, y)', 'grad_norm/mae(model_out, y)']
        """
        self._shared = trainable(model_or_params)
        self._report_grad_norms = grad_norms
        self._features = None if features is None else tuple(features.split("."))
        for scheme in self._schemes:
            scheme.shared = self._shared
            if isinstance(scheme, GramianScheme):
                scheme.features = features is not None
        return self

    def _use_features(self, given: Mapping[str, Any]) -> None:
        """Hand this batch's ``features`` input to the gradient-conflict schemes, as what they differentiate by."""
        name = ".".join(self._features)
        features = _lookup(given, self._features)
        if features is _ABSENT:
            have = sorted(str(key) for key in given)
            raise LossInputError(
                f"missing input {name!r}{did_you_mean(name, have)}, the features that attach(features=...) names; "
                f"the batch holds {', '.join(have) or 'nothing'}"
            )
        if not isinstance(features, Tensor) or not features.requires_grad:
            what = "a tensor without gradient" if isinstance(features, Tensor) else shown(features)
            raise LossValueError(
                f"attach(features={name!r}): the batch's {name!r} must be the shared representation the model "
                f"computed (a tensor that requires grad), not {what}"
            )
        for scheme in self._schemes:
            if isinstance(scheme, GramianScheme):
                scheme.shared = [features]

    def update_weights(self, closure: Callable[[], Mapping[str, Any]]) -> bool:
        """After ``optimizer.step()``: make the weighting schemes' next due update now, from ``closure()``'s batch.

        ``lr_annealing`` updates its weights every ``every`` steps from gradients. By itself it
        does so at the start of the due step, from that step's batch; its authors update after the
        optimiser step, from the batch just trained on, which is what this method does (the
        forward then skips the update it already made). ``closure`` returns the batch evaluated
        with the updated parameters, ``{"u": model(x), ...}``; it is called only when an update is
        due, so the extra forward pass costs one step in ``every``. Nothing else moves: the step
        counter and the other schemes' state stay as they are. In eval mode, or with no update
        due, it does nothing. Under DDP every rank calls it, as every rank steps.

        Returns:
            Whether an update was made.

        Example:
            >>> import torch, losslang
            >>> model = torch.nn.Linear(2, 1)
            >>> loss = losslang.compile("lr_annealing(mse(u, 1), mse(u, 0), every=2)").attach(model)
            >>> optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            >>> x = torch.randn(8, 2)
            >>> for step in range(3):
            ...     out = loss(u=model(x))
            ...     optimizer.zero_grad()
            ...     out.total.backward()
            ...     optimizer.step()
            ...     print(loss.update_weights(lambda: {"u": model(x)}))  # the update due at step 2, made now
            False
            True
            False
        """
        if not callable(closure):
            raise LossArityError(
                f"update_weights() takes a function that returns the batch, e.g. lambda: {{'u': model(x)}}, "
                f"not {_kind(closure)}"
            )
        due = [scheme for scheme in self._schemes if scheme.due()]
        if not self.training or not due:
            return False
        batch = closure()
        modes = {module: module.training for module in self.modules()}
        self.eval()  # the step counter and the schemes not due stay where they are
        for scheme in due:
            scheme.training = scheme.ahead = True
        try:
            self(batch)
        finally:
            for scheme in due:
                scheme.ahead = False
            for module, training in modes.items():
                module.training = training
        return True

    def _gather(self, given: Mapping[str, Any]) -> list[Any]:
        """The inputs in the graph's order, read through nested mappings for dotted names."""
        values = [_lookup(given, path) for path in self._paths]
        if any(value is _ABSENT for value in values):
            raise KeyError("an input is missing")
        return values

    def _bad_batch(self, mapping: Any, inputs: Mapping[str, Any]) -> LossInputError:
        """Why a batch gives no value for some input: it is not a mapping, or it lacks the first missing input."""
        needs = ", ".join(self.inputs)
        if mapping is not None and not isinstance(mapping, Mapping):
            kind = type(mapping).__name__
            return LossInputError(f"the batch must be a mapping from input names, not a {kind}; the loss needs {needs}")
        given = {**(mapping or {}), **inputs}
        path = next((path for path in self._paths if _lookup(given, path) is _ABSENT), self._paths[0])
        name = ".".join(path)
        have = sorted(str(key) for key in given)
        # A name that is not a term above it is an input: a misspelt term shows up here.
        terms = [term for term in self.term_names if term.isidentifier() and term not in self.formula_inputs]
        # A dotted input whose last part the batch has at the top: the nesting is what is wrong.
        nested = path[-1] if len(path) > 1 and path[-1] in have else None
        hint = f" (did you mean {nested!r}?)" if nested else did_you_mean(name, have)
        hint = hint or did_you_mean(name, terms, kind="the term ")
        return LossInputError(
            f"missing input {name!r}{hint}; the loss needs {needs} and was given {', '.join(have) or 'nothing'}"
        )

    def _failed(self, error: Exception, args: list[Any]) -> LossLangError:
        """The error for a call that raised: the term it came from, and inputs that are not tensors if any are."""
        found = failure(self._graph, args, error)
        reason = self._non_tensor_inputs(args)
        return LossInputError(f"{reason} ({found})") if reason and not isinstance(found, LossInputError) else found

    def _not_tensors(self, values: tuple[Any, ...], args: list[Any]) -> LossLangError:
        """Why an output is not a tensor: inputs that are not tensors, or a term function that returned none."""
        index = next(index for index, value in enumerate(values) if not isinstance(value, Tensor))
        where = f"{'the total' if index == 0 else f'term {self._names[index]!r}'} is {_kind(values[index])}"
        if reason := self._non_tensor_inputs(args):
            return LossInputError(f"{where}, not a tensor: {reason}")
        return LossValueError(f"{where}, not a tensor: a term function must return a tensor")

    def _non_tensor_inputs(self, args: list[Any]) -> str | None:
        """``"inputs must be tensors ('p' is a list); ..."`` when some inputs are not tensors, else ``None``."""
        named = zip(self.inputs, args, strict=False)  # args may end with the step
        given = [f"{name!r} is {_kind(arg)}" for name, arg in named if not torch.is_tensor(arg)]
        return f"inputs must be tensors ({', '.join(given)}); wrap them in torch.tensor(...)" if given else None

    def _bad_total(self, total: Tensor) -> LossShapeError:
        if total.dim():
            reason = f"the total has shape {tuple(total.shape)}, not a scalar; reduce it, e.g. mean(...)"
        else:
            reason = f"the total is a {total.dtype} tensor, so it cannot be backpropagated; give the loss float inputs"
        return LossShapeError(f"{reason}: {self.canonical}")

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False) -> Any:
        """``nn.Module.load_state_dict``, keeping the loss's own dtypes; a state that does not fit is a LossConfigError.

        Missing or unexpected keys, other shapes, a meta tensor, or a value the loss's dtype cannot
        hold (a float step of 1e20) are refused, naming the entry (:func:`losslang.checkpoint.fitted`).

        Example:
            >>> import losslang
            >>> loss = losslang.compile("uncertainty(mse(p, y), mae(p, y))")
            >>> loss.load_state_dict(loss.state_dict())
            <All keys matched successfully>
        """
        if not isinstance(state_dict, Mapping):
            raise LossConfigError(f"a state must be a mapping, as state_dict() returns, not {_kind(state_dict)}")
        # Converted to the loss's own dtypes first: assign=True would otherwise adopt the checkpoint's.
        state = fitted(self.state_dict(keep_vars=True), state_dict, self.canonical)
        try:
            return super().load_state_dict(state, strict=strict, assign=assign)
        except RuntimeError as error:  # torch lists every key that does not fit, one per line
            reason = " ".join(str(error).split())
            raise LossConfigError(f"this state does not fit the loss {self.canonical!r}: {reason}") from None

    def __call__(*args: Any, **inputs: Any) -> LossOutput:  # no "self": an input may be named so
        """Call the module as ``nn.Module`` does; an input named ``self`` passed as a keyword joins the batch."""
        module, *batch = args
        if "self" in inputs and (not batch or batch[0] is None or isinstance(batch[0], Mapping)):
            batch, inputs = [{**(batch[0] or {} if batch else {}), **inputs}], {}
        return nn.Module.__call__(module, *batch, **inputs)

    def get_extra_state(self) -> dict[str, str]:
        """The canonical formula, saved in ``state_dict`` so that a state cannot be loaded into another loss."""
        return {"formula": self.canonical}

    def set_extra_state(self, state: Any) -> None:
        """Refuse a state saved from a different formula."""
        formula = state.get("formula") if isinstance(state, Mapping) else None
        if formula != self.canonical:
            saved, this = _indent(str(formula)), _indent(self.canonical)
            raise LossConfigError(f"this state was saved from a different loss; saved:\n{saved}\nthis loss:\n{this}")

    def __str__(self) -> str:
        return self.canonical

    def __repr__(self) -> str:
        return f"LossModule({self.canonical!r})"

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        # Pickle the recipe, not the generated code: source text, options and state (tensors), which
        # torch.load reads under its default weights_only=True (restore is on its allow-list).
        options = {name: value for name, value in self._options.items() if name != "terms" or value}
        return (restore, (self.source, options, self.state_dict(), self.training))


def restore(*saved: Any) -> LossModule:
    """The loss that ``pickle``, ``copy.deepcopy`` and ``torch.save`` stored: compiled again from its text.

    ``saved`` is ``(source, options, state, training)``; a part of the wrong type is a LossConfigError.

    It parses and compiles text, and runs nothing else, so ``torch.load``'s ``weights_only=True``
    allows it. A loss built with ``terms=`` functions stores them too, by reference; functions are
    code, so loading that one needs ``torch.load(f, weights_only=False)``.

    Example:
        >>> import io, torch, losslang
        >>> buffer = io.BytesIO()
        >>> torch.save(losslang.compile("uncertainty(mse(p, y), mae(p, y))"), buffer)
        >>> _ = buffer.seek(0)
        >>> torch.load(buffer)  # weights_only=True, torch's default
        LossModule('uncertainty(mse(p, y), mae(p, y))')
    """
    source, options, state, training = recipe(saved)  # a crafted file: every part checked before use
    loss = LossModule(source, **options)
    dtype, meta = placement(state)  # a copy of a float64 (or meta) loss is one: the step stays an integer
    loss.to(device="meta" if meta else None, dtype=dtype)
    loss.load_state_dict(state, assign=True)
    loss.train(training)
    return loss


torch.serialization.add_safe_globals([restore])


def nan_policy_problem(value: Any) -> str | None:
    """What is wrong with ``value`` as a ``nan_policy``, or ``None``: one check for compile() and configs.

    Example:
        >>> nan_policy_problem("skp")
        "must be 'propagate' or 'skip', not 'skp' (did you mean 'skip'?)"
    """
    choices = get_args(NanPolicy)
    if value in choices:
        return None
    hint = did_you_mean(value, choices) if isinstance(value, str) else ""
    return f"must be 'propagate' or 'skip', not {shown(value)}{hint}"


def _restored(error: LossLangError, states: Snapshot) -> LossLangError:
    """``error``, once the weighting schemes' state is put back to ``states``, from before the failed call."""
    for scheme, state in states:
        scheme.restore(state)
    return error


def _kind(value: Any) -> str:
    """``None``, or ``a list`` / ``an ndarray``: what a value is, for a message."""
    if value is None:
        return "None"
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def _step_value(step: Any, device: torch.device) -> Tensor:
    """The ``step=`` given to a call, as a tensor on the counter's device."""
    try:
        return torch.as_tensor(step, device=device)
    except (TypeError, ValueError, RuntimeError):
        raise LossInputError(f"step= must be a number or a tensor, not {step!r}") from None


class _Terms(dict[str, Callable[..., Tensor]]):
    """The ``terms=`` of a loss: copied as they are, pickled by reference, refused at once if they cannot be."""

    def __deepcopy__(self, memo: dict[int, Any]) -> _Terms:
        return _Terms(self)  # functions are shared by a deep copy, as copy.deepcopy shares them

    def __reduce__(self) -> tuple[Any, ...]:
        for name, fn in self.items():
            try:
                pickle.dumps(fn)
            except Exception as error:
                reason = f"its term {name!r} cannot be pickled ({type(error).__name__}: {error})"
                raise LossConfigError(
                    f"cannot pickle this loss: {reason}; define the function at the top level of a module, "
                    "or register it there with @losslang.register"
                ) from None
        return (_Terms, (dict(self),))


_ABSENT = object()


def _lookup(given: Any, path: tuple[str, ...]) -> Any:
    """The value at a dotted input path through nested mappings, or ``_ABSENT``."""
    value = given
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return _ABSENT
        value = value[key]
    return value


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())
