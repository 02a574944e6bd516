"""``LossOutput``, what one call of a compiled loss returns, and the gradient norms of its terms.

The values stay tensors on their device; ``metrics()`` turns them all into Python floats with one
device synchronisation, each from its own precision.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping

import torch
from torch import Tensor, nn

from losslang.distributed import all_reduce, check_op
from losslang.errors import LossArityError, LossNameError, LossValueError, did_you_mean


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

    def metrics(
        self, prefix: str = "", *, sync: bool = False, op: str = "mean", safe: bool = False
    ) -> dict[str, float]:
        """Every value as a Python float, fetched with a single device synchronisation.

        A term with ``reduction="none"`` reports its mean.

        Args:
            prefix: put before every key, e.g. ``"train/"``.
            sync: all-reduce every value over the DDP ranks first, all of them in one collective;
                every rank must call it. Without an initialised process group it changes nothing.
            op: how ``sync`` combines the ranks: ``"mean"`` or ``"sum"``.
            safe: use logger-safe keys (:func:`safe_keys`): ``mse(pred, y1)`` is ``mse_pred_y1``.

        Raises:
            LossConfigError: ``op`` is neither ``"mean"`` nor ``"sum"``.

        Example:
            >>> import torch, losslang
            >>> out = losslang.compile("mse(p, y)")(p=torch.ones(2), y=torch.zeros(2))
            >>> out.metrics(prefix="val/", sync=True)  # one process: nothing to reduce
            {'val/total': 1.0, 'val/mse(p, y)': 1.0}
        """
        check_op(op)
        if not self._values:
            return {}
        # Each value is read in float64 (a Python float's precision), not in the total's dtype: a float16 total
        # would turn a float32 term of 2.5e6 into inf, a bfloat16 one a count of 2049 into 2048.
        wide = torch.float32 if self.total.device.type == "mps" else torch.float64  # mps has no float64
        stacked = torch.stack([value.detach().mean(dtype=wide) for value in self._values.values()])
        if stacked.is_meta:
            raise LossValueError("these values are meta tensors: they have shapes but no values to report")
        numbers = (all_reduce(stacked, op) if sync else stacked).tolist()
        names = safe_keys(tuple(self._values)).values() if safe else self._values
        return {f"{prefix}{name}": number for name, number in zip(names, numbers, strict=True)}

    def grad_norms(self, params: nn.Module | Tensor | Iterable[Tensor]) -> dict[str, float]:
        """The L2 norm of each term's gradient with respect to ``params``, leaving ``.grad`` untouched.

        Terms without a gradient (metrics, reported weights) are left out. The graph is kept, so
        ``out.total.backward()`` still works afterwards.

        Args:
            params: a module (its parameters), one tensor, or several.

        Raises:
            LossValueError: none of ``params`` requires grad, or ``backward()`` already freed the graph.

        Example:
            >>> import torch, losslang
            >>> w = torch.tensor([3.0, 4.0], requires_grad=True)
            >>> out = losslang.compile("a = sum(w * w) / 2; b = 3 * sum(w); a + b")(w=w)
            >>> {name: round(norm, 4) for name, norm in out.grad_norms([w]).items()}
            {'total': 9.2195, 'a': 5.0, 'b': 4.2426}
        """
        norms = gradient_norms(self._values, params)
        numbers = torch.stack(list(norms.values())).tolist() if norms else []
        return dict(zip(norms, numbers, strict=True))

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
        if self.total.is_meta:
            return f"LossOutput({ {name: tuple(value.shape) for name, value in self._values.items()} }, device='meta')"
        return f"LossOutput({self.metrics()})"


@functools.lru_cache(maxsize=256)
def safe_keys(names: tuple[str, ...]) -> dict[str, str]:
    """Each name as a key that every tracker accepts (MLflow's rule: letters, digits, ``_ - . /``), unique.

    Each run of other characters (spaces, brackets, commas, operators, quotes) becomes one ``_``,
    with none at the ends; a key that two names would share gets ``_2``, ``_3``, ... in order.

    Example:
        >>> keys = safe_keys(("total", "mse(pred, y1)", "weight/mae(p, y)", "0.5 * a", "mse(pred,y1)"))
        >>> list(keys.values())
        ['total', 'mse_pred_y1', 'weight/mae_p_y', '0.5_a', 'mse_pred_y1_2']
    """
    keys: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        key = base = _UNSAFE.sub("_", name).strip("_") or "term"
        count = 1
        while key in taken:
            count += 1
            key = f"{base}_{count}"
        taken.add(key)
        keys[name] = key
    return keys


_UNSAFE = re.compile(r"[^A-Za-z0-9_./-]+")


def trainable(params: nn.Module | Tensor | Iterable[Tensor]) -> list[Tensor]:
    """The tensors of ``params`` (a module, one tensor or several) that require grad.

    Raises:
        LossArityError: ``params`` is neither a module, a tensor nor an iterable of tensors.
        LossValueError: none of them requires grad, so there is no gradient to take.

    Example:
        >>> import torch
        >>> [tuple(p.shape) for p in trainable(torch.nn.Linear(2, 1))]
        [(1, 2), (1,)]
    """
    given = params.parameters() if isinstance(params, nn.Module) else [params] if torch.is_tensor(params) else params
    given = list(given) if isinstance(given, Iterable) and not isinstance(given, str | bytes) else [given]
    for item in given:
        if not isinstance(item, Tensor):
            kind = "nothing" if item is None else f"a {type(item).__name__}"
            raise LossArityError(f"expected a model, a tensor or an iterable of tensors, not {kind}")
    shared = [p for p in given if p.requires_grad]
    if not shared:
        raise LossValueError(f"none of the {len(given)} parameters given requires grad: there is no gradient to take")
    return shared


def gradient_norms(values: Mapping[str, Tensor], params: nn.Module | Tensor | Iterable[Tensor]) -> dict[str, Tensor]:
    """The gradient norm of each value that has a gradient, as 0-d tensors (no device sync).

    Example:
        >>> import torch
        >>> w = torch.tensor([3.0, 4.0], requires_grad=True)
        >>> gradient_norms({"half": (w * w).sum() / 2, "fixed": torch.tensor(1.0)}, [w])
        {'half': tensor(5.)}
    """
    shared = trainable(params)
    norms = {}
    for name, value in values.items():
        if value.requires_grad:
            grads = _gradients(value.sum(), shared)
            present = [torch.linalg.vector_norm(g) for g in grads if g is not None]
            norms[name] = torch.linalg.vector_norm(torch.stack(present)) if present else value.new_zeros(()).detach()
    return norms


def _gradients(value: Tensor, shared: list[Tensor]) -> tuple[Tensor | None, ...]:
    """``torch.autograd.grad`` keeping the graph, saying what to do if ``backward()`` already freed it."""
    try:
        return torch.autograd.grad(value, shared, retain_graph=True, allow_unused=True)
    except RuntimeError as error:
        if "backward through the graph a second time" not in str(error):
            raise
        message = "backward() already freed the graph: call grad_norms() before out.total.backward()"
        raise LossValueError(message) from None
